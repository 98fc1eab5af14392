"""The data sets ``kbench data fetch`` knows: where each file comes from, its checksum, its size and its layout.

Pure data (standard library only). One :class:`Dataset` per name; adding a data set is adding an entry to
:data:`DATASETS`. Each installs as ``$KBENCH_DATA/<name>/`` (``~/.cache/kbench/datasets`` by default), laid out
as ``kbench eval --data-root`` expects it, by :mod:`kbench.datasets.fetch`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Source", "Dataset", "DATASETS", "DEFAULT_FOR", "get_dataset", "data_dir", "dataset_root", "human_size"]


@dataclass(frozen=True)
class Source:
    """One downloaded file and what of it goes where in the data set's folder."""

    url: str  # the official URL (``$KBENCH_MIRROR`` replaces its host when set)
    kind: str  # "zip", "tar" (any compression tarfile reads) or "file" (used as downloaded)
    md5: str | None = None  # the published md5, verified when given
    sha256: str | None = None  # a published sha256, verified when given; with neither, the first download's is recorded
    size: int | None = None  # bytes as published (approximate where marked so): messages and the free-space check
    #: (member glob, destination folder): archive members whose path matches go into the folder, under their
    #: basename; every pattern must match at least one member, or the archive is not the one expected
    extract: tuple[tuple[str, str], ...] = ()
    dest: str = ""  # kind "file": its path in the data set
    #: a member filter of :mod:`kbench.datasets.fetch` (``"mpii_val_images"``: only the images that the installed
    #: ``annotations/mpii_val.json`` lists), applied to the ``extract`` matches
    only: str | None = None
    checksum_source: str = ""  # where the published checksum comes from

    @property
    def basename(self) -> str:
        """The URL's file name."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Dataset:
    """A data set: its files, the layout they make, and the evaluation that reads it."""

    name: str
    title: str
    sources: tuple[Source, ...]
    layout: tuple[str, ...]  # paths that exist once installed (a trailing "/" names a non-empty folder)
    evaluates: str | None = None  # the card ``dataset`` it is the default data of ("coco", "mpii"), if any
    note: str = ""  # where the URLs come from

    @property
    def download_size(self) -> int | None:
        """Bytes to download, when every source's size is known."""
        sizes = [s.size for s in self.sources]
        return None if None in sizes else sum(sizes)

    def size_text(self) -> str:
        """The download size as a sentence fragment: "about 1.0 GiB", or what is known of it."""
        known = [s.size for s in self.sources if s.size is not None]
        if len(known) == len(self.sources):
            return f"about {human_size(sum(known))}"
        if known:
            return f"about {human_size(sum(known))} plus files of unpublished size"
        return "size not published"


_COCO_NOTE = ("COCO's official URLs; md5s as PaddleDetection's ppdet/utils/download.py lists them (DATASETS['coco'])")
_MPII_NOTE = ("images from the MPII Human Pose site (the tarball HRNet, mmpose and PaddleDetection point to), "
              "HRNet-format JSON annotations with mpii_gt_val.mat from mmpose's mpii_annotations.tar (the file "
              "PaddleDetection's keypoint README links); no checksum is published for either")

#: name -> data set. Sizes are the archives' sizes as commonly quoted (MPII's tarball as its site rounds it, 12.9 GB):
#: they are used for messages and the free-space check only, never to verify a file (the checksums do that).
DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset(
        name="coco-val2017",
        title="COCO 2017 val: 5000 images and the person keypoint annotations",
        sources=(
            Source(url="http://images.cocodataset.org/annotations/annotations_trainval2017.zip", kind="zip",
                   md5="f4bbac642086de4f52a3fdda2de5fa2c", size=252_907_541,
                   extract=(("annotations/person_keypoints_val2017.json", "annotations"),),
                   checksum_source="PaddleDetection ppdet/utils/download.py"),
            Source(url="http://images.cocodataset.org/zips/val2017.zip", kind="zip",
                   md5="442b8da7639aecaf257c1dceb8ba8c80", size=815_585_330,
                   extract=(("val2017/*.jpg", "val2017"),),
                   checksum_source="PaddleDetection ppdet/utils/download.py"),
        ),
        layout=("annotations/person_keypoints_val2017.json", "val2017/"),
        evaluates="coco",
        note=_COCO_NOTE,
    ),
    Dataset(
        name="coco-val2017-det",
        title="the zoo README's COCO val2017 person detections (human AP 56.4): bbox.json for --bbox detector",
        sources=(Source(url="https://paddledet.bj.bcebos.com/data/bbox.json", kind="file", dest="bbox.json"),),
        layout=("bbox.json",),
        note="PaddleDetection's keypoint README (no checksum published)",
    ),
    Dataset(
        name="mpii-val",
        title="MPII Human Pose val: the images mpii_val.json lists (of about 25K in the tarball), HRNet's annotations",
        sources=(
            Source(url="https://download.openmmlab.com/mmpose/datasets/mpii_annotations.tar", kind="tar",
                   extract=(("*mpii_val.json", "annotations"), ("*mpii_gt_val.mat", "annotations"))),
            Source(url="https://datasets.d2.mpi-inf.mpg.de/andriluka14cvpr/mpii_human_pose_v1.tar.gz", kind="tar",
                   size=12_900_000_000, extract=(("*images/*.jpg", "images"),), only="mpii_val_images"),
        ),
        layout=("annotations/mpii_val.json", "annotations/mpii_gt_val.mat", "images/"),
        evaluates="mpii",
        note=_MPII_NOTE,
    ),
)}

#: card dataset ("coco", "mpii") -> the data set name ``kbench eval --model`` uses without ``--data-root``.
DEFAULT_FOR = {d.evaluates: d.name for d in DATASETS.values() if d.evaluates}


def get_dataset(name: str) -> Dataset:
    """The registered data set ``name``.

    Raises:
        InputError: No data set of that name (the message lists the known ones).
    """
    try:
        return DATASETS[name]
    except KeyError:
        from kbench.errors import InputError

        raise InputError(f"unknown data set {name!r} (known: {', '.join(DATASETS)}; see `kbench data list`)") from None


def data_dir() -> Path:
    """Where fetched data sets live: ``$KBENCH_DATA`` when set, else ``~/.cache/kbench/datasets``."""
    env = os.environ.get("KBENCH_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kbench" / "datasets"


def dataset_root(name: str) -> Path:
    """The folder a fetched data set is installed in (its ``--data-root``)."""
    return data_dir() / name


def human_size(n: float) -> str:
    """Bytes as people read them: ``815585330`` -> ``"777.8 MiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover
