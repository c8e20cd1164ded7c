/* Resizing: bilinear for float maps (Grad-CAM heatmaps), nearest, area and bilinear for
 * 8-bit images, and images turned into model inputs. See cnnrt_image.h. */
#include "cnnrt_image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ bilinear */

/* Where output index i samples along one axis, with half-pixel centres:
 * source coordinate (i + 0.5) * src / dst - 0.5, clamped to [0, src - 1]; returns the
 * left neighbour and the weight of the right one. */
static void bilinear_tap(int i, int src, int dst, int *left, int *right, double *frac)
{
    double coord = ((double)i + 0.5) * (double)src / (double)dst - 0.5;
    if (coord < 0.0)
        coord = 0.0;
    int l = (int)floor(coord);
    if (l >= src - 1) {
        *left = *right = src - 1;
        *frac = 0.0;
        return;
    }
    *left = l;
    *right = l + 1;
    *frac = coord - (double)l;
}

static double sample(const float *src, int src_w, int channels, int row, int col, int c)
{
    return src[((size_t)row * (size_t)src_w + (size_t)col) * (size_t)channels + (size_t)c];
}

void cnnrt_resize_bilinear(const float *src, int src_h, int src_w, int channels, float *dst,
                           int dst_h, int dst_w)
{
    if (src_h == dst_h && src_w == dst_w) {
        memcpy(dst, src, sizeof *dst * (size_t)src_h * (size_t)src_w * (size_t)channels);
        return;
    }
    for (int y = 0; y < dst_h; y++) {
        int top, bottom;
        double fy;
        bilinear_tap(y, src_h, dst_h, &top, &bottom, &fy);
        for (int x = 0; x < dst_w; x++) {
            int left, right;
            double fx;
            bilinear_tap(x, src_w, dst_w, &left, &right, &fx);
            for (int c = 0; c < channels; c++) {
                double tl = sample(src, src_w, channels, top, left, c);
                double tr = sample(src, src_w, channels, top, right, c);
                double bl = sample(src, src_w, channels, bottom, left, c);
                double br = sample(src, src_w, channels, bottom, right, c);
                double upper = tl + (tr - tl) * fx, lower = bl + (br - bl) * fx;
                dst[((size_t)y * (size_t)dst_w + (size_t)x) * (size_t)channels + (size_t)c] =
                    (float)(upper + (lower - upper) * fy);
            }
        }
    }
}

/* ------------------------------------------------------------------ nearest and area */

/* The source samples that make up each output index along one axis, with weights summing
 * to 1: taps[i * max_taps + k] for k < count[i]. */
typedef struct axis_taps {
    int max_taps;
    int *count;
    int *index;
    double *weight;
} axis_taps;

static void axis_taps_build(axis_taps *t, int src, int dst, cnnrt_resize_mode mode)
{
    /* Enlarging with "area" is nearest: every output pixel lies inside one source pixel
     * (up to the edges), and a sharp enlargement is what one wants for a digit. */
    int area = mode == CNNRT_RESIZE_AREA && src > dst;
    int bilinear = mode == CNNRT_RESIZE_BILINEAR;
    t->max_taps = area ? (int)ceil((double)src / dst) + 1 : bilinear ? 2 : 1;
    t->count = cnnrt_xcalloc((size_t)dst, sizeof *t->count);
    t->index = cnnrt_xcalloc((size_t)dst * (size_t)t->max_taps, sizeof *t->index);
    t->weight = cnnrt_xcalloc((size_t)dst * (size_t)t->max_taps, sizeof *t->weight);
    for (int i = 0; i < dst; i++) {
        int *index = t->index + (size_t)i * (size_t)t->max_taps;
        double *weight = t->weight + (size_t)i * (size_t)t->max_taps;
        if (bilinear) {
            /* The sampling positions and weights of cnnrt_resize_bilinear. */
            int left, right;
            double frac;
            bilinear_tap(i, src, dst, &left, &right, &frac);
            index[0] = left;
            weight[0] = 1.0 - frac;
            index[1] = right;
            weight[1] = frac;
            t->count[i] = 2;
            continue;
        }
        if (!area) {
            /* floor((i + 0.5) * src / dst) in exact integer arithmetic. */
            index[0] = (int)(((2 * (int64_t)i + 1) * src) / (2 * (int64_t)dst));
            weight[0] = 1.0;
            t->count[i] = 1;
            continue;
        }
        double start = (double)i * src / dst, end = (double)(i + 1) * src / dst;
        double span = end - start;
        int n = 0;
        for (int j = (int)floor(start); j < src && (double)j < end && n < t->max_taps; j++) {
            double overlap = fmin(end, (double)j + 1.0) - fmax(start, (double)j);
            if (overlap <= 1e-12)
                continue;
            index[n] = j;
            weight[n] = overlap / span;
            n++;
        }
        t->count[i] = n;
    }
}

static void axis_taps_free(axis_taps *t)
{
    free(t->count);
    free(t->index);
    free(t->weight);
}

/* Resamples src to dst_w x dst_h, as floats on the 0..255 scale (no rounding yet). */
static void resample_to_floats(const cnnrt_image *src, int dst_w, int dst_h,
                               cnnrt_resize_mode mode, float *out)
{
    axis_taps xs, ys;
    axis_taps_build(&xs, src->width, dst_w, mode);
    axis_taps_build(&ys, src->height, dst_h, mode);
    int ch = src->channels;
    for (int y = 0; y < dst_h; y++) {
        for (int x = 0; x < dst_w; x++) {
            double sum[3] = {0.0, 0.0, 0.0};
            for (int a = 0; a < ys.count[y]; a++) {
                int sy = ys.index[(size_t)y * (size_t)ys.max_taps + (size_t)a];
                double wy = ys.weight[(size_t)y * (size_t)ys.max_taps + (size_t)a];
                const uint8_t *row = src->pixels + (size_t)sy * (size_t)src->width * (size_t)ch;
                for (int b = 0; b < xs.count[x]; b++) {
                    int sx = xs.index[(size_t)x * (size_t)xs.max_taps + (size_t)b];
                    double w = wy * xs.weight[(size_t)x * (size_t)xs.max_taps + (size_t)b];
                    for (int c = 0; c < ch; c++)
                        sum[c] += w * row[(size_t)sx * (size_t)ch + (size_t)c];
                }
            }
            for (int c = 0; c < ch; c++)
                out[((size_t)y * (size_t)dst_w + (size_t)x) * (size_t)ch + (size_t)c] =
                    (float)sum[c];
        }
    }
    axis_taps_free(&xs);
    axis_taps_free(&ys);
}

int cnnrt_image_resize(const cnnrt_image *src, int width, int height, cnnrt_resize_mode mode,
                       cnnrt_image *dst, cnnrt_err *e)
{
    if (cnnrt_image_create(dst, width, height, src->channels, e))
        return -1;
    size_t count = (size_t)width * (size_t)height * (size_t)src->channels;
    float *values = cnnrt_xmalloc(count * sizeof *values);
    resample_to_floats(src, width, height, mode, values);
    for (size_t i = 0; i < count; i++) {
        float v = values[i];
        dst->pixels[i] = (uint8_t)(v <= 0.0f ? 0 : v >= 255.0f ? 255 : lrintf(v));
    }
    free(values);
    return 0;
}

int cnnrt_image_scale_up(const cnnrt_image *src, int factor, cnnrt_image *dst, cnnrt_err *e)
{
    memset(dst, 0, sizeof *dst);
    if (factor < 1)
        return cnnrt_fail(e, "image scale factor %d: must be at least 1", factor);
    if ((long)src->width * factor > CNNRT_IMAGE_MAX_SIDE ||
        (long)src->height * factor > CNNRT_IMAGE_MAX_SIDE)
        return cnnrt_fail(e, "image %dx%d scaled %d times is too large", src->width,
                          src->height, factor);
    if (cnnrt_image_create(dst, src->width * factor, src->height * factor, src->channels, e))
        return -1;
    size_t ch = (size_t)src->channels;
    for (int y = 0; y < dst->height; y++) {
        const uint8_t *src_row = src->pixels + (size_t)(y / factor) * (size_t)src->width * ch;
        uint8_t *dst_row = dst->pixels + (size_t)y * (size_t)dst->width * ch;
        for (int x = 0; x < dst->width; x++)
            memcpy(dst_row + (size_t)x * ch, src_row + (size_t)(x / factor) * ch, ch);
    }
    return 0;
}

/* ------------------------------------------------------------------ model inputs */

int cnnrt_image_to_input(const cnnrt_image *img, int height, int width, int channels,
                         cnnrt_resize_mode mode, float *out, cnnrt_err *e)
{
    if (height < 1 || width < 1 || (channels != 1 && channels != 3))
        return cnnrt_fail(e, "model input %dx%dx%d: only 1 (gray) or 3 (RGB) channels and a "
                             "positive size are supported",
                          height, width, channels);
    if (!img->pixels)
        return cnnrt_fail(e, "cannot make a model input from an empty image");
    cnnrt_image converted;
    if (cnnrt_image_convert(img, channels, &converted, e))
        return -1;
    resample_to_floats(&converted, width, height, mode, out);
    size_t count = (size_t)width * (size_t)height * (size_t)channels;
    for (size_t i = 0; i < count; i++) {
        float v = out[i] / 255.0f;
        out[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    }
    cnnrt_image_free(&converted);
    return 0;
}

/* ------------------------------------------------------------------ MNIST-style digits */

/* Mean of the outermost ring of pixels of a gray image: the paper's (background) level. */
static double border_mean(const cnnrt_image *gray)
{
    double sum = 0.0;
    long count = 0;
    for (int y = 0; y < gray->height; y++) {
        int edge_row = y == 0 || y == gray->height - 1;
        int step = edge_row || gray->width == 1 ? 1 : gray->width - 1;
        for (int x = 0; x < gray->width; x += step) {
            sum += gray->pixels[(size_t)y * (size_t)gray->width + (size_t)x];
            count++;
        }
    }
    return count ? sum / (double)count : 0.0;
}

/* The contrast-stretched crop of the ink, as floats 0..255 (crop_w x crop_h). Returns
 * NULL when the picture has no ink to speak of. */
static float *crop_ink(const cnnrt_image *gray, int *crop_w, int *crop_h)
{
    double background = border_mean(gray);
    uint8_t brightest = 0;
    size_t count = (size_t)gray->width * (size_t)gray->height;
    for (size_t i = 0; i < count; i++)
        brightest = gray->pixels[i] > brightest ? gray->pixels[i] : brightest;
    double range = brightest - background;
    if (range < 16.0)
        return NULL;
    double threshold = background + 0.35 * range;
    int x0 = gray->width, y0 = gray->height, x1 = -1, y1 = -1;
    for (int y = 0; y < gray->height; y++)
        for (int x = 0; x < gray->width; x++)
            if (gray->pixels[(size_t)y * (size_t)gray->width + (size_t)x] > threshold) {
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
            }
    if (x1 < 0)
        return NULL;
    *crop_w = x1 - x0 + 1;
    *crop_h = y1 - y0 + 1;
    float *crop = cnnrt_xmalloc(sizeof *crop * (size_t)*crop_w * (size_t)*crop_h);
    for (int y = 0; y < *crop_h; y++)
        for (int x = 0; x < *crop_w; x++) {
            double v = gray->pixels[(size_t)(y0 + y) * (size_t)gray->width + (size_t)(x0 + x)];
            /* 0 at the paper, 1 at the darkest ink; the lowest 15% is paper grain and
             * shadow, and goes to black like MNIST's background. */
            v = ((v - background) / range - 0.15) / 0.85 * 255.0;
            crop[(size_t)y * (size_t)*crop_w + (size_t)x] =
                (float)(v < 0.0 ? 0.0 : v > 255.0 ? 255.0 : v);
        }
    return crop;
}

/* Resizes a float crop: area average when shrinking (so thin strokes survive), bilinear
 * when enlarging (so a small crop does not turn blocky). */
static void resize_crop(const float *crop, int cw, int ch, float *dst, int dw, int dh)
{
    if (dw > cw || dh > ch) {
        cnnrt_resize_bilinear(crop, ch, cw, 1, dst, dh, dw);
        return;
    }
    axis_taps xs, ys;
    axis_taps_build(&xs, cw, dw, CNNRT_RESIZE_AREA);
    axis_taps_build(&ys, ch, dh, CNNRT_RESIZE_AREA);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            double sum = 0.0;
            for (int a = 0; a < ys.count[y]; a++)
                for (int b = 0; b < xs.count[x]; b++) {
                    size_t ta = (size_t)y * (size_t)ys.max_taps + (size_t)a;
                    size_t tb = (size_t)x * (size_t)xs.max_taps + (size_t)b;
                    sum += ys.weight[ta] * xs.weight[tb] *
                           crop[(size_t)ys.index[ta] * (size_t)cw + (size_t)xs.index[tb]];
                }
            dst[(size_t)y * (size_t)dw + (size_t)x] = (float)sum;
        }
    axis_taps_free(&xs);
    axis_taps_free(&ys);
}

int cnnrt_digit_to_input(const cnnrt_image *img, int height, int width, float *out,
                         cnnrt_err *e)
{
    if (height < 1 || width < 1)
        return cnnrt_fail(e, "model input %dx%d: the size must be positive", height, width);
    if (!img->pixels)
        return cnnrt_fail(e, "cannot make a model input from an empty image");
    cnnrt_image gray;
    if (cnnrt_image_convert(img, 1, &gray, e))
        return -1;
    int cw = 0, ch = 0;
    float *crop = crop_ink(&gray, &cw, &ch);
    if (!crop) {
        int rc = cnnrt_image_to_input(&gray, height, width, 1, CNNRT_RESIZE_AREA, out, e);
        cnnrt_image_free(&gray);
        return rc;
    }
    cnnrt_image_free(&gray);

    /* MNIST: the longer side of the digit becomes 20 of 28 pixels. */
    double box_w = width * 20.0 / 28.0, box_h = height * 20.0 / 28.0;
    double s = fmin(box_w / cw, box_h / ch);
    int dw = (int)lround(cw * s), dh = (int)lround(ch * s);
    dw = dw < 1 ? 1 : dw > width ? width : dw;
    dh = dh < 1 ? 1 : dh > height ? height : dh;
    float *digit = cnnrt_xmalloc(sizeof *digit * (size_t)dw * (size_t)dh);
    resize_crop(crop, cw, ch, digit, dw, dh);
    free(crop);

    /* Centre of mass of the scaled digit, in its own pixel coordinates (pixel centres). */
    double mass = 0.0, mx = 0.0, my = 0.0;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            double v = digit[(size_t)y * (size_t)dw + (size_t)x];
            mass += v;
            mx += v * (x + 0.5);
            my += v * (y + 0.5);
        }
    int left = (int)lround(width / 2.0 - (mass > 0 ? mx / mass : dw / 2.0));
    int top = (int)lround(height / 2.0 - (mass > 0 ? my / mass : dh / 2.0));
    memset(out, 0, sizeof *out * (size_t)width * (size_t)height);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            int ox = left + x, oy = top + y;
            if (ox < 0 || oy < 0 || ox >= width || oy >= height)
                continue;
            float v = digit[(size_t)y * (size_t)dw + (size_t)x] / 255.0f;
            out[(size_t)oy * (size_t)width + (size_t)ox] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
    free(digit);
    return 0;
}
