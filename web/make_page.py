"""Writes the draw-a-digit page into a folder (called by scripts/cross-build.sh web):
index.html with a few test-set digits inlined (so one click loads one, with no request),
page.js as written by hand, the module's file name filled in.

    python3 web/make_page.py WEB_SOURCE_DIR OUT_DIR MODULE.wasm IMAGES.idx LABELS.idx
"""
import base64
import json
import os
import shutil
import sys

EXAMPLES = 8  # the first test digits: enough to try, small enough for the page


def read_idx(path, header, size, count):
    with open(path, 'rb') as f:
        data = f.read(header + size * count)
    if len(data) < header + size * count:
        sys.exit(f'make_page.py: {path}: fewer than {count} items')
    return [data[header + i * size:header + (i + 1) * size] for i in range(count)]


def main():
    src, out, module, images, labels = sys.argv[1:6]
    pictures = read_idx(images, 16, 784, EXAMPLES)
    classes = read_idx(labels, 8, 1, EXAMPLES)
    examples = [{'index': i, 'label': classes[i][0],
                 'pixels': base64.b64encode(pictures[i]).decode()} for i in range(EXAMPLES)]
    with open(os.path.join(src, 'index.html'), encoding='utf-8') as f:
        page = f.read()
    page = page.replace('@MODULE@', module).replace('@EXAMPLES@', json.dumps(examples))
    tmp = os.path.join(out, 'index.html.tmp')
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(page)
    os.replace(tmp, os.path.join(out, 'index.html'))
    shutil.copyfile(os.path.join(src, 'page.js'), os.path.join(out, 'page.js'))


main()
