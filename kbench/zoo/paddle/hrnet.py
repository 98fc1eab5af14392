"""HRNet (widths 18 to 64) in Paddle dygraph, parameter-compatible with PaddleDetection's ``HRNet``.

Written for kbench; the sub-layer names follow PaddleDetection's (``la1.block_layer2_1.conv1.conv.weight``,
``st2.stage_st2_1.branches_func.bb_st2_1_branch_layer_1_1...``, ``...fuse_func.residual_st2_1_layer_1_2...``)
so that a released ``.pdparams`` loads with no missing and no unexpected key. Differences that do not
change the numbers, made for export: the fuse upsampling passes an output size, not a scale (oneDNN and
paddle2onnx reject the scale attribute, which is where PaddleDetection's own HRNet fails), and SE blocks,
unused by every keypoint config, are left out.
"""

from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from kbench.zoo.paddle import upsample

__all__ = ["ConvNorm", "HRNet", "HRNET_CHANNELS"]

#: Branch widths of stages 2, 3 and 4 for each HRNet width.
HRNET_CHANNELS = {w: [[w, 2 * w], [w, 2 * w, 4 * w], [w, 2 * w, 4 * w, 8 * w]]
                  for w in (18, 30, 32, 40, 44, 48, 60, 64)}


class ConvNorm(nn.Layer):
    """Convolution (no bias, 'same' padding) + BatchNorm + optional ReLU; sub-layers ``conv`` and ``norm``."""

    def __init__(self, ch_in: int, ch_out: int, kernel: int, stride: int = 1, relu: bool = False,
                 momentum: float = 0.9):
        super().__init__()
        self.relu = relu
        self.conv = nn.Conv2D(ch_in, ch_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias_attr=False)
        self.norm = nn.BatchNorm2D(ch_out, momentum=momentum)

    def forward(self, x):
        out = self.norm(self.conv(x))
        return F.relu(out) if self.relu else out


class Bottleneck(nn.Layer):
    """1x1 -> 3x3 -> 1x1 (x4) residual block; ``conv_down`` projects the shortcut when asked."""

    def __init__(self, ch_in: int, planes: int, downsample: bool, momentum: float):
        super().__init__()
        self.conv1 = ConvNorm(ch_in, planes, 1, relu=True, momentum=momentum)
        self.conv2 = ConvNorm(planes, planes, 3, relu=True, momentum=momentum)
        self.conv3 = ConvNorm(planes, planes * 4, 1, momentum=momentum)
        self.conv_down = ConvNorm(ch_in, planes * 4, 1, momentum=momentum) if downsample else None

    def forward(self, x):
        shortcut = x if self.conv_down is None else self.conv_down(x)
        return F.relu(paddle.add(shortcut, self.conv3(self.conv2(self.conv1(x)))))


class BasicBlock(nn.Layer):
    """3x3 -> 3x3 residual block."""

    def __init__(self, ch_in: int, ch_out: int, momentum: float):
        super().__init__()
        self.conv1 = ConvNorm(ch_in, ch_out, 3, relu=True, momentum=momentum)
        self.conv2 = ConvNorm(ch_out, ch_out, 3, momentum=momentum)

    def forward(self, x):
        return F.relu(paddle.add(x, self.conv2(self.conv1(x))))


class Layer1(nn.Layer):
    """Four bottlenecks at 1/4 resolution: ``block_layer2_1`` ... ``block_layer2_4``."""

    def __init__(self, ch_in: int, momentum: float, name: str = "layer2"):
        super().__init__()
        self.blocks = [self.add_sublayer(f"block_{name}_{i + 1}", Bottleneck(ch_in if i == 0 else 256, 64, i == 0,
                                                                             momentum)) for i in range(4)]

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class Transition(nn.Layer):
    """Adapts the branch list between stages: width changes, plus a strided branch for the new resolution."""

    def __init__(self, ch_in: list, ch_out: list, momentum: float, name: str):
        super().__init__()
        self.convs = []
        for i, c in enumerate(ch_out):
            conv = None
            if i >= len(ch_in):
                conv = ConvNorm(ch_in[-1], c, 3, stride=2, relu=True, momentum=momentum)
            elif ch_in[i] != c:
                conv = ConvNorm(ch_in[i], c, 3, relu=True, momentum=momentum)
            if conv is not None:
                self.add_sublayer(f"transition_{name}_layer_{i + 1}", conv)
            self.convs.append(conv)

    def forward(self, xs):
        return [xs[i] if conv is None else conv(xs[min(i, len(xs) - 1)]) for i, conv in enumerate(self.convs)]


class Branches(nn.Layer):
    """Four basic blocks on each branch."""

    def __init__(self, channels: list, momentum: float, name: str, blocks: int = 4):
        super().__init__()
        self.branches = [[self.add_sublayer(f"bb_{name}_branch_layer_{i + 1}_{j + 1}", BasicBlock(c, c, momentum))
                          for j in range(blocks)] for i, c in enumerate(channels)]

    def forward(self, xs):
        outs = []
        for x, blocks in zip(xs, self.branches):
            for block in blocks:
                x = block(x)
            outs.append(x)
        return outs


class Fuse(nn.Layer):
    """Exchange between branches: 1x1 + nearest upsampling from lower resolutions, strided 3x3 chains from higher."""

    def __init__(self, channels: list, multi_scale_output: bool, momentum: float, name: str):
        super().__init__()
        self.channels = channels
        self.num_out = len(channels) if multi_scale_output else 1
        self.paths = {}
        for i in range(self.num_out):
            for j, cj in enumerate(channels):
                if j > i:
                    self.paths[i, j] = [self.add_sublayer(f"residual_{name}_layer_{i + 1}_{j + 1}",
                                                          ConvNorm(cj, channels[i], 1, momentum=momentum))]
                elif j < i:
                    chain, c = [], cj
                    for k in range(i - j):
                        last = k == i - j - 1
                        c_out = channels[i] if last else cj
                        chain.append(self.add_sublayer(f"residual_{name}_layer_{i + 1}_{j + 1}_{k + 1}",
                                                       ConvNorm(c, c_out, 3, stride=2, relu=not last,
                                                                momentum=momentum)))
                        c = c_out
                    self.paths[i, j] = chain

    def forward(self, xs):
        outs = []
        for i in range(self.num_out):
            acc = xs[i]
            for j in range(len(self.channels)):
                if j == i:
                    continue
                y = xs[j]
                for conv in self.paths[i, j]:
                    y = conv(y)
                if j > i:
                    y = upsample(y, 2 ** (j - i))
                acc = paddle.add(acc, y)
            outs.append(F.relu(acc))
        return outs


class HighResolutionModule(nn.Layer):
    """Branches then fuse; sub-layers ``branches_func`` and ``fuse_func``."""

    def __init__(self, channels: list, multi_scale_output: bool, momentum: float, name: str):
        super().__init__()
        self.branches_func = Branches(channels, momentum, name)
        self.fuse_func = Fuse(channels, multi_scale_output, momentum, name)

    def forward(self, xs):
        return self.fuse_func(self.branches_func(xs))


class Stage(nn.Layer):
    """``num_modules`` high-resolution modules: ``stage_st2_1`` ..."""

    def __init__(self, channels: list, num_modules: int, multi_scale_output: bool, momentum: float, name: str):
        super().__init__()
        self.modules_ = [self.add_sublayer(f"stage_{name}_{i + 1}", HighResolutionModule(
            channels, multi_scale_output or i < num_modules - 1, momentum, f"{name}_{i + 1}"))
            for i in range(num_modules)]

    def forward(self, xs):
        for module in self.modules_:
            xs = module(xs)
        return xs


class HRNet(nn.Layer):
    """HRNet backbone; returns the branch outputs listed in ``return_idx`` (keypoint models use ``[0]``).

    Args:
        width: width of the first branch (32 or 48 in the zoo).
        return_idx: which of the four branches to return; one branch means the last module fuses only it.
        momentum: BatchNorm momentum (PaddleDetection: 0.9).
    """

    def __init__(self, width: int = 32, return_idx: tuple = (0,), momentum: float = 0.9):
        super().__init__()
        if width not in HRNET_CHANNELS:
            raise ValueError(f"HRNet width must be one of {sorted(HRNET_CHANNELS)}, got {width}")
        c2, c3, c4 = HRNET_CHANNELS[width]
        self.return_idx = list(return_idx)
        self.conv_layer1_1 = ConvNorm(3, 64, 3, stride=2, relu=True, momentum=momentum)
        self.conv_layer1_2 = ConvNorm(64, 64, 3, stride=2, relu=True, momentum=momentum)
        self.la1 = Layer1(64, momentum)
        self.tr1 = Transition([256], c2, momentum, "tr1")
        self.st2 = Stage(c2, 1, True, momentum, "st2")
        self.tr2 = Transition(c2, c3, momentum, "tr2")
        self.st3 = Stage(c3, 4, True, momentum, "st3")
        self.tr3 = Transition(c3, c4, momentum, "tr3")
        self.st4 = Stage(c4, 3, len(self.return_idx) > 1, momentum, "st4")

    def forward(self, x):
        x = self.la1(self.conv_layer1_2(self.conv_layer1_1(x)))
        xs = self.st2(self.tr1([x]))
        xs = self.st3(self.tr2(xs))
        xs = self.st4(self.tr3(xs))
        return [xs[i] for i in self.return_idx]
