/* Autodiff and Grad-CAM on every model in models/ (parsed by the front end): the
 * training graph fuses softmax with the cross-entropy, its parameter gradients agree with
 * finite differences, a few interpreter training steps on one batch lower the loss, and
 * every Grad-CAM method builds and runs on the default layer without NaN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "autodiff.h"
#include "frontend.h"
#include "gradcheck.h"
#include "interp.h"
#include "testgraph.h"

#ifndef CNNC_SOURCE_DIR
#define CNNC_SOURCE_DIR "."
#endif

enum { MAX_MODELS = 32 };

/* Under AddressSanitizer at -O0 the interpreter runs a model ~20x slower (0.2-0.5 s per
 * training run), so the sanitizer build (which is there to catch memory errors) runs
 * every path once with less numerical checking; the normal build checks it all. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static int list_models(char paths[MAX_MODELS][512])
{
    DIR *dir = opendir(CNNC_SOURCE_DIR "/models");
    if (!dir)
        fail_msg("cannot open %s/models", CNNC_SOURCE_DIR);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && n < MAX_MODELS) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".cnn") == 0)
            snprintf(paths[n++], 512, "%s/models/%s", CNNC_SOURCE_DIR, e->d_name);
    }
    closedir(dir);
    assert_true(n > 0);
    return n;
}

static cnnc_graph *compile(const char *path, cnnc_diag *d)
{
    cnnc_diag_init(d, path, NULL, 0);
    cnnc_graph *g = cnnc_compile_file(path, d);
    if (!g)
        fail_msg("%s does not compile", path);
    return g;
}

static void test_models_gradients(void **state)
{
    (void)state;
    char paths[MAX_MODELS][512];
    int n = list_models(paths);
    for (int m = 0; m < n; m++) {
        cnnc_diag d;
        cnnc_graph *g = compile(paths[m], &d);
        cnnc_graph *train = cnnc_build_train_graph(g, &d);
        if (!train)
            fail_msg("%s: no training graph", paths[m]);
        int loss = cnnc_graph_find_output(train, CNNC_OUT_LOSS);
        int probs = cnnc_graph_find_output(train, CNNC_OUT_PROBS);
        if (train->train.loss == CNNRT_LOSS_CATEGORICAL_CROSSENTROPY &&
            train->nodes[probs].op == CNNC_OP_SOFTMAX)
            assert_int_equal(train->nodes[loss].op, CNNC_OP_SOFTMAX_XENT);

        float *params = tg_random_params(train, 3 + (uint64_t)m, 0.15f);
        int64_t image_floats = cnnc_shape_size(train->nodes[train->input_node].shape);
        float *image = malloc((size_t)image_floats * sizeof *image);
        tg_fill(image, image_floats, 17, 0, 1);
        cnnc_gradcheck gc;
        cnnc_gradcheck_defaults(&gc);
        gc.max_per_param = 3;
        gc.refine = 3;   /* kinks: see gradcheck.h */
        gc.label = 3;
        gc.seed = 5;
        if (!SANITIZED && cnnc_gradcheck_train(train, params, image, &gc, &d) != 0)
            fail_msg("%s: %d of %d gradient elements disagree, worst %s", paths[m], gc.failed,
                     gc.checked, gc.worst);
        /* All weights moved at once: kinks of ReLU and max pooling make this noisier. */
        double analytic, numeric;
        gc.h = 1e-4;
        assert_int_equal(cnnc_gradcheck_direction(train, params, image, &gc, 9, &analytic,
                                                  &numeric, &d), 0);
        if (!(fabs(analytic - numeric) <= 1e-3 + 5e-2 * fabs(numeric)))
            fail_msg("%s: directional derivative %.6g, finite difference %.6g", paths[m],
                     analytic, numeric);
        free(image);
        free(params);
        cnnc_graph_free(train);
        cnnc_graph_free(g);
    }
}

/* Eight training steps on one batch of 4 random images must lower that batch's loss. */
static void test_models_train_steps_lower_the_loss(void **state)
{
    (void)state;
    char paths[MAX_MODELS][512];
    int n = list_models(paths);
    for (int m = 0; m < n; m++) {
        cnnc_diag d;
        cnnc_graph *g = compile(paths[m], &d);
        cnnc_graph *train = cnnc_build_train_graph(g, &d);
        assert_non_null(train);
        float *params = tg_random_params(train, 30 + (uint64_t)m, 0.1f);
        int64_t opt_floats = cnnc_graph_opt_state_floats(train);
        float *opt = calloc((size_t)opt_floats, sizeof *opt);
        int64_t image_floats = cnnc_shape_size(train->nodes[train->input_node].shape);
        enum { N = 4 };
        const int steps = SANITIZED ? 2 : 8;
        float *x = malloc((size_t)(N * image_floats) * sizeof *x);
        tg_fill(x, N * image_floats, 50, 0, 1);
        int32_t labels[N];
        for (int i = 0; i < N; i++)
            labels[i] = i % g->num_classes;
        float first = 0, last = 0, stats[2];
        for (int step = 1; step <= steps; step++) {
            assert_int_equal(cnnc_interp_train_step(train, params, opt, x, labels, N, step,
                                                    (float)train->train.lr, 7, stats, &d), 0);
            assert_true(isfinite(stats[0]));
            if (step == 1)
                first = stats[0];
            last = stats[0];
        }
        if (!SANITIZED && !(last < first))
            fail_msg("%s: loss %g after %d steps, %g at the first", paths[m], last, steps,
                     first);
        free(x);
        free(opt);
        free(params);
        cnnc_graph_free(train);
        cnnc_graph_free(g);
    }
}

static void test_models_every_cam_method_runs(void **state)
{
    (void)state;
    char paths[MAX_MODELS][512];
    int n = list_models(paths);
    for (int m = 0; m < n; m++) {
        cnnc_diag d;
        cnnc_graph *g = compile(paths[m], &d);
        int layer = cnnc_default_cam_layer(g);
        assert_true(layer >= 0);
        float *params = tg_random_params(g, 70 + (uint64_t)m, 0.2f);
        /* batch_norm's moving variances are variances: positive (else sqrt gives NaN). */
        for (int p = 0; p < g->num_params; p++) {
            const char *slash = strrchr(g->params[p].name, '/');
            for (int64_t i = 0; slash && !strcmp(slash, "/moving_variance") &&
                                i < g->params[p].size; i++)
                params[g->params[p].offset + i] = 1.0f + fabsf(params[g->params[p].offset + i]);
        }
        int64_t image_floats = cnnc_shape_size(g->nodes[g->input_node].shape);
        float *x = malloc((size_t)(2 * image_floats) * sizeof *x);
        float *grads = malloc((size_t)(2 * image_floats) * sizeof *grads);
        tg_fill(x, 2 * image_floats, 60, 0, 1);
        cnnc_graph *cam = cnnc_build_cam_graph(g, &layer, 1, &d);
        if (!cam)
            fail_msg("%s: no Grad-CAM graph", paths[m]);
        int64_t map = cnnc_shape_size(g->layers[layer].shape) / g->layers[layer].shape.dim[2];
        float *maps = malloc((size_t)(2 * map) * sizeof *maps);
        float map_max[2];
        float *probs = malloc((size_t)(2 * g->num_classes) * sizeof *probs);
        int32_t classes[2] = {-1, 1};
        const int images = SANITIZED ? 1 : 2;
        for (int method = 0; method < CNNRT_CAM_METHOD_COUNT; method++)
            for (int mode = 0; mode < (SANITIZED ? 1 : 2); mode++) {
                assert_int_equal(cnnc_interp_gradcam(cam, params, x, classes, images, 0, method,
                                                     mode, maps, map_max, probs, &d), 0);
                for (int64_t i = 0; i < images * map; i++)
                    assert_true(maps[i] >= 0 && maps[i] <= 1);   /* false for NaN */
            }
        free(maps);
        free(probs);
        cnnc_graph_free(cam);
        cnnc_graph *guided = cnnc_build_guided_graph(g, &d);
        if (!guided)
            fail_msg("%s: no guided backpropagation graph", paths[m]);
        assert_int_equal(cnnc_interp_guided(guided, params, x, classes, images, 0, grads, NULL,
                                            &d), 0);
        for (int64_t i = 0; i < images * image_floats; i++)
            assert_false(isnan(grads[i]));
        cnnc_graph_free(guided);
        free(grads);
        free(x);
        free(params);
        cnnc_graph_free(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_gradients),
        cmocka_unit_test(test_models_train_steps_lower_the_loss),
        cmocka_unit_test(test_models_every_cam_method_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
