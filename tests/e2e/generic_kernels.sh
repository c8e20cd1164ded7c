#!/usr/bin/env bash
# Elementwise and reduce kernels are size-generic (kernels.c, cnnc_cg_kernel_key): the same
# chain on layers of different sizes -- the Grad-CAM methods' chains on every target layer,
# the training step's ReLU chains on every layer -- is one function of the module, its
# sizes passed at run time. A model with a third conv/pool block of 8 channels (its maps
# 8x8 and 4x4, sizes the other two blocks do not have) therefore has exactly as many
# elementwise and reduce functions as the model with two blocks.
set -euo pipefail
source "$(dirname "$0")/common.bash"
enter_workdir

write_blocks() {   # write_blocks FILE BLOCKS
  {
    echo "model blocks$2"
    echo "input   shape=32x32x1"
    for _ in $(seq "$2"); do
      echo "conv2d  filters=8 kernel=3 padding=same activation=relu"
      echo "max_pool2d"
    done
    echo "flatten"
    echo "dense   units=4"
    echo "softmax"
    echo "compile loss=categorical_crossentropy optimizer=adam lr=0.001 metrics=acc"
  } > "$1"
}

# count FILE.ll KIND: the kernel functions of that kind defined in the module.
count() { grep -cE "^define .*@blocks[0-9]+_k[0-9]+_$2\(" "$1" || true; }

for blocks in 2 3; do
  write_blocks "b$blocks.cnn" "$blocks"
  "$bin/cnnc" "b$blocks.cnn" --emit-llvm -o "b$blocks.ll"
  "$bin/cnnc" "b$blocks.cnn" --dump-ir=lowered > "b$blocks.lowered"
done

# The three-block model does use one chain at several sizes (else the test proves nothing):
# Grad-CAM++'s square(in0) on each of its six target layers.
sizes=$(grep -E 'elementwise \{square\(in0\)\}' b3.lowered | grep -oE 'n=[0-9]+' | sort -u | wc -l)
[ "$sizes" -ge 3 ] || fail "square(in0) at only $sizes sizes in the lowered Grad-CAM program"

for kind in elementwise reduce; do
  two=$(count b2.ll "$kind")
  three=$(count b3.ll "$kind")
  [ "$two" -ge 1 ] || fail "no $kind function in the two-block model's module"
  [ "$three" -eq "$two" ] ||
    fail "$kind functions: $two with two blocks, $three with three (one per size?)"
done
# ... and each is called from the workers at several sizes: mnist's module has far fewer
# elementwise functions than its lowered programs have elementwise kernels of distinct
# chains and sizes.
"$bin/cnnc" "$src/models/mnist.cnn" --emit-llvm -o mnist.ll
"$bin/cnnc" "$src/models/mnist.cnn" --dump-ir=lowered > mnist.lowered
sized=$(grep -oE 'elementwise \{[^}]*\}.* n=[0-9]+$' mnist.lowered |
        sed -E 's/ \((target|when)[^)]*\)//' | sort -u | wc -l)
functions=$(grep -cE '^define .*@mnist_cam_k[0-9]+_elementwise\(' mnist.ll)
[ "$functions" -lt $((sized / 2)) ] ||
  fail "mnist: $functions elementwise functions for $sized distinct chains and sizes"
echo "ok"
