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

__all__ = ["gc_paused", "read_json", "write_json_atomic", "atomic_open", "sha256_file", "check_readable",
           "digest_reads"]

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


# sha256 of files read_json has read while a command runs, by file identity (see digest_reads).
_DIGESTS: dict = {}
_DIGEST_READS = False
_DIGEST_MIN_BYTES = 1 << 20  # below this, hashing again later costs less than a thread


def digest_reads(enabled: bool) -> None:
    """While enabled, read_json hashes each large file it reads, from the bytes it read, on a background thread.

    A run record names its inputs by sha256 (``describe_input``), which otherwise reads and hashes each
    file again after the evaluation: for a val2017-sized results file that is 15-20 ms, about 4% of
    ``kbench eval``. Hashing the bytes already in memory while the main thread parses them takes that off
    the critical path where a second core is free (hashlib releases the GIL). :func:`sha256_file` answers
    from these digests when the file is still the one read (same path, device, inode, size and mtime);
    the digest is then that of the exact bytes evaluated. The command line enables this while a command
    runs (``kbench.bench.records.set_command``); disabling forgets the digests.
    """
    global _DIGEST_READS
    _DIGEST_READS = bool(enabled)
    if not enabled:
        _DIGESTS.clear()


def _identity(path: str | os.PathLike, st: os.stat_result | None = None) -> tuple:
    st = os.stat(path) if st is None else st
    return os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class _PendingDigest:
    """sha256 of a bytes object, computed on a daemon thread; ``hexdigest()`` waits for it."""

    def __init__(self, data: bytes):
        import threading

        self._data: bytes | None = data
        self._hex: str | None = None
        self._thread = threading.Thread(target=self._run, name="kbench-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._hex = hashlib.sha256(self._data).hexdigest()
        self._data = None

    def hexdigest(self) -> str | None:
        self._thread.join()
        return self._hex


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; any failure becomes one InputError line naming the file."""
    p = check_readable(path)
    with open(p, "rb") as fh:
        before = os.fstat(fh.fileno())
        data = fh.read()
        if _DIGEST_READS and len(data) >= _DIGEST_MIN_BYTES:
            # The identity of the file these bytes came from (its descriptor's, unchanged while reading).
            after = os.fstat(fh.fileno())
            if (before.st_ino, before.st_size, before.st_mtime_ns) == (after.st_ino, after.st_size, after.st_mtime_ns):
                try:
                    _DIGESTS[_identity(p, after)] = _PendingDigest(data)
                except RuntimeError:  # no thread to be had: sha256_file hashes the file itself
                    pass
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
    except RecursionError:  # orjson stops at 1024 levels; Python's parser at the interpreter's recursion limit
        raise InputError(f"{p}: invalid JSON (nested too deeply)") from None


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


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 18) -> str:
    """Hex sha256 of a file, read in chunks into one reused buffer.

    sha256 itself sets the pace (about 1.3 GB/s with SHA-NI); chunks of 256 KiB stay in the CPU's cache
    (1 MiB and larger chunks measured slower) and ``readinto`` allocates nothing per chunk. A digest that
    read_json computed from the bytes it read (see :func:`digest_reads`) answers without reading again.
    """
    if _DIGESTS:
        try:
            pending = _DIGESTS.get(_identity(path))
        except OSError:
            pending = None
        if pending is not None:
            digest = pending.hexdigest()
            if digest is not None:
                return digest
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()
