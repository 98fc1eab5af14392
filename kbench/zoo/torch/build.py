"""Build a zoo network in PyTorch from its architecture description (the ``model`` section of a card)."""

from __future__ import annotations

from kbench.errors import InputError

__all__ = ["build_torch_network", "ARCHITECTURES"]

ARCHITECTURES = ("TopDownHRNet", "HigherHRNet")


def build_torch_network(architecture: str, backbone: str, num_joints: int, width: int | None = None,
                        network_type: str | None = None, swahr: bool = False):
    """The PyTorch network for an architecture, with PaddleDetection's parameter names (in training mode).

    Mirrors :func:`kbench.zoo.paddle.build.build_network`, argument for argument.

    Args:
        architecture: ``TopDownHRNet`` (heatmaps from a backbone) or ``HigherHRNet`` (heatmaps and tags).
        backbone: ``HRNet`` (with ``width``) or ``LiteHRNet`` (with ``network_type``).
        num_joints: keypoints per person.
        width: HRNet width (32, 48); for LiteHRNet the head's input width is taken from the network type.
        network_type: Lite-HRNet type (lite_18, lite_30, naive, wider_naive).
        swahr: HigherHRNet's SWAHR variant.
    """
    from kbench.zoo.torch import import_torch

    import_torch()  # one line naming the extra, rather than an ImportError from a sub-module
    from kbench.zoo.torch.hrnet import HRNet
    from kbench.zoo.torch.lite_hrnet import LITE_HRNET_CONFIGS, LiteHRNet
    from kbench.zoo.torch.topdown import TopDownHeatmapNet

    if architecture == "HigherHRNet":
        if backbone != "HRNet":
            raise InputError(f"HigherHRNet is built on HRNet, not {backbone}")
        from kbench.zoo.torch.higherhrnet import HigherHRNetNet

        return HigherHRNetNet(width or 32, num_joints, swahr)
    if architecture != "TopDownHRNet":
        raise InputError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    if backbone == "HRNet":
        return TopDownHeatmapNet(HRNet(width or 32), width or 32, num_joints)
    if backbone == "LiteHRNet":
        if network_type not in LITE_HRNET_CONFIGS:
            raise InputError(f"unknown Lite-HRNet type {network_type!r}; known: {', '.join(LITE_HRNET_CONFIGS)}")
        return TopDownHeatmapNet(LiteHRNet(network_type), LITE_HRNET_CONFIGS[network_type]["channels"][0], num_joints)
    raise InputError(f"unknown backbone {backbone!r}; known: HRNet, LiteHRNet")
