/* Captioned panels: several images side by side or in a grid (the tutorial's
 * "original | heatmap | overlay" figure, a grid of test digits). See cnnrt_image.h. */
#include "cnnrt_image.h"

#include <string.h>

void cnnrt_panel_style_default(cnnrt_panel_style *style)
{
    memset(style, 0, sizeof *style);
    style->cols = 0;
    style->scale = 1;
    style->font_scale = 2;
    style->padding = 12;
    style->dark = 0;
    style->title = NULL;
}

typedef struct panel_layout {
    int cols, rows;
    int cell_w, cell_h;      /* a cell: image area + caption area */
    int image_h;             /* tallest scaled image */
    int caption_gap;         /* between image and caption */
    int title_h;             /* 0 without a title */
    int frame;               /* thickness of the "marked" frame */
} panel_layout;

static int check_inputs(const cnnrt_panel_item *items, int count,
                        const cnnrt_panel_style *style, cnnrt_err *e)
{
    if (count < 1 || !items)
        return cnnrt_fail(e, "panel: no images to compose");
    if (style->scale < 1 || style->font_scale < 1 || style->padding < 0 || style->cols < 0)
        return cnnrt_fail(e, "panel: scale (%d) and font scale (%d) must be >= 1, padding "
                             "(%d) and columns (%d) >= 0",
                          style->scale, style->font_scale, style->padding, style->cols);
    for (int i = 0; i < count; i++) {
        const cnnrt_image *img = items[i].image;
        if (!img || !img->pixels || img->width < 1 || img->height < 1)
            return cnnrt_fail(e, "panel: image %d is empty", i + 1);
        if ((long)img->width * style->scale > CNNRT_IMAGE_MAX_SIDE ||
            (long)img->height * style->scale > CNNRT_IMAGE_MAX_SIDE)
            return cnnrt_fail(e, "panel: image %d (%dx%d) scaled %d times is too large", i + 1,
                              img->width, img->height, style->scale);
    }
    return 0;
}

static panel_layout plan_layout(const cnnrt_panel_item *items, int count,
                                const cnnrt_panel_style *style)
{
    panel_layout l;
    memset(&l, 0, sizeof l);
    l.cols = style->cols > 0 && style->cols < count ? style->cols : count;
    l.rows = (count + l.cols - 1) / l.cols;
    int caption_h = 0;
    for (int i = 0; i < count; i++) {
        int w = items[i].image->width * style->scale;
        int h = items[i].image->height * style->scale;
        int text_w = cnnrt_text_width(items[i].caption, style->font_scale);
        int text_h = cnnrt_text_height(items[i].caption, style->font_scale);
        l.cell_w = w > l.cell_w ? w : l.cell_w;
        l.cell_w = text_w > l.cell_w ? text_w : l.cell_w;
        l.image_h = h > l.image_h ? h : l.image_h;
        caption_h = text_h > caption_h ? text_h : caption_h;
    }
    l.caption_gap = caption_h ? (style->padding > 4 ? style->padding / 2 : 2) : 0;
    l.cell_h = l.image_h + l.caption_gap + caption_h;
    l.title_h = cnnrt_text_height(style->title, style->font_scale + 1);
    /* The frame goes around the image, in the padding, so it hides no pixel. */
    l.frame = style->padding / 3;
    l.frame = l.frame < 2 ? 2 : l.frame > 6 ? 6 : l.frame;
    return l;
}

/* Draws text with every line centred on centre_x. */
static void draw_text_centred(cnnrt_image *out, int centre_x, int y, const char *text,
                              int scale, uint8_t r, uint8_t g, uint8_t b)
{
    char line[512];
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, "\n");
        size_t kept = len < sizeof line - 1 ? len : sizeof line - 1;
        memcpy(line, p, kept);
        line[kept] = '\0';
        /* The width counts one spacing column after the last glyph; leave it out. */
        int ink_w = cnnrt_text_width(line, scale) - scale;
        cnnrt_draw_text(out, centre_x - ink_w / 2, y, line, scale, r, g, b);
        y += CNNRT_FONT_CELL_H * scale;
        p += len;
        if (*p == '\n')
            p++;
    }
}

/* Draws an image enlarged by `scale` (nearest neighbour) with its top-left at (x, y). */
static void draw_scaled(cnnrt_image *out, int x, int y, const cnnrt_image *img, int scale)
{
    uint8_t rgb[3];
    for (int sy = 0; sy < img->height; sy++)
        for (int sx = 0; sx < img->width; sx++) {
            cnnrt_image_get_pixel(img, sx, sy, rgb);
            cnnrt_draw_rect(out, x + sx * scale, y + sy * scale, scale, scale, rgb[0], rgb[1],
                            rgb[2]);
        }
}

int cnnrt_panel_compose(const cnnrt_panel_item *items, int count,
                        const cnnrt_panel_style *style, cnnrt_image *out, cnnrt_err *e)
{
    memset(out, 0, sizeof *out);
    if (check_inputs(items, count, style, e))
        return -1;
    panel_layout l = plan_layout(items, count, style);
    int pad = style->padding;
    int grid_top = pad + (l.title_h ? l.title_h + pad : 0);
    long width = (long)pad + (long)l.cols * (l.cell_w + pad);
    long height = (long)grid_top + (long)l.rows * (l.cell_h + pad);
    int title_w = cnnrt_text_width(style->title, style->font_scale + 1);
    if (title_w + 2L * pad > width)
        width = title_w + 2L * pad;
    if (width > CNNRT_IMAGE_MAX_SIDE || height > CNNRT_IMAGE_MAX_SIDE)
        return cnnrt_fail(e, "panel: %d images make a %ldx%ld picture, too large", count,
                          width, height);
    if (cnnrt_image_create(out, (int)width, (int)height, 3, e))
        return -1;

    uint8_t bg = style->dark ? 24 : 255, ink = style->dark ? 235 : 20;
    cnnrt_image_fill(out, bg, bg, bg);
    if (l.title_h)
        draw_text_centred(out, (int)width / 2, pad, style->title, style->font_scale + 1, ink,
                          ink, ink);
    /* The grid is centred when the title made the picture wider than the grid. */
    int grid_left = ((int)width - (pad + l.cols * (l.cell_w + pad))) / 2 + pad;
    for (int i = 0; i < count; i++) {
        const cnnrt_image *img = items[i].image;
        int cell_x = grid_left + (i % l.cols) * (l.cell_w + pad);
        int cell_y = grid_top + (i / l.cols) * (l.cell_h + pad);
        int w = img->width * style->scale, h = img->height * style->scale;
        int img_x = cell_x + (l.cell_w - w) / 2;
        int img_y = cell_y + (l.image_h - h) / 2;
        draw_scaled(out, img_x, img_y, img, style->scale);
        if (items[i].marked)
            cnnrt_draw_frame(out, img_x - l.frame, img_y - l.frame, w + 2 * l.frame,
                             h + 2 * l.frame, l.frame, 220, 30, 30);
        if (items[i].caption && items[i].caption[0]) {
            uint8_t r = ink, g = ink, b = ink;
            if (items[i].marked) {   /* the caption of a marked image in the frame's red */
                r = 220;
                g = b = 30;
            }
            draw_text_centred(out, cell_x + l.cell_w / 2, cell_y + l.image_h + l.caption_gap,
                              items[i].caption, style->font_scale, r, g, b);
        }
    }
    return 0;
}
