/* `cnnc MODEL --web DIR --weights FILE`: the draw-a-digit page (issue 17) as a folder that
 * opens from file:// or any static web server:
 *
 *   DIR/index.html       the page (web/index.html), a few test digits inlined
 *   DIR/page.js          the page's hand-written script (web/page.js)
 *   DIR/NAME.wasm        the model compiled by cnnc to wasm32 with its weights inside,
 *                        linked with the runtime built for wasm32 (web/CMakeLists.txt)
 *   DIR/NAME.wasm.js     the same module as base64, for pages opened from file://, where
 *                        browsers refuse to fetch a .wasm
 *
 * cnnc emits the model's object through LLVM (--target wasm32 --embed-weights) and a
 * second small object that points the prebuilt runtime's exports at this model, then
 * links them with wasm-ld and wasi-libc's libc (memcpy, exp, malloc: no imports). */
#ifndef CNNC_WEB_H
#define CNNC_WEB_H

#include "diag.h"
#include "graph.h"

typedef struct cnnc_web_options {
    const char *dir;          /* --web DIR (created when missing) */
    const char *weights;      /* --weights FILE: the trained weights */
    const char *data;         /* --data DIR: the test digits offered (NULL: $CNNC_DATA,
                                 then ./data/mnist; none found: no examples, a note) */
    int opt_level;            /* -O */
    int jobs;                 /* -j */
} cnnc_web_options;

/* Writes the folder; 0, or -1 after a message naming what failed. */
int cnnc_web_write(const cnnc_graph *g, const cnnc_web_options *o, cnnc_diag *d);

#endif
