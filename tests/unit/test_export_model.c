/* The exporters (compiler/export_model.c, keras_config.c) on graphs that hold ops they do
 * not know: every such node is reported, with its name, and the export fails cleanly --
 * including when later nodes read the value of a node that could not be exported (the
 * ONNX export used to go on building those nodes from a missing value and crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "export_model.h"
#include "testgraph.h"

/* input 8x8x1 -> conv2d -> FN (unknown to the exporters) -> relu -> flatten -> dense ->
 * softmax. */
static void build_with(tg *t, cnnc_ew_fn fn, const char *fn_name)
{
    tg_begin(t, "unexportable", 8, 8, 1);
    int x = tg_conv(t, t->g->input_node, 2, 3, 1, CNNC_PAD_SAME, "conv2d");
    tg_layer(t, "conv2d", x);
    tg_layer(t, fn_name, x = tg_ew(t, fn, x, fn_name));
    tg_layer(t, "relu", x = tg_ew(t, CNNC_EW_RELU, x, "relu"));
    tg_layer(t, "flatten", x = tg_flatten(t, x, "flatten"));
    tg_layer(t, "dense", x = tg_dense(t, x, 3, "dense"));
    tg_layer(t, "softmax", x = tg_unary(t, CNNC_OP_SOFTMAX, x, "softmax"));
    tg_output(t, x);
    assert_int_equal(t->d.errors, 0);
}

static void onnx_refuses_unknown_op_without_crash(void **state)
{
    (void)state;
    static const struct { cnnc_ew_fn fn; const char *name; } unknown[] = {
        {CNNC_EW_EXP, "exp"}, {CNNC_EW_SQUARE, "square"}, {CNNC_EW_ABS, "abs"}};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        tg t;
        build_with(&t, unknown[i].fn, unknown[i].name);
        unsigned char *bytes = (unsigned char *)"untouched";
        size_t len = 1;
        assert_int_equal(cnnc_onnx_template(t.g, &bytes, &len, &t.d), -1);
        assert_null(bytes);
        assert_int_equal(len, 0);
        char want[128];
        snprintf(want, sizeof want, "ONNX export: '%s' (", unknown[i].name);
        const char *text = tg_diag_text(&t);
        if (!strstr(text, want))
            fail_msg("no message naming '%s':\n%s", unknown[i].name, text);
        assert_int_equal(t.d.errors, 1);   /* the node itself, not the ones after it */
        tg_end(&t);
    }
}

static void onnx_refuses_two_unknown_ops(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "two", 8, 8, 1);
    int x = tg_ew(&t, CNNC_EW_EXP, t.g->input_node, "first");
    x = tg_ew(&t, CNNC_EW_SQRT, x, "second");
    x = tg_flatten(&t, x, "flatten");
    x = tg_dense(&t, x, 3, "dense");
    tg_output(&t, tg_unary(&t, CNNC_OP_SOFTMAX, x, "softmax"));
    unsigned char *bytes = NULL;
    size_t len = 0;
    assert_int_equal(cnnc_onnx_template(t.g, &bytes, &len, &t.d), -1);
    const char *text = tg_diag_text(&t);
    if (!strstr(text, "'first'") || !strstr(text, "'second'"))
        fail_msg("both unknown nodes must be reported:\n%s", text);
    assert_int_equal(t.d.errors, 2);
    tg_end(&t);
}

static void keras_config_refuses_unknown_op_without_crash(void **state)
{
    (void)state;
    tg t;
    build_with(&t, CNNC_EW_EXP, "exp");
    char *json = cnnc_keras_config(t.g, &t.d);
    assert_null(json);
    const char *text = tg_diag_text(&t);
    if (!strstr(text, "Keras export: layer 'exp'"))
        fail_msg("no message naming 'exp':\n%s", text);
    assert_int_equal(t.d.errors, 1);
    tg_end(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(onnx_refuses_unknown_op_without_crash),
        cmocka_unit_test(onnx_refuses_two_unknown_ops),
        cmocka_unit_test(keras_config_refuses_unknown_op_without_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
