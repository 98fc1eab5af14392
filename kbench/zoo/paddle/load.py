"""A zoo model in Paddle from its card: build the network, then load released, local or random weights.

``weights``: None takes the card's checkpoint URL (downloaded and cached, checksum verified);
a path or URL overrides the registry; ``"random"`` is a seeded random initialisation with BatchNorm statistics
calibrated so that activations have the scale trained weights give (:mod:`kbench.zoo.paddle.calibrate`), and the
returned :class:`WeightsInfo` says so, so that every output can label it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kbench.cards import ModelCard

__all__ = ["WeightsInfo", "build_from_card", "build_random", "load_model"]


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights came from, for records and printed output."""

    source: str  # "random", a path or a URL
    sha256: str | None
    random: bool
    seed: int | None = None
    verification: str | None = None  # how the file was checked (kbench.weights.download.verification)

    def label(self) -> str:
        """Short human label."""
        return f"random weights (seed {self.seed})" if self.random else f"{self.source} (sha256 {self.sha256[:12]})"

    def describe(self) -> dict:
        """JSON-ready form for run records."""
        out = {"source": self.source, "sha256": self.sha256, "random": self.random, "seed": self.seed}
        if self.random and self.source == "random":  # kbench's calibrated random weights (not "random-numpy")
            from kbench.zoo.paddle.calibrate import CALIBRATION

            out["calibration"] = CALIBRATION
        if self.verification:
            out["verification"] = self.verification
        return out


def build_from_card(card: ModelCard, seed: int = 0):
    """The card's network with seeded random weights (eval mode)."""
    from kbench.zoo.paddle import import_paddle
    from kbench.zoo.paddle.build import build_network

    paddle = import_paddle()

    paddle.seed(seed)
    net = build_network(card.architecture, card.backbone.type, card.num_joints, width=card.backbone.width,
                        network_type=card.backbone.network_type, swahr=bool(card.head.swahr))
    net.eval()
    return net


def build_random(card: ModelCard, seed: int = 0):
    """The card's network with kbench's representative random weights (eval mode): seeded, BatchNorm calibrated.

    See :mod:`kbench.zoo.paddle.calibrate`; the calibrated state is cached, so only the first build of a model
    and seed runs the calibration pass.
    """
    from kbench.zoo.paddle.calibrate import representative_state

    net = build_from_card(card, seed)
    load_state_strict(net, representative_state(card, net, seed), f"{card.name} random weights")
    return net


def load_state_strict(net, state: dict, source: str) -> None:
    """Load a state dict, refusing missing or unexpected keys and shape mismatches with one clear line."""
    import paddle

    from kbench.weights.checkpoint import check_state_fits

    check_state_fits({k: tuple(v.shape) for k, v in net.state_dict().items()}, state, source)
    net.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})


def load_model(card: ModelCard, weights: str | None = None, seed: int = 0):
    """Build the card's network and load its weights; returns (network, WeightsInfo)."""
    from kbench._fileio import sha256_file
    from kbench.weights.checkpoint import check_num_joints, load_pdparams
    from kbench.weights.download import checkpoint_spec, resolve_weights, verification

    if weights == "random":
        return build_random(card, seed), WeightsInfo("random", None, True, seed)
    net = build_from_card(card, seed)
    weights, sha = checkpoint_spec(card, weights)
    path = resolve_weights(weights, sha256=sha)
    state = load_pdparams(path)
    check_num_joints(state, card.num_joints, str(weights))
    load_state_strict(net, state, str(weights))
    return net, WeightsInfo(str(weights), sha256_file(path), False,
                            verification=verification(path) or "a local file: its sha256 taken here, nothing to verify")
