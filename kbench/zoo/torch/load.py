"""A zoo model in PyTorch from its card: build the network, then load released, local or random weights.

Checkpoints are PaddleDetection's ``.pdparams``, read without paddle by :func:`kbench.weights.checkpoint.load_pdparams`.
Their keys are the torch network's keys but for BatchNorm statistics (:func:`paddle_to_torch_key`); torch's
``num_batches_tracked`` counters have no Paddle counterpart and are left out of every comparison. Loading is
strict: a missing or unexpected key, or a shape that differs, is refused with one line.

Random weights (``weights="random"``) must be the *same* numbers in every runtime, because the conformance
matrix compares runtimes on them. Two initialisations:

* ``paddle`` (the default where paddle is importable): kbench's seeded Paddle model with its calibrated
  BatchNorm statistics (:func:`kbench.zoo.paddle.load.build_random`) is built on the CPU and its state dict
  copied, so the torch model equals the Paddle model of the same seed built on the CPU, bit for bit.
  :class:`WeightsInfo` source ``"random"``, as Paddle's.
* ``numpy`` (without paddle, or when asked): :func:`numpy_random_state`, drawn from numpy with Paddle's default
  distributions (convolutions normal with std sqrt(2 / fan_in), biases 0, BatchNorm scale 1, shift 0, mean 0,
  variance 1), each tensor from a generator seeded by (seed, CRC-32 of its name), so the draw depends on neither
  framework nor parameter order. These are *not* the Paddle model's numbers; the source says ``"random-numpy"``
  so that records never mix the two.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np

from kbench.cards import ModelCard
from kbench.errors import InputError, MissingBackendError
from kbench.zoo.paddle.load import WeightsInfo

__all__ = ["WeightsInfo", "build_torch_from_card", "load_torch_model", "load_state_strict", "paddle_state_dict",
           "paddle_to_torch_key", "torch_to_paddle_key", "numpy_random_state", "RANDOM_INITS"]

#: Random initialisations of :func:`load_torch_model`; "auto" is paddle where importable, else numpy.
RANDOM_INITS = ("auto", "paddle", "numpy")

# The only names that differ: Paddle's BatchNorm keeps its statistics as ``_mean``/``_variance``.
_TO_TORCH = {"_mean": "running_mean", "_variance": "running_var"}
_TO_PADDLE = {v: k for k, v in _TO_TORCH.items()}
_TORCH_ONLY = "num_batches_tracked"


def _rename_last(key: str, table: dict) -> str:
    head, _, last = key.rpartition(".")
    new = table.get(last)
    return key if new is None else (f"{head}.{new}" if head else new)


def paddle_to_torch_key(key: str) -> str:
    """A Paddle parameter name as the torch network names it (``x.norm._mean`` -> ``x.norm.running_mean``)."""
    return _rename_last(key, _TO_TORCH)


def torch_to_paddle_key(key: str) -> str:
    """A torch state-dict key as PaddleDetection names it (the inverse of :func:`paddle_to_torch_key`)."""
    return _rename_last(key, _TO_PADDLE)


def _is_torch_only(key: str) -> bool:
    return key.rpartition(".")[2] == _TORCH_ONLY


def paddle_state_dict(net) -> dict[str, np.ndarray]:
    """The network's weights under Paddle's names, as float arrays (what :func:`save_pdparams` writes)."""
    return {torch_to_paddle_key(k): v.detach().cpu().numpy() for k, v in net.state_dict().items()
            if not _is_torch_only(k)}


def load_state_strict(net, state: Mapping[str, np.ndarray], source: str) -> None:
    """Load a Paddle-named state dict, refusing missing or unexpected keys and shape mismatches with one line.

    The messages are those of :func:`kbench.zoo.paddle.load.load_state_strict`, in Paddle's names, so that
    the same checkpoint is refused the same way by either runtime. ``num_batches_tracked`` keys are ignored
    on both sides (a checkpoint written from a torch state dict may carry them).

    Args:
        net: a network from :func:`kbench.zoo.torch.build.build_torch_network`.
        state: parameter name -> array, as :func:`kbench.weights.checkpoint.load_pdparams` returns.
        source: the checkpoint's path or URL, for the message.
    """
    import torch

    own = {torch_to_paddle_key(k): v for k, v in net.state_dict().items() if not _is_torch_only(k)}
    given = {k: v for k, v in state.items() if not _is_torch_only(k)}
    from kbench.weights.checkpoint import check_state_fits

    check_state_fits({k: tuple(v.shape) for k, v in own.items()}, given, source)
    tensors = {paddle_to_torch_key(k): torch.from_numpy(np.array(v, copy=True)) for k, v in given.items()}
    # strict=False only for the counters torch adds; every other key was checked above. load_state_dict copies
    # into the existing tensors, casting to their dtype and device.
    result = net.load_state_dict(tensors, strict=False)
    left = [k for k in result.missing_keys if not _is_torch_only(k)] + list(result.unexpected_keys)
    if left:  # cannot happen after the checks above; a guard against a rename table out of step with the networks
        raise InputError(f"{source}: checkpoint does not fit this model: {left[0]}")


def numpy_random_state(shapes: Mapping[str, tuple], seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random weights from numpy alone, with Paddle's default distributions, for Paddle-named shapes.

    Each tensor is drawn from ``np.random.default_rng([seed, crc32(name)])``, so the result depends only on the
    seed and the names, not on any framework or on the order of the parameters.

    Args:
        shapes: Paddle parameter name -> shape.
        seed: the seed.
    """
    out = {}
    for name, shape in shapes.items():
        shape = tuple(int(s) for s in shape)
        last = name.rpartition(".")[2]
        if last == "_variance":
            out[name] = np.ones(shape, np.float32)
        elif last in ("_mean", "bias"):
            out[name] = np.zeros(shape, np.float32)
        elif len(shape) == 1:  # BatchNorm scale (every 1-D weight of the zoo networks)
            out[name] = np.ones(shape, np.float32)
        else:  # Paddle's default for convolution weights: normal, std sqrt(2 / (in-channels-per-group * k * k))
            fan_in = int(np.prod(shape[1:]))
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            out[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
    return out


def build_torch_from_card(card: ModelCard):
    """The card's PyTorch network (eval mode), with whatever weights torch initialises it with."""
    from kbench.zoo.torch.build import build_torch_network

    net = build_torch_network(card.architecture, card.backbone.type, card.num_joints, width=card.backbone.width,
                              network_type=card.backbone.network_type, swahr=bool(card.head.swahr))
    net.eval()
    return net


def _random_state(card: ModelCard, net, seed: int, random_init: str) -> tuple[dict, str]:
    if random_init not in RANDOM_INITS:
        raise InputError(f"unknown random initialisation {random_init!r}; known: {', '.join(RANDOM_INITS)}")
    if random_init in ("auto", "paddle"):
        from kbench.zoo.paddle import import_paddle
        from kbench.zoo.paddle.load import build_random

        try:
            paddle = import_paddle()
        except MissingBackendError:
            if random_init == "paddle":
                raise
        else:
            # Built on the CPU whatever paddle's current device: the GPU draws other numbers from the same seed,
            # and the weights must not depend on where a runtime runs. The device is restored for other users.
            previous = paddle.get_device()
            paddle.set_device("cpu")
            try:
                paddle_net = build_random(card, seed)
                return {k: v.numpy() for k, v in paddle_net.state_dict().items()}, "random"
            finally:
                paddle.set_device(previous)
    shapes = {torch_to_paddle_key(k): tuple(v.shape) for k, v in net.state_dict().items() if not _is_torch_only(k)}
    return numpy_random_state(shapes, seed), "random-numpy"


def load_torch_model(card: ModelCard, weights: str | None = "random", seed: int = 0, *, random_init: str = "auto"):
    """Build the card's PyTorch network and load its weights; returns (network in eval mode, WeightsInfo).

    Args:
        card: the model card.
        weights: ``"random"`` (seeded), None or ``"zoo"`` (the card's checkpoint, downloaded and cached), a path or
            a URL, as for :func:`kbench.zoo.paddle.load.load_model`.
        seed: seed of the random weights.
        random_init: ``auto``, ``paddle`` or ``numpy``: where random weights come from (see the module docstring);
            ``auto`` takes Paddle's where paddle is importable, so that torch and Paddle random models agree.
    """
    from kbench._fileio import sha256_file
    from kbench.weights.checkpoint import check_num_joints, load_pdparams
    from kbench.weights.download import checkpoint_spec, resolve_weights, verification

    net = build_torch_from_card(card)
    if weights == "random":
        state, source = _random_state(card, net, seed, random_init)
        load_state_strict(net, state, f"{card.name} random weights")
        return net, WeightsInfo(source, None, True, seed)
    weights, sha = checkpoint_spec(card, weights)
    path = resolve_weights(weights, sha256=sha)
    state = load_pdparams(path)
    check_num_joints(state, card.num_joints, str(weights))
    load_state_strict(net, state, str(weights))
    return net, WeightsInfo(str(weights), sha256_file(path), False,
                            verification=verification(path) or "a local file: its sha256 taken here, nothing to verify")
