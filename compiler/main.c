/* cnnc: the command-line driver.
 *
 * The options are one table: each entry names the option, whether it takes a value, and
 * what it sets in `cnnc_options`. Adding an option is adding a row and a field; the actions
 * after parsing (summary, dumps, and later compiling and linking) read the fields. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autodiff.h"
#include "bridge.h"
#include "cnnrt_image.h"
#include "codegen.h"
#include "cross_target.h"
#include "embed_weights.h"
#include "web.h"
#include "export_model.h"
#include "onnx_import.h"
#include "frontend.h"
#include "graph.h"
#include "interp.h"
#include "link.h"

#ifndef CNNC_VERSION
#define CNNC_VERSION "unknown"
#endif
#ifndef CNNC_LLVM_VERSION
#define CNNC_LLVM_VERSION "unknown"
#endif

enum { EXIT_USAGE = 2 };

typedef struct cnnc_options {
    const char *input;        /* the model file ("-" for standard input) */
    const char *output;       /* -o */
    int summary;              /* --summary */
    const char *dump_ir;      /* --dump-ir[=graph] */
    const char *dump_graph;   /* --dump-graph=dot */
    cnnc_emit_kind emit;      /* -c, -S, --emit-llvm; PROGRAM when only -o is given */
    int emit_given;
    int opt_level;            /* -O0..-O3 */
    const char *target_cpu;   /* --target-cpu */
    int jobs;                 /* -j: threads compiling a program (0: one per CPU) */
    const char *interpret;    /* --interpret=IMAGE.png */
    const char *weights;      /* --weights=FILE (with --interpret) */
    const char *target;       /* --target=TRIPLE */
    const char *embed_weights; /* --embed-weights=FILE */
    int no_train, no_gradcam; /* --no-train, --no-gradcam */
    const char *emit_onnx;    /* --emit-onnx FILE */
    int to_cnn;               /* --to-cnn (an ONNX input) */
    const char *web;          /* --web DIR: the draw-a-digit page (web.h) */
    const char *data;         /* --data DIR: its test digits */
    int help, version;
} cnnc_options;

typedef enum {
    ARG_NONE,       /* a flag: --summary */
    ARG_REQUIRED,   /* -o FILE, -o=FILE, --dump-graph=dot */
    ARG_OPTIONAL,   /* --dump-ir or --dump-ir=graph (only with '=') */
} arg_kind;

typedef struct option_spec {
    const char *name;         /* "--summary", "-o" */
    arg_kind arg;
    const char *metavar;      /* for --help */
    const char *help;
    /* Stores the option; value is NULL for flags and for an optional value not given.
     * Returns 0, or prints what is wrong and returns -1. */
    int (*set)(cnnc_options *o, const char *value);
} option_spec;

static int set_help(cnnc_options *o, const char *v) { (void)v; o->help = 1; return 0; }
static int set_version(cnnc_options *o, const char *v) { (void)v; o->version = 1; return 0; }
static int set_summary(cnnc_options *o, const char *v) { (void)v; o->summary = 1; return 0; }
static int set_output(cnnc_options *o, const char *v) { o->output = v; return 0; }

static const char *const ir_levels[] = {"graph", "backward", "train", "lowered"};

static int set_dump_ir(cnnc_options *o, const char *v)
{
    if (!v)
        v = "graph";
    for (size_t i = 0; i < sizeof ir_levels / sizeof ir_levels[0]; i++)
        if (strcmp(v, ir_levels[i]) == 0) {
            o->dump_ir = ir_levels[i];
            return 0;
        }
    fprintf(stderr,
            "cnnc: error: --dump-ir=%s: unknown IR level (expected graph, backward, train "
            "or lowered)\n", v);
    return -1;
}

static int set_emit(cnnc_options *o, cnnc_emit_kind kind, const char *flag)
{
    if (o->emit_given && o->emit != kind) {
        fprintf(stderr, "cnnc: error: %s cannot be combined with another output kind "
                        "(-c, -S, --emit-llvm)\n", flag);
        return -1;
    }
    o->emit = kind;
    o->emit_given = 1;
    return 0;
}
static int set_object(cnnc_options *o, const char *v) { (void)v; return set_emit(o, CNNC_EMIT_OBJECT, "-c"); }
static int set_asm(cnnc_options *o, const char *v) { (void)v; return set_emit(o, CNNC_EMIT_ASM, "-S"); }
static int set_llvm(cnnc_options *o, const char *v) { (void)v; return set_emit(o, CNNC_EMIT_LLVM_IR, "--emit-llvm"); }
static int set_target_cpu(cnnc_options *o, const char *v) { o->target_cpu = v; return 0; }
static int set_interpret(cnnc_options *o, const char *v) { o->interpret = v; return 0; }
static int set_weights(cnnc_options *o, const char *v) { o->weights = v; return 0; }
static int set_target(cnnc_options *o, const char *v) { o->target = v; return 0; }
static int set_embed_weights(cnnc_options *o, const char *v) { o->embed_weights = v; return 0; }
static int set_no_train(cnnc_options *o, const char *v) { (void)v; o->no_train = 1; return 0; }
static int set_no_gradcam(cnnc_options *o, const char *v) { (void)v; o->no_gradcam = 1; return 0; }
static int set_emit_onnx(cnnc_options *o, const char *v) { o->emit_onnx = v; return 0; }
static int set_to_cnn(cnnc_options *o, const char *v) { (void)v; o->to_cnn = 1; return 0; }
static int set_web(cnnc_options *o, const char *v) { o->web = v; return 0; }
static int set_data(cnnc_options *o, const char *v) { o->data = v; return 0; }

static int set_opt_level(cnnc_options *o, const char *v)
{
    if (strlen(v) != 1 || v[0] < '0' || v[0] > '3') {
        fprintf(stderr, "cnnc: error: -O%s: the optimisation level is 0, 1, 2 or 3\n", v);
        return -1;
    }
    o->opt_level = v[0] - '0';
    return 0;
}

static int set_jobs(cnnc_options *o, const char *v)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 1 || n > 64) {
        fprintf(stderr, "cnnc: error: -j%s: the number of threads is a whole number from 1 "
                        "to 64\n", v);
        return -1;
    }
    o->jobs = (int)n;
    return 0;
}

static int set_dump_graph(cnnc_options *o, const char *v)
{
    if (strcmp(v, "dot") != 0) {
        fprintf(stderr, "cnnc: error: --dump-graph=%s: unknown format (expected 'dot')\n", v);
        return -1;
    }
    o->dump_graph = v;
    return 0;
}

static const option_spec options[] = {
    {"--summary", ARG_NONE, NULL, "print the Keras model.summary() table with FLOPs",
     set_summary},
    {"--dump-ir", ARG_OPTIONAL, "LEVEL",
     "print an IR: graph (default), backward (the derived gradients), train (the whole "
     "training step) or lowered (kernels and memory plan)", set_dump_ir},
    {"--dump-graph", ARG_REQUIRED, "dot", "write the graph IR as Graphviz (to -o or stdout)",
     set_dump_graph},
    {"-o", ARG_REQUIRED, "FILE",
     "write the output to FILE: a native program unless -c, -S or --emit-llvm", set_output},
    {"-c", ARG_NONE, NULL, "write an object file and a C header (FILE.h) to embed the model",
     set_object},
    {"-S", ARG_NONE, NULL, "write assembly", set_asm},
    {"--emit-llvm", ARG_NONE, NULL, "write LLVM IR as text", set_llvm},
    {"-O", ARG_REQUIRED, "LEVEL", "optimisation level 0-3 (default -O2)", set_opt_level},
    {"-j", ARG_REQUIRED, "N",
     "compile a program on N threads (default: one per CPU, at most 8)", set_jobs},
    {"--target-cpu", ARG_REQUIRED, "CPU",
     "generate code for CPU (default: this machine's; e.g. x86-64-v3 to ship binaries)",
     set_target_cpu},
    {"--target", ARG_REQUIRED, "TRIPLE",
     "generate code for another machine (-c, -S, --emit-llvm), e.g. aarch64-linux-gnu or "
     "wasm32 (docs/embedding.md)", set_target},
    {"--embed-weights", ARG_REQUIRED, "FILE",
     "put these trained weights into the object as constant data (-c, -S, --emit-llvm)",
     set_embed_weights},
    {"--no-train", ARG_NONE, NULL, "leave out the training step", set_no_train},
    {"--no-gradcam", ARG_NONE, NULL, "leave out Grad-CAM and guided backpropagation",
     set_no_gradcam},
    {"--interpret", ARG_REQUIRED, "IMAGE.png",
     "run the reference interpreter on a picture and print the class probabilities",
     set_interpret},
    {"--weights", ARG_REQUIRED, "FILE", "weights for --interpret (default: fresh ones) and --web",
     set_weights},
    {"--web", ARG_REQUIRED, "DIR",
     "write the draw-a-digit web page for these --weights into DIR (docs/guide.md)", set_web},
    {"--data", ARG_REQUIRED, "DIR",
     "with --web: the test digits it offers (default $CNNC_DATA, then data/mnist)", set_data},
    {"--emit-onnx", ARG_REQUIRED, "FILE",
     "write the model as ONNX with its initial weights (docs/interop.md)", set_emit_onnx},
    {"--to-cnn", ARG_NONE, NULL,
     "with MODEL.onnx: print the equivalent model file (docs/interop.md)", set_to_cnn},
    {"--help", ARG_NONE, NULL, "show this help", set_help},
    {"-h", ARG_NONE, NULL, NULL, set_help},
    {"--version", ARG_NONE, NULL, "show the cnnc and LLVM versions", set_version},
};
enum { NUM_OPTIONS = sizeof options / sizeof options[0] };

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: cnnc MODEL.cnn [options]\n"
            "\n"
            "Compiles a small convolutional network described in MODEL.cnn ('-' reads\n"
            "standard input). See docs/language.md for the model language.\n"
            "\n"
            "options:\n");
    for (int i = 0; i < NUM_OPTIONS; i++) {
        const option_spec *s = &options[i];
        if (!s->help)
            continue;
        char left[64];
        if (s->arg == ARG_NONE)
            snprintf(left, sizeof left, "%s", s->name);
        else if (s->arg == ARG_OPTIONAL)
            snprintf(left, sizeof left, "%s[=%s]", s->name, s->metavar);
        else if (s->name[1] == '-')
            snprintf(left, sizeof left, "%s=%s", s->name, s->metavar);
        else
            snprintf(left, sizeof left, "%s %s", s->name, s->metavar);
        fprintf(out, "  %-24s %s\n", left, s->help);
    }
    fprintf(out, "\nexamples:\n"
                 "  cnnc models/mnist.cnn --summary       the Keras table\n"
                 "  cnnc models/mnist.cnn -o mnist_cam    build the program, then:\n"
                 "  ./mnist_cam train && ./mnist_cam gradcam --index 1\n");
}

/* Matches "name", "name=value" (long options) and, for short options, "-oFILE". */
static const option_spec *match_option(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    for (int i = 0; i < NUM_OPTIONS; i++) {
        size_t n = strlen(options[i].name);
        if (strncmp(arg, options[i].name, n) != 0)
            continue;
        if (arg[n] == '\0')
            return &options[i];
        if (arg[n] == '=' && options[i].arg != ARG_NONE) {
            *inline_value = arg + n + 1;
            return &options[i];
        }
        if (options[i].name[1] != '-' && options[i].arg == ARG_REQUIRED) {
            *inline_value = arg + n;
            return &options[i];
        }
    }
    return NULL;
}

/* Returns 0, or the exit status for a usage error (already reported). */
static int parse_args(int argc, char **argv, cnnc_options *o)
{
    memset(o, 0, sizeof *o);
    o->opt_level = 2;
    o->emit = CNNC_EMIT_NONE;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (o->input) {
                fprintf(stderr, "cnnc: error: more than one model file ('%s' and '%s')\n",
                        o->input, arg);
                return EXIT_USAGE;
            }
            o->input = arg;
            continue;
        }
        const char *value;
        const option_spec *s = match_option(arg, &value);
        if (!s) {
            fprintf(stderr, "cnnc: error: unknown option '%s' (see cnnc --help)\n", arg);
            return EXIT_USAGE;
        }
        if (s->arg == ARG_REQUIRED && !value) {
            if (i + 1 >= argc) {   /* "--target wasm32" as "--target=wasm32" */
                fprintf(stderr, "cnnc: error: %s needs a value (%s%s%s)\n", s->name, s->name,
                        s->name[1] == '-' ? "=" : " ", s->metavar);
                return EXIT_USAGE;
            }
            value = argv[++i];
        }
        if (s->set(o, value) != 0)
            return EXIT_USAGE;
    }
    return 0;
}

/* Opens the -o file, or returns stdout. */
static FILE *open_output(const cnnc_options *o)
{
    errno = 0;
    if (!o->output || strcmp(o->output, "-") == 0)
        return stdout;
    FILE *f = fopen(o->output, "w");
    if (!f)
        fprintf(stderr, "cnnc: error: cannot write '%s': %s\n", o->output, strerror(errno));
    return f;
}

/* Closes (or flushes) the output; a write that failed on the way or now is reported with
 * the file's name. */
static int close_output(FILE *f, const cnnc_options *o)
{
    int failed = fflush(f) != 0;
    failed |= ferror(f);
    int err = errno;
    if (f != stdout && fclose(f) != 0 && !failed) {
        failed = 1;
        err = errno;
    }
    if (failed) {
        const char *name = f == stdout ? "standard output" : o->output;
        fprintf(stderr, "cnnc: error: cannot write '%s': %s\n", name,
                err ? strerror(err) : "write error");
    }
    return failed;
}

/* Whether two paths name the same existing file, through a symbolic or hard link too. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Refuses, as gcc does, an output that would overwrite the model file, and a header that
 * would overwrite its own object file (-c -o model.h). Returns 0, or -1 after a message. */
static int check_output_paths(const cnnc_options *o, int writes_output)
{
    if (!writes_output || !o->output || strcmp(o->output, "-") == 0)
        return 0;
    int has_input = strcmp(o->input, "-") != 0;
    if (has_input && same_file(o->input, o->output)) {
        fprintf(stderr, "cnnc: error: the output file '%s' is the model file '%s'; refusing "
                        "to overwrite it (choose another -o)\n", o->output, o->input);
        return -1;
    }
    if (o->emit != CNNC_EMIT_OBJECT)
        return 0;
    char header[4200];
    cnnc_header_path(o->output, header, sizeof header);
    if (strcmp(header, o->output) == 0 || same_file(header, o->output)) {
        fprintf(stderr, "cnnc: error: -c -o %s: the header of the object file would be '%s', "
                        "the object file itself; refusing to write either (give the object "
                        "file another extension, e.g. -o model.o, which writes model.h)\n",
                o->output, header);
        return -1;
    }
    if (has_input && same_file(o->input, header)) {
        fprintf(stderr, "cnnc: error: -c -o %s would write its header '%s' over the model "
                        "file '%s'; refusing to overwrite it (choose another -o)\n",
                o->output, header, o->input);
        return -1;
    }
    return 0;
}

/* --dump-ir=backward|train: the training graph autodiff derives. */
static int dump_training_ir(const cnnc_graph *g, const char *level, FILE *out, cnnc_diag *d)
{
    cnnc_graph *train = cnnc_build_train_graph(g, d);
    if (!train)
        return -1;
    if (strcmp(level, "backward") == 0)
        cnnc_graph_dump_derived(train, g->num_nodes, out);
    else
        cnnc_graph_dump(train, out);
    cnnc_graph_free(train);
    return 0;
}

/* Reads the weights for --interpret: the file given, or fresh ones from the fit seed. */
static float *interpret_params(const cnnc_graph *g, const char *path)
{
    if (!path) {
        fprintf(stderr, "cnnc: note: no --weights given: using fresh random weights "
                        "(seed %llu), so the answer means nothing yet\n",
                (unsigned long long)g->train.seed);
        return cnnc_initial_params(g, g->train.seed);
    }
    return cnnc_load_weights_file(g, path);
}

/* --interpret=IMAGE.png: the reference interpreter's answer for one picture. */
static int interpret_image(const cnnc_graph *g, const cnnc_options *o, FILE *out,
                           cnnc_diag *d)
{
    const cnnc_shape *in = &g->nodes[g->input_node].shape;
    if (in->rank != 3) {
        fprintf(stderr, "cnnc: error: --interpret needs a model whose input is an image\n");
        return -1;
    }
    cnnrt_err e;
    float *x = cnnrt_xmalloc((size_t)cnnc_shape_size(*in) * sizeof(float));
    /* The runtime's own preparation, as the model file's prepare= asks: the compiled
     * program's predict calls the same function, so both answer for the same input. */
    int failed = cnnrt_picture_prepare(o->interpret, (cnnrt_prepare)g->prepare,
                                       (int)in->dim[0], (int)in->dim[1], (int)in->dim[2], x,
                                       NULL, &e);
    float *params = failed ? NULL : interpret_params(g, o->weights);
    float *probs = cnnrt_xcalloc((size_t)g->num_classes, sizeof(float));
    if (failed)
        fprintf(stderr, "cnnc: error: %s\n", e.msg);
    else if (!params || cnnc_interp_infer(g, params, x, 1, probs, NULL, d) != 0)
        failed = 1;
    for (int c = 0; !failed && c < g->num_classes; c++)
        fprintf(out, "class %d: %.6f\n", c, (double)probs[c]);
    free(probs);
    free(params);
    free(x);
    return failed ? -1 : 0;
}

/* Everything that writes text (summary, dumps, --interpret) goes to -o when nothing is
 * compiled, else to standard output. */
static int run_text_actions(const cnnc_graph *g, const cnnc_options *o, int compiling,
                            cnnc_diag *d)
{
    int text_to_output = !compiling;
    cnnc_options where = *o;
    if (!text_to_output)
        where.output = NULL;
    FILE *out = open_output(&where);
    if (!out)
        return -1;
    int failed = 0;
    if (o->summary)
        cnnc_graph_summary(g, out);
    if (o->dump_ir && strcmp(o->dump_ir, "graph") == 0)
        cnnc_graph_dump(g, out);
    if (o->dump_ir && (strcmp(o->dump_ir, "backward") == 0 || strcmp(o->dump_ir, "train") == 0))
        failed |= dump_training_ir(g, o->dump_ir, out, d) != 0;
    if (o->dump_graph)
        cnnc_graph_dump_dot(g, out);
    if (o->interpret)
        failed |= interpret_image(g, o, out, d) != 0;
    failed |= close_output(out, &where) != 0;
    return failed ? -1 : 0;
}

static int run_codegen(const cnnc_graph *g, const cnnc_options *o, cnnc_diag *d)
{
    cnnc_codegen_options cg;
    cnnc_codegen_options_init(&cg);
    cg.emit = o->emit_given ? o->emit : (o->output ? CNNC_EMIT_PROGRAM : CNNC_EMIT_NONE);
    cg.output = o->output;
    cg.opt_level = o->opt_level;
    cg.target_cpu = o->target_cpu;
    cg.target_triple = o->target;
    cg.programs = CNNC_GEN_INFER | (o->no_train ? 0 : CNNC_GEN_TRAIN) |
                  (o->no_gradcam ? 0 : CNNC_GEN_CAMS);
    cg.jobs = o->jobs;
    if (o->dump_ir && strcmp(o->dump_ir, "lowered") == 0)
        cg.dump_lowered = stdout;
    if (cg.emit != CNNC_EMIT_NONE && !cg.output) {
        fprintf(stderr, "cnnc: error: -c, -S and --emit-llvm need an output file (-o FILE)\n");
        return -1;
    }
    if (cg.emit == CNNC_EMIT_PROGRAM && (!cnnc_target_is_host(o->target) || o->embed_weights)) {
        fprintf(stderr, "cnnc: error: %s makes an object to embed, not a program: add -c "
                        "(or -S, --emit-llvm) and link it yourself (docs/embedding.md)\n",
                o->embed_weights ? "--embed-weights" : "--target");
        return -1;
    }
    float *weights = NULL;
    if (o->embed_weights && !(weights = cnnc_load_weights_file(g, o->embed_weights)))
        return -1;
    cg.embedded_params = weights;
    int rc = cnnc_codegen_run(g, &cg, d);
    free(weights);
    return rc;
}

/* --web DIR --weights FILE: the page, on its own (web.h). */
static int run_web(cnnc_onnx_import *onnx, const cnnc_options *o, cnnc_diag *d)
{
    if (!o->weights || o->emit_given || o->output || o->target || o->embed_weights) {
        fprintf(stderr, "cnnc: error: --web DIR needs --weights FILE (the trained weights) "
                        "and takes no -o, -c, -S, --emit-llvm, --target or --embed-weights\n");
        cnnc_onnx_import_free(onnx);
        return EXIT_USAGE;
    }
    cnnc_graph *g = onnx->model_text
        ? cnnc_compile_source(onnx->model_text, strlen(onnx->model_text), o->input, d)
        : cnnc_compile_file(o->input, d);
    cnnc_web_options web = {.dir = o->web, .weights = o->weights, .data = o->data,
                            .opt_level = o->opt_level, .jobs = o->jobs};
    int rc = g && cnnc_web_write(g, &web, d) == 0 ? 0 : 1;
    cnnc_graph_free(g);
    cnnc_onnx_import_free(onnx);
    return rc;
}

/* --to-cnn: the model file an ONNX import amounts to. */
static int print_imported_model(cnnc_onnx_import *onnx, const cnnc_options *o)
{
    int failed = 1;
    if (!onnx->model_text)
        fprintf(stderr, "cnnc: error: --to-cnn needs an ONNX model (MODEL.onnx)\n");
    else {
        FILE *out = open_output(o);
        failed = !out || fputs(onnx->model_text, out) < 0;
        failed |= out && close_output(out, o) != 0;
    }
    cnnc_onnx_import_free(onnx);
    return failed ? 1 : 0;
}

/* An imported program's weights: NAME.weights beside the program (NAME is the program's
 * name), where it looks for them when run from that directory. An existing file is kept:
 * it may hold training done since. */
static int write_imported_weights(const cnnc_graph *g, const cnnc_onnx_import *onnx,
                                  const cnnc_options *o, cnnc_diag *d)
{
    if (o->emit_given || !o->output)
        return 0;
    char path[4400];
    const char *slash = strrchr(o->output, '/');
    snprintf(path, sizeof path, "%.*s%s.weights", slash ? (int)(slash - o->output + 1) : 0,
             o->output, g->model_name);
    struct stat st;
    if (stat(path, &st) == 0) {
        printf("Kept the existing %s (remove it to start again from the ONNX model's "
               "weights)\n", path);
        return 0;
    }
    if (cnnc_onnx_write_weights(g, onnx, path, d))
        return -1;
    printf("Wrote %s (the ONNX model's weights; '%s train --resume' trains them further)\n",
           path, o->output);
    return 0;
}

int main(int argc, char **argv)
{
    cnnc_options o;
    int status = parse_args(argc, argv, &o);
    if (status)
        return status;
    if (o.help) {
        print_help(stdout);
        return 0;
    }
    if (o.version) {
        printf("cnnc %s (LLVM %s)\n", CNNC_VERSION, CNNC_LLVM_VERSION);
        return 0;
    }
    if (!o.input) {
        fprintf(stderr, "cnnc: error: no model file given\n");
        print_help(stderr);
        return EXIT_USAGE;
    }

    int text_action = o.summary || o.dump_ir || o.dump_graph || o.interpret || o.emit_onnx ||
                      o.to_cnn;
    int lowered_dump = o.dump_ir && strcmp(o.dump_ir, "lowered") == 0;
    /* -o alone builds a program; with only text actions, -o names the text file. */
    int compiling = o.emit_given || lowered_dump || (o.output && !text_action);
    if (!text_action && !compiling)
        o.summary = 1; /* `cnnc FILE` checks the model and shows what it is */
    if (check_output_paths(&o, compiling || text_action) != 0)
        return 1;

    cnnc_diag d;
    cnnc_diag_init(&d, o.input, NULL, 0);
    cnnc_onnx_import onnx = {0};
    const char *program = o.output && !o.emit_given && !text_action ? o.output : NULL;
    if (cnnc_is_onnx_path(o.input) && cnnc_onnx_import_file(o.input, program, &onnx, &d) != 0)
        return 1;
    if (o.to_cnn)
        return print_imported_model(&onnx, &o);
    if (o.web)
        return run_web(&onnx, &o, &d);
    cnnc_graph *g = onnx.model_text
        ? cnnc_compile_source(onnx.model_text, strlen(onnx.model_text), o.input, &d)
        : cnnc_compile_file(o.input, &d);
    if (!g) {
        cnnc_onnx_import_free(&onnx);
        return 1;
    }

    status = 0;
    if (run_text_actions(g, &o, compiling, &d) != 0)
        status = 1;
    if (status == 0 && o.emit_onnx && cnnc_emit_onnx(g, o.emit_onnx, &d) != 0)
        status = 1;
    if (status == 0 && compiling && run_codegen(g, &o, &d) != 0)
        status = 1;
    if (status == 0 && onnx.model_text && compiling && write_imported_weights(g, &onnx, &o, &d))
        status = 1;
    cnnc_onnx_import_free(&onnx);
    cnnc_graph_free(g);
    /* --dump-ir=lowered writes to standard output too: its errors count as well. */
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && status == 0) {
        fprintf(stderr, "cnnc: error: cannot write 'standard output': %s\n",
                errno ? strerror(errno) : "write error");
        status = 1;
    }
    return status;
}
