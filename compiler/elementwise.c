/* The elementwise functions (see elementwise.h): for each, side by side, its scalar
 * evaluation (the interpreter's), its LLVM emission (the generated code's; operands are
 * float or <N x float>, constants take the operands' type) and its gradient rule, built
 * from the same primitives. Then the table and the builders. */
#include "elementwise.h"

#include <math.h>
#include <string.h>

#include "codegen_internal.h"

/* ---- helpers for the emitters ---------------------------------------------------------- */

/* The constant c with the type of `like` (a float or a vector of floats). */
static LLVMValueRef k_like(cnnc_cg *g, LLVMValueRef like, double c)
{
    LLVMTypeRef t = LLVMTypeOf(like);
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind)
        return cg_f32(g, c);
    unsigned n = LLVMGetVectorSize(t);
    LLVMValueRef lanes[64];
    for (unsigned i = 0; i < n && i < 64; i++)
        lanes[i] = cg_f32(g, c);
    return LLVMConstVector(lanes, n);
}

static LLVMValueRef e_gt(cnnc_cg *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildFCmp(g->b, LLVMRealOGT, a, b, "");
}
static LLVMValueRef e_sel(cnnc_cg *g, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, c, a, b, "");
}
/* 1.0 where cond holds, else 0.0. */
static LLVMValueRef e_bool(cnnc_cg *g, LLVMValueRef cond, LLVMValueRef like)
{
    return e_sel(g, cond, k_like(g, like, 1.0), k_like(g, like, 0.0));
}
static LLVMValueRef e_call(cnnc_cg *g, const char *intrinsic, LLVMValueRef *x, int n)
{
    return cg_intrinsic(g, intrinsic, LLVMTypeOf(x[0]), x, n);
}

/* ---- helpers for the rules -------------------------------------------------------------- */

static int in_of(const cnnc_builder *b, int node, int k) { return b->g->nodes[node].inputs[k]; }
static int zero(const cnnc_builder *b) { return cnnc_const(b, 0.0f); }
static int neg(const cnnc_builder *b, int x) { return cnnc_ew1(b, CNNC_EW_NEG, x); }

/* ---- the functions --------------------------------------------------------------------- */

static double eval_add(const double *x, float alpha) { (void)alpha; return x[0] + x[1]; }
static LLVMValueRef emit_add(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return LLVMBuildFAdd(g->b, x[0], x[1], "");
}
static int grad_add(const cnnc_builder *b, int node, int dy, int input)
{
    (void)b, (void)node, (void)input;
    return dy;
}

static double eval_sub(const double *x, float alpha) { (void)alpha; return x[0] - x[1]; }
static LLVMValueRef emit_sub(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return LLVMBuildFSub(g->b, x[0], x[1], "");
}
static int grad_sub(const cnnc_builder *b, int node, int dy, int input)
{
    (void)node;
    return input == 0 ? dy : neg(b, dy);
}

static double eval_mul(const double *x, float alpha) { (void)alpha; return x[0] * x[1]; }
static LLVMValueRef emit_mul(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return LLVMBuildFMul(g->b, x[0], x[1], "");
}
static int grad_mul(const cnnc_builder *b, int node, int dy, int input)
{
    return cnnc_mul(b, dy, in_of(b, node, 1 - input));
}

static double eval_div(const double *x, float alpha) { (void)alpha; return x[0] / x[1]; }
static LLVMValueRef emit_div(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return LLVMBuildFDiv(g->b, x[0], x[1], "");
}
/* d(a/b)/da = 1/b, d(a/b)/db = -y/b. */
static int grad_div(const cnnc_builder *b, int node, int dy, int input)
{
    int den = in_of(b, node, 1);
    if (input == 0)
        return cnnc_div(b, dy, den);
    return neg(b, cnnc_div(b, cnnc_mul(b, dy, node), den));
}

static double eval_max(const double *x, float alpha) { (void)alpha; return x[1] > x[0] ? x[1] : x[0]; }
static LLVMValueRef emit_max(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return e_sel(g, e_gt(g, x[1], x[0]), x[1], x[0]);
}
/* The gradient goes to the input chosen: b where b > a, else a. */
static int grad_max(const cnnc_builder *b, int node, int dy, int input)
{
    int b_won = cnnc_greater(b, in_of(b, node, 1), in_of(b, node, 0)), z = zero(b);
    return input == 0 ? cnnc_select(b, b_won, z, dy) : cnnc_select(b, b_won, dy, z);
}

static double eval_min(const double *x, float alpha) { (void)alpha; return x[0] > x[1] ? x[1] : x[0]; }
static LLVMValueRef emit_min(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return e_sel(g, e_gt(g, x[0], x[1]), x[1], x[0]);
}
static int grad_min(const cnnc_builder *b, int node, int dy, int input)
{
    int b_won = cnnc_greater(b, in_of(b, node, 0), in_of(b, node, 1)), z = zero(b);
    return input == 0 ? cnnc_select(b, b_won, z, dy) : cnnc_select(b, b_won, dy, z);
}

static double eval_pow(const double *x, float alpha) { (void)alpha; return pow(x[0], x[1]); }
static LLVMValueRef emit_pow(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return e_call(g, "llvm.pow", x, 2);
}
/* d(a^b)/da = b a^(b-1), d(a^b)/db = y log a. */
static int grad_pow(const cnnc_builder *b, int node, int dy, int input)
{
    int a = in_of(b, node, 0), e = in_of(b, node, 1);
    if (input == 1)
        return cnnc_mul(b, dy, cnnc_mul(b, node, cnnc_ew1(b, CNNC_EW_LOG, a)));
    int lowered = cnnc_ew2(b, CNNC_EW_POW, a, cnnc_shift(b, e, -1.0f));
    return cnnc_mul(b, dy, cnnc_mul(b, e, lowered));
}

static int grad_none(const cnnc_builder *b, int node, int dy, int input)
{
    (void)b, (void)node, (void)dy, (void)input;
    return CNNC_NO_GRAD;
}

static double eval_greater(const double *x, float alpha) { (void)alpha; return x[0] > x[1] ? 1.0 : 0.0; }
static LLVMValueRef emit_greater(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return e_bool(g, e_gt(g, x[0], x[1]), x[0]);
}
#define grad_greater grad_none

static double eval_equal(const double *x, float alpha) { (void)alpha; return x[0] == x[1] ? 1.0 : 0.0; }
static LLVMValueRef emit_equal(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return e_bool(g, LLVMBuildFCmp(g->b, LLVMRealOEQ, x[0], x[1], ""), x[0]);
}
#define grad_equal grad_none

static double eval_select(const double *x, float alpha) { (void)alpha; return x[0] != 0.0 ? x[1] : x[2]; }
static LLVMValueRef emit_select(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    LLVMValueRef c = LLVMBuildFCmp(g->b, LLVMRealUNE, x[0], k_like(g, x[0], 0.0), "");
    return e_sel(g, c, x[1], x[2]);
}
static int grad_select(const cnnc_builder *b, int node, int dy, int input)
{
    int c = in_of(b, node, 0);
    if (input == 0)
        return CNNC_NO_GRAD;
    int z = zero(b);
    return input == 1 ? cnnc_select(b, c, dy, z) : cnnc_select(b, c, z, dy);
}

static double eval_neg(const double *x, float alpha) { (void)alpha; return -x[0]; }
static LLVMValueRef emit_neg(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return LLVMBuildFNeg(g->b, x[0], "");
}
static int grad_neg(const cnnc_builder *b, int node, int dy, int input)
{
    (void)node, (void)input;
    return neg(b, dy);
}

static double eval_exp(const double *x, float alpha) { (void)alpha; return exp(x[0]); }
static LLVMValueRef emit_exp(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return e_call(g, "llvm.exp", x, 1);
}
static int grad_exp(const cnnc_builder *b, int node, int dy, int input)
{
    (void)input;
    return cnnc_mul(b, dy, node);
}

static double eval_log(const double *x, float alpha) { (void)alpha; return log(x[0]); }
static LLVMValueRef emit_log(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return e_call(g, "llvm.log", x, 1);
}
static int grad_log(const cnnc_builder *b, int node, int dy, int input)
{
    return cnnc_div(b, dy, in_of(b, node, input));
}

static double eval_sqrt(const double *x, float alpha) { (void)alpha; return sqrt(x[0]); }
static LLVMValueRef emit_sqrt(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return e_call(g, "llvm.sqrt", x, 1);
}
static int grad_sqrt(const cnnc_builder *b, int node, int dy, int input)
{
    (void)input;
    return cnnc_div(b, dy, cnnc_scale(b, node, 2.0f));
}

static double eval_square(const double *x, float alpha) { (void)alpha; return x[0] * x[0]; }
static LLVMValueRef emit_square(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return LLVMBuildFMul(g->b, x[0], x[0], "");
}
static int grad_square(const cnnc_builder *b, int node, int dy, int input)
{
    return cnnc_mul(b, dy, cnnc_scale(b, in_of(b, node, input), 2.0f));
}

static double eval_abs(const double *x, float alpha) { (void)alpha; return fabs(x[0]); }
static LLVMValueRef emit_abs(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    return e_call(g, "llvm.fabs", x, 1);
}
/* sign(x) dy, 0 at x = 0 (as TensorFlow). */
static int grad_abs(const cnnc_builder *b, int node, int dy, int input)
{
    int x = in_of(b, node, input), z = zero(b);
    int negative = cnnc_select(b, cnnc_greater(b, z, x), neg(b, dy), z);
    return cnnc_select(b, cnnc_greater(b, x, z), dy, negative);
}

static double eval_relu(const double *x, float alpha) { (void)alpha; return x[0] > 0.0 ? x[0] : 0.0; }
static LLVMValueRef emit_relu(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    LLVMValueRef z = k_like(g, x[0], 0.0);
    return e_sel(g, e_gt(g, x[0], z), x[0], z);
}
/* y > 0 exactly where x > 0, so the output decides. */
static int grad_relu(const cnnc_builder *b, int node, int dy, int input)
{
    (void)input;
    int z = zero(b);
    return cnnc_select(b, cnnc_greater(b, node, z), dy, z);
}

int cnnc_guided_relu_grad(const cnnc_builder *b, int node, int dy, int input)
{
    (void)input;
    int z = zero(b);
    return cnnc_select(b, cnnc_greater(b, node, z), cnnc_ew1(b, CNNC_EW_RELU, dy), z);
}

/* exp of a negative number only, so neither branch overflows. */
static double eval_sigmoid(const double *x, float alpha)
{
    (void)alpha;
    return x[0] >= 0 ? 1.0 / (1.0 + exp(-x[0])) : exp(x[0]) / (1.0 + exp(x[0]));
}
/* 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving 0 as it should. */
static LLVMValueRef emit_sigmoid(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    LLVMValueRef minus = LLVMBuildFNeg(g->b, x[0], "");
    LLVMValueRef e = e_call(g, "llvm.exp", &minus, 1);
    LLVMValueRef one = k_like(g, x[0], 1.0);
    return LLVMBuildFDiv(g->b, one, LLVMBuildFAdd(g->b, one, e, ""), "");
}
/* dy y (1 - y) */
static int grad_sigmoid(const cnnc_builder *b, int node, int dy, int input)
{
    (void)input;
    int one_minus_y = cnnc_sub(b, cnnc_const(b, 1.0f), node);
    return cnnc_mul(b, dy, cnnc_mul(b, node, one_minus_y));
}

static double eval_tanh(const double *x, float alpha) { (void)alpha; return tanh(x[0]); }
/* libm's tanhf, lane by lane for a vector. */
static LLVMValueRef emit_tanh(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    (void)alpha;
    LLVMTypeRef fty = LLVMGlobalGetValueType(g->tanhf);
    LLVMTypeRef t = LLVMTypeOf(x[0]);
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind)
        return LLVMBuildCall2(g->b, fty, g->tanhf, x, 1, "");
    LLVMValueRef v = x[0];
    for (unsigned i = 0; i < LLVMGetVectorSize(t); i++) {
        LLVMValueRef lane = LLVMConstInt(g->i32, i, 0);
        LLVMValueRef e = LLVMBuildExtractElement(g->b, x[0], lane, "");
        e = LLVMBuildCall2(g->b, fty, g->tanhf, &e, 1, "");
        v = LLVMBuildInsertElement(g->b, v, e, lane, "");
    }
    return v;
}
/* dy (1 - y^2) */
static int grad_tanh(const cnnc_builder *b, int node, int dy, int input)
{
    (void)input;
    return cnnc_mul(b, dy, cnnc_sub(b, cnnc_const(b, 1.0f), cnnc_ew1(b, CNNC_EW_SQUARE, node)));
}

static double eval_leaky_relu(const double *x, float alpha)
{
    return x[0] > 0.0 ? x[0] : (double)alpha * x[0];
}
static LLVMValueRef emit_leaky_relu(cnnc_cg *g, LLVMValueRef *x, float alpha)
{
    LLVMValueRef scaled = LLVMBuildFMul(g->b, x[0], k_like(g, x[0], alpha), "");
    return e_sel(g, e_gt(g, x[0], k_like(g, x[0], 0.0)), x[0], scaled);
}
static int grad_leaky_relu(const cnnc_builder *b, int node, int dy, int input)
{
    int positive = cnnc_greater(b, in_of(b, node, input), zero(b));
    return cnnc_select(b, positive, dy, cnnc_scale(b, dy, b->g->nodes[node].attrs.alpha));
}

/* ---- the table ------------------------------------------------------------------------- */

typedef LLVMValueRef (*ew_emitter)(cnnc_cg *g, LLVMValueRef *x, float alpha);

static const cnnc_ew_info table[CNNC_EW_COUNT] = {
#define EW_ROW(id, ident, text, n) [CNNC_EW_##id] = {text, n, eval_##ident, grad_##ident},
    CNNC_EW_FNS(EW_ROW)
#undef EW_ROW
};

static const ew_emitter emitters[CNNC_EW_COUNT] = {
#define EW_EMITTER(id, ident, text, n) [CNNC_EW_##id] = emit_##ident,
    CNNC_EW_FNS(EW_EMITTER)
#undef EW_EMITTER
};

const cnnc_ew_info *cnnc_ew_info_of(cnnc_ew_fn fn) { return &table[fn]; }

LLVMValueRef cnnc_ew_emit(cnnc_cg *g, cnnc_ew_fn fn, LLVMValueRef *x, float alpha)
{
    return emitters[fn](g, x, alpha);
}

/* ---- builders ---------------------------------------------------------------------------- */

int cnnc_build_ew(cnnc_graph *g, cnnc_diag *d, cnnc_ew_fn fn, int a, int b, int c,
                  float alpha, const char *name, int layer, cnnc_loc loc)
{
    int inputs[CNNC_MAX_INPUTS] = {a, b, c};
    for (int i = 0; i < table[fn].arity; i++)
        if (inputs[i] < 0)
            return -1;
    cnnc_attrs attrs;
    memset(&attrs, 0, sizeof attrs);
    attrs.ew = fn;
    attrs.alpha = alpha;
    return cnnc_graph_add(g, d, CNNC_OP_EW, inputs, &attrs, name, layer, loc);
}

int cnnc_build_const(cnnc_graph *g, cnnc_diag *d, float value, const char *name, int layer,
                     cnnc_loc loc)
{
    cnnc_attrs attrs;
    memset(&attrs, 0, sizeof attrs);
    attrs.value = value;
    return cnnc_graph_add(g, d, CNNC_OP_CONST, NULL, &attrs, name, layer, loc);
}

int cnnc_build_reduce(cnnc_graph *g, cnnc_diag *d, cnnc_reduce_kind kind, int x,
                      unsigned axes, const char *name, int layer, cnnc_loc loc)
{
    if (x < 0)
        return -1;
    cnnc_attrs attrs;
    memset(&attrs, 0, sizeof attrs);
    attrs.reduce = kind;
    attrs.axes = axes;
    int inputs[CNNC_MAX_INPUTS] = {x, -1, -1};
    return cnnc_graph_add(g, d, CNNC_OP_REDUCE, inputs, &attrs, name, layer, loc);
}

int cnnc_ew(const cnnc_builder *b, cnnc_ew_fn fn, int x, int y, int z, float alpha)
{
    return cnnc_build_ew(b->g, b->d, fn, x, y, z, alpha, b->name, b->layer, b->loc);
}

int cnnc_const(const cnnc_builder *b, float value)
{
    return cnnc_build_const(b->g, b->d, value, b->name, b->layer, b->loc);
}

int cnnc_reduce(const cnnc_builder *b, cnnc_reduce_kind kind, int x, unsigned axes)
{
    return cnnc_build_reduce(b->g, b->d, kind, x, axes, b->name, b->layer, b->loc);
}

int cnnc_broadcast(const cnnc_builder *b, int x, unsigned axes, cnnc_shape to)
{
    if (x < 0)
        return -1;
    cnnc_attrs attrs;
    memset(&attrs, 0, sizeof attrs);
    attrs.axes = axes;
    attrs.shape = to;
    int inputs[CNNC_MAX_INPUTS] = {x, -1, -1};
    return cnnc_graph_add(b->g, b->d, CNNC_OP_BROADCAST, inputs, &attrs, b->name, b->layer,
                          b->loc);
}
