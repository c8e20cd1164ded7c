/* --embed-weights (embed_weights.h). */
#include "embed_weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_weights.h"
#include "bridge.h"
#include "util.h"

float *cnnc_load_weights_file(const cnnc_graph *g, const char *path)
{
    cnnrt_param_desc *descs = cnnc_param_descs(g);
    cnnrt_weights_expect expect = {
        .fingerprint = cnnc_graph_fingerprint(g), .model_name = g->model_name,
        .tensors = descs, .num_tensors = g->num_params, .param_floats = g->param_floats,
        .opt_state_floats = 0};
    cnnrt_weights w;
    cnnrt_err e;
    int failed = cnnrt_weights_load(path, &expect, &w, &e);
    free(descs);
    if (failed) {
        fprintf(stderr, "cnnc: error: %s\n", e.msg);
        return NULL;
    }
    float *params = cnnrt_aligned_alloc((size_t)g->param_floats * sizeof(float));
    memcpy(params, w.params, (size_t)g->param_floats * sizeof(float));
    cnnrt_weights_free(&w);
    return params;
}

void cnnc_emit_weights_constant(LLVMModuleRef mod, const char *c_name, const float *params,
                                int64_t count)
{
    LLVMContextRef ctx = LLVMGetModuleContext(mod);
    LLVMTypeRef f32 = LLVMFloatTypeInContext(ctx);
    LLVMValueRef *values = cnnc_xcalloc((size_t)(count > 0 ? count : 1), sizeof *values);
    for (int64_t i = 0; i < count; i++)
        values[i] = LLVMConstReal(f32, (double)params[i]);
    LLVMValueRef init = LLVMConstArray2(f32, values, (uint64_t)count);
    free(values);
    char sym[300];
    snprintf(sym, sizeof sym, "%s_weights", c_name);
    LLVMValueRef gv = LLVMAddGlobal(mod, LLVMTypeOf(init), sym);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    /* The kernels read weights with the vector loads they use on a cnnrt_aligned_alloc
     * buffer: the same alignment here. */
    LLVMSetAlignment(gv, 64);
}
