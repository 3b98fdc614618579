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

size_t json_count_values(const char *text, size_t length, size_t stop_after, int *depth) {
    size_t values = 1;
    int level = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < length && values <= stop_after; i++) {
        char c = text[i];
        if (in_string) {
            // cJSON finds a string's end the same way: a backslash hides the
            // next byte, whatever it is, so \" does not end it
            if (c == '\\') i++;
            else if (c == '"') in_string = false;
            continue;
        }
        switch (c) {
        case '"': in_string = true; break;
        case '[': case '{':
            values++;
            if (++level > deepest) deepest = level;
            break;
        case ']': case '}':
            if (level > 0) level--;
            break;
        case ',': values++; break;
        default: break;
        }
    }
    if (depth) *depth = deepest;
    return values;
}

int json_check_size(const char *text, size_t length, size_t max_values, const char *what,
                    Error *err) {
    int depth;
    size_t values = json_count_values(text, length, max_values, &depth);
    if (values > max_values) {
        return error_set(err, "%s holds more than the limit of %zu JSON values", what, max_values);
    }
    if (depth > JSON_MAX_DEPTH) {
        return error_set(err, "%s nests arrays and objects deeper than the limit of %d levels",
                         what, JSON_MAX_DEPTH);
    }
    return 0;
}

cJSON *json_parse_bounded(const char *text, size_t length, size_t max_values, const char *what,
                          Error *err) {
    if (json_check_size(text, length, max_values, what, err) < 0) return NULL;
    cJSON *json = cJSON_ParseWithLength(text, length);
    if (!json) error_set(err, "%s is not valid JSON", what);
    return json;
}
