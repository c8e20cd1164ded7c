#!/usr/bin/env bash
# Under a 512 MB address-space limit (ulimit -v) every command of a generated program --
# summary, train, evaluate, predict, gradcam -- either works or fails with a clear message
# (out of memory, or a thread it cannot start), exit status 1; never dies of a signal (an
# abort or a segfault is a failure here). Each command runs once as a user would and once
# asked for more than the limit allows (a huge batch, 1024 threads, a 67-megapixel picture).
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir
limit_kb=$((512 * 1024))

# -O0: compiles in a tenth of the time; memory use is the same (the arena plan is done
# before LLVM).
"$bin/cnnc" "$src/models/mnist.cnn" -O0 -o mnist_cam
# A subset of the digits keeps the test fast; memory use per step does not depend on it.
digit_subset digits 320 64
export CNNC_DATA=$PWD/digits
python3 "$src/tests/e2e/png_tool.py" stroke digit.png
# 8192 x 8192 gray pixels: exactly the largest picture the runtime accepts (2^26 pixels).
python3 - <<'PY'
import struct, zlib
def chunk(kind, body):
    return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))
side = 8192
z = zlib.compressobj(9)
row = b'\0' + bytes(side)
idat = b''.join(z.compress(row) for _ in range(side)) + z.flush()
with open('huge.png', 'wb') as f:
    f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', side, side, 8, 0, 0, 0, 0))
            + chunk(b'IDAT', idat) + chunk(b'IEND', b''))
PY

# limited EXPECT ARGS...: runs the program under the limit. EXPECT "works": status 0;
# "may-fail": 0, or 1 with a clear message, or 2 (an option out of range).
limited() {
  local expect=$1
  shift
  local status=0
  (ulimit -v "$limit_kb"; exec ./mnist_cam "$@") > out.txt 2> err.txt || status=$?
  local what="'mnist_cam $*' under ulimit -v $limit_kb"
  if [ "$status" -gt 128 ]; then
    fail "$what died of signal $((status - 128)): $(tail -c 500 err.txt)"
  fi
  case $expect/$status in
    works/0 | may-fail/0) echo "works:  $*" ;;
    may-fail/1)
      grep -Eiq "out of memory|cannot start thread|cannot allocate|too large" err.txt ||
        fail "$what failed without saying it ran out of memory: $(tail -c 500 err.txt)"
      echo "failed: $* -- $(tail -n 1 err.txt)" ;;
    may-fail/2) echo "refused: $* -- $(tail -n 1 err.txt)" ;;
    *) fail "$what: exit status $status: $(tail -c 500 err.txt)" ;;
  esac
}

# ---- as a user runs them: all work within 512 MB -------------------------------------------
limited works summary
limited works train --epochs 1 --threads 2 --quiet
limited works evaluate --threads 2
limited works predict digit.png --threads 2
limited works predict --index 3 --threads 2
limited works gradcam --index 1 --out one.png --threads 2
limited works gradcam --first 8 --grid --method guided --out grid.png --threads 2

# ---- asking for more than the limit: a clear failure or a refusal, never a crash ---------
limited may-fail train --epochs 1 --batch-size 1000000 --quiet --threads 2 --weights big.weights
limited may-fail train --epochs 1 --batch-size 65536 --quiet --threads 2 --weights b64k.weights
limited may-fail train --epochs 1 --threads 1024 --quiet --weights many.weights
limited may-fail evaluate --threads 1024
limited may-fail predict --index 1 --threads 1024
limited may-fail gradcam --index 1 --threads 1024 --out many.png
limited may-fail predict huge.png --threads 2
limited may-fail gradcam huge.png --threads 2 --out huge_cam.png
echo "ok"
