/* `PROG report` (and `train --report`): one self-contained HTML page about a trained model.
 *
 * This file gathers what the page shows -- the weights file's settings and history, the
 * test set's accuracy, loss and confusion matrix, a Grad-CAM gallery of the worst mistakes
 * and of typical right answers, the faithfulness measures of `gradcam --evaluate`, the
 * inference speed measured now and the training speed `train` recorded (NAME.speed.csv) --
 * and report_html.c writes it. The page is written atomically:
 * a failed report never leaves half a page in the place of a good one. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cnnrt_image.h"
#include "cnnrt_progress.h"   /* cnnrt_now_seconds */
#include "cnnrt_vocab.h"
#include "train_speed.h"

/* ---- the test set ----------------------------------------------------------------------- */

typedef struct test_results {
    int64_t n, k, correct;
    double loss;
    float *probs;          /* n * k */
    int32_t *predicted;    /* n */
    int64_t *confusion;    /* k * k */
    double seconds;        /* of the inference over the set */
} test_results;

static void test_results_free(test_results *t)
{
    free(t->probs);
    free(t->predicted);
    free(t->confusion);
}

static void measure_test_set(const prog_ctx *ctx, const prog_exec *ex, const float *params,
                             const cnnrt_dataset *ds, test_results *t)
{
    int64_t n = ds->count, k = ctx->model->num_classes;
    memset(t, 0, sizeof *t);
    t->n = n;
    t->k = k;
    t->probs = cnnrt_xmalloc((size_t)(n * k) * sizeof *t->probs);
    float *logits = cnnrt_xmalloc((size_t)(n * k) * sizeof *logits);
    t->predicted = cnnrt_xmalloc((size_t)n * sizeof *t->predicted);
    t->confusion = cnnrt_xcalloc((size_t)(k * k), sizeof *t->confusion);
    double start = cnnrt_now_seconds();
    cnnrt_prog_infer_dataset(ctx, ex, params, ds, 0, n, t->probs, logits);
    t->seconds = cnnrt_now_seconds() - start;
    for (int64_t i = 0; i < n; i++) {
        t->predicted[i] = cnnrt_prog_argmax(t->probs + i * k, k);
        t->loss += cnnrt_prog_loss_of(ctx, t->probs + i * k, logits + i * k, ds->labels[i]);
        t->correct += t->predicted[i] == ds->labels[i];
        t->confusion[ds->labels[i] * k + t->predicted[i]]++;
    }
    free(logits);
}

/* ---- choosing the gallery --------------------------------------------------------------- */

/* The wrong answers the model was surest of, at most max. */
static int pick_mistakes(const test_results *t, const cnnrt_dataset *ds, int max,
                         int64_t *out)
{
    cam_ranked *r = cnnrt_xmalloc((size_t)(t->n + 1) * sizeof *r);
    int64_t n = 0;
    for (int64_t i = 0; i < t->n; i++)
        if (t->predicted[i] != ds->labels[i])
            r[n++] = (cam_ranked){t->probs[i * t->k + t->predicted[i]], i};
    cnnrt_cam_sort_ranked_desc(r, n);
    int count = 0;
    for (; count < max && count < n; count++)
        out[count] = r[count].index;
    free(r);
    return count;
}

/* For each class in turn, the right answer of middle confidence: what a typical right
 * answer of that class looks like. At most max. */
static int pick_typical(const test_results *t, const cnnrt_dataset *ds, int max, int64_t *out)
{
    cam_ranked *r = cnnrt_xmalloc((size_t)(t->n + 1) * sizeof *r);
    int count = 0;
    for (int64_t cls = 0; cls < t->k && count < max; cls++) {
        int64_t n = 0;
        for (int64_t i = 0; i < t->n; i++)
            if (ds->labels[i] == cls && t->predicted[i] == cls)
                r[n++] = (cam_ranked){t->probs[i * t->k + cls], i};
        if (n == 0)
            continue;
        cnnrt_cam_sort_ranked_desc(r, n);
        out[count++] = r[n / 2].index;
    }
    free(r);
    return count;
}

/* ---- Grad-CAM pictures ------------------------------------------------------------------ */

static int64_t image_floats(const cnnrt_model *m)
{
    return m->input_h * m->input_w * m->input_c;
}

static void batch_of(const prog_ctx *ctx, const cnnrt_dataset *ds, const int64_t *indices,
                     int64_t n, cam_batch *b)
{
    cnnrt_cam_batch_alloc(b, ctx, n, 0);
    for (int64_t i = 0; i < n; i++) {
        cnnrt_dataset_to_float(ds, indices[i], 1, b->x + i * image_floats(ctx->model));
        b->true_labels[i] = ds->labels[indices[i]];
        b->classes[i] = -1;
        snprintf(b->names[i], sizeof b->names[i], "test image %lld", (long long)indices[i]);
    }
}

/* The three PNG files of picture i of the batch: original, jet heatmap, keras overlay. */
static int encode_picture(const prog_ctx *ctx, const cam_batch *b, int64_t i,
                          report_picture *p, cnnrt_err *e)
{
    const cnnrt_model *m = ctx->model;
    int h = (int)m->input_h, w = (int)m->input_w;
    cnnrt_image img[3];
    memset(img, 0, sizeof img);
    int rc = cnnrt_image_from_floats(b->x + i * image_floats(m), h, w, (int)m->input_c,
                                     &img[0], e) ||
             cnnrt_heatmap_to_rgb(b->big_maps + i * h * w, h, w, CNNRT_CMAP_JET, &img[1],
                                  e) ||
             cnnrt_overlay(&img[1], &img[0], CNNRT_OVERLAY_ADDITIVE, CNNRT_OVERLAY_KERAS_ALPHA,
                           &img[2], e);
    for (int k = 0; k < 3 && rc == 0; k++)
        rc = cnnrt_png_encode(&img[k], &p->png[k], &p->png_len[k], e);
    for (int k = 0; k < 3; k++)
        cnnrt_image_free(&img[k]);
    return rc ? -1 : 0;
}

static void pictures_free(report_picture *p, int n)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            free(p[i].png[k]);
    free(p);
}

/* Runs Grad-CAM on the chosen test images and encodes their pictures. */
static int gallery_pictures(const prog_ctx *ctx, const prog_exec *ex, const float *params,
                            const cam_choice *choice, const cnnrt_dataset *ds,
                            const test_results *t, const int64_t *indices, int n,
                            report_picture **out, cnnrt_err *e)
{
    *out = cnnrt_xcalloc((size_t)n + 1, sizeof **out);
    if (n == 0)
        return 0;
    cam_batch b;
    batch_of(ctx, ds, indices, n, &b);
    int rc = cnnrt_cam_batch_run(&b, ctx, choice, params, ex) ? cnnrt_fail(e, "Grad-CAM failed") : 0;
    for (int i = 0; i < n && rc == 0; i++) {
        report_picture *p = &(*out)[i];
        p->index = indices[i];
        p->true_class = ds->labels[indices[i]];
        p->predicted = t->predicted[indices[i]];
        p->probability = t->probs[indices[i] * t->k + p->predicted];
        rc = encode_picture(ctx, &b, i, p, e);
    }
    cnnrt_cam_batch_free(&b);
    return rc;
}

/* ---- timings and the machine ------------------------------------------------------------ */

/* The training speed `train` recorded beside the weights (train_speed.h), over the epochs
 * the weights file has done; without it, a note saying why. */
static void recorded_training_speed(const char *weights, int64_t epochs_done,
                                    report_content *c)
{
    char path[4200];
    cnnrt_train_speed_path(weights, path, sizeof path);
    train_speed *records = cnnrt_xcalloc((size_t)epochs_done + 1, sizeof *records);
    cnnrt_err e;
    int64_t n = cnnrt_train_speed_read(path, records, epochs_done, &e);
    if (n < 0 && access(path, F_OK) != 0)
        snprintf(c->train_speed_note, sizeof c->train_speed_note, "not recorded: there is no "
                 "%s beside the weights (they were trained by an older cnnc, or the file was "
                 "not copied with them); training again records it", path);
    else if (n < 0)
        snprintf(c->train_speed_note, sizeof c->train_speed_note, "not recorded: %s", e.msg);
    else
        c->train_images_per_s = cnnrt_train_speed_summary(records, n, &c->train_first_epoch,
                                                    &c->train_last_epoch, &c->train_threads,
                                                    &c->train_batch);
    if (n >= 0 && c->train_images_per_s <= 0)
        snprintf(c->train_speed_note, sizeof c->train_speed_note, "not recorded: %s holds no "
                 "timed epoch", path);
    free(records);
}

static void describe_machine(char *buf, size_t size, int64_t threads)
{
    char cpu[192] = "unknown processor", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && colon) {
            snprintf(cpu, sizeof cpu, "%s", colon + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(buf, size, "%s, %ld logical CPU%s, %lld thread%s used", cpu, cpus,
             cpus == 1 ? "" : "s", (long long)threads, threads == 1 ? "" : "s");
}

/* ---- the command ------------------------------------------------------------------------ */

typedef struct report_options {
    const char *out, *weights, *data, *layer, *method;
    int64_t threads, gallery, faith_images;
    int skip_bad;
} report_options;

static int choose_cam(const prog_ctx *ctx, const report_options *o, cam_choice *choice)
{
    const cnnrt_model *m = ctx->model;
    memset(choice, 0, sizeof *choice);
    choice->method = cnnrt_vocab_code(cnnrt_vocab_cam_methods(), o->method);
    if (choice->method < 0 || choice->method == CNNRT_CAM_GUIDED)
        return cnnrt_prog_usage_error(ctx, "report", "--method '%s' cannot be shown in the report "
                                "(choose a Grad-CAM method such as hirescam or gradcam)",
                                o->method);
    const char *layer = o->layer ? o->layer : cnnrt_cam_default_layer(ctx);
    choice->layer = cnnrt_cam_layer_index(m, layer);
    if (choice->layer < 0)
        return cnnrt_prog_usage_error(ctx, "report", "no Grad-CAM layer named '%s' (see PROG "
                                "gradcam --help)", layer);
    choice->target = &m->cam_layers[choice->layer];
    choice->score_mode = CNNRT_SCORE_LOGIT;
    return PROG_OK;
}

typedef struct report_parts {
    cnnrt_weights w;
    cnnrt_dataset ds;
    int have_data;
    char data_error[1024];
    prog_classes classes;
    prog_exec ex;
    test_results t;
    report_picture *mistakes, *typical;
    int num_mistakes, num_typical;
} report_parts;

static void parts_free(report_parts *p)
{
    cnnrt_weights_free(&p->w);
    if (p->have_data) {
        cnnrt_dataset_free(&p->ds);
        test_results_free(&p->t);
    }
    cnnrt_prog_classes_free(&p->classes);
    cnnrt_prog_exec_free(&p->ex);
    pictures_free(p->mistakes, p->num_mistakes);
    pictures_free(p->typical, p->num_typical);
}

static int load_parts(const prog_ctx *ctx, const report_options *o, const char *weights,
                      report_parts *p)
{
    cnnrt_err e;
    cnnrt_weights_expect expect;
    cnnrt_prog_weights_expect(ctx, &expect);
    if (cnnrt_weights_load(weights, &expect, &p->w, &e))
        return cnnrt_prog_error(ctx, "%s", e.msg);
    if (cnnrt_prog_exec_init(ctx, (int)o->threads, &p->ex, &e))
        return cnnrt_prog_error(ctx, "%s", e.msg);
    prog_data_options data_options;
    cnnrt_prog_data_options_default(ctx, &data_options);
    data_options.threads = (int)o->threads;
    data_options.skip_bad = o->skip_bad;
    data_options.report = NULL;
    if (cnnrt_prog_load_data(ctx, o->data, CNNRT_SPLIT_TEST, &data_options, &p->ds, &e)) {
        /* A report without test results is still worth having (training curves, model). */
        cnnrt_prog_warning(ctx, "no test results in the report: %s", e.msg);
        snprintf(p->data_error, sizeof p->data_error, "%s", e.msg);
        cnnrt_prog_classes_beside_weights(ctx, weights, &p->classes);
        return PROG_OK;
    }
    p->have_data = 1;
    cnnrt_prog_classes_for_dataset(ctx, &p->ds, weights, &p->classes);
    measure_test_set(ctx, &p->ex, p->w.params, &p->ds, &p->t);
    return PROG_OK;
}

static int make_gallery(const prog_ctx *ctx, const report_options *o, const cam_choice *choice,
                        report_parts *p)
{
    /* Mistakes: --gallery of them. Typical answers: one per class, up to twice as many. */
    int max = (int)o->gallery;
    int typical_max = (int)(p->t.k < 2 * max ? p->t.k : 2 * max);
    int64_t *indices = cnnrt_xmalloc((size_t)(2 * max + 1) * sizeof *indices);
    cnnrt_err e;
    int n = pick_mistakes(&p->t, &p->ds, max, indices);
    int rc = gallery_pictures(ctx, &p->ex, p->w.params, choice, &p->ds, &p->t, indices, n,
                              &p->mistakes, &e);
    p->num_mistakes = n;
    if (rc == 0) {
        n = pick_typical(&p->t, &p->ds, typical_max, indices);
        rc = gallery_pictures(ctx, &p->ex, p->w.params, choice, &p->ds, &p->t, indices, n,
                              &p->typical, &e);
        p->num_typical = n;
    }
    free(indices);
    return rc ? cnnrt_prog_error(ctx, "%s", e.msg) : PROG_OK;
}

static void measure_faithfulness(const prog_ctx *ctx, const report_options *o,
                                 const cam_choice *choice, report_parts *p,
                                 cam_faithfulness *f)
{
    int64_t n = o->faith_images < p->ds.count ? o->faith_images : p->ds.count;
    memset(f, 0, sizeof *f);
    if (n <= 0)
        return;
    int64_t *indices = cnnrt_xmalloc((size_t)n * sizeof *indices);
    for (int64_t i = 0; i < n; i++)
        indices[i] = i;
    cam_batch b;
    batch_of(ctx, &p->ds, indices, n, &b);
    if (cnnrt_cam_batch_run(&b, ctx, choice, p->w.params, &p->ex) == 0)
        cnnrt_cam_faithfulness_measure(&b, ctx, p->w.params, &p->ex, ctx->info.seed, f);
    cnnrt_cam_batch_free(&b);
    free(indices);
}

static void fill_content(const prog_ctx *ctx, const char *weights, const report_parts *p,
                         report_content *c, char *when, size_t when_size)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, when_size, "%Y-%m-%d %H:%M UTC", &tm);
    memset(c, 0, sizeof *c);
    c->info = &ctx->info;
    c->weights_path = weights;
    c->written_at = when;
    c->history = p->w.history;
    c->num_history = p->w.num_history;
    c->epochs_done = p->w.epochs_done;
    c->steps_done = p->w.steps_done;
    c->seed = p->w.seed;
    c->num_classes = ctx->model->num_classes;
    c->class_names = p->classes.names;
    c->outputs_probabilities = cnnrt_prog_outputs_probabilities(ctx);
    c->test_note = p->data_error;
    if (p->have_data) {
        c->test_path = p->ds.images_path;
        c->test_images = p->t.n;
        c->test_accuracy = p->t.n ? (double)p->t.correct / (double)p->t.n : 0;
        c->test_loss = p->t.n ? p->t.loss / (double)p->t.n : 0;
        c->confusion = p->t.confusion;
        c->infer_images_per_s = p->t.seconds > 0 ? (double)p->t.n / p->t.seconds : 0;
    }
    c->mistakes = p->mistakes;
    c->typical = p->typical;
    c->num_mistakes = p->num_mistakes;
    c->num_typical = p->num_typical;
    c->threads = cnnrt_pool_threads(p->ex.pool);
    recorded_training_speed(weights, p->w.epochs_done, c);
}

static int write_page(const prog_ctx *ctx, const char *path, const report_content *c)
{
    cnnrt_atomic_file f;
    cnnrt_err e;
    if (cnnrt_atomic_open(&f, path, &e))
        return cnnrt_prog_error(ctx, "%s", e.msg);
    if (cnnrt_report_write_html(f.fp, c) || cnnrt_atomic_commit(&f, &e)) {
        cnnrt_atomic_abort(&f);
        return cnnrt_prog_error(ctx, "%s: could not write the report", path);
    }
    return PROG_OK;
}

static int run_report(const prog_ctx *ctx, const report_options *o)
{
    const cnnrt_model *m = ctx->model;
    char weights[4096], out[4096], when[64];
    if (o->weights)
        snprintf(weights, sizeof weights, "%s", o->weights);
    else
        cnnrt_prog_default_weights_path(ctx, weights, sizeof weights);
    if (access(weights, F_OK) != 0)
        return cnnrt_prog_error(ctx, "%s: no such weights file; train first (%s train), or give "
                          "--weights FILE", weights, ctx->prog);
    if (o->out)
        snprintf(out, sizeof out, "%s", o->out);
    else
        snprintf(out, sizeof out, "%s_report.html", m->name);
    cam_choice choice;
    int with_cam = m->gradcam && m->num_cam_layers > 0;
    if (with_cam && choose_cam(ctx, o, &choice) != PROG_OK)
        return PROG_USAGE;
    report_parts p;
    memset(&p, 0, sizeof p);
    int status = load_parts(ctx, o, weights, &p);
    report_content c;
    if (status == PROG_OK && with_cam && p.have_data)
        status = make_gallery(ctx, o, &choice, &p);
    if (status == PROG_OK) {
        fill_content(ctx, weights, &p, &c, when, sizeof when);
        if (with_cam) {
            c.cam_method = cnnrt_cam_method_name(choice.method);
            c.cam_layer = choice.target->name;
            if (p.have_data)
                measure_faithfulness(ctx, o, &choice, &p, &c.faith);
        }
        describe_machine(c.machine, sizeof c.machine, c.threads);
        status = write_page(ctx, out, &c);
    }
    if (status == PROG_OK)
        printf("Report: %s -- open it in a web browser.\n", out);
    parts_free(&p);
    return status;
}

int cnnrt_prog_write_report(const prog_ctx *ctx, const char *weights, const char *data,
                      int64_t threads, const char *out)
{
    report_options o = {.out = out, .weights = weights, .data = data, .method = "hirescam",
                        .threads = threads, .gallery = 6, .faith_images = 100};
    return run_report(ctx, &o);
}

int cnnrt_prog_cmd_report(const prog_ctx *ctx, int argc, char **argv)
{
    report_options o = {.method = "hirescam", .gallery = 6, .faith_images = 100};
    const prog_option options[] = {
        {"out", OPT_STRING, &o.out, 0, 0, "FILE.html", "page to write (default "
         "NAME_report.html)", NULL},
        {"weights", OPT_STRING, &o.weights, 0, 0, "FILE", "weights (default NAME.weights)",
         NULL},
        {"data", OPT_STRING, &o.data, 0, 0, "DIR", "test data: IDX files or a picture folder",
         NULL},
        {"layer", OPT_STRING, &o.layer, 0, 0, "NAME", "Grad-CAM layer (default: the model's)",
         NULL},
        {"method", OPT_STRING, &o.method, 0, 0, "M", "Grad-CAM method (default hirescam)",
         NULL},
        {"gallery", OPT_INT, &o.gallery, 0, 100, "N", "worst mistakes shown (default 6; typical right "
         "answers: one per class, up to twice as many)", NULL},
        {"faithfulness-images", OPT_INT, &o.faith_images, 0, 100000, "N", "test images for "
         "the faithfulness measures (default 100; 0 skips them)", NULL},
        {"threads", OPT_INT, &o.threads, 1, 1024, "N", "threads (default: one per CPU)", NULL},
        {"skip-bad", OPT_FLAG, &o.skip_bad, 0, 0, NULL, "leave unreadable pictures of a "
         "picture folder out", NULL},
    };
    prog_command cmd = {"report", "[OPTIONS]",
                        "Writes one self-contained HTML page about the trained model: its "
                        "layers and settings,\nthe training curves, test accuracy per class "
                        "and the confusion matrix, Grad-CAM\npictures of the worst mistakes "
                        "and of typical right answers, how faithful the heatmaps\nare, and "
                        "its speed. Open the page in any web browser; it loads nothing from "
                        "the network.", NULL, "report --out report.html", options,
                        sizeof options / sizeof options[0], 0};
    int stop, parsed = cnnrt_prog_parse_options(ctx, &cmd, argc, argv, &stop);
    if (stop)
        return parsed;
    return run_report(ctx, &o);
}
