/* The model description (cnnrt_model.description, documented in cnnrt_model.h) parsed into
 * a cnnrt_model_info, and Keras's weight initialisers.
 *
 * The description is produced by cnnc, but a program must never crash on it: every line
 * is checked, and a malformed one is an error naming the model and the line. Unknown line
 * kinds and unknown key=value keys are skipped, so a newer cnnc may add information
 * without breaking an older runtime. */
#include "cnnrt_info.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { LINE_MAX_CHARS = 2048, MAX_TOKENS = 16 };

typedef struct parse_ctx {
    const cnnrt_model *model;
    int line_no;
    char line[LINE_MAX_CHARS];   /* the original line, for messages */
    cnnrt_err *e;
} parse_ctx;

static int line_error(parse_ctx *p, const char *what)
{
    return cnnrt_fail(p->e, "model %s: description line %d (\"%.200s\"): %s",
                      p->model->name ? p->model->name : "(unnamed)", p->line_no, p->line,
                      what);
}

/* Splits s in place at spaces/tabs; returns the number of tokens. */
static int tokenize(char *s, char **tokens, int max_tokens)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
        if (n == max_tokens)
            return max_tokens + 1;
        tokens[n++] = t;
    }
    return n;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* "3x3x1x32" -> rank 4. Every dimension must be positive. */
static int parse_shape(const char *s, int max_rank, int *rank, int64_t *dims)
{
    char buf[128];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    int r = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, "x", &save); t; t = strtok_r(NULL, "x", &save)) {
        if (r == max_rank || parse_i64(t, &dims[r]) || dims[r] <= 0 ||
            dims[r] > (int64_t)1 << 31)
            return -1;
        r++;
    }
    if (r == 0)
        return -1;
    *rank = r;
    return 0;
}

static int copy_name(char *dst, size_t cap, const char *src)
{
    if (strlen(src) >= cap)
        return -1;
    strcpy(dst, src);
    return 0;
}

static int parse_layer(parse_ctx *p, cnnrt_model_info *info, char **tok, int n)
{
    if (n != 6)
        return line_error(p, "expected 'layer NAME TYPE SHAPE PARAMS FLOPS'");
    cnnrt_layer_desc *l = &info->layers[info->num_layers];
    memset(l, 0, sizeof *l);
    if (copy_name(l->name, sizeof l->name, tok[1]) ||
        copy_name(l->type, sizeof l->type, tok[2]))
        return line_error(p, "layer name or type too long");
    if (parse_shape(tok[3], 3, &l->rank, l->dims))
        return line_error(p, "bad shape (expected e.g. 28x28x32)");
    if (parse_i64(tok[4], &l->params) || parse_i64(tok[5], &l->flops))
        return line_error(p, "bad parameter or FLOP count");
    info->num_layers++;
    return 0;
}

static int parse_param(parse_ctx *p, cnnrt_model_info *info, char **tok, int n)
{
    if (n != 7)
        return line_error(p, "expected 'param NAME SHAPE OFFSET INIT FAN_IN FAN_OUT'");
    cnnrt_param_desc *d = &info->params[info->num_params];
    memset(d, 0, sizeof *d);
    if (copy_name(d->name, sizeof d->name, tok[1]))
        return line_error(p, "parameter name too long");
    if (parse_shape(tok[2], CNNRT_MAX_RANK, &d->rank, d->dims))
        return line_error(p, "bad shape (expected e.g. 3x3x1x32)");
    d->size = 1;
    for (int i = 0; i < d->rank; i++)
        d->size *= d->dims[i];
    if (parse_i64(tok[3], &d->offset))
        return line_error(p, "bad offset");
    if (!strcmp(tok[4], "glorot_uniform"))
        d->init = CNNRT_INIT_GLOROT_UNIFORM;
    else if (!strcmp(tok[4], "zeros"))
        d->init = CNNRT_INIT_ZEROS;
    else
        return line_error(p, "unknown initialiser (expected glorot_uniform or zeros)");
    if (parse_i64(tok[5], &d->fan_in) || parse_i64(tok[6], &d->fan_out))
        return line_error(p, "bad fan_in or fan_out");
    if (d->init == CNNRT_INIT_GLOROT_UNIFORM && d->fan_in + d->fan_out <= 0)
        return line_error(p, "glorot_uniform needs fan_in + fan_out > 0");
    if (d->offset > p->model->param_floats || d->size > p->model->param_floats - d->offset)
        return line_error(p, "parameter lies outside the model's weights buffer");
    info->num_params++;
    return 0;
}

/* key=value pairs of 'compile' and 'fit'. */
static int parse_setting(parse_ctx *p, cnnrt_model_info *info, const char *key,
                         const char *value)
{
    double d;
    int64_t i;
    if (!strcmp(key, "loss"))
        return copy_name(info->loss, sizeof info->loss, value) ? line_error(p, "loss too long")
                                                              : 0;
    if (!strcmp(key, "optimizer"))
        return copy_name(info->optimizer, sizeof info->optimizer, value)
                   ? line_error(p, "optimizer too long") : 0;
    if (!strcmp(key, "metrics")) {
        info->metrics_accuracy = strstr(value, "acc") != NULL;
        return 0;
    }
    struct { const char *key; double *dst; } doubles[] = {
        {"lr", &info->lr}, {"beta_1", &info->beta_1}, {"beta_2", &info->beta_2},
        {"epsilon", &info->epsilon}, {"momentum", &info->momentum},
        {"validation_split", &info->validation_split}};
    for (size_t k = 0; k < sizeof doubles / sizeof doubles[0]; k++)
        if (!strcmp(key, doubles[k].key)) {
            if (parse_double(value, &d) || d < 0)
                return line_error(p, "bad number");
            *doubles[k].dst = d;
            return 0;
        }
    if (!strcmp(key, "epochs") || !strcmp(key, "batch_size")) {
        if (parse_i64(value, &i) || i < 1 || i > 1000000000)
            return line_error(p, "bad count");
        *(!strcmp(key, "epochs") ? &info->epochs : &info->batch_size) = (int)i;
        return 0;
    }
    if (!strcmp(key, "seed")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(value, &end, 10);
        if (errno || end == value || *end)
            return line_error(p, "bad seed");
        info->seed = (uint64_t)s;
        return 0;
    }
    return 0;   /* unknown keys: a newer cnnc; ignored on purpose */
}

static int parse_settings(parse_ctx *p, cnnrt_model_info *info, char **tok, int n)
{
    for (int k = 1; k < n; k++) {
        char *eq = strchr(tok[k], '=');
        if (!eq || eq == tok[k])
            return line_error(p, "expected key=value");
        *eq = '\0';
        if (parse_setting(p, info, tok[k], eq + 1))
            return -1;
    }
    return 0;
}

static int parse_line(parse_ctx *p, cnnrt_model_info *info, char *text)
{
    char *tok[MAX_TOKENS];
    int n = tokenize(text, tok, MAX_TOKENS);
    if (n == 0)
        return 0;
    if (n > MAX_TOKENS)
        return line_error(p, "too many fields");
    if (!strcmp(tok[0], "source")) {
        if (n != 2 || copy_name(info->source, sizeof info->source, tok[1]))
            return line_error(p, "expected 'source FILE'");
        return 0;
    }
    if (!strcmp(tok[0], "layer"))
        return parse_layer(p, info, tok, n);
    if (!strcmp(tok[0], "param"))
        return parse_param(p, info, tok, n);
    if (!strcmp(tok[0], "compile") || !strcmp(tok[0], "fit"))
        return parse_settings(p, info, tok, n);
    if (!strcmp(tok[0], "gradcam")) {
        if (n != 2 || strncmp(tok[1], "layer=", 6) ||
            copy_name(info->gradcam_layer, sizeof info->gradcam_layer, tok[1] + 6))
            return line_error(p, "expected 'gradcam layer=NAME'");
        return 0;
    }
    return 0;   /* unknown line kinds: a newer cnnc; ignored on purpose */
}

static int count_lines_starting(const char *text, const char *word)
{
    int count = 0;
    size_t len = strlen(word);
    for (const char *s = text; s && *s;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!strncmp(s, word, len) && (s[len] == ' ' || s[len] == '\t'))
            count++;
        s = strchr(s, '\n');
        if (s)
            s++;
    }
    return count;
}

static void set_keras_defaults(cnnrt_model_info *info)
{
    strcpy(info->loss, "categorical_crossentropy");
    strcpy(info->optimizer, "adam");
    info->lr = 0.001;
    info->beta_1 = 0.9;
    info->beta_2 = 0.999;
    info->epsilon = 1e-7;
    info->epochs = 1;
    info->batch_size = 32;
    info->seed = 42;
}

static int check_model(const cnnrt_model *model, cnnrt_err *e)
{
    const char *name = model->name ? model->name : "(unnamed)";
    if (model->abi_version != CNNRT_ABI_VERSION)
        return cnnrt_fail(e, "model %s: compiled for runtime ABI %lld but this runtime is ABI "
                          "%d; recompile the model with this cnnc", name,
                          (long long)model->abi_version, CNNRT_ABI_VERSION);
    if (!model->name || !model->description)
        return cnnrt_fail(e, "model %s: descriptor has no name or description", name);
    if (model->input_h <= 0 || model->input_w <= 0 || model->input_c <= 0 ||
        model->num_classes <= 0 || model->param_floats < 0 || model->opt_state_floats < 0 ||
        model->ws_floats_per_thread < 0 || model->num_cam_layers < 0 ||
        (model->num_cam_layers > 0 && !model->cam_layers))
        return cnnrt_fail(e, "model %s: descriptor has impossible sizes", name);
    if (!model->infer)
        return cnnrt_fail(e, "model %s: descriptor has no inference entry point", name);
    if (model->num_cam_layers > 0 && !model->gradcam)
        return cnnrt_fail(e, "model %s: descriptor has Grad-CAM layers but no Grad-CAM entry "
                          "point", name);
    for (int64_t i = 0; i < model->num_cam_layers; i++) {
        const cnnrt_cam_layer *c = &model->cam_layers[i];
        if (!c->name || c->h <= 0 || c->w <= 0 || c->c <= 0)
            return cnnrt_fail(e, "model %s: Grad-CAM layer %lld of the descriptor is invalid",
                              name, (long long)i);
    }
    return 0;
}

int cnnrt_model_info_load(const cnnrt_model *model, cnnrt_model_info *info, cnnrt_err *e)
{
    memset(info, 0, sizeof *info);
    if (!model)
        return cnnrt_fail(e, "no model");
    if (check_model(model, e))
        return -1;
    info->model = model;
    set_keras_defaults(info);
    int max_layers = count_lines_starting(model->description, "layer");
    int max_params = count_lines_starting(model->description, "param");
    info->layers = cnnrt_xcalloc((size_t)max_layers + 1, sizeof *info->layers);
    info->params = cnnrt_xcalloc((size_t)max_params + 1, sizeof *info->params);

    parse_ctx p = {.model = model, .e = e};
    const char *s = model->description;
    while (*s) {
        const char *end = strchr(s, '\n');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        p.line_no++;
        if (len >= LINE_MAX_CHARS) {
            p.line[0] = '\0';
            line_error(&p, "line too long");
            goto fail;
        }
        memcpy(p.line, s, len);
        p.line[len] = '\0';
        char work[LINE_MAX_CHARS];
        memcpy(work, p.line, len + 1);
        if (parse_line(&p, info, work))
            goto fail;
        s += len + (end ? 1 : 0);
    }
    if (info->num_layers == 0) {
        cnnrt_fail(e, "model %s: description lists no layers", model->name);
        goto fail;
    }
    return 0;
fail:
    cnnrt_model_info_free(info);
    return -1;
}

void cnnrt_model_info_free(cnnrt_model_info *info)
{
    free(info->layers);
    free(info->params);
    info->layers = NULL;
    info->params = NULL;
    info->num_layers = info->num_params = 0;
}

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
