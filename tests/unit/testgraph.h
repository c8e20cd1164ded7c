/* Small forward graphs built node by node for the interpreter, autodiff and Grad-CAM
 * tests (no parser involved), plus deterministic random numbers. Everything is static
 * inline so a test file uses only what it needs without unused-function warnings. */
#ifndef CNNC_TEST_GRAPH_H
#define CNNC_TEST_GRAPH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elementwise.h"
#include "graph.h"
#include "ops.h"

typedef struct tg {
    cnnc_graph *g;
    cnnc_diag d;
    char *diag_text;
    size_t diag_len;
    FILE *diag_out;
} tg;

static const cnnc_loc tg_no_loc = {0, 0, 0};

/* A graph with an HxWxC input; diagnostics go to a memory buffer (tg_diag_text). */
static inline void tg_begin(tg *t, const char *name, int64_t h, int64_t w, int64_t c)
{
    memset(t, 0, sizeof *t);
    cnnc_diag_init(&t->d, "test.cnn", NULL, 0);
    t->diag_out = open_memstream(&t->diag_text, &t->diag_len);
    t->d.out = t->diag_out;
    t->d.color = 0;
    t->g = cnnc_graph_new(name);
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    a.shape = cnnc_shape3(h, w, c);
    cnnc_graph_add(t->g, &t->d, CNNC_OP_INPUT, NULL, &a, "input", -1, tg_no_loc);
}

static inline const char *tg_diag_text(tg *t)
{
    fflush(t->diag_out);
    return t->diag_text ? t->diag_text : "";
}

static inline void tg_end(tg *t)
{
    cnnc_graph_free(t->g);
    fclose(t->diag_out);
    free(t->diag_text);
}

static inline int tg_add(tg *t, cnnc_op op, int a, int b, int c, const cnnc_attrs *attrs,
                         const char *name)
{
    int inputs[3] = {a, b, c};
    return cnnc_graph_add(t->g, &t->d, op, inputs, attrs, name, -1, tg_no_loc);
}

/* Registers a Keras layer whose output is `node` (for Grad-CAM targets). */
static inline int tg_layer(tg *t, const char *name, int node)
{
    cnnc_graph *g = t->g;
    if (g->num_layers == g->cap_layers) {
        g->cap_layers = g->cap_layers ? 2 * g->cap_layers : 8;
        g->layers = realloc(g->layers, (size_t)g->cap_layers * sizeof *g->layers);
    }
    cnnc_layer *l = &g->layers[g->num_layers];
    memset(l, 0, sizeof *l);
    l->name = strdup(name);
    l->type = "Test";
    l->keyword = "test";
    l->output_node = node;
    l->shape = g->nodes[node].shape;
    g->nodes[node].layer = g->num_layers;
    return g->num_layers++;
}

static inline int tg_param(tg *t, const char *layer, const char *what, cnnc_shape s)
{
    char name[128];
    snprintf(name, sizeof name, "%s/%s", layer, what);
    return cnnc_graph_add_param(t->g, name, s, CNNC_INIT_GLOROT_UNIFORM, 1, 1, -1);
}

static inline int tg_conv(tg *t, int x, int filters, int k, int stride, cnnc_padding pad,
                          const char *name)
{
    int64_t ci = t->g->nodes[x].shape.dim[2];
    int64_t kd[4] = {k, k, ci, filters};
    int w = tg_param(t, name, "kernel", cnnc_shape_make(4, kd));
    int b = tg_param(t, name, "bias", cnnc_shape1(filters));
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    a.kernel_h = a.kernel_w = k;
    a.stride_h = a.stride_w = stride;
    a.padding = pad;
    a.units = filters;
    return tg_add(t, CNNC_OP_CONV2D, x, w, b, &a, name);
}

static inline int tg_pool(tg *t, cnnc_op op, int x, int k, int stride, cnnc_padding pad,
                          const char *name)
{
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    a.kernel_h = a.kernel_w = k;
    a.stride_h = a.stride_w = stride;
    a.padding = pad;
    return tg_add(t, op, x, -1, -1, &a, name);
}

static inline int tg_unary(tg *t, cnnc_op op, int x, const char *name)
{
    return tg_add(t, op, x, -1, -1, NULL, name);
}

/* An elementwise function of one input (elementwise.h). */
static inline int tg_ew(tg *t, cnnc_ew_fn fn, int x, const char *name)
{
    return cnnc_build_ew(t->g, &t->d, fn, x, -1, -1, 0.0f, name, -1, tg_no_loc);
}

/* An elementwise function of two inputs. */
static inline int tg_ew2(tg *t, cnnc_ew_fn fn, int x, int y, const char *name)
{
    return cnnc_build_ew(t->g, &t->d, fn, x, y, -1, 0.0f, name, -1, tg_no_loc);
}

static inline int tg_flatten(tg *t, int x, const char *name)
{
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    a.shape = cnnc_shape1(cnnc_shape_size(t->g->nodes[x].shape));
    return tg_add(t, CNNC_OP_RESHAPE, x, -1, -1, &a, name);
}

static inline int tg_dense(tg *t, int x, int units, const char *name)
{
    int64_t kd[2] = {t->g->nodes[x].shape.dim[0], units};
    int w = tg_param(t, name, "kernel", cnnc_shape_make(2, kd));
    int b = tg_param(t, name, "bias", cnnc_shape1(units));
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    a.units = units;
    return tg_add(t, CNNC_OP_DENSE, x, w, b, &a, name);
}

static inline int tg_dropout(tg *t, int x, float rate, int index, const char *name)
{
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    a.rate = rate;
    a.dropout_index = index;
    t->g->num_dropouts++;
    return tg_add(t, CNNC_OP_DROPOUT, x, -1, -1, &a, name);
}

/* Marks `node` as the model's output (probabilities, or scores for mse). */
static inline void tg_output(tg *t, int node)
{
    cnnc_graph_add_output(t->g, CNNC_OUT_PROBS, node, -1);
    t->g->num_classes = (int)cnnc_shape_size(t->g->nodes[node].shape);
}

/* Deterministic uniform numbers in [lo, hi). */
static inline float tg_uniform(uint64_t *state, float lo, float hi)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(*state >> 11) * (1.0 / 9007199254740992.0);
    return (float)(lo + (hi - lo) * u);
}

static inline void tg_fill(float *v, int64_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed * 2654435761u + 12345;
    for (int64_t i = 0; i < n; i++)
        v[i] = tg_uniform(&s, lo, hi);
}

/* Random weights: kernels uniform in +-scale, biases in +-scale/4. */
static inline float *tg_random_params(const cnnc_graph *g, uint64_t seed, float scale)
{
    float *p = calloc((size_t)(g->param_floats ? g->param_floats : 1), sizeof *p);
    for (int i = 0; i < g->num_params; i++) {
        float s = g->params[i].shape.rank == 1 ? scale / 4 : scale;
        tg_fill(p + g->params[i].offset, g->params[i].size, seed + (uint64_t)i, -s, s);
    }
    return p;
}

#endif
