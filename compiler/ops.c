/* The op table: shape rule, FLOP count, interpreter kernel, gradient rule and lowering of
 * every op, one entry each. Shape rules and FLOP counts are here; the other columns are
 * defined by the stage that owns them (interp.c, autodiff.c, lower.c) under the names
 * cnnc_interp_<op>, cnnc_grad_<op>, cnnc_lower_<op>. They are declared weak so that an op
 * a stage does not handle is a NULL entry, which that stage reports as unsupported. */
#include "ops.h"
#include "elementwise.h"

#include <inttypes.h>
#include <string.h>

struct cnnc_interp_ctx;
struct cnnc_autodiff;
struct cnnc_lower_ctx;

#define DECLARE_STAGE_FUNCTIONS(id, ident, text, arity)                                       \
    extern void cnnc_interp_##ident(const cnnc_graph *, const cnnc_node *,                    \
                                    const float *const *, float *,                            \
                                    const struct cnnc_interp_ctx *) __attribute__((weak));    \
    extern int cnnc_grad_##ident(struct cnnc_autodiff *, int, int) __attribute__((weak));     \
    extern int cnnc_lower_##ident(struct cnnc_lower_ctx *, int) __attribute__((weak));
CNNC_OPS(DECLARE_STAGE_FUNCTIONS)
#undef DECLARE_STAGE_FUNCTIONS

/* ---- helpers for messages ------------------------------------------------------------ */

/* The Keras layer name of a node when it has one ("max_pooling2d_1"), else its own name. */
static const char *who(const cnnc_graph *g, int node)
{
    const cnnc_node *n = &g->nodes[node];
    if (n->layer >= 0 && n->layer < g->num_layers && g->layers[n->layer].name)
        return g->layers[n->layer].name;
    return n->name;
}

static const cnnc_shape *in_shape(const cnnc_graph *g, const cnnc_node *n, int i)
{
    return n->inputs[i] >= 0 ? &g->nodes[n->inputs[i]].shape : NULL;
}

static int shape_error(const cnnc_graph *g, const cnnc_node *n, cnnc_diag *d, int input,
                       const char *what)
{
    char buf[64];
    cnnc_shape_str(*in_shape(g, n, input), 0, buf, sizeof buf);
    cnnc_error(d, n->loc, "%s: %s, but its input '%s' has shape %s", n->name, what,
               who(g, n->inputs[input]), buf);
    return -1;
}

static int require_rank(const cnnc_graph *g, const cnnc_node *n, cnnc_diag *d, int input,
                        int rank, const char *what)
{
    if (in_shape(g, n, input)->rank != rank)
        return shape_error(g, n, d, input, what);
    return 0;
}

/* ---- windows: convolution and pooling ------------------------------------------------ */

/* Output size and padding of one spatial axis, as Keras/TensorFlow compute them. */
static int window_axis(int64_t in, int k, int stride, cnnc_padding padding, int64_t *out,
                       int *pad_before, int *pad_after)
{
    if (padding == CNNC_PAD_SAME) {
        *out = (in + stride - 1) / stride;
        int64_t total = (*out - 1) * stride + k - in;
        if (total < 0)
            total = 0;
        *pad_before = (int)(total / 2);
        *pad_after = (int)(total - total / 2);
        return 0;
    }
    *pad_before = *pad_after = 0;
    if (in < k)
        return -1;
    *out = (in - k) / stride + 1;
    return 0;
}

/* Resolves the padding and computes [OH, OW] of a window op over input 0. */
static int window_shape(const cnnc_graph *g, cnnc_node *n, cnnc_diag *d, const char *window,
                        int64_t *oh, int64_t *ow)
{
    cnnc_attrs *a = &n->attrs;
    if (require_rank(g, n, d, 0, 3, "expects an HxWxC input"))
        return -1;
    if (a->kernel_h < 1 || a->kernel_w < 1 || a->stride_h < 1 || a->stride_w < 1) {
        cnnc_error(d, n->loc, "%s: %s size and strides must be at least 1", n->name, window);
        return -1;
    }
    const cnnc_shape *x = in_shape(g, n, 0);
    if (window_axis(x->dim[0], a->kernel_h, a->stride_h, a->padding, oh, &a->pad_top,
                    &a->pad_bottom) ||
        window_axis(x->dim[1], a->kernel_w, a->stride_w, a->padding, ow, &a->pad_left,
                    &a->pad_right)) {
        char what[128];
        snprintf(what, sizeof what, "its %dx%d %s is larger than the input (padding=valid)",
                 a->kernel_h, a->kernel_w, window);
        return shape_error(g, n, d, 0, what);
    }
    return 0;
}

static int check_param_shape(const cnnc_graph *g, const cnnc_node *n, cnnc_diag *d, int input,
                             cnnc_shape want)
{
    if (n->inputs[input] < 0)
        return 0;
    const cnnc_shape *have = in_shape(g, n, input);
    if (!cnnc_shape_equal(*have, want)) {
        char a[64], b[64];
        cnnc_error(d, n->loc, "%s: weight '%s' has shape %s, expected %s", n->name,
                   g->nodes[n->inputs[input]].name, cnnc_shape_str(*have, 0, a, sizeof a),
                   cnnc_shape_str(want, 0, b, sizeof b));
        return -1;
    }
    return 0;
}

/* ---- shape rules -------------------------------------------------------------------- */

static int shape_input(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)g;
    if (n->attrs.shape.rank < 1 || cnnc_shape_size(n->attrs.shape) < 1) {
        cnnc_error(d, n->loc, "input: the shape must have positive sizes");
        return -1;
    }
    n->shape = n->attrs.shape;
    return 0;
}

static int shape_label(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)g, (void)d;
    n->shape = cnnc_shape1(1);
    return 0;
}

static int shape_param(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)d;
    n->shape = g->params[n->attrs.param].shape;
    return 0;
}

static int shape_conv2d(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    int64_t oh, ow;
    if (n->attrs.units < 1) {
        cnnc_error(d, n->loc, "%s: filters must be at least 1", n->name);
        return -1;
    }
    if (window_shape(g, n, d, "kernel", &oh, &ow))
        return -1;
    const cnnc_attrs *a = &n->attrs;
    int64_t kernel[4] = {a->kernel_h, a->kernel_w, in_shape(g, n, 0)->dim[2], a->units};
    if (check_param_shape(g, n, d, 1, cnnc_shape_make(4, kernel)) ||
        check_param_shape(g, n, d, 2, cnnc_shape1(a->units)))
        return -1;
    n->shape = cnnc_shape3(oh, ow, a->units);
    return 0;
}

static int shape_pool2d(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    int64_t oh, ow;
    if (window_shape(g, n, d, "pool", &oh, &ow))
        return -1;
    n->shape = cnnc_shape3(oh, ow, in_shape(g, n, 0)->dim[2]);
    return 0;
}

static int shape_global_avg_pool2d(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    if (require_rank(g, n, d, 0, 3, "expects an HxWxC input"))
        return -1;
    n->shape = cnnc_shape1(in_shape(g, n, 0)->dim[2]);
    return 0;
}

static int shape_reshape(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    if (cnnc_shape_size(n->attrs.shape) != cnnc_shape_size(*in_shape(g, n, 0)))
        return shape_error(g, n, d, 0, "cannot reshape to a different number of elements");
    n->shape = n->attrs.shape;
    return 0;
}

static int shape_dense(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    if (n->attrs.units < 1) {
        cnnc_error(d, n->loc, "%s: units must be at least 1", n->name);
        return -1;
    }
    if (require_rank(g, n, d, 0, 1, "expects a flat input (add 'flatten' before it)"))
        return -1;
    int64_t kernel[2] = {in_shape(g, n, 0)->dim[0], n->attrs.units};
    if (check_param_shape(g, n, d, 1, cnnc_shape_make(2, kernel)) ||
        check_param_shape(g, n, d, 2, cnnc_shape1(n->attrs.units)))
        return -1;
    n->shape = cnnc_shape1(n->attrs.units);
    return 0;
}

/* The shape of input 0. */
static int shape_same(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)d;
    n->shape = *in_shape(g, n, 0);
    return 0;
}

static int shape_arg(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)g, (void)d;
    n->shape = n->attrs.shape;
    return 0;
}

static int shape_const(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)g, (void)d;
    n->shape = cnnc_shape_make(0, NULL);
    return 0;
}

/* Whether `part` is a suffix of `whole` (numpy broadcasting restricted to suffixes). */
static int is_suffix(cnnc_shape part, cnnc_shape whole)
{
    if (part.rank > whole.rank)
        return 0;
    for (int i = 0; i < part.rank; i++)
        if (part.dim[i] != whole.dim[whole.rank - part.rank + i])
            return 0;
    return 1;
}

/* The input of highest rank gives the shape; every other input must be a suffix of it. */
static int shape_ew(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    if (n->attrs.ew < 0 || n->attrs.ew >= CNNC_EW_COUNT) {
        cnnc_error(d, n->loc, "internal error: %s: no elementwise function %d", n->name,
                   n->attrs.ew);
        return -1;
    }
    const cnnc_ew_info *f = cnnc_ew_info_of((cnnc_ew_fn)n->attrs.ew);
    int widest = 0;
    for (int i = 0; i < CNNC_MAX_INPUTS; i++) {
        if ((n->inputs[i] >= 0) != (i < f->arity)) {
            cnnc_error(d, n->loc, "internal error: %s: %s takes %d input%s", n->name, f->name,
                       f->arity, f->arity == 1 ? "" : "s");
            return -1;
        }
        if (i < f->arity && in_shape(g, n, i)->rank > in_shape(g, n, widest)->rank)
            widest = i;
    }
    for (int i = 0; i < f->arity; i++)
        if (!is_suffix(*in_shape(g, n, i), *in_shape(g, n, widest))) {
            char a[64];
            cnnc_shape_str(*in_shape(g, n, widest), 0, a, sizeof a);
            char what[128];
            snprintf(what, sizeof what, "%s cannot broadcast it against %s", f->name, a);
            return shape_error(g, n, d, i, what);
        }
    n->shape = *in_shape(g, n, widest);
    return 0;
}

/* The input's shape without the axes in attrs.axes. */
static int shape_reduce(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    const cnnc_shape *x = in_shape(g, n, 0);
    if (n->attrs.axes >> x->rank || n->attrs.reduce < CNNC_REDUCE_SUM ||
        n->attrs.reduce > CNNC_REDUCE_MEAN)
        return shape_error(g, n, d, 0, "internal error: reduce over axes it does not have");
    cnnc_shape s = cnnc_shape_make(0, NULL);
    for (int i = 0; i < x->rank; i++)
        if (!(n->attrs.axes >> i & 1))
            s.dim[s.rank++] = x->dim[i];
    n->shape = s;
    return 0;
}

/* attrs.shape, whose axes outside attrs.axes must be x's shape. */
static int shape_broadcast(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    const cnnc_shape *to = &n->attrs.shape;
    cnnc_shape kept = cnnc_shape_make(0, NULL);
    for (int i = 0; i < to->rank; i++)
        if (!(n->attrs.axes >> i & 1))
            kept.dim[kept.rank++] = to->dim[i];
    if (n->attrs.axes >> to->rank || !cnnc_shape_equal(kept, *in_shape(g, n, 0)))
        return shape_error(g, n, d, 0, "internal error: broadcast to a shape that does not "
                                       "extend its input");
    n->shape = *to;
    return 0;
}

/* x's shape; the moving statistic (input 1), when there is one, has it too. */
static int shape_batch_mean(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    if (n->inputs[1] >= 0 && !cnnc_shape_equal(*in_shape(g, n, 0), *in_shape(g, n, 1)))
        return shape_error(g, n, d, 1, "internal error: the moving statistic does not have "
                                       "the batch statistic's shape");
    n->shape = *in_shape(g, n, 0);
    return 0;
}

static int shape_loss(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    if (require_rank(g, n, d, 0, 1, "a loss needs a flat vector of class scores"))
        return -1;
    n->shape = cnnc_shape_make(0, NULL);
    return 0;
}

/* Gradients whose result shape is given by the autodiff in attrs.shape. */
static int shape_given(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)g;
    if (n->attrs.shape.rank < 1) {
        cnnc_error(d, n->loc, "internal error: %s needs its result shape", n->name);
        return -1;
    }
    n->shape = n->attrs.shape;
    return 0;
}

static int shape_conv2d_grad_kernel(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)d;
    int64_t kernel[4] = {n->attrs.kernel_h, n->attrs.kernel_w, in_shape(g, n, 0)->dim[2],
                         in_shape(g, n, 1)->dim[2]};
    n->shape = cnnc_shape_make(4, kernel);
    return 0;
}

static int shape_bias_grad(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)d;
    const cnnc_shape *dy = in_shape(g, n, 0);
    n->shape = cnnc_shape1(dy->dim[dy->rank - 1]);
    return 0;
}

static int shape_dense_grad_input(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)d;
    n->shape = cnnc_shape1(in_shape(g, n, 1)->dim[0]);
    return 0;
}

static int shape_dense_grad_kernel(cnnc_graph *g, cnnc_node *n, cnnc_diag *d)
{
    (void)d;
    int64_t kernel[2] = {in_shape(g, n, 0)->dim[0], in_shape(g, n, 1)->dim[0]};
    n->shape = cnnc_shape_make(2, kernel);
    return 0;
}


/* ---- FLOP counts (a multiply-add counts 2; elementwise work is not counted, as usual
 * for CNN FLOP figures) --------------------------------------------------------------- */

static int64_t flops_conv2d(const cnnc_graph *g, const cnnc_node *n)
{
    int64_t ci = g->nodes[n->inputs[0]].shape.dim[2];
    return 2 * cnnc_shape_size(n->shape) * n->attrs.kernel_h * n->attrs.kernel_w * ci;
}

/* Both conv gradients cost what the forward convolution costs. */
static int64_t flops_conv2d_grad_input(const cnnc_graph *g, const cnnc_node *n)
{
    const cnnc_shape *dy = &g->nodes[n->inputs[0]].shape;
    return 2 * cnnc_shape_size(*dy) * n->attrs.kernel_h * n->attrs.kernel_w * n->shape.dim[2];
}

static int64_t flops_conv2d_grad_kernel(const cnnc_graph *g, const cnnc_node *n)
{
    const cnnc_shape *dy = &g->nodes[n->inputs[1]].shape;
    return 2 * cnnc_shape_size(*dy) * n->attrs.kernel_h * n->attrs.kernel_w * n->shape.dim[2];
}

static int64_t flops_dense(const cnnc_graph *g, const cnnc_node *n)
{
    return 2 * cnnc_shape_size(g->nodes[n->inputs[0]].shape) * cnnc_shape_size(n->shape);
}

static int64_t flops_dense_grad_input(const cnnc_graph *g, const cnnc_node *n)
{
    return 2 * cnnc_shape_size(g->nodes[n->inputs[0]].shape) * cnnc_shape_size(n->shape);
}

static int64_t flops_dense_grad_kernel(const cnnc_graph *g, const cnnc_node *n)
{
    (void)g;
    return 2 * cnnc_shape_size(n->shape);
}

/* ---- the table ------------------------------------------------------------------------ */

/* Name, arity and the stage functions of every op come from the one list in graph.h;
 * the shape rules and FLOP counts are filled in below, member by member. */
#define STAGE_COLUMNS(ID, ident, text, n_inputs)                                              \
    [CNNC_OP_##ID].name = text, [CNNC_OP_##ID].arity = n_inputs,                              \
    [CNNC_OP_##ID].interp = cnnc_interp_##ident, [CNNC_OP_##ID].grad = cnnc_grad_##ident,     \
    [CNNC_OP_##ID].lower = cnnc_lower_##ident,
#define RULES(ID, shape_rule, flop_count)                                                     \
    [CNNC_OP_##ID].shape = shape_rule, [CNNC_OP_##ID].flops = flop_count

const cnnc_op_info cnnc_op_table[CNNC_OP_COUNT] = {
    CNNC_OPS(STAGE_COLUMNS)
    RULES(INPUT, shape_input, NULL),
    RULES(LABEL, shape_label, NULL),
    RULES(PARAM, shape_param, NULL),
    RULES(CONST, shape_const, NULL),
    RULES(ARG, shape_arg, NULL),
    RULES(EW, shape_ew, NULL),
    RULES(REDUCE, shape_reduce, NULL),
    RULES(BROADCAST, shape_broadcast, NULL),
    RULES(BATCH_MEAN, shape_batch_mean, NULL),
    RULES(CONV2D, shape_conv2d, flops_conv2d),
    RULES(MAX_POOL2D, shape_pool2d, NULL),
    RULES(AVG_POOL2D, shape_pool2d, NULL),
    RULES(GLOBAL_AVG_POOL2D, shape_global_avg_pool2d, NULL),
    RULES(RESHAPE, shape_reshape, NULL),
    RULES(DENSE, shape_dense, flops_dense),
    RULES(DROPOUT, shape_same, NULL),
    RULES(SOFTMAX, shape_same, NULL),
    RULES(SOFTMAX_XENT, shape_loss, NULL),
    RULES(XENT, shape_loss, NULL),
    RULES(MSE, shape_loss, NULL),
    RULES(CONV2D_GRAD_INPUT, shape_given, flops_conv2d_grad_input),
    RULES(CONV2D_GRAD_KERNEL, shape_conv2d_grad_kernel, flops_conv2d_grad_kernel),
    RULES(BIAS_GRAD, shape_bias_grad, NULL),
    RULES(MAX_POOL2D_GRAD, shape_given, NULL),
    RULES(AVG_POOL2D_GRAD, shape_given, NULL),
    RULES(GLOBAL_AVG_POOL2D_GRAD, shape_given, NULL),
    RULES(DENSE_GRAD_INPUT, shape_dense_grad_input, flops_dense_grad_input),
    RULES(DENSE_GRAD_KERNEL, shape_dense_grad_kernel, flops_dense_grad_kernel),
    RULES(SOFTMAX_XENT_GRAD, shape_same, NULL),
    RULES(XENT_GRAD, shape_same, NULL),
    RULES(MSE_GRAD, shape_same, NULL),
    RULES(CLASS_SCORE_GRAD, shape_same, NULL),
};
