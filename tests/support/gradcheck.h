/* Finite-difference gradient checks through the reference interpreter (as KANN's
 * kad_check_grad): the parameter gradients a training graph computes (its PARAM_GRAD
 * outputs, for one image) are compared with central differences of its LOSS output,
 *   (L(p + h e_i) - L(p - h e_i)) / 2h,
 * with the same dropout mask in every evaluation (same seed, same image index).
 *
 * The interpreter stores values in float (accumulating in double), so a central
 * difference carries an absolute error of roughly 1e-7 * |L| / h; the tolerance is
 * |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|). The directional check
 * (all parameters moved at once along a random +-1 direction) has a far larger signal and
 * is compared with a tight relative tolerance. */
#ifndef CNNC_GRADCHECK_H
#define CNNC_GRADCHECK_H

#include <stdint.h>
#include "graph.h"

typedef struct cnnc_gradcheck {
    /* settings (cnnc_gradcheck_defaults) */
    double h;              /* finite-difference step, 1e-3 */
    double atol, rtol;     /* tolerance, 2e-3 and 2e-2 */
    int max_per_param;     /* elements checked per parameter, spread evenly; 0 = all */
    int refine;            /* kinks: a weight of a real model moves hundreds of ReLU
                            * inputs, and one crossing 0 within h spoils the central
                            * difference. With refine > 0 a disagreeing element is retried
                            * with h / 3.3, h / 10, ... (refine times) and the one-sided
                            * differences count too (one side of a kink is clean); a wrong
                            * rule still fails at every step. 0 (central only) by default. */
    uint64_t seed;         /* dropout seed of the checked run */
    int label;             /* the image's class */
    /* A batch (batch_norm couples the images of a batch): with batch > 1, `image` holds
     * batch images, labels[b] (or label for every image when NULL) their classes, and
     * the loss checked is the sum of the images' losses. 0 or 1: one image. */
    int batch;
    const int32_t *labels;
    /* results */
    int checked, failed;
    double worst_excess;   /* largest |a - n| - tolerance seen (<= 0: all passed) */
    char worst[256];       /* "conv2d/kernel[5]: analytic 0.1234 numeric 0.1301" */
} cnnc_gradcheck;

void cnnc_gradcheck_defaults(cnnc_gradcheck *gc);

/* Checks every (or max_per_param evenly spaced) element of every parameter of a training
 * graph on one image. Returns 0 when all agree, 1 when some do not (see gc->worst), -1
 * when the graph cannot be run (reported through d). params is not modified. */
int cnnc_gradcheck_train(const cnnc_graph *train, const float *params, const float *image,
                         cnnc_gradcheck *gc, cnnc_diag *d);

/* The directional check: with a +-1 direction v drawn from dir_seed, returns in *analytic
 * the gradient . v and in *numeric (L(p + h v) - L(p - h v)) / 2h. Returns 0 or -1. */
int cnnc_gradcheck_direction(const cnnc_graph *train, const float *params, const float *image,
                             const cnnc_gradcheck *gc, uint64_t dir_seed, double *analytic,
                             double *numeric, cnnc_diag *d);

/* The loss of the training graph on one image at these parameters (helper for tests). */
int cnnc_gradcheck_loss(const cnnc_graph *train, const float *params, const float *image,
                        const cnnc_gradcheck *gc, double *loss, cnnc_diag *d);

#endif
