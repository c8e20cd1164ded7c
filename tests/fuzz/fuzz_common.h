/* Shared by the fuzz targets: the readers under test take a path, so each input is handed
 * to them as a file. The file is an in-memory one (memfd), rewritten for every input and
 * named through /proc/self/fd, so fuzzing does no disk I/O and leaves nothing behind.
 *
 * FUZZ_CHECK is the targets' own oracle on top of the sanitizers: a reader that returns
 * an inconsistent result (success with an error message, failure without one) is a bug
 * even when no memory is misused. */
#ifndef CNNC_FUZZ_COMMON_H
#define CNNC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* Makes the memfd hold exactly data[0..size) and returns its path. */
static inline const char *fuzz_input_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-input", 0);
        FUZZ_CHECK(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
    return path;
}

/* A failed call must explain itself; a successful one must not leave a message. The
 * readers never clear the message on success, so callers zero it before each call. */
#define FUZZ_CHECK_RESULT(rc, err) \
    FUZZ_CHECK(((rc) == 0 && (err).msg[0] == '\0') || ((rc) != 0 && (err).msg[0] != '\0'))

#ifdef CNNRT_IMAGE_H   /* for the targets that read pictures (they include cnnrt_image.h first) */

/* What every picture reader promises of a picture it returns. */
static inline void fuzz_check_picture(const cnnrt_image *img)
{
    FUZZ_CHECK(img->width > 0 && img->height > 0);
    FUZZ_CHECK(img->width <= CNNRT_IMAGE_MAX_SIDE && img->height <= CNNRT_IMAGE_MAX_SIDE);
    FUZZ_CHECK((int64_t)img->width * img->height <= CNNRT_IMAGE_MAX_PIXELS);
    FUZZ_CHECK(img->channels == 1 || img->channels == 3);
    FUZZ_CHECK(img->pixels != NULL);
}

enum { FUZZ_MAX_INPUT_SIDE = 32 };

/* The picture as a side x side model input of `channels`, as `predict` makes it. */
static inline void fuzz_check_to_input(const cnnrt_image *img, int side, int channels,
                                       cnnrt_resize_mode mode)
{
    static float input[FUZZ_MAX_INPUT_SIDE * FUZZ_MAX_INPUT_SIDE * 3];
    FUZZ_CHECK(side <= FUZZ_MAX_INPUT_SIDE);
    cnnrt_err e = {{0}};
    int rc = cnnrt_image_to_input(img, side, side, channels, mode, input, &e);
    FUZZ_CHECK_RESULT(rc, e);
}

/* A gray picture as `predict` and `gradcam` prepare a user's digit: the background check,
 * then the MNIST-style crop, fit and centring into a side x side input. */
static inline void fuzz_check_digit_input(cnnrt_image *img, int side)
{
    static float input[FUZZ_MAX_INPUT_SIDE * FUZZ_MAX_INPUT_SIDE];
    FUZZ_CHECK(side <= FUZZ_MAX_INPUT_SIDE);
    if (img->channels != 1)
        return;
    cnnrt_image_invert_if_light_background(img);
    cnnrt_err e = {{0}};
    int rc = cnnrt_digit_to_input(img, side, side, input, &e);
    FUZZ_CHECK_RESULT(rc, e);
}

#endif

#endif
