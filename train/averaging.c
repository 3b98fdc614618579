#include "train/averaging.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/average.h"
#include "model/model_file.h"

// The name in DIR of the checkpoint of a step, or of their folder (step < 0).
static void checkpoint_name(char name[64], long step) {
    if (step < 0) snprintf(name, 64, "checkpoints");
    else snprintf(name, 64, "checkpoints/step-%ld.safetensors", step);
}

static int checkpoint_path(char *out, const Trainer *t, long step, Error *err) {
    char name[64];
    checkpoint_name(name, step);
    return trainer_path(t, name, out, err);
}

static int by_step(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

// The steps of the kept checkpoints, ascending, into *steps (malloc'd);
// their count, or -1 with err.  A missing directory holds none.  With
// tidy, the temporaries of saves killed midway are removed.
static long list_kept(const Trainer *t, long **steps, bool tidy, Error *err) {
    char dir_path[TRAINER_PATH_BYTES];
    *steps = NULL;
    if (checkpoint_path(dir_path, t, -1, err) < 0) return -1;
    DIR *dir = opendir(dir_path);
    if (!dir) return errno == ENOENT ? 0 : error_set(err, "cannot list %s: %s", dir_path, ERRNO_TEXT(errno));
    long count = 0, capacity = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        long step;
        char tail[32];
        if (tidy && strncmp(e->d_name, "step-", 5) == 0 && strstr(e->d_name, ".safetensors.tmp.")) {
            char stale[TRAINER_PATH_BYTES];
            if (snprintf(stale, sizeof stale, "%s/%s", dir_path, e->d_name) < TRAINER_PATH_BYTES) remove(stale);
            continue;
        }
        // step-N.safetensors exactly; temporaries (…safetensors.tmp.X) do not match
        if (sscanf(e->d_name, "step-%ld%31s", &step, tail) != 2 || strcmp(tail, ".safetensors") != 0) continue;
        if (count == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            long *grown = realloc(*steps, (size_t)capacity * sizeof *grown);
            if (!grown) {
                closedir(dir);
                free(*steps);
                *steps = NULL;
                return error_out_of_memory(err, "the list of checkpoints", (size_t)capacity);
            }
            *steps = grown;
        }
        (*steps)[count++] = step;
    }
    closedir(dir);
    if (count) qsort(*steps, (size_t)count, sizeof **steps, by_step);
    return count;
}

int averaging_keep(Trainer *t, Error *err) {
    const long step = t->progress.step;
    char path[TRAINER_PATH_BYTES], name[64];
    if (checkpoint_path(path, t, -1, err) < 0) return -1;
    if (mkdir(path, 0755) < 0 && errno != EEXIST) return error_set(err, "cannot create %s: %s", path, ERRNO_TEXT(errno));
    checkpoint_name(name, step);
    if (trainer_save_model(t, t->model, name, NULL, err) < 0) return -1;
    long *steps, count = list_kept(t, &steps, true, err);
    if (count < 0) return -1;
    long older_kept = 0;
    for (long i = count - 1; i >= 0; i--) {
        bool keep = steps[i] <= step && older_kept++ < t->options.average;
        if (!keep && checkpoint_path(path, t, steps[i], err) == 0) remove(path);
    }
    free(steps);
    return 0;
}

// Loads the checkpoints of steps[0 .. n) and builds their mean into *mean;
// 1 when interrupted (nothing built).
static int average_files(const Trainer *t, const long *steps, int n, Model *mean, Error *err) {
    Model *models = calloc((size_t)n, sizeof *models);
    const Model **pointers = calloc((size_t)n, sizeof *pointers);
    int loaded = 0, status = models && pointers ? 0 : error_out_of_memory(err, "averaging", (size_t)n);
    char path[TRAINER_PATH_BYTES];
    for (; status == 0 && loaded < n && !trainer_interrupted(); loaded++) {
        status = checkpoint_path(path, t, steps[loaded], err);
        if (status == 0) status = model_load(&models[loaded], NULL, path, err);
        if (status < 0) break;
        pointers[loaded] = &models[loaded];
    }
    if (status == 0 && loaded < n) status = 1;
    if (status == 0) status = model_average(mean, pointers, n, err);
    for (int k = 0; k < loaded; k++) model_free(&models[k]);
    free(models);
    free(pointers);
    return status;
}

// Validates the mean with the trainer's model, whose weights are set aside
// meanwhile; saves it (from the trainer's model, which then holds it).
// Interrupted, it saves nothing and returns 1.
static int validate_mean(Trainer *t, TrainingLog *log, const Model *mean, int n, long first_step,
                         Error *err) {
    Model *m = t->model;
    float *kept = malloc(m->n_params * sizeof *kept);
    if (!kept) return error_out_of_memory(err, "averaging", m->n_params * sizeof *kept);
    memcpy(kept, m->params, m->n_params * sizeof *kept);
    memcpy(m->params, mean->params, m->n_params * sizeof *kept);
    Validation v;
    int status = trainer_validate(t, &v, err);
    TrainingProgress *p = &t->progress;
    bool improved = status == 0 && dataset_size(t->valid) > 0 && v.loss < p->best;
    if (status == 0) status = trainer_save_model(t, m, "averaged.safetensors", NULL, err);
    if (status == 0 && improved) {
        status = trainer_save_model(t, m, "model.safetensors", NULL, err);
        if (status == 0) {
            p->best = v.loss;  // the best step stays the last plain checkpoint's
            t->best = v;
        }
    }
    memcpy(m->params, kept, m->n_params * sizeof *kept);
    free(kept);
    if (status != 0) return status;
    return training_log_average(log, p, &v, n, first_step, improved, err);
}

// Averages and validates steps[0 .. n); a note when the time budget cannot
// take it, or when an interrupt stops it.
static int average_newest(Trainer *t, TrainingLog *log, const long *steps, int n, Error *err) {
    char text[256];
    const double left = trainer_seconds_left(t), needed = AVERAGING_VALIDATIONS * t->validation_seconds;
    if (left < needed) {
        snprintf(text, sizeof text, "averaging skipped: %.1f s of the time budget left, and validating the mean "
                                    "of the last %d checkpoints takes about %.1f s", fmax(left, 0), n, needed);
        return training_log_note(log, &t->progress, "average", text, err);
    }
    Model mean;
    int status = average_files(t, steps, n, &mean, err);
    if (status == 0) {
        status = validate_mean(t, log, &mean, n, steps[0], err);
        model_free(&mean);
    }
    if (status != 1) return status;
    snprintf(text, sizeof text, "averaging interrupted: model.safetensors was left as it was");
    return training_log_note(log, &t->progress, "average", text, err);
}

int averaging_finish(Trainer *t, TrainingLog *log, Error *err) {
    long *steps, count = list_kept(t, &steps, false, err);
    if (count < 0) return -1;
    while (count > 0 && steps[count - 1] > t->progress.step) count--;
    int n = (int)(count < t->options.average ? count : t->options.average);
    int status = n >= 2 ? average_newest(t, log, steps + count - n, n, err) : 0;
    free(steps);
    return status;
}
