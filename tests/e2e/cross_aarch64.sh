#!/usr/bin/env bash
# Cross-compiling for aarch64: `cnnc --target aarch64-linux-gnu` emits an aarch64 object,
# Debian's cross gcc links it with the runtime core into a static program, and that program,
# run by qemu-user, predicts what the host's full program predicts on the same weights:
# class, probabilities and Grad-CAM map. The tools are installed when missing
# (scripts/install-cross.sh aarch64); if they cannot be, the test fails and says so.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/embed_common.bash"
use_digits
install_cross aarch64 "the aarch64 cross toolchain or qemu-user"
command -v qemu-aarch64 > /dev/null || fail "qemu-aarch64 is missing after install-cross.sh"
enter_workdir
train_small_model

cross_build aarch64-linux-gnu arm
file arm/mnist.o | grep -q 'ARM aarch64' || fail "the object is not for aarch64: $(file arm/mnist.o)"
file arm/classify | grep -q 'ARM aarch64' || fail "the program is not for aarch64"
on_arm() { qemu-aarch64 arm/classify --gradcam "$1"; }
expect_digits on_arm 0 3
# Another method and layer, chosen at run time, as on the host.
qemu-aarch64 arm/classify --gradcam --method 2 --layer 0 digit_3.raw > arm_pp.txt
grep -q '^gradcam conv2d 28x28 (method 2):' arm_pp.txt || fail "Grad-CAM++ of conv2d: $(head -3 arm_pp.txt)"
echo "ok"
