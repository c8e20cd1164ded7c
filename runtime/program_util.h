/* Private to the runtime's command-line program (program.c and cmd_*.c): option parsing,
 * finding data and weights, and what every command shares. Not installed. */
#ifndef CNNRT_PROGRAM_UTIL_H
#define CNNRT_PROGRAM_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "cnnrt_common.h"
#include "cnnrt_data.h"
#include "cnnrt_info.h"
#include "cnnrt_model.h"
#include "cnnrt_pool.h"
#include "cnnrt_weights.h"

/* Exit statuses of the program. */
enum { PROG_OK = 0, PROG_ERROR = 1, PROG_USAGE = 2 };
/* A training run stopped by a signal (after saving) exits with 128 + its number: 130 for
 * Ctrl-C, 143 for SIGTERM, 129 for SIGHUP, as a shell reports a process the signal ended. */

/* What every command gets. */
typedef struct prog_ctx {
    const cnnrt_model *model;
    cnnrt_model_info info;
    const char *prog;       /* how the program was invoked (argv[0]), for messages */
} prog_ctx;

/* ---- options ------------------------------------------------------------------------ */

/* OPT_DOUBLE_ABOVE_MIN: a double with min < value <= max (a learning rate above 0). */
typedef enum { OPT_FLAG, OPT_INT, OPT_DOUBLE, OPT_DOUBLE_ABOVE_MIN, OPT_STRING } prog_opt_kind;

/* One --name option. Numbers are range-checked: min <= value <= max. `given` (may be NULL)
 * is set to 1 when the option appears on the command line. A value out of range is worded
 * as the compiler words it ("--epochs must be at least 1, found 0", "--lr must be in
 * (0, 100], found 0"), so the two sides of a limit in cnnrt_limits.h read alike. */
typedef struct prog_option {
    const char *name;        /* without the dashes */
    prog_opt_kind kind;
    void *value;             /* int *, int64_t * (OPT_INT), double *, const char ** */
    double min, max;
    const char *arg;         /* "N", "FILE" (shown in --help) */
    const char *help;
    int *given;
} prog_option;

/* A command's description for --help and parsing. */
typedef struct prog_command {
    const char *name;
    const char *usage;       /* after "PROG name " */
    const char *summary;     /* one line */
    const char *details;     /* paragraph(s) printed under the usage, may be NULL */
    const char *example;     /* after "PROG ", may be NULL */
    const prog_option *options;
    int num_options;
    int max_positional;      /* 0: none allowed; -1: any number */
} prog_command;

/* Parses argv[1..argc-1] (argv[0] is the command name). Accepts "--name value",
 * "--name=value" and "--help"/"-h". Positional arguments are collected in order into
 * positional (room for argc entries). Returns 0 ok, 1 when --help was printed (the caller
 * returns PROG_OK), -1 after printing an error to stderr (the caller returns PROG_USAGE). */
int prog_parse(const prog_ctx *ctx, const prog_command *cmd, int argc, char **argv,
               char **positional, int *num_positional);
/* prog_parse for a command that takes options only (max_positional 0). Sets *stop when
 * the command must return at once, with the returned status (PROG_OK after --help,
 * PROG_USAGE after an error); else *stop = 0. */
int prog_parse_options(const prog_ctx *ctx, const prog_command *cmd, int argc, char **argv,
                       int *stop);
void prog_print_help(const prog_ctx *ctx, const prog_command *cmd, FILE *out);

/* Prints "PROG: error: MESSAGE" to stderr; returns PROG_ERROR. */
int prog_error(const prog_ctx *ctx, const char *fmt, ...) CNNRT_PRINTF(2, 3);
/* Prints "PROG CMD: MESSAGE ... (see PROG CMD --help)" to stderr; returns PROG_USAGE. */
int prog_usage_error(const prog_ctx *ctx, const char *cmd, const char *fmt, ...)
    CNNRT_PRINTF(3, 4);
void prog_warning(const prog_ctx *ctx, const char *fmt, ...) CNNRT_PRINTF(2, 3);

/* ---- data, weights, threads ---------------------------------------------------------- */

/* The data directory: `given` (from --data) if not NULL, else the first of $CNNC_DATA,
 * ./data/mnist, <directory of the executable>/data/mnist that holds the split's images.
 * On failure the message lists every directory tried. */
int prog_find_data_dir(const prog_ctx *ctx, const char *given, cnnrt_split split,
                       char *dir, size_t dir_size, cnnrt_err *e);
/* prog_find_data_dir + cnnrt_dataset_load_dir for the model's input size and classes. */
int prog_load_dataset(const prog_ctx *ctx, const char *given, cnnrt_split split,
                      cnnrt_dataset *ds, cnnrt_err *e);

/* "NAME.weights" in the current directory. */
void prog_default_weights_path(const prog_ctx *ctx, char *path, size_t size);

/* Loads weights for inference into params (model->param_floats floats).
 * path NULL: the default file if it exists; if it does not, *found = 0 and params are
 * left alone. A given path that does not exist is an error. */
int prog_load_inference_weights(const prog_ctx *ctx, const char *path, float *params,
                                int *found, char *used_path, size_t used_size, cnnrt_err *e);

/* Weights for predict/gradcam, or a clear "the model is untrained, train it with ..."
 * message. Returns PROG_OK when params hold trained weights; otherwise prints the error
 * and returns the exit status. */
int prog_need_trained_weights(const prog_ctx *ctx, const char *path, float *params);

/* Reads a PNG into a model input (floats in [0,1], HWC), resized with area averaging. A
 * single-channel model expects MNIST-style light strokes on black, so a picture with a
 * light background is inverted (*inverted says so). shown (may be NULL) receives the input
 * as an image. */
struct cnnrt_image;
int prog_png_to_input(const prog_ctx *ctx, const char *path, float *x, int *inverted,
                      struct cnnrt_image *shown, cnnrt_err *e);

/* The expectation a weights file is checked against. */
void prog_weights_expect(const prog_ctx *ctx, cnnrt_weights_expect *expect);

/* Pool of `threads` threads (0 = one per CPU) and a workspace for it. */
typedef struct prog_exec {
    cnnrt_pool *pool;
    float *ws;
} prog_exec;
int prog_exec_init(const prog_ctx *ctx, int threads, prog_exec *ex, cnnrt_err *e);
void prog_exec_free(prog_exec *ex);

/* Runs model->infer over count images of ds starting at first, in chunks, into probs
 * and, if not NULL, logits (count * num_classes each). */
void prog_infer_dataset(const prog_ctx *ctx, const prog_exec *ex, const float *params,
                        const cnnrt_dataset *ds, int64_t first, int64_t count, float *probs,
                        float *logits);

/* The loss of one image as the training step computes it (see cnnrt_loss_of). */
double prog_loss_of(const prog_ctx *ctx, const float *probs, const float *logits, int label);
int prog_argmax(const float *v, int64_t n);

/* ---- commands ------------------------------------------------------------------------ */

int prog_cmd_summary(const prog_ctx *ctx, int argc, char **argv);
int prog_cmd_train(const prog_ctx *ctx, int argc, char **argv);
int prog_cmd_predict(const prog_ctx *ctx, int argc, char **argv);
int prog_cmd_evaluate(const prog_ctx *ctx, int argc, char **argv);
int prog_cmd_gradcam(const prog_ctx *ctx, int argc, char **argv);

#endif
