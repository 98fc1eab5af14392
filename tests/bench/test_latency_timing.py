"""The timing harness (:mod:`kbench.bench.timing`): statistics, warm-up, budgets, sync, stages, interruption.

The measured calls are real work (numpy operations, ``time.sleep``) or plain recorders of what the harness did;
nothing stands in for the harness. No assertion depends on how fast this machine is: where a duration is
checked it is one the call itself guarantees (``time.sleep`` sleeps at least that long).
"""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest

from kbench.bench.timing import Budget, Stats, measure, measure_stages
from kbench.errors import InputError


def test_stats_from_known_samples():
    samples_ms = np.arange(1, 101, dtype=np.float64)  # 1..100 ms
    st = Stats.from_ns(samples_ms * 1e6, items=8)
    assert st.runs == 100
    assert st.median_ms == pytest.approx(50.5)
    assert st.mean_ms == pytest.approx(50.5)
    assert st.p90_ms == pytest.approx(np.percentile(samples_ms, 90))
    assert st.p99_ms == pytest.approx(np.percentile(samples_ms, 99))
    assert st.min_ms == 1.0 and st.max_ms == 100.0
    assert st.std_ms == pytest.approx(np.std(samples_ms, ddof=1))
    assert st.iqr_ms == pytest.approx(np.percentile(samples_ms, 75) - np.percentile(samples_ms, 25))
    assert st.throughput == pytest.approx(8 * 1000 / 50.5)  # crops per second sustained: items / mean
    assert st.outliers == 0
    assert list(st.metrics())[:7] == ["median_ms", "mean_ms", "p90_ms", "p99_ms", "min_ms", "std_ms", "throughput"]


def test_stats_count_outliers_and_spread():
    s = np.full(99, 10.0)
    s[:40] = 9.0
    st = Stats.from_ns(np.append(s, 1000.0) * 1e6)
    assert st.outliers == 1  # the 1000 ms run is outside Tukey's fences
    assert st.median_ms == 10.0 and st.spread == pytest.approx(0.1)


def test_stats_of_one_sample_and_of_none():
    st = Stats.from_ns([2_000_000])
    assert st.median_ms == 2.0 and st.std_ms == 0.0
    with pytest.raises(ValueError):
        Stats.from_ns([])


@pytest.mark.parametrize("kwargs", [dict(runs=0), dict(warmup_runs=-1), dict(seconds=float("nan"), runs=None),
                                    dict(runs=None, seconds=None), dict(warmup_seconds=-1.0),
                                    dict(min_runs=5, max_runs=2), dict(runs=True)])
def test_budget_rejects_bad_numbers_with_one_line(kwargs):
    with pytest.raises(InputError) as err:
        Budget(**kwargs)
    assert "\n" not in str(err.value)


def test_warmup_count_is_kept_out_of_the_samples():
    calls = []
    timing = measure(lambda: calls.append(1), Budget(warmup_runs=5, runs=20))
    assert len(calls) == 25
    assert timing.warmup_runs == 5 and timing.samples_ns.shape == (20,)
    assert timing.timer == "perf_counter_ns"


def test_slow_first_runs_do_not_reach_the_figures():
    # The first three calls sleep 200 ms (a runtime building its kernels); the rest do ~0.1 ms of numpy work.
    a = np.random.default_rng(0).standard_normal(20_000)
    n = [0]

    def call():
        n[0] += 1
        if n[0] <= 3:
            time.sleep(0.2)
        np.sort(a)

    timing = measure(call, Budget(warmup_runs=3, runs=30))
    assert timing.stats.max_ms < 200.0
    assert timing.warmup_ns >= 3 * 200e6  # the sleeps happened, in the warm-up


def test_warmup_seconds_runs_at_least_twice_and_for_the_time():
    timing = measure(lambda: time.sleep(0.02), Budget(warmup_seconds=0.001, runs=1))
    assert timing.warmup_runs == 2  # min_warmup_runs even when the time is already spent
    timing = measure(lambda: None, Budget(warmup_seconds=0.05, runs=1))
    assert timing.warmup_ns >= 0.05e9 and timing.warmup_runs > 2


def test_time_budget_min_and_max_runs():
    t = measure(lambda: time.sleep(0.005), Budget(warmup_runs=0, seconds=0.001, min_runs=5))
    assert t.samples_ns.size == 5  # the budget is spent after one run; the minimum count still holds
    assert (t.samples_ns >= 5e6).all()
    t = measure(lambda: None, Budget(warmup_runs=0, seconds=60.0, max_runs=7, min_runs=3))
    assert t.samples_ns.size == 7  # the maximum ends a long budget
    t = measure(lambda: None, Budget(warmup_runs=0, seconds=0.05, min_runs=1))
    assert t.wall_ns >= 0.05e9 and t.samples_ns.size > 1


def test_sync_runs_after_each_call_inside_the_timed_region():
    events = []
    timing = measure(lambda: events.append("call"), Budget(warmup_runs=2, runs=4),
                     sync=lambda: (time.sleep(0.002), events.append("sync")))
    assert events[0] == "sync"  # nothing queued before the first run lands in it
    assert events[1:] == ["call", "sync"] * 6
    assert timing.timer == "perf_counter_ns + sync"
    assert (timing.samples_ns >= 2e6).all()  # the wait is inside each sample


class _FixedDeviceTimer:
    """A device clock that reports 1.234 ms per call: the harness must report the device's figure."""

    name = "fixed-device-clock"

    def __init__(self):
        self.begun = 0

    def begin(self):
        self.begun += 1

    def end(self):
        return 1_234_000


def test_device_timer_samples_are_the_figures_and_host_samples_are_kept():
    timer = _FixedDeviceTimer()
    timing = measure(lambda: None, Budget(warmup_runs=3, runs=10), device_timer=timer)
    assert timer.begun == 13
    assert timing.timer == "fixed-device-clock"
    assert (timing.samples_ns == 1_234_000).all() and timing.stats.median_ms == pytest.approx(1.234)
    assert timing.host_samples_ns is not None and timing.host_samples_ns.shape == (10,)


def test_progress_reports_both_phases_and_the_final_count():
    seen = []
    measure(lambda: time.sleep(0.001), Budget(warmup_runs=3, seconds=0.6, min_runs=1),
            progress=lambda phase, runs, ns: seen.append((phase, runs, ns)))
    phases = [p for p, _, _ in seen]
    assert phases[0] == "warmup" and "measure" in phases
    measured = [s for s in seen if s[0] == "measure"]
    assert len(measured) >= 2  # ticks during a 0.6 s budget (every 0.25 s) and one at the end
    assert measured[-1][1] == max(r for _, r, _ in measured)


def test_gc_is_paused_while_timing_and_restored():
    states = []
    measure(lambda: states.append(gc.isenabled()), Budget(warmup_runs=1, runs=3))
    assert states == [False] * 4 and gc.isenabled()
    states.clear()
    measure(lambda: states.append(gc.isenabled()), Budget(warmup_runs=0, runs=2), disable_gc=False)
    assert states == [True, True]


def test_ctrl_c_propagates_and_restores_gc():
    n = [0]

    def call():
        n[0] += 1
        if n[0] == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        measure(call, Budget(warmup_runs=2, runs=100))
    assert n[0] == 7 and gc.isenabled()


def test_stages_chain_values_and_split_the_time():
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    received = []

    def pre():
        return image.astype(np.float32)

    def model(x):
        received.append(x.shape)
        time.sleep(0.003)
        return x.mean()

    def post(m):
        return float(m) * 2

    st = measure_stages([("preprocess", pre), ("model", model), ("postprocess", post)],
                        Budget(warmup_runs=2, runs=8), items=4)
    assert received == [(480, 640, 3)] * 10
    assert list(st.stages) == ["preprocess", "model", "postprocess"]
    assert all(v.shape == (8,) for v in st.stages.values())
    total = sum(st.stages.values())
    np.testing.assert_array_equal(st.total.samples_ns, total)  # one clock read between stages: exact sum
    stats = st.stage_stats()
    assert stats["model"].min_ms >= 3.0  # the sleep is attributed to the model stage
    assert st.total.stats.throughput == pytest.approx(4 * 1000 / st.total.stats.mean_ms)


def test_stage_names_must_be_unique_and_present():
    with pytest.raises(InputError):
        measure_stages([], Budget(runs=1))
    with pytest.raises(InputError):
        measure_stages([("a", lambda: 1), ("a", lambda x: x)], Budget(runs=1))


def test_budget_describe():
    assert Budget(warmup_runs=3, runs=10).describe() == {"warmup": {"runs": 3}, "measure": {"runs": 10}}
    d = Budget(seconds=2.0).describe()
    assert d["warmup"]["seconds"] == 1.0 and d["measure"]["seconds"] == 2.0 and d["measure"]["min_runs"] == 10


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_cpu_utilisation_is_cpu_time_over_wall_time_of_the_measured_runs():
    """A call that sleeps uses almost no CPU; one that spins uses one core: cpu_util tells them apart."""
    sleeping = measure(lambda: time.sleep(0.004), Budget(warmup_runs=1, runs=20))
    spinning = measure(lambda: _busy(0.004), Budget(warmup_runs=1, runs=20))
    assert sleeping.cpu_ns is not None and 0 <= sleeping.cpu_util < 0.3
    assert 0.7 < spinning.cpu_util < 1.3
    staged = measure_stages([("spin", lambda: _busy(0.002))], Budget(warmup_runs=1, runs=10))
    assert 0.7 < staged.total.cpu_util < 1.3
