/* Emission: the optimised module written as an object file (with the -c header),
 * assembly, textual IR, or an object linked into a native program (link.c). */
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* How many parts a program's module is compiled in: one per CPU this process may use, at
 * most CNNC_MAX_CODEGEN_PARTS, or opts->jobs. */
static int codegen_parts(const cnnc_codegen_options *opts)
{
    long cpus = opts->jobs > 0 ? opts->jobs : sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > CNNC_MAX_CODEGEN_PARTS ? CNNC_MAX_CODEGEN_PARTS : (int)cpus;
}

/* -o PROG: the module as objects in the output's directory (in parts, on threads, when
 * there is more than one CPU), linked with the runtime, then removed. */
static int emit_program(LLVMModuleRef mod, LLVMTargetMachineRef tm,
                        const cnnc_codegen_options *opts, cnnc_diag *d)
{
    int parts = codegen_parts(opts);
    char paths[CNNC_MAX_CODEGEN_PARTS][4200];
    const char *objs[CNNC_MAX_CODEGEN_PARTS];
    for (int p = 0; p < parts; p++) {
        if (cnnc_temp_object_path(opts->output, p, paths[p], sizeof paths[p], d))
            return -1;
        objs[p] = paths[p];
    }
    int rc;
    if (parts > 1)
        rc = cg_emit_parts(mod, opts, parts, objs, d);
    else if ((rc = cg_optimise(mod, tm, opts->opt_level, d)) == 0)
        rc = emit_file(mod, tm, CNNC_EMIT_OBJECT, objs[0], d);
    if (rc == 0)
        rc = cnnc_link_program(objs, parts, opts, d);
    for (int p = 0; p < parts; p++)
        remove(objs[p]);
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
    if (mod && opts->emit == CNNC_EMIT_PROGRAM) {
        rc = emit_program(mod, tm, opts, d);
    } else if (mod && cg_optimise(mod, tm, opts->opt_level, d) == 0) {
        switch (opts->emit) {
        case CNNC_EMIT_NONE: rc = 0; break;
        case CNNC_EMIT_LLVM_IR:
        case CNNC_EMIT_ASM: rc = emit_file(mod, tm, opts->emit, opts->output, d); break;
        case CNNC_EMIT_OBJECT:
            rc = emit_file(mod, tm, opts->emit, opts->output, d);
            if (rc == 0)
                rc = cnnc_write_model_header(forward, &info, opts->output, d);
            break;
        case CNNC_EMIT_PROGRAM: break;   /* above */
        }
    }
    if (mod)
        LLVMDisposeModule(mod);
    cg_free_header_info(&info);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return rc;
}
