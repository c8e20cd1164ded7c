/* Code generation through the LLVM C API: programs (infer, train_step, gradcam,
 * guided_backprop) -> workers and entry points with the ABI of cnnrt_model.h ->
 * the NAME_model descriptor -> verified, optimised module -> object / assembly / IR /
 * linked program / JIT. See codegen.h; the loop kernels are in kernels.c. */
#include "codegen.h"

#include <limits.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "autodiff.h"
#include "cam_methods.h"
#include "codegen_internal.h"
#include "link.h"
#include "lower.h"
#include "optimizers.h"
#include "util.h"

static const cnnc_loc NOWHERE = {0, 0, 0};

void cnnc_codegen_options_init(cnnc_codegen_options *o)
{
    memset(o, 0, sizeof *o);
    o->emit = CNNC_EMIT_PROGRAM;
    o->opt_level = 2;
}

void cnnc_c_identifier(const char *name, char *out, size_t len)
{
    size_t j = 0;
    if (len == 0)
        return;
    if (name && (name[0] >= '0' && name[0] <= '9') && j + 1 < len)
        out[j++] = '_';
    for (size_t i = 0; name && name[i] && j + 1 < len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_';
        out[j++] = ok ? c : '_';
    }
    if (j == 0 && len > 1)
        out[j++] = '_';
    out[j] = '\0';
}

void cnnc_model_identifier(const char *model_name, char *out, size_t len)
{
    const char *name = model_name ? model_name : "model";
    /* cnnrt is the runtime's prefix: a model named cnnrt would declare `cnnrt_model` (the
     * runtime's type) behind the include guard of the runtime's cnnrt_model.h. */
    int reserved = strncasecmp(name, "cnnrt", 5) == 0;
    const char *prefix = reserved ? "model_" : "";
    size_t n = strlen(prefix);
    if (len <= n) {
        cnnc_c_identifier(name, out, len);
        return;
    }
    memcpy(out, prefix, n);
    cnnc_c_identifier(name, out + n, len - n);
}

/* ---- the programs of a model ---------------------------------------------------------- */

typedef struct program {
    cnnc_program_kind kind;
    cnnc_graph *graph;          /* owned when not the forward graph */
    cnnc_lowered *lowered;
    char entry[512];            /* NAME_infer, NAME_train_step, NAME_gradcam,
                                   NAME_guided_backprop */
    LLVMValueRef entry_fn;
    /* TRAIN: the optimizer's update program (optimizers.h), run after the reduction. */
    cnnc_graph *update_graph;
    cnnc_lowered *update;
    LLVMValueRef *update_fns;
} program;

typedef struct model_gen {
    const cnnc_graph *forward;
    const cnnc_codegen_options *opts;
    cnnc_diag *d;
    char name[200];             /* C identifier of the model */
    program *progs;
    int num_progs;
    int *cam_layers;            /* the Grad-CAM targets (indices into forward->layers) */
    int num_cam_layers;
    int64_t ws_floats;          /* max over programs */
} model_gen;

static void free_programs(model_gen *m)
{
    for (int i = 0; i < m->num_progs; i++) {
        cnnc_lowered_free(m->progs[i].lowered);
        cnnc_lowered_free(m->progs[i].update);
        cnnc_graph_free(m->progs[i].update_graph);
        free(m->progs[i].update_fns);
        if (m->progs[i].graph != m->forward)
            cnnc_graph_free(m->progs[i].graph);
    }
    free(m->progs);
    m->progs = NULL;
    m->num_progs = 0;
    free(m->cam_layers);
    m->cam_layers = NULL;
    m->num_cam_layers = 0;
}

static program *add_program(model_gen *m, cnnc_program_kind kind, cnnc_graph *graph)
{
    m->progs = cnnc_xrealloc(m->progs, (size_t)(m->num_progs + 1) * sizeof *m->progs);
    program *p = &m->progs[m->num_progs++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->graph = graph;
    return p;
}

/* The Grad-CAM program (every target layer, or only opts->only_cam_layer) and the guided
 * backpropagation program; none when the model has no spatial layer. */
static int build_cam_programs(model_gen *m)
{
    const cnnc_graph *fw = m->forward;
    m->cam_layers = cnnc_xcalloc((size_t)fw->num_layers + 1, sizeof *m->cam_layers);
    int count = cnnc_cam_layers(fw, m->cam_layers);
    m->num_cam_layers = 0;
    for (int i = 0; i < count; i++)
        if (!m->opts->only_cam_layer ||
            !strcmp(m->opts->only_cam_layer, fw->layers[m->cam_layers[i]].name))
            m->cam_layers[m->num_cam_layers++] = m->cam_layers[i];
    if (m->num_cam_layers == 0)
        return 0;
    cnnc_graph *cam = cnnc_build_cam_graph(fw, m->cam_layers, m->num_cam_layers, m->d);
    if (!cam)
        return -1;
    program *p = add_program(m, CNNC_PROGRAM_CAM, cam);
    snprintf(p->entry, sizeof p->entry, "%s_gradcam", m->name);
    cnnc_graph *guided = cnnc_build_guided_graph(fw, m->d);
    if (!guided)
        return -1;
    p = add_program(m, CNNC_PROGRAM_GUIDED, guided);
    snprintf(p->entry, sizeof p->entry, "%s_guided_backprop", m->name);
    return 0;
}

static int build_programs(model_gen *m)
{
    const cnnc_graph *fw = m->forward;
    int mask = m->opts->programs ? m->opts->programs : CNNC_GEN_ALL;
    program *p = add_program(m, CNNC_PROGRAM_INFER, (cnnc_graph *)fw);
    snprintf(p->entry, sizeof p->entry, "%s_infer", m->name);
    if (mask & CNNC_GEN_TRAIN) {
        cnnc_graph *train = cnnc_build_train_graph(fw, m->d);
        if (!train)
            return -1;
        p = add_program(m, CNNC_PROGRAM_TRAIN, train);
        snprintf(p->entry, sizeof p->entry, "%s_train_step", m->name);
        if (fw->param_floats > 0) {
            p->update_graph = cnnc_build_update_graph(&fw->train, fw->param_floats, m->d);
            p->update = p->update_graph ? cnnc_lower_program(p->update_graph,
                                                             CNNC_PROGRAM_UPDATE, m->d)
                                        : NULL;
            if (!p->update)
                return -1;
            if (m->opts->dump_lowered) {
                fprintf(m->opts->dump_lowered, "; %s (update)\n", p->entry);
                cnnc_lowered_dump(p->update, m->opts->dump_lowered);
            }
        }
    }
    if ((mask & CNNC_GEN_CAMS) && build_cam_programs(m))
        return -1;
    m->ws_floats = 16;
    for (int i = 0; i < m->num_progs; i++) {
        p = &m->progs[i];
        p->lowered = cnnc_lower_program(p->graph, p->kind, m->d);
        if (!p->lowered)
            return -1;
        int64_t ws = cnnc_lowered_ws_floats(p->lowered);
        if (ws > m->ws_floats)
            m->ws_floats = ws;
        if (m->opts->dump_lowered) {
            fprintf(m->opts->dump_lowered, "; %s\n", p->entry);
            cnnc_lowered_dump(p->lowered, m->opts->dump_lowered);
        }
    }
    return 0;
}

/* ---- module-level IR ------------------------------------------------------------------ */

/* The worker's view of the entry point's arguments (a stack struct, all fields 8 bytes). */
enum {
    CTX_PARAMS, CTX_OPT_STATE, CTX_X, CTX_LABELS, CTX_N, CTX_SEED, CTX_SCORE_MODE,
    CTX_CAM_TARGET, CTX_CAM_METHOD, CTX_WS, CTX_PROBS, CTX_MAPS, CTX_MAP_MAX, CTX_INPUT_GRADS,
    CTX_LOGITS, CTX_FIELDS
};
static int ctx_field_is_int(int field)
{
    return field == CTX_N || field == CTX_SEED || field == CTX_SCORE_MODE ||
           field == CTX_CAM_TARGET || field == CTX_CAM_METHOD;
}
static const int slot_field[CNNC_SLOT_COUNT] = {CTX_PROBS, CTX_MAPS, CTX_MAP_MAX,
                                                CTX_INPUT_GRADS, CTX_LOGITS};

/* A kernel body already in the module, by its key (cnnc_cg_kernel_key). */
enum { KERNEL_KEY_MAX = 512 };
typedef struct emitted_kernel {
    int64_t key[KERNEL_KEY_MAX];
    size_t len;
    uint64_t hash;
    LLVMValueRef fn;
} emitted_kernel;

typedef struct module_state {
    cnnc_cg g;
    LLVMTypeRef ctx_type, task_type, parallel_for_type, pool_threads_type;
    LLVMValueRef parallel_for, pool_threads;
    emitted_kernel *kernels;    /* every kernel body emitted, shared by all programs */
    int num_kernels, cap_kernels;
} module_state;

static void init_types(module_state *s, LLVMContextRef ctx, const char *name, cnnc_diag *d)
{
    cnnc_cg *g = &s->g;
    memset(s, 0, sizeof *s);
    g->ctx = ctx;
    g->d = d;
    g->mod = LLVMModuleCreateWithNameInContext(name, ctx);
    g->b = LLVMCreateBuilderInContext(ctx);
    g->f32 = LLVMFloatTypeInContext(ctx);
    g->f64 = LLVMDoubleTypeInContext(ctx);
    g->i64 = LLVMInt64TypeInContext(ctx);
    g->i32 = LLVMInt32TypeInContext(ctx);
    g->i8 = LLVMInt8TypeInContext(ctx);
    g->i1 = LLVMInt1TypeInContext(ctx);
    g->ptr = LLVMPointerTypeInContext(ctx, 0);
    g->void_t = LLVMVoidTypeInContext(ctx);
    LLVMTypeRef kparams[CG_K_NUM_PARAMS];
    for (int i = 0; i < CG_K_NUM_PARAMS; i++)
        kparams[i] = i < CG_K_IMAGE ? g->ptr : g->i64;
    g->kernel_type = LLVMFunctionType(g->void_t, kparams, CG_K_NUM_PARAMS, 0);
    LLVMTypeRef fields[CTX_FIELDS];
    for (int i = 0; i < CTX_FIELDS; i++)
        fields[i] = ctx_field_is_int(i) ? g->i64 : g->ptr;
    s->ctx_type = LLVMStructTypeInContext(ctx, fields, CTX_FIELDS, 0);
    LLVMTypeRef task_params[4] = {g->ptr, g->i64, g->i64, g->i64};
    s->task_type = LLVMFunctionType(g->void_t, task_params, 4, 0);
    LLVMTypeRef pf_params[4] = {g->ptr, g->i64, g->ptr, g->ptr};
    s->parallel_for_type = LLVMFunctionType(g->void_t, pf_params, 4, 0);
    s->parallel_for = LLVMAddFunction(g->mod, "cnnrt_parallel_for", s->parallel_for_type);
    s->pool_threads_type = LLVMFunctionType(g->i64, &g->ptr, 1, 0);
    s->pool_threads = LLVMAddFunction(g->mod, "cnnrt_pool_threads", s->pool_threads_type);
    cnnc_cg_declare_helpers(g);
}

static LLVMValueRef ctx_field(module_state *s, LLVMValueRef ctx, int field)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef p = LLVMBuildStructGEP2(g->b, s->ctx_type, ctx, (unsigned)field, "");
    return LLVMBuildLoad2(g->b, ctx_field_is_int(field) ? g->i64 : g->ptr, p, "");
}

static void set_ctx_field(module_state *s, LLVMValueRef ctx, int field, LLVMValueRef v)
{
    cnnc_cg *g = &s->g;
    LLVMBuildStore(g->b, v, LLVMBuildStructGEP2(g->b, s->ctx_type, ctx, (unsigned)field, ""));
}

static LLVMValueRef fptr(cnnc_cg *g, LLVMValueRef base, LLVMValueRef index)
{
    return cg_gep(g, g->f32, base, index);
}

static void add_fn_attr(cnnc_cg *g, LLVMValueRef fn, unsigned index, const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, index, LLVMCreateEnumAttribute(g->ctx, kind, 0));
}

/* Where a worker's buffers start. */
typedef struct worker_bases {
    LLVMValueRef params, arena, grad, stats, x, scratch;
    LLVMValueRef cam_target, cam_method;   /* Grad-CAM: what this run computes */
    LLVMValueRef slots[CNNC_SLOT_COUNT];
    int64_t image_floats;
} worker_bases;

static LLVMValueRef and_guard(cnnc_cg *g, LLVMValueRef a, LLVMValueRef b)
{
    return !a ? b : !b ? a : LLVMBuildAnd(g->b, a, b, "");
}

/* Whether a Grad-CAM kernel runs for this call's target and method (lower.h), or NULL
 * for a kernel that always runs. */
static LLVMValueRef cam_guard(cnnc_cg *g, const cnnc_kernel *kr, const worker_bases *wb)
{
    LLVMValueRef guard = NULL;
    if (kr->cam_max_target != INT_MAX)
        guard = LLVMBuildICmp(g->b, LLVMIntSLE, wb->cam_target, cg_i64(g, kr->cam_max_target), "");
    if (kr->cam_target >= 0)
        guard = and_guard(g, guard, LLVMBuildICmp(g->b, LLVMIntEQ, wb->cam_target,
                                                  cg_i64(g, kr->cam_target), ""));
    if (kr->cam_method >= 0)
        guard = and_guard(g, guard, LLVMBuildICmp(g->b, LLVMIntEQ, wb->cam_method,
                                                  cg_i64(g, kr->cam_method), ""));
    return guard;
}

/* Calls kernel k for image img: pointers to its buffers, the image, seed, label, mode. */
static void call_kernel(cnnc_cg *g, const cnnc_lowered *lp, LLVMValueRef kernel_fn, int k,
                        const worker_bases *wb, LLVMValueRef img, LLVMValueRef label,
                        LLVMValueRef seed, LLVMValueRef mode)
{
    const cnnc_kernel *kr = &lp->kernels[k];
    LLVMValueRef args[CG_K_NUM_PARAMS];
    LLVMValueRef guard = NULL;
    for (int i = 0; i < CNNC_KERNEL_MAX_OUT + CNNC_KERNEL_MAX_IN; i++) {
        int id = i < CNNC_KERNEL_MAX_OUT ? kr->out[i] : kr->in[i - CNNC_KERNEL_MAX_OUT];
        if (id < 0) {
            args[i] = LLVMConstNull(g->ptr);
            continue;
        }
        const cnnc_lbuf *b = &lp->bufs[id];
        switch (b->kind) {
        case CNNC_BUF_ARENA: args[i] = fptr(g, wb->arena, cg_i64(g, b->offset)); break;
        case CNNC_BUF_PARAMS: args[i] = fptr(g, wb->params, cg_i64(g, b->offset)); break;
        case CNNC_BUF_GRAD: args[i] = fptr(g, wb->grad, cg_i64(g, b->offset)); break;
        case CNNC_BUF_STATS: args[i] = fptr(g, wb->stats, cg_i64(g, b->offset)); break;
        case CNNC_BUF_ARG: args[i] = LLVMConstNull(g->ptr); break;   /* update programs only */
        case CNNC_BUF_INPUT:
            args[i] = fptr(g, wb->x, LLVMBuildNSWMul(g->b, img, cg_i64(g, wb->image_floats), ""));
            break;
        case CNNC_BUF_OUTPUT: {
            LLVMValueRef base = wb->slots[b->offset];
            LLVMValueRef at = fptr(g, base, LLVMBuildNSWMul(g->b, img, cg_i64(g, b->size), ""));
            LLVMValueRef present = LLVMBuildIsNotNull(g->b, base, "");
            if (i == CG_K_OUT0) {
                guard = present;    /* an absent main output skips the kernel */
                args[i] = at;
            } else {
                /* an absent secondary output (map_max) goes to scratch */
                args[i] = LLVMBuildSelect(g->b, present, at, wb->scratch, "");
            }
            break;
        }
        }
    }
    args[CG_K_IMAGE] = img;
    args[CG_K_SEED] = seed;
    args[CG_K_LABEL] = label;
    args[CG_K_SCORE_MODE] = mode;
    guard = and_guard(g, guard, cam_guard(g, kr, wb));
    LLVMBasicBlockRef merge = guard ? cg_if(g, guard) : NULL;
    LLVMBuildCall2(g->b, g->kernel_type, kernel_fn, args, CG_K_NUM_PARAMS, "");
    if (merge)
        cg_endif(g, merge);
}

/* The worker: for each image of [begin, end), run the kernels on this worker's slice. */
static LLVMValueRef emit_worker(module_state *s, program *p, LLVMValueRef *kernel_fns,
                                int64_t ws_floats)
{
    cnnc_cg *g = &s->g;
    const cnnc_lowered *lp = p->lowered;
    char name[sizeof p->entry + 16];
    snprintf(name, sizeof name, "%s_worker", p->entry);
    LLVMValueRef fn = LLVMAddFunction(g->mod, name, s->task_type);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_fn_attr(g, fn, LLVMAttributeFunctionIndex, "nounwind");
    g->fn = fn;
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), begin = LLVMGetParam(fn, 1);
    LLVMValueRef end = LLVMGetParam(fn, 2), worker = LLVMGetParam(fn, 3);

    worker_bases wb;
    wb.params = ctx_field(s, ctx, CTX_PARAMS);
    wb.x = ctx_field(s, ctx, CTX_X);
    LLVMValueRef labels = ctx_field(s, ctx, CTX_LABELS), seed = ctx_field(s, ctx, CTX_SEED);
    LLVMValueRef mode = ctx_field(s, ctx, CTX_SCORE_MODE);
    wb.cam_target = ctx_field(s, ctx, CTX_CAM_TARGET);
    wb.cam_method = ctx_field(s, ctx, CTX_CAM_METHOD);
    LLVMValueRef ws = ctx_field(s, ctx, CTX_WS);
    for (int i = 0; i < CNNC_SLOT_COUNT; i++)
        wb.slots[i] = ctx_field(s, ctx, slot_field[i]);
    int64_t arena_floats = (lp->arena_floats + 15) / 16 * 16;
    int64_t grad_floats = (lp->grad_floats + 15) / 16 * 16;
    wb.arena = fptr(g, ws, LLVMBuildNSWMul(g->b, worker, cg_i64(g, ws_floats), ""));
    wb.grad = fptr(g, wb.arena, cg_i64(g, arena_floats));
    wb.stats = fptr(g, wb.grad, cg_i64(g, grad_floats));
    if (lp->grad_floats + lp->stats_floats > 0)
        LLVMBuildMemSet(g->b, wb.grad, LLVMConstInt(g->i8, 0, 0),
                        cg_i64(g, (grad_floats + (lp->stats_floats + 15) / 16 * 16) * 4), 64);
    wb.scratch = cg_alloca(g, LLVMArrayType(g->f32, 16), "scratch");
    wb.image_floats = cnnc_shape_size(p->graph->nodes[p->graph->input_node].shape);

    /* Kernels that read only weights run once, before the image loop. */
    for (int k = 0; k < lp->num_kernels; k++)
        if (lp->kernels[k].hoisted)
            call_kernel(g, lp, kernel_fns[k], k, &wb, begin, cg_i64(g, -1), seed, mode);
    cg_loop li;
    LLVMValueRef img = cg_for_dynamic(g, &li, begin, end);
    LLVMValueRef label = cg_i64(g, -1);
    if (p->kind != CNNC_PROGRAM_INFER) {
        /* Labels (train) or classes (Grad-CAM, may be NULL = the predicted class). */
        LLVMValueRef has = LLVMBuildIsNotNull(g->b, labels, "");
        LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
        LLVMBasicBlockRef load_bb = LLVMAppendBasicBlockInContext(g->ctx, fn, "label");
        LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, fn, "label_done");
        LLVMBuildCondBr(g->b, has, load_bb, done);
        LLVMPositionBuilderAtEnd(g->b, load_bb);
        LLVMValueRef v = LLVMBuildLoad2(g->b, g->i32, cg_gep(g, g->i32, labels, img), "");
        v = LLVMBuildSExt(g->b, v, g->i64, "");
        LLVMBuildBr(g->b, done);
        LLVMPositionBuilderAtEnd(g->b, done);
        LLVMValueRef phi = LLVMBuildPhi(g->b, g->i64, "label");
        LLVMValueRef vals[2] = {cg_i64(g, -1), v};
        LLVMBasicBlockRef bbs[2] = {here, load_bb};
        LLVMAddIncoming(phi, vals, bbs, 2);
        label = phi;
    }
    for (int k = 0; k < lp->num_kernels; k++)
        if (!lp->kernels[k].hoisted)
            call_kernel(g, lp, kernel_fns[k], k, &wb, img, label, seed, mode);
    cg_end(g, &li);
    LLVMBuildRetVoid(g->b);
    return fn;
}

/* The entry function: its arguments into a stack ctx, then cnnrt_parallel_for. Returns
 * the ctx pointer (for the train step's epilogue) with the builder after the call. */
static LLVMValueRef begin_entry(module_state *s, program *p, LLVMTypeRef type,
                                LLVMValueRef worker, const int *fields, int nfields,
                                int n_arg, int pool_arg, int ws_arg)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef fn = LLVMAddFunction(g->mod, p->entry, type);
    p->entry_fn = fn;
    add_fn_attr(g, fn, LLVMAttributeFunctionIndex, "nounwind");
    g->fn = fn;
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    LLVMValueRef ctx = LLVMBuildAlloca(g->b, s->ctx_type, "ctx");
    for (int f = 0; f < CTX_FIELDS; f++) {
        set_ctx_field(s, ctx, f, ctx_field_is_int(f) ? cg_i64(g, 0) : LLVMConstNull(g->ptr));
    }
    for (int a = 0; a < nfields; a++)
        if (fields[a] >= 0)
            set_ctx_field(s, ctx, fields[a], LLVMGetParam(fn, (unsigned)a));
    set_ctx_field(s, ctx, CTX_WS, LLVMGetParam(fn, (unsigned)ws_arg));
    LLVMValueRef n = LLVMGetParam(fn, (unsigned)n_arg);
    LLVMValueRef args[4] = {LLVMGetParam(fn, (unsigned)pool_arg), n, worker, ctx};
    LLVMBasicBlockRef merge = cg_if(g, LLVMBuildICmp(g->b, LLVMIntSGT, n, cg_i64(g, 0), ""));
    LLVMBuildCall2(g->b, s->parallel_for_type, s->parallel_for, args, 4, "");
    cg_endif(g, merge);
    return ctx;
}

static void emit_infer_entry(module_state *s, program *p, LLVMValueRef worker)
{
    cnnc_cg *g = &s->g;
    /* (params, x, n, probs, logits, ws, pool) */
    LLVMTypeRef t[7] = {g->ptr, g->ptr, g->i64, g->ptr, g->ptr, g->ptr, g->ptr};
    LLVMTypeRef type = LLVMFunctionType(g->void_t, t, 7, 0);
    int fields[7] = {CTX_PARAMS, CTX_X, CTX_N, CTX_PROBS, CTX_LOGITS, -1, -1};
    begin_entry(s, p, type, worker, fields, 7, 2, 6, 5);
    LLVMBuildRetVoid(g->b);
}

/* The fields of cnnrt_cam_args and cnnrt_guided_args (cnnrt_model.h), all 8 bytes, in
 * order, with the worker ctx field each goes to. */
typedef struct arg_field {
    size_t offset;   /* in the C struct, checked below */
    int ctx;         /* CTX_*, or -1 for ws and pool (handled by begin_args_entry) */
    int is_int;
} arg_field;

#define CAM_ARG(field, ctx, is_int) {offsetof(cnnrt_cam_args, field), ctx, is_int}
static const arg_field cam_arg_fields[] = {
    CAM_ARG(params, CTX_PARAMS, 0),        CAM_ARG(x, CTX_X, 0),
    CAM_ARG(classes, CTX_LABELS, 0),       CAM_ARG(n, CTX_N, 1),
    CAM_ARG(layer, CTX_CAM_TARGET, 1),     CAM_ARG(method, CTX_CAM_METHOD, 1),
    CAM_ARG(score_mode, CTX_SCORE_MODE, 1), CAM_ARG(maps, CTX_MAPS, 0),
    CAM_ARG(map_max, CTX_MAP_MAX, 0),      CAM_ARG(probs, CTX_PROBS, 0),
    CAM_ARG(ws, CTX_WS, 0),                CAM_ARG(pool, -1, 0),
};
#define GUIDED_ARG(field, ctx, is_int) {offsetof(cnnrt_guided_args, field), ctx, is_int}
static const arg_field guided_arg_fields[] = {
    GUIDED_ARG(params, CTX_PARAMS, 0),         GUIDED_ARG(x, CTX_X, 0),
    GUIDED_ARG(classes, CTX_LABELS, 0),        GUIDED_ARG(n, CTX_N, 1),
    GUIDED_ARG(score_mode, CTX_SCORE_MODE, 1), GUIDED_ARG(input_grads, CTX_INPUT_GRADS, 0),
    GUIDED_ARG(probs, CTX_PROBS, 0),           GUIDED_ARG(ws, CTX_WS, 0),
    GUIDED_ARG(pool, -1, 0),
};
_Static_assert(sizeof(cnnrt_cam_args) == 8 * (sizeof cam_arg_fields / sizeof cam_arg_fields[0]),
               "cnnrt_cam_args has a field codegen.c does not know");
_Static_assert(sizeof(cnnrt_guided_args) ==
                   8 * (sizeof guided_arg_fields / sizeof guided_arg_fields[0]),
               "cnnrt_guided_args has a field codegen.c does not know");

/* A Grad-CAM entry point, int NAME(const ARGS *args): the argument struct's fields are
 * loaded into the worker ctx; check (given the number of target layers) decides between
 * running the images and returning -1. */
static void emit_args_entry(module_state *s, program *p, LLVMValueRef worker,
                            const arg_field *fields, int nfields,
                            LLVMValueRef (*check)(module_state *s, LLVMValueRef ctx,
                                                  int64_t targets),
                            int64_t targets)
{
    cnnc_cg *g = &s->g;
    LLVMTypeRef arg_types[16];
    for (int f = 0; f < nfields; f++) {
        if ((int64_t)fields[f].offset != 8 * f)
            cnnc_error(g->d, NOWHERE, "internal error: argument struct field %d is not at "
                       "offset %d", f, 8 * f);
        arg_types[f] = fields[f].is_int ? g->i64 : g->ptr;
    }
    LLVMTypeRef args_type = LLVMStructTypeInContext(g->ctx, arg_types, (unsigned)nfields, 0);
    LLVMTypeRef type = LLVMFunctionType(g->i32, &g->ptr, 1, 0);
    LLVMValueRef fn = LLVMAddFunction(g->mod, p->entry, type);
    p->entry_fn = fn;
    add_fn_attr(g, fn, LLVMAttributeFunctionIndex, "nounwind");
    g->fn = fn;
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    LLVMValueRef ctx = LLVMBuildAlloca(g->b, s->ctx_type, "ctx");
    for (int f = 0; f < CTX_FIELDS; f++)
        set_ctx_field(s, ctx, f, ctx_field_is_int(f) ? cg_i64(g, 0) : LLVMConstNull(g->ptr));
    LLVMValueRef args = LLVMGetParam(fn, 0), pool = NULL;
    for (int f = 0; f < nfields; f++) {
        LLVMValueRef at = LLVMBuildStructGEP2(g->b, args_type, args, (unsigned)f, "");
        LLVMValueRef v = LLVMBuildLoad2(g->b, arg_types[f], at, "");
        if (fields[f].ctx >= 0)
            set_ctx_field(s, ctx, fields[f].ctx, v);
        else
            pool = v;
    }
    LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(g->ctx, fn, "bad_arguments");
    LLVMBasicBlockRef run = LLVMAppendBasicBlockInContext(g->ctx, fn, "run");
    LLVMBuildCondBr(g->b, check(s, ctx, targets), run, bad);
    LLVMPositionBuilderAtEnd(g->b, bad);
    LLVMBuildRet(g->b, LLVMConstInt(g->i32, (unsigned long long)-1, 1));
    LLVMPositionBuilderAtEnd(g->b, run);
    LLVMValueRef n = ctx_field(s, ctx, CTX_N);
    LLVMValueRef call_args[4] = {pool, n, worker, ctx};
    LLVMBasicBlockRef merge = cg_if(g, LLVMBuildICmp(g->b, LLVMIntSGT, n, cg_i64(g, 0), ""));
    LLVMBuildCall2(g->b, s->parallel_for_type, s->parallel_for, call_args, 4, "");
    cg_endif(g, merge);
    LLVMBuildRet(g->b, LLVMConstInt(g->i32, 0, 0));
}

/* 0 <= v < count */
static LLVMValueRef in_range(cnnc_cg *g, LLVMValueRef v, int64_t count)
{
    return LLVMBuildICmp(g->b, LLVMIntULT, v, cg_i64(g, count), "");
}

static LLVMValueRef check_score_mode(module_state *s, LLVMValueRef ctx, int64_t targets)
{
    (void)targets;
    return in_range(&s->g, ctx_field(s, ctx, CTX_SCORE_MODE), CNNRT_SCORE_MODE_COUNT);
}

/* Layer, method and score mode in range; the method is then replaced by the one whose map
 * it shows (GUIDED -> HIRESCAM), which is what the method kernels are tagged with. */
static LLVMValueRef check_cam_args(module_state *s, LLVMValueRef ctx, int64_t targets)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef method = ctx_field(s, ctx, CTX_CAM_METHOD);
    LLVMValueRef ok = LLVMBuildAnd(g->b, check_score_mode(s, ctx, targets),
                                   in_range(g, method, CNNRT_CAM_METHOD_COUNT), "");
    ok = LLVMBuildAnd(g->b, ok, in_range(g, ctx_field(s, ctx, CTX_CAM_TARGET), targets), "");
    for (int m = 0; m < CNNRT_CAM_METHOD_COUNT; m++) {
        int map = (int)cnnc_cam_map_method((cnnrt_cam_method)m);
        if (map != m)
            method = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, method, cg_i64(g, m), ""),
                                     cg_i64(g, map), method, "");
    }
    set_ctx_field(s, ctx, CTX_CAM_METHOD, method);
    return ok;
}

static void emit_cam_entry(module_state *s, model_gen *m, program *p, LLVMValueRef worker)
{
    emit_args_entry(s, p, worker, cam_arg_fields,
                    (int)(sizeof cam_arg_fields / sizeof cam_arg_fields[0]), check_cam_args,
                    m->num_cam_layers);
}

static void emit_guided_entry(module_state *s, program *p, LLVMValueRef worker)
{
    emit_args_entry(s, p, worker, guided_arg_fields,
                    (int)(sizeof guided_arg_fields / sizeof guided_arg_fields[0]),
                    check_score_mode, 0);
}

/* Calls the kernels of the update program with the arguments args[CNNC_UPD_*]. */
static void call_update(cnnc_cg *g, const program *p, LLVMValueRef *args)
{
    const cnnc_lowered *up = p->update;
    for (int k = 0; k < up->num_kernels; k++) {
        const cnnc_kernel *kr = &up->kernels[k];
        LLVMValueRef call_args[CG_K_NUM_PARAMS];
        for (int i = 0; i < CNNC_KERNEL_MAX_OUT + CNNC_KERNEL_MAX_IN; i++) {
            int id = i < CNNC_KERNEL_MAX_OUT ? kr->out[i] : kr->in[i - CNNC_KERNEL_MAX_OUT];
            call_args[i] = id >= 0 ? args[up->bufs[id].offset] : LLVMConstNull(g->ptr);
        }
        call_args[CG_K_IMAGE] = call_args[CG_K_SEED] = cg_i64(g, 0);
        call_args[CG_K_LABEL] = call_args[CG_K_SCORE_MODE] = cg_i64(g, 0);
        LLVMBuildCall2(g->b, g->kernel_type, p->update_fns[k], call_args, CG_K_NUM_PARAMS, "");
    }
}

/* A float local holding v, for a scalar argument of the update program. */
static LLVMValueRef scalar_arg(cnnc_cg *g, LLVMValueRef v, const char *name)
{
    LLVMValueRef slot = cg_alloca(g, g->f32, name);
    LLVMBuildStore(g->b, v, slot);
    return slot;
}

/* After parallel_for: sum the per-thread gradients into thread 0's buffer in thread
 * order and the stats likewise, then run the optimizer's update program on them. */
static void emit_train_entry(module_state *s, program *p, LLVMValueRef worker, int64_t ws_floats)
{
    cnnc_cg *g = &s->g;
    const cnnc_graph *tg = p->graph;
    /* (params, opt_state, x, labels, n, step, lr, seed, stats, ws, pool) */
    LLVMTypeRef t[11] = {g->ptr, g->ptr, g->ptr, g->ptr, g->i64, g->i64,
                         g->f32, g->i64, g->ptr, g->ptr, g->ptr};
    LLVMTypeRef type = LLVMFunctionType(g->void_t, t, 11, 0);
    int fields[11] = {CTX_PARAMS, CTX_OPT_STATE, CTX_X, CTX_LABELS, CTX_N, -1,
                      -1,         CTX_SEED,      -1,    -1,         -1};
    begin_entry(s, p, type, worker, fields, 11, 4, 10, 9);
    LLVMValueRef fn = p->entry_fn;
    LLVMValueRef params = LLVMGetParam(fn, 0), opt = LLVMGetParam(fn, 1);
    LLVMValueRef n = LLVMGetParam(fn, 4), step = LLVMGetParam(fn, 5), lr = LLVMGetParam(fn, 6);
    LLVMValueRef stats_out = LLVMGetParam(fn, 8), ws = LLVMGetParam(fn, 9);
    LLVMValueRef pool = LLVMGetParam(fn, 10);
    const cnnc_lowered *lp = p->lowered;
    int64_t arena_floats = (lp->arena_floats + 15) / 16 * 16;
    int64_t grad_floats = (lp->grad_floats + 15) / 16 * 16;
    int64_t P = tg->param_floats;

    /* n <= 0: nothing was run; zero stats, no update. */
    LLVMValueRef zero = cg_i64(g, 0), one = cg_i64(g, 1);
    LLVMValueRef positive = LLVMBuildICmp(g->b, LLVMIntSGT, n, zero, "");
    LLVMBasicBlockRef empty_bb = LLVMAppendBasicBlockInContext(g->ctx, fn, "empty");
    LLVMBasicBlockRef run_bb = LLVMAppendBasicBlockInContext(g->ctx, fn, "update");
    LLVMBuildCondBr(g->b, positive, run_bb, empty_bb);
    LLVMPositionBuilderAtEnd(g->b, empty_bb);
    cg_store(g, cg_f32(g, 0.0), stats_out, zero);
    cg_store(g, cg_f32(g, 0.0), stats_out, one);
    LLVMBuildRetVoid(g->b);
    LLVMPositionBuilderAtEnd(g->b, run_bb);

    LLVMValueRef threads = LLVMBuildCall2(g->b, s->pool_threads_type, s->pool_threads, &pool, 1, "");
    LLVMValueRef T = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, threads, n, ""),
                                     threads, n, "");
    LLVMValueRef g0 = fptr(g, ws, cg_i64(g, arena_floats));
    LLVMValueRef s0 = fptr(g, g0, cg_i64(g, grad_floats));
    cg_loop lt, li;
    LLVMValueRef tid = cg_for_dynamic(g, &lt, one, T);
    LLVMValueRef gt = fptr(g, g0, LLVMBuildNSWMul(g->b, tid, cg_i64(g, ws_floats), ""));
    LLVMValueRef st_t = fptr(g, s0, LLVMBuildNSWMul(g->b, tid, cg_i64(g, ws_floats), ""));
    if (P > 0) {
        LLVMValueRef i = cg_for(g, &li, P);
        cg_store(g, LLVMBuildFAdd(g->b, cg_load(g, g0, i), cg_load(g, gt, i), ""), g0, i);
        cg_end(g, &li);
    }
    for (int k = 0; k < 2; k++) {
        LLVMValueRef idx = cg_i64(g, k);
        cg_store(g, LLVMBuildFAdd(g->b, cg_load(g, s0, idx), cg_load(g, st_t, idx), ""), s0, idx);
    }
    cg_end(g, &lt);
    cg_store(g, cg_load(g, s0, zero), stats_out, zero);
    cg_store(g, cg_load(g, s0, one), stats_out, one);

    if (p->update) {
        LLVMValueRef args[CNNC_UPD_STATE + CNNC_MAX_OPT_STATE];
        args[CNNC_UPD_PARAMS] = params;
        args[CNNC_UPD_GRAD] = g0;
        args[CNNC_UPD_LR] = scalar_arg(g, lr, "lr");
        args[CNNC_UPD_STEP] = scalar_arg(g, LLVMBuildSIToFP(g->b, step, g->f32, ""), "step");
        args[CNNC_UPD_N] = scalar_arg(g, LLVMBuildSIToFP(g->b, n, g->f32, ""), "n");
        for (int k = 0; k < CNNC_MAX_OPT_STATE; k++)
            args[CNNC_UPD_STATE + k] = fptr(g, opt, cg_i64(g, k * P));
        call_update(g, p, args);
    }
    LLVMBuildRetVoid(g->b);
}

/* The function of kernel k of lp: the module's body for its key if one was emitted
 * before (by this program or another), else a new one named MODEL_k<n>_<kind>. */
static LLVMValueRef kernel_function(module_state *s, model_gen *m, const cnnc_lowered *lp,
                                    int k)
{
    emitted_kernel e;
    e.len = cnnc_cg_kernel_key(lp, k, e.key, KERNEL_KEY_MAX);
    e.hash = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < e.len && i < KERNEL_KEY_MAX; i++)
        e.hash = (e.hash ^ (uint64_t)e.key[i]) * 0x100000001B3ull;
    int cacheable = e.len <= KERNEL_KEY_MAX;
    for (int i = 0; cacheable && i < s->num_kernels; i++) {
        const emitted_kernel *o = &s->kernels[i];
        if (o->hash == e.hash && o->len == e.len &&
            memcmp(o->key, e.key, e.len * sizeof e.key[0]) == 0)
            return o->fn;
    }
    char name[sizeof m->name + 64];
    snprintf(name, sizeof name, "%s_k%d_%s", m->name, s->num_kernels,
             cnnc_kernel_kind_name(lp->kernels[k].kind));
    e.fn = cnnc_cg_kernel(&s->g, lp, k, name);
    if (e.fn && cacheable) {
        s->kernels = cnnc_grow(s->kernels, s->num_kernels, &s->cap_kernels, 64,
                               sizeof *s->kernels);
        s->kernels[s->num_kernels++] = e;
    }
    return e.fn;
}

static int emit_program(module_state *s, model_gen *m, program *p)
{
    const cnnc_lowered *lp = p->lowered;
    LLVMValueRef *kfns = cnnc_xcalloc((size_t)(lp->num_kernels + 1), sizeof *kfns);
    for (int k = 0; k < lp->num_kernels; k++) {
        kfns[k] = kernel_function(s, m, lp, k);
        if (!kfns[k]) {
            free(kfns);
            return -1;
        }
    }
    LLVMValueRef worker = emit_worker(s, p, kfns, m->ws_floats);
    free(kfns);
    if (p->update) {
        p->update_fns = cnnc_xcalloc((size_t)p->update->num_kernels + 1, sizeof *p->update_fns);
        for (int k = 0; k < p->update->num_kernels; k++) {
            p->update_fns[k] = kernel_function(s, m, p->update, k);
            if (!p->update_fns[k])
                return -1;
        }
    }
    switch (p->kind) {
    case CNNC_PROGRAM_INFER: emit_infer_entry(s, p, worker); break;
    case CNNC_PROGRAM_TRAIN: emit_train_entry(s, p, worker, m->ws_floats); break;
    case CNNC_PROGRAM_CAM: emit_cam_entry(s, m, p, worker); break;
    case CNNC_PROGRAM_GUIDED: emit_guided_entry(s, p, worker); break;
    case CNNC_PROGRAM_UPDATE: break;   /* part of the train step's entry */
    }
    return 0;
}

/* ---- the descriptor ------------------------------------------------------------------- */

static LLVMValueRef string_constant(cnnc_cg *g, const char *text, const char *name)
{
    LLVMValueRef init = LLVMConstStringInContext(g->ctx, text, (unsigned)strlen(text), 0);
    LLVMValueRef gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
    return gv;
}

/* A private constant global initialised with init; returns its address. */
static LLVMValueRef private_constant(cnnc_cg *g, LLVMValueRef init, const char *name)
{
    LLVMValueRef gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

/* A constant struct of 8-byte fields (cnnrt_model.h's rule: no padding). */
static LLVMValueRef const_struct(cnnc_cg *g, LLVMValueRef *fields, unsigned n)
{
    return LLVMConstStructInContext(g->ctx, fields, n, 0);
}

/* cnnrt_layer_entry[num_layers], or NULL for a graph without layers (built by a test). */
static LLVMValueRef layers_table(cnnc_cg *g, const model_gen *m)
{
    const cnnc_graph *fw = m->forward;
    if (fw->num_layers == 0)
        return LLVMConstNull(g->ptr);
    LLVMValueRef *entries = cnnc_xcalloc((size_t)fw->num_layers + 1, sizeof *entries);
    char sym[300];
    for (int i = 0; i < fw->num_layers; i++) {
        const cnnc_layer *l = &fw->layers[i];
        LLVMValueRef dims[3];
        for (int k = 0; k < 3; k++)
            dims[k] = cg_i64(g, k < l->shape.rank ? l->shape.dim[k] : 0);
        snprintf(sym, sizeof sym, "%s.layer_name.%d", m->name, i);
        LLVMValueRef name = string_constant(g, l->name, sym);
        snprintf(sym, sizeof sym, "%s.layer_type.%d", m->name, i);
        LLVMValueRef f[6] = {name, string_constant(g, l->type, sym), cg_i64(g, l->shape.rank),
                             LLVMConstArray2(g->i64, dims, 3), cg_i64(g, l->params),
                             cg_i64(g, l->flops)};
        entries[i] = const_struct(g, f, 6);
    }
    LLVMValueRef arr = LLVMConstArray2(LLVMTypeOf(entries[0]), entries, (uint64_t)fw->num_layers);
    free(entries);
    snprintf(sym, sizeof sym, "%s_layers", m->name);
    return private_constant(g, arr, sym);
}

/* cnnrt_param_entry[num_params], or NULL without parameters. */
static LLVMValueRef params_table(cnnc_cg *g, const model_gen *m)
{
    const cnnc_graph *fw = m->forward;
    if (fw->num_params == 0)
        return LLVMConstNull(g->ptr);
    LLVMValueRef *entries = cnnc_xcalloc((size_t)fw->num_params, sizeof *entries);
    char sym[300];
    for (int i = 0; i < fw->num_params; i++) {
        const cnnc_param *p = &fw->params[i];
        LLVMValueRef dims[4];
        for (int k = 0; k < 4; k++)
            dims[k] = cg_i64(g, k < p->shape.rank ? p->shape.dim[k] : 0);
        snprintf(sym, sizeof sym, "%s.param_name.%d", m->name, i);
        int64_t init = p->init == CNNC_INIT_GLOROT_UNIFORM ? CNNRT_INIT_GLOROT_UNIFORM
                                                            : CNNRT_INIT_ZEROS;
        LLVMValueRef f[7] = {string_constant(g, p->name, sym), cg_i64(g, p->shape.rank),
                             LLVMConstArray2(g->i64, dims, 4), cg_i64(g, p->offset),
                             cg_i64(g, init), cg_i64(g, p->fan_in), cg_i64(g, p->fan_out)};
        entries[i] = const_struct(g, f, 7);
    }
    LLVMValueRef arr = LLVMConstArray2(LLVMTypeOf(entries[0]), entries, (uint64_t)fw->num_params);
    free(entries);
    snprintf(sym, sizeof sym, "%s_params", m->name);
    return private_constant(g, arr, sym);
}

/* cnnrt_train_settings, in its field order. */
enum { TRAIN_FIELDS = 14 };
static LLVMValueRef train_settings(cnnc_cg *g, const cnnc_graph *fw)
{
    const cnnc_train_config *t = &fw->train;
    LLVMValueRef f[TRAIN_FIELDS] = {
        cg_i64(g, t->loss), cg_i64(g, cnnc_train_loss_from_logits(fw)),
        cg_i64(g, t->optimizer), cg_f64(g, t->lr), cg_f64(g, t->beta_1), cg_f64(g, t->beta_2),
        cg_f64(g, t->epsilon), cg_f64(g, t->momentum), cg_f64(g, t->rho),
        cg_i64(g, t->metrics_accuracy != 0), cg_i64(g, t->epochs), cg_i64(g, t->batch_size),
        cg_f64(g, t->validation_split), LLVMConstInt(g->i64, t->seed, 0)};
    return const_struct(g, f, TRAIN_FIELDS);
}

static LLVMValueRef emit_descriptor(module_state *s, model_gen *m)
{
    cnnc_cg *g = &s->g;
    const cnnc_graph *fw = m->forward;
    LLVMValueRef zero_ptr = LLVMConstNull(g->ptr);

    /* The Grad-CAM target layers. */
    LLVMTypeRef layer_fields[4] = {g->ptr, g->i64, g->i64, g->i64};
    LLVMTypeRef layer_type = LLVMStructTypeInContext(g->ctx, layer_fields, 4, 0);
    LLVMValueRef cam_layers = zero_ptr;
    if (m->num_cam_layers) {
        LLVMValueRef *entries = cnnc_xcalloc((size_t)m->num_cam_layers, sizeof *entries);
        for (int t = 0; t < m->num_cam_layers; t++) {
            const cnnc_layer *l = &fw->layers[m->cam_layers[t]];
            char sym[300];
            snprintf(sym, sizeof sym, "%s.layer.%d", m->name, t);
            LLVMValueRef f[4] = {string_constant(g, l->name, sym), cg_i64(g, l->shape.dim[0]),
                                 cg_i64(g, l->shape.dim[1]), cg_i64(g, l->shape.dim[2])};
            entries[t] = LLVMConstNamedStruct(layer_type, f, 4);
        }
        LLVMValueRef arr = LLVMConstArray2(layer_type, entries, (uint64_t)m->num_cam_layers);
        free(entries);
        char sym[300];
        snprintf(sym, sizeof sym, "%s_cam_layers", m->name);
        cam_layers = LLVMAddGlobal(g->mod, LLVMTypeOf(arr), sym);
        LLVMSetInitializer(cam_layers, arr);
        LLVMSetGlobalConstant(cam_layers, 1);
        LLVMSetLinkage(cam_layers, LLVMPrivateLinkage);
    }

    LLVMValueRef infer = zero_ptr, train = zero_ptr, gradcam = zero_ptr, guided = zero_ptr;
    for (int i = 0; i < m->num_progs; i++) {
        LLVMValueRef fn = m->progs[i].entry_fn;
        switch (m->progs[i].kind) {
        case CNNC_PROGRAM_INFER: infer = fn; break;
        case CNNC_PROGRAM_TRAIN: train = fn; break;
        case CNNC_PROGRAM_CAM: gradcam = fn; break;
        case CNNC_PROGRAM_GUIDED: guided = fn; break;
        case CNNC_PROGRAM_UPDATE: break;   /* called by the train step, not an entry */
        }
    }
    const cnnc_shape *in = &fw->nodes[fw->input_node].shape;
    int64_t h = 1, w = 1, c = 1;
    if (in->rank == 3)
        h = in->dim[0], w = in->dim[1], c = in->dim[2];
    else if (in->rank == 2)
        h = in->dim[0], w = in->dim[1];
    else
        c = cnnc_shape_size(*in);
    char sym[300];
    snprintf(sym, sizeof sym, "%s.source", m->name);
    LLVMValueRef source = string_constant(
        g, fw->source_file ? fw->source_file : fw->model_name ? fw->model_name : "", sym);
    snprintf(sym, sizeof sym, "%s.name", m->name);
    LLVMValueRef name = string_constant(g, fw->model_name ? fw->model_name : m->name, sym);
    int cam_layer = cnnc_default_cam_layer(fw);
    LLVMValueRef gradcam_layer = zero_ptr;
    if (cam_layer >= 0) {
        snprintf(sym, sizeof sym, "%s.gradcam_layer", m->name);
        gradcam_layer = string_constant(g, fw->layers[cam_layer].name, sym);
    }
    LLVMValueRef class_names = zero_ptr;
    if (fw->class_names) {
        snprintf(sym, sizeof sym, "%s.class_names", m->name);
        class_names = string_constant(g, fw->class_names, sym);
    }
    int64_t opt_state = cnnc_graph_opt_state_floats(fw);
    LLVMValueRef f[] = {
        cg_i64(g, CNNRT_ABI_VERSION), name, source,
        LLVMConstInt(g->i64, cnnc_graph_fingerprint(fw), 0),
        cg_i64(g, h), cg_i64(g, w), cg_i64(g, c), cg_i64(g, fw->num_classes),
        cg_i64(g, fw->param_floats), cg_i64(g, opt_state), cg_i64(g, m->ws_floats),
        infer, train, gradcam, guided, cg_i64(g, m->num_cam_layers), cam_layers,
        cg_i64(g, fw->num_layers), layers_table(g, m),
        cg_i64(g, fw->num_params), params_table(g, m),
        train_settings(g, fw), gradcam_layer, class_names, cg_i64(g, fw->prepare)};
    enum { FIELDS = sizeof f / sizeof f[0] };
    /* Every field 8 bytes wide except train, a struct of TRAIN_FIELDS such fields. */
    _Static_assert(sizeof(cnnrt_train_settings) == 8 * TRAIN_FIELDS,
                   "cnnrt_train_settings has a field codegen.c does not fill");
    _Static_assert(sizeof(cnnrt_model) == 8 * (FIELDS - 1) + sizeof(cnnrt_train_settings),
                   "cnnrt_model has a field codegen.c does not fill");
    LLVMTypeRef types[FIELDS];
    for (int i = 0; i < FIELDS; i++)
        types[i] = LLVMTypeOf(f[i]);
    LLVMTypeRef model_type = LLVMStructTypeInContext(g->ctx, types, FIELDS, 0);
    snprintf(sym, sizeof sym, "%s_model", m->name);
    LLVMValueRef model = LLVMAddGlobal(g->mod, model_type, sym);
    LLVMSetInitializer(model, LLVMConstNamedStruct(model_type, f, FIELDS));
    LLVMSetGlobalConstant(model, 1);
    LLVMSetAlignment(model, 8);
    return model;
}

/* ---- target, optimisation, emission --------------------------------------------------- */

static int llvm_error(cnnc_diag *d, const char *what, LLVMErrorRef err)
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

static LLVMTargetMachineRef make_target_machine(const cnnc_codegen_options *o, cnnc_diag *d)
{
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMInitializeNativeAsmParser();
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
    LLVMCodeGenOptLevel level = o->opt_level <= 0   ? LLVMCodeGenLevelNone
                                : o->opt_level == 1 ? LLVMCodeGenLevelLess
                                : o->opt_level == 2 ? LLVMCodeGenLevelDefault
                                                    : LLVMCodeGenLevelAggressive;
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

static int optimise(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level, cnnc_diag *d)
{
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, layout);
    LLVMDisposeTargetData(layout);
    char passes[32];
    snprintf(passes, sizeof passes, "default<O%d>", level < 0 ? 0 : level > 3 ? 3 : level);
    LLVMPassBuilderOptionsRef pbo = LLVMCreatePassBuilderOptions();
    LLVMErrorRef err = LLVMRunPasses(mod, passes, tm, pbo);
    LLVMDisposePassBuilderOptions(pbo);
    if (err)
        return llvm_error(d, "LLVM optimisation failed", err);
    return 0;
}

/* Builds the whole module in ctx; NULL after diagnostics. */
static void free_header_info(cnnc_header_info *info)
{
    free((char *)info->c_name);
    memset(info, 0, sizeof *info);
}

static void fill_header_info(const model_gen *m, cnnc_header_info *info)
{
    info->c_name = cnnc_xstrdup(m->name);
    info->ws_floats = m->ws_floats;
    for (int i = 0; i < m->num_progs; i++) {
        if (m->progs[i].kind == CNNC_PROGRAM_TRAIN)
            info->has_train = 1;
        if (m->progs[i].kind == CNNC_PROGRAM_CAM)
            info->has_gradcam = 1;
    }
}

/* Builds the whole module in ctx (and, if info, what the header needs); NULL after
 * diagnostics. */
/* 16-float tiles when compiling for this very machine and it has AVX-512; a named
 * --target-cpu gets the portable 8-float tiles. */
static int wide_vectors(const cnnc_codegen_options *o)
{
    if (o->target_cpu && *o->target_cpu && strcmp(o->target_cpu, "native"))
        return 0;
    char *features = LLVMGetHostCPUFeatures();
    int wide = features && strstr(features, "+avx512f") != NULL;
    LLVMDisposeMessage(features);
    return wide;
}

static LLVMModuleRef build_module(const cnnc_graph *forward, const cnnc_codegen_options *opts,
                                  LLVMContextRef ctx, int with_program_model,
                                  cnnc_header_info *info, cnnc_diag *d)
{
    model_gen m = {0};
    m.forward = forward;
    m.opts = opts;
    m.d = d;
    cnnc_model_identifier(forward->model_name, m.name, sizeof m.name);
    if (build_programs(&m)) {
        free_programs(&m);
        return NULL;
    }
    module_state s;
    init_types(&s, ctx, m.name, d);
    s.kernels = NULL;
    s.num_kernels = s.cap_kernels = 0;
    s.g.wide = wide_vectors(opts);
    int failed = 0;
    for (int i = 0; i < m.num_progs && !failed; i++)
        failed = emit_program(&s, &m, &m.progs[i]);
    if (!failed) {
        LLVMValueRef model = emit_descriptor(&s, &m);
        if (with_program_model) {
            LLVMValueRef gv = LLVMAddGlobal(s.g.mod, s.g.ptr, "cnnrt_program_model");
            LLVMSetInitializer(gv, model);
            LLVMSetGlobalConstant(gv, 1);
        }
        if (info)
            fill_header_info(&m, info);
    }
    free_programs(&m);
    free(s.kernels);
    LLVMDisposeBuilder(s.g.b);
    char *msg = NULL;
    if (!failed && LLVMVerifyModule(s.g.mod, LLVMReturnStatusAction, &msg)) {
        cnnc_error(d, NOWHERE, "internal error: the generated LLVM IR does not verify: %s",
                   msg ? msg : "?");
        failed = 1;
    }
    if (msg)
        LLVMDisposeMessage(msg);
    if (failed) {
        LLVMDisposeModule(s.g.mod);
        return NULL;
    }
    return s.g.mod;
}

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
    LLVMTargetMachineRef tm = make_target_machine(opts, d);
    if (!tm)
        return -1;
    LLVMContextRef ctx = LLVMContextCreate();
    int rc = -1;
    cnnc_header_info info = {0};
    LLVMModuleRef mod =
        build_module(forward, opts, ctx, opts->emit == CNNC_EMIT_PROGRAM, &info, d);
    if (mod && optimise(mod, tm, opts->opt_level, d) == 0) {
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
    free_header_info(&info);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return rc;
}

/* ---- JIT ------------------------------------------------------------------------------ */

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
        return llvm_error(d, "JIT: cannot define symbols", err);
    return 0;
}

cnnc_jit *cnnc_jit_compile(const cnnc_graph *forward, const cnnc_codegen_options *opts,
                           const cnnc_jit_symbol *symbols, int num_symbols, cnnc_diag *d)
{
    LLVMTargetMachineRef opt_tm = make_target_machine(opts, d);
    if (!opt_tm)
        return NULL;
    LLVMTargetMachineRef jit_tm = make_target_machine(opts, d);
    if (!jit_tm) {
        LLVMDisposeTargetMachine(opt_tm);
        return NULL;
    }
    cnnc_jit *j = cnnc_xcalloc(1, sizeof *j);
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
    LLVMModuleRef mod = build_module(forward, opts, ctx, 0, NULL, d);
    int ok = mod && optimise(mod, opt_tm, opts->opt_level, d) == 0;
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
        llvm_error(d, "cannot create the JIT", err);
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
        llvm_error(d, "JIT: cannot search the process for symbols", err);
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
        llvm_error(d, "JIT: cannot add the module", err);
        cnnc_jit_free(j);
        return NULL;
    }
    LLVMOrcExecutorAddress addr = 0;
    err = LLVMOrcLLJITLookup(j->jit, &addr, model_sym);
    if (err) {
        llvm_error(d, "JIT: cannot compile the model", err);
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
