"""The HTML report: the zoo README's tables with measured numbers beside the published ones, figures, provenance.

::

    from kbench.results.frame import load_records
    from kbench.reports.html import write_report

    path = write_report(load_records("kbench-runs"), "kbench-report")   # kbench-report/report.html

The page is one self-contained file: the stylesheet and the sort/filter script are inlined, figures are
base64 PNGs, nothing is fetched from the network. Every measured number links to its run record's entry
at the bottom of the page (machine, library versions, command, options, inputs, file).

jinja2 and matplotlib are imported inside the functions that use them.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

from kbench._fileio import atomic_open
from kbench.reports.runs import Run, runs_from_records
from kbench.reports.tables import ReportTolerances, readme_tables

__all__ = ["template_env", "page_context", "render_report", "write_report", "report_plots", "REPORT_FILE"]

#: Name of the page written into the output directory.
REPORT_FILE = "report.html"


@lru_cache(maxsize=1)
def _assets() -> dict:
    from markupsafe import Markup

    folder = resources.files("kbench.reports") / "templates"
    # Inlined verbatim: the stylesheet and the script are ours and hold no "</" sequence that would close the
    # surrounding <style>/<script> element early (checked here, since a later edit could add one).
    css = (folder / "style.css").read_text(encoding="utf-8")
    js = (folder / "table.js").read_text(encoding="utf-8")
    for name, text in (("style.css", css), ("table.js", js)):
        if "</" in text:
            raise RuntimeError(f"kbench/reports/templates/{name} must not contain '</' (it is inlined)")
    return {"css": Markup(css), "js": Markup(js)}


@lru_cache(maxsize=1)
def template_env():
    """The jinja2 environment of every kbench page (autoescaped, undefined names are errors)."""
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("kbench.reports", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False,
                              lstrip_blocks=False, keep_trailing_newline=True)


def page_context(**extra) -> dict:
    """Values every page template reads: kbench version, generation time, the inlined assets."""
    from kbench import __version__

    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return {"version": __version__, "generated": now, "assets": _assets(), **extra}


def _summary(runs: Sequence[Run], sources: Sequence[str]) -> dict:
    kinds: dict[str, int] = {}
    for run in runs:
        kinds[run.kind] = kinds.get(run.kind, 0) + 1
    machines = sorted({run.col("machine_label") or "unknown" for run in runs})
    return {"records": len(runs), "kinds": kinds, "machines": machines, "sources": list(sources) or ["memory"],
            "flagged": sum(1 for run in runs if run.flags)}


def report_plots(runs: Sequence[Run], prefix: str = "fig") -> list:
    """The report's figures: accuracy vs latency (Pareto fronts), latency distributions, per-keypoint bars.

    Args:
        runs: the runs to draw.
        prefix: HTML id prefix of the figures.

    Returns:
        A list of :class:`kbench.reports.figures.Plot`.
    """
    from kbench.cards import list_cards
    from kbench.reports.figures import (
        accuracy_latency_figure,
        keypoint_figure,
        latency_distribution_figure,
        pareto_points,
    )

    cards = {c.name: c for c in list_cards()}
    return [accuracy_latency_figure(pareto_points(runs, cards), f"{prefix}-pareto"),
            latency_distribution_figure(runs, f"{prefix}-latency"),
            keypoint_figure(runs, f"{prefix}-keypoints")]


def _anchor_href(run: Run) -> str:
    return "#" + run.anchor


def render_report(records: Iterable[dict], *, tolerances: ReportTolerances | None = None,
                  sources: Sequence[str | os.PathLike] = (), title: str = "kbench report",
                  href: Callable[[Run], str] | None = None) -> str:
    """The report page as HTML text.

    Args:
        records: parsed run records (:func:`kbench.results.frame.load_records`); any kinds, any machines.
        tolerances: when a difference from the published figure is coloured.
        sources: where the records were read from (shown in the header).
        title: the page's title.
        href: link from a number to its run (default: the record's entry in this page).

    Returns:
        The whole page.
    """
    runs = sorted(runs_from_records(records), key=lambda r: (r.kind, r.model or "", r.created))
    tol = tolerances or ReportTolerances()
    context = page_context(title=title, runs=runs, tables=readme_tables(runs, tol), plots=report_plots(runs),
                           tolerances=tol, summary=_summary(runs, [str(s) for s in sources]),
                           href=href or _anchor_href)
    return template_env().get_template("report.html.j2").render(context)


def write_report(records: Iterable[dict], out_dir: str | os.PathLike, **options) -> Path:
    """Render the report into ``out_dir/report.html`` atomically (a reader never sees half a page).

    Args:
        records: parsed run records.
        out_dir: the output directory (created if missing).
        **options: passed to :func:`render_report`.

    Returns:
        The page's path.
    """
    from kbench.errors import InputError

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory (--out names a directory)")
    html = render_report(records, **options)
    target = out / REPORT_FILE
    with atomic_open(target, "w") as fh:
        fh.write(html)
    return target
