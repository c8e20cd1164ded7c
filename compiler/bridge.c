/* The graph's parameters described the way the runtime describes them, so the compiler
 * (the interpreter, tests) uses the runtime's own weights-file and initialisation code
 * instead of a second copy of it. */
#include "bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cnnrt_param_desc *cnnc_param_descs(const cnnc_graph *g)
{
    cnnrt_param_desc *descs = cnnrt_xcalloc((size_t)(g->num_params ? g->num_params : 1),
                                            sizeof *descs);
    for (int i = 0; i < g->num_params; i++) {
        const cnnc_param *p = &g->params[i];
        cnnrt_param_desc *d = &descs[i];
        snprintf(d->name, sizeof d->name, "%s", p->name);
        d->rank = p->shape.rank;
        for (int k = 0; k < p->shape.rank && k < CNNRT_MAX_RANK; k++)
            d->dims[k] = p->shape.dim[k];
        d->offset = p->offset;
        d->size = p->size;
        d->init = p->init == CNNC_INIT_GLOROT_UNIFORM ? CNNRT_INIT_GLOROT_UNIFORM
                  : p->init == CNNC_INIT_ONES         ? CNNRT_INIT_ONES
                                                      : CNNRT_INIT_ZEROS;
        d->fan_in = p->fan_in;
        d->fan_out = p->fan_out;
    }
    return descs;
}

float *cnnc_initial_params(const cnnc_graph *g, uint64_t seed)
{
    cnnrt_param_desc *descs = cnnc_param_descs(g);
    float *params = cnnrt_aligned_alloc((size_t)g->param_floats * sizeof(float));
    cnnrt_init_params(descs, g->num_params, seed, params);
    free(descs);
    return params;
}
