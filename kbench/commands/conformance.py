"""``kbench conformance``: flags -> :class:`~kbench.specs.ConformanceSpec` -> :func:`kbench.run` -> the matrix."""

from __future__ import annotations

import json
import sys

__all__ = ["run"]


def run(args, parser) -> int:
    """Print the matrix (and write its record with ``--record``); exit 1 when a cell fails its tolerance."""
    from kbench.bench.records import check_output_path
    from kbench.progress import TerminalProgress
    from kbench.runners import run as run_spec
    from kbench.runners.conformance import cells_of
    from kbench.specs import ConformanceSpec

    spec = ConformanceSpec(models=args.models, backends=args.backends, fp16=args.fp16, batch=args.batch,
                           threads=args.threads, device=args.device)
    if args.record:
        check_output_path(args.record, "--record")
    progress = TerminalProgress(enabled=sys.stderr.isatty() and not args.json)
    try:
        record = run_spec(spec, progress=progress)
    finally:
        progress.close()
    cells = cells_of(record)
    if args.json:
        print(json.dumps([c.to_dict() for c in cells], indent=2))
    else:
        print(record.summary)
    if args.record:
        from kbench.bench.records import write_record

        print(f"record: {write_record(record, args.record)}", file=sys.stderr if args.json else sys.stdout)
    failed = [c for c in cells if c.status in ("fail", "error")]
    if failed and not args.json:
        print(f"{len(failed)} cell(s) outside tolerance or in error", file=sys.stderr)
    return 1 if failed else 0
