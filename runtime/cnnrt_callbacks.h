/* Keras's training callbacks and learning-rate schedules for `train`: EarlyStopping,
 * ModelCheckpoint(save_best_only), ReduceLROnPlateau, ExponentialDecay and CosineDecay, with
 * Keras's names, defaults and decisions (keras/src/callbacks, keras/src/optimizers/schedules).
 *
 * The model file's callback statements reach the program as text in its descriptor
 * (cnnrt_train_settings.extras, one statement a line, "early_stopping monitor=val_loss
 * patience=3"), written by the compiler after checking them; the same text may hold the
 * augmentation layers (cnnrt_augment.h). cnnrt_callbacks_parse reads it again, checking every
 * value, so a damaged descriptor is an error, never a crash.
 *
 * What the callbacks remember between epochs (the best value so far, the epochs waited, the
 * reduced learning rate, ...) is a cnnrt_callback_state, saved in the weights file as a row of
 * doubles (cnnrt_callback_state_pack) so that `train --resume` continues exactly. */
#ifndef CNNRT_CALLBACKS_H
#define CNNRT_CALLBACKS_H

#include <stdint.h>
#include "cnnrt_common.h"

/* The figures of an epoch a callback can watch, as indices into cnnrt_epoch_record
 * (loss, acc, val_loss, val_acc). */
typedef enum {
    CNNRT_MONITOR_LOSS = 0, CNNRT_MONITOR_ACC = 1,
    CNNRT_MONITOR_VAL_LOSS = 2, CNNRT_MONITOR_VAL_ACC = 3
} cnnrt_monitor;

/* mode=: min, max, or auto (max for an accuracy, min otherwise: Keras's rule). */
typedef enum { CNNRT_MODE_AUTO = 0, CNNRT_MODE_MIN = 1, CNNRT_MODE_MAX = 2 } cnnrt_mode;

typedef enum {
    CNNRT_SCHEDULE_NONE = 0, CNNRT_SCHEDULE_EXPONENTIAL = 1, CNNRT_SCHEDULE_COSINE = 2
} cnnrt_schedule_kind;

typedef struct cnnrt_callbacks {
    struct {
        int enabled;
        cnnrt_monitor monitor;      /* val_loss */
        cnnrt_mode mode;            /* auto */
        int64_t patience;           /* 0 */
        double min_delta;           /* 0 (its absolute value is used) */
        int restore_best_weights;   /* false */
    } early_stopping;
    struct {
        int save_best_only;         /* model_checkpoint save_best_only=true: NAME.best.weights */
        cnnrt_monitor monitor;      /* val_loss */
        cnnrt_mode mode;            /* auto */
    } checkpoint;
    struct {
        int enabled;
        cnnrt_monitor monitor;      /* val_loss */
        cnnrt_mode mode;            /* auto */
        double factor;              /* 0.1 (new lr = lr * factor, 0 < factor < 1) */
        int64_t patience;           /* 10 */
        double min_delta;           /* 1e-4 */
        int64_t cooldown;           /* 0 */
        double min_lr;              /* 0 */
    } reduce_lr;
    struct {
        cnnrt_schedule_kind kind;
        int64_t decay_steps;        /* both */
        double decay_rate;          /* exponential_decay */
        int staircase;              /* exponential_decay, false */
        double alpha;               /* cosine_decay: the final fraction of the rate, 0 */
    } schedule;
} cnnrt_callbacks;

/* Keras's defaults, nothing enabled. */
void cnnrt_callbacks_default(cnnrt_callbacks *cb);

/* Reads the callback statements of `text` (lines of "keyword key=value ..."; lines whose
 * keyword starts with "random_" are skipped: cnnrt_augment_parse reads those). NULL or ""
 * leaves the defaults. `origin` names the text in messages. */
int cnnrt_callbacks_parse(const char *text, const char *origin, cnnrt_callbacks *cb,
                          cnnrt_err *e);

/* "val_loss", ...; the parse of such a word (also "accuracy", "val_accuracy"), -1 if none. */
const char *cnnrt_monitor_name(cnnrt_monitor m);
int cnnrt_monitor_parse(const char *word);
/* Whether larger values of m are better under mode (auto: accuracies). */
int cnnrt_mode_maximizes(cnnrt_mode mode, cnnrt_monitor m);

/* The learning rate of the optimizer update that has `iterations` updates before it (Keras's
 * optimizer.iterations: 0 for the first), from the schedule and the initial rate. */
double cnnrt_schedule_lr(const cnnrt_callbacks *cb, double initial_lr, int64_t iterations);

/* What the callbacks remember. A value not known yet (Keras's None) is NaN. */
typedef struct cnnrt_callback_state {
    double lr;                    /* the rate ReduceLROnPlateau set; NaN: not reduced yet */
    double es_best;               /* EarlyStopping */
    int64_t es_wait, es_best_epoch;   /* best epoch 0-based; -1: none */
    int64_t stopped_epoch;        /* 0-based epoch after which it stopped; -1: it did not */
    double checkpoint_best;       /* ModelCheckpoint(save_best_only) */
    double rlr_best;              /* ReduceLROnPlateau */
    int64_t rlr_wait, rlr_cooldown;
    int64_t restored;             /* the weights file's tensors are the best epoch's (restored
                                     at the end); the last epoch's are kept beside them */
} cnnrt_callback_state;

enum { CNNRT_CALLBACK_STATE_VALUES = 10 };

void cnnrt_callback_state_init(cnnrt_callback_state *st);
void cnnrt_callback_state_pack(const cnnrt_callback_state *st,
                               double out[CNNRT_CALLBACK_STATE_VALUES]);
/* Fails on values no run can have written (a negative count, a fraction as a count). */
int cnnrt_callback_state_unpack(const double *values, int count, cnnrt_callback_state *st,
                                cnnrt_err *e);

/* What the end of an epoch decided. */
typedef struct cnnrt_epoch_decision {
    int checkpoint_improved;      /* save the best-weights file now */
    int es_improved;              /* remember these weights as the best */
    int stop;                     /* early stopping: stop training after this epoch */
    int lr_reduced;               /* st->lr holds the new rate */
    double old_lr;                /* the rate before, when reduced */
} cnnrt_epoch_decision;

/* Keras's on_epoch_end of the enabled callbacks, for 0-based `epoch` with figures
 * values[4] (loss, acc, val_loss, val_acc; NaN = not measured) and current rate `lr`. */
cnnrt_epoch_decision cnnrt_callbacks_epoch_end(const cnnrt_callbacks *cb,
                                               cnnrt_callback_state *st, int64_t epoch,
                                               const double values[4], double lr);

#endif
