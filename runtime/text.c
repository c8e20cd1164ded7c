/* The descriptor's statement text (cnnrt_text.h). */
#include "cnnrt_text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cnnrt_text_begin(cnnrt_text_reader *r, const char *text, const char *origin)
{
    r->next = text;
    r->origin = origin;
    r->line = 0;
}

int cnnrt_text_fail(const cnnrt_text_stmt *s, cnnrt_err *e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cnnrt_fail(e, "%s, line %d (%s): %s", s->origin, s->line, s->keyword, msg);
}

/* Copies the next word (up to a space, '=' when stop_at_equals, or the end of the line). */
static int take_word(const char **p, const char *end, char *out, int stop_at_equals)
{
    size_t n = 0;
    while (*p < end && **p != ' ' && !(stop_at_equals && **p == '=')) {
        if (n + 1 >= CNNRT_TEXT_WORD)
            return -1;
        out[n++] = *(*p)++;
    }
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

int cnnrt_text_next(cnnrt_text_reader *r, cnnrt_text_stmt *s, cnnrt_err *e)
{
    memset(s, 0, sizeof *s);
    s->origin = r->origin;
    while (r->next && *r->next) {
        const char *p = r->next, *end = strchr(p, '\n');
        if (!end)
            end = p + strlen(p);
        r->next = *end ? end + 1 : end;
        s->line = ++r->line;
        while (p < end && *p == ' ')
            p++;
        if (p == end)
            continue;
        if (take_word(&p, end, s->keyword, 0))
            return cnnrt_fail(e, "%s, line %d: a statement's keyword is too long", r->origin,
                              s->line);
        while (p < end) {
            if (*p == ' ') {
                p++;
                continue;
            }
            if (s->num_keys == CNNRT_TEXT_MAX_KEYS)
                return cnnrt_text_fail(s, e, "too many keys");
            int k = s->num_keys++;
            if (take_word(&p, end, s->keys[k], 1) || p == end || *p++ != '=' ||
                take_word(&p, end, s->values[k], 0))
                return cnnrt_text_fail(s, e, "malformed key=value");
        }
        return 1;
    }
    return 0;
}

const char *cnnrt_text_value(cnnrt_text_stmt *s, const char *key)
{
    for (int i = 0; i < s->num_keys; i++)
        if (!strcmp(s->keys[i], key)) {
            s->used[i] = 1;
            return s->values[i];
        }
    return NULL;
}

int cnnrt_text_double(cnnrt_text_stmt *s, const char *key, double min, double max, double *out,
                      cnnrt_err *e)
{
    const char *v = cnnrt_text_value(s, key);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (*end || errno || !isfinite(d) || d < min || d > max)
        return cnnrt_text_fail(s, e, "%s=%s: not a number in [%g, %g]", key, v, min, max);
    *out = d;
    return 0;
}

int cnnrt_text_int(cnnrt_text_stmt *s, const char *key, int64_t min, int64_t max, int64_t *out,
                   cnnrt_err *e)
{
    const char *v = cnnrt_text_value(s, key);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (*end || errno || n < min || n > max)
        return cnnrt_text_fail(s, e, "%s=%s: not a whole number in [%lld, %lld]", key, v,
                               (long long)min, (long long)max);
    *out = n;
    return 0;
}

int cnnrt_text_choice(cnnrt_text_stmt *s, const char *key, const char *const *words, int n,
                      int *out, cnnrt_err *e)
{
    *out = -1;
    const char *v = cnnrt_text_value(s, key);
    if (!v)
        return 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(v, words[i])) {
            *out = i;
            return 0;
        }
    return cnnrt_text_fail(s, e, "%s=%s: not a known value", key, v);
}

int cnnrt_text_bool(cnnrt_text_stmt *s, const char *key, int *out, cnnrt_err *e)
{
    static const char *const words[] = {"false", "true"};
    int choice;
    if (cnnrt_text_choice(s, key, words, 2, &choice, e))
        return -1;
    if (choice >= 0)
        *out = choice;
    return 0;
}

int cnnrt_text_no_other_keys(const cnnrt_text_stmt *s, cnnrt_err *e)
{
    for (int i = 0; i < s->num_keys; i++)
        if (!s->used[i])
            return cnnrt_text_fail(s, e, "unknown key '%s'", s->keys[i]);
    return 0;
}
