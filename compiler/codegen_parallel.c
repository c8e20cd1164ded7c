/* The module compiled on several threads: most of cnnc's time goes to LLVM's optimisation
 * pipeline and instruction selection, one function at a time, so the module's functions
 * are divided into parts of about equal size, and each part is optimised and turned into
 * an object file on its own thread, in its own LLVM context. The linker joins them.
 *
 * How the functions are divided: a function called by exactly one other function (a
 * kernel only one worker calls) stays with it, so that LLVM can still inline it there; a
 * worker, whose address its entry point gives to cnnrt_parallel_for, is never inlined and
 * goes its own way (the Grad-CAM program's team worker and batch worker, the two largest
 * functions of a model, land in different parts). What is left are units (a worker with
 * its kernels, an entry point, a kernel several workers share), given largest first to
 * the part with the least work so far. A function called from another part becomes a hidden global
 * symbol; small helpers LLVM may inline, called from several parts (cnnc_mix64), are
 * copied into each.
 * The descriptor and every other global variable live in part 0. The division depends
 * only on the module, so the output does not depend on timing. */
#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_module.h"
#include "util.h"

static const cnnc_loc NOWHERE = {0, 0, 0};

/* Functions costing at most this much are copied, not shared across parts, when LLVM may
 * inline them (cnnc_mix64). A noinline kernel is never copied: a copy would only be
 * compiled again in each part that calls it. */
enum { SMALL_FUNCTION = 96 };

typedef struct fn_info {
    char *name;
    int64_t cost;           /* estimated_cost */
    int unit;               /* union-find parent */
    int part;
    int copied;             /* a small helper defined in every part */
    int internal;           /* internal linkage in the whole module */
    int exported;           /* internal but referenced from another part: made a hidden
                               global symbol */
    int *refs;              /* functions (indices) whose bodies reference it */
    int num_refs;
    int global_ref;         /* referenced by a global variable (the descriptor) */
    int address_taken;      /* used other than as the callee of a call (a worker, given
                               to cnnrt_parallel_for): never inlined */
    int noinline;           /* a kernel (kernels.c keeps each a function of its own) */
} fn_info;

typedef struct plan {
    fn_info *fns;
    int n;
    int parts;
} plan;

/* What optimising and compiling fn costs, roughly: its instructions, and four more for
 * each basic block (loops are what the vectoriser and the unroller work on; measured on
 * models/mnist.cnn). An optnone function (a worker, cg_mark_glue) costs a tenth of that:
 * the pipeline skips it and FastISel is quick (mnist's workers, 44% of the module's
 * instructions and blocks, took a tenth of its compile time). */
enum { OPTNONE_COST_DIVISOR = 10 };

static int64_t estimated_cost(LLVMValueRef fn, unsigned optnone_kind)
{
    int64_t n = 4 * (int64_t)LLVMCountBasicBlocks(fn);
    for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
        for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
            n++;
    if (LLVMGetEnumAttributeAtIndex(fn, LLVMAttributeFunctionIndex, optnone_kind))
        n = n / OPTNONE_COST_DIVISOR + 1;
    return n;
}

static int find_fn(const plan *pl, LLVMValueRef *defs, LLVMValueRef fn)
{
    for (int i = 0; i < pl->n; i++)
        if (defs[i] == fn)
            return i;
    return -1;
}

static int find_unit(plan *pl, int i)
{
    while (pl->fns[i].unit != i)
        i = pl->fns[i].unit = pl->fns[pl->fns[i].unit].unit;
    return i;
}

/* Who references each defined function: instructions of which functions, or globals. */
static void collect_references(plan *pl, LLVMValueRef *defs)
{
    for (int i = 0; i < pl->n; i++) {
        fn_info *f = &pl->fns[i];
        for (LLVMUseRef u = LLVMGetFirstUse(defs[i]); u; u = LLVMGetNextUse(u)) {
            LLVMValueRef user = LLVMGetUser(u);
            int by = -1;
            if (LLVMIsAInstruction(user))
                by = find_fn(pl, defs, LLVMGetBasicBlockParent(LLVMGetInstructionParent(user)));
            if (by < 0) {
                f->global_ref = 1;
                continue;
            }
            if (!LLVMIsACallInst(user) || LLVMGetCalledValue(user) != defs[i])
                f->address_taken = 1;
            int seen = 0;
            for (int k = 0; k < f->num_refs && !seen; k++)
                seen = f->refs[k] == by;
            if (!seen) {
                f->refs = cnnc_xrealloc(f->refs, (size_t)(f->num_refs + 1) * sizeof *f->refs);
                f->refs[f->num_refs++] = by;
            }
        }
    }
}

static int by_cost_desc(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;   /* {cost, unit} pairs */
    if (x[0] != y[0])
        return x[0] < y[0] ? 1 : -1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Divides the module's functions into pl->parts parts (see the file's comment). */
static void make_plan(plan *pl, LLVMModuleRef mod)
{
    int cap = 0;
    LLVMValueRef *defs = NULL;
    unsigned noinline_kind = LLVMGetEnumAttributeKindForName("noinline", 8);
    unsigned optnone_kind = LLVMGetEnumAttributeKindForName("optnone", 7);
    for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn)) {
        if (LLVMIsDeclaration(fn))
            continue;
        defs = cnnc_grow(defs, pl->n, &cap, 64, sizeof *defs);
        pl->fns = cnnc_xrealloc(pl->fns, (size_t)(pl->n + 1) * sizeof *pl->fns);
        fn_info *f = &pl->fns[pl->n];
        memset(f, 0, sizeof *f);
        size_t len;
        const char *name = LLVMGetValueName2(fn, &len);
        f->name = cnnc_xstrdup(name);
        f->cost = estimated_cost(fn, optnone_kind);
        f->internal = LLVMGetLinkage(fn) == LLVMInternalLinkage;
        f->noinline = LLVMGetEnumAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                                  noinline_kind) != NULL;
        f->unit = pl->n;
        defs[pl->n++] = fn;
    }
    collect_references(pl, defs);
    for (int i = 0; i < pl->n; i++) {
        fn_info *f = &pl->fns[i];
        if (f->num_refs == 1 && !f->global_ref && !f->address_taken && f->refs[0] != i)
            pl->fns[find_unit(pl, i)].unit = find_unit(pl, f->refs[0]);
        else if (f->num_refs > 1 && !f->global_ref && !f->noinline && f->cost <= SMALL_FUNCTION)
            f->copied = 1;
    }
    /* A unit's cost: its functions', and each copied helper's once for every unit that
     * calls it (the part compiles it again, or inlines it). */
    int64_t *unit_cost = cnnc_xcalloc((size_t)pl->n + 1, sizeof *unit_cost);
    for (int k = 0; k < pl->n; k++) {
        const fn_info *f = &pl->fns[k];
        if (!f->copied)
            unit_cost[find_unit(pl, k)] += f->cost;
        for (int r = 0; f->copied && r < f->num_refs; r++) {
            int unit = find_unit(pl, f->refs[r]), seen = 0;
            for (int q = 0; q < r && !seen; q++)
                seen = find_unit(pl, f->refs[q]) == unit;
            if (!seen)
                unit_cost[unit] += f->cost;
        }
    }
    /* Units, largest first, each to the part with the least work so far. */
    int64_t *units = cnnc_xcalloc((size_t)pl->n * 2 + 2, sizeof *units);
    int num_units = 0;
    for (int i = 0; i < pl->n; i++)
        if (find_unit(pl, i) == i) {
            units[2 * num_units] = unit_cost[i];
            units[2 * num_units + 1] = i;
            num_units++;
        }
    free(unit_cost);
    qsort(units, (size_t)num_units, 2 * sizeof *units, by_cost_desc);
    int64_t load[CNNC_MAX_CODEGEN_PARTS] = {0};
    int *unit_part = cnnc_xcalloc((size_t)pl->n + 1, sizeof *unit_part);
    for (int u = 0; u < num_units; u++) {
        int best = 0;
        for (int p = 1; p < pl->parts; p++)
            if (load[p] < load[best])
                best = p;
        load[best] += units[2 * u];
        unit_part[units[2 * u + 1]] = best;
    }
    for (int i = 0; i < pl->n; i++)
        pl->fns[i].part = unit_part[find_unit(pl, i)];
    /* Referenced from another part (a copied helper is in every part; the descriptor in
     * part 0): exported. */
    for (int i = 0; i < pl->n; i++) {
        fn_info *f = &pl->fns[i];
        f->exported = !f->copied && f->global_ref && f->part != 0;
        for (int k = 0; k < f->num_refs && !f->copied; k++) {
            const fn_info *by = &pl->fns[f->refs[k]];
            if (by->copied || by->part != f->part)
                f->exported = 1;
        }
    }
    free(unit_part);
    free(units);
    free(defs);
}

static void free_plan(plan *pl)
{
    for (int i = 0; i < pl->n; i++) {
        free(pl->fns[i].name);
        free(pl->fns[i].refs);
    }
    free(pl->fns);
}

/* Leaves in mod (a copy of the whole module) only what part p defines: the other parts'
 * functions become declarations, and outside part 0 the global variables become private
 * (unused there, so the optimiser drops them; never defined twice). */
static void keep_part(const plan *pl, LLVMModuleRef mod, int p)
{
    for (int i = 0; i < pl->n; i++) {
        const fn_info *f = &pl->fns[i];
        LLVMValueRef fn = LLVMGetNamedFunction(mod, f->name);
        if (!fn || f->copied)
            continue;
        if (f->part == p) {
            if (f->internal && f->exported) {
                LLVMSetLinkage(fn, LLVMExternalLinkage);
                LLVMSetVisibility(fn, LLVMHiddenVisibility);
            }
            continue;
        }
        LLVMValueRef decl = LLVMAddFunction(mod, "", LLVMGlobalGetValueType(fn));
        LLVMReplaceAllUsesWith(fn, decl);
        LLVMDeleteFunction(fn);
        LLVMSetValueName2(decl, f->name, strlen(f->name));
        if (f->internal)
            LLVMSetVisibility(decl, LLVMHiddenVisibility);
    }
    /* A declaration nothing here calls goes: even unused, a hidden one would be listed
     * as an undefined symbol (at -O0, where nothing removes it). */
    for (int i = 0; i < pl->n; i++) {
        LLVMValueRef fn = LLVMGetNamedFunction(mod, pl->fns[i].name);
        if (fn && LLVMIsDeclaration(fn) && !LLVMGetFirstUse(fn))
            LLVMDeleteFunction(fn);
    }
    if (p == 0)
        return;
    for (LLVMValueRef gv = LLVMGetFirstGlobal(mod); gv; gv = LLVMGetNextGlobal(gv))
        if (!LLVMIsDeclaration(gv))
            LLVMSetLinkage(gv, LLVMPrivateLinkage);
}

/* ---- the threads ------------------------------------------------------------------------- */

typedef struct part_job {
    LLVMMemoryBufferRef bitcode;   /* parts 1..: the module, parsed on the thread */
    LLVMModuleRef mod;             /* part 0: the module itself */
    int part;
    const plan *pl;
    LLVMTargetMachineRef tm;
    int opt_level;
    LLVMMemoryBufferRef object;    /* out */
    char *error;                   /* out: what failed, or NULL */
} part_job;

static void job_error(part_job *job, const char *what, const char *msg)
{
    size_t len = strlen(what) + strlen(msg) + 3;
    job->error = cnnc_xcalloc(len, 1);
    snprintf(job->error, len, "%s: %s", what, msg);
}

static void *compile_part(void *arg)
{
    part_job *job = arg;
    LLVMContextRef ctx = NULL;
    LLVMModuleRef mod = job->mod;
    if (!mod) {
        ctx = LLVMContextCreate();
        if (LLVMParseBitcodeInContext2(ctx, job->bitcode, &mod)) {
            job_error(job, "internal error", "cannot read back a part of the module");
            LLVMContextDispose(ctx);
            return NULL;
        }
    }
    keep_part(job->pl, mod, job->part);
    LLVMErrorRef err = cg_run_pipeline(mod, job->tm, job->opt_level);
    if (err) {
        char *msg = LLVMGetErrorMessage(err);
        job_error(job, "LLVM optimisation failed", msg);
        LLVMDisposeErrorMessage(msg);
    } else {
        char *msg = NULL;
        if (LLVMTargetMachineEmitToMemoryBuffer(job->tm, mod, LLVMObjectFile, &msg,
                                                &job->object)) {
            job_error(job, "LLVM could not generate code", msg ? msg : "?");
            job->object = NULL;
        }
        LLVMDisposeMessage(msg);
    }
    if (ctx) {
        LLVMDisposeModule(mod);
        LLVMContextDispose(ctx);
    }
    return NULL;
}

int cg_emit_parts(LLVMModuleRef mod, const cnnc_codegen_options *opts, int parts,
                  const char *const *paths, cnnc_diag *d)
{
    plan pl = {0};
    pl.parts = parts;
    make_plan(&pl, mod);
    part_job jobs[CNNC_MAX_CODEGEN_PARTS];
    memset(jobs, 0, sizeof jobs);
    int rc = 0;
    for (int p = 0; p < parts && rc == 0; p++) {
        jobs[p].part = p;
        jobs[p].pl = &pl;
        jobs[p].opt_level = opts->opt_level;
        jobs[p].tm = cg_make_target_machine(opts, d);
        if (!jobs[p].tm)
            rc = -1;
        else if (p > 0)
            jobs[p].bitcode = LLVMWriteBitcodeToMemoryBuffer(mod);
        else
            jobs[p].mod = mod;
    }
    pthread_t threads[CNNC_MAX_CODEGEN_PARTS];
    int started[CNNC_MAX_CODEGEN_PARTS] = {0};
    for (int p = 1; p < parts && rc == 0; p++)
        started[p] = pthread_create(&threads[p], NULL, compile_part, &jobs[p]) == 0;
    if (rc == 0)
        compile_part(&jobs[0]);   /* on this thread, in mod's own context */
    for (int p = 1; p < parts; p++) {
        if (started[p])
            pthread_join(threads[p], NULL);
        else if (rc == 0 && jobs[p].bitcode)
            compile_part(&jobs[p]);   /* no thread: here, after part 0 */
    }
    for (int p = 0; p < parts; p++) {
        if (rc == 0 && jobs[p].error) {
            cnnc_error(d, NOWHERE, "%s", jobs[p].error);
            rc = -1;
        }
        if (rc == 0 && jobs[p].object)
            rc = cnnc_write_output(paths[p], LLVMGetBufferStart(jobs[p].object),
                                   LLVMGetBufferSize(jobs[p].object), d);
        free(jobs[p].error);
        if (jobs[p].object)
            LLVMDisposeMemoryBuffer(jobs[p].object);
        if (jobs[p].bitcode)
            LLVMDisposeMemoryBuffer(jobs[p].bitcode);
        if (jobs[p].tm)
            LLVMDisposeTargetMachine(jobs[p].tm);
    }
    free_plan(&pl);
    return rc;
}
