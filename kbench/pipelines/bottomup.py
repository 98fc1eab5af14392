"""Bottom-up (HigherHRNet) pre- and post-processing, as PaddleDetection 2.6 evaluates HigherHRNet.

The steps, each a function here, in the order ppdet runs them on one image:

1. :func:`resize_for_bottom_up`: ppdet's ``EvalAffine``: the short side goes to the input size, the long side
   to the same scale rounded *up* to a multiple of 64, by ``cv2.warpAffine`` (bilinear, black border) about
   the image centre.
2. The network gives heatmaps and tags at half the input resolution (``HrHRNetHead`` at inference).
3. :func:`merge_flip`: ``HigherHRNet._forward``'s flip test: the mirrored image's outputs are permuted by
   ``flip_perm`` and mirrored back; heatmaps are averaged, the two tag maps are kept as two channels.
4. :func:`upsample2x_bilinear`: ``HigherHRNet.get_topk`` brings heatmaps and tags to the input resolution with
   paddle's ``Upsample(2, 'bilinear')`` (``align_corners=False``, ``align_mode=0``: half-pixel centres).
5. :func:`top_k_peaks`: 5x5 max-pool non-maximum suppression, then the ``max_num_people`` highest peaks per joint.
6. :func:`group_people`: ``HrHRNetPostProcess``: associative-embedding grouping joint by joint with scipy's
   Hungarian assignment on the cost ``round(tag distance) * 100 - peak value``, a quarter-pixel refinement
   towards the higher neighbour, salvaging of joints a person lacks, and the inverse affine back to image pixels.

:func:`decode_bottom_up` runs 3 to 6. The arithmetic follows the reference's dtypes and operation order,
so the keypoints and scores are the reference's to the last bit (the parity tests allow 1e-4 px only for BLAS
rounding in the final affine), with one documented exception: peaks of exactly equal value compete in the
top-k in flat-index order here, while paddle's ``partial_sort`` leaves their order unspecified.

How ppdet's COCO evaluation consumes the output (``metric: COCO``, ``COCOMetric`` + ``get_keypoint_res``):
one result per grouped person, ``keypoints`` = the (J, 3) array flattened, ``score`` = the person score
returned here (the mean over *all* J joints of the grouped peak values before salvaging, missing joints
counting 0), no rescoring and no OKS-NMS; pycocotools' keypoint COCOeval with its default 20 detections.

Everything here is numpy on one image (ppdet's post-processing asserts a batch of one); scipy and cv2 are
imported inside the functions that use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "BottomUpSettings",
    "BottomUpTransform",
    "bottom_up_affine",
    "resize_for_bottom_up",
    "merge_flip",
    "upsample2x_bilinear",
    "top_k_peaks",
    "group_people",
    "decode_bottom_up",
]

# ppdet's get_affine_mat_kernel rounds the long side up to a multiple of 64 whatever EvalAffine's `stride`
# argument says (the argument is stored and never read); kbench honours `stride` and defaults to 64.
_PPDET_STRIDE = 64


@dataclass(frozen=True)
class BottomUpSettings:
    """The decoding switches a HigherHRNet card carries (``card.eval`` plus ``flip_perm`` and the input size)."""

    flip_perm: tuple[int, ...]  # channel i of the mirrored image's output is joint flip_perm[i]
    max_num_people: int = 30  # peaks kept per joint, and clusters a joint is matched against
    heat_thresh: float = 0.1  # peaks at or below this are ignored
    tag_thresh: float = 1.0  # a peak joins a person only if its tag distance to the person's mean tag is below
    flip: bool = True  # average with the mirrored image's outputs
    input_size: int = 512  # short side of the network input
    resize_stride: int = _PPDET_STRIDE  # the long side is rounded up to a multiple of this

    @classmethod
    def from_card(cls, card: Any) -> BottomUpSettings:
        """Settings of a bottom-up :class:`kbench.cards.ModelCard`.

        Raises:
            ValueError: the card is not bottom-up or its input is not square.
        """
        if getattr(card, "paradigm", None) != "bottom_up":
            raise ValueError(f"{getattr(card, 'name', card)!r} is not a bottom-up card")
        w, h = card.input_size
        if w != h:
            raise ValueError(f"{card.name}: bottom-up input size must be square, got {w}x{h}")
        ev = card.eval
        return cls(flip_perm=tuple(int(i) for i in card.flip_perm), max_num_people=int(ev.max_num_people),
                   heat_thresh=float(ev.heat_thresh), tag_thresh=float(ev.tag_thresh), flip=bool(ev.flip),
                   input_size=int(w), resize_stride=int(ev.resize_stride or _PPDET_STRIDE))


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class BottomUpTransform:
    """How an image was brought to the network input, and back.

    ``matrix`` maps image pixels to input pixels, ``inverse`` input pixels (and, after the 2x upsampling, heatmap
    pixels) to image pixels; both are 2x3 affine matrices as ``cv2.getAffineTransform`` returns them.
    """

    center: np.ndarray  # (2,) x, y: the image centre, each rounded half to even as ppdet's np.round does
    scale: np.ndarray  # (2,) width, height of the image region mapped onto the input, in pixels
    matrix: np.ndarray  # (2, 3) float64, image -> input
    inverse: np.ndarray  # (2, 3) float64, input -> image
    output_size: tuple[int, int]  # (width, height) of the network input
    image_size: tuple[int, int]  # (height, width) of the original image
    input_size: int  # the short side of the input
    stride: int = _PPDET_STRIDE


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # the vector a - b turned 90 degrees anticlockwise about b, in float32 as ppdet's _get_3rd_point
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def bottom_up_affine(height: int, width: int, size: int, stride: int = _PPDET_STRIDE,
                     inverse: bool = False) -> tuple[np.ndarray, tuple[int, int], np.ndarray, np.ndarray]:
    """PaddleDetection's ``get_affine_mat_kernel``: the affine that takes an image to the bottom-up network input.

    The short side becomes ``size``; the long side keeps the aspect ratio and is rounded up to a multiple of
    ``stride``; the extra width (or height) comes from a wider source region about the centre, so the image is
    not stretched. The three point pairs are built in float32 exactly as ppdet builds them and solved by
    ``cv2.getAffineTransform``, so the matrix is bit-identical.

    Args:
        height: image height in pixels.
        width: image width in pixels.
        size: the short side of the network input.
        stride: the long side's multiple (64 in ppdet, which ignores EvalAffine's own argument).
        inverse: return the input -> image matrix instead.

    Returns:
        ``(matrix (2, 3) float64, (out_width, out_height), center (2,), scale (2,))``.
    """
    import cv2

    if width < height:
        out_w = size
        out_h = int(np.ceil((size / width * height) / stride) * stride)
        scale_w = width
        scale_h = out_h / out_w * width
    else:
        out_h = size
        out_w = int(np.ceil((size / height * width) / stride) * stride)
        scale_h = height
        scale_w = out_w / out_h * height
    center = np.array([np.round(width / 2.0), np.round(height / 2.0)])
    # Only the source width and the centre fix the (rotation-free) affine; the third point is the second one
    # turned about the first, so aspect is preserved and scale_h only describes the region.
    src = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + np.array([0.0, -0.5 * scale_w])
    src[2] = _third_point(src[0], src[1])
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0] = [out_w * 0.5, out_h * 0.5]
    dst[1] = np.array([out_w * 0.5, out_h * 0.5]) + np.array([0.0, -0.5 * out_w])
    dst[2] = _third_point(dst[0], dst[1])
    mat = cv2.getAffineTransform(dst, src) if inverse else cv2.getAffineTransform(src, dst)
    return mat, (out_w, out_h), center, np.array([scale_w, scale_h], dtype=np.float64)


def _square_size(input_size) -> int:
    if np.ndim(input_size) == 0:
        return int(input_size)
    w, h = (int(v) for v in input_size)
    if w != h:
        raise ValueError(f"bottom-up input size must be square (one short-side length), got {w}x{h}")
    return w


def resize_for_bottom_up(image: np.ndarray, input_size, stride: int = _PPDET_STRIDE
                         ) -> tuple[np.ndarray, BottomUpTransform]:
    """PaddleDetection's ``EvalAffine``: warp an image to the bottom-up network input.

    Args:
        image: (H, W, C) or (H, W) image, any dtype cv2 warps (uint8 RGB in ppdet's pipeline).
        input_size: the short side, an int or a square ``(width, height)`` such as ``card.input_size``.
        stride: the long side is rounded up to a multiple of this (64, ``card.eval.resize_stride``).

    Returns:
        The warped image (same dtype and channels; bilinear, border filled with 0) and its
        :class:`BottomUpTransform`.
    """
    import cv2

    size = _square_size(input_size)
    h, w = image.shape[:2]
    mat, out_size, center, scale = bottom_up_affine(h, w, size, stride)
    inv, _, _, _ = bottom_up_affine(h, w, size, stride, inverse=True)
    resized = cv2.warpAffine(image, mat, out_size)
    info = BottomUpTransform(center=center, scale=scale, matrix=mat, inverse=inv, output_size=out_size,
                             image_size=(int(h), int(w)), input_size=size, stride=int(stride))
    return resized, info


def merge_flip(outputs: tuple[np.ndarray, np.ndarray],
               flipped_outputs: tuple[np.ndarray, np.ndarray] | None = None,
               flip_perm=None) -> tuple[np.ndarray, np.ndarray]:
    """Combine the outputs of an image and of its mirror image, as ``HigherHRNet._forward`` does at evaluation.

    The mirrored image's maps are permuted by ``flip_perm`` along the joints and mirrored back along the width;
    heatmaps are averaged (``(a + b) / 2`` in their dtype), tags are stacked as two channels (original first).

    Args:
        outputs: ``(heatmaps, tags)``, each (N, J, h, w), of the images.
        flipped_outputs: ``(heatmaps, tags)`` of the horizontally mirrored images, or None (no flip test).
        flip_perm: length-J permutation; required with ``flipped_outputs``.

    Returns:
        ``(heatmaps (N, J, h, w), tagmaps (N, J, h, w, C))`` with C = 2 with flip, 1 without.
    """
    heat, tags = (np.asarray(a) for a in outputs)
    if heat.shape != tags.shape or heat.ndim != 4:
        raise ValueError(f"heatmaps and tags must both be (N, J, h, w), got {heat.shape} and {tags.shape}")
    if flipped_outputs is None:
        return heat, tags[..., None]
    if flip_perm is None:
        raise ValueError("flip_perm is required to merge a mirrored image's outputs")
    perm = np.asarray(flip_perm, dtype=np.intp)
    fheat, ftags = (np.asarray(a) for a in flipped_outputs)
    if fheat.shape != heat.shape or ftags.shape != tags.shape:
        raise ValueError(f"mirrored outputs {fheat.shape}, {ftags.shape} do not match {heat.shape}")
    if perm.shape != (heat.shape[1],):
        raise ValueError(f"flip_perm has {perm.size} entries for {heat.shape[1]} joints")
    back_heat = fheat[:, perm, :, ::-1]
    back_tags = ftags[:, perm, :, ::-1]
    return (heat + back_heat) / 2.0, np.stack((tags, back_tags), axis=-1)


def _linear_taps(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # paddle's CPU bilinear kernel, align_mode 0 and align_corners False, ratio 1/2: source index
    # (i + 0.5) / 2 - 0.5 clamped at 0 and truncated; the far tap clamped to the last row; weights in float32.
    n_out = 2 * n_in
    src = 0.5 * (np.arange(n_out) + 0.5) - 0.5
    near = np.maximum(src.astype(np.int64), 0)  # truncation toward zero, as static_cast<int>
    far = np.minimum(near + 1, n_in - 1)
    w_far = (np.maximum(src, 0).astype(np.float32) - near.astype(np.float32)).astype(np.float32)
    w_near = (np.float32(1.0) - w_far).astype(np.float32)
    return near, far, w_near, w_far


def upsample2x_bilinear(x: np.ndarray) -> np.ndarray:
    """2x bilinear upsampling of the last two axes, as paddle's ``Upsample(2, mode='bilinear')`` in ppdet.

    Half-pixel centres (``align_corners=False, align_mode=0``); borders replicate. The four products and
    their sum are formed in paddle's CPU kernel's order, ``((v * wy) * wx)`` summed left to right, in
    float32, so the result matches paddle's CPU output to the bit.

    Args:
        x: (..., h, w) float array.

    Returns:
        (..., 2h, 2w) array of x's dtype.
    """
    x = np.asarray(x)
    h, w = x.shape[-2:]
    yn, ys, wys, wyn = _linear_taps(h)  # wys: weight of the near row (paddle's d_s), wyn of the far row (d_n)
    xw, xe, wxe, wxw = _linear_taps(w)  # wxe: weight of the near column (d_e), wxw of the far column (d_w)
    dt = x.dtype
    wys, wyn = wys.astype(dt)[:, None], wyn.astype(dt)[:, None]
    wxe, wxw = wxe.astype(dt), wxw.astype(dt)
    # (v * wy) * wx, term by term: the row weight is applied before the columns are gathered (the same
    # products, on half as many values)
    rows_n = np.take(x, yn, axis=-2)  # np.take: an index array on the last axis is ~10x slower
    rows_n *= wys
    rows_s = np.take(x, ys, axis=-2)
    rows_s *= wyn
    out = np.take(rows_n, xw, axis=-1)
    out *= wxe
    term = np.empty_like(out)  # one buffer for the other three terms: fresh large arrays cost page faults
    for rows, cols, wx in ((rows_s, xw, wxe), (rows_n, xe, wxw), (rows_s, xe, wxw)):
        np.take(rows, cols, axis=-1, out=term, mode="clip")  # "raise" would buffer the output
        term *= wx
        out += term
    return out


def top_k_peaks(heatmap: np.ndarray, max_num_people: int, pool: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of each joint's heatmap, the ``max_num_people`` highest first (``HigherHRNet.get_topk``).

    A pixel is a peak when it equals the maximum of the ``pool`` x ``pool`` window around it (max-pool, stride 1,
    padding that never wins); non-peaks count as 0. Among equal values the lower flat index comes first (paddle's
    ``partial_sort`` leaves that order unspecified; equal peaks above the threshold need exactly equal floats).
    Zeros fill the list only when a joint has fewer than k positive peaks, and they lie below any threshold.
    Heatmaps are assumed finite (paddle's top-k ranks NaN above everything; no peak test passes NaN here).

    Args:
        heatmap: (J, H, W) upsampled heatmap of one image.
        max_num_people: peaks per joint (k).
        pool: max-pool window.

    Returns:
        ``(values (J, k), flat indices (J, k) int64)``, values descending; index // W is the row.
    """
    heatmap = np.asarray(heatmap)
    if heatmap.ndim != 3:
        raise ValueError(f"heatmap must be (J, H, W), got {heatmap.shape}")
    j, h, w = heatmap.shape
    k = int(max_num_people)
    if not 0 < k <= h * w:
        raise ValueError(f"max_num_people must be in 1..{h * w}, got {k}")
    peak = (heatmap == _max_pool(heatmap, pool)).reshape(j, -1)
    flat = heatmap.reshape(j, -1)
    # ppdet ranks heatmap * peak over all pixels: the nonzero peaks (few) and a sea of zeros (non-peaks and
    # zero-valued peaks). Rank the nonzero peaks per joint, value descending then index ascending, and fill
    # with zeros in index order between the positive and the negative ones.
    rows, cols = np.nonzero(peak & (flat != 0))
    vals = flat[rows, cols]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(j + 1))
    out_vals = np.empty((j, k), dtype=flat.dtype)
    out_inds = np.empty((j, k), dtype=np.int64)
    for jid in range(j):  # per joint, on its few peaks
        c, v = cols[starts[jid]:starts[jid + 1]], vals[starts[jid]:starts[jid + 1]]
        n_pos = int(np.count_nonzero(v > 0))
        if n_pos >= k:
            out_vals[jid], out_inds[jid] = v[:k], c[:k]
            continue
        n_zero = min(k - n_pos, h * w - len(c))
        # the first n_zero flat indices that are not nonzero peaks
        span = np.arange(n_zero + len(c))
        zeros = span[~np.isin(span, c)][:n_zero]
        n_neg = k - n_pos - n_zero
        out_vals[jid] = np.concatenate((v[:n_pos], np.zeros(n_zero, flat.dtype), v[n_pos:n_pos + n_neg]))
        out_inds[jid] = np.concatenate((c[:n_pos], zeros, c[n_pos:n_pos + n_neg]))
    return out_vals, out_inds


def _max_pool(x: np.ndarray, size: int) -> np.ndarray:
    """Max over the size x size window centred on each pixel of the last two axes, by shifted maxima.

    Stride 1; the window is cut at the borders, as paddle's MaxPool2D padding never wins.
    """
    r = size // 2
    out = x.copy()
    for axis in (-1, -2):
        src = out.copy()
        n = x.shape[axis]
        for d in range(1, min(r, n - 1) + 1):
            lo = [slice(None)] * x.ndim
            hi = [slice(None)] * x.ndim
            lo[axis], hi[axis] = slice(0, n - d), slice(d, n)
            np.maximum(out[tuple(lo)], src[tuple(hi)], out=out[tuple(lo)])
            np.maximum(out[tuple(hi)], src[tuple(lo)], out=out[tuple(hi)])
    return out


def _refine_offsets(j: np.ndarray, y: np.ndarray, x: np.ndarray, heatmap: np.ndarray) -> tuple[np.ndarray, ...]:
    # ppdet's HrHRNetPostProcess.lerp: +-0.25 towards the higher neighbour (ties go down/left), +0.5 (pixel centre)
    h, w = heatmap.shape[-2:]
    left = np.clip(x - 1, 0, w - 1)
    right = np.clip(x + 1, 0, w - 1)
    up = np.clip(y - 1, 0, h - 1)
    down = np.clip(y + 1, 0, h - 1)
    dy = np.where(heatmap[j, down, x] > heatmap[j, up, x], 0.25, -0.25)
    dx = np.where(heatmap[j, y, right] > heatmap[j, y, left], 0.25, -0.25)
    return dy + 0.5, dx + 0.5


def _mean_tags(buf: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of each cluster's tags, rounded as ``np.mean(np.array(tags_list), axis=0)`` rounds.

    numpy reduces an (n, C) array over axis 0 row by row when C > 1, but an (n, 1) array collapses to one
    contiguous run that it sums pairwise (8 interleaved accumulators from 8 values on); both are reproduced
    here for all clusters at once. ``buf`` is zero past each cluster's count, and adding 0 changes no sum.
    """
    n, _, c = buf.shape
    if n == 0:
        return np.zeros((0, c), dtype=buf.dtype)
    top = int(counts.max())
    if c == 1 and top <= 128:
        from kbench.evaluators._rowsum import masked_rowsum_like_numpy

        sums = masked_rowsum_like_numpy(buf[:, :top, 0], np.arange(top)[None, :] < counts[:, None])[:, None]
    elif c == 1:  # beyond the emulated block size: let numpy do it, cluster by cluster
        return np.stack([buf[i, :counts[i]].mean(axis=0) for i in range(n)])
    else:
        sums = buf[:, 0].copy()
        for i in range(1, top):
            sums += buf[:, i]
    return sums / counts[:, None].astype(buf.dtype)


# The salvage search (_salvage_tiled) bounds the scores of _SALVAGE_TILE pixel tiles, then scores exactly the
# (person, tile) pairs whose bound can still win, _SALVAGE_BLOCK elements (pairs x tile pixels) at a time; the
# bounds themselves are formed for at most _SALVAGE_BOUND_BLOCK (person, tile) pairs at a time.
_SALVAGE_TILE = (16, 16)
_SALVAGE_BLOCK = 1 << 17
_SALVAGE_BOUND_BLOCK = 1 << 22


def _salvage_scores(heat: np.ndarray, tags: list[np.ndarray], means: np.ndarray) -> np.ndarray:
    """``heat - round(|tags - mean|)`` with the reference's float operations, operands and dtypes, per element.

    The tag channels are taken as planes, so that ``|tag - mean|^2`` sums as ``(0 + d0^2) + d1^2``, as
    ``np.sum`` does it; everything is formed in the tags' dtype (the heat is subtracted into that dtype, as
    ``out=`` casts it). Each result element depends only on its own operands, so a score is the same bits
    whether it is computed over the whole map or over any gathered subset of pixels.

    Args:
        heat: (L,) or (G, L) heat values.
        tags: C arrays (L,) or (G, L), the tag channels at the same pixels.
        means: (G, C) mean tags of G people.

    Returns:
        (G, L) scores.
    """
    norm = None
    for c, plane in enumerate(tags):
        shape = (len(means), plane.shape[-1])
        d = np.subtract(plane, means[:, c:c + 1], out=np.empty(shape, dtype=plane.dtype))
        d *= d
        norm = d if norm is None else np.add(norm, d, out=norm)
    np.sqrt(norm, out=norm)
    np.rint(norm, out=norm)  # np.round to 0 decimals: half to even
    return np.subtract(heat, norm, out=norm)


def _salvage_full_map(heatmap: np.ndarray, planes: np.ndarray, tag_means: np.ndarray, missing: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_salvage` by scoring every pixel of every missing joint: ppdet's own way, for maps with NaN or inf."""
    j_count = heatmap.shape[0]
    flat_heat = heatmap.reshape(j_count, -1)
    out: list[tuple[int, int, int, Any]] = []
    for pid, jid in zip(*np.nonzero(missing)):
        tags = [planes[c, jid].reshape(-1) for c in range(planes.shape[0])]
        score = _salvage_scores(flat_heat[jid], tags, tag_means[pid:pid + 1])[0]
        best = int(np.argmax(score))  # first index among equal maxima; NaN wins, as in ppdet
        if score[best] > 0:
            out.append((pid, jid, best, score[best]))
    return _salvage_result(out, planes.dtype)


def _salvage_result(found: list, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    pids, joints, flat, best = zip(*found) if found else ((), (), (), ())
    return (np.array(pids, dtype=np.intp), np.array(joints, dtype=np.intp), np.array(flat, dtype=np.int64),
            np.array(best, dtype=dtype))


def _tiles(a: np.ndarray, th: int, tw: int, fill=None) -> np.ndarray:
    """(H, W) -> (T, th * tw) tiles in row-major tile order, padded with ``fill`` or, if None, edge values."""
    h, w = a.shape
    pad = ((0, -h % th), (0, -w % tw))
    if any(p for _, p in pad):
        a = np.pad(a, pad, mode="edge") if fill is None else np.pad(a, pad, constant_values=fill)
    hh, ww = a.shape
    return a.reshape(hh // th, th, ww // tw, tw).swapaxes(1, 2).reshape(-1, th * tw)


def _score_tiles(tiled: tuple, means: np.ndarray, rows: np.ndarray, tiles: np.ndarray, best: np.ndarray,
                 best_idx: np.ndarray) -> None:
    """Score (person, tile) pairs exactly and fold them into each person's best positive score and its index.

    Args:
        tiled: ``(heat (T, S), [tags (T, S)] * C, flat indices (T, S))`` of one joint, from :func:`_tiles`.
        means: (G, C) mean tags of the joint's candidate people.
        rows: (K,) person of each pair (row of ``means``).
        tiles: (K,) tile of each pair.
        best: (G,) best positive score so far (0: none), updated in place.
        best_idx: (G,) the smallest flat index scoring ``best``, updated in place (meaningless where best is 0).
    """
    heat_t, tag_t, flat_idx = tiled
    none = np.iinfo(np.int64).max
    step = max(1, _SALVAGE_BLOCK // heat_t.shape[1])
    for k in range(0, rows.size, step):
        r, t = rows[k:k + step], tiles[k:k + step]
        score = _salvage_scores(heat_t[t], [tt[t] for tt in tag_t], means[r])
        # a tile's slots are its pixels row by row, in flat-index order: the first maximum is np.argmax's
        pos = np.argmax(score, axis=1)
        top = score[np.arange(r.size), pos]
        hit = np.flatnonzero(top > 0)
        if hit.size == 0:
            continue
        r, t, top = r[hit], t[hit], top[hit]
        first = flat_idx[t, pos[hit]]
        prev = best.copy()
        np.maximum.at(best, r, top)
        best_idx[best > prev] = none  # a higher best: the index of the lower one no longer counts
        tie = top == best[r]
        np.minimum.at(best_idx, r[tie], first[tie])


def _salvage_tiled(heatmap: np.ndarray, planes: np.ndarray, tag_means: np.ndarray, missing: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_salvage` for finite maps by branch and bound over pixel tiles.

    Every operation of a score (subtract, square, add, sqrt, rint, subtract) is rounded monotonically, so a
    pixel's score is at most the score, formed with the very same operations, of a fictitious pixel with the
    tile's highest heat and, per channel, the tag in the tile's tag range nearest to the person's mean (the
    mean clipped to the range). The tiles whose bound is <= 0 hold no salvageable pixel. Each person first
    scores its tile of highest bound exactly; then every other tile whose bound is >= that best positive score
    (ties could still win by a smaller index) is scored exactly, and the person keeps the highest positive
    score at its smallest flat index, ``np.argmax``'s first maximum. Tags vary smoothly within a tile, so the
    bounds are tight and few tiles are scored.
    """
    j_count, h, w = heatmap.shape
    th, tw = _SALVAGE_TILE
    dtype = planes.dtype
    n_chan = planes.shape[0]
    # flat pixel index of each tile slot; padding slots get h * w, beyond every real pixel
    flat_idx = _tiles(np.arange(h * w, dtype=np.int64).reshape(h, w), th, tw, fill=h * w)
    group = max(1, _SALVAGE_BOUND_BLOCK // len(flat_idx))
    out_p, out_j, out_f, out_s = [], [], [], []
    for jid in range(j_count):
        lacking = np.flatnonzero(missing[:, jid])
        # scores are at most the heat: a map with no positive heat salvages nothing
        if lacking.size == 0 or not np.asarray(heatmap[jid].max()).astype(dtype) > 0:
            continue
        # padding pixels have heat -inf (score -inf, never salvaged) and an edge tag (no wider tag range)
        heat_t = _tiles(heatmap[jid], th, tw, fill=-np.inf)
        tag_t = [_tiles(planes[c, jid], th, tw) for c in range(n_chan)]
        tiled = (heat_t, tag_t, flat_idx)
        heat_top = heat_t.max(axis=1)
        tag_lo = [t.min(axis=1) for t in tag_t]
        tag_hi = [t.max(axis=1) for t in tag_t]
        for start in range(0, lacking.size, group):  # people are independent: bound a group at a time
            pids = lacking[start:start + group]
            means = tag_means[pids]
            nearest = [np.clip(means[:, c:c + 1], tag_lo[c], tag_hi[c]) for c in range(n_chan)]
            bound = _salvage_scores(heat_top, nearest, means)  # (G, T)
            best = np.zeros(pids.size, dtype=dtype)  # 0: nothing positive yet
            best_idx = np.zeros(pids.size, dtype=np.int64)
            seed = np.argmax(bound, axis=1)
            can = bound[np.arange(pids.size), seed] > 0
            _score_tiles(tiled, means, np.flatnonzero(can), seed[can], best, best_idx)
            keep = (bound > 0) & (bound >= best[:, None])
            keep[np.arange(pids.size), seed] = False
            _score_tiles(tiled, means, *np.nonzero(keep), best, best_idx)
            found = best > 0
            out_p.append(pids[found])
            out_j.append(np.full(int(found.sum()), jid, dtype=np.intp))
            out_f.append(best_idx[found])
            out_s.append(best[found])
    if not out_p:
        return _salvage_result([], dtype)
    return np.concatenate(out_p), np.concatenate(out_j), np.concatenate(out_f), np.concatenate(out_s)


def _salvage(heatmap: np.ndarray, planes: np.ndarray, tag_means: np.ndarray, missing: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The joints ``HrHRNetPostProcess`` salvages: per person and missing joint, the first pixel of maximal
    ``heat - round(|tag - mean tag|)``, kept when that maximum is positive.

    Args:
        heatmap: (J, H, W) heatmap.
        planes: (C, J, H, W) tag channels.
        tag_means: (P, C) mean tag of each person.
        missing: (P, J) bool, the joints each person lacks.

    Returns:
        ``(person, joint, flat index, score)`` of each salvaged joint, the scores in the tags' dtype; in no
        particular order.
    """
    finite = np.isfinite(heatmap).all() and np.isfinite(planes).all() and np.isfinite(tag_means).all()
    # the bound needs ordered scores: NaN (a NaN input, or an infinite heat less an infinite distance) compares
    # false with everything, and np.argmax takes the first NaN; the full-map search reproduces that
    return (_salvage_tiled if finite else _salvage_full_map)(heatmap, planes, tag_means, missing)


class _Clusters:
    """The people found so far, in creation order, keyed as ppdet keys them.

    The key is the first tag channel's value of the peak that opened the person: a later unmatched peak whose
    tag starts with the same value joins that person instead of opening one.
    """

    def __init__(self, num_joints: int, tag_dim: int, dtype):
        self.keys: dict[float, int] = {}
        self.count = 0
        self.coords = np.zeros((8, num_joints, 2), dtype=np.float32)
        self.scores = np.zeros((8, num_joints), dtype=np.float32)
        self.tags = np.zeros((8, num_joints + 1, tag_dim), dtype=dtype)
        self.ntags = np.zeros(8, dtype=np.int64)

    def _grow(self) -> None:
        if self.count == len(self.scores):
            extra = len(self.scores)
            self.coords = np.concatenate((self.coords, np.zeros_like(self.coords[:extra])))
            self.scores = np.concatenate((self.scores, np.zeros_like(self.scores[:extra])))
            self.tags = np.concatenate((self.tags, np.zeros_like(self.tags[:extra])))
            self.ntags = np.concatenate((self.ntags, np.zeros_like(self.ntags[:extra])))

    def by_key(self, key: float) -> int:
        idx = self.keys.get(key)
        if idx is None:
            self._grow()
            idx = self.keys[key] = self.count
            self.count += 1
        return idx

    def add(self, idx: int, joint: int, tag: np.ndarray, score, coord) -> None:
        if self.ntags[idx] == self.tags.shape[1]:  # only when tags with equal first values keep colliding
            self.tags = np.concatenate((self.tags, np.zeros_like(self.tags)), axis=1)
        self.tags[idx, self.ntags[idx]] = tag
        self.ntags[idx] += 1
        self.scores[idx, joint] = score
        self.coords[idx, joint] = coord

    def mean_tags(self, n: int) -> np.ndarray:
        return _mean_tags(self.tags[:n], self.ntags[:n])


def group_people(heatmap: np.ndarray, tagmap: np.ndarray, peak_values: np.ndarray, peak_indices: np.ndarray,
                 image_size: tuple[int, int], *, max_num_people: int = 30, heat_thresh: float = 0.1,
                 tag_thresh: float = 1.0, stride: int = _PPDET_STRIDE) -> tuple[np.ndarray, np.ndarray]:
    """Group the peaks of one image into people: ppdet's ``HrHRNetPostProcess``.

    Joint by joint (channel order), the peaks above ``heat_thresh`` are matched to the first ``max_num_people``
    people by scipy's ``linear_sum_assignment`` on ``round(|tag - mean tag|) * 100 - peak value`` (padded with
    1e-10 columns when there are more peaks than people); a match with tag distance below ``tag_thresh`` joins
    that person, any other peak starts a person. Then every found joint moves a quarter pixel towards its
    higher neighbour (+0.5 to the pixel centre); a joint a person lacks is salvaged at the maximum of
    ``heatmap - round(|tagmap - person's mean tag|)`` when that is positive. Finally the coordinates go back to
    image pixels through the inverse of :func:`bottom_up_affine` for the heatmap's short side.

    Args:
        heatmap: (J, H, W) upsampled heatmap (input resolution).
        tagmap: (J, H, W, C) upsampled tags.
        peak_values: (J, k) from :func:`top_k_peaks`, descending per joint.
        peak_indices: (J, k) flat indices from :func:`top_k_peaks`.
        image_size: (height, width) of the original image.
        max_num_people: people a joint is matched against (the first ones found).
        heat_thresh: peaks at or below are ignored.
        tag_thresh: largest tag distance (exclusive) for joining a person.
        stride: the resize stride of :func:`resize_for_bottom_up`.

    Returns:
        ``(keypoints (P, J, 3) float32 x, y, score in image pixels, scores (P,) float32)``; a joint neither found
        nor salvaged has score 0 (and coordinates of the heatmap origin mapped back). The person score is the
        mean of its found peak values over all J joints, salvaged joints not counted, as ppdet reports it.
    """
    from scipy.optimize import linear_sum_assignment

    heatmap = np.asarray(heatmap)
    tagmap = np.asarray(tagmap)
    heats = np.asarray(peak_values)
    inds = np.asarray(peak_indices)
    j_count, h, w = heatmap.shape
    if tagmap.shape[:3] != heatmap.shape or tagmap.ndim != 4:
        raise ValueError(f"tagmap must be (J, H, W, C) for heatmap {heatmap.shape}, got {tagmap.shape}")
    ys = inds // w
    xs = inds % w
    tags = tagmap[np.arange(j_count)[:, None], ys, xs]  # (J, k, C)
    coords = np.stack((ys, xs), axis=2)
    mask = heats > heat_thresh

    clusters = _Clusters(j_count, tagmap.shape[-1], tagmap.dtype)
    for jid in range(j_count):
        m = mask[jid]
        num_valid = int(m.sum())
        if num_valid == 0:
            continue
        if clusters.count == 0:  # the first joint with peaks opens one person per peak
            for i in np.flatnonzero(m):
                tag = tags[jid, i]
                clusters.add(clusters.by_key(float(tag[0])), jid, tag, heats[jid, i], coords[jid, i])
            continue
        num_clusters = min(clusters.count, max_num_people)
        centroids = clusters.mean_tags(num_clusters)
        l2 = np.linalg.norm(tags[jid, m][:, None, :] - centroids[None], ord=2, axis=2)
        cost = np.round(l2) * 100 - heats[jid, m, None]
        if num_valid > num_clusters:  # dummy people so that extra peaks can stay unmatched and open new ones
            cost = np.pad(cost, ((0, 0), (0, num_valid - num_clusters)), "constant",
                          constant_values=((0, 0), (0, 1e-10)))
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols):
            # ppdet indexes the peak by its row in the valid-only matrix: the valid peaks are a prefix of the
            # descending top-k, so this is the same peak
            tag = tags[jid, r]
            if c < num_clusters and l2[r, c] < tag_thresh:
                idx = int(c)
            else:
                idx = clusters.by_key(float(tag[0]))
            clusters.add(idx, jid, tag, heats[jid, r], coords[jid, r])

    p = clusters.count
    pose_coords = clusters.coords[:p].copy()
    pose_scores = np.ascontiguousarray(clusters.scores[:p])
    valid = pose_scores > 0
    kpts = np.zeros((p, j_count, 3), dtype=np.float32)
    if not valid.any():
        return kpts, np.zeros(p, dtype=np.float32)

    vc = pose_coords[valid].astype(np.int32)
    _, vj = np.nonzero(valid)
    dy, dx = _refine_offsets(vj, vc[:, 0], vc[:, 1], heatmap)
    pose_coords[valid, 0] += dy
    pose_coords[valid, 1] += dx
    mean_score = pose_scores.mean(axis=1)
    kpts[valid, 2] = pose_scores[valid]

    # salvage: only the joints a person lacks are scored (ppdet scores all J maps and then keeps those)
    tag_means = clusters.mean_tags(p)
    planes = np.moveaxis(tagmap, -1, 0)  # (C, J, H, W)
    pids, joints, flat, best = _salvage(heatmap, planes, tag_means, pose_scores == 0)
    if pids.size:
        y = flat // w
        x = flat % w
        oy, ox = _refine_offsets(joints, y, x, heatmap)
        pose_coords[pids, joints, 0] = y.astype(np.float32) + oy
        pose_coords[pids, joints, 1] = x.astype(np.float32) + ox
        kpts[pids, joints, 2] = best

    inverse, _, _, _ = bottom_up_affine(image_size[0], image_size[1], min(h, w), stride, inverse=True)
    xy = pose_coords[..., ::-1].reshape(-1, 2)
    # same operands and shapes as ppdet's warp_affine_joints, so BLAS rounds the same way
    mapped = np.dot(np.concatenate((xy, xy[:, :1] * 0 + 1), axis=1), inverse.T)
    kpts[..., :2] = mapped.reshape(p, j_count, 2)
    return kpts, mean_score


def decode_bottom_up(heatmaps: np.ndarray, tags: np.ndarray, flipped_heatmaps: np.ndarray | None = None,
                     flipped_tags: np.ndarray | None = None, *, settings: Any,
                     transform: BottomUpTransform) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs of one image (and of its mirror image) to people in image pixels.

    The flip test runs when the mirrored image's outputs are given; ``settings.flip`` (the card's
    ``eval.flip``) tells the caller whether to produce them.

    Args:
        heatmaps: (1, J, h, w) or (J, h, w) heatmaps of the image, at half the input resolution.
        tags: tags of the same shape.
        flipped_heatmaps: the mirrored image's heatmaps, or None for no flip test.
        flipped_tags: the mirrored image's tags (with ``flipped_heatmaps``).
        settings: a :class:`BottomUpSettings` or a bottom-up :class:`kbench.cards.ModelCard`.
        transform: what :func:`resize_for_bottom_up` returned for this image.

    Returns:
        ``(keypoints (P, J, 3), scores (P,))`` as :func:`group_people` returns them.
    """
    cfg = settings if isinstance(settings, BottomUpSettings) else BottomUpSettings.from_card(settings)

    def batch(a):
        a = np.asarray(a)
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4 or a.shape[0] != 1:
            raise ValueError(f"expected the outputs of one image, (1, J, h, w) or (J, h, w); got {a.shape}")
        return a

    if (flipped_heatmaps is None) != (flipped_tags is None):
        raise ValueError("give both flipped_heatmaps and flipped_tags, or neither")
    flipped = None if flipped_heatmaps is None else (batch(flipped_heatmaps), batch(flipped_tags))
    heat, tagmaps = merge_flip((batch(heatmaps), batch(tags)), flipped, cfg.flip_perm)
    heat_up = upsample2x_bilinear(heat[0])
    # tags upsampled as channel planes (C, J, H, W), the layout group_people reads them in
    tags_up = np.moveaxis(upsample2x_bilinear(np.ascontiguousarray(np.moveaxis(tagmaps[0], -1, 0))), 0, -1)
    values, indices = top_k_peaks(heat_up, cfg.max_num_people)
    return group_people(heat_up, tags_up, values, indices, transform.image_size,
                        max_num_people=cfg.max_num_people, heat_thresh=cfg.heat_thresh,
                        tag_thresh=cfg.tag_thresh, stride=transform.stride)
