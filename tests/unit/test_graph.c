/* The graph builder and the shape rules of the op table, driven directly (no parser):
 * the tutorial CNN built node by node must get Keras's shapes, parameter counts and
 * the FLOP figures of DESIGN.md; bad shapes are reported with both layers' names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elementwise.h"
#include "frontend.h"
#include "graph.h"
#include "ops.h"

static const cnnc_loc no_loc = {0, 0, 0};

static int add(cnnc_graph *g, cnnc_diag *d, cnnc_op op, int a, int b, int c,
               const cnnc_attrs *attrs, const char *name)
{
    int inputs[3] = {a, b, c};
    return cnnc_graph_add(g, d, op, inputs, attrs, name, -1, no_loc);
}

static int conv(cnnc_graph *g, cnnc_diag *d, int x, int filters, int k, cnnc_padding pad,
                const char *name)
{
    int64_t ci = g->nodes[x].shape.dim[2];
    int64_t kdims[4] = {k, k, ci, filters};
    char wname[64], bname[64];
    snprintf(wname, sizeof wname, "%s/kernel", name);
    snprintf(bname, sizeof bname, "%s/bias", name);
    int w = cnnc_graph_add_param(g, wname, cnnc_shape_make(4, kdims), CNNC_INIT_GLOROT_UNIFORM,
                                 k * k * ci, k * k * filters, -1);
    int b = cnnc_graph_add_param(g, bname, cnnc_shape1(filters), CNNC_INIT_ZEROS, 0, 0, -1);
    cnnc_attrs a = {.kernel_h = k, .kernel_w = k, .stride_h = 1, .stride_w = 1,
                    .padding = pad, .units = filters};
    return add(g, d, CNNC_OP_CONV2D, x, w, b, &a, name);
}

static int pool(cnnc_graph *g, cnnc_diag *d, int x, const char *name)
{
    cnnc_attrs a = {.kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2};
    return add(g, d, CNNC_OP_MAX_POOL2D, x, -1, -1, &a, name);
}

static const cnnc_loc loc0 = {0, 0, 0};

static FILE *quiet_diag(cnnc_diag *d, char **buf, size_t *len)
{
    cnnc_diag_init(d, "test.cnn", NULL, 0);
    FILE *out = open_memstream(buf, len);
    d->out = out;
    d->color = 0;
    return out;
}

static void test_tutorial_cnn_shapes_params_flops(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    cnnc_diag d;
    FILE *out = quiet_diag(&d, &text, &len);
    cnnc_graph *g = cnnc_graph_new("mnist_cam");

    cnnc_attrs in = {.shape = cnnc_shape3(28, 28, 1)};
    int x = add(g, &d, CNNC_OP_INPUT, -1, -1, -1, &in, "input");
    int c1 = conv(g, &d, x, 32, 3, CNNC_PAD_SAME, "conv2d");
    int r1 = cnnc_build_ew(g, &d, CNNC_EW_RELU, c1, -1, -1, 0.0f, "conv2d/relu", -1, loc0);
    int p1 = pool(g, &d, r1, "max_pooling2d");
    int c2 = conv(g, &d, p1, 64, 3, CNNC_PAD_SAME, "conv2d_1");
    int r2 = cnnc_build_ew(g, &d, CNNC_EW_RELU, c2, -1, -1, 0.0f, "conv2d_1/relu", -1, loc0);
    int p2 = pool(g, &d, r2, "max_pooling2d_1");
    cnnc_attrs flat = {.shape = cnnc_shape1(7 * 7 * 64)};
    int f = add(g, &d, CNNC_OP_RESHAPE, p2, -1, -1, &flat, "flatten");
    int64_t kd[2] = {3136, 10};
    int w = cnnc_graph_add_param(g, "dense/kernel", cnnc_shape_make(2, kd),
                                 CNNC_INIT_GLOROT_UNIFORM, 3136, 10, -1);
    int b = cnnc_graph_add_param(g, "dense/bias", cnnc_shape1(10), CNNC_INIT_ZEROS, 0, 0, -1);
    cnnc_attrs dense = {.units = 10};
    int logits = add(g, &d, CNNC_OP_DENSE, f, w, b, &dense, "dense");
    int probs = add(g, &d, CNNC_OP_SOFTMAX, logits, -1, -1, NULL, "softmax");
    fclose(out);

    assert_int_equal(d.errors, 0);
    assert_true(probs > 0);
    assert_true(cnnc_shape_equal(g->nodes[c1].shape, cnnc_shape3(28, 28, 32)));
    assert_int_equal(g->nodes[c1].attrs.pad_top, 1);
    assert_int_equal(g->nodes[c1].attrs.pad_bottom, 1);
    assert_true(cnnc_shape_equal(g->nodes[p1].shape, cnnc_shape3(14, 14, 32)));
    assert_true(cnnc_shape_equal(g->nodes[p2].shape, cnnc_shape3(7, 7, 64)));
    assert_true(cnnc_shape_equal(g->nodes[logits].shape, cnnc_shape1(10)));
    /* Keras: 320 + 18,496 + 31,370 = 50,186 trainable parameters. */
    assert_int_equal(g->param_floats, 50186);
    assert_int_equal(g->params[2].offset, 320);

    /* DESIGN.md: 7.74 MFLOP per image forward. */
    int64_t flops = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const cnnc_op_info *info = cnnc_op_info_of(g->nodes[i].op);
        if (info->flops)
            flops += info->flops(g, &g->nodes[i]);
    }
    assert_int_equal(flops, 451584 + 7225344 + 62720);

    cnnc_graph *copy = cnnc_graph_clone(g);
    assert_int_equal(cnnc_graph_fingerprint(copy), cnnc_graph_fingerprint(g));
    cnnc_graph_free(copy);
    cnnc_graph_free(g);
    free(text);
}

static void test_same_padding_with_stride_is_tensorflow_padding(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    cnnc_diag d;
    FILE *out = quiet_diag(&d, &text, &len);
    cnnc_graph *g = cnnc_graph_new("t");
    cnnc_attrs in = {.shape = cnnc_shape3(7, 8, 3)};
    int x = add(g, &d, CNNC_OP_INPUT, -1, -1, -1, &in, "input");
    int64_t kd[4] = {4, 4, 3, 5};
    int w = cnnc_graph_add_param(g, "k", cnnc_shape_make(4, kd), CNNC_INIT_ZEROS, 0, 0, -1);
    cnnc_attrs a = {.kernel_h = 4, .kernel_w = 4, .stride_h = 2, .stride_w = 3,
                    .padding = CNNC_PAD_SAME, .units = 5};
    int c = add(g, &d, CNNC_OP_CONV2D, x, w, -1, &a, "conv");
    fclose(out);
    assert_int_equal(d.errors, 0);
    /* out = ceil(7/2) = 4, total pad = 3*2 + 4 - 7 = 3 -> 1 before, 2 after;
     * out = ceil(8/3) = 3, total pad = 2*3 + 4 - 8 = 2 -> 1, 1. */
    assert_true(cnnc_shape_equal(g->nodes[c].shape, cnnc_shape3(4, 3, 5)));
    assert_int_equal(g->nodes[c].attrs.pad_top, 1);
    assert_int_equal(g->nodes[c].attrs.pad_bottom, 2);
    assert_int_equal(g->nodes[c].attrs.pad_left, 1);
    assert_int_equal(g->nodes[c].attrs.pad_right, 1);
    cnnc_graph_free(g);
    free(text);
}

static void test_shape_errors_name_both_layers_and_shapes(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    cnnc_diag d;
    FILE *out = quiet_diag(&d, &text, &len);
    cnnc_graph *g = cnnc_graph_new("t");
    cnnc_attrs in = {.shape = cnnc_shape3(4, 4, 2)};
    int x = add(g, &d, CNNC_OP_INPUT, -1, -1, -1, &in, "input");
    int64_t kd[2] = {32, 10};
    int w = cnnc_graph_add_param(g, "dense/kernel", cnnc_shape_make(2, kd), CNNC_INIT_ZEROS,
                                 0, 0, -1);
    cnnc_attrs dense = {.units = 10};
    assert_int_equal(add(g, &d, CNNC_OP_DENSE, x, w, -1, &dense, "dense"), -1);
    cnnc_attrs big = {.kernel_h = 5, .kernel_w = 5, .stride_h = 5, .stride_w = 5};
    assert_int_equal(add(g, &d, CNNC_OP_MAX_POOL2D, x, -1, -1, &big, "max_pooling2d"), -1);
    fclose(out);
    assert_int_equal(d.errors, 2);
    assert_non_null(strstr(text, "dense"));
    assert_non_null(strstr(text, "flatten"));
    assert_non_null(strstr(text, "4x4x2"));
    assert_non_null(strstr(text, "5x5 pool is larger than the input"));
    cnnc_graph_free(g);
    free(text);
}

static uint64_t fingerprint_of(const char *text)
{
    char *msgs = NULL;
    size_t len = 0;
    cnnc_diag d;
    FILE *out = quiet_diag(&d, &msgs, &len);
    cnnc_graph *g = cnnc_compile_source(text, strlen(text), "f.cnn", &d);
    fclose(out);
    if (!g)
        fail_msg("does not compile: %s", msgs);
    uint64_t h = cnnc_graph_fingerprint(g);
    cnnc_graph_free(g);
    free(msgs);
    return h;
}

/* The fingerprint follows the Keras-level architecture: the same for the same model
 * whatever the training settings, different for another filter count, activation or
 * slope; and it is a fixed number for a fixed model (weights files saved today must load
 * after the IR changes), checked here on the tutorial's CNN. */
static void test_fingerprint_is_keras_level(void **state)
{
    (void)state;
    const char *base = "model f\ninput shape=8x8x1\n"
                       "conv2d filters=4 kernel=3 activation=relu\nflatten\ndense units=3\n"
                       "softmax\n";
    uint64_t h = fingerprint_of(base);
    /* Fixed: a later change of the IR must not change it (nor invalidate weights). */
    assert_true(h == 0x7be6b8120c2271c1ull);
    char text[512];
    snprintf(text, sizeof text, "%scompile optimizer=sgd lr=0.5\nfit epochs=3\n", base);
    assert_true(fingerprint_of(text) == h);
    assert_true(fingerprint_of("model f\ninput shape=8x8x1\n"
                               "conv2d filters=5 kernel=3 activation=relu\nflatten\n"
                               "dense units=3\nsoftmax\n") != h);
    assert_true(fingerprint_of("model f\ninput shape=8x8x1\n"
                               "conv2d filters=4 kernel=3 activation=tanh\nflatten\n"
                               "dense units=3\nsoftmax\n") != h);
    uint64_t leaky = fingerprint_of("model f\ninput shape=8x8x1\nconv2d filters=4 kernel=3\n"
                                    "leaky_relu\nflatten\ndense units=3\nsoftmax\n");
    assert_true(leaky != fingerprint_of("model f\ninput shape=8x8x1\nconv2d filters=4 "
                                        "kernel=3\nleaky_relu alpha=0.1\nflatten\n"
                                        "dense units=3\nsoftmax\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tutorial_cnn_shapes_params_flops),
        cmocka_unit_test(test_fingerprint_is_keras_level),
        cmocka_unit_test(test_same_padding_with_stride_is_tensorflow_padding),
        cmocka_unit_test(test_shape_errors_name_both_layers_and_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
