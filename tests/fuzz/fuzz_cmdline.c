/* Fuzz target: the command line of a generated program (runtime/program.c and the cmd_*.c
 * option parsers), run on the model of tests/unit/fake_model.inc. The input is the argument
 * list, arguments separated by NUL bytes, the first being the command.
 *
 * Each command parses and checks its options, then looks for its data or weights. The
 * target runs in an empty temporary directory with CNNC_DATA naming a directory that does
 * not exist, so no command finds data or weights: what is fuzzed is the parsing and the
 * checks before any work, and nothing is written. The status must be one the program
 * documents (cnnrt_program.h). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnnrt_program.h"
#include "fuzz_common.h"

#include "../unit/fake_model.inc"

enum { MAX_ARGS = 64 };

static char work_dir[] = "/tmp/cnnc-fuzz-cmdline.XXXXXX";

static void remove_work_dir(void)
{
    if (chdir("/") == 0)
        rmdir(work_dir);   /* empty unless a command wrote something: then it stays, as a clue */
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FUZZ_CHECK(mkdtemp(work_dir) != NULL);
    FUZZ_CHECK(chdir(work_dir) == 0);
    atexit(remove_work_dir);
    char no_data[sizeof work_dir + 16];
    snprintf(no_data, sizeof no_data, "%s/no-data", work_dir);
    setenv("CNNC_DATA", no_data, 1);
    /* The program's messages are what it should print; here they are only noise. */
    FUZZ_CHECK(freopen("/dev/null", "w", stdout) != NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An argument that reaches outside the work directory ("/tmp", "../x"): the commands take
 * files and folders of pictures, and one that walked this machine's /tmp would fuzz
 * whatever happens to be there (a named pipe left by another program once hung a run), not
 * the program. Such inputs are skipped; folders with odd entries are tested by
 * tests/e2e/gradcam_pictures.sh and the fuzz_folder target. */
static int leaves_work_dir(const char *arg)
{
    if (arg[0] == '/' || arg[0] == '~')
        return 1;
    for (const char *p = strstr(arg, ".."); p; p = strstr(p + 1, ".."))
        if ((p == arg || p[-1] == '/' || p[-1] == '=') && (p[2] == '\0' || p[2] == '/'))
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* argv strings must be NUL-terminated and writable, as main's are. */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "fuzzprog";
    for (size_t at = 0; at <= size && argc <= MAX_ARGS; at += strlen(text + at) + 1)
        argv[argc++] = text + at;
    argv[argc] = NULL;
    for (int i = 1; i < argc; i++)
        if (leaves_work_dir(argv[i])) {
            free(text);
            return 0;
        }

    int status = cnnrt_program_main(&fake_model, argc, argv);
    FUZZ_CHECK(status == 0 || status == 1 || status == 2 || status == 130);
    free(text);
    return 0;
}
