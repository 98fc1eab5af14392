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
    """Upsample by an integer factor, with the numbers of :func:`kbench.zoo.paddle.upsample`.

    Paddle's version passes the output *size* because oneDNN and paddle2onnx reject a scale attribute. Neither
    reads this graph; here the integer factor is passed as the scale, which samples at exactly the positions the
    size gives (for nearest, source ``floor(dst / factor)``; for bilinear with ``align_corners=False``, source
    ``(dst + 0.5) / factor - 0.5``, the factor being exact in float), so the outputs equal Paddle's. The scale
    is what keeps exported graphs simple: ONNX gets one ``Resize`` with constant ``scales``, which works with a
    dynamic height and width (bottom-up models on whole images) and lets shape inference keep static sizes
    static, where sizes read from the input's shape would hide every spatial size behind ``Shape`` nodes.
    """
    import torch.nn.functional as F

    if mode == "nearest":
        return F.interpolate(x, scale_factor=float(factor), mode="nearest")
    return F.interpolate(x, scale_factor=float(factor), mode=mode, align_corners=False)
