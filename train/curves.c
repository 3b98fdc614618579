#include "train/curves.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/atomic_file.h"

enum { WIDTH = 720, HEIGHT = 420, LEFT = 64, RIGHT = 64, TOP = 40, BOTTOM = 48 };

typedef struct {
    char *text;
    size_t length, capacity;
} Svg;

static void put(Svg *s, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void put(Svg *s, const char *format, ...) {
    va_list args;
    for (;;) {
        va_start(args, format);
        int n = vsnprintf(s->text + s->length, s->capacity - s->length, format, args);
        va_end(args);
        if (n >= 0 && (size_t)n < s->capacity - s->length) {
            s->length += (size_t)n;
            return;
        }
        s->capacity = s->capacity * 2 + (size_t)(n > 0 ? n : 256) + 1;
        s->text = realloc(s->text, s->capacity);
        if (!s->text) die("out of memory");
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

int curves_write_svg(const char *path, const CurvePoint *train, size_t n_train,
                     const CurvePoint *valid, size_t n_valid, const CurvePoint *exact,
                     size_t n_exact, Error *err) {
    double x_max = 1, y_max = 0.1;
    for (size_t i = 0; i < n_train; i++) {
        x_max = fmax(x_max, train[i].step);
        y_max = fmax(y_max, train[i].value);
    }
    for (size_t i = 0; i < n_valid; i++) {
        x_max = fmax(x_max, valid[i].step);
        y_max = fmax(y_max, valid[i].value);
    }
    y_max = ceil(y_max);
    Svg s = {0};
    put(&s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n", WIDTH, HEIGHT);
    put(&s, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    put(&s, "<text x=\"%d\" y=\"24\" font-size=\"15\">azul training: loss and dev exact match</text>\n", LEFT);
    double w = WIDTH - LEFT - RIGHT, h = HEIGHT - TOP - BOTTOM;
    for (int i = 0; i <= 5; i++) {  // grid and both axes' labels
        double y = TOP + h - i * h / 5;
        put(&s, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT, WIDTH - RIGHT, y, y);
        put(&s, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2g</text>\n", LEFT - 6, y + 4, y_max * i / 5);
        put(&s, "<text x=\"%d\" y=\"%.1f\">%d%%</text>\n", WIDTH - RIGHT + 6, y + 4, i * 20);
        double x = LEFT + i * w / 5;
        put(&s, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", x, HEIGHT - BOTTOM + 16, x_max * i / 5);
    }
    put(&s, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">step</text>\n", LEFT + w / 2, HEIGHT - 10);
    put(&s, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", LEFT, TOP, w, h);
    polyline(&s, train, n_train, x_max, y_max, 0, "#1f77b4", false);
    polyline(&s, valid, n_valid, x_max, y_max, 0, "#d62728", true);
    // exact match on the right axis: scale 0..1 to the plot's height
    CurvePoint *scaled = malloc((n_exact ? n_exact : 1) * sizeof *scaled);
    for (size_t i = 0; i < n_exact; i++) scaled[i] = (CurvePoint){exact[i].step, exact[i].value * y_max};
    polyline(&s, scaled, n_exact, x_max, y_max, 0, "#2ca02c", true);
    free(scaled);
    const char *names[] = {"training loss", "dev loss", "dev exact match (right axis)"};
    const char *colours[] = {"#1f77b4", "#d62728", "#2ca02c"};
    for (int i = 0; i < 3; i++) {
        put(&s, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>", LEFT + 12 + i * 190, TOP + 10, colours[i]);
        put(&s, "<text x=\"%d\" y=\"%d\">%s</text>\n", LEFT + 30 + i * 190, TOP + 16, names[i]);
    }
    put(&s, "</svg>\n");
    int status = atomic_write_file(path, s.text, s.length, err);
    free(s.text);
    return status;
}
