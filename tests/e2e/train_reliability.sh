#!/usr/bin/env bash
# `train` and the ways a run ends early, on a small model and 1,000 digits (seconds):
#   - SIGTERM and SIGHUP save like Ctrl-C, say so and exit with 128 + the signal (143, 129);
#     resuming after SIGTERM gives the same bytes as an uninterrupted run; a signal while the
#     program starts leaves nothing behind;
#   - a second `train` on the same weights file is refused while the first runs, naming the
#     file and the first one's PID; another weights file in the same directory is fine;
#   - temporary files of killed processes (NAME.tmp.PID) are removed by the next save, a
#     live process's are not; after SIGKILL the next run takes over the lock; no run leaves
#     a temporary or lock file behind;
#   - weights holding a NaN (with a valid CRC) are refused by predict and evaluate, naming
#     the tensor and the index, instead of printing "-nan%".
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir

# 1,000 training and 100 test digits of the default set.
digit_subset "$tmp" 1000 100
export CNNC_DATA=$tmp
cat > tiny.cnn <<'MODEL'
model tiny
input   shape=28x28x1
conv2d  filters=4 kernel=3 activation=relu
max_pool2d
flatten
dense   units=10
softmax
compile optimizer=adam lr=0.001
fit     epochs=1 batch_size=10 validation_split=0.1
MODEL
"$bin/cnnc" tiny.cnn -o tiny || fail "the model does not compile"

no_leftovers() {
  local left
  left=$(compgen -G '*.tmp.*' || true; compgen -G '*.lock' || true)
  [ -z "$left" ] || fail "$1 left files behind: $left"
}

# ---- SIGTERM: saved, 143, and resuming finishes the same run --------------------------------
./tiny train --epochs 6 --threads 1 --quiet --weights whole.weights
stop_and_resume TERM ./tiny term.weights term.out --epochs 6 --threads 1
cmp -s whole.weights term.weights || fail "SIGTERM + resume differs from an uninterrupted run"
no_leftovers "SIGTERM"

# ---- a signal while starting up: wherever it lands, 143 and nothing left behind -------------
./tiny train --epochs 3 --threads 1 --weights early.weights > early.out 2>&1 &
pid=$!
sleep 0.01
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[ "$status" = 143 ] || fail "SIGTERM while starting: status $status: $(cat early.out)"
echo "note: SIGTERM while starting: $(tail -c 120 early.out | tr '\r' '\n' | tail -1)"
no_leftovers "SIGTERM while starting"

# ---- two runs on one weights file: the second is refused; SIGHUP then stops the first ---------
./tiny train --epochs 1000 --threads 1 --quiet --weights shared.weights > first.out 2>&1 &
pid=$!
wait_until_catching "$pid" 1
status=0
out=$(./tiny train --epochs 1 --threads 1 --quiet --weights shared.weights 2>&1) || status=$?
[ "$status" = 1 ] || fail "a second train on the same weights: status $status: $out"
grep -qF "shared.weights is in use by another process (PID $pid" <<<"$out" ||
  fail "unclear message for a second run: $out"
./tiny train --epochs 1 --threads 1 --quiet --weights other.weights ||
  fail "another weights file in the same directory was refused"
kill -HUP "$pid"
status=0
wait "$pid" || status=$?
[ "$status" = 129 ] || fail "train stopped with status $status on SIGHUP: $(cat first.out)"
grep -q "by SIGHUP; saved to shared.weights" first.out || fail "no message after SIGHUP: $(cat first.out)"
./tiny evaluate --weights shared.weights > /dev/null || fail "the weights saved on SIGHUP do not load"
no_leftovers "SIGHUP"

# ---- temporary files of dead processes go, a live one's stay; SIGKILL's lock is taken over ----
sh -c 'exit 0' &
dead=$!
wait "$dead"
for f in stale.weights stale.history.csv stale.history.png; do : > "$f.tmp.$dead"; done
: > "stale.weights.tmp.$$"   # this shell is alive: its file is not stale
./tiny train --epochs 1 --threads 1 --quiet --weights stale.weights
for f in stale.weights stale.history.csv stale.history.png; do
  [ ! -e "$f.tmp.$dead" ] || fail "$f.tmp.$dead of a dead process was not removed"
done
[ -e "stale.weights.tmp.$$" ] || fail "a live process's temporary file was removed"
rm "stale.weights.tmp.$$"

./tiny train --epochs 1000 --threads 1 --quiet --weights killed.weights &
pid=$!
wait_until_catching "$pid" 15
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
[ -e killed.weights.lock ] || fail "expected the killed run's lock file to remain"
./tiny train --epochs 1 --threads 1 --quiet --weights killed.weights ||
  fail "a run after SIGKILL could not take over the lock"
no_leftovers "a run after SIGKILL"
# ---- a NaN in a tensor, CRC recomputed: refused with the tensor's name and index -------------
patch_weights whole.weights nan.weights dense/kernel 25 nan   # 676 x 10: index 25 is [2][5]
for cmd in "predict --index 0" "evaluate"; do
  status=0
  # shellcheck disable=SC2086  # the words of $cmd are separate arguments
  out=$(./tiny $cmd --weights nan.weights 2>&1) || status=$?
  [ "$status" = 1 ] || fail "$cmd with NaN weights: status $status: $out"
  grep -qF "nan.weights: unusable: tensor 'dense/kernel' holds NaN at index 25 ([2][5])" <<<"$out" ||
    fail "$cmd with NaN weights: unclear message: $out"
done
echo "signals, locks, temporary files and non-finite weights: ok"
