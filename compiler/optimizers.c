/* The optimizers (see optimizers.h), each as Keras 3 defines it (keras/src/optimizers):
 * the settings it reads, its state, and its update as a program of primitives. Every
 * update first takes the batch mean of the gradient, g = grad / n, as Keras averages the
 * loss over the batch. Coefficients such as 1 - beta_1 are computed in double from the
 * settings and rounded to float once, as Keras does (1 - (float)0.999 would be off by
 * 1e-5 relative); everything per parameter is float. */
#include "optimizers.h"

#include <string.h>

static int mean_gradient(const cnnc_builder *b, const cnnc_update_io *in)
{
    return cnnc_div(b, in->grad, in->n);
}

/* ---- SGD: with momentum, velocity u = momentum u - lr g, p += u; without, p -= lr g
 *      (Nesterov is not offered). The velocity is kept even without momentum, so a
 *      weights file's state does not change size with the setting. */

static const char *const sgd_settings[] = {"momentum", NULL};
static int sgd_state(const cnnc_train_config *t)
{
    (void)t;
    return 1;
}

static int sgd_build(const cnnc_builder *b, const cnnc_train_config *t,
                     const cnnc_update_io *in, cnnc_update_io *out)
{
    int step = cnnc_mul(b, in->lr, mean_gradient(b, in));
    if (t->momentum == 0.0) {
        out->params = cnnc_sub(b, in->params, step);
        return out->params < 0 ? -1 : 0;
    }
    int u = cnnc_sub(b, cnnc_mul(b, cnnc_const(b, (float)t->momentum), in->state[0]), step);
    out->state[0] = u;
    out->params = cnnc_add(b, in->params, u);
    return out->params < 0 ? -1 : 0;
}

/* ---- Adam, in Keras's form: epsilon is Kingma & Ba's "epsilon hat", added to sqrt(v),
 *      with the bias correction folded into the step size:
 *        m += (g - m) (1 - b1);  v += (g^2 - v) (1 - b2)
 *        alpha = lr sqrt(1 - b2^t) / (1 - b1^t);  p -= alpha m / (sqrt(v) + eps)
 *      (NOT m_hat / (sqrt(v_hat) + eps), which differs in where eps enters). */

static const char *const adam_settings[] = {"beta_1", "beta_2", "epsilon", NULL};
static int adam_state(const cnnc_train_config *t)
{
    (void)t;
    return 2;   /* m, v */
}

/* 1 - beta^t */
static int bias_correction(const cnnc_builder *b, double beta, int t)
{
    return cnnc_sub(b, cnnc_const(b, 1.0f), cnnc_ew2(b, CNNC_EW_POW, cnnc_const(b, (float)beta), t));
}

static int adam_build(const cnnc_builder *b, const cnnc_train_config *t,
                      const cnnc_update_io *in, cnnc_update_io *out)
{
    int g = mean_gradient(b, in), m = in->state[0], v = in->state[1];
    int m_new = cnnc_add(b, m, cnnc_scale(b, cnnc_sub(b, g, m), (float)(1.0 - t->beta_1)));
    int g2 = cnnc_ew1(b, CNNC_EW_SQUARE, g);
    int v_new = cnnc_add(b, v, cnnc_scale(b, cnnc_sub(b, g2, v), (float)(1.0 - t->beta_2)));
    int alpha = cnnc_div(b, cnnc_mul(b, in->lr, cnnc_ew1(b, CNNC_EW_SQRT,
                                                          bias_correction(b, t->beta_2, in->step))),
                         bias_correction(b, t->beta_1, in->step));
    int denominator = cnnc_shift(b, cnnc_ew1(b, CNNC_EW_SQRT, v_new), (float)t->epsilon);
    out->state[0] = m_new;
    out->state[1] = v_new;
    out->params = cnnc_sub(b, in->params, cnnc_div(b, cnnc_mul(b, alpha, m_new), denominator));
    return out->params < 0 ? -1 : 0;
}

/* ---- RMSprop (not centered):
 *        v = rho v + (1 - rho) g^2;  step = lr g / (sqrt(v) + eps)
 *        momentum > 0: u = momentum u + step, p -= u;  else p -= step */

static const char *const rmsprop_settings[] = {"rho", "momentum", "epsilon", NULL};
static int rmsprop_state(const cnnc_train_config *t)
{
    return t->momentum > 0.0 ? 2 : 1;   /* v, then the momentum velocity */
}

static int rmsprop_build(const cnnc_builder *b, const cnnc_train_config *t,
                         const cnnc_update_io *in, cnnc_update_io *out)
{
    int g = mean_gradient(b, in);
    int v = cnnc_add(b, cnnc_scale(b, in->state[0], (float)t->rho),
                     cnnc_scale(b, cnnc_ew1(b, CNNC_EW_SQUARE, g), (float)(1.0 - t->rho)));
    int step = cnnc_div(b, cnnc_mul(b, in->lr, g),
                        cnnc_shift(b, cnnc_ew1(b, CNNC_EW_SQRT, v), (float)t->epsilon));
    out->state[0] = v;
    if (t->momentum > 0.0) {
        step = cnnc_add(b, cnnc_scale(b, in->state[1], (float)t->momentum), step);
        out->state[1] = step;
    }
    out->params = cnnc_sub(b, in->params, step);
    return out->params < 0 ? -1 : 0;
}

static const cnnc_optimizer_def optimizers[] = {
    {CNNRT_OPT_SGD, 0.01, sgd_settings, sgd_state, sgd_build},
    {CNNRT_OPT_ADAM, 0.001, adam_settings, adam_state, adam_build},
    {CNNRT_OPT_RMSPROP, 0.001, rmsprop_settings, rmsprop_state, rmsprop_build},
};

const cnnc_optimizer_def *cnnc_optimizer_def_of(cnnrt_optimizer code)
{
    for (size_t i = 0; i < sizeof optimizers / sizeof optimizers[0]; i++)
        if (optimizers[i].code == code)
            return &optimizers[i];
    return NULL;
}

int cnnc_optimizer_reads(cnnrt_optimizer code, const char *key)
{
    const cnnc_optimizer_def *o = cnnc_optimizer_def_of(code);
    for (int i = 0; o && o->settings[i]; i++)
        if (!strcmp(o->settings[i], key))
            return 1;
    return 0;
}

/* ---- the program ---------------------------------------------------------------------- */

static int add_arg(cnnc_graph *g, cnnc_diag *d, int index, cnnc_shape shape, const char *name)
{
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    a.param = index;
    a.shape = shape;
    return cnnc_graph_add(g, d, CNNC_OP_ARG, NULL, &a, name, -1, (cnnc_loc){0, 0, 0});
}

cnnc_graph *cnnc_build_update_graph(const cnnc_train_config *t, int64_t param_floats,
                                    cnnc_diag *d)
{
    const cnnc_optimizer_def *o = cnnc_optimizer_def_of(t->optimizer);
    if (!o) {
        cnnc_error(d, (cnnc_loc){0, 0, 0}, "internal error: no update for optimizer code %d",
                   (int)t->optimizer);
        return NULL;
    }
    const char *name = cnnrt_optimizer_name(t->optimizer);
    cnnc_graph *g = cnnc_graph_new(name);
    g->train = *t;
    cnnc_shape vec = cnnc_shape1(param_floats), scalar = cnnc_shape_make(0, NULL);
    cnnc_update_io in, out;
    in.params = add_arg(g, d, CNNC_UPD_PARAMS, vec, "params");
    in.grad = add_arg(g, d, CNNC_UPD_GRAD, vec, "grad");
    in.lr = add_arg(g, d, CNNC_UPD_LR, scalar, "lr");
    in.step = add_arg(g, d, CNNC_UPD_STEP, scalar, "step");
    in.n = add_arg(g, d, CNNC_UPD_N, scalar, "n");
    int states = o->state_vectors(t);
    for (int k = 0; k < CNNC_MAX_OPT_STATE; k++) {
        char state_name[32];
        snprintf(state_name, sizeof state_name, "state%d", k);
        in.state[k] = k < states ? add_arg(g, d, CNNC_UPD_STATE + k, vec, state_name) : -1;
        out.state[k] = -1;
    }
    char node_name[64];
    snprintf(node_name, sizeof node_name, "update/%s", name);
    cnnc_builder b = {g, d, node_name, -1, (cnnc_loc){0, 0, 0}};
    int errors = d->errors;
    if (o->build(&b, t, &in, &out) || d->errors != errors) {
        cnnc_graph_free(g);
        return NULL;
    }
    cnnc_graph_add_output(g, CNNC_OUT_UPDATED, out.params, CNNC_UPD_PARAMS);
    for (int k = 0; k < states; k++)
        if (out.state[k] >= 0)
            cnnc_graph_add_output(g, CNNC_OUT_UPDATED, out.state[k], CNNC_UPD_STATE + k);
    return g;
}
