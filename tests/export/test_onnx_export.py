"""ONNX export: paddle2onnx for each architecture family, checker, manifest, FP16, fallbacks and bad arguments.

Accuracy against Paddle dygraph FP32 (the same card and seeded random weights): the largest absolute difference
must stay within 1e-4 of the largest reference magnitude, the conformance bound. onnxruntime's MLAS kernels sum
in another order than Paddle's CPU kernels and fold BatchNormalization into the convolution weights, so float32
results differ in the last bits; measured: 1.0e-6 (TinyPose), 7e-6 (HRNet-w32 and HigherHRNet, whose random-weight
activations reach 1e9). A wrong operator or attribute gives differences of order one.

FP16 (onnxconverter-common, float32 inputs and outputs kept): bound 2e-2 relative, the conformance FP16 bound;
measured against the FP32 export on onnxruntime's CPU provider: 1.1e-3 (TinyPose, Lite-HRNet-18/30), 1.2e-3
(HRNet-w32). That is mostly the rounding of the weights to float16 (11 mantissa bits): on x86 onnxruntime folds
the float16 weights back to float32 and runs the convolutions in float32, with casts rounding only some
activations, so a GPU's float16 arithmetic will differ more. HigherHRNet's random-weight activations (~5e9)
overflow float16 outright, so for it only loading and shapes are checked.

The Paddle exports take 10-20 s each (``paddle.jit.to_static`` of the network is most of it), so each family is
exported once per module.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is not installed: pip install 'kbench[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: pip install 'kbench[onnx]'")
pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")

from kbench._fileio import sha256_file  # noqa: E402
from kbench.adapters.base import get_adapter  # noqa: E402
from kbench.cards import get_card  # noqa: E402
from kbench.errors import InputError, MissingBackendError  # noqa: E402
from kbench.export import onnx as onnx_export  # noqa: E402
from kbench.export.onnx import export_onnx, manifest_path, p2o_failure  # noqa: E402

FP32_TOL = 1e-4
# The FP16 graph on ORT's CPU provider: float16 tensors between every node, and with kbench's calibrated random
# weights (activations of the scale trained weights give, up to ~1e3 inside Lite-HRNet) float16's spacing there is
# up to 0.5, so the heatmaps differ from FP32 by about 2.5 % of their largest value (measured: 2.46 % on
# PP-TinyPose 128x96, 2.08 % on HRNet-w32). The GPU bound of 2e-2 (FP32 accumulation) is the gpu-check's.
FP16_TOL = 4e-2
# One model per architecture family: (card, batch of the export; None = dynamic)
FAMILIES = [("tinypose_128x96", None), ("hrnet_w32_256x192", 2), ("higherhrnet_hrnet_w32_512", None)]


def _input(card, n: int) -> np.ndarray:
    w, h = card.input_size
    if not card.top_down:  # whole images of any multiple of 32; 256 keeps the CPU reference quick
        w = h = 256
    return np.random.default_rng(0).standard_normal((n, 3, h, w)).astype(np.float32)


def _session(path):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _rel(got: list, ref: list) -> float:
    return max(float(np.abs(g - r).max() / np.abs(r).max()) for g, r in zip(got, ref))


def _reference(card, x):
    with get_adapter("paddle") as a:
        a.load(card, weights="random")
        return a.run(x).arrays()


_EXPORTS: dict = {}


def _paddle_export(name, batch, tmp_path_factory):
    """(card, batch, path) of a paddle2onnx export, made once per session."""
    if importlib.util.find_spec("paddle2onnx") is None:
        pytest.skip("paddle2onnx is not installed: pip install 'kbench[onnx]'")
    if (name, batch) not in _EXPORTS:
        card = get_card(name)
        path = export_onnx(card, tmp_path_factory.mktemp(name) / f"{name}.onnx", weights="random", batch=batch,
                           source="paddle")
        _EXPORTS[name, batch] = card, batch, path
    return _EXPORTS[name, batch]


@pytest.fixture(scope="module", params=FAMILIES, ids=[name for name, _ in FAMILIES])
def exported(request, tmp_path_factory):
    return _paddle_export(*request.param, tmp_path_factory)


@pytest.mark.slow
def test_paddle_export_checks_and_matches_dygraph(exported):
    card, batch, path = exported
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    m = json.loads(manifest_path(path).read_text())
    assert m["source"] == "paddle" and m["exporter"]["name"] == "paddle2onnx" and m["exporter"]["paddle2onnx"]
    assert m["weights"]["random"] and m["weights"]["seed"] == 0 and m["fallback_reason"] is None
    assert m["simplifier"]["name"] in ("onnxsim", "onnxslim") and m["opset"] >= 13 and m["fp16"] is False
    assert m["sha256"] == sha256_file(path) and m["file"] == path.name
    w, h = card.input_size
    expect_in = [batch or "batch", 3, h, w] if card.top_down else ["batch", 3, "height", "width"]
    assert m["input"] == {"name": "image", "shape": expect_in, "dtype": "float32"}
    assert [o["name"] for o in m["outputs"]] == (["heatmaps"] if card.top_down else ["heatmaps", "tags"])
    x = _input(card, batch or 2)
    got = _session(path).run(None, {"image": x})
    assert _rel(got, _reference(card, x)) <= FP32_TOL


@pytest.mark.slow
def test_batch_axis_is_dynamic_or_fixed_as_asked(exported):
    card, batch, path = exported
    sess = _session(path)
    if batch is None:
        for n in (1, 3):
            assert sess.run(None, {"image": _input(card, n)})[0].shape[0] == n
    else:
        assert sess.get_inputs()[0].shape[0] == batch
        with pytest.raises(Exception, match="(?i)dimension|shape"):
            sess.run(None, {"image": _input(card, batch + 1)})


@pytest.fixture(scope="module")
def tinypose_fp32(tmp_path_factory):
    card, _, path = _paddle_export("tinypose_128x96", None, tmp_path_factory)
    return card, path


def _replay(monkeypatch, raw_source):
    """Make the Paddle step hand back an earlier export (the 15 s Paddle export adds nothing to an FP16 test)."""
    def fake(card, raw, weights, batch, opset):
        shutil.copyfile(raw_source, raw)
        return {"weights": {"source": "random", "sha256": None, "random": True, "seed": 0}, "paddle": "replayed",
                "paddle2onnx": "replayed"}

    monkeypatch.setattr(onnx_export, "_paddle_to_onnx", fake)


@pytest.mark.slow
def test_fp16_keeps_float32_io_and_stays_close(tinypose_fp32, tmp_path, monkeypatch):
    card, fp32_path = tinypose_fp32
    _replay(monkeypatch, fp32_path)
    path = export_onnx(card, tmp_path / "tinypose.fp16.onnx", fp16=True, source="paddle")
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    f32 = onnx.TensorProto.FLOAT
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [f32]
    assert [o.type.tensor_type.elem_type for o in model.graph.output] == [f32]
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    m = json.loads(manifest_path(path).read_text())
    assert m["fp16"] is True and m["keep_io_types"] is True and m["input"]["dtype"] == "float32"
    x = _input(card, 2)
    got = _session(path).run(None, {"image": x})
    assert got[0].dtype == np.float32
    ref = _session(fp32_path).run(None, {"image": x})
    rel = _rel(got, ref)
    assert 0 < rel <= FP16_TOL  # > 0: the graph really computes in half precision


@pytest.mark.slow
def test_fp16_bottom_up_graph_loads_and_runs(tmp_path, tmp_path_factory, monkeypatch):
    """The run-time size arithmetic (Shape -> Cast -> Mul -> Resize) must stay out of the float16 conversion."""
    card, _, fp32_path = _paddle_export("higherhrnet_hrnet_w32_512", None, tmp_path_factory)
    _replay(monkeypatch, fp32_path)
    path = export_onnx(card, tmp_path / "hhr.fp16.onnx", fp16=True, source="paddle")
    heat, tags = _session(path).run(None, {"image": _input(card, 1)[:, :, :, :192]})
    assert heat.dtype == np.float32 and heat.shape == tags.shape == (1, 17, 128, 96)


@pytest.mark.slow
def test_fp16_without_keep_io_types_has_float16_io(tinypose_fp32, tmp_path, monkeypatch):
    card, fp32_path = tinypose_fp32
    _replay(monkeypatch, fp32_path)
    path = export_onnx(card, tmp_path / "io16.onnx", fp16=True, keep_io_types=False, source="paddle")
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert json.loads(manifest_path(path).read_text())["input"]["dtype"] == "float16"


# --- fallbacks, failures and arguments, on a one-convolution stand-in graph (fast) -----------------------------


def _tiny(path, n="N"):
    """A graph shaped like a top-down model's: (n, 3, 128, 96) -> (n, 17, 32, 24), with exporter-style names."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(1).normal(0, 0.1, (17, 3, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["x0", "w"], ["fetch_name_0"], strides=[4, 4], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "tiny", [helper.make_tensor_value_info("x0", TensorProto.FLOAT, [n, 3, 128, 96])],
                              [helper.make_tensor_value_info("fetch_name_0", TensorProto.FLOAT, [n, 17, 32, 24])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _fake_paddle(card, raw, weights, batch, opset):
    _tiny(raw)
    return {"weights": {"source": "random", "sha256": None, "random": True, "seed": 0}, "paddle": "3.x",
            "paddle2onnx": "2.x"}


def _failing_paddle(card, raw, weights, batch, opset):
    raise InputError(f"paddle2onnx could not convert {card.name}: Oops, there are some operators not supported yet, "
                     f"including pd_op.fake_op,")


def test_interface_is_normalised(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "_paddle_to_onnx", _fake_paddle)
    path = export_onnx(get_card("tinypose_128x96"), tmp_path / "m.onnx", source="paddle")
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["image"] and [o.name for o in model.graph.output] == ["heatmaps"]
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 128, 96]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.manifest.json", "m.onnx"]  # no temporary left over


def test_auto_falls_back_to_torch_and_records_why(tmp_path, monkeypatch):
    def fake_torch(card, raw, weights, batch, opset):
        _tiny(raw)
        return {"weights": {"source": "random", "sha256": None, "random": True, "seed": 0}, "torch": "2.x"}

    monkeypatch.setattr(onnx_export, "_paddle_to_onnx", _failing_paddle)
    monkeypatch.setattr(onnx_export, "_torch_to_onnx", fake_torch)
    path = export_onnx(get_card("tinypose_128x96"), tmp_path / "m.onnx", source="auto")
    m = json.loads(manifest_path(path).read_text())
    assert m["source"] == "torch" and m["requested_source"] == "auto"
    assert "pd_op.fake_op" in m["fallback_reason"] and m["exporter"] == {"name": "torch.onnx.export", "torch": "2.x"}


def test_paddle_source_does_not_fall_back(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "_paddle_to_onnx", _failing_paddle)
    with pytest.raises(InputError, match="pd_op.fake_op") as err:
        export_onnx(get_card("tinypose_128x96"), tmp_path / "m.onnx", source="paddle")
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


@pytest.mark.slow
def test_bad_weights_are_the_users_error_not_paddle2onnx(tmp_path):
    """The child process's InputError (here: the weights file) comes back as it is."""
    if importlib.util.find_spec("paddle2onnx") is None:
        pytest.skip("paddle2onnx is not installed: pip install 'kbench[onnx]'")
    missing = tmp_path / "nothing.pdparams"
    with pytest.raises(InputError) as err:
        export_onnx(get_card("tinypose_128x96"), tmp_path / "out" / "m.onnx", weights=str(missing), source="paddle")
    assert str(err.value) == f"{missing}: no such file"
    assert list((tmp_path / "out").iterdir()) == []


def test_both_exporters_failing_is_one_line(tmp_path, monkeypatch):
    def no_torch(*args):
        raise MissingBackendError("torch", "torch")

    monkeypatch.setattr(onnx_export, "_paddle_to_onnx", _failing_paddle)
    monkeypatch.setattr(onnx_export, "_torch_to_onnx", no_torch)
    with pytest.raises(InputError) as err:
        export_onnx(get_card("tinypose_128x96"), tmp_path / "m.onnx")
    msg = str(err.value)
    assert "\n" not in msg and "paddle: " in msg and "torch: torch is not installed" in msg


def test_missing_torch_exporter_module_is_named(tmp_path, monkeypatch):
    real = onnx_export.importlib.import_module

    def fake_import(name, *args):
        if name == "kbench.export.onnx_torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args)

    monkeypatch.setattr(onnx_export.importlib, "import_module", fake_import)
    with pytest.raises(InputError, match="kbench.export.onnx_torch"):
        export_onnx(get_card("tinypose_128x96"), tmp_path / "m.onnx", source="torch")


@pytest.mark.parametrize("kwargs, match", [({"source": "tf"}, "unknown ONNX source"), ({"batch": 0}, "batch"),
                                           ({"opset": 7}, "opset"), ({"opset": 999}, "opset")])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match):
        export_onnx(get_card("tinypose_128x96"), tmp_path / "m.onnx", **kwargs)


def test_p2o_failure_picks_the_error_line():
    # paddle2onnx 2.1.0 on PaddleDetection's own HRNet (nearest_interp_v2 with a scale attribute), as it prints it
    out = ("\x1b[0;33m2026-11-29 05:56:31 [WARNING]\tThe .pdmodel file is deprecated in paddlepaddle 3.0\x1b[0m\n"
           "[Paddle2ONNX] Start parsing the Paddle model file...\n"
           "\x1b[0;31m2026-11-29 05:56:32 [ERROR]\tFailed to convert PaddlePaddle model: (Unimplemented) the 0th "
           "elementwise MUST be ir::FloatAttribute\n"
           "  [Hint: Expected array_list[0].isa<::pir::FloatAttribute>() == true] (at pir_parser.cc:814)\n.\x1b[0m\n")
    assert p2o_failure(out) == ("[ERROR] Failed to convert PaddlePaddle model: (Unimplemented) the 0th elementwise "
                                "MUST be ir::FloatAttribute")
    unsupported = ("[Paddle2ONNX] x\n"
                   "[ERROR][Paddle2ONNX] Oops, there are some operators not supported yet, including pd_op.foo,")
    assert p2o_failure(unsupported).endswith("including pd_op.foo,")
    assert p2o_failure("") == "(no output)"


@pytest.mark.slow
def test_torch_source_matches_dygraph(tmp_path):
    """kbench's PyTorch network (same seeded weights) through the same post-processing."""
    pytest.importorskip("torch", reason="torch is not installed: pip install 'kbench[torch]'")
    if importlib.util.find_spec("kbench.export.onnx_torch") is None:
        pytest.skip("kbench.export.onnx_torch is not in this checkout")
    card = get_card("tinypose_128x96")
    path = export_onnx(card, tmp_path / "t.onnx", source="torch")
    m = json.loads(manifest_path(path).read_text())
    assert m["source"] == "torch" and m["exporter"]["torch"] and m["input"]["name"] == "image"
    x = _input(card, 2)
    assert _rel(_session(path).run(None, {"image": x}), _reference(card, x)) <= FP32_TOL
