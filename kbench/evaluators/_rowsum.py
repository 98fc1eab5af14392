"""Row sums that round exactly as ``np.sum`` does on each row alone.

The reference evaluators (pycocotools, xtcocotools, PaddleDetection's ``oks_iou``) sum the per-keypoint
OKS terms of *one* pair with ``np.sum`` on a short 1-D array. numpy sums such an array with its
pairwise routine: sequentially below 8 elements; from 8 to 128 elements in 8 interleaved accumulators
that are combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), the remainder added one by one. Summing a
whole matrix row-wise, or summing masked zeros in, rounds differently in the last bit, and a last-bit
difference can move an OKS across a 0.5 ... 0.95 threshold. These helpers reproduce the per-row order
with column operations, so the vectorised engine is bit-identical to the references.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rowsum_like_numpy", "masked_rowsum_like_numpy", "gathered_rowsum_like_numpy",
           "gathered_columnsum_like_numpy"]

_BLOCK = 8
_PAIRWISE_LIMIT = 128  # numpy's PW_BLOCKSIZE; keypoint sets are far smaller


def _sum_columns_of_length(terms: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Sum ``terms[:n[i], i]`` for each column i; entries at and past n[i] must be zero.

    The layout is term-major, one row per term position (for OKS: (keypoints, pairs)), so each step
    of the emulation is an operation on a contiguous row rather than on a strided column.
    Trailing zeros never change a sum (x + 0.0 == x), so only the blocking, which depends on n,
    needs care: columns are grouped by which of numpy's code paths their length takes. A group that
    holds a good share of the columns is summed over all of them and the group's columns kept (a few
    more additions, no copies); a small one is summed over a copy of its columns.
    """
    width, count = terms.shape
    if width > _PAIRWISE_LIMIT:
        raise ValueError(f"rows of {width} values are longer than this emulation supports ({_PAIRWISE_LIMIT})")
    out = None
    last = width // _BLOCK
    for blocks in range(0, last + 1):  # 0: fewer than 8 terms, summed one by one
        lo, hi = blocks * _BLOCK, (blocks + 1) * _BLOCK
        sel = (n >= lo) & (n < hi) if blocks < last else n >= lo
        n_sel = int(np.count_nonzero(sel))
        if n_sel == 0:
            continue
        whole = n_sel * 4 >= count
        sub = terms if whole else terms[:, sel]
        if blocks == 0:
            acc = np.zeros(sub.shape[1], dtype=terms.dtype)
            for j in range(min(width, _BLOCK - 1)):
                acc += sub[j]
        else:
            r = sub[:_BLOCK].copy()  # numpy's 8 accumulators, one row each
            for b in range(1, blocks):
                r += sub[b * _BLOCK:(b + 1) * _BLOCK]
            acc = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            for j in range(lo, min(width, hi)):
                acc += sub[j]
        if out is None:
            out = acc if whole else np.zeros(count, dtype=terms.dtype)  # later groups overwrite their columns
        if whole:
            if acc is not out:
                np.copyto(out, acc, where=sel)
        else:
            out[sel] = acc
    return out if out is not None else np.zeros(count, dtype=terms.dtype)


def _sum_rows_of_length(cols: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Sum ``cols[i, :n[i]]`` for each row i; entries at and past n[i] must be zero."""
    return _sum_columns_of_length(np.ascontiguousarray(cols.T), n)


def rowsum_like_numpy(values: np.ndarray) -> np.ndarray:
    """Sum each row of a 2-D array, rounding as ``np.sum(row)`` does.

    Args:
        values: array of shape (rows, n), float.

    Returns:
        Array of shape (rows,) with the row sums.
    """
    n = np.full(values.shape[0], values.shape[1])
    return _sum_rows_of_length(values, n)


def masked_rowsum_like_numpy(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sum the masked entries of each row as ``np.sum(row[mask_row])`` does.

    The kept entries of each row are moved to its front, in order, and summed with numpy's blocking
    for that row's count.

    Args:
        values: array of shape (rows, n).
        mask: boolean array of the same shape.

    Returns:
        Array of shape (rows,); rows that keep nothing sum to 0.
    """
    rows, width = values.shape
    counts = mask.sum(axis=1)
    target = np.cumsum(mask, axis=1) - 1
    compact = np.zeros_like(values)
    r_idx, c_idx = np.nonzero(mask)
    compact[r_idx, target[r_idx, c_idx]] = values[r_idx, c_idx]
    return _sum_rows_of_length(compact, counts)


def gathered_rowsum_like_numpy(values: np.ndarray, columns: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sum ``values[i, columns[i, :counts[i]]]`` for each row i as ``np.sum`` would.

    For callers that know each row's kept columns already in order (for OKS they depend only on the
    ground truth, so they are worked out once per annotation rather than once per pair).

    Args:
        values: (rows, n) array.
        columns: (rows, n) integer array; the first ``counts[i]`` entries of row i are the columns to sum.
        counts: (rows,) number of columns to sum per row.
    """
    compact = np.take_along_axis(values, columns, axis=1)
    compact[np.arange(values.shape[1])[None, :] >= counts[:, None]] = 0
    return _sum_rows_of_length(compact, counts)


def gathered_columnsum_like_numpy(terms: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Term-major twin of :func:`gathered_rowsum_like_numpy`: sum ``terms[rows[:counts[i], i], i]`` for each i.

    Args:
        terms: (n, m) array, one column per sum (for OKS: keypoints x pairs).
        rows: (n, m) integer array; the first ``counts[i]`` entries of column i are the rows to sum, in order.
        counts: (m,) number of terms per sum.
    """
    compact = np.take_along_axis(terms, rows, axis=0)
    compact[np.arange(terms.shape[0])[:, None] >= counts[None, :]] = 0
    return _sum_columns_of_length(compact, counts)
