"""Latency of zoo models on each runtime: the measurement plan, one measurement, its record, and the table.

A *measurement* is one model x backend x device x precision x batch x thread count x scope. Measurements that
share everything but the scope share one loaded runtime (:func:`measure_group`). For each:

* the runtime is loaded (exporting or building the model as it needs: not timed);
* the ``model`` scope times the runtime's own call on an input already where it reads it
  (:mod:`kbench.bench.latency_runners`); the ``pipeline`` scope times one generated image through pre-processing,
  ``adapter.run`` and post-processing with the split kept (:mod:`kbench.bench.latency_pipeline`);
* the harness (:mod:`kbench.bench.timing`) warms up, then runs to a count or a time budget and keeps every
  sample; memory is taken over the warm-up and the runs: ``peak_rss_mb``, the whole process's peak resident
  memory (the interpreter, every framework kbench imported, e.g. paddle for an export or the FLOP count, and the
  loaded model), ``run_rss_mb``, what the runs add on top of what was resident before the warm-up (activations,
  workspaces, arenas), and on a GPU ``device_mem_mb``, the device memory this process holds after the runs;
* ``cpu_util`` is the CPU time over the wall time of the measured runs in the process that ran them (the Lite
  worker for Paddle Lite), as PaddleDetection's benchmark logs it: about 1 when a runtime runs one thread, more
  when it really runs several, so a thread count that was asked but not honoured shows;
* parameters and FLOPs come from :func:`kbench.runners.profile.profile_card` (the zoo README's convention,
  counted once per model and input size), so each row shows the achieved GFLOP/s.

Backends are runtimes, plus two GPU variants that the zoo's KeypointBenchmark table has as columns:
``paddle-trt`` (Paddle Inference through Paddle-TensorRT) and ``onnxruntime-trt`` (ONNX Runtime's TensorRT
provider). What a backend cannot do on a device (every fp16 on a CPU, TensorRT without a GPU) is a *skipped*
measurement with its reason, never a silent FP32 run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kbench.bench.timing import Budget, Stats
from kbench.errors import InputError

__all__ = ["Backend", "BACKENDS", "DEFAULT_BACKENDS", "SCOPES", "LATENCY_METRICS", "FLOPS_CONVENTION", "Group",
           "Skipped", "LatencyResult", "LatencyFailure", "resolve_backends", "capability", "plan",
           "model_input_size", "model_input", "count_size", "measure_group", "published_for", "published_entry",
           "published_label", "record_name", "format_table", "format_details", "format_notes"]

#: The metrics every latency record has, in this order (others may follow).
LATENCY_METRICS = ("median_ms", "mean_ms", "p90_ms", "p99_ms", "min_ms", "std_ms", "throughput")
SCOPES = ("model", "pipeline")
FLOPS_CONVENTION = ("paddle.flops, as the zoo README counts: one multiply-add = 1 FLOP (hardware FLOP/s figures "
                    "count 2)")


@dataclass(frozen=True)
class Backend:
    """A column family of the latency table: a runtime with load options."""

    name: str
    runtime: str  # a name in kbench.adapters.base.RUNTIMES
    options: tuple = ()  # (key, value) pairs passed to adapter.load
    gpu_only: bool = False
    title: str = ""


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("paddle-inference", "paddle-inference", title="Paddle Inference (oneDNN on CPU, CUDA on GPU)"),
    Backend("paddle-trt", "paddle-inference", (("tensorrt", True),), True, "Paddle Inference through Paddle-TensorRT"),
    Backend("onnxruntime", "onnxruntime", title="ONNX Runtime (CPU or CUDA provider)"),
    Backend("onnxruntime-trt", "onnxruntime", (("tensorrt", True),), True, "ONNX Runtime, TensorRT provider"),
    Backend("tensorrt", "tensorrt", gpu_only=True, title="TensorRT engine from the ONNX export"),
    Backend("torch", "torch", title="kbench's PyTorch networks"),
    Backend("paddle", "paddle", title="Paddle dygraph (the reference, not a deployment runtime)"),
    Backend("lite", "lite", title="Paddle Lite x86 (worker process)"),
)}
#: What ``kbench latency`` measures when no backend is named: the zoo's KeypointBenchmark columns.
DEFAULT_BACKENDS = {"cpu": ("paddle-inference", "onnxruntime"),
                    "gpu": ("paddle-inference", "paddle-trt", "onnxruntime", "tensorrt")}


def resolve_backends(names: Sequence[str] | None, devices: Sequence[str]) -> list[str]:
    """Backend names from the user's list (the defaults for the devices when empty); unknown names are an error."""
    if not names:
        out: list[str] = []
        for dev in devices:
            out.extend(b for b in DEFAULT_BACKENDS[dev] if b not in out)
        return out
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise InputError(f"unknown backend {unknown[0]!r}; known: {', '.join(BACKENDS)}")
    return list(dict.fromkeys(names))


def capability(backend: str, device: str, precision: str) -> tuple[bool, str]:
    """Whether a backend can run a precision on a device here, and why not; imports nothing.

    The deeper checks (an onnxruntime without the CUDA provider, a Paddle build without TensorRT) happen when
    the runtime loads and fail that measurement with their own one-line reason.
    """
    from kbench.adapters.base import RUNTIMES, runtime_status

    b = BACKENDS[backend]
    info = RUNTIMES[b.runtime]
    ok, why = runtime_status(b.runtime)
    if not ok:
        return False, why
    if device not in info.devices or (b.gpu_only and device != "gpu"):
        return False, "runs on the GPU only" if (b.gpu_only or info.devices == ("gpu",)) else \
            f"does not run on {device}"
    if precision == "fp16":
        if "fp16" not in info.precisions:
            return False, "runs fp32 only"
        if device == "cpu":
            if b.runtime == "lite":
                return False, "runs fp16 on ARM devices only (this is Paddle Lite x86)"
            return False, "runs fp16 on the GPU only (its CPU kernels are fp32)"
    return True, ""


@dataclass
class Group:
    """Measurements sharing one loaded runtime: everything but the scope."""

    card: object
    backend: str
    device: str
    precision: str
    batch: int
    threads: int | None
    scopes: tuple[str, ...]

    @property
    def label(self) -> str:
        """Short text naming the group, e.g. ``tinypose_128x96 onnxruntime cpu fp32 b1 1t``."""
        t = f" {self.threads}t" if self.threads else ""
        return f"{self.card.name} {self.backend} {self.device} {self.precision} b{self.batch}{t}"


@dataclass(frozen=True)
class Skipped:
    """A backend x device x precision that cannot be measured here, and why."""

    backend: str
    device: str
    precision: str
    why: str

    def line(self) -> str:
        """One line for the user."""
        return f"{self.backend} on {self.device} {self.precision}: {self.why}"


def plan(cards, backends: Sequence[str], devices: Sequence[str], precisions: Sequence[str], batches: Sequence[int],
         threads: Sequence[int | None], scopes: Sequence[str]) -> tuple[list[Group], list[Skipped]]:
    """Every group to measure, in table order, and the backend/device/precision combinations skipped with reasons.

    Thread counts apply to CPU runs; a GPU run is measured once with ``threads`` None.
    """
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        raise InputError(f"unknown scope {bad[0]!r}; use {' or '.join(SCOPES)}")
    skipped: list[Skipped] = []
    runnable = []
    for device in devices:
        for backend in backends:
            for precision in precisions:
                ok, why = capability(backend, device, precision)
                if ok:
                    runnable.append((backend, device, precision))
                else:
                    skipped.append(Skipped(backend, device, precision, why))
    groups = []
    for card in cards:
        for backend, device, precision in runnable:
            for batch in batches:
                for t in (threads if device == "cpu" else [None]):
                    groups.append(Group(card, backend, device, precision, int(batch), t, tuple(scopes)))
    return groups, skipped


def model_input_size(card) -> tuple[int, int]:
    """(width, height) of the model-scope input.

    The crop size (top-down), or the generated image as evaluation resizes it (bottom-up), so that both scopes
    feed the runtime the same shape.
    """
    if card.top_down:
        return int(card.input_size[0]), int(card.input_size[1])
    from kbench.bench.latency_pipeline import bottom_up_input_size

    return bottom_up_input_size(card)


def model_input(card, batch: int, seed: int = 0) -> np.ndarray:
    """The seeded float32 (batch, 3, H, W) model-scope input (standard normal, as normalised images look)."""
    w, h = model_input_size(card)
    return np.random.default_rng(seed).standard_normal((batch, 3, h, w)).astype(np.float32)


_SIZE_CACHE: dict = {}


def count_size(card) -> tuple[float | None, float | None, str]:
    """(params in millions, GFLOPs per input at the model-scope size, reason when unknown).

    Counted once per model and size in this process (it builds the Paddle network).
    """
    size = model_input_size(card)
    key = (card.name, size)
    if key not in _SIZE_CACHE:
        try:
            from kbench.runners.profile import profile_card

            counted, _ = profile_card(card, size, "random")
            _SIZE_CACHE[key] = (counted.params_m, counted.gflops, "")
        except InputError as exc:  # paddle missing (MissingBackendError) or a network that cannot be built
            _SIZE_CACHE[key] = (None, None, str(exc))
    return _SIZE_CACHE[key]


@dataclass
class LatencyResult:
    """One measurement: its statistics, samples, memory, size, and what exactly was timed."""

    group: Group
    scope: str
    stats: Stats
    samples_ns: np.ndarray
    warmup_runs: int
    timer: str
    timed: str  # what one run did
    input_size: tuple[int, int]  # (width, height) the runtime received
    budget: dict
    stage_stats: dict[str, Stats] | None = None
    peak_rss_mb: float | None = None  # the whole process's peak over warm-up and runs
    run_rss_mb: float | None = None  # that peak over the resident memory just before the warm-up
    device_mem_mb: float | None = None
    cpu_util: float | None = None  # CPU time / wall time of the measured runs, in the process that ran them
    transfer_ms: float | None = None  # Paddle Lite: median round trip of adapter.run minus the worker's own time
    params_m: float | None = None
    gflops: float | None = None  # per input, at input_size
    runtime_info: dict = field(default_factory=dict)
    pipeline: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    weights: str = "random"

    @property
    def gflops_per_s(self) -> float | None:
        """Achieved GFLOP/s (README convention) of the model scope: FLOPs of the batch over the median."""
        if self.scope != "model" or not self.gflops or self.stats.median_ms <= 0:
            return None
        return self.gflops * self.group.batch / (self.stats.median_ms / 1000.0)

    def metrics(self) -> dict:
        """The record's metrics: :data:`LATENCY_METRICS`, then spread, run count, memory, GFLOP/s, stage medians."""
        m = self.stats.metrics()
        if self.peak_rss_mb is not None:
            m["peak_rss_mb"] = self.peak_rss_mb
        if self.run_rss_mb is not None:
            m["run_rss_mb"] = self.run_rss_mb
        if self.device_mem_mb is not None:
            m["device_mem_mb"] = self.device_mem_mb
        if self.cpu_util is not None:
            m["cpu_util"] = self.cpu_util
        if self.transfer_ms is not None:
            m["transfer_ms"] = self.transfer_ms
        if self.gflops_per_s is not None:
            m["gflops_per_s"] = self.gflops_per_s
        for name, st in (self.stage_stats or {}).items():
            m[f"{name}_ms"] = st.median_ms
        return m

    def options(self) -> dict:
        """The record's options: the measurement's conditions and how it was taken."""
        g = self.group
        return {
            "model": g.card.name, "backend": g.backend, "runtime": BACKENDS[g.backend].runtime, "device": g.device,
            "precision": g.precision, "batch": g.batch, "threads": g.threads, "scope": self.scope,
            "input_size": list(self.input_size), "weights": self.weights,
            "timer": self.timer, "timed": self.timed, "warmup_runs": self.warmup_runs, "budget": self.budget,
            "runtime_version": self.runtime_info.get("version"), "runtime_info": self.runtime_info,
            "params_m": self.params_m, "gflops": self.gflops, "flops_convention": FLOPS_CONVENTION,
            "pipeline": self.pipeline or None,
            "published": [dict(published_entry(p), label=published_label(p))
                          for p in published_for(g.card, g.precision)],
            "notes": list(self.notes),
            "samples_ms": [round(float(v) / 1e6, 6) for v in self.samples_ns],
        }

    def record(self) -> dict:
        """A run record of kind ``latency`` (:func:`kbench.bench.records.make_record`)."""
        from kbench.bench.records import make_record

        return make_record("latency", self.metrics(), options=self.options())


@dataclass
class LatencyFailure:
    """A group that could not be measured: the runtime refused to load or failed while running."""

    group: Group
    reason: str


def _one_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return text if isinstance(exc, InputError) else f"{type(exc).__name__}: {text}"


def _progress(status: Callable[[str], None] | None, label: str):
    if status is None:
        return None

    def cb(phase: str, runs: int, elapsed_ns: int) -> None:
        status(f"{label}: {'warm-up' if phase == 'warmup' else 'measuring'} {runs} runs, {elapsed_ns / 1e9:.1f} s")

    return cb


def _start_memory(notes: list) -> tuple[int | None, bool]:
    """RSS now, and reset the peak to it (just before a warm-up); a refused reset is noted."""
    from kbench.bench import machine

    rss = machine.current_rss_bytes()
    ok = machine.reset_peak_rss()
    if not ok:
        notes.append("peak RSS is the process's lifetime peak (the kernel refused to reset it); run RSS unknown")
    return rss, ok


def _set_cv2_threads(threads: int | None) -> int | None:
    if threads is None:
        return None
    try:
        import cv2
    except ImportError:
        return None
    old = cv2.getNumThreads()
    cv2.setNumThreads(int(threads))
    return old


def measure_group(group: Group, budget: Budget, weights: str = "random", flip: bool = False,
                  status: Callable[[str], None] | None = None) -> list[LatencyResult]:
    """Load the group's runtime once and measure each of its scopes.

    Args:
        group: what to measure.
        budget: warm-up and measurement lengths.
        weights: ``random`` (seeded; latency does not depend on the values), ``zoo``, a path or a URL.
        flip: in the pipeline scope, also run the mirrored crops and merge (as evaluation with flip does).
        status: receives one-line progress texts (phase, runs, seconds), at most every quarter second.

    Raises:
        InputError: the runtime cannot load the model here (one line); KeyboardInterrupt passes through with the
            runtime closed.
    """
    from kbench.adapters.base import get_adapter
    from kbench.bench import machine
    from kbench.bench.latency_pipeline import build_pipeline
    from kbench.bench.latency_runners import adapter_call, check_call, model_call
    from kbench.bench.timing import measure, measure_stages

    card = group.card
    backend = BACKENDS[group.backend]
    size = model_input_size(card)
    params_m, gflops, size_why = count_size(card)
    notes = []
    if size_why:
        notes.append(f"params and FLOPs unknown: {size_why}")
    usable = machine.cpu_info().get("usable_cores") or os.cpu_count() or 1
    if group.threads and group.threads > usable:
        notes.append(f"{group.threads} threads on {usable} usable cores: oversubscribed, the figure measures "
                     f"contention too")
    load_opts = dict(backend.options)  # bottom-up engines cover the EvalAffine size range (gpu_shapes)
    if status:
        status(f"{group.label}: loading (export or build on first use)")
    adapter = get_adapter(backend.runtime)
    results = []
    used_before = machine.device_used_mb() if group.device == "gpu" else None
    try:
        adapter.load(card, weights=weights, device=group.device, precision=group.precision, batch=group.batch,
                     threads=group.threads, **load_opts)
        info = _jsonable(adapter.describe())
        if group.device == "gpu":
            gpus, _ = machine.gpu_info()
            info.setdefault("gpu", gpus[0]["name"] if gpus else None)
        for scope in group.scopes:
            label = f"{group.label} {scope}"
            scope_notes = list(notes)
            transfer_ms = None
            stage_stats, pipe_desc = None, {}
            if scope == "model":
                x = model_input(card, group.batch)
                mc = model_call(adapter, x)
                mismatch = check_call(adapter, mc, x)
                if mismatch:
                    mc = adapter_call(adapter, x, f"direct call not used: {mismatch}")
                scope_notes.extend(mc.notes)
                rss_before, can_reset = _start_memory(scope_notes)
                if mc.remote is not None:  # the runtime's own process runs the loop (Paddle Lite's worker)
                    timing = mc.remote(budget)
                    transfer_ms = _transfer_ms(mc, timing)
                    scope_notes.append(f"timed inside the runtime's worker process; adapter.run's round trip adds "
                                       f"{transfer_ms:.3f} ms (median) of transfer, reported as transfer_ms")
                else:
                    timing = measure(mc.call, budget, items=group.batch, sync=mc.sync, device_timer=mc.device_timer,
                                     progress=_progress(status, label))
                timed = mc.what
                input_size = size
            else:
                pipe = build_pipeline(adapter, card, group.batch, flip)
                old = _set_cv2_threads(group.threads if group.device == "cpu" else None)
                rss_before, can_reset = _start_memory(scope_notes)
                try:
                    st = measure_stages(pipe.stages, budget, items=group.batch, progress=_progress(status, label))
                finally:
                    if old is not None:
                        _set_cv2_threads(old)
                timing = st.total
                stage_stats = st.stage_stats()
                timed = " + ".join(name for name, _ in pipe.stages) + " of one generated image (adapter.run: host " \
                                                                      "memory in and out)"
                input_size = (pipe.model_input[3], pipe.model_input[2])
                if not card.top_down and weights == "random":
                    scope_notes.append(f"{card.name}: bottom-up grouping time depends on the heatmaps; random weights "
                                       f"give meaningless ones (every peak passes the threshold), so its "
                                       f"postprocess figure is a worst case: use --weights zoo for a "
                                       f"representative one")
                pipe_desc = dict(pipe.description, image_size=list(pipe.image_size),
                                 stages=[name for name, _ in pipe.stages],
                                 cv2_threads=group.threads if group.device == "cpu" else None)
            peak = machine.peak_rss_bytes()
            dev_mem = None
            if group.device == "gpu":
                dev_mem = machine.device_memory_mb()
                used_now = machine.device_used_mb() if dev_mem is None else None
                if dev_mem is None and used_now is not None and used_before is not None:
                    dev_mem = max(0.0, used_now - used_before)
                    scope_notes.append("GPU memory: the device's used memory grew by this much from before the load "
                                       "(nvidia-smi does not list this process: a container may see other process "
                                       "ids); exact only when nothing else runs on the GPU")
                elif dev_mem is None:
                    scope_notes.append("GPU memory unknown: nvidia-smi does not list this process (in a container "
                                       "it may see other process ids)")
            results.append(LatencyResult(
                group=group, scope=scope, stats=timing.stats, samples_ns=timing.samples_ns,
                warmup_runs=timing.warmup_runs, timer=timing.timer, timed=timed, input_size=tuple(input_size),
                budget=budget.describe(), stage_stats=stage_stats, cpu_util=timing.cpu_util, transfer_ms=transfer_ms,
                peak_rss_mb=peak / 2**20 if peak is not None else None, device_mem_mb=dev_mem,
                run_rss_mb=max(0.0, (peak - rss_before) / 2**20) if peak is not None and rss_before is not None
                and can_reset else None,
                params_m=params_m, gflops=gflops, runtime_info=info, pipeline=pipe_desc, notes=scope_notes,
                weights=weights))
    finally:
        adapter.close()
    return results


def _transfer_ms(mc, timing, runs: int = 10) -> float:
    """Median round trip of ``mc.call`` (adapter.run: input out, outputs back) minus the runtime's own median."""
    from kbench.bench.timing import Budget, measure

    round_trip = measure(mc.call, Budget(warmup_runs=1, runs=runs)).stats.median_ms
    return max(0.0, round_trip - timing.stats.median_ms)


def _jsonable(obj):
    """describe() output made JSON-safe (tuples to lists, unknown objects to their text)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


# --- published figures ---------------------------------------------------------------------------------------------

def published_for(card, precision: str = "fp32") -> list:
    """The card's published latencies of this precision (a figure without a precision counts as fp32)."""
    out = []
    for p in card.published.latencies:
        prec = p.precision or "fp32"
        if prec == precision:
            out.append(p)
    return out


def _short_hardware(text: str) -> str:
    return re.sub(r"\s*\(.*?\)", "", text).strip() or text


def published_entry(p) -> dict:
    """A published latency as a plain dict."""
    return {"ms": p.ms, "precision": p.precision, "hardware": p.hardware, "runtime": p.runtime,
            "threads": p.threads, "batch_size": p.batch_size, "source": p.source}


def published_label(p) -> str:
    """A published latency with its hardware, never to be read as a figure of this machine.

    For example ``NVIDIA T4, Paddle Inference (Python deploy) TensorRT fp16 b8: 0.8 ms``.
    """
    return f"{_short_hardware(p.hardware)}, {_published_text(p)}"


def _published_text(p) -> str:
    bits = [p.runtime]
    if p.precision:
        bits.append(p.precision)
    if p.threads:
        bits.append(f"{p.threads}t")
    if p.batch_size:
        bits.append(f"b{p.batch_size}")
    return f"{' '.join(bits)}: {p.ms:g} ms"


# --- output ------------------------------------------------------------------------------------------------------

def record_name(result: LatencyResult) -> str:
    """File name of a result's record inside a ``--record`` directory: every condition in the name."""
    g = result.group
    t = f"t{g.threads}" if g.threads else "tna"
    return f"latency-{g.card.name}-{g.backend}-{g.device}-{g.precision}-b{g.batch}-{t}-{result.scope}.json"


def _column(g: Group) -> tuple:
    return g.backend, g.device, g.precision, g.threads


def _cell(r: LatencyResult) -> str:
    return f"{r.stats.median_ms:.2f} ±{100 * r.stats.spread:.0f}%"


def format_table(results: Sequence[LatencyResult], failures: Sequence[LatencyFailure] = (),
                 machine_line: str = "") -> str:
    """The zoo's KeypointBenchmark layout: models as rows, backend/device/precision/threads as columns.

    Each cell is the median in milliseconds per run of a batch, with the IQR as a percentage of the median (the
    noise of this machine); each model's published figures follow its rows, labelled with their hardware.
    """
    cols: list[tuple] = []
    for r in list(results) + list(failures):
        c = _column(r.group)
        if c not in cols:
            cols.append(c)
    rows: list[tuple] = []
    cells: dict = {}
    info: dict = {}
    for r in results:
        key = (r.group.card.name, r.group.batch, r.scope)
        if key not in rows:
            rows.append(key)
        cells[(key, _column(r.group))] = _cell(r)
        info.setdefault(r.group.card.name, (r.params_m, r.gflops, r.group.card))
    for f in failures:
        for scope in f.group.scopes:
            key = (f.group.card.name, f.group.batch, scope)
            if key not in rows:
                rows.append(key)
            cells[(key, _column(f.group))] = "failed"
        info.setdefault(f.group.card.name, (None, None, f.group.card))
    width = max([12] + [len(c) for c in cells.values()] + [len(f"{b}") for b, *_ in cols]) + 2
    name_w = max([24] + [len(k[0]) for k in rows]) + 1
    head1 = f"{'':<{name_w}}{'':>8}{'':>6}{'':>9}{'params':>8}{'GFLOPs':>8} " + \
            "".join(f"{b:>{width}}" for b, *_ in cols)
    head2 = f"{'model':<{name_w}}{'input':>8}{'batch':>6}{'scope':>9}{'(M)':>8}{'':>8} " + \
            "".join(f"{f'{d} {p}' + (f' {t}t' if t else ''):>{width}}" for _, d, p, t in cols)
    lines = []
    if machine_line:
        lines.append(machine_line)
    lines += ["median ms per run of a batch (± IQR as % of the median: this machine's noise)", head1, head2]
    by_model: dict[str, list] = {}
    for key in rows:
        by_model.setdefault(key[0], []).append(key)
    precisions = {p for _, _, p, _ in cols}
    for model, keys in by_model.items():
        params_m, gflops, card = info[model]
        size = model_input_size(card)  # both scopes feed the runtime this shape
        for key in keys:
            _, batch, scope = key
            inp = f"{size[0]}x{size[1]}"
            pm = f"{params_m:.2f}" if params_m is not None else "-"
            gf = f"{gflops:.2f}" if gflops is not None else "-"
            line = f"{model:<{name_w}}{inp:>8}{batch:>6}{scope:>9}{pm:>8}{gf:>8} "
            line += "".join(f"{cells.get((key, c), '-'):>{width}}" for c in cols)
            lines.append(line)
        by_hw: dict[str, list[str]] = {}
        for prec in sorted(precisions):
            for p in published_for(card, prec):
                by_hw.setdefault(_short_hardware(p.hardware), []).append(_published_text(p))
        if by_hw:
            lines.append(f"{'':<4}published on other hardware (not comparable with the figures above):")
            lines.extend(f"{'':<6}{hw}: {'; '.join(texts)}" for hw, texts in by_hw.items())
    return "\n".join(lines)


def format_details(results: Sequence[LatencyResult]) -> str:
    """Every statistic of every measurement, one line each, and each pipeline's split."""
    labels = [f"{r.group.label} {r.scope}" for r in results]
    lw = max([11] + [len(t) for t in labels]) + 1

    def ms(v: float) -> str:
        return f"{v:>10.3f}" if v < 1e5 else f"{v:>10.4g}"

    head = (f"{'measurement':<{lw}}{'runs':>6}{'median':>10}{'mean':>10}{'p90':>10}{'p99':>10}{'min':>10}{'std':>10}"
            f"{'items/s':>10}{'GFLOP/s':>9}{'CPU':>6}{'RSS MB':>8}{'+runs MB':>9}")
    gpu = any(r.device_mem_mb is not None for r in results)
    if gpu:
        head += f"{'GPU MB':>8}"
    lines = [head]
    for label, r in zip(labels, results):
        s = r.stats
        gfs = f"{r.gflops_per_s:.1f}" if r.gflops_per_s is not None else "-"
        rss = f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb is not None else "-"
        run_rss = f"{r.run_rss_mb:.1f}" if r.run_rss_mb is not None else "-"
        cpu = f"{r.cpu_util:.2f}" if r.cpu_util is not None else "-"
        line = (f"{label:<{lw}}{s.runs:>6}{ms(s.median_ms)}{ms(s.mean_ms)}{ms(s.p90_ms)}{ms(s.p99_ms)}"
                f"{ms(s.min_ms)}{ms(s.std_ms)}{s.throughput:>10.4g}{gfs:>9}{cpu:>6}{rss:>8}{run_rss:>9}")
        if gpu:
            line += f"{r.device_mem_mb:>8.0f}" if r.device_mem_mb is not None else f"{'-':>8}"
        lines.append(line)
    splits = [r for r in results if r.stage_stats]
    if splits:
        lines.append("pipeline split, median ms per stage (stage medians need not add up to the total's):")
        for r in splits:
            parts = " + ".join(f"{name} {st.median_ms:.3f}" for name, st in r.stage_stats.items())
            lines.append(f"  {r.group.label}: {parts} (total {r.stats.median_ms:.3f})")
    return "\n".join(lines)


def format_notes(results: Sequence[LatencyResult], skipped: Sequence[Skipped] = (),
                 failures: Sequence[LatencyFailure] = (), roof: dict | None = None) -> str:
    """What was not measured and why, what each figure times, and the yardsticks."""
    lines = []
    for s in skipped:
        lines.append(f"not measured: {s.line()}")
    for f in failures:
        lines.append(f"failed: {f.group.label}: {f.reason}")
    seen: set = set()
    for r in results:
        for n in r.notes:
            text = f"note: {n}"
            if text not in seen:
                seen.add(text)
                lines.append(text)
    timed = {}
    for r in results:
        timed.setdefault((r.group.backend, r.scope), (r.timed, r.timer))
    for (backend, scope), (what, timer) in timed.items():
        lines.append(f"timed, {backend} {scope}: {what} [{timer}]")
    if any(r.gflops_per_s is not None for r in results):
        lines.append(f"GFLOP/s: {FLOPS_CONVENTION}")
    if roof:
        parts = ", ".join(f"{t} thread{'s' if t != 1 else ''} {v:.0f}" for t, v in roof.items() if v)
        if parts:
            lines.append(f"yardstick: numpy float32 matmul on this machine reaches {parts} GFLOP/s (same convention)")
    return "\n".join(lines)
