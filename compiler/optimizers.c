/* The optimizers (see optimizers.h), each as Keras 3 defines it (keras/src/optimizers). */
#include "optimizers.h"

#include <string.h>

/* ---- SGD: with momentum, velocity u = momentum u - lr g, p += u; without, p -= lr g
 *      (Nesterov is not offered). The velocity is kept even without momentum, so a
 *      weights file's state does not change size with the setting. */

static const char *const sgd_settings[] = {"momentum", NULL};
static int sgd_state(const cnnc_train_config *t)
{
    (void)t;
    return 1;
}

/* ---- Adam, in Keras's form: epsilon is Kingma & Ba's "epsilon hat", added to sqrt(v),
 *      with the bias correction folded into the step size:
 *        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *        alpha = lr sqrt(1 - b2^t) / (1 - b1^t);  p -= alpha m / (sqrt(v) + eps)
 *      (NOT m_hat / (sqrt(v_hat) + eps), which differs in where eps enters). */

static const char *const adam_settings[] = {"beta_1", "beta_2", "epsilon", NULL};
static int adam_state(const cnnc_train_config *t)
{
    (void)t;
    return 2;   /* m, v */
}

/* ---- RMSprop (not centered):
 *        v = rho v + (1 - rho) g^2;  step = lr g / (sqrt(v) + eps)
 *        momentum > 0: u = momentum u + step, p -= u;  else p -= step */

static const char *const rmsprop_settings[] = {"rho", "momentum", "epsilon", NULL};
static int rmsprop_state(const cnnc_train_config *t)
{
    return t->momentum > 0.0 ? 2 : 1;   /* v, then the momentum velocity */
}

static const cnnc_optimizer_def optimizers[] = {
    {CNNRT_OPT_SGD, 0.01, sgd_settings, sgd_state},
    {CNNRT_OPT_ADAM, 0.001, adam_settings, adam_state},
    {CNNRT_OPT_RMSPROP, 0.001, rmsprop_settings, rmsprop_state},
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
