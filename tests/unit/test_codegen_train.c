/* The generated training step and Grad-CAM functions (JIT) against the interpreter's
 * cnnc_interp_train_step and cnnc_interp_gradcam on random weights and inputs.
 *
 * Training: with SGD at lr = 1 and no momentum, params_after = params - gradient, so the
 * comparison checks every gradient of the backward pass directly (1e-4 relative: the
 * generated code sums per thread, then over threads, and vectorises reductions; the
 * interpreter sums in double in image order). Adam and momentum are checked on the
 * updated weights and optimizer state. Grad-CAM: every method, both score modes, given
 * and predicted classes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "cnnrt_info.h"
#include "codegen_common.h"
#include "testgraph.h"

/* Every op with a gradient: conv (strided same, valid), both poolings, dense, dropout,
 * each activation, softmax fused with cross-entropy. */
static const char *const train_ops_model =
    "model tops\n"
    "input shape=8x8x2\n"
    "conv2d filters=4 kernel=3 strides=2 padding=same activation=sigmoid\n"
    "conv2d filters=5 kernel=2 padding=valid activation=relu\n"
    "max_pool2d pool_size=2 strides=1 padding=same\n"
    "avg_pool2d pool_size=2 padding=same\n"
    "flatten\n"
    "dropout rate=0.25\n"
    "dense units=6 activation=tanh\n"
    "dense units=4\n"
    "softmax\n"
    "compile loss=categorical_crossentropy optimizer=sgd lr=1\n";

/* The tiled kernels' backward: input gradients of stride-1 convolutions with 8 and 16
 * input channels ('same' and 'valid'), a strided one (not tiled). */
static const char *const tiled_train_model =
    "model ttrain\n"
    "input shape=9x10x2\n"
    "conv2d filters=8 kernel=3 padding=same activation=relu\n"
    "conv2d filters=16 kernel=3 padding=same activation=relu\n"
    "conv2d filters=8 kernel=2 activation=tanh\n"
    "conv2d filters=8 kernel=3 strides=2 padding=same\n"
    "flatten\n"
    "dense units=3\n"
    "softmax\n"
    "compile loss=categorical_crossentropy optimizer=sgd lr=1\n";

/* Max pooling with its windows unrolled and the ReLU's gradient fused into the pooling's
 * (relu_grad): disjoint windows with gaps between them (pool 2, stride 3), overlapping
 * ones (pool 3, stride 2), disjoint ones leaving the last row and column out (3x3 pooled
 * by 2), after fused and separate ReLUs. train_ops_model has overlapping windows with
 * padding. */
static const char *const pool_relu_train_model =
    "model prelu\n"
    "input shape=20x20x2\n"
    "conv2d filters=8 kernel=3 padding=same activation=relu\n"
    "max_pool2d pool_size=2 strides=3\n"
    "conv2d filters=16 kernel=3 padding=same\n"
    "relu\n"
    "max_pool2d pool_size=3 strides=2\n"
    "conv2d filters=8 kernel=3 padding=same activation=relu\n"
    "max_pool2d pool_size=2\n"
    "flatten\n"
    "dense units=3\n"
    "softmax\n"
    "compile loss=categorical_crossentropy optimizer=sgd lr=1\n";

/* LeakyReLU's gradient, fused and as a layer of its own. */
static const char *const leaky_train_model =
    "model ltrain\n"
    "input shape=6x6x1\n"
    "conv2d filters=8 kernel=3 padding=same activation=leaky_relu\n"
    "max_pool2d\n"
    "flatten\n"
    "dense units=6\n"
    "leaky_relu alpha=0.2\n"
    "dense units=3\n"
    "softmax\n"
    "compile loss=categorical_crossentropy optimizer=sgd lr=1\n";

static const char *const gap_mse_model =
    "model gmse\n"
    "input shape=6x6x1\n"
    "conv2d filters=3 kernel=3 padding=same activation=relu\n"
    "global_avg_pool2d\n"
    "dense units=3\n"
    "softmax\n"
    "compile loss=mse optimizer=sgd lr=1\n";

/* Cross-entropy on probabilities that do not come from a softmax: XENT and its gradient
 * (with Keras's renormalisation and clipping), sigmoid gradients. */
static const char *const xent_model =
    "model xent\n"
    "input shape=5x5x1\n"
    "conv2d filters=2 kernel=3 activation=relu\n"
    "flatten\n"
    "dense units=3 activation=sigmoid\n"
    "compile loss=categorical_crossentropy optimizer=sgd lr=1\n";

static const char *const adam_model =
    "model adamm\n"
    "input shape=6x6x1\n"
    "conv2d filters=3 kernel=3 activation=relu\n"
    "max_pool2d\n"
    "flatten\n"
    "dense units=3\n"
    "softmax\n"
    "compile loss=categorical_crossentropy optimizer=adam lr=0.01\n";

static const char *const momentum_model =
    "model mom\n"
    "input shape=6x6x1\n"
    "conv2d filters=3 kernel=3 activation=tanh\n"
    "avg_pool2d\n"
    "flatten\n"
    "dense units=3\n"
    "softmax\n"
    "compile loss=categorical_crossentropy optimizer=sgd lr=0.1 momentum=0.9\n";

static const char *const rmsprop_model =
    "model rms\n"
    "input shape=6x6x1\n"
    "conv2d filters=3 kernel=3 activation=relu\n"
    "max_pool2d\n"
    "flatten\n"
    "dense units=3\n"
    "softmax\n"
    "compile loss=categorical_crossentropy optimizer=rmsprop\n";

static const char *const rmsprop_momentum_model =
    "model rmsm\n"
    "input shape=6x6x1\n"
    "conv2d filters=3 kernel=3 activation=tanh\n"
    "avg_pool2d\n"
    "flatten\n"
    "dense units=3\n"
    "softmax\n"
    "compile loss=categorical_crossentropy optimizer=rmsprop lr=0.01 rho=0.8 momentum=0.5 "
    "epsilon=1e-6\n";

/* Smooth (tanh, average pooling), so that central differences are accurate. */
static const char *const rmsprop_smooth_model =
    "model rmss\n"
    "input shape=6x6x1\n"
    "conv2d filters=3 kernel=3 activation=tanh\n"
    "avg_pool2d\n"
    "flatten\n"
    "dense units=3\n"
    "softmax\n"
    "compile loss=categorical_crossentropy optimizer=rmsprop\n";

static void check_train_case(cg_case *c, int opt, int threads, int64_t n, int steps);

static int64_t argmin(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] < v[best])
            best = i;
    return best;
}

static void check_train(const char *text, int opt, int threads, int64_t n, int steps)
{
    cg_case c;
    cg_compile_text(&c, text);
    check_train_case(&c, opt, threads, n, steps);
}

/* Trains the compiled graph of c for `steps` steps both ways and compares; frees c. */
static void check_train_case(cg_case *c, int opt, int threads, int64_t n, int steps)
{
    cg_jit(c, opt, CNNC_GEN_INFER | CNNC_GEN_TRAIN);
    cg_check_infer(c, n, threads, opt == 0 ? 1e-5 : 1e-4, 0.5f);
    const cnnrt_model *m = c->m;
    /* Random optimizer state too, so that the update's every term is checked. */
    float *params = cg_random(m->param_floats, -0.5f, 0.5f);
    cg_train_comparison t = {params, cg_random(m->opt_state_floats, 0.0f, 0.01f), n, steps,
                             threads, 0, 0.0f};
    cg_compare_training(c, &t);
    cg_case_free(c);
}

static void test_train_gradients_O0(void **state)
{
    (void)state;
    check_train(train_ops_model, 0, 1, 3, 1);
    check_train(gap_mse_model, 0, 2, 4, 1);
    check_train(xent_model, 0, 1, 3, 1);
    check_train(leaky_train_model, 0, 1, 3, 1);
    check_train(pool_relu_train_model, 0, 1, 2, 1);
}

static void test_train_gradients_O2(void **state)
{
    (void)state;
    check_train(train_ops_model, 2, 2, 5, 1);
    check_train(tiled_train_model, 2, 2, 3, 1);
    check_train(tiled_train_model, 0, 1, 2, 1);
    check_train(leaky_train_model, 2, 2, 4, 1);
    check_train(pool_relu_train_model, 2, 2, 3, 1);
    cg_target_cpu = "x86-64-v3";
    check_train(tiled_train_model, 2, 2, 3, 1);
    cg_target_cpu = NULL;
}

/* A value read twice (r by sigmoid and by add): an add in the forward pass and in the
 * backward pass (autodiff sums the two gradients of r), in a graph built node by node. */
static void test_add_op(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "addm", 6, 6, 1);
    int c1 = tg_conv(&t, 0, 3, 3, 1, CNNC_PAD_SAME, "conv2d");
    int r = tg_ew(&t, CNNC_EW_RELU, c1, "relu");
    int s = tg_ew(&t, CNNC_EW_SIGMOID, r, "sigmoid");
    int a = tg_ew2(&t, CNNC_EW_ADD, r, s, "add");
    int f = tg_flatten(&t, a, "flatten");
    int d = tg_dense(&t, f, 3, "dense");
    int p = tg_unary(&t, CNNC_OP_SOFTMAX, d, "softmax");
    tg_output(&t, p);
    t.g->train.optimizer = CNNRT_OPT_SGD;
    t.g->train.lr = 1.0;
    if (t.d.errors)
        fail_msg("graph: %s", tg_diag_text(&t));
    cg_case c;
    cg_case_init(&c);
    c.g = t.g;
    t.g = NULL;
    check_train_case(&c, 0, 1, 3, 1);
    tg_end(&t);
}

static void test_train_optimizers(void **state)
{
    (void)state;
    check_train(adam_model, 2, 2, 4, 3);
    check_train(momentum_model, 1, 1, 3, 3);
    check_train(rmsprop_model, 2, 2, 4, 3);
    check_train(rmsprop_momentum_model, 0, 1, 3, 3);
    check_train(rmsprop_momentum_model, 2, 2, 5, 2);
}

/* Evaluation's loss (infer's logits through cnnrt_loss_of) is the training step's loss,
 * also where the label's probability is far below Keras's clip at 1e-7. */
static void test_loss_as_trained(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, adam_model);
    cg_jit(&c, 2, CNNC_GEN_INFER | CNNC_GEN_TRAIN);
    const cnnrt_model *m = c.m;
    cnnrt_model_info info;
    cnnrt_err e;
    assert_int_equal(cnnrt_model_info_load(m, &info, &e), 0);
    assert_int_equal(info.loss_from_logits, 1);
    enum { N = 4 };
    int64_t k = m->num_classes;
    float *params = cg_random(m->param_floats, -3.0f, 3.0f);   /* confident, often wrong */
    float *x = cg_random(N * cg_image_floats(m), 0.0f, 1.0f);
    float probs[N * 3], logits[N * 3];
    float *ws = cg_workspace(m, 1);
    /* Larger weights until some image's least likely class is below 1e-7. */
    for (int tries = 0; tries < 20; tries++) {
        m->infer(params, x, N, probs, logits, ws, NULL);
        int below = 0;
        for (int i = 0; i < N * 3; i++)
            below |= probs[i] < 1e-7f;
        if (below)
            break;
        for (int64_t i = 0; i < m->param_floats; i++)
            params[i] *= 1.5f;
    }
    int32_t labels[N];
    double sum = 0, clipped_sum = 0;
    cnnrt_train_settings clipped = m->train;
    clipped.loss_from_logits = 0;
    int tiny = 0;
    for (int i = 0; i < N; i++) {
        labels[i] = (int32_t)argmin(probs + i * k, k);
        tiny += probs[i * k + labels[i]] < 1e-7f;
        sum += (float)cnnrt_loss_of(&m->train, probs + i * k, logits + i * k, k, labels[i]);
        clipped_sum += cnnrt_loss_of(&clipped, probs + i * k, logits + i * k, k, labels[i]);
    }
    assert_true(tiny > 0);   /* the case the clip gets wrong */
    float *opt = calloc((size_t)m->opt_state_floats, sizeof *opt);
    float stats[2];
    m->train_step(params, opt, x, labels, N, 1, 0.001f, 1, stats, ws, NULL);
    if (!(fabs(stats[0] - sum) <= 1e-5 * fabs(sum)))
        fail_msg("training loss %.9g, evaluation loss %.9g", stats[0], sum);
    assert_true(clipped_sum < sum - 1.0);   /* what evaluation reported before */
    free(opt);
    free(ws);
    free(x);
    free(params);
    cnnrt_model_info_free(&info);
    cg_case_free(&c);
}

/* The mean loss of the batch at params, as the generated inference computes it. */
static double batch_loss(const cnnrt_model *m, const float *params, const float *x,
                         const int32_t *labels, int64_t n, float *ws)
{
    int64_t k = m->num_classes;
    float *probs = malloc((size_t)(n * k) * sizeof *probs);
    float *logits = malloc((size_t)(n * k) * sizeof *logits);
    m->infer(params, x, n, probs, logits, ws, NULL);
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += cnnrt_loss_of(&m->train, probs + i * k, logits + i * k, k, labels[i]);
    free(probs);
    free(logits);
    return sum / (double)n;
}

/* RMSprop's update rule against finite differences: from a zero state, one generated
 * step must leave v = (1 - rho) g^2 and move every weight by lr g / (sqrt(v) + eps), where
 * g is the central difference of the batch's mean loss -- the gradient the rule is
 * defined on, measured without the backward pass. */
static void test_rmsprop_finite_differences(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, rmsprop_smooth_model);
    cg_jit(&c, 2, CNNC_GEN_INFER | CNNC_GEN_TRAIN);
    const cnnrt_model *m = c.m;
    assert_int_equal(m->train.optimizer, CNNRT_OPT_RMSPROP);
    assert_int_equal(m->opt_state_floats, m->param_floats);
    enum { N = 3 };
    int64_t P = m->param_floats;
    const double lr = 0.001, rho = 0.9, eps = 1e-7, h = 1e-2;
    float *params = cg_random(P, -0.5f, 0.5f), *after = cg_copy(params, P);
    float *x = cg_random(N * cg_image_floats(m), 0.0f, 1.0f);
    int32_t labels[N] = {0, 1, 2};
    float *ws = cg_workspace(m, 1);
    float *v = calloc((size_t)P, sizeof *v);
    float stats[2];
    m->train_step(after, v, x, labels, N, 1, (float)lr, 1, stats, ws, NULL);
    int checked = 0;
    for (int64_t i = 0; i < P; i++) {
        float *probe = cg_copy(params, P);
        probe[i] = params[i] + (float)h;
        double up = batch_loss(m, probe, x, labels, N, ws);
        probe[i] = params[i] - (float)h;
        double down = batch_loss(m, probe, x, labels, N, ws);
        free(probe);
        double g = (up - down) / (2 * h);
        if (fabs(g) < 1e-3)
            continue;   /* too small for a float central difference to say much */
        checked++;
        /* The gradient the step used, read back from v = (1 - rho) g^2 and the step's
         * sign; the losses are floats, so the difference is good to about 1e-5. */
        double step = (double)params[i] - (double)after[i];
        double g_used = (step > 0 ? 1 : -1) * sqrt(v[i] / (1 - rho));
        if (fabs(g_used - g) > 1e-3 * fabs(g) + 2e-5)
            fail_msg("weight %lld: the step used gradient %.6g, finite differences say %.6g",
                     (long long)i, g_used, g);
        double want_step = lr * g_used / (sqrt((double)v[i]) + eps);
        if (fabs(step - want_step) > 1e-5 * fabs(want_step) + 1.2e-7)   /* + ulps of p */
            fail_msg("step[%lld] = %.9g, lr g / (sqrt(v) + eps) = %.9g", (long long)i, step,
                     want_step);
    }
    assert_true(checked > P / 4);
    free(v);
    free(ws);
    free(x);
    free(after);
    free(params);
    cg_case_free(&c);
}

static void test_train_mnist(void **state)
{
    (void)state;
    char *text = cg_read_model("mnist.cnn");
    assert_non_null(text);
    check_train(text, 2, 2, 2, 1);
    free(text);
}

/* ---- Grad-CAM ------------------------------------------------------------------------- */

static const char *const cam_model =
    "model camm\n"
    "input shape=8x8x1\n"
    "conv2d filters=3 kernel=3 padding=same activation=relu\n"
    "max_pool2d\n"
    "conv2d filters=4 kernel=3 padding=same activation=relu\n"
    "flatten\n"
    "dense units=3\n"
    "softmax\n";

/* The interpreter's Grad-CAM graph of the same targets as the compiled model. */
static cnnc_graph *cam_graph_of(cg_case *c)
{
    const cnnrt_model *m = c->m;
    int layers[64];
    assert_true(m->num_cam_layers > 0 && m->num_cam_layers <= 64);
    for (int64_t t = 0; t < m->num_cam_layers; t++) {
        layers[t] = cnnc_graph_find_layer(c->g, m->cam_layers[t].name);
        assert_true(layers[t] >= 0);
    }
    cnnc_graph *cam = cnnc_build_cam_graph(c->g, layers, (int)m->num_cam_layers, &c->d);
    if (!cam)
        fail_msg("cnnc_build_cam_graph: %s", cg_diag(c));
    return cam;
}

/* gradcam of the compiled model against cnnc_interp_gradcam: every target layer, every
 * method, both score modes; then guided_backprop against cnnc_interp_guided. */
static void check_cams(const char *text, int opt, float scale, int64_t n, int default_layer_only)
{
    cg_case c;
    cg_compile_text(&c, text);
    const char *layer = NULL;
    if (default_layer_only) {
        int l = cnnc_default_cam_layer(c.g);
        assert_true(l >= 0);
        layer = c.g->layers[l].name;
    }
    cg_jit_layer(&c, opt, CNNC_GEN_INFER | CNNC_GEN_CAMS, layer);
    const cnnrt_model *m = c.m;
    assert_non_null(m->gradcam);
    assert_non_null(m->guided_backprop);
    assert_true(n <= 4);
    float *params = cg_random(m->param_floats, -scale, scale);
    float *x = cg_random(n * cg_image_floats(m), 0.0f, 1.0f);
    int32_t classes[4] = {-1, 0, 2, -1};
    float *ws = cg_workspace(m, 2);
    cnnrt_err e;
    cnnrt_pool *pool = cnnrt_pool_create(2, &e);
    cnnc_graph *cam = cam_graph_of(&c);
    int64_t img = cg_image_floats(m), K = m->num_classes;
    for (int64_t t = 0; t < m->num_cam_layers; t++) {
        const cnnrt_cam_layer *cl = &m->cam_layers[t];
        int64_t hw = cl->h * cl->w;
        for (int method = 0; method < CNNRT_CAM_METHOD_COUNT; method++)
            for (int mode = 0; mode < CNNRT_SCORE_MODE_COUNT; mode++) {
                float *maps[2], *maxs[2], *probs[2];
                for (int j = 0; j < 2; j++) {
                    maps[j] = calloc((size_t)(n * hw), sizeof(float));
                    maxs[j] = calloc((size_t)n, sizeof(float));
                    probs[j] = calloc((size_t)(n * K), sizeof(float));
                }
                if (cnnc_interp_gradcam(cam, params, x, classes, n, (int)t, method, mode,
                                        maps[1], maxs[1], probs[1], &c.d))
                    fail_msg("interpreter: %s", cg_diag(&c));
                cnnrt_cam_args a = {params, x, classes, n, t, method, mode, maps[0], maxs[0],
                                    probs[0], ws, pool};
                assert_int_equal(m->gradcam(&a), 0);
                char what[256];
                snprintf(what, sizeof what, "%s/%s/%s maps", cl->name,
                         cnnrt_cam_method_name(method), cnnrt_score_mode_name(mode));
                cg_assert_close(what, maps[0], maps[1], n * hw, 1e-4);
                cg_assert_close("map_max", maxs[0], maxs[1], n, 1e-4);
                cg_assert_close("probs", probs[0], probs[1], n * K, 1e-5);
                for (int64_t i = 0; i < n * hw; i++)
                    assert_false(isnan(maps[0][i]));
                for (int j = 0; j < 2; j++) {
                    free(maps[j]);
                    free(maxs[j]);
                    free(probs[j]);
                }
            }
        /* Optional outputs may be NULL; arguments out of range are refused. */
        float *map = calloc((size_t)(n * hw), sizeof(float));
        cnnrt_cam_args a = {params, x, NULL, n, t, 0, 0, map, NULL, NULL, ws, pool};
        assert_int_equal(m->gradcam(&a), 0);
        a.method = CNNRT_CAM_METHOD_COUNT;
        assert_int_equal(m->gradcam(&a), -1);
        a.method = 0;
        a.score_mode = 2;
        assert_int_equal(m->gradcam(&a), -1);
        a.score_mode = 0;
        a.layer = m->num_cam_layers;
        assert_int_equal(m->gradcam(&a), -1);
        a.layer = -1;
        assert_int_equal(m->gradcam(&a), -1);
        free(map);
    }
    cnnc_graph_free(cam);

    cnnc_graph *guided = cnnc_build_guided_graph(c.g, &c.d);
    assert_non_null(guided);
    for (int mode = 0; mode < CNNRT_SCORE_MODE_COUNT; mode++) {
        float *grads[2], *probs[2];
        for (int j = 0; j < 2; j++) {
            grads[j] = calloc((size_t)(n * img), sizeof(float));
            probs[j] = calloc((size_t)(n * K), sizeof(float));
        }
        if (cnnc_interp_guided(guided, params, x, classes, n, mode, grads[1], probs[1], &c.d))
            fail_msg("interpreter: %s", cg_diag(&c));
        cnnrt_guided_args a = {params, x, classes, n, mode, grads[0], probs[0], ws, pool};
        assert_int_equal(m->guided_backprop(&a), 0);
        cg_assert_close("input_grads", grads[0], grads[1], n * img, 1e-4);
        cg_assert_close("probs", probs[0], probs[1], n * K, 1e-5);
        a.score_mode = -1;
        assert_int_equal(m->guided_backprop(&a), -1);
        for (int j = 0; j < 2; j++) {
            free(grads[j]);
            free(probs[j]);
        }
    }
    cnnc_graph_free(guided);
    cnnrt_pool_destroy(pool);
    free(ws);
    free(params);
    free(x);
    cg_case_free(&c);
}

/* The models of models/ at their default layer, and models/mnist.cnn at every layer and
 * both optimisation levels. */
static void test_cams_models(void **state)
{
    (void)state;
    const char *models[] = {"mnist.cnn", "gap.cnn"};
    for (int i = 0; i < 2; i++) {
        char *text = cg_read_model(models[i]);
        if (!text)
            continue;
        check_cams(text, 1, 0.1f, 2, 1);
        free(text);
    }
}

static void test_cams_mnist_every_layer(void **state)
{
    (void)state;
    char *text = cg_read_model("mnist.cnn");
    assert_non_null(text);
    check_cams(text, 0, 0.1f, 2, 0);
    check_cams(text, 2, 0.1f, 2, 0);
    free(text);
}

static void test_cams_O0(void **state) { (void)state; check_cams(cam_model, 0, 0.5f, 4, 0); }
static void test_cams_O2(void **state) { (void)state; check_cams(cam_model, 2, 0.5f, 4, 0); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_gradients_O0),
        cmocka_unit_test(test_train_gradients_O2),
        cmocka_unit_test(test_train_optimizers),
        cmocka_unit_test(test_add_op),
        cmocka_unit_test(test_loss_as_trained),
        cmocka_unit_test(test_rmsprop_finite_differences),
        cmocka_unit_test(test_train_mnist),
        cmocka_unit_test(test_cams_O0),
        cmocka_unit_test(test_cams_O2),
        cmocka_unit_test(test_cams_models),
        cmocka_unit_test(test_cams_mnist_every_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
