#!/usr/bin/env bash
# ONNX export (issue 13, item 1): for every model in models/, `PROG export --onnx` after a
# short training run and `cnnc MODEL --emit-onnx` pass onnx.checker (Debian's python3-onnx),
# and ONNX Runtime (npm onnxruntime-node) gives the program's probabilities within 1e-5 on
# the same pictures. A missing tool that cannot be installed fails the test.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/interop.bash"
use_digits
need_python_onnx
need_npm "onnxruntime-node@$ORT_VERSION"
enter_workdir

check_onnx() {
  /usr/bin/python3 - "$1" <<'PY' || fail "onnx.checker rejects $1"
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
assert m.opset_import[0].version >= 13, m.opset_import
PY
}

for cnn in "$src"/models/*.cnn; do
  model=$(basename "$cnn" .cnn)
  name=$(sed -n 's/^model *\([^ ]*\).*/\1/p' "$cnn")
  read -r h w c < <(sed -n 's/^input *shape=\([0-9]*\)x\([0-9]*\)x\([0-9]*\).*/\1 \2 \3/p' "$cnn")
  echo "== $model ($name, ${h}x${w}x${c})"
  if grep -q '^batch_norm' "$cnn"; then
    # Not exported yet (BatchNormalization, issue 13): refused, naming the layer (the
    # program's export refuses too: tests/e2e/batch_norm.sh).
    if "$bin/cnnc" "$cnn" --emit-onnx="$model.onnx" 2>err.txt; then
      fail "$model: --emit-onnx of a batch_norm model succeeded"
    fi
    grep -q "(BatchNormalization) has no ONNX counterpart" err.txt ||
      fail "$model: unclear refusal: $(cat err.txt)"
    continue
  fi
  build_with_weights "$model" "$model"
  (cd "$model" && ./prog export --onnx "$model.onnx" --weights "$name.weights") ||
    fail "$model: export --onnx"
  check_onnx "$model/$model.onnx"
  mkdir -p "$model/pics"
  python3 "$interop/pictures.py" write "$model/pics" 6 "$h" "$w" "$c" 7
  (cd "$model" && ./prog predict --prepare resize --format json --weights "$name.weights" \
     pics/pic_{0..5}.png > predict.json) || fail "$model: predict"
  node "$interop/ort_run.js" "$model/$model.onnx" "$model/pics/inputs.f32" 6 "$h" "$w" "$c" \
    > "$model/ort.json" || fail "$model: ONNX Runtime could not run the export"
  python3 "$interop/pictures.py" compare "$model/predict.json" "$model/ort.json" 1e-5 ||
    fail "$model: ONNX Runtime and the program disagree"

  # The untrained graph: the initial weights the program starts training from.
  "$bin/cnnc" "$cnn" --emit-onnx="$model/fresh.onnx" || fail "$model: --emit-onnx"
  check_onnx "$model/fresh.onnx"
done

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
