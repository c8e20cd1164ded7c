/* Resizing, overlays, text, panels and charts on known inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrt_image.h"

/* ------------------------------------------------------------------ bilinear */

static void test_bilinear_constant_stays_constant(void **state)
{
    (void)state;
    float src[3 * 5], dst[17 * 11];
    for (int i = 0; i < 15; i++)
        src[i] = 0.375f;
    cnnrt_resize_bilinear(src, 3, 5, 1, dst, 17, 11);
    for (int i = 0; i < 17 * 11; i++)
        assert_float_equal(dst[i], 0.375f, 1e-7);
    cnnrt_resize_bilinear(dst, 17, 11, 1, src, 3, 5);   /* shrinking too */
    for (int i = 0; i < 15; i++)
        assert_float_equal(src[i], 0.375f, 1e-7);
}

static void test_bilinear_2x2_to_4x4(void **state)
{
    (void)state;
    /* Half-pixel centres: output x samples source (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75,
     * 1.25, clamped to [0, 1]: weights of the right pixel 0, 0.25, 0.75, 1. This is what
     * cv2.resize(INTER_LINEAR) and tf.image.resize(bilinear) give. */
    const float src[4] = {0.0f, 1.0f, 2.0f, 3.0f};   /* [[0, 1], [2, 3]] */
    float dst[16];
    cnnrt_resize_bilinear(src, 2, 2, 1, dst, 4, 4);
    const float row_weights[4] = {0.0f, 0.25f, 0.75f, 1.0f};
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            float top = 0.0f + row_weights[x] * 1.0f, bottom = 2.0f + row_weights[x] * 1.0f;
            float expect = top + (bottom - top) * row_weights[y];
            assert_float_equal(dst[y * 4 + x], expect, 1e-6);
        }
    assert_float_equal(dst[0], 0.0f, 1e-7);
    assert_float_equal(dst[1], 0.25f, 1e-7);
    assert_float_equal(dst[5], 0.75f, 1e-7);    /* (0.25, 0.25): 0.25 + 0.5 */
    assert_float_equal(dst[15], 3.0f, 1e-7);
}

static void test_bilinear_identity_and_shrink(void **state)
{
    (void)state;
    float src[7 * 3 * 2], dst[7 * 3 * 2];
    for (int i = 0; i < 42; i++)
        src[i] = (float)sin(i * 0.7);
    cnnrt_resize_bilinear(src, 7, 3, 2, dst, 7, 3);
    assert_memory_equal(src, dst, sizeof src);
    /* 4 -> 2 samples at 0.5 and 2.5: the mean of each pair. */
    const float line[4] = {1.0f, 3.0f, 10.0f, 20.0f};
    float half[2];
    cnnrt_resize_bilinear(line, 1, 4, 1, half, 1, 2);
    assert_float_equal(half[0], 2.0f, 1e-6);
    assert_float_equal(half[1], 15.0f, 1e-6);
    /* channels stay apart */
    const float two[4] = {0.0f, 100.0f, 1.0f, 200.0f};   /* 1x2 pixels, 2 channels */
    float wide[8];
    cnnrt_resize_bilinear(two, 1, 2, 2, wide, 1, 4);
    assert_float_equal(wide[0], 0.0f, 1e-6);
    assert_float_equal(wide[1], 100.0f, 1e-6);
    assert_float_equal(wide[2], 0.25f, 1e-6);
    assert_float_equal(wide[3], 125.0f, 1e-6);
}

/* ------------------------------------------------------------------ image resize */

static void test_image_resize_and_scale_up(void **state)
{
    (void)state;
    cnnrt_image img, out;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, 2, 2, 1, &e), 0);
    const uint8_t px[4] = {10, 20, 30, 40};
    memcpy(img.pixels, px, 4);
    assert_int_equal(cnnrt_image_resize(&img, 4, 4, CNNRT_RESIZE_NEAREST, &out, &e), 0);
    const uint8_t expect[16] = {10, 10, 20, 20, 10, 10, 20, 20, 30, 30, 40, 40, 30, 30, 40, 40};
    assert_memory_equal(out.pixels, expect, 16);
    cnnrt_image_free(&out);
    assert_int_equal(cnnrt_image_scale_up(&img, 2, &out, &e), 0);
    assert_memory_equal(out.pixels, expect, 16);
    cnnrt_image_free(&out);
    assert_int_equal(cnnrt_image_scale_up(&img, 0, &out, &e), -1);
    /* Area: 2x2 -> 1x1 is the rounded mean 25. */
    assert_int_equal(cnnrt_image_resize(&img, 1, 1, CNNRT_RESIZE_AREA, &out, &e), 0);
    assert_int_equal(out.pixels[0], 25);
    cnnrt_image_free(&out);
    /* 3 -> 2 area: each output covers 1.5 pixels. */
    cnnrt_image line;
    assert_int_equal(cnnrt_image_create(&line, 3, 1, 1, &e), 0);
    line.pixels[0] = 0;
    line.pixels[1] = 90;
    line.pixels[2] = 180;
    assert_int_equal(cnnrt_image_resize(&line, 2, 1, CNNRT_RESIZE_AREA, &out, &e), 0);
    assert_int_equal(out.pixels[0], 30);    /* (0 * 1 + 90 * 0.5) / 1.5 */
    assert_int_equal(out.pixels[1], 150);   /* (90 * 0.5 + 180 * 1) / 1.5 */
    cnnrt_image_free(&out);
    cnnrt_image_free(&line);
    cnnrt_image_free(&img);
}

/* ------------------------------------------------------------------ overlay */

static void test_overlay_additive_like_keras(void **state)
{
    (void)state;
    cnnrt_image heat, img, out;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&heat, 2, 1, 3, &e), 0);
    assert_int_equal(cnnrt_image_create(&img, 2, 1, 1, &e), 0);
    const uint8_t heat_px[6] = {255, 0, 0, 0, 0, 127};
    memcpy(heat.pixels, heat_px, 6);
    img.pixels[0] = 100;
    img.pixels[1] = 200;
    assert_int_equal(cnnrt_overlay(&heat, &img, CNNRT_OVERLAY_ADDITIVE, 0.4f, &out, &e), 0);
    /* sums: (202, 100, 100), (200, 200, 250.8); the maximum 250.8 becomes 255:
     * v / 250.8 * 255 truncated */
    float top = 127.0f * 0.4f + 200.0f;
    const float sums[6] = {255.0f * 0.4f + 100.0f, 100.0f, 100.0f, 200.0f, 200.0f, top};
    for (int i = 0; i < 6; i++)
        assert_int_equal(out.pixels[i], (int)(sums[i] / top * 255.0f));
    assert_int_equal(out.pixels[5], 255);
    assert_int_equal(out.pixels[1], 101);   /* 100 / 250.8 * 255 = 101.67 */
    cnnrt_image_free(&out);

    /* An all-black input stays black (max 0: no division). */
    memset(heat.pixels, 0, 6);
    memset(img.pixels, 0, 2);
    assert_int_equal(cnnrt_overlay(&heat, &img, CNNRT_OVERLAY_ADDITIVE, 0.4f, &out, &e), 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(out.pixels[i], 0);
    cnnrt_image_free(&out);
    cnnrt_image_free(&heat);
    cnnrt_image_free(&img);
}

static void test_overlay_convex(void **state)
{
    (void)state;
    cnnrt_image heat, img, out;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&heat, 1, 1, 3, &e), 0);
    assert_int_equal(cnnrt_image_create(&img, 1, 1, 3, &e), 0);
    const uint8_t h[3] = {200, 0, 100}, v[3] = {0, 100, 101};
    memcpy(heat.pixels, h, 3);
    memcpy(img.pixels, v, 3);
    assert_int_equal(cnnrt_overlay(&heat, &img, CNNRT_OVERLAY_CONVEX, 0.25f, &out, &e), 0);
    assert_int_equal(out.pixels[0], 150);   /* 0.75 * 200 */
    assert_int_equal(out.pixels[1], 25);    /* 0.25 * 100 */
    assert_int_equal(out.pixels[2], 100);   /* 75 + 25.25 = 100.25 */
    cnnrt_image_free(&out);
    assert_int_equal(cnnrt_overlay(&heat, &img, CNNRT_OVERLAY_CONVEX, 1.0f, &out, &e), 0);
    assert_memory_equal(out.pixels, v, 3);
    cnnrt_image_free(&out);
    assert_int_equal(cnnrt_overlay(&heat, &img, CNNRT_OVERLAY_CONVEX, 1.5f, &out, &e), -1);
    assert_int_equal(cnnrt_overlay(&heat, &img, CNNRT_OVERLAY_ADDITIVE, NAN, &out, &e), -1);
    /* sizes must agree */
    cnnrt_image other;
    assert_int_equal(cnnrt_image_create(&other, 2, 1, 3, &e), 0);
    assert_int_equal(cnnrt_overlay(&heat, &other, CNNRT_OVERLAY_CONVEX, 0.5f, &out, &e), -1);
    assert_non_null(strstr(e.msg, "differ"));
    cnnrt_image_free(&other);
    cnnrt_image_free(&heat);
    cnnrt_image_free(&img);
}

/* ------------------------------------------------------------------ text */

static int is_ink(const cnnrt_image *img, int x, int y)
{
    uint8_t rgb[3];
    cnnrt_image_get_pixel(img, x, y, rgb);
    return rgb[0] < 128;
}

static void test_text_drawing(void **state)
{
    (void)state;
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, 40, 30, 1, &e), 0);
    cnnrt_image_fill(&img, 255, 255, 255);
    cnnrt_draw_text(&img, 2, 3, "A", 1, 0, 0, 0);
    /* 'A': .###. / #...# / #...# / ##### / ... */
    assert_false(is_ink(&img, 2, 3));
    assert_true(is_ink(&img, 3, 3));
    assert_true(is_ink(&img, 2, 4));
    assert_false(is_ink(&img, 3, 4));
    for (int x = 2; x < 7; x++)
        assert_true(is_ink(&img, x, 6));
    assert_false(is_ink(&img, 7, 6));
    /* scale 2 doubles everything */
    cnnrt_image_fill(&img, 255, 255, 255);
    cnnrt_draw_text(&img, 0, 0, "A", 2, 0, 0, 0);
    assert_true(is_ink(&img, 2, 0) && is_ink(&img, 3, 1) && is_ink(&img, 0, 2));
    assert_false(is_ink(&img, 0, 0));
    /* Drawing off the image clips instead of crashing. */
    cnnrt_draw_text(&img, -7, -5, "clip\nme", 3, 0, 0, 0);
    cnnrt_draw_text(&img, 35, 25, "\x01\xff~", 4, 0, 0, 0);
    cnnrt_image_free(&img);

    assert_int_equal(cnnrt_text_width("pred 7", 1), 6 * CNNRT_FONT_CELL_W);
    assert_int_equal(cnnrt_text_width("ab\nlonger", 2), 6 * CNNRT_FONT_CELL_W * 2);
    assert_int_equal(cnnrt_text_height("ab\nlonger", 2), 2 * CNNRT_FONT_CELL_H * 2);
    assert_int_equal(cnnrt_text_height("", 2), 0);
    assert_int_equal(cnnrt_text_width(NULL, 2), 0);
}

static void test_every_printable_glyph_has_ink(void **state)
{
    (void)state;
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, CNNRT_FONT_CELL_W, CNNRT_FONT_CELL_H, 1, &e), 0);
    for (int ch = 33; ch < 127; ch++) {
        cnnrt_image_fill(&img, 255, 255, 255);
        char text[2] = {(char)ch, 0};
        cnnrt_draw_text(&img, 0, 0, text, 1, 0, 0, 0);
        int ink = 0;
        for (int i = 0; i < CNNRT_FONT_CELL_W * CNNRT_FONT_CELL_H; i++)
            ink += img.pixels[i] == 0;
        if (ink == 0)
            fail_msg("glyph '%c' is blank", ch);
        /* the spacing column stays empty */
        for (int y = 0; y < CNNRT_FONT_CELL_H; y++)
            assert_int_equal(img.pixels[y * CNNRT_FONT_CELL_W + CNNRT_FONT_CELL_W - 1], 255);
    }
    cnnrt_image_free(&img);
}

static void test_shapes(void **state)
{
    (void)state;
    cnnrt_image img, small;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, 20, 10, 3, &e), 0);
    cnnrt_draw_frame(&img, 2, 2, 8, 6, 2, 255, 0, 0);
    uint8_t px[3];
    cnnrt_image_get_pixel(&img, 2, 2, px);
    assert_int_equal(px[0], 255);
    cnnrt_image_get_pixel(&img, 9, 7, px);   /* bottom-right corner, inside the frame */
    assert_int_equal(px[0], 255);
    cnnrt_image_get_pixel(&img, 5, 4, px);   /* the middle stays empty */
    assert_int_equal(px[0], 0);
    cnnrt_image_get_pixel(&img, 10, 8, px);  /* just outside */
    assert_int_equal(px[0], 0);
    /* a horizontal line covers exactly its pixels; off-image coordinates clip */
    cnnrt_draw_line(&img, 0, 9, 19, 9, 1, 0, 255, 0);
    for (int x = 0; x < 20; x++) {
        cnnrt_image_get_pixel(&img, x, 9, px);
        assert_int_equal(px[1], 255);
    }
    cnnrt_draw_line(&img, -1000000, -5, 1000000, 40, 3, 1, 2, 3);
    cnnrt_image_set_pixel(&img, 50, 50, 9, 9, 9);   /* ignored */
    /* a gray image pasted into RGB repeats its value; set_pixel on gray stores luminance */
    assert_int_equal(cnnrt_image_create(&small, 2, 1, 1, &e), 0);
    cnnrt_image_set_pixel(&small, 1, 0, 200, 100, 50);
    assert_int_equal(small.pixels[1], 124);
    cnnrt_draw_image(&img, 18, 0, &small);
    cnnrt_image_get_pixel(&img, 19, 0, px);
    assert_int_equal(px[0], 124);
    assert_int_equal(px[2], 124);
    cnnrt_draw_image(&img, 19, -1, &small);   /* partly outside: clipped */
    cnnrt_image_free(&small);
    cnnrt_image_free(&img);
}

/* ------------------------------------------------------------------ panel */

static int count_colour(const cnnrt_image *img, int x0, int y0, int x1, int y1, uint8_t r,
                        uint8_t g, uint8_t b)
{
    int n = 0;
    uint8_t rgb[3];
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            cnnrt_image_get_pixel(img, x, y, rgb);
            n += rgb[0] == r && rgb[1] == g && rgb[2] == b;
        }
    return n;
}

static void test_panel_layout(void **state)
{
    (void)state;
    cnnrt_image digit, rgb, out;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&digit, 28, 28, 1, &e), 0);
    cnnrt_draw_rect(&digit, 10, 4, 8, 20, 255, 255, 255);
    assert_int_equal(cnnrt_image_create(&rgb, 28, 28, 3, &e), 0);
    cnnrt_image_fill(&rgb, 0, 0, 200);
    cnnrt_panel_item items[3] = {{&digit, "true 7", 0},
                                 {&rgb, "pred 1 (99.2%)", 1},
                                 {&digit, NULL, 0}};
    cnnrt_panel_style style;
    cnnrt_panel_style_default(&style);
    style.scale = 4;
    style.padding = 10;
    style.font_scale = 1;
    assert_int_equal(cnnrt_panel_compose(items, 3, &style, &out, &e), 0);
    /* one row of three 112-pixel cells (the captions are narrower) */
    int caption_h = CNNRT_FONT_CELL_H;
    assert_int_equal(out.width, 10 + 3 * (112 + 10));
    assert_int_equal(out.height, 10 + 112 + 5 + caption_h + 10);
    assert_int_equal(out.channels, 3);
    /* the images are where the layout says, enlarged 4 times */
    uint8_t px[3];
    cnnrt_image_get_pixel(&out, 10 + 122 + 50, 10 + 50, px);
    assert_int_equal(px[2], 200);
    cnnrt_image_get_pixel(&out, 10 + 4 * 12, 10 + 4 * 10, px);
    assert_int_equal(px[0], 255);
    cnnrt_image_get_pixel(&out, 10 + 4 * 2, 10 + 4 * 2, px);
    assert_int_equal(px[0], 0);
    /* captions: dark ink under the first image, red under the marked one, none under the
     * third */
    int band_top = 10 + 112 + 5, band_bottom = band_top + caption_h;
    assert_true(count_colour(&out, 10, band_top, 10 + 112, band_bottom, 20, 20, 20) > 20);
    assert_true(count_colour(&out, 132, band_top, 132 + 112, band_bottom, 220, 30, 30) > 20);
    assert_int_equal(count_colour(&out, 254, band_top, 254 + 112, band_bottom, 20, 20, 20), 0);
    /* the red frame around the marked image, outside the image itself */
    assert_true(count_colour(&out, 122, 0, 132 + 112 + 10, 10, 220, 30, 30) > 100);
    assert_int_equal(count_colour(&out, 10, 0, 10 + 112, 10, 220, 30, 30), 0);
    cnnrt_image_free(&out);

    /* a grid of 2 columns with a title and a dark background */
    style.cols = 2;
    style.dark = 1;
    style.title = "Grad-CAM";
    assert_int_equal(cnnrt_panel_compose(items, 3, &style, &out, &e), 0);
    int title_h = CNNRT_FONT_CELL_H * 2;
    assert_int_equal(out.width, 10 + 2 * (112 + 10));
    assert_int_equal(out.height, 10 + title_h + 10 + 2 * (112 + 5 + caption_h + 10));
    cnnrt_image_get_pixel(&out, 0, 0, px);
    assert_int_equal(px[0], 24);
    assert_true(count_colour(&out, 0, 10, out.width, 10 + title_h, 235, 235, 235) > 30);
    cnnrt_image_free(&out);

    /* errors */
    assert_int_equal(cnnrt_panel_compose(items, 0, &style, &out, &e), -1);
    style.scale = 0;
    assert_int_equal(cnnrt_panel_compose(items, 3, &style, &out, &e), -1);
    cnnrt_image_free(&digit);
    cnnrt_image_free(&rgb);
}

static void test_panel_wide_caption_widens_cell(void **state)
{
    (void)state;
    cnnrt_image tiny, out;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&tiny, 2, 2, 1, &e), 0);
    cnnrt_panel_item item = {&tiny, "a long caption", 0};
    cnnrt_panel_style style;
    cnnrt_panel_style_default(&style);
    assert_int_equal(cnnrt_panel_compose(&item, 1, &style, &out, &e), 0);
    assert_int_equal(out.width, 12 + cnnrt_text_width("a long caption", 2) + 12);
    cnnrt_image_free(&out);
    cnnrt_image_free(&tiny);
}

/* ------------------------------------------------------------------ chart */

static void chart_round_trip(const cnnrt_chart *chart, int w, int h)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/test_picture_chart.%ld.png", CNNC_BINARY_DIR,
             (long)getpid());
    cnnrt_err e;
    memset(&e, 0, sizeof e);
    if (cnnrt_chart_write_png(path, chart, &e))
        fail_msg("chart: %s", e.msg);
    cnnrt_image img;
    assert_int_equal(cnnrt_png_read(path, CNNRT_ALPHA_ON_WHITE, &img, &e), 0);
    assert_int_equal(img.width, w);
    assert_int_equal(img.height, h);
    assert_int_equal(img.channels, 3);
    /* something of the first series' colour (tab10 blue) was drawn, unless empty */
    int blue = count_colour(&img, 0, 0, w, h, 31, 119, 180);
    int has_points = 0;
    for (int s = 0; s < chart->series_count; s++)
        for (int i = 0; i < chart->series[s].count; i++)
            has_points |= s == 0 && isfinite(chart->series[s].y[i]);
    if (has_points)
        assert_true(blue > 10);
    cnnrt_image_free(&img);
    remove(path);
}

static void test_chart_cases(void **state)
{
    (void)state;
    const double loss[5] = {0.9, 0.41, 0.22, 0.18, 0.15};
    const double val_loss[5] = {0.5, 0.3, NAN, 0.21, 0.2};
    cnnrt_chart_series series[2] = {{"loss", NULL, loss, 5, 0}, {"val_loss", NULL, val_loss, 5, 1}};
    cnnrt_chart chart = {"Training", "epoch", "loss", 0, 0, series, 2};
    chart_round_trip(&chart, 640, 420);

    /* one point */
    const double one[1] = {0.5};
    cnnrt_chart_series single = {"acc", NULL, one, 1, 0};
    cnnrt_chart c1 = {NULL, NULL, NULL, 300, 200, &single, 1};
    chart_round_trip(&c1, 300, 200);

    /* flat, negative, explicit x */
    const double flat[3] = {-2.0, -2.0, -2.0}, xs[3] = {0.5, 1.5, 2.5};
    cnnrt_chart_series flat_series = {"flat", xs, flat, 3, 0};
    cnnrt_chart c2 = {"flat", "x", "y", 500, 300, &flat_series, 1};
    chart_round_trip(&c2, 500, 300);

    /* nothing finite, and no series at all: empty axes */
    const double nans[2] = {NAN, INFINITY};
    cnnrt_chart_series nan_series = {"nothing", NULL, nans, 2, 0};
    cnnrt_chart c3 = {"empty", NULL, NULL, 0, 0, &nan_series, 1};
    chart_round_trip(&c3, 640, 420);
    cnnrt_chart c4 = {NULL, NULL, NULL, 0, 0, NULL, 0};
    chart_round_trip(&c4, 640, 420);

    /* huge values (a diverged training run) are an error, not a crash */
    const double huge[2] = {1e300, -1e300};
    cnnrt_chart_series huge_series = {"diverged", NULL, huge, 2, 0};
    cnnrt_chart c5 = {NULL, NULL, NULL, 0, 0, &huge_series, 1};
    cnnrt_image huge_img;
    cnnrt_err huge_err;
    assert_int_equal(cnnrt_chart_render(&c5, &huge_img, &huge_err), -1);
    assert_non_null(strstr(huge_err.msg, "too large"));

    /* too small, and into a missing directory */
    cnnrt_image img;
    cnnrt_err e;
    cnnrt_chart tiny = {"a title", "x", "y", 50, 40, series, 2};
    assert_int_equal(cnnrt_chart_render(&tiny, &img, &e), -1);
    assert_int_equal(cnnrt_chart_write_png("/nonexistent-dir/c.png", &tiny, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent-dir/c.png"));
    assert_int_equal(cnnrt_chart_write_png("/nonexistent-dir/c.png", &chart, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent-dir/c.png"));
    struct stat st;
    assert_int_not_equal(stat("/nonexistent-dir/c.png", &st), 0);
}

static void test_chart_ticks_are_readable(void **state)
{
    (void)state;
    /* The y axis of an accuracy curve from 0.91 to 0.99 is labelled; the tick labels are
     * drawn in dark gray left of the plot: look for ink there. */
    const double acc[4] = {0.91, 0.95, 0.97, 0.99};
    cnnrt_chart_series s = {"acc", NULL, acc, 4, 0};
    cnnrt_chart chart = {NULL, NULL, NULL, 640, 420, &s, 1};
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_chart_render(&chart, &img, &e), 0);
    assert_true(count_colour(&img, 0, 0, 60, 420, 40, 40, 40) > 100);
    cnnrt_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bilinear_constant_stays_constant),
        cmocka_unit_test(test_bilinear_2x2_to_4x4),
        cmocka_unit_test(test_bilinear_identity_and_shrink),
        cmocka_unit_test(test_image_resize_and_scale_up),
        cmocka_unit_test(test_overlay_additive_like_keras),
        cmocka_unit_test(test_overlay_convex),
        cmocka_unit_test(test_text_drawing),
        cmocka_unit_test(test_every_printable_glyph_has_ink),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_panel_layout),
        cmocka_unit_test(test_panel_wide_caption_widens_cell),
        cmocka_unit_test(test_chart_cases),
        cmocka_unit_test(test_chart_ticks_are_readable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
