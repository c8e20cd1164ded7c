/* The front end: scanner and parser on valid text, the graph of every model in models/
 * against Keras's numbers, and the diagnostics (one table of error cases, each with the
 * exact line, column and message). Randomised inputs are in test_frontend_fuzz.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ast.h"
#include "elementwise.h"
#include "frontend.h"
#include "graph.h"

/* ---- helpers ----------------------------------------------------------------------------- */

typedef struct compiled {
    cnnc_graph *g;
    char *messages;   /* everything the diagnostics printed */
    size_t size;
    int errors, warnings;
} compiled;

static compiled compile_text_len(const char *text, size_t len)
{
    compiled c;
    memset(&c, 0, sizeof c);
    cnnc_diag d;
    cnnc_diag_init(&d, "t.cnn", NULL, 0);
    d.out = open_memstream(&c.messages, &c.size);
    d.color = 0;
    c.g = cnnc_compile_source(text, len, "t.cnn", &d);
    fclose(d.out);
    c.errors = d.errors;
    c.warnings = d.warnings;
    return c;
}

static compiled compile_text(const char *text)
{
    return compile_text_len(text, strlen(text));
}

static compiled compile_model(const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s", CNNC_SOURCE_DIR, file);
    compiled c;
    memset(&c, 0, sizeof c);
    cnnc_diag d;
    cnnc_diag_init(&d, path, NULL, 0);
    d.out = open_memstream(&c.messages, &c.size);
    d.color = 0;
    c.g = cnnc_compile_file(path, &d);
    fclose(d.out);
    c.errors = d.errors;
    c.warnings = d.warnings;
    return c;
}

static void release(compiled *c)
{
    cnnc_graph_free(c->g);
    free(c->messages);
}

/* Fails the test, showing the messages, unless `needle` occurs in them. */
static void expect_message(const compiled *c, const char *needle)
{
    if (!strstr(c->messages, needle))
        fail_msg("expected the message\n  %s\nin\n%s", needle, c->messages);
}

typedef struct expected_layer {
    const char *name, *type, *shape;
    int64_t params;
} expected_layer;

static void check_layers(const cnnc_graph *g, const expected_layer *want, int n)
{
    assert_int_equal(g->num_layers, n);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        char shape[64];
        cnnc_shape_str(g->layers[i].shape, 1, shape, sizeof shape);
        assert_string_equal(g->layers[i].name, want[i].name);
        assert_string_equal(g->layers[i].type, want[i].type);
        assert_string_equal(shape, want[i].shape);
        assert_int_equal(g->layers[i].params, want[i].params);
        assert_true(g->layers[i].output_node >= 0);
        total += want[i].params;
    }
    assert_int_equal(g->param_floats, total);
}

static char *summary_text(const cnnc_graph *g)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    cnnc_graph_summary(g, f);
    fclose(f);
    return text;
}

/* ---- scanner and parser -------------------------------------------------------------------- */

static void test_parser_statements_values_locations(void **state)
{
    (void)state;
    const char *text = "# a comment line\n"
                       "model  demo   # trailing comment\n"
                       "\n"
                       "\tconv2d filters=32 kernel=3x3 lr=1e-3 rate=.5 x=-3 s=28x28x1\n"
                       "fit seed = 7";   /* spaces around '=', no final newline */
    cnnc_ast *ast = cnnc_parse(text, strlen(text));
    assert_non_null(ast);
    assert_int_equal(ast->num_errors, 0);
    assert_int_equal(ast->num_stmts, 3);

    cnnc_stmt *model = &ast->stmts[0];
    assert_string_equal(model->keyword, "model");
    assert_int_equal(model->loc.line, 2);
    assert_int_equal(model->loc.col, 1);
    assert_int_equal(model->loc.len, 5);
    assert_int_equal(model->num_args, 1);
    assert_null(model->args[0].key);
    assert_string_equal(model->args[0].value.text, "demo");
    assert_int_equal(model->args[0].value.loc.col, 8);

    cnnc_stmt *conv = &ast->stmts[1];
    assert_string_equal(conv->keyword, "conv2d");
    assert_int_equal(conv->loc.line, 4);
    assert_int_equal(conv->loc.col, 2);   /* after a tab */
    assert_int_equal(conv->num_args, 6);
    cnnc_arg *filters = cnnc_stmt_find(conv, "filters");
    assert_non_null(filters);
    assert_int_equal(filters->key_loc.col, 9);
    assert_int_equal(filters->key_loc.len, 7);
    assert_int_equal(filters->value.kind, CNNC_VALUE_INT);
    assert_int_equal(filters->value.int_value, 32);
    assert_int_equal(filters->value.loc.col, 17);
    assert_int_equal(filters->value.loc.len, 2);
    cnnc_arg *kernel = cnnc_stmt_find(conv, "kernel");
    assert_int_equal(kernel->value.kind, CNNC_VALUE_SIZE);
    assert_int_equal(kernel->value.num_dims, 2);
    assert_int_equal(kernel->value.dims[0], 3);
    assert_int_equal(kernel->value.dims[1], 3);
    cnnc_arg *lr = cnnc_stmt_find(conv, "lr");
    assert_int_equal(lr->value.kind, CNNC_VALUE_FLOAT);
    assert_true(lr->value.float_value > 0.00099 && lr->value.float_value < 0.00101);
    assert_int_equal(cnnc_stmt_find(conv, "rate")->value.kind, CNNC_VALUE_FLOAT);
    assert_int_equal(cnnc_stmt_find(conv, "x")->value.int_value, -3);
    cnnc_arg *s = cnnc_stmt_find(conv, "s");
    assert_int_equal(s->value.num_dims, 3);
    assert_int_equal(s->value.dims[2], 1);

    cnnc_stmt *fit = &ast->stmts[2];
    cnnc_arg *seed = cnnc_stmt_find(fit, "seed");
    assert_non_null(seed);
    assert_int_equal(seed->key_loc.len, 4);   /* "seed", not "seed =" */
    assert_int_equal(seed->value.int_value, 7);
    cnnc_ast_free(ast);
}

static void test_parser_columns_count_characters(void **state)
{
    (void)state;
    /* 'é' is two bytes but one column; the comment may hold any UTF-8. */
    const char *text = "# café\nmodel m # naïve\ndense units=10\n";
    cnnc_ast *ast = cnnc_parse(text, strlen(text));
    assert_int_equal(ast->num_errors, 0);
    assert_int_equal(ast->num_stmts, 2);
    assert_int_equal(ast->stmts[1].args[0].value.loc.col, 13);
    cnnc_ast_free(ast);

    const char *bad = "model café\n";
    ast = cnnc_parse(bad, strlen(bad));
    assert_int_equal(ast->num_errors, 1);
    assert_int_equal(ast->errors[0].loc.line, 1);
    assert_int_equal(ast->errors[0].loc.col, 10);   /* the 'é', counted as one column */
    assert_non_null(strstr(ast->errors[0].message, "U+00E9"));
    cnnc_ast_free(ast);
}

static void test_parser_keeps_going_after_errors(void **state)
{
    (void)state;
    const char *text = "a = 3\n"
                       "conv2d filters=3 kernel=$ strides=2\n"
                       "dense units=10\n";
    cnnc_ast *ast = cnnc_parse(text, strlen(text));
    assert_int_equal(ast->num_errors, 2);
    assert_int_equal(ast->errors[0].loc.line, 1);
    assert_int_equal(ast->errors[1].loc.line, 2);
    assert_int_equal(ast->errors[1].loc.col, 25);
    /* The conv2d is kept (with its invalid value) and so is the line after it. */
    assert_int_equal(ast->num_stmts, 2);
    assert_string_equal(ast->stmts[0].keyword, "conv2d");
    assert_int_equal(cnnc_stmt_find(&ast->stmts[0], "kernel")->value.kind, CNNC_VALUE_INVALID);
    assert_int_equal(cnnc_stmt_find(&ast->stmts[0], "strides")->value.int_value, 2);
    assert_string_equal(ast->stmts[1].keyword, "dense");
    cnnc_ast_free(ast);
}

static void test_closest(void **state)
{
    (void)state;
    const char *keys[] = {"filters", "kernel", "strides", "padding", "activation"};
    assert_string_equal(cnnc_closest("filtrs", keys, 5), "filters");
    assert_string_equal(cnnc_closest("kernal", keys, 5), "kernel");
    assert_string_equal(cnnc_closest("stirdes", keys, 5), "strides");   /* a swap */
    assert_string_equal(cnnc_closest("Padding", keys, 5), "padding");
    assert_null(cnnc_closest("units", keys, 5));
    assert_null(cnnc_closest("x", keys, 5));
    assert_null(cnnc_closest("", keys, 5));
}

/* ---- the models ------------------------------------------------------------------------------ */

static void test_model_mnist(void **state)
{
    (void)state;
    compiled c = compile_model("mnist.cnn");
    assert_int_equal(c.errors, 0);
    assert_int_equal(c.warnings, 0);
    assert_non_null(c.g);
    const expected_layer want[] = {
        {"conv2d", "Conv2D", "(None, 28, 28, 32)", 320},
        {"max_pooling2d", "MaxPooling2D", "(None, 14, 14, 32)", 0},
        {"conv2d_1", "Conv2D", "(None, 14, 14, 64)", 18496},
        {"max_pooling2d_1", "MaxPooling2D", "(None, 7, 7, 64)", 0},
        {"flatten", "Flatten", "(None, 3136)", 0},
        {"dense", "Dense", "(None, 10)", 31370},
        {"softmax", "Activation", "(None, 10)", 0},
    };
    check_layers(c.g, want, 7);
    cnnc_graph *g = c.g;
    assert_string_equal(g->model_name, "mnist_cam");
    assert_int_equal(g->num_classes, 10);
    assert_string_equal(g->gradcam_layer, "max_pooling2d_1");

    /* Weights in Keras get_weights() order, names and layouts. */
    assert_int_equal(g->num_params, 6);
    assert_string_equal(g->params[0].name, "conv2d/kernel");
    assert_int_equal(g->params[0].shape.rank, 4);
    assert_int_equal(g->params[0].shape.dim[3], 32);
    assert_int_equal(g->params[0].init, CNNC_INIT_GLOROT_UNIFORM);
    assert_int_equal(g->params[0].fan_in, 9);
    assert_int_equal(g->params[0].fan_out, 288);
    assert_string_equal(g->params[1].name, "conv2d/bias");
    assert_int_equal(g->params[1].init, CNNC_INIT_ZEROS);
    assert_string_equal(g->params[2].name, "conv2d_1/kernel");
    assert_int_equal(g->params[2].fan_in, 288);
    assert_string_equal(g->params[4].name, "dense/kernel");
    assert_int_equal(g->params[4].shape.dim[0], 3136);
    assert_int_equal(g->params[4].shape.dim[1], 10);

    /* Outputs: probabilities from the softmax, logits from the dense before it. */
    int probs = cnnc_graph_find_output(g, CNNC_OUT_PROBS);
    int logits = cnnc_graph_find_output(g, CNNC_OUT_LOGITS);
    assert_int_equal(g->nodes[probs].op, CNNC_OP_SOFTMAX);
    assert_int_equal(g->nodes[logits].op, CNNC_OP_DENSE);
    assert_int_equal(g->nodes[probs].inputs[0], logits);
    /* Each conv layer's output is its ReLU. */
    assert_int_equal(g->nodes[g->layers[0].output_node].op, CNNC_OP_EW);
    assert_int_equal(g->nodes[g->layers[0].output_node].attrs.ew, CNNC_EW_RELU);

    /* The training settings as written, and Keras's defaults for the rest. */
    assert_int_equal(g->train.loss, CNNRT_LOSS_CATEGORICAL_CROSSENTROPY);
    assert_int_equal(g->train.optimizer, CNNRT_OPT_ADAM);
    assert_true(g->train.lr == 0.001);
    assert_true(g->train.beta_1 == 0.9 && g->train.beta_2 == 0.999 && g->train.epsilon == 1e-7);
    assert_int_equal(g->train.metrics_accuracy, 1);
    assert_int_equal(g->train.epochs, 10);
    assert_int_equal(g->train.batch_size, 64);
    assert_true(g->train.validation_split == 0.2);
    assert_int_equal(g->train.seed, 42);

    char *summary = summary_text(g);
    assert_non_null(strstr(summary, "Model: \"mnist_cam\""));
    assert_non_null(strstr(summary, " conv2d_1 (Conv2D)"));
    assert_non_null(strstr(summary, "(None, 7, 7, 64)"));
    assert_non_null(strstr(summary, "18,496"));
    assert_non_null(strstr(summary, "31,370"));
    assert_non_null(strstr(summary, "Total params: 50,186 (196.04 KB)"));
    assert_non_null(strstr(summary, "Trainable params: 50,186 (196.04 KB)"));
    assert_non_null(strstr(summary, "Non-trainable params: 0 (0.00 B)"));
    assert_non_null(strstr(summary, "7,225,344"));   /* FLOPs of conv2d_1 */
    free(summary);
    release(&c);
}

static void test_model_keras_mnist_convnet(void **state)
{
    (void)state;
    compiled c = compile_model("keras_mnist_convnet.cnn");
    assert_int_equal(c.errors, 0);
    const expected_layer want[] = {
        {"conv2d", "Conv2D", "(None, 26, 26, 32)", 320},
        {"max_pooling2d", "MaxPooling2D", "(None, 13, 13, 32)", 0},
        {"conv2d_1", "Conv2D", "(None, 11, 11, 64)", 18496},
        {"max_pooling2d_1", "MaxPooling2D", "(None, 5, 5, 64)", 0},
        {"flatten", "Flatten", "(None, 1600)", 0},
        {"dropout", "Dropout", "(None, 1600)", 0},
        {"dense", "Dense", "(None, 10)", 16010},
    };
    check_layers(c.g, want, 7);
    assert_int_equal(c.g->param_floats, 34826);
    assert_int_equal(c.g->num_dropouts, 1);
    /* dense activation=softmax: the logits are the dense node, before its softmax. */
    int probs = cnnc_graph_find_output(c.g, CNNC_OUT_PROBS);
    int logits = cnnc_graph_find_output(c.g, CNNC_OUT_LOGITS);
    assert_int_equal(c.g->nodes[probs].op, CNNC_OP_SOFTMAX);
    assert_int_equal(c.g->nodes[logits].op, CNNC_OP_DENSE);
    assert_int_equal(c.g->train.batch_size, 128);
    assert_int_equal(c.g->train.epochs, 15);
    release(&c);
}

static void test_model_lenet5(void **state)
{
    (void)state;
    compiled c = compile_model("lenet5.cnn");
    assert_int_equal(c.errors, 0);
    const expected_layer want[] = {
        {"conv2d", "Conv2D", "(None, 28, 28, 6)", 156},
        {"average_pooling2d", "AveragePooling2D", "(None, 14, 14, 6)", 0},
        {"conv2d_1", "Conv2D", "(None, 10, 10, 16)", 2416},
        {"average_pooling2d_1", "AveragePooling2D", "(None, 5, 5, 16)", 0},
        {"flatten", "Flatten", "(None, 400)", 0},
        {"dense", "Dense", "(None, 120)", 48120},
        {"dense_1", "Dense", "(None, 84)", 10164},
        {"dense_2", "Dense", "(None, 10)", 850},
        {"softmax", "Activation", "(None, 10)", 0},
    };
    check_layers(c.g, want, 9);
    assert_int_equal(c.g->param_floats, 61706);
    assert_int_equal(c.g->train.optimizer, CNNRT_OPT_SGD);
    assert_true(c.g->train.momentum == 0.9);
    assert_true(c.g->train.lr == 0.01);
    assert_int_equal(c.g->nodes[c.g->layers[0].output_node].op, CNNC_OP_EW);
    assert_int_equal(c.g->nodes[c.g->layers[0].output_node].attrs.ew, CNNC_EW_TANH);
    release(&c);
}

/* LeakyReLU as a layer (Keras's type and name, alpha 0.3 by default or as given) and as
 * activation= (alpha 0.3); a negative alpha, and alpha on another activation, are errors. */
static void test_leaky_relu(void **state)
{
    (void)state;
    compiled c = compile_text("input shape=6x6x1\n"
                              "conv2d filters=2 kernel=3 activation=leaky_relu\n"
                              "leaky_relu\n"
                              "leaky_relu alpha=0.1 name=slope\n"
                              "flatten\ndense units=3\nsoftmax\n");
    assert_int_equal(c.errors, 0);
    const expected_layer want[] = {
        {"conv2d", "Conv2D", "(None, 4, 4, 2)", 20},
        {"leaky_re_lu", "LeakyReLU", "(None, 4, 4, 2)", 0},
        {"slope", "LeakyReLU", "(None, 4, 4, 2)", 0},
        {"flatten", "Flatten", "(None, 32)", 0},
        {"dense", "Dense", "(None, 3)", 99},
        {"softmax", "Activation", "(None, 3)", 0},
    };
    check_layers(c.g, want, 6);
    const float alphas[3] = {0.3f, 0.3f, 0.1f};
    for (int l = 0; l < 3; l++) {
        const cnnc_node *n = &c.g->nodes[c.g->layers[l].output_node];
        assert_int_equal(n->op, CNNC_OP_EW);
        assert_int_equal(n->attrs.ew, CNNC_EW_LEAKY_RELU);
        assert_true(n->attrs.alpha == alphas[l]);
    }
    assert_string_equal(c.g->layers[1].keyword, "leaky_relu");
    release(&c);

    c = compile_text("input shape=6x6x1\nflatten\nleaky_relu alpha=-1\ndense units=2\n");
    assert_non_null(strstr(c.messages, "'alpha' must be at least 0, found -1"));
    release(&c);
    c = compile_text("input shape=6x6x1\nflatten\nrelu alpha=0.2\ndense units=2\n");
    assert_int_equal(c.errors, 1);
    assert_non_null(strstr(c.messages, "alpha"));
    release(&c);
}

static void test_model_gap(void **state)
{
    (void)state;
    compiled c = compile_model("gap.cnn");
    assert_int_equal(c.errors, 0);
    const expected_layer want[] = {
        {"conv2d", "Conv2D", "(None, 28, 28, 16)", 160},
        {"max_pooling2d", "MaxPooling2D", "(None, 14, 14, 16)", 0},
        {"conv2d_1", "Conv2D", "(None, 14, 14, 32)", 4640},
        {"conv2d_2", "Conv2D", "(None, 14, 14, 64)", 18496},
        {"global_average_pooling2d", "GlobalAveragePooling2D", "(None, 64)", 0},
        {"dense", "Dense", "(None, 10)", 650},
        {"softmax", "Activation", "(None, 10)", 0},
    };
    check_layers(c.g, want, 7);
    assert_int_equal(c.g->param_floats, 23946);
    assert_string_equal(c.g->gradcam_layer, "conv2d_2");
    release(&c);
}

/* ---- language details --------------------------------------------------------------------- */

static void test_defaults_and_names(void **state)
{
    (void)state;
    compiled c = compile_text("input shape=32x32x3\n"
                              "conv2d filters=8 kernel=5x3 strides=2 padding=same use_bias=false "
                              "name=stem\n"
                              "conv2d filters=4 kernel=1\n"
                              "max_pool2d pool_size=3 strides=1\n"
                              "avg_pool2d padding=same\n"
                              "relu\n"
                              "flatten name=flat\n"
                              "dense units=3 activation=sigmoid use_bias=False\n");
    assert_int_equal(c.errors, 0);
    cnnc_graph *g = c.g;
    assert_string_equal(g->model_name, "sequential");   /* no 'model' statement */
    assert_string_equal(g->layers[0].name, "stem");
    assert_string_equal(g->layers[1].name, "conv2d");   /* the first generated conv2d name */
    assert_string_equal(g->layers[2].name, "max_pooling2d");
    assert_string_equal(g->layers[3].name, "average_pooling2d");
    assert_string_equal(g->layers[4].name, "relu");
    assert_string_equal(g->layers[5].name, "flat");
    assert_string_equal(g->params[0].name, "stem/kernel");
    /* use_bias=false: one parameter (the kernel) for the stem: 5*3*3*8. */
    assert_int_equal(g->layers[0].params, 360);
    const cnnc_node *stem = &g->nodes[g->layers[0].output_node];
    assert_int_equal(stem->attrs.kernel_h, 5);
    assert_int_equal(stem->attrs.kernel_w, 3);
    assert_int_equal(stem->attrs.stride_h, 2);
    assert_int_equal(stem->inputs[2], -1);
    assert_int_equal(stem->shape.dim[0], 16);
    /* Pooling strides default to the pool size; here given as 1. */
    const cnnc_node *pool = &g->nodes[g->layers[2].output_node];
    assert_int_equal(pool->attrs.stride_h, 1);
    assert_int_equal(pool->shape.dim[0], 14);   /* 16 - 3 + 1 */
    const cnnc_node *avg = &g->nodes[g->layers[3].output_node];
    assert_int_equal(avg->attrs.kernel_h, 2);
    assert_int_equal(avg->attrs.stride_h, 2);
    assert_int_equal(avg->shape.dim[0], 7);
    assert_int_equal(g->layers[6].params, 7 * 7 * 4 * 3);   /* no bias */
    /* No softmax: probabilities and logits are the same node. */
    assert_int_equal(cnnc_graph_find_output(g, CNNC_OUT_PROBS),
                     cnnc_graph_find_output(g, CNNC_OUT_LOGITS));
    release(&c);
}

static void test_generated_names_skip_given_ones(void **state)
{
    (void)state;
    /* 'conv2d' is taken by name= further down, so the first conv2d is conv2d_1. */
    compiled c = compile_text("input shape=8x8x1\nconv2d filters=2 kernel=3\n"
                              "conv2d filters=2 kernel=3 name=conv2d\nflatten\ndense units=2\n");
    assert_int_equal(c.errors, 0);
    assert_string_equal(c.g->layers[0].name, "conv2d_1");
    assert_string_equal(c.g->layers[1].name, "conv2d");
    release(&c);
}

static void test_dump_ir_and_dot(void **state)
{
    (void)state;
    compiled c = compile_model("mnist.cnn");
    assert_non_null(c.g);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    cnnc_graph_dump(c.g, f);
    fclose(f);
    assert_non_null(strstr(text, "  %3 = conv2d(%0, %1, %2) : 28x28x32  kernel=3x3 strides=1x1 "
                                 "padding=same pad=1,1,1,1  units=32  # conv2d\n"));
    assert_non_null(strstr(text, "  %4 = relu(%3) : 28x28x32  # conv2d/relu\n"));
    assert_non_null(strstr(text, "  $0 conv2d/kernel : 3x3x1x32  init=glorot_uniform fan_in=9 "
                                 "fan_out=288  offset=0 size=288\n"));
    assert_non_null(strstr(text, "  probs = %15\n"));
    assert_non_null(strstr(text, "  logits = %14\n"));
    assert_non_null(strstr(text, "gradcam: max_pooling2d_1\n"));
    free(text);

    text = NULL;
    f = open_memstream(&text, &size);
    cnnc_graph_dump_dot(c.g, f);
    fclose(f);
    assert_true(strncmp(text, "digraph \"mnist_cam\" {", 21) == 0);
    assert_non_null(strstr(text, "  n0 -> n3;\n"));
    assert_non_null(strstr(text, "}\n"));
    free(text);
    release(&c);
}

static void test_warnings_do_not_stop(void **state)
{
    (void)state;
    compiled c = compile_text("input shape=28x28x1\nflatten\ndense units=10\nsoftmax\n"
                              "dense units=10 activation=softmax\n"
                              "compile optimizer=adam momentum=0.9\n");
    assert_int_equal(c.errors, 0);
    assert_int_equal(c.warnings, 2);
    assert_non_null(c.g);
    expect_message(&c, "t.cnn:4:1: warning: softmax in 'softmax' is not the last layer");
    expect_message(&c, "t.cnn:6:24: warning: 'momentum' has no effect with optimizer=adam");
    release(&c);

    c = compile_text("input shape=28x28x1\nflatten\ndense units=10\ncompile optimizer=sgd "
                     "beta_1=0.8\n");
    assert_int_equal(c.errors, 0);
    expect_message(&c, "t.cnn:4:23: warning: 'beta_1' has no effect with optimizer=sgd");
    expect_message(&c, "t.cnn:3:1: warning: the model does not end in softmax");
    assert_true(c.g->train.lr == 0.01);   /* sgd's default */
    release(&c);
}

/* ---- every error case, with its position and message ----------------------------------------- */

typedef struct error_case {
    const char *source;
    const char *message;   /* the complete first line of the expected diagnostic */
    const char *note;      /* an expected note, or NULL */
} error_case;

#define HEAD "input shape=28x28x1\n"
#define TAIL "flatten\ndense units=10\nsoftmax\n"

static const error_case error_cases[] = {
    /* unknown statements and keys, with suggestions */
    {HEAD "conv2d filtrs=32 kernel=3\n" TAIL,
     "t.cnn:2:8: error: unknown key 'filtrs' for 'conv2d'\n",
     "t.cnn:2:8: note: did you mean 'filters'?\n"},
    {HEAD "conv3d filters=32 kernel=3\n" TAIL,
     "t.cnn:2:1: error: unknown statement 'conv3d'\n", "t.cnn:2:1: note: did you mean 'conv2d'?\n"},
    {HEAD "maxpool2d\n" TAIL,
     "t.cnn:2:1: error: unknown statement 'maxpool2d'\n", "note: did you mean 'max_pool2d'?\n"},
    {HEAD "max_pooling2d\n" TAIL,
     "t.cnn:2:1: error: unknown statement 'max_pooling2d'\n", "note: did you mean 'max_pool2d'?\n"},
    {HEAD "conv2d filters=32 kernel_size=3\n" TAIL,
     "t.cnn:2:19: error: unknown key 'kernel_size' for 'conv2d'\n",
     "note: did you mean 'kernel'?\n"},
    {HEAD "conv2d filters=32 kernel=3 units=4\n" TAIL,
     "t.cnn:2:28: error: unknown key 'units' for 'conv2d'\n",
     "t.cnn:2:28: note: 'units' is an argument of 'dense'\n"},
    {HEAD "conv2d filters=3 filters=4 kernel=3\n" TAIL,
     "t.cnn:2:18: error: 'filters' is given twice\n", "t.cnn:2:8: note: first given here\n"},
    {HEAD "conv2d kernel=3\n" TAIL,
     "t.cnn:2:1: error: 'conv2d' needs 'filters=' (the number of output channels)\n", NULL},
    {HEAD "conv2d 32 kernel=3\n" TAIL, "t.cnn:2:8: error: expected key=value, found '32'\n", NULL},
    /* input */
    {"conv2d filters=3 kernel=3\n" TAIL,
     "t.cnn:1:1: error: missing 'input shape=HxWxC' before the first layer\n", NULL},
    {HEAD "input shape=28x28x1\n" TAIL,
     "t.cnn:2:1: error: 'input' is given twice\n", "t.cnn:1:1: note: first given here\n"},
    {"flatten\n" HEAD "dense units=10\n",
     "t.cnn:2:1: error: 'input' must come before the first layer\n",
     "t.cnn:1:1: note: the first layer is here\n"},
    {"input shape=28x28\n" TAIL,
     "t.cnn:1:13: error: 'shape' must be HxWxC, e.g. 28x28x1, found '28x28'\n", NULL},
    {"input shape=28x0x1\n" TAIL,
     "t.cnn:1:13: error: 'shape' sizes must be between 1 and 65536, found '28x0x1'\n", NULL},
    {HEAD, "t.cnn:1:1: error: the model has no layers after 'input'\n", NULL},
    /* bad values */
    {HEAD "conv2d filters=-3 kernel=3\n" TAIL,
     "t.cnn:2:16: error: 'filters' must be at least 1, found -3\n", NULL},
    {HEAD "conv2d filters=3 kernel=0\n" TAIL,
     "t.cnn:2:25: error: 'kernel' must be between 1 and 4096, found 0\n", NULL},
    {HEAD "conv2d filters=3.5 kernel=3\n" TAIL,
     "t.cnn:2:16: error: 'filters' must be a whole number, found '3.5'\n", NULL},
    {HEAD "conv2d filters=99999999999999999999 kernel=3\n" TAIL,
     "t.cnn:2:16: error: 'filters' must be at most 65536, found 99999999999999999999\n", NULL},
    {HEAD "conv2d filters=3 kernel=3x3x3\n" TAIL,
     "t.cnn:2:25: error: 'kernel' must be a size like 3 or 3x3, found '3x3x3'\n", NULL},
    {HEAD "conv2d filters=3 kernel=3 padding=foo\n" TAIL,
     "t.cnn:2:35: error: 'padding' must be 'valid' or 'same', found 'foo'\n", NULL},
    {HEAD "conv2d filters=3 kernel=3 padding=sane\n" TAIL,
     "t.cnn:2:35: error: 'padding' must be 'valid' or 'same', found 'sane'\n",
     "t.cnn:2:35: note: did you mean 'same'?\n"},
    {HEAD "conv2d filters=3 kernel=3 activation=rleu\n" TAIL,
     "t.cnn:2:38: error: 'activation' must be 'linear', 'relu', 'sigmoid', 'tanh', "
     "'leaky_relu' or 'softmax', found 'rleu'\n", "note: did you mean 'relu'?\n"},
    {HEAD "conv2d filters=3 kernel=3 use_bias=yes\n" TAIL,
     "t.cnn:2:36: error: 'use_bias' must be true or false, found 'yes'\n", NULL},
    {HEAD "dropout rate=1.5\n" TAIL,
     "t.cnn:2:14: error: 'rate' must be in [0, 1), found 1.5\n", NULL},
    {HEAD "dropout rate=1\n" TAIL, "t.cnn:2:14: error: 'rate' must be in [0, 1), found 1\n", NULL},
    {HEAD TAIL "compile lr=0\n", "t.cnn:5:12: error: 'lr' must be in (0, 100], found 0\n", NULL},
    {HEAD TAIL "compile loss=hinge\n",
     "t.cnn:5:14: error: 'loss' must be 'categorical_crossentropy', 'mean_squared_error' or "
     "'mse', found 'hinge'\n", NULL},
    {HEAD TAIL "fit epochs=-1\n", "t.cnn:5:12: error: 'epochs' must be at least 0, found -1\n", NULL},
    {HEAD TAIL "fit validation_split=1.2\n",
     "t.cnn:5:22: error: 'validation_split' must be in [0, 0.99], found 1.2\n", NULL},
    {HEAD TAIL "model\n", "t.cnn:5:1: error: 'model' needs a name, e.g. 'model mnist_cam'\n", NULL},
    {"model a\nmodel b\n" HEAD TAIL, "t.cnn:2:1: error: 'model' is given twice\n", NULL},
    /* names */
    {HEAD "conv2d filters=3 kernel=3 name=c\nconv2d filters=3 kernel=3 name=c\n" TAIL,
     "t.cnn:3:32: error: duplicate layer name 'c'\n", "t.cnn:2:32: note: first used here\n"},
    {HEAD "conv2d filters=3 kernel=3 name=3\n" TAIL,
     "t.cnn:2:32: error: a layer name must start with a letter or '_', found '3'\n", NULL},
    /* gradcam */
    {HEAD "conv2d filters=3 kernel=3\n" TAIL "gradcam layer=conv2d_1\n",
     "t.cnn:6:15: error: gradcam: there is no layer named 'conv2d_1'\n",
     "t.cnn:6:15: note: did you mean 'conv2d'?\n"},
    {HEAD "conv2d filters=3 kernel=3\n" TAIL "gradcam layer=flatten\n",
     "t.cnn:6:15: error: gradcam: layer 'flatten' has shape 2028, but Grad-CAM needs a spatial "
     "layer (HxWxC), such as a conv2d or pooling layer\n",
     "t.cnn:2:1: note: the last spatial layer is 'conv2d'\n"},
    {HEAD TAIL "gradcam\n", "t.cnn:5:1: error: 'gradcam' needs 'layer=' (the name of the layer "
     "to explain, e.g. conv2d_1)\n", NULL},
    /* shapes: named by the shape rules, at the layer's statement */
    {HEAD "dense units=10\n", "t.cnn:2:1: error: dense: expects a flat input (add 'flatten' "
     "before it), but its input 'input' has shape 28x28x1\n", NULL},
    {"input shape=4x4x1\nmax_pool2d pool_size=5\n" TAIL,
     "t.cnn:2:1: error: max_pooling2d: its 5x5 pool is larger than the input (padding=valid), "
     "but its input 'input' has shape 4x4x1\n", NULL},
    {"input shape=4x4x1\nconv2d filters=2 kernel=5\n" TAIL,
     "t.cnn:2:1: error: conv2d: its 5x5 kernel is larger than the input (padding=valid), but its "
     "input 'input' has shape 4x4x1\n", NULL},
    {HEAD "flatten\nconv2d filters=2 kernel=3\n" TAIL,
     "t.cnn:3:1: error: conv2d: expects an HxWxC input, but its input 'flatten' has shape 784\n",
     NULL},
    {"input shape=8x8x1\nconv2d filters=2 kernel=3\n",
     "t.cnn:2:1: error: the model's output must be a vector of class scores, but the last layer "
     "'conv2d' has shape 6x6x2 (end with flatten and dense, or global_avg_pool2d)\n", NULL},
    /* the text itself */
    {"", "t.cnn:1:1: error: the file has no statements: a model starts with 'input shape=HxWxC'\n",
     NULL},
    {"# nothing but a comment\n\n", "t.cnn:1:1: error: the file has no statements", NULL},
    {HEAD "conv2d filters=3 kernel=3 $\n" TAIL, "t.cnn:2:27: error: unexpected character '$'\n",
     NULL},
    {HEAD "conv2d filters=3x kernel=3\n" TAIL,
     "t.cnn:2:16: error: '3x' is not a valid number or size (sizes are written like 3x3)\n", NULL},
    {HEAD "conv2d filters= kernel=3\n" TAIL,
     "t.cnn:2:8: error: missing value after 'filters='\n", NULL},
    {HEAD "= 3\n" TAIL,
     "t.cnn:2:1: error: expected a statement keyword such as 'conv2d', found '='\n", NULL},
    {HEAD "conv2d filters=3 = kernel=3\n" TAIL,
     "t.cnn:2:18: error: unexpected '=': arguments are written key=value, with a name before "
     "'='\n", NULL},
    {HEAD "dense units=10 \xff\n", "t.cnn:2:16: error: invalid UTF-8 byte 0xFF: model files must "
     "be UTF-8 text\n", NULL},
    {HEAD "# comment \xc3\x28\n" TAIL,
     "t.cnn:2:11: error: invalid UTF-8 byte 0xC3: model files must be UTF-8 text\n", NULL},
    {HEAD "dense\x01 units=10\n", "t.cnn:2:6: error: unexpected control character 0x01\n", NULL},
    {HEAD "conv2d filters=3 kernel=3 padding=\"same\"\n" TAIL,
     "t.cnn:2:35: error: unexpected quote: values are written without quotes (padding=same)\n",
     NULL},
    {HEAD "conv2d filters=3 kernel=(3,3)\n" TAIL,
     "t.cnn:2:25: error: unexpected '(': sizes are written 3x3, not (3, 3)\n", NULL},
};

static void test_error_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const error_case *e = &error_cases[i];
        compiled c = compile_text(e->source);
        if (c.g || c.errors < 1 || !strstr(c.messages, e->message) ||
            (e->note && !strstr(c.messages, e->note)))
            fail_msg("case %zu:\n%s\nexpected:\n%s%s\ngot (%d errors):\n%s", i, e->source,
                     e->message, e->note ? e->note : "", c.errors, c.messages);
        release(&c);
    }
}

static void test_all_errors_in_one_run_in_line_order(void **state)
{
    (void)state;
    compiled c = compile_text(HEAD
                              "conv2d filtrs=32 kernel=3\n"      /* 2 */
                              "conv2d filters=8 kernel=3 $\n"    /* 3: scanner */
                              "dropout rate=1.5\n"               /* 4 */
                              "dense units=10\n"                 /* 5: shape */
                              TAIL
                              "gradcam layer=nope\n");           /* 9 */
    assert_null(c.g);
    assert_int_equal(c.errors, 5);
    const char *order[] = {"t.cnn:2:8: error", "t.cnn:3:27: error", "t.cnn:4:14: error",
                           "t.cnn:5:1: error", "t.cnn:9:15: error"};
    const char *at = c.messages;
    for (int i = 0; i < 5; i++) {
        const char *found = strstr(at, order[i]);
        if (!found)
            fail_msg("'%s' missing or out of order in\n%s", order[i], c.messages);
        at = found;
    }
    /* The line is quoted and the token underlined. */
    expect_message(&c, "t.cnn:2:8: error: unknown key 'filtrs' for 'conv2d'\n"
                       "    conv2d filtrs=32 kernel=3\n"
                       "           ^~~~~~\n");
    release(&c);
}

static void test_nul_bytes_and_long_lines(void **state)
{
    (void)state;
    const char binary[] = "input shape=28x28x1\nfla\0tten\n";
    compiled c = compile_text_len(binary, sizeof binary - 1);
    assert_int_equal(c.errors, 1);
    expect_message(&c, "t.cnn:2:4: error: NUL byte: this looks like a binary file");
    release(&c);

    /* A 100,000-character line: reported once, quoted as a window around the caret. */
    size_t n = 100000;
    char *text = malloc(n + 64);
    strcpy(text, "input shape=28x28x1\ndense units=10 ");
    size_t head = strlen(text);
    memset(text + head, 'a', n);
    strcpy(text + head + n, "=1\n");
    c = compile_text(text);
    assert_int_equal(c.errors, 2);   /* the unknown key, and dense on a 28x28x1 input */
    expect_message(&c, "t.cnn:2:16: error: unknown key "
                       "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' for 'dense'\n");
    assert_true(c.size < 2000);
    release(&c);

    /* The same as one huge value. */
    strcpy(text, "input shape=28x28x1\ndense units=");
    head = strlen(text);
    memset(text + head, '9', n);
    strcpy(text + head + n, "\n");
    c = compile_text(text);
    expect_message(&c, "t.cnn:2:13: error: 'units' must be at most 16777216, found 9999");
    assert_true(c.size < 2000);
    release(&c);
    free(text);
}

static void test_error_limit(void **state)
{
    (void)state;
    char *text = malloc(300 * 8 + 1);
    text[0] = '\0';
    for (int i = 0; i < 300; i++)
        strcat(text, "bogus\n");
    compiled c = compile_text(text);
    assert_int_equal(c.errors, CNNC_ERROR_LIMIT);   /* it stopped there */
    expect_message(&c, "t.cnn: error: too many errors (50); stopping here\n");
    assert_non_null(strstr(c.messages, "t.cnn:50:1: error"));
    assert_null(strstr(c.messages, "t.cnn:51:1: error"));
    release(&c);
    free(text);
}

static void test_compile_file_problems(void **state)
{
    (void)state;
    cnnc_diag d;
    cnnc_diag_init(&d, NULL, NULL, 0);
    char *messages = NULL;
    size_t size = 0;
    d.out = open_memstream(&messages, &size);
    assert_null(cnnc_compile_file("/nonexistent/model.cnn", &d));
    assert_null(cnnc_compile_file(CNNC_SOURCE_DIR "/models", &d));
    fclose(d.out);
    assert_int_equal(d.errors, 2);
    assert_non_null(strstr(messages, "/nonexistent/model.cnn: error: cannot open "
                                     "'/nonexistent/model.cnn': No such file or directory\n"));
    assert_non_null(strstr(messages, "is a directory, not a model file\n"));
    assert_null(d.source);
    free(messages);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser_statements_values_locations),
        cmocka_unit_test(test_parser_columns_count_characters),
        cmocka_unit_test(test_parser_keeps_going_after_errors),
        cmocka_unit_test(test_closest),
        cmocka_unit_test(test_model_mnist),
        cmocka_unit_test(test_model_keras_mnist_convnet),
        cmocka_unit_test(test_model_lenet5),
        cmocka_unit_test(test_leaky_relu),
        cmocka_unit_test(test_model_gap),
        cmocka_unit_test(test_defaults_and_names),
        cmocka_unit_test(test_generated_names_skip_given_ones),
        cmocka_unit_test(test_dump_ir_and_dot),
        cmocka_unit_test(test_warnings_do_not_stop),
        cmocka_unit_test(test_error_cases),
        cmocka_unit_test(test_all_errors_in_one_run_in_line_order),
        cmocka_unit_test(test_nul_bytes_and_long_lines),
        cmocka_unit_test(test_error_limit),
        cmocka_unit_test(test_compile_file_problems),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
