/* Text forms of the graph: the Keras model.summary() table (--summary), a stable readable
 * listing of every node (--dump-ir) and Graphviz (--dump-graph=dot). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "elementwise.h"
#include "graph.h"
#include "ops.h"
#include "optimizers.h"

/* 50186 -> "50,186" */
static char *with_commas(int64_t value, char *buf, size_t size)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%" PRId64, value < 0 ? -value : value);
    size_t n = strlen(digits), out = 0;
    if (value < 0 && out + 1 < size)
        buf[out++] = '-';
    for (size_t i = 0; i < n && out + 1 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0 && out + 2 < size)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

/* Keras's readable_memory_size: 200744 -> "196.04 KB". */
static char *memory_size(double bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (u < 5 && bytes / 1024.0 >= 1.0) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.2f %s", bytes, units[u]);
    return buf;
}

static void rule(FILE *out, char c, int width)
{
    for (int i = 0; i < width; i++)
        fputc(c, out);
    fputc('\n', out);
}

/* Widens *width so that text and two spaces before the next column fit. */
static void fit_column(int *width, const char *text)
{
    int need = (int)strlen(text) + 2;
    if (need > *width)
        *width = need;
}

void cnnc_graph_summary(const cnnc_graph *g, FILE *out)
{
    /* Keras's widths, widened to the longest entry: a huge layer's parameter and FLOP
     * counts must not run into each other. */
    int name_width = 28, shape_width = 22, params_width = 12, flops_width = 14;
    for (int i = 0; i < g->num_layers; i++) {
        const cnnc_layer *l = &g->layers[i];
        char shape[64], number[32];
        int w = (int)(strlen(l->name) + strlen(l->type) + 4);
        if (w > name_width)
            name_width = w;
        fit_column(&shape_width, cnnc_shape_str(l->shape, 1, shape, sizeof shape));
        fit_column(&params_width, with_commas(l->params, number, sizeof number));
        fit_column(&flops_width, with_commas(l->flops, number, sizeof number));
    }
    int width = 1 + name_width + shape_width + params_width + flops_width;

    fprintf(out, "Model: \"%s\"\n", g->model_name);
    rule(out, '_', width);
    fprintf(out, " %-*s%-*s%*s%*s\n", name_width, "Layer (type)", shape_width, "Output Shape",
            params_width, "Param #", flops_width, "FLOPs");
    rule(out, '=', width);
    int64_t total_params = 0, total_flops = 0;
    for (int i = 0; i < g->num_layers; i++) {
        const cnnc_layer *l = &g->layers[i];
        char label[512], shape[64], params[32], flops[32];
        snprintf(label, sizeof label, "%s (%s)", l->name, l->type);
        cnnc_shape_str(l->shape, 1, shape, sizeof shape);
        fprintf(out, " %-*s%-*s%*s%*s\n", name_width, label, shape_width, shape, params_width,
                with_commas(l->params, params, sizeof params), flops_width,
                with_commas(l->flops, flops, sizeof flops));
        total_params += l->params;
        total_flops += l->flops;
    }
    rule(out, '=', width);
    char count[32], size[32], flops[32];
    /* Layers own every parameter; the graph's total says the same unless a parameter
     * belongs to no layer, and then the graph's total is the true one. */
    if (g->param_floats > total_params)
        total_params = g->param_floats;
    fprintf(out, " Total params: %s (%s)\n", with_commas(total_params, count, sizeof count),
            memory_size(4.0 * (double)total_params, size, sizeof size));
    int64_t frozen = 0;   /* batch_norm's moving statistics */
    for (int i = 0; i < g->num_params; i++)
        if (g->params[i].non_trainable)
            frozen += g->params[i].size;
    char trainable[32], trainable_size[32], frozen_count[32], frozen_size[32];
    fprintf(out, " Trainable params: %s (%s)\n",
            with_commas(total_params - frozen, trainable, sizeof trainable),
            memory_size(4.0 * (double)(total_params - frozen), trainable_size,
                        sizeof trainable_size));
    fprintf(out, " Non-trainable params: %s (%s)\n",
            with_commas(frozen, frozen_count, sizeof frozen_count),
            memory_size(4.0 * (double)frozen, frozen_size, sizeof frozen_size));
    fprintf(out, " Total FLOPs: %s per image (forward)\n",
            with_commas(total_flops, flops, sizeof flops));
    rule(out, '_', width);
}

/* ---- --dump-ir ------------------------------------------------------------------------- */

static const char *padding_name(cnnc_padding p)
{
    return p == CNNC_PAD_SAME ? "same" : "valid";
}

/* The attributes an op uses, as "key=value" words. Each op prints only what is set, so
 * the same code serves the forward ops and those autodiff and Grad-CAM add. */
static void dump_attrs(const cnnc_graph *g, const cnnc_node *n, FILE *out)
{
    const cnnc_attrs *a = &n->attrs;
    char buf[64];
    if (n->op == CNNC_OP_PARAM) {
        fprintf(out, "  param=$%d", a->param);
        return;
    }
    if (a->kernel_h || a->kernel_w)
        fprintf(out, "  %s=%dx%d", n->op == CNNC_OP_CONV2D ? "kernel" : "window", a->kernel_h,
                a->kernel_w);
    if (a->stride_h || a->stride_w)
        fprintf(out, " strides=%dx%d", a->stride_h, a->stride_w);
    if (a->kernel_h || a->kernel_w)
        fprintf(out, " padding=%s pad=%d,%d,%d,%d", padding_name(a->padding), a->pad_top,
                a->pad_left, a->pad_bottom, a->pad_right);
    if (a->units)
        fprintf(out, "  units=%d", a->units);
    if (n->op == CNNC_OP_EW && a->alpha != 0.0f)
        fprintf(out, "  alpha=%g", (double)a->alpha);
    if (n->op == CNNC_OP_CONST)
        fprintf(out, "  value=%g", (double)a->value);
    if (n->op == CNNC_OP_REDUCE || n->op == CNNC_OP_BROADCAST) {
        static const char *const kinds[] = {"sum", "max", "mean"};
        if (n->op == CNNC_OP_REDUCE)
            fprintf(out, "  %s", (unsigned)a->reduce < 3 ? kinds[a->reduce] : "?");
        fprintf(out, " axes=0x%x", a->axes);
    }
    if (n->op == CNNC_OP_DROPOUT)
        fprintf(out, "  rate=%g index=%d", (double)a->rate, a->dropout_index);
    if (n->op == CNNC_OP_BATCH_MEAN && n->inputs[1] >= 0)
        fprintf(out, "  moving=$%d momentum=%g epsilon=%g", a->param, (double)a->momentum,
                (double)a->epsilon);
    if (a->shape.rank > 0 && n->op != CNNC_OP_INPUT)
        fprintf(out, "  shape=%s", cnnc_shape_str(a->shape, 0, buf, sizeof buf));
    (void)g;
}

static const char *init_name(cnnc_init init)
{
    return init == CNNC_INIT_GLOROT_UNIFORM ? "glorot_uniform"
           : init == CNNC_INIT_ONES        ? "ones"
                                           : "zeros";
}

static const char *role_name(cnnc_output_role role)
{
    switch (role) {
    case CNNC_OUT_PROBS: return "probs";
    case CNNC_OUT_LOGITS: return "logits";
    case CNNC_OUT_LOSS: return "loss";
    case CNNC_OUT_PARAM_GRAD: return "param_grad";
    case CNNC_OUT_CAM: return "cam";
    case CNNC_OUT_INPUT_GRAD: return "input_grad";
    case CNNC_OUT_UPDATED: return "updated";
    case CNNC_OUT_MOVING_STAT: return "moving_stat";
    }
    return "?";
}

static void dump_params(const cnnc_graph *g, FILE *out)
{
    char shape[64];
    fprintf(out, "\nparams (%" PRId64 " floats):\n", g->param_floats);
    for (int i = 0; i < g->num_params; i++) {
        const cnnc_param *p = &g->params[i];
        fprintf(out, "  $%d %s : %s  init=%s", i, p->name,
                cnnc_shape_str(p->shape, 0, shape, sizeof shape), init_name(p->init));
        if (p->init == CNNC_INIT_GLOROT_UNIFORM)
            fprintf(out, " fan_in=%" PRId64 " fan_out=%" PRId64, p->fan_in, p->fan_out);
        fprintf(out, "  offset=%" PRId64 " size=%" PRId64 "%s\n", p->offset, p->size,
                p->non_trainable ? "  non-trainable" : "");
    }
}

static void dump_nodes(const cnnc_graph *g, int first, FILE *out)
{
    char shape[64];
    for (int i = first; i < g->num_nodes; i++) {
        const cnnc_node *n = &g->nodes[i];
        fprintf(out, "  %%%d = %s(", i, cnnc_node_op_name(n));
        int first_input = 1;
        for (int k = 0; k < cnnc_node_arity(n) && k < CNNC_MAX_INPUTS; k++) {
            if (n->inputs[k] < 0)
                fprintf(out, "%s-", first_input ? "" : ", ");
            else
                fprintf(out, "%s%%%d", first_input ? "" : ", ", n->inputs[k]);
            first_input = 0;
        }
        fprintf(out, ") : %s", cnnc_shape_str(n->shape, 0, shape, sizeof shape));
        dump_attrs(g, n, out);
        fprintf(out, "  # %s\n", n->name ? n->name : "");
    }
}

static void dump_outputs(const cnnc_graph *g, FILE *out)
{
    fprintf(out, "\noutputs:\n");
    for (int i = 0; i < g->num_outputs; i++) {
        const cnnc_output *o = &g->outputs[i];
        fprintf(out, "  %s = %%%d", role_name(o->role), o->node);
        if (o->param >= 0)
            fprintf(out, "  param=$%d", o->param);
        if (o->role == CNNC_OUT_CAM)
            fprintf(out, "  target=%d method=%s", o->cam_target,
                    cnnrt_cam_method_name(o->cam_method));
        fputc('\n', out);
    }
}

static void dump_config(const cnnc_graph *g, FILE *out)
{
    const cnnc_train_config *t = &g->train;
    fprintf(out, "\nclasses: %d\n", g->num_classes);
    fprintf(out, "train: loss=%s optimizer=%s lr=%g", cnnrt_loss_name(t->loss),
            cnnrt_optimizer_name(t->optimizer), t->lr);
    const struct { const char *key; double value; } settings[] = {
        {"beta_1", t->beta_1}, {"beta_2", t->beta_2}, {"rho", t->rho},
        {"momentum", t->momentum}, {"epsilon", t->epsilon}};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (cnnc_optimizer_reads(t->optimizer, settings[i].key))
            fprintf(out, " %s=%g", settings[i].key, settings[i].value);
    fprintf(out, " metrics=%s epochs=%d batch_size=%d validation_split=%g seed=%" PRIu64 "\n",
            t->metrics_accuracy ? "accuracy" : "none", t->epochs, t->batch_size,
            t->validation_split, t->seed);
    fprintf(out, "gradcam: %s\n", g->gradcam_layer ? g->gradcam_layer : "(none)");
}

void cnnc_graph_dump(const cnnc_graph *g, FILE *out)
{
    fprintf(out, "graph \"%s\"", g->model_name);
    if (g->source_file)
        fprintf(out, "  # %s", g->source_file);
    fputc('\n', out);
    dump_params(g, out);
    fprintf(out, "\nnodes:\n");
    dump_nodes(g, 0, out);
    dump_outputs(g, out);
    dump_config(g, out);
}

void cnnc_graph_dump_derived(const cnnc_graph *g, int first_derived, FILE *out)
{
    fprintf(out, "graph \"%s\": nodes %%%d.. derived by autodiff (nodes before them are the "
                 "forward graph, see --dump-ir)\n\nnodes:\n", g->model_name, first_derived);
    dump_nodes(g, first_derived, out);
    dump_outputs(g, out);
}

/* ---- --dump-graph=dot ------------------------------------------------------------------ */

/* Names are identifiers, but a DOT string must never be broken by one that is not. */
static void dot_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void cnnc_graph_dump_dot(const cnnc_graph *g, FILE *out)
{
    char shape[64], label[512];
    fprintf(out, "digraph ");
    dot_string(out, g->model_name);
    fprintf(out, " {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n");
    for (int i = 0; i < g->num_nodes; i++) {
        const cnnc_node *n = &g->nodes[i];
        snprintf(label, sizeof label, "%%%d %s\\n%s\\n%s", i, cnnc_node_op_name(n),
                 n->name ? n->name : "", cnnc_shape_str(n->shape, 0, shape, sizeof shape));
        fprintf(out, "  n%d [label=\"%s\"", i, label);
        if (n->op == CNNC_OP_PARAM)
            fprintf(out, ", shape=ellipse, style=filled, fillcolor=\"#fff2cc\"");
        else if (n->op == CNNC_OP_INPUT || n->op == CNNC_OP_LABEL)
            fprintf(out, ", shape=invhouse, style=filled, fillcolor=\"#d9ead3\"");
        else
            fprintf(out, ", shape=box, style=rounded");
        fprintf(out, "];\n");
    }
    for (int i = 0; i < g->num_nodes; i++)
        for (int k = 0; k < CNNC_MAX_INPUTS; k++)
            if (g->nodes[i].inputs[k] >= 0)
                fprintf(out, "  n%d -> n%d;\n", g->nodes[i].inputs[k], i);
    for (int i = 0; i < g->num_outputs; i++) {
        fprintf(out, "  out%d [label=\"%s\", shape=house, style=filled, fillcolor=\"#cfe2f3\"];\n",
                i, role_name(g->outputs[i].role));
        fprintf(out, "  n%d -> out%d;\n", g->outputs[i].node, i);
    }
    fprintf(out, "}\n");
}
