/* The thread pool behind cnnrt_parallel_for (see cnnrt_pool.h for the contract).
 *
 * One job at a time. The caller publishes a job (function, context, n, number of pieces)
 * and bumps `generation`; every worker notices the new generation (spinning for a while,
 * then sleeping on work_cv), runs its piece if it has one, and decrements `pending`. The
 * caller runs piece 0 itself, then waits for `pending` to reach zero (spinning, then
 * sleeping on done_cv).
 *
 * Every worker acknowledges every job, even one with no piece for it, so that the job fields
 * are never rewritten while a late worker might still read them.
 *
 * Memory ordering: the job fields are plain data written before the release store of
 * `generation` and read after an acquire load of it; a worker's results are published by
 * its acq_rel decrement of `pending`, which the caller reads with acquire. Sleeping uses the
 * "sleepers" count so the caller only takes the mutex when someone actually sleeps; the
 * generation store and the sleepers load are sequentially consistent, as are the worker's
 * sleepers increment and generation re-check, so one of the two always sees the other. */
#include "cnnrt_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#if defined(__x86_64__) || defined(__SSE__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#define CNNRT_HAVE_MXCSR 1
#endif

/* How long to spin before sleeping: long enough to bridge the gap between two
 * parallel-fors of one training step, short enough not to burn a core when idle. */
enum { SPIN_ITERATIONS = 20000 };

/* One spin step. Every 64th step yields the CPU, so that when there are more threads than
 * free cores (a shared machine, --threads larger than the CPU count) a spinning thread does
 * not starve the one it is waiting for. */
static inline void cpu_relax(int iteration)
{
    if ((iteration & 63) == 63) {
        sched_yield();
        return;
    }
#ifdef CNNRT_HAVE_MXCSR
    _mm_pause();
#endif
}

void cnnrt_flush_denormals(void)
{
#ifdef CNNRT_HAVE_MXCSR
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}

int cnnrt_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

typedef struct worker_arg {
    struct cnnrt_pool *pool;
    int index;
} worker_arg;

struct cnnrt_pool {
    int threads;
    pthread_t *tids;
    worker_arg *args;
    int started;                  /* threads actually running (for cleanup on failure) */

    pthread_mutex_t mutex;        /* guards sleeping and waking */
    pthread_cond_t work_cv;       /* workers wait here for a new generation */
    pthread_cond_t done_cv;       /* the caller waits here for pending == 0 */
    pthread_mutex_t dispatch;     /* one parallel-for at a time */

    atomic_uint_fast64_t generation;
    atomic_int pending;           /* workers that have not yet acknowledged the job */
    atomic_int sleepers;          /* workers asleep (or about to be) on work_cv */
    atomic_int caller_sleeping;   /* the caller is asleep (or about to be) on done_cv */

    /* The current job: written by the caller before `generation` is bumped. */
    cnnrt_task_fn fn;
    void *ctx;
    int64_t n, pieces;
    int stop;
};

/* Set while a thread runs pieces of a job, so that a nested parallel-for runs inline. */
static _Thread_local int in_parallel_region;

static void run_piece(struct cnnrt_pool *pool, int64_t piece)
{
    int64_t begin = piece * pool->n / pool->pieces;
    int64_t end = (piece + 1) * pool->n / pool->pieces;
    pool->fn(pool->ctx, begin, end, piece);
}

static uint64_t wait_for_new_generation(struct cnnrt_pool *pool, uint64_t seen)
{
    for (int i = 0; i < SPIN_ITERATIONS; i++) {
        uint64_t g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen)
            return g;
        cpu_relax(i);
    }
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add(&pool->sleepers, 1);
    uint64_t g;
    while ((g = atomic_load(&pool->generation)) == seen)
        pthread_cond_wait(&pool->work_cv, &pool->mutex);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mutex);
    return g;
}

static void acknowledge(struct cnnrt_pool *pool)
{
    if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1 &&
        atomic_load(&pool->caller_sleeping)) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_signal(&pool->done_cv);
        pthread_mutex_unlock(&pool->mutex);
    }
}

static void *worker_main(void *p)
{
    worker_arg *arg = p;
    struct cnnrt_pool *pool = arg->pool;
    cnnrt_flush_denormals();
    in_parallel_region = 1;   /* a worker's tasks may only nest inline */
    uint64_t seen = 0;
    for (;;) {
        seen = wait_for_new_generation(pool, seen);
        if (pool->stop) {
            acknowledge(pool);
            return NULL;
        }
        if (arg->index < pool->pieces)
            run_piece(pool, arg->index);
        acknowledge(pool);
    }
}

static void wait_for_workers(struct cnnrt_pool *pool)
{
    for (int i = 0; i < SPIN_ITERATIONS; i++) {
        if (atomic_load_explicit(&pool->pending, memory_order_acquire) == 0)
            return;
        cpu_relax(i);
    }
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->caller_sleeping, 1);
    while (atomic_load(&pool->pending) != 0)
        pthread_cond_wait(&pool->done_cv, &pool->mutex);
    atomic_store(&pool->caller_sleeping, 0);
    pthread_mutex_unlock(&pool->mutex);
}

/* Publishes the job in pool's fields (already written) to every worker and waits for all of
 * them; the caller runs piece 0 in between. */
static void dispatch(struct cnnrt_pool *pool)
{
    atomic_store(&pool->pending, pool->threads - 1);
    atomic_fetch_add(&pool->generation, 1);   /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->work_cv);
        pthread_mutex_unlock(&pool->mutex);
    }
    if (!pool->stop && pool->pieces > 0)
        run_piece(pool, 0);
    wait_for_workers(pool);
}

static void run_inline(int64_t n, int64_t pieces, cnnrt_task_fn fn, void *ctx)
{
    for (int64_t i = 0; i < pieces; i++)
        fn(ctx, i * n / pieces, (i + 1) * n / pieces, i);
}

void cnnrt_parallel_for(cnnrt_pool *pool, int64_t n, cnnrt_task_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    int64_t threads = cnnrt_pool_threads(pool);
    int64_t pieces = threads < n ? threads : n;
    /* Every piece runs with denormals flushed, whichever thread runs it, so that results
     * do not depend on the pool (the caller's mode is left set: it is what we want). */
    cnnrt_flush_denormals();
    /* Inline: no pool, one piece (nothing to share), or nested inside a running job. */
    if (!pool || pieces == 1 || in_parallel_region) {
        run_inline(n, pieces, fn, ctx);
        return;
    }
    pthread_mutex_lock(&pool->dispatch);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    pool->pieces = pieces;
    in_parallel_region = 1;
    dispatch(pool);
    in_parallel_region = 0;
    pthread_mutex_unlock(&pool->dispatch);
}

/* ---- Teams: one image's work split over the threads ---------------------------------------
 * A team is a parallel-for with one piece per member, whose members run at the same time
 * (the pool's workers are dedicated threads, so every piece of a job does run concurrently)
 * and meet at cnnrt_team_barrier between the layers of an image. The barrier must cost a
 * few microseconds at most (an image takes ~50 us of CPU), so it is a counter and a phase
 * word: members spin on the phase, then sleep on it with a futex; the last to arrive bumps
 * the phase and wakes sleepers only when there are any. */

typedef struct team {
    cnnrt_task_fn fn;
    void *ctx;
    int64_t members;
    atomic_int arrived;
    atomic_uint phase;            /* the futex word: bumped once per barrier */
    atomic_int sleepers;
} team;

/* The team whose member the calling thread is (NULL outside a team). */
static _Thread_local team *current_team;

static void wait_for_phase(team *t, unsigned phase)
{
    for (int i = 0; i < SPIN_ITERATIONS; i++) {
        if (atomic_load_explicit(&t->phase, memory_order_acquire) != phase)
            return;
        cpu_relax(i);
    }
    atomic_fetch_add(&t->sleepers, 1);   /* seq_cst: pairs with the waker's sleepers load */
    while (atomic_load(&t->phase) == phase) {
#ifdef __linux__
        /* Returns at once when the phase has moved on since the load (the kernel compares). */
        syscall(SYS_futex, (unsigned *)&t->phase, FUTEX_WAIT_PRIVATE, phase, NULL, NULL, 0);
#else
        sched_yield();
#endif
    }
    atomic_fetch_sub(&t->sleepers, 1);
}

void cnnrt_team_barrier(void)
{
    team *t = current_team;
    if (!t || t->members <= 1)
        return;
    unsigned phase = atomic_load_explicit(&t->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->arrived, 1, memory_order_acq_rel) == t->members - 1) {
        /* Last to arrive: reset the count for the next barrier, then release everyone
         * (seq_cst: the sleepers load below cannot miss a member about to sleep). */
        atomic_store_explicit(&t->arrived, 0, memory_order_relaxed);
        atomic_fetch_add(&t->phase, 1);
#ifdef __linux__
        if (atomic_load(&t->sleepers) > 0)
            syscall(SYS_futex, (unsigned *)&t->phase, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL,
                    NULL, 0);
#endif
        return;
    }
    wait_for_phase(t, phase);
}

static void run_member(void *p, int64_t begin, int64_t end, int64_t worker)
{
    (void)begin;
    (void)end;
    team *t = p;
    current_team = t;
    t->fn(t->ctx, worker, t->members, worker);
    current_team = NULL;
}

void cnnrt_parallel_team(cnnrt_pool *pool, int64_t n, cnnrt_task_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    int64_t threads = cnnrt_pool_threads(pool);
    int64_t members = threads < n ? threads : n;
    if (!pool || members <= 1 || in_parallel_region) {
        cnnrt_flush_denormals();
        team *outer = current_team;
        current_team = NULL;   /* a team of one: its barriers return at once */
        fn(ctx, 0, 1, 0);
        current_team = outer;
        return;
    }
    team t = {.fn = fn, .ctx = ctx, .members = members};
    atomic_init(&t.arrived, 0);
    atomic_init(&t.phase, 0);
    atomic_init(&t.sleepers, 0);
    cnnrt_parallel_for(pool, members, run_member, &t);
}

int64_t cnnrt_pool_threads(const cnnrt_pool *pool)
{
    return pool ? pool->threads : 1;
}

cnnrt_pool *cnnrt_pool_create(int threads, cnnrt_err *e)
{
    if (threads <= 0)
        threads = cnnrt_cpu_count();
    struct cnnrt_pool *pool = cnnrt_xcalloc(1, sizeof *pool);
    pool->threads = threads;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_mutex_init(&pool->dispatch, NULL);
    pthread_cond_init(&pool->work_cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->caller_sleeping, 0);
    pool->tids = cnnrt_xcalloc((size_t)threads, sizeof *pool->tids);
    pool->args = cnnrt_xcalloc((size_t)threads, sizeof *pool->args);
    for (int i = 1; i < threads; i++) {
        pool->args[i] = (worker_arg){pool, i};
        int rc = pthread_create(&pool->tids[i], NULL, worker_main, &pool->args[i]);
        if (rc != 0) {
            cnnrt_fail(e, "cannot start thread %d of %d: %s", i + 1, threads, strerror(rc));
            /* Shrink to the threads that did start so destroy can stop them. */
            pool->threads = i;
            cnnrt_pool_destroy(pool);
            return NULL;
        }
        pool->started = i;
    }
    return pool;
}

void cnnrt_pool_destroy(cnnrt_pool *pool)
{
    if (!pool)
        return;
    if (pool->threads > 1) {
        pthread_mutex_lock(&pool->dispatch);
        pool->stop = 1;
        pool->pieces = 0;
        dispatch(pool);
        pthread_mutex_unlock(&pool->dispatch);
        for (int i = 1; i <= pool->started; i++)
            pthread_join(pool->tids[i], NULL);
    }
    pthread_mutex_destroy(&pool->mutex);
    pthread_mutex_destroy(&pool->dispatch);
    pthread_cond_destroy(&pool->work_cv);
    pthread_cond_destroy(&pool->done_cv);
    free(pool->tids);
    free(pool->args);
    free(pool);
}

/* ---- Barrier ---------------------------------------------------------------------------- */

struct cnnrt_barrier {
    int count;
    pthread_mutex_t mutex;
    pthread_cond_t cv;
    atomic_int arrived;
    atomic_uint phase;
};

cnnrt_barrier *cnnrt_barrier_create(int count)
{
    cnnrt_barrier *b = cnnrt_xcalloc(1, sizeof *b);
    b->count = count > 0 ? count : 1;
    pthread_mutex_init(&b->mutex, NULL);
    pthread_cond_init(&b->cv, NULL);
    atomic_init(&b->arrived, 0);
    atomic_init(&b->phase, 0);
    return b;
}

void cnnrt_barrier_wait(cnnrt_barrier *b)
{
    unsigned phase = atomic_load(&b->phase);
    if (atomic_fetch_add(&b->arrived, 1) == b->count - 1) {
        /* Last to arrive: reset for the next use, then release everyone. */
        atomic_store(&b->arrived, 0);
        pthread_mutex_lock(&b->mutex);
        atomic_fetch_add(&b->phase, 1);
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mutex);
        return;
    }
    for (int i = 0; i < SPIN_ITERATIONS; i++) {
        if (atomic_load(&b->phase) != phase)
            return;
        cpu_relax(i);
    }
    pthread_mutex_lock(&b->mutex);
    while (atomic_load(&b->phase) == phase)
        pthread_cond_wait(&b->cv, &b->mutex);
    pthread_mutex_unlock(&b->mutex);
}

void cnnrt_barrier_destroy(cnnrt_barrier *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mutex);
    pthread_cond_destroy(&b->cv);
    free(b);
}
