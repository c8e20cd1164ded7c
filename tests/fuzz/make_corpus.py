#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/), small valid
files of each real format plus a few near misses, so the fuzzers start from inputs that
reach deep into each reader. Standard library only; deterministic. Run it again after a
format changes:  python3 tests/fuzz/make_corpus.py  [MNIST-DIR for real digits]

Input layouts follow the targets (tests/fuzz/fuzz_<target>.c): png and weights inputs start
with one switch byte before the file; cmdline inputs are NUL-separated arguments.
"""
import gzip
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, 'corpus')


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


# ---- model files ----------------------------------------------------------------------

def model_seeds():
    for name in sorted(os.listdir(os.path.join(ROOT, 'models'))):
        if name.endswith('.cnn'):
            put('model', name, open(os.path.join(ROOT, 'models', name), 'rb').read())
    put('model', 'tiny_all_layers.cnn', b"""model tiny
input shape=8x8x3
conv2d filters=4 kernel=3x3 strides=1 padding=valid activation=tanh use_bias=false
avg_pool2d
conv2d filters=2 kernel=1 padding=same activation=sigmoid
global_avg_pool2d
dropout rate=0.25
dense units=3 activation=relu
softmax
compile loss=mse optimizer=sgd lr=0.1 momentum=0.9
fit epochs=1 batch_size=2 validation_split=0
gradcam layer=conv2d_1
""")
    put('model', 'errors.cnn', b"model 9bad\ninput shape=0x28\nconv2d filters=-1 kernel=99\n"
                                b"dense\ncompile loss=nope\n")


# ---- IDX files ------------------------------------------------------------------------

def idx(type_byte, dims, payload):
    head = struct.pack('>BBBB', 0, 0, type_byte, len(dims)) + b''.join(
        struct.pack('>I', d) for d in dims)
    return head + payload


def mnist_digits(mnist_dir, count):
    """The first `count` test digits and labels, or synthetic ones without MNIST."""
    images = os.path.join(mnist_dir or '', 't10k-images-idx3-ubyte')
    labels = os.path.join(mnist_dir or '', 't10k-labels-idx1-ubyte')
    if mnist_dir and os.path.exists(images) and os.path.exists(labels):
        pixels = open(images, 'rb').read()[16:16 + count * 784]
        return pixels, open(labels, 'rb').read()[8:8 + count]
    pixels = bytes((x * 7 + y * 3 + i * 50) % 256 for i in range(count)
                   for y in range(28) for x in range(28))
    return pixels, bytes(i % 10 for i in range(count))


def idx_seeds(mnist_dir):
    pixels, labels = mnist_digits(mnist_dir, 2)
    images = idx(8, [2, 28, 28], pixels)
    put('idx', 'images2.idx3', images)
    put('idx', 'images2.idx3.gz', gz(images))
    put('idx', 'labels2.idx1', idx(8, [2], labels))
    put('idx', 'labels2.idx1.gz', gz(idx(8, [2], labels)))
    put('idx', 'colour3x4x4x3.idx4', idx(8, [3, 4, 4, 3], bytes(range(144))))
    put('idx', 'two_members.gz', gz(images[:100]) + gz(images[100:]))
    put('idx', 'truncated.idx3', images[:300])
    put('idx', 'float_type.idx1', idx(0x0D, [1], b'\0\0\x80\x3f'))


# ---- PNG files ------------------------------------------------------------------------

def chunk(kind, body):
    return struct.pack('>I', len(body)) + kind + body + struct.pack(
        '>I', zlib.crc32(kind + body) & 0xffffffff)


def png(width, height, colour_type, depth, rows, interlace=0, extra=b''):
    ihdr = struct.pack('>IIBBBBB', width, height, depth, colour_type, 0, 0, interlace)
    raw = b''.join(b'\0' + r for r in rows)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + extra +
            chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def png_seeds(mnist_dir):
    pixels, _ = mnist_digits(mnist_dir, 1)
    digit_rows = [pixels[y * 28:(y + 1) * 28] for y in range(28)]
    # The first byte picks the alpha background: 0 white, 1 black, 2 auto.
    put('png', 'gray28.png', b'\2' + png(28, 28, 0, 8, digit_rows))
    put('png', 'gray_inverted.png', b'\0' + png(28, 28, 0, 8,
                                               [bytes(255 - v for v in r) for r in digit_rows]))
    rgb = [bytes((x * 9 + c * 80 + y) % 256 for x in range(10) for c in range(3))
           for y in range(7)]
    put('png', 'rgb10x7.png', b'\0' + png(10, 7, 2, 8, rgb))
    rgba = [bytes((x * 40, y * 40, 128, (x + y) * 30 % 256)[c] for x in range(6)
                  for c in range(4)) for y in range(6)]
    put('png', 'rgba6x6.png', b'\2' + png(6, 6, 6, 8, rgba))
    put('png', 'gray_alpha16.png', b'\1' + png(3, 2, 4, 16, [bytes(range(12)),
                                                             bytes(range(12, 24))]))
    palette = chunk(b'PLTE', bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 255, 255]))
    trns = chunk(b'tRNS', bytes([255, 128]))
    put('png', 'palette2bit.png', b'\1' + png(8, 2, 3, 2, [b'\x1b\xe4', b'\xe4\x1b'],
                                              extra=palette + trns))
    # Interlaced (Adam7): the seven passes of a 4x4 1-bit image, each row with its filter
    # byte. For 4x4, passes 2 and 3 are empty; pass 1 is 1 row of 1 pixel, pass 4 1 of 1,
    # pass 5 1 row of 2, pass 6 2 rows of 2, pass 7 2 rows of 4.
    adam7 = [b'\x80', b'\x80', b'\xc0', b'\xc0', b'\x40', b'\xa0', b'\x50']
    ihdr = struct.pack('>IIBBBBB', 4, 4, 1, 0, 0, 0, 1)
    raw = b''.join(b'\0' + r for r in adam7)
    put('png', 'interlaced1bit.png', b'\0' + b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) +
        chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


# ---- weights files --------------------------------------------------------------------

def le_string(s):
    return struct.pack('<I', len(s)) + s


def weights_file(fingerprint, model, tensors, opt=None, epochs=0, steps=0, seed=7,
                 history=()):
    """tensors: [(name, dims, floats)]; opt: (kind, floats) or None."""
    body = struct.pack('<Q', fingerprint) + le_string(model) + struct.pack('<I', len(tensors))
    for name, dims, values in tensors:
        body += le_string(name) + struct.pack('<I', len(dims))
        body += b''.join(struct.pack('<Q', d) for d in dims)
        body += struct.pack('<%df' % len(values), *values)
    if opt:
        body += struct.pack('<IQ', opt[0], len(opt[1])) + struct.pack('<%df' % len(opt[1]),
                                                                      *opt[1])
    body += struct.pack('<QQQQ', epochs, steps, seed, len(history))
    for row in history:
        body += struct.pack('<4f', *row)
    head_len = 8 + 4 + 4 + 8
    total = head_len + len(body) + 4
    data = b'CNNCWGT1' + struct.pack('<IIQ', 1, 1 if opt else 0, total) + body
    return data + struct.pack('<I', zlib.crc32(data) & 0xffffffff)


def weights_seeds():
    # The model of tests/unit/fake_model.inc: dense/kernel 196x10, dense/bias 10.
    kernel = [((i * 37) % 101 - 50) / 500.0 for i in range(1960)]
    bias = [i / 100.0 for i in range(10)]
    fake = [(b'dense/kernel', [196, 10], kernel), (b'dense/bias', [10], bias)]
    nan = float('nan')
    # Switch byte: bit 0 = load against the fake model, bit 1 = repair size and CRC.
    put('weights', 'fake_trained.bin', b'\1' + weights_file(
        0xFA4E0001, b'fake', fake, epochs=2, steps=10,
        history=[(2.1, 0.3, nan, nan), (1.5, 0.6, 1.6, 0.55)]))
    put('weights', 'fake_adam_small_opt.bin', b'\3' + weights_file(
        0xFA4E0001, b'fake', fake, opt=(2, [0.0] * 8), epochs=1, steps=5))
    tiny = [(b'conv2d/kernel', [1, 1, 1, 2], [0.5, -0.5]), (b'conv2d/bias', [2], [0.0, 1.0])]
    put('weights', 'tiny_sgd.bin', b'\0' + weights_file(
        0x1234, b'tiny', tiny, opt=(1, [0.1, 0.2, 0.3, 0.4]), epochs=1, steps=3,
        history=[(0.5, 1.0, nan, nan)]))
    put('weights', 'tiny_adam.bin', b'\2' + weights_file(
        0x1234, b'tiny', tiny, opt=(2, [0.0] * 8), epochs=3, steps=9))
    put('weights', 'rank4_no_history.bin', b'\0' + weights_file(
        1, b'r', [(b'k', [1, 2, 1, 2], [1.0, 2.0, 3.0, 4.0])]))


# ---- command lines --------------------------------------------------------------------

def cmdline_seeds():
    lines = {
        'summary': ['summary'],
        'help': ['--help'],
        'train_help': ['train', '--help'],
        'train': ['train', '--epochs', '2', '--batch-size=16', '--lr', '0.01',
                  '--validation-split', '0.1', '--seed', '3', '--threads', '2', '--quiet'],
        'train_resume': ['train', '--resume', '--weights', 'w.bin', '--data', 'nowhere'],
        'evaluate': ['evaluate', '--weights', 'w.bin', '--threads=1'],
        'predict': ['predict', '--index', '3', 'digit.png', '--', '-x.png'],
        'gradcam': ['gradcam', '--index', '1', '--method', 'hirescam', '--score', 'logit',
                    '--layer', 'average_pooling2d', '--colormap', 'jet', '--alpha', '0.4',
                    '--out', 'g.png', '--raw', 'g.bin'],
        'gradcam_grid': ['gradcam', '--first', '8', '--grid', '--class', '7',
                         '--evaluate', '--method=guided'],
        'unknown': ['fit', '--epochs'],
    }
    for name, args in lines.items():
        put('cmdline', name, b'\0'.join(a.encode() for a in args))


def main():
    mnist_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'data', 'mnist')
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    model_seeds()
    idx_seeds(mnist_dir)
    png_seeds(mnist_dir)
    weights_seeds()
    cmdline_seeds()


if __name__ == '__main__':
    main()
