/* The processes of one run started by mpirun (data-parallel training, evaluation and
 * Grad-CAM over several processes and machines), private to the runtime's program.
 *
 * A program started without mpirun is one process (rank 0 of 1) and never initialises MPI:
 * MPI_Init runs only when Open MPI's launcher started the program (OMPI_COMM_WORLD_SIZE or
 * PMIX_RANK in the environment), because a singleton MPI_Init costs about a second (2.2 s
 * measured under load) and would slow every `predict`. Without MPI at build time
 * (CNNC_HAVE_MPI undefined) everything here is the one-process version.
 *
 * Rank r of R owns the contiguous share [r*n/R, (r+1)*n/R) of n images: the cut the thread
 * pool makes of a batch over threads, so that R ranks of one thread sum a batch's gradients
 * from the same pieces as one rank of R threads. Only rank 0 prints (the others' standard
 * output goes to /dev/null; their error messages name their rank) and writes files.
 *
 * Every collective waits with a watch (mpi.c): when the signal flag given to
 * cnnrt_mpi_watch_signal is set while a collective has not completed for half a second (mpirun
 * sends SIGTERM to every rank when one dies, or on Ctrl-C), or after CNNC_MPI_TIMEOUT
 * seconds (default 600) without an answer, the collective fails with a message instead of
 * hanging, and the process then ends without MPI_Finalize. */
#ifndef CNNRT_MPI_RANKS_H
#define CNNRT_MPI_RANKS_H

#include <signal.h>
#include <stdint.h>

#include "cnnrt_common.h"
#include "cnnrt_model.h"
#include "cnnrt_pool.h"

/* Initialises MPI when mpirun started the program; sends ranks > 0's standard output to
 * /dev/null. Returns 0, or -1 with e when MPI would not start. */
int cnnrt_mpi_start(int *argc, char ***argv, cnnrt_err *e);
/* Ends MPI (MPI_Finalize, which waits for every rank) unless a collective failed (then the
 * process ends with status at once) or a rank left the lockstep with an error (MPI_Abort). */
void cnnrt_mpi_finish(int status);
int cnnrt_mpi_rank(void);    /* 0 in one process */
int cnnrt_mpi_size(void);    /* 1 in one process */
/* Threads per rank when --threads is not given: the CPUs this process may use divided by
 * the ranks on this machine; 0 (the pool's default) in one process. */
int cnnrt_mpi_default_threads(void);
/* This rank's share [*begin, *end) of n items. */
void cnnrt_mpi_share(int64_t n, int64_t *begin, int64_t *end);

/* 1 while the ranks run a loop of collectives in lockstep (the training loop): a rank that
 * ends with an error of its own then (cnnrt_mpi_finish(status != 0)) aborts the job with
 * MPI_Abort, since the others wait for it in their next collective. */
void cnnrt_mpi_lockstep(int on);

/* The flag a stop signal's handler sets (cmd_train.c), watched while collectives wait;
 * NULL: none. */
void cnnrt_mpi_watch_signal(volatile sig_atomic_t *flag);

/* Collectives over every rank; each returns 0, or -1 with e when the others did not answer
 * (see above) or MPI failed. In one process they change nothing and return 0. */
/* buf[0..n) = the sum over ranks, the same bits on every rank. */
int cnnrt_mpi_sum_floats(float *buf, int64_t n, cnnrt_err *e);
int cnnrt_mpi_sum_doubles(double *buf, int64_t n, cnnrt_err *e);
/* *value = the largest over ranks. */
int cnnrt_mpi_max_int(int *value, cnnrt_err *e);
/* bytes of buf from rank 0 to every rank. */
int cnnrt_mpi_broadcast(void *buf, int64_t bytes, cnnrt_err *e);
/* Each rank holds rows [begin, end) of its share of n rows (cnnrt_mpi_share) at
 * all + begin*row_bytes; afterwards every rank holds all n rows, in order. */
int cnnrt_mpi_gather_rows(void *all, int64_t n, int64_t row_bytes, cnnrt_err *e);

/* Whether a status (PROG_OK = 0 or an exit status) is 0 on every rank: returns the largest
 * status over ranks (so a rank that failed alone stops the others too, which then return
 * its status without a message of their own), or 1 with a message when the ranks could not
 * agree. */
int cnnrt_mpi_agree(int status, const char *speaker);

/* One data-parallel training step over the ranks (runtime/mpi_train.c): every rank holds
 * the whole batch (x, labels: n images), computes the gradients of its share with
 * model->train_gradients, the gradients, stats and stop flags are summed over ranks in one
 * cnnrt_mpi_sum_floats, and every rank applies model->train_update for n images. stats as
 * train_step's, over the whole batch. With batch_norm the batch statistics are gathered
 * over the ranks during train_gradients (cnnrt_batch_mean's hook), so they are the whole
 * batch's on every rank. local_stop: this rank was asked to stop;
 * *agreed_stop: some rank was (the same answer on every rank). -1 with e when the
 * collective failed. */
int cnnrt_mpi_train_step(const cnnrt_model *model, float *params, float *opt_state,
                         const float *x, const int32_t *labels, int64_t n, int64_t step,
                         float lr, uint64_t seed, float *stats, float *ws, cnnrt_pool *pool,
                         int local_stop, int *agreed_stop, cnnrt_err *e);
void cnnrt_mpi_train_free(void);

#endif
