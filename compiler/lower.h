/* The second IR level (as in Glow): a program lowered from a graph is a list of loop
 * kernels with constant shapes, each naming the buffers it reads and writes. This is the
 * level where fusion and memory are decided:
 *   - the bias, and elementwise functions of the result and constants (activations),
 *     are fused into the epilogue of conv2d / dense,
 *   - chains of single-use EW nodes (and dropout) become one loop (an "ew" kernel with a
 *     list of steps); constants become immediates, smaller operands are broadcast,
 *   - REDUCE and BROADCAST are generic loop nests,
 *   - softmax, cross-entropy and its gradient become one kernel,
 *   - a ReLU's gradient right after the max-pooling gradient it masks becomes part of
 *     that kernel (relu_grad),
 *   - every per-image value lives in one arena, packed by buffer lifetimes (first fit
 *     over live intervals, 64-byte aligned offsets).
 *
 * A lowered program runs once per image; the code generator wraps it in the batch loop.
 *
 * Lowering walks the graph's live nodes in order and calls the op table's `lower` column,
 * `int cnnc_lower_<op>(struct cnnc_lower_ctx *lc, int node)`, which appends kernels through
 * the functions below and records which buffer holds the node's value. */
#ifndef CNNC_LOWER_H
#define CNNC_LOWER_H

#include <stdint.h>
#include <stdio.h>
#include "elementwise.h"
#include "graph.h"

typedef enum cnnc_program_kind {
    CNNC_PROGRAM_INFER,   /* forward graph -> probs, logits */
    CNNC_PROGRAM_TRAIN,   /* cnnc_build_train_graph -> per-thread gradients and stats */
    CNNC_PROGRAM_CAM,     /* cnnc_build_cam_graph -> the map of the run's target and method,
                             map_max, probs */
    CNNC_PROGRAM_GUIDED,  /* cnnc_build_guided_graph -> input gradients, probs */
    CNNC_PROGRAM_UPDATE,  /* cnnc_build_update_graph -> one ew loop updating its arguments */
} cnnc_program_kind;

/* Where a buffer lives. Pointers are computed per image by the generated worker. */
typedef enum cnnc_buf_kind {
    CNNC_BUF_ARENA,    /* per-thread arena; offset assigned by the memory plan */
    CNNC_BUF_PARAMS,   /* the flat weights buffer; offset = the param's offset */
    CNNC_BUF_GRAD,     /* per-thread gradient space in ws; offset = the param's offset */
    CNNC_BUF_STATS,    /* per-thread stats: [0] loss sum, [1] correct count */
    CNNC_BUF_INPUT,    /* the image: x + image * size */
    CNNC_BUF_OUTPUT,   /* a program output: slot pointer + image * size; offset = slot */
    CNNC_BUF_ARG,      /* an update program's argument; offset = its index (optimizers.h) */
} cnnc_buf_kind;

/* Program output slots (CNNC_BUF_OUTPUT offsets). */
typedef enum cnnc_out_slot {
    CNNC_SLOT_PROBS,        /* probs, n * classes */
    CNNC_SLOT_MAPS,         /* cam maps, n * h * w (of the run's target layer) */
    CNNC_SLOT_MAP_MAX,      /* cam map maximum, n */
    CNNC_SLOT_INPUT_GRADS,  /* guided backprop, n * H*W*C */
    CNNC_SLOT_LOGITS,       /* infer: class scores before the final softmax, n * classes */
    CNNC_SLOT_COUNT
} cnnc_out_slot;

typedef struct cnnc_lbuf {
    cnnc_buf_kind kind;
    int64_t offset;      /* floats (ARENA: set by the plan; OUTPUT: the slot) */
    int64_t size;        /* floats */
    int node;            /* the graph node whose value it holds (-1 if none) */
    int first, last;     /* live interval in kernel indices (ARENA), set by the plan */
} cnnc_lbuf;

/* Elementwise chain steps. An "ew" kernel loops over its n output elements; each step
 * computes the loop's value v from its operands, and the last v is stored. The same steps
 * form the epilogue of a conv2d or dense kernel (applied to each output value), where
 * their operands can only be v and constants. */
enum {
    CNNC_ARG_CHAIN = -1,   /* operand: v, the previous step's result */
    CNNC_ARG_IMM = -2,     /* operand: the constant imm[j] */
    CNNC_ARG_STEP = -3,    /* operand CNNC_ARG_STEP - s: the result of earlier step s */
};                         /* any other operand is an in[] slot, element i % its size */

typedef enum cnnc_step_kind {
    CNNC_STEP_FN,          /* v = fn(operands) (elementwise.h) */
    CNNC_STEP_DROPOUT,     /* v = keep ? arg0 / (1 - rate) : 0 (train only) */
} cnnc_step_kind;

typedef struct cnnc_ew_step {
    cnnc_step_kind kind;
    cnnc_ew_fn fn;
    float alpha;                      /* the function's parameter */
    int arg[CNNC_MAX_INPUTS];         /* CNNC_ARG_CHAIN, CNNC_ARG_IMM or an in[] slot */
    float imm[CNNC_MAX_INPUTS];
    int dropout_index;                /* DROPOUT: which dropout layer */
    float rate;                       /* DROPOUT */
} cnnc_ew_step;

#define CNNC_KERNELS(X)                                                                   \
    X(CONV2D, "conv2d")                 /* in: x, kernel, bias?  out: y (steps epilogue) */ \
    X(DENSE, "dense")                   /* in: x, kernel, bias?  out: y (steps epilogue) */ \
    X(MAX_POOL2D, "max_pool2d")         /* in: x  out: y */                               \
    X(AVG_POOL2D, "avg_pool2d")         /* in: x  out: y (TF 'same': valid count) */      \
    X(GLOBAL_AVG_POOL2D, "global_avg_pool2d")                                             \
    X(EW, "elementwise")                /* in: step operands  out: v */                   \
    X(REDUCE, "reduce")                 /* in: x [shape]  out: x reduced over axes */     \
    X(BROADCAST, "broadcast")           /* in: x  out: [shape], x repeated along axes */  \
    X(FILL, "fill")                     /* out: n copies of value (a constant) */         \
    X(SOFTMAX, "softmax")               /* in: logits  out: p */                          \
    X(SOFTMAX_XENT, "softmax_xent")     /* in: logits, label  out: probs?, loss?, grad? */\
    X(XENT, "xent")                     /* in: p, label  out: loss */                    \
    X(MSE, "mse")                       /* in: pred, label  out: loss */                 \
    X(LABEL, "label")                   /* out: [1] the image's class as a float */      \
    X(CONV2D_GRAD_INPUT, "conv2d_grad_input")   /* in: dy, kernel  out: dx */             \
    X(CONV2D_GRAD_KERNEL, "conv2d_grad_kernel") /* in: x, dy  out: dkernel */             \
    X(BIAS_GRAD, "bias_grad")           /* in: dy [.., C]  out: [C] */                    \
    X(MAX_POOL2D_GRAD, "max_pool2d_grad")       /* in: x, dy  out: dx */                  \
    X(AVG_POOL2D_GRAD, "avg_pool2d_grad")       /* in: dy  out: dx */                     \
    X(GLOBAL_AVG_POOL2D_GRAD, "global_avg_pool2d_grad")                                   \
    X(DENSE_GRAD_INPUT, "dense_grad_input")     /* in: dy, kernel  out: dx */             \
    X(DENSE_GRAD_KERNEL, "dense_grad_kernel")   /* in: x, dy  out: dkernel */             \
    X(XENT_GRAD, "xent_grad")           /* in: p, label  out: -y/p */                    \
    X(MSE_GRAD, "mse_grad")             /* in: pred, label  out: 2(p-y)/n */             \
    X(CLASS_SCORE_GRAD, "class_score_grad") /* in: logits, label  out: seed */           \
    X(FLIP_TRANSPOSE, "flip_transpose") /* in: conv kernel  out: [KH,KW,OC,IC] flipped */ \
    X(BATCH_MEAN, "batch_mean")         /* in: v  out: its mean over the batch: a phase  \
                                           boundary of the train step, computed by its     \
                                           entry between two phases (codegen.c) */          \
    /* program outputs */                                                                 \
    X(COPY, "copy")                     /* in: v  out: v */                               \
    X(ACCUMULATE, "accumulate")         /* in: v  out: out += v (gradients) */            \
    X(STATS, "stats")                   /* in: loss, probs, label  out: stats += */      \
    X(CAM_FINISH, "cam_finish")         /* in: raw map  out: map (normalised), max */

typedef enum cnnc_kernel_kind {
#define CNNC_KERNEL_ENUM(id, text) CNNC_K_##id,
    CNNC_KERNELS(CNNC_KERNEL_ENUM)
#undef CNNC_KERNEL_ENUM
    CNNC_K_COUNT
} cnnc_kernel_kind;

enum { CNNC_KERNEL_MAX_IN = 8, CNNC_KERNEL_MAX_OUT = 3, CNNC_EW_MAX_STEPS = 32 };

typedef struct cnnc_kernel {
    cnnc_kernel_kind kind;
    int node;                          /* the (last) graph node it computes, for dumps */
    int in[CNNC_KERNEL_MAX_IN];        /* buffer ids, -1 = absent */
    int out[CNNC_KERNEL_MAX_OUT];      /* buffer ids, -1 = absent */
    /* Geometry (constant): input [ih, iw, ic] and output [oh, ow, oc] as [H,W,C]; dense
     * uses ic = IN and oc = OUT with ih = iw = oh = ow = 1. */
    int64_t ih, iw, ic, oh, ow, oc;
    int kh, kw, sh, sw, pad_top, pad_left;
    int64_t n;                         /* element count (ew, softmax, copy, ...) */
    int num_steps;                     /* EW chain, conv2d / dense epilogue */
    cnnc_ew_step steps[CNNC_EW_MAX_STEPS];
    int out_step[CNNC_KERNEL_MAX_OUT]; /* EW: out[o] stores the result of step out_step[o]-1
                                          (0: of the last step) */
    cnnc_shape shape;                  /* REDUCE: the input's, BROADCAST: the output's */
    unsigned axes;                     /* REDUCE, BROADCAST: as the graph node's */
    int reduce;                        /* REDUCE: a cnnc_reduce_kind */
    float value;                       /* FILL */
    /* Grad-CAM programs run, per call, the part of the kernel list that the run-time
     * target (its index among the program's targets) and method need:
     *   cam_max_target  backward kernels: run only when target <= this (they compute
     *                   gradients down to that target); INT_MAX on every other kernel;
     *   cam_target      a target's method and finish kernels: only for that target;
     *   cam_method      a method's kernels: only for that method (cnnc_cam_map_method
     *                   of the run's method). -1: any. */
    int cam_max_target, cam_target, cam_method;
    int accumulate;                    /* out[0] += the result (gradient kernels writing
                                          straight into the per-thread gradients) */
    int hoisted;                       /* reads only weights: runs once per worker call,
                                          before the image loop; its outputs stay live */
    int relu_grad;                     /* MAX_POOL2D_GRAD: dx is kept only where x > 0 (the
                                          gradient of the ReLU that made x, fused) */
} cnnc_kernel;

typedef struct cnnc_lowered {
    cnnc_program_kind kind;
    const cnnc_graph *graph;           /* not owned */
    cnnc_kernel *kernels;
    int num_kernels, cap_kernels;
    cnnc_lbuf *bufs;
    int num_bufs, cap_bufs;
    int64_t arena_floats;              /* per thread, after the plan (multiple of 16) */
    int64_t grad_floats;               /* per-thread gradient space (train), else 0 */
    int64_t stats_floats;              /* per-thread stats space (train), else 0 */
} cnnc_lowered;

/* Convolutions whose output channels are a multiple of 8 run as register-tiled vector
 * micro-kernels (kernels.c) reading a zero-padded copy of their input when the windows
 * reach outside it; the copy is an arena scratch buffer given as in[3]. */
static inline int cnnc_conv_tiled(const cnnc_kernel *k)
{
    return k->kind == CNNC_K_CONV2D && k->oc % 8 == 0;
}
/* The input extent the windows read: [(oh-1)*sh + kh, (ow-1)*sw + kw]; needs_copy when it
 * is not exactly inside the input. */
static inline int cnnc_conv_padded_extent(const cnnc_kernel *k, int64_t *hp, int64_t *wp)
{
    *hp = (k->oh - 1) * k->sh + k->kh;
    *wp = (k->ow - 1) * k->sw + k->kw;
    return k->pad_top > 0 || k->pad_left > 0 || *hp > k->ih || *wp > k->iw;
}

/* The input gradient of a stride-1 convolution with input channels a multiple of 8 runs
 * as the 'full' convolution of dy on the same tiles: in[2] is the flipped, transposed
 * kernel [KH,KW,OC,IC] (made by a hoisted flip_transpose kernel) and in[3] scratch for dy
 * zero-padded to [hp, wp, OC]. */
static inline int cnnc_conv_grad_input_tiled(const cnnc_kernel *k)
{
    return k->kind == CNNC_K_CONV2D_GRAD_INPUT && k->sh == 1 && k->sw == 1 && k->ic % 8 == 0 &&
           k->pad_top <= k->kh - 1 && k->pad_left <= k->kw - 1;
}
static inline void cnnc_conv_grad_input_padded(const cnnc_kernel *k, int64_t *hp, int64_t *wp)
{
    *hp = k->ih + k->kh - 1;
    *wp = k->iw + k->kw - 1;
}

/* The kernel gradient runs on tiles when the output channels are a multiple of 8; in[2]
 * is scratch for the zero-padded input when the windows reach outside it. */
static inline int cnnc_conv_grad_kernel_tiled(const cnnc_kernel *k)
{
    return k->kind == CNNC_K_CONV2D_GRAD_KERNEL && k->oc % 8 == 0;
}

/* Lowers graph g as a program of the given kind and plans its memory. Reports every op
 * without a lowering ("op X is not supported by the code generator") and returns NULL. */
cnnc_lowered *cnnc_lower_program(const cnnc_graph *g, cnnc_program_kind kind, cnnc_diag *d);
void cnnc_lowered_free(cnnc_lowered *p);
/* --dump-ir=lowered: the kernel list with buffer kinds, offsets and sizes, arena size. */
void cnnc_lowered_dump(const cnnc_lowered *p, FILE *out);
const char *cnnc_kernel_kind_name(cnnc_kernel_kind k);
/* A program's per-thread workspace (each thread's slice of ws): the arena at its start,
 * then the per-thread gradients, then the stats, each part starting on 64 bytes. Offsets
 * and the total in floats from the start of the slice. The one place this layout is
 * computed: the code generator addresses the parts with it, and the model's
 * ws_floats_per_thread is the largest total. */
typedef struct cnnc_ws_layout {
    int64_t grad, stats;               /* where the gradients and the stats start */
    int64_t floats;                    /* the whole slice */
} cnnc_ws_layout;
cnnc_ws_layout cnnc_lowered_ws_layout(const cnnc_lowered *p);
/* cnnc_lowered_ws_layout(p).floats */
int64_t cnnc_lowered_ws_floats(const cnnc_lowered *p);

/* ---- The API the cnnc_lower_<op> functions use ---------------------------------- */

struct cnnc_lower_ctx;
typedef struct cnnc_lower_ctx cnnc_lower_ctx;

int cnnc_lower_training(const cnnc_lower_ctx *lc);   /* dropout active */
/* The buffer holding a node's value (the node must have been lowered), or -1. A CONST
 * gets its buffer here, on first use, filled by a hoisted kernel. */
int cnnc_lower_buf_of(cnnc_lower_ctx *lc, int node);
/* A new buffer of the given kind and size; ARENA offsets are planned later. */
int cnnc_lower_new_buf(cnnc_lower_ctx *lc, cnnc_buf_kind kind, int64_t offset,
                       int64_t size, int node);
/* A new arena buffer holding node's value (its size from the node's shape). */
int cnnc_lower_def(cnnc_lower_ctx *lc, int node);
/* The node's value is (an alias of) buffer buf: reshape, dropout in inference. */
void cnnc_lower_set_buf(cnnc_lower_ctx *lc, int node, int buf);
/* Appends a kernel with every in/out set to -1; returns its index. The pointer from
 * cnnc_lower_kernel is valid until the next append. */
int cnnc_lower_add_kernel(cnnc_lower_ctx *lc, cnnc_kernel_kind kind, int node);
cnnc_kernel *cnnc_lower_kernel(cnnc_lower_ctx *lc, int k);
/* The index of the last appended kernel (hoisted ones aside: they run before the image
 * loop anyway) if it computes value_node as its only output, value_node has exactly one
 * reader, and that kernel runs whenever the node being lowered does (same Grad-CAM
 * guards), else -1 (the fusion peephole: epilogues and elementwise chains extend that
 * kernel instead of starting a new loop). */
int cnnc_lower_fusable_producer(cnnc_lower_ctx *lc, int value_node);
/* Sets k's geometry from a [H,W,C] input shape and output shape. */
void cnnc_lower_set_hwc(cnnc_kernel *k, cnnc_shape in, cnnc_shape out);

/* The lowerings of the op table's `lower` column (one per op; see ops.c). */
#define CNNC_LOWER_DECL(id, ident, text, arity) int cnnc_lower_##ident(cnnc_lower_ctx *lc, int node);
CNNC_OPS(CNNC_LOWER_DECL)
#undef CNNC_LOWER_DECL

#endif
