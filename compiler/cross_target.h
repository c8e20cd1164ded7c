/* --target TRIPLE: which machine the object is for, and what that machine's code needs
 * that the host's does not (its LLVM triple, CPU, features and relocation model).
 *
 * cnnc emits code for any target the installed LLVM was built with (`llvm-config-19
 * --targets-built`; the CMake option CNNC_LLVM_TARGETS can build it with fewer); the ones
 * tested are the host, aarch64-linux-gnu and wasm32 (see docs/embedding.md). The
 * generated code calls only the runtime core (cnnrt_core.h), memcpy, memset, exp, log and
 * powf, which every such target has. */
#ifndef CNNC_CROSS_TARGET_H
#define CNNC_CROSS_TARGET_H

#include <llvm-c/TargetMachine.h>

#include "diag.h"

typedef struct cnnc_target {
    char triple[128];        /* normalised, e.g. "aarch64-unknown-linux-gnu" */
    int is_host;             /* no --target, or the host's own triple */
    int is_wasm;             /* wasm32 / wasm64 */
    const char *cpu;         /* default CPU for a cross target: "generic" */
    const char *features;    /* default features: "" (wasm32: "+simd128") */
    LLVMRelocMode reloc;     /* PIC (Linux executables are PIE); wasm: static */
} cnnc_target;

/* Resolves a --target value (NULL or "" = the host): short forms as clang takes them
 * ("wasm32", "aarch64-linux-gnu") are normalised by LLVM, and a triple whose architecture
 * this LLVM cannot emit is an error listing the ones it can. Initialises the LLVM target
 * it returns. -1 after a message. */
int cnnc_target_resolve(const char *requested, cnnc_target *t, cnnc_diag *d);

/* Whether a --target value (NULL or "" included) names this machine: the same
 * architecture, system and environment as LLVM's default triple, whatever the vendor. */
int cnnc_target_is_host(const char *requested);

#endif
