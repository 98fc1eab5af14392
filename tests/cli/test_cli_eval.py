"""``kbench`` as users run it: in a subprocess, checking output, exit codes and the files left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from kbench.datasets.synthetic import dets_to_results, gt_to_coco_dict, make_coco_like

RECORD_KEYS = {"schema", "kind", "command", "metrics", "inputs", "options", "env", "created"}


def kbench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kbench", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def coco_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    gt, dets = make_coco_like(num_images=50, seed=9)
    (root / "gt.json").write_text(json.dumps(gt_to_coco_dict(gt)))
    (root / "res.json").write_text(json.dumps(dets_to_results(dets)))
    return root


def test_help_imports_no_framework():
    code = ("import sys, kbench.cli\n"
            "try:\n    kbench.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('paddle', 'torch', 'onnxruntime', 'tensorrt', 'numpy') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout


def test_eval_help_has_examples():
    out = kbench("eval", "--help")
    assert out.returncode == 0 and "examples:" in out.stdout and "--predictions" in out.stdout


def test_sample_prints_summary_and_writes_record(tmp_path):
    out = kbench("eval", "--sample", "60", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ]" in out.stdout
    assert "protocol:" in out.stdout
    records = list((tmp_path / "kbench-runs").glob("*.json"))
    assert len(records) == 1
    rec = json.loads(records[0].read_text())
    assert set(rec) == RECORD_KEYS and rec["kind"] == "eval" and rec["schema"] == "kbench.record/1"
    assert rec["command"].startswith("kbench eval --sample")
    assert list(rec["metrics"]) == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]


def test_eval_files_record_names_inputs_with_sha256(coco_files, tmp_path):
    record = tmp_path / "out" / "r.json"
    out = kbench("eval", "--predictions", coco_files / "res.json", "--ann", coco_files / "gt.json",
                 "--record", record)
    assert out.returncode == 0, out.stderr
    rec = json.loads(record.read_text())
    assert len(rec["inputs"]["ann"]["sha256"]) == 64
    assert rec["options"]["flavour"] == "pycocotools" and rec["options"]["engine"] == "kbench"
    assert 0 < rec["metrics"]["AP"] < 1


def test_json_output(coco_files, tmp_path):
    out = kbench("eval", "-p", coco_files / "res.json", "-a", coco_files / "gt.json", "--json", "--no-record",
                 cwd=tmp_path)
    assert out.returncode == 0
    assert set(json.loads(out.stdout)) == {"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}
    assert not (tmp_path / "kbench-runs").exists()


def test_mpii_eval(tmp_path):
    rng = np.random.default_rng(0)
    n = 30
    joints = rng.uniform(100, 800, (n, 16, 2))
    heads = np.stack([joints[:, 9] - 20, joints[:, 9] + 20], axis=1)
    names = np.empty((1, 16), dtype=object)
    from kbench.evaluators.mpii_pckh import MPII_JOINTS

    for i, name in enumerate(MPII_JOINTS):
        names[0, i] = np.array([name])
    savemat(tmp_path / "mpii_gt_val.mat", {"dataset_joints": names, "jnt_missing": np.zeros((16, n)),
                                           "pos_gt_src": np.transpose(joints, (1, 2, 0)),
                                           "headboxes_src": np.transpose(heads, (1, 2, 0))})
    np.save(tmp_path / "preds.npy", joints - 1.0 + rng.normal(0, 3, joints.shape))
    out = kbench("eval", "-p", tmp_path / "preds.npy", "-a", tmp_path / "mpii_gt_val.mat", "--json",
                 "--record", tmp_path / "rec.json")
    assert out.returncode == 0, out.stderr
    metrics = json.loads(out.stdout)
    assert list(metrics) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "PCKh", "PCKh@0.1",
                             "PCKh@0.1_paddledet"]
    assert json.loads((tmp_path / "rec.json").read_text())["options"]["evaluator"] == "mpii_pckh"


BAD_INPUTS = {
    "missing predictions file": (lambda d: ["-p", d / "nope.json", "-a", d / "gt.json"], "no such file"),
    "invalid JSON": (lambda d: ["-p", d / "broken.json", "-a", d / "gt.json"], "invalid JSON"),
    "wrong keypoint count": (lambda d: ["-p", d / "short.json", "-a", d / "gt.json"], "expected 51"),
    "unknown image ids": (lambda d: ["-p", d / "unknown.json", "-a", d / "gt.json"], "not in the annotations"),
    "NaN coordinates": (lambda d: ["-p", d / "nan.json", "-a", d / "gt.json"], "NaN or infinite"),
    "no person category": (lambda d: ["-p", d / "res.json", "-a", d / "dogs.json"], "no person category"),
    "MPII count mismatch": (lambda d: ["-p", d / "few.npy", "-a", d / "mpii.json"], "predictions for"),
}


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory, coco_files):
    d = tmp_path_factory.mktemp("bad")
    gt = json.loads((coco_files / "gt.json").read_text())
    res = json.loads((coco_files / "res.json").read_text())
    (d / "gt.json").write_text(json.dumps(gt))
    (d / "res.json").write_text(json.dumps(res))
    (d / "broken.json").write_text('[{"image_id": 1,')
    (d / "short.json").write_text(json.dumps([dict(res[0], keypoints=res[0]["keypoints"][:-3])]))
    (d / "unknown.json").write_text(json.dumps([dict(res[0], image_id=123456789)]))
    (d / "nan.json").write_text(json.dumps([dict(res[0], keypoints=[float("nan")] * 51)]))
    (d / "dogs.json").write_text(json.dumps(dict(gt, categories=[{"id": 1, "name": "dog"}])))
    (d / "mpii.json").write_text(json.dumps([{"joints": [[5, 5]] * 16, "joints_vis": [1] * 16,
                                              "headbox": [0, 0, 10, 10]}] * 3))
    np.save(d / "few.npy", np.zeros((2, 16, 2)))
    return d


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_one_line_exit_2_no_record(bad_dir, tmp_path, case):
    make_args, message = BAD_INPUTS[case]
    out = kbench("eval", *make_args(bad_dir), "--record", tmp_path / "rec.json", cwd=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kbench: error:") and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "rec.json").exists() and not list(tmp_path.glob(".rec.json.*"))


def test_usage_errors_exit_2(tmp_path):
    assert kbench("eval", cwd=tmp_path).returncode == 2
    assert kbench("eval", "--sample", "0", cwd=tmp_path).returncode == 2
    assert kbench("eval", "--frobnicate", cwd=tmp_path).returncode == 2
    assert kbench(cwd=tmp_path).returncode == 2


def test_console_script_installed():
    exe = Path(sys.executable).parent / "kbench"
    assert exe.exists()
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("kbench ")


def test_sigmas_from_list_and_file(coco_files, tmp_path):
    from kbench.evaluators.coco_keypoints import COCO_SIGMAS

    listed = ",".join(str(s) for s in COCO_SIGMAS)
    (tmp_path / "sigmas.json").write_text(json.dumps(list(COCO_SIGMAS)))
    variants = ([], ["--sigmas", listed], ["--sigmas", tmp_path / "sigmas.json"])
    outs = [kbench("eval", "-p", coco_files / "res.json", "-a", coco_files / "gt.json", "--json", "--no-record",
                   *extra, cwd=tmp_path) for extra in variants]
    assert all(o.returncode == 0 for o in outs), [o.stderr for o in outs]
    assert json.loads(outs[0].stdout) == json.loads(outs[1].stdout) == json.loads(outs[2].stdout)


def test_bad_sigmas_exit_2(coco_files, tmp_path):
    for sig in ("0.1,abc", "0.1,0.2", "-1," * 16 + "1"):
        out = kbench("eval", "-p", coco_files / "res.json", "-a", coco_files / "gt.json", f"--sigmas={sig}",
                     cwd=tmp_path)
        assert out.returncode == 2 and out.stderr.startswith("kbench: error:"), (sig, out.stderr)


def test_flavour_is_recorded(coco_files, tmp_path):
    out = kbench("eval", "-p", coco_files / "res.json", "-a", coco_files / "gt.json", "--flavour", "xtcocotools",
                 "--record", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    rec = json.loads((tmp_path / "r.json").read_text())
    assert rec["options"]["flavour"] == "xtcocotools" and rec["options"]["kpt_score_thr"] == 0.0
    assert "xtcocotools semantics" in out.stdout
