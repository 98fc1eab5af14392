"""matplotlib figures for the report and the leaderboard, rendered to PNG bytes for embedding in a page.

Three figures:

* :func:`accuracy_latency_figure`: accuracy (AP or PCKh, points) against median latency, one colour per
  runtime, each runtime's Pareto front drawn as a step line through its non-dominated points;
* :func:`latency_distribution_figure`: one horizontal box per latency run, from the raw samples where the
  record keeps them, else from its summary statistics (hatched: box median..p90, whiskers min..p99);
* :func:`keypoint_figure`: per-keypoint AP / PCKh bars, or None when no record has per-keypoint data.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly (no pyplot, so no global
state and no GUI backend). matplotlib and numpy are imported inside the functions.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

from kbench.reports.runs import Run
from kbench.reports.tables import accuracy_for

__all__ = ["Plot", "ParetoPoint", "pareto_points", "pareto_front", "accuracy_latency_figure",
           "latency_distribution_figure", "keypoint_figure", "MAX_BOXES", "MAX_KEYPOINT_RUNS"]

#: Latency boxes drawn at most (the newest runs); beyond that a figure is unreadable.
MAX_BOXES = 40
#: Runs compared in the per-keypoint bars at most.
MAX_KEYPOINT_RUNS = 6
_DPI = 96


@dataclass(frozen=True)
class Plot:
    """A rendered figure, or the reason there is none.

    Attributes:
        id: HTML id.
        title: heading.
        caption: how to read it.
        png: the PNG bytes (None: nothing to draw).
        empty: what the page says instead when there is nothing to draw.
    """

    id: str
    title: str
    caption: str
    png: bytes | None
    empty: str = ""

    @property
    def data_uri(self) -> str:
        """The PNG as a ``data:`` URI, so the page needs no other file."""
        return "data:image/png;base64," + base64.b64encode(self.png or b"").decode("ascii")


@dataclass(frozen=True)
class ParetoPoint:
    """One latency run with the accuracy that goes with it."""

    run: Run
    model: str
    runtime: str
    latency_ms: float
    metric: str
    accuracy: float
    source: str  # same runtime, other runtime, published
    flagged: bool = False  # the accuracy comes from synthetic data or random weights


def pareto_points(runs: Sequence[Run], cards: dict) -> list[ParetoPoint]:
    """Every latency run of a zoo model with its accuracy (see :func:`kbench.reports.tables.accuracy_for`).

    Args:
        runs: all runs.
        cards: card name -> :class:`~kbench.cards.ModelCard`.
    """
    points = []
    for run in runs:
        if run.latency_ms is None or run.model not in cards:
            continue
        acc = accuracy_for(run, runs, cards[run.model])
        if acc is not None:
            flagged = bool(acc.run is not None and acc.run.flags)
            points.append(ParetoPoint(run, run.model, run.runtime, run.latency_ms, acc.metric, acc.value, acc.source,
                                      flagged))
    return points


def pareto_front(points: Sequence[ParetoPoint]) -> list[ParetoPoint]:
    """The non-dominated points: no other point is at least as fast and at least as accurate, and better in one.

    Returns:
        The front, fastest first.
    """
    front: list[ParetoPoint] = []
    for p in sorted(points, key=lambda p: (p.latency_ms, -p.accuracy)):
        if not front or p.accuracy > front[-1].accuracy:
            front.append(p)
    return front


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return buf.getvalue()


def _new_figure(width: float, height: float):
    import matplotlib

    matplotlib.rcParams["svg.fonttype"] = "none"
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def accuracy_latency_figure(points: Sequence[ParetoPoint], plot_id: str = "fig-pareto",
                            title: str = "Accuracy against latency") -> Plot:
    """Accuracy (points) against median latency (ms, log scale), per runtime, Pareto fronts marked.

    One panel per accuracy metric present (AP for COCO models, PCKh for MPII). Filled markers: accuracy measured
    on the same runtime; open markers: measured on another runtime; crosses: the published figure.
    """
    caption = ("One colour per runtime (backend, device, precision); each runtime's Pareto front (nothing both "
               "faster and more accurate) is the step line, its points ringed in black. Filled: accuracy measured "
               "on that runtime; open: measured on another runtime; x: published accuracy; \"(synthetic)\": accuracy "
               "from synthetic data or random weights.")
    if not points:
        return Plot(plot_id, title, caption, None, "No latency measurements of zoo models: nothing to plot.")
    metrics = sorted({p.metric for p in points})
    runtimes = sorted({p.runtime for p in points})
    colour = dict(zip(runtimes, _colours(len(runtimes))))
    fig = _new_figure(7.5 * len(metrics), 4.6)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        mine = [p for p in points if p.metric == metric]
        for runtime in runtimes:
            group = [p for p in mine if p.runtime == runtime]
            if not group:
                continue
            c = colour[runtime]
            label = runtime  # one legend entry per runtime, on its first drawn group
            for source in ("same runtime", "other runtime", "published"):
                sel = [p for p in group if p.source == source]
                if not sel:
                    continue
                xs, ys = [p.latency_ms for p in sel], [p.accuracy for p in sel]
                if source == "published":
                    ax.scatter(xs, ys, marker="x", color=c, s=40, zorder=3, label=label)
                else:
                    ax.scatter(xs, ys, marker="o", facecolors=c if source == "same runtime" else "none",
                               edgecolors=c, s=40, zorder=3, label=label)
                label = None
            front = pareto_front(group)
            xs = [p.latency_ms for p in front]
            ys = [p.accuracy for p in front]
            ax.step(xs, ys, where="post", color=c, linewidth=1.4, alpha=0.8, zorder=2)
            ax.scatter(xs, ys, s=90, facecolors="none", edgecolors="black", linewidths=1.0, zorder=4)
            for p in front:
                ax.annotate(p.model + (" (synthetic)" if p.flagged else ""), (p.latency_ms, p.accuracy),
                            textcoords="offset points", xytext=(4, 4), fontsize=7,
                            color="#a05a00" if p.flagged else "#333")
        ax.set_xscale("log")
        ax.set_xlabel("median latency (ms, log scale)")
        ax.set_ylabel(f"{metric} (points)")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(f"{metric} vs latency")
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=7, loc="lower right")
    return Plot(plot_id, title, caption, _png(fig))


def _box_stats(run: Run) -> tuple[dict, bool]:
    import numpy as np

    samples = run.samples_ms
    label = f"{run.model or '?'} · {run.runtime} · b{run.col('batch') or '?'} · {run.col('hostname') or '?'}"
    if samples:
        a = np.asarray(samples, dtype=float)
        q1, med, q3, p99 = np.percentile(a, [25, 50, 75, 99])
        return {"label": label, "whislo": float(a.min()), "q1": float(q1), "med": float(med), "q3": float(q3),
                "whishi": float(p99), "fliers": a[a > p99]}, True
    m = run.metrics
    med = float(m["median_ms"])
    lo = float(m.get("min_ms", med))
    p90 = float(m.get("p90_ms", med))
    p99 = float(m.get("p99_ms", p90))
    return {"label": label, "whislo": lo, "q1": med, "med": med, "q3": p90, "whishi": p99, "fliers": []}, False


def latency_distribution_figure(runs: Sequence[Run], plot_id: str = "fig-latency",
                                title: str = "Latency distributions") -> Plot:
    """One horizontal box per latency run (the newest :data:`MAX_BOXES`), grouped by model."""
    caption = ("Per run: with raw samples, the box spans the quartiles, whiskers min..p99, dots beyond p99; "
               "hatched boxes have summary statistics only: box median..p90, whiskers min..p99.")
    lat = [r for r in runs if r.latency_ms is not None]
    if not lat:
        return Plot(plot_id, title, caption, None, "No latency measurements.")
    lat = sorted(lat, key=lambda r: r.created, reverse=True)[:MAX_BOXES]
    lat.sort(key=lambda r: (r.model or "", r.runtime, r.latency_ms), reverse=True)
    stats = [_box_stats(r) for r in lat]
    runtimes = sorted({r.runtime for r in lat})
    colour = dict(zip(runtimes, _colours(len(runtimes))))
    fig = _new_figure(9, 1.2 + 0.32 * len(lat))
    ax = fig.subplots()
    import matplotlib

    # matplotlib 3.10 replaced bxp's vert=False by orientation="horizontal" (vert warns from 3.11 on).
    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    horizontal = {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}
    art = ax.bxp([s for s, _ in stats], **horizontal, patch_artist=True, showfliers=True,
                 flierprops={"markersize": 2}, medianprops={"color": "black"})
    for box, (_, raw), run in zip(art["boxes"], stats, lat):
        box.set_facecolor(colour[run.runtime])
        box.set_alpha(0.75)
        if not raw:
            box.set_hatch("///")
    lo = min(s["whislo"] for s, _ in stats)
    hi = max(s["whishi"] for s, _ in stats)
    if lo > 0 and hi / lo > 20:
        ax.set_xscale("log")
    ax.set_xlabel("latency per batch (ms)")
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(True, axis="x", alpha=0.3)
    return Plot(plot_id, title, caption, _png(fig))


def keypoint_figure(runs: Sequence[Run], plot_id: str = "fig-keypoints",
                    title: str = "Per-keypoint accuracy") -> Plot:
    """Per-keypoint AP or PCKh bars of the eval runs that carry them (at most :data:`MAX_KEYPOINT_RUNS` per metric).

    Uses metrics named ``AP.<joint>`` / ``PCKh.<joint>`` (MPII's per-part PCKh otherwise); the page says "no
    per-keypoint data" when no run has them.
    """
    caption = ("One bar per keypoint and run: per model, the run its README cell uses (real data and weights "
               "first, then the newest); runs are labelled model · runtime · created.")
    by_model: dict[str | None, tuple[Run, tuple[str, dict]]] = {}
    for run in runs:
        scores = run.keypoint_scores()
        if scores is None:
            continue
        best = by_model.get(run.model)
        if best is None or (not run.flags, run.created) > (not best[0].flags, best[0].created):
            by_model[run.model] = (run, scores)
    groups: dict[str, list[tuple[Run, dict]]] = {}
    for run, (metric, scores) in sorted(by_model.values(), key=lambda item: item[0].model or ""):
        if len(groups.setdefault(metric, [])) < MAX_KEYPOINT_RUNS:
            groups[metric].append((run, scores))
    if not groups:
        return Plot(plot_id, title, caption, None, "No per-keypoint data in these records.")
    import numpy as np

    n_joints = max(len({j for _, scores in g for j in scores}) for g in groups.values())
    n_runs = max(len(g) for g in groups.values())
    height = 1.5 + 0.2 * n_joints * max(1.0, n_runs / 2)
    fig = _new_figure(7.0 * len(groups), height)
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, (metric, group) in zip(axes, sorted(groups.items())):
        joints: list[str] = []
        for _, scores in group:
            joints += [j for j in scores if j not in joints]
        y = np.arange(len(joints))
        width = 0.8 / len(group)
        for i, ((run, scores), c) in enumerate(zip(group, _colours(len(group)))):
            values = [scores.get(j, np.nan) for j in joints]
            flag = " (synthetic)" if run.flags else ""
            ax.barh(y + (i - (len(group) - 1) / 2) * width, values, height=width, color=c,
                    label=f"{run.model or 'no model'} · {run.runtime} · {run.created[:16]}{flag}")
        ax.set_yticks(y, joints, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric} (points)")
        ax.set_xlim(0, 100)
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title(f"{metric} per keypoint")
    return Plot(plot_id, title, caption, _png(fig))
