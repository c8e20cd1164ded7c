/* The runtime core's helpers (cnnrt_core.h), in libcnnrt_core.a and libcnnrt alike. No libc
 * at all, so that they compile for a bare wasm32 as well. */
#include "cnnrt_core.h"

int64_t cnnrt_core_argmax(const float *values, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (values[i] > values[best])
            best = i;
    return best;
}

static int same_name(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

int64_t cnnrt_core_default_cam_layer(const cnnrt_model *model)
{
    if (!model->gradcam || model->num_cam_layers <= 0)
        return -1;
    if (model->gradcam_layer)
        for (int64_t i = 0; i < model->num_cam_layers; i++)
            if (same_name(model->cam_layers[i].name, model->gradcam_layer))
                return i;
    return model->num_cam_layers - 1;
}
