"""The exported-artifact cache shared by every exporter and runtime, and the weights' part of its keys."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["artifacts_root", "weights_key"]


def artifacts_root() -> Path:
    """Root of kbench's exported-artifact cache: ``$KBENCH_CACHE/artifacts`` or ``~/.cache/kbench/artifacts``."""
    root = os.environ.get("KBENCH_CACHE")
    return Path(root).expanduser() / "artifacts" if root else Path.home() / ".cache" / "kbench" / "artifacts"


def weights_key(card, weights: str | None, seed: int = 0) -> str:
    """A short identity of the weights for cache keys: ``random-seed0``, or the checkpoint's sha256 (16 hex digits).

    The zoo checkpoint's digest comes from the card when the card lists one (no download needed for a cache hit);
    other checkpoints are resolved (downloaded if a URL) and hashed.
    """
    if weights == "random":
        return f"random-seed{seed}"
    from kbench._fileio import sha256_file
    from kbench.weights.download import checkpoint_spec, resolve_weights

    source, sha = checkpoint_spec(card, weights)
    if sha:  # the card's digest: a cache hit needs no download
        return sha[:16]
    return sha256_file(resolve_weights(source))[:16]
