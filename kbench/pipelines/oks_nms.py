"""Top-down rescoring and OKS non-maximum suppression, as PaddleDetection's COCO evaluation applies them.

PaddleDetection's ``KeyPointTopDownCOCOEval.get_final_results`` (after HRNet) does, per image:

1. rescoring: instance score = box score x mean of the keypoint scores above ``vis_thr`` (0.2), the
   mean taken as 0 when none is above;
2. OKS-NMS: greedily keep the highest-scored instance and drop every other whose OKS with it is
   above ``oks_thr`` (0.9), the OKS area being the mean of the two instances' box areas.

Both run here on all images at once. The arithmetic follows the reference's dtypes and summation
order, so the scores are bit-identical and the keep-list is the same, ties in score included.
"""

from __future__ import annotations

import numpy as np

from kbench.evaluators._rowsum import rowsum_like_numpy

__all__ = ["rescore_by_keypoints", "oks_nms", "oks_matrix_pairs", "rescore_and_nms"]

_COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0


def rescore_by_keypoints(keypoint_scores: np.ndarray, box_scores: np.ndarray, vis_thr: float = 0.2) -> np.ndarray:
    """Box score x mean confident keypoint score, for every instance at once.

    The mean is accumulated joint by joint in the keypoint scores' own dtype, as the reference's Python
    loop does with numpy scalars, then multiplied by the box score.

    Args:
        keypoint_scores: (N, K) per-keypoint confidences.
        box_scores: (N,) detector box scores.
        vis_thr: keypoints with a score above this count.

    Returns:
        (N,) new instance scores.
    """
    ks = np.asarray(keypoint_scores)
    if ks.ndim != 2:
        raise ValueError(f"keypoint_scores must be (N, K), got shape {ks.shape}")
    acc = np.zeros(ks.shape[0], dtype=ks.dtype)
    count = np.zeros(ks.shape[0], dtype=np.int64)
    for j in range(ks.shape[1]):
        confident = ks[:, j] > vis_thr
        acc = np.where(confident, acc + ks[:, j], acc)
        count += confident
    mean = np.where(count > 0, acc / np.maximum(count, 1).astype(ks.dtype), acc)
    return mean * np.asarray(box_scores)


def oks_matrix_pairs(kpts: np.ndarray, areas: np.ndarray, first: np.ndarray, second: np.ndarray,
                     sigmas: np.ndarray | None = None) -> np.ndarray:
    """OKS between instance pairs as PaddleDetection's ``oks_iou`` computes it (all joints, mean area).

    Args:
        kpts: (N, K, 3) keypoints (x, y, score); x and y are used.
        areas: (N,) instance areas.
        first, second: (P,) instance indices of each pair.
        sigmas: per-keypoint sigmas; COCO's when None.
    """
    sig = _COCO_SIGMAS if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    variances = (sig * 2) ** 2
    dx = kpts[second, :, 0] - kpts[first, :, 0]
    dy = kpts[second, :, 1] - kpts[first, :, 1]
    e = (dx**2 + dy**2) / variances / ((areas[first] + areas[second]) / 2 + np.spacing(1))[:, None] / 2
    return rowsum_like_numpy(np.exp(-e)) / e.shape[1]


def oks_nms(kpts: np.ndarray, scores: np.ndarray, areas: np.ndarray, image_ids: np.ndarray | None = None,
            oks_thr: float = 0.9, sigmas: np.ndarray | None = None) -> np.ndarray:
    """Greedy OKS-NMS over all images at once.

    Args:
        kpts: (N, K, 3) keypoints.
        scores: (N,) instance scores (after rescoring).
        areas: (N,) instance areas (PaddleDetection: the box's (scale x 200) product).
        image_ids: (N,) image of each instance; one image when None.
        oks_thr: instances whose OKS with a kept one is above this are dropped.
        sigmas: per-keypoint sigmas; COCO's when None.

    Returns:
        Indices of the kept instances: images in order of first appearance, and within an image in
        decreasing score, as PaddleDetection lists them.
    """
    kpts = np.asarray(kpts)
    n = kpts.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    scores = np.asarray(scores)
    areas = np.asarray(areas)
    image_ids = np.zeros(n, dtype=np.int64) if image_ids is None else np.asarray(image_ids)
    _, first_seen, img_group = np.unique(image_ids, return_index=True, return_inverse=True)
    img_rank = np.argsort(np.argsort(first_seen, kind="stable"), kind="stable")[img_group]
    # Within an image: decreasing score.
    order = np.lexsort((-np.arange(n), -scores, img_rank))
    grp = img_rank[order]
    counts = np.bincount(grp, minlength=int(grp.max()) + 1)
    starts = np.cumsum(counts) - counts
    # Tied scores: the reference orders an image by `scores.argsort()[::-1]`, whose tie order is numpy's
    # (unstable) sort's. Images with ties, rare, are re-sorted with that very call.
    tied = (grp[1:] == grp[:-1]) & (scores[order][1:] == scores[order][:-1])
    for g in np.unique(grp[1:][tied]):
        members = np.flatnonzero(img_rank == g)  # the image's instances in input order, as the reference lists them
        order[starts[g]:starts[g] + counts[g]] = members[np.argsort(scores[members])[::-1]]
    rank = np.arange(n) - starts[grp]
    # Every ordered pair (i before j) inside an image.
    n_after = counts[grp] - rank - 1
    pi = np.repeat(np.arange(n), n_after)
    pj = pi + 1 + (np.arange(len(pi)) - np.repeat(np.cumsum(n_after) - n_after, n_after))
    oks = oks_matrix_pairs(kpts, areas, order[pi], order[pj], sigmas)
    drop_pair = ~(oks <= oks_thr)  # the reference keeps `oks <= thr`; NaN drops
    alive = np.ones(n, dtype=bool)
    pair_rank = rank[pi]
    by_rank = np.argsort(pair_rank, kind="stable")
    bounds = np.searchsorted(pair_rank[by_rank], np.arange(int(rank.max()) + 2))
    for r in range(int(rank.max()) + 1):
        sel = by_rank[bounds[r]:bounds[r + 1]]
        if len(sel) == 0:
            continue
        live = sel[alive[pi[sel]] & drop_pair[sel]]
        alive[pj[live]] = False
    kept_sorted = np.flatnonzero(alive)
    return order[kept_sorted]


def rescore_and_nms(keypoints: np.ndarray, box_scores: np.ndarray, areas: np.ndarray, image_ids: np.ndarray,
                    vis_thr: float = 0.2, oks_thr: float = 0.9, sigmas: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """PaddleDetection's top-down final step: rescoring then OKS-NMS per image.

    Args:
        keypoints: (N, K, 3) predictions in image pixels with keypoint scores.
        box_scores: (N,) detector box scores.
        areas: (N,) box areas (PaddleDetection: product of scale x 200).
        image_ids: (N,) image of each instance.
        vis_thr: keypoint score above which a keypoint counts in the rescoring (0.2).
        oks_thr: OKS above which a lower-scored instance is suppressed (0.9).
        sigmas: per-keypoint sigmas for the NMS's OKS; COCO's when None.

    Returns:
        (kept indices in PaddleDetection's output order, rescored scores of all N instances).
    """
    kp = np.asarray(keypoints)
    scores = rescore_by_keypoints(kp[:, :, 2], box_scores, vis_thr)
    keep = oks_nms(kp, scores, areas, image_ids, oks_thr, sigmas)
    return keep, scores
