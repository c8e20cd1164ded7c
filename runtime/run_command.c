/* Running another program and waiting for it (run_command.h). */
#include "run_command.h"

#include <errno.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>

extern char **environ;

cnnrt_run_result cnnrt_run_command(char *const argv[], int *exit_status)
{
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (rc != 0) {
        errno = rc;
        return CNNRT_RUN_NOT_STARTED;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return CNNRT_RUN_WAIT_FAILED;
    *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return CNNRT_RUN_EXITED;
}
