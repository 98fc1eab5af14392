"""Generic PCK / AUC / EPE on hand-computed cases (mmpose's semantics: strict '<', -1 for invalid)."""

from __future__ import annotations

import numpy as np
import pytest

from kbench.evaluators.pck import bbox_normalizer, epe, normalized_distances, pck_accuracy, pck_auc


def _case():
    gt = np.zeros((2, 3, 2))
    pred = np.zeros((2, 3, 2))
    pred[0, :, 0] = [1.0, 3.0, 5.0]  # instance 0: errors 1, 3, 5 px
    pred[1, :, 1] = [2.0, 4.0, 6.0]  # instance 1: errors 2, 4, 6 px
    mask = np.array([[True, True, True], [True, False, True]])
    return pred, gt, mask


def test_distances_layout_and_invalid_marker():
    pred, gt, mask = _case()
    d = normalized_distances(pred, gt, mask, np.full((2, 2), 10.0))
    assert d.shape == (3, 2) and d.dtype == np.float32
    np.testing.assert_allclose(d[:, 0], [0.1, 0.3, 0.5], rtol=1e-6)
    assert d[1, 1] == -1  # masked joint


def test_pck_strict_threshold_and_mean_over_valid_joints():
    pred, gt, mask = _case()
    acc, avg, cnt = pck_accuracy(pred, gt, mask, 0.3, np.full((2, 2), 10.0))
    # joint 0: 0.1, 0.2 -> 2/2; joint 1: 0.3 (not < 0.3), instance 1 masked -> 0/1; joint 2: 0.5, 0.6 -> 0/2
    np.testing.assert_allclose(acc, [1.0, 0.0, 0.0])
    assert avg == pytest.approx(1 / 3) and cnt == 3


def test_zero_normaliser_drops_the_instance():
    pred, gt, mask = _case()
    norm = np.array([[10.0, 10.0], [0.0, 10.0]])
    acc, _, _ = pck_accuracy(pred, gt, mask, 0.25, norm)
    np.testing.assert_allclose(acc, [1.0, 0.0, 0.0])  # only instance 0 counts


def test_auc_and_epe():
    pred, gt, mask = _case()
    assert epe(pred, gt, mask) == pytest.approx((1 + 3 + 5 + 2 + 6) / 5)
    # norm 10: thresholds 0, .25, .5, .75: accuracies 0, 1/3 (joint 0 full), 2/3 (joint 1 ok at .3), 1
    auc = pck_auc(pred, gt, mask, 10.0, num_thrs=4)
    assert auc == pytest.approx((0 + (1 / 3) + (1 + 1 + 0) / 3 + 1) / 4)


def test_bbox_normaliser_uses_longer_side():
    np.testing.assert_array_equal(bbox_normalizer(np.array([[0, 0, 30, 50], [5, 5, 8, 2]])), [[50, 50], [8, 8]])
