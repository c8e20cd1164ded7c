/* Reading the statements a compiled model hands the runtime as text (the callbacks and
 * augmentation layers of its descriptor, cnnrt_train_settings.extras): one statement a line,
 * "keyword key=value key=value", written by the compiler from checked values. Every value is
 * checked again here, so a damaged descriptor gives an error naming the statement, never a
 * crash or a silently different setting. */
#ifndef CNNRT_TEXT_H
#define CNNRT_TEXT_H

#include <stdint.h>
#include "cnnrt_common.h"

enum { CNNRT_TEXT_MAX_KEYS = 12, CNNRT_TEXT_WORD = 64 };

typedef struct cnnrt_text_stmt {
    const char *origin;
    int line;
    char keyword[CNNRT_TEXT_WORD];
    int num_keys;
    char keys[CNNRT_TEXT_MAX_KEYS][CNNRT_TEXT_WORD];
    char values[CNNRT_TEXT_MAX_KEYS][CNNRT_TEXT_WORD];
    int used[CNNRT_TEXT_MAX_KEYS];
} cnnrt_text_stmt;

typedef struct cnnrt_text_reader {
    const char *next;     /* NULL: no text */
    const char *origin;
    int line;
} cnnrt_text_reader;

void cnnrt_text_begin(cnnrt_text_reader *r, const char *text, const char *origin);
/* The next statement: 1, 0 at the end, -1 on a malformed line. */
int cnnrt_text_next(cnnrt_text_reader *r, cnnrt_text_stmt *s, cnnrt_err *e);

/* The value of key (marking it read), or NULL when absent. */
const char *cnnrt_text_value(cnnrt_text_stmt *s, const char *key);
/* Each leaves *out alone when the key is absent; -1 on a bad value or one out of range. */
int cnnrt_text_int(cnnrt_text_stmt *s, const char *key, int64_t min, int64_t max, int64_t *out,
                   cnnrt_err *e);
int cnnrt_text_double(cnnrt_text_stmt *s, const char *key, double min, double max, double *out,
                      cnnrt_err *e);
int cnnrt_text_bool(cnnrt_text_stmt *s, const char *key, int *out, cnnrt_err *e);
/* *out = the index of the value among words, -1 when absent. */
int cnnrt_text_choice(cnnrt_text_stmt *s, const char *key, const char *const *words, int n,
                      int *out, cnnrt_err *e);
/* -1 when a key was not read. */
int cnnrt_text_no_other_keys(const cnnrt_text_stmt *s, cnnrt_err *e);
/* "ORIGIN, line N (keyword): MESSAGE"; returns -1. */
int cnnrt_text_fail(const cnnrt_text_stmt *s, cnnrt_err *e, const char *fmt, ...)
    CNNRT_PRINTF(3, 4);

#endif
