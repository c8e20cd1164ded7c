/* The command-line program of a compiled model: command dispatch, the top-level --help,
 * option parsing, and what the commands share (finding data and weights, threads,
 * batched inference). The commands themselves are in cmd_*.c. */
#include "cnnrt_program.h"
#include "program_util.h"
#include "mpi_ranks.h"
#include "cnnrt_progress.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- messages ------------------------------------------------------------------------ */

/* "<speaker>[ <cmd>]: <kind>: <message><hint>\n" on stderr, in one write, so that the
 * messages of several processes under mpirun never cut into each other's lines. cmd may
 * be NULL; hint is "" or a hint to append. */
static void print_message(const prog_ctx *ctx, const char *cmd, const char *kind,
                          const char *hint, const char *fmt, va_list ap)
{
    char text[16384];   /* room for a few paths */
    vsnprintf(text, sizeof text, fmt, ap);
    fflush(stdout);   /* keep the order of output and messages */
    if (cmd)
        fprintf(stderr, "%s %s: %s: %s%s\n", ctx->speaker, cmd, kind, text, hint);
    else
        fprintf(stderr, "%s: %s: %s%s\n", ctx->speaker, kind, text, hint);
}

int cnnrt_prog_error(const prog_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_message(ctx, NULL, "error", "", fmt, ap);
    va_end(ap);
    return PROG_ERROR;
}

int cnnrt_prog_usage_error(const prog_ctx *ctx, const char *cmd, const char *fmt, ...)
{
    char hint[1024];
    snprintf(hint, sizeof hint, " (see '%s %s --help')", ctx->prog, cmd);
    va_list ap;
    va_start(ap, fmt);
    print_message(ctx, cmd, "error", hint, fmt, ap);
    va_end(ap);
    return PROG_USAGE;
}

void cnnrt_prog_warning(const prog_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_message(ctx, NULL, "warning", "", fmt, ap);
    va_end(ap);
}

/* ---- options ------------------------------------------------------------------------- */

void cnnrt_prog_print_help(const prog_ctx *ctx, const prog_command *cmd, FILE *out)
{
    fprintf(out, "Usage: %s %s %s\n\n%s\n", ctx->prog, cmd->name, cmd->usage, cmd->summary);
    if (cmd->details)
        fprintf(out, "\n%s\n", cmd->details);
    if (cmd->num_options > 0)
        fprintf(out, "\nOptions:\n");
    for (int i = 0; i < cmd->num_options; i++) {
        const prog_option *o = &cmd->options[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(out, "  %-24s %s\n", left, o->help);
    }
    fprintf(out, "  %-24s %s\n", "--help", "show this help");
    if (cmd->example)
        fprintf(out, "\nExample:\n  %s %s\n", ctx->prog, cmd->example);
}

static const prog_option *find_option(const prog_command *cmd, const char *name, size_t len)
{
    for (int i = 0; i < cmd->num_options; i++)
        if (strlen(cmd->options[i].name) == len && !strncmp(cmd->options[i].name, name, len))
            return &cmd->options[i];
    return NULL;
}

/* Stores text as the option's value after checking it; prints the error itself. */
static int set_option(const prog_ctx *ctx, const prog_command *cmd, const prog_option *o,
                      const char *text)
{
    char *end;
    errno = 0;
    if (o->kind == OPT_STRING) {
        if (!*text)
            return cnnrt_prog_usage_error(ctx, cmd->name, "--%s needs a non-empty %s", o->name,
                                    o->arg), -1;
        *(const char **)o->value = text;
    } else if (o->kind == OPT_INT) {
        long long v = strtoll(text, &end, 10);
        if (errno || end == text || *end)
            return cnnrt_prog_usage_error(ctx, cmd->name, "--%s expects a whole number, not '%s'",
                                    o->name, text), -1;
        /* Worded as the compiler words a model file's value out of range (cnnrt_limits.h). */
        if ((double)v < o->min)
            return cnnrt_prog_usage_error(ctx, cmd->name, "--%s must be at least %.0f, found %lld",
                                    o->name, o->min, v), -1;
        if ((double)v > o->max)
            return cnnrt_prog_usage_error(ctx, cmd->name, "--%s must be at most %.0f, found %lld",
                                    o->name, o->max, v), -1;
        *(int64_t *)o->value = (int64_t)v;
    } else {
        double v = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(v))
            return cnnrt_prog_usage_error(ctx, cmd->name, "--%s expects a number, not '%s'", o->name,
                                    text), -1;
        int above = o->kind == OPT_DOUBLE_ABOVE_MIN;
        if (v < o->min || (above && v == o->min) || v > o->max)
            return cnnrt_prog_usage_error(ctx, cmd->name, "--%s must be in %s%g, %g], found %s",
                                    o->name, above ? "(" : "[", o->min, o->max, text), -1;
        *(double *)o->value = v;
    }
    return 0;
}

int cnnrt_prog_parse(const prog_ctx *ctx, const prog_command *cmd, int argc, char **argv,
               char **positional, int *num_positional)
{
    *num_positional = 0;
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || !strcmp(arg, "-")) {
            if (cmd->max_positional >= 0 && *num_positional >= cmd->max_positional) {
                cnnrt_prog_usage_error(ctx, cmd->name, cmd->max_positional == 0
                                     ? "unexpected argument '%s'"
                                     : "too many arguments ('%s')", arg);
                return -1;
            }
            positional[(*num_positional)++] = argv[i];
            continue;
        }
        if (!strcmp(arg, "--")) {
            only_positional = 1;
            continue;
        }
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            cnnrt_prog_print_help(ctx, cmd, stdout);
            return 1;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const prog_option *o = arg[1] == '-' ? find_option(cmd, name, len) : NULL;
        if (!o) {
            cnnrt_prog_usage_error(ctx, cmd->name, "unknown option '%s'", arg);
            return -1;
        }
        if (o->given)
            *o->given = 1;
        if (o->kind == OPT_FLAG) {
            if (eq) {
                cnnrt_prog_usage_error(ctx, cmd->name, "--%s takes no value", o->name);
                return -1;
            }
            *(int *)o->value = 1;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            cnnrt_prog_usage_error(ctx, cmd->name, "--%s needs a value (%s)", o->name, o->arg);
            return -1;
        }
        if (set_option(ctx, cmd, o, value))
            return -1;
    }
    return 0;
}

int cnnrt_prog_parse_options(const prog_ctx *ctx, const prog_command *cmd, int argc, char **argv,
                       int *stop)
{
    char *positional[1];   /* max_positional 0: never written */
    int npos;
    int r = cnnrt_prog_parse(ctx, cmd, argc, argv, positional, &npos);
    *stop = r != 0;
    return r < 0 ? PROG_USAGE : PROG_OK;
}

/* ---- data ---------------------------------------------------------------------------- */

static int dir_has_split(const char *dir, cnnrt_split split)
{
    char path[4096];
    const char *images = split == CNNRT_SPLIT_TRAIN ? CNNRT_TRAIN_IMAGES : CNNRT_TEST_IMAGES;
    return cnnrt_dataset_find_file(dir, images, path, sizeof path, NULL) == 0;
}

/* <directory of the running executable>/data/mnist, or "" when unknown. */
static void exe_data_dir(char *out, size_t size)
{
    char exe[PATH_MAX];
    out[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0';
    if (snprintf(out, size, "%s/data/mnist", exe) >= (int)size)
        out[0] = '\0';   /* too long to be useful */
}

int cnnrt_prog_find_data_dir(const prog_ctx *ctx, const char *given, cnnrt_split split, char *dir,
                       size_t dir_size, cnnrt_err *e)
{
    (void)ctx;
    const char *what = split == CNNRT_SPLIT_TRAIN ? "training" : "test";
    if (given) {
        struct stat st;
        if (stat(given, &st) != 0 || !S_ISDIR(st.st_mode))
            return cnnrt_fail(e, "%s: no such data directory", given);
        snprintf(dir, dir_size, "%s", given);
        return 0;
    }
    enum { NUM_CANDIDATES = 4 };
    char candidates[NUM_CANDIDATES][4096];
    const char *env = getenv("CNNC_DATA");
    snprintf(candidates[0], sizeof candidates[0], "%s", env && *env ? env : "");
    snprintf(candidates[1], sizeof candidates[1], "data/mnist");
    exe_data_dir(candidates[2], sizeof candidates[2]);
#ifdef CNNC_DEFAULT_DATA_DIR   /* the source tree's data, when the build defines it */
    snprintf(candidates[3], sizeof candidates[3], "%s", CNNC_DEFAULT_DATA_DIR);
#else
    candidates[3][0] = '\0';
#endif
    char tried[4096] = "";
    for (int i = 0; i < NUM_CANDIDATES; i++) {
        if (!candidates[i][0])
            continue;
        if (dir_has_split(candidates[i], split)) {
            snprintf(dir, dir_size, "%s", candidates[i]);
            return 0;
        }
        size_t used = strlen(tried);
        if (snprintf(tried + used, sizeof tried - used, "%s%s%s", used ? ", " : "",
                     candidates[i], i == 0 ? " ($CNNC_DATA)" : "") < 0)
            break;
    }
    return cnnrt_fail(e, "no %s data found: looked for %s[.gz] in %s; pass --data DIR or set "
                      "CNNC_DATA to a directory with the MNIST IDX files", what,
                      split == CNNRT_SPLIT_TRAIN ? CNNRT_TRAIN_IMAGES : CNNRT_TEST_IMAGES,
                      tried);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The picture folder a split reads: DIR/train or DIR/test when DIR holds those halves (a
 * train/ folder that itself holds class folders), else DIR itself. */
static int picture_folder_of(const char *dir, cnnrt_split split, char *folder, size_t size,
                             cnnrt_err *e)
{
    char train[4200], test[4200];
    snprintf(train, sizeof train, "%s/train", dir);
    snprintf(test, sizeof test, "%s/test", dir);
    if (!(is_dir(train) && cnnrt_folder_has_classes(train))) {
        snprintf(folder, size, "%s", dir);
        return 0;
    }
    if (split == CNNRT_SPLIT_TEST && !is_dir(test))
        return cnnrt_fail(e, "%s: has a train/ folder but no test/ folder to evaluate on", dir);
    snprintf(folder, size, "%s", split == CNNRT_SPLIT_TRAIN ? train : test);
    return 0;
}

static int load_picture_folder(const prog_ctx *ctx, const char *dir, cnnrt_split split,
                               const prog_data_options *o, cnnrt_dataset *ds, cnnrt_err *e)
{
    const cnnrt_model *m = ctx->model;
    char folder[4200];
    if (picture_folder_of(dir, split, folder, sizeof folder, e))
        return -1;
    cnnrt_folder_options fo = {
        .h = m->input_h, .w = m->input_w, .c = m->input_c, .num_classes = m->num_classes,
        .threads = o->threads, .skip_bad = o->skip_bad,
        /* Folders have no natural order: training data is shuffled before validation_split
         * takes its last part, as image_dataset_from_directory(seed=...) does. */
        .shuffle = split == CNNRT_SPLIT_TRAIN, .seed = o->seed,
        .progress = o->quiet ? NULL : stderr, .notes = stderr};
    double start = cnnrt_now_seconds();
    int64_t skipped = 0;
    fflush(stdout);
    if (cnnrt_folder_load(folder, &fo, ds, &skipped, e))
        return -1;
    if (o->report)
        fprintf(o->report, "Found %lld pictures of %lld classes in %s (read in %.1f s%s)\n",
                (long long)ds->count, (long long)ds->num_class_names, folder,
                cnnrt_now_seconds() - start, skipped ? ", unreadable ones skipped" : "");
    return 0;
}

int cnnrt_prog_load_data(const prog_ctx *ctx, const char *given, cnnrt_split split,
                   const prog_data_options *o, cnnrt_dataset *ds, cnnrt_err *e)
{
    memset(ds, 0, sizeof *ds);
    char dir[4096];
    if (cnnrt_prog_find_data_dir(ctx, given, split, dir, sizeof dir, e))
        return -1;
    const cnnrt_model *m = ctx->model;
    if (dir_has_split(dir, split)) {
        if (cnnrt_dataset_load_dir(dir, split, m->input_h, m->input_w, m->input_c,
                                   m->num_classes, ds, e))
            return -1;
        /* IDX files carry no names: classes.txt beside them, else the model file's labels=. */
        if (!ds->class_names && ctx->info.class_names) {
            ds->class_names = cnnrt_xcalloc((size_t)m->num_classes, sizeof *ds->class_names);
            for (int64_t k = 0; k < m->num_classes; k++)
                ds->class_names[k] = strdup(ctx->info.class_names[k]);
            ds->num_class_names = m->num_classes;
        }
        return 0;
    }
    if (cnnrt_folder_has_classes(dir))
        return load_picture_folder(ctx, dir, split, o, ds, e);
    return cnnrt_fail(e, "%s: no data in it: neither MNIST-style IDX files (%s[.gz]) nor "
                         "class folders (one subfolder of pictures per class)", dir,
                      split == CNNRT_SPLIT_TRAIN ? CNNRT_TRAIN_IMAGES : CNNRT_TEST_IMAGES);
}

void cnnrt_prog_data_options_default(const prog_ctx *ctx, prog_data_options *o)
{
    memset(o, 0, sizeof *o);
    o->seed = ctx->info.seed;
    o->report = stdout;
}

int cnnrt_prog_load_dataset(const prog_ctx *ctx, const char *given, cnnrt_split split,
                      cnnrt_dataset *ds, cnnrt_err *e)
{
    prog_data_options o;
    cnnrt_prog_data_options_default(ctx, &o);
    return cnnrt_prog_load_data(ctx, given, split, &o, ds, e);
}

/* ---- weights --------------------------------------------------------------------------- */

void cnnrt_prog_default_weights_path(const prog_ctx *ctx, char *path, size_t size)
{
    snprintf(path, size, "%s.weights", ctx->model->name);
}

void cnnrt_prog_beside_weights(const char *weights, const char *suffix, char *out, size_t size)
{
    size_t len = strlen(weights), ext = strlen(".weights");
    if (len > ext && !strcmp(weights + len - ext, ".weights"))
        len -= ext;
    snprintf(out, size, "%.*s%s", (int)len, weights, suffix);
}

void cnnrt_prog_weights_expect(const prog_ctx *ctx, cnnrt_weights_expect *expect)
{
    memset(expect, 0, sizeof *expect);
    expect->fingerprint = ctx->model->fingerprint;
    expect->model_name = ctx->model->name;
    expect->tensors = ctx->info.params;
    expect->num_tensors = ctx->info.num_params;
    expect->param_floats = ctx->model->param_floats;
    expect->opt_kind = ctx->info.optimizer;
    expect->opt_state_floats = ctx->model->opt_state_floats;
}

int cnnrt_prog_load_inference_weights(const prog_ctx *ctx, const char *path, float *params,
                                int *found, char *used_path, size_t used_size, cnnrt_err *e)
{
    char default_path[4096];
    *found = 0;
    if (!path) {
        cnnrt_prog_default_weights_path(ctx, default_path, sizeof default_path);
        if (access(default_path, F_OK) != 0)
            return 0;
        path = default_path;
    }
    cnnrt_weights_expect expect;
    cnnrt_prog_weights_expect(ctx, &expect);
    cnnrt_weights w;
    if (cnnrt_weights_load(path, &expect, &w, e))
        return -1;
    memcpy(params, w.params, (size_t)ctx->model->param_floats * sizeof *params);
    cnnrt_weights_free(&w);
    snprintf(used_path, used_size, "%s", path);
    *found = 1;
    return 0;
}

/* ---- class names ------------------------------------------------------------------------ */

void cnnrt_prog_classes_beside_weights(const prog_ctx *ctx, const char *weights_path,
                                 prog_classes *classes)
{
    memset(classes, 0, sizeof *classes);
    if (ctx->info.class_names) {   /* the model file's labels= */
        classes->names = ctx->info.class_names;
        classes->count = ctx->info.num_class_names;
        return;
    }
    char weights[4096], path[4200];
    if (weights_path)
        snprintf(weights, sizeof weights, "%s", weights_path);
    else
        cnnrt_prog_default_weights_path(ctx, weights, sizeof weights);
    cnnrt_prog_beside_weights(weights, ".classes.txt", path, sizeof path);
    if (access(path, F_OK) != 0)
        return;
    cnnrt_err e;
    char **names;
    int64_t count;
    if (cnnrt_class_names_read(path, &names, &count, &e)) {
        cnnrt_prog_warning(ctx, "%s; showing class numbers", e.msg);
        return;
    }
    if (count != ctx->model->num_classes) {
        cnnrt_prog_warning(ctx, "%s: %lld names for %lld classes; showing class numbers", path,
                     (long long)count, (long long)ctx->model->num_classes);
        cnnrt_class_names_free(names, count);
        return;
    }
    classes->names = names;
    classes->count = count;
    classes->owned = 1;
}

void cnnrt_prog_classes_for_dataset(const prog_ctx *ctx, const cnnrt_dataset *ds,
                              const char *weights_path, prog_classes *classes)
{
    memset(classes, 0, sizeof *classes);
    if (ds && ds->class_names && ds->num_class_names == ctx->model->num_classes) {
        classes->names = ds->class_names;
        classes->count = ds->num_class_names;
        return;
    }
    cnnrt_prog_classes_beside_weights(ctx, weights_path, classes);
}

const char *cnnrt_prog_class_name(const prog_classes *classes, int64_t k, char *buf, size_t size)
{
    if (classes && classes->names && k >= 0 && k < classes->count)
        return classes->names[k];
    snprintf(buf, size, "%lld", (long long)k);
    return buf;
}

void cnnrt_prog_classes_free(prog_classes *classes)
{
    if (classes->owned)
        cnnrt_class_names_free(classes->names, classes->count);
    memset(classes, 0, sizeof *classes);
}

int cnnrt_prog_outputs_probabilities(const prog_ctx *ctx)
{
    /* The descriptor does not say which activation a layer is (softmax, relu and the others
     * are all Keras's "Activation"); cross-entropy is only ever compiled on a softmax
     * output, so the loss tells. A softmax model trained with mse counts as scores. */
    return ctx->info.loss == CNNRT_LOSS_CATEGORICAL_CROSSENTROPY;
}

/* ---- execution ------------------------------------------------------------------------- */

int cnnrt_prog_exec_init(const prog_ctx *ctx, int threads, prog_exec *ex, cnnrt_err *e)
{
    memset(ex, 0, sizeof *ex);
    if (threads == 0)
        threads = cnnrt_mpi_default_threads();   /* under mpirun: the ranks share the CPUs */
    ex->pool = cnnrt_pool_create(threads, e);
    if (!ex->pool)
        return -1;
    int64_t t = cnnrt_pool_threads(ex->pool);
    int64_t floats = t * ctx->model->ws_floats_per_thread;
    ex->ws = cnnrt_aligned_alloc((size_t)(floats > 0 ? floats : 1) * sizeof(float));
    return 0;
}

void cnnrt_prog_exec_free(prog_exec *ex)
{
    cnnrt_pool_destroy(ex->pool);
    free(ex->ws);
    ex->pool = NULL;
    ex->ws = NULL;
}

enum { INFER_CHUNK = 256 };

void cnnrt_prog_infer_dataset(const prog_ctx *ctx, const prog_exec *ex, const float *params,
                        const cnnrt_dataset *ds, int64_t first, int64_t count, float *probs,
                        float *logits)
{
    const cnnrt_model *m = ctx->model;
    int64_t image_floats = m->input_h * m->input_w * m->input_c;
    float *x = cnnrt_aligned_alloc((size_t)(INFER_CHUNK * image_floats) * sizeof *x);
    for (int64_t done = 0; done < count; done += INFER_CHUNK) {
        int64_t n = count - done < INFER_CHUNK ? count - done : INFER_CHUNK;
        cnnrt_dataset_to_float(ds, first + done, n, x);
        m->infer(params, x, n, probs + done * m->num_classes,
                 logits ? logits + done * m->num_classes : NULL, ex->ws, ex->pool);
    }
    free(x);
}

double cnnrt_prog_loss_of(const prog_ctx *ctx, const float *probs, const float *logits, int label)
{
    return cnnrt_loss_of(&ctx->model->train, probs, logits, ctx->model->num_classes, label);
}

int cnnrt_prog_argmax(const float *v, int64_t n)
{
    int best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = (int)i;
    return best;
}

/* ---- summary ---------------------------------------------------------------------------- */

void cnnrt_prog_format_thousands(int64_t v, char *buf, size_t size)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)v);
    size_t len = strlen(digits), o = 0;
    for (size_t i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

static void keras_shape(const cnnrt_layer_entry *l, char *buf, size_t size)
{
    size_t o = (size_t)snprintf(buf, size, "(None");
    for (int i = 0; i < l->rank && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, ", %lld", (long long)l->dims[i]);
    if (o < size)
        snprintf(buf + o, size - o, ")");
}

static const prog_command summary_command = {
    "summary", "", "Prints the model's layers as Keras's model.summary() does: each layer's "
    "name, type,\noutput shape and number of trainable parameters.",
    NULL, "summary", NULL, 0, 0};

int cnnrt_prog_cmd_summary(const prog_ctx *ctx, int argc, char **argv)
{
    int stop, parsed = cnnrt_prog_parse_options(ctx, &summary_command, argc, argv, &stop);
    if (stop)
        return parsed;
    const cnnrt_model_info *info = &ctx->info;
    /* Columns as wide as Keras's (28, 26) or wider when a name needs it. */
    int name_width = 28, shape_width = 26;
    for (int i = 0; i < info->num_layers; i++) {
        char shape[96];
        keras_shape(&info->layers[i], shape, sizeof shape);
        int w = (int)(strlen(info->layers[i].name) + strlen(info->layers[i].type) + 4);
        name_width = w > name_width ? w : name_width;
        shape_width = (int)strlen(shape) + 2 > shape_width ? (int)strlen(shape) + 2 : shape_width;
    }
    int width = 1 + name_width + shape_width + 10;
    char rule[512], double_rule[512];
    memset(rule, '_', (size_t)width);
    memset(double_rule, '=', (size_t)width);
    rule[width] = double_rule[width] = '\0';
    printf("Model: \"%s\"\n%s\n", ctx->model->name, rule);
    printf(" %-*s%-*sParam #\n%s\n", name_width, "Layer (type)", shape_width, "Output Shape",
           double_rule);
    int64_t total = 0, flops = 0;
    int shown = 0;
    for (int i = 0; i < info->num_layers; i++) {
        const cnnrt_layer_entry *l = &info->layers[i];
        total += l->params;
        flops += l->flops;
        if (!strcmp(l->type, "InputLayer"))
            continue;   /* Keras's Sequential summary does not list the input */
        char left[300], shape[96], count[32];
        snprintf(left, sizeof left, "%s (%s)", l->name, l->type);
        keras_shape(l, shape, sizeof shape);
        cnnrt_prog_format_thousands(l->params, count, sizeof count);
        if (shown++)
            printf("\n");
        printf(" %-*s%-*s%s\n", name_width, left, shape_width, shape, count);
    }
    /* Keras's non-trainable weights: BatchNormalization's moving statistics, which the
     * compiler names as Keras does (NAME/moving_mean, NAME/moving_variance). */
    int64_t frozen = 0;
    for (int i = 0; i < info->num_params; i++) {
        const char *slash = strrchr(info->params[i].name, '/');
        if (slash && (!strcmp(slash, "/moving_mean") || !strcmp(slash, "/moving_variance")))
            frozen += info->params[i].size;
    }
    char total_text[32], trainable_text[32], frozen_text[32];
    cnnrt_prog_format_thousands(total, total_text, sizeof total_text);
    cnnrt_prog_format_thousands(total - frozen, trainable_text, sizeof trainable_text);
    cnnrt_prog_format_thousands(frozen, frozen_text, sizeof frozen_text);
    printf("%s\n", double_rule);
    printf("Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n", total_text,
           trainable_text, frozen_text);
    printf("%s\n", rule);
    if (flops >= 100000)
        printf("Forward pass: %.2f MFLOP per image (multiply-add = 2)\n", (double)flops / 1e6);
    else
        printf("Forward pass: %lld FLOP per image (multiply-add = 2)\n", (long long)flops);
    if (info->source[0])
        printf("Compiled from %s\n", info->source);
    return PROG_OK;
}

/* ---- dispatch --------------------------------------------------------------------------- */

typedef struct command_entry {
    const char *name;
    int (*run)(const prog_ctx *ctx, int argc, char **argv);
    const char *summary;
} command_entry;

static const command_entry commands[] = {
    {"summary", cnnrt_prog_cmd_summary, "print the layers, output shapes and parameter counts"},
    {"train", cnnrt_prog_cmd_train, "train on the data set with a progress bar; saves weights"},
    {"evaluate", cnnrt_prog_cmd_evaluate, "test accuracy, loss and confusion matrix on the test set"},
    {"predict", cnnrt_prog_cmd_predict, "classify PNG images or test images"},
    {"gradcam", cnnrt_prog_cmd_gradcam, "draw which parts of an image the model looked at"},
    {"report", cnnrt_prog_cmd_report, "write one HTML page: curves, test results, Grad-CAM gallery"},
    {"export", cnnrt_prog_cmd_export, "write the trained model as ONNX or TensorFlow.js"},
    {"web", cnnrt_prog_cmd_web, "write the draw-a-digit web page (runs cnnc --web)"},
};
enum { NUM_COMMANDS = sizeof commands / sizeof commands[0] };

static void print_top_help(const prog_ctx *ctx, FILE *out)
{
    fprintf(out, "Usage: %s COMMAND [OPTIONS]\n\n", ctx->prog);
    fprintf(out, "The convolutional network '%s'%s%s, compiled by cnnc.\n\nCommands:\n",
            ctx->model->name, ctx->info.source[0] ? " from " : "", ctx->info.source);
    for (int i = 0; i < NUM_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'%s COMMAND --help' shows a command's options.\n\n", ctx->prog);
    fprintf(out, "Example (train, then see what the network looks at in test image 1):\n"
                 "  %s train\n  %s gradcam --index 1 --out gradcam.png\n", ctx->prog,
            ctx->prog);
}

/* Under mpirun (mpi_ranks.h): the commands that split their work over the ranks. The
 * others run on rank 0 alone. */
static int runs_on_every_rank(const char *command)
{
    return !strcmp(command, "train") || !strcmp(command, "evaluate") ||
           !strcmp(command, "gradcam");
}

static int run_program(prog_ctx *ctx, int argc, char **argv);

int cnnrt_program_main(const cnnrt_model *model, int argc, char **argv)
{
    prog_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.model = model;
    ctx.prog = argc > 0 && argv[0] && argv[0][0] ? argv[0] : "program";
    ctx.speaker = ctx.prog;
    cnnrt_err e;
    if (cnnrt_mpi_start(NULL, NULL, &e)) {
        fprintf(stderr, "%s: error: %s\n", ctx.speaker, e.msg);
        return PROG_ERROR;
    }
    char ranked_name[600];
    if (cnnrt_mpi_rank() > 0) {   /* its messages say which rank speaks */
        snprintf(ranked_name, sizeof ranked_name, "%s (rank %d)", ctx.prog, cnnrt_mpi_rank());
        ctx.speaker = ranked_name;
    }
    int status = PROG_OK;
    if (cnnrt_mpi_size() == 1 || (argc >= 2 && runs_on_every_rank(argv[1])))
        status = run_program(&ctx, argc, argv);
    else if (cnnrt_mpi_rank() == 0)
        status = run_program(&ctx, argc, argv);
    cnnrt_mpi_finish(status);
    return status;
}

static int run_program(prog_ctx *ctx_, int argc, char **argv)
{
    prog_ctx ctx = *ctx_;
    const cnnrt_model *model = ctx.model;
    cnnrt_err e;
    if (cnnrt_model_info_load(model, &ctx.info, &e)) {
        fprintf(stderr, "%s: error: %s\n", ctx.speaker, e.msg);
        return PROG_ERROR;
    }
    int status;
    if (argc < 2) {
        print_top_help(&ctx, stderr);
        status = PROG_USAGE;
    } else if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
               !strcmp(argv[1], "help")) {
        print_top_help(&ctx, stdout);
        status = PROG_OK;
    } else {
        status = -1;
        for (int i = 0; i < NUM_COMMANDS; i++)
            if (!strcmp(argv[1], commands[i].name))
                status = commands[i].run(&ctx, argc - 1, argv + 1);
        if (status == -1) {
            fprintf(stderr, "%s: error: unknown command '%s'; commands are:", ctx.speaker,
                    argv[1]);
            for (int i = 0; i < NUM_COMMANDS; i++)
                fprintf(stderr, " %s", commands[i].name);
            fprintf(stderr, " (see '%s --help')\n", ctx.prog);
            status = PROG_USAGE;
        }
    }
    fflush(stdout);
    cnnrt_model_info_free(&ctx.info);
    return status;
}
