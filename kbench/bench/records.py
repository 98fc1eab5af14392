"""Run records: one JSON object per measurement, the unit that reports and the CI gate read.

Layout (``schema`` "kbench.record/1"): ``kind`` ("eval", "profile", "latency"), ``metrics`` (a flat
mapping of stable metric name to float), ``inputs`` (name -> path and sha256), ``options``, ``env``
(machine and library versions) and ``created`` (UTC, ISO 8601). Records are written atomically.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import uuid
from importlib import metadata
from pathlib import Path

from kbench._fileio import sha256_file, write_json_atomic

__all__ = ["SCHEMA", "make_record", "set_command", "write_record", "environment", "describe_input",
           "default_record_path"]

SCHEMA = "kbench.record/1"
_LIBRARIES = ("kbench", "numpy", "scipy", "pycocotools", "xtcocotools", "faster-coco-eval", "paddlepaddle",
              "onnxruntime", "torch", "tensorrt", "paddlepaddle-gpu", "onnxruntime-gpu")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=2)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=2)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def environment() -> dict:
    """Machine and library fingerprint; reads package metadata only, imports no framework.

    Besides the keys every record has, ``cpu_physical_cores``, ``cpu_isa`` (the vector extensions that decide
    which kernels oneDNN and ONNX Runtime run) and ``gpus`` (name, driver and memory of each NVIDIA GPU, from
    ``nvidia-smi`` when it is on PATH, asked once per process; empty otherwise) describe the machine a latency
    was measured on.
    """
    from kbench.bench.machine import cpu_info, gpu_info

    libs = {}
    for name in _LIBRARIES:
        try:
            libs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    cpu = cpu_info()
    gpus, _ = gpu_info()
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_physical_cores": cpu.get("physical_cores"),
        "cpu_isa": cpu.get("isa", []),
        "gpus": [dict(g) for g in gpus],
        "libraries": libs,
        "git_commit": _git_commit(),
    }


def describe_input(path: str | os.PathLike) -> dict:
    """Path and sha256 of an input file."""
    p = Path(path)
    return {"path": str(p.resolve()), "sha256": sha256_file(p)}


_COMMAND: list | None = None


def set_command(argv: list | None) -> list | None:
    """Remember the ``kbench`` command line being run (None: none), for the records it writes; returns the last one."""
    global _COMMAND
    previous = _COMMAND
    _COMMAND = None if argv is None else ["kbench", *[str(a) for a in argv]]
    return previous


def make_record(kind: str, metrics: dict, inputs: dict | None = None, options: dict | None = None) -> dict:
    """Assemble a run record; metric values are coerced to float; ``command`` is the kbench command line when known."""
    import shlex

    return {
        "schema": SCHEMA,
        "kind": kind,
        "command": shlex.join(_COMMAND) if _COMMAND else None,
        "metrics": {str(k): float(v) for k, v in metrics.items()},
        "inputs": inputs or {},
        "options": options or {},
        "env": environment(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def default_record_path(kind: str, root: str | os.PathLike = "kbench-runs") -> Path:
    """A new file name under ``root``: UTC time, kind and a short unique suffix."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(root) / f"{stamp}-{kind}-{uuid.uuid4().hex[:8]}.json"


def write_record(record: dict, path: str | os.PathLike | None = None) -> Path:
    """Write a record atomically to ``path`` (default: a new file under ./kbench-runs/)."""
    target = Path(path) if path is not None else default_record_path(record["kind"])
    return write_json_atomic(target, record)
