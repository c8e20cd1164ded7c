/* The augmentation layers (runtime/augment.c): each transform on a small hand-made picture,
 * the identity at zero strength, the same pictures from the same seed (and others from
 * another), consecutive geometric layers composed into one resampling that equals them one
 * after another, and the descriptor's text read and a damaged one refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "cnnrt_augment.h"

/* 3x3, one channel:  1 2 3 / 4 5 6 / 7 8 9, scaled to [0, 1] */
static void picture(float *x)
{
    for (int i = 0; i < 9; i++)
        x[i] = (float)(i + 1) / 10.0f;
}

static void assert_picture(const float *x, const int *expected_tenths)
{
    for (int i = 0; i < 9; i++)
        assert_true(fabsf(x[i] - (float)expected_tenths[i] / 10.0f) < 1e-6f);
}

static void test_flip(void **state)
{
    (void)state;
    float x[9];
    picture(x);
    cnnrt_augment_flip(x, 3, 3, 1, 1, 0);
    assert_picture(x, (const int[]){3, 2, 1, 6, 5, 4, 9, 8, 7});
    picture(x);
    cnnrt_augment_flip(x, 3, 3, 1, 0, 1);
    assert_picture(x, (const int[]){7, 8, 9, 4, 5, 6, 1, 2, 3});
    picture(x);
    cnnrt_augment_flip(x, 3, 3, 1, 1, 1);
    assert_picture(x, (const int[]){9, 8, 7, 6, 5, 4, 3, 2, 1});
}

static void test_translation_and_fill_modes(void **state)
{
    (void)state;
    float x[9], y[9];
    picture(x);
    cnnrt_aug_layer fill = {.fill_mode = CNNRT_FILL_CONSTANT, .fill_value = 0};
    /* one pixel right: the left column comes from outside */
    cnnrt_augment_affine(x, y, 3, 3, 1, 0, 1, 0, 1, 1, &fill);
    assert_picture(y, (const int[]){0, 1, 2, 0, 4, 5, 0, 7, 8});
    fill.fill_mode = CNNRT_FILL_NEAREST;
    cnnrt_augment_affine(x, y, 3, 3, 1, 0, 1, 0, 1, 1, &fill);
    assert_picture(y, (const int[]){1, 1, 2, 4, 4, 5, 7, 7, 8});
    fill.fill_mode = CNNRT_FILL_WRAP;
    cnnrt_augment_affine(x, y, 3, 3, 1, 0, 1, 0, 1, 1, &fill);
    assert_picture(y, (const int[]){3, 1, 2, 6, 4, 5, 9, 7, 8});
    fill.fill_mode = CNNRT_FILL_REFLECT;   /* d c b a | a b c d: column -1 is column 0 */
    cnnrt_augment_affine(x, y, 3, 3, 1, 1, 0, 0, 1, 1, &fill);   /* one pixel down */
    assert_picture(y, (const int[]){1, 2, 3, 1, 2, 3, 4, 5, 6});
    /* half a pixel right, bilinear: the mean of neighbours */
    fill.fill_mode = CNNRT_FILL_NEAREST;
    cnnrt_augment_affine(x, y, 3, 3, 1, 0, 0.5, 0, 1, 1, &fill);
    float expected[9] = {0.1f, 0.15f, 0.25f, 0.4f, 0.45f, 0.55f, 0.7f, 0.75f, 0.85f};
    for (int i = 0; i < 9; i++)
        assert_true(fabsf(y[i] - expected[i]) < 1e-6f);
}

static void test_rotation_turns_counter_clockwise(void **state)
{
    (void)state;
    float x[9], y[9];
    picture(x);
    cnnrt_aug_layer fill = {.fill_mode = CNNRT_FILL_CONSTANT};
    /* a quarter turn counter-clockwise: the right column becomes the top row */
    cnnrt_augment_affine(x, y, 3, 3, 1, 0, 0, M_PI / 2, 1, 1, &fill);
    assert_picture(y, (const int[]){3, 6, 9, 2, 5, 8, 1, 4, 7});
    fill.nearest = 1;
    cnnrt_augment_affine(x, y, 3, 3, 1, 0, 0, M_PI, 1, 1, &fill);
    assert_picture(y, (const int[]){9, 8, 7, 6, 5, 4, 3, 2, 1});
}

static void test_zoom(void **state)
{
    (void)state;
    float x[9], y[9];
    picture(x);
    cnnrt_aug_layer fill = {.fill_mode = CNNRT_FILL_CONSTANT, .fill_value = 1};
    /* zooming out by 2: the corners read two pixels from the centre, outside */
    cnnrt_augment_affine(x, y, 3, 3, 1, 0, 0, 0, 2, 2, &fill);
    assert_picture(y, (const int[]){10, 10, 10, 10, 5, 10, 10, 10, 10});
    /* zooming in by 2 (factor 0.5): the corners read half way to the centre */
    cnnrt_augment_affine(x, y, 3, 3, 1, 0, 0, 0, 0.5, 0.5, &fill);
    assert_true(fabsf(y[0] - 0.3f) < 1e-6f);   /* mean of 1, 2, 4, 5 */
    assert_true(fabsf(y[4] - 0.5f) < 1e-6f);
}

static void test_contrast_and_brightness(void **state)
{
    (void)state;
    float x[9];
    picture(x);
    cnnrt_augment_contrast(x, 3, 3, 1, 2.0);   /* mean 0.5: (v - 0.5) * 2 + 0.5, clipped */
    assert_picture(x, (const int[]){0, 0, 1, 3, 5, 7, 9, 10, 10});
    picture(x);
    cnnrt_augment_brightness(x, 9, 0.25);
    float expected[9] = {0.35f, 0.45f, 0.55f, 0.65f, 0.75f, 0.85f, 0.95f, 1, 1};
    for (int i = 0; i < 9; i++)
        assert_true(fabsf(x[i] - expected[i]) < 1e-6f);
}

static const char *const every_layer =
    "random_flip mode=horizontal_and_vertical\n"
    "random_translation height_factor=0.2 width_factor=0.1 fill_mode=reflect "
    "interpolation=bilinear fill_value=0\n"
    "random_rotation factor=0.1 fill_mode=nearest interpolation=bilinear fill_value=0\n"
    "random_zoom height_factor=0.2 fill_mode=constant interpolation=nearest fill_value=0.5\n"
    "random_contrast factor=0.3\n"
    "random_brightness factor=0.2\n";

/* A 8x6x2 picture with a gradient. */
static void bigger_picture(float *x)
{
    for (int i = 0; i < 8 * 6 * 2; i++)
        x[i] = (float)((i * 37) % 97) / 97.0f;
}

static void test_zero_strength_is_identity(void **state)
{
    (void)state;
    cnnrt_augment aug;
    cnnrt_err e;
    assert_int_equal(cnnrt_augment_parse(
        "random_translation height_factor=0 width_factor=0 fill_mode=reflect "
        "interpolation=bilinear fill_value=0\n"
        "random_rotation factor=0 fill_mode=wrap interpolation=bilinear fill_value=0\n"
        "random_zoom height_factor=0 width_factor=0 fill_mode=nearest interpolation=bilinear "
        "fill_value=0\nrandom_contrast factor=0\nrandom_brightness factor=0\n", "t", &aug, &e),
        0);
    assert_int_equal(aug.num_layers, 5);
    float x[96], y[96], scratch[96];
    bigger_picture(x);
    for (uint64_t seed = 0; seed < 20; seed++) {
        memcpy(y, x, sizeof x);
        uint64_t rng = cnnrt_augment_seed(seed, 1, 0);
        cnnrt_augment_image(&aug, y, 8, 6, 2, &rng, scratch);
        assert_memory_equal(x, y, sizeof x);
    }
}

static void test_deterministic_from_seed(void **state)
{
    (void)state;
    cnnrt_augment aug;
    cnnrt_err e;
    assert_int_equal(cnnrt_augment_parse(every_layer, "t", &aug, &e), 0);
    assert_int_equal(aug.num_layers, 6);
    float x[96], a[96], b[96], scratch[96];
    bigger_picture(x);
    int differ = 0;
    for (int64_t image = 0; image < 10; image++) {
        memcpy(a, x, sizeof x);
        memcpy(b, x, sizeof x);
        uint64_t ra = cnnrt_augment_seed(42, 7, image), rb = cnnrt_augment_seed(42, 7, image);
        cnnrt_augment_image(&aug, a, 8, 6, 2, &ra, scratch);
        cnnrt_augment_image(&aug, b, 8, 6, 2, &rb, scratch);
        assert_memory_equal(a, b, sizeof a);
        for (int i = 0; i < 96; i++)
            assert_true(a[i] >= 0 && a[i] <= 1);
        memcpy(b, x, sizeof x);
        rb = cnnrt_augment_seed(43, 7, image);
        cnnrt_augment_image(&aug, b, 8, 6, 2, &rb, scratch);
        differ += memcmp(a, b, sizeof a) != 0;
    }
    assert_int_equal(differ, 10);
}

/* A 16x16 picture whose value is linear in y and x: bilinear interpolation reproduces it
 * exactly, so resampling once or several times gives the same interior. */
enum { SIDE = 16 };

static void linear_picture(float *x)
{
    for (int y = 0; y < SIDE; y++)
        for (int i = 0; i < SIDE; i++)
            x[y * SIDE + i] = 0.2f + 0.03f * (float)y + 0.02f * (float)i;
}

/* The layers of `text` one at a time, each from where the previous left the random stream:
 * what augmenting did before the geometric layers were composed. */
static void one_layer_at_a_time(const char *text, float *x, uint64_t *rng, float *scratch)
{
    cnnrt_augment all, one;
    cnnrt_err e;
    assert_int_equal(cnnrt_augment_parse(text, "t", &all, &e), 0);
    for (int i = 0; i < all.num_layers; i++) {
        memset(&one, 0, sizeof one);
        one.num_layers = 1;
        one.layers[0] = all.layers[i];
        cnnrt_augment_image(&one, x, SIDE, SIDE, 1, rng, scratch);
    }
}

static void test_composed_layers_equal_one_after_another(void **state)
{
    (void)state;
    const char *text = "random_flip mode=horizontal_and_vertical\n"
                       "random_rotation factor=0.02\n"
                       "random_translation height_factor=0.05 width_factor=0.05\n"
                       "random_zoom height_factor=0.1\n";
    cnnrt_augment aug;
    cnnrt_err e;
    assert_int_equal(cnnrt_augment_parse(text, "t", &aug, &e), 0);
    float x[SIDE * SIDE], composed[SIDE * SIDE], sequential[SIDE * SIDE], scratch[SIDE * SIDE];
    linear_picture(x);
    int moved = 0;
    for (int64_t image = 0; image < 20; image++) {
        memcpy(composed, x, sizeof x);
        memcpy(sequential, x, sizeof x);
        uint64_t ra = cnnrt_augment_seed(5, 1, image), rb = ra;
        cnnrt_augment_image(&aug, composed, SIDE, SIDE, 1, &ra, scratch);
        one_layer_at_a_time(text, sequential, &rb, scratch);
        assert_true(ra == rb);   /* the same random numbers were drawn */
        for (int y = 5; y < SIDE - 5; y++)   /* the interior: nothing read from outside */
            for (int i = 5; i < SIDE - 5; i++)
                assert_true(fabsf(composed[y * SIDE + i] - sequential[y * SIDE + i]) < 1e-5f);
        moved += memcmp(composed, x, sizeof x) != 0;
    }
    assert_int_equal(moved, 20);
}

/* Geometric layers that fill the outside differently are not composed: each resamples on
 * its own, exactly as one after another. */
static void test_layers_filling_differently_stay_apart(void **state)
{
    (void)state;
    const char *text = "random_rotation factor=0.1 fill_mode=constant fill_value=0\n"
                       "random_translation height_factor=0.2 width_factor=0.2 "
                       "fill_mode=wrap\n"
                       "random_zoom height_factor=0.2 interpolation=nearest\n";
    cnnrt_augment aug;
    cnnrt_err e;
    assert_int_equal(cnnrt_augment_parse(text, "t", &aug, &e), 0);
    float x[SIDE * SIDE], a[SIDE * SIDE], b[SIDE * SIDE], scratch[SIDE * SIDE];
    linear_picture(x);
    for (int64_t image = 0; image < 10; image++) {
        memcpy(a, x, sizeof x);
        memcpy(b, x, sizeof x);
        uint64_t ra = cnnrt_augment_seed(9, 3, image), rb = ra;
        cnnrt_augment_image(&aug, a, SIDE, SIDE, 1, &ra, scratch);
        one_layer_at_a_time(text, b, &rb, scratch);
        assert_memory_equal(a, b, sizeof a);
    }
}

/* A flip alone moves pixels without interpolating them: the exact mirror image. */
static void test_flip_alone_is_exact(void **state)
{
    (void)state;
    cnnrt_augment aug;
    cnnrt_err e;
    assert_int_equal(cnnrt_augment_parse("random_flip mode=horizontal\n", "t", &aug, &e), 0);
    float x[96], y[96], mirror[96], scratch[96];
    bigger_picture(x);
    memcpy(mirror, x, sizeof x);
    cnnrt_augment_flip(mirror, 8, 6, 2, 1, 0);
    int flipped = 0, kept = 0;
    for (int64_t image = 0; image < 20; image++) {
        memcpy(y, x, sizeof x);
        uint64_t rng = cnnrt_augment_seed(1, 1, image);
        cnnrt_augment_image(&aug, y, 8, 6, 2, &rng, scratch);
        flipped += !memcmp(y, mirror, sizeof y);
        kept += !memcmp(y, x, sizeof y);
    }
    assert_int_equal(flipped + kept, 20);
    assert_true(flipped > 0 && kept > 0);
}

static void test_damaged_text_refused(void **state)
{
    (void)state;
    cnnrt_augment aug;
    cnnrt_err e;
    const char *bad[] = {"random_flip mode=diagonal\n", "random_rotation factor=2\n",
                         "random_translation height_factor=0.1\n",
                         "random_zoom width_factor=0.1\n", "random_contrast factor=x\n",
                         "random_spin factor=0.1\n", "random_flip mode=horizontal size=3\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cnnrt_augment_parse(bad[i], "desc", &aug, &e), -1);
    assert_int_equal(cnnrt_augment_parse("early_stopping patience=3\n", "desc", &aug, &e), 0);
    assert_int_equal(aug.num_layers, 0);
    char names[128];
    assert_int_equal(cnnrt_augment_parse(every_layer, "t", &aug, &e), 0);
    cnnrt_augment_describe(&aug, names, sizeof names);
    assert_string_equal(names, "random_flip, random_translation, random_rotation, random_zoom, "
                               "random_contrast, random_brightness");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flip),
        cmocka_unit_test(test_translation_and_fill_modes),
        cmocka_unit_test(test_rotation_turns_counter_clockwise),
        cmocka_unit_test(test_zoom),
        cmocka_unit_test(test_contrast_and_brightness),
        cmocka_unit_test(test_zero_strength_is_identity),
        cmocka_unit_test(test_deterministic_from_seed),
        cmocka_unit_test(test_composed_layers_equal_one_after_another),
        cmocka_unit_test(test_layers_filling_differently_stay_apart),
        cmocka_unit_test(test_flip_alone_is_exact),
        cmocka_unit_test(test_damaged_text_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
