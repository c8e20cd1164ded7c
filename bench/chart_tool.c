/* Draws a line chart as a PNG with the runtime's own chart code (runtime/chart.c), for
 * bench/scaling.sh:
 *
 *     chart_tool OUT.png TITLE X_LABEL Y_LABEL < SERIES
 *
 * SERIES is text: a line "series LABEL" (or "dashed LABEL") starts a series, every other
 * non-empty line is one point "X Y". Built by bench/scaling.sh against libcnnrt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_image.h"

enum { MAX_SERIES = 10, MAX_POINTS = 64, MAX_LABEL = 128 };

typedef struct points {
    char label[MAX_LABEL];
    double x[MAX_POINTS], y[MAX_POINTS];
    int count, dashed;
} points;

/* Reads the series from `in`; returns how many, or -1 on malformed input (printed). */
static int read_series(FILE *in, points *p)
{
    char line[512];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, in)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        int dashed = strncmp(line, "dashed ", 7) == 0;
        if (dashed || strncmp(line, "series ", 7) == 0) {
            if (n == MAX_SERIES) {
                fprintf(stderr, "chart_tool: line %d: more than %d series\n", lineno, MAX_SERIES);
                return -1;
            }
            snprintf(p[n].label, sizeof p[n].label, "%.*s", MAX_LABEL - 1, line + 7);
            p[n].count = 0;
            p[n++].dashed = dashed;
            continue;
        }
        double x, y;
        char extra;
        if (line[0] == '\0')
            continue;
        if (n == 0 || sscanf(line, "%lf %lf %c", &x, &y, &extra) != 2 ||
            p[n - 1].count == MAX_POINTS) {
            fprintf(stderr, "chart_tool: line %d: expected 'series LABEL' or 'X Y' (at most %d "
                    "points a series): %s\n", lineno, MAX_POINTS, line);
            return -1;
        }
        p[n - 1].x[p[n - 1].count] = x;
        p[n - 1].y[p[n - 1].count++] = y;
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: chart_tool OUT.png TITLE X_LABEL Y_LABEL < SERIES\n");
        return 2;
    }
    static points p[MAX_SERIES];
    int n = read_series(stdin, p);
    if (n < 0)
        return 1;
    cnnrt_chart_series series[MAX_SERIES];
    for (int i = 0; i < n; i++)
        series[i] = (cnnrt_chart_series){.label = p[i].label, .x = p[i].x, .y = p[i].y,
                                         .count = p[i].count, .dashed = p[i].dashed};
    cnnrt_chart chart = {.title = argv[2], .x_label = argv[3], .y_label = argv[4],
                         .width = 800, .height = 500, .series = series, .series_count = n};
    cnnrt_err e;
    if (cnnrt_chart_write_png(argv[1], &chart, &e)) {
        fprintf(stderr, "chart_tool: %s\n", e.msg);
        return 1;
    }
    return 0;
}
