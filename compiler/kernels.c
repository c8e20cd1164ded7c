/* The loop kernels of a lowered program as LLVM IR: one internal function per kernel
 * body (kernels with equal keys share one), every shape a constant but the counts of the
 * size-generic elementwise and reduce kernels (below), every pointer argument noalias
 * (the memory plan keeps the buffers of one kernel disjoint). Loops put channels
 * innermost so that LLVM vectorises them; floating-point contraction (FMA) is allowed in
 * the convolution and dense sums, reassociation only in reductions whose order does not
 * matter to within 1e-6.
 *
 * The small per-image kernels (softmax, losses, class scores) compute in double as
 * the interpreter does, so they agree with it to float rounding. */
#include <math.h>
#include <string.h>

#include "codegen_internal.h"

/* ---- helpers -------------------------------------------------------------------------- */

LLVMValueRef cg_i64(cnnc_cg *g, int64_t v) { return LLVMConstInt(g->i64, (unsigned long long)v, 1); }
LLVMValueRef cg_f32(cnnc_cg *g, double v) { return LLVMConstReal(g->f32, v); }
LLVMValueRef cg_f64(cnnc_cg *g, double v) { return LLVMConstReal(g->f64, v); }

LLVMValueRef cg_gep(cnnc_cg *g, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef index)
{
    return LLVMBuildInBoundsGEP2(g->b, elem, base, &index, 1, "");
}

LLVMValueRef cg_load(cnnc_cg *g, LLVMValueRef base, LLVMValueRef index)
{
    return LLVMBuildLoad2(g->b, g->f32, cg_gep(g, g->f32, base, index), "");
}

void cg_store(cnnc_cg *g, LLVMValueRef value, LLVMValueRef base, LLVMValueRef index)
{
    LLVMBuildStore(g->b, value, cg_gep(g, LLVMTypeOf(value), base, index));
}

LLVMValueRef cg_alloca(cnnc_cg *g, LLVMTypeRef type, const char *name)
{
    /* In the entry block, so mem2reg/SROA turn scalars into registers. */
    LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
    LLVMValueRef first = LLVMGetFirstInstruction(g->entry);
    if (first)
        LLVMPositionBuilderBefore(g->b, first);
    else
        LLVMPositionBuilderAtEnd(g->b, g->entry);
    LLVMValueRef a = LLVMBuildAlloca(g->b, type, name);
    LLVMPositionBuilderAtEnd(g->b, here);
    return a;
}

LLVMValueRef cg_intrinsic(cnnc_cg *g, const char *name, LLVMTypeRef type, LLVMValueRef *args,
                          int nargs)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, &type, 1);
    LLVMTypeRef fty = LLVMIntrinsicGetType(g->ctx, id, &type, 1);
    return LLVMBuildCall2(g->b, fty, fn, args, (unsigned)nargs, "");
}

LLVMValueRef cg_for(cnnc_cg *g, cg_loop *l, int64_t n)
{
    return cg_for_count(g, l, cg_i64(g, n));
}

LLVMValueRef cg_for_count(cnnc_cg *g, cg_loop *l, LLVMValueRef n)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    l->body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop");
    l->exit = NULL;
    LLVMBuildBr(g->b, l->body);
    LLVMPositionBuilderAtEnd(g->b, l->body);
    l->iv = LLVMBuildPhi(g->b, g->i64, "i");
    LLVMValueRef zero = cg_i64(g, 0);
    LLVMAddIncoming(l->iv, &zero, &pre, 1);
    l->limit = n;
    return l->iv;
}

LLVMValueRef cg_for_dynamic(cnnc_cg *g, cg_loop *l, LLVMValueRef begin, LLVMValueRef end)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    l->body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop");
    l->exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "endloop");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, begin, end, ""), l->body, l->exit);
    LLVMPositionBuilderAtEnd(g->b, l->body);
    l->iv = LLVMBuildPhi(g->b, g->i64, "i");
    LLVMAddIncoming(l->iv, &begin, &pre, 1);
    l->limit = end;
    return l->iv;
}

void cg_end(cnnc_cg *g, cg_loop *l)
{
    LLVMValueRef next = LLVMBuildNSWAdd(g->b, l->iv, cg_i64(g, 1), "");
    LLVMValueRef more = LLVMBuildICmp(g->b, LLVMIntSLT, next, l->limit, "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
    if (!l->exit)
        l->exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "endloop");
    LLVMBuildCondBr(g->b, more, l->body, l->exit);
    LLVMAddIncoming(l->iv, &next, &latch, 1);
    LLVMPositionBuilderAtEnd(g->b, l->exit);
}

LLVMBasicBlockRef cg_if(cnnc_cg *g, LLVMValueRef cond)
{
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "then");
    LLVMBasicBlockRef merge = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "endif");
    LLVMBuildCondBr(g->b, cond, then, merge);
    LLVMPositionBuilderAtEnd(g->b, then);
    return merge;
}

void cg_endif(cnnc_cg *g, LLVMBasicBlockRef merge)
{
    LLVMBuildBr(g->b, merge);
    LLVMPositionBuilderAtEnd(g->b, merge);
}

/* Integer index arithmetic (no overflow: every index is within a buffer). */
static LLVMValueRef imul(cnnc_cg *g, LLVMValueRef a, int64_t c)
{
    return c == 1 ? a : LLVMBuildNSWMul(g->b, a, cg_i64(g, c), "");
}
static LLVMValueRef iadd(cnnc_cg *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildNSWAdd(g->b, a, b, "");
}
static LLVMValueRef iaddc(cnnc_cg *g, LLVMValueRef a, int64_t c)
{
    return c == 0 ? a : LLVMBuildNSWAdd(g->b, a, cg_i64(g, c), "");
}

static LLVMValueRef with_flags(LLVMValueRef v, LLVMFastMathFlags flags)
{
    if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
        LLVMSetFastMathFlags(v, flags);
    return v;
}
static LLVMValueRef fadd(cnnc_cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(g->b, a, b, ""); }
static LLVMValueRef fsub(cnnc_cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(g->b, a, b, ""); }
static LLVMValueRef fmul(cnnc_cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(g->b, a, b, ""); }
static LLVMValueRef fdiv(cnnc_cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(g->b, a, b, ""); }
/* acc + a * b, allowed to become one FMA. */
static LLVMValueRef fmadd(cnnc_cg *g, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef m = with_flags(fmul(g, a, b), LLVMFastMathAllowContract);
    return with_flags(fadd(g, acc, m), LLVMFastMathAllowContract);
}
/* acc + a * b in a reduction whose order may change (vectorised sums). */
static LLVMValueRef fmadd_reassoc(cnnc_cg *g, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b)
{
    LLVMFastMathFlags f = LLVMFastMathAllowContract | LLVMFastMathAllowReassoc;
    LLVMValueRef m = with_flags(fmul(g, a, b), f);
    return with_flags(fadd(g, acc, m), f);
}
static LLVMValueRef fgt(cnnc_cg *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildFCmp(g->b, LLVMRealOGT, a, b, "");
}
static LLVMValueRef sel(cnnc_cg *g, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, c, a, b, "");
}
static LLVMValueRef to_f64(cnnc_cg *g, LLVMValueRef v) { return LLVMBuildFPExt(g->b, v, g->f64, ""); }
static LLVMValueRef to_f32(cnnc_cg *g, LLVMValueRef v) { return LLVMBuildFPTrunc(g->b, v, g->f32, ""); }
static LLVMValueRef ld(cnnc_cg *g, LLVMTypeRef t, LLVMValueRef p)
{
    return LLVMBuildLoad2(g->b, t, p, "");
}
static void st(cnnc_cg *g, LLVMValueRef v, LLVMValueRef p) { LLVMBuildStore(g->b, v, p); }

static LLVMValueRef param(cnnc_cg *g, int i) { return LLVMGetParam(g->fn, (unsigned)i); }
static LLVMValueRef in_ptr(cnnc_cg *g, int i) { return param(g, CG_K_IN0 + i); }
static LLVMValueRef out_ptr(cnnc_cg *g, int i) { return param(g, CG_K_OUT0 + i); }

/* y = act(y), elementwise, float. */
static LLVMValueRef exp_f64(cnnc_cg *g, LLVMValueRef x)
{
    return cg_intrinsic(g, "llvm.exp", g->f64, &x, 1);
}
static LLVMValueRef log_f64(cnnc_cg *g, LLVMValueRef x)
{
    return cg_intrinsic(g, "llvm.log", g->f64, &x, 1);
}
/* The constant c with the type of `like` (a float or a vector of floats). */
static LLVMValueRef const_like(cnnc_cg *g, LLVMValueRef like, double c)
{
    LLVMTypeRef t = LLVMTypeOf(like);
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind)
        return cg_f32(g, c);
    LLVMValueRef lanes[64];
    unsigned n = LLVMGetVectorSize(t);
    for (unsigned i = 0; i < n && i < 64; i++)
        lanes[i] = cg_f32(g, c);
    return LLVMConstVector(lanes, n);
}

/* The epilogue steps of a conv2d / dense kernel applied to v (a float or a vector of
 * floats); their operands are v and constants only (lower.c). */
static LLVMValueRef apply_epilogue(cnnc_cg *g, const cnnc_kernel *k, LLVMValueRef v)
{
    for (int s = 0; s < k->num_steps; s++) {
        const cnnc_ew_step *step = &k->steps[s];
        LLVMValueRef x[CNNC_MAX_INPUTS];
        int arity = cnnc_ew_info_of(step->fn)->arity;
        for (int j = 0; j < arity; j++) {
            if (step->arg[j] == CNNC_ARG_CHAIN) {
                x[j] = v;
            } else {
                x[j] = const_like(g, v, step->imm[j]);
            }
        }
        v = cnnc_ew_emit(g, step->fn, x, step->alpha);
    }
    return v;
}

static void zero_fill(cnnc_cg *g, LLVMValueRef base, int64_t n)
{
    LLVMBuildMemSet(g->b, base, LLVMConstInt(g->i8, 0, 0), cg_i64(g, n * 4), 4);
}

/* ---- splitting a kernel over a team (cnnc_cg_kernel_splits) ----------------------------- */

/* The rows [*first, *last) of `rows` that this call computes: part p of P computes
 * [p*rows/P, (p+1)*rows/P), so every row belongs to exactly one part. */
static void part_rows(cnnc_cg *g, int64_t rows, LLVMValueRef *first, LLVMValueRef *last)
{
    LLVMValueRef part = param(g, CG_K_PART), parts = param(g, CG_K_PARTS);
    *first = LLVMBuildSDiv(g->b, imul(g, part, rows), parts, "");
    *last = LLVMBuildSDiv(g->b, imul(g, iaddc(g, part, 1), rows), parts, "");
}

void cg_team_barrier(cnnc_cg *g)
{
    LLVMTypeRef type = LLVMFunctionType(g->void_t, NULL, 0, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(g->mod, "cnnrt_team_barrier");
    if (!fn) {
        fn = LLVMAddFunction(g->mod, "cnnrt_team_barrier", type);
        unsigned kind = LLVMGetEnumAttributeKindForName("nounwind", 8);
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(g->ctx, kind, 0));
    }
    LLVMBuildCall2(g->b, type, fn, NULL, 0, "");
}

/* The members of a team meet here when the call is one part of several. */
static void barrier_if_split(cnnc_cg *g)
{
    LLVMValueRef split = LLVMBuildICmp(g->b, LLVMIntSGT, param(g, CG_K_PARTS), cg_i64(g, 1), "");
    LLVMBasicBlockRef merge = cg_if(g, split);
    cg_team_barrier(g);
    cg_endif(g, merge);
}

int cnnc_cg_kernel_splits(const cnnc_kernel *k)
{
    /* Pooling too, so that the rows a member's convolution wrote are mostly pooled by the
     * same member (data moving between cores costs more than the pooling itself). */
    return k->kind == CNNC_K_CONV2D || k->kind == CNNC_K_DENSE_GRAD_INPUT ||
           k->kind == CNNC_K_MAX_POOL2D || k->kind == CNNC_K_AVG_POOL2D ||
           (k->kind == CNNC_K_CONV2D_GRAD_INPUT && cnnc_conv_grad_input_tiled(k));
}

/* ---- windows (convolution and pooling) ------------------------------------------------ */

/* The loops over a window's (ky, kx) for output (oy, ox), with the positions outside the
 * input skipped (padding); the checks are only emitted when padding can occur. */
typedef struct window {
    cg_loop ly, lx;
    LLVMBasicBlockRef if_y, if_x;
    LLVMValueRef ky, kx, iy, ix;
} window;

static void window_open(cnnc_cg *g, const cnnc_kernel *k, LLVMValueRef oy, LLVMValueRef ox,
                        window *w)
{
    w->ky = cg_for(g, &w->ly, k->kh);
    w->iy = iaddc(g, iadd(g, imul(g, oy, k->sh), w->ky), -k->pad_top);
    int check_y = k->pad_top > 0 || (k->oh - 1) * k->sh + k->kh - 1 - k->pad_top >= k->ih;
    w->if_y = check_y ? cg_if(g, LLVMBuildICmp(g->b, LLVMIntULT, w->iy, cg_i64(g, k->ih), ""))
                      : NULL;
    w->kx = cg_for(g, &w->lx, k->kw);
    w->ix = iaddc(g, iadd(g, imul(g, ox, k->sw), w->kx), -k->pad_left);
    int check_x = k->pad_left > 0 || (k->ow - 1) * k->sw + k->kw - 1 - k->pad_left >= k->iw;
    w->if_x = check_x ? cg_if(g, LLVMBuildICmp(g->b, LLVMIntULT, w->ix, cg_i64(g, k->iw), ""))
                      : NULL;
}

static void window_close(cnnc_cg *g, window *w)
{
    if (w->if_x)
        cg_endif(g, w->if_x);
    cg_end(g, &w->lx);
    if (w->if_y)
        cg_endif(g, w->if_y);
    cg_end(g, &w->ly);
}

/* Index of (y, x, 0) in an [H, W, C] tensor. */
static LLVMValueRef hwc_base(cnnc_cg *g, LLVMValueRef y, LLVMValueRef x, int64_t w, int64_t c)
{
    return imul(g, iadd(g, imul(g, y, w), x), c);
}

/* ---- forward kernels ------------------------------------------------------------------ */

static void emit_conv2d(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef X = in_ptr(g, 0), W = in_ptr(g, 1), B = in_ptr(g, 2), Y = out_ptr(g, 0);
    int has_bias = k->in[2] >= 0;
    cg_loop loy, lox, l;
    LLVMValueRef first, last;
    part_rows(g, k->oh, &first, &last);
    LLVMValueRef oy = cg_for_dynamic(g, &loy, first, last);
    LLVMValueRef ox = cg_for(g, &lox, k->ow);
    LLVMValueRef ybase = hwc_base(g, oy, ox, k->ow, k->oc);
    LLVMValueRef co = cg_for(g, &l, k->oc);
    cg_store(g, has_bias ? cg_load(g, B, co) : cg_f32(g, 0.0), Y, iadd(g, ybase, co));
    cg_end(g, &l);
    window w;
    window_open(g, k, oy, ox, &w);
    LLVMValueRef xbase = hwc_base(g, w.iy, w.ix, k->iw, k->ic);
    LLVMValueRef wbase = imul(g, iadd(g, imul(g, w.ky, k->kw), w.kx), k->ic * k->oc);
    cg_loop lci;
    LLVMValueRef ci = cg_for(g, &lci, k->ic);
    LLVMValueRef xv = cg_load(g, X, iadd(g, xbase, ci));
    LLVMValueRef wrow = iadd(g, wbase, imul(g, ci, k->oc));
    co = cg_for(g, &l, k->oc);
    LLVMValueRef yi = iadd(g, ybase, co);
    cg_store(g, fmadd(g, cg_load(g, Y, yi), xv, cg_load(g, W, iadd(g, wrow, co))), Y, yi);
    cg_end(g, &l);
    cg_end(g, &lci);
    window_close(g, &w);
    if (k->num_steps) {
        co = cg_for(g, &l, k->oc);
        yi = iadd(g, ybase, co);
        cg_store(g, apply_epilogue(g, k, cg_load(g, Y, yi)), Y, yi);
        cg_end(g, &l);
    }
    cg_end(g, &lox);
    cg_end(g, &loy);
}

/* ---- the register-tiled convolution ---------------------------------------------------
 * A tile is P consecutive output pixels of one row times V vectors of 8 output channels:
 * P*V accumulators of <8 x float> held in registers across the whole (ky, kx, ci)
 * reduction, each step loading V weight vectors and broadcasting P inputs into P*V FMAs.
 * With V = 2, P = 6 that is 12 accumulators + 2 weights + 1 broadcast = 15 of AVX2's 16
 * vector registers. Windows never need bounds checks: a zero-padded copy of the input is
 * made first when they reach outside it. */

enum { TILE_MAX_P = 12, TILE_MAX_V = 4 };

/* Vector width VW (8, or 16 on an AVX-512 host when the channels allow), vectors per tile
 * V and pixels per tile P: P*V accumulators + V weights + 1 broadcast fit the register
 * file (16 registers with AVX2: 12 + 2 + 1; 32 with AVX-512: 24 + 4 + 1 when the channels
 * make 4 vectors, else 24 + 2 + 1). Four vectors load fewer broadcasts per FMA (6 for 24
 * FMAs, not 12 for 24) and leave smaller tail tiles (14 pixels: 5 + 5 + 4, not 7 + 7 of
 * twice as many tiles). */
static void tile_shape(const cnnc_cg *g, int64_t channels, int *VW, int *V, int *P)
{
    *VW = g->wide && channels % 16 == 0 ? 16 : 8;
    *V = (channels / *VW) % 2 == 0 ? 2 : 1;
    *P = *VW == 16 || *V == 1 ? 12 : 6;
    if (*VW == 16 && (channels / 16) % 4 == 0) {
        *V = 4;
        *P = 6;
    }
}

static LLVMValueRef vec_load(cnnc_cg *g, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef index)
{
    LLVMValueRef l = LLVMBuildLoad2(g->b, vt, cg_gep(g, g->f32, base, index), "");
    LLVMSetAlignment(l, 4);
    return l;
}

static void vec_store(cnnc_cg *g, LLVMValueRef v, LLVMValueRef base, LLVMValueRef index)
{
    LLVMValueRef s = LLVMBuildStore(g->b, v, cg_gep(g, g->f32, base, index));
    LLVMSetAlignment(s, 4);
}

static LLVMValueRef splat(cnnc_cg *g, LLVMTypeRef vt, LLVMValueRef scalar)
{
    LLVMValueRef one = LLVMBuildInsertElement(g->b, LLVMGetUndef(vt), scalar,
                                              LLVMConstInt(g->i32, 0, 0), "");
    LLVMValueRef mask = LLVMConstNull(LLVMVectorType(g->i32, LLVMGetVectorSize(vt)));
    return LLVMBuildShuffleVector(g->b, one, LLVMGetUndef(vt), mask, "");
}

/* A register tile: P x V vector accumulators (allocas that mem2reg promotes). */
static void tile_alloca(cnnc_cg *g, LLVMTypeRef vt, int P, int V,
                        LLVMValueRef acc[TILE_MAX_P][TILE_MAX_V])
{
    for (int p = 0; p < P; p++)
        for (int v = 0; v < V; v++)
            acc[p][v] = cg_alloca(g, vt, "acc");
}

/* One row of a tile gains x * w[v] for each of its V vectors (x broadcast), fused where
 * the CPU fuses: llvm.fmuladd is one FMA on x86-64 and aarch64, a multiply and an add on
 * wasm32 (which has no FMA; llvm.fma there calls libm's software fmaf, 10x slower). */
static void tile_row_fma(cnnc_cg *g, LLVMTypeRef vt, LLVMValueRef x, const LLVMValueRef *w,
                         int V, LLVMValueRef *acc_row)
{
    for (int v = 0; v < V; v++) {
        LLVMValueRef args[3] = {x, w[v], ld(g, vt, acc_row[v])};
        st(g, cg_intrinsic(g, "llvm.fmuladd", vt, args, 3), acc_row[v]);
    }
}

/* One tile at output row oy, first pixel ox0 (a value), P pixels, of the convolution
 * with geometry k reading src (rows src_w pixels wide, no bounds checks), weights W
 * [KH,KW,IC,OC], optional bias B, writing Y. */
static void conv_tile(cnnc_cg *g, const cnnc_kernel *k, LLVMValueRef src, int64_t src_w,
                      LLVMValueRef W, LLVMValueRef B, LLVMValueRef Y, LLVMValueRef oy,
                      LLVMValueRef ox0, int P, int V, int VW)
{
    LLVMTypeRef vt = LLVMVectorType(g->f32, (unsigned)VW);
    LLVMValueRef acc[TILE_MAX_P][TILE_MAX_V];
    tile_alloca(g, vt, P, V, acc);
    cg_loop lb, lky, lkx, lci;
    LLVMValueRef vb = cg_for(g, &lb, k->oc / (VW * V));
    LLVMValueRef cbase = imul(g, vb, VW * V);
    for (int v = 0; v < V; v++) {
        LLVMValueRef init = B ? vec_load(g, vt, B, iaddc(g, cbase, VW * v)) : LLVMConstNull(vt);
        for (int p = 0; p < P; p++)
            st(g, init, acc[p][v]);
    }
    LLVMValueRef ky = cg_for(g, &lky, k->kh);
    LLVMValueRef kx = cg_for(g, &lkx, k->kw);
    LLVMValueRef iy = iadd(g, imul(g, oy, k->sh), ky);
    LLVMValueRef ix = iadd(g, imul(g, ox0, k->sw), kx);
    LLVMValueRef xrow = imul(g, iadd(g, imul(g, iy, src_w), ix), k->ic);
    LLVMValueRef wrow = iadd(g, imul(g, iadd(g, imul(g, ky, k->kw), kx), k->ic * k->oc), cbase);
    LLVMValueRef ci = cg_for(g, &lci, k->ic);
    LLVMValueRef w[TILE_MAX_V];
    LLVMValueRef wi = iadd(g, wrow, imul(g, ci, k->oc));
    for (int v = 0; v < V; v++)
        w[v] = vec_load(g, vt, W, iaddc(g, wi, VW * v));
    LLVMValueRef xi = iadd(g, xrow, ci);
    for (int p = 0; p < P; p++) {
        LLVMValueRef x = splat(g, vt, cg_load(g, src, iaddc(g, xi, (int64_t)p * k->sw * k->ic)));
        tile_row_fma(g, vt, x, w, V, acc[p]);
    }
    cg_end(g, &lci);
    cg_end(g, &lkx);
    cg_end(g, &lky);
    for (int p = 0; p < P; p++) {
        LLVMValueRef yrow = iadd(g, imul(g, iadd(g, imul(g, oy, k->ow), iaddc(g, ox0, p)), k->oc),
                                 cbase);
        for (int v = 0; v < V; v++) {
            LLVMValueRef a = apply_epilogue(g, k, ld(g, vt, acc[p][v]));
            vec_store(g, a, Y, iaddc(g, yrow, VW * v));
        }
    }
    cg_end(g, &lb);
}

/* Copies src [ih, iw, c] into dst [hp, wp, c] at (top, left), zeros around it: this
 * call's part of dst's rows (part_rows), then the team's barrier when there are parts. */
static void pad_copy(cnnc_cg *g, LLVMValueRef dst, int64_t hp, int64_t wp, LLVMValueRef src,
                     int64_t ih, int64_t iw, int64_t c, int64_t top, int64_t left)
{
    int64_t rows = ih < hp - top ? ih : hp - top;
    int64_t cols = iw < wp - left ? iw : wp - left;
    if (rows <= 0 || cols <= 0)
        rows = cols = 0;
    LLVMValueRef zero = LLVMConstInt(g->i8, 0, 0), first, last;
    part_rows(g, hp, &first, &last);
    cg_loop l;
    LLVMValueRef y = cg_for_dynamic(g, &l, first, last);
    LLVMValueRef row = cg_gep(g, g->f32, dst, imul(g, y, wp * c));
    LLVMValueRef sy = iaddc(g, y, -top);
    LLVMBasicBlockRef inside = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pad_inside");
    LLVMBasicBlockRef outside = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pad_outside");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pad_done");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, sy, cg_i64(g, rows), ""), inside,
                    outside);
    LLVMPositionBuilderAtEnd(g->b, inside);
    if (left > 0)
        LLVMBuildMemSet(g->b, row, zero, cg_i64(g, left * c * 4), 4);
    LLVMValueRef from = cg_gep(g, g->f32, src, imul(g, sy, iw * c));
    LLVMBuildMemCpy(g->b, cg_gep(g, g->f32, row, cg_i64(g, left * c)), 4, from, 4,
                    cg_i64(g, cols * c * 4));
    int64_t right = wp - left - cols;
    if (right > 0)
        LLVMBuildMemSet(g->b, cg_gep(g, g->f32, row, cg_i64(g, (left + cols) * c)), zero,
                        cg_i64(g, right * c * 4), 4);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, outside);
    LLVMBuildMemSet(g->b, row, zero, cg_i64(g, wp * c * 4), 4);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
    cg_end(g, &l);
    barrier_if_split(g);
}

/* n items (pixels of a row, input channels) in tiles of at most P items: as few tiles as
 * P allows, as equal as they can be -- `big` tiles of `P` items, then `small` ones of
 * P - 1 -- so that no small tail tile is left (14 pixels as 7 + 7, not 12 + 2: a tile of
 * 2 x 2 accumulators waits on the FMA's latency and runs at half speed). Only the tiling
 * changes, not any sum's order. */
typedef struct tile_split {
    int P;
    int64_t big, small;
} tile_split;

static tile_split split_tiles(int P, int64_t n)
{
    tile_split s = {(int)n, 1, 0};
    if (P >= n)
        return s;
    int64_t tiles = (n + P - 1) / P;
    s.P = (int)((n + tiles - 1) / tiles);
    s.big = n - tiles * (s.P - 1);
    s.small = tiles - s.big;
    return s;
}

/* The whole convolution k as tiles: each output row as the tiles of split_tiles. */
static void conv_tiles(cnnc_cg *g, const cnnc_kernel *k, LLVMValueRef src, int64_t src_w,
                       LLVMValueRef W, LLVMValueRef B, LLVMValueRef Y)
{
    int VW, V, P;
    tile_shape(g, k->oc, &VW, &V, &P);
    tile_split ts = split_tiles(P, k->ow);
    cg_loop loy, lt;
    LLVMValueRef first, last;
    part_rows(g, k->oh, &first, &last);
    LLVMValueRef oy = cg_for_dynamic(g, &loy, first, last);
    LLVMValueRef t = cg_for(g, &lt, ts.big);
    conv_tile(g, k, src, src_w, W, B, Y, oy, imul(g, t, ts.P), ts.P, V, VW);
    cg_end(g, &lt);
    if (ts.small) {
        t = cg_for(g, &lt, ts.small);
        LLVMValueRef ox0 = iaddc(g, imul(g, t, ts.P - 1), ts.big * ts.P);
        conv_tile(g, k, src, src_w, W, B, Y, oy, ox0, ts.P - 1, V, VW);
        cg_end(g, &lt);
    }
    cg_end(g, &loy);
}

/* The input x of a tiled forward or kernel-gradient convolution as the tiles read it:
 * x itself, or -- when its windows reach into the padding -- a zero-padded copy made in
 * the scratch input `pad_slot`. *src_w is the width of what is returned. */
static LLVMValueRef tile_source(cnnc_cg *g, const cnnc_kernel *k, int pad_slot,
                                int64_t *src_w)
{
    int64_t hp, wp;
    *src_w = k->iw;
    if (!cnnc_conv_padded_extent(k, &hp, &wp))
        return in_ptr(g, 0);
    pad_copy(g, in_ptr(g, pad_slot), hp, wp, in_ptr(g, 0), k->ih, k->iw, k->ic, k->pad_top,
             k->pad_left);
    *src_w = wp;
    return in_ptr(g, pad_slot);
}

static void emit_conv2d_tiled(cnnc_cg *g, const cnnc_kernel *k)
{
    int64_t src_w;
    LLVMValueRef src = tile_source(g, k, 3, &src_w);
    conv_tiles(g, k, src, src_w, in_ptr(g, 1), k->in[2] >= 0 ? in_ptr(g, 2) : NULL,
               out_ptr(g, 0));
}

/* The input gradient of a stride-1 convolution is the 'full' convolution of dy with the
 * kernel flipped and transposed: dx[iy,ix,ci] = sum dypad[iy+ky', ix+kx', co] *
 * wt[ky',kx',co,ci] with wt[ky',kx',co,ci] = w[KH-1-ky', KW-1-kx', ci, co] and dy placed at
 * (KH-1-pad_top, KW-1-pad_left) in a zero-padded copy -- so it runs on the same tiles,
 * vectorised over ci. in[2] holds wt, in[3] the padded dy. */
static void emit_conv2d_grad_input_tiled(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef DY = in_ptr(g, 0), WT = in_ptr(g, 2), PAD = in_ptr(g, 3);
    int64_t hp, wp;
    cnnc_conv_grad_input_padded(k, &hp, &wp);
    pad_copy(g, PAD, hp, wp, DY, k->oh, k->ow, k->oc, k->kh - 1 - k->pad_top,
             k->kw - 1 - k->pad_left);
    cnnc_kernel full = *k;   /* the geometry of the equivalent forward convolution */
    full.ih = hp;
    full.iw = wp;
    full.ic = k->oc;
    full.oh = k->ih;
    full.ow = k->iw;
    full.oc = k->ic;
    full.sh = full.sw = 1;
    full.pad_top = full.pad_left = 0;
    full.num_steps = 0;
    conv_tiles(g, &full, PAD, wp, WT, NULL, out_ptr(g, 0));
}

/* wt[ky',kx',co,ci] = w[KH-1-ky', KW-1-kx', ci, co] for the tiled input gradient. */
static void emit_flip_transpose(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef W = in_ptr(g, 0), WT = out_ptr(g, 0);
    cg_loop lky, lkx, lci, lco;
    LLVMValueRef ky = cg_for(g, &lky, k->kh);
    LLVMValueRef kx = cg_for(g, &lkx, k->kw);
    LLVMValueRef src_base = imul(g, iadd(g, imul(g, ky, k->kw), kx), k->ic * k->oc);
    LLVMValueRef fy = LLVMBuildNSWSub(g->b, cg_i64(g, k->kh - 1), ky, "");
    LLVMValueRef fx = LLVMBuildNSWSub(g->b, cg_i64(g, k->kw - 1), kx, "");
    LLVMValueRef dst_base = imul(g, iadd(g, imul(g, fy, k->kw), fx), k->ic * k->oc);
    LLVMValueRef ci = cg_for(g, &lci, k->ic);
    LLVMValueRef co = cg_for(g, &lco, k->oc);
    LLVMValueRef v = cg_load(g, W, iadd(g, src_base, iadd(g, imul(g, ci, k->oc), co)));
    cg_store(g, v, WT, iadd(g, dst_base, iadd(g, imul(g, co, k->ic), ci)));
    cg_end(g, &lco);
    cg_end(g, &lci);
    cg_end(g, &lkx);
    cg_end(g, &lky);
}

/* The kernel gradient as tiles too: for each (ky, kx), a tile of P input channels x V
 * vectors of output channels accumulates sum over all output pixels of
 * x[oy*sh+ky, ox*sw+kx, ci] * dy[oy, ox, co] in registers, then is stored once. x is read
 * from a zero-padded copy (in[2]) when the windows reach outside it. */
static void grad_kernel_tile(cnnc_cg *g, const cnnc_kernel *k, LLVMValueRef src, int64_t src_w,
                             LLVMValueRef ky, LLVMValueRef kx, LLVMValueRef ci0, int P, int V,
                             int VW)
{
    LLVMValueRef DY = in_ptr(g, 1), DK = out_ptr(g, 0);
    LLVMTypeRef vt = LLVMVectorType(g->f32, (unsigned)VW);
    LLVMValueRef acc[TILE_MAX_P][TILE_MAX_V];
    tile_alloca(g, vt, P, V, acc);
    cg_loop lb, loy, lox;
    LLVMValueRef vb = cg_for(g, &lb, k->oc / (VW * V));
    LLVMValueRef cbase = imul(g, vb, VW * V);
    for (int p = 0; p < P; p++)
        for (int v = 0; v < V; v++)
            st(g, LLVMConstNull(vt), acc[p][v]);
    LLVMValueRef oy = cg_for(g, &loy, k->oh);
    LLVMValueRef ox = cg_for(g, &lox, k->ow);
    LLVMValueRef dyi = iadd(g, imul(g, iadd(g, imul(g, oy, k->ow), ox), k->oc), cbase);
    LLVMValueRef dy[TILE_MAX_V];
    for (int v = 0; v < V; v++)
        dy[v] = vec_load(g, vt, DY, iaddc(g, dyi, VW * v));
    LLVMValueRef iy = iadd(g, imul(g, oy, k->sh), ky), ix = iadd(g, imul(g, ox, k->sw), kx);
    LLVMValueRef xi = iadd(g, imul(g, iadd(g, imul(g, iy, src_w), ix), k->ic), ci0);
    for (int p = 0; p < P; p++) {
        LLVMValueRef x = splat(g, vt, cg_load(g, src, iaddc(g, xi, p)));
        tile_row_fma(g, vt, x, dy, V, acc[p]);
    }
    cg_end(g, &lox);
    cg_end(g, &loy);
    LLVMValueRef wbase = imul(g, iadd(g, imul(g, ky, k->kw), kx), k->ic * k->oc);
    for (int p = 0; p < P; p++) {
        LLVMValueRef row = iadd(g, iadd(g, wbase, imul(g, iaddc(g, ci0, p), k->oc)), cbase);
        for (int v = 0; v < V; v++) {
            LLVMValueRef a = ld(g, vt, acc[p][v]), at = iaddc(g, row, VW * v);
            if (k->accumulate)
                a = fadd(g, vec_load(g, vt, DK, at), a);
            vec_store(g, a, DK, at);
        }
    }
    cg_end(g, &lb);
}

/* The kernel gradient of a convolution with fewer input channels than a tile's rows (the
 * first layer: one channel) as tiles over the window instead: for one input channel, all
 * KH*KW window positions x V vectors of output channels accumulate over the output pixels,
 * so that each dy vector loaded feeds KH*KW FMAs rather than IC. */
static int grad_kernel_window_tile(const cnnc_cg *g, const cnnc_kernel *k, int *V, int VW)
{
    int registers = g->wide ? 32 : 16;
    int64_t window = (int64_t)k->kh * k->kw;
    for (; *V >= 1; (*V)--)
        if ((k->oc / VW) % *V == 0 && window * *V + *V + 1 <= registers)
            return 1;
    return 0;
}

static void grad_kernel_window(cnnc_cg *g, const cnnc_kernel *k, LLVMValueRef src,
                               int64_t src_w, int V, int VW)
{
    LLVMValueRef DY = in_ptr(g, 1), DK = out_ptr(g, 0);
    LLVMTypeRef vt = LLVMVectorType(g->f32, (unsigned)VW);
    int window = k->kh * k->kw;
    LLVMValueRef acc[TILE_MAX_P * TILE_MAX_V];
    for (int p = 0; p < window * V; p++)
        acc[p] = cg_alloca(g, vt, "acc");
    cg_loop lci, lb, loy, lox;
    LLVMValueRef ci = cg_for(g, &lci, k->ic);
    LLVMValueRef vb = cg_for(g, &lb, k->oc / (VW * V));
    LLVMValueRef cbase = imul(g, vb, VW * V);
    for (int p = 0; p < window * V; p++)
        st(g, LLVMConstNull(vt), acc[p]);
    LLVMValueRef oy = cg_for(g, &loy, k->oh);
    LLVMValueRef ox = cg_for(g, &lox, k->ow);
    LLVMValueRef dyi = iadd(g, imul(g, iadd(g, imul(g, oy, k->ow), ox), k->oc), cbase);
    LLVMValueRef dy[TILE_MAX_V];
    for (int v = 0; v < V; v++)
        dy[v] = vec_load(g, vt, DY, iaddc(g, dyi, VW * v));
    LLVMValueRef corner = iadd(g, imul(g, iadd(g, imul(g, imul(g, oy, k->sh), src_w),
                                                imul(g, ox, k->sw)), k->ic), ci);
    for (int ky = 0; ky < k->kh; ky++)
        for (int kx = 0; kx < k->kw; kx++) {
            int64_t offset = ((int64_t)ky * src_w + kx) * k->ic;
            LLVMValueRef x = splat(g, vt, cg_load(g, src, iaddc(g, corner, offset)));
            tile_row_fma(g, vt, x, dy, V, &acc[(ky * k->kw + kx) * V]);
        }
    cg_end(g, &lox);
    cg_end(g, &loy);
    for (int p = 0; p < window; p++) {
        LLVMValueRef row = iadd(g, iaddc(g, imul(g, ci, k->oc), (int64_t)p * k->ic * k->oc), cbase);
        for (int v = 0; v < V; v++) {
            LLVMValueRef a = ld(g, vt, acc[p * V + v]), at = iaddc(g, row, VW * v);
            if (k->accumulate)
                a = fadd(g, vec_load(g, vt, DK, at), a);
            vec_store(g, a, DK, at);
        }
    }
    cg_end(g, &lb);
    cg_end(g, &lci);
}

static void emit_conv2d_grad_kernel_tiled(cnnc_cg *g, const cnnc_kernel *k)
{
    int64_t src_w;
    LLVMValueRef src = tile_source(g, k, 2, &src_w);
    int VW, V, P;
    tile_shape(g, k->oc, &VW, &V, &P);
    if (k->ic < P && (int64_t)k->kh * k->kw <= TILE_MAX_P &&
        grad_kernel_window_tile(g, k, &V, VW)) {
        grad_kernel_window(g, k, src, src_w, V, VW);
        return;
    }
    tile_split ts = split_tiles(P, k->ic);
    cg_loop lky, lkx, lt;
    LLVMValueRef ky = cg_for(g, &lky, k->kh);
    LLVMValueRef kx = cg_for(g, &lkx, k->kw);
    LLVMValueRef t = cg_for(g, &lt, ts.big);
    grad_kernel_tile(g, k, src, src_w, ky, kx, imul(g, t, ts.P), ts.P, V, VW);
    cg_end(g, &lt);
    if (ts.small) {
        t = cg_for(g, &lt, ts.small);
        LLVMValueRef ci0 = iaddc(g, imul(g, t, ts.P - 1), ts.big * ts.P);
        grad_kernel_tile(g, k, src, src_w, ky, kx, ci0, ts.P - 1, V, VW);
        cg_end(g, &lt);
    }
    cg_end(g, &lkx);
    cg_end(g, &lky);
}

/* ---- dense layers with few outputs ---------------------------------------------------
 * A kernel [IN, OUT] whose OUT is not a multiple of the vector width (10 classes) does not
 * vectorise over its outputs, and LLVM vectorises over the rows with gathers and scatters
 * instead. So such a kernel is read as one flat array, in blocks of L = lcm(OUT, VW)
 * floats: R = L / OUT rows, NV = L / VW whole vectors. Lane l of vector v of a block is
 * row (v*VW + l) / OUT and output (v*VW + l) % OUT of the block, so the x values of a
 * block's rows, spread over the lanes of their weights, are a shuffle of R consecutive
 * x values, and dy spread over them a shuffle of dy itself. The rows after the last whole
 * block (IN % R) take the plain loops. */
typedef struct flat_dense {
    int VW, R, NV;
    int64_t L, blocks;
} flat_dense;

enum { FLAT_DENSE_MAX_NV = 8 };

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int flat_dense_shape(const cnnc_cg *g, const cnnc_kernel *k, flat_dense *f)
{
    f->VW = g->wide ? 16 : 8;
    if (k->oc % f->VW == 0 || k->oc > 64)
        return 0;
    f->L = k->oc / gcd64(k->oc, f->VW) * f->VW;
    f->NV = (int)(f->L / f->VW);
    f->R = (int)(f->L / k->oc);
    f->blocks = k->ic / f->R;
    return f->NV <= FLAT_DENSE_MAX_NV && f->blocks > 0;
}

/* Lane l of vector v of a block: its row (rows = 1) or its output (rows = 0), as a
 * shuffle mask. */
static LLVMValueRef flat_mask(cnnc_cg *g, const cnnc_kernel *k, const flat_dense *f, int v,
                              int rows)
{
    LLVMValueRef lanes[16];
    for (int l = 0; l < f->VW; l++) {
        int64_t at = (int64_t)v * f->VW + l;
        lanes[l] = LLVMConstInt(g->i32, (unsigned long long)(rows ? at / k->oc : at % k->oc), 0);
    }
    return LLVMConstVector(lanes, (unsigned)f->VW);
}

static LLVMValueRef shuffle(cnnc_cg *g, LLVMValueRef v, LLVMValueRef mask)
{
    return LLVMBuildShuffleVector(g->b, v, LLVMGetUndef(LLVMTypeOf(v)), mask, "");
}

/* The n floats at base[index] as one vector. */
static LLVMValueRef load_lanes(cnnc_cg *g, LLVMValueRef base, LLVMValueRef index, int64_t n)
{
    LLVMValueRef l = LLVMBuildLoad2(g->b, LLVMVectorType(g->f32, (unsigned)n),
                                    cg_gep(g, g->f32, base, index), "");
    LLVMSetAlignment(l, 4);
    return l;
}

/* The x values of block b's rows over the lanes of its NV vectors. */
static void flat_rows(cnnc_cg *g, const cnnc_kernel *k, const flat_dense *f, LLVMValueRef X,
                      LLVMValueRef b, LLVMValueRef *xe)
{
    LLVMValueRef xr = load_lanes(g, X, imul(g, b, f->R), f->R);
    for (int v = 0; v < f->NV; v++)
        xe[v] = shuffle(g, xr, flat_mask(g, k, f, v, 1));
}

/* The OUT values of a vector (dy) over the lanes of a block's NV vectors. */
static void flat_outputs(cnnc_cg *g, const cnnc_kernel *k, const flat_dense *f,
                         LLVMValueRef Y, LLVMValueRef *ye)
{
    LLVMValueRef yr = load_lanes(g, Y, cg_i64(g, 0), k->oc);
    for (int v = 0; v < f->NV; v++)
        ye[v] = shuffle(g, yr, flat_mask(g, k, f, v, 0));
}

/* a * b + c, fused where the CPU fuses (llvm.fmuladd: see tile_row_fma). */
static LLVMValueRef vec_fma(cnnc_cg *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMValueRef args[3] = {a, b, c};
    return cg_intrinsic(g, "llvm.fmuladd", LLVMTypeOf(a), args, 3);
}

/* A dense kernel (forward or gradient) as flat blocks when it has few outputs, then the
 * rows after the last whole block one by one; as rows only otherwise. */
typedef void flat_blocks_fn(cnnc_cg *g, const cnnc_kernel *k, const flat_dense *f);
typedef void dense_rows_fn(cnnc_cg *g, const cnnc_kernel *k, int64_t first);

static void dense_blocks_then_rows(cnnc_cg *g, const cnnc_kernel *k, flat_blocks_fn *blocks,
                                   dense_rows_fn *rows)
{
    flat_dense f;
    int64_t first = 0;
    if (flat_dense_shape(g, k, &f)) {
        blocks(g, k, &f);
        first = f.blocks * f.R;
    }
    rows(g, k, first);
}

/* Y[o] += sum_i x[i] k[i,o] over rows [first, IN), outputs innermost. */
static void dense_rows(cnnc_cg *g, const cnnc_kernel *k, int64_t first)
{
    LLVMValueRef X = in_ptr(g, 0), W = in_ptr(g, 1), Y = out_ptr(g, 0);
    if (first >= k->ic)
        return;
    cg_loop l, li;
    LLVMValueRef i = iaddc(g, cg_for(g, &li, k->ic - first), first);
    LLVMValueRef xv = cg_load(g, X, i);
    LLVMValueRef row = imul(g, i, k->oc);
    LLVMValueRef o = cg_for(g, &l, k->oc);
    cg_store(g, fmadd(g, cg_load(g, Y, o), xv, cg_load(g, W, iadd(g, row, o))), Y, o);
    cg_end(g, &l);
    cg_end(g, &li);
}

/* The whole blocks of a flat dense kernel: NV vector sums, then each output's lanes
 * added to Y (which holds the bias). */
static void dense_flat_blocks(cnnc_cg *g, const cnnc_kernel *k, const flat_dense *f)
{
    LLVMValueRef X = in_ptr(g, 0), W = in_ptr(g, 1), Y = out_ptr(g, 0);
    LLVMTypeRef vt = LLVMVectorType(g->f32, (unsigned)f->VW);
    LLVMValueRef acc[FLAT_DENSE_MAX_NV], xe[FLAT_DENSE_MAX_NV];
    for (int v = 0; v < f->NV; v++) {
        acc[v] = cg_alloca(g, vt, "acc");
        st(g, LLVMConstNull(vt), acc[v]);
    }
    cg_loop lb;
    LLVMValueRef b = cg_for(g, &lb, f->blocks);
    flat_rows(g, k, f, X, b, xe);
    LLVMValueRef wb = imul(g, b, f->L);
    for (int v = 0; v < f->NV; v++) {
        LLVMValueRef w = vec_load(g, vt, W, iaddc(g, wb, (int64_t)v * f->VW));
        st(g, vec_fma(g, xe[v], w, ld(g, vt, acc[v])), acc[v]);
    }
    cg_end(g, &lb);
    LLVMValueRef sums = cg_alloca(g, LLVMArrayType(g->f32, (unsigned)f->L), "sums");
    for (int v = 0; v < f->NV; v++)
        vec_store(g, ld(g, vt, acc[v]), sums, cg_i64(g, (int64_t)v * f->VW));
    cg_loop lr, lo;
    LLVMValueRef r = cg_for(g, &lr, f->R);
    LLVMValueRef o = cg_for(g, &lo, k->oc);
    LLVMValueRef lane = cg_load(g, sums, iadd(g, imul(g, r, k->oc), o));
    cg_store(g, fadd(g, cg_load(g, Y, o), lane), Y, o);
    cg_end(g, &lo);
    cg_end(g, &lr);
}

/* y[o] = b[o] + sum_i x[i] k[i,o]: rows of the kernel streamed, outputs vectorised (or
 * flat blocks, above, for few outputs). */
static void emit_dense(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef B = in_ptr(g, 2), Y = out_ptr(g, 0);
    cg_loop l;
    LLVMValueRef o = cg_for(g, &l, k->oc);
    cg_store(g, k->in[2] >= 0 ? cg_load(g, B, o) : cg_f32(g, 0.0), Y, o);
    cg_end(g, &l);
    dense_blocks_then_rows(g, k, dense_flat_blocks, dense_rows);
    if (k->num_steps) {
        o = cg_for(g, &l, k->oc);
        cg_store(g, apply_epilogue(g, k, cg_load(g, Y, o)), Y, o);
        cg_end(g, &l);
    }
}

/* Pooling windows inside the input (no padding) of at most MAX_POOL_WINDOW positions,
 * which a kernel can unroll. */
enum { MAX_POOL_WINDOW = 16 };

static int pool_windows_inside(const cnnc_kernel *k)
{
    return k->pad_top == 0 && k->pad_left == 0 && (k->oh - 1) * k->sh + k->kh <= k->ih &&
           (k->ow - 1) * k->sw + k->kw <= k->iw && k->kh * k->kw <= MAX_POOL_WINDOW;
}

/* Index of channel c at window position p (row-major) of the window whose first element
 * is at `corner`. */
static LLVMValueRef window_at(cnnc_cg *g, const cnnc_kernel *k, LLVMValueRef corner, int p,
                              LLVMValueRef c)
{
    int64_t offset = ((int64_t)(p / k->kw) * k->iw + p % k->kw) * k->ic;
    return iadd(g, iaddc(g, corner, offset), c);
}

/* Max pooling over windows inside the input, the window unrolled: each output's maximum
 * is kept in a register and stored once (the same comparisons, in the same order, as the
 * general loop below: from -inf, x replaces the maximum when greater). This call's part of
 * the output rows. */
static void max_pool2d_inside(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef X = in_ptr(g, 0), Y = out_ptr(g, 0), first, last;
    cg_loop loy, lox, lc;
    part_rows(g, k->oh, &first, &last);
    LLVMValueRef oy = cg_for_dynamic(g, &loy, first, last);
    LLVMValueRef ox = cg_for(g, &lox, k->ow);
    LLVMValueRef corner = hwc_base(g, imul(g, oy, k->sh), imul(g, ox, k->sw), k->iw, k->ic);
    LLVMValueRef ybase = hwc_base(g, oy, ox, k->ow, k->oc);
    LLVMValueRef c = cg_for(g, &lc, k->oc);
    LLVMValueRef best = cg_f32(g, -HUGE_VALF);
    for (int p = 0; p < k->kh * k->kw; p++) {
        LLVMValueRef xv = cg_load(g, X, window_at(g, k, corner, p, c));
        best = sel(g, fgt(g, xv, best), xv, best);
    }
    cg_store(g, best, Y, iadd(g, ybase, c));
    cg_end(g, &lc);
    cg_end(g, &lox);
    cg_end(g, &loy);
}

static void emit_pool2d(cnnc_cg *g, const cnnc_kernel *k, int is_max)
{
    LLVMValueRef X = in_ptr(g, 0), Y = out_ptr(g, 0);
    if (is_max && pool_windows_inside(k)) {
        max_pool2d_inside(g, k);
        return;
    }
    cg_loop loy, lox, l;
    LLVMValueRef count = is_max ? NULL : cg_alloca(g, g->i64, "count"), first, last;
    part_rows(g, k->oh, &first, &last);
    LLVMValueRef oy = cg_for_dynamic(g, &loy, first, last);
    LLVMValueRef ox = cg_for(g, &lox, k->ow);
    LLVMValueRef ybase = hwc_base(g, oy, ox, k->ow, k->oc);
    LLVMValueRef c = cg_for(g, &l, k->oc);
    cg_store(g, cg_f32(g, is_max ? -HUGE_VALF : 0.0), Y, iadd(g, ybase, c));
    cg_end(g, &l);
    if (count)
        st(g, cg_i64(g, 0), count);
    window w;
    window_open(g, k, oy, ox, &w);
    LLVMValueRef xbase = hwc_base(g, w.iy, w.ix, k->iw, k->ic);
    if (count)
        st(g, iaddc(g, ld(g, g->i64, count), 1), count);
    c = cg_for(g, &l, k->oc);
    LLVMValueRef yi = iadd(g, ybase, c);
    LLVMValueRef xv = cg_load(g, X, iadd(g, xbase, c)), yv = cg_load(g, Y, yi);
    cg_store(g, is_max ? sel(g, fgt(g, xv, yv), xv, yv) : fadd(g, yv, xv), Y, yi);
    cg_end(g, &l);
    window_close(g, &w);
    if (count) {
        LLVMValueRef n = LLVMBuildSIToFP(g->b, ld(g, g->i64, count), g->f32, "");
        c = cg_for(g, &l, k->oc);
        yi = iadd(g, ybase, c);
        cg_store(g, fdiv(g, cg_load(g, Y, yi), n), Y, yi);
        cg_end(g, &l);
    }
    cg_end(g, &lox);
    cg_end(g, &loy);
}

/* Y[c] += sum_r X[r, c] for X [rows, channels]: global pooling and the bias gradient. */
static void add_channel_sums(cnnc_cg *g, LLVMValueRef X, LLVMValueRef Y, int64_t rows,
                             int64_t channels)
{
    cg_loop lr, l;
    LLVMValueRef r = cg_for(g, &lr, rows);
    LLVMValueRef base = imul(g, r, channels);
    LLVMValueRef c = cg_for(g, &l, channels);
    cg_store(g, fadd(g, cg_load(g, Y, c), cg_load(g, X, iadd(g, base, c))), Y, c);
    cg_end(g, &l);
    cg_end(g, &lr);
}

static void emit_global_avg_pool2d(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef X = in_ptr(g, 0), Y = out_ptr(g, 0);
    zero_fill(g, Y, k->ic);
    add_channel_sums(g, X, Y, k->ih * k->iw, k->ic);
    cg_loop l;
    LLVMValueRef c = cg_for(g, &l, k->ic);
    cg_store(g, fdiv(g, cg_load(g, Y, c), cg_f32(g, (double)(k->ih * k->iw))), Y, c);
    cg_end(g, &l);
}

/* i64 cnnc_mix64(i64): SplitMix64's finaliser, as cnnrt_mix64. */
static LLVMValueRef mix64(cnnc_cg *g, LLVMValueRef z)
{
    return LLVMBuildCall2(g->b, LLVMGlobalGetValueType(g->mix64), g->mix64, &z, 1, "");
}

/* The dropout factor of element i: cnnrt_dropout_keep ? 1/(1-rate) : 0. */
static LLVMValueRef dropout_factor(cnnc_cg *g, const cnnc_ew_step *s, LLVMValueRef i)
{
    if (s->rate >= 1.0f)
        return cg_f32(g, 0.0);
    LLVMValueRef key = LLVMBuildXor(
        g->b,
        LLVMBuildXor(g->b, cg_i64(g, (int64_t)((uint64_t)s->dropout_index << 48)),
                     LLVMBuildShl(g->b, param(g, CG_K_IMAGE), cg_i64(g, 24), ""), ""),
        i, "");
    LLVMValueRef h = mix64(g, LLVMBuildXor(g->b, param(g, CG_K_SEED), mix64(g, key), ""));
    LLVMValueRef top = LLVMBuildLShr(g->b, h, cg_i64(g, 40), "");
    LLVMValueRef u = fmul(g, LLVMBuildUIToFP(g->b, top, g->f32, ""),
                          cg_f32(g, 1.0 / 16777216.0));
    LLVMValueRef keep = LLVMBuildFCmp(g->b, LLVMRealOGE, u, cg_f32(g, s->rate), "");
    float factor = 1.0f / (1.0f - s->rate);
    return sel(g, keep, cg_f32(g, factor), cg_f32(g, 0.0));
}

/* ---- size-generic elementwise and reduce kernels ---------------------------------------
 *
 * The body of an elementwise or reduce kernel depends on the pattern of its loops, not on
 * its sizes: the Grad-CAM methods run the same small chains (mul, square, relu-mul, ...)
 * on every target layer and the training step the same activation chains on every layer,
 * each at its own size. Their counts are therefore run-time arguments of the kernel
 * function (CG_K_ROWS and CG_K_REDUCED, from cnnc_cg_kernel_sizes at every call), and
 * their key (cnnc_cg_kernel_key) keeps only what the body's code depends on, so that a
 * module emits one function per pattern instead of one per pattern and size.
 *
 * What stays a constant of the body: the length of a loop that broadcasts a smaller input
 * over rows (in practice a channel count: batch_norm's scale and shift, a Grad-CAM
 * method's channel weights, and the kept channels of a spatial sum), because that loop is
 * the one LLVM vectorises and it is short, so a run-time trip count would cost every row
 * a vector-width test and a remainder loop; and j % m for an input of m elements that
 * divides it. The other counts (the rows, the whole length of an unbroadcast loop, the
 * reduced length and the rows of a reduction) are long or not vectorised, and run-time
 * counts cost them one test per call. A kernel outside these patterns (a reduction over
 * axes that do not collapse to one run, an output not of the kernel's length) keeps
 * every size as a constant, in its body and its key, as the other kernels do. So does a
 * kernel whose pattern the module has at one size only (the optimizer's update, every
 * kernel of a model whose layers all have one size): a run-time count there would only
 * cost (codegen_programs.c, cg_plan_kernel_sizes, chooses; cnnc_cg_kernel's `sized`).
 *
 * On models/mnist.cnn this makes 16 elementwise and reduce functions of 49, and the module
 * 58 functions instead of 91 (fashion_bn.cnn: 117 instead of 175). Outputs are
 * bit-identical: the loops visit the elements in the same order (a reduction's sums add
 * each output's terms in the order of the reduced axes, as before), and the dropout step
 * hashes the same element index. */

/* How an ew kernel's input is read at element i = row * inner + j of the output. */
enum {
    EW_ABSENT = -1,
    EW_FULL = 0,      /* as long as the output: element i */
    EW_ONE = 1,       /* one element (and the output more): element 0 */
    EW_INNER = -2,    /* one row's length: element j */
    /* m >= 2, shorter than a row (divides it): element j % m */
};

typedef struct ew_form {
    int generic;                       /* the sizes are arguments, not constants */
    int64_t n, rows, inner;            /* n = rows * inner elements; inner > 1: split loop */
    int64_t read[CNNC_KERNEL_MAX_IN];  /* EW_* or m */
} ew_form;

static void ew_form_of(const cnnc_lowered *p, const cnnc_kernel *k, ew_form *f)
{
    int64_t size[CNNC_KERNEL_MAX_IN];
    f->n = k->n;
    f->inner = 1;
    for (int s = 0; s < CNNC_KERNEL_MAX_IN; s++) {
        size[s] = k->in[s] >= 0 ? p->bufs[k->in[s]].size : 0;
        if (size[s] > f->inner && size[s] < k->n)
            f->inner = size[s];
    }
    f->rows = k->n / f->inner;
    f->generic = f->rows * f->inner == k->n;
    for (int s = 0; s < CNNC_KERNEL_MAX_IN; s++)
        f->read[s] = k->in[s] < 0 ? EW_ABSENT : size[s] == k->n ? EW_FULL
                     : size[s] == 1 ? EW_ONE : size[s] == f->inner ? EW_INNER : size[s];
    for (int o = 0; o < CNNC_KERNEL_MAX_OUT; o++)
        if (k->out[o] >= 0 && p->bufs[k->out[o]].size != k->n)
            f->generic = 0;
}

/* The shape of a reduction as outer x reduced x inner (row-major, kept, reduced, kept):
 * the axes of more than one element collapsed into runs of reduced and kept axes. Not
 * generic when they make more than one reduced run. */
typedef struct reduce_form {
    int generic;
    int64_t outer, reduced, inner;
} reduce_form;

static void reduce_form_of(const cnnc_kernel *k, reduce_form *f)
{
    f->outer = f->reduced = f->inner = 1;
    f->generic = 1;
    int after_reduced = 0;      /* a reduced axis was seen: kept axes are inner */
    for (int a = 0; a < k->shape.rank; a++) {
        int64_t d = k->shape.dim[a];
        if (d == 1)
            continue;
        if (k->axes >> a & 1) {
            if (f->inner > 1)   /* reduced, kept, reduced */
                f->generic = 0;
            f->reduced *= d;
            after_reduced = 1;
        } else if (after_reduced) {
            f->inner *= d;
        } else {
            f->outer *= d;
        }
    }
    if (f->outer * f->inner != k->n)
        f->generic = 0;
}

int cnnc_cg_kernel_sizes(const cnnc_lowered *p, int index, int64_t sizes[CG_K_NUM_SIZES])
{
    const cnnc_kernel *k = &p->kernels[index];
    sizes[0] = sizes[1] = 0;
    if (k->kind == CNNC_K_EW) {
        ew_form f;
        ew_form_of(p, k, &f);
        sizes[0] = f.rows;
        return f.generic ? CG_K_NUM_SIZES : 0;
    }
    if (k->kind == CNNC_K_REDUCE) {
        reduce_form f;
        reduce_form_of(k, &f);
        sizes[0] = f.outer;
        sizes[1] = f.reduced;
        return f.generic ? CG_K_NUM_SIZES : 0;
    }
    return 0;
}

void cnnc_cg_call_kernel(cnnc_cg *g, LLVMValueRef fn, const cnnc_lowered *p, int k,
                         LLVMValueRef args[CG_K_NUM_PARAMS])
{
    int64_t sizes[CG_K_NUM_SIZES];
    cnnc_cg_kernel_sizes(p, k, sizes);
    int num_sizes = (int)LLVMCountParams(fn) - CG_K_ROWS;   /* 0: emitted sized */
    for (int i = 0; i < num_sizes; i++)
        args[CG_K_ROWS + i] = cg_i64(g, sizes[i]);
    LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args,
                   (unsigned)(CG_K_ROWS + num_sizes), "");
}

/* Whether step s of an ew kernel has the same value for every element: all its operands
 * are constants, one-element inputs (an optimizer's step count, learning rate) or such
 * steps. Those steps are computed once, before the loop: in an update program, whose
 * pointers may alias, LLVM could not move them out itself (Adam's pow(beta, step) per
 * weight was a tenth of a training step). */
static int ew_step_invariant(const cnnc_kernel *k, const ew_form *f, const int *invariant,
                             int s)
{
    const cnnc_ew_step *step = &k->steps[s];
    if (step->kind != CNNC_STEP_FN)
        return 0;
    int arity = cnnc_ew_info_of(step->fn)->arity;
    for (int a = 0; a < arity; a++) {
        int slot = step->arg[a];
        int ok = slot == CNNC_ARG_CHAIN ? (s > 0 ? invariant[s - 1] : f->read[0] == EW_ONE)
                 : slot == CNNC_ARG_IMM ? 1
                 : slot <= CNNC_ARG_STEP ? invariant[CNNC_ARG_STEP - slot]
                                         : f->read[slot] == EW_ONE;
        if (!ok)
            return 0;
    }
    return 1;
}

/* The one-element inputs of an ew kernel, loaded once before the loop (NULL: read in the
 * loop). */
typedef struct ew_inputs {
    const ew_form *form;
    LLVMValueRef once[CNNC_KERNEL_MAX_IN];
} ew_inputs;

/* The input slot whose buffer output o is (an update program writes in place), or -1. */
static int aliased_input(const cnnc_kernel *k, int o)
{
    for (int i = 0; i < CNNC_KERNEL_MAX_IN; i++)
        if (k->out[o] >= 0 && k->in[i] >= 0 && k->in[i] == k->out[o])
            return i;
    return -1;
}

/* Whether the kernel writes the buffer of its input slot (an update program, in place). */
static int writes_input(const cnnc_kernel *k, int slot)
{
    for (int o = 0; o < CNNC_KERNEL_MAX_OUT; o++)
        if (k->out[o] >= 0 && k->out[o] == k->in[slot])
            return 1;
    return 0;
}

/* Where output o is stored: an output written in place through the pointer of the input
 * it is, so that LLVM sees element i read and written through one pointer (through two
 * pointers it cannot tell that they are equal and not merely overlapping, and its
 * vectorised loop's run-time overlap check sends every call to the scalar loop). */
static LLVMValueRef ew_out_ptr(cnnc_cg *g, const cnnc_kernel *k, int o)
{
    int i = aliased_input(k, o);
    return i >= 0 ? in_ptr(g, i) : out_ptr(g, o);
}

/* The operands of step s of an ew kernel at element i (inner index j of the loop over
 * a row); v is the previous step's value (NULL before the first). */
static void ew_operands(cnnc_cg *g, const cnnc_kernel *k, const ew_inputs *in, int s,
                        LLVMValueRef v, LLVMValueRef *results, LLVMValueRef i, LLVMValueRef j,
                        LLVMValueRef *x)
{
    const cnnc_ew_step *step = &k->steps[s];
    int arity = step->kind == CNNC_STEP_DROPOUT ? 1 : cnnc_ew_info_of(step->fn)->arity;
    for (int a = 0; a < arity; a++) {
        int slot = step->arg[a];
        if (slot == CNNC_ARG_CHAIN && v) {
            x[a] = v;
        } else if (slot == CNNC_ARG_IMM) {
            x[a] = cg_f32(g, step->imm[a]);
        } else if (slot <= CNNC_ARG_STEP) {
            x[a] = results[CNNC_ARG_STEP - slot];
        } else if (slot == CNNC_ARG_CHAIN) {
            x[a] = in->once[0] ? in->once[0]
                               : cg_load(g, in_ptr(g, 0),
                                         in->form->read[0] == EW_ONE ? cg_i64(g, 0) : i);
        } else if (in->once[slot]) {
            x[a] = in->once[slot];
        } else {
            int64_t r = in->form->read[slot];
            LLVMValueRef at = r == EW_FULL ? i : r == EW_ONE ? cg_i64(g, 0)
                              : r == EW_INNER ? j
                                              : LLVMBuildSRem(g->b, j, cg_i64(g, r), "");
            x[a] = cg_load(g, in_ptr(g, slot), at);
        }
    }
}

/* The ew kernel's loop. Operands smaller than the output are broadcast (suffix rule: the
 * element of output i is i % size). When some are, the loop is split into an outer loop
 * over rows and an inner one over the largest such size (a row), so that they read the
 * inner index j (or j % their size, which divides the row) and the inner loop still
 * vectorises. One-element inputs the kernel does not write are read once, before the
 * loop (in an update program, whose pointers may alias, LLVM could not move those loads
 * out itself). Generic (see above): the number of rows (all the elements when the loop
 * is not split) is the argument CG_K_ROWS; the element index i, which the dropout step
 * hashes, is the same row * inner + j as with constants. */
static void emit_elementwise(cnnc_cg *g, const cnnc_lowered *p, const cnnc_kernel *k,
                             int sized)
{
    ew_form f;
    ew_form_of(p, k, &f);
    f.generic = f.generic && !sized;
    ew_inputs in = {.form = &f};
    for (int s = 0; s < CNNC_KERNEL_MAX_IN; s++)
        if (f.read[s] == EW_ONE && !writes_input(k, s))
            in.once[s] = cg_load(g, in_ptr(g, s), cg_i64(g, 0));
    LLVMValueRef v = NULL, results[CNNC_EW_MAX_STEPS];
    int invariant[CNNC_EW_MAX_STEPS];
    for (int s = 0; s < k->num_steps; s++) {
        invariant[s] = k->n > 1 && ew_step_invariant(k, &f, invariant, s);
        if (invariant[s]) {
            LLVMValueRef x[CNNC_MAX_INPUTS];
            ew_operands(g, k, &in, s, v, results, cg_i64(g, 0), cg_i64(g, 0), x);
            v = results[s] = cnnc_ew_emit(g, k->steps[s].fn, x, k->steps[s].alpha);
        }
    }
    int split = f.inner > 1;
    LLVMValueRef rows = f.generic ? param(g, CG_K_ROWS) : cg_i64(g, f.rows);
    cg_loop lo, li;
    LLVMValueRef o = split ? cg_for_count(g, &lo, rows) : NULL;
    LLVMValueRef j = split ? cg_for(g, &li, f.inner) : cg_for_count(g, &li, rows);
    LLVMValueRef i = split ? iadd(g, imul(g, o, f.inner), j) : j;
    for (int s = 0; s < k->num_steps; s++) {
        const cnnc_ew_step *step = &k->steps[s];
        if (invariant[s]) {
            v = results[s];
            continue;
        }
        LLVMValueRef x[CNNC_MAX_INPUTS];
        ew_operands(g, k, &in, s, s > 0 ? v : NULL, results, i, j, x);
        if (step->kind == CNNC_STEP_DROPOUT)
            v = fmul(g, x[0], dropout_factor(g, step, i));
        else
            v = cnnc_ew_emit(g, step->fn, x, step->alpha);
        results[s] = v;
    }
    for (int o = 0; o < CNNC_KERNEL_MAX_OUT; o++)
        if (k->out[o] >= 0)
            cg_store(g, k->out_step[o] ? results[k->out_step[o] - 1] : v, ew_out_ptr(g, k, o), i);
    cg_end(g, &li);
    if (split)
        cg_end(g, &lo);
}

/* Nested loops over the elements of `shape` (rank 0: one element): *full receives the
 * linear index, *kept the index into the shape without the axes in `axes`. Closed by
 * shape_loops_end. */
typedef struct shape_loops {
    cg_loop l[CNNC_MAX_RANK];
    int rank;
} shape_loops;

static void shape_loops_begin(cnnc_cg *g, shape_loops *sl, cnnc_shape shape, unsigned axes,
                              LLVMValueRef *full, LLVMValueRef *kept)
{
    sl->rank = shape.rank;
    *full = cg_i64(g, 0);
    *kept = cg_i64(g, 0);
    for (int a = 0; a < shape.rank; a++) {
        LLVMValueRef c = cg_for(g, &sl->l[a], shape.dim[a]);
        *full = iadd(g, imul(g, *full, shape.dim[a]), c);
        if (!(axes >> a & 1))
            *kept = iadd(g, imul(g, *kept, shape.dim[a]), c);
    }
}

static void shape_loops_end(cnnc_cg *g, shape_loops *sl)
{
    for (int a = sl->rank - 1; a >= 0; a--)
        cg_end(g, &sl->l[a]);
}

/* y = x or y op= x of a reduction. */
static LLVMValueRef reduce_step(cnnc_cg *g, const cnnc_kernel *k, LLVMValueRef x,
                                LLVMValueRef y)
{
    return k->reduce == CNNC_REDUCE_MAX ? sel(g, fgt(g, x, y), x, y) : fadd(g, y, x);
}

/* Y = the initial value over the n outputs; after the sums, their mean over count. */
static void reduce_init(cnnc_cg *g, const cnnc_kernel *k, LLVMValueRef n)
{
    cg_loop l;
    LLVMValueRef o = cg_for_count(g, &l, n);
    cg_store(g, cg_f32(g, k->reduce == CNNC_REDUCE_MAX ? -HUGE_VALF : 0.0), out_ptr(g, 0), o);
    cg_end(g, &l);
}

static void reduce_mean(cnnc_cg *g, const cnnc_kernel *k, LLVMValueRef n, LLVMValueRef count)
{
    if (k->reduce != CNNC_REDUCE_MEAN)
        return;
    LLVMValueRef Y = out_ptr(g, 0);
    cg_loop l;
    LLVMValueRef o = cg_for_count(g, &l, n);
    cg_store(g, fdiv(g, cg_load(g, Y, o), count), Y, o);
    cg_end(g, &l);
}

/* A reduction whose axes do not collapse to outer x reduced x inner: every axis a loop. */
static void emit_reduce_axes(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef X = in_ptr(g, 0), Y = out_ptr(g, 0);
    reduce_init(g, k, cg_i64(g, k->n));
    shape_loops sl;
    LLVMValueRef i, at;
    shape_loops_begin(g, &sl, k->shape, k->axes, &i, &at);
    cg_store(g, reduce_step(g, k, cg_load(g, X, i), cg_load(g, Y, at)), Y, at);
    shape_loops_end(g, &sl);
    double count = (double)(cnnc_shape_size(k->shape) / k->n);
    reduce_mean(g, k, cg_i64(g, k->n), cg_f32(g, count));
}

/* Y[o, c] op= X[o, r, c] over outer x reduced x inner, r in order for each output (the
 * order of the axes' loops, so the sums are the same). The outer and reduced counts are
 * arguments; the inner count, a vectorised loop, stays a constant (see above); a count
 * of 1 has no loop (the key says which are 1). */
static void emit_reduce(cnnc_cg *g, const cnnc_kernel *k, int sized)
{
    reduce_form f;
    reduce_form_of(k, &f);
    if (!f.generic || sized) {
        emit_reduce_axes(g, k);
        return;
    }
    LLVMValueRef X = in_ptr(g, 0), Y = out_ptr(g, 0);
    LLVMValueRef outer = f.outer > 1 ? param(g, CG_K_ROWS) : NULL;
    LLVMValueRef reduced = f.reduced > 1 ? param(g, CG_K_REDUCED) : cg_i64(g, 1);
    LLVMValueRef n = outer ? imul(g, outer, f.inner) : cg_i64(g, f.inner);
    reduce_init(g, k, n);
    cg_loop lo, lr, li;
    LLVMValueRef o = outer ? cg_for_count(g, &lo, outer) : cg_i64(g, 0);
    LLVMValueRef r = f.reduced > 1 ? cg_for_count(g, &lr, reduced) : cg_i64(g, 0);
    LLVMValueRef c = f.inner > 1 ? cg_for(g, &li, f.inner) : cg_i64(g, 0);
    LLVMValueRef at = iadd(g, imul(g, o, f.inner), c);
    LLVMValueRef row = iadd(g, LLVMBuildNSWMul(g->b, o, reduced, ""), r);
    LLVMValueRef i = iadd(g, imul(g, row, f.inner), c);
    cg_store(g, reduce_step(g, k, cg_load(g, X, i), cg_load(g, Y, at)), Y, at);
    if (f.inner > 1)
        cg_end(g, &li);
    if (f.reduced > 1)
        cg_end(g, &lr);
    if (outer)
        cg_end(g, &lo);
    reduce_mean(g, k, n, LLVMBuildSIToFP(g->b, reduced, g->f32, ""));
}

static void emit_broadcast(cnnc_cg *g, const cnnc_kernel *k)
{
    shape_loops sl;
    LLVMValueRef i, from;
    shape_loops_begin(g, &sl, k->shape, k->axes, &i, &from);
    cg_store(g, cg_load(g, in_ptr(g, 0), from), out_ptr(g, 0), i);
    shape_loops_end(g, &sl);
}

static void emit_fill(cnnc_cg *g, const cnnc_kernel *k)
{
    cg_loop l;
    LLVMValueRef i = cg_for(g, &l, k->n);
    cg_store(g, cg_f32(g, k->value), out_ptr(g, 0), i);
    cg_end(g, &l);
}

/* ---- small vectors: softmax, losses, class scores (double, as the interpreter) -------- */

/* The class a label buffer names: *valid = 0 <= label < k, *c = the index (0 if not). */
static void label_class(cnnc_cg *g, LLVMValueRef label, int64_t k, LLVMValueRef *valid,
                        LLVMValueRef *c)
{
    LLVMValueRef v = cg_load(g, label, cg_i64(g, 0));
    *valid = LLVMBuildAnd(g->b, LLVMBuildFCmp(g->b, LLVMRealOGE, v, cg_f32(g, 0.0), ""),
                          LLVMBuildFCmp(g->b, LLVMRealOLT, v, cg_f32(g, (double)k), ""), "");
    *c = sel(g, *valid, LLVMBuildFPToSI(g->b, v, g->i64, ""), cg_i64(g, 0));
}

/* max and sum of exp(z - max) of a float vector, in double. */
static void softmax_stats(cnnc_cg *g, LLVMValueRef z, int64_t k, LLVMValueRef *max,
                          LLVMValueRef *sum)
{
    LLVMValueRef m = cg_alloca(g, g->f64, "max"), s = cg_alloca(g, g->f64, "sum");
    st(g, to_f64(g, cg_load(g, z, cg_i64(g, 0))), m);
    st(g, cg_f64(g, 0.0), s);
    cg_loop l;
    LLVMValueRef i = cg_for(g, &l, k);
    LLVMValueRef zi = to_f64(g, cg_load(g, z, i)), mv = ld(g, g->f64, m);
    st(g, sel(g, fgt(g, zi, mv), zi, mv), m);
    cg_end(g, &l);
    *max = ld(g, g->f64, m);
    i = cg_for(g, &l, k);
    st(g, fadd(g, ld(g, g->f64, s), exp_f64(g, fsub(g, to_f64(g, cg_load(g, z, i)), *max))), s);
    cg_end(g, &l);
    *sum = ld(g, g->f64, s);
}

static LLVMValueRef softmax_at(cnnc_cg *g, LLVMValueRef z, LLVMValueRef i, LLVMValueRef max,
                               LLVMValueRef sum)
{
    return fdiv(g, exp_f64(g, fsub(g, to_f64(g, cg_load(g, z, i)), max)), sum);
}

static LLVMValueRef onehot_at(cnnc_cg *g, LLVMValueRef i, LLVMValueRef valid, LLVMValueRef c)
{
    LLVMValueRef hit = LLVMBuildAnd(g->b, valid, LLVMBuildICmp(g->b, LLVMIntEQ, i, c, ""), "");
    return sel(g, hit, cg_f64(g, 1.0), cg_f64(g, 0.0));
}

/* softmax (out[0] = probs), cross-entropy (out[1]), gradient p - y (out[2]): any subset. */
static void emit_softmax_xent(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef z = in_ptr(g, 0), max, sum, valid = NULL, c = NULL;
    softmax_stats(g, z, k->n, &max, &sum);
    if (k->in[1] >= 0)
        label_class(g, in_ptr(g, 1), k->n, &valid, &c);
    cg_loop l;
    if (k->out[0] >= 0 || k->out[2] >= 0) {
        LLVMValueRef i = cg_for(g, &l, k->n);
        LLVMValueRef p = softmax_at(g, z, i, max, sum);
        if (k->out[0] >= 0)
            cg_store(g, to_f32(g, p), out_ptr(g, 0), i);
        if (k->out[2] >= 0) {
            LLVMValueRef d = fsub(g, p, onehot_at(g, i, valid, c));
            cg_store(g, sel(g, valid, to_f32(g, d), cg_f32(g, 0.0)), out_ptr(g, 2), i);
        }
        cg_end(g, &l);
    }
    if (k->out[1] >= 0) {
        LLVMValueRef loss = fsub(g, fadd(g, max, log_f64(g, sum)),
                                 to_f64(g, cg_load(g, z, c)));
        cg_store(g, sel(g, valid, to_f32(g, loss), cg_f32(g, 0.0)), out_ptr(g, 1),
                 cg_i64(g, 0));
    }
}

static LLVMValueRef sum_f64(cnnc_cg *g, LLVMValueRef v, int64_t n)
{
    LLVMValueRef s = cg_alloca(g, g->f64, "sum");
    st(g, cg_f64(g, 0.0), s);
    cg_loop l;
    LLVMValueRef i = cg_for(g, &l, n);
    st(g, fadd(g, ld(g, g->f64, s), to_f64(g, cg_load(g, v, i))), s);
    cg_end(g, &l);
    return ld(g, g->f64, s);
}

static const double KERAS_EPSILON = 1e-7;

static void emit_xent(cnnc_cg *g, const cnnc_kernel *k, int grad)
{
    LLVMValueRef p = in_ptr(g, 0), valid, c;
    label_class(g, in_ptr(g, 1), k->n, &valid, &c);
    LLVMValueRef s = sum_f64(g, p, k->n);
    LLVMValueRef pc = to_f64(g, cg_load(g, p, c));
    LLVMValueRef q = fdiv(g, pc, s);
    if (!grad) {
        LLVMValueRef lo = cg_f64(g, KERAS_EPSILON), hi = cg_f64(g, 1.0 - KERAS_EPSILON);
        q = sel(g, LLVMBuildFCmp(g->b, LLVMRealOLT, q, lo, ""), lo, q);
        q = sel(g, fgt(g, q, hi), hi, q);
        LLVMValueRef loss = LLVMBuildFNeg(g->b, log_f64(g, q), "");
        cg_store(g, sel(g, valid, to_f32(g, loss), cg_f32(g, 0.0)), out_ptr(g, 0), cg_i64(g, 0));
        return;
    }
    LLVMValueRef inside =
        LLVMBuildAnd(g->b, fgt(g, q, cg_f64(g, KERAS_EPSILON)),
                     LLVMBuildFCmp(g->b, LLVMRealOLT, q, cg_f64(g, 1.0 - KERAS_EPSILON), ""),
                     "");
    LLVMValueRef ok = LLVMBuildAnd(g->b, valid, inside, "");
    cg_loop l;
    LLVMValueRef j = cg_for(g, &l, k->n);
    LLVMValueRef at_c = LLVMBuildICmp(g->b, LLVMIntEQ, j, c, "");
    LLVMValueRef d = fadd(g, sel(g, at_c, fdiv(g, cg_f64(g, -1.0), pc), cg_f64(g, 0.0)),
                          fdiv(g, cg_f64(g, 1.0), s));
    cg_store(g, sel(g, ok, to_f32(g, d), cg_f32(g, 0.0)), out_ptr(g, 0), j);
    cg_end(g, &l);
}

static void emit_mse(cnnc_cg *g, const cnnc_kernel *k, int grad)
{
    LLVMValueRef p = in_ptr(g, 0), valid, c;
    label_class(g, in_ptr(g, 1), k->n, &valid, &c);
    LLVMValueRef s = cg_alloca(g, g->f64, "sum");
    st(g, cg_f64(g, 0.0), s);
    cg_loop l;
    LLVMValueRef i = cg_for(g, &l, k->n);
    LLVMValueRef d = fsub(g, to_f64(g, cg_load(g, p, i)), onehot_at(g, i, valid, c));
    if (grad)
        cg_store(g, to_f32(g, fdiv(g, fmul(g, cg_f64(g, 2.0), d), cg_f64(g, (double)k->n))),
                 out_ptr(g, 0), i);
    else
        st(g, fadd(g, ld(g, g->f64, s), fmul(g, d, d)), s);
    cg_end(g, &l);
    if (!grad)
        cg_store(g, to_f32(g, fdiv(g, ld(g, g->f64, s), cg_f64(g, (double)k->n))), out_ptr(g, 0),
                 cg_i64(g, 0));
}

/* Index of the first largest element of a float vector. */
static LLVMValueRef argmax(cnnc_cg *g, LLVMValueRef v, int64_t n)
{
    LLVMValueRef best = cg_alloca(g, g->i64, "best");
    st(g, cg_i64(g, 0), best);
    cg_loop l;
    LLVMValueRef i = cg_for(g, &l, n);
    LLVMValueRef b = ld(g, g->i64, best);
    st(g, sel(g, fgt(g, cg_load(g, v, i), cg_load(g, v, b)), i, b), best);
    cg_end(g, &l);
    return ld(g, g->i64, best);
}

static void emit_class_score_grad(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef z = in_ptr(g, 0), valid, c;
    label_class(g, in_ptr(g, 1), k->n, &valid, &c);
    c = sel(g, valid, c, argmax(g, z, k->n));
    LLVMValueRef all = LLVMConstInt(g->i1, 1, 0);
    LLVMValueRef softmax_mode =
        LLVMBuildICmp(g->b, LLVMIntEQ, param(g, CG_K_SCORE_MODE), cg_i64(g, CNNRT_SCORE_SOFTMAX), "");
    LLVMValueRef max, sum;
    softmax_stats(g, z, k->n, &max, &sum);
    LLVMValueRef pc = softmax_at(g, z, c, max, sum);
    cg_loop l;
    LLVMValueRef i = cg_for(g, &l, k->n);
    LLVMValueRef y = onehot_at(g, i, all, c);
    LLVMValueRef soft = fmul(g, pc, fsub(g, y, softmax_at(g, z, i, max, sum)));
    cg_store(g, to_f32(g, sel(g, softmax_mode, soft, y)), out_ptr(g, 0), i);
    cg_end(g, &l);
}

/* ---- backward kernels ----------------------------------------------------------------- */

/* dx[iy,ix,ci] += sum_co dy[oy,ox,co] k[ky,kx,ci,co] over the windows reading x[iy,ix]. */
static void emit_conv2d_grad_input(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef DY = in_ptr(g, 0), W = in_ptr(g, 1), DX = out_ptr(g, 0);
    zero_fill(g, DX, k->ih * k->iw * k->ic);
    LLVMValueRef acc = cg_alloca(g, g->f32, "acc");
    cg_loop loy, lox, lci, l;
    LLVMValueRef oy = cg_for(g, &loy, k->oh);
    LLVMValueRef ox = cg_for(g, &lox, k->ow);
    LLVMValueRef ybase = hwc_base(g, oy, ox, k->ow, k->oc);
    window w;
    window_open(g, k, oy, ox, &w);
    LLVMValueRef xbase = hwc_base(g, w.iy, w.ix, k->iw, k->ic);
    LLVMValueRef wbase = imul(g, iadd(g, imul(g, w.ky, k->kw), w.kx), k->ic * k->oc);
    LLVMValueRef ci = cg_for(g, &lci, k->ic);
    LLVMValueRef wrow = iadd(g, wbase, imul(g, ci, k->oc));
    st(g, cg_f32(g, 0.0), acc);
    LLVMValueRef co = cg_for(g, &l, k->oc);
    st(g, fmadd_reassoc(g, ld(g, g->f32, acc), cg_load(g, DY, iadd(g, ybase, co)),
                        cg_load(g, W, iadd(g, wrow, co))), acc);
    cg_end(g, &l);
    LLVMValueRef xi = iadd(g, xbase, ci);
    cg_store(g, fadd(g, cg_load(g, DX, xi), ld(g, g->f32, acc)), DX, xi);
    cg_end(g, &lci);
    window_close(g, &w);
    cg_end(g, &lox);
    cg_end(g, &loy);
}

/* dk[ky,kx,ci,co] += x[iy,ix,ci] dy[oy,ox,co]: the output channels vectorise. */
static void emit_conv2d_grad_kernel(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef X = in_ptr(g, 0), DY = in_ptr(g, 1), DK = out_ptr(g, 0);
    if (!k->accumulate)
        zero_fill(g, DK, k->kh * k->kw * k->ic * k->oc);
    cg_loop loy, lox, lci, l;
    LLVMValueRef oy = cg_for(g, &loy, k->oh);
    LLVMValueRef ox = cg_for(g, &lox, k->ow);
    LLVMValueRef ybase = hwc_base(g, oy, ox, k->ow, k->oc);
    window w;
    window_open(g, k, oy, ox, &w);
    LLVMValueRef xbase = hwc_base(g, w.iy, w.ix, k->iw, k->ic);
    LLVMValueRef wbase = imul(g, iadd(g, imul(g, w.ky, k->kw), w.kx), k->ic * k->oc);
    LLVMValueRef ci = cg_for(g, &lci, k->ic);
    LLVMValueRef xv = cg_load(g, X, iadd(g, xbase, ci));
    LLVMValueRef wrow = iadd(g, wbase, imul(g, ci, k->oc));
    LLVMValueRef co = cg_for(g, &l, k->oc);
    LLVMValueRef wi = iadd(g, wrow, co);
    cg_store(g, fmadd(g, cg_load(g, DK, wi), xv, cg_load(g, DY, iadd(g, ybase, co))), DK, wi);
    cg_end(g, &l);
    cg_end(g, &lci);
    window_close(g, &w);
    cg_end(g, &lox);
    cg_end(g, &loy);
}

static void emit_bias_grad(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef DY = in_ptr(g, 0), DB = out_ptr(g, 0);
    if (!k->accumulate)
        zero_fill(g, DB, k->ic);
    add_channel_sums(g, DY, DB, k->ih * k->iw, k->ic);
}

/* Pooling windows that are disjoint (stride at least the window): each input element is
 * in at most one window, so its gradient can be written once instead of accumulated. */
static int pool_windows_disjoint(const cnnc_kernel *k)
{
    return k->sh >= k->kh && k->sw >= k->kw && pool_windows_inside(k);
}

/* The max-pooling gradient over disjoint windows in one pass, vectorised over channels:
 * the window's first maximum (row-major) found in registers, then every element of the
 * window stored once, 0 + dy at the maximum and 0 elsewhere (the sums of the general
 * kernel below, which start from zero). Elements outside every window are zero-filled
 * first, when there are any. */
static void max_pool2d_grad_disjoint(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef X = in_ptr(g, 0), DY = in_ptr(g, 1), DX = out_ptr(g, 0);
    int covered = k->sh == k->kh && k->sw == k->kw && k->oh * k->kh == k->ih &&
                  k->ow * k->kw == k->iw;
    if (!covered)
        zero_fill(g, DX, k->ih * k->iw * k->ic);
    int window = k->kh * k->kw;
    cg_loop loy, lox, lc;
    LLVMValueRef oy = cg_for(g, &loy, k->oh);
    LLVMValueRef ox = cg_for(g, &lox, k->ow);
    LLVMValueRef corner = hwc_base(g, imul(g, oy, k->sh), imul(g, ox, k->sw), k->iw, k->ic);
    LLVMValueRef ybase = hwc_base(g, oy, ox, k->ow, k->oc);
    LLVMValueRef c = cg_for(g, &lc, k->oc);
    LLVMValueRef at[MAX_POOL_WINDOW], xs[MAX_POOL_WINDOW], best = NULL, best_pos = NULL;
    for (int p = 0; p < window; p++) {
        at[p] = window_at(g, k, corner, p, c);
        LLVMValueRef xv = xs[p] = cg_load(g, X, at[p]);
        LLVMValueRef pos = LLVMConstInt(g->i32, (unsigned long long)p, 0);
        if (p == 0) {
            best = xv;
            best_pos = pos;
            continue;
        }
        LLVMValueRef better = fgt(g, xv, best);
        best = sel(g, better, xv, best);
        best_pos = sel(g, better, pos, best_pos);
    }
    LLVMValueRef dy = cg_load(g, DY, iadd(g, ybase, c)), zero = cg_f32(g, 0.0);
    for (int p = 0; p < window; p++) {
        LLVMValueRef hit = LLVMBuildICmp(g->b, LLVMIntEQ, best_pos,
                                         LLVMConstInt(g->i32, (unsigned long long)p, 0), "");
        if (k->relu_grad)
            hit = LLVMBuildAnd(g->b, hit, fgt(g, xs[p], zero), "");
        cg_store(g, fadd(g, zero, sel(g, hit, dy, zero)), DX, at[p]);
    }
    cg_end(g, &lc);
    cg_end(g, &lox);
    cg_end(g, &loy);
}

/* Each output's gradient goes to the first maximum of its window (row-major order),
 * recomputed from x. Two passes over the window, both vectorised over channels: the
 * first finds each channel's winning window position, the second adds dy there. */
static void emit_max_pool2d_grad(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef X = in_ptr(g, 0), DY = in_ptr(g, 1), DX = out_ptr(g, 0);
    if (pool_windows_disjoint(k)) {
        max_pool2d_grad_disjoint(g, k);
        return;
    }
    zero_fill(g, DX, k->ih * k->iw * k->ic);
    LLVMValueRef bestv = cg_alloca(g, LLVMArrayType(g->f32, (unsigned)k->oc), "bestv");
    LLVMValueRef bestk = cg_alloca(g, LLVMArrayType(g->i64, (unsigned)k->oc), "bestk");
    cg_loop loy, lox, lc;
    LLVMValueRef oy = cg_for(g, &loy, k->oh);
    LLVMValueRef ox = cg_for(g, &lox, k->ow);
    LLVMValueRef ybase = hwc_base(g, oy, ox, k->ow, k->oc);
    LLVMValueRef c = cg_for(g, &lc, k->oc);
    st(g, cg_f32(g, -HUGE_VALF), cg_gep(g, g->f32, bestv, c));
    st(g, cg_i64(g, -1), cg_gep(g, g->i64, bestk, c));
    cg_end(g, &lc);
    for (int pass = 0; pass < 2; pass++) {
        window w;
        window_open(g, k, oy, ox, &w);
        LLVMValueRef xbase = hwc_base(g, w.iy, w.ix, k->iw, k->ic);
        LLVMValueRef kpos = iadd(g, imul(g, w.ky, k->kw), w.kx);
        c = cg_for(g, &lc, k->oc);
        LLVMValueRef xi = iadd(g, xbase, c);
        LLVMValueRef pv = cg_gep(g, g->f32, bestv, c), pk = cg_gep(g, g->i64, bestk, c);
        LLVMValueRef bk = ld(g, g->i64, pk);
        if (pass == 0) {
            LLVMValueRef xv = cg_load(g, X, xi), bv = ld(g, g->f32, pv);
            LLVMValueRef better = LLVMBuildOr(
                g->b, LLVMBuildICmp(g->b, LLVMIntSLT, bk, cg_i64(g, 0), ""), fgt(g, xv, bv), "");
            st(g, sel(g, better, xv, bv), pv);
            st(g, sel(g, better, kpos, bk), pk);
        } else {
            LLVMValueRef hit = LLVMBuildICmp(g->b, LLVMIntEQ, bk, kpos, "");
            LLVMValueRef add = sel(g, hit, cg_load(g, DY, iadd(g, ybase, c)), cg_f32(g, 0.0));
            cg_store(g, fadd(g, cg_load(g, DX, xi), add), DX, xi);
        }
        cg_end(g, &lc);
        window_close(g, &w);
    }
    cg_end(g, &lox);
    cg_end(g, &loy);
    if (k->relu_grad) {   /* the ReLU's gradient: select(x > 0, dx, 0) */
        cg_loop l;
        LLVMValueRef i = cg_for(g, &l, k->ih * k->iw * k->ic);
        LLVMValueRef positive = fgt(g, cg_load(g, X, i), cg_f32(g, 0.0));
        cg_store(g, sel(g, positive, cg_load(g, DX, i), cg_f32(g, 0.0)), DX, i);
        cg_end(g, &l);
    }
}

static void emit_avg_pool2d_grad(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef DY = in_ptr(g, 0), DX = out_ptr(g, 0);
    zero_fill(g, DX, k->ih * k->iw * k->ic);
    LLVMValueRef count = cg_alloca(g, g->i64, "count");
    cg_loop loy, lox, l;
    LLVMValueRef oy = cg_for(g, &loy, k->oh);
    LLVMValueRef ox = cg_for(g, &lox, k->ow);
    LLVMValueRef ybase = hwc_base(g, oy, ox, k->ow, k->oc);
    /* First pass: the number of real elements in the window; second: the shares. */
    st(g, cg_i64(g, 0), count);
    window w;
    window_open(g, k, oy, ox, &w);
    st(g, iaddc(g, ld(g, g->i64, count), 1), count);
    window_close(g, &w);
    LLVMValueRef n = LLVMBuildSIToFP(g->b, ld(g, g->i64, count), g->f32, "");
    window_open(g, k, oy, ox, &w);
    LLVMValueRef xbase = hwc_base(g, w.iy, w.ix, k->iw, k->ic);
    LLVMValueRef c = cg_for(g, &l, k->oc);
    LLVMValueRef xi = iadd(g, xbase, c);
    LLVMValueRef share = fdiv(g, cg_load(g, DY, iadd(g, ybase, c)), n);
    cg_store(g, fadd(g, cg_load(g, DX, xi), share), DX, xi);
    cg_end(g, &l);
    window_close(g, &w);
    cg_end(g, &lox);
    cg_end(g, &loy);
}

static void emit_global_avg_pool2d_grad(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef DY = in_ptr(g, 0), DX = out_ptr(g, 0);
    cg_loop lp, l;
    LLVMValueRef pix = cg_for(g, &lp, k->ih * k->iw);
    LLVMValueRef base = imul(g, pix, k->ic);
    LLVMValueRef c = cg_for(g, &l, k->ic);
    cg_store(g, fdiv(g, cg_load(g, DY, c), cg_f32(g, (double)(k->ih * k->iw))), DX,
             iadd(g, base, c));
    cg_end(g, &l);
    cg_end(g, &lp);
}

/* dx[i] = sum_o dy[o] k[i,o] for rows [first, IN) -- this call's part of them (part_rows). */
static void dense_grad_input_rows(cnnc_cg *g, const cnnc_kernel *k, int64_t first)
{
    LLVMValueRef DY = in_ptr(g, 0), W = in_ptr(g, 1), DX = out_ptr(g, 0);
    if (first >= k->ic)
        return;
    LLVMValueRef acc = cg_alloca(g, g->f32, "acc"), begin, end;
    part_rows(g, k->ic - first, &begin, &end);
    cg_loop li, l;
    LLVMValueRef i = iaddc(g, cg_for_dynamic(g, &li, begin, end), first);
    LLVMValueRef row = imul(g, i, k->oc);
    st(g, cg_f32(g, 0.0), acc);
    LLVMValueRef o = cg_for(g, &l, k->oc);
    st(g, fmadd_reassoc(g, ld(g, g->f32, acc), cg_load(g, DY, o), cg_load(g, W, iadd(g, row, o))),
       acc);
    cg_end(g, &l);
    cg_store(g, ld(g, g->f32, acc), DX, i);
    cg_end(g, &li);
}

/* Flat blocks: the products k[i,o] dy[o] of a block as NV vectors, then each row's OUT
 * products summed (in output order, as the plain loop); this call's part of the blocks. */
static void dense_grad_input_flat(cnnc_cg *g, const cnnc_kernel *k, const flat_dense *f)
{
    LLVMValueRef DY = in_ptr(g, 0), W = in_ptr(g, 1), DX = out_ptr(g, 0);
    LLVMTypeRef vt = LLVMVectorType(g->f32, (unsigned)f->VW);
    LLVMValueRef dye[FLAT_DENSE_MAX_NV];
    flat_outputs(g, k, f, DY, dye);
    LLVMValueRef prods = cg_alloca(g, LLVMArrayType(g->f32, (unsigned)f->L), "products");
    LLVMValueRef first, last;
    part_rows(g, f->blocks, &first, &last);
    cg_loop lb;
    LLVMValueRef b = cg_for_dynamic(g, &lb, first, last);
    LLVMValueRef wb = imul(g, b, f->L);
    for (int v = 0; v < f->NV; v++) {
        LLVMValueRef w = vec_load(g, vt, W, iaddc(g, wb, (int64_t)v * f->VW));
        vec_store(g, fmul(g, w, dye[v]), prods, cg_i64(g, (int64_t)v * f->VW));
    }
    for (int r = 0; r < f->R; r++) {
        LLVMValueRef sum = cg_load(g, prods, cg_i64(g, (int64_t)r * k->oc));
        for (int64_t o = 1; o < k->oc; o++)
            sum = fadd(g, sum, cg_load(g, prods, cg_i64(g, r * k->oc + o)));
        cg_store(g, sum, DX, iaddc(g, imul(g, b, f->R), r));
    }
    cg_end(g, &lb);
}


/* dk[i,o] (+)= x[i] dy[o] for rows [first, IN). */
static void dense_grad_kernel_rows(cnnc_cg *g, const cnnc_kernel *k, int64_t first)
{
    LLVMValueRef X = in_ptr(g, 0), DY = in_ptr(g, 1), DK = out_ptr(g, 0);
    if (first >= k->ic)
        return;
    cg_loop li, l;
    LLVMValueRef i = iaddc(g, cg_for(g, &li, k->ic - first), first);
    LLVMValueRef xv = cg_load(g, X, i), row = imul(g, i, k->oc);
    LLVMValueRef o = cg_for(g, &l, k->oc);
    LLVMValueRef at = iadd(g, row, o);
    LLVMValueRef v = k->accumulate ? fmadd(g, cg_load(g, DK, at), xv, cg_load(g, DY, o))
                                   : fmul(g, xv, cg_load(g, DY, o));
    cg_store(g, v, DK, at);
    cg_end(g, &l);
    cg_end(g, &li);
}

/* Flat blocks: each weight's gradient is one lane, x and dy spread over the lanes. */
static void dense_grad_kernel_flat(cnnc_cg *g, const cnnc_kernel *k, const flat_dense *f)
{
    LLVMValueRef X = in_ptr(g, 0), DY = in_ptr(g, 1), DK = out_ptr(g, 0);
    LLVMTypeRef vt = LLVMVectorType(g->f32, (unsigned)f->VW);
    LLVMValueRef dye[FLAT_DENSE_MAX_NV], xe[FLAT_DENSE_MAX_NV];
    flat_outputs(g, k, f, DY, dye);
    cg_loop lb;
    LLVMValueRef b = cg_for(g, &lb, f->blocks);
    flat_rows(g, k, f, X, b, xe);
    LLVMValueRef wb = imul(g, b, f->L);
    for (int v = 0; v < f->NV; v++) {
        LLVMValueRef at = iaddc(g, wb, (int64_t)v * f->VW);
        LLVMValueRef d = k->accumulate ? vec_fma(g, xe[v], dye[v], vec_load(g, vt, DK, at))
                                       : fmul(g, xe[v], dye[v]);
        vec_store(g, d, DK, at);
    }
    cg_end(g, &lb);
}

static void emit_dense_grad_input(cnnc_cg *g, const cnnc_kernel *k)
{
    dense_blocks_then_rows(g, k, dense_grad_input_flat, dense_grad_input_rows);
}

static void emit_dense_grad_kernel(cnnc_cg *g, const cnnc_kernel *k)
{
    dense_blocks_then_rows(g, k, dense_grad_kernel_flat, dense_grad_kernel_rows);
}

/* ---- Grad-CAM ------------------------------------------------------------------------- */

/* ReLU, divide by the maximum; all zeros when the maximum is 0. out[1] gets the maximum. */
static void emit_cam_finish(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef RAW = in_ptr(g, 0), MAP = out_ptr(g, 0);
    LLVMValueRef mx = cg_alloca(g, g->f32, "max");
    st(g, cg_f32(g, 0.0), mx);
    cg_loop l;
    LLVMValueRef i = cg_for(g, &l, k->n);
    LLVMValueRef r = cg_load(g, RAW, i), m = ld(g, g->f32, mx);
    r = cnnc_ew_emit(g, CNNC_EW_RELU, &r, 0.0f);
    st(g, sel(g, fgt(g, r, m), r, m), mx);
    cg_end(g, &l);
    LLVMValueRef max = ld(g, g->f32, mx);
    LLVMValueRef positive = fgt(g, max, cg_f32(g, 0.0));
    i = cg_for(g, &l, k->n);
    r = cg_load(g, RAW, i);
    r = cnnc_ew_emit(g, CNNC_EW_RELU, &r, 0.0f);
    cg_store(g, sel(g, positive, fdiv(g, r, max), cg_f32(g, 0.0)), MAP, i);
    cg_end(g, &l);
    if (k->out[1] >= 0)
        cg_store(g, max, out_ptr(g, 1), cg_i64(g, 0));
}

/* ---- program outputs ------------------------------------------------------------------ */

static void emit_copy(cnnc_cg *g, const cnnc_kernel *k, int accumulate)
{
    cg_loop l;
    LLVMValueRef i = cg_for(g, &l, k->n);
    LLVMValueRef v = cg_load(g, in_ptr(g, 0), i);
    if (accumulate)
        v = fadd(g, cg_load(g, out_ptr(g, 0), i), v);
    cg_store(g, v, out_ptr(g, 0), i);
    cg_end(g, &l);
}

/* stats[0] += loss; stats[1] += argmax(probs) == label. */
static void emit_stats(cnnc_cg *g, const cnnc_kernel *k)
{
    LLVMValueRef S = out_ptr(g, 0), zero = cg_i64(g, 0), one = cg_i64(g, 1);
    cg_store(g, fadd(g, cg_load(g, S, zero), cg_load(g, in_ptr(g, 0), zero)), S, zero);
    LLVMValueRef best = LLVMBuildSIToFP(g->b, argmax(g, in_ptr(g, 1), k->n), g->f32, "");
    LLVMValueRef hit = LLVMBuildFCmp(g->b, LLVMRealOEQ, best, cg_load(g, in_ptr(g, 2), zero), "");
    cg_store(g, fadd(g, cg_load(g, S, one), sel(g, hit, cg_f32(g, 1.0), cg_f32(g, 0.0))), S, one);
}

static void emit_label(cnnc_cg *g)
{
    cg_store(g, LLVMBuildSIToFP(g->b, param(g, CG_K_LABEL), g->f32, ""), out_ptr(g, 0),
             cg_i64(g, 0));
}

/* ---- the kernel function -------------------------------------------------------------- */

void cnnc_cg_declare_helpers(cnnc_cg *g)
{
    LLVMTypeRef f32_f32 = LLVMFunctionType(g->f32, &g->f32, 1, 0);
    g->tanhf = LLVMAddFunction(g->mod, "tanhf", f32_f32);

    LLVMTypeRef i64_i64 = LLVMFunctionType(g->i64, &g->i64, 1, 0);
    g->mix64 = LLVMAddFunction(g->mod, "cnnc_mix64", i64_i64);
    LLVMSetLinkage(g->mix64, LLVMInternalLinkage);
    LLVMValueRef saved_fn = g->fn;
    LLVMBasicBlockRef saved_entry = g->entry;
    g->fn = g->mix64;
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, g->mix64, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    LLVMValueRef z = LLVMGetParam(g->mix64, 0);
    LLVMValueRef c1 = LLVMConstInt(g->i64, 0x9E3779B97F4A7C15ull, 0);
    LLVMValueRef c2 = LLVMConstInt(g->i64, 0xBF58476D1CE4E5B9ull, 0);
    LLVMValueRef c3 = LLVMConstInt(g->i64, 0x94D049BB133111EBull, 0);
    z = LLVMBuildAdd(g->b, z, c1, "");
    z = LLVMBuildMul(g->b, LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, cg_i64(g, 30), ""), ""),
                     c2, "");
    z = LLVMBuildMul(g->b, LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, cg_i64(g, 27), ""), ""),
                     c3, "");
    z = LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, cg_i64(g, 31), ""), "");
    LLVMBuildRet(g->b, z);
    g->fn = saved_fn;
    g->entry = saved_entry;
}

static void add_attr(cnnc_cg *g, LLVMValueRef fn, unsigned index, const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, index, LLVMCreateEnumAttribute(g->ctx, kind, 0));
}

/* Appends v to the key if there is room; returns the new length. */
static size_t key_put(int64_t *key, size_t len, size_t cap, int64_t v)
{
    if (len < cap)
        key[len] = v;
    return len + 1;
}

static int64_t float_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* An update program's kernel writes its arguments in place (out[o] is one of in[]):
 * element i is read before it is written, but the pointers alias, so none is noalias. */
static int in_place(const cnnc_kernel *k)
{
    for (int o = 0; o < CNNC_KERNEL_MAX_OUT; o++)
        if (aliased_input(k, o) >= 0)
            return 1;
    return 0;
}

/* The steps of an ew chain (or of a conv2d / dense epilogue). */
static size_t steps_key(const cnnc_kernel *k, int64_t *key, size_t n, size_t cap)
{
    n = key_put(key, n, cap, k->num_steps);
    for (int s = 0; s < k->num_steps; s++) {
        const cnnc_ew_step *st = &k->steps[s];
        int64_t step[] = {st->kind, st->fn, float_bits(st->alpha), st->arg[0], st->arg[1],
                          st->arg[2], float_bits(st->imm[0]), float_bits(st->imm[1]),
                          float_bits(st->imm[2]), st->dropout_index, float_bits(st->rate)};
        for (size_t i = 0; i < sizeof step / sizeof step[0]; i++)
            n = key_put(key, n, cap, step[i]);
    }
    return n;
}

/* Marks the key of a size-generic kernel (the sized keys have k->ih >= 0 there). */
enum { KEY_GENERIC = -1 };

/* A size-generic ew kernel (emit_elementwise): its steps, how each input is read (which
 * implies which are present), whether the loop is split and the row's length, whether
 * it has more than one element (once loads, invariant steps), which outputs are present,
 * which step each stores and which input it writes in place (ew_out_ptr, writes_input;
 * and no noalias). Not the number of rows. */
static size_t ew_key(const cnnc_kernel *k, const ew_form *f, int64_t *key, size_t cap)
{
    size_t n = 0;
    n = key_put(key, n, cap, k->kind);
    n = key_put(key, n, cap, KEY_GENERIC);
    n = steps_key(k, key, n, cap);
    for (int s = 0; s < CNNC_KERNEL_MAX_IN; s++)
        n = key_put(key, n, cap, f->read[s]);
    n = key_put(key, n, cap, f->inner);
    n = key_put(key, n, cap, f->n > 1);
    for (int o = 0; o < CNNC_KERNEL_MAX_OUT; o++) {
        n = key_put(key, n, cap, k->out[o] >= 0);
        n = key_put(key, n, cap, k->out_step[o]);
        n = key_put(key, n, cap, aliased_input(k, o));
    }
    return n;
}

/* A size-generic reduction (emit_reduce): its kind, whether it has outer rows and more
 * than one reduced element, and its inner length. Not the outer and reduced counts. */
static size_t reduce_key(const cnnc_kernel *k, const reduce_form *f, int64_t *key, size_t cap)
{
    int64_t fields[] = {k->kind,         KEY_GENERIC, k->reduce,  f->outer > 1,
                        f->reduced > 1, f->inner,    in_place(k)};
    size_t n = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        n = key_put(key, n, cap, fields[i]);
    return n;
}

size_t cnnc_cg_kernel_key(const cnnc_lowered *p, int index, int sized, int64_t *key,
                          size_t cap)
{
    const cnnc_kernel *k = &p->kernels[index];
    ew_form ew;
    reduce_form red;
    if (!sized && k->kind == CNNC_K_EW && (ew_form_of(p, k, &ew), ew.generic))
        return ew_key(k, &ew, key, cap);
    if (!sized && k->kind == CNNC_K_REDUCE && (reduce_form_of(k, &red), red.generic))
        return reduce_key(k, &red, key, cap);
    size_t n = 0;
    int64_t fields[] = {k->kind, k->ih, k->iw, k->ic, k->oh, k->ow, k->oc, k->kh, k->kw, k->sh,
                        k->sw, k->pad_top, k->pad_left, k->n, k->num_steps, k->shape.rank,
                        k->axes, k->reduce, float_bits(k->value), k->accumulate,
                        k->relu_grad};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        n = key_put(key, n, cap, fields[i]);
    for (int i = 0; i < k->shape.rank; i++)
        n = key_put(key, n, cap, k->shape.dim[i]);
    n = steps_key(k, key, n, cap);
    /* Which buffers are there (bias, scratch, secondary outputs), and their sizes (an ew
     * kernel broadcasts by them). */
    for (int i = 0; i < CNNC_KERNEL_MAX_IN; i++)
        n = key_put(key, n, cap, k->in[i] >= 0 ? p->bufs[k->in[i]].size : -1);
    for (int i = 0; i < CNNC_KERNEL_MAX_OUT; i++)
        n = key_put(key, n, cap, k->out[i] >= 0 ? p->bufs[k->out[i]].size : -1);
    /* Which step each output stores, and whether it writes in place (no noalias). */
    for (int i = 0; i < CNNC_KERNEL_MAX_OUT; i++)
        n = key_put(key, n, cap, k->out_step[i]);
    n = key_put(key, n, cap, in_place(k));
    return n;
}

LLVMValueRef cnnc_cg_kernel(cnnc_cg *g, const cnnc_lowered *p, int index, int sized,
                            const char *fn_name)
{
    const cnnc_kernel *k = &p->kernels[index];
    int64_t sizes[CG_K_NUM_SIZES];
    int generic = !sized && cnnc_cg_kernel_sizes(p, index, sizes) > 0;
    LLVMValueRef fn = LLVMAddFunction(g->mod, fn_name,
                                      generic ? g->kernel_type : g->sized_kernel_type);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_attr(g, fn, LLVMAttributeFunctionIndex, "nounwind");
    /* Kernels stay separate functions: the optimiser works on one loop nest at a time
     * (inlining them all into the worker made compile time superlinear), noalias keeps
     * its full meaning, and a call per kernel per image costs nothing measurable. */
    add_attr(g, fn, LLVMAttributeFunctionIndex, "noinline");
    int aliased = in_place(k);
    for (unsigned i = 0; i < CNNC_KERNEL_MAX_OUT + CNNC_KERNEL_MAX_IN; i++) {
        if (!aliased)
            add_attr(g, fn, i + 1, "noalias");
        add_attr(g, fn, i + 1, "nocapture");
    }
    g->fn = fn;
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    switch (k->kind) {
    case CNNC_K_CONV2D:
        if (cnnc_conv_tiled(k))
            emit_conv2d_tiled(g, k);
        else
            emit_conv2d(g, k);
        break;
    case CNNC_K_DENSE: emit_dense(g, k); break;
    case CNNC_K_MAX_POOL2D: emit_pool2d(g, k, 1); break;
    case CNNC_K_AVG_POOL2D: emit_pool2d(g, k, 0); break;
    case CNNC_K_GLOBAL_AVG_POOL2D: emit_global_avg_pool2d(g, k); break;
    case CNNC_K_EW: emit_elementwise(g, p, k, sized); break;
    case CNNC_K_REDUCE: emit_reduce(g, k, sized); break;
    case CNNC_K_BROADCAST: emit_broadcast(g, k); break;
    case CNNC_K_FILL: emit_fill(g, k); break;
    case CNNC_K_SOFTMAX: emit_softmax_xent(g, k); break;
    case CNNC_K_SOFTMAX_XENT: emit_softmax_xent(g, k); break;
    case CNNC_K_XENT: emit_xent(g, k, 0); break;
    case CNNC_K_XENT_GRAD: emit_xent(g, k, 1); break;
    case CNNC_K_MSE: emit_mse(g, k, 0); break;
    case CNNC_K_MSE_GRAD: emit_mse(g, k, 1); break;
    case CNNC_K_LABEL: emit_label(g); break;
    case CNNC_K_CONV2D_GRAD_INPUT:
        if (cnnc_conv_grad_input_tiled(k))
            emit_conv2d_grad_input_tiled(g, k);
        else
            emit_conv2d_grad_input(g, k);
        break;
    case CNNC_K_CONV2D_GRAD_KERNEL:
        if (cnnc_conv_grad_kernel_tiled(k))
            emit_conv2d_grad_kernel_tiled(g, k);
        else
            emit_conv2d_grad_kernel(g, k);
        break;
    case CNNC_K_BIAS_GRAD: emit_bias_grad(g, k); break;
    case CNNC_K_MAX_POOL2D_GRAD: emit_max_pool2d_grad(g, k); break;
    case CNNC_K_AVG_POOL2D_GRAD: emit_avg_pool2d_grad(g, k); break;
    case CNNC_K_GLOBAL_AVG_POOL2D_GRAD: emit_global_avg_pool2d_grad(g, k); break;
    case CNNC_K_DENSE_GRAD_INPUT: emit_dense_grad_input(g, k); break;
    case CNNC_K_DENSE_GRAD_KERNEL: emit_dense_grad_kernel(g, k); break;
    case CNNC_K_CLASS_SCORE_GRAD: emit_class_score_grad(g, k); break;
    case CNNC_K_COPY: emit_copy(g, k, 0); break;
    case CNNC_K_ACCUMULATE: emit_copy(g, k, 1); break;
    case CNNC_K_STATS: emit_stats(g, k); break;
    case CNNC_K_CAM_FINISH: emit_cam_finish(g, k); break;
    case CNNC_K_FLIP_TRANSPOSE: emit_flip_transpose(g, k); break;
    default:
        cnnc_error(g->d, (cnnc_loc){0, 0, 0}, "code generator: no emitter for kernel '%s'",
                   cnnc_kernel_kind_name(k->kind));
        LLVMBuildRetVoid(g->b);
        return NULL;
    }
    LLVMBuildRetVoid(g->b);
    return fn;
}
