"""kbench's PyTorch networks against kbench's Paddle networks, on the same PaddleDetection-format checkpoints.

For every architecture variant: kbench's Paddle network (bit-identical to PaddleDetection's, see
test_paddle_networks_parity.py) gets random weights, BatchNorm statistics randomised too so that every tensor
matters; its state dict is written with ``save_pdparams``, read back with ``load_pdparams`` and loaded into the
torch network, which must take every key (no missing, no unexpected, same shapes) and give the same heatmaps
(and tags) on the same input.

Tolerance: max |torch - paddle| <= 1e-4 x max |paddle|. Both run float32 on the CPU but with different
convolution kernels (oneDNN in torch, Paddle's own or oneDNN with other blocking), which sum in different
orders; the rounding differences stay near 1e-6 relative through these depths (observed 2e-7 to 8e-7), while a
wrong layer, name mapping or interpolation mode differs by order one. The ONNX checks use the same bound.

torch runs on one thread here (restored afterwards): its OpenMP threads spin-wait, and on a shared machine with
fewer free cores than threads a 0.1 s forward pass of these small inputs was measured at 4 to 6 s.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: pip install 'kbench[torch]'")

from kbench.cards import get_card  # noqa: E402
from kbench.errors import InputError  # noqa: E402
from kbench.weights.checkpoint import load_pdparams, save_pdparams  # noqa: E402
from kbench.zoo.torch.build import build_torch_network  # noqa: E402
from kbench.zoo.torch.load import (  # noqa: E402
    build_torch_from_card,
    load_state_strict,
    load_torch_model,
    paddle_state_dict,
    paddle_to_torch_key,
    torch_to_paddle_key,
)

TOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

CASES = {
    "hrnet_w32": dict(architecture="TopDownHRNet", backbone="HRNet", width=32, num_joints=17, size=(128, 96)),
    "hrnet_w48": dict(architecture="TopDownHRNet", backbone="HRNet", width=48, num_joints=17, size=(128, 96)),
    "hrnet_w32_mpii": dict(architecture="TopDownHRNet", backbone="HRNet", width=32, num_joints=16, size=(128, 128)),
    "lite_18": dict(architecture="TopDownHRNet", backbone="LiteHRNet", network_type="lite_18", num_joints=17,
                    size=(128, 96)),
    "lite_30": dict(architecture="TopDownHRNet", backbone="LiteHRNet", network_type="lite_30", num_joints=17,
                    size=(128, 96)),
    "naive": dict(architecture="TopDownHRNet", backbone="LiteHRNet", network_type="naive", num_joints=17,
                  size=(128, 96)),
    "wider_naive": dict(architecture="TopDownHRNet", backbone="LiteHRNet", network_type="wider_naive", num_joints=17,
                        size=(128, 96)),
    "higherhrnet": dict(architecture="HigherHRNet", backbone="HRNet", width=32, num_joints=17, size=(128, 128)),
    "higherhrnet_swahr": dict(architecture="HigherHRNet", backbone="HRNet", width=32, num_joints=17, swahr=True,
                              size=(128, 128)),
}


def _arch(case: dict) -> dict:
    return {k: v for k, v in case.items() if k != "size"}


def _outputs(out) -> list:
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else [out])]


def _random_state(shapes: dict, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {k: (rng.uniform(0.5, 1.5, s) if k.endswith("_variance") else rng.normal(0, 0.1, s)).astype("float32")
            for k, s in shapes.items()}


def _rel_diff(expected: np.ndarray, got: np.ndarray) -> float:
    return float(np.abs(expected - got).max() / np.abs(expected).max())


@pytest.mark.parity
@pytest.mark.parametrize("name", list(CASES))
def test_pdparams_load_into_torch_and_outputs_match_paddle(name, tmp_path):
    paddle = pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")
    from kbench.zoo.paddle.build import build_network

    case = CASES[name]
    paddle.seed(0)
    ref = build_network(**_arch(case))
    ref.eval()
    state = _random_state({k: tuple(v.shape) for k, v in ref.state_dict().items()})
    ref.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    path = save_pdparams(state, tmp_path / f"{name}.pdparams")

    net = build_torch_network(**_arch(case)).eval()
    loaded = load_pdparams(path)
    own = paddle_state_dict(net)
    assert set(own) == set(loaded)  # no missing, no unexpected key after the BatchNorm renames
    assert all(own[k].shape == loaded[k].shape for k in own)
    load_state_strict(net, loaded, str(path))
    for key, value in paddle_state_dict(net).items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)

    x = np.random.default_rng(1).normal(0, 1, (2, 3, *case["size"])).astype("float32")
    with paddle.no_grad():
        expected = _outputs(ref(paddle.to_tensor(x)))
    with torch.no_grad():
        got = _outputs(net(torch.from_numpy(x)))
    assert len(got) == len(expected) == (1 if case["architecture"] == "TopDownHRNet" else 2)
    for i, (e, g) in enumerate(zip(expected, got)):
        assert e.shape == g.shape
        assert g.dtype == np.float32
        rel = _rel_diff(e, g)
        print(f"{name} output {i}: max |torch - paddle| = {np.abs(e - g).max():.3e}, relative {rel:.3e}")
        assert rel <= TOL, f"{name} output {i}: max diff {rel:.2e} of the largest magnitude"


def test_batchnorm_names_are_the_only_renames():
    assert paddle_to_torch_key("a.norm._mean") == "a.norm.running_mean"
    assert paddle_to_torch_key("a.norm._variance") == "a.norm.running_var"
    assert paddle_to_torch_key("a.conv.weight") == "a.conv.weight"
    net = build_torch_network("TopDownHRNet", "LiteHRNet", 17, network_type="naive")
    for key in net.state_dict():
        if not key.endswith("num_batches_tracked"):
            assert paddle_to_torch_key(torch_to_paddle_key(key)) == key


@pytest.fixture(scope="module")
def card():
    return get_card("tinypose_128x96")


@pytest.fixture()
def checkpoint(card, tmp_path):
    net = build_torch_from_card(card)
    state = _random_state({k: v.shape for k, v in paddle_state_dict(net).items()}, seed=3)
    return save_pdparams(state, tmp_path / "tinypose.pdparams"), state


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_local_checkpoint_loads_every_key(card, checkpoint):
    path, state = checkpoint
    net, info = load_torch_model(card, str(path))
    assert not info.random and len(info.sha256) == 64 and not net.training
    for key, value in paddle_state_dict(net).items():
        np.testing.assert_array_equal(value, state[key])


def test_missing_key_is_refused_in_one_line(card, checkpoint, tmp_path):
    _, state = checkpoint
    broken = dict(state)
    gone = next(k for k in broken if k.endswith("_variance"))
    broken.pop(gone)
    save_pdparams(broken, tmp_path / "broken.pdparams")
    with pytest.raises(InputError, match="1 missing") as exc:
        load_torch_model(card, str(tmp_path / "broken.pdparams"))
    assert gone in _one_line(exc)  # in Paddle's name, as the Paddle loader says it


def test_unexpected_key_and_wrong_shape_are_refused(card, checkpoint, tmp_path):
    _, state = checkpoint
    save_pdparams(dict(state, **{"extra.weight": np.zeros(3, "float32")}), tmp_path / "extra.pdparams")
    with pytest.raises(InputError, match="1 unexpected") as exc:
        load_torch_model(card, str(tmp_path / "extra.pdparams"))
    _one_line(exc)
    key = next(k for k, v in state.items() if v.ndim == 4)
    save_pdparams(dict(state, **{key: np.zeros((1, 1, 1, 1), "float32")}), tmp_path / "bad.pdparams")
    with pytest.raises(InputError, match="has shape") as exc:
        load_torch_model(card, str(tmp_path / "bad.pdparams"))
    _one_line(exc)


def test_num_batches_tracked_in_a_checkpoint_is_ignored(card, checkpoint):
    _, state = checkpoint
    net = build_torch_from_card(card)
    extra = dict(state, **{"backbone.stem.conv1.norm.num_batches_tracked": np.array(7)})
    load_state_strict(net, extra, "test")


def test_random_weights_equal_paddles_random_weights(card):
    pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")
    from kbench.zoo.paddle.load import load_model

    net, info = load_torch_model(card, "random", seed=5)
    ref, ref_info = load_model(card, "random", seed=5)
    assert info == ref_info and info.label() == "random weights (seed 5)"
    expected = {k: v.numpy() for k, v in ref.state_dict().items()}
    got = paddle_state_dict(net)
    assert set(got) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_numpy_random_weights_are_seeded_and_labelled(card):
    a, info = load_torch_model(card, "random", seed=2, random_init="numpy")
    b, _ = load_torch_model(card, "random", seed=2, random_init="numpy")
    c, _ = load_torch_model(card, "random", seed=3, random_init="numpy")
    assert info.random and info.source == "random-numpy" and info.seed == 2
    sa, sb, sc = paddle_state_dict(a), paddle_state_dict(b), paddle_state_dict(c)
    key = "backbone.stem.conv1.conv.weight"
    np.testing.assert_array_equal(sa[key], sb[key])
    assert not np.array_equal(sa[key], sc[key])
    with torch.no_grad():
        out = a(torch.zeros(1, 3, 128, 96) + 0.5)
    assert torch.isfinite(out).all()
    with pytest.raises(InputError, match="random initialisation"):
        load_torch_model(card, "random", random_init="jax")


def test_random_weights_fall_back_to_numpy_without_paddle(card, monkeypatch):
    import kbench.zoo.paddle
    from kbench.errors import MissingBackendError

    def no_paddle():
        raise MissingBackendError("paddlepaddle", "paddle")

    monkeypatch.setattr(kbench.zoo.paddle, "import_paddle", no_paddle)
    net, info = load_torch_model(card, "random", seed=2)
    expected, _ = load_torch_model(card, "random", seed=2, random_init="numpy")
    assert info.source == "random-numpy"
    key = "final_conv.weight"
    np.testing.assert_array_equal(paddle_state_dict(net)[key], paddle_state_dict(expected)[key])
    with pytest.raises(MissingBackendError, match="paddlepaddle"):
        load_torch_model(card, "random", random_init="paddle")


def _ort_matches(path, net, x) -> list:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: pip install 'kbench[onnx]'")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x})
    with torch.no_grad():
        expected = _outputs(net(torch.from_numpy(x)))
    assert [o.name for o in sess.get_outputs()] == (["heatmaps"] if len(expected) == 1 else ["heatmaps", "tags"])
    rels = []
    for e, g in zip(expected, got):
        assert e.shape == g.shape
        rels.append(_rel_diff(e, g))
        assert rels[-1] <= TOL
    return rels


def test_onnx_export_top_down_dynamic_batch(card, tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx is not installed: pip install 'kbench[onnx]'")
    from kbench.export.onnx_torch import export_onnx_from_torch

    path = export_onnx_from_torch(card, tmp_path / "out" / "tinypose.onnx", weights="random")
    model = onnx.load(str(path))  # export_onnx_from_torch has run onnx.checker already; run it again here
    onnx.checker.check_model(model)
    dims = [[d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
            for v in [*model.graph.input, *model.graph.output]]
    assert [v.name for v in model.graph.input] == ["image"]
    assert dims == [["batch", 3, 128, 96], ["batch", 17, 32, 24]]
    assert {p.key: p.value for p in model.metadata_props}["kbench.model"] == card.name
    net, _ = load_torch_model(card, "random")
    for n in (1, 3):
        _ort_matches(path, net, np.random.default_rng(n).normal(0, 1, (n, 3, 128, 96)).astype("float32"))


def test_onnx_export_bottom_up_fixed_batch_dynamic_size(tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx is not installed: pip install 'kbench[onnx]'")
    from kbench.export.onnx_torch import export_onnx_from_torch

    card = get_card("higherhrnet_hrnet_w32_512")
    path = export_onnx_from_torch(card, tmp_path, weights="random", batch=1, opset=17)
    assert path == tmp_path / "model.onnx"
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 17
    assert [o.name for o in model.graph.output] == ["heatmaps", "tags"]
    assert [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim] == \
        [1, 3, "height", "width"]
    net, _ = load_torch_model(card, "random")
    for size in ((128, 128), (128, 192)):  # whole images of different sizes through one graph
        _ort_matches(path, net, np.random.default_rng(0).normal(0, 1, (1, 3, *size)).astype("float32"))


def test_onnx_export_refuses_bad_arguments(card, tmp_path):
    pytest.importorskip("onnx", reason="onnx is not installed: pip install 'kbench[onnx]'")
    from kbench.export.onnx_torch import export_onnx_from_torch

    with pytest.raises(InputError, match="batch"):
        export_onnx_from_torch(card, tmp_path / "m.onnx", batch=0)
    with pytest.raises(InputError, match="opset"):
        export_onnx_from_torch(card, tmp_path / "m.onnx", opset=9)
