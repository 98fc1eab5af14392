"""MPII PCKh, as PaddleDetection's ``KeyPointTopDownMPIIEval`` (after HRNet's ``mpii.py``) computes it.

* head size = 0.6 x the diagonal of the annotated head box;
* a joint is correct when its distance to the ground truth, divided by the head size, is <= 0.5;
* per-joint PCKh over visible joints; the summary mean leaves out pelvis and thorax (positions 6 and
  7) and weights each joint by its visible count; the per-part table pairs left and right joints.

A quirk kept under a name that says so: the reference's "PCKh@0.1" reads row 11 of a 0.01-step
threshold range, i.e. threshold **0.11**, stored in float32. kbench reports that number as
``PCKh@0.1_paddledet`` and the true threshold-0.1 value as ``PCKh@0.1``.

Ground truth comes from the official ``mpii_gt_val.mat`` layout (``dataset_joints``, ``jnt_missing``,
``pos_gt_src``, ``headboxes_src``; MATLAB 1-based pixels) or from the HRNet-style JSON
(``joints`` 1-based, ``joints_vis``, plus a ``headbox`` ``[x1, y1, x2, y2]`` per entry). Predictions are
in the 0-based pixel convention, as models output them, and are shifted by +1 as the reference does.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kbench._fileio import check_readable, read_json
from kbench.errors import InputError

__all__ = ["MpiiGroundTruth", "MpiiPckhResult", "MpiiPckhEvaluator", "evaluate_mpii_pckh", "load_mpii_gt",
           "load_mpii_predictions", "MPII_JOINTS", "MPII_METRIC_NAMES"]

#: MPII's joint order and the short names of ``dataset_joints`` in ``mpii_gt_val.mat``.
MPII_JOINTS = ("rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor", "neck", "head", "rwri", "relb",
               "rsho", "lsho", "lelb", "lwri")
#: Stable metric names, read by reports and the CI gate.
MPII_METRIC_NAMES = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "PCKh", "PCKh@0.1",
                     "PCKh@0.1_paddledet")
_PARTS = (("Shoulder", "lsho", "rsho"), ("Elbow", "lelb", "relb"), ("Wrist", "lwri", "rwri"),
          ("Hip", "lhip", "rhip"), ("Knee", "lkne", "rkne"), ("Ankle", "lank", "rank"))
_SC_BIAS = 0.6
_THRESHOLD = 0.5


@dataclass
class MpiiGroundTruth:
    """MPII ground truth in the ``mpii_gt_val.mat`` layout (joints x coordinates x people).

    Attributes:
        joint_names: 16 short joint names in the order of the other arrays.
        jnt_missing: (16, N) 1 where the joint is not annotated.
        pos_gt_src: (16, 2, N) 1-based joint positions.
        headboxes_src: (2, 2, N) head box corners [[x1, y1], [x2, y2]].
    """

    joint_names: tuple
    jnt_missing: np.ndarray
    pos_gt_src: np.ndarray
    headboxes_src: np.ndarray
    source: str = "<memory>"

    def __len__(self) -> int:
        return int(self.pos_gt_src.shape[2])

    def joint(self, name: str) -> int:
        """Index of a joint by its short name."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise InputError(f"{self.source}: no joint named {name!r} in dataset_joints") from None

    @classmethod
    def from_hrnet_json(cls, entries: list, source: str = "<memory>") -> MpiiGroundTruth:
        """Build from HRNet's MPII JSON (``joints``, ``joints_vis``) with a ``headbox`` on each entry."""
        if not isinstance(entries, list) or not entries:
            raise InputError(f"{source}: expected a non-empty list of MPII annotations")
        try:
            joints = np.asarray([e["joints"] for e in entries], dtype=np.float64)
            vis = np.asarray([e["joints_vis"] for e in entries], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{source}: every entry needs 'joints' (16 x 2) and 'joints_vis' (16)") from None
        if "headbox" not in entries[0] or any("headbox" not in e for e in entries):
            missing = next(i for i, e in enumerate(entries) if "headbox" not in e)
            raise InputError(f"{source}: entry #{missing} has no 'headbox'; PCKh needs head boxes (HRNet's JSON "
                             f"has none: use the official mpii_gt_val.mat, or add 'headbox': [x1, y1, x2, y2])")
        try:
            heads = np.asarray([e["headbox"] for e in entries], dtype=np.float64).reshape(len(entries), 2, 2)
        except (TypeError, ValueError):
            raise InputError(f"{source}: 'headbox' must be [x1, y1, x2, y2] on every entry") from None
        if joints.shape[1:] != (16, 2) or vis.shape[1:] != (16,):
            raise InputError(f"{source}: joints must be 16 x 2 and joints_vis 16 per entry, got "
                             f"{joints.shape[1:]} and {vis.shape[1:]}")
        return cls(joint_names=MPII_JOINTS, jnt_missing=(1 - (vis > 0)).T.astype(np.float64),
                   pos_gt_src=np.transpose(joints, (1, 2, 0)), headboxes_src=np.transpose(heads, (1, 2, 0)),
                   source=source)


def load_mpii_gt(path: str | os.PathLike) -> MpiiGroundTruth:
    """Read MPII ground truth: ``mpii_gt_val.mat`` or HRNet-style JSON with head boxes."""
    p = check_readable(path)
    if p.suffix.lower() == ".mat":
        from scipy.io import loadmat

        try:
            mat = loadmat(p)
        except Exception as exc:  # scipy raises several types for a bad file
            raise InputError(f"{p}: not a readable MATLAB file ({_first_line(exc)})") from None
        need = ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src")
        missing = [k for k in need if k not in mat]
        if missing:
            raise InputError(f"{p}: not an MPII ground-truth file (missing {', '.join(missing)})")
        names = tuple(str(np.asarray(x).ravel()[0]) for x in np.asarray(mat["dataset_joints"]).ravel())
        gt = MpiiGroundTruth(joint_names=names, jnt_missing=np.asarray(mat["jnt_missing"]),
                             pos_gt_src=np.asarray(mat["pos_gt_src"]), headboxes_src=np.asarray(mat["headboxes_src"]),
                             source=str(p))
        n = gt.pos_gt_src.shape[-1]
        if gt.pos_gt_src.shape != (len(names), 2, n) or gt.jnt_missing.shape != (len(names), n) or \
                gt.headboxes_src.shape != (2, 2, n):
            raise InputError(f"{p}: inconsistent array shapes for {len(names)} joints and {n} people")
        return gt
    return MpiiGroundTruth.from_hrnet_json(read_json(p), source=str(p))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def load_mpii_predictions(path: str | os.PathLike) -> np.ndarray:
    """Read MPII predictions as (N, 16, 2) in 0-based pixels.

    Accepted: PaddleDetection's ``keypoints_results.json`` (a list of ``{"preds": [[x, y, score], ...]}``),
    a JSON list of 16 x 2|3 arrays, a ``.npy`` array (0-based), or HRNet's ``pred.mat`` (``preds``,
    1-based, converted back here).
    """
    p = check_readable(path)
    suffix = p.suffix.lower()
    if suffix == ".mat":
        from scipy.io import loadmat

        try:
            preds = np.asarray(loadmat(p)["preds"], dtype=np.float64) - 1.0
        except KeyError:
            raise InputError(f"{p}: no 'preds' array in this .mat file") from None
        except Exception as exc:
            raise InputError(f"{p}: not a readable MATLAB file ({_first_line(exc)})") from None
    elif suffix == ".npy":
        try:
            preds = np.load(p, allow_pickle=False)
        except Exception as exc:  # a damaged file: ValueError, EOFError, or a SyntaxError from its header
            raise InputError(f"{p}: not a plain numpy array ({_first_line(exc)})") from None
        if not isinstance(preds, np.ndarray):  # a .npz archive under another name
            raise InputError(f"{p}: not a plain numpy array (an .npz archive)")
        if preds.dtype.kind not in "biuf":
            raise InputError(f"{p}: predictions must be numbers, got an array of {preds.dtype}")
    else:
        data = read_json(p)
        if isinstance(data, list) and data and isinstance(data[0], dict):
            if "preds" not in data[0]:
                raise InputError(f"{p}: expected PaddleDetection MPII results with a 'preds' field")
            bad = next((i for i, d in enumerate(data) if not isinstance(d, dict)), None)
            if bad is not None:
                raise InputError(f"{p}: result #{bad} is not an object with a 'preds' field like the first")
            data = [d.get("preds") for d in data]
        try:
            preds = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{p}: predictions must be N x 16 x 2 (or x 3) numbers") from None
    if preds.ndim != 3 or preds.shape[1] != 16 or preds.shape[2] not in (2, 3):
        raise InputError(f"{p}: predictions must have shape (N, 16, 2 or 3), got {preds.shape}")
    if not np.isfinite(preds[..., :2]).all():
        raise InputError(f"{p}: predictions hold NaN or infinite coordinates")
    return preds[..., :2]


@dataclass
class MpiiPckhResult:
    """Named PCKh numbers (in percent), per-joint PCKh and the threshold curve."""

    stats: dict
    per_joint: dict
    curve_thresholds: np.ndarray = field(repr=False)
    curve: np.ndarray = field(repr=False)  # (thresholds, 16), percent
    summary: str = ""


def evaluate_mpii_pckh(gt: MpiiGroundTruth, preds: np.ndarray) -> MpiiPckhResult:
    """PCKh of 0-based predictions (N, 16, 2|3) against MPII ground truth.

    The arithmetic mirrors the reference line by line (float64, the curve stored in float32 as
    PaddleDetection stores it), so the numbers are identical.
    """
    preds = np.asarray(preds, dtype=np.float64)
    if preds.ndim != 3 or preds.shape[1:2] != (len(gt.joint_names),) or preds.shape[2] < 2:
        raise InputError(f"predictions must be (N, {len(gt.joint_names)}, 2|3), got {preds.shape}")
    if preds.shape[0] != len(gt):
        raise InputError(f"{preds.shape[0]} predictions for {len(gt)} annotated people in {gt.source}; "
                         f"MPII predictions must follow the ground truth's order one to one")
    pos_pred_src = np.transpose(preds[..., :2] + 1.0, [1, 2, 0])
    jnt_visible = 1 - gt.jnt_missing
    uv_err = np.linalg.norm(pos_pred_src - gt.pos_gt_src, axis=1)
    headsizes = np.linalg.norm(gt.headboxes_src[1, :, :] - gt.headboxes_src[0, :, :], axis=0)
    headsizes *= _SC_BIAS
    scale = headsizes * np.ones((len(uv_err), 1), dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled_uv_err = uv_err / scale * jnt_visible
        jnt_count = np.sum(jnt_visible, axis=1)
        pckh = 100.0 * np.sum((scaled_uv_err <= _THRESHOLD) * jnt_visible, axis=1) / jnt_count
        rng = np.arange(0, 0.5 + 0.01, 0.01)
        curve32 = np.zeros((len(rng), len(gt.joint_names)), dtype=np.float32)
        for r, thr in enumerate(rng):
            curve32[r, :] = 100.0 * np.sum((scaled_uv_err <= thr) * jnt_visible, axis=1) / jnt_count
        pck_at_01 = 100.0 * np.sum((scaled_uv_err <= 0.1) * jnt_visible, axis=1) / jnt_count
    if (jnt_count == 0).any():
        warnings.warn("some joints have no visible annotation; their PCKh is undefined (NaN)", stacklevel=2)
    # Pelvis and thorax (positions 6 and 7) are left out of the means, by position as the reference does.
    counted = np.asarray(jnt_count, dtype=np.float64).copy()
    counted[6:8] = 0
    jnt_ratio = counted / np.sum(counted).astype(np.float64)

    def weighted(values):
        v = np.asarray(values, dtype=np.float64).copy()
        v[6:8] = 0
        return float(np.sum(v * jnt_ratio))

    stats = {"Head": float(pckh[gt.joint("head")])}
    for part, left, right in _PARTS:
        stats[part] = float(0.5 * (pckh[gt.joint(left)] + pckh[gt.joint(right)]))
    stats["PCKh"] = weighted(pckh)
    stats["PCKh@0.1"] = weighted(pck_at_01)
    stats["PCKh@0.1_paddledet"] = weighted(curve32[11, :])  # row 11 is threshold 0.11
    per_joint = {name: float(v) for name, v in zip(gt.joint_names, pckh)}
    return MpiiPckhResult(stats=stats, per_joint=per_joint, curve_thresholds=rng, curve=curve32,
                          summary=format_pckh_table(stats))


def format_pckh_table(stats: dict) -> str:
    """The per-part table HRNet and PaddleDetection print, with kbench's two @0.1 columns."""
    names = list(MPII_METRIC_NAMES)
    head = "| " + " | ".join(names) + " |"
    rule = "|" + "|".join("-" * (len(n) + 2) for n in names) + "|"
    row = "| " + " | ".join(f"{stats[n]:.3f}".rjust(len(n)) for n in names) + " |"
    return "\n".join([head, rule, row])


class MpiiPckhEvaluator:
    """Stateful PCKh: ``update`` with predictions in ground-truth order, ``compute`` at the end.

    State is the list of prediction batches; ``merge`` appends another evaluator's batches (shards
    must be merged in ground-truth order).
    """

    higher_is_better = True

    def __init__(self, gt: MpiiGroundTruth):
        self.gt = gt
        self.reset()

    def reset(self) -> None:
        """Forget every prediction added."""
        self._batches: list[np.ndarray] = []
        self._cached: MpiiPckhResult | None = None

    def update(self, preds: np.ndarray) -> None:
        """Add predictions (B, 16, 2|3) in 0-based pixels, continuing the ground truth's order."""
        arr = np.asarray(preds, dtype=np.float64)
        if arr.ndim != 3 or arr.shape[1] != 16:
            raise InputError(f"predictions must be (B, 16, 2|3), got {arr.shape}")
        self._batches.append(arr[..., :2])
        self._cached = None

    def merge(self, other: MpiiPckhEvaluator) -> MpiiPckhEvaluator:
        """Append another evaluator's predictions; returns self."""
        self._batches.extend(other._batches)
        self._cached = None
        return self

    def compute(self) -> MpiiPckhResult:
        """PCKh of everything added; cached until the next update."""
        if self._cached is None:
            preds = np.concatenate(self._batches) if self._batches else np.zeros((0, 16, 2))
            self._cached = evaluate_mpii_pckh(self.gt, preds)
        return self._cached


def is_mpii_file(path: str | os.PathLike) -> bool:
    """Whether an annotation path looks like MPII ground truth (by suffix or content)."""
    p = Path(path)
    if p.suffix.lower() == ".mat":
        return True
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b'"joints_vis"' in head
