/* Program assembly: the model's programs (infer, train_step, gradcam, guided_backprop and
 * the optimizer's update) built and lowered, every kernel body emitted once per module,
 * and each program's worker, which runs its kernels image by image on the thread's slice
 * of the workspace. See codegen_module.h. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "batch_norm.h"
#include "cam_methods.h"
#include "codegen_module.h"
#include "optimizers.h"
#include "util.h"

void cg_free_programs(cg_model *m)
{
    for (int i = 0; i < m->num_progs; i++) {
        cnnc_lowered_free(m->progs[i].lowered);
        cnnc_lowered_free(m->progs[i].update);
        cnnc_graph_free(m->progs[i].update_graph);
        free(m->progs[i].update_fns);
        free(m->progs[i].phase_workers);
        free(m->progs[i].batch_means);
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

static cg_program *add_program(cg_model *m, cnnc_program_kind kind, cnnc_graph *graph)
{
    m->progs = cnnc_xrealloc(m->progs, (size_t)(m->num_progs + 1) * sizeof *m->progs);
    cg_program *p = &m->progs[m->num_progs++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->graph = graph;
    return p;
}

/* The Grad-CAM program (every target layer, or only opts->only_cam_layer) and the guided
 * backpropagation program; none when the model has no spatial layer. */
static int build_cam_programs(cg_model *m)
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
    cg_program *p = add_program(m, CNNC_PROGRAM_CAM, cam);
    snprintf(p->entry, sizeof p->entry, "%s_gradcam", m->name);
    cnnc_graph *guided = cnnc_build_guided_graph(fw, m->d);
    if (!guided)
        return -1;
    p = add_program(m, CNNC_PROGRAM_GUIDED, guided);
    snprintf(p->entry, sizeof p->entry, "%s_guided_backprop", m->name);
    return 0;
}

int cg_build_programs(cg_model *m)
{
    const cnnc_graph *fw = m->forward;
    int mask = m->opts->programs ? m->opts->programs : CNNC_GEN_ALL;
    /* batch_norm folded into the conv2d/dense before it (batch_norm.h). */
    cnnc_graph *infer = cnnc_graph_has_batch_ops(fw) ? cnnc_build_infer_graph(fw, m->d)
                                                     : (cnnc_graph *)fw;
    if (!infer)
        return -1;
    cg_program *p = add_program(m, CNNC_PROGRAM_INFER, infer);
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

/* The worker ctx field of each output slot (lower.h's CNNC_SLOT_*). */
static const cg_ctx_field slot_field[CNNC_SLOT_COUNT] = {CTX_PROBS, CTX_MAPS, CTX_MAP_MAX,
                                                         CTX_INPUT_GRADS, CTX_LOGITS};

/* Where a worker's buffers start. */
typedef struct worker_bases {
    LLVMValueRef params, arena, grad, stats, x, scratch;
    LLVMValueRef cam_target, cam_method;   /* Grad-CAM: what this run computes */
    LLVMValueRef slots[CNNC_SLOT_COUNT];
    int64_t image_floats;
    LLVMValueRef member, members;          /* a team worker's; NULL in the batch worker */
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

/* Calls kernel k for image img: pointers to its buffers, the image, seed, label, mode,
 * its part of the output and its sizes. */
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
        case CNNC_BUF_ARENA: args[i] = cg_fptr(g, wb->arena, cg_i64(g, b->offset)); break;
        case CNNC_BUF_PARAMS: args[i] = cg_fptr(g, wb->params, cg_i64(g, b->offset)); break;
        case CNNC_BUF_GRAD: args[i] = cg_fptr(g, wb->grad, cg_i64(g, b->offset)); break;
        case CNNC_BUF_STATS: args[i] = cg_fptr(g, wb->stats, cg_i64(g, b->offset)); break;
        case CNNC_BUF_ARG: args[i] = LLVMConstNull(g->ptr); break;   /* update programs only */
        case CNNC_BUF_INPUT:
            args[i] = cg_fptr(g, wb->x, LLVMBuildNSWMul(g->b, img, cg_i64(g, wb->image_floats), ""));
            break;
        case CNNC_BUF_OUTPUT: {
            LLVMValueRef base = wb->slots[b->offset];
            LLVMValueRef at = cg_fptr(g, base, LLVMBuildNSWMul(g->b, img, cg_i64(g, b->size), ""));
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
    int split = wb->member && cnnc_cg_kernel_splits(kr);
    args[CG_K_PART] = split ? wb->member : cg_i64(g, 0);
    args[CG_K_PARTS] = split ? wb->members : cg_i64(g, 1);
    if (wb->member && !split)   /* a team runs the other kernels on member 0 */
        guard = and_guard(g, guard, LLVMBuildICmp(g->b, LLVMIntEQ, wb->member, cg_i64(g, 0), ""));
    guard = and_guard(g, guard, cam_guard(g, kr, wb));
    LLVMBasicBlockRef merge = guard ? cg_if(g, guard) : NULL;
    cnnc_cg_call_kernel(g, kernel_fn, lp, k, args);
    if (merge)
        cg_endif(g, merge);
}

static LLVMValueRef iadd1(cnnc_cg *g, LLVMValueRef v)
{
    return LLVMBuildNSWAdd(g->b, v, cg_i64(g, 1), "");
}

/* Which kernels a worker runs: [begin, end) of the program's list. In a phased training
 * step (batch_norm; phased) each image has its own arena in the batch arena
 * (CTX_BATCH_ARENA) that lives across the phases, the gradients and stats are zeroed in
 * phase 0 only, and the kernels that read only weights run per image in phase 0 (into
 * each image's arena) rather than once per worker. */
typedef struct kernel_range {
    int begin, end;
    int phase;
    int phased;
} kernel_range;

/* The worker: for each image of [begin, end), run the kernels of range r on this worker's
 * slice of the workspace (or, phased, on the image's arena of the batch arena).
 * A team worker (team = 1, for cnnrt_parallel_team: begin is the member, end the number
 * of members; never phased) runs every image on slice 0 together with the other members
 * instead: the kernels that split (cnnc_cg_kernel_splits) compute the member's part of
 * their output, member 0 runs the others, and the members meet at a barrier between any
 * two kernels run by different members. */
static LLVMValueRef emit_worker(cg_module *s, cg_program *p, LLVMValueRef *kernel_fns,
                                int64_t ws_floats, kernel_range r, int team)
{
    cnnc_cg *g = &s->g;
    const cnnc_lowered *lp = p->lowered;
    char name[sizeof p->entry + 32];
    if (r.phased)
        snprintf(name, sizeof name, "%s_worker_phase%d", p->entry, r.phase);
    else
        snprintf(name, sizeof name, team ? "%s_team" : "%s_worker", p->entry);
    LLVMValueRef fn = LLVMAddFunction(g->mod, name, s->task_type);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_add_fn_attr(g, fn, LLVMAttributeFunctionIndex, "nounwind");
    cg_mark_glue(g, fn);
    g->fn = fn;
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), begin = LLVMGetParam(fn, 1);
    LLVMValueRef end = LLVMGetParam(fn, 2), worker = LLVMGetParam(fn, 3);

    worker_bases wb;
    wb.member = wb.members = NULL;
    if (team) {
        wb.member = begin;
        wb.members = end;
        begin = worker = cg_i64(g, 0);
        end = cg_ctx_load(s, ctx, CTX_N);
    }
    wb.params = cg_ctx_load(s, ctx, CTX_PARAMS);
    wb.x = cg_ctx_load(s, ctx, CTX_X);
    LLVMValueRef labels = cg_ctx_load(s, ctx, CTX_LABELS), seed = cg_ctx_load(s, ctx, CTX_SEED);
    LLVMValueRef mode = cg_ctx_load(s, ctx, CTX_SCORE_MODE);
    wb.cam_target = cg_ctx_load(s, ctx, CTX_CAM_TARGET);
    wb.cam_method = cg_ctx_load(s, ctx, CTX_CAM_METHOD);
    LLVMValueRef ws = cg_ctx_load(s, ctx, CTX_WS);
    for (int i = 0; i < CNNC_SLOT_COUNT; i++)
        wb.slots[i] = cg_ctx_load(s, ctx, slot_field[i]);
    /* This worker's slice of ws starts with the arena; gradients and stats start zeroed. */
    cnnc_ws_layout layout = cnnc_lowered_ws_layout(lp);
    wb.arena = cg_fptr(g, ws, LLVMBuildNSWMul(g->b, worker, cg_i64(g, ws_floats), ""));
    wb.grad = cg_fptr(g, wb.arena, cg_i64(g, layout.grad));
    wb.stats = cg_fptr(g, wb.grad, cg_i64(g, layout.stats - layout.grad));
    if (layout.floats > layout.grad && r.phase == 0) {
        LLVMBasicBlockRef merge = team ? cg_if(g, LLVMBuildICmp(g->b, LLVMIntEQ, wb.member,
                                                               cg_i64(g, 0), "")) : NULL;
        LLVMBuildMemSet(g->b, wb.grad, LLVMConstInt(g->i8, 0, 0),
                        cg_i64(g, (layout.floats - layout.grad) * 4), 64);
        if (team) {
            cg_endif(g, merge);
            cg_team_barrier(g);
        }
    }
    wb.scratch = cg_alloca(g, LLVMArrayType(g->f32, 16), "scratch");
    wb.image_floats = cnnc_shape_size(p->graph->nodes[p->graph->input_node].shape);

    /* Kernels that read only weights run once, before the image loop. */
    int hoisted = 0;
    for (int k = 0; k < lp->num_kernels && !r.phased; k++)
        if (lp->kernels[k].hoisted) {
            call_kernel(g, lp, kernel_fns[k], k, &wb, begin, cg_i64(g, -1), seed, mode);
            hoisted = 1;
        }
    if (team && hoisted)
        cg_team_barrier(g);
    LLVMValueRef batch_arena = r.phased ? cg_ctx_load(s, ctx, CTX_BATCH_ARENA) : NULL;
    cg_loop li;
    LLVMValueRef img = cg_for_dynamic(g, &li, begin, end);
    if (r.phased)
        wb.arena = cg_fptr(g, batch_arena, LLVMBuildNSWMul(g->b, img, cg_i64(g, layout.grad), ""));
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
    for (int k = 0; k < lp->num_kernels && r.phased && r.phase == 0; k++)
        if (lp->kernels[k].hoisted)
            call_kernel(g, lp, kernel_fns[k], k, &wb, img, label, seed, mode);
    int serial = 0;   /* a team: member 0 ran kernels since the last barrier */
    for (int k = r.begin; k < r.end; k++) {
        if (lp->kernels[k].hoisted)
            continue;
        int split = team && cnnc_cg_kernel_splits(&lp->kernels[k]);
        if (split && serial)
            cg_team_barrier(g);
        call_kernel(g, lp, kernel_fns[k], k, &wb, img, label, seed, mode);
        if (split)
            cg_team_barrier(g);
        serial = team && !split;
    }
    if (serial) {   /* before the next image's kernels */
        LLVMValueRef more = LLVMBuildICmp(g->b, LLVMIntSLT, iadd1(g, img), end, "");
        LLVMBasicBlockRef merge = cg_if(g, more);
        cg_team_barrier(g);
        cg_endif(g, merge);
    }
    cg_end(g, &li);
    LLVMBuildRetVoid(g->b);
    return fn;
}

/* e's key (cnnc_cg_kernel_key) and hash; whether it fits. */
static int make_key(cg_emitted_kernel *e, const cnnc_lowered *lp, int k, int sized)
{
    memset(e, 0, sizeof *e);
    e->len = cnnc_cg_kernel_key(lp, k, sized, e->key, CG_KERNEL_KEY_MAX);
    e->hash = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < e->len && i < CG_KERNEL_KEY_MAX; i++)
        e->hash = (e->hash ^ (uint64_t)e->key[i]) * 0x100000001B3ull;
    return e->len <= CG_KERNEL_KEY_MAX;
}

/* The entry of list[0..n) with e's key, or NULL. */
static cg_emitted_kernel *find_key(cg_emitted_kernel *list, int n, const cg_emitted_kernel *e)
{
    for (int i = 0; i < n; i++)
        if (list[i].hash == e->hash && list[i].len == e->len &&
            memcmp(list[i].key, e->key, e->len * sizeof e->key[0]) == 0)
            return &list[i];
    return NULL;
}

/* Adds lp's size-generic keys to s->generic (cg_plan_kernel_sizes). */
static void plan_program_sizes(cg_module *s, const cnnc_lowered *lp)
{
    for (int k = 0; lp && k < lp->num_kernels; k++) {
        cg_emitted_kernel e;
        int64_t sizes[CG_K_NUM_SIZES];
        if (!cnnc_cg_kernel_sizes(lp, k, sizes) || !make_key(&e, lp, k, 0))
            continue;
        memcpy(e.sizes, sizes, sizeof sizes);
        cg_emitted_kernel *seen = find_key(s->generic, s->num_generic, &e);
        if (seen) {
            seen->sizes_differ |= memcmp(seen->sizes, e.sizes, sizeof e.sizes) != 0;
            continue;
        }
        s->generic = cnnc_grow(s->generic, s->num_generic, &s->cap_generic, 16,
                               sizeof *s->generic);
        s->generic[s->num_generic++] = e;
    }
}

void cg_plan_kernel_sizes(cg_module *s, const cg_model *m)
{
    for (int i = 0; i < m->num_progs; i++) {
        plan_program_sizes(s, m->progs[i].lowered);
        plan_program_sizes(s, m->progs[i].update);
    }
}

/* Whether kernel k of lp is emitted with its sizes as constants: it cannot be
 * size-generic, or the module has its size-generic key at one size only. */
static int emit_sized(cg_module *s, const cnnc_lowered *lp, int k)
{
    cg_emitted_kernel e;
    int64_t sizes[CG_K_NUM_SIZES];
    if (!cnnc_cg_kernel_sizes(lp, k, sizes) || !make_key(&e, lp, k, 0))
        return 1;
    const cg_emitted_kernel *seen = find_key(s->generic, s->num_generic, &e);
    return !seen || !seen->sizes_differ;
}

/* The function of kernel k of lp: the module's body for its key if one was emitted
 * before (by this program or another), else a new one named MODEL_k<n>_<kind>. */
static LLVMValueRef kernel_function(cg_module *s, cg_model *m, const cnnc_lowered *lp,
                                    int k)
{
    int sized = emit_sized(s, lp, k);
    cg_emitted_kernel e;
    int cacheable = make_key(&e, lp, k, sized);
    const cg_emitted_kernel *o = cacheable ? find_key(s->kernels, s->num_kernels, &e) : NULL;
    if (o)
        return o->fn;
    char name[sizeof m->name + 64];
    snprintf(name, sizeof name, "%s_k%d_%s", m->name, s->num_kernels,
             cnnc_kernel_kind_name(lp->kernels[k].kind));
    e.fn = cnnc_cg_kernel(&s->g, lp, k, sized, name);
    if (e.fn && cacheable) {
        s->kernels = cnnc_grow(s->kernels, s->num_kernels, &s->cap_kernels, 64,
                               sizeof *s->kernels);
        s->kernels[s->num_kernels++] = e;
    }
    return e.fn;
}

/* A training step with batch_norm: one worker per phase, the phases separated by the
 * BATCH_MEAN kernels, which the entry computes itself (kernel_range). */
static int emit_phase_workers(cg_module *s, cg_model *m, cg_program *p, LLVMValueRef *kfns)
{
    const cnnc_lowered *lp = p->lowered;
    if (p->kind != CNNC_PROGRAM_TRAIN) {
        cnnc_error(m->d, (cnnc_loc){0, 0, 0}, "internal error: a batch statistic outside "
                   "the training step");
        return -1;
    }
    p->phase_workers = cnnc_xcalloc((size_t)p->num_phases, sizeof *p->phase_workers);
    for (int ph = 0; ph < p->num_phases; ph++) {
        kernel_range r = {ph ? p->batch_means[ph - 1] + 1 : 0,
                          ph + 1 < p->num_phases ? p->batch_means[ph] : lp->num_kernels, ph, 1};
        p->phase_workers[ph] = emit_worker(s, p, kfns, m->ws_floats, r, 0);
    }
    return 0;
}

int cg_emit_program(cg_module *s, cg_model *m, cg_program *p)
{
    const cnnc_lowered *lp = p->lowered;
    LLVMValueRef *kfns = cnnc_xcalloc((size_t)(lp->num_kernels + 1), sizeof *kfns);
    p->batch_means = cnnc_xcalloc((size_t)(lp->num_kernels + 1), sizeof *p->batch_means);
    int num_means = 0;
    for (int k = 0; k < lp->num_kernels; k++) {
        if (lp->kernels[k].kind == CNNC_K_BATCH_MEAN) {
            p->batch_means[num_means++] = k;
            continue;
        }
        kfns[k] = kernel_function(s, m, lp, k);
        if (!kfns[k]) {
            free(kfns);
            return -1;
        }
    }
    LLVMValueRef worker = NULL;
    p->num_phases = num_means ? num_means + 1 : 0;
    p->team_worker = NULL;
    if (!num_means) {
        kernel_range all = {0, lp->num_kernels, 0, 0};
        worker = emit_worker(s, p, kfns, m->ws_floats, all, 0);
        /* A team worker for the programs that run one image at a time (not the training
         * step, whose gradients are per worker), when some kernel splits. */
        for (int k = 0; k < lp->num_kernels && p->kind != CNNC_PROGRAM_TRAIN; k++)
            if (!lp->kernels[k].hoisted && cnnc_cg_kernel_splits(&lp->kernels[k])) {
                p->team_worker = emit_worker(s, p, kfns, m->ws_floats, all, 1);
                break;
            }
    } else if (emit_phase_workers(s, m, p, kfns)) {
        free(kfns);
        return -1;
    }
    free(kfns);
    if (p->update) {
        p->update_fns = cnnc_xcalloc((size_t)p->update->num_kernels + 1, sizeof *p->update_fns);
        for (int k = 0; k < p->update->num_kernels; k++) {
            p->update_fns[k] = kernel_function(s, m, p->update, k);
            if (!p->update_fns[k])
                return -1;
        }
    }
    return cg_emit_entry(s, m, p, worker);
}
