"""``kbench latency`` in a subprocess: the table, the records, the --record rule, and the one-line refusals.

Measurements run PP-TinyPose 128x96 (random weights) on ONNX Runtime and Paddle Inference on the CPU with short
budgets; the exports are cached for the test session (``$KBENCH_CACHE`` from conftest), so only the first run
pays for them. Refusals (no GPU, FP16 on a CPU, a bad list, a --record file for several measurements) must come
before anything is loaded: one line on stderr, exit code 2, nothing written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from kbench.adapters.base import runtime_status

TINY = "tinypose_128x96"
METRICS = ["median_ms", "mean_ms", "p90_ms", "p99_ms", "min_ms", "std_ms", "throughput"]
OPTION_KEYS = {"model", "backend", "device", "precision", "batch", "threads", "scope"}
FAST = ["--warmup", "2", "--seconds", "0.2", "--no-yardstick"]


def kbench(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "kbench", "latency", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=dict(os.environ))


def _needs(*runtimes):
    for rt in runtimes:
        ok, why = runtime_status(rt)
        if not ok:
            pytest.skip(f"{rt}: {why}")


def _one_line_error(out):
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("kbench: error:"), out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


@pytest.mark.slow
def test_table_and_one_record_per_measurement_in_a_directory(tmp_path):
    _needs("onnxruntime", "paddle-inference")
    out = kbench("--models", TINY, "--backend", "onnxruntime", "--backend", "paddle-inference", "--threads", "1",
                 "--scope", "both", "--record", str(tmp_path / "runs"), *FAST, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("model "))
    assert "onnxruntime" in lines[head - 1] and "paddle-inference" in lines[head - 1]
    assert lines[head].count("cpu fp32 1t") == 2
    table = lines[head + 1:lines.index("", head)]  # the table ends at the first blank line; the details follow
    rows = [ln for ln in table if ln.startswith(TINY)]
    assert len(rows) == 2 and "model" in rows[0] and "pipeline" in rows[1]
    assert all(ln.count(" ±") == 2 for ln in rows)  # a median and its spread in each runtime's column
    assert "published on other hardware (not comparable" in out.stdout and "NVIDIA T4:" in out.stdout
    assert "pipeline split" in out.stdout and "postprocess" in out.stdout
    assert "timed, onnxruntime model: session.run_with_iobinding" in out.stdout

    files = sorted((tmp_path / "runs").iterdir())
    assert [f.name for f in files] == sorted(
        f"latency-{TINY}-{b}-cpu-fp32-b1-t1-{s}.json" for b in ("onnxruntime", "paddle-inference")
        for s in ("model", "pipeline"))
    assert f"records: 4 files in {tmp_path / 'runs'}" in out.stdout
    for f in files:
        rec = json.loads(f.read_text())
        assert rec["schema"] == "kbench.record/1" and rec["kind"] == "latency"
        assert list(rec["metrics"])[:7] == METRICS
        assert all(isinstance(v, float) for v in rec["metrics"].values())
        assert OPTION_KEYS <= set(rec["options"])
        assert rec["options"]["threads"] == 1 and rec["options"]["batch"] == 1
        assert rec["options"]["input_size"] == [96, 128] and rec["options"]["runtime_version"]
        assert {"cpu", "cpu_count", "cpu_physical_cores", "gpus", "libraries", "platform"} <= set(rec["env"])
        assert rec["metrics"]["runs"] >= 10  # a time budget never gives fewer than 10 samples
        if rec["options"]["scope"] == "pipeline":
            assert {"preprocess_ms", "model_ms", "postprocess_ms"} <= set(rec["metrics"])
        else:
            assert rec["metrics"]["gflops_per_s"] > 0
    assert not (tmp_path / "kbench-runs").exists()


@pytest.mark.slow
def test_one_measurement_record_file_and_json(tmp_path):
    _needs("onnxruntime")
    target = tmp_path / "one.json"
    out = kbench("--models", TINY, "--backend", "onnxruntime", "--threads", "1", "--runs", "12", "--warmup", "1",
                 "--record", str(target), "--json", "--no-yardstick", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (m,) = data["measurements"]
    assert m["options"]["backend"] == "onnxruntime" and m["metrics"]["runs"] == 12.0
    assert data["skipped"] == [] and data["failed"] == []
    assert f"record: {target}" in out.stderr
    rec = json.loads(target.read_text())
    assert rec["kind"] == "latency" and len(rec["options"]["samples_ms"]) == 12
    assert rec["options"]["budget"] == {"warmup": {"runs": 1}, "measure": {"runs": 12}}
    # an existing directory receives the one record under its measurement's name
    (tmp_path / "dir").mkdir()
    out = kbench("--models", TINY, "--backend", "onnxruntime", "--threads", "1", "--runs", "10", "--warmup", "1",
                 "--record", str(tmp_path / "dir"), "--no-yardstick", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [f.name for f in (tmp_path / "dir").iterdir()] == [f"latency-{TINY}-onnxruntime-cpu-fp32-b1-t1-model.json"]


def test_record_file_for_several_measurements_is_refused_before_measuring(tmp_path):
    _needs("onnxruntime")
    out = kbench("--models", TINY, "--backend", "onnxruntime", "--threads", "1,4", "--record",
                 str(tmp_path / "runs.json"), *FAST, cwd=tmp_path, timeout=120)
    line = _one_line_error(out)
    assert "2 measurements" in line and "directory" in line
    existing = tmp_path / "existing"
    existing.write_text("x")
    out = kbench("--models", TINY, "--backend", "onnxruntime", "--threads", "1,4", "--record", str(existing), *FAST,
                 cwd=tmp_path, timeout=120)
    assert "is a file" in _one_line_error(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]


def test_device_gpu_without_gpu_is_one_line_and_exit_2(tmp_path):
    if shutil.which("nvidia-smi") is not None:
        pytest.skip("nvidia-smi is present: this machine may have a GPU")
    out = kbench("--models", TINY, "--device", "gpu", cwd=tmp_path, timeout=120)
    line = _one_line_error(out)
    assert "no GPU" in line and "--device cpu" in line
    assert not (tmp_path / "kbench-runs").exists()


def test_fp16_on_cpu_says_which_runtimes_cannot(tmp_path):
    out = kbench("--models", TINY, "--fp16", "--backend", "onnxruntime,paddle-inference,tensorrt", cwd=tmp_path,
                 timeout=120)
    line = _one_line_error(out)
    assert line.startswith("kbench: error: --fp16: none of the selected runtimes can run fp16 on cpu")
    for backend in ("onnxruntime", "paddle-inference", "tensorrt"):
        assert backend in line
    if runtime_status("onnxruntime")[0]:
        assert "onnxruntime runs fp16 on the GPU only" in line
    assert not (tmp_path / "kbench-runs").exists()


@pytest.mark.parametrize("args, message", [
    (["--batch", "1,x"], "expected whole numbers"),
    (["--batch", "0"], "expected numbers >= 1"),
    (["--threads", ""], "comma-separated list"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--warmup", "ten"], "expected warm-up runs"),
    (["--runs", "5", "--seconds", "2"], "not allowed with argument"),
])
def test_bad_options_are_usage_errors(args, message):
    out = kbench("--models", TINY, *args, timeout=60)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_unknown_model_and_backend_are_one_line(tmp_path):
    line = _one_line_error(kbench("--models", "no_such_model", cwd=tmp_path, timeout=60))
    assert "no_such_model" in line
    line = _one_line_error(kbench("--models", TINY, "--backend", "onnx", cwd=tmp_path, timeout=60))
    assert "unknown backend 'onnx'" in line


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drives the command through a Linux pseudo-terminal")
def test_progress_bar_on_a_terminal_and_ctrl_c_keeps_what_was_measured(tmp_path):
    """On a terminal the run shows a progress bar (rate and ETA); Ctrl-C during the second measurement stops
    cleanly: exit 130, the first measurement's table and record, nothing of the second."""
    import fcntl
    import pty
    import signal
    import struct
    import termios
    import threading
    import time

    _needs("onnxruntime")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))  # tqdm sizes its bar to the terminal
    runs = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-m", "kbench", "latency", "--models", TINY, "--backend", "onnxruntime",
                          "--threads", "1,2", "--warmup", "2", "--seconds", "4", "--no-yardstick", "--record",
                          str(runs)], stdout=subprocess.PIPE, stderr=slave, cwd=tmp_path, env=dict(os.environ))
    os.close(slave)
    stdout: list[bytes] = []
    reader = threading.Thread(target=lambda: stdout.append(p.stdout.read()))
    reader.start()
    err = b""
    sent = False
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            err += chunk
            second = err.rfind(b"1/2 [")
            if not sent and second >= 0 and b"measuring" in err[second:]:
                os.kill(p.pid, signal.SIGINT)
                sent = True
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
        reader.join(timeout=10)
    text = err.decode(errors="replace").replace("\r", "\n")
    assert sent, text[-2000:]
    assert "measurement/s" in text or "s/measurement" in text  # tqdm's rate
    assert "0/2 [" in text and "1/2 [" in text and "measuring" in text
    assert rc == 130, text[-2000:]
    assert "interrupted after 1 of 2 measurements" in text
    out = stdout[0].decode()
    assert "cpu fp32 1t" in out and "cpu fp32 2t" not in out
    assert [f.name for f in runs.iterdir()] == [f"latency-{TINY}-onnxruntime-cpu-fp32-b1-t1-model.json"]


def test_help_has_examples_and_imports_nothing_heavy():
    code = ("import sys, kbench.cli\n"
            "try:\n    kbench.cli.main(['latency', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('numpy', 'paddle', 'torch', 'onnxruntime', 'psutil', 'cv2') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stderr
    assert "examples:" in out.stdout and "--fp16" in out.stdout and "--record" in out.stdout


def test_refusals_load_no_framework():
    code = ("import sys, kbench.cli\n"
            "rc = kbench.cli.main(['latency', '--models', 'tinypose_128x96', '--fp16', '--backend', 'onnxruntime'])\n"
            "print('RC', rc, [m for m in ('paddle', 'torch', 'onnxruntime', 'tensorrt') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "RC 2 []" in out.stdout, out.stdout + out.stderr
