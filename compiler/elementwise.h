/* Elementwise functions and the primitive-op builders.
 *
 * The graph's primitive ops (graph.h) are
 *   CONST      a rank-0 scalar, attrs.value
 *   EW         one elementwise function of 1..3 inputs, attrs.ew (and attrs.alpha);
 *              an input's shape equals the output's or is a suffix of it (rank 0 = a
 *              scalar): over output element i, input k reads element i % size_k
 *   REDUCE     sum / max / mean over the axes in attrs.axes (bit i = input axis i); the
 *              result drops those axes (all of them: rank 0)
 *   BROADCAST  the adjoint of a sum: x repeated along the axes attrs.axes of the result
 *              shape attrs.shape (x's shape is attrs.shape without those axes)
 *
 * Every elementwise function is one line of CNNC_EW_FNS below and, in elementwise.c, three
 * functions side by side (KANN style): its scalar evaluation (the interpreter), its LLVM
 * emission (the generated code, for scalar and vector operands alike) and its gradient
 * rule, written with the builders at the end of this header. Nothing else in the
 * compiler names a particular function except where it means that function (the front
 * end's activation table, the guided-backpropagation rule).
 *
 * X(ID, ident, "name", arity): the functions of entry ID are eval_<ident>, emit_<ident>
 * and grad_<ident> in elementwise.c. */
#ifndef CNNC_ELEMENTWISE_H
#define CNNC_ELEMENTWISE_H

#include "graph.h"

#define CNNC_EW_FNS(X)                                                                   \
    X(ADD, add, "add", 2)                                                                \
    X(SUB, sub, "sub", 2)                                                                \
    X(MUL, mul, "mul", 2)                                                                \
    X(DIV, div, "div", 2)                                                                \
    X(MAX, max, "max", 2)                  /* ties: the gradient goes to a */            \
    X(MIN, min, "min", 2)                                                                \
    X(POW, pow, "pow", 2)                  /* a ** b */                                  \
    X(GREATER, greater, "greater", 2)      /* a > b ? 1 : 0 (no gradient) */             \
    X(EQUAL, equal, "equal", 2)            /* a == b ? 1 : 0 (no gradient) */            \
    X(SELECT, select, "select", 3)         /* c != 0 ? a : b */                          \
    X(NEG, neg, "neg", 1)                                                                \
    X(EXP, exp, "exp", 1)                                                                \
    X(LOG, log, "log", 1)                                                                \
    X(SQRT, sqrt, "sqrt", 1)                                                             \
    X(SQUARE, square, "square", 1)                                                       \
    X(ABS, abs, "abs", 1)                                                                \
    X(RELU, relu, "relu", 1)                                                             \
    X(SIGMOID, sigmoid, "sigmoid", 1)                                                    \
    X(TANH, tanh, "tanh", 1)                                                             \
    X(LEAKY_RELU, leaky_relu, "leaky_relu", 1)   /* x > 0 ? x : alpha * x */

typedef enum cnnc_ew_fn {
#define CNNC_EW_ENUM(id, ident, text, arity) CNNC_EW_##id,
    CNNC_EW_FNS(CNNC_EW_ENUM)
#undef CNNC_EW_ENUM
    CNNC_EW_COUNT
} cnnc_ew_fn;

typedef enum cnnc_reduce_kind { CNNC_REDUCE_SUM, CNNC_REDUCE_MAX, CNNC_REDUCE_MEAN } cnnc_reduce_kind;

/* ---- builders ---------------------------------------------------------------------------
 * Where new nodes go and what they are called: every node a builder makes gets `name`,
 * `layer` and `loc` (so dumps and messages point at the layer that asked for them). A
 * builder function returns the new node's id, or -1 after reporting through d; an input
 * of -1 makes it return -1 without a new message, so a formula needs one check at its
 * end:
 *     cnnc_builder b = {g, d, "cam/conv2d", layer, loc};
 *     int w = cnnc_reduce(&b, CNNC_REDUCE_MEAN, dA, 1 | 2);         [H,W,C] -> [C]
 *     int map = cnnc_reduce(&b, CNNC_REDUCE_SUM, cnnc_mul(&b, A, w), 4);   -> [H,W]
 *     if (map < 0) return -1; */
typedef struct cnnc_builder {
    cnnc_graph *g;
    cnnc_diag *d;
    const char *name;
    int layer;
    cnnc_loc loc;
} cnnc_builder;

/* The long forms (a graph, a diag and the node's name, layer and position). */
int cnnc_build_ew(cnnc_graph *g, cnnc_diag *d, cnnc_ew_fn fn, int a, int b, int c,
                  float alpha, const char *name, int layer, cnnc_loc loc);
int cnnc_build_const(cnnc_graph *g, cnnc_diag *d, float value, const char *name,
                     int layer, cnnc_loc loc);
/* axes: bit i = axis i of x. */
int cnnc_build_reduce(cnnc_graph *g, cnnc_diag *d, cnnc_reduce_kind kind, int x,
                      unsigned axes, const char *name, int layer, cnnc_loc loc);

/* The short forms. */
int cnnc_ew(const cnnc_builder *b, cnnc_ew_fn fn, int x, int y, int z, float alpha);
int cnnc_const(const cnnc_builder *b, float value);
int cnnc_reduce(const cnnc_builder *b, cnnc_reduce_kind kind, int x, unsigned axes);
/* x repeated along `axes` of `to` (x's shape = to's shape without those axes). */
int cnnc_broadcast(const cnnc_builder *b, int x, unsigned axes, cnnc_shape to);

static inline int cnnc_ew1(const cnnc_builder *b, cnnc_ew_fn fn, int x) { return cnnc_ew(b, fn, x, -1, -1, 0.0f); }
static inline int cnnc_ew2(const cnnc_builder *b, cnnc_ew_fn fn, int x, int y) { return cnnc_ew(b, fn, x, y, -1, 0.0f); }
static inline int cnnc_add(const cnnc_builder *b, int x, int y) { return cnnc_ew2(b, CNNC_EW_ADD, x, y); }
static inline int cnnc_sub(const cnnc_builder *b, int x, int y) { return cnnc_ew2(b, CNNC_EW_SUB, x, y); }
static inline int cnnc_mul(const cnnc_builder *b, int x, int y) { return cnnc_ew2(b, CNNC_EW_MUL, x, y); }
static inline int cnnc_div(const cnnc_builder *b, int x, int y) { return cnnc_ew2(b, CNNC_EW_DIV, x, y); }
static inline int cnnc_greater(const cnnc_builder *b, int x, int y) { return cnnc_ew2(b, CNNC_EW_GREATER, x, y); }
static inline int cnnc_select(const cnnc_builder *b, int c, int x, int y) { return cnnc_ew(b, CNNC_EW_SELECT, c, x, y, 0.0f); }
/* x * s and x + s for a constant s. */
static inline int cnnc_scale(const cnnc_builder *b, int x, float s) { return cnnc_mul(b, x, cnnc_const(b, s)); }
static inline int cnnc_shift(const cnnc_builder *b, int x, float s) { return cnnc_add(b, x, cnnc_const(b, s)); }

/* ---- the table ------------------------------------------------------------------------ */

/* A gradient rule: the contribution to the gradient of input `input` (0..arity-1) of EW
 * node `node`, given dy, the gradient of its output. It may read the node's own output
 * (node itself) and inputs. The result has the output's shape (or the input's): the
 * autodiff sums it over the broadcast axes. Returns CNNC_NO_GRAD when the input gets no
 * gradient (comparisons, select's condition), -1 after an error. */
enum { CNNC_NO_GRAD = -2 };
typedef int (*cnnc_ew_grad_rule)(const cnnc_builder *b, int node, int dy, int input);

typedef struct cnnc_ew_info {
    const char *name;
    int arity;
    /* f(x[0..arity-1]) with parameter alpha, computed in double. */
    double (*eval)(const double *x, float alpha);
    cnnc_ew_grad_rule grad;
} cnnc_ew_info;

const cnnc_ew_info *cnnc_ew_info_of(cnnc_ew_fn fn);

/* Guided backpropagation's ReLU rule (Springenberg et al.): only positive gradients
 * through positive activations, select(y > 0 and dy > 0, dy, 0). Passed to the autodiff
 * as an override of CNNC_EW_RELU's rule (autodiff.h). */
int cnnc_guided_relu_grad(const cnnc_builder *b, int node, int dy, int input);

#endif
