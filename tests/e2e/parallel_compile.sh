#!/usr/bin/env bash
# cnnc -o compiles a program's module in parts on threads (-j, default one per CPU): the
# programs built with -j1, -j2 and -j3 compute the same bytes -- the weights after a
# training epoch, the predictions, every Grad-CAM method's picture and guided
# backpropagation -- and no part's temporary object is left behind.
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir
digit_subset digits 256 64
export CNNC_DATA=$tmp/digits

cat > small.cnn <<'MODEL'
model small
input shape=28x28x1
conv2d filters=8 kernel=3 activation=relu
max_pool2d
conv2d filters=8 kernel=3 activation=relu
flatten
dropout rate=0.25
dense units=10
softmax
compile loss=categorical_crossentropy optimizer=adam metrics=acc
fit batch_size=32 validation_split=0.25
MODEL

for j in 1 2 3; do
  "$bin/cnnc" small.cnn -j$j -o small_j$j
  ./small_j$j train --epochs 1 --threads 2 --quiet --weights j$j.weights
  for i in 0 1 2 3 4 5 6 7; do
    ./small_j$j predict --index $i --format csv --weights j$j.weights --threads 2
  done > predict_j$j.txt
  for method in gradcam guided layercam; do
    ./small_j$j gradcam --index 3 --method $method --weights j$j.weights \
      --out cam_${method}_j$j.png --threads 2 > /dev/null
  done
done
ls | grep -q 'cnnc-.*\.o$' && fail "a temporary object file was left behind"
for j in 2 3; do
  cmp -s j1.weights j$j.weights || fail "-j$j trained other weights than -j1"
  cmp -s predict_j1.txt predict_j$j.txt || fail "-j$j predicts otherwise than -j1"
  for method in gradcam guided layercam; do
    cmp -s cam_${method}_j1.png cam_${method}_j$j.png ||
      fail "-j$j draws another $method picture than -j1"
  done
done
if out=$("$bin/cnnc" small.cnn -j0 -o never 2>&1); then fail "-j0 was accepted"; fi
grep -q "number of threads" <<<"$out" || fail "-j0: unclear error: $out"
echo "ok"
