"""Array engine of the COCO keypoint evaluation (OKS AP), vectorised over all images at once.

The semantics are pycocotools' ``COCOeval(..., 'keypoints')`` (and xtcocotools' where options say so);
the arithmetic is arranged so that every number is bit-identical to theirs:

* detections are ranked per (category, image) by score with a stable sort, as their mergesort does,
  and only the first ``max_dets`` are kept;
* OKS is computed for every (detection, ground truth) pair of the same image in one pass, with the
  per-pair sum rounded as ``np.sum`` rounds it (see :mod:`kbench.evaluators._rowsum`);
* greedy matching walks the detection ranks (at most ``max_dets`` steps) and, at each step, matches
  the rank-r detection of *every* image, area range and OKS threshold together: among the available
  ground truths with OKS >= threshold it takes the best non-ignored one, else the best ignored one,
  ties going to the later ground truth, crowd regions staying available;
* precision/recall accumulation and the summary follow ``accumulate``/``summarize`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kbench.evaluators._rowsum import gathered_columnsum_like_numpy

__all__ = ["EngineParams", "EngineResult", "run_engine", "IOU_THRESHOLDS", "RECALL_THRESHOLDS", "AREA_RANGES"]

# The exact constructions pycocotools uses; np.arange would drift in the last bit.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
AREA_RANGES = {"all": (0**2, 1e5**2), "medium": (32**2, 96**2), "large": (96**2, 1e5**2)}
_EPS = np.spacing(1)


@dataclass(frozen=True)
class EngineParams:
    """Everything that changes the numbers; built by :class:`CocoKeypointOptions`."""

    sigmas: np.ndarray
    max_dets: int = 20
    area_source: str = "annotation"  # "annotation": gt area; "bbox": w*h*0.53 (xtcocotools use_area=False)
    gt_ignore_from: str = "num_keypoints"  # or "visible": count of v > 0 (xtcocotools)
    dt_min_kpt_score: float | None = None  # drop detections with no keypoint score above this
    matched_id_rule: str = "nonzero"  # pycocotools: a match to gt id 0 reads as no match; "nonnegative": xtco
    image_subset: np.ndarray | None = None  # evaluate only these image ids (CrowdPose splits)


@dataclass
class EngineResult:
    """Raw arrays, shaped as pycocotools' ``eval`` dictionary (M = 1 max-dets setting)."""

    precision: np.ndarray  # (T, R, K, A, 1)
    recall: np.ndarray  # (T, K, A, 1)
    scores: np.ndarray  # (T, R, K, A, 1)
    area_labels: tuple
    oks: dict  # "dt", "gt", "value": OKS of the pairs that could match (>= 0.5 possible), for inspection


def _ragged_arange(counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(c) for c in counts."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


def _unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a 1-D array: ``np.unique`` without its first-call import of numpy.ma (~10 ms)."""
    s = np.sort(values)
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def _dense_rank(values: np.ndarray) -> np.ndarray:
    """Rank of each value among the distinct values (0 for the smallest); equal values get equal ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.cumsum(np.r_[False, ordered[1:] != ordered[:-1]]) if len(values) else 0
    return ranks


def _pair_oks(g_x, g_y, g_vis, g_bbox, g_den, d_x, d_y, pair_dt, pair_gt, variances):
    """OKS of each (dt, gt) pair, rounded as pycocotools' computeOks rounds it.

    Keypoint arrays are keypoint-major, (K, people), and so are the per-pair terms, (K, pairs): every
    step below, the gathers included, runs over contiguous rows, and the row sum emulation
    (:mod:`kbench.evaluators._rowsum`) adds whole rows.
    """
    k = variances.shape[0]
    g_nvis = g_vis.sum(axis=0)
    # Which terms each ground truth sums, visible keypoints first in order; all k when none is labelled.
    g_terms = np.argsort(~g_vis, axis=0, kind="stable")
    g_terms[:, g_nvis == 0] = np.arange(k)[:, None]
    g_nterms = np.where(g_nvis == 0, k, g_nvis)
    dx = np.take(d_x, pair_dt, axis=1)
    dy = np.take(d_y, pair_dt, axis=1)
    unl = np.flatnonzero(np.take(g_nvis, pair_gt) == 0)
    xd_unl, yd_unl = dx[:, unl], dy[:, unl]
    dx -= np.take(g_x, pair_gt, axis=1)
    dy -= np.take(g_y, pair_gt, axis=1)
    if len(unl):
        # Ground truths with no labelled keypoint: distance to the box grown by its size on each side.
        bb = g_bbox[pair_gt[unl]]
        x0 = bb[:, 0] - bb[:, 2]
        x1 = bb[:, 0] + bb[:, 2] * 2
        y0 = bb[:, 1] - bb[:, 3]
        y1 = bb[:, 1] + bb[:, 3] * 2
        dx[:, unl] = np.maximum(0.0, x0 - xd_unl) + np.maximum(0.0, xd_unl - x1)
        dy[:, unl] = np.maximum(0.0, y0 - yd_unl) + np.maximum(0.0, yd_unl - y1)
    # e = (dx**2 + dy**2) / vars / (area + eps) / 2, evaluated in that order, in place (x * x is x**2 exactly).
    e = np.multiply(dx, dx, out=dx)
    e += np.multiply(dy, dy, out=dy)
    e /= variances[:, None]
    e /= np.take(g_den, pair_gt) + _EPS
    e /= 2
    np.negative(e, out=e)
    np.exp(e, out=e)
    n_terms = np.take(g_nterms, pair_gt)
    return gathered_columnsum_like_numpy(e, np.take(g_terms, pair_gt, axis=1), n_terms) / n_terms


def _could_reach(g_x, g_y, g_vis, g_bbox, g_den, d_x, d_y, pair_gt, g_count, variances, min_oks):
    """False for pairs whose OKS is provably below ``min_oks``; they can never match and are not computed.

    OKS is a mean of terms exp(-e_j), so OKS >= min_oks needs some e_j <= ln(1/min_oks). Each
    counted keypoint distance is at least the gap between the detection's keypoint extent and the
    ground truth's reference box (its labelled keypoints' extent; for a person with none, the box
    grown by its size, which is what the distance is measured to), which bounds every e_j from below:
    e_j >= gap**2 / max(vars) / (area + eps) / 2. Pairs are grouped by detection (``g_count`` ground
    truths each), so the detection side is a ``repeat`` rather than a gather.
    """
    labelled = g_vis.any(axis=0)
    inf = np.where(g_vis, 0.0, np.inf)
    gx0 = np.where(labelled, np.min(g_x + inf, axis=0), g_bbox[:, 0] - g_bbox[:, 2])
    gx1 = np.where(labelled, np.max(g_x - inf, axis=0), g_bbox[:, 0] + g_bbox[:, 2] * 2)
    gy0 = np.where(labelled, np.min(g_y + inf, axis=0), g_bbox[:, 1] - g_bbox[:, 3])
    gy1 = np.where(labelled, np.max(g_y - inf, axis=0), g_bbox[:, 1] + g_bbox[:, 3] * 2)
    gap_x = np.maximum(np.take(gx0, pair_gt) - np.repeat(d_x.max(axis=0), g_count),
                       np.repeat(d_x.min(axis=0), g_count) - np.take(gx1, pair_gt))
    gap_y = np.maximum(np.take(gy0, pair_gt) - np.repeat(d_y.max(axis=0), g_count),
                       np.repeat(d_y.min(axis=0), g_count) - np.take(gy1, pair_gt))
    np.maximum(gap_x, 0.0, out=gap_x)
    np.maximum(gap_y, 0.0, out=gap_y)
    gap_x *= gap_x
    gap_y *= gap_y
    gap_x += gap_y
    # The bound <= ln(1/min_oks), rearranged per ground truth: gap**2 <= its reach (infinite for a zero,
    # negative or NaN area: such pairs are computed exactly, as before). The margin covers the rounding of
    # the bound itself, which is many orders of magnitude smaller.
    den = g_den + _EPS
    limit = np.log(1.0 / min_oks) * (1 + 1e-9)
    with np.errstate(invalid="ignore"):
        reach = np.where(den > 0, limit * 2 * variances.max() * den, np.inf)
    return ~(gap_x > np.take(reach, pair_gt))  # a NaN gap (a box with NaN) keeps the pair too


def run_engine(gt, dets, params: EngineParams) -> EngineResult:
    """Evaluate detections against ground truth; see the module docstring for the method."""
    sig = np.asarray(params.sigmas, dtype=np.float64)
    variances = (sig * 2) ** 2
    n_thr = len(IOU_THRESHOLDS)
    n_rec = len(RECALL_THRESHOLDS)
    area_labels = tuple(AREA_RANGES)
    n_area = len(area_labels)
    img_ids = _unique(gt.image_ids)
    if params.image_subset is not None:
        img_ids = _unique(np.asarray(params.image_subset, dtype=np.int64))
    cat_ids = _unique(gt.category_ids)
    n_img, n_cat = len(img_ids), len(cat_ids)

    # ---- ground truth rows that take part, grouped by (category, image) in file order
    g_in = np.isin(gt.ann_image_id, img_ids) & np.isin(gt.ann_category_id, cat_ids)
    g_rows = np.flatnonzero(g_in)
    g_key = np.searchsorted(cat_ids, gt.ann_category_id[g_rows]) * n_img + np.searchsorted(
        img_ids, gt.ann_image_id[g_rows])
    g_order = np.argsort(g_key, kind="stable")
    g_rows, g_key = g_rows[g_order], g_key[g_order]
    g_kp = gt.keypoints[g_rows]
    # keypoint-major copies, (K, people), for the pair computations (see _pair_oks)
    g_x, g_y = np.ascontiguousarray(g_kp[:, :, 0].T), np.ascontiguousarray(g_kp[:, :, 1].T)
    g_vis = np.ascontiguousarray(g_kp[:, :, 2].T) > 0
    g_bbox = gt.bbox[g_rows]
    g_ids = gt.ann_id[g_rows]
    g_crowd = gt.iscrowd[g_rows]
    if params.area_source == "bbox":
        g_area = g_bbox[:, 2] * g_bbox[:, 3] * 0.53
        g_den = g_bbox[:, 3] * g_bbox[:, 2] * 0.53
    else:
        g_area = gt.area[g_rows]
        g_den = g_area
    if params.gt_ignore_from == "visible":
        g_labelled = np.count_nonzero(g_vis, axis=0)
    else:
        g_labelled = gt.num_keypoints[g_rows]
    g_ignore = g_crowd | (g_labelled == 0)
    g_ig_area = np.empty((n_area, len(g_rows)), dtype=bool)
    for a, lbl in enumerate(area_labels):
        lo, hi = AREA_RANGES[lbl]
        g_ig_area[a] = g_ignore | (g_area < lo) | (g_area > hi)

    # ---- detections that take part, ranked by score within (category, image), first max_dets kept
    d_in = np.isin(dets.image_id, img_ids) & np.isin(dets.category_id, cat_ids)
    if params.dt_min_kpt_score is not None and len(dets):
        d_in &= (dets.keypoints[:, :, 2] > params.dt_min_kpt_score).any(axis=1)
    d_rows = np.flatnonzero(d_in)
    d_key = np.searchsorted(cat_ids, dets.category_id[d_rows]) * n_img + np.searchsorted(
        img_ids, dets.image_id[d_rows])
    d_score_all = dets.score[d_rows]
    d_order = np.lexsort((-d_score_all, d_key))  # stable: ties keep input order
    d_rows, d_key = d_rows[d_order], d_key[d_order]
    first = np.r_[True, d_key[1:] != d_key[:-1]] if len(d_key) else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(d_key)), 0)) if len(d_key) else first
    d_rank = np.arange(len(d_key)) - group_start
    keep = d_rank < params.max_dets
    d_rows, d_key, d_rank = d_rows[keep], d_key[keep], d_rank[keep]
    d_score = dets.score[d_rows]
    # only x and y of the kept detections, keypoint-major; their keypoint scores play no part in OKS
    d_x = np.take(dets.keypoints[:, :, 0].T, d_rows, axis=1)
    d_y = np.take(dets.keypoints[:, :, 1].T, d_rows, axis=1)
    d_area = dets.area[d_rows]
    n_det = len(d_rows)

    # ---- every (dt, gt) pair of the same (category, image)
    g_start = np.searchsorted(g_key, d_key, side="left")
    g_count = np.searchsorted(g_key, d_key, side="right") - g_start
    pair_dt = np.repeat(np.arange(n_det), g_count)
    pair_gt = np.repeat(g_start, g_count) + _ragged_arange(g_count)
    thr = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)
    near = _could_reach(g_x, g_y, g_vis, g_bbox, g_den, d_x, d_y, pair_gt, g_count, variances, thr[0])
    pair_dt, pair_gt = pair_dt[near], pair_gt[near]
    pair_oks = _pair_oks(g_x, g_y, g_vis, g_bbox, g_den, d_x, d_y, pair_dt, pair_gt, variances)

    # ---- greedy matching, one detection rank at a time, all images/areas/thresholds at once
    match_gt = np.full((n_area, n_thr, n_det), -1, dtype=np.int64)
    taken = np.zeros((n_area, n_thr, len(g_rows)), dtype=bool)
    # A pair below the lowest threshold can never match: most pairs leave here.
    can_match = np.flatnonzero(pair_oks >= thr[0])
    by_rank = can_match[np.argsort(d_rank[pair_dt[can_match]], kind="stable")]
    p_dt, p_gt, p_oks = pair_dt[by_rank], pair_gt[by_rank], pair_oks[by_rank]
    rank_bounds = np.searchsorted(d_rank[p_dt], np.arange(params.max_dets + 1))
    # The choice "best non-ignored, else best ignored, ties to the later ground truth" as one integer
    # maximum: key = (non-ignored) * big + (rank of the OKS value) * stride + (position of the ground truth),
    # so a single reduceat per step finds each detection's pick. Ranks keep ties of OKS equal.
    stride = max(len(p_oks), 1)
    oks_rank = _dense_rank(p_oks)
    big = (int(oks_rank.max(initial=0)) + 1) * stride
    for r in range(params.max_dets):
        lo_, hi_ = rank_bounds[r], rank_bounds[r + 1]
        if lo_ == hi_:
            continue
        sdt, sgt, soks = p_dt[lo_:hi_], p_gt[lo_:hi_], p_oks[lo_:hi_]
        seg_first = np.r_[True, sdt[1:] != sdt[:-1]]
        starts = np.flatnonzero(seg_first)
        # np.take rather than [..., idx]: fancy indexing on the last axis returns a transposed layout, and
        # every operation that follows would then run over strided memory.
        available = ~np.take(taken, sgt, axis=2) | g_crowd[sgt]
        eligible = available & (soks[None, :] >= thr[:, None])[None]
        key = oks_rank[lo_:hi_] * stride + np.arange(hi_ - lo_)
        key_area = np.where(np.take(g_ig_area, sgt, axis=1), key, key + big)  # (areas, pairs)
        best = np.maximum.reduceat(np.where(eligible, key_area[:, None, :], -1), starts, axis=2)
        a_idx, t_idx, s_idx = np.nonzero(best >= 0)
        hit_gt = sgt[best[a_idx, t_idx, s_idx] % stride]
        taken[a_idx, t_idx, hit_gt] = True
        match_gt[a_idx, t_idx, sdt[starts[s_idx]]] = hit_gt

    matched = match_gt >= 0
    safe = np.where(matched, match_gt, 0)
    if params.matched_id_rule == "nonzero":
        counts_as_match = matched & (g_ids[safe] != 0) if len(g_ids) else matched
    else:
        counts_as_match = matched & (g_ids[safe] >= 0) if len(g_ids) else matched
    dt_ignore = np.zeros((n_area, n_thr, n_det), dtype=bool)
    for a, lbl in enumerate(area_labels):
        lo, hi = AREA_RANGES[lbl]
        outside = (d_area < lo) | (d_area > hi)
        from_gt = matched[a] & (g_ig_area[a][safe[a]] if len(g_ids) else False)
        dt_ignore[a] = from_gt | (~counts_as_match[a] & outside[None, :])

    # ---- accumulate precision / recall per category and area range
    precision = -np.ones((n_thr, n_rec, n_cat, n_area, 1))
    recall = -np.ones((n_thr, n_cat, n_area, 1))
    scores = -np.ones((n_thr, n_rec, n_cat, n_area, 1))
    d_cat = d_key // n_img if n_img else d_key
    g_cat = g_key // n_img if n_img else g_key
    for k in range(n_cat):
        dsel = np.flatnonzero(d_cat == k)
        gsel = g_cat == k
        if len(dsel) == 0 and not gsel.any():
            continue  # no image of this category has anything: pycocotools leaves -1
        order = np.argsort(-d_score[dsel], kind="stable")
        ranked = dsel[order]
        sorted_scores = d_score[ranked]
        nd = len(ranked)
        considered = ~np.take(dt_ignore, ranked, axis=2)
        hits = np.take(counts_as_match, ranked, axis=2)
        # Counts as int32 (half the memory of float64); every quotient below converts them to float64 exactly,
        # so precision and recall are the float64 arithmetic of pycocotools' cumsum(...).astype(float).
        tp_all = np.cumsum(hits & considered, axis=2, dtype=np.int32)
        fp_all = np.cumsum(~hits & considered, axis=2, dtype=np.int32)
        for a in range(n_area):
            npig = int(np.count_nonzero(~g_ig_area[a][gsel]))
            if npig == 0:
                continue
            tp_sum, fp_sum = tp_all[a], fp_all[a]
            rc = tp_sum / npig
            pr = tp_sum / (fp_sum + tp_sum + _EPS)
            recall[:, k, a, 0] = rc[:, -1] if nd else 0
            if nd == 0:
                precision[:, :, k, a, 0] = 0
                scores[:, :, k, a, 0] = 0
                continue
            envelope = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
            for t in range(n_thr):
                idx = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
                inside = idx < nd
                clipped = np.minimum(idx, nd - 1)
                precision[t, :, k, a, 0] = np.where(inside, envelope[t][clipped], 0.0)
                scores[t, :, k, a, 0] = np.where(inside, sorted_scores[clipped], 0.0)

    return EngineResult(precision=precision, recall=recall, scores=scores, area_labels=area_labels,
                        oks={"dt": d_rows[pair_dt], "gt": g_rows[pair_gt], "value": pair_oks})
