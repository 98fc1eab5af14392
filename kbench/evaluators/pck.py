"""Generic keypoint accuracy metrics: PCK (box-normalised), AUC and EPE.

Semantics of mmpose's ``keypoint_pck_accuracy``, ``keypoint_auc`` and ``keypoint_epe`` (which
PaddleDetection's custom-data tooling mirrors): distances are normalised per instance, a joint is
correct when its normalised distance is strictly below the threshold, joints that are masked out or
whose normaliser is zero do not count, and the average is over joints that have any valid instance.
"""

from __future__ import annotations

import numpy as np

__all__ = ["normalized_distances", "pck_accuracy", "pck_auc", "epe", "bbox_normalizer"]


def normalized_distances(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Per-joint distances divided by a per-instance (x, y) normaliser; -1 where not valid.

    Args:
        pred, gt: (N, K, 2) coordinates.
        mask: (N, K) bool, joints to evaluate.
        norm: (N, 2) normaliser per instance; instances with a zero entry are left out.

    Returns:
        (K, N) float32 distances, -1 where invalid (mmpose's layout).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    norm = np.array(norm, dtype=np.float64, copy=True)
    valid = np.array(mask, dtype=bool, copy=True)
    valid[(norm == 0).sum(axis=1) > 0, :] = False
    norm[norm <= 0] = 1e6
    dist = np.full(valid.shape, -1, dtype=np.float32)
    dist[valid] = np.linalg.norm(((pred - gt) / norm[:, None, :])[valid], axis=-1)
    return dist.T


def bbox_normalizer(bboxes: np.ndarray) -> np.ndarray:
    """(N, 2) normaliser from (N, 4) x, y, w, h boxes: the larger side, for both axes."""
    side = np.max(np.asarray(bboxes, dtype=np.float64)[:, 2:], axis=1)
    return np.stack([side, side], axis=1)


def pck_accuracy(pred, gt, mask, thr: float, norm) -> tuple[np.ndarray, float, int]:
    """PCK at ``thr``: per-joint accuracy (-1 where a joint has no valid instance), mean, joints counted."""
    dist = normalized_distances(pred, gt, mask, norm)
    valid = dist != -1
    n_valid = valid.sum(axis=1)
    correct = ((dist < thr) & valid).sum(axis=1)
    acc = np.where(n_valid > 0, correct / np.maximum(n_valid, 1), -1.0)
    counted = int((n_valid > 0).sum())
    avg = float(acc[n_valid > 0].mean()) if counted else 0.0
    return acc, avg, counted


def pck_auc(pred, gt, mask, norm_factor: float, num_thrs: int = 20) -> float:
    """Area under the PCK curve for thresholds 0, 1/num_thrs, ..., (num_thrs-1)/num_thrs of ``norm_factor``."""
    n = np.asarray(pred).shape[0]
    norm = np.tile(np.array([[norm_factor, norm_factor]], dtype=np.float64), (n, 1))
    auc = 0.0
    for i in range(num_thrs):
        _, avg, _ = pck_accuracy(pred, gt, mask, 1.0 * i / num_thrs, norm)
        auc += 1.0 / num_thrs * avg
    return auc


def epe(pred, gt, mask) -> float:
    """End-point error: mean pixel distance over valid joints."""
    n = np.asarray(pred).shape[0]
    dist = normalized_distances(pred, gt, mask, np.ones((n, 2)))
    valid = dist[dist != -1]
    return float(valid.sum() / max(1, len(valid)))
