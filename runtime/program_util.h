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
    const char *prog;       /* how the program was invoked (argv[0]): the name commands
                               shown to the user start with ("run PROG train --resume") */
    const char *speaker;    /* what messages start with ("PROG: error: ..."): prog, or
                               "PROG (rank N)" on an MPI rank N > 0 (never in a command) */
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
int cnnrt_prog_parse(const prog_ctx *ctx, const prog_command *cmd, int argc, char **argv,
               char **positional, int *num_positional);
/* cnnrt_prog_parse for a command that takes options only (max_positional 0). Sets *stop when
 * the command must return at once, with the returned status (PROG_OK after --help,
 * PROG_USAGE after an error); else *stop = 0. */
int cnnrt_prog_parse_options(const prog_ctx *ctx, const prog_command *cmd, int argc, char **argv,
                       int *stop);
void cnnrt_prog_print_help(const prog_ctx *ctx, const prog_command *cmd, FILE *out);

/* Prints "PROG: error: MESSAGE" to stderr; returns PROG_ERROR. */
int cnnrt_prog_error(const prog_ctx *ctx, const char *fmt, ...) CNNRT_PRINTF(2, 3);
/* Prints "PROG CMD: MESSAGE ... (see PROG CMD --help)" to stderr; returns PROG_USAGE. */
int cnnrt_prog_usage_error(const prog_ctx *ctx, const char *cmd, const char *fmt, ...)
    CNNRT_PRINTF(3, 4);
void cnnrt_prog_warning(const prog_ctx *ctx, const char *fmt, ...) CNNRT_PRINTF(2, 3);

/* ---- data, weights, threads ---------------------------------------------------------- */

/* The data directory: `given` (from --data) if not NULL, else the first of $CNNC_DATA,
 * ./data/mnist, <directory of the executable>/data/mnist that holds the split's images.
 * On failure the message lists every directory tried. */
int cnnrt_prog_find_data_dir(const prog_ctx *ctx, const char *given, cnnrt_split split,
                       char *dir, size_t dir_size, cnnrt_err *e);
/* How a data set is read. */
typedef struct prog_data_options {
    uint64_t seed;      /* shuffles a picture folder's training pictures before the split */
    int threads;        /* decoding threads for picture folders; 0: one per CPU */
    int skip_bad;       /* leave unreadable pictures out (counted) instead of failing */
    int quiet;          /* no progress bar */
    FILE *report;       /* "Found N pictures of K classes in DIR" goes here; NULL: nowhere */
} prog_data_options;
/* The model file's seed, everything else off, report on stdout. */
void cnnrt_prog_data_options_default(const prog_ctx *ctx, prog_data_options *o);

/* cnnrt_prog_find_data_dir, then the data it holds for the model's input size and classes: the
 * split's IDX files when the directory has them, else a picture folder (one subfolder per
 * class: cnnrt_folder_load), whose train/ and test/ subfolders, when it has them, are the
 * two splits (without them the whole folder is either). */
int cnnrt_prog_load_data(const prog_ctx *ctx, const char *given, cnnrt_split split,
                   const prog_data_options *o, cnnrt_dataset *ds, cnnrt_err *e);
/* cnnrt_prog_load_data with cnnrt_prog_data_options_default. */
int cnnrt_prog_load_dataset(const prog_ctx *ctx, const char *given, cnnrt_split split,
                      cnnrt_dataset *ds, cnnrt_err *e);

/* "NAME.weights" in the current directory. */
void cnnrt_prog_default_weights_path(const prog_ctx *ctx, char *path, size_t size);
/* A file beside a weights file, named after it: ("run.weights", ".history.csv") ->
 * "run.history.csv"; a name without ".weights" gets the suffix appended. */
void cnnrt_prog_beside_weights(const char *weights, const char *suffix, char *out, size_t size);

/* Loads weights for inference into params (model->param_floats floats).
 * path NULL: the default file if it exists; if it does not, *found = 0 and params are
 * left alone. A given path that does not exist is an error. */
int cnnrt_prog_load_inference_weights(const prog_ctx *ctx, const char *path, float *params,
                                int *found, char *used_path, size_t used_size, cnnrt_err *e);

/* Weights for predict/gradcam, or a clear "the model is untrained, train it with ..."
 * message. Returns PROG_OK when params hold trained weights; otherwise prints the error
 * and returns the exit status. */
int cnnrt_prog_need_trained_weights(const prog_ctx *ctx, const char *path, float *params);

/* How a user's picture becomes a model input (predict and gradcam --prepare):
 *   AUTO    what the model file's `input ... prepare=` says (resize when it says nothing);
 *   DIGIT   CNNRT_PREPARE_DIGIT (cnnrt_image.h): MNIST's digit preparation;
 *   RESIZE  CNNRT_PREPARE_RESIZE: Keras's load_img(target_size=...). */
typedef enum { PROG_PREPARE_AUTO = 0, PROG_PREPARE_DIGIT = 1, PROG_PREPARE_RESIZE = 2 }
    prog_prepare;
/* "auto", "digit", "resize" -> the mode; -1 for anything else. */
int cnnrt_prog_parse_prepare(const char *text, prog_prepare *prepare);
/* Reads a picture of any format cnnrt_picture_read knows and prepares it as `prepare` says
 * into x (floats in [0,1], HWC). *inverted says whether it was inverted; shown (may be
 * NULL) receives the input as an image. */
struct cnnrt_image;
int cnnrt_prog_picture_to_input(const prog_ctx *ctx, const char *path, prog_prepare prepare,
                          float *x, int *inverted, struct cnnrt_image *shown, cnnrt_err *e);

/* cnnrt_prog_picture_to_input with PROG_PREPARE_AUTO (any picture format, despite the name). */
int cnnrt_prog_png_to_input(const prog_ctx *ctx, const char *path, float *x, int *inverted,
                      struct cnnrt_image *shown, cnnrt_err *e);

/* The pictures a command was given: files as given, folders expanded to every file under
 * them in path order (files there that are not pictures, like README, are left out
 * quietly; a folder without pictures gets a warning). */
typedef struct prog_input_list {
    char **paths;
    int64_t count, cap;
} prog_input_list;
int cnnrt_prog_expand_inputs(const prog_ctx *ctx, char **args, int count, prog_input_list *out);
void cnnrt_prog_input_list_free(prog_input_list *l);

/* A CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
void cnnrt_prog_csv_field(FILE *out, const char *s);

/* Class names for messages and output: the data set's own, or NAME.classes.txt beside the
 * weights (train writes it when its data has names), or none (numbers are shown). */
typedef struct prog_classes {
    char **names;        /* count names, or NULL */
    int64_t count;
    int owned;
} prog_classes;
/* The model file's labels= when it has them, else the names beside weights_path (NULL: the
 * default weights file). A missing file gives none;
 * an unreadable one, or one with another count than the model's classes, gives none and a
 * warning. */
void cnnrt_prog_classes_beside_weights(const prog_ctx *ctx, const char *weights_path,
                                 prog_classes *classes);
/* The data set's names when it has them, else those beside the weights. */
void cnnrt_prog_classes_for_dataset(const prog_ctx *ctx, const cnnrt_dataset *ds,
                              const char *weights_path, prog_classes *classes);
/* Class k's name, or its number written into buf. */
const char *cnnrt_prog_class_name(const prog_classes *classes, int64_t k, char *buf, size_t size);
void cnnrt_prog_classes_free(prog_classes *classes);
/* 1 when the model's outputs are probabilities (a softmax trained with cross-entropy);
 * else they are scores (e.g. loss=mse) and are printed as numbers, not percentages. */
int cnnrt_prog_outputs_probabilities(const prog_ctx *ctx);

/* The expectation a weights file is checked against. */
void cnnrt_prog_weights_expect(const prog_ctx *ctx, cnnrt_weights_expect *expect);

/* Pool of `threads` threads (0 = one per CPU) and a workspace for it. */
typedef struct prog_exec {
    cnnrt_pool *pool;
    float *ws;
} prog_exec;
int cnnrt_prog_exec_init(const prog_ctx *ctx, int threads, prog_exec *ex, cnnrt_err *e);
void cnnrt_prog_exec_free(prog_exec *ex);

/* Runs model->infer over count images of ds starting at first, in chunks, into probs
 * and, if not NULL, logits (count * num_classes each). */
void cnnrt_prog_infer_dataset(const prog_ctx *ctx, const prog_exec *ex, const float *params,
                        const cnnrt_dataset *ds, int64_t first, int64_t count, float *probs,
                        float *logits);

/* The loss of one image as the training step computes it (see cnnrt_loss_of). */
double cnnrt_prog_loss_of(const prog_ctx *ctx, const float *probs, const float *logits, int label);
int cnnrt_prog_argmax(const float *v, int64_t n);
/* 50186 -> "50,186" (v >= 0). */
void cnnrt_prog_format_thousands(int64_t v, char *buf, size_t size);

/* ---- commands ------------------------------------------------------------------------ */

int cnnrt_prog_cmd_summary(const prog_ctx *ctx, int argc, char **argv);
int cnnrt_prog_cmd_train(const prog_ctx *ctx, int argc, char **argv);
int cnnrt_prog_cmd_predict(const prog_ctx *ctx, int argc, char **argv);
int cnnrt_prog_cmd_evaluate(const prog_ctx *ctx, int argc, char **argv);
int cnnrt_prog_cmd_gradcam(const prog_ctx *ctx, int argc, char **argv);
int cnnrt_prog_cmd_report(const prog_ctx *ctx, int argc, char **argv);
/* The report of `PROG report` with its default options, for `train --report`. */
int cnnrt_prog_write_report(const prog_ctx *ctx, const char *weights, const char *data,
                      int64_t threads, const char *out);
int cnnrt_prog_cmd_export(const prog_ctx *ctx, int argc, char **argv);
int cnnrt_prog_cmd_web(const prog_ctx *ctx, int argc, char **argv);

#endif
