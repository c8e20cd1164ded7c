/* The Grad-CAM identities, on CAM graphs (cnnc_build_cam_graph) run by the interpreter:
 *   - global-average-pooling head: Grad-CAM's raw map is exactly CAM (sum_k W[k][c] A_k,
 *     Zhou et al.) divided by H*W, so the normalised maps are equal (HiResCAM too);
 *   - Flatten -> Dense head: the HiResCAM raw map summed over the pixels is z_c - b_c;
 *   - a class with no evidence gives an all-zero map and map_max 0, never NaN;
 *   - --score softmax: the backward seed gives the finite-difference gradient of the
 *     softmax output;
 *   - guided backpropagation: equal to the plain gradient where every gate is open, zero
 *     where all the class's evidence is negative. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "autodiff.h"
#include "cam_methods.h"
#include "interp.h"
#include "testgraph.h"

static void assert_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.9g, want %.9g (tolerance %g)", got, want, tol);
}

/* The Grad-CAM graph of one target layer (every method). */
static cnnc_graph *cam_graph(tg *t, int layer)
{
    cnnc_graph *cam = cnnc_build_cam_graph(t->g, &layer, 1, &t->d);
    if (!cam)
        fail_msg("cnnc_build_cam_graph failed: %s", tg_diag_text(t));
    return cam;
}

/* The raw map node of a method. */
static int map_node(const cnnc_graph *cam, cnnrt_cam_method method)
{
    int node = cnnc_cam_output_node(cam, 0, method);
    assert_true(node >= 0);
    return node;
}

/* The node holding dA, the gradient of target A: the input of the method nodes that is
 * neither A nor one of theirs. */
static int target_grad(const cnnc_graph *cam, int A)
{
    for (int i = 0; i < cam->num_nodes; i++) {
        if (cam->nodes[i].cam_target != 0)
            continue;
        for (int k = 0; k < CNNC_MAX_INPUTS; k++) {
            int in = cam->nodes[i].inputs[k];
            if (in >= 0 && in != A && cam->nodes[in].cam_target < 0 &&
                cnnc_shape_equal(cam->nodes[in].shape, cam->nodes[A].shape))
                return in;
        }
    }
    fail_msg("no gradient of the target in the Grad-CAM graph");
    return -1;
}

static float **run(tg *t, const cnnc_graph *g, const float *params, const float *image,
                   int label, int score_mode)
{
    cnnc_interp_ctx ctx = {0, 0, 0, score_mode, label, NULL};
    float **values = cnnc_interp_alloc_values(g);
    if (cnnc_interp_run_image(g, params, image, &ctx, values, &t->d))
        fail_msg("run_image failed: %s", tg_diag_text(t));
    return values;
}

/* dense(classes) -> softmax, the model's output, on top of x; returns the dense node
 * (whose value is the logits). */
static int dense_softmax_head(tg *t, int x, int classes)
{
    int dense = tg_dense(t, x, classes, "dense");
    tg_output(t, tg_unary(t, CNNC_OP_SOFTMAX, dense, "softmax"));
    return dense;
}

/* Input i of node (1 = the kernel, 2 = the bias) within the flat weights. */
static float *weights_of(const tg *t, float *params, int node, int i)
{
    const cnnc_graph *g = t->g;
    return params + g->params[g->nodes[g->nodes[node].inputs[i]].attrs.param].offset;
}

/* input 6x6x1 -> conv2d(4, 3x3, same) -> relu (layer "conv2d") -> head. */
static int conv_body(tg *t)
{
    tg_begin(t, "cam", 6, 6, 1);
    tg_layer(t, "input", 0);
    int c = tg_conv(t, 0, 4, 3, 1, CNNC_PAD_SAME, "conv2d");
    int r = tg_ew(t, CNNC_EW_RELU, c, "conv2d/relu");
    tg_layer(t, "conv2d", r);
    return r;
}

static void test_gap_head_gradcam_equals_cam(void **state)
{
    (void)state;
    tg t;
    int A = conv_body(&t);
    int gap = tg_unary(&t, CNNC_OP_GLOBAL_AVG_POOL2D, A, "global_average_pooling2d");
    int dense = dense_softmax_head(&t, gap, 3);
    float *params = tg_random_params(t.g, 21, 0.8f);
    float image[36];
    tg_fill(image, 36, 5, 0, 1);
    const float *W = weights_of(&t, params, dense, 1);

    cnnc_graph *cam = cam_graph(&t, 1);
    for (int m = 0; m < 2; m++) {
        cnnrt_cam_method method = m == 0 ? CNNRT_CAM_GRADCAM : CNNRT_CAM_HIRESCAM;
        int cam_node = map_node(cam, method);
        for (int c = 0; c < 3; c++) {
            float **v = run(&t, cam, params, image, c, CNNRT_SCORE_LOGIT);
            double cam_ref[36], max_ref = 0;
            for (int i = 0; i < 36; i++) {
                cam_ref[i] = 0;
                for (int k = 0; k < 4; k++)
                    cam_ref[i] += (double)W[k * 3 + c] * v[A][i * 4 + k];
                /* Grad-CAM = CAM / (H*W): the weights are W[k][c] / 36. */
                assert_close(v[cam_node][i], cam_ref[i] / 36, 1e-6);
                if (cam_ref[i] > max_ref)
                    max_ref = cam_ref[i];
            }
            cnnc_interp_free_values(cam, v);

            /* The normalised maps of the batch program equal normalised ReLU(CAM). */
            float maps[36], map_max, probs[3];
            int32_t cls = c;
            assert_int_equal(cnnc_interp_gradcam(cam, params, image, &cls, 1, 0, method,
                                                 CNNRT_SCORE_LOGIT, maps, &map_max, probs, &t.d),
                             0);
            assert_close(map_max, max_ref / 36, 1e-6);
            for (int i = 0; i < 36; i++)
                assert_close(maps[i], max_ref > 0 ? fmax(cam_ref[i], 0) / max_ref : 0, 1e-5);
        }
    }
    cnnc_graph_free(cam);
    free(params);
    tg_end(&t);
}

/* conv -> relu -> max pool (target) -> flatten -> dense: sum of HiResCAM = z_c - b_c. */
static void test_flatten_head_hirescam_sums_to_logit(void **state)
{
    (void)state;
    tg t;
    int A = conv_body(&t);
    int pool = tg_pool(&t, CNNC_OP_MAX_POOL2D, A, 2, 2, CNNC_PAD_VALID, "max_pooling2d");
    int layer = tg_layer(&t, "max_pooling2d", pool);
    int flat = tg_flatten(&t, pool, "flatten");
    int dense = dense_softmax_head(&t, flat, 4);
    float *params = tg_random_params(t.g, 22, 0.8f);
    const float *bias = weights_of(&t, params, dense, 2);
    cnnc_graph *cam = cam_graph(&t, layer);
    int cam_node = map_node(cam, CNNRT_CAM_HIRESCAM);
    int logits = cnnc_graph_find_output(cam, CNNC_OUT_LOGITS);
    assert_int_equal(logits, dense);
    assert_int_equal(cam->nodes[cam_node].shape.dim[0], 3);
    for (int trial = 0; trial < 3; trial++) {
        float image[36];
        tg_fill(image, 36, 40 + (uint64_t)trial, 0, 1);
        for (int c = 0; c < 4; c++) {
            float **v = run(&t, cam, params, image, c, CNNRT_SCORE_LOGIT);
            double sum = 0;
            for (int i = 0; i < 9; i++)
                sum += v[cam_node][i];
            assert_close(sum, (double)v[logits][c] - bias[c], 1e-5);
            cnnc_interp_free_values(cam, v);
        }
    }
    cnnc_graph_free(cam);
    free(params);
    tg_end(&t);
}

/* A class whose dense weights are all zero has no evidence: every method gives an
 * all-zero map, map_max 0, no NaN; a class with only negative evidence (non-negative A,
 * negative weights, so dA <= 0 everywhere) likewise. */
static void test_absent_class_gives_zero_map(void **state)
{
    (void)state;
    tg t;
    int A = conv_body(&t);
    int dense = dense_softmax_head(&t, tg_flatten(&t, A, "flatten"), 3);
    float *params = tg_random_params(t.g, 23, 0.8f);
    float *W = weights_of(&t, params, dense, 1);
    for (int i = 0; i < 36 * 4; i++) {
        W[i * 3 + 1] = 0;                      /* class 1: no evidence at all */
        W[i * 3 + 2] = -fabsf(W[i * 3 + 2]);   /* class 2: only evidence against */
    }
    float image[2 * 36];
    tg_fill(image, 72, 6, 0, 1);
    int32_t classes[2] = {1, 1};
    cnnc_graph *cam = cam_graph(&t, 1);
    for (int m = 0; m < CNNRT_CAM_METHOD_COUNT; m++) {
        /* (Logit score only: the softmax output of class 1 still depends on the other
         * classes' logits, so it has evidence.) */
        float maps[2 * 36], map_max[2], probs[6];
        assert_int_equal(cnnc_interp_gradcam(cam, params, image, classes, 2, 0, m,
                                             CNNRT_SCORE_LOGIT, maps, map_max, probs, &t.d), 0);
        for (int i = 0; i < 2; i++)
            assert_true(map_max[i] <= 0);
        for (int i = 0; i < 72; i++)
            assert_true(maps[i] == 0.0f);   /* also false for NaN */
    }
    int32_t against[2] = {2, 2};
    float maps[72], map_max[2], probs[6];
    for (int m = 0; m < CNNRT_CAM_METHOD_COUNT; m++) {
        assert_int_equal(cnnc_interp_gradcam(cam, params, image, against, 2, 0, m,
                                             CNNRT_SCORE_LOGIT, maps, map_max, probs, &t.d), 0);
        for (int i = 0; i < 72; i++)
            assert_true(maps[i] == 0.0f);
        assert_true(map_max[0] <= 0 && map_max[1] <= 0);
    }
    cnnc_graph_free(cam);
    free(params);
    tg_end(&t);
}

/* Normalised maps lie in [0, 1] with maximum 1; class -1 is the predicted class. */
static void test_normalisation_and_predicted_class(void **state)
{
    (void)state;
    tg t;
    int A = conv_body(&t);
    dense_softmax_head(&t, tg_flatten(&t, A, "flatten"), 3);
    float *params = tg_random_params(t.g, 24, 0.8f);
    float image[36];
    tg_fill(image, 36, 8, 0, 1);
    cnnc_graph *cam = cam_graph(&t, 1);
    float maps[36], maps_pred[36], map_max, max_pred, probs[3];
    int32_t predicted = -1;
    assert_int_equal(cnnc_interp_gradcam(cam, params, image, &predicted, 1, 0, CNNRT_CAM_GRADCAM,
                                         CNNRT_SCORE_LOGIT, maps_pred, &max_pred, probs, &t.d), 0);
    int32_t best = 0;
    for (int c = 1; c < 3; c++)
        if (probs[c] > probs[best])
            best = c;
    assert_int_equal(cnnc_interp_gradcam(cam, params, image, &best, 1, 0, CNNRT_CAM_GRADCAM,
                                         CNNRT_SCORE_LOGIT, maps, &map_max, probs, &t.d), 0);
    assert_true(map_max == max_pred);
    float top = 0;
    for (int i = 0; i < 36; i++) {
        assert_true(maps[i] == maps_pred[i]);
        assert_true(maps[i] >= 0 && maps[i] <= 1);
        top = fmaxf(top, maps[i]);
    }
    if (map_max > 0)
        assert_true(top == 1.0f);
    int32_t bad = 3;
    assert_int_equal(cnnc_interp_gradcam(cam, params, image, &bad, 1, 0, CNNRT_CAM_GRADCAM,
                                         CNNRT_SCORE_LOGIT, maps, &map_max, probs, &t.d), -1);
    cnnc_graph_free(cam);
    free(params);
    tg_end(&t);
}

/* Softmax score: dA (here A = the input image) is the finite-difference gradient of the
 * class's softmax output; logit score: of the logit. */
static void test_score_modes_match_finite_differences(void **state)
{
    (void)state;
    tg t;
    int A = conv_body(&t);
    int pool = tg_pool(&t, CNNC_OP_MAX_POOL2D, A, 2, 2, CNNC_PAD_VALID, "max_pooling2d");
    int flat = tg_flatten(&t, pool, "flatten");
    int dense = tg_dense(&t, flat, 3, "dense");
    int sm = tg_unary(&t, CNNC_OP_SOFTMAX, dense, "softmax");
    tg_output(&t, sm);
    float *params = tg_random_params(t.g, 25, 0.8f);
    float image[36];
    tg_fill(image, 36, 9, 0, 1);
    cnnc_graph *cam = cam_graph(&t, 0);   /* target: the input layer */
    int dA = target_grad(cam, t.g->input_node);
    for (int mode = 0; mode < 2; mode++) {
        const int c = 1;
        float **v = run(&t, cam, params, image, c, mode);
        const double h = 1e-3;
        for (int i = 0; i < 36; i++) {
            float x[36];
            memcpy(x, image, sizeof x);
            x[i] = (float)(image[i] + h);
            float **plus = run(&t, t.g, params, x, -1, CNNRT_SCORE_LOGIT);
            x[i] = (float)(image[i] - h);
            float **minus = run(&t, t.g, params, x, -1, CNNRT_SCORE_LOGIT);
            int out = mode == CNNRT_SCORE_SOFTMAX ? sm : dense;
            double numeric = ((double)plus[out][c] - minus[out][c]) / (2 * h);
            assert_close(v[dA][i], numeric, 2e-4 + 1e-2 * fabs(numeric));
            cnnc_interp_free_values(t.g, plus);
            cnnc_interp_free_values(t.g, minus);
        }
        cnnc_interp_free_values(cam, v);
    }
    cnnc_graph_free(cam);
    free(params);
    tg_end(&t);
}

/* Guided backpropagation: with every ReLU active and positive weights for class 0, it is
 * the plain gradient of the logit (checked by finite differences); for class 1, whose
 * weights are all negative, every gate closes and the result is zero. */
static void test_guided_backprop(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "guided", 4, 4, 1);
    int c = tg_conv(&t, 0, 2, 3, 1, CNNC_PAD_SAME, "conv2d");
    int r = tg_ew(&t, CNNC_EW_RELU, c, "conv2d/relu");
    int layer = tg_layer(&t, "conv2d", r);
    int dense = dense_softmax_head(&t, tg_flatten(&t, r, "flatten"), 2);
    float *params = tg_random_params(t.g, 26, 0.8f);
    for (int p = 0; p < t.g->num_params; p++) {
        float *w = params + t.g->params[p].offset;
        for (int64_t i = 0; i < t.g->params[p].size; i++) {
            w[i] = fabsf(w[i]) + 0.05f;                 /* relu inputs all positive */
            if (strcmp(t.g->params[p].name, "dense/kernel") == 0 && i % 2 == 1)
                w[i] = -w[i];                           /* class 1: all negative */
        }
    }
    float image[16];
    tg_fill(image, 16, 10, 0.1f, 1);
    cnnc_graph *guided = cnnc_build_guided_graph(t.g, &t.d);
    assert_non_null(guided);
    assert_true(cnnc_graph_find_output(guided, CNNC_OUT_INPUT_GRAD) >= 0);

    float probs[2], grads[16];
    int32_t cls = 0;
    assert_int_equal(cnnc_interp_guided(guided, params, image, &cls, 1, CNNRT_SCORE_LOGIT,
                                        grads, probs, &t.d), 0);
    for (int i = 0; i < 16; i++) {
        float x[16];
        memcpy(x, image, sizeof x);
        x[i] = image[i] + 1e-3f;
        float **plus = run(&t, t.g, params, x, -1, CNNRT_SCORE_LOGIT);
        x[i] = image[i] - 1e-3f;
        float **minus = run(&t, t.g, params, x, -1, CNNRT_SCORE_LOGIT);
        double numeric = ((double)plus[dense][0] - minus[dense][0]) /
                         ((double)(image[i] + 1e-3f) - (double)(image[i] - 1e-3f));
        assert_close(grads[i], numeric, 1e-3 + 1e-2 * fabs(numeric));
        assert_true(grads[i] > 0);
        cnnc_interp_free_values(t.g, plus);
        cnnc_interp_free_values(t.g, minus);
    }
    /* The guided method's map is HiResCAM's, the map the program shows by default. */
    cnnc_graph *cam = cam_graph(&t, layer);
    float maps[2][16], map_max[2];
    assert_int_equal(cnnc_interp_gradcam(cam, params, image, &cls, 1, 0, CNNRT_CAM_GUIDED,
                                         CNNRT_SCORE_LOGIT, maps[0], &map_max[0], probs, &t.d),
                     0);
    assert_int_equal(cnnc_interp_gradcam(cam, params, image, &cls, 1, 0, CNNRT_CAM_HIRESCAM,
                                         CNNRT_SCORE_LOGIT, maps[1], &map_max[1], probs, &t.d),
                     0);
    for (int i = 0; i < 16; i++)
        assert_close(maps[0][i], maps[1][i], 0);
    assert_true(map_max[0] == map_max[1]);
    cnnc_graph_free(cam);

    cls = 1;
    assert_int_equal(cnnc_interp_guided(guided, params, image, &cls, 1, CNNRT_SCORE_LOGIT,
                                        grads, probs, &t.d), 0);
    for (int i = 0; i < 16; i++)
        assert_true(grads[i] == 0.0f);
    cnnc_graph_free(guided);
    free(params);
    tg_end(&t);
}

static void test_default_layer_and_bad_target(void **state)
{
    (void)state;
    tg t;
    int A = conv_body(&t);
    int pool = tg_pool(&t, CNNC_OP_MAX_POOL2D, A, 2, 2, CNNC_PAD_VALID, "max_pooling2d");
    int pool_layer = tg_layer(&t, "max_pooling2d", pool);
    int flat = tg_flatten(&t, pool, "flatten");
    int flat_layer = tg_layer(&t, "flatten", flat);
    int dense = tg_dense(&t, flat, 3, "dense");
    tg_layer(&t, "dense", dense);
    tg_output(&t, tg_unary(&t, CNNC_OP_SOFTMAX, dense, "softmax"));
    assert_int_equal(cnnc_default_cam_layer(t.g), pool_layer);
    t.g->gradcam_layer = strdup("conv2d");
    assert_int_equal(cnnc_default_cam_layer(t.g), 1);
    assert_null(cnnc_build_cam_graph(t.g, &flat_layer, 1, &t.d));
    assert_non_null(strstr(tg_diag_text(&t), "layer 'flatten' has output shape 36"));
    tg_end(&t);

    /* A model without a spatial layer (besides its input) has no default. */
    tg_begin(&t, "mlp", 1, 1, 4);
    tg_layer(&t, "input", 0);
    int f = tg_flatten(&t, 0, "flatten");
    tg_layer(&t, "flatten", f);
    assert_int_equal(cnnc_default_cam_layer(t.g), -1);
    tg_end(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gap_head_gradcam_equals_cam),
        cmocka_unit_test(test_flatten_head_hirescam_sums_to_logit),
        cmocka_unit_test(test_absent_class_gives_zero_map),
        cmocka_unit_test(test_normalisation_and_predicted_class),
        cmocka_unit_test(test_score_modes_match_finite_differences),
        cmocka_unit_test(test_guided_backprop),
        cmocka_unit_test(test_default_layer_and_bad_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
