/* Colour maps: jet against values computed independently from matplotlib's segment data,
 * well-known matplotlib values, viridis, and heatmap colouring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "cnnrt_image.h"

/* An independent evaluation of a piecewise-linear channel at x in [0,1]: find the segment
 * [xs[k], xs[k+1]] holding x and interpolate between ys[k] and ys[k+1]. (jet's segment
 * data has y0 == y1 everywhere, so one y per break point is enough.) */
static double piecewise(const double *xs, const double *ys, int n, double x)
{
    for (int k = 0; k < n - 1; k++)
        if (x <= xs[k + 1])
            return ys[k] + (ys[k + 1] - ys[k]) * (x - xs[k]) / (xs[k + 1] - xs[k]);
    return ys[n - 1];
}

static void jet_reference(double x, double rgb[3])
{
    static const double rx[] = {0.0, 0.35, 0.66, 0.89, 1.0}, ry[] = {0.0, 0.0, 1.0, 1.0, 0.5};
    static const double gx[] = {0.0, 0.125, 0.375, 0.64, 0.91, 1.0},
                        gy[] = {0.0, 0.0, 1.0, 1.0, 0.0, 0.0};
    static const double bx[] = {0.0, 0.11, 0.34, 0.65, 1.0}, by[] = {0.5, 1.0, 1.0, 0.0, 0.0};
    rgb[0] = piecewise(rx, ry, 5, x);
    rgb[1] = piecewise(gx, gy, 6, x);
    rgb[2] = piecewise(bx, by, 5, x);
}

static void test_jet_matches_segment_data(void **state)
{
    (void)state;
    const float(*jet)[3] = cnnrt_colormap_table(CNNRT_CMAP_JET);
    for (int i = 0; i < 256; i++) {
        double ref[3];
        jet_reference(i / 255.0, ref);
        for (int c = 0; c < 3; c++)
            if (fabs(jet[i][c] - ref[c]) > 1e-6)
                fail_msg("jet[%d][%d] = %.9f, segment data gives %.9f", i, c, jet[i][c],
                         ref[c]);
    }
}

static void test_jet_known_matplotlib_values(void **state)
{
    (void)state;
    const float(*jet)[3] = cnnrt_colormap_table(CNNRT_CMAP_JET);
    /* cm.jet(0), cm.jet(255), cm.jet(128) as matplotlib prints them */
    assert_float_equal(jet[0][0], 0.0f, 1e-7);
    assert_float_equal(jet[0][1], 0.0f, 1e-7);
    assert_float_equal(jet[0][2], 0.5f, 1e-7);
    assert_float_equal(jet[255][0], 0.5f, 1e-7);
    assert_float_equal(jet[255][1], 0.0f, 1e-7);
    assert_float_equal(jet[255][2], 0.0f, 1e-7);
    assert_float_equal(jet[128][0], 0.49019608f, 1e-6);
    assert_float_equal(jet[128][1], 1.0f, 1e-7);
    assert_float_equal(jet[128][2], 0.47754586f, 1e-6);
    /* cm.jet(64) = (0, 0.50392157, 1) */
    assert_float_equal(jet[64][0], 0.0f, 1e-7);
    assert_float_equal(jet[64][1], 0.50392157f, 1e-6);
    assert_float_equal(jet[64][2], 1.0f, 1e-7);
    /* At a break point (x = 0.35 is not on the i/255 grid, but blue's 0.34 plateau end
     * and red's 0.66 are close): entries stay inside [0, 1]. */
    for (int i = 0; i < 256; i++)
        for (int c = 0; c < 3; c++)
            assert_true(jet[i][c] >= 0.0f && jet[i][c] <= 1.0f);
}

static void test_keras_uint8_colours(void **state)
{
    (void)state;
    uint8_t rgb[3];
    /* np.uint8(255 * heatmap) -> index; uint8(255 * jet) truncates: 0.5 * 255 = 127.5 -> 127 */
    cnnrt_colormap_rgb(CNNRT_CMAP_JET, 0.0f, rgb);
    assert_int_equal(rgb[0], 0);
    assert_int_equal(rgb[1], 0);
    assert_int_equal(rgb[2], 127);
    cnnrt_colormap_rgb(CNNRT_CMAP_JET, 1.0f, rgb);
    assert_int_equal(rgb[0], 127);
    assert_int_equal(rgb[1], 0);
    assert_int_equal(rgb[2], 0);
    /* 0.5 * 255 = 127.5 -> index 127 */
    const float(*jet)[3] = cnnrt_colormap_table(CNNRT_CMAP_JET);
    cnnrt_colormap_rgb(CNNRT_CMAP_JET, 0.5f, rgb);
    for (int c = 0; c < 3; c++)
        assert_int_equal(rgb[c], (int)(jet[127][c] * 255.0f));
    /* Out of range and NaN clamp instead of reading outside the table. */
    uint8_t low[3], nan_rgb[3], high[3], top[3];
    cnnrt_colormap_rgb(CNNRT_CMAP_JET, -4.0f, low);
    cnnrt_colormap_rgb(CNNRT_CMAP_JET, NAN, nan_rgb);
    cnnrt_colormap_rgb(CNNRT_CMAP_JET, 9.0f, high);
    cnnrt_colormap_rgb(CNNRT_CMAP_JET, 1.0f, top);
    const uint8_t bottom[3] = {0, 0, 127};
    assert_memory_equal(low, bottom, 3);
    assert_memory_equal(nan_rgb, bottom, 3);
    assert_memory_equal(high, top, 3);
}

static void test_viridis(void **state)
{
    (void)state;
    const float(*v)[3] = cnnrt_colormap_table(CNNRT_CMAP_VIRIDIS);
    /* matplotlib's published endpoints and middle */
    assert_float_equal(v[0][0], 0.267004f, 1e-7);
    assert_float_equal(v[0][1], 0.004874f, 1e-7);
    assert_float_equal(v[0][2], 0.329415f, 1e-7);
    assert_float_equal(v[128][0], 0.127568f, 1e-7);
    assert_float_equal(v[128][1], 0.566949f, 1e-7);
    assert_float_equal(v[128][2], 0.550556f, 1e-7);
    assert_float_equal(v[255][0], 0.993248f, 1e-7);
    assert_float_equal(v[255][1], 0.906157f, 1e-7);
    assert_float_equal(v[255][2], 0.143936f, 1e-7);
    /* Viridis is perceptually uniform: lightness rises at every step, and no entry jumps
     * (this would catch a mistyped digit in the table). */
    double previous = -1.0;
    for (int i = 0; i < 256; i++) {
        double luma = 0.2126 * v[i][0] + 0.7152 * v[i][1] + 0.0722 * v[i][2];
        if (!(luma > previous))
            fail_msg("viridis lightness does not rise at entry %d", i);
        previous = luma;
        if (i > 0)
            for (int c = 0; c < 3; c++)
                if (fabsf(v[i][c] - v[i - 1][c]) > 0.011f)
                    fail_msg("viridis jumps at entry %d channel %d", i, c);
    }
}

static void test_gray_and_names(void **state)
{
    (void)state;
    const float(*g)[3] = cnnrt_colormap_table(CNNRT_CMAP_GRAY);
    assert_float_equal(g[0][0], 0.0f, 0);
    assert_float_equal(g[255][2], 1.0f, 0);
    assert_float_equal(g[51][1], 0.2f, 1e-7);
    cnnrt_colormap cm;
    cnnrt_err e;
    assert_int_equal(cnnrt_colormap_from_name("viridis", &cm, &e), 0);
    assert_int_equal(cm, CNNRT_CMAP_VIRIDIS);
    assert_int_equal(cnnrt_colormap_from_name("jet", &cm, &e), 0);
    assert_int_equal(cm, CNNRT_CMAP_JET);
    assert_int_equal(cnnrt_colormap_from_name("rainbow", &cm, &e), -1);
    assert_non_null(strstr(e.msg, "rainbow"));
    assert_non_null(strstr(e.msg, "viridis"));
    assert_string_equal(cnnrt_colormap_name(CNNRT_CMAP_GRAY), "gray");
}

static void test_heatmap_to_rgb(void **state)
{
    (void)state;
    const float map[4] = {0.0f, 1.0f, 0.25f, NAN};
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_heatmap_to_rgb(map, 2, 2, CNNRT_CMAP_VIRIDIS, &img, &e), 0);
    assert_int_equal(img.width, 2);
    assert_int_equal(img.height, 2);
    assert_int_equal(img.channels, 3);
    for (int i = 0; i < 4; i++) {
        uint8_t rgb[3];
        cnnrt_colormap_rgb(CNNRT_CMAP_VIRIDIS, map[i], rgb);
        assert_memory_equal(img.pixels + 3 * i, rgb, 3);
    }
    /* viridis(1.0) = 0.993248 * 255 = 253.28 -> 253 */
    assert_int_equal(img.pixels[3], 253);
    cnnrt_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jet_matches_segment_data),
        cmocka_unit_test(test_jet_known_matplotlib_values),
        cmocka_unit_test(test_keras_uint8_colours),
        cmocka_unit_test(test_viridis),
        cmocka_unit_test(test_gray_and_names),
        cmocka_unit_test(test_heatmap_to_rgb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
