"""The file readers on garbage: each returns normally or raises InputError with a one-line message, nothing else.

Fuzzed with hypothesis for a fixed budget (``derandomize=True``: the same examples on every run, so CI is
reproducible; no example database is written). Two kinds of input per reader: random bytes or text, and
structurally plausible files (the right keys, with values of the wrong type, NaN, infinities, huge or negative
numbers, wrong lengths, fields missing). Readers: COCO keypoint annotations and results, MPII ground truth (JSON
and .mat) and predictions (JSON, .npy, .mat), detector boxes, run records, model cards.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kbench.cards import cards_dir, load_card
from kbench.datasets.boxes import load_detector_boxes
from kbench.datasets.coco import CocoKeypointGroundTruth, load_coco_keypoints, load_keypoint_results
from kbench.errors import InputError
from kbench.evaluators.mpii_pckh import load_mpii_gt, load_mpii_predictions
from kbench.results.frame import load_records, records_frame

#: The budget: examples per property (the file runs in well under a minute on 2 cores). KBENCH_FUZZ_EXAMPLES
#: raises it for a longer local hunt; CI keeps the default, so every run tries the same inputs.
EXAMPLES = int(os.environ.get("KBENCH_FUZZ_EXAMPLES", "400"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def accepts_or_refuses(read, *args):
    """The property: ``read(*args)`` returns, or raises InputError whose message is one non-empty line."""
    try:
        return read(*args)
    except InputError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message, repr(message)
        return None


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def put(folder: Path, name: str, content) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_text(json.dumps(content, allow_nan=True), encoding="utf-8")
    return path


# --- values -------------------------------------------------------------------------------------------------------

EDGE_NUMBERS = st.sampled_from([0, 1, 2, -1, -(2 ** 63), 2 ** 63, 2 ** 64, 10 ** 30, 1e308, -1e308, 1e-320, 0.5,
                                math.nan, math.inf, -math.inf])
NUMBER = st.one_of(EDGE_NUMBERS, st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(0, 100))
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, st.text(max_size=6),
                   st.sampled_from(["", "1", "NaN", "person", "kbench.record/1"]))
#: Any JSON value, nested a little.
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=4), max_leaves=12)
#: What a wrong field holds.
WILD = st.one_of(SCALAR, st.lists(SCALAR, max_size=5), st.dictionaries(st.text(max_size=3), SCALAR, max_size=3),
                 st.lists(NUMBER, min_size=0, max_size=60))


def usually(good):
    """Mostly the right kind of value, sometimes anything."""
    return st.one_of(good, good, good, WILD)


def record_of(required: dict, optional: dict | None = None):
    """A JSON object with these keys (each may be dropped, each value may be wrong) and sometimes a stray key."""
    keys = {**required, **(optional or {})}
    return st.fixed_dictionaries({}, optional={k: usually(v) for k, v in keys.items()}) | \
        st.fixed_dictionaries({k: usually(v) for k, v in required.items()},
                              optional={**{k: usually(v) for k, v in (optional or {}).items()}, "extra": WILD})


#: A number a reader should take, so that the examples get past the first check to the later ones.
FINITE = st.one_of(st.integers(-10, 1000), st.floats(-1e4, 1e4, allow_nan=False))


def numbers(n):
    return st.lists(NUMBER, min_size=n, max_size=n)


def finite(n):
    return st.lists(FINITE, min_size=n, max_size=n)


def some(n):
    """``n`` numbers: finite mostly, sometimes with NaN, infinities or huge ones among them."""
    return st.one_of(finite(n), finite(n), numbers(n))


ID = st.integers(-3, 5)
BYTES = st.binary(max_size=300)
TEXT = st.text(max_size=200)
FILE_TEXT = st.one_of(BYTES, TEXT, JSON.map(lambda v: json.dumps(v, allow_nan=True)))


# --- COCO keypoint annotations ------------------------------------------------------------------------------------

COCO_IMAGE = record_of({"id": ID}, {"file_name": st.text(max_size=8), "width": FINITE, "height": FINITE,
                                    "crowdIndex": FINITE})
COCO_ANN = record_of({"id": ID, "image_id": ID, "category_id": ID, "keypoints": st.one_of(some(51), some(3))},
                     {"num_keypoints": FINITE, "area": FINITE, "bbox": some(4), "iscrowd": NUMBER})
COCO_CATEGORY = record_of({"id": ID, "name": st.sampled_from(["person", "dog", ""])},
                          {"keypoints": st.lists(st.text(max_size=3), max_size=18)})
COCO_GT = record_of({"images": st.lists(COCO_IMAGE, max_size=4), "annotations": st.lists(COCO_ANN, max_size=4),
                     "categories": st.lists(COCO_CATEGORY, max_size=3)})


@FUZZ
@given(content=FILE_TEXT)
def test_coco_annotations_garbage(folder, content):
    accepts_or_refuses(load_coco_keypoints, put(folder, "gt.json", content))


@FUZZ
@given(content=COCO_GT)
def test_coco_annotations_plausible(folder, content):
    accepts_or_refuses(load_coco_keypoints, put(folder, "gt.json", content))


# --- COCO keypoint results ----------------------------------------------------------------------------------------

GOOD_GT = {"images": [{"id": 1}, {"id": 2}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [10, 10, 2] * 17, "area": 400.0,
                            "bbox": [0, 0, 20, 20], "iscrowd": 0}],
           "categories": [{"id": 1, "name": "person", "keypoints": ["k"] * 17}]}
COCO_RESULT = record_of({"image_id": st.integers(0, 3), "keypoints": st.one_of(some(51), some(48)),
                         "score": st.one_of(FINITE, NUMBER)},
                        {"category_id": ID, "bbox": some(4), "segmentation": WILD})
COCO_RESULTS = st.one_of(st.lists(COCO_RESULT, max_size=5),
                         st.fixed_dictionaries({"annotations": st.lists(COCO_RESULT, max_size=3)}))


@pytest.fixture(scope="module")
def coco_gt() -> CocoKeypointGroundTruth:
    return CocoKeypointGroundTruth.from_dict(GOOD_GT, source="gt.json")


@FUZZ
@given(content=FILE_TEXT)
def test_coco_results_garbage(folder, coco_gt, content):
    accepts_or_refuses(load_keypoint_results, put(folder, "res.json", content), coco_gt)


@FUZZ
@given(content=COCO_RESULTS)
def test_coco_results_plausible(folder, coco_gt, content):
    accepts_or_refuses(load_keypoint_results, put(folder, "res.json", content), coco_gt)


# --- MPII ---------------------------------------------------------------------------------------------------------

def joints(n):
    return st.one_of(st.lists(finite(2), min_size=n, max_size=n),
                     st.lists(st.one_of(some(2), some(3), WILD), min_size=n, max_size=n))


MPII_ENTRY = record_of({"joints": st.one_of(joints(16), joints(15)), "joints_vis": st.one_of(some(16), some(15)),
                        "headbox": st.one_of(some(4), some(3), st.lists(some(2), min_size=2, max_size=2))},
                       {"image": st.text(max_size=8), "center": some(2), "scale": NUMBER})
MPII_PRED = st.one_of(joints(16), record_of({"preds": st.one_of(joints(16), joints(17))}))


@FUZZ
@given(content=FILE_TEXT)
def test_mpii_gt_json_garbage(folder, content):
    accepts_or_refuses(load_mpii_gt, put(folder, "mpii_val.json", content))


@FUZZ
@given(content=st.lists(MPII_ENTRY, max_size=4))
def test_mpii_gt_json_plausible(folder, content):
    accepts_or_refuses(load_mpii_gt, put(folder, "mpii_val.json", content))


@FUZZ
@given(content=st.one_of(FILE_TEXT, st.lists(MPII_PRED, max_size=4)))
def test_mpii_predictions_json(folder, content):
    accepts_or_refuses(load_mpii_predictions, put(folder, "preds.json", content))


#: Arrays of awkward kinds and shapes, some of them right (N x 16 x 2|3).
DTYPES = st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.boolean_dtypes(), hnp.complex_number_dtypes(),
                   hnp.unicode_string_dtypes(max_len=3), hnp.datetime64_dtypes())
SHAPES = st.one_of(st.sampled_from([(0, 16, 2), (1, 16, 2), (2, 16, 3), (1, 16, 4), (16, 2), (1, 15, 2), ()]),
                   hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
ARRAYS = DTYPES.flatmap(lambda dtype: SHAPES.flatmap(lambda shape: hnp.arrays(dtype, shape)))


def npy_bytes(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


@FUZZ
@given(content=st.one_of(BYTES, ARRAYS.map(npy_bytes), ARRAYS.map(npy_bytes).map(lambda b: b[:len(b) // 2])))
def test_mpii_predictions_npy(folder, content):
    accepts_or_refuses(load_mpii_predictions, put(folder, "preds.npy", content))


def mat_bytes(arrays: dict) -> bytes:
    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, arrays)
    return buf.getvalue()


MAT_SHAPES = SHAPES.filter(lambda s: 0 not in s)
#: What savemat can write: numbers, and text without surrogates (which it cannot encode) or NULs (numpy drops them).
MAT_ARRAYS = st.one_of(
    st.one_of(hnp.floating_dtypes(sizes=(32, 64)), hnp.integer_dtypes(sizes=(8, 32))).flatmap(
        lambda dtype: MAT_SHAPES.flatmap(lambda shape: hnp.arrays(dtype, shape))),
    MAT_SHAPES.flatmap(lambda shape: hnp.arrays("<U3", shape, elements=st.text(st.characters(
        min_codepoint=1, exclude_categories=["Cs"]), max_size=3))))


@FUZZ
@given(content=st.one_of(BYTES, st.dictionaries(st.sampled_from(["preds", "other"]), MAT_ARRAYS, max_size=2)
                         .map(mat_bytes)))
def test_mpii_predictions_mat(folder, content):
    accepts_or_refuses(load_mpii_predictions, put(folder, "pred.mat", content))


MPII_GT_KEYS = ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src")


@FUZZ
@given(content=st.one_of(BYTES, st.dictionaries(st.sampled_from(MPII_GT_KEYS), MAT_ARRAYS, min_size=2, max_size=4)
                         .map(mat_bytes)))
def test_mpii_gt_mat(folder, content):
    accepts_or_refuses(load_mpii_gt, put(folder, "mpii_gt_val.mat", content))


# --- detector boxes -----------------------------------------------------------------------------------------------

DETECTION = record_of({"image_id": ID, "bbox": st.one_of(some(4), some(3), some(5)),
                       "score": st.one_of(FINITE, NUMBER)}, {"category_id": st.one_of(ID, NUMBER)})


@FUZZ
@given(content=st.one_of(FILE_TEXT, st.lists(DETECTION, max_size=5)))
def test_detector_boxes(folder, content):
    accepts_or_refuses(load_detector_boxes, put(folder, "bbox.json", content))


# --- run records --------------------------------------------------------------------------------------------------

METRIC_NAMES = st.sampled_from(["AP", "AP50", "APm", "PCKh", "Head", "median_ms", "mean_ms", "p90_ms", "std_ms",
                                 "iqr_ms", "throughput", "peak_rss_mb", "params", "flops", "size_mb", "other"])
OPTIONS = record_of({}, {
    "model": st.sampled_from(["tinypose_128x96", "hrnet_w32_256x192", "hrnet_w32_256x256_mpii",
                              "higherhrnet_hrnet_w32_512", "nosuch"]),
    "backend": st.sampled_from(["onnxruntime", "paddle-inference", "paddle-trt", "tensorrt", "x"]),
    "device": st.sampled_from(["cpu", "gpu", "arm"]), "precision": st.sampled_from(["fp32", "fp16", "int8"]),
    "batch": st.integers(-1, 64), "threads": st.integers(-1, 8), "scope": st.sampled_from(["model", "pipeline"]),
    "bbox": st.sampled_from(["gt", "detector"]), "flip": st.booleans(), "input_size": numbers(2),
    "weights": st.one_of(st.sampled_from(["random", "zoo"]), record_of({}, {"random": st.booleans(), "seed": ID,
                                                                           "sha256": st.text(max_size=12)})),
    "evaluator": st.sampled_from(["coco_keypoints", "mpii_pckh"]), "dataset": st.sampled_from(["coco", "mpii"]),
    "limit": st.integers(-1, 10), "spec": WILD, "tensorrt": st.booleans()})
RECORD = record_of({"schema": st.sampled_from(["kbench.record/1", "kbench.record/1", "kbench.record/9", "x"]),
                    "kind": st.sampled_from(["eval", "latency", "profile", "export", "conformance"]),
                    "metrics": st.dictionaries(METRIC_NAMES, usually(NUMBER), max_size=4)},
                   {"options": OPTIONS,
                    "inputs": st.dictionaries(st.sampled_from(["sample", "ann", "gt"]), WILD, max_size=2),
                    "env": st.dictionaries(st.sampled_from(["hostname", "cpu", "gpu", "platform"]), WILD,
                                           max_size=3),
                    "created": st.one_of(st.sampled_from(["2026-11-01T10:00:00+00:00", "yesterday", ""]), WILD),
                    "command": WILD})


def read_records_and_frame(path):
    """What ``kbench results``/``gate``/``report`` do first with the files: read them, tabulate them, pair them
    (the gate) and label them (the report's README tables): a record the reader accepts must not break those."""
    from kbench.reports.runs import runs_from_records
    from kbench.reports.tables import readme_tables
    from kbench.results.gate import compare

    records = load_records(path)
    records_frame(records)
    compare(records, records)
    readme_tables(runs_from_records(records))
    return records


@FUZZ
@given(content=st.one_of(FILE_TEXT, RECORD))
def test_record_file(folder, content):
    accepts_or_refuses(read_records_and_frame, put(folder, "record.json", content))


@FUZZ
@given(contents=st.lists(st.one_of(FILE_TEXT, RECORD), min_size=1, max_size=3))
def test_record_folder(folder, contents):
    store = folder / "store"
    store.mkdir(exist_ok=True)
    for old in store.iterdir():
        old.unlink()
    for i, content in enumerate(contents):
        put(store, f"r{i}.json", content)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RecordsSkippedWarning names the files a folder scan leaves out
        accepts_or_refuses(read_records_and_frame, store)


# --- model cards --------------------------------------------------------------------------------------------------

CARD_NAME = "tinypose_128x96"


@pytest.fixture(scope="module")
def card_data() -> dict:
    return yaml.safe_load((cards_dir() / f"{CARD_NAME}.yml").read_text(encoding="utf-8"))


def _paths(value, prefix=()):
    """Every key path into a card's nested mappings and lists."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield (*prefix, i)
            yield from _paths(inner, (*prefix, i))


def _mutated(data: dict, path: tuple, action: str, value):
    import copy

    out = copy.deepcopy(data)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent["unexpected_key"] = value
    else:
        parent[path[-1]] = value
    return out


YAML_VALUE = st.one_of(WILD, st.sampled_from([[], {}, [[1, 2]], [-1, 3], [0, 0], "https://example.com/x.pdparams",
                                              "http://insecure/x.pdparams", "a" * 64, -5, 10 ** 20]))


@FUZZ
@given(content=st.one_of(BYTES, TEXT, JSON.map(lambda v: yaml.safe_dump(v, allow_unicode=True))))
def test_card_garbage(folder, content):
    accepts_or_refuses(load_card, put(folder, f"{CARD_NAME}.yml", content))


@FUZZ
@given(data=st.data())
def test_card_one_field_wrong(folder, card_data, data):
    paths = list(_paths(card_data))
    path = data.draw(st.sampled_from(paths), label="field")
    action = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]), label="action")
    mutated = _mutated(card_data, path, action, data.draw(YAML_VALUE, label="value"))
    accepts_or_refuses(load_card, put(folder, f"{CARD_NAME}.yml", yaml.safe_dump(mutated, allow_unicode=True)))


def test_deeply_nested_json(folder):
    accepts_or_refuses(load_coco_keypoints, put(folder, "gt.json", "[" * 100_000))


def test_the_good_inputs_are_read(folder, card_data, coco_gt):
    """The plausible strategies start from inputs the readers accept, so refusals above are about the changes."""
    assert load_card(put(folder, f"{CARD_NAME}.yml", yaml.safe_dump(card_data))).name == CARD_NAME
    assert len(load_coco_keypoints(put(folder, "gt.json", GOOD_GT)).image_ids) == 2
    res = [{"image_id": 1, "category_id": 1, "keypoints": [10, 10, 1.0] * 17, "score": 0.9}]
    assert len(load_keypoint_results(put(folder, "res.json", res), coco_gt)) == 1
    entry = {"joints": [[10, 10]] * 16, "joints_vis": [1] * 16, "headbox": [0, 0, 20, 20]}
    assert len(load_mpii_gt(put(folder, "mpii_val.json", [entry]))) == 1
    assert load_mpii_predictions(put(folder, "preds.npy", npy_bytes(np.zeros((1, 16, 2))))).shape == (1, 16, 2)
    boxes = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}]
    assert len(load_detector_boxes(put(folder, "bbox.json", boxes))) == 1
