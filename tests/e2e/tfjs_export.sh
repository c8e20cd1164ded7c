#!/usr/bin/env bash
# TensorFlow.js export (issue 13, item 3): for every model in models/, `PROG export --tfjs
# DIR` after a short training run writes a layers model that tf.loadLayersModel (npm
# @tensorflow/tfjs, CPU backend in Node.js) loads and runs with the program's probabilities
# (within 1e-5) on the same pictures, and whose Keras config passes keras_config_check.py
# (the structure Keras 2 writes; Keras itself cannot be installed here, docs/interop.md).
# A missing tool that cannot be installed fails the test.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/interop.bash"
use_digits
need_npm "@tensorflow/tfjs@$TFJS_VERSION"
enter_workdir

check_export() {
  (cd "$model" && ./prog export --tfjs tfjs --weights "$name.weights") ||
    fail "$model: export --tfjs"
  [ -s "$model/tfjs/model.json" ] && [ -s "$model/tfjs/group1-shard1of1.bin" ] ||
    fail "$model: export --tfjs did not write model.json and the shard"
  python3 "$interop/keras_config_check.py" --self-test "$model/tfjs" ||
    fail "$model: model.json is not the Keras 2 config model_from_json reads (see above)"
  node "$interop/tfjs_run.js" "$model/tfjs" "$model/pics/inputs.f32" 6 "$h" "$w" "$c" \
    > "$model/tfjs.json" 2> "$model/tfjs.err" ||
    fail "$model: tf.loadLayersModel could not load or run the export: $(cat "$model/tfjs.err")"
  same_probabilities "$model" "$model/tfjs.json" "TensorFlow.js"
}
for_each_trained_model check_export 11

# A file where the directory should be is a clear error.
cd mnist
touch not_a_dir
if ./prog export --tfjs not_a_dir --weights mnist_cam.weights 2>err.txt; then
  fail "export --tfjs into a file succeeded"
fi
grep -q "not a directory" err.txt || fail "unclear error: $(cat err.txt)"
echo "ok"
