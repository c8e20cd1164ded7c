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

#endif
