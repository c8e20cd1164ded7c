#!/usr/bin/env python3
"""Inputs and comparisons for the interop tests (python3 standard library only).

    pictures.py write DIR N H W C SEED
        writes N random pictures DIR/pic_I.png (8-bit gray for C=1, RGB for C=3) and the
        same pixels as model inputs, value/255 as little-endian float32 NHWC, to
        DIR/inputs.f32 (what `PROG predict --prepare resize` computes from the pictures)
    pictures.py compare PREDICT.json ROWS.json TOLERANCE [softmax]
        compares the probabilities of `PROG predict --format json` (in picture order) with
        another framework's rows (a JSON list of lists; with "softmax", scores whose
        softmax is compared); prints the largest difference and exits 1 when it is above
        TOLERANCE or the predicted classes differ
"""
import json
import math
import random
import struct
import sys
import zlib


def png(path, width, height, channels, pixels):
    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))
    rows = b''.join(b'\x00' + bytes(pixels[y * width * channels:(y + 1) * width * channels])
                    for y in range(height))
    kind = {1: 0, 3: 2}[channels]
    data = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, kind, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
    with open(path, 'wb') as f:
        f.write(data)


def write(directory, n, h, w, c, seed):
    rng = random.Random(seed)
    floats = []
    for i in range(n):
        # blobs on a dark background, so that the pictures look a little like digits
        pixels = [rng.randrange(0, 60) if rng.random() < 0.7 else rng.randrange(0, 256)
                  for _ in range(h * w * c)]
        png('%s/pic_%d.png' % (directory, i), w, h, c, pixels)
        floats.extend(p / 255.0 for p in pixels)
    with open('%s/inputs.f32' % directory, 'wb') as f:
        f.write(struct.pack('<%df' % len(floats), *floats))


def softmax(row):
    top = max(row)
    e = [math.exp(v - top) for v in row]
    return [v / sum(e) for v in e]


def compare(predict_path, rows_path, tolerance, scores=False):
    predicted = json.load(open(predict_path))
    rows = json.load(open(rows_path))
    if scores:
        rows = [softmax(r) for r in rows]
    if len(predicted) != len(rows):
        sys.exit('%d predictions but %d rows' % (len(predicted), len(rows)))
    worst = 0.0
    for p, row in zip(predicted, rows):
        probs = list(p.get('probabilities', p.get('scores')).values())
        if len(probs) != len(row):
            sys.exit('%s: %d classes, the other has %d' % (p['path'], len(probs), len(row)))
        worst = max(worst, max(abs(a - b) for a, b in zip(probs, row)))
        if p['class'] != max(range(len(row)), key=lambda k: row[k]):
            sys.exit('%s: class %d, the other says %d' % (p['path'], p['class'], row.index(max(row))))
    print('largest difference %.3g over %d pictures' % (worst, len(rows)))
    if worst > tolerance:
        sys.exit('above the tolerance %g' % tolerance)


if __name__ == '__main__':
    if sys.argv[1] == 'write':
        write(sys.argv[2], *map(int, sys.argv[3:8]))
    elif sys.argv[1] == 'compare':
        compare(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5:] == ['softmax'])
    else:
        sys.exit(__doc__)
