// What every fuzz harness shares: the loaders take a path, so the input is
// handed to them as a file; and a failed property must crash, since a crash
// is the only thing libFuzzer records.
#ifndef AZUL_FUZZ_COMMON_H
#define AZUL_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

// The entry points libFuzzer calls.
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// A path whose file holds exactly data[0..size): one in-memory file, rewritten
// for every input, so that fuzzing never touches the disk.
const char *fuzz_file(const uint8_t *data, size_t size);

// data[0..size) as a malloc'd NUL-terminated string (NUL bytes inside stay).
char *fuzz_text(const uint8_t *data, size_t size);

// Aborts with the message when the property does not hold.
#define FUZZ_CHECK(condition, ...) \
    ((condition) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #condition, __VA_ARGS__))
_Noreturn void fuzz_fail(const char *file, int line, const char *condition, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

#endif
