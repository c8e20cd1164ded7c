/* Grad-CAM methods as builders of graph nodes (see cam_methods.h). */
#include "cam_methods.h"

#include <stdio.h>
#include <string.h>

/* One CAM node computing the method's map (the op's interpreter and code generator
 * implement each method). */
static int build_cam_node(cnnc_graph *g, cnnc_diag *d, cnnrt_cam_method method, int A, int dA,
                          int layer, const char *name)
{
    cnnc_attrs attrs;
    memset(&attrs, 0, sizeof attrs);
    attrs.method = method;
    int inputs[CNNC_MAX_INPUTS] = {A, dA, -1};
    return cnnc_graph_add(g, d, CNNC_OP_CAM, inputs, &attrs, name, layer, g->layers[layer].loc);
}

typedef struct method_entry {
    cnnrt_cam_method map_of;
    int (*build)(cnnc_graph *g, cnnc_diag *d, cnnrt_cam_method method, int A, int dA,
                 int layer, const char *name);
} method_entry;

static const method_entry methods[CNNRT_CAM_METHOD_COUNT] = {
    [CNNRT_CAM_GRADCAM] = {CNNRT_CAM_GRADCAM, build_cam_node},
    [CNNRT_CAM_HIRESCAM] = {CNNRT_CAM_HIRESCAM, build_cam_node},
    [CNNRT_CAM_GRADCAM_PLUS_PLUS] = {CNNRT_CAM_GRADCAM_PLUS_PLUS, build_cam_node},
    [CNNRT_CAM_GUIDED] = {CNNRT_CAM_HIRESCAM, NULL},
    [CNNRT_CAM_LAYERCAM] = {CNNRT_CAM_LAYERCAM, build_cam_node},
    [CNNRT_CAM_XGRADCAM] = {CNNRT_CAM_XGRADCAM, build_cam_node},
};

cnnrt_cam_method cnnc_cam_map_method(cnnrt_cam_method method)
{
    return (unsigned)method < CNNRT_CAM_METHOD_COUNT ? methods[method].map_of : method;
}

int cnnc_cam_build_map(cnnc_graph *g, cnnc_diag *d, cnnrt_cam_method method, int A, int dA,
                       int layer)
{
    if ((unsigned)method >= CNNRT_CAM_METHOD_COUNT || !methods[method].build) {
        cnnc_error(d, g->layers[layer].loc, "internal error: Grad-CAM method %d has no builder",
                   (int)method);
        return -1;
    }
    char name[512];
    snprintf(name, sizeof name, "cam/%s/%s", g->layers[layer].name,
             cnnrt_cam_method_name(method));
    return methods[method].build(g, d, method, A, dA, layer, name);
}

int cnnc_cam_output_node(const cnnc_graph *cam, int target, cnnrt_cam_method method)
{
    cnnrt_cam_method map = cnnc_cam_map_method(method);
    for (int o = 0; o < cam->num_outputs; o++) {
        const cnnc_output *out = &cam->outputs[o];
        if (out->role == CNNC_OUT_CAM && out->cam_target == target && out->cam_method == (int)map)
            return out->node;
    }
    return -1;
}
