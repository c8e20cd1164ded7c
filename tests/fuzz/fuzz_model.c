/* Fuzz target: model files, through every stage before LLVM: lexer and parser, the front
 * end's checks and the graph with its shape rules, symbolic autodiff (the training graph
 * and every Grad-CAM graph of every spatial layer) and lowering (kernels, fusion, arena
 * plan) of each program. What cnnc would hand to LLVM is built; only the emission is left
 * out.
 *
 * Oracle, besides the sanitizers: a file compiles exactly when no error was reported, an
 * error is always printed, and a later stage that fails (say, an op without a gradient
 * rule) reports why rather than failing silently. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "diag.h"
#include "frontend.h"
#include "fuzz_common.h"
#include "graph.h"
#include "lower.h"

static FILE *null_out;

/* Lowers g, built by a stage that started when d->errors was errors_before. g == NULL:
 * that stage failed, and must have said so. */
static void lower_checked(const cnnc_graph *g, cnnc_program_kind kind, cnnc_diag *d,
                          int errors_before)
{
    if (!g) {
        FUZZ_CHECK(d->errors > errors_before);
        return;
    }
    errors_before = d->errors;
    cnnc_lowered *p = cnnc_lower_program(g, kind, d);
    if (!p) {
        FUZZ_CHECK(d->errors > errors_before);
        return;
    }
    FUZZ_CHECK(cnnc_lowered_ws_floats(p) >= 0);
    cnnc_lowered_dump(p, null_out);
    cnnc_lowered_free(p);
}

static int is_spatial_layer(const cnnc_graph *g, int layer)
{
    const cnnc_layer *l = &g->layers[layer];
    return l->shape.rank == 3 && l->output_node >= 0 &&
           g->nodes[l->output_node].op != CNNC_OP_INPUT;
}

static void build_everything(const cnnc_graph *forward, cnnc_diag *d)
{
    cnnc_graph_summary(forward, null_out);
    cnnc_graph_dump(forward, null_out);
    lower_checked(forward, CNNC_PROGRAM_INFER, d, d->errors);

    int errors_before = d->errors;
    cnnc_graph *train = cnnc_build_train_graph(forward, d);
    lower_checked(train, CNNC_PROGRAM_TRAIN, d, errors_before);
    cnnc_graph_free(train);

    int default_layer = cnnc_default_cam_layer(forward);
    FUZZ_CHECK(default_layer < forward->num_layers);
    for (int layer = 0; layer < forward->num_layers; layer++) {
        if (!is_spatial_layer(forward, layer))
            continue;
        for (int method = CNNC_CAM_GRADCAM; method <= CNNC_CAM_GUIDED; method++) {
            errors_before = d->errors;
            cnnc_graph *cam = cnnc_build_cam_graph(forward, layer, (cnnc_cam_method)method, d);
            lower_checked(cam, CNNC_PROGRAM_CAM, d, errors_before);
            cnnc_graph_free(cam);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!null_out)
        null_out = fopen("/dev/null", "w");
    if (size > CNNC_MAX_SOURCE_BYTES)
        return 0;   /* cnnc_read_source refuses these before parsing */
    /* cnnc_read_source hands the parser NUL-terminated text; so does this. */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';

    char *messages = NULL;
    size_t messages_len = 0;
    cnnc_diag d;
    cnnc_diag_init(&d, "fuzz.cnn", NULL, 0);
    d.out = open_memstream(&messages, &messages_len);
    d.color = 0;
    cnnc_graph *g = cnnc_compile_source(text, size, "fuzz.cnn", &d);
    fflush(d.out);
    FUZZ_CHECK((g != NULL) == (d.errors == 0));
    FUZZ_CHECK(g != NULL || messages_len > 0);
    if (g)
        build_everything(g, &d);
    cnnc_graph_free(g);
    fclose(d.out);
    free(messages);
    free(text);
    return 0;
}
