// The training curves as an SVG picture: training loss and dev loss against
// steps (left axis), dev exact match (right axis, 0–100%).
#ifndef AZUL_CURVES_H
#define AZUL_CURVES_H

#include <stddef.h>

#include "cli/error.h"
#include "train/training_log.h"

int curves_write_svg(const char *path, const CurvePoint *train, size_t n_train,
                     const CurvePoint *valid, size_t n_valid, const CurvePoint *exact,
                     size_t n_exact, Error *err);

#endif
