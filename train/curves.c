#include "train/curves.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"

enum { WIDTH = 720, HEIGHT = 420, LEFT = 64, RIGHT = 64, TOP = 40, BOTTOM = 48 };

typedef struct {
    char *text;
    size_t length, capacity;
    size_t failed;  // when memory ran out: the size that could not be had; then nothing more is put
} Svg;

static void put(Svg *s, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void put(Svg *s, const char *format, ...) {
    va_list args;
    while (!s->failed) {
        va_start(args, format);
        int n = vsnprintf(s->text + s->length, s->capacity - s->length, format, args);
        va_end(args);
        if (n >= 0 && (size_t)n < s->capacity - s->length) {
            s->length += (size_t)n;
            return;
        }
        size_t capacity = s->capacity * 2 + (size_t)(n > 0 ? n : 256) + 1;
        char *larger = realloc(s->text, capacity);
        if (!larger) {
            s->failed = capacity;
            return;
        }
        s->text = larger;
        s->capacity = capacity;
    }
}

static void polyline(Svg *s, const CurvePoint *points, size_t n, double x_max, double y_max,
                     double y_min, const char *colour, bool dots) {
    if (n == 0) return;
    double w = WIDTH - LEFT - RIGHT, h = HEIGHT - TOP - BOTTOM;
    put(s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour);
    for (size_t i = 0; i < n; i++) {
        double x = LEFT + points[i].step / x_max * w;
        double y = TOP + h - (fmin(points[i].value, y_max) - y_min) / (y_max - y_min) * h;
        put(s, "%.1f,%.1f ", x, y);
    }
    put(s, "\"/>\n");
    for (size_t i = 0; dots && i < n; i++) {
        double x = LEFT + points[i].step / x_max * w;
        double y = TOP + h - (fmin(points[i].value, y_max) - y_min) / (y_max - y_min) * h;
        put(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, y, colour);
    }
}

int curves_write_svg(const char *path, const char *title, const CurveSeries *series, size_t n_series,
                     Error *err) {
    double x_max = 1, y_max = 0.1;
    for (size_t k = 0; k < n_series; k++) {
        for (size_t i = 0; i < series[k].n; i++) {
            x_max = fmax(x_max, series[k].points[i].step);
            if (!series[k].percent) y_max = fmax(y_max, series[k].points[i].value);
        }
    }
    y_max = ceil(y_max);
    Svg s = {0};
    put(&s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n", WIDTH, HEIGHT);
    put(&s, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    put(&s, "<text x=\"%d\" y=\"24\" font-size=\"15\">%s</text>\n", LEFT, title);
    double w = WIDTH - LEFT - RIGHT, h = HEIGHT - TOP - BOTTOM;
    for (int i = 0; i <= 5; i++) {  // grid and both axes' labels
        double y = TOP + h - i * h / 5;
        put(&s, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT, WIDTH - RIGHT, y, y);
        put(&s, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2g</text>\n", LEFT - 6, y + 4, y_max * i / 5);
        put(&s, "<text x=\"%d\" y=\"%.1f\">%d</text>\n", WIDTH - RIGHT + 6, y + 4, i * 20);
        double x = LEFT + i * w / 5;
        put(&s, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", x, HEIGHT - BOTTOM + 16, x_max * i / 5);
    }
    put(&s, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">step</text>\n", LEFT + w / 2, HEIGHT - 10);
    put(&s, "<text x=\"14\" y=\"%.1f\" transform=\"rotate(-90 14 %.1f)\" text-anchor=\"middle\">loss</text>\n", TOP + h / 2, TOP + h / 2);
    put(&s, "<text x=\"%d\" y=\"%.1f\" transform=\"rotate(90 %d %.1f)\" text-anchor=\"middle\">percent</text>\n",
        WIDTH - 14, TOP + h / 2, WIDTH - 14, TOP + h / 2);
    put(&s, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", LEFT, TOP, w, h);
    for (size_t k = 0; k < n_series; k++) {
        const CurveSeries *c = &series[k];
        polyline(&s, c->points, c->n, x_max, c->percent ? 100.0 : y_max, 0, c->colour, c->n < 200);
        put(&s, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>", LEFT + 12 + (int)k * 150, TOP + 10, c->colour);
        put(&s, "<text x=\"%d\" y=\"%d\">%s</text>\n", LEFT + 30 + (int)k * 150, TOP + 16, c->name);
    }
    put(&s, "</svg>\n");
    int status = s.failed ? error_out_of_memory(err, "drawing the training curves", s.failed)
                          : atomic_write_file(path, s.text, s.length, err);
    free(s.text);
    return status;
}
