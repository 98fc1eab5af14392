"""Specs (kbench.specs): validation with the commands' one-line errors, the options round trip, stable cell ids.

These build specs only (no runtime is loaded): they run in well under a second each.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from kbench.errors import InputError
from kbench.specs import (
    SPEC_KINDS,
    ConformanceSpec,
    EvalSpec,
    ExportSpec,
    LatencySpec,
    ProfileSpec,
    spec_from_options,
)

#: One valid spec of each kind and form.
SPECS = [
    EvalSpec(predictions="res.json", ann="gt.json"),
    EvalSpec(sample=500),
    EvalSpec(model="tinypose_128x96", sample=24, weights="random"),
    EvalSpec(model="hrnet_w32_256x192", data_root="dataset/coco", bbox="detector", det_file="bbox.json",
             sigmas=(0.1,) * 17, flavour="xtcocotools", use_area=False),
    LatencySpec(model="tinypose_128x96", backend="onnxruntime", threads=1),
    ProfileSpec(model="hrnet_w32_256x192", input="288x384"),
    ConformanceSpec(models="tinypose_*", backends="onnxruntime,torch"),
    ExportSpec(model="tinypose_128x96", to="onnx", weights="random", batch=1),
]

#: For every field of every kind, another valid value (the cell id must change with it).
OTHER_VALUES = {
    "predictions": "other.json", "ann": "other-gt.json", "metric": "coco", "sample": 7, "model": "tinypose_256x192",
    "bbox": "gt", "det_file": "other-bbox.json", "data_root": "elsewhere", "image_dir": "imgs",
    "mpii_gt": "gt.mat", "backend": "torch", "device": "gpu", "fp16": True, "flip": False, "batch": 4,
    "threads": 3, "workers": 0, "limit": 9, "weights": "w.pdparams", "results": "r.json", "flavour": "crowdpose",
    "sigmas": (0.2,) * 17, "use_area": False, "kpt_score_thr": 0.5, "max_dets": 5, "precision": "fp16",
    "scope": "pipeline", "warmup": "10", "runs": 5, "seconds": 2.0, "yardstick": False, "input": "192x256",
    "models": "hrnet_*", "backends": "torch", "to": "paddle-inference", "fp16_io": True, "format": "pir",
    "target": "arm", "source": "torch", "opset": 13, "out": "elsewhere.onnx", "profile": True,
}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.kind}-{s.cell_id[:6]}")
def test_options_round_trip(spec):
    options = json.loads(json.dumps(spec.to_options()))  # through JSON, as a record file holds it
    assert type(spec).from_options(options) == spec
    assert type(spec).from_options({"spec": options, "other": 1}) == spec  # a record's options
    assert spec_from_options({"spec": options}) == spec
    assert options["kind"] == spec.kind and SPEC_KINDS[spec.kind] is type(spec)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.kind}-{s.cell_id[:6]}")
def test_cell_id_changes_with_every_field_but_output_locations(spec):
    changed = 0
    for f in dataclasses.fields(spec):
        value = OTHER_VALUES[f.name]
        if value == getattr(spec, f.name):
            continue
        try:
            other = dataclasses.replace(spec, **{f.name: value})
        except InputError:  # an invalid combination for this spec (e.g. fp16 on the CPU): try the pair
            continue
        changed += 1
        if f.name in type(spec).output_fields:
            assert other.cell_id == spec.cell_id, f.name
        else:
            assert other.cell_id != spec.cell_id, f.name
    assert changed >= 3


def test_cell_id_is_stable_across_processes():
    code = ("from kbench.specs import *; import json; print(json.dumps([s.cell_id for s in ["
            "EvalSpec(predictions='res.json', ann='gt.json'), LatencySpec(model='tinypose_128x96', threads=1), "
            "ExportSpec(model='tinypose_128x96', batch='1')]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    here = [EvalSpec(predictions="res.json", ann="gt.json").cell_id,
            LatencySpec(model="tinypose_128x96", threads=1).cell_id,
            ExportSpec(model="tinypose_128x96", batch=1).cell_id]  # "1" and 1 are one measurement
    assert json.loads(out.stdout) == here
    assert all(len(c) == 16 and int(c, 16) >= 0 for c in here)


def test_a_record_of_another_kind_is_refused():
    with pytest.raises(InputError, match="kind 'latency'"):
        EvalSpec.from_options({"spec": LatencySpec(model="tinypose_128x96").to_options()})
    with pytest.raises(InputError, match="unknown field 'frobnicate'"):
        EvalSpec.from_options({"kind": "eval", "sample": 5, "frobnicate": 1})
    with pytest.raises(InputError, match="no spec"):
        EvalSpec.from_options({"model": "x"} | {"spec": None})


#: (spec kind, fields, kbench argv) that must fail with the same one-line message.
INVALID = [
    (EvalSpec, {}, ["eval"]),
    (EvalSpec, {"sample": 5, "ann": "gt.json"}, ["eval", "--sample", "5", "--ann", "gt.json"]),
    (EvalSpec, {"model": "no_such_model", "sample": 24}, ["eval", "--model", "no_such_model", "--sample"]),
    (EvalSpec, {"model": "tinypose_128x96"}, ["eval", "--model", "tinypose_128x96"]),
    (EvalSpec, {"model": "tinypose_128x96", "sample": 24, "fp16": True},
     ["eval", "--model", "tinypose_128x96", "--sample", "--fp16"]),
    (EvalSpec, {"model": "higherhrnet_hrnet_w32_512", "sample": 24, "bbox": "gt"},
     ["eval", "--model", "higherhrnet_hrnet_w32_512", "--sample", "--bbox", "gt"]),
    (EvalSpec, {"model": "tinypose_128x96", "sample": 24, "bbox": "gt", "det_file": "x.json"},
     ["eval", "--model", "tinypose_128x96", "--sample", "--bbox", "gt", "--det-file", "x.json"]),
    (EvalSpec, {"model": "tinypose_128x96", "sample": 24, "predictions": "x.json"},
     ["eval", "--model", "tinypose_128x96", "--sample", "--predictions", "x.json"]),
    (EvalSpec, {"predictions": "p.json", "ann": "a.json", "sigmas": "0.1,abc"},
     ["eval", "-p", "p.json", "-a", "a.json", "--sigmas", "0.1,abc"]),
    (EvalSpec, {"model": "tinypose_128x96", "sample": 24, "workers": -1},
     ["eval", "--model", "tinypose_128x96", "--sample", "--workers", "-1"]),
    (ProfileSpec, {"model": "tinypose_128x96", "input": "12x34"}, ["profile", "--model", "tinypose_128x96",
                                                                    "--input", "12x34"]),
    (ExportSpec, {"model": "tinypose_128x96", "to": "paddle-inference", "fp16": True},
     ["export", "--model", "tinypose_128x96", "--to", "paddle-inference", "--fp16"]),
    (ExportSpec, {"model": "tinypose_128x96", "to": "lite", "fp16": True},
     ["export", "--model", "tinypose_128x96", "--to", "lite", "--fp16"]),
    (ExportSpec, {"model": "tinypose_128x96", "batch": "zero"}, ["export", "--model", "tinypose_128x96",
                                                                 "--to", "onnx", "--batch", "zero"]),
    (ConformanceSpec, {"backends": "onnxruntime,frob"}, ["conformance", "--backends", "onnxruntime,frob"]),
    (ConformanceSpec, {"models": "nothing_like_this_*"}, ["conformance", "--models", "nothing_like_this_*"]),
    (LatencySpec, {"model": "no_such_model"}, ["latency", "--models", "no_such_model", "--backend", "onnxruntime"]),
    (LatencySpec, {"model": "tinypose_128x96", "backend": "frob"},
     ["latency", "--models", "tinypose_128x96", "--backend", "frob"]),
    (LatencySpec, {"model": "tinypose_128x96", "backend": "lite", "threads": 1, "profile": True},
     ["latency", "--models", "tinypose_128x96", "--backend", "lite", "--threads", "1", "--profile"]),
]


@pytest.mark.parametrize("cls, kwargs, argv", INVALID, ids=lambda v: getattr(v, "__name__", None))
def test_invalid_spec_raises_the_commands_line(cls, kwargs, argv, tmp_path, capsys):
    from kbench.cli import main

    with pytest.raises(InputError) as err:
        cls(**kwargs)
    message = str(err.value)
    assert "\n" not in message
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(argv) == 2
    finally:
        os.chdir(cwd)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"kbench: error: {message}"]
    assert not list(tmp_path.iterdir()), "a refused spec writes nothing"


def test_field_types_are_checked():
    for bad in ({"sample": 0}, {"sample": "5"}, {"batch": 0, "sample": 5}, {"sample": 5, "max_dets": 0},
                {"sample": 5, "flavour": "x"}, {"sample": 5, "flip": "yes"}, {"sample": 5, "threads": 1.5}):
        with pytest.raises(InputError):
            EvalSpec(**bad)
    with pytest.raises(InputError, match="--runs and --seconds"):
        LatencySpec(model="tinypose_128x96", runs=3, seconds=1.0)
    with pytest.raises(InputError, match="warm-up"):
        LatencySpec(model="tinypose_128x96", warmup="soon")
    with pytest.raises(InputError, match="GPU measurement"):
        LatencySpec(model="tinypose_128x96", device="gpu", threads=2)
