/* The `export` command: the trained model as ONNX (--onnx FILE) and as a TensorFlow.js
 * Layers model with its Keras config (--tfjs DIR). What is written is described in
 * cnnrt_export.h and docs/interop.md. */
#include "cnnrt_export.h"
#include "program_util.h"

#include <stdlib.h>

static int export_with(const prog_ctx *ctx, const char *onnx, const char *tfjs,
                       const float *params)
{
    const cnnrt_model_info *info = &ctx->info;
    cnnrt_err e;
    if (onnx) {
        if (!cnnrt_program_onnx_template || !&cnnrt_program_onnx_template_size)
            return cnnrt_prog_error(ctx, "this program carries no ONNX template: its model has a "
                                   "layer cnnc cannot export yet (`cnnc MODEL --emit-onnx "
                                   "FILE` names it), or it was linked by an older cnnc");
        if (cnnrt_onnx_write(onnx, cnnrt_program_onnx_template,
                             (size_t)cnnrt_program_onnx_template_size, info->params,
                             info->num_params, params, &e))
            return cnnrt_prog_error(ctx, "%s", e.msg);
        printf("Wrote %s (ONNX, opset 13, input NHWC)\n", onnx);
    }
    if (tfjs) {
        if (!cnnrt_program_keras_config)
            return cnnrt_prog_error(ctx, "this program carries no Keras config: its model has a "
                                   "layer cnnc cannot export yet (`cnnc MODEL --emit-onnx "
                                   "FILE` names it), or it was linked by an older cnnc");
        if (cnnrt_tfjs_write(tfjs, cnnrt_program_keras_config, info->params, info->num_params,
                             params, &e))
            return cnnrt_prog_error(ctx, "%s", e.msg);
        printf("Wrote %s/model.json and %s/group1-shard1of1.bin (TensorFlow.js layers "
               "model)\n", tfjs, tfjs);
    }
    return PROG_OK;
}

int cnnrt_prog_cmd_export(const prog_ctx *ctx, int argc, char **argv)
{
    const char *onnx = NULL, *tfjs = NULL, *weights = NULL;
    const prog_option options[] = {
        {"onnx", OPT_STRING, &onnx, 0, 0, "FILE", "write the model as ONNX (opset 13)", NULL},
        {"tfjs", OPT_STRING, &tfjs, 0, 0, "DIR",
         "write a TensorFlow.js layers model (model.json + weights) into DIR", NULL},
        {"weights", OPT_STRING, &weights, 0, 0, "FILE",
         "the trained weights (default: NAME.weights)", NULL},
    };
    prog_command cmd = {"export", "--onnx FILE | --tfjs DIR [OPTIONS]",
                        "Writes the trained model for other frameworks.",
                        "ONNX: NHWC input 'input' of floats in [0,1], output 'output'.\n"
                        "TensorFlow.js: tf.loadLayersModel('file://DIR/model.json').",
                        "export --onnx model.onnx", options,
                        sizeof options / sizeof options[0], 0};
    int stop, parsed = cnnrt_prog_parse_options(ctx, &cmd, argc, argv, &stop);
    if (stop)
        return parsed;
    if (!onnx && !tfjs)
        return cnnrt_prog_usage_error(ctx, "export", "say what to write: --onnx FILE or --tfjs DIR");
    float *params = cnnrt_aligned_alloc((size_t)ctx->model->param_floats * sizeof(float));
    int status = cnnrt_prog_need_trained_weights(ctx, weights, params);
    if (status == PROG_OK)
        status = export_with(ctx, onnx, tfjs, params);
    free(params);
    return status;
}
