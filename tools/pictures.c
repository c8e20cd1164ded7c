/* cnnc-pictures: writes picture folders (one subfolder per class, as Keras's
 * image_dataset_from_directory reads them) for trying and testing cnnc's picture data sets.
 *
 *   cnnc-pictures from-idx IMAGES LABELS NAMES OUT [--jpeg QUALITY] [--threads N]
 *       IDX images and labels (raw or gzip) -> OUT/<class name>/<index>.png (or .jpg), the
 *       class names taken from NAMES (one a line, label order; '/' in a name becomes '_').
 *   cnnc-pictures shapes OUT [--count N] [--size S] [--seed N]
 *       N coloured circles, squares and triangles (S x S RGB, default 600 of 32 x 32) on
 *       textured backgrounds, the shape's colour, size and place random: the class is the
 *       shape, never the colour. Even pictures are PNG, odd ones JPEG. Deterministic: the
 *       same seed writes the same bytes.
 *   cnnc-pictures read DIR [--size HxWxC] [--threads N]
 *       reads a picture folder as a program with that input would (cnnrt_folder_load) and
 *       prints how long it took (the benchmark in docs/benchmarks.md).
 *
 * The folder is written under OUT.tmp.PID and renamed to OUT when complete, so OUT either
 * does not exist or holds every picture (an interrupted run leaves no half folder). OUT must
 * not exist yet. Files are written without an fsync each (that would take minutes for
 * 70,000 files); the rename is what makes the result appear at once. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrt_data.h"
#include "cnnrt_image.h"
#include "cnnrt_pool.h"
#include "cnnrt_progress.h"

static const char *program = "cnnc-pictures";

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: error: ", program);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 1;
}

static int write_plain(const char *path, const uint8_t *data, size_t len, cnnrt_err *e)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return cnnrt_fail_errno(e, "%s: cannot create", path);
    int ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : cnnrt_fail_errno(e, "%s: cannot write", path);
}

/* Encodes img as PNG (quality 0) or JPEG and writes it to path. */
static int save_picture(const char *path, const cnnrt_image *img, int jpeg_quality,
                        cnnrt_err *e)
{
    uint8_t *data;
    size_t len;
    int rc = jpeg_quality > 0 ? cnnrt_jpeg_encode(img, jpeg_quality, &data, &len, e)
                              : cnnrt_png_encode(img, &data, &len, e);
    if (rc)
        return -1;
    rc = write_plain(path, data, len, e);
    free(data);
    return rc;
}

/* A class name usable as a folder name. */
static void folder_name(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s", name);
    for (char *p = out; *p; p++)
        if (*p == '/' || *p == '\\')
            *p = '_';
    if (out[0] == '.')
        out[0] = '_';
}

/* Makes OUT.tmp.PID with one subfolder per class. */
static int make_tree(const char *out, char *const *classes, int64_t count, char *tmp,
                     size_t tmp_size)
{
    struct stat st;
    if (stat(out, &st) == 0)
        return fail("%s already exists (remove it first)", out);
    snprintf(tmp, tmp_size, "%s.tmp.%ld", out, (long)getpid());
    if (mkdir(tmp, 0755) != 0)
        return fail("cannot create %s", tmp);
    for (int64_t k = 0; k < count; k++) {
        char name[512], path[4800];
        folder_name(classes[k], name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", tmp, name);
        if (mkdir(path, 0755) != 0)
            return fail("cannot create %s (two classes with the same name?)", path);
    }
    return 0;
}

static int finish_tree(const char *tmp, const char *out)
{
    if (rename(tmp, out) != 0)
        return fail("cannot rename the finished folder to %s", out);
    return 0;
}

/* ---- from-idx ---------------------------------------------------------------------------- */

typedef struct idx_job {
    const cnnrt_idx_images *images;
    const uint8_t *labels;
    char **folders;           /* per class: its folder under tmp */
    int jpeg_quality;
    int failed;               /* set by any worker (only ever 0 -> 1) */
    cnnrt_err error;
} idx_job;

static void write_idx_range(void *ctx, int64_t begin, int64_t end, int64_t worker)
{
    (void)worker;
    idx_job *job = ctx;
    const cnnrt_idx_images *im = job->images;
    size_t size = (size_t)(im->rows * im->cols * im->channels);
    cnnrt_image img = {(int)im->cols, (int)im->rows, (int)im->channels, NULL};
    for (int64_t i = begin; i < end && !job->failed; i++) {
        img.pixels = im->pixels + size * (size_t)i;
        char path[4800];
        snprintf(path, sizeof path, "%s/%05lld.%s", job->folders[job->labels[i]], (long long)i,
                 job->jpeg_quality ? "jpg" : "png");
        cnnrt_err e;
        if (save_picture(path, &img, job->jpeg_quality, &e) && !job->failed) {
            job->error = e;
            job->failed = 1;
        }
    }
}

static int from_idx(int argc, char **argv)
{
    if (argc < 4)
        return fail("%s", "from-idx needs IMAGES LABELS NAMES OUT");
    const char *out = argv[3];
    int jpeg_quality = 0, threads = 0;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--jpeg"))
            jpeg_quality = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else
            return fail("unknown option %s", argv[i]);
    }
    if (argc % 2 != 0)
        return fail("%s", "an option lacks its value");
    cnnrt_err e;
    cnnrt_idx_images images;
    uint8_t *labels;
    int64_t label_count, class_count;
    char **classes;
    if (cnnrt_idx_read_images(argv[0], &images, &e) ||
        cnnrt_idx_read_labels(argv[1], &labels, &label_count, &e) ||
        cnnrt_class_names_read(argv[2], &classes, &class_count, &e))
        return fail("%s", e.msg);
    if (label_count != images.count)
        return fail("%s: not as many labels as images", argv[1]);
    if (images.channels != 1 && images.channels != 3)
        return fail("%s: only 1- or 3-channel images can be written as pictures", argv[0]);
    for (int64_t i = 0; i < label_count; i++)
        if (labels[i] >= class_count)
            return fail("%s: a label is outside the class names", argv[1]);
    char tmp[4200];
    if (make_tree(out, classes, class_count, tmp, sizeof tmp))
        return 1;
    idx_job job = {&images, labels, NULL, jpeg_quality, 0, {{0}}};
    job.folders = cnnrt_xcalloc((size_t)class_count, sizeof *job.folders);
    for (int64_t k = 0; k < class_count; k++) {
        char name[512];
        folder_name(classes[k], name, sizeof name);
        job.folders[k] = cnnrt_xmalloc(4800);
        snprintf(job.folders[k], 4800, "%s/%s", tmp, name);
    }
    cnnrt_pool *pool = cnnrt_pool_create(threads, &e);
    if (!pool)
        return fail("%s", e.msg);
    cnnrt_parallel_for(pool, images.count, write_idx_range, &job);
    cnnrt_pool_destroy(pool);
    if (job.failed)
        return fail("%s", job.error.msg);
    int rc = finish_tree(tmp, out);
    if (rc == 0)
        printf("%s: %lld pictures of %lld classes\n", out, (long long)images.count,
               (long long)class_count);
    for (int64_t k = 0; k < class_count; k++)
        free(job.folders[k]);
    free(job.folders);
    free(images.pixels);
    free(labels);
    cnnrt_class_names_free(classes, class_count);
    return rc;
}

/* ---- shapes ------------------------------------------------------------------------------ */

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static double uniform(uint64_t *state, double lo, double hi)
{
    return lo + (hi - lo) * (double)(next_random(state) >> 11) / 9007199254740992.0;
}

enum { SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE, NUM_SHAPES };
static char *shape_names[NUM_SHAPES] = {"circle", "square", "triangle"};

/* Is (x, y) inside the shape of radius r centred at (cx, cy)? */
static int inside(int shape, double x, double y, double cx, double cy, double r)
{
    double dx = x - cx, dy = y - cy;
    switch (shape) {
    case SHAPE_CIRCLE:
        return dx * dx + dy * dy <= r * r;
    case SHAPE_SQUARE:
        return fabs(dx) <= r * 0.85 && fabs(dy) <= r * 0.85;
    default:   /* upward triangle: apex at the top, base at the bottom */
        return dy <= r * 0.8 && dy >= -r && fabs(dx) <= (dy + r) * 0.6;
    }
}

/* A dull striped, noisy background and a bright shape of a random hue. */
static void draw_shape(cnnrt_image *img, int shape, uint64_t *rng)
{
    int size = img->width;
    double base[3], stripe[3], colour[3];
    for (int c = 0; c < 3; c++) {
        base[c] = uniform(rng, 30, 120);
        stripe[c] = base[c] + uniform(rng, -30, 30);
    }
    double hue = uniform(rng, 0, 6);
    for (int c = 0; c < 3; c++) {   /* a saturated colour on the hue circle */
        double d = fabs(fmod(hue - 2.0 * c + 6.0, 6.0) - 3.0);
        double v = d < 1 ? 1 : d < 2 ? 2 - d : 0;
        colour[c] = 150 + 105 * v;
    }
    double angle = uniform(rng, 0, M_PI), period = uniform(rng, 3, 8);
    double r = uniform(rng, size * 0.2, size * 0.36);
    double cx = uniform(rng, r + 1, size - r - 1), cy = uniform(rng, r + 1, size - r - 1);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            double t = x * cos(angle) + y * sin(angle);
            int on_stripe = fmod(t / period + 100.0, 2.0) < 1.0;
            double noise = uniform(rng, -12, 12);
            int in = inside(shape, x + 0.5, y + 0.5, cx, cy, r);
            for (int c = 0; c < 3; c++) {
                double v = in ? colour[c] + noise * 0.5 : (on_stripe ? stripe[c] : base[c]) + noise;
                img->pixels[((size_t)y * (size_t)size + (size_t)x) * 3 + (size_t)c] =
                    (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrint(v));
            }
        }
}

static int shapes(int argc, char **argv)
{
    if (argc < 1)
        return fail("%s", "shapes needs OUT");
    const char *out = argv[0];
    long count = 600, size = 32;
    unsigned long long seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--count"))
            count = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--size"))
            size = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 10);
        else
            return fail("unknown option %s", argv[i]);
    }
    if (argc % 2 != 1)
        return fail("%s", "an option lacks its value");
    if (count < NUM_SHAPES || count > 1000000 || size < 8 || size > 1024)
        return fail("%s", "--count must be 3..1000000 and --size 8..1024");
    char tmp[4200];
    if (make_tree(out, shape_names, NUM_SHAPES, tmp, sizeof tmp))
        return 1;
    uint64_t rng = seed;
    cnnrt_image img;
    cnnrt_err e;
    if (cnnrt_image_create(&img, (int)size, (int)size, 3, &e))
        return fail("%s", e.msg);
    for (long i = 0; i < count; i++) {
        int shape = (int)(i % NUM_SHAPES);
        draw_shape(&img, shape, &rng);
        char path[4800];
        int jpeg = i % 2 == 1;
        snprintf(path, sizeof path, "%s/%s/%s_%04ld.%s", tmp, shape_names[shape],
                 shape_names[shape], i, jpeg ? "jpg" : "png");
        if (save_picture(path, &img, jpeg ? 92 : 0, &e))
            return fail("%s", e.msg);
    }
    cnnrt_image_free(&img);
    int rc = finish_tree(tmp, out);
    if (rc == 0)
        printf("%s: %ld pictures of %d classes\n", out, count, NUM_SHAPES);
    return rc;
}

/* ---- read ------------------------------------------------------------------------------ */

/* Reads a picture folder as a training program would and says how long it took: the
 * benchmark of docs/benchmarks.md ("reading picture folders"). */
static int read_folder(int argc, char **argv)
{
    if (argc < 1)
        return fail("%s", "read needs DIR");
    long h = 28, w = 28, c = 1;
    int threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--size")) {
            if (sscanf(argv[i + 1], "%ldx%ldx%ld", &h, &w, &c) != 3)
                return fail("--size %s: expected HxWxC", argv[i + 1]);
        } else if (!strcmp(argv[i], "--threads")) {
            threads = atoi(argv[i + 1]);
        } else {
            return fail("unknown option %s", argv[i]);
        }
    }
    cnnrt_folder_options o = {.h = h, .w = w, .c = c, .threads = threads, .progress = stderr,
                              .notes = stderr};
    cnnrt_dataset ds;
    cnnrt_err e;
    double start = cnnrt_now_seconds();
    if (cnnrt_folder_load(argv[0], &o, &ds, NULL, &e))
        return fail("%s", e.msg);
    double seconds = cnnrt_now_seconds() - start;
    printf("%s: %lld pictures of %lld classes as %ldx%ldx%ld in %.2f s (%.0f pictures/s)\n",
           argv[0], (long long)ds.count, (long long)ds.num_class_names, h, w, c, seconds,
           (double)ds.count / seconds);
    cnnrt_dataset_free(&ds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc < 2 ? stderr : stdout,
                "Usage: %s from-idx IMAGES LABELS NAMES OUT [--jpeg QUALITY] [--threads N]\n"
                "       %s shapes OUT [--count N] [--size S] [--seed N]\n"
                "       %s read DIR [--size HxWxC] [--threads N]\n", program, program, program);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "from-idx"))
        return from_idx(argc - 2, argv + 2);
    if (!strcmp(argv[1], "shapes"))
        return shapes(argc - 2, argv + 2);
    if (!strcmp(argv[1], "read"))
        return read_folder(argc - 2, argv + 2);
    return fail("unknown command %s (from-idx, shapes or read)", argv[1]);
}
