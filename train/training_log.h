// What training tells its user: a live progress line on a terminal (or one
// plain line every --log-every steps otherwise), DIR/train.log with one JSON
// object per line, and DIR/curves.svg, the loss curves, redrawn at every
// validation.
#ifndef AZUL_TRAINING_LOG_H
#define AZUL_TRAINING_LOG_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "train/training_curves.h"
#include "eval/bleu.h"
#include "train/trainer.h"

typedef struct {
    FILE *file;                 // train.log
    char *path;                 // its path, for the errors
    char *curves_path;
    const TrainerOptions *options;
    TrainingCurves curves;
    double window_loss, window_tokens, window_start;  // since the last report
    long window_steps;
    double last_draw;           // when the progress line was last redrawn
    bool line_open;             // a progress line waits for its newline
} TrainingLog;

// Opens DIR/train.log; lines for steps after `resume_step` (left by a run
// killed after its last checkpoint) and a last line cut short are dropped,
// and the rest are kept for the curves.  A fresh run (resume_step 0) starts
// an empty log.  The kept lines replace the old log atomically; after that
// the log is only appended to, and synced to disk at every validation (the
// checkpoints follow validations) and on closing.  Fails
// when the log cannot be written or, on a resume, cannot be read (its
// history would be lost), or when memory runs out.
int training_log_open(TrainingLog *log, const char *path, const TrainerOptions *options,
                      long resume_step, Error *err);
// These two fail, naming the log, when their line cannot be written (or
// synced): a log that silently stops would mislead whoever reads it.
int training_log_step(TrainingLog *log, const TrainingProgress *p, double loss, int tokens,
                      float lr, long batches_in_epoch, Error *err);
int training_log_validation(TrainingLog *log, const TrainingProgress *p, const Validation *v,
                            bool improved, Error *err);
// The validation of the mean of the last `count` checkpoints (from
// first_step to p->step), at the end of a run: a line out, an "average"
// event in the log.
int training_log_average(TrainingLog *log, const TrainingProgress *p, const Validation *v, int count,
                         long first_step, bool improved, Error *err);
void training_log_finish(TrainingLog *log, const TrainingProgress *p, const char *stop_reason);
void training_log_summary(TrainingLog *log, const TrainingProgress *p, const char *out_dir,
                          double peak_mib);
// The throughput per rank, and the time the gradients' all-reduce took of
// this session's steps: logged (a "world" event) by every run, so that one
// process and a job of several compare; printed in a job of several ranks.
int training_log_world(TrainingLog *log, const TrainingProgress *p, double session_seconds, long session_steps,
                       int ranks, int threads, double sum_seconds, Error *err);
// Syncs and closes the log, and frees what it holds; fails (err may be
// NULL) when its last lines cannot be written.
int training_log_close(TrainingLog *log, Error *err);

// A line about what the run is doing, printed only.
void training_log_say(TrainingLog *log, const char *text);
// A line about the end of the run: what it left out or cut short, and
// why (`about`: "average", "length_penalty").  Printed, and a "note" event
// in the log.
int training_log_note(TrainingLog *log, const TrainingProgress *p, const char *about, const char *text,
                      Error *err);

// The dev BLEU of beam `beam` at each length penalty alphas[0 .. n), and the
// one chosen: lines out, a "length_penalty" event in the log.
int training_log_length_penalty(TrainingLog *log, const TrainingProgress *p, const float *alphas,
                                const BleuScore *scores, int n, int chosen, size_t pairs, int beam, Error *err);

#endif
