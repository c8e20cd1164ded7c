#!/usr/bin/env bash
# Where the time goes: per-kernel CPU time and achieved GFLOP/s of the code cnnc generates,
# for inference (batch 256 and 1), the training step (batch 64, Adam) and Grad-CAM (batch 1),
# so that the gap to the FMA peak is visible kernel by kernel (docs/benchmarks.md).
#
#   bench/profile.sh [MODEL.cnn]        (default models/mnist.cnn)
#
# Environment:
#   BENCH_THREADS=2     threads of cnnc's pool (CPU time is summed over them)
#   BENCH_SECONDS=2     duration of each profiled benchmark
#   BENCH_SKIP_BUILD=1  use the existing build
#   CNNC_BUILD_DIR      build directory (default build)
#   BENCH_OUT           where results go (default $CNNC_BUILD_DIR/bench/profile)
#   BENCH_ONLY          profile only these benchmarks (e.g. "train" or "infer gradcam")
#
# It samples bench_cnnc with `perf record -e cpu-clock` (Debian's linux-perf, installed
# when missing) on synthetic images, and bench/profile.py joins the samples with the kernel
# list of `cnnc --dump-ir=lowered` through the calls in the disassembly of the workers.
set -euo pipefail
cd "$(dirname "$0")/.."

me=bench/profile.sh
source bench/common.bash

model_file=${1:-models/mnist.cnn}
threads=${BENCH_THREADS:-2}
seconds=${BENCH_SECONDS:-2}
build_dir=${CNNC_BUILD_DIR:-build}
out=${BENCH_OUT:-$build_dir/bench/profile}
python=/usr/bin/python3

command -v perf >/dev/null 2>&1 || ensure_package linux-perf
command -v objdump >/dev/null 2>&1 || ensure_package binutils
[ -f "$model_file" ] || die "$model_file: no such model file"

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  say "building cnnc (scripts/build.sh)"
  CNNC_BUILD_DIR=$build_dir scripts/build.sh >&2
fi
mkdir -p "$out"
model=$(awk '$1 == "model" { print $2; exit }' "$model_file")
[ -n "$model" ] || die "$model_file has no 'model NAME' line"
build_bench_cnnc "$build_dir" "$model_file" "$out"   # bench/common.bash
"$build_dir/bin/cnnc" "$model_file" --dump-ir=lowered > "$out/lowered.txt"
objdump -d --no-show-raw-insn "$out/$model.o" > "$out/disasm.txt"

peak_args=()
if cc -std=c11 -O2 -march=native -D_POSIX_C_SOURCE=200809L -pthread bench/fma_peak.c \
     -o "$out/fma_peak" 2>/dev/null; then
  "$out/fma_peak" 1 cpu > "$out/peak.jsonl"   # per CPU second, as the profile's times
  peak_args=(--peak "$out/peak.jsonl")
fi

# bench program batch: one profile each
runs=("infer infer 256" "infer infer 1" "train train_step 64" "gradcam gradcam 1")
: > "$out/profile.txt"
: > "$out/profile.md"
only=" ${BENCH_ONLY:-infer train gradcam} "
for run in "${runs[@]}"; do
  read -r bench program batch <<< "$run"
  [[ "$only" == *" $bench "* ]] || continue
  name=$bench-b$batch
  say "profiling $bench, batch $batch ($threads threads, ${seconds}s)"
  # Sampling starts disabled; bench_cnnc enables it around its timed calls only.
  rm -f "$out/ctl.fifo" "$out/ack.fifo" && mkfifo "$out/ctl.fifo" "$out/ack.fifo"
  perf record -q -e cpu-clock -F 4999 -D -1 --control "fifo:$out/ctl.fifo,$out/ack.fifo" \
    -o "$out/$name.perf" -- \
    "$out/bench_cnnc" --only "$bench" --batch "$batch" --threads "$threads" --reps 1 \
    --seconds "$seconds" --perf-ctl "$out/ctl.fifo,$out/ack.fifo" \
    > "$out/$name.jsonl" 2> "$out/$name.perf.log" ||
    die "perf record failed (see $out/$name.perf.log; kernel.perf_event_paranoid?)"
  perf report -i "$out/$name.perf" --stdio --sort sym -F period,sym -q --percent-limit 0 \
    2>/dev/null > "$out/$name.report"
  args=(--model "$model" --program "$program" --lowered "$out/lowered.txt"
        --disasm "$out/disasm.txt" --perf "$out/$name.report" --bench "$out/$name.jsonl"
        "${peak_args[@]}")
  "$python" bench/profile.py "${args[@]}" | tee -a "$out/profile.txt"
  echo | tee -a "$out/profile.txt"
  {
    echo "#### $("$python" bench/profile.py "${args[@]}" | sed -n 1p)"
    echo
    "$python" bench/profile.py "${args[@]}" --markdown
    echo
  } >> "$out/profile.md"
done
{
  echo "$model_file, $threads threads, $(lscpu | sed -n 's/^Model name: *//p' | head -n 1)," \
       "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
  [ ${#peak_args[@]} -gt 0 ] &&
    echo "one core's fp32 FMA peak per CPU second (bench/fma_peak 1 cpu): $(
      "$python" -c 'import json,sys; print(", ".join("{}-bit {:.0f} GFLOP/s".format(r["vector_bits"], r["gflops"]) for r in map(json.loads, sys.stdin) if r["threads"] == 1))' < "$out/peak.jsonl")"
} | tee -a "$out/profile.txt"
rm -f "$out/ctl.fifo" "$out/ack.fifo"
say "results in $out (profile.txt, profile.md)"
