"""TensorRT adapter: what can be checked without a GPU or TensorRT.

The engine build and the run need an NVIDIA GPU, TensorRT and a CUDA build of torch; here the tests cover the
refusals (missing package, CPU device, no CUDA device, too old a TensorRT), the engine cache key, the optimisation
profile, and the build sequence against stand-in ``tensorrt`` modules whose API is a recorded release's
(``trt_standin.py``: TensorRT 10.0, 10.16 and 11.4), so a call a supported release lacks fails here.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from types import SimpleNamespace

import pytest
from trt_standin import make_standin, recorded_versions

from kbench.adapters import tensorrt as trt_adapter
from kbench.adapters.base import get_adapter
from kbench.adapters.gpu_shapes import shape_profile
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

VERSIONS = recorded_versions()


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
    monkeypatch.setattr(trt_adapter, "import_tensorrt", lambda: make_standin(VERSIONS[-1])[0])
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(cuda_build))
    with pytest.raises(InputError) as err:
        TensorRTAdapter().load(card, device="gpu", precision="fp16")
    msg = _one_line(err)
    assert "CUDA GPU" in msg and why in msg
    with pytest.raises(InputError, match="CUDA GPU"):
        build_engine(card, None, batch=2)


def test_missing_torch_names_it(card, monkeypatch):
    monkeypatch.setattr(trt_adapter, "import_tensorrt", lambda: make_standin(VERSIONS[-1])[0])
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
                                           ({"colour": 1}, "unknown option"), ({"threads": 2}, "no CPU thread"),
                                           ({"typing": "loose"}, "typing must be")])
def test_bad_arguments(card, kwargs, match):
    with pytest.raises(InputError, match=match):
        TensorRTAdapter().load(card, device="gpu", **kwargs)


def test_run_before_load(card):
    import numpy as np

    with pytest.raises(InputError, match="load"):
        TensorRTAdapter().run(np.zeros((1, 3, 128, 96), np.float32))


# --- profile and cache key ---------------------------------------------------------------------------------------


def test_profile_shapes(card):
    assert profile_shapes(card, 4) == {"min": [4, 3, 128, 96], "opt": [4, 3, 128, 96], "max": [4, 3, 128, 96]}
    assert profile_shapes(card, 4, dynamic_batch=True)["min"] == [1, 3, 128, 96]
    bottom_up = get_card("higherhrnet_hrnet_w32_512")
    # EvalAffine: the short side is 512, the long side a multiple of 64 up to max_side, either orientation.
    assert profile_shapes(bottom_up, 1) == {"min": [1, 3, 512, 512], "opt": [1, 3, 512, 704],
                                            "max": [1, 3, 1024, 1024]}
    assert profile_shapes(bottom_up, 1, max_side=1536)["max"] == [1, 3, 1536, 1536]
    assert profile_shapes(bottom_up, 2, (384, 640))["max"] == [2, 3, 384, 640]
    with pytest.raises(InputError, match="multiples of 32"):
        profile_shapes(bottom_up, 1, (500, 500))
    with pytest.raises(InputError, match="max_side"):
        profile_shapes(bottom_up, 1, max_side=300)
    with pytest.raises(InputError, match="bottom-up"):
        profile_shapes(card, 1, max_side=1024)


def test_every_evalaffine_size_fits_the_bottom_up_profile():
    """The profile admits what kbench's EvalAffine makes of any image with aspect ratio up to 2."""
    from kbench.adapters.gpu_shapes import shape_profile
    from kbench.pipelines.bottomup import bottom_up_affine

    card = get_card("higherhrnet_hrnet_w32_512")
    profile = shape_profile(card, 1)
    for w, h in [(640, 480), (480, 640), (640, 427), (333, 500), (640, 640), (1000, 500), (500, 1000)]:
        _, (iw, ih), _, _ = bottom_up_affine(h, w, 512)
        assert profile.contains((1, 3, ih, iw)), (w, h, ih, iw)
    assert not profile.contains((1, 3, 512, 1088))


def test_cache_key_changes_with_every_input(card):
    shapes = profile_shapes(card, 1)
    base = dict(model=card.name, weights="random-seed0", shapes=shapes, precision="fp32", gpu="NVIDIA H100 sm_90",
                trt_version="10.3.0", onnx_sha256="ab" * 32)
    key = engine_cache_key(**base)
    assert key == engine_cache_key(**base)  # deterministic
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", key) and key.startswith("tinypose_128x96-random-seed0-fp32-1x3x128x96")
    changes = {"precision": "fp16", "shapes": profile_shapes(card, 8), "trt_version": "10.4.0",
               "gpu": "NVIDIA A100 sm_80", "weights": "0123456789abcdef", "onnx_sha256": "cd" * 32,
               "model": "tinypose_256x192", "typing": "weak", "tf32": True}
    keys = {engine_cache_key(**dict(base, **{field: value})) for field, value in changes.items()}
    assert len(keys) == len(changes) and key not in keys
    bottom_up = get_card("higherhrnet_hrnet_w32_512")
    a = engine_cache_key(**dict(base, shapes=profile_shapes(bottom_up, 1, (512, 512))))
    b = engine_cache_key(**dict(base, shapes=profile_shapes(bottom_up, 1, (512, 640))))
    assert a != b


# --- the build sequence against stand-ins with recorded TensorRT APIs ---------------------------------------------

def test_the_recorded_releases_span_the_supported_majors():
    """pyproject's bounds are the majors the build is checked against here."""
    from pathlib import Path

    import tomllib

    majors = {int(v.split(".")[0]) for v in VERSIONS}
    assert majors == set(trt_adapter.TESTED_MAJORS)
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    spec = next(d for d in pyproject["project"]["optional-dependencies"]["tensorrt"] if d.startswith("tensorrt"))
    assert spec == f"tensorrt>={min(majors)}.0,<{max(majors) + 1}"
    assert VERSIONS[0] == "10.0.1"  # the lower bound itself is recorded


def test_the_standin_refuses_what_a_release_lacks():
    trt11, _ = make_standin("11.4.0.106")
    with pytest.raises(AttributeError, match="11.4.0.106 has no BuilderFlag.FP16"):
        trt11.BuilderFlag.FP16  # noqa: B018
    with pytest.raises(AttributeError, match="EXPLICIT_BATCH"):
        trt11.NetworkDefinitionCreationFlag.EXPLICIT_BATCH  # noqa: B018
    config = trt11.Builder(trt11.Logger()).create_builder_config()
    with pytest.raises(AttributeError, match="IBuilderConfig.set_quantization_flag"):
        config.set_quantization_flag  # noqa: B018
    with pytest.raises(TypeError, match="set_memory_pool_limit"):
        config.set_memory_pool_limit(trt11.MemoryPoolType.WORKSPACE)
    with pytest.raises(AttributeError, match="no tensorrt.IInt8Calibrator"):
        trt11.IInt8Calibrator  # noqa: B018
    trt10, _ = make_standin("10.16.1.11")
    assert trt10.BuilderFlag.FP16.label == "BuilderFlag.FP16"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("fp16", [False, True])
def test_strongly_typed_build(card, version, fp16):
    """Every supported release: strongly typed, no precision flag (the FP16 graph carries FP16), TF32 cleared."""
    trt, log = make_standin(version)
    profile = shape_profile(card, 4)
    data = build_serialized_engine(trt, "/m.onnx", profile, fp16, 1 << 30)
    assert data == b"engine-bytes" and log["parsed"] == "/m.onnx"
    assert log["network_flags"] == 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert log["flags"] == [] and log["cleared"] == ["BuilderFlag.TF32"]
    assert log["profile"] == ("image", (4, 3, 128, 96), (4, 3, 128, 96), (4, 3, 128, 96)) and log["profiles"] == 1
    assert log["workspace"][1] == 1 << 30 and log["workspace"][0].label == "MemoryPoolType.WORKSPACE"


@pytest.mark.parametrize("version", VERSIONS)
def test_weakly_typed_fp16_only_where_the_flag_exists(card, version):
    trt, log = make_standin(version)
    profile = shape_profile(card, 1)
    if version.startswith("10."):
        build_serialized_engine(trt, "/m.onnx", profile, True, 1 << 30, typing="weak", tf32=True)
        assert log["flags"] == ["BuilderFlag.FP16"] and log["cleared"] == [] and log["network_flags"] == 0
    else:
        with pytest.raises(InputError, match="no BuilderFlag.FP16") as err:
            build_serialized_engine(trt, "/m.onnx", profile, True, 1 << 30, typing="weak")
        _one_line(err)
        build_serialized_engine(trt, "/m.onnx", profile, False, 1 << 30, typing="weak")  # weak FP32 still builds
        assert log["flags"] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_bottom_up_profile_reaches_the_builder(version):
    trt, log = make_standin(version)
    profile = shape_profile(get_card("higherhrnet_hrnet_w32_512"), 1)
    build_serialized_engine(trt, "/m.onnx", profile, False, 1 << 30)
    assert log["profile"] == ("image", (1, 3, 512, 512), (1, 3, 512, 704), (1, 3, 1024, 1024))


@pytest.mark.parametrize("kwargs, match", [({"parse_ok": False}, "UNSUPPORTED_NODE"),
                                           ({"build_ok": False}, "could not build"),
                                           ({"input_name": "x"}, "expected one input named 'image'")])
def test_build_failures_are_one_line(card, kwargs, match):
    trt, _ = make_standin(VERSIONS[-1], **kwargs)
    with pytest.raises(InputError, match=match) as err:
        build_serialized_engine(trt, "/m.onnx", shape_profile(card, 1), False, 1 << 30)
    _one_line(err)


def test_engine_cache_is_reused_and_keyed(card, tmp_path, monkeypatch):
    """build_engine's cache with stand-ins for tensorrt, the GPU (torch.cuda) and the ONNX export."""
    import contextlib

    from kbench.export import onnx as onnx_export

    trt, log = make_standin("10.16.1.11")
    builds, exports = [], []
    real_build = trt_adapter.build_serialized_engine

    def counting_build(*args, **kwargs):
        builds.append(args[3])  # fp16
        return real_build(*args, **kwargs)

    fake_torch = SimpleNamespace(cuda=SimpleNamespace(device=lambda i: contextlib.nullcontext(),
                                                      get_device_capability=lambda i: (9, 0),
                                                      get_device_name=lambda i: "NVIDIA H200"))
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"not really onnx")

    def fake_export(card, weights, batch=None, fp16=False, **kwargs):
        exports.append((batch, fp16))
        return onnx_file

    monkeypatch.setenv("KBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(trt_adapter, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(trt_adapter, "cuda_torch", lambda: fake_torch)
    monkeypatch.setattr(trt_adapter, "build_serialized_engine", counting_build)
    monkeypatch.setattr(onnx_export, "cached_onnx", fake_export)

    first = build_engine(card, None, batch=2)
    again = build_engine(card, None, batch=2)
    assert first == again and builds == [False] and first.read_bytes() == b"engine-bytes"
    assert exports[0] == (2, False)  # the fixed-batch FP32 export, as every runtime gets at batch 2
    assert first.parent == tmp_path / "cache" / "artifacts" / "tensorrt" and "fp32-2x3x128x96-trt10.16" in first.name
    manifest = first.with_suffix(".manifest.json")
    assert '"gpu": "NVIDIA H200 sm_90"' in manifest.read_text() and '"typing": "strong"' in manifest.read_text()
    half = build_engine(card, None, batch=2, fp16=True)
    assert half != first and builds == [False, True] and log["flags"] == []
    assert exports[-1] == (2, True)  # strongly typed FP16 builds from the FP16 export
    build_engine(card, None, batch=4, dynamic_batch=True)
    assert exports[-1] == (None, False) and log["profile"][1][0] == 1  # dynamic export, batches 1..4
    weak = build_engine(card, None, batch=2, fp16=True, typing="weak")
    assert exports[-1] == (2, False) and log["flags"] == ["BuilderFlag.FP16"] and weak != half
    out = build_engine(card, tmp_path / "export" / "tinypose.engine", batch=2)  # an export copies the cached engine
    assert out.read_bytes() == b"engine-bytes" and (tmp_path / "export" / "tinypose.manifest.json").is_file()
    trt11, _ = make_standin("11.4.0.106")
    monkeypatch.setattr(trt_adapter, "import_tensorrt", lambda: trt11)
    with pytest.raises(InputError, match="no BuilderFlag.FP16"):
        build_engine(card, None, batch=2, fp16=True, typing="weak")  # refused before any export or build
