/* Private to cmd_report.c and report_html.c: what `PROG report` shows, gathered first
 * (cmd_report.c: weights, test set, Grad-CAM, speed) and then written as one
 * self-contained HTML page (report_html.c). Keeping the two apart lets a unit test render
 * any content -- no history, 100 classes -- without a trained model. Not installed. */
#ifndef CNNRT_REPORT_H
#define CNNRT_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cnnrt_info.h"
#include "cnnrt_weights.h"
#include "gradcam_util.h"

/* Above this many classes the confusion matrix is not drawn (it would not fit a screen);
 * the most frequent confusions are listed instead. */
enum { REPORT_MATRIX_MAX_CLASSES = 20, REPORT_TOP_CONFUSIONS = 15 };

/* One test image in the gallery: three PNG files (original, heatmap, overlay) in memory. */
typedef struct report_picture {
    int64_t index;                  /* in the test set */
    int true_class, predicted;
    float probability;              /* of the predicted class */
    uint8_t *png[3];
    size_t png_len[3];
} report_picture;

typedef struct report_content {
    const cnnrt_model_info *info;          /* layers and compile/fit settings */
    const char *weights_path;
    const char *written_at;                /* "2026-12-05 11:40 UTC" */
    /* training */
    const cnnrt_epoch_record *history;     /* may be NULL (num_history 0) */
    int64_t num_history, epochs_done, steps_done;
    uint64_t seed;
    /* test set; test_images 0 when it could not be read (test_note says why) */
    const char *test_path;
    const char *test_note;
    int64_t test_images;
    double test_accuracy, test_loss;
    const int64_t *confusion;              /* num_classes^2, rows true, columns predicted */
    int64_t num_classes;
    char *const *class_names;              /* NULL: classes are numbered */
    int outputs_probabilities;             /* 0: the model's outputs are scores */
    /* Grad-CAM gallery */
    const char *cam_method, *cam_layer;    /* NULL when the model has no Grad-CAM */
    const report_picture *mistakes, *typical;
    int num_mistakes, num_typical;
    cam_faithfulness faith;                /* faith.images 0: not measured */
    /* timings: inference measured now, training as `train` recorded it (NAME.speed.csv) */
    double infer_images_per_s;             /* 0: not measured */
    double train_images_per_s;             /* 0: not recorded (train_speed_note says why) */
    int64_t train_first_epoch, train_last_epoch, train_threads, train_batch;
    char train_speed_note[4600];
    int64_t threads;
    char machine[256];                     /* "AMD EPYC ..., 2 logical CPUs" */
} report_content;

/* Writes the page to out. Returns -1 when a write failed (ferror). */
int cnnrt_report_write_html(FILE *out, const report_content *c);

/* "7" or the class's name, as the page shows it. */
const char *cnnrt_report_class_label(const report_content *c, int64_t k, char *buf, size_t size);

#endif
