/* `PROG gradcam`: what the network looked at, as the keras.io Grad-CAM recipe draws it.
 *
 * The compiled cam entry (forward to the target layer, backward from the class score, channel
 * weights, weighted sum, ReLU, normalisation; per image) gives a small map; here it is
 * upsampled bilinearly to the input size, coloured with jet (or viridis) and laid over the
 * image with the recipe's additive overlay, then composed into the three-panel figure
 * original | heatmap | overlay, or a grid of many test images. */
#include "gradcam_util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cnnrt_image.h"
#include "mpi_ranks.h"

/* ---- batches ------------------------------------------------------------------------------ */

static int64_t input_floats(const prog_ctx *ctx)
{
    return ctx->model->input_h * ctx->model->input_w * ctx->model->input_c;
}

void cnnrt_cam_batch_alloc(cam_batch *b, const prog_ctx *ctx, int64_t n, int guided)
{
    const cnnrt_model *m = ctx->model;
    size_t un = (size_t)n;
    memset(b, 0, sizeof *b);
    b->n = n;
    b->x = cnnrt_aligned_alloc(un * (size_t)input_floats(ctx) * sizeof(float));
    b->true_labels = cnnrt_xcalloc(un, sizeof *b->true_labels);
    b->names = cnnrt_xcalloc(un, sizeof *b->names);
    b->classes = cnnrt_xcalloc(un, sizeof *b->classes);
    b->map_max = cnnrt_xcalloc(un, sizeof *b->map_max);
    b->probs = cnnrt_xcalloc(un * (size_t)m->num_classes, sizeof *b->probs);
    b->explained = cnnrt_xcalloc(un, sizeof *b->explained);
    b->big_maps = cnnrt_xcalloc(un * (size_t)(m->input_h * m->input_w), sizeof(float));
    if (guided)
        b->input_grads = cnnrt_aligned_alloc(un * (size_t)input_floats(ctx) * sizeof(float));
}

void cnnrt_cam_batch_free(cam_batch *b)
{
    free(b->x);
    free(b->true_labels);
    free(b->names);
    free(b->classes);
    free(b->maps);
    free(b->map_max);
    free(b->probs);
    free(b->input_grads);
    free(b->explained);
    free(b->big_maps);
    memset(b, 0, sizeof *b);
}

/* Runs the model's gradcam (and guided_backprop) on images [begin, end) of the batch. */
static int cam_batch_compute(cam_batch *b, const prog_ctx *ctx, const cam_choice *choice,
                             const float *params, const prog_exec *ex, int64_t begin,
                             int64_t end)
{
    const cnnrt_model *m = ctx->model;
    int64_t cells = choice->target->h * choice->target->w, k = m->num_classes;
    int64_t floats = input_floats(ctx);
    cnnrt_cam_args args = {.params = params, .x = b->x + begin * floats,
                           .classes = b->classes + begin, .n = end - begin,
                           .layer = choice->layer, .method = choice->method,
                           .score_mode = choice->score_mode, .maps = b->maps + begin * cells,
                           .map_max = b->map_max + begin, .probs = b->probs + begin * k,
                           .ws = ex->ws, .pool = ex->pool};
    if (m->gradcam(&args))
        return -1;
    if (choice->method == CNNRT_CAM_GUIDED) {
        cnnrt_guided_args guided = {.params = params, .x = b->x + begin * floats,
                                    .classes = b->classes + begin, .n = end - begin,
                                    .score_mode = choice->score_mode,
                                    .input_grads = b->input_grads + begin * floats,
                                    .ws = ex->ws, .pool = ex->pool};
        if (!m->guided_backprop || m->guided_backprop(&guided))
            return -1;
    }
    return 0;
}

/* The class each map explains and the maps at the input's size. */
static void cam_batch_finish(cam_batch *b, const prog_ctx *ctx, const cam_choice *choice)
{
    const cnnrt_model *m = ctx->model;
    int64_t cells = choice->target->h * choice->target->w, pixels = m->input_h * m->input_w;
    for (int64_t i = 0; i < b->n; i++) {
        b->explained[i] = b->classes[i] >= 0
                              ? b->classes[i]
                              : cnnrt_prog_argmax(b->probs + i * m->num_classes, m->num_classes);
        cnnrt_resize_bilinear(b->maps + i * cells, (int)choice->target->h,
                              (int)choice->target->w, 1, b->big_maps + i * pixels,
                              (int)m->input_h, (int)m->input_w);
    }
}

int cnnrt_cam_batch_run(cam_batch *b, const prog_ctx *ctx, const cam_choice *choice,
                  const float *params, const prog_exec *ex)
{
    free(b->maps);
    b->maps = cnnrt_xcalloc((size_t)(b->n * choice->target->h * choice->target->w),
                            sizeof(float));
    if (cam_batch_compute(b, ctx, choice, params, ex, 0, b->n))
        return -1;
    cam_batch_finish(b, ctx, choice);
    return 0;
}

/* cnnrt_cam_batch_run with the images split over the ranks under mpirun (mpi_ranks.h): each
 * computes its share, then every rank gathers all the results in input order (the maps of
 * an image do not depend on the others, so they are one process's). Returns -2 after
 * printing why the ranks could not gather. */
static int cam_batch_run_ranks(cam_batch *b, const prog_ctx *ctx, const cam_choice *choice,
                               const float *params, const prog_exec *ex)
{
    if (cnnrt_mpi_size() == 1)
        return cnnrt_cam_batch_run(b, ctx, choice, params, ex);
    int64_t cells = choice->target->h * choice->target->w, begin, end;
    int64_t k = ctx->model->num_classes;
    free(b->maps);
    b->maps = cnnrt_xcalloc((size_t)(b->n * cells), sizeof(float));
    cnnrt_mpi_share(b->n, &begin, &end);
    int failed = cam_batch_compute(b, ctx, choice, params, ex, begin, end) ? PROG_ERROR
                                                                             : PROG_OK;
    if (cnnrt_mpi_agree(failed, ctx->speaker) != PROG_OK)
        return -1;
    cnnrt_err e;
    if (cnnrt_mpi_gather_rows(b->maps, b->n, cells * (int64_t)sizeof(float), &e) ||
        cnnrt_mpi_gather_rows(b->map_max, b->n, sizeof(float), &e) ||
        cnnrt_mpi_gather_rows(b->probs, b->n, k * (int64_t)sizeof(float), &e) ||
        (choice->method == CNNRT_CAM_GUIDED &&
         cnnrt_mpi_gather_rows(b->input_grads, b->n, input_floats(ctx) * (int64_t)sizeof(float),
                               &e))) {
        fprintf(stderr, "%s: error: %s\n", ctx->speaker, e.msg);
        return -2;
    }
    cam_batch_finish(b, ctx, choice);
    return 0;
}

/* ---- options ------------------------------------------------------------------------------ */

typedef struct gradcam_options {
    int64_t index, first, class_id, threads;
    int index_given, first_given, class_given, grid, evaluate;
    const char *layer, *method, *score, *colormap, *out, *raw, *weights, *data;
    const char *out_dir, *raw_scale, *prepare;
    double alpha;
} gradcam_options;

enum { MAX_ROWS = 50 };   /* rows of three panels in one picture */

/* What the options resolve to. */
typedef struct gradcam_plan {
    cam_choice choice;
    cnnrt_colormap cmap;
    prog_input_list pictures;   /* the user's own pictures (files and folders expanded) */
    prog_prepare prepare;
    prog_classes classes;       /* names for captions and grids */
    int probabilities;          /* the outputs are probabilities (else scores) */
    int raw_unscaled;           /* --raw-scale none */
    char out_path[4096];        /* the one figure (rows or grid), when there is one */
} gradcam_plan;

static int layer_position(const prog_ctx *ctx, const char *layer)
{
    for (int i = 0; i < ctx->info.num_layers; i++)
        if (!strcmp(ctx->info.layers[i].name, layer))
            return i;
    return -1;
}

/* The layers Grad-CAM can explain, "a, b, c". */
static void cam_layer_list(const prog_ctx *ctx, char *buf, size_t size)
{
    buf[0] = '\0';
    const cnnrt_model *m = ctx->model;
    for (int64_t i = 0; i < m->num_cam_layers; i++) {
        size_t used = strlen(buf);
        if (snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                     m->cam_layers[i].name) < 0)
            return;
    }
}

/* The index of a target layer in model->cam_layers, or -1. */
int64_t cnnrt_cam_layer_index(const cnnrt_model *m, const char *name)
{
    for (int64_t i = 0; i < m->num_cam_layers; i++)
        if (!strcmp(m->cam_layers[i].name, name))
            return i;
    return -1;
}

/* The model file's gradcam layer if Grad-CAM can target it, else the last target layer. */
const char *cnnrt_cam_default_layer(const prog_ctx *ctx)
{
    const cnnrt_model *m = ctx->model;
    if (ctx->info.gradcam_layer[0] && cnnrt_cam_layer_index(m, ctx->info.gradcam_layer) >= 0)
        return ctx->info.gradcam_layer;
    return m->cam_layers[m->num_cam_layers - 1].name;
}

static int resolve_choice(const prog_ctx *ctx, const gradcam_options *o, gradcam_plan *plan)
{
    const cnnrt_model *m = ctx->model;
    if (!m->gradcam || m->num_cam_layers == 0)
        return cnnrt_prog_error(ctx, "model %s was compiled without Grad-CAM", m->name);
    int method = cnnrt_vocab_code(cnnrt_vocab_cam_methods(), o->method);
    if (method < 0) {
        char list[256];
        return cnnrt_prog_usage_error(ctx, "gradcam", "unknown --method '%s' (choose %s)", o->method,
                                cnnrt_vocab_list(cnnrt_vocab_cam_methods(), ", ", " or ",
                                                 list, sizeof list));
    }
    if (method == CNNRT_CAM_GUIDED && !m->guided_backprop)
        return cnnrt_prog_error(ctx, "model %s was compiled without guided backpropagation",
                          m->name);
    const char *layer = o->layer ? o->layer : cnnrt_cam_default_layer(ctx);
    char layers[2048];
    cam_layer_list(ctx, layers, sizeof layers);
    int64_t index = cnnrt_cam_layer_index(m, layer);
    if (index < 0 && layer_position(ctx, layer) >= 0)
        return cnnrt_prog_usage_error(ctx, "gradcam", "layer '%s' has no spatial output to explain; "
                                "Grad-CAM layers of %s: %s", layer, m->name, layers);
    if (index < 0)
        return cnnrt_prog_usage_error(ctx, "gradcam", "no layer named '%s'; Grad-CAM layers of %s: %s",
                                layer, m->name, layers);
    plan->choice.layer = index;
    plan->choice.target = &m->cam_layers[index];
    plan->choice.method = method;
    return PROG_OK;
}

static int resolve_plan(const prog_ctx *ctx, gradcam_options *o, char **files, int nfiles,
                        gradcam_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->probabilities = cnnrt_prog_outputs_probabilities(ctx);
    int sources = o->index_given + o->first_given + (nfiles > 0);
    if (sources > 1)
        return cnnrt_prog_usage_error(ctx, "gradcam", "give one of --index N, --first K or pictures");
    if (o->grid && !o->first_given && nfiles == 0)
        return cnnrt_prog_usage_error(ctx, "gradcam", "--grid goes with --first K or pictures");
    if (o->first_given && !o->grid && !o->out_dir && o->first > MAX_ROWS &&
        (!o->evaluate || o->out))
        return cnnrt_prog_usage_error(ctx, "gradcam", "--first %lld would draw %lld rows of panels "
                                "in one picture; add --out-dir DIR (one figure per image) or "
                                "--grid, or use at most %d", (long long)o->first,
                                (long long)o->first, MAX_ROWS);
    if (o->class_given && o->class_id >= ctx->model->num_classes)
        return cnnrt_prog_usage_error(ctx, "gradcam", "--class must be 0..%lld, not %lld",
                                (long long)ctx->model->num_classes - 1, (long long)o->class_id);
    if (o->data && nfiles > 0)
        return cnnrt_prog_usage_error(ctx, "gradcam", "--data goes with --index or --first, not "
                                "pictures");
    if (o->out_dir && o->out && !o->grid)
        return cnnrt_prog_usage_error(ctx, "gradcam", "--out-dir writes one figure per picture; "
                                "--out names the one figure (with --out-dir, only the --grid)");
    if (o->raw_scale && strcmp(o->raw_scale, "max") && strcmp(o->raw_scale, "none"))
        return cnnrt_prog_usage_error(ctx, "gradcam", "--raw-scale must be max or none");
    plan->raw_unscaled = o->raw_scale && !strcmp(o->raw_scale, "none");
    if (o->prepare && cnnrt_prog_parse_prepare(o->prepare, &plan->prepare))
        return cnnrt_prog_usage_error(ctx, "gradcam", "--prepare must be auto, digit or resize");
    plan->choice.score_mode = cnnrt_vocab_code(cnnrt_vocab_score_modes(), o->score);
    if (plan->choice.score_mode < 0) {
        char list[128];
        return cnnrt_prog_usage_error(ctx, "gradcam", "unknown --score '%s' (choose %s)", o->score,
                                cnnrt_vocab_list(cnnrt_vocab_score_modes(), ", ", " or ", list,
                                                 sizeof list));
    }
    if (strcmp(o->colormap, "jet") && strcmp(o->colormap, "viridis"))
        return cnnrt_prog_usage_error(ctx, "gradcam", "unknown --colormap '%s' (choose jet or viridis)",
                                o->colormap);
    cnnrt_colormap_from_name(o->colormap, &plan->cmap, NULL);
    if (sources == 0)
        o->index_given = 1;   /* default: test image o->index (0) */
    int status = resolve_choice(ctx, o, plan);
    if (status == PROG_OK && nfiles > 0) {
        status = cnnrt_prog_expand_inputs(ctx, files, nfiles, &plan->pictures);
        if (status == PROG_OK && plan->pictures.count == 0)
            status = cnnrt_prog_error(ctx, "no pictures to explain");
    }
    return status;
}

static void plan_free(gradcam_plan *plan)
{
    cnnrt_prog_input_list_free(&plan->pictures);
    cnnrt_prog_classes_free(&plan->classes);
}

/* ---- loading the images ---------------------------------------------------------------- */

/* The data set's class names, kept after the data set is freed. */
static void keep_dataset_names(const prog_ctx *ctx, const cnnrt_dataset *ds, const char *weights,
                               prog_classes *classes)
{
    cnnrt_prog_classes_free(classes);
    if (!ds->class_names || ds->num_class_names != ctx->model->num_classes) {
        cnnrt_prog_classes_beside_weights(ctx, weights, classes);
        return;
    }
    classes->names = cnnrt_xcalloc((size_t)ds->num_class_names, sizeof *classes->names);
    for (int64_t k = 0; k < ds->num_class_names; k++)
        classes->names[k] = strdup(ds->class_names[k]);
    classes->count = ds->num_class_names;
    classes->owned = 1;
}

static int load_test_images(const prog_ctx *ctx, const gradcam_options *o, gradcam_plan *plan,
                            cam_batch *b, int guided)
{
    cnnrt_dataset ds;
    cnnrt_err e;
    if (cnnrt_prog_load_dataset(ctx, o->data, CNNRT_SPLIT_TEST, &ds, &e))
        return cnnrt_prog_error(ctx, "%s", e.msg);
    int64_t first = o->first_given ? 0 : o->index;
    int64_t n = o->first_given ? o->first : 1;
    int status = PROG_OK;
    if (first + n > ds.count) {
        status = o->first_given
                     ? cnnrt_prog_error(ctx, "--first %lld asks for more images than %s has (%lld)",
                                  (long long)n, ds.images_path, (long long)ds.count)
                     : cnnrt_prog_error(ctx, "--index %lld is past the end of %s (%lld images, 0..%lld)",
                                  (long long)first, ds.images_path, (long long)ds.count,
                                  (long long)ds.count - 1);
    } else {
        keep_dataset_names(ctx, &ds, o->weights, &plan->classes);
        cnnrt_cam_batch_alloc(b, ctx, n, guided);
        cnnrt_dataset_to_float(&ds, first, n, b->x);
        for (int64_t i = 0; i < n; i++) {
            b->true_labels[i] = ds.labels[first + i];
            snprintf(b->names[i], sizeof b->names[i], "test image %lld", (long long)(first + i));
            b->classes[i] = o->class_given ? (int32_t)o->class_id : -1;
        }
    }
    cnnrt_dataset_free(&ds);
    return status;
}

/* Every picture of the plan that can be read; the others are reported by path and left
 * out, and make the command fail at the end (after the others are explained). */
static int load_user_images(const prog_ctx *ctx, const gradcam_options *o, gradcam_plan *plan,
                            cam_batch *b, int guided)
{
    int status = PROG_OK;
    int64_t n = 0, inverted_count = 0;
    cnnrt_prog_classes_beside_weights(ctx, o->weights, &plan->classes);
    cnnrt_cam_batch_alloc(b, ctx, plan->pictures.count, guided);
    for (int64_t i = 0; i < plan->pictures.count; i++) {
        const char *path = plan->pictures.paths[i];
        cnnrt_err e;
        int inverted;
        if (cnnrt_prog_picture_to_input(ctx, path, plan->prepare, b->x + n * input_floats(ctx),
                                  &inverted, NULL, &e)) {
            status = cnnrt_prog_error(ctx, "%s", e.msg);
            continue;
        }
        inverted_count += inverted;
        if (inverted && plan->pictures.count == 1)
            printf("%s: dark on light, inverted to a light digit on black like MNIST\n", path);
        b->true_labels[n] = -1;
        snprintf(b->names[n], sizeof b->names[n], "%s", path);
        b->classes[n] = o->class_given ? (int32_t)o->class_id : -1;
        n++;
    }
    if (inverted_count && plan->pictures.count > 1)
        printf("%lld of %lld pictures were dark on light: inverted like MNIST's digits\n",
               (long long)inverted_count, (long long)plan->pictures.count);
    b->n = n;
    if (n == 0) {
        cnnrt_cam_batch_free(b);
        return PROG_ERROR;
    }
    return status;
}

/* ---- pictures --------------------------------------------------------------------------- */

/* The pictures of one image: original, coloured heatmap, overlay, and for the guided method
 * the guided Grad-CAM in gray. */
typedef struct cam_pictures {
    cnnrt_image original, heat, overlay, guided;
} cam_pictures;

static void cam_pictures_free(cam_pictures *p)
{
    cnnrt_image_free(&p->original);
    cnnrt_image_free(&p->heat);
    cnnrt_image_free(&p->overlay);
    cnnrt_image_free(&p->guided);
}

/* Guided Grad-CAM: guided backpropagation (mean over channels) times the upsampled map,
 * shown as |value| / max |value| in gray. */
static int guided_picture(const prog_ctx *ctx, const float *grads, const float *big_map,
                          cnnrt_image *out, cnnrt_err *e)
{
    const cnnrt_model *m = ctx->model;
    int64_t pixels = m->input_h * m->input_w, c = m->input_c;
    float *v = cnnrt_xcalloc((size_t)pixels, sizeof *v);
    float peak = 0;
    for (int64_t p = 0; p < pixels; p++) {
        float g = 0;
        for (int64_t k = 0; k < c; k++)
            g += grads[p * c + k];
        v[p] = fabsf(g / (float)c * big_map[p]);
        if (v[p] > peak)
            peak = v[p];
    }
    for (int64_t p = 0; p < pixels && peak > 0; p++)
        v[p] /= peak;
    int rc = cnnrt_image_from_floats(v, (int)m->input_h, (int)m->input_w, 1, out, e);
    free(v);
    return rc;
}

static int make_pictures(const prog_ctx *ctx, const cam_batch *b, int64_t i,
                         const gradcam_plan *plan, double alpha, cam_pictures *p, cnnrt_err *e)
{
    const cnnrt_model *m = ctx->model;
    int h = (int)m->input_h, w = (int)m->input_w;
    const float *big = b->big_maps + i * h * w;
    memset(p, 0, sizeof *p);
    if (cnnrt_image_from_floats(b->x + i * input_floats(ctx), h, w, (int)m->input_c,
                                &p->original, e) ||
        cnnrt_heatmap_to_rgb(big, h, w, plan->cmap, &p->heat, e) ||
        cnnrt_overlay(&p->heat, &p->original, CNNRT_OVERLAY_ADDITIVE, (float)alpha, &p->overlay,
                      e))
        return -1;
    if (plan->choice.method == CNNRT_CAM_GUIDED &&
        guided_picture(ctx, b->input_grads + i * input_floats(ctx), big, &p->guided, e))
        return -1;
    return 0;
}

/* "true 7 - pred 7 (99.2%)" with class names when there are some, a score instead of a
 * percentage for a model without softmax, and the explained class when --class chose
 * another one. */
static void caption(const prog_ctx *ctx, const gradcam_plan *plan, const cam_batch *b,
                    int64_t i, int short_form, int show_explained, char *buf, size_t size)
{
    int64_t k = ctx->model->num_classes;
    int pred = cnnrt_prog_argmax(b->probs + i * k, k);
    double value = b->probs[i * k + pred];
    char num[32], num2[32];
    size_t used = 0;
    if (b->true_labels[i] >= 0)
        used = (size_t)snprintf(buf, size, short_form ? "true %s\n" : "true %s - ",
                                cnnrt_prog_class_name(&plan->classes, b->true_labels[i], num,
                                                sizeof num));
    if (used >= size)
        used = size - 1;
    const char *name = cnnrt_prog_class_name(&plan->classes, pred, num, sizeof num);
    if (plan->probabilities)
        snprintf(buf + used, size - used, short_form ? "pred %s (%.0f%%)" : "pred %s (%.1f%%)",
                 name, 100.0 * value);
    else
        snprintf(buf + used, size - used, "pred %s (score %.3g)", name, value);
    used = strlen(buf);
    if (show_explained && b->explained[i] != pred)
        snprintf(buf + used, size - used, "\nmap of class %s",
                 cnnrt_prog_class_name(&plan->classes, b->explained[i], num2, sizeof num2));
}

static int panel_scale(const prog_ctx *ctx, int target)
{
    int64_t side = ctx->model->input_h > ctx->model->input_w ? ctx->model->input_h
                                                            : ctx->model->input_w;
    int s = (int)(target / side);
    return s < 1 ? 1 : s > 16 ? 16 : s;
}

/* Images first..first+n-1 of the batch in one picture: one row of panels per image
 * (original | heatmap | overlay [| guided]), or as a grid one overlay per image,
 * misclassified ones framed in red. */
static int write_figure(const prog_ctx *ctx, const cam_batch *b, const gradcam_plan *plan,
                        const gradcam_options *o, int64_t first, int64_t n, int grid,
                        const char *path, cnnrt_err *e)
{
    int guided = plan->choice.method == CNNRT_CAM_GUIDED;
    int per_image = grid ? 1 : guided ? 4 : 3;
    int64_t k = ctx->model->num_classes;
    cam_pictures *pics = cnnrt_xcalloc((size_t)n, sizeof *pics);
    cnnrt_panel_item *items = cnnrt_xcalloc((size_t)(n * per_image), sizeof *items);
    char (*captions)[256] = cnnrt_xcalloc((size_t)n, sizeof *captions);
    int rc = 0;
    for (int64_t j = 0; j < n && rc == 0; j++) {
        int64_t i = first + j;
        rc = make_pictures(ctx, b, i, plan, o->alpha, &pics[j], e);
        /* a grid explaining one --class says so once, in the title */
        caption(ctx, plan, b, i, grid, !(grid && o->class_given), captions[j],
                sizeof captions[j]);
        int wrong = b->true_labels[i] >= 0 &&
                    cnnrt_prog_argmax(b->probs + i * k, k) != b->true_labels[i];
        cnnrt_panel_item *row = items + j * per_image;
        if (grid) {
            row[0] = (cnnrt_panel_item){&pics[j].overlay, captions[j], wrong};
            continue;
        }
        row[0] = (cnnrt_panel_item){&pics[j].original, n > 1 ? captions[j] : "original", wrong};
        row[1] = (cnnrt_panel_item){&pics[j].heat, "heatmap", 0};
        row[2] = (cnnrt_panel_item){&pics[j].overlay, "overlay", 0};
        if (guided)
            row[3] = (cnnrt_panel_item){&pics[j].guided, "guided grad-cam", 0};
    }
    /* The red frame's legend only where some picture has a true label to be wrong about
     * (test images; a user's own pictures have none). */
    int any_label = 0;
    for (int64_t j = 0; j < n; j++)
        any_label |= b->true_labels[first + j] >= 0;
    char title[512], class_note[160] = "", num[32];
    if (o->class_given)
        snprintf(class_note, sizeof class_note, "\nmaps of class %s",
                 cnnrt_prog_class_name(&plan->classes, o->class_id, num, sizeof num));
    if (n == 1 && !grid)
        snprintf(title, sizeof title, "%s", captions[0]);
    else
        snprintf(title, sizeof title, "%s on layer %s%s%s",
                 cnnrt_cam_method_name(plan->choice.method), plan->choice.target->name,
                 grid && any_label ? " (red frame: wrong prediction)" : "", class_note);
    cnnrt_image figure = {0};
    if (rc == 0) {
        cnnrt_panel_style style;
        cnnrt_panel_style_default(&style);
        style.cols = grid ? (int)ceil(sqrt((double)n)) : per_image;
        style.scale = panel_scale(ctx, grid ? 112 : 224);
        style.title = title;
        rc = cnnrt_panel_compose(items, (int)(n * per_image), &style, &figure, e);
    }
    if (rc == 0)
        rc = cnnrt_png_write(path, &figure, e);
    cnnrt_image_free(&figure);
    for (int64_t j = 0; j < n; j++)
        cam_pictures_free(&pics[j]);
    free(pics);
    free(items);
    free(captions);
    return rc;
}

/* --raw: CSV with the header image,name,row,col,value and one line per cell of every map
 * (before upsampling): image is the 0-based position in the output, name the picture's
 * path or "test image N". The value is the map as drawn (ReLU, divided by its maximum) or
 * with --raw-scale none before the division. */
static int write_raw(const char *path, const cam_batch *b, const cnnrt_cam_layer *entry,
                     int unscaled, cnnrt_err *e)
{
    cnnrt_atomic_file f;
    if (cnnrt_atomic_open(&f, path, e))
        return -1;
    int64_t cells = entry->h * entry->w;
    fprintf(f.fp, "image,name,row,col,value\n");
    for (int64_t i = 0; i < b->n; i++) {
        float scale = unscaled && b->map_max[i] > 0 && isfinite(b->map_max[i]) ? b->map_max[i]
                                                                               : 1.0f;
        for (int64_t y = 0; y < entry->h; y++)
            for (int64_t x = 0; x < entry->w; x++) {
                fprintf(f.fp, "%lld,", (long long)i);
                cnnrt_prog_csv_field(f.fp, b->names[i]);
                fprintf(f.fp, ",%lld,%lld,%.6g\n", (long long)y, (long long)x,
                        (double)(b->maps[i * cells + y * entry->w + x] * scale));
            }
    }
    return cnnrt_atomic_commit(&f, e);
}

/* The last part of a path without its extension, at most 200 bytes. */
static void base_name(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base)
        len = (size_t)(dot - base);
    snprintf(out, size, "%.*s", (int)(len < 200 ? len : 200), base);
}

/* MODEL_gradcam_..., so that two programs in one folder do not overwrite each other's. */
static void default_out_path(const prog_ctx *ctx, const gradcam_options *o,
                             const gradcam_plan *plan, char *out, size_t size)
{
    const char *model = ctx->model->name;
    char base[256];
    if (plan->pictures.count == 1 && !o->grid) {
        base_name(plan->pictures.paths[0], base, sizeof base);
        snprintf(out, size, "%s_gradcam_%s.png", model, base);
    } else if (plan->pictures.count > 0) {
        snprintf(out, size, "%s_gradcam_%s%lld.png", model, o->grid ? "grid_" : "pictures_",
                 (long long)plan->pictures.count);
    } else if (o->first_given) {
        snprintf(out, size, "%s_gradcam_%s%lld.png", model, o->grid ? "grid_" : "first_",
                 (long long)o->first);
    } else {
        snprintf(out, size, "%s_gradcam_%lld.png", model, (long long)o->index);
    }
    if (o->out_dir)   /* the grid beside the figures */
        snprintf(out, size, "%.*s/grid.png", (int)(size - 16), o->out_dir);
}

/* Says which maps came out all zero (one line for a batch, not one per image) and, for a
 * single image, its caption. */
static void report_maps(const prog_ctx *ctx, const gradcam_plan *plan, const cam_batch *b)
{
    const char *hint = plan->choice.method == CNNRT_CAM_HIRESCAM
                           ? ""
                           : " (Grad-CAM averages the gradient over the whole map, which can "
                             "cancel out; --method hirescam keeps where it points)";
    int64_t blank = 0;
    for (int64_t i = 0; i < b->n; i++)
        blank += b->map_max[i] <= 0 || !isfinite(b->map_max[i]);
    char num[32];
    if (b->n == 1 && blank)
        cnnrt_prog_warning(ctx, "%s: no positive evidence for class %s: the map is all zero%s",
                     b->names[0], cnnrt_prog_class_name(&plan->classes, b->explained[0], num,
                                                  sizeof num), hint);
    else if (blank)
        cnnrt_prog_warning(ctx, "%lld of %lld maps are all zero: no positive evidence for the "
                     "class%s", (long long)blank, (long long)b->n, hint);
    if (b->n == 1) {
        char text[320];
        caption(ctx, plan, b, 0, 0, 1, text, sizeof text);
        char *second_line = strchr(text, '\n');
        if (second_line)
            *second_line++ = '\0';
        printf("%s: %s%s%s\n", b->names[0], text, second_line ? ", " : "",
               second_line ? second_line : "");
    }
}

/* mkdir -p: every missing folder of path. */
static int make_dirs(const char *path, cnnrt_err *e)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        struct stat st;
        if (stat(buf, &st) != 0 && mkdir(buf, 0777) != 0 && errno != EEXIST)
            return cnnrt_fail(e, "%s: cannot create the folder: %s", buf, strerror(errno));
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            return cnnrt_fail(e, "%s: not a folder", buf);
        *p = saved;
        if (!saved)
            return 0;
    }
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --out-dir: one figure per image, DIR/NAME_gradcam.png after the picture's file name
 * ("test_N" for test image N). Two pictures of the same name from different folders get
 * their position in the list added: NAME_POS_gradcam.png. */
static int write_figures_to_dir(const prog_ctx *ctx, const cam_batch *b,
                                const gradcam_plan *plan, const gradcam_options *o,
                                cnnrt_err *e)
{
    if (make_dirs(o->out_dir, e))
        return -1;
    char (*bases)[256] = cnnrt_xcalloc((size_t)b->n + 1, sizeof *bases);
    char **sorted = cnnrt_xcalloc((size_t)b->n + 1, sizeof *sorted);
    for (int64_t i = 0; i < b->n; i++) {
        if (plan->pictures.count > 0)
            base_name(b->names[i], bases[i], sizeof bases[i]);
        else
            snprintf(bases[i], sizeof bases[i], "test_%s", b->names[i] + strlen("test image "));
        sorted[i] = bases[i];
    }
    qsort(sorted, (size_t)b->n, sizeof *sorted, compare_strings);
    int rc = 0;
    for (int64_t i = 0; i < b->n && rc == 0; i++) {
        char key[256], path[4500], text[320];
        snprintf(key, sizeof key, "%s", bases[i]);
        const char *k = key;
        char **found = bsearch(&k, sorted, (size_t)b->n, sizeof *sorted, compare_strings);
        int duplicate = (found > sorted && !strcmp(found[-1], key)) ||
                        (found + 1 < sorted + b->n && !strcmp(found[1], key));
        if (duplicate)
            snprintf(path, sizeof path, "%s/%s_%lld_gradcam.png", o->out_dir, key, (long long)i);
        else
            snprintf(path, sizeof path, "%s/%s_gradcam.png", o->out_dir, key);
        rc = write_figure(ctx, b, plan, o, i, 1, 0, path, e);
        if (rc == 0) {
            caption(ctx, plan, b, i, 0, 1, text, sizeof text);
            for (char *nl = strchr(text, '\n'); nl; nl = strchr(nl, '\n'))
                *nl = ',';
            printf("%s: %s -> %s\n", b->names[i], text, path);
        }
    }
    free(sorted);
    free(bases);
    return rc;
}

/* ---- the command ---------------------------------------------------------------------------- */

static int run_gradcam(const prog_ctx *ctx, const gradcam_options *o, gradcam_plan *plan,
                       const float *params)
{
    int guided = plan->choice.method == CNNRT_CAM_GUIDED;
    cam_batch b;
    int load_status = plan->pictures.count > 0 ? load_user_images(ctx, o, plan, &b, guided)
                                               : load_test_images(ctx, o, plan, &b, guided);
    /* Under mpirun every rank loads the images; one that could not stops them all. */
    if (cnnrt_mpi_agree(load_status != PROG_OK && b.n == 0 ? load_status : PROG_OK,
                        ctx->speaker) != PROG_OK) {
        if (b.n > 0 || load_status == PROG_OK)
            cnnrt_cam_batch_free(&b);
        return load_status != PROG_OK ? load_status : PROG_ERROR;
    }
    int status = PROG_OK;
    prog_exec ex;
    cnnrt_err e;
    if (cnnrt_prog_exec_init(ctx, (int)o->threads, &ex, &e)) {
        cnnrt_cam_batch_free(&b);
        return cnnrt_prog_error(ctx, "%s", e.msg);
    }
    int computed = cam_batch_run_ranks(&b, ctx, &plan->choice, params, &ex);
    if (computed != 0 || cnnrt_mpi_rank() > 0) {   /* rank 0 alone writes and prints */
        cnnrt_prog_exec_free(&ex);
        cnnrt_cam_batch_free(&b);
        if (computed == 0 || computed == -2)
            return computed == 0 ? PROG_OK : PROG_ERROR;
        return cnnrt_prog_error(ctx, "model %s cannot compute %s for layer %s",
                          ctx->model->name, cnnrt_cam_method_name(plan->choice.method),
                          plan->choice.target->name);
    }
    report_maps(ctx, plan, &b);
    if (o->evaluate)
        cnnrt_cam_evaluate_print(&b, ctx, &plan->choice, params, &ex, ctx->info.seed);
    if (o->raw) {
        if (write_raw(o->raw, &b, plan->choice.target, plan->raw_unscaled, &e))
            status = cnnrt_prog_error(ctx, "%s", e.msg);
        else
            printf("Wrote the map values (%lldx%lld per image) to %s\n",
                   (long long)plan->choice.target->h, (long long)plan->choice.target->w,
                   o->raw);
    }
    const char *what = cnnrt_cam_method_name(plan->choice.method);
    if (status == PROG_OK && o->out_dir) {
        if (write_figures_to_dir(ctx, &b, plan, o, &e))
            status = cnnrt_prog_error(ctx, "%s", e.msg);
        else
            printf("Wrote %lld figures to %s (%s of layer %s)\n", (long long)b.n, o->out_dir,
                   what, plan->choice.target->name);
    }
    int one_figure = o->out_dir ? o->grid : (!o->evaluate || o->out);
    if (status == PROG_OK && one_figure) {
        if (b.n > MAX_ROWS && !o->grid)
            status = cnnrt_prog_error(ctx, "%lld pictures would draw %lld rows of panels in one "
                                "picture; add --out-dir DIR (one figure each) or --grid",
                                (long long)b.n, (long long)b.n);
        else if (write_figure(ctx, &b, plan, o, 0, b.n, o->grid, plan->out_path, &e))
            status = cnnrt_prog_error(ctx, "%s", e.msg);
        else
            printf("Wrote %s (%s of layer %s)\n", plan->out_path, what,
                   plan->choice.target->name);
    }
    cnnrt_prog_exec_free(&ex);
    cnnrt_cam_batch_free(&b);
    return status != PROG_OK ? status : load_status;
}

static const char gradcam_intro[] =
    "Grad-CAM shows which parts of the image made the network choose a class: red is\n"
    "important, blue is not. The figure has three panels: the image, the heatmap, and the\n"
    "heatmap laid over the image. Without an image argument it explains test image 0.\n"
    "--method (hirescam is the default):\n";

static const char gradcam_notes[] =
    "HiResCAM is Grad-CAM without the averaging: the two are equal when the model ends in\n"
    "global average pooling, and after a Flatten -> Dense head (as in models/mnist.cnn)\n"
    "HiResCAM shows exactly which positions raised the class score, where Grad-CAM's\n"
    "averages often cancel out and leave a blank map. guided adds a fine-grained panel.\n"
    "--method gradcam --score softmax reproduces the Keras tutorial.\n"
    "--score logit explains the class score before softmax (today's keras.io recipe);\n"
    "softmax reproduces the original tutorial exactly. Grad-CAM++'s weights use the\n"
    "paper's closed form for an exponential of the score: with --score logit that is\n"
    "exp(logit), with --score softmax the same formula on the softmax's gradient.\n"
    "--raw writes CSV with the header image,name,row,col,value, one line per cell of\n"
    "each map before upsampling: the map as drawn (negative values set to 0, then\n"
    "divided by the largest), or with --raw-scale none before the division.\n"
    "Pictures and folders (every picture in them) are prepared as predict prepares them;\n"
    "--out-dir DIR writes one captioned figure per picture, DIR/NAME_gradcam.png.\n"
    "--evaluate --first K measures how faithful the maps are (deletion AUC, energy inside\n"
    "the digit) against a random map, and draws a picture only with --out.";

/* The help paragraph: the intro, one line per method (from cnnrt_vocab.h), the notes. */
static void gradcam_details(char *buf, size_t size)
{
    cnnrt_vocab methods = cnnrt_vocab_cam_methods();
    size_t used = (size_t)snprintf(buf, size, "%s", gradcam_intro);
    for (int i = 0; i < methods.count && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "  %-10s %s\n",
                                 methods.words[i].spelling, methods.words[i].help);
    if (used < size)
        snprintf(buf + used, size - used, "%s", gradcam_notes);
}

int cnnrt_prog_cmd_gradcam(const prog_ctx *ctx, int argc, char **argv)
{
    gradcam_options o = {.alpha = CNNRT_OVERLAY_KERAS_ALPHA, .method = "hirescam",
                         .score = "logit", .colormap = "jet"};
    char method_help[256], details[4096];
    cnnrt_vocab_list(cnnrt_vocab_cam_methods(), "|", "|", method_help, sizeof method_help);
    gradcam_details(details, sizeof details);
    const prog_option options[] = {
        {"index", OPT_INT, &o.index, 0, 1e9, "N", "explain test image N", &o.index_given},
        {"first", OPT_INT, &o.first, 1, 1e9, "K", "explain test images 0..K-1",
         &o.first_given},
        {"grid", OPT_FLAG, &o.grid, 0, 0, NULL, "one grid of overlays (with --first or pictures)",
         NULL},
        {"out-dir", OPT_STRING, &o.out_dir, 0, 0, "DIR", "one figure per picture in DIR",
         NULL},
        {"layer", OPT_STRING, &o.layer, 0, 0, "NAME", "target layer (default: the model's)",
         NULL},
        {"method", OPT_STRING, &o.method, 0, 0, "M", method_help, NULL},
        {"class", OPT_INT, &o.class_id, 0, 1e6, "C", "explain class C (default: predicted)",
         &o.class_given},
        {"score", OPT_STRING, &o.score, 0, 0, "S", "logit (default) or softmax", NULL},
        {"alpha", OPT_DOUBLE, &o.alpha, 0.01, 100, "A", "heatmap weight in the overlay (0.4)",
         NULL},
        {"colormap", OPT_STRING, &o.colormap, 0, 0, "NAME", "jet (default) or viridis", NULL},
        {"out", OPT_STRING, &o.out, 0, 0, "FILE.png", "picture to write", NULL},
        {"raw", OPT_STRING, &o.raw, 0, 0, "FILE.csv", "also write the map values", NULL},
        {"raw-scale", OPT_STRING, &o.raw_scale, 0, 0, "max|none", "--raw values divided by "
         "the map's maximum (default) or not", NULL},
        {"prepare", OPT_STRING, &o.prepare, 0, 0, "auto|digit|resize", "how a picture becomes "
         "the input (as predict)", NULL},
        {"evaluate", OPT_FLAG, &o.evaluate, 0, 0, NULL, "faithfulness report", NULL},
        {"weights", OPT_STRING, &o.weights, 0, 0, "FILE", "weights (default NAME.weights)",
         NULL},
        {"data", OPT_STRING, &o.data, 0, 0, "DIR", "directory with the test IDX files", NULL},
        {"threads", OPT_INT, &o.threads, 1, 1024, "N", "threads (default: one per CPU)", NULL},
    };
    prog_command cmd = {"gradcam", "[--index N | --first K | PICTURE|FOLDER...] [OPTIONS]",
                        "Draws what the network looked at (Grad-CAM).", details,
                        "gradcam --index 4 --out seven.png", options,
                        sizeof options / sizeof options[0], -1};
    char **files = cnnrt_xcalloc((size_t)argc + 1, sizeof *files);
    int nfiles;
    int r = cnnrt_prog_parse(ctx, &cmd, argc, argv, files, &nfiles);
    gradcam_plan plan;
    int status = r > 0 ? PROG_OK : r < 0 ? PROG_USAGE : resolve_plan(ctx, &o, files, nfiles, &plan);
    if (r == 0 && status == PROG_OK) {
        if (o.out)
            snprintf(plan.out_path, sizeof plan.out_path, "%s", o.out);
        else
            default_out_path(ctx, &o, &plan, plan.out_path, sizeof plan.out_path);
        float *params = cnnrt_aligned_alloc((size_t)(ctx->model->param_floats + 1) *
                                            sizeof *params);
        status = cnnrt_prog_need_trained_weights(ctx, o.weights, params);
        if (status == PROG_OK)
            status = run_gradcam(ctx, &o, &plan, params);
        free(params);
    }
    if (r == 0)
        plan_free(&plan);
    free(files);
    return status;
}
