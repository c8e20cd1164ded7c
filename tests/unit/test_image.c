/* PNG writing and reading, odd and broken PNGs, and images turned into model inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "cnnrt_image.h"
#include "test_util.h"

/* A deterministic test pattern. */
static uint8_t pattern(int x, int y, int c)
{
    return (uint8_t)((x * 37 + y * 91 + c * 53 + (x * y) % 17) & 0xff);
}

static cnnrt_image make_pattern_image(int w, int h, int channels)
{
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, w, h, channels, &e), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < channels; c++)
                img.pixels[((size_t)y * w + x) * channels + c] = pattern(x, y, c);
    return img;
}

/* ------------------------------------------------------------------ raw PNG writer */

/* Writes a PNG of any colour type / bit depth with libpng directly, so the reader can be
 * tested on files cnnrt_png_write never makes. rows: height rows of packed samples. */
typedef struct raw_png {
    int width, height, color_type, bit_depth, interlace;
    const png_color *palette;
    int palette_count;
    const png_byte *trans;   /* palette alpha entries */
    int trans_count;
    const png_color_16 *trans_colour;   /* tRNS for gray / RGB */
    const uint8_t *data;     /* height * row_bytes */
    size_t row_bytes;
} raw_png;

static void write_raw_png(const char *path, const raw_png *spec)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed writing the test file %s", path);
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)spec->width, (png_uint_32)spec->height,
                 spec->bit_depth, spec->color_type,
                 spec->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (spec->palette)
        png_set_PLTE(png, info, spec->palette, spec->palette_count);
    if (spec->trans || spec->trans_colour)
        png_set_tRNS(png, info, spec->trans, spec->trans_count, spec->trans_colour);
    png_write_info(png, info);
    if (spec->bit_depth == 16)
        png_set_swap(png);   /* our test data holds 16-bit samples in host order */
    png_bytep *rows = malloc(sizeof *rows * (size_t)spec->height);
    for (int y = 0; y < spec->height; y++)
        rows[y] = (png_bytep)spec->data + (size_t)y * spec->row_bytes;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(fp);
}

/* ------------------------------------------------------------------ round trips */

static void round_trip(int w, int h, int channels)
{
    cnnrt_image img = make_pattern_image(w, h, channels), back;
    cnnrt_err e;
    const char *path = tmp_path("round.png");
    assert_int_equal(cnnrt_png_write(path, &img, &e), 0);
    assert_int_equal(cnnrt_png_read(path, CNNRT_ALPHA_ON_WHITE, &back, &e), 0);
    assert_int_equal(back.width, w);
    assert_int_equal(back.height, h);
    assert_int_equal(back.channels, channels);
    assert_memory_equal(back.pixels, img.pixels, (size_t)w * h * channels);
    cnnrt_image_free(&img);
    cnnrt_image_free(&back);
}

static void test_round_trip_gray(void **state)
{
    (void)state;
    round_trip(37, 23, 1);
    round_trip(1, 1, 1);
}

static void test_round_trip_rgb(void **state)
{
    (void)state;
    round_trip(29, 31, 3);
    round_trip(1, 1, 3);
}

static void test_round_trip_large(void **state)
{
    (void)state;
    round_trip(2048, 1536, 3);
}

static void test_write_leaves_no_temporary(void **state)
{
    (void)state;
    cnnrt_image img = make_pattern_image(8, 8, 1);
    cnnrt_err e;
    assert_int_equal(cnnrt_png_write(tmp_path("clean.png"), &img, &e), 0);
    DIR *d = opendir(tmp_dir);
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL)
        assert_null(strstr(ent->d_name, ".tmp."));
    closedir(d);
    cnnrt_image_free(&img);
}

static void test_write_into_missing_directory(void **state)
{
    (void)state;
    cnnrt_image img = make_pattern_image(4, 4, 3);
    cnnrt_err e;
    memset(&e, 0, sizeof e);
    const char *path = tmp_path("no_such_dir/picture.png");
    assert_int_equal(cnnrt_png_write(path, &img, &e), -1);
    assert_non_null(strstr(e.msg, "no_such_dir/picture.png"));
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_not_equal(stat(tmp_path("no_such_dir"), &st), 0);
    cnnrt_image_free(&img);
}

static void test_write_rejects_empty_image(void **state)
{
    (void)state;
    cnnrt_image empty;
    memset(&empty, 0, sizeof empty);
    cnnrt_err e;
    assert_int_equal(cnnrt_png_write(tmp_path("empty.png"), &empty, &e), -1);
    assert_non_null(strstr(e.msg, "empty.png"));
    struct stat st;
    assert_int_not_equal(stat(tmp_path("empty.png"), &st), 0);
}

/* ------------------------------------------------------------------ odd PNGs */

static void read_ok(const char *path, cnnrt_alpha_background bg, cnnrt_image *img)
{
    cnnrt_err e;
    memset(&e, 0, sizeof e);
    if (cnnrt_png_read(path, bg, img, &e) != 0)
        fail_msg("reading %s failed: %s", path, e.msg);
}

static void test_read_palette(void **state)
{
    (void)state;
    const png_color palette[4] = {{0, 0, 0}, {255, 0, 0}, {10, 200, 30}, {250, 250, 250}};
    /* 4x2 pixels, 2 bits per index: rows 0 1 2 3 / 3 2 1 0. */
    const uint8_t data[2] = {0x1B, 0xE4};
    raw_png spec = {.width = 4, .height = 2, .color_type = PNG_COLOR_TYPE_PALETTE,
                    .bit_depth = 2, .palette = palette, .palette_count = 4, .data = data,
                    .row_bytes = 1};
    const char *path = tmp_path("palette.png");
    write_raw_png(path, &spec);
    cnnrt_image img;
    read_ok(path, CNNRT_ALPHA_ON_WHITE, &img);
    assert_int_equal(img.channels, 3);
    assert_int_equal(img.width, 4);
    assert_int_equal(img.height, 2);
    for (int i = 0; i < 4; i++) {
        const uint8_t *top = img.pixels + 3 * i, *bottom = img.pixels + 3 * (4 + 3 - i);
        assert_int_equal(top[0], palette[i].red);
        assert_int_equal(top[1], palette[i].green);
        assert_int_equal(top[2], palette[i].blue);
        assert_memory_equal(top, bottom, 3);
    }
    cnnrt_image_free(&img);
}

static void test_read_palette_with_transparency(void **state)
{
    (void)state;
    const png_color palette[2] = {{200, 100, 50}, {0, 0, 0}};
    const png_byte trans[2] = {255, 0};   /* entry 1 fully transparent */
    const uint8_t data[2] = {0, 1};
    raw_png spec = {.width = 2, .height = 1, .color_type = PNG_COLOR_TYPE_PALETTE,
                    .bit_depth = 8, .palette = palette, .palette_count = 2, .trans = trans,
                    .trans_count = 2, .data = data, .row_bytes = 2};
    const char *path = tmp_path("palette_trns.png");
    write_raw_png(path, &spec);
    cnnrt_image img;
    read_ok(path, CNNRT_ALPHA_ON_WHITE, &img);
    const uint8_t expect_white[6] = {200, 100, 50, 255, 255, 255};
    assert_memory_equal(img.pixels, expect_white, 6);
    cnnrt_image_free(&img);
    read_ok(path, CNNRT_ALPHA_ON_BLACK, &img);
    const uint8_t expect_black[6] = {200, 100, 50, 0, 0, 0};
    assert_memory_equal(img.pixels, expect_black, 6);
    cnnrt_image_free(&img);
}

static void test_read_16_bit(void **state)
{
    (void)state;
    /* Gray 16-bit: samples chosen so that rounding and truncation differ. */
    const uint16_t gray[4] = {0, 0x1280, 0x80FF, 0xFFFF};
    raw_png spec = {.width = 4, .height = 1, .color_type = PNG_COLOR_TYPE_GRAY,
                    .bit_depth = 16, .data = (const uint8_t *)gray, .row_bytes = 8};
    const char *path = tmp_path("gray16.png");
    write_raw_png(path, &spec);
    cnnrt_image img;
    read_ok(path, CNNRT_ALPHA_ON_WHITE, &img);
    assert_int_equal(img.channels, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(img.pixels[i], (int)lround(gray[i] / 257.0));
    cnnrt_image_free(&img);

    const uint16_t rgb[6] = {0xFFFF, 0x0101, 0x0000, 0x7F7F, 0x8080, 0x2000};
    raw_png spec_rgb = {.width = 2, .height = 1, .color_type = PNG_COLOR_TYPE_RGB,
                        .bit_depth = 16, .data = (const uint8_t *)rgb, .row_bytes = 12};
    path = tmp_path("rgb16.png");
    write_raw_png(path, &spec_rgb);
    read_ok(path, CNNRT_ALPHA_ON_WHITE, &img);
    assert_int_equal(img.channels, 3);
    for (int i = 0; i < 6; i++)
        assert_int_equal(img.pixels[i], (int)lround(rgb[i] / 257.0));
    cnnrt_image_free(&img);
}

static void test_read_rgba(void **state)
{
    (void)state;
    /* opaque red, half-transparent green, fully transparent blue */
    const uint8_t data[12] = {255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0};
    raw_png spec = {.width = 3, .height = 1, .color_type = PNG_COLOR_TYPE_RGBA, .bit_depth = 8,
                    .data = data, .row_bytes = 12};
    const char *path = tmp_path("rgba.png");
    write_raw_png(path, &spec);
    cnnrt_image img;
    read_ok(path, CNNRT_ALPHA_ON_WHITE, &img);
    assert_int_equal(img.channels, 3);
    /* green over white: (255*128 + 255*127 + 127) / 255 = 255; 0*128 + 255*127 -> 127 */
    const uint8_t on_white[9] = {255, 0, 0, 127, 255, 127, 255, 255, 255};
    assert_memory_equal(img.pixels, on_white, 9);
    cnnrt_image_free(&img);
    read_ok(path, CNNRT_ALPHA_ON_BLACK, &img);
    const uint8_t on_black[9] = {255, 0, 0, 0, 128, 0, 0, 0, 0};
    assert_memory_equal(img.pixels, on_black, 9);
    cnnrt_image_free(&img);
}

static void test_read_gray_alpha_auto_background(void **state)
{
    (void)state;
    /* A dark stroke on a transparent canvas: AUTO must put it on white to keep it visible;
     * a light stroke on transparent goes on black. */
    uint8_t dark[2 * 4 * 2], light[2 * 4 * 2];
    for (int i = 0; i < 8; i++) {
        int ink = (i == 2 || i == 5);
        dark[2 * i] = ink ? 10 : 0;
        dark[2 * i + 1] = ink ? 255 : 0;
        light[2 * i] = ink ? 240 : 255;
        light[2 * i + 1] = ink ? 255 : 0;
    }
    raw_png spec = {.width = 4, .height = 2, .color_type = PNG_COLOR_TYPE_GRAY_ALPHA,
                    .bit_depth = 8, .data = dark, .row_bytes = 8};
    const char *path = tmp_path("gray_alpha_dark.png");
    write_raw_png(path, &spec);
    cnnrt_image img;
    read_ok(path, CNNRT_ALPHA_AUTO, &img);
    assert_int_equal(img.channels, 1);
    assert_int_equal(img.pixels[0], 255);   /* transparent -> white */
    assert_int_equal(img.pixels[2], 10);    /* the stroke */
    /* ... and inverting gives an MNIST-like light digit on black. */
    assert_int_equal(cnnrt_image_invert_if_light_background(&img), 1);
    assert_int_equal(img.pixels[0], 0);
    assert_int_equal(img.pixels[2], 245);
    cnnrt_image_free(&img);

    spec.data = light;
    path = tmp_path("gray_alpha_light.png");
    write_raw_png(path, &spec);
    read_ok(path, CNNRT_ALPHA_AUTO, &img);
    assert_int_equal(img.pixels[0], 0);     /* transparent -> black */
    assert_int_equal(img.pixels[5], 240);
    assert_int_equal(cnnrt_image_invert_if_light_background(&img), 0);
    assert_int_equal(img.pixels[5], 240);
    cnnrt_image_free(&img);
}

static void test_read_low_bit_gray_and_trns(void **state)
{
    (void)state;
    /* 1-bit gray, 8 pixels 10110001; the gray tRNS colour 0 makes black transparent. */
    const uint8_t data[1] = {0xB1};
    raw_png spec = {.width = 8, .height = 1, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 1,
                    .data = data, .row_bytes = 1};
    const char *path = tmp_path("gray1.png");
    write_raw_png(path, &spec);
    cnnrt_image img;
    read_ok(path, CNNRT_ALPHA_ON_WHITE, &img);
    const uint8_t expect[8] = {255, 0, 255, 255, 0, 0, 0, 255};
    assert_memory_equal(img.pixels, expect, 8);
    cnnrt_image_free(&img);

    png_color_16 black_is_clear = {0};
    spec.trans_colour = &black_is_clear;
    path = tmp_path("gray1_trns.png");
    write_raw_png(path, &spec);
    read_ok(path, CNNRT_ALPHA_ON_WHITE, &img);
    for (int i = 0; i < 8; i++)
        assert_int_equal(img.pixels[i], 255);   /* black became transparent -> white */
    cnnrt_image_free(&img);
}

static void test_read_interlaced(void **state)
{
    (void)state;
    cnnrt_image ref = make_pattern_image(19, 13, 3);
    raw_png spec = {.width = 19, .height = 13, .color_type = PNG_COLOR_TYPE_RGB,
                    .bit_depth = 8, .interlace = 1, .data = ref.pixels, .row_bytes = 19 * 3};
    const char *path = tmp_path("interlaced.png");
    write_raw_png(path, &spec);
    cnnrt_image img;
    read_ok(path, CNNRT_ALPHA_ON_WHITE, &img);
    assert_memory_equal(img.pixels, ref.pixels, 19 * 13 * 3);
    cnnrt_image_free(&img);
    cnnrt_image_free(&ref);
}

/* ------------------------------------------------------------------ broken files */

static void expect_read_error(const char *path, const char *fragment)
{
    cnnrt_image img;
    cnnrt_err e;
    memset(&e, 0, sizeof e);
    assert_int_equal(cnnrt_png_read(path, CNNRT_ALPHA_ON_WHITE, &img, &e), -1);
    assert_null(img.pixels);
    if (!strstr(e.msg, path))
        fail_msg("error does not name the file: %s", e.msg);
    if (fragment && !strstr(e.msg, fragment))
        fail_msg("error '%s' does not say '%s'", e.msg, fragment);
}

static void test_read_broken_files(void **state)
{
    (void)state;
    expect_read_error(tmp_path("missing.png"), "cannot open");
    const char *text = "this is not a picture\n";
    write_bytes(tmp_path("text.png"), text, strlen(text));
    expect_read_error(tmp_path("text.png"), "not a PNG");
    write_bytes(tmp_path("zero.png"), "", 0);
    expect_read_error(tmp_path("zero.png"), "empty");

    /* A valid file, then damaged copies of it. */
    cnnrt_image img = make_pattern_image(64, 48, 3);
    cnnrt_err e;
    const char *good = tmp_path("good.png");
    assert_int_equal(cnnrt_png_write(good, &img, &e), 0);
    unsigned char *bytes;
    size_t len;
    assert_int_equal(cnnrt_read_file(good, 1 << 24, &bytes, &len, &e), 0);
    assert_true(len > 100);

    write_bytes(tmp_path("signature_only.png"), bytes, 8);
    expect_read_error(tmp_path("signature_only.png"), "truncated");
    for (size_t cut = 12; cut < len; cut += len / 7) {
        write_bytes(tmp_path("truncated.png"), bytes, cut);
        expect_read_error(tmp_path("truncated.png"), NULL);
    }
    /* A flipped byte inside the image data: the chunk CRC catches it. */
    bytes[len / 2] ^= 0x5A;
    write_bytes(tmp_path("flipped.png"), bytes, len);
    expect_read_error(tmp_path("flipped.png"), NULL);
    bytes[len / 2] ^= 0x5A;
    /* An IHDR claiming a width of 0. */
    unsigned char *bad = malloc(len);
    memcpy(bad, bytes, len);
    memset(bad + 16, 0, 4);
    write_bytes(tmp_path("zero_width.png"), bad, len);
    expect_read_error(tmp_path("zero_width.png"), NULL);
    /* An IHDR (with a correct CRC) claiming 20000x20000 pixels: refused before any
     * allocation, not a 1.6 GB malloc. */
    memcpy(bad, bytes, len);
    const unsigned char huge[8] = {0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20};
    memcpy(bad + 16, huge, 8);
    uint32_t crc = cnnrt_crc32(0, bad + 12, 17);
    const unsigned char crc_bytes[4] = {crc >> 24, (crc >> 16) & 0xff, (crc >> 8) & 0xff,
                                        crc & 0xff};
    memcpy(bad + 29, crc_bytes, 4);
    write_bytes(tmp_path("huge.png"), bad, len);
    expect_read_error(tmp_path("huge.png"), "20000x20000");
    /* Many random damages: each either reads (a harmless byte) or fails naming the file;
     * none may crash (this runs under the sanitizers in CI). */
    unsigned seed = 2024;
    int failures = 0;
    for (int round = 0; round < 300; round++) {
        memcpy(bad, bytes, len);
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = 8 + (seed >> 8) % (len - 8);
            bad[at] ^= (unsigned char)(1u << ((seed >> 4) % 8));
        }
        write_bytes(tmp_path("fuzz.png"), bad, len);
        cnnrt_image out;
        memset(&e, 0, sizeof e);
        if (cnnrt_png_read(tmp_path("fuzz.png"), CNNRT_ALPHA_AUTO, &out, &e) == 0) {
            assert_true(out.width > 0 && out.height > 0 && out.pixels);
            cnnrt_image_free(&out);
        } else {
            assert_non_null(strstr(e.msg, "fuzz.png"));
            failures++;
        }
    }
    assert_true(failures > 250);   /* the CRCs catch nearly every damage */
    free(bad);
    free(bytes);
    cnnrt_image_free(&img);
}

/* ------------------------------------------------------------------ model inputs */

static void test_to_input_nearest_and_area(void **state)
{
    (void)state;
    /* 4x4 gray with 2x2 blocks of 0, 100, 200, 255 (plus a twist in one block). */
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, 4, 4, 1, &e), 0);
    const uint8_t values[16] = {0, 0, 100, 100, 0, 0, 100, 100,
                                200, 200, 255, 255, 200, 200, 255, 51};
    memcpy(img.pixels, values, 16);
    float out[4];
    assert_int_equal(cnnrt_image_to_input(&img, 2, 2, 1, CNNRT_RESIZE_NEAREST, out, &e), 0);
    /* nearest with half-pixel centres samples (1,1), (3,1), (1,3), (3,3) */
    assert_float_equal(out[0], 0.0f, 1e-7);
    assert_float_equal(out[1], 100.0f / 255.0f, 1e-7);
    assert_float_equal(out[2], 200.0f / 255.0f, 1e-7);
    assert_float_equal(out[3], 51.0f / 255.0f, 1e-7);
    assert_int_equal(cnnrt_image_to_input(&img, 2, 2, 1, CNNRT_RESIZE_AREA, out, &e), 0);
    assert_float_equal(out[3], (255.0f * 3 + 51.0f) / 4 / 255.0f, 1e-6);
    assert_float_equal(out[1], 100.0f / 255.0f, 1e-6);

    /* Same size is exact; gray to 3 channels repeats the value. */
    float rgb[48];
    assert_int_equal(cnnrt_image_to_input(&img, 4, 4, 3, CNNRT_RESIZE_AREA, rgb, &e), 0);
    for (int i = 0; i < 16; i++)
        for (int c = 0; c < 3; c++)
            assert_float_equal(rgb[3 * i + c], values[i] / 255.0f, 1e-7);
    cnnrt_image_free(&img);

    /* RGB to gray uses PIL's luminance; enlarging 1x1 to 3x2 fills everything. */
    assert_int_equal(cnnrt_image_create(&img, 1, 1, 3, &e), 0);
    img.pixels[0] = 200;
    img.pixels[1] = 100;
    img.pixels[2] = 50;
    float big[6];
    assert_int_equal(cnnrt_image_to_input(&img, 2, 3, 1, CNNRT_RESIZE_AREA, big, &e), 0);
    /* L = (200*19595 + 100*38470 + 50*7471 + 32768) >> 16 = 124 */
    assert_int_equal(cnnrt_luminance(200, 100, 50), 124);
    for (int i = 0; i < 6; i++)
        assert_float_equal(big[i], 124.0f / 255.0f, 1e-7);
    cnnrt_image_free(&img);
}

static void test_to_input_shrinks_a_photo(void **state)
{
    (void)state;
    /* A 280x280 "photo": dark ink (a 20-pixel-wide vertical bar) on light paper. Area
     * averaging keeps the bar; inverting makes it light on black like MNIST. */
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, 280, 280, 3, &e), 0);
    cnnrt_image_fill(&img, 235, 230, 220);
    cnnrt_draw_rect(&img, 130, 40, 20, 200, 20, 20, 30);
    assert_int_equal(cnnrt_image_invert_if_light_background(&img), 1);
    float input[28 * 28];
    assert_int_equal(cnnrt_image_to_input(&img, 28, 28, 1, CNNRT_RESIZE_AREA, input, &e), 0);
    assert_true(input[14 * 28 + 13] > 0.85f);   /* inside the bar */
    assert_true(input[14 * 28 + 3] < 0.15f);    /* background */
    assert_true(input[1 * 28 + 13] < 0.15f);    /* above the bar */
    cnnrt_image_free(&img);
}

/* Bounding box and centre of mass of the ink (> 0.1) of a 28x28 input. */
static void ink_geometry(const float *x, int *w, int *h, double *cx, double *cy, float *peak)
{
    int x0 = 28, y0 = 28, x1 = -1, y1 = -1;
    double mass = 0, mx = 0, my = 0;
    *peak = 0;
    for (int y = 0; y < 28; y++)
        for (int c = 0; c < 28; c++) {
            float v = x[y * 28 + c];
            *peak = v > *peak ? v : *peak;
            mass += v;
            mx += v * (c + 0.5);
            my += v * (y + 0.5);
            if (v > 0.1f) {
                x0 = c < x0 ? c : x0;
                x1 = c > x1 ? c : x1;
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
            }
        }
    *w = x1 - x0 + 1;
    *h = y1 - y0 + 1;
    *cx = mx / mass;
    *cy = my / mass;
}

static void test_digit_to_input_like_mnist(void **state)
{
    (void)state;
    /* A photo: a faint, small, off-centre stroke (gray 150 on paper-dark 40 after
     * inversion) in the corner of a 300x200 picture. */
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, 300, 200, 3, &e), 0);
    cnnrt_image_fill(&img, 40, 40, 40);
    cnnrt_draw_rect(&img, 20, 15, 20, 60, 150, 150, 150);
    float x[28 * 28];
    assert_int_equal(cnnrt_digit_to_input(&img, 28, 28, x, &e), 0);
    int w, h;
    double cx, cy;
    float peak;
    ink_geometry(x, &w, &h, &cx, &cy, &peak);
    assert_int_equal(h, 20);              /* the longer side fills 20 of 28 pixels */
    assert_in_range(w, 6, 8);             /* 20 * 20 / 60 = 6.7, aspect kept */
    assert_true(fabs(cx - 14.0) < 0.75);  /* centred by mass */
    assert_true(fabs(cy - 14.0) < 0.75);
    assert_true(peak > 0.99f);            /* contrast stretched to full white */
    assert_true(x[0] == 0.0f);            /* background to black */

    /* A tiny digit is enlarged to the same box. */
    cnnrt_image_fill(&img, 0, 0, 0);
    cnnrt_draw_rect(&img, 250, 150, 4, 10, 255, 255, 255);
    assert_int_equal(cnnrt_digit_to_input(&img, 28, 28, x, &e), 0);
    ink_geometry(x, &w, &h, &cx, &cy, &peak);
    assert_in_range(h, 19, 21);
    assert_true(fabs(cx - 14.0) < 0.75 && fabs(cy - 14.0) < 0.75);

    /* No ink at all: a plain resize, no division by zero. */
    cnnrt_image_fill(&img, 90, 90, 90);
    assert_int_equal(cnnrt_digit_to_input(&img, 28, 28, x, &e), 0);
    for (int i = 0; i < 28 * 28; i++)
        assert_float_equal(x[i], 90.0f / 255.0f, 1e-6);
    cnnrt_image_free(&img);
}

static void test_to_input_rejects_bad_shapes(void **state)
{
    (void)state;
    cnnrt_image img = make_pattern_image(4, 4, 1);
    cnnrt_err e;
    float out[64];
    assert_int_equal(cnnrt_image_to_input(&img, 4, 4, 2, CNNRT_RESIZE_NEAREST, out, &e), -1);
    assert_int_equal(cnnrt_image_to_input(&img, 0, 4, 1, CNNRT_RESIZE_NEAREST, out, &e), -1);
    cnnrt_image_free(&img);
}

static void test_image_helpers(void **state)
{
    (void)state;
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, 0, 5, 1, &e), -1);
    assert_int_equal(cnnrt_image_create(&img, 5, 5, 4, &e), -1);
    assert_int_equal(cnnrt_image_create(&img, CNNRT_IMAGE_MAX_SIDE + 1, 1, 1, &e), -1);
    const float floats[6] = {0.0f, 1.0f, 0.5f, -3.0f, 7.0f, NAN};
    assert_int_equal(cnnrt_image_from_floats(floats, 2, 3, 1, &img, &e), 0);
    const uint8_t expect[6] = {0, 255, 128, 0, 255, 0};
    assert_memory_equal(img.pixels, expect, 6);
    /* White-on-black stays, black-on-white flips. */
    assert_int_equal(cnnrt_image_invert_if_light_background(&img), 0);
    cnnrt_image_fill(&img, 255, 255, 255);
    img.pixels[4] = 0;
    assert_int_equal(cnnrt_image_invert_if_light_background(&img), 1);
    assert_int_equal(img.pixels[0], 0);
    assert_int_equal(img.pixels[4], 255);
    cnnrt_image rgb;
    assert_int_equal(cnnrt_image_convert(&img, 3, &rgb, &e), 0);
    assert_int_equal(rgb.pixels[12], 255);
    assert_int_equal(rgb.pixels[13], 255);
    assert_int_equal(rgb.pixels[14], 255);
    cnnrt_image_free(&rgb);
    cnnrt_image_free(&img);
    cnnrt_image_free(&img);   /* harmless twice */
}

/* A PNG signature and the start of an IHDR claiming width x height (the rest is missing:
 * the size must be refused before anything else is read). */
static void write_png_claiming(const char *path, uint32_t width, uint32_t height)
{
    unsigned char head[8 + 25] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                  0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (int i = 0; i < 4; i++) {
        head[16 + i] = (unsigned char)(width >> (24 - 8 * i));
        head[20 + i] = (unsigned char)(height >> (24 - 8 * i));
    }
    head[24] = 8;   /* bit depth; colour type 0 (gray) */
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(head, 1, sizeof head, fp), sizeof head);
    fclose(fp);
}

static void test_too_large_picture_named(void **state)
{
    (void)state;
    const char *path = tmp_path("huge.png");
    cnnrt_image img;
    cnnrt_err e;
    write_png_claiming(path, 100000, 100000);
    assert_int_equal(cnnrt_png_read(path, CNNRT_ALPHA_AUTO, &img, &e), -1);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "the picture is too large: 100000x100000 pixels; the limit "
                                  "is 32768 pixels a side and 67108864 pixels in all"));
    assert_null(img.pixels);
    write_png_claiming(path, 20000, 20000);   /* each side fits, the pixel count does not */
    assert_int_equal(cnnrt_png_read(path, CNNRT_ALPHA_AUTO, &img, &e), -1);
    assert_non_null(strstr(e.msg, "too large: 20000x20000"));
    /* Within the limits, the same truncated file is libpng's to judge: not "too large". */
    write_png_claiming(path, 300, 200);
    assert_int_equal(cnnrt_png_read(path, CNNRT_ALPHA_AUTO, &img, &e), -1);
    assert_null(strstr(e.msg, "too large"));
}

static void test_read_from_memory(void **state)
{
    (void)state;
    cnnrt_image img = make_pattern_image(5, 4, 3), back;
    cnnrt_err e;
    const char *path = tmp_path("mem.png");
    assert_int_equal(cnnrt_png_write(path, &img, &e), 0);
    FILE *f = fopen(path, "rb");
    unsigned char bytes[4096];
    size_t len = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    FILE *mem = fmemopen(bytes, len, "rb");
    assert_int_equal(cnnrt_png_read_from("memory", mem, CNNRT_ALPHA_ON_WHITE, &back, &e), 0);
    fclose(mem);
    assert_memory_equal(back.pixels, img.pixels, 5 * 4 * 3);
    cnnrt_image_free(&back);
    mem = fmemopen(bytes, len - 20, "rb");
    assert_int_equal(cnnrt_png_read_from("memory", mem, CNNRT_ALPHA_ON_WHITE, &back, &e), -1);
    fclose(mem);
    assert_non_null(strstr(e.msg, "memory: corrupt or unreadable PNG"));
    cnnrt_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_gray),
        cmocka_unit_test(test_round_trip_rgb),
        cmocka_unit_test(test_round_trip_large),
        cmocka_unit_test(test_write_leaves_no_temporary),
        cmocka_unit_test(test_too_large_picture_named),
        cmocka_unit_test(test_read_from_memory),
        cmocka_unit_test(test_write_into_missing_directory),
        cmocka_unit_test(test_write_rejects_empty_image),
        cmocka_unit_test(test_read_palette),
        cmocka_unit_test(test_read_palette_with_transparency),
        cmocka_unit_test(test_read_16_bit),
        cmocka_unit_test(test_read_rgba),
        cmocka_unit_test(test_read_gray_alpha_auto_background),
        cmocka_unit_test(test_read_low_bit_gray_and_trns),
        cmocka_unit_test(test_read_interlaced),
        cmocka_unit_test(test_read_broken_files),
        cmocka_unit_test(test_to_input_nearest_and_area),
        cmocka_unit_test(test_to_input_shrinks_a_photo),
        cmocka_unit_test(test_digit_to_input_like_mnist),
        cmocka_unit_test(test_to_input_rejects_bad_shapes),
        cmocka_unit_test(test_image_helpers),
    };
    return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
