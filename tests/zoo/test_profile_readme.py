"""Params and FLOPs of every zoo model, counted by kbench, against the zoo README's published figures.

The README prints params in millions and GFLOPs to one or two decimals (28.6 M, 7.68 / 17.3 GFLOPs for
HRNet-w32; 1.36 M, 0.08 / 0.32 GFLOPs for PP-TinyPose); a measured value passes when it rounds to the
printed figure at the printed precision. Models the README gives no figure for are still counted
(printed with -s) and checked for plausibility, and the counter itself is checked against a
hand-computed network.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

paddle = pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")

from kbench.bench.flops import count_paddle  # noqa: E402
from kbench.cards import list_cards  # noqa: E402
from kbench.runners.profile import matches_published, profile_card  # noqa: E402

# Written down from the README (configs/keypoint/README.md) independently of the cards, to catch a card typo too.
README = {"hrnet_w32_256x192": (28.6, 7.68), "hrnet_w32_384x288": (28.6, 17.3), "tinypose_128x96": (1.36, 0.08),
          "tinypose_256x192": (1.36, 0.32)}


@pytest.mark.parametrize("card", list_cards(), ids=lambda c: c.name)
def test_params_and_flops_reproduce_the_readme(card):
    size, weights = profile_card(card)
    assert weights.random  # counts need no download; the weights are labelled random
    print(f"\n{card.name}: {size.params_m:.3f} M params, {size.gflops:.3f} GFLOPs at {card.input_size}")
    if card.name in README:
        params_m, gflops = README[card.name]
        assert (card.published.params_m, card.published.gflops) == (params_m, gflops)
        assert matches_published(size.params_m, params_m), size.params_m
        assert matches_published(size.gflops, gflops), size.gflops
    else:
        assert card.published.params_m is None or matches_published(size.params_m, card.published.params_m)
        assert card.published.gflops is None or matches_published(size.gflops, card.published.gflops)
    assert 0.5 < size.params_m < 100 and 0.01 < size.gflops < 200


def test_counter_on_a_hand_computed_network():
    net = paddle.nn.Sequential(paddle.nn.Conv2D(3, 8, 3, padding=1), paddle.nn.BatchNorm2D(8), paddle.nn.ReLU(),
                               paddle.nn.Conv2D(8, 8, 3, padding=1, groups=4, bias_attr=False),
                               paddle.nn.AdaptiveAvgPool2D(1), paddle.nn.Flatten(), paddle.nn.Linear(8, 5))
    size = count_paddle(net, (1, 3, 10, 12))
    out = 8 * 10 * 12
    expected = out * (3 * 9 + 1) + 2 * out + out * (2 * 9) + 8 * (10 * 12 + 1) + 5 * 8
    assert size.flops == expected
    # conv 8x3x3x3 + 8, BN 8 + 8 (+ running mean/var 8 + 8), grouped conv 8x2x3x3, linear 8x5 + 5
    assert size.params == 216 + 8 + 32 + 144 + 45


def test_matches_published_uses_the_printed_precision():
    assert matches_published(28.590449, 28.6) and not matches_published(28.536, 28.6)
    assert matches_published(0.080217, 0.08) and matches_published(17.287, 17.3)
    assert matches_published(1.0, None) is None


def test_profile_command_writes_a_profile_record(tmp_path):
    out = subprocess.run([sys.executable, "-m", "kbench", "profile", "--model", "tinypose_128x96", "--record",
                          str(tmp_path / "p.json")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "1.36 M ok" in out.stdout and "0.08 GFLOPs ok" in out.stdout
    rec = json.loads((tmp_path / "p.json").read_text())
    assert rec["kind"] == "profile" and set(rec["metrics"]) == {"params", "flops"}
    assert rec["metrics"]["params"] == 1355521 and rec["options"]["model"] == "tinypose_128x96"


def test_profile_unknown_model_exits_2():
    out = subprocess.run([sys.executable, "-m", "kbench", "profile", "--model", "hrnet_w33"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.startswith("kbench: error:") and "hrnet_w32" in out.stderr
