#include "train/training_curves.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "core/atomic_file.h"
#include "core/json_tree.h"

void training_curves_add(TrainingCurves *c, const cJSON *line, double max_step) {
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(line, "step");
    const cJSON *event = cJSON_GetObjectItemCaseSensitive(line, "event");
    // the curves are drawn from the steps and validations, not from the
    // validation of an average or the choice of a length penalty
    if (!cJSON_IsNumber(step) || step->valuedouble > max_step || !cJSON_IsString(event) ||
        (strcmp(event->valuestring, "train") != 0 && strcmp(event->valuestring, "valid") != 0)) {
        return;
    }
    const double x = step->valuedouble;
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(line, "loss");
    const cJSON *valid = cJSON_GetObjectItemCaseSensitive(line, "valid_loss");
    const cJSON *exact = cJSON_GetObjectItemCaseSensitive(line, "exact_match");
    const cJSON *bleu = cJSON_GetObjectItemCaseSensitive(line, "bleu");
    if (cJSON_IsNumber(loss)) arrput(c->train_loss, ((CurvePoint){x, loss->valuedouble}));
    if (cJSON_IsNumber(valid)) arrput(c->valid_loss, ((CurvePoint){x, valid->valuedouble}));
    if (cJSON_IsNumber(exact)) arrput(c->exact_match, ((CurvePoint){x, 100 * exact->valuedouble}));
    if (cJSON_IsNumber(bleu)) arrput(c->bleu, ((CurvePoint){x, bleu->valuedouble}));
}

int training_curves_read(TrainingCurves *c, const char *path, Error *err) {
    memset(c, 0, sizeof *c);
    size_t length;
    char *text = read_whole_file(path, (size_t)1 << 30, &length, err);
    if (!text) return -1;
    // strtok_r, not strtok: the server reads logs in several threads at once,
    // and strtok's place in the text is one for the whole process
    char *place = NULL;
    for (char *line = strtok_r(text, "\n", &place); line; line = strtok_r(NULL, "\n", &place)) {
        cJSON *j = json_parse_bounded(line, strlen(line), JSON_MAX_SETTINGS_VALUES, "a line", NULL);
        training_curves_add(c, j, INFINITY);
        cJSON_Delete(j);
    }
    free(text);
    return 0;
}

void training_curves_free(TrainingCurves *c) {
    arrfree(c->train_loss);
    arrfree(c->valid_loss);
    arrfree(c->bleu);
    arrfree(c->exact_match);
}
