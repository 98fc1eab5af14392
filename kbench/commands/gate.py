"""``kbench gate``: compare current run records with a baseline, print Markdown, write JUnit, exit 1 on regression."""

from __future__ import annotations

import sys
import warnings

from kbench.errors import InputError

__all__ = ["run"]


def _load(sources: list[str], flag: str) -> list[dict]:
    from kbench.results.frame import load_records

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = load_records(sources)
    for w in caught:
        print(f"kbench: note: {flag}: {w.message}", file=sys.stderr)
    if not records:
        raise InputError(f"{flag} {' '.join(sources)}: no kbench run records found")
    return records


def run(args, parser) -> int:
    """Run the gate; returns 1 when a guarded number regressed (or is missing), else 0."""
    from kbench._fileio import atomic_open
    from kbench.bench.records import check_output_path
    from kbench.reports.gate_markdown import render_markdown
    from kbench.reports.junit import write_junit
    from kbench.results.gate import Tolerances, compare

    for flag, path in (("--markdown", args.markdown), ("--junit", args.junit)):
        if path:
            check_output_path(path, flag)
    baseline = _load(args.baseline, "--baseline")
    current = _load(args.current, "--current")
    tol = Tolerances(max_ap_drop=args.max_ap_drop, max_latency_increase=args.max_latency_increase,
                     max_memory_increase=args.max_memory_increase, allow_size_change=args.allow_size_change,
                     allow_missing=args.allow_missing, noise_aware=args.noise_aware)
    report = compare(baseline, current, tol)
    if report.paired == 0:
        raise InputError(f"the baseline's {report.baseline_records} and the current {report.current_records} "
                         f"record(s) share no configuration (kind, model, runtime, device, precision, batch, "
                         f"dataset, ...): nothing to compare")
    text = render_markdown(report, baseline_name=" ".join(args.baseline), current_name=" ".join(args.current))
    if args.markdown:
        with atomic_open(args.markdown, "w") as fh:
            fh.write(text)
    if args.junit:
        write_junit(report, args.junit)
    print(text.splitlines()[0].removeprefix("## ") if args.quiet else text, end="\n" if args.quiet else "")
    return report.exit_code
