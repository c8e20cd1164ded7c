#!/usr/bin/env bash
# The driver's inspection flags: --dump-ir at every level shows what each stage made,
# --dump-graph=dot is Graphviz, and --interpret gives the reference interpreter's answer
# for a picture (that the interpreter and generated code agree is tested in tests/unit).
set -euo pipefail
source "$(dirname "$0")/common.bash"
cnnc=$bin/cnnc

enter_workdir
model=$tmp/small.cnn
cat > "$model" <<'MODEL'
model small
input   shape=10x10x1
conv2d  filters=8 kernel=3 padding=same activation=relu
max_pool2d
flatten
dropout rate=0.25
dense   units=3
softmax
fit     seed=7
MODEL

# graph: every layer's op with its shape.
"$cnnc" "$model" --dump-ir > "$tmp/graph.txt"
grep -q '= conv2d(%0, %1, %2) : 10x10x8' "$tmp/graph.txt" || fail "graph IR lacks the conv node"
grep -q 'probs = ' "$tmp/graph.txt" || fail "graph IR lacks its outputs"

# backward: only derived nodes, with the fused loss gradient and no input gradient.
"$cnnc" "$model" --dump-ir=backward > "$tmp/backward.txt"
grep -q 'softmax_cross_entropy_grad' "$tmp/backward.txt" || fail "no fused softmax+xent grad"
grep -q 'conv2d_grad_kernel' "$tmp/backward.txt" || fail "no conv kernel gradient"
grep -q '= dropout(.*grad/' "$tmp/backward.txt" || fail "no dropout gradient (dropout of dy)"
if grep -q 'conv2d_grad_input' "$tmp/backward.txt"; then
  fail "the input image's gradient is computed although nothing needs it"
fi
[ "$(grep -c 'param_grad = ' "$tmp/backward.txt")" = 4 ] || fail "expected 4 parameter gradients"

# train: the whole step (forward and backward) and the optimizer settings.
"$cnnc" "$model" --dump-ir=train > "$tmp/train.txt"
grep -q '= conv2d(' "$tmp/train.txt" && grep -q 'bias_grad' "$tmp/train.txt" \
  || fail "--dump-ir=train lacks the forward or the backward part"
grep -q 'optimizer=adam' "$tmp/train.txt" || fail "--dump-ir=train lacks the optimizer"

# dot: a digraph with an edge into the conv.
"$cnnc" "$model" --dump-graph=dot > "$tmp/g.dot"
head -1 "$tmp/g.dot" | grep -q '^digraph' || fail "--dump-graph=dot is not Graphviz"
grep -q 'n0 -> n3' "$tmp/g.dot" || fail "no edge from the input to the conv"

# --interpret on a picture: one probability per class, summing to 1.
python3 - "$tmp/pic.png" <<'PY'
import struct, sys, zlib
w = h = 10
rows = b''.join(b'\0' + bytes((x * 25 + y * 7) % 256 for x in range(w)) for y in range(h))
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
                              + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
PY
"$cnnc" "$model" --interpret="$tmp/pic.png" > "$tmp/interp.txt" 2> "$tmp/interp.err"
grep -q 'fresh random weights' "$tmp/interp.err" || fail "--interpret does not say its weights are fresh"
[ "$(grep -c '^class [0-2]: 0\.[0-9]*$' "$tmp/interp.txt")" = 3 ] || fail "--interpret output: $(cat "$tmp/interp.txt")"
python3 - "$tmp/interp.txt" <<'PY' || fail "--interpret probabilities do not sum to 1"
import sys
p = [float(l.split(':')[1]) for l in open(sys.argv[1])]
assert abs(sum(p) - 1) < 1e-4, p
PY
if "$cnnc" "$model" --interpret="$tmp/missing.png" 2> "$tmp/err.txt"; then
  fail "--interpret on a missing picture succeeded"
fi
grep -q 'missing.png' "$tmp/err.txt" || fail "the error does not name the picture"
echo "driver dumps and --interpret: ok"
