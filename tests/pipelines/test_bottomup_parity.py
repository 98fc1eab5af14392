"""kbench's bottom-up (HigherHRNet) pipeline against PaddleDetection 2.6.0's own code.

References, run unchanged under paddle: ``EvalAffine`` (pre-processing), ``HigherHRNet._forward``'s evaluation
branch (flip merge), ``HigherHRNet.get_topk`` (upsampling, max-pool NMS, top-k) and ``HrHRNetPostProcess``
(grouping, refinement, salvage, back to image pixels). ``_forward`` runs on a stand-in object whose head returns
prepared network outputs, so the very same outputs reach both pipelines.

ppdet's grouping builds ``np.array`` of the clusters' tag lists, which are ragged whenever people have
different numbers of joints; numpy < 1.24 made that an object array, numpy 2 raises. The reference runs with a
numpy whose ``array`` falls back to that old object array (``_OldRaggedNumpy``), nothing else changed.
Likewise ``get_topk`` multiplies the heatmap by a bool tensor, which paddle 2.x cast to float32 and paddle 3
refuses; the test restores paddle 2.x's cast for ``Tensor.__mul__`` while the reference runs.

Tolerances: warped images pixel-exact; upsampling 1e-6 relative (observed: bit-identical); merged maps and
top-k exact; keypoints 1e-4 px (the last step is a BLAS product in float64 cast to float32, the only place
where rounding could differ; observed 0) and the same people in the same order; scores 1e-5 relative
(observed: identical). Marker: parity; the tests on coco-mini images also need ``shared_data``.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

paddle = pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")

from kbench.cards import get_card  # noqa: E402
from kbench.pipelines.bottomup import (  # noqa: E402
    BottomUpSettings,
    bottom_up_affine,
    decode_bottom_up,
    merge_flip,
    resize_for_bottom_up,
    top_k_peaks,
    upsample2x_bilinear,
)

pytestmark = pytest.mark.parity

CARDS = ["higherhrnet_hrnet_w32_512", "higherhrnet_hrnet_w32_640", "higherhrnet_hrnet_w32_512_swahr"]


@pytest.fixture(scope="module")
def ref():
    """ppdet's modules (imports paddle, ~3 s once)."""
    import ppdet.data.transform.keypoint_operators as kops
    import ppdet.modeling.architectures.keypoint_hrhrnet as khr
    import ppdet.modeling.keypoint_utils as kpu
    import ppdet.modeling.layers as layers

    return types.SimpleNamespace(kops=kops, khr=khr, kpu=kpu, layers=layers)


class _OldRaggedNumpy(types.ModuleType):
    """numpy, except that ``array`` of a ragged list gives a 1-D object array as numpy < 1.24 did."""

    def __init__(self):
        super().__init__("numpy")

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def array(obj, *args, **kwargs):
        try:
            return np.array(obj, *args, **kwargs)
        except ValueError:
            out = np.empty(len(obj), dtype=object)
            for i, item in enumerate(obj):
                out[i] = item
            return out


def _paddle2_mul(mul):
    """``Tensor.__mul__`` as paddle 2.x had it: a bool right operand is cast to the left one's dtype."""

    def patched(self, other):
        if isinstance(other, paddle.Tensor) and other.dtype == paddle.bool and self.dtype != paddle.bool:
            other = other.astype(self.dtype)
        return mul(self, other)

    return patched


def run_paddledet(ref, monkeypatch, outputs, flipped, card_settings: BottomUpSettings, image_hw):
    """ppdet's evaluation path on prepared network outputs; returns (kpts, scores, get_topk inputs and outputs)."""
    monkeypatch.setattr(ref.khr, "np", _OldRaggedNumpy())
    monkeypatch.setattr(paddle.Tensor, "__mul__", _paddle2_mul(paddle.Tensor.__mul__))
    heat, tags = outputs
    if flipped is not None:
        heat = np.concatenate([heat, flipped[0]])
        tags = np.concatenate([tags, flipped[1]])
    captured = {}

    class Head:
        num_joints = heat.shape[1]

        def __call__(self, feats):
            return [paddle.to_tensor(heat), paddle.to_tensor(tags)]

    class StandIn:
        _forward = ref.khr.HigherHRNet._forward
        _get_topk = ref.khr.HigherHRNet.get_topk

        def get_topk(self, outs):
            captured["merged"] = [o.numpy() for o in outs]
            res = self._get_topk(outs)
            captured["topk"] = [o.numpy() for o in res]
            return res

    net = StandIn()
    net.flip = flipped is not None
    net.training = False
    net.deploy = False
    net.inputs = {"image": paddle.zeros([1, 3, 4, 4]), "im_shape": paddle.to_tensor([list(image_hw)])}
    net.backbone = lambda inputs: None
    net.hrhrnet_head = Head()
    net.flip_perm = paddle.to_tensor(list(card_settings.flip_perm))
    net.interpolate = ref.layers.Upsample(2, mode="bilinear")
    net.pool = ref.layers.MaxPool(5, 1, 2)
    net.max_num_people = card_settings.max_num_people
    net.post_process = ref.khr.HrHRNetPostProcess(card_settings.max_num_people, card_settings.heat_thresh,
                                                  card_settings.tag_thresh)
    (kpts, scores), = net._forward()
    return np.asarray(kpts), np.asarray(scores), captured


def assert_same_people(ours, theirs):
    kpts, scores = ours
    rk, rs = theirs
    assert kpts.shape == rk.shape, f"{kpts.shape[0]} people, paddledet {rk.shape[0]}"
    assert kpts.dtype == np.float32 and scores.dtype == np.float32
    if rk.size == 0:
        return
    np.testing.assert_allclose(kpts[..., :2], rk[..., :2], rtol=0, atol=1e-4)
    np.testing.assert_allclose(kpts[..., 2], rk[..., 2], rtol=1e-5, atol=0)
    np.testing.assert_allclose(scores, rs, rtol=1e-5, atol=0)


# --------------------------------------------------------------------------- synthetic network outputs


def synthetic_outputs(rng, h, w, flip_perm, people=5, tag_noise=0.05, double_peaks=False):
    """Half-resolution heatmaps and tags of a few people.

    Each person has one tag value (most 2 apart, one pair 0.6 to 1.4 apart so that the tag threshold and the
    rounding in the cost matter) and Gaussian peaks per joint: most well above the heat threshold, some
    below it (for the salvage step), some absent. The mirrored outputs are the same scene mirrored, with
    other noise. ``double_peaks`` puts a second peak on some joints and, with ``tag_noise=0``, makes tags
    exactly equal within a person, so ppdet's clusters keyed by tag value collide as they do on flat tags.
    """
    j = len(flip_perm)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    heat = rng.uniform(0, 0.03, (j, h, w)).astype(np.float32)
    tags = rng.normal(0, 0.3, (j, h, w)).astype(np.float32)
    person_tags = rng.permutation(people).astype(np.float32) * 2.0 - people
    person_tags[-1] = person_tags[0] + rng.uniform(0.6, 1.4)
    for p in range(people):
        centre = rng.uniform([0.15 * h, 0.15 * w], [0.85 * h, 0.85 * w])
        for jid in range(j):
            kind = rng.choice(3, p=[0.75, 0.15, 0.10])
            if kind == 2:
                continue
            amp = rng.uniform(0.3, 1.0) if kind == 0 else rng.uniform(0.04, 0.095)
            spots = [centre + rng.normal(0, 0.08 * min(h, w), 2)]
            if double_peaks and kind == 0 and rng.random() < 0.3:
                spots.append(spots[0] + rng.choice([-1, 1], 2) * rng.uniform(6, 12, 2))
            for y, x in spots:
                d2 = (yy - y) ** 2 + (xx - x) ** 2
                heat[jid] = np.maximum(heat[jid], amp * np.exp(-d2 / 8.0))
                near = d2 < 36
                tags[jid][near] = person_tags[p] + rng.normal(0, tag_noise, near.sum()) if tag_noise else person_tags[p]
    perm = np.asarray(flip_perm)
    fheat = heat[perm][:, :, ::-1] + rng.uniform(-0.01, 0.01, heat.shape).astype(np.float32)
    ftags = tags[perm][:, :, ::-1] + (rng.normal(0, tag_noise, tags.shape).astype(np.float32) if tag_noise else 0)
    return (heat[None], tags[None]), (np.ascontiguousarray(fheat[None], dtype=np.float32),
                                      np.ascontiguousarray(ftags[None], dtype=np.float32))


# --------------------------------------------------------------------------- pre-processing


def _check_resize(ref, image, size):
    expected = ref.kops.EvalAffine(size)({"image": image.copy()})["image"]
    resized, info = resize_for_bottom_up(image, (size, size), stride=64)
    assert resized.dtype == expected.dtype and resized.shape == expected.shape
    assert np.array_equal(resized, expected)
    h, w = image.shape[:2]
    fwd, out_size = ref.kpu.get_affine_mat_kernel(h, w, size, inv=False)
    inv, _ = ref.kpu.get_affine_mat_kernel(h, w, size, inv=True)
    assert info.output_size == tuple(out_size) == (resized.shape[1], resized.shape[0])
    assert np.array_equal(info.matrix, fwd) and np.array_equal(info.inverse, inv)
    assert info.image_size == (h, w) and info.input_size == size


@pytest.mark.shared_data
@pytest.mark.parametrize("size", [512, 640])
def test_resize_equals_evalaffine_on_coco_mini(ref, shared_data, size):
    import cv2

    files = sorted((shared_data / "coco-mini").glob("*.jpg"))
    assert files, "no images in coco-mini"
    for f in files:  # as ppdet's bottom-up dataset reads them: cv2, then BGR -> RGB
        _check_resize(ref, cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), size)


@pytest.mark.parametrize("hw", [(480, 640), (640, 427), (512, 512), (301, 517), (517, 301), (37, 53), (1000, 99)])
def test_resize_equals_evalaffine_on_synthetic_images(ref, hw):
    rng = np.random.default_rng(hw[0] * 7919 + hw[1])
    image = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    image[::7] = 255  # sharp edges, so that any sub-pixel shift of the sampling grid would show
    for size in (512, 640):
        _check_resize(ref, image, size)


def test_transform_maps_input_back_to_image():
    h, w = 333, 500
    mat, (ow, oh), centre, scale = bottom_up_affine(h, w, 512)
    inv, _, _, _ = bottom_up_affine(h, w, 512, inverse=True)
    assert (ow, oh) == (832, 512) and ow % 64 == 0
    pts = np.array([[0.0, 0.0], [499.0, 332.0], [250.0, 166.0]])
    there = pts @ mat[:, :2].T + mat[:, 2]
    back = there @ inv[:, :2].T + inv[:, 2]
    np.testing.assert_allclose(back, pts, atol=1e-9)
    assert centre.tolist() == [250.0, 166.0]  # np.round(333 / 2) rounds half to even


# --------------------------------------------------------------------------- upsampling, flip, top-k


@pytest.mark.parametrize("shape", [(1, 17, 128, 208), (1, 17, 7, 5), (2, 3, 1, 1), (1, 1, 2, 9)])
def test_upsample_matches_paddle(ref, shape):
    x = (np.random.default_rng(sum(shape)).normal(size=shape) * 3).astype(np.float32)
    expected = ref.layers.Upsample(2, mode="bilinear")(paddle.to_tensor(x)).numpy()
    got = upsample2x_bilinear(x)
    assert got.shape == expected.shape and got.dtype == np.float32
    # 1e-6 relative is the contract; paddle's CPU kernel and this one do the same float32 operations in
    # the same order, so they agree to the bit and the peak search downstream sees the same values
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("flip", [True, False])
def test_merge_flip_and_top_k_equal_paddledet(ref, monkeypatch, flip):
    card = get_card("higherhrnet_hrnet_w32_512")
    cfg = BottomUpSettings.from_card(card)
    outputs, flipped = synthetic_outputs(np.random.default_rng(3), 64, 96, card.flip_perm)
    flipped = flipped if flip else None
    _, _, cap = run_paddledet(ref, monkeypatch, outputs, flipped, cfg, (120, 180))
    heat, tagmaps = merge_flip(outputs, flipped, card.flip_perm)
    assert tagmaps.shape == (*heat.shape, 2 if flip else 1)
    assert np.array_equal(heat, cap["merged"][0])
    for c in range(tagmaps.shape[-1]):
        assert np.array_equal(tagmaps[..., c], cap["merged"][1 + c])
    up = upsample2x_bilinear(heat[0])
    values, indices = top_k_peaks(up, cfg.max_num_people)
    assert np.array_equal(up, cap["topk"][0][0])
    assert np.array_equal(values, cap["topk"][2][0]) and np.array_equal(indices, cap["topk"][3][0])


def test_merge_flip_refuses_mismatched_inputs():
    heat = np.zeros((1, 17, 8, 8), np.float32)
    with pytest.raises(ValueError, match="flip_perm"):
        merge_flip((heat, heat), (heat, heat), list(range(16)))
    with pytest.raises(ValueError, match="do not match"):
        merge_flip((heat, heat), (heat[:, :, :4], heat), list(range(17)))
    with pytest.raises(ValueError, match="both be"):
        merge_flip((heat, heat[0]))


# --------------------------------------------------------------------------- the whole decoding


# the original image of each card's case: landscape, portrait, square; the network input is the short side
# scaled to the card's size and the long side rounded up to 64, the outputs half of that
IMAGE_HW = {"higherhrnet_hrnet_w32_512": (300, 451), "higherhrnet_hrnet_w32_640": (431, 280),
            "higherhrnet_hrnet_w32_512_swahr": (300, 300)}


@pytest.mark.parametrize("flip", [True, False], ids=["flip", "noflip"])
@pytest.mark.parametrize("card_name", CARDS)
def test_decode_equals_paddledet_on_synthetic_outputs(ref, monkeypatch, card_name, flip):
    card = get_card(card_name)
    cfg = BottomUpSettings.from_card(card)
    image_hw = IMAGE_HW[card_name]
    info = resize_for_bottom_up(np.zeros((*image_hw, 3), np.uint8), card.input_size)[1]
    ow, oh = info.output_size
    for seed, kwargs in enumerate([dict(people=7), dict(tag_noise=0.0, double_peaks=True)]):
        rng = np.random.default_rng(100 * CARDS.index(card_name) + 10 * flip + seed)
        outputs, flipped = synthetic_outputs(rng, oh // 2, ow // 2, card.flip_perm, **kwargs)
        flipped = flipped if flip else None
        expected = run_paddledet(ref, monkeypatch, outputs, flipped, cfg, image_hw)[:2]
        got = decode_bottom_up(*outputs, *(flipped or (None, None)), settings=card, transform=info)
        assert_same_people(got, expected)
        assert len(got[1]) >= 3  # the scene's people were found (a check on the test data, not on kbench)


def test_decode_with_no_peak_above_threshold(ref, monkeypatch):
    card = get_card("higherhrnet_hrnet_w32_512")
    cfg = BottomUpSettings.from_card(card)
    info = resize_for_bottom_up(np.zeros((256, 256, 3), np.uint8), 512)[1]
    heat = np.full((1, 17, 256, 256), 0.05, np.float32)
    tags = np.zeros_like(heat)
    expected = run_paddledet(ref, monkeypatch, (heat, tags), None, cfg, (256, 256))[:2]
    kpts, scores = decode_bottom_up(heat, tags, settings=card, transform=info)
    assert kpts.shape == (0, 17, 3) and scores.shape == (0,)
    assert expected[0].shape == (0, 17, 3)


# --------------------------------------------------------------------------- real network outputs


@pytest.fixture(scope="module")
def network_outputs(shared_data):
    """kbench's HigherHRNet (random weights) on a coco-mini image and its mirror image, input 512 x 512.

    Random weights give maps of order 1e10 (BatchNorm statistics of an untrained network), where every peak
    is a person of its own: 412 people here, equal to ppdet's too, but ppdet needs over a minute for them.
    Heatmaps are divided by their largest magnitude / 0.3 and tags by their standard deviation / 0.5, the
    same constants for both images: still the network's maps, now with 60 to 90 people, more than
    max_num_people, so that matching is capped and salvage has work.
    """
    import cv2

    from kbench.zoo.paddle.load import load_model

    card = get_card("higherhrnet_hrnet_w32_512")
    path = sorted((shared_data / "coco-mini").glob("*.jpg"))[0]
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)[:300, :300]  # a square crop: 512 x 512 input
    resized, info = resize_for_bottom_up(image, card.input_size, card.eval.resize_stride)
    mean, std = np.array(card.normalize.mean, np.float32), np.array(card.normalize.std, np.float32)
    x = ((resized.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)[None]
    net, _ = load_model(card, "random")
    with paddle.no_grad():
        heat, tags = net(paddle.to_tensor(np.ascontiguousarray(np.concatenate([x, x[..., ::-1]]))))
    heat, tags = heat.numpy(), tags.numpy()
    heat = (heat * (0.3 / np.abs(heat).max())).astype(np.float32)
    tags = (tags * (0.5 / tags.std())).astype(np.float32)
    return card, info, image.shape[:2], (heat[:1], tags[:1]), (heat[1:], tags[1:])


@pytest.mark.shared_data
@pytest.mark.parametrize("flip", [True, False], ids=["flip", "noflip"])
def test_decode_equals_paddledet_on_network_outputs(ref, monkeypatch, network_outputs, flip):
    card, info, image_hw, outputs, flipped = network_outputs
    flipped = flipped if flip else None
    cfg = BottomUpSettings.from_card(card)
    expected = run_paddledet(ref, monkeypatch, outputs, flipped, cfg, image_hw)[:2]
    got = decode_bottom_up(*outputs, *(flipped or (None, None)), settings=cfg, transform=info)
    assert_same_people(got, expected)
    assert len(got[1]) > cfg.max_num_people  # (the data's doing) more people than a joint is matched against
