/* The vocabulary compiler and runtime share: how each concept is spelt in a model file and
 * which number stands for it in a weights file and in the model descriptor
 * (cnnrt_model.h). Each concept is one X-macro list; everything else (enums, name tables,
 * look-ups) is generated from it, so adding an entry is one line here.
 *
 * Codes are part of file formats and of the descriptor's ABI: never renumber an entry,
 * only append. Code 0 always means "none / unknown". */
#ifndef CNNRT_VOCAB_H
#define CNNRT_VOCAB_H

#include <string.h>

/* ==== Optimizers and losses ============================================================= */
/* (Activations have no code in any file or descriptor: their one table, with the
 * elementwise function each is, is ACTIVATIONS in compiler/frontend.c.) */

/* Optimizers: X(ID, "spelling", code). The code is what weights files store in their
 * optimizer section (docs/weights-format.md) and what cnnrt_model.train.optimizer holds.
 * What each optimizer computes and which settings it reads: compiler/optimizers.c. */
#define CNNRT_OPTIMIZERS(X)                                                               \
    X(SGD, "sgd", 1)            /* state: velocity (momentum)                         */ \
    X(ADAM, "adam", 2)          /* state: m, then v                                   */ \
    X(RMSPROP, "rmsprop", 3)    /* state: v, then the momentum velocity if momentum > 0 */

typedef enum cnnrt_optimizer {
    CNNRT_OPT_NONE = 0,   /* weights files: no optimizer section */
#define CNNRT_OPT_ENUM(id, text, code) CNNRT_OPT_##id = code,
    CNNRT_OPTIMIZERS(CNNRT_OPT_ENUM)
#undef CNNRT_OPT_ENUM
} cnnrt_optimizer;

/* Losses: X(ID, "spelling", code), the code as in cnnrt_model.train.loss. Extra spellings
 * the model file accepts for the same loss are in CNNRT_LOSS_ALIASES. */
#define CNNRT_LOSSES(X)                                                  \
    X(CATEGORICAL_CROSSENTROPY, "categorical_crossentropy", 1)          \
    X(MSE, "mean_squared_error", 2)
#define CNNRT_LOSS_ALIASES(X) X(MSE, "mse")

typedef enum cnnrt_loss {
    CNNRT_LOSS_NONE = 0,
#define CNNRT_LOSS_ENUM(id, text, code) CNNRT_LOSS_##id = code,
    CNNRT_LOSSES(CNNRT_LOSS_ENUM)
#undef CNNRT_LOSS_ENUM
} cnnrt_loss;

/* Spelling of a code, or NULL for a code this list does not have. */
static inline const char *cnnrt_optimizer_name(int code)
{
#define CNNRT_OPT_NAME(id, text, c) if (code == (c)) return text;
    CNNRT_OPTIMIZERS(CNNRT_OPT_NAME)
#undef CNNRT_OPT_NAME
    return NULL;
}

static inline const char *cnnrt_loss_name(int code)
{
#define CNNRT_LOSS_NAME(id, text, c) if (code == (c)) return text;
    CNNRT_LOSSES(CNNRT_LOSS_NAME)
#undef CNNRT_LOSS_NAME
    return NULL;
}

/* Code of a spelling (aliases included), or -1 when it is not in the list. */
static inline int cnnrt_optimizer_code(const char *text)
{
#define CNNRT_OPT_CODE(id, t, c) if (!strcmp(text, t)) return c;
    CNNRT_OPTIMIZERS(CNNRT_OPT_CODE)
#undef CNNRT_OPT_CODE
    return -1;
}

static inline int cnnrt_loss_code(const char *text)
{
#define CNNRT_LOSS_CODE(id, t, c) if (!strcmp(text, t)) return c;
    CNNRT_LOSSES(CNNRT_LOSS_CODE)
#undef CNNRT_LOSS_CODE
#define CNNRT_LOSS_ALIAS_CODE(id, t) if (!strcmp(text, t)) return CNNRT_LOSS_##id;
    CNNRT_LOSS_ALIASES(CNNRT_LOSS_ALIAS_CODE)
#undef CNNRT_LOSS_ALIAS_CODE
    return -1;
}

#endif
