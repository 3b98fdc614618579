#include "core/json_tree.h"

bool json_append(cJSON *array, cJSON *item) {
    if (item && array && cJSON_AddItemToArray(array, item)) return true;
    cJSON_Delete(item);
    return false;
}

bool json_attach(cJSON *object, const char *name, cJSON *item) {
    if (item && object && cJSON_AddItemToObject(object, name, item)) return true;
    cJSON_Delete(item);
    return false;
}

cJSON *json_string_array(char *const *strings, size_t n) {
    cJSON *array = cJSON_CreateArray();
    for (size_t i = 0; array && i < n; i++) {
        if (!json_append(array, cJSON_CreateString(strings[i]))) {
            cJSON_Delete(array);
            array = NULL;
        }
    }
    return array;
}
