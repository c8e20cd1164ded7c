#!/usr/bin/env bash
# evaluate and gradcam under mpirun (runtime/mpi.c): the images are split over the ranks and
# the results gathered in input order, so the output is one process's, byte for byte:
#   - evaluate (text and JSON) with 2 and 3 ranks (uneven shares);
#   - gradcam --first K: the figures of --out-dir, one figure, --raw map values, the guided
#     method; gradcam over a folder of pictures;
#   - only rank 0 writes: the same files, nothing more.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/mpi_common.bash"
mpi_setup

./mnist_cam train --epochs 1 --seed 3 --quiet

./mnist_cam evaluate > one.txt
./mnist_cam evaluate --format json > one.json
mpi 2 ./mnist_cam evaluate > two.txt
mpi 2 ./mnist_cam evaluate --format json > two.json
mpi 3 ./mnist_cam evaluate --threads 1 > three.txt
grep -q "^Test accuracy" one.txt || fail "evaluate printed no accuracy"
cmp one.txt two.txt || { diff one.txt two.txt; fail "evaluate on 2 ranks differs"; }
cmp one.json two.json || fail "evaluate --format json on 2 ranks differs"
cmp one.txt three.txt || fail "evaluate on 3 ranks differs"

explain() {   # $1: where, then gradcam's arguments
  local where=$1 launcher=()
  shift
  case $where in two/*) launcher=(mpirun --allow-run-as-root --oversubscribe -np 2) ;; esac
  mkdir -p "$where"
  (cd "$where" && "${launcher[@]}" "$tmp/mnist_cam" gradcam --weights "$tmp/mnist_cam.weights" \
     "$@" > stdout.txt) || fail "gradcam $* ($where)"
}
for where in one two; do
  explain "$where/first" --first 7 --out-dir cams --raw maps.csv
  explain "$where/figure" --first 5 --out five.png
  explain "$where/guided" --first 3 --method guided --out-dir cams
done

# A folder of pictures: five test digits as PNG files.
python3 - "$CNNC_DATA" pictures <<'PY'
import os, struct, sys, zlib
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst)
images = open(os.path.join(src, "t10k-images-idx3-ubyte"), "rb").read()[16:]
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
for i in range(5):
    rows = b"".join(b"\0" + images[i * 784 + y * 28:i * 784 + y * 28 + 28] for y in range(28))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    open(os.path.join(dst, "digit_%d.png" % i), "wb").write(png)
PY
for where in one two; do
  explain "$where/folder" "$PWD/pictures" --out-dir cams
done

for what in first figure guided folder; do
  diff -r "one/$what" "two/$what" || fail "gradcam ($what) on 2 ranks differs"
done
[ "$(ls one/first/cams | wc -l)" = 7 ] || fail "not 7 figures: $(ls one/first/cams)"
[ -s one/first/maps.csv ] || fail "no map values"
echo "ok"
