/* NAME.speed.csv: the training speed per epoch (train_speed.h). */
#include "train_speed.h"

#include "program_util.h"   /* cnnrt_prog_beside_weights */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char header[] = "epoch,seconds,images,images_per_s,threads,batch_size\n";

void cnnrt_train_speed_path(const char *weights, char *out, size_t size)
{
    cnnrt_prog_beside_weights(weights, ".speed.csv", out, size);
}

int cnnrt_train_speed_write(const char *path, const train_speed *records, int64_t n, cnnrt_err *e)
{
    cnnrt_atomic_file f;
    if (cnnrt_atomic_open(&f, path, e))
        return -1;
    fputs(header, f.fp);
    for (int64_t i = 0; i < n; i++) {
        const train_speed *r = &records[i];
        /* The rate is computed from the seconds as written, so that a row read back (by a
         * resumed run) and written again is the same text. */
        char seconds[32];
        snprintf(seconds, sizeof seconds, "%.6f", r->seconds);
        double written = strtod(seconds, NULL);
        if (written > 0 && r->images > 0)
            fprintf(f.fp, "%lld,%s,%lld,%.0f,%lld,%lld\n", (long long)(i + 1), seconds,
                    (long long)r->images, (double)r->images / written,
                    (long long)r->threads, (long long)r->batch_size);
        else
            fprintf(f.fp, "%lld,,,,,\n", (long long)(i + 1));
    }
    return cnnrt_atomic_commit(&f, e);
}

/* One row; 0 when it is a well-formed row of epoch `epoch` (recorded or empty). */
static int parse_row(const char *line, int64_t epoch, train_speed *r)
{
    long long ep, images, threads, batch;
    double seconds, rate;
    char tail;
    memset(r, 0, sizeof *r);
    if (sscanf(line, "%lld,%lf,%lld,%lf,%lld,%lld%c", &ep, &seconds, &images, &rate, &threads,
               &batch, &tail) == 7 && tail == '\n' && ep == epoch && seconds > 0 &&
        images > 0 && threads > 0 && batch > 0) {
        *r = (train_speed){seconds, images, threads, batch};
        return 0;
    }
    int consumed = 0;
    if (sscanf(line, "%lld,,,,,%n", &ep, &consumed) == 1 && consumed > 0 && ep == epoch)
        return 0;
    return -1;
}

int64_t cnnrt_train_speed_read(const char *path, train_speed *out, int64_t max, cnnrt_err *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cnnrt_fail_errno(e, "%s: cannot read", path);
    char line[256];
    int64_t n = 0, bad_line = 0;
    if (!fgets(line, sizeof line, f) || strcmp(line, header))
        bad_line = 1;
    while (!bad_line && n < max && fgets(line, sizeof line, f)) {
        if (parse_row(line, n + 1, &out[n]))
            bad_line = n + 2;
        else
            n++;
    }
    fclose(f);
    if (bad_line)
        return cnnrt_fail(e, "%s: not a training speed file (line %lld)", path,
                          (long long)bad_line);
    return n;
}

double cnnrt_train_speed_summary(const train_speed *records, int64_t n, int64_t *first,
                           int64_t *last, int64_t *threads, int64_t *batch_size)
{
    double seconds = 0, images = 0;
    *first = *last = *threads = *batch_size = 0;
    for (int64_t i = 0; i < n; i++) {
        if (records[i].seconds <= 0)
            continue;
        seconds += records[i].seconds;
        images += (double)records[i].images;
        if (!*first)
            *first = i + 1;
        *last = i + 1;
        *threads = records[i].threads;
        *batch_size = records[i].batch_size;
    }
    return seconds > 0 ? images / seconds : 0;
}
