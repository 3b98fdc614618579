// Reading a parallel corpus: one pair per line, `source<TAB>target`.
//
// Further columns (Tatoeba's attribution, say) are ignored, CRLF line ends and
// a UTF-8 BOM are accepted, blank lines are skipped.  A malformed line — no
// TAB, an empty side, invalid UTF-8 or a NUL byte — is reported as FILE:LINE
// with the reason, skipped and counted; only an unreadable file is fatal.
#ifndef AZUL_CORPUS_H
#define AZUL_CORPUS_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

typedef struct {
    const char *source;  // NUL-terminated, inside Corpus.text
    const char *target;
    size_t line;         // 1-based line number in the file
} SentencePair;

typedef struct {
    char *path;
    char *text;               // the whole file, cut in place into the strings above
    SentencePair *pairs;      // stb_ds array
    size_t lines;             // lines read, blank ones included
    size_t blank;             // skipped silently
    size_t missing_tab;       // the malformed lines, by kind
    size_t empty_side;
    size_t invalid_text;      // invalid UTF-8 or a NUL byte
} Corpus;

// The largest corpus azul reads, 1 GiB: the whole text is held in memory
// (about three times its size once tokenized), and the dataset counts token
// offsets and line numbers in 32 bits (train/dataset.h), which 1 GiB of text
// fills to a quarter at most.  Far above any corpus this trainer can get
// through in a day.
enum { CORPUS_MAX_BYTES = 1 << 30 };

// Reads path ("-" for stdin).  Each malformed line is described on `warnings`
// (the first max_warnings of them; NULL for none), and a one-line summary ends
// the report when anything was skipped.  Returns -1 with err set only when the
// file cannot be read at all, or holds more than CORPUS_MAX_BYTES: a file is
// refused before it is read, a pipe as soon as it passes the limit.
int corpus_read(Corpus *corpus, const char *path, FILE *warnings, size_t max_warnings, Error *err);
// The same with another limit (the tests use a small one).
int corpus_read_at_most(Corpus *corpus, const char *path, size_t max_bytes, FILE *warnings,
                        size_t max_warnings, Error *err);
void corpus_free(Corpus *corpus);

size_t corpus_size(const Corpus *corpus);
size_t corpus_skipped(const Corpus *corpus);

#endif
