/* Optimizers: everything the compiler knows about each one, in one table entry (see
 * optimizers.c): the `compile` settings it reads, how many state vectors it keeps, and the
 * update it applies after each batch. Their spellings and weights-file codes are the
 * shared vocabulary's (runtime/cnnrt_vocab.h, CNNRT_OPTIMIZERS).
 *
 * Adding an optimizer: a line in CNNRT_OPTIMIZERS, an entry in optimizers.c, its settings
 * in frontend.c's read_compile if it has new ones (docs/extending.md). */
#ifndef CNNC_OPTIMIZERS_H
#define CNNC_OPTIMIZERS_H

#include "graph.h"

typedef struct cnnc_optimizer_def {
    cnnrt_optimizer code;
    double default_lr;                 /* Keras's */
    /* The compile keys it reads besides lr, NULL-terminated; any other optimizer key in
     * the model file gets a "has no effect" warning. */
    const char *const *settings;
    /* How many vectors of param_floats floats its state holds. */
    int (*state_vectors)(const cnnc_train_config *t);
} cnnc_optimizer_def;

/* The entry of an optimizer code, or NULL for a code without one. */
const cnnc_optimizer_def *cnnc_optimizer_def_of(cnnrt_optimizer code);

/* Whether the optimizer reads the compile key `key`. */
int cnnc_optimizer_reads(cnnrt_optimizer code, const char *key);

#endif
