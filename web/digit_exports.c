/* The draw-a-digit page's addition to examples/wasm/model_exports.c: the runtime's own
 * digit preparation (cnnrt_digit_to_input, runtime/resize.c: crop the ink, fit it into
 * 20x20, centre it by mass) compiled into the same module, so that the page prepares a
 * drawing exactly as `PROG predict` prepares a photo of a digit, not by a JavaScript copy.
 *
 *   cnnc_canvas(w, h)     w*h bytes (gray, row by row, 0 = black) the page fills from its
 *                         drawing canvas; allocated once for the largest size asked for
 *   cnnc_prepare_digit(w, h)
 *                         prepares the canvas into cnnc_input(); 0, or -1 (no memory,
 *                         bad size)
 *
 * runtime/image.c is compiled with -DCNNRT_NO_PNG (no libpng in the browser); the three
 * helpers of runtime/common.c the preparation needs are here, because common.c also holds
 * file and signal code that wasi-libc cannot compile. */
#include <stdlib.h>
#include <string.h>

#include "cnnrt_common.h"
#include "cnnrt_image.h"

#define EXPORT(name) __attribute__((export_name(#name))) name

float *cnnc_input(void);
int cnnc_input_h(void);
int cnnc_input_w(void);

/* The message's format without its values: vsnprintf would link wasi-libc's stdio, which
 * imports WASI calls, and the page only needs to know that preparing failed. */
int cnnrt_fail(cnnrt_err *e, const char *fmt, ...)
{
    if (e) {
        strncpy(e->msg, fmt, sizeof e->msg - 1);
        e->msg[sizeof e->msg - 1] = '\0';
    }
    return -1;
}

/* Out of memory in the browser: a trap the page reports, as the native program exits. */
void *cnnrt_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        __builtin_trap();
    return p;
}

void *cnnrt_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        __builtin_trap();
    return p;
}

static cnnrt_image canvas;

uint8_t *EXPORT(cnnc_canvas)(int w, int h)
{
    if (w < 1 || h < 1 || w > 4096 || h > 4096)
        return NULL;
    if (!canvas.pixels || canvas.width * canvas.height < w * h) {
        cnnrt_image_free(&canvas);
        if (cnnrt_image_create(&canvas, w, h, 1, NULL))
            return NULL;
    }
    canvas.width = w;
    canvas.height = h;
    return canvas.pixels;
}

int EXPORT(cnnc_prepare_digit)(int w, int h)
{
    float *input = cnnc_input();
    if (!input || !canvas.pixels || w != canvas.width || h != canvas.height)
        return -1;
    cnnrt_err e;
    return cnnrt_digit_to_input(&canvas, cnnc_input_h(), cnnc_input_w(), input, &e);
}
