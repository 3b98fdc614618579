// `azul bleu`: corpus BLEU and chrF of a translation against references, as
// sacreBLEU prints them.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_ds.h>

#include "core/line_reader.h"
#include "cli/commands.h"
#include "cli/report.h"
#include "cli/options.h"
#include "eval/bleu.h"
#include "core/utf8.h"

static const char usage[] =
    "usage: azul bleu --ref REF.txt [--ref REF2.txt ...] [HYP.txt]\n"
    "\n"
    "Scores a translation (HYP.txt, or standard input) against one or more\n"
    "references, one sentence per line, and prints corpus BLEU and chrF2 exactly as\n"
    "sacreBLEU 2.x does with its defaults (13a tokenization, exp smoothing, chrF with\n"
    "6 character orders and beta 2), with two decimals.\n";

enum { MAX_TEXT_BYTES = 1 << 30 };

// The sentences of a file (or standard input, fd 0), as sacreBLEU reads them,
// with the line length limit: an over-long line, a NUL byte or invalid UTF-8
// is an error naming the line, and so is a read error or more than
// MAX_TEXT_BYTES in all.  Returns an stb_ds array of malloc'd lines.
static char **read_sentences(const char *path, const char *name) {
    int fd = path ? open(path, O_RDONLY) : 0;
    if (fd < 0) die("cannot open %s: %s", path, strerror(errno));
    LineReader reader;
    Error err;
    if (line_reader_init(&reader, fd, name, &err) < 0) die("%s", err.message);
    char **lines = NULL, *line;
    bool refused;
    size_t total = 0;
    int status;
    while ((status = line_reader_next(&reader, LINE_READER_MAX_BYTES, &line, &refused, &err)) > 0) {
        if (refused) die("%s", err.message);
        Utf8Problem problem;
        size_t length = strlen(line);
        if (!utf8_validate(line, length, &problem)) {
            die("%s:%zu: invalid UTF-8 at byte %zu (%s)", name, reader.lines, problem.offset,
                problem.reason);
        }
        total += length + 1;
        if (total > MAX_TEXT_BYTES) die("%s is larger than the limit of %d bytes", name, MAX_TEXT_BYTES);
        strip_trailing_space(line);
        arrput(lines, line);
    }
    if (status < 0) die("%s", err.message);
    line_reader_free(&reader);
    if (path) close(fd);
    return lines;
}

static void free_sentences(char **lines) {
    for (ptrdiff_t i = 0; i < arrlen(lines); i++) free(lines[i]);
    arrfree(lines);
}

int bleu_command(int argc, char **argv) {
    static const struct option long_options[] = {
        {"ref", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char **ref_paths = NULL;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":r:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'r': arrput(ref_paths, optarg); break;
        case 'h': fputs(usage, stdout); return 0;
        default: die_bad_option("bleu", argv, c);
        }
    }
    if (arrlen(ref_paths) == 0) die_usage("bleu", "at least one --ref REF.txt is required");
    if (argc - optind > 1) die_usage("bleu", "one hypothesis file at most (got '%s' too)", argv[optind + 1]);

    const char *hyp_name = optind < argc ? argv[optind] : "<stdin>";
    char **hyps = read_sentences(optind < argc ? argv[optind] : NULL, hyp_name);
    size_t n_refs = (size_t)arrlen(ref_paths);
    const char *const **refs = calloc(n_refs, sizeof *refs);
    char ***ref_lines = calloc(n_refs, sizeof *ref_lines);
    if (!refs || !ref_lines) die("out of memory: reading %zu references", n_refs);
    for (size_t r = 0; r < n_refs; r++) {
        ref_lines[r] = read_sentences(ref_paths[r], ref_paths[r]);
        if (arrlen(ref_lines[r]) != arrlen(hyps)) {
            die("%s has %td lines but %s has %td: every hypothesis line needs its reference line",
                ref_paths[r], arrlen(ref_lines[r]), hyp_name, arrlen(hyps));
        }
        refs[r] = (const char *const *)ref_lines[r];
    }
    BleuScore bleu;
    ChrfScore chrf;
    if (bleu_corpus_score((const char *const *)hyps, (size_t)arrlen(hyps), refs, n_refs, &bleu) < 0 ||
        chrf_corpus_score((const char *const *)hyps, (size_t)arrlen(hyps), refs, n_refs, &chrf) < 0) {
        die("out of memory: scoring %td sentences", arrlen(hyps));
    }
    printf("BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %ld ref_len = %ld)\n",
           bleu.score, bleu.precisions[0], bleu.precisions[1], bleu.precisions[2],
           bleu.precisions[3], bleu.bp, bleu.ratio, bleu.sys_len, bleu.ref_len);
    printf("chrF2 = %.2f\n", chrf.score);
    printf("signature: BLEU nrefs:%zu|case:mixed|eff:no|tok:13a|smooth:exp|azul ; "
           "chrF2 nrefs:%zu|case:mixed|eff:yes|nc:6|nw:0|space:no|azul\n", n_refs, n_refs);
    for (size_t r = 0; r < n_refs; r++) free_sentences(ref_lines[r]);
    free(ref_lines);
    free(refs);
    free_sentences(hyps);
    arrfree(ref_paths);
    finish_standard_output();
    return 0;
}
