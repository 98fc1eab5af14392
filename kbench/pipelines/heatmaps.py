"""Top-down heatmap decoding: flip merge, argmax with the quarter-pixel shift, DARK, back-projection.

The numbers are PaddleDetection 2.6's, from ``ppdet/modeling/architectures/keypoint_hrnet.py`` (``TopDownHRNet``'s
evaluation path and ``HRNetPostProcess``) and ``ppdet/modeling/keypoint_utils.py`` (``transform_preds``). The
reference decodes person by person and joint by joint in Python; here every step works on the whole
(N, J, h, w) batch at once, in the reference's dtypes and operation order, so the coordinates agree with
ppdet's to float32 rounding (the parity tests allow 1e-4 image pixels; the measured differences are 0 in
nearly every case).

What ppdet does, in order:

1. flip test (``TopDownHRNet._forward``): the mirrored crop's heatmaps are mirrored back, left/right joints
   swapped (``flip_back``), optionally shifted one pixel right (``shift_heatmap``: column 0 is kept, so it appears
   twice), and averaged with the plain heatmaps in float32;
2. ``get_max_preds``: the argmax of each heatmap, its value as the keypoint score, and (0, 0) where the maximum
   is not positive;
3. either the quarter-pixel shift towards the higher neighbour (only when the peak is at least two pixels from
   the left/top edges and one from the right/bottom ones: ``1 < px < w - 1``) or DARK (``dark_postprocess``):
   a 3x3 Gaussian blur of each heatmap (zero-padded, rescaled to its original maximum), its logarithm, and one
   Newton step with the log-heatmap's derivative and Hessian at the peak, when the peak is at least two pixels
   from every edge (``1 < px < w - 2``) and the Hessian's float32 determinant is not zero;
4. ``transform_preds``: heatmap pixels to image pixels with the inverse of ``get_affine_transform``, for UDP
   models too although their crops were not made with it (an inconsistency of ppdet 2.6, reproduced by default;
   ``backprojection="inverse"`` does the consistent thing, see :func:`heatmaps_to_image`); float32 result.

Inputs are (N, J, h, w) heatmaps; boxes are the float32 centres and scales of :mod:`kbench.pipelines.crops`.
cv2 is imported inside the DARK blur only.
"""

from __future__ import annotations

import numpy as np

from kbench.errors import InputError

__all__ = [
    "BACKPROJECTIONS",
    "flip_permutation",
    "flip_back",
    "merge_flip",
    "max_preds",
    "quarter_offset",
    "dark_refine",
    "heatmaps_to_image",
    "decode_heatmaps",
]

BACKPROJECTIONS = ("ppdet", "inverse")
"""Back-projection choices: ppdet 2.6's (``get_affine_transform``'s inverse, whatever the crop) or the crop's own."""

_DARK_CHUNK_ELEMENTS = 1 << 20  # float64 elements blurred per OpenCV call: 8 MB of scratch (cache-sized), any N


def _heatmaps(heatmaps) -> np.ndarray:
    hm = np.asarray(heatmaps)
    if hm.ndim != 4 or min(hm.shape[1:]) < 1:
        raise InputError(f"heatmaps must be (N, joints, height, width) with non-empty maps, got shape {hm.shape}")
    # ppdet decodes the float32 tensor the network returns; float16 outputs are widened the same way
    return hm if hm.dtype == np.float32 else hm.astype(np.float32)


def flip_permutation(num_joints: int, flip_pairs) -> np.ndarray:
    """The joint order after ppdet's ``flip_back`` swaps, as one index array.

    ``flip_back`` swaps the channels of each pair in turn; applying the same swaps to ``arange(J)`` gives the
    gather that does all of them at once (the same result even if pairs were to share a joint).

    Args:
        num_joints: J.
        flip_pairs: left/right joint pairs (the card's ``flip_pairs``).

    Returns:
        (J,) int index array.
    """
    perm = np.arange(num_joints)
    for pair in flip_pairs:  # loops over the config's pairs, not over data
        a, b = (int(v) for v in pair)
        if not (0 <= a < num_joints and 0 <= b < num_joints):
            raise InputError(f"flip pair {tuple(pair)} is outside 0..{num_joints - 1}")
        perm[a], perm[b] = perm[b], perm[a]
    return perm


def flip_back(heatmaps_flipped, flip_pairs) -> np.ndarray:
    """Mirror the heatmaps of the mirrored input and swap left/right joints, as ``TopDownHRNet.flip_back``.

    The joints are swapped pair by pair in the config's order (:func:`flip_permutation`), then the width reversed.

    Args:
        heatmaps_flipped: (N, J, h, w) heatmaps of the mirrored crops.
        flip_pairs: left/right joint pairs.

    Returns:
        (N, J, h, w) float32, C-contiguous.
    """
    hm = _heatmaps(heatmaps_flipped)
    perm = flip_permutation(hm.shape[1], flip_pairs)
    return np.ascontiguousarray(hm[:, perm, :, ::-1])


def merge_flip(heatmaps, heatmaps_flipped, flip_pairs, shift_heatmap: bool = True) -> np.ndarray:
    """Average the plain and the mirrored crops' heatmaps exactly as ``TopDownHRNet._forward`` does.

    The mirrored crops' heatmaps are flipped back (:func:`flip_back`); with ``shift_heatmap`` every column moves
    one pixel right and column 0 keeps its own value (ppdet's ``out[..., 1:] = out[..., :-1]``), which
    compensates the half-pixel bias of mirroring an even-width map. The average is ``(a + b) * 0.5`` in float32.

    Args:
        heatmaps: (N, J, h, w) heatmaps of the crops.
        heatmaps_flipped: (N, J, h, w) heatmaps of the mirrored crops (:func:`kbench.pipelines.crops.flip_images`).
        flip_pairs: left/right joint pairs.
        shift_heatmap: the card's ``eval.shift_heatmap``.

    Returns:
        (N, J, h, w) float32.
    """
    hm = _heatmaps(heatmaps)
    back = flip_back(heatmaps_flipped, flip_pairs)
    if back.shape != hm.shape:
        raise InputError(f"flipped heatmaps {back.shape} do not match the heatmaps {hm.shape}")
    if shift_heatmap:
        back[..., 1:] = back[..., :-1].copy()
    return (hm + back) * np.float32(0.5)


def max_preds(heatmaps) -> tuple[np.ndarray, np.ndarray]:
    """``HRNetPostProcess.get_max_preds``: argmax position and value of every heatmap.

    Args:
        heatmaps: (N, J, h, w).

    Returns:
        ``(coords, maxvals)``: (N, J, 2) float32 ``(x, y)`` heatmap pixels, (0, 0) where the maximum is not
        positive; (N, J, 1) maxima in the heatmaps' dtype.
    """
    hm = _heatmaps(heatmaps)
    n, j, height, width = hm.shape
    flat = hm.reshape(n, j, height * width)
    idx = np.argmax(flat, axis=2)[..., None]
    maxvals = np.amax(flat, axis=2)[..., None]
    coords = np.repeat(idx, 2, axis=2).astype(np.float32)
    coords[..., 0] = coords[..., 0] % width
    coords[..., 1] = np.floor(coords[..., 1] / width)
    coords *= (maxvals > 0.0).astype(np.float32)
    return coords, maxvals


def _gather(hm: np.ndarray, px: np.ndarray, py: np.ndarray, offsets) -> np.ndarray:
    """Values at ``(py + dy, px + dx)`` for each ``(dx, dy)`` in ``offsets``: (N, J, len(offsets)) of ``hm``.

    The caller makes sure every index is inside the map (it clamps the peaks it will not use).
    """
    n, j, h, w = hm.shape
    flat = hm.reshape(n, j, h * w)
    off = np.array([dy * w + dx for dx, dy in offsets])
    return np.take_along_axis(flat, (py * w + px)[..., None] + off, axis=2)


def quarter_offset(heatmaps, coords) -> np.ndarray:
    """The quarter-pixel shift of ``get_final_preds`` without DARK, for all peaks at once.

    Each coordinate moves 0.25 px towards its higher neighbour (``sign`` of the central difference; no move on a
    tie), only where ``1 < px < w - 1`` and ``1 < py < h - 1`` as in ppdet (a peak in column 1 is not shifted,
    one in column ``w - 2`` is).

    Args:
        heatmaps: (N, J, h, w) the heatmaps the peaks came from.
        coords: (N, J, 2) float32 peaks from :func:`max_preds`.

    Returns:
        (N, J, 2) float32 shifted coordinates (a new array).
    """
    hm = _heatmaps(heatmaps)
    _, _, h, w = hm.shape
    px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
    py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
    inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    px = np.where(inside, px, 1)
    py = np.where(inside, py, 1)
    if w < 3 or h < 3:
        return coords.copy()
    v = _gather(hm, px, py, [(1, 0), (-1, 0), (0, 1), (0, -1)])
    diff = np.stack([v[..., 0] - v[..., 1], v[..., 2] - v[..., 3]], axis=-1)
    step = np.sign(diff) * np.float32(0.25)
    return np.where(inside[..., None], coords + step, coords).astype(np.float32)


def _blurred_log_patches(hm: np.ndarray, maxima: np.ndarray, px: np.ndarray, py: np.ndarray,
                         kernel: int) -> np.ndarray:
    """DARK's ``log(max(blurred heatmap, 1e-10))`` at the 13 points of the derivative stencil around each peak.

    The blur is ppdet's ``gaussian_blur``: each map zero-padded by ``(kernel - 1) // 2``, ``cv2.GaussianBlur``
    with sigma 0 in float64, stored back as float32 and rescaled in float32 by ``original max / blurred max``.
    The padded maps are stacked into one tall image per chunk, so that one OpenCV call blurs many maps; the zero
    rows between them keep the maps apart exactly as separate calls would. Only the 13 values DARK reads are
    rescaled and logged (elementwise float32 operations, so the same numbers as on the whole map).
    """
    import cv2

    n, j, h, w = hm.shape
    border = (kernel - 1) // 2
    ph, pw = h + 2 * border, w + 2 * border
    chunk = max(1, min(n, _DARK_CHUNK_ELEMENTS // max(1, j * ph * pw)))
    padded = np.zeros((chunk, j, ph, pw), dtype=np.float64)  # reused: only the interior is ever rewritten
    out = np.empty((n, j, len(_STENCIL)), dtype=np.float32)
    for start in range(0, n, chunk):  # bounded scratch memory; each step handles `chunk` persons at once
        stop = min(n, start + chunk)
        buf = padded[:stop - start]
        buf[:, :, border:ph - border, border:pw - border] = hm[start:stop]
        blurred = cv2.GaussianBlur(buf.reshape(-1, pw), (kernel, kernel), 0).reshape(buf.shape)
        blurred = blurred[:, :, border:ph - border, border:pw - border].astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            # ppdet: heatmap *= origin_max / max(heatmap), a float32 ratio (0/0 gives NaN there too)
            ratio = maxima[start:stop] / blurred.max(axis=(2, 3))
            values = _gather(blurred, px[start:stop], py[start:stop], _STENCIL) * ratio[..., None]
            out[start:stop] = np.log(np.maximum(values, np.float32(1e-10)))
    return out


# (dx, dy) of the values dark_parse reads around the peak, in this order
_STENCIL = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (2, 0), (-2, 0), (0, 2), (0, -2),
            (1, 1), (1, -1), (-1, 1), (-1, -1)]


def dark_refine(heatmaps, coords, kernel: int = 3, maxima: np.ndarray | None = None) -> np.ndarray:
    """DARK (Zhang et al., CVPR 2020) as ppdet's ``dark_postprocess`` computes it, for all peaks at once.

    Each peak ``(px, py) = int(coords)`` with ``1 < px < w - 2`` and ``1 < py < h - 2`` moves by
    ``-H^-1 g``, where ``g`` and ``H`` are the central-difference gradient and Hessian of the blurred
    log-heatmap (see :func:`_blurred_log_patches`), computed in float32 with ppdet's operation order; the
    inverse is LAPACK's on the float32 2x2 matrix (numpy's batched ``inv``, which is what ``np.matrix.I`` calls)
    and the step is applied only where the float32 determinant ``dxx * dyy - dxy ** 2`` is not zero.

    Args:
        heatmaps: (N, J, h, w) heatmaps (not modified; ppdet blurs its own copy in place).
        coords: (N, J, 2) float32 peaks from :func:`max_preds`.
        kernel: Gaussian kernel size (``get_final_preds``' ``kernelsize``, 3).
        maxima: the heatmaps' maxima (``maxvals`` from :func:`max_preds`), to save computing them again.

    Returns:
        (N, J, 2) float32 refined coordinates (a new array).
    """
    hm = _heatmaps(heatmaps)
    if kernel < 1 or kernel % 2 == 0:
        raise InputError(f"DARK kernel size must be odd and positive, got {kernel}")
    _, _, h, w = hm.shape
    out = np.array(coords, dtype=np.float32, copy=True)
    px = out[..., 0].astype(np.int64)  # int() truncates, as ppdet's dark_parse does
    py = out[..., 1].astype(np.int64)
    inside = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
    if not inside.any():
        return out
    px = np.where(inside, px, 2)
    py = np.where(inside, py, 2)
    v = _blurred_log_patches(hm, hm.max(axis=(2, 3)) if maxima is None else maxima.reshape(hm.shape[:2]), px, py,
                             kernel)[inside]
    c, xp1, xm1, yp1, ym1, xp2, xm2, yp2, ym2, pp, pm, mp, mm = v.T
    half, quarter, two = np.float32(0.5), np.float32(0.25), np.float32(2)
    dx = half * (xp1 - xm1)
    dy = half * (yp1 - ym1)
    dxx = quarter * (xp2 - two * c + xm2)
    dxy = quarter * (pp - pm - mp + mm)  # hm[py+1][px+1] - hm[py-1][px+1] - hm[py+1][px-1] + hm[py-1][px-1]
    dyy = quarter * (yp2 - two * c + ym2)
    with np.errstate(invalid="ignore", over="ignore"):
        usable = dxx * dyy - dxy ** 2 != 0
    hess = np.stack([np.stack([dxx, dxy], -1), np.stack([dxy, dyy], -1)], -2)[usable]
    try:
        inv = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        # float32 said non-singular but LAPACK found an exact zero pivot: ppdet itself raises here. Keep the
        # peaks whose inverse exists, from the closed form in float64.
        det = hess[:, 0, 0].astype(np.float64) * hess[:, 1, 1] - hess[:, 0, 1].astype(np.float64) * hess[:, 1, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = (np.stack([np.stack([hess[:, 1, 1], -hess[:, 0, 1]], -1),
                             np.stack([-hess[:, 1, 0], hess[:, 0, 0]], -1)], -2) / det[:, None, None])
        inv = np.where((det != 0)[:, None, None], inv, 0.0).astype(np.float32)
    neg = -inv
    gx, gy = dx[usable], dy[usable]
    offset = np.stack([neg[:, 0, 0] * gx + neg[:, 0, 1] * gy, neg[:, 1, 0] * gx + neg[:, 1, 1] * gy], axis=-1)
    sel = np.flatnonzero(inside.ravel())[usable]
    flat = out.reshape(-1, 2)
    flat[sel] = flat[sel] + offset
    return out


def heatmaps_to_image(coords, centers, scales, heatmap_size, backprojection: str = "ppdet", input_size=None,
                      udp: bool = False, udp_targets: bool = False, pixel_std: float = 200.0) -> np.ndarray:
    """Heatmap pixels to image pixels, as ppdet's ``transform_preds`` does it, for every person at once.

    ``"ppdet"`` (the default: what PaddleDetection 2.6 does for every model) inverts ``get_affine_transform``:
    ``x = cx + (x_hm - w/2) * S``, ``y = cy + (y_hm - h/2) * S`` with ``S = box width / heatmap width``, with
    the very matrices ppdet solves (:func:`kbench.pipelines.crops.affine_from_points`). That is the exact inverse
    of the plain crop, but ppdet uses it for UDP models too, whose crops were made with ``get_warp_matrix`` (the
    box mapped onto ``input - 1`` pixel steps). For PP-TinyPose (UDP crop, ``ToHeatmapsTopDown_DARK`` targets
    with stride ``input / heatmap``) the decoded point is ``left + (x - left) * (W - 1) / W`` instead of ``x``:
    pulled towards the box's top-left corner, by nothing at the left/top edge, half an input pixel
    (``0.5 * box / W`` image pixels) at the centre and a whole one at the right/bottom edge. kbench reproduces
    this by default, so that its numbers are ppdet's.

    ``"inverse"`` is the exact inverse of the crop that was made: for a UDP crop, heatmap to input with the
    training target's stride (``W / w``, or ``(W - 1) / (w - 1)`` for ``ToHeatmapsTopDown_UDP`` targets), then
    ``x = x_in * box_w / (W - 1) + cx - box_w / 2``; for a plain crop it is the same as ``"ppdet"``.

    Args:
        coords: (N, J, 2) heatmap coordinates.
        centers: (N, 2) box centres.
        scales: (N, 2) box scales (box size / ``pixel_std``).
        heatmap_size: ``(w, h)`` of the heatmaps.
        backprojection: ``"ppdet"`` or ``"inverse"``.
        input_size: network input ``(W, H)``; needed for ``"inverse"`` with ``udp``.
        udp: whether the crops were UDP crops (only ``"inverse"`` reads it).
        udp_targets: whether the model was trained with UDP-encoded targets (``ToHeatmapsTopDown_UDP``).
        pixel_std: multiplier from scale to pixels.

    Returns:
        (N, J, 2) float32 image coordinates (ppdet stores them as float32).
    """
    if backprojection not in BACKPROJECTIONS:
        raise InputError(f"backprojection must be one of {', '.join(BACKPROJECTIONS)}, got {backprojection!r}")
    xy = np.asarray(coords)
    c = np.asarray(centers, dtype=np.float32).reshape(-1, 2)
    box = np.asarray(scales, dtype=np.float32).reshape(-1, 2) * np.float32(pixel_std)  # ppdet: `scale * 200`
    if xy.ndim != 3 or xy.shape[2] != 2 or len(xy) != len(c) or len(box) != len(c):
        raise InputError(f"coords {xy.shape}, centres {c.shape} and scales {box.shape} do not describe N persons")
    hm_w, hm_h = (int(v) for v in heatmap_size)
    x = xy[..., 0].astype(np.float64)
    y = xy[..., 1].astype(np.float64)
    if backprojection == "inverse" and udp:
        if input_size is None:
            raise InputError("the exact inverse of a UDP crop needs the network input size")
        in_w, in_h = (float(v) for v in input_size)
        stride_x = (in_w - 1.0) / (hm_w - 1.0) if udp_targets else in_w / hm_w
        stride_y = (in_h - 1.0) / (hm_h - 1.0) if udp_targets else in_h / hm_h
        cx, cy = c[:, 0:1].astype(np.float64), c[:, 1:2].astype(np.float64)
        bw, bh = box[:, 0:1].astype(np.float64), box[:, 1:2].astype(np.float64)
        out_x = x * stride_x * (bw / (in_w - 1.0)) + cx - bw * 0.5
        out_y = y * stride_y * (bh / (in_h - 1.0)) + cy - bh * 0.5
        return np.stack([out_x, out_y], axis=-1).astype(np.float32)
    from kbench.pipelines.crops import _affine_points, _dst_points, affine_from_points

    # get_affine_transform(center, scale * 200, 0, [w, h], inv=1): the heatmap's centre, the point w/2 above it
    # and the one to its left, mapped onto the box's float32 points, solved as cv2.getAffineTransform solves it
    # (bit-identical matrices), then applied as affine_transform does: t @ [x, y, 1] in float64.
    cx, cy, s1y, s2x = _affine_points(c, box)
    src = np.stack([np.stack([cx, cy], -1), np.stack([cx, s1y], -1), np.stack([s2x, s1y], -1)], axis=1)
    t = affine_from_points(_dst_points(hm_w, hm_h), src)[:, None]  # (N, 1, 2, 3)
    out_x = t[..., 0, 0] * x + t[..., 0, 1] * y + t[..., 0, 2]
    out_y = t[..., 1, 0] * x + t[..., 1, 1] * y + t[..., 1, 2]
    return np.stack([out_x, out_y], axis=-1).astype(np.float32)


def decode_heatmaps(heatmaps, centers, scales, use_dark: bool, heatmap_size=None, backprojection: str = "ppdet",
                    input_size=None, udp: bool = False, udp_targets: bool = False, dark_kernel: int = 3,
                    pixel_std: float = 200.0) -> tuple[np.ndarray, np.ndarray]:
    """``HRNetPostProcess.get_final_preds`` for a whole batch: peaks, sub-pixel refinement, image coordinates.

    Args:
        heatmaps: (N, J, h, w) heatmaps (after :func:`merge_flip` when flip test is on).
        centers: (N, 2) float32 box centres the crops were made from.
        scales: (N, 2) float32 box scales.
        use_dark: DARK (the card's ``eval.use_dark``) instead of the quarter-pixel shift.
        heatmap_size: ``(w, h)``; the heatmaps' own size when None (ppdet uses the heatmaps' shape).
        backprojection: ``"ppdet"`` (ppdet 2.6 for every model, UDP included) or ``"inverse"``; see
            :func:`heatmaps_to_image`.
        input_size: network input ``(W, H)`` (``"inverse"`` with ``udp`` only).
        udp: whether the crops were UDP crops (``"inverse"`` only: ppdet's decoding ignores it).
        udp_targets: whether the model's training targets were UDP-encoded (``"inverse"`` only).
        dark_kernel: DARK's Gaussian kernel size.
        pixel_std: multiplier from scale to pixels.

    Returns:
        ``(coords, maxvals)``: (N, J, 2) float32 image pixels and (N, J, 1) keypoint scores (the heatmap maxima),
        the two halves of ppdet's ``keypoint`` output ``concatenate((preds, maxvals), -1)``.
    """
    hm = _heatmaps(heatmaps)
    coords, maxvals = max_preds(hm)
    coords = dark_refine(hm, coords, dark_kernel, maxvals) if use_dark else quarter_offset(hm, coords)
    size = (hm.shape[3], hm.shape[2]) if heatmap_size is None else heatmap_size
    xy = heatmaps_to_image(coords, centers, scales, size, backprojection, input_size, udp, udp_targets, pixel_std)
    return xy, maxvals
