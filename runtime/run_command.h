/* Running another program and waiting for it: the one place that does, for the compiler
 * (the C compiler that links a program, wasm-ld for --web) and the runtime (the `web`
 * command runs cnnc). It lives in libcnnrt, which cnnc links too. Not installed. */
#ifndef CNNRT_RUN_COMMAND_H
#define CNNRT_RUN_COMMAND_H

/* How cnnrt_run_command went. */
typedef enum cnnrt_run_result {
    CNNRT_RUN_EXITED = 0,       /* it ran: *exit_status is its exit status, or -1 when a
                                   signal ended it */
    CNNRT_RUN_NOT_STARTED = -1, /* it could not be started (errno says why: ENOENT) */
    CNNRT_RUN_WAIT_FAILED = -2  /* waiting for it failed (errno) */
} cnnrt_run_result;

/* Runs argv[0] (looked up in $PATH when it holds no '/') with the arguments argv (ended by
 * NULL) and this process's environment, and waits for it, retrying a wait a signal
 * interrupted. */
cnnrt_run_result cnnrt_run_command(char *const argv[], int *exit_status);

#endif
