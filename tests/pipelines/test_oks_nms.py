"""Rescoring and OKS-NMS against PaddleDetection's own code (paddledet 2.6.0).

``oks_nms`` is loaded from ``ppdet/modeling/keypoint_utils.py``; the rescoring and per-image grouping
is the unchanged body of ``KeyPointTopDownCOCOEval.get_final_results``. Tolerance: none. Keep-lists
must be equal element for element (ties included: instances without a confident keypoint all
rescore to 0), and rescored scores bit-identical, in float32 and float64.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from helpers import load_paddledet_method, load_paddledet_module

from kbench.pipelines.oks_nms import oks_nms, rescore_and_nms, rescore_by_keypoints

pytestmark = pytest.mark.parity


@pytest.fixture(scope="module")
def kpu():
    return load_paddledet_module("modeling/keypoint_utils.py", "paddledet_keypoint_utils")


def _crowded_image(rng, n, k=17, dtype=np.float64, spread=30.0):
    """n instances around a few people: many overlaps, so NMS has work to do."""
    centres = rng.uniform(50, 400, (max(1, n // 3), 2))
    who = rng.integers(0, len(centres), n)
    base = rng.uniform(-40, 40, (k, 2))
    xy = centres[who][:, None, :] + base[None] + rng.normal(0, 1, (n, k, 2)) * rng.choice([0.5, 3, spread], (n, 1, 1))
    sc = rng.uniform(0, 1, (n, k, 1))
    return np.concatenate([xy, sc], axis=2).astype(dtype)


@pytest.mark.parametrize("seed", range(20))
def test_oks_nms_keep_list_equals_paddledet(kpu, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    kpts = _crowded_image(rng, n)
    scores = rng.uniform(0, 1, n)
    areas = rng.uniform(500, 40000, n)
    db = [{"keypoints": kpts[i], "score": scores[i], "area": areas[i]} for i in range(n)]
    ref = kpu.oks_nms(db, 0.9)
    ours = oks_nms(kpts, scores, areas, oks_thr=0.9)
    assert list(ours) == [int(i) for i in ref]
    assert len(ref) < n or n < 3  # the case exercises suppression


@pytest.mark.parametrize("thr", [0.5, 0.9, 0.99])
def test_oks_nms_thresholds(kpu, thr):
    rng = np.random.default_rng(int(thr * 100))
    kpts = _crowded_image(rng, 40, spread=5.0)
    scores, areas = rng.uniform(0, 1, 40), rng.uniform(1000, 9000, 40)
    db = [{"keypoints": kpts[i], "score": scores[i], "area": areas[i]} for i in range(40)]
    assert list(oks_nms(kpts, scores, areas, oks_thr=thr)) == [int(i) for i in kpu.oks_nms(db, thr)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(5))
def test_final_results_equal_paddledet_get_final_results(kpu, dtype, seed):
    """Rescoring + OKS-NMS over many images, against the reference method body."""
    rng = np.random.default_rng(1000 + seed)
    images = rng.integers(100, 130, 400)
    kpts = np.concatenate([_crowded_image(rng, 1, dtype=dtype) for _ in images]).astype(dtype)
    for img in np.unique(images):  # give each image its own crowd of overlapping instances
        sel = images == img
        kpts[sel, :, :2] = _crowded_image(rng, int(sel.sum()), dtype=dtype)[:, :, :2]
    kpts[rng.random(len(images)) < 0.05, :, 2] = 0.1  # no confident keypoint: mean taken as 0
    boxes = np.zeros((len(images), 6))
    boxes[:, 0:2] = rng.uniform(0, 500, (len(images), 2))
    boxes[:, 2:4] = rng.uniform(0.2, 2.0, (len(images), 2))
    boxes[:, 4] = np.prod(boxes[:, 2:4] * 200, 1)
    boxes[:, 5] = rng.uniform(0.3, 1.0, len(images))

    captured = {}

    class FakeEval:  # only the attributes get_final_results reads, and the writer it calls
        in_vis_thre = 0.2
        oks_thre = 0.9

        def _write_coco_keypoint_results(self, keypoints):
            captured["kpts"] = keypoints

    method = load_paddledet_method("metrics/keypoint_metrics.py", "KeyPointTopDownCOCOEval", "get_final_results",
                                   {"np": np, "defaultdict": defaultdict, "oks_nms": kpu.oks_nms})
    method(FakeEval(), kpts, boxes, [str(i) for i in images])
    ref = [(p["image"], float(p["score"]), p["keypoints"]) for per_img in captured["kpts"] for p in per_img]

    keep, scores = rescore_and_nms(kpts, boxes[:, 5], boxes[:, 4], images)
    ours = [(int(images[i]), float(scores[i]), kpts[i]) for i in keep]
    assert [r[0] for r in ref] == [o[0] for o in ours]
    assert [r[1] for r in ref] == [o[1] for o in ours]  # bit-identical rescored scores
    for (_, _, a), (_, _, b) in zip(ref, ours):
        np.testing.assert_array_equal(a, b)


def test_rescore_dtype_follows_reference():
    ks = np.array([[0.1, 0.5, 0.9], [0.1, 0.1, 0.1]], dtype=np.float32)
    out = rescore_by_keypoints(ks, np.array([0.8, 0.9]))
    assert out.dtype == np.float64
    expected0 = np.float32(np.float32(0.5) + np.float32(0.9)) / np.float32(2) * np.float64(0.8)
    assert out[0] == expected0 and out[1] == 0.0


def test_tied_scores_follow_reference_order(kpu):
    rng = np.random.default_rng(3)
    kpts = _crowded_image(rng, 30, spread=2.0)
    scores = np.round(rng.uniform(0, 1, 30), 1)  # many ties
    areas = rng.uniform(1000, 9000, 30)
    db = [{"keypoints": kpts[i], "score": scores[i], "area": areas[i]} for i in range(30)]
    assert list(oks_nms(kpts, scores, areas, oks_thr=0.5)) == [int(i) for i in kpu.oks_nms(db, 0.5)]


def test_empty_input():
    assert oks_nms(np.zeros((0, 17, 3)), np.zeros(0), np.zeros(0)).shape == (0,)
