#!/usr/bin/env bash
# ONNX import (issue 13, item 2): ONNX files built with onnx.helper (Debian's python3-onnx)
# compile into programs whose predictions equal ONNX Runtime's (npm onnxruntime-node) within
# 1e-5; the programs also gradcam, evaluate and train further from the imported weights;
# --to-cnn prints the equivalent model file; unsupported nodes are all reported, node by
# node; a malformed file is a clear error. A missing tool that cannot be installed fails.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/interop.bash"
use_digits
need_onnx_tools
enter_workdir

# Predictions of the program = ONNX Runtime's on the ONNX file (NCHW input).
check_model() {   # kind h w c [softmax]
  local kind=$1 h=$2 w=$3 c=$4
  /usr/bin/python3 "$interop/make_onnx.py" "$kind" "$kind.onnx" || fail "make_onnx.py $kind"
  "$bin/cnnc" "$kind.onnx" -O1 -o "$kind" > build.txt || fail "cnnc $kind.onnx"
  grep -q "Wrote $kind.weights" build.txt || fail "$kind: no weights written: $(cat build.txt)"
  mkdir -p "pics_$kind"
  python3 "$interop/pictures.py" write "pics_$kind" 6 "$h" "$w" "$c" 3
  ./"$kind" predict --prepare resize --format json "pics_$kind"/pic_{0..5}.png > "$kind.json" ||
    fail "$kind: predict"
  node "$interop/ort_run.js" "$kind.onnx" "pics_$kind/inputs.f32" 6 "$h" "$w" "$c" nchw \
    > "$kind.ort.json" || fail "$kind: ONNX Runtime"
  python3 "$interop/pictures.py" compare "$kind.json" "$kind.ort.json" 1e-5 ${5:-} ||
    fail "$kind: the imported program and ONNX Runtime disagree"
}

check_model convnet 28 28 1
check_model gapnet 20 20 3 softmax   # ends in scores: cnnc adds the softmax
check_model bnnet 28 28 1             # Conv/Gemm -> BatchNormalization -> Relu

# --to-cnn: the equivalent model file, which compiles by itself.
"$bin/cnnc" convnet.onnx --to-cnn > convnet.cnn || fail "--to-cnn"
grep -q "^conv2d  filters=8 kernel=3x3 strides=1x1 padding=same activation=relu$" convnet.cnn ||
  fail "--to-cnn: unexpected conv2d line: $(cat convnet.cnn)"
grep -q "^leaky_relu alpha=0.1$" convnet.cnn || fail "--to-cnn: no leaky_relu alpha=0.1"
"$bin/cnnc" convnet.cnn --summary > /dev/null || fail "the --to-cnn output does not compile"

# BatchNormalization: a batch_norm layer with the node's epsilon and momentum.
"$bin/cnnc" bnnet.onnx --to-cnn > bnnet.cnn || fail "--to-cnn bnnet"
[ "$(grep -c "^batch_norm epsilon=1e-05 momentum=0.9$" bnnet.cnn)" = 2 ] &&
  grep -q "^batch_norm epsilon=0.001 momentum=0.99$" bnnet.cnn ||
  fail "--to-cnn: not the three batch_norm layers with ONNX's epsilon and momentum: $(cat bnnet.cnn)"
"$bin/cnnc" bnnet.cnn --summary > /dev/null || fail "the --to-cnn output of bnnet does not compile"
check_model bnlate 13 13 1            # after a Relu; on a flattened NCHW map (CHW -> HWC)
# Training further trains them as batch norms: the moving statistics move towards the
# batches' (moving * momentum + batch * (1 - momentum)), as the exported model shows.
digit_subset bn_digits 64 8
./bnnet train --resume --epochs 1 --data bn_digits --threads 1 > bn_train.txt 2>&1 ||
  fail "train --resume of the imported batch norms: $(cat bn_train.txt)"
./bnnet export --onnx trained.onnx > /dev/null || fail "export --onnx of the imported model"
/usr/bin/python3 - bnnet.onnx trained.onnx <<'PY' || fail "the moving statistics did not move as batch norms' do"
import sys, numpy as np, onnx
from onnx import numpy_helper
def bn_inputs(path):
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return [[inits[i] for i in n.input[1:]] for n in m.graph.node if n.op_type == 'BatchNormalization']
before, after = bn_inputs(sys.argv[1]), bn_inputs(sys.argv[2])
assert len(before) == len(after) == 3, (len(before), len(after))
for b, a in zip(before, after):
    assert all(x.shape == y.shape for x, y in zip(b, a))
    assert np.abs(a[2] - b[2]).max() > 1e-3 and np.abs(a[3] - b[3]).max() > 1e-3, 'moving stats unchanged'
PY

# The imported program does everything a compiled one does, starting from the weights.
digit_subset digits 128 32
./convnet gradcam --data digits --index 1 --out cam.png > /dev/null || fail "gradcam"
python3 "$src/tests/e2e/png_tool.py" check cam.png > /dev/null || fail "gradcam wrote no PNG"
./convnet evaluate --data digits > eval.txt || fail "evaluate"
grep -q "Test accuracy" eval.txt || fail "evaluate printed no accuracy"
cp convnet.weights imported.weights
./convnet train --resume --epochs 1 --data digits --threads 1 > train.txt ||
  fail "train --resume from the imported weights: $(cat train.txt)"
cmp -s convnet.weights imported.weights && fail "training did not change the imported weights"

# Unsupported nodes: every one reported, with the file's name, op type and node name.
/usr/bin/python3 "$interop/make_onnx.py" unsupported unsupported.onnx
if "$bin/cnnc" unsupported.onnx -o never 2> err.txt; then fail "unsupported nodes accepted"; fi
grep -q "^unsupported.onnx: error: node 1 'wave' (Cos)" err.txt ||
  fail "Cos not reported: $(cat err.txt)"
grep -q "^unsupported.onnx: error: node 2 'gelu_part' (Erf)" err.txt ||
  fail "Erf not reported: $(cat err.txt)"
[ ! -e never ] || fail "a program was written despite the errors"

# Malformed files: a clear error, exit status 1 (no crash).
head -c 3000 convnet.onnx > truncated.onnx
printf 'this is not protobuf at all \377\377\377' > garbage.onnx
for f in truncated.onnx garbage.onnx; do
  set +e
  "$bin/cnnc" "$f" -o never 2> err.txt
  status=$?
  set -e
  [ "$status" -eq 1 ] || fail "$f: exit status $status, expected 1"
  grep -q "^$f: error: not an ONNX model" err.txt || fail "$f: unclear error: $(cat err.txt)"
done
echo "ok"
