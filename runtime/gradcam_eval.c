/* `PROG gradcam --evaluate`: is the heatmap faithful to what the network uses?
 *
 * Two measures, each beside the same measure for a random map (so the numbers mean
 * something):
 *   - deletion AUC (Petsiuk et al. 2018): pixels are removed (set to 0, i.e. black, the
 *     MNIST background) in order of decreasing heatmap value, DELETION_STEPS times 1/20 of
 *     the image; after each step the model's softmax probability of the explained class is
 *     measured. The area under that curve (trapezoids, x from 0 to 1) is low when the map's
 *     top pixels really are the ones the class depends on. Lower is better.
 *   - energy inside the digit: the share of the (upsampled) map's total inside the digit's
 *     pixels (value > 0.5, the mean over channels), against the digit's share of the image.
 *     A map that ignores the digit lands near the digit's share; a map on the digit above it.
 * The random map is uniform noise, one per image, from SplitMix64 seeded by the model's seed
 * and the image number, so the report is the same every run. */
#include "gradcam_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { DELETION_STEPS = 20 };

static int by_value_desc(const void *a, const void *b)
{
    const cam_ranked *x = a, *y = b;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

void cnnrt_cam_sort_ranked_desc(cam_ranked *items, int64_t n)
{
    qsort(items, (size_t)n, sizeof *items, by_value_desc);
}

/* Deletion AUC of one image with one map (H*W values). */
static double deletion_auc(const prog_ctx *ctx, const float *image, const float *map, int cls,
                           const float *params, const prog_exec *ex)
{
    const cnnrt_model *m = ctx->model;
    int64_t pixels = m->input_h * m->input_w, c = m->input_c, k = m->num_classes;
    cam_ranked *rank = cnnrt_xmalloc((size_t)pixels * sizeof *rank);
    for (int64_t p = 0; p < pixels; p++)
        rank[p] = (cam_ranked){isfinite(map[p]) ? map[p] : 0.0f, p};
    cnnrt_cam_sort_ranked_desc(rank, pixels);
    /* All DELETION_STEPS + 1 variants in one batch: variant s has the top s/20 removed. */
    int64_t variants = DELETION_STEPS + 1;
    float *x = cnnrt_aligned_alloc((size_t)(variants * pixels * c) * sizeof *x);
    float *probs = cnnrt_xmalloc((size_t)(variants * k) * sizeof *probs);
    for (int64_t s = 0; s < variants; s++) {
        float *v = x + s * pixels * c;
        memcpy(v, image, (size_t)(pixels * c) * sizeof *v);
        int64_t removed = (pixels * s + DELETION_STEPS / 2) / DELETION_STEPS;
        for (int64_t r = 0; r < removed; r++)
            memset(v + rank[r].index * c, 0, (size_t)c * sizeof *v);
    }
    m->infer(params, x, variants, probs, NULL, ex->ws, ex->pool);
    double area = 0;
    for (int64_t s = 0; s < DELETION_STEPS; s++)
        area += 0.5 * (probs[s * k + cls] + probs[(s + 1) * k + cls]) / DELETION_STEPS;
    free(rank);
    free(x);
    free(probs);
    return area;
}

/* Share of the map's total inside the digit; -1 when the map is all zero. */
static double energy_inside(const float *image, int64_t pixels, int64_t c, const float *map,
                            double *digit_share)
{
    double inside = 0, total = 0;
    int64_t digit = 0;
    for (int64_t p = 0; p < pixels; p++) {
        double mean = 0;
        for (int64_t k = 0; k < c; k++)
            mean += image[p * c + k];
        int is_digit = mean / (double)c > 0.5;
        double v = map[p] > 0 ? map[p] : 0;
        digit += is_digit;
        total += v;
        inside += is_digit ? v : 0;
    }
    *digit_share = (double)digit / (double)pixels;
    return total > 0 ? inside / total : -1;
}

static void random_map(uint64_t seed, int64_t image, int64_t pixels, float *out)
{
    uint64_t state = cnnrt_mix64(seed ^ cnnrt_mix64((uint64_t)image + 0x5EED));
    for (int64_t p = 0; p < pixels; p++) {
        state += 0x9E3779B97F4A7C15ull;
        out[p] = (float)(cnnrt_mix64(state) >> 40) * (1.0f / 16777216.0f);
    }
}

void cnnrt_cam_faithfulness_measure(const cam_batch *b, const prog_ctx *ctx, const float *params,
                              const prog_exec *ex, uint64_t seed, cam_faithfulness *f)
{
    const cnnrt_model *m = ctx->model;
    int64_t pixels = m->input_h * m->input_w, c = m->input_c;
    float *noise = cnnrt_xmalloc((size_t)pixels * sizeof *noise);
    memset(f, 0, sizeof *f);
    for (int64_t i = 0; i < b->n; i++) {
        const float *image = b->x + i * pixels * c, *map = b->big_maps + i * pixels;
        random_map(seed, i, pixels, noise);
        f->auc_cam += deletion_auc(ctx, image, map, b->explained[i], params, ex);
        f->auc_random += deletion_auc(ctx, image, noise, b->explained[i], params, ex);
        double share, share_random;
        double energy = energy_inside(image, pixels, c, map, &share);
        double energy_random = energy_inside(image, pixels, c, noise, &share_random);
        f->images++;
        if (energy < 0) {
            f->zero_maps++;
            continue;
        }
        f->energy_cam += energy;
        f->energy_random += energy_random;
        f->digit_share += share;
        f->energy_images++;
    }
    free(noise);
}

void cnnrt_cam_evaluate_print(const cam_batch *b, const prog_ctx *ctx, const cam_choice *choice,
                        const float *params, const prog_exec *ex, uint64_t seed)
{
    cam_faithfulness s;
    cnnrt_cam_faithfulness_measure(b, ctx, params, ex, seed, &s);
    double n = (double)s.images, ne = s.energy_images > 0 ? (double)s.energy_images : 1;
    printf("\nHow faithful is %s on layer %s? %lld %s, class: %s\n\n",
           cnnrt_cam_method_name(choice->method), choice->target->name, (long long)s.images,
           s.images == 1 ? "image" : "images", b->classes[0] >= 0 ? "the one given by --class"
                                                                 : "the predicted one");
    printf("                                      %-10s  random map\n",
           cnnrt_cam_method_name(choice->method));
    printf("  deletion AUC (lower is better)      %6.3f      %6.3f\n", s.auc_cam / n,
           s.auc_random / n);
    if (s.energy_images > 0) {
        printf("  heatmap energy inside the digit     %5.1f%%      %5.1f%%\n",
               100 * s.energy_cam / ne, 100 * s.energy_random / ne);
        printf("  the digit's share of the image      %5.1f%%      %5.1f%%\n",
               100 * s.digit_share / ne, 100 * s.digit_share / ne);
    }
    if (s.zero_maps > 0)
        printf("  (%lld of %lld maps were all zero -- no positive evidence -- and are left out "
               "of the energy figures)\n", (long long)s.zero_maps, (long long)s.images);
    printf("\nWhat good looks like: removing the pixels the heatmap marks first should make the "
           "class's\nprobability fall fast (a deletion AUC well below the random map's), and "
           "the heatmap's energy\nshould sit on the digit (well above the digit's share of the "
           "image).\n");
}
