#!/usr/bin/env bash
# Data-parallel training under mpirun (runtime/mpi.c, docs/scaling.md), 1 epoch on 1,000
# digits:
#   - 2 ranks x 1 thread write the same bytes as 1 process x 2 threads (the ranks' shares
#     are the threads' pieces and a sum of two floats does not depend on its order), and the
#     same bytes again when run again;
#   - 2 ranks x 2 threads against 1 process x 4 threads (the same pieces, summed in another
#     grouping) agree within float rounding, with the same accuracy;
#   - only rank 0 prints and writes: one progress line, one "Saved" line;
#   - rank 1's messages say "(rank 1)", the commands they show (hints) do not;
#   - a command that does not split its work (summary) runs once, on rank 0.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/mpi_common.bash"
mpi_setup

train=(train --epochs 1 --batch-size 64 --seed 7 --quiet)
./mnist_cam "${train[@]}" --threads 2 --weights one.weights
mpi 2 ./mnist_cam "${train[@]}" --threads 1 --weights two.weights
cmp one.weights two.weights || fail "2 ranks x 1 thread differ from 1 process x 2 threads"
cmp one.history.csv two.history.csv || fail "the histories differ"
mpi 2 ./mnist_cam "${train[@]}" --threads 1 --weights again.weights
cmp two.weights again.weights || fail "the same layout gave other bytes"

./mnist_cam "${train[@]}" --threads 4 --weights four.weights
mpi 2 ./mnist_cam "${train[@]}" --threads 2 --weights twobytwo.weights
diff=$(max_weight_difference four.weights twobytwo.weights)
echo "1 process x 4 threads vs 2 ranks x 2 threads: largest weight difference $diff"
python3 -c "import sys; sys.exit(0 if float('$diff') < 1e-4 else 1)" ||
  fail "2 ranks x 2 threads are $diff away from 1 process x 4 threads"
acc() { tail -1 "$1" | cut -d, -f3,5; }
[ "$(acc four.history.csv)" = "$(acc twobytwo.history.csv)" ] ||
  fail "accuracy differs: $(acc four.history.csv) vs $(acc twobytwo.history.csv)"

mpi 2 ./mnist_cam train --epochs 1 --seed 7 --threads 1 --weights shown.weights > out.txt 2> err.txt ||
  { cat out.txt err.txt; fail "training under mpirun failed"; }
[ "$(grep -c '^Saved the weights' out.txt)" = 1 ] || { cat out.txt; fail "not one Saved line"; }
[ "$(grep -c '^Training mnist_cam' out.txt)" = 1 ] || { cat out.txt; fail "not one Training line"; }
[ ! -s err.txt ] || { cat err.txt; fail "messages on stderr"; }
cmp one.weights shown.weights || fail "printing changed the weights"

# Rank 1's messages name their rank, but a command they show (a hint to copy) names the
# program only.
status=0
mpi 2 ./mnist_cam train --epochs -1 > usage.txt 2>&1 || status=$?
[ "$status" != 0 ] || fail "--epochs -1 was accepted"
status=0
mpi 2 ./mnist_cam evaluate > untrained.txt 2>&1 || status=$?
[ "$status" != 0 ] || fail "evaluate without weights succeeded"
grep -q "^./mnist_cam (rank 1) train: error: --epochs .* (see './mnist_cam train --help')$" \
  usage.txt || { cat usage.txt; fail "no usage message of rank 1 with a plain hint"; }
grep -q "^./mnist_cam (rank 1): error: .* train it first with './mnist_cam train'" \
  untrained.txt || { cat untrained.txt; fail "no message of rank 1 with a plain hint"; }
! grep -h "'[^']*(rank" usage.txt untrained.txt || fail "a command shown names a rank"

mpi 2 ./mnist_cam summary > summary.txt
[ "$(grep -c '^Total params' summary.txt)" = 1 ] || { cat summary.txt; fail "summary ran twice"; }
echo "ok"
