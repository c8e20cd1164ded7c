/* Embedding a model compiled by cnnc in your own C program.
 *
 *   cnnc models/mnist.cnn -c -o mnist_cam.o       # writes mnist_cam.o and mnist_cam.h
 *   cc -I. -I<cnnc>/include examples/embed/main.c mnist_cam.o \
 *      <cnnc>/lib/libcnnrt.a -lpng -ljpeg -lgif -lz -lm -lpthread -o classify
 *   ./classify
 *
 * The program classifies one synthetic image (a vertical bar) with weights from the
 * runtime's Keras-style initialiser, so it needs no files. With trained weights, load
 * them with cnnrt_weights_load (cnnrt_weights.h) instead. Build with
 * -DMODEL_HEADER='"other.h"' -DMODEL=other to embed another model. */
#include <stdio.h>
#include <stdlib.h>

#include "cnnrt_info.h"
#include "cnnrt_pool.h"

#ifndef MODEL_HEADER
#define MODEL_HEADER "mnist_cam.h"
#define MODEL mnist_cam
#endif
#include MODEL_HEADER

#define JOIN2(a, b) a##b
#define JOIN(a, b) JOIN2(a, b)
#define MODEL_DESCRIPTOR JOIN(MODEL, _model)
#define MODEL_INFER JOIN(MODEL, _infer)

int main(void)
{
    const cnnrt_model *model = &MODEL_DESCRIPTOR;
    cnnrt_err err;
    cnnrt_model_info info;
    if (cnnrt_model_info_load(model, &info, &err)) {
        fprintf(stderr, "embed: %s\n", err.msg);
        return 1;
    }
    /* Weights: Keras's glorot_uniform / zeros from a seed. */
    float *params = cnnrt_aligned_alloc((size_t)model->param_floats * sizeof(float));
    cnnrt_init_params(info.params, info.num_params, 42, params);

    /* One image, HxWxC floats in [0, 1]: a vertical bar in the middle. */
    int64_t h = model->input_h, w = model->input_w, c = model->input_c;
    float *image = cnnrt_aligned_alloc((size_t)(h * w * c) * sizeof(float));
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = w / 2 - 1; x <= w / 2; x++)
            for (int64_t k = 0; k < c; k++)
                image[(y * w + x) * c + k] = 1.0f;

    /* Two threads; the workspace holds threads * ws_floats_per_thread floats. */
    int threads = 2;
    cnnrt_pool *pool = cnnrt_pool_create(threads, &err);
    if (!pool) {
        fprintf(stderr, "embed: %s\n", err.msg);
        return 1;
    }
    float *ws = cnnrt_aligned_alloc((size_t)(threads * model->ws_floats_per_thread) *
                                    sizeof(float));
    float *probs = calloc((size_t)model->num_classes, sizeof(float));
    MODEL_INFER(params, image, 1, probs, NULL, ws, pool);   /* the generated entry point */

    int best = 0;
    double sum = 0;
    for (int k = 0; k < model->num_classes; k++) {
        sum += probs[k];
        if (probs[k] > probs[best])
            best = k;
    }
    printf("model %s: class %d with probability %.3f (probabilities sum to %.3f)\n",
           model->name, best, probs[best], sum);

    free(probs);
    free(ws);
    free(image);
    free(params);
    cnnrt_pool_destroy(pool);
    cnnrt_model_info_free(&info);
    return sum > 0.999 && sum < 1.001 ? 0 : 1;
}
