"""``kbench zoo`` as users run it: in a subprocess, checking output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from kbench.cards import get_card, list_cards

TOP_KEYS = ["name", "title", "architecture", "paradigm", "dataset", "num_joints", "input_size", "heatmap_size",
            "heatmap_size_2x", "flip_perm", "metric", "sigmas", "backbone", "head", "eval", "normalize", "training",
            "published", "downloads", "source", "config_extra"]


def kbench(*args):
    return subprocess.run([sys.executable, "-m", "kbench", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_list_prints_one_row_per_model():
    out = kbench("zoo", "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    header = lines[0].split()
    assert header[:3] == ["name", "architecture", "paradigm"] and "GFLOPs" in header and "published" in header
    rows = [line for line in lines[2:] if line.split()[0] in {c.name for c in list_cards()}]
    assert len(rows) == 16
    hr = next(r for r in rows if r.startswith("hrnet_w32_256x192 "))
    assert hr.split() == ["hrnet_w32_256x192", "TopDownHRNet", "top-down", "256x192", "coco", "AP", "76.9", "28.6",
                          "7.68"]
    mpii = next(r for r in rows if r.startswith("hrnet_w32_256x256_mpii "))
    assert "PCKh 90.6" in mpii and "mpii" in mpii
    assert "bottom-up" in next(r for r in rows if r.startswith("higherhrnet_hrnet_w32_640 "))


def test_list_filters_by_word_and_glob():
    out = kbench("zoo", "list", "lite")
    assert out.returncode == 0, out.stderr
    names = [line.split()[0] for line in out.stdout.splitlines()[2:] if line.startswith("lite")]
    assert names == ["lite_hrnet_18_256x192_coco", "lite_hrnet_18_384x288_coco", "lite_hrnet_30_256x192_coco",
                     "lite_hrnet_30_384x288_coco"]
    out = kbench("zoo", "list", "tinypose_*", "--json")
    assert out.returncode == 0, out.stderr
    assert [c["name"] for c in json.loads(out.stdout)] == ["tinypose_128x96", "tinypose_256x192"]


def test_list_json_holds_full_cards():
    out = kbench("zoo", "list", "--json")
    assert out.returncode == 0, out.stderr
    cards = json.loads(out.stdout)
    assert len(cards) == 16 and all(list(c) == TOP_KEYS for c in cards)


def test_list_without_match_exits_2():
    out = kbench("zoo", "list", "no_such_model")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "no model matches 'no_such_model'" in out.stderr


def test_show_prints_every_field():
    out = kbench("zoo", "show", "tinypose_128x96")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for key in TOP_KEYS:
        assert f"\n{key}:" in text, key
    for nested in ("network_type: wider_naive", "use_dark: true", "udp: true", "ap: 58.1", "params_m: 1.36",
                   "url: https://bj.bcebos.com/v1/paddledet/models/keypoint/tinypose_128x96.tar", "sha256: null",
                   "hardware: Qualcomm Snapdragon 865", "config: configs/keypoint/tiny_pose/tinypose_128x96.yml"):
        assert nested in text, nested


def test_show_json_equals_the_card():
    out = kbench("zoo", "show", "higherhrnet_hrnet_w32_512_swahr", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data == json.loads(json.dumps(get_card("higherhrnet_hrnet_w32_512_swahr").to_dict()))
    assert data["head"]["swahr"] is True and data["published"]["ap"] == 68.9


def test_unknown_name_exits_2_with_one_line():
    out = kbench("zoo", "show", "hrnet_w32_256x19")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1
    assert out.stderr.startswith("kbench: error: unknown model 'hrnet_w32_256x19'")
    assert "did you mean hrnet_w32_256x192" in out.stderr


def test_zoo_needs_a_subcommand():
    out = kbench("zoo")
    assert out.returncode == 2 and "ZOO_COMMAND" in out.stderr


def test_help_lists_zoo_with_examples():
    out = kbench("--help")
    assert out.returncode == 0 and "zoo" in out.stdout
    out = kbench("zoo", "--help")
    assert out.returncode == 0 and "examples:" in out.stdout and "kbench zoo show" in out.stdout


def test_help_still_imports_no_numpy():
    code = ("import sys, kbench.cli\n"
            "for argv in (['--help'], ['zoo', '--help']):\n"
            "    try:\n        kbench.cli.main(argv)\n    except SystemExit:\n        pass\n"
            "print('HEAVY', [m for m in ('numpy', 'yaml', 'paddle', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stderr


def test_zoo_list_imports_no_framework():
    code = ("import sys, kbench.cli\n"
            "kbench.cli.main(['zoo', 'list'])\n"
            "print('HEAVY', [m for m in ('paddle', 'torch', 'onnxruntime', 'cv2') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "HEAVY []" in out.stdout, out.stderr
