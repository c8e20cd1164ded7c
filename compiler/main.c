/* cnnc: the command-line driver.
 *
 * The options are one table: each entry names the option, whether it takes a value, and
 * what it sets in `cnnc_options`. Adding an option is adding a row and a field; the actions
 * after parsing (summary, dumps, and later compiling and linking) read the fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "graph.h"

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

static int set_dump_ir(cnnc_options *o, const char *v)
{
    if (!v)
        v = "graph";
    if (strcmp(v, "graph") != 0) {
        fprintf(stderr, "cnnc: error: --dump-ir=%s: unknown IR level (expected 'graph')\n", v);
        return -1;
    }
    o->dump_ir = v;
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
    {"--dump-ir", ARG_OPTIONAL, "graph", "print the graph IR as text", set_dump_ir},
    {"--dump-graph", ARG_REQUIRED, "dot", "write the graph IR as Graphviz (to -o or stdout)",
     set_dump_graph},
    {"-o", ARG_REQUIRED, "FILE", "write the output to FILE", set_output},
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
    fprintf(out, "\nexample:\n  cnnc models/mnist.cnn --summary\n");
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
            if (s->name[1] == '-' || i + 1 >= argc) {
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
    if (!o->output || strcmp(o->output, "-") == 0)
        return stdout;
    FILE *f = fopen(o->output, "w");
    if (!f)
        fprintf(stderr, "cnnc: error: cannot write '%s': ", o->output), perror(NULL);
    return f;
}

static int close_output(FILE *f, const cnnc_options *o)
{
    int failed = ferror(f);
    if (f != stdout)
        failed |= fclose(f) != 0;
    else
        failed |= fflush(f) != 0;
    if (failed)
        fprintf(stderr, "cnnc: error: writing '%s' failed\n", o->output ? o->output : "stdout");
    return failed;
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

    cnnc_diag d;
    cnnc_diag_init(&d, o.input, NULL, 0);
    cnnc_graph *g = cnnc_compile_file(o.input, &d);
    if (!g)
        return 1;

    if (!o.summary && !o.dump_ir && !o.dump_graph) {
        /* Code generation is not wired into the driver yet: checking the model and
         * printing its summary is what compiling does for now. */
        o.summary = 1;
    }
    FILE *out = open_output(&o);
    if (!out) {
        cnnc_graph_free(g);
        return 1;
    }
    if (o.summary)
        cnnc_graph_summary(g, out);
    if (o.dump_ir)
        cnnc_graph_dump(g, out);
    if (o.dump_graph)
        cnnc_graph_dump_dot(g, out);
    status = close_output(out, &o) ? 1 : 0;
    cnnc_graph_free(g);
    return status;
}
