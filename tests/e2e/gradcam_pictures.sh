#!/usr/bin/env bash
# Issue 10's rest, end to end: gradcam over many pictures and folders (one captioned figure
# per picture in --out-dir, a grid when asked, colour for RGB pictures, class names in the
# captions), --raw in its one CSV format with --raw-scale none, --first K beyond 50 rows;
# the model file's labels= and prepare=; the reference interpreter (cnnc --interpret) and
# the program preparing a dark digit on white identically; scores, not percentages, for a
# model without softmax.
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir
png_tool="$src/tests/e2e/png_tool.py"

# ---- an RGB model and its pictures --------------------------------------------------------
"$bin/cnnc-pictures" shapes set --count 240 --seed 5 >/dev/null
"$bin/cnnc" "$src/models/shapes.cnn" -o shapes
./shapes train --data set --epochs 4 --threads 2 --quiet >/dev/null 2>&1 || fail "train shapes"

# Two folders and a file: one figure each, named after the picture; the same file name in
# two folders gets its position added; names in the captions; a grid beside them.
mkdir -p mine/a mine/b
cp set/circle/circle_0000.png set/square/square_0001.jpg mine/a/
cp set/triangle/triangle_0002.png mine/b/circle_0000.png
echo "notes" >mine/README
./shapes gradcam mine/a mine/b set/triangle/triangle_0008.png --out-dir cams --grid >out 2>err ||
  fail "gradcam over folders: $(cat err)"
for f in cams/circle_0000_0_gradcam.png cams/square_0001_gradcam.png \
         cams/circle_0000_2_gradcam.png cams/triangle_0008_gradcam.png cams/grid.png; do
  [ -s "$f" ] || fail "missing $f: $(ls cams) $(cat out)"
done
[ "$(ls cams | wc -l)" = 5 ] || fail "unexpected files in cams: $(ls cams)"
python3 "$png_tool" check cams/*.png >/dev/null || fail "a figure is not a valid PNG"
grep -q "^mine/a/circle_0000.png: pred \(circle\\|square\\|triangle\) (.*%) -> cams/circle_0000_0_gradcam.png" out ||
  fail "no captioned line per picture: $(cat out)"
grep -q "Wrote 4 figures to cams" out || fail "no summary: $(cat out)"
# Colour: the figures are RGB PNGs (colour type 2) with pixels that are not gray.
python3 - cams/square_0001_gradcam.png <<'PY' || fail "the RGB picture's figure is not in colour"
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
width, height, depth, ctype = struct.unpack('>IIBB', data[16:26])
assert ctype == 2, ctype
pos, idat = 8, b''
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    if kind == b'IDAT':
        idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
stride, prev, colour = 3 * width, bytearray(3 * width), 0
for y in range(height):                      # undo the PNG row filters
    kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = row[i - 3] if i >= 3 else 0
        b, c = prev[i], prev[i - 3] if i >= 3 else 0
        if kind == 1: row[i] = (row[i] + a) & 255
        elif kind == 2: row[i] = (row[i] + b) & 255
        elif kind == 3: row[i] = (row[i] + (a + b) // 2) & 255
        elif kind == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    colour += sum(max(row[x:x + 3]) - min(row[x:x + 3]) > 60 for x in range(0, stride, 3))
    prev = row
assert colour > 100, colour
PY
# The caption carries the class name: the figure of one picture is titled with it (the
# font is drawn, so look at the text line instead).
./shapes gradcam set/square/square_0001.jpg --out one.png >out || fail "one picture"
grep -q "^set/square/square_0001.jpg: pred \(circle\\|square\\|triangle\) (" out || fail "one picture: $(cat out)"

# Bad pictures among good ones: named, the others still explained, a failing status.
echo "not a picture" >mine/a/fake.png
./shapes gradcam mine/a --out-dir cams2 >out 2>err && fail "a bad picture did not fail gradcam"
grep -q "mine/a/fake.png: not a picture" err || fail "the bad picture is not named: $(cat err)"
[ -s cams2/square_0001_gradcam.png ] || fail "the good pictures were not explained"
./shapes gradcam missing-folder/ 2>err && fail "a missing picture accepted"
grep -q "missing-folder/: cannot open" err || fail "missing: $(cat err)"
./shapes gradcam set/circle/circle_0000.png --out-dir cams --out x.png 2>err &&
  fail "--out-dir with --out but no --grid accepted"
grep -q "out-dir writes one figure per picture" err || fail "--out with --out-dir: $(cat err)"

# ---- --raw: one CSV format, always with a header; --raw-scale none ------------------------
./shapes gradcam set/circle/circle_0000.png --raw one.csv --out one.png >/dev/null ||
  fail "--raw on one picture"
./shapes gradcam set/circle/circle_0000.png --raw none.csv --raw-scale none --out one.png \
  >/dev/null || fail "--raw-scale none"
./shapes gradcam mine/a/circle_0000.png mine/a/square_0001.jpg --raw two.csv --out two.png \
  >/dev/null || fail "--raw on two pictures"
python3 - <<'PY' || fail "--raw files are not the documented CSV"
import csv
def rows(path):
    r = list(csv.reader(open(path)))
    assert r[0] == ['image', 'name', 'row', 'col', 'value'], r[0]
    return r[1:]
one, none, two = rows('one.csv'), rows('none.csv'), rows('two.csv')
assert len(one) == 8 * 8 and len(two) == 2 * 8 * 8, (len(one), len(two))   # conv2d_2 is 8x8
assert {r[1] for r in two} == {'mine/a/circle_0000.png', 'mine/a/square_0001.jpg'}
assert [r[0] for r in two[::64]] == ['0', '1']
PY
python3 - <<'PY' || fail "--raw values"
import csv
def values(path):
    return [float(r[4]) for r in list(csv.reader(open(path)))[1:]]
scaled, unscaled = values('one.csv'), values('none.csv')
assert len(scaled) == len(unscaled)
assert max(scaled) == 1.0, max(scaled)
assert max(unscaled) > 0 and abs(max(unscaled) - 1.0) > 1e-3, max(unscaled)
ratio = max(unscaled)
assert all(abs(u - s * ratio) <= 1e-4 * ratio + 1e-6 for s, u in zip(scaled, unscaled))
PY
./shapes gradcam set/circle/circle_0000.png --raw x.csv --raw-scale big 2>err &&
  fail "bad --raw-scale accepted"
grep -q "raw-scale must be max or none" err || fail "bad --raw-scale: $(cat err)"

# ---- digits: labels= and prepare= in the model file; --first K beyond 50 rows -------------
digit_subset digits 1000 200
sed 's/^model mnist_cam$/model mnist_cam labels="zero,one,two,three,four,five,six,seven,eight,nine"/' \
  "$src/models/mnist.cnn" >named.cnn
grep -q 'labels=' named.cnn || fail "the labels line was not added"
"$bin/cnnc" named.cnn -o named
./named train --data digits --epochs 1 --threads 2 >out 2>/dev/null || fail "train: $(cat out)"
cp mnist_cam.weights named.weights   # the program of model mnist_cam reads mnist_cam.weights
grep -q "Classes: 0 zero, 1 one" out || fail "labels= not shown by train: $(cat out)"
./named evaluate --data digits >out || fail "evaluate"
grep -q "  zero  *one  *two" out || fail "no names in the confusion matrix's columns: $(cat out)"
./named gradcam --data digits --first 60 --out-dir firsts >out || fail "--first 60 --out-dir"
[ "$(ls firsts | wc -l)" = 60 ] || fail "--first 60 wrote $(ls firsts | wc -l) figures"
grep -q "^test image 0: true [a-z]* - pred [a-z]* (" out || fail "names in captions: $(head -3 out)"
./named gradcam --data digits --first 60 2>err && fail "60 rows of panels in one picture"
grep -q "add --out-dir DIR" err || fail "--first 60 alone: $(cat err)"

# A model file's labels= that does not fit is refused with its position.
sed 's/^model mnist_cam$/model mnist_cam labels="a,b"/' "$src/models/mnist.cnn" >bad.cnn
"$bin/cnnc" bad.cnn -o bad 2>err && fail "2 labels for 10 classes accepted"
grep -q "bad.cnn:8:.*'labels' names 2 classes, but the model has 10 outputs" err ||
  fail "labels count: $(cat err)"
sed 's/^input .*/input shape=28x28x1 prepare=sideways/' "$src/models/mnist.cnn" >bad2.cnn
"$bin/cnnc" bad2.cnn -o bad2 2>err && fail "prepare=sideways accepted"
grep -q "'prepare' must be 'resize' or 'digit'" err || fail "prepare: $(cat err)"

# ---- the interpreter and the program prepare a picture identically ------------------------
# A dark digit on white paper, larger than 28x28: test image 0 inverted, enlarged 3x, with
# a white margin (as a scan of handwriting would be).
python3 - "$data" <<'PY'
import gzip, os, struct, sys, zlib
path = os.path.join(sys.argv[1], 't10k-images-idx3-ubyte')
raw = open(path if os.path.exists(path) else path + '.gz', 'rb').read()
if raw[:2] == b'\x1f\x8b':
    raw = gzip.decompress(raw)
digit = raw[16:16 + 784]
w, h = 110, 100
rows = []
for y in range(h):
    row = bytearray([255] * w)
    for x in range(w):
        sy, sx = (y - 8) // 3, (x - 12) // 3
        if 0 <= sy < 28 and 0 <= sx < 28:
            row[x] = 255 - digit[sy * 28 + sx]
    rows.append(b'\0' + bytes(row))
def chunk(kind, body):
    return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))
png = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) +
       chunk(b'IDAT', zlib.compress(b''.join(rows))) + chunk(b'IEND', b''))
open('dark.png', 'wb').write(png)
PY
compare() {   # MODEL_FILE PROGRAM: the interpreter's and the program's probabilities agree
  "$bin/cnnc" "$1" --interpret=dark.png --weights=named.weights >interp.txt 2>interp.err ||
    fail "--interpret on $1: $(cat interp.err)"
  "./$2" predict --weights named.weights --format csv dark.png >prog.csv || fail "predict $2"
  python3 - <<'PY' || fail "$1: the interpreter and the program disagree: $(cat interp.txt) $(cat prog.csv)"
import csv
interp = [float(l.split(':')[1]) for l in open('interp.txt') if l.startswith('class ')]
row = list(csv.reader(open('prog.csv')))[1]
prog = [float(v) for v in row[4:]]
assert len(interp) == len(prog) == 10
assert max(abs(a - b) for a, b in zip(interp, prog)) < 1e-4, (interp, prog)
print('  agree: class %d, %.4f' % (max(range(10), key=lambda k: prog[k]), max(prog)))
PY
}
compare named.cnn named                       # prepare=digit: inverted, cropped, centred
sed 's/ prepare=digit//' named.cnn >plain.cnn # no prepare=: resized like Keras's load_img
"$bin/cnnc" plain.cnn -o plain
compare plain.cnn plain
# The two preparations give different inputs: the program says which it used.
./named predict --weights named.weights dark.png >out || fail "predict digit"
grep -q "inverted to a light digit on black" out || fail "prepare=digit did not invert: $(cat out)"
./plain predict --weights named.weights dark.png >out || fail "predict plain"
grep -q "inverted" out && fail "prepare=resize inverted the picture: $(cat out)"

# ---- a model without softmax prints scores, not percentages -------------------------------
sed -e '/^softmax$/d' -e 's/loss=categorical_crossentropy/loss=mse/' "$src/models/mnist.cnn" \
  >mse.cnn
"$bin/cnnc" mse.cnn -o mse
./mse train --data digits --epochs 1 --threads 2 --quiet >/dev/null 2>&1 || fail "train mse"
./mse predict dark.png >out || fail "predict mse"
grep -q "predicted .* (score " out || fail "mse predict should print scores: $(cat out)"
grep -q "%" out && fail "mse predict printed percentages: $(cat out)"
./mse gradcam dark.png --out mse.png >out || fail "gradcam mse"
grep -q "pred .* (score " out || fail "mse gradcam should print scores: $(cat out)"
echo "ok"
