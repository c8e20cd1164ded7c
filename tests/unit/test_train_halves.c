/* The training step's two halves (cnnrt_model.h: train_gradients, train_update), which
 * data-parallel training under mpirun calls with the ranks' gradient sum between them
 * (runtime/mpi_train.c), against the whole train_step, bit for bit:
 *   - the halves on the whole batch give train_step's params, optimizer state and stats;
 *   - two shares of the batch, each on one thread, summed, then one update, give what
 *     train_step computes on 2 threads (what 2 ranks of 1 thread do);
 *   - an empty share gives zero gradients and stats, and an update of 0 images changes
 *     nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "cnnrt_info.h"
#include "codegen_common.h"

static const char *const adam_model =
    "model halves\n"
    "input shape=8x8x1\n"
    "conv2d filters=4 kernel=3 padding=same activation=relu\n"
    "max_pool2d\n"
    "flatten\n"
    "dense units=5\n"
    "softmax\n"
    "compile loss=categorical_crossentropy optimizer=adam lr=0.01\n";

typedef struct batch {
    int64_t n;
    float *x;
    int32_t *labels;
} batch;

static batch random_batch(const cnnrt_model *m, int64_t n)
{
    batch b = {n, cg_random(n * cg_image_floats(m), 0, 1), malloc((size_t)n * sizeof(int32_t))};
    for (int64_t i = 0; i < n; i++)
        b.labels[i] = (int32_t)(i % m->num_classes);
    return b;
}

static void test_halves_equal_train_step(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, adam_model);
    cg_jit(&c, 2, 0);
    const cnnrt_model *m = c.m;
    assert_non_null(m->train_gradients);
    assert_non_null(m->train_update);
    int64_t P = m->param_floats, S = m->opt_state_floats, n = 13;
    batch b = random_batch(m, n);
    float *params = cg_random(P, -0.5f, 0.5f), *opt = cg_random(S, 0, 0.01f);
    cnnrt_err e;
    cnnrt_pool *pool = cnnrt_pool_create(2, &e);
    assert_non_null(pool);
    float *ws = cg_workspace(m, 2);

    /* train_step on 2 threads */
    float *p1 = cg_copy(params, P), *o1 = cg_copy(opt, S), stats1[2];
    m->train_step(p1, o1, b.x, b.labels, n, 3, 0.01f, 42, stats1, ws, pool);

    /* the halves on the whole batch, same pool */
    float *p2 = cg_copy(params, P), *o2 = cg_copy(opt, S), stats2[2];
    float *grad = cnnrt_aligned_alloc((size_t)P * sizeof(float));
    m->train_gradients(p2, b.x, b.labels, n, 42, grad, stats2, ws, pool);
    m->train_update(p2, o2, grad, n, 3, 0.01f);
    assert_memory_equal(p1, p2, (size_t)P * sizeof(float));
    assert_memory_equal(o1, o2, (size_t)S * sizeof(float));
    assert_memory_equal(stats1, stats2, sizeof stats1);

    /* two shares on one thread each, as the pool cuts the batch: [0, n/2), [n/2, n) */
    int64_t cut = n / 2;
    float *p3 = cg_copy(params, P), *o3 = cg_copy(opt, S), s_a[2], s_b[2];
    float *g_b = cnnrt_aligned_alloc((size_t)P * sizeof(float));
    m->train_gradients(p3, b.x, b.labels, cut, 42, grad, s_a, ws, NULL);
    m->train_gradients(p3, b.x + cut * cg_image_floats(m), b.labels + cut, n - cut, 42, g_b,
                       s_b, ws, NULL);
    for (int64_t i = 0; i < P; i++)
        grad[i] += g_b[i];
    m->train_update(p3, o3, grad, n, 3, 0.01f);
    assert_memory_equal(p1, p3, (size_t)P * sizeof(float));
    assert_memory_equal(o1, o3, (size_t)S * sizeof(float));
    float stats3[2] = {s_a[0] + s_b[0], s_a[1] + s_b[1]};
    assert_memory_equal(stats1, stats3, sizeof stats1);

    /* an empty share; an update of no images */
    float s_e[2] = {5, 5};
    for (int64_t i = 0; i < P; i++)
        g_b[i] = 7;
    m->train_gradients(p3, b.x, b.labels, 0, 42, g_b, s_e, ws, pool);
    for (int64_t i = 0; i < P; i++)
        assert_true(g_b[i] == 0.0f);
    assert_true(s_e[0] == 0.0f && s_e[1] == 0.0f);
    m->train_update(p3, o3, grad, 0, 4, 0.01f);
    assert_memory_equal(p1, p3, (size_t)P * sizeof(float));

    cnnrt_pool_destroy(pool);
    free(ws);
    free(grad);
    free(g_b);
    free(params), free(opt), free(p1), free(o1), free(p2), free(o2), free(p3), free(o3);
    free(b.x), free(b.labels);
    cg_case_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_halves_equal_train_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
