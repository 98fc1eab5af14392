"""onnxruntime adapter: export through the artifact cache, accuracy, cache reuse, I/O binding, refusals.

Tolerance against Paddle dygraph FP32: 1e-4 relative to the largest reference magnitude (the conformance bound):
ORT's MLAS kernels sum in another order and fold BatchNormalization into the convolutions, so float32 results
differ in the last bits (measured 1e-6 on TinyPose); a wrong operator differs by order one.

The export (the Paddle route, ~15 s) happens once, into a module-wide ``$KBENCH_CACHE``.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: pip install 'kbench[onnx]'")
pytest.importorskip("onnx", reason="onnx is not installed: pip install 'kbench[onnx]'")
pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")

from kbench.adapters.base import get_adapter  # noqa: E402
from kbench.adapters.onnxruntime import CPU, CUDA, TRT, OnnxRuntimeAdapter, resolve_providers  # noqa: E402
from kbench.cards import get_card  # noqa: E402
from kbench.errors import InputError  # noqa: E402
from kbench.export import onnx as onnx_export  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module")
def card():
    return get_card("tinypose_128x96")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private artifact cache for this module, and a count of the exports made into it."""
    if importlib.util.find_spec("paddle2onnx") is None:
        pytest.skip("paddle2onnx is not installed: pip install 'kbench[onnx]'")
    root = tmp_path_factory.mktemp("kbench-cache")
    calls = []
    real = onnx_export.export_onnx

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KBENCH_CACHE", str(root))
        mp.setattr(onnx_export, "export_onnx", counting)
        yield root, calls


@pytest.fixture(scope="module")
def x(card):
    w, h = card.input_size
    return np.random.default_rng(0).standard_normal((3, 3, h, w)).astype(np.float32)


@pytest.fixture(scope="module")
def reference(card, x):
    with get_adapter("paddle") as a:
        a.load(card, weights="random")
        return a.run(x)


def _rel(got, ref) -> float:
    return max(float(np.abs(g - r).max() / np.abs(r).max()) for g, r in zip(got.arrays(), ref.arrays()))


@pytest.mark.slow
def test_cpu_run_matches_dygraph_and_cache_is_reused(card, cache, x, reference):
    root, calls = cache
    with get_adapter("onnxruntime") as a:
        a.load(card, weights="random", batch=2, threads=2)
        info = a.describe()
        # 3 images on a batch-2 model: one full piece and one padded piece
        got = a.run(x)
    assert len(calls) == 1 and a.session is None
    assert info["providers"] == [CPU] and info["threads"] == 2 and info["source"] == "paddle"
    assert info["input"]["image"]["shape"] == [2, 3, 128, 96]
    assert list(info["outputs"]) == ["heatmaps"] and info["weights"]["random"]
    assert got.heatmaps.dtype == np.float32 and got.heatmaps.shape == reference.heatmaps.shape
    assert _rel(got, reference) <= TOL
    model = a.model_path
    assert model.is_relative_to(root) and "random-seed0" in str(model) and "b2-fp32" in str(model)
    mtime = model.stat().st_mtime_ns

    with get_adapter("onnxruntime") as b:  # the second load opens the cached export
        b.load(card, weights="random", batch=2, io_binding=True)
        bound = b.run(x)
    assert len(calls) == 1 and b.model_path == model and model.stat().st_mtime_ns == mtime
    np.testing.assert_allclose(bound.heatmaps, got.heatmaps, rtol=0, atol=1e-6 * np.abs(got.heatmaps).max())


@pytest.mark.slow
def test_model_path_runs_a_given_file(card, cache, x, reference):
    root, calls = cache
    exported = next(root.rglob("model.onnx"), None)
    if exported is None:
        pytest.skip("needs the export of the test above")
    n = len(calls)
    with get_adapter("onnxruntime") as a:
        a.load(card, model_path=exported, batch=2)
        assert _rel(a.run(x[:1]), type(reference)(reference.heatmaps[:1])) <= TOL
    assert len(calls) == n


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


def test_gpu_without_cuda_provider_is_one_line_and_exports_nothing(card, tmp_path, monkeypatch):
    if CUDA in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    monkeypatch.setenv("KBENCH_CACHE", str(tmp_path))
    for precision in ("fp32", "fp16"):
        with pytest.raises(InputError) as err:
            OnnxRuntimeAdapter().load(card, device="gpu", precision=precision)
        assert "onnxruntime-gpu" in _one_line(err)
    with pytest.raises(InputError) as err:
        OnnxRuntimeAdapter().load(card, device="gpu", tensorrt=True)
    assert "onnxruntime-gpu" in _one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_cpu_fp16_is_refused(card, tmp_path, monkeypatch):
    monkeypatch.setenv("KBENCH_CACHE", str(tmp_path))
    with pytest.raises(InputError) as err:
        OnnxRuntimeAdapter().load(card, device="cpu", precision="fp16")
    assert "gpu only" in _one_line(err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"batch": 0}, "batch"), ({"threads": 0}, "threads"), ({"providers": ["cuda"]}, "device cpu cannot use"),
    ({"providers": ["NoSuchExecutionProvider"]}, "lacks NoSuchExecutionProvider"), ({"colour": 1}, "unknown option"),
    ({"model_path": "/nonexistent/model.onnx"}, "no such file"), ({"device": "tpu"}, "unknown device"),
])
def test_bad_load_arguments(card, tmp_path, monkeypatch, kwargs, match):
    monkeypatch.setenv("KBENCH_CACHE", str(tmp_path))
    with pytest.raises(InputError, match=match) as err:
        OnnxRuntimeAdapter().load(card, **kwargs)
    _one_line(err)


def test_run_before_load(card):
    with pytest.raises(InputError, match="load"):
        OnnxRuntimeAdapter().run(np.zeros((1, 3, 128, 96), np.float32))


def test_registry_returns_this_adapter():
    assert isinstance(get_adapter("onnxruntime"), OnnxRuntimeAdapter)


# resolve_providers is pure: GPU machines' provider lists can be checked here


GPU_BUILD = [TRT, CUDA, CPU]


def test_providers_for_gpu():
    cuda = {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE", "cudnn_conv_use_max_workspace": "1",
            "use_tf32": "0"}
    assert resolve_providers("gpu", "fp32", GPU_BUILD) == [(CUDA, cuda), (CPU, {})]
    assert resolve_providers("gpu", "fp32", GPU_BUILD, tf32=True)[0][1]["use_tf32"] == "1"
    trt = resolve_providers("gpu", "fp16", GPU_BUILD, tensorrt=True, trt_cache="/c", device_id=1)
    assert [name for name, _ in trt] == [TRT, CUDA, CPU]
    opts = trt[0][1]
    assert opts["trt_fp16_enable"] is True and opts["trt_engine_cache_enable"] and opts["trt_engine_cache_path"] == "/c"
    assert opts["device_id"] == 1
    assert resolve_providers("gpu", "fp32", GPU_BUILD, providers="tensorrt,cuda")[0][1]["trt_fp16_enable"] is False
    assert not any(k.startswith("trt_profile") for k in opts)  # no profile given: none set


def test_tensorrt_provider_gets_the_bottom_up_profile():
    """The same min/opt/max as the TensorRT runtime and Paddle-TensorRT; a fixed-shape graph needs none."""
    from kbench.adapters.gpu_shapes import shape_profile
    from kbench.cards import get_card

    bottom_up = shape_profile(get_card("higherhrnet_hrnet_w32_512"), 1)
    opts = resolve_providers("gpu", "fp32", GPU_BUILD, tensorrt=True, profile=bottom_up)[0][1]
    assert opts["trt_profile_min_shapes"] == "image:1x3x512x512"
    assert opts["trt_profile_opt_shapes"] == "image:1x3x512x704"
    assert opts["trt_profile_max_shapes"] == "image:1x3x1024x1024"
    fixed = shape_profile(get_card("tinypose_128x96"), 8)
    opts = resolve_providers("gpu", "fp32", GPU_BUILD, tensorrt=True, profile=fixed)[0][1]
    assert not any(k.startswith("trt_profile") for k in opts)


def test_providers_refusals():
    with pytest.raises(InputError, match="lacks TensorrtExecutionProvider"):
        resolve_providers("gpu", "fp32", [CUDA, CPU], tensorrt=True)
    with pytest.raises(InputError, match="needs the cuda or tensorrt provider"):
        resolve_providers("gpu", "fp32", GPU_BUILD, providers=["cpu"])
    with pytest.raises(InputError, match="onnxruntime-gpu"):
        resolve_providers("gpu", "fp32", [CPU])
    assert resolve_providers("cpu", "fp32", [CPU]) == [(CPU, {})]
