"""Top-down decoding (flip merge, argmax + quarter shift, DARK, back-projection) against PaddleDetection 2.6.

Marker: ``parity``. The references are paddledet's own code, imported for real under paddle (about 2 s, once per
module): ``HRNetPostProcess.get_final_preds`` (argmax, quarter shift or DARK, ``transform_preds``) and
``TopDownHRNet._forward``'s evaluation path, run end to end with a stand-in backbone that returns prepared
heatmaps (plain, then for the mirrored input) and an identity 1x1 ``final_conv``, so ppdet's own flip, flip_back,
heatmap shift, averaging and post-processing produce the reference keypoints.

Tolerances: 1e-4 image pixels on coordinates and 1e-6 on scores, as the issue asks. kbench keeps ppdet's float32
arithmetic step by step and solves the affine matrices with OpenCV's own LU algorithm, so the measured
differences are 0 (bit-identical); the tolerance only leaves room for a different BLAS or libm rounding a last
bit differently. Scores are the maxima of the same float32 arrays, so they are exact.

The heatmaps are random but structured: Gaussian peaks at sub-pixel spots (some outside the map), noise, flat,
zero and negative maps, single-pixel peaks on and next to every border (the reference's ``1 < px < w - 1`` and
``1 < px < w - 2`` edges), ties, and peaks so sharp that DARK's log clamps at 1e-10.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kbench.cards import get_card
from kbench.errors import InputError
from kbench.pipelines.topdown import (
    TopDownSettings,
    box_to_center_scale,
    decode_heatmaps,
    flip_back,
    flip_images,
    flip_permutation,
    heatmaps_to_image,
    merge_flip,
)

pytestmark = [
    pytest.mark.parity,
    # the reference's own noise: np.matrix in dark_parse, and 0/0 when it rescales an all-zero blurred map
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered in scalar divide:RuntimeWarning"),
]

COORD_TOL = 1e-4  # image pixels
SCORE_TOL = 1e-6
MODELS = ["tinypose_128x96", "hrnet_w32_256x192", "dark_hrnet_w32_256x192", "hrnet_w32_256x256_mpii"]


@pytest.fixture(scope="module")
def ppdet():
    """paddledet's post-processing classes (importing them imports paddle)."""
    paddle = pytest.importorskip("paddle")
    from ppdet.modeling import keypoint_utils
    from ppdet.modeling.architectures.keypoint_hrnet import HRNetPostProcess, TopDownHRNet

    return {"paddle": paddle, "post": HRNetPostProcess, "hrnet": TopDownHRNet, "ku": keypoint_utils}


def structured_heatmaps(rng, n, j, h, w) -> np.ndarray:
    """Heatmaps that exercise every branch of the decoders (see the module docstring)."""
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)
    mx = rng.uniform(-1.5, w + 0.5, (n, j, 1)).astype(np.float32)
    my = rng.uniform(-1.5, h + 0.5, (n, j, 1)).astype(np.float32)
    sig2 = 2 * rng.uniform(0.6, 3.0, (n, j, 1)).astype(np.float32) ** 2
    amp = rng.uniform(0.02, 1.0, (n, j, 1, 1)).astype(np.float32)
    # a separable Gaussian: the outer product of its row and column profiles
    hm = amp * np.exp(-(ys - my) ** 2 / sig2)[..., :, None] * np.exp(-(xs - mx) ** 2 / sig2)[..., None, :]
    noisy = np.flatnonzero(rng.random(n * j) < 0.5)
    flat = hm.reshape(n * j, h, w)
    level = rng.uniform(0.001, 0.05, (len(noisy), 1, 1)).astype(np.float32)
    flat[noisy] += rng.standard_normal((len(noisy), h, w), dtype=np.float32) * level
    kind = rng.integers(0, 12, (n, j))
    hm[kind == 0] = 0.0  # all zero: argmax 0, score 0, coordinates (0, 0) before back-projection
    hm[kind == 1] = -0.1 + 0.01 * rng.random((np.sum(kind == 1), h, w), dtype=np.float32)  # negative everywhere
    hm[kind == 2] = 0.25  # flat and positive: argmax 0 and a zero gradient
    edges_x = np.array([0, 1, 2, 3, w - 4, w - 3, w - 2, w - 1])
    edges_y = np.array([0, 1, 2, 3, h - 4, h - 3, h - 2, h - 1])
    for k, (ex, ey) in zip((3, 4, 5), ((True, False), (False, True), (True, True))):
        idx = np.argwhere(kind == k)  # a delta (or a small blob) next to a border, on zero or weak noise
        hm[kind == k] *= 0.01
        px = rng.choice(edges_x, len(idx)) if ex else rng.integers(0, w, len(idx))
        py = rng.choice(edges_y, len(idx)) if ey else rng.integers(0, h, len(idx))
        hm[idx[:, 0], idx[:, 1], py, px] = 1.0
        blob = rng.random(len(idx)) < 0.5
        hm[idx[blob, 0], idx[blob, 1], py[blob], np.clip(px[blob] + 1, 0, w - 1)] = 0.6
    idx = np.argwhere(kind == 6)  # two equal maxima: the first in raster order wins, as np.argmax picks
    hm[idx[:, 0], idx[:, 1], h // 3, w // 4] = 2.0
    hm[idx[:, 0], idx[:, 1], h // 2, w // 2] = 2.0
    idx = np.argwhere(kind == 7)  # a single sharp peak on exact zeros: DARK's log clamps at 1e-10 around it
    hm[idx[:, 0], idx[:, 1]] = 0.0
    hm[idx[:, 0], idx[:, 1], rng.integers(2, h - 2, len(idx)), rng.integers(2, w - 2, len(idx))] = 0.9
    return hm.astype(np.float32)


def random_boxes(rng, n, aspect_ratio):
    """Centres and scales of boxes of every shape (1000:1 both ways included), off-image ones too."""
    w = rng.uniform(0.5, 900, n) ** rng.uniform(0.4, 1.0, n)
    h = rng.uniform(0.5, 700, n) ** rng.uniform(0.4, 1.0, n)
    boxes = np.c_[rng.uniform(-100, 700, n), rng.uniform(-100, 500, n), w, h]
    boxes[: n // 20, 2:] = [1000.0, 1.0]
    boxes[n // 20: n // 10, 2:] = [1.0, 1000.0]
    return box_to_center_scale(boxes, aspect_ratio)


def assert_keypoints_equal(coords, maxvals, ref):
    """ppdet's keypoint array (N, J, 3): x, y, score."""
    np.testing.assert_allclose(coords, ref[..., :2], rtol=0, atol=COORD_TOL, equal_nan=True)
    np.testing.assert_allclose(maxvals, ref[..., 2:], rtol=0, atol=SCORE_TOL, equal_nan=True)


@pytest.mark.parametrize("use_dark", [False, True])
@pytest.mark.parametrize("hw", [(64, 48), (32, 24), (64, 64), (96, 72), (7, 6)])
def test_decode_equals_hrnet_postprocess(ppdet, use_dark, hw):
    h, w = hw
    rng = np.random.default_rng(10 + h + w + use_dark)
    n = min(250, 250 * 64 * 48 // (h * w))  # same work per size; several of DARK's blur chunks either way
    hm = structured_heatmaps(rng, n, 17, h, w)
    centers, scales = random_boxes(rng, n, w / h)
    ref, ref_maxvals = ppdet["post"](use_dark=use_dark).get_final_preds(hm.copy(), centers, scales)
    before = hm.copy()
    coords, maxvals = decode_heatmaps(hm, centers, scales, use_dark)
    np.testing.assert_array_equal(hm, before)  # ppdet blurs in place; kbench leaves the caller's array alone
    assert coords.dtype == np.float32 and coords.shape == (n, 17, 2) and maxvals.shape == (n, 17, 1)
    assert_keypoints_equal(coords, maxvals, np.concatenate([ref, ref_maxvals], axis=-1))


class _Backbone:
    """Stands in for the network trunk: returns prepared features call by call, and keeps the images it saw."""

    def __init__(self, paddle, features):
        self.paddle, self.features, self.images = paddle, list(features), []

    def __call__(self, inputs):
        self.images.append(inputs["image"].numpy())
        return [self.paddle.to_tensor(self.features.pop(0))]


def _ppdet_forward(ppdet, heatmaps, heatmaps_flipped, images, centers, scales, flip_perm, flip, shift, use_dark):
    """TopDownHRNet._forward in eval mode: the network returns `heatmaps`, then `heatmaps_flipped` for the mirror."""
    paddle = ppdet["paddle"]
    j = heatmaps.shape[1]
    model = ppdet["hrnet"](width=j, num_joints=j, backbone=None, loss=None, flip_perm=[list(p) for p in flip_perm],
                           flip=flip, shift_heatmap=shift, use_dark=use_dark)
    backbone = _Backbone(paddle, [heatmaps, heatmaps_flipped])
    object.__setattr__(model, "backbone", backbone)  # a plain callable, not a sub-layer
    # identity head: final_conv(features) == features, exactly (one weight of 1, the rest 0, zero bias)
    model.final_conv.weight.set_value(np.eye(j, dtype=np.float32)[:, :, None, None])
    model.final_conv.bias.set_value(np.zeros(j, dtype=np.float32))
    model.eval()
    model.inputs = {"image": paddle.to_tensor(images), "center": paddle.to_tensor(centers),
                    "scale": paddle.to_tensor(scales)}
    out = model._forward()
    return out[0][0], backbone.images


FLIP_MODES = [("no-flip", False, False), ("flip", True, False), ("flip+shift", True, True)]


@pytest.mark.parametrize("use_dark", [False, True])
@pytest.mark.parametrize("udp", [False, True])
@pytest.mark.parametrize("mode", FLIP_MODES, ids=[m[0] for m in FLIP_MODES])
def test_eval_path_equals_top_down_hrnet(ppdet, use_dark, udp, mode):
    _, flip, shift = mode
    name = MODELS[(2 * use_dark + udp + FLIP_MODES.index(mode)) % len(MODELS)]
    card = get_card(name)
    settings = dataclasses.replace(TopDownSettings.from_card(card), flip=flip, shift_heatmap=shift,
                                   use_dark=use_dark, udp=udp)
    w, h = settings.heatmap_size
    j = card.num_joints
    rng = np.random.default_rng(100 + 4 * use_dark + 2 * udp + FLIP_MODES.index(mode))
    n = 60
    hm = structured_heatmaps(rng, n, j, h, w)
    hm_flipped = structured_heatmaps(rng, n, j, h, w)
    centers, scales = random_boxes(rng, n, settings.aspect_ratio)
    batch = rng.random((n, 3, settings.input_size[1], settings.input_size[0]), dtype=np.float32)
    ref, seen = _ppdet_forward(ppdet, hm, hm_flipped, batch, centers, scales, card.flip_pairs, flip, shift, use_dark)

    merged = settings.merge(hm, hm_flipped) if settings.flip else hm
    coords, maxvals = settings.decode(merged, centers, scales)
    assert_keypoints_equal(coords, maxvals, ref)
    if flip:  # ppdet ran the network on the mirrored batch: the same array as kbench's flip_images
        np.testing.assert_array_equal(seen[1], flip_images(batch))


def test_merge_flip_bit_identical(ppdet):
    """flip_back + shift + average: exact equality with ppdet's flip_back and paddle's in-place shift."""
    paddle = ppdet["paddle"]
    rng = np.random.default_rng(3)
    pairs = get_card("hrnet_w32_256x192").flip_pairs
    a = rng.normal(0, 1, (7, 17, 64, 48)).astype(np.float32)
    b = rng.normal(0, 1, (7, 17, 64, 48)).astype(np.float32)
    back = ppdet["hrnet"].flip_back(None, b.copy(), [list(p) for p in pairs])
    np.testing.assert_array_equal(flip_back(b, pairs), back)
    t = paddle.to_tensor(back.copy())
    t[:, :, :, 1:] = t.clone()[:, :, :, 0:-1]
    ref = ((paddle.to_tensor(a) + t) * 0.5).numpy()
    np.testing.assert_array_equal(merge_flip(a, b, pairs, shift_heatmap=True), ref)
    ref_noshift = ((paddle.to_tensor(a) + paddle.to_tensor(back.copy())) * 0.5).numpy()
    np.testing.assert_array_equal(merge_flip(a, b, pairs, shift_heatmap=False), ref_noshift)


def test_flip_permutation_applies_swaps_in_order(ppdet):
    """Pairs that share a joint: the sequential swaps of ppdet's loop, not a symmetric permutation."""
    pairs = [(0, 1), (1, 2), (4, 5)]
    b = np.random.default_rng(4).random((2, 6, 5, 4), dtype=np.float32)
    ref = ppdet["hrnet"].flip_back(None, b.copy(), [list(p) for p in pairs])
    np.testing.assert_array_equal(flip_back(b, pairs), ref)
    assert flip_permutation(6, pairs).tolist() == [1, 2, 0, 3, 5, 4]
    with pytest.raises(InputError):
        flip_permutation(6, [(0, 6)])


def test_large_batch_decodes_in_one_call():
    """2000 persons in one call, with and without DARK (shapes and dtypes; speed is not asserted here), and
    every row the same as decoding that person alone: persons never interact, whatever the chunking."""
    rng = np.random.default_rng(5)
    n, j, h, w = 2000, 17, 32, 24
    hm = np.zeros((n, j, h, w), dtype=np.float32)
    hm[np.arange(n)[:, None], np.arange(j), rng.integers(0, h, (n, j)), rng.integers(0, w, (n, j))] = 1.0
    hm[:50] = structured_heatmaps(rng, 50, j, h, w)
    centers, scales = random_boxes(rng, n, 0.75)
    for use_dark in (False, True):
        coords, maxvals = decode_heatmaps(hm, centers, scales, use_dark)
        assert coords.shape == (n, j, 2) and maxvals.shape == (n, j, 1) and coords.dtype == np.float32
        for i in (0, 17, 1999):
            one, one_max = decode_heatmaps(hm[i:i + 1], centers[i:i + 1], scales[i:i + 1], use_dark)
            np.testing.assert_array_equal(one[0], coords[i])
            np.testing.assert_array_equal(one_max[0], maxvals[i])


def test_empty_batch():
    for use_dark in (False, True):
        coords, maxvals = decode_heatmaps(np.zeros((0, 17, 64, 48), np.float32), np.zeros((0, 2)), np.zeros((0, 2)),
                                          use_dark)
        assert coords.shape == (0, 17, 2) and maxvals.shape == (0, 17, 1)


def _image_points_to_heatmap(ku, points, center, scale, input_size, heatmap_size, udp, udp_targets):
    """Where a model's heatmap puts an image point: ppdet's crop transform, then the training target's stride
    (ToHeatmapsTopDown[_DARK]: input / heatmap; ToHeatmapsTopDown_UDP: (input - 1) / (heatmap - 1))."""
    if udp:
        trans = ku.get_warp_matrix(0, center * 2.0, [input_size[0] - 1.0, input_size[1] - 1.0], scale * 200.0)
    else:
        trans = ku.get_affine_transform(center, scale * 200, 0, input_size)
    crop = ku.warp_affine_joints(points.copy(), trans)
    size_in, size_hm = np.array(input_size, dtype=np.float64), np.array(heatmap_size, dtype=np.float64)
    stride = (size_in - 1.0) / (size_hm - 1.0) if udp_targets else size_in / size_hm
    return crop / stride


@pytest.mark.parametrize("udp,udp_targets", [(False, False), (True, False), (True, True)])
def test_inverse_backprojection_round_trips(ppdet, udp, udp_targets):
    """backprojection="inverse" undoes the crop and the target encoding exactly (for a plain crop, ppdet's own
    back-projection already does)."""
    rng = np.random.default_rng(6)
    input_size, heatmap_size = (96, 128), (24, 32)
    centers, scales = random_boxes(rng, 40, 0.75)
    centers, scales = centers[8:], scales[8:]  # box sides of a pixel or more
    for i in range(len(centers)):
        box = scales[i] * 200.0
        pts = centers[i] + (rng.random((17, 2)) - 0.5) * box
        hm_xy = _image_points_to_heatmap(ppdet["ku"], pts, centers[i], scales[i], input_size, heatmap_size, udp,
                                         udp_targets)
        back = heatmaps_to_image(hm_xy[None], centers[i:i + 1], scales[i:i + 1], heatmap_size, "inverse",
                                 input_size, udp, udp_targets)[0]
        # float32 matrices and a float32 result: a few float32 units of the coordinates' magnitude
        np.testing.assert_allclose(back, pts, rtol=0, atol=4e-6 * max(1.0, np.abs(pts).max()))


def test_ppdet_backprojection_of_udp_crops_is_pulled_to_the_top_left(ppdet):
    """ppdet 2.6 decodes UDP crops with the plain inverse (reproduced by default): for TinyPose's targets a point
    comes back at left + (x - left) * (W - 1) / W, i.e. (x - left) / W image-scaled pixels short."""
    rng = np.random.default_rng(7)
    input_size, heatmap_size = (96, 128), (24, 32)
    center = np.array([300.0, 200.0], dtype=np.float32)
    scale = np.array([1.2, 1.6], dtype=np.float32)
    box = scale.astype(np.float64) * 200.0
    pts = center + (rng.random((17, 2)) - 0.5) * box
    hm_xy = _image_points_to_heatmap(ppdet["ku"], pts, center, scale, input_size, heatmap_size, True, False)
    got = heatmaps_to_image(hm_xy[None], center[None], scale[None], heatmap_size, "ppdet")[0]
    left = center - box / 2.0
    expected = left + (pts - left) * (np.array(input_size) - 1.0) / np.array(input_size)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3)
    assert np.abs(got - pts).max() > 0.5  # well above rounding: the bias is real


def test_settings_from_cards():
    tiny = TopDownSettings.from_card(get_card("tinypose_128x96"))
    assert (tiny.input_size, tiny.heatmap_size, tiny.use_dark, tiny.udp) == ((96, 128), (24, 32), True, True)
    assert not tiny.udp_targets and tiny.backprojection == "ppdet" and tiny.aspect_ratio == 0.75
    mpii = TopDownSettings.from_card(get_card("hrnet_w32_256x256_mpii"))
    assert mpii.image_thre is None and len(mpii.flip_pairs) == 6
    with pytest.raises(InputError):
        TopDownSettings.from_card(get_card("higherhrnet_hrnet_w32_512"))
    with pytest.raises(InputError):
        dataclasses.replace(tiny, backprojection="mmpose")


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError):
        decode_heatmaps(np.zeros((2, 17, 8)), np.zeros((2, 2)), np.ones((2, 2)), False)
    with pytest.raises(InputError):
        decode_heatmaps(np.zeros((2, 17, 8, 6)), np.zeros((3, 2)), np.ones((3, 2)), False)
    with pytest.raises(InputError):
        merge_flip(np.zeros((2, 17, 8, 6)), np.zeros((2, 17, 8, 5)), [(1, 2)])
    with pytest.raises(InputError):
        heatmaps_to_image(np.zeros((1, 17, 2)), np.zeros((1, 2)), np.ones((1, 2)), (6, 8), "inverse", udp=True)
