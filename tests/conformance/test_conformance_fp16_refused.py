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
