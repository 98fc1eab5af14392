"""Export a zoo model to ONNX from kbench's PyTorch network (``torch.onnx.export``), without simplification.

The graph has one input, ``image`` (N, 3, H, W) float32, and the outputs ``heatmaps`` (and ``tags`` for bottom-up
models). With ``batch=None`` the batch axis is dynamic; bottom-up models also keep H and W dynamic, because they
run on whole images whose size varies (as the Paddle Inference export does). Provenance (model, weights,
exporter, versions) is written into the model's ``metadata_props``, so the file describes itself.

The TorchScript-based exporter (``dynamo=False``) is used: it needs nothing beyond torch and onnx, takes
``dynamic_axes`` directly and writes a single self-contained file. torch's newer ``torch.export``-based exporter
needs the ``onnxscript`` package and converts down from opset 18; it is not used here.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from kbench.errors import InputError, MissingBackendError

__all__ = ["export_onnx_from_torch", "MIN_OPSET"]

#: Lowest opset accepted: 11 is where ``Resize`` gained the ``sizes`` input the upsampling uses.
MIN_OPSET = 11


def export_onnx_from_torch(card, out_path: str | os.PathLike, weights: str | None = "random", batch: int | None = None,
                           opset: int = 17) -> Path:
    """Export the card's PyTorch network to ONNX and check the file with ``onnx.checker``; returns its path.

    Args:
        card: the model card.
        out_path: the ``.onnx`` file to write (its folder is created); an existing folder gets ``model.onnx``.
        weights: as for :func:`kbench.zoo.torch.load.load_torch_model` (``random``: the same weights as kbench's
            Paddle model where paddle is importable).
        batch: a fixed batch size, or None for a dynamic batch axis.
        opset: ONNX opset version.
    """
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise InputError(f"batch must be a positive integer or None (dynamic), got {batch!r}")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise InputError(f"opset must be an integer >= {MIN_OPSET}, got {opset!r}")
    try:
        import onnx
    except ImportError:
        raise MissingBackendError("onnx", "onnx") from None
    from kbench.zoo.torch import import_torch
    from kbench.zoo.torch.load import load_torch_model

    torch = import_torch()
    out = Path(out_path)
    if out.is_dir():
        out = out / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)

    net, info = load_torch_model(card, weights)
    w, h = card.input_size
    outputs = ["heatmaps"] if card.top_down else ["heatmaps", "tags"]
    # Trace with 2 images when the batch is dynamic, so that no size-1 batch can be folded into the graph.
    example = torch.zeros(batch or 2, 3, h, w)
    axes = {} if batch is not None else {0: "batch"}
    out_axes = dict(axes)
    if not card.top_down:
        axes.update({2: "height", 3: "width"})
        out_axes.update({2: "heatmap_height", 3: "heatmap_width"})
    dynamic_axes = {name: ax for name, ax in [("image", axes), *[(o, out_axes) for o in outputs]] if ax} or None
    with warnings.catch_warnings():
        # The exporter's deprecation notice (see the module docstring) and tracer notes about Python ints taken
        # from shapes (static sizes of top-down crops) are expected; they say nothing about this graph.
        warnings.simplefilter("ignore")
        with torch.no_grad():
            traced = net(example)
            traced = [traced] if isinstance(traced, torch.Tensor) else list(traced)
            torch.onnx.export(net, (example,), str(out), dynamo=False, input_names=["image"], output_names=outputs,
                              dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True)
    model = onnx.load(str(out))
    # The exporter names an output axis it could not follow through a reshape with a dynamic batch (Lite-HRNet's
    # channel shuffle) even where it is static; write the traced sizes into every axis that is not dynamic.
    for graph_output, tensor in zip(model.graph.output, traced):
        for k, dim in enumerate(graph_output.type.tensor_type.shape.dim):
            if k not in out_axes:
                dim.Clear()
                dim.dim_value = int(tensor.shape[k])
    meta = {"kbench.model": card.name, "kbench.weights": info.label(), "kbench.weights_source": info.source,
            "kbench.weights_sha256": info.sha256 or "", "kbench.exporter": "torch.onnx.export (TorchScript)",
            "kbench.torch": torch.__version__, "kbench.batch": "dynamic" if batch is None else str(batch)}
    onnx.helper.set_model_props(model, meta)
    onnx.save(model, str(out))
    onnx.checker.check_model(str(out), full_check=True)
    return out
