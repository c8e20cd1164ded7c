#!/usr/bin/env python3
"""PNG helper for the end-to-end tests (python3 standard library only).

    png_tool.py check FILE...      validates each PNG and prints "FILE WIDTH HEIGHT"
    png_tool.py stroke FILE [dark]  writes a 56x56 8-bit gray PNG of a "1": a vertical
                                    stroke, white on black (MNIST-like) or, with "dark",
                                    black on white (as a photo of handwriting would be)

"check" is stricter than looking at the signature: every chunk's CRC must match, IHDR
must come first and IEND last, and the inflated pixel data must have exactly the size the
header implies. It exits non-zero with the reason on the first bad file.
"""
import struct
import sys
import zlib

SIGNATURE = b'\x89PNG\r\n\x1a\n'
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}   # PNG colour type -> samples per pixel


def check(path):
    data = open(path, 'rb').read()
    if data[:8] != SIGNATURE:
        raise ValueError('bad signature')
    pos, kinds, idat, header = 8, [], b'', None
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError('truncated chunk at byte %d' % pos)
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise ValueError('truncated %s chunk' % kind)
        crc, = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError('bad CRC in %s chunk' % kind)
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        kinds.append(kind)
        pos += 12 + length
    if not kinds or kinds[0] != b'IHDR' or kinds[-1] != b'IEND':
        raise ValueError('chunks out of order: %s' % kinds)
    width, height, depth, colour, _, _, interlace = header
    if width < 1 or height < 1 or colour not in CHANNELS or interlace != 0:
        raise ValueError('bad IHDR %s' % (header,))
    row_bytes = 1 + (width * CHANNELS[colour] * depth + 7) // 8
    if len(zlib.decompress(idat)) != height * row_bytes:
        raise ValueError('pixel data does not match %dx%d' % (width, height))
    return width, height


def write_gray(path, rows):
    def chunk(kind, body):
        return (struct.pack('>I', len(body)) + kind + body +
                struct.pack('>I', zlib.crc32(kind + body)))
    raw = b''.join(b'\0' + bytes(row) for row in rows)
    header = struct.pack('>IIBBBBB', len(rows[0]), len(rows), 8, 0, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(SIGNATURE + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(raw)) +
                chunk(b'IEND', b''))


def stroke(path, dark):
    size, ink, paper = 56, 255, 0
    if dark:
        ink, paper = paper, ink
    rows = [[paper] * size for _ in range(size)]
    for y in range(10, 46):
        for x in range(25, 31):
            rows[y][x] = ink
    write_gray(path, rows)


def main(argv):
    if len(argv) >= 2 and argv[0] == 'check':
        for path in argv[1:]:
            try:
                width, height = check(path)
            except (OSError, ValueError, zlib.error, struct.error) as e:
                sys.exit('%s: not a valid PNG: %s' % (path, e))
            print(path, width, height)
    elif len(argv) in (2, 3) and argv[0] == 'stroke':
        stroke(argv[1], len(argv) == 3 and argv[2] == 'dark')
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
