"""Long-running commands killed with SIGKILL at seeded random moments, then run again: the rerun succeeds, and
at no moment does a later reader find a half-written file (every visible JSON file parses; a site is whole or
absent; temporary files are hidden, and the store and readers skip hidden names).

Export has its own kill test (tests/export/test_crash_safety.py); the sweep's Ctrl-C test is in tests/sweeps.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gate" / "baseline"


def _commands(out: Path) -> dict:
    return {
        "eval": ["eval", "--model", "tinypose_128x96", "--sample", "8", "--weights", "random", "--workers", "1",
                 "--record", str(out / "eval.json"), "--results", str(out / "keypoints.json")],
        "latency": ["latency", "--models", "tinypose_128x96", "--backend", "onnxruntime", "--threads", "1,2",
                    "--seconds", "1", "--warmup", "1", "--no-yardstick", "--record", str(out) + os.sep],
        "sweep": ["sweep", "--kind", "profile,latency", "--models", "tinypose_*", "--backend", "onnxruntime",
                  "--threads", "1", "--runs", "5", "--warmup", "1", "--store", str(out)],
        "leaderboard": ["leaderboard", "build", "--records", str(FIXTURES), "--out", str(out / "site")],
    }


def _check_nothing_half_written(out: Path, name: str) -> None:
    for path in out.rglob("*.json"):
        if any(part.startswith(".") for part in path.relative_to(out).parts):
            continue  # a temporary file or folder: hidden, read by nobody
        json.loads(path.read_text())  # raises on a half-written file
    site = out / "site"
    if name == "leaderboard" and site.exists():
        assert (site / "index.html").is_file() and json.loads((site / "data.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["eval", "latency", "sweep", "leaderboard"])
def test_killed_then_rerun(tmp_path, name):
    out = tmp_path / "out"
    out.mkdir()
    argv = [sys.executable, "-m", "kbench", *_commands(out)[name]]
    rng = random.Random(f"kill-{name}")
    for _ in range(2):
        proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(0.5, 4.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the command and its workers
        proc.wait()
        _check_nothing_half_written(out, name)
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    _check_nothing_half_written(out, name)
    assert not (tmp_path / "kbench-runs").exists()  # everything went where the command was told
