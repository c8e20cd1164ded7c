/* What the runtime knows about a compiled model, parsed from the descriptor's text
 * (cnnrt_model.description, see cnnrt_model.h), and Keras-style weight initialisation. */
#ifndef CNNRT_INFO_H
#define CNNRT_INFO_H

#include <stdint.h>
#include "cnnrt_common.h"
#include "cnnrt_model.h"

enum { CNNRT_NAME_MAX = 128, CNNRT_MAX_RANK = 4 };

typedef enum { CNNRT_INIT_ZEROS = 0, CNNRT_INIT_GLOROT_UNIFORM = 1 } cnnrt_init_kind;

/* One trainable tensor of the flat weights buffer, in Keras get_weights() order. */
typedef struct cnnrt_param_desc {
    char name[CNNRT_NAME_MAX];     /* "conv2d/kernel" */
    int rank;
    int64_t dims[CNNRT_MAX_RANK];  /* conv kernel HWIO, dense kernel [in][out], bias [c] */
    int64_t offset, size;          /* in floats */
    cnnrt_init_kind init;
    int64_t fan_in, fan_out;
} cnnrt_param_desc;

typedef struct cnnrt_layer_desc {
    char name[CNNRT_NAME_MAX];     /* "conv2d_1" */
    char type[64];                 /* "Conv2D" */
    int rank;
    int64_t dims[3];               /* output shape per image */
    int64_t params, flops;
} cnnrt_layer_desc;

typedef struct cnnrt_model_info {
    const cnnrt_model *model;
    char source[512];
    int num_layers;
    cnnrt_layer_desc *layers;
    int num_params;
    cnnrt_param_desc *params;
    /* compile */
    char loss[64], optimizer[32];
    double lr, beta_1, beta_2, epsilon, momentum;
    int metrics_accuracy;
    /* fit */
    int epochs, batch_size;
    double validation_split;
    uint64_t seed;
    char gradcam_layer[CNNRT_NAME_MAX];   /* "" when the model file names none */
} cnnrt_model_info;

/* Parses model->description; checks abi_version. Errors name the model. */
int cnnrt_model_info_load(const cnnrt_model *model, cnnrt_model_info *info, cnnrt_err *e);
void cnnrt_model_info_free(cnnrt_model_info *info);

/* Keras's initialisers from a seed: glorot_uniform kernels (uniform in +-sqrt(6/(fan_in +
 * fan_out))), zero biases. Deterministic: the same seed gives the same weights. */
void cnnrt_init_params(const cnnrt_param_desc *params, int num_params, uint64_t seed,
                       float *out);

#endif
