/* BatchNormalization (Keras's BatchNormalization, axis = the channels, the last axis).
 *
 * A batch_norm layer is built from primitives and the one cross-image op, BATCH_MEAN
 * (graph.h). For x of shape [..., C] and the axes `ax` = all but the last:
 *
 *     mu  = BATCH_MEAN(reduce_mean(x, ax), moving_mean)        [C]
 *     xc  = x - mu
 *     var = BATCH_MEAN(reduce_mean(square(xc), ax), moving_variance)
 *     y   = xc * (gamma / sqrt(var + epsilon)) + beta
 *
 * In training BATCH_MEAN is the mean over the batch's images, so mu and var are the
 * batch's mean and biased variance over all its pixels (as Keras computes them), and the
 * training step moves each moving statistic towards it (CNNC_OUT_MOVING_STAT). In
 * inference it is the moving statistic itself, the reductions are dead, and y is a
 * per-channel affine map of x -- which cnnc_build_infer_graph folds into the conv2d or
 * dense before it. Autodiff differentiates through BATCH_MEAN (its gradient is the batch
 * mean of the incoming gradient), so the backward pass of the normalisation, with its
 * batch sums of dy and dy*xhat, is derived rather than written by hand. */
#ifndef CNNC_BATCH_NORM_H
#define CNNC_BATCH_NORM_H

#include "graph.h"

/* Keras's defaults: momentum 0.99, epsilon 1e-3, center and scale on. */
typedef struct cnnc_bn_settings {
    double momentum, epsilon;
    int center, scale;
} cnnc_bn_settings;

/* Adds the weights (gamma, beta, moving_mean, moving_variance, in Keras's order; gamma
 * without scale and beta without center are left out) and the nodes of a batch_norm
 * layer over x. Returns its output node, or -1 after reporting through d. */
int cnnc_build_batch_norm(cnnc_graph *g, cnnc_diag *d, int x, const cnnc_bn_settings *s,
                          const char *layer_name, int layer, cnnc_loc loc);

/* Whether g has a BATCH_MEAN (its training step needs the whole batch at once). */
int cnnc_graph_has_batch_ops(const cnnc_graph *g);

/* The inference graph of a forward graph: every batch_norm layer uses its moving
 * statistics and, where it directly follows a conv2d or dense with no activation whose
 * output nothing else reads, is folded into it (kernel * s, (bias - moving_mean) * s +
 * beta with s = gamma / sqrt(moving_variance + epsilon), computed from the weights by
 * nodes that read no image); elsewhere it is the affine map x * s + (beta - mean * s).
 * Layers keep their indices; a folded conv2d/dense layer's output is the folded node
 * (the normalised values). A graph without batch_norm is copied unchanged. Returns NULL
 * after reporting through d. */
cnnc_graph *cnnc_build_infer_graph(const cnnc_graph *forward, cnnc_diag *d);

#endif
