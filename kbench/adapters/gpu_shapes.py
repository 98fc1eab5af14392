"""Input-shape ranges for the engine builders: TensorRT, Paddle-TensorRT and ONNX Runtime's TensorRT provider.

A TensorRT engine is built for a range of input shapes, an *optimisation profile* of min / opt / max shapes, and
runs only inside it; TensorRT tunes its kernels for ``opt``. The three TensorRT routes in kbench take the same
range, computed here once, so they build comparable engines:

* **batch**: fixed (min = opt = max = ``batch``), the graph every runtime gets for a given batch (an export with a
  fixed batch); with ``dynamic_batch`` 1..``batch``, optimised for ``batch``, from the dynamic-batch export.
* **image size**, top-down models: the card's crop size, always.
* **image size**, bottom-up models: PaddleDetection's ``EvalAffine`` sends the short side to the input size and
  rounds the long side up to a multiple of 64 (:mod:`kbench.pipelines.bottomup`), so every image has one side
  equal to ``size`` and the other in ``size .. max_side``. The profile covers both orientations: min
  ``size x size``, max ``max_side x max_side`` (default twice ``size``: COCO's val2017 images have aspect ratios up
  to about 1.8 after rounding), opt the most common COCO shape, 4:3 landscape (``size x ceil64(4/3 size)``).
  ``input_hw`` pins one size instead (min = opt = max).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kbench.errors import InputError

__all__ = ["ShapeProfile", "shape_profile", "STRIDE", "LONG_SIDE_MULTIPLE"]

#: The networks' output stride: a bottom-up input side must be a multiple of it.
STRIDE = 32
#: ppdet's get_affine_mat_kernel rounds the long side up to a multiple of 64.
LONG_SIDE_MULTIPLE = 64


@dataclass(frozen=True)
class ShapeProfile:
    """min / opt / max NCHW shapes of the ``image`` input."""

    min: tuple
    opt: tuple
    max: tuple
    input_name: str = "image"

    def as_dict(self) -> dict:
        """``{"min": [...], "opt": [...], "max": [...]}`` as records and cache keys show it."""
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @property
    def fixed(self) -> bool:
        """True when the profile is one shape."""
        return self.min == self.opt == self.max

    def contains(self, shape) -> bool:
        """Whether an NCHW shape is inside the profile."""
        shape = tuple(int(v) for v in shape)
        return len(shape) == 4 and all(lo <= v <= hi for lo, v, hi in zip(self.min, shape, self.max))

    def ort_options(self) -> dict:
        """ONNX Runtime's TensorRT provider options (``trt_profile_{min,opt,max}_shapes``: ``name:NxCxHxW``)."""
        def text(shape):
            return f"{self.input_name}:" + "x".join(str(v) for v in shape)

        return {"trt_profile_min_shapes": text(self.min), "trt_profile_opt_shapes": text(self.opt),
                "trt_profile_max_shapes": text(self.max)}

    def paddle_options(self) -> tuple[dict, dict, dict]:
        """``Config.set_trt_dynamic_shape_info``'s arguments, in its order: min, max, opt."""
        name = self.input_name
        return {name: list(self.min)}, {name: list(self.max)}, {name: list(self.opt)}


def _round_up(value: float, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def shape_profile(card, batch: int, input_hw: tuple[int, int] | None = None, dynamic_batch: bool = False,
                  max_side: int | None = None) -> ShapeProfile:
    """The profile of a card at a batch (see the module docstring).

    Args:
        card: the model card.
        batch: the batch the engine is built for (the largest, with ``dynamic_batch``).
        input_hw: pin the image size (bottom-up: any multiple of 32; top-down: must be the crop size).
        dynamic_batch: batches 1..batch instead of ``batch`` only.
        max_side: bottom-up: the longest side the profile admits (default: twice the input size).

    Raises:
        InputError: a bad batch, size or side, as one line.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(f"batch must be a positive integer, got {batch!r}")
    lo = 1 if dynamic_batch else batch
    w, h = card.input_size
    if input_hw is not None:
        try:
            hh, ww = (int(v) for v in input_hw)
        except (TypeError, ValueError):
            raise InputError(f"input_hw must be two integers (H, W), got {input_hw!r}") from None
        if card.top_down and (hh, ww) != (h, w):
            raise InputError(f"{card.name} takes {h}x{w} (HxW) crops; input_hw {hh}x{ww} does not fit it")
        if hh < STRIDE or ww < STRIDE or hh % STRIDE or ww % STRIDE:
            raise InputError(f"input_hw must be multiples of {STRIDE} (the network's stride), got {hh}x{ww}")
        return ShapeProfile((lo, 3, hh, ww), (batch, 3, hh, ww), (batch, 3, hh, ww))
    if card.top_down:
        if max_side is not None:
            raise InputError(f"max_side applies to bottom-up models; {card.name} takes {h}x{w} crops")
        return ShapeProfile((lo, 3, h, w), (batch, 3, h, w), (batch, 3, h, w))
    size = h
    longest = _round_up(2 * size, LONG_SIDE_MULTIPLE) if max_side is None else max_side
    if isinstance(longest, bool) or not isinstance(longest, int) or longest < size or longest % STRIDE:
        raise InputError(f"max_side must be a multiple of {STRIDE} no smaller than the input size {size}, "
                         f"got {max_side!r}")
    opt_long = min(longest, _round_up(size * 4 / 3, LONG_SIDE_MULTIPLE))
    return ShapeProfile((lo, 3, size, size), (batch, 3, size, opt_long), (batch, 3, longest, longest))
