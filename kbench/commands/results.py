"""``kbench results``: query a results store as a table; ``add`` records to it; ``reindex`` it."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from kbench.errors import InputError

__all__ = ["run", "DEFAULT_COLUMNS"]

#: Columns shown by default (those that no matching record has are dropped), before the metrics.
DEFAULT_COLUMNS = ("created", "kind", "machine", "model", "backend", "device", "precision", "weights", "batch",
                   "threads", "scope", "bbox", "flip", "input_size", "dataset")


def _notes(caught) -> None:
    # Skipped files are worth one line on stderr, not a Python warning with a source location.
    for w in caught:
        level = "warning" if "damaged record skipped" in str(w.message) else "note"
        print(f"kbench: {level}: {w.message}", file=sys.stderr)


def _select(df, columns: str | None):
    from kbench.results.frame import METRIC_PREFIX

    if columns:
        chosen = []
        for name in (c.strip() for c in columns.split(",") if c.strip()):
            if name in df.columns:
                chosen.append(name)
            elif METRIC_PREFIX + name in df.columns:
                chosen.append(METRIC_PREFIX + name)
            else:
                shown = ", ".join(c for c in df.columns if not c.startswith(METRIC_PREFIX))
                raise InputError(f"--columns: no column {name!r}; columns: {shown}, and the metrics "
                                 f"{', '.join(c for c in df.columns if c.startswith(METRIC_PREFIX)) or '(none)'}")
        return df[chosen]
    keep = [c for c in DEFAULT_COLUMNS if df[c].notna().any()]
    keep += [c for c in df.columns if c.startswith(METRIC_PREFIX) and df[c].notna().any()]
    return df[keep]


def _number(v: float) -> str:
    # Counts (params, FLOPs) in full, measurements to 6 significant digits.
    return f"{v:.0f}" if float(v).is_integer() and abs(v) >= 1000 else f"{v:.6g}"


def _print(df, fmt: str) -> None:
    if fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(df.to_json(orient="records", date_format="iso", indent=2) + "\n")
    else:
        shown = df.copy()
        if "created" in shown.columns:
            shown["created"] = shown["created"].dt.strftime("%Y-%m-%d %H:%M")
        print(shown.to_string(index=False, na_rep="-", float_format=_number))


def run(args, parser) -> int:
    """Dispatch ``kbench results`` (query), ``results add`` and ``results reindex``."""
    from kbench.results.store import ResultStore

    store = ResultStore(args.store)
    action = getattr(args, "results_action", None)
    if action == "add":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = store.add(args.paths)
        _notes(caught)
        print(f"{result} ({store.root})")
        return 0
    if not Path(args.store).is_dir():
        raise InputError(f"{args.store}: no such directory (kbench commands write their records to ./kbench-runs; "
                         f"`kbench results add PATH` imports records, `--store DIR` reads another folder)")
    if action == "reindex":
        print(f"{store.reindex()} record(s) indexed in {store.index_path}")
        return 0
    if args.check:
        problems = store.check()
        for path, why in problems:
            print(f"{path}: {why}")
        print(f"{len(store)} record(s) readable, {len(problems)} file(s) skipped in {store.root}")
        return 1 if problems else 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = store.frame(args.filters, kind=args.kind)
    _notes(caught)
    total = df
    df = _select(df, args.columns)
    if args.format != "table":
        _print(df, args.format)
        return 0
    if len(df) == 0:
        print(f"no records match (store {store.root})")
        return 0
    _print(df, "table")
    machines = total["machine"].nunique()
    print(f"{len(df)} record(s) from {machines} machine(s) in {store.root}")
    return 0
