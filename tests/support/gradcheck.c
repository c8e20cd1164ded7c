/* Finite-difference gradient checks through the reference interpreter (gradcheck.h). */
#include "gradcheck.h"
#include "interp.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cnnc_gradcheck_defaults(cnnc_gradcheck *gc)
{
    memset(gc, 0, sizeof *gc);
    gc->h = 1e-3;
    gc->atol = 2e-3;
    gc->rtol = 2e-2;
    gc->max_per_param = 0;
    gc->seed = 1;
    gc->label = 0;
}

static int images_of(const cnnc_gradcheck *gc)
{
    return gc->batch > 1 ? gc->batch : 1;
}

/* Runs the graph on the check's images (all at once, node by node: batch_norm needs the
 * batch); values[b] receives image b's values. */
static float ***run(const cnnc_graph *train, const float *params, const float *image,
                    const cnnc_gradcheck *gc, cnnc_diag *d)
{
    int n = images_of(gc);
    float ***values = cnnc_xcalloc((size_t)n, sizeof *values);
    cnnc_interp_ctx *ctxs = cnnc_xcalloc((size_t)n, sizeof *ctxs);
    for (int b = 0; b < n; b++) {
        values[b] = cnnc_interp_alloc_values(train);
        int label = gc->labels ? gc->labels[b] : gc->label;
        ctxs[b] = (cnnc_interp_ctx){1, gc->seed, b, CNNRT_SCORE_LOGIT, label, NULL};
    }
    int rc = cnnc_interp_run_batch(train, params, image, n, ctxs, values, d);
    free(ctxs);
    if (rc) {
        for (int b = 0; b < n; b++)
            cnnc_interp_free_values(train, values[b]);
        free(values);
        return NULL;
    }
    return values;
}

static void free_run(const cnnc_graph *train, const cnnc_gradcheck *gc, float ***values)
{
    for (int b = 0; b < images_of(gc); b++)
        cnnc_interp_free_values(train, values[b]);
    free(values);
}

int cnnc_gradcheck_loss(const cnnc_graph *train, const float *params, const float *image,
                        const cnnc_gradcheck *gc, double *loss, cnnc_diag *d)
{
    int loss_node = cnnc_graph_find_output(train, CNNC_OUT_LOSS);
    if (loss_node < 0) {
        cnnc_error(d, (cnnc_loc){0, 0, 0}, "gradient check: the graph has no loss output");
        return -1;
    }
    float ***values = run(train, params, image, gc, d);
    if (!values)
        return -1;
    *loss = 0.0;
    for (int b = 0; b < images_of(gc); b++)
        *loss += values[b][loss_node][0];
    free_run(train, gc, values);
    return 0;
}

/* The analytic gradient of the images' summed loss as a flat buffer laid out like
 * params. */
static int analytic_gradient(const cnnc_graph *train, const float *params, const float *image,
                             const cnnc_gradcheck *gc, float *grad, cnnc_diag *d)
{
    float ***values = run(train, params, image, gc, d);
    memset(grad, 0, (size_t)train->param_floats * sizeof *grad);
    if (!values)
        return -1;
    for (int b = 0; b < images_of(gc); b++)
        for (int o = 0; o < train->num_outputs; o++) {
            const cnnc_output *out = &train->outputs[o];
            if (out->role != CNNC_OUT_PARAM_GRAD)
                continue;
            const cnnc_param *p = &train->params[out->param];
            for (int64_t i = 0; i < p->size; i++)
                grad[p->offset + i] += values[b][out->node][i];
        }
    free_run(train, gc, values);
    return 0;
}

/* The differences of element i with step h: central (L(p+h) - L(p-h)) / 2h and the
 * one-sided (L(p+h) - L(p)) / h and (L(p) - L(p-h)) / h, each over the step actually
 * taken after rounding to float. loss0 = L(p). */
static int differences(const cnnc_graph *train, float *p, const float *image,
                       const cnnc_gradcheck *gc, int64_t i, double h, double loss0,
                       double out[3], cnnc_diag *d)
{
    float saved = p[i];
    double plus, minus;
    p[i] = (float)(saved + h);
    double h_plus = (double)p[i] - saved;
    int rc = cnnc_gradcheck_loss(train, p, image, gc, &plus, d);
    p[i] = (float)(saved - h);
    double h_minus = saved - (double)p[i];
    if (rc == 0)
        rc = cnnc_gradcheck_loss(train, p, image, gc, &minus, d);
    p[i] = saved;
    if (rc == 0) {
        out[0] = (plus - minus) / (h_plus + h_minus);
        out[1] = (plus - loss0) / h_plus;
        out[2] = (loss0 - minus) / h_minus;
    }
    return rc;
}

/* How far |analytic - numeric| exceeds the tolerance (<= 0: agreement). */
static double excess_of(const cnnc_gradcheck *gc, double analytic, double numeric)
{
    double scale = fmax(fabs(analytic), fabs(numeric));
    return fabs(analytic - numeric) - (gc->atol + gc->rtol * scale);
}

static int64_t buffer_floats(const cnnc_graph *g)
{
    return g->param_floats ? g->param_floats : 1;
}

int cnnc_gradcheck_train(const cnnc_graph *train, const float *params, const float *image,
                         cnnc_gradcheck *gc, cnnc_diag *d)
{
    int64_t np = buffer_floats(train);
    float *grad = cnnc_xrealloc(NULL, (size_t)np * sizeof *grad);
    float *p = cnnc_xrealloc(NULL, (size_t)np * sizeof *p);
    memcpy(p, params, (size_t)train->param_floats * sizeof *p);
    gc->checked = gc->failed = 0;
    gc->worst_excess = -INFINITY;
    gc->worst[0] = '\0';
    double loss0 = 0.0;
    int rc = analytic_gradient(train, params, image, gc, grad, d);
    if (rc == 0)
        rc = cnnc_gradcheck_loss(train, params, image, gc, &loss0, d);
    for (int k = 0; rc == 0 && k < train->num_params; k++) {
        const cnnc_param *par = &train->params[k];
        int64_t count = par->size, stride = 1;
        if (gc->max_per_param > 0 && count > gc->max_per_param) {
            stride = (count + gc->max_per_param - 1) / gc->max_per_param;
        }
        for (int64_t e = 0; rc == 0 && e < count; e += stride) {
            int64_t i = par->offset + e;
            double analytic = grad[i], numeric = 0.0, excess = INFINITY, h = gc->h;
            for (int attempt = 0; rc == 0 && attempt <= gc->refine && excess > 0; attempt++) {
                double diff[3];
                rc = differences(train, p, image, gc, i, h, loss0, diff, d);
                /* The central difference; with refine, also the one-sided ones, one of
                 * which is free of a kink lying on the other side within h. */
                for (int k = 0; rc == 0 && k < (gc->refine ? 3 : 1); k++) {
                    double e = excess_of(gc, analytic, diff[k]);
                    if (e < excess) {
                        excess = e;
                        numeric = diff[k];
                    }
                }
                h /= attempt % 2 ? 3.0 : 3.3;   /* 1e-3, 3e-4, 1e-4, 3e-5, ... */
            }
            if (rc)
                break;
            gc->checked++;
            if (excess > 0)
                gc->failed++;
            if (excess > gc->worst_excess) {
                gc->worst_excess = excess;
                snprintf(gc->worst, sizeof gc->worst, "%s[%lld]: analytic %.6g numeric %.6g",
                         par->name, (long long)e, analytic, numeric);
            }
        }
    }
    free(grad);
    free(p);
    if (rc)
        return -1;
    return gc->failed ? 1 : 0;
}

int cnnc_gradcheck_direction(const cnnc_graph *train, const float *params, const float *image,
                             const cnnc_gradcheck *gc, uint64_t dir_seed, double *analytic,
                             double *numeric, cnnc_diag *d)
{
    int64_t np = buffer_floats(train);
    float *grad = cnnc_xrealloc(NULL, (size_t)np * sizeof *grad);
    float *p = cnnc_xrealloc(NULL, (size_t)np * sizeof *p);
    signed char *v = cnnc_xrealloc(NULL, (size_t)np);
    uint64_t state = dir_seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < train->param_floats; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (state >> 63) ? 1 : -1;
    }
    int rc = analytic_gradient(train, params, image, gc, grad, d);
    double dot = 0.0, plus = 0.0, minus = 0.0;
    for (int64_t i = 0; i < train->param_floats; i++)
        dot += (double)grad[i] * v[i];
    for (int64_t i = 0; i < train->param_floats; i++)
        p[i] = (float)(params[i] + gc->h * v[i]);
    if (rc == 0)
        rc = cnnc_gradcheck_loss(train, p, image, gc, &plus, d);
    for (int64_t i = 0; i < train->param_floats; i++)
        p[i] = (float)(params[i] - gc->h * v[i]);
    if (rc == 0)
        rc = cnnc_gradcheck_loss(train, p, image, gc, &minus, d);
    *analytic = dot;
    *numeric = (plus - minus) / (2.0 * gc->h);
    free(grad);
    free(p);
    free(v);
    return rc;
}
