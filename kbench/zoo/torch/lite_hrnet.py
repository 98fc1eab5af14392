"""Lite-HRNet (lite_18, lite_30, naive, wider_naive) in PyTorch, a port of :mod:`kbench.zoo.paddle.lite_hrnet`.

Same sub-module names and orders as the Paddle network (``stem.*``, ``transition{s}.*``, ``stage{s}.{m}.layers.*``,
``stage{s}.{m}.fuse_layers.{i}.{j}.*``, ``head_layer.projects.*``), so PaddleDetection's ``.pdparams`` (PP-TinyPose
is the ``wider_naive`` network) load with only the BatchNorm statistics renamed. The forward pass copies Paddle's
order of operations, including PaddleDetection's fuse step, where the first branch's term is ``y + y`` and the
first output branch is updated before the other outputs read it.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from kbench.zoo.torch import upsample
from kbench.zoo.torch.hrnet import batch_norm

__all__ = ["LiteHRNet", "LITE_HRNET_CONFIGS", "channel_shuffle"]

#: Per network type: modules per stage, module type, channel-weighting reduce ratio, branch widths.
LITE_HRNET_CONFIGS = {
    "lite_18": dict(num_modules=[2, 4, 2], module_type="LITE", reduce_ratio=8, channels=[40, 80, 160, 320]),
    "lite_30": dict(num_modules=[3, 8, 3], module_type="LITE", reduce_ratio=8, channels=[40, 80, 160, 320]),
    "naive": dict(num_modules=[2, 4, 2], module_type="NAIVE", reduce_ratio=1, channels=[30, 60, 120, 240]),
    "wider_naive": dict(num_modules=[2, 4, 2], module_type="NAIVE", reduce_ratio=1, channels=[40, 80, 160, 320]),
}
_NUM_BLOCKS = 2


class ConvNorm(nn.Module):
    """Convolution with optional BatchNorm (no conv bias then) and activation; sub-modules ``conv``, ``norm``."""

    def __init__(self, ch_in, ch_out, kernel, stride=1, groups=1, norm=True, act=None):
        super().__init__()
        self.act = act
        self.norm = batch_norm(ch_out) if norm else None
        self.conv = nn.Conv2d(ch_in, ch_out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups,
                              bias=not norm)

    def forward(self, x):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act == "relu":
            return F.relu(x)
        if self.act == "sigmoid":
            return torch.sigmoid(x)
        return x


def _static_size(x) -> tuple[int, int]:
    # Lite-HRNet runs on fixed-size crops: Python ints make the exported graph's sizes constants, so ONNX shape
    # inference keeps every spatial size (sizes read from a tensor's shape would become Shape nodes).
    return int(x.shape[2]), int(x.shape[3])


def channel_shuffle(x, groups: int):
    """Interleave channel groups (ShuffleNet).

    The batch dimension is passed as -1, the others as Python ints, so that an exported graph keeps a dynamic
    batch axis and reshapes to constant shapes.
    """
    c = int(x.shape[1])
    h, w = _static_size(x)
    x = x.reshape(-1, groups, c // groups, h, w).transpose(1, 2)
    return x.reshape(-1, c, h, w)


def _halves(x):
    """The two channel halves, as Paddle's ``x.chunk(2, axis=1)`` gives them (channel counts here are even).

    Slicing at a Python int exports as two constant slices, where ``chunk`` exports slice ends computed
    from the input's shape.
    """
    half = int(x.shape[1]) // 2
    return x[:, :half], x[:, half:]


def _dw_pw(c_in, c_mid, c_out, stride, relu_last=True):
    """Depthwise 3x3 + BN, pointwise 1x1 + BN (+ReLU), as bare layers in a Sequential (transition/fuse paths)."""
    layers = [nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False), batch_norm(c_in),
              nn.Conv2d(c_mid, c_out, 1, bias=False), batch_norm(c_out)]
    if relu_last:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Stem(nn.Module):
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
        x1, x2 = _halves(x)
        x2 = self.linear_conv(self.depthwise_conv(self.expand_conv(x2)))
        return channel_shuffle(torch.cat([self.branch1(x1), x2], dim=1), 2)


class ShuffleUnit(nn.Module):
    """ShuffleNet-v2 unit at stride 1: half the channels pass, half go 1x1 -> dw3x3 -> 1x1."""

    def __init__(self, channels):
        super().__init__()
        half = channels // 2
        self.branch2 = nn.Sequential(ConvNorm(half, half, 1, act="relu"), ConvNorm(half, half, 3, groups=half),
                                     ConvNorm(half, half, 1, act="relu"))

    def forward(self, x):
        x1, x2 = _halves(x)
        return channel_shuffle(torch.cat([x1, self.branch2(x2)], dim=1), 2)


def _resize_to(x, size, mode: str = "nearest"):
    """Resize to ``size`` as Paddle's ``F.interpolate(x, size, ...)`` does (bilinear: ``align_corners=True``).

    Where ``size`` is the same integer multiple of the input's in both axes (every branch of a zoo network),
    the multiple is passed as the scale instead: the sampling positions are the same (nearest: source
    ``floor(dst * in / out)``; bilinear with aligned corners: source ``dst * (in - 1) / (out - 1)``, a formula of
    the sizes alone), and the exported ``Resize`` gets constant scales, where a size makes the exporter build
    the output shape from the input's (dynamic) batch axis and ONNX shape inference loses every size after it.
    """
    h, w = _static_size(x)
    oh, ow = int(size[0]), int(size[1])
    align = True if mode == "bilinear" else None
    if oh % h == 0 and ow % w == 0 and oh // h == ow // w:
        return F.interpolate(x, scale_factor=float(oh // h), mode=mode, align_corners=align)
    return F.interpolate(x, size=(oh, ow), mode=mode, align_corners=align)


def _pool_to(x, size):
    """Adaptive average pooling to ``size``, as Paddle's ``adaptive_avg_pool2d``.

    Both frameworks average over the windows ``[floor(i * in / out), ceil((i + 1) * in / out))``, so they
    agree for any sizes. Where the sizes divide evenly (every branch of a zoo network: each one halves the
    last), the same windows are a plain average pool with kernel = stride = in / out, which is used then
    because the ONNX exporter turns it into one ``AveragePool`` whatever the batch axis.
    """
    h, w = _static_size(x)
    oh, ow = int(size[0]), int(size[1])
    if h % oh == 0 and w % ow == 0:
        kernel = (h // oh, w // ow)
        return F.avg_pool2d(x, kernel, stride=kernel)
    return F.adaptive_avg_pool2d(x, (oh, ow))


class CrossResolutionWeighting(nn.Module):
    """Channel weights computed from all branches pooled to the smallest resolution."""

    def __init__(self, channels, ratio):
        super().__init__()
        self.channels = channels
        total = sum(channels)
        self.conv1 = ConvNorm(total, total // ratio, 1, act="relu")
        self.conv2 = ConvNorm(total // ratio, total, 1, act="sigmoid")

    def forward(self, xs):
        size = _static_size(xs[-1])
        pooled = [_pool_to(s, size) for s in xs[:-1]] + [xs[-1]]
        weights = torch.split(self.conv2(self.conv1(torch.cat(pooled, 1))), self.channels, 1)
        return [s * _resize_to(w, _static_size(s), "nearest") for s, w in zip(xs, weights)]


class SpatialWeighting(nn.Module):
    """Squeeze-excitation style weights per branch (convolutions with bias, no norm)."""

    def __init__(self, channels, ratio=4):
        super().__init__()
        self.global_avgpooling = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvNorm(channels, channels // ratio, 1, norm=False, act="relu")
        self.conv2 = ConvNorm(channels // ratio, channels, 1, norm=False, act="sigmoid")

    def forward(self, x):
        return x * self.conv2(self.conv1(self.global_avgpooling(x)))


class ConditionalChannelWeighting(nn.Module):
    """Lite-HRNet's block: half the channels pass, half are weighted across and within resolutions."""

    def __init__(self, channels, reduce_ratio):
        super().__init__()
        half = [c // 2 for c in channels]
        self.cross_resolution_weighting = CrossResolutionWeighting(half, reduce_ratio)
        self.depthwise_convs = nn.ModuleList([ConvNorm(c, c, 3, groups=c) for c in half])
        self.spatial_weighting = nn.ModuleList([SpatialWeighting(c, 4) for c in half])

    def forward(self, xs):
        parts = [_halves(s) for s in xs]
        x1 = [p[0] for p in parts]
        x2 = self.cross_resolution_weighting([p[1] for p in parts])
        x2 = [sw(dw(s)) for s, dw, sw in zip(x2, self.depthwise_convs, self.spatial_weighting)]
        return [channel_shuffle(torch.cat([a, b], dim=1), 2) for a, b in zip(x1, x2)]


class _Upsample(nn.Module):
    """Nearest upsampling by an integer factor, by output size (see :func:`kbench.zoo.torch.upsample`)."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = int(scale)

    def forward(self, x):
        return upsample(x, self.scale)


class LiteHRNetModule(nn.Module):
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
            self.layers = nn.ModuleList([nn.Sequential(*[ShuffleUnit(c) for _ in range(_NUM_BLOCKS)])
                                         for c in channels])
        fuse = []
        for i in range(n):
            row = []
            for j in range(n):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(channels[j], channels[i], 1, bias=False),
                                             batch_norm(channels[i]), _Upsample(2 ** (j - i))))
                elif j == i:
                    row.append(None)  # ModuleList keeps the index, as Paddle's LayerList does
                else:
                    steps = [_dw_pw(channels[j], channels[j], channels[i] if k == i - j - 1 else channels[j], 2,
                                    relu_last=k != i - j - 1) for k in range(i - j)]
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse)

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


class _DepthwiseSeparable(nn.Module):
    def __init__(self, ch_in, ch_out):
        super().__init__()
        self.depthwise_conv = ConvNorm(ch_in, ch_in, 3, groups=ch_in)
        self.pointwise_conv = ConvNorm(ch_in, ch_out, 1, act="relu")

    def forward(self, x):
        return self.pointwise_conv(self.depthwise_conv(x))


class IterativeHead(nn.Module):
    """From the lowest resolution up: add the upsampled previous output, then a depthwise-separable conv."""

    def __init__(self, channels):
        super().__init__()
        rev = channels[::-1]
        self.projects = nn.ModuleList([_DepthwiseSeparable(rev[i], rev[i + 1] if i < len(rev) - 1 else rev[i])
                                       for i in range(len(rev))])

    def forward(self, xs):
        ys, last = [], None
        for i, s in enumerate(xs[::-1]):
            if last is not None:
                # Paddle resizes to the target size with align_corners=True (corner pixels aligned), unlike the
                # half-pixel bilinear of HigherHRNet's head.
                s = s + _resize_to(last, _static_size(s), "bilinear")
            last = self.projects[i](s)
            ys.append(last)
        return ys[::-1]


class LiteHRNet(nn.Module):
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
        return nn.ModuleList(layers)

    def forward(self, x):
        ys = [self.stem(x)]
        for s in range(3):
            transition = getattr(self, f"transition{s}")
            xs = [ys[min(j, len(ys) - 1)] if transition[j] is None else transition[j](ys[min(j, len(ys) - 1)])
                  for j in range(len(transition))]
            ys = getattr(self, f"stage{s}")(xs)
        out = self.head_layer(ys)
        return [out[i] for i in self.return_idx]
