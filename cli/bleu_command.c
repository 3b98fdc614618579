// `azul bleu`: corpus BLEU and chrF of a translation against references, as
// sacreBLEU prints them.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "core/atomic_file.h"
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

static char **lines_of(char *text, size_t length, const char *name) {
    Utf8Problem problem;
    if (!utf8_validate(text, length, &problem)) {
        size_t line = 1;
        for (size_t i = 0; i < problem.offset; i++) line += text[i] == '\n';
        die("%s:%zu: invalid UTF-8 (%s)", name, line, problem.reason);
    }
    return sentence_lines(text, length);
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

    Error err;
    size_t length;
    const char *hyp_name = optind < argc ? argv[optind] : "<stdin>";
    char *hyp_text = optind < argc ? read_whole_file(argv[optind], MAX_TEXT_BYTES, &length, &err)
                                   : read_whole_stream(stdin, hyp_name, &length, &err);
    if (!hyp_text) die("%s", err.message);
    char **hyps = lines_of(hyp_text, length, hyp_name);
    size_t n_refs = (size_t)arrlen(ref_paths);
    char **ref_texts = calloc(n_refs, sizeof *ref_texts);
    const char *const **refs = calloc(n_refs, sizeof *refs);
    char ***ref_lines = calloc(n_refs, sizeof *ref_lines);
    for (size_t r = 0; r < n_refs; r++) {
        ref_texts[r] = read_whole_file(ref_paths[r], MAX_TEXT_BYTES, &length, &err);
        if (!ref_texts[r]) die("%s", err.message);
        ref_lines[r] = lines_of(ref_texts[r], length, ref_paths[r]);
        if (arrlen(ref_lines[r]) != arrlen(hyps)) {
            die("%s has %td lines but %s has %td: every hypothesis line needs its reference line",
                ref_paths[r], arrlen(ref_lines[r]), hyp_name, arrlen(hyps));
        }
        refs[r] = (const char *const *)ref_lines[r];
    }
    BleuScore bleu;
    ChrfScore chrf;
    bleu_corpus_score((const char *const *)hyps, (size_t)arrlen(hyps), refs, n_refs, &bleu);
    chrf_corpus_score((const char *const *)hyps, (size_t)arrlen(hyps), refs, n_refs, &chrf);
    printf("BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %ld ref_len = %ld)\n",
           bleu.score, bleu.precisions[0], bleu.precisions[1], bleu.precisions[2],
           bleu.precisions[3], bleu.bp, bleu.ratio, bleu.sys_len, bleu.ref_len);
    printf("chrF2 = %.2f\n", chrf.score);
    printf("signature: BLEU nrefs:%zu|case:mixed|eff:no|tok:13a|smooth:exp|azul ; "
           "chrF2 nrefs:%zu|case:mixed|eff:yes|nc:6|nw:0|space:no|azul\n", n_refs, n_refs);
    for (size_t r = 0; r < n_refs; r++) {
        arrfree(ref_lines[r]);
        free(ref_texts[r]);
    }
    free(ref_lines);
    free(ref_texts);
    free(refs);
    arrfree(hyps);
    free(hyp_text);
    arrfree(ref_paths);
    return 0;
}
