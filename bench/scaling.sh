#!/usr/bin/env bash
# How cost grows: inference throughput against batch size (1, 4, 16, 64, 256), threads
# (1, 2) and model size (models/lenet5.cnn, models/mnist.cnn, bench/models/cifar64.cnn: 0.8, 7.7
# and 143 MFLOP per image) for cnnc and, on models/mnist.cnn, ONNX Runtime; prints a table
# and draws the curves as PNG charts with the runtime's chart code (bench/chart_tool.c)
# into docs/ (docs/benchmarks.md shows them).
#
#   bench/scaling.sh
#
# Environment:
#   BENCH_REPS=3        interleaved rounds (every configuration once per round); medians
#   BENCH_SECONDS=0.5   minimum duration of one timed repetition
#   BENCH_SKIP_BUILD=1  use the existing build
#   CNNC_BUILD_DIR      build directory (default build)
#   BENCH_OUT           where results go (default $CNNC_BUILD_DIR/bench/scaling)
#   SCALING_CHARTS      where the charts go (default docs)
#
# ONNX Runtime runs models/mnist.cnn only: its ONNX file is built by bench/onnx_mnist.py,
# which knows that model's layers (cnnc's own ONNX export will cover the others).
set -euo pipefail
cd "$(dirname "$0")/.."

me=bench/scaling.sh
source bench/common.bash

reps=${BENCH_REPS:-3}
seconds=${BENCH_SECONDS:-0.5}
build_dir=${CNNC_BUILD_DIR:-build}
out=${BENCH_OUT:-$build_dir/bench/scaling}
charts=${SCALING_CHARTS:-docs}
python=/usr/bin/python3
models=(models/lenet5.cnn models/mnist.cnn bench/models/cifar64.cnn)
batches=(1 4 16 64 256)

ensure_package python3-onnx
ensure_package nodejs
command -v npm >/dev/null 2>&1 || ensure_package npm

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  say "building cnnc (scripts/build.sh)"
  CNNC_BUILD_DIR=$build_dir scripts/build.sh >&2
fi
mkdir -p "$out" "$charts"
: > "$out/flops.txt"
for m in "${models[@]}"; do
  name=$(basename "$m" .cnn)
  build_bench_cnnc "$build_dir" "$m" "$out/$name"   # bench/common.bash
  flops=$("$build_dir/bin/cnnc" "$m" --summary | sed -n 's/.*Total FLOPs: \([0-9,]*\) per image.*/\1/p' | tr -d ,)
  [ -n "$flops" ] || die "cnnc $m --summary printed no 'Total FLOPs'"
  echo "$name $flops" >> "$out/flops.txt"
done
cc -std=c11 -O2 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I runtime \
  bench/chart_tool.c "$build_dir/lib/libcnnrt.a" -lpng -ljpeg -lgif -lz -lm -lpthread \
  -o "$out/chart_tool"

# ONNX Runtime on models/mnist.cnn, with the weights bench_cnnc uses.
ensure_onnxruntime "$build_dir/bench/ort" 1.30.0   # bench/common.bash
rm -rf "$out/check" && mkdir -p "$out/check"
"$out/mnist/bench_cnnc" --check-dir "$out/check" >/dev/null
"$python" bench/onnx_mnist.py "$out/check/weights.bin" "$out/mnist.onnx" >&2

# Interleaved rounds; every line of results.txt is "MODEL THREADS JSON".
results=$out/results.txt
: > "$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
batch_list=$(IFS=,; echo "${batches[*]}")
for round in $(seq 1 "$reps"); do
  for threads in 1 2; do
    for m in "${models[@]}"; do
      name=$(basename "$m" .cnn)
      say "round $round of $reps: cnnc $name, $threads thread(s)"
      for b in "${batches[@]}"; do
        "$out/$name/bench_cnnc" --only infer --batch "$b" --threads "$threads" --reps 1 \
          --seconds "$seconds" | grep '"bench"' | sed "s/^/$name $threads /" >> "$results"
      done
    done
    say "round $round of $reps: ONNX Runtime mnist, $threads thread(s)"
    node bench/ort_mnist.js bench --model "$out/mnist.onnx" --threads "$threads" --reps 1 \
      --seconds "$seconds" --batches "$batch_list" | grep '"bench"' \
      | sed "s/^/mnist $threads /" >> "$results"
  done
done

{
  echo "inference throughput, medians of $reps interleaved rounds of >= ${seconds}s;" \
       "$(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) CPUs;" \
       "load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg);" \
       "$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  "$python" bench/scaling.py --flops "$out/flops.txt" --charts "$charts" \
    --chart-tool "$out/chart_tool" "$results"
} | tee "$out/summary.md"
say "results in $out (summary.md, results.txt); charts in $charts"
