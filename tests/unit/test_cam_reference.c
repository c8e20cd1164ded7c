/* Grad-CAM methods against an independent computation: the forward and backward pass of
 *     input 6x6x2 -> conv2d 3x3 same (3 filters) -> relu -> max_pool2d 2x2 -> flatten
 *                 -> dense 4 -> softmax
 * written out here in float64 (sharing no code with the compiler: only the weights
 * layout, Keras's, is common), then every method's raw map on both target layers
 * (conv2d and max_pooling2d) and both scores, compared with the Grad-CAM program's -- the
 * interpreter's raw map nodes, and the generated code's finished maps (ReLU, divided by
 * the maximum) at -O0 and -O2.
 *
 * LayerCAM and XGrad-CAM are checked this way, and Grad-CAM++ in the paper's closed form
 * (alpha = g^2 / (2 g^2 + sum(A) g^3)) with both scores. The softmax case uses a
 * confident network, where the gradients are small: there the old "+ 1e-6" in alpha's
 * denominator changed the result, and the test shows it would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "cam_methods.h"
#include "codegen_common.h"
#include "cnnrt_pool.h"

enum { H = 6, W = 6, CI = 2, F = 3, PH = 3, PW = 3, K = 4, FLAT = PH * PW * F };

static const char model_text[] =
    "model camref\n"
    "input shape=6x6x2\n"
    "conv2d filters=3 kernel=3 padding=same activation=relu\n"
    "max_pool2d\n"
    "flatten\n"
    "dense units=4\n"
    "softmax\n";

/* ---- the reference network, float64 ------------------------------------------------- */

typedef struct reference {
    double r[H][W][F];        /* conv2d's output (after relu): target 0 */
    double p[PH][PW][F];      /* max_pooling2d's output: target 1 */
    double z[K], prob[K];
    double dr[H][W][F], dp[PH][PW][F];   /* gradients of the class score */
} reference;

static const float *param(const cnnc_graph *g, const float *params, const char *name)
{
    for (int i = 0; i < g->num_params; i++)
        if (!strcmp(g->params[i].name, name))
            return params + g->params[i].offset;
    fail_msg("no parameter %s", name);
    return NULL;
}

static void forward(const cnnc_graph *g, const float *params, const float *x, reference *r)
{
    const float *kc = param(g, params, "conv2d/kernel"), *bc = param(g, params, "conv2d/bias");
    const float *kd = param(g, params, "dense/kernel"), *bd = param(g, params, "dense/bias");
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++)
            for (int f = 0; f < F; f++) {
                double s = bc[f];
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        for (int c = 0; c < CI; c++) {
                            int iy = y + ky - 1, ix = xx + kx - 1;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                s += (double)x[(iy * W + ix) * CI + c] *
                                     kc[((ky * 3 + kx) * CI + c) * F + f];
                        }
                r->r[y][xx][f] = s > 0 ? s : 0;
            }
    for (int y = 0; y < PH; y++)
        for (int xx = 0; xx < PW; xx++)
            for (int f = 0; f < F; f++) {
                double m = r->r[2 * y][2 * xx][f];
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++)
                        m = fmax(m, r->r[2 * y + dy][2 * xx + dx][f]);
                r->p[y][xx][f] = m;
            }
    double top = -INFINITY, sum = 0;
    for (int k = 0; k < K; k++) {
        r->z[k] = bd[k];
        for (int i = 0; i < FLAT; i++)
            r->z[k] += (&r->p[0][0][0])[i] * kd[i * K + k];
        top = fmax(top, r->z[k]);
    }
    for (int k = 0; k < K; k++)
        sum += r->prob[k] = exp(r->z[k] - top);
    for (int k = 0; k < K; k++)
        r->prob[k] /= sum;
}

/* The gradients of the score of class c (the logit, or the softmax output) with respect
 * to both targets. */
static void backward(const cnnc_graph *g, const float *params, int c, int softmax, reference *r)
{
    const float *kd = param(g, params, "dense/kernel");
    double dz[K];
    for (int k = 0; k < K; k++)
        dz[k] = softmax ? r->prob[c] * ((k == c) - r->prob[k]) : (k == c);
    for (int i = 0; i < FLAT; i++) {
        double s = 0;
        for (int k = 0; k < K; k++)
            s += dz[k] * kd[i * K + k];
        (&r->dp[0][0][0])[i] = s;
    }
    memset(r->dr, 0, sizeof r->dr);
    for (int y = 0; y < PH; y++)
        for (int xx = 0; xx < PW; xx++)
            for (int f = 0; f < F; f++) {
                int by = 2 * y, bx = 2 * xx;   /* the first maximum, row by row */
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++)
                        if (r->r[2 * y + dy][2 * xx + dx][f] > r->r[by][bx][f]) {
                            by = 2 * y + dy;
                            bx = 2 * xx + dx;
                        }
                r->dr[by][bx][f] += r->dp[y][xx][f];
            }
}

/* The raw map of a method from A and g = dA ([n][F] with n = h*w positions), as the papers
 * define it. eps is added to Grad-CAM++'s denominator (0: the closed form itself). */
static void reference_map(int method, const double *A, const double *g, int n, double eps,
                          double *map)
{
    double w[F] = {0};
    for (int f = 0; f < F; f++) {
        double sum_a = 0, sum_ag = 0, sum_g = 0, plus = 0;
        for (int i = 0; i < n; i++) {
            sum_a += A[i * F + f];
            sum_ag += A[i * F + f] * g[i * F + f];
            sum_g += g[i * F + f];
        }
        for (int i = 0; i < n; i++) {
            double gi = g[i * F + f], den = 2 * gi * gi + sum_a * gi * gi * gi + eps;
            plus += den != 0 ? gi * gi / den * fmax(gi, 0) : 0;
        }
        w[f] = method == CNNRT_CAM_GRADCAM ? sum_g / n
               : method == CNNRT_CAM_XGRADCAM ? (sum_a != 0 ? sum_ag / sum_a : 0)
                                              : plus;
    }
    for (int i = 0; i < n; i++) {
        map[i] = 0;
        for (int f = 0; f < F; f++) {
            double a = A[i * F + f], gi = g[i * F + f];
            if (method == CNNRT_CAM_HIRESCAM || method == CNNRT_CAM_GUIDED)
                map[i] += gi * a;
            else if (method == CNNRT_CAM_LAYERCAM)
                map[i] += fmax(gi, 0) * a;
            else
                map[i] += w[f] * a;
        }
    }
}

/* ---- the comparison ------------------------------------------------------------------- */

static void assert_maps_close(const char *what, const double *want, const float *got, int n,
                              double rel)
{
    double scale = 1e-30;
    for (int i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= rel * scale))
            fail_msg("%s: cell %d is %.9g, the reference %.9g (scale %g)", what, i,
                     (double)got[i], want[i], scale);
}

/* Images, classes and weights of one case; `confident` scales the dense layer so that the
 * softmax is nearly one-hot and its gradients are small. */
typedef struct cam_case {
    cg_case c;
    float *params, x[2 * H * W * CI];
    int32_t classes[2];
} cam_case;

static void case_init(cam_case *cc, int confident)
{
    cg_compile_text(&cc->c, model_text);
    cnnc_graph *g = cc->c.g;
    cc->params = cg_random(g->param_floats, -0.5f, 0.5f);
    for (int i = 0; i < 2 * H * W * CI; i++)
        cc->x[i] = cg_uniform(0.0f, 1.0f);
    cc->classes[0] = -1;
    cc->classes[1] = 2;
    if (confident) {
        /* class 0 far ahead: p_0 close to 1 */
        float *kd = (float *)param(g, cc->params, "dense/kernel");
        for (int i = 0; i < FLAT; i++)
            kd[i * K] = 1.5f + 0.1f * (float)(i % 3);
        cc->classes[1] = 0;
    }
}

static const double *target_values(const reference *r, int target, int grad)
{
    if (target == 0)
        return grad ? &r->dr[0][0][0] : &r->r[0][0][0];
    return grad ? &r->dp[0][0][0] : &r->p[0][0][0];
}

/* The interpreter's raw maps of every method against the reference. */
static void check_interpreter(cam_case *cc, int mode)
{
    cnnc_graph *g = cc->c.g;
    int layers[2] = {cnnc_graph_find_layer(g, "conv2d"), cnnc_graph_find_layer(g, "max_pooling2d")};
    cnnc_graph *cam = cnnc_build_cam_graph(g, layers, 2, &cc->c.d);
    if (!cam)
        fail_msg("%s", cg_diag(&cc->c));
    float **values = cnnc_interp_alloc_values(cam);
    for (int image = 0; image < 2; image++) {
        reference r;
        forward(g, cc->params, cc->x + image * H * W * CI, &r);
        int c = cc->classes[image];
        if (c < 0)
            for (int k = c = 0; k < K; k++)
                c = r.prob[k] > r.prob[c] ? k : c;
        backward(g, cc->params, c, mode == CNNRT_SCORE_SOFTMAX, &r);
        cnnc_interp_ctx ctx = {0, 0, image, mode, cc->classes[image], NULL};
        if (cnnc_interp_run_image(cam, cc->params, cc->x + image * H * W * CI, &ctx, values,
                                  &cc->c.d))
            fail_msg("%s", cg_diag(&cc->c));
        for (int t = 0; t < 2; t++)
            for (int m = 0; m < CNNRT_CAM_METHOD_COUNT; m++) {
                int n = t == 0 ? H * W : PH * PW;
                double want[H * W];
                reference_map(m, target_values(&r, t, 0), target_values(&r, t, 1), n, 0, want);
                char what[128];
                snprintf(what, sizeof what, "interpreter, image %d, target %d, %s, %s score",
                         image, t, cnnrt_cam_method_name(m), cnnrt_score_mode_name(mode));
                int node = cnnc_cam_output_node(cam, t, (cnnrt_cam_method)m);
                assert_true(node >= 0);
                assert_maps_close(what, want, values[node], n, 2e-5);
            }
    }
    cnnc_interp_free_values(cam, values);
    cnnc_graph_free(cam);
}

/* The generated gradcam's finished maps against ReLU(reference) / max. */
static void check_generated(cam_case *cc, int opt)
{
    cg_jit(&cc->c, opt, CNNC_GEN_INFER | CNNC_GEN_CAMS);
    const cnnrt_model *m = cc->c.m;
    assert_int_equal(m->num_cam_layers, 2);
    assert_string_equal(m->cam_layers[0].name, "conv2d");
    assert_string_equal(m->cam_layers[1].name, "max_pooling2d");
    float *ws = cg_workspace(m, 1);
    for (int mode = 0; mode < CNNRT_SCORE_MODE_COUNT; mode++)
        for (int t = 0; t < 2; t++)
            for (int method = 0; method < CNNRT_CAM_METHOD_COUNT; method++) {
                int n = t == 0 ? H * W : PH * PW;
                float maps[2 * H * W], map_max[2], probs[2 * K];
                cnnrt_cam_args a = {cc->params, cc->x, cc->classes, 2, t, method, mode, maps,
                                    map_max, probs, ws, NULL};
                assert_int_equal(m->gradcam(&a), 0);
                for (int image = 0; image < 2; image++) {
                    reference r;
                    forward(cc->c.g, cc->params, cc->x + image * H * W * CI, &r);
                    int c = cc->classes[image];
                    if (c < 0)
                        for (int k = c = 0; k < K; k++)
                            c = r.prob[k] > r.prob[c] ? k : c;
                    backward(cc->c.g, cc->params, c, mode == CNNRT_SCORE_SOFTMAX, &r);
                    double raw[H * W], top = 0;
                    reference_map(method, target_values(&r, t, 0), target_values(&r, t, 1), n,
                                  0, raw);
                    for (int i = 0; i < n; i++)
                        top = fmax(top, raw[i]);
                    for (int i = 0; i < n; i++)
                        raw[i] = top > 0 ? fmax(raw[i], 0) / top : 0;
                    char what[160];
                    snprintf(what, sizeof what, "-O%d, image %d, target %d, %s, %s score", opt,
                             image, t, cnnrt_cam_method_name(method),
                             cnnrt_score_mode_name(mode));
                    assert_maps_close(what, raw, maps + image * n, n, 1e-4);
                    if (!(fabs(map_max[image] - top) <= 1e-4 * fmax(top, 1e-30)))
                        fail_msg("%s: map_max %.9g, the reference %.9g", what,
                                 (double)map_max[image], top);
                }
            }
    free(ws);
}

static void case_free(cam_case *cc)
{
    free(cc->params);
    cg_case_free(&cc->c);
}

static void test_every_method_interpreter(void **state)
{
    (void)state;
    for (int confident = 0; confident < 2; confident++) {
        cam_case cc;
        case_init(&cc, confident);
        for (int mode = 0; mode < CNNRT_SCORE_MODE_COUNT; mode++)
            check_interpreter(&cc, mode);
        case_free(&cc);
    }
}

static void test_every_method_generated_O0(void **state)
{
    (void)state;
    cam_case cc;
    case_init(&cc, 0);
    check_generated(&cc, 0);
    case_free(&cc);
}

static void test_every_method_generated_O2(void **state)
{
    (void)state;
    cam_case cc;
    case_init(&cc, 1);
    check_generated(&cc, 2);
    case_free(&cc);
}

/* On the confident network the softmax score's gradients are small, and an absolute
 * epsilon in Grad-CAM++'s denominator would change the map: the closed form above is what
 * the program computes, and it is not what "+ 1e-6" gives. */
static void test_gradcam_plus_plus_guard_is_scale_free(void **state)
{
    (void)state;
    cam_case cc;
    case_init(&cc, 1);
    reference r;
    forward(cc.c.g, cc.params, cc.x, &r);
    assert_true(r.prob[0] > 0.99);
    backward(cc.c.g, cc.params, 0, 1, &r);
    double exact[PH * PW], with_eps[PH * PW], top = 0, diff = 0;
    reference_map(CNNRT_CAM_GRADCAM_PLUS_PLUS, &r.p[0][0][0], &r.dp[0][0][0], PH * PW, 0,
                  exact);
    reference_map(CNNRT_CAM_GRADCAM_PLUS_PLUS, &r.p[0][0][0], &r.dp[0][0][0], PH * PW, 1e-6,
                  with_eps);
    for (int i = 0; i < PH * PW; i++) {
        top = fmax(top, fabs(exact[i]));
        diff = fmax(diff, fabs(exact[i] - with_eps[i]));
    }
    assert_true(diff > 0.01 * top);   /* the epsilon would have mattered */
    /* ... and the program gives the exact closed form (checked by check_interpreter too,
     * here on its own for the record). */
    check_interpreter(&cc, CNNRT_SCORE_SOFTMAX);
    case_free(&cc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_method_interpreter),
        cmocka_unit_test(test_every_method_generated_O0),
        cmocka_unit_test(test_every_method_generated_O2),
        cmocka_unit_test(test_gradcam_plus_plus_guard_is_scale_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
