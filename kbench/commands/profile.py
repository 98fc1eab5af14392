"""``kbench profile``: parameters and FLOPs of zoo models, by the convention the zoo's README uses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kbench.errors import InputError

__all__ = ["run", "profile_card", "matches_published"]


def matches_published(measured: float, published: float | None) -> bool | None:
    """Whether ``measured`` rounds to ``published`` at the precision the README prints it (None: nothing published)."""
    if published is None:
        return None
    text = repr(float(published))
    decimals = len(text.split(".")[1].rstrip("0")) if "." in text else 0
    return round(measured, decimals) == round(float(published), decimals)


def profile_card(card, input_size: tuple | None = None, weights: str = "random"):
    """Count a card's network; returns (:class:`kbench.bench.flops.ModelSize`, :class:`WeightsInfo`).

    Counts do not depend on the weights; loading them (``weights`` a path or URL, or None for the card's
    checkpoint) checks that they fit the network and puts their checksum in the record.
    """
    from kbench.bench.flops import count_paddle
    from kbench.zoo.paddle.load import load_model

    net, info = load_model(card, weights)
    w, h = input_size or card.input_size
    return count_paddle(net, (1, 3, h, w)), info


def _parse_size(text: str | None):
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--input must be WIDTHxHEIGHT, e.g. 192x256; got {text!r}") from None
    if w < 32 or h < 32:
        raise InputError(f"--input {text}: both sides must be at least 32 pixels")
    return w, h


def run(args, parser) -> int:
    """Profile the selected models, print a table and write one record per model."""
    from kbench.bench.records import make_record, write_record
    from kbench.cards import get_card, list_cards

    if args.model in ("all", "*"):
        cards = list_cards()
    elif any(ch in args.model for ch in "*?["):
        cards = list_cards(args.model)
    else:
        cards = [get_card(args.model)]
    if not cards:
        raise InputError(f"no zoo model matches {args.model!r} (see `kbench zoo list`)")
    size = _parse_size(args.input)
    from kbench.zoo.paddle import import_paddle

    import_paddle()
    if args.record and len(cards) > 1 and Path(args.record).suffix == ".json":
        raise InputError("--record names one file, but several models are profiled: give a directory")
    rows, records = [], []
    from tqdm import tqdm

    for card in tqdm(cards, desc="profiling", unit="model", disable=len(cards) == 1 or not sys.stderr.isatty()):
        counted, weights = profile_card(card, size, args.weights)
        input_wh = size or tuple(card.input_size)
        same_input = size is None or tuple(size) == tuple(card.input_size)
        pub_p = card.published.params_m
        pub_f = card.published.gflops if same_input else None
        rows.append((card.name, f"{input_wh[0]}x{input_wh[1]}", counted.params_m, counted.gflops, pub_p, pub_f,
                     matches_published(counted.params_m, pub_p), matches_published(counted.gflops, pub_f)))
        records.append(make_record("profile", {"params": counted.params, "flops": counted.flops}, options={
            "model": card.name, "input_size": list(input_wh), "framework": "paddle",
            "convention": "paddle.flops: conv/deconv out x (cin/groups x k^2 + bias), BN 2 x in, linear out x in; "
                          "params include BatchNorm running statistics",
            "published": {"params_m": pub_p, "gflops": pub_f, "source": card.published.source},
            "weights": weights.describe()}))
    if args.json:
        print(json.dumps([dict(zip(("model", "input", "params_m", "gflops", "published_params_m", "published_gflops",
                                    "params_match", "gflops_match"), r)) for r in rows], indent=2))
    else:
        print(f"{'model':<36} {'input':>8} {'params (M)':>11} {'GFLOPs':>8}   published (README)")
        for name, inp, pm, gf, pp, pf, mp, mf in rows:
            pub = []
            if pp is not None:
                pub.append(f"{pp} M {'ok' if mp else 'DIFFERS'}")
            if pf is not None:
                pub.append(f"{pf} GFLOPs {'ok' if mf else 'DIFFERS'}")
            print(f"{name:<36} {inp:>8} {pm:>11.3f} {gf:>8.3f}   {', '.join(pub) or '-'}")
        print(f"weights: {weights.label()}" if len(cards) == 1 else
              f"weights: {args.weights if args.weights != 'random' else 'random (seed 0)'}")
    if not args.no_record:
        out = sys.stderr if args.json else sys.stdout
        for card, rec in zip(cards, records):
            if args.record is None:
                path = write_record(rec)
            elif len(cards) == 1 and Path(args.record).suffix == ".json":
                path = write_record(rec, args.record)
            else:
                path = write_record(rec, Path(args.record) / f"profile-{card.name}.json")
            print(f"record: {path}", file=out)
    return 0
