"""The model-card registry: every packaged card parses and validates, and its facts agree with PaddleDetection.

The expected figures below are copied from PaddleDetection's configs/keypoint/README.md by hand, independently of
the YAML files, so that a typo in a card fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kbench.cards import ModelCard, cards_dir, get_card, list_cards, load_card
from kbench.errors import InputError

NAMES = {
    "hrnet_w32_256x192", "hrnet_w32_384x288", "dark_hrnet_w32_256x192", "dark_hrnet_w32_384x288",
    "dark_hrnet_w48_256x192", "hrnet_w32_256x256_mpii", "wider_naive_hrnet_18_256x192_coco",
    "lite_hrnet_18_256x192_coco", "lite_hrnet_18_384x288_coco", "lite_hrnet_30_256x192_coco",
    "lite_hrnet_30_384x288_coco", "tinypose_128x96", "tinypose_256x192", "higherhrnet_hrnet_w32_512",
    "higherhrnet_hrnet_w32_640", "higherhrnet_hrnet_w32_512_swahr",
}
CARD_FILES = sorted(cards_dir().glob("*.yml"))
COCO_LR_PAIRS = {(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)}  # eyes, ears, ..., ankles
MPII_LR_PAIRS = {(0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)}  # ankles, knees, hips, wrists, elbows, shoulders

# name -> (AP or PCKh, PCKh@0.1, params M, GFLOPs) from the README's model, MPII, TinyPose and recommendation tables
README = {
    "higherhrnet_hrnet_w32_512": (67.1, None, None, None),
    "higherhrnet_hrnet_w32_640": (68.3, None, None, None),
    "higherhrnet_hrnet_w32_512_swahr": (68.9, None, None, None),
    "hrnet_w32_256x192": (76.9, None, 28.6, 7.68),
    "hrnet_w32_384x288": (77.8, None, 28.6, 17.3),
    "dark_hrnet_w32_256x192": (78.0, None, None, None),
    "dark_hrnet_w32_384x288": (78.3, None, None, None),
    "wider_naive_hrnet_18_256x192_coco": (67.6, None, None, None),
    "lite_hrnet_18_256x192_coco": (66.5, None, None, None),
    "lite_hrnet_18_384x288_coco": (69.7, None, None, None),
    "lite_hrnet_30_256x192_coco": (69.4, None, None, None),
    "lite_hrnet_30_384x288_coco": (72.5, None, None, None),
    "hrnet_w32_256x256_mpii": (90.6, 38.5, None, None),
    "tinypose_128x96": (58.1, None, 1.36, 0.08),
    "tinypose_256x192": (68.8, None, 1.36, 0.32),
    "dark_hrnet_w48_256x192": (None, None, None, None),  # not in the README
}


def _urls(card: ModelCard) -> list[str]:
    d = card.downloads
    found = [x.url for x in (d.checkpoint, d.deploy_model, d.lite_fp32, d.lite_fp16)]
    return [u for u in found + [card.backbone.pretrain_weights] if u is not None]


# --- the registry ------------------------------------------------------------------------------------------------

def test_registry_holds_exactly_the_sixteen_models():
    assert {p.stem for p in CARD_FILES} == NAMES
    assert [c.name for c in list_cards()] == [c.name for c in list_cards("*")]
    assert {c.name for c in list_cards()} == NAMES


@pytest.mark.parametrize("path", CARD_FILES, ids=lambda p: p.stem)
def test_every_card_parses_and_validates(path):
    card = load_card(path)
    assert card.name == path.stem
    assert card.source.config.startswith("configs/keypoint/") and card.source.config.endswith(f"/{card.name}.yml")
    assert card == get_card(card.name)


@pytest.mark.parametrize("path", CARD_FILES, ids=lambda p: p.stem)
def test_every_key_has_a_comment(path):
    """Each scalar key line carries a comment (or the comment sits on the line above), so intent is documented."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "- ")) or ":" not in stripped:
            continue
        key = stripped.split(":", 1)[0]
        if key in ("url",):  # the comment is on the download's heading
            continue
        assert "#" in line or lines[i - 1].strip().startswith("#"), f"{path.name}:{i + 1}: {key} has no comment"


@pytest.mark.parametrize("card", list_cards(), ids=lambda c: c.name)
def test_flip_pairs_are_valid_joint_pairs(card):
    pairs = card.flip_pairs
    used = [i for pair in pairs for i in pair]
    assert all(0 <= i < card.num_joints for i in used)
    assert len(set(used)) == len(used) and all(a != b for a, b in pairs)
    assert set(pairs) == (COCO_LR_PAIRS if card.dataset == "coco" else MPII_LR_PAIRS)
    if card.paradigm == "bottom_up":  # HigherHRNet gives a permutation, which must undo itself
        assert sorted(card.flip_perm) == list(range(card.num_joints))
        assert all(card.flip_perm[p] == i for i, p in enumerate(card.flip_perm))


@pytest.mark.parametrize("card", list_cards(), ids=lambda c: c.name)
def test_shapes_and_paradigm_are_consistent(card):
    assert card.num_joints == {"coco": 17, "mpii": 16}[card.dataset]
    assert [4 * x for x in card.heatmap_size] == list(card.input_size)
    assert card.paradigm == {"TopDownHRNet": "top_down", "HigherHRNet": "bottom_up"}[card.architecture]
    if card.paradigm == "bottom_up":
        assert card.heatmap_size_2x == tuple(2 * x for x in card.heatmap_size)
        assert card.head.type == "HrHRNetHead" and card.head.deconv is not None
    else:
        assert card.heatmap_size_2x is None and card.head.deconv is None and card.head.swahr is None


def test_input_sizes_follow_the_names():
    """PaddleDetection names give height x width; the cards store [width, height]."""
    for card in list_cards():
        m = re.search(r"_(\d+)x(\d+)", card.name)
        if m:
            assert card.input_size == (int(m.group(2)), int(m.group(1))), card.name
        else:  # HigherHRNet: one number, the square input
            size = int(re.search(r"_w32_(\d+)", card.name).group(1))
            assert card.input_size == (size, size), card.name


@pytest.mark.parametrize("card", list_cards(), ids=lambda c: c.name)
def test_urls_are_https_and_hashes_are_hex_or_null(card):
    for url in _urls(card):
        assert url.startswith("https://"), url
    d = card.downloads
    for dl in (d.checkpoint, d.deploy_model, d.lite_fp32, d.lite_fp16):
        assert dl.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", dl.sha256)
    if d.checkpoint.url:
        assert d.checkpoint.url.endswith(f"/{card.name}.pdparams")
    if d.deploy_model.url:
        assert d.deploy_model.url.endswith(f"/{card.name}.tar")


@pytest.mark.parametrize("name", sorted(README))
def test_published_figures_match_the_readme(name):
    card = get_card(name)
    headline, pckh01, params, gflops = README[name]
    pub = card.published
    if card.dataset == "mpii":
        assert (pub.ap, pub.pckh, pub.pckh_at_0_1) == (None, headline, pckh01)
    else:
        assert (pub.ap, pub.pckh, pub.pckh_at_0_1) == (headline, None, None)
    assert (pub.params_m, pub.gflops) == (params, gflops)


def test_published_spot_checks():
    assert get_card("wider_naive_hrnet_18_256x192_coco").published.ap_with_dark == 68.4  # "67.6(+DARK 68.4)"
    assert get_card("hrnet_w32_256x192").published.boxes == "gt"  # README: top-down AP uses GT boxes
    assert get_card("higherhrnet_hrnet_w32_512").published.boxes is None  # bottom-up: no boxes
    tiny = get_card("tinypose_128x96")
    lite = {(lat.precision, lat.ms) for lat in tiny.published.latencies if lat.source == "configs/keypoint/README.md"}
    assert lite == {("fp32", 4.57), ("fp16", 3.27)}
    assert tiny.downloads.deploy_model.url == "https://bj.bcebos.com/v1/paddledet/models/keypoint/tinypose_128x96.tar"
    assert get_card("dark_hrnet_w48_256x192").downloads.checkpoint.url is None


def test_config_settings_spot_checks():
    """Values read from the PaddleDetection configs (and ppdet 2.6's defaults where a config is silent)."""
    tiny = get_card("tinypose_256x192")
    assert (tiny.backbone.type, tiny.backbone.network_type, tiny.head.width) == ("LiteHRNet", "wider_naive", 40)
    assert tiny.eval.udp and tiny.eval.use_dark and tiny.eval.image_thre == 0.5
    lite = get_card("lite_hrnet_30_384x288_coco")
    assert lite.backbone.network_type == "lite_30" and not lite.eval.use_dark and not lite.eval.udp
    hr = get_card("dark_hrnet_w48_256x192")
    assert (hr.backbone.width, hr.backbone.freeze_at, hr.backbone.freeze_norm) == (48, -1, False)
    assert hr.backbone.return_idx == (0,) and hr.training.target == "ToHeatmapsTopDown_DARK"
    swahr = get_card("higherhrnet_hrnet_w32_512_swahr")
    assert swahr.head.swahr and not get_card("higherhrnet_hrnet_w32_640").head.swahr
    assert swahr.eval.flip and swahr.eval.max_num_people == 30
    for card in list_cards():
        assert card.normalize.mean == (0.485, 0.456, 0.406) and card.normalize.std == (0.229, 0.224, 0.225)
        assert card.normalize.channel_order == "RGB"


# --- lookup ------------------------------------------------------------------------------------------------------

def test_list_cards_globs_and_sorts_naturally():
    assert [c.name for c in list_cards("lite_hrnet_*")] == [
        "lite_hrnet_18_256x192_coco", "lite_hrnet_18_384x288_coco", "lite_hrnet_30_256x192_coco",
        "lite_hrnet_30_384x288_coco"]
    assert [c.name for c in list_cards("higherhrnet*")] == [
        "higherhrnet_hrnet_w32_512", "higherhrnet_hrnet_w32_512_swahr", "higherhrnet_hrnet_w32_640"]
    assert [c.name for c in list_cards("TINYPOSE_*")] == ["tinypose_128x96", "tinypose_256x192"]
    assert list_cards("no_such_model*") == []


def test_unknown_name_suggests_close_names():
    with pytest.raises(InputError) as info:
        get_card("hrnet_w32_256x19")
    message = str(info.value)
    assert "\n" not in message and "hrnet_w32_256x192" in message and "did you mean" in message
    with pytest.raises(InputError, match="tinypose_128x96"):
        get_card("tinypose")
    with pytest.raises(InputError, match="unknown model 'qwerty'"):
        get_card("qwerty")


def test_get_card_accepts_a_file_name():
    assert get_card("tinypose_128x96.yml").name == "tinypose_128x96"


def test_to_dict_round_trips_the_yaml():
    path = cards_dir() / "hrnet_w32_384x288.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    data = get_card("hrnet_w32_384x288").to_dict()
    raw["downloads"].setdefault("lite_fp32", {"url": None, "sha256": None})
    raw["downloads"].setdefault("lite_fp16", {"url": None, "sha256": None})
    raw.update(metric="KeyPointTopDownCOCOEval", sigmas=None, config_extra={})  # optional keys, at their defaults
    assert data == raw


def test_cards_module_imports_no_framework():
    code = ("import sys, kbench.cards as c\nc.list_cards()\n"
            "print('HEAVY', [m for m in ('paddle', 'torch', 'onnxruntime', 'cv2') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stderr


# --- validation of broken cards ----------------------------------------------------------------------------------

def _mutate(edit):
    def apply(tmp_path: Path) -> Path:
        src = cards_dir() / "hrnet_w32_256x192.yml"
        data = yaml.safe_load(src.read_text(encoding="utf-8"))
        edit(data)
        path = tmp_path / "hrnet_w32_256x192.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path
    return apply


def _set(section, key, value):
    def edit(data):
        (data[section] if section else data)[key] = value
    return edit


def _drop(section, key):
    def edit(data):
        del (data[section] if section else data)[key]
    return edit


BROKEN = {
    "missing field": (_mutate(_drop("", "num_joints")), "missing field 'num_joints'"),
    "missing nested field": (_mutate(_drop("backbone", "freeze_at")), "missing field 'backbone.freeze_at'"),
    "unknown field": (_mutate(_set("eval", "use_darkk", True)), "field 'eval.use_darkk': unknown field"),
    "bool as string": (_mutate(_set("eval", "flip", "yes please")), "field 'eval.flip': expected true or false"),
    "joint out of range": (_mutate(_set("", "flip_perm", [[1, 2], [3, 17]])), "joint index 17"),
    "joint in two pairs": (_mutate(_set("", "flip_perm", [[1, 2], [2, 3]])), "more than one pair"),
    "pair of three": (_mutate(_set("", "flip_perm", [[1, 2, 3]])), "field 'flip_perm[0]': expected a list of 2"),
    "http url": (_mutate(lambda d: d["downloads"]["checkpoint"].update(url="http://x.org/a.pdparams")),
                 "field 'downloads.checkpoint.url': expected an https:// URL"),
    "wrong suffix": (_mutate(lambda d: d["downloads"]["deploy_model"].update(url="https://x.org/a.zip")),
                     "expected a .tar file"),
    "bad sha256": (_mutate(lambda d: d["downloads"]["checkpoint"].update(sha256="abc")), "64 lower-case hex"),
    "name is not the stem": (_mutate(_set("", "name", "hrnet_w32_384x288")), "expected the file's stem"),
    "wrong joint count": (_mutate(_set("", "num_joints", 16)), "coco has 17 joints"),
    "heatmap not 1/4": (_mutate(_set("", "heatmap_size", [64, 64])), "expected 1/4 of input_size"),
    "AP over 100": (_mutate(_set("published", "ap", 769)), "percentage in [0, 100]"),
    "AP without boxes": (_mutate(_set("published", "boxes", None)), "needs the boxes it used"),
    "PCKh on COCO": (_mutate(_set("published", "pckh", 90.0)), "field 'published.pckh': expected one of None"),
    "paradigm mismatch": (_mutate(_set("", "paradigm", "bottom_up")), "TopDownHRNet is top_down"),
    "bad backbone type": (_mutate(_set("backbone", "type", "ResNet")), "field 'backbone.type': expected one of"),
    "latency without hardware": (_mutate(lambda d: d["published"]["latencies"][0].pop("hardware")),
                                 "missing field 'published.latencies[0].hardware'"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_cards_name_file_and_field(case, tmp_path):
    make, expected = BROKEN[case]
    path = make(tmp_path)
    with pytest.raises(InputError) as info:
        load_card(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "x.yml"
    bad.write_text("name: x\nflip_perm: [[1, 2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"x\.yml: invalid YAML at line"):
        load_card(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_card(tmp_path / "missing.yml")
    top = tmp_path / "y.yml"
    top.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(InputError, match="expected a mapping"):
        load_card(top)
