/* Grad-CAM methods as builders of primitive graph ops (see cam_methods.h and, for the
 * ops, elementwise.h). A is the target layer's output [H,W,C], dA the gradient of the
 * class score with respect to it; each builder returns the raw map [H,W]. Reductions name
 * their axes as bits: HW = the spatial axes (per channel: [H,W,C] -> [C]), C = the
 * channels ([H,W,C] -> [H,W]). A [C] operand of an elementwise op with an [H,W,C] one is
 * repeated over every position.
 *
 * What the score is: the gradient is of the logit z_c (--score logit) or of the softmax
 * output p_c (--score softmax); every method uses that gradient as it is. */
#include "cam_methods.h"

#include <stdio.h>
#include <string.h>

#include "elementwise.h"

enum { HW = 1u | 2u, C = 4u };

/* sum_c w_c A_c: the map of the methods that weight whole channels. */
static int weighted_channels(const cnnc_builder *b, int A, int w)
{
    return cnnc_reduce(b, CNNC_REDUCE_SUM, cnnc_mul(b, A, w), C);
}

/* x / y where y != 0, else 0 (the guard of a ratio that is undefined for y == 0; it does
 * not depend on the scale of x or y). */
static int ratio_or_zero(const cnnc_builder *b, int x, int y)
{
    int zero = cnnc_const(b, 0.0f);
    int is_zero = cnnc_ew2(b, CNNC_EW_EQUAL, y, zero);
    int safe = cnnc_select(b, is_zero, cnnc_const(b, 1.0f), y);
    return cnnc_select(b, is_zero, zero, cnnc_div(b, x, safe));
}

/* Grad-CAM (Selvaraju et al.): w_c = mean_hw dA; map = sum_c w_c A_c. */
static int build_gradcam(const cnnc_builder *b, int A, int dA)
{
    return weighted_channels(b, A, cnnc_reduce(b, CNNC_REDUCE_MEAN, dA, HW));
}

/* HiResCAM (Draelos & Carin): map = sum_c dA_c A_c, the gradient not pooled. */
static int build_hirescam(const cnnc_builder *b, int A, int dA)
{
    return cnnc_reduce(b, CNNC_REDUCE_SUM, cnnc_mul(b, A, dA), C);
}

/* Grad-CAM++ (Chattopadhyay et al., eq. 19): with g = dA,
 *   alpha = g^2 / (2 g^2 + sum_hw(A) g^3),   0 where that denominator is 0,
 *   w_c = sum_hw alpha relu(g),  map = sum_c w_c A_c.
 * The paper derives this closed form for the score exp(S) from the gradient g of S; here
 * S is the logit (--score logit) or the softmax output (--score softmax), so the latter is
 * the same formula applied to the softmax's gradient (as pytorch-grad-cam does for a
 * softmax output). The zero-denominator guard replaces the usual "+ 1e-6", which is not
 * negligible when g is small (softmax gradients are about 1e-4, g^2 about 1e-8). */
static int build_gradcam_plus_plus(const cnnc_builder *b, int A, int dA)
{
    int g2 = cnnc_ew1(b, CNNC_EW_SQUARE, dA);
    int g3 = cnnc_mul(b, g2, dA);
    int sum_a = cnnc_reduce(b, CNNC_REDUCE_SUM, A, HW);
    int den = cnnc_add(b, cnnc_scale(b, g2, 2.0f), cnnc_mul(b, g3, sum_a));
    int alpha = ratio_or_zero(b, g2, den);
    int w = cnnc_reduce(b, CNNC_REDUCE_SUM,
                        cnnc_mul(b, alpha, cnnc_ew1(b, CNNC_EW_RELU, dA)), HW);
    return weighted_channels(b, A, w);
}

/* LayerCAM (Jiang et al.): map = sum_c relu(dA_c) A_c. */
static int build_layercam(const cnnc_builder *b, int A, int dA)
{
    return cnnc_reduce(b, CNNC_REDUCE_SUM, cnnc_mul(b, A, cnnc_ew1(b, CNNC_EW_RELU, dA)), C);
}

/* XGrad-CAM (Fu et al.): w_c = sum_hw(A dA) / sum_hw(A), 0 where sum_hw(A) is 0 (then,
 * for the non-negative A of a ReLU or pooling layer, the channel is all zero and adds
 * nothing anyway); map = sum_c w_c A_c. */
static int build_xgradcam(const cnnc_builder *b, int A, int dA)
{
    int num = cnnc_reduce(b, CNNC_REDUCE_SUM, cnnc_mul(b, A, dA), HW);
    int den = cnnc_reduce(b, CNNC_REDUCE_SUM, A, HW);
    return weighted_channels(b, A, ratio_or_zero(b, num, den));
}

typedef struct method_entry {
    cnnrt_cam_method map_of;
    int (*build)(const cnnc_builder *b, int A, int dA);
} method_entry;

static const method_entry methods[CNNRT_CAM_METHOD_COUNT] = {
    [CNNRT_CAM_GRADCAM] = {CNNRT_CAM_GRADCAM, build_gradcam},
    [CNNRT_CAM_HIRESCAM] = {CNNRT_CAM_HIRESCAM, build_hirescam},
    [CNNRT_CAM_GRADCAM_PLUS_PLUS] = {CNNRT_CAM_GRADCAM_PLUS_PLUS, build_gradcam_plus_plus},
    [CNNRT_CAM_GUIDED] = {CNNRT_CAM_HIRESCAM, NULL},   /* guided backprop x HiResCAM's map */
    [CNNRT_CAM_LAYERCAM] = {CNNRT_CAM_LAYERCAM, build_layercam},
    [CNNRT_CAM_XGRADCAM] = {CNNRT_CAM_XGRADCAM, build_xgradcam},
};

cnnrt_cam_method cnnc_cam_map_method(cnnrt_cam_method method)
{
    return (unsigned)method < CNNRT_CAM_METHOD_COUNT ? methods[method].map_of : method;
}

int cnnc_cam_build_map(cnnc_graph *g, cnnc_diag *d, cnnrt_cam_method method, int A, int dA,
                       int layer)
{
    if ((unsigned)method >= CNNRT_CAM_METHOD_COUNT || !methods[method].build) {
        cnnc_error(d, g->layers[layer].loc, "internal error: Grad-CAM method %d has no builder",
                   (int)method);
        return -1;
    }
    if (g->nodes[A].shape.rank != 3 || !cnnc_shape_equal(g->nodes[A].shape, g->nodes[dA].shape)) {
        cnnc_error(d, g->layers[layer].loc, "Grad-CAM needs a layer with an HxWxC output and "
                   "its gradient");
        return -1;
    }
    char name[512];
    snprintf(name, sizeof name, "cam/%s/%s", g->layers[layer].name,
             cnnrt_cam_method_name(method));
    cnnc_builder b = {g, d, name, layer, g->layers[layer].loc};
    return methods[method].build(&b, A, dA);
}

int cnnc_cam_output_node(const cnnc_graph *cam, int target, cnnrt_cam_method method)
{
    cnnrt_cam_method map = cnnc_cam_map_method(method);
    for (int o = 0; o < cam->num_outputs; o++) {
        const cnnc_output *out = &cam->outputs[o];
        if (out->role == CNNC_OUT_CAM && out->cam_target == target && out->cam_method == (int)map)
            return out->node;
    }
    return -1;
}
