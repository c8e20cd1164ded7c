/* Reading and writing IDX files (the MNIST format), raw or gzip-compressed.
 *
 * A file is read as a stream, inflated with zlib on the fly when it starts with the gzip
 * magic 1f 8b: first the header, then exactly the data it promises. Everything is checked
 * before use, so a damaged file gives a sentence naming the file, never a crash, and a file
 * that would inflate to gigabytes is stopped one byte past its promise. */
#include "cnnrt_data.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

enum {
    IDX_TYPE_UBYTE = 0x08,
    IDX_MAX_DIMS = 4,
};

/* A header promising more is refused rather than exhausting memory. */
#define IDX_MAX_DATA_BYTES ((size_t)8 << 30)

/* ---- Reading: bytes as they come, from the file or inflated on the fly --------------------
 *
 * The header is read first; the data is then read only up to the size the header promises
 * (plus one byte, to notice more), so a gzip bomb, /dev/zero or an endless pipe cost what the
 * header promised, not what the input would produce. */

typedef struct idx_source {
    const char *path;
    FILE *fp;
    int gzip;
    int input_ended;     /* the file has no more bytes */
    int data_ended;      /* no more data: end of file, or of the last gzip member */
    z_stream zs;         /* gzip: inflate state; both: next_in/avail_in buffer `in` */
    unsigned char in[1 << 16];
} idx_source;

/* Moves the unread input to the front of `in` and reads more after it. */
static int refill(idx_source *s, cnnrt_err *e)
{
    if (s->input_ended)
        return 0;
    memmove(s->in, s->zs.next_in, s->zs.avail_in);
    s->zs.next_in = s->in;
    size_t got = fread(s->in + s->zs.avail_in, 1, sizeof s->in - s->zs.avail_in, s->fp);
    if (ferror(s->fp))
        return cnnrt_fail_errno(e, "%s: read error", s->path);
    if (got == 0)
        s->input_ended = 1;
    s->zs.avail_in += (uInt)got;
    return 0;
}

static int source_open(idx_source *s, const char *path, FILE *fp, cnnrt_err *e)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->fp = fp;
    s->zs.next_in = s->in;
    while (s->zs.avail_in < 2 && !s->input_ended)
        if (refill(s, e))
            return -1;
    if (s->zs.avail_in >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b) {
        s->gzip = 1;
        if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK) {
            s->gzip = 0;
            return cnnrt_fail(e, "%s: cannot initialise zlib", path);
        }
    }
    return 0;
}

static void source_close(idx_source *s)
{
    if (s->gzip)
        inflateEnd(&s->zs);
}

/* After the end of a gzip member: another member (as `cat a.gz b.gz` makes) or the end. */
static int next_member(idx_source *s, cnnrt_err *e)
{
    while (s->zs.avail_in < 2 && !s->input_ended)
        if (refill(s, e))
            return -1;
    if (s->zs.avail_in == 0) {
        s->data_ended = 1;
        return 0;
    }
    if (s->zs.avail_in >= 2 && s->zs.next_in[0] == 0x1f && s->zs.next_in[1] == 0x8b) {
        inflateReset(&s->zs);
        return 0;
    }
    return cnnrt_fail(e, "%s: corrupt gzip file: garbage after the compressed data", s->path);
}

/* Reads up to n bytes into out; *got is fewer than n only at the end of the data. */
static int source_read(idx_source *s, unsigned char *out, size_t n, size_t *got, cnnrt_err *e)
{
    *got = 0;
    if (!s->gzip) {
        while (*got < n && !s->data_ended) {
            if (s->zs.avail_in == 0 && refill(s, e))
                return -1;
            if (s->zs.avail_in == 0) {
                s->data_ended = 1;
                break;
            }
            size_t take = n - *got < s->zs.avail_in ? n - *got : s->zs.avail_in;
            memcpy(out + *got, s->zs.next_in, take);
            s->zs.next_in += take;
            s->zs.avail_in -= (uInt)take;
            *got += take;
        }
        return 0;
    }
    while (*got < n && !s->data_ended) {
        if (s->zs.avail_in == 0 && refill(s, e))
            return -1;
        size_t room = n - *got;
        s->zs.next_out = out + *got;
        s->zs.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        uInt before = s->zs.avail_out;
        int status = inflate(&s->zs, Z_NO_FLUSH);
        *got += before - s->zs.avail_out;
        if (status == Z_STREAM_END) {
            if (next_member(s, e))
                return -1;
        } else if (status == Z_BUF_ERROR && s->zs.avail_in == 0 && s->input_ended) {
            return cnnrt_fail(e, "%s: corrupt gzip file: the compressed stream is truncated",
                              s->path);
        } else if (status != Z_OK && status != Z_BUF_ERROR) {
            return cnnrt_fail(e, "%s: corrupt gzip file: %s", s->path,
                              s->zs.msg ? s->zs.msg : "invalid compressed data");
        }
    }
    return 0;
}

static uint32_t read_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void write_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A parsed IDX header: dims[0..ndims-1], the data starting at `header_len`. */
typedef struct idx_header {
    int ndims;
    uint32_t dims[IDX_MAX_DIMS];
    size_t header_len;
} idx_header;

/* Checks magic and type and reads the dimensions from the source: h describes the header
 * and *expected is the data size it promises. `what` ("image", "label") words the messages;
 * min_dims..max_dims is what this kind of file may have. */
static int read_header(idx_source *s, const char *what, int min_dims, int max_dims,
                       const char *dims_help, idx_header *h, uint64_t *expected, cnnrt_err *e)
{
    const char *path = s->path;
    unsigned char data[4 + 4 * IDX_MAX_DIMS];
    size_t len;
    if (source_read(s, data, 4, &len, e))
        return -1;
    if (len < 4)
        return cnnrt_fail(e, "%s: not an IDX %s file: only %zu bytes, too short for the "
                             "4-byte magic number", path, what, len);
    if (data[0] != 0 || data[1] != 0)
        return cnnrt_fail(e, "%s: not an IDX %s file: wrong magic number %02x %02x %02x %02x "
                             "(an IDX file starts with 00 00 08 and its dimension count)",
                          path, what, data[0], data[1], data[2], data[3]);
    if (data[2] != IDX_TYPE_UBYTE)
        return cnnrt_fail(e, "%s: wrong magic number %02x %02x %02x %02x: IDX data type 0x%02x "
                             "is not unsigned bytes (0x08)",
                          path, data[0], data[1], data[2], data[3], data[2]);
    h->ndims = data[3];
    if (h->ndims < min_dims || h->ndims > max_dims) {
        const char *hint = "";
        if (min_dims > 1 && h->ndims == 1)
            hint = " -- is this a label file?";
        else if (min_dims == 1 && h->ndims >= 3)
            hint = " -- is this an image file?";
        return cnnrt_fail(e, "%s: wrong number of dimensions for an IDX %s file: %d (expected "
                             "%s)%s", path, what, h->ndims, dims_help, hint);
    }
    h->header_len = 4 + 4 * (size_t)h->ndims;
    size_t more;
    if (source_read(s, data + 4, h->header_len - 4, &more, e))
        return -1;
    if (4 + more < h->header_len)
        return cnnrt_fail(e, "%s: truncated: the header needs %zu bytes, the file has %zu",
                          path, h->header_len, 4 + more);
    *expected = 1;
    for (int i = 0; i < h->ndims; i++) {
        h->dims[i] = read_be32(data + 4 + 4 * i);
        if (i > 0 && h->dims[i] == 0)
            return cnnrt_fail(e, "%s: dimension %d of the IDX header is 0", path, i + 1);
        *expected *= h->dims[i];
        if (*expected > IDX_MAX_DATA_BYTES)
            return cnnrt_fail(e, "%s: the IDX header promises more than %zu bytes of data",
                              path, IDX_MAX_DATA_BYTES);
    }
    return 0;
}

static int truncated(const char *path, const char *what, const idx_header *h,
                     uint64_t expected, uint64_t have, cnnrt_err *e)
{
    uint64_t per_item = h->dims[0] ? expected / h->dims[0] : 1;
    return cnnrt_fail(e, "%s: truncated: the header promises %u %ss (%llu bytes of data), "
                         "the file has %llu bytes (%llu complete %ss)",
                      path, h->dims[0], what, (unsigned long long)expected,
                      (unsigned long long)have, (unsigned long long)(have / per_item), what);
}

/* After the promised data: nothing more may follow. A raw file's extra bytes are counted
 * (up to a point); inflating stops at the first byte too many. */
static int check_nothing_after(idx_source *s, const char *what, const idx_header *h,
                               uint64_t expected, cnnrt_err *e)
{
    unsigned char scratch[4096];
    uint64_t extra = 0;
    size_t got;
    do {
        if (source_read(s, scratch, s->gzip ? 1 : sizeof scratch, &got, e))
            return -1;
        extra += got;
    } while (got > 0 && !s->gzip && extra < ((uint64_t)1 << 20));
    if (extra == 0)
        return 0;
    if (s->gzip)
        return cnnrt_fail(e, "%s: decompresses to more than the %llu bytes its header "
                             "promises (%u %ss)", s->path,
                          (unsigned long long)(h->header_len + expected), h->dims[0], what);
    return cnnrt_fail(e, "%s: %s%llu unexpected bytes after the %u %ss the header promises",
                      s->path, got > 0 ? "more than " : "", (unsigned long long)extra,
                      h->dims[0], what);
}

/* Reads an IDX file from fp: header, then exactly the data it promises, into *payload
 * (malloc'ed, the data without the header). A regular raw file's size is checked against
 * the header before any data is read. */
static int read_idx(const char *path, FILE *fp, const char *what, int min_dims, int max_dims,
                    const char *dims_help, idx_header *h, unsigned char **payload,
                    cnnrt_err *e)
{
    *payload = NULL;
    idx_source *s = cnnrt_xmalloc(sizeof *s);
    uint64_t expected = 0;
    int rc = source_open(s, path, fp, e);
    if (rc == 0)
        rc = read_header(s, what, min_dims, max_dims, dims_help, h, &expected, e);
    struct stat st;
    if (rc == 0 && !s->gzip && fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size != h->header_len + expected) {
        uint64_t have = (uint64_t)st.st_size - h->header_len;
        rc = have < expected ? truncated(path, what, h, expected, have, e)
                             : cnnrt_fail(e, "%s: %llu unexpected bytes after the %u %ss the "
                                             "header promises", path,
                                          (unsigned long long)(have - expected), h->dims[0],
                                          what);
    }
    /* The buffer grows with the data that actually arrives, up to what was promised. */
    size_t cap = expected < ((size_t)1 << 20) ? (size_t)expected : (size_t)1 << 20;
    size_t used = 0;
    unsigned char *buf = rc == 0 ? malloc(cap ? cap : 1) : NULL;
    if (rc == 0 && !buf)
        rc = cnnrt_fail(e, "%s: out of memory", path);
    while (rc == 0 && used < expected) {
        if (used == cap) {
            cap = cap * 2 < expected ? cap * 2 : (size_t)expected;
            unsigned char *grown = realloc(buf, cap);
            if (!grown) {
                rc = cnnrt_fail(e, "%s: out of memory for the %llu bytes its header promises",
                                path, (unsigned long long)expected);
                break;
            }
            buf = grown;
        }
        size_t want = cap - used, got;
        rc = source_read(s, buf + used, want, &got, e);
        used += got;
        if (rc == 0 && got < want)
            rc = truncated(path, what, h, expected, used, e);
    }
    if (rc == 0)
        rc = check_nothing_after(s, what, h, expected, e);
    source_close(s);
    free(s);
    if (rc) {
        free(buf);
        return -1;
    }
    *payload = buf;
    return 0;
}

/* Opens path for read_idx: a directory is named as such. */
static FILE *open_idx(const char *path, cnnrt_err *e)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        cnnrt_fail_errno(e, "%s: cannot open", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        cnnrt_fail(e, "%s: is a directory, not an IDX file", path);
        return NULL;
    }
    return fp;
}

int cnnrt_idx_read_images_from(const char *name, FILE *fp, cnnrt_idx_images *out,
                               cnnrt_err *e)
{
    memset(out, 0, sizeof *out);
    idx_header h = {0};
    unsigned char *pixels;
    if (read_idx(name, fp, "image", 3, 4, "3: count, rows, columns; or 4 with channels last",
                 &h, &pixels, e))
        return -1;
    out->count = h.dims[0];
    out->rows = h.dims[1];
    out->cols = h.dims[2];
    out->channels = h.ndims == 4 ? h.dims[3] : 1;
    out->pixels = pixels;
    return 0;
}

int cnnrt_idx_read_images(const char *path, cnnrt_idx_images *out, cnnrt_err *e)
{
    memset(out, 0, sizeof *out);
    FILE *fp = open_idx(path, e);
    if (!fp)
        return -1;
    int rc = cnnrt_idx_read_images_from(path, fp, out, e);
    fclose(fp);
    return rc;
}

int cnnrt_idx_read_labels_from(const char *name, FILE *fp, uint8_t **labels, int64_t *count,
                               cnnrt_err *e)
{
    *labels = NULL;
    *count = 0;
    idx_header h = {0};
    unsigned char *data;
    if (read_idx(name, fp, "label", 1, 1, "1: count", &h, &data, e))
        return -1;
    *labels = data;
    *count = h.dims[0];
    return 0;
}

int cnnrt_idx_read_labels(const char *path, uint8_t **labels, int64_t *count, cnnrt_err *e)
{
    *labels = NULL;
    *count = 0;
    FILE *fp = open_idx(path, e);
    if (!fp)
        return -1;
    int rc = cnnrt_idx_read_labels_from(path, fp, labels, count, e);
    fclose(fp);
    return rc;
}

/* Compresses buf into a gzip stream (a new buffer). */
static int gzip_buffer(const char *path, const unsigned char *in, size_t in_len,
                       unsigned char **out, size_t *out_len, cnnrt_err *e)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return cnnrt_fail(e, "%s: cannot initialise zlib", path);
    if (in_len > (1u << 30)) {
        deflateEnd(&zs);
        return cnnrt_fail(e, "%s: too much data to compress in one piece", path);
    }
    uLong bound = deflateBound(&zs, (uLong)in_len);
    unsigned char *buf = cnnrt_xmalloc(bound);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)in_len;
    zs.next_out = buf;
    zs.avail_out = (uInt)bound;
    int status = deflate(&zs, Z_FINISH);
    size_t produced = bound - zs.avail_out;
    deflateEnd(&zs);
    if (status != Z_STREAM_END) {
        free(buf);
        return cnnrt_fail(e, "%s: gzip compression failed", path);
    }
    *out = buf;
    *out_len = produced;
    return 0;
}

/* Writes header + payload, compressed or not, atomically. */
static int write_idx(const char *path, const uint32_t *dims, int ndims, const uint8_t *payload,
                     size_t payload_len, int gzip, cnnrt_err *e)
{
    size_t header_len = 4 + 4 * (size_t)ndims;
    size_t total = header_len + payload_len;
    unsigned char *file = cnnrt_xmalloc(total);
    file[0] = 0;
    file[1] = 0;
    file[2] = IDX_TYPE_UBYTE;
    file[3] = (unsigned char)ndims;
    for (int i = 0; i < ndims; i++)
        write_be32(file + 4 + 4 * i, dims[i]);
    if (payload_len)
        memcpy(file + header_len, payload, payload_len);

    int rc;
    if (gzip) {
        unsigned char *packed = NULL;
        size_t packed_len = 0;
        rc = gzip_buffer(path, file, total, &packed, &packed_len, e);
        if (rc == 0) {
            rc = cnnrt_write_file_atomic(path, packed, packed_len, e);
            free(packed);
        }
    } else {
        rc = cnnrt_write_file_atomic(path, file, total, e);
    }
    free(file);
    return rc;
}

static int dims_fit(const char *path, const int64_t *dims, int n, cnnrt_err *e)
{
    for (int i = 0; i < n; i++)
        if (dims[i] < 0 || dims[i] > (int64_t)UINT32_MAX)
            return cnnrt_fail(e, "%s: dimension %lld does not fit an IDX header", path,
                              (long long)dims[i]);
    return 0;
}

int cnnrt_idx_write_images(const char *path, const uint8_t *pixels, int64_t count,
                           int64_t rows, int64_t cols, int64_t channels, int gzip,
                           cnnrt_err *e)
{
    int64_t dims64[4] = {count, rows, cols, channels};
    int ndims = channels == 1 ? 3 : 4;
    if (dims_fit(path, dims64, 4, e))
        return -1;
    uint32_t dims[4] = {(uint32_t)count, (uint32_t)rows, (uint32_t)cols, (uint32_t)channels};
    size_t bytes = (size_t)count * (size_t)rows * (size_t)cols * (size_t)channels;
    return write_idx(path, dims, ndims, pixels, bytes, gzip, e);
}

int cnnrt_idx_write_labels(const char *path, const uint8_t *labels, int64_t count, int gzip,
                           cnnrt_err *e)
{
    if (dims_fit(path, &count, 1, e))
        return -1;
    uint32_t dims[1] = {(uint32_t)count};
    return write_idx(path, dims, 1, labels, (size_t)count, gzip, e);
}
