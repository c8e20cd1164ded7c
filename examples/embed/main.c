/* A trained model inside your own C program: no weights file, no threads, nothing but libc
 * and libm. From the repository root, after `scripts/demo.sh` trained out/mnist_cam.weights:
 *
 *   cnnc models/mnist.cnn -c --embed-weights out/mnist_cam.weights --no-train -o mnist_cam.o
 *   cc -std=c11 -I. -Iruntime examples/embed/main.c mnist_cam.o \
 *      runtime/core_serial.c runtime/core.c -lm -o classify
 *   ./classify --gradcam digit.raw
 *
 * (the two runtime/ files are libcnnrt_core.a: `<cnnc>/lib/libcnnrt_core.a` once installed).
 * The input is the picture's H*W*C bytes, row by row, 0 = black and 255 = white, as MNIST's
 * IDX files store them (a file, or standard input when the argument is missing or "-").
 * It prints the predicted class, every class's probability and, with --gradcam, the map of
 * the model's Grad-CAM layer (HiResCAM of the predicted class; --method and --layer as the
 * program's gradcam command, by number). Build with -DMODEL_HEADER='"other.h"'
 * -DMODEL=other to embed another model. The same file builds for aarch64 and wasm32
 * (scripts/cross-build.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_core.h"

#ifndef MODEL_HEADER
#define MODEL_HEADER "mnist_cam.h"
#define MODEL mnist_cam
#endif
#include MODEL_HEADER

#define JOIN2(a, b) a##b
#define JOIN(a, b) JOIN2(a, b)
#define MODEL_DESCRIPTOR JOIN(MODEL, _model)
#define MODEL_WEIGHTS JOIN(MODEL, _weights)   /* from --embed-weights */

/* Reads exactly n bytes of the picture; 0 or -1 after a message. */
static int read_picture(const char *path, unsigned char *pixels, size_t n)
{
    int from_stdin = !path || strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t got = fread(pixels, 1, n, f);
    if (!from_stdin)
        fclose(f);
    if (got != n) {
        fprintf(stderr, "classify: %s: %zu bytes, expected %zu (H*W*C pixels)\n",
                from_stdin ? "standard input" : path, got, n);
        return -1;
    }
    return 0;
}

static int gradcam(const cnnrt_model *m, const float *x, int64_t layer, int64_t method,
                   float *ws)
{
    if (!m->gradcam || layer < 0 || layer >= m->num_cam_layers) {
        fprintf(stderr, "classify: model %s has no Grad-CAM layer %lld (compiled with "
                        "--no-gradcam?)\n", m->name, (long long)layer);
        return -1;
    }
    const cnnrt_cam_layer *l = &m->cam_layers[layer];
    float *map = malloc((size_t)(l->h * l->w) * sizeof(float));
    cnnrt_cam_args args = {.params = MODEL_WEIGHTS, .x = x, .classes = NULL, .n = 1,
                           .layer = layer, .method = method,
                           .score_mode = CNNRT_SCORE_LOGIT, .maps = map, .ws = ws};
    int rc = map ? m->gradcam(&args) : -1;
    if (rc == 0) {
        printf("gradcam %s %lldx%lld (method %lld):\n", l->name, (long long)l->h,
               (long long)l->w, (long long)method);
        for (int64_t y = 0; y < l->h; y++)
            for (int64_t xx = 0; xx < l->w; xx++)
                printf("%.9g%c", (double)map[y * l->w + xx], xx + 1 < l->w ? ' ' : '\n');
    } else {
        fprintf(stderr, "classify: Grad-CAM refused layer %lld, method %lld\n",
                (long long)layer, (long long)method);
    }
    free(map);
    return rc;
}

int main(int argc, char **argv)
{
    const cnnrt_model *m = &MODEL_DESCRIPTOR;
    int want_cam = 0;
    int64_t method = CNNRT_CAM_HIRESCAM, layer = cnnrt_core_default_cam_layer(m);
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gradcam"))
            want_cam = 1;
        else if (!strcmp(argv[i], "--method") && i + 1 < argc)
            method = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layer") && i + 1 < argc)
            layer = atoi(argv[++i]);
        else
            path = argv[i];
    }
    size_t size = (size_t)(m->input_h * m->input_w * m->input_c);
    unsigned char *pixels = malloc(size);
    float *x = malloc(size * sizeof(float));
    float *probs = malloc((size_t)m->num_classes * sizeof(float));
    /* One thread's workspace (the header's NAME_WS_BYTES), 64-byte aligned. */
    size_t ws_bytes = ((size_t)m->ws_floats_per_thread * sizeof(float) + 63) / 64 * 64;
    float *ws = aligned_alloc(64, ws_bytes ? ws_bytes : 64);
    if (!pixels || !x || !probs || !ws) {
        fprintf(stderr, "classify: out of memory\n");
        return 1;
    }
    int status = read_picture(path, pixels, size);
    if (status == 0) {
        for (size_t i = 0; i < size; i++)
            x[i] = (float)pixels[i] / 255.0f;   /* as the programs prepare MNIST pixels */
        m->infer(MODEL_WEIGHTS, x, 1, probs, NULL, ws, NULL);   /* NULL pool: one thread */
        printf("model %s: class %lld\n", m->name, (long long)cnnrt_core_argmax(probs, m->num_classes));
        printf("probabilities:");
        for (int64_t k = 0; k < m->num_classes; k++)
            printf(" %.9g", (double)probs[k]);
        printf("\n");
        if (want_cam)
            status = gradcam(m, x, layer, method, ws);
    }
    free(ws);
    free(probs);
    free(x);
    free(pixels);
    return status == 0 ? 0 : 1;
}
