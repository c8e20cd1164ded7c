#!/usr/bin/env bash
# `PROG report`: one self-contained HTML page about a trained model, checked as text here
# (every section, pictures inline, nothing loaded from elsewhere, alt text, table headers,
# the page written atomically and refused cleanly) and in headless Chromium
# (tests/browser/check_page.js: the sections in the DOM, no request leaving the machine, no
# console error, no sideways scrolling at 1280 and 390 pixels). The browser part installs
# Debian's chromium and npm's puppeteer-core when they are missing
# (scripts/install-browser.sh) and fails, never skips, when it cannot.
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir
digit_subset small 1200 300
export CNNC_DATA=$tmp/small

"$bin/cnnc" "$src/models/mnist.cnn" -o mnist_cam
./mnist_cam train --epochs 2 --threads 2 --quiet

# ---- the page, as text
./mnist_cam report --out report.html --threads 2 --faithfulness-images 20 > out.txt ||
  fail "report failed: $(cat out.txt)"
grep -q 'Report: report.html' out.txt || fail "report does not say where the page is: $(cat out.txt)"
[ -s report.html ] || fail "no report.html"
ls report.html.tmp.* 2>/dev/null && fail "a temporary file was left behind"
for id in model training test gallery faithfulness timings; do
  grep -q "<section id=\"$id\"" report.html || fail "no section '$id' in the report"
done
grep -q '<svg' report.html || fail "no SVG training curves"
grep -q 'best epoch is <strong>' report.html || fail "the best epoch is not named"
grep -q 'Confusion matrix' report.html || fail "no confusion matrix"
grep -q 'conv2d_1 (Conv2D)' report.html || fail "the layer table misses conv2d_1"
grep -q '50,186' report.html || fail "the total parameter count 50,186 is missing"
pictures=$(grep -o 'src="data:image/png;base64,' report.html | wc -l)
[ "$pictures" -ge 6 ] || fail "only $pictures inline pictures in the gallery"
# Self-contained: no address outside the page (links to its own #sections only).
if grep -Eo '(src|href)="[^"#d][^"]*"' report.html | grep -v '^src="data:' | head -1 | grep -q .; then
  fail "the page refers to an outside resource: $(grep -Eo '(src|href)="[^"#d][^"]*"' report.html | head -3)"
fi
grep -Eqi '<script|<link|@import|url\(' report.html && fail "the page has a script, link or CSS import"
# Accessibility: every picture has alt text, every table column header its scope.
imgs=$(grep -o '<img ' report.html | wc -l)
alts=$(grep -o '<img src="[^"]*" alt="[^"]\+"' report.html | wc -l)
[ "$imgs" = "$alts" ] || fail "$imgs pictures but only $alts with alt text"
grep -q '<th scope="col">' report.html || fail "tables without column headers"
grep -q '<html lang="en">' report.html || fail "the page does not state its language"

# ---- the training speed: recorded by train beside the weights, shown by report
[ "$(head -1 mnist_cam.speed.csv)" = "epoch,seconds,images,images_per_s,threads,batch_size" ] ||
  fail "speed file header: $(head -1 mnist_cam.speed.csv)"
awk -F, 'NR > 1 && !($1 == NR - 1 && $2 > 0 && $3 == 960 && $4 > 0 && $5 == 2 && $6 == 64) { bad = 1 }
         END { exit bad || NR != 3 }' mnist_cam.speed.csv ||
  fail "speed file: $(cat mnist_cam.speed.csv)"
grep -q 'images/s (recorded by train over epochs 1-2: batches of 64, 2 threads)' report.html ||
  fail "the report does not show the recorded training speed"
# --resume keeps the speed of the epochs before it
first=$(sed -n 2p mnist_cam.speed.csv)
cp mnist_cam.weights resumed.weights
cp mnist_cam.speed.csv resumed.speed.csv
./mnist_cam train --resume --epochs 3 --threads 1 --quiet --weights resumed.weights
[ "$(sed -n 2p resumed.speed.csv)" = "$first" ] || fail "resume changed epoch 1's speed: $(cat resumed.speed.csv)"
[ "$(sed -n 4p resumed.speed.csv | cut -d, -f1,3,5)" = "3,960,1" ] ||
  fail "the resumed epoch's speed: $(cat resumed.speed.csv)"
# weights without a speed file (an older cnnc's): the page says so, and why
rm resumed.speed.csv
./mnist_cam report --weights resumed.weights --out nospeed.html --threads 2 --faithfulness-images 0 \
  --gallery 0 > nospeed.txt || fail "report without a speed file failed: $(cat nospeed.txt)"
grep -q 'not recorded: there is no resumed.speed.csv beside the weights' nospeed.html ||
  fail "the page without a speed file does not say why: $(grep -o 'Training</dt><dd>[^<]*' nospeed.html)"

# ---- train --report writes the page after training
./mnist_cam train --epochs 1 --threads 2 --quiet --report --weights again.weights > train.txt ||
  fail "train --report failed: $(cat train.txt)"
grep -q 'Report: mnist_cam_report.html' train.txt || fail "train --report: $(cat train.txt)"
[ -s mnist_cam_report.html ] || fail "train --report wrote no page"

# ---- bad input: clear messages, no page
set +e
./mnist_cam report --weights missing.weights --out x.html > missing.txt 2>&1; status=$?
set -e
[ "$status" = 1 ] || fail "report with a missing weights file: status $status"
grep -q 'missing.weights' missing.txt || fail "the message does not name the file: $(cat missing.txt)"
[ ! -e x.html ] || fail "a page was written without weights"
set +e
./mnist_cam report --out /nonexistent-dir/r.html > nodir.txt 2>&1; status=$?
set -e
[ "$status" = 1 ] || fail "report into a missing directory: status $status"
grep -q '/nonexistent-dir/r.html' nodir.txt || fail "the message does not name the page: $(cat nodir.txt)"
# No test data: the page is still written, saying why the test sections are empty.
CNNC_DATA=$tmp/nowhere ./mnist_cam report --data "$tmp/nowhere" --out nodata.html > nodata.txt 2>&1 ||
  fail "report without test data failed: $(cat nodata.txt)"
grep -q 'No test results' nodata.html || fail "the page without test data does not say so"
grep -q 'warning' nodata.txt || fail "no warning about the missing test data: $(cat nodata.txt)"

# ---- in a real browser
node_dir=$("$src/scripts/install-browser.sh") || fail "could not install chromium and puppeteer-core"
NODE_PATH=$node_dir/node_modules node "$src/tests/browser/check_page.js" "file://$tmp/report.html" shots \
  --expect '#model table' --expect '#training svg' --expect '#test table' \
  --expect '#gallery img' --expect '#faithfulness table' --expect '#timings dl' \
  --width 1280 --width 390 --pdf report.pdf > browser.txt 2>&1 || fail "in Chromium: $(cat browser.txt)"
cat browser.txt
python3 "$src/tests/e2e/png_tool.py" check shots/screenshot-390.png > size.txt ||
  fail "the phone-width screenshot is not a PNG"
read -r _ width _ < size.txt
[ "$width" -le 390 ] || fail "the phone-width screenshot is $width px wide"
echo "report: ok"
