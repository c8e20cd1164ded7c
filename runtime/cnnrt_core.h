/* The runtime core: everything a compiled model needs to run inference and Grad-CAM on a
 * device, and nothing else -- no files, no pictures, no threads, no libpng or zlib.
 *
 * A model object (`cnnc MODEL -c [--embed-weights FILE] [--no-train] [--no-gradcam]
 * [--target TRIPLE]`) calls, besides its own code, only
 *   cnnrt_parallel_for, cnnrt_pool_threads,  (cnnrt_model.h; runtime/core_serial.c)
 *   cnnrt_parallel_team, cnnrt_team_barrier
 *   memcpy, memset                           (libc)
 *   exp, log, powf                           (libm)
 * so a program that embeds it links the object, libcnnrt_core.a (runtime/core_serial.c and
 * core.c; the cross builds compile those two files with the program) and -lm:
 *
 *   cc app.c model.o -I<cnnc>/include <cnnc>/lib/libcnnrt_core.a -lm
 *
 * The core is single-threaded: cnnrt_parallel_for runs every piece on the calling thread,
 * in order, so the pool argument of the entry points must be NULL (the core cannot create
 * pools) and the workspace is one thread's: ws_floats_per_thread floats, 64-byte aligned
 * (the header's NAME_WS_BYTES). Results are those of the full runtime with one thread.
 * A program that wants threads links libcnnrt.a instead (its cnnrt_pool_create and
 * cnnrt_parallel_for, with -lpthread and libcnnrt's other libraries); libcnnrt does not
 * contain core_serial.c, so the two never define the same symbol in one program.
 *
 * The core compiles with any C11 compiler for any target cnnc emits code for (x86-64,
 * aarch64 with Debian's cross gcc, wasm32 with clang and wasi-libc): it includes only
 * cnnrt_model.h and, on x86, <xmmintrin.h>. */
#ifndef CNNRT_CORE_H
#define CNNRT_CORE_H

#include <stdint.h>
#include "cnnrt_model.h"

/* The index of the largest of n values (the first one on ties); 0 when n <= 0. */
int64_t cnnrt_core_argmax(const float *values, int64_t n);

/* The index of the model's default Grad-CAM layer in model->cam_layers: the model file's
 * `gradcam layer=`, else the last layer Grad-CAM can explain; -1 when the model has none
 * (or was compiled with --no-gradcam). */
int64_t cnnrt_core_default_cam_layer(const cnnrt_model *model);

#endif
