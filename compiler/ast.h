/* The syntax tree of a model file: a list of statements, one per line, each a keyword and
 * its arguments (`key=value`, or a bare value such as the name in `model mnist_cam`).
 * Every keyword, key and value keeps its source position so that the front end can put a
 * caret under exactly the token a message is about. The tree knows nothing about layers:
 * what a keyword or key means is decided in frontend.c. */
#ifndef CNNC_AST_H
#define CNNC_AST_H

#include <stddef.h>
#include <stdint.h>
#include "diag.h"

/* After this many errors the rest of the input is not read and further messages are not
 * printed (they are still counted): a binary file would otherwise print thousands. */
enum { CNNC_ERROR_LIMIT = 50 };

typedef enum cnnc_value_kind {
    CNNC_VALUE_INT,     /* 32, -3 */
    CNNC_VALUE_FLOAT,   /* 0.5, 1e-3 */
    CNNC_VALUE_IDENT,   /* relu, same, conv2d_1 */
    CNNC_VALUE_SIZE,    /* 3x3, 28x28x1 */
    CNNC_VALUE_STRING,  /* "T-shirt/top,Trouser": text keeps the quotes */
    CNNC_VALUE_INVALID, /* a token the scanner has already reported */
} cnnc_value_kind;

enum { CNNC_MAX_SIZE_DIMS = 4 };

typedef struct cnnc_value {
    cnnc_value_kind kind;
    char *text;             /* as written */
    cnnc_loc loc;
    int out_of_range;       /* an INT, FLOAT or SIZE too large to represent */
    int64_t int_value;      /* INT */
    double float_value;     /* INT and FLOAT */
    int num_dims;           /* SIZE: 2..4; INT: 1 (the value itself) */
    int64_t dims[CNNC_MAX_SIZE_DIMS];
} cnnc_value;

typedef struct cnnc_arg {
    char *key;              /* NULL for a bare value */
    cnnc_loc key_loc;       /* of the key, or of the value when there is no key */
    cnnc_value value;
} cnnc_arg;

typedef struct cnnc_stmt {
    char *keyword;
    cnnc_loc loc;           /* of the keyword */
    int damaged;            /* a syntax error cut it short: some arguments may be lost */
    cnnc_arg *args;
    int num_args, cap_args;
} cnnc_stmt;

/* A lexical or syntax error, kept until the front end reports it in line order. */
typedef struct cnnc_syntax_error {
    cnnc_loc loc;
    char *message;
} cnnc_syntax_error;

typedef struct cnnc_ast {
    cnnc_stmt *stmts;
    int num_stmts, cap_stmts;
    cnnc_syntax_error *errors;    /* in source order */
    int num_errors, cap_errors;
    int errors_reported;          /* how many cnnc_ast_report_errors has printed */
    cnnc_stmt pending;      /* the statement the parser is building */
    int has_pending;
} cnnc_ast;

/* Parses a whole model file. Returns NULL only when out of memory. A line with a lexical
 * or syntax error is recorded in ast->errors and skipped; the statements of the other
 * lines are kept, so the front end can check the rest of the file in the same run and
 * print every message in line order. */
cnnc_ast *cnnc_parse(const char *source, size_t len);
void cnnc_ast_free(cnnc_ast *ast);

/* Records a lexical or syntax error (used by the scanner and the parser). */
void cnnc_ast_error(cnnc_ast *ast, cnnc_loc loc, const char *fmt, ...) CNNC_PRINTF(3, 4);
/* Prints the recorded errors on lines up to last_line (INT_MAX: all) not printed yet. */
void cnnc_ast_report_errors(cnnc_ast *ast, cnnc_diag *d, int last_line);

/* Building (used by the parser). Strings are copied. */
void cnnc_ast_begin_stmt(cnnc_ast *ast, const char *keyword, size_t len, cnnc_loc loc);
/* key may be NULL (a bare value). */
void cnnc_ast_add_arg(cnnc_ast *ast, const char *key, size_t key_len, cnnc_loc key_loc,
                      cnnc_value_kind kind, const char *text, size_t text_len,
                      cnnc_loc value_loc);
void cnnc_ast_end_stmt(cnnc_ast *ast);
/* Keeps what was read of a statement with a syntax error, marked damaged. */
void cnnc_ast_end_damaged_stmt(cnnc_ast *ast);
void cnnc_ast_abandon_stmt(cnnc_ast *ast);

/* The statement's argument with this key, or NULL. */
cnnc_arg *cnnc_stmt_find(cnnc_stmt *s, const char *key);

/* UTF-8 helpers shared by the lexer (columns count characters, not bytes) and the
 * diagnostics (the caret line must line up with the quoted source line).
 * Decodes one character at s (n bytes available); returns its length in bytes (>= 1)
 * and stores the code point in *cp, or CNNC_UTF8_INVALID for a byte that does not start
 * a well-formed UTF-8 sequence (overlong forms and surrogates included). */
#define CNNC_UTF8_INVALID 0xFFFFFFFFu
size_t cnnc_utf8_next(const char *s, size_t n, uint32_t *cp);

#endif
