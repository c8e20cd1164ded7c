/* The front end never crashes: random bytes, random token soup and random mutations of the
 * tutorial model (fixed seeds, so every run sees the same inputs) must each either compile
 * cleanly or report at least one error -- never both, never neither. Under the sanitizer
 * build this also checks for leaks and undefined behaviour on every error path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frontend.h"
#include "graph.h"

static uint64_t rng_state;

static uint64_t next_random(void)
{
    /* xorshift64*: small, deterministic, good enough to pick bytes. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static size_t below(size_t n)
{
    return n ? (size_t)(next_random() % n) : 0;
}

/* Compiles one input and checks the outcome is consistent; returns 1 if it compiled. */
static int compile_checked(const char *text, size_t len)
{
    char *messages = NULL;
    size_t size = 0;
    cnnc_diag d;
    cnnc_diag_init(&d, "fuzz.cnn", NULL, 0);
    d.out = open_memstream(&messages, &size);
    d.color = 0;
    cnnc_graph *g = cnnc_compile_source(text, len, "fuzz.cnn", &d);
    fclose(d.out);
    int ok = g != NULL;
    if (ok != (d.errors == 0))
        fail_msg("inconsistent result (graph %p, %d errors) for input of %zu bytes:\n%.*s\n%s",
                 (void *)g, d.errors, len, (int)len, text, messages);
    if (!ok && size == 0)
        fail_msg("errors counted but nothing printed for:\n%.*s", (int)len, text);
    if (ok) {
        /* A graph that compiled must be printable. */
        FILE *null = fopen("/dev/null", "w");
        cnnc_graph_summary(g, null);
        cnnc_graph_dump(g, null);
        cnnc_graph_dump_dot(g, null);
        fclose(null);
    }
    cnnc_graph_free(g);
    free(messages);
    return ok;
}

static char *read_model(size_t *len)
{
    FILE *f = fopen(CNNC_SOURCE_DIR "/models/mnist.cnn", "rb");
    assert_non_null(f);
    char *text = malloc(1 << 16);
    *len = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    return text;
}

static void test_random_bytes(void **state)
{
    (void)state;
    rng_state = 0x9E3779B97F4A7C15ull;
    char buf[400];
    for (int i = 0; i < 1500; i++) {
        size_t len = below(sizeof buf);
        for (size_t k = 0; k < len; k++)
            buf[k] = (char)below(256);
        assert_int_equal(compile_checked(buf, len), 0);   /* junk never compiles */
    }
}

static const char *const words[] = {
    "input", "shape=28x28x1", "conv2d", "filters=8", "kernel=3", "kernel=3x3", "strides=2",
    "padding=same", "padding=valid", "activation=relu", "max_pool2d", "avg_pool2d",
    "global_avg_pool2d", "flatten", "dense", "units=10", "dropout", "rate=0.5", "relu",
    "softmax", "tanh", "sigmoid", "compile", "fit", "gradcam", "layer=conv2d", "model", "m",
    "=", "#", "\n", "\n", "\n", " ", "\t", "-1", "0", "1e-3", "3x3x3", "name=a", "name=conv2d",
    "use_bias=false", "epochs=2", "lr=0.1", "\xff", "\xc3\xa9", "\r\n", "x", "==", "9999999999",
};

static void test_token_soup(void **state)
{
    (void)state;
    rng_state = 12345;
    char buf[1024];
    int compiled = 0;
    for (int i = 0; i < 1500; i++) {
        size_t len = 0;
        /* Usually start like a model, so the soup reaches the layer and shape checks. */
        if (below(4) != 0) {
            strcpy(buf, "input shape=12x12x2\n");
            len = strlen(buf);
        }
        size_t count = below(40);
        for (size_t k = 0; k < count; k++) {
            const char *w = words[below(sizeof words / sizeof words[0])];
            size_t n = strlen(w);
            if (len + n + 1 >= sizeof buf)
                break;
            memcpy(buf + len, w, n);
            len += n;
            if (below(2))
                buf[len++] = ' ';
        }
        compiled += compile_checked(buf, len);
    }
    /* Not a requirement, but a sign the soup reaches deep: some of it compiles. */
    print_message("token soup: %d of 1500 compiled\n", compiled);
}

static void test_mutations_of_mnist(void **state)
{
    (void)state;
    size_t base_len;
    char *base = read_model(&base_len);
    assert_int_equal(compile_checked(base, base_len), 1);
    rng_state = 0xC0FFEE;
    char *buf = malloc(base_len * 2 + 1024);
    int compiled = 0;
    for (int i = 0; i < 2500; i++) {
        memcpy(buf, base, base_len);
        size_t len = base_len;
        int edits = 1 + (int)below(4);
        for (int e = 0; e < edits; e++) {
            size_t at = below(len + 1);
            switch (below(5)) {
            case 0:   /* change a byte */
                if (len)
                    buf[below(len)] = (char)below(256);
                break;
            case 1: { /* delete a span */
                size_t n = below(12);
                if (at + n > len)
                    n = len - at;
                memmove(buf + at, buf + at + n, len - at - n);
                len -= n;
                break;
            }
            case 2: { /* insert a word */
                const char *w = words[below(sizeof words / sizeof words[0])];
                size_t n = strlen(w);
                memmove(buf + at + n, buf + at, len - at);
                memcpy(buf + at, w, n);
                len += n;
                break;
            }
            case 3: { /* duplicate a span (a repeated line, a repeated key) */
                size_t n = below(40);
                if (at + n > len)
                    n = len - at;
                if (len + n < base_len * 2 + 512) {
                    memmove(buf + at + n, buf + at, len - at);
                    len += n;
                }
                break;
            }
            default:  /* change a digit: new sizes exercise the shape rules */
                for (size_t k = at; k < len; k++)
                    if (buf[k] >= '0' && buf[k] <= '9') {
                        buf[k] = (char)('0' + below(10));
                        break;
                    }
                break;
            }
        }
        compiled += compile_checked(buf, len);
    }
    print_message("mutations: %d of 2500 compiled\n", compiled);
    assert_true(compiled > 0);
    free(buf);
    free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_token_soup),
        cmocka_unit_test(test_mutations_of_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
