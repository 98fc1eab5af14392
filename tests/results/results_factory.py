"""Run records for the results tests, built by kbench's own :func:`kbench.bench.records.make_record`."""

from __future__ import annotations

import json
from pathlib import Path

from kbench.bench.records import make_record

COCO = {"AP": 0.7, "AP50": 0.9, "AP75": 0.78, "APm": 0.66, "APl": 0.75, "AR": 0.75, "AR50": 0.92, "AR75": 0.8,
        "ARm": 0.7, "ARl": 0.8}
MPII = {"Head": 97.0, "Shoulder": 95.9, "Elbow": 90.3, "Wrist": 86.4, "Hip": 89.1, "Knee": 87.2, "Ankle": 83.3,
        "PCKh": 90.3, "PCKh@0.1": 37.9, "PCKh@0.1_paddledet": 40.1}
LATENCY = {"median_ms": 10.0, "mean_ms": 10.2, "p90_ms": 10.8, "p99_ms": 12.0, "min_ms": 9.5, "std_ms": 0.4,
           "throughput": 100.0}


def record(kind="eval", metrics=None, hostname="ci-a", created="2026-11-01T10:00:00+00:00", gpu=None, **options):
    """A real record of ``kind`` with the given options and machine."""
    if metrics is None:
        metrics = {"eval": COCO, "latency": LATENCY, "profile": {"params": 1.36e6, "flops": 8.1e7}}[kind]
    inputs = {"sample": {"generator": "kbench.datasets.synthetic.make_coco_like", "images": 50, "seed": 0}} \
        if kind == "eval" else {}
    if kind == "eval":
        options.setdefault("evaluator", "coco_keypoints")
    rec = make_record(kind, metrics, inputs=inputs, options=options)
    rec["env"]["hostname"] = hostname
    if gpu:
        rec["env"]["gpu"] = gpu
    rec["created"] = created
    return rec


def latency(median, std=0.4, **options):
    """A latency record whose spread is ``std`` (p90 = median + 1.3 std)."""
    for key, value in (("model", "tinypose_128x96"), ("backend", "onnxruntime"), ("device", "cpu"),
                       ("precision", "fp32"), ("batch", 1), ("threads", 2), ("scope", "model")):
        options.setdefault(key, value)
    metrics = {"median_ms": median, "mean_ms": median + 0.1, "p90_ms": median + 1.3 * std, "p99_ms": median + 3 * std,
               "min_ms": median - std, "std_ms": std, "throughput": options["batch"] * 1000.0 / median}
    return record("latency", metrics, **options)


def write(directory: Path, name: str, rec: dict) -> Path:
    """Write ``rec`` as ``directory/name`` (kbench's own layout: indented JSON)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(rec, indent=2))
    return path
