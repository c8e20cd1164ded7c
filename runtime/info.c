/* The model descriptor (cnnrt_model.h) checked and turned into a cnnrt_model_info, and
 * Keras's weight initialisers.
 *
 * The descriptor is produced by cnnc, but a program must never crash on it: every field is
 * checked before it is used, and a bad one is an error naming the model and the field. */
#include "cnnrt_info.h"
#include "cnnrt_image.h"   /* CNNRT_PREPARE_COUNT */

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *model_name(const cnnrt_model *model)
{
    return model->name ? model->name : "(unnamed)";
}

static int bad_entry(const cnnrt_model *model, const char *what, int64_t index,
                     const char *why, cnnrt_err *e)
{
    return cnnrt_fail(e, "model %s: %s %lld of the descriptor %s", model_name(model), what,
                      (long long)index, why);
}

static int name_ok(const char *name)
{
    return name && name[0] && strlen(name) < CNNRT_NAME_MAX;
}

static int check_layer(const cnnrt_model *model, int64_t i, cnnrt_err *e)
{
    const cnnrt_layer_entry *l = &model->layers[i];
    if (!name_ok(l->name) || !l->type || !l->type[0] || strlen(l->type) >= 64)
        return bad_entry(model, "layer", i, "has no name or type, or one too long", e);
    if (l->rank < 1 || l->rank > 3 || l->params < 0 || l->flops < 0)
        return bad_entry(model, "layer", i, "has an impossible shape or count", e);
    for (int64_t k = 0; k < l->rank; k++)
        if (l->dims[k] <= 0 || l->dims[k] > (int64_t)1 << 31)
            return bad_entry(model, "layer", i, "has an impossible shape", e);
    return 0;
}

/* Checks params[i] and converts it into the weights files' tensor description. */
static int convert_param(const cnnrt_model *model, int64_t i, cnnrt_param_desc *d,
                         cnnrt_err *e)
{
    const cnnrt_param_entry *p = &model->params[i];
    memset(d, 0, sizeof *d);
    if (!name_ok(p->name))
        return bad_entry(model, "parameter", i, "has no name or one too long", e);
    if (p->rank < 1 || p->rank > CNNRT_MAX_RANK)
        return bad_entry(model, "parameter", i, "has an impossible rank", e);
    strcpy(d->name, p->name);
    d->rank = (int)p->rank;
    d->size = 1;
    for (int k = 0; k < d->rank; k++) {
        if (p->dims[k] <= 0 || p->dims[k] > (int64_t)1 << 31)
            return bad_entry(model, "parameter", i, "has an impossible shape", e);
        d->dims[k] = p->dims[k];
        if (d->size > model->param_floats)
            return bad_entry(model, "parameter", i, "lies outside the weights buffer", e);
        d->size *= p->dims[k];
    }
    d->offset = p->offset;
    if (d->offset < 0 || d->offset > model->param_floats ||
        d->size > model->param_floats - d->offset)
        return bad_entry(model, "parameter", i, "lies outside the weights buffer", e);
    if (p->init != CNNRT_INIT_ZEROS && p->init != CNNRT_INIT_GLOROT_UNIFORM &&
        p->init != CNNRT_INIT_ONES)
        return bad_entry(model, "parameter", i, "has an unknown initialiser", e);
    d->init = (cnnrt_init_kind)p->init;
    d->fan_in = p->fan_in;
    d->fan_out = p->fan_out;
    if (d->fan_in < 0 || d->fan_out < 0 ||
        (d->init == CNNRT_INIT_GLOROT_UNIFORM && d->fan_in + d->fan_out <= 0))
        return bad_entry(model, "parameter", i, "has impossible fans for its initialiser", e);
    return 0;
}

static int number_ok(double v, double min, double max)
{
    return isfinite(v) && v >= min && v <= max;
}

static int check_settings(const cnnrt_model *model, cnnrt_err *e)
{
    const cnnrt_train_settings *t = &model->train;
    const char *bad = NULL;
    if (!cnnrt_loss_name((int)t->loss))
        bad = "an unknown loss code";
    else if (!cnnrt_optimizer_name((int)t->optimizer))
        bad = "an unknown optimizer code";
    else if (!number_ok(t->lr, 0, 1e6) || t->lr == 0)
        bad = "an impossible learning rate";
    else if (!number_ok(t->beta_1, 0, 1) || !number_ok(t->beta_2, 0, 1) ||
             !number_ok(t->epsilon, 0, 1) || !number_ok(t->momentum, 0, 1) ||
             !number_ok(t->rho, 0, 1))
        bad = "an impossible optimizer setting";
    else if (t->epochs < 1 || t->epochs > 1000000000 || t->batch_size < 1 ||
             t->batch_size > 1000000000 || !number_ok(t->validation_split, 0, 1) ||
             t->validation_split == 1)
        bad = "impossible fit settings";
    else if ((t->loss_from_logits != 0 && t->loss_from_logits != 1) ||
             (t->metrics_accuracy != 0 && t->metrics_accuracy != 1))
        bad = "an impossible flag";
    if (bad)
        return cnnrt_fail(e, "model %s: the descriptor's training settings have %s",
                          model_name(model), bad);
    return 0;
}

static int check_model(const cnnrt_model *model, cnnrt_err *e)
{
    const char *name = model_name(model);
    if (model->abi_version != CNNRT_ABI_VERSION)
        return cnnrt_fail(e, "model %s: compiled for runtime ABI %lld but this runtime is ABI "
                          "%d; recompile the model with this cnnc", name,
                          (long long)model->abi_version, CNNRT_ABI_VERSION);
    if (!model->name)
        return cnnrt_fail(e, "model %s: descriptor has no name", name);
    if (model->input_h <= 0 || model->input_w <= 0 || model->input_c <= 0 ||
        model->num_classes <= 0 || model->param_floats < 0 || model->opt_state_floats < 0 ||
        model->ws_floats_per_thread < 0 || model->num_cam_layers < 0 ||
        (model->num_cam_layers > 0 && !model->cam_layers) || model->num_layers < 1 ||
        !model->layers ||
        model->num_layers > 1000000 || model->num_params < 0 || model->num_params > 1000000 ||
        (model->num_params > 0 && !model->params))
        return cnnrt_fail(e, "model %s: descriptor has impossible sizes", name);
    if (!model->infer)
        return cnnrt_fail(e, "model %s: descriptor has no inference entry point", name);
    if (model->prepare < 0 || model->prepare >= CNNRT_PREPARE_COUNT)
        return cnnrt_fail(e, "model %s: descriptor has an unknown picture preparation", name);
    if (model->num_cam_layers > 0 && !model->gradcam)
        return cnnrt_fail(e, "model %s: descriptor has Grad-CAM layers but no Grad-CAM entry "
                          "point", name);
    for (int64_t i = 0; i < model->num_cam_layers; i++) {
        const cnnrt_cam_layer *c = &model->cam_layers[i];
        if (!c->name || c->h <= 0 || c->w <= 0 || c->c <= 0)
            return cnnrt_fail(e, "model %s: Grad-CAM layer %lld of the descriptor is invalid",
                              name, (long long)i);
    }
    for (int64_t i = 0; i < model->num_layers; i++)
        if (check_layer(model, i, e))
            return -1;
    if (model->gradcam_layer && !name_ok(model->gradcam_layer))
        return cnnrt_fail(e, "model %s: the descriptor's Grad-CAM layer name is too long", name);
    return check_settings(model, e);
}

/* The descriptor's "name\nname\n" into info->class_names: one name per class. */
static int split_class_names(const cnnrt_model *model, cnnrt_model_info *info, cnnrt_err *e)
{
    int64_t count = 0;
    for (const char *p = model->class_names; *p; p++)
        count += *p == '\n';
    if (count != model->num_classes)
        return cnnrt_fail(e, "model %s: the descriptor has %lld class names for %lld classes",
                          model_name(model), (long long)count, (long long)model->num_classes);
    info->class_names = cnnrt_xcalloc((size_t)count, sizeof *info->class_names);
    const char *p = model->class_names;
    for (int64_t k = 0; k < count; k++) {
        size_t len = strcspn(p, "\n");
        info->class_names[k] = cnnrt_xcalloc(len + 1, 1);
        memcpy(info->class_names[k], p, len);
        p += len + 1;
    }
    info->num_class_names = count;
    return 0;
}

int cnnrt_model_info_load(const cnnrt_model *model, cnnrt_model_info *info, cnnrt_err *e)
{
    memset(info, 0, sizeof *info);
    if (!model)
        return cnnrt_fail(e, "no model");
    if (check_model(model, e))
        return -1;
    info->params = cnnrt_xcalloc((size_t)model->num_params + 1, sizeof *info->params);
    for (int64_t i = 0; i < model->num_params; i++)
        if (convert_param(model, i, &info->params[i], e)) {
            cnnrt_model_info_free(info);
            return -1;
        }
    info->model = model;
    info->source = model->source ? model->source : "";
    info->num_layers = (int)model->num_layers;
    info->layers = model->layers;
    info->num_params = (int)model->num_params;
    const cnnrt_train_settings *t = &model->train;
    info->loss = (int)t->loss;
    info->optimizer = (int)t->optimizer;
    info->loss_from_logits = (int)t->loss_from_logits;
    info->lr = t->lr;
    info->beta_1 = t->beta_1;
    info->beta_2 = t->beta_2;
    info->epsilon = t->epsilon;
    info->momentum = t->momentum;
    info->rho = t->rho;
    info->metrics_accuracy = (int)t->metrics_accuracy;
    info->epochs = (int)t->epochs;
    info->batch_size = (int)t->batch_size;
    info->validation_split = t->validation_split;
    info->seed = t->seed;
    info->gradcam_layer = model->gradcam_layer ? model->gradcam_layer : "";
    info->prepare = (int)model->prepare;
    if (model->class_names && split_class_names(model, info, e)) {
        cnnrt_model_info_free(info);
        return -1;
    }
    return 0;
}

void cnnrt_model_info_free(cnnrt_model_info *info)
{
    free(info->params);
    info->params = NULL;
    for (int64_t k = 0; k < info->num_class_names; k++)
        free(info->class_names[k]);
    free(info->class_names);
    info->class_names = NULL;
    info->num_class_names = 0;
    info->layers = NULL;
    info->num_layers = info->num_params = 0;
}

/* ---- losses ------------------------------------------------------------------------------ */

static const double KERAS_EPSILON = 1e-7;   /* keras.backend.epsilon() */

double cnnrt_loss_of(const cnnrt_train_settings *t, const float *probs, const float *logits,
                     int64_t k, int label)
{
    if (label < 0 || label >= k)
        return 0.0;
    if (t->loss == CNNRT_LOSS_MSE) {
        double sum = 0;
        for (int64_t i = 0; i < k; i++) {
            double d = (double)probs[i] - (i == label ? 1.0 : 0.0);
            sum += d * d;
        }
        return (float)(sum / (double)k);
    }
    if (t->loss_from_logits) {
        double max = logits[0], sum = 0;
        for (int64_t i = 1; i < k; i++)
            max = logits[i] > max ? logits[i] : max;
        for (int64_t i = 0; i < k; i++)
            sum += exp((double)logits[i] - max);
        return (float)(max + log(sum) - (double)logits[label]);
    }
    double total = 0;
    for (int64_t i = 0; i < k; i++)
        total += probs[i];
    double q = (double)probs[label] / total;
    if (q < KERAS_EPSILON)
        q = KERAS_EPSILON;
    if (q > 1.0 - KERAS_EPSILON)
        q = 1.0 - KERAS_EPSILON;
    return (float)-log(q);
}

/* ---- initialisation ------------------------------------------------------------------------ */

/* Initialisation. Each tensor gets its own SplitMix64 stream, started at
 * cnnrt_mix64(seed ^ cnnrt_mix64(tensor index + 1)) and advanced by the golden-ratio
 * increment, so a tensor's values depend only on the seed and its position, not on the
 * other tensors' sizes. Element i takes the top 24 bits of the stream's i-th output as a
 * uniform u in [0,1) and becomes (2u - 1) * limit with limit = sqrt(6 / (fan_in +
 * fan_out)) (Keras's glorot_uniform range). The draws are not TensorFlow's, only the same
 * distribution. */
void cnnrt_init_params(const cnnrt_param_desc *params, int num_params, uint64_t seed,
                       float *out)
{
    for (int t = 0; t < num_params; t++) {
        const cnnrt_param_desc *p = &params[t];
        float *dst = out + p->offset;
        if (p->init == CNNRT_INIT_ZEROS) {
            memset(dst, 0, (size_t)p->size * sizeof *dst);
            continue;
        }
        if (p->init == CNNRT_INIT_ONES) {
            for (int64_t i = 0; i < p->size; i++)
                dst[i] = 1.0f;
            continue;
        }
        double limit = sqrt(6.0 / (double)(p->fan_in + p->fan_out));
        uint64_t state = cnnrt_mix64(seed ^ cnnrt_mix64((uint64_t)t + 1));
        for (int64_t i = 0; i < p->size; i++) {
            state += 0x9E3779B97F4A7C15ull;
            uint64_t z = cnnrt_mix64(state);
            double u = (double)(z >> 40) * (1.0 / 16777216.0);
            dst[i] = (float)((2.0 * u - 1.0) * limit);
        }
    }
}
