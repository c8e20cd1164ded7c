/* The target: the LLVM target machine for the host CPU or --target-cpu, or for another
 * machine (--target, cross_target.h), the vector width the kernels use on it, and the
 * optimisation pipeline run on the module. */
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen_module.h"
#include "cross_target.h"

static const cnnc_loc NOWHERE = {0, 0, 0};

int cg_llvm_error(cnnc_diag *d, const char *what, LLVMErrorRef err)
{
    char *msg = LLVMGetErrorMessage(err);
    cnnc_error(d, NOWHERE, "%s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return -1;
}

/* LLVM only warns on stderr about a processor it does not know -- and then aborts when
 * it emits 64-bit code for it -- and the C API cannot ask whether a name is valid. So
 * for a named CPU the target machine is created with stderr captured, and that warning
 * becomes a cnnc error. Returns 1 when LLVM rejected the CPU. */
static int create_checked(LLVMTargetRef target, const char *triple, const char *cpu,
                          LLVMCodeGenOptLevel level, LLVMTargetMachineRef *tm)
{
    fflush(stderr);
    FILE *capture = tmpfile();
    int saved = capture ? dup(2) : -1;
    if (saved >= 0)
        dup2(fileno(capture), 2);
    *tm = LLVMCreateTargetMachine(target, triple, cpu, "", level, LLVMRelocPIC,
                                  LLVMCodeModelDefault);
    int rejected = 0;
    if (saved >= 0) {
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        char text[4096];
        rewind(capture);
        size_t n = fread(text, 1, sizeof text - 1, capture);
        text[n] = '\0';
        rejected = strstr(text, "is not a recognized processor") != NULL;
        if (!rejected && n > 0)
            fputs(text, stderr);   /* anything else LLVM said is passed on */
    }
    if (capture)
        fclose(capture);
    return rejected;
}

static LLVMCodeGenOptLevel codegen_level(const cnnc_codegen_options *o)
{
    return o->opt_level <= 0   ? LLVMCodeGenLevelNone
           : o->opt_level == 1 ? LLVMCodeGenLevelLess
           : o->opt_level == 2 ? LLVMCodeGenLevelDefault
                               : LLVMCodeGenLevelAggressive;
}

/* --target for another machine: its generic CPU (or --target-cpu) and default features. */
static LLVMTargetMachineRef make_cross_target_machine(const cnnc_codegen_options *o,
                                                      const cnnc_target *t, cnnc_diag *d)
{
    LLVMTargetRef target;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(t->triple, &target, &err)) {   /* resolved already */
        cnnc_error(d, NOWHERE, "LLVM has no target for %s: %s", t->triple, err ? err : "?");
        LLVMDisposeMessage(err);
        return NULL;
    }
    int named = o->target_cpu && *o->target_cpu && strcmp(o->target_cpu, "native");
    const char *cpu = named ? o->target_cpu : t->cpu;
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(
        target, t->triple, cpu, t->features, codegen_level(o), t->reloc, LLVMCodeModelDefault);
    if (!tm)
        cnnc_error(d, NOWHERE, "LLVM could not create a target machine for %s (CPU '%s')",
                   t->triple, cpu);
    return tm;
}

/* LLVM's full-unroll threshold at -O2 and -O3 (LLVM's own default: 300 instructions). The
 * kernels are tiled and vectorised by cnnc already, so unrolling their loops further buys
 * little and costs much: at 50, models/mnist.cnn compiled with 10-20% less CPU time (its
 * object's code a third smaller) and trained and inferred as fast (within 1%, measured under
 * load); with no unrolling at all its training step was about 6% slower. */
static const char *const LLVM_OPTIONS[] = {"cnnc", "-unroll-threshold=50"};

/* The host's target, and LLVM's command-line options: once per process, before any pass
 * runs (LLVM's options are global, so they are set on one thread, before the parts'). */
static void init_llvm(void)
{
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMInitializeNativeAsmParser();
    LLVMParseCommandLineOptions((int)(sizeof LLVM_OPTIONS / sizeof *LLVM_OPTIONS),
                                LLVM_OPTIONS, NULL);
}

LLVMTargetMachineRef cg_make_target_machine(const cnnc_codegen_options *o, cnnc_diag *d)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_llvm);
    cnnc_target cross;
    if (o->target_triple && *o->target_triple) {
        if (cnnc_target_resolve(o->target_triple, &cross, d))
            return NULL;
        if (!cross.is_host)
            return make_cross_target_machine(o, &cross, d);
    }
    char *triple = LLVMGetDefaultTargetTriple();
    LLVMTargetRef target;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &err)) {
        cnnc_error(d, NOWHERE, "LLVM has no target for %s: %s", triple, err ? err : "?");
        LLVMDisposeMessage(err);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    int host = !o->target_cpu || !strcmp(o->target_cpu, "native") || !*o->target_cpu;
    char *cpu = host ? LLVMGetHostCPUName() : NULL;
    char *features = host ? LLVMGetHostCPUFeatures() : NULL;
    LLVMCodeGenOptLevel level = codegen_level(o);
    LLVMTargetMachineRef tm = NULL;
    if (host) {
        tm = LLVMCreateTargetMachine(target, triple, cpu, features, level, LLVMRelocPIC,
                                     LLVMCodeModelDefault);
    } else if (create_checked(target, triple, o->target_cpu, level, &tm)) {
        cnnc_error(d, NOWHERE,
                   "unknown --target-cpu '%s' (LLVM does not know this processor; try "
                   "'native', 'x86-64-v3' or 'x86-64', or see `llc-19 -mcpu=help`)",
                   o->target_cpu);
        if (tm)
            LLVMDisposeTargetMachine(tm);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    if (cpu)
        LLVMDisposeMessage(cpu);
    if (features)
        LLVMDisposeMessage(features);
    LLVMDisposeMessage(triple);
    if (!tm)
        cnnc_error(d, NOWHERE, "LLVM could not create a target machine for CPU '%s'",
                   host ? "host" : o->target_cpu);
    return tm;
}

void cg_set_module_target(LLVMModuleRef mod, LLVMTargetMachineRef tm)
{
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, layout);
    LLVMDisposeTargetData(layout);
}

LLVMErrorRef cg_run_pipeline(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level)
{
    cg_set_module_target(mod, tm);
    char passes[32];
    snprintf(passes, sizeof passes, "default<O%d>", level < 0 ? 0 : level > 3 ? 3 : level);
    LLVMPassBuilderOptionsRef pbo = LLVMCreatePassBuilderOptions();
    LLVMErrorRef err = LLVMRunPasses(mod, passes, tm, pbo);
    LLVMDisposePassBuilderOptions(pbo);
    return err;
}

int cg_optimise(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level, cnnc_diag *d)
{
    LLVMErrorRef err = cg_run_pipeline(mod, tm, level);
    if (err)
        return cg_llvm_error(d, "LLVM optimisation failed", err);
    return 0;
}

/* 16-float tiles when compiling for this very machine and it has AVX-512; a named
 * --target-cpu or another machine (--target) gets the portable 8-float tiles. */
int cg_wide_vectors(const cnnc_codegen_options *o)
{
    if (o->target_cpu && *o->target_cpu && strcmp(o->target_cpu, "native"))
        return 0;
    if (!cnnc_target_is_host(o->target_triple))
        return 0;
    char *features = LLVMGetHostCPUFeatures();
    int wide = features && strstr(features, "+avx512f") != NULL;
    LLVMDisposeMessage(features);
    return wide;
}
