"""Top-down keypoint network in PyTorch: a backbone's highest-resolution output and a 1x1 convolution to heatmaps.

Parameter names follow PaddleDetection's ``TopDownHRNet`` (``backbone.*``, ``final_conv.*``), as in
:mod:`kbench.zoo.paddle.topdown`.
"""

from __future__ import annotations

import torch.nn as nn

__all__ = ["TopDownHeatmapNet"]


class TopDownHeatmapNet(nn.Module):
    """Backbone + ``final_conv``: image crops (N, 3, H, W) to heatmaps (N, joints, H/4, W/4).

    Args:
        backbone: a module returning a list whose first element has ``width`` channels.
        width: channels of that feature map.
        num_joints: heatmap channels.
    """

    def __init__(self, backbone: nn.Module, width: int, num_joints: int):
        super().__init__()
        self.backbone = backbone
        self.final_conv = nn.Conv2d(width, num_joints, 1, 1, 0)

    def forward(self, x):
        return self.final_conv(self.backbone(x)[0])
