/* ONNX import: a Sequential-shaped ONNX model -> model file text + weights (onnx_import.h).
 * protobuf-c parses the file with the onnx.proto of third_party/onnx. */
#include "onnx_import.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "cnnrt_weights.h"
#include "frontend.h"
#include "onnx.pb-c.h"

static const cnnc_loc NOWHERE = {0, 0, 0};
enum { MAX_ONNX_BYTES = 256 << 20 };

/* Where the running tensor's values are, per image. */
typedef enum {
    LAYOUT_NCHW,        /* a feature map in ONNX's layout: cnnc holds it as HWC */
    LAYOUT_NHWC,        /* the same map after a Transpose to NHWC (cnnc's own export) */
    LAYOUT_FLAT_CHW,    /* flattened from NCHW: the next dense kernel's rows need reordering */
    LAYOUT_FLAT,        /* flat in cnnc's order already */
    LAYOUT_POOLED,      /* after GlobalAveragePool: [C,1,1] in ONNX, [C] in cnnc */
} layout;

typedef struct importer {
    const char *path;
    const char *name_from;     /* the model's name comes from this path's file name */
    cnnc_diag *d;
    const Onnx__GraphProto *graph;
    int64_t opset;
    FILE *text;
    float *w;
    int64_t nw, capw;
    const char *current;       /* the ONNX value holding the running tensor */
    int64_t h, wd, c;          /* its per-image shape: h x wd x c, or c values when flat */
    int64_t flat_h, flat_w, flat_c;   /* the map a LAYOUT_FLAT_CHW vector came from */
    layout lay;
    int line_open;             /* a conv2d/dense line waiting for an activation= */
    int ends_in_softmax;
} importer;

static int import_error(importer *im, const Onnx__NodeProto *n, int index, const char *fmt, ...)
    CNNC_PRINTF(4, 5);
static int import_error(importer *im, const Onnx__NodeProto *n, int index, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        cnnc_error(im->d, NOWHERE, "node %d '%s' (%s): %s", index, n->name ? n->name : "",
                   n->op_type ? n->op_type : "?", msg);
    else
        cnnc_error(im->d, NOWHERE, "%s", msg);
    return -1;
}

/* ---- reading the protobuf --------------------------------------------------------------- */

static const Onnx__TensorProto *find_initializer(const importer *im, const char *name)
{
    for (size_t i = 0; name && i < im->graph->n_initializer; i++)
        if (im->graph->initializer[i]->name && !strcmp(im->graph->initializer[i]->name, name))
            return im->graph->initializer[i];
    return NULL;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a && a->has_i ? a->i : def;
}

static float attr_float(const Onnx__NodeProto *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a && a->has_f ? a->f : def;
}

/* The n-element INTS attribute into out; def when absent. 0, or -1 for another count. */
static int attr_ints(const Onnx__NodeProto *n, const char *name, int count, int64_t *out,
                     int64_t def)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    for (int i = 0; i < count; i++)
        out[i] = def;
    if (!a)
        return 0;
    if (a->n_ints != (size_t)count)
        return -1;
    for (int i = 0; i < count; i++)
        out[i] = a->ints[i];
    return 0;
}

static const char *attr_string(const Onnx__NodeProto *n, const char *name, const char *def,
                               char *buf, size_t len)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    if (!a || !a->has_s)
        return def;
    snprintf(buf, len, "%.*s", (int)a->s.len, (const char *)a->s.data);
    return buf;
}

static int64_t tensor_size(const Onnx__TensorProto *t)
{
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > (1 << 28))
            return -1;
        n *= t->dims[i];
        if (n > (1 << 28))
            return -1;
    }
    return n;
}

/* The float data of an initializer (raw_data or float_data), or NULL. */
static const float *tensor_floats(const Onnx__TensorProto *t, int64_t count)
{
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        tensor_size(t) != count)
        return NULL;
    if (t->has_raw_data && t->raw_data.len == (size_t)count * sizeof(float))
        return (const float *)(const void *)t->raw_data.data;   /* little-endian hosts */
    if (t->n_float_data == (size_t)count)
        return t->float_data;
    return NULL;
}

/* ---- writing -------------------------------------------------------------------------- */

/* The shortest decimal that reads back as the same float. */
static const char *float_text(float v, char *buf, size_t len)
{
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, len, "%.*g", digits, (double)v);
        if ((float)strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

static void end_line(importer *im)
{
    if (im->line_open)
        fputc('\n', im->text);
    im->line_open = 0;
}

static void layer_line(importer *im, int takes_activation, const char *fmt, ...)
    CNNC_PRINTF(3, 4);
static void layer_line(importer *im, int takes_activation, const char *fmt, ...)
{
    end_line(im);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(im->text, fmt, ap);
    va_end(ap);
    im->line_open = 1;
    if (!takes_activation)
        end_line(im);
}

static float *reserve(importer *im, int64_t n)
{
    if (im->nw + n > im->capw) {
        im->capw = (im->nw + n) * 2;
        im->w = realloc(im->w, (size_t)im->capw * sizeof(float));
        if (!im->w)
            abort();
    }
    float *p = im->w + im->nw;
    im->nw += n;
    return p;
}

/* ---- the nodes ---------------------------------------------------------------------------- */

/* 'valid' or TensorFlow's 'same' for pads [top, left, bottom, right] of a window; writes
 * the output size. -1 when the pads are neither. */
static int resolve_padding(int64_t in_h, int64_t in_w, const int64_t k[2], const int64_t s[2],
                           const int64_t pads[4], int *same, int64_t *out_h, int64_t *out_w)
{
    int valid = !pads[0] && !pads[1] && !pads[2] && !pads[3];
    int64_t in[2] = {in_h, in_w}, out[2];
    int tf_same = 1;
    for (int a = 0; a < 2; a++) {
        out[a] = (in[a] + s[a] - 1) / s[a];
        int64_t total = (out[a] - 1) * s[a] + k[a] - in[a];
        total = total > 0 ? total : 0;
        tf_same &= pads[a] == total / 2 && pads[a + 2] == total - total / 2;
    }
    if (valid) {
        *same = 0;
        *out_h = in_h >= k[0] ? (in_h - k[0]) / s[0] + 1 : 0;
        *out_w = in_w >= k[1] ? (in_w - k[1]) / s[1] + 1 : 0;
        return *out_h > 0 && *out_w > 0 ? 0 : -1;
    }
    if (!tf_same)
        return -1;
    *same = 1;
    *out_h = out[0];
    *out_w = out[1];
    return 0;
}

/* kernel_shape, strides, pads (or auto_pad) of a Conv or pool. */
static int window(importer *im, const Onnx__NodeProto *n, int index, const int64_t *kernel,
                  int *same, int64_t *out_h, int64_t *out_w, int64_t k[2], int64_t s[2])
{
    int64_t pads[4], dil[2];
    char buf[32];
    if (attr_ints(n, "kernel_shape", 2, k, kernel ? 0 : -1) ||
        attr_ints(n, "strides", 2, s, 1) || attr_ints(n, "pads", 4, pads, 0) ||
        attr_ints(n, "dilations", 2, dil, 1))
        return import_error(im, n, index, "only 2-D windows are supported");
    if (kernel) {
        k[0] = k[0] ? k[0] : kernel[0];
        k[1] = k[1] ? k[1] : kernel[1];
    }
    if (k[0] <= 0 || k[1] <= 0 || s[0] <= 0 || s[1] <= 0)
        return import_error(im, n, index, "needs a kernel_shape and positive strides");
    if (dil[0] != 1 || dil[1] != 1)
        return import_error(im, n, index, "dilations other than 1 are not supported");
    if (attr_int(n, "ceil_mode", 0))
        return import_error(im, n, index, "ceil_mode=1 is not supported");
    const char *auto_pad = attr_string(n, "auto_pad", "NOTSET", buf, sizeof buf);
    if (!strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "VALID")) {
        int64_t none[4] = {0, 0, 0, 0};
        if (resolve_padding(im->h, im->wd, k, s, none, same, out_h, out_w))
            return import_error(im, n, index, "the window does not fit the %lldx%lld input",
                                (long long)im->h, (long long)im->wd);
        if (!strcmp(auto_pad, "SAME_UPPER")) {
            *same = 1;
            *out_h = (im->h + s[0] - 1) / s[0];
            *out_w = (im->wd + s[1] - 1) / s[1];
        }
        return 0;
    }
    if (strcmp(auto_pad, "NOTSET"))
        return import_error(im, n, index, "auto_pad=%s is not supported", auto_pad);
    if (resolve_padding(im->h, im->wd, k, s, pads, same, out_h, out_w))
        return import_error(im, n, index, "pads [%lld, %lld, %lld, %lld] are neither none "
                            "('valid') nor TensorFlow's 'same' for a %lldx%lld input",
                            (long long)pads[0], (long long)pads[1], (long long)pads[2],
                            (long long)pads[3], (long long)im->h, (long long)im->wd);
    return 0;
}

static int need_map(importer *im, const Onnx__NodeProto *n, int index)
{
    if (im->lay == LAYOUT_NCHW)
        return 0;
    return import_error(im, n, index, "needs a feature map (NCHW) as its input");
}

static int conv(importer *im, const Onnx__NodeProto *n, int index)
{
    if (need_map(im, n, index))
        return -1;
    const Onnx__TensorProto *wt = n->n_input > 1 ? find_initializer(im, n->input[1]) : NULL;
    const Onnx__TensorProto *bt = n->n_input > 2 && n->input[2][0] ? find_initializer(im, n->input[2]) : NULL;
    if (!wt || wt->n_dims != 4)
        return import_error(im, n, index, "its weights must be a 4-D initializer");
    if (n->n_input > 2 && n->input[2][0] && !bt)
        return import_error(im, n, index, "its bias must be an initializer");
    if (attr_int(n, "group", 1) != 1)
        return import_error(im, n, index, "grouped convolutions are not supported");
    int64_t co = wt->dims[0], ci = wt->dims[1], kernel[2] = {wt->dims[2], wt->dims[3]};
    if (ci != im->c)
        return import_error(im, n, index, "its weights expect %lld input channels, not %lld",
                            (long long)ci, (long long)im->c);
    int same;
    int64_t oh, ow, k[2], s[2];
    if (window(im, n, index, kernel, &same, &oh, &ow, k, s))
        return -1;
    const float *src = tensor_floats(wt, co * ci * k[0] * k[1]);
    const float *bias = bt ? tensor_floats(bt, co) : NULL;
    if (!src || (bt && !bias) || k[0] != kernel[0] || k[1] != kernel[1])
        return import_error(im, n, index, "its weights are not float tensors of the right size");
    float *dst = reserve(im, co * ci * k[0] * k[1]);
    for (int64_t o = 0; o < co; o++)          /* OIHW -> HWIO */
        for (int64_t i = 0; i < ci; i++)
            for (int64_t y = 0; y < k[0]; y++)
                for (int64_t x = 0; x < k[1]; x++)
                    dst[((y * k[1] + x) * ci + i) * co + o] = src[((o * ci + i) * k[0] + y) * k[1] + x];
    if (bias)
        memcpy(reserve(im, co), bias, (size_t)co * sizeof(float));
    layer_line(im, 1, "conv2d  filters=%lld kernel=%lldx%lld strides=%lldx%lld padding=%s%s",
               (long long)co, (long long)k[0], (long long)k[1], (long long)s[0],
               (long long)s[1], same ? "same" : "valid", bias ? "" : " use_bias=false");
    im->h = oh;
    im->wd = ow;
    im->c = co;
    return 0;
}

static int pool(importer *im, const Onnx__NodeProto *n, int index, int is_max)
{
    if (need_map(im, n, index))
        return -1;
    int same;
    int64_t oh, ow, k[2], s[2];
    if (window(im, n, index, NULL, &same, &oh, &ow, k, s))
        return -1;
    if (!is_max && same && attr_int(n, "count_include_pad", 0) != 0)
        return import_error(im, n, index, "count_include_pad=1 with padding is not supported "
                            "(cnnc averages over the valid pixels, as TensorFlow does)");
    layer_line(im, 0, "%s  pool_size=%lldx%lld strides=%lldx%lld padding=%s",
               is_max ? "max_pool2d" : "avg_pool2d", (long long)k[0], (long long)k[1],
               (long long)s[0], (long long)s[1], same ? "same" : "valid");
    im->h = oh;
    im->wd = ow;
    return 0;
}

static int flatten(importer *im, const Onnx__NodeProto *n, int index)
{
    switch (im->lay) {
    case LAYOUT_POOLED:
        im->lay = LAYOUT_FLAT;   /* global_avg_pool2d is flat already in cnnc */
        return 0;
    case LAYOUT_NCHW:
    case LAYOUT_NHWC:
        layer_line(im, 0, "flatten");
        im->flat_h = im->h;
        im->flat_w = im->wd;
        im->flat_c = im->c;
        im->lay = im->lay == LAYOUT_NCHW && im->h * im->wd > 1 ? LAYOUT_FLAT_CHW : LAYOUT_FLAT;
        im->c *= im->h * im->wd;
        im->h = im->wd = 0;
        return 0;
    default:
        (void)n;
        (void)index;
        return 0;   /* flat already */
    }
}

/* The ONNX index of the value at cnnc's index r of the running flat vector: the same when
 * flat already, from HWC to the CHW order of a flattened NCHW map otherwise. */
static int64_t flat_source_index(const importer *im, int64_t r)
{
    if (im->lay != LAYOUT_FLAT_CHW)
        return r;
    int64_t H = im->flat_h, W = im->flat_w, C = im->flat_c;
    int64_t ch = r % C, x = (r / C) % W, y = r / (C * W);
    return (ch * H + y) * W + x;
}

/* Dense weights [in][out] from B ([in][out], or [out][in] when transposed). */
static int dense(importer *im, const Onnx__NodeProto *n, int index, const Onnx__TensorProto *bt,
                 int trans_b, const Onnx__TensorProto *ct)
{
    if (im->lay == LAYOUT_NCHW || im->lay == LAYOUT_NHWC)
        return import_error(im, n, index, "needs a flat input (add a Flatten before it)");
    if (im->lay == LAYOUT_POOLED)
        im->lay = LAYOUT_FLAT;
    if (!bt || bt->n_dims != 2)
        return import_error(im, n, index, "its weights must be a 2-D initializer");
    int64_t in = trans_b ? bt->dims[1] : bt->dims[0], out = trans_b ? bt->dims[0] : bt->dims[1];
    if (in != im->c)
        return import_error(im, n, index, "its weights expect %lld inputs, not %lld",
                            (long long)in, (long long)im->c);
    const float *src = tensor_floats(bt, in * out);
    const float *bias = ct ? tensor_floats(ct, out) : NULL;
    if (!src || (ct && !bias))
        return import_error(im, n, index, "its weights are not float tensors of the right size");
    float *dst = reserve(im, in * out);
    for (int64_t r = 0; r < in; r++) {
        int64_t from = flat_source_index(im, r);
        for (int64_t o = 0; o < out; o++)
            dst[r * out + o] = trans_b ? src[o * in + from] : src[from * out + o];
    }
    if (bias)
        memcpy(reserve(im, out), bias, (size_t)out * sizeof(float));
    layer_line(im, 1, "dense   units=%lld%s", (long long)out, bias ? "" : " use_bias=false");
    im->lay = LAYOUT_FLAT;
    im->c = out;
    return 0;
}

static int gemm(importer *im, const Onnx__NodeProto *n, int index)
{
    if (attr_int(n, "transA", 0) || attr_float(n, "alpha", 1.0f) != 1.0f ||
        attr_float(n, "beta", 1.0f) != 1.0f)
        return import_error(im, n, index, "only transA=0, alpha=1, beta=1 are supported");
    const Onnx__TensorProto *bt = n->n_input > 1 ? find_initializer(im, n->input[1]) : NULL;
    const Onnx__TensorProto *ct = n->n_input > 2 && n->input[2][0] ? find_initializer(im, n->input[2]) : NULL;
    if (n->n_input > 2 && n->input[2][0] && !ct)
        return import_error(im, n, index, "its bias must be an initializer");
    return dense(im, n, index, bt, (int)attr_int(n, "transB", 0), ct);
}

/* A BatchNormalization (inference form: y = (x - mean) / sqrt(var + epsilon) * scale + B,
 * per channel, axis 1) as a batch_norm layer over cnnc's channels (the last axis), with
 * the node's epsilon and momentum: the weights are Keras's gamma, beta, moving_mean,
 * moving_variance. ONNX's momentum has Keras's meaning (running = running * momentum +
 * batch * (1 - momentum)), so it is carried over as it is. */
static int batch_normalization(importer *im, const Onnx__NodeProto *n, int index)
{
    static const char *const input_names[4] = {"scale", "B", "input_mean", "input_var"};
    if (attr_int(n, "training_mode", 0))
        return import_error(im, n, index, "training_mode=1 is not supported (cnnc imports "
                            "the inference graph)");
    for (size_t o = 1; o < n->n_output; o++)
        if (n->output[o] && n->output[o][0])
            return import_error(im, n, index, "its extra outputs (training mode's running "
                                "statistics) are not supported");
    if (im->lay == LAYOUT_NHWC)
        return import_error(im, n, index, "a BatchNormalization after a Transpose to NHWC "
                            "is not supported");
    int64_t c = im->c;   /* a map's channels, or a flat vector's values */
    const float *v[4];
    for (int i = 0; i < 4; i++) {
        const Onnx__TensorProto *t = n->n_input > (size_t)i + 1 ?
                                     find_initializer(im, n->input[i + 1]) : NULL;
        if (!t || !(v[i] = tensor_floats(t, c)))
            return import_error(im, n, index, "its %s must be a float initializer with one "
                                "value per channel (%lld)", input_names[i], (long long)c);
    }
    for (int i = 0; i < 4; i++) {   /* gamma, beta, moving_mean, moving_variance */
        float *dst = reserve(im, c);
        for (int64_t k = 0; k < c; k++)
            dst[k] = v[i][flat_source_index(im, k)];
    }
    char eps[32], mom[32];
    layer_line(im, 0, "batch_norm epsilon=%s momentum=%s",
               float_text(attr_float(n, "epsilon", 1e-5f), eps, sizeof eps),
               float_text(attr_float(n, "momentum", 0.9f), mom, sizeof mom));
    return 0;
}

/* An activation: folded into the conv2d/dense line before it when that line has none. */
static int activation(importer *im, const char *word)
{
    if (im->line_open) {
        fprintf(im->text, " activation=%s", word);
        end_line(im);
    } else {
        layer_line(im, 0, "%s", word);
    }
    return 0;
}

static int is_perm(const Onnx__NodeProto *n, int a, int b, int c, int d)
{
    int64_t p[4];
    return !attr_ints(n, "perm", 4, p, -1) && p[0] == a && p[1] == b && p[2] == c && p[3] == d;
}

static const char *const SUPPORTED[] = {
    "Conv", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "MaxPool", "AveragePool",
    "GlobalAveragePool", "Flatten", "Reshape", "Gemm", "MatMul", "Add", "Dropout", "Softmax",
    "Identity", "Transpose", "BatchNormalization",
};

static int supported(const char *op)
{
    for (size_t i = 0; op && i < sizeof SUPPORTED / sizeof SUPPORTED[0]; i++)
        if (!strcmp(op, SUPPORTED[i]))
            return 1;
    return 0;
}

/* One node; *skip_next is set when it consumed the next one too (MatMul + Add). */
static int import_node(importer *im, int i, int *skip_next)
{
    const Onnx__NodeProto *n = im->graph->node[i];
    const char *op = n->op_type;
    if (n->n_input < 1 || n->n_output < 1 || !n->input[0] || strcmp(n->input[0], im->current))
        return import_error(im, n, i, "does not read the previous node's output (only "
                            "Sequential models, one chain of nodes, are supported)");
    if (op[0] && n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx"))
        return import_error(im, n, i, "domain '%s' is not supported", n->domain);
    int failed = 0;
    char num[32];
    if (!strcmp(op, "Conv"))
        failed = conv(im, n, i);
    else if (!strcmp(op, "Relu"))
        failed = activation(im, "relu");
    else if (!strcmp(op, "Sigmoid"))
        failed = activation(im, "sigmoid");
    else if (!strcmp(op, "Tanh"))
        failed = activation(im, "tanh");
    else if (!strcmp(op, "LeakyRelu"))
        layer_line(im, 0, "leaky_relu alpha=%s",
                   float_text(attr_float(n, "alpha", 0.01f), num, sizeof num));
    else if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool"))
        failed = pool(im, n, i, !strcmp(op, "MaxPool"));
    else if (!strcmp(op, "GlobalAveragePool")) {
        if (!(failed = need_map(im, n, i))) {
            layer_line(im, 0, "global_avg_pool2d");
            im->lay = LAYOUT_POOLED;
            im->h = im->wd = 1;
        }
    } else if (!strcmp(op, "Flatten")) {
        if (attr_int(n, "axis", 1) != 1)
            failed = import_error(im, n, i, "only axis=1 is supported");
        else
            failed = flatten(im, n, i);
    } else if (!strcmp(op, "Reshape")) {
        const Onnx__TensorProto *t = n->n_input > 1 ? find_initializer(im, n->input[1]) : NULL;
        if (!t || t->n_dims != 1 || t->dims[0] != 2 || t->n_int64_data + (t->has_raw_data ? 1 : 0) == 0)
            failed = import_error(im, n, i, "only a Reshape to [N, -1] (a flatten) given as an "
                                  "initializer is supported");
        else
            failed = flatten(im, n, i);
    } else if (!strcmp(op, "Gemm")) {
        failed = gemm(im, n, i);
    } else if (!strcmp(op, "BatchNormalization")) {
        failed = batch_normalization(im, n, i);
    } else if (!strcmp(op, "MatMul")) {
        const Onnx__TensorProto *bt = n->n_input > 1 ? find_initializer(im, n->input[1]) : NULL;
        const Onnx__TensorProto *ct = NULL;
        if (i + 1 < (int)im->graph->n_node) {
            const Onnx__NodeProto *next = im->graph->node[i + 1];
            if (!strcmp(next->op_type, "Add") && next->n_input == 2 && next->n_output == 1 &&
                !strcmp(next->input[0], n->output[0]) && (ct = find_initializer(im, next->input[1]))) {
                *skip_next = 1;
            }
        }
        failed = dense(im, n, i, bt, 0, ct);
    } else if (!strcmp(op, "Dropout")) {
        float rate = attr_float(n, "ratio", 0.5f);
        const Onnx__TensorProto *t = n->n_input > 1 ? find_initializer(im, n->input[1]) : NULL;
        const float *r = t ? tensor_floats(t, 1) : NULL;
        if (r)
            rate = *r;
        layer_line(im, 0, "dropout rate=%s", float_text(rate, num, sizeof num));
    } else if (!strcmp(op, "Softmax")) {
        int64_t axis = attr_int(n, "axis", im->opset >= 13 ? -1 : 1);
        if ((im->lay != LAYOUT_FLAT && im->lay != LAYOUT_FLAT_CHW) || (axis != 1 && axis != -1))
            failed = import_error(im, n, i, "only a softmax over the classes of a flat vector "
                                  "is supported");
        else
            failed = activation(im, "softmax");
        im->ends_in_softmax = 1;
    } else if (!strcmp(op, "Transpose")) {
        if (im->lay == LAYOUT_NCHW && is_perm(n, 0, 2, 3, 1))
            im->lay = LAYOUT_NHWC;
        else
            failed = import_error(im, n, i, "only a Transpose from NCHW to NHWC before a "
                                  "Flatten is supported");
    } else if (!strcmp(op, "Add")) {
        failed = import_error(im, n, i, "an Add is only supported as the bias of a MatMul");
    }
    /* Identity: nothing to do. */
    if (strcmp(op, "Softmax") && strcmp(op, "Identity") && strcmp(op, "Dropout"))
        im->ends_in_softmax = 0;
    im->current = (*skip_next ? im->graph->node[i + 1] : n)->output[0];
    return failed;
}

/* The graph's one real input: its shape as input shape=HxWxC; the first node consumed when
 * it is the Transpose of cnnc's own export (NHWC input). Returns the index of the next node. */
static int import_input(importer *im)
{
    const Onnx__ValueInfoProto *in = NULL;
    int count = 0;
    for (size_t i = 0; i < im->graph->n_input; i++)
        if (!find_initializer(im, im->graph->input[i]->name)) {
            in = im->graph->input[i];
            count++;
        }
    if (count != 1)
        return import_error(im, NULL, 0, "the model has %d inputs besides its weights; cnnc "
                            "imports models with one image input", count);
    const Onnx__TypeProto *t = in->type;
    const Onnx__TensorShapeProto *s = t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
                                      t->tensor_type ? t->tensor_type->shape : NULL;
    int64_t dims[4];
    int known = s && s->n_dim == 4;
    for (int i = 1; known && i < 4; i++) {
        known = s->dim[i]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                s->dim[i]->dim_value > 0;
        dims[i] = known ? s->dim[i]->dim_value : 0;
    }
    if (!known)
        return import_error(im, NULL, 0, "input '%s' must be a 4-D image [N, C, H, W] with "
                            "known C, H and W", in->name);
    im->current = in->name;
    int next = 0;
    const Onnx__NodeProto *first = im->graph->n_node ? im->graph->node[0] : NULL;
    if (first && !strcmp(first->op_type, "Transpose") && first->n_input == 1 &&
        !strcmp(first->input[0], in->name) && is_perm(first, 0, 3, 1, 2)) {
        im->h = dims[1], im->wd = dims[2], im->c = dims[3];   /* NHWC input (cnnc's export) */
        im->current = first->output[0];
        next = 1;
    } else {
        im->c = dims[1], im->h = dims[2], im->wd = dims[3];
    }
    im->lay = LAYOUT_NCHW;
    return next;
}

static void model_name(const char *path, char *out, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = 0;
    for (const char *p = base; *p && n + 1 < len && strcmp(p, ".onnx"); p++)
        out[n++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                          (*p >= '0' && *p <= '9') ? *p : '_');
    out[n] = '\0';
    if (n == 0 || (out[0] >= '0' && out[0] <= '9'))
        snprintf(out, len, "onnx_model");
}

static int import_graph(importer *im, cnnc_onnx_import *out)
{
    const Onnx__GraphProto *g = im->graph;
    int unsupported = 0;
    for (size_t i = 0; i < g->n_node; i++)
        if (!supported(g->node[i]->op_type)) {
            const char *op = g->node[i]->op_type ? g->node[i]->op_type : "?";
            import_error(im, g->node[i], (int)i, "the op %s is not supported by cnnc's ONNX "
                         "import", op);
            unsupported++;
        }
    if (unsupported) {
        cnnc_note(im->d, NOWHERE, "%d of the model's %zu nodes are not supported; "
                  "docs/interop.md lists what is", unsupported, g->n_node);
        return -1;
    }
    char name[128];
    model_name(im->name_from ? im->name_from : im->path, name, sizeof name);
    fprintf(im->text, "# Imported by cnnc from %s (ONNX opset %lld)\nmodel %s\n", im->path,
            (long long)im->opset, name);
    int i = import_input(im);
    if (i < 0)
        return -1;
    fprintf(im->text, "input   shape=%lldx%lldx%lld\n", (long long)im->h, (long long)im->wd,
            (long long)im->c);
    for (; i < (int)g->n_node; i++) {
        int skip = 0;
        if (import_node(im, i, &skip))
            return -1;
        i += skip;
    }
    if (g->n_output != 1 || strcmp(g->output[0]->name, im->current))
        return import_error(im, NULL, 0, "the model's output must be its last node's");
    if (im->lay != LAYOUT_FLAT)
        return import_error(im, NULL, 0, "the model's output must be a vector of class scores");
    if (!im->ends_in_softmax) {
        end_line(im);
        fprintf(im->text, "softmax   # added: the ONNX model ends in scores\n");
        out->ends_in_scores = 1;
    }
    end_line(im);
    fprintf(im->text, "compile loss=categorical_crossentropy optimizer=adam lr=0.001 "
                      "metrics=acc\nfit     epochs=10 batch_size=64 validation_split=0.1\n");
    return 0;
}

int cnnc_is_onnx_path(const char *path)
{
    size_t n = strlen(path);
    return n > 5 && !strcmp(path + n - 5, ".onnx");
}

int cnnc_onnx_import_file(const char *path, const char *name_from, cnnc_onnx_import *out,
                          cnnc_diag *d)
{
    memset(out, 0, sizeof *out);
    unsigned char *data;
    size_t len;
    cnnrt_err e;
    if (cnnrt_read_file(path, MAX_ONNX_BYTES, &data, &len, &e)) {
        cnnc_error(d, NOWHERE, "%s", e.msg);
        return -1;
    }
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, data);
    free(data);
    if (!m || !m->graph) {
        cnnc_error(d, NOWHERE, "not an ONNX model: the file does not parse as an ONNX "
                               "ModelProto (protobuf)");
        if (m)
            onnx__model_proto__free_unpacked(m, NULL);
        return -1;
    }
    importer im = {.path = path, .name_from = name_from, .d = d, .graph = m->graph, .opset = 0};
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (!m->opset_import[i]->domain || !m->opset_import[i]->domain[0] ||
            !strcmp(m->opset_import[i]->domain, "ai.onnx"))
            im.opset = m->opset_import[i]->version;
    char *text = NULL;
    size_t text_len = 0;
    im.text = open_memstream(&text, &text_len);
    if (!im.text)
        abort();
    int failed = import_graph(&im, out);
    fclose(im.text);
    onnx__model_proto__free_unpacked(m, NULL);
    if (failed) {
        free(text);
        free(im.w);
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->model_text = text;
    out->weights = im.w;
    out->num_floats = im.nw;
    return 0;
}

void cnnc_onnx_import_free(cnnc_onnx_import *im)
{
    free(im->model_text);
    free(im->weights);
    memset(im, 0, sizeof *im);
}

int cnnc_onnx_write_weights(const cnnc_graph *g, const cnnc_onnx_import *im, const char *path,
                            cnnc_diag *d)
{
    if (im->num_floats != g->param_floats) {
        cnnc_error(d, NOWHERE, "internal error: the import has %lld weights, the model %lld",
                   (long long)im->num_floats, (long long)g->param_floats);
        return -1;
    }
    cnnrt_weights w;
    memset(&w, 0, sizeof w);
    w.fingerprint = cnnc_graph_fingerprint(g);
    snprintf(w.model_name, sizeof w.model_name, "%s", g->model_name);
    w.num_tensors = g->num_params;
    w.tensors = cnnc_param_descs(g);
    w.params = im->weights;   /* the tensors back to back, in the model's order */
    w.param_floats = g->param_floats;
    w.opt_kind = g->train.optimizer;   /* fresh state: train --resume starts from here */
    w.opt_state_floats = cnnc_graph_opt_state_floats(g);
    w.opt_state = cnnrt_xcalloc((size_t)(w.opt_state_floats ? w.opt_state_floats : 1),
                                sizeof(float));
    w.seed = g->train.seed;
    cnnrt_err e;
    int failed = cnnrt_weights_save(path, &w, &e);
    if (failed)
        cnnc_error(d, NOWHERE, "%s", e.msg);
    free(w.opt_state);
    free(w.tensors);
    return failed ? -1 : 0;
}
