// The training curves as an SVG picture: losses against steps on the left
// axis, percentages (dev BLEU, exact match) on the right axis, 0–100.
#ifndef AZUL_CURVES_H
#define AZUL_CURVES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef struct { double step, value; } CurvePoint;

typedef struct {
    const char *name;
    const char *colour;
    const CurvePoint *points;
    size_t n;
    bool percent;   // right axis (0–100) instead of the loss axis
} CurveSeries;

int curves_write_svg(const char *path, const char *title, const CurveSeries *series, size_t n_series,
                     Error *err);

#endif
