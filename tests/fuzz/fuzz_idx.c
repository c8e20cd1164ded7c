/* Fuzz target: IDX image and label files, raw and gzip-compressed (runtime/idx.c), and the
 * data-set checks on top of them (runtime/dataset.c). The same bytes are read as an image
 * file and as a label file; a successful read must describe exactly the bytes it returned. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_data.h"
#include "fuzz_common.h"

static void read_as_images(const char *path)
{
    cnnrt_idx_images images;
    cnnrt_err e = {{0}};
    memset(&images, 0, sizeof images);
    int rc = cnnrt_idx_read_images(path, &images, &e);
    FUZZ_CHECK_RESULT(rc, e);
    if (rc != 0)
        return;
    FUZZ_CHECK(images.count >= 0 && images.rows > 0 && images.cols > 0 && images.channels > 0);
    /* Touch the last pixel: the sanitizer catches a buffer smaller than the header says. */
    int64_t bytes = images.count * images.rows * images.cols * images.channels;
    volatile uint8_t sink = bytes > 0 ? images.pixels[bytes - 1] : 0;
    (void)sink;
    free(images.pixels);
}

static void read_as_labels(const char *path)
{
    uint8_t *labels = NULL;
    int64_t count = -1;
    cnnrt_err e = {{0}};
    int rc = cnnrt_idx_read_labels(path, &labels, &count, &e);
    FUZZ_CHECK_RESULT(rc, e);
    if (rc != 0)
        return;
    FUZZ_CHECK(count >= 0);
    volatile uint8_t sink = count > 0 ? labels[count - 1] : 0;
    (void)sink;
    free(labels);
}

/* The data-set loader with the same file as images and labels: exercises the count, shape
 * and label-range checks (they fail, but must fail cleanly, whatever the header says). */
static void load_as_dataset(const char *path)
{
    cnnrt_dataset ds;
    cnnrt_err e = {{0}};
    memset(&ds, 0, sizeof ds);
    int rc = cnnrt_dataset_load(path, path, 28, 28, 1, 10, &ds, &e);
    FUZZ_CHECK_RESULT(rc, e);
    if (rc == 0)
        cnnrt_dataset_free(&ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file(data, size);
    read_as_images(path);
    read_as_labels(path);
    load_as_dataset(path);
    return 0;
}
