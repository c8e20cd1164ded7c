/* Fuzz target: PNG pictures (runtime/image.c, libpng underneath) and what `predict` and
 * `gradcam` do with a user's picture next: the background check, the MNIST-style digit
 * preparation and the resize to a model input. The first byte picks how transparency is
 * composited; the rest is the file. */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>

#include "cnnrt_image.h"
#include "fuzz_common.h"

enum { INPUT_SIDE = 28 };

static void use_picture(cnnrt_image *img)
{
    fuzz_check_picture(img);
    fuzz_check_to_input(img, INPUT_SIDE, 3, CNNRT_RESIZE_NEAREST);
    fuzz_check_to_input(img, INPUT_SIDE, 1, CNNRT_RESIZE_AREA);
    fuzz_check_digit_input(img, INPUT_SIDE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cnnrt_alpha_background background = (cnnrt_alpha_background)(data[0] % 3);
    const char *path = fuzz_input_file(data + 1, size - 1);
    cnnrt_image img;
    memset(&img, 0, sizeof img);
    cnnrt_err e = {{0}};
    int rc = cnnrt_png_read(path, background, &img, &e);
    FUZZ_CHECK_RESULT(rc, e);
    if (rc == 0)
        use_picture(&img);
    else
        FUZZ_CHECK(img.pixels == NULL);
    cnnrt_image_free(&img);
    return 0;
}
