#!/usr/bin/env python3
"""Checks a TensorFlow.js layers model (model.json + shard) against the structure Keras 2
writes and keras.models.model_from_json reads, without Keras (not installable here).

    keras_config_check.py DIR            exit 0 when DIR/model.json passes, else 1 with the
                                         reasons on stderr
    keras_config_check.py --self-test DIR  DIR's model.json must pass and every one of a set
                                         of damaged copies must fail (the check can fail)

What it checks (docs/interop.md, "What the Keras config check covers"):
- modelTopology: {"class_name": "Sequential", "config": {"name", "layers"}, "keras_version":
  "2.x.y", "backend": "tensorflow"}, nothing else;
- each layer: {"class_name", "config"} with a class Keras 2 has, and a config whose keys are
  exactly the ones that class's get_config() writes in Keras 2.11 (model_from_json passes
  them to the constructor: an unknown key is a TypeError there, a missing one a silently
  different default), each of the right type and in the allowed values; unique names;
- the first layer an InputLayer with batch_input_shape [null, H, W, C];
- the shapes through the layers as Keras computes them (padding, strides, pools, flatten),
  and from them every layer's weights, in Keras's get_weights() order, names and shapes:
  the weights manifest must list exactly those, and the shard hold exactly their floats.
"""
import copy
import json
import os
import sys

BASE = {'name': str, 'trainable': bool, 'dtype': str}
ACTIVATIONS = {'linear', 'relu', 'sigmoid', 'tanh', 'softmax'}
INITIALIZERS = {'GlorotUniform', 'Zeros', 'Ones'}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def pair(v):
    return isinstance(v, list) and len(v) == 2 and all(is_int(x) and x > 0 for x in v)


def initializer(v):
    return (isinstance(v, dict) and set(v) == {'class_name', 'config'} and
            v['class_name'] in INITIALIZERS and isinstance(v['config'], dict))


def null(v):
    return v is None


def one_of(*values):
    return lambda v: v in values


def axis(v):
    return is_int(v) or (isinstance(v, list) and len(v) == 1 and is_int(v[0]))


def typed(t):
    return lambda v: isinstance(v, t) and not (t is int and isinstance(v, bool))


WINDOW = {'strides': pair, 'padding': one_of('valid', 'same'),
          'data_format': one_of('channels_last')}
KERNEL = {'activation': lambda v: v in ACTIVATIONS, 'use_bias': typed(bool),
          'kernel_initializer': initializer, 'bias_initializer': initializer,
          'kernel_regularizer': null, 'bias_regularizer': null, 'activity_regularizer': null,
          'kernel_constraint': null, 'bias_constraint': null}

# Per class: the config keys of Keras 2.11's get_config() (besides BASE) and their checks.
SCHEMA = {
    'Conv2D': dict(KERNEL, filters=lambda v: is_int(v) and v > 0, kernel_size=pair,
                   dilation_rate=one_of([1, 1]), groups=one_of(1), **WINDOW),
    'Dense': dict(KERNEL, units=lambda v: is_int(v) and v > 0),
    'MaxPooling2D': dict(pool_size=pair, **WINDOW),
    'AveragePooling2D': dict(pool_size=pair, **WINDOW),
    'GlobalAveragePooling2D': {'data_format': one_of('channels_last'), 'keepdims': one_of(False)},
    'Flatten': {'data_format': one_of('channels_last')},
    'Dropout': {'rate': lambda v: is_number(v) and 0 <= v < 1, 'noise_shape': null, 'seed': null},
    'Activation': {'activation': lambda v: v in ACTIVATIONS},
    'LeakyReLU': {'alpha': is_number},
    'BatchNormalization': {
        'axis': axis, 'momentum': lambda v: is_number(v) and 0 <= v <= 1,
        'epsilon': lambda v: is_number(v) and v > 0, 'center': typed(bool),
        'scale': typed(bool), 'beta_initializer': initializer, 'gamma_initializer': initializer,
        'moving_mean_initializer': initializer, 'moving_variance_initializer': initializer,
        'beta_regularizer': null, 'gamma_regularizer': null, 'beta_constraint': null,
        'gamma_constraint': null},
}
INPUT_LAYER = {'batch_input_shape': None, 'dtype': one_of('float32'), 'sparse': one_of(False),
               'ragged': one_of(False), 'name': typed(str)}


def window_out(size, k, s, padding):
    return -(-size // s) if padding == 'same' else (size - k) // s + 1


class Checker:
    def __init__(self):
        self.errors = []

    def error(self, where, msg):
        self.errors.append(f'{where}: {msg}')

    def keys(self, where, config, schema):
        for key in sorted(set(schema) - set(config)):
            self.error(where, f"missing config key '{key}'")
        for key in sorted(set(config) - set(schema)):
            self.error(where, f"config key '{key}' is not one Keras 2 writes for this class "
                              f"(model_from_json would pass it to the constructor)")
        for key, ok in schema.items():
            if key in config and ok is not None and not ok(config[key]):
                self.error(where, f"config key '{key}' has a value Keras does not write: "
                                  f"{json.dumps(config[key])}")

    def layer_weights(self, where, cls, c, shape):
        """The layer's output shape and its weights [(suffix, shape)] in get_weights() order."""
        name = c.get('name')
        if cls == 'Conv2D':
            if len(shape) != 3:
                return self.error(where, f'Conv2D needs a HxWxC input, not {shape}')
            (kh, kw), (sh, sw) = c['kernel_size'], c['strides']
            out = [window_out(shape[0], kh, sh, c['padding']),
                   window_out(shape[1], kw, sw, c['padding']), c['filters']]
            w = [('kernel', [kh, kw, shape[2], c['filters']])]
            return out, w + ([('bias', [c['filters']])] if c['use_bias'] else [])
        if cls == 'Dense':
            if len(shape) != 1:
                return self.error(where, f'Dense needs a flat input, not {shape}')
            w = [('kernel', [shape[0], c['units']])]
            return [c['units']], w + ([('bias', [c['units']])] if c['use_bias'] else [])
        if cls in ('MaxPooling2D', 'AveragePooling2D'):
            if len(shape) != 3:
                return self.error(where, f'{cls} needs a HxWxC input, not {shape}')
            (kh, kw), (sh, sw) = c['pool_size'], c['strides']
            return [window_out(shape[0], kh, sh, c['padding']),
                    window_out(shape[1], kw, sw, c['padding']), shape[2]], []
        if cls == 'GlobalAveragePooling2D':
            return shape[-1:], []
        if cls == 'Flatten':
            size = 1
            for d in shape:
                size *= d
            return [size], []
        if cls == 'BatchNormalization':
            ax = c['axis'][0] if isinstance(c['axis'], list) else c['axis']
            if ax not in (-1, len(shape)):
                self.error(where, f'axis {ax} is not the channels of a {shape} input')
            ch = [shape[-1]]
            w = ([('gamma', ch)] if c['scale'] else []) + ([('beta', ch)] if c['center'] else [])
            return shape, w + [('moving_mean', ch), ('moving_variance', ch)]
        return shape, []   # Dropout, Activation, LeakyReLU

    def check(self, model_json, shard_bytes):
        top = model_json
        if set(top) != {'format', 'generatedBy', 'convertedBy', 'modelTopology', 'weightsManifest'}:
            self.error('model.json', f'unexpected top-level keys {sorted(top)}')
        if top.get('format') != 'layers-model':
            self.error('model.json', "format is not 'layers-model'")
        topo = top.get('modelTopology', {})
        if set(topo) != {'class_name', 'config', 'keras_version', 'backend'}:
            self.error('modelTopology', f'keys {sorted(topo)}, expected class_name, config, '
                                        'keras_version, backend')
        if topo.get('class_name') != 'Sequential':
            self.error('modelTopology', 'class_name is not Sequential')
        version = str(topo.get('keras_version', ''))
        parts = version.split('.')
        if len(parts) != 3 or parts[0] != '2' or not all(p.isdigit() for p in parts):
            self.error('modelTopology', f"keras_version '{version}' is not a Keras 2 version")
        if topo.get('backend') != 'tensorflow':
            self.error('modelTopology', "backend is not 'tensorflow'")
        config = topo.get('config', {})
        if set(config) != {'name', 'layers'} or not isinstance(config.get('name'), str):
            return self.error('modelTopology.config', f'keys {sorted(config)}, expected name and layers')
        layers = config['layers']
        if not isinstance(layers, list) or not layers:
            return self.error('modelTopology.config', 'layers is not a non-empty list')
        expected = []   # (weight name, shape)
        names = set()
        shape = None
        for i, layer in enumerate(layers):
            where = f'layer {i}'
            if not isinstance(layer, dict) or set(layer) != {'class_name', 'config'}:
                self.error(where, 'is not {"class_name", "config"}')
                continue
            cls, c = layer['class_name'], layer['config']
            where = f"layer {i} ({cls} '{c.get('name')}')"
            if c.get('name') in names:
                self.error(where, 'a second layer of that name')
            names.add(c.get('name'))
            if i == 0:
                if cls != 'InputLayer':
                    self.error(where, 'the first layer is not an InputLayer')
                    continue
                self.keys(where, c, INPUT_LAYER)
                shape = c.get('batch_input_shape')
                if (not isinstance(shape, list) or len(shape) != 4 or shape[0] is not None or
                        not all(is_int(d) and d > 0 for d in shape[1:])):
                    return self.error(where, f'batch_input_shape {shape} is not [null, H, W, C]')
                shape = shape[1:]
                continue
            if cls not in SCHEMA:
                self.error(where, f'class {cls} is not one cnnc exports and this check knows')
                continue
            n_before = len(self.errors)
            self.keys(where, c, dict({k: typed(t) for k, t in BASE.items()}, **SCHEMA[cls]))
            if len(self.errors) != n_before:
                continue
            result = self.layer_weights(where, cls, c, shape)
            if not result:
                continue
            shape, weights = result
            if any(d <= 0 for d in shape):
                self.error(where, f'output shape {shape} is empty')
            expected += [(f"{c['name']}/{suffix}", s) for suffix, s in weights]
        if shape is not None and len(shape) != 1:
            self.error('model', f'the output is {shape}, not a vector of class scores')
        manifest = top.get('weightsManifest')
        if not isinstance(manifest, list) or len(manifest) != 1:
            return self.error('weightsManifest', 'is not one group')
        listed = [(w.get('name'), w.get('shape')) for w in manifest[0].get('weights', [])]
        if any(w.get('dtype') != 'float32' for w in manifest[0].get('weights', [])):
            self.error('weightsManifest', 'a weight is not float32')
        if listed != expected:
            self.error('weightsManifest', f'lists {listed}, but the layers have {expected} '
                                          '(names, shapes and Keras get_weights() order)')
        floats = 0
        for _, s in expected:
            n = 1
            for d in s:
                n *= d
            floats += n
        if shard_bytes is not None and shard_bytes != 4 * floats:
            self.error('shard', f'{shard_bytes} bytes, the weights need {4 * floats}')


def check_dir(d):
    with open(os.path.join(d, 'model.json')) as f:
        model = json.load(f)
    paths = model.get('weightsManifest', [{}])[0].get('paths', [])
    size = sum(os.path.getsize(os.path.join(d, p)) for p in paths)
    return model, size


def run(model, size):
    c = Checker()
    try:
        c.check(model, size)
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        c.error('model.json', f'malformed: {type(e).__name__} {e}')
    return c.errors


def damaged_copies(model):
    """Copies of a passing model.json that Keras would reject or read differently."""
    layers = lambda m: m['modelTopology']['config']['layers']
    def with_change(change):
        m = copy.deepcopy(model)
        change(m)
        return m
    yield 'an unknown key', with_change(lambda m: layers(m)[1]['config'].update(filters_count=3))
    yield 'a missing key', with_change(lambda m: layers(m)[-1]['config'].pop('name'))
    yield 'a class Keras lacks', with_change(lambda m: layers(m)[1].update(class_name='Conv2d'))
    yield 'a string for a number', with_change(
        lambda m: layers(m)[1]['config'].update(strides=['1', '1']))
    yield 'Keras 3 version', with_change(lambda m: m['modelTopology'].update(keras_version='3.0.0'))
    yield 'weights swapped', with_change(
        lambda m: m['weightsManifest'][0]['weights'].reverse())
    yield 'another kernel size', with_change(
        lambda m: layers(m)[1]['config'].update(kernel_size=[2, 2]))
    yield 'a flat input', with_change(
        lambda m: layers(m)[0]['config'].update(batch_input_shape=[None, 784]))
    yield 'a duplicate layer name', with_change(
        lambda m: layers(m)[2]['config'].update(name=layers(m)[1]['config']['name']))


def main(argv):
    self_test = argv[1:2] == ['--self-test']
    d = argv[2] if self_test else argv[1]
    model, size = check_dir(d)
    errors = run(model, size)
    for e in errors:
        print(f'{d}/model.json: {e}', file=sys.stderr)
    if errors or not self_test:
        return 1 if errors else 0
    failed = 0
    for what, m in damaged_copies(model):
        if not run(m, size):
            print(f'{d}: the check accepts a copy with {what}', file=sys.stderr)
            failed = 1
    return failed


if __name__ == '__main__':
    sys.exit(main(sys.argv))
