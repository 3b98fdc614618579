#include "tests/model_image.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test.h"

ModelImage read_toy_model(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", toy_model_dir());
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char length_bytes[8];
    assert_int_equal(fread(length_bytes, 1, 8, f), 8);
    size_t header_bytes = 0;
    for (int i = 7; i >= 0; i--) header_bytes = header_bytes << 8 | length_bytes[i];
    char *header = malloc(header_bytes);
    assert_int_equal(fread(header, 1, header_bytes, f), header_bytes);
    ModelImage image = {cJSON_ParseWithLength(header, header_bytes), NULL, 0};
    free(header);
    assert_non_null(image.header);
    long start = ftell(f);
    fseek(f, 0, SEEK_END);
    image.data_bytes = (size_t)(ftell(f) - start);
    fseek(f, start, SEEK_SET);
    image.data = malloc(image.data_bytes);
    assert_int_equal(fread(image.data, 1, image.data_bytes, f), image.data_bytes);
    fclose(f);
    return image;
}

float *tensor_floats(ModelImage *image, const char *name, size_t *count) {
    cJSON *tensor = cJSON_GetObjectItemCaseSensitive(image->header, name);
    cJSON *offsets = cJSON_GetObjectItemCaseSensitive(tensor, "data_offsets");
    assert_non_null(offsets);
    size_t begin = (size_t)cJSON_GetArrayItem(offsets, 0)->valuedouble;
    size_t end = (size_t)cJSON_GetArrayItem(offsets, 1)->valuedouble;
    if (count) *count = (end - begin) / sizeof(float);
    return (float *)(void *)(image->data + begin);
}

void set_config(ModelImage *image, const char *key, int value) {
    cJSON *metadata = cJSON_GetObjectItemCaseSensitive(image->header, "__metadata__");
    cJSON *text = cJSON_GetObjectItemCaseSensitive(metadata, "config");
    cJSON *config = cJSON_Parse(text->valuestring);
    assert_non_null(config);
    cJSON_ReplaceItemInObjectCaseSensitive(config, key, cJSON_CreateNumber(value));
    char *printed = cJSON_PrintUnformatted(config);
    cJSON_ReplaceItemInObjectCaseSensitive(metadata, "config", cJSON_CreateString(printed));
    cJSON_free(printed);
    cJSON_Delete(config);
}

char *write_model(ModelImage *image) {
    char *dir = make_temp_dir();
    char *json = cJSON_PrintUnformatted(image->header);
    size_t length = strlen(json), padded = (length + 7) / 8 * 8;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 8; i++) fputc((int)((uint64_t)padded >> (8 * i) & 0xFF), f);
    fputs(json, f);
    for (size_t i = length; i < padded; i++) fputc(' ', f);
    assert_int_equal(fwrite(image->data, 1, image->data_bytes, f), image->data_bytes);
    assert_int_equal(fclose(f), 0);
    cJSON_free(json);
    return dir;
}

void free_model_image(ModelImage *image) {
    cJSON_Delete(image->header);
    free(image->data);
}

char *model_that_says(int id, int other, int max_len) {
    ModelImage image = read_toy_model();
    if (max_len > 0) set_config(&image, "max_len", max_len);
    size_t n;
    float *bias = tensor_floats(&image, "out.bias", &n);
    assert_true((size_t)id < n && (size_t)(other + 1) <= n);
    bias[id] = 1e4f;
    if (other >= 0) bias[other] = 1e4f;
    char *dir = write_model(&image);
    free_model_image(&image);
    return dir;
}

