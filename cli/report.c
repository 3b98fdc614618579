#include "cli/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "train/world.h"

// "azul: LABEL: MESSAGE SUFFIX", or "azul (rank 1 of 2): ..." in a job of
// several processes.  The message is made printable (utf8_printable): it
// may quote what a user or a file gave (a token, a path, a flag's value),
// and an ESC in it must not reach the terminal as an escape sequence, nor a
// newline split the one-line message.  The line goes out in one fprintf
// (one write for glibc's unbuffered stderr): the ranks of a job share one
// stderr, and a line written in pieces comes out interleaved with another
// rank's.
static void print_line(const char *label, const char *suffix, const char *format, va_list args) {
    fflush(stdout);  // keep stdout and stderr in order when both go to a terminal
    char prefix[64] = "azul";
    const World *w = world();
    if (w->size > 1) snprintf(prefix, sizeof prefix, "azul (rank %d of %d)", w->rank, w->size);
    char small[1024] = "", *text = small;
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(small, sizeof small, format, copy);
    va_end(copy);
    if (n >= (int)sizeof small) {
        char *large = malloc((size_t)n + 1);  // without it, the message is cut short
        if (large) {
            vsnprintf(large, (size_t)n + 1, format, args);
            text = large;
        }
    }
    char *shown = utf8_printable(text);
    if (shown) {
        fprintf(stderr, "%s: %s: %s%s\n", prefix, label, shown, suffix);
    } else {  // out of memory: in pieces, but said
        fprintf(stderr, "%s: %s: ", prefix, label);
        utf8_put_printable(stderr, text);
        fprintf(stderr, "%s\n", suffix);
    }
    free(shown);
    if (text != small) free(text);
}

void report_error(const char *format, ...) {
    va_list args;
    va_start(args, format);
    print_line("error", "", format, args);
    va_end(args);
}

void report_warning(const char *format, ...) {
    va_list args;
    va_start(args, format);
    print_line("warning", "", format, args);
    va_end(args);
}

void die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    print_line("error", "", format, args);
    va_end(args);
    world_abort(EXIT_FAILURE_AZUL);  // the other ranks would wait for this one forever
    exit(EXIT_FAILURE_AZUL);
}

void die_usage(const char *command, const char *format, ...) {
    char suffix[128];
    snprintf(suffix, sizeof suffix, " (see 'azul %s --help')", command);
    va_list args;
    va_start(args, format);
    print_line("error", suffix, format, args);
    va_end(args);
    world_abort(EXIT_USAGE);
    exit(EXIT_USAGE);
}

void finish_standard_output(void) {
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return;
    int e = errno;
    clearerr(stdout);
    die("cannot write to standard output: %s", e ? strerror(e) : "write error");
}
