/* The pictures demo: writes, into <build>/demo/, what `gradcam` will show, from synthetic
 * data (no model needed), and checks every file reads back with the expected size:
 *   heatmap.png          jet heatmap of a Gaussian blob (a 7x7 "Grad-CAM map"
 *                        upsampled bilinearly to 28x28, shown 8x)
 *   overlay.png          that heatmap over a synthetic digit 7, Keras's additive blend
 *   overlay_convex.png   the same with the convex blend
 *   gradcam_panel.png    original | heatmap | overlay with captions and a title
 *   grid.png             a 2x4 grid of digits with captions, one marked as misclassified
 *   training_loss.png    loss / val_loss per epoch (val dashed, one NaN)
 *   training_acc.png     accuracy / val_accuracy per epoch
 *   photo.png            a synthetic photo of a handwritten 7 (dark ink on grainy paper)
 *   photo_to_input.png   that photo, stretched to 28x28, and MNIST-style preprocessed
 * Open them to see that they look right. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cnnrt_image.h"

#define SIDE 28
#define MAP 7

static char demo_dir[4096];

static const char *demo_path(const char *name)
{
    static char path[8192];
    snprintf(path, sizeof path, "%s/%s", demo_dir, name);
    return path;
}

static int make_demo_dir(void **state)
{
    (void)state;
    snprintf(demo_dir, sizeof demo_dir, "%s/demo", CNNC_BINARY_DIR);
    if (mkdir(demo_dir, 0755) != 0) {
        struct stat st;
        if (stat(demo_dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return -1;
    }
    return 0;
}

/* Writes img and checks that the file reads back identical. */
static void write_and_check(const char *name, const cnnrt_image *img, int width, int height)
{
    cnnrt_err e;
    memset(&e, 0, sizeof e);
    const char *path = demo_path(name);
    if (cnnrt_png_write(path, img, &e))
        fail_msg("%s", e.msg);
    cnnrt_image back;
    if (cnnrt_png_read(path, CNNRT_ALPHA_ON_WHITE, &back, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(back.width, width);
    assert_int_equal(back.height, height);
    assert_int_equal(back.channels, img->channels);
    assert_memory_equal(back.pixels, img->pixels,
                        (size_t)width * (size_t)height * (size_t)img->channels);
    cnnrt_image_free(&back);
}

/* A handwritten-looking 7: a light stroke on black, like MNIST, with soft edges made by
 * drawing at 4x and area-averaging down. */
static void synthetic_digit(int digit, cnnrt_image *img)
{
    cnnrt_image big;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&big, SIDE * 4, SIDE * 4, 1, &e), 0);
    if (digit == 7) {
        cnnrt_draw_line(&big, 26, 28, 84, 24, 9, 255, 255, 255);
        cnnrt_draw_line(&big, 84, 24, 50, 96, 9, 255, 255, 255);
        cnnrt_draw_line(&big, 46, 60, 74, 58, 7, 255, 255, 255);
    } else if (digit == 1) {
        cnnrt_draw_line(&big, 58, 20, 50, 96, 9, 255, 255, 255);
    } else {   /* 0 */
        for (int k = 0; k < 64; k++) {
            double a0 = k * 2 * M_PI / 64, a1 = (k + 1) * 2 * M_PI / 64;
            cnnrt_draw_line(&big, 56 + (int)(22 * cos(a0)), 58 + (int)(34 * sin(a0)),
                            56 + (int)(22 * cos(a1)), 58 + (int)(34 * sin(a1)), 9, 255, 255,
                            255);
        }
    }
    assert_int_equal(cnnrt_image_resize(&big, SIDE, SIDE, CNNRT_RESIZE_AREA, img, &e), 0);
    cnnrt_image_free(&big);
}

/* A 7x7 map with a Gaussian blob centred at (cx, cy) in map cells, normalised to max 1,
 * upsampled bilinearly to 28x28: what `gradcam` does with the map of max_pooling2d_1. */
static void synthetic_cam(double cx, double cy, float *out)
{
    float map[MAP * MAP];
    float top = 0.0f;
    for (int y = 0; y < MAP; y++)
        for (int x = 0; x < MAP; x++) {
            double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
            map[y * MAP + x] = (float)exp(-d2 / 3.0);
            top = fmaxf(top, map[y * MAP + x]);
        }
    for (int i = 0; i < MAP * MAP; i++)
        map[i] /= top;
    cnnrt_resize_bilinear(map, MAP, MAP, 1, out, SIDE, SIDE);
}

static void test_demo_gradcam_pictures(void **state)
{
    (void)state;
    cnnrt_err e;
    float cam[SIDE * SIDE];
    synthetic_cam(3.6, 2.2, cam);
    cnnrt_image digit, heat, over, convex, big, panel;
    synthetic_digit(7, &digit);
    assert_int_equal(cnnrt_heatmap_to_rgb(cam, SIDE, SIDE, CNNRT_CMAP_JET, &heat, &e), 0);
    assert_int_equal(cnnrt_overlay(&heat, &digit, CNNRT_OVERLAY_ADDITIVE,
                                   CNNRT_OVERLAY_KERAS_ALPHA, &over, &e), 0);
    assert_int_equal(cnnrt_overlay(&heat, &digit, CNNRT_OVERLAY_CONVEX,
                                   CNNRT_OVERLAY_CONVEX_WEIGHT, &convex, &e), 0);

    assert_int_equal(cnnrt_image_scale_up(&heat, 8, &big, &e), 0);
    write_and_check("heatmap.png", &big, 224, 224);
    cnnrt_image_free(&big);
    assert_int_equal(cnnrt_image_scale_up(&over, 8, &big, &e), 0);
    write_and_check("overlay.png", &big, 224, 224);
    cnnrt_image_free(&big);
    assert_int_equal(cnnrt_image_scale_up(&convex, 8, &big, &e), 0);
    write_and_check("overlay_convex.png", &big, 224, 224);
    cnnrt_image_free(&big);

    cnnrt_panel_item items[3] = {{&digit, "original", 0}, {&heat, "heatmap", 0},
                                 {&over, "overlay", 0}};
    cnnrt_panel_style style;
    cnnrt_panel_style_default(&style);
    style.scale = 8;
    style.title = "true 7 - pred 7 (99.2%)";
    assert_int_equal(cnnrt_panel_compose(items, 3, &style, &panel, &e), 0);
    /* 3 cells of 224 with 12 pixels of padding; title and captions at the default sizes */
    int expected_w = 12 + 3 * (224 + 12);
    int expected_h = 12 + CNNRT_FONT_CELL_H * 3 + 12 + 224 + 6 + CNNRT_FONT_CELL_H * 2 + 12;
    write_and_check("gradcam_panel.png", &panel, expected_w, expected_h);

    /* The heatmap's hottest pixel is dark red (jet's top) and its coldest dark blue. */
    uint8_t hot[3], cold[3];
    int hottest = 0, coldest = 0;
    for (int i = 1; i < SIDE * SIDE; i++) {
        hottest = cam[i] > cam[hottest] ? i : hottest;
        coldest = cam[i] < cam[coldest] ? i : coldest;
    }
    cnnrt_image_get_pixel(&heat, hottest % SIDE, hottest / SIDE, hot);
    cnnrt_image_get_pixel(&heat, coldest % SIDE, coldest / SIDE, cold);
    assert_true(hot[0] > 100 && hot[1] < 40 && hot[2] < 10);
    assert_true(cold[0] < 10 && cold[2] > 100);

    cnnrt_image_free(&panel);
    cnnrt_image_free(&heat);
    cnnrt_image_free(&over);
    cnnrt_image_free(&convex);
    cnnrt_image_free(&digit);
}

static void test_demo_grid(void **state)
{
    (void)state;
    cnnrt_err e;
    const int digits[8] = {7, 1, 0, 7, 1, 0, 7, 1};
    const int predicted[8] = {7, 1, 0, 7, 7, 0, 7, 1};
    cnnrt_image overlays[8];
    cnnrt_panel_item items[8];
    char captions[8][64];
    for (int i = 0; i < 8; i++) {
        cnnrt_image digit, heat;
        float cam[SIDE * SIDE];
        synthetic_digit(digits[i], &digit);
        synthetic_cam(2.0 + (i % 4), 2.0 + (i % 3), cam);
        assert_int_equal(cnnrt_heatmap_to_rgb(cam, SIDE, SIDE, CNNRT_CMAP_JET, &heat, &e), 0);
        assert_int_equal(cnnrt_overlay(&heat, &digit, CNNRT_OVERLAY_ADDITIVE, 0.4f,
                                       &overlays[i], &e), 0);
        snprintf(captions[i], sizeof captions[i], "true %d\npred %d (%.1f%%)", digits[i],
                 predicted[i], 90.0 + i * 1.3);
        items[i].image = &overlays[i];
        items[i].caption = captions[i];
        items[i].marked = digits[i] != predicted[i];
        cnnrt_image_free(&digit);
        cnnrt_image_free(&heat);
    }
    cnnrt_panel_style style;
    cnnrt_panel_style_default(&style);
    style.cols = 4;
    style.scale = 4;
    style.title = "Grad-CAM, first 8 test images";
    cnnrt_image grid;
    assert_int_equal(cnnrt_panel_compose(items, 8, &style, &grid, &e), 0);
    /* cells as wide as "pred 7 (91.3%)" at scale 2 (14 characters), wider than 112 */
    int cell_w = 14 * CNNRT_FONT_CELL_W * 2;
    int cell_h = 112 + 6 + 2 * CNNRT_FONT_CELL_H * 2;
    write_and_check("grid.png", &grid, 12 + 4 * (cell_w + 12),
                    12 + CNNRT_FONT_CELL_H * 3 + 12 + 2 * (cell_h + 12));
    cnnrt_image_free(&grid);
    for (int i = 0; i < 8; i++)
        cnnrt_image_free(&overlays[i]);
}

static void chart_and_check(const char *name, const cnnrt_chart *chart)
{
    cnnrt_err e;
    memset(&e, 0, sizeof e);
    if (cnnrt_chart_write_png(demo_path(name), chart, &e))
        fail_msg("%s", e.msg);
    cnnrt_image back;
    if (cnnrt_png_read(demo_path(name), CNNRT_ALPHA_ON_WHITE, &back, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(back.width, chart->width);
    assert_int_equal(back.height, chart->height);
    cnnrt_image_free(&back);
}

static void test_demo_training_curves(void **state)
{
    (void)state;
    const double loss[10] = {0.3915, 0.0952, 0.0651, 0.0519, 0.0437,
                             0.0376, 0.0331, 0.0289, 0.0259, 0.0231};
    const double val_loss[10] = {0.1173, 0.0759, 0.0612, NAN,    0.0498,
                                 0.0471, 0.0455, 0.0468, 0.0441, 0.0452};
    const double acc[10] = {0.8868, 0.9712, 0.9801, 0.9840, 0.9865,
                            0.9884, 0.9896, 0.9911, 0.9919, 0.9928};
    const double val_acc[10] = {0.9651, 0.9772, 0.9818, 0.9832, 0.9851,
                                0.9859, 0.9862, 0.9858, 0.9871, 0.9868};
    cnnrt_chart_series loss_series[2] = {{"loss", NULL, loss, 10, 0},
                                         {"val_loss", NULL, val_loss, 10, 1}};
    cnnrt_chart loss_chart = {"Model loss", "epoch", "loss", 640, 420, loss_series, 2};
    chart_and_check("training_loss.png", &loss_chart);
    cnnrt_chart_series acc_series[2] = {{"accuracy", NULL, acc, 10, 0},
                                        {"val_accuracy", NULL, val_acc, 10, 1}};
    cnnrt_chart acc_chart = {"Model accuracy", "epoch", "accuracy", 640, 420, acc_series, 2};
    chart_and_check("training_acc.png", &acc_chart);
}

/* A "photo" of a handwritten 7 (dark ink on grainy light paper, small and off-centre),
 * what a plain resize makes of it, and what the MNIST-style preprocessing makes of it. */
static void test_demo_photo_to_input(void **state)
{
    (void)state;
    cnnrt_err e;
    cnnrt_image photo;
    assert_int_equal(cnnrt_image_create(&photo, 400, 300, 3, &e), 0);
    unsigned grain = 12345;
    for (size_t i = 0; i < 400 * 300; i++) {
        grain = grain * 1103515245u + 12345u;
        int n = (int)((grain >> 16) % 20);
        photo.pixels[3 * i] = (uint8_t)(215 + n);
        photo.pixels[3 * i + 1] = (uint8_t)(210 + n);
        photo.pixels[3 * i + 2] = (uint8_t)(195 + n);
    }
    cnnrt_draw_line(&photo, 230, 60, 300, 58, 6, 30, 30, 60);
    cnnrt_draw_line(&photo, 300, 58, 255, 190, 6, 30, 30, 60);
    cnnrt_draw_line(&photo, 250, 120, 285, 118, 5, 30, 30, 60);
    write_and_check("photo.png", &photo, 400, 300);

    cnnrt_image loaded;
    assert_int_equal(cnnrt_png_read(demo_path("photo.png"), CNNRT_ALPHA_AUTO, &loaded, &e), 0);
    assert_int_equal(cnnrt_image_invert_if_light_background(&loaded), 1);
    float plain[SIDE * SIDE], mnist[SIDE * SIDE];
    assert_int_equal(cnnrt_image_to_input(&loaded, SIDE, SIDE, 1, CNNRT_RESIZE_AREA, plain, &e),
                     0);
    assert_int_equal(cnnrt_digit_to_input(&loaded, SIDE, SIDE, mnist, &e), 0);
    /* MNIST-style: black background, ink centred by mass */
    double mass = 0, mx = 0, my = 0;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            double v = mnist[y * SIDE + x];
            mass += v;
            mx += v * (x + 0.5);
            my += v * (y + 0.5);
        }
    assert_true(fabs(mx / mass - 14.0) < 0.75 && fabs(my / mass - 14.0) < 0.75);
    assert_true(mnist[0] == 0.0f && plain[0] > 0.05f);

    cnnrt_image small, a, b, big_a, big_b, panel;
    assert_int_equal(cnnrt_image_resize(&photo, 224, 168, CNNRT_RESIZE_AREA, &small, &e), 0);
    assert_int_equal(cnnrt_image_from_floats(plain, SIDE, SIDE, 1, &a, &e), 0);
    assert_int_equal(cnnrt_image_from_floats(mnist, SIDE, SIDE, 1, &b, &e), 0);
    assert_int_equal(cnnrt_image_scale_up(&a, 8, &big_a, &e), 0);
    assert_int_equal(cnnrt_image_scale_up(&b, 8, &big_b, &e), 0);
    cnnrt_panel_item items[3] = {{&small, "your photo", 0},
                                 {&big_a, "stretched to 28x28", 0},
                                 {&big_b, "MNIST-style", 0}};
    cnnrt_panel_style style;
    cnnrt_panel_style_default(&style);
    style.title = "From a photo to the network's input";
    assert_int_equal(cnnrt_panel_compose(items, 3, &style, &panel, &e), 0);
    write_and_check("photo_to_input.png", &panel, panel.width, panel.height);
    assert_int_equal(panel.width, 12 + 3 * (224 + 12));
    cnnrt_image_free(&panel);
    cnnrt_image_free(&big_a);
    cnnrt_image_free(&big_b);
    cnnrt_image_free(&a);
    cnnrt_image_free(&b);
    cnnrt_image_free(&small);
    cnnrt_image_free(&loaded);
    cnnrt_image_free(&photo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_gradcam_pictures),
        cmocka_unit_test(test_demo_grid),
        cmocka_unit_test(test_demo_training_curves),
        cmocka_unit_test(test_demo_photo_to_input),
    };
    return cmocka_run_group_tests(tests, make_demo_dir, NULL);
}
