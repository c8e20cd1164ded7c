/* The processes of one run started by mpirun: start, shares, collectives that cannot hang.
 * See mpi_ranks.h. */
#define _GNU_SOURCE   /* sched_getaffinity */
#include "mpi_ranks.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef CNNC_HAVE_MPI
#include <mpi.h>
#endif

static int world_rank = 0, world_size = 1;
static int started, failed, lockstep;
static volatile sig_atomic_t *watched_signal;

int cnnrt_mpi_rank(void)
{
    return world_rank;
}

int cnnrt_mpi_size(void)
{
    return world_size;
}

void cnnrt_mpi_share(int64_t n, int64_t *begin, int64_t *end)
{
    *begin = world_rank * n / world_size;
    *end = (world_rank + 1) * n / world_size;
}

void cnnrt_mpi_lockstep(int on)
{
    lockstep = on;
}

void cnnrt_mpi_watch_signal(volatile sig_atomic_t *flag)
{
    watched_signal = flag;
}

int cnnrt_mpi_default_threads(void)
{
    if (world_size <= 1)
        return 0;
    cpu_set_t set;
    long cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                           : sysconf(_SC_NPROCESSORS_ONLN);
    /* mpirun binds each rank to its own cores when there are enough: then the affinity
     * mask is this rank's already. Otherwise the ranks on this machine share them. */
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    long ranks_here = local ? atol(local) : 1;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (ranks_here > 1 && cpus >= online)
        cpus /= ranks_here;
    return cpus >= 1 ? (int)cpus : 1;
}

#ifndef CNNC_HAVE_MPI

int cnnrt_mpi_start(int *argc, char ***argv, cnnrt_err *e)
{
    (void)argc;
    (void)argv;
    (void)e;
    if (getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1)
        fprintf(stderr, "warning: started by mpirun, but this program was built without MPI "
                        "(libopenmpi-dev was missing): every rank runs alone\n");
    return 0;
}

void cnnrt_mpi_finish(int status)
{
    (void)status;
    cnnrt_mpi_train_free();
}
int cnnrt_mpi_sum_floats(float *buf, int64_t n, cnnrt_err *e)
{
    (void)buf, (void)n, (void)e;
    return 0;
}
int cnnrt_mpi_sum_doubles(double *buf, int64_t n, cnnrt_err *e)
{
    (void)buf, (void)n, (void)e;
    return 0;
}
int cnnrt_mpi_max_int(int *value, cnnrt_err *e)
{
    (void)value, (void)e;
    return 0;
}
int cnnrt_mpi_broadcast(void *buf, int64_t bytes, cnnrt_err *e)
{
    (void)buf, (void)bytes, (void)e;
    return 0;
}
int cnnrt_mpi_gather_rows(void *all, int64_t n, int64_t row_bytes, cnnrt_err *e)
{
    (void)all, (void)n, (void)row_bytes, (void)e;
    return 0;
}

#else

/* Seconds on a clock that does not jump. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double timeout_seconds(void)
{
    const char *s = getenv("CNNC_MPI_TIMEOUT");
    double t = s ? atof(s) : 0;
    return t > 0 ? t : 600;
}

/* A signal that comes while a collective waits: the other ranks got it too (Ctrl-C on
 * mpirun) and come within a step, or one of them died and mpirun is stopping the job. */
static const double SIGNAL_GRACE_SECONDS = 0.5;

static int mpi_fail(cnnrt_err *e, const char *what, int rc)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", rc);
    failed = 1;
    return cnnrt_fail(e, "rank %d: MPI %s failed: %s", world_rank, what, text);
}

/* Completes req, polling: briefly spinning (a step's collective is usually answered within
 * microseconds on one machine), then sleeping 50 us between tests so that ranks sharing
 * cores leave them to the ones still computing. */
static int wait_for(MPI_Request *req, const char *what, cnnrt_err *e)
{
    double start = now(), signal_at = -1, timeout = timeout_seconds();
    for (long polls = 0;; polls++) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(e, what, rc);
        if (done)
            return 0;
        if (polls < 2000)
            continue;
        double t = now();
        if (watched_signal && *watched_signal && signal_at < 0)
            signal_at = t;
        if (signal_at >= 0 && t - signal_at > SIGNAL_GRACE_SECONDS) {
            failed = 1;
            return cnnrt_fail(e, "rank %d: stopped by a signal while waiting for the other "
                              "ranks (%s); one of them has probably stopped (mpirun stops "
                              "every rank when one dies)", world_rank, what);
        }
        if (t - start > timeout) {
            failed = 1;
            return cnnrt_fail(e, "rank %d: no answer from the other ranks for %.0f s (%s); "
                              "one of them has stopped or hangs (CNNC_MPI_TIMEOUT sets the "
                              "wait)", world_rank, timeout, what);
        }
        struct timespec pause = {0, 50000};
        nanosleep(&pause, NULL);
    }
}

int cnnrt_mpi_start(int *argc, char ***argv, cnnrt_err *e)
{
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK"))
        return 0;
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS)
        return cnnrt_fail(e, "MPI_Init failed (error %d)", rc);
    started = 1;
    /* Errors come back as return codes, for a message, instead of aborting the job. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_rank > 0 && !freopen("/dev/null", "w", stdout))
        return cnnrt_fail(e, "rank %d: cannot send standard output to /dev/null", world_rank);
    return 0;
}

void cnnrt_mpi_finish(int status)
{
    cnnrt_mpi_train_free();
    if (!started)
        return;
    fflush(stdout);
    fflush(stderr);
    if (failed)   /* MPI_Finalize would wait for ranks that are gone */
        _exit(status ? status : 1);
    if (lockstep && status != 0)
        MPI_Abort(MPI_COMM_WORLD, status);
    MPI_Finalize();
    started = 0;
}

static int allreduce(void *buf, int64_t n, MPI_Datatype type, MPI_Op op, const char *what,
                     cnnrt_err *e)
{
    if (world_size <= 1 || n <= 0)
        return 0;
    if (n > 0x7fffffff)
        return cnnrt_fail(e, "rank %d: %s: %lld values are too many for one MPI call",
                          world_rank, what, (long long)n);
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, type, op, MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS)
        return mpi_fail(e, what, rc);
    return wait_for(&req, what, e);
}

int cnnrt_mpi_sum_floats(float *buf, int64_t n, cnnrt_err *e)
{
    return allreduce(buf, n, MPI_FLOAT, MPI_SUM, "summing the gradients", e);
}

int cnnrt_mpi_sum_doubles(double *buf, int64_t n, cnnrt_err *e)
{
    return allreduce(buf, n, MPI_DOUBLE, MPI_SUM, "summing figures", e);
}

int cnnrt_mpi_max_int(int *value, cnnrt_err *e)
{
    return allreduce(value, 1, MPI_INT, MPI_MAX, "agreeing", e);
}

int cnnrt_mpi_broadcast(void *buf, int64_t bytes, cnnrt_err *e)
{
    if (world_size <= 1 || bytes <= 0)
        return 0;
    const char *what = "sharing the starting state";
    unsigned char *p = buf;
    while (bytes > 0) {   /* MPI counts are ints */
        int chunk = bytes > (1 << 30) ? (1 << 30) : (int)bytes;
        MPI_Request req;
        int rc = MPI_Ibcast(p, chunk, MPI_BYTE, 0, MPI_COMM_WORLD, &req);
        if (rc != MPI_SUCCESS)
            return mpi_fail(e, what, rc);
        if (wait_for(&req, what, e))
            return -1;
        p += chunk;
        bytes -= chunk;
    }
    return 0;
}

int cnnrt_mpi_gather_rows(void *all, int64_t n, int64_t row_bytes, cnnrt_err *e)
{
    if (world_size <= 1 || n <= 0)
        return 0;
    const char *what = "gathering the results";
    if (n * row_bytes > 0x7fffffff)
        return cnnrt_fail(e, "rank %d: %s: %lld bytes are too many for one MPI call",
                          world_rank, what, (long long)(n * row_bytes));
    int *counts = cnnrt_xmalloc((size_t)world_size * sizeof *counts);
    int *displs = cnnrt_xmalloc((size_t)world_size * sizeof *displs);
    for (int r = 0; r < world_size; r++) {
        int64_t begin = r * n / world_size, end = (r + 1) * n / world_size;
        displs[r] = (int)(begin * row_bytes);
        counts[r] = (int)((end - begin) * row_bytes);
    }
    MPI_Request req;
    int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, counts, displs, MPI_BYTE,
                             MPI_COMM_WORLD, &req);
    int status = rc != MPI_SUCCESS ? mpi_fail(e, what, rc) : wait_for(&req, what, e);
    free(counts);
    free(displs);
    return status;
}

#endif

int cnnrt_mpi_agree(int status, const char *speaker)
{
    if (world_size <= 1)
        return status;
    int worst = status;
    cnnrt_err e;
    if (cnnrt_mpi_max_int(&worst, &e)) {
        fprintf(stderr, "%s: error: %s\n", speaker, e.msg);
        return 1;
    }
    return worst;
}
