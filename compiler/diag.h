/* Diagnostics: every problem is collected and printed as
 *   file:line:col: error: message
 *       conv2d filtrs=32
 *              ^~~~~~
 * so that one run reports all of them. Stages after the parser report problems that
 * have no source position (an LLVM failure, a missing linker) with loc.line == 0. */
#ifndef CNNC_DIAG_H
#define CNNC_DIAG_H

#include <stdarg.h>
#include <stdio.h>

typedef struct cnnc_loc {
    int line;   /* 1-based; 0 = no position */
    int col;    /* 1-based column of the first character */
    int len;    /* characters to underline; 0 or 1 draws a single caret */
} cnnc_loc;

typedef struct cnnc_diag {
    const char *file;       /* name printed in messages ("<stdin>" for standard input) */
    const char *source;     /* whole source text (for the quoted line), may be NULL */
    size_t source_len;
    FILE *out;              /* where messages go; stderr by default */
    int errors;
    int warnings;
    int color;              /* 1 when writing to a terminal */
} cnnc_diag;

void cnnc_diag_init(cnnc_diag *d, const char *file, const char *source, size_t len);

#if defined(__GNUC__)
#define CNNC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CNNC_PRINTF(a, b)
#endif

void cnnc_error(cnnc_diag *d, cnnc_loc loc, const char *fmt, ...) CNNC_PRINTF(3, 4);
void cnnc_warning(cnnc_diag *d, cnnc_loc loc, const char *fmt, ...) CNNC_PRINTF(3, 4);
/* A note attaches to the previous error or warning ("note: did you mean 'filters'?"). */
void cnnc_note(cnnc_diag *d, cnnc_loc loc, const char *fmt, ...) CNNC_PRINTF(3, 4);

/* Closest candidate by edit distance, or NULL when none is close enough to suggest. */
const char *cnnc_closest(const char *word, const char *const *candidates, int n);

#endif
