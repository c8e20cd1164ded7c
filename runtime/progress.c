/* The Keras-like progress line (see cnnrt_progress.h for what it looks like). The text is
 * built by one pure function, cnnrt_progress_format, so the tests can check it exactly;
 * the rest decides when and how to print it (redraw in place, or one line per epoch). */
#include "cnnrt_progress.h"
#include "cnnrt_common.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Keras redraws at most every 0.05 s (its Progbar interval). */
#define REDRAW_INTERVAL 0.05

double cnnrt_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double default_clock(void *ctx)
{
    (void)ctx;
    return cnnrt_now_seconds();
}

int cnnrt_stream_is_tty(FILE *f)
{
    if (!f || !isatty(fileno(f)))
        return 0;
    const char *term = getenv("TERM");
    return !(term && strcmp(term, "dumb") == 0);
}

/* Appends printf-style text to buf, never past its end. */
typedef struct text {
    char *buf;
    size_t size, len;
} text;

static void append(text *t, const char *fmt, ...) CNNRT_PRINTF(2, 3);
static void append(text *t, const char *fmt, ...)
{
    if (t->len + 1 >= t->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len = t->len + (size_t)n < t->size ? t->len + (size_t)n : t->size - 1;
}

static int digits(int64_t v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* "375/750 [=============>................]", as Keras's Progbar draws it. */
static void append_bar(text *t, const cnnrt_progress *p, int64_t step)
{
    int64_t total = p->total_steps > 0 ? p->total_steps : 1;
    append(t, "%*lld/%lld [", digits(total), (long long)step, (long long)total);
    int width = p->bar_width;
    int filled = (int)((double)width * (double)step / (double)total);
    if (filled > width)
        filled = width;
    for (int i = 0; i < filled - 1; i++)
        append(t, "=");
    if (filled > 0)
        append(t, step < total ? ">" : "=");
    for (int i = filled; i < width; i++)
        append(t, ".");
    append(t, "]");
}

static void append_eta(text *t, double eta)
{
    long s = (long)eta;
    if (eta > 3600)
        append(t, " - ETA %ld:%02ld:%02ld", s / 3600, (s % 3600) / 60, s % 60);
    else if (eta > 60)
        append(t, " - ETA %ld:%02ld", s / 60, s % 60);
    else
        append(t, " - ETA %lds", s);
}

/* " - 9s 12ms/step": elapsed time and time per step. */
static void append_timing(text *t, double elapsed, double per_step)
{
    append(t, " - %.0fs", elapsed);
    if (per_step >= 1 || per_step == 0)
        append(t, " %.0fs/step", per_step);
    else if (per_step >= 1e-3)
        append(t, " %.0fms/step", per_step * 1e3);
    else
        append(t, " %.0fus/step", per_step * 1e6);
}

static void append_metrics(text *t, int n, const char *const *names, const double *values)
{
    for (int i = 0; i < n; i++) {
        double v = values[i];
        if (isnan(v))
            append(t, " - %s: nan", names[i]);
        else if (fabs(v) > 1e-3)
            append(t, " - %s: %.4f", names[i], v);
        else
            append(t, " - %s: %.4e", names[i], v);
    }
}

size_t cnnrt_progress_format(const cnnrt_progress *p, int64_t step, double now, int final,
                             int num_metrics, const char *const *names, const double *values,
                             char *buf, size_t buf_size)
{
    text t = {buf, buf_size, 0};
    if (buf_size)
        buf[0] = '\0';
    double elapsed = now - p->start_time;
    if (elapsed < 0)
        elapsed = 0;
    double per_step = step > 0 ? elapsed / (double)step : 0;
    if (final && !p->is_tty) {
        /* One self-contained line per epoch for logs. */
        if (p->epochs > 0)
            append(&t, "Epoch %lld/%lld - ", (long long)p->epoch, (long long)p->epochs);
        append(&t, "%lld/%lld", (long long)step, (long long)p->total_steps);
    } else {
        append_bar(&t, p, step);
    }
    if (final)
        append_timing(&t, elapsed, per_step);
    else
        append_eta(&t, per_step * (double)(p->total_steps - step));
    append_metrics(&t, num_metrics, names, values);
    return t.len;
}

void cnnrt_progress_begin_clock(cnnrt_progress *p, FILE *out, int is_tty, int64_t epoch,
                                int64_t epochs, int64_t total_steps,
                                double (*clock)(void *clock_ctx), void *clock_ctx)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->is_tty = is_tty;
    p->epoch = epoch;
    p->epochs = epochs;
    p->total_steps = total_steps;
    p->bar_width = 30;
    p->clock = clock ? clock : default_clock;
    p->clock_ctx = clock ? clock_ctx : NULL;
    p->start_time = p->clock(p->clock_ctx);
    p->last_draw_time = -1e300;
    if (is_tty && epochs > 0) {
        fprintf(out, "Epoch %lld/%lld\n", (long long)epoch, (long long)epochs);
        fflush(out);
    }
}

void cnnrt_progress_begin(cnnrt_progress *p, FILE *out, int is_tty, int64_t epoch,
                          int64_t epochs, int64_t total_steps)
{
    cnnrt_progress_begin_clock(p, out, is_tty, epoch, epochs, total_steps, NULL, NULL);
}

/* Writes "\r" + line, blanking what is left of a longer previous line. */
static void redraw(cnnrt_progress *p, const char *line, size_t len)
{
    fprintf(p->out, "\r%s", line);
    for (size_t i = len; i < p->last_line_length; i++)
        fputc(' ', p->out);
    p->last_line_length = len;
    fflush(p->out);
}

void cnnrt_progress_update(cnnrt_progress *p, int64_t step, int num_metrics,
                           const char *const *names, const double *values)
{
    if (!p->is_tty)
        return;
    double now = p->clock(p->clock_ctx);
    int must_draw = step <= 1 || step >= p->total_steps;
    if (!must_draw && now - p->last_draw_time < REDRAW_INTERVAL)
        return;
    p->last_draw_time = now;
    char line[2048];
    size_t len = cnnrt_progress_format(p, step, now, 0, num_metrics, names, values, line,
                                       sizeof line);
    redraw(p, line, len);
}

void cnnrt_progress_end(cnnrt_progress *p, int num_metrics, const char *const *names,
                        const double *values)
{
    double now = p->clock(p->clock_ctx);
    char line[2048];
    size_t len = cnnrt_progress_format(p, p->total_steps, now, 1, num_metrics, names, values,
                                       line, sizeof line);
    if (p->is_tty) {
        redraw(p, line, len);
        fputc('\n', p->out);
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}
