/* The progress line: exact text for logs (not a terminal) and for a terminal, with a fake
 * clock so times are known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_progress.h"

static double fake_clock(void *ctx)
{
    return *(const double *)ctx;
}

/* Captures what the progress line writes. */
typedef struct capture {
    char *text;
    size_t len;
    FILE *f;
} capture;

static void capture_open(capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

static void capture_close(capture *c)
{
    fclose(c->f);
}

static const char *const names[2] = {"loss", "acc"};
static const char *const end_names[4] = {"loss", "acc", "val_loss", "val_acc"};

static void test_not_a_terminal_one_line_per_epoch(void **state)
{
    (void)state;
    capture c;
    capture_open(&c);
    double now = 100.0;
    cnnrt_progress p;
    for (int epoch = 1; epoch <= 2; epoch++) {
        cnnrt_progress_begin_clock(&p, c.f, 0, epoch, 10, 750, fake_clock, &now);
        for (int64_t step = 1; step <= 750; step++) {
            now += 1.0 / 64;   /* 15.625 ms per step, exact in binary */
            double values[2] = {0.5 / (double)step, 0.9};
            cnnrt_progress_update(&p, step, 2, names, values);
        }
        double values[4] = {0.2209, 0.9348, 0.0800, 0.97551};
        cnnrt_progress_end(&p, 4, end_names, values);
    }
    capture_close(&c);
    const char *expected =
        "Epoch 1/10 - 750/750 - 12s 16ms/step - loss: 0.2209 - acc: 0.9348 - val_loss: 0.0800 - val_acc: 0.9755\n"
        "Epoch 2/10 - 750/750 - 12s 16ms/step - loss: 0.2209 - acc: 0.9348 - val_loss: 0.0800 - val_acc: 0.9755\n";
    assert_string_equal(c.text, expected);
    free(c.text);
}

static void test_terminal_redraws_in_place(void **state)
{
    (void)state;
    capture c;
    capture_open(&c);
    double now = 0.0;
    cnnrt_progress p;
    cnnrt_progress_begin_clock(&p, c.f, 1, 1, 10, 750, fake_clock, &now);
    /* 9/1024 s per step is exact in binary, so the ETA at step 375 is exactly 375 steps. */
    double values[2] = {0.2209, 0.9348};
    now = 375 * 9.0 / 1024;
    cnnrt_progress_update(&p, 375, 2, names, values);
    now += 0.01;   /* within 0.05 s: not redrawn */
    cnnrt_progress_update(&p, 376, 2, names, values);
    now = 750 * 9.0 / 1024;
    double end_values[4] = {0.1712, 0.9491, 0.08, 0.9755};
    cnnrt_progress_end(&p, 4, end_names, end_values);
    capture_close(&c);
    const char *expected =
        "Epoch 1/10\n"
        "\r375/750 [==============>...............] - ETA 3s - loss: 0.2209 - acc: 0.9348"
        "\r750/750 [==============================] - 7s 9ms/step - loss: 0.1712 - acc: 0.9491 - val_loss: 0.0800 - val_acc: 0.9755\n";
    assert_string_equal(c.text, expected);
    free(c.text);
}

static void test_shorter_line_blanks_the_rest(void **state)
{
    (void)state;
    capture c;
    capture_open(&c);
    double now = 0.0;
    cnnrt_progress p;
    cnnrt_progress_begin_clock(&p, c.f, 1, 0, 0, 4, fake_clock, &now);   /* no header */
    const char *one[1] = {"loss"};
    double big = 123.25, small = 1.5;
    now = 1;
    cnnrt_progress_update(&p, 1, 1, one, &big);
    now = 2;
    cnnrt_progress_update(&p, 2, 0, one, &small);
    capture_close(&c);
    /* The second line is followed by exactly as many blanks as the first was longer. */
    const char *first = "\r1/4 [======>.......................] - ETA 3s - loss: 123.2500";
    const char *second = "\r2/4 [==============>...............] - ETA 2s";
    assert_int_equal(strncmp(c.text, first, strlen(first)), 0);
    const char *rest = c.text + strlen(first);
    assert_int_equal(strncmp(rest, second, strlen(second)), 0);
    rest += strlen(second);
    size_t blanks = strlen(first) - strlen(second);
    assert_int_equal(strlen(rest), blanks);
    for (size_t i = 0; i < blanks; i++)
        assert_int_equal(rest[i], ' ');
    free(c.text);
}

static void test_number_and_time_formats(void **state)
{
    (void)state;
    double now = 0.0;
    cnnrt_progress p;
    cnnrt_progress_begin_clock(&p, stdout, 0, 3, 5, 10000, fake_clock, &now);
    char buf[512];
    const char *m[3] = {"loss", "lr", "bad"};
    double v[3] = {1e-4, -0.5, NAN};
    /* 1 step took 0.5 s: ETA 9999 * 0.5 = 4999.5 s = 1:23:19 */
    cnnrt_progress_format(&p, 1, 0.5, 0, 3, m, v, buf, sizeof buf);
    assert_string_equal(buf, "    1/10000 [..............................] - ETA 1:23:19 - "
                             "loss: 1.0000e-04 - lr: -0.5000 - bad: nan");
    /* 65 s to go: 1:05 */
    cnnrt_progress_format(&p, 9935, 9935.0, 0, 0, m, v, buf, sizeof buf);
    assert_string_equal(buf, " 9935/10000 [============================>.] - ETA 1:05");
    /* Final, not a terminal; 2 ms per step is shown in ms, 50 us in us, 2 s in s. */
    cnnrt_progress_format(&p, 10000, 20.0, 1, 0, m, v, buf, sizeof buf);
    assert_string_equal(buf, "Epoch 3/5 - 10000/10000 - 20s 2ms/step");
    cnnrt_progress_format(&p, 10000, 0.5, 1, 0, m, v, buf, sizeof buf);
    assert_string_equal(buf, "Epoch 3/5 - 10000/10000 - 0s 50us/step");
    cnnrt_progress_format(&p, 10000, 20000.0, 1, 1, m, v, buf, sizeof buf);
    assert_string_equal(buf, "Epoch 3/5 - 10000/10000 - 20000s 2s/step - loss: 1.0000e-04");
    /* A tiny buffer is never overrun and stays terminated. */
    char tiny[8];
    cnnrt_progress_format(&p, 1, 0.5, 0, 3, m, v, tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_a_terminal_one_line_per_epoch),
        cmocka_unit_test(test_terminal_redraws_in_place),
        cmocka_unit_test(test_shorter_line_blanks_the_rest),
        cmocka_unit_test(test_number_and_time_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
