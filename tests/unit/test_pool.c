/* The thread pool: sums over ranges, the exact partition, many back-to-back jobs, nesting,
 * the barrier, and denormal flushing in every worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_pool.h"

#if defined(__x86_64__) || defined(__SSE__)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
#endif

enum { MAX_WORKERS = 8 };
static atomic_int bad_worker_number;

/* Each call records its range in the slot of its worker; each worker slot is written by one
 * thread only, so no locking is needed. */
typedef struct record {
    int64_t calls[MAX_WORKERS];
    int64_t begin[MAX_WORKERS], end[MAX_WORKERS];
    int64_t sum[MAX_WORKERS];
    int denormals_flushed[MAX_WORKERS];
} record;

static void record_range(void *ctx, int64_t begin, int64_t end, int64_t worker)
{
    record *r = ctx;
    /* No cmocka assertions here: they longjmp, which only works on the test's thread. */
    if (worker < 0 || worker >= MAX_WORKERS) {
        atomic_store(&bad_worker_number, 1);
        return;
    }
    r->calls[worker]++;
    r->begin[worker] = begin;
    r->end[worker] = end;
    for (int64_t i = begin; i < end; i++)
        r->sum[worker] += i;
#ifdef HAVE_MXCSR
    unsigned csr = _mm_getcsr();
    r->denormals_flushed[worker] = (csr & 0x8000) && (csr & 0x0040);   /* FTZ and DAZ */
#else
    r->denormals_flushed[worker] = 1;
#endif
}

static void check_partition(cnnrt_pool *pool, int64_t n)
{
    record r;
    memset(&r, 0, sizeof r);
    cnnrt_parallel_for(pool, n, record_range, &r);
    int64_t threads = cnnrt_pool_threads(pool);
    int64_t pieces = threads < n ? threads : n;
    int64_t total = 0;
    for (int64_t w = 0; w < MAX_WORKERS; w++) {
        if (w < pieces) {
            assert_int_equal(r.calls[w], 1);
            assert_int_equal(r.begin[w], w * n / pieces);
            assert_int_equal(r.end[w], (w + 1) * n / pieces);
            assert_true(r.denormals_flushed[w]);
        } else {
            assert_int_equal(r.calls[w], 0);   /* no empty ranges handed out */
        }
        total += r.sum[w];
    }
    assert_int_equal(total, n * (n - 1) / 2);
    assert_int_equal(atomic_load(&bad_worker_number), 0);
}

static void test_partition_and_sums(void **state)
{
    (void)state;
    int64_t sizes[] = {0, 1, 2, 3, 5, 7, 64, 1000, 100003};
    for (int threads = 1; threads <= 4; threads++) {
        cnnrt_err e;
        cnnrt_pool *pool = cnnrt_pool_create(threads, &e);
        assert_non_null(pool);
        assert_int_equal(cnnrt_pool_threads(pool), threads);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            check_partition(pool, sizes[i]);
        cnnrt_pool_destroy(pool);
    }
    /* No pool: everything inline as worker 0. */
    assert_int_equal(cnnrt_pool_threads(NULL), 1);
    check_partition(NULL, 10);
}

static void test_default_thread_count(void **state)
{
    (void)state;
    cnnrt_err e;
    cnnrt_pool *pool = cnnrt_pool_create(0, &e);
    assert_non_null(pool);
    assert_int_equal(cnnrt_pool_threads(pool), cnnrt_cpu_count());
    assert_true(cnnrt_cpu_count() >= 1);
    check_partition(pool, 33);
    cnnrt_pool_destroy(pool);
    cnnrt_pool_destroy(NULL);
}

/* Many jobs in a row, alternating sizes: every job sees the previous one's results. */
typedef struct accumulate {
    int64_t *values;
    int64_t add;
} accumulate;

static void add_to_range(void *ctx, int64_t begin, int64_t end, int64_t worker)
{
    (void)worker;
    accumulate *a = ctx;
    for (int64_t i = begin; i < end; i++)
        a->values[i] += a->add + i;
}

static void test_many_iterations(void **state)
{
    (void)state;
    enum { N = 257, ROUNDS = 1500 };
    int64_t values[N];
    cnnrt_err e;
    for (int threads = 2; threads <= 4; threads += 2) {
        memset(values, 0, sizeof values);
        cnnrt_pool *pool = cnnrt_pool_create(threads, &e);
        assert_non_null(pool);
        for (int round = 0; round < ROUNDS; round++) {
            accumulate a = {values, round};
            int64_t n = round % 3 == 0 ? 1 : N;   /* some jobs leave workers idle */
            cnnrt_parallel_for(pool, n, add_to_range, &a);
        }
        int64_t rounds_all = 0, rounds_sum = 0;
        for (int round = 0; round < ROUNDS; round++)
            if (round % 3 != 0) {
                rounds_all++;
                rounds_sum += round;
            }
        assert_int_equal(values[0], ROUNDS * (ROUNDS - 1) / 2);
        for (int64_t i = 1; i < N; i++)
            assert_int_equal(values[i], rounds_sum + rounds_all * i);
        cnnrt_pool_destroy(pool);
    }
}

/* A parallel-for inside a task runs inline with the same partition. */
typedef struct nested {
    cnnrt_pool *pool;
    record inner[MAX_WORKERS];
} nested;

static void outer_task(void *ctx, int64_t begin, int64_t end, int64_t worker)
{
    (void)begin;
    (void)end;
    nested *n = ctx;
    cnnrt_parallel_for(n->pool, 10, record_range, &n->inner[worker]);
}

static void test_nested_runs_inline(void **state)
{
    (void)state;
    cnnrt_err e;
    nested n;
    memset(&n, 0, sizeof n);
    n.pool = cnnrt_pool_create(3, &e);
    assert_non_null(n.pool);
    cnnrt_parallel_for(n.pool, 3, outer_task, &n);
    for (int w = 0; w < 3; w++) {
        for (int inner = 0; inner < 3; inner++) {
            assert_int_equal(n.inner[w].calls[inner], 1);
            assert_int_equal(n.inner[w].begin[inner], inner * 10 / 3);
        }
        assert_int_equal(n.inner[w].sum[0] + n.inner[w].sum[1] + n.inner[w].sum[2], 45);
    }
    cnnrt_pool_destroy(n.pool);
}

/* The barrier: in each phase every worker writes its slot, meets the others, then reads
 * all slots; a missing or leaky barrier shows up as a wrong total. */
typedef struct phased {
    cnnrt_barrier *barrier;
    _Atomic int64_t slots[4];
    int64_t bad;   /* written by worker 0 only */
} phased;

static void phased_task(void *ctx, int64_t begin, int64_t end, int64_t worker)
{
    (void)begin;
    (void)end;
    phased *p = ctx;
    for (int64_t phase = 1; phase <= 200; phase++) {
        atomic_store(&p->slots[worker], phase);
        cnnrt_barrier_wait(p->barrier);
        for (int w = 0; w < 4; w++)
            if (atomic_load(&p->slots[w]) != phase && worker == 0)
                p->bad++;
        cnnrt_barrier_wait(p->barrier);
    }
}

static void test_barrier(void **state)
{
    (void)state;
    cnnrt_err e;
    cnnrt_pool *pool = cnnrt_pool_create(4, &e);
    assert_non_null(pool);
    phased p;
    memset(&p, 0, sizeof p);
    p.barrier = cnnrt_barrier_create(4);
    cnnrt_parallel_for(pool, 4, phased_task, &p);
    assert_int_equal(p.bad, 0);
    for (int w = 0; w < 4; w++)
        assert_int_equal(atomic_load(&p.slots[w]), 200);
    cnnrt_barrier_destroy(p.barrier);
    cnnrt_pool_destroy(pool);
}

/* A team: every member runs at once (each sees all the others' writes after a barrier),
 * round after round; nested inside a parallel-for it is a team of one. */
enum { TEAM_ROUNDS = 2000 };
typedef struct team_record {
    atomic_int slot[MAX_WORKERS];
    int64_t members_seen[MAX_WORKERS];
    atomic_int errors;
} team_record;

static void team_member(void *ctx, int64_t member, int64_t members, int64_t worker)
{
    team_record *t = ctx;
    if (member != worker || members > MAX_WORKERS) {
        atomic_fetch_add(&t->errors, 1);
        return;
    }
    t->members_seen[member] = members;
    for (int round = 1; round <= TEAM_ROUNDS; round++) {
        atomic_store(&t->slot[member], round);
        cnnrt_team_barrier();
        for (int64_t m = 0; m < members; m++)
            if (atomic_load(&t->slot[m]) != round)
                atomic_fetch_add(&t->errors, 1);
        cnnrt_team_barrier();
    }
}

static void nested_team(void *ctx, int64_t begin, int64_t end, int64_t worker)
{
    (void)begin;
    (void)end;
    (void)worker;
    cnnrt_pool *pool = ctx;
    team_record t = {0};
    cnnrt_parallel_team(pool, 8, team_member, &t);
    if (t.members_seen[0] != 1 || atomic_load(&t.errors))
        atomic_store(&bad_worker_number, 1);
}

static void test_team(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 3; threads++) {
        cnnrt_err e;
        cnnrt_pool *pool = threads > 1 ? cnnrt_pool_create(threads, &e) : NULL;
        team_record t = {0};
        cnnrt_parallel_team(pool, 8, team_member, &t);
        assert_int_equal(atomic_load(&t.errors), 0);
        for (int m = 0; m < threads; m++)
            assert_int_equal(t.members_seen[m], threads);
        team_record two = {0};   /* n = 2 limits the team to 2 members */
        cnnrt_parallel_team(pool, 2, team_member, &two);
        assert_int_equal(two.members_seen[0], threads < 2 ? threads : 2);
        assert_int_equal(atomic_load(&two.errors), 0);
        cnnrt_parallel_for(pool, threads, nested_team, pool);
        assert_int_equal(atomic_load(&bad_worker_number), 0);
        cnnrt_team_barrier();   /* outside a team: returns at once */
        cnnrt_pool_destroy(pool);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_team),
        cmocka_unit_test(test_partition_and_sums),
        cmocka_unit_test(test_default_thread_count),
        cmocka_unit_test(test_many_iterations),
        cmocka_unit_test(test_nested_runs_inline),
        cmocka_unit_test(test_barrier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
