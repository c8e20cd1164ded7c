/* The report page (runtime/report_html.c) rendered from hand-made content, for the cases a
 * trained model in an end-to-end test does not reach: no training history, a model with
 * 100 classes (the matrix gives way to a list of the top confusions), class names that
 * need escaping, a model without Grad-CAM, scores instead of probabilities; and the ranking
 * that picks the gallery. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "report.h"
#include "train_speed.h"

static const cnnrt_layer_entry layers[] = {
    {"input_layer", "InputLayer", 3, {28, 28, 1}, 0, 0},
    {"dense", "Dense", 1, {100, 0, 0}, 78500, 156800},
};

typedef struct fixture {
    cnnrt_model model;
    cnnrt_model_info info;
    report_content c;
    int64_t *confusion;
    char *page;
    size_t len;
} fixture;

static void setup_content(fixture *f, int64_t classes)
{
    memset(f, 0, sizeof *f);
    f->model.name = "tiny";
    f->model.num_classes = classes;
    f->info.model = &f->model;
    f->info.source = "models/tiny.cnn";
    f->info.num_layers = 2;
    f->info.layers = layers;
    f->info.batch_size = 32;
    f->info.epochs = 3;
    f->info.lr = 0.001;
    f->confusion = calloc((size_t)(classes * classes), sizeof *f->confusion);
    for (int64_t k = 0; k < classes; k++)
        f->confusion[k * classes + k] = 10;
    f->c.info = &f->info;
    f->c.weights_path = "tiny.weights";
    f->c.written_at = "2026-12-05 12:00 UTC";
    f->c.num_classes = classes;
    f->c.confusion = f->confusion;
    f->c.test_images = 10 * classes;
    f->c.test_path = "t10k-images-idx3-ubyte";
    f->c.test_accuracy = 1;
    f->c.outputs_probabilities = 1;
}

static void render(fixture *f)
{
    FILE *out = open_memstream(&f->page, &f->len);
    assert_non_null(out);
    assert_int_equal(cnnrt_report_write_html(out, &f->c), 0);
    fclose(out);
}

static void teardown_content(fixture *f)
{
    free(f->confusion);
    free(f->page);
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_without_history_the_sections_say_so(void **state)
{
    (void)state;
    fixture f;
    setup_content(&f, 10);
    render(&f);
    assert_non_null(strstr(f.page, "has no training history"));
    assert_null(strstr(f.page, "<svg"));
    assert_non_null(strstr(f.page, "compiled without Grad-CAM"));
    assert_non_null(strstr(f.page, "Not measured"));
    assert_non_null(strstr(f.page, "Confusion matrix"));
    assert_non_null(strstr(f.page, "</html>"));
    teardown_content(&f);
}

static void test_history_draws_curves_and_marks_the_best_epoch(void **state)
{
    (void)state;
    fixture f;
    setup_content(&f, 10);
    cnnrt_epoch_record history[3] = {{0.9f, 0.7f, 0.5f, 0.8f}, {0.4f, 0.9f, 0.3f, 0.9f},
                                     {0.2f, 0.95f, 0.35f, 0.91f}};
    f.c.history = history;
    f.c.num_history = 3;
    render(&f);
    assert_int_equal(count(f.page, "<svg"), 2);            /* loss and accuracy */
    assert_non_null(strstr(f.page, "The best epoch is <strong>2</strong>"));
    assert_non_null(strstr(f.page, "overfitting"));         /* validation loss rose after it */
    assert_non_null(strstr(f.page, "<th scope=\"row\">2 (best)</th>"));
    teardown_content(&f);
}

static void test_hundred_classes_list_the_top_confusions(void **state)
{
    (void)state;
    fixture f;
    setup_content(&f, 100);
    f.confusion[3 * 100 + 8] = 7;      /* 3 taken for 8, 7 times: the top confusion */
    f.confusion[5 * 100 + 6] = 2;
    render(&f);
    assert_null(strstr(f.page, "Confusion matrix"));
    assert_non_null(strstr(f.page, "Most frequent confusions"));
    const char *first = strstr(f.page, "<tr><td class=\"name\">3</td><td class=\"name\">8</td>"
                                       "<td>7</td>");
    const char *second = strstr(f.page, "<tr><td class=\"name\">5</td><td class=\"name\">6</td>"
                                        "<td>2</td>");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
    teardown_content(&f);
}

static void test_class_names_are_escaped(void **state)
{
    (void)state;
    fixture f;
    setup_content(&f, 2);
    char *names[2] = {"cats & dogs", "<script>"};
    f.c.class_names = names;
    render(&f);
    assert_non_null(strstr(f.page, "cats &amp; dogs"));
    assert_non_null(strstr(f.page, "&lt;script&gt;"));
    assert_null(strstr(f.page, "<script>"));
    teardown_content(&f);
}

static void test_without_test_data_the_page_says_why(void **state)
{
    (void)state;
    fixture f;
    setup_content(&f, 10);
    f.c.test_images = 0;
    f.c.test_note = "data/mnist: no test images";
    f.c.cam_method = "hirescam";
    f.c.cam_layer = "conv2d";
    render(&f);
    assert_non_null(strstr(f.page, "No test results: data/mnist: no test images"));
    assert_non_null(strstr(f.page, "No test images to explain"));
    teardown_content(&f);
}

static double channel(int v)
{
    double c = v / 255.0;
    return c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double relative_luminance(unsigned rgb)
{
    return 0.2126 * channel((int)(rgb >> 16) & 255) + 0.7152 * channel((int)(rgb >> 8) & 255) +
           0.0722 * channel((int)rgb & 255);
}

/* Every coloured cell of the confusion matrix, whatever its share of the row, keeps a
 * contrast of at least 4.5:1 (WCAG AA) between its text and its background. */
static void test_confusion_colours_keep_their_contrast(void **state)
{
    (void)state;
    fixture f;
    setup_content(&f, 20);
    for (int64_t t = 0; t < 20; t++)       /* row t: shares from 0 to 1 in steps */
        for (int64_t p = 0; p < 20; p++)
            f.confusion[t * 20 + p] = p <= t ? 1 + p : 0;
    render(&f);
    int cells = 0;
    for (const char *p = strstr(f.page, "style=\"background:#"); p;
         p = strstr(p + 1, "style=\"background:#")) {
        unsigned bg, fg;
        char text[8];
        assert_int_equal(sscanf(p, "style=\"background:#%6x;color:#%7[0-9a-f]", &bg, text), 2);
        fg = !strcmp(text, "fff") ? 0xffffff : (unsigned)strtoul(text, NULL, 16);
        double a = relative_luminance(bg), b = relative_luminance(fg);
        double ratio = (fmax(a, b) + 0.05) / (fmin(a, b) + 0.05);
        assert_true(ratio >= 4.5);
        cells++;
    }
    assert_true(cells >= 200);
    teardown_content(&f);
}

/* The gallery's ranking (cnnrt_cam_sort_ranked_desc, shared with the deletion measure): highest
 * value first, equal values by index, whatever order they came in. */
static void test_ranking_is_by_value_then_index(void **state)
{
    (void)state;
    cam_ranked r[6] = {{0.5f, 4}, {0.9f, 2}, {0.5f, 1}, {0.1f, 0}, {0.9f, 5}, {0.5f, 3}};
    cnnrt_cam_sort_ranked_desc(r, 6);
    const int64_t expected[6] = {2, 5, 1, 3, 4, 0};
    for (int i = 0; i < 6; i++)
        assert_int_equal(r[i].index, expected[i]);
    assert_true(r[0].value == 0.9f && r[5].value == 0.1f);
}

/* NAME.speed.csv: written, read back, summarised; an unrecorded epoch read as such; a file
 * that is not one refused, naming the line. */
static void test_speed_file_round_trip(void **state)
{
    (void)state;
    char path[64];
    cnnrt_train_speed_path("tiny.weights", path, sizeof path);
    assert_string_equal(path, "tiny.speed.csv");
    cnnrt_train_speed_path("run3", path, sizeof path);
    assert_string_equal(path, "run3.speed.csv");
    train_speed written[3] = {{0, 0, 0, 0}, {2.0, 6400, 2, 64}, {4.0, 6400, 1, 64}};
    cnnrt_err e;
    assert_int_equal(cnnrt_train_speed_write("t_speed.csv", written, 3, &e), 0);
    train_speed read[4];
    assert_int_equal(cnnrt_train_speed_read("t_speed.csv", read, 4, &e), 3);
    assert_true(read[0].seconds == 0 && read[0].images == 0);
    assert_true(read[1].images == 6400 && read[1].threads == 2 && read[1].batch_size == 64);
    assert_true(fabs(read[2].seconds - 4.0) < 1e-9);
    int64_t first, last, threads, batch;
    double rate = cnnrt_train_speed_summary(read, 3, &first, &last, &threads, &batch);
    assert_true(fabs(rate - 12800.0 / 6.0) < 1e-6);   /* all images over all seconds */
    assert_int_equal(first, 2);
    assert_int_equal(last, 3);
    assert_int_equal(threads, 1);
    assert_int_equal(cnnrt_train_speed_read("t_speed.csv", read, 2, &e), 2);   /* as many as asked */
    FILE *f = fopen("t_speed.csv", "a");
    fputs("4,abc,,,,\n", f);
    fclose(f);
    assert_int_equal(cnnrt_train_speed_read("t_speed.csv", read, 4, &e), -1);
    assert_non_null(strstr(e.msg, "line 5"));
    assert_int_equal(cnnrt_train_speed_read("t_missing_speed.csv", read, 4, &e), -1);
    remove("t_speed.csv");
}

static void test_recorded_training_speed_is_shown(void **state)
{
    (void)state;
    fixture f;
    setup_content(&f, 10);
    f.c.train_images_per_s = 1234;
    f.c.train_first_epoch = 1;
    f.c.train_last_epoch = 3;
    f.c.train_threads = 2;
    f.c.train_batch = 64;
    render(&f);
    assert_non_null(strstr(f.page, "1234 images/s (recorded by train over epochs 1-3: batches "
                                    "of 64, 2 threads)"));
    teardown_content(&f);
    setup_content(&f, 10);
    snprintf(f.c.train_speed_note, sizeof f.c.train_speed_note, "not recorded: no file");
    render(&f);
    assert_non_null(strstr(f.page, "<dd>not recorded: no file</dd>"));
    teardown_content(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_history_the_sections_say_so),
        cmocka_unit_test(test_history_draws_curves_and_marks_the_best_epoch),
        cmocka_unit_test(test_hundred_classes_list_the_top_confusions),
        cmocka_unit_test(test_class_names_are_escaped),
        cmocka_unit_test(test_without_test_data_the_page_says_why),
        cmocka_unit_test(test_confusion_colours_keep_their_contrast),
        cmocka_unit_test(test_ranking_is_by_value_then_index),
        cmocka_unit_test(test_speed_file_round_trip),
        cmocka_unit_test(test_recorded_training_speed_is_shown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
