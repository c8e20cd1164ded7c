#!/usr/bin/env bash
# The draw-a-digit page (issue 17): `cnnc MODEL --web DIR --weights FILE` writes a folder of
# at most 1 MB (and `PROG web --out DIR` runs it); served on 127.0.0.1 and opened in headless Chromium, a test example clicked gives
# the native program's class, probabilities and Grad-CAM map (within 1e-5), the same digit
# drawn as pointer events is prepared and answered as the native program prepares and answers
# its PNG, no request leaves 127.0.0.1, no console error; opened from file://, another
# example gives the native answer too (the module from its base64 script); and
# screenshots at 1280 and 390 px (tests/browser/check_page.js). Prints the page's time of
# one prediction + map. Chromium and puppeteer-core are installed when missing
# (scripts/install-browser.sh); the test fails, never skips, when they cannot be.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/embed_common.bash"
use_digits
enter_workdir
# What --web refuses, before any work: no weights; a model one cannot draw for.
status=0; "$bin/cnnc" "$src/models/mnist.cnn" --web nothing > refused.log 2>&1 || status=$?
[ "$status" = 2 ] && grep -q -- '--web DIR needs --weights FILE' refused.log && [ ! -e nothing ] ||
  { cat refused.log; fail "--web without --weights: exit status $status, not 2 with a message"; }
printf 'model colour\ninput shape=8x8x3\nflatten\ndense units=2\nsoftmax\n' > colour.cnn
status=0; "$bin/cnnc" colour.cnn --web nothing --weights none > refused.log 2>&1 || status=$?
[ "$status" = 1 ] && grep -q "one-channel picture (HxWx1), not a colour one" refused.log &&
  [ ! -e nothing ] || { cat refused.log; fail "--web with a colour model: not refused"; }
train_small_model
"$bin/cnnc" "$src/models/mnist.cnn" --web site --weights mnist_cam.weights --data sub \
  > build.log 2>&1 || { cat build.log; fail "cnnc --web failed"; }
grep -q '^Wrote site/index.html, page.js, mnist_cam.wasm and mnist_cam.wasm.js' build.log ||
  { cat build.log; fail "cnnc --web did not say what it wrote"; }
[ "$(ls site | tr '\n' ' ')" = "index.html mnist_cam.wasm mnist_cam.wasm.js page.js " ] ||
  fail "the folder holds $(ls site | tr '\n' ' '), not the page's four files"
bytes=$(du -sb site | cut -f1)
echo "folder: $bytes bytes ($(ls site | tr '\n' ' '))"
[ "$bytes" -le 1048576 ] || fail "the folder is $bytes bytes, more than 1 MB"
# The page states the module's size.
kb=$(( ($(stat -c %s site/mnist_cam.wasm) + 512) / 1024 ))
grep -q "WebAssembly, $kb KB with its trained weights" site/index.html ||
  fail "the page's about line does not state the module's $kb KB"

# The program's own `web` command runs cnnc --web (on PATH) and writes the same folder;
# without cnnc it says the exact command to run.
PATH=$bin:$PATH ./mnist_cam web --out prog_site --data sub > prog_web.log 2>&1 ||
  { cat prog_web.log; fail "mnist_cam web --out prog_site failed"; }
cmp site/mnist_cam.wasm prog_site/mnist_cam.wasm && cmp site/index.html prog_site/index.html ||
  fail "mnist_cam web wrote another page than cnnc --web"
status=0; PATH=/nonexistent ./mnist_cam web --out none > no_cnnc.log 2>&1 || status=$?
[ "$status" = 1 ] && grep -qx "  cnnc $src/models/mnist.cnn --web none --weights mnist_cam.weights" no_cnnc.log &&
  [ ! -e none ] || { cat no_cnnc.log; fail "mnist_cam web without cnnc: no command shown"; }

node_dir=$("$src/scripts/install-browser.sh") || fail "could not install chromium and puppeteer-core"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 -d site > server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" > /dev/null && break; sleep 0.1; done
url=http://127.0.0.1:$port/index.html
NODE_PATH=$node_dir/node_modules node "$src/tests/browser/draw_digit.js" "$url" 3 page_3.txt |
  tee drive.log || fail "the page failed in Chromium"
grep -qx 'module loaded from: wasm' drive.log || fail "served, the page did not load the .wasm"
expect_program page_3.txt 3
# Opened from file:// (no server): the browser refuses to fetch the .wasm, so the page
# loads its base64 copy (mnist_cam.wasm.js) and answers the same.
NODE_PATH=$node_dir/node_modules node "$src/tests/browser/draw_digit.js" "file://$PWD/site/index.html" \
  5 file_5.txt | tee drive_file.log || fail "the page failed in Chromium from file://"
grep -qx 'module loaded from: script' drive_file.log ||
  fail "from file://, the page did not load the module's script"
expect_program file_5.txt 5
# The issue's target is 2 ms; 10 ms leaves room for a loaded machine and still catches a
# slow build (llvm.fma on wasm32 called a software fmaf: 15-30 ms).
ms=$(sed -n 's/^one prediction + Grad-CAM map in the page: \([0-9.]*\) ms.*/\1/p' drive.log)
python3 -c "import sys; sys.exit(0 if float('$ms') <= 10 else 1)" ||
  fail "one prediction + Grad-CAM map takes $ms ms in the page (more than 10 ms)"
# The drawn digit, prepared in the page by the runtime's code compiled to wasm, against the
# native program preparing the same drawing from a PNG.
./mnist_cam predict page_3.txt.png --format csv --threads 1 > predict_drawn.csv
./mnist_cam gradcam page_3.txt.png --raw map_drawn.csv --out map_drawn.png --threads 1 > /dev/null
python3 "$src/tests/e2e/same_prediction.py" page_3.txt.drawn --program predict_drawn.csv map_drawn.csv ||
  fail "the drawn digit: the page does not answer what the native program answers"
# The screenshots stay beside the build's programs: $CNNC_BIN/../web-shots/screenshot-*.png.
shots=$bin/../web-shots
NODE_PATH=$node_dir/node_modules node "$src/tests/browser/check_page.js" "$url" "$shots" \
  --expect '#draw' --expect '#cam' --expect '#bars' --expect '#examples' --width 1280 --width 390 ||
  fail "the page's checks in Chromium failed"
cp page_3.txt.shot.png "$shots/drawn-1280.png"
echo "ok"
