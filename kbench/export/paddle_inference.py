"""Export a zoo model to a Paddle Inference static graph (``paddle.jit.save``) with a manifest.

Two formats: the PIR format Paddle 3 writes by default (``model.json`` + ``model.pdiparams``), and the
legacy program format (``model.pdmodel`` + ``model.pdiparams``) that Paddle Lite's ``opt`` reads and
paddle2onnx converts. The legacy format needs ``FLAGS_enable_pir_api=0`` set before paddle is imported,
so that export runs in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kbench.errors import InputError

__all__ = ["export_paddle_inference", "model_files", "write_manifest"]


def model_files(directory: str | os.PathLike) -> tuple[Path, Path]:
    """(graph file, params file) of an exported model directory, whichever format it holds."""
    d = Path(directory)
    for graph in ("model.json", "model.pdmodel", "inference.json", "inference.pdmodel"):
        if (d / graph).is_file():
            params = d / (Path(graph).stem + ".pdiparams")
            if not params.is_file():
                raise InputError(f"{d}: {graph} has no {params.name} beside it")
            return d / graph, params
    raise InputError(f"{d}: no exported Paddle model here (expected model.json or model.pdmodel with .pdiparams)")


def write_manifest(out_dir: Path, manifest: dict) -> Path:
    """Write ``manifest.json`` into an artifact directory (atomically)."""
    from kbench._fileio import write_json_atomic

    return write_json_atomic(Path(out_dir) / "manifest.json", manifest)


def export_paddle_inference(card, out_dir: str | os.PathLike, weights: str | None = "random", batch: int | None = None,
                            legacy: bool = False) -> Path:
    """Export the card's network; returns the directory holding the model files and ``manifest.json``.

    Args:
        card: the model card.
        out_dir: target directory (created).
        weights: as for :func:`kbench.zoo.paddle.load.load_model`.
        batch: a fixed batch size, or None for a dynamic batch dimension.
        legacy: write the legacy ``.pdmodel`` format (for Paddle Lite and paddle2onnx).
    """
    from kbench.export.cache import staged_dir

    out = Path(out_dir)
    # Built in a hidden sibling and renamed into place when complete: a killed export leaves nothing a later run
    # would take for an artifact.
    with staged_dir(out) as work:
        if legacy and os.environ.get("FLAGS_enable_pir_api") != "0":
            env = dict(os.environ, FLAGS_enable_pir_api="0")
            cmd = [sys.executable, "-m", "kbench.export.paddle_inference", card.ref, str(work), str(weights),
                   str(batch or 0)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                raise InputError(f"legacy Paddle export of {card.name} failed: {tail}")
        else:
            _export_into(card, work, weights, batch)
    return out


def _export_into(card, out: Path, weights, batch) -> None:
    """Write the model files and the manifest (last) into ``out``, an existing folder."""
    from kbench.export.cache import file_sizes
    from kbench.zoo.paddle import import_paddle
    from kbench.zoo.paddle.load import load_model

    paddle = import_paddle()
    net, info = load_model(card, weights)
    w, h = card.input_size
    shape = [batch, 3, h, w] if card.top_down else [batch, 3, None, None]
    static = paddle.jit.to_static(net, input_spec=[paddle.static.InputSpec(shape, "float32", "image")],
                                  full_graph=True)
    paddle.jit.save(static, str(out / "model"))
    graph, _ = model_files(out)
    files = [graph.name, "model.pdiparams"]
    write_manifest(out, {
        "kind": "paddle-inference", "model": card.name, "format": "legacy" if graph.suffix == ".pdmodel" else "pir",
        "files": files, "sizes": file_sizes(out, files), "input": {"name": "image", "shape": shape},
        "outputs": ["heatmaps"] if card.top_down else ["heatmaps", "tags"],
        "weights": info.describe(), "exporter": {"name": "paddle.jit.save", "paddle": paddle.__version__},
    })


if __name__ == "__main__":  # child process for the legacy format
    from kbench.cards import get_card

    name, target, weights_arg, batch_arg = sys.argv[1:5]
    _export_into(get_card(name), Path(target), None if weights_arg == "None" else weights_arg, int(batch_arg) or None)
    json.dump({"ok": True}, sys.stdout)
