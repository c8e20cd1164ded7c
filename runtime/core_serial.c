/* The runtime core's parallel-for (cnnrt_core.h): every piece on the calling thread. Built
 * into libcnnrt_core.a only; the full libcnnrt has pool.c's threaded cnnrt_parallel_for
 * instead. No libc at all, so that it compiles for a bare wasm32 as well. */
#include "cnnrt_core.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* As pool.c does for every piece: denormals flushed to zero on x86 (MXCSR FTZ and DAZ), so
 * that the core computes what the full runtime does on one thread. */
static void flush_denormals(void)
{
#if defined(__SSE__)
    _mm_setcsr(_mm_getcsr() | 0x8040);
#endif
}

/* Pieces as pool.c cuts them: T = min(threads, n) = 1 here, so one piece [0, n) run by
 * worker 0 -- whatever pool is passed (a core program has none to pass). */
void cnnrt_parallel_for(cnnrt_pool *pool, int64_t n, cnnrt_task_fn fn, void *ctx)
{
    (void)pool;
    if (n <= 0)
        return;
    flush_denormals();
    fn(ctx, 0, n, 0);
}

int64_t cnnrt_pool_threads(const cnnrt_pool *pool)
{
    (void)pool;
    return 1;
}

/* A team of one: the calling thread (pool.c's team when it cannot run concurrently). */
void cnnrt_parallel_team(cnnrt_pool *pool, int64_t n, cnnrt_task_fn fn, void *ctx)
{
    (void)pool;
    if (n <= 0)
        return;
    flush_denormals();
    fn(ctx, 0, 1, 0);
}

void cnnrt_team_barrier(void)
{
}
