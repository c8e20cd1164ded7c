/* The graph IR: the level where shapes, autodiff and Grad-CAM are reasoned about.
 *
 * A graph is a list of nodes in topological order (a node's inputs always come before it).
 * Every value is PER IMAGE: the batch dimension is not part of any shape. A program runs
 * the graph once per image and the batch-level work (summing parameter gradients over the
 * batch, the optimizer update) is described by the graph's outputs, not by nodes. This is
 * what lets the lowering keep one image's activations in cache from forward to backward.
 *
 * Layouts (Keras's, so weights files match get_weights()):
 *   image / feature map  [H, W, C]        channels innermost
 *   flat vector          [N]
 *   conv2d kernel        [KH, KW, CI, CO]  (HWIO)
 *   dense kernel         [IN, OUT]
 *   bias                 [C]
 *   scalar               rank 0
 * Flatten is a reshape of HWC memory, so dense weights after Flatten are in HWC order.
 */
#ifndef CNNC_GRAPH_H
#define CNNC_GRAPH_H

#include <stdint.h>
#include "cnnrt_vocab.h"   /* optimizers, losses, activations: spellings and codes */
#include "diag.h"

/* The op set. Forward ops first, then the ops only autodiff and Grad-CAM create.
 * X(ENUM_SUFFIX, lowercase_suffix, "text name", number_of_inputs). The op table in ops.c has
 * one entry for each (shape rule, interpreter kernel, gradient rule, lowering); the functions
 * of an op are named after lowercase_suffix: cnnc_interp_conv2d, cnnc_grad_conv2d,
 * cnnc_lower_conv2d. */
#define CNNC_OPS(X)                                                                        \
    /* leaves */                                                                                   \
    X(INPUT, input, "input", 0)            /* the image, [H,W,C] in [0,1] */                       \
    X(LABEL, label, "label", 0)            /* class index as a float, [1]; -1: predicted */\
    X(PARAM, param, "param", 0)            /* a trainable tensor; attrs.param = index */           \
    X(CONST, const, "const", 0)            /* a scalar, attrs.value */                             \
    X(ARG, arg, "arg", 0)                  /* an update program's argument attrs.param, of shape\
                                              attrs.shape (optimizers.h) */                        \
    /* primitives (elementwise.h): any program builds from them; fused when lowered */             \
    X(EW, ew, "elementwise", 3)            /* attrs.ew of 1..3 inputs, suffix broadcasting */      \
    X(REDUCE, reduce, "reduce", 1)         /* attrs.reduce over attrs.axes (dropped) */            \
    X(BROADCAST, broadcast, "broadcast", 1) /* x repeated along attrs.axes of attrs.shape */       \
    X(BATCH_MEAN, batch_mean, "batch_mean", 2) /* the one cross-image op: in training (or without\
                                 input 1) the mean of x over the batch's images, the same value\
                                 in every image; in inference input 1 (a moving statistic) */ \
    /* forward */                                                                                  \
    X(CONV2D, conv2d, "conv2d", 3)          /* x, kernel, bias (input 2 = -1 without bias) */      \
    X(MAX_POOL2D, max_pool2d, "max_pool2d", 1)                                                     \
    X(AVG_POOL2D, avg_pool2d, "avg_pool2d", 1)  /* 'same' padding divides by the valid count (TF) */\
    X(GLOBAL_AVG_POOL2D, global_avg_pool2d, "global_avg_pool2d", 1) /* [H,W,C] -> [C] */           \
    X(RESHAPE, reshape, "reshape", 1)        /* flatten and its gradient: same data, new shape */  \
    X(DENSE, dense, "dense", 3)            /* x [IN], kernel [IN,OUT], bias (or -1) -> [OUT] */    \
    X(DROPOUT, dropout, "dropout", 1)        /* identity in inference; mask from seed in training;\
                                                also dy -> dx (same mask) */  \
    X(SOFTMAX, softmax, "softmax", 1)        /* over the last axis */                              \
    /* losses: per-image scalar; the program averages over the batch as Keras does */              \
    X(SOFTMAX_XENT, softmax_xent, "softmax_cross_entropy", 2) /* logits, label -> -log softmax[label] */\
    X(XENT, xent, "categorical_cross_entropy", 2)     /* probabilities, label */                   \
    X(MSE, mse, "mean_squared_error", 2)             /* prediction, label (one-hot) */             \
    /* backward: created by autodiff (autodiff.c), one rule per forward op */                      \
    X(CONV2D_GRAD_INPUT, conv2d_grad_input, "conv2d_grad_input", 2)   /* dy, kernel -> dx */       \
    X(CONV2D_GRAD_KERNEL, conv2d_grad_kernel, "conv2d_grad_kernel", 2) /* x, dy -> dkernel */      \
    X(BIAS_GRAD, bias_grad, "bias_grad", 1)                   /* dy -> sum over all but last axis */\
    X(MAX_POOL2D_GRAD, max_pool2d_grad, "max_pool2d_grad", 2)       /* x, dy -> dx (argmax recomputed) */\
    X(AVG_POOL2D_GRAD, avg_pool2d_grad, "avg_pool2d_grad", 1)       /* dy -> dx */                 \
    X(GLOBAL_AVG_POOL2D_GRAD, global_avg_pool2d_grad, "global_avg_pool2d_grad", 1)                 \
    X(DENSE_GRAD_INPUT, dense_grad_input, "dense_grad_input", 2)     /* dy, kernel -> dx */        \
    X(DENSE_GRAD_KERNEL, dense_grad_kernel, "dense_grad_kernel", 2)   /* x, dy -> dkernel (outer product) */\
    X(SOFTMAX_XENT_GRAD, softmax_xent_grad, "softmax_cross_entropy_grad", 2) /* logits, label -> p - y */\
    X(XENT_GRAD, xent_grad, "categorical_cross_entropy_grad", 2)     /* p, label -> -y/p */        \
    X(MSE_GRAD, mse_grad, "mean_squared_error_grad", 2)             /* pred, label */              \
    /* Grad-CAM */                                                                                 \
    X(CLASS_SCORE_GRAD, class_score_grad, "class_score_grad", 2) /* logits, label -> the seed\
                                                  gradient of the class score */

typedef enum cnnc_op {
#define CNNC_OP_ENUM(id, ident, text, arity) CNNC_OP_##id,
    CNNC_OPS(CNNC_OP_ENUM)
#undef CNNC_OP_ENUM
    CNNC_OP_COUNT
} cnnc_op;

enum { CNNC_MAX_RANK = 4, CNNC_MAX_INPUTS = 3 };

typedef struct cnnc_shape {
    int rank;
    int64_t dim[CNNC_MAX_RANK];
} cnnc_shape;

typedef enum { CNNC_PAD_VALID, CNNC_PAD_SAME } cnnc_padding;
/* Grad-CAM methods and score modes are the shared words of cnnrt_vocab.h
 * (cnnrt_cam_method, cnnrt_score_mode); compiler/cam_methods.c builds each method. */

/* Attributes of all ops in one struct: each op reads the fields it needs. */
typedef struct cnnc_attrs {
    int kernel_h, kernel_w;   /* conv kernel or pooling window */
    int stride_h, stride_w;
    cnnc_padding padding;     /* as written in the model file */
    int pad_top, pad_left;    /* resolved by the shape rule ('same' as TensorFlow) */
    int pad_bottom, pad_right;
    int units;                /* dense units, conv filters */
    cnnc_shape shape;         /* INPUT: the image; RESHAPE and the *_GRAD ops whose output
                               * shape the inputs do not determine: the result shape */
    float rate;               /* dropout rate */
    int param;                /* PARAM: index into graph->params */
    int dropout_index;        /* DROPOUT: which dropout layer, for its mask */
    float value;              /* CONST */
    int ew;                   /* EW: the function, a cnnc_ew_fn (elementwise.h) */
    float alpha;              /* EW: the function's parameter (leaky_relu's slope) */
    int reduce;               /* REDUCE: a cnnc_reduce_kind (elementwise.h) */
    unsigned axes;            /* REDUCE: bit i = input axis i; BROADCAST: result axes */
    float momentum;           /* BATCH_MEAN of a batch_norm layer: its moving statistic */
    float epsilon;            /*   (attrs.param) becomes moving*momentum + batch*(1-momentum);
                               *   epsilon: the layer's, on its variance's BATCH_MEAN */
    /* CLASS_SCORE_GRAD's score mode (logit/softmax) is a run-time choice: see interp.h's
     * cnnc_interp_ctx.score_mode and cnnrt_cam_args.score_mode. */
} cnnc_attrs;

typedef struct cnnc_node {
    cnnc_op op;
    int inputs[CNNC_MAX_INPUTS];   /* node ids; -1 = absent (e.g. no bias) */
    cnnc_shape shape;              /* of the output, per image */
    cnnc_attrs attrs;
    char *name;                    /* "conv2d", "conv2d/kernel", "grad/conv2d/kernel" */
    int layer;                     /* Keras layer this node computes, -1 if none */
    cnnc_loc loc;                  /* model-file position of the layer, for messages */
    /* Grad-CAM graphs: the nodes of one method's map for one target are computed only
     * when the run asks for that target (index among the graph's CAM outputs' targets)
     * and method; -1 on every other node. */
    int cam_target;
    int cam_method;
} cnnc_node;

typedef enum { CNNC_INIT_ZEROS, CNNC_INIT_GLOROT_UNIFORM, CNNC_INIT_ONES } cnnc_init;

typedef struct cnnc_param {
    char *name;            /* "conv2d/kernel", "conv2d/bias", as Keras names weights */
    cnnc_shape shape;
    int64_t offset;        /* in floats, into the one flat weights buffer */
    int64_t size;          /* floats */
    cnnc_init init;
    int64_t fan_in, fan_out;
    int layer;
    int node;              /* its PARAM node */
    int non_trainable;     /* batch_norm's moving statistics: no gradient, updated by the
                              training step from a BATCH_MEAN (CNNC_OUT_MOVING_STAT) */
} cnnc_param;

/* One Keras layer as model.summary() shows it. */
typedef struct cnnc_layer {
    char *name;            /* "conv2d_1" (generated as Keras does, or name=) */
    const char *type;      /* "Conv2D", "MaxPooling2D", ... */
    const char *keyword;   /* the model-file word: "conv2d", "max_pool2d", ... */
    int output_node;       /* node holding the layer's output (after its activation) */
    cnnc_shape shape;      /* output shape */
    int64_t params;        /* trainable floats */
    int64_t flops;         /* per image, forward, multiply-add = 2 */
    cnnc_loc loc;
} cnnc_layer;

/* The compile and fit statements, with Keras's defaults where they are absent. The loss
 * and optimizer are the shared vocabulary's codes (runtime/cnnrt_vocab.h); which settings
 * an optimizer reads is in compiler/optimizers.c. */
typedef struct cnnc_train_config {
    cnnrt_loss loss;
    cnnrt_optimizer optimizer;
    double lr;                  /* adam 0.001, sgd 0.01, rmsprop 0.001 */
    double beta_1, beta_2;      /* adam: 0.9, 0.999 */
    double epsilon;             /* adam, rmsprop: 1e-7 */
    double momentum;            /* sgd, rmsprop: 0 */
    double rho;                 /* rmsprop: 0.9 */
    int metrics_accuracy;       /* metrics=acc / accuracy */
    int epochs;                 /* 1 */
    int batch_size;             /* 32 */
    double validation_split;    /* 0 */
    uint64_t seed;              /* 42 unless given */
} cnnc_train_config;

/* What a program hands back, besides running its nodes. */
typedef enum {
    CNNC_OUT_PROBS,        /* the model's output (softmax probabilities) */
    CNNC_OUT_LOGITS,       /* the class scores before softmax */
    CNNC_OUT_LOSS,         /* per-image loss (scalar) */
    CNNC_OUT_PARAM_GRAD,   /* gradient of the loss for params[param], summed over images */
    CNNC_OUT_CAM,          /* a Grad-CAM raw map (before ReLU and normalisation) of one
                              target layer and method */
    CNNC_OUT_INPUT_GRAD,   /* gradient with respect to the input image (guided backprop) */
    CNNC_OUT_UPDATED,      /* an update program's new value of argument `param` (in place) */
    CNNC_OUT_MOVING_STAT,  /* a training step's batch statistic (a BATCH_MEAN, the same in
                              every image) for the non-trainable params[param]: after the
                              step, moving = moving*momentum + stat*(1-momentum) */
} cnnc_output_role;

typedef struct cnnc_output {
    cnnc_output_role role;
    int node;
    int param;             /* for PARAM_GRAD, else -1 */
    int cam_target;        /* CAM: index of the target (0 = the first target layer) */
    int cam_method;        /* CAM: the cnnrt_cam_method whose map this is */
} cnnc_output;

typedef struct cnnc_graph {
    char *model_name;
    char *source_file;
    cnnc_node *nodes;
    int num_nodes, cap_nodes;
    cnnc_layer *layers;
    int num_layers, cap_layers;
    cnnc_param *params;
    int num_params, cap_params;
    int64_t param_floats;       /* total trainable floats = sum of params[i].size */
    cnnc_output *outputs;
    int num_outputs, cap_outputs;
    int input_node;             /* the INPUT node */
    int label_node;             /* the LABEL node, -1 until a loss or Grad-CAM needs it */
    int num_classes;            /* size of the model's output */
    cnnc_train_config train;
    char *gradcam_layer;        /* from 'gradcam layer=', or NULL */
    char *fit_extras;           /* callbacks, schedule, augmentation: canonical text for the
                                   runtime (runtime/cnnrt_text.h), or NULL */
    char *class_names;          /* from 'model labels="a,b"': one a line, or NULL */
    int prepare;                /* cnnrt_prepare, from 'input prepare=' (0: resize) */
    int num_dropouts;
} cnnc_graph;

/* Building. Every function that can fail reports through the diag and returns -1. */
cnnc_graph *cnnc_graph_new(const char *model_name);
void cnnc_graph_free(cnnc_graph *g);
cnnc_graph *cnnc_graph_clone(const cnnc_graph *g);
/* Adds a node after checking its inputs and computing its shape with the op's shape
 * rule; on a shape error reports it (naming the layer and the shapes) and returns -1. */
int cnnc_graph_add(cnnc_graph *g, cnnc_diag *d, cnnc_op op, const int *inputs,
                   const cnnc_attrs *attrs, const char *name, int layer, cnnc_loc loc);
int cnnc_graph_add_param(cnnc_graph *g, const char *name, cnnc_shape shape, cnnc_init init,
                         int64_t fan_in, int64_t fan_out, int layer);
int cnnc_graph_add_output(cnnc_graph *g, cnnc_output_role role, int node, int param);
/* First output of a role, or -1. */
int cnnc_graph_find_output(const cnnc_graph *g, cnnc_output_role role);
/* The class scores before the final softmax: the CNNC_OUT_LOGITS output, else the
 * softmax's input when the model's output (CNNC_OUT_PROBS) is a softmax, else the output
 * itself; -1 without an output. */
int cnnc_graph_logits_node(const cnnc_graph *g);
int cnnc_graph_find_layer(const cnnc_graph *g, const char *name);
/* Floats of optimizer state the training step keeps (cnnrt_model.opt_state_floats): the
 * optimizer's state vectors (optimizers.c), each laid out like the weights buffer. */
int64_t cnnc_graph_opt_state_floats(const cnnc_graph *g);

/* What a node computes, for dumps and messages: its op's name, or for an elementwise
 * node its function's ("relu"); and how many inputs it reads. */
const char *cnnc_node_op_name(const cnnc_node *n);
int cnnc_node_arity(const cnnc_node *n);

/* Shapes. */
cnnc_shape cnnc_shape_make(int rank, const int64_t *dims);
cnnc_shape cnnc_shape3(int64_t h, int64_t w, int64_t c);
cnnc_shape cnnc_shape1(int64_t n);
int64_t cnnc_shape_size(cnnc_shape s);
int cnnc_shape_equal(cnnc_shape a, cnnc_shape b);
/* "(None, 28, 28, 32)" style when keras != 0, else "28x28x32". */
char *cnnc_shape_str(cnnc_shape s, int keras, char *buf, size_t len);

/* A 64-bit fingerprint of the Keras-level architecture: the layers (keyword, output
 * shape, what their nodes compute and with which geometry) and the weights' names and
 * shapes -- not the training settings nor how the IR spells the layers -- so a weights
 * file can be checked against the model. */
uint64_t cnnc_graph_fingerprint(const cnnc_graph *g);

/* Text dumps (--dump-ir, --dump-graph=dot, --summary). */
void cnnc_graph_dump(const cnnc_graph *g, FILE *out);
/* Only the nodes from first_derived on (what autodiff added), and the outputs. */
void cnnc_graph_dump_derived(const cnnc_graph *g, int first_derived, FILE *out);
void cnnc_graph_dump_dot(const cnnc_graph *g, FILE *out);
void cnnc_graph_summary(const cnnc_graph *g, FILE *out);

#endif
