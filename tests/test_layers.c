// The source checks in tools/: includes that look down the layers
// (check_layers.sh) and the length of functions (check_function_length.sh),
// on the real tree and on small fake trees with known faults.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/test.h"

// Runs a shell command from the repository root; returns its exit status and
// its stdout and stderr together (malloc'd) in *out.
static int run_shell(const char *command, char **out) {
    char line[4096];
    snprintf(line, sizeof line, "%s 2>&1", command);
    FILE *p = popen(line, "r");
    assert_non_null(p);
    size_t length = 0, capacity = 4096;
    char *text = malloc(capacity);
    assert_non_null(text);
    size_t n;
    while ((n = fread(text + length, 1, capacity - length - 1, p)) > 0) {
        length += n;
        if (capacity - length < 1024) {
            capacity *= 2;
            text = realloc(text, capacity);
            assert_non_null(text);
        }
    }
    text[length] = '\0';
    int status = pclose(p);
    *out = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int check_layers(const char *root, char **out) {
    char command[1024];
    snprintf(command, sizeof command, "sh tools/check_layers.sh %s", root ? root : "");
    return run_shell(command, out);
}

// Writes text to root/path, making path's folder first (one level).
static void put_file(const char *root, const char *path, const char *text) {
    char folder[1024];
    snprintf(folder, sizeof folder, "%s/%s", root, path);
    *strrchr(folder, '/') = '\0';
    mkdir(folder, 0755);
    free(write_temp_file(root, path, text, strlen(text)));
}

static void expect_absent(const char *text, const char *needle) {
    if (strstr(text, needle)) fail_msg("did not expect \"%s\" in:\n%s", needle, text);
}

static void the_real_tree_includes_only_its_own_folder_and_lower_layers(void **state) {
    (void)state;
    char *out;
    int status = check_layers(NULL, &out);
    if (status != 0) {
        printf("%s", out);  // whole: a failure message is cut short
        fail_msg("tools/check_layers.sh exited with %d; its report is above", status);
    }
    expect_contains(out, "check_layers: OK, ");
    free(out);
}

static void upward_and_sideways_includes_are_reported_with_file_line_and_header(void **state) {
    (void)state;
    char *root = make_temp_dir();
    put_file(root, "model/transformer.c",
             "// the network knows token ids only\n"
             "#include \"core/special_tokens.h\"\n"
             "#include \"model/ops.h\"\n"
             "#include <stdio.h>\n"
             "#include \"tokenizer/tokenizer.h\"\n");
    put_file(root, "tokenizer/bpe_learn.c",
             "#include \"tokenizer/bpe.h\"\n"
             "  #  include \"eval/bleu.h\"\n");
    put_file(root, "core/error.h", "#include \"cli/report.h\"\n");
    put_file(root, "infer/beam.c", "#include \"model/transformer.h\"\n#include \"train/trainer.h\"\n");
    char *out;
    assert_int_equal(check_layers(root, &out), 1);
    expect_contains(out, "model/transformer.c:5: includes tokenizer/tokenizer.h: "
                         "model/ may include only core/, model/\n");
    expect_contains(out, "tokenizer/bpe_learn.c:2: includes eval/bleu.h: "
                         "tokenizer/ may include only core/, tokenizer/\n");
    expect_contains(out, "core/error.h:1: includes cli/report.h: core/ may include only core/\n");
    expect_contains(out, "infer/beam.c:2: includes train/trainer.h: "
                         "infer/ may include only core/, tokenizer/, model/, infer/\n");
    expect_contains(out, "check_layers: 4 includes break the layers (4 files checked)\n");
    // The includes that look down or stay home are not reported.
    expect_absent(out, "model/transformer.c:2:");
    expect_absent(out, "model/transformer.c:3:");
    expect_absent(out, "tokenizer/bpe_learn.c:1:");
    expect_absent(out, "infer/beam.c:1:");
    free(out);
    remove_tree(root);
    free(root);
}

static void an_include_from_a_folder_that_is_not_a_layer_is_reported(void **state) {
    (void)state;
    char *root = make_temp_dir();
    put_file(root, "cli/azul.c",
             "#include \"inspect/attention_html.h\"\n"
             "#include \"foo/bar.h\"\n"
             "#include \"tests/test.h\"\n");
    char *out;
    assert_int_equal(check_layers(root, &out), 1);
    expect_contains(out, "cli/azul.c:2: includes foo/bar.h (foo/ is not a layer): cli/ may include only "
                         "core/, tokenizer/, eval/, model/, infer/, train/, inspect/, serve/, cli/\n");
    expect_contains(out, "cli/azul.c:3: includes tests/test.h (tests/ is not a layer): ");
    expect_absent(out, "cli/azul.c:1:");
    free(out);
    remove_tree(root);
    free(root);
}

static void a_tree_whose_includes_look_down_passes_and_counts_its_files(void **state) {
    (void)state;
    char *root = make_temp_dir();
    put_file(root, "core/error.h", "#include <stdio.h>\n");
    put_file(root, "eval/bleu.c", "#include \"core/error.h\"\n#include \"eval/bleu.h\"\n");
    put_file(root, "train/trainer.c",
             "#include \"eval/bleu.h\"\n#include \"infer/search.h\"\n#include \"trainer.h\"\n");
    put_file(root, "tests/test_x.c", "#include \"cli/report.h\"\n");  // outside the check
    char *out;
    int status = check_layers(root, &out);
    if (status != 0) fail_msg("expected the check to pass:\n%s", out);
    expect_contains(out, "check_layers: OK, 3 files checked");
    free(out);
    remove_tree(root);
    free(root);
}

// A function definition whose body, brace line to closing brace, has `lines` lines.
static void append_function(char *text, size_t size, const char *signature, int lines) {
    size_t used = strlen(text);
    used += (size_t)snprintf(text + used, size - used, "%s {\n", signature);
    for (int i = 0; i < lines - 2; i++)
        used += (size_t)snprintf(text + used, size - used, "    x += %d;\n", i);
    snprintf(text + used, size - used, "}\n\n");
}

static void functions_over_100_lines_are_reported_with_their_start_and_length(void **state) {
    (void)state;
    char *root = make_temp_dir();
    static char text[1 << 16];
    text[0] = '\0';
    strcat(text, "// a file\nstatic const int table[] = {\n    1, 2,\n};\n\n");  // line 5 is blank
    append_function(text, sizeof text, "static int exactly_the_limit(int x)", 100);  // line 6
    append_function(text, sizeof text, "int one_too_many(int x)", 101);              // line 107
    strcat(text, "static inline __attribute__((always_inline)) int\n"                 // line 209
                 "multi_line_signature(int x,\n"
                 "                     int y)");
    append_function(text, sizeof text, "", 150);
    put_file(root, "model/long.c", text);
    put_file(root, "tests/test_long.c", text);  // tests/ is outside the check
    char command[1024], *out;
    snprintf(command, sizeof command, "sh tools/check_function_length.sh %s", root);
    assert_int_equal(run_shell(command, &out), 1);
    expect_contains(out, "model/long.c:107: one_too_many() is 101 lines (limit 100)\n");
    expect_contains(out, "model/long.c:209: multi_line_signature() is 150 lines (limit 100)\n");
    expect_contains(out, "check_function_length: 2 functions longer than 100 lines (1 file checked)");
    expect_absent(out, "exactly_the_limit");
    expect_absent(out, "tests/");
    free(out);
    remove_tree(root);
    free(root);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(the_real_tree_includes_only_its_own_folder_and_lower_layers),
    cmocka_unit_test(upward_and_sideways_includes_are_reported_with_file_line_and_header),
    cmocka_unit_test(an_include_from_a_folder_that_is_not_a_layer_is_reported),
    cmocka_unit_test(a_tree_whose_includes_look_down_passes_and_counts_its_files),
    cmocka_unit_test(functions_over_100_lines_are_reported_with_their_start_and_length),
};
TEST_GROUP(layer_tests, tests);
