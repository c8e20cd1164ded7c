/* A small thread pool for batch-parallel kernels.
 *
 * The calling thread is worker 0; threads-1 pthreads are workers 1..threads-1. Work is given
 * as a parallel-for over [0, n) (cnnrt_parallel_for, declared in cnnrt_model.h because
 * generated code calls it): the range is cut into T = min(threads, n) contiguous pieces,
 * piece i = [i*n/T, (i+1)*n/T) run by worker i, so which worker sees which images depends
 * only on n and the thread count -- results are reproducible run to run.
 *
 * Idle workers spin briefly (a parallel-for right after another one starts at once) and then
 * sleep on a condition variable (an idle program does not burn CPU). Every piece runs with
 * denormals flushed to zero (x86-64 MXCSR FTZ and DAZ), because denormal arithmetic is up to
 * 100x slower and never matters for training: workers set it when they start, and
 * cnnrt_parallel_for sets it on the calling thread (also for pool == NULL) and leaves it set.
 *
 * A parallel-for issued from inside a task (nested) runs its pieces one after another on the
 * calling thread, with the same worker numbers; two threads that are not pool workers may
 * share one pool (their parallel-fors take turns).
 *
 * A team (cnnrt_parallel_team, cnnrt_team_barrier in cnnrt_model.h) is a parallel-for with
 * one piece per thread whose members meet at barriers: generated code splits one image's
 * layers over it when a call has fewer images than threads. Nested, it is a team of one. */
#ifndef CNNRT_POOL_H
#define CNNRT_POOL_H

#include <stdint.h>
#include "cnnrt_common.h"
#include "cnnrt_model.h"   /* cnnrt_pool, cnnrt_task_fn, cnnrt_parallel_for, cnnrt_pool_threads */

/* Creates a pool of `threads` workers including the caller; threads <= 0 means one per
 * online CPU (cnnrt_cpu_count). Returns NULL (and fills e) if a thread cannot be started.
 * A pool of 1 thread starts no thread at all. */
cnnrt_pool *cnnrt_pool_create(int threads, cnnrt_err *e);

/* Stops and joins the workers. Must not be called while a parallel-for is running. NULL is
 * accepted. */
void cnnrt_pool_destroy(cnnrt_pool *pool);

/* Number of online CPUs (at least 1). */
int cnnrt_cpu_count(void);

/* Sets flush-to-zero and denormals-are-zero for the calling thread (no-op off x86). */
void cnnrt_flush_denormals(void);

/* A reusable barrier for `count` threads, spinning briefly before sleeping. Useful inside a
 * parallel-for whose pieces must meet (all T = min(threads, n) pieces must call wait, and
 * they must really run concurrently: not from a nested parallel-for). */
typedef struct cnnrt_barrier cnnrt_barrier;
cnnrt_barrier *cnnrt_barrier_create(int count);
void cnnrt_barrier_wait(cnnrt_barrier *b);
void cnnrt_barrier_destroy(cnnrt_barrier *b);

#endif
