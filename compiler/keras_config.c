/* The Keras Sequential config of a model (export_model.h): what keras.models.model_from_json
 * and TensorFlow.js's tf.loadLayersModel read. One entry per cnnc layer, from the layer's
 * nodes in the forward graph; an activation Keras cannot name (leaky_relu of a conv2d or
 * dense) becomes a LeakyReLU layer after it. */
#include "export_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elementwise.h"

static const cnnc_loc NOWHERE = {0, 0, 0};

static const char INITIALIZERS[] =
    "\"kernel_initializer\": {\"class_name\": \"GlorotUniform\", \"config\": {\"seed\": null}}, "
    "\"bias_initializer\": {\"class_name\": \"Zeros\", \"config\": {}}, "
    "\"kernel_regularizer\": null, \"bias_regularizer\": null, \"activity_regularizer\": null, "
    "\"kernel_constraint\": null, \"bias_constraint\": null";

/* The layer's nodes that compute something (not its parameters), in order. */
static int layer_nodes(const cnnc_graph *g, int layer, int *nodes, int max)
{
    int n = 0;
    for (int i = 0; i < g->num_nodes && n < max; i++)
        if (g->nodes[i].layer == layer && g->nodes[i].op != CNNC_OP_PARAM)
            nodes[n++] = i;
    return n;
}

/* Keras's name of an activation node's function, or NULL. */
static const char *activation_name(const cnnc_node *n)
{
    if (n->op == CNNC_OP_SOFTMAX)
        return "softmax";
    if (n->op != CNNC_OP_EW)
        return NULL;
    switch (n->attrs.ew) {
    case CNNC_EW_RELU: return "relu";
    case CNNC_EW_SIGMOID: return "sigmoid";
    case CNNC_EW_TANH: return "tanh";
    default: return NULL;
    }
}

static void begin_layer(FILE *f, int *count, const char *class_name, const char *name)
{
    fprintf(f, "%s\n    {\"class_name\": \"%s\", \"config\": {\"name\": \"%s\", "
               "\"trainable\": true, \"dtype\": \"float32\"", *count ? "," : "", class_name,
            name);
    (*count)++;
}

static void window(FILE *f, const cnnc_attrs *a, const char *size_key)
{
    fprintf(f, ", \"%s\": [%d, %d], \"strides\": [%d, %d], \"padding\": \"%s\", "
               "\"data_format\": \"channels_last\"", size_key, a->kernel_h, a->kernel_w,
            a->stride_h, a->stride_w, a->padding == CNNC_PAD_SAME ? "same" : "valid");
}

/* The shortest decimal that reads back as the same float (0.99, not 0.99000001). */
static void write_float(FILE *f, float v)
{
    char buf[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)v);
        if ((float)strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

/* Keras's BatchNormalization: its weights are gamma, beta, moving_mean, moving_variance
 * (gamma without scale, beta without center left out), as cnnc's. */
static void write_batch_norm(FILE *f, const char *name, const cnnc_export_bn *bn, int *count)
{
    begin_layer(f, count, "BatchNormalization", name);
    fprintf(f, ", \"axis\": -1, \"momentum\": ");
    write_float(f, bn->momentum);
    fprintf(f, ", \"epsilon\": ");
    write_float(f, bn->epsilon);
    fprintf(f, ", \"center\": %s, \"scale\": %s, "
               "\"beta_initializer\": {\"class_name\": \"Zeros\", \"config\": {}}, "
               "\"gamma_initializer\": {\"class_name\": \"Ones\", \"config\": {}}, "
               "\"moving_mean_initializer\": {\"class_name\": \"Zeros\", \"config\": {}}, "
               "\"moving_variance_initializer\": {\"class_name\": \"Ones\", \"config\": {}}, "
               "\"beta_regularizer\": null, \"gamma_regularizer\": null, "
               "\"beta_constraint\": null, \"gamma_constraint\": null}}",
            bn->beta >= 0 ? "true" : "false", bn->gamma >= 0 ? "true" : "false");
}

/* Writes layer l's entries. Returns 0, or -1 after a message. */
static int write_layer(FILE *f, const cnnc_graph *g, int l, int *count, cnnc_diag *d)
{
    const cnnc_layer *layer = &g->layers[l];
    cnnc_export_bn bn;
    if (cnnc_export_batch_norm(g, l, &bn)) {
        write_batch_norm(f, layer->name, &bn, count);
        return 0;
    }
    int nodes[8];
    int nn = layer_nodes(g, l, nodes, 8);
    if (nn == 0)
        return 0;
    const cnnc_node *main = &g->nodes[nodes[0]];
    const cnnc_node *act = nn > 1 ? &g->nodes[nodes[nn - 1]] : NULL;
    const char *act_name = act ? activation_name(act) : NULL;
    int leaky_after = act && !act_name;
    switch (main->op) {
    case CNNC_OP_CONV2D:
    case CNNC_OP_DENSE:
        begin_layer(f, count, main->op == CNNC_OP_CONV2D ? "Conv2D" : "Dense", layer->name);
        if (main->op == CNNC_OP_CONV2D) {
            fprintf(f, ", \"filters\": %d", main->attrs.units);
            window(f, &main->attrs, "kernel_size");
            fprintf(f, ", \"dilation_rate\": [1, 1], \"groups\": 1");
        } else {
            fprintf(f, ", \"units\": %d", main->attrs.units);
        }
        fprintf(f, ", \"activation\": \"%s\", \"use_bias\": %s, %s}}",
                act_name ? act_name : "linear", main->inputs[2] >= 0 ? "true" : "false",
                INITIALIZERS);
        if (leaky_after && act->op == CNNC_OP_EW && act->attrs.ew == CNNC_EW_LEAKY_RELU) {
            char name[300];
            snprintf(name, sizeof name, "%s_leaky_re_lu", layer->name);
            begin_layer(f, count, "LeakyReLU", name);
            fprintf(f, ", \"alpha\": %.9g}}", (double)act->attrs.alpha);
        } else if (leaky_after) {
            break;
        }
        return 0;
    case CNNC_OP_MAX_POOL2D:
    case CNNC_OP_AVG_POOL2D:
        begin_layer(f, count, main->op == CNNC_OP_MAX_POOL2D ? "MaxPooling2D" :
                              "AveragePooling2D", layer->name);
        window(f, &main->attrs, "pool_size");
        fprintf(f, "}}");
        return 0;
    case CNNC_OP_GLOBAL_AVG_POOL2D:
        begin_layer(f, count, "GlobalAveragePooling2D", layer->name);
        fprintf(f, ", \"data_format\": \"channels_last\", \"keepdims\": false}}");
        return 0;
    case CNNC_OP_RESHAPE:
        begin_layer(f, count, "Flatten", layer->name);
        fprintf(f, ", \"data_format\": \"channels_last\"}}");
        return 0;
    case CNNC_OP_DROPOUT:
        begin_layer(f, count, "Dropout", layer->name);
        fprintf(f, ", \"rate\": %.9g, \"noise_shape\": null, \"seed\": null}}",
                (double)main->attrs.rate);
        return 0;
    case CNNC_OP_SOFTMAX:
    case CNNC_OP_EW:
        if (activation_name(main)) {
            begin_layer(f, count, "Activation", layer->name);
            fprintf(f, ", \"activation\": \"%s\"}}", activation_name(main));
            return 0;
        }
        if (main->op == CNNC_OP_EW && main->attrs.ew == CNNC_EW_LEAKY_RELU) {
            begin_layer(f, count, "LeakyReLU", layer->name);
            fprintf(f, ", \"alpha\": %.9g}}", (double)main->attrs.alpha);
            return 0;
        }
        break;
    default:
        break;
    }
    cnnc_error(d, layer->loc, "Keras export: layer '%s' (%s) has no Keras counterpart in "
                              "cnnc's exporter", layer->name, layer->type);
    return -1;
}

char *cnnc_keras_config(const cnnc_graph *g, cnnc_diag *d)
{
    const cnnc_shape *in = &g->nodes[g->input_node].shape;
    if (in->rank != 3) {
        cnnc_error(d, NOWHERE, "Keras export needs an image input (HxWxC)");
        return NULL;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        abort();
    fprintf(f, "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"%s\", \"layers\": [",
            g->model_name);
    fprintf(f, "\n    {\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
               "[null, %lld, %lld, %lld], \"dtype\": \"float32\", \"sparse\": false, "
               "\"ragged\": false, \"name\": \"input_1\"}}",
            (long long)in->dim[0], (long long)in->dim[1], (long long)in->dim[2]);
    int count = 1, failed = 0;
    for (int l = 0; l < g->num_layers; l++)
        failed |= write_layer(f, g, l, &count, d) != 0;
    fprintf(f, "]}, \"keras_version\": \"2.11.0\", \"backend\": \"tensorflow\"}");
    if (fclose(f) != 0)
        abort();
    if (failed) {
        free(text);
        return NULL;
    }
    return text;
}
