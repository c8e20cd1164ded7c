# Shared by the interop tests (sourced after common.bash): the outside tools they check
# cnnc against, installed when missing. A tool that cannot be installed fails the test
# with a message; it never passes silently.
#   need_python_onnx     /usr/bin/python3 with Debian's python3-onnx (onnx.checker, helper)
#   need_npm PKG@VERSION the npm package, installed with --ignore-scripts into
#                        $CNNC_NPM_CACHE (default ~/.cache/cnnc/npm); exports
#                        CNNC_NODE_MODULES for tests/e2e/interop/*.js
#   need_onnx_tools      both of the above for ONNX: python3-onnx and onnxruntime-node
#   build_with_weights CNN DIR   compiles the model file CNN into DIR/prog and trains it for
#                        one epoch on a small data set, so that DIR/NAME.weights exists
#   for_each_trained_model CHECK SEED
#                        for every model in models/ and tests/e2e/interop/bn_export.cnn
#                        (batch_norm wherever the exporters meet it): sets cnn (its path), model (file name), name (model name), h w c (input shape),
#                        builds and trains it in ./$model, writes 6 pictures (seeded by
#                        SEED) to $model/pics (inputs.f32 for the outside tool) and the
#                        program's probabilities to $model/predict.json, then runs CHECK
#   same_probabilities MODEL OTHER.json WHO   MODEL's predict.json and OTHER.json (the
#                        outside tool's) agree within 1e-5, or fails naming WHO
interop=$src/tests/e2e/interop
ORT_VERSION=1.30.0
TFJS_VERSION=4.22.0

install_debian_package() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "Debian package $1 is missing and this is not root (no sudo): install it"
    sudo=(sudo -n)
  fi
  echo "installing $1 (Debian package, for the interop tests)" >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends "$1" >&2 || fail "could not install the Debian package $1"
}

need_python_onnx() {
  /usr/bin/python3 -c 'import onnx' 2>/dev/null && return 0
  install_debian_package python3-onnx
  /usr/bin/python3 -c 'import onnx' || fail "/usr/bin/python3 cannot import onnx (python3-onnx)"
}

need_npm() {
  local spec=$1 name=${1%@*} version=${1##*@}
  local cache=${CNNC_NPM_CACHE:-$HOME/.cache/cnnc/npm}
  export CNNC_NODE_MODULES=$cache/node_modules
  if grep -qs "\"version\": \"$version\"" "$CNNC_NODE_MODULES/$name/package.json"; then
    return 0
  fi
  command -v npm >/dev/null || fail "npm is missing (scripts/install-deps.sh installs it); needed for $spec"
  echo "installing $spec from npm (--ignore-scripts) into $cache" >&2
  mkdir -p "$cache"
  npm install --prefix "$cache" --ignore-scripts --no-audit --no-fund --silent "$spec" >&2 ||
    fail "could not install $spec from npm (no network?); the test needs it"
}

need_onnx_tools() {
  need_python_onnx
  need_npm "onnxruntime-node@$ORT_VERSION"
}

build_with_weights() {
  local cnn=$1 dir=$2
  mkdir -p "$dir"
  "$bin/cnnc" "$cnn" -O1 -o "$dir/prog" || fail "cnnc $cnn"
  if [ "$(basename "$cnn")" = shapes.cnn ]; then
    "$bin/cnnc-pictures" shapes "$dir/data" --count 60 >/dev/null || fail "cnnc-pictures shapes"
  else
    digit_subset "$dir/data" 256 32
  fi
  (cd "$dir" && ./prog train --epochs 1 --batch-size 32 --data data --threads 1 >/dev/null) ||
    fail "$model: train"
}

for_each_trained_model() {
  local check=$1 seed=$2
  for cnn in "$src"/models/*.cnn "$interop/bn_export.cnn"; do
    model=$(basename "$cnn" .cnn)
    name=$(sed -n 's/^model *\([^ ]*\).*/\1/p' "$cnn")
    read -r h w c < <(sed -n 's/^input *shape=\([0-9]*\)x\([0-9]*\)x\([0-9]*\).*/\1 \2 \3/p' "$cnn")
    echo "== $model ($name, ${h}x${w}x${c})"
    build_with_weights "$cnn" "$model"
    mkdir -p "$model/pics"
    python3 "$interop/pictures.py" write "$model/pics" 6 "$h" "$w" "$c" "$seed"
    (cd "$model" && ./prog predict --prepare resize --format json --weights "$name.weights" \
       pics/pic_{0..5}.png > predict.json) || fail "$model: predict"
    "$check"
  done
}

same_probabilities() {
  python3 "$interop/pictures.py" compare "$1/predict.json" "$2" 1e-5 ||
    fail "$1: $3 and the program disagree"
}
