// Training the weights: AdamW, learning-rate schedules, gradient clipping.
#ifndef AZUL_OPTIMIZER_H
#define AZUL_OPTIMIZER_H

#include <stddef.h>

#include "model/transformer.h"

typedef struct {
    float beta1, beta2, eps;  // 0.9, 0.98, 1e-9 as in the paper
    float weight_decay;       // decoupled (Loshchilov & Hutter); matrices and embeddings only
} AdamWConfig;

AdamWConfig adamw_defaults(void);

// The optimiser's state: Adam's two moments of every parameter, in the
// model's layout.  The trainer owns it; it is saved for --resume.
typedef struct {
    size_t n;
    float *m, *v;   // (n_params) each: first and second moments
} AdamState;

int adam_state_build(AdamState *s, const Model *m, Error *err);
void adam_state_free(AdamState *s);

// One AdamW step (step counts from 1) on every parameter of m (its own
// weights, not a mapped file's), as torch.optim.AdamW does it.
void adamw_update(Model *m, const Gradients *g, AdamState *s, const AdamWConfig *config, float lr,
                  long step);

// The L2 norm of all gradients together; if it exceeds max_norm (> 0) they are
// scaled down to it, as torch.nn.utils.clip_grad_norm_.  Returns the norm
// before clipping.  The sum is formed in fixed chunks, so the result does not
// depend on the number of threads.
double clip_gradient_norm(float *grads, size_t n, double max_norm);

// The whole update of a training step after the backward: clip_gradient_norm,
// adamw_update, then gradients_zero (ready for the next backward's +=), fused
// into one pass over the parameters with bit for bit the same result.
// Returns the norm before clipping; *weights_finite (unless NULL) says
// whether every weight is still a finite number afterwards.
double adamw_step(Model *m, Gradients *g, AdamState *s, const AdamWConfig *config, float lr,
                  long step, double max_norm, bool *weights_finite);

typedef enum { SCHEDULE_NOAM, SCHEDULE_INVERSE_SQRT, SCHEDULE_COSINE, SCHEDULE_CONSTANT } ScheduleKind;

typedef struct {
    ScheduleKind kind;
    float lr;          // noam: the factor; others: the peak learning rate
    long warmup;       // steps of linear warm-up
    long total_steps;  // cosine: where the rate reaches min_lr
    float min_lr;      // cosine
    int d_model;       // noam
} Schedule;

// The learning rate at a step (from 1):
//   noam          lr · d_model^-½ · min(step^-½, step · warmup^-1.5)   (paper §5.3)
//   inverse_sqrt  lr · min(step / warmup, (warmup / step)^½)
//   cosine        lr · step / warmup, then from lr down to min_lr along half a cosine
//   constant      lr
float schedule_lr(const Schedule *s, long step);

int schedule_parse_kind(const char *name, ScheduleKind *kind);

#endif
