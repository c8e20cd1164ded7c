#!/usr/bin/python3
"""Validation accuracy of models/mnist.cnn trained by PyTorch with Keras's semantics, the
settings cnnc uses: the same IDX data, Keras's validation_split (the last fraction, before
shuffling), batch 64, a fresh shuffle each epoch, cross-entropy on logits, Adam as Keras
writes it (the "epsilon hat" form, below; not torch.optim.Adam, which adds epsilon after the
bias correction), lr 1e-3, epsilon 1e-7.

    pytorch_accuracy.py DATA_DIR EPOCHS SEEDS [keras|torch]

SEEDS: one seed, or several separated by commas (one process, so torch is imported once).
'keras' initialises as Keras does (glorot_uniform kernels, zero biases: what cnnc does),
'torch' keeps PyTorch's own initialisation. Prints one line per seed, as soon as it is
done: val_acc after each epoch.
Only for bench/accuracy.sh: PyTorch is never a dependency of cnnc or its tests."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_mnist import MnistCam, load_split  # noqa: E402  (same model, same data reader)


class KerasAdam:
    """keras.optimizers.Adam's update, step t = 1, 2, ...:
        m = m + (g - m) * (1 - beta_1);  v = v + (g*g - v) * (1 - beta_2)
        lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        p = p - lr_t * m / (sqrt(v) + epsilon)"""

    def __init__(self, params, lr, beta_1, beta_2, epsilon):
        self.params = list(params)
        self.lr, self.beta_1, self.beta_2, self.epsilon = lr, beta_1, beta_2, epsilon
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.t += 1
        lr_t = self.lr * (1 - self.beta_2 ** self.t) ** 0.5 / (1 - self.beta_1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m.add_((g - m) * (1 - self.beta_1))
            v.add_((g * g - v) * (1 - self.beta_2))
            p.sub_(lr_t * m / (v.sqrt() + self.epsilon))


def train_one(x, y, epochs, seed, init):
    """val_acc after each epoch of one run."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    split = int(len(x) * 0.8)
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    model = MnistCam()
    if init == "keras":
        for layer in (model.conv2d, model.conv2d_1, model.dense):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    opt = KerasAdam(model.parameters(), lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    accs = []
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(split))
        for start in range(0, split, 64):
            batch = order[start:start + 64]
            opt.zero_grad()
            F.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
            opt.step()
        with torch.no_grad():
            accs.append((model(x_val).argmax(1) == y_val).float().mean().item())
    return accs


def main():
    data, epochs = sys.argv[1], int(sys.argv[2])
    seeds = [int(s) for s in sys.argv[3].split(",")]
    init = sys.argv[4] if len(sys.argv) > 4 else "keras"
    torch.set_num_threads(1)   # the benchmark runs cnnc beside it, one thread each
    x, y = load_split(data, "train")
    for seed in seeds:
        print(" ".join("%.4f" % a for a in train_one(x, y, epochs, seed, init)), flush=True)


if __name__ == "__main__":
    main()
