#include "tests/model_fixture.h"


ModelConfig fixture_config(bool pre_ln, bool tie_output, float dropout) {
    ModelConfig c = {0};
    Error err;
    model_config_preset(&c, "toy", &err);
    c.src_vocab = 29;
    c.tgt_vocab = 31;
    c.max_len = 16;
    c.dropout = dropout;
    c.label_smoothing = 0.1f;
    c.pre_ln = pre_ln;
    c.tie_output = tie_output;
    return c;
}
