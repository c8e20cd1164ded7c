/* The reference interpreter (see interp.h): one naive kernel per op, then the batch
 * programs (infer, train step, Grad-CAM) built from running a graph image by image.
 *
 * Conventions every kernel follows, so that each can be read on its own:
 *   - the output shape is n->shape; input i's shape is g->nodes[n->inputs[i]].shape;
 *   - a kernel writes every element of its output (it never relies on zeroed memory);
 *   - sums are accumulated in double, so the oracle is at least as accurate as the code
 *     it judges;
 *   - the attributes of a backward node are a copy of its forward node's (kernel size,
 *     stride, resolved padding, dropout index), so forward and backward index alike. */
#include "interp.h"
#include "batch_norm.h"
#include "cam_methods.h"
#include "optimizers.h"
#include "elementwise.h"
#include "ops.h"
#include "cnnrt_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------ */
/* Small helpers                                                                        */

static const cnnc_shape *input_shape(const cnnc_graph *g, const cnnc_node *n, int i)
{
    return &g->nodes[n->inputs[i]].shape;
}

static int64_t input_size(const cnnc_graph *g, const cnnc_node *n, int i)
{
    return cnnc_shape_size(g->nodes[n->inputs[i]].shape);
}

static int64_t out_size(const cnnc_node *n)
{
    return cnnc_shape_size(n->shape);
}

/* The length of the last axis (the axis softmax, bias and losses work on). */
static int64_t last_dim(cnnc_shape s)
{
    return s.rank > 0 ? s.dim[s.rank - 1] : 1;
}

/* A feature map's three dimensions; a rank-1 value counts as 1x1xC. */
typedef struct hwc {
    int64_t h, w, c;
} hwc;

static hwc hwc_of(cnnc_shape s)
{
    hwc r = {1, 1, 1};
    if (s.rank == 3) {
        r.h = s.dim[0];
        r.w = s.dim[1];
        r.c = s.dim[2];
    } else if (s.rank > 0) {
        r.c = s.dim[s.rank - 1];
    }
    return r;
}

static int64_t at_hwc(hwc s, int64_t y, int64_t x, int64_t c)
{
    return (y * s.w + x) * s.c + c;
}

/* Scratch space in double, zeroed (accumulators start at 0); abort() on out-of-memory,
 * which an oracle has no sensible way to report. Never NULL, even for count 0. */
static double *new_doubles(int64_t count)
{
    double *d = calloc((size_t)(count ? count : 1), sizeof *d);
    if (!d)
        abort();
    return d;
}

/* Rounds a double accumulator into the float output once, at the end, and frees it. */
static void store_and_free(double *acc, float *out, int64_t size)
{
    for (int64_t i = 0; i < size; i++)
        out[i] = (float)acc[i];
    free(acc);
}

/* Index of the first largest element (ties go to the lowest index). */
static int64_t argmax(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* The largest of z[0..k), k >= 1: the shift that keeps exp() from overflowing. */
static double max_of(const float *z, int64_t k)
{
    double m = z[0];
    for (int64_t i = 1; i < k; i++)
        if (z[i] > m)
            m = z[i];
    return m;
}

/* Numerically stable softmax of one row, in double. */
static void softmax_row(const float *z, int64_t k, double *p)
{
    double m = max_of(z, k);
    double sum = 0.0;
    for (int64_t i = 0; i < k; i++) {
        p[i] = exp((double)z[i] - m);
        sum += p[i];
    }
    for (int64_t i = 0; i < k; i++)
        p[i] /= sum;
}

/* log(sum(exp(z))) computed without overflow. */
static double log_sum_exp(const float *z, int64_t k)
{
    double m = max_of(z, k);
    double sum = 0.0;
    for (int64_t i = 0; i < k; i++)
        sum += exp((double)z[i] - m);
    return m + log(sum);
}

/* The class a LABEL value names ([1], the class index as a float), or -1 when it names
 * none of the k classes (-1 = "the predicted class" in a Grad-CAM graph). */
static int64_t label_class(const float *label, int64_t k)
{
    float v = label[0];
    if (v >= 0.0f && v < (float)k)
        return (int64_t)v;
    return -1;
}

/* The class a CLASS_SCORE_GRAD targets: the label's, else the predicted one (argmax). */
static int64_t target_class(const float *scores, int64_t k, const float *label)
{
    int64_t c = label_class(label, k);
    return c >= 0 ? c : argmax(scores, k);
}

/* Dropout's factor for one element: 0 if dropped, 1/(1-rate) if kept (inverted dropout,
 * as Keras), 1 outside training. The mask is the one the generated code uses. */
static float dropout_factor(const cnnc_node *n, const cnnc_interp_ctx *ctx, int64_t element)
{
    float rate = n->attrs.rate;
    if (!ctx || !ctx->training || rate <= 0.0f)
        return 1.0f;
    if (rate >= 1.0f)
        return 0.0f;
    if (!cnnrt_dropout_keep(ctx->seed, n->attrs.dropout_index, ctx->image, element, rate))
        return 0.0f;
    return 1.0f / (1.0f - rate);
}

/* The window of pooling output (oy, ox), clipped to the input: rows [y0, y1), columns
 * [x0, x1). Padding never contributes: max pooling treats it as -inf, average pooling
 * divides by the number of real elements (TensorFlow's 'same'). */
typedef struct window {
    int64_t y0, y1, x0, x1;
} window;

static window pool_window(const cnnc_attrs *a, hwc in, int64_t oy, int64_t ox)
{
    window w;
    w.y0 = oy * a->stride_h - a->pad_top;
    w.x0 = ox * a->stride_w - a->pad_left;
    w.y1 = w.y0 + a->kernel_h;
    w.x1 = w.x0 + a->kernel_w;
    if (w.y0 < 0)
        w.y0 = 0;
    if (w.x0 < 0)
        w.x0 = 0;
    if (w.y1 > in.h)
        w.y1 = in.h;
    if (w.x1 > in.w)
        w.x1 = in.w;
    return w;
}

static int64_t window_count(window w)
{
    int64_t rows = w.y1 - w.y0, cols = w.x1 - w.x0;
    return rows > 0 && cols > 0 ? rows * cols : 0;
}

/* Flat index (into the input) of the first maximum of channel c in window w, or -1 for
 * an empty window. The first maximum in row-major order gets the gradient, as in
 * TensorFlow and PyTorch. */
static int64_t window_argmax(const float *x, hwc in, window w, int64_t c)
{
    int64_t best = -1;
    for (int64_t y = w.y0; y < w.y1; y++)
        for (int64_t xx = w.x0; xx < w.x1; xx++) {
            int64_t i = at_hwc(in, y, xx, c);
            if (best < 0 || x[i] > x[best])
                best = i;
        }
    return best;
}

/* ------------------------------------------------------------------------------------ */
/* Leaves. cnnc_interp_run_image fills INPUT (the image) and PARAM (the weights) itself,  */
/* since a kernel sees neither; their kernels only write zeros, so that every op has an   */
/* entry in the table. LABEL comes from the run's context.                                */

void cnnc_interp_input(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                       float *out, const cnnc_interp_ctx *ctx)
{
    (void)g; (void)in; (void)ctx;
    memset(out, 0, (size_t)out_size(n) * sizeof *out);
}

/* The image's class index as a float ([1]); -1 = "the predicted class", which
 * CLASS_SCORE_GRAD resolves from the scores. */
void cnnc_interp_label(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                       float *out, const cnnc_interp_ctx *ctx)
{
    (void)g; (void)in;
    memset(out, 0, (size_t)out_size(n) * sizeof *out);
    out[0] = ctx ? (float)ctx->label : -1.0f;
}

void cnnc_interp_param(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                       float *out, const cnnc_interp_ctx *ctx)
{
    (void)g; (void)in; (void)ctx;
    memset(out, 0, (size_t)out_size(n) * sizeof *out);
}

/* ------------------------------------------------------------------------------------ */
/* Forward ops                                                                          */

/* y[oy,ox,co] = b[co] + sum_{ky,kx,ci} x[oy*sh+ky-pt, ox*sw+kx-pl, ci] * k[ky,kx,ci,co],
 * terms outside the input being zero (padding). */
void cnnc_interp_conv2d(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                        float *out, const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    const cnnc_attrs *a = &n->attrs;
    hwc xs = hwc_of(*input_shape(g, n, 0)), ys = hwc_of(n->shape);
    const float *x = in[0], *k = in[1], *b = in[2];
    for (int64_t oy = 0; oy < ys.h; oy++)
        for (int64_t ox = 0; ox < ys.w; ox++)
            for (int64_t co = 0; co < ys.c; co++) {
                double sum = b ? b[co] : 0.0;
                for (int64_t ky = 0; ky < a->kernel_h; ky++) {
                    int64_t iy = oy * a->stride_h + ky - a->pad_top;
                    if (iy < 0 || iy >= xs.h)
                        continue;
                    for (int64_t kx = 0; kx < a->kernel_w; kx++) {
                        int64_t ix = ox * a->stride_w + kx - a->pad_left;
                        if (ix < 0 || ix >= xs.w)
                            continue;
                        for (int64_t ci = 0; ci < xs.c; ci++)
                            sum += (double)x[at_hwc(xs, iy, ix, ci)] *
                                   k[((ky * a->kernel_w + kx) * xs.c + ci) * ys.c + co];
                    }
                }
                out[at_hwc(ys, oy, ox, co)] = (float)sum;
            }
}

void cnnc_interp_max_pool2d(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                            float *out, const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    hwc xs = hwc_of(*input_shape(g, n, 0)), ys = hwc_of(n->shape);
    for (int64_t oy = 0; oy < ys.h; oy++)
        for (int64_t ox = 0; ox < ys.w; ox++) {
            window w = pool_window(&n->attrs, xs, oy, ox);
            for (int64_t c = 0; c < ys.c; c++) {
                int64_t best = window_argmax(in[0], xs, w, c);
                /* An empty window cannot come out of the shape rule; 0 keeps it finite. */
                out[at_hwc(ys, oy, ox, c)] = best >= 0 ? in[0][best] : 0.0f;
            }
        }
}

void cnnc_interp_avg_pool2d(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                            float *out, const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    hwc xs = hwc_of(*input_shape(g, n, 0)), ys = hwc_of(n->shape);
    for (int64_t oy = 0; oy < ys.h; oy++)
        for (int64_t ox = 0; ox < ys.w; ox++) {
            window w = pool_window(&n->attrs, xs, oy, ox);
            int64_t count = window_count(w);
            for (int64_t c = 0; c < ys.c; c++) {
                double sum = 0.0;
                for (int64_t y = w.y0; y < w.y1; y++)
                    for (int64_t x = w.x0; x < w.x1; x++)
                        sum += in[0][at_hwc(xs, y, x, c)];
                out[at_hwc(ys, oy, ox, c)] = count ? (float)(sum / (double)count) : 0.0f;
            }
        }
}

void cnnc_interp_global_avg_pool2d(const cnnc_graph *g, const cnnc_node *n,
                                   const float *const *in, float *out,
                                   const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    hwc xs = hwc_of(*input_shape(g, n, 0));
    for (int64_t c = 0; c < xs.c; c++) {
        double sum = 0.0;
        for (int64_t y = 0; y < xs.h; y++)
            for (int64_t x = 0; x < xs.w; x++)
                sum += in[0][at_hwc(xs, y, x, c)];
        out[c] = (float)(sum / (double)(xs.h * xs.w));
    }
}

/* Flatten and its gradient: HWC memory is already in Flatten's order. */
void cnnc_interp_reshape(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                         float *out, const cnnc_interp_ctx *ctx)
{
    (void)g; (void)ctx;
    memcpy(out, in[0], (size_t)out_size(n) * sizeof *out);
}

/* y[r,o] = b[o] + sum_i x[r,i] k[i,o]; r runs over the leading axes (1 row for a flat x,
 * as after Flatten; Keras applies Dense to the last axis of a larger input). */
void cnnc_interp_dense(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                       float *out, const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    const cnnc_shape *ks = input_shape(g, n, 1);
    int64_t nin = ks->dim[0], nout = ks->dim[1];
    int64_t rows = input_size(g, n, 0) / nin;
    const float *x = in[0], *k = in[1], *b = in[2];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < nout; o++) {
            double sum = b ? b[o] : 0.0;
            for (int64_t i = 0; i < nin; i++)
                sum += (double)x[r * nin + i] * k[i * nout + o];
            out[r * nout + o] = (float)sum;
        }
}

void cnnc_interp_dropout(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                         float *out, const cnnc_interp_ctx *ctx)
{
    (void)g;
    int64_t size = out_size(n);
    for (int64_t i = 0; i < size; i++)
        out[i] = in[0][i] * dropout_factor(n, ctx, i);
}

/* ------------------------------------------------------------------------------------ */
/* Primitives (elementwise.h)                                                           */

void cnnc_interp_arg(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                     float *out, const cnnc_interp_ctx *ctx)
{
    (void)g, (void)in, (void)ctx;   /* read by cnnc_interp_run_image */
    memset(out, 0, (size_t)out_size(n) * sizeof *out);
}

void cnnc_interp_const(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                       float *out, const cnnc_interp_ctx *ctx)
{
    (void)g, (void)in, (void)ctx;
    out[0] = n->attrs.value;
}

/* Output element i reads element i % size_k of input k (suffix broadcasting). */
void cnnc_interp_ew(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                    float *out, const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    const cnnc_ew_info *f = cnnc_ew_info_of((cnnc_ew_fn)n->attrs.ew);
    int64_t size = out_size(n), sizes[CNNC_MAX_INPUTS];
    for (int k = 0; k < f->arity; k++)
        sizes[k] = input_size(g, n, k);
    for (int64_t i = 0; i < size; i++) {
        double x[CNNC_MAX_INPUTS];
        for (int k = 0; k < f->arity; k++)
            x[k] = in[k][i % sizes[k]];
        out[i] = (float)f->eval(x, n->attrs.alpha);
    }
}

/* The index into a tensor of shape `kept` (the axes of `full` not in `axes`) of the
 * element at linear index i of `full`. */
static int64_t drop_axes(cnnc_shape full, unsigned axes, int64_t i)
{
    int64_t index = 0, stride = 1;
    for (int a = full.rank - 1; a >= 0; a--) {
        int64_t coord = i % full.dim[a];
        i /= full.dim[a];
        if (!(axes >> a & 1)) {
            index += coord * stride;
            stride *= full.dim[a];
        }
    }
    return index;
}

void cnnc_interp_reduce(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                        float *out, const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    cnnc_shape x = *input_shape(g, n, 0);
    int64_t size = out_size(n), count = cnnc_shape_size(x) / (size ? size : 1);
    int is_max = n->attrs.reduce == CNNC_REDUCE_MAX;
    double *acc = new_doubles(size);
    for (int64_t o = 0; o < size; o++)
        acc[o] = is_max ? -HUGE_VAL : 0.0;
    for (int64_t i = 0; i < cnnc_shape_size(x); i++) {
        int64_t o = drop_axes(x, n->attrs.axes, i);
        acc[o] = is_max ? (in[0][i] > acc[o] ? in[0][i] : acc[o]) : acc[o] + in[0][i];
    }
    if (n->attrs.reduce == CNNC_REDUCE_MEAN)
        for (int64_t o = 0; o < size; o++)
            acc[o] /= (double)count;
    store_and_free(acc, out, size);
}

void cnnc_interp_broadcast(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                           float *out, const cnnc_interp_ctx *ctx)
{
    (void)g, (void)ctx;
    for (int64_t i = 0; i < out_size(n); i++)
        out[i] = in[0][drop_axes(n->shape, n->attrs.axes, i)];
}

/* Outside training, a batch_norm statistic is its moving statistic (input 1). In training
 * it is the mean over the batch, which one image cannot compute: the batch programs run
 * graphs with BATCH_MEAN image by image node by node (run_batch) and compute it there;
 * cnnc_interp_run_image refuses them. */
void cnnc_interp_batch_mean(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                            float *out, const cnnc_interp_ctx *ctx)
{
    (void)g;
    int from = !ctx->training && n->inputs[1] >= 0 ? 1 : 0;
    memcpy(out, in[from], (size_t)out_size(n) * sizeof *out);
}

/* Softmax over the last axis, each row shifted by its maximum (no overflow). */
void cnnc_interp_softmax(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                         float *out, const cnnc_interp_ctx *ctx)
{
    (void)g; (void)ctx;
    int64_t k = last_dim(n->shape), rows = out_size(n) / k;
    double *p = new_doubles(k);
    for (int64_t r = 0; r < rows; r++) {
        softmax_row(in[0] + r * k, k, p);
        for (int64_t i = 0; i < k; i++)
            out[r * k + i] = (float)p[i];
    }
    free(p);
}

/* ------------------------------------------------------------------------------------ */
/* Losses: one scalar per image. The label input is the class index c ([1], a float);  */
/* a label naming no class (never the case in training, which checks the labels) gives  */
/* a zero loss and a zero gradient.                                                      */

/* -log softmax(z)_c = logsumexp(z) - z_c: never log(0), never overflow. */
void cnnc_interp_softmax_xent(const cnnc_graph *g, const cnnc_node *n,
                              const float *const *in, float *out,
                              const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    int64_t k = input_size(g, n, 0);
    int64_t c = label_class(in[1], k);
    out[0] = c >= 0 ? (float)(log_sum_exp(in[0], k) - in[0][c]) : 0.0f;
}

/* Keras's categorical_crossentropy on probabilities: p is first divided by its sum, then
 * clipped to [eps, 1-eps] with eps = 1e-7 (keras.backend.epsilon()); loss = -log q_c. */
static const double KERAS_EPSILON = 1e-7;

static double sum_of(const float *v, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* Where clip_by_value passes the gradient (TensorFlow: the bounds included). */
static int inside_clip(double q)
{
    return q >= KERAS_EPSILON && q <= 1.0 - KERAS_EPSILON;
}

void cnnc_interp_xent(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                      float *out, const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    int64_t k = input_size(g, n, 0);
    int64_t c = label_class(in[1], k);
    if (c < 0) {
        out[0] = 0.0f;
        return;
    }
    double q = in[0][c] / sum_of(in[0], k);
    if (q < KERAS_EPSILON)
        q = KERAS_EPSILON;
    if (q > 1.0 - KERAS_EPSILON)
        q = 1.0 - KERAS_EPSILON;
    out[0] = (float)-log(q);
}

/* mean over the k elements of (p - onehot(c))^2: Keras's mean_squared_error of a sample. */
void cnnc_interp_mse(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                     float *out, const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    int64_t k = input_size(g, n, 0);
    int64_t c = label_class(in[1], k);
    double sum = 0.0;
    for (int64_t i = 0; i < k; i++) {
        double d = (double)in[0][i] - (i == c ? 1.0 : 0.0);
        sum += d * d;
    }
    out[0] = (float)(sum / (double)k);
}

/* ------------------------------------------------------------------------------------ */
/* Backward ops                                                                         */

/* dx[iy,ix,ci] = sum over the (oy,ox,ky,kx) that read x[iy,ix] in the forward pass of
 * dy[oy,ox,co] * k[ky,kx,ci,co]: the forward loop with the roles of x and y swapped. */
void cnnc_interp_conv2d_grad_input(const cnnc_graph *g, const cnnc_node *n,
                                   const float *const *in, float *out,
                                   const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    const cnnc_attrs *a = &n->attrs;
    hwc dys = hwc_of(*input_shape(g, n, 0)), dxs = hwc_of(n->shape);
    const float *dy = in[0], *k = in[1];
    int64_t size = out_size(n);
    double *acc = new_doubles(size);
    for (int64_t oy = 0; oy < dys.h; oy++)
        for (int64_t ox = 0; ox < dys.w; ox++)
            for (int64_t ky = 0; ky < a->kernel_h; ky++) {
                int64_t iy = oy * a->stride_h + ky - a->pad_top;
                if (iy < 0 || iy >= dxs.h)
                    continue;
                for (int64_t kx = 0; kx < a->kernel_w; kx++) {
                    int64_t ix = ox * a->stride_w + kx - a->pad_left;
                    if (ix < 0 || ix >= dxs.w)
                        continue;
                    for (int64_t ci = 0; ci < dxs.c; ci++)
                        for (int64_t co = 0; co < dys.c; co++)
                            acc[at_hwc(dxs, iy, ix, ci)] +=
                                (double)dy[at_hwc(dys, oy, ox, co)] *
                                k[((ky * a->kernel_w + kx) * dxs.c + ci) * dys.c + co];
                }
            }
    store_and_free(acc, out, size);
}

/* dk[ky,kx,ci,co] = sum_{oy,ox} x[oy*sh+ky-pt, ox*sw+kx-pl, ci] * dy[oy,ox,co]. */
void cnnc_interp_conv2d_grad_kernel(const cnnc_graph *g, const cnnc_node *n,
                                    const float *const *in, float *out,
                                    const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    const cnnc_attrs *a = &n->attrs;
    hwc xs = hwc_of(*input_shape(g, n, 0)), dys = hwc_of(*input_shape(g, n, 1));
    const float *x = in[0], *dy = in[1];
    for (int64_t ky = 0; ky < a->kernel_h; ky++)
        for (int64_t kx = 0; kx < a->kernel_w; kx++)
            for (int64_t ci = 0; ci < xs.c; ci++)
                for (int64_t co = 0; co < dys.c; co++) {
                    double sum = 0.0;
                    for (int64_t oy = 0; oy < dys.h; oy++) {
                        int64_t iy = oy * a->stride_h + ky - a->pad_top;
                        if (iy < 0 || iy >= xs.h)
                            continue;
                        for (int64_t ox = 0; ox < dys.w; ox++) {
                            int64_t ix = ox * a->stride_w + kx - a->pad_left;
                            if (ix < 0 || ix >= xs.w)
                                continue;
                            sum += (double)x[at_hwc(xs, iy, ix, ci)] *
                                   dy[at_hwc(dys, oy, ox, co)];
                        }
                    }
                    out[((ky * a->kernel_w + kx) * xs.c + ci) * dys.c + co] = (float)sum;
                }
}

/* db[c] = sum of dy over every axis but the last. */
void cnnc_interp_bias_grad(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                           float *out, const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    int64_t c = out_size(n), rows = input_size(g, n, 0) / c;
    for (int64_t j = 0; j < c; j++) {
        double sum = 0.0;
        for (int64_t r = 0; r < rows; r++)
            sum += in[0][r * c + j];
        out[j] = (float)sum;
    }
}

/* Each output's gradient goes to the first maximum of its window (recomputed from x). */
void cnnc_interp_max_pool2d_grad(const cnnc_graph *g, const cnnc_node *n,
                                 const float *const *in, float *out,
                                 const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    hwc xs = hwc_of(*input_shape(g, n, 0)), dys = hwc_of(*input_shape(g, n, 1));
    int64_t size = out_size(n);
    double *acc = new_doubles(size);
    for (int64_t oy = 0; oy < dys.h; oy++)
        for (int64_t ox = 0; ox < dys.w; ox++) {
            window w = pool_window(&n->attrs, xs, oy, ox);
            for (int64_t c = 0; c < dys.c; c++) {
                int64_t best = window_argmax(in[0], xs, w, c);
                if (best >= 0)
                    acc[best] += in[1][at_hwc(dys, oy, ox, c)];
            }
        }
    store_and_free(acc, out, size);
}

/* Each output's gradient is shared equally by the real elements of its window. */
void cnnc_interp_avg_pool2d_grad(const cnnc_graph *g, const cnnc_node *n,
                                 const float *const *in, float *out,
                                 const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    hwc dxs = hwc_of(n->shape), dys = hwc_of(*input_shape(g, n, 0));
    int64_t size = out_size(n);
    double *acc = new_doubles(size);
    for (int64_t oy = 0; oy < dys.h; oy++)
        for (int64_t ox = 0; ox < dys.w; ox++) {
            window w = pool_window(&n->attrs, dxs, oy, ox);
            int64_t count = window_count(w);
            if (!count)
                continue;
            for (int64_t c = 0; c < dys.c; c++) {
                double share = (double)in[0][at_hwc(dys, oy, ox, c)] / (double)count;
                for (int64_t y = w.y0; y < w.y1; y++)
                    for (int64_t x = w.x0; x < w.x1; x++)
                        acc[at_hwc(dxs, y, x, c)] += share;
            }
        }
    store_and_free(acc, out, size);
}

void cnnc_interp_global_avg_pool2d_grad(const cnnc_graph *g, const cnnc_node *n,
                                        const float *const *in, float *out,
                                        const cnnc_interp_ctx *ctx)
{
    (void)g; (void)ctx;
    hwc dxs = hwc_of(n->shape);
    double area = (double)(dxs.h * dxs.w);
    for (int64_t y = 0; y < dxs.h; y++)
        for (int64_t x = 0; x < dxs.w; x++)
            for (int64_t c = 0; c < dxs.c; c++)
                out[at_hwc(dxs, y, x, c)] = (float)(in[0][c] / area);
}

/* dx[r,i] = sum_o dy[r,o] k[i,o]. */
void cnnc_interp_dense_grad_input(const cnnc_graph *g, const cnnc_node *n,
                                  const float *const *in, float *out,
                                  const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    const cnnc_shape *ks = input_shape(g, n, 1);
    int64_t nin = ks->dim[0], nout = ks->dim[1];
    int64_t rows = out_size(n) / nin;
    const float *dy = in[0], *k = in[1];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < nin; i++) {
            double sum = 0.0;
            for (int64_t o = 0; o < nout; o++)
                sum += (double)dy[r * nout + o] * k[i * nout + o];
            out[r * nin + i] = (float)sum;
        }
}

/* dk[i,o] = sum_r x[r,i] dy[r,o] (one outer product per row). */
void cnnc_interp_dense_grad_kernel(const cnnc_graph *g, const cnnc_node *n,
                                   const float *const *in, float *out,
                                   const cnnc_interp_ctx *ctx)
{
    (void)ctx;
    int64_t nin = n->shape.dim[0], nout = n->shape.dim[1];
    int64_t rows = input_size(g, n, 0) / nin;
    const float *x = in[0], *dy = in[1];
    for (int64_t i = 0; i < nin; i++)
        for (int64_t o = 0; o < nout; o++) {
            double sum = 0.0;
            for (int64_t r = 0; r < rows; r++)
                sum += (double)x[r * nin + i] * dy[r * nout + o];
            out[i * nout + o] = (float)sum;
        }
}

/* The derivative of softmax_cross_entropy: softmax(z) - onehot(c). The loss is the root,
 * so its incoming gradient is 1 (the batch mean is the program's division by n). */
void cnnc_interp_softmax_xent_grad(const cnnc_graph *g, const cnnc_node *n,
                                   const float *const *in, float *out,
                                   const cnnc_interp_ctx *ctx)
{
    (void)g; (void)ctx;
    int64_t k = out_size(n);
    int64_t c = label_class(in[1], k);
    if (c < 0) {
        memset(out, 0, (size_t)k * sizeof *out);
        return;
    }
    double *p = new_doubles(k);
    softmax_row(in[0], k, p);
    for (int64_t i = 0; i < k; i++)
        out[i] = (float)(p[i] - (i == c ? 1.0 : 0.0));
    free(p);
}

/* The exact derivative of XENT above, renormalisation included. With S = sum p and
 * q = p_c / S inside the clipping range, L = -log p_c + log S, so
 *   dL/dp_j = -1/p_c [j == c] + 1/S,
 * which is the "-y/p" of graph.h plus 1/S (= 1 for probabilities that sum to 1). Where
 * q is clipped the loss is constant and the gradient 0 (TF's clip_by_value gradient). */
void cnnc_interp_xent_grad(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                           float *out, const cnnc_interp_ctx *ctx)
{
    (void)g; (void)ctx;
    int64_t k = out_size(n);
    const float *p = in[0];
    int64_t c = label_class(in[1], k);
    double s = sum_of(p, k);
    if (c < 0 || !inside_clip(p[c] / s)) {
        memset(out, 0, (size_t)k * sizeof *out);
        return;
    }
    for (int64_t j = 0; j < k; j++)
        out[j] = (float)((j == c ? -1.0 / p[c] : 0.0) + 1.0 / s);
}

void cnnc_interp_mse_grad(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                          float *out, const cnnc_interp_ctx *ctx)
{
    (void)g; (void)ctx;
    int64_t k = out_size(n);
    int64_t c = label_class(in[1], k);
    for (int64_t i = 0; i < k; i++)
        out[i] = (float)(2.0 * ((double)in[0][i] - (i == c ? 1.0 : 0.0)) / (double)k);
}

/* ------------------------------------------------------------------------------------ */
/* Grad-CAM                                                                             */

/* The gradient of the class score with respect to the logits z (the seed of the Grad-CAM
 * backward pass). Class c = the label, or the argmax of z when the label is -1.
 *   CNNRT_SCORE_LOGIT:   score = z_c,           seed = onehot(c)
 *   CNNRT_SCORE_SOFTMAX: score = softmax(z)_c,  seed = p_c * (onehot(c) - p) */
void cnnc_interp_class_score_grad(const cnnc_graph *g, const cnnc_node *n,
                                  const float *const *in, float *out,
                                  const cnnc_interp_ctx *ctx)
{
    (void)g;
    int64_t k = out_size(n);
    int64_t c = target_class(in[0], k, in[1]);
    if (!ctx || ctx->score_mode != CNNRT_SCORE_SOFTMAX) {
        for (int64_t i = 0; i < k; i++)
            out[i] = i == c ? 1.0f : 0.0f;
        return;
    }
    double *p = new_doubles(k);
    softmax_row(in[0], k, p);
    for (int64_t i = 0; i < k; i++)
        out[i] = (float)(p[c] * ((i == c ? 1.0 : 0.0) - p[i]));
    free(p);
}

/* ------------------------------------------------------------------------------------ */
/* Running a graph                                                                      */

float **cnnc_interp_alloc_values(const cnnc_graph *g)
{
    float **values = calloc((size_t)(g->num_nodes ? g->num_nodes : 1), sizeof *values);
    if (!values)
        abort();
    for (int i = 0; i < g->num_nodes; i++) {
        int64_t size = cnnc_shape_size(g->nodes[i].shape);
        values[i] = calloc((size_t)(size ? size : 1), sizeof(float));
        if (!values[i])
            abort();
    }
    return values;
}

void cnnc_interp_free_values(const cnnc_graph *g, float **values)
{
    if (!values)
        return;
    for (int i = 0; i < g->num_nodes; i++)
        free(values[i]);
    free(values);
}

/* Every op of g must have an interpreter kernel; all missing ones are reported at once. */
static int check_supported(const cnnc_graph *g, cnnc_diag *d)
{
    int missing = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const cnnc_node *n = &g->nodes[i];
        if (n->op == CNNC_OP_INPUT || n->op == CNNC_OP_LABEL || n->op == CNNC_OP_PARAM)
            continue;
        if (!cnnc_op_info_of(n->op)->interp) {
            cnnc_error(d, n->loc, "op '%s' (node '%s') is not supported by the interpreter",
                       cnnc_op_info_of(n->op)->name, n->name);
            missing++;
        }
    }
    return missing ? -1 : 0;
}

static int check_param(const cnnc_graph *g, const cnnc_node *n, cnnc_diag *d)
{
    int p = n->attrs.param;
    if (p < 0 || p >= g->num_params ||
        g->params[p].size != cnnc_shape_size(n->shape) ||
        g->params[p].offset + g->params[p].size > g->param_floats) {
        cnnc_error(d, n->loc, "interpreter: parameter node '%s' names no valid parameter",
                   n->name);
        return -1;
    }
    return 0;
}

/* Node i of one image's run. */
static int run_node(const cnnc_graph *g, int i, const float *params, const float *image,
                    const cnnc_interp_ctx *ctx, float **values, cnnc_diag *d)
{
    const cnnc_node *n = &g->nodes[i];
    int64_t size = cnnc_shape_size(n->shape);
    switch (n->op) {
    case CNNC_OP_INPUT:
        memcpy(values[i], image, (size_t)size * sizeof(float));
        return 0;
    case CNNC_OP_PARAM:
        if (check_param(g, n, d))
            return -1;
        memcpy(values[i], params + g->params[n->attrs.param].offset,
               (size_t)size * sizeof(float));
        return 0;
    case CNNC_OP_LABEL:
        cnnc_interp_label(g, n, NULL, values[i], ctx);
        return 0;
    case CNNC_OP_ARG:
        if (!ctx->args || !ctx->args[n->attrs.param]) {
            cnnc_error(d, (cnnc_loc){0, 0, 0}, "interpreter: argument %d of %s is missing",
                       n->attrs.param, n->name);
            return -1;
        }
        memcpy(values[i], ctx->args[n->attrs.param], (size_t)size * sizeof(float));
        return 0;
    default:
        break;
    }
    const float *in[CNNC_MAX_INPUTS];
    for (int k = 0; k < CNNC_MAX_INPUTS; k++)
        in[k] = n->inputs[k] >= 0 ? values[n->inputs[k]] : NULL;
    cnnc_op_info_of(n->op)->interp(g, n, in, values[i], ctx);
    return 0;
}

/* Whether node n needs the whole batch: a BATCH_MEAN that is the batch's mean. */
static int is_batch_node(const cnnc_node *n, const cnnc_interp_ctx *ctx)
{
    return n->op == CNNC_OP_BATCH_MEAN && (ctx->training || n->inputs[1] < 0);
}

static int check_missing(const cnnc_graph *g, const float *params, const float *image,
                         const cnnc_interp_ctx *ctx, float **values, cnnc_diag *d)
{
    if (!values || !ctx || (!image && g->input_node >= 0) || (!params && g->num_params > 0)) {
        cnnc_error(d, (cnnc_loc){0, 0, 0},
                   "interpreter: missing %s", !values ? "value buffers" : !ctx ? "context"
                                              : !image ? "input image" : "weights");
        return -1;
    }
    return 0;
}

int cnnc_interp_run_image(const cnnc_graph *g, const float *params, const float *image,
                          const cnnc_interp_ctx *ctx, float **values, cnnc_diag *d)
{
    if (check_supported(g, d) || check_missing(g, params, image, ctx, values, d))
        return -1;
    for (int i = 0; i < g->num_nodes; i++)
        if (is_batch_node(&g->nodes[i], ctx)) {
            cnnc_error(d, g->nodes[i].loc, "interpreter: '%s' is a statistic of the whole "
                       "batch: run the graph with cnnc_interp_run_batch", g->nodes[i].name);
            return -1;
        }
    for (int i = 0; i < g->num_nodes; i++)
        if (run_node(g, i, params, image, ctx, values, d))
            return -1;
    return 0;
}

int cnnc_interp_run_batch(const cnnc_graph *g, const float *params, const float *x,
                          int64_t n, const cnnc_interp_ctx *ctxs, float ***values,
                          cnnc_diag *d)
{
    if (check_supported(g, d))
        return -1;
    int64_t image_floats = g->input_node >= 0 ? cnnc_shape_size(g->nodes[g->input_node].shape)
                                              : 0;
    for (int64_t b = 0; b < n; b++)
        if (check_missing(g, params, x ? x + b * image_floats : NULL, &ctxs[b], values[b], d))
            return -1;
    for (int i = 0; i < g->num_nodes; i++) {
        const cnnc_node *node = &g->nodes[i];
        if (is_batch_node(node, &ctxs[0])) {
            /* The mean over the images, the same value in each. */
            int64_t size = cnnc_shape_size(node->shape);
            for (int64_t e = 0; e < size; e++) {
                double sum = 0.0;
                for (int64_t b = 0; b < n; b++)
                    sum += values[b][node->inputs[0]][e];
                for (int64_t b = 0; b < n; b++)
                    values[b][i][e] = (float)(sum / (double)n);
            }
            continue;
        }
        for (int64_t b = 0; b < n; b++)
            if (run_node(g, i, params, x ? x + b * image_floats : NULL, &ctxs[b], values[b], d))
                return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Batch programs                                                                       */

static int input_floats(const cnnc_graph *g, int64_t *out, cnnc_diag *d)
{
    if (g->input_node < 0) {
        cnnc_error(d, (cnnc_loc){0, 0, 0}, "interpreter: the graph has no input node");
        return -1;
    }
    *out = cnnc_shape_size(g->nodes[g->input_node].shape);
    return 0;
}

/* The node of the first output with this role, or an error naming what is missing. */
static int required_output(const cnnc_graph *g, cnnc_output_role role, const char *what,
                           cnnc_diag *d)
{
    int node = cnnc_graph_find_output(g, role);
    if (node < 0)
        cnnc_error(d, (cnnc_loc){0, 0, 0}, "interpreter: the graph has no %s output", what);
    return node;
}

int cnnc_interp_infer(const cnnc_graph *forward, const float *params, const float *x,
                      int64_t n, float *probs, float *logits, cnnc_diag *d)
{
    int64_t image_floats;
    int out = required_output(forward, CNNC_OUT_PROBS, "probabilities", d);
    int logits_node = cnnc_graph_logits_node(forward);
    if (out < 0 || input_floats(forward, &image_floats, d))
        return -1;
    int64_t k = cnnc_shape_size(forward->nodes[out].shape);
    float **values = cnnc_interp_alloc_values(forward);
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        cnnc_interp_ctx ctx = {0, 0, i, CNNRT_SCORE_LOGIT, -1, NULL};
        rc = cnnc_interp_run_image(forward, params, x + i * image_floats, &ctx, values, d);
        if (rc == 0)
            memcpy(probs + i * k, values[out], (size_t)k * sizeof(float));
        if (rc == 0 && logits)
            memcpy(logits + i * k, values[logits_node], (size_t)k * sizeof(float));
    }
    cnnc_interp_free_values(forward, values);
    return rc;
}

int cnnc_interp_update(const cnnc_graph *update, float *const *args, cnnc_diag *d)
{
    cnnc_interp_ctx ctx = {0, 0, 0, CNNRT_SCORE_LOGIT, -1, args};
    float **values = cnnc_interp_alloc_values(update);
    int rc = cnnc_interp_run_image(update, NULL, NULL, &ctx, values, d);
    for (int o = 0; o < update->num_outputs && rc == 0; o++) {
        const cnnc_output *out = &update->outputs[o];
        if (out->role == CNNC_OUT_UPDATED)
            memcpy(args[out->param], values[out->node],
                   (size_t)cnnc_shape_size(update->nodes[out->node].shape) * sizeof(float));
    }
    cnnc_interp_free_values(update, values);
    return rc;
}

/* Adds each PARAM_GRAD output of one image's run into grad (flat, like params). */
static void accumulate_param_grads(const cnnc_graph *g, float **values, float *grad)
{
    for (int o = 0; o < g->num_outputs; o++) {
        const cnnc_output *out = &g->outputs[o];
        if (out->role != CNNC_OUT_PARAM_GRAD)
            continue;
        const cnnc_param *p = &g->params[out->param];
        for (int64_t i = 0; i < p->size; i++)
            grad[p->offset + i] += values[out->node][i];
    }
}

/* The batch statistics of the MOVING_STAT outputs (the same in every image), into stat
 * (flat, like params, at their moving statistic's place). */
static void keep_moving_stats(const cnnc_graph *g, float **values, float *stat)
{
    for (int o = 0; o < g->num_outputs; o++) {
        const cnnc_output *out = &g->outputs[o];
        if (out->role == CNNC_OUT_MOVING_STAT)
            memcpy(stat + g->params[out->param].offset, values[out->node],
                   (size_t)g->params[out->param].size * sizeof(float));
    }
}

/* Keras: moving = moving * momentum + batch * (1 - momentum), in float. */
static void update_moving_stats(const cnnc_graph *g, const float *stat, float *params)
{
    for (int o = 0; o < g->num_outputs; o++) {
        const cnnc_output *out = &g->outputs[o];
        if (out->role != CNNC_OUT_MOVING_STAT)
            continue;
        const cnnc_param *p = &g->params[out->param];
        float momentum = g->nodes[out->node].attrs.momentum;
        for (int64_t i = p->offset; i < p->offset + p->size; i++)
            params[i] = params[i] * momentum + stat[i] * (1.0f - momentum);
    }
}

static int check_train_graph(const cnnc_graph *g, cnnc_diag *d)
{
    for (int o = 0; o < g->num_outputs; o++) {
        const cnnc_output *out = &g->outputs[o];
        if (out->role != CNNC_OUT_PARAM_GRAD)
            continue;
        if (out->param < 0 || out->param >= g->num_params ||
            cnnc_shape_size(g->nodes[out->node].shape) != g->params[out->param].size) {
            cnnc_error(d, (cnnc_loc){0, 0, 0},
                       "interpreter: parameter gradient output %d does not match its parameter",
                       o);
            return -1;
        }
    }
    return 0;
}

int cnnc_interp_train_step(const cnnc_graph *train, float *params, float *opt_state,
                           const float *x, const int32_t *labels, int64_t n, int64_t step,
                           float lr, uint64_t seed, float *stats, cnnc_diag *d)
{
    int64_t image_floats;
    int loss_node = required_output(train, CNNC_OUT_LOSS, "loss", d);
    int probs_node = required_output(train, CNNC_OUT_PROBS, "probabilities", d);
    if (loss_node < 0 || probs_node < 0 || input_floats(train, &image_floats, d) ||
        check_train_graph(train, d))
        return -1;
    if (n <= 0 || step < 1 || !params || !x || !labels) {
        cnnc_error(d, (cnnc_loc){0, 0, 0}, "interpreter: a training step needs weights, "
                   "at least one image with its label, and step >= 1");
        return -1;
    }
    if (cnnc_graph_opt_state_floats(train) > 0 && !opt_state) {
        cnnc_error(d, (cnnc_loc){0, 0, 0}, "interpreter: the optimizer needs its state buffer");
        return -1;
    }
    int64_t k = cnnc_shape_size(train->nodes[probs_node].shape);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k) {
            cnnc_error(d, (cnnc_loc){0, 0, 0},
                       "interpreter: label %d of image %lld is outside 0..%lld",
                       (int)labels[i], (long long)i, (long long)(k - 1));
            return -1;
        }

    int64_t np = train->param_floats;
    float *grad = calloc((size_t)(np ? np : 1), sizeof *grad);
    float *moving = calloc((size_t)(np ? np : 1), sizeof *moving);   /* batch statistics */
    float **values = cnnc_interp_alloc_values(train);
    if (!grad || !moving)
        abort();
    float loss_sum = 0.0f, correct = 0.0f;
    int rc = 0;
    if (cnnc_graph_has_batch_ops(train)) {
        /* batch_norm: every image's values at once, node by node (run_batch). */
        float ***all = calloc((size_t)n, sizeof *all);
        cnnc_interp_ctx *ctxs = calloc((size_t)n, sizeof *ctxs);
        if (!all || !ctxs)
            abort();
        for (int64_t i = 0; i < n; i++) {
            all[i] = cnnc_interp_alloc_values(train);
            ctxs[i] = (cnnc_interp_ctx){1, seed, i, CNNRT_SCORE_LOGIT, labels[i], NULL};
        }
        rc = cnnc_interp_run_batch(train, params, x, n, ctxs, all, d);
        for (int64_t i = 0; i < n && rc == 0; i++) {
            loss_sum += all[i][loss_node][0];
            if (argmax(all[i][probs_node], k) == labels[i])
                correct += 1.0f;
            accumulate_param_grads(train, all[i], grad);
        }
        if (rc == 0)
            keep_moving_stats(train, all[0], moving);
        for (int64_t i = 0; i < n; i++)
            cnnc_interp_free_values(train, all[i]);
        free(all);
        free(ctxs);
    }
    for (int64_t i = 0; i < n && rc == 0 && !cnnc_graph_has_batch_ops(train); i++) {
        cnnc_interp_ctx ctx = {1, seed, i, CNNRT_SCORE_LOGIT, labels[i], NULL};
        rc = cnnc_interp_run_image(train, params, x + i * image_floats, &ctx, values, d);
        if (rc)
            break;
        loss_sum += values[loss_node][0];
        if (argmax(values[probs_node], k) == labels[i])
            correct += 1.0f;
        accumulate_param_grads(train, values, grad);
    }
    if (rc == 0 && np > 0) {
        /* The optimizer's update program, on the summed gradient. */
        cnnc_graph *update = cnnc_build_update_graph(&train->train, np, d);
        float lr_arg = lr, step_arg = (float)step, n_arg = (float)n;
        float *args[CNNC_UPD_STATE + CNNC_MAX_OPT_STATE] = {params, grad, &lr_arg, &step_arg,
                                                             &n_arg};
        int64_t state_floats = cnnc_graph_opt_state_floats(train);
        for (int k = 0; k < CNNC_MAX_OPT_STATE; k++)
            args[CNNC_UPD_STATE + k] = k * np < state_floats ? opt_state + k * np : NULL;
        rc = update ? cnnc_interp_update(update, args, d) : -1;
        cnnc_graph_free(update);
    }
    if (rc == 0)
        update_moving_stats(train, moving, params);
    if (rc == 0) {
        if (stats) {
            stats[0] = loss_sum;
            stats[1] = correct;
        }
    }
    cnnc_interp_free_values(train, values);
    free(grad);
    free(moving);
    return rc;
}

/* ReLU, then division by the maximum; a map with no positive value is all zeros. Returns
 * the maximum of the ReLU'd map (0 = no evidence for the class). */
static float normalise_map(const float *raw, int64_t size, float *map)
{
    float max = 0.0f;
    for (int64_t i = 0; i < size; i++) {
        map[i] = raw[i] > 0.0f ? raw[i] : 0.0f;
        if (map[i] > max)
            max = map[i];
    }
    for (int64_t i = 0; i < size; i++)
        map[i] = max > 0.0f ? map[i] / max : 0.0f;
    return max;
}

/* One image's run of a Grad-CAM graph with its probabilities copied out; the caller
 * reads what else it needs from values. */
static int run_class_image(const cnnc_graph *g, const float *params, const float *image,
                           int64_t i, int score_mode, int label, float **values,
                           int probs_node, float *probs, cnnc_diag *d)
{
    cnnc_interp_ctx ctx = {0, 0, i, score_mode, label, NULL};
    if (cnnc_interp_run_image(g, params, image, &ctx, values, d))
        return -1;
    int64_t k = cnnc_shape_size(g->nodes[probs_node].shape);
    if (probs)
        memcpy(probs + i * k, values[probs_node], (size_t)k * sizeof(float));
    return 0;
}

/* The checks both Grad-CAM programs share: the outputs, the classes, the score mode. */
static int check_class_run(const cnnc_graph *g, const int32_t *classes, int64_t n,
                           int score_mode, int *probs_node, int64_t *image_floats, cnnc_diag *d)
{
    *probs_node = required_output(g, CNNC_OUT_PROBS, "probabilities", d);
    if (*probs_node < 0 || input_floats(g, image_floats, d))
        return -1;
    int64_t k = cnnc_shape_size(g->nodes[*probs_node].shape);
    for (int64_t i = 0; classes && i < n; i++)
        if (classes[i] < -1 || classes[i] >= k) {
            cnnc_error(d, (cnnc_loc){0, 0, 0},
                       "interpreter: class %d of image %lld is outside -1..%lld",
                       (int)classes[i], (long long)i, (long long)(k - 1));
            return -1;
        }
    if (score_mode < 0 || score_mode >= CNNRT_SCORE_MODE_COUNT) {
        cnnc_error(d, (cnnc_loc){0, 0, 0}, "interpreter: unknown score mode %d", score_mode);
        return -1;
    }
    return 0;
}

int cnnc_interp_gradcam(const cnnc_graph *cam, const float *params, const float *x,
                        const int32_t *classes, int64_t n, int target, int method,
                        int score_mode, float *maps, float *map_max, float *probs,
                        cnnc_diag *d)
{
    int64_t image_floats;
    int probs_node;
    if (check_class_run(cam, classes, n, score_mode, &probs_node, &image_floats, d))
        return -1;
    int cam_node = method >= 0 && method < CNNRT_CAM_METHOD_COUNT
                       ? cnnc_cam_output_node(cam, target, (cnnrt_cam_method)method)
                       : -1;
    if (cam_node < 0) {
        cnnc_error(d, (cnnc_loc){0, 0, 0}, "interpreter: the graph has no Grad-CAM map for "
                   "target %d and method %d", target, method);
        return -1;
    }
    if (!maps || !x || !params) {
        cnnc_error(d, (cnnc_loc){0, 0, 0}, "interpreter: Grad-CAM needs weights, images and "
                   "a buffer for the maps");
        return -1;
    }
    int64_t map_size = cnnc_shape_size(cam->nodes[cam_node].shape);
    float **values = cnnc_interp_alloc_values(cam);
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        rc = run_class_image(cam, params, x + i * image_floats, i, score_mode,
                             classes ? classes[i] : -1, values, probs_node, probs, d);
        if (rc)
            break;
        float max = normalise_map(values[cam_node], map_size, maps + i * map_size);
        if (map_max)
            map_max[i] = max;
    }
    cnnc_interp_free_values(cam, values);
    return rc;
}

int cnnc_interp_guided(const cnnc_graph *guided, const float *params, const float *x,
                       const int32_t *classes, int64_t n, int score_mode, float *input_grads,
                       float *probs, cnnc_diag *d)
{
    int64_t image_floats;
    int probs_node;
    if (check_class_run(guided, classes, n, score_mode, &probs_node, &image_floats, d))
        return -1;
    int grads_node = required_output(guided, CNNC_OUT_INPUT_GRAD, "input gradient", d);
    if (grads_node < 0)
        return -1;
    if (!input_grads || !x || !params) {
        cnnc_error(d, (cnnc_loc){0, 0, 0}, "interpreter: guided backpropagation needs "
                   "weights, images and a buffer for the gradients");
        return -1;
    }
    float **values = cnnc_interp_alloc_values(guided);
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        rc = run_class_image(guided, params, x + i * image_floats, i, score_mode,
                             classes ? classes[i] : -1, values, probs_node, probs, d);
        if (rc == 0)
            memcpy(input_grads + i * image_floats, values[grads_node],
                   (size_t)image_floats * sizeof(float));
    }
    cnnc_interp_free_values(guided, values);
    return rc;
}
