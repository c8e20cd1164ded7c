/* The words the compiler and the runtime share: each concept is listed once, here, with
 * its spelling (as typed on the command line and written in model files), its numeric
 * code (as passed across the model ABI and stored in files) and a one-line description.
 * The compiler's tables (compiler/cam_methods.c) and the runtime's option parsing, help
 * and captions all read these lists; nothing else spells or numbers them.
 *
 * Two families of lists, each in its own section below:
 *   - Grad-CAM methods and score modes: X(ID, code, "spelling", "description"), codes
 *     0, 1, 2, ... in order (they index tables; they cross the model ABI as run-time
 *     arguments). To add a word, add one line at the end of its list; to add a list, copy
 *     the pattern of CNNRT_CAM_METHODS (the list, its enum, its COUNT, a cnnrt_vocab_*
 *     accessor).
 *   - Optimizers and losses: X(ID, "spelling", code). Their codes are part of file
 *     formats (weights files) and of the descriptor (cnnrt_model.train): never renumber
 *     an entry, only append; code 0 means "none / unknown". */
#ifndef CNNRT_VOCAB_H
#define CNNRT_VOCAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- Grad-CAM methods -------------------------------------------------------------------
 * What each computes from the target layer's activations A [H,W,C] and the gradient dA of
 * the class score (compiler/cam_methods.c builds them; the raw map is then ReLU'd and
 * divided by its maximum). */
#define CNNRT_CAM_METHODS(X)                                                                 \
    X(GRADCAM, 0, "gradcam",                                                                 \
      "Grad-CAM (Selvaraju et al.): channel weights = dA averaged over the map")             \
    X(HIRESCAM, 1, "hirescam",                                                               \
      "HiResCAM (Draelos & Carin): gradient x activation, summed over channels")             \
    X(GRADCAM_PLUS_PLUS, 2, "gradcam++",                                                     \
      "Grad-CAM++ (Chattopadhyay et al.): weights from powers 2 and 3 of dA")  \
    X(GUIDED, 3, "guided",                                                                   \
      "Guided Grad-CAM: guided backpropagation times the HiResCAM map")                      \
    X(LAYERCAM, 4, "layercam",                                                               \
      "LayerCAM (Jiang et al.): positive gradient x activation, summed over channels")       \
    X(XGRADCAM, 5, "xgradcam",                                                               \
      "XGrad-CAM (Fu et al.): weights = sum(A dA) / sum(A) per channel")

/* ---- Grad-CAM score modes: which class score the gradient is taken of. */
#define CNNRT_SCORE_MODES(X)                                                                 \
    X(LOGIT, 0, "logit", "the class's logit, before softmax (today's keras.io recipe)")      \
    X(SOFTMAX, 1, "softmax", "the class's softmax probability (the original tutorial)")

/* ---- the enums ------------------------------------------------------------------------ */

#define CNNRT_VOCAB_ENUM_CAM(id, code, spelling, help) CNNRT_CAM_##id = code,
#define CNNRT_VOCAB_ENUM_SCORE(id, code, spelling, help) CNNRT_SCORE_##id = code,
#define CNNRT_VOCAB_PLUS_ONE(id, code, spelling, help) +1

typedef enum cnnrt_cam_method { CNNRT_CAM_METHODS(CNNRT_VOCAB_ENUM_CAM) } cnnrt_cam_method;
enum { CNNRT_CAM_METHOD_COUNT = 0 CNNRT_CAM_METHODS(CNNRT_VOCAB_PLUS_ONE) };

typedef enum cnnrt_score_mode { CNNRT_SCORE_MODES(CNNRT_VOCAB_ENUM_SCORE) } cnnrt_score_mode;
enum { CNNRT_SCORE_MODE_COUNT = 0 CNNRT_SCORE_MODES(CNNRT_VOCAB_PLUS_ONE) };

/* ---- looking words up ----------------------------------------------------------------- */

typedef struct cnnrt_vocab_word {
    int code;
    const char *spelling;
    const char *help;
} cnnrt_vocab_word;

/* One list of words, in code order. */
typedef struct cnnrt_vocab {
    const char *what;              /* "Grad-CAM method", for messages */
    const cnnrt_vocab_word *words;
    int count;
} cnnrt_vocab;

#define CNNRT_VOCAB_WORD(id, code, spelling, help) {code, spelling, help},

static inline cnnrt_vocab cnnrt_vocab_cam_methods(void)
{
    static const cnnrt_vocab_word words[] = {CNNRT_CAM_METHODS(CNNRT_VOCAB_WORD)};
    return (cnnrt_vocab){"Grad-CAM method", words, CNNRT_CAM_METHOD_COUNT};
}

static inline cnnrt_vocab cnnrt_vocab_score_modes(void)
{
    static const cnnrt_vocab_word words[] = {CNNRT_SCORE_MODES(CNNRT_VOCAB_WORD)};
    return (cnnrt_vocab){"score", words, CNNRT_SCORE_MODE_COUNT};
}

/* The code of a spelling, or -1. */
static inline int cnnrt_vocab_code(cnnrt_vocab v, const char *spelling)
{
    for (int i = 0; spelling && i < v.count; i++)
        if (!strcmp(v.words[i].spelling, spelling))
            return v.words[i].code;
    return -1;
}

/* The spelling of a code, or "?" for a code outside the list. */
static inline const char *cnnrt_vocab_spelling(cnnrt_vocab v, int64_t code)
{
    return code >= 0 && code < v.count ? v.words[code].spelling : "?";
}

static inline const char *cnnrt_vocab_help(cnnrt_vocab v, int64_t code)
{
    return code >= 0 && code < v.count ? v.words[code].help : "?";
}

/* "a, b or c" (every spelling, joined with sep and the last with last_sep), for help
 * texts and "choose ..." messages. Truncated to size; returns buf. */
static inline char *cnnrt_vocab_list(cnnrt_vocab v, const char *sep, const char *last_sep,
                                     char *buf, size_t size)
{
    size_t used = 0;
    if (size)
        buf[0] = '\0';
    for (int i = 0; i < v.count && used < size; i++) {
        const char *join = i == 0 ? "" : i + 1 == v.count ? last_sep : sep;
        int n = snprintf(buf + used, size - used, "%s%s", join, v.words[i].spelling);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}

static inline const char *cnnrt_cam_method_name(int64_t code)
{
    return cnnrt_vocab_spelling(cnnrt_vocab_cam_methods(), code);
}

static inline const char *cnnrt_score_mode_name(int64_t code)
{
    return cnnrt_vocab_spelling(cnnrt_vocab_score_modes(), code);
}

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
