/* Reverse-mode automatic differentiation as a graph transform: the backward graph is
 * derived symbolically from the forward graph, one gradient rule per op (the `grad`
 * column of the op table), before anything is lowered.
 *
 * Both builders return a NEW graph: a copy of the forward graph with the extra nodes
 * appended (so node ids of the forward part are unchanged) and the outputs set. On
 * failure (e.g. ops without a gradient rule -- all of them are reported, not just the
 * first) they report through d and return NULL. */
#ifndef CNNC_AUTODIFF_H
#define CNNC_AUTODIFF_H

#include "elementwise.h"
#include "graph.h"

/* Gradient rules replacing the elementwise table's for one derivation (a NULL entry keeps
 * the table's rule). Guided backpropagation is the table with CNNC_EW_RELU's rule
 * replaced by cnnc_guided_relu_grad. */
typedef struct cnnc_grad_overrides {
    cnnc_ew_grad_rule ew[CNNC_EW_COUNT];
} cnnc_grad_overrides;

/* The per-image training graph: forward (dropout active), a LABEL node, the loss
 * (softmax fused with categorical cross-entropy into SOFTMAX_XENT when the model ends in
 * softmax; MSE for loss=mse), and the backward nodes. Outputs: CNNC_OUT_LOSS,
 * CNNC_OUT_PROBS, one CNNC_OUT_PARAM_GRAD per parameter (in params order), and nothing for
 * the input image (its gradient is never computed). The optimizer update and the batch
 * mean are the program's job, described by g->train. */
cnnc_graph *cnnc_build_train_graph(const cnnc_graph *forward, cnnc_diag *d);
/* Whether that training graph computes the loss from the logits (SOFTMAX_XENT), which is
 * how evaluation must compute it too (cnnrt_model.train.loss_from_logits). */
int cnnc_train_loss_from_logits(const cnnc_graph *forward);

/* The per-image Grad-CAM graph of the target layers `layers` (indices into forward->layers,
 * in network order, each with a spatial [H,W,C] output): forward, LABEL (the class, or -1
 * for the predicted one), CLASS_SCORE_GRAD on the logits (the score mode, logit or
 * softmax, is chosen at run time), the backward pass down to the first target, and for
 * every target A and every method that is its own map (cam_methods.h) the method's map
 * nodes over (A, dA), appended as soon as dA is complete -- so that a run asking for one
 * target and one method can run the backward pass only down to that target and then only
 * that method's nodes (their cam_target and cam_method say which). Outputs: PROBS, LOGITS
 * and one CAM output per (target, method), the raw map before ReLU. */
cnnc_graph *cnnc_build_cam_graph(const cnnc_graph *forward, const int *layers, int num_layers,
                                 cnnc_diag *d);

/* Guided backpropagation: forward, LABEL, the same seed, and the backward pass to the
 * input image with every ReLU's gradient replaced by the guided rule. Outputs: PROBS,
 * LOGITS, INPUT_GRAD. */
cnnc_graph *cnnc_build_guided_graph(const cnnc_graph *forward, cnnc_diag *d);

/* The layers Grad-CAM can target, in network order: spatial outputs computed by the
 * network (not the input image). Writes at most forward->num_layers indices; returns the
 * count. */
int cnnc_cam_layers(const cnnc_graph *forward, int *layers);

/* The default Grad-CAM target: the model file's `gradcam layer=`, else the last layer with
 * a spatial output; -1 if the model has none. */
int cnnc_default_cam_layer(const cnnc_graph *forward);

#endif
