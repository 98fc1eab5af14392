"""The regression gate's logic: pair baseline and current records, compare metric by metric, decide.

Pure Python over parsed records (no pandas, no I/O); ``kbench gate`` reads the files and renders the
result with :mod:`kbench.reports.gate_markdown` and :mod:`kbench.reports.junit`.

**Pairing.** A baseline and a current record are compared when they agree on every column of
:data:`kbench.results.frame.CONFIG_COLUMNS` (kind, model, backend, device, precision, batch, threads,
scope, bbox, flip, input size, evaluator, dataset), i.e. when they measure the same thing. The
machine is *not* part of the key (a stored baseline comes from another run), but a latency pair
measured on two different machines is flagged in the notes. When one side has several records of a
configuration, the newest (``created``) is used and the others are counted in the notes.

**What is guarded, and how** (:func:`metric_rule`):

==========================  ============  ==========================================================
metrics                     better        fails when
==========================  ============  ==========================================================
COCO ``AP* AR*`` (0-1)      higher        it drops by more than ``max_ap_drop`` points (x 100 of the
                                          0-1 value: 0.2 points = 0.002)
MPII ``PCKh*`` and parts    higher        it drops by more than ``max_ap_drop`` points (already
                                          percent: 0.2 points = 0.2)
``median_ms`` (and          lower         it rises by more than ``max_latency_increase`` (relative)
``<phase>_median_ms``)                    **and** by more than the measured spread (below)
``throughput``,             higher        it drops by more than ``max_latency_increase`` (relative);
``*_per_s``                               only in records without ``median_ms``, since kbench derives
                                          rates from a time (throughput from the *mean*)
peak memory (``*memory*``,  lower         it rises by more than ``max_memory_increase`` (relative, 20 %)
``*_mb``, ``*_bytes``)
``params``, ``flops``       exact         it changes at all (unless ``allow_size_change``)
==========================  ============  ==========================================================

Other metrics (``mean_ms``, ``p90_ms``, ``std_ms``, ...) are not guarded: the gate compares medians,
as a mean follows outliers. **The noise rule:** the spread of a latency run is its ``iqr_ms`` if the
record has it, else ``std_ms``, else ``p90_ms - median_ms``; a pair's spread is the larger of the two
runs'. A latency increase that is within the spread is noise and passes, however large in percent;
without any spread field the relative tolerance alone decides.

**Missing measurements:** a guarded baseline metric whose configuration or metric is absent from the
current records fails as ``missing`` (``allow_missing`` turns that into a pass that is still
reported). Current configurations with no baseline are listed as new and never fail.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from kbench.results.frame import CONFIG_COLUMNS, record_row

__all__ = ["Tolerances", "MetricRule", "Check", "GateReport", "metric_rule", "compare", "config_label",
           "spread_ms", "parse_percent"]

_COCO_NAMES = {"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl", "AP_easy", "AP_medium",
               "AP_hard"}
_MPII_PARTS = {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle"}
# Points are compared with this slack so that 0.7 - 0.698 (0.2 points in binary floating point) is "0.2".
_EPS_POINTS = 1e-9


@dataclass(frozen=True)
class Tolerances:
    """How much each metric family may move before the gate fails.

    Attributes:
        max_ap_drop: accuracy drop allowed, in points as the README prints them (AP 74.9): 0.2 allows
            0.002 on COCO's 0-1 values and 0.2 on MPII's percentages.
        max_latency_increase: relative median-latency increase allowed (0.10 = 10 %), which must in addition
            exceed the measured spread to fail; also the relative throughput drop allowed.
        max_memory_increase: relative peak-memory increase allowed (20 %: two identical latency runs here
            differed by 8 % in peak RSS, which follows the allocator and import order).
        allow_size_change: params/FLOPs changes pass (they are still reported).
        allow_missing: guarded baseline metrics absent from the current records pass (still reported).
        noise_aware: apply the spread rule to latency and throughput (off: the percentage alone decides).
    """

    max_ap_drop: float = 0.2
    max_latency_increase: float = 0.10
    max_memory_increase: float = 0.20
    allow_size_change: bool = False
    allow_missing: bool = False
    noise_aware: bool = True

    def describe(self) -> str:
        """One line for reports: the tolerances in force."""
        size = "may change" if self.allow_size_change else "exact"
        return (f"accuracy -{self.max_ap_drop:g} pt, latency +{self.max_latency_increase * 100:g} %"
                f"{' beyond the spread' if self.noise_aware else ''}, memory +{self.max_memory_increase * 100:g} %, "
                f"params/FLOPs {size}{', missing allowed' if self.allow_missing else ''}")


@dataclass(frozen=True)
class MetricRule:
    """How one metric is judged.

    Attributes:
        family: ``accuracy``, ``latency``, ``throughput``, ``memory`` or ``size``.
        higher_is_better: the direction of "better" (None for ``size``: any change counts).
        points: points per unit for accuracy (100 for 0-1 values, 1 for percent); 1 otherwise.
    """

    family: str
    higher_is_better: bool | None
    points: float = 1.0


def metric_rule(name: str) -> MetricRule | None:
    """The rule for metric ``name``, or None when the gate does not guard it (see the module docstring)."""
    if name in _COCO_NAMES or name.startswith(("AP", "AR")):
        return MetricRule("accuracy", True, 100.0)
    if name in _MPII_PARTS or name.startswith("PCK"):
        return MetricRule("accuracy", True, 1.0)
    if name == "median_ms" or name.endswith("_median_ms"):
        return MetricRule("latency", False)
    if name in ("throughput", "fps") or name.endswith(("_per_s", "_throughput")):
        return MetricRule("throughput", True)
    lowered = name.lower()
    if "memory" in lowered or lowered.endswith(("_mb", "_mib", "_bytes")):
        return MetricRule("memory", False)
    if name in ("params", "flops"):
        return MetricRule("size", None)
    return None


def parse_percent(text: str | float) -> float:
    """``"10%"``, ``"10"`` or ``10`` -> 0.10 (always percent); raises ValueError on anything else or < 0."""
    value = float(str(text).strip().removesuffix("%").strip())
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"expected a percentage >= 0, got {text!r}")
    return value / 100.0


def spread_ms(metrics: dict, name: str = "median_ms") -> float | None:
    """The measured spread of latency metric ``name`` in one record: IQR, else std, else p90 - median.

    Args:
        metrics: a record's metrics.
        name: ``median_ms`` or ``<phase>_median_ms``; the spread fields share its prefix.

    Returns:
        The spread in ms, or None when the record has no spread field.
    """
    prefix = name[: -len("median_ms")]
    for key in ("iqr_ms", "std_ms"):
        value = metrics.get(prefix + key)
        if _finite(value):
            return float(value)
    p90, median = metrics.get(prefix + "p90_ms"), metrics.get(name)
    if _finite(p90) and _finite(median):
        return max(float(p90) - float(median), 0.0)
    return None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Check:
    """One compared metric of one configuration.

    Attributes:
        config: the configuration's column values (:data:`CONFIG_COLUMNS`).
        label: the configuration in words (model, then the conditions that tell it apart).
        metric: the metric's name as records hold it.
        rule: how it was judged.
        baseline, current: the values as records hold them (None: absent).
        change: current - baseline in display units: points (accuracy), percent (latency, throughput,
            memory), the raw difference (size); None when a side is missing.
        tolerance: the allowed change in words (``-0.2 pt``, ``+10 % and > spread``, ``exact``).
        spread: latency/throughput: the pair's spread in the metric's unit, else None.
        status: ``pass``, ``fail`` or ``missing``.
        failed: whether this check fails the gate (``missing`` fails unless allowed).
        message: one sentence saying why.
    """

    config: dict
    label: str
    metric: str
    rule: MetricRule
    baseline: float | None
    current: float | None
    change: float | None
    tolerance: str
    spread: float | None
    status: str
    failed: bool
    message: str

    @property
    def model(self) -> str | None:
        """The zoo model (None for records of ``kbench eval --predictions``)."""
        return self.config.get("model")

    @property
    def kind(self) -> str:
        """The records' kind."""
        return self.config.get("kind") or "?"


@dataclass
class GateReport:
    """Everything the gate found; :attr:`exit_code` is what ``kbench gate`` returns."""

    checks: list[Check]
    tolerances: Tolerances
    baseline_records: int
    current_records: int
    new: list[str] = field(default_factory=list)  #: labels of current configurations with no baseline
    notes: list[str] = field(default_factory=list)
    unguarded: list[str] = field(default_factory=list)  #: metric names seen but not gated
    paired: int = 0  #: baseline configurations that have a current record

    @property
    def regressions(self) -> list[Check]:
        """The checks that fail the gate."""
        return [c for c in self.checks if c.failed]

    @property
    def exit_code(self) -> int:
        """1 when anything regressed or is missing (and not allowed), else 0."""
        return 1 if self.regressions else 0


def config_label(config: dict) -> str:
    """A configuration in words: ``tinypose_128x96 latency onnxruntime/cpu/fp32 batch 1 threads 4``.

    Records without a model (``kbench eval --predictions``) are labelled ``(predictions)``.
    """
    parts = [config.get("model") or "(predictions)", str(config.get("kind") or "")]
    rt = "/".join(str(config[k]) for k in ("backend", "device", "precision") if config.get(k) is not None)
    if rt:
        parts.append(rt)
    if config.get("evaluator") is not None:
        parts.append(str(config["evaluator"]))
    for key, word in (("batch", "batch"), ("threads", "threads"), ("scope", "scope"), ("bbox", "bbox"),
                      ("input_size", "input"), ("dataset", "on")):
        if config.get(key) is not None:
            parts.append(f"{word} {config[key]}")
    if config.get("flip") is not None:
        parts.append("flip" if config["flip"] else "no flip")
    return " ".join(p for p in parts if p)


def _created(record: dict) -> _dt.datetime:
    try:
        stamp = _dt.datetime.fromisoformat(str(record.get("created")).replace("Z", "+00:00"))
    except ValueError:
        return _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=_dt.timezone.utc)


def _group(records: Iterable[dict], side: str, notes: list[str]) -> dict[tuple, tuple[dict, dict]]:
    groups: dict[tuple, list[tuple[dict, dict]]] = {}
    for rec in records:
        row = record_row(rec)
        key = tuple(row[c] for c in CONFIG_COLUMNS)
        groups.setdefault(key, []).append((rec, row))
    chosen = {}
    for key, items in groups.items():
        items.sort(key=lambda item: _created(item[0]))
        if len(items) > 1:
            notes.append(f"{side}: {len(items)} records of {config_label(dict(zip(CONFIG_COLUMNS, key)))}; "
                         f"the newest ({items[-1][0].get('created')}) is compared")
        chosen[key] = items[-1]
    return chosen


def _fmt_pct(x: float) -> str:
    return f"{x * 100:g} %"


def _judge(name: str, rule: MetricRule, base: float, cur: float, base_metrics: dict, cur_metrics: dict,
           tol: Tolerances) -> tuple[float, str, float | None, bool, str]:
    """(change, tolerance text, spread, failed, message) for two present values."""
    if rule.family == "accuracy":
        change = (cur - base) * rule.points
        failed = -change > tol.max_ap_drop + _EPS_POINTS
        verb = f"dropped {-change:.2f} pt" if change < 0 else f"changed {change:+.2f} pt"
        return change, f"-{tol.max_ap_drop:g} pt", None, failed, (
            f"{name} {verb} (allowed: -{tol.max_ap_drop:g} pt)")
    if rule.family == "size":
        change = cur - base
        failed = change != 0 and not tol.allow_size_change
        return change, "may change" if tol.allow_size_change else "exact", None, failed, (
            f"{name} changed from {base:,.0f} to {cur:,.0f}" if change else f"{name} unchanged")
    if base == 0:
        return math.nan, "", None, False, f"{name}: baseline is 0, no relative change"
    if rule.family == "memory":
        rel = (cur - base) / base
        failed = rel > tol.max_memory_increase
        allowed = f"+{_fmt_pct(tol.max_memory_increase)}"
        return rel * 100, allowed, None, failed, f"{name} changed {rel * 100:+.1f} % (allowed: {allowed})"
    # latency and throughput: relative change in the bad direction, and (noise rule, latency) beyond the spread
    worse = (cur - base) if rule.family == "latency" else (base - cur)
    rel_worse = worse / base
    spread = None
    if rule.family == "latency":
        spreads = [s for s in (spread_ms(base_metrics, name), spread_ms(cur_metrics, name)) if s is not None]
        spread = max(spreads) if spreads else None
    beyond_pct = rel_worse > tol.max_latency_increase
    beyond_noise = not tol.noise_aware or spread is None or worse > spread
    failed = beyond_pct and beyond_noise
    allowed = f"+{_fmt_pct(tol.max_latency_increase)}" if rule.family == "latency" else \
        f"-{_fmt_pct(tol.max_latency_increase)}"
    tolerance = allowed + (" and > spread" if tol.noise_aware and rule.family == "latency" else "")
    change = (cur - base) / base * 100
    if failed:
        why = f"beyond the allowed {allowed}" + (f" and the spread {spread:.3g}" if tol.noise_aware and spread else "")
    elif beyond_pct:
        why = f"within the measured spread {spread:.3g}: noise"
    else:
        why = f"within {allowed}"
    return change, tolerance, spread, failed, f"{name} {change:+.1f} %: {why}"


def compare(baseline: Iterable[dict], current: Iterable[dict], tolerances: Tolerances | None = None) -> GateReport:
    """Compare current records against baseline records.

    Args:
        baseline: the reference run records (e.g. :func:`kbench.results.frame.load_records` of a stored folder).
        current: the records of the run under test.
        tolerances: what may move how far (default :class:`Tolerances`).

    Returns:
        A :class:`GateReport`: one :class:`Check` per guarded metric of every baseline configuration, in
        baseline order; failed checks have ``failed`` set; ``exit_code`` is 1 if any did.
    """
    tol = tolerances or Tolerances()
    baseline, current = list(baseline), list(current)
    notes: list[str] = []
    base_groups = _group(baseline, "baseline", notes)
    cur_groups = _group(current, "current", notes)
    checks: list[Check] = []
    unguarded: dict[str, None] = {}
    for key, (brec, brow) in base_groups.items():
        config = dict(zip(CONFIG_COLUMNS, key))
        label = config_label(config)
        pair = cur_groups.get(key)
        crec, crow = pair if pair else (None, None)
        bmetrics = brec.get("metrics") or {}
        cmetrics = (crec.get("metrics") or {}) if crec else {}
        if crec and config.get("kind") == "latency" and brow["machine"] != crow["machine"]:
            notes.append(f"{label}: baseline measured on {brow['machine_label']}, current on {crow['machine_label']}")
        for name, bval in bmetrics.items():
            rule = metric_rule(name)
            if rule is not None and rule.family == "throughput" and _finite(bmetrics.get("median_ms")):
                rule = None  # a rate derived from the timing that median_ms already guards (throughput: the mean)
            if rule is None:
                unguarded.setdefault(name, None)
                continue
            if not _finite(bval):
                continue  # nothing to defend
            cval = cmetrics.get(name)
            if not _finite(cval):
                where = "no current record of this configuration" if crec is None else \
                    f"the current record has no {'value for ' if name in cmetrics else ''}{name}"
                checks.append(Check(config, label, name, rule, float(bval), None, None, "", None, "missing",
                                    not tol.allow_missing, f"{name} is missing: {where}"))
                continue
            change, tolerance, spread, failed, message = _judge(name, rule, float(bval), float(cval), bmetrics,
                                                                cmetrics, tol)
            checks.append(Check(config, label, name, rule, float(bval), float(cval), change, tolerance, spread,
                                "fail" if failed else "pass", failed, message))
    new = [config_label(dict(zip(CONFIG_COLUMNS, key))) for key in cur_groups if key not in base_groups]
    paired = sum(key in cur_groups for key in base_groups)
    return GateReport(checks, tol, len(baseline), len(current), new=new, notes=notes, unguarded=list(unguarded),
                      paired=paired)
