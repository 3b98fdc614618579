// Fuzzes the BLEU and chrF path of `azul bleu`: lines read as the command
// reads them (core/line_reader.h, UTF-8 checked, trailing space stripped),
// even lines the hypotheses and odd lines their references, then scored.
// Checks that the reader agrees with sentence_lines (sacreBLEU's way of
// splitting a file), that scores stay within their ranges, and that a
// hypothesis scored with itself among the references matches every n-gram.
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_ds.h>

#include "core/line_reader.h"
#include "core/utf8.h"
#include "eval/bleu.h"
#include "tests/fuzz/fuzz_common.h"

enum { MAX_LINE_BYTES = 512 };  // low, so that refusing a long line is reached too

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

static void free_lines(char **lines) {
    for (ptrdiff_t i = 0; i < arrlen(lines); i++) free(lines[i]);
    arrfree(lines);
}

// The lines as `azul bleu` reads them, or NULL (in *refused) when it would
// refuse the file: a long line, a NUL byte, invalid UTF-8.
static char **read_lines(const uint8_t *data, size_t size, bool *file_refused) {
    int fd = open(fuzz_file(data, size), O_RDONLY);
    FUZZ_CHECK(fd >= 0, "cannot open the input file");
    LineReader reader;
    Error err;
    FUZZ_CHECK(line_reader_init(&reader, fd, "input", &err) == 0, "%s", err.message);
    char **lines = NULL, *line;
    bool refused;
    int status;
    *file_refused = false;
    while ((status = line_reader_next(&reader, MAX_LINE_BYTES, &line, &refused, &err)) > 0) {
        arrput(lines, line);
        if (refused) {
            FUZZ_CHECK(line[0] == '\0', "a refused line that is not empty");
            *file_refused = true;
        } else if (!utf8_validate(line, strlen(line), NULL)) {
            *file_refused = true;
        } else {
            strip_trailing_space(line);  // which wants valid UTF-8, as the command checks first
        }
    }
    FUZZ_CHECK(status == 0, "reading a memory file failed: %s", err.message);
    line_reader_free(&reader);
    close(fd);
    return lines;
}

// sentence_lines on the same text must give the same sentences.
static void check_sentence_lines(const uint8_t *data, size_t size, char **lines) {
    char *text = fuzz_text(data, size);
    char **split = sentence_lines(text, size);
    FUZZ_CHECK(arrlen(split) == arrlen(lines), "%td sentences but %td lines", arrlen(split),
               arrlen(lines));
    for (ptrdiff_t i = 0; i < arrlen(lines); i++) {
        FUZZ_CHECK(strcmp(split[i], lines[i]) == 0, "line %td: \"%s\" vs \"%s\"", i, split[i],
                   lines[i]);
    }
    arrfree(split);
    free(text);
}

static void check_scores(const char *const *hyps, const char *const *refs, size_t n) {
    const char *const *one[1] = {refs};
    BleuScore bleu;
    ChrfScore chrf;
    bleu_corpus_score(hyps, n, one, 1, &bleu);
    chrf_corpus_score(hyps, n, one, 1, &chrf);
    FUZZ_CHECK(bleu.score >= 0 && bleu.score <= 100 + 1e-9, "BLEU %g", bleu.score);
    FUZZ_CHECK(bleu.bp >= 0 && bleu.bp <= 1, "brevity penalty %g", bleu.bp);
    for (int k = 0; k < 4; k++) {
        FUZZ_CHECK(bleu.matches[k] >= 0 && bleu.matches[k] <= bleu.totals[k], "clipped counts");
    }
    FUZZ_CHECK(chrf.score >= 0 && chrf.score <= 100 + 1e-9, "chrF %g", chrf.score);

    // The hypotheses among their own references, first: chrF keeps, per
    // sentence, the first best reference (as sacreBLEU), and an empty
    // hypothesis scores 0 against every reference.
    const char *const *two[2] = {hyps, refs};
    bleu_corpus_score(hyps, n, two, 2, &bleu);
    chrf_corpus_score(hyps, n, two, 2, &chrf);
    for (int k = 0; k < 4; k++) {
        FUZZ_CHECK(bleu.matches[k] == bleu.totals[k], "order %d: %ld of %ld n-grams match", k + 1,
                   bleu.matches[k], bleu.totals[k]);
    }
    FUZZ_CHECK(bleu.sys_len == bleu.ref_len && (bleu.bp == 1 || bleu.sys_len == 0), "length");
    FUZZ_CHECK(bleu.totals[3] == 0 || fabs(bleu.score - 100) < 1e-6, "self-BLEU %g", bleu.score);
    FUZZ_CHECK(chrf.score == 0 || chrf.score == 100, "self-chrF %g", chrf.score);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bool refused;
    char **lines = read_lines(data, size, &refused);
    if (!refused) {
        check_sentence_lines(data, size, lines);
        size_t n = (size_t)arrlen(lines) / 2;
        const char **hyps = malloc((n ? n : 1) * sizeof *hyps), **refs = malloc((n ? n : 1) * sizeof *refs);
        FUZZ_CHECK(hyps && refs, "out of memory");
        for (size_t i = 0; i < n; i++) hyps[i] = lines[2 * i], refs[i] = lines[2 * i + 1];
        check_scores(hyps, refs, n);
        free(hyps);
        free(refs);
    }
    free_lines(lines);
    return 0;
}
