/* The contract between a model compiled by cnnc (an object file) and the runtime.
 *
 * cnnc emits, for a model named NAME:
 *   const cnnrt_model NAME_model;          the descriptor below
 *   the entry points it points at          (also exported as NAME_infer, NAME_train_step,
 *                                           NAME_gradcam, NAME_guided_backprop)
 * and, when it links a program, `const cnnrt_model *const cnnrt_program_model = &NAME_model;`
 * which the runtime's main() (libcnnrt_main) runs.
 *
 * All fields are 8 bytes wide (int64_t, double, pointers) so the struct has no padding and
 * the code generator can build it as a plain LLVM constant struct.
 *
 * Every entry point works on a batch of n images (NHWC floats in [0,1]) and is
 * batch-parallel: it splits the images over the pool's threads with cnnrt_parallel_for and
 * runs forward (and backward) one image at a time, so an image's activations stay in cache.
 * ws is the caller's workspace: threads * ws_floats_per_thread floats, 64-byte aligned,
 * contents irrelevant on entry. Results depend only on the inputs and the thread count.
 */
#ifndef CNNRT_MODEL_H
#define CNNRT_MODEL_H

#include <stdint.h>

#include "cnnrt_vocab.h"

#define CNNRT_ABI_VERSION 2

typedef struct cnnrt_pool cnnrt_pool;

/* Runs fn(ctx, begin, end, worker) over a partition of [0, n) into at most `threads`
 * contiguous ranges, worker numbers 0..threads-1, the calling thread being worker 0.
 * The partition depends only on n and the thread count: range i is
 * [i*n/T, (i+1)*n/T) with T = min(threads, n). pool == NULL runs everything inline as
 * worker 0. Returns when all ranges are done. Generated code calls this. */
typedef void (*cnnrt_task_fn)(void *ctx, int64_t begin, int64_t end, int64_t worker);
void cnnrt_parallel_for(cnnrt_pool *pool, int64_t n, cnnrt_task_fn fn, void *ctx);
int64_t cnnrt_pool_threads(const cnnrt_pool *pool);   /* 1 for NULL */

/* probs: n * num_classes (the model's output, softmax probabilities). */
typedef void (*cnnrt_infer_fn)(const float *params, const float *x, int64_t n, float *probs,
                               float *ws, cnnrt_pool *pool);

/* One optimizer step on a batch: forward, loss, backward, gradients summed over the batch
 * in a fixed order (per-thread buffers, then one reduction), divided by n (Keras averages
 * the loss over the batch), then the optimizer update of params and opt_state.
 *   step    1-based count of updates so far including this one (Adam's bias correction)
 *   lr      learning rate for this step
 *   seed    dropout masks: keep = cnnrt_dropout_keep(seed, dropout layer, image, element)
 *   stats   out: stats[0] = sum of the n per-image losses, stats[1] = number of images
 *           whose argmax equals the label */
typedef void (*cnnrt_train_fn)(float *params, float *opt_state, const float *x,
                               const int32_t *labels, int64_t n, int64_t step, float lr,
                               uint64_t seed, float *stats, float *ws, cnnrt_pool *pool);

/* Grad-CAM: one function per model. It runs the forward pass once, seeds the gradient of
 * the class score, runs the backward pass down to the target layer only (the kernels below
 * it are skipped), computes the chosen method's map from that layer's activations A and
 * their gradient dA, and finishes it: ReLU, divided by its maximum (all zero when the
 * maximum is <= 0 -- never NaN). Methods and score modes are the codes of cnnrt_vocab.h.
 * Channel weights are pooled per image. The fields are all 8 bytes wide (no padding);
 * their order is part of the ABI. */
typedef struct cnnrt_cam_args {
    const float *params;
    const float *x;             /* n images */
    const int32_t *classes;     /* n target classes, -1 = the predicted class; NULL: all -1 */
    int64_t n;
    int64_t layer;              /* index into cnnrt_model.cam_layers */
    int64_t method;             /* cnnrt_cam_method; GUIDED computes HiResCAM's map (the
                                   guided part is guided_backprop's) */
    int64_t score_mode;         /* cnnrt_score_mode: the gradient of the logit (before
                                   softmax) or of the softmax output */
    float *maps;                /* out: n * h * w of that layer */
    float *map_max;             /* out, may be NULL: n maxima before normalisation
                                   (<= 0 means "no evidence") */
    float *probs;               /* out, may be NULL: n * num_classes */
    float *ws;
    cnnrt_pool *pool;
} cnnrt_cam_args;

/* Returns 0, or -1 (writing nothing) when layer, method or score_mode is out of range. */
typedef int (*cnnrt_cam_fn)(const cnnrt_cam_args *args);

/* Guided backpropagation (Springenberg et al.): the gradient of the class score with
 * respect to the input image, every ReLU passing only positive gradients where its input
 * was positive. Guided Grad-CAM multiplies it by the HiResCAM map. */
typedef struct cnnrt_guided_args {
    const float *params;
    const float *x;             /* n images */
    const int32_t *classes;     /* as cnnrt_cam_args */
    int64_t n;
    int64_t score_mode;         /* cnnrt_score_mode */
    float *input_grads;         /* out: n * H*W*C */
    float *probs;               /* out, may be NULL: n * num_classes */
    float *ws;
    cnnrt_pool *pool;
} cnnrt_guided_args;

/* Returns 0, or -1 (writing nothing) when score_mode is out of range. */
typedef int (*cnnrt_guided_fn)(const cnnrt_guided_args *args);

/* A layer Grad-CAM can explain: a spatial [h, w, c] output computed by the network. */
typedef struct cnnrt_cam_layer {
    const char *name;           /* Keras name of the layer */
    int64_t h, w, c;            /* its output shape; maps are h x w */
} cnnrt_cam_layer;

typedef struct cnnrt_model {
    int64_t abi_version;           /* CNNRT_ABI_VERSION */
    const char *name;              /* "mnist_cam" */
    /* Everything variable-length, as text lines the runtime parses (cnnrt_model_info):
     *   source models/mnist.cnn
     *   layer NAME TYPE SHAPE PARAMS FLOPS         e.g. "layer conv2d Conv2D 28x28x32 320 451584"
     *   param NAME SHAPE OFFSET INIT FAN_IN FAN_OUT e.g. "param conv2d/kernel 3x3x1x32 0 glorot_uniform 9 288"
     *   compile loss=categorical_crossentropy optimizer=adam lr=0.001 beta_1=0.9 beta_2=0.999 epsilon=1e-07 momentum=0 metrics=acc
     *   fit epochs=10 batch_size=64 validation_split=0.2 seed=42
     *   gradcam layer=max_pooling2d_1              (the default target layer)
     * (SHAPE is "AxBxC"; the input layer has PARAMS 0.) */
    const char *description;
    uint64_t fingerprint;          /* of the architecture; stored in weights files */
    int64_t input_h, input_w, input_c;
    int64_t num_classes;
    int64_t param_floats;          /* size of the flat weights buffer */
    int64_t opt_state_floats;      /* Adam: 2 * param_floats (m, v); SGD: param_floats */
    int64_t ws_floats_per_thread;  /* the largest any entry point needs */
    cnnrt_infer_fn infer;
    cnnrt_train_fn train_step;
    cnnrt_cam_fn gradcam;          /* NULL when compiled without Grad-CAM */
    cnnrt_guided_fn guided_backprop;   /* NULL likewise */
    int64_t num_cam_layers;        /* the layers gradcam can target, in network order */
    const cnnrt_cam_layer *cam_layers;
} cnnrt_model;

/* Dropout masks, shared by the interpreter and the code generator so both drop the same
 * elements: a SplitMix64 hash of (seed, layer, image, element), kept when the top 24 bits
 * as a fraction in [0,1) are >= rate. `image` is the index in the batch. */
static inline uint64_t cnnrt_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline int cnnrt_dropout_keep(uint64_t seed, int64_t layer, int64_t image,
                                     int64_t element, float rate)
{
    uint64_t h = cnnrt_mix64(seed ^ cnnrt_mix64(((uint64_t)layer << 48) ^
                                                ((uint64_t)image << 24) ^ (uint64_t)element));
    float u = (float)(h >> 40) * (1.0f / 16777216.0f);
    return u >= rate;
}

#endif
