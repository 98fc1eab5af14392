"""Every GPU path, on a real GPU: one test per path (``make gpu-check`` runs them; CI skips them with the reason).

Bounds: FP32 on the GPU against Paddle dygraph FP32 on the CPU within 1e-4 relative (the conformance bound; kbench
builds with TF32 off, so FP32 means float32 arithmetic and only the summation order differs); FP16 within 2e-2
(11 bits of mantissa through dozens of layers; the conformance bound). A runtime whose GPU package is missing
skips with the reason (``make gpu-check`` installs them all, so a skip there is a failed install to look at).
"""

from __future__ import annotations

import numpy as np
import pytest

from kbench.cards import get_card, select_cards
from kbench.conformance import TOLERANCE, compare_outputs, reference_input, run_cell

pytestmark = pytest.mark.gpu

TINY, HRNET, BOTTOM_UP = "tinypose_128x96", "hrnet_w32_256x192", "higherhrnet_hrnet_w32_512"


def _need(backend: str) -> None:
    from kbench.adapters.base import runtime_status
    from kbench.bench.latency import BACKENDS

    ok, why = runtime_status(BACKENDS[backend].runtime)
    if not ok:
        pytest.skip(f"{backend}: {why}")


def _assert_pass(cell) -> None:
    assert cell.status == "pass", f"{cell.model} / {cell.runtime} {cell.precision}: {cell.status} " \
                                  f"{cell.max_rel} {cell.detail}"


@pytest.mark.parametrize("backend", ["paddle", "paddle-inference", "onnxruntime", "torch", "tensorrt"])
@pytest.mark.parametrize("model", [TINY, HRNET])
def test_each_runtime_on_cuda_in_fp32(backend, model):
    _need(backend)
    _assert_pass(run_cell(get_card(model), backend, "fp32", batch=2, device="gpu"))


@pytest.mark.parametrize("backend", ["tensorrt", "paddle-trt", "onnxruntime-trt", "onnxruntime", "torch"])
def test_fp16_paths(backend):
    _need(backend)
    _assert_pass(run_cell(get_card(HRNET), backend, "fp16", batch=2, device="gpu"))


def test_tensorrt_fp16_is_strongly_typed_from_the_fp16_export():
    _need("tensorrt")
    from kbench.adapters.tensorrt import TensorRTAdapter

    with TensorRTAdapter() as a:
        a.load(get_card(TINY), precision="fp16", batch=4)
        info = a.describe()
        assert info["typing"] == "strong" and info["tf32"] is False
        assert info["input"]["image"]["dtype"] == "float32" and info["outputs"]["heatmaps"]["dtype"] == "float32"
        assert info["profile"]["min"] == [4, 3, 128, 96] and info["api_tested"]
        assert a.stream is not None and a.stream.cuda_stream != 0  # not the legacy default stream
        out = a.run(reference_input(get_card(TINY), 6))  # 4 + a padded 2
        assert out.heatmaps.shape == (6, 17, 32, 24) and np.isfinite(out.heatmaps).all()


def test_tensorrt_dynamic_batch_profile():
    _need("tensorrt")
    from kbench.adapters.tensorrt import TensorRTAdapter

    card = get_card(TINY)
    with TensorRTAdapter() as a:
        a.load(card, batch=8, dynamic_batch=True)
        assert a.describe()["profile"]["min"][0] == 1
        for n in (1, 3, 8, 11):
            assert a.run(reference_input(card, n)).heatmaps.shape[0] == n


def test_bottom_up_on_tensorrt_over_the_evalaffine_range():
    """One engine for every EvalAffine size: landscape and portrait inputs, each against the reference."""
    _need("tensorrt")
    from kbench.adapters.base import get_adapter
    from kbench.adapters.tensorrt import TensorRTAdapter

    card = get_card(BOTTOM_UP)
    rng = np.random.default_rng(0)
    with TensorRTAdapter() as trt, get_adapter("paddle") as ref:
        trt.load(card)
        ref.load(card, weights="random")
        engine = trt.engine_file
        for hw in [(512, 704), (704, 512), (512, 512)]:
            x = rng.standard_normal((1, 3, *hw)).astype(np.float32)
            diff = compare_outputs(ref.run(x), trt.run(x))
            assert diff["max_rel"] <= TOLERANCE["fp32"], (hw, diff)
        assert trt.engine_file == engine  # no rebuild per size


def test_paddle_trt_bottom_up_dynamic_shapes():
    _need("paddle-trt")
    card = get_card(BOTTOM_UP)
    from kbench.adapters.base import get_adapter

    with get_adapter("paddle-inference") as a:
        a.load(card, device="gpu", tensorrt=True)
        assert a.describe()["trt_shapes"]["source"] == "profile"
        x = np.random.default_rng(0).standard_normal((1, 3, 512, 704)).astype(np.float32)
        assert np.isfinite(a.run(x).heatmaps).all()


@pytest.mark.parametrize("backend", ["tensorrt", "torch"])
def test_cuda_event_timing_and_device_memory(backend):
    _need(backend)
    from kbench.runners.latency import run_latency
    from kbench.specs import LatencySpec

    rec = run_latency(LatencySpec(model=TINY, backend=backend, device="gpu", runs=20, warmup="3"))
    assert rec["options"]["timer"] == "cuda-events"
    assert rec["metrics"]["median_ms"] > 0
    info = rec["options"]["runtime"]
    assert info.get("gpu")


@pytest.mark.parametrize("backend", ["paddle-inference", "paddle-trt", "onnxruntime", "onnxruntime-trt", "tensorrt",
                                     "torch"])
def test_fp16_conformance_for_every_model(backend):
    """The FP16 bound (2e-2) for all 16 zoo models on each GPU route."""
    _need(backend)
    from kbench.conformance import conformance_matrix

    cells = conformance_matrix(select_cards(None), [backend], precision="fp16", device="gpu")
    bad = [f"{c.model}: {c.status} {c.max_rel} {c.detail}" for c in cells if c.status != "pass"]
    assert not bad, "; ".join(bad)
