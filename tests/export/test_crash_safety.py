"""Artifacts are built in a temporary sibling and renamed into place with a manifest: a build that fails or is
killed (SIGKILL, at seeded random moments) leaves nothing a later run trusts, and the rerun succeeds."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from kbench.errors import InputError
from kbench.export.cache import manifest_ok, staged_dir


def test_a_failed_build_leaves_neither_the_folder_nor_its_partial(tmp_path):
    final = tmp_path / "artifact"
    with pytest.raises(RuntimeError):
        with staged_dir(final) as work:
            (work / "model.bin").write_bytes(b"half")
            raise RuntimeError("the exporter crashed")
    assert not final.exists() and not list(tmp_path.iterdir())


def test_a_finished_build_replaces_the_old_folder(tmp_path):
    final = tmp_path / "artifact"
    final.mkdir()
    (final / "old.bin").write_bytes(b"old")
    with staged_dir(final) as work:
        (work / "new.bin").write_bytes(b"new")
    assert sorted(p.name for p in final.iterdir()) == ["new.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]


def test_a_partial_of_a_dead_process_is_cleaned_up(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".artifact.{dead.pid}.abc123.partial"
    stale.mkdir()
    mine = tmp_path / f".artifact.{os.getpid()}.zzz.partial"
    mine.mkdir()  # a build of this (living) process: left alone
    with staged_dir(tmp_path / "artifact"):
        pass
    assert not stale.exists() and mine.exists()


def test_manifest_ok_checks_every_listed_file_and_its_size(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"12345")
    (tmp_path / "manifest.json").write_text(json.dumps({"files": ["model.bin"], "sizes": {"model.bin": 5}}))
    assert manifest_ok(tmp_path)
    (tmp_path / "model.bin").write_bytes(b"123")  # truncated
    assert not manifest_ok(tmp_path)
    (tmp_path / "model.bin").unlink()
    assert not manifest_ok(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    assert not manifest_ok(tmp_path)


def _deploy_tar(path, payload: bytes):
    import io

    with tarfile.open(path, "w") as tar:
        for name, data in (("pkg/infer_cfg.yml", b"arch: HRNet\n"), ("pkg/model.pdiparams", payload),
                           ("pkg/model.pdmodel", b"graph")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_deploy_packages_extract_into_folders_keyed_by_content(tmp_path, monkeypatch):
    from kbench.adapters.paddle_inference import open_deploy_package

    monkeypatch.setenv("KBENCH_CACHE", str(tmp_path / "cache"))
    a, b = tmp_path / "v1" / "pkg.tar", tmp_path / "v2" / "pkg.tar"
    a.parent.mkdir()
    b.parent.mkdir()
    _deploy_tar(a, b"weights one")
    _deploy_tar(b, b"weights two, longer")
    da, db = open_deploy_package(a), open_deploy_package(b)
    assert da != db  # same file name, other content: never mixed
    assert (da / "model.pdiparams").read_bytes() == b"weights one"
    assert (db / "model.pdiparams").read_bytes() == b"weights two, longer"
    assert manifest_ok(da.parent)
    (da / "model.pdiparams").write_bytes(b"tampered!!!!!!")  # changed size: extracted again
    assert (open_deploy_package(a) / "model.pdiparams").read_bytes() == b"weights one"


def test_a_malicious_package_leaves_nothing(tmp_path, monkeypatch):
    import io

    from kbench.adapters.paddle_inference import open_deploy_package

    monkeypatch.setenv("KBENCH_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(InputError, match="outside the package"):
        open_deploy_package(bad)
    deploy = tmp_path / "cache" / "artifacts" / "deploy"
    assert not deploy.exists() or not list(deploy.iterdir())


@pytest.mark.slow
def test_a_killed_export_is_never_taken_for_an_artifact_and_the_rerun_succeeds(tmp_path):
    out = tmp_path / "exported"
    argv = [sys.executable, "-m", "kbench", "export", "--model", "tinypose_128x96", "--to", "paddle-inference",
            "--weights", "random", "--out", str(out)]
    rng = random.Random(7)
    t0 = time.monotonic()
    full = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    duration = time.monotonic() - t0
    assert full.returncode == 0, full.stderr
    assert manifest_ok(out)
    import shutil

    shutil.rmtree(out)
    for _ in range(3):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.3, 0.9) * duration)
        os.killpg(proc.pid, signal.SIGKILL)  # the command and its export child, as an OOM killer or a CI timeout
        proc.wait()
        # Whatever moment it died at: no folder, or a whole one with a manifest that checks out.
        assert not out.exists() or manifest_ok(out)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert manifest_ok(out)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert not leftovers, leftovers  # partials of the killed runs were cleaned up by the rerun
