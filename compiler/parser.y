/* The grammar of a model file: one statement per line, a keyword followed by arguments.
 *
 *     conv2d  filters=32 kernel=3x3 padding=same activation=relu
 *     model   mnist_cam
 *
 * The grammar only knows this shape; which keywords and keys exist is the front end's
 * business (frontend.c), so that an unknown key gets a "did you mean" instead of a bare
 * syntax error. After a syntax error the rest of its line is skipped and parsing goes on
 * with the next line, so that one run reports every problem. What was read of the line
 * before the error is kept (the statement is marked damaged), and an invalid token (already reported by the
 * scanner) is kept as an invalid value, so a typo does not make the layer vanish and the
 * layers after it are still checked against the right shapes. */

%define api.pure full
%define parse.error custom
%locations
%define api.value.type {cnnc_token}
%define api.location.type {cnnc_loc}
%param {yyscan_t scanner}
%parse-param {cnnc_parse_ctx *ctx}

%code requires {
#include <stddef.h>
#include "ast.h"
#include "diag.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

/* A token is a slice of the source text; values are copied into the tree only when a
 * statement is built, so error recovery never has anything to free. */
typedef struct cnnc_token {
    size_t offset;
    size_t len;
    cnnc_value_kind kind;   /* for the 'value' rule */
} cnnc_token;

/* Shared by the scanner (as its extra data) and the parser. */
typedef struct cnnc_parse_ctx {
    cnnc_ast *ast;
    const char *source;
    size_t len;
    size_t offset;          /* bytes consumed by the scanner */
    int line, col;          /* position of the next character (col counts characters) */
    int line_has_error;     /* one lexical or syntax error per line is enough */
    int eof_newline_sent;   /* the last line need not end with '\n' */
    size_t last_offset, last_len;  /* the most recent token, for syntax messages */
    int tokens_on_line;            /* including the most recent one */
} cnnc_parse_ctx;

/* A span from the first character of a to the last of b (same line). */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                                      \
    do {                                                                                 \
        if (N) {                                                                         \
            (Cur) = YYRHSLOC(Rhs, 1);                                                    \
            if (YYRHSLOC(Rhs, N).line == (Cur).line && YYRHSLOC(Rhs, N).col >= (Cur).col)\
                (Cur).len = YYRHSLOC(Rhs, N).col + YYRHSLOC(Rhs, N).len - (Cur).col;     \
        } else {                                                                         \
            (Cur) = YYRHSLOC(Rhs, 0);                                                    \
            (Cur).col += (Cur).len;                                                      \
            (Cur).len = 0;                                                               \
        }                                                                                \
    } while (0)
}

%code {
#include <stdio.h>
#include <string.h>

int yylex(YYSTYPE *value, YYLTYPE *loc, yyscan_t scanner);
static void yyerror(YYLTYPE *loc, yyscan_t scanner, cnnc_parse_ctx *ctx, const char *msg);

#define TEXT(tok) (ctx->source + (tok).offset)
}

%token NEWLINE "end of line"
%token KEY "key="
%token IDENT "name"
%token INT "integer"
%token FLOAT "number"
%token SIZE "size"
%token STRING "string"
%token BAD "invalid token"

/* "key= value": the value belongs to the key (shift) rather than the key being left
 * without one and the value standing alone. */
%precedence MISSING_VALUE
%precedence IDENT INT FLOAT SIZE STRING BAD

%%

file
    : %empty
    | file line
    ;

line
    : NEWLINE
    | statement NEWLINE     { cnnc_ast_end_stmt(ctx->ast); }
    | error NEWLINE         { cnnc_ast_end_damaged_stmt(ctx->ast); yyerrok; }
    ;

statement
    : IDENT { cnnc_ast_begin_stmt(ctx->ast, TEXT($1), $1.len, @1); } args
    ;

args
    : %empty
    | args arg
    ;

arg
    : KEY value
        { cnnc_ast_add_arg(ctx->ast, TEXT($1), $1.len, @1, $2.kind, TEXT($2), $2.len, @2); }
    | KEY %prec MISSING_VALUE
        {
            /* Kept with an invalid value: the key is there, so it is not also reported
             * missing, and its statement is still built. */
            cnnc_ast_error(ctx->ast, @1, "missing value after '%.*s='", (int)$1.len, TEXT($1));
            cnnc_ast_add_arg(ctx->ast, TEXT($1), $1.len, @1, CNNC_VALUE_INVALID, "", 0, @1);
        }
    | value
        { cnnc_ast_add_arg(ctx->ast, NULL, 0, @1, $1.kind, TEXT($1), $1.len, @1); }
    ;

value
    : INT       { $$ = $1; $$.kind = CNNC_VALUE_INT; }
    | FLOAT     { $$ = $1; $$.kind = CNNC_VALUE_FLOAT; }
    | SIZE      { $$ = $1; $$.kind = CNNC_VALUE_SIZE; }
    | IDENT     { $$ = $1; $$.kind = CNNC_VALUE_IDENT; }
    | STRING    { $$ = $1; $$.kind = CNNC_VALUE_STRING; }
    | BAD       { $$ = $1; $$.kind = CNNC_VALUE_INVALID; }   /* reported by the scanner */
    ;

%%

/* How the offending token reads in a message: "'='", "end of line", "'32'". */
static void describe_token(const cnnc_parse_ctx *ctx, yysymbol_kind_t kind, char *buf,
                           size_t size)
{
    if (kind == YYSYMBOL_YYEOF) {
        snprintf(buf, size, "end of file");
    } else if (kind == YYSYMBOL_NEWLINE) {
        snprintf(buf, size, "end of line");
    } else {
        int len = ctx->last_len > 40 ? 40 : (int)ctx->last_len;
        snprintf(buf, size, "'%.*s'%s", len, ctx->source + ctx->last_offset,
                 ctx->last_len > 40 ? "..." : "");
    }
}

static int yyreport_syntax_error(const yypcontext_t *yyctx, yyscan_t scanner,
                                 cnnc_parse_ctx *ctx)
{
    (void)scanner;
    yysymbol_kind_t kind = yypcontext_token(yyctx);
    /* The scanner has already explained an invalid token, and one error a line is
     * enough: the rest of the line is skipped anyway. */
    if (kind == YYSYMBOL_BAD || ctx->line_has_error)
        return 0;
    ctx->line_has_error = 1;
    cnnc_loc loc = *yypcontext_location(yyctx);
    char found[64];
    describe_token(ctx, kind, found, sizeof found);
    if (kind == YYSYMBOL_KEY)
        snprintf(found, sizeof found, "'%.*s='", loc.len > 40 ? 40 : loc.len,
                 ctx->source + ctx->last_offset);
    if (ctx->tokens_on_line <= 1)
        cnnc_ast_error(ctx->ast, loc,
                       "expected a statement keyword such as 'conv2d', found %s", found);
    else if (ctx->last_len == 1 && ctx->source[ctx->last_offset] == '=')
        cnnc_ast_error(ctx->ast, loc,
                       "unexpected '=': arguments are written key=value, with a name before '='");
    else
        cnnc_ast_error(ctx->ast, loc, "unexpected %s", found);
    return 0;
}

static void yyerror(YYLTYPE *loc, yyscan_t scanner, cnnc_parse_ctx *ctx, const char *msg)
{
    (void)scanner;
    cnnc_ast_error(ctx->ast, *loc, "%s", msg);   /* only "memory exhausted" reaches here */
}
