/* The limits of the training settings, in one place: the compiler checks a model file's
 * `fit` and `compile` lines against them (compiler/frontend.c) and the generated program
 * checks its command-line options against the same numbers (runtime/cmd_train.c), so a value
 * one accepts the other accepts too (tests/e2e/limits.sh checks both sides at the bounds).
 *
 *   epochs            0 .. 1,000,000   (0: `train` saves the initial weights, untrained)
 *   batch_size        1 .. 65,536         (images per training step)
 *   validation_split  0 .. 0.99           (Keras allows any fraction below 1; past 0.99 the
 *                                          training part is at most 1% of the data, which is
 *                                          a mistake rather than a choice)
 *   lr                greater than 0, at most 100
 *   seed              0 .. 2^63 - 1
 *
 * Both sides word a value out of range the same way: "must be at least MIN" / "must be at
 * most MAX" for whole numbers, "must be in [MIN, MAX]" (or "(MIN, MAX]") for fractions. */
#ifndef CNNRT_LIMITS_H
#define CNNRT_LIMITS_H

#include <stdint.h>

#define CNNC_LIMIT_EPOCHS_MIN 0   /* 0: train saves the initial weights */
#define CNNC_LIMIT_EPOCHS_MAX 1000000
#define CNNC_LIMIT_BATCH_SIZE_MIN 1
#define CNNC_LIMIT_BATCH_SIZE_MAX 65536
#define CNNC_LIMIT_VALIDATION_SPLIT_MIN 0.0
#define CNNC_LIMIT_VALIDATION_SPLIT_MAX 0.99
#define CNNC_LIMIT_LR_ABOVE 0.0   /* exclusive: lr must be greater than this */
#define CNNC_LIMIT_LR_MAX 100.0
#define CNNC_LIMIT_SEED_MIN 0
#define CNNC_LIMIT_SEED_MAX INT64_MAX

#endif
