/* `PROG predict` (classify PNG files or test images) and `PROG evaluate` (test accuracy,
 * loss and the confusion matrix). */
#include "program_util.h"
#include "mpi_ranks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cnnrt_image.h"

/* ---- shared: loading an image the way a beginner's picture needs ------------------------ */

int cnnrt_prog_parse_prepare(const char *text, prog_prepare *prepare)
{
    static const char *const names[] = {"auto", "digit", "resize"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(text, names[i])) {
            *prepare = (prog_prepare)i;
            return 0;
        }
    return -1;
}

int cnnrt_prog_picture_to_input(const prog_ctx *ctx, const char *path, prog_prepare prepare,
                          float *x, int *inverted, cnnrt_image *shown, cnnrt_err *e)
{
    const cnnrt_model *m = ctx->model;
    cnnrt_prepare how = prepare == PROG_PREPARE_DIGIT    ? CNNRT_PREPARE_DIGIT
                        : prepare == PROG_PREPARE_RESIZE ? CNNRT_PREPARE_RESIZE
                                                         : (cnnrt_prepare)ctx->info.prepare;
    /* The same function as cnnc --interpret's, so both see the same input. */
    int rc = cnnrt_picture_prepare(path, how, (int)m->input_h, (int)m->input_w,
                                   (int)m->input_c, x, inverted, e);
    if (rc == 0 && shown)
        rc = cnnrt_image_from_floats(x, (int)m->input_h, (int)m->input_w, (int)m->input_c,
                                     shown, e);
    return rc;
}

int cnnrt_prog_png_to_input(const prog_ctx *ctx, const char *path, float *x, int *inverted,
                      cnnrt_image *shown, cnnrt_err *e)
{
    return cnnrt_prog_picture_to_input(ctx, path, PROG_PREPARE_AUTO, x, inverted, shown, e);
}

void cnnrt_prog_input_list_free(prog_input_list *l)
{
    for (int64_t i = 0; i < l->count; i++)
        free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

int cnnrt_prog_need_trained_weights(const prog_ctx *ctx, const char *path, float *params)
{
    char used[4096];
    int found;
    cnnrt_err e;
    if (cnnrt_prog_load_inference_weights(ctx, path, params, &found, used, sizeof used, &e))
        return cnnrt_prog_error(ctx, "%s", e.msg);
    if (!found) {
        char def[4096];
        cnnrt_prog_default_weights_path(ctx, def, sizeof def);
        return cnnrt_prog_error(ctx, "the model is untrained: there is no %s here; train it first "
                          "with '%s train' (or pass --weights FILE)", def, ctx->prog);
    }
    return PROG_OK;
}

/* ---- predict ------------------------------------------------------------------------------ */

enum { BAR_WIDTH = 30 };

typedef enum { FORMAT_TEXT, FORMAT_JSON, FORMAT_CSV } output_format;

typedef struct predict_options {
    const char *weights, *data, *format, *prepare;
    int64_t index, threads;
    int index_given;
} predict_options;

/* What predict prints with, whatever the format. */
typedef struct predict_output {
    const prog_ctx *ctx;
    output_format format;
    prog_classes classes;
    int probabilities;       /* the outputs are probabilities (else scores) */
    int64_t printed;         /* results printed so far */
} predict_output;

static void print_prediction(predict_output *out, const char *what, const float *probs,
                             int true_label)
{
    int64_t k = out->ctx->model->num_classes;
    int best = cnnrt_prog_argmax(probs, k);
    char buf[32], buf2[32];
    if (out->printed++ > 0)
        printf("\n");
    if (out->probabilities)
        printf("%s: predicted %s (%.1f%%)", what,
               cnnrt_prog_class_name(&out->classes, best, buf, sizeof buf), 100.0 * probs[best]);
    else
        printf("%s: predicted %s (score %.4g)", what,
               cnnrt_prog_class_name(&out->classes, best, buf, sizeof buf), (double)probs[best]);
    if (true_label >= 0)
        printf(", true label %s%s", cnnrt_prog_class_name(&out->classes, true_label, buf2, sizeof buf2),
               true_label == best ? "" : "  <- wrong");
    printf("\n");
    int name_width = 3;
    for (int64_t c = 0; c < k; c++) {
        int w = (int)strlen(cnnrt_prog_class_name(&out->classes, c, buf, sizeof buf));
        name_width = w > name_width ? w : name_width;
    }
    for (int64_t c = 0; c < k; c++) {
        const char *name = cnnrt_prog_class_name(&out->classes, c, buf, sizeof buf);
        if (!out->probabilities) {
            printf("  %*s %10.4g%s\n", name_width, name, (double)probs[c], c == best ? " <" : "");
            continue;
        }
        int len = (int)lround(probs[c] * BAR_WIDTH);
        if (len < 0 || len > BAR_WIDTH)
            len = probs[c] > 0 ? BAR_WIDTH : 0;
        printf("  %*s %6.2f%% |%.*s%*s|%s\n", name_width, name, 100.0 * probs[c], len,
               "##############################", BAR_WIDTH - len, "", c == best ? " <" : "");
    }
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

void cnnrt_prog_csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    putc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            putc('"', out);
        putc(*s, out);
    }
    putc('"', out);
}

static void csv_field(const char *s)
{
    cnnrt_prog_csv_field(stdout, s);
}

static void begin_output(predict_output *out)
{
    int64_t k = out->ctx->model->num_classes;
    char buf[32];
    if (out->format == FORMAT_JSON) {
        printf("[");
    } else if (out->format == FORMAT_CSV) {
        printf("path,class,name,%s", out->probabilities ? "probability" : "score");
        for (int64_t c = 0; c < k; c++) {
            putchar(',');
            csv_field(cnnrt_prog_class_name(&out->classes, c, buf, sizeof buf));
        }
        printf("\n");
    }
}

static void end_output(const predict_output *out)
{
    if (out->format == FORMAT_JSON)
        printf("%s]\n", out->printed ? "\n" : "");
}

/* One result in the chosen format; error (when not NULL) replaces the prediction. */
static void emit_result(predict_output *out, const char *path, const float *probs,
                        int true_label, const char *error)
{
    int64_t k = out->ctx->model->num_classes;
    char buf[32];
    if (out->format == FORMAT_TEXT) {
        if (!error)
            print_prediction(out, path, probs, true_label);
        return;
    }
    int best = error ? -1 : cnnrt_prog_argmax(probs, k);
    if (out->format == FORMAT_CSV) {
        if (error)
            return;   /* the error is on stderr; CSV rows are predictions only */
        csv_field(path);
        printf(",%d,", best);
        csv_field(cnnrt_prog_class_name(&out->classes, best, buf, sizeof buf));
        printf(",%.6g", (double)probs[best]);
        for (int64_t c = 0; c < k; c++)
            printf(",%.6g", (double)probs[c]);
        printf("\n");
        out->printed++;
        return;
    }
    printf("%s\n  {\"path\": ", out->printed++ ? "," : "");
    json_string(path);
    if (error) {
        printf(", \"error\": ");
        json_string(error);
        printf("}");
        return;
    }
    printf(", \"class\": %d, \"name\": ", best);
    json_string(cnnrt_prog_class_name(&out->classes, best, buf, sizeof buf));
    if (true_label >= 0)
        printf(", \"true_class\": %d", true_label);
    printf(", \"%s\": {", out->probabilities ? "probabilities" : "scores");
    for (int64_t c = 0; c < k; c++) {
        printf("%s", c ? ", " : "");
        json_string(cnnrt_prog_class_name(&out->classes, c, buf, sizeof buf));
        printf(": %.6g", (double)probs[c]);
    }
    printf("}}");
}

static int predict_test_image(const prog_ctx *ctx, const predict_options *o,
                              const prog_exec *ex, const float *params, predict_output *out)
{
    cnnrt_dataset ds;
    cnnrt_err e;
    if (cnnrt_prog_load_dataset(ctx, o->data, CNNRT_SPLIT_TEST, &ds, &e))
        return cnnrt_prog_error(ctx, "%s", e.msg);
    int status = PROG_OK;
    if (o->index >= ds.count) {
        status = cnnrt_prog_error(ctx, "--index %lld is past the end of %s (%lld images, 0..%lld)",
                            (long long)o->index, ds.images_path, (long long)ds.count,
                            (long long)ds.count - 1);
    } else {
        if (ds.class_names) {
            cnnrt_prog_classes_free(&out->classes);
            cnnrt_prog_classes_for_dataset(ctx, &ds, o->weights, &out->classes);
        }
        float *probs = cnnrt_xmalloc((size_t)ctx->model->num_classes * sizeof *probs);
        cnnrt_prog_infer_dataset(ctx, ex, params, &ds, o->index, 1, probs, NULL);
        char what[64];
        snprintf(what, sizeof what, "test image %lld", (long long)o->index);
        begin_output(out);
        emit_result(out, what, probs, ds.labels[o->index], NULL);
        end_output(out);
        free(probs);
    }
    cnnrt_dataset_free(&ds);
    return status;
}

static void inputs_push(prog_input_list *l, const char *path)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->paths = realloc(l->paths, sizeof *l->paths * (size_t)l->cap);
        if (!l->paths)
            abort();
    }
    l->paths[l->count++] = strdup(path);
}

/* Whether a file found in a folder could be a picture: a regular file named like one, or
 * whose first bytes are a picture format's. Anything else in a folder (named pipes,
 * sockets, devices) is not a picture and is never opened: opening a named pipe would wait
 * for a writer forever (found by fuzz_cmdline walking a folder that held one). A file that
 * is gone or cannot be opened is kept, for the reader to report. */
static int folder_entry_is_picture(const char *path)
{
    cnnrt_file_kind kind;
    uint64_t size;
    int fd = cnnrt_open_regular(path, &kind, &size, NULL);
    if (fd < 0)
        return kind == CNNRT_FILE_MISSING || kind == CNNRT_FILE_LINK_LOOP ||
               kind == CNNRT_FILE_UNOPENABLE;
    int named_like_one = cnnrt_picture_name_looks_like_one(path);
    unsigned char head[CNNRT_PICTURE_MAGIC_BYTES];
    ssize_t n = named_like_one ? 0 : read(fd, head, sizeof head);
    close(fd);
    return named_like_one || (n > 0 && cnnrt_picture_format_of(head, (size_t)n) !=
                                           CNNRT_PICTURE_NONE);
}

int cnnrt_prog_expand_inputs(const prog_ctx *ctx, char **args, int count, prog_input_list *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < count; i++) {
        struct stat st;
        if (stat(args[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            inputs_push(out, args[i]);
            continue;
        }
        char **files;
        int64_t n;
        cnnrt_err e;
        if (cnnrt_folder_list_files(args[i], &files, &n, &e))
            return cnnrt_prog_error(ctx, "%s", e.msg);
        int64_t before = out->count;
        for (int64_t k = 0; k < n; k++) {
            if (folder_entry_is_picture(files[k]))
                inputs_push(out, files[k]);
            free(files[k]);
        }
        free(files);
        if (out->count == before)
            cnnrt_prog_warning(ctx, "%s: no pictures in this folder", args[i]);
    }
    return PROG_OK;
}

static int predict_files(const prog_ctx *ctx, const predict_options *o, char **args, int count,
                         prog_prepare prepare, const prog_exec *ex, const float *params,
                         predict_output *out)
{
    const cnnrt_model *m = ctx->model;
    prog_input_list inputs;
    int status = cnnrt_prog_expand_inputs(ctx, args, count, &inputs);
    (void)o;
    int64_t image_floats = m->input_h * m->input_w * m->input_c;
    float *x = cnnrt_aligned_alloc((size_t)image_floats * sizeof *x);
    float *probs = cnnrt_xmalloc((size_t)m->num_classes * sizeof *probs);
    begin_output(out);
    for (int64_t i = 0; status == PROG_OK && i < inputs.count; i++) {
        cnnrt_err e;
        int inverted;
        if (cnnrt_prog_picture_to_input(ctx, inputs.paths[i], prepare, x, &inverted, NULL, &e)) {
            emit_result(out, inputs.paths[i], NULL, -1, e.msg);
            cnnrt_prog_error(ctx, "%s", e.msg);
            status = PROG_ERROR;   /* reported at the end; the others still get answers */
            continue;
        }
        m->infer(params, x, 1, probs, NULL, ex->ws, ex->pool);
        emit_result(out, inputs.paths[i], probs, -1, NULL);
        if (inverted && out->format == FORMAT_TEXT)
            printf("  (dark on light: inverted to a light digit on black, like MNIST)\n");
    }
    end_output(out);
    cnnrt_prog_input_list_free(&inputs);
    free(x);
    free(probs);
    return status;
}

int cnnrt_prog_cmd_predict(const prog_ctx *ctx, int argc, char **argv)
{
    predict_options o = {0};
    const prog_option options[] = {
        {"weights", OPT_STRING, &o.weights, 0, 0, "FILE", "weights (default NAME.weights)",
         NULL},
        {"data", OPT_STRING, &o.data, 0, 0, "DIR", "test data directory (with --index)", NULL},
        {"index", OPT_INT, &o.index, 0, 1e9, "N", "classify test image N", &o.index_given},
        {"threads", OPT_INT, &o.threads, 1, 1024, "N", "threads (default: one per CPU)", NULL},
        {"format", OPT_STRING, &o.format, 0, 0, "text|json|csv", "output format (default "
         "text); json and csv give path, class, name and every class's probability", NULL},
        {"prepare", OPT_STRING, &o.prepare, 0, 0, "auto|digit|resize", "how a picture becomes "
         "the model's input (see above)", NULL},
    };
    prog_command cmd = {"predict", "[OPTIONS] PICTURE|FOLDER... | --index N",
                        "Classifies pictures (PNG, JPEG, GIF, BMP; a folder means every picture "
                        "in it),\nor test image N of the data set. Prints the class and every "
                        "class's probability,\nwith the class names saved beside the weights "
                        "when training had them.",
                        "--prepare resize: stretched to the model's input as Keras's "
                        "load_img(target_size=...)\ndoes (nearest neighbour).\n--prepare "
                        "digit: MNIST's preparation (a dark digit on light paper is inverted, "
                        "the\nink cut out, fitted into 20x20 of 28x28 and centred; keep other "
                        "marks off the paper;\na picture already of the model's size is only "
                        "inverted when light).\nauto (the default): what the model file's "
                        "'input ... prepare=' says, resize if nothing.",
                        "predict --format json my_pictures/", options,
                        sizeof options / sizeof options[0], -1};
    char **files = cnnrt_xcalloc((size_t)argc + 1, sizeof *files);
    int nfiles, status;
    int r = cnnrt_prog_parse(ctx, &cmd, argc, argv, files, &nfiles);
    if (r) {
        free(files);
        return r > 0 ? PROG_OK : PROG_USAGE;
    }
    predict_output out = {ctx, FORMAT_TEXT, {0}, cnnrt_prog_outputs_probabilities(ctx), 0};
    prog_prepare prepare = PROG_PREPARE_AUTO;
    const char *usage = NULL;
    if (o.index_given == (nfiles > 0))
        usage = o.index_given ? "give either --index N or image files, not both"
                              : "nothing to predict: give image files or --index N";
    else if (o.data && !o.index_given)
        usage = "--data only goes with --index N";
    else if (o.format && !strcmp(o.format, "json"))
        out.format = FORMAT_JSON;
    else if (o.format && !strcmp(o.format, "csv"))
        out.format = FORMAT_CSV;
    else if (o.format && strcmp(o.format, "text"))
        usage = "--format must be text, json or csv";
    if (!usage && o.prepare && cnnrt_prog_parse_prepare(o.prepare, &prepare))
        usage = "--prepare must be auto, digit or resize";
    if (usage) {
        free(files);
        return cnnrt_prog_usage_error(ctx, "predict", "%s", usage);
    }
    float *params = cnnrt_aligned_alloc((size_t)(ctx->model->param_floats + 1) * sizeof *params);
    status = cnnrt_prog_need_trained_weights(ctx, o.weights, params);
    prog_exec ex;
    cnnrt_err e;
    if (status == PROG_OK && cnnrt_prog_exec_init(ctx, (int)o.threads, &ex, &e))
        status = cnnrt_prog_error(ctx, "%s", e.msg);
    else if (status == PROG_OK) {
        cnnrt_prog_classes_beside_weights(ctx, o.weights, &out.classes);
        status = o.index_given ? predict_test_image(ctx, &o, &ex, params, &out)
                               : predict_files(ctx, &o, files, nfiles, prepare, &ex, params,
                                               &out);
        cnnrt_prog_classes_free(&out.classes);
        cnnrt_prog_exec_free(&ex);
    }
    free(params);
    free(files);
    return status;
}

/* ---- evaluate ------------------------------------------------------------------------------ */

static void print_confusion(const prog_ctx *ctx, const int64_t *confusion,
                            const prog_classes *classes)
{
    int64_t k = ctx->model->num_classes;
    char buf[32];
    /* Columns wide enough for the class names (up to 11 characters of each). */
    int width = 6;
    for (int64_t c = 0; c < k; c++) {
        int len = (int)strlen(cnnrt_prog_class_name(classes, c, buf, sizeof buf)) + 1;
        width = len > width ? (len > 12 ? 12 : len) : width;
    }
    printf("\nConfusion matrix (rows: true class, columns: predicted class):\n\n      ");
    for (int64_t c = 0; c < k; c++)
        printf("%*.*s", width, width - 1, cnnrt_prog_class_name(classes, c, buf, sizeof buf));
    printf("   correct\n");
    for (int64_t t = 0; t < k; t++) {
        int64_t row = 0;
        for (int64_t c = 0; c < k; c++)
            row += confusion[t * k + c];
        printf("  %3lld ", (long long)t);
        for (int64_t c = 0; c < k; c++) {
            int64_t v = confusion[t * k + c];
            if (v == 0)
                printf("%*s", width, ".");
            else
                printf("%*lld", width, (long long)v);
        }
        if (row > 0)
            printf("   %6.1f%%", 100.0 * (double)confusion[t * k + t] / (double)row);
        else
            printf("   %7s", "-");
        if (classes->names)
            printf("   %s", cnnrt_prog_class_name(classes, t, buf, sizeof buf));
        printf("\n");
    }
    printf("\nThe diagonal counts the right answers; a number off the diagonal in row T, "
           "column P\nis how often a T was taken for a P.\n");
}

static void print_evaluation_json(const prog_ctx *ctx, const cnnrt_dataset *ds,
                                  const prog_classes *classes, int64_t correct, double loss,
                                  const int64_t *confusion)
{
    int64_t n = ds->count, k = ctx->model->num_classes;
    char buf[32];
    printf("{\"data\": ");
    json_string(ds->images_path);
    printf(", \"images\": %lld, \"accuracy\": %.6f, \"loss\": %.6f, \"classes\": [",
           (long long)n, (double)correct / (double)n, loss / (double)n);
    for (int64_t c = 0; c < k; c++) {
        printf("%s", c ? ", " : "");
        json_string(cnnrt_prog_class_name(classes, c, buf, sizeof buf));
    }
    printf("],\n \"confusion\": [");
    for (int64_t t = 0; t < k; t++) {
        printf("%s[", t ? ",\n               " : "");
        for (int64_t c = 0; c < k; c++)
            printf("%s%lld", c ? ", " : "", (long long)confusion[t * k + c]);
        printf("]");
    }
    printf("]}\n");
}

/* Under mpirun each rank infers its share of the images (mpi_ranks.h) and every rank
 * gathers all the outputs in image order, so the figures are one process's. */
static int evaluate_dataset(const prog_ctx *ctx, const prog_exec *ex, const float *params,
                            const cnnrt_dataset *ds, const prog_classes *classes, int json)
{
    int64_t n = ds->count, k = ctx->model->num_classes;
    float *probs = cnnrt_xmalloc((size_t)(n * k) * sizeof *probs);
    float *logits = cnnrt_xmalloc((size_t)(n * k) * sizeof *logits);
    int64_t *confusion = cnnrt_xcalloc((size_t)(k * k), sizeof *confusion);
    int64_t begin, end;
    cnnrt_mpi_share(n, &begin, &end);
    cnnrt_prog_infer_dataset(ctx, ex, params, ds, begin, end - begin, probs + begin * k,
                       logits + begin * k);
    cnnrt_err e;
    if (cnnrt_mpi_gather_rows(probs, n, k * (int64_t)sizeof *probs, &e) ||
        cnnrt_mpi_gather_rows(logits, n, k * (int64_t)sizeof *logits, &e)) {
        free(probs);
        free(logits);
        free(confusion);
        return cnnrt_prog_error(ctx, "%s", e.msg);
    }
    double loss = 0;
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        int pred = cnnrt_prog_argmax(probs + i * k, k);
        loss += cnnrt_prog_loss_of(ctx, probs + i * k, logits + i * k, ds->labels[i]);
        correct += pred == ds->labels[i];
        confusion[ds->labels[i] * k + pred]++;
    }
    if (json) {
        print_evaluation_json(ctx, ds, classes, correct, loss, confusion);
    } else {
        printf("Test images: %lld (%s)\n", (long long)n, ds->images_path);
        printf("Test accuracy: %.2f%% (%lld right, %lld wrong)\n",
               100.0 * (double)correct / (double)n, (long long)correct, (long long)(n - correct));
        printf("Test loss: %.4f\n", loss / (double)n);
        print_confusion(ctx, confusion, classes);
    }
    free(probs);
    free(logits);
    free(confusion);
    return PROG_OK;
}

/* Prints which weights file is measured, then the test-set report. */
static int evaluate_with_weights(const prog_ctx *ctx, const char *weights, int64_t threads,
                                 const float *params, const cnnrt_dataset *ds, int json)
{
    char used[4096];
    if (weights)
        snprintf(used, sizeof used, "%s", weights);
    else
        cnnrt_prog_default_weights_path(ctx, used, sizeof used);
    if (!json)
        printf("Weights: %s\n", used);
    prog_exec ex;
    cnnrt_err e;
    if (cnnrt_prog_exec_init(ctx, (int)threads, &ex, &e))
        return cnnrt_prog_error(ctx, "%s", e.msg);
    prog_classes classes;
    cnnrt_prog_classes_for_dataset(ctx, ds, weights, &classes);
    int status = evaluate_dataset(ctx, &ex, params, ds, &classes, json);
    cnnrt_prog_classes_free(&classes);
    cnnrt_prog_exec_free(&ex);
    return status;
}

int cnnrt_prog_cmd_evaluate(const prog_ctx *ctx, int argc, char **argv)
{
    const char *weights = NULL, *data = NULL, *format = NULL;
    int64_t threads = 0;
    int skip_bad = 0;
    const prog_option options[] = {
        {"weights", OPT_STRING, &weights, 0, 0, "FILE", "weights (default NAME.weights)", NULL},
        {"data", OPT_STRING, &data, 0, 0, "DIR", "directory with the test IDX files, or a "
         "picture folder (its test/ half if it has one)", NULL},
        {"threads", OPT_INT, &threads, 1, 1024, "N", "threads (default: one per CPU)", NULL},
        {"format", OPT_STRING, &format, 0, 0, "text|json", "output format (default text)",
         NULL},
        {"skip-bad", OPT_FLAG, &skip_bad, 0, 0, NULL, "leave unreadable pictures of a picture "
         "folder out (counted) instead of stopping", NULL},
    };
    prog_command cmd = {"evaluate", "[OPTIONS]",
                        "Measures the model on the test set: accuracy, loss, and a confusion "
                        "matrix of\nwhich digits are taken for which.", NULL, "evaluate",
                        options, sizeof options / sizeof options[0], 0};
    int stop, parsed = cnnrt_prog_parse_options(ctx, &cmd, argc, argv, &stop);
    if (stop)
        return parsed;
    int json = format && !strcmp(format, "json");
    if (format && !json && strcmp(format, "text"))
        return cnnrt_prog_usage_error(ctx, "evaluate", "--format must be text or json");
    prog_data_options data_options;
    cnnrt_prog_data_options_default(ctx, &data_options);
    data_options.threads = (int)threads;
    data_options.skip_bad = skip_bad;
    data_options.report = json ? NULL : stdout;
    const cnnrt_model *m = ctx->model;
    float *params = cnnrt_aligned_alloc((size_t)(m->param_floats + 1) * sizeof *params);
    /* Refuses without weights, like predict and gradcam: random weights measure chance. */
    int status = cnnrt_prog_need_trained_weights(ctx, weights, params);
    cnnrt_dataset ds;
    cnnrt_err e;
    int loaded = 0;
    if (status == PROG_OK && cnnrt_prog_load_data(ctx, data, CNNRT_SPLIT_TEST, &data_options, &ds, &e))
        status = cnnrt_prog_error(ctx, "%s", e.msg);
    else if (status == PROG_OK)
        loaded = 1;
    /* Under mpirun every rank reads the weights and the data; one that could not stops
     * them all (it said why). */
    int ready = cnnrt_mpi_agree(status, ctx->speaker);
    if (status == PROG_OK && ready != PROG_OK)
        status = ready;
    if (status == PROG_OK)
        status = evaluate_with_weights(ctx, weights, threads, params, &ds, json);
    if (loaded)
        cnnrt_dataset_free(&ds);
    free(params);
    return status;
}
