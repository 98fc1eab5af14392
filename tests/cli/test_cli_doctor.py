"""``kbench doctor`` reports every runtime with a reason when unusable; imports no framework to do it."""

from __future__ import annotations

import json
import subprocess
import sys

from kbench.adapters.base import RUNTIMES


def test_doctor_lists_every_runtime_with_reasons():
    out = subprocess.run([sys.executable, "-m", "kbench", "doctor", "--json"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    names = [r["runtime"] for r in report["runtimes"]]
    assert names == list(RUNTIMES)
    for row in report["runtimes"]:
        assert row["usable"] or row["why"], row
    assert "devices" in report["gpu"] and "devices" in report["arm"]


def test_runtime_status_imports_nothing():
    code = ("import sys; from kbench.adapters.base import RUNTIMES, runtime_status; "
            "[runtime_status(n) for n in RUNTIMES]; "
            "print([m for m in ('paddle', 'torch', 'onnxruntime', 'tensorrt') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]"
