/* The reference interpreter's kernels on tiny cases computed by hand: convolution (HWIO
 * layout, 'same' padding resolution, stride 2), pooling (argmax ties, padding never
 * winning a max, TensorFlow's divisor for 'same' average pooling), dense, activations,
 * softmax and the losses at extreme values, dropout masks, the Grad-CAM seed and the
 * CAM methods, and the batch inference program. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "cam_methods.h"
#include "interp.h"
#include "cnnrt_model.h"
#include "testgraph.h"

static const cnnc_interp_ctx inference = {0, 0, 0, CNNRT_SCORE_LOGIT, -1, NULL};

static float **run(tg *t, const float *params, const float *image, cnnc_interp_ctx ctx)
{
    float **values = cnnc_interp_alloc_values(t->g);
    static const float no_params[1] = {0};
    int rc = cnnc_interp_run_image(t->g, params ? params : no_params, image, &ctx, values,
                                   &t->d);
    if (rc)
        fail_msg("run_image failed: %s", tg_diag_text(t));
    return values;
}

static void assert_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.9g, want %.9g (tolerance %g)", got, want, tol);
}

/* Every op has an interpreter kernel in the table (ops.c declares them weak). */
static void test_every_op_has_a_kernel(void **state)
{
    (void)state;
    for (int op = 0; op < CNNC_OP_COUNT; op++)
        if (!cnnc_op_info_of((cnnc_op)op)->interp)
            fail_msg("op %s has no interpreter kernel", cnnc_op_info_of((cnnc_op)op)->name);
}

/* 4x4 ramp x[y][x] = 4y + x + 1 and a Sobel kernel: valid, same and stride-2 same. */
static void sobel(float *k)
{
    static const float s[3][3] = {{1, 0, -1}, {2, 0, -2}, {1, 0, -1}};
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++)
            k[y * 3 + x] = s[y][x];   /* HWIO with CI = CO = 1 */
}

static void test_conv2d_valid_same_stride(void **state)
{
    (void)state;
    float image[16];
    for (int i = 0; i < 16; i++)
        image[i] = (float)(i + 1);

    tg t;
    tg_begin(&t, "conv", 4, 4, 1);
    int valid = tg_conv(&t, 0, 1, 3, 1, CNNC_PAD_VALID, "valid");
    int same = tg_conv(&t, 0, 1, 3, 1, CNNC_PAD_SAME, "same");
    int strided = tg_conv(&t, 0, 1, 3, 2, CNNC_PAD_SAME, "strided");
    cnnc_graph *g = t.g;
    /* 'same' with stride 2 on 4: output 2, total padding (2-1)*2+3-4 = 1, all after. */
    assert_int_equal(g->nodes[strided].shape.dim[0], 2);
    assert_int_equal(g->nodes[strided].attrs.pad_top, 0);
    assert_int_equal(g->nodes[strided].attrs.pad_bottom, 1);
    assert_int_equal(g->nodes[same].attrs.pad_top, 1);
    assert_int_equal(g->nodes[same].attrs.pad_right, 1);

    float *params = calloc((size_t)g->param_floats, sizeof(float));
    for (int p = 0; p < g->num_params; p++)
        if (g->params[p].shape.rank == 4)
            sobel(params + g->params[p].offset);
        else
            params[g->params[p].offset] = 0.5f;   /* bias */
    float **v = run(&t, params, image, inference);

    /* A ramp of slope 1 in x: every full window gives (1+2+1) * (x0 - x2) = -8. */
    for (int i = 0; i < 4; i++)
        assert_close(v[valid][i], -8 + 0.5, 1e-6);
    /* Corner (0,0) of 'same': only x[0][0..1], x[1][0..1] are inside:
     * 0*1 + (-2)*2 + 0*5 + (-1)*6 = -10. */
    assert_close(v[same][0], -10 + 0.5, 1e-6);
    assert_close(v[same][5], -8 + 0.5, 1e-6);   /* (1,1) is a full window */
    /* Stride 2: (0,0) is a full window; (1,1) covers rows 2..3, cols 2..3 plus padding:
     * 1*x[2][2] + 0*x[2][3] + 2*x[3][2] + 0*x[3][3] = 11 + 30 = 41. */
    assert_close(v[strided][0], -8 + 0.5, 1e-6);
    assert_close(v[strided][3], 41 + 0.5, 1e-6);
    cnnc_interp_free_values(g, v);
    free(params);
    tg_end(&t);
}

/* HWIO: k[0][0][ci][co] = 3 ci + co + 1; x = (1, 2) -> y[co] = k[ci=0][co] + 2 k[1][co]. */
static void test_conv2d_channels_layout(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "conv", 1, 1, 2);
    int y = tg_conv(&t, 0, 3, 1, 1, CNNC_PAD_VALID, "conv2d");
    float params[6 + 3] = {1, 2, 3, 4, 5, 6, 0, 0, 0};
    float image[2] = {1, 2};
    float **v = run(&t, params, image, inference);
    assert_close(v[y][0], 9, 0);
    assert_close(v[y][1], 12, 0);
    assert_close(v[y][2], 15, 0);
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

/* Max pooling: the first maximum of a window (row-major) gets the whole gradient. */
static void test_max_pool_argmax_ties(void **state)
{
    (void)state;
    float image[16] = {5, 5, 1, 2,
                       5, 5, 3, 3,
                       4, -1, 7, 7,
                       -2, -3, 7, 9};
    tg t;
    tg_begin(&t, "pool", 4, 4, 1);
    int p = tg_pool(&t, CNNC_OP_MAX_POOL2D, 0, 2, 2, CNNC_PAD_VALID, "max_pooling2d");
    cnnc_attrs ga;
    memset(&ga, 0, sizeof ga);
    ga = t.g->nodes[p].attrs;
    ga.shape = t.g->nodes[0].shape;
    int dx = tg_add(&t, CNNC_OP_MAX_POOL2D_GRAD, 0, p, -1, &ga, "grad");   /* dy = y */
    float **v = run(&t, NULL, image, inference);
    float want_y[4] = {5, 3, 4, 9};
    for (int i = 0; i < 4; i++)
        assert_close(v[p][i], want_y[i], 0);
    float want_dx[16] = {5, 0, 0, 0,
                         0, 0, 3, 0,
                         4, 0, 0, 0,
                         0, 0, 0, 9};
    for (int i = 0; i < 16; i++)
        assert_close(v[dx][i], want_dx[i], 0);
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

/* 'same' max pooling pads with -inf: an all-negative input never yields 0. */
static void test_max_pool_same_padding_ignored(void **state)
{
    (void)state;
    float image[9] = {-9, -8, -7, -6, -5, -4, -3, -2, -1};
    tg t;
    tg_begin(&t, "pool", 3, 3, 1);
    int p = tg_pool(&t, CNNC_OP_MAX_POOL2D, 0, 2, 2, CNNC_PAD_SAME, "max_pooling2d");
    assert_int_equal(t.g->nodes[p].shape.dim[0], 2);
    float **v = run(&t, NULL, image, inference);
    float want[4] = {-5, -4, -2, -1};
    for (int i = 0; i < 4; i++)
        assert_close(v[p][i], want[i], 0);
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

/* 'same' average pooling divides by the number of real elements (TensorFlow). */
static void test_avg_pool_same_divisor_and_grad(void **state)
{
    (void)state;
    float image[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    tg t;
    tg_begin(&t, "pool", 3, 3, 1);
    int p = tg_pool(&t, CNNC_OP_AVG_POOL2D, 0, 2, 2, CNNC_PAD_SAME, "average_pooling2d");
    int p3 = tg_pool(&t, CNNC_OP_AVG_POOL2D, 0, 3, 1, CNNC_PAD_SAME, "average_pooling2d_1");
    cnnc_attrs ga = t.g->nodes[p].attrs;
    ga.shape = t.g->nodes[0].shape;
    int dx = tg_add(&t, CNNC_OP_AVG_POOL2D_GRAD, p, -1, -1, &ga, "grad");   /* dy = y */
    float **v = run(&t, NULL, image, inference);
    float want[4] = {(1 + 2 + 4 + 5) / 4.0f, (3 + 6) / 2.0f, (7 + 8) / 2.0f, 9};
    for (int i = 0; i < 4; i++)
        assert_close(v[p][i], want[i], 1e-6);
    /* 3x3 stride 1: the corner averages 4 elements, the centre all 9. */
    assert_close(v[p3][0], 3.0, 1e-6);
    assert_close(v[p3][4], 5.0, 1e-6);
    assert_close(v[p3][1], (1 + 2 + 3 + 4 + 5 + 6) / 6.0, 1e-6);
    /* The gradient of each output is shared by its real elements. */
    float want_dx[9] = {3 / 4.0f, 3 / 4.0f, 4.5f / 2, 3 / 4.0f, 3 / 4.0f, 4.5f / 2,
                        7.5f / 2, 7.5f / 2, 9};
    for (int i = 0; i < 9; i++)
        assert_close(v[dx][i], want_dx[i], 1e-6);
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

static void test_global_avg_pool_reshape_dense(void **state)
{
    (void)state;
    /* 2x2x2: channel 0 = 1,2,3,4; channel 1 = 10,20,30,40. */
    float image[8] = {1, 10, 2, 20, 3, 30, 4, 40};
    tg t;
    tg_begin(&t, "gap", 2, 2, 2);
    int gap = tg_unary(&t, CNNC_OP_GLOBAL_AVG_POOL2D, 0, "global_average_pooling2d");
    int flat = tg_flatten(&t, 0, "flatten");
    int d = tg_dense(&t, gap, 3, "dense");
    cnnc_attrs ga;
    memset(&ga, 0, sizeof ga);
    ga.shape = t.g->nodes[0].shape;
    int dgap = tg_add(&t, CNNC_OP_GLOBAL_AVG_POOL2D_GRAD, gap, -1, -1, &ga, "grad");
    float params[6 + 3] = {1, 2, 3, 4, 5, 6, 0.5f, 0, -0.5f};
    float **v = run(&t, params, image, inference);
    assert_close(v[gap][0], 2.5, 1e-6);
    assert_close(v[gap][1], 25, 1e-6);
    for (int i = 0; i < 8; i++)
        assert_close(v[flat][i], image[i], 0);   /* HWC memory is Flatten's order */
    /* y[o] = b[o] + 2.5 k[0][o] + 25 k[1][o] */
    assert_close(v[d][0], 0.5 + 2.5 * 1 + 25 * 4, 1e-5);
    assert_close(v[d][1], 0 + 2.5 * 2 + 25 * 5, 1e-5);
    assert_close(v[d][2], -0.5 + 2.5 * 3 + 25 * 6, 1e-5);
    for (int i = 0; i < 8; i++)
        assert_close(v[dgap][i], v[gap][i % 2] / 4.0, 1e-6);
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

static void test_activations_and_softmax_extremes(void **state)
{
    (void)state;
    float image[3] = {1000, 1000, 0};
    tg t;
    tg_begin(&t, "act", 1, 1, 3);
    int flat = tg_flatten(&t, 0, "flatten");
    int relu = tg_ew(&t, CNNC_EW_RELU, flat, "relu");
    int sig = tg_ew(&t, CNNC_EW_SIGMOID, flat, "sigmoid");
    int th = tg_ew(&t, CNNC_EW_TANH, flat, "tanh");
    int sm = tg_unary(&t, CNNC_OP_SOFTMAX, flat, "softmax");
    float **v = run(&t, NULL, image, inference);
    assert_close(v[sm][0], 0.5, 1e-7);
    assert_close(v[sm][1], 0.5, 1e-7);
    assert_close(v[sm][2], 0, 1e-30);
    assert_close(v[sig][0], 1, 1e-7);
    assert_close(v[sig][2], 0.5, 0);
    assert_close(v[th][0], 1, 1e-7);
    assert_close(v[relu][2], 0, 0);
    cnnc_interp_free_values(t.g, v);

    float negative[3] = {-1000, -0.5f, 2};
    v = run(&t, NULL, negative, inference);
    assert_close(v[sig][0], 0, 1e-30);          /* no overflow, no NaN */
    assert_close(v[sig][1], 1 / (1 + exp(0.5)), 1e-7);
    assert_close(v[relu][0], 0, 0);
    assert_close(v[relu][2], 2, 0);
    assert_close(v[th][1], tanh(-0.5), 1e-7);
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

/* The losses take the class index as a float from the LABEL node. */
static void test_losses(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "loss", 1, 1, 2);
    int flat = tg_flatten(&t, 0, "flatten");
    int label = tg_add(&t, CNNC_OP_LABEL, -1, -1, -1, NULL, "label");
    int sx = tg_add(&t, CNNC_OP_SOFTMAX_XENT, flat, label, -1, NULL, "sx");
    int sxg = tg_add(&t, CNNC_OP_SOFTMAX_XENT_GRAD, flat, label, -1, NULL, "sxg");
    int xe = tg_add(&t, CNNC_OP_XENT, flat, label, -1, NULL, "xent");
    int xg = tg_add(&t, CNNC_OP_XENT_GRAD, flat, label, -1, NULL, "xent_grad");
    int mse = tg_add(&t, CNNC_OP_MSE, flat, label, -1, NULL, "mse");
    int mg = tg_add(&t, CNNC_OP_MSE_GRAD, flat, label, -1, NULL, "mse_grad");

    /* Logits (1000, 0): -log softmax = 1000 for class 1, ~0 for class 0; no overflow. */
    float logits[2] = {1000, 0};
    cnnc_interp_ctx ctx = {1, 0, 0, CNNRT_SCORE_LOGIT, 1, NULL};
    float **v = run(&t, NULL, logits, ctx);
    assert_close(v[label][0], 1, 0);
    assert_close(v[sx][0], 1000, 1e-3);
    assert_close(v[sxg][0], 1, 1e-7);    /* p - onehot(1) = (1, 0) - (0, 1) */
    assert_close(v[sxg][1], -1, 1e-7);
    cnnc_interp_free_values(t.g, v);

    /* Probabilities (1, 0), class 1: clipped to 1e-7, loss -log(1e-7), gradient 0. */
    float probs[2] = {1, 0};
    v = run(&t, NULL, probs, ctx);
    assert_close(v[xe][0], -log(1e-7), 1e-4);
    assert_close(v[xg][0], 0, 0);
    assert_close(v[xg][1], 0, 0);
    /* mse: ((1-0)^2 + (0-1)^2) / 2 = 1; gradient 2 (p - y) / 2 = (1, -1). */
    assert_close(v[mse][0], 1, 1e-7);
    assert_close(v[mg][0], 1, 1e-7);
    assert_close(v[mg][1], -1, 1e-7);
    cnnc_interp_free_values(t.g, v);

    /* Unclipped, not normalised: p = (0.2, 0.6), S = 0.8, class 1: -log(0.75);
     * gradient -1/p_c [j == c] + 1/S = (1.25, -1/0.6 + 1.25). */
    float p2[2] = {0.2f, 0.6f};
    v = run(&t, NULL, p2, ctx);
    assert_close(v[xe][0], -log(0.75), 1e-6);
    assert_close(v[xg][0], 1.25, 1e-5);
    assert_close(v[xg][1], -1 / 0.6 + 1.25, 1e-5);
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

static void test_dropout_mask(void **state)
{
    (void)state;
    enum { N = 400 };
    float image[N];
    for (int i = 0; i < N; i++)
        image[i] = 1.0f + (float)i;
    tg t;
    tg_begin(&t, "dropout", 1, 1, N);
    int d = tg_dropout(&t, 0, 0.25f, 3, "dropout");
    cnnc_attrs mask = t.g->nodes[d].attrs;   /* the gradient: DROPOUT with the same mask */
    int dg = tg_add(&t, CNNC_OP_DROPOUT, 0, -1, -1, &mask, "grad");
    cnnc_interp_ctx train = {1, 77, 5, CNNRT_SCORE_LOGIT, 0, NULL};
    float **v = run(&t, NULL, image, train);
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        int keep = cnnrt_dropout_keep(77, 3, 5, i, 0.25f);
        assert_close(v[d][i], keep ? image[i] / 0.75f : 0.0f, 1e-4);
        assert_close(v[dg][i], v[d][i], 0);   /* the gradient uses the same mask */
        dropped += !keep;
    }
    assert_in_range(dropped, 60, 140);   /* about a quarter */
    cnnc_interp_free_values(t.g, v);
    v = run(&t, NULL, image, inference);
    for (int i = 0; i < N; i++)
        assert_close(v[d][i], image[i], 0);   /* identity outside training */
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

static void test_class_score_grad(void **state)
{
    (void)state;
    float z[3] = {0.5f, 2.0f, -1.0f};
    tg t;
    tg_begin(&t, "score", 1, 1, 3);
    int flat = tg_flatten(&t, 0, "flatten");
    int label = tg_add(&t, CNNC_OP_LABEL, -1, -1, -1, NULL, "label");
    int seed = tg_add(&t, CNNC_OP_CLASS_SCORE_GRAD, flat, label, -1, NULL, "seed");

    cnnc_interp_ctx ctx = {0, 0, 0, CNNRT_SCORE_LOGIT, -1, NULL};   /* predicted: class 1 */
    float **v = run(&t, NULL, z, ctx);
    assert_close(v[seed][0], 0, 0);
    assert_close(v[seed][1], 1, 0);
    assert_close(v[seed][2], 0, 0);
    cnnc_interp_free_values(t.g, v);

    ctx.label = 2;
    ctx.score_mode = CNNRT_SCORE_SOFTMAX;
    v = run(&t, NULL, z, ctx);
    double e[3], s = 0;
    for (int i = 0; i < 3; i++)
        s += e[i] = exp(z[i]);
    double sum = 0;
    for (int i = 0; i < 3; i++) {
        double p = e[i] / s, pc = e[2] / s;
        assert_close(v[seed][i], pc * ((i == 2) - p), 1e-7);
        sum += v[seed][i];
    }
    assert_close(sum, 0, 1e-7);   /* softmax outputs sum to 1 */
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

/* A = 1x2x2 (pixels p0, p1; channels c0, c1), dA chosen by hand; each method's map as
 * cam_methods.c builds it. */
static void test_cam_methods(void **state)
{
    (void)state;
    /* image holds A then dA (a 1x2x4 input split by two 1x1 convolutions would be more
     * ceremony; the methods only need two [1,2,2] values). */
    float A[4] = {1, 2, 3, 4};       /* p0: (1,2)  p1: (3,4) */
    float dA[4] = {0.5f, -1, 0.25f, 0};
    tg t;
    tg_begin(&t, "cam", 1, 2, 2);
    int layer = tg_layer(&t, "input", 0);
    /* dA as a PARAM so both tensors are in the graph. */
    int grad = cnnc_graph_add_param(t.g, "dA", cnnc_shape3(1, 2, 2), CNNC_INIT_ZEROS, 0, 0,
                                    -1);
    int cams[CNNRT_CAM_METHOD_COUNT];
    for (int m = 0; m < CNNRT_CAM_METHOD_COUNT; m++) {
        int map = (int)cnnc_cam_map_method((cnnrt_cam_method)m);
        cams[m] = map == m ? cnnc_cam_build_map(t.g, &t.d, (cnnrt_cam_method)m, 0, grad, layer) : -1;
        assert_true(map != m || cams[m] >= 0);
    }
    assert_int_equal(cnnc_cam_map_method(CNNRT_CAM_GUIDED), CNNRT_CAM_HIRESCAM);
    float **v = run(&t, dA, A, inference);
    /* gradcam: w = mean over pixels of dA = (0.375, -0.5); map = w . A. */
    assert_close(v[cams[CNNRT_CAM_GRADCAM]][0], 0.375 * 1 - 0.5 * 2, 1e-7);
    assert_close(v[cams[CNNRT_CAM_GRADCAM]][1], 0.375 * 3 - 0.5 * 4, 1e-7);
    /* hirescam (and guided, whose map is HiResCAM's): sum_c dA * A per pixel. */
    assert_close(v[cams[CNNRT_CAM_HIRESCAM]][0], 0.5 * 1 - 1 * 2, 1e-7);
    assert_close(v[cams[CNNRT_CAM_HIRESCAM]][1], 0.25 * 3 + 0 * 4, 1e-7);
    /* layercam: sum_c relu(dA) * A per pixel. */
    assert_close(v[cams[CNNRT_CAM_LAYERCAM]][0], 0.5 * 1 + 0 * 2, 1e-7);
    assert_close(v[cams[CNNRT_CAM_LAYERCAM]][1], 0.25 * 3 + 0 * 4, 1e-7);
    /* gradcam++: channel 0: sumA = 4; g = 0.5: a = .25/(.5 + 4*.125) = 1/4;
     * g = 0.25: a = .0625/(.125 + 4*.015625) = 1/3; w0 = .5 a1 + .25 a2.
     * channel 1: g = -1 (relu -> 0) and g = 0 (denominator 0 -> alpha 0): w1 = 0. */
    double w0 = 0.5 * 0.25 + 0.25 / 3;
    assert_close(v[cams[CNNRT_CAM_GRADCAM_PLUS_PLUS]][0], w0 * 1, 1e-6);
    assert_close(v[cams[CNNRT_CAM_GRADCAM_PLUS_PLUS]][1], w0 * 3, 1e-6);
    /* xgradcam: w = sum(A dA) / sum(A): c0 = 1.25 / 4, c1 = -2 / 6. */
    assert_close(v[cams[CNNRT_CAM_XGRADCAM]][0], 0.3125 * 1 - 2.0 / 6 * 2, 1e-6);
    assert_close(v[cams[CNNRT_CAM_XGRADCAM]][1], 0.3125 * 3 - 2.0 / 6 * 4, 1e-6);
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

static void test_backward_elementwise_kernels(void **state)
{
    (void)state;
    float image[4] = {-1, 0.5f, 2, 0};
    tg t;
    tg_begin(&t, "ew", 1, 1, 4);
    int x = tg_flatten(&t, 0, "flatten");
    int dy = cnnc_graph_add_param(t.g, "dy", cnnc_shape1(4), CNNC_INIT_ZEROS, 0, 0, -1);
    int relu = tg_ew(&t, CNNC_EW_RELU, x, "relu");
    int sig = tg_ew(&t, CNNC_EW_SIGMOID, x, "sigmoid");
    int th = tg_ew(&t, CNNC_EW_TANH, x, "tanh");
    int lr = tg_ew(&t, CNNC_EW_LEAKY_RELU, x, "leaky_relu");
    t.g->nodes[lr].attrs.alpha = 0.3f;
    /* The activations' gradient rules, as the autodiff applies them. */
    cnnc_builder b = {t.g, &t.d, "grad", -1, tg_no_loc};
    int rg = cnnc_ew_info_of(CNNC_EW_RELU)->grad(&b, relu, dy, 0);
    int gg = cnnc_guided_relu_grad(&b, relu, dy, 0);
    int sg = cnnc_ew_info_of(CNNC_EW_SIGMOID)->grad(&b, sig, dy, 0);
    int tgr = cnnc_ew_info_of(CNNC_EW_TANH)->grad(&b, th, dy, 0);
    int lg = cnnc_ew_info_of(CNNC_EW_LEAKY_RELU)->grad(&b, lr, dy, 0);
    int add = tg_ew2(&t, CNNC_EW_ADD, dy, x, "add");
    assert_true(rg >= 0 && gg >= 0 && sg >= 0 && tgr >= 0 && lg >= 0 && add >= 0);
    float dyv[4] = {3, -2, 5, 7};
    float **v = run(&t, dyv, image, inference);
    float want_relu[4] = {0, -2, 5, 0};   /* y = 0 at x = 0: no gradient */
    float want_guided[4] = {0, 0, 5, 0};  /* negative dy blocked as well */
    float want_leaky[4] = {0.9f, -2, 5, 2.1f};   /* alpha dy where x <= 0 */
    float want_leaky_y[4] = {-0.3f, 0.5f, 2, 0};
    for (int i = 0; i < 4; i++) {
        assert_close(v[rg][i], want_relu[i], 0);
        assert_close(v[gg][i], want_guided[i], 0);
        assert_close(v[sg][i], dyv[i] * v[sig][i] * (1 - v[sig][i]), 1e-6);
        assert_close(v[tgr][i], dyv[i] * (1 - v[th][i] * v[th][i]), 1e-6);
        assert_close(v[lg][i], want_leaky[i], 1e-6);
        assert_close(v[lr][i], want_leaky_y[i], 1e-6);
        assert_close(v[add][i], dyv[i] + image[i], 0);
    }
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

/* conv2d_grad_input and _kernel are the adjoints of conv2d: <conv(x), dy> equals
 * <x, grad_input(dy)> and <k, grad_kernel(x, dy)> (with bias 0), for stride 2 'same'. */
static void test_conv_gradients_are_adjoints(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "adj", 5, 5, 2);
    int y = tg_conv(&t, 0, 3, 3, 2, CNNC_PAD_SAME, "conv2d");
    int k = t.g->nodes[y].inputs[1];
    int dy = cnnc_graph_add_param(t.g, "dy", t.g->nodes[y].shape, CNNC_INIT_ZEROS, 0, 0, -1);
    cnnc_attrs a = t.g->nodes[y].attrs;
    a.shape = t.g->nodes[0].shape;
    int dx = tg_add(&t, CNNC_OP_CONV2D_GRAD_INPUT, dy, k, -1, &a, "dx");
    int dk = tg_add(&t, CNNC_OP_CONV2D_GRAD_KERNEL, 0, dy, -1, &a, "dk");
    int db = tg_add(&t, CNNC_OP_BIAS_GRAD, dy, -1, -1, NULL, "db");
    float *params = tg_random_params(t.g, 3, 1.0f);
    int b = t.g->nodes[y].inputs[2];
    memset(params + t.g->params[t.g->nodes[b].attrs.param].offset, 0, 3 * sizeof(float));
    float image[50];
    tg_fill(image, 50, 9, -1, 1);
    float **v = run(&t, params, image, inference);
    const float *kv = v[k], *dyv = v[dy];
    double lhs = 0, rhs_x = 0, rhs_k = 0, sum_dy[3] = {0, 0, 0};
    for (int64_t i = 0; i < cnnc_shape_size(t.g->nodes[y].shape); i++) {
        lhs += (double)v[y][i] * dyv[i];
        sum_dy[i % 3] += dyv[i];
    }
    for (int i = 0; i < 50; i++)
        rhs_x += (double)image[i] * v[dx][i];
    for (int i = 0; i < 3 * 3 * 2 * 3; i++)
        rhs_k += (double)kv[i] * v[dk][i];
    assert_close(rhs_x, lhs, 1e-4);
    assert_close(rhs_k, lhs, 1e-4);
    for (int c = 0; c < 3; c++)
        assert_close(v[db][c], sum_dy[c], 1e-5);
    cnnc_interp_free_values(t.g, v);
    free(params);
    tg_end(&t);
}

/* dense_grad_input / _kernel against the formulas on a 2x3 case. */
static void test_dense_gradients(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "dense", 1, 1, 2);
    int x = tg_flatten(&t, 0, "flatten");
    int y = tg_dense(&t, x, 3, "dense");
    int k = t.g->nodes[y].inputs[1];
    int dy = cnnc_graph_add_param(t.g, "dy", cnnc_shape1(3), CNNC_INIT_ZEROS, 0, 0, -1);
    int dx = tg_add(&t, CNNC_OP_DENSE_GRAD_INPUT, dy, k, -1, NULL, "dx");
    int dk = tg_add(&t, CNNC_OP_DENSE_GRAD_KERNEL, x, dy, -1, NULL, "dk");
    float params[6 + 3 + 3] = {1, 2, 3, 4, 5, 6, 0, 0, 0, 1, -1, 2};
    float image[2] = {1, -1};
    float **v = run(&t, params, image, inference);
    assert_close(v[dx][0], 1 * 1 - 1 * 2 + 2 * 3, 0);
    assert_close(v[dx][1], 1 * 4 - 1 * 5 + 2 * 6, 0);
    float want_dk[6] = {1, -1, 2, -1, 1, -2};
    for (int i = 0; i < 6; i++)
        assert_close(v[dk][i], want_dk[i], 0);
    cnnc_interp_free_values(t.g, v);
    tg_end(&t);
}

/* A second, differently written reference for rectangular windows: the input is copied
 * into an explicitly padded buffer (TensorFlow's 'same' split: the smaller half before),
 * then every window is a plain valid window. Pads are marked so that max pooling skips
 * them and average pooling counts only real elements. */
typedef struct padded {
    int64_t h, w, c, top, left;
    float *v;
    unsigned char *real;
} padded;

static padded pad_input(const float *x, int64_t h, int64_t w, int64_t c, int kh, int kw,
                        int sh, int sw, int64_t *oh, int64_t *ow)
{
    padded p;
    *oh = (h + sh - 1) / sh;
    *ow = (w + sw - 1) / sw;
    int64_t th = (*oh - 1) * sh + kh - h, tw = (*ow - 1) * sw + kw - w;
    th = th > 0 ? th : 0;
    tw = tw > 0 ? tw : 0;
    p.top = th / 2;
    p.left = tw / 2;
    p.h = h + th;
    p.w = w + tw;
    p.c = c;
    p.v = calloc((size_t)(p.h * p.w * c), sizeof(float));
    p.real = calloc((size_t)(p.h * p.w), 1);
    for (int64_t y = 0; y < h; y++)
        for (int64_t xx = 0; xx < w; xx++) {
            p.real[(y + p.top) * p.w + xx + p.left] = 1;
            for (int64_t ch = 0; ch < c; ch++)
                p.v[((y + p.top) * p.w + xx + p.left) * c + ch] = x[(y * w + xx) * c + ch];
        }
    return p;
}

static void test_rectangular_same_windows_against_padded_reference(void **state)
{
    (void)state;
    enum { H = 7, W = 6, C = 2, CO = 3, KH = 3, KW = 2, SH = 2, SW = 3 };
    tg t;
    tg_begin(&t, "rect", H, W, C);
    int64_t kd[4] = {KH, KW, C, CO};
    int k = tg_param(&t, "conv2d", "kernel", cnnc_shape_make(4, kd));
    int b = tg_param(&t, "conv2d", "bias", cnnc_shape1(CO));
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    a.kernel_h = KH;
    a.kernel_w = KW;
    a.stride_h = SH;
    a.stride_w = SW;
    a.padding = CNNC_PAD_SAME;
    a.units = CO;
    int conv = tg_add(&t, CNNC_OP_CONV2D, 0, k, b, &a, "conv2d");
    a.units = 0;
    int maxp = tg_add(&t, CNNC_OP_MAX_POOL2D, 0, -1, -1, &a, "max_pooling2d");
    int avgp = tg_add(&t, CNNC_OP_AVG_POOL2D, 0, -1, -1, &a, "average_pooling2d");
    float *params = tg_random_params(t.g, 4, 1.0f);
    float image[H * W * C];
    tg_fill(image, H * W * C, 8, -1, 1);
    float **v = run(&t, params, image, inference);

    int64_t oh, ow;
    padded p = pad_input(image, H, W, C, KH, KW, SH, SW, &oh, &ow);
    assert_int_equal(t.g->nodes[conv].shape.dim[0], oh);
    assert_int_equal(t.g->nodes[conv].shape.dim[1], ow);
    const float *kv = params + t.g->params[0].offset, *bv = params + t.g->params[1].offset;
    for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox++) {
            for (int co = 0; co < CO; co++) {
                double sum = bv[co];
                for (int ky = 0; ky < KH; ky++)
                    for (int kx = 0; kx < KW; kx++)
                        for (int ci = 0; ci < C; ci++)
                            sum += (double)p.v[((oy * SH + ky) * p.w + ox * SW + kx) * C + ci] *
                                   kv[((ky * KW + kx) * C + ci) * CO + co];
                assert_close(v[conv][(oy * ow + ox) * CO + co], sum, 1e-5);
            }
            for (int ci = 0; ci < C; ci++) {
                double best = -INFINITY, sum = 0;
                int count = 0;
                for (int ky = 0; ky < KH; ky++)
                    for (int kx = 0; kx < KW; kx++) {
                        int64_t at = (oy * SH + ky) * p.w + ox * SW + kx;
                        if (!p.real[at])
                            continue;
                        best = fmax(best, p.v[at * C + ci]);
                        sum += p.v[at * C + ci];
                        count++;
                    }
                assert_close(v[maxp][(oy * ow + ox) * C + ci], best, 0);
                assert_close(v[avgp][(oy * ow + ox) * C + ci], sum / count, 1e-6);
            }
        }
    free(p.v);
    free(p.real);
    cnnc_interp_free_values(t.g, v);
    free(params);
    tg_end(&t);
}

/* The batch program returns, image by image, what run_image computes. */
static void test_infer_batch(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "small", 4, 4, 1);
    int c = tg_conv(&t, 0, 2, 3, 1, CNNC_PAD_SAME, "conv2d");
    int r = tg_ew(&t, CNNC_EW_RELU, c, "relu");
    int f = tg_flatten(&t, r, "flatten");
    int d = tg_dense(&t, f, 3, "dense");
    int s = tg_unary(&t, CNNC_OP_SOFTMAX, d, "softmax");
    tg_output(&t, s);
    float *params = tg_random_params(t.g, 1, 0.5f);
    float x[3 * 16], probs[3 * 3];
    tg_fill(x, 48, 2, 0, 1);
    assert_int_equal(cnnc_interp_infer(t.g, params, x, 3, probs, NULL, &t.d), 0);
    for (int i = 0; i < 3; i++) {
        float **v = run(&t, params, x + 16 * i, inference);
        double total = 0;
        for (int k = 0; k < 3; k++) {
            assert_close(probs[3 * i + k], v[s][k], 0);
            total += probs[3 * i + k];
        }
        assert_close(total, 1, 1e-6);
        cnnc_interp_free_values(t.g, v);
    }
    free(params);
    tg_end(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_has_a_kernel),
        cmocka_unit_test(test_conv2d_valid_same_stride),
        cmocka_unit_test(test_conv2d_channels_layout),
        cmocka_unit_test(test_max_pool_argmax_ties),
        cmocka_unit_test(test_max_pool_same_padding_ignored),
        cmocka_unit_test(test_avg_pool_same_divisor_and_grad),
        cmocka_unit_test(test_global_avg_pool_reshape_dense),
        cmocka_unit_test(test_activations_and_softmax_extremes),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_dropout_mask),
        cmocka_unit_test(test_class_score_grad),
        cmocka_unit_test(test_cam_methods),
        cmocka_unit_test(test_backward_elementwise_kernels),
        cmocka_unit_test(test_conv_gradients_are_adjoints),
        cmocka_unit_test(test_dense_gradients),
        cmocka_unit_test(test_rectangular_same_windows_against_padded_reference),
        cmocka_unit_test(test_infer_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
