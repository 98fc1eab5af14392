"""The leaderboard: a static site of every model x runtime x precision x device measured, from run records.

::

    from kbench.results.frame import load_records
    from kbench.leaderboard.build import build_site

    build_site(load_records("kbench-runs"), "site")

Layout of the site (plain files: it works from ``file://`` and from any static file server)::

    site/index.html             sortable, filterable table of every configuration, accuracy-vs-latency figure
    site/data.json              the same rows (and every record's provenance) as JSON
    site/models/<model>.html    one page per model: its rows, latency distributions, per-keypoint bars
    site/records/<id>.html      one page per run record: machine, versions, command, options, metrics
    site/records/<id>.json      the run record itself
    site/.kbench-site           marker: the folder is a kbench site and may be replaced by the next build

The table's data is also embedded in ``index.html`` (browsers block ``fetch()`` of ``file://`` URLs), and the
table is rendered on the server side, so sorting and filtering are all the script does.

A build writes into a temporary folder beside the target and renames it into place; an existing target is
replaced only if it holds the marker, so a mistyped ``--out`` cannot delete someone's folder.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kbench.errors import InputError
from kbench.reports.runs import Run, backend_label, runs_from_records
from kbench.reports.tables import accuracy_for, published_accuracy

__all__ = ["Column", "COLUMNS", "leaderboard_rows", "leaderboard_data", "build_site", "SITE_MARKER", "DATA_SCHEMA",
           "model_page_name", "check_target"]

SITE_MARKER = ".kbench-site"
DATA_SCHEMA = "kbench.leaderboard/1"


@dataclass(frozen=True)
class Column:
    """One column of the leaderboard table.

    Attributes:
        key: the row field.
        header: the heading.
        type: ``num`` or ``text`` (how the column sorts).
        fmt: printf format of numbers.
        link: which record a number links to: ``accuracy``, ``latency``, ``profile`` or empty.
        filter: offer a drop-down filter over this column's values.
    """

    key: str
    header: str
    type: str = "text"
    fmt: str = ""
    link: str = ""
    filter: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("model", "Model"),
    Column("dataset", "Dataset", filter=True),
    Column("backend", "Runtime", filter=True),
    Column("device", "Device", filter=True),
    Column("precision", "Precision", filter=True),
    Column("batch", "Batch", "num", "%d"),
    Column("threads", "Threads", "num", "%d"),
    Column("scope", "Scope", filter=True),
    Column("hostname", "Machine", filter=True),
    Column("AP", "AP", "num", "%.1f", "accuracy"),
    Column("PCKh", "PCKh", "num", "%.1f", "accuracy"),
    Column("published", "Published", "num", "%.1f"),
    Column("median_ms", "Median (ms)", "num", "%.2f", "latency"),
    Column("p90_ms", "p90 (ms)", "num", "%.2f", "latency"),
    Column("throughput", "Throughput (/s)", "num", "%.1f", "latency"),
    Column("params_m", "Params (M)", "num", "%.2f", "profile"),
    Column("gflops", "GFLOPs", "num", "%.2f", "profile"),
    Column("created", "Latest record"),
)


def model_page_name(model: str) -> str:
    """File name of a model's page (card names are already safe; anything else is made so)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", model) + ".html"


def _prefer_eval(run: Run) -> tuple:
    # The same preference as the README cells (kbench.reports.tables.best_accuracy_run) within one configuration.
    return (not run.flags, run.col("bbox") in (None, "gt"), run.created)


def _empty_row(model: str | None, card) -> dict:
    pub = published_accuracy(card) if card else None
    return {
        "model": model, "title": card.title if card else None, "dataset": card.dataset if card else None,
        "paradigm": card.paradigm if card else None,
        "input": f"{card.input_size[0]}x{card.input_size[1]}" if card else None,
        "backend": None, "runtime": None, "device": None, "precision": None, "tensorrt": False, "batch": None,
        "threads": None, "scope": None, "hostname": None, "machine": None, "machine_label": None,
        "AP": None, "PCKh": None, "accuracy_source": None, "published": pub[1] if pub else None,
        "published_metric": pub[0] if pub else None,
        "median_ms": None, "p90_ms": None, "p99_ms": None, "throughput": None, "params_m": None, "gflops": None,
        "created": None, "flags": [], "records": {"accuracy": None, "latency": None, "profile": None},
    }


def _set_config(row: dict, run: Run) -> None:
    for key in ("backend", "device", "precision", "batch", "threads", "scope", "hostname", "machine",
                "machine_label"):
        row[key] = run.col(key)
    row["tensorrt"] = run.tensorrt
    row["runtime"] = backend_label(run.col("backend"), run.tensorrt)


def _set_accuracy(row: dict, run: Run, source: str) -> None:
    metric, value = run.accuracy
    row[metric] = value
    row["accuracy_source"] = source
    row["flags"] = run.flags
    row["records"]["accuracy"] = run.record_id
    if row["dataset"] is None:
        row["dataset"] = run.col("dataset")


def _touch(row: dict, run: Run) -> None:
    row["created"] = max(filter(None, (row["created"], run.created[:19].replace("T", " "))))


def _config(run: Run) -> tuple:
    return (run.model, run.col("backend"), run.col("device"), run.col("precision"), run.tensorrt)


def leaderboard_rows(runs: Sequence[Run], cards: dict | None = None) -> list[dict]:
    """One row per measured configuration: model x runtime x precision x device (x batch, threads, machine).

    * every distinct latency configuration (model, runtime, device, precision, TensorRT, batch, threads, scope,
      machine) is a row with its newest record; its accuracy is an eval of the same model on the same runtime,
      device and precision, or else the model's best eval on another runtime (``accuracy_source`` says which);
    * an eval configuration with no latency row of its own is a row of its own;
    * params and GFLOPs (the newest profile at the card's input size) go on every row of the model, and a model
      with only a profile gets a row;
    * evals without a model (``kbench eval --predictions``/``--sample``) are rows by data set.

    Args:
        runs: all runs.
        cards: card name -> :class:`~kbench.cards.ModelCard` (default: every card kbench ships).

    Returns:
        JSON-ready dicts (see :data:`COLUMNS` for the shown fields; ``records`` holds the record ids behind the
        accuracy, latency and size numbers), sorted by model and runtime.
    """
    if cards is None:
        from kbench.cards import list_cards

        cards = {c.name: c for c in list_cards()}
    rows: list[dict] = []

    latest: dict[tuple, Run] = {}
    for run in runs:
        if run.kind == "latency" and run.latency_ms is not None:
            key = (*_config(run), run.col("batch"), run.col("threads"), run.col("scope"), run.col("machine"))
            if key not in latest or run.created > latest[key].created:
                latest[key] = run
    covered = set()
    for run in latest.values():
        row = _empty_row(run.model, cards.get(run.model))
        _set_config(row, run)
        m = run.metrics
        row.update(median_ms=run.latency_ms, p90_ms=m.get("p90_ms"), p99_ms=m.get("p99_ms"),
                   throughput=m.get("throughput"))
        row["records"]["latency"] = run.record_id
        _touch(row, run)
        card = cards.get(run.model)
        acc = accuracy_for(run, runs, card) if card else None
        if acc is not None and acc.run is not None:
            _set_accuracy(row, acc.run, acc.source)
            if acc.source == "same runtime":
                covered.add(_config(acc.run))
        rows.append(row)

    evals: dict[tuple, Run] = {}
    for run in runs:
        if run.kind != "eval" or run.accuracy is None:
            continue
        key = _config(run) if run.model else ("", run.col("dataset"))
        if key not in evals or _prefer_eval(run) > _prefer_eval(evals[key]):
            evals[key] = run
    for key, run in evals.items():
        if run.model and key in covered:
            continue
        row = _empty_row(run.model, cards.get(run.model))
        _set_config(row, run)
        row["batch"] = row["threads"] = None  # an eval's batch is not a latency configuration
        _set_accuracy(row, run, "same runtime")
        _touch(row, run)
        rows.append(row)

    sizes: dict[str, Run] = {}
    for run in runs:
        card = cards.get(run.model)
        if run.kind != "profile" or card is None:
            continue
        if run.col("input_size") not in (None, f"{card.input_size[0]}x{card.input_size[1]}"):
            continue
        if run.model not in sizes or run.created > sizes[run.model].created:
            sizes[run.model] = run
    for model, run in sizes.items():
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            mine = [_empty_row(model, cards[model])]
            rows.extend(mine)
        params, flops = run.metric("params"), run.metric("flops")
        for row in mine:
            row["params_m"] = None if params is None else params / 1e6
            row["gflops"] = None if flops is None else flops / 1e9
            row["records"]["profile"] = run.record_id
            _touch(row, run)

    rows = [_json_safe(row) for row in rows]  # a missing number is null, never NaN
    rows.sort(key=lambda r: (r["model"] is None, r["model"] or "", r["backend"] or "", r["device"] or "",
                             r["precision"] or "", r["batch"] or 0, r["threads"] or 0, r["hostname"] or ""))
    return rows


def leaderboard_data(runs: Sequence[Run], rows: list[dict] | None = None, with_records: bool = True) -> dict:
    """The JSON export: schema, columns, rows and (optionally) every record's provenance by id."""
    from kbench import __version__

    rows = leaderboard_rows(runs) if rows is None else rows
    data = {
        "schema": DATA_SCHEMA,
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "kbench": __version__,
        "columns": [{"key": c.key, "header": c.header, "type": c.type} for c in COLUMNS],
        "rows": rows,
    }
    if with_records:
        data["records"] = {run.record_id: run.describe() for run in runs}
    return _json_safe(data)


def _json_safe(value):
    # JSON has no NaN or infinity (JSON.parse rejects them): a record's odd float becomes null in the export.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def check_target(out: Path) -> None:
    """Raise InputError unless ``out`` is missing, empty, or an earlier kbench site (which a build may replace)."""
    if not out.exists():
        from kbench.bench.records import check_output_path

        check_output_path(out, "--out", directory=True)  # a parent that is a file, or one this user cannot write
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory (--out names the site's folder)")
    if any(out.iterdir()) and not (out / SITE_MARKER).exists():
        raise InputError(f"{out}: exists and is not a kbench leaderboard site (no {SITE_MARKER}); choose another "
                         f"--out or empty it")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _render_site(folder: Path, runs: list[Run], title: str, sources: Sequence[str]) -> None:
    from kbench.cards import list_cards
    from kbench.reports.figures import (
        accuracy_latency_figure,
        keypoint_figure,
        latency_distribution_figure,
        pareto_points,
    )
    from kbench.reports.html import page_context, template_env

    env = template_env()
    cards = {c.name: c for c in list_cards()}
    rows = leaderboard_rows(runs, cards)
    data = leaderboard_data(runs, rows)
    rows = data["rows"]
    embedded = {k: v for k, v in data.items() if k != "records"}
    models = sorted({r["model"] for r in rows if r["model"]})
    filters = {c.key: sorted({str(r[c.key]) for r in rows if r[c.key] is not None}) for c in COLUMNS if c.filter}
    by_id = {run.record_id: run for run in runs}

    def context(root: str, **extra) -> dict:
        return page_context(title=title, root=root, columns=COLUMNS, filters=filters, models=models,
                            model_page=model_page_name, by_id=by_id, **extra)

    plot = accuracy_latency_figure(pareto_points(runs, cards), "fig-pareto")
    _write(folder / "index.html", env.get_template("leaderboard_index.html.j2").render(context(
        "", rows=rows, data=embedded, plot=plot, sources=list(sources) or ["memory"], n_records=len(runs))))
    (folder / "data.json").write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    for model in models:
        mine = [r for r in runs if r.model == model]
        plots = [accuracy_latency_figure(pareto_points(mine, cards), "fig-pareto", f"{model}: accuracy against "
                                                                                    f"latency"),
                 latency_distribution_figure(mine, "fig-latency", f"{model}: latency distributions"),
                 keypoint_figure(mine, "fig-keypoints", f"{model}: per-keypoint accuracy")]
        _write(folder / "models" / model_page_name(model), env.get_template("leaderboard_model.html.j2").render(
            context("../", model=model, card=cards.get(model), rows=[r for r in rows if r["model"] == model],
                    plots=plots, runs=sorted(mine, key=lambda r: r.created, reverse=True))))
    for run in runs:
        clean = {k: v for k, v in run.record.items() if not str(k).startswith("_")}
        _write(folder / "records" / f"{run.record_id}.json", json.dumps(clean, indent=2) + "\n")
        _write(folder / "records" / f"{run.record_id}.html", env.get_template("leaderboard_record.html.j2").render(
            context("../", run=run, d=run.describe())))
    (folder / SITE_MARKER).write_text("kbench leaderboard site: `kbench leaderboard build` replaces this folder\n",
                                      encoding="utf-8")


def build_site(records: Iterable[dict], out: str | os.PathLike, *, title: str = "kbench leaderboard",
               sources: Sequence[str | os.PathLike] = ()) -> Path:
    """Build the static site into ``out``, atomically (a temporary folder beside it, then a rename).

    Args:
        records: parsed run records (:func:`kbench.results.frame.load_records`).
        out: the site's folder; replaced if it is an earlier kbench site, refused if it holds anything else.
        title: the pages' title.
        sources: where the records came from (shown on the index page).

    Returns:
        ``out`` as a Path.

    Raises:
        InputError: ``out`` is a file, or a non-empty folder that is not a kbench site.
    """
    out = Path(out)
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = runs_from_records(records)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _render_site(tmp, runs, title, [str(s) for s in sources])
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide the site from a web server's user
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            if old is not None:
                os.replace(old, out)  # put the previous site back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
