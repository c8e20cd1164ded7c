/* The batch arena of a phased training step (cnnrt_model.h): one block kept between steps;
 * and the batch statistics computed between its phases.
 *
 * A block is a 64-byte header holding its size in floats, then the arena. The kept block
 * sits in one atomic slot: take empties the slot (so two steps at once never share a
 * block) and reuses the block when it is large enough, else frees it and allocates a
 * larger one; give puts a block back, freeing whichever of the two is smaller when the
 * slot was filled meanwhile. The slot is a global of libcnnrt, so the kept block stays
 * reachable (no leak report) until the process ends. */
#include "cnnrt_model.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

enum { HEADER_FLOATS = 16 };   /* 64 bytes: the arena stays 64-byte aligned */

static _Atomic(float *) kept_block;

static int64_t block_floats(const float *block)
{
    return *(const int64_t *)block;
}

float *cnnrt_batch_arena_take(int64_t floats)
{
    if (floats < 0)
        return NULL;
    float *block = atomic_exchange(&kept_block, NULL);
    if (block && block_floats(block) >= floats)
        return block + HEADER_FLOATS;
    free(block);
    if ((uint64_t)floats > SIZE_MAX / sizeof(float) - HEADER_FLOATS - 16)
        return NULL;
    size_t bytes = ((size_t)floats + HEADER_FLOATS) * sizeof(float);
    block = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!block)
        return NULL;
    *(int64_t *)block = floats;
    return block + HEADER_FLOATS;
}

void cnnrt_batch_arena_give(float *arena)
{
    if (!arena)
        return;
    float *block = arena - HEADER_FLOATS;
    float *other = atomic_exchange(&kept_block, block);
    if (!other)
        return;
    /* Another step gave its block back first: keep the larger of the two. */
    if (block_floats(other) > block_floats(block)) {
        float *mine = atomic_exchange(&kept_block, other);
        free(mine);
    } else {
        free(other);
    }
}

/* ---- batch statistics ----------------------------------------------------------------- */

static _Thread_local cnnrt_batch_rows_fn rows_hook;
static _Thread_local void *rows_hook_ctx;

void cnnrt_batch_rows_hook(cnnrt_batch_rows_fn fn, void *ctx)
{
    rows_hook = fn;
    rows_hook_ctx = ctx;
}

/* The mean of n rows (in image order, in double: the result depends on neither the thread
 * count nor the process count, as the interpreter computes it). */
static void mean_of_rows(const float *in, int64_t stride, int64_t n, int64_t elems, float *mean)
{
    for (int64_t i = 0; i < elems; i++) {
        double sum = 0.0;
        for (int64_t b = 0; b < n; b++)
            sum += (double)in[b * stride + i];
        mean[i] = n > 0 ? (float)(sum / (double)n) : 0.0f;
    }
}

int64_t cnnrt_batch_mean(const float *in, int64_t stride, int64_t n, int64_t elems,
                         float *mean)
{
    if (n < 0)
        n = 0;
    if (rows_hook) {
        int64_t total = 0;
        const float *rows = rows_hook(rows_hook_ctx, in, stride, n, elems, &total);
        if (!rows)
            return -1;
        mean_of_rows(rows, elems, total, elems, mean);
        return total;
    }
    mean_of_rows(in, stride, n, elems, mean);
    return n;
}
