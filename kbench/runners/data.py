"""Where an evaluation's files are: a data set folder, explicit files, the generated sample, or a fetched data set.

Fetched data sets (``kbench data fetch``, :mod:`kbench.datasets.fetch`) live under ``$KBENCH_DATA``; an
evaluation of a zoo model given no ``--data-root`` uses the one its card's data set names
(:func:`fetched_data_root`), and the default detector boxes come from the fetched ``coco-val2017-det``.
"""

from __future__ import annotations

import os
from pathlib import Path

from kbench.errors import InputError

__all__ = ["DataFiles", "COCO_LAYOUT", "MPII_LAYOUT", "DEFAULT_DETECTIONS_URL", "DETECTIONS_DATASET", "layout_hint",
           "resolve_data", "detections_path", "fetched_data_root", "missing_data_message", "fetch_datasets",
           "list_datasets"]

# The zoo README's "Detector having human AP of 56.4 on COCO val2017 dataset" (the registry's coco-val2017-det).
DEFAULT_DETECTIONS_URL = "https://paddledet.bj.bcebos.com/data/bbox.json"
DETECTIONS_DATASET = "coco-val2017-det"
COCO_LAYOUT = ("expected COCO's layout: DATA_ROOT/annotations/person_keypoints_val2017.json and DATA_ROOT/val2017/"
               "*.jpg (or give --ann and --image-dir)")
MPII_LAYOUT = ("expected MPII's layout: DATA_ROOT/annotations/mpii_val.json, DATA_ROOT/annotations/mpii_gt_val.mat "
               "and DATA_ROOT/images/*.jpg (or give --ann, --mpii-gt and --image-dir)")


def layout_hint(dataset: str) -> str:
    """The expected folder layout of a data set, as error messages name it."""
    return COCO_LAYOUT if dataset == "coco" else MPII_LAYOUT


def missing_data_message(dataset: str, num_joints: int | None = None) -> str:
    """The one line ``eval --model`` gives without data: the ``kbench data fetch`` command that gets it, its size
    (none for a custom joint set: no fetched data set has its keypoints)."""
    from kbench.cards import DATASET_JOINTS
    from kbench.datasets.registry import DATASETS, DEFAULT_FOR

    if num_joints is not None and num_joints != DATASET_JOINTS[dataset]:
        return (f"eval --model needs data: --data-root DIR with {num_joints} keypoints per person (COCO format), "
                f"or --sample; {layout_hint(dataset)}")
    name = DEFAULT_FOR.get(dataset)
    fetch = ""
    if name is not None:
        ds = DATASETS[name]
        fetch = (f"`kbench data fetch {name}` gets it ({ds.title.split(':')[0]}, {ds.size_text()}; or add --download)"
                 f", or give ")
    sample = ", or --sample" if dataset == "coco" else ""
    return f"eval --model needs data: {fetch}--data-root DIR{sample}; {layout_hint(dataset)}"


def fetched_data_root(model: str, download: bool = False, progress: bool = True, log=None) -> str | None:
    """The fetched data set ``eval --model`` uses without ``--data-root``: its folder when installed, fetched first
    with ``download``; None when it is not there (the spec then says how to get it, :func:`missing_data_message`).
    """
    from kbench.cards import DATASET_JOINTS, get_card
    from kbench.datasets.registry import DEFAULT_FOR

    card = get_card(model)
    name = DEFAULT_FOR.get(card.dataset)
    if name is None or card.num_joints != DATASET_JOINTS[card.dataset]:  # no fetched set has a custom joint set
        return None
    from kbench.datasets.fetch import fetch_dataset, installed_manifest
    from kbench.datasets.registry import dataset_root

    if installed_manifest(name) is not None:
        return str(dataset_root(name))
    if not download:
        return None
    return str(fetch_dataset(name, progress=progress, log=log).root)


def fetch_datasets(names, progress: bool = True, log=None) -> list:
    """``kbench data fetch``: fetch each named data set (:func:`kbench.datasets.fetch.fetch_dataset`), in order."""
    from kbench.datasets.fetch import fetch_dataset
    from kbench.datasets.registry import get_dataset

    for name in names:  # every name checked before anything is downloaded
        get_dataset(name)
    return [fetch_dataset(name, progress=progress, log=log) for name in names]


def list_datasets() -> list[dict]:
    """``kbench data list``: the state of every registered data set (:func:`kbench.datasets.fetch.dataset_status`)."""
    from kbench.datasets.fetch import all_statuses

    return all_statuses()


class DataFiles:
    """Where the evaluation's files are and what they are."""

    def __init__(self, ann: Path, image_dir: Path, det_file: str | None = None, mpii_gt: Path | None = None,
                 sample=None):
        self.ann, self.image_dir, self.det_file, self.mpii_gt, self.sample = ann, image_dir, det_file, mpii_gt, sample


def resolve_data(spec, card) -> DataFiles:
    """The files of an :class:`~kbench.specs.EvalSpec` with a model (the sample is generated once, then cached)."""
    if spec.sample is not None:
        from kbench.datasets.sample_images import sample_dataset

        sample = sample_dataset(num_images=spec.sample, seed=0, num_joints=card.num_joints)
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
        return _default_detections(progress)
    if source.startswith(("http://", "https://")):
        from kbench.weights.download import fetch

        return str(fetch(source, progress=progress)), source
    from kbench.weights.download import resolve_weights, split_pin

    if split_pin(source)[1] is not None:  # a local file with #sha256=: checked here
        return str(resolve_weights(source)), source
    if not os.path.isfile(source):
        raise InputError(f"--det-file {source}: not found (a COCO detection-results JSON, or its URL)")
    return source, source


def _default_detections(progress: bool) -> tuple[str, str]:
    """The zoo README's bbox.json from the fetched ``coco-val2017-det`` (fetched now when it is not there)."""
    from kbench.datasets.fetch import fetch_dataset, installed_manifest
    from kbench.datasets.registry import dataset_root
    from kbench.weights.download import set_verification

    manifest = installed_manifest(DETECTIONS_DATASET)
    path = dataset_root(DETECTIONS_DATASET) / "bbox.json"
    if manifest is None or not path.is_file():  # not fetched yet, or changed since (then installed again)
        manifest = {"sources": fetch_dataset(DETECTIONS_DATASET, progress=progress).sources}
    sources = manifest.get("sources") or [{}]
    verification = sources[0].get("verification")
    if verification:
        set_verification(path, verification)
    return str(path), DEFAULT_DETECTIONS_URL
