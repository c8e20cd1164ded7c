/* ONNX import (docs/interop.md): a Sequential-shaped ONNX model (each node reading the
 * previous node's output, its other inputs initializers) becomes the equivalent model file
 * and its weights in cnnc's layout.
 *
 * Supported: Conv, Relu, LeakyRelu, Sigmoid, Tanh, MaxPool, AveragePool,
 * GlobalAveragePool, Flatten, Reshape (to [N, -1]), Gemm, MatMul + Add, Dropout, Softmax,
 * Identity, the Transposes of cnnc's own export, and BatchNormalization (a batch_norm
 * layer with the node's epsilon and momentum). Layouts: an NCHW input [N, C, H, W]
 * becomes input shape=HxWxC; conv kernels OIHW -> HWIO; a Gemm after a flattened NCHW map
 * gets its rows reordered from CHW to cnnc's HWC order. A model that ends in scores (no
 * Softmax) gets a softmax layer, so that it trains with cross-entropy. */
#ifndef CNNC_ONNX_IMPORT_H
#define CNNC_ONNX_IMPORT_H

#include <stddef.h>
#include "diag.h"
#include "graph.h"

typedef struct cnnc_onnx_import {
    char *model_text;      /* the model file (cnnc's language), NUL-terminated */
    float *weights;        /* the tensors in the model's get_weights() order, back to back */
    int64_t num_floats;
    int ends_in_scores;    /* 1 when a softmax was added after the ONNX output */
} cnnc_onnx_import;

/* 1 when path names an ONNX file (ends in ".onnx"). */
int cnnc_is_onnx_path(const char *path);

/* Reads and converts path. The model is named after the file name of name_from (the
 * program being built, so that it finds NAME.weights), or of path when NULL. Every node outside the supported set is reported (op type,
 * name, index) before it returns -1; so are a malformed file and shapes cnnc cannot
 * express. */
int cnnc_onnx_import_file(const char *path, const char *name_from, cnnc_onnx_import *out,
                          cnnc_diag *d);
void cnnc_onnx_import_free(cnnc_onnx_import *im);

/* Writes the imported weights for graph g (compiled from im->model_text) as a weights file
 * at path, with fresh optimizer state, so that the program predicts with them and
 * `train --resume` trains them further. */
int cnnc_onnx_write_weights(const cnnc_graph *g, const cnnc_onnx_import *im, const char *path,
                            cnnc_diag *d);

#endif
