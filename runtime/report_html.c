/* `PROG report`'s page: one HTML file that needs nothing else -- no scripts, no fonts, no
 * network -- so it can be mailed, archived or opened offline. Pictures are PNG data URIs,
 * charts are inline SVG. The layout is one column that narrows to a phone's width (wide
 * tables scroll inside their own box, never the page), prints to PDF, and every picture
 * and chart has a text alternative. Colours keep a contrast of at least 4.5:1 with their
 * text (WCAG AA). */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_vocab.h"
#include "program_util.h"

/* ---- text ------------------------------------------------------------------------------- */

static void text(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

/* printf, then escaped: for text that contains names. */
static void textf(FILE *out, const char *fmt, ...) CNNRT_PRINTF(2, 3);
static void textf(FILE *out, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    text(out, buf);
}

const char *cnnrt_report_class_label(const report_content *c, int64_t k, char *buf, size_t size)
{
    if (c->class_names && c->class_names[k] && c->class_names[k][0])
        snprintf(buf, size, "%s", c->class_names[k]);
    else
        snprintf(buf, size, "%lld", (long long)k);
    return buf;
}

static void png_data_uri(FILE *out, const uint8_t *data, size_t len)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputs("data:image/png;base64,", out);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        fputc(b64[(v >> 18) & 63], out);
        fputc(b64[(v >> 12) & 63], out);
        fputc(i + 1 < len ? b64[(v >> 6) & 63] : '=', out);
        fputc(i + 2 < len ? b64[v & 63] : '=', out);
    }
}

/* ---- page frame ----------------------------------------------------------------------- */

static const char page_style[] =
    "*{box-sizing:border-box}"
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:#1a1a1a;background:#fff}"
    "main{max-width:960px;margin:0 auto;padding:1rem}"
    "h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.3rem;margin-top:2rem;"
    "border-bottom:2px solid #d0d7de;padding-bottom:.25rem}h3{font-size:1.05rem}"
    "p,li,dd{max-width:70ch}"
    ".note{color:#4a4a4a}"
    "nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;padding:0;list-style:none}"
    "a{color:#0a58ca}"
    ".scroll{overflow-x:auto;max-width:100%}"
    "table{border-collapse:collapse;margin:.5rem 0}"
    "th,td{padding:.25rem .5rem;border:1px solid #d0d7de;text-align:right;"
    "font-variant-numeric:tabular-nums}"
    "th{background:#f3f5f7}th[scope=row],td.name{text-align:left}"
    "caption{text-align:left;font-weight:600;padding:.25rem 0}"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem}"
    "dl.facts dt{font-weight:600}dl.facts dd{margin:0}"
    ".big{font-size:1.4rem;font-weight:700}"
    "figure.chart{margin:1rem 0}figure.chart svg{width:100%;height:auto;max-width:640px;"
    "display:block}"
    ".gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));"
    "gap:1rem;padding:0;list-style:none}"
    ".gallery figure{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:.5rem}"
    ".gallery .trio{display:flex;gap:4px}"
    ".gallery img{width:33%;max-width:84px;height:auto;image-rendering:pixelated;"
    "border:1px solid #d0d7de}"
    ".gallery figcaption{font-size:.9rem}"
    ".wrong{color:#a4001d;font-weight:600}.right{color:#0b6b2b;font-weight:600}"
    "@media print{nav{display:none}main{max-width:none}h2{break-after:avoid}"
    ".gallery figure,figure.chart,table{break-inside:avoid}}";

static void page_start(FILE *out, const report_content *c)
{
    const char *name = c->info->model->name;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"generator\" content=\"cnnc\">\n<title>", out);
    textf(out, "%s: training report", name);
    fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n<header>\n<h1>", page_style);
    textf(out, "Model %s", name);
    fputs("</h1>\n<p class=\"note\">", out);
    if (c->info->source[0])
        textf(out, "Compiled by cnnc from %s. ", c->info->source);
    textf(out, "Weights: %s. Written %s.", c->weights_path, c->written_at);
    fputs("</p>\n</header>\n<nav aria-label=\"Sections\"><ul>"
          "<li><a href=\"#model\">Model</a></li><li><a href=\"#training\">Training</a></li>"
          "<li><a href=\"#test\">Test results</a></li><li><a href=\"#gallery\">What it looks "
          "at</a></li><li><a href=\"#faithfulness\">Can the heatmaps be trusted?</a></li>"
          "<li><a href=\"#timings\">Speed</a></li></ul></nav>\n", out);
}

static void page_end(FILE *out)
{
    fputs("<footer><p class=\"note\">Written by the program cnnc compiled for this model "
          "(<code>PROG report</code>). The page is self-contained: it loads nothing from "
          "anywhere.</p></footer>\n</main>\n</body>\n</html>\n", out);
}

/* ---- the model ------------------------------------------------------------------------- */

static void keras_shape(FILE *out, const cnnrt_layer_entry *l)
{
    fputs("(None", out);
    for (int i = 0; i < l->rank; i++)
        fprintf(out, ", %lld", (long long)l->dims[i]);
    fputs(")", out);
}

static void model_table(FILE *out, const cnnrt_model_info *info)
{
    char num[32];
    int64_t params = 0, flops = 0;
    fputs("<div class=\"scroll\"><table>\n<caption>Layers, as Keras's model.summary() "
          "lists them</caption>\n<thead><tr><th scope=\"col\">Layer (type)</th>"
          "<th scope=\"col\">Output shape</th><th scope=\"col\">Parameters</th>"
          "<th scope=\"col\">FLOPs per image</th></tr></thead>\n<tbody>\n", out);
    for (int i = 0; i < info->num_layers; i++) {
        const cnnrt_layer_entry *l = &info->layers[i];
        params += l->params;
        flops += l->flops;
        if (!strcmp(l->type, "InputLayer"))
            continue;
        fputs("<tr><th scope=\"row\">", out);
        textf(out, "%s (%s)", l->name, l->type);
        fputs("</th><td>", out);
        keras_shape(out, l);
        cnnrt_prog_format_thousands(l->params, num, sizeof num);
        fprintf(out, "</td><td>%s</td>", num);
        cnnrt_prog_format_thousands(l->flops, num, sizeof num);
        fprintf(out, "<td>%s</td></tr>\n", num);
    }
    cnnrt_prog_format_thousands(params, num, sizeof num);
    fprintf(out, "</tbody>\n<tfoot><tr><th scope=\"row\">Total</th><td></td><td>%s</td>", num);
    cnnrt_prog_format_thousands(flops, num, sizeof num);
    fprintf(out, "<td>%s</td></tr></tfoot>\n</table></div>\n", num);
}

static void fact(FILE *out, const char *term, const char *fmt, ...) CNNRT_PRINTF(3, 4);
static void fact(FILE *out, const char *term, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs("<dt>", out);
    text(out, term);
    fputs("</dt><dd>", out);
    text(out, buf);
    fputs("</dd>\n", out);
}

static void settings_list(FILE *out, const report_content *c)
{
    const cnnrt_model_info *info = c->info;
    const char *optimizer = cnnrt_optimizer_name(info->optimizer);
    const char *loss = cnnrt_loss_name(info->loss);
    fputs("<h3>Training settings</h3>\n<dl class=\"facts\">\n", out);
    fact(out, "Loss", "%s", loss ? loss : "?");
    fact(out, "Optimizer", "%s, learning rate %g", optimizer ? optimizer : "?", info->lr);
    fact(out, "Batch size", "%d", info->batch_size);
    fact(out, "Epochs", "%lld trained (the model file asks for %d)", (long long)c->epochs_done,
         info->epochs);
    fact(out, "Optimizer steps", "%lld", (long long)c->steps_done);
    fact(out, "Validation split", "%g (the last %g%% of the training images, as Keras takes "
         "it)", info->validation_split, 100 * info->validation_split);
    fact(out, "Seed", "%llu", (unsigned long long)c->seed);
    fputs("</dl>\n", out);
}

static void model_section(FILE *out, const report_content *c)
{
    fputs("<section id=\"model\" aria-labelledby=\"model-h\">\n<h2 id=\"model-h\">The model"
          "</h2>\n", out);
    model_table(out, c->info);
    settings_list(out, c);
    fputs("</section>\n", out);
}

/* ---- training curves ------------------------------------------------------------------- */

enum { CHART_W = 640, CHART_H = 280, CHART_LEFT = 56, CHART_RIGHT = 16, CHART_TOP = 16,
       CHART_BOTTOM = 44 };

typedef struct chart_scale {
    double lo, hi;
    int64_t epochs;
} chart_scale;

static double chart_x(const chart_scale *s, int64_t epoch)   /* epoch is 1-based */
{
    double span = CHART_W - CHART_LEFT - CHART_RIGHT;
    return s->epochs <= 1 ? CHART_LEFT + span / 2
                          : CHART_LEFT + span * (double)(epoch - 1) / (double)(s->epochs - 1);
}

static double chart_y(const chart_scale *s, double v)
{
    double span = CHART_H - CHART_TOP - CHART_BOTTOM;
    return CHART_TOP + span * (1 - (v - s->lo) / (s->hi - s->lo));
}

static float metric_of(const cnnrt_epoch_record *r, int accuracy, int validation)
{
    if (accuracy)
        return validation ? r->val_acc : r->acc;
    return validation ? r->val_loss : r->loss;
}

/* The y range: losses from 0, accuracies up to 1, rounded out to a tenth. */
static chart_scale chart_range(const report_content *c, int accuracy)
{
    chart_scale s = {INFINITY, -INFINITY, c->num_history};
    for (int64_t e = 0; e < c->num_history; e++)
        for (int v = 0; v < 2; v++) {
            float m = metric_of(&c->history[e], accuracy, v);
            if (isfinite(m)) {
                s.lo = m < s.lo ? m : s.lo;
                s.hi = m > s.hi ? m : s.hi;
            }
        }
    if (!isfinite(s.lo))
        s.lo = 0, s.hi = 1;
    if (accuracy) {
        s.lo = floor(s.lo * 10) / 10;
        s.hi = 1;
    } else {
        s.lo = 0;
        s.hi = s.hi > 0 ? ceil(s.hi * 10) / 10 : 1;
    }
    if (s.hi - s.lo < 1e-9)
        s.hi = s.lo + 1;
    return s;
}

static void chart_axes(FILE *out, const chart_scale *s, const char *y_label)
{
    int x0 = CHART_LEFT, x1 = CHART_W - CHART_RIGHT, y1 = CHART_H - CHART_BOTTOM;
    for (int t = 0; t <= 4; t++) {
        double v = s->lo + (s->hi - s->lo) * t / 4, y = chart_y(s, v);
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#d0d7de\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", x0, y, x1, y,
                x0 - 6, y + 4, v);
    }
    int64_t step = s->epochs > 10 ? (s->epochs + 9) / 10 : 1;
    for (int64_t e = 1; e <= s->epochs; e += step)
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%lld</text>\n",
                chart_x(s, e), y1 + 18, (long long)e);
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n",
            (x0 + x1) / 2, CHART_H - 6);
    fprintf(out, "<text x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)"
            "\">%s</text>\n", (CHART_TOP + y1) / 2, (CHART_TOP + y1) / 2, y_label);
}

static void chart_series(FILE *out, const report_content *c, const chart_scale *s,
                         int accuracy, int validation)
{
    static const char *const colour[2] = {"#0a58ca", "#b35900"};
    fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\"%s points=\"",
            colour[validation], validation ? " stroke-dasharray=\"7 4\"" : "");
    for (int64_t e = 0; e < c->num_history; e++) {
        float m = metric_of(&c->history[e], accuracy, validation);
        if (isfinite(m))
            fprintf(out, "%.1f,%.1f ", chart_x(s, e + 1), chart_y(s, m));
    }
    fputs("\"/>\n", out);
    for (int64_t e = 0; e < c->num_history; e++) {
        float m = metric_of(&c->history[e], accuracy, validation);
        if (isfinite(m))
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>",
                    chart_x(s, e + 1), chart_y(s, m), colour[validation]);
    }
    int y = CHART_TOP + 10 + 18 * validation;
    fprintf(out, "\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
            "stroke-width=\"2.5\"%s/><text x=\"%d\" y=\"%d\">%s</text>\n", CHART_W - 190, y,
            CHART_W - 160, y, colour[validation],
            validation ? " stroke-dasharray=\"7 4\"" : "", CHART_W - 152, y + 4,
            validation ? "validation" : "training");
}

static int has_metric(const report_content *c, int accuracy, int validation)
{
    for (int64_t e = 0; e < c->num_history; e++)
        if (isfinite(metric_of(&c->history[e], accuracy, validation)))
            return 1;
    return 0;
}

/* The epoch (1-based) with the lowest validation loss, or training loss without
 * validation; 0 when there is none. */
static int64_t best_epoch(const report_content *c)
{
    int validation = has_metric(c, 0, 1);
    int64_t best = 0;
    for (int64_t e = 0; e < c->num_history; e++) {
        float m = metric_of(&c->history[e], 0, validation);
        if (isfinite(m) && (best == 0 || m < metric_of(&c->history[best - 1], 0, validation)))
            best = e + 1;
    }
    return best;
}

static void chart(FILE *out, const report_content *c, int accuracy, int64_t best)
{
    const char *what = accuracy ? "Accuracy" : "Loss";
    chart_scale s = chart_range(c, accuracy);
    fprintf(out, "<figure class=\"chart\">\n<svg viewBox=\"0 0 %d %d\" role=\"img\" "
            "aria-labelledby=\"%s-t %s-d\" font-size=\"13\" fill=\"#1a1a1a\">\n"
            "<title id=\"%s-t\">%s per epoch</title>\n<desc id=\"%s-d\">", CHART_W, CHART_H,
            what, what, what, what, what);
    for (int64_t e = 0; e < c->num_history; e++) {
        const cnnrt_epoch_record *r = &c->history[e];
        fprintf(out, "Epoch %lld: training %.4f, validation %.4f. ", (long long)e + 1,
                metric_of(r, accuracy, 0), metric_of(r, accuracy, 1));
    }
    fputs("</desc>\n", out);
    chart_axes(out, &s, accuracy ? "accuracy" : "loss");
    if (best > 0)
        fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#0b6b2b\" "
                "stroke-width=\"1.5\"/><text x=\"%.1f\" y=\"%d\" fill=\"#0b6b2b\" "
                "text-anchor=\"middle\">best</text>\n", chart_x(&s, best), CHART_TOP,
                chart_x(&s, best), CHART_H - CHART_BOTTOM, chart_x(&s, best), CHART_TOP - 3 + 12);
    for (int v = 0; v < 2; v++)
        if (has_metric(c, accuracy, v))
            chart_series(out, c, &s, accuracy, v);
    fprintf(out, "</svg>\n<figcaption>%s per epoch: solid training, dashed validation; the "
            "green line marks the best epoch.</figcaption>\n</figure>\n", what);
}

static void history_table(FILE *out, const report_content *c, int64_t best)
{
    fputs("<details><summary>The figures per epoch</summary><div class=\"scroll\"><table>"
          "<thead><tr><th scope=\"col\">Epoch</th><th scope=\"col\">Loss</th>"
          "<th scope=\"col\">Accuracy</th><th scope=\"col\">Validation loss</th>"
          "<th scope=\"col\">Validation accuracy</th></tr></thead><tbody>\n", out);
    for (int64_t e = 0; e < c->num_history; e++) {
        const cnnrt_epoch_record *r = &c->history[e];
        fprintf(out, "<tr><th scope=\"row\">%lld%s</th><td>%.4f</td><td>%.4f</td>"
                "<td>%.4f</td><td>%.4f</td></tr>\n", (long long)e + 1,
                e + 1 == best ? " (best)" : "", r->loss, r->acc, r->val_loss, r->val_acc);
    }
    fputs("</tbody></table></div></details>\n", out);
}

static void training_section(FILE *out, const report_content *c)
{
    fputs("<section id=\"training\" aria-labelledby=\"training-h\">\n<h2 id=\"training-h\">"
          "How training went</h2>\n", out);
    if (c->num_history == 0) {
        fputs("<p>This weights file has no training history (it was not written by "
              "<code>train</code>, or training stopped before the first epoch ended), so "
              "there are no curves to draw.</p>\n</section>\n", out);
        return;
    }
    int64_t best = best_epoch(c);
    const cnnrt_epoch_record *b = &c->history[best - 1];
    int validation = has_metric(c, 0, 1);
    fprintf(out, "<p>%lld epochs. The best epoch is <strong>%lld</strong> (lowest %s loss, "
            "%.4f). ", (long long)c->num_history, (long long)best,
            validation ? "validation" : "training", validation ? b->val_loss : b->loss);
    if (validation && best < c->num_history)
        fputs("Validation loss rose after it while training loss kept falling: the model "
              "began to learn its training images by heart (overfitting); training fewer "
              "epochs, or early stopping, keeps the better weights.", out);
    else if (validation)
        fputs("Validation loss was still falling at the end: more epochs might help.", out);
    fputs("</p>\n", out);
    chart(out, c, 0, best);
    if (has_metric(c, 1, 0) || has_metric(c, 1, 1))
        chart(out, c, 1, best);
    history_table(out, c, best);
    fputs("</section>\n", out);
}

/* ---- test results ---------------------------------------------------------------------- */

static int64_t confusion_at(const report_content *c, int64_t t, int64_t p)
{
    return c->confusion[t * c->num_classes + p];
}

static void per_class_table(FILE *out, const report_content *c)
{
    char label[64];
    fputs("<div class=\"scroll\"><table>\n<caption>Per class</caption>\n<thead><tr>"
          "<th scope=\"col\">Class</th><th scope=\"col\">Test images</th>"
          "<th scope=\"col\">Accuracy (recall)</th><th scope=\"col\">Precision</th>"
          "</tr></thead>\n<tbody>\n", out);
    for (int64_t k = 0; k < c->num_classes; k++) {
        int64_t row = 0, column = 0;
        for (int64_t j = 0; j < c->num_classes; j++) {
            row += confusion_at(c, k, j);
            column += confusion_at(c, j, k);
        }
        int64_t right = confusion_at(c, k, k);
        fputs("<tr><th scope=\"row\">", out);
        text(out, cnnrt_report_class_label(c, k, label, sizeof label));
        fprintf(out, "</th><td>%lld</td>", (long long)row);
        if (row > 0)
            fprintf(out, "<td>%.1f%%</td>", 100.0 * (double)right / (double)row);
        else
            fputs("<td>no images</td>", out);
        if (column > 0)
            fprintf(out, "<td>%.1f%%</td></tr>\n", 100.0 * (double)right / (double)column);
        else
            fputs("<td>never predicted</td></tr>\n", out);
    }
    fputs("</tbody></table></div>\n<p class=\"note\">Accuracy (recall): of the images of "
          "this class, the share the model got right. Precision: of the images the model "
          "called this class, the share that really were.</p>\n", out);
}

/* WCAG's relative luminance of an 8-bit sRGB colour. */
static double luminance(int r, int g, int b)
{
    double c[3] = {r / 255.0, g / 255.0, b / 255.0};
    for (int i = 0; i < 3; i++)
        c[i] = c[i] <= 0.03928 ? c[i] / 12.92 : pow((c[i] + 0.055) / 1.055, 2.4);
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

/* Background for a cell holding `share` of its row: white to blue for right answers,
 * white to red for confusions. The text is black or white, whichever contrasts more with
 * the background: at least 4.58:1 for any background (the two are equal at luminance
 * 0.179), above WCAG AA's 4.5:1. */
static void cell_style(FILE *out, double share, int diagonal)
{
    if (share <= 0) {
        fputs("<td>", out);
        return;
    }
    double t = share < 0.02 ? 0.08 : 0.08 + 0.92 * share;
    int r = diagonal ? (int)(255 - t * (255 - 10)) : (int)(255 - t * (255 - 164));
    int g = diagonal ? (int)(255 - t * (255 - 88)) : (int)(255 - t * 255);
    int b = diagonal ? (int)(255 - t * (255 - 202)) : (int)(255 - t * (255 - 29));
    double l = luminance(r, g, b);
    int white_text = 1.05 / (l + 0.05) > (l + 0.05) / 0.05;
    fprintf(out, "<td style=\"background:#%02x%02x%02x;color:%s\">", r, g, b,
            white_text ? "#fff" : "#000");
}

static void confusion_matrix(FILE *out, const report_content *c)
{
    char label[64];
    fputs("<div class=\"scroll\"><table>\n<caption>Confusion matrix: rows are the true "
          "class, columns the predicted one</caption>\n<thead><tr><th scope=\"col\">true "
          "\\ predicted</th>", out);
    for (int64_t k = 0; k < c->num_classes; k++) {
        fputs("<th scope=\"col\">", out);
        text(out, cnnrt_report_class_label(c, k, label, sizeof label));
        fputs("</th>", out);
    }
    fputs("</tr></thead>\n<tbody>\n", out);
    for (int64_t t = 0; t < c->num_classes; t++) {
        int64_t row = 0;
        for (int64_t p = 0; p < c->num_classes; p++)
            row += confusion_at(c, t, p);
        fputs("<tr><th scope=\"row\">", out);
        text(out, cnnrt_report_class_label(c, t, label, sizeof label));
        fputs("</th>", out);
        for (int64_t p = 0; p < c->num_classes; p++) {
            int64_t v = confusion_at(c, t, p);
            cell_style(out, row > 0 ? (double)v / (double)row : 0, t == p);
            fprintf(out, "%lld</td>", (long long)v);
        }
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table></div>\n", out);
}

typedef struct confusion_pair {
    int64_t count, true_class, predicted;
} confusion_pair;

static int by_count_desc(const void *a, const void *b)
{
    const confusion_pair *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->true_class != y->true_class)
        return x->true_class < y->true_class ? -1 : 1;
    return x->predicted < y->predicted ? -1 : x->predicted > y->predicted;
}

static void top_confusions(FILE *out, const report_content *c)
{
    int64_t k = c->num_classes, n = 0;
    confusion_pair *pairs = calloc((size_t)(k * k), sizeof *pairs);
    if (!pairs)
        return;
    for (int64_t t = 0; t < k; t++)
        for (int64_t p = 0; p < k; p++)
            if (t != p && confusion_at(c, t, p) > 0)
                pairs[n++] = (confusion_pair){confusion_at(c, t, p), t, p};
    qsort(pairs, (size_t)n, sizeof *pairs, by_count_desc);
    fprintf(out, "<p>With %lld classes the full confusion matrix would not fit a screen; "
            "these are the most frequent confusions.</p>\n", (long long)k);
    fputs("<div class=\"scroll\"><table>\n<caption>Most frequent confusions</caption>\n"
          "<thead><tr><th scope=\"col\">True class</th><th scope=\"col\">Taken for</th>"
          "<th scope=\"col\">Times</th></tr></thead>\n<tbody>\n", out);
    char a[64], b[64];
    for (int64_t i = 0; i < n && i < REPORT_TOP_CONFUSIONS; i++) {
        fputs("<tr><td class=\"name\">", out);
        text(out, cnnrt_report_class_label(c, pairs[i].true_class, a, sizeof a));
        fputs("</td><td class=\"name\">", out);
        text(out, cnnrt_report_class_label(c, pairs[i].predicted, b, sizeof b));
        fprintf(out, "</td><td>%lld</td></tr>\n", (long long)pairs[i].count);
    }
    if (n == 0)
        fputs("<tr><td class=\"name\" colspan=\"3\">none: every test image was classified "
              "right</td></tr>\n", out);
    fputs("</tbody></table></div>\n", out);
    free(pairs);
}

static void test_section(FILE *out, const report_content *c)
{
    fputs("<section id=\"test\" aria-labelledby=\"test-h\">\n<h2 id=\"test-h\">Test results"
          "</h2>\n", out);
    if (c->test_images == 0) {
        fputs("<p>No test results: ", out);
        text(out, c->test_note ? c->test_note : "the test set could not be read");
        fputs("</p>\n</section>\n", out);
        return;
    }
    fputs("<p>On <strong>", out);
    char num[32];
    cnnrt_prog_format_thousands(c->test_images, num, sizeof num);
    fprintf(out, "%s</strong> test images the model never saw in training (", num);
    text(out, c->test_path);
    fprintf(out, "):</p>\n<p><span class=\"big\">%.2f%%</span> right, test loss %.4f.</p>\n",
            100 * c->test_accuracy, c->test_loss);
    per_class_table(out, c);
    if (c->num_classes <= REPORT_MATRIX_MAX_CLASSES)
        confusion_matrix(out, c);
    else
        top_confusions(out, c);
    fputs("<p class=\"note\">The diagonal counts the right answers; a number in row T, column "
          "P is how often a T was taken for a P.</p>\n</section>\n", out);
}

/* ---- gallery ---------------------------------------------------------------------------- */

static void picture_item(FILE *out, const report_content *c, const report_picture *p)
{
    static const char *const part[3] = {"the test image", "the heatmap",
                                        "the heatmap over the image"};
    char truth[64], guess[64];
    cnnrt_report_class_label(c, p->true_class, truth, sizeof truth);
    cnnrt_report_class_label(c, p->predicted, guess, sizeof guess);
    int right = p->true_class == p->predicted;
    fputs("<li><figure><div class=\"trio\">", out);
    for (int k = 0; k < 3; k++) {
        fputs("<img src=\"", out);
        png_data_uri(out, p->png[k], p->png_len[k]);
        fputs("\" alt=\"", out);
        textf(out, "Test image %lld (a %s, taken for %s): %s", (long long)p->index, truth, guess,
              part[k]);
        fputs("\">", out);
    }
    fprintf(out, "</div><figcaption>Test image %lld: true ", (long long)p->index);
    text(out, truth);
    fprintf(out, ", predicted <span class=\"%s\">", right ? "right" : "wrong");
    text(out, guess);
    if (c->outputs_probabilities)
        fprintf(out, "</span> (%.1f%%)</figcaption></figure></li>\n", 100.0 * p->probability);
    else
        fprintf(out, "</span> (score %.3g)</figcaption></figure></li>\n", p->probability);
}

static void picture_list(FILE *out, const report_content *c, const report_picture *items,
                         int count, const char *heading, const char *empty)
{
    fprintf(out, "<h3>%s</h3>\n", heading);
    if (count == 0) {
        fprintf(out, "<p>%s</p>\n", empty);
        return;
    }
    fputs("<ul class=\"gallery\">\n", out);
    for (int i = 0; i < count; i++)
        picture_item(out, c, &items[i]);
    fputs("</ul>\n", out);
}

static void gallery_section(FILE *out, const report_content *c)
{
    fputs("<section id=\"gallery\" aria-labelledby=\"gallery-h\">\n<h2 id=\"gallery-h\">What "
          "the model looks at</h2>\n", out);
    if (!c->cam_method) {
        fputs("<p>This model was compiled without Grad-CAM, so there are no heatmaps.</p>\n"
              "</section>\n", out);
        return;
    }
    if (c->test_images == 0) {
        fputs("<p>No test images to explain.</p>\n</section>\n", out);
        return;
    }
    fputs("<p>Each picture: the test image, the heatmap of ", out);
    textf(out, "%s on layer %s", c->cam_method, c->cam_layer);
    fputs(" (red: the pixels that raised the score of the predicted class most; blue: "
          "none), and the two laid over each other.</p>\n", out);
    picture_list(out, c, c->mistakes, c->num_mistakes,
                 "The worst mistakes (wrong, and most sure of it)",
                 "None: every test image was classified right.");
    picture_list(out, c, c->typical, c->num_typical,
                 "Typical right answers (one per class, of middle confidence)",
                 "None: no test image was classified right.");
    fputs("</section>\n", out);
}

/* ---- faithfulness and timings ---------------------------------------------------------- */

static void faithfulness_section(FILE *out, const report_content *c)
{
    const cam_faithfulness *f = &c->faith;
    fputs("<section id=\"faithfulness\" aria-labelledby=\"faith-h\">\n<h2 id=\"faith-h\">Can "
          "the heatmaps be trusted?</h2>\n", out);
    if (f->images == 0) {
        fputs("<p>Not measured (no Grad-CAM, no test images, or "
              "<code>--faithfulness-images 0</code>).</p>\n</section>\n", out);
        return;
    }
    fprintf(out, "<p>A heatmap can look convincing and still not show what the network "
            "uses. Two checks over %lld test images, each beside the same check for a map of "
            "random noise:</p>\n", (long long)f->images);
    fputs("<div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\">Measure</th>"
          "<th scope=\"col\">", out);
    text(out, c->cam_method);
    fputs("</th><th scope=\"col\">random map</th></tr></thead>\n<tbody>\n", out);
    fprintf(out, "<tr><th scope=\"row\">Deletion AUC (lower is better)</th><td>%.3f</td>"
            "<td>%.3f</td></tr>\n", f->auc_cam / (double)f->images,
            f->auc_random / (double)f->images);
    if (f->energy_images > 0) {
        double n = (double)f->energy_images;
        fprintf(out, "<tr><th scope=\"row\">Heatmap energy on the digit (higher is better)"
                "</th><td>%.1f%%</td><td>%.1f%%</td></tr>\n", 100 * f->energy_cam / n,
                100 * f->energy_random / n);
        fprintf(out, "<tr><th scope=\"row\">The digit's share of the image</th>"
                "<td>%.1f%%</td><td>%.1f%%</td></tr>\n", 100 * f->digit_share / n,
                100 * f->digit_share / n);
    }
    fputs("</tbody></table></div>\n", out);
    if (f->zero_maps > 0)
        fprintf(out, "<p class=\"note\">%lld maps were all zero (no positive evidence) and "
                "are left out of the energy figures.</p>\n", (long long)f->zero_maps);
    fputs("<p><strong>Deletion:</strong> the pixels the heatmap marks first are blacked out, "
          "a twentieth of the image at a time, and the probability of the class is measured "
          "after each step. If the map is right, the probability falls fast and the area "
          "under that curve is small: well below the random map's.</p>\n<p><strong>Energy:"
          "</strong> the share of the heatmap that lies on the digit's pixels. A map that "
          "ignores the digit lands near the digit's share of the image; a map that looks at "
          "the digit, well above it.</p>\n</section>\n", out);
}

static void timings_section(FILE *out, const report_content *c)
{
    fputs("<section id=\"timings\" aria-labelledby=\"timings-h\">\n<h2 id=\"timings-h\">Speed"
          "</h2>\n<dl class=\"facts\">\n", out);
    if (c->infer_images_per_s > 0)
        fact(out, "Inference", "%.0f images/s (the test set, batches of 256, %lld thread%s, "
             "measured while writing this report)", c->infer_images_per_s,
             (long long)c->threads, c->threads == 1 ? "" : "s");
    else
        fact(out, "Inference", "not measured");
    if (c->train_images_per_s > 0 && c->train_first_epoch == c->train_last_epoch)
        fact(out, "Training", "%.0f images/s (recorded by train in epoch %lld: batches of "
             "%lld, %lld thread%s)", c->train_images_per_s, (long long)c->train_first_epoch,
             (long long)c->train_batch, (long long)c->train_threads,
             c->train_threads == 1 ? "" : "s");
    else if (c->train_images_per_s > 0)
        fact(out, "Training", "%.0f images/s (recorded by train over epochs %lld-%lld: "
             "batches of %lld, %lld thread%s)", c->train_images_per_s,
             (long long)c->train_first_epoch, (long long)c->train_last_epoch,
             (long long)c->train_batch, (long long)c->train_threads,
             c->train_threads == 1 ? "" : "s");
    else
        fact(out, "Training", "%s", c->train_speed_note[0] ? c->train_speed_note
                                                           : "not recorded");
    fact(out, "Machine", "%s", c->machine);
    fputs("</dl>\n<p class=\"note\">Training speed is what train measured on the machine "
          "it ran on: images per second of wall-clock time over its optimizer steps (batch "
          "preparation and augmentation included, validation left out).</p>\n</section>\n",
          out);
}

int cnnrt_report_write_html(FILE *out, const report_content *c)
{
    page_start(out, c);
    model_section(out, c);
    training_section(out, c);
    test_section(out, c);
    gallery_section(out, c);
    faithfulness_section(out, c);
    timings_section(out, c);
    page_end(out);
    return ferror(out) ? -1 : 0;
}
