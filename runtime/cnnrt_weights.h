/* Weights files: a model's trained parameters, optionally with the optimizer state and the
 * training progress needed to resume, in a documented little-endian format
 * (docs/weights-format.md):
 *
 *   magic "CNNCWGT1", format version, total file size, the model's architecture fingerprint
 *   and name, the tensors in Keras get_weights() order (name, shape, float32 data), an
 *   optional optimizer section (kind, step, state floats), the training progress (epochs
 *   done, optimizer steps done, seed, per-epoch history), and a CRC-32 of everything before.
 *
 * Files are written atomically (temporary file, fsync, rename): a crash or a full disk never
 * leaves a half-written file in the old one's place.
 *
 * Loading checks, each with its own message naming the file: a directory, not a weights file
 * (magic), unsupported version, truncated (shorter than its header says) or longer, a size
 * larger than the model's weights can take (checked before reading the rest, so /dev/zero or
 * a pipe costs a few bytes), corrupted (CRC mismatch), header flags of a newer writer, saved
 * by another model (fingerprint, naming both models), tensor names and shapes that differ
 * from the model's, and a NaN or infinity in a tensor or the optimizer state (naming the
 * tensor and the first bad index). Saving refuses non-finite values too, leaving the previous
 * file in place. */
#ifndef CNNRT_WEIGHTS_H
#define CNNRT_WEIGHTS_H

#include <stdint.h>
#include "cnnrt_common.h"
#include "cnnrt_info.h"   /* cnnrt_param_desc: name, rank, dims, offset, size */
#include "cnnrt_vocab.h"  /* optimizer codes */

#define CNNRT_WEIGHTS_MAGIC "CNNCWGT1"   /* 8 bytes, no terminating zero in the file */
#define CNNRT_WEIGHTS_VERSION 1
#define CNNRT_WEIGHTS_MAX_CALLBACK_VALUES 16

/* The optimizer section's kind is the shared vocabulary's optimizer code
 * (cnnrt_vocab.h: CNNRT_OPT_SGD = 1, CNNRT_OPT_ADAM = 2, ...; CNNRT_OPT_NONE = 0: no
 * section). A code this runtime does not know is an error, never taken for another. */

/* One epoch of training history (NaN for a metric that was not measured). */
typedef struct cnnrt_epoch_record {
    float loss, acc, val_loss, val_acc;
} cnnrt_epoch_record;

/* The contents of a weights file.
 * For saving, the caller fills it and keeps ownership of every pointer.
 * For loading, cnnrt_weights_load fills it and cnnrt_weights_free releases it. */
typedef struct cnnrt_weights {
    uint64_t fingerprint;
    char model_name[128];

    /* The tensors, in file order; offsets/sizes index `params` (in floats). */
    int num_tensors;
    cnnrt_param_desc *tensors;
    float *params;               /* param_floats floats (64-byte aligned when loaded) */
    int64_t param_floats;

    /* Optimizer state (opt_kind == CNNRT_OPT_NONE: absent, opt_state NULL), laid out like
     * the flat parameter buffer (Adam: m for every parameter, then v). */
    int opt_kind;                /* cnnrt_optimizer */
    float *opt_state;            /* opt_state_floats floats */
    int64_t opt_state_floats;
    /* Set by loading when the file had the state of another optimizer than the model's, or
     * of another size (e.g. saved with SGD, model now compiled with Adam): the state was
     * dropped (opt_kind is NONE) and this is the file's kind, so `train --resume` can say
     * so. */
    int dropped_opt_kind;

    /* Training progress, so `train --resume` continues where it stopped. */
    int64_t epochs_done;         /* completed epochs */
    int64_t steps_done;          /* optimizer updates so far (Adam's bias-correction step) */
    uint64_t seed;               /* the training seed (shuffling and dropout) */
    int64_t num_history;         /* one record per completed epoch (may be 0) */
    cnnrt_epoch_record *history;

    /* The training callbacks' state (cnnrt_callbacks.h), NaN allowed: what they remember
     * between epochs, so `train --resume` continues them. 0 values: none saved. */
    int num_callback_values;     /* 0..CNNRT_WEIGHTS_MAX_CALLBACK_VALUES */
    double callback_values[CNNRT_WEIGHTS_MAX_CALLBACK_VALUES];
    /* A second set of the tensors, laid out like params, or NULL: the best epoch's weights
     * that early stopping keeps (restore_best_weights), or, once they were restored into
     * params, the last epoch's, which resuming continues from. */
    float *other_params;
} cnnrt_weights;

/* Writes w to path atomically. Tensor data is written tensor by tensor from
 * w->params + tensors[i].offset, so the file is in tensor order whatever the buffer layout.
 * Checks that every tensor's size equals the product of its dims and lies inside
 * param_floats. */
int cnnrt_weights_save(const char *path, const cnnrt_weights *w, cnnrt_err *e);

/* What the loading program expects: its model's identity and parameter layout. */
typedef struct cnnrt_weights_expect {
    uint64_t fingerprint;
    const char *model_name;           /* for messages */
    const cnnrt_param_desc *tensors;  /* the model's tensors, in order */
    int num_tensors;
    int64_t param_floats;             /* size of the model's flat buffer */
    int opt_kind;                     /* the model's optimizer (cnnrt_optimizer) */
    int64_t opt_state_floats;         /* what the model's optimizer needs; state of another
                                         kind or size is dropped (see dropped_opt_kind) */
} cnnrt_weights_expect;

/* Reads and checks a weights file. With expect != NULL: the fingerprint must match
 * ("weights.bin was saved by model 'lenet5' (fingerprint 0x...), not 'mnist_cam'
 * (fingerprint 0x...)"), the tensors must have the expected names and shapes in order, and
 * their data is placed at the expected offsets of a param_floats buffer. With expect == NULL
 * (inspecting a file) the tensors are placed one after another in file order.
 * On failure *out is left empty (nothing to free). */
int cnnrt_weights_load(const char *path, const cnnrt_weights_expect *expect,
                       cnnrt_weights *out, cnnrt_err *e);

/* cnnrt_weights_load on bytes already in memory (len of them); `name` stands for the file in
 * messages. Same checks, same result. */
int cnnrt_weights_parse(const char *name, const void *data, size_t len,
                        const cnnrt_weights_expect *expect, cnnrt_weights *out, cnnrt_err *e);

/* Frees what cnnrt_weights_load allocated and zeroes *w. */
void cnnrt_weights_free(cnnrt_weights *w);

/* Printable name of an optimizer kind: "none", "sgd", "adam", ..., "unknown". */
const char *cnnrt_opt_kind_name(int kind);

#endif
