#!/usr/bin/env bash
# Self-contained embedded builds: `cnnc -c --embed-weights FILE --no-train` puts trained
# weights into the object; examples/embed links it with the runtime core and only libc and
# libm, and predicts what the full program predicts on the same weights (class,
# probabilities, Grad-CAM map). --no-gradcam leaves Grad-CAM out (a smaller object, a clear
# refusal); the header states the arena size; bad weights and misplaced flags are errors.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/embed_common.bash"
use_digits
enter_workdir
train_small_model

cross_build host host
needed=$(readelf -d host/classify | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
[ "$needed" = "libc.so.6 libm.so.6 " ] || fail "classify needs more than libc and libm: $needed"
grep -q '#define MNIST_CAM_WS_BYTES [0-9]' host/mnist.h || fail "the header states no arena size"
grep -q 'extern const float mnist_cam_weights\[MNIST_CAM_PARAM_FLOATS\];' host/mnist.h ||
  fail "the header declares no embedded weights"
grep -q 'mnist_cam_train_step' host/mnist.h && fail "--no-train kept the training step"
nm host/mnist.o | grep -q ' R mnist_cam_weights$' || fail "the weights are not read-only data"

embedded() { host/classify --gradcam "$1"; }
expect_digits embedded 0 1 5
# Standard input works as the example's comment says.
host/classify < digit_0.raw | grep -q '^model mnist_cam: class ' || fail "classify < file failed"

# --no-gradcam: smaller, no Grad-CAM entry points, and the example says why it cannot.
cross_build host nocam --no-gradcam
grep -q 'mnist_cam_gradcam' nocam/mnist.h && fail "--no-gradcam kept Grad-CAM in the header"
[ "$(stat -c %s nocam/mnist.o)" -lt "$(stat -c %s host/mnist.o)" ] ||
  fail "--no-gradcam did not make the object smaller"
if out=$(nocam/classify --gradcam digit_0.raw 2>&1); then fail "--gradcam ran without Grad-CAM"; fi
echo "$out" | grep -q 'compiled with --no-gradcam' || fail "no clear refusal: $out"
nocam/classify digit_1.raw | grep -q "^$(sed -n 1p embedded_1.txt)\$" ||
  fail "--no-gradcam predicts another class"

# Errors: a damaged weights file, --embed-weights or --target for a linked program.
head -c 100 mnist_cam.weights > damaged.weights
if out=$("$bin/cnnc" "$src/models/mnist.cnn" -c --embed-weights damaged.weights -o d.o 2>&1); then
  fail "damaged weights were embedded"
fi
echo "$out" | grep -q 'damaged.weights' || fail "the error does not name the file: $out"
[ -e d.o ] && fail "an object was written from damaged weights"
if out=$("$bin/cnnc" "$src/models/mnist.cnn" --embed-weights mnist_cam.weights -o prog 2>&1); then
  fail "--embed-weights linked a program"
fi
echo "$out" | grep -q 'add -c' || fail "no hint to use -c: $out"
echo "ok"
