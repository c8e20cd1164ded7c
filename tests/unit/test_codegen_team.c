/* One image split over a team of threads (cnnrt_parallel_team): a call with fewer images
 * than threads splits each convolution's output rows over them. Each output element is
 * computed by one thread with the same summation order whatever the split, so inference,
 * Grad-CAM and guided backpropagation give bit-identical results on 1, 2 and 3 threads, at
 * -O0 and -O2 -- and the same results as the interpreter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "codegen_common.h"

/* 'same' padding (a padded copy split by rows), a strided conv, a conv whose 5 rows do not
 * divide by 2 or 3, a conv with 3 filters (the untiled loops), and a tail tile (width 7). */
static const char *const team_model =
    "model team\n"
    "input shape=14x7x2\n"
    "conv2d filters=16 kernel=3 padding=same activation=relu\n"
    "conv2d filters=8 kernel=3 strides=2 padding=same activation=relu\n"
    "conv2d filters=3 kernel=2 padding=valid\n"
    "max_pool2d pool_size=2 padding=same\n"
    "flatten\n"
    "dense units=4\n"
    "softmax\n";

/* probs and logits of n images on `threads` threads (1: no pool). */
static void infer_on(const cnnrt_model *m, const float *params, const float *x, int64_t n,
                     int threads, float *probs, float *logits)
{
    cnnrt_err e;
    cnnrt_pool *pool = threads > 1 ? cnnrt_pool_create(threads, &e) : NULL;
    float *ws = cg_workspace(m, threads);
    m->infer(params, x, n, probs, logits, ws, pool);
    cnnrt_pool_destroy(pool);
    free(ws);
}

/* Grad-CAM at target layer t (maps, map_max, probs) and guided backpropagation (input
 * gradients) of n images on `threads` threads, into out (laid out as the sizes say). */
static void cams_on(const cnnrt_model *m, const float *params, const float *x, int64_t n,
                    int64_t t, int threads, float *maps, float *maxs, float *probs,
                    float *grads)
{
    cnnrt_err e;
    cnnrt_pool *pool = threads > 1 ? cnnrt_pool_create(threads, &e) : NULL;
    float *ws = cg_workspace(m, threads);
    int32_t classes[2] = {-1, 1};
    cnnrt_cam_args a = {params, x, classes, n, t, 0, 0, maps, maxs, probs, ws, pool};
    assert_int_equal(m->gradcam(&a), 0);
    cnnrt_guided_args g = {params, x, classes, n, 0, grads, NULL, ws, pool};
    assert_int_equal(m->guided_backprop(&g), 0);
    cnnrt_pool_destroy(pool);
    free(ws);
}

static void check_infer(const cnnrt_model *m, const float *params, const float *x, int64_t n)
{
    size_t out = (size_t)(n * m->num_classes) * sizeof(float);
    float *probs[3], *logits[3];
    for (int t = 0; t < 3; t++) {
        probs[t] = calloc(1, out);
        logits[t] = calloc(1, out);
        infer_on(m, params, x, n, t + 1, probs[t], logits[t]);
    }
    for (int t = 1; t < 3; t++) {
        assert_memory_equal(probs[t], probs[0], out);
        assert_memory_equal(logits[t], logits[0], out);
    }
    for (int t = 0; t < 3; t++) {
        free(probs[t]);
        free(logits[t]);
    }
}

static void check_cams(const cnnrt_model *m, const float *params, const float *x, int64_t n)
{
    int64_t K = m->num_classes, img = cg_image_floats(m);
    for (int64_t layer = 0; layer < m->num_cam_layers; layer++) {
        int64_t hw = m->cam_layers[layer].h * m->cam_layers[layer].w;
        float *maps[2], *maxs[2], *probs[2], *grads[2];
        for (int t = 0; t < 2; t++) {
            maps[t] = calloc((size_t)(n * hw), sizeof(float));
            maxs[t] = calloc((size_t)n, sizeof(float));
            probs[t] = calloc((size_t)(n * K), sizeof(float));
            grads[t] = calloc((size_t)(n * img), sizeof(float));
            cams_on(m, params, x, n, layer, t + 1, maps[t], maxs[t], probs[t], grads[t]);
        }
        assert_memory_equal(maps[1], maps[0], (size_t)(n * hw) * sizeof(float));
        assert_memory_equal(maxs[1], maxs[0], (size_t)n * sizeof(float));
        assert_memory_equal(probs[1], probs[0], (size_t)(n * K) * sizeof(float));
        assert_memory_equal(grads[1], grads[0], (size_t)(n * img) * sizeof(float));
        for (int t = 0; t < 2; t++) {
            free(maps[t]);
            free(maxs[t]);
            free(probs[t]);
            free(grads[t]);
        }
    }
}

static void check_model(cg_case *c, int opt)
{
    cg_jit(c, opt, CNNC_GEN_INFER | CNNC_GEN_CAMS);
    const cnnrt_model *m = c->m;
    float *params = cg_random(m->param_floats, -0.3f, 0.3f);
    float *x = cg_random(2 * cg_image_floats(m), 0.0f, 1.0f);
    check_infer(m, params, x, 1);   /* teams of 2 and 3 against one thread */
    check_infer(m, params, x, 2);   /* 3 threads: a team of 3 runs 2 images in turn */
    check_cams(m, params, x, 1);
    free(params);
    free(x);
    /* And the same as the interpreter, at batch 1 on 2 threads. */
    cg_check_infer(c, 1, 2, opt == 0 ? 1e-5 : 1e-4, 0.1f);
}

static void test_team_model(void **state)
{
    (void)state;
    for (int opt = 0; opt <= 2; opt += 2) {
        cg_case c;
        cg_compile_text(&c, team_model);
        check_model(&c, opt);
        cg_case_free(&c);
    }
}

static void test_team_mnist(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/models/mnist.cnn", CNNC_SOURCE_DIR);
    cg_case c;
    cg_compile_file(&c, path);
    check_model(&c, 2);
    cg_case_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_team_model),
        cmocka_unit_test(test_team_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
