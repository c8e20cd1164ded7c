/* Fuzz target: pictures of any format read by content (runtime/picture.c): PNG through
 * libpng, JPEG through libjpeg-turbo, GIF through giflib and our own BMP reader, and what a
 * picture folder or `predict` does with a decoded picture next (conversion between gray and
 * RGB, the bilinear resize to the model's input, the model-input conversions).
 *
 * The first byte is a switch: bits 0-1 pick how transparency is handled (the four
 * cnnrt_alpha_background values), bit 2 reads the picture from a file (cnnrt_picture_read)
 * instead of from memory (cnnrt_picture_decode). The rest is the file. */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>

#include "cnnrt_image.h"
#include "fuzz_common.h"

enum { INPUT_SIDE = 12 };

static void check_convert_and_resize(const cnnrt_image *img)
{
    cnnrt_image other = {0}, resized = {0};
    cnnrt_err e = {{0}};
    int rc = cnnrt_image_convert(img, img->channels == 1 ? 3 : 1, &other, &e);
    FUZZ_CHECK_RESULT(rc, e);
    if (rc == 0) {
        FUZZ_CHECK(other.width == img->width && other.height == img->height);
        memset(&e, 0, sizeof e);
        rc = cnnrt_image_resize(&other, INPUT_SIDE, INPUT_SIDE + 1, CNNRT_RESIZE_BILINEAR,
                                &resized, &e);
        FUZZ_CHECK_RESULT(rc, e);
        if (rc == 0)
            FUZZ_CHECK(resized.width == INPUT_SIDE && resized.height == INPUT_SIDE + 1 &&
                       resized.channels == other.channels);
    }
    cnnrt_image_free(&other);
    cnnrt_image_free(&resized);
}

static void use_picture(cnnrt_image *img)
{
    fuzz_check_picture(img);
    check_convert_and_resize(img);
    fuzz_check_to_input(img, INPUT_SIDE, 3, CNNRT_RESIZE_AREA);
    fuzz_check_digit_input(img, INPUT_SIDE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cnnrt_alpha_background background = (cnnrt_alpha_background)(data[0] & 3);
    int from_file = (data[0] & 4) != 0;
    const uint8_t *file = data + 1;
    size_t len = size - 1;
    cnnrt_image img;
    memset(&img, 0x5a, sizeof img);   /* the readers must set it, even on failure */
    cnnrt_err e = {{0}};
    int rc = from_file ? cnnrt_picture_read(fuzz_input_file(file, len), background, &img, &e)
                       : cnnrt_picture_decode("fuzz.pic", file, len, background, &img, &e);
    FUZZ_CHECK_RESULT(rc, e);
    if (cnnrt_picture_format_of(file, len) == CNNRT_PICTURE_NONE)
        FUZZ_CHECK(rc != 0);
    if (rc == 0)
        use_picture(&img);
    else
        FUZZ_CHECK(img.pixels == NULL);
    cnnrt_image_free(&img);
    return 0;
}
