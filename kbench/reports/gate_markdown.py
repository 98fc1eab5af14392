"""The gate's verdict as Markdown, fit for a pull-request comment or a GitHub job summary.

Layout: a headline with ✅/❌, one line of context (records, tolerances), a table of the regressions
and missing measurements (when there are any), then every check in a collapsed ``<details>`` block,
configurations without a baseline, and notes. Accuracy is shown in points, as the zoo README prints
it (AP 0.7490 -> 74.90), so that the change and the tolerance read in the same unit.
"""

from __future__ import annotations

import math

from kbench.results.gate import Check, GateReport

__all__ = ["render_markdown", "format_value", "format_change", "format_spread"]

_HEADER = ("model", "metric", "baseline", "current", "change", "tolerance", "status", "spread")
_STATUS = {"pass": "✅ pass", "fail": "❌ fail", "missing": "❌ missing"}


def format_value(check: Check, value: float | None) -> str:
    """A metric value in its display unit (accuracy in points, latency in ms, sizes with separators)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    family = check.rule.family
    if family == "accuracy":
        return f"{value * check.rule.points:.2f}"
    if family == "latency":
        return f"{value:.4g} ms"
    if family == "throughput":
        return f"{value:.4g}/s"
    if family == "size":
        return f"{value:,.0f}"
    return f"{value:,.4g}"


def format_change(check: Check) -> str:
    """The change in the unit its tolerance uses: points, percent, or the raw difference for sizes."""
    if check.change is None or math.isnan(check.change):
        return "—"
    family = check.rule.family
    if family == "accuracy":
        return f"{check.change:+.2f} pt"
    if family == "size":
        return f"{check.change:+,.0f}"
    return f"{check.change:+.1f} %"


def format_spread(check: Check) -> str:
    """The pair's measured spread (latency and throughput), else a dash."""
    if check.spread is None:
        return "—"
    unit = " ms" if check.rule.family == "latency" else "/s"
    return f"±{check.spread:.3g}{unit}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(checks: list[Check]) -> list[str]:
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    for c in checks:
        status = _STATUS[c.status] if c.failed or c.status == "pass" else "⚠️ missing (allowed)"
        row = (c.label, c.metric, format_value(c, c.baseline), format_value(c, c.current), format_change(c),
               c.tolerance or "—", status, format_spread(c))
        lines.append("| " + " | ".join(_cell(x) for x in row) + " |")
    return lines


def render_markdown(report: GateReport, *, title: str = "kbench gate", baseline_name: str | None = None,
                    current_name: str | None = None) -> str:
    """Render a :class:`kbench.results.gate.GateReport` as Markdown.

    Args:
        report: the gate's result.
        title: the headline's text.
        baseline_name: how to name the baseline in the context line (e.g. its folder).
        current_name: idem for the current records.

    Returns:
        The Markdown text, ending with a newline.
    """
    bad = report.regressions
    n = len(report.checks)
    if bad:
        failing = sum(c.status == "fail" for c in bad)
        missing = len(bad) - failing
        parts = [f"{failing} regression{'s' if failing != 1 else ''}"] if failing else []
        if missing:
            parts.append(f"{missing} missing")
        head = f"## ❌ {title}: {', '.join(parts)} in {n} checks"
    else:
        head = f"## ✅ {title}: no regression ({n} checks)"
    base = f"{report.baseline_records} baseline record(s)" + (f" from `{baseline_name}`" if baseline_name else "")
    cur = f"{report.current_records} current record(s)" + (f" from `{current_name}`" if current_name else "")
    lines = [head, "", f"{base}, {cur}. Tolerances: {report.tolerances.describe()}. "
                       "Accuracy in points (COCO AP x 100, MPII PCKh in %); latency gates compare medians.", ""]
    if bad:
        lines += ["### Regressions" if any(c.status == "fail" for c in bad) else "### Missing measurements", ""]
        lines += _table(bad)
        lines.append("")
    if report.checks:
        lines += [f"<details><summary>All {n} checks</summary>", "", *_table(report.checks), "", "</details>", ""]
    if report.new:
        lines += ["**Not in the baseline** (not gated): " + "; ".join(f"`{x}`" for x in report.new), ""]
    if report.unguarded:
        lines += ["Reported but not gated: " + ", ".join(f"`{x}`" for x in report.unguarded), ""]
    if report.notes:
        lines += ["Notes:", "", *[f"- {_cell(x)}" for x in report.notes], ""]
    return "\n".join(lines).rstrip("\n") + "\n"
