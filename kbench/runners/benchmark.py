"""The ``benchmark`` runner: the whole story of one model in one table, a row per runtime x precision.

A :class:`~kbench.specs.BenchmarkSpec` expands into rows; each row runs through the same specs and runners as the
single commands, so a row's figures are the figures ``kbench latency`` and ``kbench eval`` would give:

1. **export**: load the runtime (which exports or converts the model on first use, cached); the artifact it runs
   and its size. A failure here is ``export failed`` with the runtime's own line.
2. **difference**: the seeded input of ``kbench conformance`` through the loaded runtime, against Paddle dygraph
   FP32 on the same weights: the largest difference relative to the largest reference output, and heatmap argmax
   agreement (ties within noise counted as agreeing).
3. **latency**: a :class:`~kbench.specs.LatencySpec` at batch 1 (model scope; the spec's threads on the CPU).
4. **accuracy**: an :class:`~kbench.specs.EvalSpec` on ``data_root``, or on the generated sample.

A failure in 2-4 is ``run failed`` with the reason; what a runtime cannot do here (FP16 on a CPU, a missing
package) is ``unavailable`` with the reason. Every row is a record of its own (``outputs["rows"]``, kind
``benchmark``, its spec narrowed to the row's backend and precision); the returned record holds the table.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kbench.errors import InputError
from kbench.runners.record import Record, spec_record

__all__ = ["run_benchmark", "format_benchmark", "ACCURACY_METRICS"]

#: The headline metric of an evaluation record, by data set kind (the first one present is shown).
ACCURACY_METRICS = ("AP", "PCKh", "Mean")


def _one_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return text if isinstance(exc, InputError) else f"{type(exc).__name__}: {text}"


def _artifact(info: dict) -> tuple[str | None, float | None]:
    """The file (or folder) the runtime runs, from its describe(), and its size in MB; None for in-memory nets."""
    path = info.get("engine") or info.get("model")
    if not path:
        return None, None
    p = Path(path)
    if info.get("runtime") == "paddle-inference":
        p = p.parent  # the graph and its parameters
    if p.is_dir():
        size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    elif p.is_file():
        size = p.stat().st_size
    else:
        return str(p), None
    return str(p), size / 2**20


def _difference(card, backend, device: str, precision: str, weights: str, reference) -> tuple[dict, dict]:
    """Load the row's runtime, run the conformance input, compare; returns (describe(), comparison)."""
    from kbench.adapters.base import get_adapter
    from kbench.conformance import compare_outputs, reference_input

    adapter = get_adapter(backend.runtime)
    try:
        try:
            adapter.load(card, weights=weights, device=device, precision=precision, batch=1, **dict(backend.options))
        except Exception as exc:  # noqa: BLE001 - any exporter or runtime failure is this row's status
            raise _ExportFailed(_one_line(exc)) from None
        info = adapter.describe()
        return info, compare_outputs(reference, adapter.run(reference_input(card, 1)))
    finally:
        adapter.close()


class _ExportFailed(Exception):
    pass


def _row(spec, card, backend_name: str, precision: str, reference) -> dict:
    from kbench.bench.latency import BACKENDS, capability
    from kbench.runners.evaluate import run_eval
    from kbench.runners.latency import run_latency
    from kbench.specs import EvalSpec, LatencySpec

    backend = BACKENDS[backend_name]
    threads = spec.threads if spec.device == "cpu" else None
    row = {"backend": backend_name, "runtime": backend.runtime, "precision": precision, "device": spec.device,
           "threads": threads, "status": "ok", "reason": ""}
    ok, why = capability(backend_name, spec.device, precision)
    if not ok:
        return dict(row, status="unavailable", reason=why)
    try:
        info, diff = _difference(card, backend, spec.device, precision, spec.weights, reference)
    except _ExportFailed as exc:
        return dict(row, status="export failed", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - a runtime's failure is a row, not a crash
        return dict(row, status="run failed", reason=_one_line(exc))
    artifact, size_mb = _artifact(info)
    row.update(artifact=artifact, artifact_mb=size_mb, runtime_version=info.get("version"),
               max_rel=diff["max_rel"], argmax_agree=diff["argmax_agree"] + diff["argmax_ties"], joints=diff["joints"])
    try:
        lat = run_latency(LatencySpec(model=card.name, backend=backend_name, device=spec.device, precision=precision,
                                      batch=1, threads=threads, weights=spec.weights, warmup="0.5s",
                                      seconds=spec.seconds, yardstick=False))
        row.update(median_ms=lat["metrics"]["median_ms"], p90_ms=lat["metrics"]["p90_ms"],
                   cpu_util=lat["metrics"].get("cpu_util"))
        if spec.device == "cpu":
            runtime_threads = (lat["options"].get("runtime_info") or {}).get("threads")
            row["threads"] = runtime_threads if runtime_threads is not None else threads
        ev = run_eval(EvalSpec(model=card.name, backend=backend.runtime, device=spec.device,
                               fp16=precision == "fp16", threads=threads, weights=spec.weights,
                               data_root=spec.data_root, sample=None if spec.data_root else spec.sample))
        metric = next((m for m in ACCURACY_METRICS if m in ev["metrics"]), None)
        row.update(metric=metric, accuracy=ev["metrics"].get(metric) if metric else None)
    except Exception as exc:  # noqa: BLE001 - as above
        row.update(status="run failed", reason=_one_line(exc))
    return row


def run_benchmark(spec, progress=None) -> Record:
    """Run a :class:`~kbench.specs.BenchmarkSpec`; ``outputs["rows"]`` holds one record per row."""
    from kbench.adapters.base import get_adapter
    from kbench.cards import get_card
    from kbench.conformance import reference_input
    from kbench.progress import tracker
    from kbench.runners.profile import run_profile
    from kbench.specs import ProfileSpec

    card = get_card(spec.model)
    size = run_profile(ProfileSpec(model=card.name, weights=spec.weights)).outputs["row"]
    with get_adapter("paddle") as ref:
        ref.load(card, weights=spec.weights)
        reference = ref.run(reference_input(card, 1))
    rows, records = [], []
    plan = spec.rows()
    with tracker(progress, "benchmark", len(plan), "row") as bar:
        for backend_name, precision in plan:
            bar.status(f"{card.name} / {backend_name} {precision}")
            row = _row(spec, card, backend_name, precision, reference)
            rows.append(row)
            row_spec = dataclasses.replace(spec, backends=backend_name, precisions=precision)
            metrics = {k: row[k] for k in ("artifact_mb", "max_rel", "median_ms", "p90_ms", "accuracy")
                       if row.get(k) is not None}
            records.append(spec_record(row_spec, metrics, options={"row": row, "model": card.name}))
            bar.update(1)
    data = spec.data_root or f"the generated sample ({spec.sample} images of drawn figures)"
    options = {"model": card.name, "rows": rows, "size": size, "data": data, "weights": spec.weights,
               "reference": "paddle dygraph fp32 on the cpu, the same weights and seeded input"}
    metrics = {f"rows_{s.replace(' ', '_')}": sum(r["status"] == s for r in rows)
               for s in ("ok", "export failed", "run failed", "unavailable")}
    return spec_record(spec, metrics, options=options, summary=format_benchmark(card.name, rows, size, data,
                                                                                spec.weights),
                       outputs={"rows": records})


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_benchmark(model: str, rows: list[dict], size: dict, data: str, weights: str) -> str:
    """The table: a row per runtime x precision, then the model's size against the README."""
    head = (f"{'runtime':<18}{'prec':<6}{'status':<14}{'size MB':>8}{'max rel diff':>14}{'argmax':>8}"
            f"{'median ms':>11}{'p90 ms':>9}{'threads':>8}{'accuracy':>14}")
    lines = [f"kbench benchmark: {model} (weights: {weights}; accuracy on {data})", head]
    notes = []
    for r in rows:
        agree = f"{r['argmax_agree']}/{r['joints']}" if r.get("joints") else "-"
        acc = f"{r['metric']} {r['accuracy']:.3f}" if r.get("accuracy") is not None else "-"
        lines.append(f"{r['backend']:<18}{r['precision']:<6}{r['status']:<14}{_num(r.get('artifact_mb'), '.2f'):>8}"
                     f"{_num(r.get('max_rel'), '.1e'):>14}{agree:>8}{_num(r.get('median_ms'), '.3f'):>11}"
                     f"{_num(r.get('p90_ms'), '.3f'):>9}{_num(r.get('threads'), 'd'):>8}{acc:>14}")
        if r["reason"]:
            notes.append(f"  {r['backend']} {r['precision']}: {r['reason']}")
    pub = []
    if size.get("published_params_m") is not None:
        pub.append(f"README {size['published_params_m']} M {'ok' if size['params_match'] else 'DIFFERS'}")
    if size.get("published_gflops") is not None:
        pub.append(f"README {size['published_gflops']} GFLOPs {'ok' if size['gflops_match'] else 'DIFFERS'}")
    lines.append(f"{model}: {size['params_m']:.3f} M params, {size['gflops']:.3f} GFLOPs at {size['input']} "
                 f"(paddle.flops: a multiply-add is 1 FLOP){'; ' + ', '.join(pub) if pub else ''}")
    lines.append("size: the artifact the runtime runs ('-': the network is built in memory from the .pdparams); "
                 "max rel diff: against Paddle dygraph FP32, relative to its largest output; latency: model scope, "
                 "batch 1")
    if weights == "random":
        lines.append("accuracy with random weights is meaningless (they predict nothing); it shows the chain runs. "
                     "Use --weights zoo or a checkpoint for real figures")
    lines.extend(notes)
    return "\n".join(lines)
