/* Private to cmd_train.c and cmd_report.c: how fast training went, epoch by epoch, kept in
 * NAME.speed.csv beside the weights (NAME.weights -> NAME.speed.csv) so that `PROG report`
 * shows the speed training had instead of timing steps of its own.
 *
 * Why a file of its own and not the weights file's history: a wall-clock time differs from
 * run to run, and the weights file and NAME.history.csv are promised (and tested) to be the
 * same bytes for the same seed and thread count, and for an interrupted and resumed run as
 * for an uninterrupted one. The speed file is the one output of `train` that is not.
 *
 *   epoch,seconds,images,images_per_s,threads,batch_size
 *   1,4.812,6400,1330,2,64
 *   2,,,,,                     an epoch whose speed was not recorded (trained by an older
 *                              cnnc, or before --initial-epoch)
 *
 * seconds: wall-clock time of the epoch's training steps (reading the batches, augmenting
 * them, the optimizer steps), without validation and saving; images: the images those steps
 * trained. An epoch interrupted and resumed counts the part trained after resuming. */
#ifndef CNNRT_TRAIN_SPEED_H
#define CNNRT_TRAIN_SPEED_H

#include <stddef.h>
#include <stdint.h>

#include "cnnrt_common.h"

typedef struct train_speed {
    double seconds;          /* 0: not recorded */
    int64_t images, threads, batch_size;
} train_speed;

/* "NAME.weights" -> "NAME.speed.csv" (any other name: NAME + ".speed.csv"). */
void cnnrt_train_speed_path(const char *weights, char *out, size_t size);

/* Writes n records atomically (epoch i + 1 in row i). */
int cnnrt_train_speed_write(const char *path, const train_speed *records, int64_t n, cnnrt_err *e);

/* Reads up to max records into out (rows not recorded are zeroed). Returns the number of
 * rows, or -1 (with e) when the file is missing or not a speed file. */
int64_t cnnrt_train_speed_read(const char *path, train_speed *out, int64_t max, cnnrt_err *e);

/* Over the recorded epochs: total images / total seconds (0: none recorded); *threads and
 * *batch_size of the last recorded epoch, *first and *last the 1-based epochs. */
double cnnrt_train_speed_summary(const train_speed *records, int64_t n, int64_t *first,
                           int64_t *last, int64_t *threads, int64_t *batch_size);

#endif
