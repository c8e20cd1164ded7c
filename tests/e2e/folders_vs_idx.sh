#!/usr/bin/env bash
# Issue 10: Fashion-MNIST trained from PNG folders reaches the accuracy it reaches from the
# IDX files, with the same seed and the same training set. A small subset keeps it fast:
# the first 1,500 training and 500 test pictures of Debian's dataset-fashion-mnist (the
# package scripts/get-data.sh --fashion installs; skipped without it), written as PNG
# folders by cnnc-pictures from-idx (what get-data.sh --fashion-folders runs). The class
# folders are numbered ("0 T-shirt_top", ...) so that their alphabetical order is the
# labels' order.
#   1. The same weights measure exactly the same accuracy and loss on the IDX test files
#      and on the PNG test folder: the pictures decode to the very same pixels.
#   2. Trained with the same seed and no validation split (so on the same 1,500 pictures),
#      the two runs end within 3 points of test accuracy of each other. They are not
#      bit-identical: a folder is shuffled with the seed when it is read, so the batches
#      differ.
set -euo pipefail
source "$(dirname "$0")/common.bash"
fashion=${CNNC_FASHION:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$fashion/train-images-idx3-ubyte.gz" ] && [ ! -e "$fashion/train-images-idx3-ubyte" ]; then
  echo "skipped: no Fashion-MNIST in $fashion (scripts/get-data.sh --fashion installs it)"
  exit 77
fi
enter_workdir
data=$fashion
digit_subset idx 1500 500
printf '%s\n' "0 T-shirt/top" "1 Trouser" "2 Pullover" "3 Dress" "4 Coat" "5 Sandal" \
  "6 Shirt" "7 Sneaker" "8 Bag" "9 Ankle boot" >names.txt
cp names.txt idx/classes.txt
mkdir png
"$bin/cnnc-pictures" from-idx idx/train-images-idx3-ubyte idx/train-labels-idx1-ubyte \
  names.txt png/train >/dev/null || fail "from-idx train"
"$bin/cnnc-pictures" from-idx idx/t10k-images-idx3-ubyte idx/t10k-labels-idx1-ubyte \
  names.txt png/test >/dev/null || fail "from-idx test"
[ -d "png/train/0 T-shirt_top" ] || fail "class folders: $(ls png/train)"

"$bin/cnnc" "$src/models/mnist.cnn" -o fashion
train() {   # DATA WEIGHTS
  ./fashion train --data "$1" --weights "$2" --epochs 2 --validation-split 0 --seed 7 \
    --threads 2 --quiet >/dev/null 2>&1 || fail "train on $1"
}
accuracy() {   # DATA WEIGHTS -> "accuracy loss"
  ./fashion evaluate --data "$1" --weights "$2" --format json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["accuracy"], d["loss"])'
}
train idx from-idx.weights
train png from-png.weights

# 1. The same weights, the same pictures: the same figures to the last digit.
idx_by_idx=$(accuracy idx from-idx.weights)
png_by_idx=$(accuracy png from-idx.weights)
echo "IDX weights: $idx_by_idx on the IDX test files, $png_by_idx on the PNG test folder"
[ "$idx_by_idx" = "$png_by_idx" ] || fail "the PNG folder does not hold the IDX pixels"

# 2. Trained from either, the same accuracy within 3 points.
png_by_png=$(accuracy png from-png.weights)
echo "PNG weights: $png_by_png on the PNG test folder"
python3 - "${idx_by_idx% *}" "${png_by_png% *}" <<'PY' || fail "accuracies differ"
import sys
from_idx, from_png = float(sys.argv[1]), float(sys.argv[2])
print('test accuracy: %.1f%% trained from IDX, %.1f%% trained from PNG' %
      (100 * from_idx, 100 * from_png))
assert from_idx > 0.6 and from_png > 0.6, 'training did not learn'
assert abs(from_idx - from_png) <= 0.03
PY
echo "ok"
