"""The evaluator's three doors (arrays, update/compute/merge, files) give one answer."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from kbench.datasets.coco import KeypointDetections
from kbench.datasets.synthetic import dets_to_results, gt_to_coco_dict, make_coco_like
from kbench.errors import InputError
from kbench.evaluators.coco_keypoints import (
    COCO_METRIC_NAMES,
    CocoKeypointEvaluator,
    CocoKeypointOptions,
    evaluate_coco_keypoint_files,
    evaluate_coco_keypoints,
)


@pytest.fixture(scope="module")
def data():
    return make_coco_like(num_images=120, seed=42)


def test_update_in_batches_equals_one_shot(data):
    gt, dets = data
    ev = CocoKeypointEvaluator(gt)
    for chunk in np.array_split(np.arange(len(dets)), 7):
        ev.update(dets.image_id[chunk], dets.keypoints[chunk], dets.score[chunk])
    assert ev.compute().stats == evaluate_coco_keypoints(gt, dets).stats


def test_merge_of_shards_equals_one_shot(data):
    gt, dets = data
    half = len(dets) // 2
    a, b = CocoKeypointEvaluator(gt), CocoKeypointEvaluator(gt)
    a.update(dets.image_id[:half], dets.keypoints[:half], dets.score[:half])
    b.update(dets.image_id[half:], dets.keypoints[half:], dets.score[half:])
    merged = a.merge(b).compute()
    np.testing.assert_array_equal(merged.precision, evaluate_coco_keypoints(gt, dets).precision)


def test_files_equal_arrays(data, tmp_path):
    gt, dets = data
    (tmp_path / "gt.json").write_text(json.dumps(gt_to_coco_dict(gt)))
    (tmp_path / "res.json").write_text(json.dumps(dets_to_results(dets)))
    assert evaluate_coco_keypoint_files(tmp_path / "gt.json", tmp_path / "res.json").stats == \
        evaluate_coco_keypoints(gt, dets).stats


def test_compute_is_cached_until_update(data):
    gt, dets = data
    ev = CocoKeypointEvaluator(gt)
    ev.update(dets.image_id, dets.keypoints, dets.score)
    first = ev.compute()
    assert ev.compute() is first
    ev.update(dets.image_id[:1], dets.keypoints[:1], dets.score[:1])
    assert ev.compute() is not first


def test_compute_without_update_warns_and_scores_zero(data):
    gt, _ = data
    ev = CocoKeypointEvaluator(gt)
    with pytest.warns(UserWarning, match="before any update"):
        res = ev.compute()
    assert res.stats["AP"] == 0.0 and res.stats["AR"] == 0.0


def test_reset_forgets(data):
    gt, dets = data
    ev = CocoKeypointEvaluator(gt)
    ev.update(dets.image_id, dets.keypoints, dets.score)
    ev.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ev.compute().stats["AP"] == 0.0


def test_metric_names_are_stable(data):
    gt, dets = data
    assert tuple(evaluate_coco_keypoints(gt, dets).stats) == COCO_METRIC_NAMES
    assert COCO_METRIC_NAMES == ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def test_merge_refuses_other_options(data):
    gt, _ = data
    with pytest.raises(InputError, match="different options"):
        CocoKeypointEvaluator(gt).merge(CocoKeypointEvaluator(gt, CocoKeypointOptions(max_dets=5)))


def test_update_refuses_unknown_images(data):
    gt, dets = data
    ev = CocoKeypointEvaluator(gt)
    with pytest.raises(InputError, match="not in the annotations"):
        ev.update(np.array([10**9]), dets.keypoints[:1], dets.score[:1])


def test_update_refuses_nan(data):
    gt, dets = data
    kp = dets.keypoints[:2].copy()
    kp[1, 3, 0] = np.nan
    with pytest.raises(InputError, match="NaN or infinite"):
        CocoKeypointEvaluator(gt).update(dets.image_id[:2], kp, dets.score[:2])


def test_sigma_count_must_match_joints(data):
    gt, _ = data
    with pytest.raises(InputError, match="17 keypoints but 3 sigmas"):
        CocoKeypointEvaluator(gt, CocoKeypointOptions(flavour="xtcocotools", sigmas=(0.1, 0.1, 0.1)))


def test_max_dets_option_changes_the_cut(data):
    gt, dets = data
    few = evaluate_coco_keypoints(gt, dets, CocoKeypointOptions(max_dets=1)).stats["AR"]
    assert few < evaluate_coco_keypoints(gt, dets).stats["AR"]


def test_area_override_from_arrays(data):
    gt, dets = data
    huge = KeypointDetections.from_arrays(dets.image_id, dets.keypoints, dets.score, area=np.full(len(dets), 1e12))
    # Every unmatched prediction now lies outside every area range and is ignored: precision can only rise.
    assert evaluate_coco_keypoints(gt, huge).stats["AP"] >= evaluate_coco_keypoints(gt, dets).stats["AP"]
