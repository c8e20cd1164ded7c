/* The module being generated, shared by the codegen_* files (not a public API):
 *   codegen.c             the whole module: programs, entry points, descriptor, verified
 *   codegen_programs.c    program assembly: the model's programs lowered, each kernel body
 *                         emitted once, the worker that runs a program's kernels per image
 *   codegen_entry.c       the entry-point ABI of cnnrt_model.h: arguments -> worker ctx ->
 *                         cnnrt_parallel_for, the train step's reduction and update,
 *                         the phases of a train step with batch_norm
 *   codegen_descriptor.c  the `const cnnrt_model NAME_model` descriptor
 *   codegen_target.c      target machine and optimisation pipeline
 *   codegen_emit.c        object / assembly / IR / linked program (cnnc_codegen_run)
 *   codegen_parallel.c    a program's module optimised and emitted in parts, on threads
 *   codegen_jit.c         the module in this process (cnnc_jit_*)
 * The loop kernels themselves are kernels.c (codegen_internal.h). */
#ifndef CNNC_CODEGEN_MODULE_H
#define CNNC_CODEGEN_MODULE_H

#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/TargetMachine.h>
#include <stdint.h>

#include "codegen.h"
#include "codegen_internal.h"
#include "link.h"
#include "lower.h"

/* ---- the programs of a model (codegen_programs.c) -------------------------------------- */

typedef struct cg_program {
    cnnc_program_kind kind;
    cnnc_graph *graph;          /* owned when not the forward graph */
    cnnc_lowered *lowered;
    char entry[512];            /* NAME_infer, NAME_train_step, NAME_gradcam,
                                   NAME_guided_backprop */
    LLVMValueRef entry_fn;
    /* TRAIN: the train step's halves, NAME_train_gradients and NAME_train_update. */
    LLVMValueRef gradients_fn, update_entry_fn;
    /* INFER, CAM, GUIDED: the worker for calls with fewer images than threads, which
     * splits each image's work over them (codegen_programs.c), or NULL. */
    LLVMValueRef team_worker;
    /* TRAIN: the optimizer's update program (optimizers.h), run after the reduction. */
    cnnc_graph *update_graph;
    cnnc_lowered *update;
    LLVMValueRef *update_fns;
    /* TRAIN with batch_norm: phases separated by its batch statistics (the BATCH_MEAN
     * kernels at batch_means[0..num_phases-1)), each phase a worker run over all the
     * images before the entry computes the next statistic (codegen_entry.c). 0 phases:
     * one worker runs every kernel. */
    int num_phases;
    LLVMValueRef *phase_workers;
    int *batch_means;
} cg_program;

typedef struct cg_model {
    const cnnc_graph *forward;
    const cnnc_codegen_options *opts;
    cnnc_diag *d;
    char name[200];             /* C identifier of the model */
    cg_program *progs;
    int num_progs;
    int *cam_layers;            /* the Grad-CAM targets (indices into forward->layers) */
    int num_cam_layers;
    int64_t ws_floats;          /* per thread: the largest program's (cnnc_ws_layout) */
} cg_model;

/* Builds and lowers the programs opts asks for (dumping them with --dump-ir=lowered) and
 * sets ws_floats; -1 after a diagnostic. */
int cg_build_programs(cg_model *m);
void cg_free_programs(cg_model *m);

/* ---- module-level IR ------------------------------------------------------------------ */

/* A kernel body already in the module, by its key (cnnc_cg_kernel_key). */
enum { CG_KERNEL_KEY_MAX = 512 };
typedef struct cg_emitted_kernel {
    int64_t key[CG_KERNEL_KEY_MAX];
    size_t len;
    uint64_t hash;
    LLVMValueRef fn;
    /* cg_plan_kernel_sizes: a size-generic key's first sizes, and whether the module has
     * it at other sizes too */
    int64_t sizes[CG_K_NUM_SIZES];
    int sizes_differ;
} cg_emitted_kernel;

typedef struct cg_module {
    cnnc_cg g;
    LLVMTypeRef ctx_type, task_type, parallel_for_type, pool_threads_type;
    LLVMValueRef parallel_for, pool_threads;
    cg_emitted_kernel *kernels; /* every kernel body emitted, shared by all programs */
    int num_kernels, cap_kernels;
    cg_emitted_kernel *generic; /* every size-generic key of the module's kernels */
    int num_generic, cap_generic;
} cg_module;

/* The worker ctx: the entry point's arguments as the worker reads them, a stack struct
 * with one 8-byte field each (codegen_entry.c fills it, the worker reads it). */
typedef enum cg_ctx_field {
    CTX_PARAMS, CTX_OPT_STATE, CTX_X, CTX_LABELS, CTX_N, CTX_SEED, CTX_SCORE_MODE,
    CTX_CAM_TARGET, CTX_CAM_METHOD, CTX_WS, CTX_PROBS, CTX_MAPS, CTX_MAP_MAX, CTX_INPUT_GRADS,
    CTX_LOGITS, CTX_BATCH_ARENA, CTX_FIELDS
} cg_ctx_field;
int cg_ctx_field_is_int(cg_ctx_field field);
LLVMValueRef cg_ctx_load(cg_module *s, LLVMValueRef ctx, cg_ctx_field field);
void cg_ctx_store(cg_module *s, LLVMValueRef ctx, cg_ctx_field field, LLVMValueRef v);

/* A float* into base at index. */
LLVMValueRef cg_fptr(cnnc_cg *g, LLVMValueRef base, LLVMValueRef index);
/* Adds the enum attribute `name` to fn at index (LLVMAttributeFunctionIndex: fn itself). */
void cg_add_fn_attr(cnnc_cg *g, LLVMValueRef fn, unsigned index, const char *name);
/* Marks fn, a worker (it only calls kernels in sequence, each under its guard), as glue:
 * optnone, with the noinline it requires, so that the optimisation pipeline skips it and
 * instruction selection takes the fast path (FastISel). The Grad-CAM program's workers
 * are the largest functions of a module (hundreds of guarded calls): optimising them cost
 * more than any kernel, for nothing measurable at run time (a call per kernel per image,
 * next to kernels of thousands of FLOPs; Grad-CAM and inference at batch 1 within noise).
 * models/mnist.cnn compiled with 9% less CPU time, models/fashion_bn.cnn 16% less. The
 * kernels' optimised code is unchanged. */
void cg_mark_glue(cnnc_cg *g, LLVMValueRef fn);

/* Finds which size-generic kernels (cnnc_cg_kernel_sizes) the module's programs have at
 * more than one size: those are emitted size-generic, every other kernel with its sizes as
 * constants (a run-time count only costs where it saves a function). Before
 * cg_emit_program. */
void cg_plan_kernel_sizes(cg_module *s, const cg_model *m);
/* Emits program p: its kernels (once per module), its worker and its entry point (p's
 * entry_fn). -1 after a diagnostic. */
int cg_emit_program(cg_module *s, cg_model *m, cg_program *p);

/* The entry point of p (codegen_entry.c), calling worker over the images (or, for a
 * phased training step, p's phase workers). -1 after a diagnostic. */
int cg_emit_entry(cg_module *s, cg_model *m, cg_program *p, LLVMValueRef worker);

/* The descriptor `const cnnrt_model NAME_model` (codegen_descriptor.c); returns it. */
LLVMValueRef cg_emit_descriptor(cg_module *s, const cg_model *m);

/* Builds the whole module in ctx, verified, or NULL after diagnostics (codegen.c). With
 * with_program_model, also `cnnrt_program_model` (a linked program's model); with info,
 * what the -c header needs (freed by cg_free_header_info). */
LLVMModuleRef cg_build_module(const cnnc_graph *forward, const cnnc_codegen_options *opts,
                              LLVMContextRef ctx, int with_program_model,
                              cnnc_header_info *info, cnnc_diag *d);
void cg_free_header_info(cnnc_header_info *info);

/* ---- target (codegen_target.c) --------------------------------------------------------- */

/* The target machine for opts (the host CPU, or --target-cpu), NULL after a diagnostic. */
LLVMTargetMachineRef cg_make_target_machine(const cnnc_codegen_options *o, cnnc_diag *d);
/* Whether the kernels use 16-float vectors (an AVX-512 host). */
int cg_wide_vectors(const cnnc_codegen_options *o);
/* Sets mod's triple and data layout for tm. */
void cg_set_module_target(LLVMModuleRef mod, LLVMTargetMachineRef tm);
/* Sets mod's triple and data layout for tm and runs the optimisation pipeline; NULL or
 * the error (cg_run_pipeline touches nothing but mod and tm: threads may call it). */
LLVMErrorRef cg_run_pipeline(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level);
/* The same, the error reported through d. */
int cg_optimise(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level, cnnc_diag *d);
/* Reports an LLVM error ("what: message") and consumes it; returns -1. */
int cg_llvm_error(cnnc_diag *d, const char *what, LLVMErrorRef err);

/* ---- parts compiled on threads (codegen_parallel.c) ------------------------------------ */

enum { CNNC_MAX_CODEGEN_PARTS = 8 };
/* Optimises mod (built, not yet optimised; changed) as `parts` object files written to
 * paths[0..parts), each compiled on its own thread, that linked together are the module.
 * -1 after a diagnostic. */
int cg_emit_parts(LLVMModuleRef mod, const cnnc_codegen_options *opts, int parts,
                  const char *const *paths, cnnc_diag *d);

#endif
