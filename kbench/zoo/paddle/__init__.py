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
