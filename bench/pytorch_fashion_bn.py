#!/usr/bin/python3
"""models/fashion_bn.cnn trained by PyTorch with Keras's semantics, to compare with cnnc's run
(issue 11, item 5) and to check what the moving statistics of BatchNormalization do early in
training (docs/extending.md, BatchNormalization).

    pytorch_fashion_bn.py DATA_DIR [--epochs 30] [--momentum 0.9] [--seed 42] [--threads 2]
                          [--history FILE.csv] [--batch-stats]

The same layers (conv-BN-ReLU blocks without conv bias, dropout 0.3, dense 128 + BN, dense
10), Keras's initialisation (glorot_uniform kernels, zero biases, gamma 1, beta 0, moving
mean 0 and variance 1), BatchNormalization with Keras's momentum (PyTorch's momentum is
1 - Keras's) and epsilon 1e-3, Adam in Keras's form (bench/pytorch_accuracy.py), batch 64,
the last 10% of the training set as validation before shuffling, augmentation as the model
file says (random translation up to 10% with zero fill, bilinear; horizontal flip), early
stopping on val_loss with patience 5, restoring the best weights. One difference: PyTorch
moves the moving variance towards the unbiased batch variance, Keras towards the biased
one (n/(n-1) with n = 64 x 784 pixels at the first layer: negligible).

Per epoch it prints loss, acc, val_loss, val_acc (the moving statistics, as Keras
validates), the epoch's wall and CPU seconds, and with --batch-stats val_acc_batch (the
same weights validated with each validation batch's own statistics, an extra pass over the
validation images): when the two differ widely, the moving statistics, not the weights, are
what is off. --history writes the same per epoch as CSV (the columns of cnnc's
NAME.history.csv, then seconds and cpu_seconds), rewritten after every epoch. At the end:
the test accuracy of the restored weights, the wall and the CPU time. Ctrl-C (SIGINT) or SIGTERM
ends training early: the unfinished epoch is dropped, and the best weights so far are tested.
Only a benchmark: PyTorch is never a dependency of cnnc or its tests."""
import argparse
import copy
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_accuracy import KerasAdam  # noqa: E402
from pytorch_mnist import load_split  # noqa: E402


def conv_block(cin, cout, momentum):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout, eps=1e-3, momentum=1 - momentum), nn.ReLU()]


class FashionBN(nn.Module):
    def __init__(self, momentum):
        super().__init__()
        self.features = nn.Sequential(
            *conv_block(1, 32, momentum), *conv_block(32, 32, momentum), nn.MaxPool2d(2),
            *conv_block(32, 64, momentum), nn.MaxPool2d(2))
        self.dropout = nn.Dropout(0.3)
        self.dense = nn.Linear(7 * 7 * 64, 128, bias=False)
        self.bn = nn.BatchNorm1d(128, eps=1e-3, momentum=1 - momentum)
        self.out = nn.Linear(128, 10)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = x.permute(0, 2, 3, 1).flatten(1)   # Keras flattens channels-last (HWC)
        x = F.relu(self.bn(self.dense(self.dropout(x))))
        return self.out(self.dropout(x))


def augment(x, gen):
    """Keras RandomTranslation(0.1, 0.1, fill_mode='constant') then RandomFlip('horizontal')."""
    n = x.shape[0]
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * 0.1 * 2   # grid units span 2
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, :, 2] = -shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    flip = torch.rand(n, generator=gen) < 0.5
    x[flip] = x[flip].flip(3)
    return x


def evaluate(model, x, y, batch_stats=False):
    """Loss and accuracy on x in evaluation mode (dropout off); with batch_stats, every
    BatchNorm normalises with its batch of 256 images' own statistics instead of the
    moving ones (which are restored afterwards)."""
    saved = copy.deepcopy(model.state_dict()) if batch_stats else None
    model.eval()
    if batch_stats:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), 256):
            logits = model(x[start:start + 256])
            loss += F.cross_entropy(logits, y[start:start + 256], reduction="sum").item()
            correct += (logits.argmax(1) == y[start:start + 256]).sum().item()
    if saved is not None:
        model.load_state_dict(saved)
    model.train()
    return loss / len(x), correct / len(x)


def stop_training(signum, frame):
    raise KeyboardInterrupt


def main():
    signal.signal(signal.SIGINT, stop_training)    # also when started in the background
    signal.signal(signal.SIGTERM, stop_training)
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--history", help="per-epoch CSV to write")
    ap.add_argument("--batch-stats", action="store_true",
                    help="also validate with each batch's own statistics")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    x, y = load_split(a.data, "train")
    split = int(len(x) * 0.9)
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    x_test, y_test = load_split(a.data, "t10k")
    model = FashionBN(a.momentum)
    opt = KerasAdam(model.parameters(), lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    history = ["epoch,loss,acc,val_loss,val_acc,seconds,cpu_seconds"]
    try:
        best, best_state = train_epochs(a, model, opt, gen, rng, x_train, y_train, x_val,
                                        y_val, history)
    except KeyboardInterrupt:
        print("interrupted: the unfinished epoch is dropped", flush=True)
        best, best_state = train_epochs.best
    if best_state is not None:
        model.load_state_dict(best_state)
    _, test_acc = evaluate(model, x_test, y_test)
    print("test accuracy %.4f (best val_loss %.4f), wall %.0f s, cpu %.0f s"
          % (test_acc, best, time.perf_counter() - wall0, time.process_time() - cpu0))


def train_epochs(a, model, opt, gen, rng, x_train, y_train, x_val, y_val, history):
    """The epochs with early stopping; returns (best val_loss, its state_dict), also kept in
    train_epochs.best after every epoch for an interrupted run."""
    split = len(x_train)
    best, best_state, waited = float("inf"), None, 0
    train_epochs.best = (best, best_state)
    for epoch in range(1, a.epochs + 1):
        epoch_cpu, epoch_wall = time.process_time(), time.perf_counter()
        model.train()
        order = torch.from_numpy(rng.permutation(split))
        loss_sum, correct = 0.0, 0
        for start in range(0, split, 64):
            batch = order[start:start + 64]
            xb, yb = augment(x_train[batch], gen), y_train[batch]
            opt.zero_grad()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(batch)
            correct += (logits.argmax(1) == yb).sum().item()
        val_loss, val_acc = evaluate(model, x_val, y_val)
        seconds = time.perf_counter() - epoch_wall
        cpu_seconds = time.process_time() - epoch_cpu
        extra = ""
        if a.batch_stats:
            extra = " val_acc_batch %.4f" % evaluate(model, x_val, y_val, batch_stats=True)[1]
        print("epoch %d loss %.4f acc %.4f val_loss %.4f val_acc %.4f%s wall %.0f s cpu %.0f s"
              % (epoch, loss_sum / split, correct / split, val_loss, val_acc, extra, seconds,
                 cpu_seconds), flush=True)
        history.append("%d,%.6f,%.6f,%.6f,%.6f,%.1f,%.1f" % (
            epoch, loss_sum / split, correct / split, val_loss, val_acc, seconds, cpu_seconds))
        if a.history:
            with open(a.history + ".tmp", "w") as f:
                f.write("\n".join(history) + "\n")
            os.replace(a.history + ".tmp", a.history)
        if val_loss < best:
            best, best_state, waited = val_loss, copy.deepcopy(model.state_dict()), 0
            train_epochs.best = (best, best_state)
        else:
            waited += 1
            if waited >= a.patience and epoch > 1:
                print("early stopping after epoch %d" % epoch)
                break
    return best, best_state


if __name__ == "__main__":
    main()
