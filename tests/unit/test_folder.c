/* Picture folders as data sets (cnnrt_folder_load) and class-name files: Keras's
 * image_dataset_from_directory semantics, every bad input reported by path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrt_data.h"
#include "cnnrt_image.h"

static char root[4096];

static const char *at(const char *fmt, ...) CNNRT_PRINTF(1, 2);
static const char *at(const char *fmt, ...)
{
    static char paths[4][8192];
    static int which;
    which = (which + 1) % 4;
    char rel[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    snprintf(paths[which], sizeof paths[which], "%s/%s", root, rel);
    return paths[which];
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "%s/test_folder.%ld", CNNC_BINARY_DIR, (long)getpid());
    mkdir(root, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char command[8300];
    snprintf(command, sizeof command, "rm -rf '%s'", root);
    return system(command) == 0 ? 0 : -1;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A w x h picture of one colour, as PNG or JPEG (by the name's extension). */
static void solid(const char *path, int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    cnnrt_image img;
    cnnrt_err e;
    assert_int_equal(cnnrt_image_create(&img, w, h, 3, &e), 0);
    cnnrt_image_fill(&img, r, g, b);
    size_t n = strlen(path);
    int rc = n > 4 && !strcmp(path + n - 4, ".jpg") ? cnnrt_jpeg_write(path, &img, 100, &e)
                                                   : cnnrt_png_write(path, &img, &e);
    assert_int_equal(rc, 0);
    cnnrt_image_free(&img);
}

static cnnrt_folder_options options(int64_t h, int64_t w, int64_t c, int64_t classes)
{
    cnnrt_folder_options o = {.h = h, .w = w, .c = c, .num_classes = classes, .threads = 2};
    return o;
}

/* zebra/ (3 pictures, one nested), apple/ (2), mango/ (1) plus files that are not pictures. */
static void make_fruit(const char *name)
{
    mkdir(at("%s", name), 0755);
    mkdir(at("%s/zebra", name), 0755);
    mkdir(at("%s/apple", name), 0755);
    mkdir(at("%s/mango", name), 0755);
    mkdir(at("%s/zebra/more", name), 0755);
    mkdir(at("%s/.ipynb_checkpoints", name), 0755);
    solid(at("%s/zebra/b.png", name), 8, 8, 200, 200, 200);
    solid(at("%s/zebra/a.jpg", name), 5, 3, 0, 0, 255);
    solid(at("%s/zebra/more/c.png", name), 16, 16, 10, 20, 30);
    solid(at("%s/apple/x.png", name), 4, 4, 255, 0, 0);
    solid(at("%s/apple/y.png", name), 4, 4, 0, 255, 0);
    solid(at("%s/mango/m.png", name), 4, 4, 255, 255, 0);
    write_text(at("%s/README", name), "top-level files are not classes\n");
    write_text(at("%s/apple/notes.txt", name), "not a picture, ignored\n");
    write_text(at("%s/apple/.DS_Store", name), "Bud1");
    write_text(at("%s/mango/._m.png", name), "AppleDouble");
}

static void test_classes_labels_and_pixels(void **state)
{
    (void)state;
    make_fruit("fruit");
    assert_true(cnnrt_folder_has_classes(at("fruit")));
    assert_false(cnnrt_folder_has_classes(at("fruit/apple")));
    cnnrt_folder_options o = options(4, 4, 3, 3);
    cnnrt_dataset ds;
    cnnrt_err e;
    int64_t skipped = -1;
    assert_int_equal(cnnrt_folder_load(at("fruit"), &o, &ds, &skipped, &e), 0);
    assert_int_equal(skipped, 0);
    assert_int_equal(ds.num_class_names, 3);
    assert_string_equal(ds.class_names[0], "apple");   /* sorted, not listing order */
    assert_string_equal(ds.class_names[1], "mango");
    assert_string_equal(ds.class_names[2], "zebra");
    assert_int_equal(ds.count, 6);
    static const uint8_t labels[6] = {0, 0, 1, 2, 2, 2};
    assert_memory_equal(ds.labels, labels, 6);
    /* apple/x.png is red, resized 4x4 -> 4x4 unchanged; zebra/more/c.png comes last. */
    assert_int_equal(ds.images[0], 255);
    assert_int_equal(ds.images[1], 0);
    assert_int_equal(ds.images[5 * 48 + 0], 10);
    assert_int_equal(ds.images[5 * 48 + 2], 30);
    /* zebra/a.jpg (blue, JPEG) before zebra/b.png */
    assert_in_range(ds.images[3 * 48 + 2], 240, 255);
    assert_in_range(ds.images[3 * 48 + 0], 0, 12);
    cnnrt_dataset_free(&ds);

    /* Gray model: luminance of red is 76. */
    o = options(2, 2, 1, 3);
    assert_int_equal(cnnrt_folder_load(at("fruit"), &o, &ds, NULL, &e), 0);
    assert_int_equal(ds.c, 1);
    assert_int_equal(ds.images[0], cnnrt_luminance(255, 0, 0));
    cnnrt_dataset_free(&ds);
}

static void test_shuffle_is_deterministic(void **state)
{
    (void)state;
    mkdir(at("many"), 0755);
    for (int k = 0; k < 2; k++) {
        mkdir(at("many/c%d", k), 0755);
        for (int i = 0; i < 20; i++)
            solid(at("many/c%d/%02d.png", k, i), 3, 3, (uint8_t)(i * 10), (uint8_t)k, 0);
    }
    cnnrt_folder_options o = options(3, 3, 3, 2);
    cnnrt_dataset sorted, a, b, c;
    cnnrt_err e;
    assert_int_equal(cnnrt_folder_load(at("many"), &o, &sorted, NULL, &e), 0);
    o.shuffle = 1;
    o.seed = 7;
    assert_int_equal(cnnrt_folder_load(at("many"), &o, &a, NULL, &e), 0);
    o.threads = 1;
    assert_int_equal(cnnrt_folder_load(at("many"), &o, &b, NULL, &e), 0);
    o.seed = 8;
    assert_int_equal(cnnrt_folder_load(at("many"), &o, &c, NULL, &e), 0);
    assert_memory_equal(a.images, b.images, 40 * 27);   /* same seed, any thread count */
    assert_memory_equal(a.labels, b.labels, 40);
    assert_memory_not_equal(a.labels, sorted.labels, 40);
    assert_memory_not_equal(a.labels, c.labels, 40);
    int64_t order[40];
    cnnrt_shuffle_order(40, 7, -1, order);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(a.labels[i], sorted.labels[order[i]]);
        assert_memory_equal(a.images + 27 * i, sorted.images + 27 * order[i], 27);
    }
    cnnrt_dataset_free(&sorted);
    cnnrt_dataset_free(&a);
    cnnrt_dataset_free(&b);
    cnnrt_dataset_free(&c);
}

static void expect_load_error(const char *dir, cnnrt_folder_options o, const char *needle1,
                              const char *needle2)
{
    cnnrt_dataset ds;
    cnnrt_err e = {{0}};
    assert_int_equal(cnnrt_folder_load(dir, &o, &ds, NULL, &e), -1);
    assert_null(ds.images);
    if (!strstr(e.msg, needle1) || (needle2 && !strstr(e.msg, needle2)))
        fail_msg("message '%s' should hold '%s' and '%s'", e.msg, needle1,
                 needle2 ? needle2 : "");
}

static void test_bad_pictures_stop_or_are_skipped(void **state)
{
    (void)state;
    make_fruit("bad");
    /* A truncated PNG, a JPEG-named text file, a dangling link, a folder named like a
     * picture (its contents are read like any subfolder), and a picture too large. */
    write_text(at("bad/apple/cut.png"), "\x89PNG\r\n\x1a\n\x00\x00");
    write_text(at("bad/mango/text.jpg"), "this is not a JPEG\n");
    assert_int_equal(symlink("nowhere.png", at("bad/zebra/gone.png")), 0);
    mkdir(at("bad/zebra/folder.png"), 0755);
    solid(at("bad/zebra/folder.png/inside.png"), 4, 4, 1, 2, 3);
    FILE *f = fopen(at("bad/zebra/huge.bmp"), "wb");
    uint8_t bmp[54] = {'B', 'M', [10] = 54, [14] = 40, [18] = 0x40, [19] = 0x9c, [22] = 1,
                       [26] = 1, [28] = 24};
    fwrite(bmp, 1, sizeof bmp, f);
    fclose(f);

    cnnrt_folder_options o = options(4, 4, 3, 3);
    expect_load_error(at("bad"), o, at("bad/apple/cut.png"), "and 3 more unreadable pictures");

    o.skip_bad = 1;
    char *notes_text = NULL;
    size_t notes_len = 0;
    o.notes = open_memstream(&notes_text, &notes_len);
    cnnrt_dataset ds;
    cnnrt_err e;
    int64_t skipped = 0;
    assert_int_equal(cnnrt_folder_load(at("bad"), &o, &ds, &skipped, &e), 0);
    fclose(o.notes);
    assert_int_equal(skipped, 4);
    assert_int_equal(ds.count, 7);   /* the six good ones and folder.png/inside.png */
    assert_non_null(strstr(notes_text, "skipped 4 unreadable pictures"));
    assert_non_null(strstr(notes_text, "text.jpg: not a picture"));
    assert_non_null(strstr(notes_text, "gone.png: cannot open"));
    assert_non_null(strstr(notes_text, "huge.bmp: the picture is too large: 40000x1"));
    free(notes_text);
    cnnrt_dataset_free(&ds);
}

static void test_folder_shapes_that_do_not_fit(void **state)
{
    (void)state;
    /* One class folder for a 3-class model. */
    mkdir(at("one"), 0755);
    mkdir(at("one/only"), 0755);
    solid(at("one/only/a.png"), 4, 4, 1, 1, 1);
    expect_load_error(at("one"), options(4, 4, 3, 3), "1 class folder (only)",
                      "the model has 3 classes");
    /* No class folders at all, and class folders without any picture. */
    mkdir(at("flat"), 0755);
    solid(at("flat/a.png"), 4, 4, 1, 1, 1);
    expect_load_error(at("flat"), options(4, 4, 3, 0), "no class folders", NULL);
    mkdir(at("hollow"), 0755);
    mkdir(at("hollow/a"), 0755);
    mkdir(at("hollow/b"), 0755);
    write_text(at("hollow/a/README"), "nothing here\n");
    expect_load_error(at("hollow"), options(4, 4, 3, 2), "no pictures", NULL);
    expect_load_error(at("does-not-exist"), options(4, 4, 3, 2), "does-not-exist", NULL);
    expect_load_error(at("one"), options(4, 4, 4, 1), "1- or 3-channel", NULL);

    /* An empty class folder is kept (its label exists) and noted. */
    mkdir(at("hollow/c"), 0755);
    solid(at("hollow/c/x.png"), 4, 4, 9, 9, 9);
    cnnrt_folder_options o = options(4, 4, 1, 3);
    char *notes_text = NULL;
    size_t notes_len = 0;
    o.notes = open_memstream(&notes_text, &notes_len);
    cnnrt_dataset ds;
    cnnrt_err e;
    assert_int_equal(cnnrt_folder_load(at("hollow"), &o, &ds, NULL, &e), 0);
    fclose(o.notes);
    assert_int_equal(ds.count, 1);
    assert_int_equal(ds.labels[0], 2);
    assert_non_null(strstr(notes_text, "class 'a'"));
    assert_non_null(strstr(notes_text, "class 'b'"));
    assert_null(strstr(notes_text, "class 'c'"));
    free(notes_text);
    cnnrt_dataset_free(&ds);
}

static void test_class_names_files(void **state)
{
    (void)state;
    char **names;
    int64_t n;
    cnnrt_err e;
    write_text(at("classes.txt"), "T-shirt/top\r\nTrouser  \nAnkle boot\n");
    assert_int_equal(cnnrt_class_names_read(at("classes.txt"), &names, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "T-shirt/top");
    assert_string_equal(names[1], "Trouser");
    assert_string_equal(names[2], "Ankle boot");
    assert_int_equal(cnnrt_class_names_write(at("copy.txt"), names, n, &e), 0);
    cnnrt_class_names_free(names, n);
    assert_int_equal(cnnrt_class_names_read(at("copy.txt"), &names, &n, &e), 0);
    assert_int_equal(n, 3);
    cnnrt_class_names_free(names, n);

    write_text(at("gap.txt"), "a\n\nb\n");
    assert_int_equal(cnnrt_class_names_read(at("gap.txt"), &names, &n, &e), -1);
    assert_non_null(strstr(e.msg, "gap.txt:2: empty line"));
    write_text(at("empty.txt"), "");
    assert_int_equal(cnnrt_class_names_read(at("empty.txt"), &names, &n, &e), -1);
    assert_non_null(strstr(e.msg, "no class names"));
    write_text(at("binary.txt"), "ok\nbad\x01name\n");
    assert_int_equal(cnnrt_class_names_read(at("binary.txt"), &names, &n, &e), -1);
    assert_non_null(strstr(e.msg, "binary.txt:2: control character"));
    char long_line[400];
    memset(long_line, 'x', sizeof long_line - 2);
    long_line[sizeof long_line - 2] = '\n';
    long_line[sizeof long_line - 1] = '\0';
    write_text(at("long.txt"), long_line);
    assert_int_equal(cnnrt_class_names_read(at("long.txt"), &names, &n, &e), -1);
    assert_non_null(strstr(e.msg, "longer than"));
    assert_int_equal(cnnrt_class_names_read(at("missing.txt"), &names, &n, &e), -1);
    assert_non_null(strstr(e.msg, "missing.txt: cannot open"));
}

static void test_idx_directory_with_class_names(void **state)
{
    (void)state;
    mkdir(at("idx"), 0755);
    uint8_t pixels[4 * 2 * 2] = {0}, labels[4] = {0, 1, 2, 1};
    cnnrt_err e;
    assert_int_equal(cnnrt_idx_write_images(at("idx/%s", CNNRT_TRAIN_IMAGES), pixels, 4, 2, 2,
                                            1, 0, &e), 0);
    assert_int_equal(cnnrt_idx_write_labels(at("idx/%s", CNNRT_TRAIN_LABELS), labels, 4, 0, &e),
                     0);
    cnnrt_dataset ds;
    assert_int_equal(cnnrt_dataset_load_dir(at("idx"), CNNRT_SPLIT_TRAIN, 2, 2, 1, 3, &ds, &e), 0);
    assert_null(ds.class_names);
    cnnrt_dataset_free(&ds);
    write_text(at("idx/classes.txt"), "zero\none\ntwo\n");
    assert_int_equal(cnnrt_dataset_load_dir(at("idx"), CNNRT_SPLIT_TRAIN, 2, 2, 1, 3, &ds, &e), 0);
    assert_int_equal(ds.num_class_names, 3);
    assert_string_equal(ds.class_names[2], "two");
    cnnrt_dataset train, val;
    assert_int_equal(cnnrt_dataset_split(&ds, 0.5, &train, &val, &e), 0);
    assert_ptr_equal(val.class_names, ds.class_names);   /* views share the names */
    cnnrt_dataset_free(&val);
    cnnrt_dataset_free(&train);
    cnnrt_dataset_free(&ds);
    write_text(at("idx/classes.txt"), "zero\none\n");
    assert_int_equal(cnnrt_dataset_load_dir(at("idx"), CNNRT_SPLIT_TRAIN, 2, 2, 1, 3, &ds, &e),
                     -1);
    assert_non_null(strstr(e.msg, "classes.txt: 2 class names, but the model has 3 classes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes_labels_and_pixels),
        cmocka_unit_test(test_shuffle_is_deterministic),
        cmocka_unit_test(test_bad_pictures_stop_or_are_skipped),
        cmocka_unit_test(test_folder_shapes_that_do_not_fit),
        cmocka_unit_test(test_class_names_files),
        cmocka_unit_test(test_idx_directory_with_class_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
