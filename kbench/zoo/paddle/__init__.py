"""The zoo's networks in Paddle dygraph, parameter-compatible with PaddleDetection's checkpoints."""

from __future__ import annotations

import warnings

from kbench.errors import MissingBackendError

__all__ = ["import_paddle"]


def import_paddle():
    """Import paddle once, quietly (it warns about ccache at import), or say which package to install."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import paddle
    except ImportError:
        raise MissingBackendError("paddlepaddle", "paddle") from None
    return paddle


def upsample(x, factor: int, mode: str = "nearest"):
    """Upsample by an integer factor, passing the output *size*, not a scale.

    Exported graphs must run under oneDNN and convert with paddle2onnx; both reject the float-array
    ``scale`` attribute that ``scale_factor`` produces (PaddleDetection's own HRNet fails there). For
    factors of two the size gives the same sampling positions, so the numbers do not change.
    """
    import paddle
    import paddle.nn.functional as F

    h, w = x.shape[2], x.shape[3]
    if isinstance(h, int) and h > 0 and isinstance(w, int) and w > 0:
        size = [h * factor, w * factor]
    else:  # dynamic spatial size (bottom-up models on whole images)
        size = paddle.shape(x)[2:] * factor
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)


def sigmoid(x):
    """``F.sigmoid`` that also builds in the legacy static graph.

    Paddle 3.3's generated ``sigmoid`` accepts dygraph tensors and PIR values only, so the legacy export
    (for oneDNN, Paddle Lite and paddle2onnx) needs the operator appended the old way; it is the same
    ``sigmoid`` kernel either way.
    """
    import paddle
    import paddle.nn.functional as F

    if paddle.in_dynamic_mode() or paddle.framework.in_pir_mode():
        return F.sigmoid(x)
    from paddle.base.layer_helper import LayerHelper

    helper = LayerHelper("sigmoid")
    out = helper.create_variable_for_type_inference(dtype=x.dtype)
    helper.append_op(type="sigmoid", inputs={"X": x}, outputs={"Out": out})
    return out
