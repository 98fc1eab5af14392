"""``kbench gate`` in a subprocess: exit codes 0/1/2, Markdown and JUnit files, the project's own baseline.

``tests/fixtures/gate/baseline`` holds records written by ``kbench eval --sample 50`` and ``kbench profile``
(both deterministic), made by ``tests/fixtures/gate/make_records.sh``; the tests make a fresh set with the
same script and gate it against them, which is what ``.ci/run`` does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

BASELINE = Path(__file__).resolve().parents[1] / "fixtures" / "gate" / "baseline"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))
from results_factory import latency, write  # noqa: E402


def kbench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kbench", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=180)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Current records made by kbench itself, with the script that .ci/run uses."""
    root = tmp_path_factory.mktemp("current")
    env = {**os.environ, "KBENCH": f"{sys.executable} -m kbench"}
    out = subprocess.run(["bash", str(BASELINE.parent / "make_records.sh"), str(root)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return root


def test_fixture_baseline_holds_real_records():
    names = sorted(p.name for p in BASELINE.glob("*.json"))
    assert names == ["eval-sample50.json", "profile-lite_hrnet_18_256x192_coco.json", "profile-tinypose_128x96.json"]
    for path in BASELINE.glob("*.json"):
        rec = json.loads(path.read_text())
        assert rec["schema"] == "kbench.record/1" and rec["metrics"]


def test_current_code_passes_its_own_baseline(fresh, tmp_path):
    out = kbench("gate", "--baseline", BASELINE, "--current", fresh, "--junit", tmp_path / "gate.xml",
                 "--markdown", tmp_path / "gate.md")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("## ✅ kbench gate: no regression (14 checks)")
    assert (tmp_path / "gate.md").read_text() == out.stdout
    suite = ET.parse(tmp_path / "gate.xml").getroot().find("testsuite")
    assert suite.get("tests") == "14" and suite.get("failures") == "0" and len(suite.findall("testcase")) == 14


def test_accuracy_regression_exits_1(fresh, tmp_path):
    cur = tmp_path / "cur"
    shutil.copytree(fresh, cur)
    rec = json.loads((cur / "eval-sample50.json").read_text())
    rec["metrics"]["AP"] -= 0.003                                    # 0.3 points
    (cur / "eval-sample50.json").write_text(json.dumps(rec))
    out = kbench("gate", "--baseline", BASELINE, "--current", cur, "--junit", tmp_path / "gate.xml")
    assert out.returncode == 1, out.stderr
    assert out.stdout.startswith("## ❌ kbench gate: 1 regression in 14 checks") and "| -0.30 pt |" in out.stdout
    failures = ET.parse(tmp_path / "gate.xml").getroot().iter("failure")
    assert [f.get("type") for f in failures] == ["regression"]
    # a wider tolerance lets it through
    assert kbench("gate", "--baseline", BASELINE, "--current", cur, "--max-ap-drop", "0.5", "-q").returncode == 0


def test_missing_measurement_exits_1_unless_allowed(fresh, tmp_path):
    cur = tmp_path / "cur"
    shutil.copytree(fresh, cur)
    (cur / "profile-lite_hrnet_18_256x192_coco.json").unlink()
    out = kbench("gate", "--baseline", BASELINE, "--current", cur, "--quiet")
    assert out.returncode == 1 and out.stdout.strip() == "❌ kbench gate: 2 missing in 14 checks"
    assert kbench("gate", "--baseline", BASELINE, "--current", cur, "--allow-missing", "-q").returncode == 0


def test_latency_noise_rule_on_the_command_line(tmp_path):
    write(tmp_path / "base", "lat.json", latency(10.0, std=0.3))
    write(tmp_path / "cur", "lat.json", latency(11.5, std=0.3, hostname="ci-b"))
    out = kbench("gate", "--baseline", tmp_path / "base", "--current", tmp_path / "cur")
    assert out.returncode == 1 and "| median_ms |" in out.stdout and "baseline measured on ci-a" in out.stdout
    assert kbench("gate", "--baseline", tmp_path / "base", "--current", tmp_path / "cur",
                  "--max-latency-increase", "20%").returncode == 0
    write(tmp_path / "noisy", "lat.json", latency(11.5, std=2.0))
    assert kbench("gate", "--baseline", tmp_path / "base", "--current", tmp_path / "noisy").returncode == 0


@pytest.mark.parametrize("case", ["empty", "missing", "disjoint", "bad_percent", "not_a_record"])
def test_usage_errors_exit_2(case, tmp_path):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "other", "lat.json", latency(10.0))
    (tmp_path / "preds.json").write_text("[]")
    args = {
        "empty": ("--current", tmp_path / "empty"),
        "missing": ("--current", tmp_path / "nope"),
        "disjoint": ("--current", tmp_path / "other"),
        "bad_percent": ("--current", tmp_path / "other", "--max-latency-increase", "ten"),
        "not_a_record": ("--current", tmp_path / "preds.json"),
    }[case]
    out = kbench("gate", "--baseline", BASELINE, *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "error:" in out.stderr.strip().splitlines()[-1]


def test_help_has_examples():
    out = kbench("gate", "--help")
    assert out.returncode == 0 and "examples:" in out.stdout and "--max-latency-increase" in out.stdout
