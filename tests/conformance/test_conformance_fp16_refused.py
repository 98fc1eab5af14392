"""FP16 conformance on the CPU is refused, not passed: no CPU runtime here computes FP16, so an "fp16" cell would be
an FP32 run under the fp16 label (issue: `kbench conformance --backends paddle-inference --fp16` reported a pass)."""

from __future__ import annotations

import pytest

from kbench.cli import main
from kbench.errors import InputError
from kbench.specs import ConformanceSpec


def test_the_command_refuses_fp16_on_the_cpu_in_one_line(tmp_path, capsys):
    assert main(["conformance", "--models", "tinypose_128x96", "--backends", "paddle-inference", "--fp16",
                 "--record", str(tmp_path / "rec.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no selected runtime computes FP16" in err
    assert "paddle-inference runs fp16 on the GPU only" in err
    assert not (tmp_path / "rec.json").exists()


def test_the_spec_refuses_it_too():
    with pytest.raises(InputError, match="conformance runs on the CPU"):
        ConformanceSpec(models="tinypose_128x96", backends="onnxruntime,torch", fp16=True)


def test_a_cell_that_would_run_fp32_under_an_fp16_label_is_unavailable():
    from kbench.cards import get_card
    from kbench.conformance import run_cell

    cell = run_cell(get_card("tinypose_128x96"), "onnxruntime", precision="fp16")
    assert cell.status == "unavailable" and "fp16 on cpu" in cell.detail


def test_gpu_conformance_spec_and_refusals():
    """--device gpu: GPU routes by default, CPU-only routes and --threads refused in one line."""
    from kbench.conformance import DEFAULT_GPU_RUNTIMES, select_runtimes

    assert select_runtimes(None, "gpu") == list(DEFAULT_GPU_RUNTIMES)
    assert "paddle-trt" in DEFAULT_GPU_RUNTIMES and "tensorrt" in DEFAULT_GPU_RUNTIMES
    spec = ConformanceSpec(models="tinypose_128x96", device="gpu", fp16=True)
    assert spec.to_options()["device"] == "gpu"
    with pytest.raises(InputError, match="lite does not run on gpu"):
        ConformanceSpec(models="tinypose_128x96", backends="lite", device="gpu")
    with pytest.raises(InputError, match="--threads"):
        ConformanceSpec(models="tinypose_128x96", device="gpu", threads=2)
    with pytest.raises(InputError, match="--device"):
        ConformanceSpec(models="tinypose_128x96", device="tpu")
    with pytest.raises(InputError, match="unknown runtime 'onnx'"):
        ConformanceSpec(models="tinypose_128x96", backends="onnx", device="gpu")


def test_gpu_cell_without_a_gpu_is_a_one_line_cell_not_a_crash():
    """Here (no CUDA): the GPU route's own refusal becomes the cell's detail; no CPU run stands in for it."""
    from kbench.cards import get_card
    from kbench.conformance import conformance_matrix

    cells = conformance_matrix([get_card("tinypose_128x96")], ["onnxruntime", "torch", "paddle-trt"], device="gpu")
    assert [c.status for c in cells] == ["error", "error", "error"]
    assert "onnxruntime-gpu" in cells[0].detail and "CUDA" in cells[1].detail and "CUDA" in cells[2].detail
    for c in cells:
        assert c.max_rel is None and "\n" not in c.detail
