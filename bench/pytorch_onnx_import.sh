#!/usr/bin/env bash
# A PyTorch model into cnnc through ONNX: trains a small CNN in PyTorch (Debian's
# python3-torch), exports it with torch.onnx.export, compiles the .onnx file with cnnc, and
# shows that the program's predictions and Grad-CAM (HiResCAM) maps equal PyTorch's
# (within 1e-5).
#   bench/pytorch_onnx_import.sh [N]     N test digits (default 8)
# Needs the default digits (scripts/get-data.sh) and a build of cnnc (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
me=bench/pytorch_onnx_import.sh
source bench/common.bash
n=${1:-8}
build_dir=${CNNC_BUILD_DIR:-build}
out=${BENCH_OUT:-$build_dir/bench}/onnx_import
data=${CNNC_DATA:-data/mnist}
python=/usr/bin/python3

ensure_package python3-torch
ensure_package python3-onnx
[ -x "$build_dir/bin/cnnc" ] || die "no $build_dir/bin/cnnc: build cnnc first (scripts/build.sh)"
[ -d "$data" ] || die "no digits in $data: run scripts/get-data.sh"
rm -rf "$out" && mkdir -p "$out"
data=$(realpath "$data")

say "training and exporting the PyTorch model (torch.onnx.export, opset 13)"
"$python" bench/pytorch_onnx_import.py export "$out" "$data" "$n"
say "compiling the ONNX file with cnnc"
"$build_dir/bin/cnnc" "$out/torch_cnn.onnx" --to-cnn
"$build_dir/bin/cnnc" "$out/torch_cnn.onnx" -o "$out/torch_cnn"
cd "$out"
pictures=()
for ((i = 0; i < n; i++)); do pictures+=("digit_$i.png"); done
./torch_cnn predict --prepare resize --format json "${pictures[@]}" > cnnc_predict.json
for ((i = 0; i < n; i++)); do
  ./torch_cnn gradcam "digit_$i.png" --layer conv2d_1 --method hirescam \
    --raw "cnnc_cam_$i.csv" --out "cnnc_cam_$i.png" > /dev/null
done
say "comparing with PyTorch"
"$python" "$OLDPWD/bench/pytorch_onnx_import.py" compare . "$n"
