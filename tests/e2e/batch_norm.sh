#!/usr/bin/env bash
# batch_norm in a compiled program (the arithmetic is checked against the interpreter in
# tests/unit/test_batch_norm.c): a conv-BN-ReLU model trains on 1,000 digits without NaN
# and learns, its summary counts the moving statistics as non-trainable, the moving
# statistics in the saved weights have left their initial values (0 and 1), evaluate and
# gradcam run on the folded inference, and both exporters write it (their round trips
# through ONNX Runtime and TensorFlow.js are checked by onnx_export.sh and tfjs_export.sh).
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir

digit_subset sub 1000 200
cat > bn.cnn <<'CNN'
model bn
input shape=28x28x1
conv2d filters=8 kernel=3 use_bias=false
batch_norm momentum=0.9
relu
max_pool2d
flatten
dense units=10
softmax
compile loss=categorical_crossentropy optimizer=adam metrics=acc
fit epochs=1 batch_size=32 validation_split=0.1
CNN
"$bin/cnnc" bn.cnn -O1 -o bn || fail "cnnc bn.cnn"
out=$(./bn summary)
# conv 72, batch_norm 32 (16 non-trainable), dense 13,530
grep -q "^Total params: 13,634$" <<<"$out" || fail "summary: $out"
grep -q "^Non-trainable params: 16" <<<"$out" || fail "summary: $out"

./bn train --epochs 2 --threads 2 --quiet --data sub --weights bn.weights || fail "train"
awk -F, 'NR > 1 { for (i = 2; i <= 5; i++) if ($i !~ /^[0-9]+\.[0-9]+$/) exit 1 }
         END { if ($5 + 0 < 0.5) exit 1 }' bn.history.csv ||
  fail "training: $(cat bn.history.csv) (expected finite figures and val_acc >= 0.5)"

# The weights file (docs/weights-format.md): batch_normalization/moving_mean has moved
# away from its initial zeros, and moving_variance from its ones.
python3 - bn.weights <<'PY' || fail "the moving statistics did not move"
import struct, sys
b = open(sys.argv[1], 'rb').read()
pos = 32
def take(fmt):
    global pos
    v = struct.unpack_from(fmt, b, pos); pos += struct.calcsize(fmt); return v
def string():
    global pos
    n = take('<I')[0]; s = b[pos:pos + n].decode(); pos += n; return s
string()
tensors = {}
for _ in range(take('<I')[0]):
    name = string(); rank = take('<I')[0]; dims = take('<%dQ' % rank)
    size = 1
    for d in dims: size *= d
    tensors[name] = take('<%df' % size)
mean = tensors['batch_normalization/moving_mean']
var = tensors['batch_normalization/moving_variance']
assert any(abs(m) > 1e-3 for m in mean), mean
assert any(abs(v - 1) > 1e-3 for v in var), var
PY

out=$(./bn evaluate --weights bn.weights --threads 2 --data sub) || fail "evaluate"
grep -q "^Test accuracy:" <<<"$out" || fail "evaluate: $out"
./bn gradcam --index 0 --weights bn.weights --data sub --out cam.png >/dev/null || fail "gradcam"
[ -s cam.png ] || fail "gradcam wrote no picture"

./bn export --onnx x.onnx --weights bn.weights >/dev/null || fail "export --onnx"
./bn export --tfjs tfjs --weights bn.weights >/dev/null || fail "export --tfjs"
[ -s x.onnx ] && [ -s tfjs/model.json ] || fail "export wrote no file"
grep -q BatchNormalization x.onnx || fail "x.onnx has no BatchNormalization node"
grep -q '"class_name": *"BatchNormalization"' tfjs/model.json ||
  fail "model.json has no BatchNormalization layer"
echo "ok"
