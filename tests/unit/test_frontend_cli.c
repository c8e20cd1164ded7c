/* The cnnc driver as a user meets it: exit statuses (0 ok, 1 errors in the model or the
 * file, 2 usage), --version, --summary, and diagnostics with a caret on standard error.
 * Runs the built bin/cnnc; skipped when it has not been built. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *cnnc_path = CNNC_BINARY_DIR "/bin/cnnc";

typedef struct run_result {
    int status;
    char *output;   /* stdout and stderr together */
} run_result;

/* Runs cnnc with a shell-quoted argument string; the model text, when given, is written
 * to a temporary file whose path replaces every "%s" in args. */
static run_result run_cnnc(const char *args, const char *model)
{
    run_result r = {-1, NULL};
    char model_path[] = "/tmp/cnnc_cli_model_XXXXXX";
    char out_path[] = "/tmp/cnnc_cli_out_XXXXXX";
    int out_fd = mkstemp(out_path);
    assert_true(out_fd >= 0);
    close(out_fd);
    char formatted[1024];
    if (model) {
        int fd = mkstemp(model_path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, model, strlen(model)), (ssize_t)strlen(model));
        close(fd);
        snprintf(formatted, sizeof formatted, args, model_path);
    } else {
        snprintf(formatted, sizeof formatted, "%s", args);
    }
    char command[2048];
    snprintf(command, sizeof command, "'%s' %s >'%s' 2>&1", cnnc_path, formatted, out_path);
    int status = system(command);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    FILE *f = fopen(out_path, "rb");
    assert_non_null(f);
    r.output = calloc(1, 1 << 16);
    size_t n = fread(r.output, 1, (1 << 16) - 1, f);
    r.output[n] = '\0';
    fclose(f);
    unlink(out_path);
    if (model)
        unlink(model_path);
    return r;
}

static int have_cnnc(void)
{
    if (access(cnnc_path, X_OK) == 0)
        return 1;
    print_message("skipped: %s is not built\n", cnnc_path);
    return 0;
}

static void expect(const run_result *r, int status, const char *needle)
{
    if (r->status != status || !strstr(r->output, needle))
        fail_msg("expected status %d and '%s', got status %d:\n%s", status, needle, r->status,
                 r->output);
}

static void test_version_help_usage(void **state)
{
    (void)state;
    if (!have_cnnc())
        skip();
    run_result r = run_cnnc("--version", NULL);
    expect(&r, 0, "cnnc ");
    expect(&r, 0, "(LLVM ");
    free(r.output);
    r = run_cnnc("--help", NULL);
    expect(&r, 0, "usage: cnnc MODEL.cnn");
    free(r.output);
    r = run_cnnc("--frobnicate", NULL);
    expect(&r, 2, "cnnc: error: unknown option '--frobnicate'");
    free(r.output);
    r = run_cnnc("", NULL);
    expect(&r, 2, "no model file given");
    free(r.output);
    r = run_cnnc("/nonexistent.cnn --summary", NULL);
    expect(&r, 1, "cannot open '/nonexistent.cnn'");
    free(r.output);
}

static void test_summary_of_the_tutorial_model(void **state)
{
    (void)state;
    if (!have_cnnc())
        skip();
    run_result r = run_cnnc("'" CNNC_SOURCE_DIR "/models/mnist.cnn' --summary", NULL);
    expect(&r, 0, "Total params: 50,186 (196.04 KB)");
    expect(&r, 0, " conv2d_1 (Conv2D)");
    free(r.output);
    r = run_cnnc("'" CNNC_SOURCE_DIR "/models/mnist.cnn' --dump-ir", NULL);
    expect(&r, 0, "= softmax(%14) : 10");
    free(r.output);
}

static void test_errors_exit_1_with_caret(void **state)
{
    (void)state;
    if (!have_cnnc())
        skip();
    run_result r = run_cnnc("'%s' --summary", "input shape=28x28x1\nconv2d filtrs=8 kernel=3\n"
                                               "flatten\ndense units=10\n");
    expect(&r, 1, ":2:8: error: unknown key 'filtrs' for 'conv2d'\n"
                  "    conv2d filtrs=8 kernel=3\n"
                  "           ^~~~~~\n");
    expect(&r, 1, "note: did you mean 'filters'?");
    assert_null(strstr(r.output, "Total params"));
    free(r.output);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_help_usage),
        cmocka_unit_test(test_summary_of_the_tutorial_model),
        cmocka_unit_test(test_errors_exit_1_with_caret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
