"""PyTorch adapter: outputs, agreement with the Paddle reference on the same random weights, compilation, refusals.

Tolerance against Paddle dygraph FP32: 1e-4 relative to the largest reference magnitude (the conformance bound):
different CPU convolution kernels sum in different orders, so float32 results differ in the last bits (observed
below 1e-6), while a wrong layer differs by order one. On a GPU in fp16 the bound is 1e-2 (half precision keeps
11 significant bits).

torch runs on one thread in this module (restored afterwards); see tests/zoo/test_torch_networks.py for why.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: pip install 'kbench[torch]'")

from kbench.adapters.base import ModelOutputs, get_adapter  # noqa: E402
from kbench.adapters.torch import TorchAdapter  # noqa: E402
from kbench.cards import get_card  # noqa: E402
from kbench.errors import InputError  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def card():
    return get_card("tinypose_128x96")


@pytest.fixture(scope="module")
def x(card):
    w, h = card.input_size
    return np.random.default_rng(0).standard_normal((3, 3, h, w)).astype(np.float32)


def _rel(expected: np.ndarray, got: np.ndarray) -> float:
    return float(np.abs(expected - got).max() / np.abs(expected).max())


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


def test_registry_gives_the_torch_adapter():
    adapter = get_adapter("torch")
    assert isinstance(adapter, TorchAdapter) and adapter.name == "torch"


def test_run_returns_float32_heatmaps(card, x):
    with TorchAdapter() as adapter:
        adapter.load(card, "random", batch=3, threads=1)
        out = adapter.run(x)
        info = adapter.describe()
    assert isinstance(out, ModelOutputs) and out.tags is None
    assert out.heatmaps.shape == (3, 17, 32, 24) and out.heatmaps.dtype == np.float32
    assert info["runtime"] == "torch" and info["device"] == "cpu" and info["precision"] == "fp32"
    assert info["input"] == {"image": [-1, 3, 128, 96]} and info["compile"] is False
    assert info["weights"]["random"] and info["weights"]["seed"] == 0


def test_matches_paddle_on_the_same_random_weights(card, x):
    pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")
    ref = get_adapter("paddle")
    ref.load(card, "random")
    expected = ref.run(x)
    adapter = TorchAdapter()
    adapter.load(card, "random")
    assert adapter.describe()["weights"] == ref.describe()["weights"]
    assert _rel(expected.heatmaps, adapter.run(x).heatmaps) <= TOL


def test_bottom_up_returns_tags():
    card = get_card("higherhrnet_hrnet_w32_512")
    adapter = TorchAdapter()
    adapter.load(card, "random")
    out = adapter.run(np.random.default_rng(1).standard_normal((1, 3, 128, 192)).astype(np.float32))
    assert out.heatmaps.shape == out.tags.shape == (1, 17, 64, 96)
    assert out.tags.dtype == np.float32
    assert adapter.describe()["input"] == {"image": [-1, 3, -1, -1]}


def test_wrong_crop_size_is_refused(card):
    adapter = TorchAdapter()
    adapter.load(card, "random")
    with pytest.raises(InputError, match="128x96") as exc:
        adapter.run(np.zeros((1, 3, 64, 64), np.float32))
    _one_line(exc)


def test_fp16_on_cpu_is_one_line(card):
    with pytest.raises(InputError, match="fp16 on the GPU only") as exc:
        TorchAdapter().load(card, "random", device="cpu", precision="fp16")
    _one_line(exc)


def test_gpu_without_cuda_is_one_line(card, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for precision in ("fp32", "fp16"):
        with pytest.raises(InputError, match="no CUDA GPU") as exc:
            TorchAdapter().load(card, "random", device="gpu", precision=precision)
        _one_line(exc)


def test_unknown_device_and_precision_are_refused(card):
    with pytest.raises(InputError, match="unknown device"):
        TorchAdapter().load(card, "random", device="tpu")
    with pytest.raises(InputError, match="unknown precision"):
        TorchAdapter().load(card, "random", precision="int8")


def test_run_before_load_is_refused(card, x):
    with pytest.raises(InputError, match="before load"):
        TorchAdapter().run(x)


@pytest.mark.slow
def test_compiled_matches_eager_and_pads_partial_batches(card, x):
    """torch.compile (TorchInductor): about 20 s with a warm compile cache, 2 minutes cold on 2 CPU cores."""
    eager = TorchAdapter()
    eager.load(card, "random")
    expected = eager.run(x).heatmaps
    compiled = TorchAdapter()
    compiled.load(card, "random", batch=3, compile=True)
    info = compiled.describe()
    assert info["compile"] is True and info["compiled_batch"] == 3
    assert _rel(expected, compiled.run(x).heatmaps) <= TOL
    partial = compiled.run(x[:2])  # padded to the compiled batch, so no recompilation
    assert partial.heatmaps.shape == (2, 17, 32, 24)
    assert _rel(expected[:2], partial.heatmaps) <= TOL


@pytest.mark.gpu
@pytest.mark.parametrize("precision, tol", [("fp32", 1e-4), ("fp16", 1e-2)])
def test_gpu_matches_cpu(card, x, precision, tol):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible to torch")
    cpu = TorchAdapter()
    cpu.load(card, "random")
    gpu = TorchAdapter()
    gpu.load(card, "random", device="gpu", precision=precision)
    out = gpu.run(x)
    assert out.heatmaps.dtype == np.float32
    assert _rel(cpu.run(x).heatmaps, out.heatmaps) <= tol
    assert gpu.describe()["gpu"]
    gpu.close()
