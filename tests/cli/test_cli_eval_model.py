"""``kbench eval --model``: every zoo model through the whole pipeline on the real mini data sets.

Random weights (no checkpoint can be downloaded here), so the checks are about the pipeline, not accuracy:
valid records naming the whole protocol, results files pycocotools can load, keypoints inside the images,
and the same keypoints from two runtimes. Most runs call ``kbench.cli.main`` in this process (one framework
import for all); a few run the real console script in a subprocess for exit codes and output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kbench.cards import list_cards
from kbench.cli import main

TOP_DOWN_COCO = [c.name for c in list_cards() if c.top_down and c.dataset == "coco"]
BOTTOM_UP = [c.name for c in list_cards() if not c.top_down]


def _kbench(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbench", *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def _image_sizes(ann: Path) -> dict:
    data = json.loads(ann.read_text())
    return {im["id"]: (im["width"], im["height"]) for im in data["images"]}


def _check_coco_run(tmp_path: Path, name: str, ann: Path, bbox: str | None) -> tuple[dict, list]:
    record = json.loads((tmp_path / f"{name}.json").read_text())
    results = json.loads((tmp_path / f"{name}-keypoints.json").read_text())
    assert record["schema"] == "kbench.record/1" and record["kind"] == "eval"
    opts = record["options"]
    for key in ("model", "bbox", "backend", "device", "precision", "flip", "use_dark", "udp", "rescoring", "oks_nms",
                "evaluator", "weights", "stages_s"):
        assert key in opts, key
    assert opts["bbox"] == bbox and opts["precision"] == "fp32" and opts["device"] == "cpu"
    assert opts["weights"].get("random") is True
    assert set(record["metrics"]) >= {"AP", "AP50", "AP75", "APm", "APl", "AR", "AP.nose", "AP.right_ankle"}
    assert all(0.0 <= v <= 1.0 or v == -1.0 for v in record["metrics"].values())
    assert record["inputs"]["results"]["sha256"]
    if bbox == "detector":
        assert len(record["inputs"]["detections"]["sha256"]) == 64
    sizes = _image_sizes(ann)
    assert results, "no keypoint results"
    assert {r["image_id"] for r in results} <= set(sizes)
    dark = opts["use_dark"]
    inside_crop = inside_image = total = 0
    for r in results:
        w, h = sizes[r["image_id"]]
        kp = np.asarray(r["keypoints"]).reshape(-1, 3)
        assert np.isfinite(kp).all()
        # The crop each person was decoded from: centre +- scale x 200 / 2 (padded box, may pass the image edge).
        half = np.asarray(r["scale"]) * 100.0
        lo, hi = np.asarray(r["center"]) - half, np.asarray(r["center"]) + half
        in_crop = ((kp[:, :2] >= lo - 1) & (kp[:, :2] <= hi + 1)).all(axis=1)
        in_image = (kp[:, 0] >= 0) & (kp[:, 0] <= w) & (kp[:, 1] >= 0) & (kp[:, 1] <= h)
        if not dark:
            # argmax + quarter offset cannot leave the heatmap, hence the crop: an exact invariant.
            assert in_crop.all(), (r["image_id"], kp[~in_crop])
        inside_crop += int(in_crop.sum())
        inside_image += int(in_image.sum())
        total += len(kp)
    # DARK's Newton step is unbounded where a heatmap's Hessian is near-singular, which random weights produce now
    # and then (PaddleDetection's dark_postprocess has no bound either, and kbench reproduces it bit for bit):
    # nearly all keypoints still lie in their crop. Crops reach past the image edge by the 1.25 box padding, so a
    # random-weight keypoint may too; most lie in the image.
    assert inside_crop >= 0.9 * total, (inside_crop, total)
    assert inside_image >= 0.75 * total, (inside_image, total)
    return record, results


def _eval_in_process(argv: list, capsys) -> str:
    rc = main(["eval", *argv, "--weights", "random", "--workers", "0", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "RANDOM WEIGHTS" in out and "protocol:" in out
    return out


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("model", TOP_DOWN_COCO)
def test_every_top_down_model_on_coco_mini(model, shared_data, tmp_path, capsys):
    """GT boxes (with the card's flip test) and detector boxes (without) through each top-down zoo model.

    ONNX Runtime with a batch-1 export: the conformance tests use the same export, so the session exports each
    model once. Detector boxes run without flip to halve the CPU time; flip is exercised by the GT run.
    """
    from pycocotools.coco import COCO

    root = shared_data / "coco-mini"
    ann = root / "test_coco.json"
    for bbox in ("gt", "detector"):
        extra = ["--det-file", str(root / "test_coco_det_AP_H_56.json"), "--no-flip"] if bbox == "detector" else []
        _eval_in_process(["--model", model, "--bbox", bbox, "--ann", str(ann), "--image-dir", str(root),
                          "--backend", "onnxruntime", "--batch", "1", "--record", str(tmp_path / f"{bbox}.json"),
                          *extra], capsys)
        record, results = _check_coco_run(tmp_path, bbox, ann, bbox)
        assert record["options"]["flip"] is (bbox == "gt")
        # pycocotools loads the results file as it is.
        COCO(str(ann)).loadRes(str(tmp_path / f"{bbox}-keypoints.json"))
        if bbox == "gt":
            # 12 annotated people with keypoints in coco-mini (2 have none): one crop each.
            assert record["options"]["stages_s"]["persons"] == 12


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("model", BOTTOM_UP)
def test_every_bottom_up_model_on_coco_mini(model, shared_data, tmp_path, capsys):
    """Each HigherHRNet card (512, 640, SWAHR) on the coco-mini images with flip, grouped into people."""
    from pycocotools.coco import COCO

    root = shared_data / "coco-mini"
    ann = root / "test_coco.json"
    _eval_in_process(["--model", model, "--ann", str(ann), "--image-dir", str(root), "--backend", "onnxruntime",
                      "--record", str(tmp_path / "bu.json")], capsys)
    record = json.loads((tmp_path / "bu.json").read_text())
    results = json.loads((tmp_path / "bu-keypoints.json").read_text())
    opts = record["options"]
    assert opts["paradigm"] == "bottom_up" and opts["flip"] is True and "bbox" not in opts
    assert opts["max_num_people"] == 30 and opts["resize_stride"] == 64
    assert set(record["metrics"]) >= {"AP", "AR"}
    assert results and {r["image_id"] for r in results} <= set(_image_sizes(ann))
    sizes = _image_sizes(ann)
    inside = total = 0
    for r in results:
        w, h = sizes[r["image_id"]]
        kp = np.asarray(r["keypoints"]).reshape(-1, 3)
        assert np.isfinite(kp).all()
        # Grouped joints are heatmap peaks (+- a quarter pixel) of the resized image, mapped back; the resized
        # image covers the original plus the padding up to a multiple of 64, so only found joints are checked.
        found = kp[:, 2] > 0
        inside += int(((kp[found, 0] >= -64) & (kp[found, 0] <= w + 64) & (kp[found, 1] >= -64)
                       & (kp[found, 1] <= h + 64)).sum())
        total += int(found.sum())
    assert total and inside == total
    COCO(str(ann)).loadRes(str(tmp_path / "bu-keypoints.json"))


@pytest.mark.shared_data
@pytest.mark.slow
def test_two_runtimes_same_results(shared_data, tmp_path):
    """Paddle dygraph and ONNX Runtime (with worker processes) give the same keypoints on the same crops."""
    root = shared_data / "coco-mini"
    ann = root / "test_coco.json"
    runs = {}
    for backend in ("paddle", "onnxruntime"):
        r = _kbench("eval", "--model", "tinypose_128x96", "--bbox", "detector", "--ann", str(ann), "--image-dir",
                    str(root), "--det-file", str(root / "test_coco_det_AP_H_56.json"), "--backend", backend,
                    "--weights", "random", "--workers", "1", "--record", str(tmp_path / f"{backend}.json"))
        assert r.returncode == 0, r.stderr
        runs[backend] = json.loads((tmp_path / f"{backend}-keypoints.json").read_text())
    a, b = runs["paddle"], runs["onnxruntime"]
    assert [r["image_id"] for r in a] == [r["image_id"] for r in b]
    ka = np.array([r["keypoints"] for r in a])
    kb = np.array([r["keypoints"] for r in b])
    # The runtimes agree to ~1e-5 relative on heatmaps (conformance); decoded positions then agree to far below a
    # pixel. DARK's refinement divides by the peak's Hessian, which is near singular where a random-weight heatmap
    # peak is flat, so a 1e-5 heatmap difference can move a refined position by ~0.1 px (seen: 0.116 px at 2 of
    # 306 coordinates): 0.25 px for positions; 1e-4 on scores leaves room for float32 reassociation in ORT.
    np.testing.assert_allclose(ka[:, 0::3], kb[:, 0::3], atol=0.25)
    np.testing.assert_allclose(ka[:, 1::3], kb[:, 1::3], atol=0.25)
    np.testing.assert_allclose(ka[:, 2::3], kb[:, 2::3], atol=1e-4)


def _mpii_gt_mat(entries: list, path: Path) -> None:
    """mpii-mini has no head boxes: build ``mpii_gt_val.mat`` from its joints.

    The head box is the square centred between the upper neck (joint 8) and the head top (joint 9) whose side is
    their distance, so PCKh's head size (0.6 x box diagonal) is 0.6 x sqrt(2) x the neck-to-top length, close to
    MPII's real boxes, which frame the head around that segment. Joints and boxes stay 1-based, as in MPII.
    """
    from scipy.io import savemat

    joints = np.array([e["joints"] for e in entries], dtype=np.float64)  # (N, 16, 2), 1-based
    vis = np.array([e["joints_vis"] for e in entries], dtype=np.float64)
    mid = (joints[:, 8] + joints[:, 9]) / 2
    side = np.linalg.norm(joints[:, 9] - joints[:, 8], axis=1)[:, None]
    heads = np.stack([mid - side / 2, mid + side / 2], axis=1)  # (N, 2, 2) [[x1, y1], [x2, y2]]
    names = np.array(["rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor", "neck", "head", "rwri", "relb",
                      "rsho", "lsho", "lelb", "lwri"], dtype=object).reshape(1, 16)
    savemat(path, {"dataset_joints": names, "jnt_missing": (1 - (vis > 0)).T.astype(np.float64),
                   "pos_gt_src": np.transpose(joints, (1, 2, 0)), "headboxes_src": np.transpose(heads, (1, 2, 0))})


@pytest.mark.shared_data
@pytest.mark.slow
def test_mpii_model_on_mpii_mini(shared_data, tmp_path):
    """The MPII model through the pipeline into PCKh, with a ground-truth .mat built from the joints."""
    root = shared_data / "mpii-mini"
    entries = json.loads((root / "test_mpii.json").read_text())
    mat = tmp_path / "mpii_gt_val.mat"
    _mpii_gt_mat(entries, mat)
    r = _kbench("eval", "--model", "hrnet_w32_256x256_mpii", "--ann", str(root / "test_mpii.json"), "--mpii-gt",
                str(mat), "--image-dir", str(root), "--backend", "paddle", "--weights", "random", "--workers", "1",
                "--record", str(tmp_path / "mpii.json"))
    assert r.returncode == 0, r.stderr
    assert "PCKh" in r.stdout and "RANDOM WEIGHTS" in r.stdout
    record = json.loads((tmp_path / "mpii.json").read_text())
    assert record["options"]["model"] == "hrnet_w32_256x256_mpii" and record["options"]["flip"] is True
    assert {"PCKh", "PCKh@0.1", "Head", "Wrist"} <= set(record["metrics"])
    preds = json.loads((tmp_path / "mpii-keypoints.json").read_text())
    assert len(preds) == len(entries)
    # The results file is one `kbench eval --predictions` reads back: the same PCKh from the file.
    again = _kbench("eval", "--predictions", str(tmp_path / "mpii-keypoints.json"), "--ann", str(mat), "--json",
                    "--no-record")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["PCKh"] == pytest.approx(record["metrics"]["PCKh"], abs=1e-9)


def test_sample_run_is_labelled(tmp_path):
    """The README's first command: a real model run on the generated sample, labelled synthetic + random."""
    r = _kbench("eval", "--model", "tinypose_128x96", "--sample", "6", "--weights", "random",
                "--record", str(tmp_path / "demo.json"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC DATA" in r.stdout and "RANDOM WEIGHTS" in r.stdout
    assert "published 58.1" in r.stdout
    record = json.loads((tmp_path / "demo.json").read_text())
    assert record["inputs"]["sample"]["synthetic"] is True
    assert record["options"]["data"].startswith("synthetic")


@pytest.mark.parametrize("argv, message", [
    (["--model", "no_such_model", "--sample"], "no_such_model"),
    (["--model", "tinypose_128x96"], "needs data"),
    (["--model", "tinypose_128x96", "--data-root", "/nonexistent"], "not a folder"),
    (["--model", "tinypose_128x96", "--sample", "--fp16"], "--device gpu"),
    (["--model", "higherhrnet_hrnet_w32_512", "--sample", "--bbox", "gt"], "--bbox applies"),
    (["--model", "tinypose_128x96", "--sample", "--bbox", "gt", "--det-file", "x.json"], "--bbox detector"),
    (["--model", "tinypose_128x96", "--sample", "--predictions", "x.json"], "one or the other"),
])
def test_bad_input_one_line_exit_2(argv, message, tmp_path):
    r = _kbench("eval", *argv, "--weights", "random", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not list(tmp_path.glob("kbench-runs/*")), "no record or results file after a usage error"


def test_missing_images_name_the_layout(tmp_path):
    """An annotation file whose images are absent: one line naming the expected layout, nothing written."""
    from kbench.datasets.sample_images import make_sample_dataset

    sample = make_sample_dataset(tmp_path / "s", num_images=2)
    r = _kbench("eval", "--model", "tinypose_128x96", "--ann", str(sample.ann_file), "--image-dir", str(tmp_path),
                "--weights", "random", cwd=tmp_path)
    assert r.returncode == 2
    assert "not found" in r.stderr and "val2017" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "kbench-runs").exists()


@pytest.mark.shared_data
def test_detections_downloaded_from_url(shared_data, tmp_path):
    """--det-file URL: fetched through the weights downloader (cache, sha256), recorded with its source."""
    import functools
    import hashlib
    import http.server
    import shutil
    import threading

    root = shared_data / "coco-mini"
    served = tmp_path / "www"
    served.mkdir()
    shutil.copy(root / "test_coco_det_AP_H_56.json", served / "bbox.json")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/bbox.json"
        r = _kbench("eval", "--model", "tinypose_128x96", "--bbox", "detector", "--det-file", url, "--ann",
                    str(root / "test_coco.json"), "--image-dir", str(root), "--limit", "2", "--weights", "random",
                    "--workers", "0", "--record", str(tmp_path / "rec.json"))
        # The same file pinned: a wrong hash is one line and no record; the right one is verified.
        args = ["eval", "--model", "tinypose_128x96", "--bbox", "detector", "--det-file", url, "--ann",
                str(root / "test_coco.json"), "--image-dir", str(root), "--limit", "2", "--weights", "random",
                "--workers", "0"]
        wrong = _kbench(*args, "--det-sha256", "0" * 64, "--record", str(tmp_path / "wrong.json"))
        sha = hashlib.sha256((served / "bbox.json").read_bytes()).hexdigest()
        pinned = _kbench(*args, "--det-sha256", sha, "--record", str(tmp_path / "pinned.json"))
    finally:
        server.shutdown()
    assert r.returncode == 0, r.stderr
    record = json.loads((tmp_path / "rec.json").read_text())
    det = record["inputs"]["detections"]
    assert det["source"] == url
    assert det["sha256"] == hashlib.sha256((served / "bbox.json").read_bytes()).hexdigest()
    assert det["verification"].startswith("sha256 recorded on first download")
    assert record["options"]["limit"] == 2 and record["options"]["detections"]["sha256"] == det["sha256"]
    assert wrong.returncode == 2 and "sha256 mismatch" in wrong.stderr and not (tmp_path / "wrong.json").exists()
    assert pinned.returncode == 0, pinned.stderr
    assert json.loads((tmp_path / "pinned.json").read_text())["inputs"]["detections"]["verification"] == \
        "verified against the pinned sha256"


def test_default_detections_offline_is_one_line(shared_data, tmp_path):
    """Without --det-file the zoo README's bbox.json is fetched; offline that is one line naming where to put it."""
    root = shared_data / "coco-mini"
    r = _kbench("eval", "--model", "tinypose_128x96", "--bbox", "detector", "--ann", str(root / "test_coco.json"),
                "--image-dir", str(root), "--weights", "random", "--no-record", cwd=tmp_path)
    if r.returncode == 0:
        pytest.skip("this machine can reach paddledet.bj.bcebos.com: the offline message cannot be checked")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "bbox.json" in r.stderr and "pass a local path" in r.stderr


def test_ctrl_c_stops_cleanly(tmp_path):
    """Ctrl-C during a run: exit 130 with one line, no record or results file, no worker process left behind."""
    import os
    import signal
    import time

    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        # SIGINT reset to its default in the child: a non-interactive shell would have it ignored.
        proc = subprocess.Popen([sys.executable, "-m", "kbench", "eval", "--model", "tinypose_256x192", "--sample",
                                 "60", "--weights", "random", "--backend", "paddle", "--batch", "2", "--workers", "1",
                                 "--record", str(tmp_path / "rec.json")], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=err, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 300
        while "img/s" not in err_path.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=120)
    assert rc == 130, err_path.read_text()[-500:]
    assert err_path.read_text().rstrip().endswith("kbench: interrupted")
    assert not (tmp_path / "rec.json").exists() and not (tmp_path / "rec-keypoints.json").exists()
    assert workers, "the run had no worker process to check"
    time.sleep(0.5)
    assert not [w for w in workers if os.path.exists(f"/proc/{w}")], "a worker outlived the run"
