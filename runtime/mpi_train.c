/* One data-parallel training step over the ranks (mpi_ranks.h): the gradients of this
 * rank's share of the batch, one sum over ranks of [gradients | loss sum, correct | stop
 * flags], the same optimizer update on every rank.
 *
 * Same answers: the sum of two floats does not depend on their order, so with 2 ranks the
 * sum is exactly what one rank of 2 threads computes from the same pieces (the shares are
 * the thread pool's cut): weights bit-identical to 1 rank x 2 threads. With more ranks the
 * grouping of the sum is MPI_Allreduce's, fixed by Open MPI for a given number of ranks and
 * message size, so a fixed layout still gives the same bits run after run, and every rank
 * the same bits (the allreduce hands all ranks one result).
 *
 * batch_norm (a phased step): its batch statistics are those of the whole batch, as one
 * process computes them (SyncBatchNorm). At each phase boundary the generated code asks
 * cnnrt_batch_mean for a statistic; the hook installed here gathers every rank's per-image
 * rows of it (one allgather, in image order) so that every rank sums all the images' rows
 * in image order, exactly as one process does: the statistics, the moving statistics and
 * the gradients through them are the same bits as one process's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi_ranks.h"

static float *step_buffer;   /* param_floats + 3 */
static int64_t step_buffer_floats;
/* CNNC_MPI_STATS=1 (bench/mpi.sh): the time steps spend in the gradient sum, which counts
 * the wait for the slowest rank as well as the transfer. */
static double sum_seconds;
static int64_t sum_steps, sum_floats;
/* And (batch_norm) the time in the gathers of the batch statistics' rows. */
static double gather_seconds;
static int64_t gathers;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The whole batch's rows of one batch statistic (gather_batch_rows), kept between steps. */
static float *batch_rows;
static int64_t batch_rows_floats;

/* The hook's view of the step: the whole batch's size, and the first failure. */
typedef struct batch_share {
    int64_t batch;
    int failed;
    cnnrt_err err;
} batch_share;

static const float *share_failed(batch_share *share)
{
    share->failed = 1;
    return NULL;
}

/* cnnrt_batch_rows_fn: this rank's n rows at their place among the batch's, the other
 * ranks' gathered around them. */
static const float *gather_batch_rows(void *ctx, const float *in, int64_t stride, int64_t n,
                                      int64_t elems, int64_t *total)
{
    batch_share *share = ctx;
    int64_t begin, end;
    cnnrt_mpi_share(share->batch, &begin, &end);
    if (share->failed)
        return NULL;
    if (end - begin != n) {
        cnnrt_fail(&share->err, "rank %d: internal error: a batch statistic over %lld "
                   "images, this rank's share is %lld", cnnrt_mpi_rank(), (long long)n,
                   (long long)(end - begin));
        return share_failed(share);
    }
    int64_t floats = share->batch * elems;
    if (batch_rows_floats < floats) {
        free(batch_rows);
        batch_rows = malloc((size_t)(floats > 0 ? floats : 1) * sizeof(float));
        batch_rows_floats = batch_rows ? floats : 0;
        if (!batch_rows) {
            cnnrt_fail(&share->err, "rank %d: out of memory for the batch statistics "
                       "(%lld floats)", cnnrt_mpi_rank(), (long long)floats);
            return share_failed(share);
        }
    }
    for (int64_t b = 0; b < n; b++)
        memcpy(batch_rows + (begin + b) * elems, in + b * stride, (size_t)elems * sizeof(float));
    double start = now();
    if (cnnrt_mpi_gather_rows(batch_rows, share->batch, elems * (int64_t)sizeof(float),
                              &share->err))
        return share_failed(share);
    gather_seconds += now() - start;
    gathers++;
    *total = share->batch;
    return batch_rows;
}


void cnnrt_mpi_train_free(void)
{
    const char *stats = getenv("CNNC_MPI_STATS");
    if (sum_steps > 0 && stats && *stats == '1')
        fprintf(stderr, "mpi: rank %d of %d: %lld steps, %.3f ms per step in the gradient sum "
                "(%lld floats)\n", cnnrt_mpi_rank(), cnnrt_mpi_size(), (long long)sum_steps,
                1e3 * sum_seconds / (double)sum_steps, (long long)sum_floats);
    if (sum_steps > 0 && gathers > 0 && stats && *stats == '1')
        fprintf(stderr, "mpi: rank %d of %d: %.1f gathers of batch statistics per step, "
                "%.3f ms per step in them\n", cnnrt_mpi_rank(), cnnrt_mpi_size(),
                (double)gathers / (double)sum_steps, 1e3 * gather_seconds / (double)sum_steps);
    sum_steps = 0;
    sum_seconds = 0;
    gathers = 0;
    gather_seconds = 0;
    free(step_buffer);
    step_buffer = NULL;
    step_buffer_floats = 0;
    free(batch_rows);
    batch_rows = NULL;
    batch_rows_floats = 0;
}

int cnnrt_mpi_train_step(const cnnrt_model *model, float *params, float *opt_state,
                         const float *x, const int32_t *labels, int64_t n, int64_t step,
                         float lr, uint64_t seed, float *stats, float *ws, cnnrt_pool *pool,
                         int local_stop, int *agreed_stop, cnnrt_err *e)
{
    int64_t P = model->param_floats;
    if (step_buffer_floats < P + 3) {
        free(step_buffer);
        step_buffer = cnnrt_aligned_alloc((size_t)(P + 3) * sizeof(float));
        step_buffer_floats = P + 3;
    }
    float *grad = step_buffer;
    int64_t begin, end;
    cnnrt_mpi_share(n, &begin, &end);
    int64_t image_floats = model->input_h * model->input_w * model->input_c;
    /* Dropout masks are drawn by the image's place in the call: shares after the first get
     * a seed of their own so that no two ranks drop alike (the masks then differ from one
     * process's, which draws them by the place in the whole batch). */
    uint64_t share_seed = begin == 0 ? seed : cnnrt_mix64(seed ^ cnnrt_mix64((uint64_t)begin));
    batch_share share = {.batch = n};
    cnnrt_batch_rows_hook(gather_batch_rows, &share);
    model->train_gradients(params, x + begin * image_floats, labels + begin, end - begin,
                           share_seed, grad, grad + P, ws, pool);
    cnnrt_batch_rows_hook(NULL, NULL);
    if (share.failed) {
        *e = share.err;
        return -1;
    }
    grad[P + 2] = local_stop ? 1.0f : 0.0f;
    double start = now();
    if (cnnrt_mpi_sum_floats(grad, P + 3, e))
        return -1;
    sum_seconds += now() - start;
    sum_steps++;
    sum_floats = P + 3;
    stats[0] = grad[P];
    stats[1] = grad[P + 1];
    *agreed_stop = grad[P + 2] > 0;
    model->train_update(params, opt_state, grad, n, step, lr);
    return 0;
}
