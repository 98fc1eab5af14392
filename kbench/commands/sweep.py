"""``kbench sweep``: a sweep file or axis flags -> a plan of cells -> the sweep engine -> a summary table."""

from __future__ import annotations

import json
import sys

from kbench.errors import InputError

__all__ = ["run", "blocks_from_flags"]

_AXIS_FLAGS = ("kind", "models", "backend", "device", "precision", "batch", "threads", "weights", "sample",
               "data_root", "seconds", "runs", "warmup", "shards")


def _names(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def blocks_from_flags(args) -> list[dict]:
    """One sweep block per ``--kind``, each with the axes its spec has."""
    from kbench.sweeps.plan import SWEEP_KINDS

    kinds = _names(args.kind)
    if not kinds:
        raise InputError("kbench sweep needs a sweep file or --kind (latency, eval, profile, conformance, export)")
    bad = [k for k in kinds if k not in SWEEP_KINDS]
    if bad:
        raise InputError(f"--kind {bad[0]!r}: use {', '.join(SWEEP_KINDS)}")
    models = args.models or "all"
    backends = _names(args.backend)
    blocks = []
    for kind in kinds:
        block: dict = {"kind": kind, "models": _names(models) or ["all"]}
        if args.weights:
            block["weights"] = args.weights
        if kind == "latency":
            from kbench.bench.latency import resolve_backends

            devices = args.device or ["cpu"]
            block.update(backend=resolve_backends(backends, devices), device=devices,
                         precision=args.precision or ["fp32"], batch=args.batch or [1], threads=args.threads or [1, 4])
            for name in ("seconds", "runs", "warmup"):
                if getattr(args, name) is not None:
                    block[name] = getattr(args, name)
            if args.every_node:
                block["nodes"] = "all"
        elif kind == "eval":
            block.update(backend=backends or ["onnxruntime"], device=args.device or ["cpu"],
                         fp16=[p == "fp16" for p in (args.precision or ["fp32"])])
            if args.data_root:
                block["data_root"] = args.data_root
            else:
                block["sample"] = args.sample or 24
            if args.shards:
                block["shards"] = args.shards
        elif kind == "conformance":
            block = {"kind": kind, "models": models, "fp16": [p == "fp16" for p in (args.precision or ["fp32"])],
                     "batch": args.batch or [1]}
            if backends:
                block["backends"] = ",".join(backends)
            if args.threads:
                block["threads"] = args.threads
        elif kind == "export":
            block.update(to=backends or ["onnx"], batch=args.batch or ["dynamic"])
            block.setdefault("weights", "random")
        blocks.append(block)
    return blocks


def run(args, parser) -> int:
    """Plan, print the plan, run the cells, print the summary; exit 1 when a cell failed."""
    from kbench.progress import TerminalProgress
    from kbench.results.store import ResultStore
    from kbench.sweeps import format_plan, format_summary, make_executor
    from kbench.sweeps.engine import SweepEngine
    from kbench.sweeps.plan import load_sweep_file, plan_from_blocks

    given = [f for f in _AXIS_FLAGS if getattr(args, f, None) is not None] + (["every_node"] if args.every_node
                                                                               else [])
    if args.file and given:
        raise InputError(f"give a sweep file or axis flags, not both (--{given[0].replace('_', '-')} with "
                         f"{args.file})")
    if args.retries is not None and args.retries < 0:
        raise InputError(f"--retries must be 0 or more, got {args.retries}")
    if args.cell_timeout is not None and not args.cell_timeout > 0:
        raise InputError(f"--cell-timeout must be a positive number of seconds, got {args.cell_timeout}")
    if not args.cpus_per_cell > 0:
        raise InputError(f"--cpus-per-cell must be a positive number, got {args.cpus_per_cell}")
    if args.file:
        data = load_sweep_file(args.file)
        blocks, retries, source = data["cells"], data.get("retries", 1), args.file
    else:
        blocks, retries, source = blocks_from_flags(args), 1, "flags"
    if args.retries is not None:
        retries = args.retries
    gpu = None
    if args.ray:  # GPU cells are possible where some node has a GPU; checked once the cluster is joined
        gpu = (True, "")
    plan = plan_from_blocks(blocks, retries=retries, gpu=gpu, source=source)
    store = ResultStore(args.store)
    records = store.records() if store.root.is_dir() else []
    executor = make_executor(args.ray, workers=args.workers, cpus_per_cell=args.cpus_per_cell)
    info = sys.stderr if args.json else sys.stdout
    print(format_plan(plan, executor.describe(), records), file=info)
    if args.dry_run:
        executor.close()
        return 0
    bar = TerminalProgress(enabled=sys.stderr.isatty())
    engine = SweepEngine(executor, store, retries=plan.retries, resume=args.resume, progress=bar,
                         cell_timeout=args.cell_timeout)
    try:
        outcomes, interrupted = engine.run(plan.cells)
    finally:
        bar.close()
    if args.json:
        print(json.dumps([o.to_dict() for o in outcomes], indent=2))
    else:
        print()
        print(format_summary(outcomes))
    print(f"store: {store.root}" + (f"; log: {engine.log_path}" if engine.log_path else ""), file=info)
    if interrupted:
        print(f"kbench: interrupted: {sum(o.status == 'done' for o in outcomes)} cell(s) done and written; "
              f"--resume runs the rest", file=sys.stderr)
        return 130
    failed = sum(o.status == "failed" for o in outcomes)
    if failed:
        print(f"kbench: {failed} cell(s) failed after their retries (see the table)", file=sys.stderr)
        return 1
    return 0
