"""The conformance matrix on CPU: every zoo model through Paddle Inference, ONNX Runtime, Paddle Lite x86 and torch.

Each cell runs the model with the same seeded random weights on the same seeded input as Paddle dygraph
FP32 and must stay within 1e-4 relative difference, with every heatmap argmax agreeing (ties within
the measured error aside): the tolerance the issue sets, see kbench.conformance for why it is enough.
These runtimes are test dependencies (``make test`` installs them), so an unavailable one fails here
rather than skipping.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")

from kbench.adapters.base import get_adapter, runtime_status  # noqa: E402
from kbench.cards import list_cards  # noqa: E402
from kbench.conformance import TOLERANCE, Cell, compare_outputs, format_matrix, reference_input, run_cell  # noqa: E402

CPU_RUNTIMES = ("paddle-inference", "onnxruntime", "lite", "torch")
_REFERENCES: dict = {}


def _reference(card):
    if card.name not in _REFERENCES:
        with get_adapter("paddle") as a:
            a.load(card, weights="random")
            _REFERENCES[card.name] = a.run(reference_input(card))
    return _REFERENCES[card.name]


@pytest.mark.slow
@pytest.mark.parametrize("runtime", CPU_RUNTIMES)
@pytest.mark.parametrize("card", list_cards(), ids=lambda c: c.name)
def test_cell_within_tolerance(card, runtime):
    ok, why = runtime_status(runtime)
    assert ok, f"{runtime} should be installed for the tests: {why}"
    cell = run_cell(card, runtime, reference=_reference(card))
    print(f"\n{card.name} / {runtime}: max rel {cell.max_rel:.2e}, argmax {cell.argmax_agree}+{cell.argmax_ties} "
          f"ties of {cell.joints}")
    assert cell.status == "pass", cell
    assert cell.max_rel <= TOLERANCE["fp32"]


def test_compare_counts_ties_within_noise():
    import numpy as np

    from kbench.adapters.base import ModelOutputs

    ref = np.zeros((1, 2, 4, 4), np.float32)
    ref[0, 0, 1, 1], ref[0, 0, 2, 2] = 1.0, 1.0 - 1e-7  # joint 0: two near-equal peaks
    ref[0, 1, 3, 3] = 1.0
    got = ref.copy()
    got[0, 0, 2, 2] = 1.0 + 1e-7  # the runtime's noise flips joint 0's argmax
    diff = compare_outputs(ModelOutputs(ref), ModelOutputs(got))
    assert diff["argmax_agree"] == 1 and diff["argmax_ties"] == 1 and diff["joints"] == 2
    got[0, 1, 0, 0] = 5.0  # a large error moves joint 1's peak: a "tie" only because the error is large...
    diff = compare_outputs(ModelOutputs(ref), ModelOutputs(got))
    assert diff["argmax_agree"] == 0 and diff["argmax_ties"] == 2
    assert diff["max_rel"] > TOLERANCE["fp32"]  # ...which the relative tolerance fails


def test_matrix_layout():
    cells = [Cell("m1", "onnxruntime", "fp32", "pass", 1e-6, 2e-7, 17, 0, 17),
             Cell("m1", "tensorrt", "fp32", "unavailable", detail="tensorrt is not installed")]
    text = format_matrix(cells)
    assert "m1" in text and "2.0e-07 17/17 ok" in text and "tensorrt is not installed" in text


def test_command_prints_matrix_and_json():
    out = subprocess.run([sys.executable, "-m", "kbench", "conformance", "--models", "tinypose_128x96", "--backends",
                          "paddle-inference", "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    cells = json.loads(out.stdout)
    assert cells[0]["model"] == "tinypose_128x96" and cells[0]["status"] == "pass"


def test_unknown_runtime_exits_2():
    out = subprocess.run([sys.executable, "-m", "kbench", "conformance", "--backends", "tflite"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "unknown runtime 'tflite'" in out.stderr
