/* Code generation: lowered programs -> LLVM IR (through the LLVM C API) -> optimised for
 * the host CPU (or --target-cpu, or another machine: --target, cross_target.h) -> an object
 * file, assembly, textual IR, a linked native program, or code in this process (the JIT
 * the tests compare with the interpreter).
 *
 * For a model NAME the module defines the entry points of runtime/cnnrt_model.h:
 *   NAME_infer, NAME_train_step, NAME_gradcam (every target layer and method, chosen at
 *   run time), NAME_guided_backprop, and the descriptor `const cnnrt_model NAME_model`
 *   pointing at them.
 * Each entry point stores its arguments in a stack struct and calls
 * cnnrt_parallel_for(pool, n, NAME_<program>_worker, &ctx); the worker runs the lowered
 * kernels image by image on its own slice of ws. The training step then reduces the
 * per-thread gradients in a fixed order and applies the optimizer. */
#ifndef CNNC_CODEGEN_H
#define CNNC_CODEGEN_H

#include <stdio.h>

#include "cnnrt_model.h"
#include "graph.h"

typedef enum cnnc_emit_kind {
    CNNC_EMIT_PROGRAM,    /* -o PROG: object linked with libcnnrt_main + libcnnrt */
    CNNC_EMIT_OBJECT,     /* -c -o model.o, plus model.h next to it */
    CNNC_EMIT_ASM,        /* -S -o model.s */
    CNNC_EMIT_LLVM_IR,    /* --emit-llvm -o model.ll */
    CNNC_EMIT_NONE,       /* build, verify and optimise only (and the dumps) */
} cnnc_emit_kind;

/* Which programs to generate (a mask; 0 = all). Tests leave some out to stay fast. */
enum { CNNC_GEN_INFER = 1, CNNC_GEN_TRAIN = 2, CNNC_GEN_CAMS = 4, CNNC_GEN_ALL = 7 };

typedef struct cnnc_codegen_options {
    cnnc_emit_kind emit;
    const char *output;        /* output path (required except for CNNC_EMIT_NONE) */
    int opt_level;             /* 0..3, default 2 */
    const char *target_cpu;    /* NULL or "native" = the host CPU; e.g. "x86-64-v3" */
    FILE *dump_lowered;        /* --dump-ir=lowered: the kernel lists go here, or NULL */
    int programs;              /* CNNC_GEN_* mask, 0 = all */
    const char *runtime_lib_dir; /* where libcnnrt*.a are (NULL: next to cnnc, ../lib) */
    const char *cc;            /* linker driver (NULL: $CC, else "cc") */
    const char *only_cam_layer; /* Grad-CAM for this target layer only (NULL: every
                                   spatial layer) -- keeps tests fast */
    const char *target_triple; /* --target: NULL = the host; e.g. "aarch64-linux-gnu",
                                  "wasm32" (cross_target.h) */
    const float *embedded_params; /* --embed-weights: param_floats floats emitted as
                                     const float NAME_weights[] (NULL: none) */
    int jobs;                  /* -o PROG: threads (and object files) the module is
                                  compiled in; 0 = one per CPU (-j) */
} cnnc_codegen_options;

void cnnc_codegen_options_init(cnnc_codegen_options *o);

/* Generates the model's code and writes what opts->emit asks for. Every failure (an op
 * without a lowering, an LLVM error, an unwritable output, a missing linker or runtime
 * library) is reported through d and returns -1. */
int cnnc_codegen_run(const cnnc_graph *forward, const cnnc_codegen_options *opts,
                     cnnc_diag *d);

/* ---- JIT: the generated code in this process ---------------------------------------- */

typedef struct cnnc_jit cnnc_jit;
/* Symbols the generated code may call that the process does not export by itself (a
 * test passes cnnrt_parallel_for and cnnrt_pool_threads, which a static libcnnrt only
 * links in when referenced). Everything else resolves from the process (libm). */
typedef struct cnnc_jit_symbol {
    const char *name;
    void *address;
} cnnc_jit_symbol;

cnnc_jit *cnnc_jit_compile(const cnnc_graph *forward, const cnnc_codegen_options *opts,
                           const cnnc_jit_symbol *symbols, int num_symbols, cnnc_diag *d);
/* The NAME_model descriptor of the compiled module; valid until cnnc_jit_free. */
const cnnrt_model *cnnc_jit_model(const cnnc_jit *jit);
void cnnc_jit_free(cnnc_jit *jit);

/* The C identifier used for a model or layer name in symbols: [A-Za-z0-9_], not
 * starting with a digit. Writes at most len bytes (NUL included). */
void cnnc_c_identifier(const char *name, char *out, size_t len);
/* The model's prefix of every symbol and of its header's macros: its C identifier, with
 * "model_" before a name that starts with "cnnrt" (any case), the runtime's prefix, so
 * that a model named cnnrt declares model_cnnrt_model, not the runtime's cnnrt_model. */
void cnnc_model_identifier(const char *model_name, char *out, size_t len);

#endif
