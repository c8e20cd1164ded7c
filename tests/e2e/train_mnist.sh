#!/usr/bin/env bash
# The main journey on models/mnist.cnn with the default digits: compile, train one epoch to
# a stated accuracy, the files training leaves (weights, history CSV, chart PNG), evaluate,
# predict; same seed and threads -> the same bytes; resuming (after a finished epoch and
# after Ctrl-C in the middle of one) -> the same bytes as an uninterrupted run; a corrupt
# weights file and another model's weights are refused and left untouched.
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir
png_check() { python3 "$src/tests/e2e/png_tool.py" check "$@"; }
# at_least VALUE MIN: a float comparison
at_least() { awk -v v="$1" -v min="$2" 'BEGIN { exit !(v + 0 >= min + 0) }'; }
val_acc_of() { awk -F, 'END { print $5 }' "$1"; }
# flip_byte FILE OFFSET: replaces one byte by its complement
flip_byte() {
  local old
  old=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf '%b' "\\$(printf '%03o' $((old ^ 255)))" |
    dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# ---- compile (the user's command: default optimisation) --------------------------------
"$bin/cnnc" "$src/models/mnist.cnn" -o mnist_cam
[ -x mnist_cam ] || fail "cnnc wrote no program"

# ---- train one epoch with the model file's defaults (seed 42, batch 64, split 0.2) ------
# Measured val_acc after one epoch (2 threads): seeds 1, 2, 3, 7, 42, 100 gave 0.908,
# 0.894, 0.913, 0.915, 0.901, 0.913; test accuracy 88.9%..90.9% (seed 42: 89.65%).
# Thresholds 0.85 leave a safe margin while still failing for a model that learns badly.
out=$(./mnist_cam train --epochs 1 --threads 2)
grep -q "Training mnist_cam on 6400 images, validating on 1600" <<<"$out" ||
  fail "train did not announce the split: $out"
grep -q "Epoch 1/1.*val_acc" <<<"$out" || fail "no epoch line with val_acc: $out"
grep -q "Saved the weights to mnist_cam.weights" <<<"$out" || fail "no save message: $out"
[ -s mnist_cam.weights ] || fail "no weights file"
[ "$(head -1 mnist_cam.history.csv)" = "epoch,loss,acc,val_loss,val_acc" ] ||
  fail "history CSV header: $(head -1 mnist_cam.history.csv)"
[ "$(wc -l < mnist_cam.history.csv)" = 2 ] || fail "history CSV should have one epoch"
val_acc=$(val_acc_of mnist_cam.history.csv)
at_least "$val_acc" 0.85 || fail "val_acc after one epoch is $val_acc, expected >= 0.85"
read -r _ width height < <(png_check mnist_cam.history.png) || fail "the chart is not a valid PNG"
[ "$width" -gt "$height" ] && [ "$height" -ge 100 ] ||
  fail "chart size ${width}x$height is not two charts side by side"
compgen -G '*.tmp.*' >/dev/null && fail "a temporary file was left behind: $(ls)"

# ---- evaluate: test accuracy and a confusion matrix that adds up ------------------------
out=$(./mnist_cam evaluate --threads 2)
grep -q "^Weights: mnist_cam.weights" <<<"$out" || fail "evaluate did not use the weights"
test_acc=$(echo "$out" | sed -n 's/^Test accuracy: \([0-9.]*\)%.*/\1/p')
[ -n "$test_acc" ] || fail "no test accuracy printed: $out"
at_least "$test_acc" 85 || fail "test accuracy $test_acc%, expected >= 85%"
echo "one epoch: val_acc $val_acc, test accuracy $test_acc%"
grep -q "^Confusion matrix" <<<"$out" || fail "no confusion matrix: $out"
# The 10x10 matrix counts every test image once; its diagonal counts the right answers.
read -r total diagonal < <(echo "$out" | awk '
  /^Confusion matrix/ { inside = 1; next }
  inside && NF == 12 && $1 ~ /^[0-9]$/ {
    for (c = 2; c <= 11; c++) { v = ($c == ".") ? 0 : $c; sum += v; if (c - 2 == $1) diag += v }
    rows++
  }
  END { print (rows == 10 ? sum : -1), diag }')
[ "$total" = 2000 ] || fail "the confusion matrix counts $total images, not 2000"
right=$(echo "$out" | sed -n 's/^Test accuracy: .*(\([0-9]*\) right.*/\1/p')
[ "$diagonal" = "$right" ] || fail "diagonal $diagonal != $right right answers"

# ---- predict one test image ---------------------------------------------------------------
out=$(./mnist_cam predict --data "$data" --index 3 --threads 2)
grep -Eq "^test image 3: predicted [0-9] \([0-9.]+%\), true label [0-9]" <<<"$out" ||
  fail "predict printed no class: $out"
[ "$(grep -c '^ *[0-9] *[0-9.]*% |' <<<"$out")" = 10 ] ||
  fail "predict should list 10 class probabilities: $out"

# ---- same seed and thread count: the same bytes; another thread count still trains -------
./mnist_cam train --epochs 1 --threads 2 --quiet --weights again.weights
cmp -s mnist_cam.weights again.weights || fail "two runs with seed 42 and 2 threads differ"
cmp -s mnist_cam.history.csv again.history.csv || fail "the two runs' histories differ"
./mnist_cam train --epochs 1 --threads 1 --quiet --weights one_thread.weights
val_acc=$(val_acc_of one_thread.history.csv)
at_least "$val_acc" 0.85 || fail "with 1 thread val_acc is $val_acc, expected >= 0.85"

# ---- resume: --epochs is the total, so 1 epoch + '--resume --epochs 2' == 2 epochs ---------
./mnist_cam train --epochs 2 --threads 2 --quiet --weights two.weights
[ "$(wc -l < two.history.csv)" = 3 ] || fail "a 2-epoch history should have 2 rows"
cp mnist_cam.weights resumed.weights
out=$(./mnist_cam train --resume --epochs 2 --threads 2 --weights resumed.weights)
grep -q "Resuming from resumed.weights after epoch 1" <<<"$out" || fail "no resume note: $out"
grep -q "Epoch 1/2" <<<"$out" && fail "resume trained epoch 1 again: $out"
cmp -s two.weights resumed.weights || fail "1 epoch + resume to 2 differs from 2 epochs"
cmp -s two.history.csv resumed.history.csv || fail "resumed history differs"
cmp -s two.history.png resumed.history.png || fail "resumed chart differs"

# Nothing left to do is an error that names the file and keeps it.
cp two.weights done.weights
if out=$(./mnist_cam train --resume --epochs 2 --weights done.weights 2>&1); then
  fail "resuming a finished run succeeded"
fi
grep -q "done.weights has already been trained for 2 epochs" <<<"$out" ||
  fail "unclear message for a finished run: $out"
cmp -s two.weights done.weights || fail "a refused resume changed the file"

# Ctrl-C in the middle of the epoch: the program saves where it stopped, and resuming
# finishes the same run. The signal is sent once the program catches SIGINT (it does so
# only while training: bit 2 of SigCgt in /proc), plus a moment to be inside the epoch;
# wherever it lands, even after the end, the final bytes must be the uninterrupted run's.
stop_and_resume INT ./mnist_cam stopped.weights stopped.out --epochs 1 --threads 2
cmp -s mnist_cam.weights stopped.weights || fail "Ctrl-C + resume differs from an uninterrupted run"
cmp -s mnist_cam.history.csv stopped.history.csv || fail "Ctrl-C + resume: the history differs"

# ---- a corrupt weights file: refused, named, left byte-identical --------------------------
cp mnist_cam.weights corrupt.weights
flip_byte corrupt.weights 4000
cmp -s mnist_cam.weights corrupt.weights && fail "flipping a byte changed nothing"
cp corrupt.weights corrupt.copy
if out=$(./mnist_cam train --resume --epochs 2 --threads 2 --weights corrupt.weights 2>&1); then
  fail "--resume accepted a corrupt weights file"
fi
grep -q "corrupt.weights" <<<"$out" || fail "the error does not name the file: $out"
grep -q "CRC" <<<"$out" || fail "the error does not say the checksum is wrong: $out"
cmp -s corrupt.weights corrupt.copy || fail "the corrupt weights file was modified"
[ -e corrupt.history.csv ] && fail "a failed resume wrote a history"
if out=$(./mnist_cam evaluate --weights corrupt.weights 2>&1); then
  fail "evaluate accepted a corrupt weights file"
fi
grep -q "corrupt.weights" <<<"$out" || fail "evaluate's error does not name the file: $out"

# A truncated copy (an interrupted cp) is refused the same way.
head -c 100000 mnist_cam.weights > truncated.weights
cp truncated.weights truncated.copy
if out=$(./mnist_cam train --resume --epochs 2 --threads 2 --weights truncated.weights 2>&1); then
  fail "--resume accepted a truncated weights file"
fi
grep -q "truncated.weights: truncated" <<<"$out" || fail "unclear error for a truncated file: $out"
cmp -s truncated.weights truncated.copy || fail "the truncated weights file was modified"

# ---- another model's weights: refused with both models named ------------------------------
"$bin/cnnc" "$src/models/gap.cnn" -O1 -o gap_prog
./gap_prog train --epochs 1 --threads 2 --quiet --weights gap.weights
cp gap.weights gap.copy
for cmd in "evaluate --weights gap.weights" "train --resume --epochs 2 --weights gap.weights"; do
  # shellcheck disable=SC2086
  if out=$(./mnist_cam $cmd 2>&1); then
    fail "mnist_cam $cmd accepted the weights of mnist_gap"
  fi
  grep -q "gap.weights" <<<"$out" || fail "'$cmd': the error does not name the file: $out"
  grep -q "mnist_gap" <<<"$out" && grep -q "mnist_cam" <<<"$out" ||
    fail "'$cmd': the error does not name both models: $out"
done
cmp -s gap.weights gap.copy || fail "a refused weights file was modified"
compgen -G '*.tmp.*' >/dev/null && fail "a temporary file was left behind: $(ls)"
echo "ok"
