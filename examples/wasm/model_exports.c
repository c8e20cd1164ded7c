/* A model compiled by cnnc as a WebAssembly module for a web page or Node.js: its
 * weights inside (--embed-weights), no imports, a handful of exports on one picture.
 *
 *   cnnc models/mnist.cnn -c --target wasm32 --embed-weights out/mnist_cam.weights \
 *        --no-train -o mnist_cam.o
 *   scripts/cross-build.sh wasm32 ...     (or by hand: docs/embedding.md)
 *   node examples/wasm/run.mjs mnist_cam.wasm digit.raw --gradcam
 *
 * Memory layout: every pointer an export returns is a byte offset into the exported
 * `memory`; the buffers are allocated once, on the first call, and never move (only
 * memory.buffer itself may be replaced when memory grows, so take a fresh view after each
 * call). Floats are little-endian float32, 4-byte aligned (the workspace 64-byte).
 *
 *   cnnc_model_name()       NUL-terminated UTF-8 name of the model ("mnist_cam")
 *   cnnc_input()            H*W*C floats, row by row (channels last), 0 = black, 1 = white
 *   cnnc_input_h/w/c()      the model's input shape; cnnc_num_classes()
 *   cnnc_predict()          runs the model on the input; returns the class (or -1)
 *   cnnc_probs()            num_classes floats: the probabilities of the last predict
 *   cnnc_num_cam_layers()   layers Grad-CAM can explain, 0..n-1 in network order
 *   cnnc_cam_layer_name(i)  NUL-terminated UTF-8 Keras name; cnnc_cam_layer_h/w(i)
 *   cnnc_default_cam_layer() the model file's gradcam layer (or the last one), -1: none
 *   cnnc_gradcam(layer, method, class)
 *                           the map of `class` (-1: the predicted one) with `method`
 *                           (cnnrt_vocab.h codes: 0 gradcam, 1 hirescam, 2 gradcam++,
 *                           4 layercam, 5 xgradcam) at `layer`; 0, or -1 for arguments
 *                           out of range; also updates cnnc_probs()
 *   cnnc_map()              cnnc_cam_layer_h * _w floats of the last map, row by row,
 *                           in [0, 1] (all 0 when nothing raised the score)
 *   cnnc_map_max()          that map's maximum before it was divided by it
 * Build with -DMODEL_HEADER='"other.h"' -DMODEL=other for another model (or with
 * -DCNNRT_WEB_MODULE for any model: cnnc --web, compiler/web.h). */
#include <stdint.h>
#include <stdlib.h>

#include "cnnrt_core.h"

#define EXPORT(name) __attribute__((export_name(#name))) name

#ifdef CNNRT_WEB_MODULE
/* Built once for every model (web/CMakeLists.txt, for `cnnc MODEL --web DIR`): the small
 * object cnnc links with it points these two at NAME_model and NAME_weights. */
extern const cnnrt_model *const cnnrt_web_model;
extern const float *const cnnrt_web_weights;
#define model cnnrt_web_model
#define MODEL_WEIGHTS cnnrt_web_weights
#else
#ifndef MODEL_HEADER
#define MODEL_HEADER "mnist_cam.h"
#define MODEL mnist_cam
#endif
#include MODEL_HEADER

#define JOIN2(a, b) a##b
#define JOIN(a, b) JOIN2(a, b)
#define MODEL_DESCRIPTOR JOIN(MODEL, _model)
#define MODEL_WEIGHTS JOIN(MODEL, _weights)   /* from --embed-weights */

static const cnnrt_model *const model = &MODEL_DESCRIPTOR;
#endif
static float *input, *probs, *map, *ws;
static float map_max;

/* The buffers, once; 0 or -1 (out of memory). Maps are never larger than the input. */
static int ready(void)
{
    if (ws)
        return 0;
    size_t pixels = (size_t)(model->input_h * model->input_w);
    input = calloc(pixels * (size_t)model->input_c, sizeof(float));
    probs = calloc((size_t)model->num_classes, sizeof(float));
    map = calloc(pixels, sizeof(float));
    size_t ws_bytes = ((size_t)model->ws_floats_per_thread * sizeof(float) + 63) / 64 * 64;
    ws = aligned_alloc(64, ws_bytes ? ws_bytes : 64);
    return input && probs && map && ws ? 0 : -1;
}

float *EXPORT(cnnc_input)(void) { return ready() ? NULL : input; }
float *EXPORT(cnnc_probs)(void) { return ready() ? NULL : probs; }
float *EXPORT(cnnc_map)(void) { return ready() ? NULL : map; }
float EXPORT(cnnc_map_max)(void) { return map_max; }
const char *EXPORT(cnnc_model_name)(void) { return model->name; }
int EXPORT(cnnc_input_h)(void) { return (int)model->input_h; }
int EXPORT(cnnc_input_w)(void) { return (int)model->input_w; }
int EXPORT(cnnc_input_c)(void) { return (int)model->input_c; }
int EXPORT(cnnc_num_classes)(void) { return (int)model->num_classes; }
int EXPORT(cnnc_num_cam_layers)(void) { return model->gradcam ? (int)model->num_cam_layers : 0; }
int EXPORT(cnnc_default_cam_layer)(void) { return (int)cnnrt_core_default_cam_layer(model); }

static int cam_layer_ok(int i) { return i >= 0 && i < cnnc_num_cam_layers(); }

const char *EXPORT(cnnc_cam_layer_name)(int i)
{
    return cam_layer_ok(i) ? model->cam_layers[i].name : NULL;
}
int EXPORT(cnnc_cam_layer_h)(int i) { return cam_layer_ok(i) ? (int)model->cam_layers[i].h : 0; }
int EXPORT(cnnc_cam_layer_w)(int i) { return cam_layer_ok(i) ? (int)model->cam_layers[i].w : 0; }

int EXPORT(cnnc_predict)(void)
{
    if (ready())
        return -1;
    model->infer(MODEL_WEIGHTS, input, 1, probs, NULL, ws, NULL);
    return (int)cnnrt_core_argmax(probs, model->num_classes);
}

int EXPORT(cnnc_gradcam)(int layer, int method, int class_index)
{
    if (ready() || !cam_layer_ok(layer) || class_index < -1 ||
        class_index >= model->num_classes)
        return -1;
    int32_t target = class_index;
    cnnrt_cam_args args = {.params = MODEL_WEIGHTS, .x = input, .classes = &target, .n = 1,
                           .layer = layer, .method = method,
                           .score_mode = CNNRT_SCORE_LOGIT, .maps = map,
                           .map_max = &map_max, .probs = probs, .ws = ws};
    return model->gradcam(&args);
}
