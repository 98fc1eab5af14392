"""Top-down pre-processing: person boxes, centre/scale, affine crops and input normalisation.

Everything here follows PaddleDetection 2.6's evaluation data path for top-down keypoint models, read from
``ppdet/data/source/keypoint_coco.py`` (box cleaning, ``_box2cs``, detector boxes),
``ppdet/data/transform/keypoint_operators.py`` (``TopDownAffine``, ``TopDownEvalAffine``),
``ppdet/modeling/keypoint_utils.py`` (``get_affine_transform``, ``get_warp_matrix``) and
``ppdet/data/transform/operators.py`` (``NormalizeImage``, ``Permute``). The arithmetic keeps the reference's
dtypes (centres and scales are float32, as ppdet's records are), so boxes, matrices and crops are the same to the
bit, and the crops pixel for pixel.

Conventions: boxes are COCO ``[x, y, w, h]`` in image pixels; a *scale* is the box size divided by ``pixel_std``
(200); sizes are ``(width, height)``; images are RGB ``uint8`` (ppdet decodes with OpenCV and converts BGR to RGB
before any transform).

cv2 is imported inside the functions that need it, so importing this module costs numpy only.
"""

from __future__ import annotations

import numpy as np

from kbench.errors import InputError

__all__ = [
    "PIXEL_STD",
    "BOX_PADDING",
    "clean_gt_boxes",
    "detection_mask",
    "box_to_center_scale",
    "mpii_center_scale",
    "warp_matrices",
    "affine_from_points",
    "crop_batch",
    "normalize_batch",
    "normalization_lut",
    "flip_images",
]

PIXEL_STD = 200.0
"""ppdet's ``pixel_std``: a scale of 1 is a 200-pixel box side."""

BOX_PADDING = 1.25
"""ppdet's fixed enlargement of every box (``_box2cs``), so that limbs at the box edge stay in the crop."""


def _as_boxes(boxes_xywh, what: str = "boxes") -> np.ndarray:
    boxes = np.asarray(boxes_xywh, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InputError(f"{what} must be an (N, 4) array of [x, y, w, h], got shape {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise InputError(f"{what} contain NaN or infinite values")
    return boxes


def clean_gt_boxes(boxes_xywh, image_w, image_h, areas=None, keypoints=None, iscrowd=None):
    """Ground-truth person boxes as PaddleDetection keeps and clips them for top-down evaluation.

    ``KeypointTopDownCocoDataset._load_coco_keypoint_annotations`` clips each box to the image with HRNet's
    inclusive-pixel convention (``x2 = min(W - 1, x1 + max(0, w - 1))``), so a kept box is one pixel *narrower*
    and *shorter* than the annotation; it keeps an annotation when ``area > 0``, ``x2 >= x1`` and ``y2 >= y1``,
    and then only when it has a labelled keypoint (``max(keypoints) != 0``). Crowd annotations never reach it
    (``getAnnIds(iscrowd=False)``).

    Args:
        boxes_xywh: (N, 4) annotation boxes ``[x, y, w, h]``.
        image_w: width of each box's image: a scalar or an (N,) array.
        image_h: height of each box's image: a scalar or an (N,) array.
        areas: (N,) annotation ``area`` fields; when None the area test is skipped.
        keypoints: (N, 3K) or (N, K, 3) annotation keypoints; when given, people without any non-zero value are
            dropped as ppdet drops them.
        iscrowd: (N,) ``iscrowd`` flags; when given, crowd annotations are dropped (ppdet keeps ``iscrowd == 0``).

    Returns:
        ``(boxes, keep)``: (N, 4) float64 cleaned ``[x1, y1, x2 - x1, y2 - y1]`` for every input row (rows that
        are not kept hold the clipped values anyway) and the (N,) bool mask of the people ppdet evaluates.
    """
    boxes = _as_boxes(boxes_xywh)
    x, y, w, h = boxes.T
    width = np.asarray(image_w, dtype=np.float64)
    height = np.asarray(image_h, dtype=np.float64)
    x1 = np.maximum(0.0, x)
    y1 = np.maximum(0.0, y)
    x2 = np.minimum(width - 1, x1 + np.maximum(0.0, w - 1))
    y2 = np.minimum(height - 1, y1 + np.maximum(0.0, h - 1))
    keep = (x2 >= x1) & (y2 >= y1)
    if areas is not None:
        keep &= np.asarray(areas, dtype=np.float64).reshape(-1) > 0
    if keypoints is not None:
        kp = np.asarray(keypoints, dtype=np.float64)
        kp = kp.reshape(len(boxes), kp.size // len(boxes) if len(boxes) else 0)
        if kp.shape[1] == 0 and len(boxes):
            raise InputError("keypoints must have at least one value per person")
        # ppdet tests max(keypoints) == 0: all-negative lists would pass too; this mirrors that exactly.
        keep &= kp.max(axis=1, initial=-np.inf) != 0
    if iscrowd is not None:
        keep &= np.asarray(iscrowd).reshape(-1) == 0
    return np.stack([x1, y1, x2 - x1, y2 - y1], axis=1), keep


def detection_mask(category_ids, scores, image_thre: float, person_category: int = 1) -> np.ndarray:
    """Which detector boxes PaddleDetection crops (``_load_coco_person_detection_results``).

    A detection is used when its ``category_id`` is the person category (1) and its score is not below
    ``image_thre`` (``score < image_thre`` is dropped, so a score equal to the threshold is kept). Detector boxes are
    *not* clipped or cleaned: they go to :func:`box_to_center_scale` as they are.

    Args:
        category_ids: (N,) category of each detection.
        scores: (N,) detection scores.
        image_thre: the card's ``eval.image_thre``.
        person_category: the category id of people.

    Returns:
        (N,) bool mask.
    """
    cats = np.asarray(category_ids).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if cats.shape != s.shape:
        raise InputError(f"{len(cats)} category ids but {len(s)} scores")
    return (cats == person_category) & ~(s < image_thre)


def box_to_center_scale(boxes_xywh, aspect_ratio: float, pixel_std: float = PIXEL_STD,
                        padding: float = BOX_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """Box centres and scales exactly as ``KeypointTopDownCocoDataset._box2cs``, for all boxes at once.

    The box is widened or heightened to the network input's aspect ratio (never shrunk), divided by
    ``pixel_std`` and enlarged by ``padding``. As in ppdet the centre and the unpadded scale are rounded to
    float32 first and the padding multiplies in float32; ppdet skips the padding when the centre's x is exactly
    -1 (an old "no box" sentinel), and so does this.

    Args:
        boxes_xywh: (N, 4) boxes ``[x, y, w, h]`` (cleaned ground truth or raw detections).
        aspect_ratio: input width / height, computed as ``input_w * 1.0 / input_h``.
        pixel_std: box side that a scale of 1 stands for.
        padding: enlargement factor.

    Returns:
        ``(centers, scales)``: (N, 2) float32 each.
    """
    boxes = _as_boxes(boxes_xywh)
    x, y, w, h = boxes.T
    centers = np.stack([x + w * 0.5, y + h * 0.5], axis=1).astype(np.float32)
    ar = float(aspect_ratio)
    wide = w > ar * h
    tall = w < ar * h
    w_fixed = np.where(tall, h * ar, w)
    h_fixed = np.where(wide, w * 1.0 / ar, h)
    scales = np.stack([w_fixed * 1.0 / pixel_std, h_fixed * 1.0 / pixel_std], axis=1).astype(np.float32)
    padded = (centers[:, 0] != -1)[:, None]
    scales = np.where(padded, scales * np.float32(padding), scales)
    return centers, scales


def mpii_center_scale(centers, scales) -> tuple[np.ndarray, np.ndarray]:
    """MPII annotation centres and scales as ``KeypointTopDownMPIIDataset`` adjusts them.

    The annotated centre moves down by ``15 * scale`` pixels and the scale grows by 1.25 (both skipped when the
    centre's x is -1), then the centre moves by -1 pixel (MATLAB's 1-based coordinates to 0-based); float32 as
    in ppdet.

    Args:
        centers: (N, 2) annotation ``center`` fields.
        scales: (N,) annotation ``scale`` fields (one number per person; the box is square).

    Returns:
        ``(centers, scales)``: (N, 2) float32 each.
    """
    c = np.array(centers, dtype=np.float32).reshape(-1, 2)
    s1 = np.asarray(scales, dtype=np.float32).reshape(-1)
    if len(s1) != len(c):
        raise InputError(f"{len(c)} centres but {len(s1)} scales")
    s = np.stack([s1, s1], axis=1)
    adjust = c[:, 0] != -1
    c[:, 1] = np.where(adjust, c[:, 1] + np.float32(15) * s[:, 1], c[:, 1])
    s = np.where(adjust[:, None], s * np.float32(1.25), s)
    return c - np.float32(1), s


def _affine_points(centers32: np.ndarray, sizes32: np.ndarray):
    """The float32 source points ppdet's ``get_affine_transform`` builds for rotation 0.

    Returns the centre ``(cx, cy)``, the second point's y (``cy - w/2``) and the third point's x
    (``cx - (cy - that y)``), each rounded to float32 where ppdet stores them in its float32 ``src`` array.
    """
    cx = centers32[:, 0]
    cy = centers32[:, 1]
    half_w = (sizes32[:, 0] * np.float32(-0.5)).astype(np.float64)
    s1y = (cy.astype(np.float64) + half_w).astype(np.float32)
    d = cy - s1y  # float32, as _get_3rd_point's `a - b`
    s2x = cx - d  # float32: `b + [-d, 0]`
    return cx.astype(np.float64), cy.astype(np.float64), s1y.astype(np.float64), s2x.astype(np.float64)


def affine_from_points(src, dst) -> np.ndarray:
    """``cv2.getAffineTransform`` for a batch of point triples, to the bit.

    OpenCV solves the 6x6 linear system of the three point pairs with its own LU decomposition (partial
    pivoting on the first largest absolute value, ``d = -1 / pivot``, row updates ``a += alpha * b``, then back
    substitution in column order); this is that algorithm with the batch as the vector dimension, so the
    matrices equal OpenCV's in every bit (the closed-form solution differs in the last bits, enough to move a
    float32 keypoint by one unit in the last place or a ``cv2.warpAffine`` sample across a rounding boundary).
    A singular system (OpenCV's pivot test ``|pivot| < 100 * DBL_EPSILON``) gives the all-zero matrix, as OpenCV
    returns.

    Args:
        src: (N, 3, 2) or (3, 2) source points (OpenCV takes them as float32).
        dst: (N, 3, 2) or (3, 2) destination points.

    Returns:
        (N, 2, 3) float64 matrices mapping ``src`` onto ``dst``.
    """
    p = np.asarray(src, dtype=np.float32).astype(np.float64)
    q = np.asarray(dst, dtype=np.float32).astype(np.float64)
    if p.shape[-2:] != (3, 2) or q.shape[-2:] != (3, 2) or p.ndim not in (2, 3) or q.ndim not in (2, 3):
        raise InputError(f"point triples must be (N, 3, 2) or (3, 2), got {p.shape} and {q.shape}")
    (n,) = np.broadcast_shapes(p.shape[:-2] or (1,), q.shape[:-2] or (1,))
    p = np.broadcast_to(p, (n, 3, 2))
    q = np.broadcast_to(q, (n, 3, 2))
    a = np.zeros((n, 6, 6), dtype=np.float64)
    a[:, 0::2, 0:2] = p  # rows 2i:   [x_i, y_i, 1, 0, 0, 0] -> u_i
    a[:, 0::2, 2] = 1.0
    a[:, 1::2, 3:5] = p  # rows 2i+1: [0, 0, 0, x_i, y_i, 1] -> v_i
    a[:, 1::2, 5] = 1.0
    b = q.reshape(n, 6).copy()
    rows = np.arange(n)
    ok = np.ones(n, dtype=bool)
    eps = np.finfo(np.float64).eps * 100
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(6):  # the 6 columns of the system; every step covers the whole batch
            k = i + np.argmax(np.abs(a[:, i:, i]), axis=1)
            ok &= np.abs(a[rows, k, i]) >= eps
            a_i, a_k = a[rows, i].copy(), a[rows, k].copy()
            a[rows, i], a[rows, k] = a_k, a_i
            b_i, b_k = b[rows, i].copy(), b[rows, k].copy()
            b[rows, i], b[rows, k] = b_k, b_i
            d = -1.0 / a[:, i, i]
            alpha = a[:, i + 1:, i] * d[:, None]
            a[:, i + 1:, i + 1:] += alpha[:, :, None] * a[:, i, None, i + 1:]
            b[:, i + 1:] += alpha * b[:, i, None]
        for i in range(5, -1, -1):
            s = b[:, i].copy()
            for k in range(i + 1, 6):
                s -= a[:, i, k] * b[:, k]
            b[:, i] = s / a[:, i, i]
    b[~ok] = 0.0
    return b.reshape(n, 2, 3)


def _check_sizes(input_size) -> tuple[int, int]:
    size = tuple(int(v) for v in input_size)
    if len(size) != 2 or min(size) < 1:
        raise InputError(f"input size must be (width, height) with both >= 1, got {input_size!r}")
    return size


def _centers_sizes(centers, scales, pixel_std: float) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(centers, dtype=np.float32).reshape(-1, 2)
    s = np.asarray(scales, dtype=np.float32).reshape(-1, 2)
    if len(c) != len(s):
        raise InputError(f"{len(c)} centres but {len(s)} scales")
    # ppdet multiplies the float32 scale by 200 in float32 (`records['scale'] * 200`)
    return c, s * np.float32(pixel_std)


def warp_matrices(centers, scales, input_size, udp: bool, pixel_std: float = PIXEL_STD) -> np.ndarray:
    """Forward crop transforms (image -> network input) for every box, as ppdet's eval crop computes them.

    Without UDP this is ``get_affine_transform(center, scale * 200, 0, input_size)``: the box width maps to the
    input width and the box centre to the input centre, and only the box *width* sets the zoom (the height
    follows because ``_box2cs`` already fixed the aspect ratio). With UDP it is
    ``get_warp_matrix(0, center * 2, input_size - 1, scale * 200)``, which maps the box's pixel extent to
    ``input_size - 1`` pixel steps on each axis separately. Both are built from the same float32 intermediates as
    ppdet's, so they are ppdet's matrices to the bit: UDP's in closed form, the other solved with
    ``cv2.getAffineTransform``'s own LU algorithm (:func:`affine_from_points`; a degenerate zero-size box gives
    OpenCV's all-zero matrix).

    Args:
        centers: (N, 2) box centres (float32 as from :func:`box_to_center_scale`).
        scales: (N, 2) box scales.
        input_size: network input ``(width, height)``.
        udp: unbiased data processing (the card's ``eval.udp``).
        pixel_std: multiplier from scale to pixels; pass 1 with ``scales`` in pixels (``TopDownEvalAffine``).

    Returns:
        (N, 2, 3) float64 matrices for ``cv2.warpAffine``.
    """
    out_w, out_h = _check_sizes(input_size)
    c, size = _centers_sizes(centers, scales, pixel_std)
    n = len(c)
    m = np.zeros((n, 2, 3), dtype=np.float64)
    if udp:
        # get_warp_matrix: scale_x = (W - 1) / size_w in float32 (a Python float over a float32 scalar), the
        # translation in float64 from float32 terms, every entry stored in a float32 matrix.
        sx = np.float32(out_w - 1.0) / size[:, 0]
        sy = np.float32(out_h - 1.0) / size[:, 1]
        half_size = size * np.float32(0.5)
        tx = sx.astype(np.float64) * (-c[:, 0].astype(np.float64) + half_size[:, 0])
        ty = sy.astype(np.float64) * (-c[:, 1].astype(np.float64) + half_size[:, 1])
        m[:, 0, 0] = sx
        m[:, 0, 2] = tx.astype(np.float32)
        m[:, 1, 1] = sy
        m[:, 1, 2] = ty.astype(np.float32)
        return m
    # get_affine_transform's three point pairs, in float32 as ppdet stores them, solved as cv2.getAffineTransform
    # solves them (affine_from_points), so that cv2.warpAffine samples exactly the pixels ppdet's crop samples.
    cx, cy, s1y, s2x = _affine_points(c, size)
    src = np.empty((n, 3, 2), dtype=np.float32)
    src[:, 0, 0] = cx
    src[:, 0, 1] = cy
    src[:, 1, 0] = cx
    src[:, 1, 1] = s1y
    src[:, 2, 0] = s2x
    src[:, 2, 1] = s1y
    return affine_from_points(src, _dst_points(out_w, out_h))


def _dst_points(out_w: int, out_h: int) -> np.ndarray:
    """get_affine_transform's destination points for an output of ``(out_w, out_h)``: centre, w/2 above, left."""
    a = out_w * 0.5
    b = out_h * 0.5
    return np.array([[a, b], [a, b - a], [0.0, b - a]], dtype=np.float32)


def crop_batch(image_rgb: np.ndarray, centers, scales, input_size, udp: bool, pixel_std: float = PIXEL_STD,
               matrices: np.ndarray | None = None) -> np.ndarray:
    """One network-input crop per box of one image, with ppdet's ``cv2.warpAffine`` call.

    ``cv2.warpAffine(image, M, (W, H), flags=cv2.INTER_LINEAR)`` with OpenCV's default constant-zero border,
    exactly as ``TopDownAffine`` (and ``TopDownEvalAffine`` for whole images) call it. The warp itself is one
    OpenCV call per crop; the matrices for all crops are computed at once by :func:`warp_matrices`.

    Args:
        image_rgb: (H, W, 3) uint8 RGB image (any dtype/channels cv2 accepts are passed through).
        centers: (N, 2) box centres.
        scales: (N, 2) box scales.
        input_size: network input ``(width, height)``.
        udp: unbiased data processing.
        pixel_std: see :func:`warp_matrices`.
        matrices: precomputed (N, 2, 3) matrices; computed from the boxes when None.

    Returns:
        (N, H_in, W_in, C) crops, the image's dtype.
    """
    import cv2

    img = np.asarray(image_rgb)
    if img.ndim not in (2, 3) or img.shape[0] < 1 or img.shape[1] < 1:
        raise InputError(f"image must be an (H, W, 3) array, got shape {img.shape}")
    out_w, out_h = _check_sizes(input_size)
    mats = warp_matrices(centers, scales, (out_w, out_h), udp, pixel_std) if matrices is None else matrices
    out = np.empty((len(mats), out_h, out_w) + img.shape[2:], dtype=img.dtype)
    for i, mat in enumerate(mats):  # one OpenCV call per crop is the unit of work; nothing else is per person
        out[i] = cv2.warpAffine(img, mat, (out_w, out_h), flags=cv2.INTER_LINEAR)
    return out


def normalization_lut(normalize) -> np.ndarray:
    """The (3, 256) float32 value of every uint8 level on every channel after ppdet's ``NormalizeImage``.

    Computed by ppdet's own sequence of in-place operations on a float32 array (``*= 1/255`` in float32, then
    ``-= mean`` and ``/= std`` with float64 operands, rounded back to float32 after each step), so a table
    lookup reproduces ``NormalizeImage`` to the bit.

    Args:
        normalize: the card's ``normalize`` (``mean``, ``std``, ``is_scale``).

    Returns:
        (3, 256) float32, indexed ``[channel, level]`` in the card's channel order.
    """
    levels = np.repeat(np.arange(256, dtype=np.float32)[:, None], 3, axis=1)[None]  # (1, 256, 3) "image"
    if normalize.is_scale:
        levels *= 1.0 / 255.0
    levels -= np.array(normalize.mean, dtype=np.float64)[None, None, :]
    levels /= np.array(normalize.std, dtype=np.float64)[None, None, :]
    return np.ascontiguousarray(levels[0].T)


def normalize_batch(crops: np.ndarray, normalize, lut: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 crops to the network's float32 input: channel order, ``NormalizeImage``, then ``Permute``.

    Bit-identical to ppdet's ``NormalizeImage`` followed by ``Permute`` (a 256-entry table per channel, see
    :func:`normalization_lut`), and faster than the arithmetic because each pixel is one gather.

    Args:
        crops: (N, h, w, 3) uint8 RGB crops from :func:`crop_batch`.
        normalize: the card's ``normalize`` (``mean``, ``std``, ``is_scale``, ``channel_order``, ``layout``).
        lut: a precomputed :func:`normalization_lut` for ``normalize``.

    Returns:
        float32 (N, 3, h, w) for layout ``CHW``, (N, h, w, 3) for ``HWC``; C-contiguous.
    """
    x = np.asarray(crops)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3:
        raise InputError(f"crops must be (N, h, w, 3) uint8, got {x.dtype} {x.shape}")
    table = normalization_lut(normalize) if lut is None else lut
    order = (2, 1, 0) if normalize.channel_order == "BGR" else (0, 1, 2)  # crops are RGB
    if normalize.layout == "CHW":
        out = np.empty((x.shape[0], 3, x.shape[1], x.shape[2]), dtype=np.float32)
        for c, src in enumerate(order):  # three table gathers, one per channel
            np.take(table[c], x[..., src], out=out[:, c])
        return out
    out = np.empty(x.shape, dtype=np.float32)
    for c, src in enumerate(order):
        np.take(table[c], x[..., src], out=out[..., c])
    return out


def flip_images(batch: np.ndarray, layout: str = "CHW") -> np.ndarray:
    """Mirror a batch left-right (TopDownHRNet's ``image.flip([3])`` on NCHW input).

    Args:
        batch: (N, C, h, w) or, with layout ``HWC``, (N, h, w, C).
        layout: ``CHW`` or ``HWC``.

    Returns:
        The mirrored batch, C-contiguous.
    """
    x = np.asarray(batch)
    if x.ndim != 4:
        raise InputError(f"batch must be 4-dimensional, got shape {x.shape}")
    axis = 3 if layout == "CHW" else 2
    return np.ascontiguousarray(np.flip(x, axis=axis))
