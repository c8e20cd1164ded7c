#!/usr/bin/env bash
# Data-parallel training on one machine: images/s of `train` for 1 process (1 and 2
# threads) and 2 ranks under mpirun (1 thread each), and the time each step spends in the
# gradient sum (MPI_Allreduce, which counts the wait for the slower rank too). One epoch of
# the default digits per run, configurations interleaved, medians; a table on stdout.
# docs/scaling.md explains the figures and projects them to more machines.
#
#   bench/mpi.sh
#
# Environment:
#   BENCH_REPS=3         interleaved rounds
#   BENCH_BATCHES="64 256"  global batch sizes
#   BENCH_MODEL=models/mnist.cnn
#   BENCH_SKIP_BUILD=1   use the existing build
#   CNNC_BUILD_DIR       build directory (default build)
set -euo pipefail
cd "$(dirname "$0")/.."

me=bench/mpi.sh
source bench/common.bash

reps=${BENCH_REPS:-3}
batches=${BENCH_BATCHES:-64 256}
model=${BENCH_MODEL:-models/mnist.cnn}
build_dir=${CNNC_BUILD_DIR:-build}
scripts/install-mpi.sh
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  CNNC_BUILD_DIR=$build_dir scripts/build.sh >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build_dir/bin/cnnc" "$model" -o "$work/prog"
export CNNC_DATA=${CNNC_DATA:-$PWD/data/mnist}

# run LAYOUT BATCH: prints "ms_per_step collective_ms" of one epoch.
run() {
  local layout=$1 batch=$2 out err launcher=()
  case $layout in
    1x1) threads=1 ;;
    1x2) threads=2 ;;
    2x1) threads=1; launcher=(mpirun --allow-run-as-root --oversubscribe -np 2) ;;
  esac
  out=$(cd "$work" && CNNC_MPI_STATS=1 "${launcher[@]}" ./prog train --epochs 1 \
        --batch-size "$batch" --threads "$threads" --weights "b$layout.weights" 2> err.txt) ||
    die "train ($layout, batch $batch) failed: $(cat "$work/err.txt")"
  python3 - "$out" "$work/err.txt" <<'PY'
import re, sys
m = re.findall(r"(\d+(?:\.\d+)?)(ms|s)/step", sys.argv[1])
if not m:
    sys.exit("no ms/step in the output")
value, unit = m[-1]
ms = float(value) * (1000 if unit == "s" else 1)
sums = [float(x) for x in re.findall(r"([\d.]+) ms per step in the gradient sum",
                                     open(sys.argv[2]).read())]
print("%.3f %.3f" % (ms, max(sums) if sums else 0.0))
PY
}

layouts="1x1 1x2 2x1"
declare -A results
for round in $(seq 1 "$reps"); do
  for batch in $batches; do
    for layout in $layouts; do
      say "round $round: $layout, batch $batch"
      results[$layout,$batch]+="$(run "$layout" "$batch");"
    done
  done
done

printf '# %s, %s, one epoch of %s; medians of %s rounds\n' "$(basename "$model")" \
  "$(uname -m)" "$CNNC_DATA" "$reps"
printf '%-22s %6s %12s %10s %18s\n' layout batch images/s ms/step "gradient sum ms"
for batch in $batches; do
  for layout in $layouts; do
    python3 - "$layout" "$batch" "${results[$layout,$batch]}" <<'PY'
import statistics, sys
layout, batch, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [tuple(map(float, r.split())) for r in text.split(";") if r.strip()]
ms = statistics.median(r[0] for r in rows)
coll = statistics.median(r[1] for r in rows)
names = {"1x1": "1 process x 1 thread", "1x2": "1 process x 2 threads",
         "2x1": "2 ranks x 1 thread"}
print("%-22s %6d %12.0f %10.2f %18s" % (names[layout], batch, batch * 1000 / ms, ms,
                                        "%.3f" % coll if layout == "2x1" else "-"))
PY
  done
done
