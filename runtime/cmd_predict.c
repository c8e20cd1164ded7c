/* `PROG predict` (classify PNG files or test images) and `PROG evaluate` (test accuracy,
 * loss and the confusion matrix). */
#include "program_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_image.h"

/* ---- shared: loading an image the way a beginner's picture needs ------------------------ */

int prog_png_to_input(const prog_ctx *ctx, const char *path, float *x, int *inverted,
                      cnnrt_image *shown, cnnrt_err *e)
{
    const cnnrt_model *m = ctx->model;
    cnnrt_image img = {0};
    *inverted = 0;
    if (cnnrt_png_read(path, CNNRT_ALPHA_AUTO, &img, e))
        return -1;
    int rc;
    int model_sized = img.width == m->input_w && img.height == m->input_h;
    if (m->input_c == 1)
        *inverted = cnnrt_image_invert_if_light_background(&img);
    if (m->input_c == 1 && !model_sized) {
        /* A photo or scan of a digit: prepare it the way MNIST's digits were made (cropped,
         * fitted into 20x20, centred by mass). A picture already of the model's size is
         * taken as it is, like the test images. */
        rc = cnnrt_digit_to_input(&img, (int)m->input_h, (int)m->input_w, x, e);
    } else {
        rc = cnnrt_image_to_input(&img, (int)m->input_h, (int)m->input_w, (int)m->input_c,
                                  CNNRT_RESIZE_AREA, x, e);
    }
    if (rc == 0 && shown)
        rc = cnnrt_image_from_floats(x, (int)m->input_h, (int)m->input_w, (int)m->input_c,
                                     shown, e);
    cnnrt_image_free(&img);
    return rc;
}

int prog_need_trained_weights(const prog_ctx *ctx, const char *path, float *params)
{
    char used[4096];
    int found;
    cnnrt_err e;
    if (prog_load_inference_weights(ctx, path, params, &found, used, sizeof used, &e))
        return prog_error(ctx, "%s", e.msg);
    if (!found) {
        char def[4096];
        prog_default_weights_path(ctx, def, sizeof def);
        return prog_error(ctx, "the model is untrained: there is no %s here; train it first "
                          "with '%s train' (or pass --weights FILE)", def, ctx->prog);
    }
    return PROG_OK;
}

/* ---- predict ------------------------------------------------------------------------------ */

enum { BAR_WIDTH = 30 };

static void print_prediction(const prog_ctx *ctx, const char *what, const float *probs,
                             int true_label)
{
    int64_t k = ctx->model->num_classes;
    int best = prog_argmax(probs, k);
    printf("%s: predicted %d (%.1f%%)", what, best, 100.0 * probs[best]);
    if (true_label >= 0)
        printf(", true label %d%s", true_label, true_label == best ? "" : "  <- wrong");
    printf("\n");
    for (int64_t c = 0; c < k; c++) {
        int len = (int)lround(probs[c] * BAR_WIDTH);
        if (len < 0 || len > BAR_WIDTH)
            len = probs[c] > 0 ? BAR_WIDTH : 0;
        printf("  %3lld %6.2f%% |%.*s%*s|%s\n", (long long)c, 100.0 * probs[c], len,
               "##############################", BAR_WIDTH - len, "", c == best ? " <" : "");
    }
}

typedef struct predict_options {
    const char *weights, *data;
    int64_t index, threads;
    int index_given;
} predict_options;

static int predict_test_image(const prog_ctx *ctx, const predict_options *o,
                              const prog_exec *ex, const float *params)
{
    cnnrt_dataset ds;
    cnnrt_err e;
    if (prog_load_dataset(ctx, o->data, CNNRT_SPLIT_TEST, &ds, &e))
        return prog_error(ctx, "%s", e.msg);
    int status = PROG_OK;
    if (o->index >= ds.count) {
        status = prog_error(ctx, "--index %lld is past the end of %s (%lld images, 0..%lld)",
                            (long long)o->index, ds.images_path, (long long)ds.count,
                            (long long)ds.count - 1);
    } else {
        float *probs = cnnrt_xmalloc((size_t)ctx->model->num_classes * sizeof *probs);
        prog_infer_dataset(ctx, ex, params, &ds, o->index, 1, probs, NULL);
        char what[64];
        snprintf(what, sizeof what, "test image %lld", (long long)o->index);
        print_prediction(ctx, what, probs, ds.labels[o->index]);
        free(probs);
    }
    cnnrt_dataset_free(&ds);
    return status;
}

static int predict_files(const prog_ctx *ctx, char **files, int count, const prog_exec *ex,
                         const float *params)
{
    const cnnrt_model *m = ctx->model;
    int64_t image_floats = m->input_h * m->input_w * m->input_c;
    float *x = cnnrt_aligned_alloc((size_t)image_floats * sizeof *x);
    float *probs = cnnrt_xmalloc((size_t)m->num_classes * sizeof *probs);
    int status = PROG_OK;
    for (int i = 0; i < count; i++) {
        cnnrt_err e;
        int inverted;
        if (prog_png_to_input(ctx, files[i], x, &inverted, NULL, &e)) {
            status = prog_error(ctx, "%s", e.msg);
            continue;   /* the other files still get their answer */
        }
        m->infer(params, x, 1, probs, NULL, ex->ws, ex->pool);
        if (i > 0)
            printf("\n");
        print_prediction(ctx, files[i], probs, -1);
        if (inverted)
            printf("  (dark on light: inverted to a light digit on black, like MNIST)\n");
    }
    free(x);
    free(probs);
    return status;
}

int prog_cmd_predict(const prog_ctx *ctx, int argc, char **argv)
{
    predict_options o = {0};
    const prog_option options[] = {
        {"weights", OPT_STRING, &o.weights, 0, 0, "FILE", "weights (default NAME.weights)",
         NULL},
        {"data", OPT_STRING, &o.data, 0, 0, "DIR", "test data directory (with --index)", NULL},
        {"index", OPT_INT, &o.index, 0, 1e9, "N", "classify test image N", &o.index_given},
        {"threads", OPT_INT, &o.threads, 1, 1024, "N", "threads (default: one per CPU)", NULL},
    };
    prog_command cmd = {"predict", "[OPTIONS] IMAGE.png... | --index N",
                        "Classifies images: your own PNG files, or test image N of the data "
                        "set.\nPrints the class and every class's probability.",
                        "Your own picture may have any size. A dark digit on light paper is "
                        "inverted\n(MNIST digits are light on black). A picture larger than "
                        "the model's input is\nprepared as MNIST's digits were: the ink is "
                        "cut out, fitted into 20x20 of 28x28 and\ncentred; keep other marks "
                        "off the paper. A 28x28 picture is taken as it is.",
                        "predict my_digit.png", options, sizeof options / sizeof options[0],
                        -1};
    char **files = cnnrt_xcalloc((size_t)argc + 1, sizeof *files);
    int nfiles, status;
    int r = prog_parse(ctx, &cmd, argc, argv, files, &nfiles);
    if (r) {
        free(files);
        return r > 0 ? PROG_OK : PROG_USAGE;
    }
    if (o.index_given == (nfiles > 0)) {
        free(files);
        return prog_usage_error(ctx, "predict", o.index_given
                                    ? "give either --index N or image files, not both"
                                    : "nothing to predict: give image files or --index N");
    }
    if (o.data && !o.index_given) {
        free(files);
        return prog_usage_error(ctx, "predict", "--data only goes with --index N");
    }
    float *params = cnnrt_aligned_alloc((size_t)(ctx->model->param_floats + 1) * sizeof *params);
    status = prog_need_trained_weights(ctx, o.weights, params);
    prog_exec ex;
    cnnrt_err e;
    if (status == PROG_OK && prog_exec_init(ctx, (int)o.threads, &ex, &e))
        status = prog_error(ctx, "%s", e.msg);
    else if (status == PROG_OK) {
        status = o.index_given ? predict_test_image(ctx, &o, &ex, params)
                               : predict_files(ctx, files, nfiles, &ex, params);
        prog_exec_free(&ex);
    }
    free(params);
    free(files);
    return status;
}

/* ---- evaluate ------------------------------------------------------------------------------ */

static void print_confusion(const prog_ctx *ctx, const int64_t *confusion)
{
    int64_t k = ctx->model->num_classes;
    printf("\nConfusion matrix (rows: true class, columns: predicted class):\n\n      ");
    for (int64_t c = 0; c < k; c++)
        printf("%6lld", (long long)c);
    printf("   correct\n");
    for (int64_t t = 0; t < k; t++) {
        int64_t row = 0;
        for (int64_t c = 0; c < k; c++)
            row += confusion[t * k + c];
        printf("  %3lld ", (long long)t);
        for (int64_t c = 0; c < k; c++) {
            int64_t v = confusion[t * k + c];
            if (v == 0)
                printf("%6s", ".");
            else
                printf("%6lld", (long long)v);
        }
        if (row > 0)
            printf("   %6.1f%%\n", 100.0 * (double)confusion[t * k + t] / (double)row);
        else
            printf("   %7s\n", "-");
    }
    printf("\nThe diagonal counts the right answers; a number off the diagonal in row T, "
           "column P\nis how often a T was taken for a P.\n");
}

static void evaluate_dataset(const prog_ctx *ctx, const prog_exec *ex, const float *params,
                             const cnnrt_dataset *ds)
{
    int64_t n = ds->count, k = ctx->model->num_classes;
    float *probs = cnnrt_xmalloc((size_t)(n * k) * sizeof *probs);
    float *logits = cnnrt_xmalloc((size_t)(n * k) * sizeof *logits);
    int64_t *confusion = cnnrt_xcalloc((size_t)(k * k), sizeof *confusion);
    prog_infer_dataset(ctx, ex, params, ds, 0, n, probs, logits);
    double loss = 0;
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        int pred = prog_argmax(probs + i * k, k);
        loss += prog_loss_of(ctx, probs + i * k, logits + i * k, ds->labels[i]);
        correct += pred == ds->labels[i];
        confusion[ds->labels[i] * k + pred]++;
    }
    printf("Test images: %lld (%s)\n", (long long)n, ds->images_path);
    printf("Test accuracy: %.2f%% (%lld right, %lld wrong)\n", 100.0 * (double)correct / (double)n,
           (long long)correct, (long long)(n - correct));
    printf("Test loss: %.4f\n", loss / (double)n);
    print_confusion(ctx, confusion);
    free(probs);
    free(logits);
    free(confusion);
}

/* Prints which weights file is measured, then the test-set report. */
static int evaluate_with_weights(const prog_ctx *ctx, const char *weights, int64_t threads,
                                 const float *params, const cnnrt_dataset *ds)
{
    char used[4096];
    if (weights)
        snprintf(used, sizeof used, "%s", weights);
    else
        prog_default_weights_path(ctx, used, sizeof used);
    printf("Weights: %s\n", used);
    prog_exec ex;
    cnnrt_err e;
    if (prog_exec_init(ctx, (int)threads, &ex, &e))
        return prog_error(ctx, "%s", e.msg);
    evaluate_dataset(ctx, &ex, params, ds);
    prog_exec_free(&ex);
    return PROG_OK;
}

int prog_cmd_evaluate(const prog_ctx *ctx, int argc, char **argv)
{
    const char *weights = NULL, *data = NULL;
    int64_t threads = 0;
    const prog_option options[] = {
        {"weights", OPT_STRING, &weights, 0, 0, "FILE", "weights (default NAME.weights)", NULL},
        {"data", OPT_STRING, &data, 0, 0, "DIR", "directory with the test IDX files", NULL},
        {"threads", OPT_INT, &threads, 1, 1024, "N", "threads (default: one per CPU)", NULL},
    };
    prog_command cmd = {"evaluate", "[OPTIONS]",
                        "Measures the model on the test set: accuracy, loss, and a confusion "
                        "matrix of\nwhich digits are taken for which.", NULL, "evaluate",
                        options, sizeof options / sizeof options[0], 0};
    int stop, parsed = prog_parse_options(ctx, &cmd, argc, argv, &stop);
    if (stop)
        return parsed;
    const cnnrt_model *m = ctx->model;
    float *params = cnnrt_aligned_alloc((size_t)(m->param_floats + 1) * sizeof *params);
    /* Refuses without weights, like predict and gradcam: random weights measure chance. */
    int status = prog_need_trained_weights(ctx, weights, params);
    cnnrt_dataset ds;
    cnnrt_err e;
    if (status == PROG_OK && prog_load_dataset(ctx, data, CNNRT_SPLIT_TEST, &ds, &e))
        status = prog_error(ctx, "%s", e.msg);
    else if (status == PROG_OK) {
        status = evaluate_with_weights(ctx, weights, threads, params, &ds);
        cnnrt_dataset_free(&ds);
    }
    free(params);
    return status;
}
