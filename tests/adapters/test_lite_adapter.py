"""Paddle Lite adapter: x86 parity with Paddle dygraph, the worker's lifecycle, refusals, the adb path, the environment.

Tolerance against Paddle dygraph FP32: max |lite - paddle| <= 1e-4 x max |paddle| (the conformance bound). Paddle
Lite's x86 kernels (im2col + MKL sgemm, convolution fused with batch norm and activation by ``opt``) accumulate in
another order than Paddle's, so float32 rounding differs and grows with depth; with random weights HRNet's outputs
reach ~1e9, so the bound is relative to the largest output. Measured: ~1e-6 (PP-TinyPose) and ~8e-6 (HRNet-W32)
relative; a wrong weight, layout or op gives differences of order 1.

The Paddle Lite environment (Python 3.10 + paddlelite) is created once, in its default place, by the session
fixture ``lite_env`` (a minute with a cold pip cache; ``make test`` should create it in setup). Converted models go
to the per-session ``$KBENCH_CACHE`` that ``conftest.py`` sets. The ARM path runs against a fake ``adb`` (a script
that maps ``/data/local/tmp`` to a local folder) and a fake ``benchmark_bin`` that prints what the real one prints.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")

from kbench._fileio import sha256_file  # noqa: E402
from kbench.adapters.base import get_adapter  # noqa: E402
from kbench.adapters.paddle_lite import LiteWorker, parse_benchmark_output  # noqa: E402
from kbench.cards import get_card  # noqa: E402
from kbench.conformance import compare_outputs, reference_input  # noqa: E402
from kbench.errors import InputError  # noqa: E402
from kbench.lite import env as lite_env_module  # noqa: E402

TOLERANCE = 1e-4


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message, message
    return message


@pytest.fixture(scope="session")
def lite_env():
    """The default Paddle Lite environment, created if missing (reused by later sessions)."""
    try:
        return lite_env_module.ensure_lite_env()
    except InputError as exc:
        pytest.fail(f"the Paddle Lite environment cannot be created here: {exc}")


@pytest.fixture(scope="module")
def card():
    return get_card("tinypose_128x96")


@pytest.fixture(scope="module")
def tinypose_nb(lite_env, card):
    """PP-TinyPose converted for x86 at batch 2 (through the adapter, so the cache is filled as in real use)."""
    with get_adapter("lite") as a:
        a.load(card, weights="random", batch=2)
        return Path(a.describe()["model"])


def dygraph(card, x):
    with get_adapter("paddle") as ref:
        ref.load(card, weights="random")
        return ref.run(x)


# --- parity ----------------------------------------------------------------------------------------------------------

@pytest.mark.parity
@pytest.mark.slow
def test_tinypose_matches_paddle_dygraph(lite_env, card, tinypose_nb):
    x = reference_input(card, 2)
    with get_adapter("lite") as a:
        a.load(card, weights="random", batch=2)
        info = a.describe()
        got = a.run(x)
    diff = compare_outputs(dygraph(card, x), got)
    assert info["timings"]["cached"] and info["model"] == str(tinypose_nb)
    assert got.heatmaps.dtype == np.float32 and got.heatmaps.shape == (2, 17, 32, 24) and got.tags is None
    assert diff["max_rel"] <= TOLERANCE and diff["argmax_agree"] + diff["argmax_ties"] == diff["joints"], diff


@pytest.mark.parity
@pytest.mark.slow
def test_hrnet_w32_matches_paddle_dygraph(lite_env):
    card = get_card("hrnet_w32_256x192")
    x = reference_input(card, 1)
    with get_adapter("lite") as a:
        a.load(card, weights="random", threads=2)
        info = a.describe()
        got = a.run(x)
    diff = compare_outputs(dygraph(card, x), got)
    assert info["threads"] == 2
    assert got.heatmaps.shape == (1, 17, 64, 48)
    assert diff["max_rel"] <= TOLERANCE and diff["argmax_agree"] + diff["argmax_ties"] == diff["joints"], diff


def test_worker_times_the_run_itself_and_latency_reports_the_transfer_apart(card, tinypose_nb):
    """Model scope on Lite: the worker runs the timed loop (no pipe transfer in the samples) and reports its own CPU
    time; measure_group records the round trip's extra as transfer_ms."""
    from kbench.bench.latency import BACKENDS, Group, measure_group
    from kbench.bench.timing import Budget

    x = reference_input(card, 2)
    with get_adapter("lite") as a:
        a.load(card, weights="random", batch=2, threads=1)
        timing = a.time_in_worker(x, Budget(warmup_runs=2, runs=7))
    assert timing.samples_ns.shape == (7,) and timing.warmup_runs == 2 and (timing.samples_ns > 0).all()
    assert timing.timer == "perf_counter_ns in the Lite worker" and 0.3 < timing.cpu_util < 1.5
    group = Group(card, "lite", "cpu", "fp32", 2, 1, ("model",))
    assert BACKENDS["lite"].runtime == "lite"
    (result,) = measure_group(group, Budget(warmup_runs=1, runs=5))
    assert result.stats.runs == 5 and result.transfer_ms is not None and result.transfer_ms >= 0
    assert "inside the Paddle Lite worker" in result.timed and result.metrics()["cpu_util"] > 0.3


def test_manifest_describes_the_nb(tinypose_nb, lite_env):
    manifest = json.loads((tinypose_nb.parent / "manifest.json").read_text())
    assert manifest["kind"] == "paddle-lite" and manifest["target"] == "x86" and manifest["precision"] == "fp32"
    assert manifest["input"]["shape"] == [2, 3, 128, 96] and manifest["outputs"] == ["heatmaps"]
    assert manifest["weights"]["random"] and manifest["weights"]["seed"] == 0
    assert manifest["converter"]["paddlelite"] == lite_env.paddlelite == "2.13rc0"
    assert manifest["converter"]["paddle"] and set(manifest["source"]["files"]) == {"model.pdmodel", "model.pdiparams"}
    assert manifest["nb"]["sha256"] == sha256_file(tinypose_nb)
    assert sorted(p.name for p in tinypose_nb.parent.iterdir()) == ["manifest.json", "model.nb"]  # no staging left


# --- the worker ------------------------------------------------------------------------------------------------------

def test_worker_restarts_after_a_crash_and_stops_on_close(card, tinypose_nb):
    x = reference_input(card, 2)
    a = get_adapter("lite")
    a.load(card, model_path=tinypose_nb, batch=2)
    first = a.run(x).heatmaps
    worker = a._worker
    pid = worker.pid
    os.kill(pid, signal.SIGKILL)
    worker.proc.wait()
    with pytest.raises(InputError) as exc:
        a.run(x)  # the death is reported once, in one line...
    assert "worker died before run" in one_line(exc) and "SIGKILL" in str(exc.value)
    again = a.run(x).heatmaps  # ...and the next run starts a fresh worker
    new_pid = a.describe()["worker"]["pid"]
    assert new_pid != pid
    np.testing.assert_array_equal(first, again)
    proc = a._worker.proc
    a.close()
    assert proc.poll() == 0 and a._worker is None  # exited cleanly, not killed
    a.close()  # twice is fine
    a.load(card, model_path=tinypose_nb, batch=2)  # and the adapter loads again
    np.testing.assert_array_equal(first, a.run(x).heatmaps)
    a.close()


def test_worker_protocol_errors_are_answered_and_eof_exits_cleanly(lite_env, tinypose_nb):
    worker = LiteWorker(lite_env.python).start()
    try:
        with pytest.raises(InputError, match="no model loaded"):
            worker.request({"op": "run"}, [np.zeros((1, 3, 4, 4), np.float32)])
        with pytest.raises(InputError, match="unknown op 'nope'"):
            worker.request({"op": "nope"})
        answer, _ = worker.request({"op": "load", "model": str(tinypose_nb), "threads": 1})
        assert answer["inputs"] == ["image"] and answer["threads"] == 1 and answer["version"] == "2.13rc0"
        assert worker.alive()
        proc = worker.proc
        proc.stdin.close()  # end of input: the worker's loop ends
        assert proc.wait(timeout=30) == 0
    finally:
        worker.close()


def test_other_batch_sizes_run_in_pieces_of_the_converted_one(card, tinypose_nb):
    """A batch-2 .nb runs 3 crops as 2 + 1 padded (what an evaluation's last, partial batch needs), each crop's
    output the same as when it runs in a full piece."""
    x = reference_input(card, 4)
    with get_adapter("lite") as a:
        a.load(card, model_path=tinypose_nb, batch=2)
        full = a.run(x).heatmaps
        three = a.run(x[:3]).heatmaps
        one = a.run(x[2:3]).heatmaps
    assert three.shape == (3, 17, 32, 24) and one.shape == (1, 17, 32, 24)
    np.testing.assert_array_equal(three, full[:3])
    np.testing.assert_array_equal(one, full[2:3])


@pytest.mark.parametrize("content", ["garbage", "truncated"])
def test_corrupt_nb_is_one_line(card, tinypose_nb, tmp_path, content):
    bad = tmp_path / "model.nb"
    bad.write_bytes(b"not a paddle lite model\n" if content == "garbage" else tinypose_nb.read_bytes()[:100_000])
    a = get_adapter("lite")
    with pytest.raises(InputError) as exc:
        a.load(card, model_path=bad, batch=2)
    message = one_line(exc)
    assert message.startswith(f"Paddle Lite could not load {bad}") and "SIGABRT" in message
    assert ("cannot be recognized" if content == "garbage" else "Failed to read") in message
    assert a._worker is None


def test_missing_nb_is_one_line(card, lite_env, tmp_path):
    with pytest.raises(InputError) as exc:
        get_adapter("lite").load(card, model_path=tmp_path / "nope.nb")
    assert "no such .nb file" in one_line(exc)


# --- refusals --------------------------------------------------------------------------------------------------------

def test_fp16_on_x86_is_refused(card):
    with pytest.raises(InputError) as exc:
        get_adapter("lite").load(card, precision="fp16")
    assert "fp16 is an ARM feature" in one_line(exc)


def test_gpu_and_unknown_target_are_refused(card):
    with pytest.raises(InputError, match="does not run on gpu"):
        get_adapter("lite").load(card, device="gpu")
    with pytest.raises(InputError, match="unknown Paddle Lite target 'riscv'"):
        get_adapter("lite").load(card, target="riscv")


def test_arm_without_adb_is_one_line(card, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb anywhere
    with pytest.raises(InputError) as exc:
        get_adapter("lite").load(card, target="arm")
    assert one_line(exc).startswith("no ARM device attached: adb is not on PATH")


# --- ARM through a fake adb ------------------------------------------------------------------------------------------

FAKE_ADB = '''\
#!{python}
"""A fake adb: one device (FAKE0001, state from $FAKE_ADB_STATE), /data/local/tmp mapped to $FAKE_ADB_ROOT/device."""
import os, shutil, subprocess, sys
root = os.environ["FAKE_ADB_ROOT"]
with open(os.path.join(root, "adb.log"), "a") as fh:
    fh.write(repr(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if args == ["devices"]:
    print("List of devices attached")
    if os.environ.get("FAKE_ADB_STATE", "device") != "none":
        print("FAKE0001\\t" + os.environ.get("FAKE_ADB_STATE", "device"))
    print()
    sys.exit(0)
assert args[:2] == ["-s", "FAKE0001"], args
cmd, rest = args[2], args[3:]
local = lambda p: p.replace("/data/local/tmp", os.path.join(root, "device"))
if cmd == "push":
    os.makedirs(os.path.dirname(local(rest[1])), exist_ok=True)
    shutil.copy(rest[0], local(rest[1]))
elif cmd == "pull":
    shutil.copy(local(rest[0]), rest[1])
elif cmd == "shell":
    sys.exit(subprocess.run(["bash", "-c", local(" ".join(rest))]).returncode)
else:
    sys.exit("fake adb: unsupported command " + cmd)
'''

FAKE_BENCHMARK = '''\
#!{python}
"""Prints what Paddle Lite's benchmark_bin prints (lite/api/tools/benchmark/benchmark.cc), for a made-up output:
17 heatmaps at a quarter of the input size whose values are the input's mean plus 0.001 x their index."""
import json, sys
import numpy as np
flags = dict(a[2:].split("=", 1) for a in sys.argv[1:])
json.dump(flags, open("flags.json", "w"))
shape = [int(s) for s in flags["input_shape"].split(",")]
x = np.loadtxt(flags["input_data_path"], dtype=np.float32)
assert x.size == np.prod(shape), (x.size, shape)
out_shape = [shape[0], 17, shape[2] // 4, shape[3] // 4]
n = int(np.prod(out_shape))
values = float(x.mean()) + np.arange(n) * 1e-3
print("output tensor num: 1")
print("--- output tensor 0 ---")
print("output shape(NCHW): " + "".join(f"{{s}}," for s in out_shape))
print(f"output tensor 0 elem num: {{n}}")
print("\\n".join(f"out[0][{{i}}]:{{v:g}}" for i, v in enumerate(values)))
perf = ("\\n======= Runtime Info =======\\nbenchmark_bin version: v2.13-rc\\nthreads: " + flags["threads"] +
        "\\n\\n======= Perf Info =======\\nTime(unit: ms):\\ninit  = 12.5        \\nfirst = 40.1        \\n"
        "min   = 30.2        \\nmax   = 33.3        \\navg   = 31.0        \\n")
print(perf)
open(flags["result_path"], "a").write(perf)
'''


@pytest.fixture()
def fake_adb(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    adb = bindir / "adb"
    adb.write_text(FAKE_ADB.format(python=sys.executable))
    adb.chmod(0o755)
    bench = tmp_path / "benchmark_bin"
    bench.write_text(FAKE_BENCHMARK.format(python=sys.executable))
    bench.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ADB_ROOT", str(tmp_path))
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    monkeypatch.delenv("KBENCH_LITE_BENCHMARK_BIN", raising=False)
    return tmp_path, bench


@pytest.mark.parametrize("state, says", [("none", "`adb devices` lists none (target arm runs"),
                                         ("unauthorized", "`adb devices` lists none ready (FAKE0001 unauthorized)")])
def test_arm_without_a_ready_device_is_one_line(card, fake_adb, monkeypatch, state, says):
    monkeypatch.setenv("FAKE_ADB_STATE", state)
    with pytest.raises(InputError) as exc:
        get_adapter("lite").load(card, target="arm")
    assert one_line(exc).startswith(f"no ARM device attached: {says}")


def test_arm_without_benchmark_bin_names_the_variable(card, fake_adb):
    with pytest.raises(InputError) as exc:
        get_adapter("lite").load(card, target="arm")
    assert "KBENCH_LITE_BENCHMARK_BIN" in one_line(exc) and "--with_benchmark=ON" in str(exc.value)


@pytest.mark.slow
def test_arm_runs_through_adb_and_benchmark_bin(card, lite_env, fake_adb, monkeypatch):
    root, bench = fake_adb
    monkeypatch.setenv("KBENCH_LITE_BENCHMARK_BIN", str(bench))
    x = reference_input(card, 1)
    with get_adapter("lite") as a:
        a.load(card, weights="random", target="arm", threads=4, warmup=2, repeats=3)
        info = a.describe()
        remote = root / "device" / info["adb"]["remote"].removeprefix("/data/local/tmp/")
        pushed = remote / "model.nb"
        assert sha256_file(pushed) == sha256_file(info["model"])  # the ARM .nb went to the device
        got = a.run(x)
        flags = json.loads((remote / "flags.json").read_text())
        timing = a.last_timing
    manifest = json.loads((Path(info["model"]).parent / "manifest.json").read_text())
    assert manifest["target"] == "arm" and info["target"] == "arm" and info["adb"]["serial"] == "FAKE0001"
    assert flags["backend"] == "arm" and flags["threads"] == "4" and flags["input_shape"] == "1,3,128,96"
    assert flags["warmup"] == "2" and flags["repeats"] == "3" and flags["cpu_precision"] == "fp32"
    expected = float(x.mean()) + np.arange(17 * 32 * 24) * 1e-3
    assert got.heatmaps.shape == (1, 17, 32, 24) and got.heatmaps.dtype == np.float32
    np.testing.assert_allclose(got.heatmaps.reshape(-1), expected, rtol=1e-5, atol=1e-6)
    assert timing == {"init_ms": 12.5, "first_ms": 40.1, "min_ms": 30.2, "max_ms": 33.3, "avg_ms": 31.0,
                      "version": "v2.13-rc"}
    assert not remote.exists()  # close() cleaned the device folder


def test_benchmark_output_parser_refuses_missing_values():
    text = "output shape(NCHW): 1,2,\nout[0][0]:1.5\nout[0][1]:-2e-06\nTime(unit: ms):\navg   = 3.25   \n"
    outs, timing = parse_benchmark_output(text)
    np.testing.assert_array_equal(outs[0], np.array([[1.5, -2e-06]], np.float32))
    assert timing == {"avg_ms": 3.25}
    with pytest.raises(InputError, match="printed 1 of the 2 values"):
        parse_benchmark_output("output shape(NCHW): 1,2,\nout[0][0]:1.5\n")
    with pytest.raises(InputError, match="no output tensor: Segmentation fault"):
        parse_benchmark_output("Segmentation fault\n")


# --- the environment -------------------------------------------------------------------------------------------------

def test_no_python310_is_one_clear_line(card, tmp_path, monkeypatch):
    fresh = tmp_path / "fresh-env"
    monkeypatch.setenv("KBENCH_LITE_ENV", str(fresh))
    monkeypatch.setenv("KBENCH_LITE_NO_PYENV", "1")
    monkeypatch.setenv("KBENCH_PY310", str(tmp_path / "missing" / "python3.10"))
    with pytest.raises(InputError) as exc:
        get_adapter("lite").load(card)
    message = one_line(exc)
    assert message.startswith(f"KBENCH_PY310={tmp_path / 'missing' / 'python3.10'} is not a usable Python 3.10")
    assert "no such file" in message
    # nothing set and nothing found: the message says what to install
    monkeypatch.delenv("KBENCH_PY310")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError) as exc:
        lite_env_module.ensure_lite_env()
    message = one_line(exc)
    assert message.startswith("no Python 3.10 found for the Paddle Lite environment")
    assert "pyenv (disabled by KBENCH_LITE_NO_PYENV)" in message and "pyenv install 3.10" in message
    assert not fresh.exists() or not any(fresh.iterdir())


def test_env_is_reused_and_its_marker_checked(lite_env, tmp_path):
    assert lite_env_module.ensure_lite_env() == lite_env  # idempotent: the marker is found, nothing runs
    marker = json.loads((lite_env.path / lite_env_module.MARKER).read_text())
    assert marker["requirements"] == ["paddlelite==2.13rc0", "numpy<2"] and marker["python"].startswith("3.10.")
    assert marker["numpy"].startswith("1.") and marker["paddlelite"] == "2.13rc0"
    # an environment whose marker names other requirements is stale; one without a marker is incomplete
    other = tmp_path / "other"
    (other / "bin").mkdir(parents=True)
    (other / "bin" / "python").write_text("")
    assert lite_env_module.read_env(other) is None
    (other / lite_env_module.MARKER).write_text(json.dumps(dict(marker, requirements=["paddlelite==2.12"])))
    assert lite_env_module.read_env(other) is None
    (other / lite_env_module.MARKER).write_text(json.dumps(marker))
    assert lite_env_module.read_env(other).python == other / "bin" / "python"


def test_env_refuses_a_folder_that_is_not_a_venv(lite_env, tmp_path, monkeypatch):
    (tmp_path / "precious.txt").write_text("keep me")
    monkeypatch.setenv("KBENCH_LITE_ENV", str(tmp_path))
    with pytest.raises(InputError) as exc:
        lite_env_module.ensure_lite_env()
    assert "is not a kbench Paddle Lite environment" in one_line(exc)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_worker_imports_only_numpy_and_paddlelite():
    """The worker runs in the 3.10 environment, where kbench is not installed."""
    source = Path(lite_env_module.worker_script()).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"numpy", "paddlelite"}
    assert textwrap.dedent(source).count("import kbench") == 0
