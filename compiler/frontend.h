/* The front end: model file -> syntax tree -> graph IR.
 *
 * It knows the language's vocabulary (the statements and their keys, with Keras's
 * defaults), checks every statement, generates Keras layer and weight names, and builds
 * each layer's nodes with cnnc_graph_add, whose shape rules report shape problems. All
 * problems of a file are reported in one run; see docs/language.md for the language. */
#ifndef CNNC_FRONTEND_H
#define CNNC_FRONTEND_H

#include <stddef.h>
#include "ast.h"
#include "diag.h"
#include "cnnrt_info.h"
#include "graph.h"

/* Model files larger than this are refused: no model needs it, and it bounds the work. */
enum { CNNC_MAX_SOURCE_BYTES = 1 << 20 };

/* The longest names the front end accepts: every name it accepts must work in the
 * compiled program, so these follow from what the runtime holds (to move into the shared
 * limits header of compiler and runtime once it exists).
 * - A layer's name is also the start of its weights' names ("NAME/kernel"), which the
 *   model descriptor carries and the runtime reads into CNNRT_NAME_MAX bytes.
 * - The model's name is stored in the weights file (128 bytes with the NUL) and names the
 *   files `train` writes beside it: NAME.history.png.tmp.PID (at most 24 more bytes) must
 *   fit in a file name (255 bytes). */
enum {
    CNNC_MAX_LAYER_NAME = CNNRT_NAME_MAX - 1 - (int)(sizeof "/kernel" - 1),   /* 120 */
    CNNC_MAX_MODEL_NAME = 127,
};

/* Builds the graph of a parsed file. Returns NULL when any error was reported (d->errors
 * counts them; warnings do not stop it). source_file is recorded in the graph. */
cnnc_graph *cnnc_build_graph(cnnc_ast *ast, cnnc_diag *d, const char *source_file);

/* Parses and builds in one step. d must be initialised (cnnc_diag_init); its file name
 * and source are set here for the duration of the call. Returns NULL on errors. */
cnnc_graph *cnnc_compile_source(const char *source, size_t len, const char *file_name,
                                cnnc_diag *d);

/* Reads path ("-" for standard input) and compiles it. Problems opening or reading the
 * file (missing, a directory, too large) are reported through d as well. On return
 * d->source is cleared (the text is freed), so later stages' messages about source
 * positions print the position without quoting the line. */
cnnc_graph *cnnc_compile_file(const char *path, cnnc_diag *d);

/* Reads a whole file of at most CNNC_MAX_SOURCE_BYTES into a NUL-terminated buffer
 * (the NUL is not counted in *len). Reports problems through d and returns NULL. */
char *cnnc_read_source(const char *path, size_t *len, cnnc_diag *d);

#endif
