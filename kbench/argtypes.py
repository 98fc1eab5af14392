"""argparse value types shared by several sub-commands' parsers (standard library only: ``kbench --help`` builds
every parser)."""

from __future__ import annotations

import argparse

__all__ = ["percent"]


def percent(text: str) -> float:
    """``10%`` or ``10`` -> 0.10; an argparse type."""
    try:
        value = float(text.strip().removesuffix("%").strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10%, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0, got {text!r}")
    return value / 100.0
