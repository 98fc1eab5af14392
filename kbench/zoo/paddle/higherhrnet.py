"""HigherHRNet (and its SWAHR variant) in Paddle dygraph, parameter-compatible with PaddleDetection.

The network is PaddleDetection's ``HigherHRNet`` without its pre/post-processing: an HRNet backbone
(``backbone.*``) and ``HrHRNetHead`` (``hrhrnet_head.*``): a 1x1 convolution gives 1/4-resolution
heatmaps and associative-embedding tags, a transposed convolution and four basic blocks give
1/2-resolution heatmaps; the output is the two heatmaps averaged at 1/2 resolution and the upsampled tags.
SWAHR adds scale-prediction layers (``scalelayer0/1``) used only in training; they are built so that
SWAHR checkpoints load, and the inference output is the same function of the other weights.
"""

from __future__ import annotations

import paddle
import paddle.nn as nn

from kbench.zoo.paddle import upsample
from kbench.zoo.paddle.hrnet import BasicBlock, HRNet

__all__ = ["HigherHRNetHead", "HigherHRNetNet"]


def _scale_layer(width: int, num_joints: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2D(width, num_joints, 1), nn.BatchNorm2D(num_joints, momentum=0.9), nn.ReLU(),
                         nn.Conv2D(num_joints, num_joints, 9, padding=4, groups=num_joints))


class HigherHRNetHead(nn.Layer):
    """Heatmaps + tags at 1/4 resolution, refined heatmaps at 1/2 resolution.

    Args:
        num_joints: keypoints per person.
        width: backbone width (32).
        swahr: build SWAHR's scale layers.
    """

    def __init__(self, num_joints: int = 17, width: int = 32, swahr: bool = False):
        super().__init__()
        self.num_joints = num_joints
        self.conv1 = nn.Conv2D(width, num_joints * 2, 1)
        self.conv2 = nn.Conv2D(width, num_joints, 1)
        self.deconv = nn.Sequential(
            nn.Conv2DTranspose(num_joints * 2 + width, width, 4, stride=2, padding=1, bias_attr=False),
            nn.BatchNorm2D(width, momentum=0.9), nn.ReLU())
        self.blocks = nn.Sequential(*[BasicBlock(width, width, momentum=0.9) for _ in range(4)])
        if swahr:
            self.scalelayer0 = _scale_layer(width, num_joints)
            self.scalelayer1 = _scale_layer(width, num_joints)

    def forward(self, x1):
        xo1 = self.conv1(x1)
        xo2 = self.conv2(self.blocks(self.deconv(paddle.concat((x1, xo1), axis=1))))
        up = upsample(xo1, 2, mode="bilinear")
        j = self.num_joints
        return (up[:, :j] + xo2[:, :j]) / 2, up[:, j:]


class HigherHRNetNet(nn.Layer):
    """HRNet backbone + HigherHRNet head: images (N, 3, H, W) to (heatmaps, tags), both (N, J, H/2, W/2)."""

    def __init__(self, width: int = 32, num_joints: int = 17, swahr: bool = False):
        super().__init__()
        self.backbone = HRNet(width, return_idx=(0,))
        self.hrhrnet_head = HigherHRNetHead(num_joints, width, swahr)

    def forward(self, x):
        return self.hrhrnet_head(self.backbone(x)[0])
