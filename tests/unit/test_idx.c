/* IDX reading: round trips (raw and gzip) and every malformed file the loader must reject
 * with a message naming the file. All files are made inside a temporary directory. */
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
#include <zlib.h>

#include "cnnrt_data.h"
#include "test_util.h"

/* An IDX image file in memory: header for count x rows x cols, then pixels i*7+1. */
static size_t make_images(unsigned char *buf, uint32_t count, uint32_t rows, uint32_t cols)
{
    unsigned char header[16] = {0, 0, 8, 3};
    uint32_t dims[3] = {count, rows, cols};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 4; b++)
            header[4 + 4 * i + b] = (unsigned char)(dims[i] >> (24 - 8 * b));
    memcpy(buf, header, 16);
    size_t n = (size_t)count * rows * cols;
    for (size_t i = 0; i < n; i++)
        buf[16 + i] = (unsigned char)(i * 7 + 1);
    return 16 + n;
}

static void assert_error_mentions(const cnnrt_err *e, const char *a, const char *b)
{
    if (!strstr(e->msg, a) || (b && !strstr(e->msg, b)))
        fail_msg("message \"%s\" should mention \"%s\" and \"%s\"", e->msg, a, b ? b : "");
}

static void test_round_trip_raw_and_gzip(void **state)
{
    (void)state;
    uint8_t pixels[3 * 4 * 5], labels[3] = {7, 0, 9};
    for (int i = 0; i < 60; i++)
        pixels[i] = (uint8_t)(i * 13);
    for (int gz = 0; gz < 2; gz++) {
        const char *ip = tmp_path(gz ? "rt-images.gz" : "rt-images");
        const char *lp = tmp_path(gz ? "rt-labels.gz" : "rt-labels");
        cnnrt_err e;
        assert_int_equal(cnnrt_idx_write_images(ip, pixels, 3, 4, 5, 1, gz, &e), 0);
        assert_int_equal(cnnrt_idx_write_labels(lp, labels, 3, gz, &e), 0);

        size_t len;
        unsigned char *raw = read_bytes(ip, &len);
        if (gz) {
            assert_true(raw[0] == 0x1f && raw[1] == 0x8b);
        } else {
            unsigned char expect[8] = {0, 0, 8, 3, 0, 0, 0, 3};
            assert_memory_equal(raw, expect, 8);
            assert_int_equal(len, 16 + 60);
        }
        free(raw);

        cnnrt_idx_images im;
        assert_int_equal(cnnrt_idx_read_images(ip, &im, &e), 0);
        assert_int_equal(im.count, 3);
        assert_int_equal(im.rows, 4);
        assert_int_equal(im.cols, 5);
        assert_int_equal(im.channels, 1);
        assert_memory_equal(im.pixels, pixels, 60);
        free(im.pixels);

        uint8_t *got;
        int64_t count;
        assert_int_equal(cnnrt_idx_read_labels(lp, &got, &count, &e), 0);
        assert_int_equal(count, 3);
        assert_memory_equal(got, labels, 3);
        free(got);
    }
}

static void test_idx4_channels(void **state)
{
    (void)state;
    uint8_t pixels[2 * 2 * 3 * 3];
    for (int i = 0; i < 36; i++)
        pixels[i] = (uint8_t)(200 - i);
    const char *p = tmp_path("rgb-images");
    cnnrt_err e;
    assert_int_equal(cnnrt_idx_write_images(p, pixels, 2, 2, 3, 3, 0, &e), 0);
    cnnrt_idx_images im;
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), 0);
    assert_int_equal(im.channels, 3);
    assert_int_equal(im.cols, 3);
    assert_memory_equal(im.pixels, pixels, 36);
    free(im.pixels);
}

/* Compression is recognised by the 1f 8b magic, not by the file name. */
static void test_gzip_detected_by_content(void **state)
{
    (void)state;
    uint8_t labels[4] = {1, 2, 3, 4};
    cnnrt_err e;
    const char *gz_plain_name = tmp_path("labels-no-suffix");
    const char *raw_gz_name = tmp_path("labels-raw.gz");
    assert_int_equal(cnnrt_idx_write_labels(gz_plain_name, labels, 4, 1, &e), 0);
    assert_int_equal(cnnrt_idx_write_labels(raw_gz_name, labels, 4, 0, &e), 0);
    const char *names[2] = {gz_plain_name, raw_gz_name};
    for (int i = 0; i < 2; i++) {
        uint8_t *got;
        int64_t count;
        assert_int_equal(cnnrt_idx_read_labels(names[i], &got, &count, &e), 0);
        assert_int_equal(count, 4);
        assert_memory_equal(got, labels, 4);
        free(got);
    }
}

static void test_wrong_magic(void **state)
{
    (void)state;
    const char *p = tmp_path("zip-images");
    write_bytes(p, "PK\003\004 this is a zip file", 24);
    cnnrt_idx_images im;
    cnnrt_err e;
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "magic");
    assert_null(im.pixels);

    unsigned char floats[8] = {0, 0, 0x0d, 1, 0, 0, 0, 0};   /* float data, not bytes */
    write_bytes(p, floats, 8);
    uint8_t *labels;
    int64_t count;
    assert_int_equal(cnnrt_idx_read_labels(p, &labels, &count, &e), -1);
    assert_error_mentions(&e, p, "unsigned bytes");

    write_bytes(p, "", 0);
    assert_int_equal(cnnrt_idx_read_labels(p, &labels, &count, &e), -1);
    assert_error_mentions(&e, p, "too short");
}

static void test_wrong_dimension_count(void **state)
{
    (void)state;
    uint8_t labels[2] = {1, 2};
    cnnrt_err e;
    const char *lp = tmp_path("dims-labels");
    assert_int_equal(cnnrt_idx_write_labels(lp, labels, 2, 0, &e), 0);
    cnnrt_idx_images im;
    assert_int_equal(cnnrt_idx_read_images(lp, &im, &e), -1);
    assert_error_mentions(&e, lp, "label file?");

    unsigned char buf[16 + 8];
    size_t len = make_images(buf, 2, 2, 2);
    const char *ip = tmp_path("dims-images");
    write_bytes(ip, buf, len);
    uint8_t *got;
    int64_t count;
    assert_int_equal(cnnrt_idx_read_labels(ip, &got, &count, &e), -1);
    assert_error_mentions(&e, ip, "image file?");
}

static void test_truncated_and_trailing(void **state)
{
    (void)state;
    unsigned char buf[16 + 3 * 4 * 4 + 5];
    size_t len = make_images(buf, 3, 4, 4);
    const char *p = tmp_path("short-images");
    cnnrt_idx_images im;
    cnnrt_err e;

    write_bytes(p, buf, len - 10);   /* the third image is cut */
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "truncated");
    assert_error_mentions(&e, "3 images", "2 complete images");

    write_bytes(p, buf, 10);         /* the header itself is cut */
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "truncated");

    memset(buf + len, 0xAB, 5);
    write_bytes(p, buf, len + 5);    /* junk after the data */
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "5 unexpected bytes");

    write_bytes(p, buf, len);        /* and exactly right is accepted */
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), 0);
    free(im.pixels);
}

static void test_corrupt_gzip(void **state)
{
    (void)state;
    uint8_t pixels[5 * 8 * 8];
    for (int i = 0; i < 320; i++)
        pixels[i] = (uint8_t)((i * 37) ^ (i >> 3));
    const char *good = tmp_path("gz-images");
    cnnrt_err e;
    assert_int_equal(cnnrt_idx_write_images(good, pixels, 5, 8, 8, 1, 1, &e), 0);
    size_t len;
    unsigned char *gz = read_bytes(good, &len);
    cnnrt_idx_images im;

    const char *p = tmp_path("gz-broken");
    write_bytes(p, gz, len / 2);      /* stream cut in the middle */
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "corrupt gzip");
    assert_error_mentions(&e, "truncated", NULL);

    unsigned char *bad = malloc(len);
    memcpy(bad, gz, len);
    for (size_t i = 12; i < 24 && i < len - 8; i++)
        bad[i] ^= 0x5A;               /* garbage inside the deflate data */
    write_bytes(p, bad, len);
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "corrupt gzip");

    memcpy(bad, gz, len);
    bad[len - 6] ^= 0xFF;              /* the CRC-32 in the gzip trailer */
    write_bytes(p, bad, len);
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "corrupt gzip");

    /* Two concatenated members (what `cat a.gz b.gz` gives) form one valid stream. */
    unsigned char header[16 + 320];   /* only the 16 header bytes are used */
    make_images(header, 5, 8, 8);
    unsigned char *part1, *part2;
    size_t len1, len2;
    const char *h = tmp_path("gz-part1"), *d = tmp_path("gz-part2");
    gzFile g = gzopen(h, "wb");
    gzwrite(g, header, 16);
    gzclose(g);
    g = gzopen(d, "wb");
    gzwrite(g, pixels, 320);
    gzclose(g);
    part1 = read_bytes(h, &len1);
    part2 = read_bytes(d, &len2);
    unsigned char *both = malloc(len1 + len2);
    memcpy(both, part1, len1);
    memcpy(both + len1, part2, len2);
    write_bytes(p, both, len1 + len2);
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), 0);
    assert_memory_equal(im.pixels, pixels, 320);
    free(im.pixels);

    free(both);
    free(part1);
    free(part2);
    free(bad);
    free(gz);
}

static void test_missing_file(void **state)
{
    (void)state;
    cnnrt_idx_images im;
    cnnrt_err e;
    const char *p = tmp_path("does-not-exist");
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "cannot open");
}

/* A data directory with the four standard names, some compressed. */
static void make_data_dir(const char *dir, int64_t train_n, int64_t test_n, uint8_t bad_label)
{
    char path[600];
    cnnrt_err e;
    uint8_t pixels[20 * 28 * 28], labels[20];
    for (int i = 0; i < 20 * 28 * 28; i++)
        pixels[i] = (uint8_t)i;
    for (int i = 0; i < 20; i++)
        labels[i] = (uint8_t)(i % 10);
    labels[train_n - 1] = bad_label;
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/%s.gz", dir, CNNRT_TRAIN_IMAGES);
    assert_int_equal(cnnrt_idx_write_images(path, pixels, train_n, 28, 28, 1, 1, &e), 0);
    snprintf(path, sizeof path, "%s/%s", dir, CNNRT_TRAIN_LABELS);
    assert_int_equal(cnnrt_idx_write_labels(path, labels, train_n, 0, &e), 0);
    snprintf(path, sizeof path, "%s/%s", dir, CNNRT_TEST_IMAGES);
    assert_int_equal(cnnrt_idx_write_images(path, pixels, test_n, 28, 28, 1, 0, &e), 0);
    snprintf(path, sizeof path, "%s/%s.gz", dir, CNNRT_TEST_LABELS);
    assert_int_equal(cnnrt_idx_write_labels(path, labels, test_n, 1, &e), 0);
}

static void test_load_directory(void **state)
{
    (void)state;
    const char *dir = tmp_path("data-ok");
    make_data_dir(dir, 12, 5, 3);
    cnnrt_dataset train, test;
    cnnrt_err e;
    assert_int_equal(cnnrt_dataset_load_dir(dir, CNNRT_SPLIT_TRAIN, 28, 28, 1, 10, &train, &e), 0);
    assert_int_equal(train.count, 12);
    assert_int_equal(train.labels[11], 3);
    assert_int_equal(train.images[28 * 28 + 5], (uint8_t)(28 * 28 + 5));
    assert_int_equal(cnnrt_dataset_load_dir(dir, CNNRT_SPLIT_TEST, 28, 28, 1, 10, &test, &e), 0);
    assert_int_equal(test.count, 5);
    assert_int_equal(test.labels[4], 4);
    cnnrt_dataset_free(&train);
    cnnrt_dataset_free(&test);

    /* The model's input size is checked. */
    assert_int_equal(cnnrt_dataset_load_dir(dir, CNNRT_SPLIT_TRAIN, 32, 32, 3, 10, &train, &e), -1);
    assert_error_mentions(&e, "28x28x1", "32x32x3");
    assert_error_mentions(&e, CNNRT_TRAIN_IMAGES, NULL);
}

static void test_bad_labels_and_counts(void **state)
{
    (void)state;
    const char *dir = tmp_path("data-bad-label");
    make_data_dir(dir, 8, 8, 12);
    cnnrt_dataset ds;
    cnnrt_err e;
    assert_int_equal(cnnrt_dataset_load_dir(dir, CNNRT_SPLIT_TRAIN, 28, 28, 1, 10, &ds, &e), -1);
    assert_error_mentions(&e, CNNRT_TRAIN_LABELS, "label 12 at index 7 is outside 0..9");

    /* Image and label counts differ. */
    char ip[600], lp[600];
    snprintf(ip, sizeof ip, "%s/%s.gz", dir, CNNRT_TRAIN_IMAGES);
    snprintf(lp, sizeof lp, "%s/%s.gz", dir, CNNRT_TEST_LABELS);
    uint8_t labels[3] = {0, 1, 2};
    assert_int_equal(cnnrt_idx_write_labels(lp, labels, 3, 1, &e), 0);
    assert_int_equal(cnnrt_dataset_load(ip, lp, 28, 28, 1, 10, &ds, &e), -1);
    assert_error_mentions(&e, "has 8 images but", "has 3 labels");
}

static void test_missing_directory_and_files(void **state)
{
    (void)state;
    cnnrt_dataset ds;
    cnnrt_err e;
    const char *nowhere = tmp_path("no-such-dir");
    assert_int_equal(cnnrt_dataset_load_dir(nowhere, CNNRT_SPLIT_TRAIN, 28, 28, 1, 10, &ds, &e), -1);
    assert_error_mentions(&e, nowhere, "not found");
    assert_error_mentions(&e, CNNRT_TRAIN_IMAGES, ".gz");

    const char *empty = tmp_path("empty-dir");
    assert_int_equal(mkdir(empty, 0755), 0);
    assert_int_equal(cnnrt_dataset_load_dir(empty, CNNRT_SPLIT_TEST, 28, 28, 1, 10, &ds, &e), -1);
    assert_error_mentions(&e, empty, "no " CNNRT_TEST_IMAGES " or " CNNRT_TEST_IMAGES ".gz");
}

/* A gzip bomb: a header promising 2 images of 4x4, then 64 MB of zeros in a 64 KB file. It
 * is stopped one byte past the promise; and an endless gzip stream through a pipe (which
 * would hang the test if it were inflated to the end) is stopped the same way. */
static void test_gzip_bomb_stopped(void **state)
{
    (void)state;
    unsigned char header[16 + 32];
    make_images(header, 2, 4, 4);
    const char *p = tmp_path("bomb.gz");
    gzFile g = gzopen(p, "wb9");
    gzwrite(g, header, sizeof header);
    unsigned char *zeros = calloc(1, 1 << 20);
    for (int i = 0; i < 64; i++)
        gzwrite(g, zeros, 1 << 20);
    gzclose(g);
    free(zeros);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_size < (1 << 20));
    cnnrt_idx_images im;
    cnnrt_err e;
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "decompresses to more than the 48 bytes its header promises");
    assert_null(im.pixels);

    const char *fifo = tmp_path("endless.gz");
    const char *head = tmp_path("bomb-header");
    write_bytes(head, header, sizeof header);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "rm -f '%s' && mkfifo '%s' && ((cat '%s' /dev/zero | gzip -1 > "
             "'%s') 2>/dev/null &)", fifo, fifo, head, fifo);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cnnrt_idx_read_images(fifo, &im, &e), -1);
    assert_error_mentions(&e, fifo, "decompresses to more than the 48 bytes");

    /* Raw: endless bytes after the data through a pipe, counted up to a point. */
    snprintf(cmd, sizeof cmd, "rm -f '%s' && mkfifo '%s' && ((cat '%s' /dev/zero > '%s') "
             "2>/dev/null &)", fifo, fifo, head, fifo);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cnnrt_idx_read_images(fifo, &im, &e), -1);
    assert_error_mentions(&e, fifo, "more than 1048576 unexpected bytes after the 2 images");

    /* A header promising 8 GB of a 64-byte file: refused without reading or allocating. */
    unsigned char big[16] = {0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 8, 0, 0, 0, 8};
    write_bytes(p, big, sizeof big);
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "promises more than");
    big[4] = 0;
    big[5] = 1;
    big[6] = big[7] = 0;   /* 65536 images of 8x8: 4 MB promised, 4 bytes there */
    g = gzopen(p, "wb");
    gzwrite(g, big, sizeof big);
    gzwrite(g, "abcd", 4);
    gzclose(g);
    assert_int_equal(cnnrt_idx_read_images(p, &im, &e), -1);
    assert_error_mentions(&e, p, "truncated: the header promises 65536 images");
}

static void test_directory_and_memory(void **state)
{
    (void)state;
    cnnrt_idx_images im;
    cnnrt_err e;
    assert_int_equal(cnnrt_idx_read_images(tmp_dir, &im, &e), -1);
    assert_error_mentions(&e, tmp_dir, "is a directory");
    uint8_t *labels;
    int64_t count;
    assert_int_equal(cnnrt_idx_read_labels(tmp_dir, &labels, &count, &e), -1);
    assert_error_mentions(&e, tmp_dir, "is a directory");

    /* The readers on bytes in memory (what a fuzzer drives). */
    unsigned char buf[16 + 3 * 2 * 2];
    size_t len = make_images(buf, 3, 2, 2);
    FILE *fp = fmemopen(buf, len, "rb");
    assert_int_equal(cnnrt_idx_read_images_from("memory", fp, &im, &e), 0);
    fclose(fp);
    assert_int_equal(im.count, 3);
    assert_memory_equal(im.pixels, buf + 16, 12);
    free(im.pixels);
    fp = fmemopen(buf, len - 1, "rb");
    assert_int_equal(cnnrt_idx_read_images_from("memory", fp, &im, &e), -1);
    fclose(fp);
    assert_error_mentions(&e, "memory: truncated", "2 complete images");
    unsigned char label_file[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 7, 9};
    fp = fmemopen(label_file, sizeof label_file, "rb");
    assert_int_equal(cnnrt_idx_read_labels_from("memory", fp, &labels, &count, &e), 0);
    fclose(fp);
    assert_int_equal(count, 2);
    assert_int_equal(labels[1], 9);
    free(labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_raw_and_gzip),
        cmocka_unit_test(test_idx4_channels),
        cmocka_unit_test(test_gzip_detected_by_content),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_wrong_dimension_count),
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_corrupt_gzip),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_load_directory),
        cmocka_unit_test(test_bad_labels_and_counts),
        cmocka_unit_test(test_missing_directory_and_files),
        cmocka_unit_test(test_gzip_bomb_stopped),
        cmocka_unit_test(test_directory_and_memory),
    };
    return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
