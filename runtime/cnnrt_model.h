/* The contract between a model compiled by cnnc (an object file) and the runtime.
 *
 * cnnc emits, for a model named NAME:
 *   const cnnrt_model NAME_model;          the descriptor below
 *   the entry points it points at          (also exported as NAME_infer, NAME_train_step,
 *                                           NAME_gradcam, NAME_guided_backprop)
 * and, when it links a program, `const cnnrt_model *const cnnrt_program_model = &NAME_model;`
 * which the runtime's main() (libcnnrt_main) runs.
 *
 * All fields are 8 bytes wide (int64_t, double, pointers) so the structs have no padding and
 * the code generator can build them as plain LLVM constant structs. On a 32-bit target
 * (--target wasm32) pointers are 4 bytes: C pads them before the next 8-byte field, and the
 * code generator, which builds the structs from the same field types with the target's data
 * layout, pads them the same way. The runtime checks a
 * descriptor before it uses it (cnnrt_model_info_load): a bad one is an error, never a
 * crash.
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

/* 6: batch_norm's training step asks libcnnrt for each batch mean (cnnrt_batch_mean), so
 * that data-parallel ranks share the whole batch's statistics. */
#define CNNRT_ABI_VERSION 6

typedef struct cnnrt_pool cnnrt_pool;

/* Runs fn(ctx, begin, end, worker) over a partition of [0, n) into at most `threads`
 * contiguous ranges, worker numbers 0..threads-1, the calling thread being worker 0.
 * The partition depends only on n and the thread count: range i is
 * [i*n/T, (i+1)*n/T) with T = min(threads, n). pool == NULL runs everything inline as
 * worker 0. Returns when all ranges are done. Generated code calls this. */
typedef void (*cnnrt_task_fn)(void *ctx, int64_t begin, int64_t end, int64_t worker);
void cnnrt_parallel_for(cnnrt_pool *pool, int64_t n, cnnrt_task_fn fn, void *ctx);
int64_t cnnrt_pool_threads(const cnnrt_pool *pool);   /* 1 for NULL */

/* Runs fn(ctx, member, members, member) once on each member of a team of threads that run
 * at the same time: members = min(threads, n), the calling thread being member 0 -- or
 * fn(ctx, 0, 1, 0) on the calling thread alone when the pool cannot run a team (pool ==
 * NULL, one thread, or called from inside a parallel-for or a team). Returns when every
 * member has returned. The members meet with cnnrt_team_barrier. Generated code uses it
 * to split one image's work (a convolution's output rows) over the threads when a call
 * has fewer images than threads. */
void cnnrt_parallel_team(cnnrt_pool *pool, int64_t n, cnnrt_task_fn fn, void *ctx);
/* Waits until every member of the calling thread's team has called it as often; all the
 * members' writes before it are visible to all of them after it. A no-op outside a team
 * and in a team of one. Spins briefly, then sleeps (a futex on Linux). */
void cnnrt_team_barrier(void);
/* The batch arena of a training step that crosses images (batch_norm): n images' arenas
 * side by side, which no per-thread workspace can hold. take returns at least `floats`
 * floats, 64-byte aligned (the block kept from an earlier step when it is large enough,
 * so a training run allocates it once), or NULL when out of memory; give hands it back
 * for the next step. Steps running at the same time each get their own block. Generated
 * code calls these (runtime/batch_arena.c, libcnnrt only: the runtime core has no
 * training step). */
float *cnnrt_batch_arena_take(int64_t floats);
void cnnrt_batch_arena_give(float *arena);
/* A batch statistic, between two phases of such a step: mean[i] = the mean over the
 * batch's images b of in[b * stride + i], i < elems, summed in image order in double and
 * rounded to float. The batch is the call's n images, unless the calling thread has a
 * batch-rows hook (below): then the hook gathers the rows of the whole batch of which
 * these n are a share (data-parallel training under mpirun, runtime/mpi_train.c), so that
 * every process gets the statistic of the whole batch, the same bits as one process
 * computing it over the whole batch. Returns the number of images the mean is over (0:
 * mean is all zeros), or -1 when the hook failed (the step then stops as when out of
 * memory). Generated code calls it (runtime/batch_arena.c, libcnnrt only). */
int64_t cnnrt_batch_mean(const float *in, int64_t stride, int64_t n, int64_t elems,
                         float *mean);
/* The hook: given the call's n rows (in, stride, elems as above), returns the rows of the
 * whole batch, contiguous (elems floats each, in image order), with their count in *total;
 * NULL on failure. Set for the calling thread only; NULL removes it. */
typedef const float *(*cnnrt_batch_rows_fn)(void *ctx, const float *in, int64_t stride,
                                           int64_t n, int64_t elems, int64_t *total);
void cnnrt_batch_rows_hook(cnnrt_batch_rows_fn fn, void *ctx);

/* probs: n * num_classes (the model's output, softmax probabilities).
 * logits: NULL, or n * num_classes for the class scores before the final softmax (the
 * model's output itself when it does not end in softmax), from which the loss is computed
 * as the training step computes it (cnnrt_model.train.loss_from_logits). */
typedef void (*cnnrt_infer_fn)(const float *params, const float *x, int64_t n, float *probs,
                               float *logits, float *ws, cnnrt_pool *pool);

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

/* The train step in two halves, for data-parallel training over several processes
 * (runtime/mpi_train.c): the gradients of a share of the batch, summed between them by the
 * caller, then the update every process applies alike. train_step(n images) computes what
 * train_gradients(the n images) followed by train_update(n) computes, bit for bit.
 *   train_gradients: forward, loss and backward of n images, as train_step; grad (out,
 *     param_floats) = the SUM of their gradients (per-thread buffers summed in thread order,
 *     not divided by n), stats (out) as train_step's. n <= 0 writes zeros.
 *   train_update: the optimizer's update of params and opt_state from grad, the sum of the
 *     gradients of n images (divided by n inside, as train_step does); grad may be
 *     clobbered. n <= 0 changes nothing. */
typedef void (*cnnrt_train_grad_fn)(const float *params, const float *x, const int32_t *labels,
                                    int64_t n, uint64_t seed, float *grad, float *stats,
                                    float *ws, cnnrt_pool *pool);
typedef void (*cnnrt_train_update_fn)(float *params, float *opt_state, float *grad, int64_t n,
                                      int64_t step, float lr);

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

/* One Keras layer as model.summary() shows it. */
typedef struct cnnrt_layer_entry {
    const char *name;              /* "conv2d_1" */
    const char *type;              /* "Conv2D"; the input is "InputLayer" */
    int64_t rank;                  /* of the output per image, 1..3 */
    int64_t dims[3];               /* e.g. 14, 14, 32 */
    int64_t params;                /* trainable floats */
    int64_t flops;                 /* per image, forward, multiply-add = 2 */
} cnnrt_layer_entry;

/* Weight initialisers (cnnrt_init_params). */
typedef enum {
    CNNRT_INIT_ZEROS = 0, CNNRT_INIT_GLOROT_UNIFORM = 1,
    CNNRT_INIT_ONES = 2            /* batch_norm's gamma and moving_variance */
} cnnrt_init_kind;

/* One trainable tensor of the flat weights buffer, in Keras get_weights() order. */
typedef struct cnnrt_param_entry {
    const char *name;              /* "conv2d/kernel" */
    int64_t rank;                  /* 1..4 */
    int64_t dims[4];               /* conv kernel HWIO, dense kernel [in][out], bias [c] */
    int64_t offset;                /* in floats, into the weights buffer */
    int64_t init;                  /* cnnrt_init_kind */
    int64_t fan_in, fan_out;       /* glorot_uniform's */
} cnnrt_param_entry;

/* The model file's compile and fit settings (Keras's defaults where it gives none). */
typedef struct cnnrt_train_settings {
    int64_t loss;                  /* cnnrt_loss (cnnrt_vocab.h) */
    /* 1 when the training step computes the loss from the logits (softmax followed by
     * categorical cross-entropy, fused): loss = logsumexp(z) - z[label]. Otherwise it is
     * computed from the model's output as Keras does. */
    int64_t loss_from_logits;
    int64_t optimizer;             /* cnnrt_optimizer (cnnrt_vocab.h) */
    double lr;
    double beta_1, beta_2;         /* adam */
    double epsilon;                /* adam, rmsprop */
    double momentum;               /* sgd, rmsprop */
    double rho;                    /* rmsprop */
    int64_t metrics_accuracy;      /* 0 or 1 */
    int64_t epochs, batch_size;
    double validation_split;
    uint64_t seed;
    /* The model file's callbacks, learning-rate schedule and augmentation layers, one checked
     * statement a line ("early_stopping monitor=val_loss mode=auto patience=3 ..."), or NULL:
     * read by cnnrt_callbacks_parse and cnnrt_augment_parse. */
    const char *extras;
} cnnrt_train_settings;

typedef struct cnnrt_model {
    int64_t abi_version;           /* CNNRT_ABI_VERSION */
    const char *name;              /* "mnist_cam" */
    const char *source;            /* the model file it was compiled from */
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
    int64_t num_layers;            /* the input layer first */
    const cnnrt_layer_entry *layers;
    int64_t num_params;
    const cnnrt_param_entry *params;
    cnnrt_train_settings train;
    const char *gradcam_layer;     /* the model file's default target layer, or NULL */
    const char *class_names;       /* the model file's labels=, one a line ("cat\ndog"), or
                                    * NULL */
    int64_t prepare;               /* cnnrt_prepare (cnnrt_image.h): input ... prepare= */
    cnnrt_train_grad_fn train_gradients;   /* the train step's halves; NULL with train_step */
    cnnrt_train_update_fn train_update;
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
