// The shared toy model's file as data to edit (issue 11's hostile models,
// the server's slow ones): its header, its tensors, a copy written anew.
#ifndef AZUL_TESTS_MODEL_IMAGE_H
#define AZUL_TESTS_MODEL_IMAGE_H

#include <stddef.h>

#include <cjson/cJSON.h>

// The shared toy model's file, read whole: the header (JSON) and the data.
typedef struct {
    cJSON *header;
    char *data;
    size_t data_bytes;
} ModelImage;

ModelImage read_toy_model(void);
// The floats of one tensor of the image, and how many.
float *tensor_floats(ModelImage *image, const char *name, size_t *count);
// Sets one integer of the config the header's metadata holds (as a string).
void set_config(ModelImage *image, const char *key, int value);
// Writes the image as DIR/model.safetensors in a new directory (returned),
// the header padded to keep the data aligned, as azul writes it.
char *write_model(ModelImage *image);
void free_model_image(ModelImage *image);

// The toy model with its output bias pushed so far towards target token `id`
// (and `other`, unless it is -1) that greedy decoding and beam search produce
// nothing else, up to the length limit; with two, the rest of the model picks
// between them.  (Byte b of a bpe vocabulary is id 4 + b.)  With max_len > 0,
// the model takes that many tokens (positions are computed, not stored).
char *model_that_says(int id, int other, int max_len);

#endif
