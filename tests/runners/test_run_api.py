"""``kbench.run(spec)`` against the commands: for each kind, the record from the Python API equals the one the
command writes on the same inputs (options and metrics; timings aside), and the spec comes back from the record.

One small model (PP-TinyPose 128x96, seeded random weights) on ONNX Runtime keeps the module to about a minute.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

import kbench
from kbench.cli import main
from kbench.errors import InputError
from kbench.specs import ConformanceSpec, EvalSpec, ExportSpec, LatencySpec, ProfileSpec

#: Options that hold what a clock or a place says, not what was measured.
TIMING_OPTIONS = {"stages_s", "samples_ms", "warmup_runs", "artifact"}


@pytest.fixture()
def in_tmp(tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(cwd)


def _command_record(argv, path):
    assert main([*argv, "--record", str(path)]) == 0
    return json.loads(path.read_text())


def _same(api: dict, cli: dict, timing_metrics: bool = False) -> None:
    def clean(options):
        return {k: v for k, v in options.items() if k not in TIMING_OPTIONS}

    assert clean(api["options"]) == clean(cli["options"])
    assert api["inputs"] == cli["inputs"]
    if timing_metrics:
        assert set(api["metrics"]) == set(cli["metrics"])
    else:
        assert api["metrics"] == cli["metrics"]
    assert api["kind"] == cli["kind"]


@pytest.fixture(scope="module")
def coco_files(tmp_path_factory):
    from kbench.datasets.synthetic import dets_to_results, gt_to_coco_dict, make_coco_like

    gt, dets = make_coco_like(num_images=30, seed=3)
    root = tmp_path_factory.mktemp("coco")
    (root / "gt.json").write_text(json.dumps(gt_to_coco_dict(gt)))
    (root / "res.json").write_text(json.dumps(dets_to_results(dets)))
    return root


def test_eval_predictions(coco_files, in_tmp):
    spec = EvalSpec(predictions=str(coco_files / "res.json"), ann=str(coco_files / "gt.json"), max_dets=10)
    record = kbench.run(spec)
    _same(record, _command_record(["eval", "-p", spec.predictions, "-a", spec.ann, "--max-dets", "10"],
                                  in_tmp / "r.json"))
    assert EvalSpec.from_options(record["options"]) == spec
    assert record["options"]["cell_id"] == spec.cell_id
    assert "Average Precision" in record.summary and not list(in_tmp.glob("kbench-runs/*"))


def test_eval_sample(in_tmp):
    spec = EvalSpec(sample=40)
    record = kbench.run(spec)
    _same(record, _command_record(["eval", "--sample", "40"], in_tmp / "r.json"))
    assert EvalSpec.from_options(record["options"]) == spec


def test_eval_model_with_progress(in_tmp):
    from kbench.progress import ProgressEvent

    events: list[ProgressEvent] = []
    results = in_tmp / "api-keypoints.json"
    spec = EvalSpec(model="tinypose_128x96", sample=4, weights="random", workers=0, batch=8, results=str(results))
    record = kbench.run(spec, progress=events.append)
    cli = _command_record(["eval", "--model", "tinypose_128x96", "--sample", "4", "--weights", "random",
                           "--workers", "0", "--batch", "8", "--no-progress", "--results", str(results)],
                          in_tmp / "r.json")
    _same(record, cli)
    assert EvalSpec.from_options(record["options"]) == spec == EvalSpec.from_options(cli["options"])
    assert events[-1].finished and events[-1].done == events[-1].total == 4 and events[-1].unit == "img"
    assert [e.done for e in events] == sorted(e.done for e in events)
    # without a results path, the rows stay with the record instead of a file
    rows = kbench.run(EvalSpec(model="tinypose_128x96", sample=4, weights="random", workers=0, batch=8))
    assert rows.outputs["results_rows"] == json.loads(results.read_text())


def test_profile(in_tmp):
    spec = ProfileSpec(model="tinypose_128x96")
    record = kbench.run(spec)
    _same(record, _command_record(["profile", "--model", "tinypose_128x96"], in_tmp / "p.json"))
    assert ProfileSpec.from_options(record["options"]) == spec


def test_latency(in_tmp):
    spec = LatencySpec(model="tinypose_128x96", backend="onnxruntime", threads=1, warmup="2", runs=5,
                       yardstick=False)
    record = kbench.run(spec)
    cli = _command_record(["latency", "--models", "tinypose_128x96", "--backend", "onnxruntime", "--threads", "1",
                           "--warmup", "2", "--runs", "5", "--no-yardstick"], in_tmp / "l.json")
    _same(record, cli, timing_metrics=True)
    assert LatencySpec.from_options(record["options"]) == spec == LatencySpec.from_options(cli["options"])
    assert len(record["options"]["samples_ms"]) == 5


def test_latency_refusal_is_one_line():
    with pytest.raises(InputError, match="onnxruntime on cpu fp16: runs fp16 on the GPU only"):
        kbench.run(LatencySpec(model="tinypose_128x96", backend="onnxruntime", precision="fp16"))


def test_conformance(in_tmp):
    spec = ConformanceSpec(models="tinypose_128x96", backends="onnxruntime")
    record = kbench.run(spec)
    _same(record, _command_record(["conformance", "--models", "tinypose_128x96", "--backends", "onnxruntime"],
                                  in_tmp / "c.json"))
    assert record["metrics"]["cells_pass"] == 1.0 and ConformanceSpec.from_options(record["options"]) == spec


def test_export(in_tmp):
    spec = ExportSpec(model="tinypose_128x96", to="onnx", weights="random", batch=1, out=str(in_tmp / "a.onnx"))
    record = kbench.run(spec)
    cli = _command_record(["export", "--model", "tinypose_128x96", "--to", "onnx", "--weights", "random",
                           "--batch", "1", "--out", str(in_tmp / "a.onnx")], in_tmp / "e.json")
    for rec in (record, cli):  # the manifest says when the artifact was written
        rec["options"]["manifest"].pop("created")
    _same(record, cli)
    assert record["options"]["manifest"]["model"] == "tinypose_128x96"  # the exporter's manifest, read back
    assert record["metrics"]["size_mb"] > 0 and record.outputs["path"] == in_tmp / "a.onnx"
    assert ExportSpec.from_options(cli["options"]) == spec
    # specs that differ only in where the artifact goes are one measurement: one cell id
    assert dataclasses.replace(spec, out="elsewhere.onnx").cell_id == spec.cell_id


def test_not_a_spec():
    with pytest.raises(InputError, match="not a kbench spec"):
        kbench.run({"kind": "eval"})


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, kbench; from kbench import EvalSpec, run; EvalSpec(predictions='p', ann='a').cell_id; "
            "print(sorted(m for m in ('paddle', 'torch', 'onnxruntime', 'ray', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_store_add_takes_a_record_and_finds_its_cell(tmp_path):
    from kbench.results.store import ResultStore

    spec = EvalSpec(sample=20)
    record = kbench.run(spec)
    store = ResultStore(tmp_path / "store")
    added = store.add(record)
    assert len(added.added) == 1 and store.add(record).present == 1  # idempotent, as for files
    found = store.find_cell(spec.cell_id)
    assert len(found) == 1 and found[0]["metrics"] == record["metrics"]
    assert EvalSpec.from_options(found[0]["options"]) == spec
    assert store.find_cell(EvalSpec(sample=21).cell_id) == []
    with pytest.raises(InputError, match="not a kbench run record"):
        store.add({"kind": "eval"})
