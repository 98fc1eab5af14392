"""Latency measurements (:mod:`kbench.bench.latency`): the plan, real measurements on CPU runtimes, records, table.

Real runtimes on PP-TinyPose 128x96 with seeded random weights (exports are cached for the session, so the
CLI tests reuse them). The direct model calls of :mod:`kbench.bench.latency_runners` are checked against
``adapter.run`` on the same input: identical heatmaps up to 1e-3 of the largest value (same runtime, same
weights; the tolerance only absorbs a runtime choosing other kernels for a bound input).
Tests that load a runtime are marked ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from kbench.adapters.base import get_adapter, runtime_status
from kbench.bench.latency import (
    LATENCY_METRICS,
    Group,
    LatencyFailure,
    Skipped,
    capability,
    format_details,
    format_notes,
    format_table,
    measure_group,
    model_input,
    model_input_size,
    plan,
    published_for,
    published_label,
    record_name,
    resolve_backends,
)
from kbench.bench.latency_runners import check_call, model_call
from kbench.bench.timing import Budget
from kbench.cards import get_card
from kbench.errors import InputError

TINY = "tinypose_128x96"


def _needs(runtime: str):
    ok, why = runtime_status(runtime)
    if not ok:
        pytest.skip(f"{runtime}: {why}")


@pytest.mark.parametrize("backend", ["paddle-inference", "onnxruntime", "torch", "paddle", "lite", "tensorrt",
                                     "paddle-trt", "onnxruntime-trt"])
def test_fp16_on_cpu_is_refused_with_a_reason(backend):
    ok, why = capability(backend, "cpu", "fp16")
    assert not ok and why
    if backend in ("tensorrt", "paddle-trt", "onnxruntime-trt"):
        assert "GPU only" in why or "not installed" in why


def test_capability_of_cpu_fp32():
    for backend in ("paddle-inference", "onnxruntime"):
        if runtime_status(backend)[0]:
            assert capability(backend, "cpu", "fp32") == (True, "")
    assert capability("paddle-trt", "cpu", "fp32")[0] is False


def test_resolve_backends():
    assert resolve_backends(None, ["cpu"]) == ["paddle-inference", "onnxruntime"]
    assert resolve_backends([], ["cpu", "gpu"]) == ["paddle-inference", "onnxruntime", "paddle-trt", "tensorrt"]
    assert resolve_backends(["onnxruntime", "onnxruntime"], ["cpu"]) == ["onnxruntime"]
    with pytest.raises(InputError, match="unknown backend 'onnx'"):
        resolve_backends(["onnx"], ["cpu"])


def test_plan_threads_apply_to_cpu_and_skips_carry_reasons():
    card = get_card(TINY)
    groups, skipped = plan([card], ["onnxruntime", "tensorrt"], ["cpu"], ["fp32", "fp16"], [1, 8], [1, 4],
                           ["model", "pipeline"])
    ok_ort = runtime_status("onnxruntime")[0]
    assert len(groups) == (4 if ok_ort else 0)  # batches x threads, fp32 only
    assert {(g.batch, g.threads) for g in groups} == ({(1, 1), (1, 4), (8, 1), (8, 4)} if ok_ort else set())
    assert all(g.scopes == ("model", "pipeline") for g in groups)
    reasons = {(s.backend, s.precision): s.why for s in skipped}
    assert ("tensorrt", "fp32") in reasons and ("tensorrt", "fp16") in reasons
    if ok_ort:
        assert "GPU only" in reasons[("onnxruntime", "fp16")]
    with pytest.raises(InputError, match="unknown scope"):
        plan([card], ["onnxruntime"], ["cpu"], ["fp32"], [1], [1], ["everything"])


def test_model_input_sizes():
    tiny = get_card(TINY)
    assert model_input_size(tiny) == (96, 128)
    assert model_input(tiny, 3).shape == (3, 3, 128, 96)
    np.testing.assert_array_equal(model_input(tiny, 2), model_input(tiny, 2))  # seeded
    hh = get_card("higherhrnet_hrnet_w32_512")
    assert model_input_size(hh) == (704, 512)  # 640x480 image: short side 512, long side up to a multiple of 64


def test_published_labels_name_their_hardware():
    card = get_card(TINY)
    labels = [published_label(p) for p in published_for(card, "fp16")]
    assert "NVIDIA T4, Paddle Inference (Python deploy) TensorRT fp16 b8: 0.8 ms" in labels
    assert any(lbl.startswith("Qualcomm Snapdragon 865, Paddle-Lite fp16 4t b1: 3.27 ms") for lbl in labels)
    fp32 = [published_label(p) for p in published_for(card, "fp32")]
    assert any("4.57 ms" in lbl for lbl in fp32) and not any("3.27 ms" in lbl for lbl in fp32)
    assert any("2.7 ms" in lbl for lbl in fp32)  # no precision published: shown with FP32


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnxruntime", "paddle-inference", "paddle", "torch"])
def test_direct_model_call_computes_what_adapter_run_computes(runtime):
    _needs(runtime)
    card = get_card(TINY)
    x = model_input(card, 1)
    with get_adapter(runtime) as adapter:
        adapter.load(card, weights="random", device="cpu", batch=1, threads=1)
        mc = model_call(adapter, x)
        assert not mc.what.startswith("adapter.run"), mc.notes  # a direct call exists for this runtime
        assert check_call(adapter, mc, x) == ""
        # the check can fail: the direct call is bound to x; compared with adapter.run on another input it differs
        other = model_input(card, 1, seed=1)
        assert "differ" in check_call(adapter, mc, other)


@pytest.mark.slow
def test_measure_group_model_and_pipeline_records():
    _needs("paddle-inference")
    card = get_card(TINY)
    group = Group(card, "paddle-inference", "cpu", "fp32", batch=2, threads=1, scopes=("model", "pipeline"))
    results = measure_group(group, Budget(warmup_runs=2, runs=6))
    assert [r.scope for r in results] == ["model", "pipeline"]
    model, pipe = results
    assert model.samples_ns.shape == (6,) and model.warmup_runs == 2
    assert model.timed.startswith("predictor.run()") and "oneDNN" in model.timed
    assert model.input_size == (96, 128) and pipe.input_size == (96, 128)
    assert model.params_m == pytest.approx(1.36, abs=0.005) and model.gflops == pytest.approx(0.08, abs=0.005)
    assert model.gflops_per_s == pytest.approx(model.gflops * 2 / (model.stats.median_ms / 1000))
    assert pipe.gflops_per_s is None
    assert list(pipe.stage_stats) == ["preprocess", "model", "postprocess"]
    assert pipe.pipeline["boxes"] == 2 and pipe.pipeline["image_size"] == [640, 480]
    for r in results:
        rec = r.record()
        assert rec["schema"] == "kbench.record/1" and rec["kind"] == "latency"
        assert list(rec["metrics"])[:7] == list(LATENCY_METRICS)
        assert rec["metrics"]["peak_rss_mb"] > 0 and rec["metrics"]["runs"] == 6
        assert 0 <= rec["metrics"].get("run_rss_mb", 0) < rec["metrics"]["peak_rss_mb"]
        opts = rec["options"]
        assert {k: opts[k] for k in ("model", "backend", "device", "precision", "batch", "threads", "scope")} == {
            "model": TINY, "backend": "paddle-inference", "device": "cpu", "precision": "fp32", "batch": 2,
            "threads": 1, "scope": r.scope}
        assert opts["runtime_version"] and opts["input_size"] == [96, 128] and len(opts["samples_ms"]) == 6
        assert any("NVIDIA T4" in p["label"] for p in opts["published"])
        assert {"cpu", "cpu_count", "gpus", "libraries"} <= set(rec["env"])
    assert {"preprocess_ms", "model_ms", "postprocess_ms"} <= set(pipe.record()["metrics"])
    assert record_name(model) == f"latency-{TINY}-paddle-inference-cpu-fp32-b2-t1-model.json"

    table = format_table(results, [LatencyFailure(Group(card, "onnxruntime", "cpu", "fp32", 2, 1, ("model",)),
                                                  "boom")], "this machine: test")
    lines = table.splitlines()
    assert lines[0] == "this machine: test"
    assert "paddle-inference" in lines[2] and "onnxruntime" in lines[2] and "cpu fp32 1t" in lines[3]
    model_row = next(ln for ln in lines if ln.startswith(TINY) and " model " in ln)
    assert "failed" in model_row and f"{model.stats.median_ms:.2f} ±" in model_row and "1.36" in model_row
    assert any("published on other hardware" in ln for ln in lines)
    assert any(ln.strip().startswith("NVIDIA T4:") for ln in lines)
    details = format_details(results)
    assert "pipeline split" in details and "preprocess" in details
    notes = format_notes(results, [Skipped("tensorrt", "cpu", "fp32", "runs on the GPU only")])
    assert "not measured: tensorrt on cpu fp32: runs on the GPU only" in notes
    assert "timed, paddle-inference model: predictor.run()" in notes


@pytest.mark.slow
def test_measure_group_on_a_refusing_runtime_is_one_line():
    _needs("onnxruntime")
    card = get_card(TINY)
    with pytest.raises(InputError) as err:  # the adapter's own refusal reaches the caller as one line
        measure_group(Group(card, "onnxruntime", "gpu", "fp32", 1, None, ("model",)), Budget(runs=1))
    assert "\n" not in str(err.value)
