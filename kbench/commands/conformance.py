"""``kbench conformance``: the same seeded input through every runtime, compared with Paddle dygraph FP32."""

from __future__ import annotations

import json
import sys

from kbench.errors import InputError

__all__ = ["run", "select_cards", "select_runtimes"]

DEFAULT_CPU_RUNTIMES = ("paddle-inference", "onnxruntime", "lite", "torch")


def select_cards(spec: str | None):
    """Cards from a comma-separated list of names or globs (all when None)."""
    from kbench.cards import get_card, list_cards

    if not spec or spec == "all":
        return list_cards()
    cards = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        cards.extend(list_cards(part) if any(ch in part for ch in "*?[") else [get_card(part)])
    if not cards:
        raise InputError(f"no zoo model matches {spec!r}")
    return list(dict.fromkeys(cards))


def select_runtimes(spec: str | None) -> list[str]:
    """Runtimes from a comma-separated list (the CPU runtimes when None)."""
    from kbench.adapters.base import RUNTIMES

    names = list(DEFAULT_CPU_RUNTIMES) if not spec or spec == "all" else [s.strip() for s in spec.split(",")]
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown:
        raise InputError(f"unknown runtime {unknown[0]!r}; known: {', '.join(RUNTIMES)}")
    return [n for n in names if n != "paddle"]


def run(args, parser) -> int:
    """Print the matrix; exit 1 when a cell fails its tolerance."""
    from kbench.conformance import conformance_matrix, format_matrix

    cards = select_cards(args.models)
    runtimes = select_runtimes(args.backends)
    precision = "fp16" if args.fp16 else "fp32"
    cells = conformance_matrix(cards, runtimes, precision=precision, batch=args.batch,
                               progress=sys.stderr.isatty() and not args.json, threads=args.threads)
    if args.json:
        print(json.dumps([c.to_dict() for c in cells], indent=2))
    else:
        print(format_matrix(cells))
    failed = [c for c in cells if c.status in ("fail", "error")]
    if failed and not args.json:
        print(f"{len(failed)} cell(s) outside tolerance or in error", file=sys.stderr)
    return 1 if failed else 0
