"""The zoo README's tables, rebuilt from the model cards and filled with measured numbers.

Six tables, as PaddleDetection's ``configs/keypoint/README.md`` and ``KeypointBenchmark.md`` print them:

* **mobile** and **server recommendation**: the models whose parameters and GFLOPs the README publishes
  (its recommendation tables are the only place it does), split by backbone: Lite-HRNet family (PP-TinyPose)
  is the mobile table, HRNet the server table;
* **COCO model zoo**: every COCO model with a published AP, except PP-TinyPose (it has its own table);
* **MPII model zoo**: the MPII models, PCKh(Mean) and PCKh(Mean@0.1);
* **PP-TinyPose**: the models with Paddle-Lite downloads, AP and single-person FP32/FP16 latency;
* **KeypointBenchmark**: every latency the cards transcribe from ``KeypointBenchmark.md``, one column per
  hardware x runtime x precision x threads.

Rows and published numbers come from the cards only, so a table always has its rows: a cell with nothing
measured says so. A model with measurements but nothing published in a table's metric still gets a row.

Each :class:`Cell` holds the published number, the measured one, the run it came from and the difference:
accuracy in points (flagged beyond :attr:`ReportTolerances.accuracy_points`), latency relative (beyond
:attr:`ReportTolerances.latency_relative`), params/GFLOPs by the README's own rounding. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from kbench.cards import Latency, ModelCard, list_cards
from kbench.reports.runs import Run

__all__ = ["ReportTolerances", "Cell", "TableRow", "Table", "readme_tables", "best_accuracy_run", "AccuracyFor",
           "accuracy_for", "latency_matches", "published_accuracy", "KEYPOINT_BENCHMARK_SOURCE"]

KEYPOINT_BENCHMARK_SOURCE = "configs/keypoint/KeypointBenchmark.md"
_README_SOURCE = "configs/keypoint/README.md"


@dataclass(frozen=True)
class ReportTolerances:
    """When a measured number differs enough from the published one to be coloured.

    Attributes:
        accuracy_points: AP / PCKh difference in points (the README prints one decimal).
        latency_relative: latency difference as a fraction of the published time (0.1 = 10 %).
    """

    accuracy_points: float = 0.5
    latency_relative: float = 0.10


@dataclass
class Cell:
    """One table cell: measured beside published, and the difference.

    Attributes:
        metric: ``AP``, ``PCKh``, ``latency``, ``params`` or ``gflops``.
        published: the README's figure (None: not published).
        measured: kbench's figure in the same unit (None: not measured).
        run: the run the measured figure comes from.
        diff: measured - published: points for accuracy, a fraction of published for latency/size.
        exceeded: the difference is beyond the tolerance.
        note: where the published figure was measured (hardware, runtime), shown as a tooltip.
    """

    metric: str
    published: float | None = None
    measured: float | None = None
    run: Run | None = None
    diff: float | None = None
    exceeded: bool = False
    note: str = ""

    @property
    def relative(self) -> bool:
        """Whether :attr:`diff` is relative (latency, size) rather than in points (accuracy)."""
        return self.metric in ("latency", "params", "gflops")

    @property
    def status(self) -> str:
        """CSS class: ``exceeded``, ``ok``, ``unmeasured``, ``unpublished`` or ``empty`` (neither)."""
        if self.measured is None:
            return "empty" if self.published is None else "unmeasured"
        if self.published is None:
            return "unpublished"
        return "exceeded" if self.exceeded else "ok"

    def _fmt(self, value: float) -> str:
        if self.metric == "latency":
            return f"{value:.2f}"
        if self.metric in ("params", "gflops"):
            return f"{value:.2f}"
        return f"{value:.1f}"

    @property
    def measured_text(self) -> str:
        """The measured number as shown, ``not measured``, or empty when nothing is published either."""
        if self.measured is None:
            return "" if self.published is None else "not measured"
        return self._fmt(self.measured)

    @property
    def published_text(self) -> str:
        """The published number as the README prints it (accuracy with one decimal), or an em dash."""
        if self.published is None:
            return "—"
        return f"{self.published:.1f}" if self.metric in ("AP", "PCKh") else repr(float(self.published))

    @property
    def diff_text(self) -> str:
        """Signed difference: ``+0.3`` points or ``-12%``; empty when either side is missing."""
        if self.diff is None:
            return ""
        if self.relative:
            return "±0%" if abs(self.diff) < 0.005 else f"{self.diff:+.0%}"
        return "±0.0" if abs(self.diff) < 0.05 else f"{self.diff:+.1f}"

    @property
    def unit(self) -> str:
        """Unit of the numbers."""
        return {"latency": "ms", "params": "M", "gflops": "G"}.get(self.metric, "")


@dataclass
class TableRow:
    """One model's row: descriptive text columns, then cells."""

    name: str
    title: str
    info: list[str]
    cells: list[Cell]


@dataclass
class Table:
    """One README table."""

    id: str
    title: str
    note: str
    info_columns: list[str]
    cell_columns: list[str]
    rows: list[TableRow] = field(default_factory=list)

    def row(self, name: str) -> TableRow:
        """The row of a model by card name."""
        return next(r for r in self.rows if r.name == name)


# --- choosing the run behind a cell ----------------------------------------------------------------------

def _newest(runs: Iterable[Run], key: Callable[[Run], tuple] = lambda r: ()) -> Run | None:
    # Preference first, then the newest record; ties keep the first found (stable).
    best = None
    for run in runs:
        if best is None or (key(run), run.created) > (key(best), best.created):
            best = run
    return best


def published_accuracy(card: ModelCard, run: Run | None = None) -> tuple[str, float] | None:
    """The published figure a measurement of ``card`` compares with.

    The README's DARK figure (``ap_with_dark``) applies when the run decoded with DARK (``options.dark``, else
    the card's own ``eval.use_dark``); it matters for WiderNaiveHRNet-18 only, published as 67.6 (+DARK 68.4).
    """
    pub = card.published
    if pub.ap is not None:
        dark = card.eval.use_dark if run is None else run.options.get("dark", run.options.get("use_dark",
                                                                                               card.eval.use_dark))
        return "AP", (pub.ap_with_dark if dark and pub.ap_with_dark is not None else pub.ap)
    if pub.pckh is not None:
        return "PCKh", pub.pckh
    return None


def best_accuracy_run(runs: Iterable[Run], card: ModelCard) -> Run | None:
    """The eval run of ``card`` that its published accuracy is compared with.

    Only runs of the published protocol qualify: the README's box source for top-down COCO models (ground-truth
    boxes; a detector-box AP is another number) and the flip test on. Preferred, in order: real data and weights
    over synthetic ones; FP32; then the newest record.
    """
    boxes = card.published.boxes if card.top_down and card.dataset == "coco" else None

    def same_protocol(run: Run) -> bool:
        return (boxes is None or run.col("bbox") in (None, boxes)) and run.options.get("flip", True) is not False

    def key(run: Run) -> tuple:
        return (not run.flags, run.col("precision") in (None, "fp32"))

    return _newest((r for r in runs if r.kind == "eval" and r.model == card.name and r.accuracy
                    and same_protocol(r)), key)


def latency_matches(run: Run, latency: Latency) -> bool:
    """Whether a latency run measures what a published latency does.

    Same runtime family, device class, precision, batch and threads; the model alone, not the pipeline.

    Published runtimes map to kbench backends as: ``Paddle-Lite`` -> ``lite`` on an ARM device (``device``
    ``arm`` or ``options.target`` ``arm``); ``Paddle Inference ... GPU`` -> ``paddle-inference`` on GPU without
    TensorRT, FP32; ``Paddle Inference ... TensorRT`` -> ``paddle-trt`` (or ``paddle-inference`` with
    ``options.tensorrt``). Other backends (ONNX Runtime, torch, TensorRT from ONNX, x86 CPU) have no published
    counterpart.
    """
    if run.kind != "latency" or run.col("scope") not in (None, "model"):
        return False
    backend, device = run.col("backend"), str(run.col("device") or "").lower()
    published_rt = latency.runtime.lower()
    if "lite" in published_rt:
        arm = "arm" in device or str(run.options.get("target", "")).lower() == "arm"
        if backend not in ("lite", "paddle-lite") or not arm:
            return False
    elif "paddle inference" in published_rt:
        if backend not in ("paddle-inference", "paddle-trt") or not device.startswith(("gpu", "cuda")):
            return False
        if ("tensorrt" in published_rt) != run.tensorrt:
            return False
    else:
        return False
    precision = run.col("precision") or "fp32"
    if precision != (latency.precision or "fp32"):
        return False
    if latency.batch_size is not None and run.col("batch") != latency.batch_size:
        return False
    if latency.threads is not None and run.col("threads") != latency.threads:
        return False
    return True


def _accuracy_cell(runs: Sequence[Run], card: ModelCard, metric: str, tol: ReportTolerances,
                   published: float | None = None, measured_metric: str | None = None) -> Cell:
    run = best_accuracy_run(runs, card)
    if published is None:
        pub = published_accuracy(card, run)
        published = pub[1] if pub and pub[0] == metric else None
    measured = None
    if run is not None:
        if measured_metric is not None:
            measured = run.metric(measured_metric)
        elif run.accuracy and run.accuracy[0] == metric:
            measured = run.accuracy[1]
    if measured is None:
        run = None
    return _finish(Cell(metric, published, measured, run, note=f"published: {_README_SOURCE}"), tol)


def _latency_cell(runs: Sequence[Run], card: ModelCard, latency: Latency | None, tol: ReportTolerances) -> Cell:
    if latency is None:
        return Cell("latency")
    run = _newest(r for r in runs if r.model == card.name and latency_matches(r, latency))
    threads = f", {latency.threads} threads" if latency.threads else ""
    batch = f", batch {latency.batch_size}" if latency.batch_size else ""
    note = f"published on {latency.hardware}, {latency.runtime} {latency.precision or ''}{threads}{batch}"
    cell = Cell("latency", latency.ms, run.latency_ms if run else None, run, note=note.replace("  ", " "))
    return _finish(cell, tol)


def _size_cells(runs: Sequence[Run], card: ModelCard) -> list[Cell]:
    from kbench.runners.profile import matches_published

    size = f"{card.input_size[0]}x{card.input_size[1]}"
    run = _newest(r for r in runs if r.kind == "profile" and r.model == card.name
                  and r.col("input_size") in (None, size))
    cells = []
    for metric, name, scale, published in (("params", "params", 1e6, card.published.params_m),
                                           ("gflops", "flops", 1e9, card.published.gflops)):
        value = run.metric(name) if run else None
        measured = None if value is None else value / scale
        cell = Cell(metric, published, measured, run if measured is not None else None,
                    note=f"published: {_README_SOURCE}")
        if measured is not None and published:
            cell.diff = measured / published - 1.0
            cell.exceeded = not matches_published(measured, published)
        cells.append(cell)
    return cells


def _finish(cell: Cell, tol: ReportTolerances) -> Cell:
    if cell.measured is None or cell.published is None:
        return cell
    if cell.metric == "latency":
        cell.diff = cell.measured / cell.published - 1.0
        cell.exceeded = abs(cell.diff) > tol.latency_relative
    else:
        cell.diff = cell.measured - cell.published
        cell.exceeded = abs(cell.diff) > tol.accuracy_points
    return cell


# --- the tables ------------------------------------------------------------------------------------------

def _size_text(card: ModelCard) -> str:
    w, h = card.input_size
    if card.paradigm == "bottom_up":
        return f"{w}"
    return f"{h}x{w}"


def _paradigm(card: ModelCard) -> str:
    return "Top-Down" if card.top_down else "Bottom-Up"


def _order(card: ModelCard) -> tuple:
    # The README lists bottom-up models first, then by name and input size.
    return (card.paradigm != "bottom_up", card.title, _area(card), card.name)


def _readme_lite_latency(card: ModelCard, precision: str) -> Latency | None:
    return next((lat for lat in card.published.latencies if lat.source == _README_SOURCE
                 and "lite" in lat.runtime.lower() and lat.precision == precision), None)


def _measured_models(runs: Sequence[Run]) -> set[str]:
    return {r.model for r in runs if r.model}


def _recommendation_tables(cards, runs, tol) -> list[Table]:
    recommended = [c for c in cards if c.published.params_m is not None or c.published.gflops is not None]
    mobile = Table("mobile", "Mobile recommendation", "The README's mobile recommendation table (keypoint model "
                   "only). Latency: Paddle-Lite FP16, Snapdragon 865, 4 threads, as published.",
                   ["Model", "Input"], ["COCO AP", "Latency FP16 (ms)", "Params (M)", "GFLOPs"])
    server = Table("server", "Server recommendation", "The README's server recommendation table (keypoint model "
                   "only).", ["Model", "Input"], ["COCO AP", "Params (M)", "GFLOPs"])
    # README order: mobile from the smallest input up, server from the largest down.
    for card in sorted(recommended, key=lambda c: (c.backbone.type != "LiteHRNet", _area(c) * (
            1 if c.backbone.type == "LiteHRNet" else -1))):
        info = [card.title, _size_text(card)]
        size = _size_cells(runs, card)
        accuracy = _accuracy_cell(runs, card, "AP", tol)
        if card.backbone.type == "LiteHRNet":
            latency = _latency_cell(runs, card, _readme_lite_latency(card, "fp16"), tol)
            mobile.rows.append(TableRow(card.name, card.title, info, [accuracy, latency, *size]))
        else:
            server.rows.append(TableRow(card.name, card.title, info, [accuracy, *size]))
    return [mobile, server]


def _area(card: ModelCard) -> int:
    return card.input_size[0] * card.input_size[1]


def _tinypose_like(card: ModelCard) -> bool:
    return card.downloads.lite_fp32.url is not None or card.downloads.lite_fp16.url is not None


def _coco_table(cards, runs, tol) -> Table:
    table = Table("coco", "COCO model zoo", "AP on COCO val2017; top-down models with ground-truth boxes, as "
                  "the README's note says.", ["Model", "Paradigm", "Input", "Config"], ["AP (COCO val)"])
    measured = _measured_models(runs)
    for card in sorted(cards, key=_order):
        if card.dataset != "coco" or _tinypose_like(card):
            continue
        if card.published.ap is None and card.name not in measured:
            continue
        table.rows.append(TableRow(card.name, card.title, [card.title, _paradigm(card), _size_text(card), card.name],
                                   [_accuracy_cell(runs, card, "AP", tol)]))
    return table


def _mpii_table(cards, runs, tol) -> Table:
    table = Table("mpii", "MPII model zoo", "PCKh(Mean@0.1) is PaddleDetection's figure, which reads threshold "
                  "0.11: it is compared with kbench's PCKh@0.1_paddledet.", ["Model", "Paradigm", "Input", "Config"],
                  ["PCKh (Mean)", "PCKh (Mean@0.1)"])
    for card in sorted(cards, key=_order):
        if card.dataset != "mpii":
            continue
        table.rows.append(TableRow(card.name, card.title, [card.title, _paradigm(card), _size_text(card), card.name], [
            _accuracy_cell(runs, card, "PCKh", tol),
            _accuracy_cell(runs, card, "PCKh", tol, published=card.published.pckh_at_0_1,
                           measured_metric="PCKh@0.1_paddledet")]))
    return table


def _tinypose_table(cards, runs, tol) -> Table:
    table = Table("tinypose", "PP-TinyPose", "Single-person latency: Paddle-Lite on a Snapdragon 865, 4 threads, "
                  "as published.", ["Model", "Input", "Config"],
                  ["AP (COCO val)", "Latency FP32 (ms)", "Latency FP16 (ms)"])
    for card in sorted((c for c in cards if _tinypose_like(c)), key=_area):
        h, w = card.input_size[1], card.input_size[0]
        table.rows.append(TableRow(card.name, card.title, [card.title, f"{h}*{w}", card.name], [
            _accuracy_cell(runs, card, "AP", tol),
            _latency_cell(runs, card, _readme_lite_latency(card, "fp32"), tol),
            _latency_cell(runs, card, _readme_lite_latency(card, "fp16"), tol)]))
    return table


def _column_key(lat: Latency) -> tuple:
    return (lat.hardware, lat.runtime, lat.precision or "", lat.threads or 0)


def _column_title(lat: Latency, server: bool) -> str:
    if server:
        runtime = lat.runtime.replace("Paddle Inference ", "").strip()
        return f"{runtime} {lat.precision.upper()}" if lat.precision else runtime
    return f"{lat.hardware}, {lat.threads} thread{'s' if (lat.threads or 0) > 1 else ''}"


def _benchmark_tables(cards, runs, tol) -> list[Table]:
    tables = []
    for server, table_id, title, note in (
            (True, "benchmark-server", "KeypointBenchmark: server",
             "Published: NVIDIA T4, batch size 8, as KeypointBenchmark.md gives it. Measured: the median time of "
             "one batch-8 run on the machine in the record (Paddle Inference; Paddle-TensorRT for the TensorRT "
             "columns)."),
            (False, "benchmark-mobile", "KeypointBenchmark: mobile",
             "Published: Paddle-Lite v2.10-rc on the phones named, as KeypointBenchmark.md gives it. Measured: "
             "Paddle Lite on an ARM device, same thread count.")):
        columns: dict[tuple, Latency] = {}
        for card in cards:
            for lat in card.published.latencies:
                if lat.source == KEYPOINT_BENCHMARK_SOURCE and ("nvidia" in lat.hardware.lower()) == server:
                    columns.setdefault(_column_key(lat), lat)
        if not columns:
            continue
        # Python deploy before C++ deploy, plain GPU before TensorRT, FP32 before FP16 (KeypointBenchmark's
        # order); the mobile columns keep the order the cards transcribe.
        keys = sorted(columns, key=lambda k: (server and "c++" in k[1].lower(), server and "tensorrt" in k[1].lower(),
                                              server and k[2] == "fp16")) if server else list(columns)
        table = Table(table_id, title, note, ["Model", "Input"], [_column_title(columns[k], server) for k in keys])
        for card in sorted(cards, key=_order):
            mine = {_column_key(lat): lat for lat in card.published.latencies
                    if lat.source == KEYPOINT_BENCHMARK_SOURCE}
            if not any(k in mine for k in keys):
                continue
            table.rows.append(TableRow(card.name, card.title, [card.title, _size_text(card)],
                                       [_latency_cell(runs, card, mine.get(k), tol) for k in keys]))
        tables.append(table)
    return tables


def readme_tables(runs: Sequence[Run], tolerances: ReportTolerances | None = None,
                  cards: Sequence[ModelCard] | None = None) -> list[Table]:
    """Every README table, filled with the measured numbers of ``runs``.

    Args:
        runs: the measurements (any kinds; each cell picks the run it needs).
        tolerances: when a difference is coloured (default :class:`ReportTolerances`).
        cards: the model cards (default: every card kbench ships).

    Returns:
        mobile, server, COCO, MPII, PP-TinyPose, KeypointBenchmark server and mobile tables, in that order.
    """
    tol = tolerances or ReportTolerances()
    cards = list(list_cards() if cards is None else cards)
    return [*_recommendation_tables(cards, runs, tol), _coco_table(cards, runs, tol), _mpii_table(cards, runs, tol),
            _tinypose_table(cards, runs, tol), *_benchmark_tables(cards, runs, tol)]


@dataclass(frozen=True)
class AccuracyFor:
    """The accuracy shown beside a latency measurement, and where it comes from.

    Attributes:
        metric: ``AP`` or ``PCKh`` (points).
        value: the figure.
        run: the eval run it comes from (None: the published figure).
        source: ``same runtime`` (an eval on the latency run's backend, device and precision), ``other
            runtime`` (the model's best eval on another runtime) or ``published``.
    """

    metric: str
    value: float
    run: Run | None
    source: str


def accuracy_for(run: Run, runs: Sequence[Run], card: ModelCard | None) -> AccuracyFor | None:
    """The accuracy that goes with a latency (or any non-eval) run of a zoo model.

    An eval of the same model on the same backend, device and precision wins; else the model's
    :func:`best_accuracy_run`; else the card's published figure. None when there is none of these.
    """
    if card is None:
        return None
    same = best_accuracy_run((r for r in runs if all(r.col(c) == run.col(c) for c in ("backend", "device",
                                                                                     "precision"))), card)
    if same is not None:
        return AccuracyFor(*same.accuracy, same, "same runtime")
    other = best_accuracy_run(runs, card)
    if other is not None:
        return AccuracyFor(*other.accuracy, other, "other runtime")
    pub = published_accuracy(card)
    return AccuracyFor(pub[0], pub[1], None, "published") if pub else None
