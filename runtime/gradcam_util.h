/* Private to cmd_gradcam.c, gradcam_eval.c and cmd_report.c: a batch of images with their
 * Grad-CAM results, shared by the pictures, the faithfulness measures and the report. Not
 * installed. */
#ifndef CNNRT_GRADCAM_UTIL_H
#define CNNRT_GRADCAM_UTIL_H

#include "program_util.h"

/* What `gradcam` computes: the target layer, the method and the score (cnnrt_vocab.h). */
typedef struct cam_choice {
    int64_t layer;                   /* index into model->cam_layers */
    const cnnrt_cam_layer *target;   /* model->cam_layers + layer */
    int64_t method;                  /* cnnrt_cam_method */
    int64_t score_mode;              /* cnnrt_score_mode */
} cam_choice;

/* The index of a Grad-CAM target layer in model->cam_layers, or -1. */
int64_t cnnrt_cam_layer_index(const cnnrt_model *m, const char *name);
/* The model file's gradcam layer if Grad-CAM can target it, else the last target layer. */
const char *cnnrt_cam_default_layer(const prog_ctx *ctx);

/* Images to explain, and what the compiled Grad-CAM function returned for them. */
typedef struct cam_batch {
    int64_t n;
    float *x;              /* n * H*W*C model inputs */
    int32_t *true_labels;  /* n, -1 when unknown (the user's own picture) */
    char (*names)[256];    /* n, "test image 7" or the file name, for messages */
    int32_t *classes;      /* n, -1 = explain the predicted class (input to the entry) */
    /* results */
    float *maps;           /* n * h*w, normalised to [0,1] */
    float *map_max;        /* n */
    float *probs;          /* n * num_classes */
    float *input_grads;    /* n * H*W*C, guided method only */
    int32_t *explained;    /* n, the class each map explains */
    float *big_maps;       /* n * H*W, maps upsampled bilinearly to the input size */
} cam_batch;

void cnnrt_cam_batch_alloc(cam_batch *b, const prog_ctx *ctx, int64_t n, int guided);
void cnnrt_cam_batch_free(cam_batch *b);

/* Runs the model's gradcam (and for the guided method guided_backprop) on the batch
 * (b->x, b->classes) and fills the results. Returns -1 when the model refuses the choice. */
int cnnrt_cam_batch_run(cam_batch *b, const prog_ctx *ctx, const cam_choice *choice,
                  const float *params, const prog_exec *ex);

/* Faithfulness of the maps of a batch (gradcam_eval.c explains the measures): sums over
 * the images, each beside the same measure for a random map. */
typedef struct cam_faithfulness {
    int64_t images, energy_images, zero_maps;   /* zero maps are left out of the energy */
    double auc_cam, auc_random;                 /* deletion AUC, lower is better */
    double energy_cam, energy_random;           /* share of the map inside the digit */
    double digit_share;                         /* the digit's share of the image */
} cam_faithfulness;

void cnnrt_cam_faithfulness_measure(const cam_batch *b, const prog_ctx *ctx, const float *params,
                              const prog_exec *ex, uint64_t seed, cam_faithfulness *f);

/* `gradcam --evaluate`: deletion AUC and energy inside the digit against a random map,
 * printed as a table. */
void cnnrt_cam_evaluate_print(const cam_batch *b, const prog_ctx *ctx, const cam_choice *choice,
                        const float *params, const prog_exec *ex, uint64_t seed);

/* A value and what it belongs to (a pixel, a test image), for ranking. */
typedef struct cam_ranked {
    float value;
    int64_t index;
} cam_ranked;

/* Sorts by decreasing value, ties by increasing index, so the order is the same on every
 * machine (qsort is not stable). */
void cnnrt_cam_sort_ranked_desc(cam_ranked *items, int64_t n);

#endif
