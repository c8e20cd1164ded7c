/* Shared by unit tests that work with files: a temporary directory for the whole test
 * group, paths inside it, and writing a file in one call. Include after <cmocka.h>.
 * Static inline functions only (the test glob builds test_*.c, each on its own). */
#ifndef CNNC_TEST_UTIL_H
#define CNNC_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cnnrt_common.h"

static char tmp_dir[256];

/* cmocka group setup: a fresh directory under /tmp, named in tmp_dir. */
static inline int make_tmp_dir(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/cnnc_unit_XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

/* cmocka group teardown: the directory and whatever the tests left in it. */
static inline int remove_tmp_dir(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* tmp_dir/name. The result lives until 8 more calls, so one call can take several. */
static inline const char *tmp_path(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmp_dir, name);
    return p;
}

static inline void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A whole file (at most 64 MiB) the test wrote; the caller frees it. */
static inline unsigned char *read_bytes(const char *path, size_t *len)
{
    unsigned char *data;
    cnnrt_err e;
    assert_int_equal(cnnrt_read_file(path, 1 << 26, &data, len, &e), 0);
    return data;
}

#endif
