/* Fuzz target: weights files (runtime/weights.c), read as `cnnc`'s inspection does (no
 * expectations) and as a generated program does (against a fixed model's tensors, those of
 * tests/unit/fake_model.inc).
 *
 * The first byte is a set of switches; the rest is the file:
 *   bit 0  load against the model (else inspect)
 *   bit 1  repair the envelope before loading: write the true size into the header's size
 *          field and the true CRC-32 at the end. Without this almost every mutation stops
 *          at the checksum; with it the fuzzer reaches the tensor table, the optimizer and
 *          the progress sections.
 * A file that loads is saved again and reloaded: it must give the same contents. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_common.h"
#include "cnnrt_weights.h"
#include "fuzz_common.h"

enum { SIZE_FIELD_OFFSET = 16, FAKE_KERNEL_FLOATS = 196 * 10, FAKE_PARAM_FLOATS = 1970 };

static const cnnrt_param_desc model_tensors[] = {
    {.name = "dense/kernel", .rank = 2, .dims = {196, 10}, .offset = 0,
     .size = FAKE_KERNEL_FLOATS},
    {.name = "dense/bias", .rank = 1, .dims = {10}, .offset = FAKE_KERNEL_FLOATS, .size = 10},
};

static const cnnrt_weights_expect model_expect = {
    .fingerprint = 0xFA4E0001ull,
    .model_name = "fake",
    .tensors = model_tensors,
    .num_tensors = 2,
    .param_floats = FAKE_PARAM_FLOATS,
    .opt_state_floats = 2 * FAKE_PARAM_FLOATS,
};

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void repair_envelope(uint8_t *file, size_t len)
{
    if (len >= SIZE_FIELD_OFFSET + 8)
        put_le(file + SIZE_FIELD_OFFSET, len, 8);
    if (len >= 4)
        put_le(file + len - 4, cnnrt_crc32(0, file, len - 4), 4);
}

static int same_floats(const float *a, const float *b, int64_t n)
{
    return n == 0 || memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* Saving what was loaded and loading it again gives the same weights. */
static void check_round_trip(const cnnrt_weights *w, const cnnrt_weights_expect *expect)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/dev/shm/cnnc-fuzz-weights.%d", (int)getpid());
    cnnrt_err e = {{0}};
    int rc = cnnrt_weights_save(path, w, &e);
    FUZZ_CHECK_RESULT(rc, e);
    if (rc != 0)
        return;
    cnnrt_weights again;
    memset(&e, 0, sizeof e);
    rc = cnnrt_weights_load(path, expect, &again, &e);
    unlink(path);
    FUZZ_CHECK_RESULT(rc, e);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(again.num_tensors == w->num_tensors && again.param_floats == w->param_floats);
    FUZZ_CHECK(same_floats(again.params, w->params, w->param_floats));
    FUZZ_CHECK(again.opt_kind == w->opt_kind && again.opt_state_floats == w->opt_state_floats);
    FUZZ_CHECK(same_floats(again.opt_state, w->opt_state, w->opt_state_floats));
    FUZZ_CHECK(again.epochs_done == w->epochs_done && again.steps_done == w->steps_done);
    FUZZ_CHECK(again.num_history == w->num_history);
    cnnrt_weights_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int switches = data[0];
    size_t len = size - 1;
    uint8_t *file = malloc(len ? len : 1);
    memcpy(file, data + 1, len);
    if (switches & 2)
        repair_envelope(file, len);
    const cnnrt_weights_expect *expect = (switches & 1) ? &model_expect : NULL;
    const char *path = fuzz_input_file(file, len);
    free(file);

    cnnrt_weights w;
    cnnrt_err e = {{0}};
    int rc = cnnrt_weights_load(path, expect, &w, &e);
    FUZZ_CHECK_RESULT(rc, e);
    if (rc != 0)
        return 0;
    int64_t total = 0;
    for (int i = 0; i < w.num_tensors; i++) {
        const cnnrt_param_desc *t = &w.tensors[i];
        FUZZ_CHECK(t->offset >= 0 && t->size > 0 && t->offset + t->size <= w.param_floats);
        total += t->size;
    }
    FUZZ_CHECK(total <= w.param_floats);
    check_round_trip(&w, expect);
    cnnrt_weights_free(&w);
    return 0;
}
