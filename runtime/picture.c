/* Pictures of any format a user is likely to have: PNG (image.c), JPEG (libjpeg-turbo), GIF
 * (giflib) and BMP (read here), recognised by their first bytes. See cnnrt_image.h. */
#include "cnnrt_image.h"

#include <ctype.h>
#include <gif_lib.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* ------------------------------------------------------------------ recognising formats */

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

cnnrt_picture_format cnnrt_picture_format_of(const void *head, size_t len)
{
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *p = head;
    if (len >= 8 && !memcmp(p, png, 8))
        return CNNRT_PICTURE_PNG;
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return CNNRT_PICTURE_JPEG;
    if (len >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6)))
        return CNNRT_PICTURE_GIF;
    /* "BM" alone is too weak (a text file may start with it): the info header that follows
     * the 14-byte file header must have one of the sizes Windows defined. */
    if (len >= 18 && p[0] == 'B' && p[1] == 'M') {
        uint32_t info = le32(p + 14);
        if (info == 12 || info == 40 || info == 52 || info == 56 || info == 64 || info == 108 ||
            info == 124)
            return CNNRT_PICTURE_BMP;
    }
    return CNNRT_PICTURE_NONE;
}

const char *cnnrt_picture_format_name(cnnrt_picture_format format)
{
    switch (format) {
    case CNNRT_PICTURE_PNG: return "PNG";
    case CNNRT_PICTURE_JPEG: return "JPEG";
    case CNNRT_PICTURE_GIF: return "GIF";
    case CNNRT_PICTURE_BMP: return "BMP";
    case CNNRT_PICTURE_NONE: break;
    }
    return "unknown";
}

int cnnrt_picture_name_looks_like_one(const char *path)
{
    static const char *const extensions[] = {".png", ".jpg", ".jpeg", ".gif", ".bmp"};
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return 0;
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++) {
        size_t n = strlen(extensions[i]);
        if (strlen(dot) != n)
            continue;
        size_t k = 0;
        while (k < n && tolower((unsigned char)dot[k]) == extensions[i][k])
            k++;
        if (k == n)
            return 1;
    }
    return 0;
}

/* The size check every reader makes before allocating anything. */
static int check_size(const char *path, long width, long height, cnnrt_err *e)
{
    if (width < 1 || height < 1)
        return cnnrt_fail(e, "%s: picture of %ldx%ld pixels (empty)", path, width, height);
    if (width > CNNRT_IMAGE_MAX_SIDE || height > CNNRT_IMAGE_MAX_SIDE ||
        width * height > CNNRT_IMAGE_MAX_PIXELS)
        /* Worded as the PNG reader words it (image.c, check_ihdr_size). */
        return cnnrt_fail(e, "%s: the picture is too large: %ldx%ld pixels; the limit is %d "
                             "pixels a side and %ld pixels in all",
                          path, width, height, CNNRT_IMAGE_MAX_SIDE,
                          (long)CNNRT_IMAGE_MAX_PIXELS);
    return 0;
}

/* ------------------------------------------------------------------ JPEG */

/* libjpeg reports a fatal error through error_exit, which must not return (the default one
 * calls exit()): ours keeps the message and longjmps back to decode_jpeg. Warnings about
 * damaged data (a truncated file is only a warning to libjpeg, which then fills the rest of
 * the picture with gray) are treated as errors too, as PIL and TensorFlow do: a training set
 * must not silently contain half-gray pictures. Everything that changes after setjmp lives
 * in this struct, reached through a pointer. */
typedef struct jpeg_session {
    struct jpeg_error_mgr err;   /* first: libjpeg hands us &err, we cast back */
    struct jpeg_decompress_struct info;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    uint8_t *decoded;
} jpeg_session;

static void on_jpeg_error(j_common_ptr info)
{
    jpeg_session *s = (jpeg_session *)info->err;
    info->err->format_message(info, s->message);
    longjmp(s->jump, 1);
}

static void on_jpeg_message(j_common_ptr info, int level)
{
    if (level >= 0)
        return;   /* trace messages */
    int code = info->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
        code == JWRN_MUST_RESYNC || code == JWRN_NOT_SEQUENTIAL ||
        code == JWRN_BOGUS_PROGRESSION)
        on_jpeg_error(info);
    /* Other warnings (extraneous bytes between markers, an odd JFIF version) are harmless. */
}

/* Adobe's CMYK JPEGs store inverted values (255 = no ink), which is what libjpeg gives back;
 * then R = C * K / 255, as PIL computes it. */
static void cmyk_to_rgb(const uint8_t *cmyk, size_t count, uint8_t *rgb)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t k = cmyk[4 * i + 3];
        for (int c = 0; c < 3; c++)
            rgb[3 * i + (size_t)c] = (uint8_t)((cmyk[4 * i + (size_t)c] * k + 127) / 255);
    }
}

static int decode_jpeg_body(jpeg_session *s, const char *path, const void *data, size_t len,
                            cnnrt_image *img, cnnrt_err *e)
{
    if (setjmp(s->jump))
        return -1;
    jpeg_create_decompress(&s->info);
    jpeg_mem_src(&s->info, data, (unsigned long)len);
    jpeg_read_header(&s->info, TRUE);
    if (check_size(path, (long)s->info.image_width, (long)s->info.image_height, e))
        return -2;
    int cmyk = s->info.jpeg_color_space == JCS_CMYK || s->info.jpeg_color_space == JCS_YCCK;
    s->info.out_color_space = cmyk ? JCS_CMYK
                              : s->info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&s->info);
    int w = (int)s->info.output_width, h = (int)s->info.output_height;
    int channels = s->info.output_components;
    size_t row_bytes = (size_t)w * (size_t)channels;
    s->decoded = malloc(row_bytes * (size_t)h);
    if (!s->decoded) {
        snprintf(s->message, sizeof s->message, "out of memory for a %dx%d picture", w, h);
        return -1;
    }
    while (s->info.output_scanline < s->info.output_height) {
        JSAMPROW row = s->decoded + row_bytes * s->info.output_scanline;
        jpeg_read_scanlines(&s->info, &row, 1);
    }
    jpeg_finish_decompress(&s->info);
    if (cnnrt_image_create(img, w, h, channels == 1 ? 1 : 3, e))
        return -2;
    if (cmyk)
        cmyk_to_rgb(s->decoded, (size_t)w * (size_t)h, img->pixels);
    else
        memcpy(img->pixels, s->decoded, row_bytes * (size_t)h);
    return 0;
}

static int decode_jpeg(const char *path, const void *data, size_t len, cnnrt_image *img,
                       cnnrt_err *e)
{
    jpeg_session *s = cnnrt_xcalloc(1, sizeof *s);
    s->info.err = jpeg_std_error(&s->err);
    s->err.error_exit = on_jpeg_error;
    s->err.emit_message = on_jpeg_message;
    int rc = decode_jpeg_body(s, path, data, len, img, e);
    jpeg_destroy_decompress(&s->info);
    free(s->decoded);
    if (rc == -1)
        cnnrt_fail(e, "%s: corrupt or unreadable JPEG: %s", path, s->message);
    if (rc != 0)
        cnnrt_image_free(img);
    free(s);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------------ GIF */

typedef struct memory_reader {
    const uint8_t *data;
    size_t len, pos;
} memory_reader;

static int read_gif_bytes(GifFileType *gif, GifByteType *out, int count)
{
    memory_reader *r = gif->UserData;
    size_t n = r->len - r->pos < (size_t)count ? r->len - r->pos : (size_t)count;
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
    return (int)n;
}

/* The first frame, drawn on the logical screen at its offset; the rest of the screen and
 * the frame's transparent colour (if its graphics control block names one) are alpha 0. */
static int render_gif(const char *path, GifFileType *gif, cnnrt_alpha_background background,
                      cnnrt_image *img, cnnrt_err *e)
{
    if (gif->ImageCount < 1)
        return cnnrt_fail(e, "%s: corrupt or unreadable GIF: it holds no picture", path);
    const SavedImage *frame = &gif->SavedImages[0];
    const GifImageDesc *d = &frame->ImageDesc;
    const ColorMapObject *map = d->ColorMap ? d->ColorMap : gif->SColorMap;
    if (!map)
        return cnnrt_fail(e, "%s: corrupt or unreadable GIF: no colour table", path);
    long w = gif->SWidth, h = gif->SHeight;
    long left = d->Left, top = d->Top;
    if (w < 1 || h < 1) {
        /* Some writers leave the screen size 0: the picture is then the frame itself. Not
         * the frame at its offset, which would let a 50-byte file describe a picture of
         * tens of megapixels, all but a few of them empty (found by fuzzing: seconds of
         * CPU and hundreds of MB for one such file in a picture folder). */
        w = d->Width;
        h = d->Height;
        left = top = 0;
    }
    if (check_size(path, w, h, e))
        return -1;
    GraphicsControlBlock gcb = {0, false, 0, NO_TRANSPARENT_COLOR};
    DGifSavedExtensionToGCB(gif, 0, &gcb);
    uint8_t *rgba = calloc((size_t)w * (size_t)h, 4);
    if (!rgba)
        return cnnrt_fail(e, "%s: out of memory for a %ldx%ld picture", path, w, h);
    for (long y = 0; y < d->Height; y++) {
        long sy = top + y;
        for (long x = 0; x < d->Width && sy < h; x++) {
            long sx = left + x;
            int index = frame->RasterBits[y * d->Width + x];
            if (sx >= w || index == gcb.TransparentColor || index >= map->ColorCount)
                continue;
            uint8_t *p = rgba + ((size_t)sy * (size_t)w + (size_t)sx) * 4;
            p[0] = map->Colors[index].Red;
            p[1] = map->Colors[index].Green;
            p[2] = map->Colors[index].Blue;
            p[3] = 255;
        }
    }
    int rc = cnnrt_image_create(img, (int)w, (int)h, 3, e);
    if (rc == 0)
        cnnrt_composite_alpha(rgba, 4, img, background);
    free(rgba);
    return rc;
}

/* Every frame's size against the limits, read from the file's blocks before DGifSlurp
 * allocates Width x Height bytes for each frame (a frame of 45572x45746 pixels in a 50-byte
 * file is 2 GB that giflib would allocate, and that the sanitizers fill: seconds per file,
 * found by fuzzing). Blocks that do not parse end the walk: giflib then reports them. */
static int check_gif_frames(const char *path, const uint8_t *p, size_t len, cnnrt_err *e)
{
    size_t pos = 13;   /* header and logical screen descriptor */
    if (len < pos)
        return 0;
    if (p[10] & 0x80)
        pos += 3u * (2u << (p[10] & 7));   /* the global colour table */
    while (pos < len && p[pos] != 0x3b) {   /* 0x3b: the trailer */
        if (p[pos] == 0x2c) {                /* an image descriptor, then its data */
            if (pos + 10 > len)
                return 0;
            long width = p[pos + 5] | p[pos + 6] << 8, height = p[pos + 7] | p[pos + 8] << 8;
            if ((width > CNNRT_IMAGE_MAX_SIDE || height > CNNRT_IMAGE_MAX_SIDE ||
                 width * height > CNNRT_IMAGE_MAX_PIXELS) && check_size(path, width, height, e))
                return -1;
            uint8_t flags = p[pos + 9];
            pos += 10 + ((flags & 0x80) ? 3u * (2u << (flags & 7)) : 0) + 1;   /* + LZW size */
        } else if (p[pos] == 0x21) {         /* an extension: its label, then sub-blocks */
            pos += 2;
        } else {
            return 0;
        }
        while (pos < len && p[pos] != 0)     /* sub-blocks, each a length and its bytes */
            pos += 1u + p[pos];
        pos++;                               /* the terminating empty sub-block */
    }
    return 0;
}

static int decode_gif(const char *path, const void *data, size_t len,
                      cnnrt_alpha_background background, cnnrt_image *img, cnnrt_err *e)
{
    memory_reader reader = {data, len, 0};
    int error = 0;
    GifFileType *gif = DGifOpen(&reader, read_gif_bytes, &error);
    if (!gif)
        return cnnrt_fail(e, "%s: corrupt or unreadable GIF: %s", path,
                          GifErrorString(error) ? GifErrorString(error) : "unknown error");
    /* giflib checks the screen and frame sizes only against int overflow: refuse huge ones
     * before DGifSlurp allocates the frames. */
    int rc;
    if (gif->SWidth > CNNRT_IMAGE_MAX_SIDE || gif->SHeight > CNNRT_IMAGE_MAX_SIDE)
        rc = check_size(path, gif->SWidth, gif->SHeight, e);
    else if (check_gif_frames(path, data, len, e))
        rc = -1;
    else if (DGifSlurp(gif) != GIF_OK)
        rc = cnnrt_fail(e, "%s: corrupt or unreadable GIF: %s", path,
                        GifErrorString(gif->Error) ? GifErrorString(gif->Error)
                                                   : "unknown error");
    else
        rc = render_gif(path, gif, background, img, e);
    DGifCloseFile(gif, &error);
    return rc;
}

/* ------------------------------------------------------------------ BMP */

/* One colour channel of a bit-field BMP pixel: the bits under mask, scaled to 0..255. */
static uint8_t bit_field(uint32_t pixel, uint32_t mask)
{
    if (!mask)
        return 0;
    int shift = 0;
    while (!((mask >> shift) & 1))
        shift++;
    uint32_t max = mask >> shift;
    return (uint8_t)((((pixel & mask) >> shift) * 255u + max / 2) / max);
}

typedef struct bmp_header {
    long width, height;          /* height > 0 here; top_down says the row order */
    int top_down, bits, compression, palette_entry_bytes;
    uint32_t masks[4];           /* red, green, blue, alpha for bit fields */
    uint32_t palette_offset, palette_count, pixel_offset;
} bmp_header;

enum { BMP_RGB = 0, BMP_RLE8 = 1, BMP_RLE4 = 2, BMP_BITFIELDS = 3, BMP_ALPHABITFIELDS = 6 };

static int parse_bmp_header(const char *path, const uint8_t *p, size_t len, bmp_header *h,
                            cnnrt_err *e)
{
    memset(h, 0, sizeof *h);
    uint32_t info_size = le32(p + 14);
    if (len < 14 + (size_t)info_size)
        return cnnrt_fail(e, "%s: corrupt or unreadable BMP: the header is cut short "
                             "(the file is truncated)", path);
    h->pixel_offset = le32(p + 10);
    const uint8_t *info = p + 14;
    if (info_size == 12) {   /* OS/2 BITMAPCOREHEADER */
        h->width = (long)le16(info + 4);
        h->height = (long)le16(info + 6);
        h->bits = (int)le16(info + 10);
        h->palette_entry_bytes = 3;
    } else {
        h->width = (long)(int32_t)le32(info + 4);
        long height = (long)(int32_t)le32(info + 8);
        h->top_down = height < 0;
        h->height = height < 0 ? -height : height;
        h->bits = (int)le16(info + 14);
        h->compression = (int)le32(info + 16);
        h->palette_count = le32(info + 32);
        h->palette_entry_bytes = 4;
        if (h->compression == BMP_BITFIELDS || h->compression == BMP_ALPHABITFIELDS) {
            /* Masks follow a 40-byte header, or are part of a V2+ header (16 and 32 bits
             * only, so no colour table follows them). */
            size_t at = 14 + 40;
            size_t count = h->compression == BMP_ALPHABITFIELDS || info_size >= 56 ? 4 : 3;
            if (len < at + 4 * count)
                return cnnrt_fail(e, "%s: corrupt or unreadable BMP: bit fields cut short",
                                  path);
            for (size_t i = 0; i < count; i++)
                h->masks[i] = le32(p + at + 4 * i);
        }
    }
    h->palette_offset = 14 + info_size;
    if (h->compression == BMP_RLE8 || h->compression == BMP_RLE4)
        return cnnrt_fail(e, "%s: BMP with run-length compression (RLE%d) is not supported; "
                             "save it as PNG", path, h->compression == BMP_RLE8 ? 8 : 4);
    if (h->compression != BMP_RGB && h->compression != BMP_BITFIELDS &&
        h->compression != BMP_ALPHABITFIELDS)
        return cnnrt_fail(e, "%s: BMP compression %d (JPEG or PNG inside a BMP) is not "
                             "supported", path, h->compression);
    if (h->bits != 1 && h->bits != 4 && h->bits != 8 && h->bits != 16 && h->bits != 24 &&
        h->bits != 32)
        return cnnrt_fail(e, "%s: corrupt or unreadable BMP: %d bits per pixel", path,
                          h->bits);
    if (h->bits <= 8 && (h->palette_count == 0 || h->palette_count > (1u << h->bits)))
        h->palette_count = 1u << h->bits;
    if (h->compression == BMP_RGB && h->bits == 16) {   /* 5-5-5 */
        h->masks[0] = 0x7c00;
        h->masks[1] = 0x03e0;
        h->masks[2] = 0x001f;
    }
    return check_size(path, h->width, h->height, e);
}

static int decode_bmp(const char *path, const void *data, size_t len, cnnrt_image *img,
                      cnnrt_err *e)
{
    const uint8_t *p = data;
    bmp_header h;
    if (parse_bmp_header(path, p, len, &h, e))
        return -1;
    size_t row_bytes = (((size_t)h.width * (size_t)h.bits + 31) / 32) * 4;
    size_t palette_bytes = (size_t)h.palette_count * (size_t)h.palette_entry_bytes;
    if (h.bits <= 8 && (size_t)h.palette_offset + palette_bytes > len)
        return cnnrt_fail(e, "%s: corrupt or unreadable BMP: the colour table is cut short "
                             "(the file is truncated)", path);
    if (h.pixel_offset > len || row_bytes * (size_t)h.height > len - h.pixel_offset)
        return cnnrt_fail(e, "%s: corrupt or unreadable BMP: the pixels are cut short (the "
                             "file is truncated)", path);
    if (cnnrt_image_create(img, (int)h.width, (int)h.height, 3, e))
        return -1;
    const uint8_t *palette = p + h.palette_offset;
    for (long y = 0; y < h.height; y++) {
        const uint8_t *row = p + h.pixel_offset +
                             row_bytes * (size_t)(h.top_down ? y : h.height - 1 - y);
        uint8_t *out = img->pixels + (size_t)y * (size_t)h.width * 3;
        for (long x = 0; x < h.width; x++, out += 3) {
            if (h.bits <= 8) {
                size_t bit = (size_t)x * (size_t)h.bits;
                uint32_t index = (row[bit / 8] >> (8 - h.bits - bit % 8)) & ((1u << h.bits) - 1);
                if (index >= h.palette_count)
                    index = 0;   /* out-of-table index: what Windows draws */
                const uint8_t *c = palette + (size_t)index * (size_t)h.palette_entry_bytes;
                out[0] = c[2];   /* stored blue, green, red */
                out[1] = c[1];
                out[2] = c[0];
            } else if (h.bits == 24 || (h.bits == 32 && h.compression == BMP_RGB)) {
                const uint8_t *c = row + (size_t)x * (size_t)(h.bits / 8);
                out[0] = c[2];
                out[1] = c[1];
                out[2] = c[0];
            } else {
                uint32_t v = h.bits == 16 ? le16(row + 2 * x) : le32(row + 4 * x);
                for (int c = 0; c < 3; c++)
                    out[c] = bit_field(v, h.masks[c]);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ any format */

int cnnrt_picture_decode(const char *path, const void *data, size_t len,
                         cnnrt_alpha_background background, cnnrt_image *img, cnnrt_err *e)
{
    memset(img, 0, sizeof *img);
    switch (cnnrt_picture_format_of(data, len)) {
    case CNNRT_PICTURE_PNG: return cnnrt_png_decode(path, data, len, background, img, e);
    case CNNRT_PICTURE_JPEG: return decode_jpeg(path, data, len, img, e);
    case CNNRT_PICTURE_GIF: return decode_gif(path, data, len, background, img, e);
    case CNNRT_PICTURE_BMP: return decode_bmp(path, data, len, img, e);
    case CNNRT_PICTURE_NONE: break;
    }
    return cnnrt_fail(e, "%s: not a picture (%s; PNG, JPEG, GIF and BMP are read)", path,
                      len == 0 ? "the file is empty" : "unknown format");
}

int cnnrt_picture_read(const char *path, cnnrt_alpha_background background, cnnrt_image *img,
                       cnnrt_err *e)
{
    memset(img, 0, sizeof *img);
    unsigned char *data;
    size_t len;
    if (cnnrt_read_file(path, CNNRT_PICTURE_MAX_FILE_BYTES, &data, &len, e))
        return -1;
    int rc = cnnrt_picture_decode(path, data, len, background, img, e);
    free(data);
    return rc;
}

/* ------------------------------------------------------------------ model inputs */

static const char *const prepare_names[CNNRT_PREPARE_COUNT] = {"resize", "digit"};

int cnnrt_prepare_from_name(const char *name)
{
    for (int i = 0; i < CNNRT_PREPARE_COUNT; i++)
        if (!strcmp(name, prepare_names[i]))
            return i;
    return -1;
}

const char *cnnrt_prepare_name(cnnrt_prepare how)
{
    return (int)how >= 0 && (int)how < CNNRT_PREPARE_COUNT ? prepare_names[how] : "?";
}

int cnnrt_picture_prepare(const char *path, cnnrt_prepare how, int height, int width,
                          int channels, float *out, int *inverted, cnnrt_err *e)
{
    int digit = how == CNNRT_PREPARE_DIGIT && channels == 1;
    cnnrt_image img;
    if (inverted)
        *inverted = 0;
    /* Keras's load_img drops transparency (PIL's convert); a digit drawn on a transparent
     * canvas needs the contrasting background to stay visible. */
    if (cnnrt_picture_read(path, digit ? CNNRT_ALPHA_AUTO : CNNRT_ALPHA_IGNORE, &img, e))
        return -1;
    int rc;
    if (digit) {
        int flipped = cnnrt_image_invert_if_light_background(&img);
        if (inverted)
            *inverted = flipped;
        /* A picture already of the input's size is taken as MNIST-like, as a test image
         * written out as a PNG is; a photo or scan of another size is prepared the way
         * MNIST's digits were made. */
        if (img.width == width && img.height == height)
            rc = cnnrt_image_to_input(&img, height, width, 1, CNNRT_RESIZE_NEAREST, out, e);
        else
            rc = cnnrt_digit_to_input(&img, height, width, out, e);
    } else {
        rc = cnnrt_image_to_input(&img, height, width, channels, CNNRT_RESIZE_NEAREST, out, e);
    }
    cnnrt_image_free(&img);
    return rc;
}

/* ------------------------------------------------------------------ JPEG writing */

typedef struct jpeg_write_session {
    struct jpeg_error_mgr err;
    struct jpeg_compress_struct info;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    unsigned char *buffer;
    unsigned long size;
} jpeg_write_session;

static void on_jpeg_write_error(j_common_ptr info)
{
    jpeg_write_session *s = (jpeg_write_session *)info->err;
    info->err->format_message(info, s->message);
    longjmp(s->jump, 1);
}

static int encode_jpeg_body(jpeg_write_session *s, const cnnrt_image *img, int quality)
{
    if (setjmp(s->jump))
        return -1;
    jpeg_create_compress(&s->info);
    jpeg_mem_dest(&s->info, &s->buffer, &s->size);
    s->info.image_width = (JDIMENSION)img->width;
    s->info.image_height = (JDIMENSION)img->height;
    s->info.input_components = img->channels;
    s->info.in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&s->info);
    jpeg_set_quality(&s->info, quality, TRUE);
    jpeg_start_compress(&s->info, TRUE);
    size_t row_bytes = (size_t)img->width * (size_t)img->channels;
    while (s->info.next_scanline < s->info.image_height) {
        JSAMPROW row = img->pixels + row_bytes * s->info.next_scanline;
        jpeg_write_scanlines(&s->info, &row, 1);
    }
    jpeg_finish_compress(&s->info);
    return 0;
}

int cnnrt_jpeg_encode(const cnnrt_image *img, int quality, uint8_t **data, size_t *len,
                      cnnrt_err *e)
{
    *data = NULL;
    *len = 0;
    if (!img || !img->pixels || img->width < 1 || img->height < 1 ||
        (img->channels != 1 && img->channels != 3))
        return cnnrt_fail(e, "cannot encode an empty image or one with %d channels as JPEG",
                          img ? img->channels : 0);
    if (quality < 1 || quality > 100)
        return cnnrt_fail(e, "JPEG quality %d is outside 1..100", quality);
    jpeg_write_session *s = cnnrt_xcalloc(1, sizeof *s);
    s->info.err = jpeg_std_error(&s->err);
    s->err.error_exit = on_jpeg_write_error;
    int rc = encode_jpeg_body(s, img, quality);
    jpeg_destroy_compress(&s->info);
    if (rc) {
        cnnrt_fail(e, "cannot encode JPEG: %s", s->message);
        free(s->buffer);
    } else {
        *data = s->buffer;
        *len = s->size;
    }
    free(s);
    return rc;
}

int cnnrt_jpeg_write(const char *path, const cnnrt_image *img, int quality, cnnrt_err *e)
{
    uint8_t *data;
    size_t len;
    cnnrt_err why;
    if (cnnrt_jpeg_encode(img, quality, &data, &len, &why))
        return cnnrt_fail(e, "%s: %s", path, why.msg);
    int rc = cnnrt_write_file_atomic(path, data, len, e);
    free(data);
    return rc;
}
