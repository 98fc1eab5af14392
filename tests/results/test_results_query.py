"""``kbench.results.query``: the filter language over the records frame."""

from __future__ import annotations

import pytest
from results_factory import COCO, latency, record

from kbench.errors import InputError
from kbench.results.frame import records_frame
from kbench.results.query import apply_filters, parse_filter


@pytest.fixture(scope="module")
def df():
    return records_frame([
        record(model="tinypose_128x96", backend="paddle", flip=True, created="2026-11-01T00:00:00+00:00"),
        record(metrics={**COCO, "AP": 0.4}, model="lite_hrnet_18_256x192_coco", backend="onnxruntime", flip=False,
               created="2026-11-05T00:00:00+00:00"),
        latency(10.0, backend="onnxruntime", batch=1),
        latency(3.0, backend="tensorrt", batch=8, device="gpu"),
        record(created="2026-11-10T00:00:00+00:00"),                       # eval --predictions: no model
    ])


def _models(frame):
    return [m if isinstance(m, str) else None for m in frame["model"]]


@pytest.mark.parametrize("expr, expected", [
    ("model=tinypose_*", ["tinypose_128x96", "tinypose_128x96", "tinypose_128x96"]),
    ("model=TINYPOSE_128X96", ["tinypose_128x96", "tinypose_128x96", "tinypose_128x96"]),
    ("backend=onnxruntime", ["lite_hrnet_18_256x192_coco", "tinypose_128x96"]),
    ("backend=onnxruntime,tensorrt", ["lite_hrnet_18_256x192_coco", "tinypose_128x96", "tinypose_128x96"]),
    ("backend!=onnxruntime", ["tinypose_128x96", "tinypose_128x96", None]),
    ("model=none", [None]),
    ("m.AP>0.5", ["tinypose_128x96", None]),
    ("AP<=0.4", ["lite_hrnet_18_256x192_coco"]),
    ("batch=8", ["tinypose_128x96"]),
    ("batch>=1", ["tinypose_128x96", "tinypose_128x96"]),
    ("flip=true", ["tinypose_128x96"]),
    ("flip=false", ["lite_hrnet_18_256x192_coco"]),
    ("created>=2026-11-05", ["lite_hrnet_18_256x192_coco", None]),
    ("m.PCKh>1", []),                                                       # a metric no record has
    ("machine=ci-a-*", ["tinypose_128x96", "lite_hrnet_18_256x192_coco", "tinypose_128x96", "tinypose_128x96", None]),
])
def test_filters(df, expr, expected):
    assert _models(apply_filters(df, [expr])) == expected


def test_filters_combine_with_and(df):
    assert _models(apply_filters(df, ["kind=latency", "device=gpu"])) == ["tinypose_128x96"]
    assert len(apply_filters(df, [])) == len(df)


@pytest.mark.parametrize("expr, message", [
    ("model", "expected COLUMN=VALUE"),
    ("colour=red", "unknown column 'colour'"),
    ("m.AP>high", "holds numbers"),
    ("model>3", "holds text"),
    ("created>yesterday", "not a date"),
])
def test_bad_filters_are_input_errors(df, expr, message):
    with pytest.raises(InputError, match=message):
        apply_filters(df, [expr])


def test_parse_filter():
    flt = parse_filter(" m.PCKh@0.1 >= 30 ")
    assert (flt.column, flt.op, flt.value) == ("m.PCKh@0.1", ">=", "30") and str(flt) == "m.PCKh@0.1>=30"
    assert parse_filter("model==x").op == "="
