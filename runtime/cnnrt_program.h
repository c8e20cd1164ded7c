/* The command-line program of a compiled model: `PROG summary | train | predict | evaluate |
 * gradcam`, each with --help. runtime/main.c (libcnnrt_main) calls it with the model cnnc
 * linked in; tests call it directly with a model written in C.
 *
 * It never exits the process: every error is printed to stderr as one sentence naming the
 * file and the problem, and the return value is the exit status (0 success, 1 error,
 * 2 bad command line; 128 + the signal's number when training was stopped by Ctrl-C, SIGTERM
 * or SIGHUP after saving: 130, 143, 129). */
#ifndef CNNRT_PROGRAM_H
#define CNNRT_PROGRAM_H

#include "cnnrt_model.h"

int cnnrt_program_main(const cnnrt_model *model, int argc, char **argv);

/* Emitted by cnnc into a linked program: the model that runtime/main.c runs. */
extern const cnnrt_model *const cnnrt_program_model;

#endif
