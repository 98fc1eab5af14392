"""Where an evaluation's files are: a data set folder, explicit files, or the generated sample."""

from __future__ import annotations

import os
from pathlib import Path

from kbench.errors import InputError

__all__ = ["DataFiles", "COCO_LAYOUT", "MPII_LAYOUT", "DEFAULT_DETECTIONS_URL", "layout_hint", "resolve_data",
           "detections_path"]

# The zoo README's "Detector having human AP of 56.4 on COCO val2017 dataset".
DEFAULT_DETECTIONS_URL = "https://paddledet.bj.bcebos.com/data/bbox.json"
COCO_LAYOUT = ("expected COCO's layout: DATA_ROOT/annotations/person_keypoints_val2017.json and DATA_ROOT/val2017/"
               "*.jpg (or give --ann and --image-dir)")
MPII_LAYOUT = ("expected MPII's layout: DATA_ROOT/annotations/mpii_val.json, DATA_ROOT/annotations/mpii_gt_val.mat "
               "and DATA_ROOT/images/*.jpg (or give --ann, --mpii-gt and --image-dir)")


def layout_hint(dataset: str) -> str:
    """The expected folder layout of a data set, as error messages name it."""
    return COCO_LAYOUT if dataset == "coco" else MPII_LAYOUT


class DataFiles:
    """Where the evaluation's files are and what they are."""

    def __init__(self, ann: Path, image_dir: Path, det_file: str | None = None, mpii_gt: Path | None = None,
                 sample=None):
        self.ann, self.image_dir, self.det_file, self.mpii_gt, self.sample = ann, image_dir, det_file, mpii_gt, sample


def resolve_data(spec, card) -> DataFiles:
    """The files of an :class:`~kbench.specs.EvalSpec` with a model (the sample is generated once, then cached)."""
    if spec.sample is not None:
        from kbench.datasets.sample_images import sample_dataset

        sample = sample_dataset(num_images=spec.sample, seed=0)
        return DataFiles(sample.ann_file, sample.image_dir, str(sample.det_file), sample=sample)
    root = Path(spec.data_root) if spec.data_root else None
    if root is not None and not root.is_dir():
        raise InputError(f"--data-root {root}: not a folder")
    if card.dataset == "mpii":
        ann = Path(spec.ann) if spec.ann else root / "annotations" / "mpii_val.json"
        mat = Path(spec.mpii_gt) if spec.mpii_gt else ann.parent / "mpii_gt_val.mat"
        image_dir = Path(spec.image_dir) if spec.image_dir else (
            root / "images" if root is not None and (root / "images").is_dir() else (root or ann.parent))
        for f in (ann, mat):
            if not f.is_file():
                raise InputError(f"{f}: not found; {MPII_LAYOUT}")
        return DataFiles(ann, image_dir, mpii_gt=mat)
    ann = Path(spec.ann) if spec.ann else root / "annotations" / "person_keypoints_val2017.json"
    if not ann.is_file():
        raise InputError(f"{ann}: not found; {COCO_LAYOUT}")
    if spec.image_dir:
        image_dir = Path(spec.image_dir)
    elif root is not None:
        image_dir = root / "val2017" if (root / "val2017").is_dir() else root
    else:
        image_dir = ann.parent
    if not image_dir.is_dir():
        raise InputError(f"{image_dir}: image folder not found; {COCO_LAYOUT}")
    return DataFiles(ann, image_dir)


def detections_path(det_file: str | None, data: DataFiles, progress: bool = False) -> tuple[str, str]:
    """The detector results file to use (downloaded and cached when a URL) and where it came from."""
    if det_file:
        source = det_file
    elif data.det_file:
        return data.det_file, "the sample's generated detector boxes"
    else:
        source = DEFAULT_DETECTIONS_URL
    if source.startswith(("http://", "https://")):
        from kbench.weights.download import fetch

        return str(fetch(source, progress=progress)), source
    from kbench.weights.download import resolve_weights, split_pin

    if split_pin(source)[1] is not None:  # a local file with #sha256=: checked here
        return str(resolve_weights(source)), source
    if not os.path.isfile(source):
        raise InputError(f"--det-file {source}: not found (a COCO detection-results JSON, or its URL)")
    return source, source
