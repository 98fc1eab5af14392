"""`kbench benchmark`: one model on every runtime, a row per runtime x precision, one record per row.

The rows are real runs (ONNX Runtime and Paddle Inference on PP-TinyPose with random weights, 2 generated images);
an export failure is provoked by making the ONNX export raise, as paddle2onnx does on an unsupported operator.
Tolerance of the difference column: the conformance bound, 1e-4 relative to the largest reference output.
"""

from __future__ import annotations

import json

import pytest

from kbench.cli import main

MODEL = "tinypose_128x96"
ARGS = ["benchmark", "--model", MODEL, "--backends", "paddle,onnxruntime,paddle-inference", "--precisions",
        "fp32,fp16", "--seconds", "0.2", "--sample", "2"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    capture = pytest.MonkeyPatch()
    import io
    import sys

    buf = io.StringIO()
    capture.setattr(sys, "stdout", buf)
    try:
        code = main([*ARGS, "--record", str(out / "rows")])
    finally:
        capture.undo()
    return code, buf.getvalue(), out / "rows"


def test_a_row_per_runtime_and_precision(table):
    code, text, _ = table
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].startswith(f"kbench benchmark: {MODEL} (weights: random")
    rows = [line.split() for line in lines[2:8]]
    assert [(r[0], r[1]) for r in rows] == [("paddle", "fp32"), ("paddle", "fp16"), ("onnxruntime", "fp32"),
                                            ("onnxruntime", "fp16"), ("paddle-inference", "fp32"),
                                            ("paddle-inference", "fp16")]
    ok = {(r[0], r[1]): r for r in rows if r[2] == "ok"}
    assert set(ok) == {("paddle", "fp32"), ("onnxruntime", "fp32"), ("paddle-inference", "fp32")}
    assert all(r[2] == "unavailable" for r in rows if r[1] == "fp16")  # no FP16 on this CPU: said, not run
    for r in ok.values():
        assert float(r[4]) <= 1e-4 and r[5] == "17/17" and float(r[6]) > 0 and r[8] == "1"
        assert r[9] == "AP"  # accuracy column: AP on the sample
    assert ok[("paddle", "fp32")][3] == "-" and float(ok[("onnxruntime", "fp32")][3]) > 1  # .onnx of ~5 MB
    assert "README 1.36 M ok" in text and "README 0.08 GFLOPs ok" in text
    assert "onnxruntime fp16: runs fp16 on the GPU only" in text


def test_one_record_per_row(table):
    _, _, folder = table
    files = sorted(folder.glob("*.json"))
    assert len(files) == 6
    first = json.loads(files[2].read_text())
    assert first["kind"] == "benchmark" and first["options"]["row"]["backend"] == "onnxruntime"
    assert first["options"]["spec"]["backends"] == "onnxruntime" and first["options"]["spec"]["precisions"] == "fp32"
    assert first["metrics"]["median_ms"] > 0 and first["metrics"]["artifact_mb"] > 1
    assert "accuracy" in first["metrics"]
    unavailable = json.loads(files[3].read_text())
    assert unavailable["options"]["row"]["status"] == "unavailable" and "median_ms" not in unavailable["metrics"]


def test_an_export_failure_is_a_row_and_exit_1(monkeypatch, capsys):
    from kbench.adapters import onnxruntime as ort_adapter
    from kbench.errors import InputError

    def failing_load(self, *args, **kwargs):
        raise InputError("paddle2onnx could not convert operator 'fancy_op'")

    monkeypatch.setattr(ort_adapter.OnnxRuntimeAdapter, "load", failing_load)
    code = main(["benchmark", "--model", MODEL, "--backends", "onnxruntime", "--seconds", "0.2", "--sample", "1",
                 "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 1
    assert rows == [dict(rows[0], status="export failed", reason="paddle2onnx could not convert operator 'fancy_op'")]


@pytest.mark.parametrize("args, says", [
    (["--backends", "onnx"], "unknown runtime 'onnx'"),
    (["--precisions", "int8"], "--precisions"),
    (["--device", "gpu", "--threads", "4"], "--threads"),
])
def test_bad_input_is_one_line(args, says, capsys):
    assert main(["benchmark", "--model", MODEL, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err


def test_record_must_be_a_folder(tmp_path, capsys):
    target = tmp_path / "file.json"
    target.write_text("{}")
    assert main(["benchmark", "--model", MODEL, "--record", str(target)]) == 2
    assert "is not a directory" in capsys.readouterr().err
