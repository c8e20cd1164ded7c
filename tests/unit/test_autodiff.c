/* Autodiff: finite-difference checks of every op's gradient rule inside small training
 * graphs (conv with stride 2 and valid/same padding, max/avg/global pooling, dense,
 * dropout with a fixed mask, each activation, softmax+cross-entropy fused, cross-entropy
 * on probabilities, mse), the structure of the derived graph (fusion, names, no gradient
 * for the image or the label, an elementwise add for a value used twice, all missing
 * rules reported in one error), and the optimizer steps of the interpreter's train step against numbers
 * computed by hand from Keras's formulas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "autodiff.h"
#include "gradcheck.h"
#include "interp.h"
#include "testgraph.h"

static void assert_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.9g, want %.9g (tolerance %g)", got, want, tol);
}

static cnnc_graph *train_graph(tg *t)
{
    cnnc_graph *train = cnnc_build_train_graph(t->g, &t->d);
    if (!train)
        fail_msg("cnnc_build_train_graph failed: %s", tg_diag_text(t));
    return train;
}

static int find_node(const cnnc_graph *g, const char *name)
{
    for (int i = 0; i < g->num_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0)
            return i;
    return -1;
}

static int count_op(const cnnc_graph *g, cnnc_op op)
{
    int n = 0;
    for (int i = 0; i < g->num_nodes; i++)
        n += g->nodes[i].op == op;
    return n;
}

static int count_adds(const cnnc_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->num_nodes; i++)
        n += g->nodes[i].op == CNNC_OP_EW && g->nodes[i].attrs.ew == CNNC_EW_ADD;
    return n;
}

/* Element-wise finite differences of every parameter plus the directional check, on a
 * few random images and labels. */
static void check_gradients(tg *t, uint64_t seed, float weight_scale)
{
    cnnc_graph *train = train_graph(t);
    float *params = tg_random_params(train, seed, weight_scale);
    int64_t image_floats = cnnc_shape_size(train->nodes[train->input_node].shape);
    float *image = malloc((size_t)image_floats * sizeof *image);
    for (int trial = 0; trial < 2; trial++) {
        tg_fill(image, image_floats, seed * 31 + (uint64_t)trial, 0, 1);
        cnnc_gradcheck gc;
        cnnc_gradcheck_defaults(&gc);
        gc.label = (int)((seed + (uint64_t)trial) % (uint64_t)train->num_classes);
        gc.seed = seed + 100;
        gc.max_per_param = 40;
        int rc = cnnc_gradcheck_train(train, params, image, &gc, &t->d);
        if (rc != 0)
            fail_msg("gradient check (%d of %d elements failed, worst %s): %s", gc.failed,
                     gc.checked, gc.worst, tg_diag_text(t));
        assert_true(gc.checked > 0);

        double analytic, numeric;
        assert_int_equal(cnnc_gradcheck_direction(train, params, image, &gc, seed + 7,
                                                  &analytic, &numeric, &t->d), 0);
        if (!(fabs(analytic - numeric) <= 1e-3 + 1e-2 * fabs(numeric)))
            fail_msg("directional derivative: analytic %.8g numeric %.8g", analytic, numeric);
    }
    free(image);
    free(params);
    cnnc_graph_free(train);
}

/* conv 1x1 -> conv stride 2 valid -> relu -> conv same -> tanh -> max pool -> flatten ->
 * dense -> softmax (fused with the cross-entropy). The 1x1 first layer makes the strided
 * convolution's input gradient part of the check (nothing flows into the image). */
static void test_grad_conv_stride_valid_same_max_pool(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "convnet", 9, 9, 2);
    int c0 = tg_conv(&t, 0, 2, 1, 1, CNNC_PAD_VALID, "conv2d_0");      /* 9x9x2 */
    int c1 = tg_conv(&t, c0, 3, 3, 2, CNNC_PAD_VALID, "conv2d");       /* 4x4x3 */
    int r1 = tg_ew(&t, CNNC_EW_RELU, c1, "conv2d/relu");
    int c2 = tg_conv(&t, r1, 4, 3, 1, CNNC_PAD_SAME, "conv2d_1");      /* 4x4x4 */
    int t2 = tg_ew(&t, CNNC_EW_TANH, c2, "conv2d_1/tanh");
    int p = tg_pool(&t, CNNC_OP_MAX_POOL2D, t2, 2, 2, CNNC_PAD_VALID, "max_pooling2d");
    int f = tg_flatten(&t, p, "flatten");
    int d = tg_dense(&t, f, 5, "dense");
    tg_output(&t, tg_unary(&t, CNNC_OP_SOFTMAX, d, "softmax"));
    check_gradients(&t, 11, 0.6f);
    tg_end(&t);
}

/* conv 1x1 -> conv stride 2 same -> sigmoid -> avg pool same (odd size) -> avg pool ->
 * global avg pool -> dense. */
static void test_grad_avg_pools_sigmoid(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "avgnet", 9, 9, 1);
    int c0 = tg_conv(&t, 0, 2, 1, 1, CNNC_PAD_VALID, "conv2d_0");      /* 9x9x2 */
    int c1 = tg_conv(&t, c0, 3, 3, 2, CNNC_PAD_SAME, "conv2d");        /* 5x5x3 */
    int s1 = tg_ew(&t, CNNC_EW_SIGMOID, c1, "conv2d/sigmoid");
    int p = tg_pool(&t, CNNC_OP_AVG_POOL2D, s1, 2, 2, CNNC_PAD_SAME, "average_pooling2d");
    int p2 = tg_pool(&t, CNNC_OP_AVG_POOL2D, p, 2, 1, CNNC_PAD_VALID, "average_pooling2d_1");
    int gap = tg_unary(&t, CNNC_OP_GLOBAL_AVG_POOL2D, p2, "global_average_pooling2d");
    int d = tg_dense(&t, gap, 4, "dense");
    tg_output(&t, tg_unary(&t, CNNC_OP_SOFTMAX, d, "softmax"));
    check_gradients(&t, 12, 2.0f);
    tg_end(&t);
}

/* max pooling with 'same' padding and a 3x3 window with stride 2 (overlapping windows). */
static void test_grad_max_pool_same_overlapping(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "poolnet", 7, 7, 2);
    int c1 = tg_conv(&t, 0, 2, 2, 1, CNNC_PAD_VALID, "conv2d");        /* 6x6x2 */
    int p = tg_pool(&t, CNNC_OP_MAX_POOL2D, c1, 3, 2, CNNC_PAD_SAME, "max_pooling2d");
    int f = tg_flatten(&t, p, "flatten");
    int d = tg_dense(&t, f, 3, "dense");
    tg_output(&t, tg_unary(&t, CNNC_OP_SOFTMAX, d, "softmax"));
    check_gradients(&t, 13, 1.0f);
    tg_end(&t);
}

/* Rectangular kernels, windows and strides (h != w everywhere) catch any mix-up of the
 * two spatial axes in the forward or backward loops. */
static void test_grad_rectangular_windows(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "rect", 7, 5, 2);
    /* A first layer, so that the rectangular convolution's input gradient is needed. */
    int first = tg_conv(&t, 0, 2, 1, 1, CNNC_PAD_VALID, "conv2d_0");
    int64_t kd[4] = {3, 2, 2, 3};
    int w = tg_param(&t, "conv2d", "kernel", cnnc_shape_make(4, kd));
    int b = tg_param(&t, "conv2d", "bias", cnnc_shape1(3));
    cnnc_attrs ca;
    memset(&ca, 0, sizeof ca);
    ca.kernel_h = 3;
    ca.kernel_w = 2;
    ca.stride_h = 2;
    ca.stride_w = 1;
    ca.padding = CNNC_PAD_SAME;
    ca.units = 3;
    int c = tg_add(&t, CNNC_OP_CONV2D, first, w, b, &ca, "conv2d");   /* 4x5x3 */
    assert_int_equal(t.g->nodes[c].shape.dim[0], 4);
    assert_int_equal(t.g->nodes[c].shape.dim[1], 5);
    int th = tg_ew(&t, CNNC_EW_TANH, c, "conv2d/tanh");
    cnnc_attrs pa;
    memset(&pa, 0, sizeof pa);
    pa.kernel_h = 2;
    pa.kernel_w = 3;
    pa.stride_h = 1;
    pa.stride_w = 2;
    pa.padding = CNNC_PAD_SAME;
    int mp = tg_add(&t, CNNC_OP_MAX_POOL2D, th, -1, -1, &pa, "max_pooling2d");   /* 4x3x3 */
    int ap = tg_add(&t, CNNC_OP_AVG_POOL2D, mp, -1, -1, &pa, "average_pooling2d"); /* 4x2x3 */
    int f = tg_flatten(&t, ap, "flatten");
    int d = tg_dense(&t, f, 4, "dense");
    tg_output(&t, tg_unary(&t, CNNC_OP_SOFTMAX, d, "softmax"));
    check_gradients(&t, 17, 1.0f);
    tg_end(&t);
}

/* dense -> dropout (fixed mask) -> tanh -> dense -> softmax in the middle -> dense ->
 * sigmoid, trained with mse. */
static void test_grad_dense_dropout_softmax_mse(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "mlp", 2, 3, 1);
    t.g->train.loss = CNNRT_LOSS_MSE;
    int f = tg_flatten(&t, 0, "flatten");
    int d1 = tg_dense(&t, f, 8, "dense");
    int dr = tg_dropout(&t, d1, 0.4f, 0, "dropout");
    int th = tg_ew(&t, CNNC_EW_TANH, dr, "tanh");
    int d2 = tg_dense(&t, th, 5, "dense_1");
    int sm = tg_unary(&t, CNNC_OP_SOFTMAX, d2, "softmax");
    int d3 = tg_dense(&t, sm, 3, "dense_2");
    tg_output(&t, tg_ew(&t, CNNC_EW_SIGMOID, d3, "sigmoid"));
    check_gradients(&t, 14, 1.5f);

    cnnc_graph *train = train_graph(&t);
    assert_int_equal(count_op(train, CNNC_OP_MSE), 1);
    /* softmax's gradient is built from primitives: a sum over the last axis */
    assert_int_equal(count_op(train, CNNC_OP_REDUCE), 1);
    assert_int_equal(count_op(train, CNNC_OP_DROPOUT), 2);
    /* The dropout gradient is DROPOUT of dy with the forward layer's mask index. */
    int dg = find_node(train, "grad/dense");
    assert_true(dg >= 0);
    int drop_grad = -1;
    for (int i = t.g->num_nodes; i < train->num_nodes; i++)
        if (train->nodes[i].op == CNNC_OP_DROPOUT)
            drop_grad = i;
    assert_true(drop_grad >= 0);
    assert_int_equal(train->nodes[drop_grad].attrs.dropout_index, 0);
    assert_true(train->nodes[drop_grad].attrs.rate == 0.4f);
    cnnc_graph_free(train);
    tg_end(&t);
}

/* Categorical cross-entropy on an output that is not a softmax: XENT, not fused. */
static void test_grad_xent_on_probabilities(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "sig", 1, 1, 4);
    int f = tg_flatten(&t, 0, "flatten");
    int d = tg_dense(&t, f, 3, "dense");
    tg_output(&t, tg_ew(&t, CNNC_EW_SIGMOID, d, "sigmoid"));
    check_gradients(&t, 15, 1.0f);
    cnnc_graph *train = train_graph(&t);
    assert_int_equal(count_op(train, CNNC_OP_XENT), 1);
    assert_int_equal(count_op(train, CNNC_OP_XENT_GRAD), 1);
    assert_int_equal(count_op(train, CNNC_OP_SOFTMAX_XENT), 0);
    cnnc_graph_free(train);
    tg_end(&t);
}

/* The derived graph: softmax fused with the loss on the logits, backward nodes named
 * grad/<value> with their layer, no gradient for the image or the label, outputs. */
static void test_train_graph_structure(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "tiny", 4, 4, 1);
    int c = tg_conv(&t, 0, 2, 3, 1, CNNC_PAD_SAME, "conv2d");
    int conv_layer = tg_layer(&t, "conv2d", c);
    int f = tg_flatten(&t, c, "flatten");
    int d = tg_dense(&t, f, 3, "dense");
    int s = tg_unary(&t, CNNC_OP_SOFTMAX, d, "softmax");
    tg_output(&t, s);
    int forward_nodes = t.g->num_nodes;
    cnnc_graph *train = train_graph(&t);

    /* The forward part is unchanged (same ids). */
    for (int i = 0; i < forward_nodes; i++) {
        assert_int_equal(train->nodes[i].op, t.g->nodes[i].op);
        assert_string_equal(train->nodes[i].name, t.g->nodes[i].name);
    }
    int loss = cnnc_graph_find_output(train, CNNC_OUT_LOSS);
    assert_int_equal(train->nodes[loss].op, CNNC_OP_SOFTMAX_XENT);
    assert_int_equal(train->nodes[loss].inputs[0], d);             /* the logits */
    assert_int_equal(train->nodes[loss].inputs[1], train->label_node);
    assert_int_equal(cnnc_graph_find_output(train, CNNC_OUT_PROBS), s);
    assert_int_equal(count_op(train, CNNC_OP_REDUCE), 0);  /* softmax's rule: fused away */

    /* One PARAM_GRAD output per parameter, in order, of the parameter's shape. */
    int grads = 0;
    for (int o = 0; o < train->num_outputs; o++) {
        const cnnc_output *out = &train->outputs[o];
        if (out->role != CNNC_OUT_PARAM_GRAD)
            continue;
        assert_int_equal(out->param, grads);
        assert_true(cnnc_shape_equal(train->nodes[out->node].shape,
                                     train->params[out->param].shape));
        grads++;
    }
    assert_int_equal(grads, train->num_params);

    int gk = find_node(train, "grad/conv2d/kernel");
    assert_true(gk >= 0);
    assert_int_equal(train->nodes[gk].op, CNNC_OP_CONV2D_GRAD_KERNEL);
    assert_int_equal(train->nodes[gk].layer, conv_layer);
    assert_int_equal(find_node(train, "grad/input"), -1);   /* never for the image */
    assert_int_equal(find_node(train, "grad/label"), -1);
    assert_int_equal(count_op(train, CNNC_OP_CONV2D_GRAD_INPUT), 0);
    cnnc_graph_free(train);
    tg_end(&t);
}

/* A value used twice (h feeds relu and sigmoid, summed by a forward add) and a weight
 * used twice (one kernel in two dense nodes): their gradients are summed with adds. */
static void test_value_used_twice_gets_add(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "twice", 1, 1, 3);
    int f = tg_flatten(&t, 0, "flatten");
    int h = tg_dense(&t, f, 3, "dense");
    int a = tg_ew(&t, CNNC_EW_RELU, h, "relu");
    int b = tg_ew(&t, CNNC_EW_SIGMOID, h, "sigmoid");
    int sum = tg_ew2(&t, CNNC_EW_ADD, a, b, "add");
    /* dense_1 reuses dense's kernel (3x3) on the sum. */
    cnnc_attrs da;
    memset(&da, 0, sizeof da);
    da.units = 3;
    int shared = tg_add(&t, CNNC_OP_DENSE, sum, t.g->nodes[h].inputs[1], -1, &da, "dense_1");
    tg_output(&t, tg_unary(&t, CNNC_OP_SOFTMAX, shared, "softmax"));
    int forward_adds = count_adds(t.g);
    check_gradients(&t, 16, 1.0f);

    cnnc_graph *train = train_graph(&t);
    int gh = find_node(train, "grad/dense");
    int gk = -1;
    for (int o = 0; o < train->num_outputs; o++)
        if (train->outputs[o].role == CNNC_OUT_PARAM_GRAD && train->outputs[o].param == 0)
            gk = train->outputs[o].node;
    assert_true(gh >= 0);
    assert_int_equal(count_adds(train), forward_adds + 2);
    assert_int_equal(train->nodes[gk].op, CNNC_OP_EW);   /* the shared kernel */
    assert_int_equal(train->nodes[gk].attrs.ew, CNNC_EW_ADD);
    cnnc_graph_free(train);
    tg_end(&t);
}

/* Ops without a gradient rule on the path are all reported, in one error. */
static void test_missing_rules_reported_together(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "norule", 3, 3, 1);
    int c = tg_conv(&t, 0, 2, 2, 1, CNNC_PAD_VALID, "conv2d");     /* 2x2x2 */
    int bg = tg_add(&t, CNNC_OP_BIAS_GRAD, c, -1, -1, NULL, "bias_grad_in_forward");   /* 2 */
    cnnc_attrs fa;
    memset(&fa, 0, sizeof fa);
    fa.shape = cnnc_shape1(2);
    int f = tg_add(&t, CNNC_OP_RESHAPE, bg, -1, -1, &fa, "flatten");
    int rg = tg_add(&t, CNNC_OP_XENT_GRAD, f, f, -1, NULL, "xent_grad_in_forward");
    int d = tg_dense(&t, rg, 2, "dense");
    tg_output(&t, tg_unary(&t, CNNC_OP_SOFTMAX, d, "softmax"));
    int errors_before = t.d.errors;
    cnnc_graph *train = cnnc_build_train_graph(t.g, &t.d);
    assert_null(train);
    assert_int_equal(t.d.errors, errors_before + 1);
    const char *text = tg_diag_text(&t);
    assert_non_null(strstr(text, "'bias_grad' (node 'bias_grad_in_forward')"));
    assert_non_null(strstr(text, "'categorical_cross_entropy_grad' (node 'xent_grad_in_forward')"));
    assert_non_null(strstr(text, "2 ops"));
    tg_end(&t);
}

/* ---- optimizer steps ---------------------------------------------------------------- */

/* input 1x1x1 -> flatten -> dense(2) -> softmax with zero weights: for image x and label
 * 0, p = (0.5, 0.5), dlogits = (-0.5, 0.5), dkernel = x * dlogits, dbias = dlogits.
 * Images x = 1 and x = 2: the batch-mean gradient is kernel (-0.75, 0.75), bias
 * (-0.5, 0.5); the loss of each image is log 2 and both count as correct (argmax 0). */
static void tiny_model(tg *t, cnnrt_optimizer opt)
{
    tg_begin(t, "opt", 1, 1, 1);
    t->g->train.optimizer = opt;
    int f = tg_flatten(t, 0, "flatten");
    int d = tg_dense(t, f, 2, "dense");
    tg_output(t, tg_unary(t, CNNC_OP_SOFTMAX, d, "softmax"));
}

static const float tiny_grad[4] = {-0.75f, 0.75f, -0.5f, 0.5f};   /* kernel, bias */

static void test_adam_step_matches_keras(void **state)
{
    (void)state;
    tg t;
    tiny_model(&t, CNNRT_OPT_ADAM);
    cnnc_graph *train = train_graph(&t);
    float params[4] = {0, 0, 0, 0};
    float m0[4] = {0.01f, -0.02f, 0.03f, 0}, v0[4] = {1e-4f, 2e-4f, 0, 3e-4f};
    float opt[8];
    memcpy(opt, m0, sizeof m0);
    memcpy(opt + 4, v0, sizeof v0);
    float x[2] = {1, 2}, stats[2];
    int32_t labels[2] = {0, 0};
    const int64_t step = 3;
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-7;
    assert_int_equal(cnnc_interp_train_step(train, params, opt, x, labels, 2, step,
                                            (float)lr, 1, stats, &t.d), 0);
    assert_close(stats[0], 2 * log(2.0), 1e-6);
    assert_close(stats[1], 2, 0);
    /* Keras: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     * p -= lr sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps), the powers b^t in float32 as
     * Keras computes them (ops.power of the variables' dtype): 1 - b2^t loses digits. */
    float b1_t = powf((float)b1, 3.0f), b2_t = powf((float)b2, 3.0f);
    double alpha = lr * sqrt(1.0f - b2_t) / (1.0f - b1_t);
    for (int i = 0; i < 4; i++) {
        double g = tiny_grad[i];
        double m = b1 * m0[i] + (1 - b1) * g, v = b2 * v0[i] + (1 - b2) * g * g;
        assert_close(opt[i], m, 1e-6 * fabs(m));
        assert_close(opt[4 + i], v, 1e-6 * fabs(v));
        double p = -alpha * m / (sqrt(v) + eps);
        assert_close(params[i], p, 1e-6 * fabs(p));
    }
    /* First step from zero state: the update is lr * sign(g) (up to eps, and to the float32
     * 1 - b2^t against the double-rounded 1 - b2: 2e-5 relative, as in Keras). */
    float p1[4] = {0, 0, 0, 0}, o1[8] = {0};
    assert_int_equal(cnnc_interp_train_step(train, p1, o1, x, labels, 2, 1, 0.001f, 1, stats,
                                            &t.d), 0);
    for (int i = 0; i < 4; i++)
        assert_close(p1[i], tiny_grad[i] > 0 ? -0.001 : 0.001, 3e-8);
    cnnc_graph_free(train);
    tg_end(&t);
}

static void test_sgd_steps_match_keras(void **state)
{
    (void)state;
    tg t;
    tiny_model(&t, CNNRT_OPT_SGD);
    t.g->train.momentum = 0.9;
    cnnc_graph *train = train_graph(&t);
    float params[4] = {0, 0, 0, 0};
    float velocity[4] = {0.1f, -0.1f, 0, 0.2f};
    float x[2] = {1, 2}, stats[2];
    int32_t labels[2] = {0, 0};
    assert_int_equal(cnnc_interp_train_step(train, params, velocity, x, labels, 2, 1, 0.01f,
                                            1, stats, &t.d), 0);
    /* Keras: u = momentum u - lr g; p += u. */
    float u0[4] = {0.1f, -0.1f, 0, 0.2f};
    for (int i = 0; i < 4; i++) {
        double u = 0.9 * u0[i] - 0.01 * tiny_grad[i];
        assert_close(velocity[i], u, 1e-7);
        assert_close(params[i], u, 1e-7);
    }
    cnnc_graph_free(train);

    /* Without momentum: p -= lr g, the state untouched. */
    t.g->train.momentum = 0;
    train = train_graph(&t);
    float pz[4] = {0, 0, 0, 0}, state2[4] = {0, 0, 0, 0};
    assert_int_equal(cnnc_interp_train_step(train, pz, state2, x, labels, 2, 1, 0.5f, 1,
                                            stats, &t.d), 0);
    for (int i = 0; i < 4; i++) {
        assert_close(pz[i], -0.5 * tiny_grad[i], 1e-7);
        assert_close(state2[i], 0, 0);
    }
    cnnc_graph_free(train);
    tg_end(&t);
}

/* RMSprop by hand (Keras 3's defaults rho 0.9, epsilon 1e-7), without and with momentum:
 * v = rho v + (1 - rho) g^2; step = lr g / (sqrt(v) + eps); p -= step, or with momentum
 * u = momentum u + step, p -= u. */
static void test_rmsprop_steps_match_keras(void **state)
{
    (void)state;
    tg t;
    tiny_model(&t, CNNRT_OPT_RMSPROP);
    assert_true(t.g->train.rho == 0.9 && t.g->train.epsilon == 1e-7);
    cnnc_graph *train = train_graph(&t);
    assert_int_equal(cnnc_graph_opt_state_floats(train), 4);
    /* Zero weights: the tiny model's gradient is tiny_grad. */
    float params[4] = {0, 0, 0, 0}, v[4] = {1e-2f, 0, 2e-2f, 3e-3f};
    const float v0[4] = {1e-2f, 0, 2e-2f, 3e-3f};
    float x[2] = {1, 2}, stats[2];
    int32_t labels[2] = {0, 0};
    const double lr = 0.001, rho = 0.9, eps = 1e-7;
    assert_int_equal(cnnc_interp_train_step(train, params, v, x, labels, 2, 5, (float)lr, 1,
                                            stats, &t.d), 0);
    for (int i = 0; i < 4; i++) {
        double g = tiny_grad[i];
        double vi = rho * v0[i] + (1 - rho) * g * g;
        assert_close(v[i], vi, 1e-6 * vi);
        double p = -lr * g / (sqrt(vi) + eps);
        assert_close(params[i], p, 1e-6 * fabs(p));
    }
    cnnc_graph_free(train);

    /* With momentum 0.5: two state vectors, v then u. */
    t.g->train.momentum = 0.5;
    train = train_graph(&t);
    assert_int_equal(cnnc_graph_opt_state_floats(train), 8);
    float pm[4] = {0, 0, 0, 0}, opt[8];
    const float u0[4] = {0.01f, -0.02f, 0, 0.005f};
    memcpy(opt, v0, sizeof v0);
    memcpy(opt + 4, u0, sizeof u0);
    assert_int_equal(cnnc_interp_train_step(train, pm, opt, x, labels, 2, 1, (float)lr, 1,
                                            stats, &t.d), 0);
    for (int i = 0; i < 4; i++) {
        double g = tiny_grad[i];
        double vi = rho * v0[i] + (1 - rho) * g * g;
        double u = 0.5 * u0[i] + lr * g / (sqrt(vi) + eps);
        assert_close(opt[i], vi, 1e-6 * vi);
        assert_close(opt[4 + i], u, 1e-6 * fabs(u));
        assert_close(pm[i], -u, 1e-6 * fabs(u));
    }
    cnnc_graph_free(train);
    tg_end(&t);
}

/* Bad labels are a clear error, not a crash. */
static void test_train_step_rejects_bad_label(void **state)
{
    (void)state;
    tg t;
    tiny_model(&t, CNNRT_OPT_ADAM);
    cnnc_graph *train = train_graph(&t);
    float params[4] = {0}, opt[8] = {0}, x[1] = {1}, stats[2];
    int32_t labels[1] = {7};
    assert_int_equal(cnnc_interp_train_step(train, params, opt, x, labels, 1, 1, 0.001f, 1,
                                            stats, &t.d), -1);
    assert_non_null(strstr(tg_diag_text(&t), "label 7 of image 0 is outside 0..1"));
    cnnc_graph_free(train);
    tg_end(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_conv_stride_valid_same_max_pool),
        cmocka_unit_test(test_grad_avg_pools_sigmoid),
        cmocka_unit_test(test_grad_max_pool_same_overlapping),
        cmocka_unit_test(test_grad_rectangular_windows),
        cmocka_unit_test(test_grad_dense_dropout_softmax_mse),
        cmocka_unit_test(test_grad_xent_on_probabilities),
        cmocka_unit_test(test_train_graph_structure),
        cmocka_unit_test(test_value_used_twice_gets_add),
        cmocka_unit_test(test_missing_rules_reported_together),
        cmocka_unit_test(test_adam_step_matches_keras),
        cmocka_unit_test(test_sgd_steps_match_keras),
        cmocka_unit_test(test_rmsprop_steps_match_keras),
        cmocka_unit_test(test_train_step_rejects_bad_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
