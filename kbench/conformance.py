"""The conformance matrix: every runtime against Paddle dygraph FP32 on the same seeded input and weights.

For each (model, runtime) cell: the same random-weight model (seed 0) and the same seeded input batch
run through the runtime and through Paddle dygraph FP32; the cell holds the largest absolute output
difference, that difference relative to the largest reference magnitude, and how many joints' heatmap
argmax locations agree. A disagreement where the reference's two candidate values differ by less
than the measured error is a tie within numerical noise, and is counted as such rather than as a
failure. Tolerances: FP32 relative difference <= 1e-4; FP16 <= 2e-2 (half precision carries 11 bits
of mantissa, about 5e-4 per operation, and HRNet stacks dozens of layers; measured values sit well
below this bound).

``device="gpu"`` runs the GPU routes (Paddle Inference on CUDA and through Paddle-TensorRT, ONNX Runtime's CUDA
and TensorRT providers, the TensorRT runtime, torch on CUDA) against the same reference, Paddle dygraph FP32 on
the CPU, so a GPU cell and a CPU cell compare with one thing. FP32 on the GPU means float32 arithmetic: kbench
builds with TF32 off (TensorRT, ORT's CUDA provider, torch), which 1e-4 would not admit. Bottom-up engines are
built for the seeded input's size (``input_hw``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from kbench.adapters.base import ModelOutputs, get_adapter, runtime_status

__all__ = ["TOLERANCE", "DEFAULT_CPU_RUNTIMES", "DEFAULT_GPU_RUNTIMES", "Cell", "select_runtimes", "reference_input",
           "compare_outputs", "run_cell", "conformance_matrix", "format_matrix"]

#: Relative tolerance of a cell, by precision.
TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
#: The runtimes compared when none are named: every CPU runtime but the reference itself.
DEFAULT_CPU_RUNTIMES = ("paddle-inference", "onnxruntime", "lite", "torch")
#: On the GPU: every GPU route (latency backend names: a runtime with its load options).
DEFAULT_GPU_RUNTIMES = ("paddle-inference", "paddle-trt", "onnxruntime", "onnxruntime-trt", "tensorrt", "torch")
#: Routes that build TensorRT engines, which are built for the seeded input's size on bottom-up models.
_ENGINE_BUILDERS = ("tensorrt", "paddle-trt", "onnxruntime-trt")
#: Spatial size of the seeded input of bottom-up models (whole images; any multiple of 32 works).
BOTTOM_UP_SIZE = 256


@dataclass
class Cell:
    """One model x runtime result."""

    model: str
    runtime: str
    precision: str
    status: str  # "pass", "fail", "unavailable", "error"
    max_abs: float | None = None
    max_rel: float | None = None
    argmax_agree: int | None = None
    argmax_ties: int | None = None
    joints: int | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


def select_runtimes(spec: str | None, device: str = "cpu") -> list[str]:
    """Runtimes from a comma-separated list (the device's defaults when None or ``all``); the reference is left out.

    A name is a latency backend (:data:`kbench.bench.latency.BACKENDS`): a runtime, or a runtime with options
    (``paddle-trt``, ``onnxruntime-trt``).
    """
    from kbench.bench.latency import BACKENDS
    from kbench.errors import InputError

    defaults = DEFAULT_GPU_RUNTIMES if device == "gpu" else DEFAULT_CPU_RUNTIMES
    names = list(defaults) if not spec or spec == "all" else [s.strip() for s in spec.split(",")]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise InputError(f"unknown runtime {unknown[0]!r}; known: {', '.join(BACKENDS)}")
    return [n for n in names if not (n == "paddle" and device == "cpu")]


def reference_input(card, batch: int = 1, seed: int = 0) -> np.ndarray:
    """The seeded input batch every runtime gets (standard normal, as normalised images look)."""
    w, h = card.input_size
    if not card.top_down:
        w = h = BOTTOM_UP_SIZE
    return np.random.default_rng(seed).standard_normal((batch, 3, h, w)).astype(np.float32)


def compare_outputs(ref: ModelOutputs, got: ModelOutputs) -> dict:
    """Differences between two runtimes' outputs and heatmap-argmax agreement (ties within noise counted apart)."""
    if len(ref.arrays()) != len(got.arrays()):
        raise ValueError(f"the runtime returned {len(got.arrays())} outputs, the reference {len(ref.arrays())}")
    max_abs, scale = 0.0, 0.0
    for r, g in zip(ref.arrays(), got.arrays()):
        if r.shape != g.shape:
            raise ValueError(f"output shape {g.shape} differs from the reference's {r.shape}")
        max_abs = max(max_abs, float(np.abs(r.astype(np.float64) - g).max()))
        scale = max(scale, float(np.abs(r).max()))
    hm_r = ref.heatmaps.reshape(ref.heatmaps.shape[0] * ref.heatmaps.shape[1], -1).astype(np.float64)
    hm_g = got.heatmaps.reshape(hm_r.shape).astype(np.float64)
    a_r, a_g = hm_r.argmax(axis=1), hm_g.argmax(axis=1)
    rows = np.arange(len(a_r))
    agree = a_r == a_g
    row_err = np.abs(hm_r - hm_g).max(axis=1)  # a flip explained by this heatmap's own error is a tie
    tie = ~agree & (hm_r[rows, a_r] - hm_r[rows, a_g] <= 2 * row_err)
    return {"max_abs": max_abs, "max_rel": max_abs / scale if scale > 0 else max_abs,
            "argmax_agree": int(agree.sum()), "argmax_ties": int(tie.sum()), "joints": int(len(a_r))}


def run_cell(card, runtime: str, precision: str = "fp32", batch: int = 1, reference: ModelOutputs | None = None,
             threads: int | None = None, device: str = "cpu") -> Cell:
    """Run one model on one runtime (a latency backend name) on a device and compare with Paddle dygraph FP32."""
    from kbench.bench.latency import BACKENDS, capability

    backend = BACKENDS[runtime]
    ok, why = runtime_status(backend.runtime)
    if not ok:
        return Cell(card.name, runtime, precision, "unavailable", detail=why)
    ok, why = capability(runtime, device, precision)
    if not ok:  # e.g. FP16 on a CPU would compute FP32: never a pass labelled fp16
        return Cell(card.name, runtime, precision, "unavailable", detail=f"{precision} on {device}: {why}")
    x = reference_input(card, batch)
    if reference is None:
        with get_adapter("paddle") as ref_adapter:
            ref_adapter.load(card, weights="random")
            reference = ref_adapter.run(x)
    options = dict(backend.options)
    if device == "gpu" and not card.top_down and runtime in _ENGINE_BUILDERS:
        options["input_hw"] = tuple(x.shape[2:])
    adapter = get_adapter(backend.runtime)
    try:
        adapter.load(card, weights="random", device=device, precision=precision, batch=batch,
                     threads=threads if device == "cpu" else None, **options)
        got = adapter.run(x)
    finally:
        adapter.close()
    diff = compare_outputs(reference, got)
    bad_argmax = diff["joints"] - diff["argmax_agree"] - diff["argmax_ties"]
    passed = diff["max_rel"] <= TOLERANCE[precision] and bad_argmax == 0
    return Cell(card.name, runtime, precision, "pass" if passed else "fail", **diff)


def conformance_matrix(cards, runtimes, precision: str = "fp32", batch: int = 1, progress=None,
                       threads: int | None = None, device: str = "cpu") -> list[Cell]:
    """Every (model, runtime) cell; errors become cells with status "error" and a one-line detail.

    ``progress`` is a :mod:`kbench.progress` callback (cells done of all), True for a terminal bar, or None.
    """
    from kbench.bench.latency import BACKENDS
    from kbench.errors import InputError
    from kbench.progress import tracker

    cells = []
    total = len(cards) * len(runtimes)
    with tracker(progress, "conformance", total, "cell") as bar:
        for card in cards:
            reference = None
            for runtime in runtimes:
                bar.status(f"{card.name} / {runtime}")
                try:
                    if reference is None and runtime_status(BACKENDS[runtime].runtime)[0]:
                        with get_adapter("paddle") as ref_adapter:
                            ref_adapter.load(card, weights="random")
                            reference = ref_adapter.run(reference_input(card, batch))
                    cells.append(run_cell(card, runtime, precision, batch, reference, threads, device))
                except (InputError, ValueError) as exc:
                    cells.append(Cell(card.name, runtime, precision, "error", detail=str(exc).splitlines()[0]))
                except Exception as exc:  # a runtime's own failure is a cell of the matrix, not a crash
                    first = (str(exc).strip().splitlines() or [""])[0]
                    cells.append(Cell(card.name, runtime, precision, "error", detail=f"{type(exc).__name__}: {first}"))
                bar.update(1)
    return cells


def format_matrix(cells: list[Cell]) -> str:
    """Models as rows, runtimes as columns; each cell: relative difference and argmax agreement."""
    runtimes = list(dict.fromkeys(c.runtime for c in cells))
    models = list(dict.fromkeys(c.model for c in cells))
    by = {(c.model, c.runtime): c for c in cells}
    width = 24
    lines = [f"{'model':<34}" + "".join(f"{r:>{width}}" for r in runtimes)]
    for m in models:
        row = f"{m:<34}"
        for r in runtimes:
            c = by[(m, r)]
            if c.status in ("pass", "fail"):
                mark = "ok" if c.status == "pass" else "FAIL"
                agree = f"{c.argmax_agree + c.argmax_ties}/{c.joints}"
                text = f"{c.max_rel:.1e} {agree} {mark}"
            else:
                text = c.status
            row += f"{text:>{width}}"
        lines.append(row)
    notes = [f"  {c.model} / {c.runtime}: {c.status}: {c.detail}" for c in cells
             if c.status in ("unavailable", "error")]
    unavailable = {c.runtime: c.detail for c in cells if c.status == "unavailable"}
    lines.append("cells: max |diff| / max |reference| against Paddle dygraph FP32 (same weights and input), "
                 "heatmap argmax agreement (ties within noise count as agreeing), ok = within tolerance")
    if unavailable:
        lines.extend(f"  {r}: {why}" for r, why in unavailable.items())
    lines.extend(n for n in notes if "unavailable" not in n)
    return "\n".join(lines)
