#!/usr/bin/python3
"""models/mnist.cnn as an ONNX model, for running it in ONNX Runtime beside cnnc.

This file is only for bench/run.sh: ONNX (Debian's python3-onnx) and ONNX Runtime are
never dependencies of cnnc or of its tests. It builds the graph node by node with
onnx.helper from a cnnc weights file (Keras layout: conv kernels HWIO, dense kernel
[in][out] over an HWC-flattened input), so the ONNX model computes exactly what the cnnc
program computes on the same weights:

    input  "images"  float32 [N, 28, 28, 1]   (NHWC, as cnnc's entry points take it)
    -> Transpose to NCHW -> Conv 32 3x3 pads 1 -> Relu -> MaxPool 2
    -> Conv 64 3x3 pads 1 -> Relu -> MaxPool 2
    -> Transpose back to NHWC -> Flatten (HWC order, as Keras flattens)
    -> Gemm with the [in][out] kernel and the bias -> Softmax
    output "probs"   float32 [N, 10]

The NHWC<->NCHW transposes are part of the model (ONNX convolutions are NCHW), as they
would be for any user who deploys a Keras-layout model with ONNX Runtime; ONNX Runtime's
graph optimiser ('all') is free to move or fuse them.

    onnx_mnist.py WEIGHTS OUT.onnx     writes the model and checks it with onnx.checker
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from pytorch_mnist import read_cnnc_weights  # noqa: E402  (the one reader of weights files)

OPSET = 13
IMAGE_H, IMAGE_W, IMAGE_C, NUM_CLASSES = 28, 28, 1, 10


def conv_block(nodes, inits, x, name, kernel_hwio, bias):
    """Conv (same padding, stride 1) + Relu + MaxPool 2 on an NCHW value; returns its output."""
    kh, kw = kernel_hwio.shape[:2]
    inits.append(numpy_helper.from_array(
        np.ascontiguousarray(kernel_hwio.transpose(3, 2, 0, 1)), name + "/kernel"))
    inits.append(numpy_helper.from_array(bias, name + "/bias"))
    nodes.append(helper.make_node(
        "Conv", [x, name + "/kernel", name + "/bias"], [name], name=name,
        kernel_shape=[kh, kw], pads=[kh // 2, kw // 2, kh // 2, kw // 2], strides=[1, 1]))
    nodes.append(helper.make_node("Relu", [name], [name + "/relu"], name=name + "/relu"))
    pool = name + "/pool"
    nodes.append(helper.make_node("MaxPool", [name + "/relu"], [pool], name=pool,
                                  kernel_shape=[2, 2], strides=[2, 2]))
    return pool


def build(tensors):
    t = dict(tensors)
    nodes, inits = [], []
    nodes.append(helper.make_node("Transpose", ["images"], ["nchw"], name="to_nchw",
                                  perm=[0, 3, 1, 2]))
    x = conv_block(nodes, inits, "nchw", "conv2d", t["conv2d/kernel"], t["conv2d/bias"])
    x = conv_block(nodes, inits, x, "conv2d_1", t["conv2d_1/kernel"], t["conv2d_1/bias"])
    nodes.append(helper.make_node("Transpose", [x], ["nhwc"], name="to_nhwc",
                                  perm=[0, 2, 3, 1]))
    nodes.append(helper.make_node("Flatten", ["nhwc"], ["flat"], name="flatten", axis=1))
    inits.append(numpy_helper.from_array(t["dense/kernel"], "dense/kernel"))
    inits.append(numpy_helper.from_array(t["dense/bias"], "dense/bias"))
    nodes.append(helper.make_node("Gemm", ["flat", "dense/kernel", "dense/bias"], ["logits"],
                                  name="dense"))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1))
    graph = helper.make_graph(
        nodes, "mnist_cam",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                       ["N", IMAGE_H, IMAGE_W, IMAGE_C])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", NUM_CLASSES])],
        inits)
    model = helper.make_model(graph, producer_name="cnnc bench/onnx_mnist.py",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8   # what onnxruntime 1.x and python3-onnx 1.12 both read
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    _, tensors = read_cnnc_weights(sys.argv[1])
    onnx.save(build(tensors), sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
