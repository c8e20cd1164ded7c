#!/usr/bin/env bash
# The training settings have one set of limits (runtime/cnnrt_limits.h): a model file's fit
# and compile lines (checked by cnnc) and the program's train options (checked by the
# program) accept the same extreme values, refuse the next one, and say so in the same
# words ("must be at most 65536, found 65537"). Needs no data set.
set -euo pipefail
source "$(dirname "$0")/common.bash"
enter_workdir
cnnc=$bin/cnnc

# model_with SETTINGS...: a small model file whose last lines carry the settings.
model_with() {
  printf 'model tiny\ninput shape=8x8x1\nconv2d filters=2 kernel=3\nflatten\ndense units=3\nsoftmax\n'
  printf '%s\n' "$@"
}

# Both extremes at once compile, and the program takes the same values on its command line.
model_with "compile lr=100" "fit epochs=1000000 batch_size=65536 validation_split=0.99 seed=9223372036854775807" > max.cnn
"$cnnc" max.cnn -O0 -o max >/dev/null || fail "the largest allowed settings do not compile"
model_with "compile lr=1e-30" "fit epochs=1 batch_size=1 validation_split=0 seed=0" > min.cnn
"$cnnc" min.cnn -O0 -o prog >/dev/null || fail "the smallest allowed settings do not compile"
for args in "--epochs 1000000" "--epochs 1" "--batch-size 65536" "--batch-size 1" \
            "--validation-split 0.99" "--validation-split 0" "--lr 100" "--lr 1e-30" \
            "--seed 9223372036854775807" "--seed 0"; do
  # shellcheck disable=SC2086  # the words of $args are separate arguments
  ./prog train $args --help >/dev/null 2>err || fail "train $args refused: $(cat err)"
done

# One past each limit: refused by both, and the words after the name are the same.
check_past() {   # KEY OPTION VALUE LINE EXPECTED-WORDS
  local key=$1 option=$2 value=$3 line=$4 words=$5 status=0 out
  model_with "$line" > past.cnn
  if out=$("$cnnc" past.cnn -O0 -o past 2>&1); then fail "cnnc accepted $line"; fi
  grep -qF -- "'$key' $words" <<<"$out" || fail "cnnc on '$line': expected \"'$key' $words\" in: $out"
  out=$(./prog train "$option" "$value" 2>&1) || status=$?
  [ "$status" = 2 ] || fail "train $option $value: status $status, expected 2: $out"
  grep -qF -- "$option $words" <<<"$out" ||
    fail "train $option $value: expected \"$option $words\" in: $out"
}
check_past epochs --epochs 1000001 "fit epochs=1000001" "must be at most 1000000, found 1000001"
check_past epochs --epochs -1 "fit epochs=-1" "must be at least 0, found -1"
check_past batch_size --batch-size 65537 "fit batch_size=65537" "must be at most 65536, found 65537"
check_past batch_size --batch-size 0 "fit batch_size=0" "must be at least 1, found 0"
check_past validation_split --validation-split 0.9999999 "fit validation_split=0.9999999" \
  "must be in [0, 0.99], found 0.9999999"
check_past validation_split --validation-split -0.5 "fit validation_split=-0.5" \
  "must be in [0, 0.99], found -0.5"
check_past lr --lr 0 "compile lr=0" "must be in (0, 100], found 0"
check_past lr --lr 100.5 "compile lr=100.5" "must be in (0, 100], found 100.5"
# The seed one past 2^63 - 1 is refused by both (the program: not a whole number it can hold).
model_with "fit seed=9223372036854775808" > past.cnn
if "$cnnc" past.cnn -O0 -o past >/dev/null 2>&1; then fail "cnnc accepted seed 2^63"; fi
if ./prog train --seed 9223372036854775808 >/dev/null 2>&1; then fail "train accepted seed 2^63"; fi
echo "limits agree"
