/* The JIT: the model's module compiled into this process with ORC's LLJIT, so that the
 * tests can run the generated code beside the interpreter. See codegen.h. */
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_module.h"
#include "util.h"

struct cnnc_jit {
    LLVMOrcLLJITRef jit;
    const cnnrt_model *model;
};

void cnnc_jit_free(cnnc_jit *j)
{
    if (!j)
        return;
    if (j->jit)
        LLVMOrcDisposeLLJIT(j->jit);
    free(j);
}

const cnnrt_model *cnnc_jit_model(const cnnc_jit *j) { return j ? j->model : NULL; }

static int add_absolute_symbols(cnnc_jit *j, LLVMOrcJITDylibRef jd, const cnnc_jit_symbol *syms,
                                int n, cnnc_diag *d)
{
    if (n <= 0)
        return 0;
    LLVMOrcCSymbolMapPair *pairs = cnnc_xcalloc((size_t)n, sizeof *pairs);
    for (int i = 0; i < n; i++) {
        pairs[i].Name = LLVMOrcLLJITMangleAndIntern(j->jit, syms[i].name);
        pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)syms[i].address;
        pairs[i].Sym.Flags.GenericFlags =
            LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
        pairs[i].Sym.Flags.TargetFlags = 0;
    }
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, (size_t)n);
    free(pairs);
    LLVMErrorRef err = LLVMOrcJITDylibDefine(jd, mu);
    if (err)
        return cg_llvm_error(d, "JIT: cannot define symbols", err);
    return 0;
}

cnnc_jit *cnnc_jit_compile(const cnnc_graph *forward, const cnnc_codegen_options *opts,
                           const cnnc_jit_symbol *symbols, int num_symbols, cnnc_diag *d)
{
    LLVMTargetMachineRef opt_tm = cg_make_target_machine(opts, d);
    if (!opt_tm)
        return NULL;
    LLVMTargetMachineRef jit_tm = cg_make_target_machine(opts, d);
    if (!jit_tm) {
        LLVMDisposeTargetMachine(opt_tm);
        return NULL;
    }
    cnnc_jit *j = cnnc_xcalloc(1, sizeof *j);
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
    LLVMModuleRef mod = cg_build_module(forward, opts, ctx, 0, NULL, d);
    int ok = mod && cg_optimise(mod, opt_tm, opts->opt_level, d) == 0;
    LLVMDisposeTargetMachine(opt_tm);
    if (!ok) {
        if (mod)
            LLVMDisposeModule(mod);
        LLVMDisposeTargetMachine(jit_tm);
        LLVMOrcDisposeThreadSafeContext(tsc);
        free(j);
        return NULL;
    }
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
        builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jit_tm));
    LLVMErrorRef err = LLVMOrcCreateLLJIT(&j->jit, builder);
    if (err) {
        cg_llvm_error(d, "cannot create the JIT", err);
        LLVMDisposeModule(mod);
        LLVMOrcDisposeThreadSafeContext(tsc);
        free(j);
        return NULL;
    }
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
    LLVMOrcDefinitionGeneratorRef gen;
    err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
        &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
    if (err) {
        cg_llvm_error(d, "JIT: cannot search the process for symbols", err);
        goto fail_module;
    }
    LLVMOrcJITDylibAddGenerator(jd, gen);
    if (add_absolute_symbols(j, jd, symbols, num_symbols, d))
        goto fail_module;
    char model_sym[256];
    cnnc_model_identifier(forward->model_name, model_sym, sizeof model_sym - 8);
    strcat(model_sym, "_model");
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    LLVMOrcDisposeThreadSafeContext(tsc);
    err = LLVMOrcLLJITAddLLVMIRModule(j->jit, jd, tsm);
    if (err) {
        LLVMOrcDisposeThreadSafeModule(tsm);
        cg_llvm_error(d, "JIT: cannot add the module", err);
        cnnc_jit_free(j);
        return NULL;
    }
    LLVMOrcExecutorAddress addr = 0;
    err = LLVMOrcLLJITLookup(j->jit, &addr, model_sym);
    if (err) {
        cg_llvm_error(d, "JIT: cannot compile the model", err);
        cnnc_jit_free(j);
        return NULL;
    }
    j->model = (const cnnrt_model *)(uintptr_t)addr;
    return j;

fail_module:
    LLVMDisposeModule(mod);
    LLVMOrcDisposeThreadSafeContext(tsc);
    cnnc_jit_free(j);
    return NULL;
}

