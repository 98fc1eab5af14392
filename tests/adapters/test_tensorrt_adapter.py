"""TensorRT adapter: what can be checked without a GPU or TensorRT.

The engine build and the run need an NVIDIA GPU, TensorRT and a CUDA build of torch; here the tests cover the
refusals (missing package, CPU device, no CUDA device, too old a TensorRT), the engine cache key, the optimisation
profile, and the build sequence against a stand-in ``tensorrt`` module that records the calls made to it.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from types import SimpleNamespace

import pytest

from kbench.adapters import tensorrt as trt_adapter
from kbench.adapters.base import get_adapter
from kbench.adapters.tensorrt import (
    TensorRTAdapter,
    build_engine,
    build_serialized_engine,
    engine_cache_key,
    import_tensorrt,
    profile_shapes,
)
from kbench.cards import get_card
from kbench.errors import InputError, MissingBackendError


@pytest.fixture(scope="module")
def card():
    return get_card("tinypose_128x96")


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


# --- refusals ----------------------------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_missing_tensorrt_names_the_extra(card):
    with pytest.raises(MissingBackendError) as err:
        TensorRTAdapter().load(card, device="gpu")
    assert 'pip install "kbench[tensorrt]"' in _one_line(err) and err.value.package == "tensorrt"
    with pytest.raises(MissingBackendError):
        get_adapter("tensorrt")


def test_cpu_is_refused_before_anything_is_imported(card, monkeypatch):
    monkeypatch.setattr(trt_adapter, "import_tensorrt", lambda: pytest.fail("imported tensorrt"))
    with pytest.raises(InputError, match="does not run on cpu") as err:
        TensorRTAdapter().load(card, device="cpu")
    _one_line(err)


def _fake_torch(cuda_build: bool):
    return SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False),
                           version=SimpleNamespace(cuda="12.4" if cuda_build else None))


@pytest.mark.parametrize("cuda_build, why", [(False, "CPU-only build"), (True, "no CUDA device is visible")])
def test_no_cuda_device_is_one_line(card, monkeypatch, cuda_build, why):
    monkeypatch.setattr(trt_adapter, "import_tensorrt", lambda: SimpleNamespace(__version__="10.3.0"))
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(cuda_build))
    with pytest.raises(InputError) as err:
        TensorRTAdapter().load(card, device="gpu", precision="fp16")
    msg = _one_line(err)
    assert "CUDA GPU" in msg and why in msg
    with pytest.raises(InputError, match="CUDA GPU"):
        build_engine(card, None, batch=2)


def test_missing_torch_names_it(card, monkeypatch):
    monkeypatch.setattr(trt_adapter, "import_tensorrt", lambda: SimpleNamespace(__version__="10.3.0"))
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingBackendError, match="torch is not installed"):
        TensorRTAdapter().load(card, device="gpu")


def test_old_tensorrt_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="8.2.1.8"))
    with pytest.raises(InputError, match="too old") as err:
        import_tensorrt()
    _one_line(err)
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.0.1"))
    assert import_tensorrt().__version__ == "10.0.1"


@pytest.mark.parametrize("kwargs, match", [({"batch": 0}, "batch"), ({"input_hw": (64, 64)}, "takes 128x96"),
                                           ({"colour": 1}, "unknown option")])
def test_bad_arguments(card, kwargs, match):
    with pytest.raises(InputError, match=match):
        TensorRTAdapter().load(card, device="gpu", **kwargs)


def test_run_before_load(card):
    import numpy as np

    with pytest.raises(InputError, match="load"):
        TensorRTAdapter().run(np.zeros((1, 3, 128, 96), np.float32))


# --- profile and cache key ---------------------------------------------------------------------------------------


def test_profile_shapes(card):
    assert profile_shapes(card, 4) == {"min": [1, 3, 128, 96], "opt": [4, 3, 128, 96], "max": [4, 3, 128, 96]}
    bottom_up = get_card("higherhrnet_hrnet_w32_512")
    assert profile_shapes(bottom_up, 1)["opt"] == [1, 3, 512, 512]
    assert profile_shapes(bottom_up, 2, (384, 640))["max"] == [2, 3, 384, 640]
    with pytest.raises(InputError, match="multiples of 32"):
        profile_shapes(bottom_up, 1, (500, 500))


def test_cache_key_changes_with_every_input(card):
    shapes = profile_shapes(card, 1)
    base = dict(model=card.name, weights="random-seed0", shapes=shapes, precision="fp32", gpu="NVIDIA H100 sm_90",
                trt_version="10.3.0", onnx_sha256="ab" * 32)
    key = engine_cache_key(**base)
    assert key == engine_cache_key(**base)  # deterministic
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", key) and key.startswith("tinypose_128x96-random-seed0-fp32-1x3x128x96")
    changes = {"precision": "fp16", "shapes": profile_shapes(card, 8), "trt_version": "10.4.0",
               "gpu": "NVIDIA A100 sm_80", "weights": "0123456789abcdef", "onnx_sha256": "cd" * 32,
               "model": "tinypose_256x192"}
    keys = {engine_cache_key(**dict(base, **{field: value})) for field, value in changes.items()}
    assert len(keys) == len(changes) and key not in keys
    bottom_up = get_card("higherhrnet_hrnet_w32_512")
    a = engine_cache_key(**dict(base, shapes=profile_shapes(bottom_up, 1, (512, 512))))
    b = engine_cache_key(**dict(base, shapes=profile_shapes(bottom_up, 1, (512, 640))))
    assert a != b


# --- the build sequence against a stand-in tensorrt module --------------------------------------------------------


def _fake_trt(version="10.3.0", parse_ok=True, build_ok=True, input_name="image"):
    log = {"flags": [], "profiles": 0}

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

    class Network:
        num_inputs = 1

        def get_input(self, i):
            return SimpleNamespace(name=input_name)

    class OnnxParser:
        def __init__(self, network, logger):
            self.num_errors = 0 if parse_ok else 1

        def parse_from_file(self, path):
            log["parsed"] = path
            return parse_ok

        def get_error(self, i):
            return "In node 12 (importResize): UNSUPPORTED_NODE: Assertion failed"

    class Profile:
        def set_shape(self, name, mn, opt, mx):
            log["profile"] = (name, mn, opt, mx)

    class Config:
        def set_memory_pool_limit(self, pool, size):
            log["workspace"] = (pool, size)

        def set_flag(self, flag):
            log["flags"].append(flag)

        def add_optimization_profile(self, profile):
            log["profiles"] += 1

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            log["network_flags"] = flags
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            return b"engine-bytes" if build_ok else None

    trt = SimpleNamespace(__version__=version, Logger=Logger, Builder=Builder, OnnxParser=OnnxParser,
                          NetworkDefinitionCreationFlag=SimpleNamespace(EXPLICIT_BATCH=0),
                          BuilderFlag=SimpleNamespace(FP16="FP16"), MemoryPoolType=SimpleNamespace(WORKSPACE="WS"))
    return trt, log


@pytest.mark.parametrize("fp16", [False, True])
def test_build_sets_precision_profile_and_workspace(card, fp16):
    trt, log = _fake_trt()
    shapes = profile_shapes(card, 4)
    data = build_serialized_engine(trt, "/m.onnx", "image", shapes, fp16, 1 << 30)
    assert data == b"engine-bytes" and log["parsed"] == "/m.onnx"
    assert log["flags"] == (["FP16"] if fp16 else [])
    assert log["profile"] == ("image", (1, 3, 128, 96), (4, 3, 128, 96), (4, 3, 128, 96)) and log["profiles"] == 1
    assert log["workspace"] == ("WS", 1 << 30) and log["network_flags"] == 0


def test_build_on_tensorrt_8_asks_for_explicit_batch(card):
    trt, log = _fake_trt(version="8.6.1")
    build_serialized_engine(trt, "/m.onnx", "image", profile_shapes(card, 1), False, 1 << 30)
    assert log["network_flags"] == 1


@pytest.mark.parametrize("kwargs, match", [({"parse_ok": False}, "UNSUPPORTED_NODE"),
                                           ({"build_ok": False}, "could not build"),
                                           ({"input_name": "x"}, "expected one input named 'image'")])
def test_build_failures_are_one_line(card, kwargs, match):
    trt, _ = _fake_trt(**kwargs)
    with pytest.raises(InputError, match=match) as err:
        build_serialized_engine(trt, "/m.onnx", "image", profile_shapes(card, 1), False, 1 << 30)
    _one_line(err)


def test_engine_cache_is_reused_and_keyed(card, tmp_path, monkeypatch):
    """build_engine's cache with stand-ins for tensorrt, the GPU (torch.cuda) and the ONNX export."""
    import contextlib

    from kbench.export import onnx as onnx_export

    trt, log = _fake_trt()
    builds = []
    real_build = trt_adapter.build_serialized_engine

    def counting_build(*args, **kwargs):
        builds.append(args[4])  # fp16
        return real_build(*args, **kwargs)

    fake_torch = SimpleNamespace(cuda=SimpleNamespace(device=lambda i: contextlib.nullcontext(),
                                                      get_device_capability=lambda i: (9, 0),
                                                      get_device_name=lambda i: "NVIDIA H200"))
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"not really onnx")
    monkeypatch.setenv("KBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(trt_adapter, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(trt_adapter, "cuda_torch", lambda: fake_torch)
    monkeypatch.setattr(trt_adapter, "build_serialized_engine", counting_build)
    monkeypatch.setattr(onnx_export, "cached_onnx", lambda *a, **k: onnx_file)

    first = build_engine(card, None, batch=2)
    again = build_engine(card, None, batch=2)
    assert first == again and builds == [False] and first.read_bytes() == b"engine-bytes"
    assert first.parent == tmp_path / "cache" / "artifacts" / "tensorrt" and "fp32-2x3x128x96-trt10.3.0" in first.name
    manifest = first.with_suffix(".manifest.json")
    assert '"gpu": "NVIDIA H200 sm_90"' in manifest.read_text()
    half = build_engine(card, None, batch=2, fp16=True)
    assert half != first and builds == [False, True] and log["flags"] == ["FP16"]
    out = build_engine(card, tmp_path / "export" / "tinypose.engine", batch=2)  # an export copies the cached engine
    assert builds == [False, True] and out.read_bytes() == b"engine-bytes"
    assert (tmp_path / "export" / "tinypose.manifest.json").is_file()
