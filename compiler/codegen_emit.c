/* Emission: the optimised module written as an object file (with the -c header),
 * assembly, textual IR, or an object linked into a native program (link.c). */
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <stdio.h>
#include <string.h>

#include "codegen_module.h"

static const cnnc_loc NOWHERE = {0, 0, 0};

/* LLVM writes into memory and cnnc writes the file, so that every failure (a full disk,
 * /dev/full) is a cnnc error naming the file, never LLVM's "IO failure on output stream". */
static int emit_file(LLVMModuleRef mod, LLVMTargetMachineRef tm, cnnc_emit_kind kind,
                     const char *path, cnnc_diag *d)
{
    if (kind == CNNC_EMIT_LLVM_IR) {
        char *text = LLVMPrintModuleToString(mod);
        int rc = cnnc_write_output(path, text, strlen(text), d);
        LLVMDisposeMessage(text);
        return rc;
    }
    char *err = NULL;
    LLVMMemoryBufferRef buf = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(
            tm, mod, kind == CNNC_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile, &err, &buf)) {
        cnnc_output_error(d, "cannot write '%s': %s", path, err ? err : "unknown LLVM error");
        LLVMDisposeMessage(err);
        return -1;
    }
    int rc = cnnc_write_output(path, LLVMGetBufferStart(buf), LLVMGetBufferSize(buf), d);
    LLVMDisposeMemoryBuffer(buf);
    return rc;
}

int cnnc_codegen_run(const cnnc_graph *forward, const cnnc_codegen_options *opts, cnnc_diag *d)
{
    if (opts->emit != CNNC_EMIT_NONE && (!opts->output || !*opts->output)) {
        cnnc_error(d, NOWHERE, "no output file given (use -o FILE)");
        return -1;
    }
    LLVMTargetMachineRef tm = cg_make_target_machine(opts, d);
    if (!tm)
        return -1;
    LLVMContextRef ctx = LLVMContextCreate();
    int rc = -1;
    cnnc_header_info info = {0};
    LLVMModuleRef mod =
        cg_build_module(forward, opts, ctx, opts->emit == CNNC_EMIT_PROGRAM, &info, d);
    if (mod && cg_optimise(mod, tm, opts->opt_level, d) == 0) {
        switch (opts->emit) {
        case CNNC_EMIT_NONE: rc = 0; break;
        case CNNC_EMIT_LLVM_IR:
        case CNNC_EMIT_ASM: rc = emit_file(mod, tm, opts->emit, opts->output, d); break;
        case CNNC_EMIT_OBJECT:
            rc = emit_file(mod, tm, opts->emit, opts->output, d);
            if (rc == 0)
                rc = cnnc_write_model_header(forward, &info, opts->output, d);
            break;
        case CNNC_EMIT_PROGRAM: {
            char obj[4200];
            if (cnnc_temp_object_path(opts->output, obj, sizeof obj, d) == 0) {
                rc = emit_file(mod, tm, CNNC_EMIT_OBJECT, obj, d);
                if (rc == 0)
                    rc = cnnc_link_program(obj, opts, d);
                remove(obj);
            }
            break;
        }
        }
    }
    if (mod)
        LLVMDisposeModule(mod);
    cg_free_header_info(&info);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return rc;
}

