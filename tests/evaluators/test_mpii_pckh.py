"""MPII PCKh against PaddleDetection's own ``KeyPointTopDownMPIIEval.evaluate`` (paddledet 2.6.0).

The reference method body runs unchanged (compiled from the installed paddledet source) on a
``mpii_gt_val.mat`` written in the official layout. Tolerance: none: the reference's float32 curve
and masked means are reproduced, so every number is equal. ``PCKh@0.1`` (threshold 0.1) has no
reference to compare with; it is checked on hand-built cases where 0.1 and 0.11 differ.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict

import numpy as np
import pytest
from helpers import load_paddledet_method
from scipy.io import loadmat, savemat

from kbench.errors import InputError
from kbench.evaluators.mpii_pckh import (
    MPII_JOINTS,
    MpiiGroundTruth,
    MpiiPckhEvaluator,
    evaluate_mpii_pckh,
    load_mpii_gt,
    load_mpii_predictions,
)

pytestmark = pytest.mark.parity


def write_gt_mat(path, joints, missing, heads):
    """Official layout from (N, 16, 2) joints, (N, 16) missing, (N, 2, 2) head boxes: dataset_joints 1x16 cell,
    jnt_missing 16xN, pos_gt_src 16x2xN, headboxes_src 2x2xN."""
    names = np.empty((1, 16), dtype=object)
    for i, n in enumerate(MPII_JOINTS):
        names[0, i] = np.array([n])
    savemat(path, {"dataset_joints": names, "jnt_missing": missing.T.astype(np.float64),
                   "pos_gt_src": np.transpose(joints, (1, 2, 0)), "headboxes_src": np.transpose(heads, (1, 2, 0))})


def reference_pckh(tmp_path, preds0):
    """PaddleDetection's evaluate() on 0-based predictions; gt read from tmp_path/mpii_gt_val.mat."""
    method = load_paddledet_method("metrics/keypoint_metrics.py", "KeyPointTopDownMPIIEval", "evaluate",
                                   {"np": np, "os": os, "loadmat": loadmat, "savemat": savemat,
                                    "OrderedDict": OrderedDict})

    class FakeSelf:
        ann_file = str(tmp_path / "mpii_val.json")

    preds = np.concatenate([preds0, np.ones(preds0.shape[:2] + (1,))], axis=2)
    return method(FakeSelf(), [{"preds": preds}])


def random_set(rng, n):
    joints = rng.uniform(100, 900, (n, 16, 2))
    missing = (rng.random((n, 16)) < 0.15).astype(np.float64)
    centre = joints[:, 9] + rng.normal(0, 5, (n, 2))
    half = rng.uniform(15, 50, (n, 1))
    heads = np.stack([centre - half, centre + half], axis=1)
    headsize = 0.6 * np.linalg.norm(heads[:, 1] - heads[:, 0], axis=1)
    err = rng.normal(0, 1, (n, 16, 2)) * rng.choice([0.05, 0.2, 0.5, 2.0], (n, 16, 1)) * headsize[:, None, None] * 0.5
    preds0 = joints - 1.0 + err  # predictions are 0-based; the ground truth 1-based
    return joints, missing, heads, preds0


@pytest.mark.parametrize("seed", range(6))
def test_equals_paddledet_on_generated_sets(tmp_path, seed):
    rng = np.random.default_rng(seed)
    joints, missing, heads, preds0 = random_set(rng, int(rng.integers(50, 400)))
    write_gt_mat(tmp_path / "mpii_gt_val.mat", joints, missing, heads)
    ref = reference_pckh(tmp_path, preds0)
    ours = evaluate_mpii_pckh(load_mpii_gt(tmp_path / "mpii_gt_val.mat"), preds0)
    for name in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "PCKh"):
        assert ours.stats[name] == float(ref[name]), name
    assert ours.stats["PCKh@0.1_paddledet"] == float(ref["PCKh@0.1"])  # the reference's 0.11 value


@pytest.mark.shared_data
def test_mpii_mini_json_and_mat_agree_with_paddledet(shared_data, tmp_path):
    entries = json.loads((shared_data / "mpii-mini" / "test_mpii.json").read_text())
    joints = np.array([e["joints"] for e in entries], dtype=np.float64)
    vis = np.array([e["joints_vis"] for e in entries], dtype=np.float64)
    # mpii-mini has no head boxes: build one per person around upper neck (8) and head top (9),
    # the segment MPII's head boxes enclose. Synthetic, but the same for kbench and the reference.
    neck, top = joints[:, 8], joints[:, 9]
    centre, half = (neck + top) / 2, np.linalg.norm(top - neck, axis=1)[:, None] / 2
    heads = np.stack([centre - half, centre + half], axis=1)
    rng = np.random.default_rng(0)
    preds0 = joints - 1.0 + rng.normal(0, 6, joints.shape)
    write_gt_mat(tmp_path / "mpii_gt_val.mat", joints, 1 - vis, heads)
    ref = reference_pckh(tmp_path, preds0)
    for e, h in zip(entries, heads):
        e["headbox"] = h.ravel().tolist()
    (tmp_path / "mpii_val_with_heads.json").write_text(json.dumps(entries))
    from_json = evaluate_mpii_pckh(load_mpii_gt(tmp_path / "mpii_val_with_heads.json"), preds0)
    from_mat = evaluate_mpii_pckh(load_mpii_gt(tmp_path / "mpii_gt_val.mat"), preds0)
    assert from_json.stats == from_mat.stats
    assert from_mat.stats["PCKh"] == float(ref["PCKh"])
    assert from_mat.stats["Head"] == float(ref["Head"])


def _one_person_gt(errors_in_headsizes):
    """Ground truth of one person with head size 30 px (0.6 x the 50 px diagonal of a 30 x 40 box)."""
    joints = np.tile(np.array([[500.0, 500.0]]), (16, 1))[None]
    heads = np.array([[[0.0, 0.0], [30.0, 40.0]]])
    gt = MpiiGroundTruth(MPII_JOINTS, np.zeros((16, 1)), np.transpose(joints, (1, 2, 0)),
                         np.transpose(heads, (1, 2, 0)))
    preds0 = joints - 1.0
    preds0[0, :, 0] += np.asarray(errors_in_headsizes) * 30.0
    return gt, preds0


def test_true_pckh_at_0_1_differs_from_reference_0_11():
    errs = np.full(16, 0.105)  # inside 0.11, outside 0.1
    errs[:4] = 0.05
    gt, preds0 = _one_person_gt(errs)
    res = evaluate_mpii_pckh(gt, preds0)
    # Joints 0-3 are correct at 0.1; the mean weights the 14 joints other than pelvis and thorax equally.
    assert res.stats["PCKh@0.1"] == pytest.approx(100 * 4 / 14, abs=1e-9)
    assert res.stats["PCKh@0.1_paddledet"] == pytest.approx(100.0, abs=1e-4)
    assert res.stats["PCKh"] == pytest.approx(100.0)


def test_threshold_is_inclusive():
    gt, preds0 = _one_person_gt(np.full(16, 0.5))  # 15 px off at head size 30: exactly 0.5, counted
    assert evaluate_mpii_pckh(gt, preds0).stats["PCKh"] == pytest.approx(100.0)
    gt, preds0 = _one_person_gt(np.full(16, 0.51))
    assert evaluate_mpii_pckh(gt, preds0).stats["PCKh"] == 0.0


def test_evaluator_update_merge_equals_one_shot(tmp_path):
    rng = np.random.default_rng(4)
    joints, missing, heads, preds0 = random_set(rng, 120)
    gt = MpiiGroundTruth(MPII_JOINTS, missing.T, np.transpose(joints, (1, 2, 0)), np.transpose(heads, (1, 2, 0)))
    a, b = MpiiPckhEvaluator(gt), MpiiPckhEvaluator(gt)
    a.update(preds0[:50])
    b.update(preds0[50:])
    assert a.merge(b).compute().stats == evaluate_mpii_pckh(gt, preds0).stats


def test_prediction_count_must_match(tmp_path):
    rng = np.random.default_rng(5)
    joints, missing, heads, preds0 = random_set(rng, 10)
    gt = MpiiGroundTruth(MPII_JOINTS, missing.T, np.transpose(joints, (1, 2, 0)), np.transpose(heads, (1, 2, 0)))
    with pytest.raises(InputError, match="9 predictions for 10"):
        evaluate_mpii_pckh(gt, preds0[:9])


def test_prediction_formats(tmp_path):
    rng = np.random.default_rng(6)
    preds0 = rng.uniform(0, 100, (7, 16, 2))
    (tmp_path / "paddle.json").write_text(json.dumps([{"preds": np.concatenate([p, np.ones((16, 1))], 1).tolist(),
                                                        "boxes": [0] * 6, "image_path": "x.jpg"} for p in preds0]))
    np.save(tmp_path / "p.npy", preds0)
    savemat(tmp_path / "pred.mat", {"preds": preds0 + 1.0})  # HRNet writes 1-based
    for name in ("paddle.json", "p.npy", "pred.mat"):
        np.testing.assert_allclose(load_mpii_predictions(tmp_path / name), preds0, rtol=0, atol=1e-12)


def test_json_without_headbox_is_refused(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"joints": [[1, 1]] * 16, "joints_vis": [1] * 16}]))
    with pytest.raises(InputError, match="no 'headbox'"):
        load_mpii_gt(tmp_path / "a.json")
