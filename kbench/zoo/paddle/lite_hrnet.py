"""Lite-HRNet (lite_18, lite_30, naive, wider_naive) in Paddle dygraph, parameter-compatible with PaddleDetection.

Written for kbench with PaddleDetection's sub-layer names and orders (``stem.*``, ``transition{s}.*``,
``stage{s}.{m}.layers.*``, ``stage{s}.{m}.fuse_layers.{i}.{j}.*``, ``head_layer.projects.*``), so released
``.pdparams`` (PP-TinyPose is the ``wider_naive`` network) load unchanged. Numerics follow PaddleDetection's
forward pass, including its fuse step, where the first branch's term is ``y + y`` and the first output
branch is updated before the other outputs read it.
"""

from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from kbench.zoo.paddle import sigmoid, upsample

__all__ = ["LiteHRNet", "LITE_HRNET_CONFIGS"]

#: Per network type: modules, branches, blocks per stage; module type; channel-weighting reduce ratio; widths.
LITE_HRNET_CONFIGS = {
    "lite_18": dict(num_modules=[2, 4, 2], module_type="LITE", reduce_ratio=8, channels=[40, 80, 160, 320]),
    "lite_30": dict(num_modules=[3, 8, 3], module_type="LITE", reduce_ratio=8, channels=[40, 80, 160, 320]),
    "naive": dict(num_modules=[2, 4, 2], module_type="NAIVE", reduce_ratio=1, channels=[30, 60, 120, 240]),
    "wider_naive": dict(num_modules=[2, 4, 2], module_type="NAIVE", reduce_ratio=1, channels=[40, 80, 160, 320]),
}
_NUM_BLOCKS = 2


class ConvNorm(nn.Layer):
    """Convolution with optional BatchNorm (no conv bias then) and activation; sub-layers ``conv``, ``norm``."""

    def __init__(self, ch_in, ch_out, kernel, stride=1, groups=1, norm=True, act=None):
        super().__init__()
        self.act = act
        self.norm = nn.BatchNorm2D(ch_out) if norm else None
        self.conv = nn.Conv2D(ch_in, ch_out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups,
                              bias_attr=None if not norm else False)

    def forward(self, x):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act == "relu":
            return F.relu(x)
        if self.act == "sigmoid":
            return sigmoid(x)
        return x


def channel_shuffle(x, groups: int):
    """Interleave channel groups (ShuffleNet).

    The batch is given to reshape as 0 ("copy the input's"), never read back from the tensor: a batch read from
    ``x.shape`` becomes a shape tensor in the exported graph (a ``ShapeTensor`` input of ``reshape2``, plus
    shape/slice/fill_constant ops), which defeats Paddle Inference's ``shuffle_channel_onednn_detect_pass`` and
    similar fusions in other runtimes. Channels and the spatial size are static in every zoo export.
    """
    c, h, w = x.shape[1:4]
    x = paddle.reshape(x, [0, groups, c // groups, h, w])
    x = paddle.transpose(x, [0, 2, 1, 3, 4])
    return paddle.reshape(x, [0, c, h, w])


def _dw_pw(c_in, c_mid, c_out, stride, relu_last=True):
    """Depthwise 3x3 + BN, pointwise 1x1 + BN (+ReLU), as bare layers in a Sequential (transition/fuse paths)."""
    layers = [nn.Conv2D(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias_attr=False), nn.BatchNorm2D(c_in),
              nn.Conv2D(c_mid, c_out, 1, bias_attr=False), nn.BatchNorm2D(c_out)]
    if relu_last:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Stem(nn.Layer):
    """Strided 3x3, then a shuffle-style split: a strided depthwise branch and an expand-depthwise-project branch."""

    def __init__(self, ch_in=3, stem=32, out=32, expand_ratio=1):
        super().__init__()
        self.conv1 = ConvNorm(ch_in, stem, 3, stride=2, act="relu")
        mid = int(round(stem * expand_ratio))
        half = stem // 2
        inc = out - half if stem == out else out - stem
        self.branch1 = nn.Sequential(ConvNorm(half, half, 3, stride=2, groups=half),
                                     ConvNorm(half, inc, 1, act="relu"))
        self.expand_conv = ConvNorm(half, mid, 1, act="relu")
        self.depthwise_conv = ConvNorm(mid, mid, 3, stride=2, groups=mid)
        self.linear_conv = ConvNorm(mid, half if stem == out else stem, 1, act="relu")

    def forward(self, x):
        x = self.conv1(x)
        x1, x2 = x.chunk(2, axis=1)
        x2 = self.linear_conv(self.depthwise_conv(self.expand_conv(x2)))
        return channel_shuffle(paddle.concat([self.branch1(x1), x2], axis=1), 2)


class ShuffleUnit(nn.Layer):
    """ShuffleNet-v2 unit at stride 1: half the channels pass, half go 1x1 -> dw3x3 -> 1x1."""

    def __init__(self, channels):
        super().__init__()
        half = channels // 2
        self.branch2 = nn.Sequential(ConvNorm(half, half, 1, act="relu"), ConvNorm(half, half, 3, groups=half),
                                     ConvNorm(half, half, 1, act="relu"))

    def forward(self, x):
        x1, x2 = x.chunk(2, axis=1)
        return channel_shuffle(paddle.concat([x1, self.branch2(x2)], axis=1), 2)


class CrossResolutionWeighting(nn.Layer):
    """Channel weights computed from all branches pooled to the smallest resolution."""

    def __init__(self, channels, ratio):
        super().__init__()
        self.channels = channels
        total = sum(channels)
        self.conv1 = ConvNorm(total, total // ratio, 1, act="relu")
        self.conv2 = ConvNorm(total // ratio, total, 1, act="sigmoid")

    def forward(self, xs):
        size = xs[-1].shape[-2:]
        pooled = [F.adaptive_avg_pool2d(s, size) for s in xs[:-1]] + [xs[-1]]
        weights = paddle.split(self.conv2(self.conv1(paddle.concat(pooled, 1))), self.channels, 1)
        return [s * F.interpolate(w, s.shape[-2:], mode="nearest") for s, w in zip(xs, weights)]


class SpatialWeighting(nn.Layer):
    """Squeeze-excitation style weights per branch (convolutions with bias, no norm)."""

    def __init__(self, channels, ratio=4):
        super().__init__()
        self.global_avgpooling = nn.AdaptiveAvgPool2D(1)
        self.conv1 = ConvNorm(channels, channels // ratio, 1, norm=False, act="relu")
        self.conv2 = ConvNorm(channels // ratio, channels, 1, norm=False, act="sigmoid")

    def forward(self, x):
        return x * self.conv2(self.conv1(self.global_avgpooling(x)))


class ConditionalChannelWeighting(nn.Layer):
    """Lite-HRNet's block: half the channels pass, half are weighted across and within resolutions."""

    def __init__(self, channels, reduce_ratio):
        super().__init__()
        half = [c // 2 for c in channels]
        self.cross_resolution_weighting = CrossResolutionWeighting(half, reduce_ratio)
        self.depthwise_convs = nn.LayerList([ConvNorm(c, c, 3, groups=c) for c in half])
        self.spatial_weighting = nn.LayerList([SpatialWeighting(c, 4) for c in half])

    def forward(self, xs):
        parts = [s.chunk(2, axis=1) for s in xs]
        x1 = [p[0] for p in parts]
        x2 = self.cross_resolution_weighting([p[1] for p in parts])
        x2 = [sw(dw(s)) for s, dw, sw in zip(x2, self.depthwise_convs, self.spatial_weighting)]
        return [channel_shuffle(paddle.concat([a, b], axis=1), 2) for a, b in zip(x1, x2)]


class LiteHRNetModule(nn.Layer):
    """Per-branch blocks, then fusion across all branches."""

    def __init__(self, channels, module_type, reduce_ratio):
        super().__init__()
        self.channels = channels
        self.module_type = module_type
        n = len(channels)
        if module_type == "LITE":
            self.layers = nn.Sequential(*[ConditionalChannelWeighting(channels, reduce_ratio)
                                          for _ in range(_NUM_BLOCKS)])
        else:
            self.layers = nn.LayerList([nn.Sequential(*[ShuffleUnit(c) for _ in range(_NUM_BLOCKS)]) for c in channels])
        fuse = []
        for i in range(n):
            row = []
            for j in range(n):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2D(channels[j], channels[i], 1, bias_attr=False),
                                             nn.BatchNorm2D(channels[i]), _Upsample(2 ** (j - i))))
                elif j == i:
                    row.append(None)
                else:
                    steps = [_dw_pw(channels[j], channels[j], channels[i] if k == i - j - 1 else channels[j], 2,
                                    relu_last=k != i - j - 1) for k in range(i - j)]
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.LayerList(row))
        self.fuse_layers = nn.LayerList(fuse)

    def forward(self, xs):
        if self.module_type == "LITE":
            out = self.layers(xs)
        else:
            out = [branch(x) for branch, x in zip(self.layers, xs)]
        out = list(out)
        fused = []
        for i in range(len(self.fuse_layers)):
            y = out[0] if i == 0 else self.fuse_layers[i][0](out[0])
            y = y + y  # PaddleDetection's loop adds the first branch's term to itself
            for j in range(1, len(self.channels)):
                y = y + (out[j] if i == j else self.fuse_layers[i][j](out[j]))
            if i == 0:
                out[0] = y  # later outputs read the updated first branch, as in the reference
            fused.append(F.relu(y))
        return fused


class _Upsample(nn.Layer):
    """Nearest upsampling by an integer factor, by output size (see :func:`kbench.zoo.paddle.upsample`)."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = int(scale)

    def forward(self, x):
        return upsample(x, self.scale)


class IterativeHead(nn.Layer):
    """From the lowest resolution up: add the upsampled previous output, then a depthwise-separable conv."""

    def __init__(self, channels):
        super().__init__()
        rev = channels[::-1]
        self.projects = nn.LayerList([_DepthwiseSeparable(rev[i], rev[i + 1] if i < len(rev) - 1 else rev[i])
                                      for i in range(len(rev))])

    def forward(self, xs):
        ys, last = [], None
        for i, s in enumerate(xs[::-1]):
            if last is not None:
                s = s + F.interpolate(last, size=s.shape[-2:], mode="bilinear", align_corners=True)
            last = self.projects[i](s)
            ys.append(last)
        return ys[::-1]


class _DepthwiseSeparable(nn.Layer):
    def __init__(self, ch_in, ch_out):
        super().__init__()
        self.depthwise_conv = ConvNorm(ch_in, ch_in, 3, groups=ch_in)
        self.pointwise_conv = ConvNorm(ch_in, ch_out, 1, act="relu")

    def forward(self, x):
        return self.pointwise_conv(self.depthwise_conv(x))


class LiteHRNet(nn.Layer):
    """Lite-HRNet backbone; returns the head outputs listed in ``return_idx`` (keypoint models use ``[0]``).

    Args:
        network_type: ``lite_18``, ``lite_30``, ``naive`` or ``wider_naive`` (PP-TinyPose).
        return_idx: which head outputs to return.
    """

    def __init__(self, network_type: str = "wider_naive", return_idx: tuple = (0,)):
        super().__init__()
        if network_type not in LITE_HRNET_CONFIGS:
            raise ValueError(f"network_type must be one of {sorted(LITE_HRNET_CONFIGS)}, got {network_type!r}")
        cfg = LITE_HRNET_CONFIGS[network_type]
        self.return_idx = list(return_idx)
        self.stem = Stem(3, 32, 32, 1)
        pre = [32]
        for s in range(3):
            cur = cfg["channels"][:s + 2]
            setattr(self, f"transition{s}", self._transition(pre, cur))
            setattr(self, f"stage{s}", nn.Sequential(*[LiteHRNetModule(cur, cfg["module_type"], cfg["reduce_ratio"])
                                                        for _ in range(cfg["num_modules"][s])]))
            pre = cur
        self.head_layer = IterativeHead(pre)

    @staticmethod
    def _transition(pre, cur):
        layers = []
        for i, c in enumerate(cur):
            if i < len(pre):
                layers.append(None if c == pre[i] else _dw_pw(pre[i], pre[i], c, 1))
            else:
                steps = [_dw_pw(pre[-1], pre[-1], c if j == i - len(pre) else pre[-1], 2)
                         for j in range(i + 1 - len(pre))]
                layers.append(nn.Sequential(*steps))
        return nn.LayerList(layers)

    def forward(self, x):
        ys = [self.stem(x)]
        for s in range(3):
            transition = getattr(self, f"transition{s}")
            xs = [ys[min(j, len(ys) - 1)] if transition[j] is None else transition[j](ys[min(j, len(ys) - 1)])
                  for j in range(len(transition))]
            ys = getattr(self, f"stage{s}")(xs)
        out = self.head_layer(ys)
        return [out[i] for i in self.return_idx]
