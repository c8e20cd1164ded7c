/* Lowering: graph IR -> kernel list with constant shapes, fused where possible, and the
 * memory plan of the per-thread arena. See lower.h. */
#include "lower.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "util.h"

struct cnnc_lower_ctx {
    const cnnc_graph *g;
    cnnc_lowered *p;
    cnnc_diag *d;
    int *node_buf;      /* node -> buffer holding its value, -1 until lowered */
    int *uses;          /* live readers (+1 for a program output) */
    char *live;         /* contributes to an output */
    int current;        /* the node being lowered, -1 for the program outputs */
};

/* ---- small helpers -------------------------------------------------------------------- */

static int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

const char *cnnc_kernel_kind_name(cnnc_kernel_kind k)
{
    static const char *const names[] = {
#define CNNC_KERNEL_NAME(id, text) text,
        CNNC_KERNELS(CNNC_KERNEL_NAME)
#undef CNNC_KERNEL_NAME
    };
    return k < CNNC_K_COUNT ? names[k] : "?";
}

/* ---- the API for cnnc_lower_<op> ------------------------------------------------------ */

int cnnc_lower_training(const cnnc_lower_ctx *lc) { return lc->p->kind == CNNC_PROGRAM_TRAIN; }

int cnnc_lower_buf_of(cnnc_lower_ctx *lc, int node)
{
    if (node < 0)
        return -1;
    if (lc->node_buf[node] < 0 && lc->g->nodes[node].op == CNNC_OP_CONST) {
        int k = cnnc_lower_add_kernel(lc, CNNC_K_FILL, node);
        cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
        kr->n = 1;
        kr->value = lc->g->nodes[node].attrs.value;
        kr->hoisted = 1;   /* a constant: made once, before the image loop */
        kr->out[0] = cnnc_lower_def(lc, node);
    }
    return lc->node_buf[node];
}

int cnnc_lower_new_buf(cnnc_lower_ctx *lc, cnnc_buf_kind kind, int64_t offset, int64_t size,
                       int node)
{
    cnnc_lowered *p = lc->p;
    p->bufs = cnnc_grow(p->bufs, p->num_bufs, &p->cap_bufs, 32, sizeof *p->bufs);
    cnnc_lbuf *b = &p->bufs[p->num_bufs];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->offset = offset;
    b->size = size;
    b->node = node;
    b->first = b->last = -1;
    return p->num_bufs++;
}

int cnnc_lower_def(cnnc_lower_ctx *lc, int node)
{
    int64_t size = cnnc_shape_size(lc->g->nodes[node].shape);
    int buf = cnnc_lower_new_buf(lc, CNNC_BUF_ARENA, 0, size, node);
    lc->node_buf[node] = buf;
    return buf;
}

void cnnc_lower_set_buf(cnnc_lower_ctx *lc, int node, int buf) { lc->node_buf[node] = buf; }

int cnnc_lower_add_kernel(cnnc_lower_ctx *lc, cnnc_kernel_kind kind, int node)
{
    cnnc_lowered *p = lc->p;
    p->kernels = cnnc_grow(p->kernels, p->num_kernels, &p->cap_kernels, 32,
                           sizeof *p->kernels);
    cnnc_kernel *k = &p->kernels[p->num_kernels];
    memset(k, 0, sizeof *k);
    k->kind = kind;
    k->node = node;
    for (int i = 0; i < CNNC_KERNEL_MAX_IN; i++)
        k->in[i] = -1;
    for (int i = 0; i < CNNC_KERNEL_MAX_OUT; i++)
        k->out[i] = -1;
    k->cam_max_target = INT_MAX;
    k->cam_target = k->cam_method = -1;
    if (node >= 0 && node < lc->g->num_nodes && lc->current == node) {
        k->cam_target = lc->g->nodes[node].cam_target;
        k->cam_method = lc->g->nodes[node].cam_method;
    }
    return p->num_kernels++;
}

cnnc_kernel *cnnc_lower_kernel(cnnc_lower_ctx *lc, int k) { return &lc->p->kernels[k]; }

int cnnc_lower_fusable_producer(cnnc_lower_ctx *lc, int value_node)
{
    cnnc_lowered *p = lc->p;
    int buf = cnnc_lower_buf_of(lc, value_node);
    if (buf < 0 || p->num_kernels == 0 || p->bufs[buf].kind != CNNC_BUF_ARENA)
        return -1;
    /* The buffer must hold this very node (not an alias of it through a reshape) and the
     * node must have exactly one reader: the node about to be fused. */
    if (p->bufs[buf].node != value_node || lc->uses[value_node] != 1)
        return -1;
    int last = p->num_kernels - 1;
    while (last > 0 && p->kernels[last].hoisted)
        last--;
    const cnnc_kernel *k = &p->kernels[last];
    if (k->hoisted)
        return -1;
    if (k->out[0] != buf || k->out[1] >= 0 || k->out[2] >= 0)
        return -1;
    if (lc->current >= 0 && (k->cam_target != lc->g->nodes[lc->current].cam_target ||
                             k->cam_method != lc->g->nodes[lc->current].cam_method))
        return -1;
    return last;
}

void cnnc_lower_set_hwc(cnnc_kernel *k, cnnc_shape in, cnnc_shape out)
{
    k->ih = in.rank == 3 ? in.dim[0] : 1;
    k->iw = in.rank == 3 ? in.dim[1] : 1;
    k->ic = in.rank == 3 ? in.dim[2] : cnnc_shape_size(in);
    k->oh = out.rank == 3 ? out.dim[0] : 1;
    k->ow = out.rank == 3 ? out.dim[1] : 1;
    k->oc = out.rank == 3 ? out.dim[2] : cnnc_shape_size(out);
}

/* ---- the lowerings of the op table ---------------------------------------------------- */

static const cnnc_node *node_of(cnnc_lower_ctx *lc, int node) { return &lc->g->nodes[node]; }
static int in_buf(cnnc_lower_ctx *lc, int node, int i)
{
    return cnnc_lower_buf_of(lc, node_of(lc, node)->inputs[i]);
}
static cnnc_shape in_shape(cnnc_lower_ctx *lc, int node, int i)
{
    return lc->g->nodes[node_of(lc, node)->inputs[i]].shape;
}

int cnnc_lower_input(cnnc_lower_ctx *lc, int node)
{
    int64_t size = cnnc_shape_size(node_of(lc, node)->shape);
    cnnc_lower_set_buf(lc, node, cnnc_lower_new_buf(lc, CNNC_BUF_INPUT, 0, size, node));
    return 0;
}

int cnnc_lower_param(cnnc_lower_ctx *lc, int node)
{
    const cnnc_param *par = &lc->g->params[node_of(lc, node)->attrs.param];
    cnnc_lower_set_buf(lc, node,
                       cnnc_lower_new_buf(lc, CNNC_BUF_PARAMS, par->offset, par->size, node));
    return 0;
}

int cnnc_lower_label(cnnc_lower_ctx *lc, int node)
{
    int k = cnnc_lower_add_kernel(lc, CNNC_K_LABEL, node);
    cnnc_lower_kernel(lc, k)->out[0] = cnnc_lower_def(lc, node);
    cnnc_lower_kernel(lc, k)->n = 1;
    return 0;
}

/* conv2d, pooling and their gradients: geometry from the node's attributes. */
static int window_kernel(cnnc_lower_ctx *lc, int node, cnnc_kernel_kind kind, cnnc_shape in,
                         cnnc_shape out, int num_inputs)
{
    const cnnc_node *n = node_of(lc, node);
    int bufs[CNNC_MAX_INPUTS];
    for (int i = 0; i < num_inputs; i++)
        bufs[i] = in_buf(lc, node, i);
    int k = cnnc_lower_add_kernel(lc, kind, node);
    cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
    for (int i = 0; i < num_inputs; i++)
        kr->in[i] = bufs[i];
    cnnc_lower_set_hwc(kr, in, out);
    kr->kh = n->attrs.kernel_h;
    kr->kw = n->attrs.kernel_w;
    kr->sh = n->attrs.stride_h;
    kr->sw = n->attrs.stride_w;
    kr->pad_top = n->attrs.pad_top;
    kr->pad_left = n->attrs.pad_left;
    kr->n = cnnc_shape_size(n->shape);
    kr->out[0] = cnnc_lower_def(lc, node);
    return k;
}

int cnnc_lower_conv2d(cnnc_lower_ctx *lc, int node)
{
    int k = window_kernel(lc, node, CNNC_K_CONV2D, in_shape(lc, node, 0),
                          node_of(lc, node)->shape, 3);
    cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
    int64_t hp, wp;
    if (cnnc_conv_tiled(kr) && cnnc_conv_padded_extent(kr, &hp, &wp)) {
        int scratch = cnnc_lower_new_buf(lc, CNNC_BUF_ARENA, 0, hp * wp * kr->ic, -1);
        cnnc_lower_kernel(lc, k)->in[3] = scratch;
    }
    return 0;
}

int cnnc_lower_max_pool2d(cnnc_lower_ctx *lc, int node)
{
    window_kernel(lc, node, CNNC_K_MAX_POOL2D, in_shape(lc, node, 0), node_of(lc, node)->shape,
                  1);
    return 0;
}

int cnnc_lower_avg_pool2d(cnnc_lower_ctx *lc, int node)
{
    window_kernel(lc, node, CNNC_K_AVG_POOL2D, in_shape(lc, node, 0), node_of(lc, node)->shape,
                  1);
    return 0;
}

int cnnc_lower_global_avg_pool2d(cnnc_lower_ctx *lc, int node)
{
    window_kernel(lc, node, CNNC_K_GLOBAL_AVG_POOL2D, in_shape(lc, node, 0),
                  node_of(lc, node)->shape, 1);
    return 0;
}

/* Backward window kernels keep the FORWARD geometry: in = the forward input's shape (dx),
 * out = the forward output's shape (dy). */
int cnnc_lower_conv2d_grad_input(cnnc_lower_ctx *lc, int node)
{
    /* dy, kernel -> dx */
    int k = window_kernel(lc, node, CNNC_K_CONV2D_GRAD_INPUT, node_of(lc, node)->shape,
                          in_shape(lc, node, 0), 2);
    cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
    if (cnnc_conv_grad_input_tiled(kr)) {
        cnnc_kernel geometry = *kr;
        int64_t hp, wp, weights = (int64_t)kr->kh * kr->kw * kr->ic * kr->oc;
        cnnc_conv_grad_input_padded(kr, &hp, &wp);
        /* The flipped kernel depends on the weights only: made once per worker call. */
        int wt = cnnc_lower_new_buf(lc, CNNC_BUF_ARENA, 0, weights, -1);
        int flip = cnnc_lower_add_kernel(lc, CNNC_K_FLIP_TRANSPOSE, node);
        cnnc_kernel *fk = cnnc_lower_kernel(lc, flip);
        cnnc_kernel_kind kind = fk->kind;
        int fnode = fk->node;
        *fk = geometry;
        fk->kind = kind;
        fk->node = fnode;
        for (int i = 0; i < CNNC_KERNEL_MAX_IN; i++)
            fk->in[i] = -1;
        fk->in[0] = geometry.in[1];
        fk->out[0] = wt;
        fk->hoisted = 1;
        fk->n = weights;
        int pad = cnnc_lower_new_buf(lc, CNNC_BUF_ARENA, 0, hp * wp * geometry.oc, -1);
        cnnc_lower_kernel(lc, k)->in[2] = wt;
        cnnc_lower_kernel(lc, k)->in[3] = pad;
        /* List the flip first, where it runs. */
        cnnc_kernel tmp = *cnnc_lower_kernel(lc, k);
        *cnnc_lower_kernel(lc, k) = *cnnc_lower_kernel(lc, flip);
        *cnnc_lower_kernel(lc, flip) = tmp;
    }
    return 0;
}

int cnnc_lower_conv2d_grad_kernel(cnnc_lower_ctx *lc, int node)
{
    /* x, dy -> dkernel */
    int k = window_kernel(lc, node, CNNC_K_CONV2D_GRAD_KERNEL, in_shape(lc, node, 0),
                          in_shape(lc, node, 1), 2);
    cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
    int64_t hp, wp;
    if (cnnc_conv_grad_kernel_tiled(kr) && cnnc_conv_padded_extent(kr, &hp, &wp)) {
        int pad = cnnc_lower_new_buf(lc, CNNC_BUF_ARENA, 0, hp * wp * kr->ic, -1);
        cnnc_lower_kernel(lc, k)->in[2] = pad;
    }
    return 0;
}

int cnnc_lower_max_pool2d_grad(cnnc_lower_ctx *lc, int node)
{
    /* x, dy -> dx */
    window_kernel(lc, node, CNNC_K_MAX_POOL2D_GRAD, in_shape(lc, node, 0), in_shape(lc, node, 1),
                  2);
    return 0;
}

int cnnc_lower_avg_pool2d_grad(cnnc_lower_ctx *lc, int node)
{
    window_kernel(lc, node, CNNC_K_AVG_POOL2D_GRAD, node_of(lc, node)->shape,
                  in_shape(lc, node, 0), 1);
    return 0;
}

int cnnc_lower_global_avg_pool2d_grad(cnnc_lower_ctx *lc, int node)
{
    window_kernel(lc, node, CNNC_K_GLOBAL_AVG_POOL2D_GRAD, node_of(lc, node)->shape,
                  in_shape(lc, node, 0), 1);
    return 0;
}

int cnnc_lower_bias_grad(cnnc_lower_ctx *lc, int node)
{
    window_kernel(lc, node, CNNC_K_BIAS_GRAD, in_shape(lc, node, 0), node_of(lc, node)->shape,
                  1);
    return 0;
}

int cnnc_lower_dense(cnnc_lower_ctx *lc, int node)
{
    window_kernel(lc, node, CNNC_K_DENSE, in_shape(lc, node, 0), node_of(lc, node)->shape, 3);
    return 0;
}

int cnnc_lower_dense_grad_input(cnnc_lower_ctx *lc, int node)
{
    /* dy [OUT], kernel [IN,OUT] -> dx [IN]: geometry of the forward dense. */
    window_kernel(lc, node, CNNC_K_DENSE_GRAD_INPUT, node_of(lc, node)->shape,
                  in_shape(lc, node, 0), 2);
    return 0;
}

int cnnc_lower_dense_grad_kernel(cnnc_lower_ctx *lc, int node)
{
    window_kernel(lc, node, CNNC_K_DENSE_GRAD_KERNEL, in_shape(lc, node, 0),
                  in_shape(lc, node, 1), 2);
    return 0;
}

/* batch_norm's statistic: outside training the moving statistic itself (its weights, no
 * kernel); in training a BATCH_MEAN kernel, which is not run per image: it splits the
 * training step into phases, and the entry computes it between two (codegen.c). */
int cnnc_lower_batch_mean(cnnc_lower_ctx *lc, int node)
{
    const cnnc_node *n = node_of(lc, node);
    if (!cnnc_lower_training(lc) && n->inputs[1] >= 0) {
        cnnc_lower_set_buf(lc, node, in_buf(lc, node, 1));
        return 0;
    }
    if (!cnnc_lower_training(lc)) {
        cnnc_error(lc->d, n->loc, "%s: a batch statistic outside a training step", n->name);
        return -1;
    }
    int x = in_buf(lc, node, 0);
    int k = cnnc_lower_add_kernel(lc, CNNC_K_BATCH_MEAN, node);
    cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
    kr->in[0] = x;
    kr->n = cnnc_shape_size(n->shape);
    kr->out[0] = cnnc_lower_def(lc, node);
    return 0;
}

int cnnc_lower_reshape(cnnc_lower_ctx *lc, int node)
{
    cnnc_lower_set_buf(lc, node, in_buf(lc, node, 0));
    return 0;
}

/* ---- elementwise chains -------------------------------------------------------------- */

static int is_const(cnnc_lower_ctx *lc, int node) { return node_of(lc, node)->op == CNNC_OP_CONST; }

/* The slot of kernel kr's in[] holding buf (an existing one, else a free one), or -1. */
static int operand_slot(const cnnc_kernel *kr, int buf)
{
    for (int i = 0; i < CNNC_KERNEL_MAX_IN; i++)
        if (kr->in[i] == buf)
            return i;
    for (int i = 0; i < CNNC_KERNEL_MAX_IN; i++)
        if (kr->in[i] < 0)
            return i;
    return -1;
}

/* Sets the step's operands other than `chained` (CNNC_ARG_CHAIN) to immediates (CONST
 * nodes) or in[] slots of kr, taking new slots as needed. Returns 0, or -1 (kr and step
 * untouched) when kr has too few free slots. */
static int place_operands(cnnc_lower_ctx *lc, cnnc_kernel *kr, cnnc_ew_step *step,
                          const int *operands, int count, int chained)
{
    cnnc_kernel trial = *kr;
    cnnc_ew_step s = *step;
    for (int j = 0; j < count; j++) {
        if (j == chained) {
            s.arg[j] = CNNC_ARG_CHAIN;
        } else if (is_const(lc, operands[j])) {
            s.arg[j] = CNNC_ARG_IMM;
            s.imm[j] = node_of(lc, operands[j])->attrs.value;
        } else {
            int buf = cnnc_lower_buf_of(lc, operands[j]);
            int slot = operand_slot(&trial, buf);
            if (slot < 0)
                return -1;
            trial.in[slot] = buf;
            s.arg[j] = slot;
        }
    }
    *kr = trial;
    *step = s;
    return 0;
}

/* The kernel producing operand `chained` now also computes `node`: its value is node's. */
static void extend_kernel(cnnc_lower_ctx *lc, int k, int node, int chained_node)
{
    int src = cnnc_lower_buf_of(lc, chained_node);
    cnnc_lower_kernel(lc, k)->node = node;
    lc->p->bufs[src].node = node;
    cnnc_lower_set_buf(lc, node, src);
}

/* Appends an elementwise step computing `node` from graph nodes operands[0..count-1]:
 * as one more step of the kernel that produced an operand of node's shape for node alone
 * (an ew chain, or the epilogue of a conv2d / dense when the other operands are
 * constants), else as the first step of a new ew loop. */
static int lower_step(cnnc_lower_ctx *lc, int node, cnnc_ew_step step, const int *operands,
                      int count)
{
    cnnc_shape shape = node_of(lc, node)->shape;
    for (int j = 0; j < count; j++) {
        int x = operands[j];
        int k = is_const(lc, x) ? -1 : cnnc_lower_fusable_producer(lc, x);
        if (k < 0 || !cnnc_shape_equal(node_of(lc, x)->shape, shape))
            continue;
        cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
        if (kr->num_steps >= CNNC_EW_MAX_STEPS)
            continue;
        int epilogue = kr->kind == CNNC_K_CONV2D || kr->kind == CNNC_K_DENSE;
        if (epilogue) {
            int only_consts = step.kind == CNNC_STEP_FN;
            for (int i = 0; i < count; i++)
                if (i != j && !is_const(lc, operands[i]))
                    only_consts = 0;
            if (!only_consts)
                continue;
        } else if (kr->kind != CNNC_K_EW) {
            continue;
        }
        if (place_operands(lc, kr, &step, operands, count, j))
            continue;
        kr->steps[kr->num_steps++] = step;
        extend_kernel(lc, k, node, x);
        return 0;
    }
    int k = cnnc_lower_add_kernel(lc, CNNC_K_EW, node);
    cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
    kr->n = cnnc_shape_size(shape);
    if (place_operands(lc, kr, &step, operands, count, -1)) {
        cnnc_error(lc->d, node_of(lc, node)->loc, "internal error: %s has too many operands",
                   node_of(lc, node)->name);
        return -1;
    }
    kr->steps[kr->num_steps++] = step;
    kr->out[0] = cnnc_lower_def(lc, node);
    return 0;
}

static cnnc_ew_step fn_step(cnnc_ew_fn fn, float alpha)
{
    cnnc_ew_step s;
    memset(&s, 0, sizeof s);
    s.kind = CNNC_STEP_FN;
    s.fn = fn;
    s.alpha = alpha;
    return s;
}

int cnnc_lower_ew(cnnc_lower_ctx *lc, int node)
{
    const cnnc_node *n = node_of(lc, node);
    int operands[CNNC_MAX_INPUTS] = {n->inputs[0], n->inputs[1], n->inputs[2]};
    cnnc_ew_fn fn = (cnnc_ew_fn)n->attrs.ew;
    return lower_step(lc, node, fn_step(fn, n->attrs.alpha), operands,
                      cnnc_ew_info_of(fn)->arity);
}

/* A CONST needs no kernel of its own: elementwise steps take it as an immediate, and
 * anything else gets a buffer from cnnc_lower_buf_of. */
int cnnc_lower_const(cnnc_lower_ctx *lc, int node)
{
    (void)lc, (void)node;
    return 0;
}

static int dropout_step(cnnc_lower_ctx *lc, int node)
{
    if (!cnnc_lower_training(lc) || node_of(lc, node)->attrs.rate <= 0.0f) {
        cnnc_lower_set_buf(lc, node, in_buf(lc, node, 0));   /* identity */
        return 0;
    }
    cnnc_ew_step s;
    memset(&s, 0, sizeof s);
    s.kind = CNNC_STEP_DROPOUT;
    s.dropout_index = node_of(lc, node)->attrs.dropout_index;
    s.rate = node_of(lc, node)->attrs.rate;
    int x = node_of(lc, node)->inputs[0];
    return lower_step(lc, node, s, &x, 1);
}

int cnnc_lower_dropout(cnnc_lower_ctx *lc, int node) { return dropout_step(lc, node); }

/* ---- reductions ------------------------------------------------------------------------ */

int cnnc_lower_reduce(cnnc_lower_ctx *lc, int node)
{
    int k = cnnc_lower_add_kernel(lc, CNNC_K_REDUCE, node);
    int x = in_buf(lc, node, 0);
    cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
    kr->in[0] = x;
    kr->shape = in_shape(lc, node, 0);
    kr->axes = node_of(lc, node)->attrs.axes;
    kr->reduce = node_of(lc, node)->attrs.reduce;
    kr->n = cnnc_shape_size(node_of(lc, node)->shape);
    kr->out[0] = cnnc_lower_def(lc, node);
    return 0;
}

int cnnc_lower_broadcast(cnnc_lower_ctx *lc, int node)
{
    int k = cnnc_lower_add_kernel(lc, CNNC_K_BROADCAST, node);
    int x = in_buf(lc, node, 0);
    cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
    kr->in[0] = x;
    kr->shape = node_of(lc, node)->shape;
    kr->axes = node_of(lc, node)->attrs.axes;
    kr->n = cnnc_shape_size(kr->shape);
    kr->out[0] = cnnc_lower_def(lc, node);
    return 0;
}

/* Kernels over flat vectors with a plain list of inputs and one output. */
static int vector_kernel(cnnc_lower_ctx *lc, int node, cnnc_kernel_kind kind, int num_inputs,
                         int64_t n)
{
    int bufs[CNNC_MAX_INPUTS];
    for (int i = 0; i < num_inputs; i++)
        bufs[i] = in_buf(lc, node, i);
    int k = cnnc_lower_add_kernel(lc, kind, node);
    cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
    for (int i = 0; i < num_inputs; i++)
        kr->in[i] = bufs[i];
    kr->n = n;
    kr->out[0] = cnnc_lower_def(lc, node);
    return k;
}

int cnnc_lower_softmax(cnnc_lower_ctx *lc, int node)
{
    vector_kernel(lc, node, CNNC_K_SOFTMAX, 1, cnnc_shape_size(node_of(lc, node)->shape));
    return 0;
}

/* Softmax, its cross-entropy and the gradient p - y share one kernel: an earlier kernel
 * over the same logits (softmax, or softmax_xent) gains the extra output. */
static int find_softmax_xent(cnnc_lower_ctx *lc, int logits, int label)
{
    cnnc_lowered *p = lc->p;
    for (int k = p->num_kernels - 1; k >= 0; k--) {
        cnnc_kernel *kr = &p->kernels[k];
        if (kr->kind == CNNC_K_SOFTMAX_XENT && kr->in[0] == logits && kr->in[1] == label)
            return k;
    }
    return -1;
}

static int softmax_xent_output(cnnc_lower_ctx *lc, int node, int slot)
{
    cnnc_lowered *p = lc->p;
    int logits = in_buf(lc, node, 0), label = in_buf(lc, node, 1);
    int k = find_softmax_xent(lc, logits, label);
    if (k < 0) {
        /* Upgrade a plain softmax of these logits (the model's probs) when there is one. */
        for (int j = p->num_kernels - 1; j >= 0 && k < 0; j--)
            if (p->kernels[j].kind == CNNC_K_SOFTMAX && p->kernels[j].in[0] == logits) {
                k = j;
                p->kernels[k].kind = CNNC_K_SOFTMAX_XENT;
                p->kernels[k].in[1] = label;
            }
    }
    if (k < 0) {
        k = cnnc_lower_add_kernel(lc, CNNC_K_SOFTMAX_XENT, node);
        p->kernels[k].in[0] = logits;
        p->kernels[k].in[1] = label;
        p->kernels[k].n = cnnc_shape_size(in_shape(lc, node, 0));
    }
    p->kernels[k].out[slot] = cnnc_lower_def(lc, node);
    return 0;
}

int cnnc_lower_softmax_xent(cnnc_lower_ctx *lc, int node) { return softmax_xent_output(lc, node, 1); }
int cnnc_lower_softmax_xent_grad(cnnc_lower_ctx *lc, int node) { return softmax_xent_output(lc, node, 2); }

static int64_t in_size(cnnc_lower_ctx *lc, int node, int i)
{
    return cnnc_shape_size(in_shape(lc, node, i));
}

int cnnc_lower_xent(cnnc_lower_ctx *lc, int node) { vector_kernel(lc, node, CNNC_K_XENT, 2, in_size(lc, node, 0)); return 0; }
int cnnc_lower_mse(cnnc_lower_ctx *lc, int node) { vector_kernel(lc, node, CNNC_K_MSE, 2, in_size(lc, node, 0)); return 0; }
int cnnc_lower_xent_grad(cnnc_lower_ctx *lc, int node) { vector_kernel(lc, node, CNNC_K_XENT_GRAD, 2, in_size(lc, node, 0)); return 0; }
int cnnc_lower_mse_grad(cnnc_lower_ctx *lc, int node) { vector_kernel(lc, node, CNNC_K_MSE_GRAD, 2, in_size(lc, node, 0)); return 0; }
int cnnc_lower_class_score_grad(cnnc_lower_ctx *lc, int node) { vector_kernel(lc, node, CNNC_K_CLASS_SCORE_GRAD, 2, in_size(lc, node, 0)); return 0; }

/* ---- program outputs ------------------------------------------------------------------ */

static int output_kernel(cnnc_lower_ctx *lc, cnnc_kernel_kind kind, int node, int dst)
{
    int src = cnnc_lower_buf_of(lc, node);
    int k = cnnc_lower_add_kernel(lc, kind, node);
    cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
    kr->in[0] = src;
    kr->out[0] = dst;
    kr->n = cnnc_shape_size(lc->g->nodes[node].shape);
    return k;
}

/* The number of targets of a Grad-CAM graph (1 + the largest cam_target of its outputs). */
static int cam_target_count(const cnnc_graph *g)
{
    int count = 0;
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i].role == CNNC_OUT_CAM && g->outputs[i].cam_target >= count)
            count = g->outputs[i].cam_target + 1;
    return count;
}

/* A Grad-CAM program's maps: every method of target t writes the one raw-map buffer of t
 * (only one of them runs), and one cam_finish kernel of t turns it into the map and its
 * maximum. The kernel writing a method's map is redirected to that buffer; a map it
 * cannot redirect (an alias, or read by something else) is copied there. */
static int lower_cam_outputs(cnnc_lower_ctx *lc)
{
    const cnnc_graph *g = lc->g;
    cnnc_lowered *p = lc->p;
    int targets = cam_target_count(g);
    if (targets == 0) {
        cnnc_error(lc->d, (cnnc_loc){0, 0, 0}, "the Grad-CAM graph has no map output");
        return -1;
    }
    for (int t = 0; t < targets; t++) {
        int raw = -1;
        for (int i = 0; i < g->num_outputs; i++) {
            const cnnc_output *o = &g->outputs[i];
            if (o->role != CNNC_OUT_CAM || o->cam_target != t)
                continue;
            int64_t hw = cnnc_shape_size(g->nodes[o->node].shape);
            if (raw < 0)
                raw = cnnc_lower_new_buf(lc, CNNC_BUF_ARENA, 0, hw, o->node);
            int src = cnnc_lower_buf_of(lc, o->node), done = 0;
            for (int k = p->num_kernels - 1; k >= 0 && !done && lc->uses[o->node] == 1 &&
                                             p->bufs[src].node == o->node; k--)
                for (int j = 0; j < CNNC_KERNEL_MAX_OUT && !done; j++)
                    if (p->kernels[k].out[j] == src) {
                        p->kernels[k].out[j] = raw;
                        done = 1;
                    }
            if (!done) {
                int k = output_kernel(lc, CNNC_K_COPY, o->node, raw);
                p->kernels[k].cam_target = t;
                p->kernels[k].cam_method = o->cam_method;
            }
        }
        int64_t hw = p->bufs[raw].size;
        int k = cnnc_lower_add_kernel(lc, CNNC_K_CAM_FINISH, p->bufs[raw].node);
        cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
        kr->in[0] = raw;
        kr->n = hw;
        kr->cam_target = t;
        kr->out[0] = cnnc_lower_new_buf(lc, CNNC_BUF_OUTPUT, CNNC_SLOT_MAPS, hw, -1);
        kr->out[1] = cnnc_lower_new_buf(lc, CNNC_BUF_OUTPUT, CNNC_SLOT_MAP_MAX, 1, -1);
    }
    return 0;
}

/* The backward kernels of a Grad-CAM program (those after the class-score seed that belong
 * to no method) are needed by a target only if they come before its first method kernel:
 * the graph puts a target's maps right where its gradient is complete (autodiff.h). */
static void guard_cam_backward(cnnc_lowered *p, int targets)
{
    int seed = -1;
    for (int k = 0; k < p->num_kernels && seed < 0; k++)
        if (p->kernels[k].kind == CNNC_K_CLASS_SCORE_GRAD)
            seed = k;
    int *first = cnnc_xrealloc(NULL, (size_t)(targets + 1) * sizeof *first);
    for (int t = 0; t < targets; t++)
        first[t] = INT_MAX;
    for (int k = 0; k < p->num_kernels; k++) {
        int t = p->kernels[k].cam_target;
        if (t >= 0 && t < targets && first[t] == INT_MAX)
            first[t] = k;
    }
    for (int k = seed + 1; seed >= 0 && k < p->num_kernels; k++) {
        cnnc_kernel *kr = &p->kernels[k];
        if (kr->cam_target >= 0 || kr->hoisted)
            continue;
        kr->cam_max_target = -1;
        for (int t = 0; t < targets; t++)
            if (first[t] > k && t > kr->cam_max_target)
                kr->cam_max_target = t;
    }
    free(first);
    /* A hoisted kernel (a transposed weight) runs when one of its readers may. */
    for (int k = 0; k < p->num_kernels; k++) {
        cnnc_kernel *kr = &p->kernels[k];
        if (!kr->hoisted || kr->cam_target >= 0)
            continue;
        int need = -1, readers = 0;
        for (int j = 0; j < p->num_kernels; j++)
            for (int i = 0; i < CNNC_KERNEL_MAX_IN; i++)
                for (int o = 0; o < CNNC_KERNEL_MAX_OUT; o++)
                    if (j != k && kr->out[o] >= 0 && p->kernels[j].in[i] == kr->out[o]) {
                        const cnnc_kernel *r = &p->kernels[j];
                        int t = r->cam_target >= 0 ? r->cam_target : r->cam_max_target;
                        need = t > need ? t : need;
                        readers++;
                    }
        if (readers)
            kr->cam_max_target = need;
    }
}

static int lower_outputs(cnnc_lower_ctx *lc)
{
    const cnnc_graph *g = lc->g;
    cnnc_lowered *p = lc->p;
    /* cnnc_graph_find_output returns the output's node. */
    int probs_node = cnnc_graph_find_output(g, CNNC_OUT_PROBS);
    if (probs_node < 0) {
        cnnc_error(lc->d, (cnnc_loc){0, 0, 0}, "the graph has no probabilities output");
        return -1;
    }
    int64_t classes = cnnc_shape_size(g->nodes[probs_node].shape);
    if (p->kind == CNNC_PROGRAM_TRAIN) {
        int loss_node = cnnc_graph_find_output(g, CNNC_OUT_LOSS);
        if (loss_node < 0 || g->label_node < 0) {
            cnnc_error(lc->d, (cnnc_loc){0, 0, 0}, "the training graph has no loss output");
            return -1;
        }
        p->stats_floats = 16;
        int stats = cnnc_lower_new_buf(lc, CNNC_BUF_STATS, 0, 2, -1);
        int k = cnnc_lower_add_kernel(lc, CNNC_K_STATS, loss_node);
        cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
        kr->in[0] = cnnc_lower_buf_of(lc, loss_node);
        kr->in[1] = cnnc_lower_buf_of(lc, probs_node);
        kr->in[2] = cnnc_lower_buf_of(lc, g->label_node);
        kr->n = classes;
        kr->out[0] = stats;
        p->grad_floats = round16(g->param_floats);
        for (int i = 0; i < g->num_outputs; i++) {
            const cnnc_output *o = &g->outputs[i];
            if (o->role != CNNC_OUT_PARAM_GRAD)
                continue;
            const cnnc_param *par = &g->params[o->param];
            int dst = cnnc_lower_new_buf(lc, CNNC_BUF_GRAD, par->offset, par->size, -1);
            /* A weight-gradient kernel whose result is only this output adds it to the
             * per-thread gradients itself; anything else goes through an accumulate. */
            int src = cnnc_lower_buf_of(lc, o->node);
            int done = 0;
            for (int j = p->num_kernels - 1; j >= 0 && !done && lc->uses[o->node] == 1; j--) {
                cnnc_kernel *kr = &p->kernels[j];
                int kind_ok = kr->kind == CNNC_K_DENSE_GRAD_KERNEL ||
                              kr->kind == CNNC_K_CONV2D_GRAD_KERNEL ||
                              kr->kind == CNNC_K_BIAS_GRAD;
                if (kr->out[0] == src && kind_ok && p->bufs[src].node == o->node) {
                    kr->out[0] = dst;
                    kr->accumulate = 1;
                    done = 1;
                }
            }
            if (!done)
                output_kernel(lc, CNNC_K_ACCUMULATE, o->node, dst);
        }
        return 0;
    }
    int dst = cnnc_lower_new_buf(lc, CNNC_BUF_OUTPUT, CNNC_SLOT_PROBS, classes, -1);
    output_kernel(lc, CNNC_K_COPY, probs_node, dst);
    int logits_node = cnnc_graph_logits_node(g);
    if (p->kind == CNNC_PROGRAM_INFER && logits_node >= 0)
        output_kernel(lc, CNNC_K_COPY, logits_node,
                      cnnc_lower_new_buf(lc, CNNC_BUF_OUTPUT, CNNC_SLOT_LOGITS,
                                         cnnc_shape_size(g->nodes[logits_node].shape), -1));
    if (p->kind == CNNC_PROGRAM_CAM)
        return lower_cam_outputs(lc);
    if (p->kind == CNNC_PROGRAM_GUIDED) {
        int n = cnnc_graph_find_output(g, CNNC_OUT_INPUT_GRAD);
        if (n < 0) {
            cnnc_error(lc->d, (cnnc_loc){0, 0, 0}, "the guided graph has no input gradient");
            return -1;
        }
        output_kernel(lc, CNNC_K_COPY, n,
                      cnnc_lower_new_buf(lc, CNNC_BUF_OUTPUT, CNNC_SLOT_INPUT_GRADS,
                                         cnnc_shape_size(g->nodes[n].shape), -1));
    }
    return 0;
}

/* ---- fusing a ReLU's gradient into the max-pooling gradient ---------------------------- */

static int is_step(const cnnc_ew_step *s, cnnc_ew_fn fn)
{
    return s->kind == CNNC_STEP_FN && s->fn == fn;
}

static int is_zero_imm(const cnnc_ew_step *s, int j)
{
    return s->arg[j] == CNNC_ARG_IMM && s->imm[j] == 0.0f;
}

/* The in[] slot of dy when kr is the gradient of a ReLU y -- the ew kernel {greater(y,0),
 * select(v,dy,0)} -- whose y is in[*y_slot], else -1. */
static int relu_grad_dy_slot(const cnnc_kernel *kr, int *y_slot)
{
    if (kr->kind != CNNC_K_EW || kr->num_steps != 2 || kr->out[1] >= 0 || kr->out[2] >= 0 ||
        kr->out_step[0] != 0)
        return -1;
    const cnnc_ew_step *gt = &kr->steps[0], *select = &kr->steps[1];
    if (!is_step(gt, CNNC_EW_GREATER) || gt->arg[0] < 0 || !is_zero_imm(gt, 1) ||
        !is_step(select, CNNC_EW_SELECT) || select->arg[0] != CNNC_ARG_CHAIN ||
        select->arg[1] < 0 || !is_zero_imm(select, 2))
        return -1;
    *y_slot = gt->arg[0];
    return select->arg[1];
}

static int buf_read_elsewhere(const cnnc_lowered *p, int buf, int except)
{
    for (int k = 0; k < p->num_kernels; k++)
        for (int i = 0; i < CNNC_KERNEL_MAX_IN && k != except; i++)
            if (p->kernels[k].in[i] == buf)
                return 1;
    return 0;
}

/* A ReLU's gradient right after the max-pooling gradient it masks (a conv2d+relu before a
 * max_pool2d: dy goes through the pooling to the window maxima, then through the ReLU
 * where the maximum is positive) becomes part of it: the pooling's gradient is then
 * written once, masked, instead of written, read back and rewritten by an ew loop. Only
 * when the ReLU's y is the pooling's x and nothing else reads the unmasked gradient. */
static void fuse_relu_grads(cnnc_lowered *p)
{
    for (int k = 0; k + 1 < p->num_kernels; k++) {
        cnnc_kernel *pool = &p->kernels[k], *relu = &p->kernels[k + 1];
        int y_slot, dy_slot = relu_grad_dy_slot(relu, &y_slot);
        int dx = pool->out[0];
        if (pool->kind != CNNC_K_MAX_POOL2D_GRAD || pool->relu_grad || dy_slot < 0 ||
            relu->in[dy_slot] != dx || relu->in[y_slot] != pool->in[0] ||
            p->bufs[dx].kind != CNNC_BUF_ARENA || p->bufs[relu->out[0]].kind != CNNC_BUF_ARENA ||
            pool->hoisted || relu->hoisted || pool->cam_max_target != relu->cam_max_target ||
            pool->cam_target != relu->cam_target || pool->cam_method != relu->cam_method ||
            buf_read_elsewhere(p, dx, k + 1))
            continue;
        pool->relu_grad = 1;
        pool->out[0] = relu->out[0];
        pool->node = relu->node;
        memmove(relu, relu + 1, (size_t)(p->num_kernels - k - 2) * sizeof *relu);
        p->num_kernels--;
    }
}

/* ---- liveness and the memory plan ----------------------------------------------------- */

static void mark_live(cnnc_lower_ctx *lc)
{
    const cnnc_graph *g = lc->g;
    for (int i = 0; i < g->num_outputs; i++) {
        cnnc_output_role r = g->outputs[i].role;
        int wanted = r == CNNC_OUT_PROBS || r == CNNC_OUT_UPDATED ||
                     (lc->p->kind == CNNC_PROGRAM_TRAIN &&
                      (r == CNNC_OUT_LOSS || r == CNNC_OUT_PARAM_GRAD)) ||
                     (lc->p->kind == CNNC_PROGRAM_CAM && r == CNNC_OUT_CAM) ||
                     (lc->p->kind == CNNC_PROGRAM_GUIDED && r == CNNC_OUT_INPUT_GRAD);
        if (wanted) {
            lc->live[g->outputs[i].node] = 1;
            lc->uses[g->outputs[i].node]++;
        }
    }
    if (lc->p->kind == CNNC_PROGRAM_TRAIN && g->label_node >= 0) {
        lc->live[g->label_node] = 1;   /* read by the stats (accuracy) */
        lc->uses[g->label_node]++;
    }
    int logits = cnnc_graph_logits_node(g);
    if (lc->p->kind == CNNC_PROGRAM_INFER && logits >= 0) {
        lc->live[logits] = 1;          /* the logits output (the loss of evaluation) */
        lc->uses[logits]++;
    }
    for (int i = g->num_nodes - 1; i >= 0; i--) {
        if (!lc->live[i])
            continue;
        /* Outside training a batch statistic reads only its moving statistic. */
        int moving_only = g->nodes[i].op == CNNC_OP_BATCH_MEAN &&
                          g->nodes[i].inputs[1] >= 0 && lc->p->kind != CNNC_PROGRAM_TRAIN;
        for (int j = moving_only ? 1 : 0; j < CNNC_MAX_INPUTS; j++) {
            int in = g->nodes[i].inputs[j];
            if (in >= 0 && j < cnnc_op_info_of(g->nodes[i].op)->arity) {
                lc->live[in] = 1;
                lc->uses[in]++;
            }
        }
    }
}

/* Live interval of every arena buffer: first kernel touching it to the last. */
static void compute_intervals(cnnc_lowered *p)
{
    for (int k = 0; k < p->num_kernels; k++) {
        const cnnc_kernel *kr = &p->kernels[k];
        int ids[CNNC_KERNEL_MAX_IN + CNNC_KERNEL_MAX_OUT], n = 0;
        for (int i = 0; i < CNNC_KERNEL_MAX_IN; i++)
            ids[n++] = kr->in[i];
        for (int i = 0; i < CNNC_KERNEL_MAX_OUT; i++)
            ids[n++] = kr->out[i];
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0)
                continue;
            cnnc_lbuf *b = &p->bufs[ids[i]];
            if (b->first < 0)
                b->first = k;
            b->last = k;
        }
    }
    /* What hoisted kernels write is made before the first image and read by every one. */
    for (int k = 0; k < p->num_kernels; k++)
        for (int i = 0; p->kernels[k].hoisted && i < CNNC_KERNEL_MAX_OUT; i++)
            if (p->kernels[k].out[i] >= 0) {
                p->bufs[p->kernels[k].out[i]].first = 0;
                p->bufs[p->kernels[k].out[i]].last = p->num_kernels - 1;
            }
}

/* First fit over live intervals: each buffer (largest first) goes to the lowest
 * 64-byte-aligned offset where it overlaps no placed buffer whose interval meets its own. */
static void plan_memory(cnnc_lowered *p)
{
    compute_intervals(p);
    int *order = cnnc_xrealloc(NULL, (size_t)(p->num_bufs + 1) * sizeof *order);
    int count = 0;
    for (int i = 0; i < p->num_bufs; i++)
        if (p->bufs[i].kind == CNNC_BUF_ARENA && p->bufs[i].first >= 0)
            order[count++] = i;
    for (int i = 1; i < count; i++) {   /* insertion sort: size descending, then id */
        int b = order[i], j = i;
        while (j > 0 && p->bufs[order[j - 1]].size < p->bufs[b].size) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = b;
    }
    int64_t arena = 0;
    for (int i = 0; i < count; i++) {
        cnnc_lbuf *b = &p->bufs[order[i]];
        int64_t size = round16(b->size), offset = 0;
        for (int moved = 1; moved;) {   /* bump past every conflicting placed buffer */
            moved = 0;
            for (int j = 0; j < i; j++) {
                const cnnc_lbuf *o = &p->bufs[order[j]];
                int overlap_time = o->first <= b->last && b->first <= o->last;
                int overlap_mem = o->offset < offset + size && offset < o->offset + round16(o->size);
                if (overlap_time && overlap_mem) {
                    offset = o->offset + round16(o->size);
                    moved = 1;
                }
            }
        }
        b->offset = offset;
        if (offset + size > arena)
            arena = offset + size;
    }
    p->arena_floats = arena;
    free(order);
}

cnnc_ws_layout cnnc_lowered_ws_layout(const cnnc_lowered *p)
{
    cnnc_ws_layout l;
    l.grad = round16(p->arena_floats);
    l.stats = l.grad + round16(p->grad_floats);
    l.floats = l.stats + round16(p->stats_floats);
    return l;
}

int64_t cnnc_lowered_ws_floats(const cnnc_lowered *p)
{
    return cnnc_lowered_ws_layout(p).floats;
}

/* ---- update programs ------------------------------------------------------------------ */

/* An update program (optimizers.h) becomes ONE ew loop over the parameters: every EW node
 * is a step (its operands: arguments as in[] slots, scalars read at element 0, constants
 * as immediates, earlier nodes as step results), and each updated argument is an output
 * of the same loop, written in place -- so the optimizer reads and writes each of its
 * vectors once per step, as a hand-written update would. */

int cnnc_lower_arg(cnnc_lower_ctx *lc, int node)
{
    const cnnc_node *n = node_of(lc, node);
    cnnc_lower_set_buf(lc, node, cnnc_lower_new_buf(lc, CNNC_BUF_ARG, n->attrs.param,
                                                    cnnc_shape_size(n->shape), node));
    return 0;
}

/* The buffer of argument `arg` (made on first use, named after its ARG node). */
static int arg_buf(cnnc_lower_ctx *lc, int arg, int64_t size, int node)
{
    for (int b = 0; b < lc->p->num_bufs; b++)
        if (lc->p->bufs[b].kind == CNNC_BUF_ARG && lc->p->bufs[b].offset == arg)
            return b;
    return cnnc_lower_new_buf(lc, CNNC_BUF_ARG, arg, size, node);
}

static int update_error(cnnc_lower_ctx *lc, int node, const char *what)
{
    cnnc_error(lc->d, (cnnc_loc){0, 0, 0}, "internal error: update program node %d (%s): %s",
               node, node_of(lc, node)->name ? node_of(lc, node)->name : "?", what);
    return -1;
}

/* One operand of the step computing `node`. */
static int update_operand(cnnc_lower_ctx *lc, cnnc_kernel *kr, const int *step_of, int node,
                          int x, cnnc_ew_step *st, int j)
{
    const cnnc_node *in = node_of(lc, x);
    if (in->op == CNNC_OP_CONST) {
        st->arg[j] = CNNC_ARG_IMM;
        st->imm[j] = in->attrs.value;
    } else if (in->op == CNNC_OP_ARG) {
        int buf = arg_buf(lc, in->attrs.param, cnnc_shape_size(in->shape), x);
        int slot = operand_slot(kr, buf);
        if (slot < 0)
            return update_error(lc, node, "more arguments than an ew kernel reads");
        kr->in[slot] = buf;
        st->arg[j] = slot;
    } else if (in->op == CNNC_OP_EW && step_of[x] >= 0) {
        st->arg[j] = CNNC_ARG_STEP - step_of[x];
    } else {
        return update_error(lc, node, "an operand is not an argument, constant or ew node");
    }
    return 0;
}

static int lower_update(cnnc_lower_ctx *lc)
{
    const cnnc_graph *g = lc->g;
    int k = cnnc_lower_add_kernel(lc, CNNC_K_EW, -1);
    int *step_of = cnnc_xrealloc(NULL, (size_t)(g->num_nodes + 1) * sizeof *step_of);
    int rc = 0;
    for (int i = 0; i < g->num_nodes && rc == 0; i++) {
        cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
        const cnnc_node *n = node_of(lc, i);
        step_of[i] = -1;
        if (!lc->live[i] || n->op == CNNC_OP_ARG || n->op == CNNC_OP_CONST)
            continue;
        if (n->op != CNNC_OP_EW || kr->num_steps == CNNC_EW_MAX_STEPS) {
            rc = update_error(lc, i, n->op != CNNC_OP_EW ? "not an elementwise op"
                                                         : "too many steps for one loop");
            break;
        }
        cnnc_ew_step st = fn_step((cnnc_ew_fn)n->attrs.ew, n->attrs.alpha);
        for (int j = 0; j < cnnc_ew_info_of(st.fn)->arity && rc == 0; j++)
            rc = update_operand(lc, kr, step_of, i, n->inputs[j], &st, j);
        step_of[i] = kr->num_steps;
        kr->steps[kr->num_steps++] = st;
        kr->node = i;
        if (cnnc_shape_size(n->shape) > kr->n)
            kr->n = cnnc_shape_size(n->shape);
    }
    int outputs = 0;
    for (int o = 0; o < g->num_outputs && rc == 0; o++) {
        const cnnc_output *out = &g->outputs[o];
        cnnc_kernel *kr = cnnc_lower_kernel(lc, k);
        if (out->role != CNNC_OUT_UPDATED)
            continue;
        if (step_of[out->node] < 0 || outputs == CNNC_KERNEL_MAX_OUT ||
            cnnc_shape_size(node_of(lc, out->node)->shape) != kr->n) {
            rc = update_error(lc, out->node, "an updated value must be a vector computed by "
                                             "the loop (at most 3 of them)");
            break;
        }
        kr->out[outputs] = arg_buf(lc, out->param, kr->n, -1);
        kr->out_step[outputs++] = step_of[out->node] + 1;
    }
    free(step_of);
    return rc;
}

/* ---- entry points --------------------------------------------------------------------- */

cnnc_lowered *cnnc_lower_program(const cnnc_graph *g, cnnc_program_kind kind, cnnc_diag *d)
{
    cnnc_lower_ctx lc = {0};
    lc.current = -1;
    lc.g = g;
    lc.d = d;
    lc.p = cnnc_xrealloc(NULL, sizeof *lc.p);
    memset(lc.p, 0, sizeof *lc.p);
    lc.p->kind = kind;
    lc.p->graph = g;
    size_t n = (size_t)g->num_nodes + 1;
    lc.node_buf = cnnc_xrealloc(NULL, n * sizeof *lc.node_buf);
    lc.uses = cnnc_xrealloc(NULL, n * sizeof *lc.uses);
    lc.live = cnnc_xrealloc(NULL, n);
    for (int i = 0; i < g->num_nodes; i++)
        lc.node_buf[i] = -1;
    memset(lc.uses, 0, n * sizeof *lc.uses);
    memset(lc.live, 0, n);
    mark_live(&lc);

    /* Leaves first: the label is then defined before any kernel that reads it. */
    int errors = d->errors, failed = 0;
    if (kind == CNNC_PROGRAM_UPDATE)
        failed = lower_update(&lc) != 0;
    for (int pass = 0; pass < 2 && kind != CNNC_PROGRAM_UPDATE; pass++) {
        for (int i = 0; i < g->num_nodes; i++) {
            cnnc_op op = g->nodes[i].op;
            int leaf = op == CNNC_OP_INPUT || op == CNNC_OP_LABEL || op == CNNC_OP_PARAM;
            if (!lc.live[i] || leaf != (pass == 0))
                continue;
            const cnnc_op_info *info = cnnc_op_info_of(op);
            if (!info->lower) {
                cnnc_error(d, g->nodes[i].loc,
                           "op '%s' (%s) is not supported by the code generator", info->name,
                           g->nodes[i].name ? g->nodes[i].name : "?");
                failed = 1;
                continue;
            }
            lc.current = i;
            if (!failed && info->lower(&lc, i))
                failed = 1;
        }
    }
    lc.current = -1;
    if (!failed && kind == CNNC_PROGRAM_CAM)
        guard_cam_backward(lc.p, cam_target_count(g));
    if (!failed && d->errors == errors && kind != CNNC_PROGRAM_UPDATE && lower_outputs(&lc))
        failed = 1;
    free(lc.node_buf);
    free(lc.uses);
    free(lc.live);
    if (failed || d->errors != errors) {
        cnnc_lowered_free(lc.p);
        return NULL;
    }
    fuse_relu_grads(lc.p);
    plan_memory(lc.p);
    return lc.p;
}

void cnnc_lowered_free(cnnc_lowered *p)
{
    if (!p)
        return;
    free(p->kernels);
    free(p->bufs);
    free(p);
}

/* ---- the dump ------------------------------------------------------------------------- */

static const char *buf_kind_name(cnnc_buf_kind k)
{
    switch (k) {
    case CNNC_BUF_ARENA: return "arena";
    case CNNC_BUF_PARAMS: return "params";
    case CNNC_BUF_GRAD: return "grad";
    case CNNC_BUF_STATS: return "stats";
    case CNNC_BUF_INPUT: return "input";
    case CNNC_BUF_OUTPUT: return "output";
    case CNNC_BUF_ARG: return "arg";
    }
    return "?";
}

static const char *const slot_names[CNNC_SLOT_COUNT] = {"probs", "maps", "map_max",
                                                        "input_grads", "logits"};
static const char *step_name(const cnnc_ew_step *s)
{
    return s->kind == CNNC_STEP_DROPOUT ? "dropout" : cnnc_ew_info_of(s->fn)->name;
}

/* An ew kernel's steps as "{greater(in0,0),select(v,in1,0)}"; an epilogue's as "+relu". */
static void dump_steps(const cnnc_kernel *kr, FILE *out)
{
    int epilogue = kr->kind != CNNC_K_EW;
    for (int s = 0; s < kr->num_steps; s++) {
        const cnnc_ew_step *st = &kr->steps[s];
        if (epilogue) {
            fprintf(out, "+%s", step_name(st));
            continue;
        }
        fprintf(out, "%s%s(", s ? "," : " {", step_name(st));
        int arity = st->kind == CNNC_STEP_DROPOUT ? 1 : cnnc_ew_info_of(st->fn)->arity;
        for (int j = 0; j < arity; j++) {
            fprintf(out, j ? "," : "");
            if (st->arg[j] == CNNC_ARG_CHAIN)
                fprintf(out, "v");
            else if (st->arg[j] <= CNNC_ARG_STEP)
                fprintf(out, "s%d", CNNC_ARG_STEP - st->arg[j]);
            else if (st->arg[j] == CNNC_ARG_IMM)
                fprintf(out, "%g", (double)st->imm[j]);
            else
                fprintf(out, "in%d", st->arg[j]);
        }
        fprintf(out, ")");
    }
    if (kr->num_steps && !epilogue)
        fprintf(out, "}");
}

static void dump_buf(const cnnc_lowered *p, int id, FILE *out)
{
    const cnnc_lbuf *b = &p->bufs[id];
    const char *name = b->node >= 0 ? p->graph->nodes[b->node].name : NULL;
    if (b->kind == CNNC_BUF_OUTPUT)
        fprintf(out, " %s[%" PRId64 "]", slot_names[b->offset], b->size);
    else
        fprintf(out, " %s@%" PRId64 "[%" PRId64 "]", buf_kind_name(b->kind), b->offset, b->size);
    if (name)
        fprintf(out, "(%s)", name);
    else if (b->kind == CNNC_BUF_ARENA)
        fprintf(out, "(scratch)");
}

void cnnc_lowered_dump(const cnnc_lowered *p, FILE *out)
{
    static const char *const kinds[] = {"infer", "train_step", "gradcam", "guided_backprop",
                                        "update"};
    fprintf(out, "lowered program %s: %d kernels, arena %" PRId64 " floats (%" PRId64
                 " bytes) per thread, ws %" PRId64 " floats per thread\n",
            kinds[p->kind], p->num_kernels, p->arena_floats, p->arena_floats * 4,
            cnnc_lowered_ws_floats(p));
    for (int k = 0; k < p->num_kernels; k++) {
        const cnnc_kernel *kr = &p->kernels[k];
        fprintf(out, "  k%-3d %s", k, cnnc_kernel_kind_name(kr->kind));
        if (kr->kind != CNNC_K_EW)
            dump_steps(kr, out);
        fprintf(out, "%s%s%s", kr->relu_grad ? "+relu_grad" : "", kr->accumulate ? " (+=)" : "",
                kr->hoisted ? " (once per batch)" : "");
        if (kr->kind == CNNC_K_EW)
            dump_steps(kr, out);
        if (kr->kind == CNNC_K_FILL)
            fprintf(out, " value=%g", (double)kr->value);
        if (kr->kind == CNNC_K_REDUCE || kr->kind == CNNC_K_BROADCAST) {
            char buf[64];
            fprintf(out, " %s axes=0x%x", cnnc_shape_str(kr->shape, 0, buf, sizeof buf), kr->axes);
        }
        if (kr->cam_max_target != INT_MAX)
            fprintf(out, " (when target <= %d)", kr->cam_max_target);
        if (kr->cam_target >= 0)
            fprintf(out, " (target %d%s%s)", kr->cam_target, kr->cam_method >= 0 ? ", " : "",
                    kr->cam_method >= 0 ? cnnrt_cam_method_name(kr->cam_method) : "");
        if (kr->kind == CNNC_K_CONV2D || kr->kind == CNNC_K_MAX_POOL2D ||
            kr->kind == CNNC_K_AVG_POOL2D || kr->kind == CNNC_K_CONV2D_GRAD_INPUT ||
            kr->kind == CNNC_K_CONV2D_GRAD_KERNEL || kr->kind == CNNC_K_MAX_POOL2D_GRAD ||
            kr->kind == CNNC_K_AVG_POOL2D_GRAD)
            fprintf(out, " %" PRId64 "x%" PRId64 "x%" PRId64 " -> %" PRId64 "x%" PRId64
                         "x%" PRId64 " window %dx%d stride %dx%d pad %d,%d",
                    kr->ih, kr->iw, kr->ic, kr->oh, kr->ow, kr->oc, kr->kh, kr->kw, kr->sh,
                    kr->sw, kr->pad_top, kr->pad_left);
        else
            fprintf(out, " n=%" PRId64, kr->n);
        fprintf(out, "\n       in:");
        for (int i = 0; i < CNNC_KERNEL_MAX_IN; i++)
            if (kr->in[i] >= 0)
                dump_buf(p, kr->in[i], out);
        fprintf(out, "\n       out:");
        for (int i = 0; i < CNNC_KERNEL_MAX_OUT; i++)
            if (kr->out[i] >= 0)
                dump_buf(p, kr->out[i], out);
        fprintf(out, "\n");
    }
}
