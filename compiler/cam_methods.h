/* Grad-CAM methods, written once. Each method of cnnrt_vocab.h's list is a builder of
 * graph nodes over the target layer's activations A [H,W,C] and the gradient dA [H,W,C]
 * of the class score, giving the raw map [H,W] (before the ReLU and the division by the
 * maximum, which every method shares). The nodes are interpreted, lowered and compiled
 * like any others: the methods have no code of their own anywhere else.
 *
 * Adding a method: one line in CNNRT_CAM_METHODS (runtime/cnnrt_vocab.h) and one builder
 * with its table entry in cam_methods.c. */
#ifndef CNNC_CAM_METHODS_H
#define CNNC_CAM_METHODS_H

#include "graph.h"

/* The method whose map `method` shows: itself, except GUIDED, whose map is HiResCAM's
 * (guided backpropagation, the other factor of Guided Grad-CAM, is a program of its own).
 * Only methods that are their own map get nodes in a Grad-CAM graph. */
cnnrt_cam_method cnnc_cam_map_method(cnnrt_cam_method method);

/* Appends the nodes computing method's raw map from A and dA (node ids of g) for layer
 * `layer` of g; the nodes are named "cam/<layer>/<method>/...". Returns the map node, or
 * -1 after a diagnostic. The method must be its own map (cnnc_cam_map_method). */
int cnnc_cam_build_map(cnnc_graph *g, cnnc_diag *d, cnnrt_cam_method method, int A, int dA,
                       int layer);

/* The raw map node of target `target` and method (mapped by cnnc_cam_map_method) in a
 * graph of cnnc_build_cam_graph, or -1. */
int cnnc_cam_output_node(const cnnc_graph *cam, int target, cnnrt_cam_method method);

#endif
