#!/usr/bin/env bash
# Saving the weights survives faults: a tiny model trained on 128 digits, its
# saves hit by a failing fwrite, fflush, fsync, fclose, rename or fsync of the folder
# (tests/e2e/fault_shim.c, LD_PRELOAD), by a file-size limit (a real EFBIG from the kernel),
# and by `kill -9` at random moments 100 times. Every time the weights file is a valid file
# -- the one from before the failed save or the new one, byte for byte one of the files an
# uninterrupted run saves -- the program says what failed (never dies of a signal), no
# temporary file (*.tmp.*) is left (one a kill -9 leaves is gone after the next run on the
# file), and `train --resume` from what is left ends with the same bytes as an uninterrupted
# run. Training that diverges (a NaN loss) stops without saving.
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
shim=${CNNC_FAULT_SHIM:-$bin/../tests/libfault_shim.so}
[ -f "$shim" ] || fail "no fault shim at $shim (built by tests/CMakeLists.txt)"
# In memory when possible: some 2,000 fsyncs on a disk would make the test minutes long.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
enter_workdir

# ---- a tiny model and data set: a run of 3 epochs takes a fraction of a second ---------
cat > tiny.cnn <<'MODEL'
model tiny
input shape=28x28x1
avg_pool2d pool_size=4
flatten
dense units=10
softmax
compile loss=categorical_crossentropy optimizer=adam lr=0.01 metrics=acc
fit epochs=3 batch_size=32 validation_split=0.25 seed=5
MODEL
"$bin/cnnc" tiny.cnn -O0 -o tiny
digit_subset digits 128 32
export CNNC_DATA=$PWD/digits
train() { ./tiny train --threads 2 --quiet "$@"; }

# The files an uninterrupted run saves after epochs 1, 2 and 3 (a 3-epoch run saves each in
# turn, with the same bytes as a run asked for 1 or 2 epochs).
for e in 1 2 3; do
  train --epochs "$e" --weights "ref$e.weights" >/dev/null
done
one_of_the_saved() {
  cmp -s "$1" ref1.weights || cmp -s "$1" ref2.weights || cmp -s "$1" ref3.weights
}
# resume_to_end FILE: finishes the run FILE holds; it must end as the uninterrupted run.
resume_to_end() {
  if ! cmp -s "$1" ref3.weights; then
    train --resume --epochs 3 --weights "$1" >/dev/null || fail "resuming $1 failed"
  fi
  cmp -s "$1" ref3.weights || fail "$2: resuming from what was left differs from an uninterrupted run"
}
no_temporary_files() {
  if compgen -G '*.tmp.*' >/dev/null; then
    fail "$1: a temporary file was left behind: $(echo *.tmp.*)"
  fi
}

# Cases and rounds that run at the same time, each in a folder of its own: the programs of a
# case spend most of their time waiting to be scheduled on a loaded machine, not computing.
# enter_folder NAME: makes NAME with links to the program and the reference files, enters it.
enter_folder() {
  mkdir "$1"
  ln -s ../tiny ../ref1.weights ../ref2.weights ../ref3.weights "$1/"
  cd "$1"
}
# wait_all WHAT PID...: waits for every one; fails naming WHAT if any failed.
wait_all() {
  local what=$1 failed=0 pid
  shift
  for pid in "$@"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || fail "$what failed (above)"
}

# ---- a failing call during the save after epoch 2 -----------------------------------------
# Each case starts from the file saved after epoch 1 and resumes to 3 epochs. The first
# matching call on the weights file is the epoch-2 save's (a resume reads the file with
# fopen "rb", which the shim does not count).
failing_call_case() {
  local call=$1 err=$2 case_name="$1 fails with $2" status=0 out
  enter_folder "$call-$err"
  cp ref1.weights f.weights
  out=$(FAULT_PATH=f.weights FAULT_CALL=$call FAULT_ERRNO=$err LD_PRELOAD=$shim \
        ./tiny train --resume --epochs 3 --threads 2 --quiet --weights f.weights 2>&1) ||
    status=$?
  grep -q "fault_shim: failing $call" <<<"$out" || fail "$case_name: the fault was not injected: $out"
  [ "$status" = 1 ] || fail "$case_name: exit status $status, expected 1: $out"
  grep -q "f.weights" <<<"$out" || fail "$case_name: the message does not name the file: $out"
  cmp -s f.weights ref1.weights || fail "$case_name: the previous weights file was changed"
  no_temporary_files "$case_name"
  resume_to_end f.weights "$case_name"
  no_temporary_files "$case_name, then resumed"
}
pids=()
for call in fwrite fflush fsync fclose rename; do
  for err in ENOSPC EIO; do
    (failing_call_case "$call" "$err") &
    pids+=($!)
  done
done
wait_all "the failing-call cases" "${pids[@]}"
# The second save failing (after epoch 3): the file saved after epoch 2 stays.
cp ref1.weights f.weights
status=0
out=$(FAULT_PATH=f.weights FAULT_CALL=fsync FAULT_NTH=2 LD_PRELOAD=$shim \
      ./tiny train --resume --epochs 3 --threads 2 --quiet --weights f.weights 2>&1) || status=$?
grep -q "fault_shim: failing fsync #2" <<<"$out" || fail "second save: the fault was not injected: $out"
[ "$status" = 1 ] || fail "second save failing: exit status $status: $out"
cmp -s f.weights ref2.weights || fail "second save failing: the file is not the epoch-2 save"
no_temporary_files "second save failing"
resume_to_end f.weights "second save failing"
rm -f f.weights f.history.*
echo "failing fwrite/fflush/fsync/fclose/rename: the previous file kept, resume exact"

# The folder's fsync after the rename failing (an I/O error): the new file is in place and
# complete, but the save may not survive a crash, and that is an error the user is told.
cp ref1.weights f.weights
status=0
out=$(FAULT_CALL=fsync_dir FAULT_ERRNO=EIO LD_PRELOAD=$shim \
      ./tiny train --resume --epochs 3 --threads 2 --quiet --weights f.weights 2>&1) || status=$?
grep -q "fault_shim: failing fsync_dir #1" <<<"$out" || fail "folder fsync: the fault was not injected: $out"
[ "$status" = 1 ] || fail "folder fsync failing: exit status $status, expected 1: $out"
grep -q "f.weights: saved, but syncing its folder .* failed" <<<"$out" ||
  fail "folder fsync failing: not reported as such: $out"
grep -q "Input/output error" <<<"$out" || fail "folder fsync failing: the cause is not named: $out"
cmp -s f.weights ref2.weights || fail "folder fsync failing: the file is not the epoch-2 save"
no_temporary_files "folder fsync failing"
resume_to_end f.weights "folder fsync failing"
rm -f f.weights f.history.*
echo "failing fsync of the folder: reported, the new file complete, resume exact"

# The history chart's save failing (the weights were saved just before): the new weights
# are kept and complete; training reports the failure.
cp ref1.weights f.weights
status=0
out=$(FAULT_PATH=f.history.png FAULT_CALL=fsync LD_PRELOAD=$shim \
      ./tiny train --resume --epochs 3 --threads 2 --quiet --weights f.weights 2>&1) || status=$?
[ "$status" = 1 ] || fail "chart save failing: exit status $status: $out"
grep -q "f.history.png" <<<"$out" || fail "chart save failing: the chart is not named: $out"
one_of_the_saved f.weights || fail "chart save failing: the weights file is not a saved one"
no_temporary_files "chart save failing"
resume_to_end f.weights "chart save failing"
rm -f f.weights f.history.*

# A real write error from the kernel: a 4 KiB file-size limit (the weights are ~6 KB).
# SIGXFSZ is ignored so the write fails with EFBIG instead of killing the program.
cp ref1.weights f.weights
status=0
out=$( (ulimit -f 4; trap '' XFSZ; exec ./tiny train --resume --epochs 3 --threads 2 --quiet \
        --weights f.weights) 2>&1) || status=$?
[ "$status" = 1 ] || fail "file-size limit: exit status $status: $out"
grep -q "f.weights" <<<"$out" || fail "file-size limit: the message does not name the file: $out"
cmp -s f.weights ref1.weights || fail "file-size limit: the previous weights file was changed"
no_temporary_files "file-size limit"
resume_to_end f.weights "file-size limit"
rm -f f.weights f.history.*
echo "a real EFBIG: the previous file kept, resume exact"

# ---- training that diverges never saves what it diverged to -------------------------------
# The epoch-1 file with every weight of the dense layer 3e38 (finite, CRC recomputed): the
# first step's logits overflow and the loss is NaN. Training stops with status 1 and the
# file stays as it was (a NaN is never saved), with no temporary file.
patch_weights ref1.weights huge.weights dense/kernel all 3e38
cp huge.weights d.weights
status=0
out=$(./tiny train --resume --epochs 3 --threads 2 --quiet --weights d.weights 2>&1) || status=$?
[ "$status" = 1 ] || fail "diverging: exit status $status, expected 1: $out"
grep -q "the loss became NaN at epoch 2, step 1/.*training diverged" <<<"$out" ||
  fail "diverging: not reported as such: $out"
cmp -s d.weights huge.weights || fail "diverging: the weights file was changed"
no_temporary_files "diverging"
rm -f d.weights d.history.* huge.weights
echo "diverging training: stopped, nothing saved"

# ---- kill -9 at random moments ------------------------------------------------------------
# A whole run from scratch takes T milliseconds; each round kills a fresh run after a
# random 0..1.2*T. Whatever is left must be nothing, or one of the files an uninterrupted
# run saves (so it loads: each of those is loaded once here), and resuming from it must end
# as the uninterrupted run. The rounds run in $lanes lanes at once, each in a folder of its
# own; T is measured with every lane running, so that the moments span a whole run as it
# runs here.
for e in 1 2 3; do
  ./tiny evaluate --weights "ref$e.weights" >/dev/null ||
    fail "the program cannot load ref$e.weights, a file an uninterrupted run saved"
done
rounds=${CNNC_KILL_ROUNDS:-100}
lanes=${CNNC_KILL_LANES:-4}
start=$(date +%s%N)
for lane in $(seq "$lanes"); do
  (enter_folder "lane$lane" && train --epochs 3 --weights timing.weights >/dev/null) &
done
wait
run_ms=$(( ($(date +%s%N) - start) / 1000000 ))
RANDOM=16   # the same moments on every run of the test, whatever the lanes
delays=()
for round in $(seq "$rounds"); do delays[round]=$(( RANDOM % (run_ms * 12 / 10 + 1) )); done

# kill_round ROUND: one round, in the current folder; notes what it saw in ./notes.
kill_round() {
  local round=$1 delay_ms=${delays[$1]} pid
  local what="round $round (killed after ${delay_ms} ms)"
  rm -f k.weights k.history.* k.*.tmp.*
  ./tiny train --epochs 3 --threads 2 --quiet --weights k.weights >/dev/null 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ ! -e k.weights ]; then
    echo "left nothing" >> notes
    train --epochs 3 --weights k.weights >/dev/null
  else
    one_of_the_saved k.weights || fail "$what: the weights file is not a valid saved file"
  fi
  # A process killed while saving cannot remove its temporary file; the next run on the
  # weights file must (even one that has nothing left to train).
  if compgen -G 'k.*.tmp.*' >/dev/null; then echo "left a temporary file" >> notes; fi
  if cmp -s k.weights ref3.weights; then
    ./tiny train --resume --epochs 3 --quiet --weights k.weights >/dev/null 2>&1 &&
      fail "$what: resuming a finished run did not say it was finished"
  fi
  resume_to_end k.weights "$what"
  no_temporary_files "$what, after the next run"
}
pids=()
for lane in $(seq "$lanes"); do
  (cd "lane$lane" && for ((round = lane; round <= rounds; round += lanes)); do
     kill_round "$round"
   done) &
  pids+=($!)
done
wait_all "kill -9 rounds" "${pids[@]}"
left_nothing=$(cat lane*/notes 2>/dev/null | grep -c "left nothing" || true)
stale=$(cat lane*/notes 2>/dev/null | grep -c "temporary" || true)
echo "kill -9 x $rounds in $lanes lanes (a run takes ${run_ms} ms): every file left valid and" \
     "resumed exactly; $left_nothing rounds were killed before the first save; $stale left a" \
     "temporary file, every one removed by the next run"
echo "ok"
