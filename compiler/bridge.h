/* What the compiler hands to the runtime's own code (weights files, initialisation):
 * the graph's parameters as the runtime describes them. */
#ifndef CNNC_BRIDGE_H
#define CNNC_BRIDGE_H

#include "cnnrt_info.h"
#include "graph.h"

/* The graph's parameters as runtime descriptors (malloc'd, g->num_params entries), in
 * the same order and flat layout as the weights buffer. */
cnnrt_param_desc *cnnc_param_descs(const cnnc_graph *g);

/* Fresh Keras-style weights for g from a seed: exactly what a compiled program's
 * `train` starts from with the same seed. Returns a 64-byte aligned buffer. */
float *cnnc_initial_params(const cnnc_graph *g, uint64_t seed);

#endif
