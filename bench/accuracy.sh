#!/usr/bin/env bash
# Validation accuracy of models/mnist.cnn, cnnc beside PyTorch set up with Keras's semantics
# (glorot_uniform kernels, zero biases, Adam in Keras's epsilon-hat form written by hand, the
# last validation_split fraction as validation before shuffling, batch 64), over many seeds.
# Prints per epoch each framework's mean and standard deviation of val_acc, the difference
# of the means and its standard error, sqrt(sd_cnnc^2/n + sd_torch^2/n); the target (issue
# 11) is |difference| < 2 standard errors at every epoch.
#   bench/accuracy.sh [DATA_DIR EPOCHS SEEDS]      one data set
#   bench/accuracy.sh                              the default digits, 3 epochs x 16 seeds,
#                                                  then Fashion-MNIST, 1 epoch x 8 seeds
# The two frameworks train side by side, one thread each (cnnc seed after seed in one
# process at a time, PyTorch all its seeds in one process). Each seed's figures are kept in
# $ACCURACY_DIR (default: a temporary directory) as cnnc.SEED and torch.SEED under a
# folder per data set; a second run with the same ACCURACY_DIR trains only the seeds still
# missing, so a long run can be interrupted and continued. The table counts the seeds both
# frameworks finished.
# CPU heavy (minutes to an hour): run it at low priority, e.g. `nice -n 19 bench/accuracy.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
me=bench/accuracy.sh
# shellcheck source=bench/common.bash
source bench/common.bash
ensure_package python3-torch
ensure_package python3-numpy
scripts/get-data.sh >/dev/null
scripts/install-deps.sh >/dev/null
# Only what the benchmark runs (the test programs need not be linked for it).
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --parallel "$(nproc)" --target cnnc cnnrt cnnrt_main >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=${ACCURACY_DIR:-$work/results}
build/bin/cnnc models/mnist.cnn -o "$work/mnist_cam"

# run_cnnc DATA EPOCHS DIR SEED...: one training run per seed missing from DIR.
run_cnnc() {
  local data=$1 epochs=$2 dir=$3 seed
  shift 3
  for seed in "$@"; do
    [ -s "$dir/cnnc.$seed" ] && continue
    "$work/mnist_cam" train --data "$data" --epochs "$epochs" --seed "$seed" \
      --batch-size 64 --validation-split 0.2 --threads 1 --quiet \
      --weights "$work/s$seed.weights" >/dev/null
    sed -n '2,$p' "$work/s$seed.history.csv" | cut -d, -f5 | tr '\n' ' ' > "$dir/cnnc.$seed.tmp"
    mv "$dir/cnnc.$seed.tmp" "$dir/cnnc.$seed"
  done
}

# run_torch DATA EPOCHS DIR SEED...: the seeds missing from DIR in one PyTorch process.
run_torch() {
  local data=$1 epochs=$2 dir=$3 seed missing=()
  shift 3
  for seed in "$@"; do [ -s "$dir/torch.$seed" ] || missing+=("$seed"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  local i=0 line
  /usr/bin/python3 bench/pytorch_accuracy.py "$data" "$epochs" \
    "$(IFS=,; echo "${missing[*]}")" keras |
    while read -r line; do
      echo "$line" > "$dir/torch.${missing[$i]}"
      i=$((i + 1))
    done
}

# compare DATA_DIR EPOCHS SEEDS: trains what is missing, then prints one table.
compare() {
  local data=$1 epochs=$2 seeds=$3 dir
  dir=$results/$(basename "$data")-${epochs}epochs
  mkdir -p "$dir"
  run_torch "$data" "$epochs" "$dir" $(seq 1 "$seeds") &
  local torch_pid=$!
  run_cnnc "$data" "$epochs" "$dir" $(seq 1 "$seeds")
  wait "$torch_pid"
  python3 - "$dir" "$data" "$epochs" "$seeds" <<'PY'
import math, os, statistics, sys
directory, data, epochs, seeds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def row(name):
    path = os.path.join(directory, name)
    return [float(v) for v in open(path).read().split()] if os.path.exists(path) else None
pairs = [(s, row("cnnc.%d" % s), row("torch.%d" % s)) for s in range(1, seeds + 1)]
pairs = [p for p in pairs if p[1] and p[2]]
a, b = [p[1] for p in pairs], [p[2] for p in pairs]
print("%s: %s epochs x %d seeds, val_acc (validation: the last 20%% of the training file)"
      % (data, epochs, len(pairs)))
print("| epoch | cnnc mean | cnnc sd | PyTorch (Keras semantics) mean | PyTorch sd "
      "| difference | SE of difference | difference / SE |")
print("|---|---|---|---|---|---|---|---|")
for e in range(len(a[0]) if len(a) > 1 else 0):
    x, y = [r[e] for r in a], [r[e] for r in b]
    mx, my = statistics.mean(x), statistics.mean(y)
    sx, sy = statistics.stdev(x), statistics.stdev(y)
    se = math.sqrt(sx * sx / len(x) + sy * sy / len(y))
    print("| %d | %.4f | %.4f | %.4f | %.4f | %+.4f | %.4f | %+.2f |"
          % (e + 1, mx, sx, my, sy, mx - my, se, (mx - my) / se if se else float("nan")))
print("per seed: cnnc | PyTorch")
for s, x, y in pairs:
    print("  seed %d: %s | %s" % (s, " ".join("%.4f" % v for v in x),
                                  " ".join("%.4f" % v for v in y)))
PY
}

if [ $# -ge 3 ]; then
  compare "$1" "$2" "$3"
  exit 0
fi
compare "$root/data/mnist" 3 16
echo
scripts/get-data.sh --fashion "$work/fashion" >/dev/null
compare "$work/fashion" 1 8
