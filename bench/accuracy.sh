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
scripts/build.sh >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build/bin/cnnc models/mnist.cnn -o "$work/mnist_cam"

# compare DATA_DIR EPOCHS SEEDS: one table.
compare() {
  local data=$1 epochs=$2 seeds=$3 seed accs
  : > "$work/cnnc.txt"
  : > "$work/torch.txt"
  for seed in $(seq 1 "$seeds"); do
    accs=$("$work/mnist_cam" train --data "$data" --epochs "$epochs" --seed "$seed" \
             --batch-size 64 --validation-split 0.2 --threads 2 --quiet \
             --weights "$work/s$seed.weights" >/dev/null &&
           sed -n '2,$p' "$work/s$seed.history.csv" | cut -d, -f5 | tr '\n' ' ')
    echo "$accs" >> "$work/cnnc.txt"
    /usr/bin/python3 bench/pytorch_accuracy.py "$data" "$epochs" "$seed" keras >> "$work/torch.txt"
  done
  python3 - "$work/cnnc.txt" "$work/torch.txt" "$data" "$epochs" "$seeds" <<'PY'
import math, statistics, sys
def rows(path):
    return [[float(v) for v in line.split()] for line in open(path) if line.strip()]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
print("%s: %s epochs x %s seeds, val_acc (validation: the last 20%% of the training file)"
      % (sys.argv[3], sys.argv[4], sys.argv[5]))
print("| epoch | cnnc mean | cnnc sd | PyTorch (Keras semantics) mean | PyTorch sd "
      "| difference | SE of difference | difference / SE |")
print("|---|---|---|---|---|---|---|---|")
for e in range(len(a[0])):
    x, y = [r[e] for r in a], [r[e] for r in b]
    mx, my = statistics.mean(x), statistics.mean(y)
    sx, sy = statistics.stdev(x), statistics.stdev(y)
    se = math.sqrt(sx * sx / len(x) + sy * sy / len(y))
    print("| %d | %.4f | %.4f | %.4f | %.4f | %+.4f | %.4f | %+.2f |"
          % (e + 1, mx, sx, my, sy, mx - my, se, (mx - my) / se if se else float("nan")))
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
