"""Person-detector boxes in the COCO detection-results format (``bbox.json``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from kbench._fileio import read_json
from kbench.errors import InputError

__all__ = ["DetectorBoxes", "load_detector_boxes"]


@dataclass
class DetectorBoxes:
    """Detector output, one row per box, in file order.

    Attributes:
        image_id: (N,) int64.
        category_id: (N,) int64.
        bbox: (N, 4) x, y, w, h in pixels.
        score: (N,) detector confidence.
    """

    image_id: np.ndarray
    category_id: np.ndarray
    bbox: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return int(self.image_id.shape[0])

    def select(self, mask: np.ndarray) -> DetectorBoxes:
        """The rows where ``mask`` is true."""
        return DetectorBoxes(self.image_id[mask], self.category_id[mask], self.bbox[mask], self.score[mask])


def load_detector_boxes(path: str | os.PathLike, category_id: int | None = 1) -> DetectorBoxes:
    """Read a COCO detection-results file, keeping one category (person by default; None keeps all)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of detections, got a JSON {type(data).__name__}")
    try:
        img = np.asarray([d["image_id"] for d in data], dtype=np.int64)
        cat = np.asarray([d.get("category_id", 1) for d in data], dtype=np.int64)
        score = np.asarray([d["score"] for d in data], dtype=np.float64)
        bbox = np.asarray([d["bbox"] for d in data], dtype=np.float64).reshape(len(data), 4)
    except OverflowError:
        raise InputError(f"{path}: an image_id or category_id is not a 64-bit integer") from None
    except (KeyError, TypeError, ValueError, AttributeError):
        need = {"image_id", "bbox", "score"}
        bad = next((i for i, d in enumerate(data) if not isinstance(d, dict) or not need <= d.keys()
                    or not isinstance(d["bbox"], list) or len(d["bbox"]) != 4), None)
        where = f"detection #{bad}" if bad is not None else "a detection"
        raise InputError(f"{path}: {where} needs image_id, score and a 4-number bbox") from None
    if not (np.isfinite(bbox).all() and np.isfinite(score).all()):
        raise InputError(f"{path}: a detection has a NaN or infinite box or score")
    boxes = DetectorBoxes(img, cat, bbox, score)
    return boxes if category_id is None else boxes.select(cat == category_id)
