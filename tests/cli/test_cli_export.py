"""``kbench export`` to each target: artifact and manifest written, refusals in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")


def kbench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kbench", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_paddle_inference_export_with_manifest(tmp_path):
    out = kbench("export", "--model", "tinypose_128x96", "--to", "paddle-inference", "--weights", "random",
                 "--out", tmp_path / "pi")
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "pi" / "manifest.json").read_text())
    assert manifest["format"] == "legacy" and manifest["weights"]["random"] is True
    assert (tmp_path / "pi" / "model.pdmodel").is_file() and (tmp_path / "pi" / "model.pdiparams").is_file()


def test_onnx_export_fp16_keeps_float32_io(tmp_path):
    import onnx

    out = kbench("export", "--model", "tinypose_128x96", "--to", "onnx", "--weights", "random", "--fp16",
                 "--batch", "1", "--out", tmp_path / "m.onnx")
    assert out.returncode == 0, out.stderr
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    manifest = json.loads((tmp_path / "m.manifest.json").read_text())
    assert manifest["fp16"] is True


def test_lite_export(tmp_path):
    out = kbench("export", "--model", "tinypose_128x96", "--to", "lite", "--weights", "random", "--batch", "1",
                 "--out", tmp_path / "lite")
    assert out.returncode == 0, out.stderr
    assert list((tmp_path / "lite").glob("*.nb"))


@pytest.mark.parametrize("args, message", [
    (["--to", "paddle-inference", "--fp16"], "chooses FP16 when it runs"),
    (["--to", "lite", "--fp16"], "ARM feature"),
    (["--to", "tensorrt"], ""),
    (["--to", "onnx", "--batch", "0"], "at least 1"),
])
def test_refusals_are_one_line(tmp_path, args, message):
    out = kbench("export", "--model", "tinypose_128x96", "--weights", "random", *args, "--out", tmp_path / "x",
                 cwd=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kbench: error:") and message in lines[0], out.stderr
