#!/usr/bin/env bash
# Builds a trained model into a self-contained program for this machine, an aarch64 Linux
# machine or WebAssembly: the weights inside the object (--embed-weights), the runtime core
# (runtime/cnnrt_core.h) and nothing but libc and libm.
#
#   scripts/cross-build.sh TARGET MODEL.cnn WEIGHTS OUT_DIR [cnnc options...]
#
#   TARGET  host                OUT_DIR/classify, examples/embed/main.c linked with -lm only
#           aarch64-linux-gnu   OUT_DIR/classify for aarch64 (static; runs on this machine
#                               with `qemu-aarch64 OUT_DIR/classify`)
#           wasm32              OUT_DIR/NAME.wasm, examples/wasm/model_exports.c: no imports,
#                               run it with `node examples/wasm/run.mjs OUT_DIR/NAME.wasm`
#           web                 the draw-a-digit page: `cnnc MODEL --web OUT_DIR --weights
#                               WEIGHTS` (compiler/web.h) writes OUT_DIR/index.html, page.js,
#                               NAME.wasm and NAME.wasm.js; open index.html or serve OUT_DIR;
#                               its test-set examples come from $CNNC_DATA or data/mnist
#   cnnc options are passed on (not for web), e.g. --no-train (the default) or --no-gradcam.
#
# OUT_DIR also gets the object NAME.o and its header NAME.h. The tools are installed when
# missing (scripts/install-cross.sh); cnnc is $CNNC, else build/bin/cnnc, else the one on
# PATH. Why these tools: Debian's aarch64-linux-gnu-gcc brings the arm64 glibc; for wasm32,
# clang-19 compiles the core and wasi-libc provides memcpy, memset, exp, log, powf and
# malloc as plain wasm32 code, so the module needs no imports (no WASI calls are linked).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
me=cross-build.sh

if [ $# -lt 4 ]; then
  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
target=$1 model=$2 weights=$3 out=$4
shift 4
cnnc_options=(--no-train "$@")

cnnc=${CNNC:-}
if [ -z "$cnnc" ]; then
  if [ -x "$root/build/bin/cnnc" ]; then cnnc=$root/build/bin/cnnc; else cnnc=$(command -v cnnc || true); fi
fi
[ -n "$cnnc" ] && [ -x "$cnnc" ] || { echo "$me: no cnnc found (build it, or set CNNC)" >&2; exit 1; }

if [ "$target" = web ]; then   # cnnc does it all; the wasm32 tools are needed to build cnnc
  exec "$cnnc" "$model" --web "$out" --weights "$weights"
fi

case "$target" in
  host) ;;
  aarch64-linux-gnu|aarch64) target=aarch64-linux-gnu; "$here/install-cross.sh" aarch64 ;;
  wasm32) "$here/install-cross.sh" wasm32 ;;
  *) echo "$me: unknown target '$target' (host, aarch64-linux-gnu, wasm32 or web)" >&2; exit 2 ;;
esac

mkdir -p "$out"
name=$(basename "$model" .cnn)
object=$out/$name.o
target_flag=()
case "$target" in host) ;; *) target_flag=(--target "$target") ;; esac
"$cnnc" "$model" -c "${target_flag[@]}" --embed-weights "$weights" "${cnnc_options[@]}" \
  -o "$object"
# The model's C prefix, as the header declares its descriptor.
prefix=$(sed -n 's/^extern const cnnrt_model \(.*\)_model;$/\1/p' "$out/$name.h")
[ -n "$prefix" ] || { echo "$me: $out/$name.h declares no model" >&2; exit 1; }
defines=(-I"$out" -I"$root/runtime" -DMODEL_HEADER="\"$name.h\"" -DMODEL="$prefix")
core=("$root/runtime/core_serial.c" "$root/runtime/core.c")
flags=(-std=c11 -O2 -Wall -Wextra -Werror)

case "$target" in
  host)
    cc "${flags[@]}" "${defines[@]}" "$root/examples/embed/main.c" "$object" "${core[@]}" \
      -lm -o "$out/classify"
    echo "Wrote $out/classify (this machine; libc and libm only)"
    ;;
  aarch64-linux-gnu)
    aarch64-linux-gnu-gcc "${flags[@]}" -static "${defines[@]}" "$root/examples/embed/main.c" \
      "$object" "${core[@]}" -lm -o "$out/classify"
    echo "Wrote $out/classify (aarch64 Linux, static; run: qemu-aarch64 $out/classify)"
    ;;
  wasm32)
    sources=("${core[@]}" "$root/examples/wasm/model_exports.c")
    parts=()
    for source in "${sources[@]}"; do
      part=$out/$(basename "$source" .c).wasm32.o
      clang-19 --target=wasm32-wasi -msimd128 -DCNNRT_NO_PNG "${flags[@]}" "${defines[@]}" -c "$source" \
        -o "$part"
      parts+=("$part")
    done
    # --no-entry: a library module (the page calls its exports); the stack (1 MiB) holds
    # the entry points' small frames, the workspace is allocated from the heap.
    wasm-ld-19 --no-entry -z stack-size=1048576 "$object" "${parts[@]}" \
      -L/usr/lib/wasm32-wasi -lc -o "$out/$name.wasm"
    rm -f "${parts[@]}"
    echo "Wrote $out/$name.wasm (WebAssembly; run: node examples/wasm/run.mjs $out/$name.wasm PICTURE.raw)"
    ;;
esac
