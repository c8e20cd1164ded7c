/* Reverse-mode automatic differentiation as a graph transform (see autodiff.h).
 *
 * The walk: copy the forward graph, choose a root (the loss, or the logits seeded with
 * CLASS_SCORE_GRAD), then visit the forward nodes in reverse topological order (reverse
 * id order: inputs always come before their users). A node whose gradient is known and
 * needed hands it to its op's rule (the `grad` column of the op table, the cnnc_grad_*
 * functions below), which appends the backward nodes computing its inputs' gradients.
 * A value used by several nodes receives one contribution from each; they are summed with
 * elementwise adds as they arrive. Elementwise functions take their rules from the table
 * in elementwise.c, unless the derivation overrides one (guided backpropagation replaces
 * ReLU's: cnnc_grad_overrides in autodiff.h). Since all users of a node have larger ids, its gradient is
 * complete when the walk reaches it.
 *
 * Gradients are only built where needed: a node is "wanted" if it lies on a path from a
 * wanted leaf (the parameters in training; the input image for guided backpropagation;
 * the target layers' outputs for Grad-CAM, where the walk also stops at the first target
 * and, on reaching each target, builds its maps through the `reached` hook). Nothing
 * flows into LABEL, and nothing into the image unless guided.
 *
 * Backward nodes are named "grad/<name of the value whose gradient they hold>" (in the
 * guided backpropagation graph "guided/<name>") and keep the layer and
 * source position of the forward node whose rule made them. */
#include "autodiff.h"
#include "cam_methods.h"
#include "elementwise.h"
#include "ops.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct cnnc_autodiff {
    cnnc_graph *g;            /* the graph being extended (a copy of the forward graph) */
    cnnc_diag *d;
    int num_forward;          /* nodes [0, num_forward) are the forward graph */
    int *grad;                /* per forward node: node holding its gradient, or -1 */
    unsigned char *wanted;    /* per forward node: its gradient is needed */
    int guided;               /* names nodes "guided/..." (guided backpropagation) */
    int training;             /* BATCH_MEAN is the batch's mean (else a moving statistic) */
    const cnnc_grad_overrides *overrides;   /* rules replacing the table's, or NULL */
    int stop;                 /* a forward node whose gradient is the goal: not expanded */
    /* Called as the walk reaches a node whose gradient is complete (Grad-CAM builds the
     * maps of a target layer there); NULL when not needed. */
    int (*reached)(struct cnnc_autodiff *ad, int node);
    void *user;
};

static const cnnc_loc no_loc = {0, 0, 0};

/* ------------------------------------------------------------------------------------ */
/* Helpers the rules use                                                                */

static int ad_wants(const struct cnnc_autodiff *ad, int node)
{
    return node >= 0 && node < ad->num_forward && ad->wanted[node];
}

/* Appends a backward node made by the rule of forward node `from` that holds the
 * gradient of value `of`: named "grad/<of>" ("guided/<of>" in guided backpropagation),
 * with the layer and position of `from`, the attributes the rule gives (NULL: none) and
 * attrs.shape = the shape of `of` (the result shape where the inputs do not determine
 * it). Returns its id or -1. */
static int ad_add(struct cnnc_autodiff *ad, cnnc_op op, int in0, int in1,
                  const cnnc_attrs *given, int from, int of)
{
    cnnc_graph *g = ad->g;
    int inputs[CNNC_MAX_INPUTS] = {in0, in1, -1};
    cnnc_attrs attrs;
    if (given)
        attrs = *given;
    else
        memset(&attrs, 0, sizeof attrs);
    attrs.shape = g->nodes[of].shape;
    const char *prefix = ad->guided ? "guided" : "grad";
    const char *of_name = g->nodes[of].name ? g->nodes[of].name : "value";
    size_t len = strlen(prefix) + strlen(of_name) + 2;
    char *name = cnnc_xrealloc(NULL, len);
    snprintf(name, len, "%s/%s", prefix, of_name);
    int id = cnnc_graph_add(g, ad->d, op, inputs, &attrs, name, g->nodes[from].layer,
                            g->nodes[from].loc);
    free(name);
    return id;
}

/* The builder for the nodes that rule of forward node `from` adds for the gradient of
 * value `of`: named "grad/<of>" ("guided/<of>"), at from's layer and position. `name`
 * receives the name and must outlive the builder. */
static cnnc_builder ad_builder(struct cnnc_autodiff *ad, int from, int of, char *name,
                               size_t len)
{
    const cnnc_graph *g = ad->g;
    snprintf(name, len, "%s/%s", ad->guided ? "guided" : "grad",
             g->nodes[of].name ? g->nodes[of].name : "value");
    cnnc_builder b = {ad->g, ad->d, name, g->nodes[from].layer, g->nodes[from].loc};
    return b;
}

/* A gradient contribution summed down to `shape` over its leading (broadcast) axes, or
 * repeated up to it. */
static int fit_to_shape(const cnnc_builder *b, int grad, cnnc_shape shape)
{
    if (grad < 0)
        return grad;
    cnnc_shape have = b->g->nodes[grad].shape;
    if (have.rank > shape.rank)
        return cnnc_reduce(b, CNNC_REDUCE_SUM, grad, (1u << (have.rank - shape.rank)) - 1);
    if (have.rank < shape.rank)
        return cnnc_broadcast(b, grad, (1u << (shape.rank - have.rank)) - 1, shape);
    return grad;
}

/* Adds `grad_node` to the gradient of forward node `node`: the first contribution is
 * taken as is, later ones are summed with an elementwise add. */
static int ad_accumulate(struct cnnc_autodiff *ad, int node, int grad_node)
{
    if (grad_node < 0)
        return -1;
    if (ad->grad[node] < 0) {
        ad->grad[node] = grad_node;
        return 0;
    }
    char name[256];
    cnnc_builder b = ad_builder(ad, node, node, name, sizeof name);
    int sum = cnnc_add(&b, ad->grad[node], grad_node);
    if (sum < 0)
        return -1;
    ad->grad[node] = sum;
    return 0;
}

/* The common case: the gradient of input `of` of node `from` is op(in0, in1), with the
 * attributes `attrs` (NULL: none). */
static int ad_contribute(struct cnnc_autodiff *ad, cnnc_op op, int in0, int in1,
                         const cnnc_attrs *attrs, int from, int of)
{
    if (!ad_wants(ad, of))
        return 0;
    return ad_accumulate(ad, of, ad_add(ad, op, in0, in1, attrs, from, of));
}

static int input_of(const struct cnnc_autodiff *ad, int node, int i)
{
    return ad->g->nodes[node].inputs[i];
}

/* Losses are roots: their incoming gradient is the unit seed, passed as dy = -1. */
static int loss_is_root(struct cnnc_autodiff *ad, int node, int dy)
{
    if (dy >= 0) {
        cnnc_error(ad->d, ad->g->nodes[node].loc,
                   "autodiff: the loss '%s' is used by another node; a loss must be the end "
                   "of the graph", ad->g->nodes[node].name);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Gradient rules, one per forward op (named for the op table, see ops.c)              */

/* Conv2D and Dense, y = x (*) k + b: dx = grad_input(dy, k), dk = grad_kernel(x, dy),
 * db = dy summed over every axis but the last (for either op). The convolution's
 * gradients index like it: they get its window, strides and padding. */
static int grad_weighted(struct cnnc_autodiff *ad, int node, int dy, cnnc_op grad_input,
                         cnnc_op grad_kernel)
{
    int x = input_of(ad, node, 0), k = input_of(ad, node, 1), b = input_of(ad, node, 2);
    cnnc_attrs geometry = ad->g->nodes[node].attrs;
    if (ad_contribute(ad, grad_input, dy, k, &geometry, node, x) ||
        ad_contribute(ad, grad_kernel, x, dy, &geometry, node, k))
        return -1;
    if (b >= 0 && ad_contribute(ad, CNNC_OP_BIAS_GRAD, dy, -1, NULL, node, b))
        return -1;
    return 0;
}

int cnnc_grad_conv2d(struct cnnc_autodiff *ad, int node, int dy)
{
    return grad_weighted(ad, node, dy, CNNC_OP_CONV2D_GRAD_INPUT, CNNC_OP_CONV2D_GRAD_KERNEL);
}

int cnnc_grad_dense(struct cnnc_autodiff *ad, int node, int dy)
{
    return grad_weighted(ad, node, dy, CNNC_OP_DENSE_GRAD_INPUT, CNNC_OP_DENSE_GRAD_KERNEL);
}

/* Max pooling keeps no argmax: MAX_POOL2D_GRAD recomputes it from x. Both poolings'
 * gradients get the forward window. */
int cnnc_grad_max_pool2d(struct cnnc_autodiff *ad, int node, int dy)
{
    int x = input_of(ad, node, 0);
    cnnc_attrs window = ad->g->nodes[node].attrs;
    return ad_contribute(ad, CNNC_OP_MAX_POOL2D_GRAD, x, dy, &window, node, x);
}

int cnnc_grad_avg_pool2d(struct cnnc_autodiff *ad, int node, int dy)
{
    cnnc_attrs window = ad->g->nodes[node].attrs;
    return ad_contribute(ad, CNNC_OP_AVG_POOL2D_GRAD, dy, -1, &window, node,
                         input_of(ad, node, 0));
}

int cnnc_grad_global_avg_pool2d(struct cnnc_autodiff *ad, int node, int dy)
{
    return ad_contribute(ad, CNNC_OP_GLOBAL_AVG_POOL2D_GRAD, dy, -1, NULL, node,
                         input_of(ad, node, 0));
}

/* The gradient of a reshape is the reverse reshape (attrs.shape = the input's shape). */
int cnnc_grad_reshape(struct cnnc_autodiff *ad, int node, int dy)
{
    return ad_contribute(ad, CNNC_OP_RESHAPE, dy, -1, NULL, node, input_of(ad, node, 0));
}

/* dx = dy times the very mask of the forward pass: DROPOUT of dy with the same layer
 * index (the mask) and rate. */
int cnnc_grad_dropout(struct cnnc_autodiff *ad, int node, int dy)
{
    cnnc_attrs mask = ad->g->nodes[node].attrs;
    return ad_contribute(ad, CNNC_OP_DROPOUT, dy, -1, &mask, node, input_of(ad, node, 0));
}

/* In training, BATCH_MEAN's output is (1/n) sum over the batch's images of x, the same
 * value in every image, so each image's x gets (1/n) sum over images of dy: the batch
 * mean of dy, one more BATCH_MEAN (without a moving statistic). Outside training it is
 * the moving statistic, which depends on no image: no gradient, and none ever flows into
 * the moving statistic itself (a non-trainable weight). */
int cnnc_grad_batch_mean(struct cnnc_autodiff *ad, int node, int dy)
{
    if (!ad->training)
        return 0;
    return ad_contribute(ad, CNNC_OP_BATCH_MEAN, dy, -1, NULL, node, input_of(ad, node, 0));
}

/* Softmax over the last axis, from its output y: dx = y (dy - sum(y dy)), the sum taken
 * per row of the last axis and repeated along it. */
int cnnc_grad_softmax(struct cnnc_autodiff *ad, int node, int dy)
{
    int x = input_of(ad, node, 0);
    if (!ad_wants(ad, x))
        return 0;
    char name[256];
    cnnc_builder b = ad_builder(ad, node, x, name, sizeof name);
    cnnc_shape shape = ad->g->nodes[node].shape;
    unsigned last = 1u << (shape.rank - 1);
    int dot = cnnc_reduce(&b, CNNC_REDUCE_SUM, cnnc_mul(&b, node, dy), last);
    if (shape.rank > 1)
        dot = cnnc_broadcast(&b, dot, last, shape);
    return ad_accumulate(ad, x, cnnc_mul(&b, node, cnnc_sub(&b, dy, dot)));
}

/* Loss rules: the gradient with respect to the prediction, from (prediction, label). */
static int grad_loss(struct cnnc_autodiff *ad, cnnc_op op, int node, int dy)
{
    if (loss_is_root(ad, node, dy))
        return -1;
    int pred = input_of(ad, node, 0), label = input_of(ad, node, 1);
    return ad_contribute(ad, op, pred, label, NULL, node, pred);
}

int cnnc_grad_softmax_xent(struct cnnc_autodiff *ad, int node, int dy)
{
    return grad_loss(ad, CNNC_OP_SOFTMAX_XENT_GRAD, node, dy);
}

int cnnc_grad_xent(struct cnnc_autodiff *ad, int node, int dy)
{
    return grad_loss(ad, CNNC_OP_XENT_GRAD, node, dy);
}

int cnnc_grad_mse(struct cnnc_autodiff *ad, int node, int dy)
{
    return grad_loss(ad, CNNC_OP_MSE_GRAD, node, dy);
}

/* An elementwise function: its rule from the table (or the override), one contribution
 * per wanted input, summed over the axes that input was broadcast along. */
int cnnc_grad_ew(struct cnnc_autodiff *ad, int node, int dy)
{
    cnnc_ew_fn fn = (cnnc_ew_fn)ad->g->nodes[node].attrs.ew;
    cnnc_ew_grad_rule rule = cnnc_ew_info_of(fn)->grad;
    if (ad->overrides && ad->overrides->ew[fn])
        rule = ad->overrides->ew[fn];
    for (int k = 0; k < cnnc_ew_info_of(fn)->arity; k++) {
        int x = input_of(ad, node, k);
        if (!ad_wants(ad, x))
            continue;
        char name[256];
        cnnc_builder b = ad_builder(ad, node, x, name, sizeof name);
        int contribution = rule(&b, node, dy, k);
        if (contribution == CNNC_NO_GRAD)
            continue;
        if (ad_accumulate(ad, x, fit_to_shape(&b, contribution, ad->g->nodes[x].shape)))
            return -1;
    }
    return 0;
}

/* sum: dy repeated along the reduced axes; mean: the same divided by the count; max: dy
 * shared equally by the elements equal to the maximum. */
int cnnc_grad_reduce(struct cnnc_autodiff *ad, int node, int dy)
{
    int x = input_of(ad, node, 0);
    if (!ad_wants(ad, x))
        return 0;
    char name[256];
    cnnc_builder b = ad_builder(ad, node, x, name, sizeof name);
    cnnc_attrs a = ad->g->nodes[node].attrs;
    cnnc_shape xs = ad->g->nodes[x].shape;
    int spread = cnnc_broadcast(&b, dy, a.axes, xs);
    int dx;
    if (a.reduce == CNNC_REDUCE_SUM) {
        dx = spread;
    } else if (a.reduce == CNNC_REDUCE_MEAN) {
        int64_t count = cnnc_shape_size(xs) / cnnc_shape_size(ad->g->nodes[node].shape);
        dx = cnnc_scale(&b, spread, (float)(1.0 / (double)count));
    } else {
        int is_max = cnnc_ew2(&b, CNNC_EW_EQUAL, x, cnnc_broadcast(&b, node, a.axes, xs));
        int ties = cnnc_broadcast(&b, cnnc_reduce(&b, CNNC_REDUCE_SUM, is_max, a.axes), a.axes,
                                  xs);
        dx = cnnc_div(&b, cnnc_mul(&b, is_max, spread), ties);
    }
    return ad_accumulate(ad, x, dx);
}

int cnnc_grad_broadcast(struct cnnc_autodiff *ad, int node, int dy)
{
    int x = input_of(ad, node, 0);
    if (!ad_wants(ad, x))
        return 0;
    char name[256];
    cnnc_builder b = ad_builder(ad, node, x, name, sizeof name);
    return ad_accumulate(ad, x, cnnc_reduce(&b, CNNC_REDUCE_SUM, dy,
                                            ad->g->nodes[node].attrs.axes));
}

/* ------------------------------------------------------------------------------------ */
/* The walk                                                                             */

static int is_leaf(cnnc_op op)
{
    return op == CNNC_OP_INPUT || op == CNNC_OP_LABEL || op == CNNC_OP_PARAM;
}

typedef enum { WANT_PARAMS, WANT_INPUT, WANT_NODE } want_kind;

/* Marks the nodes that depend on the wanted leaves (or on the nodes marked in targets). */
static void mark_wanted(struct cnnc_autodiff *ad, want_kind kind, const unsigned char *targets)
{
    const cnnc_graph *g = ad->g;
    for (int i = 0; i < ad->num_forward; i++) {
        const cnnc_node *n = &g->nodes[i];
        int w = (kind == WANT_PARAMS && n->op == CNNC_OP_PARAM &&
                 !g->params[n->attrs.param].non_trainable) ||
                (kind == WANT_INPUT && n->op == CNNC_OP_INPUT) ||
                (kind == WANT_NODE && targets[i]);
        for (int k = 0; k < CNNC_MAX_INPUTS && !w; k++)
            if (n->inputs[k] >= 0 && ad->wanted[n->inputs[k]])
                w = 1;
        ad->wanted[i] = (unsigned char)w;
    }
}

/* Every op the walk from `root` would have to differentiate needs a rule; all of the
 * missing ones are listed in one error, not just the first. (Reachability continues
 * through an op without a rule, so the ones above it are found too.) */
static int check_rules(struct cnnc_autodiff *ad, int root)
{
    const cnnc_graph *g = ad->g;
    unsigned char *reach = cnnc_xcalloc((size_t)ad->num_forward, 1);
    reach[root] = 1;
    int missing = 0, first = -1;
    for (int i = root; i >= 0; i--) {
        const cnnc_node *n = &g->nodes[i];
        if (!reach[i] || !ad->wanted[i] || is_leaf(n->op) || i == ad->stop)
            continue;
        if (!cnnc_op_info_of(n->op)->grad) {
            missing++;
            if (first < 0)
                first = i;
        }
        for (int k = 0; k < CNNC_MAX_INPUTS; k++)
            if (n->inputs[k] >= 0)
                reach[n->inputs[k]] = 1;
    }
    if (missing) {
        char list[1024] = "";
        size_t used = 0;
        for (int i = root; i >= 0 && used < sizeof list; i--) {
            const cnnc_node *n = &g->nodes[i];
            if (!reach[i] || !ad->wanted[i] || is_leaf(n->op) || i == ad->stop ||
                cnnc_op_info_of(n->op)->grad)
                continue;
            used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s' (node '%s')",
                                     used ? ", " : "", cnnc_op_info_of(n->op)->name, n->name);
        }
        cnnc_error(ad->d, g->nodes[first].loc,
                   "autodiff: %d op%s on the path to the gradient %s no gradient rule: %s",
                   missing, missing == 1 ? "" : "s", missing == 1 ? "has" : "have", list);
    }
    free(reach);
    return missing ? -1 : 0;
}

/* Propagates gradients from `root` (whose gradient is ad->grad[root], or the unit seed
 * when it is -1 and root is a loss) down to the wanted leaves or ad->stop. */
static int backprop(struct cnnc_autodiff *ad, int root)
{
    if (check_rules(ad, root))
        return -1;
    for (int i = root; i >= 0; i--) {
        if (ad->reached && ad->grad[i] >= 0 && ad->reached(ad, i))
            return -1;
        const cnnc_node *n = &ad->g->nodes[i];
        if (!ad->wanted[i] || is_leaf(n->op) || i == ad->stop)
            continue;
        if (ad->grad[i] < 0 && i != root)
            continue;   /* does not influence the root */
        if (cnnc_op_info_of(n->op)->grad(ad, i, ad->grad[i]))
            return -1;
    }
    return 0;
}

static void ad_begin(struct cnnc_autodiff *ad, const cnnc_graph *forward, cnnc_diag *d)
{
    memset(ad, 0, sizeof *ad);
    ad->g = cnnc_graph_clone(forward);
    ad->d = d;
    ad->num_forward = forward->num_nodes;
    ad->grad = cnnc_xrealloc(NULL, (size_t)forward->num_nodes * sizeof(int));
    ad->wanted = cnnc_xcalloc((size_t)forward->num_nodes, 1);
    ad->stop = -1;
}

static void ad_reset_grads(struct cnnc_autodiff *ad)
{
    for (int i = 0; i < ad->num_forward; i++)
        ad->grad[i] = -1;
}

/* Frees the bookkeeping; returns the graph, or NULL (freeing it) on failure. */
static cnnc_graph *ad_end(struct cnnc_autodiff *ad, int failed)
{
    free(ad->grad);
    free(ad->wanted);
    if (failed) {
        cnnc_graph_free(ad->g);
        return NULL;
    }
    return ad->g;
}

/* The model's output (probabilities) and its logits: the LOGITS output the front end
 * sets, else the input of a final softmax, else the output itself. */
static int find_model_output(const cnnc_graph *g, int *probs, int *logits, cnnc_diag *d)
{
    *probs = cnnc_graph_find_output(g, CNNC_OUT_PROBS);
    if (*probs < 0) {
        cnnc_error(d, no_loc, "autodiff: the model '%s' has no output", g->model_name);
        return -1;
    }
    *logits = cnnc_graph_logits_node(g);
    if (g->nodes[*logits].shape.rank != 1) {
        char buf[64];
        cnnc_error(d, g->nodes[*probs].loc,
                   "autodiff: the model's output must be a flat vector of class scores, not %s",
                   cnnc_shape_str(g->nodes[*logits].shape, 0, buf, sizeof buf));
        return -1;
    }
    return 0;
}

static int add_label(cnnc_graph *g, cnnc_diag *d)
{
    if (g->label_node >= 0)
        return g->label_node;
    return cnnc_graph_add(g, d, CNNC_OP_LABEL, NULL, NULL, "label", -1, no_loc);
}

static int loss_from_logits(const cnnc_graph *g, int probs, int logits)
{
    return g->train.loss == CNNRT_LOSS_CATEGORICAL_CROSSENTROPY &&
           g->nodes[probs].op == CNNC_OP_SOFTMAX && g->nodes[probs].inputs[0] == logits;
}

int cnnc_train_loss_from_logits(const cnnc_graph *forward)
{
    int probs = cnnc_graph_find_output(forward, CNNC_OUT_PROBS);
    return probs >= 0 && loss_from_logits(forward, probs, cnnc_graph_logits_node(forward));
}

/* The per-image loss node for the model's output and g->train.loss. Softmax followed by
 * categorical cross-entropy is fused into SOFTMAX_XENT on the logits. */
static int add_loss(cnnc_graph *g, int probs, int logits, int label, cnnc_diag *d)
{
    int inputs[CNNC_MAX_INPUTS] = {probs, label, -1};
    cnnc_op op;
    const char *name;
    if (g->train.loss == CNNRT_LOSS_MSE) {
        op = CNNC_OP_MSE;
        name = "loss/mean_squared_error";
    } else if (loss_from_logits(g, probs, logits)) {
        op = CNNC_OP_SOFTMAX_XENT;
        inputs[0] = logits;
        name = "loss/softmax_cross_entropy";
    } else {
        op = CNNC_OP_XENT;
        name = "loss/categorical_crossentropy";
    }
    return cnnc_graph_add(g, d, op, inputs, NULL, name, g->nodes[probs].layer,
                          g->nodes[probs].loc);
}

cnnc_graph *cnnc_build_train_graph(const cnnc_graph *forward, cnnc_diag *d)
{
    int probs, logits;
    if (find_model_output(forward, &probs, &logits, d))
        return NULL;
    struct cnnc_autodiff ad;
    ad_begin(&ad, forward, d);
    ad.training = 1;
    cnnc_graph *g = ad.g;
    int label = add_label(g, d);
    int loss = label < 0 ? -1 : add_loss(g, probs, logits, label, d);
    if (loss < 0)
        return ad_end(&ad, 1);

    /* The loss is a new node: widen the bookkeeping to include it as the root. */
    ad.num_forward = g->num_nodes;
    ad.grad = cnnc_xrealloc(ad.grad, (size_t)g->num_nodes * sizeof(int));
    ad.wanted = cnnc_xrealloc(ad.wanted, (size_t)g->num_nodes);
    ad_reset_grads(&ad);
    mark_wanted(&ad, WANT_PARAMS, NULL);
    if (backprop(&ad, loss))
        return ad_end(&ad, 1);

    g->num_outputs = 0;
    cnnc_graph_add_output(g, CNNC_OUT_LOSS, loss, -1);
    cnnc_graph_add_output(g, CNNC_OUT_PROBS, probs, -1);
    int failed = 0;
    for (int p = 0; p < g->num_params; p++) {
        if (g->params[p].non_trainable)
            continue;
        int grad = ad.grad[g->params[p].node];
        if (grad < 0) {
            cnnc_error(d, no_loc, "autodiff: the weights '%s' do not influence the loss",
                       g->params[p].name);
            failed = 1;
            continue;
        }
        cnnc_graph_add_output(g, CNNC_OUT_PARAM_GRAD, grad, p);
    }
    /* batch_norm's moving statistics follow their batch statistics. */
    for (int i = 0; i < ad.num_forward; i++)
        if (g->nodes[i].op == CNNC_OP_BATCH_MEAN && g->nodes[i].inputs[1] >= 0)
            cnnc_graph_add_output(g, CNNC_OUT_MOVING_STAT, i, g->nodes[i].attrs.param);
    return ad_end(&ad, failed);
}

/* The start of both Grad-CAM graphs: the forward graph, LABEL, and the seed
 * CLASS_SCORE_GRAD on the logits as the logits' gradient; outputs PROBS and LOGITS. */
static int begin_class_score(struct cnnc_autodiff *ad, const cnnc_graph *forward, cnnc_diag *d)
{
    int probs, logits;
    memset(ad, 0, sizeof *ad);
    if (find_model_output(forward, &probs, &logits, d))
        return -1;
    ad_begin(ad, forward, d);
    cnnc_graph *g = ad->g;
    int label = add_label(g, d);
    int seed_inputs[CNNC_MAX_INPUTS] = {logits, label, -1};
    char seed_name[256];
    snprintf(seed_name, sizeof seed_name, "grad/%s", g->nodes[logits].name);
    int seed = label < 0 ? -1 : cnnc_graph_add(g, d, CNNC_OP_CLASS_SCORE_GRAD, seed_inputs,
                                               NULL, seed_name, g->nodes[logits].layer,
                                               g->nodes[logits].loc);
    if (seed < 0)
        return -1;
    ad_reset_grads(ad);
    ad->grad[logits] = seed;
    g->num_outputs = 0;
    cnnc_graph_add_output(g, CNNC_OUT_PROBS, probs, -1);
    cnnc_graph_add_output(g, CNNC_OUT_LOGITS, logits, -1);
    return logits;
}

/* The targets of a Grad-CAM graph (ad->user while the walk runs). */
typedef struct cam_targets {
    const int *layers;
    int count;
} cam_targets;

/* When the walk reaches a target layer's output A, its gradient dA is complete: the maps
 * of every method are built right there, so that a run asking for this target can stop
 * the backward pass after them. */
static int build_target_maps(struct cnnc_autodiff *ad, int node)
{
    const cam_targets *ct = ad->user;
    cnnc_graph *g = ad->g;
    for (int t = 0; t < ct->count; t++) {
        int layer = ct->layers[t];
        if (g->layers[layer].output_node != node)
            continue;
        for (int m = 0; m < CNNRT_CAM_METHOD_COUNT; m++) {
            if (cnnc_cam_map_method((cnnrt_cam_method)m) != (cnnrt_cam_method)m)
                continue;
            int first = g->num_nodes;
            int map = cnnc_cam_build_map(g, ad->d, (cnnrt_cam_method)m, node, ad->grad[node],
                                         layer);
            if (map < 0)
                return -1;
            for (int k = first; k < g->num_nodes; k++) {
                g->nodes[k].cam_target = t;
                g->nodes[k].cam_method = m;
            }
            int o = cnnc_graph_add_output(g, CNNC_OUT_CAM, map, -1);
            g->outputs[o].cam_target = t;
            g->outputs[o].cam_method = m;
        }
    }
    return 0;
}

static int check_cam_layer(const cnnc_graph *forward, int layer, cnnc_diag *d)
{
    if (layer < 0 || layer >= forward->num_layers) {
        cnnc_error(d, no_loc, "Grad-CAM: no such layer (index %d)", layer);
        return -1;
    }
    int target = forward->layers[layer].output_node;
    if (target < 0 || forward->nodes[target].shape.rank != 3) {
        char buf[64];
        cnnc_error(d, forward->layers[layer].loc,
                   "Grad-CAM: layer '%s' has output shape %s; the target layer must have a "
                   "spatial HxWxC output (a conv2d or pooling layer)",
                   forward->layers[layer].name,
                   target < 0 ? "none" : cnnc_shape_str(forward->nodes[target].shape, 0, buf,
                                                        sizeof buf));
        return -1;
    }
    return 0;
}

cnnc_graph *cnnc_build_cam_graph(const cnnc_graph *forward, const int *layers, int num_layers,
                                 cnnc_diag *d)
{
    if (num_layers < 1) {
        cnnc_error(d, no_loc, "Grad-CAM: no target layer");
        return NULL;
    }
    for (int t = 0; t < num_layers; t++)
        if (check_cam_layer(forward, layers[t], d))
            return NULL;
    struct cnnc_autodiff ad;
    int logits = begin_class_score(&ad, forward, d);
    if (logits < 0)
        return ad.g ? ad_end(&ad, 1) : NULL;
    cnnc_graph *g = ad.g;
    unsigned char *targets = cnnc_xcalloc((size_t)ad.num_forward, 1);
    ad.stop = g->num_nodes;
    for (int t = 0; t < num_layers; t++) {
        int node = forward->layers[layers[t]].output_node;
        targets[node] = 1;
        if (node < ad.stop)
            ad.stop = node;   /* nothing below the first target is needed */
    }
    mark_wanted(&ad, WANT_NODE, targets);
    free(targets);
    cam_targets ct = {layers, num_layers};
    ad.reached = build_target_maps;
    ad.user = &ct;
    if (backprop(&ad, logits))
        return ad_end(&ad, 1);
    int failed = 0;
    for (int t = 0; t < num_layers; t++) {
        int built = 0;
        for (int o = 0; o < g->num_outputs; o++)
            built |= g->outputs[o].role == CNNC_OUT_CAM && g->outputs[o].cam_target == t;
        if (!built) {
            cnnc_error(d, forward->layers[layers[t]].loc,
                       "Grad-CAM: the class score does not depend on layer '%s'",
                       forward->layers[layers[t]].name);
            failed = 1;
        }
    }
    return ad_end(&ad, failed);
}

cnnc_graph *cnnc_build_guided_graph(const cnnc_graph *forward, cnnc_diag *d)
{
    /* The guided rule for ReLU, whether it is the RELU op or the elementwise function. */
    static const cnnc_grad_overrides guided_rules = {.ew = {[CNNC_EW_RELU] =
                                                                cnnc_guided_relu_grad}};
    struct cnnc_autodiff ad;
    int logits = begin_class_score(&ad, forward, d);
    if (logits < 0)
        return ad.g ? ad_end(&ad, 1) : NULL;
    ad.guided = 1;
    ad.overrides = &guided_rules;
    mark_wanted(&ad, WANT_INPUT, NULL);
    if (backprop(&ad, logits))
        return ad_end(&ad, 1);
    int input_grad = ad.grad[ad.g->input_node];
    if (input_grad < 0) {
        cnnc_error(d, no_loc, "guided backpropagation: the class score does not depend on "
                   "the image");
        return ad_end(&ad, 1);
    }
    cnnc_graph_add_output(ad.g, CNNC_OUT_INPUT_GRAD, input_grad, -1);
    return ad_end(&ad, 0);
}

int cnnc_cam_layers(const cnnc_graph *forward, int *layers)
{
    int count = 0;
    for (int i = 0; i < forward->num_layers; i++) {
        const cnnc_layer *l = &forward->layers[i];
        if (l->shape.rank == 3 && l->output_node >= 0 &&
            forward->nodes[l->output_node].op != CNNC_OP_INPUT)
            layers[count++] = i;
    }
    return count;
}

int cnnc_default_cam_layer(const cnnc_graph *forward)
{
    if (forward->gradcam_layer)
        return cnnc_graph_find_layer(forward, forward->gradcam_layer);
    for (int i = forward->num_layers - 1; i >= 0; i--) {
        int node = forward->layers[i].output_node;
        if (node >= 0 && node != forward->input_node &&
            forward->nodes[node].shape.rank == 3)
            return i;
    }
    return -1;
}
