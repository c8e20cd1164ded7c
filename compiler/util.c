/* Checked allocation for the compiler stages (see util.h). */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *or_die(void *p)
{
    if (!p) {
        fputs("cnnc: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *cnnc_xrealloc(void *p, size_t n)
{
    return or_die(realloc(p, n ? n : 1));
}

void *cnnc_xcalloc(size_t n, size_t size)
{
    return or_die(calloc(n ? n : 1, size));
}

char *cnnc_xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    return memcpy(cnnc_xrealloc(NULL, n), s, n);
}

void *cnnc_grow(void *array, int count, int *cap, int first_cap, size_t elem_size)
{
    if (count < *cap)
        return array;
    *cap = *cap ? *cap * 2 : first_cap;
    return cnnc_xrealloc(array, (size_t)*cap * elem_size);
}
