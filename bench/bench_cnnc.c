/* Times the entry points cnnc compiled for a model -- infer, train_step and the Grad-CAM
 * function -- and nothing else: no data loading, no PNG writing, no command-line program.
 *
 * Built by bench/run.sh from the object file and header that `cnnc MODEL -c -o NAME.o`
 * writes:
 *     cc -O2 -I runtime -I DIR -DBENCH_MODEL_HEADER='"NAME.h"' -DBENCH_MODEL=NAME_model \
 *        bench/bench_cnnc.c DIR/NAME.o build/lib/libcnnrt.a -lpng -ljpeg -lgif -lz -lm -lpthread
 *
 * Prints one JSON object per line (the same schema as bench/pytorch_mnist.py):
 *     {"framework": "cnnc", "bench": "infer", "batch": 256, "unit": "images/s",
 *      "median": ..., "reps": [...]}
 *
 * With --check-dir DIR it instead writes, for bench/pytorch_mnist.py check: the weights
 * (a cnnc weights file), a few input images, and cnnc's outputs on them (probabilities,
 * Grad-CAM maps, the losses of a few training steps, the weights and Adam state after the
 * first), so that both frameworks are shown to compute the same thing before their speeds
 * are compared. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnnrt_data.h"
#include "cnnrt_info.h"
#include "cnnrt_model.h"
#include "cnnrt_pool.h"
#include "cnnrt_weights.h"

#ifndef BENCH_MODEL
#define BENCH_MODEL mnist_cam_model
#endif
#ifdef BENCH_MODEL_HEADER
#include BENCH_MODEL_HEADER
#endif
/* Declared here too, so the benchmark depends on nothing in the generated header but the
 * descriptor's name (a repeated compatible extern declaration is fine in C). */
extern const cnnrt_model BENCH_MODEL;

enum { TRAIN_BATCH = 64, MAX_BATCH = 256, SYNTHETIC_TRAIN_IMAGES = 64 * 100, MAX_REPS = 1000,
       CHECK_IMAGES = 64, CHECK_TRAIN_STEPS = 3 };

typedef struct options {
    int threads, reps;
    double seconds, warmup_seconds;
    const char *data_dir;       /* NULL: synthetic images of the model's input shape */
    const char *check_dir;      /* non-NULL: write the equivalence-check files and exit */
    const char *only;           /* NULL or a comma-separated subset of infer,gradcam,train */
    int64_t batch;              /* 0: the usual batch sizes (256 and 1; train 64); else
                                   this one only (at most MAX_BATCH) */
    const char *cam_layer;      /* NULL: the model file's gradcam layer */
    const char *perf_ctl;       /* NULL, or perf record's --control fifos "CTL,ACK": the
                                   timed calls (warm-up included) are the only ones sampled */
    uint64_t seed;
} options;

/* Everything the timed calls share. */
typedef struct bench {
    const cnnrt_model *model;
    cnnrt_model_info info;
    cnnrt_pool *pool;
    float *ws;                  /* threads * ws_floats_per_thread */
    float *params;              /* param_floats: the weights every benchmark starts from */
    int64_t image_floats;
    float *test_x;              /* test_count images, for inference and Grad-CAM */
    int64_t test_count;
    float *train_x;             /* train_count images and labels, for the training step */
    int32_t *train_y;
    int64_t train_count;
    const cnnrt_cam_layer *cam; /* the Grad-CAM target layer, NULL without Grad-CAM */
    int64_t cam_index;          /* its index in model->cam_layers */
    const char *data_name;      /* what the images are, for the report */
    /* Outputs, allocated once for the largest batch (alloc_outputs). */
    float *infer_probs;
    float *cam_maps, *cam_max, *cam_probs;
    int32_t *cam_classes;       /* all -1: the predicted class */
    /* The training benchmark's own copy of the weights and Adam state. */
    float *train_params, *train_opt_state;
    int64_t train_steps_done;
} bench;

/* ---- Small helpers ---------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *alloc_floats(int64_t n)
{
    return cnnrt_aligned_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
}

/* xorshift64*: reproducible random numbers for synthetic images and biases. */
static float next_uniform(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (float)((*state * 0x2545F4914F6CDD1Dull) >> 40) * (1.0f / 16777216.0f);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *values, int n)
{
    double sorted[MAX_REPS];
    memcpy(sorted, values, (size_t)n * sizeof(double));
    qsort(sorted, (size_t)n, sizeof(double), compare_doubles);
    return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

static int wants(const options *o, const char *name)
{
    if (!o->only)
        return 1;
    size_t len = strlen(name);
    for (const char *p = o->only; (p = strstr(p, name)) != NULL; p += len)
        if ((p == o->only || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
            return 1;
    return 0;
}

/* ---- Timing ----------------------------------------------------------------------------- */

typedef void (*run_fn)(bench *b, int64_t batch);

/* Sends `perf record --control=fifo:CTL,ACK -D -1` a command ("enable" or "disable") and
 * waits for its acknowledgement, so that a profile holds the timed calls only (no set-up,
 * no data loading). Does nothing without --perf-ctl. */
static void perf_command(const options *o, const char *command)
{
    if (!o->perf_ctl)
        return;
    char ctl[4096];
    snprintf(ctl, sizeof ctl, "%s", o->perf_ctl);
    char *ack = strchr(ctl, ',');
    if (ack)
        *ack++ = '\0';
    FILE *c = fopen(ctl, "w");
    if (!c) {
        fprintf(stderr, "bench_cnnc: cannot open %s: %s\n", ctl, strerror(errno));
        return;
    }
    fprintf(c, "%s\n", command);
    fclose(c);
    FILE *a = ack ? fopen(ack, "r") : NULL;
    if (a) {
        char reply[16];
        if (!fgets(reply, sizeof reply, a))
            fprintf(stderr, "bench_cnnc: no acknowledgement from perf on %s\n", ack);
        fclose(a);
    }
}

/* Warms up, then measures `reps` repetitions of at least o->seconds and 3 calls each, and
 * prints images/s of each and their median. */
static void time_and_report(bench *b, const options *o, const char *name, int64_t batch,
                            run_fn run)
{
    /* Every image run, warm-up included (bench/profile.sh divides a profile's FLOPs by
     * the time of all of them). */
    int64_t images_total = 0;
    perf_command(o, "enable");
    double warm_end = now_seconds() + o->warmup_seconds;
    for (int calls = 0; calls < 2 || now_seconds() < warm_end; calls++, images_total += batch)
        run(b, batch);
    double rates[MAX_REPS];
    for (int r = 0; r < o->reps; r++) {
        int64_t calls = 0;
        double start = now_seconds(), elapsed;
        do {
            run(b, batch);
            calls++;
            elapsed = now_seconds() - start;
        } while (calls < 3 || elapsed < o->seconds);
        rates[r] = (double)(calls * batch) / elapsed;
        images_total += calls * batch;
    }
    perf_command(o, "disable");
    printf("{\"framework\": \"cnnc\", \"bench\": \"%s\", \"batch\": %lld, "
           "\"unit\": \"images/s\", \"median\": %.1f, \"reps\": [", name, (long long)batch,
           median(rates, o->reps));
    for (int r = 0; r < o->reps; r++)
        printf("%s%.1f", r ? ", " : "", rates[r]);
    printf("], \"images_total\": %lld}\n", (long long)images_total);
    fflush(stdout);
}

/* The timed bodies: exactly one call of a compiled entry point each, into output buffers
 * allocated once before timing. */
static void run_infer(bench *b, int64_t batch)
{
    b->model->infer(b->params, b->test_x, batch, b->infer_probs, NULL, b->ws, b->pool);
}

/* Grad-CAM (the Keras recipe's: gradcam, logit score) of the target layer. */
static void run_cam(bench *b, const float *x, int64_t n)
{
    cnnrt_cam_args a = {.params = b->params, .x = x, .classes = b->cam_classes, .n = n,
                        .layer = b->cam_index, .method = CNNRT_CAM_GRADCAM,
                        .score_mode = CNNRT_SCORE_LOGIT, .maps = b->cam_maps,
                        .map_max = b->cam_max, .probs = b->cam_probs, .ws = b->ws,
                        .pool = b->pool};
    if (b->model->gradcam(&a))
        fprintf(stderr, "bench_cnnc: the model refused the Grad-CAM arguments\n");
}

static void run_gradcam(bench *b, int64_t batch)
{
    run_cam(b, b->test_x, batch);
}

static void run_train(bench *b, int64_t batch)
{
    /* Walk through the training images batch by batch, as an epoch does. */
    int64_t batches = b->train_count / batch;
    int64_t first = (b->train_steps_done % batches) * batch;
    float stats[2];
    b->train_steps_done++;
    const float *x = b->train_x + first * b->image_floats;
    b->model->train_step(b->train_params, b->train_opt_state, x, b->train_y + first, batch,
                         b->train_steps_done, (float)b->info.lr, 42u, stats, b->ws, b->pool);
}

/* ---- Setup ------------------------------------------------------------------------------ */

/* The index of a Grad-CAM target layer, or -1. */
static int64_t find_cam(const cnnrt_model *m, const char *layer)
{
    for (int64_t i = 0; m->gradcam && i < m->num_cam_layers; i++)
        if (strcmp(m->cam_layers[i].name, layer) == 0)
            return i;
    return -1;
}

/* Keras's initial weights from the seed, then small random biases instead of zeros, so
 * that the equivalence check also exercises the biases. */
static void init_weights(bench *b, uint64_t seed)
{
    cnnrt_init_params(b->info.params, b->info.num_params, seed, b->params);
    uint64_t state = seed * 2654435761u + 1;
    for (int i = 0; i < b->info.num_params; i++) {
        const cnnrt_param_desc *p = &b->info.params[i];
        size_t len = strlen(p->name);
        if (len >= 5 && strcmp(p->name + len - 5, "/bias") == 0)
            for (int64_t k = 0; k < p->size; k++)
                b->params[p->offset + k] = 0.2f * next_uniform(&state) - 0.1f;
    }
}

static void synthetic_images(float *x, int32_t *labels, int64_t count, int64_t image_floats,
                             int64_t classes, uint64_t seed)
{
    uint64_t state = seed | 1;
    for (int64_t i = 0; i < count * image_floats; i++)
        x[i] = next_uniform(&state);
    for (int64_t i = 0; labels && i < count; i++)
        labels[i] = (int32_t)(next_uniform(&state) * (float)classes) % (int32_t)classes;
}

/* Loads a data split as floats (and int32 labels), or NULL on error (printed). */
static float *load_split(const bench *b, const char *dir, cnnrt_split split, int64_t *count,
                         int32_t **labels)
{
    const cnnrt_model *m = b->model;
    cnnrt_dataset ds;
    cnnrt_err e;
    if (cnnrt_dataset_load_dir(dir, split, m->input_h, m->input_w, m->input_c,
                               m->num_classes, &ds, &e)) {
        fprintf(stderr, "bench_cnnc: %s\n", e.msg);
        return NULL;
    }
    float *x = alloc_floats(ds.count * b->image_floats);
    cnnrt_dataset_to_float(&ds, 0, ds.count, x);
    if (labels) {
        *labels = cnnrt_xmalloc((size_t)ds.count * sizeof(int32_t));
        for (int64_t i = 0; i < ds.count; i++)
            (*labels)[i] = ds.labels[i];
    }
    *count = ds.count;
    cnnrt_dataset_free(&ds);
    return x;
}

static int load_data(bench *b, const options *o)
{
    const cnnrt_model *m = b->model;
    if (o->data_dir) {
        b->test_x = load_split(b, o->data_dir, CNNRT_SPLIT_TEST, &b->test_count, NULL);
        if (!b->test_x)
            return -1;
        b->train_x = load_split(b, o->data_dir, CNNRT_SPLIT_TRAIN, &b->train_count,
                                &b->train_y);
        if (!b->train_x)
            return -1;
        if (b->test_count < MAX_BATCH || b->train_count < MAX_BATCH) {
            fprintf(stderr, "bench_cnnc: %s has too few images (need %d test and train)\n",
                    o->data_dir, MAX_BATCH);
            return -1;
        }
        b->data_name = o->data_dir;
        return 0;
    }
    b->test_count = 256;
    b->test_x = alloc_floats(b->test_count * b->image_floats);
    synthetic_images(b->test_x, NULL, b->test_count, b->image_floats, m->num_classes,
                     o->seed + 1);
    b->train_count = SYNTHETIC_TRAIN_IMAGES;
    b->train_x = alloc_floats(b->train_count * b->image_floats);
    b->train_y = cnnrt_xmalloc((size_t)b->train_count * sizeof(int32_t));
    synthetic_images(b->train_x, b->train_y, b->train_count, b->image_floats, m->num_classes,
                     o->seed + 2);
    b->data_name = "synthetic";
    return 0;
}

static int setup(bench *b, const options *o)
{
    cnnrt_err e;
    memset(b, 0, sizeof *b);
    b->model = &BENCH_MODEL;
    if (cnnrt_model_info_load(b->model, &b->info, &e)) {
        fprintf(stderr, "bench_cnnc: %s\n", e.msg);
        return -1;
    }
    const cnnrt_model *m = b->model;
    const char *layer = o->cam_layer ? o->cam_layer
                        : b->info.gradcam_layer[0] ? b->info.gradcam_layer : "max_pooling2d_1";
    b->cam_index = find_cam(m, layer);
    b->cam = b->cam_index >= 0 ? &m->cam_layers[b->cam_index] : NULL;
    if (!b->cam)
        fprintf(stderr, "bench_cnnc: model '%s' has no Grad-CAM function for layer '%s'; "
                        "the Grad-CAM benchmark is skipped\n", m->name, layer);
    if (!m->infer || !m->train_step)
        fprintf(stderr, "bench_cnnc: model '%s' lacks %s; skipped\n", m->name,
                !m->infer ? "an infer function" : "a train_step function");
    b->pool = cnnrt_pool_create(o->threads, &e);
    if (!b->pool) {
        fprintf(stderr, "bench_cnnc: %s\n", e.msg);
        return -1;
    }
    b->ws = alloc_floats((int64_t)o->threads * m->ws_floats_per_thread);
    b->params = alloc_floats(m->param_floats);
    b->image_floats = m->input_h * m->input_w * m->input_c;
    init_weights(b, o->seed);
    return load_data(b, o);
}

/* Output buffers for the largest batch any benchmark uses. */
static void alloc_outputs(bench *b, int64_t max_batch)
{
    const cnnrt_model *m = b->model;
    b->infer_probs = alloc_floats(max_batch * m->num_classes);
    b->cam_probs = alloc_floats(max_batch * m->num_classes);
    b->cam_max = alloc_floats(max_batch);
    b->cam_classes = cnnrt_xmalloc((size_t)max_batch * sizeof(int32_t));
    for (int64_t i = 0; i < max_batch; i++)
        b->cam_classes[i] = -1;   /* the predicted class, as the Keras recipe */
    b->cam_maps = alloc_floats(max_batch * (b->cam ? b->cam->h * b->cam->w : 1));
    b->train_params = alloc_floats(m->param_floats);
    b->train_opt_state = alloc_floats(m->opt_state_floats);
}

static void run_benchmarks(bench *b, const options *o)
{
    const cnnrt_model *m = b->model;
    printf("{\"framework\": \"cnnc\", \"info\": \"config\", \"model\": \"%s\", "
           "\"threads\": %lld, \"data\": \"%s\", \"cam_layer\": \"%s\"}\n", m->name,
           (long long)cnnrt_pool_threads(b->pool), b->data_name, b->cam ? b->cam->name : "");
    fflush(stdout);
    int64_t sizes[2] = {256, 1}, num_sizes = 2;
    if (o->batch) {
        sizes[0] = o->batch;
        num_sizes = 1;
    }
    if (m->infer && wants(o, "infer"))
        for (int i = 0; i < num_sizes; i++)
            time_and_report(b, o, "infer", sizes[i], run_infer);
    if (b->cam && wants(o, "gradcam"))
        for (int i = num_sizes - 1; i >= 0; i--)
            time_and_report(b, o, "gradcam", sizes[i], run_gradcam);
    if (m->train_step && wants(o, "train")) {
        memcpy(b->train_params, b->params, (size_t)m->param_floats * sizeof(float));
        memset(b->train_opt_state, 0, (size_t)m->opt_state_floats * sizeof(float));
        time_and_report(b, o, "train", o->batch ? o->batch : TRAIN_BATCH, run_train);
    }
}

/* ---- Equivalence check files ------------------------------------------------------------ */

static int write_raw(const char *dir, const char *name, const void *data, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cnnrt_err e;
    if (cnnrt_write_file_atomic(path, data, bytes, &e)) {
        fprintf(stderr, "bench_cnnc: %s\n", e.msg);
        return -1;
    }
    return 0;
}

/* Saves params (and, when opt_state is not NULL, the Adam state m then v) as a weights file. */
static int save_weights(const bench *b, const char *dir, const char *name, const float *params,
                        const float *opt_state)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cnnrt_weights w;
    memset(&w, 0, sizeof w);
    w.fingerprint = b->model->fingerprint;
    snprintf(w.model_name, sizeof w.model_name, "%s", b->model->name);
    w.num_tensors = b->info.num_params;
    w.tensors = b->info.params;
    w.params = (float *)params;
    w.param_floats = b->model->param_floats;
    w.opt_kind = opt_state ? CNNRT_OPT_ADAM : CNNRT_OPT_NONE;
    w.opt_state = (float *)opt_state;
    w.opt_state_floats = opt_state ? b->model->opt_state_floats : 0;
    cnnrt_err e;
    if (cnnrt_weights_save(path, &w, &e)) {
        fprintf(stderr, "bench_cnnc: %s\n", e.msg);
        return -1;
    }
    return 0;
}

/* Writes weights.bin, inputs.f32, labels.i32, probs.f32, b->cam_maps.f32, b->cam_probs.f32,
 * weights_after_train.bin and meta.json into dir. The check images are the first
 * CHECK_IMAGES training images (real labels when --data is given). */
/* Runs CHECK_TRAIN_STEPS training steps from b->params on the check images, saving the
 * weights and Adam state after the first step, and the mean loss of every step. */
static int write_train_check(bench *b, const char *dir, const float *x, const int32_t *labels,
                             int64_t n, float *losses)
{
    const cnnrt_model *m = b->model;
    /* After one step the Adam state is m = (1 - beta_1) g and v = (1 - beta_2) g^2: the
     * gradients themselves, which is what the check compares. The weights say less:
     * Adam's step m / (sqrt(v) + eps) is about +-lr whatever the size of the gradient, so
     * where a gradient is near zero a rounding difference can change the step by up to lr,
     * and later steps then start from slightly different weights. */
    int adam = b->info.optimizer == CNNRT_OPT_ADAM &&
               m->opt_state_floats == 2 * m->param_floats;
    memcpy(b->train_params, b->params, (size_t)m->param_floats * sizeof(float));
    memset(b->train_opt_state, 0, (size_t)m->opt_state_floats * sizeof(float));
    for (int64_t step = 1; step <= CHECK_TRAIN_STEPS; step++) {
        float stats[2] = {0, 0};
        m->train_step(b->train_params, b->train_opt_state, x, labels, n, step,
                      (float)b->info.lr, 42u, stats, b->ws, b->pool);
        losses[step - 1] = stats[0] / (float)n;
        if (step == 1 && save_weights(b, dir, "weights_after_step1.bin", b->train_params,
                                      adam ? b->train_opt_state : NULL))
            return -1;
    }
    return 0;
}

/* Writes weights.bin, inputs.f32, labels.i32, probs.f32, cam_maps.f32, cam_probs.f32,
 * weights_after_step1.bin and meta.json into dir. The check images are the first
 * CHECK_IMAGES training images (real labels when --data is given). */
static int write_check_files(bench *b, const char *dir)
{
    const cnnrt_model *m = b->model;
    const int64_t n = CHECK_IMAGES;
    const float *x = b->train_x;
    const int32_t *labels = b->train_y;
    float losses[CHECK_TRAIN_STEPS];
    size_t input_bytes = (size_t)(n * b->image_floats) * sizeof(float);
    int ok = save_weights(b, dir, "weights.bin", b->params, NULL) == 0 &&
             write_raw(dir, "inputs.f32", x, input_bytes) == 0 &&
             write_raw(dir, "labels.i32", labels, (size_t)n * sizeof(int32_t)) == 0;
    if (ok && m->infer) {
        m->infer(b->params, x, n, b->infer_probs, NULL, b->ws, b->pool);
        ok = write_raw(dir, "probs.f32", b->infer_probs,
                       (size_t)(n * m->num_classes) * sizeof(float)) == 0;
    }
    if (ok && b->cam) {
        run_cam(b, x, n);
        ok = write_raw(dir, "cam_maps.f32", b->cam_maps,
                       (size_t)(n * b->cam->h * b->cam->w) * sizeof(float)) == 0 &&
             write_raw(dir, "cam_probs.f32", b->cam_probs,
                       (size_t)(n * m->num_classes) * sizeof(float)) == 0;
    }
    if (ok && m->train_step)
        ok = write_train_check(b, dir, x, labels, n, losses) == 0;
    if (!ok)
        return -1;
    char meta[2048];
    int len = snprintf(meta, sizeof meta,
                       "{\"model\": \"%s\", \"n\": %lld, \"cam\": %d, \"cam_layer\": \"%s\", "
                       "\"cam_h\": %lld, \"cam_w\": %lld, \"train\": %d, \"data\": \"%s\", "
                       "\"train_losses\": [",
                       m->name, (long long)n, b->cam != NULL, b->cam ? b->cam->name : "",
                       (long long)(b->cam ? b->cam->h : 0), (long long)(b->cam ? b->cam->w : 0),
                       m->train_step != NULL, b->data_name);
    for (int i = 0; m->train_step && i < CHECK_TRAIN_STEPS; i++)
        len += snprintf(meta + len, sizeof meta - (size_t)len, "%s%.9g", i ? ", " : "",
                        (double)losses[i]);
    len += snprintf(meta + len, sizeof meta - (size_t)len, "]}\n");
    return write_raw(dir, "meta.json", meta, (size_t)len);
}

static void teardown(bench *b)
{
    free(b->infer_probs);
    free(b->cam_maps);
    free(b->cam_max);
    free(b->cam_probs);
    free(b->cam_classes);
    free(b->train_params);
    free(b->train_opt_state);
    free(b->ws);
    free(b->params);
    free(b->test_x);
    free(b->train_x);
    free(b->train_y);
    cnnrt_pool_destroy(b->pool);
    cnnrt_model_info_free(&b->info);
}

/* ---- Command line ----------------------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: bench_cnnc [--threads N] [--reps N] [--seconds S] [--warmup S]\n"
            "                  [--data DIR] [--only infer,gradcam,train] [--batch N]\n"
            "                  [--layer NAME] [--perf-ctl CTL_FIFO,ACK_FIFO]\n"
            "                  [--seed N] [--check-dir DIR]\n"
            "Times the compiled model's infer, train_step (batch 64) and Grad-CAM entry\n"
            "points; prints JSON lines. --data: IDX files (default: synthetic images).\n"
            "--check-dir: write weights, inputs and outputs for pytorch_mnist.py check.\n");
}

static int parse_number(const char *flag, const char *text, double min, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= min)) {
        fprintf(stderr, "bench_cnnc: %s needs a number >= %g, not '%s'\n", flag, min, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_whole(const char *flag, const char *text, double min, double max,
                       double *out)
{
    if (parse_number(flag, text, min, out))
        return -1;
    if (*out > max || *out != (double)(int64_t)*out) {
        fprintf(stderr, "bench_cnnc: %s needs a whole number from %g to %g, not '%s'\n", flag,
                min, max, text);
        return -1;
    }
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.threads = 2, .reps = 5, .seconds = 1.0, .warmup_seconds = 0.5, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_cnnc: unknown option or missing value: %s\n", flag);
            usage(stderr);
            return -1;
        }
        const char *value = argv[++i];
        double v = 0;
        if (strcmp(flag, "--data") == 0) {
            o->data_dir = value;
        } else if (strcmp(flag, "--check-dir") == 0) {
            o->check_dir = value;
        } else if (strcmp(flag, "--only") == 0) {
            o->only = value;
        } else if (strcmp(flag, "--batch") == 0) {
            if (parse_whole(flag, value, 1, MAX_BATCH, &v))
                return -1;
            o->batch = (int64_t)v;
        } else if (strcmp(flag, "--perf-ctl") == 0) {
            o->perf_ctl = value;
        } else if (strcmp(flag, "--layer") == 0) {
            o->cam_layer = value;
        } else if (strcmp(flag, "--threads") == 0) {
            if (parse_whole(flag, value, 1, 1024, &v))
                return -1;
            o->threads = (int)v;
        } else if (strcmp(flag, "--reps") == 0) {
            if (parse_whole(flag, value, 1, MAX_REPS, &v))
                return -1;
            o->reps = (int)v;
        } else if (strcmp(flag, "--seed") == 0) {
            if (parse_whole(flag, value, 0, 1e15, &v))
                return -1;
            o->seed = (uint64_t)v;
        } else if (strcmp(flag, "--seconds") == 0) {
            if (parse_number(flag, value, 0, &o->seconds))
                return -1;
        } else if (strcmp(flag, "--warmup") == 0) {
            if (parse_number(flag, value, 0, &o->warmup_seconds))
                return -1;
        } else {
            fprintf(stderr, "bench_cnnc: unknown option %s\n", flag);
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o))
        return 2;
    bench b;
    if (setup(&b, &o)) {
        teardown(&b);
        return 1;
    }
    alloc_outputs(&b, b.test_count > CHECK_IMAGES ? b.test_count : CHECK_IMAGES);
    int rc = 0;
    if (o.check_dir)
        rc = write_check_files(&b, o.check_dir) ? 1 : 0;
    else
        run_benchmarks(&b, &o);
    teardown(&b);
    return rc;
}
