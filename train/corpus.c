#include "train/corpus.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_ds.h>

#include "core/atomic_file.h"
#include "core/line_reader.h"
#include "core/utf8.h"

static int is_blank(const char *s, size_t length) {
    for (size_t i = 0; i < length; i++) {
        if (s[i] != ' ' && s[i] != '\t') return 0;
    }
    return 1;
}

// Writes "azul: warning: PATH" and the rest.  The path is the user's and
// may hold any byte: it is written as the errors are (cli/report.h), its
// control characters shown as U+FFFD, so that it cannot split the warning
// or reach the terminal as an escape sequence.
static void warn(FILE *warnings, const char *path, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(FILE *warnings, const char *path, const char *format, ...) {
    fputs("azul: warning: ", warnings);
    utf8_put_printable(warnings, path);
    va_list args;
    va_start(args, format);
    vfprintf(warnings, format, args);
    va_end(args);
}

// Describes one skipped line, unless max_warnings have been shown already.
static void report(const Corpus *c, FILE *warnings, size_t max_warnings, size_t line,
                   const char *reason) {
    if (!warnings) return;
    size_t skipped = corpus_skipped(c);  // already counts this line
    if (skipped > max_warnings) return;
    warn(warnings, c->path, ":%zu: %s; line skipped\n", line, reason);
    if (skipped == max_warnings) {
        warn(warnings, c->path, ": further malformed lines are counted but not shown\n");
    }
}

// The whole of the corpus's text into c->text, at most max_bytes of it: a
// file is measured before it is read, a pipe as it is read.
static int read_text(Corpus *c, FILE *f, size_t max_bytes, size_t *length, Error *err) {
    char described[600];  // for the messages: "cannot read corpus FILE: ..."
    snprintf(described, sizeof described, "corpus %s", c->path);
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (unsigned long long)st.st_size > max_bytes) {
        return error_set(err, "%s is %lld bytes, larger than the limit of %zu bytes", described,
                         (long long)st.st_size, max_bytes);
    }
    c->text = read_whole_stream(f, described, max_bytes, length, err);
    return c->text ? 0 : -1;
}

int corpus_read(Corpus *c, const char *path, FILE *warnings, size_t max_warnings, Error *err) {
    return corpus_read_at_most(c, path, CORPUS_MAX_BYTES, warnings, max_warnings, err);
}

int corpus_read_at_most(Corpus *c, const char *path, size_t max_bytes, FILE *warnings,
                        size_t max_warnings, Error *err) {
    memset(c, 0, sizeof *c);
    int from_stdin = strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f) return error_set(err, "cannot open corpus %s: %s", path, ERRNO_TEXT(errno));
    const char *name = from_stdin ? "<stdin>" : path;
    c->path = strdup(name);
    if (!c->path) {
        if (!from_stdin) fclose(f);
        return error_out_of_memory(err, "reading a corpus", strlen(name) + 1);
    }
    size_t length;
    int status = read_text(c, f, max_bytes, &length, err);
    if (!from_stdin) fclose(f);
    if (status < 0) {
        corpus_free(c);
        return -1;
    }

    char *p = c->text, *end = c->text + length;
    char reason[128];
    if (length >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;  // a BOM at the very start

    while (p < end) {
        char *newline = memchr(p, '\n', (size_t)(end - p));
        char *line_end = newline ? newline : end;
        char *next = newline ? newline + 1 : end;
        size_t line = ++c->lines;
        if (line_end > p && line_end[-1] == '\r') line_end--;
        *line_end = '\0';
        size_t line_length = (size_t)(line_end - p);

        if (is_blank(p, line_length)) {
            c->blank++;
        } else if (line_length > LINE_READER_MAX_BYTES) {
            // the limit every other reader of lines keeps: no pair that long
            // reaches the tokenizers
            c->invalid_text++;
            snprintf(reason, sizeof reason, "longer than %d bytes (%zu)", LINE_READER_MAX_BYTES,
                     line_length);
            report(c, warnings, max_warnings, line, reason);
        } else if (memchr(p, '\0', line_length)) {
            c->invalid_text++;
            snprintf(reason, sizeof reason, "NUL byte at byte %zu",
                     (size_t)((char *)memchr(p, '\0', line_length) - p));
            report(c, warnings, max_warnings, line, reason);
        } else {
            Utf8Problem problem;
            char *tab = memchr(p, '\t', line_length);
            if (!utf8_validate(p, line_length, &problem)) {
                c->invalid_text++;
                snprintf(reason, sizeof reason, "invalid UTF-8 at byte %zu (%s)", problem.offset,
                         problem.reason);
                report(c, warnings, max_warnings, line, reason);
            } else if (!tab) {
                c->missing_tab++;
                report(c, warnings, max_warnings, line, "no TAB between source and target");
            } else {
                char *target = tab + 1;
                char *target_end = memchr(target, '\t', (size_t)(line_end - target));
                if (!target_end) target_end = line_end;
                *tab = '\0';
                *target_end = '\0';  // further columns are ignored
                int empty_source = is_blank(p, (size_t)(tab - p));
                int empty_target = is_blank(target, (size_t)(target_end - target));
                if (empty_source || empty_target) {
                    c->empty_side++;
                    report(c, warnings, max_warnings, line,
                           empty_source ? "empty source side" : "empty target side");
                } else {
                    SentencePair pair = {p, target, line};
                    arrput(c->pairs, pair);
                }
            }
        }
        p = next;
    }
    if (warnings && corpus_skipped(c) > 0) {
        warn(warnings, c->path,
             ": skipped %zu malformed line%s of %zu (%zu without TAB, "
             "%zu with an empty side, %zu with invalid text); kept %zu pairs\n",
             corpus_skipped(c), corpus_skipped(c) == 1 ? "" : "s", c->lines,
             c->missing_tab, c->empty_side, c->invalid_text, corpus_size(c));
    }
    return 0;
}

size_t corpus_size(const Corpus *c) { return (size_t)arrlen(c->pairs); }

size_t corpus_skipped(const Corpus *c) { return c->missing_tab + c->empty_side + c->invalid_text; }

void corpus_free(Corpus *c) {
    free(c->path);
    free(c->text);
    arrfree(c->pairs);
    memset(c, 0, sizeof *c);
}
