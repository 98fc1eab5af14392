"""``kbench results`` in a subprocess: the default store, add, filters, formats, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))
from results_factory import latency, record, write  # noqa: E402


def kbench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kbench", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.fixture
def project(tmp_path):
    """A working directory where ``kbench eval`` wrote a record to ./kbench-runs, plus another machine's records."""
    out = kbench("eval", "--sample", "20", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    write(tmp_path / "other", "lat-a.json", latency(10.0, hostname="ci-a"))
    write(tmp_path / "other", "lat-b.json", latency(14.0, hostname="ci-b"))
    write(tmp_path / "other", "eval.json", record(model="tinypose_128x96", hostname="ci-b"))
    return tmp_path


def test_default_store_is_kbench_runs(project):
    out = kbench("results", cwd=project)
    assert out.returncode == 0, out.stderr
    assert "sample-20-seed0" in out.stdout and "m.AP" in out.stdout
    assert out.stdout.strip().endswith("1 record(s) from 1 machine(s) in kbench-runs")


def test_add_is_idempotent_and_merges_machines(project):
    out = kbench("results", "add", "other", cwd=project)
    assert out.returncode == 0 and out.stdout.startswith("3 record(s) added, 0 already in the store")
    out = kbench("results", "add", "other", "other/lat-a.json", cwd=project)
    assert out.stdout.startswith("0 record(s) added, 3 already in the store")
    out = kbench("results", "--format", "json", cwd=project)
    rows = json.loads(out.stdout)
    assert len(rows) == 4 and len({r["machine"] for r in rows}) == 3


def test_filters_columns_and_formats(project):
    kbench("results", "add", "other", cwd=project)
    out = kbench("results", "--kind", "latency", "--filter", "model=tinypose_*", "median_ms>12",
                 "--columns", "hostname,median_ms", "--format", "csv", cwd=project)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["hostname,m.median_ms", "ci-b,14.0"]
    out = kbench("results", "-f", "AP>2", cwd=project)
    assert out.returncode == 0 and out.stdout.startswith("no records match")


def test_store_option_and_reindex(project):
    kbench("results", "add", "--store", "elsewhere", "other", cwd=project)
    out = kbench("results", "--store", "elsewhere", "reindex", cwd=project)
    assert out.returncode == 0 and out.stdout.startswith("3 record(s) indexed")
    assert (project / "elsewhere" / "index.sqlite").is_file()


@pytest.mark.parametrize("args, message", [
    (("--store", "nope"), "nope: no such directory"),
    (("--filter", "colour=red"), "unknown column 'colour'"),
    (("--columns", "model,wattage"), "no column 'wattage'"),
    (("add", "missing.json"), "missing.json: no such file or directory"),
])
def test_bad_input_exits_2_with_one_line(project, args, message):
    out = kbench("results", *args, cwd=project)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_help_has_examples():
    out = kbench("results", "--help")
    assert out.returncode == 0 and "examples:" in out.stdout and "add" in out.stdout
