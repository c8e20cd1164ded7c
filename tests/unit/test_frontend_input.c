/* The front end on the inputs found by trying bad ones: megabyte-long lines and files of
 * a hundred thousand layers (linear time, a bounded number of messages), a UTF-8
 * byte-order mark and CR or CRLF line ends, names longer than the compiled program could
 * hold, numbers no double can hold, and a summary of a layer too big for Keras's column
 * widths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ast.h"
#include "frontend.h"
#include "graph.h"

/* AddressSanitizer at -O0 makes everything several times slower. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* A guard against work that grows with the square of the input, not a benchmark: the
 * quadratic scanner took 24 s on a 100 kB line, so about 40 minutes on 1 MiB, while the
 * linear one takes about 0.3 s. CPU time (wall time says more about the neighbours on a
 * shared machine than about the scanner), with room for a loaded machine's slower cores so
 * the test never fails on load alone. */
static const double CPU_SECONDS_LIMIT = SANITIZED ? 15.0 : 3.0;

typedef struct compiled {
    cnnc_graph *g;
    char *messages;
    size_t size;
    int errors;
    double cpu_seconds;
} compiled;

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static compiled compile_bytes(const char *text, size_t len)
{
    compiled c;
    memset(&c, 0, sizeof c);
    cnnc_diag d;
    cnnc_diag_init(&d, "t.cnn", NULL, 0);
    d.out = open_memstream(&c.messages, &c.size);
    d.color = 0;
    double start = cpu_now();
    c.g = cnnc_compile_source(text, len, "t.cnn", &d);
    c.cpu_seconds = cpu_now() - start;
    fclose(d.out);
    c.errors = d.errors;
    return c;
}

static compiled compile_text(const char *text)
{
    return compile_bytes(text, strlen(text));
}

static void release(compiled *c)
{
    cnnc_graph_free(c->g);
    free(c->messages);
}

static void expect_message(const compiled *c, const char *needle)
{
    if (!strstr(c->messages, needle))
        fail_msg("expected the message\n  %s\nin\n%s", needle, c->messages);
}

#define HEAD "input shape=28x28x1\n"
#define TAIL "flatten\ndense units=10 activation=softmax\n"

/* A file of exactly 1 MiB: HEAD, then `prefix`, `first` repeated over half of the room,
 * `then` repeated, spaces to fill, and TAIL. */
static char *megabyte_file2(const char *prefix, const char *first, const char *then,
                            size_t *len)
{
    size_t total = CNNC_MAX_SOURCE_BYTES, head = strlen(HEAD), tail = strlen(TAIL);
    char *text = malloc(total + 1);
    assert_non_null(text);
    memcpy(text, HEAD, head);
    size_t body = total - head - tail - 1, n1 = strlen(first), n2 = strlen(then);
    size_t i = strlen(prefix);
    memset(text + head, ' ', body);
    memcpy(text + head, prefix, i);
    for (; i + n1 <= body / 2; i += n1)
        memcpy(text + head + i, first, n1);
    for (; i + n2 <= body; i += n2)
        memcpy(text + head + i, then, n2);
    text[head + body] = '\n';
    memcpy(text + head + body + 1, TAIL, tail);
    text[total] = '\0';
    *len = total;
    return text;
}

/* A file of exactly 1 MiB: HEAD, then `line` repeated, then spaces to fill, then TAIL. */
static char *megabyte_file(const char *line, size_t *len)
{
    size_t total = CNNC_MAX_SOURCE_BYTES, head = strlen(HEAD), tail = strlen(TAIL);
    char *text = malloc(total + 1);
    assert_non_null(text);
    memcpy(text, HEAD, head);
    size_t body = total - head - tail - 1, n = strlen(line);
    memset(text + head, ' ', body);
    for (size_t i = 0; i + n <= body; i += n)
        memcpy(text + head + i, line, n);
    text[head + body] = '\n';
    memcpy(text + head + body + 1, TAIL, tail);
    text[total] = '\0';
    *len = total;
    return text;
}

static void expect_within(const compiled *c, const char *what, double limit)
{
    if (c->cpu_seconds > limit)
        fail_msg("%s took %.2f s of CPU time (limit %.2f s)", what, c->cpu_seconds, limit);
}

static void expect_fast(const compiled *c, const char *what)
{
    expect_within(c, what, CPU_SECONDS_LIMIT);
}

/* ---- megabyte inputs ---------------------------------------------------------------------- */

static void test_megabyte_comment_line(void **state)
{
    (void)state;
    size_t len;
    char *text = megabyte_file("# a comment that goes on and on ", &len);
    text[strlen(HEAD)] = '#';
    compiled c = compile_bytes(text, len);
    expect_fast(&c, "a 1 MiB comment line");
    assert_non_null(c.g);   /* a comment is a comment, however long */
    assert_int_equal(c.errors, 0);
    release(&c);
    free(text);
}

static void test_megabyte_line_of_bad_characters(void **state)
{
    (void)state;
    static const struct {
        const char *line, *message;
    } cases[] = {
        {"$", "t.cnn:2:1: error: unexpected character '$'\n"},
        {"\xc3\xa9", "t.cnn:2:1: error: unexpected character '\xc3\xa9' (U+00E9)"},
        {"\xff", "t.cnn:2:1: error: invalid UTF-8 byte 0xFF"},
        {"\x01", "t.cnn:2:1: error: unexpected control character 0x01\n"},
        {"$ ", "t.cnn:2:1: error: unexpected character '$'\n"},
        {"conv2d ", "t.cnn:2:8: error: expected key=value, found 'conv2d'\n"},
        {"1e", "t.cnn:2:1: error: '1e1e1e1e"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *text = megabyte_file(cases[i].line, &len);
        compiled c = compile_bytes(text, len);
        expect_fast(&c, cases[i].message);
        assert_null(c.g);
        expect_message(&c, cases[i].message);
        /* At most CNNC_ERROR_LIMIT messages, each line quoted as a window around the
         * caret: not a megabyte of text. */
        if (c.size > (size_t)CNNC_ERROR_LIMIT * 400)
            fail_msg("case %zu: %d errors, %zu bytes of messages:\n%.2000s", i, c.errors,
                     c.size, c.messages);
        release(&c);
        free(text);
    }
}

static void test_megabyte_of_bad_lines_stops_at_the_error_limit(void **state)
{
    (void)state;
    size_t len;
    char *text = megabyte_file("bogus $\n", &len);
    compiled c = compile_bytes(text, len);
    expect_fast(&c, "a megabyte of bad lines");
    assert_true(c.errors >= CNNC_ERROR_LIMIT);
    expect_message(&c, "t.cnn: error: too many errors (50); stopping here\n");
    int printed = 0;
    for (const char *p = c.messages; (p = strstr(p, ": error: ")) != NULL; p++)
        printed++;
    assert_int_equal(printed, CNNC_ERROR_LIMIT + 1);   /* and the "too many" line */
    release(&c);
    free(text);
}

static void test_a_hundred_thousand_layers(void **state)
{
    (void)state;
    static const char *const lines[] = {"relu\n", "relu name=r\n", "conv2d name=x name=x\n"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        size_t len;
        char *text = megabyte_file(lines[i], &len);
        compiled c = compile_bytes(text, len);
        /* 200,000 layers make 200,000 graph nodes of a few hundred bytes each: most of the
         * time is the memory they take, linear in the layers (it was quadratic). */
        expect_within(&c, lines[i], 2 * CPU_SECONDS_LIMIT);
        if (i == 0) {
            /* 200,000 relu layers are a valid (if silly) model, named as Keras would. */
            assert_non_null(c.g);
            assert_true(c.g->num_layers > 200000);
            assert_int_equal(cnnc_graph_find_layer(c.g, "relu_1000"), 1000);
        } else {
            assert_null(c.g);
            expect_message(&c, i == 1 ? "t.cnn:3:11: error: duplicate layer name 'r'\n"
                                      : "t.cnn:2:15: error: 'name' is given twice\n");
        }
        release(&c);
        free(text);
    }
}

/* Checks that looked back over every earlier statement or argument for each one. */
static void test_megabyte_of_repeats_after_other_text(void **state)
{
    (void)state;
    static const struct {
        const char *prefix, *first, *then, *message;
    } cases[] = {
        /* 'filters' given 50,000 times after 100,000 unknown keys, on one line (only the
         * first 50 messages are printed) */
        {"conv2d ", "zz=1 ", "filters=1 ", "t.cnn:2:8: error: unknown key 'zz' for 'conv2d'\n"},
        /* 'fit' given 100,000 times after 100,000 layers */
        {"", "relu\n", "fit\n", "error: 'fit' is given twice\n"},
        /* 50,000 layers named n after 100,000 unnamed ones */
        {"", "relu\n", "relu name=n\n", "error: duplicate layer name 'n'\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *text = megabyte_file2(cases[i].prefix, cases[i].first, cases[i].then, &len);
        compiled c = compile_bytes(text, len);
        expect_within(&c, cases[i].message, 2 * CPU_SECONDS_LIMIT);
        assert_null(c.g);
        expect_message(&c, cases[i].message);
        release(&c);
        free(text);
    }
}

/* ---- byte-order mark and line ends -------------------------------------------------------- */

static void test_byte_order_mark_is_skipped(void **state)
{
    (void)state;
    compiled c = compile_text("\xEF\xBB\xBF" HEAD TAIL);
    assert_non_null(c.g);
    assert_int_equal(c.errors, 0);
    release(&c);

    /* Columns start after the mark, and the quoted line does not show it. */
    c = compile_text("\xEF\xBB\xBF" "inptu shape=28x28x1\n" TAIL);
    assert_null(c.g);
    expect_message(&c, "t.cnn:1:1: error: unknown statement 'inptu'\n"
                       "    inptu shape=28x28x1\n"
                       "    ^~~~~\n");
    release(&c);

    /* Only at the start: anywhere else it is a character that has no place there. */
    c = compile_text(HEAD "\xEF\xBB\xBF" TAIL);
    assert_null(c.g);
    expect_message(&c, "t.cnn:2:1: error: unexpected character");
    release(&c);
}

static void test_cr_and_crlf_end_lines(void **state)
{
    (void)state;
    static const char *const ends[] = {"\r", "\r\n", "\n"};
    for (int i = 0; i < 3; i++) {
        char text[512];
        const char *e = ends[i];
        snprintf(text, sizeof text,
                 "# a comment%smodel m%sinput shape=28x28x1%sconv2d filters=4 kernel=3%s"
                 "flatten%sdense units=10 activation=softmax%s", e, e, e, e, e, e);
        compiled c = compile_text(text);
        if (!c.g)
            fail_msg("line end %d: %s", i, c.messages);
        assert_int_equal(c.g->num_layers, 3);
        assert_string_equal(c.g->model_name, "m");
        release(&c);

        /* Errors name the right line and quote only that line. */
        snprintf(text, sizeof text, "model m%sinput shape=28x28x1%sconv2d filtrs=4 kernel=3%s"
                 "flatten%sdense units=10%s", e, e, e, e, e);
        c = compile_text(text);
        assert_null(c.g);
        expect_message(&c, "t.cnn:3:8: error: unknown key 'filtrs' for 'conv2d'\n"
                           "    conv2d filtrs=4 kernel=3\n"
                           "           ^~~~~~\n");
        release(&c);
    }
    /* A NUL byte's line is counted the same way. */
    const char binary[] = "input shape=28x28x1\rfla\0tten\r";
    compiled c = compile_bytes(binary, sizeof binary - 1);
    expect_message(&c, "t.cnn:2:4: error: NUL byte");
    release(&c);
}

/* ---- names and numbers the program could not hold ---------------------------------------- */

static char *repeated(char ch, int n)
{
    char *s = malloc((size_t)n + 1);
    memset(s, ch, (size_t)n);
    s[n] = '\0';
    return s;
}

static void test_name_limits(void **state)
{
    (void)state;
    char text[2048];
    char *layer = repeated('l', CNNC_MAX_LAYER_NAME);
    char *model = repeated('m', CNNC_MAX_MODEL_NAME);
    snprintf(text, sizeof text, "model %s\n" HEAD "conv2d filters=2 kernel=3 name=%s\n" TAIL
             "gradcam layer=%s\n", model, layer, layer);
    compiled c = compile_text(text);
    if (!c.g)
        fail_msg("the longest names allowed were refused:\n%s", c.messages);
    assert_string_equal(c.g->layers[0].name, layer);
    assert_string_equal(c.g->model_name, model);
    release(&c);

    snprintf(text, sizeof text, "model %sm\n" HEAD "conv2d filters=2 kernel=3 name=%sl\n" TAIL,
             model, layer);
    c = compile_text(text);
    assert_null(c.g);
    assert_int_equal(c.errors, 2);
    expect_message(&c, "t.cnn:1:7: error: the model name is 128 characters long; at most 127 "
                       "are allowed");
    expect_message(&c, "t.cnn:3:32: error: the layer name is 121 characters long; at most "
                       "120 are allowed");
    release(&c);

    /* model name=... is checked the same way. */
    snprintf(text, sizeof text, "model name=%sm\n" HEAD TAIL, model);
    c = compile_text(text);
    expect_message(&c, "t.cnn:1:12: error: the model name is 128 characters long");
    release(&c);
    free(layer);
    free(model);
}

static void test_numbers_out_of_range(void **state)
{
    (void)state;
    compiled c = compile_text(HEAD TAIL "compile lr=1e999\n");
    assert_null(c.g);
    assert_int_equal(c.errors, 1);
    expect_message(&c, "t.cnn:4:12: error: 'lr' is out of range: 1e999 is too large to be "
                       "represented");
    release(&c);

    c = compile_text(HEAD TAIL "compile lr=-1e999 epsilon=1e-400\nfit validation_split=1e-999\n");
    assert_null(c.g);
    assert_int_equal(c.errors, 3);
    expect_message(&c, "t.cnn:4:12: error: 'lr' is out of range: -1e999 is too large");
    expect_message(&c, "t.cnn:4:27: error: 'epsilon' is out of range: 1e-400 is too small");
    expect_message(&c, "t.cnn:5:22: error: 'validation_split' is out of range: 1e-999 is too "
                       "small");
    release(&c);

    /* Finite values outside the range keep their message. */
    c = compile_text(HEAD TAIL "compile epsilon=0\n");
    expect_message(&c, "t.cnn:4:17: error: 'epsilon' must be in (0, 1], found 0");
    release(&c);
}

/* ---- the summary of a huge layer ------------------------------------------------------------ */

static void test_summary_columns_fit_huge_layers(void **state)
{
    (void)state;
    compiled c = compile_text("input shape=4096x4096x64\n"
                              "conv2d filters=100 kernel=9 padding=same name=big\n"
                              "global_avg_pool2d\n"
                              "dense units=16777216\n");
    if (!c.g)
        fail_msg("%s", c.messages);
    char *table = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&table, &size);
    cnnc_graph_summary(c.g, out);
    fclose(out);
    /* Every count stands apart from its neighbours. */
    const char *numbers[] = {"(None, 4096, 4096, 100)  ", "  518,500  ",
                             "  17,394,617,548,800\n", "  1,694,498,816  ",
                             "  3,355,443,200\n"};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        if (!strstr(table, numbers[i]))
            fail_msg("'%s' is not set apart in\n%s", numbers[i], table);
    free(table);
    release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_megabyte_comment_line),
        cmocka_unit_test(test_megabyte_line_of_bad_characters),
        cmocka_unit_test(test_megabyte_of_bad_lines_stops_at_the_error_limit),
        cmocka_unit_test(test_a_hundred_thousand_layers),
        cmocka_unit_test(test_megabyte_of_repeats_after_other_text),
        cmocka_unit_test(test_byte_order_mark_is_skipped),
        cmocka_unit_test(test_cr_and_crlf_end_lines),
        cmocka_unit_test(test_name_limits),
        cmocka_unit_test(test_numbers_out_of_range),
        cmocka_unit_test(test_summary_columns_fit_huge_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
