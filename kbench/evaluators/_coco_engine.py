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

from kbench.evaluators._rowsum import gathered_rowsum_like_numpy

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


def _pair_oks(g_kp, g_bbox, g_den, d_kp, pair_gt, g_count, variances):
    """OKS of each (dt, gt) pair, rounded as pycocotools' computeOks rounds it.

    Pairs are ordered by detection, each detection followed by its image's ground truths, so the
    detection side is a ``repeat`` rather than a gather.
    """
    k = variances.shape[0]
    g_x = np.ascontiguousarray(g_kp[:, :, 0])
    g_y = np.ascontiguousarray(g_kp[:, :, 1])
    g_vis = g_kp[:, :, 2] > 0
    g_nvis = g_vis.sum(axis=1)
    # Which terms each ground truth sums, visible columns first in order; all k when none is labelled.
    g_cols = np.argsort(~g_vis, axis=1, kind="stable")
    g_cols[g_nvis == 0] = np.arange(k)
    g_nterms = np.where(g_nvis == 0, k, g_nvis)
    dx = np.repeat(d_kp[:, :, 0], g_count, axis=0)
    dy = np.repeat(d_kp[:, :, 1], g_count, axis=0)
    unl = np.flatnonzero(np.take(g_nvis, pair_gt) == 0)
    xd_unl, yd_unl = dx[unl], dy[unl]
    dx -= np.take(g_x, pair_gt, axis=0)
    dy -= np.take(g_y, pair_gt, axis=0)
    if len(unl):
        # Ground truths with no labelled keypoint: distance to the box grown by its size on each side.
        bb = g_bbox[pair_gt[unl]]
        x0 = (bb[:, 0] - bb[:, 2])[:, None]
        x1 = (bb[:, 0] + bb[:, 2] * 2)[:, None]
        y0 = (bb[:, 1] - bb[:, 3])[:, None]
        y1 = (bb[:, 1] + bb[:, 3] * 2)[:, None]
        dx[unl] = np.maximum(0.0, x0 - xd_unl) + np.maximum(0.0, xd_unl - x1)
        dy[unl] = np.maximum(0.0, y0 - yd_unl) + np.maximum(0.0, yd_unl - y1)
    # e = (dx**2 + dy**2) / vars / (area + eps) / 2, evaluated in that order, in place.
    e = dx**2
    e += dy**2
    e /= variances
    e /= (np.take(g_den, pair_gt) + _EPS)[:, None]
    e /= 2
    np.negative(e, out=e)
    np.exp(e, out=e)
    n_terms = np.take(g_nterms, pair_gt)
    return gathered_rowsum_like_numpy(e, np.take(g_cols, pair_gt, axis=0), n_terms) / n_terms


def _could_reach(g_kp, g_bbox, g_den, d_kp, pair_gt, pair_dt, variances, min_oks):
    """False for pairs whose OKS is provably below ``min_oks``; they can never match and are not computed.

    OKS is a mean of terms exp(-e_j), so OKS >= min_oks needs some e_j <= ln(1/min_oks). Each
    counted keypoint distance is at least the gap between the detection's keypoint extent and the
    ground truth's reference box (its labelled keypoints' extent; for a person with none, the box
    grown by its size, which is what the distance is measured to), which bounds every e_j from below.
    """
    vis = g_kp[:, :, 2] > 0
    labelled = vis.any(axis=1)
    inf = np.where(vis, 0.0, np.inf)
    gx0 = np.where(labelled, np.min(g_kp[:, :, 0] + inf, axis=1), g_bbox[:, 0] - g_bbox[:, 2])
    gx1 = np.where(labelled, np.max(g_kp[:, :, 0] - inf, axis=1), g_bbox[:, 0] + g_bbox[:, 2] * 2)
    gy0 = np.where(labelled, np.min(g_kp[:, :, 1] + inf, axis=1), g_bbox[:, 1] - g_bbox[:, 3])
    gy1 = np.where(labelled, np.max(g_kp[:, :, 1] - inf, axis=1), g_bbox[:, 1] + g_bbox[:, 3] * 2)
    dx0, dx1 = d_kp[:, :, 0].min(axis=1), d_kp[:, :, 0].max(axis=1)
    dy0, dy1 = d_kp[:, :, 1].min(axis=1), d_kp[:, :, 1].max(axis=1)
    gap_x = np.maximum(np.maximum(gx0[pair_gt] - dx1[pair_dt], dx0[pair_dt] - gx1[pair_gt]), 0.0)
    gap_y = np.maximum(np.maximum(gy0[pair_gt] - dy1[pair_dt], dy0[pair_dt] - gy1[pair_gt]), 0.0)
    den = g_den[pair_gt] + _EPS
    bound = (gap_x**2 + gap_y**2) / variances.max() / np.where(den > 0, den, np.nan) / 2
    limit = np.log(1.0 / min_oks) * (1 + 1e-9)  # margin for rounding in the bound itself
    return ~(bound > limit)  # NaN (odd areas or boxes) keeps the pair: computed exactly as before


def run_engine(gt, dets, params: EngineParams) -> EngineResult:
    """Evaluate detections against ground truth; see the module docstring for the method."""
    sig = np.asarray(params.sigmas, dtype=np.float64)
    variances = (sig * 2) ** 2
    n_thr = len(IOU_THRESHOLDS)
    n_rec = len(RECALL_THRESHOLDS)
    area_labels = tuple(AREA_RANGES)
    n_area = len(area_labels)
    img_ids = np.unique(gt.image_ids)
    if params.image_subset is not None:
        img_ids = np.unique(np.asarray(params.image_subset, dtype=np.int64))
    cat_ids = np.unique(gt.category_ids)
    n_img, n_cat = len(img_ids), len(cat_ids)

    # ---- ground truth rows that take part, grouped by (category, image) in file order
    g_in = np.isin(gt.ann_image_id, img_ids) & np.isin(gt.ann_category_id, cat_ids)
    g_rows = np.flatnonzero(g_in)
    g_key = np.searchsorted(cat_ids, gt.ann_category_id[g_rows]) * n_img + np.searchsorted(
        img_ids, gt.ann_image_id[g_rows])
    g_order = np.argsort(g_key, kind="stable")
    g_rows, g_key = g_rows[g_order], g_key[g_order]
    g_kp = gt.keypoints[g_rows]
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
        g_labelled = np.count_nonzero(g_kp[:, :, 2] > 0, axis=1)
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
    d_kp = dets.keypoints[d_rows]
    d_area = dets.area[d_rows]
    n_det = len(d_rows)

    # ---- every (dt, gt) pair of the same (category, image)
    g_start = np.searchsorted(g_key, d_key, side="left")
    g_count = np.searchsorted(g_key, d_key, side="right") - g_start
    pair_dt = np.repeat(np.arange(n_det), g_count)
    pair_gt = np.repeat(g_start, g_count) + _ragged_arange(g_count)
    thr = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)
    near = _could_reach(g_kp, g_bbox, g_den, d_kp, pair_gt, pair_dt, variances, thr[0])
    pair_dt, pair_gt = pair_dt[near], pair_gt[near]
    pair_oks = _pair_oks(g_kp, g_bbox, g_den, d_kp, pair_gt, np.bincount(pair_dt, minlength=n_det), variances)

    # ---- greedy matching, one detection rank at a time, all images/areas/thresholds at once
    match_gt = np.full((n_area, n_thr, n_det), -1, dtype=np.int64)
    taken = np.zeros((n_area, n_thr, len(g_rows)), dtype=bool)
    # A pair below the lowest threshold can never match: most pairs leave here.
    can_match = np.flatnonzero(pair_oks >= thr[0])
    by_rank = can_match[np.argsort(d_rank[pair_dt[can_match]], kind="stable")]
    p_dt, p_gt, p_oks = pair_dt[by_rank], pair_gt[by_rank], pair_oks[by_rank]
    rank_bounds = np.searchsorted(d_rank[p_dt], np.arange(params.max_dets + 1))
    for r in range(params.max_dets):
        lo_, hi_ = rank_bounds[r], rank_bounds[r + 1]
        if lo_ == hi_:
            continue
        sdt, sgt, soks = p_dt[lo_:hi_], p_gt[lo_:hi_], p_oks[lo_:hi_]
        seg_first = np.r_[True, sdt[1:] != sdt[:-1]]
        starts = np.flatnonzero(seg_first)
        seg_of = np.cumsum(seg_first) - 1
        pos = np.arange(len(sdt))
        available = ~taken[:, :, sgt] | g_crowd[sgt]
        eligible = available & (soks[None, :] >= thr[:, None])[None]
        ig = g_ig_area[:, sgt][:, None, :]
        best = np.full((n_area, n_thr, len(starts)), -1, dtype=np.int64)
        for cand in (eligible & ig, eligible & ~ig):  # later pass wins: non-ignored ground truth first
            val = np.where(cand, soks, -np.inf)
            top = np.maximum.reduceat(val, starts, axis=2)
            at_top = cand & (val == top[:, :, seg_of])
            last = np.maximum.reduceat(np.where(at_top, pos, -1), starts, axis=2)
            best = np.where(last >= 0, last, best)
        found = best >= 0
        a_idx, t_idx, s_idx = np.nonzero(found)
        hit_gt = sgt[best[a_idx, t_idx, s_idx]]
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
        considered = ~dt_ignore[:, :, ranked]
        hits = counts_as_match[:, :, ranked]
        tp_all = np.cumsum(hits & considered, axis=2, dtype=np.float64)  # counts are exact in float64
        fp_all = np.cumsum(~hits & considered, axis=2, dtype=np.float64)
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
