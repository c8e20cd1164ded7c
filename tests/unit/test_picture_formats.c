/* Pictures of every format through one entry point (cnnrt_picture_read): formats recognised
 * by content, JPEG/GIF/BMP decoding, broken, truncated and oversized files reported by path,
 * and the 8-bit bilinear resize against the float one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gif_lib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrt_image.h"
#include "test_util.h"

/* A smooth colour picture (JPEG keeps it within a few levels). */
static cnnrt_image smooth_image(int w, int h, int channels)
{
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, w, h, channels, &e), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < channels; c++)
                img.pixels[((size_t)y * w + x) * channels + c] =
                    (uint8_t)(40 + (x * 150) / w + (y * 50) / h + c * 10);
    return img;
}

static void expect_error(const char *path, const char *needle)
{
    cnnrt_image img;
    cnnrt_err e = {{0}};
    assert_int_equal(cnnrt_picture_read(path, CNNRT_ALPHA_ON_WHITE, &img, &e), -1);
    assert_null(img.pixels);
    if (!strstr(e.msg, path) || !strstr(e.msg, needle))
        fail_msg("message '%s' should name %s and say '%s'", e.msg, path, needle);
}

/* ------------------------------------------------------------------ recognising formats */

static void test_formats_by_content(void **state)
{
    (void)state;
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0};
    static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0};
    uint8_t bmp[20] = {'B', 'M'};
    bmp[14] = 40;
    assert_int_equal(cnnrt_picture_format_of(png, sizeof png), CNNRT_PICTURE_PNG);
    assert_int_equal(cnnrt_picture_format_of(jpeg, sizeof jpeg), CNNRT_PICTURE_JPEG);
    assert_int_equal(cnnrt_picture_format_of("GIF89a....", 10), CNNRT_PICTURE_GIF);
    assert_int_equal(cnnrt_picture_format_of("GIF87a....", 10), CNNRT_PICTURE_GIF);
    assert_int_equal(cnnrt_picture_format_of(bmp, sizeof bmp), CNNRT_PICTURE_BMP);
    assert_int_equal(cnnrt_picture_format_of("BMW is a car, not a bitmap", 26),
                     CNNRT_PICTURE_NONE);
    assert_int_equal(cnnrt_picture_format_of(png, 5), CNNRT_PICTURE_NONE);
    assert_int_equal(cnnrt_picture_format_of("", 0), CNNRT_PICTURE_NONE);
    assert_string_equal(cnnrt_picture_format_name(CNNRT_PICTURE_JPEG), "JPEG");

    assert_true(cnnrt_picture_name_looks_like_one("a/b/cat.JPG"));
    assert_true(cnnrt_picture_name_looks_like_one("x.jpeg"));
    assert_false(cnnrt_picture_name_looks_like_one("README"));
    assert_false(cnnrt_picture_name_looks_like_one(".DS_Store"));
    assert_false(cnnrt_picture_name_looks_like_one("dir.png/notes"));

    /* The name does not matter: a PNG called .txt is read as a PNG. */
    cnnrt_image img = smooth_image(5, 4, 3), back;
    cnnrt_err e;
    assert_int_equal(cnnrt_png_write(tmp_path("png.txt"), &img, &e), 0);
    assert_int_equal(cnnrt_picture_read(tmp_path("png.txt"), CNNRT_ALPHA_ON_WHITE, &back, &e), 0);
    assert_memory_equal(back.pixels, img.pixels, 5 * 4 * 3);
    cnnrt_image_free(&back);
    cnnrt_image_free(&img);
}

static void test_not_pictures(void **state)
{
    (void)state;
    write_bytes(tmp_path("README"), "hello\n", 6);
    expect_error(tmp_path("README"), "not a picture");
    write_bytes(tmp_path("empty.png"), "", 0);
    expect_error(tmp_path("empty.png"), "the file is empty");
    expect_error(tmp_path("missing.png"), "cannot open");
    assert_int_equal(symlink("nowhere.png", tmp_path("dangling.png")), 0);
    expect_error(tmp_path("dangling.png"), "cannot open");
    assert_int_equal(mkdir(tmp_path("folder.png"), 0755), 0);
    expect_error(tmp_path("folder.png"), "folder.png");
}

/* ------------------------------------------------------------------ JPEG */

static void test_jpeg_round_trip(void **state)
{
    (void)state;
    for (int channels = 1; channels <= 3; channels += 2) {
        cnnrt_image img = smooth_image(33, 17, channels), back;
        cnnrt_err e;
        assert_int_equal(cnnrt_jpeg_write(tmp_path("a.jpg"), &img, 95, &e), 0);
        assert_int_equal(cnnrt_picture_read(tmp_path("a.jpg"), CNNRT_ALPHA_ON_WHITE, &back, &e),
                         0);
        assert_int_equal(back.width, 33);
        assert_int_equal(back.height, 17);
        assert_int_equal(back.channels, channels);
        int worst = 0;
        for (size_t i = 0; i < (size_t)33 * 17 * channels; i++) {
            int d = abs((int)back.pixels[i] - (int)img.pixels[i]);
            worst = d > worst ? d : worst;
        }
        assert_in_range(worst, 0, 8);
        cnnrt_image_free(&img);
        cnnrt_image_free(&back);
    }
}

static void test_jpeg_broken(void **state)
{
    (void)state;
    cnnrt_image img = smooth_image(64, 64, 3);
    cnnrt_err e;
    assert_int_equal(cnnrt_jpeg_write(tmp_path("good.jpg"), &img, 90, &e), 0);
    cnnrt_image_free(&img);
    size_t len;
    unsigned char *data = read_bytes(tmp_path("good.jpg"), &len);

    write_bytes(tmp_path("truncated.jpg"), data, len * 2 / 3);
    expect_error(tmp_path("truncated.jpg"), "corrupt or unreadable JPEG");
    write_bytes(tmp_path("header-only.jpg"), data, 40);
    expect_error(tmp_path("header-only.jpg"), "corrupt or unreadable JPEG");
    /* Garbage in place of the compressed data. */
    unsigned char *bad = malloc(len);
    memcpy(bad, data, len);
    for (size_t i = len / 2; i < len - 2; i++)
        bad[i] = (unsigned char)(i * 131 + 7);
    write_bytes(tmp_path("garbage.jpg"), bad, len);
    expect_error(tmp_path("garbage.jpg"), "corrupt or unreadable JPEG");

    /* A header claiming 40000 pixels of width: refused before anything is allocated. */
    memcpy(bad, data, len);
    size_t sof = 2;
    while (sof + 4 < len && !(bad[sof] == 0xff && bad[sof + 1] == 0xc0))
        sof += 2 + ((size_t)bad[sof + 2] << 8 | bad[sof + 3]);
    assert_true(sof + 9 < len);
    bad[sof + 7] = 40000 >> 8;
    bad[sof + 8] = 40000 & 0xff;
    write_bytes(tmp_path("huge.jpg"), bad, len);
    expect_error(tmp_path("huge.jpg"), "too large: 40000x");
    free(bad);
    free(data);
}

/* ------------------------------------------------------------------ PNG through the entry */

static void test_png_broken_and_huge(void **state)
{
    (void)state;
    cnnrt_image img = smooth_image(40, 30, 3);
    cnnrt_err e;
    assert_int_equal(cnnrt_png_write(tmp_path("good.png"), &img, &e), 0);
    cnnrt_image_free(&img);
    size_t len;
    unsigned char *data = read_bytes(tmp_path("good.png"), &len);
    write_bytes(tmp_path("truncated.png"), data, len - 30);
    expect_error(tmp_path("truncated.png"), "truncated");
    /* IHDR width 40000, with a correct CRC so that only the size is wrong. */
    data[16] = 0;
    data[17] = 0;
    data[18] = 40000 >> 8;
    data[19] = 40000 & 0xff;
    uint32_t crc = cnnrt_crc32(0, data + 12, 17);
    data[29] = (uint8_t)(crc >> 24);
    data[30] = (uint8_t)(crc >> 16);
    data[31] = (uint8_t)(crc >> 8);
    data[32] = (uint8_t)crc;
    write_bytes(tmp_path("huge.png"), data, len);
    expect_error(tmp_path("huge.png"), "too large: 40000x30");
    free(data);
}

static void test_png_alpha_ignored_like_tensorflow(void **state)
{
    (void)state;
    /* An RGBA PNG with a transparent red pixel: IGNORE keeps red, ON_WHITE whitens it. */
    cnnrt_image rgb;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&rgb, 1, 1, 3, &e), 0);
    uint8_t rgba[4] = {200, 10, 10, 0};
    cnnrt_composite_alpha(rgba, 4, &rgb, CNNRT_ALPHA_IGNORE);
    assert_int_equal(rgb.pixels[0], 200);
    assert_int_equal(rgb.pixels[1], 10);
    cnnrt_composite_alpha(rgba, 4, &rgb, CNNRT_ALPHA_ON_WHITE);
    assert_int_equal(rgb.pixels[0], 255);
    assert_int_equal(rgb.pixels[1], 255);
    cnnrt_image_free(&rgb);
}

/* ------------------------------------------------------------------ BMP */

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

/* A BMP with a 40-byte header: bits per pixel, compression, palette entries (BGRA),
 * rows already padded, bottom-up unless height < 0. Returns its length. */
static size_t make_bmp(uint8_t *out, int width, int height, int bits, int compression,
                       const uint8_t *palette, int palette_count, const uint32_t *masks,
                       const uint8_t *pixels, size_t pixel_bytes)
{
    size_t header = 14 + 40 + (masks ? 12 : 0) + (size_t)palette_count * 4;
    memset(out, 0, header);
    out[0] = 'B';
    out[1] = 'M';
    put32(out + 2, (uint32_t)(header + pixel_bytes));
    put32(out + 10, (uint32_t)header);
    put32(out + 14, 40);
    put32(out + 18, (uint32_t)width);
    put32(out + 22, (uint32_t)height);
    put16(out + 26, 1);
    put16(out + 28, (uint32_t)bits);
    put32(out + 30, (uint32_t)compression);
    put32(out + 46, (uint32_t)palette_count);
    size_t at = 54;
    for (int i = 0; masks && i < 3; i++, at += 4)
        put32(out + at, masks[i]);
    if (palette_count > 0)
        memcpy(out + at, palette, (size_t)palette_count * 4);
    memcpy(out + header, pixels, pixel_bytes);
    return header + pixel_bytes;
}

static void expect_pixel(const cnnrt_image *img, int x, int y, int r, int g, int b)
{
    uint8_t rgb[3];
    cnnrt_image_get_pixel(img, x, y, rgb);
    if (rgb[0] != r || rgb[1] != g || rgb[2] != b)
        fail_msg("pixel (%d,%d) is %d,%d,%d, expected %d,%d,%d", x, y, rgb[0], rgb[1], rgb[2],
                 r, g, b);
}

static void test_bmp_variants(void **state)
{
    (void)state;
    uint8_t file[1024];
    cnnrt_image img;
    cnnrt_err e;
    /* 24 bits, 2x2, bottom-up: the first stored row is the bottom one. Rows pad to 8. */
    static const uint8_t px24[16] = {255, 0, 0, 0, 255, 0, 0, 0,       /* bottom: blue, green */
                                     0, 0, 255, 255, 255, 255, 0, 0};   /* top: red, white */
    size_t n = make_bmp(file, 2, 2, 24, 0, NULL, 0, NULL, px24, sizeof px24);
    write_bytes(tmp_path("24.bmp"), file, n);
    assert_int_equal(cnnrt_picture_read(tmp_path("24.bmp"), CNNRT_ALPHA_ON_WHITE, &img, &e), 0);
    assert_int_equal(img.channels, 3);
    expect_pixel(&img, 0, 0, 255, 0, 0);
    expect_pixel(&img, 1, 0, 255, 255, 255);
    expect_pixel(&img, 0, 1, 0, 0, 255);
    expect_pixel(&img, 1, 1, 0, 255, 0);
    cnnrt_image_free(&img);

    /* 8 bits with a palette, top-down (negative height), 3 wide: rows pad to 4 bytes. */
    static const uint8_t palette[8] = {0, 0, 0, 0, 10, 20, 30, 0};
    static const uint8_t px8[8] = {1, 0, 1, 0, 0, 0, 1, 0};
    n = make_bmp(file, 3, -2, 8, 0, palette, 2, NULL, px8, sizeof px8);
    write_bytes(tmp_path("8.bmp"), file, n);
    assert_int_equal(cnnrt_picture_read(tmp_path("8.bmp"), CNNRT_ALPHA_ON_WHITE, &img, &e), 0);
    expect_pixel(&img, 0, 0, 30, 20, 10);
    expect_pixel(&img, 1, 0, 0, 0, 0);
    expect_pixel(&img, 2, 1, 30, 20, 10);
    cnnrt_image_free(&img);

    /* 1 bit: 10 pixels 1010000001 in one row. */
    static const uint8_t palette1[8] = {0, 0, 0, 0, 255, 255, 255, 0};
    static const uint8_t px1[4] = {0xa0, 0x40, 0, 0};
    n = make_bmp(file, 10, 1, 1, 0, palette1, 2, NULL, px1, sizeof px1);
    write_bytes(tmp_path("1.bmp"), file, n);
    assert_int_equal(cnnrt_picture_read(tmp_path("1.bmp"), CNNRT_ALPHA_ON_WHITE, &img, &e), 0);
    expect_pixel(&img, 0, 0, 255, 255, 255);
    expect_pixel(&img, 1, 0, 0, 0, 0);
    expect_pixel(&img, 2, 0, 255, 255, 255);
    expect_pixel(&img, 9, 0, 255, 255, 255);
    expect_pixel(&img, 8, 0, 0, 0, 0);
    cnnrt_image_free(&img);

    /* 16 bits with 5-6-5 bit fields: pure red and pure green. */
    static const uint32_t masks[3] = {0xf800, 0x07e0, 0x001f};
    static const uint8_t px16[4] = {0x00, 0xf8, 0xe0, 0x07};
    n = make_bmp(file, 2, 1, 16, 3, NULL, 0, masks, px16, sizeof px16);
    write_bytes(tmp_path("16.bmp"), file, n);
    assert_int_equal(cnnrt_picture_read(tmp_path("16.bmp"), CNNRT_ALPHA_ON_WHITE, &img, &e), 0);
    expect_pixel(&img, 0, 0, 255, 0, 0);
    expect_pixel(&img, 1, 0, 0, 255, 0);
    cnnrt_image_free(&img);

    /* Broken ones. */
    n = make_bmp(file, 2, 2, 24, 0, NULL, 0, NULL, px24, sizeof px24);
    write_bytes(tmp_path("truncated.bmp"), file, n - 5);
    expect_error(tmp_path("truncated.bmp"), "truncated");
    n = make_bmp(file, 2, 2, 8, 1, palette, 2, NULL, px8, sizeof px8);
    write_bytes(tmp_path("rle.bmp"), file, n);
    expect_error(tmp_path("rle.bmp"), "RLE8");
    n = make_bmp(file, 40000, 1, 24, 0, NULL, 0, NULL, px24, sizeof px24);
    write_bytes(tmp_path("huge.bmp"), file, n);
    expect_error(tmp_path("huge.bmp"), "too large: 40000x1");
}

/* ------------------------------------------------------------------ GIF */

static void write_gif(const char *path, int width, int height, int transparent)
{
    int error = 0;
    GifFileType *gif = EGifOpenFileName(path, false, &error);
    assert_non_null(gif);
    GifColorType colours[4] = {{0, 0, 0}, {255, 0, 0}, {0, 0, 255}, {255, 255, 255}};
    ColorMapObject *map = GifMakeMapObject(4, colours);
    assert_int_equal(EGifPutScreenDesc(gif, width, height, 2, 0, map), GIF_OK);
    if (transparent >= 0) {
        GraphicsControlBlock gcb = {0, false, 0, transparent};
        GifByteType ext[4];
        size_t len = EGifGCBToExtension(&gcb, ext);
        assert_int_equal(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, (int)len, ext), GIF_OK);
    }
    assert_int_equal(EGifPutImageDesc(gif, 0, 0, width, height, false, NULL), GIF_OK);
    GifPixelType *row = malloc((size_t)width);
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++)
            row[x] = (GifPixelType)((x + y) % 3);
        assert_int_equal(EGifPutLine(gif, row, width), GIF_OK);
    }
    free(row);
    assert_int_equal(EGifCloseFile(gif, &error), GIF_OK);
    GifFreeMapObject(map);
}

static void test_gif(void **state)
{
    (void)state;
    cnnrt_image img;
    cnnrt_err e;
    write_gif(tmp_path("a.gif"), 6, 4, -1);
    assert_int_equal(cnnrt_picture_read(tmp_path("a.gif"), CNNRT_ALPHA_ON_WHITE, &img, &e), 0);
    assert_int_equal(img.width, 6);
    assert_int_equal(img.height, 4);
    expect_pixel(&img, 0, 0, 0, 0, 0);
    expect_pixel(&img, 1, 0, 255, 0, 0);
    expect_pixel(&img, 2, 0, 0, 0, 255);
    cnnrt_image_free(&img);

    write_gif(tmp_path("t.gif"), 6, 4, 0);   /* colour 0 (black) transparent */
    assert_int_equal(cnnrt_picture_read(tmp_path("t.gif"), CNNRT_ALPHA_ON_WHITE, &img, &e), 0);
    expect_pixel(&img, 0, 0, 255, 255, 255);
    expect_pixel(&img, 1, 0, 255, 0, 0);
    cnnrt_image_free(&img);

    write_gif(tmp_path("big.gif"), 64, 64, -1);
    size_t len;
    unsigned char *data = read_bytes(tmp_path("big.gif"), &len);
    write_bytes(tmp_path("truncated.gif"), data, len / 2);
    expect_error(tmp_path("truncated.gif"), "corrupt or unreadable GIF");
    data[6] = 40000 & 0xff;   /* logical screen width */
    data[7] = 40000 >> 8;
    write_bytes(tmp_path("huge.gif"), data, len);
    expect_error(tmp_path("huge.gif"), "too large");
    free(data);

    /* A screen of size 0 (some writers leave it so): the picture is the frame, whatever
     * the frame's offset says (at 1794,24576 it described a 1798x24579 picture). */
    write_gif(tmp_path("a.gif"), 6, 4, -1);
    data = read_bytes(tmp_path("a.gif"), &len);
    size_t frame = 13 + ((data[10] & 0x80) ? 3u * (2u << (data[10] & 7)) : 0);
    assert_true(frame + 5 < len);
    assert_int_equal(data[frame], ',');
    memset(data + 6, 0, 4);                            /* screen 0x0 */
    data[frame + 1] = 1794 & 0xff, data[frame + 2] = 1794 >> 8;     /* left */
    data[frame + 3] = 24576 & 0xff, data[frame + 4] = 24576 >> 8;   /* top */
    write_bytes(tmp_path("offset.gif"), data, len);
    /* A frame larger than the limits is refused before giflib allocates it (2 GB here). */
    unsigned char *huge_frame = malloc(len);
    memcpy(huge_frame, data, len);
    huge_frame[frame + 5] = 45572 & 0xff, huge_frame[frame + 6] = 45572 >> 8;   /* width */
    huge_frame[frame + 7] = 45746 & 0xff, huge_frame[frame + 8] = 45746 >> 8;   /* height */
    write_bytes(tmp_path("huge_frame.gif"), huge_frame, len);
    expect_error(tmp_path("huge_frame.gif"), "too large: 45572x45746 pixels");
    free(huge_frame);
    assert_int_equal(cnnrt_picture_read(tmp_path("offset.gif"), CNNRT_ALPHA_ON_WHITE, &img, &e),
                     0);
    assert_int_equal(img.width, 6);
    assert_int_equal(img.height, 4);
    expect_pixel(&img, 1, 0, 255, 0, 0);
    expect_pixel(&img, 2, 0, 0, 0, 255);
    cnnrt_image_free(&img);
    free(data);
}

/* ------------------------------------------------------------------ bilinear, 8-bit */

static void test_bilinear_8bit_matches_float(void **state)
{
    (void)state;
    static const int sizes[][4] = {{28, 28, 32, 32}, {32, 32, 28, 28}, {100, 60, 28, 28},
                                   {7, 5, 23, 19}, {64, 64, 64, 64}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int sw = sizes[k][0], sh = sizes[k][1], dw = sizes[k][2], dh = sizes[k][3];
        cnnrt_image src = smooth_image(sw, sh, 3), dst;
        for (size_t i = 0; i < (size_t)sw * sh * 3; i++)
            src.pixels[i] = (uint8_t)(src.pixels[i] ^ (i * 37 % 97));   /* not only smooth */
        float *in = malloc(sizeof *in * (size_t)sw * sh * 3);
        float *out = malloc(sizeof *out * (size_t)dw * dh * 3);
        for (size_t i = 0; i < (size_t)sw * sh * 3; i++)
            in[i] = src.pixels[i];
        cnnrt_resize_bilinear(in, sh, sw, 3, out, dh, dw);
        cnnrt_err e;
        assert_int_equal(cnnrt_image_resize(&src, dw, dh, CNNRT_RESIZE_BILINEAR, &dst, &e), 0);
        for (size_t i = 0; i < (size_t)dw * dh * 3; i++)
            if (fabsf((float)dst.pixels[i] - out[i]) > 0.5001f)
                fail_msg("%dx%d -> %dx%d: value %zu is %d, float resize gives %f", sw, sh, dw,
                         dh, i, dst.pixels[i], (double)out[i]);
        free(in);
        free(out);
        cnnrt_image_free(&src);
        cnnrt_image_free(&dst);
    }
    /* TF's half-pixel example: 2 -> 4 pixels [0, 100] gives [0, 25, 75, 100]. */
    cnnrt_image two, four;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&two, 2, 1, 1, &e), 0);
    two.pixels[1] = 100;
    assert_int_equal(cnnrt_image_resize(&two, 4, 1, CNNRT_RESIZE_BILINEAR, &four, &e), 0);
    assert_int_equal(four.pixels[0], 0);
    assert_int_equal(four.pixels[1], 25);
    assert_int_equal(four.pixels[2], 75);
    assert_int_equal(four.pixels[3], 100);
    cnnrt_image_free(&two);
    cnnrt_image_free(&four);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_by_content),
        cmocka_unit_test(test_not_pictures),
        cmocka_unit_test(test_jpeg_round_trip),
        cmocka_unit_test(test_jpeg_broken),
        cmocka_unit_test(test_png_broken_and_huge),
        cmocka_unit_test(test_png_alpha_ignored_like_tensorflow),
        cmocka_unit_test(test_bmp_variants),
        cmocka_unit_test(test_gif),
        cmocka_unit_test(test_bilinear_8bit_matches_float),
    };
    return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
