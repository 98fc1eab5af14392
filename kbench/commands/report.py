"""``kbench report``: render the HTML report from run records."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from kbench.errors import InputError

__all__ = ["run", "load_sources"]


def load_sources(args) -> tuple[list[dict], list[str]]:
    """The run records of ``--records`` (files/folders) or of the results store ``--store``, after ``--filter``.

    A missing store is an error (nothing has been measured there yet). Skipped files are reported as one
    ``kbench: note:`` line on stderr rather than as a Python warning.

    Returns:
        ``(records, sources)``: the parsed records (each with ``_path``) and the paths they were read from.
    """
    from kbench.results.frame import RecordsSkippedWarning, load_records

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecordsSkippedWarning)
        if args.records:
            sources = [str(p) for p in args.records]
            records = load_records(sources)
        else:
            from kbench.results.store import ResultStore

            store = Path(args.store)
            if not store.is_dir():
                raise InputError(f"{store}: no results store here (no such folder); measure something first "
                                 f"(kbench eval/latency/profile write records there) or name records with --records")
            sources = [str(store)]
            records = ResultStore(store).records()
    for w in caught:
        if issubclass(w.category, RecordsSkippedWarning):
            print(f"kbench: note: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if args.filters and records:
        from kbench.results.frame import records_frame
        from kbench.results.query import apply_filters

        keep = apply_filters(records_frame(records), args.filters).index  # the frame's row i is records[i]
        records = [records[i] for i in keep]
    if not records:
        what = " match the filters" if args.filters else ""
        print(f"kbench: note: no run records{what} in {', '.join(sources)}: the tables show published figures "
              f"only", file=sys.stderr)
    return records, sources


def run(args, parser) -> int:
    """Render ``--out``/report.html and print where it is, with a one-line summary of the cells."""
    from kbench.reports.html import write_report
    from kbench.reports.runs import runs_from_records
    from kbench.reports.tables import ReportTolerances, readme_tables

    out = Path(args.out)
    if out.exists() and not out.is_dir():  # before reading the records
        raise InputError(f"{out}: exists and is not a directory (--out names a directory)")
    records, sources = load_sources(args)
    tolerances = ReportTolerances(accuracy_points=args.tolerance, latency_relative=args.latency_tolerance)
    path = write_report(records, args.out, tolerances=tolerances, sources=sources, title=args.title)
    cells = [c for t in readme_tables(runs_from_records(records), tolerances) for r in t.rows for c in r.cells]
    measured = [c for c in cells if c.measured is not None]
    beyond = sum(1 for c in measured if c.exceeded)
    print(f"report: {path} ({len(records)} records; {len(measured)} README cells measured, {beyond} beyond "
          f"tolerance)")
    return 0
