"""Your own models: ``kbench card import``, ``--model CARD.yml`` and ``-c CONFIG.yml -o key=value``, end to end.

A 21-joint hand config without flip pairs (``tests/fixtures/paddledet_configs/hand21_128x96.yml``, modelled on
PaddleDetection's tiny_pose configs) is imported into a card that profiles, exports to ONNX, runs on ONNX Runtime
and evaluates (PCK/AUC/EPE, or OKS AP with the card's sigmas) on a generated 21-joint sample; bad cards, configs,
checkpoints and annotations end in one line and exit 2 with nothing written. In-process ``kbench.cli.main`` (one
framework import); no marker.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from kbench.cli import main

HAND = Path(__file__).parents[1] / "fixtures" / "paddledet_configs" / "hand21_128x96.yml"
SIGMAS = [round(0.02 + 0.001 * k, 3) for k in range(21)]


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no error message"
    return err[-1]


@pytest.fixture(scope="module")
def card(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cards") / "hand21_128x96.yml"
    assert main(["card", "import", str(HAND), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, card) -> dict:
    """Seeded random checkpoints: one for the 21-joint card, one for the 17-joint zoo model (a mismatch)."""
    from kbench.cards import get_card
    from kbench.weights.checkpoint import save_pdparams
    from kbench.zoo.paddle.load import build_random

    folder = tmp_path_factory.mktemp("weights")
    out = {}
    for key, ref in (("hand21", str(card)), ("coco17", "tinypose_128x96")):
        net = build_random(get_card(ref), seed=3)
        out[key] = save_pdparams({k: v.numpy() for k, v in net.state_dict().items()}, folder / f"{key}.pdparams")
    return out


def test_card_import_writes_a_card_and_lists_kept_keys(card, tmp_path, capsys):
    from kbench.cards import get_card

    c = get_card(str(card))
    assert c.num_joints == 21 and c.flip_perm == () and not c.eval.flip and c.metric.endswith("HandEval")
    out = tmp_path / "mine.yml"
    assert main(["card", "import", str(HAND), "--out", str(out), "-o", "my_key=1"]) == 0
    text = capsys.readouterr().out
    assert "21 joints" in text and "no flip" in text and "my_key" in text and "LearningRate" in text
    assert get_card(str(out)).name == "mine"
    before = out.read_bytes()
    assert main(["card", "import", str(HAND), "--out", str(out)]) == 2  # no silent overwrite
    assert "--force" in _err_line(capsys) and out.read_bytes() == before
    refused = tmp_path / "vit.yml"
    assert main(["card", "import", str(HAND), "--out", str(refused), "-o", "architecture=VitPose_TopDown"]) == 2
    assert "kbench has no network for it" in _err_line(capsys) and not refused.exists()
    assert list(tmp_path.iterdir()) == [out]  # nothing half-written


def _profile(capsys, tmp_path, *argv) -> dict:
    rec = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}.json"
    assert main(["profile", *argv, "--record", str(rec)]) == 0, capsys.readouterr().err
    return json.loads(rec.read_text())


def test_profile_counts_the_21_joint_head(card, tmp_path, capsys):
    mine = _profile(capsys, tmp_path, "--model", str(card))
    zoo = _profile(capsys, tmp_path, "--model", "tinypose_128x96")
    # the same network but the head: 4 more output channels of a 1x1 convolution over 40 channels (+ bias)
    assert mine["metrics"]["params"] - zoo["metrics"]["params"] == 4 * 40 + 4
    assert mine["metrics"]["flops"] - zoo["metrics"]["flops"] == 4 * 32 * 24 * (40 + 1)
    as_config = _profile(capsys, tmp_path, "-c", str(HAND))  # PaddleDetection's own command shape
    assert as_config["metrics"] == mine["metrics"]


def test_export_runs_on_onnx_runtime(card, tmp_path, capsys):
    import onnxruntime as ort

    out = tmp_path / "hand21.onnx"
    assert main(["export", "--model", str(card), "--to", "onnx", "--weights", "random", "--batch", "1",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (heatmaps,) = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, 128, 96), np.float32)})
    assert heatmaps.shape == (1, 21, 32, 24) and np.isfinite(heatmaps).all()


def _eval(capsys, tmp_path, *argv, code: int = 0) -> dict | None:
    rec = tmp_path / "eval.json"
    got = main(["eval", *argv, "--no-progress", "--workers", "0", "--record", str(rec),
                "--results", str(tmp_path / "kp.json")])
    assert got == code, capsys.readouterr().err
    return json.loads(rec.read_text()) if code == 0 else None


def test_eval_on_onnx_runtime_gives_pck_auc_epe(card, tmp_path, capsys):
    rec = _eval(capsys, tmp_path, "--model", str(card), "--sample", "6", "--weights", "random")
    m, opts = rec["metrics"], rec["options"]
    assert {"PCK", "AUC", "EPE"} <= set(m) and 0 <= m["PCK"] <= 1 and 0 <= m["AUC"] <= 1 and m["EPE"] > 0
    assert opts["flip"] is False and opts["backend"] == "onnxruntime" and opts["num_joints"] == 21
    assert "KeyPointTopDownCOCOWholeBadyHandEval" in opts["evaluator"]
    assert rec["inputs"]["sample"]["num_joints"] == 21
    rows = json.loads((tmp_path / "kp.json").read_text())
    assert rows and all(len(r["keypoints"]) == 21 * 3 for r in rows)


def test_eval_config_and_weights_as_paddledetection_passes_them(checkpoints, tmp_path, capsys):
    stem = str(checkpoints["hand21"]).removesuffix(".pdparams")  # ppdet's weights: no suffix
    rec = _eval(capsys, tmp_path, "-c", str(HAND), "-o", f"weights={stem}", "--sample", "6", "--backend", "paddle")
    assert rec["options"]["weights"]["sha256"] and rec["options"]["weights"]["random"] is False
    assert rec["options"]["model"].endswith("hand21_128x96.yml") and "PCK" in rec["metrics"]


def test_oks_ap_with_the_cards_sigmas(tmp_path, capsys):
    rec = _eval(capsys, tmp_path, "-c", str(HAND), "-o", "metric=KeyPointTopDownCOCOEval", f"sigmas={SIGMAS}",
                "--sample", "6", "--weights", "random", "--backend", "paddle")
    assert "AP" in rec["metrics"] and rec["options"]["sigmas"] == SIGMAS
    assert "AP.k20" in rec["metrics"]  # per-keypoint AP over the 21 joints


def test_checkpoint_of_another_joint_count_is_one_line(checkpoints, tmp_path, capsys):
    _eval(capsys, tmp_path, "-c", str(HAND), "-o", f"weights={checkpoints['coco17']}", "--sample", "6",
          "--backend", "paddle", code=2)
    assert "predicts 17 joints" in _err_line(capsys)
    assert not (tmp_path / "eval.json").exists() and not (tmp_path / "kp.json").exists()


def test_annotations_of_another_joint_count_are_one_line(card, tmp_path, capsys):
    from kbench.datasets.sample_images import sample_dataset

    coco17 = sample_dataset(num_images=2)
    _eval(capsys, tmp_path, "--model", str(card), "--ann", str(coco17.ann_file), "--image-dir",
          str(coco17.image_dir), "--weights", "random", "--backend", "paddle", code=2)
    assert "17 keypoints per person" in _err_line(capsys) and not (tmp_path / "eval.json").exists()


def _broken_card(tmp_path: Path, card: Path, edit) -> Path:
    data = yaml.safe_load(card.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "hand21_128x96.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["eval"].update(flip=True), "field 'eval.flip': flip_perm is empty"),
    (lambda d: d.update(metric="KeyPointTopDownCOCOEval"), "field 'sigmas': coco has 17 joints"),
    (lambda d: d.update(metric="KeyPointTopDownCOCOEval", sigmas=[0.1] * 3), "expected 21 sigmas"),
    (lambda d: d.update(architecture="VitPose"), "field 'architecture': expected one of"),
    (lambda d: d.update(num_joints=0), "field 'num_joints': expected a whole number >= 1"),
    (lambda d: d.update(flip_perm=[[1, 21]]), "joint index 21 is outside 0..20"),
    (lambda d: d.update(config_extra=[1]), "field 'config_extra': expected a mapping"),
])
def test_bad_cards_are_one_line_naming_the_key(card, tmp_path, capsys, edit, expected):
    path = _broken_card(tmp_path, card, edit)
    _eval(capsys, tmp_path, "--model", str(path), "--sample", "2", "--weights", "random", code=2)
    line = _err_line(capsys)
    assert expected in line and str(path) in line


def test_unparseable_card_and_usage_errors(card, tmp_path, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\nflip_perm: [[1, 2\n", encoding="utf-8")
    _eval(capsys, tmp_path, "--model", str(bad), "--sample", "2", code=2)
    assert "invalid YAML at line" in _err_line(capsys)
    _eval(capsys, tmp_path, "--model", str(tmp_path / "missing.yml"), "--sample", "2", code=2)
    assert "cannot read the model card" in _err_line(capsys)
    _eval(capsys, tmp_path, "--sample", "2", "-o", "weights=x", code=2)
    assert "-c CONFIG.yml" in _err_line(capsys)
    _eval(capsys, tmp_path, "-c", str(HAND), "--model", str(card), "--sample", "2", code=2)
    assert "do not give --model" in _err_line(capsys)
    _eval(capsys, tmp_path, "--model", str(card), "--sample", "2", "--flip", code=2)
    assert "flip_perm: []" in _err_line(capsys)
    _eval(capsys, tmp_path, "--model", str(card), "--weights", "random", code=2)  # no data: no fetch hint for 21 joints
    line = _err_line(capsys)
    assert "21 keypoints per person" in line and "data fetch" not in line
    assert not (tmp_path / "eval.json").exists()


def _score(card_path: str, shift: float = 0.0) -> dict:
    """The evaluation of perfect (or uniformly shifted) keypoints through the runner's own merge and metrics."""
    from kbench.pipelines.topdown_run import StageTimes
    from kbench.runners.evaluate_model import InferenceOutput, finish_model_eval, prepare_model_eval
    from kbench.specs import EvalSpec

    spec = EvalSpec(model=card_path, sample=6, weights="random", backend="paddle")
    job = prepare_model_eval(spec)
    kp = job.gt.keypoints[job.plan.ann_index].astype(np.float32)  # each crop's own annotation, in plan order
    kp[:, :, 0] += shift
    kp[:, :, 2] = 0.9
    return finish_model_eval(spec, job, [InferenceOutput(0, kp, StageTimes(), {}, {"random": False})])["metrics"]


def test_pck_of_perfect_and_shifted_keypoints(card):
    m = _score(str(card))
    assert m["PCK"] == 1.0 and m["EPE"] < 1e-4 and m["AUC"] == pytest.approx(19 / 20)  # float32; threshold 0: none
    m = _score(str(card), shift=3.0)
    assert m["EPE"] == pytest.approx(3.0, abs=1e-4) and m["PCK"] == 1.0  # 3 px is far below 0.2 of any box here


def test_oks_ap_of_perfect_keypoints_with_the_cards_sigmas(tmp_path):
    from kbench.card_import import cached_card_for_config

    path, _ = cached_card_for_config(HAND, ["metric=KeyPointTopDownCOCOEval", f"sigmas={SIGMAS}"])
    m = _score(str(path))
    assert m["AP"] == 1.0 and m["AR"] == 1.0
    assert _score(str(path), shift=40.0)["AP"] < 0.5
