"""The gate's verdict as JUnit XML, the format CI systems (GitHub, GitLab, Jenkins) show as test results.

One ``<testsuite>`` named after the gate; one ``<testcase>`` per compared metric, its ``classname``
the configuration (``kbench.gate.<kind>.<model>``, the rest of the configuration in the name) and
its ``name`` the metric. A regression carries ``<failure type="regression">``, a missing measurement
``<failure type="missing">`` (or ``<skipped>`` when missing ones are allowed); every test case prints
its baseline, current value and tolerance in ``<system-out>``.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from kbench._fileio import atomic_open
from kbench.reports.gate_markdown import format_change, format_spread, format_value
from kbench.results.gate import GateReport

__all__ = ["render_junit", "write_junit"]


def _classname(check) -> str:
    # Dots separate packages in JUnit viewers: keep them out of the parts.
    model = re.sub(r"[^A-Za-z0-9_-]+", "_", check.model or "no_model")
    return f"kbench.gate.{check.kind}.{model}"


def render_junit(report: GateReport, suite_name: str = "kbench gate") -> str:
    """Render a :class:`kbench.results.gate.GateReport` as a JUnit XML document.

    Args:
        report: the gate's result.
        suite_name: the test suite's name.

    Returns:
        The XML text (UTF-8 declaration included).
    """
    failures = sum(c.failed for c in report.checks)
    skipped = sum(c.status == "missing" and not c.failed for c in report.checks)
    counts = {"tests": str(len(report.checks)), "failures": str(failures), "errors": "0", "skipped": str(skipped),
              "time": "0"}
    root = ET.Element("testsuites", name=suite_name, **counts)
    suite = ET.SubElement(root, "testsuite", name=suite_name, **counts)
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="tolerances", value=report.tolerances.describe())
    ET.SubElement(props, "property", name="baseline_records", value=str(report.baseline_records))
    ET.SubElement(props, "property", name="current_records", value=str(report.current_records))
    for check in report.checks:
        case = ET.SubElement(suite, "testcase", classname=_classname(check), name=f"{check.metric} [{check.label}]",
                             time="0")
        detail = (f"{check.label}\n{check.metric}: baseline {format_value(check, check.baseline)}, current "
                  f"{format_value(check, check.current)}, change {format_change(check)}, tolerance "
                  f"{check.tolerance or '-'}, spread {format_spread(check)}")
        if check.failed:
            kind = "missing" if check.status == "missing" else "regression"
            ET.SubElement(case, "failure", message=check.message, type=kind).text = detail
        elif check.status == "missing":
            ET.SubElement(case, "skipped", message=check.message)
        ET.SubElement(case, "system-out").text = detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: GateReport, path: str | os.PathLike, suite_name: str = "kbench gate") -> Path:
    """Write :func:`render_junit`'s document to ``path`` atomically; returns the path."""
    with atomic_open(path, "w") as fh:
        fh.write(render_junit(report, suite_name))
    return Path(path)
