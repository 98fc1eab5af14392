"""The exported-artifact cache shared by every exporter and runtime, and the weights' part of its keys."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

__all__ = ["artifacts_root", "weights_key", "staged_dir", "manifest_ok", "file_sizes", "versions_key"]


def versions_key(*packages: str) -> str:
    """A short tag of kbench's version and the named packages' (``k0.1.0-paddlepaddle3.3.0``), for cache keys: an
    artifact built by another kbench or exporter is built again rather than trusted."""
    from importlib import metadata

    from kbench import __version__

    parts = [f"k{__version__}"]
    for name in packages:
        try:
            parts.append(f"{name}{metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name}-none")
    return "-".join(parts)


def artifacts_root() -> Path:
    """Root of kbench's exported-artifact cache: ``$KBENCH_CACHE/artifacts`` or ``~/.cache/kbench/artifacts``."""
    root = os.environ.get("KBENCH_CACHE")
    return Path(root).expanduser() / "artifacts" if root else Path.home() / ".cache" / "kbench" / "artifacts"


def weights_key(card, weights: str | None, seed: int = 0) -> str:
    """A short identity of the weights for cache keys: ``random-seed0-bn-calib2`` (the seed and the calibration of
    :mod:`kbench.zoo.paddle.calibrate`), or the checkpoint's sha256 (16 hex digits).

    The zoo checkpoint's digest comes from the card when the card lists one (no download needed for a cache hit);
    other checkpoints are resolved (downloaded if a URL) and hashed.
    """
    if weights == "random":
        from kbench.zoo.paddle.calibrate import random_weights_key

        return random_weights_key(seed)
    from kbench._fileio import sha256_file
    from kbench.weights.download import checkpoint_spec, resolve_weights

    source, sha = checkpoint_spec(card, weights)
    if sha:  # the card's digest: a cache hit needs no download
        return sha[:16]
    return sha256_file(resolve_weights(source))[:16]


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike):
    """Build a folder in a temporary sibling and rename it into place only when the build succeeded.

    A killed or failed build leaves at most a hidden ``.<name>.*.partial`` folder, which nothing reads (and the next
    build of the same folder removes); readers never see a half-built ``final``. An existing ``final`` is replaced
    (moved aside, then deleted). When another process puts its own ``final`` in place first, its folder wins and
    this one is discarded: both were built from the same inputs.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.*.partial"):
        if _owner_gone(stale, final.name):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".partial", dir=final.parent))
    try:
        yield tmp
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.old")
            try:
                os.rename(final, old)
            except FileNotFoundError:
                old = None
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process's folder is in place: keep it
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _owner_gone(partial: Path, name: str) -> bool:
    """Whether the process that made ``.<name>.<pid>.<random>.partial`` has ended (its folder is then stale)."""
    rest = partial.name[len(name) + 2:]
    try:
        pid = int(rest.split(".", 1)[0])
    except ValueError:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process, alive
        return False
    return False


def file_sizes(folder: str | os.PathLike, names) -> dict:
    """``{name: size in bytes}`` of files in ``folder``, for a manifest that a later run checks."""
    return {str(n): (Path(folder) / n).stat().st_size for n in names}


def manifest_ok(folder: str | os.PathLike) -> bool:
    """Whether a cached artifact folder can be trusted: its ``manifest.json`` reads, and every file it lists is
    there with the size it had when the manifest was written."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        return False
    sizes = manifest.get("sizes") if isinstance(manifest.get("sizes"), dict) else {}
    for name in manifest["files"]:
        path = folder / str(name)
        if not path.is_file():
            return False
        if str(name) in sizes and path.stat().st_size != sizes[str(name)]:
            return False
    return True
