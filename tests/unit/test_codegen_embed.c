/* `cnnc -c` with embedded weights: the object file and generated header compile and link
 * with the runtime core and libm only into a C program (the one in examples/embed/) that
 * runs and prints the prediction the JIT-compiled model makes; `-o PROG` links a program
 * with the runtime that runs `PROG summary`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge.h"
#include "codegen_common.h"

extern char **environ;

/* In the sanitizer build libcnnrt.a is instrumented: whatever links it needs the same
 * runtime libraries. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZE_FLAG "-fsanitize=address,undefined"
#else
#define SANITIZE_FLAG "-O1"
#endif

static const char *const small_model =
    "model gapm\n"
    "input shape=8x7x1\n"
    "conv2d filters=4 kernel=3 padding=same activation=relu\n"
    "max_pool2d\n"
    "global_avg_pool2d\n"
    "dense units=3\n"
    "softmax\n";

/* Runs argv with stdout+stderr to `log`; returns the exit status (or -1). */
static int run(char *const argv[], const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* A run's log; empty text when the run left none, so that messages can always show it. */
static char *slurp(const char *path)
{
    char *text = cg_read_text(path);
    return text ? text : calloc(1, 1);
}

static void test_embed_example(void **state)
{
    (void)state;
    char dir[] = "/tmp/cnnc-embed-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cg_case c;
    cg_compile_text(&c, small_model);
    cnnc_codegen_options o = cg_emit_options(CNNC_EMIT_OBJECT, 1);
    float *params = cnnc_initial_params(c.g, 42);
    o.embedded_params = params;
    char obj[256], header[256], exe[256], log[256], picture[256];
    snprintf(obj, sizeof obj, "%s/gapm.o", dir);
    snprintf(header, sizeof header, "%s/gapm.h", dir);
    snprintf(exe, sizeof exe, "%s/classify", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    snprintf(picture, sizeof picture, "%s/picture.raw", dir);
    o.output = obj;
    if (cnnc_codegen_run(c.g, &o, &c.d))
        fail_msg("-c failed: %s", cg_diag(&c));
    assert_int_equal(access(header, R_OK), 0);

    char include_dir[300], runtime_inc[300], source[300], lib[300];
    snprintf(include_dir, sizeof include_dir, "-I%s", dir);
    snprintf(runtime_inc, sizeof runtime_inc, "-I%s/runtime", CNNC_SOURCE_DIR);
    snprintf(source, sizeof source, "%s/examples/embed/main.c", CNNC_SOURCE_DIR);
    snprintf(lib, sizeof lib, "%s/lib/libcnnrt_core.a", CNNC_BINARY_DIR);
    char *cc_argv[] = {"cc", SANITIZE_FLAG, "-std=c11", "-Wall", "-Werror", include_dir, runtime_inc,
                       "-DMODEL_HEADER=\"gapm.h\"", "-DMODEL=gapm", source, obj, lib,
                       "-lm", "-o", exe, NULL};
    int rc = run(cc_argv, log);
    if (rc != 0) {
        char *text = slurp(log);
        fail_msg("compiling the embed example failed (%d):\n%s", rc, text);
    }
    /* The picture: 8x7 bytes; the expected answer from the same weights in the JIT. */
    enum { PIXELS = 8 * 7 };
    unsigned char bytes[PIXELS];
    float x[PIXELS], probs[3];
    for (int i = 0; i < PIXELS; i++) {
        bytes[i] = (unsigned char)(i * 37 % 256);
        x[i] = (float)bytes[i] / 255.0f;
    }
    FILE *f = fopen(picture, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, PIXELS, f), PIXELS);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(cnnc_interp_infer(c.g, params, x, 1, probs, NULL, &c.d), 0);

    char *run_argv[] = {exe, "--gradcam", picture, NULL};
    rc = run(run_argv, log);
    char *text = slurp(log);
    if (rc != 0)
        fail_msg("the embed example failed (%d):\n%s", rc, text);
    assert_non_null(strstr(text, "model gapm: class"));
    const char *line = strstr(text, "probabilities:");
    float got[3];
    if (!line || sscanf(line, "probabilities: %g %g %g", &got[0], &got[1], &got[2]) != 3)
        fail_msg("the embed example printed no probabilities:\n%s", text);
    for (int k = 0; k < 3; k++)
        if (fabsf(got[k] - probs[k]) > 1e-5f)
            fail_msg("class %d: the embed example says %g, the interpreter %g:\n%s", k,
                     (double)got[k], (double)probs[k], text);
    assert_non_null(strstr(text, "gradcam "));
    free(text);
    free(params);
    unlink(picture);
    unlink(obj);
    unlink(header);
    unlink(exe);
    unlink(log);
    rmdir(dir);
    cg_case_free(&c);
}

/* -o PROG: linked with libcnnrt_main + libcnnrt found in <tests dir>/../lib. */
static void test_linked_program(void **state)
{
    (void)state;
    char rt[300];
    snprintf(rt, sizeof rt, "%s/lib/libcnnrt_main.a", CNNC_BINARY_DIR);
    if (access(rt, R_OK) != 0)
        skip();   /* the runtime's main is not built in this tree */
    char dir[] = "/tmp/cnnc-prog-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cg_case c;
    cg_compile_text(&c, small_model);
    cnnc_codegen_options o = cg_emit_options(CNNC_EMIT_PROGRAM, 0);
    char exe[256], log[256], libdir[300];
    snprintf(exe, sizeof exe, "%s/gapm", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    snprintf(libdir, sizeof libdir, "%s/lib", CNNC_BINARY_DIR);
    o.output = exe;
    o.runtime_lib_dir = libdir;
    o.cc = "cc " SANITIZE_FLAG;
    if (cnnc_codegen_run(c.g, &o, &c.d))
        fail_msg("-o failed: %s", cg_diag(&c));
    char *argv[] = {exe, "summary", NULL};
    int rc = run(argv, log);
    char *text = slurp(log);
    if (rc != 0)
        fail_msg("'%s summary' failed (%d):\n%s", exe, rc, text);
    assert_non_null(strstr(text, "gapm"));
    free(text);
    /* No temporary object (one per part compiled on a thread) left beside the program. */
    for (int part = 0; part < 8; part++) {
        char listing[300];
        snprintf(listing, sizeof listing, "%s.cnnc-%ld-%d.o", exe, (long)getpid(), part);
        assert_int_not_equal(access(listing, F_OK), 0);
    }
    unlink(exe);
    unlink(log);
    rmdir(dir);
    cg_case_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed_example),
        cmocka_unit_test(test_linked_program),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
