/* A Keras-like training progress line.
 *
 * On a terminal (is_tty != 0) the line is redrawn in place with '\r' at most every 0.05 s:
 *
 *   Epoch 1/10
 *   375/750 [==============>...............] - ETA 3s - loss: 0.2209 - acc: 0.9348
 *
 * and finished, when the epoch ends, with elapsed time, time per step and the extra metrics:
 *
 *   750/750 [==============================] - 9s 12ms/step - loss: 0.1712 - acc: 0.9491 - val_loss: 0.0800 - val_acc: 0.9755
 *
 * When the output is not a terminal (a log file, CI) nothing is printed during the epoch and
 * the epoch ends with exactly one line:
 *
 *   Epoch 1/10 - 750/750 - 9s 12ms/step - loss: 0.1712 - acc: 0.9491 - val_loss: 0.0800 - val_acc: 0.9755
 *
 * Numbers are formatted as Keras does: a metric with |v| > 1e-3 as "%.4f", else "%.4e";
 * an ETA as "3s", "1:05" or "1:02:03"; time per step in s, ms or us. */
#ifndef CNNRT_PROGRESS_H
#define CNNRT_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct cnnrt_progress {
    FILE *out;
    int is_tty;
    int64_t epoch, epochs;        /* epoch is 1-based; epochs == 0 prints no "Epoch" header */
    int64_t total_steps;
    int bar_width;                /* 30, as Keras */
    double start_time, last_draw_time;
    size_t last_line_length;      /* to blank out a longer previous line */
    /* The clock, in seconds: monotonic, or the one given to cnnrt_progress_begin_clock. */
    double (*clock)(void *clock_ctx);
    void *clock_ctx;
} cnnrt_progress;

/* Starts an epoch of total_steps steps. On a terminal it prints "Epoch E/N" at once. */
void cnnrt_progress_begin(cnnrt_progress *p, FILE *out, int is_tty, int64_t epoch,
                          int64_t epochs, int64_t total_steps);

/* The same with another clock (seconds as a double); tests use it to get exact output.
 * clock == NULL means the monotonic clock. */
void cnnrt_progress_begin_clock(cnnrt_progress *p, FILE *out, int is_tty, int64_t epoch,
                                int64_t epochs, int64_t total_steps,
                                double (*clock)(void *clock_ctx), void *clock_ctx);

/* Reports that `step` steps (1..total_steps) are done, with the running metric values
 * (names[i] = values[i], e.g. "loss", "acc"). Redraws on a terminal (throttled: always
 * drawn for the first and the last step); prints nothing otherwise. */
void cnnrt_progress_update(cnnrt_progress *p, int64_t step, int num_metrics,
                           const char *const *names, const double *values);

/* Ends the epoch: the final line with elapsed time, time per step and all metrics given
 * (the training metrics followed by e.g. "val_loss", "val_acc"), then a newline. */
void cnnrt_progress_end(cnnrt_progress *p, int num_metrics, const char *const *names,
                        const double *values);

/* Formats the progress text for `step` into buf (no '\r', no newline): the bar and ETA while
 * step < total_steps (final == 0), or the end-of-epoch text (final != 0). Exposed for tests
 * and for callers that want the text elsewhere. Returns the length written. */
size_t cnnrt_progress_format(const cnnrt_progress *p, int64_t step, double now, int final,
                             int num_metrics, const char *const *names, const double *values,
                             char *buf, size_t buf_size);

/* 1 if the stream is a terminal (isatty on its descriptor) and TERM is not "dumb". */
int cnnrt_stream_is_tty(FILE *f);

/* Seconds from a monotonic clock. */
double cnnrt_now_seconds(void);

#endif
