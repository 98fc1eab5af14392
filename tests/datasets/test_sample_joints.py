"""The built-in sample at any joint count: 17 draws the COCO persons (files unchanged), others hand-like figures.

No marker: a few small images.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from kbench.datasets.sample_images import figure_template, make_sample_dataset

# The annotation and detection files of 3 images, seed 0, as the generator wrote them before it learnt other joint
# counts (they depend on numpy's generator only, not on the JPEG encoder): the 17-joint sample is unchanged.
SHA_17 = {"person_keypoints_sample.json": "c18ee97ab14b7187bde73e7eca269ff0b1b4b06cfe875bd11dfb3ae356d019e9",
          "person_detections_sample.json": "f29630a9e95dae59a5d675c0d4746a8987a4194992e201d9dec1d92fb4d1f29a"}


def test_the_17_joint_sample_is_unchanged(tmp_path):
    sample = make_sample_dataset(tmp_path / "s", num_images=3, seed=0)
    for name, sha in SHA_17.items():
        assert hashlib.sha256((sample.root / name).read_bytes()).hexdigest() == sha, name
    assert "num_joints" not in sample.describe()


@pytest.mark.parametrize("joints", [21, 5, 2])
def test_other_joint_counts(tmp_path, joints):
    template, limbs = figure_template(joints)
    assert template.shape == (joints, 2)
    assert {j for limb in limbs for j in limb} == set(range(joints))  # every joint is drawn
    sample = make_sample_dataset(tmp_path / "s", num_images=4, seed=1, num_joints=joints)
    data = json.loads(sample.ann_file.read_text())
    assert len(data["categories"][0]["keypoints"]) == joints
    assert sample.describe()["num_joints"] == joints
    sizes = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
    assert data["annotations"]
    for ann in data["annotations"]:
        kp = np.asarray(ann["keypoints"]).reshape(-1, 3)
        assert kp.shape == (joints, 3) and ann["num_keypoints"] == joints and (kp[:, 2] == 2).all()
        w, h = sizes[ann["image_id"]]
        assert (kp[:, 0] >= 0).all() and (kp[:, 0] < w).all() and (kp[:, 1] >= 0).all() and (kp[:, 1] < h).all()
        x, y, bw, bh = ann["bbox"]
        assert (kp[:, 0] >= x).all() and (kp[:, 0] <= x + bw).all() and (kp[:, 1] >= y).all()
        assert (kp[:, 1] <= y + bh).all()
    assert len(list(sample.image_dir.glob("*.jpg"))) == 4
