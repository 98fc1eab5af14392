"""HigherHRNet (and its SWAHR variant) in PyTorch, a port of :mod:`kbench.zoo.paddle.higherhrnet`.

An HRNet backbone (``backbone.*``) and PaddleDetection's ``HrHRNetHead`` (``hrhrnet_head.*``): a 1x1 convolution
gives 1/4-resolution heatmaps and associative-embedding tags, a transposed convolution and four basic blocks give
1/2-resolution heatmaps; the output is the two heatmaps averaged at 1/2 resolution and the upsampled tags.
SWAHR's scale layers (``scalelayer0/1``) serve training only; they are built so that SWAHR checkpoints load.
The transposed convolution's weight is laid out ``[in, out / groups, k, k]`` in both frameworks, so it loads as is.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from kbench.zoo.torch import upsample
from kbench.zoo.torch.hrnet import BasicBlock, HRNet, batch_norm

__all__ = ["HigherHRNetHead", "HigherHRNetNet"]


def _scale_layer(width: int, num_joints: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(width, num_joints, 1), batch_norm(num_joints), nn.ReLU(),
                         nn.Conv2d(num_joints, num_joints, 9, padding=4, groups=num_joints))


class HigherHRNetHead(nn.Module):
    """Heatmaps + tags at 1/4 resolution, refined heatmaps at 1/2 resolution.

    Args:
        num_joints: keypoints per person.
        width: backbone width (32).
        swahr: build SWAHR's scale layers.
    """

    def __init__(self, num_joints: int = 17, width: int = 32, swahr: bool = False):
        super().__init__()
        self.num_joints = num_joints
        self.conv1 = nn.Conv2d(width, num_joints * 2, 1)
        self.conv2 = nn.Conv2d(width, num_joints, 1)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(num_joints * 2 + width, width, 4, stride=2, padding=1, bias=False),
            batch_norm(width), nn.ReLU())
        self.blocks = nn.Sequential(*[BasicBlock(width, width) for _ in range(4)])
        if swahr:
            self.scalelayer0 = _scale_layer(width, num_joints)
            self.scalelayer1 = _scale_layer(width, num_joints)

    def forward(self, x1):
        xo1 = self.conv1(x1)
        xo2 = self.conv2(self.blocks(self.deconv(torch.cat((x1, xo1), dim=1))))
        up = upsample(xo1, 2, mode="bilinear")  # half-pixel bilinear (align_corners=False), as in Paddle
        j = self.num_joints
        return (up[:, :j] + xo2[:, :j]) / 2, up[:, j:]


class HigherHRNetNet(nn.Module):
    """HRNet backbone + HigherHRNet head: images (N, 3, H, W) to (heatmaps, tags), both (N, J, H/2, W/2)."""

    def __init__(self, width: int = 32, num_joints: int = 17, swahr: bool = False):
        super().__init__()
        self.backbone = HRNet(width, return_idx=(0,))
        self.hrhrnet_head = HigherHRNetHead(num_joints, width, swahr)

    def forward(self, x):
        return self.hrhrnet_head(self.backbone(x)[0])
