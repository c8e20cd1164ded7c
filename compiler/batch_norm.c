/* BatchNormalization: the layer's nodes, and the inference graph that folds it into the
 * conv2d or dense before it (see batch_norm.h). */
#include "batch_norm.h"
#include "elementwise.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ---- the layer ------------------------------------------------------------------------ */

static int add_weight(cnnc_graph *g, const char *layer_name, const char *what, int64_t c,
                      cnnc_init init, int layer, int non_trainable)
{
    char name[300];
    snprintf(name, sizeof name, "%s/%s", layer_name, what);
    int node = cnnc_graph_add_param(g, name, cnnc_shape1(c), init, 0, 0, layer);
    if (node >= 0)
        g->params[g->nodes[node].attrs.param].non_trainable = non_trainable;
    return node;
}

/* The batch statistic of the per-image value `per_image` with moving statistic `moving`. */
static int batch_statistic(const cnnc_builder *b, int per_image, int moving,
                           const cnnc_bn_settings *s)
{
    if (per_image < 0 || moving < 0)
        return -1;
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    a.param = b->g->nodes[moving].attrs.param;
    a.momentum = (float)s->momentum;
    a.epsilon = (float)s->epsilon;
    int inputs[CNNC_MAX_INPUTS] = {per_image, moving, -1};
    return cnnc_graph_add(b->g, b->d, CNNC_OP_BATCH_MEAN, inputs, &a, b->name, b->layer,
                          b->loc);
}

int cnnc_build_batch_norm(cnnc_graph *g, cnnc_diag *d, int x, const cnnc_bn_settings *s,
                          const char *layer_name, int layer, cnnc_loc loc)
{
    cnnc_shape shape = g->nodes[x].shape;
    int64_t c = shape.rank > 0 ? shape.dim[shape.rank - 1] : 1;
    unsigned axes = shape.rank > 0 ? (1u << (shape.rank - 1)) - 1 : 0;   /* all but C */
    int gamma = s->scale ? add_weight(g, layer_name, "gamma", c, CNNC_INIT_ONES, layer, 0) : -1;
    int beta = s->center ? add_weight(g, layer_name, "beta", c, CNNC_INIT_ZEROS, layer, 0) : -1;
    int moving_mean = add_weight(g, layer_name, "moving_mean", c, CNNC_INIT_ZEROS, layer, 1);
    int moving_var = add_weight(g, layer_name, "moving_variance", c, CNNC_INIT_ONES, layer, 1);

    char name[300];
    cnnc_builder b = {g, d, name, layer, loc};
    snprintf(name, sizeof name, "%s/mean", layer_name);
    int per_image = axes ? cnnc_reduce(&b, CNNC_REDUCE_MEAN, x, axes) : x;
    int mu = batch_statistic(&b, per_image, moving_mean, s);
    snprintf(name, sizeof name, "%s/centered", layer_name);
    int xc = cnnc_sub(&b, x, mu);
    snprintf(name, sizeof name, "%s/variance", layer_name);
    int sq = cnnc_ew1(&b, CNNC_EW_SQUARE, xc);
    per_image = axes ? cnnc_reduce(&b, CNNC_REDUCE_MEAN, sq, axes) : sq;
    int var = batch_statistic(&b, per_image, moving_var, s);
    snprintf(name, sizeof name, "%s/scale", layer_name);
    int inv = cnnc_div(&b, cnnc_const(&b, 1.0f),
                       cnnc_ew1(&b, CNNC_EW_SQRT, cnnc_shift(&b, var, (float)s->epsilon)));
    int scale = gamma >= 0 ? cnnc_mul(&b, inv, gamma) : inv;
    snprintf(name, sizeof name, "%s", layer_name);
    int y = cnnc_mul(&b, xc, scale);
    return beta >= 0 ? cnnc_add(&b, y, beta) : y;
}

int cnnc_graph_has_batch_ops(const cnnc_graph *g)
{
    for (int i = 0; i < g->num_nodes; i++)
        if (g->nodes[i].op == CNNC_OP_BATCH_MEAN)
            return 1;
    return 0;
}

/* ---- the inference graph -------------------------------------------------------------- */

static int is_bn_layer(const cnnc_graph *g, int layer)
{
    return layer >= 0 && layer < g->num_layers && g->layers[layer].keyword &&
           strcmp(g->layers[layer].keyword, "batch_norm") == 0;
}

/* What the inference form of one batch_norm layer reads (node ids of the forward graph;
 * gamma and beta are -1 when the layer has none). */
typedef struct bn_parts {
    int x, gamma, beta, moving_mean, moving_var;
    float epsilon;
} bn_parts;

static int param_node_named(const cnnc_graph *g, int layer, const char *suffix)
{
    size_t n = strlen(suffix);
    for (int p = 0; p < g->num_params; p++) {
        size_t len = strlen(g->params[p].name);
        if (g->params[p].layer == layer && len > n &&
            strcmp(g->params[p].name + len - n, suffix) == 0)
            return g->params[p].node;
    }
    return -1;
}

/* Finds the parts of batch_norm layer `layer` as cnnc_build_batch_norm made them. */
static int find_bn_parts(const cnnc_graph *g, int layer, bn_parts *out)
{
    int mu = -1, var = -1;
    out->x = -1;
    for (int i = 0; i < g->num_nodes; i++) {
        const cnnc_node *n = &g->nodes[i];
        if (n->layer != layer)
            continue;
        if (n->op == CNNC_OP_BATCH_MEAN && n->inputs[1] >= 0) {
            if (mu < 0)
                mu = i;
            else
                var = i;
        } else if (n->op == CNNC_OP_EW && n->attrs.ew == CNNC_EW_SUB && mu >= 0 &&
                   n->inputs[1] == mu) {
            out->x = n->inputs[0];
        }
    }
    if (mu < 0 || var < 0 || out->x < 0)
        return -1;
    out->moving_mean = g->nodes[mu].inputs[1];
    out->moving_var = g->nodes[var].inputs[1];
    out->epsilon = g->nodes[var].attrs.epsilon;
    out->gamma = param_node_named(g, layer, "/gamma");
    out->beta = param_node_named(g, layer, "/beta");
    return 0;
}

/* Whether node p is a conv2d or dense whose value only batch_norm layer `layer` reads (as
 * its x), and nothing else: then the layer can be folded into it. */
static int foldable_into(const cnnc_graph *g, int p, int layer)
{
    const cnnc_node *n = &g->nodes[p];
    if (n->op != CNNC_OP_CONV2D && n->op != CNNC_OP_DENSE)
        return 0;
    for (int o = 0; o < g->num_outputs; o++)
        if (g->outputs[o].node == p)
            return 0;
    for (int i = p + 1; i < g->num_nodes; i++)
        for (int k = 0; k < CNNC_MAX_INPUTS; k++)
            if (g->nodes[i].inputs[k] == p && g->nodes[i].layer != layer)
                return 0;
    return 1;
}

typedef struct rewrite {
    const cnnc_graph *old;
    cnnc_graph *g;
    cnnc_diag *d;
    int *map;            /* old node -> new node, -1 = not (yet) copied */
    int *fold_layer;     /* old conv2d/dense node -> the batch_norm layer folded into it */
} rewrite;

static int copy_node(rewrite *r, int i, const int *inputs)
{
    const cnnc_node *n = &r->old->nodes[i];
    return cnnc_graph_add(r->g, r->d, n->op, inputs, &n->attrs, n->name, n->layer, n->loc);
}

static int mapped_inputs(rewrite *r, int i, int *inputs)
{
    const cnnc_node *n = &r->old->nodes[i];
    for (int k = 0; k < CNNC_MAX_INPUTS; k++) {
        inputs[k] = n->inputs[k] >= 0 ? r->map[n->inputs[k]] : -1;
        if (n->inputs[k] >= 0 && inputs[k] < 0) {
            cnnc_error(r->d, n->loc, "internal error: folding batch normalization: '%s' "
                       "reads a value that no longer exists", n->name);
            return -1;
        }
    }
    return 0;
}

/* The inference form of batch_norm layer `layer` (its output node in the old graph is
 * `out`): s = gamma / sqrt(moving_variance + epsilon), shift = beta - moving_mean * s,
 * then either the folded conv2d/dense or x * s + shift. */
static int rewrite_bn(rewrite *r, int layer)
{
    const cnnc_graph *old = r->old;
    bn_parts p;
    if (find_bn_parts(old, layer, &p)) {
        cnnc_error(r->d, old->layers[layer].loc, "internal error: batch_norm layer '%s' is "
                   "not in the form the front end builds", old->layers[layer].name);
        return -1;
    }
    char name[300];
    snprintf(name, sizeof name, "%s/folded", old->layers[layer].name);
    cnnc_builder b = {r->g, r->d, name, layer, old->layers[layer].loc};
    int m = r->map[p.moving_mean], v = r->map[p.moving_var];
    int s = cnnc_div(&b, cnnc_const(&b, 1.0f),
                     cnnc_ew1(&b, CNNC_EW_SQRT, cnnc_shift(&b, v, p.epsilon)));
    if (p.gamma >= 0)
        s = cnnc_mul(&b, s, r->map[p.gamma]);
    int shift = cnnc_mul(&b, m, s);
    shift = p.beta >= 0 ? cnnc_sub(&b, r->map[p.beta], shift)
                        : cnnc_ew1(&b, CNNC_EW_NEG, shift);
    if (r->fold_layer[p.x] != layer)
        return cnnc_add(&b, cnnc_mul(&b, r->map[p.x], s), shift);

    /* conv(x, K, bias) followed by the affine map = conv(x, K * s, bias * s + shift):
     * s is [C], a suffix of the kernel's shape (output channels innermost). */
    const cnnc_node *conv = &old->nodes[p.x];
    int kernel = cnnc_mul(&b, r->map[conv->inputs[1]], s);
    int bias = conv->inputs[2] >= 0 ? cnnc_add(&b, cnnc_mul(&b, r->map[conv->inputs[2]], s),
                                               shift)
                                    : shift;
    if (kernel < 0 || bias < 0)
        return -1;
    int inputs[CNNC_MAX_INPUTS] = {r->map[conv->inputs[0]], kernel, bias};
    int folded = copy_node(r, p.x, inputs);
    r->map[p.x] = folded;
    return folded;
}

static int rewrite_node(rewrite *r, int i)
{
    const cnnc_node *n = &r->old->nodes[i];
    if (n->op == CNNC_OP_PARAM) {
        int id = copy_node(r, i, NULL);
        if (id >= 0)
            r->g->params[n->attrs.param].node = id;
        return id;
    }
    if (is_bn_layer(r->old, n->layer)) {
        if (i != r->old->layers[n->layer].output_node)
            return -2;   /* a training-only part: the statistics */
        return rewrite_bn(r, n->layer);
    }
    if (r->fold_layer[i] >= 0)
        return -2;       /* built by rewrite_bn with the folded weights */
    int inputs[CNNC_MAX_INPUTS];
    if (mapped_inputs(r, i, inputs))
        return -1;
    return copy_node(r, i, inputs);
}

static void remap_ids(const rewrite *r)
{
    cnnc_graph *g = r->g;
    for (int l = 0; l < g->num_layers; l++)
        if (g->layers[l].output_node >= 0)
            g->layers[l].output_node = r->map[g->layers[l].output_node];
    for (int o = 0; o < g->num_outputs; o++)
        g->outputs[o].node = r->map[g->outputs[o].node];
    if (g->input_node >= 0)
        g->input_node = r->map[g->input_node];
    if (g->label_node >= 0)
        g->label_node = r->map[g->label_node];
}

cnnc_graph *cnnc_build_infer_graph(const cnnc_graph *forward, cnnc_diag *d)
{
    cnnc_graph *g = cnnc_graph_clone(forward);
    if (!cnnc_graph_has_batch_ops(forward))
        return g;
    for (int i = 0; i < g->num_nodes; i++)
        free(g->nodes[i].name);
    g->num_nodes = 0;
    rewrite r = {forward, g, d, NULL, NULL};
    int n = forward->num_nodes;
    r.map = cnnc_xrealloc(NULL, (size_t)n * sizeof(int));
    r.fold_layer = cnnc_xrealloc(NULL, (size_t)n * sizeof(int));
    for (int i = 0; i < n; i++)
        r.map[i] = r.fold_layer[i] = -1;
    for (int l = 0; l < forward->num_layers; l++) {
        bn_parts p;
        if (is_bn_layer(forward, l) && find_bn_parts(forward, l, &p) == 0 &&
            foldable_into(forward, p.x, l))
            r.fold_layer[p.x] = l;
    }
    int failed = 0;
    for (int i = 0; i < n && !failed; i++) {
        int id = rewrite_node(&r, i);
        if (id == -1)
            failed = 1;
        else if (id >= 0)
            r.map[i] = id;
    }
    if (!failed)
        remap_ids(&r);
    free(r.map);
    free(r.fold_layer);
    if (failed) {
        cnnc_graph_free(g);
        return NULL;
    }
    return g;
}
