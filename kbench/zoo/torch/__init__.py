"""The zoo's networks in PyTorch, loading the same PaddleDetection ``.pdparams`` checkpoints by name.

Ports of :mod:`kbench.zoo.paddle`: every sub-module carries the attribute name, ``add_module`` string or
``nn.Sequential``/``nn.ModuleList`` index of its Paddle counterpart, so a checkpoint's keys map onto the
torch state dict with two renames only, both of BatchNorm statistics (``_mean`` -> ``running_mean``,
``_variance`` -> ``running_var``); torch's ``num_batches_tracked`` has no Paddle counterpart and is ignored.
Nothing here imports torch until a network is built.
"""

from __future__ import annotations

from kbench.errors import MissingBackendError

__all__ = ["import_torch", "upsample"]


def import_torch():
    """Import torch, or say which package to install."""
    try:
        import torch
    except ImportError:
        raise MissingBackendError("torch", "torch") from None
    return torch


def upsample(x, factor: int, mode: str = "nearest"):
    """Upsample by an integer factor, passing the output *size*, as :func:`kbench.zoo.paddle.upsample` does.

    With a size and no scale, torch samples at ``in / out`` exactly, which for an integer factor is Paddle's
    sampling, so the numbers match; in an ONNX graph the size becomes a ``Resize`` with ``sizes`` computed
    from the input's shape, which keeps dynamic spatial axes working (bottom-up models on whole images).
    Bilinear uses ``align_corners=False`` (half-pixel centres), as Paddle's ``upsample`` does.
    """
    import torch.nn.functional as F

    size = (x.shape[2] * factor, x.shape[3] * factor)
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)
