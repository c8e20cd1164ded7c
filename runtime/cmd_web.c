/* The `web` command: the draw-a-digit page for the trained model. Making it takes a
 * compiler and a linker (the model compiled to WebAssembly, linked with the runtime built
 * for wasm32), which a program does not carry: it checks the weights, then runs
 * `cnnc MODEL --web DIR --weights FILE` (compiler/web.h) with the model file it was compiled
 * from, and when cnnc or that file is not there, says the exact command to run. */
#include "program_util.h"
#include "run_command.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Prints one word of a shell command, quoted when it needs to be. */
static void print_word(const char *w)
{
    if (*w && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "_-./=+:,@%") == strlen(w)) {
        fputs(w, stderr);
        return;
    }
    fputc('\'', stderr);
    for (; *w; w++)
        fputs(*w == '\'' ? "'\\''" : (char[2]){*w, 0}, stderr);
    fputc('\'', stderr);
}

static void print_command(char *const argv[])
{
    fputs("  ", stderr);
    for (int i = 0; argv[i]; i++) {
        if (i)
            fputc(' ', stderr);
        print_word(argv[i]);
    }
    fputc('\n', stderr);
}

int cnnrt_prog_cmd_web(const prog_ctx *ctx, int argc, char **argv)
{
    const char *out = NULL, *weights = NULL, *data = NULL;
    const prog_option options[] = {
        {"out", OPT_STRING, &out, 0, 0, "DIR", "the folder to write the page into", NULL},
        {"weights", OPT_STRING, &weights, 0, 0, "FILE",
         "the trained weights (default: NAME.weights)", NULL},
        {"data", OPT_STRING, &data, 0, 0, "DIR",
         "the test digits the page offers (default: $CNNC_DATA, then data/mnist)", NULL},
    };
    prog_command cmd = {"web", "--out DIR [OPTIONS]",
                        "Writes the draw-a-digit web page for the trained model.",
                        "It runs `cnnc MODEL --web DIR --weights FILE` (cnnc compiles the "
                        "model to WebAssembly,\nwhich a program cannot do; $CNNC names "
                        "another cnnc than the one on PATH).",
                        "web --out page", options, sizeof options / sizeof options[0], 0};
    int stop, parsed = cnnrt_prog_parse_options(ctx, &cmd, argc, argv, &stop);
    if (stop)
        return parsed;
    if (!out)
        return cnnrt_prog_usage_error(ctx, "web", "say where to write the page: --out DIR");
    char default_weights[4096];
    if (!weights) {
        cnnrt_prog_default_weights_path(ctx, default_weights, sizeof default_weights);
        weights = default_weights;
    }
    float *params = cnnrt_aligned_alloc((size_t)ctx->model->param_floats * sizeof(float));
    int status = cnnrt_prog_need_trained_weights(ctx, weights, params);
    free(params);
    if (status != PROG_OK)
        return status;
    const char *cnnc = getenv("CNNC");
    const char *source = ctx->info.source[0] ? ctx->info.source : "MODEL.cnn";
    char *command[] = {(char *)(cnnc && *cnnc ? cnnc : "cnnc"), (char *)source, "--web",
                       (char *)out, "--weights", (char *)weights, data ? "--data" : NULL,
                       (char *)data, NULL};
    struct stat st;
    if (stat(source, &st) != 0 || !S_ISREG(st.st_mode)) {
        cnnrt_prog_error(ctx, "the model file %s was compiled from is not at '%s' from here; "
                        "run cnnc with it:", ctx->prog, source);
        print_command(command);
        return PROG_ERROR;
    }
    int rc;
    if (cnnrt_run_command(command, &rc) != CNNRT_RUN_EXITED) {
        cnnrt_prog_error(ctx, "cannot run '%s' (%s): the page is made by cnnc, which compiles the "
                        "model to WebAssembly; install cnnc (or set CNNC) and run:",
                   command[0], strerror(errno));
        print_command(command);
        return PROG_ERROR;
    }
    return rc == 0 ? PROG_OK : PROG_ERROR;
}
