"""Top-down keypoint network: a backbone's highest-resolution output and a 1x1 convolution to heatmaps.

Parameter names follow PaddleDetection's ``TopDownHRNet`` (``backbone.*``, ``final_conv.*``); the flip test,
decoding and everything else outside the network live in numpy, shared by every runtime.
"""

from __future__ import annotations

import paddle.nn as nn

__all__ = ["TopDownHeatmapNet"]


class TopDownHeatmapNet(nn.Layer):
    """Backbone + ``final_conv``: image crops (N, 3, H, W) to heatmaps (N, joints, H/4, W/4).

    Args:
        backbone: a layer returning a list whose first element has ``width`` channels.
        width: channels of that feature map.
        num_joints: heatmap channels.
    """

    def __init__(self, backbone: nn.Layer, width: int, num_joints: int):
        super().__init__()
        self.backbone = backbone
        self.final_conv = nn.Conv2D(width, num_joints, 1, 1, 0)

    def forward(self, x):
        return self.final_conv(self.backbone(x)[0])
