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
