#!/usr/bin/env python3
"""The step-time model of docs/scaling.md: data-parallel training over p machines, the
gradients summed with a ring allreduce after each step's backward pass (as runtime/mpi_train.c
does: no overlap of the sum with the computation).

    step(p) = B / (p * R)  +  2 (p-1)/p * G / W  +  2 (p-1) * a

B global batch (images), R one machine's training images/s, G gradient bytes, W network
bandwidth (bytes/s), a the latency of one message of the ring. Prints the tables of
docs/scaling.md. Usage: bench/mpi_model.py
"""
import math

MODELS = [
    # name, gradient floats (cnnc MODEL --dump-ir: "params (N floats)"), images/s of one
    # 2-core machine (models/mnist.cnn measured by bench/run.sh on the quiet machine; the
    # others scaled by their training FLOPs, about 3x the forward pass)
    ("models/mnist.cnn", 50186, 6332),
    ("models/lenet5.cnn", 61706, 6332 * 7.74 / 0.8),
    ("bench/models/cifar64.cnn", 439050, 6332 * 7.74 / 143),
]
NETWORKS = [("10 Gbit/s", 10e9 / 8), ("100 Gbit/s", 100e9 / 8)]
LATENCY = 20e-6          # one message of the ring, TCP over Ethernet with Open MPI
MACHINES = [1, 2, 4, 8, 16, 32, 64]
BATCHES = [64, 256, 1024, 4096]


def allreduce_seconds(p, grad_bytes, bandwidth):
    if p == 1:
        return 0.0
    return 2 * (p - 1) / p * grad_bytes / bandwidth + 2 * (p - 1) * LATENCY


def images_per_second(batch, p, rate, grad_bytes, bandwidth):
    return batch / (batch / (p * rate) + allreduce_seconds(p, grad_bytes, bandwidth))


def main():
    for name, floats, rate in MODELS:
        grad = 4 * floats
        for net, bandwidth in NETWORKS:
            print("\n%s (gradients %.0f KB, one machine %.0f images/s), %s, latency %.0f us:"
                  % (name, grad / 1000, rate, net, LATENCY * 1e6))
            print()
            print("| global batch | " + " | ".join("%d machines" % p if p > 1 else "1 machine"
                                                   for p in MACHINES) + " |")
            print("|---" * (len(MACHINES) + 1) + "|")
            for batch in BATCHES:
                cells = []
                for p in MACHINES:
                    ips = images_per_second(batch, p, rate, grad, bandwidth)
                    cells.append("%s (%.0f%%)" % (format(round(ips), ","),
                                                  100 * ips / (p * rate)))
                print("| %d | %s |" % (batch, " | ".join(cells)))
            # The batch from which p machines train at least half as fast as p ideal ones.
            print()
            for p in (2, 8, 64):
                t = allreduce_seconds(p, grad, bandwidth)
                half = t * p * rate   # B/(p R) >= t  <=>  efficiency >= 50%
                per_machine = max(1, math.ceil(half / p))
                print("- %d machines: the sum takes %.2f ms per step; at least half of p "
                      "machines' speed from %d images per machine (a global batch of %d)" %
                      (p, t * 1e3, per_machine, per_machine * p))


if __name__ == "__main__":
    main()
