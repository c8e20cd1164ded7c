/* The outputs of cnnc that need more than LLVM: linking a native program with the
 * runtime through the system C compiler, and the header that comes with `-c`. */
#ifndef CNNC_LINK_H
#define CNNC_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "codegen.h"

/* What the generated header declares besides the fixed entry points. */
typedef struct cnnc_header_info {
    const char *c_name;          /* the model's C identifier */
    int64_t ws_floats;           /* ws_floats_per_thread */
    int has_train;
    int has_gradcam;             /* NAME_gradcam and NAME_guided_backprop */
    int has_weights;             /* --embed-weights: const float NAME_weights[] */
    const char *target;          /* --target as given, or NULL for the host */
} cnnc_header_info;

/* Reports a problem with an output file as "cnnc: error: ...": the file at fault is the
 * output, not the model, so the message does not start with the model's name. */
void cnnc_output_error(cnnc_diag *d, const char *fmt, ...) CNNC_PRINTF(2, 3);

/* Writes data[0..len) to path (created or truncated; "-" is standard output), checking
 * every write and the close, so that a full disk or /dev/full is reported with the file's
 * name. -1 after a message. */
int cnnc_write_output(const char *path, const void *data, size_t len, cnnc_diag *d);

/* Runs the linker argv (argv[0] looked up in PATH) that writes output, and waits; -1 after
 * a message if it cannot run ("CANNOT_RUN 'argv[0]'PURPOSE: why", then INSTALL_HINT as a
 * note) or fails. */
int cnnc_run_linker(char *const argv[], const char *output, const char *cannot_run,
                    const char *purpose, const char *install_hint, cnnc_diag *d);

/* A temporary object file path in the output's directory ("PROG.cnnc-PID-PART.o"). */
int cnnc_temp_object_path(const char *output, int part, char *buf, size_t len, cnnc_diag *d);

/* Links the objects objs[0..num_objs) (together the model; one defines
 * cnnrt_program_model) with libcnnrt_main.a and libcnnrt.a into opts->output. The runtime
 * is looked for in opts->runtime_lib_dir, then $CNNC_RUNTIME_DIR, then <directory of
 * cnnc>/../lib, then the install prefix. */
enum { CNNC_LINK_MAX_OBJECTS = 16 };
int cnnc_link_program(const char *const *objs, int num_objs, const cnnc_codegen_options *opts,
                      cnnc_diag *d);

/* Writes the header for object file `object_path` (model.o -> model.h). */
int cnnc_write_model_header(const cnnc_graph *forward, const cnnc_header_info *info,
                            const char *object_path, cnnc_diag *d);

/* The header's path for an object path: the extension replaced by .h (or .h appended). */
void cnnc_header_path(const char *object_path, char *buf, size_t len);

#endif
