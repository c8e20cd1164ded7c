/* The front end: checks the statements of a parsed model file and builds the graph IR.
 *
 * One walk over the statements, in line order, so that the messages come out in the order
 * of the file (the scanner's and parser's messages are merged in by line):
 *   - every statement's keyword and keys are checked against the vocabulary below
 *     (unknown -> "did you mean", given twice, missing, bare values);
 *   - statements that may appear once (model, input, compile, fit, gradcam) and the place
 *     of 'input' are checked;
 *   - each layer checks its values and calls the graph builder, whose shape rules report
 *     shape problems. A layer that cannot be built is skipped (the next layer reads the
 *     previous output), so the layers after it are still checked.
 * A silent look-ahead first finds what later lines decide: the 'input' statement, the first
 * layer, the model's name, and the names given with name= (generated names avoid them).
 * At the end come the model's outputs and the Grad-CAM layer, which need every layer. */
#include "frontend.h"
#include "util.h"
#include "cnnrt_limits.h"   /* the training settings' limits, shared with the runtime */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "elementwise.h"
#include "ops.h"
#include "cnnrt_weights.h"   /* the model name's room in the weights file */
#include "optimizers.h"
#include "batch_norm.h"

/* ---- the vocabulary --------------------------------------------------------------------- */

/* The activations, one line each: usable as a layer (its keyword, Keras's type and the
 * base of its generated name) and as `activation=` of conv2d and dense. fn is the
 * elementwise function (elementwise.h), or SOFTMAX_FN for softmax (a whole-vector op);
 * param, if not NULL, is the layer's key for the function's parameter (attrs.alpha), with
 * its default (also the value `activation=` uses).
 * X(ID, keyword, keras_type, keras_name, fn, param, default) */
#define SOFTMAX_FN (-1)
#define ACTIVATIONS(X)                                                                      \
    X(RELU, "relu", "Activation", "relu", CNNC_EW_RELU, NULL, 0.0)                          \
    X(SIGMOID, "sigmoid", "Activation", "sigmoid", CNNC_EW_SIGMOID, NULL, 0.0)              \
    X(TANH, "tanh", "Activation", "tanh", CNNC_EW_TANH, NULL, 0.0)                          \
    X(LEAKY_RELU, "leaky_relu", "LeakyReLU", "leaky_re_lu", CNNC_EW_LEAKY_RELU, "alpha", 0.3) \
    X(SOFTMAX, "softmax", "Activation", "softmax", SOFTMAX_FN, NULL, 0.0)

#define ACTIVATION_KIND(id, word, type, base, fn, param, def) ST_##id,
typedef enum {
    ST_MODEL, ST_INPUT,
    ST_CONV2D, ST_MAX_POOL2D, ST_AVG_POOL2D, ST_GLOBAL_AVG_POOL2D, ST_FLATTEN, ST_DENSE,
    ST_BATCH_NORM,
    ST_DROPOUT,
    ACTIVATIONS(ACTIVATION_KIND)
    ST_COMPILE, ST_FIT, ST_GRADCAM,
    /* training only: callbacks and schedules (after fit), augmentation (after input) */
    ST_EARLY_STOPPING, ST_MODEL_CHECKPOINT, ST_REDUCE_LR_ON_PLATEAU, ST_EXPONENTIAL_DECAY,
    ST_COSINE_DECAY,
    ST_RANDOM_FLIP, ST_RANDOM_TRANSLATION, ST_RANDOM_ROTATION, ST_RANDOM_ZOOM,
    ST_RANDOM_CONTRAST, ST_RANDOM_BRIGHTNESS,
    ST_COUNT
} stmt_kind;
#undef ACTIVATION_KIND
#define ST_FIRST_ACTIVATION (ST_DROPOUT + 1)

/* activation= words: "linear" (none), then the activations in their order above. */
typedef struct activation {
    const char *word;
    int fn;                 /* cnnc_ew_fn, SOFTMAX_FN, or NO_ACTIVATION */
    const char *param;
    double alpha;
} activation;
#define NO_ACTIVATION (-2)
#define ACTIVATION_ROW(id, word, type, base, fn, param, def) {word, fn, param, def},
static const activation activations[] = {
    {"linear", NO_ACTIVATION, NULL, 0.0},
    ACTIVATIONS(ACTIVATION_ROW)
};
#undef ACTIVATION_ROW
enum { NUM_ACTIVATIONS = sizeof activations / sizeof activations[0] };

enum { MAX_KEYS = 10 };

typedef struct key_spec {
    const char *key;
    int required;
    const char *help;     /* what it is, for the "missing" message */
} key_spec;

typedef struct stmt_spec {
    const char *keyword;
    const char *keras_type;   /* layers: model.summary()'s "(type)"; NULL otherwise */
    const char *keras_name;   /* layers: base of the generated name */
    key_spec keys[MAX_KEYS];
} stmt_spec;

static const stmt_spec specs[ST_COUNT] = {
    [ST_MODEL] = {"model", NULL, NULL, {{"name", 0, "the model's name"}, {"labels", 0, NULL}}},
    [ST_INPUT] = {"input", NULL, NULL, {{"shape", 1, "the image size, HxWxC, e.g. 28x28x1"},
                                        {"prepare", 0, NULL}}},
    [ST_CONV2D] = {"conv2d", "Conv2D", "conv2d",
                   {{"filters", 1, "the number of output channels"},
                    {"kernel", 1, "the kernel size, e.g. 3 or 3x3"},
                    {"strides", 0, NULL}, {"padding", 0, NULL}, {"activation", 0, NULL},
                    {"use_bias", 0, NULL}, {"name", 0, NULL}}},
    [ST_MAX_POOL2D] = {"max_pool2d", "MaxPooling2D", "max_pooling2d",
                       {{"pool_size", 0, NULL}, {"strides", 0, NULL}, {"padding", 0, NULL},
                        {"name", 0, NULL}}},
    [ST_AVG_POOL2D] = {"avg_pool2d", "AveragePooling2D", "average_pooling2d",
                       {{"pool_size", 0, NULL}, {"strides", 0, NULL}, {"padding", 0, NULL},
                        {"name", 0, NULL}}},
    [ST_GLOBAL_AVG_POOL2D] = {"global_avg_pool2d", "GlobalAveragePooling2D",
                              "global_average_pooling2d", {{"name", 0, NULL}}},
    [ST_FLATTEN] = {"flatten", "Flatten", "flatten", {{"name", 0, NULL}}},
    [ST_DENSE] = {"dense", "Dense", "dense",
                  {{"units", 1, "the number of outputs"}, {"activation", 0, NULL},
                   {"use_bias", 0, NULL}, {"name", 0, NULL}}},
    [ST_BATCH_NORM] = {"batch_norm", "BatchNormalization", "batch_normalization",
                       {{"momentum", 0, NULL}, {"epsilon", 0, NULL}, {"center", 0, NULL},
                        {"scale", 0, NULL}, {"axis", 0, NULL}, {"name", 0, NULL}}},
    [ST_DROPOUT] = {"dropout", "Dropout", "dropout",
                    {{"rate", 1, "the fraction of inputs to drop, e.g. 0.5"},
                     {"name", 0, NULL}}},
#define ACTIVATION_SPEC(id, word, type, base, fn, param, def)                                \
    [ST_##id] = {word, type, base, {{"name", 0, NULL}, {param, 0, NULL}}},
    ACTIVATIONS(ACTIVATION_SPEC)
#undef ACTIVATION_SPEC
    [ST_COMPILE] = {"compile", NULL, NULL,
                    {{"loss", 0, NULL}, {"optimizer", 0, NULL}, {"lr", 0, NULL},
                     {"metrics", 0, NULL}, {"beta_1", 0, NULL}, {"beta_2", 0, NULL},
                     {"epsilon", 0, NULL}, {"momentum", 0, NULL}, {"rho", 0, NULL}}},
    [ST_FIT] = {"fit", NULL, NULL,
                {{"epochs", 0, NULL}, {"batch_size", 0, NULL}, {"validation_split", 0, NULL},
                 {"seed", 0, NULL}}},
    [ST_GRADCAM] = {"gradcam", NULL, NULL,
                    {{"layer", 1, "the name of the layer to explain, e.g. conv2d_1"}}},
    [ST_EARLY_STOPPING] = {"early_stopping", NULL, NULL,
                           {{"monitor", 0, NULL}, {"mode", 0, NULL}, {"patience", 0, NULL},
                            {"min_delta", 0, NULL}, {"restore_best_weights", 0, NULL}}},
    [ST_MODEL_CHECKPOINT] = {"model_checkpoint", NULL, NULL,
                             {{"monitor", 0, NULL}, {"mode", 0, NULL},
                              {"save_best_only", 0, NULL}}},
    [ST_REDUCE_LR_ON_PLATEAU] = {"reduce_lr_on_plateau", NULL, NULL,
                                 {{"monitor", 0, NULL}, {"mode", 0, NULL}, {"factor", 0, NULL},
                                  {"patience", 0, NULL}, {"min_delta", 0, NULL},
                                  {"cooldown", 0, NULL}, {"min_lr", 0, NULL}}},
    [ST_EXPONENTIAL_DECAY] = {"exponential_decay", NULL, NULL,
                              {{"decay_steps", 1, "the number of steps of one decay_rate"},
                               {"decay_rate", 1, "the factor per decay_steps, e.g. 0.96"},
                               {"staircase", 0, NULL}}},
    [ST_COSINE_DECAY] = {"cosine_decay", NULL, NULL,
                         {{"decay_steps", 1, "the number of steps to decay over"},
                          {"alpha", 0, NULL}}},
    [ST_RANDOM_FLIP] = {"random_flip", NULL, NULL, {{"mode", 0, NULL}}},
    [ST_RANDOM_TRANSLATION] = {"random_translation", NULL, NULL,
                               {{"height_factor", 1, "the largest shift, a fraction of the "
                                 "height"},
                                {"width_factor", 1, "the largest shift, a fraction of the width"},
                                {"fill_mode", 0, NULL}, {"interpolation", 0, NULL},
                                {"fill_value", 0, NULL}}},
    [ST_RANDOM_ROTATION] = {"random_rotation", NULL, NULL,
                            {{"factor", 1, "the largest turn, a fraction of a full turn"},
                             {"fill_mode", 0, NULL}, {"interpolation", 0, NULL},
                             {"fill_value", 0, NULL}}},
    [ST_RANDOM_ZOOM] = {"random_zoom", NULL, NULL,
                        {{"height_factor", 1, "the largest zoom, a fraction of the height"},
                         {"width_factor", 0, NULL}, {"fill_mode", 0, NULL},
                         {"interpolation", 0, NULL}, {"fill_value", 0, NULL}}},
    [ST_RANDOM_CONTRAST] = {"random_contrast", NULL, NULL,
                            {{"factor", 1, "the largest change of contrast, e.g. 0.2"}}},
    [ST_RANDOM_BRIGHTNESS] = {"random_brightness", NULL, NULL,
                              {{"factor", 1, "the largest change of brightness, e.g. 0.2"}}},
};

/* Spellings a Keras user is likely to write, mapped to ours: edit distance alone would
 * not find these. */
static const char *const keras_spellings[][2] = {
    {"kernel_size", "kernel"},       {"learning_rate", "lr"},
    {"input_shape", "shape"},        {"max_pooling2d", "max_pool2d"},
    {"maxpooling2d", "max_pool2d"},  {"average_pooling2d", "avg_pool2d"},
    {"averagepooling2d", "avg_pool2d"},
    {"global_average_pooling2d", "global_avg_pool2d"},
    {"globalaveragepooling2d", "global_avg_pool2d"},
    {"batch", "batch_size"},
    {"batch_normalization", "batch_norm"}, {"batchnormalization", "batch_norm"},
};

static int is_layer(stmt_kind k)
{
    return specs[k].keras_type != NULL;
}

/* The activation a layer statement of kind k is, as an index into activations[], or -1. */
static int activation_of(stmt_kind k)
{
    int index = (int)k - ST_FIRST_ACTIVATION + 1;
    return index >= 1 && index < NUM_ACTIVATIONS ? index : -1;
}

static int lookup_stmt(const char *keyword)
{
    for (int k = 0; k < ST_COUNT; k++)
        if (strcmp(specs[k].keyword, keyword) == 0)
            return k;
    return -1;
}

static const key_spec *lookup_key(stmt_kind k, const char *key)
{
    for (int i = 0; i < MAX_KEYS && specs[k].keys[i].key; i++)
        if (strcmp(specs[k].keys[i].key, key) == 0)
            return &specs[k].keys[i];
    return NULL;
}

/* "did you mean": a known Keras spelling first, then the closest by edit distance. */
static const char *suggest(const char *word, const char *const *candidates, int n)
{
    for (size_t i = 0; i < sizeof keras_spellings / sizeof keras_spellings[0]; i++)
        if (strcasecmp(word, keras_spellings[i][0]) == 0)
            for (int c = 0; c < n; c++)
                if (strcmp(candidates[c], keras_spellings[i][1]) == 0)
                    return candidates[c];
    return cnnc_closest(word, candidates, n);
}

/* ---- the builder's state ---------------------------------------------------------------- */

typedef struct name_counter {
    const char *base;
    int next;
} name_counter;

/* A layer's name= and its statement. Kept sorted by name, then statement, so that the
 * questions asked for every layer ("is this name given explicitly?", "which layer gave it
 * first?") are binary searches: a file of 100,000 layers is checked in n log n, not n^2. */
typedef struct explicit_name {
    const char *name;
    int stmt;
} explicit_name;

typedef struct builder {
    cnnc_graph *g;
    cnnc_diag *d;
    cnnc_ast *ast;
    int *kinds;                  /* stmt_kind of each statement, -1 if unknown */
    int current;                 /* the node the next layer reads; -1: nothing to build on */
    int skipped_layers;          /* layers that could not be built */
    int input;                   /* the statement that starts the model, or -1 */
    int first_layer;             /* the first layer statement, or -1 */
    name_counter counters[ST_COUNT];
    int first_of_kind[ST_COUNT]; /* the first statement of each kind */
    explicit_name *names;        /* every layer's name=, sorted (see explicit_name) */
    int num_names;
    int layer_first_node;        /* the nodes and parameters of the layer being built */
    int layer_first_param;       /* start at these indices */
} builder;

/* A statement's words, shortened for messages: a 100,000-character name is not quoted. */
static const char *shorten(const char *text, char *buf, size_t size)
{
    size_t len = strlen(text);
    if (len < size)
        return text;
    snprintf(buf, size, "%.*s...", (int)(size - 4), text);
    return buf;
}

/* ---- keywords and keys -------------------------------------------------------------------- */

static int check_keyword(builder *b, cnnc_stmt *s)
{
    int kind = lookup_stmt(s->keyword);
    if (kind >= 0)
        return kind;
    char buf[48];
    cnnc_error(b->d, s->loc, "unknown statement '%s'", shorten(s->keyword, buf, sizeof buf));
    const char *names[ST_COUNT];
    for (int k = 0; k < ST_COUNT; k++)
        names[k] = specs[k].keyword;
    const char *close = suggest(s->keyword, names, ST_COUNT);
    if (close)
        cnnc_note(b->d, s->loc, "did you mean '%s'?", close);
    return -1;
}

/* Names another statement that has this key ("'units' is an argument of dense"). */
static void note_key_elsewhere(builder *b, cnnc_loc loc, const char *key)
{
    for (int k = 0; k < ST_COUNT; k++)
        if (lookup_key((stmt_kind)k, key) && strcmp(key, "name") != 0) {
            cnnc_note(b->d, loc, "'%s' is an argument of '%s'", key, specs[k].keyword);
            return;
        }
}

static void check_keys(builder *b, cnnc_stmt *s, stmt_kind kind)
{
    const stmt_spec *spec = &specs[kind];
    char buf[48];
    const char *suggested[MAX_KEYS];   /* a misspelt key is not also reported missing */
    int num_suggested = 0;
    int stray_values = 0;   /* '32' meant as filters=32: do not also report it missing */
    int first_given[MAX_KEYS];   /* the argument that gave each key first, or -1 */
    for (int k = 0; k < MAX_KEYS; k++)
        first_given[k] = -1;
    for (int i = 0; i < s->num_args; i++) {
        cnnc_arg *a = &s->args[i];
        if (!a->key) {
            if (a->value.kind == CNNC_VALUE_INVALID)
                continue;   /* reported by the scanner */
            if (kind == ST_MODEL && i == 0 && a->value.kind == CNNC_VALUE_IDENT)
                continue;   /* model NAME */
            cnnc_error(b->d, a->key_loc, "expected key=value, found '%s'",
                       shorten(a->value.text, buf, sizeof buf));
            stray_values++;
            continue;
        }
        const key_spec *known = lookup_key(kind, a->key);
        if (!known) {
            int n = 0;
            const char *keys[MAX_KEYS];
            for (; n < MAX_KEYS && spec->keys[n].key; n++)
                keys[n] = spec->keys[n].key;
            cnnc_error(b->d, a->key_loc, "unknown key '%s' for '%s'",
                       shorten(a->key, buf, sizeof buf), spec->keyword);
            const char *close = suggest(a->key, keys, n);
            if (close)
                cnnc_note(b->d, a->key_loc, "did you mean '%s'?", close);
            else
                note_key_elsewhere(b, a->key_loc, a->key);
            if (close && num_suggested < MAX_KEYS)
                suggested[num_suggested++] = close;
            continue;
        }
        int *first = &first_given[known - spec->keys];
        if (*first >= 0) {
            cnnc_error(b->d, a->key_loc, "'%s' is given twice", a->key);
            cnnc_note(b->d, s->args[*first].key_loc, "first given here");
        } else {
            *first = i;
        }
    }
    if (kind == ST_MODEL) {
        int has_name = cnnc_stmt_find(s, "name") ||
                       (s->num_args > 0 && !s->args[0].key &&
                        s->args[0].value.kind == CNNC_VALUE_IDENT);
        if (!has_name && !s->damaged)
            cnnc_error(b->d, s->loc, "'model' needs a name, e.g. 'model mnist_cam'");
        return;
    }
    if (s->damaged || stray_values)
        return;   /* a missing key may be one the syntax error swallowed */
    for (int i = 0; i < MAX_KEYS && spec->keys[i].key; i++) {
        int was_suggested = 0;
        for (int j = 0; j < num_suggested; j++)
            was_suggested |= suggested[j] == spec->keys[i].key;
        if (spec->keys[i].required && !was_suggested && !cnnc_stmt_find(s, spec->keys[i].key))
            cnnc_error(b->d, s->loc, "'%s' needs '%s=' (%s)", spec->keyword,
                       spec->keys[i].key, spec->keys[i].help);
    }
}

/* ---- reading values ----------------------------------------------------------------------
 * Each reader returns 0 and stores the value (or the default when the key is absent), or
 * reports a problem at the value and returns -1. */

static const char *value_text(const cnnc_arg *a, char *buf, size_t size)
{
    return shorten(a->value.text, buf, size);
}

/* Reports "'key' must be <what>, found '<value>'" at the value; returns -1. */
static int must_be(builder *b, const cnnc_arg *a, const char *key, const char *what)
{
    char buf[48];
    if (a->value.kind == CNNC_VALUE_STRING && strcmp(key, "labels") != 0) {
        const char *text = value_text(a, buf, sizeof buf);
        cnnc_error(b->d, a->value.loc, "unexpected quote: values are written without quotes "
                   "(%s=%.*s)", key, (int)strlen(text) - 2, text + 1);
        return -1;
    }
    cnnc_error(b->d, a->value.loc, "'%s' must be %s, found '%s'", key, what,
               value_text(a, buf, sizeof buf));
    return -1;
}

/* The argument a reader checks, or NULL when there is nothing to check: *status is then 0
 * when the key is absent (the default stands) or -1 when its value is one the scanner
 * already reported as invalid. */
static const cnnc_arg *find_value(cnnc_stmt *s, const char *key, int *status)
{
    const cnnc_arg *a = cnnc_stmt_find(s, key);
    if (a && a->value.kind == CNNC_VALUE_INVALID) {
        *status = -1;   /* already reported by the scanner */
        return NULL;
    }
    *status = 0;
    return a;
}

static int read_int(builder *b, cnnc_stmt *s, const char *key, int64_t def, int64_t min,
                    int64_t max, int64_t *out)
{
    *out = def;
    int status;
    const cnnc_arg *a = find_value(s, key, &status);
    if (!a)
        return status;
    char buf[48];
    const cnnc_value *v = &a->value;
    if (v->kind != CNNC_VALUE_INT) {
        return must_be(b, a, key, "a whole number");
    }
    if (v->out_of_range || v->int_value < min || v->int_value > max) {
        if (v->int_value < min && !v->out_of_range)
            cnnc_error(b->d, v->loc, "'%s' must be at least %lld, found %s", key,
                       (long long)min, value_text(a, buf, sizeof buf));
        else
            cnnc_error(b->d, v->loc, "'%s' must be at most %lld, found %s", key,
                       (long long)max, value_text(a, buf, sizeof buf));
        return -1;
    }
    *out = v->int_value;
    return 0;
}

/* A size written '3' or '3x3' (height x width), each between 1 and max. */
static int read_window(builder *b, cnnc_stmt *s, const char *key, int def_h, int def_w,
                       int max, int *h, int *w)
{
    *h = def_h;
    *w = def_w;
    int status;
    const cnnc_arg *a = find_value(s, key, &status);
    if (!a)
        return status;
    char buf[48];
    const cnnc_value *v = &a->value;
    if ((v->kind != CNNC_VALUE_INT && v->kind != CNNC_VALUE_SIZE) || v->num_dims > 2) {
        return must_be(b, a, key, "a size like 3 or 3x3");
    }
    for (int i = 0; i < v->num_dims; i++)
        if (v->out_of_range || v->dims[i] < 1 || v->dims[i] > max) {
            cnnc_error(b->d, v->loc, "'%s' must be between 1 and %d, found %s", key, max,
                       value_text(a, buf, sizeof buf));
            return -1;
        }
    *h = (int)v->dims[0];
    *w = (int)v->dims[v->num_dims - 1];
    return 0;
}

/* A number in [min, max]; max_open makes max itself invalid (dropout rate < 1). */
static int read_float(builder *b, cnnc_stmt *s, const char *key, double def, double min,
                      double max, int min_open, int max_open, double *out)
{
    *out = def;
    int status;
    const cnnc_arg *a = find_value(s, key, &status);
    if (!a)
        return status;
    char buf[48];
    const cnnc_value *v = &a->value;
    if (v->kind != CNNC_VALUE_INT && v->kind != CNNC_VALUE_FLOAT) {
        return must_be(b, a, key, "a number");
    }
    double x = v->float_value;
    if (v->out_of_range || !isfinite(x)) {
        /* 1e999 is not "not greater than 0": it is a number no double can hold. */
        cnnc_error(b->d, v->loc, "'%s' is out of range: %s is too %s to be represented (a "
                   "number's magnitude must be between about 2.2e-308 and 1.8e308, or 0)",
                   key, value_text(a, buf, sizeof buf), fabs(x) < 1.0 ? "small" : "large");
        return -1;
    }
    if (x < min || x > max || (min_open && x == min) ||
        (max_open && x == max)) {
        if (max >= 1e6)   /* no real upper bound: say only what the lower one is */
            cnnc_error(b->d, v->loc, "'%s' must be %s %g, found %s", key,
                       min_open ? "greater than" : "at least", min,
                       value_text(a, buf, sizeof buf));
        else
            cnnc_error(b->d, v->loc, "'%s' must be in %s%g, %g%s, found %s", key,
                       min_open ? "(" : "[", min, max, max_open ? ")" : "]",
                       value_text(a, buf, sizeof buf));
        return -1;
    }
    *out = x;
    return 0;
}

/* One of the names in choices (index stored in *out). */
static int read_choice(builder *b, cnnc_stmt *s, const char *key, const char *const *choices,
                       int n, int def, int *out)
{
    *out = def;
    int status;
    const cnnc_arg *a = find_value(s, key, &status);
    if (!a)
        return status;
    const cnnc_value *v = &a->value;
    if (v->kind == CNNC_VALUE_IDENT)
        for (int i = 0; i < n; i++)
            if (strcmp(v->text, choices[i]) == 0) {
                *out = i;
                return 0;
            }
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        size_t used = strlen(list);
        const char *separator = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        snprintf(list + used, sizeof list - used, "%s'%s'", separator, choices[i]);
    }
    must_be(b, a, key, list);
    const char *close = v->kind == CNNC_VALUE_IDENT ? cnnc_closest(v->text, choices, n) : NULL;
    if (close)
        cnnc_note(b->d, v->loc, "did you mean '%s'?", close);
    return -1;
}

static const char *const bool_words[] = {"false", "true", "False", "True", "0", "1"};

static int read_bool(builder *b, cnnc_stmt *s, const char *key, int def, int *out)
{
    *out = def;
    int status;
    const cnnc_arg *a = find_value(s, key, &status);
    if (!a)
        return status;
    for (int i = 0; i < 6; i++)
        if (strcmp(a->value.text, bool_words[i]) == 0) {
            *out = i % 2;
            return 0;
        }
    return must_be(b, a, key, "true or false");
}

static const char *const padding_words[] = {"valid", "same"};

static int read_padding(builder *b, cnnc_stmt *s, cnnc_padding *out)
{
    int index;
    int rc = read_choice(b, s, "padding", padding_words, 2, 0, &index);
    *out = index == 1 ? CNNC_PAD_SAME : CNNC_PAD_VALID;
    return rc;
}

/* activation=: an index into activations[] (0, "linear", when absent). */
static int read_activation(builder *b, cnnc_stmt *s, int *out)
{
    const char *words[NUM_ACTIVATIONS];
    for (int i = 0; i < NUM_ACTIVATIONS; i++)
        words[i] = activations[i].word;
    return read_choice(b, s, "activation", words, NUM_ACTIVATIONS, 0, out);
}

/* ---- names and statements that appear once ------------------------------------------------ */

/* The value of 'name=' if it is a proper name; reports a value that is not. */
static cnnc_arg *explicit_name_of(builder *b, cnnc_stmt *s)
{
    cnnc_arg *a = cnnc_stmt_find(s, "name");
    if (!a)
        return NULL;
    if (a->value.kind == CNNC_VALUE_INVALID)
        return NULL;
    if (a->value.kind != CNNC_VALUE_IDENT) {
        char buf[48];
        cnnc_error(b->d, a->value.loc, "a layer name must start with a letter or '_', found "
                                       "'%s'", value_text(a, buf, sizeof buf));
        return NULL;
    }
    size_t len = strlen(a->value.text);
    if (len > CNNC_MAX_LAYER_NAME) {
        cnnc_error(b->d, a->value.loc, "the layer name is %zu characters long; at most %d are "
                   "allowed (the compiled program could not load longer names)", len,
                   CNNC_MAX_LAYER_NAME);
        return NULL;
    }
    return a;
}

_Static_assert(CNNC_MAX_MODEL_NAME < sizeof ((cnnrt_weights *)0)->model_name,
               "the weights file must hold every model name the front end accepts");
_Static_assert(CNNC_MAX_MODEL_NAME + sizeof ".history.png.tmp.4194304" - 1 <= NAME_MAX,
               "the files train writes must have valid names");

/* The model's name ends up in file names and the weights file (see CNNC_MAX_MODEL_NAME). */
static void check_model_name(builder *b, cnnc_stmt *s)
{
    cnnc_arg *a = s->num_args > 0 && !s->args[0].key ? &s->args[0] : cnnc_stmt_find(s, "name");
    if (!a || a->value.kind != CNNC_VALUE_IDENT)
        return;
    size_t len = strlen(a->value.text);
    if (len > CNNC_MAX_MODEL_NAME)
        cnnc_error(b->d, a->value.loc, "the model name is %zu characters long; at most %d are "
                   "allowed (it names the weights file and is stored in it)", len,
                   CNNC_MAX_MODEL_NAME);
}

static int compare_explicit_names(const void *pa, const void *pb)
{
    const explicit_name *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->stmt > b->stmt) - (a->stmt < b->stmt);
}

/* Fills b->names from the statements (their kinds must be known). */
static void collect_explicit_names(builder *b)
{
    b->names = cnnc_xcalloc((size_t)b->ast->num_stmts + 1, sizeof *b->names);
    for (int i = 0; i < b->ast->num_stmts; i++) {
        if (b->kinds[i] < 0 || !is_layer((stmt_kind)b->kinds[i]))
            continue;
        cnnc_arg *a = cnnc_stmt_find(&b->ast->stmts[i], "name");
        if (a && a->value.kind == CNNC_VALUE_IDENT)
            b->names[b->num_names++] = (explicit_name){a->value.text, i};
    }
    qsort(b->names, (size_t)b->num_names, sizeof *b->names, compare_explicit_names);
}

/* The statement that gives this name first, or -1. */
static int first_explicit_use(const builder *b, const char *name)
{
    int lo = 0, hi = b->num_names;   /* the first entry not less than name */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(b->names[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->num_names && strcmp(b->names[lo].name, name) == 0 ? b->names[lo].stmt : -1;
}

/* A name= that an earlier layer already has. */
static void check_explicit_name(builder *b, int index)
{
    cnnc_arg *a = explicit_name_of(b, &b->ast->stmts[index]);
    if (!a)
        return;
    int first = first_explicit_use(b, a->value.text);
    if (first >= 0 && first < index) {
        char buf[48];
        cnnc_error(b->d, a->value.loc, "duplicate layer name '%s'",
                   value_text(a, buf, sizeof buf));
        cnnc_note(b->d, cnnc_stmt_find(&b->ast->stmts[first], "name")->value.loc,
                  "first used here");
    }
}

/* Keras's names: "conv2d", then "conv2d_1", "conv2d_2", ... skipping names given with
 * name= anywhere in the file. Generated names cannot collide with each other (each base
 * has its own increasing counter, and no base is another base plus "_N"), so the names
 * given with name= are the only ones to look at. */
static char *generate_name(builder *b, stmt_kind kind)
{
    name_counter *c = &b->counters[kind];
    const char *base = specs[kind].keras_name;
    /* relu, sigmoid, tanh and softmax are all "Activation" but keep their own names. */
    char name[96];
    for (;; c->next++) {
        if (c->next == 0)
            snprintf(name, sizeof name, "%s", base);
        else
            snprintf(name, sizeof name, "%s_%d", base, c->next);
        if (first_explicit_use(b, name) < 0)
            break;
    }
    c->next++;
    return cnnc_xstrdup(name);
}

/* Whether a line before this one was dropped: it may have been the 'input'. */
static int syntax_error_before(const cnnc_ast *ast, int line)
{
    return ast->num_errors > 0 && ast->errors[0].loc.line < line;
}

/* Statements that may appear only once, and 'input', which must precede every layer. */
static void check_place(builder *b, int index)
{
    cnnc_stmt *s = &b->ast->stmts[index];
    int kind = b->kinds[index];
    if (is_layer((stmt_kind)kind)) {
        if (index == b->first_layer && b->input < 0 && !syntax_error_before(b->ast, s->loc.line))
            cnnc_error(b->d, s->loc, "missing 'input shape=HxWxC' before the first layer");
        return;
    }
    int first = b->first_of_kind[kind];
    if (first < index) {
        cnnc_error(b->d, s->loc, "'%s' is given twice", specs[kind].keyword);
        cnnc_note(b->d, b->ast->stmts[first].loc, "first given here");
        return;
    }
    if (kind == ST_INPUT && b->first_layer >= 0 && b->first_layer < index) {
        cnnc_error(b->d, s->loc, "'input' must come before the first layer");
        cnnc_note(b->d, b->ast->stmts[b->first_layer].loc, "the first layer is here");
    }
}

/* ---- layers -------------------------------------------------------------------------------- */

static int add_layer(builder *b, cnnc_stmt *s, stmt_kind kind)
{
    cnnc_graph *g = b->g;
    g->layers = cnnc_grow(g->layers, g->num_layers, &g->cap_layers, 16, sizeof *g->layers);
    cnnc_layer *l = &g->layers[g->num_layers];
    memset(l, 0, sizeof *l);
    cnnc_arg *name = cnnc_stmt_find(s, "name");
    l->name = name && name->value.kind == CNNC_VALUE_IDENT ? cnnc_xstrdup(name->value.text)
                                                           : generate_name(b, kind);
    l->type = specs[kind].keras_type;
    l->keyword = specs[kind].keyword;
    l->output_node = -1;
    l->loc = s->loc;
    b->layer_first_node = g->num_nodes;
    b->layer_first_param = g->num_params;
    return g->num_layers++;
}

/* Records the layer's output and sums its parameters and FLOPs over its nodes. */
static void finish_layer(builder *b, int layer, int output)
{
    cnnc_graph *g = b->g;
    cnnc_layer *l = &g->layers[layer];
    l->output_node = output;
    l->shape = g->nodes[output].shape;
    for (int i = b->layer_first_param; i < g->num_params; i++)
        if (g->params[i].layer == layer)
            l->params += g->params[i].size;
    for (int i = b->layer_first_node; i < g->num_nodes; i++) {
        const cnnc_op_info *info = cnnc_op_info_of(g->nodes[i].op);
        if (g->nodes[i].layer == layer && info->flops)
            l->flops += info->flops(g, &g->nodes[i]);
    }
    b->current = output;
}

static int add_node(builder *b, cnnc_op op, int x, int w, int bias, const cnnc_attrs *attrs,
                    const char *name, int layer, cnnc_loc loc)
{
    int inputs[CNNC_MAX_INPUTS] = {x, w, bias};
    return cnnc_graph_add(b->g, b->d, op, inputs, attrs, name, layer, loc);
}

/* Activation `act` (an index into activations[]) of x with parameter alpha, as a node
 * called `name`. */
static int add_activation(builder *b, int x, int act, double alpha, const char *name,
                          int layer, cnnc_loc loc)
{
    const activation *a = &activations[act];
    if (a->fn == NO_ACTIVATION || x < 0)
        return x;
    if (a->fn == SOFTMAX_FN)
        return add_node(b, CNNC_OP_SOFTMAX, x, -1, -1, NULL, name, layer, loc);
    return cnnc_build_ew(b->g, b->d, (cnnc_ew_fn)a->fn, x, -1, -1, (float)alpha, name, layer,
                         loc);
}

/* Refuses layers whose size would overflow the arithmetic of later stages; no model that
 * fits in memory comes near these limits. */
static int too_large(builder *b, cnnc_stmt *s, const char *layer, double params,
                     double values, double flops)
{
    if (params <= 2147483647.0 && values <= 2147483647.0 && flops <= 1e15)
        return 0;
    cnnc_error(b->d, s->loc, "%s: the layer is too large (%.3g weights, %.3g outputs, %.3g "
                             "FLOPs per image)", layer, params, values, flops);
    return 1;
}

static const cnnc_shape *current_shape(builder *b)
{
    return &b->g->nodes[b->current].shape;
}

/* The channel count a layer's weights are made for: the last axis of its input. */
static int64_t input_channels(builder *b)
{
    const cnnc_shape *x = current_shape(b);
    return x->rank > 0 ? x->dim[x->rank - 1] : 1;
}

static char *weight_name(char *buf, size_t size, const char *layer, const char *what)
{
    snprintf(buf, size, "%s/%s", layer, what);
    return buf;
}

/* What Conv2D and Dense add once their settings are read: a kernel, an optional bias
 * (one value per output channel), the op reading the current value, and its activation. */
typedef struct weighted_layer {
    cnnc_op op;
    cnnc_attrs attrs;
    cnnc_shape kernel_shape;     /* the last axis is the output channels */
    int64_t fan_in, fan_out;     /* for the Glorot initialisation of the kernel */
    int use_bias;
    int act;                     /* index into activations[] */
} weighted_layer;

static void add_weighted_layer(builder *b, cnnc_stmt *s, int layer, const weighted_layer *w)
{
    const char *name = b->g->layers[layer].name;
    int64_t channels = w->kernel_shape.dim[w->kernel_shape.rank - 1];
    char wname[300];
    int kernel = cnnc_graph_add_param(b->g, weight_name(wname, sizeof wname, name, "kernel"),
                                      w->kernel_shape, CNNC_INIT_GLOROT_UNIFORM, w->fan_in,
                                      w->fan_out, layer);
    int bias = -1;
    if (w->use_bias)
        bias = cnnc_graph_add_param(b->g, weight_name(wname, sizeof wname, name, "bias"),
                                    cnnc_shape1(channels), CNNC_INIT_ZEROS, 0, 0, layer);
    int y = add_node(b, w->op, b->current, kernel, bias, &w->attrs, name, layer, s->loc);
    char act_name[300];
    snprintf(act_name, sizeof act_name, "%s/%s", name, activations[w->act].word);
    y = add_activation(b, y, w->act, activations[w->act].alpha, act_name, layer, s->loc);
    if (y >= 0)
        finish_layer(b, layer, y);
}

static void build_conv2d(builder *b, cnnc_stmt *s, int layer)
{
    int64_t filters;
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    int act;
    int use_bias;
    int bad = read_int(b, s, "filters", 1, 1, 65536, &filters);
    bad |= read_window(b, s, "kernel", 1, 1, 4096, &a.kernel_h, &a.kernel_w);
    bad |= read_window(b, s, "strides", 1, 1, 4096, &a.stride_h, &a.stride_w);
    bad |= read_padding(b, s, &a.padding);
    bad |= read_activation(b, s, &act);
    bad |= read_bool(b, s, "use_bias", 1, &use_bias);
    if (bad || b->current < 0)
        return;
    a.units = (int)filters;
    const char *name = b->g->layers[layer].name;
    const cnnc_shape *x = current_shape(b);
    int64_t ci = input_channels(b);
    double hw = x->rank == 3 ? (double)x->dim[0] * (double)x->dim[1] : 1.0;
    double weights = (double)a.kernel_h * a.kernel_w * (double)ci * (double)filters;
    if (too_large(b, s, name, weights, hw * (double)filters, 2.0 * hw * weights))
        return;
    int64_t kdims[4] = {a.kernel_h, a.kernel_w, ci, filters};
    weighted_layer w = {.op = CNNC_OP_CONV2D, .attrs = a,
                        .kernel_shape = cnnc_shape_make(4, kdims),
                        .fan_in = a.kernel_h * a.kernel_w * ci,
                        .fan_out = a.kernel_h * a.kernel_w * filters,
                        .use_bias = use_bias, .act = act};
    add_weighted_layer(b, s, layer, &w);
}

static void build_pool2d(builder *b, cnnc_stmt *s, int layer, cnnc_op op)
{
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    int bad = read_window(b, s, "pool_size", 2, 2, 4096, &a.kernel_h, &a.kernel_w);
    /* Keras: strides default to the pool size. */
    bad |= read_window(b, s, "strides", a.kernel_h, a.kernel_w, 4096, &a.stride_h,
                       &a.stride_w);
    bad |= read_padding(b, s, &a.padding);
    if (bad || b->current < 0)
        return;
    int y = add_node(b, op, b->current, -1, -1, &a, b->g->layers[layer].name, layer, s->loc);
    if (y >= 0)
        finish_layer(b, layer, y);
}

static void build_dense(builder *b, cnnc_stmt *s, int layer)
{
    int64_t units;
    int act;
    int use_bias;
    int bad = read_int(b, s, "units", 1, 1, 1 << 24, &units);
    bad |= read_activation(b, s, &act);
    bad |= read_bool(b, s, "use_bias", 1, &use_bias);
    if (bad || b->current < 0)
        return;
    const char *name = b->g->layers[layer].name;
    int64_t in = input_channels(b);
    double weights = (double)in * (double)units;
    if (too_large(b, s, name, weights, (double)units, 2.0 * weights))
        return;
    int64_t kdims[2] = {in, units};
    weighted_layer w = {.op = CNNC_OP_DENSE, .kernel_shape = cnnc_shape_make(2, kdims),
                        .fan_in = in, .fan_out = units, .use_bias = use_bias, .act = act};
    w.attrs.units = (int)units;
    add_weighted_layer(b, s, layer, &w);
}

static void build_simple(builder *b, cnnc_stmt *s, int layer, stmt_kind kind)
{
    cnnc_attrs a;
    memset(&a, 0, sizeof a);
    cnnc_op op;
    switch (kind) {
    case ST_DROPOUT: {
        double rate;
        if (read_float(b, s, "rate", 0.5, 0.0, 1.0, 0, 1, &rate))
            return;
        a.rate = (float)rate;
        op = CNNC_OP_DROPOUT;
        break;
    }
    case ST_FLATTEN: op = CNNC_OP_RESHAPE; break;
    default: op = CNNC_OP_GLOBAL_AVG_POOL2D; break;
    }
    if (b->current < 0)
        return;
    if (op == CNNC_OP_RESHAPE)
        a.shape = cnnc_shape1(cnnc_shape_size(*current_shape(b)));
    if (op == CNNC_OP_DROPOUT)
        a.dropout_index = b->g->num_dropouts;
    int y = add_node(b, op, b->current, -1, -1, &a, b->g->layers[layer].name, layer, s->loc);
    if (y < 0)
        return;
    if (op == CNNC_OP_DROPOUT)
        b->g->num_dropouts++;
    finish_layer(b, layer, y);
}

/* BatchNormalization over the channels (Keras's axis=-1, the only axis offered). */
static void build_batch_norm(builder *b, cnnc_stmt *s, int layer)
{
    cnnc_bn_settings bn = {0.99, 1e-3, 1, 1};
    int64_t axis;
    int bad = read_float(b, s, "momentum", 0.99, 0.0, 1.0, 0, 0, &bn.momentum);
    bad |= read_float(b, s, "epsilon", 1e-3, 0.0, HUGE_VAL, 1, 0, &bn.epsilon);
    bad |= read_bool(b, s, "center", 1, &bn.center);
    bad |= read_bool(b, s, "scale", 1, &bn.scale);
    bad |= read_int(b, s, "axis", -1, -1, -1, &axis);
    if (bad || b->current < 0)
        return;
    int y = cnnc_build_batch_norm(b->g, b->d, b->current, &bn, b->g->layers[layer].name,
                                  layer, s->loc);
    if (y >= 0)
        finish_layer(b, layer, y);
}

/* An activation layer: its parameter (if it has one) and the function. */
static void build_activation(builder *b, cnnc_stmt *s, int layer, int act)
{
    double alpha = activations[act].alpha;
    if (activations[act].param &&
        read_float(b, s, activations[act].param, alpha, 0.0, HUGE_VAL, 0, 0, &alpha))
        return;
    if (b->current < 0)
        return;
    int y = add_activation(b, b->current, act, alpha, b->g->layers[layer].name, layer, s->loc);
    if (y >= 0)
        finish_layer(b, layer, y);
}

static void build_input(builder *b, cnnc_stmt *s)
{
    int status;
    const cnnc_arg *a = find_value(s, "shape", &status);
    if (!a)
        return;
    const cnnc_value *v = &a->value;
    char buf[48];
    if (v->kind != CNNC_VALUE_SIZE || v->num_dims != 3) {
        must_be(b, a, "shape", "HxWxC, e.g. 28x28x1");
        return;
    }
    for (int i = 0; i < 3; i++)
        if (v->out_of_range || v->dims[i] < 1 || v->dims[i] > 65536) {
            cnnc_error(b->d, v->loc, "'shape' sizes must be between 1 and 65536, found '%s'",
                       value_text(a, buf, sizeof buf));
            return;
        }
    if ((double)v->dims[0] * (double)v->dims[1] * (double)v->dims[2] > 2147483647.0) {
        cnnc_error(b->d, v->loc, "the input %s is too large", value_text(a, buf, sizeof buf));
        return;
    }
    static const char *const prepares[] = {"resize", "digit"};   /* cnnrt_prepare */
    read_choice(b, s, "prepare", prepares, 2, 0, &b->g->prepare);
    cnnc_attrs attrs;
    memset(&attrs, 0, sizeof attrs);
    attrs.shape = cnnc_shape3(v->dims[0], v->dims[1], v->dims[2]);
    b->current = add_node(b, CNNC_OP_INPUT, -1, -1, -1, &attrs, "input", -1, s->loc);
}

/* model ... labels="T-shirt/top,Trouser,...": one name per class, separated by commas,
 * kept one a line in the graph. Needs the number of classes, so it is read at the end. */
static void read_labels(builder *b, cnnc_stmt *s)
{
    int status;
    const cnnc_arg *a = find_value(s, "labels", &status);
    if (!a)
        return;
    const cnnc_value *v = &a->value;
    if (v->kind != CNNC_VALUE_STRING) {
        must_be(b, a, "labels", "the class names in quotes, separated by commas, e.g. "
                "\"cat,dog\"");
        return;
    }
    size_t len = strlen(v->text) - 2;   /* without the quotes */
    const char *text = v->text + 1;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = cnnc_utf8_next(text + i, len - i, &cp);
        if (cp == CNNC_UTF8_INVALID || cp < 0x20 || cp == 0x7f) {
            cnnc_error(b->d, v->loc, "'labels' may hold printable characters only");
            return;
        }
        i += n;
    }
    char *names = cnnc_xrealloc(NULL, len + 2);
    size_t used = 0;
    int count = 0;
    for (const char *p = text, *end = text + len; p <= end; count++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        while (p < stop && *p == ' ')
            p++;
        const char *last = stop;
        while (last > p && last[-1] == ' ')
            last--;
        if (last == p) {
            cnnc_error(b->d, v->loc, "'labels' has an empty name (name %d)", count + 1);
            free(names);
            return;
        }
        memcpy(names + used, p, (size_t)(last - p));
        used += (size_t)(last - p);
        names[used++] = '\n';
        p = stop + 1;
    }
    names[used] = '\0';
    if (count != b->g->num_classes) {
        cnnc_error(b->d, v->loc, "'labels' names %d classes, but the model has %d outputs",
                   count, b->g->num_classes);
        free(names);
        return;
    }
    free(b->g->class_names);
    b->g->class_names = names;
}

static void build_layer(builder *b, cnnc_stmt *s, stmt_kind kind)
{
    /* A softmax anywhere but at the end is almost always a mistake. */
    if (b->current >= 0 && b->g->nodes[b->current].op == CNNC_OP_SOFTMAX &&
        b->g->nodes[b->current].layer >= 0) {
        const cnnc_node *softmax = &b->g->nodes[b->current];
        cnnc_warning(b->d, softmax->loc, "softmax in '%s' is not the last layer: the layers "
                     "after it do not see class probabilities",
                     b->g->layers[softmax->layer].name);
    }
    int layer = add_layer(b, s, kind);
    int before = b->current;
    int errors_before = b->d->errors;
    switch (kind) {
    case ST_CONV2D: build_conv2d(b, s, layer); break;
    case ST_MAX_POOL2D: build_pool2d(b, s, layer, CNNC_OP_MAX_POOL2D); break;
    case ST_AVG_POOL2D: build_pool2d(b, s, layer, CNNC_OP_AVG_POOL2D); break;
    case ST_DENSE: build_dense(b, s, layer); break;
    case ST_BATCH_NORM: build_batch_norm(b, s, layer); break;
    default:
        if (activation_of(kind) >= 0)
            build_activation(b, s, layer, activation_of(kind));
        else
            build_simple(b, s, layer, kind);
        break;
    }
    if (b->g->layers[layer].output_node < 0 && (before >= 0 || b->d->errors > errors_before))
        b->skipped_layers++;
}

/* ---- outputs, training settings, Grad-CAM --------------------------------------------------- */

/* The spellings of the shared vocabulary (runtime/cnnrt_vocab.h) and their codes. */
#define VOCAB_WORD(id, text, code) text,
#define VOCAB_CODE(id, text, code) code,
#define VOCAB_LOSS_ALIAS_WORD(id, text) text,
#define VOCAB_LOSS_ALIAS_CODE(id, text) CNNRT_LOSS_##id,
static const char *const loss_words[] = {CNNRT_LOSSES(VOCAB_WORD)
                                         CNNRT_LOSS_ALIASES(VOCAB_LOSS_ALIAS_WORD)};
static const cnnrt_loss loss_values[] = {CNNRT_LOSSES(VOCAB_CODE)
                                         CNNRT_LOSS_ALIASES(VOCAB_LOSS_ALIAS_CODE)};
static const char *const optimizer_words[] = {CNNRT_OPTIMIZERS(VOCAB_WORD)};
static const cnnrt_optimizer optimizer_values[] = {CNNRT_OPTIMIZERS(VOCAB_CODE)};
enum { NUM_LOSS_WORDS = sizeof loss_words / sizeof loss_words[0],
       NUM_OPTIMIZERS = sizeof optimizer_words / sizeof optimizer_words[0] };
static const char *const metric_words[] = {"acc", "accuracy", "none"};
/* Every optimizer setting of the compile statement, with Keras's defaults. */
static const char *const optimizer_keys[] = {"beta_1", "beta_2", "epsilon", "momentum", "rho"};

/* "'momentum' has no effect with optimizer=adam (it is a setting of sgd and rmsprop)" for
 * every optimizer key given that the chosen optimizer does not read. */
static void warn_unread_settings(builder *b, cnnc_stmt *s, cnnrt_optimizer chosen)
{
    for (size_t k = 0; k < sizeof optimizer_keys / sizeof optimizer_keys[0]; k++) {
        const char *key = optimizer_keys[k];
        cnnc_arg *a = cnnc_stmt_find(s, key);
        if (!a || cnnc_optimizer_reads(chosen, key))
            continue;
        char readers[128] = "";
        int count = 0;
        for (int o = 0; o < NUM_OPTIMIZERS; o++)
            if (cnnc_optimizer_reads(optimizer_values[o], key)) {
                size_t used = strlen(readers);
                snprintf(readers + used, sizeof readers - used, "%s%s", count++ ? " and " : "",
                         optimizer_words[o]);
            }
        cnnc_warning(b->d, a->key_loc, "'%s' has no effect with optimizer=%s (it is a "
                     "setting of %s)", key, cnnrt_optimizer_name(chosen), readers);
    }
}

static void read_compile(builder *b, cnnc_stmt *s)
{
    cnnc_train_config *t = &b->g->train;
    int loss, optimizer, metric;
    read_choice(b, s, "loss", loss_words, NUM_LOSS_WORDS, 0, &loss);
    t->loss = loss_values[loss];
    int adam = 0;   /* Keras's default */
    while (optimizer_values[adam] != CNNRT_OPT_ADAM)
        adam++;
    read_choice(b, s, "optimizer", optimizer_words, NUM_OPTIMIZERS, adam, &optimizer);
    t->optimizer = optimizer_values[optimizer];
    read_float(b, s, "lr", cnnc_optimizer_def_of(t->optimizer)->default_lr,
               CNNC_LIMIT_LR_ABOVE, CNNC_LIMIT_LR_MAX, 1, 0, &t->lr);
    if (read_choice(b, s, "metrics", metric_words, 3, 2, &metric) == 0)
        t->metrics_accuracy = metric != 2;
    read_float(b, s, "beta_1", 0.9, 0.0, 1.0, 0, 1, &t->beta_1);
    read_float(b, s, "beta_2", 0.999, 0.0, 1.0, 0, 1, &t->beta_2);
    read_float(b, s, "epsilon", 1e-7, 0.0, 1.0, 1, 0, &t->epsilon);
    read_float(b, s, "momentum", 0.0, 0.0, 1.0, 0, 1, &t->momentum);
    read_float(b, s, "rho", 0.9, 0.0, 1.0, 0, 1, &t->rho);
    warn_unread_settings(b, s, t->optimizer);
}

static void read_fit(builder *b, cnnc_stmt *s)
{
    cnnc_train_config *t = &b->g->train;
    int64_t epochs, batch, seed;
    if (read_int(b, s, "epochs", 1, CNNC_LIMIT_EPOCHS_MIN, CNNC_LIMIT_EPOCHS_MAX, &epochs) == 0)
        t->epochs = (int)epochs;
    if (read_int(b, s, "batch_size", 32, CNNC_LIMIT_BATCH_SIZE_MIN, CNNC_LIMIT_BATCH_SIZE_MAX,
                 &batch) == 0)
        t->batch_size = (int)batch;
    read_float(b, s, "validation_split", 0.0, CNNC_LIMIT_VALIDATION_SPLIT_MIN,
               CNNC_LIMIT_VALIDATION_SPLIT_MAX, 0, 0, &t->validation_split);
    if (read_int(b, s, "seed", 42, CNNC_LIMIT_SEED_MIN, CNNC_LIMIT_SEED_MAX, &seed) == 0)
        t->seed = (uint64_t)seed;
}

static void read_gradcam(builder *b, cnnc_stmt *s)
{
    int status;
    const cnnc_arg *a = find_value(s, "layer", &status);
    if (!a)
        return;
    char buf[48];
    int layer = a->value.kind == CNNC_VALUE_IDENT ? cnnc_graph_find_layer(b->g, a->value.text)
                                                   : -1;
    if (layer < 0) {
        cnnc_error(b->d, a->value.loc, "gradcam: there is no layer named '%s'",
                   value_text(a, buf, sizeof buf));
        const char **names = cnnc_xcalloc((size_t)b->g->num_layers + 1, sizeof *names);
        for (int i = 0; i < b->g->num_layers; i++)
            names[i] = b->g->layers[i].name;
        const char *close = cnnc_closest(a->value.text, names, b->g->num_layers);
        if (close)
            cnnc_note(b->d, a->value.loc, "did you mean '%s'?", close);
        free(names);
        return;
    }
    const cnnc_layer *l = &b->g->layers[layer];
    if (l->output_node >= 0 && l->shape.rank != 3) {
        char shape[64];
        cnnc_error(b->d, a->value.loc, "gradcam: layer '%s' has shape %s, but Grad-CAM needs a "
                                       "spatial layer (HxWxC), such as a conv2d or pooling layer",
                   l->name, cnnc_shape_str(l->shape, 0, shape, sizeof shape));
        for (int i = b->g->num_layers - 1; i >= 0; i--)
            if (b->g->layers[i].output_node >= 0 && b->g->layers[i].shape.rank == 3) {
                cnnc_note(b->d, b->g->layers[i].loc, "the last spatial layer is '%s'",
                          b->g->layers[i].name);
                break;
            }
        return;
    }
    free(b->g->gradcam_layer);
    b->g->gradcam_layer = cnnc_xstrdup(l->name);
}

static void set_outputs(builder *b, const cnnc_stmt *compile)
{
    cnnc_graph *g = b->g;
    int last = b->current;
    if (last < 0 || g->num_layers == 0 || b->skipped_layers > 0)
        return;
    const cnnc_layer *final = &g->layers[g->num_layers - 1];
    if (g->nodes[last].shape.rank != 1) {
        char shape[64];
        cnnc_error(b->d, final->loc, "the model's output must be a vector of class scores, but "
                   "the last layer '%s' has shape %s (end with flatten and dense, or "
                   "global_avg_pool2d)", final->name,
                   cnnc_shape_str(g->nodes[last].shape, 0, shape, sizeof shape));
        return;
    }
    int ends_in_softmax = g->nodes[last].op == CNNC_OP_SOFTMAX;
    int logits = ends_in_softmax ? g->nodes[last].inputs[0] : last;
    if (!ends_in_softmax && compile && g->train.loss == CNNRT_LOSS_CATEGORICAL_CROSSENTROPY)
        cnnc_warning(b->d, final->loc, "the model does not end in softmax, but "
                     "categorical_crossentropy expects class probabilities (add 'softmax')");
    g->num_classes = (int)g->nodes[last].shape.dim[0];
    cnnc_graph_add_output(g, CNNC_OUT_PROBS, last, -1);
    cnnc_graph_add_output(g, CNNC_OUT_LOGITS, logits, -1);
}

/* ---- callbacks, schedules, augmentation ------------------------------------------------------- */

/* They change only how `train` runs, not the graph: the program's descriptor carries them as
 * text, one checked statement a line in a canonical form (runtime/cnnrt_text.h), and the
 * runtime reads them again (runtime/callbacks.c, runtime/augment.c). */
static void append_extra(builder *b, const char *fmt, ...) CNNC_PRINTF(2, 3);
static void append_extra(builder *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t have = b->g->fit_extras ? strlen(b->g->fit_extras) : 0, add = strlen(line);
    b->g->fit_extras = cnnc_xrealloc(b->g->fit_extras, have + add + 2);
    memcpy(b->g->fit_extras + have, line, add);
    memcpy(b->g->fit_extras + have + add, "\n", 2);
}

static const char *const monitor_words[] = {"val_loss", "val_acc", "loss", "acc",
                                            "val_accuracy", "accuracy"};
static const char *const monitor_canonical[] = {"val_loss", "val_acc", "loss", "acc",
                                                "val_acc", "acc"};
static const char *const mode_words[] = {"auto", "min", "max"};
static const char *const fill_words[] = {"reflect", "wrap", "constant", "nearest"};
static const char *const interpolation_words[] = {"bilinear", "nearest"};
static const char *const flip_words[] = {"horizontal_and_vertical", "horizontal", "vertical"};

/* monitor= and mode=, Keras's defaults val_loss and auto, as "monitor=M mode=O". */
static int read_monitor(builder *b, cnnc_stmt *s, char *out, size_t size)
{
    int monitor, mode;
    int bad = read_choice(b, s, "monitor", monitor_words, 6, 0, &monitor);
    bad |= read_choice(b, s, "mode", mode_words, 3, 0, &mode);
    snprintf(out, size, "monitor=%s mode=%s", monitor_canonical[monitor], mode_words[mode]);
    return bad;
}

/* fill_mode=, interpolation=, fill_value= of the geometric augmentations. */
static int read_fill(builder *b, cnnc_stmt *s, char *out, size_t size)
{
    int fill, interpolation;
    double value;
    int bad = read_choice(b, s, "fill_mode", fill_words, 4, 0, &fill);
    bad |= read_choice(b, s, "interpolation", interpolation_words, 2, 0, &interpolation);
    bad |= read_float(b, s, "fill_value", 0.0, 0.0, 1.0, 0, 0, &value);
    snprintf(out, size, "fill_mode=%s interpolation=%s fill_value=%.17g", fill_words[fill],
             interpolation_words[interpolation], value);
    return bad;
}

static void read_callback(builder *b, cnnc_stmt *s, stmt_kind kind, const char *keyword)
{
    char monitor[128];
    int bad = read_monitor(b, s, monitor, sizeof monitor);
    int64_t patience, cooldown;
    double min_delta, factor, min_lr;
    int flag;
    switch (kind) {
    case ST_EARLY_STOPPING:
        bad |= read_int(b, s, "patience", 0, 0, 1000000, &patience);
        bad |= read_float(b, s, "min_delta", 0.0, 0.0, HUGE_VAL, 0, 0, &min_delta);
        bad |= read_bool(b, s, "restore_best_weights", 0, &flag);
        if (!bad)
            append_extra(b, "%s %s patience=%lld min_delta=%.17g restore_best_weights=%s",
                         keyword, monitor, (long long)patience, min_delta,
                         flag ? "true" : "false");
        break;
    case ST_MODEL_CHECKPOINT:
        bad |= read_bool(b, s, "save_best_only", 0, &flag);
        if (!bad)
            append_extra(b, "%s %s save_best_only=%s", keyword, monitor,
                         flag ? "true" : "false");
        break;
    default:   /* ST_REDUCE_LR_ON_PLATEAU */
        bad |= read_float(b, s, "factor", 0.1, 0.0, 1.0, 1, 1, &factor);
        bad |= read_int(b, s, "patience", 10, 0, 1000000, &patience);
        bad |= read_float(b, s, "min_delta", 1e-4, 0.0, HUGE_VAL, 0, 0, &min_delta);
        bad |= read_int(b, s, "cooldown", 0, 0, 1000000, &cooldown);
        bad |= read_float(b, s, "min_lr", 0.0, 0.0, CNNC_LIMIT_LR_MAX, 0, 0, &min_lr);
        if (!bad)
            append_extra(b, "%s %s factor=%.17g patience=%lld min_delta=%.17g cooldown=%lld "
                         "min_lr=%.17g", keyword, monitor, factor, (long long)patience,
                         min_delta, (long long)cooldown, min_lr);
        break;
    }
}

static void read_schedule(builder *b, cnnc_stmt *s, stmt_kind kind, const char *keyword)
{
    int64_t steps;
    double rate, alpha;
    int staircase;
    int bad = read_int(b, s, "decay_steps", 1, 1, INT64_MAX, &steps);
    if (kind == ST_EXPONENTIAL_DECAY) {
        bad |= read_float(b, s, "decay_rate", 1.0, 0.0, HUGE_VAL, 1, 0, &rate);
        bad |= read_bool(b, s, "staircase", 0, &staircase);
        if (!bad)
            append_extra(b, "%s decay_steps=%lld decay_rate=%.17g staircase=%s", keyword,
                         (long long)steps, rate, staircase ? "true" : "false");
    } else {
        bad |= read_float(b, s, "alpha", 0.0, 0.0, 1.0, 0, 0, &alpha);
        if (!bad)
            append_extra(b, "%s decay_steps=%lld alpha=%.17g", keyword, (long long)steps,
                         alpha);
    }
}

/* Augmentation transforms the input picture, so it stands between 'input' and the first
 * layer, as Keras's preprocessing layers usually do. */
static void read_augmentation(builder *b, cnnc_stmt *s, stmt_kind kind, const char *keyword,
                              int index)
{
    if (b->input < 0 || index < b->input ||
        (b->first_layer >= 0 && index > b->first_layer)) {
        cnnc_error(b->d, s->loc, "'%s' must come between 'input' and the first layer: "
                   "augmentation changes the input pictures (in training only)", keyword);
        return;
    }
    char fill[256];
    double h, w, factor;
    int mode, bad = 0;
    switch (kind) {
    case ST_RANDOM_FLIP:
        if (!read_choice(b, s, "mode", flip_words, 3, 0, &mode))
            append_extra(b, "%s mode=%s", keyword, flip_words[mode]);
        return;
    case ST_RANDOM_TRANSLATION:
    case ST_RANDOM_ZOOM:
        bad |= read_float(b, s, "height_factor", 0.0, 0.0, 1.0, 0, 0, &h);
        bad |= read_float(b, s, "width_factor", -1.0, 0.0, 1.0, 0, 0, &w);
        bad |= read_fill(b, s, fill, sizeof fill);
        if (bad)
            return;
        if (w < 0)   /* zoom: Keras keeps the aspect ratio */
            append_extra(b, "%s height_factor=%.17g %s", keyword, h, fill);
        else
            append_extra(b, "%s height_factor=%.17g width_factor=%.17g %s", keyword, h, w,
                         fill);
        return;
    case ST_RANDOM_ROTATION:
        bad |= read_float(b, s, "factor", 0.0, 0.0, 1.0, 0, 0, &factor);
        bad |= read_fill(b, s, fill, sizeof fill);
        if (!bad)
            append_extra(b, "%s factor=%.17g %s", keyword, factor, fill);
        return;
    default:   /* contrast, brightness */
        if (!read_float(b, s, "factor", 0.0, 0.0, 1.0, 0, 0, &factor))
            append_extra(b, "%s factor=%.17g", keyword, factor);
        return;
    }
}

static void read_training_extra(builder *b, cnnc_stmt *s, stmt_kind kind, int index)
{
    const char *keyword = specs[kind].keyword;
    if (kind >= ST_RANDOM_FLIP)
        read_augmentation(b, s, kind, keyword, index);
    else if (kind == ST_EXPONENTIAL_DECAY || kind == ST_COSINE_DECAY)
        read_schedule(b, s, kind, keyword);
    else
        read_callback(b, s, kind, keyword);
}

/* ---- the walk ------------------------------------------------------------------------------- */

cnnc_graph *cnnc_build_graph(cnnc_ast *ast, cnnc_diag *d, const char *source_file)
{
    builder b;
    memset(&b, 0, sizeof b);
    b.d = d;
    b.ast = ast;
    b.current = -1;
    b.kinds = cnnc_xcalloc((size_t)ast->num_stmts + 1, sizeof *b.kinds);

    int fit_seen = 0, model_checked = 0;
    if (ast->num_stmts == 0 && ast->num_errors == 0) {
        cnnc_loc start = {1, 1, 0};
        cnnc_error(d, start, "the file has no statements: a model starts with "
                             "'input shape=HxWxC'");
    }
    /* A silent look ahead: generated names and the place of 'input' depend on
     * statements further down. Problems are reported below, in line order. */
    const char *model_name = NULL;
    b.input = b.first_layer = -1;
    for (int k = 0; k < ST_COUNT; k++)
        b.first_of_kind[k] = ast->num_stmts;
    for (int i = 0; i < ast->num_stmts; i++) {
        cnnc_stmt *s = &ast->stmts[i];
        b.kinds[i] = lookup_stmt(s->keyword);
        if (b.kinds[i] >= 0 && b.first_of_kind[b.kinds[i]] > i)
            b.first_of_kind[b.kinds[i]] = i;
        if (b.kinds[i] == ST_INPUT && b.input < 0)
            b.input = i;
        if (b.kinds[i] >= 0 && is_layer((stmt_kind)b.kinds[i]) && b.first_layer < 0)
            b.first_layer = i;
        if (b.kinds[i] == ST_MODEL && !model_name) {
            cnnc_arg *name = s->num_args > 0 && !s->args[0].key ? &s->args[0]
                                                                 : cnnc_stmt_find(s, "name");
            if (name && name->value.kind == CNNC_VALUE_IDENT)
                model_name = name->value.text;
        }
    }
    collect_explicit_names(&b);
    b.g = cnnc_graph_new(model_name ? model_name : "sequential");   /* Keras's default */
    b.g->source_file = source_file ? cnnc_xstrdup(source_file) : NULL;

    cnnc_stmt *compile = NULL;
    int gradcam = -1;
    for (int i = 0; i < ast->num_stmts && d->errors < CNNC_ERROR_LIMIT; i++) {
        cnnc_stmt *s = &ast->stmts[i];
        cnnc_ast_report_errors(ast, d, s->loc.line);
        int kind = b.kinds[i];
        if (kind < 0) {
            check_keyword(&b, s);
            continue;
        }
        check_keys(&b, s, (stmt_kind)kind);
        check_place(&b, i);
        if (is_layer((stmt_kind)kind)) {
            check_explicit_name(&b, i);
            build_layer(&b, s, (stmt_kind)kind);
        } else if (kind == ST_INPUT && i == b.input) {
            build_input(&b, s);
        } else if (kind == ST_COMPILE && !compile) {
            compile = s;
            read_compile(&b, s);
        } else if (kind == ST_FIT && (fit_seen++ == 0)) {
            read_fit(&b, s);
        } else if (kind == ST_MODEL && !model_checked++) {
            check_model_name(&b, s);
        } else if (kind == ST_GRADCAM && gradcam < 0) {
            gradcam = i;   /* checked once every layer exists */
        } else if (kind >= ST_EARLY_STOPPING && b.first_of_kind[kind] == i) {
            read_training_extra(&b, s, (stmt_kind)kind, i);
        }
    }
    cnnc_ast_report_errors(ast, d, INT_MAX);
    if (b.input >= 0 && b.first_layer < 0 && ast->num_errors == 0)
        cnnc_error(d, ast->stmts[b.input].loc, "the model has no layers after 'input'");
    if (d->errors < CNNC_ERROR_LIMIT)
        set_outputs(&b, compile);
    if (gradcam >= 0 && d->errors < CNNC_ERROR_LIMIT)
        read_gradcam(&b, &ast->stmts[gradcam]);
    if (b.first_of_kind[ST_REDUCE_LR_ON_PLATEAU] < ast->num_stmts) {
        int schedule = b.first_of_kind[ST_EXPONENTIAL_DECAY] < ast->num_stmts
                           ? b.first_of_kind[ST_EXPONENTIAL_DECAY]
                           : b.first_of_kind[ST_COSINE_DECAY];
        if (schedule < ast->num_stmts)
            cnnc_error(d, ast->stmts[b.first_of_kind[ST_REDUCE_LR_ON_PLATEAU]].loc,
                       "reduce_lr_on_plateau cannot change the rate of a learning-rate "
                       "schedule (Keras refuses it too): use one of them");
    }
    if (b.first_of_kind[ST_EXPONENTIAL_DECAY] < ast->num_stmts &&
        b.first_of_kind[ST_COSINE_DECAY] < ast->num_stmts)
        cnnc_error(d, ast->stmts[b.first_of_kind[ST_COSINE_DECAY]].loc,
                   "a model has one learning-rate schedule: exponential_decay is given too");
    if (b.first_of_kind[ST_MODEL] < ast->num_stmts && d->errors == 0)
        read_labels(&b, &ast->stmts[b.first_of_kind[ST_MODEL]]);
    free(b.kinds);
    free(b.names);
    if (d->errors > 0) {
        cnnc_graph_free(b.g);
        return NULL;
    }
    return b.g;
}

/* A NUL byte means a binary file: one clear message instead of fifty about its lines. */
static int reject_binary(const char *source, size_t len, cnnc_diag *d)
{
    const char *nul = memchr(source, '\0', len);
    if (!nul)
        return 0;
    cnnc_loc loc = {1, 1, 1};
    const char *line = source;
    for (const char *p = source; p < nul; p++)
        if (*p == '\n' || (*p == '\r' && p[1] != '\n')) {   /* LF, CRLF, CR: as the scanner */
            loc.line++;
            line = p + 1;
        }
    for (const char *p = line; p < nul;) {
        uint32_t cp;
        p += cnnc_utf8_next(p, (size_t)(nul - p), &cp);
        loc.col++;
    }
    cnnc_error(d, loc, "NUL byte: this looks like a binary file, not a model file");
    return 1;
}

cnnc_graph *cnnc_compile_source(const char *source, size_t len, const char *file_name,
                                cnnc_diag *d)
{
    d->file = file_name;
    d->source = source;
    d->source_len = len;
    if (reject_binary(source, len, d))
        return NULL;
    cnnc_ast *ast = cnnc_parse(source, len);
    if (!ast) {
        cnnc_loc none = {0, 0, 0};
        cnnc_error(d, none, "out of memory while parsing");
        return NULL;
    }
    cnnc_graph *g = cnnc_build_graph(ast, d, file_name);
    cnnc_ast_free(ast);
    return g;
}

char *cnnc_read_source(const char *path, size_t *len, cnnc_diag *d)
{
    cnnc_loc none = {0, 0, 0};
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        cnnc_error(d, none, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (!is_stdin && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        cnnc_error(d, none, "'%s' is a directory, not a model file", path);
        fclose(f);
        return NULL;
    }
    /* Read at most one byte more than allowed: that is how "too large" is detected,
     * whatever kind of file (a pipe, /dev/zero) this is. */
    char *text = cnnc_xcalloc(CNNC_MAX_SOURCE_BYTES + 2, 1);
    size_t n = fread(text, 1, CNNC_MAX_SOURCE_BYTES + 1, f);
    int failed = ferror(f);
    if (!is_stdin)
        fclose(f);
    if (failed) {
        cnnc_error(d, none, "cannot read '%s'", path);
        free(text);
        return NULL;
    }
    if (n > CNNC_MAX_SOURCE_BYTES) {
        cnnc_error(d, none, "'%s' is larger than %d bytes: that is not a model file", path,
                   CNNC_MAX_SOURCE_BYTES);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

cnnc_graph *cnnc_compile_file(const char *path, cnnc_diag *d)
{
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    d->file = name;
    size_t len = 0;
    char *text = cnnc_read_source(path, &len, d);
    if (!text)
        return NULL;
    cnnc_graph *g = cnnc_compile_source(text, len, name, d);
    d->source = NULL;
    d->source_len = 0;
    free(text);
    return g;
}
