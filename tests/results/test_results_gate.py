"""``kbench.results.gate``: pairing, metric directions, tolerances in points, the noise rule, missing values."""

from __future__ import annotations

import pytest
from results_factory import COCO, MPII, latency, record

from kbench.results.gate import Tolerances, compare, metric_rule, parse_percent, spread_ms


def _checks(report, metric=None):
    return [c for c in report.checks if metric is None or c.metric == metric]


def _one(report, metric):
    (check,) = _checks(report, metric)
    return check


def test_identical_records_pass_and_every_guarded_metric_is_checked():
    base = [record(model="m", backend="paddle"), latency(10.0), record("profile", model="m")]
    report = compare(base, base)
    assert report.exit_code == 0 and report.paired == 3 and not report.regressions
    assert {c.metric for c in report.checks} == set(COCO) | {"median_ms", "params", "flops"}
    # medians, not means; throughput is items / mean in kbench's records, and median_ms guards the same timing
    assert set(report.unguarded) == {"mean_ms", "p90_ms", "p99_ms", "min_ms", "std_ms", "throughput"}


def test_pairing_by_configuration_not_by_machine():
    base = [latency(10.0, backend="onnxruntime"), latency(20.0, backend="paddle-inference")]
    cur = [latency(10.1, backend="paddle-inference", hostname="ci-b"),
           latency(10.0, backend="onnxruntime", hostname="ci-b"),
           latency(5.0, backend="onnxruntime", precision="fp16", hostname="ci-b")]
    report = compare(base, cur)
    # paddle-inference went 20 -> 10.1 (better), onnxruntime unchanged: the fp16 run pairs with nothing
    assert report.exit_code == 0 and report.paired == 2
    medians = {c.label.split()[2]: (c.baseline, c.current) for c in _checks(report, "median_ms")}
    assert medians == {"onnxruntime/cpu/fp32": (10.0, 10.0), "paddle-inference/cpu/fp32": (20.0, 10.1)}
    assert len(report.new) == 1 and "fp16" in report.new[0]
    assert any("baseline measured on ci-a" in n and "current on ci-b" in n for n in report.notes)


def test_different_datasets_and_batches_do_not_pair():
    base = [record(model="m", bbox="gt"), latency(10.0, batch=1)]
    cur = [record(model="m", bbox="detector"), latency(10.0, batch=8)]
    report = compare(base, cur)
    assert report.paired == 0 and all(c.status == "missing" for c in report.checks) and report.exit_code == 1


@pytest.mark.parametrize("drop, failed", [(0.0019, False), (0.002, False), (0.0021, True), (-0.05, False)])
def test_coco_ap_tolerance_is_in_points(drop, failed):
    cur_metrics = {**COCO, "AP": COCO["AP"] - drop}
    report = compare([record(model="m")], [record(metrics=cur_metrics, model="m")], Tolerances(max_ap_drop=0.2))
    check = _one(report, "AP")
    assert check.failed is failed and report.exit_code == int(failed)
    assert check.change == pytest.approx(-drop * 100)          # shown in points
    assert check.tolerance == "-0.2 pt"


@pytest.mark.parametrize("drop, failed", [(0.19, False), (0.21, True)])
def test_mpii_pckh_tolerance_is_already_percent(drop, failed):
    cur_metrics = {**MPII, "PCKh": MPII["PCKh"] - drop}
    base = record(metrics=MPII, model="hrnet_w32_256x256_mpii", evaluator="mpii_pckh")
    cur = record(metrics=cur_metrics, model="hrnet_w32_256x256_mpii", evaluator="mpii_pckh")
    check = _one(compare([base], [cur]), "PCKh")
    assert check.failed is failed and check.change == pytest.approx(-drop)


def test_directions():
    assert metric_rule("AP").higher_is_better and metric_rule("PCKh@0.1_paddledet").higher_is_better
    assert metric_rule("throughput").higher_is_better and metric_rule("gflops_per_s").higher_is_better
    assert metric_rule("median_ms").higher_is_better is False
    assert metric_rule("peak_memory_mb").higher_is_better is False and metric_rule("params").family == "size"
    assert metric_rule("mean_ms") is None and metric_rule("std_ms") is None
    # better numbers never fail, however large the change
    base = [record(model="m"), latency(10.0)]
    cur = [record(metrics={k: v + 0.1 for k, v in COCO.items()}, model="m"), latency(5.0)]
    assert compare(base, cur).exit_code == 0
    # and worse ones do
    cur = [record(metrics={k: v - 0.1 for k, v in COCO.items()}, model="m"), latency(20.0)]
    report = compare(base, cur)
    assert {c.metric for c in report.regressions} == set(COCO) | {"median_ms"}


def test_noise_rule_inside_spread_passes_outside_fails():
    # +15 % median latency against a 10 % tolerance
    noisy = compare([latency(10.0, std=2.0)], [latency(11.5, std=2.0)])
    check = _one(noisy, "median_ms")
    assert not check.failed and check.spread == 2.0 and "noise" in check.message
    quiet = compare([latency(10.0, std=0.4)], [latency(11.5, std=0.4)])
    check = _one(quiet, "median_ms")
    assert check.failed and check.change == pytest.approx(15.0) and quiet.exit_code == 1
    # the larger spread of the two runs counts
    assert not _one(compare([latency(10.0, std=0.2)], [latency(11.5, std=1.6)]), "median_ms").failed
    # beyond the spread but within the percentage: passes
    assert not _one(compare([latency(10.0, std=0.1)], [latency(10.5, std=0.1)]), "median_ms").failed
    # the rule switched off: the percentage alone decides
    off = compare([latency(10.0, std=2.0)], [latency(11.5, std=2.0)], Tolerances(noise_aware=False))
    assert _one(off, "median_ms").failed


def test_throughput_is_gated_only_without_a_median():
    def rate(value, **metrics):
        return record("latency", {"throughput": value, **metrics}, model="m", backend="lite", device="arm")

    assert _one(compare([rate(100.0)], [rate(85.0)]), "throughput").failed           # -15 % against 10 %
    check = _one(compare([rate(100.0)], [rate(95.0)]), "throughput")
    assert not check.failed and check.change == pytest.approx(-5.0) and check.tolerance == "-10 %"
    report = compare([rate(100.0, median_ms=10.0)], [rate(50.0, median_ms=10.0)])
    assert report.exit_code == 0 and "throughput" in report.unguarded


def test_spread_precedence():
    assert spread_ms({"median_ms": 10, "iqr_ms": 0.3, "std_ms": 0.5, "p90_ms": 11}) == 0.3
    assert spread_ms({"median_ms": 10, "std_ms": 0.5, "p90_ms": 11}) == 0.5
    assert spread_ms({"median_ms": 10, "p90_ms": 11}) == 1.0
    assert spread_ms({"median_ms": 10}) is None
    assert spread_ms({"pre_median_ms": 2, "pre_std_ms": 0.1}, "pre_median_ms") == 0.1
    # without any spread field the percentage alone decides
    base = record("latency", {"median_ms": 10.0}, model="m")
    assert _one(compare([base], [record("latency", {"median_ms": 11.5}, model="m")]), "median_ms").failed


def test_missing_measurements_fail_unless_allowed():
    lat = latency(10.0)
    lat["metrics"]["peak_rss_mb"] = 300.0
    base = [record(model="a"), record(model="b"), lat]
    cur = [record(model="a"), latency(10.0)]                          # b not run; latency without peak memory
    report = compare(base, cur)
    missing = [c for c in report.checks if c.status == "missing"]
    assert {c.model for c in missing} == {"b", "tinypose_128x96"} and len(missing) == len(COCO) + 1
    (mem,) = [c for c in missing if c.model == "tinypose_128x96"]
    assert mem.metric == "peak_rss_mb" and "the current record has no peak_rss_mb" in mem.message
    assert "no current record of this configuration" in next(c for c in missing if c.model == "b").message
    assert _one(report, "median_ms").status == "pass"
    assert all(c.failed for c in missing) and report.exit_code == 1
    allowed = compare(base, cur, Tolerances(allow_missing=True))
    assert allowed.exit_code == 0 and sum(c.status == "missing" for c in allowed.checks) == len(missing)


def test_sizes_are_exact_unless_allowed():
    base = [record("profile", model="m", input_size=[96, 128])]
    cur = [record("profile", {"params": 1.36e6 + 1, "flops": 8.1e7}, model="m", input_size=[96, 128])]
    report = compare(base, cur)
    assert [c.metric for c in report.regressions] == ["params"] and _one(report, "params").change == 1
    assert compare(base, cur, Tolerances(allow_size_change=True)).exit_code == 0
    # a profile at another input size is another configuration
    other = [record("profile", {"params": 1.0, "flops": 1.0}, model="m", input_size=[192, 256])]
    assert compare(base, other).paired == 0


def test_memory_metric_is_relative():
    base = latency(10.0)
    base["metrics"]["peak_memory_mb"] = 100.0
    cur = latency(10.0)
    cur["metrics"]["peak_memory_mb"] = 119.0
    assert not _one(compare([base], [cur]), "peak_memory_mb").failed
    cur["metrics"]["peak_memory_mb"] = 121.0
    assert _one(compare([base], [cur]), "peak_memory_mb").failed


def test_newest_record_of_a_configuration_is_compared():
    old = latency(20.0, created="2026-11-01T10:00:00+00:00")
    new = latency(10.0, created="2026-11-02T10:00:00+00:00")
    report = compare([new, old], [latency(10.2)])
    assert _one(report, "median_ms").baseline == 10.0 and report.exit_code == 0
    assert any("2 records" in n and "newest" in n for n in report.notes)


def test_parse_percent():
    assert parse_percent("10%") == pytest.approx(0.1) and parse_percent("2.5") == pytest.approx(0.025)
    with pytest.raises(ValueError):
        parse_percent("-1%")
