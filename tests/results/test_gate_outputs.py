"""The gate's Markdown summary (``kbench.reports.gate_markdown``) and JUnit XML (``kbench.reports.junit``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from results_factory import COCO, latency, record

from kbench.reports.gate_markdown import render_markdown
from kbench.reports.junit import render_junit, write_junit
from kbench.results.gate import Tolerances, compare


def _report(allow_missing=False):
    base = [record(model="tinypose_128x96", bbox="gt"), latency(10.0, std=0.2), record(model="gone")]
    cur = [record(metrics={**COCO, "AP": COCO["AP"] - 0.005}, model="tinypose_128x96", bbox="gt"),
           latency(12.0, std=0.2, hostname="ci-b"), latency(3.0, model="hrnet_w32_256x192")]
    return compare(base, cur, Tolerances(allow_missing=allow_missing))


def test_markdown_names_regressions_with_values_and_tolerances():
    report = _report()
    text = render_markdown(report, baseline_name="baseline/", current_name="runs/")
    lines = text.splitlines()
    assert lines[0] == "## ❌ kbench gate: 2 regressions, 10 missing in 21 checks"
    assert "`baseline/`" in lines[2] and "accuracy -0.2 pt" in lines[2]
    header = "| model | metric | baseline | current | change | tolerance | status | spread |"
    assert text.count(header) == 2                                    # regressions, then all checks
    ap_row = next(x for x in lines if "| AP |" in x and "❌ fail" in x)
    assert "tinypose_128x96 eval" in ap_row and "| 70.00 | 69.50 | -0.50 pt | -0.2 pt |" in ap_row
    lat_row = next(x for x in lines if "| median_ms |" in x)
    assert "| 10 ms | 12 ms | +20.0 % | +10 % and > spread | ❌ fail | ±0.2 ms |" in lat_row
    assert "❌ missing" in text and "<details><summary>All 21 checks</summary>" in text
    assert "**Not in the baseline**" in text and "hrnet_w32_256x192 latency" in text
    assert "Reported but not gated: `mean_ms`, `p90_ms`, `p99_ms`, `min_ms`, `std_ms`, `throughput`" in text
    assert text.endswith("Notes:\n\n- " + report.notes[0] + "\n")


def test_markdown_all_green():
    base = [record(model="m")]
    text = render_markdown(compare(base, base))
    assert text.startswith("## ✅ kbench gate: no regression (10 checks)\n") and "### Regressions" not in text


def test_markdown_escapes_pipes():
    base = [record(model="a|b")]
    text = render_markdown(compare(base, base))
    assert "a\\|b" in text and "| a|b" not in text


def test_junit_parses_and_counts_match(tmp_path):
    report = _report()
    path = write_junit(report, tmp_path / "out" / "gate.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(cases) == len(report.checks) == int(suite.get("tests")) == int(root.get("tests"))
    assert len(failures) == len(report.regressions) == int(suite.get("failures")) == 12
    assert {f.find("failure").get("type") for f in failures} == {"regression", "missing"}
    ap = next(c for c in cases if c.get("name").startswith("AP [") and c.find("failure") is not None)
    assert ap.get("classname") == "kbench.gate.eval.tinypose_128x96"
    assert "AP dropped 0.50 pt" in ap.find("failure").get("message")
    assert "baseline 70.00, current 69.50" in ap.find("system-out").text


def test_junit_allowed_missing_is_skipped():
    report = _report(allow_missing=True)
    suite = ET.fromstring(render_junit(report)).find("testsuite")
    skipped = [c for c in suite.findall("testcase") if c.find("skipped") is not None]
    assert len(skipped) == int(suite.get("skipped")) == 10 and int(suite.get("failures")) == 2
