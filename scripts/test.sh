#!/usr/bin/env bash
# The test suite: installs what is missing, builds, gets the default digits, runs every
# test with ctest, then the unit tests again under AddressSanitizer + UBSan, then each fuzz
# target briefly (CNNC_CI_FUZZ_SECONDS each, default 30: 3.5 minutes for the 7 targets,
# within the 5 allowed; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-mpi.sh         # Open MPI, for the mpirun tests (tests/e2e/mpi_*.sh)
scripts/install-browser.sh >/dev/null   # chromium and puppeteer-core, for the browser tests
scripts/get-data.sh
CNNC_BUILD_DIR=build scripts/build.sh
(cd build && ctest --output-on-failure --timeout 900 -j "$(nproc)")

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DCNNC_SANITIZE=ON >/dev/null
cmake --build build-sanitize --parallel "$(nproc)"
(cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure --timeout 1800 -j "$(nproc)")

fuzz_seconds=${CNNC_CI_FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" -gt 0 ]; then
  echo "== each reader fuzzed for ${fuzz_seconds}s (scripts/fuzz.sh) =="
  scripts/fuzz.sh "$fuzz_seconds"
fi
