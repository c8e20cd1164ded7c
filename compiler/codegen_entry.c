/* The entry-point ABI of runtime/cnnrt_model.h. Each entry point is described once, as a
 * table of its parameters (or of its argument struct's fields) by name, each with the
 * worker ctx field it is stored in. The entry stores them into a stack ctx and calls
 * cnnrt_parallel_for(pool, n, worker, &ctx); the train step then sums the per-thread
 * gradients in thread order and runs the optimizer's update program on them. A train step
 * with batch_norm runs in phases instead (emit_phases): one parallel_for per phase over a
 * batch arena the runtime keeps between steps, the batch statistics computed between
 * them. Its two halves (NAME_train_gradients, NAME_train_update) are entry points too, for
 * data-parallel training (runtime/mpi_train.c sums the gradients of several processes
 * between them). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cam_methods.h"
#include "codegen_module.h"
#include "optimizers.h"

static const cnnc_loc NOWHERE = {0, 0, 0};

/* ---- the worker ctx --------------------------------------------------------------------- */

int cg_ctx_field_is_int(cg_ctx_field field)
{
    return field == CTX_N || field == CTX_SEED || field == CTX_SCORE_MODE ||
           field == CTX_CAM_TARGET || field == CTX_CAM_METHOD;
}

LLVMValueRef cg_ctx_load(cg_module *s, LLVMValueRef ctx, cg_ctx_field field)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef p = LLVMBuildStructGEP2(g->b, s->ctx_type, ctx, (unsigned)field, "");
    return LLVMBuildLoad2(g->b, cg_ctx_field_is_int(field) ? g->i64 : g->ptr, p, "");
}

void cg_ctx_store(cg_module *s, LLVMValueRef ctx, cg_ctx_field field, LLVMValueRef v)
{
    cnnc_cg *g = &s->g;
    LLVMBuildStore(g->b, v, LLVMBuildStructGEP2(g->b, s->ctx_type, ctx, (unsigned)field, ""));
}

/* ---- the entry points' arguments ------------------------------------------------------- */

typedef enum arg_type { ARG_PTR, ARG_I64, ARG_F32 } arg_type;

/* Not a ctx field: the argument is the entry point's own (the pool it hands to
 * cnnrt_parallel_for, the train step's step, lr and stats). */
enum { FOR_ENTRY = -1 };

typedef struct entry_arg {
    arg_type type;
    int ctx;          /* the cg_ctx_field the worker reads it from, or FOR_ENTRY */
    size_t offset;    /* an argument struct's field: its offset (checked against 8*i) */
} entry_arg;

/* cnnrt_infer_fn, parameter by parameter. */
enum { INFER_PARAMS, INFER_X, INFER_N, INFER_PROBS, INFER_LOGITS, INFER_WS, INFER_POOL,
       INFER_ARGS };
typedef void infer_abi(const float *params, const float *x, int64_t n, float *probs,
                       float *logits, float *ws, cnnrt_pool *pool);
_Static_assert(_Generic((infer_abi *)0, cnnrt_infer_fn: 1, default: 0),
               "cnnrt_infer_fn changed: update infer_args and INFER_*");
static const entry_arg infer_args[INFER_ARGS] = {
    [INFER_PARAMS] = {ARG_PTR, CTX_PARAMS, 0}, [INFER_X] = {ARG_PTR, CTX_X, 0},
    [INFER_N] = {ARG_I64, CTX_N, 0},           [INFER_PROBS] = {ARG_PTR, CTX_PROBS, 0},
    [INFER_LOGITS] = {ARG_PTR, CTX_LOGITS, 0}, [INFER_WS] = {ARG_PTR, CTX_WS, 0},
    [INFER_POOL] = {ARG_PTR, FOR_ENTRY, 0},
};

/* cnnrt_train_fn, parameter by parameter. */
enum { TRAIN_PARAMS, TRAIN_OPT_STATE, TRAIN_X, TRAIN_LABELS, TRAIN_N, TRAIN_STEP, TRAIN_LR,
       TRAIN_SEED, TRAIN_STATS, TRAIN_WS, TRAIN_POOL, TRAIN_ARGS };
typedef void train_abi(float *params, float *opt_state, const float *x, const int32_t *labels,
                       int64_t n, int64_t step, float lr, uint64_t seed, float *stats,
                       float *ws, cnnrt_pool *pool);
_Static_assert(_Generic((train_abi *)0, cnnrt_train_fn: 1, default: 0),
               "cnnrt_train_fn changed: update train_args and TRAIN_*");
static const entry_arg train_args[TRAIN_ARGS] = {
    [TRAIN_PARAMS] = {ARG_PTR, CTX_PARAMS, 0}, [TRAIN_OPT_STATE] = {ARG_PTR, CTX_OPT_STATE, 0},
    [TRAIN_X] = {ARG_PTR, CTX_X, 0},           [TRAIN_LABELS] = {ARG_PTR, CTX_LABELS, 0},
    [TRAIN_N] = {ARG_I64, CTX_N, 0},           [TRAIN_STEP] = {ARG_I64, FOR_ENTRY, 0},
    [TRAIN_LR] = {ARG_F32, FOR_ENTRY, 0},      [TRAIN_SEED] = {ARG_I64, CTX_SEED, 0},
    [TRAIN_STATS] = {ARG_PTR, FOR_ENTRY, 0},   [TRAIN_WS] = {ARG_PTR, CTX_WS, 0},
    [TRAIN_POOL] = {ARG_PTR, FOR_ENTRY, 0},
};

/* cnnrt_train_grad_fn, parameter by parameter: the train step's first half. */
enum { GRAD_PARAMS, GRAD_X, GRAD_LABELS, GRAD_N, GRAD_SEED, GRAD_GRAD, GRAD_STATS, GRAD_WS,
       GRAD_POOL, GRAD_ARGS };
typedef void grad_abi(const float *params, const float *x, const int32_t *labels, int64_t n,
                      uint64_t seed, float *grad, float *stats, float *ws, cnnrt_pool *pool);
_Static_assert(_Generic((grad_abi *)0, cnnrt_train_grad_fn: 1, default: 0),
               "cnnrt_train_grad_fn changed: update grad_args and GRAD_*");
static const entry_arg grad_args[GRAD_ARGS] = {
    [GRAD_PARAMS] = {ARG_PTR, CTX_PARAMS, 0}, [GRAD_X] = {ARG_PTR, CTX_X, 0},
    [GRAD_LABELS] = {ARG_PTR, CTX_LABELS, 0}, [GRAD_N] = {ARG_I64, CTX_N, 0},
    [GRAD_SEED] = {ARG_I64, CTX_SEED, 0},     [GRAD_GRAD] = {ARG_PTR, FOR_ENTRY, 0},
    [GRAD_STATS] = {ARG_PTR, FOR_ENTRY, 0},   [GRAD_WS] = {ARG_PTR, CTX_WS, 0},
    [GRAD_POOL] = {ARG_PTR, FOR_ENTRY, 0},
};

/* cnnrt_train_update_fn, parameter by parameter: the second half (no workers). */
enum { UPDATE_PARAMS, UPDATE_OPT_STATE, UPDATE_GRAD, UPDATE_N, UPDATE_STEP, UPDATE_LR,
       UPDATE_ARGS };
typedef void update_abi(float *params, float *opt_state, float *grad, int64_t n, int64_t step,
                        float lr);
_Static_assert(_Generic((update_abi *)0, cnnrt_train_update_fn: 1, default: 0),
               "cnnrt_train_update_fn changed: update update_args and UPDATE_*");
static const entry_arg update_args[UPDATE_ARGS] = {
    [UPDATE_PARAMS] = {ARG_PTR, FOR_ENTRY, 0}, [UPDATE_OPT_STATE] = {ARG_PTR, FOR_ENTRY, 0},
    [UPDATE_GRAD] = {ARG_PTR, FOR_ENTRY, 0},   [UPDATE_N] = {ARG_I64, FOR_ENTRY, 0},
    [UPDATE_STEP] = {ARG_I64, FOR_ENTRY, 0},   [UPDATE_LR] = {ARG_F32, FOR_ENTRY, 0},
};

/* cnnrt_cam_args and cnnrt_guided_args, field by field, in order. */
#define CAM_ARG(field, type, ctx) {type, ctx, offsetof(cnnrt_cam_args, field)}
static const entry_arg cam_args[] = {
    CAM_ARG(params, ARG_PTR, CTX_PARAMS),        CAM_ARG(x, ARG_PTR, CTX_X),
    CAM_ARG(classes, ARG_PTR, CTX_LABELS),       CAM_ARG(n, ARG_I64, CTX_N),
    CAM_ARG(layer, ARG_I64, CTX_CAM_TARGET),     CAM_ARG(method, ARG_I64, CTX_CAM_METHOD),
    CAM_ARG(score_mode, ARG_I64, CTX_SCORE_MODE), CAM_ARG(maps, ARG_PTR, CTX_MAPS),
    CAM_ARG(map_max, ARG_PTR, CTX_MAP_MAX),      CAM_ARG(probs, ARG_PTR, CTX_PROBS),
    CAM_ARG(ws, ARG_PTR, CTX_WS),                CAM_ARG(pool, ARG_PTR, FOR_ENTRY),
};
#define GUIDED_ARG(field, type, ctx) {type, ctx, offsetof(cnnrt_guided_args, field)}
static const entry_arg guided_args[] = {
    GUIDED_ARG(params, ARG_PTR, CTX_PARAMS),         GUIDED_ARG(x, ARG_PTR, CTX_X),
    GUIDED_ARG(classes, ARG_PTR, CTX_LABELS),        GUIDED_ARG(n, ARG_I64, CTX_N),
    GUIDED_ARG(score_mode, ARG_I64, CTX_SCORE_MODE),
    GUIDED_ARG(input_grads, ARG_PTR, CTX_INPUT_GRADS), GUIDED_ARG(probs, ARG_PTR, CTX_PROBS),
    GUIDED_ARG(ws, ARG_PTR, CTX_WS),                 GUIDED_ARG(pool, ARG_PTR, FOR_ENTRY),
};
enum { CAM_ARGS = sizeof cam_args / sizeof cam_args[0],
       GUIDED_ARGS = sizeof guided_args / sizeof guided_args[0] };
_Static_assert(sizeof(cnnrt_cam_args) == 8 * CAM_ARGS,
               "cnnrt_cam_args has a field codegen_entry.c does not know");
_Static_assert(sizeof(cnnrt_guided_args) == 8 * GUIDED_ARGS,
               "cnnrt_guided_args has a field codegen_entry.c does not know");

static LLVMTypeRef arg_llvm_type(const cnnc_cg *g, arg_type type)
{
    return type == ARG_I64 ? g->i64 : type == ARG_F32 ? g->f32 : g->ptr;
}

/* ---- building an entry point ------------------------------------------------------------ */

/* Starts entry function `name` of the given type (nounwind), builder in its entry. */
static LLVMValueRef start_named_entry(cg_module *s, const char *name, LLVMTypeRef type)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef fn = LLVMAddFunction(g->mod, name, type);
    cg_add_fn_attr(g, fn, LLVMAttributeFunctionIndex, "nounwind");
    g->fn = fn;
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    return fn;
}

/* Starts p's entry point, `p->entry`. */
static LLVMValueRef start_entry(cg_module *s, cg_program *p, LLVMTypeRef type)
{
    p->entry_fn = start_named_entry(s, p->entry, type);
    return p->entry_fn;
}

/* The types of the parameters args[0..num). */
static LLVMTypeRef entry_type(cnnc_cg *g, const entry_arg *args, int num)
{
    LLVMTypeRef types[16];
    for (int a = 0; a < num; a++)
        types[a] = arg_llvm_type(g, args[a].type);
    return LLVMFunctionType(g->void_t, types, (unsigned)num, 0);
}

/* A stack ctx with every field 0 or NULL. */
static LLVMValueRef new_ctx(cg_module *s)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef ctx = LLVMBuildAlloca(g->b, s->ctx_type, "ctx");
    for (int f = 0; f < CTX_FIELDS; f++)
        cg_ctx_store(s, ctx, f, cg_ctx_field_is_int(f) ? cg_i64(g, 0) : LLVMConstNull(g->ptr));
    return ctx;
}

/* if (n > 0) cnnrt_parallel_for(pool, n, worker, ctx); -- or, when p has a team worker
 * and there are fewer images than threads, cnnrt_parallel_team(pool, threads, team, ctx),
 * which splits each image over the threads (batch 1 on two cores). */
static void run_workers(cg_module *s, const cg_program *p, LLVMValueRef pool, LLVMValueRef n,
                        LLVMValueRef worker, LLVMValueRef ctx)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef args[4] = {pool, n, worker, ctx};
    LLVMBasicBlockRef merge = cg_if(g, LLVMBuildICmp(g->b, LLVMIntSGT, n, cg_i64(g, 0), ""));
    if (p->team_worker) {
        LLVMValueRef threads = LLVMBuildCall2(g->b, s->pool_threads_type, s->pool_threads,
                                              &pool, 1, "");
        LLVMValueRef few = LLVMBuildICmp(g->b, LLVMIntSLT, n, threads, "");
        LLVMBasicBlockRef batch = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "batch");
        LLVMBasicBlockRef team = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "team");
        LLVMBuildCondBr(g->b, few, team, batch);
        LLVMPositionBuilderAtEnd(g->b, team);
        LLVMValueRef team_fn = LLVMGetNamedFunction(g->mod, "cnnrt_parallel_team");
        if (!team_fn)
            team_fn = LLVMAddFunction(g->mod, "cnnrt_parallel_team", s->parallel_for_type);
        LLVMValueRef team_args[4] = {pool, threads, p->team_worker, ctx};
        LLVMBuildCall2(g->b, s->parallel_for_type, team_fn, team_args, 4, "");
        LLVMBuildBr(g->b, merge);
        LLVMPositionBuilderAtEnd(g->b, batch);
    }
    LLVMBuildCall2(g->b, s->parallel_for_type, s->parallel_for, args, 4, "");
    cg_endif(g, merge);
}

/* A void entry point `name` taking the parameters args[0..num) (infer, train step, its
 * gradients half): they go into the ctx (*ctx_out when not NULL) and the images to the
 * workers. The builder is left after the workers' run (without a worker, a phased
 * training step's, before it). */
static LLVMValueRef begin_named_params_entry(cg_module *s, const cg_program *p,
                                             const char *name, LLVMValueRef worker,
                                             const entry_arg *args, int num, int n_arg,
                                             int pool_arg, LLVMValueRef *ctx_out)
{
    LLVMValueRef fn = start_named_entry(s, name, entry_type(&s->g, args, num));
    LLVMValueRef ctx = new_ctx(s);
    for (int a = 0; a < num; a++)
        if (args[a].ctx != FOR_ENTRY)
            cg_ctx_store(s, ctx, args[a].ctx, LLVMGetParam(fn, (unsigned)a));
    if (worker)
        run_workers(s, p, LLVMGetParam(fn, (unsigned)pool_arg), LLVMGetParam(fn, (unsigned)n_arg),
                    worker, ctx);
    if (ctx_out)
        *ctx_out = ctx;
    return fn;
}

/* The same for p's entry point `p->entry`. */
static LLVMValueRef begin_params_entry(cg_module *s, cg_program *p, LLVMValueRef worker,
                                       const entry_arg *args, int num, int n_arg, int pool_arg,
                                       LLVMValueRef *ctx_out)
{
    p->entry_fn = begin_named_params_entry(s, p, p->entry, worker, args, num, n_arg, pool_arg,
                                           ctx_out);
    return p->entry_fn;
}

static void emit_infer_entry(cg_module *s, cg_program *p, LLVMValueRef worker)
{
    begin_params_entry(s, p, worker, infer_args, INFER_ARGS, INFER_N, INFER_POOL, NULL);
    LLVMBuildRetVoid(s->g.b);
}

/* A Grad-CAM entry point, int NAME(const ARGS *args): the argument struct's fields are
 * loaded into the worker ctx; check (given the number of target layers) decides between
 * running the images and returning -1. */
static void emit_struct_entry(cg_module *s, cg_program *p, LLVMValueRef worker,
                              const entry_arg *fields, int nfields,
                              LLVMValueRef (*check)(cg_module *s, LLVMValueRef ctx,
                                                    int64_t targets),
                              int64_t targets)
{
    cnnc_cg *g = &s->g;
    LLVMTypeRef arg_types[16];
    for (int f = 0; f < nfields; f++) {
        if ((int64_t)fields[f].offset != 8 * f)
            cnnc_error(g->d, NOWHERE, "internal error: argument struct field %d is not at "
                       "offset %d", f, 8 * f);
        arg_types[f] = arg_llvm_type(g, fields[f].type);
    }
    LLVMTypeRef args_type = LLVMStructTypeInContext(g->ctx, arg_types, (unsigned)nfields, 0);
    LLVMValueRef fn = start_entry(s, p, LLVMFunctionType(g->i32, &g->ptr, 1, 0));
    LLVMValueRef ctx = new_ctx(s);
    LLVMValueRef args = LLVMGetParam(fn, 0), pool = NULL;
    for (int f = 0; f < nfields; f++) {
        LLVMValueRef at = LLVMBuildStructGEP2(g->b, args_type, args, (unsigned)f, "");
        LLVMValueRef v = LLVMBuildLoad2(g->b, arg_types[f], at, "");
        if (fields[f].ctx != FOR_ENTRY)
            cg_ctx_store(s, ctx, fields[f].ctx, v);
        else
            pool = v;
    }
    LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(g->ctx, fn, "bad_arguments");
    LLVMBasicBlockRef run = LLVMAppendBasicBlockInContext(g->ctx, fn, "run");
    LLVMBuildCondBr(g->b, check(s, ctx, targets), run, bad);
    LLVMPositionBuilderAtEnd(g->b, bad);
    LLVMBuildRet(g->b, LLVMConstInt(g->i32, (unsigned long long)-1, 1));
    LLVMPositionBuilderAtEnd(g->b, run);
    run_workers(s, p, pool, cg_ctx_load(s, ctx, CTX_N), worker, ctx);
    LLVMBuildRet(g->b, LLVMConstInt(g->i32, 0, 0));
}

/* 0 <= v < count */
static LLVMValueRef in_range(cnnc_cg *g, LLVMValueRef v, int64_t count)
{
    return LLVMBuildICmp(g->b, LLVMIntULT, v, cg_i64(g, count), "");
}

static LLVMValueRef check_score_mode(cg_module *s, LLVMValueRef ctx, int64_t targets)
{
    (void)targets;
    return in_range(&s->g, cg_ctx_load(s, ctx, CTX_SCORE_MODE), CNNRT_SCORE_MODE_COUNT);
}

/* Layer, method and score mode in range; the method is then replaced by the one whose map
 * it shows (GUIDED -> HIRESCAM), which is what the method kernels are tagged with. */
static LLVMValueRef check_cam_args(cg_module *s, LLVMValueRef ctx, int64_t targets)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef method = cg_ctx_load(s, ctx, CTX_CAM_METHOD);
    LLVMValueRef ok = LLVMBuildAnd(g->b, check_score_mode(s, ctx, targets),
                                   in_range(g, method, CNNRT_CAM_METHOD_COUNT), "");
    ok = LLVMBuildAnd(g->b, ok, in_range(g, cg_ctx_load(s, ctx, CTX_CAM_TARGET), targets), "");
    for (int m = 0; m < CNNRT_CAM_METHOD_COUNT; m++) {
        int map = (int)cnnc_cam_map_method((cnnrt_cam_method)m);
        if (map != m)
            method = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, method, cg_i64(g, m), ""),
                                     cg_i64(g, map), method, "");
    }
    cg_ctx_store(s, ctx, CTX_CAM_METHOD, method);
    return ok;
}

/* ---- the train step's epilogue ---------------------------------------------------------- */

/* Calls the kernels of the update program with the arguments args[CNNC_UPD_*]. */
static void call_update(cnnc_cg *g, const cg_program *p, LLVMValueRef *args)
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
        call_args[CG_K_PART] = cg_i64(g, 0);
        call_args[CG_K_PARTS] = cg_i64(g, 1);
        cnnc_cg_call_kernel(g, p->update_fns[k], up, k, call_args);
    }
}

/* A float local holding v, for a scalar argument of the update program. */
static LLVMValueRef scalar_arg(cnnc_cg *g, LLVMValueRef v, const char *name)
{
    LLVMValueRef slot = cg_alloca(g, g->f32, name);
    LLVMBuildStore(g->b, v, slot);
    return slot;
}

/* ---- the phased training step (batch_norm) ----------------------------------------------- */

/* Where a phased training step keeps what its phases share: the batch arena (image b's
 * arena at b * stride), the images x, their count n, the weights, the batch statistic's
 * slot (`means`, after the images' arenas) and the block that stops the step. */
typedef struct phase_place {
    LLVMValueRef arena, x, n, params, means;
    int64_t stride;
    LLVMBasicBlockRef stop;
} phase_place;

/* Image 0's copy of buffer `buf` in a phased training step (its place in image 0's arena,
 * or the first image itself), and in *stride the distance in floats from one image's copy
 * to the next. NULL after an error for any other kind (a batch statistic is always of a
 * per-image value). */
static LLVMValueRef image_rows(cnnc_cg *g, const cg_program *p, int buf,
                               const phase_place *at, int64_t *stride)
{
    const cnnc_lbuf *lb = &p->lowered->bufs[buf];
    if (lb->kind == CNNC_BUF_ARENA) {
        *stride = at->stride;
        return cg_fptr(g, at->arena, cg_i64(g, lb->offset));
    }
    if (lb->kind == CNNC_BUF_INPUT) {
        *stride = cnnc_shape_size(p->graph->nodes[p->graph->input_node].shape);
        return at->x;
    }
    cnnc_error(g->d, NOWHERE, "internal error: a batch statistic of a value that is not "
               "per image");
    return NULL;
}

/* int64_t cnnrt_batch_mean(const float *, int64_t, int64_t, int64_t, float *). */
static LLVMValueRef batch_mean_fn(cnnc_cg *g, LLVMTypeRef *type)
{
    LLVMTypeRef params[5] = {g->ptr, g->i64, g->i64, g->i64, g->ptr};
    *type = LLVMFunctionType(g->i64, params, 5, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(g->mod, "cnnrt_batch_mean");
    return fn ? fn : LLVMAddFunction(g->mod, "cnnrt_batch_mean", *type);
}

/* The two loops of a batch statistic, as functions of their own, emitted once per module
 * and called from both training entries: inline, each of a model's statistics had its own
 * copy of both loop nests in train_step and again in train_gradients, and optimising those
 * copies took a fifth of models/fashion_bn.cnn's compile time (its 16 statistics) for
 * loops that run once per batch. */
typedef void (*batch_loop_body)(cnnc_cg *g, LLVMValueRef fn);

/* void NAME(float *out, i64 stride, i64 n, const float *mean, i64 elems):
 * out[b * stride + e] = mean[e] for every image b < n. */
static void fill_images_body(cnnc_cg *g, LLVMValueRef fn)
{
    LLVMValueRef out = LLVMGetParam(fn, 0), stride = LLVMGetParam(fn, 1);
    LLVMValueRef mean = LLVMGetParam(fn, 3);
    cg_loop lb, le;
    LLVMValueRef b = cg_for_dynamic(g, &lb, cg_i64(g, 0), LLVMGetParam(fn, 2));
    LLVMValueRef image_out = cg_fptr(g, out, LLVMBuildNSWMul(g->b, b, stride, ""));
    LLVMValueRef e = cg_for_dynamic(g, &le, cg_i64(g, 0), LLVMGetParam(fn, 4));
    cg_store(g, cg_load(g, mean, e), image_out, e);
    cg_end(g, &le);
    cg_end(g, &lb);
}

/* void NAME(float *moving, const float *mean, i64 elems, float momentum, float rest):
 * Keras's moving statistic, moving[e] = moving[e] * momentum + mean[e] * rest (rest is
 * 1 - momentum, rounded to float as the interpreter rounds it). */
static void moving_statistic_body(cnnc_cg *g, LLVMValueRef fn)
{
    LLVMValueRef moving = LLVMGetParam(fn, 0), mean = LLVMGetParam(fn, 1);
    cg_loop le;
    LLVMValueRef e = cg_for_dynamic(g, &le, cg_i64(g, 0), LLVMGetParam(fn, 2));
    LLVMValueRef kept = LLVMBuildFMul(g->b, cg_load(g, moving, e), LLVMGetParam(fn, 3), "");
    LLVMValueRef added = LLVMBuildFMul(g->b, cg_load(g, mean, e), LLVMGetParam(fn, 4), "");
    cg_store(g, LLVMBuildFAdd(g->b, kept, added, ""), moving, e);
    cg_end(g, &le);
}

/* The module's function `name` of this type, emitted by body on first use: internal,
 * noinline (else LLVM would inline every call back), its pointers noalias (the batch
 * statistic's slot, the images' arenas and the weights never overlap). Leaves the builder
 * where it was. */
static LLVMValueRef batch_loop_fn(cnnc_cg *g, const char *name, LLVMTypeRef type,
                                  batch_loop_body body)
{
    LLVMValueRef fn = LLVMGetNamedFunction(g->mod, name);
    if (fn)
        return fn;
    fn = LLVMAddFunction(g->mod, name, type);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_add_fn_attr(g, fn, LLVMAttributeFunctionIndex, "nounwind");
    cg_add_fn_attr(g, fn, LLVMAttributeFunctionIndex, "noinline");
    for (unsigned i = 0; i < LLVMCountParams(fn); i++)
        if (LLVMTypeOf(LLVMGetParam(fn, i)) == g->ptr)
            cg_add_fn_attr(g, fn, i + 1, "noalias");
    LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
    LLVMValueRef saved_fn = g->fn;
    LLVMBasicBlockRef saved_entry = g->entry;
    g->fn = fn;
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    body(g, fn);
    LLVMBuildRetVoid(g->b);
    g->fn = saved_fn;
    g->entry = saved_entry;
    LLVMPositionBuilderAtEnd(g->b, here);
    return fn;
}

/* Between two phases, BATCH_MEAN kernel k: per element, the mean over the batch's images
 * (the runtime's cnnrt_batch_mean: summed in image order in double, so the result depends
 * on neither the thread count nor, under mpirun, the process count, as the interpreter
 * computes it) written into every image's output; for a batch_norm statistic also Keras's
 * update of its moving statistic, moving = moving * momentum + mean * (1 - momentum) (the
 * optimizer leaves these non-trainable weights alone), when the batch has images. */
static int emit_batch_mean(cnnc_cg *g, const cg_program *p, int k, const phase_place *at)
{
    const cnnc_kernel *kr = &p->lowered->kernels[k];
    const cnnc_node *node = &p->graph->nodes[kr->node];
    int64_t in_stride = 0, out_stride = 0;
    LLVMValueRef in = image_rows(g, p, kr->in[0], at, &in_stride);
    LLVMValueRef out = image_rows(g, p, kr->out[0], at, &out_stride);
    if (!in || !out)
        return -1;
    LLVMTypeRef mean_type;
    LLVMValueRef mean_fn = batch_mean_fn(g, &mean_type);
    LLVMValueRef args[5] = {in, cg_i64(g, in_stride), at->n, cg_i64(g, kr->n), at->means};
    LLVMValueRef images = LLVMBuildCall2(g->b, mean_type, mean_fn, args, 5, "batch_images");
    LLVMValueRef ok = LLVMBuildICmp(g->b, LLVMIntSGE, images, cg_i64(g, 0), "");
    LLVMBasicBlockRef go_on = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "statistic");
    LLVMBuildCondBr(g->b, ok, go_on, at->stop);
    LLVMPositionBuilderAtEnd(g->b, go_on);
    LLVMTypeRef fill_params[5] = {g->ptr, g->i64, g->i64, g->ptr, g->i64};
    LLVMTypeRef fill_type = LLVMFunctionType(g->void_t, fill_params, 5, 0);
    LLVMValueRef fill = batch_loop_fn(g, "cnnc_fill_images", fill_type, fill_images_body);
    LLVMValueRef fill_args[5] = {out, cg_i64(g, out_stride), at->n, at->means, cg_i64(g, kr->n)};
    LLVMBuildCall2(g->b, fill_type, fill, fill_args, 5, "");
    if (node->op == CNNC_OP_BATCH_MEAN && node->inputs[1] >= 0) {
        float momentum = node->attrs.momentum;
        LLVMValueRef moving_at = cg_fptr(g, at->params,
                                         cg_i64(g, p->graph->params[node->attrs.param].offset));
        LLVMTypeRef moving_params[5] = {g->ptr, g->ptr, g->i64, g->f32, g->f32};
        LLVMTypeRef moving_type = LLVMFunctionType(g->void_t, moving_params, 5, 0);
        LLVMValueRef update = batch_loop_fn(g, "cnnc_moving_statistic", moving_type,
                                            moving_statistic_body);
        LLVMBasicBlockRef merge = cg_if(g, LLVMBuildICmp(g->b, LLVMIntSGT, images,
                                                         cg_i64(g, 0), ""));
        LLVMValueRef moving_args[5] = {moving_at, at->means, cg_i64(g, kr->n),
                                       cg_f32(g, momentum), cg_f32(g, 1.0f - momentum)};
        LLVMBuildCall2(g->b, moving_type, update, moving_args, 5, "");
        cg_endif(g, merge);
    }
    return 0;
}

/* The runtime's batch arena function `name` (cnnrt_model.h), declared on first use. */
static LLVMValueRef batch_arena_fn(cnnc_cg *g, const char *name, LLVMTypeRef *type)
{
    int take = strcmp(name, "cnnrt_batch_arena_take") == 0;
    *type = take ? LLVMFunctionType(g->ptr, &g->i64, 1, 0)
                 : LLVMFunctionType(g->void_t, &g->ptr, 1, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(g->mod, name);
    return fn ? fn : LLVMAddFunction(g->mod, name, *type);
}

/* A phased training step: the batch arena (one arena per image, kept by the runtime from
 * step to step), one parallel_for per phase, and the batch statistics between them. Out
 * of memory: a NaN loss and no update (the runtime stops on a non-finite loss). */
typedef struct phase_args {
    int params, x, n, stats, pool;   /* their indices among the entry's parameters */
} phase_args;
static const phase_args train_phase_args = {TRAIN_PARAMS, TRAIN_X, TRAIN_N, TRAIN_STATS,
                                            TRAIN_POOL};
static const phase_args grad_phase_args = {GRAD_PARAMS, GRAD_X, GRAD_N, GRAD_STATS, GRAD_POOL};

/* The floats of the largest batch statistic of the step (the `means` slot), rounded up
 * to keep what follows 64-byte aligned. */
static int64_t batch_means_floats(const cg_program *p)
{
    int64_t most = 0;
    for (int ph = 0; ph + 1 < p->num_phases; ph++) {
        int64_t n = p->lowered->kernels[p->batch_means[ph]].n;
        most = n > most ? n : most;
    }
    return (most + 15) / 16 * 16;
}

static int emit_phases(cg_module *s, cg_program *p, LLVMValueRef fn, LLVMValueRef ctx,
                       const phase_args *pa)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef stats_out = LLVMGetParam(fn, (unsigned)pa->stats);
    LLVMValueRef pool = LLVMGetParam(fn, (unsigned)pa->pool);
    phase_place at;
    at.x = LLVMGetParam(fn, (unsigned)pa->x);
    at.n = LLVMGetParam(fn, (unsigned)pa->n);
    at.params = LLVMGetParam(fn, (unsigned)pa->params);
    at.stride = cnnc_lowered_ws_layout(p->lowered).grad;   /* the arena, rounded up */
    LLVMTypeRef take_type, give_type;
    LLVMValueRef take = batch_arena_fn(g, "cnnrt_batch_arena_take", &take_type);
    LLVMValueRef give = batch_arena_fn(g, "cnnrt_batch_arena_give", &give_type);
    LLVMValueRef images_floats = LLVMBuildNSWMul(g->b, at.n, cg_i64(g, at.stride), "");
    LLVMValueRef floats = LLVMBuildNSWAdd(g->b, images_floats,
                                          cg_i64(g, batch_means_floats(p)), "");
    at.arena = LLVMBuildCall2(g->b, take_type, take, &floats, 1, "batch_arena");
    at.means = cg_fptr(g, at.arena, images_floats);
    /* Stopping (out of memory, or the ranks did not answer): a NaN loss, no update. */
    LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
    at.stop = LLVMAppendBasicBlockInContext(g->ctx, fn, "stop_step");
    LLVMPositionBuilderAtEnd(g->b, at.stop);
    cg_store(g, cg_f32(g, NAN), stats_out, cg_i64(g, 0));
    cg_store(g, cg_f32(g, 0.0), stats_out, cg_i64(g, 1));
    LLVMBuildCall2(g->b, give_type, give, &at.arena, 1, "");
    LLVMBuildRetVoid(g->b);
    LLVMPositionBuilderAtEnd(g->b, here);
    LLVMBasicBlockRef run = LLVMAppendBasicBlockInContext(g->ctx, fn, "phases");
    LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, at.arena, ""), at.stop, run);
    LLVMPositionBuilderAtEnd(g->b, run);
    cg_ctx_store(s, ctx, CTX_BATCH_ARENA, at.arena);
    for (int ph = 0; ph < p->num_phases; ph++) {
        LLVMValueRef args[4] = {pool, at.n, p->phase_workers[ph], ctx};
        LLVMBuildCall2(g->b, s->parallel_for_type, s->parallel_for, args, 4, "");
        if (ph + 1 < p->num_phases && emit_batch_mean(g, p, p->batch_means[ph], &at))
            return -1;
    }
    LLVMBuildCall2(g->b, give_type, give, &at.arena, 1, "");
    return 0;
}

/* ---- the train step ----------------------------------------------------------------------- */

/* Unless `n run 0` (n > 0: LLVMIntSGT): nothing was run; zero stats (and the gradients'
 * zero sum when grad is not NULL), return. Leaves the builder where the step continues. */
static void return_zeros_unless(cg_module *s, LLVMValueRef fn, LLVMValueRef n,
                                LLVMIntPredicate run, LLVMValueRef stats_out, LLVMValueRef grad,
                                int64_t P)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef zero = cg_i64(g, 0), one = cg_i64(g, 1);
    LLVMValueRef positive = LLVMBuildICmp(g->b, run, n, zero, "");
    LLVMBasicBlockRef empty_bb = LLVMAppendBasicBlockInContext(g->ctx, fn, "empty");
    LLVMBasicBlockRef run_bb = LLVMAppendBasicBlockInContext(g->ctx, fn, "update");
    LLVMBuildCondBr(g->b, positive, run_bb, empty_bb);
    LLVMPositionBuilderAtEnd(g->b, empty_bb);
    cg_store(g, cg_f32(g, 0.0), stats_out, zero);
    cg_store(g, cg_f32(g, 0.0), stats_out, one);
    if (grad && P > 0)
        LLVMBuildMemSet(g->b, grad, LLVMConstInt(g->i8, 0, 0), cg_i64(g, P * 4), 4);
    LLVMBuildRetVoid(g->b);
    LLVMPositionBuilderAtEnd(g->b, run_bb);
}

/* After parallel_for: sums the per-thread gradients into thread 0's buffer in thread order
 * and the stats likewise, copies the stats to stats_out; returns thread 0's gradients. */
static LLVMValueRef sum_thread_gradients(cg_module *s, const cg_program *p, LLVMValueRef n,
                                         LLVMValueRef ws, LLVMValueRef pool,
                                         LLVMValueRef stats_out, int64_t ws_floats)
{
    cnnc_cg *g = &s->g;
    cnnc_ws_layout layout = cnnc_lowered_ws_layout(p->lowered);
    int64_t P = p->graph->param_floats;
    LLVMValueRef zero = cg_i64(g, 0), one = cg_i64(g, 1);
    LLVMValueRef threads = LLVMBuildCall2(g->b, s->pool_threads_type, s->pool_threads, &pool, 1, "");
    LLVMValueRef T = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, threads, n, ""),
                                     threads, n, "");
    LLVMValueRef g0 = cg_fptr(g, ws, cg_i64(g, layout.grad));
    LLVMValueRef s0 = cg_fptr(g, g0, cg_i64(g, layout.stats - layout.grad));
    cg_loop lt, li;
    LLVMValueRef tid = cg_for_dynamic(g, &lt, one, T);
    LLVMValueRef gt = cg_fptr(g, g0, LLVMBuildNSWMul(g->b, tid, cg_i64(g, ws_floats), ""));
    LLVMValueRef st_t = cg_fptr(g, s0, LLVMBuildNSWMul(g->b, tid, cg_i64(g, ws_floats), ""));
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
    return g0;
}

/* The optimizer's update program on params and opt_state from grad, the gradients summed
 * over n images (i64). */
static void emit_update(cg_module *s, const cg_program *p, LLVMValueRef params, LLVMValueRef opt,
                        LLVMValueRef grad, LLVMValueRef n, LLVMValueRef step, LLVMValueRef lr)
{
    cnnc_cg *g = &s->g;
    if (!p->update)
        return;
    int64_t P = p->graph->param_floats;
    LLVMValueRef args[CNNC_UPD_STATE + CNNC_MAX_OPT_STATE];
    args[CNNC_UPD_PARAMS] = params;
    args[CNNC_UPD_GRAD] = grad;
    args[CNNC_UPD_LR] = scalar_arg(g, lr, "lr");
    args[CNNC_UPD_STEP] = scalar_arg(g, LLVMBuildSIToFP(g->b, step, g->f32, ""), "step");
    args[CNNC_UPD_N] = scalar_arg(g, LLVMBuildSIToFP(g->b, n, g->f32, ""), "n");
    for (int k = 0; k < CNNC_MAX_OPT_STATE; k++)
        args[CNNC_UPD_STATE + k] = cg_fptr(g, opt, cg_i64(g, k * P));
    call_update(g, p, args);
}

/* The train step: the workers (a phased step: its phases), the per-thread gradients
 * summed, the optimizer's update. */
static int emit_train_entry(cg_module *s, cg_program *p, LLVMValueRef worker, int64_t ws_floats)
{
    cnnc_cg *g = &s->g;
    LLVMValueRef ctx;
    LLVMValueRef fn = begin_params_entry(s, p, p->num_phases ? NULL : worker, train_args,
                                         TRAIN_ARGS, TRAIN_N, TRAIN_POOL, &ctx);
    LLVMValueRef n = LLVMGetParam(fn, TRAIN_N), stats_out = LLVMGetParam(fn, TRAIN_STATS);
    return_zeros_unless(s, fn, n, LLVMIntSGT, stats_out, NULL, 0);
    if (p->num_phases && emit_phases(s, p, fn, ctx, &train_phase_args))
        return -1;
    LLVMValueRef g0 = sum_thread_gradients(s, p, n, LLVMGetParam(fn, TRAIN_WS),
                                           LLVMGetParam(fn, TRAIN_POOL), stats_out, ws_floats);
    emit_update(s, p, LLVMGetParam(fn, TRAIN_PARAMS), LLVMGetParam(fn, TRAIN_OPT_STATE), g0, n,
                LLVMGetParam(fn, TRAIN_STEP), LLVMGetParam(fn, TRAIN_LR));
    LLVMBuildRetVoid(g->b);
    return 0;
}

/* NAME_train_gradients: the train step up to the summed gradients, copied to grad. With
 * batch_norm, its batch statistics are those of the whole batch: the images of this call,
 * or under mpirun the batch of which they are this process's share (cnnrt_batch_mean's
 * hook, runtime/mpi_train.c). So a process whose share is empty (a batch of fewer images
 * than processes) still runs the phases with no image: it takes part in every statistic
 * and updates the moving statistics as the others do. */
static int emit_train_gradients_entry(cg_module *s, cg_model *m, cg_program *p,
                                      LLVMValueRef worker)
{
    cnnc_cg *g = &s->g;
    char name[sizeof m->name + 32];
    snprintf(name, sizeof name, "%s_train_gradients", m->name);
    LLVMValueRef ctx;
    LLVMValueRef fn = begin_named_params_entry(s, p, name, p->num_phases ? NULL : worker,
                                               grad_args, GRAD_ARGS, GRAD_N, GRAD_POOL, &ctx);
    p->gradients_fn = fn;
    int64_t P = p->graph->param_floats;
    LLVMValueRef n = LLVMGetParam(fn, GRAD_N), stats_out = LLVMGetParam(fn, GRAD_STATS);
    LLVMValueRef grad = LLVMGetParam(fn, GRAD_GRAD);
    return_zeros_unless(s, fn, n, p->num_phases ? LLVMIntSGE : LLVMIntSGT, stats_out, grad, P);
    if (p->num_phases) {
        if (emit_phases(s, p, fn, ctx, &grad_phase_args))
            return -1;
        return_zeros_unless(s, fn, n, LLVMIntSGT, stats_out, grad, P);
    }
    LLVMValueRef g0 = sum_thread_gradients(s, p, n, LLVMGetParam(fn, GRAD_WS),
                                           LLVMGetParam(fn, GRAD_POOL), stats_out, m->ws_floats);
    if (P > 0)
        LLVMBuildMemCpy(g->b, grad, 4, g0, 4, cg_i64(g, P * 4));
    LLVMBuildRetVoid(g->b);
    return 0;
}

/* NAME_train_update: the optimizer's update from the caller's summed gradients. */
static void emit_train_update_entry(cg_module *s, cg_model *m, cg_program *p)
{
    cnnc_cg *g = &s->g;
    char name[sizeof m->name + 32];
    snprintf(name, sizeof name, "%s_train_update", m->name);
    LLVMValueRef fn = start_named_entry(s, name, entry_type(g, update_args, UPDATE_ARGS));
    p->update_entry_fn = fn;
    LLVMValueRef n = LLVMGetParam(fn, UPDATE_N);
    LLVMBasicBlockRef merge = cg_if(g, LLVMBuildICmp(g->b, LLVMIntSGT, n, cg_i64(g, 0), ""));
    emit_update(s, p, LLVMGetParam(fn, UPDATE_PARAMS), LLVMGetParam(fn, UPDATE_OPT_STATE),
                LLVMGetParam(fn, UPDATE_GRAD), n, LLVMGetParam(fn, UPDATE_STEP),
                LLVMGetParam(fn, UPDATE_LR));
    cg_endif(g, merge);
    LLVMBuildRetVoid(g->b);
}

int cg_emit_entry(cg_module *s, cg_model *m, cg_program *p, LLVMValueRef worker)
{
    switch (p->kind) {
    case CNNC_PROGRAM_INFER: emit_infer_entry(s, p, worker); break;
    case CNNC_PROGRAM_TRAIN:
        if (emit_train_entry(s, p, worker, m->ws_floats) ||
            emit_train_gradients_entry(s, m, p, worker))
            return -1;
        emit_train_update_entry(s, m, p);
        break;
    case CNNC_PROGRAM_CAM:
        emit_struct_entry(s, p, worker, cam_args, CAM_ARGS, check_cam_args, m->num_cam_layers);
        break;
    case CNNC_PROGRAM_GUIDED:
        emit_struct_entry(s, p, worker, guided_args, GUIDED_ARGS, check_score_mode, 0);
        break;
    case CNNC_PROGRAM_UPDATE: break;   /* part of the train step's entry */
    }
    return 0;
}
