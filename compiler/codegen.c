/* Code generation through the LLVM C API (see codegen.h): the whole module of a model --
 * its programs with their workers and entry points, the NAME_model descriptor --
 * built and verified here from the parts in the codegen_* files (codegen_module.h), and
 * the C identifiers of model and layer names. The loop kernels are in kernels.c. */
#include "codegen.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codegen_module.h"
#include "embed_weights.h"
#include "export_model.h"
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

/* ---- the module ------------------------------------------------------------------------ */

static void init_types(cg_module *s, LLVMContextRef ctx, const char *name, cnnc_diag *d)
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
    g->sized_kernel_type = LLVMFunctionType(g->void_t, kparams, CG_K_ROWS, 0);
    LLVMTypeRef fields[CTX_FIELDS];
    for (int i = 0; i < CTX_FIELDS; i++)
        fields[i] = cg_ctx_field_is_int(i) ? g->i64 : g->ptr;
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

LLVMValueRef cg_fptr(cnnc_cg *g, LLVMValueRef base, LLVMValueRef index)
{
    return cg_gep(g, g->f32, base, index);
}

void cg_add_fn_attr(cnnc_cg *g, LLVMValueRef fn, unsigned index, const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, index, LLVMCreateEnumAttribute(g->ctx, kind, 0));
}

void cg_mark_glue(cnnc_cg *g, LLVMValueRef fn)
{
    cg_add_fn_attr(g, fn, LLVMAttributeFunctionIndex, "noinline");
    cg_add_fn_attr(g, fn, LLVMAttributeFunctionIndex, "optnone");
}

void cg_free_header_info(cnnc_header_info *info)
{
    free((char *)info->c_name);
    memset(info, 0, sizeof *info);
}

static void fill_header_info(const cg_model *m, cnnc_header_info *info)
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

LLVMModuleRef cg_build_module(const cnnc_graph *forward, const cnnc_codegen_options *opts,
                              LLVMContextRef ctx, int with_program_model,
                              cnnc_header_info *info, cnnc_diag *d)
{
    cg_model m = {0};
    m.forward = forward;
    m.opts = opts;
    m.d = d;
    cnnc_model_identifier(forward->model_name, m.name, sizeof m.name);
    if (cg_build_programs(&m)) {
        cg_free_programs(&m);
        return NULL;
    }
    cg_module s;
    init_types(&s, ctx, m.name, d);
    s.kernels = NULL;
    s.num_kernels = s.cap_kernels = 0;
    s.generic = NULL;
    s.num_generic = s.cap_generic = 0;
    s.g.wide = cg_wide_vectors(opts);
    cg_plan_kernel_sizes(&s, &m);
    int failed = 0;
    for (int i = 0; i < m.num_progs && !failed; i++)
        failed = cg_emit_program(&s, &m, &m.progs[i]);
    if (!failed) {
        LLVMValueRef model = cg_emit_descriptor(&s, &m);
        if (with_program_model) {
            LLVMValueRef gv = LLVMAddGlobal(s.g.mod, s.g.ptr, "cnnrt_program_model");
            LLVMSetInitializer(gv, model);
            LLVMSetGlobalConstant(gv, 1);
            /* what `PROG export` writes the trained model with (export_model.h) */
            failed = cnnc_embed_export_data(s.g.mod, forward);
        }
        if (opts->embedded_params)
            cnnc_emit_weights_constant(s.g.mod, m.name, opts->embedded_params,
                                       forward->param_floats);
        if (info) {
            fill_header_info(&m, info);
            info->has_weights = opts->embedded_params != NULL;
            info->target = opts->target_triple;
        }
    }
    cg_free_programs(&m);
    free(s.kernels);
    free(s.generic);
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

