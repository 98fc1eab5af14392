"""The bottom-up salvage search against the straightforward full-map search it replaces.

``HrHRNetPostProcess`` salvages a joint a person lacks at the first pixel of maximal
``heat - round(|tag - person's mean tag|)`` when that maximum is positive. kbench finds it by branch and bound
over pixel tiles (``bottomup._salvage``); the reference here scores every pixel of every (person, missing joint)
with the operations ppdet uses and takes ``np.argmax``. The two must agree exactly: the same joints salvaged, the
same flat index (first maximum on ties), the same score bits and dtype. The cases stress what the bound and the
tie-breaking rely on: exact ties in heat and in score (quantised maps, half-integer distances that round to
even), negative and all-negative heats, 1- and 2-channel tags, smooth and rough tags, heats and tags of order
1e10 as random network weights give, maps smaller than a tile or not a multiple of it, mixed float dtypes, and
non-finite maps (handled by the full-map search).
"""

from __future__ import annotations

import numpy as np
import pytest

from kbench.pipelines import bottomup
from kbench.pipelines.bottomup import _salvage


def reference_salvage(heatmap, planes, tag_means, missing):
    """{(person, joint): (flat index, score)} by scoring the whole map, as ppdet's post-processing does."""
    found = {}
    for pid, jid in zip(*np.nonzero(missing)):
        norm = None
        for c in range(planes.shape[0]):
            d = planes[c, jid].reshape(-1).copy()
            d -= tag_means[pid, c]
            d *= d
            norm = d if norm is None else np.add(norm, d, out=norm)
        np.sqrt(norm, out=norm)
        np.rint(norm, out=norm)
        score = np.subtract(heatmap[jid].reshape(-1), norm, out=norm)
        best = int(np.argmax(score))
        if score[best] > 0:
            found[(int(pid), int(jid))] = (best, score[best])
    return found


def assert_same_salvage(heatmap, planes, tag_means, missing):
    pids, joints, flat, scores = _salvage(heatmap, planes, tag_means, missing)
    want = reference_salvage(heatmap, planes, tag_means, missing)
    assert scores.dtype == planes.dtype
    got = {(int(p), int(j)): (int(f), s) for p, j, f, s in zip(pids, joints, flat, scores)}
    assert len(got) == pids.size, "a (person, joint) reported twice"
    assert got.keys() == want.keys()
    for key, (idx, score) in want.items():
        assert got[key][0] == idx, key
        assert got[key][1].tobytes() == score.tobytes(), key  # same bits, not just equal values
    return len(want)


def _smooth(rng, shape, scale):
    # tags that vary smoothly within a tile, as an upsampled network output does: a coarse field, upsampled
    *lead, h, w = shape
    coarse = rng.normal(0, scale, (*lead, h // 4 + 2, w // 4 + 2))
    return np.repeat(np.repeat(coarse, 4, axis=-2), 4, axis=-1)[..., :h, :w]


def random_case(rng, kind):
    """``(heatmap (J, H, W), planes (C, J, H, W), tag_means (P, C), missing (P, J))`` of one kind of stress."""
    j = int(rng.integers(1, 5))
    h, w = int(rng.integers(3, 70)), int(rng.integers(3, 90))
    c = int(rng.integers(1, 3))
    p = int(rng.integers(1, 40))
    if kind == "trained":  # heats in about [-0.1, 1], tags a few units apart per person
        heat = rng.uniform(-0.1, 1.0, (j, h, w)) ** 3
        planes = _smooth(rng, (c, j, h, w), 3.0) + rng.normal(0, 0.05, (c, j, h, w))
        means = rng.normal(0, 3.0, (p, c))
    elif kind == "huge":  # random network weights: heats ~1e10 and tags ~1e9
        heat = rng.normal(1e9, 4e9, (j, h, w))
        planes = _smooth(rng, (c, j, h, w), 2e9) + rng.normal(0, 1e7, (c, j, h, w))
        means = rng.normal(0, 2e9, (p, c))
    elif kind == "ties":  # few distinct heats and integer tags: equal heats and, with half-integer means, equal
        # scores at many pixels (distances such as 2.5 round to even)
        heat = rng.integers(-2, 4, (j, h, w)) * 0.5
        planes = rng.integers(-3, 4, (c, j, h, w)).astype(float)
        means = rng.integers(-6, 7, (p, c)) * 0.5
    elif kind == "flat":  # constant maps: every pixel ties, the answer is flat index 0 or nothing
        heat = np.full((j, h, w), rng.choice([-1.0, 0.0, 0.5, 3.0]))
        planes = np.full((c, j, h, w), rng.choice([0.0, 1.0]))
        means = rng.integers(-2, 3, (p, c)).astype(float)
    elif kind == "negative":  # mostly or only negative heats
        heat = rng.normal(-1.0, 1.0, (j, h, w)) - rng.choice([0.0, 3.0, 1e10])
        planes = rng.normal(0, 1.0, (c, j, h, w))
        means = rng.normal(0, 1.0, (p, c))
    else:  # rough tags: no spatial coherence, the bound prunes little
        heat = rng.normal(0.5, 2.0, (j, h, w))
        planes = rng.normal(0, 2.0, (c, j, h, w))
        means = rng.normal(0, 2.0, (p, c))
    missing = rng.random((p, j)) < rng.choice([0.3, 0.8, 1.0])
    return heat, planes, means, missing


def _cast(case, heat_dtype, tag_dtype):
    heat, planes, means, missing = case
    return heat.astype(heat_dtype), planes.astype(tag_dtype), means.astype(tag_dtype), missing


KINDS = ["trained", "huge", "ties", "flat", "negative", "rough"]


@pytest.mark.parametrize("kind", KINDS)
def test_salvage_equals_full_map_search(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    salvaged = 0
    for _ in range(40):
        salvaged += assert_same_salvage(*_cast(random_case(rng, kind), np.float32, np.float32))
    if kind not in ("negative", "flat"):
        assert salvaged > 0  # the cases exercise the salvage, not only its early exits


@pytest.mark.parametrize(("tile", "block", "bound_block"),
                         [((1, 1), 1, 1), ((3, 5), 20, 50), ((4, 4), 16 * 3, 7), ((64, 64), 1 << 17, 1 << 22)])
@pytest.mark.parametrize("kind", ["trained", "huge", "ties"])
def test_salvage_independent_of_tiling(monkeypatch, kind, tile, block, bound_block):
    # other tile shapes (smaller than the map, not dividing it, larger than it), score blocks of one or a few
    # (person, tile) pairs, so that a person's best is folded in over many blocks, and bounds formed for a
    # few people at a time (one person at a time where a group would not hold one person's tiles)
    monkeypatch.setattr(bottomup, "_SALVAGE_TILE", tile)
    monkeypatch.setattr(bottomup, "_SALVAGE_BLOCK", block)
    monkeypatch.setattr(bottomup, "_SALVAGE_BOUND_BLOCK", bound_block)
    rng = np.random.default_rng(100 + KINDS.index(kind))
    for _ in range(8):
        assert_same_salvage(*_cast(random_case(rng, kind), np.float32, np.float32))


@pytest.mark.parametrize(("heat_dtype", "tag_dtype"), [(np.float64, np.float32), (np.float32, np.float64),
                                                       (np.float64, np.float64)])
def test_salvage_mixed_dtypes(heat_dtype, tag_dtype):
    # scores are formed in the tags' dtype (a float64 heat is subtracted into float32), and the bound with them
    rng = np.random.default_rng(7)
    for kind in KINDS:
        for _ in range(6):
            assert_same_salvage(*_cast(random_case(rng, kind), heat_dtype, tag_dtype))


def _two_peaks(first_score: float):
    """A 20 x 40 map (two tile rows) whose tile of highest bound is not where the answer is.

    Tile (0, 0) holds a decoy, heat 100 but tag 1000 (score -900, bound 100), and at flat index 1 a pixel of
    score ``first_score``; tile (1, 1) holds a pixel of score 2 at flat index 17 * 40 + 20 = 700. Everything
    else scores 0.5. The person's mean tag is 0, one channel.
    """
    heat = np.full((1, 20, 40), 0.5, dtype=np.float32)
    planes = np.zeros((1, 1, 20, 40), dtype=np.float32)
    heat[0, 0, 5], planes[0, 0, 0, 5] = 100.0, 1000.0
    heat[0, 0, 1] = first_score
    heat[0, 17, 20] = 2.0
    return heat, planes, np.zeros((1, 1), dtype=np.float32), np.ones((1, 1), dtype=bool)


@pytest.mark.parametrize(("first_score", "want"), [(2.0, 1), (1.0, 700), (3.0, 1)])
def test_salvage_ties_and_later_better_tiles(first_score, want):
    # 2.0: equal best scores in two tiles, the smaller index wins though its tile is scored second;
    # 1.0: the seed tile's best (index 1) is beaten by a later tile, whose larger index must replace it
    case = _two_peaks(first_score)
    assert_same_salvage(*case)
    _, _, flat, _ = _salvage(*case)
    assert flat.tolist() == [want]


@pytest.mark.parametrize("where", ["heat", "tags"])
def test_salvage_with_nan_follows_the_full_map_search(where):
    # NaN defeats the bound (np.argmax returns the first NaN, which is not > 0): the full-map search runs
    rng = np.random.default_rng(11)
    for _ in range(5):
        heat, planes, means, missing = _cast(random_case(rng, "trained"), np.float32, np.float32)
        target = heat if where == "heat" else planes
        target.reshape(-1)[rng.integers(0, target.size, 3)] = np.nan
        assert_same_salvage(heat, planes, means, missing)


def test_salvage_with_nothing_missing():
    heat, planes, means, missing = _cast(random_case(np.random.default_rng(3), "trained"), np.float32, np.float32)
    pids, joints, flat, scores = _salvage(heat, planes, means, np.zeros_like(missing))
    assert pids.size == joints.size == flat.size == scores.size == 0
    assert scores.dtype == np.float32
