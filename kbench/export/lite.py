"""Convert a zoo model to a Paddle Lite ``.nb`` (naive buffer) for x86 or ARM, with a manifest.

Two steps: the legacy Paddle export (:func:`kbench.export.paddle_inference.export_paddle_inference` with
``legacy=True``: ``model.pdmodel`` + ``model.pdiparams``, the only format Paddle Lite's ``opt`` reads), then ``opt``
run inside kbench's Python 3.10 Lite environment (:mod:`kbench.lite.env`) through the worker script. The legacy model
is an intermediate and is deleted; ``<out_dir>`` ends up holding ``model.nb`` and ``manifest.json``.

Both are built in a staging folder inside ``out_dir`` and moved into place by rename, the manifest last (after
removing any old one), so a reader that finds ``manifest.json`` finds the ``model.nb`` it describes; the manifest
records the ``.nb``'s size and sha256 so that a cache can check it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from kbench.errors import InputError

__all__ = ["convert_to_lite", "read_lite_manifest", "run_opt", "lite_failure_reason", "TARGETS"]

TARGETS = ("x86", "arm")
_LOG_PREFIX = re.compile(r"^\[[FEWI]\s[^\]]*\]\s*")  # "[F 11/29  5:37:47.262 .../io.cc:54 Read] Check failed: ..."


def lite_failure_reason(log: str) -> str:
    """The line of a Paddle Lite log that says why it failed (its fatal CHECK), without the log prefix."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith("[F ") or "Check failed" in line or line.startswith("Error"):
            return _LOG_PREFIX.sub("", line)
    return lines[-1] if lines else "no message"


def run_opt(env, model_file: Path, param_file: Path, target: str, optimize_out: Path, fp16: bool = False) -> Path:
    """Run Paddle Lite's ``opt`` in the Lite environment; returns ``<optimize_out>.nb``.

    Args:
        env: the :class:`kbench.lite.env.LiteEnv`.
        model_file: the legacy ``.pdmodel``.
        param_file: its ``.pdiparams``.
        target: ``x86`` or ``arm`` (opt's ``valid_targets``).
        optimize_out: output path without the ``.nb`` suffix.
        fp16: fp16 kernels (ARM only).
    """
    from kbench.lite.env import worker_script

    cmd = [str(env.python), "-I", str(worker_script()), "opt", "--model-file", str(model_file), "--param-file",
           str(param_file), "--valid-targets", target, "--optimize-out", str(optimize_out)]
    if fp16:
        cmd.append("--fp16")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run(cmd, capture_output=True, text=True, env=clean, errors="replace")
    nb = Path(f"{optimize_out}.nb")
    if done.returncode != 0 or not nb.is_file():
        raise InputError(f"Paddle Lite opt ({target}) failed on {model_file}: {lite_failure_reason(done.stderr)}")
    return nb


def convert_to_lite(card, out_dir: str | os.PathLike, weights: str | None = "random", target: str = "x86",
                    batch: int = 1, precision: str = "fp32") -> Path:
    """Export the card's network and convert it with Paddle Lite's opt; returns the path of ``model.nb``.

    Args:
        card: the model card.
        out_dir: target directory (created); gets ``model.nb`` and ``manifest.json``.
        weights: as for :func:`kbench.zoo.paddle.load.load_model` (``random``, None/``zoo``, a path or URL).
        target: ``x86`` or ``arm``.
        batch: the fixed batch size the model is exported with.
        precision: ``fp32``, or ``fp16`` for ARM (opt's fp16 kernels exist only for ARM).

    Raises:
        InputError: a bad target, precision or batch, no Python 3.10 for the Lite environment, or a failed
            export or conversion (one line with the reason).
    """
    from kbench._fileio import read_json, sha256_file
    from kbench.export.paddle_inference import export_paddle_inference, model_files, write_manifest
    from kbench.lite.env import ensure_lite_env

    if target not in TARGETS:
        raise InputError(f"unknown Paddle Lite target {target!r}; use x86 or arm")
    if precision not in ("fp32", "fp16"):
        raise InputError(f"unknown precision {precision!r}; use fp32 or fp16")
    if precision == "fp16" and target != "arm":
        raise InputError("Paddle Lite fp16 is an ARM feature (opt has fp16 kernels only for ARM): use fp32 on x86, "
                         "or target arm")
    if not isinstance(batch, int) or batch < 1:
        raise InputError(f"batch must be a positive integer, got {batch!r}")
    env = ensure_lite_env()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".lite-staging-", dir=out))  # same filesystem: renames are atomic
    try:
        started = time.monotonic()
        export_paddle_inference(card, staging / "paddle", weights, batch, legacy=True)
        exported = time.monotonic()
        model_file, param_file = model_files(staging / "paddle")
        if model_file.suffix != ".pdmodel":
            raise InputError(f"the legacy export of {card.name} wrote {model_file.name}, not a .pdmodel: Paddle Lite "
                             f"cannot read it")
        export_manifest = read_json(staging / "paddle" / "manifest.json")
        nb = run_opt(env, model_file, param_file, target, staging / "model", fp16=precision == "fp16")
        converted = time.monotonic()
        manifest = {
            "kind": "paddle-lite", "model": card.name, "target": target, "precision": precision,
            "files": ["model.nb"], "nb": {"bytes": nb.stat().st_size, "sha256": sha256_file(nb)},
            "input": export_manifest["input"], "outputs": export_manifest["outputs"],
            "weights": export_manifest["weights"],
            "source": {"format": "legacy", "files": {p.name: sha256_file(p) for p in (model_file, param_file)}},
            "converter": {"name": "paddlelite opt", "paddlelite": env.paddlelite, "python": env.python_version,
                          "paddle": export_manifest["exporter"]["paddle"]},
            "seconds": {"export": round(exported - started, 2), "opt": round(converted - exported, 2)},
        }
        with contextlib.suppress(FileNotFoundError):
            (out / "manifest.json").unlink()  # the old manifest must never describe the new model.nb
        os.replace(nb, out / "model.nb")
        write_manifest(out, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "model.nb"


def read_lite_manifest(out_dir: str | os.PathLike, check_sha: bool = True) -> dict | None:
    """The manifest of a converted model if ``model.nb`` is there and matches it (size, and sha256), else None."""
    from kbench._fileio import sha256_file

    out = Path(out_dir)
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        nb = out / "model.nb"
        if manifest.get("kind") != "paddle-lite" or nb.stat().st_size != manifest["nb"]["bytes"]:
            return None
        if check_sha and sha256_file(nb) != manifest["nb"]["sha256"]:
            return None
        return manifest
    except (OSError, ValueError, KeyError, TypeError):
        return None
