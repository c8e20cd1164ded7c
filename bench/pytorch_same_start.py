#!/usr/bin/python3
"""models/mnist.cnn trained by cnnc and by PyTorch (Keras semantics) from the SAME initial
weights in the SAME data order, to tell a difference of the training step from the
run-to-run spread (issue 11; bench/accuracy.sh compares the two over independent seeds).

    pytorch_same_start.py PROGRAM DATA_DIR EPOCHS SEEDS [--validation-split 0.2]
                          [--init cnnc|torch] [--order cnnc|numpy]

PROGRAM is models/mnist.cnn compiled by cnnc. For each seed (comma-separated) it runs
`PROGRAM train --epochs 0 --seed S` (the initial weights, untrained), then `PROGRAM train
--epochs EPOCHS --seed S --threads 1`, and trains the same weights in PyTorch for as many
epochs, visiting the training images in cnnc's order (cnnrt_shuffle_order, written again
below) with Adam in Keras's epsilon-hat form (pytorch_accuracy.KerasAdam). mnist.cnn has no
dropout, so the two runs compute the same thing but for float32 rounding. Prints per seed
both val_acc after each epoch and the largest difference of the final weights relative to
the largest weight of each tensor. With a training set of a single batch (say 80 images,
validation split 0.2: one step of 64 per epoch) it is the one-step check from identical
weights; over whole epochs, rounding differences grow, so the figures should agree on
average rather than to the last digit.
--init torch (PyTorch's random glorot_uniform draws, zero biases) and --order numpy (numpy's
permutation, as bench/pytorch_accuracy.py) make PyTorch start from its own draws instead,
one at a time, to tell which of the two random inputs a difference between bench/accuracy.sh's
independent runs comes from; the weights are then not compared.
Only a benchmark: PyTorch is never a dependency of cnnc or its tests."""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_accuracy import KerasAdam  # noqa: E402
from pytorch_mnist import MnistCam, load_split, read_cnnc_weights  # noqa: E402

MASK = (1 << 64) - 1


def splitmix64_next(state):
    """(new state, output) of runtime/dataset.c's splitmix64_next."""
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def cnnc_order(n, seed, epoch):
    """cnnrt_shuffle_order(n, seed, epoch): Fisher-Yates with unbiased draws."""
    state = (seed ^ ((0xD1B54A32D192ED03 * (epoch + 1)) & MASK)) & MASK
    state, _ = splitmix64_next(state)
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        bound = i + 1
        threshold = ((1 << 64) - bound) % bound
        while True:
            state, r = splitmix64_next(state)
            if r >= threshold:
                break
        j = r % bound
        order[i], order[j] = order[j], order[i]
    return order


def cnnc_history(path):
    """val_acc per epoch from PROGRAM's history CSV."""
    with open(path) as f:
        header = f.readline().strip().split(",")
        column = header.index("val_acc")
        return [float(line.split(",")[column]) for line in f if line.strip()]


def torch_run(weights, x, y, split, epochs, seed, batch, init="cnnc", order_from="cnnc"):
    torch.manual_seed(seed)
    model = MnistCam()
    if init == "cnnc":
        model.load_keras_tensors(read_cnnc_weights(weights)[1])
    else:
        for layer in (model.conv2d, model.conv2d_1, model.dense):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    rng = np.random.default_rng(seed)
    opt = KerasAdam(model.parameters(), lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    accs = []
    for epoch in range(epochs):
        if order_from == "cnnc":
            order = torch.tensor(cnnc_order(split, seed, epoch))
        else:
            order = torch.from_numpy(rng.permutation(split))
        for start in range(0, split, batch):
            chosen = order[start:start + batch]
            opt.zero_grad()
            F.cross_entropy(model(x_train[chosen]), y_train[chosen]).backward()
            opt.step()
        with torch.no_grad():
            accs.append((model(x_val).argmax(1) == y_val).float().mean().item())
    return accs, model.keras_tensors()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("program")
    ap.add_argument("data")
    ap.add_argument("epochs", type=int)
    ap.add_argument("seeds")
    ap.add_argument("--validation-split", type=float, default=0.2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--init", choices=("cnnc", "torch"), default="cnnc")
    ap.add_argument("--order", choices=("cnnc", "numpy"), default="cnnc")
    a = ap.parse_args()
    torch.set_num_threads(1)
    x, y = load_split(a.data, "train")
    split = int(np.floor(len(x) * (1.0 - a.validation_split)))
    work = tempfile.mkdtemp(prefix="same_start.")
    for seed in (int(s) for s in a.seeds.split(",")):
        init = os.path.join(work, "init%d.weights" % seed)
        trained = os.path.join(work, "trained%d.weights" % seed)
        common = ["--data", a.data, "--seed", str(seed), "--batch-size", str(a.batch_size),
                  "--validation-split", str(a.validation_split), "--threads", "1", "--quiet"]
        subprocess.run([a.program, "train", "--epochs", "0", "--weights", init] + common,
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([a.program, "train", "--epochs", str(a.epochs), "--weights", trained]
                       + common, check=True, stdout=subprocess.DEVNULL)
        ours = cnnc_history(trained[:-len(".weights")] + ".history.csv")
        theirs, tensors = torch_run(init, x, y, split, a.epochs, seed, a.batch_size,
                                    a.init, a.order)
        diffs = []
        for (name, t), (_, c) in zip(tensors, read_cnnc_weights(trained)[1]):
            scale = max(float(np.abs(c).max()), 1e-30)
            diffs.append("%s %.1e" % (name, float(np.abs(t - c).max()) / scale))
        if a.init != "cnnc" or a.order != "cnnc":
            diffs = ["not compared (PyTorch's own %s)" % " and ".join(
                w for w, own in (("initial weights", a.init != "cnnc"),
                                 ("order", a.order != "cnnc")) if own)]
        print("seed %d: cnnc %s | PyTorch %s | weights: %s" % (
            seed, " ".join("%.4f" % v for v in ours), " ".join("%.4f" % v for v in theirs),
            ", ".join(diffs)), flush=True)


if __name__ == "__main__":
    main()
