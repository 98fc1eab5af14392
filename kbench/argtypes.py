"""argparse value types shared by several sub-commands' parsers (standard library only: ``kbench --help`` builds
every parser)."""

from __future__ import annotations

import argparse

__all__ = ["percent", "int_list", "device_list", "precision_list", "scope_list", "warmup_spec", "warmup_text",
           "seconds_value"]


def percent(text: str) -> float:
    """``10%`` or ``10`` -> 0.10; an argparse type."""
    try:
        value = float(text.strip().removesuffix("%").strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10%, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0, got {text!r}")
    return value / 100.0


def _items(text: str, what: str) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}")
    return list(dict.fromkeys(parts))


def int_list(text: str) -> list[int]:
    """``"1,8"`` -> ``[1, 8]``: whole numbers >= 1, duplicates dropped."""
    out = []
    for part in _items(text, "whole numbers"):
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected whole numbers like 1,8; got {part!r} in {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected numbers >= 1, got {value} in {text!r}")
        out.append(value)
    return list(dict.fromkeys(out))


def _choice_list(text: str, choices: tuple, what: str) -> list[str]:
    values = [p.lower() for p in _items(text, what)]
    bad = [v for v in values if v not in choices]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what[:-1]} {bad[0]!r}; use {', '.join(choices)}")
    return values


def device_list(text: str) -> list[str]:
    """``"cpu"``, ``"gpu"`` or ``"cpu,gpu"``."""
    return _choice_list(text, ("cpu", "gpu"), "devices")


def precision_list(text: str) -> list[str]:
    """``"fp32"``, ``"fp16"`` or ``"fp32,fp16"``."""
    return _choice_list(text, ("fp32", "fp16"), "precisions")


def scope_list(text: str) -> list[str]:
    """``"model"``, ``"pipeline"``, ``"both"`` or ``"model,pipeline"``."""
    values = _choice_list(text, ("model", "pipeline", "both"), "scopes")
    if "both" in values:
        return ["model", "pipeline"]
    return values


def seconds_value(text: str) -> float:
    """A positive number of seconds (``"3"``, ``"0.5"``, ``"2s"``)."""
    raw = text.strip().lower().removesuffix("s")
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, e.g. 3 or 0.5; got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def warmup_spec(text: str) -> tuple[int | None, float | None]:
    """``"10"`` (runs) -> ``(10, None)``; ``"1.5s"`` (seconds) -> ``(None, 1.5)``."""
    t = text.strip().lower()
    if t.endswith("s"):
        try:
            value = float(t[:-1])
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected warm-up runs (10) or seconds (2s); got {text!r}") from None
        if not (value >= 0 and value != float("inf")):
            raise argparse.ArgumentTypeError(f"expected a warm-up of 0 seconds or more, got {text!r}")
        return None, value
    try:
        runs = int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected warm-up runs (10) or seconds (2s); got {text!r}") from None
    if runs < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more warm-up runs, got {runs}")
    return runs, None


def warmup_text(text: str) -> str:
    """``--warmup`` checked by :func:`warmup_spec` and kept as text, as :class:`kbench.specs.LatencySpec` holds it:
    ``"10"`` (runs) or ``"1.5s"`` (seconds)."""
    runs, seconds = warmup_spec(text)
    return str(runs) if runs is not None else f"{seconds:g}s"
