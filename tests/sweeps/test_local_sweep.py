"""``kbench sweep`` on this machine (no Ray): a small matrix writes exactly its records into the store, the
impossible cells are listed and not run, latency cells never run beside another cell, ``--resume`` runs nothing
a second time, and a worker that dies is retried, then recorded as failed.

Two small models (PP-TinyPose 128x96 and 256x192) x ONNX Runtime and PyTorch x batch 1 and 2, three timed runs
each: the module takes about a minute, most of it exporting the ONNX graphs once.
"""

from __future__ import annotations

import json
import os

import pytest

from kbench.cli import main
from kbench.results.store import ResultStore

MODELS = "tinypose_128x96,tinypose_256x192"
ARGV = ["sweep", "--kind", "latency,profile", "--models", MODELS, "--backend", "onnxruntime,torch",
        "--batch", "1,2", "--threads", "1", "--runs", "3", "--warmup", "1", "--precision", "fp32,fp16"]


@pytest.fixture(scope="module")
def first_sweep(tmp_path_factory):
    store = tmp_path_factory.mktemp("sweep-store")
    code = main([*ARGV, "--store", str(store), "--json"])
    return store, code


def test_the_matrix_writes_exactly_its_records(first_sweep):
    store, code = first_sweep
    assert code == 0
    records = ResultStore(store).records()
    latency = sorted((r["options"]["spec"]["model"], r["options"]["spec"]["backend"], r["options"]["spec"]["batch"])
                     for r in records if r["kind"] == "latency")
    assert latency == sorted((m, b, n) for m in MODELS.split(",") for b in ("onnxruntime", "torch") for n in (1, 2))
    assert all(r["options"]["spec"]["precision"] == "fp32" for r in records if r["kind"] == "latency")
    assert sorted(r["options"]["spec"]["model"] for r in records if r["kind"] == "profile") == sorted(MODELS.split(","))
    assert len(records) == 10
    # The record its own command writes, plus where and when it ran.
    for r in records:
        sweep = r["options"]["sweep"]
        assert sweep["executor"] == "local" and sweep["ended"] >= sweep["started"] and sweep["node_key"]
        assert len(r["options"]["cell_id"]) == 16


def test_results_and_gate_read_the_sweep_as_is(first_sweep, capsys):
    store, _ = first_sweep
    assert main(["results", "--store", str(store), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 10
    assert main(["gate", "--baseline", str(store), "--current", str(store), "-q"]) == 0


def test_impossible_cells_are_listed_not_run(first_sweep, capsys):
    store, _ = first_sweep
    # The plan of the same command, without running: the FP16 cells are listed with the reason.
    assert main([*ARGV, "--store", str(store), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "not run (8)" in out and "fp16" in out
    assert not [r for r in ResultStore(store).records() if r["options"]["spec"].get("precision") == "fp16"]


def test_latency_cells_ran_alone(first_sweep):
    store, _ = first_sweep
    spans = sorted((r["options"]["sweep"]["started"], r["options"]["sweep"]["ended"], r["kind"])
                   for r in ResultStore(store).records())
    for i, (s0, e0, k0) in enumerate(spans):
        for s1, e1, k1 in spans[i + 1:]:
            if "latency" in (k0, k1):
                assert s1 >= e0 or e1 <= s0, f"a {k1} cell ran at {s1}-{e1} beside a {k0} cell at {s0}-{e0}"


def test_resume_runs_nothing_the_second_time(first_sweep, capsys):
    store, _ = first_sweep
    before = sorted(p.name for p in store.rglob("*.json"))
    assert main([*ARGV, "--store", str(store), "--resume", "--json"]) == 0
    outcomes = json.loads(capsys.readouterr().out)
    assert len(outcomes) == 10 and {o["status"] for o in outcomes} == {"skipped"}
    assert sorted(p.name for p in store.rglob("*.json")) == before


def test_a_dying_worker_is_retried_then_recorded_as_failed(tmp_path, capsys, monkeypatch):
    # KBENCH_TEST_DIE_IN_CELL makes the worker process exit in the middle of the cell (os._exit: a crash).
    monkeypatch.setenv("KBENCH_TEST_DIE_IN_CELL", "1")
    store = tmp_path / "store"
    code = main(["sweep", "--kind", "profile", "--models", "tinypose_128x96", "--store", str(store), "--retries", "1",
                 "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out[0]["status"] == "failed" and out[0]["attempts"] == 2 and "worker process died" in out[0]["error"]
    assert not list(store.rglob("*.json"))
    log = list((store / "sweeps").glob("*.jsonl"))
    assert len(log) == 1 and json.loads(log[0].read_text().splitlines()[0])["status"] == "failed"


def test_a_hung_cell_is_cancelled_after_the_timeout_and_recorded(tmp_path, capsys, monkeypatch):
    import time

    monkeypatch.setenv("KBENCH_TEST_HANG_IN_CELL", "120")
    t0 = time.monotonic()
    code = main(["sweep", "--kind", "profile", "--models", "tinypose_128x96", "--store", str(tmp_path / "store"),
                 "--retries", "0", "--cell-timeout", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out[0]["status"] == "failed" and "timed out after 4 s" in out[0]["error"]
    assert time.monotonic() - t0 < 60  # not the 120 s the cell would hang for


def test_ctrl_c_keeps_the_finished_cells_and_resume_runs_the_rest(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    store = tmp_path / "store"
    argv = [sys.executable, "-m", "kbench", "sweep", "--kind", "latency", "--models", "tinypose_128x96", "--backend",
            "onnxruntime", "--batch", "1,2,3", "--threads", "1", "--seconds", "1.5", "--warmup", "1",
            "--store", str(store)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list(store.glob("*/*.json")) and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    written = list(store.glob("*/*.json"))
    assert 1 <= len(written) < 3
    for path in written:  # every file there is a whole record
        assert json.loads(path.read_text())["kind"] == "latency"
    assert not [p for p in store.rglob("*") if p.name.startswith(".") and p.is_file()]  # no temporary left
    done = subprocess.run([*argv, "--resume", "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    statuses = sorted(o["status"] for o in json.loads(done.stdout))
    assert statuses.count("skipped") == len(written) and statuses.count("done") == 3 - len(written)


def test_a_sharded_evaluation_here_equals_one_process(tmp_path):
    from kbench import EvalSpec, run
    from kbench.sweeps import run_sweep
    from kbench.sweeps.local import LocalExecutor
    from kbench.sweeps.plan import plan_from_blocks

    single = run(EvalSpec(model="tinypose_128x96", sample=6, weights="random", workers=0,
                          results=str(tmp_path / "single.json")))
    plan = plan_from_blocks([{"kind": "eval", "models": "tinypose_128x96", "sample": 6, "weights": "random",
                              "workers": 0, "shards": 2, "results": str(tmp_path / "sharded.json")}],
                            gpu=(False, ""))
    outcomes, _ = run_sweep(plan, ResultStore(tmp_path / "store"), LocalExecutor(2))
    assert [o.status for o in outcomes] == ["done"]
    (record,) = ResultStore(tmp_path / "store").records()
    assert record["metrics"] == single["metrics"]
    assert json.loads((tmp_path / "sharded.json").read_text()) == json.loads((tmp_path / "single.json").read_text())
    assert [s["part"] for s in record["options"]["sweep"]["shards"]] == [0, 1]
