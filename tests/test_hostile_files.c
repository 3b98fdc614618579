// Hostile input and faults (issue 11): damaged and partial files, read and
// write errors, planted symlinks, huge lines, a full disk.  Each test names
// the defect it guards against.
#define _GNU_SOURCE  // syscall(), for the fsync below
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <stb/stb_ds.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/line_reader.h"
#include "model/safetensors.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer_json.h"
#include "tokenizer/tokenizer_pair.h"
#include "tests/test.h"

// The whole file (NUL-terminated; *length without the NUL), or NULL when absent.
// Fault injection: while set, fsync of a directory fails with EIO, as on a
// failing disk.  This definition replaces the C library's in the test
// program (and only there); otherwise it is the real system call.
static int fail_directory_syncs;

int fsync(int fd) {
    struct stat st;
    if (fail_directory_syncs && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fsync, fd);
}

// Runs bin/azul to its end (spawn_azul_redirected, stderr to a file of its
// own).  Returns the exit status (-1 for a signal); *err_text gets stderr
// (malloc'd).
static int run_redirected(const char *const *args, const char *stdin_path, const char *stdout_path,
                          long fsize_limit, char **err_text) {
    char *dir = make_temp_dir(), *err_path = join(dir, "stderr");
    pid_t pid = spawn_azul_redirected(args, stdin_path, stdout_path, err_path, fsize_limit);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    *err_text = slurp(err_path, NULL);
    assert_non_null(*err_text);
    remove_tree(dir);
    free(dir);
    free(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define RUN_REDIRECTED(stdin_path, stdout_path, fsize_limit, err_text, ...) \
    run_redirected((const char *const[]){__VA_ARGS__, NULL}, stdin_path, stdout_path, fsize_limit, err_text)

// A short toy training run into DIR (a fresh one, or --resume), up to `steps`
// steps, validating and checkpointing every 3; fails the test when it fails.
static void train_toy(const char *dir, const char *steps, int resume) {
    char *out, *err;
    int status = resume
        ? RUN(NULL, &out, &err, "train", "--out", dir, "--steps", steps, "--resume")
        : RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out", dir,
              "--steps", steps, "--batch-tokens", "256", "--log-every", "1", "--valid-every", "3",
              "--valid-sentences", "4", "--seed", "7");
    if (status != 0) fail_msg("train --steps %s%s failed (%d):\n%s\n%s", steps,
                              resume ? " --resume" : "", status, out, err);
    free(out);
    free(err);
}

// Every line of DIR/train.log is a JSON object; returns how many there are.
static int count_log_lines(const char *dir) {
    char *path = join(dir, "train.log");
    char *text = slurp(path, NULL);
    assert_non_null(text);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        if (!cJSON_IsObject(j)) fail_msg("train.log line %d is not a JSON object: %s", lines + 1, line);
        cJSON_Delete(j);
        lines++;
    }
    free(text);
    free(path);
    return lines;
}

// ---------------------------------------------------------------- train.log

// Issue 11.2: a log whose last line lost its newline (a partial write) made
// the resumed run write one byte past the buffer of kept lines (AddressSanitizer
// shows it; a plain build went on).
static void resume_keeps_a_last_log_line_without_its_newline(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    train_toy(dir, "6", 0);
    char *log_path = join(dir, "train.log");
    size_t length;
    char *text = slurp(log_path, &length);
    assert_non_null(text);
    assert_true(length > 1 && text[length - 1] == '\n');
    assert_int_equal(truncate(log_path, (off_t)(length - 1)), 0);
    int before = count_log_lines(dir);
    train_toy(dir, "8", 1);
    assert_true(count_log_lines(dir) > before);  // the old lines, each whole, then the new ones
    free(text);
    free(log_path);
    remove_tree(dir);
    free(dir);
}

// Issue 11.7: on --resume, train.log was truncated and rewritten in place, so
// a crash or a full disk at that moment lost the history.  Now it is replaced
// atomically: a hard link to the old log keeps every old line.
static void resume_replaces_train_log_without_truncating_it(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    train_toy(dir, "6", 0);
    char *log_path = join(dir, "train.log"), *link_path = join(dir, "old.log");
    char *old = slurp(log_path, NULL);
    assert_non_null(old);
    assert_int_equal(link(log_path, link_path), 0);
    train_toy(dir, "8", 1);
    char *kept = slurp(link_path, NULL), *now = slurp(log_path, NULL);
    assert_string_equal(kept, old);
    assert_true(strlen(now) > strlen(old));
    assert_memory_equal(now, old, strlen(old));
    free(old);
    free(kept);
    free(now);
    free(log_path);
    free(link_path);
    remove_tree(dir);
    free(dir);
}

// ---------------------------------------------------------------- reading lines

// Issue 11.7: text after a NUL byte in a line was dropped silently; now the
// line is refused, and the reader names the line.
static void line_reader_refuses_a_line_with_a_nul_byte(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    static const char text[] = "ok\nab\0cd\nlast\n";
    assert_int_equal(write(fds[1], text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fds[1]);
    LineReader r;
    Error err;
    assert_int_equal(line_reader_init(&r, fds[0], "data.txt", &err), 0);
    char *line;
    bool refused;
    assert_int_equal(line_reader_next(&r, 100, &line, &refused, &err), 1);
    assert_false(refused);
    assert_string_equal(line, "ok");
    free(line);
    assert_int_equal(line_reader_next(&r, 100, &line, &refused, &err), 1);
    assert_true(refused);
    assert_string_equal(line, "");
    expect_contains(err.message, "data.txt:2: NUL byte at byte 2");
    free(line);
    assert_int_equal(line_reader_next(&r, 100, &line, &refused, &err), 1);
    assert_false(refused);
    assert_string_equal(line, "last");
    free(line);
    assert_int_equal(line_reader_next(&r, 100, &line, &refused, &err), 0);
    line_reader_free(&r);
    close(fds[0]);
}

// Issue 11.7: `azul translate SOMEDIR` printed nothing and exited 0.  The
// line reader already reports the read error (not a defect any more); this
// proves it end to end.
static void translate_reports_a_directory_as_a_read_error(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "translate", "--model", toy_model_dir(), dir), 1);
    expect_contains(err, "azul: error: cannot read ");
    expect_contains(err, "Is a directory");
    assert_string_equal(out, "");
    free(out);
    free(err);
    remove_tree(dir);
    free(dir);
}

// Learns a small BPE tokenizer from the toy corpus into DIR/tok.json.
static char *learn_tokenizer(const char *dir) {
    char *path = join(dir, "tok.json");
    char *out, *err;
    int status = RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus", "data/toy-en-es/train.tsv",
                     "-o", path, "--vocab-size", "400");
    if (status != 0) fail_msg("tokenize --learn failed:\n%s", err);
    free(out);
    free(err);
    return path;
}

// Issue 11.7: tokenize and bleu exited 0 when their output could not be
// written (> /dev/full).
static void tokenize_and_bleu_report_a_full_standard_output(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *tokenizer = learn_tokenizer(dir);
    char *input = write_temp_file(dir, "in.txt", "the ball is blue\nthe cat\n", 25);
    char *err;
    assert_int_equal(RUN_REDIRECTED(input, "/dev/full", 0, &err, "tokenize", "--model", tokenizer), 1);
    expect_contains(err, "azul: error: cannot write to standard output: No space left on device");
    free(err);
    assert_int_equal(RUN_REDIRECTED(NULL, "/dev/full", 0, &err, "tokenize", "--model", tokenizer,
                                    "the ball"), 1);
    expect_contains(err, "azul: error: cannot write to standard output");
    free(err);
    assert_int_equal(RUN_REDIRECTED(input, "/dev/full", 0, &err, "bleu", "--ref", input), 1);
    expect_contains(err, "azul: error: cannot write to standard output: No space left on device");
    free(err);
    free(input);
    free(tokenizer);
    remove_tree(dir);
    free(dir);
}

// Issue 11.11 and 11.7: tokenize and bleu read standard input without a line
// length limit (a huge line was buffered whole), and bleu dropped the text
// after a NUL byte.  Both now refuse such a line with an error naming it.
static void tokenize_and_bleu_refuse_over_long_and_nul_lines(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *tokenizer = learn_tokenizer(dir);
    size_t n = LINE_READER_MAX_BYTES + 1;
    char *text = malloc(n + 32);
    assert_non_null(text);
    strcpy(text, "the cat\n");
    memset(text + 8, 'a', n);
    strcpy(text + 8 + n, "\nthe dog\n");
    char *long_input = write_temp_file(dir, "long.txt", text, strlen(text));
    char *nul_input = write_temp_file(dir, "nul.txt", "the cat\nthe\0dog\n", 16);
    char *ref = write_temp_file(dir, "ref.txt", "the cat\nthe dog\nthe dog\n", 24);
    char *out_path = join(dir, "out.txt"), *err;
    char limit[80];
    snprintf(limit, sizeof limit, "<stdin>:2: line longer than the limit of %d bytes",
             LINE_READER_MAX_BYTES);
    assert_int_equal(RUN_REDIRECTED(long_input, out_path, 0, &err, "tokenize", "--model", tokenizer), 1);
    expect_contains(err, limit);
    free(err);
    assert_int_equal(RUN_REDIRECTED(nul_input, out_path, 0, &err, "tokenize", "--model", tokenizer), 1);
    expect_contains(err, "azul: error: <stdin>:2: NUL byte at byte 3");
    free(err);
    assert_int_equal(RUN_REDIRECTED(long_input, out_path, 0, &err, "bleu", "--ref", ref), 1);
    expect_contains(err, limit);
    free(err);
    assert_int_equal(RUN_REDIRECTED(nul_input, out_path, 0, &err, "bleu", "--ref", ref), 1);
    expect_contains(err, "azul: error: <stdin>:2: NUL byte at byte 3");
    free(err);
    assert_int_equal(RUN_REDIRECTED(NULL, out_path, 0, &err, "bleu", "--ref", ref, nul_input), 1);
    snprintf(limit, sizeof limit, "%s:2: NUL byte at byte 3", nul_input);
    expect_contains(err, limit);
    free(err);
    free(text);
    free(long_input);
    free(nul_input);
    free(ref);
    free(out_path);
    free(tokenizer);
    remove_tree(dir);
    free(dir);
}

// A file of two lines: "the cat", then words ("a a a ...") `bytes` long.
static char *write_long_line(const char *dir, const char *name, size_t bytes) {
    char *text = malloc(bytes + 16);
    assert_non_null(text);
    strcpy(text, "the cat\n");
    for (size_t i = 0; i < bytes; i++) text[8 + i] = i % 2 ? ' ' : 'a';
    text[8 + bytes] = '\n';
    char *path = write_temp_file(dir, name, text, 8 + bytes + 1);
    free(text);
    return path;
}

// Limits (README): the lines that translate, tokenize and bleu read are at
// most LINE_READER_MAX_BYTES.  A line of exactly that many bytes is read (and
// then translate finds it too long for the model, a different message); one
// byte more is refused, naming the line and the limit, by every reader: the
// stream translator, the prompt (which read with getline, without any
// limit, and cut a line at a NUL byte without a word), tokenize and bleu.
static void every_line_reader_takes_exactly_its_limit(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *tokenizer = learn_tokenizer(dir);
    char *exact = write_long_line(dir, "exact.txt", LINE_READER_MAX_BYTES);
    char *over = write_long_line(dir, "over.txt", LINE_READER_MAX_BYTES + 1);
    char *nul = write_temp_file(dir, "nul.txt", "the cat\nthe\0dog\n", 16);
    char *out_path = join(dir, "out.txt"), *err, limit[96];
    snprintf(limit, sizeof limit, "<stdin>:2: line longer than the limit of %d bytes", LINE_READER_MAX_BYTES);

    assert_int_equal(RUN_REDIRECTED(exact, out_path, 0, &err, "tokenize", "--model", tokenizer, "--stats"), 0);
    char *out = slurp(out_path, NULL);
    expect_contains(out, "source: 2 sentences");
    free(out);
    free(err);
    assert_int_equal(RUN_REDIRECTED(over, out_path, 0, &err, "tokenize", "--model", tokenizer, "--stats"), 1);
    expect_contains(err, limit);
    free(err);

    assert_int_equal(RUN_REDIRECTED(exact, out_path, 0, &err, "bleu", "--ref", exact), 0);
    out = slurp(out_path, NULL);
    expect_contains(out, "BLEU = 100.00");
    free(out);
    free(err);
    assert_int_equal(RUN_REDIRECTED(over, out_path, 0, &err, "bleu", "--ref", exact), 1);
    expect_contains(err, limit);
    free(err);

    const char *model = toy_model_dir();
    assert_int_equal(RUN_REDIRECTED(exact, out_path, 0, &err, "translate", "--model", model, "--beam", "1"), 0);
    expect_contains(err, "azul: warning: <stdin>:2: too long: ");
    assert_null(strstr(err, "longer than the limit"));
    out = slurp(out_path, NULL);
    assert_int_equal(strlen(out) > 2 && out[strlen(out) - 1] == '\n' && out[strlen(out) - 2] == '\n', 1);
    free(out);
    free(err);
    assert_int_equal(RUN_REDIRECTED(over, out_path, 0, &err, "translate", "--model", model, "--beam", "1"), 0);
    expect_contains(err, "azul: warning: ");
    expect_contains(err, limit);
    free(err);

    // the prompt, fed through a pipe
    assert_int_equal(RUN_REDIRECTED(exact, out_path, 0, &err, "translate", "--model", model, "--interactive"), 0);
    out = slurp(out_path, NULL);
    expect_contains(out, "azul> cannot translate this: too long: ");
    free(out);
    free(err);
    assert_int_equal(RUN_REDIRECTED(over, out_path, 0, &err, "translate", "--model", model, "--interactive"), 0);
    out = slurp(out_path, NULL);
    char answer[160];
    snprintf(answer, sizeof answer, "azul> cannot translate this: %s\nazul> ", limit);
    expect_contains(out, answer);
    free(out);
    free(err);
    assert_int_equal(RUN_REDIRECTED(nul, out_path, 0, &err, "translate", "--model", model, "--interactive"), 0);
    out = slurp(out_path, NULL);
    expect_contains(out, "azul> cannot translate this: <stdin>:2: NUL byte at byte 3");
    free(out);
    free(err);

    free(exact);
    free(over);
    free(nul);
    free(out_path);
    free(tokenizer);
    remove_tree(dir);
    free(dir);
}

// Limits (README): a training pair has at most --max-len tokens per side,
// <eos> (or <bos>) included; a longer one is left out and counted in the
// summary.  With whole-word tokens each word is one token: three words and
// <eos> fit --max-len 4, four do not, on either side.
static void a_training_pair_of_exactly_max_len_tokens_is_kept(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    const char train[] = "a b c\tx y z\n"      // 4 and 4: kept
                         "a b c d\tx y\n"      // a source of 5: left out
                         "a b\tw x y z\n"      // a target of 5: left out
                         "c b a\tz y x\n";     // kept
    char *corpus = write_temp_file(dir, "train.tsv", train, sizeof train - 1);
    char *valid = write_temp_file(dir, "valid.tsv", "a b\tx y\n", 8);
    char *out_dir = join(dir, "run"), *out, *err;
    int status = RUN(NULL, &out, &err, "train", "--corpus", corpus, "--valid", valid, "--out", out_dir,
                     "--tokenizer", "word", "--max-len", "4", "--preset", "toy", "--steps", "1");
    if (status != 0) fail_msg("train failed (%d):\n%s\n%s", status, out, err);
    expect_contains(out, "data: 2 training pairs (8 source + 8 target tokens), 1 dev pairs; "
                         "left out 2 pairs longer than 4 tokens\n");
    free(out);
    free(err);
    // --max-len itself: 4,096 at most
    char *big = join(dir, "big");
    status = RUN(NULL, &out, &err, "train", "--corpus", corpus, "--valid", valid, "--out", big,
                 "--tokenizer", "word", "--max-len", "4096", "--preset", "toy", "--steps", "1");
    if (status != 0) fail_msg("train --max-len 4096 failed (%d):\n%s\n%s", status, out, err);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", corpus, "--out", big, "--max-len", "4097"), 2);
    expect_contains(err, "--max-len");
    expect_contains(err, "4096");
    free(out);
    free(err);
    free(big);
    free(corpus);
    free(valid);
    free(out_dir);
    remove_tree(dir);
    free(dir);
}

// A sparse file at dir/model.safetensors: `size` bytes, no disk, whose first
// 8 bytes say the header is header_length bytes long; returns its path.
static char *sparse_model(const char *dir, uint64_t size, uint64_t header_length) {
    char *path = join(dir, "model.safetensors");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    unsigned char length[8];
    for (int i = 0; i < 8; i++) length[i] = (unsigned char)(header_length >> (8 * i));
    assert_int_equal(write(fd, length, 8), 8);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    close(fd);
    return path;
}

// Limits (README): a model file is at most 16 GiB and its JSON header at
// most 100 MiB.  A file of exactly 16 GiB is mapped and read (its header,
// zeros here, is what is refused), one byte more is refused before mapping;
// a header length of exactly 100 MiB is parsed (zeros: not JSON), one byte
// more is refused before parsing.  Each message names the limit.
static void a_model_file_at_its_size_limits(void **state) {
    (void)state;
    const uint64_t file_limit = (uint64_t)16 << 30, header_limit = 100 << 20;
    const struct {
        uint64_t size, header_length;
        const char *message;
    } cases[] = {
        {file_limit, 0, "header length 0 does not fit the file (17179869184 bytes)"},
        {file_limit + 1, 0, "model.safetensors is 17179869185 bytes, larger than the limit of "
                            "17179869184 bytes (16 GiB) for a safetensors file"},
        {header_limit + 16, header_limit, "header is not a JSON object"},
        {header_limit + 16, header_limit + 1, "header length 104857601 is larger than the limit of "
                                              "104857600 bytes (100 MiB)"},
    };
    char *dir = make_temp_dir();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = sparse_model(dir, cases[i].size, cases[i].header_length), *out, *err;
        assert_int_equal(RUN("The cat\n", &out, &err, "translate", "--model", path), 1);
        expect_contains(err, "azul: error: ");
        expect_contains(err, cases[i].message);
        if (i % 2 == 0) assert_null(strstr(err, "limit"));  // exactly at the limit: taken
        free(out);
        free(err);
        free(path);
    }
    remove_tree(dir);
    free(dir);
}

// dir/name: a safetensors file of nothing but a header {"a":[0,0,...]} of
// `values` JSON values (two and the zeros); returns its path.
static char *dense_header_file(const char *dir, const char *name, size_t values) {
    char *path = join(dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t zeros = values - 2, length = strlen("{\"a\":[]}") + 2 * zeros - 1;
    size_t padded = (length + 7) / 8 * 8;
    for (int i = 0; i < 8; i++) fputc((int)((uint64_t)padded >> (8 * i) & 0xFF), f);
    fputs("{\"a\":[0", f);
    for (size_t i = 1; i < zeros; i++) fputs(",0", f);
    fputs("]}", f);
    for (size_t i = length; i < padded; i++) fputc(' ', f);
    assert_int_equal(fclose(f), 0);
    return path;
}

// Issue 11: a header was handed to cJSON whole, and cJSON builds some 80
// bytes a value: 100 MiB of "[0,0,..." made 4 GB before anything was
// checked.  Now a header is counted first: one of exactly
// SAFETENSORS_MAX_HEADER_VALUES values is parsed (and refused for what it
// says), one more is refused unparsed, with the limit named; and reading a
// dense header four times over the limit (8 MiB, 300 MB of nodes before)
// takes barely more memory than its pages.
static void a_model_header_at_its_value_limit(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    for (size_t extra = 0; extra <= 1; extra++) {
        char *path = dense_header_file(dir, "model.safetensors", SAFETENSORS_MAX_HEADER_VALUES + extra);
        SafetensorsFile f;
        Error err;
        assert_int_equal(safetensors_read(&f, path, &err), -1);
        if (extra) {
            expect_contains(err.message, "model.safetensors: header holds more than the limit of 1000000 JSON values");
        } else {
            expect_contains(err.message, "tensor \"a\": missing or unknown dtype");
        }
        free(path);
    }
    char *path = dense_header_file(dir, "dense.safetensors", 4 * 1024 * 1024);
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {  // measured alone: the peak of a fork starts at its parent's size
        struct rusage before, after;
        getrusage(RUSAGE_SELF, &before);
        SafetensorsFile f;
        Error err;
        int status = safetensors_read(&f, path, &err);
        getrusage(RUSAGE_SELF, &after);
        long grown_kib = after.ru_maxrss - before.ru_maxrss;
        ssize_t written = write(pipe_fds[1], &grown_kib, sizeof grown_kib);
        _exit(status == -1 && written == sizeof grown_kib && strstr(err.message, "limit of 1000000") ? 0 : 1);
    }
    close(pipe_fds[1]);
    long grown_kib = -1;
    assert_int_equal(read(pipe_fds[0], &grown_kib, sizeof grown_kib), sizeof grown_kib);
    close(pipe_fds[0]);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("the dense header was not refused at the limit");
    if (grown_kib > 32 * 1024) fail_msg("reading an 8 MiB dense header took %ld KiB more", grown_kib);
    free(path);
    remove_tree(dir);
    free(dir);
}

// Limits (README), the vocabularies: --vocab-size takes at most 1,000,000
// ids (train and tokenize --learn; one more is a usage error); a saved
// tokenizer file is at most 512 MiB (a sparse file of exactly that is read,
// and refused only as not JSON; one byte more is refused unread), and holds
// at most TOKENIZER_MAX_SAVED_TOKENS tokens (taken here at a small limit).
static void the_vocabularies_at_their_limits(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *path = join(dir, "tok.json"), *run = join(dir, "run"), *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus", "data/toy-en-es/train.tsv",
                         "-o", path, "--vocab-size", "1000000"), 0);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out", run,
                         "--vocab-size", "1000000", "--steps", "1", "--valid-sentences", "2"), 0);
    free(out);
    free(err);
    const char *over[][2] = {{"tokenize", "--learn"}, {"train", "--steps"}};
    for (size_t i = 0; i < 2; i++) {
        int status = i == 0 ? RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus", "data/toy-en-es/train.tsv",
                                  "-o", path, "--vocab-size", "1000001")
                            : RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out",
                                  run, "--vocab-size", "1000001");
        if (status != 2) fail_msg("%s %s --vocab-size 1000001: status %d", over[i][0], over[i][1], status);
        expect_contains(err, "--vocab-size expects an integer from 5 to 1000000, got '1000001'");
        free(out);
        free(err);
    }

    // the saved tokens, at a limit of exactly as many as there are, then one fewer
    TokenizerPair pair;
    Error e;
    if (tokenizer_pair_load(&pair, path, &e) < 0) fail_msg("%s", e.message);
    cJSON *json = tokenizer_to_json(&pair.source);
    const int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(json, "tokens"));
    Tokenizer t;
    if (tokenizer_from_json_at_most(&t, json, n, &e) < 0) fail_msg("%s", e.message);
    tokenizer_free(&t);
    assert_int_equal(tokenizer_from_json_at_most(&t, json, n - 1, &e), -1);
    char expected[96];
    snprintf(expected, sizeof expected, "\"tokens\" must be an array of at most %d strings", n - 1);
    expect_contains(e.message, expected);
    cJSON_Delete(json);
    tokenizer_pair_free(&pair);

    // the file
    for (int extra = 0; extra <= 1; extra++) {
        int fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)TOKENIZER_MAX_FILE_BYTES + extra), 0);
        close(fd);
        assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--model", path, "the cat"), 1);
        if (extra) {
            snprintf(expected, sizeof expected, "tok.json is too large (%d bytes; at most %d expected)",
                     TOKENIZER_MAX_FILE_BYTES + 1, TOKENIZER_MAX_FILE_BYTES);
            expect_contains(err, expected);
        } else {
            expect_contains(err, "tok.json is not valid JSON");
        }
        free(out);
        free(err);
    }
    free(path);
    free(run);
    remove_tree(dir);
    free(dir);
}

// Issue 11: a tokenizer file (up to 512 MiB) was handed to cJSON whole; one
// of "[0,0,..." would have made 270 million nodes, over 20 GB.  Now one
// value past TOKENIZER_PAIR_MAX_JSON_VALUES (a 160 MB file) is refused
// unparsed, naming the limit (the limit itself is taken in the core tests,
// through the same json_parse_bounded); a learned file still loads.
static void a_tokenizer_file_past_its_value_limit(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *path = join(dir, "tok.json"), *out, *err;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    enum { BLOCK_ZEROS = 1 << 20 };
    char *block = malloc(2 * BLOCK_ZEROS);
    assert_non_null(block);
    for (size_t i = 0; i < BLOCK_ZEROS; i++) memcpy(block + 2 * i, ",0", 2);
    fputs("[0", f);  // one zero, then limit - 1 more: the limit and the array
    for (size_t left = TOKENIZER_PAIR_MAX_JSON_VALUES - 1; left > 0;) {
        size_t n = left < BLOCK_ZEROS ? left : BLOCK_ZEROS;
        assert_int_equal(fwrite(block, 2, n, f), n);
        left -= n;
    }
    fputs("]", f);
    assert_int_equal(fclose(f), 0);
    free(block);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--model", path, "the cat"), 1);
    char expected[128];
    snprintf(expected, sizeof expected, "tok.json holds more than the limit of %zu JSON values",
             TOKENIZER_PAIR_MAX_JSON_VALUES);
    expect_contains(err, expected);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus", "data/toy-en-es/train.tsv",
                         "-o", path, "--vocab-size", "500"), 0);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--model", path, "the cat"), 0);
    free(out);
    free(err);
    free(path);
    remove_tree(dir);
    free(dir);
}

// ---------------------------------------------------------------- atomic writes

// Issue 11.10: the temporary name was PATH.tmp.PID, opened without O_EXCL or
// O_NOFOLLOW, so a symlink planted there had the write go to its target.
static void atomic_write_never_follows_a_planted_symlink(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *victim = write_temp_file(dir, "victim", "precious", 8);
    char *path = join(dir, "model.bin"), planted[4200];
    snprintf(planted, sizeof planted, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(symlink(victim, planted), 0);
    Error err;
    if (atomic_write_file(path, "new weights", 11, &err) < 0) fail_msg("%s", err.message);
    char *text = slurp(victim, NULL), *written = slurp(path, NULL);
    assert_string_equal(text, "precious");
    assert_string_equal(written, "new weights");
    free(text);
    free(written);
    free(victim);
    free(path);
    remove_tree(dir);
    free(dir);
}

// Issue 11.10: a failed fsync of the directory (the rename is then not
// durable) was ignored.
static void atomic_write_reports_a_failed_directory_sync(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *path = join(dir, "model.bin");
    Error err;
    fail_directory_syncs = 1;
    int status = atomic_write_file(path, "weights", 7, &err);
    fail_directory_syncs = 0;
    assert_int_equal(status, -1);
    expect_contains(err.message, "cannot write ");
    expect_contains(err.message, "model.bin: its directory could not be synced to disk: Input/output error");
    free(path);
    remove_tree(dir);
    free(dir);
}

static bool exists(const char *dir, const char *name) {
    char *path = join(dir, name);
    struct stat st;
    bool there = lstat(path, &st) == 0;
    free(path);
    return there;
}

// Issue 11.10: temporaries left by a writer that was killed stayed forever.
// Now a write removes those of the same file whose writer is gone — regular
// files only, of the naming pattern only.
static void atomic_write_removes_stale_temporaries_of_killed_writers(void **state) {
    (void)state;
    pid_t gone = fork();
    assert_true(gone >= 0);
    if (gone == 0) _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    char *dir = make_temp_dir(), *path = join(dir, "model.bin");
    char stale_old[64], stale_new[64], other_file[64], not_ours[64], planted_link[64], alive[64];
    snprintf(stale_old, sizeof stale_old, "model.bin.tmp.%ld", (long)gone);
    snprintf(stale_new, sizeof stale_new, "model.bin.tmp.%ld.aB3xYz", (long)gone);
    snprintf(other_file, sizeof other_file, "other.bin.tmp.%ld", (long)gone);
    snprintf(not_ours, sizeof not_ours, "model.bin.tmp.%ld.notes", (long)gone);
    snprintf(planted_link, sizeof planted_link, "model.bin.tmp.%ld.Link00", (long)gone);
    snprintf(alive, sizeof alive, "model.bin.tmp.%ld.Alive0", (long)getppid());
    const char *files[] = {stale_old, stale_new, other_file, not_ours, alive};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) free(write_temp_file(dir, files[i], "x", 1));
    char *target = write_temp_file(dir, "target", "keep", 4), *link_path = join(dir, planted_link);
    assert_int_equal(symlink(target, link_path), 0);
    Error err;
    if (atomic_write_file(path, "weights", 7, &err) < 0) fail_msg("%s", err.message);
    assert_false(exists(dir, stale_old));
    assert_false(exists(dir, stale_new));
    assert_true(exists(dir, other_file));
    assert_true(exists(dir, not_ours));
    assert_true(exists(dir, alive));
    assert_true(exists(dir, planted_link));
    assert_true(exists(dir, "target"));
    assert_true(exists(dir, "model.bin"));
    free(target);
    free(link_path);
    free(path);
    remove_tree(dir);
    free(dir);
}

// Issue 11.7: `azul attention -o FILE` truncated FILE and wrote it in place;
// now it is replaced atomically, so a hard link to the old file keeps it.
static void attention_output_replaces_the_file_atomically(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *path = write_temp_file(dir, "maps.csv", "old maps\n", 9), *link_path = join(dir, "old.csv");
    assert_int_equal(link(path, link_path), 0);
    char *out, *err;
    int status = RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--format", "csv",
                     "-o", path, "The ball is blue");
    if (status != 0) fail_msg("attention failed:\n%s", err);
    char *old = slurp(link_path, NULL), *now = slurp(path, NULL);
    assert_string_equal(old, "old maps\n");
    assert_true(strlen(now) > 20);
    free(old);
    free(now);
    free(out);
    free(err);
    free(path);
    free(link_path);
    remove_tree(dir);
    free(dir);
}

// ---------------------------------------------------------------- the training state

// How to damage a training state: a "progress" field set to a JSON value, a
// tensor's first element set, "params" stored as a matrix, or the two
// tokenizers swapped (their sizes then differ from the config's).
static size_t tensor_count(const SafetensorsFile *f) { return (size_t)arrlen(f->tensors); }

typedef struct {
    const char *progress_key, *progress_value;
    const char *tensor;
    float value;
    bool reshape, swap_tokenizers;
    const char *metadata_key, *metadata_text;  // a metadata value replaced whole
} Damage;

// "[0,0,...,0]" with n zeros: n + 1 JSON values (malloc'd).
static char *dense_array(size_t n) {
    char *text = malloc(2 * n + 2);
    assert_non_null(text);
    memcpy(text, "[0", 2);
    for (size_t i = 1; i < n; i++) memcpy(text + 2 * i, ",0", 2);
    memcpy(text + 2 * n, "]", 2);
    return text;
}

static void damage_state(const char *path, Damage d) {
    SafetensorsFile f;
    Error err;
    if (safetensors_read(&f, path, &err) < 0) fail_msg("%s", err.message);
    SafetensorsOutput tensors[3];
    float *copies[3];
    size_t n = tensor_count(&f);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        const SafetensorsTensor *t = &f.tensors[i];
        copies[i] = malloc(t->bytes);
        memcpy(copies[i], t->data, t->bytes);
        tensors[i] = (SafetensorsOutput){t->name, t->dtype, t->rank, {t->shape[0]}, copies[i], t->bytes};
        if (d.tensor && strcmp(t->name, d.tensor) == 0) copies[i][0] = d.value;
        if (d.reshape && strcmp(t->name, "params") == 0) {
            tensors[i].rank = 2;
            tensors[i].shape[0] = 2;
            tensors[i].shape[1] = t->shape[0] / 2;
        }
    }
    const char *keys[8], *values[8];
    char *texts[8] = {0};
    size_t m = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, f.metadata) {
        keys[m] = item->string;
        values[m] = item->valuestring;
        cJSON *j = cJSON_Parse(item->valuestring);
        if (d.progress_key && strcmp(item->string, "progress") == 0) {
            cJSON_ReplaceItemInObject(j, d.progress_key, cJSON_Parse(d.progress_value));
            values[m] = texts[m] = cJSON_PrintUnformatted(j);
        }
        if (d.swap_tokenizers && strcmp(item->string, "tokenizers") == 0) {
            cJSON *source = cJSON_DetachItemFromObject(j, "source");
            cJSON *target = cJSON_DetachItemFromObject(j, "target");
            cJSON_AddItemToObject(j, "source", target);
            cJSON_AddItemToObject(j, "target", source);
            values[m] = texts[m] = cJSON_PrintUnformatted(j);
        }
        if (d.metadata_key && strcmp(item->string, d.metadata_key) == 0) values[m] = d.metadata_text;
        cJSON_Delete(j);
        m++;
    }
    if (safetensors_write(path, tensors, n, keys, values, m, &err) < 0) fail_msg("%s", err.message);
    for (size_t i = 0; i < m; i++) cJSON_free(texts[i]);
    for (size_t i = 0; i < n; i++) free(copies[i]);
    safetensors_free(&f);
}

static const char *const run_files[] = {"model.safetensors", "last.safetensors",
                                        "training_state.safetensors", "train.log"};
enum { RUN_FILES = sizeof run_files / sizeof run_files[0] };

// Issue 11.8: resuming trusted the state file: counts past the range of
// their type were cast anyway (undefined), fractions were cut, the tensors'
// shape and the second moment's sign were not checked.  (NaN weights and
// tokenizers that do not fit the config were refused already.)  Each damage
// must now be refused with a clear error, leaving every file as it was.
static void resume_refuses_a_damaged_state_and_keeps_the_files(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    train_toy(dir, "3", 0);
    char *state_path = join(dir, "training_state.safetensors");
    size_t length;
    char *good = slurp(state_path, &length);
    // "[0,0,...]": 10,001 values, one past JSON_MAX_SETTINGS_VALUES, and
    // 1,000,001, past what any toy vocabulary's tokenizers can need
    char *dense_10k = dense_array(10000), *dense_1m = dense_array(1000000);
    const struct {
        Damage damage;
        const char *message;
    } cases[] = {
        {{.progress_key = "evaluations_without_improvement", .progress_value = "3e9"}, "\"progress\" is damaged"},
        {{.progress_key = "step", .progress_value = "2.5"}, "\"progress\" is damaged"},
        {{.progress_key = "epoch", .progress_value = "1e300"}, "\"progress\" is damaged"},
        {{.progress_key = "best_step", .progress_value = "1e19"}, "\"progress\" is damaged"},
        {{.progress_key = "elapsed", .progress_value = "-1"}, "\"progress\" is damaged"},
        {{.tensor = "adam_v", .value = -1.0f}, "tensor \"adam_v\" holds a negative value at 0"},
        {{.reshape = true}, "tensor \"params\" is missing or not of the model's shape"},
        {{.tensor = "adam_m", .value = NAN}, "tensor \"adam_m\" holds a NaN or infinite value"},
        {{.tensor = "params", .value = INFINITY}, "tensor \"params\" holds a NaN or infinite value"},
        {{.swap_tokenizers = true}, "vocabulary sizes"},
        {{.metadata_key = "progress", .metadata_text = dense_10k},
         "metadata \"progress\" holds more than the limit of 10000 JSON values"},
        {{.metadata_key = "options", .metadata_text = dense_10k},
         "metadata \"options\" holds more than the limit of 10000 JSON values"},
        {{.metadata_key = "config", .metadata_text = dense_10k},
         "metadata \"config\" holds more than the limit of 10000 JSON values"},
        {{.metadata_key = "tokenizers", .metadata_text = dense_1m},
         "metadata \"tokenizers\" holds more than the limit of"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        FILE *f = fopen(state_path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(good, 1, length, f), length);
        fclose(f);
        damage_state(state_path, cases[c].damage);
        char *before[RUN_FILES], *after, *out, *err;
        for (int i = 0; i < RUN_FILES; i++) {
            char *path = join(dir, run_files[i]);
            before[i] = slurp(path, NULL);
            assert_non_null(before[i]);
            free(path);
        }
        int status = RUN(NULL, &out, &err, "train", "--out", dir, "--steps", "6", "--resume");
        if (status != 1) fail_msg("case %zu: resumed (%d):\n%s\n%s", c, status, out, err);
        expect_contains(err, "azul: error: ");
        expect_contains(err, "training_state.safetensors: ");
        expect_contains(err, cases[c].message);
        for (int i = 0; i < RUN_FILES; i++) {
            char *path = join(dir, run_files[i]);
            after = slurp(path, NULL);
            if (strcmp(after, before[i]) != 0) fail_msg("case %zu changed %s", c, run_files[i]);
            free(after);
            free(before[i]);
            free(path);
        }
        free(out);
        free(err);
    }
    // a file cut short is refused too
    assert_int_equal(truncate(state_path, (off_t)(length / 2)), 0);
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--out", dir, "--steps", "6", "--resume"), 1);
    expect_contains(err, "training_state.safetensors");
    free(out);
    free(err);
    free(good);
    free(dense_10k);
    free(dense_1m);
    free(state_path);
    remove_tree(dir);
    free(dir);
}

// Issue 11.8: seeds above 2^53 must survive a resume.  The options already
// store the seed as a string of digits (not a defect); this proves it end to
// end.
static void resume_keeps_a_seed_above_two_to_the_53(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out, *err;
    const char *seed = "18446744073709551557";  // the largest 64-bit prime
    int status = RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out", dir,
                     "--steps", "2", "--batch-tokens", "256", "--valid-every", "2",
                     "--valid-sentences", "2", "--seed", seed);
    if (status != 0) fail_msg("train failed:\n%s", err);
    free(out);
    free(err);
    char *state_path = join(dir, "training_state.safetensors");
    SafetensorsFile f;
    Error e;
    if (safetensors_read(&f, state_path, &e) < 0) fail_msg("%s", e.message);
    cJSON *options = cJSON_Parse(safetensors_metadata(&f, "options"));
    const cJSON *saved = cJSON_GetObjectItemCaseSensitive(options, "seed");
    assert_true(cJSON_IsString(saved));
    assert_string_equal(saved->valuestring, seed);
    cJSON_Delete(options);
    safetensors_free(&f);
    // given again on resuming, it is the run's own: no warning that it differs
    status = RUN(NULL, &out, &err, "train", "--out", dir, "--steps", "3", "--resume", "--seed", seed);
    if (status != 0) fail_msg("resume failed:\n%s", err);
    assert_null(strstr(err, "seed"));
    free(out);
    free(err);
    free(state_path);
    remove_tree(dir);
    free(dir);
}

// ---------------------------------------------------------------- the BPE encoder

// Issue 11.11: BPE encoding merged one rank per pass over the whole piece,
// so a piece needing one merge after another cost (length × merges): with a
// vocabulary built as a chain, "xy" + "a" × N merges from the front, one
// pair per pass.  The encoder must stay far from quadratic in such a piece.
static void bpe_encoding_is_not_quadratic_in_a_long_piece(void **state) {
    (void)state;
    enum { N = 100000 };
    Tokenizer t;
    Error err;
    assert_int_equal(tokenizer_init_specials(&t, TOKENIZER_BPE, (NormalizeOptions){0}, &err), 0);
    int32_t x = tokenizer_add_token(&t, "x", 1, -1, -1, &err);
    int32_t y = tokenizer_add_token(&t, "y", 1, -1, -1, &err);
    int32_t a = tokenizer_add_token(&t, "a", 1, -1, -1, &err);
    int32_t left = x, right = y;
    for (int k = 0; k <= N; k++) {
        char name[32];
        int length = snprintf(name, sizeof name, "<chain %d>", k);
        int32_t result = tokenizer_add_token(&t, name, (size_t)length, left, right, &err);
        assert_true(result >= 0);
        BpeMerge merge = {left, right, result};
        arrput(t.merges, merge);
        hmput(t.merge_rank, bpe_pair_key(left, right), k);
        left = result;
        right = a;
    }
    char *piece = malloc(N + 3);
    assert_non_null(piece);
    piece[0] = 'x';
    piece[1] = 'y';
    memset(piece + 2, 'a', N);
    int32_t *ids = NULL;
    clock_t start = clock();
    bpe_encode_piece(&t, piece, N + 2, &ids);
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    assert_int_equal(arrlen(ids), 1);  // the whole chain, merged from the front
    assert_int_equal(ids[0], left);
    if (seconds > 1.0) fail_msg("encoding a %d-character piece took %.1f s", N + 2, seconds);
    arrfree(ids);
    free(piece);
    tokenizer_free(&t);
}

// ---------------------------------------------------------------- a full disk

// Fault injection: the disk fills (RLIMIT_FSIZE) while a resumed run saves
// its models and checkpoint.  The run must stop with a clear error, leave
// the previous checkpoint whole and loadable, and leave no temporary behind.
static void a_full_disk_during_a_save_keeps_the_previous_checkpoint(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    train_toy(dir, "3", 0);
    char *before[RUN_FILES];
    for (int i = 0; i < RUN_FILES - 1; i++) {  // train.log grows: its old lines are checked below
        char *path = join(dir, run_files[i]);
        before[i] = slurp(path, NULL);
        free(path);
    }
    char *out_path = join(dir, "stdout.txt"), *err;
    int status = RUN_REDIRECTED(NULL, out_path, 200000, &err, "train", "--out", dir, "--steps", "6",
                                "--resume");
    assert_int_equal(status, 1);
    expect_contains(err, "azul: error: cannot write ");
    expect_contains(err, ".safetensors: File too large");
    free(err);
    for (int i = 0; i < RUN_FILES - 1; i++) {
        char *path = join(dir, run_files[i]), *after = slurp(path, NULL);
        if (strcmp(after, before[i]) != 0) fail_msg("%s changed", run_files[i]);
        free(after);
        free(before[i]);
        free(path);
    }
    DIR *listing = opendir(dir);
    assert_non_null(listing);
    for (struct dirent *e; (e = readdir(listing)) != NULL;) {
        if (strstr(e->d_name, ".tmp.")) fail_msg("a temporary file was left: %s", e->d_name);
    }
    closedir(listing);
    // the checkpoint goes on, and the model translates
    train_toy(dir, "6", 1);
    char *out;
    // six steps teach little: the translation may be empty, but it is a line
    assert_int_equal(RUN("The ball is blue\n", &out, &err, "translate", "--model", dir), 0);
    assert_true(strlen(out) >= 1 && out[strlen(out) - 1] == '\n');
    free(out);
    free(err);
    free(out_path);
    remove_tree(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(resume_keeps_a_last_log_line_without_its_newline),
    cmocka_unit_test(resume_replaces_train_log_without_truncating_it),
    cmocka_unit_test(line_reader_refuses_a_line_with_a_nul_byte),
    cmocka_unit_test(translate_reports_a_directory_as_a_read_error),
    cmocka_unit_test(tokenize_and_bleu_report_a_full_standard_output),
    cmocka_unit_test(tokenize_and_bleu_refuse_over_long_and_nul_lines),
    cmocka_unit_test(every_line_reader_takes_exactly_its_limit),
    cmocka_unit_test(a_training_pair_of_exactly_max_len_tokens_is_kept),
    cmocka_unit_test(a_model_file_at_its_size_limits),
    cmocka_unit_test(a_model_header_at_its_value_limit),
    cmocka_unit_test(a_tokenizer_file_past_its_value_limit),
    cmocka_unit_test(the_vocabularies_at_their_limits),
    cmocka_unit_test(atomic_write_never_follows_a_planted_symlink),
    cmocka_unit_test(atomic_write_reports_a_failed_directory_sync),
    cmocka_unit_test(atomic_write_removes_stale_temporaries_of_killed_writers),
    cmocka_unit_test(attention_output_replaces_the_file_atomically),
    cmocka_unit_test(resume_refuses_a_damaged_state_and_keeps_the_files),
    cmocka_unit_test(resume_keeps_a_seed_above_two_to_the_53),
    cmocka_unit_test(bpe_encoding_is_not_quadratic_in_a_long_piece),
    cmocka_unit_test(a_full_disk_during_a_save_keeps_the_previous_checkpoint),
};

TEST_GROUP(hostile_file_tests, tests);
