/* Shared by the codegen_* files (module, programs, entry points, descriptor, target,
 * emission, JIT: codegen_module.h) and kernels.c (the loop kernels): the builder state and
 * small IR-building helpers. Not a public API. */
#ifndef CNNC_CODEGEN_INTERNAL_H
#define CNNC_CODEGEN_INTERNAL_H

#include <llvm-c/Core.h>
#include <stdint.h>

#include "diag.h"
#include "elementwise.h"
#include "lower.h"

typedef struct cnnc_cg {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTypeRef f32, f64, i64, i32, i8, i1, ptr, void_t;
    LLVMTypeRef kernel_type;      /* a size-generic kernel's signature (CG_K_*) */
    LLVMTypeRef sized_kernel_type; /* every other kernel's: without the sizes */
    LLVMValueRef fn;              /* function being built */
    LLVMBasicBlockRef entry;      /* its entry block (allocas go there) */
    LLVMValueRef mix64;           /* i64 cnnc_mix64(i64): dropout hashing */
    LLVMValueRef tanhf;           /* libm tanhf */
    cnnc_diag *d;
    int wide;                     /* 16-float vectors for the tiles (AVX-512 host) */
} cnnc_cg;

/* Kernel function parameters, in this order. */
enum {
    CG_K_OUT0 = 0,                              /* out[0..2] */
    CG_K_IN0 = CNNC_KERNEL_MAX_OUT,             /* in[0..5] */
    CG_K_IMAGE = CNNC_KERNEL_MAX_OUT + CNNC_KERNEL_MAX_IN,
    CG_K_SEED,
    CG_K_LABEL,
    CG_K_SCORE_MODE,
    CG_K_PART,          /* this call computes part PART of PARTS of the kernel's output */
    CG_K_PARTS,         /* (cnnc_cg_kernel_splits; other kernels get 0 of 1) */
    CG_K_ROWS,          /* a size-generic kernel's sizes (cnnc_cg_kernel_sizes): */
    CG_K_REDUCED,       /* ... its rows and a reduction's reduced length */
    CG_K_NUM_PARAMS
};
enum { CG_K_NUM_SIZES = CG_K_NUM_PARAMS - CG_K_ROWS };

/* Emits the body of kernel k as a new internal function; returns it, or NULL after a
 * diagnostic. sized: with its sizes as constants even when it could be size-generic
 * (cnnc_cg_kernel_sizes; the module has it at one size only). */
LLVMValueRef cnnc_cg_kernel(cnnc_cg *g, const cnnc_lowered *p, int k, int sized,
                            const char *fn_name);
/* Everything the body cnnc_cg_kernel emits for kernel k depends on -- its kind, geometry,
 * steps and attributes, which of its buffers are present and their sizes -- as numbers in
 * key[0..cap). Returns the key's length (more than cap: it did not fit). Kernels with
 * equal keys have identical bodies, so a module emits each body once
 * (codegen_programs.c). Elementwise and reduce kernels can be size-generic: their key
 * then keeps only the pattern of their loops, and their counts come at run time
 * (cnnc_cg_kernel_sizes); sized: the key of the kernel emitted with constant sizes (as
 * cnnc_cg_kernel's). Keep it next to the emitters: whatever an emitter starts to read
 * must be added here. */
size_t cnnc_cg_kernel_key(const cnnc_lowered *p, int k, int sized, int64_t *key, size_t cap);
/* The run-time sizes a call of kernel k passes as its arguments CG_K_ROWS.. when it is
 * emitted size-generic: returns how many, CG_K_NUM_SIZES for a kernel that can be (its
 * function then has kernel_type), 0 for the others, whose sizes are always constants of
 * their body (sized_kernel_type, as a kernel emitted sized). */
int cnnc_cg_kernel_sizes(const cnnc_lowered *p, int k, int64_t sizes[CG_K_NUM_SIZES]);
/* Calls fn, the function of kernel k of p, with args[0..CG_K_ROWS) (buffers, image, seed,
 * label, score mode, part), and its sizes when fn was emitted size-generic. */
void cnnc_cg_call_kernel(cnnc_cg *g, LLVMValueRef fn, const cnnc_lowered *p, int k,
                         LLVMValueRef args[CG_K_NUM_PARAMS]);
void cnnc_cg_declare_helpers(cnnc_cg *g);
/* Whether kernel k splits its output over the members of a team (cnnrt_parallel_team):
 * called with part p of P, it computes its own output rows -- each output element by one
 * member, with the same summation order whatever P, so results do not depend on P -- and
 * the members must meet at a barrier (cg_team_barrier) before anything reads its output.
 * Other kernels must be called with part 0 of 1. */
int cnnc_cg_kernel_splits(const cnnc_kernel *k);
/* A call of the runtime's cnnrt_team_barrier (a no-op outside a team). */
void cg_team_barrier(cnnc_cg *g);

/* fn applied to x[0..arity-1] (floats or vectors of floats alike): elementwise.c. */
LLVMValueRef cnnc_ew_emit(cnnc_cg *g, cnnc_ew_fn fn, LLVMValueRef *x, float alpha);

/* ---- helpers (kernels.c) -------------------------------------------------------------- */

LLVMValueRef cg_i64(cnnc_cg *g, int64_t v);
LLVMValueRef cg_f32(cnnc_cg *g, double v);
LLVMValueRef cg_f64(cnnc_cg *g, double v);
LLVMValueRef cg_gep(cnnc_cg *g, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef index);
LLVMValueRef cg_load(cnnc_cg *g, LLVMValueRef base, LLVMValueRef index);   /* float */
void cg_store(cnnc_cg *g, LLVMValueRef value, LLVMValueRef base, LLVMValueRef index);
LLVMValueRef cg_alloca(cnnc_cg *g, LLVMTypeRef type, const char *name);
LLVMValueRef cg_intrinsic(cnnc_cg *g, const char *name, LLVMTypeRef type, LLVMValueRef *args,
                          int nargs);

/* Counted loops with a constant trip count n >= 1: `i = cg_for(g, &l, n); ...;
 * cg_end(g, &l);` */
typedef struct cg_loop {
    LLVMValueRef iv;
    LLVMBasicBlockRef body, exit;
    LLVMValueRef limit;
} cg_loop;
LLVMValueRef cg_for(cnnc_cg *g, cg_loop *l, int64_t n);
/* The same with a trip count known only at run time, n >= 1 (no test before the first
 * iteration). */
LLVMValueRef cg_for_count(cnnc_cg *g, cg_loop *l, LLVMValueRef n);
/* The same with a run-time limit (>= 0); the loop may run zero times. */
LLVMValueRef cg_for_dynamic(cnnc_cg *g, cg_loop *l, LLVMValueRef begin, LLVMValueRef end);
void cg_end(cnnc_cg *g, cg_loop *l);
/* if (cond) { ... } */
LLVMBasicBlockRef cg_if(cnnc_cg *g, LLVMValueRef cond);
void cg_endif(cnnc_cg *g, LLVMBasicBlockRef merge);

#endif
