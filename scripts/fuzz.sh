#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, -fsanitize=fuzzer,address,undefined) and
# runs each for SECONDS (default 60). Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Targets: model idx png weights cmdline picture folder (all by default).
#
# Each target starts from its seeds (tests/fuzz/corpus/<target>) plus what earlier runs
# found, kept in a working corpus outside the repository ($CNNC_FUZZ_WORK, default
# build-fuzz/corpus/<target>), so the repository stays clean. An input that crashes a target,
# trips a sanitizer, runs out of memory or time is saved into tests/fuzz/crashes/<target>/
# (libFuzzer names it crash-*, oom-*, timeout-* or leak-*) and the script fails. Keep such a
# file there once the bug is fixed: ctest replays every file in it (fuzz_replay_<target>).
# The mutations start from a fixed seed (CNNC_FUZZ_SEED, default 1), so that the same tree
# fuzzes the same inputs in CI; CNNC_FUZZ_SEED=0 lets libFuzzer pick one (long runs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(model idx png weights cmdline picture folder); fi
build_dir=${CNNC_FUZZ_BUILD_DIR:-build-fuzz}
# Absolute paths: the cmdline target runs in a directory of its own.
work=$(realpath -m "${CNNC_FUZZ_WORK:-$build_dir/corpus}")

# libFuzzer comes with clang's compiler-rt (Debian: libclang-rt-N-dev for clang N).
scripts/install-deps.sh clang
fuzzer_links() {
  local probe
  probe=$(mktemp -d)
  printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    > "$probe/probe.c"
  clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2>/dev/null
  local rc=$?
  rm -rf "$probe"
  return $rc
}
if ! fuzzer_links; then
  clang_major=$(clang -dumpversion | cut -d. -f1)
  scripts/install-deps.sh "libclang-rt-$clang_major-dev"
  fuzzer_links || { echo "fuzz.sh: clang cannot link libFuzzer programs" >&2; exit 1; }
fi

CC=clang cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCNNC_FUZZ=ON \
  -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)" \
  --target "${targets[@]/#/fuzz_}"

# Longest input each target is given: a little more than its largest seed.
max_len() {
  case $1 in
    weights) echo 32768 ;;
    cmdline) echo 1024 ;;
    *) echo 8192 ;;
  esac
}

failed=()
for t in "${targets[@]}"; do
  crashes=$PWD/tests/fuzz/crashes/$t
  mkdir -p "$work/$t" "$crashes"
  before=$(ls "$crashes" | wc -l)
  echo "== fuzzing $t for ${seconds}s (corpus $work/$t) =="
  # -close_fd_mask=3: the targets' own messages about bad input are expected; libFuzzer
  # still reports crashes. Exit status non-zero: a finding, saved in $crashes.
  if ! "$build_dir/bin/fuzz_$t" -seed="${CNNC_FUZZ_SEED:-1}" -max_total_time="$seconds" \
        -max_len="$(max_len "$t")" \
        -timeout=20 -rss_limit_mb=2048 -close_fd_mask=3 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$work/$t" "$PWD/tests/fuzz/corpus/$t" \
        > "$work/$t.log" 2>&1; then
    tail -n 40 "$work/$t.log" >&2
    failed+=("$t")
  fi
  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/$t.log" || true
  after=$(ls "$crashes" | wc -l)
  if [ "$after" -gt "$before" ]; then
    echo "fuzz.sh: $t: new inputs in $crashes:" >&2
    ls -t "$crashes" | head -n $((after - before)) >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]} (see tests/fuzz/crashes/)" >&2
  exit 1
fi
echo "fuzz.sh: no findings in ${targets[*]} (${seconds}s each)"
