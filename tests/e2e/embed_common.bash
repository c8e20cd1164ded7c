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
