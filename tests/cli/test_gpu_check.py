"""`make gpu-check` on a machine without a GPU: one line, a non-zero exit, in seconds, nothing installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env_without_nvidia_smi(tmp_path: Path, fake: str | None = None) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "timeout", "grep", "head", "dirname", "date", "make", "env", "sh"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    if fake is not None:
        exe = bin_dir / "nvidia-smi"
        exe.write_text(fake)
        exe.chmod(0o755)
    return dict(os.environ, PATH=str(bin_dir), KBENCH_GPU_VENV=str(tmp_path / "venv-gpu"))


@pytest.mark.parametrize("fake, says", [
    (None, "no NVIDIA GPU here (nvidia-smi not found)"),
    ("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\nexit 9\n",
     "nvidia-smi lists no usable GPU (NVIDIA-SMI has failed"),
    ("#!/bin/sh\necho 'No devices were found'\n", "nvidia-smi lists no usable GPU (No devices were found)"),
])
def test_no_gpu_is_one_line_and_exit_3_before_installing(tmp_path, fake, says):
    env = _env_without_nvidia_smi(tmp_path, fake)
    t0 = time.monotonic()
    out = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], env=env, capture_output=True, text=True,
                         timeout=60)
    assert time.monotonic() - t0 < 30  # before any installation: seconds
    assert out.returncode == 3 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu-check: ") and says in lines[0]
    assert not (tmp_path / "venv-gpu").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_make_target_runs_the_check(tmp_path):
    env = _env_without_nvidia_smi(tmp_path)
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "gpu-check"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0
    assert "gpu-check: no NVIDIA GPU here" in out.stderr.splitlines()[0]
    assert not (tmp_path / "venv-gpu").exists()
