"""The single-image pipeline scope of ``kbench latency``: pre-processing, model, post-processing, timed apart.

One generated image (640x480 RGB uint8, seeded) goes through the same numpy code evaluation uses
(:mod:`kbench.pipelines`):

* top-down: ``batch`` person boxes -> centre/scale -> affine crops (``cv2.warpAffine``, UDP as the card says) ->
  normalised NCHW float32 (:mod:`kbench.pipelines.crops`); the runtime through ``adapter.run`` (host memory in and
  out, as a deployed pipeline does it; with ``flip`` a second run on the mirrored crops); flip merge and heatmap
  decoding to image coordinates, DARK as the card says (:mod:`kbench.pipelines.topdown`);
* bottom-up: ``batch`` copies of the image warped as the card's evaluation does (``EvalAffine``), the runtime
  (with ``flip`` a second run on the mirrored images), and joint grouping per image
  (:mod:`kbench.pipelines.bottomup`).

The top-down ``model`` stage calls the runtime through ``adapter.run`` (host memory in and out) because that is
what a deployed single-image pipeline pays; the model scope of ``kbench latency`` times the runtime's own call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Pipeline", "IMAGE_SIZE", "synthetic_image", "synthetic_boxes", "bottom_up_input_size", "build_pipeline"]

#: Width and height of the generated image.
IMAGE_SIZE = (640, 480)


@dataclass
class Pipeline:
    """The stages of one single-image pipeline, ready for :func:`kbench.bench.timing.measure_stages`."""

    stages: list[tuple[str, Callable]]
    image_size: tuple[int, int]  # (width, height) of the generated image
    model_input: tuple[int, ...]  # the batch shape the runtime receives
    flip: bool
    description: dict = field(default_factory=dict)


def synthetic_image(size: tuple[int, int] = IMAGE_SIZE, seed: int = 0) -> np.ndarray:
    """A seeded (H, W, 3) uint8 RGB image: smooth gradients plus noise (content does not change the cost)."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) * 255 // max(w + h - 2, 1)], -1)
    noise = rng.integers(-20, 21, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def synthetic_boxes(n: int, size: tuple[int, int] = IMAGE_SIZE, seed: int = 0) -> np.ndarray:
    """``n`` seeded person-shaped boxes ``[x, y, w, h]`` inside the image (about 1:2, a third of its height)."""
    w, h = size
    rng = np.random.default_rng(seed)
    bh = rng.uniform(0.3, 0.6, n) * h
    bw = bh * rng.uniform(0.4, 0.6, n)
    x = rng.uniform(0, 1, n) * (w - bw)
    y = rng.uniform(0, 1, n) * (h - bh)
    return np.stack([x, y, bw, bh], axis=1)


def _top_down(adapter, card, batch: int, flip: bool, image: np.ndarray) -> Pipeline:
    from kbench.pipelines.topdown import TopDownSettings, flip_images, normalization_lut, normalize_batch

    s = TopDownSettings.from_card(card)
    boxes = synthetic_boxes(batch, (image.shape[1], image.shape[0]))
    lut = normalization_lut(s.normalize)

    def preprocess():
        centers, scales = s.centers_scales(boxes)
        return normalize_batch(s.crops(image, centers, scales), s.normalize, lut), centers, scales

    def model(prev):
        x, centers, scales = prev
        heatmaps = adapter.run(x).heatmaps
        flipped = adapter.run(flip_images(x)).heatmaps if flip else None
        return heatmaps, flipped, centers, scales

    def postprocess(prev):
        heatmaps, flipped, centers, scales = prev
        if flipped is not None:
            heatmaps = s.merge(heatmaps, flipped)
        return s.decode(heatmaps, centers, scales)

    w_in, h_in = s.input_size
    desc = {"boxes": int(batch), "udp": bool(s.udp), "dark": bool(s.use_dark), "flip": flip,
            "crop": f"{w_in}x{h_in}", "decode": s.backprojection}
    return Pipeline([("preprocess", preprocess), ("model", model), ("postprocess", postprocess)],
                    (image.shape[1], image.shape[0]), (batch, 3, h_in, w_in), flip, desc)


def bottom_up_input_size(card, image_wh: tuple[int, int] = IMAGE_SIZE) -> tuple[int, int]:
    """(width, height) of a bottom-up model's input for an image of ``image_wh``.

    EvalAffine's rule: the short side to the input size, the long side rounded up to a multiple of the card's
    ``resize_stride`` (:func:`kbench.pipelines.bottomup.bottom_up_affine`).
    """
    from kbench.pipelines.bottomup import BottomUpSettings, bottom_up_affine

    s = BottomUpSettings.from_card(card)
    _, out_size, _, _ = bottom_up_affine(image_wh[1], image_wh[0], s.input_size, s.resize_stride)
    return int(out_size[0]), int(out_size[1])


def _bottom_up(adapter, card, batch: int, flip: bool, image: np.ndarray) -> Pipeline:
    from dataclasses import replace

    from kbench.pipelines.bottomup import BottomUpSettings, decode_bottom_up, resize_for_bottom_up
    from kbench.pipelines.crops import flip_images, normalization_lut, normalize_batch

    s = replace(BottomUpSettings.from_card(card), flip=flip)
    lut = normalization_lut(card.normalize)
    images = [image] * batch  # the same image N times: bottom-up batches are whole images

    def preprocess():
        resized, transforms = zip(*(resize_for_bottom_up(im, s.input_size, s.resize_stride) for im in images))
        return normalize_batch(np.stack(resized), card.normalize, lut), transforms

    def model(prev):
        x, transforms = prev
        out = adapter.run(x)
        flipped = adapter.run(flip_images(x)) if flip else None
        return out, flipped, transforms

    def postprocess(prev):
        out, flipped, transforms = prev
        people = []
        for i, tr in enumerate(transforms):  # grouping is per image, as in PaddleDetection
            fh = None if flipped is None else flipped.heatmaps[i:i + 1]
            ft = None if flipped is None else flipped.tags[i:i + 1]
            people.append(decode_bottom_up(out.heatmaps[i:i + 1], out.tags[i:i + 1], fh, ft, settings=s,
                                           transform=tr))
        return people

    out_w, out_h = bottom_up_input_size(card, (image.shape[1], image.shape[0]))
    desc = {"images": int(batch), "resized": f"{out_w}x{out_h}", "flip": flip,
            "max_num_people": s.max_num_people}
    return Pipeline([("preprocess", preprocess), ("model", model), ("postprocess", postprocess)],
                    (image.shape[1], image.shape[0]), (batch, 3, out_h, out_w), flip, desc)


def build_pipeline(adapter, card, batch: int = 1, flip: bool = False, image: np.ndarray | None = None) -> Pipeline:
    """The pipeline stages for a loaded adapter: ``batch`` boxes (top-down) or images (bottom-up) per run.

    Args:
        adapter: a loaded runtime adapter for ``card``.
        card: the model card (input size, normalisation, UDP, DARK, flip pairs).
        batch: person boxes in the image (top-down), or copies of the image (bottom-up).
        flip: run the mirrored input too and merge, as evaluation with test-time flip does.
        image: the (H, W, 3) uint8 RGB image (default: :func:`synthetic_image`).
    """
    image = synthetic_image() if image is None else np.ascontiguousarray(image, dtype=np.uint8)
    if card.top_down:
        return _top_down(adapter, card, batch, flip, image)
    return _bottom_up(adapter, card, batch, flip, image)
