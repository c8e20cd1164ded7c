#!/usr/bin/python3
"""A PyTorch model brought to cnnc through ONNX (bench/pytorch_onnx_import.sh runs it).

    pytorch_onnx_import.py export OUT_DIR DATA_DIR N
        trains a small PyTorch CNN for a few steps on the first 2048 training digits, exports
        it with torch.onnx.export (opset 13) to OUT_DIR/torch_cnn.onnx, writes the first N
        test digits as OUT_DIR/digit_I.png and PyTorch's answers for them to
        OUT_DIR/torch.json: probabilities, and the HiResCAM map (cnnc's default Grad-CAM
        method: the gradient of the predicted class's logit times the activations, summed
        over channels, ReLU, divided by the maximum) of the last convolution's ReLU output,
        cnnc's layer conv2d_1
    pytorch_onnx_import.py compare OUT_DIR N
        compares cnnc's predict --format json (OUT_DIR/cnnc_predict.json) and gradcam --raw
        maps (OUT_DIR/cnnc_cam_I.csv) with PyTorch's; one JSON line, exit 1 above 1e-5
"""
import gzip
import json
import os
import struct
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

TOLERANCE = 1e-5


class TorchCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 7 * 7, 10))

    def forward(self, x):
        return self.head(self.features(x))


def read_idx(directory, name):
    for path in (os.path.join(directory, name), os.path.join(directory, name + '.gz')):
        if os.path.exists(path):
            raw = open(path, 'rb').read()
            return gzip.decompress(raw) if raw[:2] == b'\x1f\x8b' else raw
    sys.exit('missing %s in %s' % (name, directory))


def digits(directory, split, n):
    images = read_idx(directory, '%s-images-idx3-ubyte' % split)
    labels = read_idx(directory, '%s-labels-idx1-ubyte' % split)
    x = torch.tensor(list(images[16:16 + n * 784]), dtype=torch.float32).view(n, 1, 28, 28) / 255
    return x, torch.tensor(list(labels[8:8 + n]), dtype=torch.long)


def png(path, pixels):
    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))
    rows = b''.join(b'\x00' + bytes(pixels[y * 28:(y + 1) * 28]) for y in range(28))
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 28, 28, 8, 0, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))


def gradcam(model, x):
    feats = model.features(x)
    logits = model.head(feats)
    score = logits.gather(1, logits.detach().argmax(1)[:, None]).sum()
    (grads,) = torch.autograd.grad(score, feats)
    maps = F.relu((feats * grads).sum(1)).detach()
    peak = maps.amax(dim=(1, 2))
    return torch.where(peak[:, None, None] > 0, maps / peak.clamp_min(1e-30)[:, None, None],
                       torch.zeros_like(maps)), F.softmax(logits.detach(), dim=1)


def export(out, data, n):
    torch.manual_seed(1)
    model = TorchCnn()
    x, y = digits(data, 'train', 2048)
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    for epoch in range(3):
        for i in range(0, 2048, 64):
            opt.zero_grad()
            F.cross_entropy(model(x[i:i + 64]), y[i:i + 64]).backward()
            opt.step()
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), os.path.join(out, 'torch_cnn.onnx'),
                      opset_version=13, input_names=['image'], output_names=['logits'],
                      dynamic_axes={'image': {0: 'N'}, 'logits': {0: 'N'}})
    tx, _ = digits(data, 't10k', n)
    raw = read_idx(data, 't10k-images-idx3-ubyte')
    for i in range(n):
        png(os.path.join(out, 'digit_%d.png' % i), raw[16 + i * 784:16 + (i + 1) * 784])
    maps, probs = gradcam(model, tx)
    json.dump({'probs': probs.tolist(), 'maps': maps.tolist()}, open(os.path.join(out, 'torch.json'), 'w'))


def raw_map(path):
    """gradcam --raw's CSV (header image,name,row,col,value; one picture) as rows. The name
    may hold commas, so the last three fields are taken from the right."""
    cells = [line.rstrip('\n').rsplit(',', 3) for line in open(path)][1:]
    height = max(int(c[1]) for c in cells) + 1
    width = max(int(c[2]) for c in cells) + 1
    grid = [[0.0] * width for _ in range(height)]
    for c in cells:
        grid[int(c[1])][int(c[2])] = float(c[3])
    return grid


def compare(out, n):
    torch_answers = json.load(open(os.path.join(out, 'torch.json')))
    cnnc = json.load(open(os.path.join(out, 'cnnc_predict.json')))
    prob_diff = max(abs(a - b) for p, row in zip(cnnc, torch_answers['probs'])
                    for a, b in zip(p['probabilities'].values(), row))
    same_class = sum(p['class'] == max(range(10), key=row.__getitem__)
                     for p, row in zip(cnnc, torch_answers['probs']))
    map_diff, nonzero = 0.0, 0
    for i in range(n):
        rows = raw_map(os.path.join(out, 'cnnc_cam_%d.csv' % i))
        map_diff = max(map_diff, max(abs(a - b) for r, t in zip(rows, torch_answers['maps'][i])
                                     for a, b in zip(r, t)))
        nonzero += max(max(r) for r in rows) > 0
    result = {'images': n, 'same_class': same_class, 'nonzero_maps': nonzero,
              'max_abs_diff_probs': prob_diff,
              'max_abs_diff_gradcam_maps': map_diff, 'tolerance': TOLERANCE}
    print(json.dumps(result))
    if prob_diff > TOLERANCE or map_diff > TOLERANCE or same_class != n:
        sys.exit('cnnc and PyTorch disagree')


if __name__ == '__main__':
    if sys.argv[1] == 'export':
        export(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == 'compare':
        compare(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
