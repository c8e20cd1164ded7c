/* ONNX and Keras descriptions of a model, built from its forward graph (export_model.h). */
#include "export_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "cnnrt_export.h"
#include "elementwise.h"
#include "onnx.pb-c.h"

static const cnnc_loc NOWHERE = {0, 0, 0};
enum { ONNX_OPSET = 13, ONNX_IR_VERSION = 7 };   /* IR 7 is the one of opset 13 */

static char *xstrdup(const char *s)
{
    char *c = strdup(s);
    if (!c)
        abort();
    return c;
}

/* Appends item to a protobuf-c repeated field (array + count), growing it. */
#define APPEND(array, count, item)                                                     \
    do {                                                                               \
        (array) = realloc((array), ((count) + 1) * sizeof *(array));                  \
        if (!(array))                                                                  \
            abort();                                                                   \
        (array)[(count)++] = (item);                                                   \
    } while (0)

/* ---- batch_norm layers ------------------------------------------------------------------ */

static int layer_param(const cnnc_graph *g, int layer, const char *suffix)
{
    size_t n = strlen(suffix);
    for (int p = 0; p < g->num_params; p++) {
        size_t len = strlen(g->params[p].name);
        if (g->params[p].layer == layer && len > n &&
            !strcmp(g->params[p].name + len - n, suffix))
            return p;
    }
    return -1;
}

static int is_leaf(const cnnc_node *n)
{
    return n->op == CNNC_OP_PARAM || n->op == CNNC_OP_CONST;
}

int cnnc_export_batch_norm(const cnnc_graph *g, int layer, cnnc_export_bn *bn)
{
    if (layer < 0 || layer >= g->num_layers || !g->layers[layer].keyword ||
        strcmp(g->layers[layer].keyword, "batch_norm"))
        return 0;
    *bn = (cnnc_export_bn){-1, layer_param(g, layer, "/gamma"), layer_param(g, layer, "/beta"),
                           layer_param(g, layer, "/moving_mean"),
                           layer_param(g, layer, "/moving_variance"), 0.0f, 0.0f};
    int statistics = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const cnnc_node *n = &g->nodes[i];
        if (n->layer != layer || is_leaf(n))
            continue;
        if (n->op == CNNC_OP_BATCH_MEAN) {   /* both carry the layer's settings */
            bn->epsilon = n->attrs.epsilon;
            bn->momentum = n->attrs.momentum;
            statistics++;
        }
        for (int k = 0; k < CNNC_MAX_INPUTS; k++) {   /* x: what the layer reads from before */
            int in = n->inputs[k];
            if (in >= 0 && g->nodes[in].layer != layer && !is_leaf(&g->nodes[in]))
                bn->x = in;
        }
    }
    return bn->x >= 0 && statistics == 2 && bn->moving_mean >= 0 && bn->moving_variance >= 0;
}

/* ---- ONNX ------------------------------------------------------------------------------ */

typedef struct onnx_builder {
    const cnnc_graph *g;
    cnnc_diag *d;
    Onnx__GraphProto *graph;
    char **value;        /* per graph node: the ONNX value holding its output */
    int *nchw;           /* per graph node: 1 when that value is an NCHW feature map */
} onnx_builder;

static Onnx__NodeProto *onnx_node(onnx_builder *b, const char *op_type, const char *name,
                                  const char *const *inputs, int n_inputs, const char *output)
{
    Onnx__NodeProto *n = cnnrt_xmalloc(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = xstrdup(op_type);
    n->name = xstrdup(name);
    for (int i = 0; i < n_inputs; i++)
        APPEND(n->input, n->n_input, xstrdup(inputs[i]));
    APPEND(n->output, n->n_output, xstrdup(output));
    APPEND(b->graph->node, b->graph->n_node, n);
    return n;
}

static Onnx__AttributeProto *onnx_attr(Onnx__NodeProto *n, const char *name,
                                       Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = cnnrt_xmalloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = xstrdup(name);
    a->has_type = 1;
    a->type = type;
    APPEND(n->attribute, n->n_attribute, a);
    return a;
}

static void attr_int(Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = onnx_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static void attr_float(Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = onnx_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

static void attr_ints(Onnx__NodeProto *n, const char *name, int count, ...)
{
    Onnx__AttributeProto *a = onnx_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    va_list ap;
    va_start(ap, count);
    for (int i = 0; i < count; i++)
        APPEND(a->ints, a->n_ints, (int64_t)va_arg(ap, int));
    va_end(ap);
}

/* kernel_shape, strides and pads (ONNX's begin..., end... order) of a window op. */
static void window_attrs(Onnx__NodeProto *n, const cnnc_attrs *a)
{
    attr_ints(n, "kernel_shape", 2, a->kernel_h, a->kernel_w);
    attr_ints(n, "strides", 2, a->stride_h, a->stride_w);
    attr_ints(n, "pads", 4, a->pad_top, a->pad_left, a->pad_bottom, a->pad_right);
}

/* A float tensor value [batch, dims...]: batch -1 leaves the batch out (initializers). */
static Onnx__ValueInfoProto *value_info(const char *name, const int64_t *dims, int rank)
{
    Onnx__TensorShapeProto *shape = cnnrt_xmalloc(sizeof *shape);
    onnx__tensor_shape_proto__init(shape);
    Onnx__TensorShapeProto__Dimension *batch = cnnrt_xmalloc(sizeof *batch);
    onnx__tensor_shape_proto__dimension__init(batch);
    batch->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    batch->dim_param = xstrdup("N");
    APPEND(shape->dim, shape->n_dim, batch);
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *dim = cnnrt_xmalloc(sizeof *dim);
        onnx__tensor_shape_proto__dimension__init(dim);
        dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        dim->dim_value = dims[i];
        APPEND(shape->dim, shape->n_dim, dim);
    }
    Onnx__TypeProto__Tensor *tensor = cnnrt_xmalloc(sizeof *tensor);
    onnx__type_proto__tensor__init(tensor);
    tensor->has_elem_type = 1;
    tensor->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor->shape = shape;
    Onnx__TypeProto *type = cnnrt_xmalloc(sizeof *type);
    onnx__type_proto__init(type);
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    Onnx__ValueInfoProto *v = cnnrt_xmalloc(sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = xstrdup(name);
    v->type = type;
    return v;
}

/* An initializer for params[i] with its ONNX dimensions and no data. */
static void add_initializer(onnx_builder *b, const cnnc_param *p)
{
    Onnx__TensorProto *t = cnnrt_xmalloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = xstrdup(p->name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    const int64_t *k = p->shape.dim;
    int64_t oihw[4] = {k[3], k[2], k[0], k[1]};
    for (int i = 0; i < p->shape.rank; i++)
        APPEND(t->dims, t->n_dims, p->shape.rank == 4 ? oihw[i] : k[i]);
    APPEND(b->graph->initializer, b->graph->n_initializer, t);
}

static void set_value(onnx_builder *b, int node, const char *name, int nchw)
{
    free(b->value[node]);
    b->value[node] = xstrdup(name);
    b->nchw[node] = nchw;
}

/* A Transpose of value `in` with a permutation of NCHW/NHWC; returns the new value's name
 * (static storage of the caller's buffer). */
static const char *transpose(onnx_builder *b, const char *in, const char *out, int to_nchw)
{
    Onnx__NodeProto *n = onnx_node(b, "Transpose", out, &in, 1, out);
    if (to_nchw)
        attr_ints(n, "perm", 4, 0, 3, 1, 2);
    else
        attr_ints(n, "perm", 4, 0, 2, 3, 1);
    return out;
}

static const char *ew_op(const cnnc_node *n)
{
    switch (n->attrs.ew) {
    case CNNC_EW_RELU: return "Relu";
    case CNNC_EW_SIGMOID: return "Sigmoid";
    case CNNC_EW_TANH: return "Tanh";
    case CNNC_EW_LEAKY_RELU: return "LeakyRelu";
    default: return NULL;
    }
}

/* An initializer of `count` floats equal to value, data included (the weights the
 * program fills in are params; this one is a constant). */
static const char *constant_initializer(onnx_builder *b, const char *name, int64_t count,
                                        float value)
{
    Onnx__TensorProto *t = cnnrt_xmalloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = xstrdup(name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    APPEND(t->dims, t->n_dims, count);
    for (int64_t i = 0; i < count; i++)
        APPEND(t->float_data, t->n_float_data, value);
    APPEND(b->graph->initializer, b->graph->n_initializer, t);
    return t->name;
}

/* A batch_norm layer: one BatchNormalization (inference form, channels on axis 1, which is
 * NCHW's C and a flat vector's features) at the layer's output node. Its momentum has
 * Keras's meaning in ONNX too. */
static int export_batch_norm(onnx_builder *b, int id, const cnnc_export_bn *bn)
{
    const cnnc_node *n = &b->g->nodes[id];
    const cnnc_shape *xs = &b->g->nodes[bn->x].shape;
    int64_t channels = xs->dim[xs->rank - 1];
    char gamma[400], beta[400];
    snprintf(gamma, sizeof gamma, "%s/gamma(ones)", n->name);
    snprintf(beta, sizeof beta, "%s/beta(zeros)", n->name);
    const char *in[5] = {
        b->value[bn->x],
        bn->gamma >= 0 ? b->g->params[bn->gamma].name : constant_initializer(b, gamma, channels, 1),
        bn->beta >= 0 ? b->g->params[bn->beta].name : constant_initializer(b, beta, channels, 0),
        b->g->params[bn->moving_mean].name, b->g->params[bn->moving_variance].name};
    const char *name = b->g->layers[n->layer].name;
    Onnx__NodeProto *o = onnx_node(b, "BatchNormalization", name, in, 5, name);
    attr_float(o, "epsilon", bn->epsilon);
    attr_float(o, "momentum", bn->momentum);
    set_value(b, id, name, b->nchw[bn->x]);
    return 0;
}

/* One forward node as ONNX nodes. Returns 0, or -1 after a message. */
static int export_node(onnx_builder *b, int id)
{
    const cnnc_graph *g = b->g;
    const cnnc_node *n = &g->nodes[id];
    const char *x = n->inputs[0] >= 0 ? b->value[n->inputs[0]] : NULL;
    int x_nchw = n->inputs[0] >= 0 && b->nchw[n->inputs[0]];
    const char *in[3] = {x, NULL, NULL};
    char buf[400];
    Onnx__NodeProto *o;
    cnnc_export_bn bn;
    if (n->op != CNNC_OP_PARAM && cnnc_export_batch_norm(g, n->layer, &bn))
        return id == g->layers[n->layer].output_node ? export_batch_norm(b, id, &bn) : 0;
    switch (n->op) {
    case CNNC_OP_PARAM:
        add_initializer(b, &g->params[n->attrs.param]);
        set_value(b, id, n->name, 0);
        return 0;
    case CNNC_OP_CONV2D:
    case CNNC_OP_DENSE: {
        int k = 1;
        in[k++] = b->value[n->inputs[1]];
        if (n->inputs[2] >= 0)
            in[k++] = b->value[n->inputs[2]];
        o = onnx_node(b, n->op == CNNC_OP_CONV2D ? "Conv" : "Gemm", n->name, in, k, n->name);
        if (n->op == CNNC_OP_CONV2D)
            window_attrs(o, &n->attrs);
        set_value(b, id, n->name, n->op == CNNC_OP_CONV2D);
        return 0;
    }
    case CNNC_OP_MAX_POOL2D:
    case CNNC_OP_AVG_POOL2D:
        o = onnx_node(b, n->op == CNNC_OP_MAX_POOL2D ? "MaxPool" : "AveragePool", n->name, in,
                      1, n->name);
        window_attrs(o, &n->attrs);
        if (n->op == CNNC_OP_AVG_POOL2D)
            attr_int(o, "count_include_pad", 0);   /* TensorFlow's 'same' */
        set_value(b, id, n->name, 1);
        return 0;
    case CNNC_OP_GLOBAL_AVG_POOL2D:
        snprintf(buf, sizeof buf, "%s/pooled", n->name);
        onnx_node(b, "GlobalAveragePool", buf, in, 1, buf);
        in[0] = buf;
        attr_int(onnx_node(b, "Flatten", n->name, in, 1, n->name), "axis", 1);
        set_value(b, id, n->name, 0);
        return 0;
    case CNNC_OP_RESHAPE:
        if (x_nchw) {   /* back to HWC order, the dense kernel's row order */
            snprintf(buf, sizeof buf, "%s/nhwc", n->name);
            in[0] = transpose(b, x, buf, 0);
        }
        attr_int(onnx_node(b, "Flatten", n->name, in, 1, n->name), "axis", 1);
        set_value(b, id, n->name, 0);
        return 0;
    case CNNC_OP_DROPOUT:   /* identity in inference */
        set_value(b, id, x, x_nchw);
        return 0;
    case CNNC_OP_SOFTMAX:
        attr_int(onnx_node(b, "Softmax", n->name, in, 1, n->name), "axis", -1);
        set_value(b, id, n->name, x_nchw);
        return 0;
    case CNNC_OP_EW:
        if (n->inputs[1] < 0 && ew_op(n)) {
            o = onnx_node(b, ew_op(n), n->name, in, 1, n->name);
            if (n->attrs.ew == CNNC_EW_LEAKY_RELU)
                attr_float(o, "alpha", n->attrs.alpha);
            set_value(b, id, n->name, x_nchw);
            return 0;
        }
        break;
    default:
        break;
    }
    cnnc_error(b->d, n->loc, "ONNX export: '%s' (%s) has no ONNX counterpart in cnnc's "
                             "exporter", n->name, cnnc_node_op_name(n));
    return -1;
}

static Onnx__ModelProto *new_model(const cnnc_graph *g)
{
    Onnx__ModelProto *m = cnnrt_xmalloc(sizeof *m);
    onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = ONNX_IR_VERSION;
    m->producer_name = xstrdup("cnnc");
    m->producer_version = xstrdup(CNNC_VERSION);
    Onnx__OperatorSetIdProto *opset = cnnrt_xmalloc(sizeof *opset);
    onnx__operator_set_id_proto__init(opset);
    opset->domain = xstrdup("");
    opset->has_version = 1;
    opset->version = ONNX_OPSET;
    APPEND(m->opset_import, m->n_opset_import, opset);
    m->graph = cnnrt_xmalloc(sizeof *m->graph);
    onnx__graph_proto__init(m->graph);
    m->graph->name = xstrdup(g->model_name);
    return m;
}

/* The graph's nodes up to the model's output. */
static int export_graph(onnx_builder *b, int output_node)
{
    const cnnc_graph *g = b->g;
    const cnnc_shape *in = &g->nodes[g->input_node].shape;
    if (in->rank != 3) {
        cnnc_error(b->d, NOWHERE, "ONNX export needs an image input (HxWxC)");
        return -1;
    }
    APPEND(b->graph->input, b->graph->n_input, value_info("input", in->dim, 3));
    set_value(b, g->input_node, transpose(b, "input", "input/nchw", 1), 1);
    /* Every node without an ONNX counterpart is reported. One that failed gets its own
     * name as a stand-in value, so that the nodes after it, which read it, are still
     * checked (and built from something) rather than from a missing value; the model is
     * thrown away. */
    int failed = 0;
    for (int id = 0; id <= output_node; id++) {
        if (id == g->input_node || g->nodes[id].op == CNNC_OP_LABEL ||
            export_node(b, id) == 0)
            continue;
        failed = 1;
        if (!b->value[id])
            set_value(b, id, g->nodes[id].name, 0);
    }
    if (failed)
        return -1;
    const cnnc_shape *out = &g->nodes[output_node].shape;
    /* The model's output value is named "output": an Identity gives it that name. */
    const char *last = b->value[output_node];
    onnx_node(b, "Identity", "output", &last, 1, "output");
    APPEND(b->graph->output, b->graph->n_output, value_info("output", out->dim, out->rank));
    return 0;
}

int cnnc_onnx_template(const cnnc_graph *g, unsigned char **bytes, size_t *len, cnnc_diag *d)
{
    *bytes = NULL;
    *len = 0;
    int output_node = cnnc_graph_find_output(g, CNNC_OUT_PROBS);
    if (output_node < 0) {
        cnnc_error(d, NOWHERE, "ONNX export: the model has no output");
        return -1;
    }
    Onnx__ModelProto *m = new_model(g);
    onnx_builder b = {g, d, m->graph, cnnrt_xcalloc((size_t)g->num_nodes, sizeof(char *)),
                      cnnrt_xcalloc((size_t)g->num_nodes, sizeof(int))};
    int failed = export_graph(&b, output_node);
    if (!failed) {
        *len = onnx__model_proto__get_packed_size(m);
        *bytes = cnnrt_xmalloc(*len);
        onnx__model_proto__pack(m, *bytes);
    }
    for (int i = 0; i < g->num_nodes; i++)
        free(b.value[i]);
    free(b.value);
    free(b.nchw);
    onnx__model_proto__free_unpacked(m, NULL);   /* everything above is malloc'ed */
    return failed ? -1 : 0;
}

int cnnc_emit_onnx(const cnnc_graph *g, const char *path, cnnc_diag *d)
{
    unsigned char *tmpl;
    size_t len;
    if (cnnc_onnx_template(g, &tmpl, &len, d))
        return -1;
    cnnrt_param_desc *descs = cnnc_param_descs(g);
    float *params = cnnc_initial_params(g, g->train.seed);
    cnnrt_err e;
    int failed = cnnrt_onnx_write(path, tmpl, len, descs, g->num_params, params, &e);
    if (failed)
        cnnc_error(d, NOWHERE, "%s", e.msg);
    free(params);
    free(descs);
    free(tmpl);
    return failed ? -1 : 0;
}

/* ---- embedding in a program ------------------------------------------------------------ */

static void add_constant(LLVMModuleRef mod, const char *name, LLVMValueRef init)
{
    LLVMValueRef gv = LLVMAddGlobal(mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
}

int cnnc_embed_export_data(LLVMModuleRef mod, const cnnc_graph *g)
{
    /* A model the exporters do not know still compiles: its program's export command then
     * says so, and `cnnc MODEL --emit-onnx` shows why. Messages go nowhere here. */
    char *discarded = NULL;
    size_t discarded_len = 0;
    cnnc_diag quiet;
    cnnc_diag_init(&quiet, g->source_file, NULL, 0);
    quiet.out = open_memstream(&discarded, &discarded_len);
    if (!quiet.out)
        abort();
    unsigned char *tmpl = NULL;
    size_t len;
    char *keras = NULL;
    int failed = cnnc_onnx_template(g, &tmpl, &len, &quiet) != 0 ||
                 !(keras = cnnc_keras_config(g, &quiet));
    fclose(quiet.out);
    free(discarded);
    if (failed) {
        free(tmpl);
        free(keras);
        return 0;
    }
    LLVMContextRef ctx = LLVMGetModuleContext(mod);
    add_constant(mod, "cnnrt_program_onnx_template",
                 LLVMConstStringInContext(ctx, (const char *)tmpl, (unsigned)len, 1));
    add_constant(mod, "cnnrt_program_onnx_template_size",
                 LLVMConstInt(LLVMInt64TypeInContext(ctx), len, 0));
    add_constant(mod, "cnnrt_program_keras_config",
                 LLVMConstStringInContext(ctx, keras, (unsigned)strlen(keras), 0));
    free(tmpl);
    free(keras);
    return 0;
}
