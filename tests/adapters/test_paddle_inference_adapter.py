"""Paddle Inference adapter: kbench's export under oneDNN, deploy packages, refusals.

Tolerance against Paddle dygraph FP32: 1e-4 relative to the largest output, the conformance bound;
oneDNN's convolution kernels accumulate in another order than Paddle's plain CPU kernels (observed
differences are about 1e-6).
"""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")

from kbench.adapters.base import get_adapter  # noqa: E402
from kbench.cards import get_card  # noqa: E402
from kbench.conformance import compare_outputs, reference_input  # noqa: E402
from kbench.errors import InputError  # noqa: E402
from kbench.export.paddle_inference import export_paddle_inference  # noqa: E402


@pytest.fixture(scope="module")
def card():
    return get_card("tinypose_128x96")


@pytest.fixture(scope="module")
def reference(card):
    with get_adapter("paddle") as a:
        a.load(card, weights="random")
        return a.run(reference_input(card, 2))


def test_onednn_run_matches_dygraph(card, reference):
    with get_adapter("paddle-inference") as a:
        a.load(card, weights="random", threads=2)
        info = a.describe()
        got = a.run(reference_input(card, 2))
    assert info["onednn"] and info["threads"] == 2 and info["device"] == "cpu"
    assert compare_outputs(reference, got)["max_rel"] <= 1e-4


def test_deploy_package_like_the_zoo_s(card, reference, tmp_path):
    """A .tar laid out as PaddleDetection's deploy packages: <name>/model.pdmodel, model.pdiparams, infer_cfg.yml."""
    model_dir = tmp_path / "tinypose_128x96"
    export_paddle_inference(card, model_dir, "random", None, legacy=True)
    (model_dir / "manifest.json").unlink()
    (model_dir / "infer_cfg.yml").write_text(
        "mode: paddle\ndraw_threshold: 0.5\nmetric: KeyPointTopDownCOCOEval\nuse_dynamic_shape: false\n"
        "arch: HRNet\nmin_subgraph_size: 3\nPreprocess:\n- trainsize: [96, 128]\n  type: TopDownEvalAffine\n"
        "- type: Permute\nlabel_list:\n- keypoint\n")
    package = tmp_path / "tinypose_128x96.tar"
    with tarfile.open(package, "w") as tar:
        tar.add(model_dir, arcname="tinypose_128x96")
    with get_adapter("paddle-inference") as a:
        a.load(card, model_dir=str(package))
        got = a.run(reference_input(card, 2))
    assert compare_outputs(reference, got)["max_rel"] <= 1e-4


def test_package_for_another_input_size_is_refused(card, tmp_path):
    model_dir = tmp_path / "pkg"
    model_dir.mkdir()
    (model_dir / "model.pdmodel").write_bytes(b"x")
    (model_dir / "model.pdiparams").write_bytes(b"x")
    (model_dir / "infer_cfg.yml").write_text("arch: HRNet\nPreprocess:\n- trainsize: [192, 256]\n")
    with pytest.raises(InputError, match="trainsize"):
        get_adapter("paddle-inference").load(card, model_dir=str(model_dir))


def test_tar_escaping_its_directory_is_refused(card, tmp_path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        data = b"boom"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(InputError, match="outside the package"):
        get_adapter("paddle-inference").load(card, model_dir=str(evil))
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_gpu_without_cuda_is_one_line(card):
    with pytest.raises(InputError, match="GPU") as info:
        get_adapter("paddle-inference").load(card, device="gpu")
    assert "\n" not in str(info.value)


def test_wrong_input_size_is_refused(card):
    with get_adapter("paddle-inference") as a:
        a.load(card, weights="random")
        with pytest.raises(InputError, match="128x96"):
            a.run(np.zeros((1, 3, 64, 64), np.float32))


def test_unknown_option_is_one_line(card):
    with pytest.raises(InputError, match="unknown option.*colour"):
        get_adapter("paddle-inference").load(card, colour=1)


# --- Paddle-TensorRT configuration, on the real paddle.inference.Config -----------------------------------------
# A CPU build of Paddle refuses enable_use_gpu / enable_tensorrt_engine ("compile with TENSORRT first"); the
# recorder below lets those two through as records (after checking the real Config has them) and forwards every
# other call to a real Config, whose getters then show what the configuration did.


class _RecordingConfig:
    RECORDED = ("enable_use_gpu", "enable_tensorrt_engine")

    def __init__(self):
        from paddle import inference

        self.real = inference.Config()
        self.calls = []

    def __getattr__(self, name):
        method = getattr(self.real, name)  # AttributeError for a method Paddle's Config does not have
        if name in self.RECORDED:
            return lambda *args, **kwargs: self.calls.append((name, args, kwargs))
        return method


def _configure(card, batch=1, precision="fp32", **kwargs):
    from paddle import inference

    from kbench.adapters.paddle_inference import configure_gpu

    cfg = _RecordingConfig()
    shapes = configure_gpu(cfg, inference, precision, batch, True, card, **kwargs)
    return cfg, shapes


def test_paddle_trt_top_down_fixed_batch_needs_no_dynamic_shapes(card):
    from paddle import inference

    cfg, shapes = _configure(card, batch=8, precision="fp16")
    assert shapes == {"source": "static", "input": {"min": [8, 3, 128, 96], "opt": [8, 3, 128, 96],
                                                    "max": [8, 3, 128, 96]}}
    (gpu, gpu_args, _), (trt, _, trt_kwargs) = cfg.calls
    assert gpu == "enable_use_gpu" and gpu_args == (256, 0) and trt == "enable_tensorrt_engine"
    assert trt_kwargs == {"workspace_size": 1 << 30, "max_batch_size": 8, "min_subgraph_size": 3,
                          "precision_mode": inference.PrecisionType.Half, "use_static": False,
                          "use_calib_mode": False}
    assert not cfg.real.tensorrt_dynamic_shape_enabled()


def test_paddle_trt_bottom_up_gets_the_profile_range():
    cfg, shapes = _configure(get_card("higherhrnet_hrnet_w32_512"))
    assert shapes["source"] == "profile" and shapes["input"]["max"] == [1, 3, 1024, 1024]
    assert cfg.real.tensorrt_dynamic_shape_enabled()  # set_trt_dynamic_shape_info reached the real Config
    cfg, _ = _configure(get_card("higherhrnet_hrnet_w32_512"), input_hw=(512, 640))
    assert not cfg.real.tensorrt_dynamic_shape_enabled()  # one pinned size: static


def test_paddle_trt_collected_shapes(card, tmp_path):
    """'collect': the ranges of every tensor from a real collection pass (on the CPU), then tuned dynamic shape."""
    from kbench.adapters.paddle_inference import collect_shape_ranges
    from kbench.export.paddle_inference import model_files

    out = export_paddle_inference(card, tmp_path / "dyn", "random", batch=None, legacy=True)
    graph, params = model_files(out)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((n, 3, 128, 96)).astype(np.float32) for n in (1, 3)]
    calls = []

    def collect(file):
        calls.append(file)
        return collect_shape_ranges(graph, params, inputs, file)

    shape_file = tmp_path / "ranges" / "tinypose.pbtxt"
    cfg, shapes = _configure(card, trt_shapes="collect", shape_file=shape_file, collect=collect)
    text = shape_file.read_text()
    assert 'name: "image"' in text and "min_shape: 1" in text and "max_shape: 3" in text
    assert text.count("shape_range_info") > 50  # every intermediate tensor, not only the input
    assert shapes == {"source": "collected", "file": str(shape_file), "input": shapes["input"]}
    assert cfg.real.tuned_tensorrt_dynamic_shape() and cfg.real.trt_allow_build_at_runtime()
    _configure(card, trt_shapes="collect", shape_file=shape_file, collect=collect)
    assert len(calls) == 1  # reused: the file and its manifest are there
    shape_file.with_suffix(".manifest.json").unlink()
    _configure(card, trt_shapes="collect", shape_file=shape_file, collect=collect)
    assert len(calls) == 2  # no manifest: not trusted, collected again
    cfg, shapes = _configure(card, trt_shapes=str(shape_file))
    assert shapes == {"source": "given", "file": str(shape_file)} and cfg.real.tuned_tensorrt_dynamic_shape()
    with pytest.raises(InputError, match="not a shape_range_info file"):
        _configure(card, trt_shapes=str(tmp_path / "missing.pbtxt"))
