/* Checked allocation for the compiler stages. A compiler that runs out of memory on a
 * model file of at most a megabyte has no way to recover anything useful, so these say
 * so and stop instead of handing NULL to every caller to check. */
#ifndef CNNC_UTIL_H
#define CNNC_UTIL_H

#include <stddef.h>

/* realloc that never returns NULL; a size of 0 counts as 1 (so the result is freeable
 * and distinct). cnnc_xrealloc(NULL, n) is a checked malloc. */
void *cnnc_xrealloc(void *p, size_t n);
/* calloc that never returns NULL; a count of 0 counts as 1. */
void *cnnc_xcalloc(size_t n, size_t size);
/* strdup that never fails; NULL gives NULL (optional names stay optional). */
char *cnnc_xstrdup(const char *s);

/* Grows an array of elem_size-byte elements holding count of *cap so that one more
 * fits: *cap doubles (starting at first_cap) when the array is full. Returns the array,
 * moved or not; the caller stores it back. */
void *cnnc_grow(void *array, int count, int *cap, int first_cap, size_t elem_size);

#endif
