#!/usr/bin/env bash
# ONNX export (issue 13, item 1): for every model in models/, `PROG export --onnx` after a
# short training run and `cnnc MODEL --emit-onnx` pass onnx.checker (Debian's python3-onnx),
# and ONNX Runtime (npm onnxruntime-node) gives the program's probabilities within 1e-5 on
# the same pictures. A missing tool that cannot be installed fails the test.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/interop.bash"
use_digits
need_onnx_tools
enter_workdir

check_onnx() {
  /usr/bin/python3 - "$1" <<'PY' || fail "onnx.checker rejects $1"
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
assert m.opset_import[0].version >= 13, m.opset_import
PY
}

check_export() {
  (cd "$model" && ./prog export --onnx "$model.onnx" --weights "$name.weights") ||
    fail "$model: export --onnx"
  check_onnx "$model/$model.onnx"
  if [ "$model" = bn_export ]; then   # four BatchNormalization nodes with trained statistics
    /usr/bin/python3 - "$model/$model.onnx" <<'PY' || fail "bn_export: not the batch norms trained"
import sys, numpy as np, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
bns = [n for n in m.graph.node if n.op_type == 'BatchNormalization']
assert len(bns) == 4, len(bns)
for n in bns:
    mean, var = inits[n.input[3]], inits[n.input[4]]
    # (a batch norm after a dense fed by a batch norm sees means of about 0: its variance moves)
    assert np.abs(mean).max() > 1e-4 or np.abs(var - 1).max() > 1e-4, n.name
PY
  fi
  node "$interop/ort_run.js" "$model/$model.onnx" "$model/pics/inputs.f32" 6 "$h" "$w" "$c" \
    > "$model/ort.json" || fail "$model: ONNX Runtime could not run the export"
  same_probabilities "$model" "$model/ort.json" "ONNX Runtime"
  # The untrained graph: the initial weights the program starts training from.
  "$bin/cnnc" "$cnn" --emit-onnx="$model/fresh.onnx" || fail "$model: --emit-onnx"
  check_onnx "$model/fresh.onnx"
}
for_each_trained_model check_export 7

# Atomic write: a failing export leaves the previous file as it was.
cd mnist
cp mnist.onnx before.onnx
if ./prog export --onnx mnist.onnx --weights missing.weights 2>err.txt; then
  fail "export with missing weights succeeded"
fi
cmp -s mnist.onnx before.onnx || fail "a failed export changed the previous file"
grep -q "missing.weights" err.txt || fail "the error does not name the missing weights file"
if ./prog export 2>err.txt; then fail "export without --onnx or --tfjs succeeded"; fi
grep -q "\-\-onnx FILE or --tfjs DIR" err.txt || fail "no usage message: $(cat err.txt)"
echo "ok"
