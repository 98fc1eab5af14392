"""COCO keypoint evaluation (OKS AP/AR): the options, the evaluator class and the file front-end.

One engine (:mod:`kbench.evaluators._coco_engine`), three doors:

* :func:`evaluate_coco_keypoints` on arrays (``CocoKeypointGroundTruth`` + ``KeypointDetections``);
* :class:`CocoKeypointEvaluator` with ``reset`` / ``update`` / ``compute`` / ``merge`` for pipelines
  that produce predictions batch by batch and never write JSON;
* :func:`evaluate_coco_keypoint_files` from an annotation file and a results file.

Example:
    >>> from kbench.datasets.synthetic import make_coco_like
    >>> gt, dets = make_coco_like(num_images=20, seed=0)
    >>> result = evaluate_coco_keypoints(gt, dets)
    >>> sorted(result.stats)[:3]
    ['AP', 'AP50', 'AP75']
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from kbench.datasets.coco import (
    CocoKeypointGroundTruth,
    KeypointDetections,
    check_detections_match,
    load_coco_keypoints,
    load_keypoint_results,
)
from kbench.errors import InputError
from kbench.evaluators._coco_engine import IOU_THRESHOLDS, EngineParams, EngineResult, run_engine

__all__ = [
    "per_keypoint_ap",
    "COCO_KEYPOINT_NAMES",
    "COCO_SIGMAS",
    "COCO_METRIC_NAMES",
    "CROWDPOSE_METRIC_NAMES",
    "CocoKeypointOptions",
    "CocoKeypointResult",
    "CocoKeypointEvaluator",
    "evaluate_coco_keypoints",
    "evaluate_coco_keypoint_files",
]

#: Per-keypoint OKS sigmas of COCO's 17 person keypoints (pycocotools' ``kpt_oks_sigmas``).
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0

#: Stable metric names, in pycocotools' ``stats`` order; reports and the CI gate read these.
COCO_METRIC_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
#: The CrowdPose variant's names, in xtcocotools' ``stats`` order.
CROWDPOSE_METRIC_NAMES = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard")

_FLAVOURS = ("pycocotools", "xtcocotools", "crowdpose")


@dataclass(frozen=True)
class CocoKeypointOptions:
    """What the evaluation computes; the defaults are pycocotools' ``COCOeval(gt, dt, 'keypoints')``.

    Attributes:
        flavour: ``pycocotools`` (the default), ``xtcocotools`` (its ``COCOeval``: ground truth ignored
            when no keypoint is labelled, detections without any positive keypoint score dropped) or
            ``crowdpose`` (xtcocotools' ``keypoints_crowd``, with the easy/medium/hard AP split by each
            image's ``crowdIndex``).
        sigmas: per-keypoint OKS sigmas; None means COCO's 17. Any number of joints is allowed.
        use_area: take the ground-truth area from the annotation (True) or as 0.53 x box area (False,
            xtcocotools' rule for data sets without ``area``, e.g. CrowdPose).
        kpt_score_thr: drop detections none of whose keypoint scores exceed this value. None keeps all
            (pycocotools); the xtcocotools and crowdpose flavours default to 0.
        max_dets: detections kept per image, by score.
    """

    flavour: str = "pycocotools"
    sigmas: tuple | None = None
    use_area: bool = True
    kpt_score_thr: float | None = None
    max_dets: int = 20

    def __post_init__(self):
        if self.flavour not in _FLAVOURS:
            raise InputError(f"unknown evaluation flavour {self.flavour!r}; choose one of {', '.join(_FLAVOURS)}")
        if self.flavour != "pycocotools" and self.kpt_score_thr is None:
            object.__setattr__(self, "kpt_score_thr", 0.0)
        if self.sigmas is not None:
            sig = tuple(float(s) for s in self.sigmas)
            if not sig or not all(np.isfinite(s) and s > 0 for s in sig):
                raise InputError("sigmas must be positive numbers, one per keypoint")
            object.__setattr__(self, "sigmas", sig)
        if self.max_dets < 1:
            raise InputError("max_dets must be at least 1")
        if self.flavour == "pycocotools" and not self.use_area:
            raise InputError("use_area=False is an xtcocotools option: use flavour 'xtcocotools' or 'crowdpose'")

    @property
    def metric_names(self) -> tuple:
        """Names of the summary numbers this flavour produces."""
        return CROWDPOSE_METRIC_NAMES if self.flavour == "crowdpose" else COCO_METRIC_NAMES

    def sigma_array(self, num_joints: int) -> np.ndarray:
        """The sigmas as an array, checked against the data's number of joints."""
        sig = COCO_SIGMAS if self.sigmas is None else np.asarray(self.sigmas, dtype=np.float64)
        if len(sig) != num_joints:
            hint = " (pass sigmas for a custom keypoint set)" if self.sigmas is None else ""
            raise InputError(f"the data has {num_joints} keypoints but {len(sig)} sigmas are set{hint}")
        return sig

    def engine_params(self, num_joints: int, image_subset=None) -> EngineParams:
        """The engine's view of these options."""
        xt = self.flavour != "pycocotools"
        return EngineParams(
            sigmas=self.sigma_array(num_joints),
            max_dets=self.max_dets,
            area_source="annotation" if self.use_area else "bbox",
            gt_ignore_from="visible" if self.flavour == "xtcocotools" else "num_keypoints",
            dt_min_kpt_score=self.kpt_score_thr,
            matched_id_rule="nonnegative" if xt else "nonzero",
            image_subset=image_subset,
        )

    def describe(self) -> dict:
        """JSON-ready description, for run records."""
        return {
            "flavour": self.flavour,
            "sigmas": list(self.sigmas) if self.sigmas is not None else "coco17",
            "use_area": self.use_area,
            "kpt_score_thr": self.kpt_score_thr,
            "max_dets": self.max_dets,
        }


@dataclass
class CocoKeypointResult:
    """The summary numbers, the text summary and pycocotools-shaped arrays."""

    stats: dict
    summary: str
    options: CocoKeypointOptions
    precision: np.ndarray = field(repr=False)
    recall: np.ndarray = field(repr=False)
    scores: np.ndarray = field(repr=False)

    @property
    def stats_array(self) -> np.ndarray:
        """The stats in pycocotools' positional order."""
        return np.array([self.stats[n] for n in self.options.metric_names])


def _summarize_one(res: EngineResult, ap: bool, iou_thr=None, area="all", max_dets=20, number_fmt="{:0.3f}"):
    """One line and number of pycocotools' ``summarize``; same indexing, same mean."""
    i_str = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = " + number_fmt
    title = "Average Precision" if ap else "Average Recall"
    kind = "(AP)" if ap else "(AR)"
    iou_str = f"{IOU_THRESHOLDS[0]:0.2f}:{IOU_THRESHOLDS[-1]:0.2f}" if iou_thr is None else f"{iou_thr:0.2f}"
    a = [res.area_labels.index(area)]
    s = res.precision if ap else res.recall
    if iou_thr is not None:
        s = s[np.where(iou_thr == IOU_THRESHOLDS)[0]]
    s = s[:, :, :, a, 0] if ap else s[:, :, a, 0]
    mean_s = -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))
    return i_str.format(title, kind, iou_str, area, max_dets, mean_s), mean_s


def _summarize(res: EngineResult, opts: CocoKeypointOptions, gt: CocoKeypointGroundTruth, dets) -> tuple:
    md = opts.max_dets
    fmt = "{:0.3f}" if opts.flavour == "pycocotools" else "{: 0.3f}"
    if opts.flavour == "crowdpose":
        plan = [(True, None, "all"), (True, .5, "all"), (True, .75, "all"),
                (False, None, "all"), (False, .5, "all"), (False, .75, "all")]
    else:
        plan = [(True, None, "all"), (True, .5, "all"), (True, .75, "all"), (True, None, "medium"),
                (True, None, "large"), (False, None, "all"), (False, .5, "all"), (False, .75, "all"),
                (False, None, "medium"), (False, None, "large")]
    lines, values = [], []
    for ap, thr, area in plan:
        line, value = _summarize_one(res, ap, thr, area, md, fmt)
        lines.append(line)
        values.append(value)
    if opts.flavour == "crowdpose":
        type_values = _crowdpose_type_ap(gt, dets, opts)
        t_str = " {:<18} {} @[ IoU={:<9} | type={:>6s} | maxDets={:>3d} ] = {:0.3f}"
        iou_str = f"{IOU_THRESHOLDS[0]:0.2f}:{IOU_THRESHOLDS[-1]:0.2f}"
        for name, value in zip(("easy", "medium", "hard"), type_values):
            lines.append(t_str.format("Average Precision", "(AP)", iou_str, name, md, value))
            values.append(value)
    return dict(zip(opts.metric_names, values)), "\n".join(lines)


def _crowdpose_type_ap(gt, dets, opts, first=0.2, second=0.8) -> list:
    """CrowdPose's AP by crowd level: images split by ``crowdIndex``, mean precision over all cells."""
    if gt.crowd_index is None:
        raise InputError(f"{gt.source}: the crowdpose flavour needs 'crowdIndex' on every image")
    easy = gt.image_ids[gt.crowd_index < first]
    mid = gt.image_ids[(gt.crowd_index >= first) & (gt.crowd_index < second)]
    hard = gt.image_ids[gt.crowd_index >= second]
    out = []
    for subset in (easy, mid, hard):
        res = run_engine(gt, dets, opts.engine_params(gt.num_joints, image_subset=subset))
        out.append(round(float(np.mean(res.precision[:, :, :, 0, :])), 4))
    return out


def evaluate_coco_keypoints(gt: CocoKeypointGroundTruth, dets: KeypointDetections,
                            options: CocoKeypointOptions | None = None) -> CocoKeypointResult:
    """Evaluate keypoint detections against COCO-style ground truth.

    Args:
        gt: the annotations.
        dets: the predictions, in the order a results file would list them.
        options: the evaluation's options; pycocotools' defaults when None.

    Returns:
        The 10 summary numbers by name (9 for CrowdPose), the text summary and the raw arrays.
    """
    opts = options or CocoKeypointOptions()
    check_detections_match(dets, gt, source="detections")
    if not opts.use_area and np.isnan(gt.bbox).any():
        raise InputError(f"{gt.source}: use_area=False needs a 'bbox' on every annotation")
    if opts.use_area and np.isnan(gt.area).any():
        i = int(np.flatnonzero(np.isnan(gt.area))[0])
        raise InputError(f"{gt.source}: annotation id {int(gt.ann_id[i])} has no 'area' (evaluate with "
                         f"use_area=False, as xtcocotools does for data sets without areas)")
    res = run_engine(gt, dets, opts.engine_params(gt.num_joints))
    stats, summary = _summarize(res, opts, gt, dets)
    return CocoKeypointResult(stats=stats, summary=summary, options=opts, precision=res.precision,
                              recall=res.recall, scores=res.scores)


COCO_KEYPOINT_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                       "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                       "right_knee", "left_ankle", "right_ankle")


def per_keypoint_ap(gt: CocoKeypointGroundTruth, dets: KeypointDetections,
                    options: CocoKeypointOptions | None = None, names: tuple | None = None) -> dict:
    """AP of each keypoint alone: the same evaluation with OKS computed from that one joint.

    For joint k, ground truth and detections keep only joint k (and its sigma); a ground-truth person counts
    only where joint k is labelled (its ``num_keypoints`` becomes 0 or 1, so the others are ignored as
    pycocotools ignores people without keypoints). A diagnostic, not a COCO number: it shows which joints
    a model gets wrong. Names are ``AP.<joint>`` (COCO's joint names for 17 joints, else ``AP.k<index>``).
    """
    opts = options or CocoKeypointOptions()
    k_count = gt.num_joints
    sigmas = opts.sigma_array(k_count)
    if names is None:
        names = COCO_KEYPOINT_NAMES if k_count == 17 else tuple(f"k{i}" for i in range(k_count))
    out = {}
    for k in range(k_count):
        labelled = (gt.keypoints[:, k, 2] > 0).astype(np.int64)
        sub_gt = replace(gt, keypoints=np.ascontiguousarray(gt.keypoints[:, k:k + 1]), num_keypoints=labelled)
        sub_dt = replace(dets, keypoints=np.ascontiguousarray(dets.keypoints[:, k:k + 1]))
        sub_opts = replace(opts, sigmas=(float(sigmas[k]),))
        res = run_engine(sub_gt, sub_dt, sub_opts.engine_params(1))
        precision = res.precision[:, :, :, 0, -1]  # all thresholds and recalls, one class, area all, max dets
        valid = precision[precision > -1]
        out[f"AP.{names[k]}"] = float(np.mean(valid)) if valid.size else -1.0
    return out


def evaluate_coco_keypoint_files(ann_file: str | os.PathLike, results_file: str | os.PathLike,
                                 options: CocoKeypointOptions | None = None) -> CocoKeypointResult:
    """Evaluate a COCO keypoint results file against an annotation file."""
    gt = load_coco_keypoints(ann_file)
    dets = load_keypoint_results(results_file, gt)
    return evaluate_coco_keypoints(gt, dets, options)


class CocoKeypointEvaluator:
    """Stateful COCO keypoint evaluator: ``update`` with batches, ``compute`` once, ``merge`` shards.

    The state is the detections added so far, in order; ``merge`` appends another evaluator's, so
    evaluating shards and merging them equals evaluating the concatenated results file.

    Example:
        >>> from kbench.datasets.synthetic import make_coco_like
        >>> gt, dets = make_coco_like(num_images=10, seed=1)
        >>> ev = CocoKeypointEvaluator(gt)
        >>> ev.update(dets.image_id, dets.keypoints, dets.score)
        >>> round(ev.compute().stats["AP"], 6) == round(evaluate_coco_keypoints(gt, dets).stats["AP"], 6)
        True
    """

    higher_is_better = True

    def __init__(self, gt: CocoKeypointGroundTruth, options: CocoKeypointOptions | None = None):
        self.gt = gt
        self.options = options or CocoKeypointOptions()
        self.options.sigma_array(gt.num_joints)  # fail early on a joint-count mismatch
        self.reset()

    def reset(self) -> None:
        """Forget every detection added."""
        k = self.gt.num_joints
        self._dets = KeypointDetections(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, k, 3)),
                                        np.zeros(0), np.zeros(0))
        self._cached: CocoKeypointResult | None = None
        self._updates = 0

    def update(self, image_ids, keypoints, scores, category_ids=None, areas=None) -> None:
        """Add a batch of predictions.

        Args:
            image_ids: (N,) image id of each instance.
            keypoints: (N, K, 3) x, y, keypoint score in image pixels.
            scores: (N,) instance scores.
            category_ids: (N,) category ids; person (1) when None.
            areas: (N,) areas for the area ranges; the keypoints' extent when None (as pycocotools).
        """
        batch = KeypointDetections.from_arrays(image_ids, keypoints, scores, category_ids, areas)
        check_detections_match(batch, self.gt, source="update()")
        self._dets = self._dets.concat(batch)
        self._cached = None
        self._updates += 1

    def merge(self, other: CocoKeypointEvaluator) -> CocoKeypointEvaluator:
        """Append another evaluator's detections (same ground truth and options); returns self."""
        if other.gt is not self.gt and not np.array_equal(other.gt.ann_id, self.gt.ann_id):
            raise InputError("cannot merge evaluators built on different ground truth")
        if other.options != self.options:
            raise InputError("cannot merge evaluators with different options")
        self._dets = self._dets.concat(other._dets)
        self._cached = None
        self._updates += other._updates
        return self

    def compute(self) -> CocoKeypointResult:
        """Evaluate everything added so far; cached until the next ``update`` or ``merge``."""
        if self._cached is None:
            if self._updates == 0:
                warnings.warn("CocoKeypointEvaluator.compute() called before any update()", stacklevel=2)
            self._cached = evaluate_coco_keypoints(self.gt, self._dets, self.options)
        return self._cached

    def with_options(self, **changes) -> CocoKeypointEvaluator:
        """A new evaluator on the same ground truth and detections with some options changed."""
        ev = CocoKeypointEvaluator(self.gt, replace(self.options, **changes))
        ev._dets, ev._updates = self._dets, self._updates
        return ev
