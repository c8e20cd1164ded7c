/* Picture folders as data sets, with Keras's image_dataset_from_directory semantics (see
 * cnnrt_data.h): listing the class folders, decoding every picture once on all threads into
 * the model's input size, and reporting bad pictures by path. */
#include "cnnrt_data.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrt_image.h"
#include "cnnrt_pool.h"
#include "cnnrt_progress.h"

enum { MAX_CLASSES = 256 };   /* labels are stored as bytes */
enum { MAX_BAD_NOTES = 20 };  /* skipped pictures named one by one; the rest only counted */

/* ---- listing ------------------------------------------------------------------------------ */

typedef struct picture_entry {
    char *path;
    int label;
    int64_t sorted_index;     /* place in (class, path) order, for reporting in that order */
} picture_entry;

typedef struct entry_list {
    picture_entry *items;
    int64_t count, cap;
} entry_list;

typedef struct name_list {
    char **items;
    int64_t count, cap;
} name_list;

static void names_push(name_list *l, const char *name)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = realloc(l->items, sizeof *l->items * (size_t)l->cap);
        if (!l->items)
            abort();
    }
    l->items[l->count++] = strdup(name);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = cnnrt_xmalloc(n);
    size_t len = strlen(dir);
    snprintf(path, n, "%s%s%s", dir, len > 0 && dir[len - 1] == '/' ? "" : "/", name);
    return path;
}

typedef enum { ENTRY_FILE, ENTRY_DIR, ENTRY_LINKED_DIR } entry_kind;

/* A directory, a symbolic link to one, or anything else (d_type when the file system gives
 * it, else lstat; a link's target by stat). */
static entry_kind kind_of_entry(const char *dir, const struct dirent *ent)
{
    if (ent->d_type == DT_DIR)
        return ENTRY_DIR;
    if (ent->d_type != DT_UNKNOWN && ent->d_type != DT_LNK)
        return ENTRY_FILE;
    char *path = join_path(dir, ent->d_name);
    struct stat st;
    entry_kind kind = ENTRY_FILE;
    int known = lstat(path, &st) == 0;
    if (known && S_ISDIR(st.st_mode))
        kind = ENTRY_DIR;
    else if (known && S_ISLNK(st.st_mode) && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        kind = ENTRY_LINKED_DIR;
    free(path);
    return kind;
}

/* The names in dir (no '.'-names), sorted; directories into dirs, the rest into files.
 * Symbolic links to directories are directories when follow_links, else left out, as Keras
 * lists them: its class folders by os.path.isdir (which follows links), the files under a
 * class folder by a walk with follow_links=False (a linked folder is neither visited nor a
 * file). */
static int list_dir(const char *dir, int follow_links, name_list *dirs, name_list *files,
                    cnnrt_err *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return cnnrt_fail_errno(e, "%s: cannot read folder", dir);
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        entry_kind kind = kind_of_entry(dir, ent);
        if (kind == ENTRY_DIR || (kind == ENTRY_LINKED_DIR && follow_links))
            names_push(dirs, ent->d_name);
        else if (kind == ENTRY_FILE && files)
            names_push(files, ent->d_name);
    }
    closedir(d);
    if (dirs->count > 1)
        qsort(dirs->items, (size_t)dirs->count, sizeof *dirs->items, compare_names);
    if (files && files->count > 1)
        qsort(files->items, (size_t)files->count, sizeof *files->items, compare_names);
    return 0;
}

static void names_free(name_list *l)
{
    for (int64_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static void entries_push(entry_list *l, char *path, int label)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->items = realloc(l->items, sizeof *l->items * (size_t)l->cap);
        if (!l->items)
            abort();
    }
    l->items[l->count] = (picture_entry){path, label, l->count};
    l->count++;
}

/* Every file under dir, recursively, in path order (a folder's files before its
 * subfolders, as Keras's sorted walk lists them). */
static int collect_files(const char *dir, int label, int depth, entry_list *out, cnnrt_err *e)
{
    if (depth > 32)
        return cnnrt_fail(e, "%s: folders nested more than 32 deep", dir);
    name_list dirs = {0}, files = {0};
    int rc = list_dir(dir, 0, &dirs, &files, e);
    for (int64_t i = 0; rc == 0 && i < files.count; i++)
        entries_push(out, join_path(dir, files.items[i]), label);
    for (int64_t i = 0; rc == 0 && i < dirs.count; i++) {
        char *sub = join_path(dir, dirs.items[i]);
        rc = collect_files(sub, label, depth + 1, out, e);
        free(sub);
    }
    names_free(&dirs);
    names_free(&files);
    return rc;
}

int cnnrt_folder_list_files(const char *dir, char ***paths, int64_t *count, cnnrt_err *e)
{
    *paths = NULL;
    *count = 0;
    entry_list entries = {0};
    if (collect_files(dir, 0, 0, &entries, e)) {
        for (int64_t i = 0; i < entries.count; i++)
            free(entries.items[i].path);
        free(entries.items);
        return -1;
    }
    char **list = cnnrt_xmalloc(sizeof *list * (size_t)(entries.count + 1));
    for (int64_t i = 0; i < entries.count; i++)
        list[i] = entries.items[i].path;
    free(entries.items);
    *paths = list;
    *count = entries.count;
    return 0;
}

int cnnrt_folder_has_classes(const char *dir)
{
    name_list dirs = {0};
    if (list_dir(dir, 1, &dirs, NULL, NULL))
        return 0;
    int has = dirs.count > 0;
    names_free(&dirs);
    return has;
}

/* ---- decoding ----------------------------------------------------------------------------- */

typedef enum { PICTURE_OK = 0, PICTURE_IGNORED = 1, PICTURE_BAD = 2 } picture_status;

typedef struct decode_job {
    const cnnrt_folder_options *o;
    const picture_entry *entries;
    int64_t count;
    uint8_t *pixels;          /* count * h * w * c, slot i for entry i */
    uint8_t *status;          /* picture_status per entry */
    char **messages;          /* per bad entry: its error message */
    atomic_llong done;
    cnnrt_progress *progress; /* drawn by worker 0 only; NULL when not drawing */
} decode_job;

/* The whole file in one read of its size (cnnrt_read_file grows a buffer instead, which
 * for 60,000 small pictures costs more than decoding them). Only a regular file is read:
 * *kind says what anything else is. */
static int read_whole_file(const char *path, cnnrt_file_kind *kind, unsigned char **data,
                           size_t *len, cnnrt_err *e)
{
    uint64_t size;
    int fd = cnnrt_open_regular(path, kind, &size, e);
    if (fd < 0)
        return -1;
    if (size > CNNRT_PICTURE_MAX_FILE_BYTES) {
        close(fd);
        return cnnrt_fail(e, "%s: file is larger than %zu bytes", path,
                          CNNRT_PICTURE_MAX_FILE_BYTES);
    }
    size_t got = 0;
    unsigned char *buf = cnnrt_xmalloc((size_t)size + 1);
    while (got < size) {
        ssize_t n = read(fd, buf + got, (size_t)size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;   /* the file shrank while being read: decode what is there */
        got += (size_t)n;
    }
    close(fd);
    *data = buf;
    *len = got;
    return 0;
}

/* Whether a file that could not be read is left out quietly: a named pipe, a device or a
 * linked folder holds no picture, so like any file that is not one it is ignored, unless
 * its name says it is a picture. A file that is missing or cannot be opened may be one. */
static int unread_file_is_ignored(const char *path, cnnrt_file_kind kind)
{
    int not_a_file = kind != CNNRT_FILE_MISSING && kind != CNNRT_FILE_LINK_LOOP &&
                     kind != CNNRT_FILE_UNOPENABLE && kind != CNNRT_FILE_REGULAR;
    return not_a_file && !cnnrt_picture_name_looks_like_one(path);
}

/* Decodes, converts and resizes one picture into its slot. */
static picture_status decode_one(const decode_job *job, const char *path, uint8_t *slot,
                                 cnnrt_err *e)
{
    const cnnrt_folder_options *o = job->o;
    unsigned char *data = NULL;
    size_t len = 0;
    cnnrt_file_kind kind;
    if (read_whole_file(path, &kind, &data, &len, e))
        return unread_file_is_ignored(path, kind) ? PICTURE_IGNORED : PICTURE_BAD;
    if (cnnrt_picture_format_of(data, len) == CNNRT_PICTURE_NONE &&
        !cnnrt_picture_name_looks_like_one(path)) {
        free(data);
        return PICTURE_IGNORED;
    }
    cnnrt_image img, converted = {0}, resized = {0};
    int rc = cnnrt_picture_decode(path, data, len, CNNRT_ALPHA_IGNORE, &img, e);
    free(data);
    if (rc)
        return PICTURE_BAD;
    const cnnrt_image *current = &img;
    if (img.channels != o->c) {
        rc = cnnrt_image_convert(current, (int)o->c, &converted, e);
        current = &converted;
    }
    if (rc == 0 && (current->width != o->w || current->height != o->h)) {
        rc = cnnrt_image_resize(current, (int)o->w, (int)o->h, CNNRT_RESIZE_BILINEAR, &resized,
                                e);
        current = &resized;
    }
    if (rc == 0)
        memcpy(slot, current->pixels, (size_t)(o->h * o->w * o->c));
    cnnrt_image_free(&img);
    cnnrt_image_free(&converted);
    cnnrt_image_free(&resized);
    return rc ? PICTURE_BAD : PICTURE_OK;
}

static void decode_range(void *ctx, int64_t begin, int64_t end, int64_t worker)
{
    decode_job *job = ctx;
    size_t size = (size_t)(job->o->h * job->o->w * job->o->c);
    for (int64_t i = begin; i < end; i++) {
        cnnrt_err e;
        picture_status s = decode_one(job, job->entries[i].path, job->pixels + size * (size_t)i,
                                      &e);
        job->status[i] = (uint8_t)s;
        if (s == PICTURE_BAD)
            job->messages[i] = strdup(e.msg);
        long long done = atomic_fetch_add(&job->done, 1) + 1;
        if (worker == 0 && job->progress)
            cnnrt_progress_update(job->progress, done, 0, NULL, NULL);
    }
}

static int decode_all(decode_job *job, cnnrt_err *e)
{
    cnnrt_pool *pool = cnnrt_pool_create(job->o->threads, e);
    if (!pool)
        return -1;
    cnnrt_progress progress;
    int draw = job->o->progress && cnnrt_stream_is_tty(job->o->progress);
    if (draw) {
        cnnrt_progress_begin(&progress, job->o->progress, 1, 0, 0, job->count);
        job->progress = &progress;
    }
    cnnrt_parallel_for(pool, job->count, decode_range, job);
    cnnrt_pool_destroy(pool);
    if (draw) {   /* the bar goes away; the caller prints what was read */
        fprintf(job->o->progress, "\r%*s\r", (int)progress.last_line_length, "");
        fflush(job->o->progress);
    }
    return 0;
}

/* ---- the data set ------------------------------------------------------------------------- */

/* The first bad picture in path order, with the count of the others. */
static int report_first_bad(const decode_job *job, int64_t bad, cnnrt_err *e)
{
    int64_t first = -1;
    for (int64_t i = 0; i < job->count; i++)
        if (job->status[i] == PICTURE_BAD &&
            (first < 0 || job->entries[i].sorted_index < job->entries[first].sorted_index))
            first = i;
    if (bad == 1)
        return cnnrt_fail(e, "%s (--skip-bad leaves unreadable pictures out)",
                          job->messages[first]);
    return cnnrt_fail(e, "%s (and %lld more unreadable pictures; --skip-bad leaves them out)",
                      job->messages[first], (long long)bad - 1);
}

/* Moves the good pictures together, in order; returns how many there are. */
static int64_t compact(const decode_job *job, uint8_t *labels)
{
    size_t size = (size_t)(job->o->h * job->o->w * job->o->c);
    int64_t kept = 0;
    for (int64_t i = 0; i < job->count; i++) {
        if (job->status[i] != PICTURE_OK)
            continue;
        if (kept != i)
            memmove(job->pixels + size * (size_t)kept, job->pixels + size * (size_t)i, size);
        labels[kept++] = (uint8_t)job->entries[i].label;
    }
    return kept;
}

static void note_bad(const decode_job *job, int64_t bad)
{
    FILE *notes = job->o->notes;
    if (!notes || bad == 0)
        return;
    int64_t shown = 0;
    for (int64_t i = 0; i < job->count && shown < MAX_BAD_NOTES; i++)
        if (job->status[i] == PICTURE_BAD) {
            fprintf(notes, "skipped: %s\n", job->messages[i]);
            shown++;
        }
    fprintf(notes, "skipped %lld unreadable picture%s%s\n", (long long)bad, bad == 1 ? "" : "s",
            bad > shown ? " (the first ones are named above)" : "");
}

static void note_empty_classes(const char *dir, const cnnrt_folder_options *o,
                               const name_list *classes, const uint8_t *labels, int64_t count)
{
    int64_t per_class[MAX_CLASSES] = {0};
    for (int64_t i = 0; i < count; i++)
        per_class[labels[i]]++;
    for (int64_t k = 0; o->notes && k < classes->count; k++)
        if (per_class[k] == 0)
            fprintf(o->notes, "warning: class '%s' (%s/%s) has no pictures\n",
                    classes->items[k], dir, classes->items[k]);
}

static int list_classes(const char *dir, const cnnrt_folder_options *o, name_list *classes,
                        cnnrt_err *e)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return cnnrt_fail_errno(e, "%s: cannot use as a picture folder", dir);
    if (list_dir(dir, 1, classes, NULL, e))
        return -1;
    if (classes->count == 0)
        return cnnrt_fail(e, "%s: no class folders in it (a picture folder has one subfolder "
                             "per class, named after the class)", dir);
    if (classes->count > MAX_CLASSES)
        return cnnrt_fail(e, "%s: %lld class folders; at most %d are supported", dir,
                          (long long)classes->count, MAX_CLASSES);
    if (o->num_classes > 0 && classes->count != o->num_classes) {
        char list[512] = "";
        for (int64_t k = 0; k < classes->count && strlen(list) < 400; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                     classes->items[k]);
        return cnnrt_fail(e, "%s: %lld class folder%s (%s%s), but the model has %lld classes",
                          dir, (long long)classes->count, classes->count == 1 ? "" : "s", list,
                          strlen(list) >= 400 ? ", ..." : "", (long long)o->num_classes);
    }
    return 0;
}

static void shuffle_entries(entry_list *entries, uint64_t seed)
{
    int64_t n = entries->count;
    int64_t *order = cnnrt_xmalloc(sizeof *order * (size_t)(n > 0 ? n : 1));
    cnnrt_shuffle_order(n, seed, -1, order);
    picture_entry *shuffled = cnnrt_xmalloc(sizeof *shuffled * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        shuffled[i] = entries->items[order[i]];
    free(entries->items);
    entries->items = shuffled;
    entries->cap = n;
    free(order);
}

static void free_job(decode_job *job)
{
    for (int64_t i = 0; job->messages && i < job->count; i++)
        free(job->messages[i]);
    free(job->messages);
    free(job->status);
}

int cnnrt_folder_load(const char *dir, const cnnrt_folder_options *o, cnnrt_dataset *out,
                      int64_t *skipped, cnnrt_err *e)
{
    memset(out, 0, sizeof *out);
    if (skipped)
        *skipped = 0;
    if ((o->c != 1 && o->c != 3) || o->h < 1 || o->w < 1)
        return cnnrt_fail(e, "%s: pictures can feed only models with a 1- or 3-channel input, "
                             "not %lldx%lldx%lld", dir, (long long)o->h, (long long)o->w,
                          (long long)o->c);
    name_list classes = {0};
    entry_list entries = {0};
    int rc = list_classes(dir, o, &classes, e);
    for (int64_t k = 0; rc == 0 && k < classes.count; k++) {
        char *class_dir = join_path(dir, classes.items[k]);
        rc = collect_files(class_dir, (int)k, 0, &entries, e);
        free(class_dir);
    }
    if (rc == 0 && entries.count == 0)
        rc = cnnrt_fail(e, "%s: no files in its %lld class folders", dir,
                        (long long)classes.count);
    if (rc == 0 && o->shuffle)
        shuffle_entries(&entries, o->seed);

    decode_job job = {.o = o, .entries = entries.items, .count = entries.count};
    size_t size = (size_t)(o->h * o->w * o->c);
    uint8_t *labels = NULL;
    if (rc == 0) {
        /* Plain malloc: a data set too large for memory is reported, not a reason to abort. */
        job.pixels = malloc(size * (size_t)entries.count);
        if (!job.pixels)
            rc = cnnrt_fail(e, "%s: %lld pictures of %lldx%lldx%lld need %.0f MB, more memory "
                               "than there is", dir, (long long)entries.count, (long long)o->h,
                            (long long)o->w, (long long)o->c,
                            (double)size * (double)entries.count / 1e6);
    }
    if (rc == 0) {
        job.status = cnnrt_xcalloc((size_t)entries.count, 1);
        job.messages = cnnrt_xcalloc((size_t)entries.count, sizeof *job.messages);
        atomic_init(&job.done, 0);
        labels = cnnrt_xmalloc((size_t)entries.count);
        rc = decode_all(&job, e);
    }
    int64_t bad = 0, kept = 0;
    for (int64_t i = 0; rc == 0 && i < job.count; i++)
        bad += job.status[i] == PICTURE_BAD;
    if (rc == 0 && bad > 0 && !o->skip_bad)
        rc = report_first_bad(&job, bad, e);
    if (rc == 0) {
        kept = compact(&job, labels);
        if (kept == 0)
            rc = cnnrt_fail(e, "%s: no pictures (PNG, JPEG, GIF or BMP) in its %lld class "
                               "folders%s", dir, (long long)classes.count,
                            bad ? ", only unreadable ones" : "");
    }
    if (rc == 0) {
        note_bad(&job, bad);
        note_empty_classes(dir, o, &classes, labels, kept);
        /* Give back what ignored and skipped files took. */
        uint8_t *shrunk = realloc(job.pixels, size * (size_t)kept);
        out->images = shrunk ? shrunk : job.pixels;
        out->labels = labels;
        out->count = kept;
        out->h = o->h;
        out->w = o->w;
        out->c = o->c;
        out->owns_memory = 1;
        snprintf(out->images_path, sizeof out->images_path, "%s", dir);
        out->class_names = classes.items;
        out->num_class_names = classes.count;
        memset(&classes, 0, sizeof classes);
        if (skipped)
            *skipped = bad;
    } else {
        free(job.pixels);
        free(labels);
    }
    free_job(&job);
    for (int64_t i = 0; i < entries.count; i++)
        free(entries.items[i].path);
    free(entries.items);
    names_free(&classes);
    return rc;
}
