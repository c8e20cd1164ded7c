#!/usr/bin/env bash
# Installs what cross-compiled and embedded builds need, only what is missing (Debian
# packages, through scripts/install-deps.sh). Safe to run again and again.
#   scripts/install-cross.sh aarch64   Debian's cross gcc and arm64 libc, qemu-user to run
#                                      the programs on this machine
#   scripts/install-cross.sh wasm32    clang-19 (compiles the runtime core for wasm32),
#                                      lld-19 (wasm-ld), wasi-libc (libc and libm for
#                                      wasm32: memcpy, memset, exp, log, powf, malloc),
#                                      Node.js to run the module
#   scripts/install-cross.sh all       both (the default)
# Prints what it installs; exits non-zero, naming the package, when one cannot be installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

aarch64=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
wasm32=(clang-19 lld-19 wasi-libc nodejs)
case "${1:-all}" in
  aarch64) packages=("${aarch64[@]}") ;;
  wasm32) packages=("${wasm32[@]}") ;;
  all) packages=("${aarch64[@]}" "${wasm32[@]}") ;;
  *) echo "usage: scripts/install-cross.sh [aarch64|wasm32|all]" >&2; exit 2 ;;
esac
if ! "$here/install-deps.sh" "${packages[@]}"; then
  echo "install-cross.sh: could not install ${packages[*]} (see the apt-get messages above)" >&2
  exit 1
fi
