"""Paddle dygraph: kbench's own Paddle networks run eagerly. The reference of the conformance matrix."""

from __future__ import annotations

import numpy as np

from kbench.adapters.base import Adapter, ModelOutputs, check_batch
from kbench.errors import InputError

__all__ = ["PaddleDygraphAdapter"]


class PaddleDygraphAdapter(Adapter):
    """The zoo network in Paddle dygraph (eval mode, no gradient)."""

    name = "paddle"

    def load(self, card, weights="random", device="cpu", precision="fp32", batch=1, threads=None, **options):
        """Build the network from the card and load the weights; see :meth:`Adapter.load`."""
        self.check_target(device, precision)
        from kbench.zoo.paddle import import_paddle
        from kbench.zoo.paddle.load import load_model

        paddle = import_paddle()
        if device == "gpu" and (not paddle.device.is_compiled_with_cuda() or paddle.device.cuda.device_count() == 0):
            raise InputError("no CUDA GPU is usable by paddle here (CPU build, or no device): use --device cpu "
                             "or install paddlepaddle-gpu on a machine with a GPU")
        if threads and hasattr(paddle, "set_num_threads"):
            paddle.set_num_threads(int(threads))
        self.card, self.device, self.precision = card, device, precision
        # Weights are made on the CPU (a seeded random model draws different numbers on a GPU), then moved.
        paddle.set_device("cpu")
        self.net, self.weights = load_model(card, weights)
        if device == "gpu":
            paddle.set_device("gpu")
            self.net.to(device="gpu")
        self._paddle = paddle

    def describe(self) -> dict:
        """Runtime, version, device and shapes."""
        w, h = self.card.input_size
        return {"runtime": self.name, "version": self._paddle.__version__, "device": self.device,
                "precision": self.precision, "input": {"image": [-1, 3, h, w]}, "weights": self.weights.describe()}

    def run(self, batch: np.ndarray) -> ModelOutputs:
        """Forward pass without gradients."""
        x = self._paddle.to_tensor(check_batch(batch, self.card))
        with self._paddle.no_grad():
            out = self.net(x)
        if isinstance(out, (tuple, list)):
            return ModelOutputs(out[0].numpy(), out[1].numpy())
        return ModelOutputs(out.numpy())

    def close(self) -> None:
        """Drop the network."""
        self.net = None
