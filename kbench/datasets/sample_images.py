"""A built-in COCO-style keypoint sample with real image files: drawn stick figures and their annotations.

``kbench eval --model NAME --sample`` and ``make demo`` run the whole pipeline (image decoding, person
crops, a runtime, heatmap decoding, rescoring, OKS-NMS, the COCO evaluator) on this sample, so a fresh
machine can exercise everything without COCO val2017. The data are synthetic: the figures are lines and
discs, not people, and every output that uses them says so.

The sample is written once per (seed, size) into the cache, atomically (a temporary folder renamed into
place), in the layout kbench reads for COCO: ``images/*.jpg``, ``person_keypoints_sample.json`` and a
detector-results file ``person_detections_sample.json`` (jittered boxes, one false positive per few
images, scores in (0.3, 1)).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["SAMPLE_VERSION", "SampleDataset", "make_sample_dataset", "sample_dataset", "figure_template"]

SAMPLE_VERSION = 1

# A standing person in COCO keypoint order, in units of body height, origin at the feet's midpoint.
_TEMPLATE = np.array([
    [0.00, -0.93], [0.03, -0.95], [-0.03, -0.95], [0.07, -0.93], [-0.07, -0.93],   # nose, eyes, ears
    [0.13, -0.80], [-0.13, -0.80], [0.17, -0.62], [-0.17, -0.62], [0.18, -0.46], [-0.18, -0.46],  # arms
    [0.09, -0.50], [-0.09, -0.50], [0.10, -0.26], [-0.10, -0.26], [0.10, -0.02], [-0.10, -0.02],  # legs
])
# Limbs drawn between joints (COCO's skeleton, 0-based).
_LIMBS = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
          (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))


def figure_template(num_joints: int) -> tuple[np.ndarray, tuple]:
    """The drawn figure of a joint count: (K, 2) joints in units of figure height (origin at the bottom middle, y
    up is negative) and the limbs between them.

    17 joints: the COCO person above. Any other count: a hand-like fan, as a 21-joint hand set has: joint 0 at the
    base (the wrist), then rays of up to 4 joints each (fingers) spread over 120 degrees, each ray drawn from the base.
    """
    if num_joints == 17:
        return _TEMPLATE, _LIMBS
    if num_joints < 2:
        raise ValueError("a figure needs at least 2 joints")
    rays = -(-(num_joints - 1) // 4)
    joints, limbs = [[0.0, 0.0]], []
    angles = np.linspace(-np.pi / 3, np.pi / 3, rays) if rays > 1 else np.zeros(1)
    for r, angle in enumerate(angles):
        count = min(4, num_joints - 1 - 4 * r)
        length = 0.75 + 0.2 * np.cos(angle)  # the middle rays reach furthest, as fingers do
        prev = 0
        for j in range(count):
            t = 0.3 + 0.7 * (j + 1) / 4
            joints.append([float(np.sin(angle) * length * t * 0.25), float(-np.cos(angle) * length * t)])
            limbs.append((prev, len(joints) - 1))
            prev = len(joints) - 1
    return np.asarray(joints), tuple(limbs)


_COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
               "right_knee", "left_ankle", "right_ankle"]


class SampleDataset:
    """Where a generated sample lives.

    Attributes:
        root: the sample's folder.
        image_dir: the images.
        ann_file: COCO keypoint annotations.
        det_file: COCO detection results for the same images.
        num_images: images in the sample.
        seed: the generator's seed.
    """

    def __init__(self, root: Path, num_images: int, seed: int, num_joints: int = 17):
        self.root = Path(root)
        self.image_dir = self.root / "images"
        self.ann_file = self.root / "person_keypoints_sample.json"
        self.det_file = self.root / "person_detections_sample.json"
        self.num_images = num_images
        self.seed = seed
        self.num_joints = num_joints

    def describe(self) -> dict:
        """What a run record says about the sample."""
        out = {"generator": "kbench.datasets.sample_images", "version": SAMPLE_VERSION, "images": self.num_images,
               "seed": self.seed, "path": str(self.root), "synthetic": True}
        if self.num_joints != 17:
            out["num_joints"] = self.num_joints
        return out


def _people(rng: np.random.Generator, width: int, height: int, count: int, template: np.ndarray = _TEMPLATE
            ) -> np.ndarray:
    """(count, K, 2) joint positions of figures that fit in the image, with some pose variation."""
    heights = rng.uniform(0.35, 0.85, count) * height
    pose = template[None] + rng.normal(0.0, 0.015, (count, len(template), 2))
    if len(template) == 17:  # raise or lower the arms a little so that no two figures are the same shape
        pose[:, 7:11, 1] += rng.uniform(-0.12, 0.05, (count, 1))
    else:  # bend the rays a little
        pose[:, 1:, 0] += rng.uniform(-0.04, 0.04, (count, 1)) * np.abs(pose[:, 1:, 1])
    halfwidth = 0.2 * heights
    feet_x = rng.uniform(halfwidth + 2, width - halfwidth - 2)
    feet_y = rng.uniform(heights + 2, height - 2)
    return pose * heights[:, None, None] + np.stack([feet_x, feet_y], axis=1)[:, None, :]


def _draw(image: np.ndarray, joints: np.ndarray, color: tuple, body_height: float, limbs: tuple = _LIMBS) -> None:
    import cv2

    thickness = max(2, int(body_height / 40))
    pts = np.round(joints).astype(np.int32)
    for a, b in limbs:
        cv2.line(image, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), color, thickness, cv2.LINE_AA)
    cv2.circle(image, tuple(int(v) for v in pts[0]), max(3, int(body_height / 14)), color, -1, cv2.LINE_AA)
    for p in pts:
        cv2.circle(image, tuple(int(v) for v in p), thickness, (255, 255, 255), -1, cv2.LINE_AA)


def make_sample_dataset(root: str | os.PathLike, num_images: int = 24, seed: int = 0, width: int = 640,
                        height: int = 480, num_joints: int = 17) -> SampleDataset:
    """Write a sample of ``num_images`` images with 1-4 drawn figures each, and their annotation files.

    Args:
        root: the folder to write (replaced atomically if it exists).
        num_images: images to draw.
        seed: random seed; the same seed gives the same files.
        width: image width in pixels.
        height: image height in pixels.
        num_joints: joints per figure: 17 draws COCO persons, any other count hand-like figures
            (:func:`figure_template`), annotated in COCO's format with that many keypoints.

    Returns:
        The sample's paths.
    """
    import cv2

    template, limbs = figure_template(num_joints)
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        (tmp / "images").mkdir()
        images, anns, dets = [], [], []
        yy, xx = np.mgrid[0:height, 0:width]
        for i in range(num_images):
            image_id = i + 1
            base = rng.uniform(40, 200, 3)
            tilt = rng.uniform(-0.15, 0.15, 3)
            canvas = base[None, None, :] + tilt[None, None, :] * (xx[..., None] - width / 2) * 0.5
            canvas += rng.normal(0, 6, (height, width, 3))
            image = np.clip(canvas, 0, 255).astype(np.uint8)
            count = int(rng.integers(1, 5))
            people = _people(rng, width, height, count, template)
            for joints in people:
                body = float(joints[:, 1].max() - joints[:, 1].min())
                color = tuple(int(c) for c in rng.integers(0, 256, 3))
                _draw(image, joints, color, body, limbs)
            name = f"{image_id:012d}.jpg"
            cv2.imwrite(str(tmp / "images" / name), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            images.append({"id": image_id, "file_name": name, "width": width, "height": height})
            for joints in people:
                x0, y0 = joints.min(axis=0) - 8
                x1, y1 = joints.max(axis=0) + 8
                x0, y0 = max(0.0, float(x0)), max(0.0, float(y0))
                w, h = min(width - 1.0, float(x1)) - x0, min(height - 1.0, float(y1)) - y0
                kp = np.concatenate([joints, np.full((num_joints, 1), 2.0)], axis=1)
                anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                             "bbox": [round(x0, 2), round(y0, 2), round(w, 2), round(h, 2)],
                             "area": round(0.55 * w * h, 2), "num_keypoints": num_joints,
                             "keypoints": [round(float(v), 2) for v in kp.ravel()]})
                jitter = rng.normal(0, 0.05, 4) * np.array([w, h, w, h])
                dets.append({"image_id": image_id, "category_id": 1, "score": round(float(rng.uniform(0.55, 1.0)), 4),
                             "bbox": [round(float(v), 2) for v in np.array([x0, y0, w, h]) + jitter]})
            if rng.random() < 0.3:  # a false positive: the detector's boxes are never perfect
                fw, fh = rng.uniform(40, 120), rng.uniform(80, 200)
                dets.append({"image_id": image_id, "category_id": 1, "score": round(float(rng.uniform(0.3, 0.7)), 4),
                             "bbox": [round(float(rng.uniform(0, width - fw)), 2),
                                      round(float(rng.uniform(0, height - fh)), 2), round(fw, 2), round(fh, 2)]})
        coco = {"info": {"description": f"kbench synthetic keypoint sample v{SAMPLE_VERSION} (drawn stick figures; "
                                        f"not real data), seed {seed}"},
                "images": images, "annotations": anns,
                "categories": [{"id": 1, "name": "person", "supercategory": "person",
                                "keypoints": _COCO_NAMES if num_joints == 17 else [f"k{i}" for i in range(num_joints)],
                                "skeleton": [[a + 1, b + 1] for a, b in limbs]}]}
        (tmp / "person_keypoints_sample.json").write_text(json.dumps(coco), encoding="utf-8")
        (tmp / "person_detections_sample.json").write_text(json.dumps(dets), encoding="utf-8")
        (tmp / "README.txt").write_text("Synthetic data made by kbench: drawn stick figures, not people. Numbers "
                                        "measured on it say nothing about a model's real accuracy.\n",
                                        encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SampleDataset(root, num_images, seed, num_joints)


def sample_dataset(num_images: int = 24, seed: int = 0, num_joints: int = 17) -> SampleDataset:
    """The cached sample of this size, seed and joint count, generated on first use (``$KBENCH_CACHE/samples``)."""
    from kbench.export.cache import artifacts_root

    joints = "" if num_joints == 17 else f"-k{num_joints}"
    root = Path(artifacts_root()).parent / "samples" / f"coco-sample-v{SAMPLE_VERSION}{joints}-n{num_images}-s{seed}"
    if (root / "person_detections_sample.json").is_file():
        return SampleDataset(root, num_images, seed, num_joints)
    return make_sample_dataset(root, num_images, seed, num_joints=num_joints)
