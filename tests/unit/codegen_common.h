/* Shared by the test_codegen*.c files: compile a model text, JIT it, random weights and
 * inputs, and the comparison with the interpreter. Static functions only. */
#ifndef CNNC_TEST_CODEGEN_COMMON_H
#define CNNC_TEST_CODEGEN_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "cnnrt_pool.h"
#include "codegen.h"
#include "frontend.h"
#include "interp.h"

/* The runtime functions generated code calls: a static libcnnrt only links in what is
 * referenced, so the test hands them to the JIT explicitly. */
static const cnnc_jit_symbol cg_runtime_symbols[] = {
    {"cnnrt_parallel_for", (void *)cnnrt_parallel_for},
    {"cnnrt_pool_threads", (void *)cnnrt_pool_threads},
    {"cnnrt_parallel_team", (void *)cnnrt_parallel_team},
    {"cnnrt_team_barrier", (void *)cnnrt_team_barrier},
    {"cnnrt_batch_arena_take", (void *)cnnrt_batch_arena_take},
    {"cnnrt_batch_arena_give", (void *)cnnrt_batch_arena_give},
    {"cnnrt_batch_mean", (void *)cnnrt_batch_mean},
};
enum { CG_RUNTIME_SYMBOLS = sizeof cg_runtime_symbols / sizeof cg_runtime_symbols[0] };

/* The text of a file (its first MiB), or NULL when it cannot be opened. The caller
 * frees it. */
static inline char *cg_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* The text of models/<name> in the source tree, or NULL when it cannot be opened. */
static inline char *cg_read_model(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s", CNNC_SOURCE_DIR, name);
    return cg_read_text(path);
}

/* Options that write `emit` at optimisation level opt_level, the rest as the defaults. */
static inline cnnc_codegen_options cg_emit_options(cnnc_emit_kind emit, int opt_level)
{
    cnnc_codegen_options o;
    cnnc_codegen_options_init(&o);
    o.emit = emit;
    o.opt_level = opt_level;
    return o;
}

typedef struct cg_case {
    cnnc_diag d;
    char *diag_text;
    size_t diag_len;
    FILE *diag_out;
    cnnc_graph *g;
    cnnc_jit *jit;
    const cnnrt_model *m;
} cg_case;

static inline const char *cg_diag(cg_case *c)
{
    fflush(c->diag_out);
    return c->diag_text ? c->diag_text : "";
}

static inline void cg_case_init(cg_case *c)
{
    memset(c, 0, sizeof *c);
    cnnc_diag_init(&c->d, "test.cnn", NULL, 0);
    c->diag_out = open_memstream(&c->diag_text, &c->diag_len);
    c->d.out = c->diag_out;
    c->d.color = 0;
}

/* Parses model text; fails the test on any error. */
static inline void cg_compile_text(cg_case *c, const char *text)
{
    cg_case_init(c);
    c->g = cnnc_compile_source(text, strlen(text), "test.cnn", &c->d);
    if (!c->g)
        fail_msg("model does not compile:\n%s", cg_diag(c));
}

static inline void cg_compile_file(cg_case *c, const char *path)
{
    cg_case_init(c);
    c->g = cnnc_compile_file(path, &c->d);
    if (!c->g)
        fail_msg("%s does not compile:\n%s", path, cg_diag(c));
}

/* --target-cpu for the next JIT compilations (NULL: the host). A named CPU also selects
 * the portable 8-float tiles, so AVX-512 hosts test both tile widths. */
static const char *cg_target_cpu = NULL;

static inline void cg_jit_layer(cg_case *c, int opt_level, int programs, const char *layer)
{
    cnnc_codegen_options o;
    cnnc_codegen_options_init(&o);
    o.only_cam_layer = layer;
    o.target_cpu = cg_target_cpu;
    o.emit = CNNC_EMIT_NONE;
    o.opt_level = opt_level;
    o.programs = programs;
    c->jit = cnnc_jit_compile(c->g, &o, cg_runtime_symbols, CG_RUNTIME_SYMBOLS, &c->d);
    if (!c->jit)
        fail_msg("JIT failed:\n%s", cg_diag(c));
    c->m = cnnc_jit_model(c->jit);
    assert_non_null(c->m);
}

static inline void cg_jit(cg_case *c, int opt_level, int programs)
{
    cg_jit_layer(c, opt_level, programs, NULL);
}

static inline void cg_case_free(cg_case *c)
{
    cnnc_jit_free(c->jit);
    cnnc_graph_free(c->g);
    fclose(c->diag_out);
    free(c->diag_text);
}

/* Deterministic uniform numbers in [lo, hi). */
static uint64_t cg_rng_state = 88172645463325252ull;
static inline float cg_uniform(float lo, float hi)
{
    cg_rng_state ^= cg_rng_state << 13;
    cg_rng_state ^= cg_rng_state >> 7;
    cg_rng_state ^= cg_rng_state << 17;
    return lo + (hi - lo) * (float)((cg_rng_state >> 40) * (1.0 / 16777216.0));
}

static inline float *cg_random(int64_t n, float lo, float hi)
{
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = cg_uniform(lo, hi);
    return v;
}

static inline float *cg_copy(const float *v, int64_t n)
{
    float *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    memcpy(c, v, (size_t)n * sizeof *c);
    return c;
}

static inline float *cg_workspace(const cnnrt_model *m, int threads)
{
    float *ws = cnnrt_aligned_alloc((size_t)(m->ws_floats_per_thread * threads) * sizeof(float));
    assert_non_null(ws);
    return ws;
}

/* |a - b| <= tol * max(1, |b|): relative for large values, absolute near zero. */
static inline void cg_assert_close(const char *what, const float *got, const float *want, int64_t n,
                            double tol)
{
    for (int64_t i = 0; i < n; i++) {
        double a = got[i], b = want[i];
        double lim = tol * (fabs(b) > 1.0 ? fabs(b) : 1.0);
        if (!(fabs(a - b) <= lim))
            fail_msg("%s[%lld]: generated %.9g, interpreter %.9g (|diff| %.3g > %.3g)", what,
                     (long long)i, a, b, fabs(a - b), lim);
    }
}

static inline int64_t cg_image_floats(const cnnrt_model *m)
{
    return m->input_h * m->input_w * m->input_c;
}

/* Generated NAME_infer against cnnc_interp_infer on n random images, weights uniform in
 * [-scale, scale]: the probabilities, and the logits when asked for (the same run without
 * them must give the same probabilities). */
static inline void cg_check_infer(cg_case *c, int64_t n, int threads, double tol, float scale)
{
    const cnnrt_model *m = c->m;
    size_t outputs = (size_t)(n * m->num_classes);
    float *params = cg_random(m->param_floats, -scale, scale);
    float *x = cg_random(n * cg_image_floats(m), 0.0f, 1.0f);
    float *want = calloc(outputs, sizeof *want), *got = calloc(outputs, sizeof *got);
    float *want_logits = calloc(outputs, sizeof *want_logits);
    float *got_logits = calloc(outputs, sizeof *got_logits);
    float *got_alone = calloc(outputs, sizeof *got_alone);
    if (cnnc_interp_infer(c->g, params, x, n, want, want_logits, &c->d))
        fail_msg("interpreter failed: %s", cg_diag(c));
    cnnrt_err e;
    cnnrt_pool *pool = threads > 1 ? cnnrt_pool_create(threads, &e) : NULL;
    float *ws = cg_workspace(m, threads);
    m->infer(params, x, n, got, got_logits, ws, pool);
    m->infer(params, x, n, got_alone, NULL, ws, pool);
    cg_assert_close("probs", got, want, n * m->num_classes, tol);
    cg_assert_close("logits", got_logits, want_logits, n * m->num_classes, tol);
    assert_memory_equal(got_alone, got, outputs * sizeof *got);
    if (pool)
        cnnrt_pool_destroy(pool);
    free(ws);
    free(params);
    free(x);
    free(want);
    free(got);
    free(want_logits);
    free(got_logits);
    free(got_alone);
}

/* The generated train step against the interpreter's (cnnc_interp_train_step) over a few
 * steps, from the same weights and optimizer state, on n random images labelled i % the
 * class count: the stats, the weights and the optimizer state within 1e-4 after every
 * step. params and opt_state (param_floats and opt_state_floats floats) are taken over.
 * Step short_step (0: none) runs on n - 1 images, so that the next step reuses what the
 * runtime kept from a larger one (batch_norm's batch arena). lr <= 0: the model's. */
typedef struct cg_train_comparison {
    float *params, *opt_state;
    int64_t n;
    int steps, threads, short_step;
    float lr;
} cg_train_comparison;

static inline void cg_compare_training(cg_case *c, const cg_train_comparison *t)
{
    const cnnrt_model *m = c->m;
    assert_non_null(m->train_step);
    cnnc_graph *train = cnnc_build_train_graph(c->g, &c->d);
    if (!train)
        fail_msg("train graph: %s", cg_diag(c));
    int64_t P = m->param_floats, S = m->opt_state_floats, n = t->n;
    float *params_ref = cg_copy(t->params, P), *opt_ref = cg_copy(t->opt_state, S);
    float *x = cg_random(n * cg_image_floats(m), 0.0f, 1.0f);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    for (int64_t i = 0; i < n; i++)
        labels[i] = (int32_t)(i % m->num_classes);
    float lr = t->lr > 0 ? t->lr : (float)c->g->train.lr;
    cnnrt_err e;
    cnnrt_pool *pool = t->threads > 1 ? cnnrt_pool_create(t->threads, &e) : NULL;
    float *ws = cg_workspace(m, t->threads);
    for (int step = 1; step <= t->steps; step++) {
        float stats_gen[2] = {-1, -1}, stats_ref[2] = {-1, -1};
        int64_t batch = step == t->short_step ? n - 1 : n;
        if (cnnc_interp_train_step(train, params_ref, opt_ref, x, labels, batch, step, lr, 7,
                                   stats_ref, &c->d))
            fail_msg("interpreter: %s", cg_diag(c));
        m->train_step(t->params, t->opt_state, x, labels, batch, step, lr, 7, stats_gen, ws,
                      pool);
        cg_assert_close("stats", stats_gen, stats_ref, 2, 1e-4);
        cg_assert_close("params", t->params, params_ref, P, 1e-4);
        cg_assert_close("opt_state", t->opt_state, opt_ref, S, 1e-4);
    }
    if (pool)
        cnnrt_pool_destroy(pool);
    free(ws);
    free(t->params);
    free(params_ref);
    free(t->opt_state);
    free(opt_ref);
    free(x);
    free(labels);
    cnnc_graph_free(train);
}

#endif
