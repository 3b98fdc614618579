// Hostile input and faults (issue 11): models that load but are built to
// hurt, input that is not what a translator expects, memory that runs out and
// an output that cannot be written.  Each test here failed before its fix.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test.h"

// ---------------------------------------------------------------- the prompt

// ":" alone used to compare and print a command name sscanf never wrote.
static void a_colon_alone_at_the_prompt_is_answered(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(":\n: \n:quit\n", &out, &err, "translate", "--model", toy_model_dir(),
                         "--interactive"),
                     0);
    const char *first = strstr(out, "azul> ");
    assert_non_null(first);
    expect_contains(first, "azul> a command follows ':' (:help lists them)\n"
                           "azul> a command follows ':' (:help lists them)\n");
    free(out);
    free(err);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(a_colon_alone_at_the_prompt_is_answered),
};
TEST_GROUP(hostile_input_tests, tests);
