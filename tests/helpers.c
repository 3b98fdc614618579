// Helpers shared by the tests: running bin/azul, temporary files.
#define _XOPEN_SOURCE 700  // nftw
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tests/failing_alloc.h"
#include "tests/test.h"


const char *shared_corpora_dir(void) {
    const char *dir = getenv("AZUL_CORPORA");
    if (!dir) dir = "../shared/corpora";
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/spa-eng/train.tsv", dir);
    if (access(probe, R_OK) != 0) return NULL;
    return dir;
}

typedef struct {
    char *data;
    size_t length, capacity;
} Buffer;

static void buffer_read(Buffer *b, int fd, int *open_flag) {
    if (b->length + 4096 + 1 > b->capacity) {
        b->capacity = (b->capacity + 4096) * 2;
        b->data = realloc(b->data, b->capacity);
        assert_non_null(b->data);
    }
    ssize_t n = read(fd, b->data + b->length, b->capacity - b->length - 1);
    if (n <= 0) *open_flag = 0;
    else b->length += (size_t)n;
    b->data[b->length] = '\0';
}

int run_program(const char *program, const char *const *args, const char *stdin_text, char **out,
                char **err) {
    signal(SIGPIPE, SIG_IGN);  // the program may exit before reading all of stdin
    int in_pipe[2], out_pipe[2], err_pipe[2];
    assert_int_equal(pipe(in_pipe), 0);
    assert_int_equal(pipe(out_pipe), 0);
    assert_int_equal(pipe(err_pipe), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        close(in_pipe[1]); close(out_pipe[0]); close(err_pipe[0]);
        const char *argv[64];
        size_t n = 0;
        argv[n++] = program;
        for (; args[n - 1] && n < 63; n++) argv[n] = args[n - 1];
        argv[n] = NULL;
        execvp(program, (char *const *)argv);
        _exit(127);
    }
    close(in_pipe[0]); close(out_pipe[1]); close(err_pipe[1]);
    // Feed stdin from here; the texts are small enough for the pipe buffer
    // only sometimes, so write with the reads interleaved.
    const char *to_write = stdin_text ? stdin_text : "";
    size_t remaining = strlen(to_write);
    if (remaining == 0) close(in_pipe[1]);
    Buffer o = {0}, e = {0};
    int out_open = 1, err_open = 1, in_open = remaining > 0;
    while (out_open || err_open) {
        struct pollfd fds[3] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0},
                                {in_pipe[1], POLLOUT, 0}};
        poll(fds, in_open ? 3 : 2, -1);
        if (fds[0].revents) buffer_read(&o, out_pipe[0], &out_open);
        if (fds[1].revents) buffer_read(&e, err_pipe[0], &err_open);
        if (in_open && fds[2].revents) {
            ssize_t n = write(in_pipe[1], to_write, remaining > 65536 ? 65536 : remaining);
            if (n > 0) { to_write += n; remaining -= (size_t)n; }
            if (n <= 0 || remaining == 0) { close(in_pipe[1]); in_open = 0; }
        }
    }
    if (in_open) close(in_pipe[1]);
    close(out_pipe[0]); close(err_pipe[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!o.data) o.data = calloc(1, 1);
    if (!e.data) e.data = calloc(1, 1);
    if (out) *out = o.data; else free(o.data);
    if (err) *err = e.data; else free(e.data);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

size_t tests_skipped_without_the_program;

void skip_unless_the_program_runs(void) {
    const char *without = getenv("AZUL_TEST_WITHOUT_PROGRAM");
    if (!without || !*without || strcmp(without, "0") == 0) return;
    tests_skipped_without_the_program++;
    skip();
}

int run_azul(const char *const *args, const char *stdin_text, char **out, char **err) {
    skip_unless_the_program_runs();
    return run_program(AZUL_BIN, args, stdin_text, out, err);
}

// The losses logged in DIR/train.log, by step (index 0 unused).
double *logged_losses(const char *dir, int steps) {
    char *path = join(dir, "train.log");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    double *loss = calloc((size_t)steps + 1, sizeof *loss);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *event = cJSON_GetObjectItem(j, "event"), *step = cJSON_GetObjectItem(j, "step");
        if (cJSON_IsString(event) && strcmp(event->valuestring, "train") == 0 && step->valueint <= steps) {
            loss[step->valueint] = cJSON_GetObjectItem(j, "loss")->valuedouble;
        }
        cJSON_Delete(j);
    }
    fclose(f);
    free(path);
    return loss;
}

void expect_contains(const char *text, const char *needle) {
    if (!strstr(text, needle)) fail_msg("expected to find \"%s\" in:\n%s", needle, text);
}

static char *shared_toy_dir;

static void remove_shared_toy_model(void) {
    if (shared_toy_dir) remove_tree(shared_toy_dir);
    free(shared_toy_dir);
}

const char *toy_model_dir(void) {
    skip_unless_the_program_runs();  // (before the directory is made: it would hold no model)
    if (shared_toy_dir) return shared_toy_dir;
    shared_toy_dir = make_temp_dir();
    atexit(remove_shared_toy_model);
    char *out, *err;
    int status = RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--valid",
                     "data/toy-en-es/dev.tsv", "--out", shared_toy_dir, "--epochs", "100",
                     "--batch-tokens", "1024", "--lr", "2e-3", "--warmup", "100", "--valid-every", "300");
    if (status != 0) fail_msg("training the toy model failed:\n%s\n%s", out, err);
    free(out);
    free(err);
    return shared_toy_dir;
}

char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *slurp(const char *path, size_t *length) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t capacity = 1 << 16, n = 0;
    char *text = malloc(capacity);
    assert_non_null(text);
    for (size_t got; (got = fread(text + n, 1, capacity - n - 1, f)) > 0;) {
        n += got;
        if (n + 1 == capacity) {
            text = realloc(text, capacity *= 2);
            assert_non_null(text);
        }
    }
    fclose(f);
    text[n] = '\0';
    if (length) *length = n;
    return text;
}

char *make_temp_dir(void) {
    char *dir = strdup("/tmp/azul-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

void remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

char *write_temp_file(const char *dir, const char *name, const char *text, size_t length) {
    size_t size = strlen(dir) + strlen(name) + 2;
    char *path = malloc(size);
    snprintf(path, size, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, length, f), length);
    fclose(f);
    return path;
}

long expect_json_whole_or_none(cJSON *(*build)(const void *context), const void *context) {
    cJSON *json = build(context);
    char *whole = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    assert_non_null(whole);
    cJSON_InitHooks(&(cJSON_Hooks){malloc, free});  // the test's malloc is the failing one
    long n = 0;
    for (bool failed = true; failed; n++) {
        fail_allocation_after(n);
        json = build(context);
        failed = allocation_failed();
        if (failed && json) fail_msg("allocation %ld failed, yet a tree came back", n);
        if (!failed) {
            char *text = cJSON_PrintUnformatted(json);
            assert_string_equal(text, whole);
            cJSON_free(text);
        }
        cJSON_Delete(json);
    }
    cJSON_InitHooks(NULL);
    cJSON_free(whole);
    return n;
}

pid_t spawn_program_redirected(const char *program, const char *const *args, const char *stdin_path,
                              const char *stdout_path, const char *stderr_path, long fsize_limit) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        int out = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = strcmp(stderr_path, stdout_path) == 0 ? out : open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0) _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        if (fsize_limit > 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit limit = {(rlim_t)fsize_limit, (rlim_t)fsize_limit};
            if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(126);
        }
        const char *argv[64] = {program};
        for (size_t i = 0; args[i] && i < 62; i++) argv[i + 1] = args[i];
        execvp(program, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

pid_t spawn_azul_redirected(const char *const *args, const char *stdin_path, const char *stdout_path,
                            const char *stderr_path, long fsize_limit) {
    skip_unless_the_program_runs();
    return spawn_program_redirected(AZUL_BIN, args, stdin_path, stdout_path, stderr_path, fsize_limit);
}

const char *find_chromium(void) {
    const char *candidates[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (access(candidates[i], X_OK) == 0) return candidates[i];
    }
    return NULL;
}
