/* Keras's callbacks and schedules (runtime/callbacks.c): the schedules equal Keras's formulas
 * at given steps; early stopping and ReduceLROnPlateau decide at the epochs Keras's code
 * decides for a given sequence of figures; the state survives packing; the descriptor's
 * text is read and a damaged one refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "cnnrt_callbacks.h"

/* cmocka's assert_float_equal compares floats; the schedules need doubles. */
#define assert_double_equal(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

static void test_exponential_decay_is_keras_formula(void **state)
{
    (void)state;
    cnnrt_callbacks cb;
    cnnrt_err e;
    /* ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5): 0.1 * 0.5 ** (step / 10) */
    assert_int_equal(cnnrt_callbacks_parse("exponential_decay decay_steps=10 decay_rate=0.5 "
                                           "staircase=false\n", "t", &cb, &e), 0);
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 0), 0.1, 1e-15);
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 5), 0.07071067811865475, 1e-15);
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 15), 0.035355339059327376, 1e-15);
    cb.schedule.staircase = 1;   /* 0.1 * 0.5 ** floor(step / 10) */
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 9), 0.1, 1e-15);
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 15), 0.05, 1e-15);
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 20), 0.025, 1e-15);
}

static void test_cosine_decay_is_keras_formula(void **state)
{
    (void)state;
    cnnrt_callbacks cb;
    cnnrt_err e;
    /* CosineDecay(0.1, decay_steps=100, alpha=0.1):
     * 0.1 * ((1 - 0.1) * 0.5 * (1 + cos(pi * min(step, 100) / 100)) + 0.1) */
    assert_int_equal(cnnrt_callbacks_parse("cosine_decay decay_steps=100 alpha=0.1\n", "t", &cb,
                                           &e), 0);
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 0), 0.1, 1e-15);
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 25), 0.08681980515339464, 1e-15);
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 50), 0.055, 1e-15);
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 100), 0.01, 1e-15);
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 250), 0.01, 1e-15);
    cnnrt_callbacks_default(&cb);   /* no schedule: the rate given */
    assert_double_equal(cnnrt_schedule_lr(&cb, 0.1, 77), 0.1, 0);
}

/* Runs epochs with val_loss = losses[i] until one stops; returns the epoch (0-based) it
 * stopped after, or -1. */
static int64_t run_until_stop(const cnnrt_callbacks *cb, cnnrt_callback_state *st,
                              const double *losses, int n, int64_t *improved_at)
{
    for (int i = 0; i < n; i++) {
        double v[4] = {NAN, NAN, losses[i], NAN};
        cnnrt_epoch_decision d = cnnrt_callbacks_epoch_end(cb, st, i, v, 0.001);
        if (d.es_improved)
            *improved_at = i;
        if (d.stop)
            return i;
    }
    return -1;
}

static void test_early_stopping_stops_at_keras_epoch(void **state)
{
    (void)state;
    cnnrt_callbacks cb;
    cnnrt_err e;
    assert_int_equal(cnnrt_callbacks_parse("early_stopping monitor=val_loss mode=auto "
                                           "patience=2 min_delta=0 restore_best_weights=true\n",
                                           "t", &cb, &e), 0);
    cnnrt_callback_state st;
    cnnrt_callback_state_init(&st);
    const double losses[] = {1.0, 0.9, 0.95, 0.92, 0.5, 0.4};
    int64_t improved = -1;
    /* epochs 0, 1 improve; 2 and 3 do not: patience 2 runs out after epoch 3 */
    assert_int_equal(run_until_stop(&cb, &st, losses, 6, &improved), 3);
    assert_int_equal(improved, 1);
    assert_int_equal(st.es_best_epoch, 1);
    assert_double_equal(st.es_best, 0.9, 0);

    /* min_delta: 0.86 and 0.88 are not better than 0.9 by more than 0.05 */
    cb.early_stopping.min_delta = 0.05;
    cnnrt_callback_state_init(&st);
    const double slow[] = {1.0, 0.9, 0.86, 0.88, 0.1};
    improved = -1;
    assert_int_equal(run_until_stop(&cb, &st, slow, 5, &improved), 3);
    assert_int_equal(improved, 1);

    /* mode=auto watches an accuracy upwards; patience 0 stops at the first epoch without
     * improvement (never the first epoch) */
    assert_int_equal(cnnrt_callbacks_parse("early_stopping monitor=val_acc patience=0\n", "t",
                                           &cb, &e), 0);
    cnnrt_callback_state_init(&st);
    double v[4] = {NAN, NAN, NAN, 0.5};
    assert_false(cnnrt_callbacks_epoch_end(&cb, &st, 0, v, 0.001).stop);
    v[3] = 0.6;
    assert_false(cnnrt_callbacks_epoch_end(&cb, &st, 1, v, 0.001).stop);
    v[3] = 0.6;
    assert_true(cnnrt_callbacks_epoch_end(&cb, &st, 2, v, 0.001).stop);
    assert_int_equal(st.stopped_epoch, 2);
}

static void test_reduce_lr_on_plateau_fires_at_keras_epochs(void **state)
{
    (void)state;
    cnnrt_callbacks cb;
    cnnrt_err e;
    assert_int_equal(cnnrt_callbacks_parse("reduce_lr_on_plateau monitor=val_loss mode=auto "
                                           "factor=0.5 patience=2 min_delta=0.0001 cooldown=1 "
                                           "min_lr=0.0003\n", "t", &cb, &e), 0);
    cnnrt_callback_state st;
    cnnrt_callback_state_init(&st);
    double lr = (double)0.001f;
    int reduced_at[8], count = 0;
    for (int epoch = 0; epoch < 8; epoch++) {
        double v[4] = {NAN, NAN, 1.0, NAN};   /* a plateau from the first epoch */
        cnnrt_epoch_decision d = cnnrt_callbacks_epoch_end(&cb, &st, epoch, v, lr);
        if (d.lr_reduced) {
            assert_double_equal(d.old_lr, lr, 0);
            lr = st.lr;
            reduced_at[count++] = epoch;
        }
    }
    /* Keras: epoch 0 improves on inf; 1, 2 wait; 2 reduces to 0.0005 (cooldown 1); epoch 3
     * is the cooldown (wait 0, then 1 as it does not improve); 4 reduces to
     * max(0.00025, min_lr) = 0.0003; then lr is not above min_lr: no more. */
    assert_int_equal(count, 2);
    assert_int_equal(reduced_at[0], 2);
    assert_int_equal(reduced_at[1], 4);
    assert_double_equal(lr, (double)0.0003f, 0);
}

static void test_checkpoint_best_only(void **state)
{
    (void)state;
    cnnrt_callbacks cb;
    cnnrt_err e;
    assert_int_equal(cnnrt_callbacks_parse("model_checkpoint monitor=val_acc mode=auto "
                                           "save_best_only=true\n", "t", &cb, &e), 0);
    cnnrt_callback_state st;
    cnnrt_callback_state_init(&st);
    const double accs[] = {0.5, 0.7, 0.7, 0.6, 0.8};
    const int expect[] = {1, 1, 0, 0, 1};
    for (int i = 0; i < 5; i++) {
        double v[4] = {NAN, NAN, NAN, accs[i]};
        assert_int_equal(cnnrt_callbacks_epoch_end(&cb, &st, i, v, 0.001).checkpoint_improved,
                         expect[i]);
    }
}

static void test_state_packs_and_refuses_nonsense(void **state)
{
    (void)state;
    cnnrt_callback_state st, back;
    cnnrt_callback_state_init(&st);
    st.lr = 0.0005;
    st.es_best = 0.25;
    st.es_wait = 3;
    st.es_best_epoch = 7;
    st.rlr_cooldown = 2;
    double v[CNNRT_CALLBACK_STATE_VALUES];
    cnnrt_callback_state_pack(&st, v);
    cnnrt_err e;
    assert_int_equal(cnnrt_callback_state_unpack(v, CNNRT_CALLBACK_STATE_VALUES, &back, &e), 0);
    assert_memory_equal(&st, &back, sizeof st);
    v[2] = -1;   /* a negative wait */
    assert_int_equal(cnnrt_callback_state_unpack(v, CNNRT_CALLBACK_STATE_VALUES, &back, &e), -1);
    v[2] = 1.5;
    assert_int_equal(cnnrt_callback_state_unpack(v, CNNRT_CALLBACK_STATE_VALUES, &back, &e), -1);
    assert_int_equal(cnnrt_callback_state_unpack(v, 3, &back, &e), -1);
}

static void test_damaged_text_refused(void **state)
{
    (void)state;
    cnnrt_callbacks cb;
    cnnrt_err e;
    const char *bad[] = {
        "early_stopping patience=-1\n", "early_stopping monitor=val_los\n",
        "early_stopping patience\n", "reduce_lr_on_plateau factor=1\n",
        "exponential_decay decay_steps=10\n", "cosine_decay alpha=0.5\n",
        "early_stopping colour=red\n", "fly away=now\n",
        "exponential_decay decay_steps=10 decay_rate=0.5\nreduce_lr_on_plateau\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(cnnrt_callbacks_parse(bad[i], "desc", &cb, &e), -1);
        assert_non_null(strstr(e.msg, "desc"));
    }
    assert_int_equal(cnnrt_callbacks_parse(NULL, "desc", &cb, &e), 0);
    assert_false(cb.early_stopping.enabled);
    assert_int_equal(cnnrt_callbacks_parse("random_flip mode=horizontal\n", "desc", &cb, &e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exponential_decay_is_keras_formula),
        cmocka_unit_test(test_cosine_decay_is_keras_formula),
        cmocka_unit_test(test_early_stopping_stops_at_keras_epoch),
        cmocka_unit_test(test_reduce_lr_on_plateau_fires_at_keras_epochs),
        cmocka_unit_test(test_checkpoint_best_only),
        cmocka_unit_test(test_state_packs_and_refuses_nonsense),
        cmocka_unit_test(test_damaged_text_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
