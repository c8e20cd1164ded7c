/* Line charts for training curves (loss and accuracy per epoch, train and validation).
 * See cnnrt_image.h. */
#include "cnnrt_image.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_WIDTH 640
#define DEFAULT_HEIGHT 420

/* matplotlib's default colour cycle (tab10). */
static const uint8_t series_colours[10][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};

/* ------------------------------------------------------------------ scales and ticks */

/* An axis runs from lo to hi (the data range plus 5% on each side, as matplotlib's default
 * margins); ticks sit at the multiples of step inside it: first, first + step, ... */
typedef struct axis_scale {
    double lo, hi, step, first;
    int ticks;
    int decimals;          /* for the tick labels */
} axis_scale;

/* A "nice" tick spacing near range / target: 1, 2 or 5 times a power of ten. */
static double nice_step(double range, int target)
{
    double raw = range / target;
    double magnitude = pow(10.0, floor(log10(raw)));
    double norm = raw / magnitude;
    double nice = norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0;
    return nice * magnitude;
}

/* An axis covering [lo, hi]; integer_steps keeps ticks on whole numbers (epochs). A
 * zero-width range (one point, a flat series) is widened around its value. */
static axis_scale make_scale(double lo, double hi, int integer_steps)
{
    axis_scale s;
    if (!(hi > lo)) {
        double centre = lo;
        double half = integer_steps ? 1.0 : (fabs(centre) > 0 ? fabs(centre) * 0.1 : 1.0);
        lo = centre - half;
        hi = centre + half;
    }
    double margin = 0.05 * (hi - lo);
    s.lo = lo - margin;
    s.hi = hi + margin;
    s.step = nice_step(s.hi - s.lo, 5);
    if (integer_steps && s.step < 1.0)
        s.step = 1.0;
    s.first = ceil(s.lo / s.step - 1e-9) * s.step;
    s.ticks = (int)floor((s.hi - s.first) / s.step + 1e-9) + 1;
    if (s.ticks < 0)
        s.ticks = 0;
    s.decimals = s.step >= 1.0 ? 0 : -(int)floor(log10(s.step) + 1e-9);
    return s;
}

/* Tick k's value, computed (not accumulated, so no drift). */
static double tick_value(const axis_scale *s, int k)
{
    return s->first + k * s->step;
}

static void format_tick(char *buf, size_t size, double value, const axis_scale *s)
{
    if (fabs(value) < s->step * 1e-6)
        value = 0.0;   /* no "-0.0" */
    snprintf(buf, size, "%.*f", s->decimals, value);
}

/* ------------------------------------------------------------------ layout */

typedef struct chart_layout {
    int width, height;
    int text_scale;                     /* ticks, labels, legend */
    int pad;
    int plot_left, plot_right, plot_top, plot_bottom;
    axis_scale xs, ys;
} chart_layout;

static int series_x_is_integer(const cnnrt_chart *chart)
{
    for (int s = 0; s < chart->series_count; s++) {
        const cnnrt_chart_series *se = &chart->series[s];
        if (!se->x)
            continue;
        for (int i = 0; i < se->count; i++)
            if (isfinite(se->x[i]) && se->x[i] != floor(se->x[i]))
                return 0;
    }
    return 1;
}

static double point_x(const cnnrt_chart_series *se, int i)
{
    return se->x ? se->x[i] : (double)(i + 1);
}

static int point_finite(const cnnrt_chart_series *se, int i)
{
    return isfinite(se->y[i]) && isfinite(point_x(se, i));
}

static int plan_chart(const cnnrt_chart *chart, chart_layout *l, cnnrt_err *e)
{
    memset(l, 0, sizeof *l);
    l->width = chart->width > 0 ? chart->width : DEFAULT_WIDTH;
    l->height = chart->height > 0 ? chart->height : DEFAULT_HEIGHT;
    if (l->width < 120 || l->height < 100 || l->width > 8192 || l->height > 8192)
        return cnnrt_fail(e, "chart: size %dx%d outside 120x100 .. 8192x8192", l->width,
                          l->height);
    l->text_scale = l->width >= 1000 ? 3 : l->width >= 480 ? 2 : 1;
    int ts = l->text_scale, cell_h = CNNRT_FONT_CELL_H * ts;
    l->pad = 6 * ts;

    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < chart->series_count; s++) {
        const cnnrt_chart_series *se = &chart->series[s];
        for (int i = 0; i < se->count; i++) {
            if (!point_finite(se, i))
                continue;
            xmin = fmin(xmin, point_x(se, i));
            xmax = fmax(xmax, point_x(se, i));
            ymin = fmin(ymin, se->y[i]);
            ymax = fmax(ymax, se->y[i]);
        }
    }
    if (!(xmin <= xmax)) {   /* nothing finite to draw: empty axes */
        xmin = 0.0;
        xmax = 1.0;
        ymin = 0.0;
        ymax = 1.0;
    }
    if (!isfinite(xmax - xmin) || !isfinite(ymax - ymin) || fabs(ymax) > 1e150 ||
        fabs(ymin) > 1e150 || fabs(xmax) > 1e150 || fabs(xmin) > 1e150)
        return cnnrt_fail(e, "chart: values up to %g are too large to plot",
                          fmax(fmax(fabs(xmin), fabs(xmax)), fmax(fabs(ymin), fabs(ymax))));
    l->xs = make_scale(xmin, xmax, series_x_is_integer(chart));
    l->ys = make_scale(ymin, ymax, 0);

    /* Widest y tick label decides the left margin. */
    int label_w = 0;
    char buf[64];
    for (int k = 0; k < l->ys.ticks; k++) {
        format_tick(buf, sizeof buf, tick_value(&l->ys, k), &l->ys);
        int w = cnnrt_text_width(buf, ts);
        label_w = w > label_w ? w : label_w;
    }
    int left = l->pad;
    if (chart->y_label && chart->y_label[0])
        left += cell_h;                      /* the y label, written upwards */
    l->plot_left = left + label_w + 6 * ts;
    l->plot_right = l->width - l->pad - 2 * CNNRT_FONT_CELL_W * ts;
    l->plot_top = l->pad;
    if (chart->title && chart->title[0])
        l->plot_top += cnnrt_text_height(chart->title, ts + 1) + l->pad;
    else
        l->plot_top += cell_h / 2;           /* room for the top tick label's upper half */
    l->plot_bottom = l->height - l->pad - cell_h - 6 * ts;
    if (chart->x_label && chart->x_label[0])
        l->plot_bottom -= cell_h + 2 * ts;
    if (l->plot_right - l->plot_left < 20 || l->plot_bottom - l->plot_top < 20)
        return cnnrt_fail(e, "chart: %dx%d is too small for its title, legend and labels",
                          l->width, l->height);
    return 0;
}

static double map_x(const chart_layout *l, double x)
{
    return l->plot_left + (x - l->xs.lo) / (l->xs.hi - l->xs.lo) * (l->plot_right - l->plot_left);
}

static double map_y(const chart_layout *l, double y)
{
    return l->plot_bottom -
           (y - l->ys.lo) / (l->ys.hi - l->ys.lo) * (l->plot_bottom - l->plot_top);
}

/* ------------------------------------------------------------------ drawing */

/* A line from (x0,y0) to (x1,y1); dashed lines draw 8 units of every 13 (scaled), the
 * pattern continuing across segments through *phase. */
static void draw_segment(cnnrt_image *img, double x0, double y0, double x1, double y1,
                         int thickness, int dashed, double *phase, int scale,
                         const uint8_t rgb[3])
{
    if (!dashed) {
        cnnrt_draw_line(img, (int)lround(x0), (int)lround(y0), (int)lround(x1),
                        (int)lround(y1), thickness, rgb[0], rgb[1], rgb[2]);
        return;
    }
    double on = 8.0 * scale, period = 13.0 * scale;
    double length = hypot(x1 - x0, y1 - y0);
    double t = 0.0;
    while (t < length) {
        double in_period = fmod(*phase + t, period);
        double piece = in_period < on ? on - in_period : period - in_period;
        if (t + piece > length)
            piece = length - t;
        if (in_period < on) {
            double a = t / length, b = (t + piece) / length;
            cnnrt_draw_line(img, (int)lround(x0 + (x1 - x0) * a), (int)lround(y0 + (y1 - y0) * a),
                            (int)lround(x0 + (x1 - x0) * b), (int)lround(y0 + (y1 - y0) * b),
                            thickness, rgb[0], rgb[1], rgb[2]);
        }
        t += piece > 1e-9 ? piece : 1e-9;
    }
    *phase = fmod(*phase + length, period);
}

static void draw_marker(cnnrt_image *img, double x, double y, int radius, const uint8_t rgb[3])
{
    int cx = (int)lround(x), cy = (int)lround(y);
    for (int dy = -radius; dy <= radius; dy++)
        for (int dx = -radius; dx <= radius; dx++)
            if (dx * dx + dy * dy <= radius * radius + radius)
                cnnrt_image_set_pixel(img, cx + dx, cy + dy, rgb[0], rgb[1], rgb[2]);
}

/* Text written upwards (rotated a quarter turn anticlockwise), centred on centre_y, its
 * glyphs' tops facing left: how matplotlib writes a y axis label. */
static void draw_text_upwards(cnnrt_image *img, int x, int centre_y, const char *text,
                              int scale, uint8_t ink)
{
    int w = cnnrt_text_width(text, scale), h = cnnrt_text_height(text, scale);
    if (w <= 0 || h <= 0)
        return;
    cnnrt_image flat;
    if (cnnrt_image_create(&flat, w, h, 1, NULL))
        return;
    cnnrt_draw_text(&flat, 0, 0, text, scale, 255, 255, 255);
    int bottom = centre_y + w / 2;
    for (int fy = 0; fy < h; fy++)
        for (int fx = 0; fx < w; fx++)
            if (flat.pixels[(size_t)fy * (size_t)w + (size_t)fx])
                cnnrt_image_set_pixel(img, x + fy, bottom - fx, ink, ink, ink);
    cnnrt_image_free(&flat);
}

static void draw_axes(cnnrt_image *img, const cnnrt_chart *chart, const chart_layout *l)
{
    int ts = l->text_scale, cell_h = CNNRT_FONT_CELL_H * ts;
    char buf[64];
    /* Grid lines, ticks and their labels. */
    for (int k = 0; k < l->ys.ticks; k++) {
        double v = tick_value(&l->ys, k);
        int y = (int)lround(map_y(l, v));
        cnnrt_draw_rect(img, l->plot_left, y, l->plot_right - l->plot_left + 1, 1, 225, 225, 225);
        cnnrt_draw_rect(img, l->plot_left - 4 * ts, y, 4 * ts, ts, 40, 40, 40);
        format_tick(buf, sizeof buf, v, &l->ys);
        int w = cnnrt_text_width(buf, ts) - ts;
        cnnrt_draw_text(img, l->plot_left - 6 * ts - w, y - 7 * ts / 2, buf, ts, 40, 40, 40);
    }
    for (int k = 0; k < l->xs.ticks; k++) {
        double v = tick_value(&l->xs, k);
        int x = (int)lround(map_x(l, v));
        cnnrt_draw_rect(img, x, l->plot_top, 1, l->plot_bottom - l->plot_top + 1, 225, 225, 225);
        cnnrt_draw_rect(img, x, l->plot_bottom, ts, 4 * ts, 40, 40, 40);
        format_tick(buf, sizeof buf, v, &l->xs);
        int w = cnnrt_text_width(buf, ts) - ts;
        cnnrt_draw_text(img, x - w / 2, l->plot_bottom + 6 * ts, buf, ts, 40, 40, 40);
    }
    /* The axes themselves: a box around the plot, as matplotlib draws it. */
    cnnrt_draw_frame(img, l->plot_left, l->plot_top, l->plot_right - l->plot_left + 1,
                     l->plot_bottom - l->plot_top + 1, ts > 1 ? 2 : 1, 40, 40, 40);
    if (chart->x_label && chart->x_label[0]) {
        int w = cnnrt_text_width(chart->x_label, ts) - ts;
        cnnrt_draw_text(img, (l->plot_left + l->plot_right - w) / 2,
                        l->plot_bottom + 6 * ts + cell_h + 2 * ts, chart->x_label, ts, 20, 20, 20);
    }
    if (chart->y_label && chart->y_label[0])
        draw_text_upwards(img, l->pad, (l->plot_top + l->plot_bottom) / 2, chart->y_label, ts,
                          20);
    if (chart->title && chart->title[0]) {
        int w = cnnrt_text_width(chart->title, ts + 1) - (ts + 1);
        cnnrt_draw_text(img, (l->width - w) / 2, l->pad, chart->title, ts + 1, 20, 20, 20);
    }
}

static void draw_series(cnnrt_image *img, const cnnrt_chart_series *se, const chart_layout *l,
                        const uint8_t rgb[3])
{
    int ts = l->text_scale;
    double phase = 0.0;
    int previous = -1;   /* index of the last finite point, -1 after a gap */
    for (int i = 0; i < se->count; i++) {
        if (!point_finite(se, i)) {
            previous = -1;   /* a NaN breaks the line, as in matplotlib */
            continue;
        }
        if (previous >= 0)
            draw_segment(img, map_x(l, point_x(se, previous)), map_y(l, se->y[previous]),
                         map_x(l, point_x(se, i)), map_y(l, se->y[i]), ts + 1, se->dashed,
                         &phase, ts, rgb);
        previous = i;
    }
    for (int i = 0; i < se->count; i++)
        if (point_finite(se, i))
            draw_marker(img, map_x(l, point_x(se, i)), map_y(l, se->y[i]), ts + 1, rgb);
}

/* ------------------------------------------------------------------ legend */

typedef struct legend_box {
    int x, y, w, h;
    int entries;
} legend_box;

static int has_label(const cnnrt_chart_series *se)
{
    return se->label && se->label[0];
}

/* How much of the data a box at (x, y) would hide: the number of points sampled along the
 * series' lines (20 per segment) that fall inside it. */
static int legend_overlap(const cnnrt_chart *chart, const chart_layout *l, const legend_box *b)
{
    int hidden = 0;
    for (int s = 0; s < chart->series_count; s++) {
        const cnnrt_chart_series *se = &chart->series[s];
        int previous = -1;
        for (int i = 0; i < se->count; i++) {
            if (!point_finite(se, i)) {
                previous = -1;
                continue;
            }
            int from = previous >= 0 ? previous : i;
            for (int k = 0; k <= 20; k++) {
                double t = k / 20.0;
                double px = map_x(l, point_x(se, from)) * (1 - t) + map_x(l, point_x(se, i)) * t;
                double py = map_y(l, se->y[from]) * (1 - t) + map_y(l, se->y[i]) * t;
                hidden += px >= b->x && px <= b->x + b->w && py >= b->y && py <= b->y + b->h;
            }
            previous = i;
        }
    }
    return hidden;
}

/* The legend goes inside the plot, in the corner where it hides the least data
 * (matplotlib's loc="best", trying upper right, upper left, lower left, lower right). */
static legend_box place_legend(const cnnrt_chart *chart, const chart_layout *l)
{
    int ts = l->text_scale, cell_h = CNNRT_FONT_CELL_H * ts;
    legend_box b;
    memset(&b, 0, sizeof b);
    int text_w = 0;
    for (int s = 0; s < chart->series_count; s++)
        if (has_label(&chart->series[s])) {
            int w = cnnrt_text_width(chart->series[s].label, ts);
            text_w = w > text_w ? w : text_w;
            b.entries++;
        }
    if (!b.entries)
        return b;
    b.w = 4 * ts + 24 * ts + 6 * ts + text_w + 2 * ts;
    b.h = 4 * ts + b.entries * (cell_h + 2 * ts) + 2 * ts;
    int inset = 4 * ts;
    int xs[4] = {l->plot_right - inset - b.w, l->plot_left + inset, l->plot_left + inset,
                 l->plot_right - inset - b.w};
    int ys[4] = {l->plot_top + inset, l->plot_top + inset, l->plot_bottom - inset - b.h,
                 l->plot_bottom - inset - b.h};
    int best = 0, best_hidden = -1;
    for (int c = 0; c < 4; c++) {
        legend_box candidate = b;
        candidate.x = xs[c];
        candidate.y = ys[c];
        int hidden = legend_overlap(chart, l, &candidate);
        if (best_hidden < 0 || hidden < best_hidden) {
            best = c;
            best_hidden = hidden;
        }
    }
    b.x = xs[best];
    b.y = ys[best];
    return b;
}

static void draw_legend(cnnrt_image *img, const cnnrt_chart *chart, const chart_layout *l)
{
    legend_box b = place_legend(chart, l);
    if (!b.entries)
        return;
    int ts = l->text_scale, cell_h = CNNRT_FONT_CELL_H * ts;
    cnnrt_draw_rect(img, b.x, b.y, b.w, b.h, 255, 255, 255);
    cnnrt_draw_frame(img, b.x, b.y, b.w, b.h, 1, 204, 204, 204);
    int y = b.y + 4 * ts;
    for (int s = 0; s < chart->series_count; s++) {
        const cnnrt_chart_series *se = &chart->series[s];
        if (!has_label(se))
            continue;
        const uint8_t *rgb = series_colours[s % 10];
        int x = b.x + 4 * ts;
        double phase = 0.0, mid = y + 7 * ts / 2.0;
        draw_segment(img, x, mid, x + 24 * ts, mid, ts + 1, se->dashed, &phase, ts, rgb);
        draw_marker(img, x + 12 * ts, mid, ts + 1, rgb);
        cnnrt_draw_text(img, x + 30 * ts, y, se->label, ts, 20, 20, 20);
        y += cell_h + 2 * ts;
    }
}

int cnnrt_chart_render(const cnnrt_chart *chart, cnnrt_image *out, cnnrt_err *e)
{
    memset(out, 0, sizeof *out);
    if (chart->series_count < 0 || (chart->series_count > 0 && !chart->series))
        return cnnrt_fail(e, "chart: bad series list");
    for (int s = 0; s < chart->series_count; s++)
        if (chart->series[s].count < 0 || (chart->series[s].count > 0 && !chart->series[s].y))
            return cnnrt_fail(e, "chart: series %d has no values", s + 1);
    chart_layout l;
    if (plan_chart(chart, &l, e))
        return -1;
    if (cnnrt_image_create(out, l.width, l.height, 3, e))
        return -1;
    cnnrt_image_fill(out, 255, 255, 255);
    draw_axes(out, chart, &l);
    for (int s = 0; s < chart->series_count; s++)
        draw_series(out, &chart->series[s], &l, series_colours[s % 10]);
    draw_legend(out, chart, &l);
    return 0;
}

int cnnrt_chart_write_png(const char *path, const cnnrt_chart *chart, cnnrt_err *e)
{
    cnnrt_image img;
    if (cnnrt_chart_render(chart, &img, e)) {
        /* Name the file the chart was for, like every other error. */
        char message[sizeof e->msg];
        if (e) {
            snprintf(message, sizeof message, "%s", e->msg);
            cnnrt_fail(e, "%s: %s", path, message);
        }
        return -1;
    }
    int rc = cnnrt_png_write(path, &img, e);
    cnnrt_image_free(&img);
    return rc;
}
