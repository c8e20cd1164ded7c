/* BatchNormalization: the layer's weights and summary counts, the training forward pass
 * against a plain computation over the batch, finite-difference gradients over a batch
 * (the batch couples the images), the moving statistics over two steps against a hand
 * computation, the folded inference graph against the unfolded one, and the generated
 * inference, Grad-CAM and training code (phased at the batch statistics) against the
 * interpreter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "batch_norm.h"
#include "bridge.h"
#include "codegen_common.h"
#include "gradcheck.h"

static int param_index(const cnnc_graph *g, const char *name)
{
    for (int p = 0; p < g->num_params; p++)
        if (strcmp(g->params[p].name, name) == 0)
            return p;
    fail_msg("no weights '%s'", name);
    return -1;
}

/* Random weights, with every moving variance in [0.5, 2] (a variance is positive). */
static float *bn_params(const cnnc_graph *g)
{
    float *p = cg_random(g->param_floats, -0.8f, 0.8f);
    for (int k = 0; k < g->num_params; k++) {
        size_t len = strlen(g->params[k].name);
        if (len > 16 && strcmp(g->params[k].name + len - 16, "/moving_variance") == 0)
            for (int64_t i = 0; i < g->params[k].size; i++)
                p[g->params[k].offset + i] = cg_uniform(0.5f, 2.0f);
    }
    return p;
}

static const char *const bn_model =
    "input shape=5x5x2\n"
    "conv2d filters=3 kernel=3 padding=same use_bias=false\n"
    "batch_norm\n"
    "relu\n"
    "max_pool2d\n"
    "flatten\n"
    "dense units=4\n"
    "batch_norm momentum=0.9 epsilon=0.01\n"
    "relu\n"
    "dense units=3\n"
    "softmax\n";

static void test_layer_weights_and_summary(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, bn_model);
    const cnnc_graph *g = c.g;
    int bn = cnnc_graph_find_layer(g, "batch_normalization");
    assert_true(bn >= 0);
    assert_string_equal(g->layers[bn].type, "BatchNormalization");
    assert_int_equal(g->layers[bn].params, 4 * 3);     /* Keras's Param #: 4C */
    static const char *const order[] = {"gamma", "beta", "moving_mean", "moving_variance"};
    static const cnnc_init inits[] = {CNNC_INIT_ONES, CNNC_INIT_ZEROS, CNNC_INIT_ZEROS,
                                      CNNC_INIT_ONES};
    int first = param_index(g, "batch_normalization/gamma");
    for (int k = 0; k < 4; k++) {
        char name[64];
        snprintf(name, sizeof name, "batch_normalization/%s", order[k]);
        assert_int_equal(param_index(g, name), first + k);   /* get_weights() order */
        assert_int_equal(g->params[first + k].init, inits[k]);
        assert_int_equal(g->params[first + k].non_trainable, k >= 2);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cnnc_graph_summary(g, out);
    fclose(out);
    /* conv 54, bn 12 (6 frozen), dense 52, bn 16 (8 frozen), dense 15 */
    assert_non_null(strstr(text, "Total params: 149"));
    assert_non_null(strstr(text, "Trainable params: 135"));
    assert_non_null(strstr(text, "Non-trainable params: 14"));
    free(text);
    cg_case_free(&c);
}

static void test_keys_checked(void **state)
{
    (void)state;
    cg_case c;
    cg_case_init(&c);
    const char *bad = "input shape=4x4x1\nbatch_norm momentum=1.5\nflatten\ndense units=2\n";
    assert_null(cnnc_compile_source(bad, strlen(bad), "test.cnn", &c.d));
    assert_non_null(strstr(cg_diag(&c), "momentum"));
    cg_case_free(&c);
}

/* Runs the training graph on n images at once; values[b] are image b's. */
static float ***run_train(const cnnc_graph *train, const float *params, const float *x,
                          const int32_t *labels, int n, cnnc_diag *d)
{
    float ***values = calloc((size_t)n, sizeof *values);
    cnnc_interp_ctx *ctxs = calloc((size_t)n, sizeof *ctxs);
    for (int b = 0; b < n; b++) {
        values[b] = cnnc_interp_alloc_values(train);
        ctxs[b] = (cnnc_interp_ctx){1, 1, b, CNNRT_SCORE_LOGIT, labels[b], NULL};
    }
    if (cnnc_interp_run_batch(train, params, x, n, ctxs, values, d))
        fail_msg("run_batch failed");
    free(ctxs);
    return values;
}

/* The plain definition over the batch: per channel, the mean and the biased variance over
 * every image and pixel, y = gamma (x - mean) / sqrt(var + eps) + beta. */
static void test_training_forward_uses_batch_statistics(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, "input shape=3x4x2\nbatch_norm epsilon=0.01\nflatten\n"
                        "dense units=3\nsoftmax\n");
    cnnc_graph *train = cnnc_build_train_graph(c.g, &c.d);
    assert_non_null(train);
    enum { N = 3, HW = 12, C = 2 };
    float *params = bn_params(train);
    float *x = cg_random(N * HW * C, -1.0f, 2.0f);
    int32_t labels[N] = {0, 2, 1};
    float ***values = run_train(train, params, x, labels, N, &c.d);
    int bn = cnnc_graph_find_layer(train, "batch_normalization");
    int out = train->layers[bn].output_node;
    const float *gamma = params + train->params[param_index(train, "batch_normalization/gamma")].offset;
    const float *beta = params + train->params[param_index(train, "batch_normalization/beta")].offset;
    for (int ch = 0; ch < C; ch++) {
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < N * HW; i++)
            mean += x[i * C + ch];
        mean /= N * HW;
        for (int i = 0; i < N * HW; i++)
            var += (x[i * C + ch] - mean) * (x[i * C + ch] - mean);
        var /= N * HW;
        for (int b = 0; b < N; b++)
            for (int p = 0; p < HW; p++) {
                double want = gamma[ch] * (x[(b * HW + p) * C + ch] - mean) / sqrt(var + 0.01) +
                              beta[ch];
                double got = values[b][out][p * C + ch];
                if (fabs(got - want) > 1e-5)
                    fail_msg("image %d pixel %d channel %d: %.7g, want %.7g", b, p, ch, got,
                             want);
            }
    }
    for (int b = 0; b < N; b++)
        cnnc_interp_free_values(train, values[b]);
    free(values);
    free(params);
    free(x);
    cnnc_graph_free(train);
    cg_case_free(&c);
}

/* The gradient of the batch's summed loss: every weight by central differences and the
 * directional check, over a batch of four images (one image would not see the coupling). */
static void test_gradients_over_a_batch(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, bn_model);
    cnnc_graph *train = cnnc_build_train_graph(c.g, &c.d);
    if (!train)
        fail_msg("%s", cg_diag(&c));
    enum { N = 4 };
    float *params = bn_params(train);
    float *x = cg_random(N * 5 * 5 * 2, 0.0f, 1.0f);
    int32_t labels[N] = {0, 1, 2, 1};
    cnnc_gradcheck gc;
    cnnc_gradcheck_defaults(&gc);
    gc.batch = N;
    gc.labels = labels;
    gc.refine = 4;
    int rc = cnnc_gradcheck_train(train, params, x, &gc, &c.d);
    if (rc != 0)
        fail_msg("%d of %d disagree, worst %s\n%s", gc.failed, gc.checked, gc.worst,
                 cg_diag(&c));
    assert_true(gc.checked > 100);
    double analytic, numeric;
    assert_int_equal(cnnc_gradcheck_direction(train, params, x, &gc, 7, &analytic, &numeric,
                                              &c.d), 0);
    if (fabs(analytic - numeric) > 1e-2 * fmax(1.0, fabs(numeric)))
        fail_msg("directional: analytic %.7g numeric %.7g", analytic, numeric);
    free(params);
    free(x);
    cnnc_graph_free(train);
    cg_case_free(&c);
}

/* batch_norm on the image itself: its batch statistics are those of the pictures, so the
 * moving statistics after two steps follow from Keras's formula by hand, whatever the
 * optimizer does to the other weights. */
static void test_moving_statistics_two_steps(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, "input shape=2x2x1\nbatch_norm momentum=0.9\nflatten\n"
                        "dense units=2\nsoftmax\ncompile optimizer=sgd lr=0.5\n");
    cnnc_graph *train = cnnc_build_train_graph(c.g, &c.d);
    assert_non_null(train);
    float *params = cnnc_initial_params(train, 3);
    int mm = (int)train->params[param_index(train, "batch_normalization/moving_mean")].offset;
    int mv = (int)train->params[param_index(train, "batch_normalization/moving_variance")].offset;
    int gamma = (int)train->params[param_index(train, "batch_normalization/gamma")].offset;
    assert_true(params[mm] == 0.0f && params[mv] == 1.0f && params[gamma] == 1.0f);
    float batch1[2 * 4] = {0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f};
    float batch2[3 * 4] = {1.0f, 1.0f, 1.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 2.0f, 2.0f, 2.0f, 2.0f};
    int32_t labels[3] = {0, 1, 0};
    float stats[2];
    float *opt_state = calloc((size_t)cnnc_graph_opt_state_floats(train) + 1, sizeof(float));
    if (cnnc_interp_train_step(train, params, opt_state, batch1, labels, 2, 1, 0.5f, 1,
                               stats, &c.d))
        fail_msg("%s", cg_diag(&c));
    /* batch 1: mean 3.5, biased variance 5.25 */
    float m1 = 0.0f * 0.9f + 3.5f * (1.0f - 0.9f), v1 = 1.0f * 0.9f + 5.25f * (1.0f - 0.9f);
    assert_float_equal(params[mm], m1, 1e-6);
    assert_float_equal(params[mv], v1, 1e-6);
    assert_true(params[gamma] != 1.0f);   /* gamma is trained, the statistics are not */
    assert_int_equal(cnnc_interp_train_step(train, params, opt_state, batch2, labels, 3, 2, 0.5f, 1,
                                            stats, &c.d), 0);
    /* batch 2: mean 1, biased variance 2/3 */
    assert_float_equal(params[mm], m1 * 0.9f + 1.0f * (1.0f - 0.9f), 1e-6);
    assert_float_equal(params[mv], v1 * 0.9f + (2.0f / 3.0f) * (1.0f - 0.9f), 1e-6);
    free(opt_state);
    free(params);
    cnnc_graph_free(train);
    cg_case_free(&c);
}

static int count_ops(const cnnc_graph *g, cnnc_op op)
{
    int n = 0;
    for (int i = 0; i < g->num_nodes; i++)
        n += g->nodes[i].op == op;
    return n;
}

/* The folded inference graph (conv2d and dense with the normalisation in their weights)
 * computes what the forward graph computes with the moving statistics. */
static void test_folding_equals_unfolded(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, "input shape=6x6x2\nconv2d filters=4 kernel=3\nbatch_norm\nrelu\n"
                        "flatten\ndense units=5 use_bias=false\nbatch_norm center=false\n"
                        "dense units=3\nbatch_norm scale=false\nsoftmax\n");
    cnnc_graph *folded = cnnc_build_infer_graph(c.g, &c.d);
    assert_non_null(folded);
    assert_int_equal(count_ops(folded, CNNC_OP_BATCH_MEAN), 0);
    int folded_weighted = 0;
    for (int i = 0; i < folded->num_nodes; i++) {
        const cnnc_node *n = &folded->nodes[i];
        if (n->op == CNNC_OP_CONV2D || n->op == CNNC_OP_DENSE) {
            assert_int_not_equal(folded->nodes[n->inputs[1]].op, CNNC_OP_PARAM);
            folded_weighted++;
        }
    }
    assert_int_equal(folded_weighted, 3);
    enum { N = 3 };
    float *params = bn_params(c.g);
    float *x = cg_random(N * 6 * 6 * 2, 0.0f, 1.0f);
    float want[N * 3], got[N * 3], want_logits[N * 3], got_logits[N * 3];
    assert_int_equal(cnnc_interp_infer(c.g, params, x, N, want, want_logits, &c.d), 0);
    assert_int_equal(cnnc_interp_infer(folded, params, x, N, got, got_logits, &c.d), 0);
    cg_assert_close("folded logits", got_logits, want_logits, N * 3, 1e-5);
    cg_assert_close("folded probs", got, want, N * 3, 1e-5);
    free(params);
    free(x);
    cnnc_graph_free(folded);
    cg_case_free(&c);
}

/* The generated inference (folded) and Grad-CAM (moving statistics) programs against the
 * interpreter on the forward graph. */
static void test_generated_inference_equals_interpreter(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, bn_model);
    cg_jit(&c, 2, CNNC_GEN_INFER | CNNC_GEN_CAMS);
    const cnnrt_model *m = c.m;
    enum { N = 5 };
    float *params = bn_params(c.g);
    float *x = cg_random(N * cg_image_floats(m), 0.0f, 1.0f);
    float want[N * 3], got[N * 3], want_logits[N * 3], got_logits[N * 3];
    assert_int_equal(cnnc_interp_infer(c.g, params, x, N, want, want_logits, &c.d), 0);
    float *ws = cg_workspace(m, 1);
    m->infer(params, x, N, got, got_logits, ws, NULL);
    cg_assert_close("logits", got_logits, want_logits, N * 3, 1e-4);
    cg_assert_close("probs", got, want, N * 3, 1e-4);

    /* Grad-CAM on the first relu (after the first batch_norm). */
    int layers[1] = {cnnc_graph_find_layer(c.g, "relu")};
    cnnc_graph *cam = cnnc_build_cam_graph(c.g, layers, 1, &c.d);
    assert_non_null(cam);
    int64_t target = -1;
    for (int64_t t = 0; t < m->num_cam_layers; t++)
        if (strcmp(m->cam_layers[t].name, "relu") == 0)
            target = t;
    assert_true(target >= 0);
    float want_maps[N * 25], got_maps[N * 25];
    assert_int_equal(cnnc_interp_gradcam(cam, params, x, NULL, N, 0, CNNRT_CAM_GRADCAM,
                                         CNNRT_SCORE_LOGIT, want_maps, NULL, NULL, &c.d), 0);
    cnnrt_cam_args args = {params, x, NULL, N, target, CNNRT_CAM_GRADCAM, CNNRT_SCORE_LOGIT,
                           got_maps, NULL, NULL, ws, NULL};
    assert_int_equal(m->gradcam(&args), 0);
    cg_assert_close("gradcam", got_maps, want_maps, N * 25, 1e-4);
    cnnc_graph_free(cam);
    free(ws);
    free(params);
    free(x);
    cg_case_free(&c);
}

/* The generated training step (phases between the batch statistics) against the
 * interpreter's over a few steps: weights (the moving statistics included), optimizer state
 * and stats, on one and two threads, at -O0 and -O2. The batch size changes from step to
 * step: the batch arena the runtime keeps from step to step is reused. */
static void check_generated_training(const char *text, int opt_level, int threads, int64_t n,
                                     int steps)
{
    cg_case c;
    cg_compile_text(&c, text);
    cg_jit(&c, opt_level, CNNC_GEN_INFER | CNNC_GEN_TRAIN);
    cg_train_comparison t = {bn_params(c.g), calloc((size_t)c.m->opt_state_floats + 1,
                                                    sizeof(float)),
                             n, steps, threads, 2, 0.01f};
    cg_compare_training(&c, &t);
    cg_case_free(&c);
}

static void test_generated_training_equals_interpreter(void **state)
{
    (void)state;
    /* SGD: a bias right before a batch_norm has a zero gradient up to rounding, which Adam
     * would blow up to steps of lr in either direction. */
    char text[1024];
    snprintf(text, sizeof text, "%scompile optimizer=sgd momentum=0.9\n", bn_model);
    for (int opt_level = 0; opt_level <= 2; opt_level += 2) {
        check_generated_training(text, opt_level, 1, 5, 3);
        check_generated_training(text, opt_level, 2, 7, 3);
    }
    /* 8-channel convolutions: tiled kernels and a weight-only (hoisted) kernel, which a
     * phased step runs per image; batch_norm on the picture itself. */
    check_generated_training("input shape=6x6x2\nbatch_norm\n"
                             "conv2d filters=8 kernel=3 padding=same use_bias=false\n"
                             "batch_norm\nrelu\nconv2d filters=8 kernel=3 padding=same\n"
                             "batch_norm\nrelu\nmax_pool2d\nflatten\ndense units=3\n"
                             "softmax\ncompile optimizer=sgd momentum=0.9\n", 2, 2, 6, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_weights_and_summary),
        cmocka_unit_test(test_keys_checked),
        cmocka_unit_test(test_training_forward_uses_batch_statistics),
        cmocka_unit_test(test_gradients_over_a_batch),
        cmocka_unit_test(test_moving_statistics_two_steps),
        cmocka_unit_test(test_folding_equals_unfolded),
        cmocka_unit_test(test_generated_inference_equals_interpreter),
        cmocka_unit_test(test_generated_training_equals_interpreter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
