/* The model descriptor, `const cnnrt_model NAME_model` (runtime/cnnrt_model.h): the
 * model's shapes, entry points, Grad-CAM target layers, Keras layer and weight tables and
 * training settings, as LLVM constants. */
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "cam_methods.h"
#include "codegen_module.h"
#include "util.h"

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
static LLVMValueRef layers_table(cnnc_cg *g, const cg_model *m)
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
static LLVMValueRef params_table(cnnc_cg *g, const cg_model *m)
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
                       : p->init == CNNC_INIT_ONES         ? CNNRT_INIT_ONES
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
enum { TRAIN_FIELDS = 15 };
static LLVMValueRef train_settings(cnnc_cg *g, const cnnc_graph *fw, const char *model)
{
    char sym[300];
    snprintf(sym, sizeof sym, "%s.fit_extras", model);
    LLVMValueRef extras = fw->fit_extras ? string_constant(g, fw->fit_extras, sym)
                                         : LLVMConstNull(g->ptr);
    const cnnc_train_config *t = &fw->train;
    LLVMValueRef f[TRAIN_FIELDS] = {
        cg_i64(g, t->loss), cg_i64(g, cnnc_train_loss_from_logits(fw)),
        cg_i64(g, t->optimizer), cg_f64(g, t->lr), cg_f64(g, t->beta_1), cg_f64(g, t->beta_2),
        cg_f64(g, t->epsilon), cg_f64(g, t->momentum), cg_f64(g, t->rho),
        cg_i64(g, t->metrics_accuracy != 0), cg_i64(g, t->epochs), cg_i64(g, t->batch_size),
        cg_f64(g, t->validation_split), LLVMConstInt(g->i64, t->seed, 0), extras};
    return const_struct(g, f, TRAIN_FIELDS);
}

LLVMValueRef cg_emit_descriptor(cg_module *s, const cg_model *m)
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
        train_settings(g, fw, m->name), gradcam_layer, class_names, cg_i64(g, fw->prepare)};
    enum { FIELDS = sizeof f / sizeof f[0] };
    /* Every field 8 bytes wide except train, a struct of TRAIN_FIELDS such fields. */
    _Static_assert(sizeof(cnnrt_train_settings) == 8 * TRAIN_FIELDS,
                   "cnnrt_train_settings has a field codegen_descriptor.c does not fill");
    _Static_assert(sizeof(cnnrt_model) == 8 * (FIELDS - 1) + sizeof(cnnrt_train_settings),
                   "cnnrt_model has a field codegen_descriptor.c does not fill");
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
