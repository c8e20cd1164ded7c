#!/usr/bin/env bash
# --target on the command line, without any cross tool: objects, assembly and IR for
# aarch64 and wasm32 come from LLVM itself; an architecture LLVM cannot emit, a linked
# program for another machine and --embed-weights without -c are clear errors; the host's
# own triple still links a program; --no-train and --no-gradcam leave the entry points out.
# Needs no data set.
set -euo pipefail
source "$(dirname "$0")/common.bash"
cnnc=$bin/cnnc
enter_workdir
cat > tiny.cnn <<'MODEL'
model tiny
input   shape=12x12x1
conv2d  filters=8 kernel=3 padding=same activation=relu
max_pool2d
flatten
dense   units=4
softmax
MODEL

"$cnnc" tiny.cnn -c -O1 --target aarch64-linux-gnu -o arm.o
od -A n -t x1 -j 18 -N 2 arm.o | grep -q 'b7 00' || fail "arm.o is not an aarch64 ELF object"
grep -q 'for aarch64-linux-gnu' arm.h || fail "the header does not say which machine it is for"
"$cnnc" tiny.cnn -c -O1 --target=wasm32 -o web.o
[ "$(head -c 4 web.o | od -A n -t x1 | tr -d ' ')" = 0061736d ] || fail "web.o is not WebAssembly"
"$cnnc" tiny.cnn -S -O1 --target wasm32 -o web.s
grep -q 'f32x4' web.s || fail "wasm32 code without 128-bit SIMD"
"$cnnc" tiny.cnn --emit-llvm -O0 --target aarch64-linux-gnu -o arm.ll
grep -q '^target triple = "aarch64-unknown-linux-gnu"' arm.ll || fail "the IR's triple: $(grep triple arm.ll)"

# Errors, each naming what is wrong.
if out=$("$cnnc" tiny.cnn -c --target z80-unknown-none -o z.o 2>&1); then fail "--target z80 worked"; fi
grep -q "cannot generate code for 'z80-unknown-none'" <<<"$out" || fail "unknown target: $out"
grep -q 'aarch64' <<<"$out" || fail "the error does not list the known targets: $out"
[ -e z.o ] && fail "an object was written for an unknown target"
if out=$("$cnnc" tiny.cnn --target aarch64-linux-gnu -o prog 2>&1); then
  fail "a program was linked for another machine"
fi
grep -q -- '--target makes an object to embed.*add -c' <<<"$out" || fail "no hint to use -c: $out"
if out=$("$cnnc" tiny.cnn -c --embed-weights missing.weights -o m.o 2>&1); then
  fail "a missing weights file was embedded"
fi
grep -q 'missing.weights' <<<"$out" || fail "the error does not name the weights file: $out"

# The host's own triple is the host: a program still links.
"$cnnc" tiny.cnn -O0 --target "$(cc -dumpmachine)" -o host_prog
./host_prog summary | grep -q tiny || fail "the host program does not run"

# --no-train / --no-gradcam: the header and the program know.
"$cnnc" tiny.cnn -c -O0 --no-train --no-gradcam -o small.o
grep -q 'tiny_train_step\|tiny_gradcam' small.h && fail "--no-train --no-gradcam kept entry points"
"$cnnc" tiny.cnn -O0 --no-train -o notrain
if out=$(./notrain train 2>&1); then fail "a program without a training step trained"; fi
grep -q 'compiled without a training step' <<<"$out" || fail "train without a step: $out"
echo "ok"
