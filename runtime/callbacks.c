/* Keras's callbacks and learning-rate schedules (cnnrt_callbacks.h). Each decision follows
 * the Keras 3 source of the callback it names; the comments say where a detail comes from. */
#include "cnnrt_callbacks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_text.h"

void cnnrt_callbacks_default(cnnrt_callbacks *cb)
{
    memset(cb, 0, sizeof *cb);
    cb->early_stopping.monitor = CNNRT_MONITOR_VAL_LOSS;
    cb->checkpoint.monitor = CNNRT_MONITOR_VAL_LOSS;
    cb->reduce_lr.monitor = CNNRT_MONITOR_VAL_LOSS;
    cb->reduce_lr.factor = 0.1;
    cb->reduce_lr.patience = 10;
    cb->reduce_lr.min_delta = 1e-4;
}

static const char *const monitor_names[] = {"loss", "acc", "val_loss", "val_acc"};

const char *cnnrt_monitor_name(cnnrt_monitor m)
{
    return (unsigned)m < 4 ? monitor_names[m] : "?";
}

int cnnrt_monitor_parse(const char *word)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(word, monitor_names[i]))
            return i;
    if (!strcmp(word, "accuracy"))
        return CNNRT_MONITOR_ACC;
    if (!strcmp(word, "val_accuracy"))
        return CNNRT_MONITOR_VAL_ACC;
    return -1;
}

int cnnrt_mode_maximizes(cnnrt_mode mode, cnnrt_monitor m)
{
    if (mode == CNNRT_MODE_AUTO)   /* Keras: "acc" in the name means higher is better */
        return m == CNNRT_MONITOR_ACC || m == CNNRT_MONITOR_VAL_ACC;
    return mode == CNNRT_MODE_MAX;
}

/* ---- reading the descriptor's text ------------------------------------------------------- */

static const char *const mode_words[] = {"auto", "min", "max"};

static int read_key(cnnrt_text_stmt *s, const char *key, cnnrt_err *e, void *out, char kind,
                    double min, double max)
{
    switch (kind) {
    case 'i': return cnnrt_text_int(s, key, (int64_t)min, (int64_t)max, (int64_t *)out, e);
    case 'f': return cnnrt_text_double(s, key, min, max, (double *)out, e);
    case 'b': return cnnrt_text_bool(s, key, (int *)out, e);
    case 'm': {
        const char *w = cnnrt_text_value(s, key);
        if (!w)
            return 0;
        int m = cnnrt_monitor_parse(w);
        if (m < 0)
            return cnnrt_text_fail(s, e, "monitor=%s: not one of loss, acc, val_loss, val_acc",
                                   w);
        *(cnnrt_monitor *)out = (cnnrt_monitor)m;
        return 0;
    }
    default: {   /* 'o': mode */
        int choice;
        if (cnnrt_text_choice(s, key, mode_words, 3, &choice, e))
            return -1;
        if (choice >= 0)
            *(cnnrt_mode *)out = (cnnrt_mode)choice;
        return 0;
    }
    }
}

static int read_statement(cnnrt_text_stmt *s, cnnrt_callbacks *cb, cnnrt_err *e)
{
    const char *k = s->keyword;
    if (!strcmp(k, "early_stopping")) {
        cb->early_stopping.enabled = 1;
        return read_key(s, "monitor", e, &cb->early_stopping.monitor, 'm', 0, 0) ||
               read_key(s, "mode", e, &cb->early_stopping.mode, 'o', 0, 0) ||
               read_key(s, "patience", e, &cb->early_stopping.patience, 'i', 0, 1e6) ||
               read_key(s, "min_delta", e, &cb->early_stopping.min_delta, 'f', 0, HUGE_VAL) ||
               read_key(s, "restore_best_weights", e, &cb->early_stopping.restore_best_weights,
                        'b', 0, 0) || cnnrt_text_no_other_keys(s, e);
    }
    if (!strcmp(k, "model_checkpoint"))
        return read_key(s, "monitor", e, &cb->checkpoint.monitor, 'm', 0, 0) ||
               read_key(s, "mode", e, &cb->checkpoint.mode, 'o', 0, 0) ||
               read_key(s, "save_best_only", e, &cb->checkpoint.save_best_only, 'b', 0, 0) ||
               cnnrt_text_no_other_keys(s, e);
    if (!strcmp(k, "reduce_lr_on_plateau")) {
        cb->reduce_lr.enabled = 1;
        return read_key(s, "monitor", e, &cb->reduce_lr.monitor, 'm', 0, 0) ||
               read_key(s, "mode", e, &cb->reduce_lr.mode, 'o', 0, 0) ||
               read_key(s, "factor", e, &cb->reduce_lr.factor, 'f', 0, 0.999999) ||
               read_key(s, "patience", e, &cb->reduce_lr.patience, 'i', 0, 1e6) ||
               read_key(s, "min_delta", e, &cb->reduce_lr.min_delta, 'f', 0, HUGE_VAL) ||
               read_key(s, "cooldown", e, &cb->reduce_lr.cooldown, 'i', 0, 1e6) ||
               read_key(s, "min_lr", e, &cb->reduce_lr.min_lr, 'f', 0, 100) ||
               cnnrt_text_no_other_keys(s, e);
    }
    if (!strcmp(k, "exponential_decay")) {
        cb->schedule.kind = CNNRT_SCHEDULE_EXPONENTIAL;
        cb->schedule.decay_rate = NAN;
        if (cnnrt_text_int(s, "decay_steps", 1, INT64_MAX, &cb->schedule.decay_steps, e) ||
            cnnrt_text_double(s, "decay_rate", 0, HUGE_VAL, &cb->schedule.decay_rate, e) ||
            cnnrt_text_bool(s, "staircase", &cb->schedule.staircase, e) ||
            cnnrt_text_no_other_keys(s, e))
            return -1;
        if (cb->schedule.decay_steps < 1 || isnan(cb->schedule.decay_rate))
            return cnnrt_text_fail(s, e, "needs decay_steps and decay_rate");
        return 0;
    }
    if (!strcmp(k, "cosine_decay")) {
        cb->schedule.kind = CNNRT_SCHEDULE_COSINE;
        if (cnnrt_text_int(s, "decay_steps", 1, INT64_MAX, &cb->schedule.decay_steps, e) ||
            cnnrt_text_double(s, "alpha", 0, 1, &cb->schedule.alpha, e) ||
            cnnrt_text_no_other_keys(s, e))
            return -1;
        if (cb->schedule.decay_steps < 1)
            return cnnrt_text_fail(s, e, "needs decay_steps");
        return 0;
    }
    if (!strncmp(k, "random_", 7))
        return 0;   /* augmentation: cnnrt_augment_parse */
    return cnnrt_text_fail(s, e, "unknown statement");
}

int cnnrt_callbacks_parse(const char *text, const char *origin, cnnrt_callbacks *cb,
                          cnnrt_err *e)
{
    cnnrt_callbacks_default(cb);
    cnnrt_text_reader r;
    cnnrt_text_begin(&r, text, origin);
    cnnrt_text_stmt s;
    int status;
    while ((status = cnnrt_text_next(&r, &s, e)) > 0)
        if (read_statement(&s, cb, e))
            return -1;
    if (status < 0)
        return -1;
    if (cb->reduce_lr.enabled && cb->schedule.kind != CNNRT_SCHEDULE_NONE)
        return cnnrt_fail(e, "%s: reduce_lr_on_plateau cannot change a learning-rate schedule",
                          origin);
    return 0;
}

/* ---- schedules ------------------------------------------------------------------------------ */

double cnnrt_schedule_lr(const cnnrt_callbacks *cb, double initial_lr, int64_t iterations)
{
    double step = (double)iterations, steps = (double)cb->schedule.decay_steps;
    switch (cb->schedule.kind) {
    case CNNRT_SCHEDULE_EXPONENTIAL: {
        /* ExponentialDecay: lr * decay_rate ^ (step / decay_steps), the exponent floored
         * with staircase=true. */
        double p = step / steps;
        if (cb->schedule.staircase)
            p = floor(p);
        return initial_lr * pow(cb->schedule.decay_rate, p);
    }
    case CNNRT_SCHEDULE_COSINE: {
        /* CosineDecay without warm-up: step capped at decay_steps,
         * lr * ((1 - alpha) * 0.5 * (1 + cos(pi * step / decay_steps)) + alpha). */
        double s = step < steps ? step : steps;
        double cosine = 0.5 * (1.0 + cos(M_PI * s / steps));
        return initial_lr * ((1.0 - cb->schedule.alpha) * cosine + cb->schedule.alpha);
    }
    default:
        return initial_lr;
    }
}

/* ---- state ------------------------------------------------------------------------------------ */

void cnnrt_callback_state_init(cnnrt_callback_state *st)
{
    memset(st, 0, sizeof *st);
    st->lr = st->es_best = st->checkpoint_best = st->rlr_best = NAN;
    st->es_best_epoch = st->stopped_epoch = -1;
}

void cnnrt_callback_state_pack(const cnnrt_callback_state *st,
                               double out[CNNRT_CALLBACK_STATE_VALUES])
{
    double v[CNNRT_CALLBACK_STATE_VALUES] = {
        st->lr, st->es_best, (double)st->es_wait, (double)st->es_best_epoch,
        (double)st->stopped_epoch, st->checkpoint_best, st->rlr_best, (double)st->rlr_wait,
        (double)st->rlr_cooldown, (double)st->restored};
    memcpy(out, v, sizeof v);
}

/* A count as saved: a whole number in [min, 2^53]. */
static int count_value(double v, double min, int64_t *out)
{
    if (!(v >= min && v <= 9007199254740992.0) || v != floor(v))
        return -1;
    *out = (int64_t)v;
    return 0;
}

int cnnrt_callback_state_unpack(const double *v, int count, cnnrt_callback_state *st,
                                cnnrt_err *e)
{
    cnnrt_callback_state_init(st);
    if (count == 0)
        return 0;
    if (count != CNNRT_CALLBACK_STATE_VALUES)
        return cnnrt_fail(e, "the callback state has %d values, not %d", count,
                          CNNRT_CALLBACK_STATE_VALUES);
    st->lr = v[0];
    st->es_best = v[1];
    st->checkpoint_best = v[5];
    st->rlr_best = v[6];
    if (count_value(v[2], 0, &st->es_wait) || count_value(v[3], -1, &st->es_best_epoch) ||
        count_value(v[4], -1, &st->stopped_epoch) || count_value(v[7], 0, &st->rlr_wait) ||
        count_value(v[8], 0, &st->rlr_cooldown) || count_value(v[9], 0, &st->restored) ||
        st->restored > 1 || (!isnan(st->lr) && !(st->lr > 0 && isfinite(st->lr))))
        return cnnrt_fail(e, "the callback state holds impossible values");
    return 0;
}

/* ---- on_epoch_end ---------------------------------------------------------------------------- */

/* EarlyStopping._is_improvement: better than the reference by more than min_delta; anything
 * is better than no reference (NaN). */
static int es_improves(double current, double best, double min_delta, int maximize)
{
    if (isnan(best))
        return 1;
    return maximize ? current - min_delta > best : current + min_delta < best;
}

static void early_stopping_end(const cnnrt_callbacks *cb, cnnrt_callback_state *st,
                               int64_t epoch, double current, cnnrt_epoch_decision *d)
{
    int maximize = cnnrt_mode_maximizes(cb->early_stopping.mode, cb->early_stopping.monitor);
    if (cb->early_stopping.restore_best_weights && st->es_best_epoch < 0) {
        d->es_improved = 1;   /* Keras keeps the first epoch's weights whatever comes */
        st->es_best_epoch = epoch;
    }
    st->es_wait++;
    if (es_improves(current, st->es_best, fabs(cb->early_stopping.min_delta), maximize)) {
        st->es_best = current;
        st->es_best_epoch = epoch;
        d->es_improved = 1;
        st->es_wait = 0;
        return;
    }
    if (st->es_wait >= cb->early_stopping.patience && epoch > 0) {
        st->stopped_epoch = epoch;
        d->stop = 1;
    }
}

static void reduce_lr_end(const cnnrt_callbacks *cb, cnnrt_callback_state *st, double current,
                          double lr, cnnrt_epoch_decision *d)
{
    int maximize = cnnrt_mode_maximizes(cb->reduce_lr.mode, cb->reduce_lr.monitor);
    double delta = cb->reduce_lr.min_delta;
    double best = isnan(st->rlr_best) ? (maximize ? -INFINITY : INFINITY) : st->rlr_best;
    if (st->rlr_cooldown > 0) {
        st->rlr_cooldown--;
        st->rlr_wait = 0;
    }
    if (maximize ? current > best + delta : current < best - delta) {
        st->rlr_best = current;
        st->rlr_wait = 0;
        return;
    }
    if (st->rlr_cooldown > 0)
        return;
    st->rlr_wait++;
    if (st->rlr_wait < cb->reduce_lr.patience)
        return;
    if (lr > (double)(float)cb->reduce_lr.min_lr) {
        double reduced = lr * cb->reduce_lr.factor;
        if (reduced < cb->reduce_lr.min_lr)
            reduced = cb->reduce_lr.min_lr;
        st->lr = (double)(float)reduced;   /* Keras keeps the rate in a float32 variable */
        d->lr_reduced = 1;
        d->old_lr = lr;
        st->rlr_cooldown = cb->reduce_lr.cooldown;
        st->rlr_wait = 0;
    }
}

cnnrt_epoch_decision cnnrt_callbacks_epoch_end(const cnnrt_callbacks *cb,
                                               cnnrt_callback_state *st, int64_t epoch,
                                               const double values[4], double lr)
{
    cnnrt_epoch_decision d;
    memset(&d, 0, sizeof d);
    if (cb->checkpoint.save_best_only) {
        double current = values[cb->checkpoint.monitor];
        int maximize = cnnrt_mode_maximizes(cb->checkpoint.mode, cb->checkpoint.monitor);
        if (!isnan(current) &&
            (isnan(st->checkpoint_best) ||
             (maximize ? current > st->checkpoint_best : current < st->checkpoint_best))) {
            st->checkpoint_best = current;
            d.checkpoint_improved = 1;
        }
    }
    if (cb->early_stopping.enabled && !isnan(values[cb->early_stopping.monitor]))
        early_stopping_end(cb, st, epoch, values[cb->early_stopping.monitor], &d);
    if (cb->reduce_lr.enabled && !isnan(values[cb->reduce_lr.monitor]))
        reduce_lr_end(cb, st, values[cb->reduce_lr.monitor], lr, &d);
    return d;
}
