#!/usr/bin/env bash
# TensorFlow.js export (issue 13, item 3): for every model in models/, `PROG export --tfjs
# DIR` after a short training run writes a layers model that tf.loadLayersModel (npm
# @tensorflow/tfjs, CPU backend in Node.js) loads and runs with the program's probabilities
# (within 1e-5) on the same pictures. A missing tool that cannot be installed fails the test.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/interop.bash"
use_digits
need_npm "@tensorflow/tfjs@$TFJS_VERSION"
enter_workdir

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
  (cd "$model" && ./prog export --tfjs tfjs --weights "$name.weights") ||
    fail "$model: export --tfjs"
  [ -s "$model/tfjs/model.json" ] && [ -s "$model/tfjs/group1-shard1of1.bin" ] ||
    fail "$model: export --tfjs did not write model.json and the shard"
  mkdir -p "$model/pics"
  python3 "$interop/pictures.py" write "$model/pics" 6 "$h" "$w" "$c" 11
  (cd "$model" && ./prog predict --prepare resize --format json --weights "$name.weights" \
     pics/pic_{0..5}.png > predict.json) || fail "$model: predict"
  node "$interop/tfjs_run.js" "$model/tfjs" "$model/pics/inputs.f32" 6 "$h" "$w" "$c" \
    > "$model/tfjs.json" 2> "$model/tfjs.err" ||
    fail "$model: tf.loadLayersModel could not load or run the export: $(cat "$model/tfjs.err")"
  python3 "$interop/pictures.py" compare "$model/predict.json" "$model/tfjs.json" 1e-5 ||
    fail "$model: TensorFlow.js and the program disagree"
done

# A file where the directory should be is a clear error.
cd mnist
touch not_a_dir
if ./prog export --tfjs not_a_dir --weights mnist_cam.weights 2>err.txt; then
  fail "export --tfjs into a file succeeded"
fi
grep -q "not a directory" err.txt || fail "unclear error: $(cat err.txt)"
echo "ok"
