/* Data sets for training: loading image/label pairs with every consistency check, Keras's
 * validation_split, deterministic per-epoch shuffling, and batches converted to floats. */
#include "cnnrt_data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void set_path(cnnrt_dataset *ds, const char *path)
{
    snprintf(ds->images_path, sizeof ds->images_path, "%s", path);
}

int cnnrt_dataset_load(const char *images_path, const char *labels_path, int64_t h,
                       int64_t w, int64_t c, int64_t num_classes, cnnrt_dataset *out,
                       cnnrt_err *e)
{
    memset(out, 0, sizeof *out);
    cnnrt_idx_images images;
    if (cnnrt_idx_read_images(images_path, &images, e))
        return -1;
    uint8_t *labels;
    int64_t label_count;
    if (cnnrt_idx_read_labels(labels_path, &labels, &label_count, e)) {
        free(images.pixels);
        return -1;
    }

    int failed = 0;
    if (images.count != label_count) {
        failed = cnnrt_fail(e, "%s has %lld images but %s has %lld labels", images_path,
                            (long long)images.count, labels_path, (long long)label_count);
    } else if (images.rows != h || images.cols != w || images.channels != c) {
        failed = cnnrt_fail(e, "%s: images are %lldx%lldx%lld, the model expects %lldx%lldx%lld "
                               "(height x width x channels)", images_path,
                            (long long)images.rows, (long long)images.cols,
                            (long long)images.channels, (long long)h, (long long)w,
                            (long long)c);
    } else {
        for (int64_t i = 0; i < label_count; i++) {
            if (labels[i] >= num_classes) {
                failed = cnnrt_fail(e, "%s: label %d at index %lld is outside 0..%lld",
                                    labels_path, labels[i], (long long)i,
                                    (long long)num_classes - 1);
                break;
            }
        }
    }
    if (failed) {
        free(images.pixels);
        free(labels);
        return -1;
    }
    out->count = images.count;
    out->h = h;
    out->w = w;
    out->c = c;
    out->images = images.pixels;
    out->labels = labels;
    out->owns_memory = 1;
    set_path(out, images_path);
    return 0;
}

static int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cnnrt_dataset_find_file(const char *dir, const char *base, char *path, size_t path_size,
                            cnnrt_err *e)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return cnnrt_fail(e, "%s: data directory not found (looked for %s and %s.gz in "
                                 "it; scripts/get-data.sh prepares the default one)",
                              dir, base, base);
        return cnnrt_fail_errno(e, "%s: cannot use as data directory", dir);
    }
    if (!S_ISDIR(st.st_mode))
        return cnnrt_fail(e, "%s: not a directory (expected a data directory holding %s[.gz])",
                          dir, base);
    const char *suffixes[2] = {"", ".gz"};
    for (int i = 0; i < 2; i++) {
        int n = snprintf(path, path_size, "%s/%s%s", dir, base, suffixes[i]);
        if (n < 0 || (size_t)n >= path_size)
            return cnnrt_fail(e, "%s: path too long", dir);
        if (is_regular_file(path))
            return 0;
    }
    return cnnrt_fail(e, "%s: no %s or %s.gz in this directory", dir, base, base);
}

int cnnrt_dataset_load_dir(const char *dir, cnnrt_split split, int64_t h, int64_t w,
                           int64_t c, int64_t num_classes, cnnrt_dataset *out, cnnrt_err *e)
{
    memset(out, 0, sizeof *out);
    const char *images_base = split == CNNRT_SPLIT_TEST ? CNNRT_TEST_IMAGES : CNNRT_TRAIN_IMAGES;
    const char *labels_base = split == CNNRT_SPLIT_TEST ? CNNRT_TEST_LABELS : CNNRT_TRAIN_LABELS;
    char images_path[4096], labels_path[4096];
    if (cnnrt_dataset_find_file(dir, images_base, images_path, sizeof images_path, e) ||
        cnnrt_dataset_find_file(dir, labels_base, labels_path, sizeof labels_path, e))
        return -1;
    if (cnnrt_dataset_load(images_path, labels_path, h, w, c, num_classes, out, e))
        return -1;
    char names_path[4200];
    snprintf(names_path, sizeof names_path, "%s/%s", dir, CNNRT_CLASS_NAMES_FILE);
    if (!is_regular_file(names_path))
        return 0;
    if (cnnrt_class_names_read(names_path, &out->class_names, &out->num_class_names, e)) {
        cnnrt_dataset_free(out);
        return -1;
    }
    if (out->num_class_names != num_classes) {
        cnnrt_fail(e, "%s: %lld class names, but the model has %lld classes", names_path,
                   (long long)out->num_class_names, (long long)num_classes);
        cnnrt_dataset_free(out);
        return -1;
    }
    return 0;
}

/* ---- class names ------------------------------------------------------------------------ */

void cnnrt_class_names_free(char **names, int64_t count)
{
    for (int64_t i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
}

enum { MAX_CLASS_NAMES = 65536 };

/* One line of a names file, checked and trimmed; NULL after filling e. */
static char *class_name_from_line(const char *path, int64_t line_number, char *line,
                                  cnnrt_err *e)
{
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                       line[len - 1] == ' ' || line[len - 1] == '\t'))
        line[--len] = '\0';
    if (len == 0) {
        cnnrt_fail(e, "%s:%lld: empty line (one class name a line expected)", path,
                   (long long)line_number);
        return NULL;
    }
    if (len > CNNRT_CLASS_NAME_MAX) {
        cnnrt_fail(e, "%s:%lld: class name longer than %d bytes", path, (long long)line_number,
                   CNNRT_CLASS_NAME_MAX);
        return NULL;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
            cnnrt_fail(e, "%s:%lld: control character in a class name (is it a text file?)",
                       path, (long long)line_number);
            return NULL;
        }
    return strdup(line);
}

int cnnrt_class_names_read(const char *path, char ***names, int64_t *count, cnnrt_err *e)
{
    *names = NULL;
    *count = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return cnnrt_fail_errno(e, "%s: cannot open", path);
    char **list = NULL;
    int64_t n = 0;
    char line[CNNRT_CLASS_NAME_MAX + 8];
    int failed = 0;
    while (!failed && fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n') && !feof(f)) {
            failed = cnnrt_fail(e, "%s:%lld: class name longer than %d bytes", path,
                                (long long)n + 1, CNNRT_CLASS_NAME_MAX);
            break;
        }
        if (n == MAX_CLASS_NAMES) {
            failed = cnnrt_fail(e, "%s: more than %d lines", path, MAX_CLASS_NAMES);
            break;
        }
        char *name = class_name_from_line(path, n + 1, line, e);
        if (!name) {
            failed = -1;
            break;
        }
        list = realloc(list, sizeof *list * (size_t)(n + 1));
        if (!list)
            abort();
        list[n++] = name;
    }
    if (!failed && ferror(f))
        failed = cnnrt_fail(e, "%s: read error", path);
    if (!failed && n == 0)
        failed = cnnrt_fail(e, "%s: no class names in it", path);
    fclose(f);
    if (failed) {
        cnnrt_class_names_free(list, n);
        return -1;
    }
    *names = list;
    *count = n;
    return 0;
}

int cnnrt_class_names_write(const char *path, char *const *names, int64_t count, cnnrt_err *e)
{
    cnnrt_atomic_file f;
    if (cnnrt_atomic_open(&f, path, e))
        return -1;
    for (int64_t i = 0; i < count; i++)
        fprintf(f.fp, "%s\n", names[i]);
    return cnnrt_atomic_commit(&f, e);
}

void cnnrt_dataset_free(cnnrt_dataset *ds)
{
    if (!ds)
        return;
    if (ds->owns_memory) {
        free((void *)ds->images);
        free((void *)ds->labels);
        cnnrt_class_names_free(ds->class_names, ds->num_class_names);
    }
    memset(ds, 0, sizeof *ds);
}

/* A view of images [first, first + count) of `all`. */
static void make_view(const cnnrt_dataset *all, int64_t first, int64_t count,
                      cnnrt_dataset *view)
{
    *view = *all;
    view->owns_memory = 0;
    view->count = count;
    view->images = all->images + first * all->h * all->w * all->c;
    view->labels = all->labels + first;
}

int cnnrt_dataset_split(const cnnrt_dataset *all, double fraction, cnnrt_dataset *train,
                        cnnrt_dataset *val, cnnrt_err *e)
{
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    if (!(fraction >= 0.0 && fraction < 1.0))
        return cnnrt_fail(e, "validation_split must be in [0, 1), got %g", fraction);
    /* Keras (keras/src/trainers/data_adapters/array_slicing.py,
     * train_validation_split): split_at = int(math.floor(n * (1.0 - validation_split))).
     * The same double arithmetic gives the same split_at. */
    int64_t split_at = (int64_t)floor((double)all->count * (1.0 - fraction));
    if (fraction > 0.0 && (split_at <= 0 || split_at >= all->count))
        return cnnrt_fail(e, "%s: validation_split=%g of %lld images leaves %lld for training "
                             "and %lld for validation; both must be at least 1",
                          all->images_path, fraction, (long long)all->count,
                          (long long)split_at, (long long)(all->count - split_at));
    make_view(all, 0, split_at, train);
    make_view(all, split_at, all->count - split_at, val);
    return 0;
}

/* SplitMix64 (Steele, Lea, Flood 2014): a tiny generator with a 64-bit state whose output
 * is well mixed; enough for shuffling and, unlike rand(), the same everywhere. */
static uint64_t splitmix64_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A uniform integer in [0, bound), without modulo bias: draws falling in the incomplete
 * last block of 2^64 are rejected (rarely: fewer than bound of 2^64 draws). */
static uint64_t uniform_below(uint64_t *state, uint64_t bound)
{
    uint64_t threshold = (0 - bound) % bound;   /* 2^64 mod bound */
    for (;;) {
        uint64_t r = splitmix64_next(state);
        if (r >= threshold)
            return r % bound;
    }
}

void cnnrt_shuffle_order(int64_t n, uint64_t seed, int64_t epoch, int64_t *order)
{
    /* Seed and epoch are mixed so that neighbouring seeds or epochs give unrelated orders. */
    uint64_t state = seed ^ (0xD1B54A32D192ED03ull * ((uint64_t)epoch + 1));
    splitmix64_next(&state);
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)uniform_below(&state, (uint64_t)i + 1);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

int64_t cnnrt_batch_count(int64_t n, int64_t batch_size)
{
    if (n <= 0 || batch_size <= 0)
        return 0;
    return (n + batch_size - 1) / batch_size;
}

static void image_to_float(const cnnrt_dataset *ds, int64_t index, float *x)
{
    int64_t size = ds->h * ds->w * ds->c;
    const uint8_t *src = ds->images + index * size;
    for (int64_t k = 0; k < size; k++)
        x[k] = (float)src[k] / 255.0f;
}

int64_t cnnrt_dataset_batch(const cnnrt_dataset *ds, const int64_t *order, int64_t batch,
                            int64_t batch_size, float *x, int32_t *labels)
{
    if (batch < 0 || batch_size <= 0)
        return 0;
    int64_t first = batch * batch_size;
    if (first >= ds->count)
        return 0;
    int64_t count = ds->count - first < batch_size ? ds->count - first : batch_size;
    int64_t size = ds->h * ds->w * ds->c;
    for (int64_t k = 0; k < count; k++) {
        int64_t index = order ? order[first + k] : first + k;
        image_to_float(ds, index, x + k * size);
        if (labels)
            labels[k] = ds->labels[index];
    }
    return count;
}

void cnnrt_dataset_to_float(const cnnrt_dataset *ds, int64_t first, int64_t count, float *x)
{
    int64_t size = ds->h * ds->w * ds->c;
    for (int64_t k = 0; k < count; k++)
        image_to_float(ds, first + k, x + k * size);
}
