/* 8-bit images and PNG files (libpng). See cnnrt_image.h. */
#include "cnnrt_image.h"

#include <inttypes.h>
#include <math.h>
#ifndef CNNRT_NO_PNG /* the web page's wasm32 build: pixels only, no PNG files */
#include <png.h>
#include <setjmp.h>
#endif
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ images */

int cnnrt_image_create(cnnrt_image *img, int width, int height, int channels, cnnrt_err *e)
{
    memset(img, 0, sizeof *img);
    if (channels != 1 && channels != 3)
        return cnnrt_fail(e, "image: %d channels (only 1, gray, or 3, RGB, are supported)",
                          channels);
    if (width < 1 || height < 1 || width > CNNRT_IMAGE_MAX_SIDE ||
        height > CNNRT_IMAGE_MAX_SIDE || (long)width * height > CNNRT_IMAGE_MAX_PIXELS)
        return cnnrt_fail(e, "image %dx%d: size outside 1..%d pixels a side or above %ld "
                             "pixels in all",
                          width, height, CNNRT_IMAGE_MAX_SIDE, (long)CNNRT_IMAGE_MAX_PIXELS);
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->pixels = cnnrt_xcalloc((size_t)width * (size_t)height, (size_t)channels);
    return 0;
}

void cnnrt_image_free(cnnrt_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

uint8_t cnnrt_luminance(uint8_t r, uint8_t g, uint8_t b)
{
    /* PIL's ImagingConvert RGB -> L: ITU-R 601 weights in 16-bit fixed point, rounded.
     * 19595 + 38470 + 7471 = 65536, so white stays 255. */
    return (uint8_t)(((uint32_t)r * 19595u + (uint32_t)g * 38470u + (uint32_t)b * 7471u +
                      0x8000u) >> 16);
}

void cnnrt_image_fill(cnnrt_image *img, uint8_t r, uint8_t g, uint8_t b)
{
    size_t count = (size_t)img->width * (size_t)img->height;
    if (img->channels == 1) {
        memset(img->pixels, cnnrt_luminance(r, g, b), count);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        img->pixels[3 * i] = r;
        img->pixels[3 * i + 1] = g;
        img->pixels[3 * i + 2] = b;
    }
}

void cnnrt_image_set_pixel(cnnrt_image *img, int x, int y, uint8_t r, uint8_t g, uint8_t b)
{
    if (x < 0 || y < 0 || x >= img->width || y >= img->height)
        return;
    uint8_t *p = img->pixels + ((size_t)y * (size_t)img->width + (size_t)x) * (size_t)img->channels;
    if (img->channels == 1) {
        p[0] = cnnrt_luminance(r, g, b);
    } else {
        p[0] = r;
        p[1] = g;
        p[2] = b;
    }
}

void cnnrt_image_get_pixel(const cnnrt_image *img, int x, int y, uint8_t rgb[3])
{
    rgb[0] = rgb[1] = rgb[2] = 0;
    if (x < 0 || y < 0 || x >= img->width || y >= img->height)
        return;
    const uint8_t *p =
        img->pixels + ((size_t)y * (size_t)img->width + (size_t)x) * (size_t)img->channels;
    if (img->channels == 1) {
        rgb[0] = rgb[1] = rgb[2] = p[0];
    } else {
        rgb[0] = p[0];
        rgb[1] = p[1];
        rgb[2] = p[2];
    }
}

int cnnrt_image_convert(const cnnrt_image *src, int channels, cnnrt_image *dst, cnnrt_err *e)
{
    if (cnnrt_image_create(dst, src->width, src->height, channels, e))
        return -1;
    size_t count = (size_t)src->width * (size_t)src->height;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *s = src->pixels + i * (size_t)src->channels;
        uint8_t *d = dst->pixels + i * (size_t)channels;
        if (channels == src->channels)
            memcpy(d, s, (size_t)channels);
        else if (channels == 1)
            d[0] = cnnrt_luminance(s[0], s[1], s[2]);
        else
            d[0] = d[1] = d[2] = s[0];
    }
    return 0;
}

static uint8_t unit_float_to_byte(float v)
{
    if (!(v > 0.0f))   /* also NaN */
        return 0;
    if (v >= 1.0f)
        return 255;
    return (uint8_t)lrintf(v * 255.0f);
}

int cnnrt_image_from_floats(const float *data, int height, int width, int channels,
                            cnnrt_image *img, cnnrt_err *e)
{
    if (cnnrt_image_create(img, width, height, channels, e))
        return -1;
    size_t count = (size_t)width * (size_t)height * (size_t)channels;
    for (size_t i = 0; i < count; i++)
        img->pixels[i] = unit_float_to_byte(data[i]);
    return 0;
}

int cnnrt_image_invert_if_light_background(cnnrt_image *img)
{
    /* Mean luminance of the outermost ring of pixels: the paper around a framed digit. */
    double sum = 0.0;
    long count = 0;
    uint8_t rgb[3];
    for (int y = 0; y < img->height; y++) {
        int on_edge_row = (y == 0 || y == img->height - 1);
        int step = on_edge_row || img->width == 1 ? 1 : img->width - 1;
        for (int x = 0; x < img->width; x += step) {
            cnnrt_image_get_pixel(img, x, y, rgb);
            sum += cnnrt_luminance(rgb[0], rgb[1], rgb[2]);
            count++;
        }
    }
    if (count == 0 || sum / (double)count <= 127.5)
        return 0;
    size_t bytes = (size_t)img->width * (size_t)img->height * (size_t)img->channels;
    for (size_t i = 0; i < bytes; i++)
        img->pixels[i] = (uint8_t)(255 - img->pixels[i]);
    return 1;
}

/* ------------------------------------------------------------------ libpng plumbing */

/* libpng reports errors through a callback that must not return; ours records the message
 * and longjmps back to the setjmp in read_png / write_png. Everything those functions
 * change after setjmp lives in this struct (reached through a pointer), so no local
 * variable's value is lost by the jump. */
#ifndef CNNRT_NO_PNG
typedef struct png_session {
    const char *path;
    FILE *fp;               /* read from this file, or from mem when fp is NULL */
    const uint8_t *mem;
    size_t mem_len, mem_pos;
    png_structp png;
    png_infop info;
    uint8_t *decoded;       /* read: rows as libpng delivers them (1 to 4 channels) */
    png_bytep *rows;
    char message[256];
    jmp_buf jump;
    /* Bytes read ahead of libpng (the IHDR's start, to check the size first), served to it
     * before the rest of the file. */
    unsigned char ahead[16];
    size_t ahead_len, ahead_pos;
} png_session;

static void on_png_error(png_structp png, png_const_charp message)
{
    png_session *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", message);
    longjmp(s->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp message)
{
    /* Warnings (a bad optional chunk, an odd gamma) do not stop reading an image. */
    (void)png;
    (void)message;
}

static void read_from_file(png_structp png, png_bytep data, size_t length)
{
    png_session *s = png_get_io_ptr(png);
    if (!s->fp) {
        if (s->mem_len - s->mem_pos < length)
            png_error(png, "unexpected end of file (the file is truncated)");
        memcpy(data, s->mem + s->mem_pos, length);
        s->mem_pos += length;
        return;
    }
    while (length > 0 && s->ahead_pos < s->ahead_len) {
        *data++ = s->ahead[s->ahead_pos++];
        length--;
    }
    if (length > 0 && fread(data, 1, length, s->fp) != length)
        png_error(png, ferror(s->fp) ? "read error"
                                     : "unexpected end of file (the file is truncated)");
}

/* ------------------------------------------------------------------ PNG writing */

/* Appends to the memory buffer of an encoding session (cnnrt_png_encode). */
typedef struct png_memory_out {
    uint8_t *data;
    size_t len, cap;
} png_memory_out;

static void write_to_memory(png_structp png, png_bytep data, size_t length)
{
    png_memory_out *out = png_get_io_ptr(png);
    if (out->cap - out->len < length) {
        size_t cap = out->cap ? out->cap : 4096;
        while (cap - out->len < length)
            cap *= 2;
        uint8_t *grown = realloc(out->data, cap);
        if (!grown)
            png_error(png, "out of memory");
        out->data = grown;
        out->cap = cap;
    }
    memcpy(out->data + out->len, data, length);
    out->len += length;
}

static void flush_nothing(png_structp png) { (void)png; }

static int write_png_body(png_session *s, const cnnrt_image *img, png_memory_out *memory)
{
    if (setjmp(s->jump))
        return -1;
    if (memory)
        png_set_write_fn(s->png, memory, write_to_memory, flush_nothing);
    else
        png_init_io(s->png, s->fp);
    png_set_IHDR(s->png, s->info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 img->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(s->png, s->info);
    size_t row_bytes = (size_t)img->width * (size_t)img->channels;
    for (int y = 0; y < img->height; y++)
        png_write_row(s->png, img->pixels + (size_t)y * row_bytes);
    png_write_end(s->png, s->info);
    return 0;
}

int cnnrt_png_write(const char *path, const cnnrt_image *img, cnnrt_err *e)
{
    if (!img || !img->pixels || img->width < 1 || img->height < 1 ||
        (img->channels != 1 && img->channels != 3))
        return cnnrt_fail(e, "%s: cannot write an empty image or one with %d channels", path,
                          img ? img->channels : 0);
    cnnrt_atomic_file file;
    if (cnnrt_atomic_open(&file, path, e))
        return -1;
    png_session s;
    memset(&s, 0, sizeof s);
    s.path = path;
    s.fp = file.fp;
    s.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, on_png_error, on_png_warning);
    s.info = s.png ? png_create_info_struct(s.png) : NULL;
    int failed = !s.info || write_png_body(&s, img, NULL) != 0;
    png_destroy_write_struct(s.png ? &s.png : NULL, s.info ? &s.info : NULL);
    if (failed) {
        cnnrt_atomic_abort(&file);
        return cnnrt_fail(e, "%s: cannot write PNG: %s", path,
                          s.message[0] ? s.message : "out of memory");
    }
    return cnnrt_atomic_commit(&file, e);
}

int cnnrt_png_encode(const cnnrt_image *img, uint8_t **data, size_t *len, cnnrt_err *e)
{
    *data = NULL;
    *len = 0;
    if (!img || !img->pixels || img->width < 1 || img->height < 1 ||
        (img->channels != 1 && img->channels != 3))
        return cnnrt_fail(e, "cannot encode an empty image or one with %d channels as PNG",
                          img ? img->channels : 0);
    png_session s;
    memset(&s, 0, sizeof s);
    png_memory_out memory = {NULL, 0, 0};
    s.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, on_png_error, on_png_warning);
    s.info = s.png ? png_create_info_struct(s.png) : NULL;
    int failed = !s.info || write_png_body(&s, img, &memory) != 0;
    png_destroy_write_struct(s.png ? &s.png : NULL, s.info ? &s.info : NULL);
    if (failed) {
        free(memory.data);
        return cnnrt_fail(e, "cannot encode PNG: %s", s.message[0] ? s.message : "out of memory");
    }
    *data = memory.data;
    *len = memory.len;
    return 0;
}

/* ------------------------------------------------------------------ PNG reading */

/* Decodes the whole image into s->decoded as 8-bit gray, gray+alpha, RGB or RGBA, whatever
 * the file's colour type and bit depth. */
static int read_png_body(png_session *s, int *width, int *height, int *channels,
                         int *is_color)
{
    if (setjmp(s->jump))
        return -1;
    png_set_read_fn(s->png, s, read_from_file);
    png_set_sig_bytes(s->png, 8);
    png_set_user_limits(s->png, CNNRT_IMAGE_MAX_SIDE, CNNRT_IMAGE_MAX_SIDE);
    png_read_info(s->png, s->info);

    png_uint_32 w = png_get_image_width(s->png, s->info);
    png_uint_32 h = png_get_image_height(s->png, s->info);
    int color_type = png_get_color_type(s->png, s->info);
    int bit_depth = png_get_bit_depth(s->png, s->info);
    if ((unsigned long)w * h > (unsigned long)CNNRT_IMAGE_MAX_PIXELS) {
        snprintf(s->message, sizeof s->message, "image %ux%u is larger than %ld pixels",
                 (unsigned)w, (unsigned)h, (long)CNNRT_IMAGE_MAX_PIXELS);
        return -1;
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(s->png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(s->png);
    if (png_get_valid(s->png, s->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(s->png);
    if (bit_depth == 16)
        png_set_scale_16(s->png);   /* rounds, unlike png_set_strip_16 */
    png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);

    size_t row_bytes = png_get_rowbytes(s->png, s->info);
    /* Plain malloc: a file claiming a huge size is reported, not a reason to abort. */
    s->decoded = malloc(row_bytes * h);
    s->rows = malloc(sizeof *s->rows * h);
    if (!s->decoded || !s->rows) {
        snprintf(s->message, sizeof s->message, "out of memory for a %ux%u image",
                 (unsigned)w, (unsigned)h);
        return -1;
    }
    for (png_uint_32 y = 0; y < h; y++)
        s->rows[y] = s->decoded + (size_t)y * row_bytes;
    png_read_image(s->png, s->rows);
    png_read_end(s->png, NULL);

    *width = (int)w;
    *height = (int)h;
    *channels = png_get_channels(s->png, s->info);
    *is_color = (color_type & PNG_COLOR_MASK_COLOR) != 0;
    return 0;
}

/* Which background a transparent image goes onto (see cnnrt_alpha_background). */
static uint8_t choose_background(const uint8_t *decoded, size_t count, int channels,
                                 cnnrt_alpha_background background)
{
    if (background == CNNRT_ALPHA_ON_BLACK || background == CNNRT_ALPHA_IGNORE)
        return 0;
    if (background == CNNRT_ALPHA_ON_WHITE)
        return 255;
    double weighted = 0.0, total_alpha = 0.0;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = decoded + i * (size_t)channels;
        uint8_t alpha = p[channels - 1];
        uint8_t lum = channels == 2 ? p[0] : cnnrt_luminance(p[0], p[1], p[2]);
        weighted += (double)lum * alpha;
        total_alpha += alpha;
    }
    if (total_alpha == 0.0)
        return 255;
    return weighted / total_alpha > 127.5 ? 0 : 255;
}

/* Copies the decoded pixels into img (1 or 3 channels), compositing alpha over a
 * background: out = (value * alpha + background * (255 - alpha)) / 255, rounded. */
void cnnrt_composite_alpha(const uint8_t *decoded, int decoded_channels, cnnrt_image *img,
                           cnnrt_alpha_background background)
{
    size_t count = (size_t)img->width * (size_t)img->height;
    int has_alpha = decoded_channels == 2 || decoded_channels == 4;
    int colour_channels = has_alpha ? decoded_channels - 1 : decoded_channels;
    uint32_t bg = has_alpha ? choose_background(decoded, count, decoded_channels, background)
                            : 0;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *s = decoded + i * (size_t)decoded_channels;
        uint8_t *d = img->pixels + i * (size_t)img->channels;
        uint32_t alpha = has_alpha && background != CNNRT_ALPHA_IGNORE ? s[decoded_channels - 1]
                                                                        : 255;
        for (int c = 0; c < colour_channels; c++)
            d[c] = (uint8_t)((s[c] * alpha + bg * (255 - alpha) + 127) / 255);
    }
}

static uint32_t read_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the IHDR's length, type, width and height ahead of libpng and refuses a picture
 * larger than the limits in words (libpng would only say "Invalid IHDR data"). Other
 * problems in those bytes are left to libpng, which reports them. */
static int check_ihdr_size(const char *path, const unsigned char ihdr[16], cnnrt_err *e)
{
    if (memcmp(ihdr + 4, "IHDR", 4) != 0)
        return 0;
    uint32_t width = read_be32(ihdr + 8), height = read_be32(ihdr + 12);
    if (width > CNNRT_IMAGE_MAX_SIDE || height > CNNRT_IMAGE_MAX_SIDE ||
        (uint64_t)width * height > (uint64_t)CNNRT_IMAGE_MAX_PIXELS)
        return cnnrt_fail(e, "%s: the picture is too large: %" PRIu32 "x%" PRIu32 " pixels; "
                             "the limit is %d pixels a side and %ld pixels in all", path,
                          width, height, CNNRT_IMAGE_MAX_SIDE, (long)CNNRT_IMAGE_MAX_PIXELS);
    return 0;
}

static int check_size_ahead(png_session *s, cnnrt_err *e)
{
    s->ahead_len = fread(s->ahead, 1, sizeof s->ahead, s->fp);
    if (s->ahead_len < sizeof s->ahead)
        return 0;
    return check_ihdr_size(s->path, s->ahead, e);
}

/* Decodes the PNG of session s (signature checked, size checked) into img. */
static int decode_png_session(png_session *s, cnnrt_alpha_background background,
                              cnnrt_image *img, cnnrt_err *e)
{
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, on_png_error, on_png_warning);
    s->info = s->png ? png_create_info_struct(s->png) : NULL;
    int width = 0, height = 0, channels = 0, is_color = 0;
    int failed = !s->info || read_png_body(s, &width, &height, &channels, &is_color) != 0;
    png_destroy_read_struct(s->png ? &s->png : NULL, s->info ? &s->info : NULL, NULL);
    free(s->rows);
    if (failed) {
        free(s->decoded);
        return cnnrt_fail(e, "%s: corrupt or unreadable PNG: %s", s->path,
                          s->message[0] ? s->message : "out of memory");
    }
    /* The size was checked against the limits while reading, so this cannot fail. */
    if (cnnrt_image_create(img, width, height, is_color ? 3 : 1, e)) {
        free(s->decoded);
        return -1;
    }
    cnnrt_composite_alpha(s->decoded, channels, img, background);
    free(s->decoded);
    return 0;
}

int cnnrt_png_read_from(const char *name, FILE *fp, cnnrt_alpha_background background,
                        cnnrt_image *img, cnnrt_err *e)
{
    memset(img, 0, sizeof *img);
    png_session s;
    memset(&s, 0, sizeof s);
    s.path = name;
    s.fp = fp;

    unsigned char signature[8];
    size_t got = fread(signature, 1, sizeof signature, s.fp);
    if (got < sizeof signature && ferror(s.fp))   /* e.g. a directory */
        return cnnrt_fail_errno(e, "%s: cannot read", name);
    if (got < sizeof signature || png_sig_cmp(signature, 0, sizeof signature) != 0)
        return cnnrt_fail(e, "%s: not a PNG file (%s)", name,
                          got == 0 ? "the file is empty" : "bad signature");
    if (check_size_ahead(&s, e))
        return -1;
    return decode_png_session(&s, background, img, e);
}

int cnnrt_png_decode(const char *path, const void *data, size_t len,
                     cnnrt_alpha_background background, cnnrt_image *img, cnnrt_err *e)
{
    memset(img, 0, sizeof *img);
    if (len < 8 || png_sig_cmp(data, 0, 8) != 0)
        return cnnrt_fail(e, "%s: not a PNG file (%s)", path,
                          len == 0 ? "the file is empty" : "bad signature");
    if (len >= 24 && check_ihdr_size(path, (const unsigned char *)data + 8, e))
        return -1;
    png_session s;
    memset(&s, 0, sizeof s);
    s.path = path;
    s.mem = data;
    s.mem_len = len;
    s.mem_pos = 8;
    return decode_png_session(&s, background, img, e);
}

int cnnrt_png_read(const char *path, cnnrt_alpha_background background, cnnrt_image *img,
                   cnnrt_err *e)
{
    memset(img, 0, sizeof *img);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cnnrt_fail_errno(e, "%s: cannot open", path);
    int rc = cnnrt_png_read_from(path, fp, background, img, e);
    fclose(fp);
    return rc;
}
#endif /* CNNRT_NO_PNG */
