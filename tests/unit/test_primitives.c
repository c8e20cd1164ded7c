/* The primitive ops (elementwise.h): for every elementwise function, the generated code
 * (JIT, -O2 and -O0) against the interpreter with broadcasting in both operand orders
 * and with constants; REDUCE (sum, max, mean over several axis sets) and BROADCAST the
 * same way; finite-difference checks of every function's gradient rule and of REDUCE's
 * and BROADCAST's, inside small training graphs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "codegen_common.h"
#include "elementwise.h"
#include "gradcheck.h"
#include "testgraph.h"

static cnnc_builder builder(tg *t)
{
    cnnc_builder b = {t->g, &t->d, "prim", -1, tg_no_loc};
    return b;
}

/* Functions defined only for positive arguments get x + 0.25 (x in [0, 1)); the others
 * x - 0.5, so both signs occur. */
static int needs_positive(cnnc_ew_fn fn)
{
    return fn == CNNC_EW_LOG || fn == CNNC_EW_SQRT || fn == CNNC_EW_POW;
}

/* Generated inference of t's graph (output: its last node) against the interpreter on
 * three random images, weights uniform in [0.5, 1.5). Takes the graph from t. */
static void check_forward(tg *t, int opt)
{
    if (t->d.errors)
        fail_msg("graph: %s", tg_diag_text(t));
    tg_output(t, t->g->num_nodes - 1);
    cg_case c;
    cg_case_init(&c);
    c.g = t->g;
    t->g = NULL;
    cg_jit(&c, opt, CNNC_GEN_INFER);
    const cnnrt_model *m = c.m;
    int64_t n = 3, out = m->num_classes;
    float *params = cg_random(m->param_floats, 0.5f, 1.5f);
    float *x = cg_random(n * cg_image_floats(m), 0.0f, 1.0f);
    float *want = calloc((size_t)(n * out), sizeof *want);
    float *got = calloc((size_t)(n * out), sizeof *got);
    if (cnnc_interp_infer(c.g, params, x, n, want, NULL, &c.d))
        fail_msg("interpreter: %s", cg_diag(&c));
    float *ws = cg_workspace(m, 1);
    m->infer(params, x, n, got, NULL, ws, NULL);
    cg_assert_close("value", got, want, n * out, opt == 0 ? 1e-5 : 1e-4);
    free(ws);
    free(params);
    free(x);
    free(want);
    free(got);
    cg_case_free(&c);
}

/* fn over [3,4,5] operands, a [5] weight vector (broadcast) and a constant, each operand
 * order, summed with distinct scales into one output. */
static void check_function(cnnc_ew_fn fn, int opt)
{
    tg t;
    tg_begin(&t, "prim", 3, 4, 5);
    cnnc_builder b = builder(&t);
    int p = tg_param(&t, "w", "vector", cnnc_shape1(5));
    int x = cnnc_shift(&b, 0, needs_positive(fn) ? 0.25f : -0.5f);
    int y = cnnc_shift(&b, cnnc_mul(&b, x, x), needs_positive(fn) ? 0.5f : -0.1f);
    int c = cnnc_const(&b, needs_positive(fn) ? 1.5f : -0.75f);
    int arity = cnnc_ew_info_of(fn)->arity;
    int cond = cnnc_greater(&b, x, cnnc_const(&b, needs_positive(fn) ? 0.7f : 0.1f));
    int r1, r2, r3;
    if (arity == 1) {
        r1 = cnnc_ew(&b, fn, x, -1, -1, 0.2f);
        r2 = cnnc_ew(&b, fn, cnnc_mul(&b, x, p), -1, -1, 0.2f);
        r3 = cnnc_ew(&b, fn, y, -1, -1, 0.2f);
    } else if (arity == 2) {
        r1 = cnnc_ew2(&b, fn, x, p);
        r2 = cnnc_ew2(&b, fn, p, y);
        r3 = cnnc_ew2(&b, fn, cnnc_ew2(&b, fn, c, x), c);
    } else {
        r1 = cnnc_ew(&b, fn, cond, x, p, 0);
        r2 = cnnc_ew(&b, fn, cond, p, c, 0);
        r3 = cnnc_ew(&b, fn, cnnc_greater(&b, p, cnnc_const(&b, 1.0f)), y, x, 0);
    }
    int sum = cnnc_add(&b, cnnc_add(&b, r1, cnnc_scale(&b, r2, 3.0f)), cnnc_scale(&b, r3, 7.0f));
    if (sum < 0)
        fail_msg("%s: %s", cnnc_ew_info_of(fn)->name, tg_diag_text(&t));
    check_forward(&t, opt);
    tg_end(&t);
}

static void test_every_function_O2(void **state)
{
    (void)state;
    for (int fn = 0; fn < CNNC_EW_COUNT; fn++)
        check_function((cnnc_ew_fn)fn, 2);
}

static void test_every_function_O0(void **state)
{
    (void)state;
    for (int fn = 0; fn < CNNC_EW_COUNT; fn++)
        check_function((cnnc_ew_fn)fn, 0);
}

/* Reductions of a [3,4,5] value over every axis set, each kind; broadcasts back. */
static void test_reduce_and_broadcast(void **state)
{
    (void)state;
    for (int kind = CNNC_REDUCE_SUM; kind <= CNNC_REDUCE_MEAN; kind++)
        for (unsigned axes = 0; axes < 8; axes++) {
            tg t;
            tg_begin(&t, "red", 3, 4, 5);
            cnnc_builder b = builder(&t);
            int x = cnnc_shift(&b, 0, -0.5f);
            int r = cnnc_reduce(&b, (cnnc_reduce_kind)kind, x, axes);
            int back = cnnc_broadcast(&b, r, axes, t.g->nodes[0].shape);
            if (cnnc_add(&b, back, cnnc_scale(&b, x, 0.5f)) < 0)
                fail_msg("reduce: %s", tg_diag_text(&t));
            assert_int_equal(t.g->nodes[r].shape.rank, 3 - __builtin_popcount(axes));
            check_forward(&t, axes % 2 ? 2 : 0);
            tg_end(&t);
        }
}

/* The shape rules refuse what does not broadcast. */
static void test_shape_errors(void **state)
{
    (void)state;
    tg t;
    tg_begin(&t, "bad", 3, 4, 5);
    cnnc_builder b = builder(&t);
    int p = tg_param(&t, "w", "vector", cnnc_shape1(4));
    assert_int_equal(cnnc_add(&b, 0, p), -1);
    assert_non_null(strstr(tg_diag_text(&t), "broadcast"));
    assert_int_equal(cnnc_add(&b, -1, p), -1);   /* a failed input: no new message */
    tg_end(&t);
}

/* ---- gradients ------------------------------------------------------------------------ */

static void check_gradients(tg *t, const char *what)
{
    cnnc_graph *train = cnnc_build_train_graph(t->g, &t->d);
    if (!train)
        fail_msg("%s: train graph: %s", what, tg_diag_text(t));
    float *params = tg_random_params(train, 11, 0.6f);
    int64_t image_floats = cnnc_shape_size(train->nodes[train->input_node].shape);
    float *image = malloc((size_t)image_floats * sizeof *image);
    tg_fill(image, image_floats, 5, 0, 1);
    cnnc_gradcheck gc;
    cnnc_gradcheck_defaults(&gc);
    gc.label = 1;
    gc.max_per_param = 30;
    if (cnnc_gradcheck_train(train, params, image, &gc, &t->d))
        fail_msg("%s: gradient check (%d of %d elements failed, worst %s): %s", what,
                 gc.failed, gc.checked, gc.worst, tg_diag_text(t));
    assert_true(gc.checked > 0);
    free(image);
    free(params);
    cnnc_graph_free(train);
}

/* Ends a [4,4,3] value with flatten, dense and softmax, and checks the gradients. */
static void finish_and_check(tg *t, int value, const char *what)
{
    if (value < 0)
        fail_msg("%s: %s", what, tg_diag_text(t));
    int f = tg_flatten(t, value, "flatten");
    int d = tg_dense(t, f, 3, "dense");
    tg_output(t, tg_unary(t, CNNC_OP_SOFTMAX, d, "softmax"));
    check_gradients(t, what);
}

/* fn of two convolutions' outputs a, b (positive ones where the function needs them) and
 * a per-channel weight vector p; the condition of select depends on them too. */
static void test_every_function_gradient(void **state)
{
    (void)state;
    for (int fn = 0; fn < CNNC_EW_COUNT; fn++) {
        tg t;
        tg_begin(&t, "gradm", 4, 4, 2);
        cnnc_builder b = builder(&t);
        int a = tg_conv(&t, 0, 3, 3, 1, CNNC_PAD_SAME, "conv_a");
        int c = tg_conv(&t, 0, 3, 3, 1, CNNC_PAD_SAME, "conv_b");
        int p = tg_param(&t, "w", "vector", cnnc_shape1(3));
        if (needs_positive((cnnc_ew_fn)fn) || fn == CNNC_EW_DIV) {
            /* away from the poles: denominators and logarithms of at least 0.5 */
            a = cnnc_shift(&b, cnnc_ew1(&b, CNNC_EW_SIGMOID, a), 0.5f);
            c = cnnc_shift(&b, cnnc_ew1(&b, CNNC_EW_SIGMOID, c), 0.5f);
            p = cnnc_shift(&b, cnnc_ew1(&b, CNNC_EW_SQUARE, p), 0.5f);
        }
        int arity = cnnc_ew_info_of((cnnc_ew_fn)fn)->arity, r;
        if (arity == 1)
            r = cnnc_add(&b, cnnc_ew(&b, (cnnc_ew_fn)fn, a, -1, -1, 0.3f), cnnc_mul(&b, c, p));
        else if (arity == 2)
            r = cnnc_add(&b, cnnc_ew2(&b, (cnnc_ew_fn)fn, a, p),
                         cnnc_ew2(&b, (cnnc_ew_fn)fn, c, a));
        else
            r = cnnc_add(&b, cnnc_ew(&b, (cnnc_ew_fn)fn, cnnc_greater(&b, a, c), c, p, 0), a);
        /* A function without gradient (a comparison) still passes the value on. */
        if (fn == CNNC_EW_GREATER || fn == CNNC_EW_EQUAL)
            r = cnnc_add(&b, r, cnnc_mul(&b, cnnc_mul(&b, a, c), p));
        finish_and_check(&t, r, cnnc_ew_info_of((cnnc_ew_fn)fn)->name);
        tg_end(&t);
    }
}

static void test_reduce_gradients(void **state)
{
    (void)state;
    static const unsigned axes[] = {1 | 2, 4, 1 | 2 | 4, 2};
    for (int kind = CNNC_REDUCE_SUM; kind <= CNNC_REDUCE_MEAN; kind++)
        for (size_t i = 0; i < sizeof axes / sizeof axes[0]; i++) {
            tg t;
            tg_begin(&t, "redg", 4, 4, 2);
            cnnc_builder b = builder(&t);
            int a = tg_conv(&t, 0, 3, 3, 1, CNNC_PAD_SAME, "conv_a");
            int r = cnnc_reduce(&b, (cnnc_reduce_kind)kind, a, axes[i]);
            /* back to [4,4,3]: through the reduced value and a broadcast of it */
            int back = cnnc_broadcast(&b, r, axes[i], t.g->nodes[a].shape);
            char what[64];
            snprintf(what, sizeof what, "reduce kind %d axes %u", kind, axes[i]);
            finish_and_check(&t, cnnc_mul(&b, a, back), what);
            tg_end(&t);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_function_O2),
        cmocka_unit_test(test_every_function_O0),
        cmocka_unit_test(test_reduce_and_broadcast),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_every_function_gradient),
        cmocka_unit_test(test_reduce_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
