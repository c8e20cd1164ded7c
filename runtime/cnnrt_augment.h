/* Keras's augmentation layers (RandomFlip, RandomTranslation, RandomRotation, RandomZoom,
 * RandomContrast, RandomBrightness), applied by `train` to each picture of a batch after it
 * is read and before the training step; never in predict, evaluate or gradcam (Keras's
 * layers are the identity outside training, and the compiled graphs do not contain them).
 *
 * Why here and not in the generated step: they act on the input picture only, need no
 * gradient, and are a few passes over the picture in plain C, so the runtime's batch
 * preparation is the simplest place that is obviously right (the interpreter and the
 * Grad-CAM graphs stay untouched), and it costs little beside the step (docs/guide.md).
 *
 * Randomness: picture k of optimizer step s draws its numbers from
 * cnnrt_augment_seed(seed, s, k), in the layers' order, so a run is the same for a seed
 * whatever the thread count and however it was interrupted and resumed.
 *
 * Keras's values: a factor f means a random amount in [-f, f] (Keras's (lower, upper) pairs
 * are not offered); pictures are floats in [0, 1], so value ranges are [0, 1]. */
#ifndef CNNRT_AUGMENT_H
#define CNNRT_AUGMENT_H

#include <stdint.h>
#include "cnnrt_common.h"

typedef enum {
    CNNRT_AUG_FLIP, CNNRT_AUG_TRANSLATION, CNNRT_AUG_ROTATION, CNNRT_AUG_ZOOM,
    CNNRT_AUG_CONTRAST, CNNRT_AUG_BRIGHTNESS
} cnnrt_aug_kind;

typedef enum { CNNRT_FILL_REFLECT, CNNRT_FILL_WRAP, CNNRT_FILL_CONSTANT, CNNRT_FILL_NEAREST }
    cnnrt_fill_mode;

typedef struct cnnrt_aug_layer {
    cnnrt_aug_kind kind;
    int flip_horizontal, flip_vertical;     /* random_flip mode= */
    double height_factor, width_factor;     /* translation, zoom; width < 0: zoom keeps the
                                               aspect ratio (Keras's width_factor=None) */
    double factor;                          /* rotation (of a full turn), contrast, brightness */
    cnnrt_fill_mode fill_mode;              /* reflect */
    int nearest;                            /* interpolation=nearest (else bilinear) */
    double fill_value;                      /* fill_mode=constant */
} cnnrt_aug_layer;

enum { CNNRT_MAX_AUG_LAYERS = 16 };

typedef struct cnnrt_augment {
    int num_layers;
    cnnrt_aug_layer layers[CNNRT_MAX_AUG_LAYERS];
} cnnrt_augment;

/* Reads the "random_*" statements of the descriptor's text (others are skipped). */
int cnnrt_augment_parse(const char *text, const char *origin, cnnrt_augment *aug,
                        cnnrt_err *e);
/* "random_flip, random_rotation" into buf ("" when none). */
void cnnrt_augment_describe(const cnnrt_augment *aug, char *buf, size_t size);

uint64_t cnnrt_augment_seed(uint64_t seed, int64_t step, int64_t image);

/* Applies every layer to one h x w x c picture in place, drawing from *rng (each layer its
 * amounts, in order). Consecutive geometric layers (flip, translation, rotation, zoom) with
 * the same fill keys are composed into one map and resampled once: the same picture as the
 * layers one after another, except that it is interpolated once (sharper) and that what
 * comes from outside is filled from the original picture. scratch: room for h * w * c
 * floats. */
void cnnrt_augment_image(const cnnrt_augment *aug, float *x, int64_t h, int64_t w, int64_t c,
                         uint64_t *rng, float *scratch);

/* An affine map of picture coordinates p = (y, x) about the centre c = ((h-1)/2, (w-1)/2):
 * the output pixel p reads the input at c + a (p - c) + b. */
typedef struct cnnrt_affine {
    double a[2][2];
    double b[2];
} cnnrt_affine;

/* The transforms with given amounts, for the tests and for cnnrt_augment_image:
 *   flip: horizontal (left-right) and/or vertical;
 *   affine: out(y, x) = in(source), source = centre + zoom * R(-angle) * (p - centre) - shift
 *   (angle in radians, positive counter-clockwise; zoom > 1 zooms out; shift in pixels);
 *   contrast: (x - mean of its channel) * factor + mean, clipped to [0, 1];
 *   brightness: x + delta, clipped to [0, 1]. */
void cnnrt_augment_flip(float *x, int64_t h, int64_t w, int64_t c, int horizontal,
                        int vertical);
void cnnrt_augment_affine(const float *in, float *out, int64_t h, int64_t w, int64_t c,
                          double shift_y, double shift_x, double angle, double zoom_y,
                          double zoom_x, const cnnrt_aug_layer *fill);
/* One resampling with any map (bilinear or nearest, fill as `fill` says): what
 * cnnrt_augment_image does once for consecutive geometric layers, composed. */
void cnnrt_augment_resample(const float *in, float *out, int64_t h, int64_t w, int64_t c,
                            const cnnrt_affine *map, const cnnrt_aug_layer *fill);
void cnnrt_augment_contrast(float *x, int64_t h, int64_t w, int64_t c, double factor);
void cnnrt_augment_brightness(float *x, int64_t n, double delta);

#endif
