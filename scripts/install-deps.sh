#!/usr/bin/env bash
# Installs the Debian packages cnnc needs to build and test, only those that are missing
# (python3: the end-to-end tests use its standard library to make and check PNG files;
# clang-19, lld-19 and wasi-libc: the runtime built for WebAssembly, for `cnnc --web`;
# libzstd-dev: LLVM's static libraries, which cnnc links, call zstd).
# Safe to run again and again. Usage: scripts/install-deps.sh [extra-package ...]
set -euo pipefail

packages=(build-essential cmake pkg-config flex bison llvm-19-dev libzstd-dev libcmocka-dev
          libpng-dev libjpeg62-turbo-dev libgif-dev zlib1g-dev libprotobuf-c-dev protobuf-c-compiler
          nodejs npm python3 clang-19 lld-19 wasi-libc "$@")

missing=()
for p in "${packages[@]}"; do
  # npm is satisfied by any npm on PATH (the machine's Node.js may bring its own).
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "Installing missing packages: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
"${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
