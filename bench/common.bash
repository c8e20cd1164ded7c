# Shared by the benchmark scripts (sourced, not run). The sourcing script sets `me` (its
# name, for messages) first.
#   say MSG             a progress line on standard error
#   die MSG             an error naming the script, then exit 1
#   ensure_package PKG  installs a Debian package when it is missing (benchmarks only: the
#                       peers and tools they need are never dependencies of cnnc)
#   build_bench_cnnc    compiles a model and links bench/bench_cnnc.c with it (below)
#   ensure_onnxruntime  installs onnxruntime-node from npm for the benchmarks (below)

say() { printf '== %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "${me:?}" "$*" >&2; exit 1; }

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

ensure_package() {
  is_installed "$1" && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "package $1 is missing and this is not root (no sudo)"
    sudo=sudo
  fi
  say "installing $1 (Debian package, for the benchmark only)"
  if ! apt-cache show "$1" >/dev/null 2>&1; then
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "$1" >&2 || die "could not install $1"
}

# build_bench_cnnc BUILD_DIR MODEL.cnn OUT: compiles the model to OUT/NAME.o and NAME.h
# (`cnnc -c`; NAME is the model file's `model` line) and links bench/bench_cnnc.c with them
# and BUILD_DIR's libcnnrt as OUT/bench_cnnc. Same flags as the runtime (C11, -O2);
# -march=native is not needed: the timed code is cnnc's, tuned for the host CPU.
build_bench_cnnc() {
  local build=$1 model_file=$2 dir=$3 name
  name=$(awk '$1 == "model" { print $2; exit }' "$model_file")
  [ -n "$name" ] || die "$model_file has no 'model NAME' line"
  [ -x "$build/bin/cnnc" ] || die "$build/bin/cnnc was not built"
  [ -f "$build/lib/libcnnrt.a" ] || die "$build/lib/libcnnrt.a was not built"
  mkdir -p "$dir"
  say "compiling $model_file to an object file ($build/bin/cnnc)"
  "$build/bin/cnnc" "$model_file" -c -o "$dir/$name.o" >&2
  [ -f "$dir/$name.h" ] || die "cnnc -c did not write $dir/$name.h"
  cc -std=c11 -O2 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -I runtime -I "$dir" -DBENCH_MODEL_HEADER="\"$name.h\"" -DBENCH_MODEL="${name}_model" \
    bench/bench_cnnc.c "$dir/$name.o" "$build/lib/libcnnrt.a" -lpng -ljpeg -lgif -lz -lm \
    -lpthread -o "$dir/bench_cnnc"
}

# ensure_onnxruntime DIR VERSION: ONNX Runtime from the npm registry, for the benchmarks
# only, installed into DIR (idempotent: a second run finds it in place); exports
# ORT_NODE_MODULES for bench/ort_mnist.js.
ensure_onnxruntime() {
  local dir=$1 version=$2
  local modules=$dir/node_modules
  if [ ! -f "$modules/onnxruntime-node/package.json" ] ||
     ! grep -q "\"version\": \"$version\"" "$modules/onnxruntime-node/package.json"; then
    say "installing onnxruntime-node@$version from npm (--ignore-scripts, benchmark only)"
    mkdir -p "$dir"
    npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --silent \
      "onnxruntime-node@$version" >&2 || die "could not install onnxruntime-node"
  fi
  ORT_NODE_MODULES=$(realpath "$modules")
  export ORT_NODE_MODULES
}
