"""Accuracy evaluators: COCO keypoint OKS AP/AR, MPII PCKh, and generic PCK/AUC/EPE.

Each evaluator is one array engine behind three doors: a function on arrays, a stateful class with
``reset``/``update``/``compute``/``merge``, and a file front-end. Numbers equal the references
(pycocotools, xtcocotools, PaddleDetection) bit for bit; see the parity tests.
"""

from kbench.evaluators.coco_keypoints import (
    COCO_METRIC_NAMES,
    COCO_SIGMAS,
    CocoKeypointEvaluator,
    CocoKeypointOptions,
    CocoKeypointResult,
    evaluate_coco_keypoint_files,
    evaluate_coco_keypoints,
)
from kbench.evaluators.mpii_pckh import MPII_METRIC_NAMES, MpiiPckhEvaluator, evaluate_mpii_pckh

__all__ = [
    "COCO_METRIC_NAMES",
    "COCO_SIGMAS",
    "CocoKeypointEvaluator",
    "CocoKeypointOptions",
    "CocoKeypointResult",
    "evaluate_coco_keypoint_files",
    "evaluate_coco_keypoints",
    "MPII_METRIC_NAMES",
    "MpiiPckhEvaluator",
    "evaluate_mpii_pckh",
]
