"""The ``latency`` runner: one :class:`~kbench.specs.LatencySpec` is one measurement and one record.

Specs that differ only in their scope can share one loaded runtime (:func:`run_latency_specs`), as ``kbench
latency --scope both`` does. What a backend cannot do on a device (fp16 on a CPU, TensorRT without a GPU) is
an :class:`~kbench.errors.InputError` naming the backend and the reason, never a silent FP32 run.

A spec with ``profile`` also gets a per-operator table from the runtime's own profiler
(:func:`kbench.bench.op_profile.profile_group`), taken after the timed runs on a separate load with the profiler on:
it is the record's ``options["profile"]`` (and ``outputs["profile"]``), and the timed figures stay unprofiled.
"""

from __future__ import annotations

from collections.abc import Sequence

from kbench.errors import InputError
from kbench.runners.record import Record, spec_record

__all__ = ["run_latency", "run_latency_specs", "group_of", "share_a_load", "yardstick"]

_YARDSTICK: dict = {}


def yardstick(threads: int) -> float | None:
    """The numpy float32 matmul GFLOP/s of this machine at ``threads`` (measured once per process)."""
    if threads not in _YARDSTICK:
        from kbench.bench import machine

        _YARDSTICK[threads] = machine.matmul_rate(threads)
    return _YARDSTICK[threads]


def group_of(specs: Sequence):
    """The :class:`kbench.bench.latency.Group` measuring ``specs`` (which must share all but the scope)."""
    from kbench.bench.latency import Group
    from kbench.cards import get_card

    first = specs[0]
    if not share_a_load(specs):
        raise ValueError("latency specs measured on one load must differ in their scope only")
    return Group(get_card(first.model), first.backend, first.device, first.precision, first.batch, first.threads,
                 tuple(s.scope for s in specs))


def share_a_load(specs: Sequence) -> bool:
    """Whether these specs differ in their scope only (and so can be measured on one loaded runtime)."""
    from dataclasses import replace

    first = replace(specs[0], scope="model")
    return len({s.scope for s in specs}) == len(specs) and all(replace(s, scope="model") == first for s in specs)


def run_latency(spec, progress=None) -> Record:
    """Measure one :class:`~kbench.specs.LatencySpec`."""
    return run_latency_specs([spec], progress)[0]


def run_latency_specs(specs: Sequence, progress=None) -> list[Record]:
    """Measure specs that differ only in their scope on one loaded runtime; one record per spec, in order.

    ``record.outputs["result"]`` is the :class:`kbench.bench.latency.LatencyResult` (the tables are drawn from it).
    ``progress`` receives the harness's phase texts as the notes of one ``latency`` task.
    """
    from kbench.bench.latency import capability, measure_group

    group = group_of(specs)
    first = specs[0]
    ok, why = capability(first.backend, first.device, first.precision)
    if not ok:
        raise InputError(f"{first.backend} on {first.device} {first.precision}: {why}")
    if first.device == "gpu":
        from kbench.bench import machine

        has_gpu, gpu_why = machine.gpu_available()
        if not has_gpu:
            raise InputError(f"--device gpu: no GPU on this machine ({gpu_why}); use --device cpu")
    status = None
    if progress is not None:
        from kbench.progress import ProgressEvent

        def status(text: str) -> None:
            progress(ProgressEvent("latency", 0, None, "measurement", text))

    measured = measure_group(group, first.budget(), first.weights, first.flip, status=status)
    profile = None
    if any(s.profile for s in specs):  # after the timed runs, on a load of its own: the timings stay unprofiled
        from kbench.bench.op_profile import profile_counts, profile_group

        runs, warmup = profile_counts(first.runs, first.warmup)
        profile = profile_group(group, first.weights, runs, warmup, status=status).to_dict()
    roof = {}
    if first.yardstick and first.device == "cpu" and first.threads:
        roof[str(first.threads)] = yardstick(first.threads)
    records = []
    for spec, result in zip(specs, measured):
        options = result.options()
        if roof:
            options["yardstick_matmul_gflops"] = roof
        outputs = {"result": result}
        summary = f"{group.label} {spec.scope}: {result.stats.median_ms:.3f} ms median"
        if spec.profile and profile is not None:
            from kbench.bench.op_profile import format_profile

            options["profile"] = outputs["profile"] = profile
            summary += "\n" + format_profile(profile, group.label)
        records.append(spec_record(spec, result.metrics(), options=options, summary=summary, outputs=outputs))
    return records
