"""Top-down keypoint numerics in one place: boxes -> crops -> network input, heatmaps -> image keypoints.

PaddleDetection 2.6's evaluation of top-down models (HRNet, DARK-HRNet, Lite-HRNet, PP-TinyPose), step by step,
vectorised over all persons, and equal to ppdet's own functions (see ``tests/pipelines/test_topdown_*.py``).
The pieces live in :mod:`kbench.pipelines.crops` (boxes, crops, normalisation) and
:mod:`kbench.pipelines.heatmaps` (flip merge, decoding); this module re-exports them and adds
:class:`TopDownSettings`, everything a card says about the top-down path, so that the orchestration passes one
object. A typical batch::

    s = TopDownSettings.from_card(get_card("tinypose_128x96"))
    boxes, keep = clean_gt_boxes(ann_boxes, image_w, image_h, areas, keypoints, iscrowd)
    centers, scales = box_to_center_scale(boxes[keep], s.aspect_ratio)
    crops = crop_batch(image_rgb, centers, scales, s.input_size, s.udp)        # per image
    batch = normalize_batch(crops, s.normalize)                                  # (N, 3, H, W) float32
    heatmaps = run(batch)
    if s.flip:
        heatmaps = merge_flip(heatmaps, run(flip_images(batch)), s.flip_pairs, s.shift_heatmap)
    coords, maxvals = s.decode(heatmaps, centers, scales)                        # image pixels, scores

Importing this module imports numpy only (cv2 is imported by the functions that call it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kbench.errors import InputError
from kbench.pipelines.crops import (
    BOX_PADDING,
    PIXEL_STD,
    affine_from_points,
    box_to_center_scale,
    clean_gt_boxes,
    crop_batch,
    detection_mask,
    flip_images,
    mpii_center_scale,
    normalization_lut,
    normalize_batch,
    warp_matrices,
)
from kbench.pipelines.heatmaps import (
    BACKPROJECTIONS,
    dark_refine,
    decode_heatmaps,
    flip_back,
    flip_permutation,
    heatmaps_to_image,
    max_preds,
    merge_flip,
    quarter_offset,
)

__all__ = [
    "TopDownSettings",
    "PIXEL_STD",
    "BOX_PADDING",
    "BACKPROJECTIONS",
    "clean_gt_boxes",
    "detection_mask",
    "box_to_center_scale",
    "mpii_center_scale",
    "warp_matrices",
    "affine_from_points",
    "crop_batch",
    "normalization_lut",
    "normalize_batch",
    "flip_images",
    "flip_permutation",
    "flip_back",
    "merge_flip",
    "max_preds",
    "quarter_offset",
    "dark_refine",
    "heatmaps_to_image",
    "decode_heatmaps",
]


@dataclass(frozen=True)
class TopDownSettings:
    """A card's top-down pre- and post-processing switches.

    Attributes:
        input_size: network input ``(width, height)``.
        heatmap_size: heatmap ``(width, height)``.
        flip: flip test (average with the mirrored crop's heatmaps).
        flip_pairs: left/right joint pairs swapped when mirroring.
        shift_heatmap: shift the mirrored heatmaps one pixel right before averaging.
        use_dark: DARK decoding instead of the quarter-pixel shift.
        udp: UDP crops (``TopDownAffine(use_udp=True)``).
        udp_targets: the model was trained on UDP-encoded targets (``ToHeatmapsTopDown_UDP``); only the
            ``"inverse"`` back-projection reads it.
        normalize: the card's ``normalize`` section.
        image_thre: detection score threshold for ``--bbox detector`` (None where the card has none).
        pixel_std: box side a scale of 1 stands for (200).
        padding: box enlargement (1.25).
        backprojection: ``"ppdet"`` (ppdet 2.6, the default) or ``"inverse"`` (the crop's exact inverse; differs
            from ppdet for UDP models only). See :func:`kbench.pipelines.heatmaps.heatmaps_to_image`.
        dark_kernel: DARK's Gaussian kernel size (ppdet's ``kernelsize``, 3).
    """

    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    flip: bool
    flip_pairs: tuple[tuple[int, int], ...]
    shift_heatmap: bool
    use_dark: bool
    udp: bool
    udp_targets: bool
    normalize: object
    image_thre: float | None = None
    pixel_std: float = PIXEL_STD
    padding: float = BOX_PADDING
    backprojection: str = "ppdet"
    dark_kernel: int = 3

    def __post_init__(self):
        """Reject an unknown back-projection name."""
        if self.backprojection not in BACKPROJECTIONS:
            raise InputError(f"backprojection must be one of {', '.join(BACKPROJECTIONS)}, "
                             f"got {self.backprojection!r}")

    @classmethod
    def from_card(cls, card, backprojection: str = "ppdet") -> TopDownSettings:
        """The settings a top-down card states.

        Args:
            card: a :class:`kbench.cards.ModelCard` with ``paradigm: top_down``.
            backprojection: ``"ppdet"`` or ``"inverse"``.

        Returns:
            The settings.
        """
        if not card.top_down:
            raise InputError(f"{card.name} is a {card.paradigm} model; top-down settings need a top_down card")
        return cls(input_size=tuple(card.input_size), heatmap_size=tuple(card.heatmap_size), flip=card.eval.flip,
                   flip_pairs=tuple(card.flip_pairs), shift_heatmap=card.eval.shift_heatmap,
                   use_dark=card.eval.use_dark, udp=card.eval.udp,
                   udp_targets=card.training.target.endswith("_UDP"), normalize=card.normalize,
                   image_thre=card.eval.image_thre, backprojection=backprojection)

    @property
    def aspect_ratio(self) -> float:
        """Input width / height, computed as ppdet's ``_box2cs`` does."""
        return self.input_size[0] * 1.0 / self.input_size[1]

    def centers_scales(self, boxes_xywh) -> tuple[np.ndarray, np.ndarray]:
        """:func:`box_to_center_scale` with these settings."""
        return box_to_center_scale(boxes_xywh, self.aspect_ratio, self.pixel_std, self.padding)

    def crops(self, image_rgb: np.ndarray, centers, scales) -> np.ndarray:
        """:func:`crop_batch` with these settings."""
        return crop_batch(image_rgb, centers, scales, self.input_size, self.udp, self.pixel_std)

    def merge(self, heatmaps, heatmaps_flipped) -> np.ndarray:
        """:func:`merge_flip` with these settings."""
        return merge_flip(heatmaps, heatmaps_flipped, self.flip_pairs, self.shift_heatmap)

    def decode(self, heatmaps, centers, scales) -> tuple[np.ndarray, np.ndarray]:
        """:func:`decode_heatmaps` with these settings: (N, J, 2) float32 image pixels and (N, J, 1) scores."""
        return decode_heatmaps(heatmaps, centers, scales, self.use_dark, None, self.backprojection,
                               self.input_size, self.udp, self.udp_targets, self.dark_kernel, self.pixel_std)
