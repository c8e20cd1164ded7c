/* Image data sets: reading MNIST-style IDX files or folders of pictures (one subfolder per
 * class, as Keras's image_dataset_from_directory) and feeding them to training in batches.
 *
 * IDX is the format of the MNIST files (http://yann.lecun.com/exdb/mnist/): a big-endian
 * header (two zero bytes, a type byte -- 0x08 for unsigned bytes -- and the number of
 * dimensions), one big-endian uint32 per dimension, then the data. Images are idx3
 * (count x rows x cols; an idx4 file count x rows x cols x channels is also accepted for
 * colour data), labels are idx1 (count). Any file may be gzip-compressed; compression is
 * detected by its first two bytes (1f 8b), never by its name.
 *
 * Images stay uint8 in memory (60,000 MNIST digits are 47 MB, not 188 MB of floats) and are
 * converted to floats in [0,1] one batch at a time (cnnrt_dataset_batch).
 *
 * Every function that can fail returns -1 (or NULL) and fills a cnnrt_err with one sentence
 * naming the file and the problem. */
#ifndef CNNRT_DATA_H
#define CNNRT_DATA_H

#include <stdint.h>
#include "cnnrt_common.h"

/* File names looked for in a data directory, each with or without ".gz". */
#define CNNRT_TRAIN_IMAGES "train-images-idx3-ubyte"
#define CNNRT_TRAIN_LABELS "train-labels-idx1-ubyte"
#define CNNRT_TEST_IMAGES "t10k-images-idx3-ubyte"
#define CNNRT_TEST_LABELS "t10k-labels-idx1-ubyte"

/* ---- Raw IDX files -------------------------------------------------------------------- */

/* Pixels of an image file, row-major: image i, row y, column x, channel c is
 * pixels[((i * rows + y) * cols + x) * channels + c]. */
typedef struct cnnrt_idx_images {
    int64_t count, rows, cols, channels;   /* channels is 1 for idx3 files */
    uint8_t *pixels;                       /* count * rows * cols * channels; free() */
} cnnrt_idx_images;

/* Reads an unsigned-byte IDX image file (idx3, or idx4 with channels last), raw or gzip.
 * Errors: cannot open, a directory, corrupt gzip stream, wrong magic (not an IDX file / not
 * unsigned bytes), wrong number of dimensions, data shorter or longer than the header says
 * (raw or once inflated). */
int cnnrt_idx_read_images(const char *path, cnnrt_idx_images *out, cnnrt_err *e);

/* Reads an unsigned-byte idx1 label file, raw or gzip. *labels is malloc'ed (free()).
 * Does not check the label range (cnnrt_dataset_load does, knowing the class count). */
int cnnrt_idx_read_labels(const char *path, uint8_t **labels, int64_t *count, cnnrt_err *e);

/* The same from an open stream (a file, a pipe, fmemopen'ed bytes); `name` stands for it in
 * messages. Neither reads more than the header promises plus one byte (a gzip bomb is
 * stopped with "NAME: decompresses to more than the N bytes its header promises"). */
int cnnrt_idx_read_images_from(const char *name, FILE *fp, cnnrt_idx_images *out,
                               cnnrt_err *e);
int cnnrt_idx_read_labels_from(const char *name, FILE *fp, uint8_t **labels, int64_t *count,
                               cnnrt_err *e);

/* Writes IDX files (atomically), gzip-compressed when gzip != 0. channels == 1 writes an
 * idx3 file, otherwise idx4. Used by tests and tools that convert data sets. */
int cnnrt_idx_write_images(const char *path, const uint8_t *pixels, int64_t count,
                           int64_t rows, int64_t cols, int64_t channels, int gzip,
                           cnnrt_err *e);
int cnnrt_idx_write_labels(const char *path, const uint8_t *labels, int64_t count, int gzip,
                           cnnrt_err *e);

/* ---- Data sets -------------------------------------------------------------------------- */

/* Images with their labels, checked against the model's input size and class count.
 * A data set either owns its arrays or is a view into another one (cnnrt_dataset_split);
 * cnnrt_dataset_free only frees what it owns, so free views before their parent. */
typedef struct cnnrt_dataset {
    int64_t count;
    int64_t h, w, c;          /* one image: h x w x c bytes, NHWC */
    const uint8_t *images;    /* count * h * w * c */
    const uint8_t *labels;    /* count, each in 0..num_classes-1 */
    int owns_memory;
    char images_path[1024];   /* for messages */
    /* Class names, label order: the subfolder names of a picture folder, or the lines of
     * classes.txt beside IDX files; NULL (and 0) when the data has none. */
    char **class_names;
    int64_t num_class_names;
} cnnrt_dataset;

typedef enum { CNNRT_SPLIT_TRAIN = 0, CNNRT_SPLIT_TEST = 1 } cnnrt_split;

/* Loads an image file and a label file (explicit paths), and checks: same count in both,
 * labels in 0..num_classes-1 (the message names the first bad label and its index), image
 * size equal to h x w x c (the model's input; "images are 32x32x3, the model expects
 * 28x28x1"). */
int cnnrt_dataset_load(const char *images_path, const char *labels_path, int64_t h,
                       int64_t w, int64_t c, int64_t num_classes, cnnrt_dataset *out,
                       cnnrt_err *e);

/* Loads the training or test pair from a directory holding the standard file names
 * (CNNRT_TRAIN_IMAGES etc.), each raw or with ".gz" (the raw file wins when both exist).
 * A missing file is reported with every name that was looked for. When the directory also
 * holds CNNRT_CLASS_NAMES_FILE, its names become the data set's class names (there must be
 * num_classes of them). */
int cnnrt_dataset_load_dir(const char *dir, cnnrt_split split, int64_t h, int64_t w,
                           int64_t c, int64_t num_classes, cnnrt_dataset *out, cnnrt_err *e);

/* Finds the file a directory provides for `base` (e.g. CNNRT_TRAIN_IMAGES): dir/base or
 * dir/base.gz, written to path. Returns -1 with a message listing both names if neither
 * exists. */
int cnnrt_dataset_find_file(const char *dir, const char *base, char *path, size_t path_size,
                            cnnrt_err *e);

void cnnrt_dataset_free(cnnrt_dataset *ds);

/* ---- Class names ------------------------------------------------------------------------ */

/* The names file beside IDX data (and beside trained weights): one class name a line, in
 * label order, UTF-8; trailing blanks and a final newline are ignored. */
#define CNNRT_CLASS_NAMES_FILE "classes.txt"
/* Longest class name kept (longer ones are an error naming the line). */
#define CNNRT_CLASS_NAME_MAX 200

/* Reads a names file: *names is an array of *count malloc'ed strings (free with
 * cnnrt_class_names_free). Errors: cannot open, an empty line, a name longer than
 * CNNRT_CLASS_NAME_MAX, a control character, more than 65536 lines, no names at all. */
int cnnrt_class_names_read(const char *path, char ***names, int64_t *count, cnnrt_err *e);
/* Writes names atomically, one a line. */
int cnnrt_class_names_write(const char *path, char *const *names, int64_t count,
                            cnnrt_err *e);
void cnnrt_class_names_free(char **names, int64_t count);

/* ---- Picture folders -------------------------------------------------------------------- */

/* A data set as Keras's image_dataset_from_directory reads it: one subfolder per class,
 * class names (and labels 0, 1, ...) from the subfolder names in byte order (what Python's
 * sorted() gives), every picture in a class folder and its subfolders, in path order.
 *
 *   - Pictures are recognised by content (PNG, JPEG, GIF, BMP: cnnrt_picture_read), not by
 *     name. Files that are not pictures are ignored (README, notes.txt), unless their name
 *     says they are one (cat.jpg holding text), which makes them bad pictures. Names
 *     starting with '.' (.DS_Store, macOS's ._cat.jpg, .ipynb_checkpoints) are skipped, a
 *     deliberate difference from Keras, which would make .ipynb_checkpoints a class.
 *   - Each picture is decoded with its alpha channel dropped (as TensorFlow's
 *     decode_image(channels=3)), converted to c channels (RGB to gray by ITU-R 601 luma,
 *     gray to RGB by repetition) and resized to h x w with half-pixel bilinear
 *     interpolation without antialiasing (tf.image.resize's default), then rounded to 8 bits
 *     (Keras keeps the resized floats: the two differ by at most 0.5/255 per value).
 *   - shuffle: the pictures are put in the order of cnnrt_shuffle_order(count, seed, -1)
 *     before anything else, as image_dataset_from_directory(shuffle=True, seed=...) shuffles
 *     the file list before validation_split cuts it; else they stay in (class, path) order.
 *   - Links, as Keras documents its default follow_links=False: a symbolic link to a folder
 *     is a class folder at the top (Keras lists classes with isdir, which follows links),
 *     but inside a class folder it is neither visited nor a file: left out, never an error
 *     (so no link loop can be walked). Only regular files are read (cnnrt_open_regular): a
 *     named pipe, socket or device, also behind a link, is never opened; it is ignored like
 *     any file that is not a picture, or is a bad picture when named like one.
 *   - A picture that cannot be read (corrupt, truncated, too large, a dangling link, a link
 *     loop) stops the load with its message (the first in path order, with the count of
 *     others), or with skip_bad is left out, reported on `notes` and counted in *skipped.
 *   - Decoding runs on `threads` threads (0: one per CPU); memory is the data set's own
 *     h*w*c bytes per picture plus, per thread, one decoded picture at a time.
 *   - While reading, a progress bar is drawn on `progress` when it is a terminal.
 * A class folder without pictures is kept (its label exists) and noted on `notes`; a folder
 * without class folders, or without any picture, is an error. */
typedef struct cnnrt_folder_options {
    int64_t h, w, c;          /* the model's input; c is 1 or 3 */
    int64_t num_classes;      /* the model's class count, checked; 0: not checked */
    int threads;
    int skip_bad;
    int shuffle;
    uint64_t seed;
    FILE *progress;           /* NULL: no progress bar */
    FILE *notes;              /* NULL: no notes */
} cnnrt_folder_options;

/* Every file under dir, recursively, in the order cnnrt_folder_load reads a class folder
 * (names starting with '.' skipped). *paths: *count malloc'ed paths "dir/..." in a malloc'ed
 * array (free each, then the array). */
int cnnrt_folder_list_files(const char *dir, char ***paths, int64_t *count, cnnrt_err *e);

/* 1 if dir holds at least one subfolder whose name does not start with '.', else 0. */
int cnnrt_folder_has_classes(const char *dir);

/* Reads a picture folder (see above) into a data set that owns its memory. skipped (may be
 * NULL) receives the number of bad pictures left out. */
int cnnrt_folder_load(const char *dir, const cnnrt_folder_options *o, cnnrt_dataset *out,
                      int64_t *skipped, cnnrt_err *e);

/* Keras's validation_split: split_at = floor(count * (1 - fraction)); train is
 * [0, split_at), validation is [split_at, count) -- the LAST fraction, taken before any
 * shuffling. Both results are views into `all`. fraction must be in [0, 1); 0 gives an
 * empty validation set. It is an error when either part would be empty while fraction > 0
 * (e.g. 3 images and fraction 0.1). */
int cnnrt_dataset_split(const cnnrt_dataset *all, double fraction, cnnrt_dataset *train,
                        cnnrt_dataset *val, cnnrt_err *e);

/* The order in which epoch `epoch` visits n images: a Fisher-Yates shuffle of 0..n-1 driven
 * by a SplitMix64 generator seeded from (seed, epoch). Deterministic: the same seed and epoch
 * always give the same order, on every machine. order has room for n entries. */
void cnnrt_shuffle_order(int64_t n, uint64_t seed, int64_t epoch, int64_t *order);

/* Number of batches of batch_size covering n images; the last one may be short. */
int64_t cnnrt_batch_count(int64_t n, int64_t batch_size);

/* Fills batch number `batch` (0-based) of batch_size images, visiting images in `order`
 * (NULL = 0, 1, 2, ...): x gets the pixels as floats x/255 in NHWC (batch_size * h*w*c
 * floats of room), labels gets the int32 labels (labels may be NULL). Returns the number of
 * images in this batch: batch_size, fewer for the last batch, 0 past the end. */
int64_t cnnrt_dataset_batch(const cnnrt_dataset *ds, const int64_t *order, int64_t batch,
                            int64_t batch_size, float *x, int32_t *labels);

/* Converts images first..first+count-1 (in stored order) to floats x/255, NHWC. */
void cnnrt_dataset_to_float(const cnnrt_dataset *ds, int64_t first, int64_t count, float *x);

#endif
