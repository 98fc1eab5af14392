"""PyTorch: kbench's own PyTorch networks (:mod:`kbench.zoo.torch`) on the same PaddleDetection checkpoints.

Eager by default; ``compile=True`` wraps the network in ``torch.compile`` (TorchInductor) and compiles it during
``load``, with one forward pass at the load batch size, so that the first timed ``run`` is not the compilation.
A compiled network then pads a smaller batch with zeros to that size and crops the outputs (each image's output
depends on that image only, in eval mode): otherwise the last, partial batch of an evaluation would compile the
network again, which takes minutes on a CPU. Bottom-up images of a new size still recompile.
fp16 runs the whole network in half precision and is offered on the GPU only: torch's CPU half-precision
convolutions are slow fallbacks, so a CPU fp16 figure would measure the fallback, not the model.
"""

from __future__ import annotations

import numpy as np

from kbench.adapters.base import Adapter, ModelOutputs, check_batch
from kbench.errors import InputError

__all__ = ["TorchAdapter"]


class TorchAdapter(Adapter):
    """The zoo network in PyTorch (eval mode, inference mode), eager or compiled."""

    name = "torch"

    def __init__(self):
        super().__init__()
        self.net = None
        self.weights = None
        self.compiled = False
        self._torch = None
        self._device = None
        self._dtype = None
        self._batch = 1

    def load(self, card, weights="random", device="cpu", precision="fp32", batch=1, threads=None, compile=False,
             **options):
        """Build the network from the card and load the weights; see :meth:`Adapter.load`.

        Random weights equal kbench's Paddle model's where paddle is importable (see :mod:`kbench.zoo.torch.load`).

        Args:
            compile: run the network through ``torch.compile`` (compiled here, at ``batch``).
            options: ``seed`` (random weights' seed, default 0) and ``random_init`` (``auto``, ``paddle`` or
                ``numpy``, see :func:`kbench.zoo.torch.load.load_torch_model`); ``channels_last`` (memory format
                of the network and input; default: on for the GPU, where cuDNN's NHWC convolution kernels use the
                tensor cores, off on the CPU); ``tf32`` (GPU: allow TF32 convolutions and matrix products, off by
                default so that an fp32 record means float32 arithmetic). Options meant for other runtimes are
                ignored.
        """
        self.check_target(device, precision)
        from kbench.zoo.torch import import_torch

        torch = import_torch()
        if device == "gpu" and not torch.cuda.is_available():
            raise InputError("no CUDA GPU is usable by torch here (CPU build, or no device): use --device cpu or "
                             "install a CUDA build of torch on a machine with a GPU")
        if precision == "fp16" and device != "gpu":
            raise InputError("torch runs fp16 on the GPU only: use --precision fp32 on cpu, or --device gpu")
        if threads:
            torch.set_num_threads(int(threads))
        from kbench.zoo.torch.load import load_torch_model

        net, self.weights = load_torch_model(card, weights, seed=int(options.get("seed", 0)),
                                             random_init=options.get("random_init", "auto"))
        self._device = torch.device("cuda" if device == "gpu" else "cpu")
        self._dtype = torch.float16 if precision == "fp16" else torch.float32
        net = net.to(self._device, self._dtype).eval()
        channels_last = options.get("channels_last")
        self.channels_last = device == "gpu" if channels_last is None else bool(channels_last)
        self._memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.tf32 = None
        if device == "gpu":  # process-wide switches in torch; set on every load so that the record is what ran
            self.tf32 = bool(options.get("tf32", False))
            torch.backends.cudnn.allow_tf32 = self.tf32
            torch.backends.cuda.matmul.allow_tf32 = self.tf32
        self.card, self.device, self.precision, self._torch = card, device, precision, torch
        self.compiled = bool(compile)
        self._batch = max(int(batch), 1)
        self.net = torch.compile(net) if compile else net
        if compile:  # compile now: the first call through torch.compile traces and builds the kernels
            w, h = card.input_size
            self.run(np.zeros((self._batch, 3, h, w), np.float32))

    def describe(self) -> dict:
        """Runtime, version, device, precision, compilation and shapes."""
        w, h = self.card.input_size
        shape = [-1, 3, h, w] if self.card.top_down else [-1, 3, -1, -1]
        info = {"runtime": self.name, "version": self._torch.__version__, "device": self.device,
                "precision": self.precision, "compile": self.compiled,
                "compiled_batch": self._batch if self.compiled else None, "threads": self._torch.get_num_threads(),
                "input": {"image": shape}, "weights": self.weights.describe(), "channels_last": self.channels_last}
        if self.device == "gpu":
            info["gpu"] = self._torch.cuda.get_device_name(self._device)
            info["tf32"] = bool(self._torch.backends.cudnn.allow_tf32)
        return info

    def run(self, batch: np.ndarray) -> ModelOutputs:
        """Forward pass in inference mode; outputs come back as float32 numpy arrays."""
        if self.net is None:
            raise InputError("torch runtime: run() before load()")
        torch = self._torch
        arr = check_batch(batch, self.card)
        n = arr.shape[0]
        if self.compiled and n < self._batch:  # see the module docstring: no recompilation for a partial batch
            arr = np.concatenate([arr, np.zeros((self._batch - n, *arr.shape[1:]), np.float32)])
        x = torch.from_numpy(arr).to(self._device, self._dtype).contiguous(memory_format=self._memory_format)
        with torch.inference_mode():
            out = self.net(x)
        outs = out if isinstance(out, (tuple, list)) else [out]
        arrays = [t[:n].float().cpu().numpy() for t in outs]
        return ModelOutputs(arrays[0], arrays[1] if len(arrays) > 1 else None)

    def close(self) -> None:
        """Drop the network (and, on the GPU, its cached memory)."""
        self.net = None
        if self._torch is not None and self.device == "gpu":
            self._torch.cuda.empty_cache()
