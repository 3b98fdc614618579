// Fuzzes the parallel-corpus reader (train/corpus.h) on whole files.  Every
// line is counted once, as a pair, a blank line or a malformed one, and every
// kept side is non-blank valid UTF-8 without TAB, newline or NUL.
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include "tests/fuzz/fuzz_common.h"
#include "train/corpus.h"

static FILE *warnings;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    // The warnings are written (their formatting is part of what runs) but
    // not shown: a fuzzer prints enough.
    warnings = fopen("/dev/null", "w");
    return 0;
}

static void check_side(const char *side, const Corpus *c) {
    size_t n = strlen(side);
    FUZZ_CHECK(side >= c->text, "a side outside the file's text");
    FUZZ_CHECK(n > 0 && strspn(side, " \t") < n, "a blank side was kept");
    FUZZ_CHECK(!memchr(side, '\t', n) && !memchr(side, '\n', n), "a side holds a TAB or newline");
    FUZZ_CHECK(utf8_validate(side, n, NULL), "a side is not valid UTF-8");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Corpus c;
    Error err;
    FUZZ_CHECK(corpus_read(&c, fuzz_file(data, size), warnings, 3, &err) == 0, "%s", err.message);
    FUZZ_CHECK(corpus_size(&c) + c.blank + corpus_skipped(&c) == c.lines,
               "%zu pairs + %zu blank + %zu skipped != %zu lines", corpus_size(&c), c.blank,
               corpus_skipped(&c), c.lines);
    // A BOM at the start is not text; a last line may lack its newline.
    size_t start = size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0, newlines = 0;
    for (size_t i = start; i < size; i++) newlines += data[i] == '\n';
    FUZZ_CHECK(c.lines == newlines + (size > start && data[size - 1] != '\n'),
               "%zu lines counted in a text of %zu newlines", c.lines, newlines);
    size_t previous = 0;
    for (size_t i = 0; i < corpus_size(&c); i++) {
        FUZZ_CHECK(c.pairs[i].line > previous && c.pairs[i].line <= c.lines, "pair line numbers");
        previous = c.pairs[i].line;
        check_side(c.pairs[i].source, &c);
        check_side(c.pairs[i].target, &c);
    }
    corpus_free(&c);
    return 0;
}
