#!/usr/bin/env bash
# Training under mpirun when things go wrong (runtime/mpi.c, docs/scaling.md):
#   - Ctrl-C on mpirun (it sends SIGTERM to every rank): the ranks agree on the step to stop
#     after, rank 0 saves a resumable file; resuming it in one process of 2 threads (another
#     number of ranks) ends with the bytes of an uninterrupted run;
#   - kill -9 of one rank: the other stops with a message instead of hanging, and the weights
#     file keeps the last saved epoch, valid.
# mpirun gives the ranks odls_base_sigkill_timeout seconds (default 1) between its SIGTERM
# and SIGKILL, and waits that long before it exits: 10 for Ctrl-C here, so that a loaded
# test machine finishes the step and the save, 3 for the killed rank (time for rank 0 to
# finish its step and wait half a second for the dead rank before it gives up).
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/mpi_common.bash"
mpi_setup

# Waits (up to 120 s) until file $1 contains $2.
wait_for_text() {
  for _ in $(seq 1 1200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$1"
  fail "no '$2' in $1"
}

# Long enough to be stopped on a quiet machine too (its output reaches the file in blocks,
# so the test waits for the lock file that rank 0 takes when training begins instead).
long=(train --epochs 300 --batch-size 16 --threads 1 --seed 5)
# Ctrl-C on mpirun. A background command of a script starts with SIGINT ignored, and so
# does everything under a parent that ignores it (ctest may): mpirun then never sees the
# signal. `env --default-signal=INT` gives mpirun the terminal's usual disposition.
env --default-signal=INT \
  mpirun --allow-run-as-root --oversubscribe --mca odls_base_sigkill_timeout 10 -np 2 \
  ./mnist_cam "${long[@]}" --weights stopped.weights > stop.out 2> stop.err &
launcher=$!
for _ in $(seq 1 1200); do [ -e stopped.weights.lock ] && break; sleep 0.1; done
[ -e stopped.weights.lock ] || fail "training did not start (no stopped.weights.lock)"
sleep 1
# The terminal's Ctrl-C goes to every process of the job: mpirun and both ranks, once each.
# The pattern is anchored so that it matches the ranks only: mpirun's own command line holds
# the same words, and mpirun takes a second SIGINT as "kill the job now, without waiting".
kill -INT "$launcher" $(pgrep -f "^\./mnist_cam train --epochs 300") 2>/dev/null || true
status=0
wait "$launcher" || status=$?
[ "$status" != 0 ] || fail "training ran to the end: the test needs a longer run"
line=$(grep -o "Interrupted [a-z]* epoch [0-9]*" stop.out) || { cat stop.out stop.err; fail "no Interrupted line"; }
epoch=${line##* }
case $line in *after*) total=$((epoch + 1)) ;; *) total=$epoch ;; esac
[ ! -e stopped.weights.lock ] || fail "the lock file was left behind"
./mnist_cam train --resume --epochs "$total" --batch-size 16 --weights stopped.weights --threads 2 \
  --quiet ||
  fail "resuming in one process failed"
./mnist_cam train --epochs "$total" --batch-size 16 --seed 5 --threads 2 --quiet \
  --weights straight.weights
cmp stopped.weights straight.weights ||
  fail "interrupted on 2 ranks + resumed in 1 process differs from an uninterrupted run"
echo "Ctrl-C at: $line; resumed to epoch $total in one process: same bytes"

# One epoch saved, then a resumed run loses a rank.
./mnist_cam train --epochs 1 --batch-size 16 --seed 5 --quiet --weights kept.weights
cp kept.weights saved.weights
mpirun --allow-run-as-root --oversubscribe --mca odls_base_sigkill_timeout 3 -np 2 \
  ./mnist_cam train --resume --epochs 30 --batch-size 16 --threads 1 --weights kept.weights \
  > kill.out 2> kill.err &
launcher=$!
wait_for_text kill.out "^Resuming from kept.weights"
sleep 1
victim=
for pid in $(pgrep -f "mnist_cam train --resume --epochs 30"); do
  if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then
    victim=$pid
  fi
done
[ -n "$victim" ] || fail "rank 1 not found"
kill -9 "$victim"
start=$SECONDS
status=0
wait "$launcher" || status=$?
[ "$status" != 0 ] || fail "the job did not fail"
[ $((SECONDS - start)) -lt 30 ] || fail "the job took $((SECONDS - start)) s to stop"
grep -q "error: rank 0: stopped by a signal while waiting for the other ranks" kill.err ||
  { cat kill.err; fail "rank 0 did not say why it stopped"; }
./mnist_cam evaluate --weights kept.weights > after.txt || fail "the saved weights are not valid"
[ ! -e kept.weights.lock ] || fail "the lock file was left behind"
echo "kill -9 of rank 1: stopped in $((SECONDS - start)) s with: $(grep -o 'rank 0: stopped[^;]*' kill.err)"
echo "ok"
