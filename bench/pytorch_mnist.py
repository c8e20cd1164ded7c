#!/usr/bin/python3
"""models/mnist.cnn in PyTorch, for side-by-side benchmarks against cnnc.

This file is only for bench/run.sh: PyTorch (Debian's python3-torch) is never a dependency
of cnnc or of its tests.

The model is the Keras tutorial's CNN exactly as models/mnist.cnn declares it:
    conv2d 32 3x3 same relu -> max_pooling2d 2 -> conv2d_1 64 3x3 same relu
    -> max_pooling2d_1 2 -> flatten (in HWC order, as Keras flattens NHWC) -> dense 10 -> softmax
so a cnnc weights file (Keras get_weights() order and layout: conv kernels HWIO, dense
kernel [in][out] over an HWC-flattened input) loads into it unchanged in meaning.

Commands (each prints one JSON object per line on stdout, for run.sh to collect):
    bench     time inference (batch 256 and 1), a training step (batch 64, Adam) and
              Grad-CAM (batch 1 and 256); medians over --reps repetitions
    check     read what bench_cnnc --check-dir wrote (weights, inputs, cnnc's outputs),
              run the same computation here and print the largest differences
    selftest  compare this PyTorch model with a plain NumPy implementation of the Keras
              layout (HWIO kernels, NHWC activations, HWC flatten) on random weights,
              so the weight conversion is checked independently of cnnc
"""

import argparse
import gzip
import json
import os
import statistics
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGE_H, IMAGE_W, IMAGE_C, NUM_CLASSES = 28, 28, 1, 10
ADAM_LR, ADAM_EPS = 1e-3, 1e-7   # Keras's Adam defaults, as models/mnist.cnn compiles


# ---- The model ------------------------------------------------------------------------------

class MnistCam(nn.Module):
    """The tutorial's CNN; attribute names follow the Keras layer names."""

    def __init__(self):
        super().__init__()
        self.conv2d = nn.Conv2d(IMAGE_C, 32, 3, padding=1)      # padding=same, stride 1
        self.conv2d_1 = nn.Conv2d(32, 64, 3, padding=1)
        self.dense = nn.Linear(7 * 7 * 64, NUM_CLASSES)

    def features(self, x):
        """Input NCHW -> output of max_pooling2d_1 (N, 64, 7, 7), the Grad-CAM layer."""
        x = F.max_pool2d(F.relu(self.conv2d(x)), 2)
        return F.max_pool2d(F.relu(self.conv2d_1(x)), 2)

    def head(self, feats):
        """max_pooling2d_1 output -> logits. Flatten in HWC order, as Keras does on NHWC,
        so the dense kernel rows are in the same order as in a cnnc/Keras weights file."""
        return self.dense(feats.permute(0, 2, 3, 1).flatten(1))

    def forward(self, x):
        """Logits (the softmax is applied by the caller, or fused into the loss)."""
        return self.head(self.features(x))

    # Keras get_weights() order, the order of tensors in a cnnc weights file.
    KERAS_ORDER = ("conv2d/kernel", "conv2d/bias", "conv2d_1/kernel", "conv2d_1/bias",
                   "dense/kernel", "dense/bias")

    def torch_params(self):
        return [self.conv2d.weight, self.conv2d.bias, self.conv2d_1.weight,
                self.conv2d_1.bias, self.dense.weight, self.dense.bias]

    def load_keras_tensors(self, tensors):
        """tensors: list of (name, numpy array in Keras layout), in get_weights() order."""
        if len(tensors) != len(self.KERAS_ORDER):
            raise ValueError("expected %d tensors (%s), got %d (%s)" % (
                len(self.KERAS_ORDER), ", ".join(self.KERAS_ORDER), len(tensors),
                ", ".join(n for n, _ in tensors)))
        with torch.no_grad():
            for (name, array), param in zip(tensors, self.torch_params()):
                converted = torch.from_numpy(keras_to_torch(array).copy())
                if tuple(converted.shape) != tuple(param.shape):
                    raise ValueError("tensor %s has shape %s; the PyTorch model needs %s "
                                     "after conversion" % (name, array.shape,
                                                           tuple(param.shape)))
                param.copy_(converted)

    def keras_tensors(self):
        """A copy of the parameters in Keras layout, in get_weights() order."""
        return [(name, torch_to_keras(p.detach().numpy()).copy())
                for name, p in zip(self.KERAS_ORDER, self.torch_params())]


def keras_to_torch(array):
    if array.ndim == 4:          # conv kernel HWIO -> OIHW
        return array.transpose(3, 2, 0, 1)
    if array.ndim == 2:          # dense kernel [in][out] -> nn.Linear weight [out][in]
        return array.T
    return array                 # biases


def torch_to_keras(array):
    if array.ndim == 4:          # OIHW -> HWIO
        return array.transpose(2, 3, 1, 0)
    if array.ndim == 2:
        return array.T
    return array


# ---- cnnc weights files (docs/weights-format.md) -----------------------------------------------

class Reader:
    def __init__(self, data, path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("%s: truncated at byte %d" % (self.path, self.pos))
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def string(self):
        return self.take(self.u32()).decode("utf-8")


def read_cnnc_weights(path):
    """Returns (model name, [(tensor name, float32 array in Keras layout)]) of a cnnc
    weights file, after checking its magic, version, size and CRC-32."""
    model_name, tensors, _ = read_cnnc_weights_with_state(path)
    return model_name, tensors


def read_cnnc_weights_with_state(path):
    """Like read_cnnc_weights, plus the optimizer section: (kind, flat float32 state) with
    kind 1 = SGD, 2 = Adam (m then v, each laid out as the tensors one after another), or
    None when the file has none."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 36 or data[:8] != b"CNNCWGT1":
        raise ValueError("%s: not a cnnc weights file" % path)
    r = Reader(data, path)
    r.take(8)
    version = r.u32()
    if version != 1:
        raise ValueError("%s: weights format version %d, this reader knows 1" % (path, version))
    flags = r.u32()
    if r.u64() != len(data):
        raise ValueError("%s: size in the header differs from the file's size" % path)
    stored_crc = struct.unpack("<I", data[-4:])[0]
    if zlib.crc32(data[:-4]) != stored_crc:
        raise ValueError("%s: CRC mismatch (corrupted file)" % path)
    r.u64()                                   # architecture fingerprint
    model_name = r.string()
    tensors = []
    for _ in range(r.u32()):
        name = r.string()
        dims = [r.u64() for _ in range(r.u32())]
        count = int(np.prod(dims))
        values = np.frombuffer(r.take(4 * count), dtype="<f4").astype(np.float32)
        tensors.append((name, values.reshape(dims)))
    state = None
    if flags & 1:
        kind = r.u32()
        count = r.u64()
        state = (kind, np.frombuffer(r.take(4 * count), dtype="<f4").astype(np.float32))
    return model_name, tensors, state


def split_flat(flat, like):
    """Cuts a flat buffer into arrays shaped like the (name, array) list `like`."""
    parts, offset = [], 0
    for name, array in like:
        parts.append((name, flat[offset:offset + array.size].reshape(array.shape)))
        offset += array.size
    return parts


# ---- Data -------------------------------------------------------------------------------------

def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_idx(directory, base):
    for name in (base, base + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError("%s: neither %s nor %s.gz" % (directory, base, base))


def load_split(directory, prefix):
    """Images as float32 NCHW in [0,1] and int64 labels (prefix 'train' or 't10k')."""
    images = read_idx(find_idx(directory, prefix + "-images-idx3-ubyte"))
    labels = read_idx(find_idx(directory, prefix + "-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(-1, 1, IMAGE_H, IMAGE_W)
    return x, torch.from_numpy(labels.astype(np.int64))


def synthetic(count, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(count, 1, IMAGE_H, IMAGE_W, generator=g)
    y = torch.randint(0, NUM_CLASSES, (count,), generator=g)
    return x, y


# ---- The computations being timed ------------------------------------------------------------

def infer(model, x):
    with torch.no_grad():
        return F.softmax(model(x), dim=1)


def make_train_step(model):
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR, eps=ADAM_EPS)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits, y)          # softmax + categorical cross-entropy
        loss.backward()
        opt.step()
        correct = (logits.detach().argmax(1) == y).sum()   # Keras's acc metric, as cnnc
        return loss.detach(), correct

    return step


def max_rel_diff(ours, theirs):
    """Largest |difference| over all tensors, each relative to the tensor's largest |value|:
    (name, array) lists in the same order."""
    worst = 0.0
    for (_, a), (_, b) in zip(ours, theirs):
        scale = max(float(np.abs(b).max()), 1e-30)
        worst = max(worst, float(np.abs(a - b).max()) / scale)
    return worst


def make_keras_adam_step(model):
    """A training step with Adam written out as Keras (and cnnc) apply it -- epsilon added
    to sqrt(v) before bias correction -- for the equivalence check. (torch.optim.Adam adds
    epsilon after bias correction; the benchmark uses it, since that is what a PyTorch user
    runs and the difference costs nothing.) Returns the step's mean loss."""
    beta_1, beta_2 = 0.9, 0.999
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in model.torch_params()]

    def step(x, y, t):
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        alpha = ADAM_LR * (1 - beta_2 ** t) ** 0.5 / (1 - beta_1 ** t)
        with torch.no_grad():
            for p, (m, v) in zip(model.torch_params(), state):
                m.mul_(beta_1).add_(p.grad, alpha=1 - beta_1)
                v.mul_(beta_2).addcmul_(p.grad, p.grad, value=1 - beta_2)
                p.sub_(alpha * m / (v.sqrt() + ADAM_EPS))
        return float(loss)

    def keras_state():
        """A copy of (m, v) as (name, array) lists in Keras layout and order."""
        return tuple([(name, torch_to_keras(pair[i].numpy()).copy())
                      for name, pair in zip(MnistCam.KERAS_ORDER, state)] for i in (0, 1))

    step.keras_state = keras_state
    return step


def gradcam(model, x):
    """Grad-CAM as the keras.io recipe computes it, on max_pooling2d_1, with the class
    score the logit of the predicted class, channel weights pooled PER IMAGE (the recipe
    pools over the batch; per image is what cnnc computes and what a batch of single-image
    calls of the recipe gives). Returns (maps N x 7 x 7 normalised to [0,1], probs)."""
    feats = model.features(x)
    logits = model.head(feats)
    predicted = logits.detach().argmax(1)
    score = logits.gather(1, predicted[:, None]).sum()   # images are independent
    (grads,) = torch.autograd.grad(score, feats)
    with torch.no_grad():
        channel_weights = grads.mean(dim=(2, 3))                      # N x C
        maps = F.relu((feats * channel_weights[:, :, None, None]).sum(1))
        peak = maps.amax(dim=(1, 2))
        scale = torch.where(peak > 0, 1.0 / peak.clamp_min(1e-30), torch.zeros_like(peak))
        maps = maps * scale[:, None, None]
        probs = F.softmax(logits.detach(), dim=1)
    return maps, probs


# ---- Timing -----------------------------------------------------------------------------------

def time_reps(run_once, images_per_call, reps, seconds, warmup_seconds):
    """images/s of each of `reps` repetitions; each lasts at least `seconds` and 3 calls."""
    end = time.perf_counter() + warmup_seconds
    calls = 0
    while calls < 2 or time.perf_counter() < end:
        run_once()
        calls += 1
    rates = []
    for _ in range(reps):
        calls = 0
        start = time.perf_counter()
        while True:
            run_once()
            calls += 1
            elapsed = time.perf_counter() - start
            if calls >= 3 and elapsed >= seconds:
                break
        rates.append(calls * images_per_call / elapsed)
    return rates


def report(bench, batch, rates, **extra):
    line = {"framework": "pytorch", "bench": bench, "batch": batch, "unit": "images/s",
            "median": statistics.median(rates), "reps": [round(r, 1) for r in rates]}
    line.update(extra)
    print(json.dumps(line), flush=True)


def cmd_bench(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    print(json.dumps({"framework": "pytorch", "info": "config", "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "data": args.data or "synthetic"}),
          flush=True)
    if args.data:
        train_x, train_y = load_split(args.data, "train")
        test_x, _ = load_split(args.data, "t10k")
    else:
        train_x, train_y = synthetic(64 * 100, args.seed)
        test_x, _ = synthetic(256, args.seed + 1)
    model = MnistCam()
    if args.weights:
        model.load_keras_tensors(read_cnnc_weights(args.weights)[1])
    model.eval()   # no dropout or batch norm in this model; eval() for form's sake
    wanted = set(args.only.split(",")) if args.only else None

    def wants(name):
        return wanted is None or name in wanted

    timing = dict(reps=args.reps, seconds=args.seconds, warmup_seconds=args.warmup)
    for batch in (256, 1):
        if wants("infer"):
            x = test_x[:batch].contiguous()
            report("infer", batch, time_reps(lambda: infer(model, x), batch, **timing))
    for batch in (1, 256):
        if wants("gradcam"):
            x = test_x[:batch].contiguous()
            report("gradcam", batch, time_reps(lambda: gradcam(model, x), batch, **timing))
    if wants("train"):
        batch = 64
        batches = train_x.shape[0] // batch
        step = make_train_step(model)
        model.train()
        cursor = [0]

        def train_once():
            i = cursor[0] % batches
            cursor[0] += 1
            step(train_x[i * batch:(i + 1) * batch], train_y[i * batch:(i + 1) * batch])

        report("train", batch, time_reps(train_once, batch, **timing))


# ---- Equivalence check with cnnc ---------------------------------------------------------------

def read_f32(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(shape).copy())


def cmd_check(args):
    """Runs the computations bench_cnnc --check-dir recorded, on the same weights and
    inputs, and prints the largest absolute differences from cnnc's outputs."""
    torch.set_num_threads(args.threads)
    d = args.dir
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    n = meta["n"]
    model = MnistCam()
    model.load_keras_tensors(read_cnnc_weights(os.path.join(d, "weights.bin"))[1])
    # Inputs are NHWC floats; with one channel NHWC and NCHW have the same memory order,
    # but permute anyway so the code stays right for any channel count.
    x = read_f32(os.path.join(d, "inputs.f32"), (n, IMAGE_H, IMAGE_W, IMAGE_C))
    x = x.permute(0, 3, 1, 2).contiguous()
    result = {"framework": "pytorch", "check": "same weights and inputs as cnnc", "n": n}

    probs = infer(model, x)
    cnnc_probs = read_f32(os.path.join(d, "probs.f32"), (n, NUM_CLASSES))
    result["infer_max_abs_diff_probs"] = float((probs - cnnc_probs).abs().max())
    result["infer_same_argmax"] = int((probs.argmax(1) == cnnc_probs.argmax(1)).sum())

    if meta.get("cam"):
        h, w = meta["cam_h"], meta["cam_w"]
        maps, cam_probs = gradcam(model, x)
        cnnc_maps = read_f32(os.path.join(d, "cam_maps.f32"), (n, h, w))
        result["gradcam_max_abs_diff_maps"] = float((maps - cnnc_maps).abs().max())
        cnnc_cam_probs = read_f32(os.path.join(d, "cam_probs.f32"), (n, NUM_CLASSES))
        result["gradcam_max_abs_diff_probs"] = float((cam_probs - cnnc_cam_probs).abs().max())

    if meta.get("train"):
        labels = torch.from_numpy(
            np.fromfile(os.path.join(d, "labels.i32"), dtype="<i4").astype(np.int64))
        keras_step = make_keras_adam_step(model)
        losses = []
        for t in range(1, len(meta["train_losses"]) + 1):
            losses.append(keras_step(x, labels, t))
            if t == 1:
                after_step1 = model.keras_tensors()
                adam_m, adam_v = keras_step.keras_state()
        result["train_losses"] = losses
        result["train_max_abs_diff_losses"] = max(
            abs(a - b) for a, b in zip(losses, meta["train_losses"]))
        _, cnnc_after, state = read_cnnc_weights_with_state(
            os.path.join(d, "weights_after_step1.bin"))
        cnnc_after = dict(cnnc_after)
        # For information only (see bench_cnnc.c): Adam moves each weight by about lr
        # whatever its gradient, so near-zero gradients make weight differences of up to lr.
        result["train_max_abs_diff_params_step1"] = max(
            float(np.abs(array - cnnc_after[name]).max()) for name, array in after_step1)
        if state is not None and state[0] == 2:
            half = state[1].size // 2
            result["train_max_rel_diff_adam_m"] = max_rel_diff(
                split_flat(state[1][:half], adam_m), adam_m)
            result["train_max_rel_diff_adam_v"] = max_rel_diff(
                split_flat(state[1][half:], adam_v), adam_v)
    print(json.dumps(result), flush=True)


# ---- Self-test of the layout conversion ---------------------------------------------------------

def numpy_keras_forward(tensors, x_nhwc):
    """The model in plain NumPy on Keras's layouts (NHWC, HWIO, HWC flatten): logits."""
    k1, b1, k2, b2, kd, bd = (a for _, a in tensors)

    def conv_same_relu(x, k, b):
        n, h, w, _ = x.shape
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = np.zeros((n, h, w, k.shape[3]), dtype=np.float64)
        for dy in range(3):
            for dx in range(3):
                out += padded[:, dy:dy + h, dx:dx + w, :] @ k[dy, dx]
        return np.maximum(out + b, 0)

    def pool(x):
        n, h, w, c = x.shape
        return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))

    y = pool(conv_same_relu(x_nhwc.astype(np.float64), k1, b1))
    y = pool(conv_same_relu(y, k2, b2))
    return y.reshape(y.shape[0], -1) @ kd + bd


def cmd_selftest(args):
    rng = np.random.default_rng(args.seed)
    shapes = [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,), (7 * 7 * 64, 10), (10,)]
    tensors = [(name, rng.uniform(-0.3, 0.3, shape).astype(np.float32))
               for name, shape in zip(MnistCam.KERAS_ORDER, shapes)]
    model = MnistCam()
    model.load_keras_tensors(tensors)
    x = rng.uniform(0, 1, (4, IMAGE_H, IMAGE_W, IMAGE_C)).astype(np.float32)
    expected = numpy_keras_forward(tensors, x)
    with torch.no_grad():
        got = model(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).double().numpy()
    diff = float(np.abs(got - expected).max() / max(1.0, np.abs(expected).max()))
    back = max(float(np.abs(a - b).max())
               for (_, a), (_, b) in zip(tensors, model.keras_tensors()))
    ok = diff < 1e-4 and back == 0.0
    print(json.dumps({"framework": "pytorch", "selftest": "ok" if ok else "FAILED",
                      "max_rel_diff_logits_vs_numpy": diff, "roundtrip_diff": back}))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="time inference, training and Grad-CAM")
    bench.add_argument("--threads", type=int, default=2)
    bench.add_argument("--reps", type=int, default=5)
    bench.add_argument("--seconds", type=float, default=1.0, help="minimum time per rep")
    bench.add_argument("--warmup", type=float, default=0.5, help="warm-up time per benchmark")
    bench.add_argument("--data", help="directory with Fashion-MNIST/MNIST IDX files "
                                      "(default: synthetic images of the same shape)")
    bench.add_argument("--weights", help="a cnnc weights file to start from")
    bench.add_argument("--only", help="comma-separated subset of infer,gradcam,train")
    bench.add_argument("--seed", type=int, default=1)
    check = sub.add_parser("check", help="compare with cnnc's outputs on the same weights")
    check.add_argument("--dir", required=True)
    check.add_argument("--threads", type=int, default=2)
    selftest = sub.add_parser("selftest", help="check the Keras->PyTorch weight conversion")
    selftest.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    try:
        if args.command == "bench":
            return cmd_bench(args) or 0
        if args.command == "check":
            return cmd_check(args) or 0
        return cmd_selftest(args)
    except (OSError, ValueError) as err:
        print("pytorch_mnist.py: %s" % err, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
