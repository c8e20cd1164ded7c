/* Fuzz target: picture folders as data sets (runtime/folder.c, with the picture readers of
 * runtime/picture.c under it). Each input becomes a small directory tree in a scratch
 * directory, which cnnrt_folder_load reads as `train --data FOLDER` would.
 *
 * Input layout:
 *   byte 0   options: bit 0 three channels (else one), bit 1 skip bad pictures, bit 2
 *            shuffle, bit 3 check that there are exactly two classes
 *   byte 1   the model's input size: height 1 + (b & 15), width 1 + (b >> 4)
 *   then     entries, each "FILE:" PATH "\n" CONTENT, CONTENT running to the next "FILE:"
 *            or the end. PATH is relative: empty, "." and ".." parts are dropped, at most
 *            MAX_DEPTH parts of at most MAX_PART bytes are kept. A PATH ending in "/" makes
 *            only a folder; "PATH -> TARGET" makes a symbolic link to TARGET (cleaned the
 *            same way, so it stays inside the tree or dangles); a PATH ending in "|" makes a
 *            named pipe (without the "|"), which must not make the load wait forever.
 * Every folder on the way is created; a later entry that clashes with an earlier one (a
 * file where a folder is wanted) is dropped.
 *
 * Oracle, beyond the sanitizers: the result and the message agree; a loaded data set has
 * pictures, labels below its class count and the asked-for size; a load on two threads
 * gives exactly the bytes of a load on one; the listing of the tree has at least every
 * picture loaded or skipped. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrt_data.h"
#include "fuzz_common.h"

enum { MAX_ENTRIES = 64, MAX_DEPTH = 5, MAX_PART = 40 };
static const char ENTRY_MARK[] = "FILE:";
static const char LINK_ARROW[] = " -> ";

static char scratch[64];   /* the per-process scratch directory; the tree is scratch/d */
static char root[96];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(void)
{
    nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_scratch(void)
{
    remove_tree();
    rmdir(scratch);
}

/* Cleans a relative path of len bytes into out (size PATH_MAX): parts separated by '/',
 * empty, "." and ".." parts dropped, NUL bytes replaced, depth and part length capped. */
static void clean_path(const char *in, size_t len, char *out, size_t out_size)
{
    size_t used = 0;
    int depth = 0;
    out[0] = '\0';
    size_t i = 0;
    while (i < len && depth < MAX_DEPTH) {
        size_t start = i;
        while (i < len && in[i] != '/')
            i++;
        size_t part = i - start;
        i++;   /* past the '/' */
        if (part == 0 || (part == 1 && in[start] == '.') ||
            (part == 2 && in[start] == '.' && in[start + 1] == '.'))
            continue;
        if (part > MAX_PART)
            part = MAX_PART;
        if (used + part + 2 >= out_size)
            break;
        if (used > 0)
            out[used++] = '/';
        for (size_t k = 0; k < part; k++)
            out[used++] = in[start + k] ? in[start + k] : '_';
        out[used] = '\0';
        depth++;
    }
}

/* root/rel into path (PATH_MAX bytes); -1 when it does not fit. */
static int in_tree(const char *rel, char *path)
{
    int n = snprintf(path, PATH_MAX, "%s/%s", root, rel);
    return n < 0 || n >= PATH_MAX ? -1 : 0;
}

/* Creates every folder of rel (relative to root) up to its last '/' (all of it when
 * whole). */
static int make_folders(const char *rel, int whole)
{
    char path[PATH_MAX];
    if (in_tree(rel, path))
        return -1;
    size_t base = strlen(root) + 1;
    for (size_t i = base; path[i]; i++)
        if (path[i] == '/') {
            path[i] = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return -1;
            path[i] = '/';
        }
    if (whole && mkdir(path, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wbx");   /* never over an earlier entry */
    if (!f)
        return;
    if (len)
        fwrite(data, 1, len, f);
    fclose(f);
}

/* One entry: name is the PATH line (name_len bytes), data the CONTENT. */
static void make_entry(const char *name, size_t name_len, const uint8_t *data, size_t len)
{
    char rel[PATH_MAX], target[PATH_MAX], path[PATH_MAX];
    const char *arrow = memmem(name, name_len, LINK_ARROW, strlen(LINK_ARROW));
    int named_pipe = !arrow && name_len > 1 && name[name_len - 1] == '|';
    size_t path_len = arrow ? (size_t)(arrow - name) : name_len - (size_t)named_pipe;
    clean_path(name, path_len, rel, sizeof rel);
    if (rel[0] == '\0')
        return;
    int folder_only = !arrow && name[name_len - 1] == '/';
    if (make_folders(rel, folder_only) != 0 || folder_only || in_tree(rel, path) != 0)
        return;
    if (named_pipe) {
        (void)mkfifo(path, 0644);   /* name taken: dropped */
    } else if (arrow) {
        const char *t = arrow + strlen(LINK_ARROW);
        clean_path(t, name_len - (size_t)(t - name), target, sizeof target);
        (void)symlink(target[0] ? target : "missing", path);   /* name taken: dropped */
    } else {
        write_file(path, data, len);
    }
}

/* Splits the input into entries and builds the tree under root. */
static void build_tree(const uint8_t *data, size_t size)
{
    remove_tree();
    FUZZ_CHECK(mkdir(root, 0755) == 0);
    size_t mark = strlen(ENTRY_MARK);
    const uint8_t *p = memmem(data, size, ENTRY_MARK, mark);
    const uint8_t *end = data + size;
    for (int n = 0; p && n < MAX_ENTRIES; n++) {
        const uint8_t *name = p + mark;
        const uint8_t *next = memmem(name, (size_t)(end - name), ENTRY_MARK, mark);
        const uint8_t *stop = next ? next : end;
        const uint8_t *newline = memchr(name, '\n', (size_t)(stop - name));
        const uint8_t *content = newline ? newline + 1 : stop;
        size_t name_len = (size_t)((newline ? newline : stop) - name);
        make_entry((const char *)name, name_len, content, (size_t)(stop - content));
        p = next;
    }
}

/* The files the loader can have read: those under each class folder. Counted class by class,
 * not by listing root: a class folder may be a symbolic link to a folder, which the loader
 * follows (as Keras's os.path.isdir does) but a walk of root does not (os.walk's
 * followlinks=False), so a link to a class folder counts its pictures twice. */
static int64_t files_in_classes(const cnnrt_dataset *ds)
{
    int64_t total = 0;
    for (int64_t k = 0; k < ds->num_class_names; k++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/%s", root, ds->class_names[k]);
        char **paths;
        int64_t count;
        cnnrt_err e = {{0}};
        if (cnnrt_folder_list_files(dir, &paths, &count, &e) != 0)
            continue;   /* a class with no pictures read (skip_bad), or gone */
        for (int64_t i = 0; i < count; i++)
            free(paths[i]);
        free(paths);
        total += count;
    }
    return total;
}

static void check_loaded(const cnnrt_dataset *ds, const cnnrt_folder_options *o,
                         int64_t skipped)
{
    FUZZ_CHECK(ds->count > 0);
    FUZZ_CHECK(ds->h == o->h && ds->w == o->w && ds->c == o->c);
    FUZZ_CHECK(ds->images != NULL && ds->labels != NULL);
    FUZZ_CHECK(ds->num_class_names >= 1 && ds->class_names != NULL);
    if (o->num_classes > 0)
        FUZZ_CHECK(ds->num_class_names == o->num_classes);
    for (int64_t i = 0; i < ds->count; i++)
        FUZZ_CHECK(ds->labels[i] < ds->num_class_names);
    for (int64_t k = 0; k < ds->num_class_names; k++)
        FUZZ_CHECK(ds->class_names[k] && ds->class_names[k][0] != '.' &&
                   !strchr(ds->class_names[k], '/'));
    FUZZ_CHECK(skipped == 0 || o->skip_bad);
    FUZZ_CHECK(files_in_classes(ds) >= ds->count + skipped);
}

static int same_data_set(const cnnrt_dataset *a, const cnnrt_dataset *b)
{
    size_t size = (size_t)(a->count * a->h * a->w * a->c);
    return a->count == b->count && memcmp(a->labels, b->labels, (size_t)a->count) == 0 &&
           memcmp(a->images, b->images, size) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (!scratch[0]) {
        /* In memory when the system has a tmpfs there: a tree per input is a lot of I/O. */
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(scratch, sizeof scratch, "%s/cnnc-fuzz-folder-XXXXXX", base);
        FUZZ_CHECK(mkdtemp(scratch) != NULL);
        snprintf(root, sizeof root, "%s/d", scratch);
        atexit(remove_scratch);
    }
    static FILE *notes;
    if (!notes)
        notes = fopen("/dev/null", "w");
    build_tree(data + 2, size - 2);

    cnnrt_folder_options o = {
        .h = 1 + (data[1] & 15), .w = 1 + (data[1] >> 4), .c = (data[0] & 1) ? 3 : 1,
        .num_classes = (data[0] & 8) ? 2 : 0, .threads = 1, .skip_bad = (data[0] & 2) != 0,
        .shuffle = (data[0] & 4) != 0, .seed = 1234, .progress = NULL, .notes = notes,
    };
    cnnrt_dataset one, two;
    int64_t skipped_one = -1, skipped_two = -1;
    cnnrt_err e = {{0}};
    int rc = cnnrt_folder_load(root, &o, &one, &skipped_one, &e);
    FUZZ_CHECK_RESULT(rc, e);
    if (getenv("CNNC_FUZZ_VERBOSE"))   /* what an input does, when writing seeds */
        fprintf(stderr, "load: %s%lld pictures, %lld skipped\n", rc ? e.msg : "",
                rc ? 0LL : (long long)one.count, (long long)skipped_one);
    if (rc == 0)
        check_loaded(&one, &o, skipped_one);

    o.threads = 2;
    cnnrt_err e2 = {{0}};
    int rc2 = cnnrt_folder_load(root, &o, &two, &skipped_two, &e2);
    FUZZ_CHECK_RESULT(rc2, e2);
    FUZZ_CHECK(rc2 == rc && strcmp(e.msg, e2.msg) == 0);
    if (rc == 0) {
        FUZZ_CHECK(skipped_one == skipped_two && same_data_set(&one, &two));
        cnnrt_dataset_free(&one);
        cnnrt_dataset_free(&two);
    }
    return 0;
}
