/* Weights files: round trip, and each kind of bad file gives its own clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrt_weights.h"
#include "test_util.h"

/* A small model: conv 3x3x1x2 + bias, dense 8x3 + bias = 18 + 2 + 24 + 3 = 47 floats. */
static const cnnrt_param_desc model_tensors[4] = {
    {.name = "conv2d/kernel", .rank = 4, .dims = {3, 3, 1, 2}, .offset = 0, .size = 18},
    {.name = "conv2d/bias", .rank = 1, .dims = {2}, .offset = 18, .size = 2},
    {.name = "dense/kernel", .rank = 2, .dims = {8, 3}, .offset = 20, .size = 24},
    {.name = "dense/bias", .rank = 1, .dims = {3}, .offset = 44, .size = 3},
};
enum { PARAMS = 47 };
#define FINGERPRINT 0x1234abcd5678ef00ull

static float params[PARAMS], adam_state[2 * PARAMS];
static cnnrt_epoch_record history[2] = {{0.5f, 0.8f, 0.4f, 0.85f}, {0.25f, 0.9f, NAN, NAN}};

static cnnrt_weights sample(void)
{
    for (int i = 0; i < PARAMS; i++)
        params[i] = (float)(i - 20) * 0.37f + (i == 5 ? 1e-40f : 0.0f);
    params[7] = -0.0f;
    for (int i = 0; i < 2 * PARAMS; i++)
        adam_state[i] = (float)i * 1e-3f;
    cnnrt_weights w = {0};
    w.fingerprint = FINGERPRINT;
    snprintf(w.model_name, sizeof w.model_name, "mnist_cam");
    w.num_tensors = 4;
    w.tensors = (cnnrt_param_desc *)model_tensors;
    w.params = params;
    w.param_floats = PARAMS;
    w.opt_kind = CNNRT_OPT_ADAM;
    w.opt_state = adam_state;
    w.opt_state_floats = 2 * PARAMS;
    w.epochs_done = 2;
    w.steps_done = 250;
    w.seed = 0xfeedfacecafebeefull;
    w.num_history = 2;
    w.history = history;
    return w;
}

static cnnrt_weights_expect expectation(void)
{
    cnnrt_weights_expect x = {FINGERPRINT, "mnist_cam", model_tensors, 4, PARAMS,
                              CNNRT_OPT_ADAM, 2 * PARAMS};
    return x;
}

static void assert_error_mentions(const cnnrt_err *e, const char *a, const char *b)
{
    if (!strstr(e->msg, a) || (b && !strstr(e->msg, b)))
        fail_msg("message \"%s\" should mention \"%s\" and \"%s\"", e->msg, a, b ? b : "");
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *path = tmp_path("round.bin");
    cnnrt_weights w = sample();
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), 0);

    cnnrt_weights_expect x = expectation();
    cnnrt_weights got;
    assert_int_equal(cnnrt_weights_load(path, &x, &got, &e), 0);
    assert_int_equal(got.fingerprint, FINGERPRINT);
    assert_string_equal(got.model_name, "mnist_cam");
    assert_int_equal(got.num_tensors, 4);
    assert_int_equal(got.param_floats, PARAMS);
    /* Bit for bit, including -0 and a denormal. */
    assert_memory_equal(got.params, params, sizeof params);
    assert_int_equal(got.opt_kind, CNNRT_OPT_ADAM);
    assert_int_equal(got.opt_state_floats, 2 * PARAMS);
    assert_memory_equal(got.opt_state, adam_state, sizeof adam_state);
    assert_int_equal(got.epochs_done, 2);
    assert_int_equal(got.steps_done, 250);
    assert_int_equal(got.seed, 0xfeedfacecafebeefull);
    assert_int_equal(got.num_history, 2);
    assert_true(got.history[0].loss == 0.5f && got.history[1].acc == 0.9f);
    assert_true(isnan(got.history[1].val_loss));
    assert_int_equal(got.dropped_opt_kind, CNNRT_OPT_NONE);
    assert_int_equal((uintptr_t)got.params % 64, 0);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(got.tensors[i].name, model_tensors[i].name);
        assert_int_equal(got.tensors[i].offset, model_tensors[i].offset);
    }
    cnnrt_weights_free(&got);

    /* The documented layout: magic, version 1, flags (optimizer), size = file size. */
    size_t len;
    unsigned char *raw = read_bytes(path, &len);
    assert_memory_equal(raw, "CNNCWGT1", 8);
    assert_int_equal(raw[8], 1);
    assert_int_equal(raw[12], 1);
    assert_int_equal(raw[16] | raw[17] << 8 | raw[18] << 16, len);
    assert_int_equal(raw[24], 0x00);   /* fingerprint, little-endian */
    assert_int_equal(raw[31], 0x12);
    free(raw);

    /* Inspecting without expectations: tensors laid out one after another. */
    assert_int_equal(cnnrt_weights_load(path, NULL, &got, &e), 0);
    assert_int_equal(got.param_floats, PARAMS);
    assert_int_equal(got.tensors[2].offset, 20);
    assert_memory_equal(got.params, params, sizeof params);
    cnnrt_weights_free(&got);

    /* Without optimizer state or history. */
    w.opt_kind = CNNRT_OPT_NONE;
    w.num_history = 0;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), 0);
    assert_int_equal(cnnrt_weights_load(path, &x, &got, &e), 0);
    assert_int_equal(got.opt_kind, CNNRT_OPT_NONE);
    assert_null(got.opt_state);
    assert_int_equal(got.num_history, 0);
    assert_memory_equal(got.params, params, sizeof params);
    cnnrt_weights_free(&got);
}

static void test_other_model(void **state)
{
    (void)state;
    const char *path = tmp_path("lenet.bin");
    cnnrt_weights w = sample();
    w.fingerprint = 0x00000000deadbeefull;
    snprintf(w.model_name, sizeof w.model_name, "lenet5");
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), 0);
    cnnrt_weights_expect x = expectation();
    cnnrt_weights got;
    assert_int_equal(cnnrt_weights_load(path, &x, &got, &e), -1);
    assert_error_mentions(&e, path, "was saved by model 'lenet5' (fingerprint 00000000deadbeef)");
    assert_error_mentions(&e, "not 'mnist_cam' (fingerprint 1234abcd5678ef00)", NULL);
    assert_null(got.params);
}

static void test_tensor_mismatch_and_dropped_optimizer(void **state)
{
    (void)state;
    const char *path = tmp_path("shape.bin");
    cnnrt_weights w = sample();
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), 0);

    cnnrt_param_desc other[4];
    memcpy(other, model_tensors, sizeof other);
    other[2].dims[1] = 4;
    cnnrt_weights_expect x = expectation();
    x.tensors = other;
    cnnrt_weights got;
    assert_int_equal(cnnrt_weights_load(path, &x, &got, &e), -1);
    assert_error_mentions(&e, "tensor 3 is 'dense/kernel' 8x3", "expects 'dense/kernel' 8x4");

    x = expectation();
    x.num_tensors = 3;
    assert_int_equal(cnnrt_weights_load(path, &x, &got, &e), -1);
    assert_error_mentions(&e, "holds 4 tensors", "has 3");

    /* The model now uses SGD: weights load, Adam's state is dropped and reported. */
    x = expectation();
    x.opt_kind = CNNRT_OPT_SGD;
    x.opt_state_floats = PARAMS;
    assert_int_equal(cnnrt_weights_load(path, &x, &got, &e), 0);
    assert_int_equal(got.opt_kind, CNNRT_OPT_NONE);
    assert_int_equal(got.dropped_opt_kind, CNNRT_OPT_ADAM);
    assert_null(got.opt_state);
    assert_memory_equal(got.params, params, sizeof params);
    assert_int_equal(got.epochs_done, 2);
    cnnrt_weights_free(&got);

    /* RMSprop with momentum keeps as many floats as Adam: the kind, not the size, tells
     * that Adam's m and v are no RMSprop state. */
    x = expectation();
    x.opt_kind = CNNRT_OPT_RMSPROP;
    assert_int_equal(cnnrt_weights_load(path, &x, &got, &e), 0);
    assert_int_equal(got.opt_kind, CNNRT_OPT_NONE);
    assert_int_equal(got.dropped_opt_kind, CNNRT_OPT_ADAM);
    cnnrt_weights_free(&got);
}

/* An optimizer code this runtime does not know is an error naming the file and the code,
 * never read as some other optimizer's state. */
static void test_unknown_optimizer_code(void **state)
{
    (void)state;
    const char *path = tmp_path("unknown_opt.bin");
    cnnrt_weights w = sample();
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), 0);
    size_t len;
    unsigned char *raw = read_bytes(path, &len);
    /* The optimizer section starts with kind u32 = 2 and state floats u64 = 2 * PARAMS. */
    unsigned char section[12] = {CNNRT_OPT_ADAM, 0, 0, 0, 2 * PARAMS, 0, 0, 0, 0, 0, 0, 0};
    size_t at = 0;
    while (at + sizeof section <= len && memcmp(raw + at, section, sizeof section))
        at++;
    assert_true(at + sizeof section <= len);
    raw[at] = 9;
    uint32_t crc = cnnrt_crc32(0, raw, len - 4);
    for (int i = 0; i < 4; i++)
        raw[len - 4 + i] = (unsigned char)(crc >> (8 * i));
    write_bytes(path, raw, len);
    free(raw);
    cnnrt_weights_expect x = expectation();
    cnnrt_weights got;
    assert_int_equal(cnnrt_weights_load(path, &x, &got, &e), -1);
    assert_error_mentions(&e, path, "unknown optimizer code 9");
    assert_int_equal(cnnrt_weights_load(path, NULL, &got, &e), -1);
    assert_error_mentions(&e, "unknown optimizer code 9", "adam (2)");
    /* Nor can such a code be written. */
    w.opt_kind = 9;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), -1);
    assert_error_mentions(&e, "unknown optimizer code 9", NULL);
}

static void test_truncated_flipped_and_foreign(void **state)
{
    (void)state;
    const char *path = tmp_path("good.bin");
    cnnrt_weights w = sample();
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), 0);
    size_t len;
    unsigned char *good = read_bytes(path, &len);
    cnnrt_weights_expect x = expectation();
    cnnrt_weights got;
    const char *bad = tmp_path("bad.bin");

    size_t cuts[4] = {len - 1, len / 2, 40, 20};
    for (int i = 0; i < 4; i++) {
        write_bytes(bad, good, cuts[i]);
        assert_int_equal(cnnrt_weights_load(bad, &x, &got, &e), -1);
        assert_error_mentions(&e, bad, "truncated");
    }

    /* Any single flipped byte after the header is caught by the CRC. */
    unsigned char *copy = malloc(len);
    for (size_t at = 24; at < len; at += 7) {
        memcpy(copy, good, len);
        copy[at] ^= 0x10;
        write_bytes(bad, copy, len);
        assert_int_equal(cnnrt_weights_load(bad, &x, &got, &e), -1);
        assert_error_mentions(&e, bad, "CRC-32 mismatch");
    }

    memcpy(copy, good, len);
    copy[8] = 2;   /* a future format version */
    write_bytes(bad, copy, len);
    assert_int_equal(cnnrt_weights_load(bad, &x, &got, &e), -1);
    assert_error_mentions(&e, bad, "version 2");

    write_bytes(bad, "\x89PNG\r\n\x1a\n rest of a picture", 26);
    assert_int_equal(cnnrt_weights_load(bad, &x, &got, &e), -1);
    assert_error_mentions(&e, bad, "not a cnnc weights file");

    memcpy(copy, good, len);
    write_bytes(bad, copy, len);
    FILE *f = fopen(bad, "ab");
    fputs("junk", f);
    fclose(f);
    assert_int_equal(cnnrt_weights_load(bad, &x, &got, &e), -1);
    assert_error_mentions(&e, bad, "garbage after the end");

    assert_int_equal(cnnrt_weights_load(tmp_path("absent.bin"), &x, &got, &e), -1);
    assert_error_mentions(&e, "absent.bin", "cannot open");
    free(copy);
    free(good);
}

static void test_atomic_write_keeps_old_file(void **state)
{
    (void)state;
    const char *path = tmp_path("kept.bin");
    cnnrt_weights w = sample();
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), 0);
    size_t old_len;
    unsigned char *old = read_bytes(path, &old_len);

    /* Make the write fail: the temporary file's name is taken by a directory. */
    char blocker[700];
    snprintf(blocker, sizeof blocker, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(mkdir(blocker, 0755), 0);
    w.epochs_done = 99;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), -1);
    assert_error_mentions(&e, path, "cannot create");
    size_t now_len;
    unsigned char *now = read_bytes(path, &now_len);
    assert_int_equal(now_len, old_len);
    assert_memory_equal(now, old, old_len);   /* the old file is intact */
    assert_int_equal(rmdir(blocker), 0);
    free(now);
    free(old);

    /* A missing directory: an error, and nothing created. */
    const char *missing = tmp_path("no-such-dir/w.bin");
    assert_int_equal(cnnrt_weights_save(missing, &w, &e), -1);
    assert_error_mentions(&e, missing, "cannot create");
    struct stat st;
    assert_int_equal(stat(missing, &st), -1);

    /* Nothing else is left behind in the directory (no stray temporary files). */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | grep -c tmp) -eq 0", tmp_dir);
    assert_int_equal(system(cmd), 0);
}

static void test_save_rejects_inconsistent_description(void **state)
{
    (void)state;
    cnnrt_weights w = sample();
    cnnrt_param_desc broken[4];
    memcpy(broken, model_tensors, sizeof broken);
    broken[3].offset = 45;   /* 45 + 3 > 47 */
    w.tensors = broken;
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_save(tmp_path("x.bin"), &w, &e), -1);
    assert_error_mentions(&e, "dense/bias", "outside");
    broken[3].offset = 44;
    broken[3].size = 4;
    assert_int_equal(cnnrt_weights_save(tmp_path("x.bin"), &w, &e), -1);
    assert_error_mentions(&e, "dense/bias", "shape says 3");
}

/* Rewrites the CRC-32 at the end of a file image, as a writer with a bug (or a newer one)
 * would produce it: the damage is then invisible to the checksum. */
static void fix_crc(unsigned char *data, size_t len)
{
    uint32_t crc = cnnrt_crc32(0, data, len - 4);
    for (int i = 0; i < 4; i++)
        data[len - 4 + i] = (unsigned char)(crc >> (8 * i));
}

/* Replaces the (only) occurrence of float `from` in the file image by `to`. */
static void replace_float(unsigned char *data, size_t len, float from, float to)
{
    unsigned char want[4], now[4];
    memcpy(want, &from, 4);   /* the tests run on little-endian machines, as the format is */
    memcpy(now, &to, 4);
    int found = 0;
    for (size_t i = 0; i + 4 <= len; i++)
        if (!memcmp(data + i, want, 4)) {
            memcpy(data + i, now, 4);
            found++;
        }
    assert_int_equal(found, 1);
}

static void test_non_finite_values_refused(void **state)
{
    (void)state;
    const char *path = tmp_path("finite.bin");
    cnnrt_weights w = sample();
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), 0);
    size_t len;
    unsigned char *good = read_bytes(path, &len);
    unsigned char *copy = malloc(len);
    cnnrt_weights_expect x = expectation();
    cnnrt_weights got;
    const char *bad = tmp_path("nan.bin");

    /* params[30] = 3.7 is dense/kernel (offset 20, 8x3) index 10, i.e. [3][1]. */
    memcpy(copy, good, len);
    replace_float(copy, len, params[30], NAN);
    fix_crc(copy, len);
    write_bytes(bad, copy, len);
    assert_int_equal(cnnrt_weights_load(bad, &x, &got, &e), -1);
    assert_error_mentions(&e, bad, "tensor 'dense/kernel' holds NaN at index 10 ([3][1])");
    assert_null(got.params);
    assert_int_equal(cnnrt_weights_load(bad, NULL, &got, &e), -1);   /* inspecting too */
    assert_error_mentions(&e, "dense/kernel", "NaN");

    memcpy(copy, good, len);
    replace_float(copy, len, params[45], -INFINITY);   /* dense/bias index 1 */
    fix_crc(copy, len);
    write_bytes(bad, copy, len);
    assert_int_equal(cnnrt_weights_load(bad, &x, &got, &e), -1);
    assert_error_mentions(&e, "tensor 'dense/bias' holds -inf at index 1", NULL);

    memcpy(copy, good, len);
    replace_float(copy, len, adam_state[60], INFINITY);
    fix_crc(copy, len);
    write_bytes(bad, copy, len);
    assert_int_equal(cnnrt_weights_load(bad, &x, &got, &e), -1);
    assert_error_mentions(&e, "optimizer state holds +inf at index 60", NULL);

    /* Saving refuses them too and keeps the previous file. */
    params[3] = NAN;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), -1);
    assert_error_mentions(&e, "not saved", "tensor 'conv2d/kernel' holds NaN at index 3");
    w = sample();
    adam_state[2] = INFINITY;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), -1);
    assert_error_mentions(&e, "not saved", "optimizer state holds +inf at index 2");
    size_t now_len;
    unsigned char *now = read_bytes(path, &now_len);
    assert_int_equal(now_len, len);
    assert_memory_equal(now, good, len);
    free(now);
    free(copy);
    free(good);
}

static void test_unknown_flags_refused(void **state)
{
    (void)state;
    const char *path = tmp_path("flags.bin");
    cnnrt_weights w = sample();
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), 0);
    size_t len;
    unsigned char *data = read_bytes(path, &len);
    cnnrt_weights got;
    cnnrt_weights_expect x = expectation();
    for (int bit = 2; bit < 32; bit += 5) {   /* bit 1: the callback section */
        unsigned char *copy = malloc(len);
        memcpy(copy, data, len);
        copy[12 + bit / 8] |= (unsigned char)(1u << (bit % 8));
        fix_crc(copy, len);
        write_bytes(path, copy, len);
        assert_int_equal(cnnrt_weights_load(path, &x, &got, &e), -1);
        assert_error_mentions(&e, path, "written by a newer cnnc");
        free(copy);
    }
    free(data);
}

/* The header's size is checked before the rest is read: /dev/zero, a directory, a pipe that
 * promises more than the model can take or never ends. */
static void test_size_checked_before_reading(void **state)
{
    (void)state;
    cnnrt_weights got;
    cnnrt_weights_expect x = expectation();
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_load("/dev/zero", &x, &got, &e), -1);
    assert_error_mentions(&e, "/dev/zero", "not a cnnc weights file");
    assert_int_equal(cnnrt_weights_load(tmp_dir, &x, &got, &e), -1);
    assert_error_mentions(&e, tmp_dir, "is a directory");

    /* A valid header promising 3 GB, then zeros forever: refused after 32 bytes. */
    unsigned char head[32] = "CNNCWGT1\1\0\0\0\0\0\0\0";
    uint64_t huge = (uint64_t)3 << 30;
    for (int i = 0; i < 8; i++)
        head[16 + i] = (unsigned char)(huge >> (8 * i));
    const char *fifo = tmp_path("pipe.bin");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -f '%s' && mkfifo '%s'", fifo, fifo);
    assert_int_equal(system(cmd), 0);
    FILE *hf = fopen(tmp_path("head.bin"), "wb");
    fwrite(head, 1, sizeof head, hf);
    fclose(hf);
    snprintf(cmd, sizeof cmd, "(cat '%s' /dev/zero > '%s' 2>/dev/null &)", tmp_path("head.bin"),
             fifo);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cnnrt_weights_load(fifo, &x, &got, &e), -1);
    assert_error_mentions(&e, fifo, "more than weights of model 'mnist_cam' can take");

    /* A regular file whose header promises more than it has: "truncated" without reading. */
    const char *path = tmp_path("short.bin");
    write_bytes(path, head, sizeof head);
    assert_int_equal(cnnrt_weights_load(path, &x, &got, &e), -1);
    assert_error_mentions(&e, path, "truncated: 32 of its 3221225472 bytes");

    /* A pipe carrying a good file is read like the file. */
    cnnrt_weights w = sample();
    const char *good = tmp_path("pipe-good.bin");
    assert_int_equal(cnnrt_weights_save(good, &w, &e), 0);
    snprintf(cmd, sizeof cmd, "(cat '%s' > '%s' &)", good, fifo);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cnnrt_weights_load(fifo, &x, &got, &e), 0);
    assert_int_equal(got.epochs_done, 2);
    cnnrt_weights_free(&got);
    /* ... and one with more after the end is refused. */
    snprintf(cmd, sizeof cmd, "(cat '%s' /dev/zero > '%s' 2>/dev/null &)", good, fifo);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cnnrt_weights_load(fifo, &x, &got, &e), -1);
    assert_error_mentions(&e, fifo, "garbage after the end");
}

/* The same checks on bytes in memory (what a fuzzer drives). */
static void test_parse_from_memory(void **state)
{
    (void)state;
    const char *path = tmp_path("mem.bin");
    cnnrt_weights w = sample();
    cnnrt_err e;
    assert_int_equal(cnnrt_weights_save(path, &w, &e), 0);
    size_t len;
    unsigned char *data = read_bytes(path, &len);
    cnnrt_weights_expect x = expectation();
    cnnrt_weights got;
    assert_int_equal(cnnrt_weights_parse("buffer", data, len, &x, &got, &e), 0);
    assert_memory_equal(got.params, params, sizeof params);
    cnnrt_weights_free(&got);
    assert_int_equal(cnnrt_weights_parse("buffer", data, len - 1, &x, &got, &e), -1);
    assert_error_mentions(&e, "buffer", "truncated");
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_other_model),
        cmocka_unit_test(test_tensor_mismatch_and_dropped_optimizer),
        cmocka_unit_test(test_unknown_optimizer_code),
        cmocka_unit_test(test_truncated_flipped_and_foreign),
        cmocka_unit_test(test_atomic_write_keeps_old_file),
        cmocka_unit_test(test_save_rejects_inconsistent_description),
        cmocka_unit_test(test_non_finite_values_refused),
        cmocka_unit_test(test_unknown_flags_refused),
        cmocka_unit_test(test_size_checked_before_reading),
        cmocka_unit_test(test_parse_from_memory),
    };
    return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
