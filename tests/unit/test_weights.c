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
    };
    return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
