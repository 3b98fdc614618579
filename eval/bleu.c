#include "eval/bleu.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>
#include <utf8proc.h>

#include "core/error.h"
#include "core/utf8.h"

// ---------------------------------------------------------------- white space, as Python sees it

// Python's str.isspace(): Unicode separators and the ASCII/C1 controls that
// act as white space (so U+00A0 and U+202F count, U+200B does not).
static bool is_python_space(int32_t cp) {
    if ((cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F) || cp == 0x85) return true;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

// Length in bytes of the white-space character at s, or 0.
static int space_at(const char *s) {
    if (!*s) return 0;
    int32_t cp;
    int n = utf8_decode(s, &cp);
    return is_python_space(cp) ? n : 0;
}

void strip_trailing_space(char *line) {
    size_t keep = 0;
    for (size_t i = 0; line[i];) {
        int n = space_at(line + i);
        if (n) { i += (size_t)n; continue; }
        int32_t cp;
        i += (size_t)utf8_decode(line + i, &cp);
        keep = i;
    }
    line[keep] = '\0';
}

char **sentence_lines(char *text, size_t length) {
    char **lines = NULL;
    char *p = text, *end = text + length;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl) *nl = '\0';
        strip_trailing_space(p);
        arrput(lines, p);
        if (!nl) break;
        p = nl + 1;
    }
    return lines;
}

static void free_words(char **words) {
    for (ptrdiff_t i = 0; i < arrlen(words); i++) free(words[i]);
    arrfree(words);
}

// Splits on runs of white space (str.split()) into *words, an stb_ds array
// of malloc'd words (NULL for none); -1, with nothing kept, when memory runs
// out.
static int split_words(const char *s, char ***words) {
    *words = NULL;
    size_t i = 0;
    while (s[i]) {
        int n;
        while ((n = space_at(s + i))) i += (size_t)n;
        if (!s[i]) break;
        size_t start = i;
        while (s[i] && !space_at(s + i)) {
            int32_t cp;
            i += (size_t)utf8_decode(s + i, &cp);
        }
        char *w = malloc(i - start + 1);
        if (!w) {
            free_words(*words);
            *words = NULL;
            return -1;
        }
        memcpy(w, s + start, i - start);
        w[i - start] = '\0';
        arrput(*words, w);
    }
    return 0;
}

// ---------------------------------------------------------------- the 13a tokenizer

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

// ASCII punctuation that 13a sets apart: everything but ' , - . (and letters, digits).
static bool is_split_punctuation(char c) { return c && strchr("!\"#$%&()*+/:;<=>?@[\\]^_`{|}~", c); }

static char *replace_all(const char *s, const char *from, const char *to) {
    size_t lf = strlen(from), lt = strlen(to), n = 0;
    char *out = malloc(strlen(s) * (lt > lf ? lt : 1) + 1);
    if (!out) return NULL;
    for (size_t i = 0; s[i];) {
        if (strncmp(s + i, from, lf) == 0) {
            memcpy(out + n, to, lt);
            n += lt;
            i += lf;
        } else {
            out[n++] = s[i++];
        }
    }
    out[n] = '\0';
    return out;
}

// One left-to-right, non-overlapping pass of a two-character pattern, as
// Python's re.sub: at each position, if (s[i], s[i+1]) matches, emit the
// replacement and skip both.
typedef enum { NON_DIGIT_THEN_MARK, MARK_THEN_NON_DIGIT, DIGIT_THEN_HYPHEN } PairRule;

static char *pass(const char *s, PairRule rule) {
    size_t len = strlen(s), n = 0;
    char *out = malloc(len * 2 + 1);
    if (!out) return NULL;
    for (size_t i = 0; i < len;) {
        char a = s[i], b = s[i + 1];
        bool match = false;
        if (b) {
            switch (rule) {
            case NON_DIGIT_THEN_MARK: match = !is_digit(a) && (b == '.' || b == ','); break;
            case MARK_THEN_NON_DIGIT: match = (a == '.' || a == ',') && !is_digit(b); break;
            case DIGIT_THEN_HYPHEN: match = is_digit(a) && b == '-'; break;
            }
        }
        if (!match) {
            out[n++] = s[i++];
            continue;
        }
        if (rule == MARK_THEN_NON_DIGIT) out[n++] = ' ';  // " \1 \2"
        out[n++] = a;
        out[n++] = ' ';
        out[n++] = b;
        if (rule != MARK_THEN_NON_DIGIT) out[n++] = ' ';  // "\1 \2 "
        i += 2;
    }
    out[n] = '\0';
    return out;
}

// Sets ASCII punctuation apart with spaces, and pads the whole with one
// space on each side (NULL when memory runs out).
static char *split_punctuation(const char *s) {
    size_t len = strlen(s);
    char *padded = malloc(len * 3 + 3), *p = padded;
    if (!padded) return NULL;
    *p++ = ' ';
    for (size_t i = 0; i < len; i++) {
        if (is_split_punctuation(s[i])) {
            *p++ = ' ';
            *p++ = s[i];
            *p++ = ' ';
        } else {
            *p++ = s[i];
        }
    }
    *p++ = ' ';
    *p = '\0';
    return padded;
}

// The words joined by single spaces (NULL when memory runs out).
static char *join_words(char **words) {
    size_t total = 1;
    for (ptrdiff_t i = 0; i < arrlen(words); i++) total += strlen(words[i]) + 1;
    char *out = malloc(total), *q = out;
    if (!out) return NULL;
    for (ptrdiff_t i = 0; i < arrlen(words); i++) {
        if (i) *q++ = ' ';
        size_t wl = strlen(words[i]);
        memcpy(q, words[i], wl);
        q += wl;
    }
    *q = '\0';
    return out;
}

char *bleu_tokenize_13a(const char *line) {
    char *s = replace_all(line, "<skipped>", "");
    if (s && strchr(s, '&')) {
        const char *entities[][2] = {{"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}};
        for (int i = 0; i < 4 && s; i++) {
            char *t = replace_all(s, entities[i][0], entities[i][1]);
            free(s);
            s = t;
        }
    }
    char *padded = s ? split_punctuation(s) : NULL;
    free(s);
    char *a = padded ? pass(padded, NON_DIGIT_THEN_MARK) : NULL;
    char *b = a ? pass(a, MARK_THEN_NON_DIGIT) : NULL;
    char *c = b ? pass(b, DIGIT_THEN_HYPHEN) : NULL;
    free(padded);
    free(a);
    free(b);
    char **words = NULL;
    int split = c ? split_words(c, &words) : -1;
    free(c);
    char *out = split == 0 ? join_words(words) : NULL;
    free_words(words);
    return out;
}

// ---------------------------------------------------------------- n-gram counting

typedef struct { char *key; long value; } NgramCount;

// Counts the n-grams (n = 1..max_n) of a sequence of units; each n-gram's
// key is its units joined by '\x01' and prefixed with n.
static NgramCount *count_ngrams(char **units, int max_n) {
    NgramCount *counts = NULL;
    sh_new_strdup(counts);
    ptrdiff_t len = arrlen(units);
    char *key = NULL;
    for (int n = 1; n <= max_n; n++) {
        for (ptrdiff_t i = 0; i + n <= len; i++) {
            arrsetlen(key, 0);
            arrput(key, (char)('0' + n));
            for (int k = 0; k < n; k++) {
                arrput(key, '\x01');
                size_t l = strlen(units[i + k]);
                memcpy(arraddnptr(key, l), units[i + k], l);
            }
            arrput(key, '\0');
            ptrdiff_t at = shgeti(counts, key);
            if (at >= 0) counts[at].value++;
            else shput(counts, key, 1);
        }
    }
    arrfree(key);
    return counts;
}

static long count_of(NgramCount *counts, const char *key) {
    ptrdiff_t at = shgeti(counts, key);
    return at >= 0 ? counts[at].value : 0;
}

// ---------------------------------------------------------------- BLEU

// The words of a line after 13a tokenization into *words; -1 when memory
// runs out.
static int words_13a(const char *line, char ***words) {
    *words = NULL;
    char *tokenized = bleu_tokenize_13a(line);
    int status = tokenized ? split_words(tokenized, words) : -1;
    free(tokenized);
    return status;
}

// Adds sentence i's n-gram matches and lengths to out; -1 when memory runs out.
static int bleu_sentence(const char *hyp, const char *const *const *refs, size_t n_refs, size_t i,
                         BleuScore *out) {
    char **hyp_words;
    if (words_13a(hyp, &hyp_words) < 0) return -1;
    NgramCount *hyp_counts = count_ngrams(hyp_words, 4);
    // The largest count of each n-gram over the references, and the
    // reference length closest to the hypothesis's (the shorter on a tie).
    NgramCount *max_ref = NULL;
    sh_new_strdup(max_ref);
    long hyp_len = arrlen(hyp_words), closest = -1;
    int status = 0;
    for (size_t r = 0; r < n_refs && status == 0; r++) {
        char **ref_words;
        if ((status = words_13a(refs[r][i], &ref_words)) < 0) break;
        long ref_len = arrlen(ref_words);
        if (closest < 0 || labs(ref_len - hyp_len) < labs(closest - hyp_len) ||
            (labs(ref_len - hyp_len) == labs(closest - hyp_len) && ref_len < closest)) {
            closest = ref_len;
        }
        NgramCount *rc = count_ngrams(ref_words, 4);
        for (ptrdiff_t k = 0; k < shlen(rc); k++) {
            if (count_of(max_ref, rc[k].key) < rc[k].value) shput(max_ref, rc[k].key, rc[k].value);
        }
        shfree(rc);
        free_words(ref_words);
    }
    for (ptrdiff_t k = 0; status == 0 && k < shlen(hyp_counts); k++) {
        int order = hyp_counts[k].key[0] - '1';
        long c = hyp_counts[k].value, m = count_of(max_ref, hyp_counts[k].key);
        out->totals[order] += c;
        out->matches[order] += c < m ? c : m;
    }
    out->sys_len += hyp_len;
    out->ref_len += closest < 0 ? 0 : closest;
    shfree(hyp_counts);
    shfree(max_ref);
    free_words(hyp_words);
    return status;
}

int bleu_corpus_score(const char *const *hyps, size_t n, const char *const *const *refs,
                      size_t n_refs, BleuScore *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        if (bleu_sentence(hyps[i], refs, n_refs, i, out) < 0) {
            memset(out, 0, sizeof *out);
            out->score = NAN;
            return -1;
        }
    }
    out->ratio = out->ref_len > 0 ? (double)out->sys_len / (double)out->ref_len : 0.0;
    out->bp = out->sys_len >= out->ref_len ? 1.0
              : out->sys_len > 0           ? exp(1.0 - (double)out->ref_len / (double)out->sys_len)
                                           : 0.0;
    long any = 0;
    for (int k = 0; k < 4; k++) any += out->matches[k];
    if (any == 0) return 0;  // nothing matched: BLEU 0, precisions 0
    double smooth = 1.0, log_sum = 0.0;
    for (int k = 0; k < 4; k++) {
        if (out->totals[k] == 0) {  // no n-grams of this order at all: BLEU is 0
            log_sum += -9999999999.0;
            continue;
        }
        if (out->matches[k] == 0) {
            smooth *= 2;
            out->precisions[k] = 100.0 / (smooth * (double)out->totals[k]);
        } else {
            out->precisions[k] = 100.0 * (double)out->matches[k] / (double)out->totals[k];
        }
        log_sum += log(out->precisions[k]);
    }
    // sacreBLEU stops at the first empty order; later precisions stay 0
    for (int k = 0; k < 4; k++) {
        if (out->totals[k] == 0) {
            for (int j = k; j < 4; j++) out->precisions[j] = 0.0;
            break;
        }
    }
    out->score = out->bp * exp(log_sum / 4.0);
    return 0;
}

// ---------------------------------------------------------------- chrF

// The characters of a line without its white space, one string per code
// point, into *chars (an stb_ds array); -1 when memory runs out.
static int characters(const char *line, char ***chars) {
    *chars = NULL;
    char **words;
    if (split_words(line, &words) < 0) return -1;
    int status = 0;
    for (ptrdiff_t w = 0; w < arrlen(words) && status == 0; w++) {
        for (const char *p = words[w]; *p;) {
            int32_t cp;
            int len = utf8_decode(p, &cp);
            char *c = malloc((size_t)len + 1);
            if (!c) {
                status = -1;
                break;
            }
            memcpy(c, p, (size_t)len);
            c[len] = '\0';
            arrput(*chars, c);
            p += len;
        }
    }
    free_words(words);
    if (status < 0) {
        free_words(*chars);
        *chars = NULL;
    }
    return status;
}

enum { CHRF_ORDER = 6 };
static const double CHRF_BETA = 2.0;

static void chrf_stats(NgramCount *hyp, NgramCount *ref, long stats[CHRF_ORDER][3]) {
    memset(stats, 0, sizeof(long) * CHRF_ORDER * 3);
    for (ptrdiff_t k = 0; k < shlen(ref); k++) stats[ref[k].key[0] - '1'][1] += ref[k].value;
    for (ptrdiff_t k = 0; k < shlen(hyp); k++) {
        int order = hyp[k].key[0] - '1';
        long c = hyp[k].value, m = count_of(ref, hyp[k].key);
        stats[order][0] += c;
        stats[order][2] += c < m ? c : m;
    }
    // A hypothesis order counts only where the reference has n-grams of it.
    for (int o = 0; o < CHRF_ORDER; o++) {
        if (stats[o][1] == 0) stats[o][0] = stats[o][2] = 0;
    }
}

static double chrf_from_stats(const long hyp[CHRF_ORDER], const long ref[CHRF_ORDER],
                              const long match[CHRF_ORDER]) {
    double precision = 0, recall = 0;
    int effective = 0;
    for (int o = 0; o < CHRF_ORDER; o++) {
        if (hyp[o] > 0 && ref[o] > 0) {
            precision += (double)match[o] / (double)hyp[o];
            recall += (double)match[o] / (double)ref[o];
            effective++;
        }
    }
    if (effective == 0) return 0.0;
    precision /= effective;
    recall /= effective;
    if (precision + recall == 0) return 0.0;
    double b2 = CHRF_BETA * CHRF_BETA;
    return 100.0 * (1 + b2) * precision * recall / (b2 * precision + recall);
}

// Adds sentence i's statistics against its best reference to out; -1 when
// memory runs out.
static int chrf_sentence(const char *hyp_line, const char *const *const *refs, size_t n_refs,
                         size_t i, ChrfScore *out) {
    char **hc;
    if (characters(hyp_line, &hc) < 0) return -1;
    NgramCount *hyp = count_ngrams(hc, CHRF_ORDER);
    long best[CHRF_ORDER][3] = {{0}};
    double best_score = -1;
    int status = 0;
    for (size_t r = 0; r < n_refs; r++) {
        char **rc;
        if ((status = characters(refs[r][i], &rc)) < 0) break;
        NgramCount *ref = count_ngrams(rc, CHRF_ORDER);
        long stats[CHRF_ORDER][3];
        chrf_stats(hyp, ref, stats);
        long h[CHRF_ORDER], f[CHRF_ORDER], m[CHRF_ORDER];
        for (int o = 0; o < CHRF_ORDER; o++) h[o] = stats[o][0], f[o] = stats[o][1], m[o] = stats[o][2];
        double s = chrf_from_stats(h, f, m);
        if (s > best_score) {
            best_score = s;
            memcpy(best, stats, sizeof best);
        }
        shfree(ref);
        free_words(rc);
    }
    for (int o = 0; o < CHRF_ORDER && status == 0; o++) {
        out->hyp[o] += best[o][0];
        out->ref[o] += best[o][1];
        out->match[o] += best[o][2];
    }
    shfree(hyp);
    free_words(hc);
    return status;
}

int chrf_corpus_score(const char *const *hyps, size_t n, const char *const *const *refs,
                      size_t n_refs, ChrfScore *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        if (chrf_sentence(hyps[i], refs, n_refs, i, out) < 0) {
            memset(out, 0, sizeof *out);
            out->score = NAN;
            return -1;
        }
    }
    out->score = chrf_from_stats(out->hyp, out->ref, out->match);
    return 0;
}
