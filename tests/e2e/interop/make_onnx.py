#!/usr/bin/python3
"""ONNX models for the import tests, built with onnx.helper (Debian's python3-onnx; run it
with /usr/bin/python3). Weights are random (seeded), in PyTorch's NCHW conventions.

    make_onnx.py convnet OUT.onnx      Conv(pads=same)+Relu, MaxPool, Conv(valid), LeakyRelu,
                                       AveragePool, Flatten, Gemm(transB=1), Softmax
    make_onnx.py gapnet OUT.onnx       Conv+Tanh, Conv(stride 2, no bias)+Sigmoid,
                                       GlobalAveragePool, Reshape, Dropout, MatMul+Add (scores)
    make_onnx.py bnnet OUT.onnx        Conv(no bias)->BatchNormalization->Relu, MaxPool,
                                       Conv->BatchNormalization(epsilon 1e-3)->Relu, Flatten,
                                       Gemm(transB=1)->BatchNormalization->Relu, Gemm, Softmax
                                       (PyTorch's conv-BN-ReLU; moving statistics not 0/1)
    make_onnx.py bnlate OUT.onnx       BatchNormalization after a Relu, and on a flattened
                                       NCHW map (its per-feature values reordered to HWC)
    make_onnx.py unsupported OUT.onnx  an Erf and a Cos among supported nodes
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(5)


def weight(name, *shape, scale=0.3):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def model(nodes, inits, in_shape, out_classes, name):
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N'] + in_shape)],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['N', out_classes])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)],
                          producer_name='make_onnx.py')
    m.ir_version = 7
    onnx.checker.check_model(m, full_check=True)
    return m


def convnet():
    nodes = [
        helper.make_node('Conv', ['x', 'w1', 'b1'], ['c1'], name='conv1', kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node('Relu', ['c1'], ['r1'], name='relu1'),
        helper.make_node('MaxPool', ['r1'], ['p1'], name='pool1', kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node('Conv', ['p1', 'w2', 'b2'], ['c2'], name='conv2', kernel_shape=[3, 3]),
        helper.make_node('LeakyRelu', ['c2'], ['l2'], name='leaky2', alpha=0.1),
        helper.make_node('AveragePool', ['l2'], ['p2'], name='pool2', kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node('Flatten', ['p2'], ['f'], name='flatten'),
        helper.make_node('Gemm', ['f', 'w3', 'b3'], ['g'], name='fc', transB=1),
        helper.make_node('Softmax', ['g'], ['y'], name='softmax', axis=1),
    ]
    inits = [weight('w1', 8, 1, 3, 3), weight('b1', 8, scale=0.1), weight('w2', 12, 8, 3, 3, scale=0.15),
             weight('b2', 12, scale=0.1), weight('w3', 10, 12 * 6 * 6, scale=0.1),
             weight('b3', 10, scale=0.1)]
    return model(nodes, inits, [1, 28, 28], 10, 'convnet')


def gapnet():
    nodes = [
        helper.make_node('Conv', ['x', 'w1', 'b1'], ['c1'], name='conv1', kernel_shape=[5, 5],
                         pads=[2, 2, 2, 2]),
        helper.make_node('Tanh', ['c1'], ['t1'], name='tanh1'),
        helper.make_node('Conv', ['t1', 'w2'], ['c2'], name='conv2', kernel_shape=[3, 3],
                         strides=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node('Sigmoid', ['c2'], ['s2'], name='sigmoid2'),
        helper.make_node('GlobalAveragePool', ['s2'], ['gap'], name='gap'),
        helper.make_node('Reshape', ['gap', 'shape'], ['flat'], name='reshape'),
        helper.make_node('Dropout', ['flat'], ['d'], name='dropout'),
        helper.make_node('MatMul', ['d', 'w3'], ['mm'], name='matmul'),
        helper.make_node('Add', ['mm', 'b3'], ['y'], name='add'),
    ]
    inits = [weight('w1', 6, 3, 5, 5), weight('b1', 6, scale=0.1), weight('w2', 16, 6, 3, 3),
             numpy_helper.from_array(np.array([0, -1], dtype=np.int64), 'shape'),
             weight('w3', 16, 4, scale=2.0), weight('b3', 4, scale=0.5)]
    return model(nodes, inits, [3, 20, 20], 4, 'gapnet')


def batch_norm(name, x, y, channels, **attrs):
    """A BatchNormalization node and its four initializers (moving statistics not 0/1)."""
    inits = [numpy_helper.from_array(rng.uniform(0.5, 1.5, channels).astype(np.float32), name + '_scale'),
             weight(name + '_B', channels, scale=0.2),
             weight(name + '_mean', channels, scale=0.5),
             numpy_helper.from_array(rng.uniform(0.2, 2.0, channels).astype(np.float32), name + '_var')]
    node = helper.make_node('BatchNormalization', [x] + [i.name for i in inits], [y], name=name, **attrs)
    return node, inits


def bnnet():
    bn1, i1 = batch_norm('bn1', 'c1', 'n1', 6)
    bn2, i2 = batch_norm('bn2', 'c2', 'n2', 8, epsilon=1e-3, momentum=0.99)
    bn3, i3 = batch_norm('bn3', 'g1', 'n3', 16)
    nodes = [
        helper.make_node('Conv', ['x', 'w1'], ['c1'], name='conv1', kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        bn1,
        helper.make_node('Relu', ['n1'], ['r1'], name='relu1'),
        helper.make_node('MaxPool', ['r1'], ['p1'], name='pool1', kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node('Conv', ['p1', 'w2', 'b2'], ['c2'], name='conv2', kernel_shape=[3, 3]),
        bn2,
        helper.make_node('Relu', ['n2'], ['r2'], name='relu2'),
        helper.make_node('Flatten', ['r2'], ['f'], name='flatten'),
        helper.make_node('Gemm', ['f', 'w3', 'b3'], ['g1'], name='fc1', transB=1),
        bn3,
        helper.make_node('Relu', ['n3'], ['r3'], name='relu3'),
        helper.make_node('Gemm', ['r3', 'w4', 'b4'], ['g2'], name='fc2', transB=1),
        helper.make_node('Softmax', ['g2'], ['y'], name='softmax', axis=1),
    ]
    inits = [weight('w1', 6, 1, 3, 3), weight('w2', 8, 6, 3, 3, scale=0.2), weight('b2', 8, scale=0.1),
             weight('w3', 16, 8 * 12 * 12, scale=0.05), weight('b3', 16, scale=0.1),
             weight('w4', 10, 16, scale=0.3), weight('b4', 10, scale=0.1)] + i1 + i2 + i3
    return model(nodes, inits, [1, 28, 28], 10, 'bnnet')


def bnlate():
    bn1, i1 = batch_norm('bn_after_relu', 'r1', 'n1', 4)
    bn2, i2 = batch_norm('bn_flat', 'f', 'n2', 4 * 6 * 6)
    nodes = [
        helper.make_node('Conv', ['x', 'w1', 'b1'], ['c1'], name='conv1', kernel_shape=[3, 3],
                         strides=[2, 2]),
        helper.make_node('Relu', ['c1'], ['r1'], name='relu1'),
        bn1,
        helper.make_node('Flatten', ['n1'], ['f'], name='flatten'),
        bn2,
        helper.make_node('Gemm', ['n2', 'w3'], ['g'], name='fc', transB=1),
        helper.make_node('Softmax', ['g'], ['y'], name='softmax', axis=1),
    ]
    inits = [weight('w1', 4, 1, 3, 3), weight('b1', 4), weight('w3', 10, 4 * 6 * 6, scale=0.2)] + i1 + i2
    return model(nodes, inits, [1, 13, 13], 10, 'bnlate')


def unsupported():
    nodes = [
        helper.make_node('Conv', ['x', 'w1'], ['c1'], name='conv1', kernel_shape=[3, 3]),
        helper.make_node('Cos', ['c1'], ['bn'], name='wave'),
        helper.make_node('Erf', ['bn'], ['e'], name='gelu_part'),
        helper.make_node('Flatten', ['e'], ['f'], name='flatten'),
        helper.make_node('Gemm', ['f', 'w3'], ['y'], name='fc', transB=1),
    ]
    inits = [weight('w1', 4, 1, 3, 3), weight('w3', 10, 4 * 26 * 26)]
    return model(nodes, inits, [1, 28, 28], 10, 'unsupported')


if __name__ == '__main__':
    onnx.save(globals()[sys.argv[1]](), sys.argv[2])
