"""``kbench benchmark``: flags -> :class:`~kbench.specs.BenchmarkSpec` -> :func:`kbench.run` -> the table."""

from __future__ import annotations

import json
import sys

__all__ = ["run"]


def run(args, parser) -> int:
    """Print the table (and write one record per row with ``--record DIR``); exit 1 when a row failed."""
    from kbench.progress import TerminalProgress
    from kbench.runners import run as run_spec
    from kbench.specs import BenchmarkSpec

    spec = BenchmarkSpec(model=args.model, backends=args.backends, precisions=args.precisions, device=args.device,
                         threads=args.threads, weights=args.weights, data_root=args.data_root, sample=args.sample,
                         seconds=args.seconds)
    if args.record:
        from kbench.bench.records import check_output_path

        check_output_path(args.record, "--record", directory=True)
    progress = TerminalProgress(enabled=sys.stderr.isatty() and not args.json)
    try:
        record = run_spec(spec, progress=progress)
    finally:
        progress.close()
    rows = record["options"]["rows"]
    print(json.dumps(rows, indent=2) if args.json else record.summary)
    if args.record:
        from pathlib import Path

        from kbench.bench.records import write_record

        out = Path(args.record)
        for i, row_record in enumerate(record.outputs["rows"]):
            row = row_record["options"]["row"]
            name = f"{i:02d}-{record['options']['model']}-{row['backend']}-{row['precision']}.json"
            write_record(row_record, out / name)
        print(f"records: {len(rows)} in {out}", file=sys.stderr if args.json else sys.stdout)
    failed = [r for r in rows if r["status"] in ("export failed", "run failed")]
    return 1 if failed else 0
