/* Measures this machine's peak fp32 FMA throughput, so the benchmark table can say what the
 * hardware it ran on allows (DESIGN.md's limits are for the project's Zen 3 machines).
 *
 *     cc -O2 -march=native -pthread bench/fma_peak.c -o fma_peak && ./fma_peak
 *
 * Each thread runs independent chains of vector FMAs (acc = acc * m + c), enough of them
 * to hide the FMA latency, on 256-bit vectors (AVX2+FMA, what LLVM prefers even on AVX-512
 * CPUs) and, where the CPU has AVX-512, on 512-bit vectors. Prints one JSON line per
 * (width, threads) with GFLOP/s (an FMA is 2 FLOPs), the best of a few runs.
 *
 *     ./fma_peak 1 cpu
 *
 * divides by the CPU time the threads got instead of the wall time: what one core does
 * while it runs, however busy the machine (bench/profile.sh compares its kernels' GFLOP/s
 * per CPU second with it). */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ITERATIONS = 100 * 1000 * 1000, RUNS = 3 };

static int use_cpu_time;   /* "cpu": per CPU second (of all threads) instead of wall time */

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Ten independent accumulators (FMA latency 4-5 cycles x 2 units needs 8-10), each a
 * named local so the compiler keeps it in a register. FLOPs per iteration: 10 * 2 * lanes. */
enum { CHAINS = 10 };
#define TEN_FMAS(fmadd)                                                                     \
    do {                                                                                    \
        a0 = fmadd(a0, m, c); a1 = fmadd(a1, m, c); a2 = fmadd(a2, m, c);                   \
        a3 = fmadd(a3, m, c); a4 = fmadd(a4, m, c); a5 = fmadd(a5, m, c);                   \
        a6 = fmadd(a6, m, c); a7 = fmadd(a7, m, c); a8 = fmadd(a8, m, c);                   \
        a9 = fmadd(a9, m, c);                                                               \
    } while (0)

static float fma_loop_256(void)
{
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2),
           a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5),
           a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8),
           a9 = _mm256_set1_ps(9);
    for (long it = 0; it < ITERATIONS; it++)
        TEN_FMAS(_mm256_fmadd_ps);
    __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                               _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    sum = _mm256_add_ps(sum, _mm256_add_ps(a8, a9));
    return _mm256_cvtss_f32(sum);
}

#ifdef __AVX512F__
static float fma_loop_512(void)
{
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2),
           a3 = _mm512_set1_ps(3), a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5),
           a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7), a8 = _mm512_set1_ps(8),
           a9 = _mm512_set1_ps(9);
    for (long it = 0; it < ITERATIONS; it++)
        TEN_FMAS(_mm512_fmadd_ps);
    __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                               _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    sum = _mm512_add_ps(sum, _mm512_add_ps(a8, a9));
    return _mm512_reduce_add_ps(sum);
}
#endif

typedef struct job {
    int lanes;
    float result;   /* printed nowhere; stored so the loops are not optimised away */
} job;

static void *run(void *arg)
{
    job *j = arg;
#ifdef __AVX512F__
    j->result = j->lanes == 16 ? fma_loop_512() : fma_loop_256();
#else
    j->result = fma_loop_256();
#endif
    return NULL;
}

static volatile float sink;

/* GFLOP/s of `threads` threads, each running the loop on vectors of `lanes` floats. */
static double measure(int lanes, int threads)
{
    pthread_t tid[64];
    job jobs[64];
    double best = 0;
    for (int r = 0; r < RUNS; r++) {
        double start = now_seconds();
        for (int t = 0; t < threads; t++) {
            jobs[t].lanes = lanes;
            if (pthread_create(&tid[t], NULL, run, &jobs[t]) != 0) {
                fprintf(stderr, "fma_peak: cannot start a thread\n");
                exit(1);
            }
        }
        for (int t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
        for (int t = 0; t < threads; t++)
            sink += jobs[t].result;
        double seconds = now_seconds() - start;
        if (use_cpu_time)
            seconds /= threads;   /* per core while it runs */
        double flops = 2.0 * lanes * CHAINS * (double)ITERATIONS * threads;
        if (flops / seconds > best)
            best = flops / seconds;
    }
    return best / 1e9;
}

int main(int argc, char **argv)
{
    int max_threads = argc > 1 ? atoi(argv[1]) : 2;
    use_cpu_time = argc > 2 && strcmp(argv[2], "cpu") == 0;
    if (max_threads < 1 || max_threads > 64 || (argc > 2 && !use_cpu_time) || argc > 3) {
        fprintf(stderr, "usage: fma_peak [THREADS (1..64, default 2) [cpu]]\n");
        return 2;
    }
    int widths[2] = {8, 16};
#ifdef __AVX512F__
    int num_widths = 2;
#else
    int num_widths = 1;
#endif
    for (int w = 0; w < num_widths; w++)
        for (int threads = 1; threads <= max_threads; threads *= 2)
            printf("{\"info\": \"fma_peak\", \"vector_bits\": %d, \"threads\": %d, "
                   "\"gflops\": %.1f}\n", widths[w] * 32, threads,
                   measure(widths[w], threads));
    return 0;
}
