/* --embed-weights FILE: a model's trained weights as constant data in its object, so that a
 * program runs it without reading any file:
 *   const float NAME_weights[NAME_PARAM_FLOATS];   (64-byte aligned, read-only data)
 * passed as the params argument of every entry point (cnnrt_model.h). The weights are read
 * and checked as the programs read them (cnnrt_weights_load: the model's fingerprint,
 * tensor names and shapes, CRC, finite values). */
#ifndef CNNC_EMBED_WEIGHTS_H
#define CNNC_EMBED_WEIGHTS_H

#include <stdint.h>

#include <llvm-c/Core.h>

#include "graph.h"

/* Reads and checks `path` for model g; returns its param_floats floats (free with free()),
 * or NULL after printing "cnnc: error: ..." naming the file and the problem. */
float *cnnc_load_weights_file(const cnnc_graph *g, const char *path);

/* Adds `const float <c_name>_weights[count]` with these values to mod. */
void cnnc_emit_weights_constant(LLVMModuleRef mod, const char *c_name, const float *params,
                                int64_t count);

#endif
