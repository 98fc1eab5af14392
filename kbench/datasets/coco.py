"""COCO keypoint annotations and keypoint results as arrays.

Two containers feed the COCO keypoint evaluator: :class:`CocoKeypointGroundTruth` (the annotation
file) and :class:`KeypointDetections` (a results file or a model's output). Files are parsed once into
numpy arrays; the evaluator never sees dictionaries. Every malformed input raises
:class:`~kbench.errors.InputError` with one line naming the file and the problem.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import numpy as np

from kbench._fileio import gc_paused, read_json
from kbench.errors import InputError

__all__ = ["CocoKeypointGroundTruth", "KeypointDetections", "load_coco_keypoints", "load_keypoint_results"]


def _int_array(values: list, what: str, source: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{source}: {what} must be numbers") from None
    if arr.ndim != 1:
        raise InputError(f"{source}: {what} must be numbers, one per entry")
    if arr.size and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
        raise InputError(f"{source}: {what} must be integers")
    if arr.size and np.abs(arr).max() >= 2.0 ** 63:
        raise InputError(f"{source}: {what} must be integers below 2**63")
    return arr.astype(np.int64)


def _column(values: list, what: str, source: str, whole: bool = False) -> np.ndarray:
    """One number per entry (an area, a count, a size) as a 1-D array, or one InputError line."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        arr = None
    if arr is None or arr.ndim != 1:
        raise InputError(f"{source}: every {what} must be a number")
    if whole:
        if not (np.isfinite(arr) & (np.abs(arr) < 2.0 ** 63)).all():
            raise InputError(f"{source}: every {what} must be a whole number")
        return arr.astype(np.int64)
    return arr


def _float_matrix(rows: list, width: int, what: str, source: str, ids: np.ndarray | None = None) -> np.ndarray:
    """Stack equal-length numeric lists; name the first offending entry otherwise."""
    if len(rows) == 0:
        return np.zeros((0, width))
    # Fast path: every row a list (or tuple) of ``width`` values, as JSON gives them. np.fromiter over the
    # chained rows fills the array in one pass, a quarter faster than np.asarray's nested-sequence
    # discovery; the type and length checks (C-level passes) keep a string or a short row off this path.
    if set(map(type, rows)) <= {list, tuple} and set(map(len, rows)) == {width}:
        try:
            return np.fromiter(itertools.chain.from_iterable(rows), np.float64,
                               count=len(rows) * width).reshape(len(rows), width)
        except (TypeError, ValueError, OverflowError):
            pass  # a value that is not a number: the checks below name it
    try:
        arr = np.asarray(rows, dtype=np.float64)
        if arr.ndim == 2 and arr.shape[1] == width:
            return arr
    except (TypeError, ValueError):
        pass
    for i, row in enumerate(rows):
        label = f"id {ids[i]}" if ids is not None else f"#{i}"
        if not isinstance(row, (list, tuple)) or len(row) != width:
            got = len(row) if isinstance(row, (list, tuple)) else type(row).__name__
            raise InputError(f"{source}: {what} of entry {label} has {got} values, expected {width}")
        try:
            np.asarray(row, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{source}: {what} of entry {label} holds a value that is not a number") from None
    raise InputError(f"{source}: {what} could not be read as a {width}-column table")


def _require_finite(arr: np.ndarray, what: str, source: str, ids: np.ndarray | None = None) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.flatnonzero(bad.reshape(len(arr), -1).any(axis=1))[0]) if arr.ndim > 1 else int(
            np.flatnonzero(bad)[0])
        label = f"id {ids[row]}" if ids is not None else f"#{row}"
        raise InputError(f"{source}: {what} of entry {label} is NaN or infinite")


@dataclass
class CocoKeypointGroundTruth:
    """Ground truth of a COCO-style keypoint data set, one row per annotation.

    Attributes:
        image_ids: every image of the data set (the images evaluated), as listed in the file.
        category_ids: every category of the data set.
        ann_id, ann_image_id, ann_category_id: per annotation.
        keypoints: (N, K, 3) x, y, visibility.
        area: (N,) annotation area; NaN where the file gives none.
        bbox: (N, 4) x, y, w, h; NaN where the file gives none.
        iscrowd: (N,) bool.
        num_keypoints: (N,) the file's ``num_keypoints`` (the count of labelled keypoints where absent).
        crowd_index: per image, CrowdPose's ``crowdIndex`` where the file has it.
        source: where the data came from, for messages.
        image_files: per image, its ``file_name`` (None when not read from a file that has them).
        image_sizes: (I, 2) per image width and height (0 where the file gives none).
    """

    image_ids: np.ndarray
    category_ids: np.ndarray
    ann_id: np.ndarray
    ann_image_id: np.ndarray
    ann_category_id: np.ndarray
    keypoints: np.ndarray
    area: np.ndarray
    bbox: np.ndarray
    iscrowd: np.ndarray
    num_keypoints: np.ndarray
    crowd_index: np.ndarray | None = None
    category_names: dict = field(default_factory=dict)
    source: str = "<memory>"
    image_files: list | None = None
    image_sizes: np.ndarray | None = None

    def subset(self, image_ids) -> CocoKeypointGroundTruth:
        """The same data set restricted to ``image_ids`` (kept in this data set's order)."""
        keep_img = np.isin(self.image_ids, np.asarray(image_ids, dtype=np.int64))
        keep_ann = np.isin(self.ann_image_id, self.image_ids[keep_img])
        return CocoKeypointGroundTruth(
            image_ids=self.image_ids[keep_img], category_ids=self.category_ids, ann_id=self.ann_id[keep_ann],
            ann_image_id=self.ann_image_id[keep_ann], ann_category_id=self.ann_category_id[keep_ann],
            keypoints=self.keypoints[keep_ann], area=self.area[keep_ann], bbox=self.bbox[keep_ann],
            iscrowd=self.iscrowd[keep_ann], num_keypoints=self.num_keypoints[keep_ann],
            crowd_index=None if self.crowd_index is None else self.crowd_index[keep_img],
            category_names=self.category_names, source=self.source,
            image_files=None if self.image_files is None else [f for f, k in zip(self.image_files, keep_img) if k],
            image_sizes=None if self.image_sizes is None else self.image_sizes[keep_img])

    @property
    def num_joints(self) -> int:
        """Keypoints per instance (K)."""
        return int(self.keypoints.shape[1])

    @classmethod
    def from_dict(cls, dataset: dict, source: str = "<memory>") -> CocoKeypointGroundTruth:
        """Parse a loaded COCO keypoint annotation dictionary."""
        if not isinstance(dataset, dict):
            raise InputError(f"{source}: expected a COCO annotation object with 'images', 'annotations', "
                             f"'categories', got a JSON {type(dataset).__name__}")
        for key in ("images", "annotations", "categories"):
            if not isinstance(dataset.get(key), list):
                raise InputError(f"{source}: not a COCO annotation file (no '{key}' list)")
        images, anns, cats = dataset["images"], dataset["annotations"], dataset["categories"]
        try:
            image_ids = _int_array([im["id"] for im in images], "image ids", source)
            cat_ids = _int_array([c["id"] for c in cats], "category ids", source)
        except (KeyError, TypeError):
            raise InputError(f"{source}: an image or category entry has no 'id'") from None
        names = {int(c["id"]): str(c.get("name", "")) for c in cats}
        keypoint_cats = [c for c in cats if c.get("name") == "person" or "keypoints" in c]
        if not keypoint_cats:
            raise InputError(f"{source}: no person category (no category named 'person' or declaring 'keypoints')")
        declared = [len(c["keypoints"]) for c in keypoint_cats if isinstance(c.get("keypoints"), list)]
        first_kpts = next((a.get("keypoints") for a in anns if isinstance(a, dict) and a.get("keypoints")), None)
        if first_kpts and not isinstance(first_kpts, list):
            raise InputError(f"{source}: keypoints must be lists of x, y, v triples")
        if first_kpts:
            width = len(first_kpts)
        elif declared:
            width = 3 * declared[0]
        else:
            width = 3 * 17
        if width % 3 or width == 0:
            raise InputError(f"{source}: keypoints must hold x, y, v triples; found {width} values")
        try:
            ann_id = _int_array([a["id"] for a in anns], "annotation ids", source)
            ann_img = _int_array([a["image_id"] for a in anns], "annotation image ids", source)
            ann_cat = _int_array([a["category_id"] for a in anns], "annotation category ids", source)
        except (KeyError, TypeError) as exc:
            raise InputError(f"{source}: an annotation has no {exc}") from None
        zero = [0.0] * width
        kp = _float_matrix([a.get("keypoints") or zero for a in anns], width, "keypoints", source, ann_id)
        _require_finite(kp, "keypoints", source, ann_id)
        kp = kp.reshape(len(anns), width // 3, 3)
        nan4 = [np.nan] * 4
        bbox = _float_matrix([a.get("bbox") or nan4 for a in anns], 4, "bbox", source, ann_id)
        area = _column([a.get("area", np.nan) for a in anns], "annotation area", source)
        iscrowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
        labelled = np.count_nonzero(kp[:, :, 2] > 0, axis=1)
        num_kp = _column([a.get("num_keypoints", -1) for a in anns], "num_keypoints", source, whole=True)
        num_kp = np.where(num_kp < 0, labelled, num_kp)
        crowd_index = None
        if images and all("crowdIndex" in im for im in images):
            crowd_index = _column([im["crowdIndex"] for im in images], "crowdIndex", source)
        files = [str(im.get("file_name", "")) for im in images]
        sizes = np.stack([_column([im.get(k, 0) or 0 for im in images], f"image {k}", source, whole=True)
                          for k in ("width", "height")], axis=1).reshape(len(images), 2)
        return cls(image_ids=image_ids, category_ids=cat_ids, ann_id=ann_id, ann_image_id=ann_img,
                   ann_category_id=ann_cat, keypoints=kp, area=area, bbox=bbox, iscrowd=iscrowd,
                   num_keypoints=num_kp, crowd_index=crowd_index, category_names=names, source=source,
                   image_files=files, image_sizes=sizes)


@dataclass
class KeypointDetections:
    """Keypoint predictions, one row per detected instance, in the order given.

    The order matters: like pycocotools, ties in score keep this order.

    Attributes:
        image_id: (M,) int64.
        category_id: (M,) int64.
        keypoints: (M, K, 3) x, y, score.
        score: (M,) instance score.
        area: (M,) area used for the area ranges (pycocotools: the keypoints' extent, or the result's own
            ``bbox`` when results carry one).
    """

    image_id: np.ndarray
    category_id: np.ndarray
    keypoints: np.ndarray
    score: np.ndarray
    area: np.ndarray

    def __len__(self) -> int:
        return int(self.image_id.shape[0])

    @staticmethod
    def extent_area(keypoints: np.ndarray) -> np.ndarray:
        """Area of the keypoints' bounding extent, as pycocotools' ``loadRes`` computes it."""
        if len(keypoints) == 0:
            return np.zeros(0)
        x, y = keypoints[:, :, 0], keypoints[:, :, 1]
        return (x.max(axis=1) - x.min(axis=1)) * (y.max(axis=1) - y.min(axis=1))

    @classmethod
    def from_arrays(cls, image_id, keypoints, score, category_id=None, area=None) -> KeypointDetections:
        """Build from arrays; ``category_id`` defaults to 1 (person), ``area`` to the keypoints' extent."""
        kp = np.asarray(keypoints, dtype=np.float64)
        if kp.ndim != 3 or kp.shape[2] != 3:
            raise InputError(f"keypoints must have shape (N, K, 3), got {kp.shape}")
        n = kp.shape[0]
        img = np.asarray(image_id, dtype=np.int64).reshape(n)
        sc = np.asarray(score, dtype=np.float64).reshape(n)
        cat = np.ones(n, dtype=np.int64) if category_id is None else np.asarray(category_id, np.int64).reshape(n)
        _require_finite(kp, "keypoints", "detections")
        _require_finite(sc, "score", "detections")
        ar = cls.extent_area(kp) if area is None else np.asarray(area, dtype=np.float64).reshape(n)
        return cls(image_id=img, category_id=cat, keypoints=kp, score=sc, area=ar)

    @classmethod
    def from_results(cls, results, num_joints: int, source: str = "<memory>") -> KeypointDetections:
        """Parse a COCO keypoint results list (``[{image_id, category_id, keypoints, score}, ...]``)."""
        if isinstance(results, dict) and isinstance(results.get("annotations"), list):
            results = results["annotations"]
        if not isinstance(results, list):
            raise InputError(f"{source}: expected a list of keypoint results, got a JSON {type(results).__name__}")
        width = 3 * num_joints
        if not results:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, num_joints, 3)), np.zeros(0),
                       np.zeros(0))
        for i, r in enumerate(results[:1]):
            if not isinstance(r, dict):
                raise InputError(f"{source}: result #{i} is not an object")
        try:
            img = _int_array([r["image_id"] for r in results], "image_id", source)
            cat = _int_array([r.get("category_id", 1) for r in results], "category_id", source)
            score = np.asarray([r["score"] for r in results], dtype=np.float64)
            kp_rows = [r["keypoints"] for r in results]
        except KeyError as exc:
            bad = next(i for i, r in enumerate(results) if not isinstance(r, dict) or exc.args[0] not in r)
            raise InputError(f"{source}: result #{bad} has no {exc}") from None
        except (TypeError, ValueError):
            bad = next((i for i, r in enumerate(results) if not isinstance(r, dict)), None)
            if bad is not None:
                raise InputError(f"{source}: result #{bad} is not an object") from None
            raise InputError(f"{source}: a result's score is not a number") from None
        kp = _float_matrix(kp_rows, width, "keypoints", source)
        _require_finite(kp, "keypoints", source)
        _require_finite(score, "score", source)
        kp = kp.reshape(len(results), num_joints, 3)
        first = results[0]
        if first.get("bbox"):
            # pycocotools' loadRes takes the area from the results' boxes when the first result has one.
            boxes = _float_matrix([r.get("bbox") for r in results], 4, "bbox", source)
            area = boxes[:, 2] * boxes[:, 3]
        elif "segmentation" in first:
            raise InputError(f"{source}: results carry segmentations; keypoint evaluation needs keypoint results")
        else:
            area = cls.extent_area(kp)
        return cls(image_id=img, category_id=cat, keypoints=kp, score=score, area=area)

    def concat(self, other: KeypointDetections) -> KeypointDetections:
        """This set followed by ``other`` (order kept)."""
        return KeypointDetections(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in
                                    ("image_id", "category_id", "keypoints", "score", "area")))


def load_coco_keypoints(path: str | os.PathLike) -> CocoKeypointGroundTruth:
    """Read a COCO keypoint annotation file (``person_keypoints_*.json``)."""
    with gc_paused():
        return CocoKeypointGroundTruth.from_dict(read_json(path), source=str(path))


def load_keypoint_results(path: str | os.PathLike, gt: CocoKeypointGroundTruth) -> KeypointDetections:
    """Read a COCO keypoint results file and check it against the ground truth's images and joints."""
    with gc_paused():
        dets = KeypointDetections.from_results(read_json(path), gt.num_joints, source=str(path))
    check_detections_match(dets, gt, source=str(path))
    return dets


def check_detections_match(dets: KeypointDetections, gt: CocoKeypointGroundTruth, source: str) -> None:
    """Raise InputError when detections name images the annotations do not have."""
    if dets.keypoints.shape[1] != gt.num_joints:
        raise InputError(f"{source}: detections have {dets.keypoints.shape[1]} keypoints, the annotations "
                         f"{gt.num_joints}")
    known = np.isin(dets.image_id, gt.image_ids)
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        n = int((~known).sum())
        raise InputError(f"{source}: result #{i} has image_id {int(dets.image_id[i])}, which is not in the "
                         f"annotations ({n} result(s) name unknown images)")
