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
        if threads:
            # Paddle 3.x has no paddle.set_num_threads; the core's setter sets the CPU math threads (oneDNN/OpenMP)
            # dygraph kernels use. A thread count that cannot be set is refused, never recorded as if it were.
            setter = getattr(paddle, "set_num_threads", None) or getattr(paddle.base.core, "set_num_threads", None)
            if setter is None:
                raise InputError(f"paddle {paddle.__version__} offers no way to set its CPU threads here: --threads "
                                 f"cannot be honoured on the paddle (dygraph) backend")
            setter(int(threads))
        self.card, self.device, self.precision, self.threads = card, device, precision, threads
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
                "precision": self.precision, "threads": self.threads, "input": {"image": [-1, 3, h, w]},
                "weights": self.weights.describe()}

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
