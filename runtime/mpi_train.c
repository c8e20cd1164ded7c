/* One data-parallel training step over the ranks (mpi_ranks.h): the gradients of this
 * rank's share of the batch, one sum over ranks of [gradients | loss sum, correct | stop
 * flags], the same optimizer update on every rank.
 *
 * Same answers: the sum of two floats does not depend on their order, so with 2 ranks the
 * sum is exactly what one rank of 2 threads computes from the same pieces (the shares are
 * the thread pool's cut): weights bit-identical to 1 rank x 2 threads. With more ranks the
 * grouping of the sum is MPI_Allreduce's, fixed by Open MPI for a given number of ranks and
 * message size, so a fixed layout still gives the same bits run after run, and every rank
 * the same bits (the allreduce hands all ranks one result). */
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

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void cnnrt_mpi_train_free(void)
{
    const char *stats = getenv("CNNC_MPI_STATS");
    if (sum_steps > 0 && stats && *stats == '1')
        fprintf(stderr, "mpi: rank %d of %d: %lld steps, %.3f ms per step in the gradient sum "
                "(%lld floats)\n", cnnrt_mpi_rank(), cnnrt_mpi_size(), (long long)sum_steps,
                1e3 * sum_seconds / (double)sum_steps, (long long)sum_floats);
    sum_steps = 0;
    sum_seconds = 0;
    free(step_buffer);
    step_buffer = NULL;
    step_buffer_floats = 0;
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
    model->train_gradients(params, x + begin * image_floats, labels + begin, end - begin,
                           share_seed, grad, grad + P, ws, pool);
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
