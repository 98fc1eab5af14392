"""File helpers shared by every reader and writer: clear errors in, atomic writes out."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from kbench.errors import InputError

__all__ = ["gc_paused", "read_json", "write_json_atomic", "atomic_open", "sha256_file", "check_readable"]

try:  # orjson parses large results files several times faster; the output is the same
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    _orjson = None


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while building millions of acyclic objects (parsed JSON).

    Each collection walks every tracked object of the process; in a process that has imported a
    deep-learning framework that is hundreds of thousands, and parsing a results file triggers many
    collections: pausing saved a third of the file-to-summary time. Nothing parsed here forms cycles,
    so reference counting frees it all the same.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_readable(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path, or raise InputError saying why it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: permission denied")
    return p


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; any failure becomes one InputError line naming the file."""
    p = check_readable(path)
    data = p.read_bytes()
    if not data.strip():
        raise InputError(f"{p}: file is empty, expected JSON")
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except ValueError:
            pass  # strict JSON failed; Python's json also reads NaN/Infinity, which the readers then name
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: invalid JSON ({str(exc).splitlines()[0]})") from None


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w"):
    """Open a temporary file beside ``path`` and rename it into place on success; on failure nothing is left.

    Readers never see half a file; the file gets ordinary permissions (mkstemp's are 0600).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` as JSON through a temporary file and a rename, so readers never see half a file."""
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=indent, sort_keys=False, allow_nan=True)
        fh.write("\n")
    return Path(path)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
