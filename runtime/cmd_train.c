/* `PROG train`: Keras's model.fit for a compiled model.
 *
 * Reproducibility, and what --resume relies on:
 *   - initial weights: cnnrt_init_params(seed) (glorot_uniform kernels, zero biases);
 *   - validation: the LAST validation_split fraction of the training file, before any
 *     shuffling (Keras);
 *   - epoch e visits the training images in cnnrt_shuffle_order(n, seed, e), so an epoch's
 *     order does not depend on how the run got there;
 *   - the optimizer step s (1-based, counted over the whole run) gets the dropout seed
 *     cnnrt_mix64(seed ^ cnnrt_mix64(s));
 *   - the weights file stores params, Adam's m and v, epochs done, steps done, the seed and
 *     the per-epoch history. Steps done beyond the completed epochs tell where an
 *     interrupted epoch stopped, so resuming continues with its very next batch.
 * With the same thread count, an interrupted and resumed run therefore writes the same
 * bytes as an uninterrupted one. */
#include "program_util.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrt_augment.h"
#include "cnnrt_callbacks.h"
#include "cnnrt_image.h"
#include "cnnrt_limits.h"
#include "cnnrt_progress.h"
#include "cnnrt_weights.h"
#include "mpi_ranks.h"
#include "train_speed.h"

typedef struct train_options {
    int64_t epochs, batch_size, seed, threads;
    double validation_split, lr;
    const char *data, *weights;
    int resume, quiet, skip_bad;
    int seed_given;
    /* Callbacks from the command line, over the model file's (cnnrt_callbacks.h). */
    int64_t initial_epoch, es_patience, rlr_patience, cooldown;
    double min_delta, rlr_factor, min_lr;
    const char *monitor;
    int restore_best_weights, save_best_only;
    int initial_epoch_given, es_given, rlr_given, cooldown_given, min_delta_given,
        rlr_factor_given, min_lr_given;
    int report;          /* --report: write NAME_report.html after training */
} train_options;

typedef struct train_state {
    float *params, *opt_state;
    int64_t epochs_done, steps_done;
    uint64_t seed;
    cnnrt_epoch_record *history;   /* room for opts.epochs + 1 records */
    int64_t num_history;
    /* The unfinished epoch of an interrupted run, saved as one extra history record
     * {loss sum, correct count, steps done, images done} after the completed epochs'
     * records (all exact in float), so the resumed epoch starts at the right batch and
     * reports the same figures as an uninterrupted one (and the final file has the same
     * bytes). has_partial: such a record was loaded. */
    float partial_loss_sum, partial_correct;
    int64_t partial_steps, partial_images;
    int has_partial;
    cnnrt_callback_state callbacks;
    float *best_params;   /* early stopping's best epoch (restore_best_weights), else NULL */
    train_speed *speed;   /* per epoch, like history: NAME.speed.csv (train_speed.h) */
} train_state;

typedef struct train_run {
    const prog_ctx *ctx;
    const train_options *opts;
    train_state *st;
    cnnrt_dataset train, val;
    prog_exec ex;
    char weights_path[4096];
    float *x;
    int32_t *labels;
    int64_t *order;
    cnnrt_callbacks cb;
    cnnrt_augment aug;
    float *aug_scratch;
    int stop_agreed;     /* under mpirun: some rank was asked to stop (mpi_ranks.h) */
} train_run;

/* ---- Ctrl-C, SIGTERM, SIGHUP --------------------------------------------------------------- */

/* The signal that asked training to stop (0: none). Ctrl-C (SIGINT), SIGTERM (kill, a
 * service manager, a batch system's time limit) and SIGHUP (the terminal closed) all take the
 * same path: the loop finishes its step, saves and stops, and the program exits with
 * 128 + the signal's number, as if the signal had ended it. */
static volatile sig_atomic_t interrupted;

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
enum { NUM_STOP_SIGNALS = sizeof stop_signals / sizeof stop_signals[0] };

static void on_stop_signal(int sig)
{
    interrupted = sig;
}

/* SA_RESETHAND: the same signal a second time ends the program the usual way. */
static void catch_stop_signals(struct sigaction old[NUM_STOP_SIGNALS])
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    interrupted = 0;
    for (int i = 0; i < NUM_STOP_SIGNALS; i++)
        sigaction(stop_signals[i], &sa, &old[i]);
}

static void restore_signals(const struct sigaction old[NUM_STOP_SIGNALS])
{
    for (int i = 0; i < NUM_STOP_SIGNALS; i++)
        sigaction(stop_signals[i], &old[i], NULL);
}

/* From taking the weights file's lock until training begins, and after it ends until the lock
 * is released, the stop signals are blocked: one that comes meanwhile waits, so the lock file
 * is always removed, and is noticed when training begins (nothing is trained or saved then)
 * or acts once the lock is released. Threads started meanwhile (the pool) keep them blocked,
 * so they reach the main thread. */
static void block_stop_signals(sigset_t *old_mask)
{
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < NUM_STOP_SIGNALS; i++)
        sigaddset(&set, stop_signals[i]);
    pthread_sigmask(SIG_BLOCK, &set, old_mask);
}

static void unblock_stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < NUM_STOP_SIGNALS; i++)
        sigaddset(&set, stop_signals[i]);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static const char *stop_signal_name(int sig)
{
    switch (sig) {
    case SIGINT: return "Ctrl-C (SIGINT)";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
    }
}

/* ---- saving -------------------------------------------------------------------------------- */

static int save_weights_to(train_run *r, const char *path, int unfinished_epoch, cnnrt_err *e)
{
    if (cnnrt_mpi_rank() > 0)
        return 0;   /* under mpirun, rank 0 writes the files */
    const prog_ctx *ctx = r->ctx;
    cnnrt_weights w;
    memset(&w, 0, sizeof w);
    w.fingerprint = ctx->model->fingerprint;
    snprintf(w.model_name, sizeof w.model_name, "%s", ctx->model->name);
    w.num_tensors = ctx->info.num_params;
    w.tensors = ctx->info.params;
    w.params = r->st->params;
    w.param_floats = ctx->model->param_floats;
    w.opt_kind = ctx->model->opt_state_floats > 0 ? ctx->info.optimizer : CNNRT_OPT_NONE;
    w.opt_state = r->st->opt_state;
    w.opt_state_floats = ctx->model->opt_state_floats;
    w.epochs_done = r->st->epochs_done;
    w.steps_done = r->st->steps_done;
    w.seed = r->st->seed;
    w.num_history = r->st->num_history;
    w.history = r->st->history;
    if (unfinished_epoch) {
        r->st->history[w.num_history++] = (cnnrt_epoch_record){
            r->st->partial_loss_sum, r->st->partial_correct, (float)r->st->partial_steps,
            (float)r->st->partial_images};
    }
    /* The callbacks' state; once early stopping restored the best weights, the file's
     * tensors are those and the last epoch's ride along for --resume. */
    w.num_callback_values = CNNRT_CALLBACK_STATE_VALUES;
    cnnrt_callback_state_pack(&r->st->callbacks, w.callback_values);
    if (r->st->best_params && r->st->callbacks.es_best_epoch >= 0) {
        int restored = r->st->callbacks.restored != 0;
        w.params = restored ? r->st->best_params : r->st->params;
        w.other_params = restored ? r->st->params : r->st->best_params;
    }
    return cnnrt_weights_save(path, &w, e);
}

static int save_weights(train_run *r, int unfinished_epoch, cnnrt_err *e)
{
    return save_weights_to(r, r->weights_path, unfinished_epoch, e);
}

/* "NAME.weights" -> "NAME.history.csv": beside the weights, named after them. */
static void sibling_path(const char *weights, const char *suffix, char *out, size_t size)
{
    cnnrt_prog_beside_weights(weights, suffix, out, size);
}

/* The temporary files that runs on this weights file killed while saving (kill -9, a power
 * cut) left behind: removed as soon as this run owns the file, even if it then saves
 * nothing (its epochs were already done), so none outlives the next run. */
static void remove_stale_saves(const char *weights_path)
{
    char path[4600];
    cnnrt_remove_stale_temporaries(weights_path);
    sibling_path(weights_path, ".history.csv", path, sizeof path);
    cnnrt_remove_stale_temporaries(path);
    sibling_path(weights_path, ".history.png", path, sizeof path);
    cnnrt_remove_stale_temporaries(path);
    cnnrt_train_speed_path(weights_path, path, sizeof path);
    cnnrt_remove_stale_temporaries(path);
}

static void csv_value(FILE *f, float v, int last)
{
    if (isfinite(v))
        fprintf(f, "%.6f", (double)v);
    fputc(last ? '\n' : ',', f);
}

static int write_history_csv(const char *path, const train_state *st, cnnrt_err *e)
{
    cnnrt_atomic_file f;
    if (cnnrt_atomic_open(&f, path, e))
        return -1;
    fprintf(f.fp, "epoch,loss,acc,val_loss,val_acc\n");
    for (int64_t i = 0; i < st->num_history; i++) {
        const cnnrt_epoch_record *h = &st->history[i];
        fprintf(f.fp, "%lld,", (long long)(i + 1));
        csv_value(f.fp, h->loss, 0);
        csv_value(f.fp, h->acc, 0);
        csv_value(f.fp, h->val_loss, 0);
        csv_value(f.fp, h->val_acc, 1);
    }
    return cnnrt_atomic_commit(&f, e);
}

/* Two charts side by side: loss and accuracy, training solid, validation dashed. */
static int write_history_chart(const char *path, const train_state *st, const char *model,
                               cnnrt_err *e)
{
    int n = (int)st->num_history;
    double *v = cnnrt_xcalloc((size_t)(4 * n + 1), sizeof *v);
    for (int i = 0; i < n; i++) {
        v[i] = st->history[i].loss;
        v[n + i] = st->history[i].val_loss;
        v[2 * n + i] = st->history[i].acc;
        v[3 * n + i] = st->history[i].val_acc;
    }
    cnnrt_chart_series loss[2] = {{"loss", NULL, v, n, 0}, {"val_loss", NULL, v + n, n, 1}};
    cnnrt_chart_series acc[2] = {{"acc", NULL, v + 2 * n, n, 0},
                                 {"val_acc", NULL, v + 3 * n, n, 1}};
    char title_loss[200], title_acc[200];
    snprintf(title_loss, sizeof title_loss, "%s: loss", model);
    snprintf(title_acc, sizeof title_acc, "%s: accuracy", model);
    cnnrt_chart charts[2] = {{title_loss, "epoch", "loss", 0, 0, loss, 2},
                             {title_acc, "epoch", "accuracy", 0, 0, acc, 2}};
    cnnrt_image pictures[2] = {{0}, {0}}, panel = {0};
    int rc = -1;
    if (cnnrt_chart_render(&charts[0], &pictures[0], e) ||
        cnnrt_chart_render(&charts[1], &pictures[1], e))
        goto done;
    cnnrt_panel_item items[2] = {{&pictures[0], NULL, 0}, {&pictures[1], NULL, 0}};
    cnnrt_panel_style style;
    cnnrt_panel_style_default(&style);
    style.padding = 4;
    if (cnnrt_panel_compose(items, 2, &style, &panel, e))
        goto done;
    rc = cnnrt_png_write(path, &panel, e);
done:
    cnnrt_image_free(&pictures[0]);
    cnnrt_image_free(&pictures[1]);
    cnnrt_image_free(&panel);
    free(v);
    return rc;
}

/* Weights, then the history and the speed beside them. */
static int save_all(train_run *r, cnnrt_err *e)
{
    if (cnnrt_mpi_rank() > 0)
        return 0;
    if (save_weights(r, 0, e))
        return -1;
    char path[4200];
    sibling_path(r->weights_path, ".history.csv", path, sizeof path);
    if (write_history_csv(path, r->st, e))
        return -1;
    cnnrt_train_speed_path(r->weights_path, path, sizeof path);
    if (cnnrt_train_speed_write(path, r->st->speed, r->st->num_history, e))
        return -1;
    sibling_path(r->weights_path, ".history.png", path, sizeof path);
    return write_history_chart(path, r->st, r->ctx->model->name, e);
}

/* ---- starting state ------------------------------------------------------------------------ */

static int start_fresh(train_run *r)
{
    const prog_ctx *ctx = r->ctx;
    train_state *st = r->st;
    st->seed = (uint64_t)r->opts->seed;
    cnnrt_init_params(ctx->info.params, ctx->info.num_params, st->seed, st->params);
    /* Keras's fit(initial_epoch=N): the epochs are numbered (and shuffled) from N on; the
     * history keeps empty rows for the epochs before. */
    int64_t first = r->opts->initial_epoch;
    if (first > 0 && first >= r->opts->epochs)
        return cnnrt_prog_error(ctx, "--initial-epoch %lld: nothing to train with --epochs %lld (it "
                          "is the total, counting the epochs before)", (long long)first,
                          (long long)r->opts->epochs);
    for (int64_t i = 0; i < first; i++)
        st->history[i] = (cnnrt_epoch_record){NAN, NAN, NAN, NAN};
    st->epochs_done = st->num_history = first;
    return PROG_OK;
}

/* The whole command that continues training the weights file, already trained for DONE
 * epochs, for this run's number of epochs more: "./mnist_cam train --resume --epochs 20". */
static void format_resume_command(const train_run *r, int64_t done, char *out, size_t size)
{
    snprintf(out, size, "%s train --resume --epochs %lld%s%s", r->ctx->prog,
             (long long)(done + r->opts->epochs), r->opts->weights ? " --weights " : "",
             r->opts->weights ? r->opts->weights : "");
}

/* Before a fresh start replaces an existing weights file: says so, and how to continue
 * training that file instead (when it is one of this model's). */
static void note_replacing_weights(const train_run *r)
{
    cnnrt_weights_expect expect;
    cnnrt_prog_weights_expect(r->ctx, &expect);
    cnnrt_weights w;
    cnnrt_err e;
    if (cnnrt_weights_load(r->weights_path, &expect, &w, &e)) {
        printf("Note: starting from new random weights; %s will be replaced\n", r->weights_path);
        return;
    }
    char resume[4600];
    format_resume_command(r, w.epochs_done, resume, sizeof resume);
    printf("Note: starting from new random weights; %s will be replaced (to continue "
           "training it instead: %s)\n", r->weights_path, resume);
    cnnrt_weights_free(&w);
}

/* The callbacks' state of a file being resumed: the best weights early stopping keeps, and
 * the last epoch's weights back in place when the best ones had been restored. */
static int resume_callbacks(train_run *r, const cnnrt_weights *w)
{
    const prog_ctx *ctx = r->ctx;
    train_state *st = r->st;
    cnnrt_err e;
    if (cnnrt_callback_state_unpack(w->callback_values, w->num_callback_values, &st->callbacks,
                                    &e))
        return cnnrt_prog_error(ctx, "cannot resume from %s: %s", r->weights_path, e.msg);
    if (st->callbacks.stopped_epoch >= 0)
        return cnnrt_prog_error(ctx, "cannot resume from %s: early stopping ended its training after "
                          "epoch %lld; train without --resume to start afresh",
                          r->weights_path, (long long)st->callbacks.stopped_epoch + 1);
    size_t bytes = (size_t)ctx->model->param_floats * sizeof(float);
    int restored = st->callbacks.restored != 0;
    const float *last = restored ? w->other_params : w->params;
    const float *best = restored ? w->params : w->other_params;
    if (!last)
        return cnnrt_prog_error(ctx, "cannot resume from %s: its last epoch's weights are missing",
                          r->weights_path);
    memcpy(st->params, last, bytes);
    st->callbacks.restored = 0;
    if (st->best_params && st->callbacks.es_best_epoch >= 0) {
        if (!best)
            return cnnrt_prog_error(ctx, "cannot resume from %s: it holds no best weights for "
                              "restore_best_weights (was it trained without it?)",
                              r->weights_path);
        memcpy(st->best_params, best, bytes);
    }
    return PROG_OK;
}

/* The speed of the epochs done before, from NAME.speed.csv; without it (trained by an
 * older cnnc, or removed) they stay unrecorded. */
static void resume_speed(train_run *r)
{
    char path[4200];
    cnnrt_err e;
    cnnrt_train_speed_path(r->weights_path, path, sizeof path);
    if (cnnrt_train_speed_read(path, r->st->speed, r->st->epochs_done, &e) < 0)
        memset(r->st->speed, 0, (size_t)r->st->epochs_done * sizeof *r->st->speed);
}

static int start_resumed(train_run *r)
{
    const prog_ctx *ctx = r->ctx;
    train_state *st = r->st;
    cnnrt_weights_expect expect;
    cnnrt_prog_weights_expect(ctx, &expect);
    cnnrt_weights w;
    cnnrt_err e;
    if (cnnrt_weights_load(r->weights_path, &expect, &w, &e))
        return cnnrt_prog_error(ctx, "cannot resume: %s", e.msg);
    int status = PROG_OK;
    int dropped = ctx->model->opt_state_floats > 0 ? w.dropped_opt_kind : CNNRT_OPT_NONE;
    const char *model_opt = cnnrt_opt_kind_name(ctx->info.optimizer);
    if (dropped != CNNRT_OPT_NONE && dropped != ctx->info.optimizer)
        status = cnnrt_prog_error(ctx, "cannot resume from %s: it holds the state of optimizer '%s', "
                            "but the model now trains with '%s'; train without --resume to "
                            "start afresh", r->weights_path, cnnrt_opt_kind_name(dropped),
                            model_opt);
    else if (dropped != CNNRT_OPT_NONE)
        status = cnnrt_prog_error(ctx, "cannot resume from %s: its '%s' state does not fit the model's "
                            "'%s' settings (they changed); train without --resume to start "
                            "afresh", r->weights_path, model_opt, model_opt);
    else if (ctx->model->opt_state_floats > 0 && w.opt_kind == CNNRT_OPT_NONE)
        status = cnnrt_prog_error(ctx, "cannot resume from %s: it holds no optimizer state (it was "
                            "not saved by 'train')", r->weights_path);
    else if (r->opts->seed_given && (uint64_t)r->opts->seed != w.seed)
        status = cnnrt_prog_error(ctx, "cannot resume from %s with --seed %lld: it was trained with "
                            "seed %llu", r->weights_path, (long long)r->opts->seed,
                            (unsigned long long)w.seed);
    else if (w.epochs_done >= r->opts->epochs) {
        char resume[4600];
        format_resume_command(r, w.epochs_done, resume, sizeof resume);
        status = cnnrt_prog_error(ctx, "%s has already been trained for %lld epochs; --epochs is "
                            "the total, so to train it further: %s", r->weights_path,
                            (long long)w.epochs_done, resume);
    }
    else if (w.num_history > w.epochs_done + 1 || w.steps_done < 0)
        status = cnnrt_prog_error(ctx, "%s: inconsistent training progress", r->weights_path);
    if (status == PROG_OK) {
        memcpy(st->params, w.params, (size_t)ctx->model->param_floats * sizeof(float));
        if (ctx->model->opt_state_floats > 0)
            memcpy(st->opt_state, w.opt_state,
                   (size_t)ctx->model->opt_state_floats * sizeof(float));
        st->epochs_done = w.epochs_done;
        st->steps_done = w.steps_done;
        st->seed = w.seed;
        st->num_history = w.num_history;
        memcpy(st->history, w.history, (size_t)w.num_history * sizeof *w.history);
        resume_speed(r);
        status = resume_callbacks(r, &w);
        if (st->num_history > st->epochs_done) {   /* an interrupted epoch's running sums */
            st->num_history--;
            const cnnrt_epoch_record *p = &st->history[st->num_history];
            st->partial_loss_sum = p->loss;
            st->partial_correct = p->acc;
            st->partial_steps = isfinite(p->val_loss) ? (int64_t)p->val_loss : -1;
            st->partial_images = isfinite(p->val_acc) ? (int64_t)p->val_acc : -1;
            st->has_partial = 1;
        }
    }
    cnnrt_weights_free(&w);
    return status;
}

/* Under mpirun: once every rank is ready, rank 0's starting state (fresh or resumed from
 * its weights file, which the other machines need not have) goes to every rank. */
static int share_start_state(train_run *r, int status)
{
    if (cnnrt_mpi_size() == 1)
        return status;
    status = cnnrt_mpi_agree(status, r->ctx->speaker);
    if (status != PROG_OK)
        return status;
    const cnnrt_model *m = r->ctx->model;
    train_state *st = r->st;
    struct {
        int64_t epochs_done, steps_done, num_history, partial_steps, partial_images;
        int64_t has_partial;
        uint64_t seed;
        float partial_loss_sum, partial_correct;
        cnnrt_callback_state callbacks;
    } head = {st->epochs_done, st->steps_done, st->num_history, st->partial_steps,
              st->partial_images, st->has_partial, st->seed, st->partial_loss_sum,
              st->partial_correct, st->callbacks};
    cnnrt_err e;
    int failed = cnnrt_mpi_broadcast(&head, sizeof head, &e);
    if (!failed && (head.num_history < 0 || head.num_history > r->opts->epochs + 1))
        return cnnrt_prog_error(r->ctx, "rank %d: a bad starting state came from rank 0",
                          cnnrt_mpi_rank());
    if (!failed) {
        st->epochs_done = head.epochs_done;
        st->steps_done = head.steps_done;
        st->num_history = head.num_history;
        st->partial_steps = head.partial_steps;
        st->partial_images = head.partial_images;
        st->has_partial = (int)head.has_partial;
        st->seed = head.seed;
        st->partial_loss_sum = head.partial_loss_sum;
        st->partial_correct = head.partial_correct;
        st->callbacks = head.callbacks;
        failed = cnnrt_mpi_broadcast(st->params, m->param_floats * 4, &e) ||
                 cnnrt_mpi_broadcast(st->opt_state, m->opt_state_floats * 4, &e) ||
                 cnnrt_mpi_broadcast(st->history, st->num_history * (int64_t)sizeof *st->history,
                                     &e) ||
                 (st->best_params &&
                  cnnrt_mpi_broadcast(st->best_params, m->param_floats * 4, &e));
    }
    return failed ? cnnrt_prog_error(r->ctx, "%s", e.msg) : PROG_OK;
}

/* ---- one epoch ----------------------------------------------------------------------------- */

/* Under mpirun each rank infers its share of the validation images; the per-image figures
 * are gathered and summed in image order, so every rank gets one process's figures. */
static int validate(train_run *r, double *val_loss, double *val_acc, cnnrt_err *e)
{
    const prog_ctx *ctx = r->ctx;
    int64_t n = r->val.count, k = ctx->model->num_classes;
    *val_loss = *val_acc = NAN;
    if (n == 0)
        return 0;
    int64_t begin, end;
    cnnrt_mpi_share(n, &begin, &end);
    float *probs = cnnrt_xmalloc((size_t)((end - begin) * k + 1) * sizeof *probs);
    float *logits = cnnrt_xmalloc((size_t)((end - begin) * k + 1) * sizeof *logits);
    double *figures = cnnrt_xmalloc((size_t)(2 * n) * sizeof *figures);   /* loss, correct */
    cnnrt_prog_infer_dataset(ctx, &r->ex, r->st->params, &r->val, begin, end - begin, probs, logits);
    for (int64_t i = begin; i < end; i++) {
        const float *p = probs + (i - begin) * k, *l = logits + (i - begin) * k;
        figures[2 * i] = cnnrt_prog_loss_of(ctx, p, l, r->val.labels[i]);
        figures[2 * i + 1] = cnnrt_prog_argmax(p, k) == r->val.labels[i];
    }
    free(probs);
    free(logits);
    int status = cnnrt_mpi_gather_rows(figures, n, 2 * sizeof *figures, e);
    double loss = 0, correct = 0;
    for (int64_t i = 0; i < n && status == 0; i++) {
        loss += figures[2 * i];
        correct += figures[2 * i + 1];
    }
    free(figures);
    *val_loss = loss / (double)n;
    *val_acc = correct / (double)n;
    return status;
}

/* Whether training stops after this step: the stop signal's flag in one process; under
 * mpirun what the ranks agreed at the step's collective, so that all stop after the same
 * step (a rank the signal reaches later has it counted at the next step). */
static int stop_requested(const train_run *r)
{
    return cnnrt_mpi_size() > 1 ? r->stop_agreed : interrupted != 0;
}

/* The same between steps (before training, after an epoch), with a collective of its own;
 * -1 after printing why the ranks could not agree. */
static int agree_on_stop(train_run *r)
{
    if (cnnrt_mpi_size() == 1)
        return interrupted != 0;
    int stop = interrupted != 0;
    cnnrt_err e;
    if (cnnrt_mpi_max_int(&stop, &e)) {
        fprintf(stderr, "%s: error: %s\n", r->ctx->speaker, e.msg);
        return -1;
    }
    if (stop && !interrupted)
        interrupted = SIGTERM;   /* what mpirun sends every rank on Ctrl-C */
    r->stop_agreed = stop;
    return stop;
}

/* One optimizer step on the batch in r->x: train_step in one process, the ranks' shares
 * summed under mpirun. -1 after printing why the ranks could not go on. */
static int train_step(train_run *r, int64_t n, int64_t global_step, float lr, uint64_t seed,
                      float stats[2])
{
    const cnnrt_model *m = r->ctx->model;
    train_state *st = r->st;
    if (cnnrt_mpi_size() == 1) {
        m->train_step(st->params, st->opt_state, r->x, r->labels, n, global_step, lr, seed,
                      stats, r->ex.ws, r->ex.pool);
        return 0;
    }
    cnnrt_err e;
    if (!cnnrt_mpi_train_step(m, st->params, st->opt_state, r->x, r->labels, n, global_step,
                              lr, seed, stats, r->ex.ws, r->ex.pool, interrupted != 0,
                              &r->stop_agreed, &e)) {
        if (r->stop_agreed && !interrupted)
            interrupted = SIGTERM;
        return 0;
    }
    if (!r->opts->quiet)
        printf("\n");
    fprintf(stderr, "%s: error: %s; training stopped at step %lld, and %s keeps what was saved "
            "last\n", r->ctx->speaker, e.msg, (long long)global_step, r->weights_path);
    return -1;
}

typedef enum { EPOCH_DONE, EPOCH_INTERRUPTED, EPOCH_DIVERGED, EPOCH_FAILED } epoch_result;

/* The rate of optimizer update `step` (1-based): the schedule's at Keras's iteration
 * step - 1, or the one ReduceLROnPlateau set, or --lr; as the float32 Keras keeps. */
static double current_lr(const train_run *r, int64_t step)
{
    if (r->cb.schedule.kind != CNNRT_SCHEDULE_NONE)
        return (float)cnnrt_schedule_lr(&r->cb, r->opts->lr, step - 1);
    if (!isnan(r->st->callbacks.lr))
        return r->st->callbacks.lr;
    return (float)r->opts->lr;
}

/* The augmentation layers on each picture of the batch of optimizer update `step`, the
 * pictures split over the pool's threads (each picture's random numbers depend only on the
 * seed, the step and its place in the batch, so the result does not depend on the split). */
typedef struct augment_task {
    train_run *r;
    int64_t step;
} augment_task;

static void augment_range(void *arg, int64_t begin, int64_t end, int64_t worker)
{
    const augment_task *t = arg;
    const cnnrt_model *m = t->r->ctx->model;
    int64_t size = m->input_h * m->input_w * m->input_c;
    for (int64_t k = begin; k < end; k++) {
        uint64_t rng = cnnrt_augment_seed(t->r->st->seed, t->step, k);
        cnnrt_augment_image(&t->r->aug, t->r->x + k * size, m->input_h, m->input_w,
                            m->input_c, &rng, t->r->aug_scratch + worker * size);
    }
}

static void augment_batch(train_run *r, int64_t step, int64_t n)
{
    if (r->aug.num_layers == 0)
        return;
    augment_task task = {r, step};
    cnnrt_parallel_for(r->ex.pool, n, augment_range, &task);
}

/* *speed: the time and images of this run's steps of the epoch (train_speed.h). */
static epoch_result run_epoch(train_run *r, int64_t epoch, int64_t first_step,
                              cnnrt_progress *progress, double *loss_mean, double *acc_mean,
                              train_speed *speed)
{
    const prog_ctx *ctx = r->ctx;
    train_state *st = r->st;
    int64_t bs = r->opts->batch_size;
    int64_t steps = cnnrt_batch_count(r->train.count, bs);
    /* float sums: exactly what an interrupted run saves and a resumed one restores */
    float loss_sum = 0, correct = 0;
    int64_t images = 0;
    if (first_step > 0) {
        loss_sum = st->partial_loss_sum;
        correct = st->partial_correct;
        images = st->partial_images;
    }
    static const char *const names[2] = {"loss", "acc"};
    *speed = (train_speed){0, 0, cnnrt_pool_threads(r->ex.pool), bs};
    double start = cnnrt_now_seconds();
    cnnrt_shuffle_order(r->train.count, st->seed, epoch, r->order);
    for (int64_t step = first_step; step < steps; step++) {
        int64_t n = cnnrt_dataset_batch(&r->train, r->order, step, bs, r->x, r->labels);
        float stats[2] = {0, 0};
        int64_t global_step = st->steps_done + 1;
        augment_batch(r, global_step, n);
        uint64_t dropout_seed = cnnrt_mix64(st->seed ^ cnnrt_mix64((uint64_t)global_step));
        if (train_step(r, n, global_step, (float)current_lr(r, global_step), dropout_seed,
                       stats))
            return EPOCH_FAILED;
        if (!isfinite(stats[0])) {
            if (!r->opts->quiet)
                printf("\n");
            fprintf(stderr, "%s: error: the loss became %s at epoch %lld, step %lld/%lld: "
                    "training diverged (try a smaller --lr); %s keeps the weights of the last "
                    "completed epoch\n", ctx->speaker, isnan(stats[0]) ? "NaN" : "infinite",
                    (long long)epoch + 1, (long long)step + 1, (long long)steps,
                    r->weights_path);
            return EPOCH_DIVERGED;
        }
        st->steps_done = global_step;
        loss_sum += stats[0];
        correct += stats[1];
        images += n;
        st->partial_loss_sum = loss_sum;
        st->partial_correct = correct;
        st->partial_steps = step + 1;
        st->partial_images = images;
        speed->images += n;
        speed->seconds = cnnrt_now_seconds() - start;
        *loss_mean = (double)loss_sum / (double)images;
        *acc_mean = (double)correct / (double)images;
        if (!r->opts->quiet) {
            double values[2] = {*loss_mean, *acc_mean};
            cnnrt_progress_update(progress, step + 1, 2, names, values);
        }
        if (stop_requested(r) && step + 1 < steps)
            return EPOCH_INTERRUPTED;
    }
    return EPOCH_DONE;
}

/* Keras 3's EarlyStopping.on_train_end: the best epoch's weights replace the last ones (which
 * the file keeps for --resume). Returns 1 when it restored and saved them, 0 when there is
 * nothing to restore, -1 when saving failed. */
static int restore_best(train_run *r, cnnrt_err *e)
{
    train_state *st = r->st;
    if (!st->best_params || st->callbacks.es_best_epoch < 0)
        return 0;
    if (!r->opts->quiet)
        printf("Restoring model weights from the end of the best epoch: %lld.\n",
               (long long)st->callbacks.es_best_epoch + 1);
    st->callbacks.restored = 1;
    return save_all(r, e) ? -1 : 1;
}

/* The callbacks at the end of an epoch: the best weights file, early stopping, the
 * learning rate. Saves the weights (with the best ones restored) when training stops. */
static int end_epoch_callbacks(train_run *r, int64_t epoch, const cnnrt_epoch_record *rec,
                               int *stop, cnnrt_err *e)
{
    train_state *st = r->st;
    double values[4] = {rec->loss, rec->acc, rec->val_loss, rec->val_acc};
    double lr = current_lr(r, st->steps_done);
    double checkpoint_before = st->callbacks.checkpoint_best;
    cnnrt_epoch_decision d = cnnrt_callbacks_epoch_end(&r->cb, &st->callbacks, epoch, values,
                                                       lr);
    int quiet = r->opts->quiet;
    if (d.es_improved && st->best_params)
        memcpy(st->best_params, st->params,
               (size_t)r->ctx->model->param_floats * sizeof(float));
    if (d.checkpoint_improved) {
        char best[4200];
        sibling_path(r->weights_path, ".best.weights", best, sizeof best);
        const char *name = cnnrt_monitor_name(r->cb.checkpoint.monitor);
        if (!quiet && isnan(checkpoint_before))
            printf("Epoch %lld: %s improved from inf to %.5f, saving model to %s\n",
                   (long long)epoch + 1, name, values[r->cb.checkpoint.monitor], best);
        else if (!quiet)
            printf("Epoch %lld: %s improved from %.5f to %.5f, saving model to %s\n",
                   (long long)epoch + 1, name, checkpoint_before,
                   values[r->cb.checkpoint.monitor], best);
        if (save_weights_to(r, best, 0, e))
            return -1;
    }
    if (d.lr_reduced && !quiet)
        printf("Epoch %lld: ReduceLROnPlateau reducing learning rate to %g.\n",
               (long long)epoch + 1, st->callbacks.lr);
    if (!d.stop)
        return 0;
    *stop = 1;
    if (!quiet)
        printf("Epoch %lld: early stopping\n", (long long)epoch + 1);
    int restored = restore_best(r, e);
    return restored != 0 ? (restored < 0 ? -1 : 0) : save_all(r, e);
}

static void print_continue_hint(const train_run *r)
{
    printf("Continue with: %s train --resume --epochs %lld%s%s\n", r->ctx->prog,
           (long long)r->opts->epochs, r->opts->weights ? " --weights " : "",
           r->opts->weights ? r->opts->weights : "");
}

/* Runs epochs until opts.epochs are done, saving after each. */
static int train_loop(train_run *r)
{
    const prog_ctx *ctx = r->ctx;
    train_state *st = r->st;
    int64_t steps = cnnrt_batch_count(r->train.count, r->opts->batch_size);
    /* An interrupted epoch continues with its next batch, which needs the same batches. */
    int64_t first_step = st->has_partial ? st->partial_steps : 0;
    if (st->has_partial &&
        (first_step < 1 || first_step >= steps ||
         st->partial_images != first_step * r->opts->batch_size))
        return cnnrt_prog_error(ctx, "cannot resume from %s: its unfinished epoch stopped after %lld "
                          "steps and %lld images, which does not fit %lld steps of %lld images "
                          "(was it trained with another --batch-size, --validation-split or "
                          "data set?)", r->weights_path, (long long)st->partial_steps,
                          (long long)st->partial_images, (long long)steps,
                          (long long)r->opts->batch_size);
    if (r->opts->resume && !r->opts->quiet && first_step == 0)
        printf("Resuming from %s after epoch %lld\n", r->weights_path,
               (long long)st->epochs_done);
    if (first_step > 0 && !r->opts->quiet)
        printf("Resuming from %s: epoch %lld at step %lld/%lld\n", r->weights_path,
               (long long)st->epochs_done + 1,
               (long long)first_step + 1, (long long)steps);
    int stop_now = agree_on_stop(r);
    if (stop_now < 0)
        return PROG_ERROR;
    if (stop_now) {   /* came while loading: nothing trained, so nothing to save */
        printf("Interrupted by %s before training began; nothing was saved.\n",
               stop_signal_name(interrupted));
        return 128 + interrupted;
    }
    int is_tty = cnnrt_stream_is_tty(stdout);
    cnnrt_err e;
    for (int64_t epoch = st->epochs_done; epoch < r->opts->epochs; epoch++) {
        cnnrt_progress progress;
        if (!r->opts->quiet)
            cnnrt_progress_begin(&progress, stdout, is_tty, epoch + 1, r->opts->epochs, steps);
        double loss = NAN, acc = NAN;
        train_speed speed;
        epoch_result result = run_epoch(r, epoch, first_step, &progress, &loss, &acc, &speed);
        first_step = 0;
        if (result == EPOCH_DIVERGED || result == EPOCH_FAILED)
            return PROG_ERROR;
        if (result == EPOCH_INTERRUPTED) {
            if (!r->opts->quiet)
                printf("\n");
            if (save_weights(r, 1, &e))
                return cnnrt_prog_error(ctx, "interrupted by %s, and could not save: %s",
                                  stop_signal_name(interrupted), e.msg);
            printf("Interrupted at epoch %lld, step %lld/%lld by %s; saved to %s. ",
                   (long long)epoch + 1, (long long)st->partial_steps, (long long)steps,
                   stop_signal_name(interrupted), r->weights_path);
            print_continue_hint(r);
            return 128 + interrupted;
        }
        double val_loss, val_acc;
        if (validate(r, &val_loss, &val_acc, &e))
            return cnnrt_prog_error(ctx, "%s", e.msg);
        cnnrt_epoch_record rec = {(float)loss, (float)acc, (float)val_loss, (float)val_acc};
        st->speed[st->num_history] = speed;
        st->history[st->num_history++] = rec;
        st->epochs_done = epoch + 1;
        if (!r->opts->quiet) {
            static const char *const names[4] = {"loss", "acc", "val_loss", "val_acc"};
            double values[4] = {loss, acc, val_loss, val_acc};
            cnnrt_progress_end(&progress, r->val.count > 0 ? 4 : 2, names, values);
        }
        int stop = 0;
        if (end_epoch_callbacks(r, epoch, &rec, &stop, &e))
            return cnnrt_prog_error(ctx, "%s", e.msg);
        if (stop)
            return PROG_OK;
        int restored = epoch + 1 == r->opts->epochs ? restore_best(r, &e) : 0;
        if (restored < 0)
            return cnnrt_prog_error(ctx, "%s", e.msg);
        if (restored)
            return PROG_OK;   /* saved with the best weights restored */
        if (save_all(r, &e))
            return cnnrt_prog_error(ctx, "%s", e.msg);
        stop_now = agree_on_stop(r);
        if (stop_now < 0)
            return PROG_ERROR;
        if (stop_now) {
            if (epoch + 1 == r->opts->epochs)
                break;   /* nothing left to do anyway */
            printf("Interrupted after epoch %lld by %s; saved to %s. ", (long long)epoch + 1,
                   stop_signal_name(interrupted), r->weights_path);
            print_continue_hint(r);
            return 128 + interrupted;
        }
    }
    return PROG_OK;
}

/* ---- the command --------------------------------------------------------------------------- */

static void print_class_names(const cnnrt_dataset *all)
{
    if (!all->class_names)
        return;
    printf("Classes:");
    for (int64_t k = 0; k < all->num_class_names; k++)
        printf(" %lld %s%s", (long long)k, all->class_names[k],
               k + 1 < all->num_class_names ? "," : "\n");
}

/* The data's class names beside the weights (NAME.classes.txt), so that predict and gradcam
 * can name classes without the data. */
static int save_class_names(const train_run *r, const cnnrt_dataset *all, cnnrt_err *e)
{
    if (cnnrt_mpi_rank() > 0)
        return 0;
    char path[4200];
    sibling_path(r->weights_path, ".classes.txt", path, sizeof path);
    return cnnrt_class_names_write(path, all->class_names, all->num_class_names, e);
}

/* A callback watching a validation figure needs validation data. */
static int check_monitors(const train_run *r)
{
    const cnnrt_callbacks *cb = &r->cb;
    struct { int on; cnnrt_monitor m; const char *name; } uses[3] = {
        {cb->early_stopping.enabled, cb->early_stopping.monitor, "early stopping"},
        {cb->checkpoint.save_best_only, cb->checkpoint.monitor, "save_best_only"},
        {cb->reduce_lr.enabled, cb->reduce_lr.monitor, "reduce_lr_on_plateau"}};
    for (int i = 0; i < 3; i++)
        if (uses[i].on && r->val.count == 0 &&
            (uses[i].m == CNNRT_MONITOR_VAL_LOSS || uses[i].m == CNNRT_MONITOR_VAL_ACC))
            return cnnrt_prog_error(r->ctx, "%s watches %s, but there is no validation data "
                              "(validation split 0): give --validation-split, or --monitor "
                              "loss", uses[i].name, cnnrt_monitor_name(uses[i].m));
    return PROG_OK;
}

/* train --epochs 0: the initial weights, untrained (to start other frameworks from them). */
static int save_initial(train_run *r)
{
    cnnrt_err e;
    if (save_weights(r, 0, &e))
        return cnnrt_prog_error(r->ctx, "%s", e.msg);
    if (!r->opts->quiet)
        printf("Saved the initial weights (seed %llu, not trained: --epochs 0) to %s\n",
               (unsigned long long)r->st->seed, r->weights_path);
    return PROG_OK;
}

static int run_training(train_run *r, cnnrt_dataset *all)
{
    const prog_ctx *ctx = r->ctx;
    const train_options *o = r->opts;
    cnnrt_err e;
    if (cnnrt_dataset_split(all, o->validation_split, &r->train, &r->val, &e))
        return cnnrt_prog_error(ctx, "%s", e.msg);
    if (r->train.count == 0)
        return cnnrt_prog_error(ctx, "%s: no training images", all->images_path);
    if (!o->resume && !o->quiet && access(r->weights_path, F_OK) == 0)
        note_replacing_weights(r);
    int status = check_monitors(r);
    if (status == PROG_OK && o->resume)   /* rank 0 reads the file and shares what it holds */
        status = cnnrt_mpi_rank() == 0 ? start_resumed(r) : PROG_OK;
    else if (status == PROG_OK)
        status = start_fresh(r);
    status = share_start_state(r, status);
    if (status != PROG_OK)
        return status;
    if (o->epochs == 0)
        return save_initial(r);
    status = all->class_names && save_class_names(r, all, &e) != 0 ? cnnrt_prog_error(ctx, "%s", e.msg)
                                                                    : PROG_OK;
    if (cnnrt_mpi_agree(status, ctx->speaker) != PROG_OK)
        return PROG_ERROR;
    if (cnnrt_prog_exec_init(ctx, (int)o->threads, &r->ex, &e))
        return cnnrt_prog_error(ctx, "%s", e.msg);
    const cnnrt_model *m = ctx->model;
    int64_t image_floats = m->input_h * m->input_w * m->input_c;
    r->x = cnnrt_aligned_alloc((size_t)(o->batch_size * image_floats) * sizeof(float));
    r->labels = cnnrt_xmalloc((size_t)o->batch_size * sizeof(int32_t));
    r->order = cnnrt_xmalloc((size_t)r->train.count * sizeof(int64_t));
    r->aug_scratch = cnnrt_xmalloc(
        (size_t)(cnnrt_pool_threads(r->ex.pool) * image_floats + 1) * sizeof(float));
    if (!o->quiet)
        print_class_names(all);
    if (!o->quiet)
        printf("Training %s on %lld images, validating on %lld (%s), %lld epoch%s of %lld "
               "steps (batch %lld), %lld threads\n", m->name, (long long)r->train.count,
               (long long)r->val.count, all->images_path, (long long)o->epochs,
               o->epochs == 1 ? "" : "s",
               (long long)cnnrt_batch_count(r->train.count, o->batch_size),
               (long long)o->batch_size, (long long)cnnrt_pool_threads(r->ex.pool));
    if (!o->quiet && r->aug.num_layers > 0) {
        char names[512];
        cnnrt_augment_describe(&r->aug, names, sizeof names);
        printf("Augmenting the training pictures: %s\n", names);
    }
    struct sigaction old_handlers[NUM_STOP_SIGNALS];
    catch_stop_signals(old_handlers);
    unblock_stop_signals();
    /* Under mpirun the ranks run the loop in lockstep: one that leaves it with an error of
     * its own (rank 0 could not save) ends them all (cnnrt_mpi_finish). */
    cnnrt_mpi_watch_signal(&interrupted);
    cnnrt_mpi_lockstep(1);
    status = train_loop(r);
    if (status == PROG_OK || status > 128)
        cnnrt_mpi_lockstep(0);
    cnnrt_mpi_watch_signal(NULL);
    block_stop_signals(NULL);
    restore_signals(old_handlers);
    if (status == PROG_OK && !o->quiet) {
        char csv[4200];
        sibling_path(r->weights_path, ".history.csv", csv, sizeof csv);
        printf("Saved the weights to %s, the history to %s and a chart beside it\n",
               r->weights_path, csv);
    }
    free(r->x);
    free(r->labels);
    free(r->order);
    free(r->aug_scratch);
    cnnrt_prog_exec_free(&r->ex);
    return status;
}

/* Fails before any training when the weights could not be saved at the end of the epoch. */
static int check_writable_dir(const prog_ctx *ctx, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return cnnrt_prog_error(ctx, "%s: cannot save weights there: it %s", path,
                          S_ISDIR(st.st_mode) ? "is a directory"
                                              : "is not a regular file (a device or a pipe)");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (access(dir, W_OK) != 0)
        return cnnrt_prog_error(ctx, "%s: cannot save weights there: directory %s %s", path, dir,
                          access(dir, F_OK) == 0 ? "is not writable" : "does not exist");
    return PROG_OK;
}

/* The model file's callbacks and augmentation (the descriptor's text), then the command
 * line's callback options over them. */
static int setup_callbacks(train_run *r)
{
    const prog_ctx *ctx = r->ctx;
    const train_options *o = r->opts;
    const char *text = ctx->model->train.extras;
    cnnrt_err e;
    if (cnnrt_callbacks_parse(text, "the model's descriptor", &r->cb, &e) ||
        cnnrt_augment_parse(text, "the model's descriptor", &r->aug, &e))
        return cnnrt_prog_error(ctx, "%s", e.msg);
    cnnrt_callbacks *cb = &r->cb;
    if (o->es_given) {
        cb->early_stopping.enabled = 1;
        cb->early_stopping.patience = o->es_patience;
    }
    if (o->min_delta_given)
        cb->early_stopping.min_delta = o->min_delta;
    if (o->restore_best_weights)
        cb->early_stopping.restore_best_weights = 1;
    if (o->save_best_only)
        cb->checkpoint.save_best_only = 1;
    if (o->rlr_given) {
        cb->reduce_lr.enabled = 1;
        cb->reduce_lr.patience = o->rlr_patience;
    }
    if (o->rlr_factor_given)
        cb->reduce_lr.factor = o->rlr_factor;
    if (o->min_lr_given)
        cb->reduce_lr.min_lr = o->min_lr;
    if (o->cooldown_given)
        cb->reduce_lr.cooldown = o->cooldown;
    if (o->monitor) {
        int m = cnnrt_monitor_parse(o->monitor);
        if (m < 0)
            return cnnrt_prog_usage_error(ctx, "train", "--monitor must be loss, acc, val_loss or "
                                    "val_acc, found '%s'", o->monitor);
        cb->early_stopping.monitor = cb->checkpoint.monitor = cb->reduce_lr.monitor =
            (cnnrt_monitor)m;
    }
    if (o->restore_best_weights && !cb->early_stopping.enabled)
        return cnnrt_prog_usage_error(ctx, "train", "--restore-best-weights belongs to early "
                                "stopping: give --early-stopping PATIENCE too");
    if (cb->reduce_lr.enabled && cb->schedule.kind != CNNRT_SCHEDULE_NONE)
        return cnnrt_prog_usage_error(ctx, "train", "--reduce-lr-on-plateau cannot change the "
                                "model's learning-rate schedule");
    return PROG_OK;
}

static int train_with_options(const prog_ctx *ctx, const train_options *o)
{
    const cnnrt_model *m = ctx->model;
    if (!m->train_step)
        return cnnrt_prog_error(ctx, "model %s was compiled without a training step", m->name);
    if (cnnrt_mpi_size() > 1 && (!m->train_gradients || !m->train_update))
        return cnnrt_prog_error(ctx, "model %s has no data-parallel training step (compiled by an "
                          "older cnnc?): recompile it to train under mpirun", m->name);
    train_run r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.opts = o;
    int setup = setup_callbacks(&r);
    if (setup != PROG_OK)
        return setup;
    if (o->initial_epoch_given && o->resume)
        return cnnrt_prog_usage_error(ctx, "train", "--initial-epoch starts a new run; --resume "
                                "continues after the epochs the weights file has done");
    if (o->weights)
        snprintf(r.weights_path, sizeof r.weights_path, "%s", o->weights);
    else
        cnnrt_prog_default_weights_path(ctx, r.weights_path, sizeof r.weights_path);
    /* Under mpirun rank 0 alone writes (and locks) the weights file. */
    int writer = cnnrt_mpi_rank() == 0;
    if (cnnrt_mpi_agree(writer ? check_writable_dir(ctx, r.weights_path) : PROG_OK,
                        ctx->speaker) != PROG_OK)
        return PROG_ERROR;
    /* One training run per weights file: two would overwrite each other's saves. */
    sigset_t old_mask;
    block_stop_signals(&old_mask);
    cnnrt_lock lock;
    cnnrt_err lock_err;
    int locked = writer ? cnnrt_lock_acquire(r.weights_path, &lock, &lock_err) : 0;
    if (locked != 0)
        cnnrt_prog_error(ctx, "%s", lock_err.msg);
    if (cnnrt_mpi_agree(locked != 0 ? PROG_ERROR : PROG_OK, ctx->speaker) != PROG_OK) {
        if (writer && locked == 0)
            cnnrt_lock_release(&lock);
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        return PROG_ERROR;
    }
    if (writer)
        remove_stale_saves(r.weights_path);
    train_state st;
    memset(&st, 0, sizeof st);
    st.params = cnnrt_aligned_alloc((size_t)(m->param_floats + 1) * sizeof(float));
    st.opt_state = cnnrt_aligned_alloc((size_t)(m->opt_state_floats + 1) * sizeof(float));
    st.history = cnnrt_xcalloc((size_t)o->epochs + 2, sizeof *st.history);
    st.speed = cnnrt_xcalloc((size_t)o->epochs + 2, sizeof *st.speed);
    cnnrt_callback_state_init(&st.callbacks);
    if (r.cb.early_stopping.enabled && r.cb.early_stopping.restore_best_weights)
        st.best_params = cnnrt_aligned_alloc((size_t)(m->param_floats + 1) * sizeof(float));
    r.st = &st;
    cnnrt_dataset all;
    cnnrt_err e;
    int status;
    prog_data_options data_options;
    cnnrt_prog_data_options_default(ctx, &data_options);
    data_options.seed = (uint64_t)o->seed;
    data_options.threads = (int)o->threads;
    data_options.skip_bad = o->skip_bad;
    data_options.quiet = o->quiet;
    data_options.report = o->quiet ? NULL : stdout;
    if (cnnrt_prog_load_data(ctx, o->data, CNNRT_SPLIT_TRAIN, &data_options, &all, &e)) {
        status = cnnrt_prog_error(ctx, "%s", e.msg);
    } else {
        status = run_training(&r, &all);
        cnnrt_dataset_free(&r.train);
        cnnrt_dataset_free(&r.val);
        cnnrt_dataset_free(&all);
    }
    free(st.params);
    free(st.opt_state);
    free(st.history);
    free(st.speed);
    free(st.best_params);
    if (writer)
        cnnrt_lock_release(&lock);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);   /* a signal that waited acts now */
    return status;
}

int cnnrt_prog_cmd_train(const prog_ctx *ctx, int argc, char **argv)
{
    const cnnrt_model_info *info = &ctx->info;
    train_options o = {.epochs = info->epochs, .batch_size = info->batch_size,
                       .seed = (int64_t)(info->seed & 0x7fffffffffffffffull), .threads = 0,
                       .validation_split = info->validation_split, .lr = info->lr};
    char defaults[768];
    snprintf(defaults, sizeof defaults,
             "Defaults come from the model file's compile and fit lines: %lld epochs, batch "
             "%lld,\nvalidation split %g, learning rate %g, seed %lld. Weights are saved after "
             "every epoch\n(with the optimizer state, so --resume continues exactly), with a "
             "history CSV and chart\nbeside them. Ctrl-C (or SIGTERM, SIGHUP) finishes the "
             "current step, saves and\nstops. One run at a time per weights file (a lock file "
             "beside it).", (long long)o.epochs, (long long)o.batch_size, o.validation_split, o.lr,
             (long long)o.seed);
    const prog_option options[] = {
        /* The limits a model file's fit and compile lines have too (cnnrt_limits.h). */
        {"epochs", OPT_INT, &o.epochs, CNNC_LIMIT_EPOCHS_MIN, CNNC_LIMIT_EPOCHS_MAX, "N",
         "total number of epochs", NULL},
        {"batch-size", OPT_INT, &o.batch_size, CNNC_LIMIT_BATCH_SIZE_MIN,
         CNNC_LIMIT_BATCH_SIZE_MAX, "N", "images per training step", NULL},
        {"validation-split", OPT_DOUBLE, &o.validation_split, CNNC_LIMIT_VALIDATION_SPLIT_MIN,
         CNNC_LIMIT_VALIDATION_SPLIT_MAX, "F",
         "fraction at the end of the data kept for validation", NULL},
        {"lr", OPT_DOUBLE_ABOVE_MIN, &o.lr, CNNC_LIMIT_LR_ABOVE, CNNC_LIMIT_LR_MAX, "F",
         "learning rate", NULL},
        {"seed", OPT_INT, &o.seed, CNNC_LIMIT_SEED_MIN, (double)CNNC_LIMIT_SEED_MAX, "N",
         "seed of initial weights, shuffling, dropout", &o.seed_given},
        {"threads", OPT_INT, &o.threads, 1, 1024, "N", "threads (default: one per CPU)", NULL},
        {"data", OPT_STRING, &o.data, 0, 0, "DIR", "directory with the MNIST-style IDX files, "
         "or a picture folder (one subfolder per class)", NULL},
        {"skip-bad", OPT_FLAG, &o.skip_bad, 0, 0, NULL, "leave unreadable pictures of a picture "
         "folder out (counted) instead of stopping", NULL},
        {"weights", OPT_STRING, &o.weights, 0, 0, "FILE", "weights file to write (default "
         "NAME.weights)", NULL},
        {"resume", OPT_FLAG, &o.resume, 0, 0, NULL, "continue training from the weights file",
         NULL},
        {"quiet", OPT_FLAG, &o.quiet, 0, 0, NULL, "no progress output", NULL},
        {"initial-epoch", OPT_INT, &o.initial_epoch, 0, CNNC_LIMIT_EPOCHS_MAX, "N",
         "number the epochs from N+1 on (Keras's initial_epoch)", &o.initial_epoch_given},
        {"early-stopping", OPT_INT, &o.es_patience, 0, 1000000, "PATIENCE", "stop after "
         "PATIENCE epochs without improvement of the monitored figure", &o.es_given},
        {"min-delta", OPT_DOUBLE, &o.min_delta, 0, 1e300, "F", "early stopping: the least "
         "change that counts as an improvement", &o.min_delta_given},
        {"restore-best-weights", OPT_FLAG, &o.restore_best_weights, 0, 0, NULL,
         "early stopping: end with the best epoch's weights", NULL},
        {"save-best-only", OPT_FLAG, &o.save_best_only, 0, 0, NULL, "also keep the best "
         "epoch's weights in NAME.best.weights", NULL},
        {"reduce-lr-on-plateau", OPT_INT, &o.rlr_patience, 0, 1000000, "PATIENCE", "multiply "
         "the learning rate by --reduce-lr-factor after PATIENCE epochs without improvement",
         &o.rlr_given},
        {"reduce-lr-factor", OPT_DOUBLE, &o.rlr_factor, 0, 0.999999, "F", "(default 0.1)",
         &o.rlr_factor_given},
        {"min-lr", OPT_DOUBLE, &o.min_lr, 0, CNNC_LIMIT_LR_MAX, "F", "the learning rate's "
         "floor for --reduce-lr-on-plateau (default 0)", &o.min_lr_given},
        {"cooldown", OPT_INT, &o.cooldown, 0, 1000000, "N", "epochs --reduce-lr-on-plateau "
         "waits after a reduction (default 0)", &o.cooldown_given},
        {"monitor", OPT_STRING, &o.monitor, 0, 0, "METRIC", "what the callbacks watch: "
         "val_loss (default), val_acc, loss or acc", NULL},
        {"report", OPT_FLAG, &o.report, 0, 0, NULL, "then write the HTML report (PROG report)",
         NULL},
    };
    prog_command cmd = {"train", "[OPTIONS]", "Trains the model like Keras's model.fit.",
                        defaults, "train --epochs 3 --batch-size 64",
                        options, sizeof options / sizeof options[0], 0};
    int stop, parsed = cnnrt_prog_parse_options(ctx, &cmd, argc, argv, &stop);
    if (stop)
        return parsed;
    int status = train_with_options(ctx, &o);
    if (status == PROG_OK && o.report && cnnrt_mpi_rank() == 0)
        status = cnnrt_prog_write_report(ctx, o.weights, o.data, o.threads, NULL);
    return status;
}
