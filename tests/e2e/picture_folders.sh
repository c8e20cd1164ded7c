#!/usr/bin/env bash
# Picture folders as data sets (issue 10), end to end on models/shapes.cnn: a deterministic
# RGB folder set of coloured shapes (PNG and JPEG mixed, written by cnnc-pictures) with
# files that are not pictures and one corrupt picture; train stops on the corrupt one, skips
# it with --skip-bad and learns the set to >= 90% validation accuracy; the same seed gives
# the same bytes; train/ and test/ halves; every bad folder reported by path.
set -euo pipefail
source "$(dirname "$0")/common.bash"
enter_workdir
at_least() { awk -v v="$1" -v min="$2" 'BEGIN { exit !(v + 0 >= min + 0) }'; }
val_acc_of() { awk -F, 'END { print $5 }' "$1"; }

"$bin/cnnc-pictures" shapes set --count 600 --seed 1 >/dev/null
[ "$(find set -name '*.png' | wc -l)" = 300 ] && [ "$(find set -name '*.jpg' | wc -l)" = 300 ] ||
  fail "the shapes set should hold 300 PNG and 300 JPEG pictures"
# The generator is deterministic.
"$bin/cnnc-pictures" shapes again --count 600 --seed 1 >/dev/null
diff -r set again >/dev/null || fail "two shapes sets with the same seed differ"
"$bin/cnnc-pictures" shapes set >/dev/null 2>err && fail "an existing folder was overwritten"
grep -q "already exists" err || fail "no message for an existing folder: $(cat err)"

# Things a real folder holds besides pictures: ignored.
echo "shapes, made by cnnc-pictures" >set/README
printf 'Bud1' >set/circle/.DS_Store
echo "notes" >set/square/notes.txt
mkdir set/.ipynb_checkpoints
# One corrupt picture: a PNG cut in the middle.
head -c 300 set/triangle/triangle_0002.png >set/triangle/cut.png

"$bin/cnnc" "$src/models/shapes.cnn" -o shapes

# ---- a corrupt picture stops the run, naming it; --skip-bad leaves it out --------------
./shapes train --data set --epochs 1 --threads 2 >out 2>err && fail "train read a corrupt picture"
grep -q "set/triangle/cut.png: corrupt or unreadable PNG" err ||
  fail "the corrupt picture is not named: $(cat err)"
grep -q -- "--skip-bad" err || fail "the message does not mention --skip-bad: $(cat err)"
[ -e shapes.weights ] && fail "a failed run wrote weights"

./shapes train --data set --skip-bad --threads 2 --seed 3 >out 2>err ||
  fail "train --skip-bad failed: $(cat err)"
grep -q "skipped: set/triangle/cut.png" err || fail "the skipped picture is not named: $(cat err)"
grep -q "skipped 1 unreadable picture" err || fail "no count of skipped pictures: $(cat err)"
grep -q "Found 600 pictures of 3 classes in set" out || fail "no summary of the folder: $(cat out)"
grep -q "Classes: 0 circle, 1 square, 2 triangle" out || fail "no class names: $(cat out)"
grep -q "Training shapes on 480 images, validating on 120" out || fail "split: $(cat out)"
val_acc=$(val_acc_of shapes.history.csv)
echo "shapes: val_acc $val_acc"
at_least "$val_acc" 0.90 || fail "val_acc $val_acc, expected >= 0.90: $(cat out)"
[ "$(cat shapes.classes.txt)" = "$(printf 'circle\nsquare\ntriangle')" ] ||
  fail "shapes.classes.txt: $(cat shapes.classes.txt)"

# ---- deterministic: same seed, same bytes; another seed, another split ------------------
cp shapes.weights first.weights
./shapes train --data set --skip-bad --threads 2 --seed 3 --quiet 2>/dev/null
cmp -s shapes.weights first.weights || fail "the same seed gave other weights"
./shapes train --data set --skip-bad --threads 2 --seed 4 --epochs 1 --weights other.weights \
  --quiet 2>/dev/null
cmp -s other.weights first.weights && fail "another seed gave the same weights"

# ---- predict: files and folders, any format, class names, json and csv -------------------
./shapes predict set/circle/circle_0000.png set/triangle/triangle_0005.jpg >out ||
  fail "predict on a PNG and a JPEG"
grep -q "^set/circle/circle_0000.png: predicted circle (" out || fail "predict text: $(cat out)"
grep -q "^set/triangle/triangle_0005.jpg: predicted triangle (" out || fail "predict: $(cat out)"
grep -q "^    square .*%" out || fail "no named probability rows: $(cat out)"
./shapes predict --format json set/square/ >out 2>err || fail "predict --format json: $(cat err)"
python3 - out <<'PY' || fail "predict --format json is not the expected JSON: $(head -3 out)"
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 200, len(rows)          # every picture in the folder, notes.txt left out
assert all(r["path"].startswith("set/square/") for r in rows)
assert set(rows[0]["probabilities"]) == {"circle", "square", "triangle"}
assert abs(sum(rows[0]["probabilities"].values()) - 1) < 1e-4
right = sum(r["name"] == "square" for r in rows)
assert right >= 180, right
PY
./shapes predict --format csv set/circle/circle_0000.png missing.png >out 2>err &&
  fail "a missing picture did not fail predict"
[ "$(head -1 out)" = "path,class,name,probability,circle,square,triangle" ] ||
  fail "CSV header: $(head -1 out)"
grep -q "^set/circle/circle_0000.png,0,circle," out || fail "CSV row: $(cat out)"
grep -q "missing.png: cannot open" err || fail "the missing picture is not named: $(cat err)"
./shapes predict --format xml set/circle 2>err && fail "--format xml accepted"
grep -q "format must be text, json or csv" err || fail "bad --format: $(cat err)"
./shapes predict --prepare resize set/circle/circle_0000.png >out || fail "--prepare resize"
grep -q "predicted circle" out || fail "--prepare resize: $(cat out)"
./shapes predict --prepare sideways set/circle/circle_0000.png 2>err && fail "bad --prepare"
grep -q "prepare must be auto, digit or resize" err || fail "bad --prepare: $(cat err)"
mkdir -p empty-dir && echo text >empty-dir/notes.txt
./shapes predict empty-dir 2>err >/dev/null
grep -q "empty-dir: no pictures in this folder" err || fail "a folder without pictures: $(cat err)"
./shapes evaluate --data set --skip-bad --format json >out 2>/dev/null || fail "evaluate json"
python3 -c 'import json,sys; d=json.load(open("out")); assert d["images"]==600 and d["classes"]==["circle","square","triangle"] and len(d["confusion"])==3' ||
  fail "evaluate --format json: $(cat out)"

# ---- train/ and test/ halves: train reads train/, evaluate reads test/ -------------------
mkdir halves
mv again halves/train
"$bin/cnnc-pictures" shapes halves/test --count 150 --seed 2 >/dev/null
./shapes train --data halves --threads 2 --epochs 1 --weights halves.weights >out ||
  fail "train on halves"
grep -q "Found 600 pictures of 3 classes in halves/train" out || fail "halves: $(cat out)"
./shapes evaluate --data halves --weights shapes.weights --threads 2 >out || fail "evaluate"
grep -q "Found 150 pictures of 3 classes in halves/test" out || fail "evaluate: $(cat out)"
test_acc=$(sed -n 's/^Test accuracy: \([0-9.]*\)%.*/\1/p' out)
echo "shapes: test accuracy $test_acc% on 150 new pictures"
at_least "$test_acc" 85 || fail "test accuracy $test_acc%: $(cat out)"
rm -r halves/test
./shapes evaluate --data halves --weights shapes.weights >out 2>err && fail "no test/ accepted"
grep -q "halves: has a train/ folder but no test/ folder" err || fail "no test/: $(cat err)"

# ---- folders that do not fit the model ----------------------------------------------------
mkdir -p one/only && cp set/circle/circle_0000.png one/only/
./shapes train --data one 2>err && fail "one class folder accepted for 3 classes"
grep -q "one: 1 class folder (only), but the model has 3 classes" err || fail "one: $(cat err)"
mkdir -p hollow/a hollow/b hollow/c && echo text >hollow/a/README
./shapes train --data hollow 2>err && fail "a folder without pictures accepted"
grep -q "hollow: no pictures" err || fail "hollow: $(cat err)"
cp set/circle/circle_0000.png hollow/a/ && cp set/square/square_0001.jpg hollow/c/
./shapes train --data hollow --epochs 1 --validation-split 0 --weights h.weights >out 2>err ||
  fail "a folder with an empty class failed: $(cat err)"
grep -q "warning: class 'b' (hollow/b) has no pictures" err || fail "empty class: $(cat err)"
mkdir nothing && echo text >nothing/README
./shapes train --data nothing 2>err && fail "a folder without data accepted"
grep -q "nothing: no data in it: neither MNIST-style IDX files" err || fail "nothing: $(cat err)"
# Unreadable pictures: a dangling link (root can read any file, so permissions cannot make
# one) and a JPEG-named file that is no picture.
mkdir -p broken/a broken/b broken/c
for k in a b c; do cp set/circle/circle_0000.png broken/$k/; done
ln -s /nonexistent/x.png broken/a/gone.png
echo "not a jpeg" >broken/b/fake.jpg
./shapes train --data broken 2>err && fail "unreadable pictures accepted"
grep -q "broken/a/gone.png: cannot open" err || fail "dangling link: $(cat err)"
grep -q "and 1 more unreadable picture" err || fail "count of the others: $(cat err)"

# ---- IDX files -> picture folders (what get-data.sh --fashion-folders runs), read back ----
digits=${CNNC_DATA:-$src/data/mnist}
if [ -e "$digits/t10k-images-idx3-ubyte" ]; then
  printf '%s\n' zero one two three four five six seven eight nine/9 >names.txt
  "$bin/cnnc-pictures" from-idx "$digits/t10k-images-idx3-ubyte" \
    "$digits/t10k-labels-idx1-ubyte" names.txt digits-png >/dev/null || fail "from-idx"
  "$bin/cnnc-pictures" from-idx "$digits/t10k-images-idx3-ubyte" \
    "$digits/t10k-labels-idx1-ubyte" names.txt digits-jpeg --jpeg 95 >/dev/null ||
    fail "from-idx --jpeg"
  [ -d digits-png/nine_9 ] || fail "'/' in a class name should become '_': $(ls digits-png)"
  [ "$(find digits-png -name '*.png' | wc -l)" = 2000 ] || fail "from-idx wrote too few PNGs"
  for kind in png jpeg; do
    out=$("$bin/cnnc-pictures" read digits-$kind --size 28x28x1 --threads 2)
    grep -q "2000 pictures of 10 classes as 28x28x1" <<<"$out" || fail "read back: $out"
  done
fi
echo "ok"
