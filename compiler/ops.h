/* The op table: one entry per op, holding everything the compiler knows about it --
 * its shape rule (graph building), FLOP count (summary), interpreter kernel (the test
 * oracle), gradient rule (autodiff) and lowering (code generation). Adding an op means
 * one X() line in graph.h, one RULES() line in ops.c, and the op's function in each stage
 * that handles it (found by name, below); if its lowering needs a kernel of a new kind,
 * that kind's X() line in lower.h and its emitter in kernels.c. No other code switches on
 * ops, but for BATCH_MEAN, batch_norm's one op across the batch's images, which the
 * interpreter (cnnc_interp_run_batch) and the training step (its phases, codegen_entry.c)
 * run between images rather than per image. An elementwise function is not an op: it is a line of elementwise.h's table (see
 * docs/extending.md for both).
 *
 * The columns are implemented in the files that own each stage:
 *   shape, flops  -> ops.c          interp -> interp.c
 *   grad          -> autodiff.c     lower  -> lower.c
 * A column that is NULL for an op makes that stage report "op X is not supported by
 * <stage>" as an error, never a crash. */
#ifndef CNNC_OPS_H
#define CNNC_OPS_H

#include "graph.h"

struct cnnc_interp_ctx;   /* interp.c: one image's run (dropout seed, image index) */
struct cnnc_autodiff;     /* autodiff.c: the backward graph being built */
struct cnnc_lower_ctx;    /* lower.c: the kernel list being built */

typedef struct cnnc_op_info {
    const char *name;
    int arity;
    /* Computes n->shape (and resolves 'same' padding) from n's inputs. Reports a problem
     * through d, naming the layer and the shapes involved, and returns -1. */
    int (*shape)(cnnc_graph *g, cnnc_node *n, cnnc_diag *d);
    /* Floating-point operations per image (a multiply-add counts 2). */
    int64_t (*flops)(const cnnc_graph *g, const cnnc_node *n);
    /* Runs n on one image: in[i] points at input i's values (NULL if absent). */
    void (*interp)(const cnnc_graph *g, const cnnc_node *n, const float *const *in,
                   float *out, const struct cnnc_interp_ctx *ctx);
    /* Given dy (the node holding the gradient of n's output), adds the nodes computing
     * the gradients of n's inputs and hands each to the autodiff for summing. */
    int (*grad)(struct cnnc_autodiff *ad, int node, int dy);
    /* Appends the kernels computing n to the lowered program. */
    int (*lower)(struct cnnc_lower_ctx *lc, int node);
} cnnc_op_info;

extern const cnnc_op_info cnnc_op_table[CNNC_OP_COUNT];

static inline const cnnc_op_info *cnnc_op_info_of(cnnc_op op) { return &cnnc_op_table[op]; }

#endif
