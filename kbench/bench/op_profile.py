"""Per-operator time from each runtime's own profiler: ``kbench latency --profile``.

A profile answers *why* a runtime is slow: which operator types (and, where the runtime names them, which nodes)
take the time of one model call. It is taken on a **separate load** of the runtime, after the timed runs and with
the profiler on only there, because every profiler inflates latency: the timed figures of a record stay unprofiled.
The profiled call is the model scope's call (:mod:`kbench.bench.latency_runners`), on the same seeded input.

========================  ==========================================================================================
runtime                   profiler
========================  ==========================================================================================
onnxruntime               ``SessionOptions.enable_profiling`` on a second session with the timed session's options
                          and providers; ``end_profiling()`` writes a chrome trace whose ``Node`` events carry each
                          node's ``op_name`` and duration (µs); runs are told apart by the ``model_run`` events
paddle-inference          ``paddle.profiler.Profiler`` around ``predictor.run()``: the outermost ``Operator`` events
                          (``Config.enable_profile()`` only prints a table to the C++ stdout when the predictor is
                          destroyed, counts the warm-up and the parameter loading in, and writes ``profile.log`` into
                          the working directory, so it is not used)
paddle (dygraph)          ``paddle.profiler.Profiler`` around ``net(x)``: the outermost ``Operator`` events
torch                     ``torch.profiler.profile`` and ``key_averages()``: self time per ``aten`` op (nested ops are
                          not counted twice)
tensorrt                  ``IExecutionContext.profiler`` (an ``IProfiler`` whose ``report_layer_time`` TensorRT calls
                          per layer and run); layer types from the engine inspector, else from the layer names
lite                      refused: the x86 ``paddlelite`` wheel is built without Paddle Lite's profiler
========================  ==========================================================================================

Times are aggregated by operator type (calls, total ms, mean ms per call, ms per run, share of the summed operator
time) and, where nodes have names, per node. The record keeps the whole table under ``options["profile"]``
(:meth:`OpProfile.to_dict`); :func:`format_profile` prints it. Standard library only at import time.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from kbench.errors import InputError

__all__ = ["OpProfile", "PROFILERS", "NO_PROFILER", "PROFILE_RUNS", "MAX_PROFILE_RUNS", "PROFILE_WARMUP",
           "PROFILE_NOTE", "check_profile", "profile_counts", "profile_group", "profile_adapter", "parse_ort_trace",
           "paddle_op_times", "torch_op_times", "tensorrt_layer_times", "tensorrt_layer_type", "format_profile"]

#: Profiled runs when the measurement gives no run count, the most ever profiled, and the warm-up before them.
PROFILE_RUNS = 10
MAX_PROFILE_RUNS = 100
PROFILE_WARMUP = 2
#: Operator types printed by :func:`format_profile`, and nodes kept in the record.
TOP_OPS = 15
TOP_NODES = 20
PROFILE_NOTE = ("profiled runs are separate from the timed runs (a second load of the runtime with its profiler "
                "on): profilers inflate latency, so the record's timed figures come from unprofiled runs")

#: The profiler each runtime is profiled with.
PROFILERS = {
    "onnxruntime": "onnxruntime SessionOptions.enable_profiling (chrome trace, Node events)",
    "paddle-inference": "paddle.profiler.Profiler around predictor.run() (outermost Operator events)",
    "paddle": "paddle.profiler.Profiler around net(x) (outermost Operator events)",
    "torch": "torch.profiler.profile key_averages() (self time per op)",
    "tensorrt": "TensorRT IExecutionContext.profiler (IProfiler.report_layer_time per layer)",
}
#: Runtimes whose profiler cannot be used here, and why.
NO_PROFILER = {
    "lite": "the paddlelite x86 wheel is built without Paddle Lite's profiler (that needs a build with "
            "--with_profile=ON) and its Python API has no per-operator timing",
}


def check_profile(runtime: str, backend: str | None = None) -> None:
    """Raise the one-line InputError of ``--profile`` on a runtime whose profiler cannot be used; imports nothing."""
    if runtime in PROFILERS:
        return
    why = NO_PROFILER.get(runtime, "kbench knows no profiler for it")
    raise InputError(f"--profile: {backend or runtime} cannot be profiled: {why}")


def profile_counts(runs: int | None, warmup: str | None) -> tuple[int, int]:
    """(profiled runs, warm-up runs) for a measurement of ``runs`` runs (None: a time budget) and its warm-up text.

    The measurement's run count (at most :data:`MAX_PROFILE_RUNS`), else :data:`PROFILE_RUNS`; its warm-up when
    given as a number of runs (at most 10), else :data:`PROFILE_WARMUP`.
    """
    n = min(int(runs), MAX_PROFILE_RUNS) if runs else PROFILE_RUNS
    w = PROFILE_WARMUP
    text = str(warmup or "").strip()
    if text.isdigit():
        w = min(int(text), 10)
    return n, w


# --- the table -------------------------------------------------------------------------------------------------

#: One measured entry: (operator type, node name or None, calls, total microseconds).
OpTime = tuple


@dataclass
class OpProfile:
    """Per-operator time of ``runs`` profiled runs, aggregated by operator type (and per node where named)."""

    runtime: str
    profiler: str
    runs: int
    warmup_runs: int
    time: str  # what an operator's time is, e.g. "self CPU time"
    ops: list[dict]  # op, calls, total_ms, mean_ms, per_run_ms, share_pct; by total time, largest first
    nodes: list[dict] = field(default_factory=list)  # the same per node (op, node, ...), top TOP_NODES
    total_ms: float = 0.0  # summed operator time over the profiled runs
    run_ms: float | None = None  # median wall time of one profiled run, profiler on
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_times(cls, times: Iterable[OpTime], *, runtime: str, runs: int, warmup_runs: int, time: str,
                   profiler: str | None = None, run_ms: float | None = None, notes: Sequence[str] = (),
                   top_nodes: int = TOP_NODES) -> OpProfile:
        """Aggregate measured entries; an empty or zero-time profile is one InputError line."""
        by_op: dict[str, list] = {}
        by_node: dict[tuple, list] = {}
        for op, node, calls, us in times:
            us = float(us)
            if not math.isfinite(us) or us < 0:
                continue
            slot = by_op.setdefault(str(op), [0, 0.0])
            slot[0] += int(calls)
            slot[1] += us
            if node:
                nslot = by_node.setdefault((str(op), str(node)), [0, 0.0])
                nslot[0] += int(calls)
                nslot[1] += us
        total_us = sum(v[1] for v in by_op.values())
        if not by_op or total_us <= 0:
            used = profiler or PROFILERS.get(runtime)
            raise InputError(f"{runtime}: its profiler reported no operator time ({used})")
        runs = max(int(runs), 1)

        def row(calls: int, us: float) -> dict:
            return {"calls": calls, "total_ms": round(us / 1e3, 6), "mean_ms": round(us / 1e3 / max(calls, 1), 6),
                    "per_run_ms": round(us / 1e3 / runs, 6), "share_pct": round(100.0 * us / total_us, 4)}

        ops = [{"op": op, **row(c, us)} for op, (c, us) in sorted(by_op.items(), key=lambda kv: (-kv[1][1], kv[0]))]
        nodes = [{"op": op, "node": node, **row(c, us)}
                 for (op, node), (c, us) in sorted(by_node.items(), key=lambda kv: (-kv[1][1], kv[0]))[:top_nodes]]
        return cls(runtime=runtime, profiler=profiler or PROFILERS.get(runtime, runtime), runs=runs,
                   warmup_runs=int(warmup_runs), time=time, ops=ops, nodes=nodes, total_ms=round(total_us / 1e3, 6),
                   run_ms=None if run_ms is None else round(float(run_ms), 6), notes=list(notes))

    @property
    def op_ms_per_run(self) -> float:
        """Summed operator time of one run."""
        return self.total_ms / max(self.runs, 1)

    def to_dict(self) -> dict:
        """The record's ``options["profile"]``."""
        return {"runtime": self.runtime, "profiler": self.profiler, "runs": self.runs,
                "warmup_runs": self.warmup_runs, "separate_from_timing": True, "note": PROFILE_NOTE,
                "time": self.time, "unit": "ms", "total_ms": self.total_ms,
                "op_ms_per_run": round(self.op_ms_per_run, 6), "profiled_run_ms": self.run_ms,
                "ops": self.ops, "nodes": self.nodes, "notes": self.notes}

    @classmethod
    def from_dict(cls, data: dict) -> OpProfile:
        """Back from a record's ``options["profile"]`` (a malformed one is one InputError line)."""
        try:
            return cls(runtime=str(data["runtime"]), profiler=str(data["profiler"]), runs=int(data["runs"]),
                       warmup_runs=int(data.get("warmup_runs", 0)), time=str(data.get("time", "")),
                       ops=[dict(o) for o in data["ops"]], nodes=[dict(n) for n in data.get("nodes") or []],
                       total_ms=float(data["total_ms"]), run_ms=data.get("profiled_run_ms"),
                       notes=list(data.get("notes") or []))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a kbench operator profile ({type(exc).__name__}: {exc})") from None


def format_profile(profile: OpProfile | dict, label: str = "", top: int = TOP_OPS, top_nodes: int = 10) -> str:
    """The top operator types by total time (and the top nodes where the runtime names them), as text."""
    p = profile if isinstance(profile, OpProfile) else OpProfile.from_dict(profile)
    lines = [f"per-operator profile{', ' + label if label else ''}: {p.profiler}",
             f"  {p.runs} profiled runs after {p.warmup_runs} warm-up runs, on a separate load with the profiler on "
             f"(profilers inflate latency: the timed figures are unprofiled)",
             f"  operator time per run {p.op_ms_per_run:.3f} ms ({p.time})"
             + (f"; a profiled run took {p.run_ms:.3f} ms (median, profiler on)" if p.run_ms is not None else "")]
    width = max([7] + [len(o["op"]) for o in p.ops[:top]]) + 2
    lines.append(f"  {'op type':<{width}}{'calls':>8}{'total ms':>11}{'mean ms':>10}{'ms/run':>9}{'share':>8}")
    for o in p.ops[:top]:
        lines.append(f"  {o['op']:<{width}}{o['calls']:>8}{o['total_ms']:>11.3f}{o['mean_ms']:>10.4f}"
                     f"{o['per_run_ms']:>9.3f}{o['share_pct']:>7.1f}%")
    rest = p.ops[top:]
    if rest:
        lines.append(f"  ({len(rest)} more op types: {sum(o['share_pct'] for o in rest):.1f}%)")
    if p.nodes and top_nodes:
        nodes = p.nodes[:top_nodes]
        names = [n["node"] if len(n["node"]) <= 60 else n["node"][:57] + "..." for n in nodes]
        nw = max([4] + [len(t) for t in names]) + 2
        ow = max([7] + [len(n["op"]) for n in nodes]) + 2
        lines.append("  top nodes by total time:")
        lines.append(f"  {'node':<{nw}}{'op type':<{ow}}{'calls':>8}{'total ms':>11}{'ms/run':>9}{'share':>8}")
        for name, n in zip(names, nodes):
            lines.append(f"  {name:<{nw}}{n['op']:<{ow}}{n['calls']:>8}{n['total_ms']:>11.3f}{n['per_run_ms']:>9.3f}"
                         f"{n['share_pct']:>7.1f}%")
    lines.extend(f"  note: {n}" for n in p.notes)
    return "\n".join(lines)


# --- running a profile ----------------------------------------------------------------------------------------------

def profile_group(group, weights: str = "random", runs: int = PROFILE_RUNS, warmup: int = PROFILE_WARMUP,
                  status: Callable[[str], None] | None = None) -> OpProfile:
    """Load the group's runtime again (apart from the timed load) and profile its model call.

    ``group`` is a :class:`kbench.bench.latency.Group`; the runtime loads with the options the timed measurement
    used. A runtime without a usable profiler is one InputError line.
    """
    from kbench.adapters.base import get_adapter
    from kbench.bench.latency import BACKENDS, model_input

    card, backend = group.card, BACKENDS[group.backend]
    check_profile(backend.runtime, group.backend)
    load_opts = dict(backend.options)  # as the timed load (bottom-up engines cover the EvalAffine size range)
    if status:
        status(f"{group.label}: profiling {runs} runs (a separate load, profiler on)")
    adapter = get_adapter(backend.runtime)
    try:
        adapter.load(card, weights=weights, device=group.device, precision=group.precision, batch=group.batch,
                     threads=group.threads, **load_opts)
        return profile_adapter(adapter, model_input(card, group.batch), runs, warmup)
    finally:
        adapter.close()


def profile_adapter(adapter, x, runs: int = PROFILE_RUNS, warmup: int = PROFILE_WARMUP) -> OpProfile:
    """Profile ``runs`` model calls of a loaded adapter on input ``x`` (after ``warmup`` calls)."""
    name = getattr(adapter, "name", "?")
    check_profile(name)
    gpu = getattr(adapter, "device", "cpu") == "gpu"
    if name == "onnxruntime":
        return _profile_ort(adapter, x, runs, warmup)
    from kbench.bench.latency_runners import model_call

    mc = model_call(adapter, x)
    if name == "tensorrt":
        import tensorrt as trt
        import torch

        times, run_ms = tensorrt_layer_times(trt, adapter.context, adapter.engine, mc.call, torch.cuda.synchronize,
                                             runs, warmup)
        return OpProfile.from_times(times, runtime=name, runs=runs, warmup_runs=warmup, run_ms=run_ms,
                                    time="GPU time per layer from TensorRT's own layer timing, fused layers as built",
                                    notes=mc.notes)
    sync = mc.sync
    if gpu and sync is None:  # torch and tensorrt time on the device; the profiled loop waits for it on the host
        import torch

        sync = torch.cuda.synchronize
    if name in ("paddle-inference", "paddle"):
        times, run_ms = paddle_op_times(mc.call, sync, runs, warmup, gpu)
        what = "GPU kernel time of each outermost operator" if gpu else "CPU time of each outermost operator"
        return OpProfile.from_times(times, runtime=name, runs=runs, warmup_runs=warmup, run_ms=run_ms,
                                    time=what + ", its inner steps and nested ops included", notes=mc.notes)
    if name == "torch":
        times, run_ms = torch_op_times(mc.call, sync, runs, warmup, gpu)
        what = "self CUDA time per op" if gpu else "self CPU time per op"
        return OpProfile.from_times(times, runtime=name, runs=runs, warmup_runs=warmup, run_ms=run_ms,
                                    time=what + ": a nested op's time counts once, in the innermost",
                                    notes=mc.notes)
    raise InputError(f"--profile: {name} cannot be profiled: kbench knows no profiler for it")  # pragma: no cover


def _loop(call: Callable, sync: Callable | None, n: int, after: Callable | None = None) -> list[float]:
    """Run ``call`` n times (waiting for the device), calling ``after`` after each; the wall ms of each."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        call()
        if sync is not None:
            sync()
        out.append((time.perf_counter_ns() - t0) / 1e6)
        if after is not None:
            after()
    return out


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class _OrtView:
    """A profiled ONNX Runtime session dressed as the adapter, for the model scope's call (io binding)."""

    session: object
    device: str
    device_id: int
    name: str = "onnxruntime"


def _profile_ort(adapter, x, runs: int, warmup: int) -> OpProfile:
    import onnxruntime as ort

    from kbench.bench.latency_runners import model_call

    timed = adapter.session
    so = timed.get_session_options()  # the timed session's options (threads, optimisation level, arena, ...)
    so.enable_profiling = True
    providers = timed.get_providers()
    provider_options = timed.get_provider_options()
    with tempfile.TemporaryDirectory(prefix="kbench-ort-profile-") as tmp:
        so.profile_file_prefix = os.path.join(tmp, "ort")
        try:
            session = ort.InferenceSession(str(adapter.model_path), so, providers=providers,
                                           provider_options=[provider_options.get(p, {}) for p in providers])
        except Exception as exc:  # ORT's own exception types; one line for the user
            first = (str(exc).strip().splitlines() or [""])[0]
            raise InputError(f"onnxruntime: cannot create the profiling session: {first[:300]}") from None
        view = _OrtView(session, adapter.device, int(getattr(adapter, "device_id", 0) or 0))
        mc = model_call(view, x)
        call, notes = mc.call, list(mc.notes)
        if notes:  # no io-binding call could be made: profile session.run instead
            import numpy as np

            inp = session.get_inputs()[0]
            feed = {inp.name: np.ascontiguousarray(x, dtype=np.float16 if inp.type == "tensor(float16)"
                                                   else np.float32)}
            names = [o.name for o in session.get_outputs()]

            def call():
                session.run(names, feed)

            notes.append("profiled session.run (host arrays in and out)")
        wall = _loop(call, mc.sync, warmup + runs)[warmup:]
        path = session.end_profiling()
        try:
            with open(path, encoding="utf-8") as fh:
                events = json.load(fh)
        except (OSError, ValueError) as exc:
            raise InputError(f"onnxruntime: cannot read its profile {path}: {exc}") from None
    times, profiled = parse_ort_trace(events, warmup)
    if profiled is not None and profiled != runs:
        notes.append(f"the trace holds {profiled} runs after the warm-up, {runs} were made")
    return OpProfile.from_times(times, runtime="onnxruntime", runs=profiled or runs, warmup_runs=warmup,
                                run_ms=_median(wall), notes=notes,
                                time="each node's kernel wall time from ORT's Node events, summed per op_name")


def parse_ort_trace(events, warmup: int = 0) -> tuple[list[OpTime], int | None]:
    """The node times of an ONNX Runtime profile (chrome-trace JSON, a list of events), without the first
    ``warmup`` runs; and how many runs were kept (None when the trace marks no runs).

    Node events (``cat`` ``Node``, names ending ``_kernel_time``) carry ``dur`` in microseconds and
    ``args.op_name``; ``model_run`` session events mark each run, so nodes are assigned to runs by their start.
    """
    if isinstance(events, dict):
        events = events.get("traceEvents", [])
    if not isinstance(events, list):
        raise InputError("onnxruntime profile: not a list of trace events")
    runs = sorted((e for e in events if isinstance(e, dict) and e.get("name") == "model_run" and "ts" in e),
                  key=lambda e: e["ts"])
    starts = [float(e["ts"]) for e in runs]
    out: list[OpTime] = []
    import bisect

    for e in events:
        if not isinstance(e, dict) or e.get("cat") != "Node" or "dur" not in e:
            continue
        name = str(e.get("name", ""))
        if not name.endswith("_kernel_time"):
            continue  # fence events (older ORT) measure no work
        if runs:
            index = bisect.bisect_right(starts, float(e.get("ts", 0))) - 1
            if index < warmup:
                continue
        args = e.get("args") or {}
        out.append((args.get("op_name") or name, name[:-len("_kernel_time")], 1, float(e["dur"])))
    return out, (max(0, len(runs) - warmup) if runs else None)


def _paddle_op_name(name: str) -> str:
    for suffix in (" compute", " dygraph", " pybind_imperative_func"):
        name = name.replace(suffix, "")
    return name.strip()


def paddle_op_times(call: Callable, sync: Callable | None, runs: int, warmup: int,
                    gpu: bool = False) -> tuple[list[OpTime], float | None]:
    """Operator times of ``runs`` calls under ``paddle.profiler`` (after ``warmup`` unprofiled calls), and the
    median wall ms of a profiled call.

    Each outermost ``Operator`` event counts once with its whole duration (its ``prepare_data``/``infer_shape``/
    ``compute`` steps and any op nested in it are inside), so the summed time is the time spent in operators.
    On the GPU, an operator's time is the kernel time of everything it launched.
    """
    import paddle.profiler as profiler
    from paddle.profiler import TracerEventType

    _loop(call, sync, warmup)
    targets = [profiler.ProfilerTarget.CPU] + ([profiler.ProfilerTarget.GPU] if gpu else [])
    prof = profiler.Profiler(targets=targets, on_trace_ready=lambda p: None)  # default: a trace in ./profiler_log
    prof.start()
    try:
        wall = _loop(call, sync, runs, prof.step)
    finally:
        prof.stop()
    times: list[OpTime] = []

    def kernel_ns(node) -> int:
        total = 0
        for rt in getattr(node, "runtime_node", []) or []:
            total += sum(d.end_ns - d.start_ns for d in rt.device_node if d.type == TracerEventType.Kernel)
        total += sum(d.end_ns - d.start_ns for d in getattr(node, "device_node", []) or []
                     if d.type == TracerEventType.Kernel)
        return total + sum(kernel_ns(c) for c in node.children_node)

    stack = list(prof.profiler_result.get_data().values())
    while stack:
        node = stack.pop()
        if node.type == TracerEventType.Operator:
            ns = kernel_ns(node) if gpu else node.end_ns - node.start_ns
            times.append((_paddle_op_name(node.name), None, 1, ns / 1e3))
            continue  # nested operators are inside this one's time
        stack.extend(node.children_node)
    return times, _median(wall)


class _QuietStderr:
    """File descriptor 2 into a temporary file for a moment (libkineto prints a line per profiler start/stop)."""

    def __enter__(self):
        import sys

        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
            self._tmp = tempfile.TemporaryFile()
            os.dup2(self._tmp.fileno(), 2)
        except (OSError, ValueError):
            self._saved = None
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._tmp.close()


def torch_op_times(call: Callable, sync: Callable | None, runs: int, warmup: int,
                   gpu: bool = False) -> tuple[list[OpTime], float | None]:
    """Self time per op of ``runs`` calls under ``torch.profiler`` (``key_averages()``), after ``warmup`` calls,
    and the median wall ms of a profiled call. Self times add up: an op's children are not in its own time."""
    from torch.profiler import ProfilerActivity, profile

    _loop(call, sync, warmup)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    prof = profile(activities=activities)
    with _QuietStderr():
        prof.__enter__()
    try:
        wall = _loop(call, sync, runs)
    finally:
        with _QuietStderr():
            prof.__exit__(None, None, None)
    times: list[OpTime] = []
    for e in prof.key_averages():
        if gpu:
            if str(getattr(e, "device_type", "CPU")).rsplit(".", 1)[-1] != "CPU":
                continue  # kernel rows repeat the device time their launching op already has
            us = getattr(e, "self_device_time_total", None)
            if us is None:
                us = getattr(e, "self_cuda_time_total", 0.0)
        else:
            us = e.self_cpu_time_total
        if us > 0:
            times.append((e.key, None, int(e.count), float(us)))
    return times, _median(wall)


def tensorrt_layer_times(trt, context, engine, call: Callable, sync: Callable | None, runs: int,
                         warmup: int) -> tuple[list[OpTime], float | None]:
    """Layer times of ``runs`` calls from TensorRT's ``IProfiler`` (set on ``context`` after ``warmup`` calls).

    TensorRT reports each layer of each run (``report_layer_time(layer_name, ms)``) once the run is complete;
    layer types come from the engine inspector where the engine was built with detailed profiling verbosity,
    else from the layer names (:func:`tensorrt_layer_type`).
    """
    reported: list[tuple[str, float]] = []

    class _Layers(trt.IProfiler):
        def __init__(self):
            trt.IProfiler.__init__(self)

        def report_layer_time(self, layer_name, ms):
            reported.append((str(layer_name), float(ms)))

    _loop(call, sync, warmup)
    profiler = _Layers()
    context.profiler = profiler
    wall = _loop(call, sync, runs)
    types = _tensorrt_inspected_types(trt, engine)
    times = [(types.get(name) or tensorrt_layer_type(name), name, 1, ms * 1e3) for name, ms in reported]
    return times, _median(wall)


def _tensorrt_inspected_types(trt, engine) -> dict[str, str]:
    try:
        inspector = engine.create_engine_inspector()
        fmt = trt.LayerInformationFormat.JSON
        count = int(engine.num_layers)
    except AttributeError:
        return {}
    out = {}
    for i in range(count):
        try:
            info = json.loads(inspector.get_layer_information(i, fmt))
        except (ValueError, TypeError):
            continue
        if isinstance(info, dict) and info.get("Name") and info.get("LayerType"):
            out[str(info["Name"])] = str(info["LayerType"])
    return out


def tensorrt_layer_type(name: str) -> str:
    """An operator type from a TensorRT layer name: the ONNX node types it fused, e.g. ``Conv+Relu``.

    Layer names are the ONNX node names TensorRT's parser gave them, joined by ``+`` where layers were fused
    (``/stage1/conv/Conv + /stage1/Relu``, ``p2o.pd_op.conv2d.3 + p2o.pd_op.relu.3``, ``PWN(...)``);
    ``Reformatting CopyNode ...`` layers are TensorRT's own format conversions.
    """
    text = str(name).strip()
    if text.lower().startswith("reformatting"):
        return "Reformat"
    text = re.sub(r"^(PWN|ForeignNode)\((.*)\)$", r"\2", text)
    kinds = []
    for part in re.split(r"\s*\+\s*|,\s*", text):
        part = re.sub(r"^(PWN|ForeignNode)\(|[()\[\]{}]", "", part.strip())
        if not part:
            continue
        m = re.search(r"pd_op\.([A-Za-z0-9_]+)", part)
        kind = m.group(1) if m else part.rsplit("/", 1)[-1]
        kind = re.sub(r"([._:]\d+)+$", "", kind) or kind
        if kind not in kinds:
            kinds.append(kind)
    return "+".join(kinds) or text
