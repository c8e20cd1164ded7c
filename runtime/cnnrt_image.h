/* Pictures: PNG files, model inputs from images, colour maps, resizing, heatmap overlays,
 * captioned panels and training-curve charts.
 *
 * Everything here works on cnnrt_image, an 8-bit grayscale or RGB raster. Functions that
 * can fail take a cnnrt_err * and return -1 after filling it with one sentence naming the
 * file and the problem (see cnnrt_common.h); they never exit and never crash on a bad file.
 *
 * The Grad-CAM pictures of the keras.io recipe are built like this (each call returns -1
 * with e filled on failure; the checks are left out here):
 *
 *   float *big = malloc(sizeof *big * H * W);
 *   cnnrt_resize_bilinear(cam, cam_h, cam_w, 1, big, H, W);      // map -> input size
 *   cnnrt_image original, heat, over, panel;
 *   cnnrt_image_from_floats(x, H, W, 1, &original, &e);           // the model's input
 *   cnnrt_heatmap_to_rgb(big, H, W, CNNRT_CMAP_JET, &heat, &e);   // matplotlib's jet
 *   cnnrt_overlay(&heat, &original, CNNRT_OVERLAY_ADDITIVE, CNNRT_OVERLAY_KERAS_ALPHA,
 *                 &over, &e);
 *   cnnrt_panel_item items[3] = {{&original, "original", 0}, {&heat, "heatmap", 0},
 *                                {&over, "overlay", 0}};
 *   cnnrt_panel_style style;
 *   cnnrt_panel_style_default(&style);
 *   style.scale = 8;                                              // 28x28 -> 224x224
 *   style.title = "true 7 - pred 7 (99.2%)";
 *   cnnrt_panel_compose(items, 3, &style, &panel, &e);
 *   cnnrt_png_write("gradcam.png", &panel, &e);
 *
 * tests/unit/test_picture_demo.c does exactly this on synthetic data and writes the results
 * to <build>/demo/.
 */
#ifndef CNNRT_IMAGE_H
#define CNNRT_IMAGE_H

#include <stdint.h>

#include "cnnrt_common.h"

/* ------------------------------------------------------------------ images */

/* An 8-bit raster, rows top to bottom, pixels left to right, channels interleaved
 * (pixels[(y * width + x) * channels + c]). channels is 1 (gray) or 3 (RGB).
 * An all-zero struct is an empty image; cnnrt_image_free on it is harmless. */
typedef struct cnnrt_image {
    int width;
    int height;
    int channels;
    uint8_t *pixels;
} cnnrt_image;

/* Largest image this library creates or reads: 32768 pixels a side and 2^26 pixels in all
 * (67 megapixels, more than any phone camera; decoding one as RGBA takes 268 MB). Bigger
 * PNGs are refused with a clear error rather than exhausting memory. */
#define CNNRT_IMAGE_MAX_SIDE 32768
#define CNNRT_IMAGE_MAX_PIXELS (1L << 26)

/* Allocates width x height x channels pixels, all set to 0. Fails (e.g. "image 0x5: ...")
 * on a size outside 1..CNNRT_IMAGE_MAX_SIDE or channels other than 1 and 3. */
int cnnrt_image_create(cnnrt_image *img, int width, int height, int channels, cnnrt_err *e);
void cnnrt_image_free(cnnrt_image *img);

/* Sets every pixel to (r, g, b); a gray image takes the luminance of that colour. */
void cnnrt_image_fill(cnnrt_image *img, uint8_t r, uint8_t g, uint8_t b);

/* Pixel access that ignores coordinates outside the image (drawing clips instead of
 * corrupting memory). For a gray image set_pixel stores the luminance of (r, g, b) and
 * get_pixel returns the gray value in all three. */
void cnnrt_image_set_pixel(cnnrt_image *img, int x, int y, uint8_t r, uint8_t g, uint8_t b);
void cnnrt_image_get_pixel(const cnnrt_image *img, int x, int y, uint8_t rgb[3]);

/* Luminance of an sRGB colour with the ITU-R 601 weights (0.299, 0.587, 0.114), rounded:
 * what PIL's convert("L") and so Keras's load_img(color_mode="grayscale") compute. */
uint8_t cnnrt_luminance(uint8_t r, uint8_t g, uint8_t b);

/* A copy of src with `channels` channels (1: luminance; 3: gray repeated in R, G, B). */
int cnnrt_image_convert(const cnnrt_image *src, int channels, cnnrt_image *dst, cnnrt_err *e);

/* An image from floats in [0,1], HWC with `channels` 1 or 3 (e.g. a model input, to show
 * it): value * 255, rounded, values outside [0,1] clamped and NaN taken as 0. */
int cnnrt_image_from_floats(const float *data, int height, int width, int channels,
                            cnnrt_image *img, cnnrt_err *e);

/* ------------------------------------------------------------------ PNG files */

/* Writes img as an 8-bit grayscale (channels 1) or RGB (channels 3) PNG, atomically: the
 * data goes to a temporary file beside path, is flushed, fsync'ed and renamed, so a failed
 * write (missing directory, full disk) leaves no file and no half-written PNG behind. */
int cnnrt_png_write(const char *path, const cnnrt_image *img, cnnrt_err *e);

/* Where transparent pixels go when a PNG with an alpha channel (or a transparent palette
 * entry / tRNS chunk) is read: the colour is composited over a background.
 *   CNNRT_ALPHA_ON_WHITE  paper-like, what a browser or image viewer usually shows.
 *   CNNRT_ALPHA_ON_BLACK  MNIST-like.
 *   CNNRT_ALPHA_AUTO      the background that contrasts with the visible (opaque) pixels:
 *                         black if their alpha-weighted mean luminance is light, white if it
 *                         is dark. A digit drawn with any colour on a transparent canvas (a
 *                         drawing app's usual export) thus stays visible; combined with
 *                         cnnrt_image_invert_if_light_background it always ends up a light
 *                         digit on black, like MNIST.
 *   CNNRT_ALPHA_IGNORE    the colour channels as stored, alpha dropped: what TensorFlow's
 *                         decode_image(channels=3) and so Keras's image_dataset_from_directory
 *                         do (data sets read from folders use it, to train on what Keras
 *                         would train on).
 * Images without transparency are not affected by the choice. */
typedef enum cnnrt_alpha_background {
    CNNRT_ALPHA_ON_WHITE = 0,
    CNNRT_ALPHA_ON_BLACK = 1,
    CNNRT_ALPHA_AUTO = 2,
    CNNRT_ALPHA_IGNORE = 3,
} cnnrt_alpha_background;

/* Reads any valid PNG: gray, gray+alpha, RGB, RGBA, palette (with or without tRNS), bit
 * depths 1 to 16, interlaced or not, any size up to the limits above. The result has
 * channels 1 when the file is grayscale (gray or gray+alpha; a palette is always RGB) and
 * channels 3 otherwise; 16-bit samples are scaled to 8 bits with rounding; transparency is
 * composited over `background`. A missing, truncated, corrupt or non-PNG file is an error
 * naming the file ("digit.png: not a PNG file (bad signature)", "digit.png: corrupt or
 * unreadable PNG: IDAT: CRC error", "... unexpected end of file (the file is truncated)");
 * *img is left empty then. A picture larger than the limits above is refused from its
 * header, before anything is decoded ("big.png: the picture is too large: 100000x100000
 * pixels; the limit is 32768 pixels a side and 67108864 pixels in all"). */
int cnnrt_png_read(const char *path, cnnrt_alpha_background background, cnnrt_image *img,
                   cnnrt_err *e);
/* The same from an open stream (a file, fmemopen'ed bytes); `name` stands for it in
 * messages. */
int cnnrt_png_read_from(const char *name, FILE *fp, cnnrt_alpha_background background,
                        cnnrt_image *img, cnnrt_err *e);

/* cnnrt_png_read on a file already in memory (len bytes at data); path names it in
 * messages. */
int cnnrt_png_decode(const char *path, const void *data, size_t len,
                     cnnrt_alpha_background background, cnnrt_image *img, cnnrt_err *e);

/* Copies decoded 8-bit pixels with 1 to 4 channels (gray, gray+alpha, RGB, RGBA) into img
 * (already created with 1 or 3 channels and the same size), compositing alpha over the
 * background: out = (value * alpha + bg * (255 - alpha)) / 255, rounded. Used by the
 * picture readers. */
void cnnrt_composite_alpha(const uint8_t *decoded, int decoded_channels, cnnrt_image *img,
                           cnnrt_alpha_background background);

/* ------------------------------------------------------------------ pictures of any format */

/* The picture formats read by cnnrt_picture_read, recognised by their first bytes (never
 * by the file name):
 *   PNG   89 50 4E 47 0D 0A 1A 0A                  libpng, as cnnrt_png_read
 *   JPEG  FF D8 FF                                 libjpeg-turbo: baseline and progressive,
 *                                                  gray, YCbCr/RGB, CMYK/YCCK (converted)
 *   GIF   "GIF87a" / "GIF89a"                      giflib: the first frame, on the screen's
 *                                                  size; a transparent colour is composited
 *   BMP   "BM" + a known header size (12..124)     our own reader: 1, 4, 8 bits with a
 *                                                  palette, 16/24/32 bits, uncompressed or
 *                                                  with bit fields; not RLE
 * Every reader refuses pictures larger than CNNRT_IMAGE_MAX_SIDE a side or
 * CNNRT_IMAGE_MAX_PIXELS in all, before decoding them, as the PNG reader does. */
typedef enum cnnrt_picture_format {
    CNNRT_PICTURE_NONE = 0,   /* not a picture this library reads */
    CNNRT_PICTURE_PNG = 1,
    CNNRT_PICTURE_JPEG = 2,
    CNNRT_PICTURE_GIF = 3,
    CNNRT_PICTURE_BMP = 4,
} cnnrt_picture_format;

/* How many leading bytes cnnrt_picture_format_of looks at. */
#define CNNRT_PICTURE_MAGIC_BYTES 16
/* Largest picture file read (a 67-megapixel PNG is at most about this big). */
#define CNNRT_PICTURE_MAX_FILE_BYTES ((size_t)1 << 28)

/* The format of a file from its first len bytes (fewer than CNNRT_PICTURE_MAGIC_BYTES is
 * fine: a short file is simply not recognised). */
cnnrt_picture_format cnnrt_picture_format_of(const void *head, size_t len);
/* "PNG", "JPEG", "GIF", "BMP", or "unknown". */
const char *cnnrt_picture_format_name(cnnrt_picture_format format);

/* 1 when the file name ends in .png, .jpg, .jpeg, .gif or .bmp (any case): what a file
 * that is meant to be a picture is called. Only used to decide whether a file that is not
 * a picture is worth a complaint (photo.jpg holding text is; README is not). */
int cnnrt_picture_name_looks_like_one(const char *path);

/* Reads a PNG, JPEG, GIF or BMP picture, whatever its name, as 8-bit gray (channels 1: gray
 * PNG, grayscale JPEG, BMP/GIF whose palette is all gray is still RGB) or RGB (channels 3);
 * transparency is handled as `background` says. Errors name the file and the problem:
 * "x.jpg: cannot open: No such file or directory", "x.txt: not a picture (PNG, JPEG, GIF or
 * BMP)", "x.jpg: corrupt or unreadable JPEG: Premature end of JPEG file", "big.png: the picture
 * is too large: 40000x20 pixels; ...". *img is left empty on failure. */
int cnnrt_picture_read(const char *path, cnnrt_alpha_background background, cnnrt_image *img,
                       cnnrt_err *e);
/* The same on a file already in memory; path only names it in messages. */
int cnnrt_picture_decode(const char *path, const void *data, size_t len,
                         cnnrt_alpha_background background, cnnrt_image *img, cnnrt_err *e);

/* Writes img as a baseline JPEG (gray or RGB, 4:2:0 for colour) of quality 1..100,
 * atomically like cnnrt_png_write. */
int cnnrt_jpeg_write(const char *path, const cnnrt_image *img, int quality, cnnrt_err *e);

/* PNG and JPEG files in memory (*data malloc'ed, free()), for tools that write many files
 * at once and make the whole folder appear atomically instead of each file. */
int cnnrt_png_encode(const cnnrt_image *img, uint8_t **data, size_t *len, cnnrt_err *e);
int cnnrt_jpeg_encode(const cnnrt_image *img, int quality, uint8_t **data, size_t *len,
                      cnnrt_err *e);

/* ------------------------------------------------------------------ model inputs */

typedef enum cnnrt_resize_mode {
    /* Nearest neighbour with half-pixel centres: source pixel floor((i + 0.5) * src / dst),
     * like PIL's NEAREST and TF's resize(method="nearest"). Exact for integer scaling. */
    CNNRT_RESIZE_NEAREST = 0,
    /* Area average (box filter), like cv2.INTER_AREA / PIL's BOX: every output pixel is the
     * mean of the source pixels it covers, weighted by overlap. Use it to shrink a photo:
     * nearest would keep 1 pixel in 100 and lose thin pen strokes. When enlarging it
     * gives the same as nearest. */
    CNNRT_RESIZE_AREA = 1,
    /* Bilinear with half-pixel centres and no antialiasing, exactly as
     * cnnrt_resize_bilinear (the same as tf.image.resize(method="bilinear"), which Keras's
     * image_dataset_from_directory uses): output pixel i samples source coordinate
     * (i + 0.5) * src / dst - 0.5, clamped to the edges. Shrinking by more than 2 skips
     * source pixels, as TF does. */
    CNNRT_RESIZE_BILINEAR = 2,
} cnnrt_resize_mode;

/* Turns a loaded image into a model input: converted to `channels` (1 gray by luminance,
 * 3 RGB), resized to height x width (stretched if the aspect ratio differs, as Keras's
 * load_img(target_size=...) does), and scaled to floats in [0,1] (value / 255), HWC.
 * out holds height * width * channels floats. */
int cnnrt_image_to_input(const cnnrt_image *img, int height, int width, int channels,
                         cnnrt_resize_mode mode, float *out, cnnrt_err *e);

/* MNIST digits are light strokes on a black background; a photo or scan of handwriting is
 * dark ink on light paper. This looks at the background, estimated as the mean luminance of
 * the image's outermost ring of pixels (the border is paper, not ink, in a framed digit),
 * and if it is light (mean > 127.5) replaces every value v by 255 - v. Returns 1 if the
 * image was inverted, 0 if not. Call it before cnnrt_image_to_input for a user's picture. */
int cnnrt_image_invert_if_light_background(cnnrt_image *img);

/* MNIST's own preprocessing, for a user's photo of one handwritten digit (call
 * cnnrt_image_invert_if_light_background first, so the ink is light on dark): MNIST digits
 * were scaled to fit a 20x20 box keeping their aspect ratio and placed in the 28x28 image
 * so that their centre of mass is at the centre. A photo stretched whole to 28x28 instead
 * gives a small, off-centre digit that the network often misreads. This
 *   1. converts to gray and stretches the contrast: background (the mean of the outermost
 *      ring of pixels) and anything up to 15% above it (paper grain, shadows) to 0, the
 *      brightest pixel to 255;
 *   2. finds the ink's bounding box (pixels above 35% of that range);
 *   3. scales the box (area average when shrinking, bilinear when enlarging) so that its
 *      longer side is 20/28 of the input's side, keeping the aspect ratio;
 *   4. places it on black so that its centre of mass is at the input's centre,
 * and returns floats in [0,1], height x width (1 channel). An image without ink (a flat
 * picture) is simply resized as cnnrt_image_to_input(..., CNNRT_RESIZE_AREA) would. */
int cnnrt_digit_to_input(const cnnrt_image *img, int height, int width, float *out,
                         cnnrt_err *e);

/* How a user's picture (predict, gradcam, `cnnc --interpret`) becomes a model input. The
 * model file chooses with `input ... prepare=`; the program's --prepare overrides it. Both
 * the compiled program and cnnc's reference interpreter call cnnrt_picture_prepare, so
 * the two always see the same input for the same picture. */
typedef enum cnnrt_prepare {
    /* Keras's load_img(path, color_mode=..., target_size=(h, w)): transparency dropped,
     * converted to the model's channels by luminance, stretched with nearest neighbour
     * (load_img's default interpolation), scaled to [0,1]. The default. */
    CNNRT_PREPARE_RESIZE = 0,
    /* For models trained on MNIST digits (one channel): a light background is inverted
     * (cnnrt_image_invert_if_light_background, transparency composited over the
     * contrasting colour); a picture already of the input's size is then taken as it is,
     * like the test images; any other size gets cnnrt_digit_to_input (cropped, fitted
     * into 20x20, centred by mass). On a model with 3 channels it is RESIZE. */
    CNNRT_PREPARE_DIGIT = 1,
} cnnrt_prepare;
enum { CNNRT_PREPARE_COUNT = 2 };

/* "resize", "digit" -> the mode; -1 for anything else. */
int cnnrt_prepare_from_name(const char *name);
const char *cnnrt_prepare_name(cnnrt_prepare how);

/* Reads the picture at path (any format cnnrt_picture_read knows) and prepares it as `how`
 * says into out (height * width * channels floats in [0,1], HWC). *inverted (may be NULL)
 * says whether a light background was inverted. Errors name the file. */
int cnnrt_picture_prepare(const char *path, cnnrt_prepare how, int height, int width,
                          int channels, float *out, int *inverted, cnnrt_err *e);

/* ------------------------------------------------------------------ resizing */

/* Bilinear resize of a float map (HWC, `channels` interleaved) with half-pixel centres:
 * output pixel i samples source coordinate (i + 0.5) * src / dst - 0.5, clamped to the
 * edges, the same as cv2.resize(INTER_LINEAR) and tf.image.resize(method="bilinear",
 * half_pixel_centers=True, antialias=False). Same size copies exactly. dst must not
 * overlap src. */
void cnnrt_resize_bilinear(const float *src, int src_h, int src_w, int channels, float *dst,
                           int dst_h, int dst_w);

/* Nearest, area or bilinear resize of an 8-bit image to width x height (see
 * cnnrt_resize_mode), rounded to the nearest 8-bit value. */
int cnnrt_image_resize(const cnnrt_image *src, int width, int height, cnnrt_resize_mode mode,
                       cnnrt_image *dst, cnnrt_err *e);

/* Nearest-neighbour enlargement by an integer factor >= 1 (every pixel becomes a
 * factor x factor block): how a 28x28 digit is made big enough to see. */
int cnnrt_image_scale_up(const cnnrt_image *src, int factor, cnnrt_image *dst, cnnrt_err *e);

/* ------------------------------------------------------------------ colour maps */

typedef enum cnnrt_colormap {
    /* matplotlib's "jet", the 256-entry table that cm.jet(np.arange(256)) returns: what
     * the keras.io Grad-CAM recipe colours its heatmap with. Blue (low) to red (high). */
    CNNRT_CMAP_JET = 0,
    /* matplotlib's "viridis": perceptually uniform and readable in gray and by colour-blind
     * readers. Dark purple (low) to yellow (high). */
    CNNRT_CMAP_VIRIDIS = 1,
    /* Black to white. */
    CNNRT_CMAP_GRAY = 2,
} cnnrt_colormap;

/* The 256 RGB entries of a colour map, floats in [0,1] (table[i][0] is red). */
const float (*cnnrt_colormap_table(cnnrt_colormap cmap))[3];

/* "jet", "viridis", "gray" -> the enum; returns -1 (and fills e with the valid names) for
 * anything else. */
int cnnrt_colormap_from_name(const char *name, cnnrt_colormap *cmap, cnnrt_err *e);
const char *cnnrt_colormap_name(cnnrt_colormap cmap);

/* Colour of a value in [0,1] as 8-bit RGB, as the Keras recipe computes it:
 * index = uint8(255 * value) (truncated, like np.uint8), colour = uint8(255 * table[index])
 * (truncated, like array_to_img's astype("uint8")). Values outside [0,1] are clamped and
 * NaN counts as 0. (The recipe's array_to_img also divides the coloured map by its
 * largest channel value before the * 255; for jet that changes nothing once one value of
 * the map is in 0.11..0.34, 0.375..0.64 or 0.66..0.89, where a channel is 1, as in every
 * real heatmap normalised to a maximum of 1.) */
void cnnrt_colormap_rgb(cnnrt_colormap cmap, float value, uint8_t rgb[3]);

/* A heatmap (height x width floats, normally in [0,1], e.g. a Grad-CAM map already resized
 * to the input size with cnnrt_resize_bilinear) coloured with cmap: an RGB image. */
int cnnrt_heatmap_to_rgb(const float *map, int height, int width, cnnrt_colormap cmap,
                         cnnrt_image *out, cnnrt_err *e);

/* ------------------------------------------------------------------ overlay */

typedef enum cnnrt_overlay_mode {
    /* The keras.io recipe: superimposed = heat * alpha + image (both 0..255), then
     * rescaled as keras.utils.array_to_img(scale=True) does, in float32: shifted up by
     * -min(x) only if the minimum is negative (never here), divided by max(x) if it is not
     * 0, times 255, truncated to uint8. The maximum is over all pixels and channels, so the
     * brightest channel of the overlay becomes 255. */
    CNNRT_OVERLAY_ADDITIVE = 0,
    /* A convex blend: out = (1 - w) * heat + w * image, rounded. w = 1 shows only the
     * image, w = 0 only the heatmap; no rescaling, so colours keep their meaning. */
    CNNRT_OVERLAY_CONVEX = 1,
} cnnrt_overlay_mode;

/* Default weights: alpha 0.4 is the keras.io recipe's; w 0.5 an even mix. */
#define CNNRT_OVERLAY_KERAS_ALPHA 0.4f
#define CNNRT_OVERLAY_CONVEX_WEIGHT 0.5f

/* Overlays an RGB heatmap on an image of the same width and height (gray or RGB; gray is
 * repeated in R, G, B). `amount` is alpha for ADDITIVE and w for CONVEX. out is RGB. */
int cnnrt_overlay(const cnnrt_image *heat, const cnnrt_image *image, cnnrt_overlay_mode mode,
                  float amount, cnnrt_image *out, cnnrt_err *e);

/* ------------------------------------------------------------------ text */

/* A built-in bitmap font: printable ASCII 32..126, each glyph 5 pixels wide, 7 above the
 * baseline and 2 below it (for g, j, p, q, y), in a 6x10 cell (one column and one row of
 * spacing), drawn at an integer scale (scale 2: 12x20 cells). Other bytes are drawn as
 * '?'. '\n' starts a new line. */
#define CNNRT_FONT_CELL_W 6
#define CNNRT_FONT_CELL_H 10

/* Draws text with its top-left corner at (x, y), clipped to the image. */
void cnnrt_draw_text(cnnrt_image *img, int x, int y, const char *text, int scale, uint8_t r,
                     uint8_t g, uint8_t b);
/* Size in pixels of the text at a scale: the widest line times the cell width, and the
 * number of lines times the cell height (spacing included, which keeps layouts simple).
 * Both are 0 for NULL or "". */
int cnnrt_text_width(const char *text, int scale);
int cnnrt_text_height(const char *text, int scale);

/* Simple drawing used by the panel and the chart, all clipped to the image. */
void cnnrt_draw_rect(cnnrt_image *img, int x, int y, int w, int h, uint8_t r, uint8_t g,
                     uint8_t b);   /* filled */
void cnnrt_draw_frame(cnnrt_image *img, int x, int y, int w, int h, int thickness, uint8_t r,
                      uint8_t g, uint8_t b);   /* outline, drawn inside the rectangle */
void cnnrt_draw_line(cnnrt_image *img, int x0, int y0, int x1, int y1, int thickness,
                     uint8_t r, uint8_t g, uint8_t b);
/* Copies src into img with its top-left corner at (x, y); gray sources into RGB images are
 * repeated in R, G, B, RGB sources into gray images take the luminance. */
void cnnrt_draw_image(cnnrt_image *img, int x, int y, const cnnrt_image *src);

/* ------------------------------------------------------------------ panels */

typedef struct cnnrt_panel_item {
    const cnnrt_image *image;
    const char *caption;   /* under the image, may hold '\n'; NULL or "" for none */
    int marked;            /* non-zero: a red frame around the image (e.g. misclassified) */
} cnnrt_panel_item;

typedef struct cnnrt_panel_style {
    int cols;              /* images per row; 0 puts all of them in one row */
    int scale;             /* nearest-neighbour enlargement of every image, >= 1 */
    int font_scale;        /* caption text scale, >= 1 (title uses font_scale + 1) */
    int padding;           /* pixels around and between cells */
    int dark;              /* non-zero: dark background, light text */
    const char *title;     /* centred above the grid, may hold '\n'; NULL for none */
} cnnrt_panel_style;

/* cols 0, scale 1, font_scale 2, padding 12, white background, no title. */
void cnnrt_panel_style_default(cnnrt_panel_style *style);

/* Composes images into one RGB picture: a grid of cells, row by row; every cell is as wide
 * as the widest scaled image or caption and as tall as the tallest scaled image plus the
 * tallest caption; each image is centred in its cell with its caption centred under it.
 * Images may differ in size and channels. */
int cnnrt_panel_compose(const cnnrt_panel_item *items, int count,
                        const cnnrt_panel_style *style, cnnrt_image *out, cnnrt_err *e);

/* ------------------------------------------------------------------ charts */

typedef struct cnnrt_chart_series {
    const char *label;     /* shown in the legend; NULL for none */
    const double *x;       /* count x values; NULL means 1, 2, ..., count (epochs) */
    const double *y;       /* count y values; NaN or infinite values are skipped */
    int count;
    int dashed;            /* non-zero: dashed line (e.g. validation curves) */
} cnnrt_chart_series;

typedef struct cnnrt_chart {
    const char *title;     /* NULL for none */
    const char *x_label;   /* e.g. "epoch"; NULL for none */
    const char *y_label;   /* e.g. "loss"; NULL for none */
    int width, height;     /* of the picture in pixels; 0 for 640 x 420 */
    const cnnrt_chart_series *series;
    int series_count;
} cnnrt_chart;

/* Draws a line chart in matplotlib's default style: the data range plus 5% margins, ticks
 * at "nice" steps (1, 2, 5 x 10^k; whole numbers when every x is whole, as epochs are) with
 * numeric labels and light grid lines, the y label written upwards on the left, every
 * series in its own colour (matplotlib's tab10 order: blue, orange, green, red, ...) with a
 * dot at each point (so a single point still shows), and a framed legend inside the plot
 * in the corner where it hides the least data. NaN and infinite values are skipped and
 * break the line there. A flat series gets a range around its value; a chart with no
 * finite value at all draws empty axes. Sizes outside 120x100 .. 8192x8192, a size too
 * small for the labels, or values beyond 1e150 are errors. Text is drawn at scale 1 below
 * 480 pixels of width, 2 up to 999, 3 from 1000. */
int cnnrt_chart_render(const cnnrt_chart *chart, cnnrt_image *out, cnnrt_err *e);
/* cnnrt_chart_render + cnnrt_png_write. */
int cnnrt_chart_write_png(const char *path, const cnnrt_chart *chart, cnnrt_err *e);

#endif
