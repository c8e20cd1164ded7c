/* What cnnc writes for other frameworks (docs/interop.md): the model as an ONNX graph
 * (opset 13) and as a Keras model config (the modelTopology of a TensorFlow.js layers
 * model). Both are built from the forward graph IR; the weights are filled in by the
 * runtime (runtime/cnnrt_export.h), from the trained weights when a program exports, from
 * the initial ones for `cnnc MODEL --emit-onnx FILE`.
 *
 * ONNX layout: the graph's input "input" is [N, H, W, C] (NHWC, the programs' own input),
 * a Transpose makes it NCHW for Conv and the pools (kernels OIHW), and a Transpose back to
 * NHWC before Flatten keeps the dense kernels' HWC row order, so they are written as they
 * are. The output "output" is [N, classes]. */
#ifndef CNNC_EXPORT_MODEL_H
#define CNNC_EXPORT_MODEL_H

#include <stddef.h>
#include <llvm-c/Core.h>
#include "graph.h"

/* A batch_norm layer (compiler/batch_norm.h builds it from primitives) as the exporters
 * write it: one ONNX BatchNormalization, one Keras BatchNormalization. */
typedef struct cnnc_export_bn {
    int x;                 /* the node the layer normalises */
    int gamma, beta;       /* params indices; -1 without scale, without center */
    int moving_mean, moving_variance;
    float epsilon, momentum;
} cnnc_export_bn;

/* 1 with *bn filled in when layer is a batch_norm layer in the form the front end builds,
 * else 0. */
int cnnc_export_batch_norm(const cnnc_graph *g, int layer, cnnc_export_bn *bn);

/* The ONNX ModelProto without tensor data (initializers with names, types and ONNX
 * dimensions), serialized into *bytes (malloc'ed). -1 after a message when the graph
 * holds something ONNX export does not know. */
int cnnc_onnx_template(const cnnc_graph *g, unsigned char **bytes, size_t *len, cnnc_diag *d);

/* The Keras Sequential model config as JSON (malloc'ed), or NULL after a message. */
char *cnnc_keras_config(const cnnc_graph *g, cnnc_diag *d);

/* --emit-onnx FILE: the model with its initial weights (Glorot from the fit seed, zero
 * biases, as train starts), written atomically. */
int cnnc_emit_onnx(const cnnc_graph *g, const char *path, cnnc_diag *d);

/* Adds the ONNX template and the Keras config to a program's module as the constants the
 * runtime's export command reads (cnnrt_program_onnx_template, ..._size,
 * cnnrt_program_keras_config). A model they do not know gets neither (not an error:
 * the program's export command says so). Returns 0. */
int cnnc_embed_export_data(LLVMModuleRef mod, const cnnc_graph *g);

#endif
