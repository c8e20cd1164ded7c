#!/usr/bin/env bash
# A batch_norm model's training entries (codegen_entry.c, emit_batch_mean) call the
# module's two batch-statistic loops, each emitted once, rather than holding a copy of
# both loop nests for every statistic: models/fashion_bn.cnn's 16 statistics had made
# train_step and train_gradients the largest optimised functions of its module.
set -euo pipefail
source "$(dirname "$0")/common.bash"
enter_workdir

"$bin/cnnc" "$src/models/fashion_bn.cnn" --emit-llvm -O0 -o bn.ll
for helper in cnnc_fill_images cnnc_moving_statistic; do
  defined=$(grep -c "^define internal void @$helper(" bn.ll || true)
  [ "$defined" = 1 ] || fail "@$helper is defined $defined times, not once"
done
# The body of one entry, from its define to the closing brace.
body() { awk -v f="@$1(" 'index($0, "define") == 1 && index($0, f) { on = 1 } on { print } on && /^}/ { exit }' bn.ll; }
for entry in fashion_bn_train_step fashion_bn_train_gradients; do
  body "$entry" > entry.ll
  [ -s entry.ll ] || fail "no $entry in the IR"
  means=$(grep -c 'call i64 @cnnrt_batch_mean(' entry.ll || true)
  fills=$(grep -c 'call void @cnnc_fill_images(' entry.ll || true)
  moving=$(grep -c 'call void @cnnc_moving_statistic(' entry.ll || true)
  [ "$means" -ge 2 ] || fail "$entry: only $means batch statistics"
  [ "$fills" = "$means" ] || fail "$entry: $means statistics but $fills calls of @cnnc_fill_images"
  [ "$moving" -ge 1 ] && [ "$moving" -le "$means" ] ||
    fail "$entry: $moving calls of @cnnc_moving_statistic for $means statistics"
  # No loop of its own left for a statistic: the entry's only loops are the gradients'
  # sum over the threads (two; before, 42 in train_step).
  loops=$(grep -cE '^loop[0-9]*:' entry.ll || true)
  [ "$loops" -le 2 ] || fail "$entry has $loops loops: a statistic's loops are inline"
  echo "$entry: $means statistics, $fills fills, $moving moving updates, $loops loop headers"
done
echo "ok"
