"""Run records: one JSON object per measurement, the unit that reports and the CI gate read.

Layout (``schema`` "kbench.record/1"): ``kind`` ("eval", "profile", "latency"), ``metrics`` (a flat
mapping of stable metric name to float), ``inputs`` (name -> path and sha256), ``options``, ``env``
(machine and library versions) and ``created`` (UTC, ISO 8601). Records are written atomically.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
import sys
import uuid
from pathlib import Path

from kbench._fileio import digest_reads, sha256_file, write_json_atomic
from kbench.errors import InputError

__all__ = ["SCHEMA", "make_record", "set_command", "write_record", "environment", "describe_input",
           "default_record_path", "check_output_path"]

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


def _start_git() -> list:
    """Start the two git questions about kbench's checkout; :func:`_git_commit` collects the answers.

    Both go to git (the abbreviation's length and the work tree's state are git's to compute, not something
    to read from .git), as two processes started together, and early: :func:`environment` does its other
    work, ``uname -p`` under ``platform.platform()`` included, while they run.
    """
    here = str(Path(__file__).resolve().parents[2])
    procs = []
    try:
        for args in (["rev-parse", "--short", "HEAD"], ["status", "--porcelain", "--untracked-files=no"]):
            procs.append(subprocess.Popen(["git", "-C", here, *args], stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True))
    except (OSError, subprocess.SubprocessError):
        _stop(procs)
        return []
    return procs


def _stop(procs: list) -> None:
    for proc in procs:
        proc.kill()
        proc.communicate()


def _git_commit(procs: list | None = None) -> str | None:
    """Short HEAD commit of kbench's checkout, "-dirty" when tracked files changed; None outside a checkout."""
    procs = _start_git() if procs is None else procs
    if len(procs) != 2:
        return None
    try:
        outs = [proc.communicate(timeout=2)[0] for proc in procs]
    except (OSError, subprocess.SubprocessError):
        _stop(procs)
        return None
    if procs[0].returncode != 0:
        return None
    return outs[0].strip() + ("-dirty" if outs[1].strip() else "")


def _normalized(name: str) -> str:
    """A distribution name as importlib.metadata compares them (PEP 503, with underscores)."""
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _metadata_version(info: str) -> str | None:
    """The ``Version`` header of a .dist-info or .egg-info (directory or file), as importlib.metadata reads it."""
    for candidate in (os.path.join(info, "METADATA"), os.path.join(info, "PKG-INFO"), info):
        try:
            with open(candidate, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError):
            continue
        if not text:
            continue
        for line in text.splitlines():
            if not line.strip():
                break  # the headers end at the first blank line
            key, sep, value = line.partition(":")
            if sep and key.lower() == "version":
                return value.lstrip(" \t")
        return None
    return None


def _library_versions(names) -> dict:
    """Installed versions of ``names``, as ``importlib.metadata.version`` finds them, by a direct scan of sys.path.

    importlib.metadata costs about 20 ms a process (it imports the email package to parse each METADATA
    file), a tenth of ``kbench eval``'s start-up. The scan does what its path finder does: the first
    ``<name>-*.dist-info`` or ``.egg-info`` along sys.path, names compared normalised, and the ``Version``
    header. Where the environment holds what the scan does not read (zip or egg entries on sys.path, another
    finder that lists distributions), importlib.metadata answers instead.
    """
    from importlib.machinery import PathFinder

    other_finders = any(hasattr(f, "find_distributions") and f is not PathFinder for f in sys.meta_path)
    unusual_path = any(p.lower().endswith(".egg") or os.path.isfile(p) for p in sys.path if p)
    if other_finders or unusual_path:
        from importlib import metadata

        found = {}
        for name in names:
            try:
                found[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return found
    found: dict = {}  # normalised name -> version of the first distribution of that name
    wanted = {_normalized(n) for n in names}
    for entry in sys.path:
        try:
            children = os.listdir(entry or ".")
        except OSError:
            continue
        for child in children:
            low = child.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            key = _normalized(low.rpartition(".")[0].partition("-")[0])
            if key in wanted and key not in found:
                found[key] = _metadata_version(os.path.join(entry, child))
    return {n: found[_normalized(n)] for n in names if _normalized(n) in found}


def environment() -> dict:
    """Machine and library fingerprint; reads package metadata only, imports no framework.

    Besides the keys every record has, ``cpu_physical_cores``, ``cpu_isa`` (the vector extensions that decide
    which kernels oneDNN and ONNX Runtime run) and ``gpus`` (name, driver and memory of each NVIDIA GPU, from
    ``nvidia-smi`` when it is on PATH, asked once per process; empty otherwise) describe the machine a latency
    was measured on.
    """
    from kbench.bench.machine import cpu_info, gpu_info

    git = _start_git()
    libs = _library_versions(_LIBRARIES)
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
        "git_commit": _git_commit(git),
    }


def describe_input(path: str | os.PathLike) -> dict:
    """Path and sha256 of an input file."""
    p = Path(path)
    return {"path": str(p.resolve()), "sha256": sha256_file(p)}


_COMMAND: list | None = None


def set_command(argv: list | None) -> list | None:
    """Remember the ``kbench`` command line being run (None: none), for the records it writes; returns the last one.

    While a command runs, the large JSON files it reads are hashed as they are read (see
    :func:`kbench._fileio.digest_reads`), so the record's ``describe_input`` does not read them again.
    """
    global _COMMAND
    previous = _COMMAND
    _COMMAND = None if argv is None else ["kbench", *[str(a) for a in argv]]
    digest_reads(_COMMAND is not None)
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


def check_output_path(path: str | os.PathLike, flag: str, *, directory: bool = False) -> None:
    """Raise InputError, before any work is done, when ``path`` cannot be written as a file (or, with
    ``directory``, as a folder): a folder where a file is meant (or a file where a folder is), a parent that is
    a file, or a folder that this user cannot write into. ``flag`` names the option in the message."""
    text = os.fspath(path)
    if os.path.exists(text):  # os.path's tests answer False where a parent cannot be read, never raise
        if os.path.isdir(text) != directory:
            what = "is not a directory" if directory else "is a directory, expected a file"
            raise InputError(f"{flag} {text}: {what}")
        if directory and not os.access(text, os.W_OK | os.X_OK):
            raise InputError(f"{flag} {text}: permission denied (cannot write into this folder)")
        return
    parent = next((a for a in Path(text).parents if os.path.exists(a)), None)
    if parent is None:
        return
    if not os.path.isdir(parent):
        raise InputError(f"{flag} {text}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {text}: permission denied (cannot write into {parent})")


def write_record(record: dict, path: str | os.PathLike | None = None) -> Path:
    """Write a record atomically to ``path`` (default: a new file under ./kbench-runs/)."""
    target = Path(path) if path is not None else default_record_path(record["kind"])
    return write_json_atomic(target, record)
