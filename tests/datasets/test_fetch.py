"""``kbench data fetch`` / ``data list`` end to end against a local HTTP server (``KBENCH_MIRROR``) serving
miniature archives built here: published checksums matched and mismatched, a resume after a cut connection,
malicious archives refused (``../``, absolute paths, symbolic and hard links), truncated archives, a full disk,
Ctrl-C during extraction; and ``eval --model`` on the fetched set. No marker: nothing here reads the real data.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from local_server import LocalServer

from kbench.cli import main
from kbench.datasets import fetch as fetch_mod
from kbench.datasets import registry
from kbench.datasets.fetch import MANIFEST, dataset_status, fetch_dataset
from kbench.errors import InputError
from kbench.weights import download

TIMEOUT = 5.0
COCO_ANN = "/annotations/annotations_trainval2017.zip"
COCO_IMAGES = "/zips/val2017.zip"
MPII_ANN = "/mmpose/datasets/mpii_annotations.tar"
MPII_IMAGES = "/andriluka14cvpr/mpii_human_pose_v1.tar.gz"
BBOX = "/data/bbox.json"


def _zip(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():  # a symbolic link as Info-ZIP stores one
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w", special: list[tarfile.TarInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in special:
            tf.addfile(info)
    return buf.getvalue()


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def coco(tmp_path):
    """Miniature COCO archives of a generated 2-image sample, laid out as COCO's own zips are."""
    from kbench.datasets.sample_images import make_sample_dataset

    sample = make_sample_dataset(tmp_path / "sample", num_images=2)
    images = {f"val2017/{p.name}": p.read_bytes() for p in sorted(sample.image_dir.glob("*.jpg"))}
    ann = {"annotations/person_keypoints_val2017.json": sample.ann_file.read_bytes(),
           "annotations/instances_val2017.json": b'{"not": "kept"}'}
    return {COCO_ANN: _zip(ann), COCO_IMAGES: _zip({"val2017/": b"", **images}),
            "images": images, "ann": ann["annotations/person_keypoints_val2017.json"], "sample": sample}


@pytest.fixture
def server(monkeypatch):
    srv = LocalServer()
    monkeypatch.setenv("KBENCH_MIRROR", srv.base)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "kbench-data"
    monkeypatch.setenv("KBENCH_DATA", str(root))
    return root


def _pin(monkeypatch, name: str, **per_path):
    """Replace the published checksums of a registered data set (the miniatures are not COCO's files); keys are the
    sources' URL paths."""
    ds = registry.DATASETS[name]
    sources = tuple(dataclasses.replace(s, **per_path.get(urlsplit(s.url).path, {})) for s in ds.sources)
    monkeypatch.setitem(registry.DATASETS, name, dataclasses.replace(ds, sources=sources))


def _serve_coco(server, monkeypatch, coco, pin: bool = True):
    server.files.update({COCO_ANN: coco[COCO_ANN], COCO_IMAGES: coco[COCO_IMAGES]})
    if pin:
        _pin(monkeypatch, "coco-val2017", **{COCO_ANN: {"md5": _md5(coco[COCO_ANN])},
                                             COCO_IMAGES: {"md5": _md5(coco[COCO_IMAGES])}})


def _fetch(name: str):
    return fetch_dataset(name, progress=False, timeout=TIMEOUT)


def _visible(root: Path) -> list[str]:
    """Everything under the data folder except the downloads (archives, .part, .sha256, kept-aside files)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".downloads" not in p.relative_to(root).parts)


def _one_line_exit_2(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("kbench: error: "), err
    assert "Traceback" not in err
    return err


# ------------------------------------------------------------------------------------------------ COCO


def test_coco_fetched_verified_and_laid_out_as_eval_expects(server, data, coco, monkeypatch, capsys):
    _serve_coco(server, monkeypatch, coco)
    assert main(["data", "fetch", "coco-val2017", "--no-progress"]) == 0
    out = capsys.readouterr().out
    root = data / "coco-val2017"
    assert f"coco-val2017: installed at {root} (3 files" in out
    assert f"annotations_trainval2017.zip: md5 {_md5(coco[COCO_ANN])} matched (published, PaddleDetection" in out
    assert (root / "annotations" / "person_keypoints_val2017.json").read_bytes() == coco["ann"]
    assert not (root / "annotations" / "instances_val2017.json").exists()  # only what eval reads is kept
    assert {f"val2017/{p.name}": p.read_bytes() for p in (root / "val2017").iterdir()} == coco["images"]
    manifest = json.loads((root / MANIFEST).read_text())
    assert [s["verification"] for s in manifest["sources"]] == [download.VERIFIED_MD5] * 2
    assert manifest["sources"][1]["url"] == "http://images.cocodataset.org/zips/val2017.zip"
    assert manifest["sources"][1]["fetched_from"] == server.url(COCO_IMAGES)
    # the archives are gone once installed; their recorded sha256 stays, no .part, no temporary folder
    downloads = sorted(p.name for p in (data / ".downloads").iterdir() if p.name != "coco-val2017.lock")
    assert len(downloads) == 2 and all(n.endswith(".zip.sha256") for n in downloads)
    assert _visible(data) == ["coco-val2017", "coco-val2017/.kbench-dataset.json", "coco-val2017/annotations",
                              "coco-val2017/annotations/person_keypoints_val2017.json", "coco-val2017/val2017",
                              *sorted(f"coco-val2017/{n}" for n in coco["images"])]

    n = len(server.requests)
    again = _fetch("coco-val2017")
    assert again.already and len(server.requests) == n  # installed and intact: no network
    assert main(["data", "list"]) == 0
    listed = capsys.readouterr().out
    row = next(line for line in listed.splitlines() if line.startswith("coco-val2017 "))
    assert "present" in row and "md5" in row and "matched (published" in row
    assert str(root) in listed
    assert "coco-val2017-det   absent" in listed and "`kbench data fetch mpii-val`" in listed


def test_the_real_md5s_refuse_a_file_that_is_not_cocos(server, data, coco, monkeypatch, capsys):
    """The registry's own published md5s: the miniature served for val2017.zip is not COCO's file."""
    _serve_coco(server, monkeypatch, coco, pin=False)
    err = _one_line_exit_2(["data", "fetch", "coco-val2017", "--no-progress"], capsys)
    assert "md5 mismatch: expected the published f4bbac642086de4f52a3fdda2de5fa2c" in err
    assert f"got {_md5(coco[COCO_ANN])}" in err and "kept aside as" in err and "not used" in err
    aside = [p for p in (data / ".downloads").iterdir() if p.name.endswith(".mismatch")]
    assert len(aside) == 1 and aside[0].read_bytes() == coco[COCO_ANN]
    assert _visible(data) == []  # nothing installed, no temporary folder
    status = dataset_status("coco-val2017")
    assert status["state"] == "absent" and status["kept_aside"] == [str(aside[0])]
    assert main(["data", "list"]) == 0
    assert f"kept aside, not used: {aside[0]}" in capsys.readouterr().out


def test_resume_after_a_cut_connection(server, data, coco, monkeypatch, capsys):
    _serve_coco(server, monkeypatch, coco)
    cut = len(coco[COCO_ANN]) // 2
    server.drop_after = cut
    err = _one_line_exit_2(["data", "fetch", "coco-val2017", "--no-progress"], capsys)
    assert "the connection closed early" in err and "run again to resume" in err
    assert dataset_status("coco-val2017")["state"] == "partial"
    assert _visible(data) == []
    assert main(["data", "list"]) == 0
    assert "resumes it" in capsys.readouterr().out

    report = _fetch("coco-val2017")
    assert not report.already and (report.root / "val2017").is_dir()
    resumed = [r for r in server.requests if r["path"] == COCO_ANN][-1]
    assert resumed["range"] == f"bytes={cut}-" and resumed["sent"] == len(coco[COCO_ANN]) - cut


def test_a_changed_tree_is_installed_again_and_a_foreign_folder_is_left_alone(server, data, coco, monkeypatch):
    _serve_coco(server, monkeypatch, coco)
    root = _fetch("coco-val2017").root
    next((root / "val2017").iterdir()).unlink()
    assert dataset_status("coco-val2017")["state"] == "changed"
    again = _fetch("coco-val2017")
    assert not again.already and dataset_status("coco-val2017")["state"] == "present"
    assert len(list((root / "val2017").iterdir())) == 2
    assert not list(data.glob(".coco-val2017.*-*"))  # neither the new tree's nor the old one's folder is left

    (root / MANIFEST).unlink()  # a folder kbench did not install: never replaced
    with pytest.raises(InputError, match="exists but was not installed by `kbench data fetch`"):
        _fetch("coco-val2017")
    assert (root / "annotations" / "person_keypoints_val2017.json").is_file()


def test_too_little_disk_space_is_one_line_before_downloading(server, data, coco, monkeypatch, capsys):
    _serve_coco(server, monkeypatch, coco)
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12 - 1000, 1000))
    err = _one_line_exit_2(["data", "fetch", "coco-val2017"], capsys)
    assert "needs about 1019.0 MiB" in err and "1000 B free" in err
    assert server.requests == []


def test_a_full_disk_while_extracting_installs_nothing_and_keeps_the_downloads(server, data, coco, monkeypatch,
                                                                                capsys):
    _serve_coco(server, monkeypatch, coco)
    real_open = open

    class Full(io.RawIOBase):
        def __init__(self, path):
            self.fh = real_open(path, "xb")

        def writable(self):
            return True

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self.fh.close()
            super().close()

    monkeypatch.setattr(fetch_mod, "open", lambda path, mode="r", *a, **k: Full(path) if mode == "xb" else
                        real_open(path, mode, *a, **k), raising=False)
    err = _one_line_exit_2(["data", "fetch", "coco-val2017", "--no-progress"], capsys)
    assert "cannot write" in err and "no space left on device" in err and "nothing was installed" in err
    assert _visible(data) == []
    assert dataset_status("coco-val2017")["state"] == "downloaded"

    monkeypatch.setattr(fetch_mod, "open", real_open, raising=False)
    n = len(server.requests)
    assert (_fetch("coco-val2017").root / "val2017").is_dir()
    assert len(server.requests) == n  # installed from the kept downloads


def test_a_full_disk_while_downloading_keeps_a_resumable_part(server, data, coco, monkeypatch, capsys):
    import contextlib

    _serve_coco(server, monkeypatch, coco)
    real, limit = download._locked_part, 100 * 1024  # per part file: the small annotations zip fits, the images not
    assert len(coco[COCO_ANN]) < limit < len(coco[COCO_IMAGES])

    class FullAfter:
        """The part file, on a disk that fills up after ``limit`` bytes."""

        def __init__(self, fh):
            self.fh, self.written = fh, 0

        def write(self, block):
            if self.written + len(block) > limit:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(block)
            return self.fh.write(block)

        def __getattr__(self, name):
            return getattr(self.fh, name)

    @contextlib.contextmanager
    def full(part):
        with real(part) as fh:
            yield FullAfter(fh)

    monkeypatch.setattr(download, "_locked_part", full)
    err = _one_line_exit_2(["data", "fetch", "coco-val2017", "--no-progress"], capsys)
    assert "no space left on device" in err.lower() and "partial file is kept" in err
    assert _visible(data) == []
    parts = [p for p in (data / ".downloads").iterdir() if p.name.endswith(".part")]
    assert len(parts) == 1 and parts[0].name.startswith("val2017-")
    kept = parts[0].stat().st_size
    assert 0 < kept <= limit

    monkeypatch.setattr(download, "_locked_part", real)
    assert _fetch("coco-val2017").files == 3
    assert [r for r in server.requests if r["path"] == COCO_IMAGES][-1]["range"] == f"bytes={kept}-"


def test_ctrl_c_while_extracting_leaves_no_tree(server, data, coco, monkeypatch):
    _serve_coco(server, monkeypatch, coco)
    real_copy, calls = fetch_mod._copy, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(fetch_mod, "_copy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _fetch("coco-val2017")
    assert _visible(data) == []
    monkeypatch.setattr(fetch_mod, "_copy", real_copy)
    assert _fetch("coco-val2017").files == 3


def test_a_killed_installers_leftovers_are_cleaned_and_parallel_fetches_install_once(server, data, coco,
                                                                                      monkeypatch):
    import threading

    _serve_coco(server, monkeypatch, coco)
    stale = data / ".coco-val2017.tmp-killed"  # what a SIGKILLed installer leaves: never the data set's folder
    (stale / "val2017").mkdir(parents=True)
    (stale / "val2017" / "half.jpg").write_bytes(b"half")
    assert dataset_status("coco-val2017")["state"] == "absent"
    server.delay = 0.01
    reports, errors = [], []

    def worker():
        try:
            reports.append(fetch_dataset("coco-val2017", progress=True, timeout=TIMEOUT))  # bars off: not a tty
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(r.already for r in reports) == [False, True]  # one installed it, the other found it installed
    assert sorted(r["path"] for r in server.requests) == sorted([COCO_ANN, COCO_IMAGES])
    assert not stale.exists() and dataset_status("coco-val2017")["state"] == "present"


# ------------------------------------------------------------------------------------- malicious archives


def _serve_mpii(server, ann_tar: bytes, images: bytes):
    server.files.update({MPII_ANN: ann_tar, MPII_IMAGES: images})


def _mpii_ann(names=("a.jpg", "b.jpg")) -> bytes:
    entries = [{"image": n, "center": [10, 10], "scale": 1.0, "joints": [[0, 0]] * 16, "joints_vis": [1] * 16}
               for n in names]
    return _tar({"mpii_annotations/mpii_val.json": json.dumps(entries).encode(),
                 "mpii_annotations/mpii_gt_val.mat": b"MATLAB 5.0 MAT-file (miniature)",
                 "mpii_annotations/mpii_train.json": b"[]"})


@pytest.mark.parametrize("kind, member", [
    ("tar", "../evil.jpg"),
    ("tar", "images/../../evil.jpg"),
    ("tar", "/tmp/evil.jpg"),
    ("tar", "symlink"),
    ("tar", "hardlink"),
    ("tar", "fifo"),
    ("zip", "../evil.jpg"),
    ("zip", "/evil.jpg"),
    ("zip", "symlink"),
])
def test_a_malicious_archive_is_refused_whole(server, data, coco, monkeypatch, tmp_path, capsys, kind, member):
    outside = tmp_path / "evil.jpg"
    if kind == "tar":
        files = {"images/a.jpg": b"A", "images/b.jpg": b"B"}
        special = []
        if member == "symlink":
            special = [_link("images/c.jpg", str(outside), tarfile.SYMTYPE)]
        elif member == "hardlink":
            special = [_link("images/c.jpg", "/etc/passwd", tarfile.LNKTYPE)]
        elif member == "fifo":
            special = [_link("images/c.jpg", "", tarfile.FIFOTYPE)]
        else:
            files[member.replace("/tmp/", str(tmp_path) + "/")] = b"EVIL"
        _serve_mpii(server, _mpii_ann(), _tar(files, "w:gz", special))
        name = "mpii-val"
    else:
        images = dict(coco["images"])
        links = {}
        if member == "symlink":
            links["val2017/link.jpg"] = str(outside)
        else:
            images[member] = b"EVIL"
        server.files.update({COCO_ANN: coco[COCO_ANN], COCO_IMAGES: (bad := _zip(images, links))})
        _pin(monkeypatch, "coco-val2017", **{COCO_ANN: {"md5": _md5(coco[COCO_ANN])}, COCO_IMAGES: {"md5": _md5(bad)}})
        name = "coco-val2017"
    err = _one_line_exit_2(["data", "fetch", name, "--no-progress"], capsys)
    assert " refused: member " in err and "nothing was installed" in err and "kept aside as" in err
    expected = {"symlink": "is a symbolic link", "hardlink": "is a hard link", "fifo": "is a device, FIFO"}
    assert expected.get(member, "absolute path" if member.startswith("/") else "climbs out of the folder") in err
    assert not outside.exists() and not (tmp_path / "tmp").exists()
    assert _visible(data) == []
    assert any(p.name.endswith(".refused") for p in (data / ".downloads").iterdir())


def test_mpii_keeps_only_the_val_images_and_records_the_first_sha256(server, data, capsys):
    images = _tar({"images/a.jpg": b"A", "images/b.jpg": b"B", "images/c.jpg": b"C"}, "w:gz")
    _serve_mpii(server, _mpii_ann(), images)
    assert main(["data", "fetch", "mpii-val", "--no-progress"]) == 0
    out = capsys.readouterr().out
    root = data / "mpii-val"
    assert sorted(p.name for p in (root / "images").iterdir()) == ["a.jpg", "b.jpg"]  # c.jpg is not in val
    assert sorted(p.name for p in (root / "annotations").iterdir()) == ["mpii_gt_val.mat", "mpii_val.json"]
    sha = hashlib.sha256(images).hexdigest()
    assert f"mpii_human_pose_v1.tar.gz: sha256 {sha} recorded at first download (no checksum is published)" in out

    import shutil

    shutil.rmtree(root)  # fetched again: the new download must match the recorded sha256, and says so
    assert main(["data", "fetch", "mpii-val", "--no-progress"]) == 0
    assert f"sha256 {sha} matched the one recorded at its first download" in capsys.readouterr().out
    shutil.rmtree(root)
    server.files[MPII_IMAGES] = _tar({"images/a.jpg": b"A2", "images/b.jpg": b"B2"}, "w:gz")
    err = _one_line_exit_2(["data", "fetch", "mpii-val", "--no-progress"], capsys)
    assert "sha256 mismatch" in err and "file changed on the server" in err
    assert _visible(data) == []


def test_mpii_missing_val_images_or_members_are_refused(server, data, capsys):
    _serve_mpii(server, _mpii_ann(("a.jpg", "zzz.jpg")), _tar({"images/a.jpg": b"A"}, "w:gz"))
    err = _one_line_exit_2(["data", "fetch", "mpii-val", "--no-progress"], capsys)
    assert "1 of the 2 files the annotations list are not in mpii_human_pose_v1.tar.gz (first: images/zzz.jpg)" in err
    assert _visible(data) == []
    server.files[MPII_ANN] = _tar({"readme.txt": b"not the annotations"})
    import shutil

    shutil.rmtree(data / ".downloads")  # the annotations downloaded above are kept (and would be used): start over
    err = _one_line_exit_2(["data", "fetch", "mpii-val", "--no-progress"], capsys)
    assert "has no member matching '*mpii_val.json'" in err


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_truncated_archive_is_one_line_and_kept_aside(server, data, coco, monkeypatch, capsys, kind):
    if kind == "zip":  # a publisher's truncated file: its md5 matches, the archive does not open
        short = coco[COCO_IMAGES][: len(coco[COCO_IMAGES]) // 2]
        server.files.update({COCO_ANN: coco[COCO_ANN], COCO_IMAGES: short})
        _pin(monkeypatch, "coco-val2017", **{COCO_ANN: {"md5": _md5(coco[COCO_ANN])},
                                             COCO_IMAGES: {"md5": _md5(short)}})
        name = "coco-val2017"
    else:
        full = _tar({f"images/{c}.jpg": bytes(range(256)) * 64 for c in "ab"}, "w:gz")
        _serve_mpii(server, _mpii_ann(), full[: len(full) * 2 // 3])
        name = "mpii-val"
    err = _one_line_exit_2(["data", "fetch", name, "--no-progress"], capsys)
    assert "is truncated or damaged" in err and "nothing was installed" in err and "kept aside as" in err
    assert _visible(data) == []
    aside = [p for p in (data / ".downloads").iterdir() if p.name.endswith(".damaged")]
    assert len(aside) == 1 and not Path(str(aside[0]).removesuffix(".damaged") + ".sha256").exists()


# ------------------------------------------------------------------------------------------ detector boxes


def test_detector_boxes_fetched_and_used_by_default(server, data, coco, capsys):
    server.files[BBOX] = det = coco["sample"].det_file.read_bytes()
    assert main(["data", "fetch", "coco-val2017-det", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"bbox.json: sha256 {hashlib.sha256(det).hexdigest()} recorded at first download" in out
    from kbench.runners.data import DataFiles, detections_path

    path, source = detections_path(None, DataFiles(Path("a.json"), Path(".")))
    assert Path(path) == data / "coco-val2017-det" / "bbox.json" and Path(path).read_bytes() == det
    assert source == "https://paddledet.bj.bcebos.com/data/bbox.json"
    assert download.verification(path) == download.RECORDED


def test_detector_boxes_are_fetched_on_first_use(server, data, coco):
    server.files[BBOX] = coco["sample"].det_file.read_bytes()
    from kbench.runners.data import DataFiles, detections_path

    path, _ = detections_path(None, DataFiles(Path("a.json"), Path(".")))
    assert Path(path).parent == data / "coco-val2017-det" and len(server.requests) == 1


# ------------------------------------------------------------------------------------------- eval --model


def test_eval_without_data_names_the_fetch_command_and_its_size(data, capsys):
    err = _one_line_exit_2(["eval", "--model", "tinypose_128x96", "--weights", "random", "--no-record"], capsys)
    assert "eval --model needs data: `kbench data fetch coco-val2017` gets it (COCO 2017 val, about 1019.0 MiB" in err
    assert "or add --download" in err
    err = _one_line_exit_2(["eval", "--model", "hrnet_w32_256x256_mpii", "--weights", "random", "--no-record"], capsys)
    assert "`kbench data fetch mpii-val` gets it (MPII Human Pose val, about 12.0 GiB" in err
    err = _one_line_exit_2(["eval", "--model", "tinypose_128x96", "--sample", "--download"], capsys)
    assert "--download fetches the model's data set" in err


def test_eval_downloads_then_uses_the_fetched_set(server, data, coco, monkeypatch, tmp_path, capsys):
    _serve_coco(server, monkeypatch, coco)
    rec = tmp_path / "rec.json"
    argv = ["eval", "--model", "tinypose_128x96", "--weights", "random", "--backend", "paddle", "--workers", "0",
            "--no-progress", "--record", str(rec)]
    assert main([*argv, "--download"]) == 0, capsys.readouterr().err
    record = json.loads(rec.read_text())
    assert record["options"]["spec"]["data_root"] == str(data / "coco-val2017")
    assert record["inputs"]["ann"]["path"] == str(data / "coco-val2017" / "annotations" /
                                                  "person_keypoints_val2017.json")
    assert record["inputs"]["ann"]["sha256"] == hashlib.sha256(coco["ann"]).hexdigest()
    assert "2 images, 3 person crops" in capsys.readouterr().out
    n = len(server.requests)
    assert main(argv) == 0  # present now: used without --data-root or --download, nothing downloaded
    assert len(server.requests) == n
