"""``kbench latency``: FP32/FP16 latency of zoo models on every runtime, as the zoo's KeypointBenchmark table.

The plan (models x backends x devices x precisions x batches x threads x scopes) is checked before anything is
loaded: a GPU asked for where there is none, a ``--record`` file for a run of several measurements, or a plan in
which nothing can run (``--fp16`` on a CPU) is one line and exit code 2. Each measurement's record is written as
soon as it is taken, so Ctrl-C keeps the finished ones (exit 130, with the table of what was measured).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from kbench.errors import InputError

__all__ = ["run", "latency_specs", "record_targets", "machine_line"]


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def record_targets(record: str | None, count: int, no_record: bool = False):
    """A function from a result to the path of its record (None: not written), after checking ``--record``.

    ``record`` names a file when the run makes one measurement (an existing directory, or a name ending in a
    separator, receives the file), and a directory that receives one file per measurement otherwise.
    """
    from kbench.bench.latency import record_name
    from kbench.bench.records import check_output_path, default_record_path

    if no_record:
        return lambda result: None
    if record is None:
        return lambda result: default_record_path("latency")
    p = Path(record)
    as_dir = os.path.isdir(p) or record.endswith(("/", os.sep))
    if count == 1:
        check_output_path(p, "--record", directory=as_dir)
        return (lambda result: p / record_name(result)) if as_dir else (lambda result: p)
    if os.path.exists(p) and not os.path.isdir(p):
        raise InputError(f"--record {record}: is a file, but this run makes {count} measurements: give a directory "
                         f"(it receives one record per measurement)")
    if p.suffix.lower() == ".json":
        raise InputError(f"--record {record}: names one file, but this run makes {count} measurements: give a "
                         f"directory (it receives one record per measurement)")
    check_output_path(p, "--record", directory=True)
    return lambda result: p / record_name(result)


def machine_line(devices) -> str:
    """``this machine: <CPU>, N cores (M usable); GPU: <name> (driver D)``."""
    from kbench.bench.machine import cpu_info, gpu_info

    cpu = cpu_info()
    text = f"this machine: {cpu['model']}, {cpu['logical_cores']} logical cores ({cpu['usable_cores']} usable)"
    if "gpu" in devices:
        gpus, _ = gpu_info()
        text += "; GPU: " + ", ".join(f"{g['name']} (driver {g['driver']})" for g in gpus)
    return text


def _nothing_to_run(skipped, precisions, devices) -> InputError:
    reasons = "; ".join(f"{s.backend} {s.why}" for s in skipped)
    if precisions == ["fp16"]:
        return InputError(f"--fp16: none of the selected runtimes can run fp16 on {' or '.join(devices)}: {reasons}")
    return InputError(f"nothing to measure: {'; '.join(s.line() for s in skipped)}")


def latency_specs(args) -> tuple[list[list], list]:
    """The specs of a parsed ``kbench latency`` command line, in lists that share one load, and what was skipped."""
    from kbench.bench import machine
    from kbench.bench.latency import plan, resolve_backends
    from kbench.cards import select_cards
    from kbench.specs import LatencySpec, check_weights

    devices = list(args.device)
    precisions = ["fp16"] if args.fp16 else list(args.precision or ["fp32"])
    check_weights(args.weights)  # once, before a runtime loads (else every measurement group fails alike)
    if "gpu" in devices:
        ok, why = machine.gpu_available()
        if not ok:
            raise InputError(f"--device gpu: no GPU on this machine ({why}); use --device cpu")
    backends = resolve_backends(_split(args.backend), devices)
    cards = select_cards(args.models)
    groups, skipped = plan(cards, backends, devices, precisions, args.batch, args.threads, args.scope)
    if not groups:
        raise _nothing_to_run(skipped, precisions, devices)
    loads = [[LatencySpec(model=g.card.ref, backend=g.backend, device=g.device, precision=g.precision,
                          batch=g.batch, threads=g.threads, scope=scope, flip=args.flip, weights=args.weights,
                          warmup=args.warmup, runs=args.runs, seconds=args.seconds, yardstick=args.yardstick,
                          profile=args.profile)
              for scope in g.scopes] for g in groups]
    return loads, skipped


def run(args, parser) -> int:
    """Plan, measure, print the table (or JSON) and write one record per measurement."""
    from kbench.bench.latency import LatencyFailure, format_details, format_notes, format_table
    from kbench.bench.op_profile import format_profile
    from kbench.bench.records import write_record
    from kbench.progress import TerminalProgress, tracker
    from kbench.runners.latency import group_of, run_latency_specs

    loads, skipped = latency_specs(args)
    devices = list(args.device)
    count = sum(len(specs) for specs in loads)
    target = record_targets(args.record, count, args.no_record)
    for s in skipped:  # said at once, before minutes of measuring
        print(f"kbench: not measured: {s.line()}", file=sys.stderr)

    results, failures, paths, roof, profiles = [], [], [], {}, {}
    interrupted = False
    bar = TerminalProgress(enabled=sys.stderr.isatty() and count > 1)
    counter = tracker(bar, "latency", count, "measurement")
    try:
        for specs in loads:
            label = group_of(specs).label
            try:
                records = run_latency_specs(specs, progress=lambda ev: counter.status(ev.note.split(": ", 1)[-1]))
            except InputError as exc:
                failures.append(LatencyFailure(group_of(specs), str(exc).splitlines()[0]))
                counter.update(len(specs), note=label)
                continue
            except Exception as exc:  # a runtime's own failure ends this measurement, not the table
                if os.environ.get("KBENCH_DEBUG"):
                    raise
                first = (str(exc).strip().splitlines() or [""])[0]
                failures.append(LatencyFailure(group_of(specs), f"{type(exc).__name__}: {first}"))
                counter.update(len(specs), note=label)
                continue
            for rec in records:
                r = rec.outputs["result"]
                roof.update({int(t): v for t, v in rec["options"].get("yardstick_matmul_gflops", {}).items()})
                path = target(r)
                if path is not None:
                    paths.append(write_record(rec, path))
                if rec["options"].get("profile"):
                    profiles[id(r)] = rec["options"]["profile"]
                results.append(r)
                counter.update(1, note=label)
    except KeyboardInterrupt:  # stop cleanly: the finished measurements are printed and their records kept
        interrupted = True
    finally:
        counter.close()
        bar.close()

    if args.json:
        print(json.dumps({"measurements": [{"options": {k: v for k, v in r.options().items() if k != "samples_ms"},
                                            "metrics": r.metrics(),
                                            **({"profile": profiles[id(r)]} if id(r) in profiles else {})}
                                           for r in results],
                          "skipped": [s.__dict__ for s in skipped],
                          "failed": [{"measurement": f.group.label, "reason": f.reason} for f in failures]},
                         indent=2, default=str))
    else:
        if results or failures:
            print(format_table(results, failures, machine_line(devices)))
            print()
        if results:
            print(format_details(results))
        notes = format_notes(results, skipped, failures, dict(sorted(roof.items())))
        if notes:
            print(notes)
        shown = set()
        for r in results:  # one table per loaded runtime (the scopes of a measurement share its profile)
            if id(r) in profiles and r.group.label not in shown:
                shown.add(r.group.label)
                print()
                print(format_profile(profiles[id(r)], r.group.label))
    out = sys.stderr if args.json else sys.stdout
    if len(paths) == 1:
        print(f"record: {paths[0]}", file=out)
    elif paths:
        folders = sorted({str(p.parent) for p in paths})
        print(f"records: {len(paths)} files in {', '.join(folders)}", file=out)
    if interrupted:
        print(f"kbench: interrupted after {len(results)} of {count} measurements (their records are written)",
              file=sys.stderr)
        return 130
    if failures:
        print(f"kbench: {len(failures)} measurement group(s) failed (see 'failed:' above)", file=sys.stderr)
        return 1
    return 0
