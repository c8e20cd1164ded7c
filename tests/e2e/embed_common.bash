# Shared by the tests of embedded and cross-compiled builds (sourced after common.bash).
#   train_small_model   compiles models/mnist.cnn into ./mnist_cam and trains it one epoch on
#                       600 digits (after use_digits and enter_workdir): ./mnist_cam.weights,
#                       test digits in ./sub
#   digit_raw N FILE    test digit N of ./sub as its 784 bytes (the input of the programs
#                       that scripts/cross-build.sh builds)
#   expect_program OUTPUT N
#                       OUTPUT (what examples/embed or examples/wasm/run.mjs printed for
#                       digit N with --gradcam) predicts what the full program predicts:
#                       the same class, probabilities and Grad-CAM map within 1e-5
#   expect_same OUTPUT OTHER   the same comparison between two such outputs
#   install_cross ARCH WHAT  scripts/install-cross.sh ARCH, or fails naming WHAT (never skips)
#   cross_build TARGET DIR [FLAGS...]  scripts/cross-build.sh TARGET for models/mnist.cnn
#                       with ./mnist_cam.weights into DIR; its log shown when it fails
#   expect_digits RUN N...  for each test digit N: RUN FILE (a command or function given the
#                       digit's raw bytes, asked for Grad-CAM) prints what expect_program
#                       compares with the full program; outputs in ./RUN_N.txt
train_small_model() {
  digit_subset sub 600 8
  "$bin/cnnc" "$src/models/mnist.cnn" -o mnist_cam
  ./mnist_cam train --data sub --epochs 1 --threads 1 > train.log 2>&1 ||
    { cat train.log; fail "training the host program failed"; }
}

digit_raw() {
  head -c $((16 + 784 * ($1 + 1))) sub/t10k-images-idx3-ubyte | tail -c 784 > "$2"
}

expect_program() {
  ./mnist_cam predict --data sub --index "$2" --format csv --threads 1 > "predict_$2.csv"
  ./mnist_cam gradcam --data sub --index "$2" --raw "map_$2.csv" --out "map_$2.png" \
    --threads 1 > /dev/null
  python3 "$src/tests/e2e/same_prediction.py" "$1" --program "predict_$2.csv" "map_$2.csv" ||
    fail "$1 does not predict what the full program predicts for test digit $2"
}

expect_same() {
  python3 "$src/tests/e2e/same_prediction.py" "$1" --like "$2" ||
    fail "$1 does not predict what $2 predicts"
}

install_cross() {
  local log
  log=$(mktemp)
  "$src/scripts/install-cross.sh" "$1" > "$log" 2>&1 ||
    { cat "$log"; rm -f "$log"; fail "$2 cannot be installed"; }
  rm -f "$log"
}

cross_build() {
  local target=$1 dir=$2
  shift 2
  CNNC=$bin/cnnc "$src/scripts/cross-build.sh" "$target" "$src/models/mnist.cnn" \
    mnist_cam.weights "$dir" "$@" > "build_$dir.log" 2>&1 ||
    { cat "build_$dir.log"; fail "cross-build.sh $target ($dir) failed"; }
}

expect_digits() {
  local run=$1 n
  shift
  for n in "$@"; do
    digit_raw "$n" "digit_$n.raw"
    "$run" "digit_$n.raw" > "${run}_$n.txt" || fail "$run failed on digit $n"
    expect_program "${run}_$n.txt" "$n"
  done
}
