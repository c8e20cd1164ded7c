#!/usr/bin/env bash
# Every model in models/: `cnnc --summary` works, it compiles (-O1) into a program whose
# summary prints the right number of parameters (Keras's figures), and the program trains
# one epoch on the default digits (models/shapes.cnn: on a coloured-shapes picture folder)
# without NaN, better than chance, and evaluates.
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir

# Total trainable parameters, as Keras's model.summary() reports them for the same layers.
declare -A expected_params=(
  [mnist]="50,186"
  [keras_mnist_convnet]="34,826"
  [lenet5]="61,706"
  [gap]="23,946"
  [shapes]="20,483"
  [fashion_bn]="431,658"
)
# Models whose input is not a digit read a picture folder made for them.
declare -A data_dirs=([shapes]=shapes-set)
"$bin/cnnc-pictures" shapes shapes-set --count 300 >/dev/null
# After one epoch (seed 42, 2 threads) the measured val_acc was 0.901 (mnist), 0.874
# (keras_mnist_convnet), 0.879 (lenet5) and 0.375 (gap, whose global-average-pooling head
# learns slowly); fashion_bn (batch_norm, momentum 0.9): 0.905 on 1 thread, while with
# Keras's momentum 0.99 its moving statistics would still be far from the data's after these
# 112 steps (0.11: docs/extending.md, BatchNormalization). 0.2 is twice chance: it catches
# a model that does not learn at all.
min_val_acc=0.2

checked=0
for model in "$src"/models/*.cnn; do
  name=$(basename "$model" .cnn)
  want=${expected_params[$name]:-}
  [ -n "$want" ] || fail "models/$name.cnn is new: add its parameter count to this test"

  out=$("$bin/cnnc" "$model" --summary) || fail "cnnc --summary failed on $name"
  grep -q "Total params: $want " <<<"$out" || fail "cnnc --summary of $name: expected $want: $out"

  "$bin/cnnc" "$model" -O1 -o "$name" || fail "$name does not compile at -O1"
  out=$("./$name" summary) || fail "$name summary failed"
  grep -q "^Total params: $want$" <<<"$out" || fail "$name summary: expected $want params: $out"

  data=()
  [ -z "${data_dirs[$name]:-}" ] || data=(--data "${data_dirs[$name]}")
  "./$name" train --epochs 1 --threads 2 --quiet --weights "$name.weights" "${data[@]}" ||
    fail "$name did not train"
  # epoch,loss,acc,val_loss,val_acc: every figure a finite number
  row=$(sed -n 2p "$name.history.csv")
  awk -F, -v min="$min_val_acc" '
    NF != 5 { exit 1 }
    { for (i = 2; i <= 5; i++) if ($i !~ /^[0-9]+\.[0-9]+$/) exit 1 }
    $5 + 0 < min + 0 { exit 1 }' <<<"$row" ||
    fail "$name after one epoch: '$row' (expected finite figures and val_acc >= $min_val_acc)"

  out=$("./$name" evaluate --weights "$name.weights" --threads 2 "${data[@]}") ||
    fail "$name evaluate failed"
  acc=$(sed -n 's/^Test accuracy: \([0-9.]*\)%.*/\1/p' <<<"$out")
  awk -v a="$acc" -v min="$min_val_acc" 'BEGIN { exit !(a != "" && a / 100 >= min) }' ||
    fail "$name test accuracy '$acc%' (expected >= $min_val_acc)"
  echo "$name: $want params, after one epoch $row, test accuracy $acc%"
  checked=$((checked + 1))
done
[ "$checked" -ge 4 ] || fail "only $checked models found in $src/models"
echo "ok"
