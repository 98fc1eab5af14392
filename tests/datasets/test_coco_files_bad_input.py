"""Malformed annotation and results files give one InputError line naming the file and the problem."""

from __future__ import annotations

import json

import pytest

from kbench.datasets.coco import load_coco_keypoints, load_keypoint_results
from kbench.errors import InputError

GOOD_GT = {
    "images": [{"id": 1}, {"id": 2}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [10, 10, 2] * 17, "num_keypoints": 17,
                     "area": 400.0, "bbox": [0, 0, 20, 20], "iscrowd": 0}],
    "categories": [{"id": 1, "name": "person", "keypoints": ["k"] * 17}],
}
GOOD_RES = [{"image_id": 1, "category_id": 1, "keypoints": [10, 10, 1.0] * 17, "score": 0.9}]


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def check(tmp_path, gt, res, message):
    gt_path = write(tmp_path, "gt.json", gt)
    res_path = write(tmp_path, "res.json", res)
    with pytest.raises(InputError, match=message) as info:
        load_keypoint_results(res_path, load_coco_keypoints(gt_path))
    assert "\n" not in str(info.value)
    return str(info.value)


def test_good_files_load(tmp_path):
    gt = load_coco_keypoints(write(tmp_path, "gt.json", GOOD_GT))
    assert len(load_keypoint_results(write(tmp_path, "res.json", GOOD_RES), gt)) == 1


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_coco_keypoints(tmp_path / "absent.json")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        load_coco_keypoints(tmp_path)


def test_invalid_json(tmp_path):
    msg = check(tmp_path, "{not json", GOOD_RES, "invalid JSON")
    assert "gt.json" in msg


def test_empty_file(tmp_path):
    check(tmp_path, "", GOOD_RES, "file is empty")


def test_not_a_coco_file(tmp_path):
    check(tmp_path, [1, 2, 3], GOOD_RES, "expected a COCO annotation object")
    check(tmp_path, {"images": []}, GOOD_RES, "no 'annotations' list")


def test_no_person_category(tmp_path):
    gt = dict(GOOD_GT, categories=[{"id": 1, "name": "dog"}])
    check(tmp_path, gt, GOOD_RES, "no person category")


def test_wrong_keypoint_length_in_results(tmp_path):
    res = [dict(GOOD_RES[0], keypoints=[1, 2, 3] * 16)]
    msg = check(tmp_path, GOOD_GT, res, "has 48 values, expected 51")
    assert "res.json" in msg


def test_wrong_keypoint_length_in_annotations(tmp_path):
    anns = GOOD_GT["annotations"] + [dict(GOOD_GT["annotations"][0], id=7, keypoints=[1, 1, 1] * 5)]
    check(tmp_path, dict(GOOD_GT, annotations=anns), GOOD_RES, "entry id 7 has 15 values")


def test_unknown_image_id(tmp_path):
    check(tmp_path, GOOD_GT, [dict(GOOD_RES[0], image_id=99)], "image_id 99, which is not in the annotations")


def test_nan_and_infinite_values(tmp_path):
    kp = [10, 10, 1.0] * 17
    kp[4] = float("nan")
    check(tmp_path, GOOD_GT, json.dumps([dict(GOOD_RES[0], keypoints=kp)]), "NaN or infinite")
    kp[4] = float("inf")
    check(tmp_path, GOOD_GT, json.dumps([dict(GOOD_RES[0], keypoints=kp)]), "NaN or infinite")
    check(tmp_path, GOOD_GT, json.dumps([dict(GOOD_RES[0], score=float("nan"))]), "NaN or infinite")


def test_missing_field_in_result(tmp_path):
    res = GOOD_RES + [{"image_id": 1, "keypoints": [1, 1, 1] * 17}]
    check(tmp_path, GOOD_GT, res, "result #1 has no 'score'")


def test_results_not_a_list(tmp_path):
    check(tmp_path, GOOD_GT, {"image_id": 1}, "expected a list of keypoint results")


def test_result_not_an_object(tmp_path):
    check(tmp_path, GOOD_GT, [GOOD_RES[0], 5], "result #1 is not an object")


def test_non_numeric_keypoints(tmp_path):
    check(tmp_path, GOOD_GT, [dict(GOOD_RES[0], keypoints=["a"] * 51)], "not a number")
