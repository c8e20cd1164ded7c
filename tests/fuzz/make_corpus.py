#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/), small valid
files of each real format plus a few near misses, so the fuzzers start from inputs that
reach deep into each reader. Standard library only; deterministic. Run it again after a
format changes:  python3 tests/fuzz/make_corpus.py  [MNIST-DIR for real digits]

Input layouts follow the targets (tests/fuzz/fuzz_<target>.c): png, picture and weights
inputs start with one switch byte before the file; cmdline inputs are NUL-separated
arguments; folder inputs are two option bytes and "FILE:path\\n" entries.
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


# ---- pictures of any format (JPEG, GIF, BMP, and PNG by content) -------------------------

# Small JPEGs made once with libjpeg-turbo (jpeg_set_quality 40-50, optimized Huffman
# tables), kept as hex so that this script needs nothing but Python: gray, RGB 4:2:0,
# progressive RGB and CMYK.
JPEGS = {
    'gray8x8': (
        'ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318'
        '281a181616183123251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d'
        '71797064785c656763ffc0000b080008000801011100ffc400140001000000000000000000000000'
        '00000003ffc4001c1001000202030100000000000000000000010203112112132291ffda00080101'
        '00003f001e251475b18c68b0c0116a83a0d441b267af438f9b3fffd9'
    ),
    'rgb9x7': (
        'ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318'
        '281a181616183123251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d'
        '71797064785c656763ffdb0043011112121815182f1a1a2f63423842636363636363636363636363'
        '6363636363636363636363636363636363636363636363636363636363636363636363636363ffc0'
        '0011080007000903012200021101031101ffc4001600010101000000000000000000000000000003'
        '04ffc400201001000201020700000000000000000000010211000331122125325391d2ffc4001401'
        '0100000000000000000000000000000003ffc4001a11000202030000000000000000000000000102'
        '00113141d1ffda000c03010002110311003f009418496030aab40a87091dd2afb51adeb96ec9cdbd'
        '47c0fbd2f9c631022962a7550cb5006b3d9fffd9'
    ),
    'rgb_progressive16x8': (
        'ffd8ffe000104a46494600010100000100010000ffdb004300140e0f120f0d14121012171514181e'
        '32211e1c1c1e3d2c2e243249404c4b47404645505a736250556d5645466488656d777b8182814e60'
        '8d978c7d96737e817cffdb0043011517171e1a1e3b21213b7c5346537c7c7c7c7c7c7c7c7c7c7c7c'
        '7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7cffc2'
        '0011080008001003012200021101031101ffc4001500010100000000000000000000000000000001'
        'ffc40014010100000000000000000000000000000000ffda000c03010002100310000001943fffc4'
        '0014100100000000000000000000000000000010ffda00080101000105023fffc400141101000000'
        '00000000000000000000000000ffda0008010301013f017fffc40014110100000000000000000000'
        '000000000000ffda0008010201013f017fffc40014100100000000000000000000000000000010ff'
        'da0008010100063f023fffc4001c100002010501000000000000000000000001f0002131415161c1'
        'ffda0008010100013f21031e51772e15e4ffda000c0301000200030000001073ffc4001511010100'
        '000000000000000000000000000001ffda0008010301013f108fffc4001511010100000000000000'
        '000000000000000031ffda0008010201013f108fffc4001a10000301000300000000000000000000'
        '0001113121004161ffda0008010100013f1007409ac20b22708cbd53c2b6366a0fccac1df1c0e7ff'
        'd9'
    ),
    'cmyk4x4': (
        'ffd8ffee000e41646f626500640000000000ffdb004300100b0c0e0c0a100e0d0e1211101318281a'
        '181616183123251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d7179'
        '7064785c656763ffc000140800040004044311004d11005911004b1100ffc4001500010100000000'
        '000000000000000000000503ffc40022100001040006030100000000000000000001020304110005'
        '2131415112223271ffda000e0443004d0059004b00003f00be530db9f0d2ea96eb04040f18ee16d3'
        'f093b0eaeafa03f70ae4797372a1a9c2fc968129210d3c5294da1268575742ef4a1c609ce9f44492'
        'c36b8cc49263b6af37d24a85a6eb4234ebadb6a183de98869280b8511e3efecb6c83f6a1c11bd5fe'
        '93c501ffd9'
    ),
}


def gif(width, height, palette, pixels, transparent=None, interlace=False):
    """A GIF89a with a global palette of 4 colours. The LZW data sends a clear code before
    every pixel, so codes stay 3 bits wide: valid, and simple to write."""
    colours = (palette + [(0, 0, 0)] * 4)[:4]
    head = b'GIF89a' + struct.pack('<HHBBB', width, height, 0x81, 0, 0)
    head += b''.join(bytes(c) for c in colours)
    if transparent is not None:
        head += b'\x21\xf9\x04\x01\x00\x00' + bytes([transparent]) + b'\x00'
    head += b'\x2c' + struct.pack('<HHHHB', 0, 0, width, height, 0x40 if interlace else 0)
    clear, end = 4, 5
    codes = []
    for p in pixels:
        codes += [clear, p]
    codes.append(end)
    bits = 0
    nbits = 0
    out = bytearray()
    for c in codes:
        bits |= c << nbits
        nbits += 3
        while nbits >= 8:
            out.append(bits & 255)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 255)
    blocks = b''.join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255])
                      for i in range(0, len(out), 255))
    return head + b'\x02' + blocks + b'\x00' + b'\x3b'


def bmp(width, height, bpp, rows, palette=None, header=40, masks=None, top_down=False):
    """A BMP: rows bottom-up (top-down with a negative height) padded to 4 bytes; header 12
    (OS/2 core), 40 (info) or 108 (V4, with the bit-field masks in it)."""
    stride = (width * bpp + 31) // 32 * 4
    data = b''.join(r + b'\0' * (stride - len(r)) for r in (rows if top_down else rows[::-1]))
    pal = b''
    if palette:
        pal = b''.join(bytes((b, g, r)) if header == 12 else bytes((b, g, r, 0))
                       for r, g, b in palette)
    if header == 12:
        info = struct.pack('<IHHHH', 12, width, height, 1, bpp)
    else:
        compression = 3 if masks else 0
        info = struct.pack('<IiiHHIIiiII', header, width, -height if top_down else height, 1,
                           bpp, compression, len(data), 2835, 2835,
                           len(palette) if palette else 0, 0)
        if header >= 52 and masks:
            info += struct.pack('<IIII', *masks)
        info += b'\0' * (header - len(info))
        if header == 40 and masks:
            pal = struct.pack('<III', *masks[:3]) + pal
    offset = 14 + len(info) + len(pal)
    return b'BM' + struct.pack('<IHHI', offset + len(data), 0, 0, offset) + info + pal + data


def picture_files(mnist_dir):
    """(name, bytes) of one small picture of every kind the readers know."""
    files = [(name + '.jpg', bytes.fromhex(''.join(h))) for name, h in JPEGS.items()]
    files.append(('gif4x3.gif', gif(4, 3, [(0, 0, 0), (255, 0, 0), (0, 255, 0), (255, 255, 255)],
                                   [0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 2, 2])))
    files.append(('gif_transparent_interlaced.gif',
                  gif(3, 5, [(9, 9, 9), (200, 200, 200)], [0, 1, 1] * 5, transparent=0,
                      interlace=True)))
    rgb = [bytes((x * 60, y * 80, 100)[c] for x in range(3) for c in range(3))
           for y in range(2)]
    files.append(('bmp24.bmp', bmp(3, 2, 24, rgb)))
    files.append(('bmp8_palette.bmp', bmp(5, 2, 8, [b'\0\1\2\3\0', b'\3\2\1\0\1'],
                                          palette=[(0, 0, 0), (255, 0, 0), (0, 0, 255),
                                                   (250, 250, 250)])))
    files.append(('bmp1_core.bmp', bmp(9, 2, 1, [b'\xa5\x80', b'\x5a\x00'],
                                       palette=[(0, 0, 0), (255, 255, 255)], header=12)))
    files.append(('bmp4_topdown.bmp', bmp(3, 2, 4, [b'\x01\x20', b'\x32\x10'],
                                          palette=[(0, 0, 0), (90, 90, 90), (200, 0, 0),
                                                   (0, 200, 0)], top_down=True)))
    rgb565 = [struct.pack('<4H', *(((x * 8) << 11) | ((y * 20) << 5) | x for x in range(4)))
              for y in range(2)]
    files.append(('bmp16_bitfields.bmp', bmp(4, 2, 16, rgb565, masks=(0xf800, 0x07e0, 0x001f))))
    argb = [struct.pack('<3I', *((x * 80 << 16) | (y * 90 << 8) | 0x40 | (0x80 << 24)
                                 for x in range(3))) for y in range(2)]
    files.append(('bmp32_v4.bmp', bmp(3, 2, 32, argb, header=108,
                                      masks=(0xff0000, 0xff00, 0xff, 0xff000000))))
    pixels, _ = mnist_digits(mnist_dir, 1)
    files.append(('digit.png', png(28, 28, 0, 8, [pixels[y * 28:(y + 1) * 28]
                                                  for y in range(28)])))
    rgba = [bytes((x * 40, y * 40, 128, (x + y) * 30 % 256)[c] for x in range(6)
                  for c in range(4)) for y in range(6)]
    files.append(('rgba6x6.png', png(6, 6, 6, 8, rgba)))
    return files


def picture_seeds(mnist_dir):
    # The first byte: bits 0-1 the alpha background, bit 2 read through a file.
    for i, (name, data) in enumerate(picture_files(mnist_dir)):
        put('picture', name, bytes([i % 8]) + data)
    put('picture', 'truncated.jpg', b'\0' + bytes.fromhex(''.join(JPEGS['rgb9x7']))[:150])
    put('picture', 'text.jpg', b'\4' + b'not a picture\n')


# ---- picture folders ------------------------------------------------------------------

def folder_input(options, size, entries):
    """The folder target's input: options byte, size byte, then "FILE:path\ncontent"."""
    return bytes([options, size]) + b''.join(b'FILE:' + p.encode() + b'\n' + d
                                             for p, d in entries)


def folder_seeds(mnist_dir):
    files = dict(picture_files(mnist_dir))
    put('folder', 'two_classes', folder_input(0, 0x77, [
        ('cat/a.png', files['digit.png']), ('cat/b.jpg', files['gray8x8.jpg']),
        ('dog/c.gif', files['gif4x3.gif']), ('dog/deeper/d.bmp', files['bmp24.bmp'])]))
    put('folder', 'rgb_shuffled', folder_input(1 | 4 | 8, 0x34, [
        ('a/x.jpg', files['rgb_progressive16x8.jpg']), ('a/y.bmp', files['bmp32_v4.bmp']),
        ('b/z.jpg', files['cmyk4x4.jpg']), ('b/README', b'some notes\n'),
        ('b/.DS_Store', b'\0\0\0\1Bud1')]))
    put('folder', 'bad_picture_skipped', folder_input(2, 0x11, [
        ('one/good.bmp', files['bmp8_palette.bmp']), ('one/bad.jpg', b'text, not a JPEG'),
        ('two/cut.png', files['rgba6x6.png'][:40]), ('three/', b'')]))
    put('folder', 'links_and_folders', folder_input(3, 0xf0, [
        ('k/p.bmp', files['bmp16_bitfields.bmp']), ('k/link.bmp -> p.bmp', b''),
        ('k/dangling.png -> nowhere.png', b''), ('k/sub/', b''), ('j/q.gif',
                                                                  files['gif_transparent_interlaced.gif'])]))
    put('folder', 'no_classes', folder_input(0, 0, [('top.png', files['digit.png'])]))


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
    picture_seeds(mnist_dir)
    folder_seeds(mnist_dir)


if __name__ == '__main__':
    main()
