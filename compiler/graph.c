/* Graph IR: building, copying, shapes and the architecture fingerprint.
 * The text dumps and the summary table live in print.c. */
#include "graph.h"
#include "elementwise.h"
#include "optimizers.h"
#include "ops.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Every growing array of the graph starts with room for this many elements. */
#define FIRST_CAP 16

cnnc_graph *cnnc_graph_new(const char *model_name)
{
    cnnc_graph *g = cnnc_xrealloc(NULL, sizeof *g);
    memset(g, 0, sizeof *g);
    g->model_name = cnnc_xstrdup(model_name ? model_name : "model");
    g->input_node = -1;
    g->label_node = -1;
    g->train.loss = CNNRT_LOSS_CATEGORICAL_CROSSENTROPY;
    g->train.optimizer = CNNRT_OPT_ADAM;
    g->train.lr = 0.001;
    g->train.beta_1 = 0.9;
    g->train.beta_2 = 0.999;
    g->train.epsilon = 1e-7;
    g->train.momentum = 0.0;
    g->train.rho = 0.9;
    g->train.metrics_accuracy = 0;
    g->train.epochs = 1;
    g->train.batch_size = 32;
    g->train.validation_split = 0.0;
    g->train.seed = 42;
    return g;
}

void cnnc_graph_free(cnnc_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->num_nodes; i++)
        free(g->nodes[i].name);
    for (int i = 0; i < g->num_layers; i++)
        free(g->layers[i].name);
    for (int i = 0; i < g->num_params; i++)
        free(g->params[i].name);
    free(g->nodes);
    free(g->layers);
    free(g->params);
    free(g->outputs);
    free(g->model_name);
    free(g->source_file);
    free(g->gradcam_layer);
    free(g->fit_extras);
    free(g->class_names);
    free(g);
}

/* A copy of a growing array with the same capacity (so the copy can grow the same way). */
static void *copy_array(const void *array, int count, int cap, size_t elem_size)
{
    void *copy = cnnc_xrealloc(NULL, (size_t)(cap ? cap : 1) * elem_size);
    if (count)
        memcpy(copy, array, (size_t)count * elem_size);
    return copy;
}

cnnc_graph *cnnc_graph_clone(const cnnc_graph *g)
{
    cnnc_graph *c = cnnc_xrealloc(NULL, sizeof *c);
    *c = *g;
    c->model_name = cnnc_xstrdup(g->model_name);
    c->source_file = cnnc_xstrdup(g->source_file);
    c->gradcam_layer = cnnc_xstrdup(g->gradcam_layer);
    c->fit_extras = cnnc_xstrdup(g->fit_extras);
    c->class_names = cnnc_xstrdup(g->class_names);
    c->nodes = copy_array(g->nodes, g->num_nodes, g->cap_nodes, sizeof *c->nodes);
    c->layers = copy_array(g->layers, g->num_layers, g->cap_layers, sizeof *c->layers);
    c->params = copy_array(g->params, g->num_params, g->cap_params, sizeof *c->params);
    c->outputs = copy_array(g->outputs, g->num_outputs, g->cap_outputs, sizeof *c->outputs);
    for (int i = 0; i < c->num_nodes; i++)
        c->nodes[i].name = cnnc_xstrdup(g->nodes[i].name);
    for (int i = 0; i < c->num_layers; i++)
        c->layers[i].name = cnnc_xstrdup(g->layers[i].name);
    for (int i = 0; i < c->num_params; i++)
        c->params[i].name = cnnc_xstrdup(g->params[i].name);
    return c;
}

int cnnc_graph_add(cnnc_graph *g, cnnc_diag *d, cnnc_op op, const int *inputs,
                   const cnnc_attrs *attrs, const char *name, int layer, cnnc_loc loc)
{
    const cnnc_op_info *info = cnnc_op_info_of(op);
    cnnc_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    for (int i = 0; i < CNNC_MAX_INPUTS; i++) {
        n.inputs[i] = (inputs && i < info->arity) ? inputs[i] : -1;
        if (n.inputs[i] >= g->num_nodes) {
            cnnc_error(d, loc, "internal error: %s takes node %d which does not exist yet",
                       info->name, n.inputs[i]);
            return -1;
        }
    }
    if (attrs)
        n.attrs = *attrs;
    n.layer = layer;
    n.loc = loc;
    n.cam_target = n.cam_method = -1;
    n.name = cnnc_xstrdup(name ? name : info->name);
    if (info->shape && info->shape(g, &n, d) != 0) {
        free(n.name);
        return -1;
    }
    g->nodes = cnnc_grow(g->nodes, g->num_nodes, &g->cap_nodes, FIRST_CAP, sizeof *g->nodes);
    g->nodes[g->num_nodes] = n;
    if (op == CNNC_OP_INPUT)
        g->input_node = g->num_nodes;
    if (op == CNNC_OP_LABEL)
        g->label_node = g->num_nodes;
    return g->num_nodes++;
}

int cnnc_graph_add_param(cnnc_graph *g, const char *name, cnnc_shape shape, cnnc_init init,
                         int64_t fan_in, int64_t fan_out, int layer)
{
    g->params = cnnc_grow(g->params, g->num_params, &g->cap_params, FIRST_CAP,
                          sizeof *g->params);
    cnnc_param *p = &g->params[g->num_params];
    memset(p, 0, sizeof *p);
    p->name = cnnc_xstrdup(name);
    p->shape = shape;
    p->size = cnnc_shape_size(shape);
    p->offset = g->param_floats;
    p->init = init;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->layer = layer;
    g->param_floats += p->size;
    int index = g->num_params++;

    cnnc_attrs attrs;
    memset(&attrs, 0, sizeof attrs);
    attrs.param = index;
    cnnc_loc loc = {0, 0, 0};
    int node = cnnc_graph_add(g, NULL, CNNC_OP_PARAM, NULL, &attrs, name, layer, loc);
    g->params[index].node = node;
    return node;
}

int cnnc_graph_add_output(cnnc_graph *g, cnnc_output_role role, int node, int param)
{
    g->outputs = cnnc_grow(g->outputs, g->num_outputs, &g->cap_outputs, FIRST_CAP,
                           sizeof *g->outputs);
    g->outputs[g->num_outputs] = (cnnc_output){role, node, param, -1, -1};
    return g->num_outputs++;
}

int cnnc_graph_find_output(const cnnc_graph *g, cnnc_output_role role)
{
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i].role == role)
            return g->outputs[i].node;
    return -1;
}

int cnnc_graph_logits_node(const cnnc_graph *g)
{
    int probs = cnnc_graph_find_output(g, CNNC_OUT_PROBS);
    int logits = cnnc_graph_find_output(g, CNNC_OUT_LOGITS);
    if (logits >= 0 || probs < 0)
        return logits;
    return g->nodes[probs].op == CNNC_OP_SOFTMAX ? g->nodes[probs].inputs[0] : probs;
}

int cnnc_graph_find_layer(const cnnc_graph *g, const char *name)
{
    for (int i = 0; i < g->num_layers; i++)
        if (strcmp(g->layers[i].name, name) == 0)
            return i;
    return -1;
}

int64_t cnnc_graph_opt_state_floats(const cnnc_graph *g)
{
    const cnnc_optimizer_def *o = cnnc_optimizer_def_of(g->train.optimizer);
    return o ? o->state_vectors(&g->train) * g->param_floats : 0;
}

cnnc_shape cnnc_shape_make(int rank, const int64_t *dims)
{
    cnnc_shape s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    for (int i = 0; i < rank && i < CNNC_MAX_RANK; i++)
        s.dim[i] = dims[i];
    return s;
}

cnnc_shape cnnc_shape3(int64_t h, int64_t w, int64_t c)
{
    int64_t dims[3] = {h, w, c};
    return cnnc_shape_make(3, dims);
}

cnnc_shape cnnc_shape1(int64_t n)
{
    return cnnc_shape_make(1, &n);
}

int64_t cnnc_shape_size(cnnc_shape s)
{
    int64_t n = 1;
    for (int i = 0; i < s.rank; i++)
        n *= s.dim[i];
    return n;
}

int cnnc_shape_equal(cnnc_shape a, cnnc_shape b)
{
    if (a.rank != b.rank)
        return 0;
    for (int i = 0; i < a.rank; i++)
        if (a.dim[i] != b.dim[i])
            return 0;
    return 1;
}

char *cnnc_shape_str(cnnc_shape s, int keras, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (keras)
        used += (size_t)snprintf(buf + used, len - used, "(None");
    for (int i = 0; i < s.rank && used < len; i++) {
        if (keras)
            used += (size_t)snprintf(buf + used, len - used, ", %" PRId64, s.dim[i]);
        else
            used += (size_t)snprintf(buf + used, len - used, i ? "x%" PRId64 : "%" PRId64,
                                     s.dim[i]);
    }
    if (used < len && keras)
        snprintf(buf + used, len - used, ")");
    else if (s.rank == 0 && !keras)
        snprintf(buf, len, "scalar");
    return buf;
}

/* FNV-1a over the fields that define the architecture. */
static uint64_t fnv_bytes(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

static uint64_t fnv_int(uint64_t h, int64_t v)
{
    return fnv_bytes(h, &v, sizeof v);
}

static uint64_t fnv_shape(uint64_t h, cnnc_shape s)
{
    h = fnv_int(h, s.rank);
    for (int i = 0; i < s.rank; i++)
        h = fnv_int(h, s.dim[i]);
    return h;
}

static uint64_t fnv_text(uint64_t h, const char *text)
{
    return text ? fnv_bytes(h, text, strlen(text) + 1) : fnv_int(h, -1);
}

const char *cnnc_node_op_name(const cnnc_node *n)
{
    if (n->op == CNNC_OP_EW)
        return cnnc_ew_info_of((cnnc_ew_fn)n->attrs.ew)->name;
    return cnnc_op_info_of(n->op)->name;
}

int cnnc_node_arity(const cnnc_node *n)
{
    if (n->op == CNNC_OP_EW)
        return cnnc_ew_info_of((cnnc_ew_fn)n->attrs.ew)->arity;
    return cnnc_op_info_of(n->op)->arity;
}

/* Over the Keras-level architecture only -- each layer's keyword, output shape and what
 * its nodes compute with which window, strides, padding, units and parameter, then the
 * weights' names and shapes -- so that a change of the IR (new ops, other node numbers)
 * leaves the fingerprints of existing models, and their weights files, valid. */
uint64_t cnnc_graph_fingerprint(const cnnc_graph *g)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (int l = 0; l < g->num_layers; l++) {
        h = fnv_text(h, g->layers[l].keyword);
        h = fnv_shape(h, g->layers[l].shape);
        for (int i = 0; i < g->num_nodes; i++) {
            const cnnc_node *n = &g->nodes[i];
            const cnnc_attrs *a = &n->attrs;
            if (n->layer != l || n->op == CNNC_OP_PARAM)
                continue;
            h = fnv_text(h, cnnc_node_op_name(n));
            int64_t fields[] = {a->kernel_h, a->kernel_w, a->stride_h, a->stride_w,
                                a->pad_top, a->pad_left, a->pad_bottom, a->pad_right,
                                a->units, (int64_t)(a->alpha * 1e6f)};
            for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
                h = fnv_int(h, fields[k]);
        }
    }
    for (int i = 0; i < g->num_params; i++) {
        h = fnv_bytes(h, g->params[i].name, strlen(g->params[i].name));
        h = fnv_shape(h, g->params[i].shape);
    }
    return h;
}
