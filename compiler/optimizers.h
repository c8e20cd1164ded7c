/* Optimizers: everything the compiler knows about each one, in one table entry (see
 * optimizers.c): the `compile` settings it reads, how many state vectors it keeps, and the
 * update it applies after each batch. Their spellings and weights-file codes are the
 * shared vocabulary's (runtime/cnnrt_vocab.h, CNNRT_OPTIMIZERS).
 *
 * Adding an optimizer: a line in CNNRT_OPTIMIZERS, an entry in optimizers.c, its settings
 * in frontend.c's read_compile if it has new ones (docs/extending.md). */
#ifndef CNNC_OPTIMIZERS_H
#define CNNC_OPTIMIZERS_H

#include "elementwise.h"
#include "graph.h"

/* An update program is a graph (built by cnnc_build_update_graph) over these arguments,
 * ARG nodes whose attrs.param is the index below. It runs once per training step, after
 * the gradients of the batch's images have been summed; its CNNC_OUT_UPDATED outputs are
 * the new values of the arguments they name (the weights and the state vectors), written
 * in place. Lowered, it is one loop over the parameters (lower.c, lower_update); the
 * interpreter runs it as any graph (cnnc_interp_update). */
typedef enum cnnc_update_arg {
    CNNC_UPD_PARAMS,    /* [P] the weights */
    CNNC_UPD_GRAD,      /* [P] the gradient of the loss, summed over the batch's images */
    CNNC_UPD_LR,        /* scalar: the learning rate of this step */
    CNNC_UPD_STEP,      /* scalar: t, updates so far including this one (1, 2, ...) */
    CNNC_UPD_N,         /* scalar: images in the batch (the gradient's mean divides by it) */
    CNNC_UPD_STATE,     /* [P] each: the optimizer's state vectors, CNNC_UPD_STATE + k */
} cnnc_update_arg;

enum { CNNC_MAX_OPT_STATE = 2 };

/* The update's inputs (node ids of the ARG nodes) and results (node ids of the new values;
 * -1 for a state vector the update leaves as it is). */
typedef struct cnnc_update_io {
    int params, grad, lr, step, n;
    int state[CNNC_MAX_OPT_STATE];
} cnnc_update_io;

typedef struct cnnc_optimizer_def {
    cnnrt_optimizer code;
    double default_lr;                 /* Keras's */
    /* The compile keys it reads besides lr, NULL-terminated; any other optimizer key in
     * the model file gets a "has no effect" warning. */
    const char *const *settings;
    /* How many vectors of param_floats floats its state holds (<= CNNC_MAX_OPT_STATE). */
    int (*state_vectors)(const cnnc_train_config *t);
    /* Builds the update from in's arguments with the builder's primitives; sets out.
     * Returns -1 after reporting through b->d. */
    int (*build)(const cnnc_builder *b, const cnnc_train_config *t, const cnnc_update_io *in,
                 cnnc_update_io *out);
} cnnc_optimizer_def;

/* The entry of an optimizer code, or NULL for a code without one. */
const cnnc_optimizer_def *cnnc_optimizer_def_of(cnnrt_optimizer code);

/* Whether the optimizer reads the compile key `key`. */
int cnnc_optimizer_reads(cnnrt_optimizer code, const char *key);

/* The update program of t->optimizer for param_floats parameters; NULL after reporting. */
cnnc_graph *cnnc_build_update_graph(const cnnc_train_config *t, int64_t param_floats,
                                    cnnc_diag *d);

#endif
