"""``kbench report`` and ``kbench leaderboard build|serve`` as users run them: in a subprocess, checking output,
files and exit codes (bad input: one line, exit 2). About 20 s (each call starts a Python with matplotlib).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

from kbench.bench.records import make_record, write_record


def kbench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kbench", *map(str, args)], capture_output=True, text=True,
                          timeout=180, cwd=cwd)


def one_line_error(out, *words):
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    for word in words:
        assert word in out.stderr, out.stderr


def make_store(tmp_path):
    store = tmp_path / "kbench-runs"
    out = kbench("eval", "--sample", "20", "--record", store / "sample.json")
    assert out.returncode == 0, out.stderr
    rec = make_record("latency", {"median_ms": 3.3, "p90_ms": 3.5, "p99_ms": 3.9, "min_ms": 3.1, "mean_ms": 3.35,
                                  "std_ms": 0.1, "throughput": 303.0},
                      options={"model": "tinypose_128x96", "backend": "lite", "device": "arm", "precision": "fp16",
                               "batch": 1, "threads": 4, "scope": "model"})
    write_record(rec, store / "nested" / "latency.json")
    (store / "preds.json").write_text("[[1, 2, 3]]")          # not a record: the store passes it in silence
    return store


def test_help_lists_the_commands():
    out = kbench("--help")
    assert out.returncode == 0 and "report" in out.stdout and "leaderboard" in out.stdout
    out = kbench("report", "--help")
    assert out.returncode == 0 and "examples:" in out.stdout and "--latency-tolerance" in out.stdout
    out = kbench("leaderboard", "build", "--help")
    assert out.returncode == 0 and "kbench leaderboard serve --dir site/" in out.stdout
    assert kbench("leaderboard").returncode == 2


def test_report_and_site_from_the_default_store(tmp_path):
    store = make_store(tmp_path)
    out = kbench("report", "--latency-tolerance", "5%", cwd=tmp_path)       # default store ./kbench-runs
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("report: kbench-report/report.html (2 records; 2 README cells measured, "
                                  "0 beyond tolerance)")
    assert out.stderr == ""
    html = (tmp_path / "kbench-report" / "report.html").read_text()
    assert "synthetic data" in html and "±5 %" in html and "3.30" in html
    out = kbench("leaderboard", "build", "--store", store, "--out", tmp_path / "site")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"site: {tmp_path / 'site'} (2 records, 1 model pages)")
    data = json.loads((tmp_path / "site" / "data.json").read_text())
    assert [r["model"] for r in data["rows"]] == ["tinypose_128x96", None]
    # --records reads folders directly (non-records noted), --filter narrows them as `kbench results` does.
    out = kbench("leaderboard", "build", "--records", store, "--filter", "kind=latency", "--out", tmp_path / "site")
    assert out.returncode == 0 and "skipped 1 JSON file" in out.stderr and out.stderr.startswith("kbench: note:")
    data = json.loads((tmp_path / "site" / "data.json").read_text())
    assert [(r["model"], r["backend"]) for r in data["rows"]] == [("tinypose_128x96", "lite")]


def test_bad_input_is_one_line(tmp_path):
    one_line_error(kbench("report", cwd=tmp_path), "kbench-runs", "no results store")
    one_line_error(kbench("report", "--records", tmp_path / "missing.json"), "missing.json", "no such file")
    (tmp_path / "preds.json").write_text("[]")
    one_line_error(kbench("report", "--records", tmp_path / "preds.json"), "not a kbench run record")
    (tmp_path / "bad.json").write_text('{"schema": "kbench.record/1", "kind": "eval", "metr')
    one_line_error(kbench("leaderboard", "build", "--records", tmp_path / "bad.json"), "invalid JSON")
    store = make_store(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    one_line_error(kbench("leaderboard", "build", "--store", store, "--out", tmp_path / "docs"),
                   "not a kbench leaderboard site")
    one_line_error(kbench("report", "--store", store, "--out", tmp_path / "docs" / "notes.txt"), "not a directory")
    out = kbench("report", "--tolerance", "-1")
    assert out.returncode == 2 and "expected a number >= 0" in out.stderr
    one_line_error(kbench("report", "--store", store, "--filter", "nosuch=1"), "unknown column 'nosuch'")
    one_line_error(kbench("leaderboard", "serve", "--dir", tmp_path / "nosite"), "build the site first")


def test_serve_prints_the_url_serves_and_stops_on_ctrl_c(tmp_path):
    store = make_store(tmp_path)
    assert kbench("leaderboard", "build", "--store", store, "--out", tmp_path / "site").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "kbench", "leaderboard", "serve", "--dir", tmp_path / "site",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"serving {tmp_path / 'site'} at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "index.html", timeout=10) as resp:
            assert resp.status == 200 and b"kbench leaderboard" in resp.read()
        with urllib.request.urlopen(url + "data.json", timeout=10) as resp:
            assert json.loads(resp.read())["schema"] == "kbench.leaderboard/1"
    finally:
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "stopped" in rest and "Traceback" not in err, (rest, err)
