"""The timing harness: warm-up kept apart, repeated runs to a count or a time budget, every sample kept.

:func:`measure` times one callable; :func:`measure_stages` times a chain of callables (pre-processing, model,
post-processing) and keeps each stage's split. Both:

* run a warm-up (a count, or seconds with at least two runs) whose durations are kept out of the figures;
* then run until a count of runs, or until a time budget is spent (with a minimum count so that a slow model
  still gets a spread, and a maximum so that a fast one does not fill memory);
* keep every per-run duration in nanoseconds (``time.perf_counter_ns``), and derive the statistics lazily
  (:class:`Stats`: median, mean, p90, p99, min, max, standard deviation, IQR, outliers, throughput);
* pause Python's cyclic garbage collector while timing (a collection inside a run would land in one sample);
* synchronise a device *after* the call and before the clock stops when given ``sync`` (a GPU runtime that
  returns before its work is done), or time with a ``device_timer`` (CUDA events around the call, waited for
  after the end event is recorded, outside the measured region);
* report progress through a callback at most every quarter second, so a progress bar costs nothing per run;
* read the process's CPU time (all its threads, ``time.process_time_ns``) before and after the measured runs, so
  that ``cpu_ns / wall_ns`` is the CPU utilisation PaddleDetection's benchmark logs as ``cpu_util``: about 1 for
  a runtime that really runs one thread, more when it runs several (two reads per measurement, none per run).

The per-run bookkeeping is two clock reads, one list append and two comparisons: well under a microsecond,
which ``tests/benchmarks/test_bench_latency_overhead.py`` holds to within 2 % of a bare loop.
Ctrl-C (KeyboardInterrupt) propagates at once, with the collector re-enabled.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kbench.errors import InputError

__all__ = ["Budget", "Stats", "Timing", "StageTiming", "DeviceTimer", "measure", "measure_stages",
           "PROGRESS_INTERVAL_S"]

#: Shortest interval between two progress callbacks.
PROGRESS_INTERVAL_S = 0.25


@dataclass(frozen=True)
class Budget:
    """How long to warm up and how long to measure.

    Exactly one of ``warmup_runs`` / ``warmup_seconds`` and one of ``runs`` / ``seconds`` is used; when both are
    given the count wins.
    """

    warmup_runs: int | None = None  # a fixed number of warm-up runs
    warmup_seconds: float | None = 1.0  # warm up for this long (at least ``min_warmup_runs`` runs)
    runs: int | None = None  # a fixed number of measured runs
    seconds: float | None = 3.0  # measure for this long (at least ``min_runs``, at most ``max_runs`` runs)
    min_runs: int = 10  # a time budget never yields fewer samples than this
    max_runs: int = 1_000_000  # nor more than this (a microsecond model would otherwise fill memory)
    min_warmup_runs: int = 2  # the first run builds kernels and caches; the second shows whether that is over

    def __post_init__(self):
        """Check the numbers: one clear line for a bad one."""
        for name in ("warmup_runs", "runs"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "warmup_runs"
                                                                                          else 1)):
                raise InputError(f"{name} must be a whole number >= {0 if name == 'warmup_runs' else 1}, got {v!r}")
        for name in ("warmup_seconds", "seconds"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise InputError(f"{name} must be a finite number of seconds >= 0, got {v!r}")
        if self.runs is None and self.seconds is None:
            raise InputError("give a number of runs or a time budget in seconds")
        if self.min_runs < 1 or self.max_runs < self.min_runs:
            raise InputError(f"min_runs ({self.min_runs}) must be >= 1 and <= max_runs ({self.max_runs})")

    def describe(self) -> dict:
        """The budget as a record's ``options`` show it."""
        warm = {"runs": self.warmup_runs} if self.warmup_runs is not None else {"seconds": self.warmup_seconds,
                                                                                   "min_runs": self.min_warmup_runs}
        meas = {"runs": self.runs} if self.runs is not None else {"seconds": self.seconds, "min_runs": self.min_runs,
                                                                    "max_runs": self.max_runs}
        return {"warmup": warm, "measure": meas}


@dataclass(frozen=True)
class Stats:
    """Statistics of one set of per-run durations (milliseconds) and the throughput they imply.

    ``throughput`` is items per second sustained over the measured runs (``items / mean``): the rate a loop of
    these calls achieves, which the mean (not the median) governs. ``outliers`` counts runs outside
    1.5 IQR of the quartiles (Tukey's fences), as pytest-benchmark reports them.
    """

    runs: int
    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    std_ms: float
    iqr_ms: float
    outliers: int
    throughput: float
    items: int = 1

    @classmethod
    def from_ns(cls, samples_ns, items: int = 1) -> Stats:
        """Statistics of durations in nanoseconds; ``items`` is what one run processes (the batch size)."""
        s = np.asarray(samples_ns, dtype=np.float64) / 1e6
        if s.size == 0:
            raise ValueError("no samples to summarise")
        q1, med, q3, p90, p99 = np.percentile(s, [25, 50, 75, 90, 99])
        iqr = q3 - q1
        mean = float(s.mean())
        outliers = int(np.count_nonzero((s < q1 - 1.5 * iqr) | (s > q3 + 1.5 * iqr)))
        return cls(runs=int(s.size), median_ms=float(med), mean_ms=mean, p90_ms=float(p90), p99_ms=float(p99),
                   min_ms=float(s.min()), max_ms=float(s.max()), std_ms=float(s.std(ddof=1)) if s.size > 1 else 0.0,
                   iqr_ms=float(iqr), outliers=outliers,
                   throughput=items * 1000.0 / mean if mean > 0 else float("inf"), items=int(items))

    @property
    def spread(self) -> float:
        """IQR relative to the median: the noise figure shown beside a median (0.05 = 5 %)."""
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else 0.0

    def metrics(self) -> dict:
        """The record's latency metrics: ``median_ms mean_ms p90_ms p99_ms min_ms std_ms throughput`` and extras."""
        return {"median_ms": self.median_ms, "mean_ms": self.mean_ms, "p90_ms": self.p90_ms, "p99_ms": self.p99_ms,
                "min_ms": self.min_ms, "std_ms": self.std_ms, "throughput": self.throughput,
                "max_ms": self.max_ms, "iqr_ms": self.iqr_ms, "runs": float(self.runs)}


@dataclass
class Timing:
    """What :func:`measure` measured: the samples behind the figures, and how they were taken."""

    samples_ns: np.ndarray  # per measured run; device time when a device timer was used
    warmup_runs: int
    warmup_ns: int  # wall time of the warm-up
    wall_ns: int  # wall time of the measured runs, bookkeeping included
    timer: str  # "perf_counter_ns", "perf_counter_ns + sync" or the device timer's name
    items: int = 1
    host_samples_ns: np.ndarray | None = None  # with a device timer: the host's view of each run (launch + wait)
    cpu_ns: int | None = None  # CPU time of the process that ran the loop, over the measured runs (all threads)

    @property
    def stats(self) -> Stats:
        """Statistics of :attr:`samples_ns`."""
        return Stats.from_ns(self.samples_ns, self.items)

    @property
    def cpu_util(self) -> float | None:
        """CPU time over wall time of the measured runs: ~1 for one busy thread, ~N for N (None: not read)."""
        if self.cpu_ns is None or self.wall_ns <= 0:
            return None
        return self.cpu_ns / self.wall_ns


@dataclass
class StageTiming:
    """What :func:`measure_stages` measured: the whole chain per run, and each stage's share of it."""

    total: Timing
    stages: dict[str, np.ndarray] = field(default_factory=dict)  # stage name -> per-run nanoseconds

    def stage_stats(self) -> dict[str, Stats]:
        """Statistics of each stage (their medians need not add up to the total's median)."""
        return {name: Stats.from_ns(ns, self.total.items) for name, ns in self.stages.items()}


class DeviceTimer(Protocol):
    """Times the device work of one call: ``begin()`` before it, ``end()`` after it returns (waits, returns ns)."""

    name: str

    def begin(self) -> None:
        """Mark the start (e.g. record a CUDA event on the runtime's stream)."""

    def end(self) -> int:
        """Mark the end, wait for the device to reach it, and return the elapsed device time in nanoseconds."""


def _progress_state(progress, phase):
    if progress is None:
        return None
    return lambda done, elapsed_ns: progress(phase, done, elapsed_ns)


def _loop(call, n_min: int, n_max: int, seconds: float | None, sync, device_timer, progress):
    """Run ``call`` at least ``n_min`` and at most ``n_max`` times, and until ``seconds`` have passed.

    Returns (host samples, device samples or None, wall ns). The clock stops after ``sync()`` when given; with a
    device timer the host sample also includes the wait in ``end()``.
    """
    pc = time.perf_counter_ns
    host: list[int] = []
    dev: list[int] | None = [] if device_timer is not None else None
    append = host.append
    step = int(PROGRESS_INTERVAL_S * 1e9)
    start = pc()
    deadline = start + (int(seconds * 1e9) if seconds is not None else 0)
    next_tick = start + step if progress is not None else 1 << 62
    n = 0
    if device_timer is None and sync is None:  # the common path, kept as short as the bare loop it is compared with
        while True:
            t0 = pc()
            call()
            t1 = pc()
            append(t1 - t0)
            n += 1
            if n >= n_max or (n >= n_min and t1 >= deadline):
                break
            if t1 >= next_tick:
                progress(n, t1 - start)
                next_tick = t1 + step
    else:
        begin = device_timer.begin if device_timer is not None else None
        end = device_timer.end if device_timer is not None else None
        dev_append = dev.append if dev is not None else None
        while True:
            if begin is not None:
                t0 = pc()
                begin()
                call()
                dev_append(end())
                t1 = pc()
            else:
                t0 = pc()
                call()
                sync()
                t1 = pc()
            append(t1 - t0)
            n += 1
            if n >= n_max or (n >= n_min and t1 >= deadline):
                break
            if t1 >= next_tick:
                progress(n, t1 - start)
                next_tick = t1 + step
    wall = pc() - start
    if progress is not None:
        progress(n, wall)
    return host, dev, wall


def _timer_name(sync, device_timer) -> str:
    if device_timer is not None:
        return getattr(device_timer, "name", type(device_timer).__name__)
    return "perf_counter_ns + sync" if sync is not None else "perf_counter_ns"


def _warmup(call, budget: Budget, sync, device_timer, progress) -> tuple[int, int]:
    if budget.warmup_runs is not None:
        if budget.warmup_runs == 0:
            return 0, 0
        host, _, wall = _loop(call, budget.warmup_runs, budget.warmup_runs, None, sync, device_timer, progress)
    else:
        host, _, wall = _loop(call, budget.min_warmup_runs, budget.max_runs, budget.warmup_seconds, sync,
                              device_timer, progress)
    return len(host), wall


def _measure_limits(budget: Budget) -> tuple[int, int, float | None]:
    if budget.runs is not None:
        return budget.runs, budget.runs, None
    return budget.min_runs, budget.max_runs, budget.seconds


def measure(call: Callable[[], Any], budget: Budget | None = None, *, items: int = 1,
            sync: Callable[[], Any] | None = None, device_timer: DeviceTimer | None = None,
            progress: Callable[[str, int, int], Any] | None = None, disable_gc: bool = True) -> Timing:
    """Warm up, then time ``call()`` repeatedly.

    Args:
        call: what one run does (e.g. a runtime's inference call on a prepared input).
        budget: warm-up and measurement lengths (default: 1 s warm-up, 3 s of runs, at least 10).
        items: items one run processes (the batch size), for the throughput.
        sync: called after each run, inside the timed region: waits for a device that returns early.
        device_timer: times the device work of each run (CUDA events); the figures are then device times and
            the host's view is kept in ``host_samples_ns``.
        progress: ``progress(phase, runs_done, elapsed_ns)`` with phase "warmup" or "measure", at most every
            :data:`PROGRESS_INTERVAL_S` and once at the end of each phase.
        disable_gc: pause Python's cyclic garbage collector while timing.

    Returns:
        The samples and how they were taken (:class:`Timing`).
    """
    budget = budget or Budget()
    was_enabled = gc.isenabled()
    if disable_gc:  # no collection can start while disabled; collecting first would cost the caller a full pass
        gc.disable()
    try:
        if sync is not None and device_timer is None:
            sync()  # nothing queued before the first run may land in it
        warm_n, warm_ns = _warmup(call, budget, sync, device_timer, _progress_state(progress, "warmup"))
        n_min, n_max, seconds = _measure_limits(budget)
        cpu0 = time.process_time_ns()
        host, dev, wall = _loop(call, n_min, n_max, seconds, sync, device_timer, _progress_state(progress, "measure"))
        cpu_ns = time.process_time_ns() - cpu0
    finally:
        if disable_gc and was_enabled:
            gc.enable()
    host_arr = np.asarray(host, dtype=np.int64)
    if dev is not None:
        return Timing(np.asarray(dev, dtype=np.int64), warm_n, warm_ns, wall, _timer_name(sync, device_timer), items,
                      host_samples_ns=host_arr, cpu_ns=cpu_ns)
    return Timing(host_arr, warm_n, warm_ns, wall, _timer_name(sync, device_timer), items, cpu_ns=cpu_ns)


def measure_stages(stages: Sequence[tuple[str, Callable]], budget: Budget | None = None, *, items: int = 1,
                   progress: Callable[[str, int, int], Any] | None = None, disable_gc: bool = True) -> StageTiming:
    """Warm up, then time a chain of stages repeatedly, keeping each stage's split.

    The first stage is called with no argument, each later stage with the previous stage's result (e.g.
    ``preprocess() -> (batch, meta)``, ``model((batch, meta)) -> (outputs, meta)``, ``postprocess(...)``). The
    clock is read once between stages, so the stage durations of a run add up to its total exactly.

    Args:
        stages: ``(name, callable)`` pairs, in order.
        budget: warm-up and measurement lengths, as for :func:`measure`.
        items: items one run processes (the batch size).
        progress: as for :func:`measure`.
        disable_gc: pause Python's cyclic garbage collector while timing.
    """
    if not stages:
        raise InputError("measure_stages needs at least one stage")
    budget = budget or Budget()
    names = [name for name, _ in stages]
    if len(set(names)) != len(names):
        raise InputError(f"stage names must be unique, got {names}")
    fns = [fn for _, fn in stages]
    first, rest = fns[0], fns[1:]
    pc = time.perf_counter_ns
    rows: list[list[int]] = [[] for _ in fns]

    def one_run(record: bool):
        t0 = pc()
        value = first()
        t = pc()
        if record:
            rows[0].append(t - t0)
        for j, fn in enumerate(rest, start=1):
            value = fn(value)
            t2 = pc()
            if record:
                rows[j].append(t2 - t)
            t = t2
        return t - t0

    was_enabled = gc.isenabled()
    if disable_gc:  # no collection can start while disabled; collecting first would cost the caller a full pass
        gc.disable()
    try:
        warm_n, warm_ns = _warmup(lambda: one_run(False), budget, None, None, _progress_state(progress, "warmup"))
        n_min, n_max, seconds = _measure_limits(budget)
        cpu0 = time.process_time_ns()
        totals, _, wall = _loop(lambda: one_run(True), n_min, n_max, seconds, None, None,
                                _progress_state(progress, "measure"))
        cpu_ns = time.process_time_ns() - cpu0
    finally:
        if disable_gc and was_enabled:
            gc.enable()
    per_stage = {name: np.asarray(r, dtype=np.int64) for name, r in zip(names, rows)}
    # The total is the sum of the stages (one clock read between stages); the loop's own reads around the call
    # would add the call overhead of the wrapper, which is not part of the pipeline.
    total = np.sum(np.stack(list(per_stage.values())), axis=0) if per_stage else np.asarray(totals, dtype=np.int64)
    return StageTiming(Timing(total.astype(np.int64), warm_n, warm_ns, wall, "perf_counter_ns per stage", items,
                              cpu_ns=cpu_ns), per_stage)
