"""One run record as the reports see it: what was measured, where, by what, and whether the number is real.

The reports (the HTML report, the leaderboard site) never read a record's JSON layout themselves: they
wrap each record in a :class:`Run`, whose columns come from :func:`kbench.results.frame.record_row` (the
column contract the store and the gate share) and whose extra views (the accuracy in points, the raw
latency samples, the synthetic-data flags, the command that made it) are defined here once.

Standard library only; records come from :func:`kbench.results.frame.load_records`.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kbench.results.frame import record_row

__all__ = ["Run", "runs_from_records", "KEYPOINT_PREFIXES", "MPII_PARTS", "TENSORRT_BACKENDS", "runtime_label",
           "backend_label"]

#: Per-keypoint metric names start with one of these (``AP.nose``, ``PCKh.head``); eval records that carry
#: them get per-keypoint bars.
KEYPOINT_PREFIXES = ("AP.", "PCKh.")

#: MPII's per-part PCKh metrics, which every MPII eval record has: the per-joint bars fall back to them.
MPII_PARTS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")

# Where a latency record may keep its raw per-iteration times (newest layout first); a record without
# them is drawn from its summary statistics.
_SAMPLE_KEYS = (("samples_ms",), ("raw", "samples_ms"), ("samples", "ms"), ("options", "samples_ms"),
                ("metrics_raw", "samples_ms"))


def _dig(obj: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _clean(value: Any) -> Any:
    # pandas-free NaN/None unification: every "no value" is None for templates and JSON alike.
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


#: Backends that are TensorRT by name (``kbench latency``'s Paddle-TensorRT and ONNX Runtime TensorRT-provider
#: columns, and kbench's own TensorRT runtime).
TENSORRT_BACKENDS = ("tensorrt", "paddle-trt", "onnxruntime-trt")


def backend_label(backend: str | None, tensorrt: bool = False) -> str:
    """The backend's name, with ``+trt`` where TensorRT was switched on by an option rather than by the name."""
    name = backend or "?"
    if tensorrt and backend not in TENSORRT_BACKENDS:
        name += "+trt"
    return name


def runtime_label(backend: str | None, device: str | None, precision: str | None, tensorrt: bool = False) -> str:
    """Short label of a runtime configuration, e.g. ``"onnxruntime cpu fp32"`` or ``"paddle-trt gpu fp16"``.

    Args:
        backend: the backend name (``options.backend``).
        device: ``cpu``, ``gpu``, ``arm``...
        precision: ``fp32``, ``fp16``...
        tensorrt: whether the run went through TensorRT.
    """
    return " ".join(x for x in (backend_label(backend, tensorrt), device, precision) if x)


@dataclass(frozen=True)
class Run:
    """A run record with its frame columns and the derived views the reports need.

    Build it with :func:`runs_from_records`. ``record`` is the parsed record as read (with ``_path``),
    ``row`` its :func:`~kbench.results.frame.record_row` columns.
    """

    record: dict = field(repr=False)
    row: dict = field(repr=False)

    # -- identity and configuration ---------------------------------------------------------------------
    @property
    def record_id(self) -> str:
        """The record's stable id (16 hex digits)."""
        return self.row["record_id"]

    @property
    def anchor(self) -> str:
        """HTML id of this record's provenance entry."""
        return f"rec-{self.record_id}"

    @property
    def kind(self) -> str:
        """``eval``, ``latency`` or ``profile``."""
        return self.row["kind"]

    def col(self, name: str) -> Any:
        """A frame column (``model``, ``backend``, ``machine``...), None where the record lacks it."""
        return _clean(self.row.get(name))

    @property
    def model(self) -> str | None:
        """The zoo card name, None for records of a predictions file."""
        return self.col("model")

    @property
    def options(self) -> dict:
        """The record's options."""
        return self.record.get("options") or {}

    @property
    def env(self) -> dict:
        """The record's environment (machine, library versions, commit)."""
        return self.record.get("env") or {}

    @property
    def metrics(self) -> dict:
        """The record's metrics (name -> float)."""
        return self.record.get("metrics") or {}

    @property
    def path(self) -> str | None:
        """The file the record was read from."""
        return self.record.get("_path")

    @property
    def created(self) -> str:
        """When the record was written (ISO 8601 text, as stored)."""
        return str(self.record.get("created") or "")

    @property
    def tensorrt(self) -> bool:
        """Whether the run went through TensorRT (a TensorRT backend, or ``options.tensorrt``)."""
        return self.col("backend") in TENSORRT_BACKENDS or bool(self.options.get("tensorrt"))

    @property
    def runtime(self) -> str:
        """Short runtime label: backend, device and precision."""
        return runtime_label(self.col("backend"), self.col("device"), self.col("precision"), self.tensorrt)

    # -- honesty flags ----------------------------------------------------------------------------------
    @property
    def synthetic_data(self) -> bool:
        """Measured on kbench's built-in synthetic sample rather than a real data set."""
        inputs = self.record.get("inputs") or {}
        dataset = str(self.col("dataset") or "")
        return bool(inputs.get("sample")) or dataset.startswith("sample-") or bool(self.options.get("synthetic"))

    @property
    def random_weights(self) -> bool:
        """Run with seeded random weights rather than a trained checkpoint."""
        weights = self.options.get("weights")
        if isinstance(weights, dict):
            return bool(weights.get("random")) or str(weights.get("source", "")).startswith("random")
        return isinstance(weights, str) and "random" in weights.lower()

    @property
    def flags(self) -> list[str]:
        """Warnings a reader must see beside the number: only accuracy depends on real data and weights."""
        if self.kind != "eval":
            return []
        out = []
        if self.synthetic_data:
            out.append("synthetic data")
        if self.random_weights:
            out.append("random weights")
        return out

    # -- numbers ----------------------------------------------------------------------------------------
    def metric(self, name: str) -> float | None:
        """One metric as a float, None when absent or NaN."""
        value = self.metrics.get(name)
        if value is None:
            return None
        value = float(value)
        return None if math.isnan(value) else value

    @property
    def accuracy(self) -> tuple[str, float] | None:
        """The headline accuracy in points: ``("AP", 76.9)`` for COCO (stored 0-1), ``("PCKh", 90.6)`` for MPII."""
        if self.kind != "eval":
            return None
        evaluator = self.col("evaluator") or ""
        if evaluator.startswith("mpii") or ("PCKh" in self.metrics and "AP" not in self.metrics):
            value = self.metric("PCKh")
            return None if value is None else ("PCKh", value)
        value = self.metric("AP")
        return None if value is None else ("AP", 100.0 * value)

    @property
    def latency_ms(self) -> float | None:
        """Median latency in milliseconds (latency records)."""
        return self.metric("median_ms") if self.kind == "latency" else None

    @property
    def samples_ms(self) -> list[float] | None:
        """Raw per-iteration times in ms where the record keeps them, else None."""
        for keys in _SAMPLE_KEYS:
            value = _dig(self.record, keys)
            if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
                return [float(v) for v in value]
        return None

    @property
    def op_profile(self) -> dict | None:
        """The per-operator profile of a latency record (``kbench latency --profile``: ``options.profile``), None
        when the record has none; its ``ops`` rows hold ``op``, ``calls``, ``total_ms``, ``mean_ms``, ``share_pct``."""
        def number(value) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

        prof = self.options.get("profile") if self.kind == "latency" else None
        if not isinstance(prof, dict) or not isinstance(prof.get("ops"), list) or \
                not isinstance(prof.get("profiler"), str) or not number(prof.get("runs")) or \
                not number(prof.get("total_ms")):
            return None
        rows = [o for o in prof["ops"] if isinstance(o, dict) and isinstance(o.get("op"), str)
                and all(number(o.get(k)) for k in ("calls", "total_ms", "mean_ms", "share_pct"))]
        if not rows:
            return None
        run_ms = prof.get("profiled_run_ms")
        return {"warmup_runs": 0, "time": "", **prof, "ops": rows,
                "profiled_run_ms": run_ms if number(run_ms) else None}

    def keypoint_scores(self) -> tuple[str, dict[str, float]] | None:
        """Per-keypoint accuracy: ``("AP", {"nose": 71.2, ...})`` in points, or None when the record has none.

        Metrics named ``AP.<joint>`` (0-1, shown as points) or ``PCKh.<joint>`` (percent) are used when
        present; an MPII record without them falls back to its per-part PCKh (Head, Shoulder, ...).
        """
        if self.kind != "eval":
            return None
        for prefix in KEYPOINT_PREFIXES:
            scale = 100.0 if prefix == "AP." else 1.0
            found = {name[len(prefix):]: scale * v for name in self.metrics
                     if name.startswith(prefix) and (v := self.metric(name)) is not None}
            if found:
                return prefix[:-1], found
        parts = {name: v for name in MPII_PARTS if (v := self.metric(name)) is not None}
        if len(parts) == len(MPII_PARTS):
            return "PCKh", parts
        return None

    # -- provenance -------------------------------------------------------------------------------------
    @property
    def command(self) -> tuple[str, bool]:
        """The command that made the record, and whether it is exact.

        ``(text, True)`` when the record stores it (``command``/``argv``), else ``(text, False)`` rebuilt from the
        options (kbench records do not store their command line yet).
        """
        for value in (self.record.get("command"), self.options.get("command"), self.env.get("argv"),
                      self.record.get("argv")):
            if isinstance(value, list) and value:
                return shlex.join(str(v) for v in value), True
            if isinstance(value, str) and value:
                return value, True
        return self._rebuilt_command(), False

    def _rebuilt_command(self) -> str:
        opts, inputs = self.options, self.record.get("inputs") or {}
        words = ["kbench", self.kind]
        if self.kind == "eval":
            sample = inputs.get("sample")
            if isinstance(sample, dict):
                words += ["--sample", str(sample.get("images", ""))]
            for flag, key in (("--predictions", "predictions"), ("--ann", "ann")):
                item = inputs.get(key)
                if isinstance(item, dict) and item.get("path"):
                    words += [flag, str(item["path"])]
        keys = {"eval": ("model", "backend", "device", "precision", "bbox", "flavour"),
                "latency": ("model", "backend", "device", "precision", "batch", "threads", "scope"),
                "profile": ("model",)}.get(self.kind, ("model",))
        for key in keys:
            value = opts.get(key)
            if value is not None and value is not False:
                words += [f"--{key}", str(value)]
        if self.kind == "profile" and self.col("input_size"):
            words += ["--input", str(self.col("input_size"))]
        return shlex.join(words)

    def describe(self) -> dict:
        """Provenance as plain data for templates and the JSON export: machine, versions, command, options."""
        command, exact = self.command
        env = self.env
        return {
            "record_id": self.record_id,
            "kind": self.kind,
            "created": self.created,
            "path": self.path,
            "machine": self.col("machine"),
            "machine_label": self.col("machine_label"),
            "git_commit": env.get("git_commit"),
            "python": env.get("python"),
            "platform": env.get("platform"),
            "libraries": dict(env.get("libraries") or {}),
            "command": command,
            "command_exact": exact,
            "options": {k: v for k, v in self.options.items() if k not in ("samples_ms", "profile")},
            "profile": self.op_profile,
            "inputs": self.record.get("inputs") or {},
            "metrics": {k: _clean(v) for k, v in self.metrics.items()},
            "flags": self.flags,
            "synthetic_data": self.synthetic_data,
            "random_weights": self.random_weights,
        }


def runs_from_records(records: Iterable[dict]) -> list[Run]:
    """Wrap parsed records (e.g. from :func:`kbench.results.frame.load_records`) as :class:`Run` objects.

    Args:
        records: parsed run records.

    Returns:
        One :class:`Run` per record, in the same order.
    """
    return [Run(record=rec, row=record_row(rec)) for rec in records]
