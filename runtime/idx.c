/* Reading and writing IDX files (the MNIST format), raw or gzip-compressed.
 *
 * A file is read whole into memory and, when it starts with the gzip magic 1f 8b, inflated
 * with zlib; then the header is checked against the data length. Everything is checked
 * before use, so a damaged file gives a sentence naming the file, never a crash. */
#include "cnnrt_data.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
    IDX_TYPE_UBYTE = 0x08,
    IDX_MAX_DIMS = 4,
};

/* Larger inputs are refused rather than exhausting memory (a gzip bomb, a wrong file). */
#define IDX_MAX_FILE_BYTES ((size_t)4 << 30)
#define IDX_MAX_DATA_BYTES ((size_t)8 << 30)

static int is_gzip(const unsigned char *data, size_t len)
{
    return len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

/* Inflates a gzip file (possibly several concatenated members, as `cat a.gz b.gz` makes)
 * into a new buffer. */
static int gunzip(const char *path, const unsigned char *in, size_t in_len,
                  unsigned char **out, size_t *out_len, cnnrt_err *e)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return cnnrt_fail(e, "%s: cannot initialise zlib", path);

    size_t cap = in_len * 4 + 1024, used = 0, consumed = 0;
    unsigned char *buf = cnnrt_xmalloc(cap);
    int status = Z_OK;
    for (;;) {
        if (used == cap) {
            if (cap >= IDX_MAX_DATA_BYTES) {
                status = Z_MEM_ERROR;
                break;
            }
            cap *= 2;
            unsigned char *grown = realloc(buf, cap);
            if (!grown) {
                status = Z_MEM_ERROR;
                break;
            }
            buf = grown;
        }
        size_t in_left = in_len - consumed;
        zs.next_in = (Bytef *)(in + consumed);
        zs.avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        zs.next_out = buf + used;
        size_t out_room = cap - used;
        zs.avail_out = out_room > (1u << 30) ? (1u << 30) : (uInt)out_room;
        uInt avail_in_before = zs.avail_in, avail_out_before = zs.avail_out;
        status = inflate(&zs, Z_NO_FLUSH);
        consumed += avail_in_before - zs.avail_in;
        used += avail_out_before - zs.avail_out;
        if (status == Z_STREAM_END) {
            /* Another member follows? Anything else after the end is garbage. */
            if (consumed < in_len && is_gzip(in + consumed, in_len - consumed)) {
                inflateReset(&zs);
                status = Z_OK;
                continue;
            }
            break;
        }
        if (status == Z_BUF_ERROR && consumed == in_len)
            break;   /* input ended before the stream did */
        if (status != Z_OK && status != Z_BUF_ERROR)
            break;
    }
    const char *zlib_message = zs.msg ? zs.msg : "invalid compressed data";
    inflateEnd(&zs);

    if (status == Z_STREAM_END && consumed == in_len) {
        /* Give back the unused end of the buffer: the data set keeps it for its lifetime. */
        unsigned char *fitted = realloc(buf, used ? used : 1);
        *out = fitted ? fitted : buf;
        *out_len = used;
        return 0;
    }
    free(buf);
    if (status == Z_STREAM_END)
        return cnnrt_fail(e, "%s: corrupt gzip file: %zu bytes of garbage after the "
                             "compressed data", path, in_len - consumed);
    if (status == Z_MEM_ERROR)
        return cnnrt_fail(e, "%s: decompressed data is larger than %zu bytes or memory ran "
                             "out", path, IDX_MAX_DATA_BYTES);
    if (status == Z_BUF_ERROR || status == Z_OK)
        return cnnrt_fail(e, "%s: corrupt gzip file: the compressed stream is truncated",
                          path);
    return cnnrt_fail(e, "%s: corrupt gzip file: %s", path, zlib_message);
}

/* Reads a file, inflating it if it is gzip-compressed. */
static int read_maybe_gzip(const char *path, unsigned char **data, size_t *len, cnnrt_err *e)
{
    *data = NULL;
    *len = 0;
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    if (cnnrt_read_file(path, IDX_MAX_FILE_BYTES, &raw, &raw_len, e))
        return -1;
    if (!is_gzip(raw, raw_len)) {
        *data = raw;
        *len = raw_len;
        return 0;
    }
    int rc = gunzip(path, raw, raw_len, data, len, e);
    free(raw);
    return rc;
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

/* Checks magic and type, reads the dimensions, and checks that the data that follows has
 * exactly the size they promise. `what` ("image", "label") words the messages;
 * min_dims..max_dims is what this kind of file may have. */
static int parse_header(const char *path, const unsigned char *data, size_t len,
                        const char *what, int min_dims, int max_dims, const char *dims_help,
                        idx_header *h, cnnrt_err *e)
{
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
    if (len < h->header_len)
        return cnnrt_fail(e, "%s: truncated: the header needs %zu bytes, the file has %zu",
                          path, h->header_len, len);
    uint64_t expected = 1;
    for (int i = 0; i < h->ndims; i++) {
        h->dims[i] = read_be32(data + 4 + 4 * i);
        if (i > 0 && h->dims[i] == 0)
            return cnnrt_fail(e, "%s: dimension %d of the IDX header is 0", path, i + 1);
        expected *= h->dims[i];
        if (expected > IDX_MAX_DATA_BYTES)
            return cnnrt_fail(e, "%s: the IDX header promises more than %zu bytes of data",
                              path, IDX_MAX_DATA_BYTES);
    }
    size_t have = len - h->header_len;
    if (have < expected) {
        size_t per_item = h->dims[0] ? (size_t)(expected / h->dims[0]) : 1;
        return cnnrt_fail(e, "%s: truncated: the header promises %u %ss (%llu bytes of data), "
                             "the file has %zu bytes (%zu complete %ss)",
                          path, h->dims[0], what, (unsigned long long)expected, have,
                          have / per_item, what);
    }
    if (have > expected)
        return cnnrt_fail(e, "%s: %zu unexpected bytes after the %u %ss the header promises",
                          path, have - (size_t)expected, h->dims[0], what);
    return 0;
}

int cnnrt_idx_read_images(const char *path, cnnrt_idx_images *out, cnnrt_err *e)
{
    memset(out, 0, sizeof *out);
    unsigned char *data = NULL;
    size_t len = 0;
    if (read_maybe_gzip(path, &data, &len, e))
        return -1;
    idx_header h = {0};
    if (parse_header(path, data, len, "image", 3, 4,
                     "3: count, rows, columns; or 4 with channels last", &h, e)) {
        free(data);
        return -1;
    }
    out->count = h.dims[0];
    out->rows = h.dims[1];
    out->cols = h.dims[2];
    out->channels = h.ndims == 4 ? h.dims[3] : 1;
    /* Reuse the buffer: move the pixels to its front instead of copying 47 MB. */
    size_t bytes = len - h.header_len;
    memmove(data, data + h.header_len, bytes);
    out->pixels = data;
    return 0;
}

int cnnrt_idx_read_labels(const char *path, uint8_t **labels, int64_t *count, cnnrt_err *e)
{
    *labels = NULL;
    *count = 0;
    unsigned char *data = NULL;
    size_t len = 0;
    if (read_maybe_gzip(path, &data, &len, e))
        return -1;
    idx_header h = {0};
    if (parse_header(path, data, len, "label", 1, 1, "1: count", &h, e)) {
        free(data);
        return -1;
    }
    memmove(data, data + h.header_len, len - h.header_len);
    *labels = data;
    *count = h.dims[0];
    return 0;
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
