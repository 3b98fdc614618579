#include "cli/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "train/world.h"

// Writes the formatted message made printable (utf8_put_printable): messages
// quote what a user or a file gave (a token, a path, a flag's value), and an
// ESC in it must not reach the terminal as an escape sequence, nor a newline
// split the one-line message.
static void print_message(const char *format, va_list args) {
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
    utf8_put_printable(stderr, text);
    if (text != small) free(text);
}

// "azul: ", or "azul (rank 1 of 2): " in a job of several processes.
static void print_prefix(void) {
    const World *w = world();
    if (w->size > 1) fprintf(stderr, "azul (rank %d of %d): ", w->rank, w->size);
    else fprintf(stderr, "azul: ");
}

static void print_labelled(const char *label, const char *format, va_list args) {
    fflush(stdout);  // keep stdout and stderr in order when both go to a terminal
    print_prefix();
    fprintf(stderr, "%s: ", label);
    print_message(format, args);
    fputc('\n', stderr);
}

void report_error(const char *format, ...) {
    va_list args;
    va_start(args, format);
    print_labelled("error", format, args);
    va_end(args);
}

void report_warning(const char *format, ...) {
    va_list args;
    va_start(args, format);
    print_labelled("warning", format, args);
    va_end(args);
}

void die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    print_labelled("error", format, args);
    va_end(args);
    world_abort(EXIT_FAILURE_AZUL);  // the other ranks would wait for this one forever
    exit(EXIT_FAILURE_AZUL);
}

void die_usage(const char *command, const char *format, ...) {
    va_list args;
    va_start(args, format);
    fflush(stdout);
    print_prefix();
    fprintf(stderr, "error: ");
    print_message(format, args);
    fprintf(stderr, " (see 'azul %s --help')\n", command);
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
