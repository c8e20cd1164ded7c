/* A coloured heatmap laid over an image: the keras.io recipe's additive blend, and a
 * convex one. See cnnrt_image.h. */
#include "cnnrt_image.h"

#include <math.h>
#include <stdlib.h>

int cnnrt_overlay(const cnnrt_image *heat, const cnnrt_image *image, cnnrt_overlay_mode mode,
                  float amount, cnnrt_image *out, cnnrt_err *e)
{
    if (heat->channels != 3)
        return cnnrt_fail(e, "overlay: the heatmap must be an RGB image (it has %d channel)",
                          heat->channels);
    if (heat->width != image->width || heat->height != image->height)
        return cnnrt_fail(e, "overlay: heatmap %dx%d and image %dx%d differ in size",
                          heat->width, heat->height, image->width, image->height);
    if (!(amount >= 0.0f) || !isfinite(amount))
        return cnnrt_fail(e, "overlay: weight %g must be a finite number >= 0", (double)amount);
    if (mode == CNNRT_OVERLAY_CONVEX && amount > 1.0f)
        return cnnrt_fail(e, "overlay: image weight %g must be between 0 and 1",
                          (double)amount);
    if (cnnrt_image_create(out, heat->width, heat->height, 3, e))
        return -1;

    size_t count = (size_t)heat->width * (size_t)heat->height;
    size_t image_ch = (size_t)image->channels;
    if (mode == CNNRT_OVERLAY_CONVEX) {
        for (size_t i = 0; i < count; i++) {
            for (size_t c = 0; c < 3; c++) {
                float h = heat->pixels[3 * i + c];
                float v = image->pixels[i * image_ch + (image_ch == 3 ? c : 0)];
                float mixed = (1.0f - amount) * h + amount * v;
                out->pixels[3 * i + c] = (uint8_t)(mixed >= 255.0f ? 255 : lrintf(mixed));
            }
        }
        return 0;
    }

    /* Additive: superimposed = heat * alpha + image in float32, as numpy does it with
     * Keras's float32 arrays; then array_to_img(scale=True). */
    float *sum = cnnrt_xmalloc(count * 3 * sizeof *sum);
    float lowest = INFINITY, highest = -INFINITY;
    for (size_t i = 0; i < count; i++) {
        for (size_t c = 0; c < 3; c++) {
            float v = (float)heat->pixels[3 * i + c] * amount +
                      (float)image->pixels[i * image_ch + (image_ch == 3 ? c : 0)];
            sum[3 * i + c] = v;
            lowest = fminf(lowest, v);
            highest = fmaxf(highest, v);
        }
    }
    /* array_to_img: x = x + max(-min(x), 0); x /= max(x) if max(x) != 0; x *= 255;
     * astype("uint8") truncates. */
    float shift = lowest < 0.0f ? -lowest : 0.0f;
    float top = highest + shift;
    for (size_t i = 0; i < count * 3; i++) {
        float v = sum[i] + shift;
        if (top != 0.0f)
            v /= top;
        v *= 255.0f;
        out->pixels[i] = (uint8_t)(v >= 255.0f ? 255 : v <= 0.0f ? 0 : (int)v);
    }
    free(sum);
    return 0;
}
