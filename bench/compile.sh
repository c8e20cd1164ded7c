#!/usr/bin/env bash
# Times the compiler: `cnnc MODEL -o PROG` (compile, optimise at the default -O2, link) for
# each model in models/ and for two generated deep models, and records the median wall
# time and the peak memory (maximum resident set size, from /usr/bin/time -v) of each.
# The table is printed and written into docs/benchmarks.md between the markers
# "<!-- bench/compile.sh: begin -->" and "<!-- bench/compile.sh: end -->" (the section is
# replaced on every run, or appended once if the markers are not there yet).
#
#   bench/compile.sh
#
# Environment:
#   BENCH_REPS=5        runs of each model; the median time is reported
#   BENCH_SLOW=120      a model whose first run takes longer (wall seconds) is run only
#                       once: five runs of a many-minute compile on a loaded machine would
#                       take the better part of an hour, and tell little more
#   CNNC_BUILD_DIR      build directory (default build); its bin/cnnc is timed
#   CNNC                the cnnc to time instead (its ../lib must hold the runtime)
#   BENCH_OUT           scratch directory (default $CNNC_BUILD_DIR/bench-compile)
#   BENCH_NO_DOC=1      print the table only; leave docs/benchmarks.md alone
set -euo pipefail
cd "$(dirname "$0")/.."

reps=${BENCH_REPS:-5}
slow=${BENCH_SLOW:-120}
build_dir=${CNNC_BUILD_DIR:-build}
cnnc=${CNNC:-$build_dir/bin/cnnc}
out=${BENCH_OUT:-$build_dir/bench-compile}
doc=docs/benchmarks.md
begin_marker='<!-- bench/compile.sh: begin -->'
end_marker='<!-- bench/compile.sh: end -->'

me=bench/compile.sh
# say, die and ensure_package (Debian packages, installed only when missing).
source bench/common.bash   # (the working directory is the repository root here)

ensure_package time
[ -x /usr/bin/time ] || die "/usr/bin/time not found after installing 'time'"
[ -x "$cnnc" ] || die "$cnnc not found: build first (cmake --build $build_dir) or set CNNC"
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive whole number"

# ---- the models ---------------------------------------------------------------------------

mkdir -p "$out"
rm -f "$out"/*.cnn

# Deep and narrow: compile time should grow with the layers, not faster.
{
  echo "model deep_relu25"
  echo "input shape=28x28x1"
  for _ in $(seq 25); do echo "relu"; done
  echo "flatten"
  echo "dense units=10 activation=softmax"
} >"$out/deep_relu25.cnn"
{
  echo "model deep_conv25"
  echo "input shape=28x28x1"
  for _ in $(seq 25); do echo "conv2d filters=8 kernel=3 padding=same activation=relu"; done
  echo "flatten"
  echo "dense units=10 activation=softmax"
} >"$out/deep_conv25.cnn"

models=(models/*.cnn "$out/deep_relu25.cnn" "$out/deep_conv25.cnn")

# ---- timing -------------------------------------------------------------------------------

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
max() { sort -g | tail -n 1; }

# One run: "WALL_SECONDS KILOBYTES CPU_SECONDS" of `cnnc MODEL -o PROG`, from
# /usr/bin/time -v (CPU = user + system, of cnnc and the linker it runs).
time_once() {
  local model=$1 prog=$2 report=$out/time.txt
  if ! /usr/bin/time -v -o "$report" "$cnnc" "$model" -o "$prog" >"$out/cnnc.log" 2>&1; then
    cat "$out/cnnc.log" >&2
    die "cnnc $model -o $prog failed"
  fi
  local wall kb cpu
  # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:07.12"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
                      for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$report")
  kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$report")
  cpu=$(awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ { s += $2 } END { print s }' "$report")
  [ -n "$wall" ] && [ -n "$kb" ] && [ -n "$cpu" ] || die "could not read /usr/bin/time's report"
  echo "$wall $kb $cpu"
}

rows=()
for model in "${models[@]}"; do
  name=$(basename "$model" .cnn)
  layers=$(grep -cE '^[[:space:]]*(conv2d|max_pool2d|avg_pool2d|global_avg_pool2d|flatten|dense|dropout|relu|sigmoid|tanh|softmax)([[:space:]]|$)' "$model" || true)
  say "$name ($layers layers): up to $reps runs"
  : >"$out/runs.txt"
  for _ in $(seq "$reps"); do
    time_once "$model" "$out/prog" >>"$out/runs.txt"
    awk -v slow="$slow" 'NR == 1 && $1 > slow { exit 1 }' "$out/runs.txt" || break
  done
  runs=$(wc -l <"$out/runs.txt")
  t=$(awk '{ print $1 }' "$out/runs.txt" | median)
  lo=$(awk '{ print $1 }' "$out/runs.txt" | sort -g | head -n 1)
  hi=$(awk '{ print $1 }' "$out/runs.txt" | max)
  mb=$(awk '{ print $2 }' "$out/runs.txt" | max | awk '{ printf "%.0f", $1 / 1024 }')
  cpu=$(awk '{ print $3 }' "$out/runs.txt" | median)
  shown=$model
  [[ "$model" == "$out"/* ]] && shown="generated: $name"
  [ "$runs" = "$reps" ] || shown="$shown ($runs run)"
  rows+=("$(printf '| %s | %s | %.2f | %.2f-%.2f | %.2f | %s |' "$shown" "$layers" "$t" "$lo" "$hi" "$cpu" "$mb")")
  printf '%s\n' "${rows[-1]}" >&2   # seen as it goes: a long run is not all or nothing
done
rm -f "$out/prog"

# ---- the report ---------------------------------------------------------------------------

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with local changes)" || true)
cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
section=$(
  echo "$begin_marker"
  echo "## Compile time"
  echo
  echo "\`bench/compile.sh\` times \`cnnc MODEL -o PROG\` (parse, autodiff, lower, generate, optimise"
  echo "at the default -O2, write the object and link with the runtime): the median wall time of"
  echo "$reps runs (one when the first takes over $slow s), its range, the median CPU time (user + system, which the other users of the"
  echo "machine disturb less than the wall time), and the largest peak memory (maximum resident"
  echo "set size) of those runs. The deep"
  echo "models are generated by the script: 25 \`relu\` layers, and 25 \`conv2d filters=8 kernel=3"
  echo "padding=same activation=relu\` layers, each on a 28x28x1 input followed by flatten and dense."
  echo
  echo "Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit$dirty, $(nproc) cores ($cpu_model),"
  echo "a machine shared with other work (load average $(cut -d' ' -f1-3 /proc/loadavg) at the end),"
  echo "so the wall times can be several times the CPU times."
  echo
  echo "| Model | Layers | Median wall (s) | Range (s) | Median CPU (s) | Peak memory (MB) |"
  echo "|---|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Goals (issue 9): models/mnist.cnn in at most 0.5 s, every model in models/ in at most 1 s,"
  echo "the 25-layer models in at most 2 s and 300 MB."
  echo "$end_marker"
)
printf '%s\n' "$section"

if [ "${BENCH_NO_DOC:-0}" != 1 ]; then
  tmp=$doc.tmp.$$
  if grep -qF "$begin_marker" "$doc" && grep -qF "$end_marker" "$doc"; then
    # Replace the old section: keep what is before the begin marker and after the end one.
    printf '%s\n' "$section" >"$out/section.md"
    awk -v b="$begin_marker" -v e="$end_marker" -v file="$out/section.md" '
      $0 == b { while ((getline line < file) > 0) print line; skip = 1; next }
      $0 == e { skip = 0; next }
      !skip { print }' "$doc" >"$tmp"
  else
    { cat "$doc"; echo; printf '%s\n' "$section"; } >"$tmp"
  fi
  mv "$tmp" "$doc"
  say "wrote the figures into $doc"
fi
