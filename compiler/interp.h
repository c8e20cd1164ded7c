/* The reference interpreter: runs any graph (forward, training, Grad-CAM) with naive,
 * obviously correct loops, one image at a time, node by node, every value in its own
 * buffer. It is the oracle the generated code is tested against, and `cnnc --interpret`.
 * Nothing here is fast on purpose. */
#ifndef CNNC_INTERP_H
#define CNNC_INTERP_H

#include <stdint.h>
#include "graph.h"

/* What one image's run needs besides the inputs (read by the op kernels). */
typedef struct cnnc_interp_ctx {
    int training;          /* DROPOUT drops (train graph) or passes through (inference) */
    uint64_t seed;         /* dropout masks: cnnrt_dropout_keep(seed, layer, image, elem) */
    int64_t image;         /* index of the image in the batch */
    int score_mode;        /* CNNRT_SCORE_LOGIT / CNNRT_SCORE_SOFTMAX for CLASS_SCORE_GRAD */
    int label;             /* the image's class (LABEL node), -1 = predicted */
    float *const *args;    /* update programs: the ARG nodes' values, by attrs.param */
} cnnc_interp_ctx;

/* Runs every node of g for one image. values[i] receives node i's output
 * (cnnc_shape_size(nodes[i].shape) floats), allocated by the caller or by
 * cnnc_interp_alloc_values. PARAM nodes read from params (the flat weights buffer). */
int cnnc_interp_run_image(const cnnc_graph *g, const float *params, const float *image,
                          const cnnc_interp_ctx *ctx, float **values, cnnc_diag *d);
float **cnnc_interp_alloc_values(const cnnc_graph *g);
/* Runs every node of g for n images at once, node by node (each node for every image
 * before the next node): what a graph with BATCH_MEAN (batch_norm in training) needs.
 * values[b] and ctxs[b] are image b's; x holds the n images. */
int cnnc_interp_run_batch(const cnnc_graph *g, const float *params, const float *x,
                          int64_t n, const cnnc_interp_ctx *ctxs, float ***values,
                          cnnc_diag *d);
void cnnc_interp_free_values(const cnnc_graph *g, float **values);

/* Batch programs with the same meaning as the generated entry points (cnnrt_model.h). */
int cnnc_interp_infer(const cnnc_graph *forward, const float *params, const float *x,
                      int64_t n, float *probs, float *logits, cnnc_diag *d);
/* One training step on a training graph (cnnc_build_train_graph): gradients summed over
 * the batch in image order, divided by n, then the optimizer of g->train, then the moving
 * statistics of batch_norm layers (CNNC_OUT_MOVING_STAT) moved towards the batch's. opt_state as in
 * cnnrt_model.h (Adam: m then v). stats[0] = loss sum, stats[1] = correct count. */
int cnnc_interp_train_step(const cnnc_graph *train, float *params, float *opt_state,
                           const float *x, const int32_t *labels, int64_t n, int64_t step,
                           float lr, uint64_t seed, float *stats, cnnc_diag *d);
/* Runs an update program (optimizers.h) on its arguments: args[i] holds argument i, and
 * each CNNC_OUT_UPDATED output is written back into its argument. */
int cnnc_interp_update(const cnnc_graph *update, float *const *args, cnnc_diag *d);
/* Grad-CAM on a graph of cnnc_build_cam_graph, as cnnrt_cam_fn (cnnrt_model.h): target
 * is the index of the target layer among the graph's targets, method a cnnrt_cam_method,
 * score_mode a cnnrt_score_mode. classes may be NULL (every image's predicted class);
 * map_max and probs may be NULL. */
int cnnc_interp_gradcam(const cnnc_graph *cam, const float *params, const float *x,
                        const int32_t *classes, int64_t n, int target, int method,
                        int score_mode, float *maps, float *map_max, float *probs,
                        cnnc_diag *d);
/* Guided backpropagation on a graph of cnnc_build_guided_graph, as cnnrt_guided_fn. */
int cnnc_interp_guided(const cnnc_graph *guided, const float *params, const float *x,
                       const int32_t *classes, int64_t n, int score_mode, float *input_grads,
                       float *probs, cnnc_diag *d);

/* Initial weights: use cnnrt_init_params (runtime/cnnrt_info.h), the very function the
 * generated programs use, after cnnc_param_descs() converts the graph's params. */

#endif
