/* Keras's augmentation layers on one picture (cnnrt_augment.h). Consecutive geometric
 * layers (flip, translation, rotation, zoom) that fill the outside alike are composed into one
 * affine map and the picture is resampled once, not once per layer (a third of the work for
 * three layers, and one interpolation's blur instead of three); a map that comes out as the
 * identity costs nothing, a pure flip only swaps pixels. The fill modes map an index outside
 * the picture as Keras (and scipy.ndimage) do:
 *   reflect  d c b a | a b c d | d c b a     wrap      a b c d | a b c d | a b c d
 *   nearest  a a a a | a b c d | d d d d     constant  k k k k | a b c d | k k k k */
#include "cnnrt_augment.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cnnrt_model.h"   /* cnnrt_mix64 */
#include "cnnrt_text.h"

/* ---- reading the descriptor's text ------------------------------------------------------- */

static const char *const fill_words[] = {"reflect", "wrap", "constant", "nearest"};
static const char *const interpolation_words[] = {"bilinear", "nearest"};
static const char *const flip_words[] = {"horizontal_and_vertical", "horizontal", "vertical"};
static const char *const kind_words[] = {"random_flip", "random_translation", "random_rotation",
                                         "random_zoom", "random_contrast", "random_brightness"};

static int read_fill(cnnrt_text_stmt *s, cnnrt_aug_layer *l, cnnrt_err *e)
{
    int fill, interpolation;
    if (cnnrt_text_choice(s, "fill_mode", fill_words, 4, &fill, e) ||
        cnnrt_text_choice(s, "interpolation", interpolation_words, 2, &interpolation, e) ||
        cnnrt_text_double(s, "fill_value", 0, 1, &l->fill_value, e))
        return -1;
    l->fill_mode = fill < 0 ? CNNRT_FILL_REFLECT : (cnnrt_fill_mode)fill;
    l->nearest = interpolation == 1;
    return 0;
}

static int read_layer(cnnrt_text_stmt *s, cnnrt_aug_layer *l, cnnrt_err *e)
{
    memset(l, 0, sizeof *l);
    l->width_factor = -1;
    int kind = -1;
    for (int k = 0; k < 6; k++)
        if (!strcmp(s->keyword, kind_words[k]))
            kind = k;
    if (kind < 0)
        return cnnrt_text_fail(s, e, "unknown augmentation layer");
    l->kind = (cnnrt_aug_kind)kind;
    switch (l->kind) {
    case CNNRT_AUG_FLIP: {
        int mode;
        if (cnnrt_text_choice(s, "mode", flip_words, 3, &mode, e))
            return -1;
        l->flip_horizontal = mode != 2;
        l->flip_vertical = mode != 1;
        break;
    }
    case CNNRT_AUG_TRANSLATION:
    case CNNRT_AUG_ZOOM:
        l->height_factor = NAN;
        if (cnnrt_text_double(s, "height_factor", 0, 1, &l->height_factor, e) ||
            cnnrt_text_double(s, "width_factor", 0, 1, &l->width_factor, e) || read_fill(s, l, e))
            return -1;
        if (isnan(l->height_factor) || (l->kind == CNNRT_AUG_TRANSLATION && l->width_factor < 0))
            return cnnrt_text_fail(s, e, "a factor is missing");
        break;
    case CNNRT_AUG_ROTATION:
        if (cnnrt_text_double(s, "factor", 0, 1, &l->factor, e) || read_fill(s, l, e))
            return -1;
        break;
    default:
        if (cnnrt_text_double(s, "factor", 0, 1, &l->factor, e))
            return -1;
        break;
    }
    return cnnrt_text_no_other_keys(s, e);
}

int cnnrt_augment_parse(const char *text, const char *origin, cnnrt_augment *aug, cnnrt_err *e)
{
    memset(aug, 0, sizeof *aug);
    cnnrt_text_reader r;
    cnnrt_text_begin(&r, text, origin);
    cnnrt_text_stmt s;
    int status;
    while ((status = cnnrt_text_next(&r, &s, e)) > 0) {
        if (strncmp(s.keyword, "random_", 7) != 0)
            continue;
        if (aug->num_layers == CNNRT_MAX_AUG_LAYERS)
            return cnnrt_text_fail(&s, e, "more than %d augmentation layers",
                                   CNNRT_MAX_AUG_LAYERS);
        if (read_layer(&s, &aug->layers[aug->num_layers++], e))
            return -1;
    }
    return status;
}

void cnnrt_augment_describe(const cnnrt_augment *aug, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < aug->num_layers && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                                 kind_words[aug->layers[i].kind]);
}

/* ---- random numbers ----------------------------------------------------------------------- */

uint64_t cnnrt_augment_seed(uint64_t seed, int64_t step, int64_t image)
{
    /* A constant apart from the dropout masks' hash of the same step. */
    return cnnrt_mix64(seed ^ 0x5AD0C0FFEEULL ^ cnnrt_mix64((uint64_t)step ^
                                                              ((uint64_t)image << 40)));
}

/* Uniform in [-1, 1), from a SplitMix64 stream. */
static double uniform_pm1(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ull;
    uint64_t z = cnnrt_mix64(*state);
    return (double)(z >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* ---- the transforms ------------------------------------------------------------------------- */

static void swap_pixels(float *a, float *b, int64_t c)
{
    for (int64_t k = 0; k < c; k++) {
        float t = a[k];
        a[k] = b[k];
        b[k] = t;
    }
}

void cnnrt_augment_flip(float *x, int64_t h, int64_t w, int64_t c, int horizontal, int vertical)
{
    for (int64_t y = 0; horizontal && y < h; y++)
        for (int64_t i = 0; i < w / 2; i++)
            swap_pixels(&x[(y * w + i) * c], &x[(y * w + w - 1 - i) * c], c);
    for (int64_t y = 0; vertical && y < h / 2; y++)
        for (int64_t i = 0; i < w; i++)
            swap_pixels(&x[(y * w + i) * c], &x[((h - 1 - y) * w + i) * c], c);
}

/* The index an outside coordinate stands for, or -1 for the constant fill. */
static int64_t fill_index(int64_t i, int64_t n, cnnrt_fill_mode mode)
{
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case CNNRT_FILL_REFLECT: {
        int64_t period = 2 * n, m = ((i % period) + period) % period;
        return m < n ? m : period - 1 - m;
    }
    case CNNRT_FILL_WRAP: return ((i % n) + n) % n;
    case CNNRT_FILL_NEAREST: return i < 0 ? 0 : n - 1;
    default: return -1;
    }
}

static float pixel(const float *in, int64_t y, int64_t x, int64_t k, int64_t h, int64_t w,
                   int64_t c, const cnnrt_aug_layer *fill)
{
    int64_t yy = fill_index(y, h, fill->fill_mode), xx = fill_index(x, w, fill->fill_mode);
    if (yy < 0 || xx < 0)
        return (float)fill->fill_value;
    return in[(yy * w + xx) * c + k];
}

/* floor(v) as an index, without a call to libm's floor (the picture's coordinates are
 * small). */
static int64_t floor_index(double v)
{
    int64_t i = (int64_t)v;
    return i - (v < (double)i);
}

/* out(p) = in(centre + a (p - centre) + b), p = (y, x). */
void cnnrt_augment_resample(const float *in, float *out, int64_t h, int64_t w, int64_t c,
                            const cnnrt_affine *map, const cnnrt_aug_layer *fill)
{
    double cy = (double)(h - 1) / 2, cx = (double)(w - 1) / 2;
    for (int64_t y = 0; y < h; y++) {
        double dy = (double)y - cy;
        double row_y = cy + map->a[0][0] * dy + map->b[0];
        double row_x = cx + map->a[1][0] * dy + map->b[1];
        for (int64_t x = 0; x < w; x++) {
            double dx = (double)x - cx;
            double sy = row_y + map->a[0][1] * dx, sx = row_x + map->a[1][1] * dx;
            float *o = out + (y * w + x) * c;
            if (fill->nearest) {
                int64_t iy = floor_index(sy + 0.5), ix = floor_index(sx + 0.5);
                for (int64_t k = 0; k < c; k++)
                    o[k] = pixel(in, iy, ix, k, h, w, c, fill);
                continue;
            }
            int64_t y0 = floor_index(sy), x0 = floor_index(sx);
            double ty = sy - (double)y0, tx = sx - (double)x0;
            if (y0 >= 0 && x0 >= 0 && y0 + 1 < h && x0 + 1 < w) {   /* inside: no fill */
                const float *p00 = in + (y0 * w + x0) * c, *p10 = p00 + w * c;
                for (int64_t k = 0; k < c; k++) {
                    double top = (1 - tx) * p00[k] + tx * p00[c + k];
                    double bottom = (1 - tx) * p10[k] + tx * p10[c + k];
                    o[k] = (float)((1 - ty) * top + ty * bottom);
                }
                continue;
            }
            for (int64_t k = 0; k < c; k++) {
                double top = (1 - tx) * pixel(in, y0, x0, k, h, w, c, fill) +
                             tx * pixel(in, y0, x0 + 1, k, h, w, c, fill);
                double bottom = (1 - tx) * pixel(in, y0 + 1, x0, k, h, w, c, fill) +
                                tx * pixel(in, y0 + 1, x0 + 1, k, h, w, c, fill);
                o[k] = (float)((1 - ty) * top + ty * bottom);
            }
        }
    }
}

/* y grows downwards: turning the picture counter-clockwise by angle reads the source at the
 * point turned the other way. */
static cnnrt_affine layer_map(double shift_y, double shift_x, double angle, double zoom_y,
                              double zoom_x)
{
    double cs = cos(angle), sn = sin(angle);
    return (cnnrt_affine){{{zoom_y * cs, zoom_y * sn}, {-zoom_x * sn, zoom_x * cs}},
                          {-shift_y, -shift_x}};
}

void cnnrt_augment_affine(const float *in, float *out, int64_t h, int64_t w, int64_t c,
                          double shift_y, double shift_x, double angle, double zoom_y,
                          double zoom_x, const cnnrt_aug_layer *fill)
{
    cnnrt_affine map = layer_map(shift_y, shift_x, angle, zoom_y, zoom_x);
    cnnrt_augment_resample(in, out, h, w, c, &map, fill);
}

/* Applying `inner` after `outer` reads the source at outer(inner(p)): the sequential layers
 * outer then inner, as one map. */
static cnnrt_affine compose(const cnnrt_affine *outer, const cnnrt_affine *inner)
{
    cnnrt_affine r;
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++)
            r.a[i][j] = outer->a[i][0] * inner->a[0][j] + outer->a[i][1] * inner->a[1][j];
        r.b[i] = outer->a[i][0] * inner->b[0] + outer->a[i][1] * inner->b[1] + outer->b[i];
    }
    return r;
}

static float clip01(double v)
{
    return (float)(v < 0 ? 0 : v > 1 ? 1 : v);
}

void cnnrt_augment_contrast(float *x, int64_t h, int64_t w, int64_t c, double factor)
{
    for (int64_t k = 0; k < c; k++) {
        double mean = 0;
        for (int64_t i = 0; i < h * w; i++)
            mean += x[i * c + k];
        mean /= (double)(h * w);
        for (int64_t i = 0; i < h * w; i++)
            x[i * c + k] = clip01((x[i * c + k] - mean) * factor + mean);
    }
}

void cnnrt_augment_brightness(float *x, int64_t n, double delta)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = clip01(x[i] + delta);
}

/* The map of one geometric layer with its amounts drawn (in the layer's order: the same
 * numbers whether or not the layer is composed with others). */
static cnnrt_affine draw_map(const cnnrt_aug_layer *l, int64_t h, int64_t w, uint64_t *rng)
{
    switch (l->kind) {
    case CNNRT_AUG_FLIP: {
        int horizontal = l->flip_horizontal && uniform_pm1(rng) >= 0;
        int vertical = l->flip_vertical && uniform_pm1(rng) >= 0;
        return (cnnrt_affine){{{vertical ? -1 : 1, 0}, {0, horizontal ? -1 : 1}}, {0, 0}};
    }
    case CNNRT_AUG_TRANSLATION: {
        double shift_y = uniform_pm1(rng) * l->height_factor * (double)h;
        double shift_x = uniform_pm1(rng) * l->width_factor * (double)w;
        return layer_map(shift_y, shift_x, 0, 1, 1);
    }
    case CNNRT_AUG_ROTATION:
        return layer_map(0, 0, uniform_pm1(rng) * l->factor * 2 * M_PI, 1, 1);
    default: {   /* zoom */
        double zoom_y = 1 + uniform_pm1(rng) * l->height_factor;
        double zoom_x = l->width_factor < 0 ? zoom_y : 1 + uniform_pm1(rng) * l->width_factor;
        return layer_map(0, 0, 0, zoom_y, zoom_x);
    }
    }
}

static int is_geometric(const cnnrt_aug_layer *l)
{
    return l->kind == CNNRT_AUG_FLIP || l->kind == CNNRT_AUG_TRANSLATION ||
           l->kind == CNNRT_AUG_ROTATION || l->kind == CNNRT_AUG_ZOOM;
}

/* Whether two layers fill what lies outside alike (a flip reads nothing outside). */
static int same_fill(const cnnrt_aug_layer *a, const cnnrt_aug_layer *b)
{
    return a->kind == CNNRT_AUG_FLIP || b->kind == CNNRT_AUG_FLIP ||
           (a->fill_mode == b->fill_mode && a->nearest == b->nearest &&
            a->fill_value == b->fill_value);
}

/* Layers first..end-1 (geometric, filling alike) as one map; *fill: the one that fills. */
static int group_end(const cnnrt_augment *aug, int first, const cnnrt_aug_layer **fill)
{
    *fill = &aug->layers[first];
    int end = first + 1;
    for (; end < aug->num_layers && is_geometric(&aug->layers[end]); end++) {
        if (!same_fill(*fill, &aug->layers[end]))
            break;
        if ((*fill)->kind == CNNRT_AUG_FLIP)
            *fill = &aug->layers[end];
    }
    return end;
}

/* Resamples the picture once with the map, or less when the map allows. */
static void apply_map(const cnnrt_affine *m, const cnnrt_aug_layer *fill, float *x, int64_t h,
                      int64_t w, int64_t c, float *scratch)
{
    int axis_aligned = m->a[0][1] == 0 && m->a[1][0] == 0 && m->b[0] == 0 && m->b[1] == 0 &&
                       fabs(m->a[0][0]) == 1 && fabs(m->a[1][1]) == 1;
    if (axis_aligned) {   /* the identity, or flips: pixels swapped, none interpolated */
        cnnrt_augment_flip(x, h, w, c, m->a[1][1] < 0, m->a[0][0] < 0);
        return;
    }
    cnnrt_augment_resample(x, scratch, h, w, c, m, fill);
    memcpy(x, scratch, (size_t)(h * w * c) * sizeof *x);
}

void cnnrt_augment_image(const cnnrt_augment *aug, float *x, int64_t h, int64_t w, int64_t c,
                         uint64_t *rng, float *scratch)
{
    for (int i = 0; i < aug->num_layers;) {
        const cnnrt_aug_layer *l = &aug->layers[i];
        if (is_geometric(l)) {
            const cnnrt_aug_layer *fill;
            int end = group_end(aug, i, &fill);
            cnnrt_affine map = {{{1, 0}, {0, 1}}, {0, 0}};
            for (; i < end; i++) {
                cnnrt_affine layer = draw_map(&aug->layers[i], h, w, rng);
                map = compose(&map, &layer);
            }
            apply_map(&map, fill, x, h, w, c, scratch);
            continue;
        }
        if (l->kind == CNNRT_AUG_CONTRAST) {
            double factor = 1 + uniform_pm1(rng) * l->factor;
            if (factor != 1)
                cnnrt_augment_contrast(x, h, w, c, factor < 0 ? 0 : factor);
        } else {
            double delta = uniform_pm1(rng) * l->factor;
            if (delta != 0)
                cnnrt_augment_brightness(x, h * w * c, delta);
        }
        i++;
    }
}
