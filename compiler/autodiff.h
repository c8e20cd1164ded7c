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

/* The per-image Grad-CAM graph for target layer `layer` (index into forward->layers; must
 * have a spatial [H,W,C] output): forward, LABEL (the class, or -1 for the predicted one),
 * CLASS_SCORE_GRAD on the logits, backward from it to the layer's output A giving dA, and
 * CAM(A, dA) with the method (the raw weighted sum before ReLU). For
 * CNNC_CAM_GUIDED the backward continues to the input with guided ReLU gradients.
 * Outputs: CNNC_OUT_PROBS, CNNC_OUT_LOGITS, CNNC_OUT_CAM, and CNNC_OUT_INPUT_GRAD (guided).
 * Score mode (logit or softmax) is chosen at run time, not here. */
cnnc_graph *cnnc_build_cam_graph(const cnnc_graph *forward, int layer,
                                 cnnc_cam_method method, cnnc_diag *d);

/* The default Grad-CAM target: the model file's `gradcam layer=`, else the last layer with
 * a spatial output; -1 if the model has none. */
int cnnc_default_cam_layer(const cnnc_graph *forward);

#endif
