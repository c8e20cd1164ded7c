#!/usr/bin/env bash
# Grad-CAM on a briefly trained models/mnist.cnn: the three-panel picture, the grid, every
# --method and --score softmax, the raw map values (7x7 on max_pooling2d_1, 14x14 on
# conv2d_1), the faithfulness report against its random baseline, the user's own PNG for
# predict and gradcam, and clear errors for a corrupt PNG.
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir
png_tool() { python3 "$src/tests/e2e/png_tool.py" "$@"; }
# png_size FILE: "WIDTH HEIGHT" of a valid PNG, or the test fails
png_size() {
  local line
  line=$(png_tool check "$1") || fail "$1 is not a valid PNG"
  echo "${line#* }"
}
# The figure is one row of panels of the 28x28 input enlarged 8 times (224 px) with 12 px
# of padding around and between them (runtime/panel.c): 3 panels are 12 + 3 * 236 = 720
# pixels wide, 4 (guided) 956; the height is one panel plus a title and captions.
check_panels() {   # FILE PANELS
  local width height
  read -r width height <<<"$(png_size "$1")"
  [ "$width" = $((12 + $2 * 236)) ] || fail "$1 is $width px wide, expected $2 panels"
  [ "$height" -gt 224 ] && [ "$height" -lt 448 ] || fail "$1 is $height px high, expected one row"
}
# check_map FILE ROWS COLS WARNED: --raw's CSV (header image,name,row,col,value) of one
# ROWS x COLS map, cells in row order, values in [0, 1] whose maximum is 1 (the map is
# normalised), or all zero when the program warned about it.
check_map() {
  grep -qi 'nan\|inf' "$1" && fail "$1 holds NaN or infinity: $(cat "$1")"
  [ "$(head -1 "$1")" = "image,name,row,col,value" ] || fail "$1 header: $(head -1 "$1")"
  awk -F, -v rows="$2" -v cols="$3" -v warned="$4" '
    NR == 1 { next }
    NF != 5 { print "line " NR " has " NF " fields, not 5"; bad = 1 }
    $1 != 0 || $3 * cols + $4 != NR - 2 { print "line " NR " is not cell " NR - 2; bad = 1 }
    { if ($5 !~ /^[-+0-9.e]+$/ || $5 < 0 || $5 > 1) { print "value " $5 " outside [0,1]"; bad = 1 }
      if ($5 + 0 > max) max = $5 + 0 }
    END {
      if (NR - 1 != rows * cols) { print NR - 1 " cells, not " rows * cols; bad = 1 }
      if (!warned && (max < 0.999999 || max > 1)) { print "maximum " max ", not 1"; bad = 1 }
      if (warned && max != 0) {
        print "warned about an all-zero map, but its maximum is " max; bad = 1 }
      exit bad }' "$1" || fail "$1 is not a normalised ${2}x$3 map: $(cat "$1")"
}

"$bin/cnnc" "$src/models/mnist.cnn" -O2 -o mnist_cam
./mnist_cam train --epochs 1 --threads 2 --quiet   # writes mnist_cam.weights, used below

# ---- one test digit: original | heatmap | overlay ----------------------------------------
out=$(./mnist_cam gradcam --index 1 --threads 2)
grep -Eq "^test image 1: true [0-9] - pred [0-9] \([0-9.]+%\)" <<<"$out" ||
  fail "no caption line: $out"
grep -q "^Wrote mnist_cam_gradcam_1.png (hirescam of layer max_pooling2d_1)" <<<"$out" ||
  fail "the default picture, method or layer is not as documented: $out"
check_panels mnist_cam_gradcam_1.png 3

# ---- a grid of the first 8 ---------------------------------------------------------------
out=$(./mnist_cam gradcam --first 8 --grid --threads 2)
grep -q "^Wrote mnist_cam_gradcam_grid_8.png" <<<"$out" || fail "the grid was not written: $out"
read -r width height <<<"$(png_size mnist_cam_gradcam_grid_8.png)"
# 3 rows of 3 overlays enlarged 4 times (112 px)
[ "$height" -gt $((3 * 112)) ] || fail "the grid is only $height px high"

# ---- every method, and the tutorial's softmax score -------------------------------------
for method in hirescam gradcam gradcam++ guided layercam xgradcam; do
  out=$(./mnist_cam gradcam --index 1 --method "$method" --out "m_$method.png" --threads 2 2>&1) ||
    fail "--method $method failed: $out"
  grep -q "Wrote m_$method.png ($method of layer max_pooling2d_1)" <<<"$out" ||
    fail "--method $method: $out"
done
for method in hirescam gradcam gradcam++ layercam xgradcam; do check_panels "m_$method.png" 3; done
check_panels m_guided.png 4   # guided adds the guided Grad-CAM panel
cmp -s m_hirescam.png m_gradcam.png && fail "hirescam and gradcam drew the same picture"
out=$(./mnist_cam gradcam --index 1 --method gradcam --score softmax --out softmax.png \
      --threads 2 2>&1) || fail "--score softmax failed: $out"
check_panels softmax.png 3

# ---- the raw map values --------------------------------------------------------------------
# (Grad-CAM proper often gives an all-zero map after a Flatten -> Dense head, with a warning:
# test image 2 does on this model; the check accepts either, as long as they agree.)
for image in 1 2; do
  method=hirescam
  [ "$image" = 2 ] && method=gradcam
  out=$(./mnist_cam gradcam --index "$image" --method "$method" --raw "raw$image.csv" \
        --out "raw$image.png" --threads 2 2>&1)
  grep -q "Wrote the map values (7x7 per image) to raw$image.csv" <<<"$out" || fail "$out"
  warned=0
  grep -q "the map is all zero" <<<"$out" && warned=1
  check_map "raw$image.csv" 7 7 "$warned"
done
out=$(./mnist_cam gradcam --index 1 --layer conv2d_1 --raw conv.csv --out conv.png \
      --threads 2 2>&1)
grep -q "(14x14 per image)" <<<"$out" || fail "conv2d_1's map is not 14x14: $out"
warned=0
grep -q "the map is all zero" <<<"$out" && warned=1
check_map conv.csv 14 14 "$warned"
cmp -s raw1.csv conv.csv && fail "two layers gave the same map"
# Every class explained in turn (--class): a class the image gives no evidence for is an
# all-zero map with a warning, never NaN.
for class in 0 1 2 3 4 5 6 7 8 9; do
  out=$(./mnist_cam gradcam --index 1 --class "$class" --method gradcam --raw "class$class.csv" \
        --out "class$class.png" --threads 2 2>&1) || fail "--class $class failed: $out"
  warned=0
  grep -q "no positive evidence for class $class: the map is all zero" <<<"$out" && warned=1
  check_map "class$class.csv" 7 7 "$warned"
done
# Several images: one line per cell.
./mnist_cam gradcam --first 8 --raw many.csv --out many.png --threads 2 >/dev/null 2>&1
[ "$(head -1 many.csv)" = "image,name,row,col,value" ] || fail "many.csv header: $(head -1 many.csv)"
[ "$(wc -l < many.csv)" = $((1 + 8 * 49)) ] || fail "many.csv should have 8 x 49 cells"

# ---- faithfulness (issue 6): the default method beats the random map ---------------------
# Measured on this model (seed 42, 1 epoch, first 100 test digits): deletion AUC 0.120 vs
# 0.633 for the random map, energy inside the digit 32.1% vs 13.2%.
out=$(./mnist_cam gradcam --evaluate --first 100 --threads 2 2>&1)
grep -q "How faithful is hirescam on layer max_pooling2d_1? 100 images" <<<"$out" ||
  fail "no faithfulness report: $out"
# "  deletion AUC (lower is better)       0.120       0.633": the map's, then the random map's
two_numbers() { sed -n "s/^ *$1 *\([0-9.]*\)%* *\([0-9.]*\)%*\$/\1 \2/p" <<<"$out"; }
read -r auc auc_random <<<"$(two_numbers 'deletion AUC (lower is better)')"
read -r energy energy_random <<<"$(two_numbers 'heatmap energy inside the digit')"
[ -n "$auc_random" ] && [ -n "$energy_random" ] || fail "cannot read the report: $out"
echo "faithfulness: deletion AUC $auc (random $auc_random)," \
     "energy in the digit $energy% (random $energy_random%)"
awk -v a="$energy" -v b="$energy_random" 'BEGIN { exit !(a > b) }' ||
  fail "energy inside the digit $energy% does not beat the random map's $energy_random%"
awk -v a="$auc" -v b="$auc_random" 'BEGIN { exit !(a < b) }' ||
  fail "deletion AUC $auc is not below the random map's $auc_random"
[ -e mnist_cam_gradcam_first_100.png ] && fail "--evaluate without --out drew a picture"
# The methods added with the one Grad-CAM program report too (on another layer as well).
for method in layercam xgradcam; do
  out=$(./mnist_cam gradcam --evaluate --first 10 --method "$method" --layer conv2d_1 \
        --threads 2 2>&1) || fail "--evaluate --method $method failed: $out"
  grep -q "How faithful is $method on layer conv2d_1? 10 images" <<<"$out" ||
    fail "no faithfulness report for $method: $out"
done

# ---- the user's own picture ------------------------------------------------------------------
png_tool stroke one.png          # a white "1" on black, 56x56 (resized to 28x28)
png_tool stroke paper.png dark   # the same, black on white
out=$(./mnist_cam predict one.png --threads 2)
light=$(grep -E "^one.png: predicted [0-9] \([0-9.]+%\)$" <<<"$out") ||
  fail "predict one.png printed no class: $out"
out=$(./mnist_cam predict paper.png --threads 2)
grep -q "inverted to a light digit on black" <<<"$out" || fail "paper.png was not inverted: $out"
dark=$(grep "^paper.png: predicted" <<<"$out") || fail "predict paper.png printed no class: $out"
[ "${dark#paper.png}" = "${light#one.png}" ] ||
  fail "the inverted picture is classified differently: '$light' vs '$dark'"
out=$(./mnist_cam gradcam one.png --threads 2)
grep -q "^Wrote mnist_cam_gradcam_one.png" <<<"$out" || fail "gradcam one.png: $out"
check_panels mnist_cam_gradcam_one.png 3

# ---- a corrupt PNG is a clear error -----------------------------------------------------------
head -c $(($(stat -c %s one.png) - 20)) one.png > cut.png
echo "this is not a picture" > text.png
for bad in cut.png text.png; do
  if out=$(./mnist_cam predict "$bad" 2>&1); then
    fail "predict accepted the corrupt $bad: $out"
  fi
  grep -q "$bad" <<<"$out" && grep -qi "PNG" <<<"$out" ||
    fail "predict $bad: the error does not name the file and the problem: $out"
  if out=$(./mnist_cam gradcam "$bad" --out "drawn_$bad" 2>&1); then
    fail "gradcam accepted the corrupt $bad: $out"
  fi
  grep -q "$bad" <<<"$out" && grep -qi "PNG" <<<"$out" ||
    fail "gradcam $bad: the error does not name the file and the problem: $out"
  [ -e "drawn_$bad" ] && fail "gradcam $bad wrote a picture anyway"
done
# Several files: a bad one is reported, the others still get their answer.
if out=$(./mnist_cam predict one.png cut.png 2>&1); then
  fail "predict with a corrupt file among others exited 0"
fi
grep -q "^one.png: predicted" <<<"$out" && grep -q "cut.png" <<<"$out" ||
  fail "predict one.png cut.png: $out"
echo "ok"
