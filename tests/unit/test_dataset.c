/* Data set helpers: Keras's validation_split, deterministic shuffling, batching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_data.h"

/* An in-memory data set of n 2x2x1 images: image i has every pixel equal to i (mod 256),
 * label i % 10. */
typedef struct fake {
    uint8_t images[300 * 4];
    uint8_t labels[300];
    cnnrt_dataset ds;
} fake;

static void make_fake(fake *f, int64_t n)
{
    assert_true(n <= 300);
    for (int64_t i = 0; i < n; i++) {
        memset(f->images + 4 * i, (int)(i % 256), 4);
        f->labels[i] = (uint8_t)(i % 10);
    }
    memset(&f->ds, 0, sizeof f->ds);
    f->ds.count = n;
    f->ds.h = 2;
    f->ds.w = 2;
    f->ds.c = 1;
    f->ds.images = f->images;
    f->ds.labels = f->labels;
    snprintf(f->ds.images_path, sizeof f->ds.images_path, "fake-images");
}

static int64_t split_at(int64_t n, double fraction)
{
    static fake f;
    make_fake(&f, n);
    cnnrt_dataset train, val;
    cnnrt_err e;
    assert_int_equal(cnnrt_dataset_split(&f.ds, fraction, &train, &val, &e), 0);
    assert_int_equal(train.count + val.count, n);
    /* Train is the head, validation the tail, both views into the same memory. */
    assert_ptr_equal(train.images, f.images);
    assert_ptr_equal(val.images, f.images + 4 * train.count);
    assert_ptr_equal(val.labels, f.labels + train.count);
    assert_false(train.owns_memory || val.owns_memory);
    return train.count;
}

static void test_validation_split_is_keras(void **state)
{
    (void)state;
    /* split_at = floor(n * (1 - fraction)) in double arithmetic, as Keras computes it. */
    assert_int_equal(split_at(10, 0.2), 8);
    assert_int_equal(split_at(300, 0.2), 240);
    assert_int_equal(split_at(7, 0.3), 4);      /* 7 * 0.7 = 4.8999... -> 4 */
    assert_int_equal(split_at(100, 0.7), 30);   /* 100 * 0.30000000000000004 -> 30 */
    assert_int_equal(split_at(3, 0.1), 2);      /* 2.7 -> 2 */
    assert_int_equal(split_at(5, 0.01), 4);     /* 4.95 -> 4: one validation image */
    assert_int_equal(split_at(10, 0.0), 10);    /* no validation */
    for (int64_t n = 2; n < 300; n += 37) {
        for (double f = 0.05; f < 0.9; f += 0.1) {
            int64_t want = (int64_t)floor((double)n * (1.0 - f));
            if (want > 0 && want < n) {
                assert_int_equal(split_at(n, f), want);
            } else {   /* an empty side is refused, as Keras refuses it */
                fake g;
                make_fake(&g, n);
                cnnrt_dataset train, val;
                cnnrt_err e;
                assert_int_equal(cnnrt_dataset_split(&g.ds, f, &train, &val, &e), -1);
            }
        }
    }
}

static void test_validation_split_errors(void **state)
{
    (void)state;
    fake f;
    make_fake(&f, 3);
    cnnrt_dataset train, val;
    cnnrt_err e;
    assert_int_equal(cnnrt_dataset_split(&f.ds, 0.9, &train, &val, &e), -1);   /* 0 left */
    assert_non_null(strstr(e.msg, "leaves 0 for training"));
    assert_int_equal(cnnrt_dataset_split(&f.ds, 1.0, &train, &val, &e), -1);
    assert_non_null(strstr(e.msg, "[0, 1)"));
    assert_int_equal(cnnrt_dataset_split(&f.ds, -0.1, &train, &val, &e), -1);
    assert_int_equal(cnnrt_dataset_split(&f.ds, NAN, &train, &val, &e), -1);
}

static int is_permutation(const int64_t *order, int64_t n)
{
    char *seen = calloc((size_t)n, 1);
    int ok = 1;
    for (int64_t i = 0; i < n && ok; i++) {
        if (order[i] < 0 || order[i] >= n || seen[order[i]])
            ok = 0;
        else
            seen[order[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_shuffle_deterministic(void **state)
{
    (void)state;
    enum { N = 1000 };
    static int64_t a[N], b[N], c[N], d[N];
    cnnrt_shuffle_order(N, 42, 0, a);
    cnnrt_shuffle_order(N, 42, 0, b);
    cnnrt_shuffle_order(N, 42, 1, c);
    cnnrt_shuffle_order(N, 43, 0, d);
    assert_true(is_permutation(a, N));
    assert_true(is_permutation(c, N));
    assert_memory_equal(a, b, sizeof a);            /* same seed and epoch: same order */
    assert_memory_not_equal(a, c, sizeof a);        /* next epoch: another order */
    assert_memory_not_equal(a, d, sizeof a);        /* another seed: another order */

    /* It really shuffles: few fixed points (about 1 expected) and no long sorted runs. */
    int fixed = 0;
    for (int i = 0; i < N; i++)
        fixed += a[i] == i;
    assert_true(fixed < 10);

    /* Pinned: the order for a seed must never change between versions, or "same seed,
     * same run" breaks for saved experiments. */
    int64_t small[10];
    cnnrt_shuffle_order(10, 42, 0, small);
    assert_true(is_permutation(small, 10));
    static const int64_t pinned[10] = {8, 4, 1, 7, 2, 6, 0, 9, 3, 5};
    assert_memory_equal(small, pinned, sizeof small);

    /* Degenerate sizes. */
    int64_t one[1] = {99};
    cnnrt_shuffle_order(1, 7, 3, one);
    assert_int_equal(one[0], 0);
    cnnrt_shuffle_order(0, 7, 3, NULL);
}

static void test_batching_with_short_last_batch(void **state)
{
    (void)state;
    fake f;
    make_fake(&f, 10);
    assert_int_equal(cnnrt_batch_count(10, 4), 3);
    assert_int_equal(cnnrt_batch_count(8, 4), 2);
    assert_int_equal(cnnrt_batch_count(0, 4), 0);
    assert_int_equal(cnnrt_batch_count(1, 64), 1);

    int64_t order[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    float x[4 * 4];
    int32_t labels[4];
    int64_t seen = 0;
    for (int64_t b = 0; b < 3; b++) {
        for (int i = 0; i < 16; i++)
            x[i] = -1.0f;
        int64_t n = cnnrt_dataset_batch(&f.ds, order, b, 4, x, labels);
        assert_int_equal(n, b < 2 ? 4 : 2);
        for (int64_t k = 0; k < n; k++) {
            int64_t index = order[seen + k];
            assert_int_equal(labels[k], index % 10);
            for (int p = 0; p < 4; p++)
                assert_true(x[4 * k + p] == (float)index / 255.0f);
        }
        /* Nothing written past the short batch. */
        for (int64_t k = n * 4; k < 16; k++)
            assert_true(x[k] == -1.0f);
        seen += n;
    }
    assert_int_equal(seen, 10);
    assert_int_equal(cnnrt_dataset_batch(&f.ds, order, 3, 4, x, labels), 0);

    /* Without an order: stored order; labels optional; pixel 255 -> 1.0. */
    make_fake(&f, 256);
    assert_int_equal(cnnrt_dataset_batch(&f.ds, NULL, 63, 4, x, NULL), 4);
    assert_true(x[4 * 3] == 1.0f);   /* image 255 */
    assert_true(x[0] == 252.0f / 255.0f);

    float y[8];
    cnnrt_dataset_to_float(&f.ds, 0, 2, y);
    assert_true(y[0] == 0.0f && y[7] == 1.0f / 255.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_split_is_keras),
        cmocka_unit_test(test_validation_split_errors),
        cmocka_unit_test(test_shuffle_deterministic),
        cmocka_unit_test(test_batching_with_short_last_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
