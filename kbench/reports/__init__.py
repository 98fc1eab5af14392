"""Reports built from run records: HTML pages, plots, the CI gate's Markdown and JUnit output.

Reports read only run records (see :mod:`kbench.bench.records`), never evaluator internals.

* :mod:`kbench.reports.runs`: :class:`~kbench.reports.runs.Run`, one record as the reports see it (frame columns,
  accuracy in points, raw latency samples, synthetic-data flags, provenance);
* :mod:`kbench.reports.tables`: the zoo README's tables rebuilt from the model cards, measured beside published;
* :mod:`kbench.reports.figures`: matplotlib figures (accuracy vs latency with Pareto fronts, latency
  distributions, per-keypoint bars) as PNG bytes;
* :mod:`kbench.reports.html`: the self-contained HTML report (``kbench report``), with jinja2 templates in
  ``kbench/reports/templates/`` (also used by the leaderboard site, :mod:`kbench.leaderboard`);
* :mod:`kbench.reports.gate_markdown`, :mod:`kbench.reports.junit`: the CI gate's outputs.

Importing this package imports nothing; jinja2, matplotlib and numpy load inside the functions that use them.
"""

from __future__ import annotations

__all__ = ["render_report", "write_report"]


def __getattr__(name: str):
    # Lazy re-exports: `import kbench.reports.junit` (the gate) must not load jinja2 or matplotlib.
    if name in __all__:
        from kbench.reports import html

        return getattr(html, name)
    raise AttributeError(f"module 'kbench.reports' has no attribute {name!r}")
