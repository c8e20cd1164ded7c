/* Diagnostics in the form compilers have taught everyone to read:
 *
 *   models/bad.cnn:3:8: error: unknown key 'filtrs' for conv2d
 *       conv2d filtrs=32
 *              ^~~~~~
 *   models/bad.cnn:3:8: note: did you mean 'filters'?
 *
 * The quoted line is made safe to print (control characters and invalid UTF-8 become '?')
 * and, when it is very long, cut to a window around the caret. */
#include "diag.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ast.h"

enum {
    QUOTE_MAX_CHARS = 160,   /* a longer source line is shown as a window ... */
    QUOTE_CONTEXT = 60,      /* ... starting this many characters before the caret */
};

typedef enum { KIND_ERROR, KIND_WARNING, KIND_NOTE } diag_kind;

void cnnc_diag_init(cnnc_diag *d, const char *file, const char *source, size_t len)
{
    memset(d, 0, sizeof *d);
    d->file = file;
    d->source = source;
    d->source_len = len;
    d->out = stderr;
    const char *term = getenv("TERM");
    d->color = isatty(fileno(stderr)) && !getenv("NO_COLOR") && term &&
               strcmp(term, "dumb") != 0;
}

static const char *color(const cnnc_diag *d, const char *code)
{
    return d->color ? code : "";
}

/* The end of the line starting at p: its first CR or LF, or end. */
static const char *line_end(const char *p, const char *end)
{
    while (p < end && *p != '\n' && *p != '\r')
        p++;
    return p;
}

/* Finds line `line` (1-based) of the source; returns 0 if there is no such line. Lines end
 * as the scanner ends them: LF, CRLF or a lone CR; a byte-order mark is not shown. */
static int find_line(const cnnc_diag *d, int line, const char **start, size_t *len)
{
    if (!d->source || line < 1)
        return 0;
    const char *p = d->source, *end = d->source + d->source_len;
    if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    for (int l = 1; l < line; l++) {
        const char *eol = line_end(p, end);
        if (eol == end)
            return 0;
        p = eol + (eol[0] == '\r' && eol + 1 < end && eol[1] == '\n' ? 2 : 1);
    }
    if (p == end && line > 1)
        return 0;
    *start = p;
    *len = (size_t)(line_end(p, end) - p);
    return 1;
}

/* Prints characters [from, to) of a line (counted in characters), each made printable,
 * and returns nothing; tabs are kept so the caret line can line up with them. */
static void put_chars(FILE *out, const char *line, size_t len, int from, int to)
{
    int index = 0;
    for (size_t i = 0; i < len && index < to; index++) {
        uint32_t cp;
        size_t n = cnnc_utf8_next(line + i, len - i, &cp);
        if (index >= from) {
            if (cp == '\t')
                fputc('\t', out);
            else if (cp == CNNC_UTF8_INVALID || cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
                fputc('?', out);
            else
                fwrite(line + i, 1, n, out);
        }
        i += n;
    }
}

/* Writes the blank space under characters [from, to): tabs where the line has tabs. */
static void put_padding(FILE *out, const char *line, size_t len, int from, int to)
{
    int index = 0;
    size_t i = 0;
    for (; i < len && index < to; index++) {
        uint32_t cp;
        size_t n = cnnc_utf8_next(line + i, len - i, &cp);
        if (index >= from)
            fputc(cp == '\t' ? '\t' : ' ', out);
        i += n;
    }
    for (; index < to; index++)   /* a caret just past the end of the line */
        if (index >= from)
            fputc(' ', out);
}

static int count_line_chars(const char *line, size_t len)
{
    int chars = 0;
    for (size_t i = 0; i < len; chars++) {
        uint32_t cp;
        i += cnnc_utf8_next(line + i, len - i, &cp);
    }
    return chars;
}

static void quote_source(const cnnc_diag *d, cnnc_loc loc)
{
    const char *line;
    size_t len;
    if (!find_line(d, loc.line, &line, &len))
        return;
    int chars = count_line_chars(line, len);
    if (chars == 0 && loc.col <= 1)
        return;   /* nothing to point at (e.g. an empty file) */
    int caret = loc.col > 0 ? loc.col - 1 : 0;
    if (caret > chars)
        caret = chars;
    int from = 0, to = chars;
    if (chars > QUOTE_MAX_CHARS) {
        from = caret > QUOTE_CONTEXT ? caret - QUOTE_CONTEXT : 0;
        to = from + QUOTE_MAX_CHARS < chars ? from + QUOTE_MAX_CHARS : chars;
    }
    const char *prefix = from > 0 ? "..." : "";
    fprintf(d->out, "    %s", prefix);
    put_chars(d->out, line, len, from, to);
    fprintf(d->out, "%s\n", to < chars ? "..." : "");

    fprintf(d->out, "    %s", from > 0 ? "   " : "");
    put_padding(d->out, line, len, from, caret);
    int underline = loc.len > 1 ? loc.len : 1;
    if (caret + underline > to + 1)
        underline = to + 1 - caret > 1 ? to + 1 - caret : 1;
    fprintf(d->out, "%s^", color(d, "\033[1;32m"));
    for (int i = 1; i < underline; i++)
        fputc('~', d->out);
    fprintf(d->out, "%s\n", color(d, "\033[0m"));
}

static void report(cnnc_diag *d, diag_kind kind, cnnc_loc loc, const char *fmt, va_list ap)
{
    FILE *out = d->out ? d->out : stderr;
    d->out = out;
    if (kind == KIND_ERROR) {
        d->errors++;
    } else if (kind == KIND_WARNING) {
        d->warnings++;
    }
    if (d->errors > CNNC_ERROR_LIMIT || (kind != KIND_ERROR && d->errors == CNNC_ERROR_LIMIT))
        return;   /* counted, not printed: see CNNC_ERROR_LIMIT */

    static const char *const words[] = { "error", "warning", "note" };
    static const char *const colors[] = { "\033[1;31m", "\033[1;35m", "\033[1;36m" };
    fputs(color(d, "\033[1m"), out);
    fputs(d->file ? d->file : "cnnc", out);
    if (loc.line > 0)
        fprintf(out, ":%d:%d", loc.line, loc.col > 0 ? loc.col : 1);
    fprintf(out, ": %s%s:%s ", color(d, colors[kind]), words[kind], color(d, "\033[0m\033[1m"));
    vfprintf(out, fmt, ap);
    fprintf(out, "%s\n", color(d, "\033[0m"));
    if (loc.line > 0)
        quote_source(d, loc);
    if (kind == KIND_ERROR && d->errors == CNNC_ERROR_LIMIT)
        fprintf(out, "%s: error: too many errors (%d); stopping here\n",
                d->file ? d->file : "cnnc", CNNC_ERROR_LIMIT);
}

void cnnc_error(cnnc_diag *d, cnnc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(d, KIND_ERROR, loc, fmt, ap);
    va_end(ap);
}

void cnnc_warning(cnnc_diag *d, cnnc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(d, KIND_WARNING, loc, fmt, ap);
    va_end(ap);
}

void cnnc_note(cnnc_diag *d, cnnc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(d, KIND_NOTE, loc, fmt, ap);
    va_end(ap);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Optimal string alignment distance (Levenshtein plus swapping two neighbours, the most
 * common typing slip), ignoring case. b is short (a keyword); a may be anything. */
static int edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    int *rows = malloc(3 * (lb + 1) * sizeof *rows);
    if (!rows)
        return 1 << 20;
    int *prev2 = rows, *prev = rows + lb + 1, *cur = rows + 2 * (lb + 1);
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = lower(a[i - 1]) != lower(b[j - 1]);
            int best = prev[j - 1] + cost;
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]) && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    int result = prev[lb];
    free(rows);
    return result;
}

const char *cnnc_closest(const char *word, const char *const *candidates, int n)
{
    if (!word)
        return NULL;
    size_t lw = strlen(word);
    /* Close enough to be a slip: one edit in a short word, a third of a longer one. */
    int allowed = lw <= 4 ? 1 : (int)(lw + 2) / 3;
    const char *best = NULL;
    int best_distance = allowed + 1;
    for (int i = 0; i < n; i++) {
        if (!candidates[i])
            continue;
        size_t lc = strlen(candidates[i]);
        size_t diff = lw > lc ? lw - lc : lc - lw;
        if (diff > (size_t)allowed)
            continue;
        int dist = edit_distance(word, lw, candidates[i], lc);
        if (dist < best_distance) {
            best_distance = dist;
            best = candidates[i];
        }
    }
    return best;
}
