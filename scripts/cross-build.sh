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
#           web                 OUT_DIR/index.html, page.js and NAME.wasm (wasm32 plus the
#                               runtime's digit preparation, web/digit_exports.c): the
#                               draw-a-digit page; serve OUT_DIR, e.g. with
#                               `python3 -m http.server -d OUT_DIR`; its test-set examples
#                               come from CNNC_WEB_DIGITS and CNNC_WEB_LABELS (IDX files,
#                               default data/mnist/t10k-*)
#   cnnc options are passed on, e.g. --no-train (the default here) or --no-gradcam.
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
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
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

case "$target" in
  host) ;;
  aarch64-linux-gnu|aarch64) target=aarch64-linux-gnu; "$here/install-cross.sh" aarch64 ;;
  wasm32|web) "$here/install-cross.sh" wasm32 ;;
  *) echo "$me: unknown target '$target' (host, aarch64-linux-gnu, wasm32 or web)" >&2; exit 2 ;;
esac

mkdir -p "$out"
name=$(basename "$model" .cnn)
object=$out/$name.o
target_flag=()
case "$target" in host) ;; web) target_flag=(--target wasm32) ;; *) target_flag=(--target "$target") ;; esac
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
  wasm32|web)
    sources=("${core[@]}" "$root/examples/wasm/model_exports.c")
    # The page's module also prepares a drawn digit with the runtime's own code (no PNG).
    [ "$target" = web ] && sources+=("$root/web/digit_exports.c" "$root/runtime/resize.c"
                                     "$root/runtime/image.c")
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
    if [ "$target" = web ]; then
      rm -f "$object" "$out/$name.h"
      python3 "$root/web/make_page.py" "$root/web" "$out" "$name.wasm" \
        "${CNNC_WEB_DIGITS:-$root/data/mnist/t10k-images-idx3-ubyte}" \
        "${CNNC_WEB_LABELS:-$root/data/mnist/t10k-labels-idx1-ubyte}"
      echo "Wrote $out/index.html (serve $out, e.g. python3 -m http.server -d $out)"
      exit 0
    fi
    echo "Wrote $out/$name.wasm (WebAssembly; run: node examples/wasm/run.mjs $out/$name.wasm PICTURE.raw)"
    ;;
esac
