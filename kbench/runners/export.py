"""The ``export`` runner: a zoo model as a Paddle Inference, ONNX, Paddle Lite or TensorRT artifact.

The record names the artifact, its size and the manifest the exporter wrote beside it (source checkpoint sha256,
exporter and versions, opset, input shape), so an export is a measurement like the others: a sweep can tell
which artifacts it has built and what each weighs.
"""

from __future__ import annotations

import json
from pathlib import Path

from kbench.runners.record import Record, spec_record

__all__ = ["run_export", "default_export_path"]


def default_export_path(card, target: str, fp16: bool, batch: int | None) -> Path:
    """./kbench-exports/<model>-<target>[-fp16]-b<batch|dyn>[.onnx|.engine]."""
    suffix = {"onnx": ".onnx", "tensorrt": ".engine"}.get(target, "")
    tag = f"{card.key}-{target}{'-fp16' if fp16 else ''}-b{batch or 'dyn'}"
    return Path("kbench-exports") / f"{tag}{suffix}"


def _size_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.exists() else 0


def _manifest(path: Path) -> dict | None:
    for candidate in (path / "manifest.json", path.with_name(path.stem + ".manifest.json")):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
    return None


def run_export(spec, progress=None) -> Record:
    """Run an :class:`~kbench.specs.ExportSpec`; ``record.outputs["path"]`` is the artifact."""
    from kbench.cards import get_card
    from kbench.specs import check_weights

    card = get_card(spec.model)
    check_weights(spec.weights)  # before a framework loads and the output folder is made
    batch = spec.batch_size
    out = Path(spec.out) if spec.out else default_export_path(card, spec.to, spec.fp16, batch)
    if spec.to == "paddle-inference":
        from kbench.export.paddle_inference import export_paddle_inference

        path = export_paddle_inference(card, out, spec.weights, batch, legacy=spec.format == "legacy")
    elif spec.to == "onnx":
        from kbench.export.onnx import export_onnx

        path = export_onnx(card, out, weights=spec.weights, batch=batch, fp16=spec.fp16,
                           keep_io_types=not spec.fp16_io, source=spec.source, opset=spec.opset)
    elif spec.to == "lite":
        from kbench.export.lite import convert_to_lite

        path = convert_to_lite(card, out, weights=spec.weights, target=spec.target, batch=batch or 1,
                               precision="fp16" if spec.fp16 else "fp32")
    else:
        from kbench.adapters.tensorrt import build_engine

        path = build_engine(card, out, weights=spec.weights, batch=batch or 1, fp16=spec.fp16)
    path = Path(path)
    options = {"model": card.name, "artifact": str(path.resolve()), "target": spec.to,
               "precision": "fp16" if spec.fp16 else "fp32", "batch": batch, "manifest": _manifest(path)}
    return spec_record(spec, {"size_mb": _size_bytes(path) / 2**20}, options=options,
                       summary=f"{spec.to} artifact for {card.name}: {path}", outputs={"path": path})
