/* The command-line program of a compiled model (runtime/program.c and cmd_*.c), driven
 * in-process with a model written in C (fake_model.inc) on a tiny generated data set:
 * training, resuming, determinism, evaluate, predict, gradcam, and the error paths. */
#define _XOPEN_SOURCE 700   /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrt_data.h"
#include "cnnrt_image.h"
#include "cnnrt_info.h"
#include "cnnrt_pool.h"
#include "cnnrt_program.h"
#include "fake_model.inc"

static char work_dir[256];
static char data_dir[300];
static char start_dir[4096];

/* ---- running the program, capturing its output ------------------------------------------ */

typedef struct run_result {
    int status;
    char out[65536];
    char err[16384];
} run_result;

static void read_all(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Runs `fake ARGS...` (NULL-terminated) with stdout and stderr captured. */
static run_result *run_model(const cnnrt_model *model, const char *first, ...)
{
    static run_result r;
    char *argv[64] = {"fake"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int out = open("run.stdout", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open("run.stderr", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    r.status = cnnrt_program_main(model, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(out);
    close(err);
    close(saved_out);
    close(saved_err);
    read_all("run.stdout", r.out, sizeof r.out);
    read_all("run.stderr", r.err, sizeof r.err);
    return &r;
}
#define run(...) run_model(&fake_model, __VA_ARGS__, (const char *)NULL)

static void assert_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle)) {
        print_error("expected to find \"%s\" in:\n%s\n", needle, text);
        fail();
    }
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(*len + 1);
    assert_int_equal(fread(data, 1, *len, f), *len);
    fclose(f);
    return data;
}

static int files_equal(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *da = slurp(a, &la), *db = slurp(b, &lb);
    int same = la == lb && memcmp(da, db, la) == 0;
    free(da);
    free(db);
    return same;
}

/* ---- the data: class k is a bright 6x6 square at a place of its own, on noise ------------- */

static void make_images(uint8_t *pixels, uint8_t *labels, int count, uint64_t seed)
{
    for (int i = 0; i < count; i++) {
        int k = i % 10;
        labels[i] = (uint8_t)k;
        uint8_t *img = pixels + i * 28 * 28;
        for (int p = 0; p < 28 * 28; p++)
            img[p] = (uint8_t)(cnnrt_mix64(seed + (uint64_t)(i * 784 + p)) % 60);
        int top = (k / 5) * 12 + 4 + (int)(cnnrt_mix64(seed ^ (uint64_t)i) % 3);
        int left = (k % 5) * 5 + 1;
        for (int y = top; y < top + 6; y++)
            for (int x = left; x < left + 6 && x < 28; x++)
                img[y * 28 + x] = 250;
    }
}

static void write_data(const char *dir, int train_count, int test_count)
{
    char path[512];
    cnnrt_err e;
    mkdir(dir, 0755);
    int counts[2] = {train_count, test_count};
    const char *names[2][2] = {{CNNRT_TRAIN_IMAGES, CNNRT_TRAIN_LABELS},
                               {CNNRT_TEST_IMAGES, CNNRT_TEST_LABELS}};
    for (int s = 0; s < 2; s++) {
        uint8_t *pixels = malloc((size_t)counts[s] * 784), *labels = malloc((size_t)counts[s]);
        make_images(pixels, labels, counts[s], 1000 + (uint64_t)s);
        snprintf(path, sizeof path, "%s/%s", dir, names[s][0]);
        assert_int_equal(cnnrt_idx_write_images(path, pixels, counts[s], 28, 28, 1, s, &e), 0);
        snprintf(path, sizeof path, "%s/%s", dir, names[s][1]);
        assert_int_equal(cnnrt_idx_write_labels(path, labels, counts[s], 0, &e), 0);
        free(pixels);
        free(labels);
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_group(void **state)
{
    (void)state;
    if (!getcwd(start_dir, sizeof start_dir))
        return -1;
    snprintf(work_dir, sizeof work_dir, "/tmp/cnnc_test_program_XXXXXX");
    if (!mkdtemp(work_dir) || chdir(work_dir) != 0)
        return -1;
    snprintf(data_dir, sizeof data_dir, "%s/digits", work_dir);
    write_data(data_dir, 300, 100);
    setenv("CNNC_DATA", data_dir, 1);
    return 0;
}

static int teardown_group(void **state)
{
    (void)state;
    if (chdir(start_dir) != 0)
        return -1;
    return nftw(work_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Every test starts without weights in the working directory. */
static int setup_test(void **state)
{
    (void)state;
    remove("fake.weights");
    fake_interrupt_at_step = -1;
    fake_nan_at_step = -1;
    return 0;
}

/* Reads NAME.history.csv rows: acc and val_acc per epoch. */
static int read_history(const char *path, double *acc, double *val_acc, int max)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    int n = 0;
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "epoch,loss,acc,val_loss,val_acc\n");
    while (n < max && fgets(line, sizeof line, f)) {
        int epoch;
        double loss, val_loss;
        assert_int_equal(sscanf(line, "%d,%lf,%lf,%lf,%lf", &epoch, &loss, &acc[n], &val_loss,
                                &val_acc[n]), 5);
        assert_int_equal(epoch, n + 1);
        n++;
    }
    fclose(f);
    return n;
}

/* ---- the descriptor, the loss and the initialiser -------------------------------------------------- */

static void test_info_reads_descriptor(void **state)
{
    (void)state;
    cnnrt_model_info info;
    cnnrt_err e;
    assert_int_equal(cnnrt_model_info_load(&fake_model, &info, &e), 0);
    assert_int_equal(info.num_layers, 5);
    assert_int_equal(info.num_params, 2);
    assert_string_equal(info.params[0].name, "dense/kernel");
    assert_int_equal(info.params[0].size, 1960);
    assert_int_equal(info.params[1].offset, 1960);
    assert_int_equal(info.params[1].init, CNNRT_INIT_ZEROS);
    assert_int_equal(info.epochs, 2);
    assert_int_equal(info.batch_size, 16);
    assert_true(fabs(info.lr - 0.01) < 1e-12);
    assert_true(fabs(info.validation_split - 0.2) < 1e-12);
    assert_int_equal(info.seed, 7);
    assert_string_equal(info.gradcam_layer, "average_pooling2d");
    assert_string_equal(info.layers[3].type, "Dense");
    assert_int_equal(info.layers[1].dims[0], 14);

    float *a = calloc(FAKE_PARAMS, sizeof *a), *b = calloc(FAKE_PARAMS, sizeof *b);
    cnnrt_init_params(info.params, info.num_params, 42, a);
    cnnrt_init_params(info.params, info.num_params, 42, b);
    assert_memory_equal(a, b, FAKE_PARAMS * sizeof *a);
    float limit = sqrtf(6.0f / 206.0f), lo = 0, hi = 0;
    for (int i = 0; i < 1960; i++) {
        assert_true(fabsf(a[i]) <= limit);
        lo = a[i] < lo ? a[i] : lo;
        hi = a[i] > hi ? a[i] : hi;
    }
    assert_true(lo < -0.9f * limit && hi > 0.9f * limit);   /* fills the range */
    for (int i = 1960; i < FAKE_PARAMS; i++)
        assert_true(a[i] == 0.0f);
    cnnrt_init_params(info.params, info.num_params, 43, b);
    assert_memory_not_equal(a, b, 1960 * sizeof *a);
    free(a);
    free(b);
    cnnrt_model_info_free(&info);
}

/* One way of breaking a descriptor; every one must be an error naming the model. */
typedef struct descriptor_damage {
    const char *what;
    void (*apply)(cnnrt_model *m, cnnrt_layer_entry *layers, cnnrt_param_entry *params);
} descriptor_damage;

static void no_layers(cnnrt_model *m, cnnrt_layer_entry *l, cnnrt_param_entry *p)
{
    (void)l, (void)p;
    m->num_layers = 0;
}
static void zero_dimension(cnnrt_model *m, cnnrt_layer_entry *l, cnnrt_param_entry *p)
{
    (void)m, (void)p;
    l[1].dims[1] = 0;
}
static void nameless_layer(cnnrt_model *m, cnnrt_layer_entry *l, cnnrt_param_entry *p)
{
    (void)m, (void)p;
    l[2].name = NULL;
}
static void unknown_initialiser(cnnrt_model *m, cnnrt_layer_entry *l, cnnrt_param_entry *p)
{
    (void)m, (void)l;
    p[0].init = 7;
}
static void outside_buffer(cnnrt_model *m, cnnrt_layer_entry *l, cnnrt_param_entry *p)
{
    (void)m, (void)l;
    p[1].offset = FAKE_PARAMS - 5;
}
static void bad_rank(cnnrt_model *m, cnnrt_layer_entry *l, cnnrt_param_entry *p)
{
    (void)m, (void)l;
    p[0].rank = 9;
}
static void unknown_optimizer(cnnrt_model *m, cnnrt_layer_entry *l, cnnrt_param_entry *p)
{
    (void)l, (void)p;
    m->train.optimizer = 99;
}
static void unknown_loss(cnnrt_model *m, cnnrt_layer_entry *l, cnnrt_param_entry *p)
{
    (void)l, (void)p;
    m->train.loss = 0;
}
static void no_epochs(cnnrt_model *m, cnnrt_layer_entry *l, cnnrt_param_entry *p)
{
    (void)l, (void)p;
    m->train.epochs = 0;
}
static void nan_lr(cnnrt_model *m, cnnrt_layer_entry *l, cnnrt_param_entry *p)
{
    (void)l, (void)p;
    m->train.lr = NAN;
}

static void test_info_rejects_bad_descriptors(void **state)
{
    (void)state;
    static const descriptor_damage damages[] = {
        {"no layers", no_layers}, {"zero dimension", zero_dimension},
        {"nameless layer", nameless_layer}, {"unknown initialiser", unknown_initialiser},
        {"outside the buffer", outside_buffer}, {"bad rank", bad_rank},
        {"unknown optimizer", unknown_optimizer}, {"unknown loss", unknown_loss},
        {"no epochs", no_epochs}, {"NaN learning rate", nan_lr}};
    for (size_t i = 0; i < sizeof damages / sizeof damages[0]; i++) {
        cnnrt_model m = fake_model;
        cnnrt_layer_entry layers[sizeof fake_layers / sizeof fake_layers[0]];
        cnnrt_param_entry params[sizeof fake_params / sizeof fake_params[0]];
        memcpy(layers, fake_layers, sizeof layers);
        memcpy(params, fake_params, sizeof params);
        m.layers = layers;
        m.params = params;
        damages[i].apply(&m, layers, params);
        cnnrt_model_info info;
        cnnrt_err e;
        if (cnnrt_model_info_load(&m, &info, &e) != -1)
            fail_msg("a descriptor with %s was accepted", damages[i].what);
        assert_non_null(strstr(e.msg, "model fake"));
    }
    cnnrt_model m = fake_model;
    m.abi_version = 99;
    cnnrt_model_info info;
    cnnrt_err e;
    assert_int_equal(cnnrt_model_info_load(&m, &info, &e), -1);
    assert_non_null(strstr(e.msg, "ABI"));
}

/* The loss evaluate and val_loss report is the one training computes: from the logits,
 * exact where the probability is far below Keras's 1e-7 clip. */
static void test_loss_from_logits(void **state)
{
    (void)state;
    const cnnrt_train_settings *t = &fake_model.train;
    float logits[3] = {30.0f, 0.0f, -2.0f};
    float probs[3];
    double sum = exp(0.0) + exp(-30.0) + exp(-32.0);
    for (int i = 0; i < 3; i++)
        probs[i] = (float)(exp(logits[i] - 30.0) / sum);
    assert_true(probs[1] < 1e-7f);
    double want = 30.0 + log(sum) - 0.0;   /* logsumexp - z[1], about 30 */
    assert_true(fabs(cnnrt_loss_of(t, probs, logits, 3, 1) - want) < 1e-5);
    /* Keras's clipped loss would say -log(1e-7) = 16.1. */
    cnnrt_train_settings on_probs = *t;
    on_probs.loss_from_logits = 0;
    assert_true(fabs(cnnrt_loss_of(&on_probs, probs, logits, 3, 1) + log(1e-7)) < 1e-5);
    cnnrt_train_settings mse = *t;
    mse.loss = CNNRT_LOSS_MSE;
    double d0 = probs[0], d1 = probs[1] - 1.0, d2 = probs[2];
    assert_true(fabs(cnnrt_loss_of(&mse, probs, logits, 3, 1) - (d0 * d0 + d1 * d1 + d2 * d2) / 3) <
                1e-6);
}

/* ---- commands ------------------------------------------------------------------------------ */

static void test_help_and_summary(void **state)
{
    (void)state;
    run_result *r = run("--help");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "gradcam");
    assert_contains(r->out, "Example");
    r = run("summary");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "Model: \"fake\"");
    assert_contains(r->out, "dense (Dense)");
    assert_contains(r->out, "(None, 14, 14, 1)");
    assert_contains(r->out, "Total params: 1,970");
    r = run("train", "--help");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "--validation-split");
    r = run("gradcam", "--help");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "--method");
}

static void test_bad_arguments(void **state)
{
    (void)state;
    run_result *r = run("fly");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "unknown command 'fly'");
    r = run("train", "--epochs", "-1");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--epochs must be at least 0, found -1");
    r = run("train", "--epochs", "two");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "whole number");
    r = run("train", "--validation-split", "1.5");
    assert_int_equal(r->status, 2);
    r = run("train", "--frobnicate");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "unknown option '--frobnicate'");
    r = run("train", "--lr");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "needs a value");
    r = run("evaluate", "extra");
    assert_int_equal(r->status, 2);
    r = run("gradcam", "--method", "magic");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "unknown --method 'magic'");
    r = run("gradcam", "--grid");
    assert_int_equal(r->status, 2);
    r = run("gradcam", "--class", "10");
    assert_int_equal(r->status, 2);
    r = run("predict");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "nothing to predict");
}

static void test_missing_data_lists_dirs_tried(void **state)
{
    (void)state;
    setenv("CNNC_DATA", "/nonexistent/cnnc-data", 1);
    run_result *r = run("train", "--quiet");
    setenv("CNNC_DATA", data_dir, 1);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "/nonexistent/cnnc-data ($CNNC_DATA)");
    assert_contains(r->err, "data/mnist");
    assert_contains(r->err, "--data");
    r = run("train", "--quiet", "--weights", "/nonexistent/dir/w.weights");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "/nonexistent/dir/w.weights");
    assert_contains(r->err, "does not exist");
    assert_false(file_exists("fake.weights"));
}

static void test_untrained_model(void **state)
{
    (void)state;
    run_result *r = run("predict", "--index", "0");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "untrained");
    assert_contains(r->err, "fake train");
    r = run("gradcam", "--index", "0");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "untrained");
    r = run("evaluate");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "the model is untrained: there is no fake.weights here");
    assert_contains(r->err, "fake train");
    assert_int_equal(strstr(r->out, "Test accuracy") != NULL, 0);
}

static void test_train_writes_weights_history_chart(void **state)
{
    (void)state;
    run_result *r = run("train", "--threads", "2");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "val_acc");
    assert_contains(r->out, "Epoch 2/2");
    assert_true(file_exists("fake.weights"));
    assert_true(file_exists("fake.history.csv"));
    assert_true(file_exists("fake.history.png"));
    double acc[4], val_acc[4];
    assert_int_equal(read_history("fake.history.csv", acc, val_acc, 4), 2);
    assert_true(acc[1] > acc[0]);
    assert_true(val_acc[1] > 0.6);   /* chance is 0.1 */
    cnnrt_image chart = {0};
    cnnrt_err e;
    assert_int_equal(cnnrt_png_read("fake.history.png", CNNRT_ALPHA_ON_WHITE, &chart, &e), 0);
    assert_true(chart.width > 600);
    cnnrt_image_free(&chart);

    /* The trained weights are used by evaluate and predict. */
    r = run("evaluate");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "Weights: fake.weights");
    double accuracy = 0;
    const char *line = strstr(r->out, "Test accuracy: ");
    assert_non_null(line);
    assert_int_equal(sscanf(line, "Test accuracy: %lf%%", &accuracy), 1);
    assert_true(accuracy > 60);
    r = run("predict", "--index", "3");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "test image 3: predicted");
    assert_contains(r->out, "true label 3");
    r = run("evaluate", "--data", "/nonexistent/dir");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "/nonexistent/dir");

    /* Training again from scratch says how to continue the existing file instead. */
    r = run("train", "--threads", "2");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "Note: starting from new random weights; fake.weights will be "
                            "replaced (to continue training it instead: fake train --resume "
                            "--epochs 4)");
}

static void test_same_seed_identical_files(void **state)
{
    (void)state;
    run_result *r = run("train", "--quiet", "--threads", "2", "--weights", "a.weights");
    assert_int_equal(r->status, 0);
    r = run("train", "--quiet", "--threads", "2", "--weights", "b.weights");
    assert_int_equal(r->status, 0);
    assert_true(files_equal("a.weights", "b.weights"));
    assert_true(files_equal("a.history.csv", "b.history.csv"));
    r = run("train", "--quiet", "--threads", "2", "--weights", "c.weights", "--seed", "8");
    assert_int_equal(r->status, 0);
    assert_false(files_equal("a.weights", "c.weights"));
}

static void test_resume_equals_uninterrupted(void **state)
{
    (void)state;
    run_result *r = run("train", "--quiet", "--threads", "2", "--epochs", "3", "--weights",
                        "full.weights");
    assert_int_equal(r->status, 0);
    /* Stopped after an epoch, then resumed. */
    r = run("train", "--quiet", "--threads", "2", "--epochs", "1", "--weights", "part.weights");
    assert_int_equal(r->status, 0);
    r = run("train", "--quiet", "--threads", "2", "--epochs", "3", "--weights", "part.weights",
            "--resume");
    assert_int_equal(r->status, 0);
    assert_true(files_equal("full.weights", "part.weights"));
    /* Ctrl-C in the middle of epoch 2 (15 steps per epoch: step 20), then resumed. */
    fake_interrupt_at_step = 20;
    r = run("train", "--threads", "2", "--epochs", "3", "--weights", "int.weights");
    fake_interrupt_at_step = -1;
    assert_int_equal(r->status, 130);
    assert_contains(r->out, "Interrupted at epoch 2, step 5/15");
    assert_contains(r->out, "--resume");
    r = run("train", "--threads", "2", "--epochs", "3", "--weights", "int.weights", "--resume");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "epoch 2 at step 6/15");
    assert_true(files_equal("full.weights", "int.weights"));
    /* Interrupted mid-epoch, then resumed with other batches: refused. */
    fake_interrupt_at_step = 3;
    r = run("train", "--quiet", "--threads", "2", "--weights", "mid.weights");
    fake_interrupt_at_step = -1;
    assert_int_equal(r->status, 130);
    r = run("train", "--quiet", "--weights", "mid.weights", "--resume", "--batch-size", "8");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "--batch-size");
    /* Already done. */
    r = run("train", "--quiet", "--epochs", "3", "--weights", "int.weights", "--resume");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "already been trained for 3 epochs");
    assert_contains(r->err, "fake train --resume --epochs 6 --weights int.weights");
}

static void test_resume_corrupt_file_left_untouched(void **state)
{
    (void)state;
    run_result *r = run("train", "--quiet", "--epochs", "1", "--weights", "bad.weights");
    assert_int_equal(r->status, 0);
    size_t len;
    unsigned char *data = slurp("bad.weights", &len);
    data[len / 2] ^= 0x55;
    FILE *f = fopen("bad.weights", "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    free(data);
    unsigned char *before = slurp("bad.weights", &len);
    r = run("train", "--quiet", "--epochs", "2", "--weights", "bad.weights", "--resume");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "bad.weights");
    size_t len_after;
    unsigned char *after = slurp("bad.weights", &len_after);
    assert_int_equal(len, len_after);
    assert_memory_equal(before, after, len);
    free(before);
    free(after);
    /* Missing file. */
    r = run("train", "--quiet", "--weights", "none.weights", "--resume");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "none.weights");
    /* Corrupt weights for inference. */
    r = run("evaluate", "--weights", "bad.weights");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "bad.weights");
}

static void test_nan_loss_stops_keeping_last_good_weights(void **state)
{
    (void)state;
    run_result *r = run("train", "--quiet", "--epochs", "1", "--weights", "nan.weights");
    assert_int_equal(r->status, 0);
    size_t len;
    unsigned char *before = slurp("nan.weights", &len);
    fake_nan_at_step = 18;   /* epoch 2, step 3 */
    r = run("train", "--quiet", "--epochs", "2", "--weights", "nan.weights", "--resume");
    fake_nan_at_step = -1;
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "NaN at epoch 2, step 3/15");
    assert_contains(r->err, "nan.weights");
    size_t len_after;
    unsigned char *after = slurp("nan.weights", &len_after);
    assert_int_equal(len, len_after);
    assert_memory_equal(before, after, len);
    free(before);
    free(after);
}

static void test_weights_of_another_model(void **state)
{
    (void)state;
    run_result *r = run("train", "--quiet", "--epochs", "1", "--weights", "own.weights");
    assert_int_equal(r->status, 0);
    cnnrt_model other = fake_model;
    other.fingerprint ^= 1;
    other.name = "other";
    r = run_model(&other, "predict", "--weights", "own.weights", "--index", "0", NULL);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "own.weights");
    assert_contains(r->err, "fake");
}

static void test_predict_png(void **state)
{
    (void)state;
    run_result *r = run("train", "--quiet", "--epochs", "2");
    assert_int_equal(r->status, 0);
    /* Test image 7 (class 7) as a PNG, dark on light as a scan would be: inverted back. */
    uint8_t pixels[784], label;
    make_images(pixels, &label, 1, 4242);   /* class 0 */
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, 28, 28, 1, &e), 0);
    for (int i = 0; i < 784; i++)
        img.pixels[i] = (uint8_t)(255 - pixels[i]);
    assert_int_equal(cnnrt_png_write("digit.png", &img, &e), 0);
    cnnrt_image_free(&img);
    r = run("predict", "digit.png");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "digit.png: predicted 0");
    assert_contains(r->out, "inverted");
    assert_contains(r->out, "|");
    /* A corrupt PNG and a missing one: clear errors naming the file. */
    FILE *f = fopen("broken.png", "wb");
    fputs("\x89PNG\r\n\x1a\nnot really", f);
    fclose(f);
    r = run("predict", "broken.png");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "broken.png");
    r = run("gradcam", "missing.png");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "missing.png");
    r = run("gradcam", "digit.png");
    assert_int_equal(r->status, 0);
    assert_true(file_exists("fake_gradcam_digit.png"));
}

static void test_gradcam_pictures(void **state)
{
    (void)state;
    run_result *r = run("train", "--quiet", "--epochs", "2");
    assert_int_equal(r->status, 0);
    r = run("gradcam", "--index", "4", "--out", "four.png", "--raw", "four.csv", "--method",
            "hirescam");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "test image 4: true 4 - pred 4");
    cnnrt_image fig = {0};
    cnnrt_err e;
    assert_int_equal(cnnrt_png_read("four.png", CNNRT_ALPHA_ON_WHITE, &fig, &e), 0);
    assert_true(fig.width > 3 * 28 * 8);   /* three panels of 224 pixels */
    assert_int_equal(fig.channels, 3);
    cnnrt_image_free(&fig);
    /* The raw map: the header, then 14 x 14 lines image,name,row,col,value with values in
     * [0,1] whose maximum is 1. */
    FILE *f = fopen("four.csv", "r");
    assert_non_null(f);
    int rows = 0;
    double top = 0;
    char line[4096];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "image,name,row,col,value\n");
    while (fgets(line, sizeof line, f)) {
        int image, y, x;
        char name[64];
        double v;
        assert_int_equal(sscanf(line, "%d,%63[^,],%d,%d,%lf", &image, name, &y, &x, &v), 5);
        assert_int_equal(image, 0);
        assert_string_equal(name, "test image 4");
        assert_int_equal(y * 14 + x, rows);
        assert_true(v >= 0 && v <= 1);
        top = v > top ? v : top;
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 14 * 14);
    assert_true(fabs(top - 1) < 1e-6);

    r = run("gradcam", "--first", "12", "--grid");
    assert_int_equal(r->status, 0);
    assert_true(file_exists("fake_gradcam_grid_12.png"));
    r = run("gradcam", "--first", "3", "--method", "guided", "--colormap", "viridis",
            "--score", "softmax");
    assert_int_equal(r->status, 0);
    assert_true(file_exists("fake_gradcam_first_3.png"));
    r = run("gradcam", "--index", "2", "--method", "hirescam", "--class", "5", "--out",
            "h.png");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "map of class 5");
    /* Errors: unknown layer, a layer without a spatial output, an uncompiled method,
     * an unwritable output. */
    r = run("gradcam", "--layer", "conv9");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "average_pooling2d");
    r = run("gradcam", "--layer", "dense");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "no spatial output");
    r = run("gradcam", "--method", "gradcam++");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "gradcam++");
    r = run("gradcam", "--out", "/nonexistent/dir/x.png");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "/nonexistent/dir/x.png");
    r = run("gradcam", "--index", "100");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "past the end");
}

static void test_gradcam_zero_map_warns(void **state)
{
    (void)state;
    run_result *r = run("train", "--quiet", "--epochs", "2");
    assert_int_equal(r->status, 0);
    /* A black image: the pooled activations are all zero, so every map is zero. */
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, 28, 28, 1, &e), 0);
    assert_int_equal(cnnrt_png_write("black.png", &img, &e), 0);
    cnnrt_image_free(&img);
    r = run("gradcam", "black.png", "--class", "3");
    assert_int_equal(r->status, 0);
    assert_contains(r->err, "no positive evidence for class 3: the map is all zero");
}

static void test_gradcam_evaluate(void **state)
{
    (void)state;
    run_result *r = run("train", "--quiet", "--epochs", "2");
    assert_int_equal(r->status, 0);
    /* HiResCAM: with one channel, Grad-CAM's single channel weight (the mean of the dense
     * column) is usually negative and its maps all zero, which is right but not a test. */
    r = run("gradcam", "--evaluate", "--first", "10", "--method", "hirescam");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "deletion AUC (lower is better)");
    assert_contains(r->out, "random map");
    assert_contains(r->out, "What good looks like");
    double auc_cam, auc_random, energy_cam, energy_random;
    const char *line = strstr(r->out, "deletion AUC (lower is better)");
    assert_int_equal(sscanf(line, "deletion AUC (lower is better) %lf %lf", &auc_cam,
                            &auc_random), 2);
    assert_true(auc_cam >= 0 && auc_cam <= 1 && auc_random >= 0 && auc_random <= 1);
    line = strstr(r->out, "heatmap energy inside the digit");
    assert_non_null(line);
    assert_int_equal(sscanf(line, "heatmap energy inside the digit %lf%% %lf%%", &energy_cam,
                            &energy_random), 2);
    /* The CAM of this model follows the bright square, noise does not. */
    assert_true(energy_cam > energy_random);
    assert_true(auc_cam < auc_random);
    /* Deterministic: the same report twice. */
    char first[65536];
    snprintf(first, sizeof first, "%s", r->out);
    r = run("gradcam", "--evaluate", "--first", "10", "--method", "hirescam");
    assert_string_equal(first, r->out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_reads_descriptor),
        cmocka_unit_test(test_info_rejects_bad_descriptors),
        cmocka_unit_test(test_loss_from_logits),
        cmocka_unit_test_setup(test_help_and_summary, setup_test),
        cmocka_unit_test_setup(test_bad_arguments, setup_test),
        cmocka_unit_test_setup(test_missing_data_lists_dirs_tried, setup_test),
        cmocka_unit_test_setup(test_untrained_model, setup_test),
        cmocka_unit_test_setup(test_train_writes_weights_history_chart, setup_test),
        cmocka_unit_test_setup(test_same_seed_identical_files, setup_test),
        cmocka_unit_test_setup(test_resume_equals_uninterrupted, setup_test),
        cmocka_unit_test_setup(test_resume_corrupt_file_left_untouched, setup_test),
        cmocka_unit_test_setup(test_nan_loss_stops_keeping_last_good_weights, setup_test),
        cmocka_unit_test_setup(test_weights_of_another_model, setup_test),
        cmocka_unit_test_setup(test_predict_png, setup_test),
        cmocka_unit_test_setup(test_gradcam_pictures, setup_test),
        cmocka_unit_test_setup(test_gradcam_zero_map_warns, setup_test),
        cmocka_unit_test_setup(test_gradcam_evaluate, setup_test),
    };
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
