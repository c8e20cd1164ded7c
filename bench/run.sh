#!/usr/bin/env bash
# Benchmarks models/mnist.cnn compiled by cnnc against the same model in PyTorch and in ONNX
# Runtime, side by side in one run, and prints one table of medians (see docs/benchmarks.md).
#
#   bench/run.sh
#
# Environment:
#   BENCH_REPS=5        rounds; each round runs cnnc's benchmark, then PyTorch's, then ONNX
#                       Runtime's, once (interleaved, so a change in the shared machine's
#                       load hits all three)
#   BENCH_SECONDS=1     minimum duration of one timed repetition
#   BENCH_THREADS=2     threads for every framework (cnnc's pool, torch.set_num_threads,
#                       ONNX Runtime's intraOpNumThreads)
#   BENCH_DATA=DIR      IDX files to use; "synthetic" for random images of the same shape
#                       (default: Fashion-MNIST from Debian's dataset-fashion-mnist)
#   BENCH_SKIP_BUILD=1  use the existing build instead of running scripts/build.sh
#   CNNC_BUILD_DIR      build directory (default build)
#   BENCH_OUT           where results go (default $CNNC_BUILD_DIR/bench)
#   BENCH_BASE_BUILD    another build directory (e.g. of main before a change): its cnnc
#                       and libcnnrt are timed too, in the same rounds, and the table shows
#                       cnnc/before
#
# PyTorch is Debian's python3-torch, run by Debian's /usr/bin/python3 (not whatever python3
# comes first on PATH). It is installed here, only for benchmarking: it is never a
# dependency of cnnc or of its tests. ONNX Runtime is the npm package onnxruntime-node (its
# CPU library ships inside the package; --ignore-scripts skips the install script, which
# only fetches GPU parts), installed into $BENCH_OUT/ort; the ONNX model is built from the
# same weights by bench/onnx_mnist.py with Debian's python3-onnx.
set -euo pipefail
cd "$(dirname "$0")/.."

reps=${BENCH_REPS:-5}
seconds=${BENCH_SECONDS:-1}
threads=${BENCH_THREADS:-2}
build_dir=${CNNC_BUILD_DIR:-build}
out=${BENCH_OUT:-$build_dir/bench}
python=/usr/bin/python3

me=bench/run.sh
# say, die, ensure_package (Debian packages, installed only when missing), build_bench_cnnc.
source bench/common.bash   # (the working directory is the repository root here)

ensure_package python3-torch
ensure_package python3-onnx
ensure_package nodejs
command -v npm >/dev/null 2>&1 || ensure_package npm
[ -x "$python" ] || die "$python not found (python3-torch installs into Debian's python3)"
"$python" -c 'import torch' 2>/dev/null || die "$python cannot import torch"

data=${BENCH_DATA:-}
if [ -z "$data" ]; then
  ensure_package dataset-fashion-mnist
  images=$(dpkg -L dataset-fashion-mnist | grep -m 1 'train-images-idx3-ubyte' || true)
  [ -n "$images" ] || die "dataset-fashion-mnist installs no train-images-idx3-ubyte file"
  data=$(dirname "$images")
fi
data_args=()
if [ "$data" != synthetic ]; then
  [ -d "$data" ] || die "BENCH_DATA=$data is not a directory"
  data_args=(--data "$data")
fi

# ---- Build cnnc, compile the model to an object file, link the C benchmark -------------------

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  say "building cnnc (scripts/build.sh)"
  CNNC_BUILD_DIR=$build_dir scripts/build.sh >&2
fi
mkdir -p "$out"
# The model's name (its descriptor is NAME_model) is the model file's `model` line.
model=$(awk '$1 == "model" { print $2; exit }' models/mnist.cnn)
build_bench_cnnc "$build_dir" models/mnist.cnn "$out"   # bench/common.bash
base_build=${BENCH_BASE_BUILD:-}
[ -z "$base_build" ] || build_bench_cnnc "$base_build" models/mnist.cnn "$out/base"

ort_version=1.30.0
ensure_onnxruntime "$out/ort" "$ort_version"   # bench/common.bash; sets ORT_NODE_MODULES

# ---- Same computation? -------------------------------------------------------------------------

say "checking the PyTorch model's weight layout against NumPy"
"$python" bench/pytorch_mnist.py selftest | tee "$out/selftest.jsonl"
say "running both frameworks on the same weights and inputs"
rm -rf "$out/check" && mkdir -p "$out/check"
"$out/bench_cnnc" --check-dir "$out/check" "${data_args[@]}"
"$python" bench/pytorch_mnist.py check --dir "$out/check" --threads "$threads" \
  | tee "$out/check.jsonl"
say "building the ONNX model from the same weights and checking ONNX Runtime's answers"
"$python" bench/onnx_mnist.py "$out/check/weights.bin" "$out/mnist_cam.onnx"
onnx_model=$out/mnist_cam.onnx
node bench/ort_mnist.js check --model "$onnx_model" --dir "$out/check" --threads "$threads" \
  | tee -a "$out/check.jsonl" || die "ONNX Runtime does not compute what cnnc computes"

# ---- What the machine allows right now --------------------------------------------------------
# DESIGN.md's limits are for the project's Zen 3 machines; fma_peak measures this one's fp32
# FMA peak, before and after the timing, which also shows how busy the shared machine was.
peak_ok=0
if cc -std=c11 -O2 -march=native -D_POSIX_C_SOURCE=200809L -pthread bench/fma_peak.c \
     -o "$out/fma_peak" 2>/dev/null; then
  peak_ok=1
  say "measuring the machine's FMA peak"
  "$out/fma_peak" > "$out/peak_before.jsonl"
fi

# ---- Timing: interleaved rounds -----------------------------------------------------------------

results=$out/results.jsonl
: > "$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
timing=(--threads "$threads" --reps 1 --seconds "$seconds" "${data_args[@]}")
for round in $(seq 1 "$reps"); do
  say "round $round of $reps: cnnc"
  "$out/bench_cnnc" "${timing[@]}" | tee -a "$results"
  if [ -n "$base_build" ]; then
    say "round $round of $reps: cnnc of $base_build"
    "$out/base/bench_cnnc" "${timing[@]}" | sed 's/"framework": "cnnc"/"framework": "cnnc_base"/' \
      | tee -a "$results"
  fi
  say "round $round of $reps: PyTorch"
  "$python" bench/pytorch_mnist.py bench "${timing[@]}" | tee -a "$results"
  say "round $round of $reps: ONNX Runtime"
  node bench/ort_mnist.js bench --model "$onnx_model" "${timing[@]}" | tee -a "$results"
done

[ "$peak_ok" = 1 ] && "$out/fma_peak" > "$out/peak_after.jsonl"

# ---- The table ------------------------------------------------------------------------------------

torch_version=$("$python" -c 'import torch; print(torch.__version__)')
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
{
  echo
  echo "cnnc vs PyTorch $torch_version and ONNX Runtime $ort_version (onnxruntime-node)," \
       "models/mnist.cnn, $threads threads each, medians of"
  echo "$reps interleaved rounds of >= ${seconds}s each; data: ${data}"
  echo "machine: $cpu, $(nproc) CPUs; load average (1/5/15 min)"
  echo "before timing: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
} | tee "$out/summary.txt"
peak_args=()
[ "$peak_ok" = 1 ] && peak_args=(--peaks-from "$out/peak_before.jsonl" \
                                 --peaks-from "$out/peak_after.jsonl")
"$python" bench/table.py "${peak_args[@]}" "$results" | tee -a "$out/summary.txt"
"$python" bench/table.py --markdown "${peak_args[@]}" "$results" > "$out/results.md"
echo | tee -a "$out/summary.txt"
"$python" bench/table.py --targets "${peak_args[@]}" "$results" | tee -a "$out/summary.txt"
echo | tee -a "$out/summary.txt"
"$python" bench/table.py --check "$out/check.jsonl" | tee -a "$out/summary.txt" || true
echo | tee -a "$out/summary.txt"
if [ "$peak_ok" = 1 ]; then
  "$python" bench/table.py --peak "before timing" "$out/peak_before.jsonl" \
    | tee -a "$out/summary.txt"
  "$python" bench/table.py --peak "after timing" "$out/peak_after.jsonl" \
    | tee -a "$out/summary.txt"
fi
echo "limit (DESIGN.md): its figures for the 2-core AVX2 Zen 3 machines (91 GFLOP/s per core);" \
     "limit here: this machine's measured one-thread FMA peak (widest vectors) per thread" \
     "used (batch 1 included: one image is split over the threads)." | tee -a "$out/summary.txt"
say "results in $out (summary.txt, results.md, results.jsonl)"
