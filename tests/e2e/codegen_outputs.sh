#!/usr/bin/env bash
# The outputs of cnnc's back end from the command line: -c (object + header that a C
# program compiles against and links), -S, --emit-llvm, --dump-ir=lowered, -O0..-O3,
# --target-cpu, -o PROG (a linked program that runs), and clear errors for an unwritable
# output.
set -euo pipefail
source "$(dirname "$0")/common.bash"
cnnc=$bin/cnnc
lib=$bin/../lib

enter_workdir
model=$tmp/tiny.cnn
cat > "$model" <<'MODEL'
model tiny
input   shape=12x12x1
conv2d  filters=8 kernel=3 padding=same activation=relu
max_pool2d
flatten
dense   units=4
softmax
MODEL

# --emit-llvm: textual IR with the entry points and the descriptor.
"$cnnc" "$model" --emit-llvm -O0 -o "$tmp/tiny.ll"
grep -q 'define void @tiny_infer' "$tmp/tiny.ll" || fail "no tiny_infer in the IR"
grep -q '@tiny_model = constant' "$tmp/tiny.ll" || fail "no descriptor in the IR"
if command -v llvm-as-19 >/dev/null; then
  llvm-as-19 "$tmp/tiny.ll" -o /dev/null || fail "the emitted IR does not assemble"
fi

# -S: assembly for a portable CPU.
"$cnnc" "$model" -S -O3 --target-cpu=x86-64-v3 -o "$tmp/tiny.s"
grep -q 'tiny_infer' "$tmp/tiny.s" || fail "no tiny_infer in the assembly"

# --dump-ir=lowered: the kernel list with the fused conv and the arena size.
"$cnnc" "$model" --dump-ir=lowered -O0 > "$tmp/lowered.txt"
grep -q 'conv2d+relu' "$tmp/lowered.txt" || fail "no fused conv2d+relu in the lowered dump"
grep -q 'arena' "$tmp/lowered.txt" || fail "no arena size in the lowered dump"

# -c: object + header, used by a C program linked with the whole runtime (examples/embed,
# with the runtime core only, is tested by embed_core.sh).
"$cnnc" "$model" -c -O1 -o "$tmp/tiny.o"
[ -f "$tmp/tiny.h" ] || fail "-c wrote no header"
grep -q 'extern const cnnrt_model tiny_model;' "$tmp/tiny.h" || fail "header lacks the descriptor"
cat > "$tmp/use.c" <<'C'
#include <stdio.h>
#include "cnnrt_pool.h"
#include "tiny.h"
int main(void)
{
    static float params[TINY_PARAM_FLOATS], x[12 * 12], probs[TINY_NUM_CLASSES];
    float *ws = cnnrt_aligned_alloc(TINY_WS_BYTES);
    tiny_infer(params, x, 1, probs, NULL, ws, NULL);   /* zero weights: 1/4 each */
    printf("model %s: %.2f\n", tiny_model.name, probs[0]);
    return 0;
}
C
cc -std=c11 -Wall -Werror -I"$tmp" -I"$src/runtime" "$tmp/use.c" "$tmp/tiny.o" \
   "$lib/libcnnrt.a" -lpng -ljpeg -lgif -lz -lm -lpthread -o "$tmp/use" ||
  fail "a program does not build against the header and libcnnrt"
[ "$("$tmp/use")" = "model tiny: 0.25" ] || fail "the program using the header printed $("$tmp/use")"

# -o: a native program linked with the runtime.
"$cnnc" "$model" -O0 -o "$tmp/tiny_prog"
"$tmp/tiny_prog" summary | grep -q 'tiny' || fail "the linked program's summary failed"
ls "$tmp" | grep -q 'cnnc-.*\.o$' && fail "a temporary object file was left behind"

# Unwritable outputs are clear errors, with a non-zero exit.
for flag in -c -S --emit-llvm ""; do
  if out=$("$cnnc" "$model" $flag -O0 -o /nonexistent-dir/out 2>&1); then
    fail "writing to /nonexistent-dir succeeded with '$flag'"
  fi
  echo "$out" | grep -q "nonexistent-dir" || fail "the error for '$flag' does not name the path: $out"
done
echo "ok"
