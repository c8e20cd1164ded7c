/* Writing a model in other frameworks' formats: ONNX (export_onnx.c) and the TensorFlow.js
 * Layers format with its Keras model config (export_tfjs.c). docs/interop.md describes
 * both.
 *
 * The compiler knows the architecture; the runtime knows the trained weights. So cnnc
 * builds, for every program it links, an ONNX model *template* (every node, every
 * initializer's name, type and dimensions, but no data) and the Keras config as JSON, and
 * embeds both in the program (compiler/export_model.c). The functions here fill in the
 * weights. `cnnc MODEL --emit-onnx FILE` uses the same function with fresh weights.
 *
 * Layouts: cnnc's weights are Keras's (conv kernel HWIO, dense kernel [in][out], HWC
 * flatten order). The TensorFlow.js shards keep them as they are. In ONNX every rank-4
 * initializer is a convolution kernel and is written OIHW (ONNX's Conv); the template's
 * graph takes NHWC input and transposes at the boundaries, so nothing else changes. */
#ifndef CNNRT_EXPORT_H
#define CNNRT_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include "cnnrt_common.h"
#include "cnnrt_info.h"

/* Fills every initializer of the ONNX model `tmpl` (a serialized ModelProto) named after
 * one of the params with that tensor of `weights` (param_floats floats in the weights
 * file's layout), converting conv kernels HWIO -> OIHW, and returns the serialized model
 * in *out (malloc'ed). Errors: a template that does not parse, an initializer whose
 * dimensions do not match its tensor, a tensor without an initializer. */
int cnnrt_onnx_fill(const void *tmpl, size_t tmpl_len, const cnnrt_param_desc *params,
                    int num_params, const float *weights, unsigned char **out,
                    size_t *out_len, cnnrt_err *e);

/* cnnrt_onnx_fill, then the result written to path atomically. */
int cnnrt_onnx_write(const char *path, const void *tmpl, size_t tmpl_len,
                     const cnnrt_param_desc *params, int num_params, const float *weights,
                     cnnrt_err *e);

/* Writes the TensorFlow.js Layers format into directory dir (created when missing):
 * model.json (format "layers-model", modelTopology = keras_config, the weights manifest)
 * and group1-shard1of1.bin (the weights as little-endian float32 in Keras's
 * get_weights() order), each atomically. */
int cnnrt_tfjs_write(const char *dir, const char *keras_config, const cnnrt_param_desc *params,
                     int num_params, const float *weights, cnnrt_err *e);

/* What cnnc embeds in a linked program for the export command (weak: absent in programs
 * built before export existed, and in embedders' programs). */
extern const unsigned char cnnrt_program_onnx_template[] __attribute__((weak));
extern const int64_t cnnrt_program_onnx_template_size __attribute__((weak));
extern const char cnnrt_program_keras_config[] __attribute__((weak));

#endif
