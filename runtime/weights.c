/* Weights files (format in docs/weights-format.md): serialised into memory byte by byte in
 * little-endian order (so the file is the same on every machine), CRC'd, and written
 * atomically; read back whole, checked from the outside in (magic, version, size, CRC) before
 * any field is trusted, then compared with what the loading model expects. */
#include "cnnrt_weights.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cnnrt_limits.h"

#define WEIGHTS_MAX_FILE_BYTES ((size_t)4 << 30)
#define WEIGHTS_FLAG_OPTIMIZER 1u
#define WEIGHTS_FLAG_CALLBACKS 2u
#define WEIGHTS_KNOWN_FLAGS (WEIGHTS_FLAG_OPTIMIZER | WEIGHTS_FLAG_CALLBACKS)
/* magic 8 + version 4 + flags 4 + file size 8 + fingerprint 8 */
#define WEIGHTS_FIXED_HEADER 32

/* ---- Writing: a growable byte buffer ---------------------------------------------------- */

typedef struct byte_buf {
    unsigned char *data;
    size_t len, cap;
} byte_buf;

static void buf_reserve(byte_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    unsigned char *grown = realloc(b->data, cap);
    if (!grown) {
        fprintf(stderr, "cnnc runtime: out of memory building a weights file\n");
        abort();
    }
    b->data = grown;
    b->cap = cap;
}

static void put_u32(byte_buf *b, uint32_t v)
{
    buf_reserve(b, 4);
    for (int i = 0; i < 4; i++)
        b->data[b->len++] = (unsigned char)(v >> (8 * i));
}

static void put_u64(byte_buf *b, uint64_t v)
{
    buf_reserve(b, 8);
    for (int i = 0; i < 8; i++)
        b->data[b->len++] = (unsigned char)(v >> (8 * i));
}

static void put_bytes(byte_buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_string(byte_buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    put_bytes(b, s, n);
}

static void put_floats(byte_buf *b, const float *f, int64_t n)
{
    buf_reserve(b, 4 * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &f[i], 4);
        put_u32(b, bits);
    }
}

static void patch_u64(byte_buf *b, size_t at, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b->data[at + i] = (unsigned char)(v >> (8 * i));
}

static int64_t shape_size(const cnnrt_param_desc *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= t->dims[d];
    return n;
}

/* ---- Non-finite values: never written, never loaded ---------------------------------------- */

static int64_t first_non_finite(const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return i;
    return -1;
}

/* "NaN at index 1234 ([2][0][5][17])": the flat index and its coordinates in the shape. */
static void describe_bad_value(const cnnrt_param_desc *t, const float *v, int64_t index,
                               char *buf, size_t size)
{
    int used = snprintf(buf, size, "%s at index %lld", isnan(v[index]) ? "NaN" :
                        v[index] > 0 ? "+inf" : "-inf", (long long)index);
    if (!t || t->rank < 2 || used < 0 || (size_t)used >= size)
        return;
    int64_t coord[CNNRT_MAX_RANK], rest = index;
    for (int d = t->rank - 1; d >= 0; d--) {
        coord[d] = rest % t->dims[d];
        rest /= t->dims[d];
    }
    size_t at = (size_t)used;
    at += (size_t)snprintf(buf + at, size - at, " (");
    for (int d = 0; d < t->rank && at < size; d++)
        at += (size_t)snprintf(buf + at, size - at, "[%lld]", (long long)coord[d]);
    if (at < size)
        snprintf(buf + at, size - at, ")");
}

/* Fails naming the first tensor (Keras name) that holds a NaN or an infinity, and where;
 * then the optimizer state. `what` says what happens to the file ("not saved", ...). */
static int check_finite(const char *path, const char *what, const cnnrt_param_desc *tensors,
                        int num_tensors, const float *params, const float *opt_state,
                        int64_t opt_state_floats, cnnrt_err *e)
{
    char where[160];
    for (int i = 0; i < num_tensors; i++) {
        const cnnrt_param_desc *t = &tensors[i];
        int64_t bad = first_non_finite(params + t->offset, t->size);
        if (bad >= 0) {
            describe_bad_value(t, params + t->offset, bad, where, sizeof where);
            return cnnrt_fail(e, "%s: %s: tensor '%s' holds %s; weights must be finite (did "
                                 "training diverge?)", path, what, t->name, where);
        }
    }
    int64_t bad = opt_state ? first_non_finite(opt_state, opt_state_floats) : -1;
    if (bad >= 0) {
        describe_bad_value(NULL, opt_state, bad, where, sizeof where);
        return cnnrt_fail(e, "%s: %s: the optimizer state holds %s; it must be finite (did "
                             "training diverge?)", path, what, where);
    }
    return 0;
}

/* Rejects a description that would write a file the loader refuses or read out of bounds. */
static int check_for_saving(const char *path, const cnnrt_weights *w, cnnrt_err *e)
{
    if (w->num_tensors < 0 || (w->num_tensors > 0 && (!w->tensors || !w->params)))
        return cnnrt_fail(e, "%s: nothing to save (no tensors or no parameter buffer)", path);
    if (strnlen(w->model_name, sizeof w->model_name) >= sizeof w->model_name)
        return cnnrt_fail(e, "%s: model name is not terminated", path);
    for (int i = 0; i < w->num_tensors; i++) {
        const cnnrt_param_desc *t = &w->tensors[i];
        if (strnlen(t->name, sizeof t->name) >= sizeof t->name)
            return cnnrt_fail(e, "%s: tensor %d's name is longer than %zu bytes", path, i + 1,
                              sizeof t->name - 1);
        if (t->rank < 1 || t->rank > CNNRT_MAX_RANK)
            return cnnrt_fail(e, "%s: tensor '%s' has rank %d (1..%d allowed)", path, t->name,
                              t->rank, CNNRT_MAX_RANK);
        for (int d = 0; d < t->rank; d++)
            if (t->dims[d] <= 0)
                return cnnrt_fail(e, "%s: tensor '%s' has dimension %lld", path, t->name,
                                  (long long)t->dims[d]);
        if (shape_size(t) != t->size)
            return cnnrt_fail(e, "%s: tensor '%s' has size %lld, its shape says %lld", path,
                              t->name, (long long)t->size, (long long)shape_size(t));
        if (t->offset < 0 || t->offset + t->size > w->param_floats)
            return cnnrt_fail(e, "%s: tensor '%s' (offset %lld, size %lld) lies outside the "
                                 "%lld-float parameter buffer", path, t->name,
                              (long long)t->offset, (long long)t->size,
                              (long long)w->param_floats);
    }
    if (w->opt_kind != CNNRT_OPT_NONE && !cnnrt_optimizer_name(w->opt_kind))
        return cnnrt_fail(e, "%s: unknown optimizer code %d", path, w->opt_kind);
    if (w->opt_kind != CNNRT_OPT_NONE && (!w->opt_state || w->opt_state_floats <= 0))
        return cnnrt_fail(e, "%s: optimizer '%s' given without its state", path,
                          cnnrt_opt_kind_name(w->opt_kind));
    if (w->num_history < 0 || (w->num_history > 0 && !w->history))
        return cnnrt_fail(e, "%s: history of %lld epochs given without records", path,
                          (long long)w->num_history);
    if (w->num_callback_values < 0 ||
        w->num_callback_values > CNNRT_WEIGHTS_MAX_CALLBACK_VALUES)
        return cnnrt_fail(e, "%s: %d callback values (at most %d)", path,
                          w->num_callback_values, CNNRT_WEIGHTS_MAX_CALLBACK_VALUES);
    if (w->other_params && check_finite(path, "not saved (the previous file is untouched)",
                                        w->tensors, w->num_tensors, w->other_params, NULL, 0,
                                        e))
        return -1;
    /* The loader refuses non-finite weights, so saving them would destroy the previous,
     * usable file for one that cannot be read. */
    return check_finite(path, "not saved (the previous file is untouched)", w->tensors,
                        w->num_tensors, w->params,
                        w->opt_kind != CNNRT_OPT_NONE ? w->opt_state : NULL,
                        w->opt_state_floats, e);
}

int cnnrt_weights_save(const char *path, const cnnrt_weights *w, cnnrt_err *e)
{
    if (check_for_saving(path, w, e))
        return -1;
    byte_buf b = {0};
    put_bytes(&b, CNNRT_WEIGHTS_MAGIC, 8);
    put_u32(&b, CNNRT_WEIGHTS_VERSION);
    int has_callbacks = w->num_callback_values > 0 || w->other_params;
    put_u32(&b, (w->opt_kind != CNNRT_OPT_NONE ? WEIGHTS_FLAG_OPTIMIZER : 0) |
                    (has_callbacks ? WEIGHTS_FLAG_CALLBACKS : 0));
    size_t file_size_at = b.len;
    put_u64(&b, 0);   /* patched below, once the size is known */
    put_u64(&b, w->fingerprint);
    put_string(&b, w->model_name);

    put_u32(&b, (uint32_t)w->num_tensors);
    for (int i = 0; i < w->num_tensors; i++) {
        const cnnrt_param_desc *t = &w->tensors[i];
        put_string(&b, t->name);
        put_u32(&b, (uint32_t)t->rank);
        for (int d = 0; d < t->rank; d++)
            put_u64(&b, (uint64_t)t->dims[d]);
        put_floats(&b, w->params + t->offset, t->size);
    }

    if (w->opt_kind != CNNRT_OPT_NONE) {
        put_u32(&b, (uint32_t)w->opt_kind);
        put_u64(&b, (uint64_t)w->opt_state_floats);
        put_floats(&b, w->opt_state, w->opt_state_floats);
    }

    put_u64(&b, (uint64_t)w->epochs_done);
    put_u64(&b, (uint64_t)w->steps_done);
    put_u64(&b, w->seed);
    put_u64(&b, (uint64_t)w->num_history);
    for (int64_t i = 0; i < w->num_history; i++) {
        const cnnrt_epoch_record *r = &w->history[i];
        float row[4] = {r->loss, r->acc, r->val_loss, r->val_acc};
        put_floats(&b, row, 4);
    }

    if (has_callbacks) {
        put_u32(&b, (uint32_t)w->num_callback_values);
        for (int i = 0; i < w->num_callback_values; i++) {
            uint64_t bits;
            memcpy(&bits, &w->callback_values[i], 8);
            put_u64(&b, bits);
        }
        put_u32(&b, w->other_params != NULL);
        for (int i = 0; w->other_params && i < w->num_tensors; i++)
            put_floats(&b, w->other_params + w->tensors[i].offset, w->tensors[i].size);
    }

    patch_u64(&b, file_size_at, (uint64_t)b.len + 4);
    put_u32(&b, cnnrt_crc32(0, b.data, b.len));
    int rc = cnnrt_write_file_atomic(path, b.data, b.len, e);
    free(b.data);
    return rc;
}

/* ---- Reading: a bounds-checked cursor --------------------------------------------------- */

typedef struct cursor {
    const unsigned char *data;
    size_t len, pos;
    int overrun;    /* set when a read went past the end; reads then return zeros */
} cursor;

static const unsigned char *take(cursor *c, size_t n)
{
    if (c->overrun || n > c->len - c->pos) {
        c->overrun = 1;
        return NULL;
    }
    const unsigned char *p = c->data + c->pos;
    c->pos += n;
    return p;
}

static uint32_t get_u32(cursor *c)
{
    const unsigned char *p = take(c, 4);
    if (!p)
        return 0;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(cursor *c)
{
    uint64_t lo = get_u32(c);
    uint64_t hi = get_u32(c);
    return lo | hi << 32;
}

/* Reads a length-prefixed string into out (size out_size); 0 on success. */
static int get_string(cursor *c, char *out, size_t out_size)
{
    uint32_t n = get_u32(c);
    if (c->overrun || n >= out_size)
        return -1;
    const unsigned char *p = take(c, n);
    if (!p)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int get_floats(cursor *c, float *out, int64_t n)
{
    if (n < 0 || (uint64_t)n > (c->len - c->pos) / 4) {
        c->overrun = 1;
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits = get_u32(c);
        memcpy(&out[i], &bits, 4);
    }
    return 0;
}

static void format_shape(const cnnrt_param_desc *t, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < t->rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? "x" : "",
                                 (long long)t->dims[d]);
}

static int same_shape(const cnnrt_param_desc *a, const cnnrt_param_desc *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d])
            return 0;
    return 1;
}

/* The fixed header (magic, version, declared size) of a file whose first `len` bytes are in
 * data, and whose whole length is `actual` (-1 when unknown: a pipe or a device). Fills
 * *declared. The flag bits are checked after the CRC (check_envelope): an unknown bit in an
 * intact file is a newer writer's, in a damaged one it is damage. */
static int check_header(const char *path, const unsigned char *data, size_t len,
                        int64_t actual, uint64_t *declared, cnnrt_err *e)
{
    if (len < 8 || memcmp(data, CNNRT_WEIGHTS_MAGIC, 7) != 0)
        return cnnrt_fail(e, "%s: not a cnnc weights file (it does not start with \"%s\")",
                          path, CNNRT_WEIGHTS_MAGIC);
    if (len < WEIGHTS_FIXED_HEADER)
        return cnnrt_fail(e, "%s: truncated: only %zu bytes, not even a complete header", path,
                          len);
    cursor c = {data, len, 8, 0};
    uint32_t version = get_u32(&c);
    if (memcmp(data, CNNRT_WEIGHTS_MAGIC, 8) != 0 || version != CNNRT_WEIGHTS_VERSION)
        return cnnrt_fail(e, "%s: weights format version %u (magic \"%.8s\"); this program "
                             "reads version %d -- it was written by another version of cnnc",
                          path, version, (const char *)data, CNNRT_WEIGHTS_VERSION);
    get_u32(&c);   /* flags */
    *declared = get_u64(&c);
    if (*declared < WEIGHTS_FIXED_HEADER + 4)
        return cnnrt_fail(e, "%s: corrupted: its header gives a size of %llu bytes", path,
                          (unsigned long long)*declared);
    if (actual >= 0 && (uint64_t)actual < *declared)
        return cnnrt_fail(e, "%s: truncated: %lld of its %llu bytes (an interrupted copy?)",
                          path, (long long)actual, (unsigned long long)*declared);
    if (actual >= 0 && (uint64_t)actual > *declared)
        return cnnrt_fail(e, "%s: %llu bytes of garbage after the end of the weights data",
                          path, (unsigned long long)actual - *declared);
    return 0;
}

/* Header, declared size against actual size, CRC, flags: is this an intact file that this
 * program can read? */
static int check_envelope(const char *path, const unsigned char *data, size_t len,
                          cnnrt_err *e)
{
    uint64_t declared;
    if (check_header(path, data, len, (int64_t)len, &declared, e))
        return -1;
    uint32_t stored = (uint32_t)data[len - 4] | (uint32_t)data[len - 3] << 8 |
                      (uint32_t)data[len - 2] << 16 | (uint32_t)data[len - 1] << 24;
    uint32_t computed = cnnrt_crc32(0, data, len - 4);
    if (stored != computed)
        return cnnrt_fail(e, "%s: corrupted: CRC-32 mismatch (stored %08x, computed %08x)",
                          path, stored, computed);
    cursor c = {data, len, 12, 0};
    uint32_t flags = get_u32(&c);
    if (flags & ~WEIGHTS_KNOWN_FLAGS)
        return cnnrt_fail(e, "%s: header flags 0x%08x set bits this program does not know "
                             "(only bits 0 and 1 are defined): the file was written by a newer cnnc; "
                             "use that version, or retrain", path, flags);
    return 0;
}

/* Reads the tensor table and data; with expect, compares each tensor and places its data at
 * the expected offset. */
static int read_tensors(const char *path, cursor *c, const cnnrt_weights_expect *expect,
                        cnnrt_weights *w, cnnrt_err *e)
{
    uint32_t count = get_u32(c);
    if (c->overrun || count > c->len / 8)
        return cnnrt_fail(e, "%s: corrupted tensor table", path);
    if (expect && (int64_t)count != expect->num_tensors)
        return cnnrt_fail(e, "%s: holds %u tensors, model '%s' has %d", path, count,
                          expect->model_name, expect->num_tensors);
    w->num_tensors = (int)count;
    w->tensors = cnnrt_xcalloc(count ? count : 1, sizeof *w->tensors);
    if (expect) {
        w->param_floats = expect->param_floats;
        w->params = cnnrt_aligned_alloc(4 * (size_t)w->param_floats);
    }
    size_t table_start = c->pos;
    int64_t total = 0;
    /* Two passes when nothing is expected: first the sizes (to allocate), then the data. */
    for (int pass = expect ? 1 : 0; pass < 2; pass++) {
        c->pos = table_start;
        for (uint32_t i = 0; i < count; i++) {
            cnnrt_param_desc *t = &w->tensors[i];
            if (get_string(c, t->name, sizeof t->name))
                return cnnrt_fail(e, "%s: corrupted name of tensor %u", path, i);
            uint32_t rank = get_u32(c);
            if (c->overrun || rank < 1 || rank > CNNRT_MAX_RANK)
                return cnnrt_fail(e, "%s: tensor '%s' has an invalid rank %u", path, t->name,
                                  rank);
            t->rank = (int)rank;
            uint64_t size = 1;
            for (uint32_t d = 0; d < rank; d++) {
                uint64_t dim = get_u64(c);
                if (dim == 0 || dim > c->len)
                    return cnnrt_fail(e, "%s: tensor '%s' has an invalid dimension", path,
                                      t->name);
                t->dims[d] = (int64_t)dim;
                size *= dim;
                if (size > c->len)
                    return cnnrt_fail(e, "%s: tensor '%s' is larger than the file", path,
                                      t->name);
            }
            t->size = (int64_t)size;
            if (expect) {
                const cnnrt_param_desc *want = &expect->tensors[i];
                if (strcmp(t->name, want->name) != 0 || !same_shape(t, want)) {
                    char have_shape[96], want_shape[96];
                    format_shape(t, have_shape, sizeof have_shape);
                    format_shape(want, want_shape, sizeof want_shape);
                    return cnnrt_fail(e, "%s: tensor %u is '%s' %s, model '%s' expects '%s' %s",
                                      path, i + 1, t->name, have_shape, expect->model_name,
                                      want->name, want_shape);
                }
                t->offset = want->offset;
                if (t->offset < 0 || t->offset + t->size > w->param_floats)
                    return cnnrt_fail(e, "%s: tensor '%s' does not fit the model's parameter "
                                         "buffer", path, t->name);
            } else {
                t->offset = total;
            }
            total += t->size;
            if (pass == 0) {
                if (!take(c, 4 * (size_t)t->size))
                    return cnnrt_fail(e, "%s: corrupted: tensor '%s' runs past the end", path,
                                      t->name);
            } else if (get_floats(c, w->params + t->offset, t->size)) {
                return cnnrt_fail(e, "%s: corrupted: tensor '%s' runs past the end", path,
                                  t->name);
            }
        }
        if (pass == 0) {
            w->param_floats = total;
            w->params = cnnrt_aligned_alloc(4 * (size_t)total);
            total = 0;
        }
    }
    return 0;
}

/* "sgd (1), adam (2), rmsprop (3)" into buf. */
static void list_known_optimizers(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
#define LIST_OPT(id, text, code)                                                          \
    if (used < size)                                                                     \
        used += (size_t)snprintf(buf + used, size - used, "%s%s (%d)", used ? ", " : "", \
                                 text, code);
    CNNRT_OPTIMIZERS(LIST_OPT)
#undef LIST_OPT
}

static int read_optimizer(const char *path, cursor *c, const cnnrt_weights_expect *expect,
                          cnnrt_weights *w, cnnrt_err *e)
{
    uint32_t kind = get_u32(c);
    uint64_t floats = get_u64(c);
    if (c->overrun || floats > (c->len - c->pos) / 4)
        return cnnrt_fail(e, "%s: corrupted optimizer section", path);
    if (kind == CNNRT_OPT_NONE || !cnnrt_optimizer_name((int)kind)) {
        char known[256];
        list_known_optimizers(known, sizeof known);
        return cnnrt_fail(e, "%s: unknown optimizer code %u in the optimizer section (this "
                             "program knows %s): written by a newer cnnc, or damaged",
                          path, (unsigned)kind, known);
    }
    if (expect && ((int64_t)floats != expect->opt_state_floats || (int)kind != expect->opt_kind)) {
        /* Usable weights, unusable optimizer state: drop it and let the caller say so. */
        w->dropped_opt_kind = (int)kind;
        take(c, 4 * (size_t)floats);
        return 0;
    }
    w->opt_kind = (int)kind;
    w->opt_state_floats = (int64_t)floats;
    w->opt_state = cnnrt_aligned_alloc(4 * (size_t)floats);
    return get_floats(c, w->opt_state, (int64_t)floats);
}

static int read_progress(const char *path, cursor *c, cnnrt_weights *w, cnnrt_err *e)
{
    w->epochs_done = (int64_t)get_u64(c);
    w->steps_done = (int64_t)get_u64(c);
    w->seed = get_u64(c);
    uint64_t records = get_u64(c);
    if (c->overrun || records > (c->len - c->pos) / 16)
        return cnnrt_fail(e, "%s: corrupted progress section", path);
    w->num_history = (int64_t)records;
    w->history = cnnrt_xcalloc(records ? records : 1, sizeof *w->history);
    for (uint64_t i = 0; i < records; i++) {
        float row[4] = {0};
        get_floats(c, row, 4);
        w->history[i] = (cnnrt_epoch_record){row[0], row[1], row[2], row[3]};
    }
    return 0;
}

/* The callback section: the callbacks' values, then maybe a second set of the tensors, placed
 * like the first (read_tensors has filled w->tensors). */
static int read_callbacks(const char *path, cursor *c, cnnrt_weights *w, cnnrt_err *e)
{
    uint32_t count = get_u32(c);
    if (c->overrun || count > CNNRT_WEIGHTS_MAX_CALLBACK_VALUES)
        return cnnrt_fail(e, "%s: corrupted callback section", path);
    w->num_callback_values = (int)count;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t bits = get_u64(c);
        memcpy(&w->callback_values[i], &bits, 8);
    }
    uint32_t has_other = get_u32(c);
    if (c->overrun || has_other > 1)
        return cnnrt_fail(e, "%s: corrupted callback section", path);
    if (!has_other)
        return 0;
    w->other_params = cnnrt_aligned_alloc(4 * (size_t)(w->param_floats + 1));
    memset(w->other_params, 0, 4 * (size_t)w->param_floats);
    for (int i = 0; i < w->num_tensors; i++)
        if (get_floats(c, w->other_params + w->tensors[i].offset, w->tensors[i].size))
            return cnnrt_fail(e, "%s: corrupted: the best weights run past the end", path);
    return 0;
}

static int parse_weights(const char *path, const unsigned char *data, size_t len,
                         const cnnrt_weights_expect *expect, cnnrt_weights *w, cnnrt_err *e)
{
    if (check_envelope(path, data, len, e))
        return -1;
    /* From here on the bytes are the ones that were written; the checks below guard
     * against a file crafted or produced by a buggy writer, not against bit rot. */
    cursor c = {data, len - 4, 12, 0};
    uint32_t flags = get_u32(&c);
    get_u64(&c);   /* file size, checked */
    w->fingerprint = get_u64(&c);
    if (get_string(&c, w->model_name, sizeof w->model_name))
        return cnnrt_fail(e, "%s: corrupted model name", path);
    if (expect && w->fingerprint != expect->fingerprint)
        return cnnrt_fail(e, "%s was saved by model '%s' (fingerprint %016llx), not '%s' "
                             "(fingerprint %016llx): it holds another architecture's weights",
                          path, w->model_name, (unsigned long long)w->fingerprint,
                          expect->model_name, (unsigned long long)expect->fingerprint);
    if (read_tensors(path, &c, expect, w, e))
        return -1;
    if ((flags & WEIGHTS_FLAG_OPTIMIZER) && read_optimizer(path, &c, expect, w, e))
        return -1;
    if (read_progress(path, &c, w, e))
        return -1;
    if ((flags & WEIGHTS_FLAG_CALLBACKS) && read_callbacks(path, &c, w, e))
        return -1;
    if (c.pos != c.len)
        return cnnrt_fail(e, "%s: corrupted: %zu unexplained bytes before the checksum", path,
                          c.len - c.pos);
    return 0;
}

int cnnrt_weights_parse(const char *name, const void *data, size_t len,
                        const cnnrt_weights_expect *expect, cnnrt_weights *out, cnnrt_err *e)
{
    memset(out, 0, sizeof *out);
    int rc = parse_weights(name, data, len, expect, out, e);
    if (rc == 0)
        rc = check_finite(name, "unusable", out->tensors, out->num_tensors, out->params,
                          out->opt_state, out->opt_state_floats, e);
    if (rc == 0 && out->other_params)
        rc = check_finite(name, "unusable (in the best weights)", out->tensors,
                          out->num_tensors, out->other_params, NULL, 0, e);
    if (rc)
        cnnrt_weights_free(out);
    return rc;
}

/* The largest file a model's weights can make: its tensors (names at their longest), an
 * optimizer state of up to twice the parameters (Adam, or whichever the model has), and a
 * history of one record per epoch allowed. A header promising more is not this model's. */
static uint64_t largest_plausible_file(const cnnrt_weights_expect *x)
{
    uint64_t bytes = WEIGHTS_FIXED_HEADER + 4 + sizeof ((cnnrt_weights *)0)->model_name + 4;
    for (int i = 0; i < x->num_tensors; i++)
        bytes += 4 + sizeof x->tensors[i].name + 4 + 8 * CNNRT_MAX_RANK +
                 4 * (uint64_t)x->tensors[i].size;
    uint64_t state = 2 * (uint64_t)x->param_floats;
    if ((uint64_t)x->opt_state_floats > state)
        state = (uint64_t)x->opt_state_floats;
    bytes += 12 + 4 * state;
    bytes += 32 + 16 * ((uint64_t)CNNC_LIMIT_EPOCHS_MAX + 1);
    bytes += 8 + 8 * CNNRT_WEIGHTS_MAX_CALLBACK_VALUES + 4 * (uint64_t)x->param_floats;
    return bytes + 4;
}

/* Reads the file's bytes, trusting its header's size only after checking it: against the
 * file's size (a regular file), against what the expected model can need and against the
 * format's maximum. A pipe or a device is read only up to the size its header promises, so
 * /dev/zero or an endless pipe costs a few bytes, not gigabytes. */
static int read_weights_bytes(const char *path, FILE *fp, const cnnrt_weights_expect *expect,
                              unsigned char **data, size_t *len, cnnrt_err *e)
{
    struct stat st;
    if (fstat(fileno(fp), &st) != 0)
        return cnnrt_fail_errno(e, "%s: cannot read", path);
    if (S_ISDIR(st.st_mode))
        return cnnrt_fail(e, "%s: is a directory, not a weights file", path);
    int64_t actual = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    unsigned char head[WEIGHTS_FIXED_HEADER];
    size_t got = fread(head, 1, sizeof head, fp);
    if (ferror(fp))
        return cnnrt_fail_errno(e, "%s: read error", path);
    uint64_t declared = 0;
    if (check_header(path, head, got, actual, &declared, e))
        return -1;
    if (declared > WEIGHTS_MAX_FILE_BYTES)
        return cnnrt_fail(e, "%s: its header gives a size of %llu bytes, more than the %zu a "
                             "weights file may have: corrupted or not a weights file", path,
                          (unsigned long long)declared, WEIGHTS_MAX_FILE_BYTES);
    if (expect && declared > largest_plausible_file(expect))
        return cnnrt_fail(e, "%s: its header gives a size of %llu bytes, more than weights of "
                             "model '%s' can take (%llu bytes): corrupted or not this model's "
                             "weights", path, (unsigned long long)declared, expect->model_name,
                          (unsigned long long)largest_plausible_file(expect));
    unsigned char *buf = malloc((size_t)declared);
    if (!buf)
        return cnnrt_fail(e, "%s: out of memory reading %llu bytes", path,
                          (unsigned long long)declared);
    memcpy(buf, head, sizeof head);
    size_t rest = (size_t)declared - sizeof head;
    got = fread(buf + sizeof head, 1, rest, fp);
    int extra = got == rest && fgetc(fp) != EOF;
    if (ferror(fp)) {
        free(buf);
        return cnnrt_fail_errno(e, "%s: read error", path);
    }
    if (got < rest || extra) {
        free(buf);
        if (extra)
            return cnnrt_fail(e, "%s: garbage after the end of the weights data (more than the "
                                 "%llu bytes its header gives)", path,
                              (unsigned long long)declared);
        return cnnrt_fail(e, "%s: truncated: %zu of its %llu bytes (an interrupted copy?)",
                          path, sizeof head + got, (unsigned long long)declared);
    }
    *data = buf;
    *len = (size_t)declared;
    return 0;
}

int cnnrt_weights_load(const char *path, const cnnrt_weights_expect *expect,
                       cnnrt_weights *out, cnnrt_err *e)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cnnrt_fail_errno(e, "%s: cannot open", path);
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = read_weights_bytes(path, fp, expect, &data, &len, e);
    fclose(fp);
    if (rc)
        return -1;
    rc = cnnrt_weights_parse(path, data, len, expect, out, e);
    free(data);
    return rc;
}

void cnnrt_weights_free(cnnrt_weights *w)
{
    if (!w)
        return;
    free(w->tensors);
    free(w->params);
    free(w->opt_state);
    free(w->history);
    free(w->other_params);
    memset(w, 0, sizeof *w);
}

const char *cnnrt_opt_kind_name(int kind)
{
    if (kind == CNNRT_OPT_NONE)
        return "none";
    const char *name = cnnrt_optimizer_name(kind);
    return name ? name : "unknown";
}
