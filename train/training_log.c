#include "train/training_log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <stb/stb_ds.h>

#include "core/clock.h"
#include "core/atomic_file.h"
#include "core/json_tree.h"
#include "train/curves.h"

static void format_duration(double seconds, char *out, size_t size) {
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(out, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60) snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
    else snprintf(out, size, "%lds", s);
}

// Collects the curve points of an earlier session's log and returns the
// lines to keep (malloc'd), or NULL with err set when the log is there but
// cannot be read: a resumed run must not lose its history.
static char *keep_earlier_lines(TrainingLog *log, const char *path, long resume_step, Error *err) {
    struct stat st;
    if (resume_step == 0 || (stat(path, &st) < 0 && errno == ENOENT)) {
        char *nothing = calloc(1, 1);  // a fresh run, or a log that is gone
        if (!nothing) error_out_of_memory(err, "opening the training log", 1);
        return nothing;
    }
    size_t length;
    char *text = read_whole_file(path, (size_t)1 << 30, &length, err);
    if (!text) return NULL;
    // Each kept line gets its newline back, and the last one may have lost
    // it (a write cut short): one byte more than the file, and the NUL.
    char *kept = calloc(1, length + 2);
    if (!kept) {
        free(text);
        error_out_of_memory(err, "reading the training log", length + 2);
        return NULL;
    }
    size_t used = 0;
    char *place = NULL;
    for (char *line = strtok_r(text, "\n", &place); line; line = strtok_r(NULL, "\n", &place)) {
        // a line too large to be one of ours is dropped like a damaged one
        cJSON *j = json_parse_bounded(line, strlen(line), JSON_MAX_SETTINGS_VALUES, "a line", NULL);
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
        if (cJSON_IsNumber(step) && step->valuedouble <= resume_step) {
            training_curves_add(&log->curves, j, (double)resume_step);
            used += (size_t)sprintf(kept + used, "%s\n", line);
        }
        cJSON_Delete(j);
    }
    free(text);
    return kept;
}

int training_log_open(TrainingLog *log, const char *path, const TrainerOptions *options,
                      long resume_step, Error *err) {
    memset(log, 0, sizeof *log);
    log->options = options;
    size_t n = strlen(path) + 16;
    log->path = strdup(path);
    log->curves_path = malloc(n);
    if (!log->path || !log->curves_path) {
        training_log_close(log, NULL);
        return error_out_of_memory(err, "opening the training log", n);
    }
    const char *slash = strrchr(path, '/');  // curves.svg goes beside the log
    if (slash) snprintf(log->curves_path, n, "%.*s/curves.svg", (int)(slash - path), path);
    else snprintf(log->curves_path, n, "curves.svg");
    char *kept = keep_earlier_lines(log, path, resume_step, err);
    if (!kept) {
        training_log_close(log, NULL);
        return -1;
    }
    // The kept lines replace the old log atomically, so that a crash or a
    // full disk now leaves the whole old log; the run then only appends.
    int written = atomic_write_file(path, kept, strlen(kept), err);
    free(kept);
    if (written < 0) {
        training_log_close(log, NULL);
        return -1;
    }
    log->file = fopen(path, "a");
    if (!log->file) {
        int e = errno;
        training_log_close(log, NULL);
        return error_set(err, "cannot write %s: %s", path, ERRNO_TEXT(e));
    }
    log->window_start = monotonic_seconds();
    return 0;
}

// Appends one line to the log and pushes it to the file (with sync, on to
// the disk).  A line that cannot be written is an error, not a history that
// silently stops: a resumed run keeps the log, and the curves are drawn
// from it.
static int append_line(TrainingLog *log, bool sync, Error *err, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
static int append_line(TrainingLog *log, bool sync, Error *err, const char *format, ...) {
    va_list args;
    va_start(args, format);
    errno = 0;
    // errno is the failed call's: the calls after it are not made
    bool failed = vfprintf(log->file, format, args) < 0 || fflush(log->file) != 0 ||
                  (sync && fsync(fileno(log->file)) != 0);
    int e = errno;
    va_end(args);
    if (!failed) return 0;
    return error_set(err, "cannot write %s: %s", log->path, ERRNO_TEXT(e ? e : EIO));
}

static void end_progress_line(TrainingLog *log) {
    if (log->line_open) fputc('\n', stderr);
    log->line_open = false;
}

int training_log_step(TrainingLog *log, const TrainingProgress *p, double loss, int tokens,
                      float lr, long batches_in_epoch, Error *err) {
    log->window_loss += loss * tokens;
    log->window_tokens += tokens;
    log->window_steps++;
    const TrainerOptions *o = log->options;
    double t = monotonic_seconds();
    bool report = o->log_every > 0 && p->step % o->log_every == 0;
    bool redraw = o->progress_bar && t - log->last_draw > 0.1;
    if (!report && !redraw) return 0;

    double mean = log->window_loss / fmax(log->window_tokens, 1);
    double speed = log->window_tokens / fmax(t - log->window_start, 1e-9);
    // ETA from whichever limit is nearest.
    double eta = -1;
    if (o->max_steps > 0 && speed > 0) eta = (double)(o->max_steps - p->step) * (t - log->window_start) / (double)log->window_steps;
    if (o->time_budget > 0) {
        double left = o->time_budget - o->budget_spent - o->end_reserve - p->elapsed;
        if (eta < 0 || left < eta) eta = left;
    }
    if (o->max_epochs > 0 && eta < 0 && log->window_steps > 0) {
        double batches_left = (double)(o->max_epochs - p->epoch) * (double)batches_in_epoch - (double)p->batch - 1;
        eta = batches_left * (t - log->window_start) / (double)log->window_steps;
    }
    char eta_text[32] = "?";
    if (eta >= 0) format_duration(eta, eta_text, sizeof eta_text);

    if (redraw) {
        fprintf(stderr, "\r\033[Kepoch %ld | step %ld | batch %ld/%ld | loss %.3f | ppl %.1f | lr %.2e | %.0f tok/s | ETA %s",
                p->epoch + 1, p->step, p->batch + 1, batches_in_epoch, mean, exp(mean), lr, speed, eta_text);
        log->line_open = true;
        log->last_draw = t;
    }
    if (report) {
        if (!o->progress_bar) {
            printf("step %ld  epoch %ld  loss %.4f  ppl %.2f  lr %.3e  %.0f tok/s  ETA %s\n", p->step,
                   p->epoch + 1, mean, exp(mean), lr, speed, eta_text);
            fflush(stdout);
        }
        if (append_line(log, false, err,
                        "{\"event\": \"train\", \"step\": %ld, \"epoch\": %ld, \"loss\": %.6f, "
                        "\"ppl\": %.4f, \"lr\": %.6e, \"tokens_per_second\": %.1f, \"elapsed\": %.2f}\n",
                        p->step, p->epoch + 1, mean, exp(mean), lr, speed, p->elapsed) < 0) {
            return -1;
        }
        arrput(log->curves.train_loss, ((CurvePoint){(double)p->step, mean}));
        log->window_loss = log->window_tokens = 0;
        log->window_steps = 0;
        log->window_start = t;
    }
    return 0;
}

int training_log_validation(TrainingLog *log, const TrainingProgress *p, const Validation *v,
                            bool improved, Error *err) {
    end_progress_line(log);
    printf("validation at step %ld: dev loss %.4f (ppl %.2f); %d translated: BLEU %.2f, chrF2 %.2f, "
           "exact match %.1f%%%s\n", p->step, v->loss, exp(v->loss), v->translated, v->bleu, v->chrf,
           100.0 * v->exact_match, improved ? "  — best so far, saved" : "");
    fflush(stdout);
    // A checkpoint follows each validation: the log is synced, so that it is
    // on disk at least as far as the state a resumed run starts from.
    if (append_line(log, true, err,
                    "{\"event\": \"valid\", \"step\": %ld, \"epoch\": %ld, \"valid_loss\": %.6f, "
                    "\"valid_ppl\": %.4f, \"bleu\": %.4f, \"chrf\": %.4f, \"exact_match\": %.6f, "
                    "\"translated\": %d, \"best\": %s, \"elapsed\": %.2f}\n",
                    p->step, p->epoch + 1, v->loss, exp(v->loss), v->bleu, v->chrf, v->exact_match,
                    v->translated, improved ? "true" : "false", p->elapsed) < 0) {
        return -1;
    }
    arrput(log->curves.valid_loss, ((CurvePoint){(double)p->step, v->loss}));
    arrput(log->curves.exact_match, ((CurvePoint){(double)p->step, 100 * v->exact_match}));
    arrput(log->curves.bleu, ((CurvePoint){(double)p->step, v->bleu}));
    const CurveSeries series[] = {
        {"training loss", "#1f77b4", log->curves.train_loss, (size_t)arrlen(log->curves.train_loss), false},
        {"dev loss", "#d62728", log->curves.valid_loss, (size_t)arrlen(log->curves.valid_loss), false},
        {"dev BLEU", "#2ca02c", log->curves.bleu, (size_t)arrlen(log->curves.bleu), true},
        {"dev exact match %", "#9467bd", log->curves.exact_match, (size_t)arrlen(log->curves.exact_match), true},
    };
    Error ignored;  // a picture that cannot be drawn is no reason to stop training
    curves_write_svg(log->curves_path, "azul training: loss (left), dev BLEU and exact match (right)",
                     series, sizeof series / sizeof series[0], &ignored);
    return 0;
}

int training_log_average(TrainingLog *log, const TrainingProgress *p, const Validation *v, int count,
                         long first_step, bool improved, Error *err) {
    end_progress_line(log);
    printf("the mean of the %d checkpoints from step %ld to %ld: dev loss %.4f (ppl %.2f); BLEU %.2f, "
           "chrF2 %.2f, exact match %.1f%%%s\n", count, first_step, p->step, v->loss, exp(v->loss), v->bleu,
           v->chrf, 100.0 * v->exact_match, improved ? "  — best, saved" : "  — not better than the best");
    fflush(stdout);
    return append_line(log, true, err,
                       "{\"event\": \"average\", \"step\": %ld, \"checkpoints\": %d, \"first_step\": %ld, "
                       "\"valid_loss\": %.6f, \"valid_ppl\": %.4f, \"bleu\": %.4f, \"chrf\": %.4f, "
                       "\"exact_match\": %.6f, \"translated\": %d, \"best\": %s}\n",
                       p->step, count, first_step, v->loss, exp(v->loss), v->bleu, v->chrf, v->exact_match,
                       v->translated, improved ? "true" : "false");
}

void training_log_say(TrainingLog *log, const char *text) {
    end_progress_line(log);
    printf("%s\n", text);
    fflush(stdout);
}

int training_log_note(TrainingLog *log, const TrainingProgress *p, const char *about, const char *text,
                      Error *err) {
    training_log_say(log, text);
    cJSON *line = cJSON_CreateObject();
    char *json = NULL;
    if (line && cJSON_AddStringToObject(line, "event", "note") &&
        cJSON_AddNumberToObject(line, "step", (double)p->step) && cJSON_AddStringToObject(line, "about", about) &&
        cJSON_AddStringToObject(line, "text", text)) {
        json = cJSON_PrintUnformatted(line);
    }
    cJSON_Delete(line);
    if (!json) return error_out_of_memory(err, "a line of the training log", strlen(text));
    int status = append_line(log, true, err, "%s\n", json);
    cJSON_free(json);
    return status;
}

int training_log_length_penalty(TrainingLog *log, const TrainingProgress *p, const float *alphas,
                                const BleuScore *scores, int n, int chosen, size_t pairs, int beam, Error *err) {
    end_progress_line(log);
    printf("length penalty, by the best model's beam-%d BLEU on %zu dev pairs:\n", beam, pairs);
    char entries[1024];
    size_t used = 0;
    for (int a = 0; a < n; a++) {
        printf("  %-4g BLEU %6.2f  brevity penalty %.3f%s\n", (double)alphas[a], scores[a].score, scores[a].bp,
               a == chosen ? "  — chosen, saved in model.safetensors" : "");
        if (used < sizeof entries) {
            used += (size_t)snprintf(entries + used, sizeof entries - used,
                                     "%s{\"alpha\": %g, \"bleu\": %.4f, \"bp\": %.4f}", a ? ", " : "",
                                     (double)alphas[a], scores[a].score, scores[a].bp);
        }
    }
    fflush(stdout);
    if (used >= sizeof entries) return error_set(err, "too many length penalties to log");
    return append_line(log, true, err, "{\"event\": \"length_penalty\", \"step\": %ld, \"beam\": %d, "
                                       "\"pairs\": %zu, \"chosen\": %g, \"tried\": [%s]}\n",
                       p->step, beam, pairs, (double)alphas[chosen], entries);
}

void training_log_finish(TrainingLog *log, const TrainingProgress *p, const char *stop_reason) {
    end_progress_line(log);
    if (stop_reason) {
        char took[32];
        format_duration(p->elapsed, took, sizeof took);
        // Between epochs (batch 0), the last one finished is p->epoch, not the next.
        long epoch = p->batch == 0 && p->epoch > 0 ? p->epoch : p->epoch + 1;
        printf("stopped at step %ld (epoch %ld) after %s: %s\n", p->step, epoch, took, stop_reason);
    }
}

void training_log_summary(TrainingLog *log, const TrainingProgress *p, const char *out_dir,
                          double peak_mib) {
    (void)log;
    printf("best dev loss %.4f (ppl %.2f) at step %ld; %.0f target tokens/s on average; peak memory %.0f MiB\n",
           p->best, exp(p->best), p->best_step, p->tokens / fmax(p->elapsed, 1e-9), peak_mib);
    printf("model: %s/model.safetensors (best), %s/last.safetensors; log: %s/train.log, %s/curves.svg\n",
           out_dir, out_dir, out_dir, out_dir);
}

int training_log_world(TrainingLog *log, const TrainingProgress *p, double session_seconds, long session_steps,
                       int ranks, int threads, double sum_seconds, Error *err) {
    if (session_steps <= 0) return 0;
    const double step_ms = 1e3 * session_seconds / (double)session_steps;
    const double sum_ms = 1e3 * sum_seconds / (double)session_steps;
    const double per_rank = p->tokens / fmax(p->elapsed, 1e-9) / ranks;
    if (ranks > 1) {
        printf("%d ranks x %d thread%s: %.0f target tokens/s per rank; the gradients' all-reduce took %.2f ms a "
               "step (%.1f%% of the step's %.1f ms)\n", ranks, threads, threads == 1 ? "" : "s", per_rank, sum_ms,
               100.0 * sum_ms / fmax(step_ms, 1e-9), step_ms);
        fflush(stdout);
    }
    return append_line(log, true, err,
                       "{\"event\": \"world\", \"step\": %ld, \"ranks\": %d, \"threads\": %d, "
                       "\"tokens_per_s_per_rank\": %.1f, \"allreduce_ms_per_step\": %.4f, \"step_ms\": %.4f}\n",
                       p->step, ranks, threads, per_rank, sum_ms, step_ms);
}

int training_log_close(TrainingLog *log, Error *err) {
    int status = 0;
    if (log->file) {
        int e = 0;
        if (fflush(log->file) != 0 || fsync(fileno(log->file)) != 0) e = errno;
        if (fclose(log->file) != 0 && !e) e = errno;
        if (e) status = error_set(err, "cannot write %s: %s", log->path, ERRNO_TEXT(e));
    }
    free(log->path);
    free(log->curves_path);
    training_curves_free(&log->curves);
    memset(log, 0, sizeof *log);
    return status;
}
