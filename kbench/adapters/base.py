"""The adapter protocol every runtime implements, the runtime registry, and availability checks.

An adapter owns only the forward pass: it loads one zoo model (from its card and weights) for a device
and precision, says what it runs, takes a float32 NCHW batch of preprocessed crops (or images, for
bottom-up models) and returns heatmaps (and tags). Crops, flips and decoding live once, in numpy,
shared by every runtime.

Runtimes are registered by name with an import string; nothing framework-bound is imported until an
adapter is asked for, and availability is checked with ``importlib.util.find_spec`` (imports nothing),
so ``kbench --help`` and ``kbench doctor`` stay fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from kbench.errors import InputError, MissingBackendError

__all__ = ["Adapter", "ModelOutputs", "RuntimeInfo", "RUNTIMES", "get_adapter", "runtime_status", "DEVICES",
           "PRECISIONS", "run_in_pieces", "check_batch"]

DEVICES = ("cpu", "gpu")
PRECISIONS = ("fp32", "fp16")


@dataclass
class ModelOutputs:
    """What a runtime returns for a batch: heatmaps (N, J, h, w) and, bottom-up, tag maps of the same shape."""

    heatmaps: np.ndarray
    tags: np.ndarray | None = None

    def arrays(self) -> list:
        """The outputs as a list (heatmaps first)."""
        return [self.heatmaps] if self.tags is None else [self.heatmaps, self.tags]


@dataclass(frozen=True)
class RuntimeInfo:
    """A registered runtime: where its adapter lives and what it needs."""

    name: str
    target: str  # "module:Class", imported on first use
    modules: tuple  # (import name, pip package) pairs that must be importable
    extra: str  # the kbench extra that installs them
    devices: tuple = ("cpu",)
    precisions: tuple = ("fp32",)
    notes: str = ""
    executables: tuple = field(default_factory=tuple)  # programs that must be on PATH (e.g. adb for ARM)


RUNTIMES: dict[str, RuntimeInfo] = {
    "paddle": RuntimeInfo("paddle", "kbench.adapters.paddle_dygraph:PaddleDygraphAdapter",
                          (("paddle", "paddlepaddle"),), "paddle", ("cpu", "gpu"), ("fp32",),
                          "Paddle dygraph: the reference every other runtime is compared with"),
    "paddle-inference": RuntimeInfo("paddle-inference", "kbench.adapters.paddle_inference:PaddleInferenceAdapter",
                                    (("paddle", "paddlepaddle"),), "paddle", ("cpu", "gpu"), ("fp32", "fp16"),
                                    "exported static model; CPU with oneDNN, GPU, Paddle-TensorRT for fp16"),
    "onnxruntime": RuntimeInfo("onnxruntime", "kbench.adapters.onnxruntime:OnnxRuntimeAdapter",
                               (("onnxruntime", "onnxruntime"), ("onnx", "onnx")), "onnx", ("cpu", "gpu"),
                               ("fp32", "fp16"), "CPU, CUDA and TensorRT execution providers"),
    "tensorrt": RuntimeInfo("tensorrt", "kbench.adapters.tensorrt:TensorRTAdapter",
                            (("tensorrt", "tensorrt"), ("onnx", "onnx")), "tensorrt", ("gpu",), ("fp32", "fp16"),
                            "engine built from the ONNX model, cached on disk"),
    "lite": RuntimeInfo("lite", "kbench.adapters.paddle_lite:PaddleLiteAdapter", (("paddle", "paddlepaddle"),),
                        "lite", ("cpu",), ("fp32", "fp16"),
                        "Paddle Lite x86 in a Python 3.10 worker environment; ARM (fp16 too) through adb"),
    "torch": RuntimeInfo("torch", "kbench.adapters.torch:TorchAdapter", (("torch", "torch"),), "torch",
                         ("cpu", "gpu"), ("fp32", "fp16"), "kbench's PyTorch networks on the same checkpoints"),
}


def runtime_status(name: str) -> tuple[bool, str]:
    """Whether a runtime can be loaded here, and why not; imports nothing."""
    info = _info(name)
    for module, package in info.modules:
        if importlib.util.find_spec(module) is None:
            return False, f"{package} is not installed: pip install \"kbench[{info.extra}]\""
    for exe in info.executables:
        if shutil.which(exe) is None:
            return False, f"{exe} is not on PATH"
    return True, "available"


def _info(name: str) -> RuntimeInfo:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise InputError(f"unknown runtime {name!r}; known: {', '.join(RUNTIMES)}") from None


def get_adapter(name: str) -> Adapter:
    """A new, unloaded adapter of the named runtime; a missing package is one line naming the extra."""
    info = _info(name)
    for module, package in info.modules:
        if importlib.util.find_spec(module) is None:
            raise MissingBackendError(package, info.extra)
    ok, why = runtime_status(name)
    if not ok:
        raise InputError(f"runtime {name} is not usable here: {why}")
    module_name, cls_name = info.target.split(":")
    return getattr(importlib.import_module(module_name), cls_name)()


class Adapter(ABC):
    """One runtime running one zoo model.

    Lifecycle: ``load`` once, ``run`` many times, ``close``. Adapters are context managers.
    """

    name: str = "?"

    def __init__(self):
        self.card = None
        self.device = "cpu"
        self.precision = "fp32"

    def check_target(self, device: str, precision: str) -> None:
        """Refuse a device or precision this runtime cannot do, with one line saying so."""
        info = RUNTIMES[self.name]
        if device not in DEVICES:
            raise InputError(f"unknown device {device!r}; use cpu or gpu")
        if precision not in PRECISIONS:
            raise InputError(f"unknown precision {precision!r}; use fp32 or fp16")
        if device not in info.devices:
            raise InputError(f"{self.name} does not run on {device} (it runs on: {', '.join(info.devices)})")
        if precision not in info.precisions:
            raise InputError(f"{self.name} cannot run {precision} (it runs: {', '.join(info.precisions)})")

    @abstractmethod
    def load(self, card, weights: str | None = "random", device: str = "cpu", precision: str = "fp32",
             batch: int = 1, threads: int | None = None, **options) -> None:
        """Prepare the model (building, exporting or converting it as the runtime needs).

        Args:
            card: the model's :class:`kbench.cards.ModelCard`.
            weights: ``random`` (seeded), ``zoo`` or None (the card's checkpoint), a path or a URL.
            device: ``cpu`` or ``gpu``.
            precision: ``fp32`` or ``fp16``.
            batch: the batch size the model will be run with (runtimes with static shapes build for it).
            threads: CPU threads (None: the runtime's default).
        """

    @abstractmethod
    def describe(self) -> dict:
        """Runtime name and version, device, precision, providers or options, input and output shapes."""

    @abstractmethod
    def run(self, batch: np.ndarray) -> ModelOutputs:
        """Run a float32 (N, 3, H, W) batch; returns float32 outputs."""

    def close(self) -> None:  # noqa: B027 - optional for runtimes that hold nothing
        """Release sessions, engines, worker processes."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_in_pieces(run_once, x: np.ndarray, fixed_batch: int | None) -> list:
    """Run ``x`` through a model exported for ``fixed_batch``: whole when it fits, else in pieces of that size.

    The last piece is padded with zeros and its padded rows' outputs dropped, so any batch size runs on a
    fixed-batch graph (the graph every runtime gets for a given batch). ``run_once(x)`` returns a list of arrays.
    """
    if fixed_batch is None or x.shape[0] == fixed_batch:
        return list(run_once(x))
    pieces = []
    for start in range(0, x.shape[0], fixed_batch):
        chunk = x[start:start + fixed_batch]
        n = chunk.shape[0]
        if n < fixed_batch:
            chunk = np.concatenate([chunk, np.zeros((fixed_batch - n, *chunk.shape[1:]), chunk.dtype)])
        pieces.append([np.asarray(o)[:n] for o in run_once(chunk)])
    return [np.concatenate(parts) for parts in zip(*pieces)]


def check_batch(batch: np.ndarray, card) -> np.ndarray:
    """The batch as C-contiguous float32 (N, 3, H, W) of the card's input size, or one clear error."""
    arr = np.ascontiguousarray(batch, dtype=np.float32)
    w, h = card.input_size
    if arr.ndim != 4 or arr.shape[1] != 3:
        raise InputError(f"expected a (N, 3, H, W) batch, got shape {arr.shape}")
    if card.top_down and tuple(arr.shape[2:]) != (h, w):
        raise InputError(f"{card.name} takes {h}x{w} (HxW) crops, got {arr.shape[2]}x{arr.shape[3]}")
    return arr
