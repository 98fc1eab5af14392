"""Measurements as data: one frozen spec per kind of measurement.

A spec says everything that defines one measurement (model, data, box source, runtime, device, precision,
batch, threads, weights, flip, evaluator options, budgets, ...), with fields named as the command's flags
(``kbench eval --predictions P --ann A`` is ``EvalSpec(predictions=P, ann=A)``). It

* validates itself when built, with the one-line :class:`~kbench.errors.InputError` the command prints;
* serialises to the record's ``options["spec"]`` and back: ``Spec.from_options(record["options"]) == spec``;
* has a stable :attr:`~Spec.cell_id` (a hash of its canonical form and the kbench version) that the results
  store can look up, so a sweep can tell which cells it has already measured.

:func:`kbench.run` runs a spec and returns its record. This module imports only the standard library (and
cards for the checks that need one), so building a spec costs nothing and ``kbench --help`` stays light.

Fields that say where outputs go (``results``, ``out``) belong to the spec, because the command takes them as
flags, but not to its identity: two runs that differ only in where they wrote are the same measurement.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

from kbench.errors import InputError

__all__ = ["Spec", "EvalSpec", "LatencySpec", "ProfileSpec", "ConformanceSpec", "ExportSpec", "BenchmarkSpec",
           "SPEC_KINDS",
           "spec_from_options", "parse_sigmas", "parse_warmup", "parse_input_size", "parse_batch"]

EVAL_METRICS = ("auto", "coco", "mpii")
COCO_FLAVOURS = ("pycocotools", "xtcocotools", "crowdpose")
DEVICES = ("cpu", "gpu")
PRECISIONS = ("fp32", "fp16")
EXPORT_TARGETS = ("paddle-inference", "onnx", "lite", "tensorrt")


# --- parsing shared by specs and commands ------------------------------------------------------------------------

def parse_sigmas(value) -> tuple | None:
    """Sigmas from ``0.026,0.025,...``, from a file holding a JSON list or whitespace/comma-separated numbers, or
    from a sequence of numbers; None stays None (COCO's 17)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        values, source = value, "sigmas"
    else:
        text = str(value)
        p = Path(text)
        if p.is_file():
            raw = p.read_text(encoding="utf-8").strip()
            try:
                values = json.loads(raw)
            except ValueError:
                values = raw.replace(",", " ").split()
            source = str(p)
        else:
            values, source = text.split(","), "--sigmas"
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"{source}: sigmas must be numbers, e.g. 0.026,0.025,0.025") from None


def parse_warmup(text) -> tuple[int | None, float | None]:
    """``"10"`` (runs) -> ``(10, None)``; ``"1.5s"`` (seconds) -> ``(None, 1.5)``."""
    t = str(text).strip().lower()
    if t.endswith("s"):
        try:
            value = float(t[:-1])
        except ValueError:
            raise InputError(f"expected warm-up runs (10) or seconds (2s); got {text!r}") from None
        if not (value >= 0 and value != float("inf")):
            raise InputError(f"expected a warm-up of 0 seconds or more, got {text!r}")
        return None, value
    try:
        runs = int(t)
    except ValueError:
        raise InputError(f"expected warm-up runs (10) or seconds (2s); got {text!r}") from None
    if runs < 0:
        raise InputError(f"expected 0 or more warm-up runs, got {runs}")
    return runs, None


def parse_input_size(text: str | None) -> tuple[int, int] | None:
    """``"192x256"`` -> ``(192, 256)`` (width, height); None stays None."""
    if text is None:
        return None
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise InputError(f"--input must be WIDTHxHEIGHT, e.g. 192x256; got {text!r}") from None
    if w < 32 or h < 32:
        raise InputError(f"--input {text}: both sides must be at least 32 pixels")
    return w, h


def parse_batch(value) -> int | None:
    """``dynamic`` (or None) -> None; a positive integer otherwise."""
    if value is None or value == "dynamic":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(f"--batch must be a positive number or 'dynamic', got {value!r}") from None
    if isinstance(value, float) and value != number:
        raise InputError(f"--batch must be a positive number or 'dynamic', got {value!r}")
    if number < 1:
        raise InputError(f"--batch must be at least 1, got {number}")
    return number


def check_weights(weights) -> None:
    """Raise the one-line InputError of a ``--weights`` that names a missing local file, a ``.pdparams`` file that
    cannot be a checkpoint (empty, not a pickle) or a URL scheme kbench does not fetch at once, before a framework
    loads; ``zoo``, ``random`` and http(s) URLs pass (a download is checked when it is fetched). Not part of
    :meth:`Spec.validate`: a spec may name a file of another machine."""
    if weights is None or weights in ("zoo", "random"):
        return
    import urllib.parse

    from kbench.weights.download import split_pin

    if split_pin(str(weights))[0] == "zoo":  # the card's checkpoint, pinned: checked when it is fetched
        return

    if urllib.parse.urlsplit(str(weights)).scheme.lower() in ("http", "https"):
        return
    from kbench.weights.checkpoint import _sniff
    from kbench.weights.download import resolve_weights

    path = resolve_weights(str(weights))  # a local path: checked, never fetched
    if path.suffix == ".pdparams" and path.is_file():
        try:
            with open(path, "rb") as fh:
                problem = _sniff(fh.read(16))
        except OSError as exc:
            problem = f"cannot read ({exc.strerror or exc})"
        if problem is not None:
            raise InputError(f"{path}: {problem}")


# --- field checks --------------------------------------------------------------------------------------------------

def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _positive(name: str, value, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a whole number >= 1; got {value!r}")


def _positive_float(name: str, value) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise InputError(f"{name} must be a positive number; got {value!r}")


def _text(name: str, value, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, str) or not value:
        raise InputError(f"{name} must be a non-empty text; got {value!r}")


def _flag(name: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, bool):
        raise InputError(f"{name} must be true or false; got {value!r}")


def _plain(value):
    """A field value as JSON holds it (tuples as lists, paths as text)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# --- the base ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """What every spec shares: the kind, validation, the options round trip and the cell id."""

    kind: ClassVar[str] = ""
    #: Fields that say where outputs go: part of the spec, not of the measurement's identity.
    output_fields: ClassVar[tuple] = ()
    #: Fields held as tuples (JSON gives lists back).
    tuple_fields: ClassVar[tuple] = ()

    def __post_init__(self):
        for name in self.tuple_fields:
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                object.__setattr__(self, f.name, str(value))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`InputError` (one line, as the command prints it) if the spec cannot be measured."""

    def to_options(self) -> dict:
        """The spec as the record's ``options["spec"]``: every field, JSON types, plus ``kind``."""
        return {"kind": self.kind, **{f.name: _plain(getattr(self, f.name)) for f in fields(self)}}

    @classmethod
    def from_options(cls, options: dict):
        """The spec a record was measured with: ``options`` is the record's options (or the spec's own dict)."""
        data = options.get("spec", options) if isinstance(options, dict) else None
        if not isinstance(data, dict):
            raise InputError(f"not a {cls.__name__}: the record's options hold no spec")
        kind = data.get("kind", cls.kind)
        if kind != cls.kind:
            raise InputError(f"not a {cls.__name__}: the spec is of kind {kind!r}, not {cls.kind!r}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names - {"kind"})
        if unknown:
            raise InputError(f"{cls.__name__}: unknown field {unknown[0]!r} (this kbench knows "
                             f"{', '.join(sorted(names))})")
        return cls(**{k: v for k, v in data.items() if k != "kind"})

    def canonical(self) -> dict:
        """What identifies the measurement: every field but the output locations, with the kbench version."""
        from kbench import __version__

        opts = self.to_options()
        for name in self.output_fields:
            opts.pop(name, None)
        return {"kbench": __version__, **opts}

    @property
    def cell_id(self) -> str:
        """16 hex digits: sha256 of :meth:`canonical` as sorted JSON; the same in every process."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- the kinds -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalSpec(Spec):
    """``kbench eval``: a predictions file against ground truth, the built-in sample, or a zoo model on a data set.

    Examples:
        ``EvalSpec(predictions="keypoints.json", ann="person_keypoints_val2017.json")``,
        ``EvalSpec(sample=500)`` (synthetic predictions), ``EvalSpec(model="tinypose_128x96", sample=24,
        weights="random")`` (the model on generated images), ``EvalSpec(model="hrnet_w32_256x192",
        data_root="dataset/coco")``.

    ``sample`` is a number of images (the command's bare ``--sample`` is 500 predictions-sample images, 24 with a
    model); ``flip`` None and ``bbox`` None take the card's settings; ``sigmas`` takes numbers or the flag's text.
    """

    kind: ClassVar[str] = "eval"
    output_fields: ClassVar[tuple] = ("results",)
    tuple_fields: ClassVar[tuple] = ("sigmas",)

    predictions: str | None = None
    ann: str | None = None
    metric: str = "auto"
    sample: int | None = None
    model: str | None = None
    bbox: str | None = None
    det_file: str | None = None
    data_root: str | None = None
    image_dir: str | None = None
    mpii_gt: str | None = None
    backend: str = "onnxruntime"
    device: str = "cpu"
    fp16: bool = False
    flip: bool | None = None
    batch: int = 32
    threads: int | None = None
    workers: int | None = None
    limit: int | None = None
    weights: str = "zoo"
    results: str | None = None
    flavour: str = "pycocotools"
    sigmas: tuple | None = None
    use_area: bool = True
    kpt_score_thr: float | None = None
    max_dets: int = 20

    def __post_init__(self):
        if self.sigmas is not None and not isinstance(self.sigmas, tuple):
            object.__setattr__(self, "sigmas", parse_sigmas(self.sigmas))
        super().__post_init__()

    @property
    def form(self) -> str:
        """``model`` (run a zoo model), ``sample`` (the synthetic predictions sample) or ``predictions``."""
        if self.model:
            return "model"
        return "sample" if self.sample is not None else "predictions"

    def validate(self) -> None:
        for name in ("predictions", "ann", "model", "det_file", "data_root", "image_dir", "mpii_gt", "results"):
            _text(name, getattr(self, name))
        _choice("metric", self.metric, EVAL_METRICS)
        _choice("flavour", self.flavour, COCO_FLAVOURS)
        _choice("device", self.device, DEVICES)
        if self.bbox is not None:
            _choice("bbox", self.bbox, ("gt", "detector"))
        for name in ("sample", "threads", "limit"):
            _positive(name, getattr(self, name))
        _positive("batch", self.batch, allow_none=False)
        _positive("max_dets", self.max_dets, allow_none=False)
        _flag("fp16", self.fp16)
        _flag("use_area", self.use_area)
        _flag("flip", self.flip, allow_none=True)
        _text("weights", self.weights, allow_none=False)
        _text("backend", self.backend, allow_none=False)
        if self.kpt_score_thr is not None and (isinstance(self.kpt_score_thr, bool) or
                                               not isinstance(self.kpt_score_thr, (int, float)) or
                                               not math.isfinite(self.kpt_score_thr)):
            raise InputError(f"kpt_score_thr must be a finite number; got {self.kpt_score_thr!r}")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 0):
            raise InputError("--workers must be 0 or more")
        self.coco_options()  # sigmas, flavour and use_area checked as the evaluator checks them
        if self.model:
            self._validate_model()
        elif self.sample is not None:
            if self.predictions or self.ann:
                raise InputError("--sample evaluates the built-in sample; do not combine it with --predictions/--ann")
        elif not self.predictions or not self.ann:
            raise InputError("eval needs --predictions and --ann (or --sample for the built-in sample)")

    def _validate_model(self) -> None:
        from kbench.cards import get_card

        card = get_card(self.model)
        if self.predictions:
            raise InputError("--model runs the model; --predictions evaluates a results file: use one or the other")
        if self.bbox is not None and (not card.top_down or card.dataset != "coco"):
            raise InputError(f"--bbox applies to top-down COCO models; {card.name} is "
                             f"{'bottom-up' if not card.top_down else card.dataset}")
        if self.flip and not card.flip_perm:
            raise InputError(f"--flip needs left/right joint pairs; {card.name} has flip_perm: [] (no flip)")
        if self.sigmas is not None and len(self.sigmas) != card.num_joints:
            raise InputError(f"--sigmas gives {len(self.sigmas)} values; {card.name} has {card.num_joints} joints")
        if self.det_file and self.box_source(card) != "detector":
            raise InputError("--det-file is used with --bbox detector")
        if self.fp16 and self.device != "gpu":
            raise InputError("--fp16 runs on the GPU runtimes; add --device gpu (CPU FP16 would silently compute "
                             "in FP32)")
        if self.sample is not None:
            if card.dataset != "coco":
                raise InputError(f"--sample generates a COCO-style sample; {card.name} is evaluated on "
                                 f"{card.dataset}")
            if self.data_root or self.ann or self.image_dir:
                raise InputError("--sample uses its own generated data; do not combine it with --data-root/--ann/"
                                 "--image-dir")
        elif not self.data_root and not self.ann:
            from kbench.runners.data import missing_data_message

            raise InputError(missing_data_message(card.dataset, card.num_joints))
        if card.dataset == "mpii" and self.limit:
            raise InputError("--limit is not supported for MPII: PCKh is defined over the whole ground-truth file")

    def box_source(self, card) -> str | None:
        """``gt`` or ``detector`` for a top-down COCO model (the card's setting unless ``bbox`` says), else None."""
        if not card.top_down or card.dataset != "coco":
            return None
        if self.bbox:
            return self.bbox
        return "gt" if card.eval.use_gt_bbox is not False else "detector"

    def flip_for(self, card) -> bool:
        """Test-time flip: the card's setting unless ``flip`` says; never without flip pairs (``flip_perm: []``)."""
        if not card.flip_perm:
            return False
        return card.eval.flip if self.flip is None else bool(self.flip)

    @property
    def precision(self) -> str:
        return "fp16" if self.fp16 else "fp32"

    def coco_options(self, card=None):
        """The COCO evaluator's options (:class:`kbench.evaluators.coco_keypoints.CocoKeypointOptions`); the
        sigmas are ``sigmas``, else the card's ``sigmas:`` (a custom joint set), else COCO's."""
        from kbench.evaluators.coco_keypoints import CocoKeypointOptions

        sigmas = self.sigmas if self.sigmas is not None or card is None else card.sigmas
        return CocoKeypointOptions(flavour=self.flavour, sigmas=sigmas, use_area=self.use_area,
                                   kpt_score_thr=self.kpt_score_thr, max_dets=self.max_dets)


@dataclass(frozen=True)
class LatencySpec(Spec):
    """``kbench latency``, one measurement: a model on a backend, device, precision, batch, thread count, scope.

    Example: ``LatencySpec(model="tinypose_128x96", backend="onnxruntime", threads=1)``. ``warmup`` is a number
    of runs (``"10"``) or seconds (``"2s"``); ``runs`` measures exactly that many runs, otherwise ``seconds``
    (default 3). ``threads`` applies to CPU runs (None: the runtime's default; always None on the GPU). ``profile``
    adds a per-operator table from the runtime's own profiler, taken on separate runs
    (:mod:`kbench.bench.op_profile`): the timed figures stay unprofiled.
    """

    kind: ClassVar[str] = "latency"

    model: str = ""
    backend: str = "onnxruntime"
    device: str = "cpu"
    precision: str = "fp32"
    batch: int = 1
    threads: int | None = None
    scope: str = "model"
    flip: bool = False
    weights: str = "random"
    warmup: str = "1s"
    runs: int | None = None
    seconds: float | None = None
    yardstick: bool = True
    profile: bool = False

    def __post_init__(self):
        if isinstance(self.warmup, int) and not isinstance(self.warmup, bool):
            object.__setattr__(self, "warmup", str(self.warmup))
        super().__post_init__()

    def validate(self) -> None:
        from kbench.cards import get_card

        _text("model", self.model, allow_none=False)
        get_card(self.model)
        _choice("device", self.device, DEVICES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("scope", self.scope, ("model", "pipeline"))
        _positive("batch", self.batch, allow_none=False)
        _positive("threads", self.threads)
        _positive("runs", self.runs)
        _positive_float("seconds", self.seconds)
        _flag("flip", self.flip)
        _flag("yardstick", self.yardstick)
        _text("weights", self.weights, allow_none=False)
        if not isinstance(self.warmup, str):
            raise InputError(f"warmup must be runs (10) or seconds (2s); got {self.warmup!r}")
        parse_warmup(self.warmup)
        if self.runs is not None and self.seconds is not None:
            raise InputError("--runs and --seconds are two ways to end the measurement: give one")
        if self.device == "gpu" and self.threads is not None:
            raise InputError("--threads applies to CPU runs; a GPU measurement has none")
        from kbench.bench.latency import BACKENDS

        if self.backend not in BACKENDS:
            raise InputError(f"unknown backend {self.backend!r}; known: {', '.join(BACKENDS)}")
        _flag("profile", self.profile)
        if self.profile:
            from kbench.bench.op_profile import check_profile

            check_profile(BACKENDS[self.backend].runtime, self.backend)

    def budget(self):
        """The harness's :class:`kbench.bench.timing.Budget` for this spec."""
        from kbench.bench.timing import Budget

        warm_runs, warm_s = parse_warmup(self.warmup)
        return Budget(warmup_runs=warm_runs, warmup_seconds=warm_s if warm_runs is None else None, runs=self.runs,
                      seconds=None if self.runs else (self.seconds or 3.0))


@dataclass(frozen=True)
class ProfileSpec(Spec):
    """``kbench profile``, one model: parameters and FLOPs by the zoo README's convention.

    Example: ``ProfileSpec(model="hrnet_w32_256x192")``; ``input`` is ``"WxH"`` (default: the model's own).
    """

    kind: ClassVar[str] = "profile"

    model: str = ""
    input: str | None = None
    weights: str = "random"

    def validate(self) -> None:
        from kbench.cards import get_card

        _text("model", self.model, allow_none=False)
        _text("input", self.input)
        _text("weights", self.weights, allow_none=False)
        get_card(self.model)
        parse_input_size(self.input)


@dataclass(frozen=True)
class ConformanceSpec(Spec):
    """``kbench conformance``: models x runtimes against Paddle dygraph FP32 on the same seeded input and weights.

    Example: ``ConformanceSpec(models="tinypose_128x96", backends="onnxruntime,torch")``; ``models`` and
    ``backends`` are comma-separated names or globs (None: every model, the CPU runtimes).
    """

    kind: ClassVar[str] = "conformance"

    models: str | None = None
    backends: str | None = None
    fp16: bool = False
    batch: int = 1
    threads: int | None = None
    device: str = "cpu"

    def validate(self) -> None:
        _text("models", self.models)
        _text("backends", self.backends)
        _flag("fp16", self.fp16)
        _positive("batch", self.batch, allow_none=False)
        _positive("threads", self.threads)
        if self.device not in ("cpu", "gpu"):
            raise InputError(f"--device must be cpu or gpu, got {self.device!r}")
        if self.device == "gpu" and self.threads is not None:
            raise InputError("--threads sets CPU threads; the GPU runtimes take none (drop --threads with "
                             "--device gpu)")
        from kbench.cards import select_cards
        from kbench.conformance import select_runtimes

        select_cards(self.models)
        runtimes = select_runtimes(self.backends, self.device)
        from kbench.bench.latency import capability

        precision = "fp16" if self.fp16 else "fp32"
        reasons = [f"{r} {capability(r, self.device, precision)[1]}" for r in runtimes
                   if not capability(r, self.device, precision)[0]]
        if self.fp16 and self.device == "cpu" and len(reasons) == len(runtimes):
            # a CPU FP16 "pass" would be an FP32 run labelled fp16
            raise InputError(f"--fp16: conformance runs on the CPU, where no selected runtime computes FP16 "
                             f"({'; '.join(reasons)}); use --device gpu")
        if self.device == "gpu" and self.backends and reasons:
            raise InputError(f"--device gpu: {reasons[0]}")

    @property
    def precision(self) -> str:
        return "fp16" if self.fp16 else "fp32"


@dataclass(frozen=True)
class BenchmarkSpec(Spec):
    """``kbench benchmark``: one model on every runtime here, a row per runtime x precision.

    Each row: export (status, artifact size), the largest difference against Paddle dygraph FP32 and argmax
    agreement, latency (median, p90) at batch 1, and accuracy on the data (``data_root``, else the generated
    sample of ``sample`` images). Example: ``BenchmarkSpec(model="tinypose_128x96")``; ``backends`` and
    ``precisions`` are comma-separated (None: every runtime of the device; fp32 on the CPU, fp32 and fp16 on the GPU).
    """

    kind: ClassVar[str] = "benchmark"

    model: str = ""
    backends: str | None = None
    precisions: str | None = None
    device: str = "cpu"
    threads: int | None = 1
    weights: str = "random"
    data_root: str | None = None
    sample: int = 24
    seconds: float = 2.0

    def validate(self) -> None:
        _text("model", self.model, allow_none=False)
        _text("backends", self.backends)
        _text("precisions", self.precisions)
        _text("weights", self.weights, allow_none=False)
        _text("data_root", self.data_root)
        _positive("threads", self.threads)
        _positive("sample", self.sample, allow_none=False)
        _positive_float("seconds", self.seconds)
        _choice("device", self.device, ("cpu", "gpu"))
        if self.device == "gpu" and self.threads not in (None, 1):
            raise InputError("--threads sets CPU threads; the GPU runtimes take none")
        from kbench.cards import get_card

        get_card(self.model)
        check_weights(self.weights)
        self.rows()

    def rows(self) -> list[tuple[str, str]]:
        """The (backend, precision) rows, in table order."""
        from kbench.bench.latency import BACKENDS
        from kbench.conformance import DEFAULT_CPU_RUNTIMES, DEFAULT_GPU_RUNTIMES

        if self.backends in (None, "all"):
            defaults = DEFAULT_GPU_RUNTIMES if self.device == "gpu" else DEFAULT_CPU_RUNTIMES
            names = ["paddle", *[n for n in defaults if n != "paddle"]]
        else:
            names = [b.strip() for b in self.backends.split(",") if b.strip()]
        unknown = [n for n in names if n not in BACKENDS]
        if unknown or not names:
            raise InputError(f"--backends: unknown runtime {unknown[0]!r}; known: {', '.join(BACKENDS)}" if unknown
                             else "--backends names no runtime")
        default_precisions = "fp32,fp16" if self.device == "gpu" else "fp32"
        precisions = [p.strip() for p in (self.precisions or default_precisions).split(",") if p.strip()]
        bad = [p for p in precisions if p not in ("fp32", "fp16")]
        if bad or not precisions:
            raise InputError(f"--precisions: expected fp32 and/or fp16, got {self.precisions!r}")
        return [(b, p) for b in dict.fromkeys(names) for p in dict.fromkeys(precisions)]


@dataclass(frozen=True)
class ExportSpec(Spec):
    """``kbench export``: a zoo model as a Paddle Inference, ONNX, Paddle Lite or TensorRT artifact.

    Example: ``ExportSpec(model="tinypose_128x96", to="onnx", weights="random", batch=1)``; ``batch`` is a number
    or ``"dynamic"``; ``out`` is where the artifact goes (default: ./kbench-exports/...).
    """

    kind: ClassVar[str] = "export"
    output_fields: ClassVar[tuple] = ("out",)

    model: str = ""
    to: str = "onnx"
    weights: str = "zoo"
    fp16: bool = False
    fp16_io: bool = False
    batch: int | str = "dynamic"
    format: str = "legacy"
    target: str = "x86"
    source: str = "auto"
    opset: int | None = None
    out: str | None = None

    def validate(self) -> None:
        from kbench.cards import get_card

        _text("model", self.model, allow_none=False)
        get_card(self.model)
        _choice("to", self.to, EXPORT_TARGETS)
        _choice("format", self.format, ("legacy", "pir"))
        _choice("target", self.target, ("x86", "arm"))
        _choice("source", self.source, ("auto", "paddle", "torch"))
        _text("weights", self.weights, allow_none=False)
        _text("out", self.out)
        _flag("fp16", self.fp16)
        _flag("fp16_io", self.fp16_io)
        _positive("opset", self.opset)
        if isinstance(self.batch, bool):
            raise InputError(f"--batch must be a positive number or 'dynamic', got {self.batch!r}")
        parse_batch(self.batch)
        if self.to == "paddle-inference" and self.fp16:
            raise InputError("Paddle Inference chooses FP16 when it runs (kbench latency --fp16 on a GPU): export "
                             "without --fp16")
        if self.to == "lite" and self.fp16 and self.target != "arm":
            raise InputError("FP16 Paddle Lite models are an ARM feature: add --target arm")
        if self.fp16_io and not (self.to == "onnx" and self.fp16):
            raise InputError("--fp16-io goes with --to onnx --fp16 (FP16 inputs and outputs of an FP16 ONNX model)")

    def __post_init__(self):
        if isinstance(self.batch, str) and self.batch.strip().isdigit():  # "8" and 8 are one measurement
            object.__setattr__(self, "batch", int(self.batch))
        super().__post_init__()

    @property
    def batch_size(self) -> int | None:
        """The batch as a number (None: dynamic)."""
        return parse_batch(self.batch)


SPEC_KINDS: dict[str, type[Spec]] = {cls.kind: cls for cls in (EvalSpec, LatencySpec, ProfileSpec, ConformanceSpec,
                                                               ExportSpec, BenchmarkSpec)}


def spec_from_options(options: dict) -> Spec:
    """The spec of any kind from a record's options (``options["spec"]["kind"]`` names the kind)."""
    data = options.get("spec", options) if isinstance(options, dict) else None
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in SPEC_KINDS:
        raise InputError(f"no spec of a known kind in these options (kinds: {', '.join(SPEC_KINDS)})")
    return SPEC_KINDS[kind].from_options(data)
