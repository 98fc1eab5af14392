"""``kbench profile``: flags -> one :class:`~kbench.specs.ProfileSpec` per model -> :func:`kbench.run` -> table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kbench.errors import InputError

__all__ = ["run"]


def run(args, parser) -> int:
    """Profile the selected models, print a table and write one record per model."""
    from kbench.bench.records import check_output_path, write_record
    from kbench.card_import import apply_config_args
    from kbench.cards import get_card, is_card_path, list_cards
    from kbench.progress import TerminalProgress, tracker
    from kbench.runners import run as run_spec
    from kbench.runners.profile import format_profile_rows
    from kbench.specs import ProfileSpec

    apply_config_args(args, use_weights=bool(args.opt and any(o.strip().startswith("weights=") for o in args.opt)))
    if not args.model:
        raise InputError("profile needs --model NAME|CARD.yml or -c CONFIG.yml")
    if args.model in ("all", "*"):
        cards = list_cards()
    elif any(ch in args.model for ch in "*?[") and not is_card_path(args.model):
        cards = list_cards(args.model)
    else:
        cards = [get_card(args.model)]
    if not cards:
        raise InputError(f"no zoo model matches {args.model!r} (see `kbench zoo list`)")
    specs = [ProfileSpec(model=card.ref, input=args.input, weights=args.weights) for card in cards]
    if args.record and len(cards) > 1 and Path(args.record).suffix == ".json":
        raise InputError("--record names one file, but several models are profiled: give a directory")
    if args.record and not args.no_record:
        check_output_path(args.record, "--record", directory=not (len(cards) == 1 and
                                                                    Path(args.record).suffix == ".json"))
    records = []
    bar = TerminalProgress(min_total=2)
    with tracker(bar, "profiling", len(specs), "model") as counter:
        for spec in specs:
            records.append(run_spec(spec))
            counter.update(1)
    rows = [rec.outputs["row"] for rec in records]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_profile_rows(rows))
        print(f"weights: {records[0].outputs['weights_label']}" if len(cards) == 1 else
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
