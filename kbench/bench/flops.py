"""Parameter and FLOP counts of Paddle networks, by the convention of ``paddle.flops``.

``paddle.flops`` crashes under numpy 2, and its numbers are what the zoo's README publishes, so kbench
counts the same way with its own forward hooks on leaf layers, one forward pass of a 1 x 3 x H x W
input in eval mode:

* convolution and transposed convolution: output elements x (input channels / groups x kernel area,
  + 1 with a bias);
* batch norm (eval): 2 x input elements;
* linear: output elements x input features;
* average pooling: 1 per output element; adaptive average pooling: (input/output size ratio
  product + 1) per output element;
* activations, additions, concatenation, resizing and functional calls: 0.

Parameters are *all* of the network's parameters, BatchNorm running mean and variance included: Paddle
makes those non-trainable parameters and ``paddle.flops`` counts them, and so does the README
(HRNet-w32: 28.54 M trainable, 28.6 M published).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kbench.errors import MissingBackendError

__all__ = ["ModelSize", "count_paddle"]


@dataclass
class ModelSize:
    """Counts for one input size."""

    params: int
    flops: int
    input_shape: tuple
    per_type: dict = field(default_factory=dict)

    @property
    def params_m(self) -> float:
        """Parameters in millions, as the README prints them."""
        return self.params / 1e6

    @property
    def gflops(self) -> float:
        """FLOPs in billions, as the README prints them."""
        return self.flops / 1e9


def _numel(shape) -> int:
    return int(np.prod([int(s) for s in shape]))


def count_paddle(layer, input_shape: tuple) -> ModelSize:
    """Count parameters and FLOPs of a Paddle layer on one forward pass of ``input_shape`` (N, C, H, W).

    The layer is called with a single tensor; wrap networks that take other inputs.
    """
    try:
        import paddle
        import paddle.nn as nn
    except ImportError:
        raise MissingBackendError("paddlepaddle", "paddle") from None

    rules = {
        nn.Conv2D: _conv, nn.Conv2DTranspose: _conv, nn.Conv1D: _conv, nn.Conv3D: _conv,
        nn.BatchNorm2D: _bn, nn.BatchNorm: _bn, nn.BatchNorm1D: _bn,
        nn.Linear: _linear,
        nn.AvgPool2D: _avgpool, nn.AdaptiveAvgPool2D: _adaptive_avgpool,
    }
    per_type: dict[str, int] = {}
    handles = []

    def make_hook(rule):
        def hook(module, inputs, output):
            x = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
            ops = int(rule(module, list(x.shape), list(output.shape)))
            per_type[type(module).__name__] = per_type.get(type(module).__name__, 0) + ops
        return hook

    for sub in layer.sublayers(include_self=True):
        if list(sub.children()):
            continue
        rule = rules.get(type(sub))
        if rule is not None:
            handles.append(sub.register_forward_post_hook(make_hook(rule)))
    was_training = layer.training
    layer.eval()
    try:
        with paddle.no_grad():
            layer(paddle.zeros(list(input_shape), dtype="float32"))
    finally:
        for h in handles:
            h.remove()
        if was_training:
            layer.train()
    params = sum(_numel(p.shape) for p in layer.parameters())
    return ModelSize(params=params, flops=sum(per_type.values()), input_shape=tuple(input_shape), per_type=per_type)


def _conv(m, x, y):
    kernel = _numel(m.weight.shape[2:])
    bias = 1 if getattr(m, "bias", None) is not None else 0
    # paddle.flops multiplies in floating point and truncates; channel counts divide evenly by groups.
    return int(_numel(y) * (x[1] / m._groups * kernel + bias))


def _bn(m, x, y):
    return 2 * _numel(x)


def _linear(m, x, y):
    return _numel(y) * int(m.weight.shape[0])


def _avgpool(m, x, y):
    return _numel(y)


def _adaptive_avgpool(m, x, y):
    kernel = np.array(x[2:]) // np.array(y[2:])
    return int((np.prod(kernel) + 1) * _numel(y))
