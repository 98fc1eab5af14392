"""Parity with xtcocotools where its options differ from pycocotools.

Tolerance: none, as for pycocotools (see test_coco_parity.py): precision/recall arrays bit-identical,
stats equal. Cases: custom sigmas for a custom keypoint set, ``use_area=False``, xtcocotools' rules
for ignoring ground truth and dropping predictions without a positive keypoint score, and the
CrowdPose variant with its easy/medium/hard split.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import xtcocotools_eval

from kbench.datasets.coco import CocoKeypointGroundTruth, KeypointDetections
from kbench.datasets.synthetic import dets_to_results, gt_to_coco_dict, make_coco_like
from kbench.evaluators.coco_keypoints import CocoKeypointOptions, evaluate_coco_keypoints

pytestmark = pytest.mark.parity

CROWDPOSE_SIGMAS = np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]) / 10.0


def _compare(gt_dict, results, options, iou_type="keypoints", tmp_path=None):
    gt = CocoKeypointGroundTruth.from_dict(gt_dict)
    dets = KeypointDetections.from_results(results, gt.num_joints)
    ours = evaluate_coco_keypoints(gt, dets, options)
    ref, text = xtcocotools_eval(gt_dict, results, iou_type=iou_type, sigmas=options.sigmas,
                                 use_area=options.use_area, tmp_path=tmp_path)
    np.testing.assert_array_equal(ours.stats_array, np.asarray(ref.stats))
    return ours, ref, text


def _with_zero_score_predictions(dets: KeypointDetections, every: int = 7) -> KeypointDetections:
    kp = dets.keypoints.copy()
    kp[::every, :, 2] = 0.0  # no positive keypoint score: xtcocotools drops these
    return KeypointDetections.from_arrays(dets.image_id, kp, dets.score)


@pytest.mark.parametrize("seed", range(4))
def test_xtcocotools_flavour_default_sigmas(seed):
    gt, dets = make_coco_like(num_images=60, seed=200 + seed)
    gt_dict = gt_to_coco_dict(gt)
    # Make num_keypoints disagree with the labels on some people: xtcocotools counts the labels.
    for ann in gt_dict["annotations"][::9]:
        ann["num_keypoints"] = 0 if ann["num_keypoints"] else 3
    ours, ref, _ = _compare(gt_dict, dets_to_results(_with_zero_score_predictions(dets)),
                            CocoKeypointOptions(flavour="xtcocotools"))
    np.testing.assert_array_equal(ours.precision, ref.eval["precision"])
    np.testing.assert_array_equal(ours.recall, ref.eval["recall"])


@pytest.mark.parametrize("num_joints", [5, 14, 21])
def test_custom_sigmas(num_joints):
    gt, dets = make_coco_like(num_images=50, seed=num_joints, num_joints=num_joints)
    sigmas = tuple(np.linspace(0.025, 0.107, num_joints))
    ours, ref, _ = _compare(gt_to_coco_dict(gt), dets_to_results(dets),
                            CocoKeypointOptions(flavour="xtcocotools", sigmas=sigmas))
    np.testing.assert_array_equal(ours.precision, ref.eval["precision"])


def test_use_area_false():
    gt, dets = make_coco_like(num_images=80, seed=11)
    gt_dict = gt_to_coco_dict(gt)
    for ann in gt_dict["annotations"]:
        ann.pop("area")  # as in CrowdPose and AIC: no areas, 0.53 x box instead
    ours, ref, _ = _compare(gt_dict, dets_to_results(dets), CocoKeypointOptions(flavour="xtcocotools", use_area=False))
    np.testing.assert_array_equal(ours.precision, ref.eval["precision"])


def test_crowdpose_variant(tmp_path):
    gt, dets = make_coco_like(num_images=90, seed=5, num_joints=14)
    gt_dict = gt_to_coco_dict(gt)
    rng = np.random.default_rng(0)
    for im in gt_dict["images"]:
        im["crowdIndex"] = float(rng.uniform(0, 1))
    for ann in gt_dict["annotations"]:
        ann.pop("area")
    opts = CocoKeypointOptions(flavour="crowdpose", sigmas=tuple(CROWDPOSE_SIGMAS), use_area=False)
    ours, ref, text = _compare(gt_dict, dets_to_results(dets), opts, iou_type="keypoints_crowd", tmp_path=tmp_path)
    assert list(ours.stats) == ["AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard"]
    for line in ours.summary.splitlines():  # the same printed summary, line by line
        assert line in text


def test_pycocotools_flavour_rejects_xtcocotools_only_option():
    from kbench.errors import InputError

    with pytest.raises(InputError, match="xtcocotools option"):
        CocoKeypointOptions(use_area=False)
