/* What the runtime knows about a compiled model: its descriptor (cnnrt_model.h) checked
 * once, with the parameters in the form the weights files use, and Keras-style weight
 * initialisation. */
#ifndef CNNRT_INFO_H
#define CNNRT_INFO_H

#include <stdint.h>
#include "cnnrt_common.h"
#include "cnnrt_model.h"

enum { CNNRT_NAME_MAX = 128, CNNRT_MAX_RANK = 4 };

/* One trainable tensor of the flat weights buffer, in Keras get_weights() order, as a
 * weights file describes it. */
typedef struct cnnrt_param_desc {
    char name[CNNRT_NAME_MAX];     /* "conv2d/kernel" */
    int rank;
    int64_t dims[CNNRT_MAX_RANK];  /* conv kernel HWIO, dense kernel [in][out], bias [c] */
    int64_t offset, size;          /* in floats */
    cnnrt_init_kind init;
    int64_t fan_in, fan_out;
} cnnrt_param_desc;

typedef struct cnnrt_model_info {
    const cnnrt_model *model;
    const char *source;                /* "" when the descriptor names none */
    int num_layers;
    const cnnrt_layer_entry *layers;   /* the descriptor's */
    int num_params;
    cnnrt_param_desc *params;          /* the descriptor's, as weights-file tensors */
    /* compile (codes of cnnrt_vocab.h) */
    int loss, optimizer, loss_from_logits;
    double lr, beta_1, beta_2, epsilon, momentum, rho;
    int metrics_accuracy;
    /* fit */
    int epochs, batch_size;
    double validation_split;
    uint64_t seed;
    const char *gradcam_layer;         /* "" when the model file names none */
    /* the model file's labels= (num_classes names), or NULL and 0 */
    char **class_names;
    int64_t num_class_names;
    int prepare;                       /* cnnrt_prepare: the model file's prepare= */
} cnnrt_model_info;

/* Checks the descriptor (ABI version, sizes, names, shapes, codes, settings) and fills
 * info. Errors name the model and what is wrong. */
int cnnrt_model_info_load(const cnnrt_model *model, cnnrt_model_info *info, cnnrt_err *e);
void cnnrt_model_info_free(cnnrt_model_info *info);

/* The loss of one image with label `label` as the model's training step computes it, so
 * that val_loss and evaluate report the loss that was trained:
 *   t->loss_from_logits: -log softmax(logits)[label] = logsumexp(logits) - logits[label]
 *     (logits must not be NULL), never clipped;
 *   categorical cross-entropy otherwise: Keras's on probabilities, divided by their sum and
 *     clipped to [1e-7, 1 - 1e-7];
 *   mean squared error: of probs against the one-hot label, averaged over the k classes.
 * Computed in double and rounded to float once, as the generated kernels do. */
double cnnrt_loss_of(const cnnrt_train_settings *t, const float *probs, const float *logits,
                     int64_t k, int label);

/* Keras's initialisers from a seed: glorot_uniform kernels (uniform in +-sqrt(6/(fan_in +
 * fan_out))), zero biases. Deterministic: the same seed gives the same weights. */
void cnnrt_init_params(const cnnrt_param_desc *params, int num_params, uint64_t seed,
                       float *out);

#endif
