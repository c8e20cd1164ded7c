/* The syntax tree: building it (for the parser), freeing it, and the UTF-8 decoder that
 * the lexer and the diagnostics share. */
#include "ast.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *copy_text(const char *text, size_t len)
{
    char *s = cnnc_xrealloc(NULL, len + 1);
    memcpy(s, text, len);
    s[len] = '\0';
    return s;
}

static void free_stmt(cnnc_stmt *s)
{
    for (int i = 0; i < s->num_args; i++) {
        free(s->args[i].key);
        free(s->args[i].value.text);
    }
    free(s->args);
    free(s->keyword);
    memset(s, 0, sizeof *s);
}

void cnnc_ast_free(cnnc_ast *ast)
{
    if (!ast)
        return;
    for (int i = 0; i < ast->num_stmts; i++)
        free_stmt(&ast->stmts[i]);
    free(ast->stmts);
    for (int i = 0; i < ast->num_errors; i++)
        free(ast->errors[i].message);
    free(ast->errors);
    if (ast->has_pending)
        free_stmt(&ast->pending);
    free(ast);
}

void cnnc_ast_begin_stmt(cnnc_ast *ast, const char *keyword, size_t len, cnnc_loc loc)
{
    if (ast->has_pending)
        free_stmt(&ast->pending);
    memset(&ast->pending, 0, sizeof ast->pending);
    ast->pending.keyword = copy_text(keyword, len);
    ast->pending.loc = loc;
    ast->has_pending = 1;
}

/* Fills the numeric fields of v from its text; the lexer has already checked the form. */
static void parse_number(cnnc_value *v)
{
    char *end = NULL;
    switch (v->kind) {
    case CNNC_VALUE_INT:
        errno = 0;
        v->int_value = strtoll(v->text, &end, 10);
        v->out_of_range = errno == ERANGE;
        v->float_value = (double)v->int_value;
        v->num_dims = 1;
        v->dims[0] = v->int_value;
        break;
    case CNNC_VALUE_FLOAT:
        errno = 0;
        v->float_value = strtod(v->text, &end);
        v->out_of_range = errno == ERANGE;
        break;
    case CNNC_VALUE_SIZE: {
        const char *p = v->text;
        while (*p) {
            errno = 0;
            long long d = strtoll(p, &end, 10);
            if (errno == ERANGE || end == p)
                v->out_of_range = 1;
            if (v->num_dims < CNNC_MAX_SIZE_DIMS)
                v->dims[v->num_dims] = d;
            v->num_dims++;   /* may exceed CNNC_MAX_SIZE_DIMS: the front end rejects it */
            p = (*end == 'x' || *end == 'X') ? end + 1 : end + strlen(end);
        }
        break;
    }
    case CNNC_VALUE_IDENT:
    case CNNC_VALUE_STRING:
    case CNNC_VALUE_INVALID:
        break;
    }
}

void cnnc_ast_add_arg(cnnc_ast *ast, const char *key, size_t key_len, cnnc_loc key_loc,
                      cnnc_value_kind kind, const char *text, size_t text_len,
                      cnnc_loc value_loc)
{
    if (!ast->has_pending)
        return;
    cnnc_stmt *s = &ast->pending;
    s->args = cnnc_grow(s->args, s->num_args, &s->cap_args, 4, sizeof *s->args);
    cnnc_arg *a = &s->args[s->num_args++];
    memset(a, 0, sizeof *a);
    a->key = key ? copy_text(key, key_len) : NULL;
    a->key_loc = key ? key_loc : value_loc;
    a->value.kind = kind;
    a->value.text = copy_text(text, text_len);
    a->value.loc = value_loc;
    parse_number(&a->value);
}

void cnnc_ast_end_stmt(cnnc_ast *ast)
{
    if (!ast->has_pending)
        return;
    ast->stmts = cnnc_grow(ast->stmts, ast->num_stmts, &ast->cap_stmts, 16, sizeof *ast->stmts);
    ast->stmts[ast->num_stmts++] = ast->pending;
    memset(&ast->pending, 0, sizeof ast->pending);
    ast->has_pending = 0;
}

void cnnc_ast_end_damaged_stmt(cnnc_ast *ast)
{
    if (!ast->has_pending)
        return;
    ast->pending.damaged = 1;
    cnnc_ast_end_stmt(ast);
}

void cnnc_ast_abandon_stmt(cnnc_ast *ast)
{
    if (ast->has_pending)
        free_stmt(&ast->pending);
    ast->has_pending = 0;
}

cnnc_arg *cnnc_stmt_find(cnnc_stmt *s, const char *key)
{
    for (int i = 0; i < s->num_args; i++)
        if (s->args[i].key && strcmp(s->args[i].key, key) == 0)
            return &s->args[i];
    return NULL;
}

size_t cnnc_utf8_next(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    *cp = CNNC_UTF8_INVALID;
    if (n == 0)
        return 1;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t value, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2, value = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, value = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, value = c & 0x07, min = 0x10000;
    } else {
        return 1;   /* a continuation byte or 0xF8..0xFF cannot start a character */
    }
    if (len > n)
        return 1;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 1;
        value = (value << 6) | (s[i] & 0x3F);
    }
    if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        return 1;   /* overlong, beyond Unicode, or a UTF-16 surrogate */
    *cp = value;
    return len;
}

void cnnc_ast_error(cnnc_ast *ast, cnnc_loc loc, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    ast->errors = cnnc_grow(ast->errors, ast->num_errors, &ast->cap_errors, 8,
                            sizeof *ast->errors);
    ast->errors[ast->num_errors].loc = loc;
    ast->errors[ast->num_errors].message = copy_text(message, strlen(message));
    ast->num_errors++;
}

void cnnc_ast_report_errors(cnnc_ast *ast, cnnc_diag *d, int last_line)
{
    while (ast->errors_reported < ast->num_errors &&
           ast->errors[ast->errors_reported].loc.line <= last_line) {
        const cnnc_syntax_error *e = &ast->errors[ast->errors_reported++];
        cnnc_error(d, e->loc, "%s", e->message);
    }
}
