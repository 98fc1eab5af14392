"""Per-keypoint AP: each joint's AP equals xtcocotools' COCOeval run on that joint alone.

xtcocotools is the reference because it takes custom sigmas (one joint, one sigma); with its pycocotools-like
defaults (``use_area=True``, no score threshold) it matches pycocotools' keypoint evaluation bit for bit, which
the xtcocotools parity tests establish. Equality is exact: the same sub-problem through the same arithmetic.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import xtcocotools_eval

from kbench.datasets.synthetic import dets_to_results, gt_to_coco_dict, make_coco_like
from kbench.evaluators.coco_keypoints import (
    COCO_KEYPOINT_NAMES,
    COCO_SIGMAS,
    CocoKeypointOptions,
    per_keypoint_ap,
)

pytestmark = pytest.mark.parity


def _one_joint(gt_dict: dict, results: list, k: int) -> tuple[dict, list]:
    gt = copy.deepcopy(gt_dict)
    for ann in gt["annotations"]:
        kp = ann["keypoints"][3 * k:3 * k + 3]
        ann["keypoints"] = kp
        ann["num_keypoints"] = int(kp[2] > 0)
    for cat in gt["categories"]:
        if "keypoints" in cat:
            cat["keypoints"] = [cat["keypoints"][k]] if cat["keypoints"] else []
            cat["skeleton"] = []
    res = [{**r, "keypoints": r["keypoints"][3 * k:3 * k + 3]} for r in results]
    return gt, res


def test_per_keypoint_ap_matches_reference_on_each_joint(tmp_path):
    gt, dets = make_coco_like(num_images=60, seed=3)
    ours = per_keypoint_ap(gt, dets, CocoKeypointOptions(flavour="xtcocotools", kpt_score_thr=None))
    gt_dict, results = gt_to_coco_dict(gt), dets_to_results(dets)
    assert list(ours) == [f"AP.{n}" for n in COCO_KEYPOINT_NAMES]
    for k in (0, 5, 9, 16):
        sub_gt, sub_res = _one_joint(gt_dict, results, k)
        ev, _ = xtcocotools_eval(sub_gt, sub_res, sigmas=np.array([COCO_SIGMAS[k]]), tmp_path=tmp_path)
        assert ours[f"AP.{COCO_KEYPOINT_NAMES[k]}"] == float(ev.stats[0])


def test_per_keypoint_ap_names_for_other_joint_counts():
    gt, dets = make_coco_like(num_images=10, seed=1, num_joints=5)
    out = per_keypoint_ap(gt, dets, CocoKeypointOptions(sigmas=(0.05,) * 5))
    assert list(out) == [f"AP.k{i}" for i in range(5)]
