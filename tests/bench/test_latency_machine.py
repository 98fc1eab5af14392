"""Machine fingerprint and memory helpers (:mod:`kbench.bench.machine`), and the GPU fields of a record's env.

GPU queries are checked on ``nvidia-smi``'s documented CSV output (no GPU on the test machines); on a machine
with ``nvidia-smi`` the live query is checked too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from kbench.bench import machine


def test_parse_gpu_query_rows():
    text = "NVIDIA H200, 550.54.15, 143771\nNVIDIA T4, 535.104.05, 15360\n\n"
    assert machine.parse_gpu_query(text) == [
        {"name": "NVIDIA H200", "driver": "550.54.15", "memory_mb": 143771},
        {"name": "NVIDIA T4", "driver": "535.104.05", "memory_mb": 15360},
    ]
    assert machine.parse_gpu_query("NVIDIA T4, 535.104.05, [N/A]") == [{"name": "NVIDIA T4", "driver": "535.104.05"}]
    assert machine.parse_gpu_query("") == []


def test_parse_compute_apps_sums_this_process_over_gpus():
    text = "1234, 500\n999, 7000\n1234, 250\n"
    assert machine.parse_compute_apps(text, 1234) == 750.0
    assert machine.parse_compute_apps(text, 42) is None
    assert machine.parse_compute_apps("No running processes found", 1234) is None


def test_gpu_info_without_nvidia_smi_says_why():
    if shutil.which("nvidia-smi") is not None:
        gpus, why = machine.gpu_info()
        assert gpus and not why or not gpus and why
        pytest.skip("nvidia-smi is present: the no-GPU path cannot be observed here")
    gpus, why = machine.gpu_info()
    assert gpus == () and "nvidia-smi not found" in why
    assert machine.gpu_available() == (False, why)
    assert machine.device_memory_mb() is None


def test_cpu_info_fingerprint():
    info = machine.cpu_info()
    assert info["model"] and info["logical_cores"] >= 1 and info["usable_cores"] >= 1
    assert info["physical_cores"] is None or 1 <= info["physical_cores"] <= info["logical_cores"]
    assert isinstance(info["isa"], list)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the resettable high-water mark is Linux's")
def test_peak_rss_sees_an_allocation_and_resets():
    if not machine.reset_peak_rss():
        pytest.skip("this kernel refuses to reset the RSS high-water mark (/proc/self/clear_refs)")
    base = machine.peak_rss_bytes()
    # 200 MiB of fresh anonymous pages, touched: an allocator (numpy's, or one a framework imported earlier in the
    # session installed) may hand out pages it already holds resident, which would not raise the mark
    import mmap

    block = mmap.mmap(-1, 200 * 2**20)
    np.frombuffer(block, dtype=np.uint8)[::4096] = 1
    peak = machine.peak_rss_bytes()
    block.close()
    assert peak - base >= 150 * 2**20  # 50 MiB of slack for pages the kernel had already counted
    assert machine.reset_peak_rss()
    assert machine.peak_rss_bytes() < peak - 100 * 2**20  # the block is gone and the mark follows it down
    assert machine.current_rss_bytes() > 0


def test_matmul_rate_is_a_positive_rate():
    pytest.importorskip("threadpoolctl")
    rate = machine.matmul_rate(1, n=256, seconds=0.05)
    assert rate is not None and rate > 0


def test_record_env_has_machine_fields_and_imports_no_framework():
    code = ("import sys, json; from kbench.bench.records import environment; env = environment(); "
            "print(json.dumps([env, [m for m in ('paddle', 'torch', 'onnxruntime', 'tensorrt', 'cv2') "
            "if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    env, frameworks = json.loads(out.stdout)
    assert frameworks == []
    for key in ("hostname", "platform", "python", "cpu", "cpu_count", "libraries", "git_commit"):
        assert key in env  # the layout every record has, unchanged
    assert isinstance(env["gpus"], list) and "cpu_physical_cores" in env and isinstance(env["cpu_isa"], list)
    if shutil.which("nvidia-smi") is None:
        assert env["gpus"] == []


def test_device_used_memory_from_a_stand_in_nvidia_smi(tmp_path, monkeypatch):
    """The device-wide fallback reads `nvidia-smi --query-gpu=memory.used` (a script answering as the driver's
    tool does) and sums the GPUs; a failing nvidia-smi gives None."""
    exe = tmp_path / "nvidia-smi"
    exe.write_text("#!/bin/sh\ncase \"$*\" in *memory.used*) printf '1024\\n 512\\n';; *) exit 9;; esac\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert machine.device_used_mb() == 1536.0
    exe.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert machine.device_used_mb() is None
