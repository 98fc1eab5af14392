"""Parity of kbench's COCO keypoint evaluator with pycocotools.

Tolerance: none. The issue allows 1e-12 on the 10 summary numbers, but kbench reproduces
pycocotools' arithmetic order (see kbench.evaluators._rowsum), so these tests require the full
precision (T x R x K x A), recall and score arrays to be *bit-identical*, the stats equal, and the
printed summary the same text. A looser check would hide a last-bit OKS difference that, on other
data, moves a detection across an OKS threshold.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import pycocotools_eval

from kbench.datasets.boxes import load_detector_boxes
from kbench.datasets.coco import CocoKeypointGroundTruth, KeypointDetections, load_coco_keypoints
from kbench.datasets.synthetic import dets_to_results, gt_to_coco_dict, make_coco_like, predictions_from_boxes
from kbench.evaluators.coco_keypoints import evaluate_coco_keypoint_files, evaluate_coco_keypoints

pytestmark = pytest.mark.parity


def assert_same_as_pycocotools(gt_dict: dict, results: list):
    gt = CocoKeypointGroundTruth.from_dict(gt_dict)
    dets = KeypointDetections.from_results(results, gt.num_joints)
    ours = evaluate_coco_keypoints(gt, dets)
    ref, ref_text = pycocotools_eval(gt_dict, results)
    np.testing.assert_array_equal(ours.precision, ref.eval["precision"])
    np.testing.assert_array_equal(ours.recall, ref.eval["recall"])
    np.testing.assert_array_equal(ours.scores, ref.eval["scores"])
    np.testing.assert_array_equal(ours.stats_array, ref.stats)
    assert ours.summary.strip() == ref_text.strip()
    return ours


@pytest.mark.shared_data
def test_coco_mini_with_detector_box_predictions(shared_data):
    gt_path = shared_data / "coco-mini" / "test_coco.json"
    gt_dict = json.loads(gt_path.read_text())
    gt = load_coco_keypoints(gt_path)
    boxes = load_detector_boxes(shared_data / "coco-mini" / "test_coco_det_AP_H_56.json")
    assert len(boxes) > 20  # more than max_dets in some image: the cut-off is exercised
    dets = predictions_from_boxes(gt, boxes, seed=0)
    ours = assert_same_as_pycocotools(gt_dict, dets_to_results(dets))
    assert 0 < ours.stats["AP"] <= 1


@pytest.mark.shared_data
def test_coco_val_subset_with_detector_box_predictions(shared_data, tmp_path):
    root = shared_data / "coco-val-subset"
    gt_dict = json.loads((root / "person_keypoints_val2017_subset.json").read_text())
    gt = CocoKeypointGroundTruth.from_dict(gt_dict)
    boxes = load_detector_boxes(root / "person_detections_AP_H_56_subset.json")
    results = dets_to_results(predictions_from_boxes(gt, boxes, seed=1))
    ours = assert_same_as_pycocotools(gt_dict, results)
    # Through the file front-end too: the same numbers.
    (tmp_path / "gt.json").write_text(json.dumps(gt_dict))
    (tmp_path / "res.json").write_text(json.dumps(results))
    from_files = evaluate_coco_keypoint_files(tmp_path / "gt.json", tmp_path / "res.json")
    assert from_files.stats == ours.stats


@pytest.mark.shared_data
def test_coco_val_subset_with_generated_predictions(shared_data):
    gt_dict = json.loads((shared_data / "coco-val-subset" / "person_keypoints_val2017_subset.json").read_text())
    gt = CocoKeypointGroundTruth.from_dict(gt_dict)
    rng = np.random.default_rng(7)
    # Noisy copies of every person (several per person), keypoints with zero score, tied scores.
    src = np.repeat(np.arange(len(gt.ann_id)), rng.integers(0, 4, len(gt.ann_id)))
    kp = gt.keypoints[src].copy()
    size = np.sqrt(np.maximum(gt.area[src], 1))[:, None]
    kp[:, :, 0] += rng.normal(0, 1, kp.shape[:2]) * size * 0.05
    kp[:, :, 1] += rng.normal(0, 1, kp.shape[:2]) * size * 0.05
    kp[:, :, 2] = rng.uniform(0, 1, kp.shape[:2])
    score = np.round(rng.uniform(0, 1, len(src)), 2)
    dets = KeypointDetections.from_arrays(gt.ann_image_id[src], kp, score)
    assert_same_as_pycocotools(gt_dict, dets_to_results(dets))


@pytest.mark.parametrize("seed", range(12))
def test_generated_sets(seed):
    gt, dets = make_coco_like(num_images=40 + 10 * seed, seed=100 + seed)
    assert_same_as_pycocotools(gt_to_coco_dict(gt), dets_to_results(dets))


def _person(ann_id, image_id, kpts, area=10000.0, bbox=(0, 0, 100, 100), iscrowd=0, num_keypoints=None):
    kp = np.asarray(kpts, dtype=float).reshape(17, 3)
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "keypoints": kp.ravel().tolist(),
            "num_keypoints": int((kp[:, 2] > 0).sum()) if num_keypoints is None else num_keypoints,
            "area": area, "bbox": list(bbox), "iscrowd": iscrowd}


def _dataset(images, anns):
    return {"images": [{"id": i} for i in images], "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": [str(j) for j in range(17)]}]}


def _pose(x0=10.0, y0=10.0, scale=4.0, vis=2):
    return [[x0 + j * scale, y0 + (j % 5) * scale, vis] for j in range(17)]


def _result(image_id, kpts, score):
    return {"image_id": image_id, "category_id": 1, "keypoints": np.asarray(kpts, float).ravel().tolist(),
            "score": score}


def _shifted(kpts, d):
    return [[x + d, y + d, 0.9] for x, y, _ in kpts]


EDGE_CASES = {
    "crowd absorbs several detections": (
        _dataset([1], [_person(1, 1, _pose()), _person(2, 1, [[0, 0, 0]] * 17, iscrowd=1, bbox=(0, 0, 300, 300),
                                                             area=90000)]),
        [_result(1, _shifted(_pose(), 0.5), 0.9), _result(1, _shifted(_pose(), 1.0), 0.8),
         _result(1, _shifted(_pose(60, 60), 0), 0.7), _result(1, _shifted(_pose(200, 200), 0), 0.6)]),
    "person without keypoints is ignored, box distance used": (
        _dataset([1], [_person(1, 1, [[0, 0, 0]] * 17, bbox=(10, 10, 50, 80), area=3000), _person(2, 1, _pose())]),
        [_result(1, _shifted(_pose(), 0.2), 0.5), _result(1, _shifted(_pose(20, 20, 2), 0), 0.95)]),
    "duplicate and tied scores": (
        _dataset([1, 2], [_person(1, 1, _pose()), _person(2, 2, _pose()), _person(3, 2, _pose(), area=5000)]),
        [_result(1, _shifted(_pose(), 0.3), 0.5), _result(1, _shifted(_pose(), 0.3), 0.5),
         _result(2, _shifted(_pose(), 0.3), 0.5), _result(2, _shifted(_pose(), 2.0), 0.5)]),
    "images with detections but no ground truth, and the reverse": (
        _dataset([1, 2, 3], [_person(1, 1, _pose()), _person(2, 3, _pose(50, 50))]),
        [_result(1, _shifted(_pose(), 1.0), 0.8), _result(2, _shifted(_pose(), 1.0), 0.9)]),
    "more than 20 detections in an image": (
        _dataset([1], [_person(i, 1, _pose(10 + 3 * i, 10)) for i in range(1, 6)]),
        [_result(1, _shifted(_pose(10 + 3 * (i % 7), 10), 0.1 * i), 1.0 - 0.01 * i) for i in range(30)]),
    "all-medium and all-large persons": (
        _dataset([1], [_person(1, 1, _pose(), area=2000), _person(2, 1, _pose(100, 100, 10), area=20000),
                       _person(3, 1, _pose(300, 300, 1), area=500)]),
        [_result(1, _shifted(_pose(), 0.4), 0.9), _result(1, _shifted(_pose(100, 100, 10), 3), 0.8),
         _result(1, _shifted(_pose(300, 300, 1), 0.1), 0.7)]),
    "only crowd ground truth": (
        _dataset([1], [_person(1, 1, [[0, 0, 0]] * 17, iscrowd=1)]),
        [_result(1, _shifted(_pose(), 0), 0.9)]),
    "ground truth id 0 (pycocotools counts its match as a miss)": (
        _dataset([1], [_person(0, 1, _pose()), _person(5, 1, _pose(60, 60))]),
        [_result(1, _shifted(_pose(), 0.2), 0.9), _result(1, _shifted(_pose(60, 60), 0.2), 0.8)]),
    "no detections at all": (
        _dataset([1, 2], [_person(1, 1, _pose())]), []),
    "no ground truth at all": (
        _dataset([1], []), [_result(1, _shifted(_pose(), 0), 0.9)]),
    "results carrying a bbox take their area from it": (
        _dataset([1], [_person(1, 1, _pose(), area=5000)]),
        [dict(_result(1, _shifted(_pose(), 0.5), 0.9), bbox=[0, 0, 200, 200]),
         dict(_result(1, _shifted(_pose(), 0.9), 0.8), bbox=[0, 0, 20, 20])]),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases(case):
    gt_dict, results = EDGE_CASES[case]
    assert_same_as_pycocotools(gt_dict, results)


def test_golden_stats_pinned():
    """Pinned numbers for one generated set: catches a change in kbench *or* in the reference version."""
    gt, dets = make_coco_like(num_images=60, seed=3)
    ours = evaluate_coco_keypoints(gt, dets)
    ref, _ = pycocotools_eval(gt_to_coco_dict(gt), dets_to_results(dets))
    golden = GOLDEN_SEED3_60
    np.testing.assert_allclose(ours.stats_array, golden, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ref.stats, golden, rtol=0, atol=1e-12)


# Written down from pycocotools 2.0.11 on make_coco_like(num_images=60, seed=3); see test_golden_stats_pinned.
GOLDEN_SEED3_60 = [0.5844594796277153, 0.661915287178533, 0.6060326939868589, 0.5749982165839826, 0.616661892212175,
                   0.7092105263157894, 0.7960526315789473, 0.7105263157894737, 0.7171428571428573, 0.7115942028985507]
