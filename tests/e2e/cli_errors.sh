#!/usr/bin/env bash
# Bad invocations give a clear message and a non-zero exit, and leave no file behind:
# cnnc's (missing model, unknown flag, unwritable -o, -O7, unknown CPU, -c without -o, a
# misspelt layer) and a compiled program's (no data anywhere, out-of-range options, unknown
# command, no weights); every command's --help works. Needs no data set.
set -euo pipefail
source "$(dirname "$0")/common.bash"
cnnc=$bin/cnnc

enter_workdir
model=$src/models/mnist.cnn

# expect_error STATUS FRAGMENT COMMAND...: runs COMMAND in a new empty directory; it must
# exit with STATUS ("nonzero" for any failure), print FRAGMENT, and leave the directory empty.
case_number=0
expect_error() {
  local want=$1 fragment=$2 status=0 out dir
  shift 2
  case_number=$((case_number + 1))
  dir=$tmp/case$case_number
  mkdir "$dir"
  out=$(cd "$dir" && "$@" 2>&1) || status=$?
  if [ "$status" = 0 ]; then fail "'$*' succeeded; expected an error: $out"; fi
  if [ "$want" != nonzero ] && [ "$status" != "$want" ]; then
    fail "'$*' exited with $status, expected $want: $out"
  fi
  grep -qF -- "$fragment" <<<"$out" || fail "'$*': expected '$fragment' in: $out"
  [ -z "$(ls -A "$dir")" ] || fail "'$*' left files behind: $(ls -A "$dir")"
}

# ---- cnnc ------------------------------------------------------------------------------
expect_error nonzero "cannot open 'no-such-model.cnn'" "$cnnc" no-such-model.cnn -o prog
expect_error 2 "unknown option '--frobnicate'" "$cnnc" "$model" --frobnicate -o prog
expect_error nonzero "/nonexistent-dir/prog" "$cnnc" "$model" -O0 -o /nonexistent-dir/prog
expect_error 2 "-O7: the optimisation level is 0, 1, 2 or 3" "$cnnc" "$model" -O7 -o prog
expect_error nonzero "unknown --target-cpu 'nonsense'" \
  "$cnnc" "$model" -O0 --target-cpu=nonsense -o prog
expect_error nonzero "need an output file (-o FILE)" "$cnnc" "$model" -c
expect_error 2 "no model file given" "$cnnc" -O1
# Two mistakes in a model: both reported at once, as file:line:col, with a suggestion.
cat > "$tmp/typo.cnn" <<'MODEL'
model typo
input   shape=28x28x1
conv2dd filters=4 kernel=3 activation=relu
flatten
dense   units=10 activaton=relu
MODEL
typo=("$cnnc" "$tmp/typo.cnn" -o prog)
expect_error nonzero "typo.cnn:3:1: error: unknown statement 'conv2dd'" "${typo[@]}"
expect_error nonzero "did you mean 'conv2d'?" "${typo[@]}"
expect_error nonzero "typo.cnn:5:18: error: unknown key 'activaton' for 'dense'" "${typo[@]}"
"$cnnc" --help | grep -q "^usage: cnnc MODEL.cnn" || fail "cnnc --help"

# ---- a compiled program ---------------------------------------------------------------------
# A small model with the digits' input shape builds in well under a second at -O0.
cat > "$tmp/tiny.cnn" <<'MODEL'
model tiny
input   shape=28x28x1
conv2d  filters=4 kernel=3 activation=relu
max_pool2d
flatten
dense   units=10
softmax
MODEL
"$cnnc" "$tmp/tiny.cnn" -O0 -o "$tmp/tiny" || fail "the tiny model does not compile"
prog=$tmp/tiny

# No data anywhere: the message lists every directory it looked in. (The program and the
# working directory are in $tmp, which has no data/mnist.)
export CNNC_DATA=/nowhere-for-cnnc
expect_error 1 "/nowhere-for-cnnc (\$CNNC_DATA), data/mnist, $tmp/data/mnist; pass --data DIR" \
  "$prog" train
expect_error 1 "/nowhere-for-cnnc/x: no such data directory" \
  "$prog" train --data /nowhere-for-cnnc/x

# Options out of range or malformed: usage errors (status 2) that name the option.
expect_error 2 "--epochs must be at least 0, found -1" "$prog" train --epochs -1
expect_error 2 "--batch-size must be at least 1, found -3" "$prog" train --batch-size -3
expect_error 2 "--epochs expects a whole number, not 'abc'" "$prog" train --epochs abc
expect_error 2 "--validation-split must be in [0, 0.99], found 1.5" "$prog" train --validation-split 1.5
expect_error 2 "unknown option '--epoch'" "$prog" train --epoch 3
expect_error 2 "unknown command 'fit'" "$prog" fit
expect_error 2 "unknown --method 'magic'" "$prog" gradcam --index 1 --method magic
expect_error 2 "no layer named 'nosuch'; Grad-CAM layers of tiny: conv2d, max_pooling2d" \
  "$prog" gradcam --layer nosuch
expect_error 2 "layer 'flatten' has no spatial output" "$prog" gradcam --layer flatten
# Weights that could not be saved are reported before any training.
expect_error 1 "cannot save weights there: directory /nonexistent-dir does not exist" \
  "$prog" train --weights /nonexistent-dir/x.weights
# A directory or a device as the weights file: named for what it is, before any work.
expect_error 1 "$tmp: cannot save weights there: it is a directory" "$prog" train --weights "$tmp"
expect_error 1 "/dev/null: cannot save weights there: it is not a regular file" \
  "$prog" train --weights /dev/null
expect_error 1 "$tmp: is a directory, not a weights file" "$prog" predict --index 0 --weights "$tmp"
expect_error 1 "/dev/zero: not a cnnc weights file" "$prog" predict --index 0 --weights /dev/zero
# Nothing trained yet: evaluate, predict and gradcam refuse and say how to train.
expect_error 1 "the model is untrained: there is no tiny.weights here; train it first with '$prog train'" \
  "$prog" evaluate
expect_error 1 "the model is untrained: there is no tiny.weights here" "$prog" predict --index 0
expect_error 1 "the model is untrained" "$prog" gradcam --index 0

# Every command's --help: exit 0 and its usage on standard output.
for cmd in summary train evaluate predict gradcam; do
  out=$("$prog" "$cmd" --help) || fail "$cmd --help exited with $?"
  grep -q "^Usage: $prog $cmd" <<<"$out" || fail "$cmd --help printed no usage: $out"
done
out=$("$prog" --help) || fail "--help exited with $?"
grep -q "^Usage: $prog COMMAND" <<<"$out" || fail "--help printed no usage: $out"
expect_error 2 "Usage: $prog COMMAND" "$prog"   # no command: the usage, as an error
echo "ok"
