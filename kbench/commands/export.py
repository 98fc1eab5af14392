"""``kbench export``: flags -> :class:`~kbench.specs.ExportSpec` -> :func:`kbench.run` -> where the artifact went."""

from __future__ import annotations

import sys

__all__ = ["run"]


def run(args, parser) -> int:
    """Export and print where the artifact and its manifest went (and write its record with ``--record``)."""
    from kbench.bench.records import check_output_path
    from kbench.runners import run as run_spec
    from kbench.specs import ExportSpec

    spec = ExportSpec(model=args.model, to=args.to, weights=args.weights, fp16=args.fp16, fp16_io=args.fp16_io,
                      batch=args.batch, format=args.format, target=args.target, source=args.source,
                      opset=args.opset, out=args.out)
    if args.record:
        check_output_path(args.record, "--record")
    record = run_spec(spec)
    print(record.summary, file=sys.stdout)
    if args.record:
        from kbench.bench.records import write_record

        print(f"record: {write_record(record, args.record)}")
    return 0
