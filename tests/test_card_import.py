"""``kbench.card_import``: PaddleDetection configs read as ppdet reads them, and turned into cards (no framework).

The fixture ``tests/fixtures/paddledet_configs/hand21_128x96.yml`` is a 21-joint hand model without flip pairs,
written like PaddleDetection's tiny_pose configs (``_BASE_`` files, anchors, ``!Class`` tags). No marker (fast), except
the ``parity`` test that loads the same config with paddledet 2.6.0's own ``load_config`` in a subprocess.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kbench.card_import import Tagged, import_config, load_paddle_config, parse_overrides, write_card
from kbench.cards import load_card
from kbench.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "paddledet_configs"
HAND = FIXTURES / "hand21_128x96.yml"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- reading configs as ppdet does ------------------------------------------------------------------------------

def test_base_files_merge_in_order_and_the_file_wins(tmp_path):
    _write(tmp_path, "_base_/a.yml", "x: 1\nsec: {p: 1, q: 1}\nlst: [1, 2]\n")
    _write(tmp_path, "_base_/b.yml", "x: 2\nsec: {q: 2, r: 2}\n")
    _write(tmp_path, "_base_/nested.yml", "_BASE_: ['a.yml']\ny: nested\n")
    top = _write(tmp_path, "top.yml", "_BASE_: ['_base_/nested.yml', '_base_/b.yml']\nsec: {r: 3}\nlst: [9]\n")
    cfg = load_paddle_config(top)
    # later bases over earlier ones, the file over all; mappings merge key by key, lists are replaced
    assert cfg == {"x": 2, "sec": {"p": 1, "q": 2, "r": 3}, "lst": [9], "y": "nested"}


def test_anchors_tags_and_overrides(tmp_path):
    cfg = load_paddle_config(HAND, ["TopDownHRNet.use_dark=false", "EvalDataset.image_thre=0.3", "new_key=[1, 2]"])
    assert cfg["trainsize"] == [96, 128] and cfg["TopDownHRNet"]["num_joints"] == 21  # aliases resolved
    assert cfg["TopDownHRNet"]["use_dark"] is False and cfg["TopDownHRNet"]["backbone"] == "LiteHRNet"
    ds = cfg["EvalDataset"]
    assert isinstance(ds, Tagged) and ds.tag == "KeypointTopDownCocoDataset"
    assert ds.value["image_thre"] == 0.3 and ds.value["num_joints"] == 21
    sched = cfg["LearningRate"]["schedulers"]  # from the optimizer _BASE_ file
    assert [s.tag for s in sched] == ["PiecewiseDecay", "LinearWarmup"] and sched[0].value["milestones"] == [170, 200]
    assert cfg["new_key"] == [1, 2] and cfg["epoch"] == 210


def test_overrides_parse_yaml_values_and_dotted_keys():
    assert parse_overrides(["weights=out/model_final", "a.b.c=3", "a.b.d=[1, 2]", "flag=False"]) == {
        "weights": "out/model_final", "a": {"b": {"c": 3, "d": [1, 2]}}, "flag": False}
    with pytest.raises(InputError, match="expected key=value"):
        parse_overrides(["weights"])


@pytest.mark.parametrize("text, expected", [
    ("a: [1, 2\n", "invalid YAML at line"),
    ("a: !!python/object/apply:os.system ['true']\n", "invalid YAML"),  # only safe types, never constructed
    ("- a list\n", "expected a PaddleDetection config"),
    ("_BASE_: ['missing.yml']\n", "_BASE_ file missing.yml not found"),
])
def test_bad_configs_are_one_line(tmp_path, text, expected):
    path = _write(tmp_path, "bad.yml", text)
    with pytest.raises(InputError) as info:
        load_paddle_config(path)
    assert expected in str(info.value) and "\n" not in str(info.value) and str(path) in str(info.value)


def test_base_cycle_is_refused(tmp_path):
    _write(tmp_path, "a.yml", "_BASE_: ['b.yml']\n")
    b = _write(tmp_path, "b.yml", "_BASE_: ['a.yml']\n")
    with pytest.raises(InputError, match="cycle"):
        load_paddle_config(b)


# --- config -> card -----------------------------------------------------------------------------------------------

def test_hand_config_imports_into_a_valid_card(tmp_path):
    imported = import_config(HAND)
    d = imported.data
    assert (d["num_joints"], d["input_size"], d["heatmap_size"], d["flip_perm"]) == (21, [96, 128], [24, 32], [])
    assert d["backbone"]["type"] == "LiteHRNet" and d["backbone"]["network_type"] == "wider_naive"
    assert d["backbone"]["freeze_at"] == -1 and d["head"]["width"] == 40
    assert d["eval"]["flip"] is False  # no pairs: no flip test
    assert d["eval"]["use_dark"] is True and d["eval"]["udp"] is True and d["eval"]["use_gt_bbox"] is True
    assert d["eval"]["image_thre"] == 0.5
    assert d["metric"] == "KeyPointTopDownCOCOWholeBadyHandEval" and d["sigmas"] is None
    assert d["normalize"]["mean"] == [0.485, 0.456, 0.406] and d["normalize"]["layout"] == "CHW"
    assert d["training"] == {"target": "ToHeatmapsTopDown_DARK", "sigma": 2, "epochs": 210,
                             "anno_path": "annotations/hand21_train.json"}
    assert imported.weights == "output/hand21_128x96/model_final"
    # everything kbench does not use is kept, and listed
    extra = d["config_extra"]
    assert set(imported.kept) == set(extra)
    assert {"LearningRate", "OptimizerBuilder", "TestReader", "use_gpu", "weights", "worker_num"} <= set(extra)
    assert extra["KeyPointMSELoss"] == {"loss_scale": 1.0}
    assert extra["LearningRate"]["schedulers"][0] == {"_class": "PiecewiseDecay", "milestones": [170, 200],
                                                      "gamma": 0.1}
    assert extra["EvalReader"] == {"batch_size": 16}  # the transforms the card holds are taken out, the rest kept
    names = [next(iter(t)) for t in extra["TrainReader"]["sample_transforms"]]
    assert names == ["TopDownRandomShiftBboxCenter", "TopDownRandomFlip", "TopDownGetRandomScaleRotation",
                     "TopDownAffine"]
    card = load_card(write_card(d, tmp_path / "hand21_128x96.yml"))
    assert card.num_joints == 21 and card.flip_pairs == () and card.evaluation == "pck" and not card.packaged
    assert card.config_extra["worker_num"] == 2 and card.source.repo is None


def test_unknown_keys_are_kept_never_dropped():
    imported = import_config(HAND, ["my_setting=7", "TopDownHRNet.new_arg=x", "LiteHRNet.extra_flag=true"])
    extra = imported.data["config_extra"]
    assert extra["my_setting"] == 7 and extra["TopDownHRNet"] == {"new_arg": "x"}
    assert extra["LiteHRNet"] == {"extra_flag": True}
    assert {"my_setting", "TopDownHRNet", "LiteHRNet"} <= set(imported.kept)


def test_flip_pairs_turn_the_flip_test_on():
    d = import_config(HAND, ["TopDownHRNet.flip_perm=[[1, 2], [3, 4]]"]).data
    assert d["flip_perm"] == [[1, 2], [3, 4]] and d["eval"]["flip"] is True
    d = import_config(HAND, ["TopDownHRNet.flip=false", "TopDownHRNet.flip_perm=[[1, 2]]"]).data
    assert d["eval"]["flip"] is False


def test_oks_metric_needs_sigmas_for_21_joints():
    with pytest.raises(InputError) as info:
        import_config(HAND, ["metric=KeyPointTopDownCOCOEval"])
    assert "sigmas" in str(info.value) and "\n" not in str(info.value)
    sigmas = [0.025] * 21
    d = import_config(HAND, ["metric=KeyPointTopDownCOCOEval", f"sigmas={sigmas}"]).data
    assert d["sigmas"] == sigmas
    with pytest.raises(InputError, match="expected 21 sigmas"):
        import_config(HAND, ["metric=KeyPointTopDownCOCOEval", "sigmas=[0.025, 0.025]"])


@pytest.mark.parametrize("opts, expected", [
    (["architecture=VitPose_TopDown"], "architecture 'VitPose_TopDown': kbench has no network for it"),
    (["TopDownHRNet.backbone=ResNet"], "TopDownHRNet.backbone 'ResNet': kbench has no network for it"),
    (["LiteHRNet.network_type=lite_99"], "LiteHRNet.network_type 'lite_99': kbench has no network"),
    (["TopDownHRNet.post_process=SomethingElse"], "kbench has no network for it"),
    (["num_joints=17"], "differs from the config's num_joints 17"),
    (["metric=KeyPointTopDownXEval"], "metric: 'KeyPointTopDownXEval'"),
    (["pixel_std=100"], "pixel_std"),
    (["architecture=HigherHRNet"], "a bottom-up model is evaluated by COCO OKS AP"),  # a hand config as bottom-up
])
def test_refusals_are_one_line(opts, expected):
    with pytest.raises(InputError) as info:
        import_config(HAND, opts)
    message = str(info.value)
    assert expected in message and "\n" not in message


def test_written_card_round_trips(tmp_path):
    imported = import_config(HAND, name="my_hand")
    path = write_card(imported.data, tmp_path / "my_hand.yml")
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == imported.data
    lite = {"lite_fp32": {"url": None, "sha256": None}, "lite_fp16": {"url": None, "sha256": None}}
    expected = {**imported.data, "downloads": {**imported.data["downloads"], **lite}}
    assert load_card(path).to_dict() == expected
    with pytest.raises(InputError, match="named after the card"):
        write_card(imported.data, tmp_path / "other.yml")


def test_bottom_up_config_imports_as_the_packaged_card():
    from kbench.cards import get_card

    d = import_config(FIXTURES / "bottomup_w32_512.yml").data
    zoo = get_card("higherhrnet_hrnet_w32_512").to_dict()
    for key in ("architecture", "paradigm", "dataset", "num_joints", "input_size", "heatmap_size", "heatmap_size_2x",
                "flip_perm", "backbone", "head", "eval", "normalize"):
        assert d[key] == zoo[key], key
    assert d["training"]["target"] == "ToHeatmaps" and d["training"]["epochs"] == 300
    assert d["metric"] == "COCO" and set(d["config_extra"]) >= {"IouType", "max_people", "weights"}
    with pytest.raises(InputError, match="bottom-up model is evaluated by COCO OKS AP"):
        import_config(FIXTURES / "bottomup_w32_512.yml", ["metric=KeyPointTopDownCOCOWholeBadyHandEval"])


# --- against PaddleDetection's own loader -----------------------------------------------------------------------

_PPDET_LOAD = r"""
import json, sys
import ppdet  # registers every !Class tag
from ppdet.core.workspace import load_config, merge_config
from ppdet.utils.cli import ArgsParser
cfg = load_config(sys.argv[1])
merge_config(ArgsParser()._parse_opt(sys.argv[2:]))
def plain(v):
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in dict.items(v)}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if hasattr(v, "__dict__") and not isinstance(v, type):  # a constructed !Class object: its class
        return {"_class": type(v).__name__}
    return v
print("PPDET " + json.dumps({k: plain(v) for k, v in cfg.items()}))
"""


def _shape(value):
    """Our merged config as ppdet's looks once serialised: a tagged value is its class (ppdet constructs it)."""
    if isinstance(value, Tagged):
        return {"_class": value.tag}
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


@pytest.mark.parity
def test_merged_config_equals_paddledetections(tmp_path):
    """paddledet 2.6.0's ``load_config`` + ``ArgsParser._parse_opt`` + ``merge_config`` on the same config and
    overrides: every key we read has ppdet's value (ppdet also lists its registered classes and ``filename``)."""
    import json
    import subprocess
    import sys

    pytest.importorskip("ppdet", reason="paddledet is not installed")
    opts = ["TopDownHRNet.use_dark=false", "epoch=5", "weights=out/w", "OptimizerBuilder.optimizer.type=SGD"]
    done = subprocess.run([sys.executable, "-c", _PPDET_LOAD, str(HAND), *opts], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("PPDET ")), None)
    assert line, done.stderr[-2000:]
    theirs = json.loads(line[len("PPDET "):])
    ours = load_paddle_config(HAND, opts)
    assert set(ours) <= set(theirs)
    for key, value in ours.items():
        assert theirs[key] == _shape(value), key
    assert theirs["TopDownHRNet"]["use_dark"] is False and theirs["OptimizerBuilder"]["optimizer"]["type"] == "SGD"
