"""HRNet (widths 18 to 64) in PyTorch, a port of :mod:`kbench.zoo.paddle.hrnet` with the same parameter names.

Sub-modules are registered under PaddleDetection's names (``la1.block_layer2_1.conv1.conv.weight``,
``st2.stage_st2_1.branches_func.bb_st2_1_branch_layer_1_1...``, ``...fuse_func.residual_st2_1_layer_1_2...``),
so a released ``.pdparams`` loads after renaming only the BatchNorm statistics (see :mod:`kbench.zoo.torch.load`).
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from kbench.zoo.torch import upsample

__all__ = ["ConvNorm", "BasicBlock", "HRNet", "HRNET_CHANNELS", "batch_norm"]

#: Branch widths of stages 2, 3 and 4 for each HRNet width.
HRNET_CHANNELS = {w: [[w, 2 * w], [w, 2 * w, 4 * w], [w, 2 * w, 4 * w, 8 * w]]
                  for w in (18, 30, 32, 40, 44, 48, 60, 64)}


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """BatchNorm with Paddle's defaults: eps 1e-5; Paddle's momentum 0.9 is torch's 0.1 (it weights the new batch).

    Only eval mode is used, where momentum plays no part; it is set so that fine-tuning would behave alike.
    """
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)


class ConvNorm(nn.Module):
    """Convolution (no bias, 'same' padding) + BatchNorm + optional ReLU; sub-modules ``conv`` and ``norm``."""

    def __init__(self, ch_in: int, ch_out: int, kernel: int, stride: int = 1, relu: bool = False):
        super().__init__()
        self.relu = relu
        self.conv = nn.Conv2d(ch_in, ch_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)
        self.norm = batch_norm(ch_out)

    def forward(self, x):
        out = self.norm(self.conv(x))
        return F.relu(out) if self.relu else out


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4) residual block; ``conv_down`` projects the shortcut when asked."""

    def __init__(self, ch_in: int, planes: int, downsample: bool):
        super().__init__()
        self.conv1 = ConvNorm(ch_in, planes, 1, relu=True)
        self.conv2 = ConvNorm(planes, planes, 3, relu=True)
        self.conv3 = ConvNorm(planes, planes * 4, 1)
        self.conv_down = ConvNorm(ch_in, planes * 4, 1) if downsample else None

    def forward(self, x):
        shortcut = x if self.conv_down is None else self.conv_down(x)
        return F.relu(shortcut + self.conv3(self.conv2(self.conv1(x))))


class BasicBlock(nn.Module):
    """3x3 -> 3x3 residual block."""

    def __init__(self, ch_in: int, ch_out: int):
        super().__init__()
        self.conv1 = ConvNorm(ch_in, ch_out, 3, relu=True)
        self.conv2 = ConvNorm(ch_out, ch_out, 3)

    def forward(self, x):
        return F.relu(x + self.conv2(self.conv1(x)))


def _register(parent: nn.Module, name: str, module: nn.Module) -> nn.Module:
    # torch's add_module returns None where Paddle's add_sublayer returns the layer; this keeps the ports one-liners.
    parent.add_module(name, module)
    return module


class Layer1(nn.Module):
    """Four bottlenecks at 1/4 resolution: ``block_layer2_1`` ... ``block_layer2_4``."""

    def __init__(self, ch_in: int, name: str = "layer2"):
        super().__init__()
        self.blocks = [_register(self, f"block_{name}_{i + 1}", Bottleneck(ch_in if i == 0 else 256, 64, i == 0))
                       for i in range(4)]

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class Transition(nn.Module):
    """Adapts the branch list between stages: width changes, plus a strided branch for the new resolution."""

    def __init__(self, ch_in: list, ch_out: list, name: str):
        super().__init__()
        self.convs = []
        for i, c in enumerate(ch_out):
            conv = None
            if i >= len(ch_in):
                conv = ConvNorm(ch_in[-1], c, 3, stride=2, relu=True)
            elif ch_in[i] != c:
                conv = ConvNorm(ch_in[i], c, 3, relu=True)
            if conv is not None:
                self.add_module(f"transition_{name}_layer_{i + 1}", conv)
            self.convs.append(conv)

    def forward(self, xs):
        return [xs[i] if conv is None else conv(xs[min(i, len(xs) - 1)]) for i, conv in enumerate(self.convs)]


class Branches(nn.Module):
    """Four basic blocks on each branch."""

    def __init__(self, channels: list, name: str, blocks: int = 4):
        super().__init__()
        self.branches = [[_register(self, f"bb_{name}_branch_layer_{i + 1}_{j + 1}", BasicBlock(c, c))
                          for j in range(blocks)] for i, c in enumerate(channels)]

    def forward(self, xs):
        outs = []
        for x, blocks in zip(xs, self.branches):
            for block in blocks:
                x = block(x)
            outs.append(x)
        return outs


class Fuse(nn.Module):
    """Exchange between branches: 1x1 + nearest upsampling from lower resolutions, strided 3x3 chains from higher."""

    def __init__(self, channels: list, multi_scale_output: bool, name: str):
        super().__init__()
        self.channels = channels
        self.num_out = len(channels) if multi_scale_output else 1
        self.paths = {}
        for i in range(self.num_out):
            for j, cj in enumerate(channels):
                if j > i:
                    self.paths[i, j] = [_register(self, f"residual_{name}_layer_{i + 1}_{j + 1}",
                                                  ConvNorm(cj, channels[i], 1))]
                elif j < i:
                    chain, c = [], cj
                    for k in range(i - j):
                        last = k == i - j - 1
                        c_out = channels[i] if last else cj
                        chain.append(_register(self, f"residual_{name}_layer_{i + 1}_{j + 1}_{k + 1}",
                                               ConvNorm(c, c_out, 3, stride=2, relu=not last)))
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
                acc = acc + y  # same summation order as the Paddle network, so rounding matches too
            outs.append(F.relu(acc))
        return outs


class HighResolutionModule(nn.Module):
    """Branches then fuse; sub-modules ``branches_func`` and ``fuse_func``."""

    def __init__(self, channels: list, multi_scale_output: bool, name: str):
        super().__init__()
        self.branches_func = Branches(channels, name)
        self.fuse_func = Fuse(channels, multi_scale_output, name)

    def forward(self, xs):
        return self.fuse_func(self.branches_func(xs))


class Stage(nn.Module):
    """``num_modules`` high-resolution modules: ``stage_st2_1`` ..."""

    def __init__(self, channels: list, num_modules: int, multi_scale_output: bool, name: str):
        super().__init__()
        self.modules_ = [_register(self, f"stage_{name}_{i + 1}", HighResolutionModule(
            channels, multi_scale_output or i < num_modules - 1, f"{name}_{i + 1}")) for i in range(num_modules)]

    def forward(self, xs):
        for module in self.modules_:
            xs = module(xs)
        return xs


class HRNet(nn.Module):
    """HRNet backbone; returns the branch outputs listed in ``return_idx`` (keypoint models use ``[0]``).

    Args:
        width: width of the first branch (32 or 48 in the zoo).
        return_idx: which of the four branches to return; one branch means the last module fuses only it.
    """

    def __init__(self, width: int = 32, return_idx: tuple = (0,)):
        super().__init__()
        if width not in HRNET_CHANNELS:
            raise ValueError(f"HRNet width must be one of {sorted(HRNET_CHANNELS)}, got {width}")
        c2, c3, c4 = HRNET_CHANNELS[width]
        self.return_idx = list(return_idx)
        self.conv_layer1_1 = ConvNorm(3, 64, 3, stride=2, relu=True)
        self.conv_layer1_2 = ConvNorm(64, 64, 3, stride=2, relu=True)
        self.la1 = Layer1(64)
        self.tr1 = Transition([256], c2, "tr1")
        self.st2 = Stage(c2, 1, True, "st2")
        self.tr2 = Transition(c2, c3, "tr2")
        self.st3 = Stage(c3, 4, True, "st3")
        self.tr3 = Transition(c3, c4, "tr3")
        self.st4 = Stage(c4, 3, len(self.return_idx) > 1, "st4")

    def forward(self, x):
        x = self.la1(self.conv_layer1_2(self.conv_layer1_1(x)))
        xs = self.st2(self.tr1([x]))
        xs = self.st3(self.tr2(xs))
        xs = self.st4(self.tr3(xs))
        return [xs[i] for i in self.return_idx]
