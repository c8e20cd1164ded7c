#!/usr/bin/env bash
# Validation accuracy of models/mnist.cnn after each of EPOCHS epochs (default 3), cnnc
# and PyTorch side by side, same data, same split, same settings, several seeds.
#   bench/accuracy.sh [DATA_DIR] [EPOCHS] [SEEDS...]
# Default data: the default digits (data/mnist); Fashion-MNIST:
#   bench/accuracy.sh /usr/share/datasets/fashion-mnist 1 1 2 3
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
data=${1:-$root/data/mnist}
epochs=${2:-3}
shift $(( $# > 2 ? 2 : $# )) || true
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)

scripts/install-deps.sh python3-torch python3-numpy >/dev/null
scripts/get-data.sh >/dev/null
scripts/build.sh >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build/bin/cnnc models/mnist.cnn -o "$work/mnist_cam"

printf '%-8s %-6s %-32s %s\n' framework seed "val_acc after each epoch" "(data: $data)"
for seed in "${seeds[@]}"; do
  accs=$("$work/mnist_cam" train --data "$data" --epochs "$epochs" --seed "$seed" --threads 2 \
           --weights "$work/s$seed.weights" | sed -n 's/.*val_acc: \([0-9.]*\).*/\1/p' | tr '\n' ' ')
  printf '%-8s %-6s %s\n' cnnc "$seed" "$accs"
  for init in keras torch; do
    accs=$(/usr/bin/python3 bench/pytorch_accuracy.py "$data" "$epochs" "$seed" "$init")
    printf '%-8s %-6s %s  (%s init)\n' pytorch "$seed" "$accs" "$init"
  done
done
