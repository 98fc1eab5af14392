"""``kbench report``: render the HTML report from run records."""

from __future__ import annotations

from pathlib import Path

from kbench.errors import InputError

__all__ = ["run"]


def run(args, parser) -> int:
    """Render ``--out``/report.html and print where it is, with a one-line summary of the cells."""
    from kbench.bench.records import check_output_path
    from kbench.reports.html import write_report
    from kbench.reports.runs import runs_from_records
    from kbench.reports.tables import ReportTolerances, readme_tables

    out = Path(args.out)
    if out.exists() and not out.is_dir():  # before reading the records
        raise InputError(f"{out}: exists and is not a directory (--out names a directory)")
    check_output_path(out, "--out", directory=True)
    from kbench.results.sources import load_sources

    records, sources = load_sources(args.records, args.store, args.filters)
    tolerances = ReportTolerances(accuracy_points=args.tolerance, latency_relative=args.latency_tolerance)
    path = write_report(records, args.out, tolerances=tolerances, sources=sources, title=args.title)
    cells = [c for t in readme_tables(runs_from_records(records), tolerances) for r in t.rows for c in r.cells]
    measured = [c for c in cells if c.measured is not None]
    beyond = sum(1 for c in measured if c.exceeded)
    print(f"report: {path} ({len(records)} records; {len(measured)} README cells measured, {beyond} beyond "
          f"tolerance)")
    return 0
