"""Run records: layout, atomic writes."""

from __future__ import annotations

import json
import os

import pytest

from kbench._fileio import write_json_atomic
from kbench.bench.records import SCHEMA, make_record, write_record


def test_record_layout_and_default_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rec = make_record("eval", {"AP": 0.5}, inputs={"x": {"path": "a", "sha256": "0" * 64}}, options={"k": 1})
    path = write_record(rec)
    assert path.parent.name == "kbench-runs" and path.suffix == ".json"
    loaded = json.loads(path.read_text())
    assert loaded["schema"] == SCHEMA and loaded["metrics"] == {"AP": 0.5}
    assert loaded["created"].endswith("+00:00")


def test_environment_names_versions_without_importing_frameworks():
    import subprocess
    import sys

    code = ("import sys, json; from kbench.bench.records import environment; env = environment(); "
            "print(json.dumps([env['libraries'].get('numpy'), env['python'], env['cpu_count'], "
            "[m for m in ('paddle', 'torch', 'onnxruntime') if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    numpy_version, python, cpus, frameworks = json.loads(out.stdout)
    assert numpy_version and python and cpus
    assert frameworks == []


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    assert not target.exists() and os.listdir(tmp_path) == []


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}


def test_record_environment_is_what_importlib_metadata_says():
    """The record's library versions come from a direct scan of sys.path now; they must be importlib.metadata's."""
    from importlib import metadata

    from kbench.bench.records import _LIBRARIES, environment

    expected = {}
    for name in _LIBRARIES:
        try:
            expected[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    assert environment()["libraries"] == expected


def test_hash_from_the_bytes_read_equals_the_files(tmp_path):
    """While a command runs, read_json hashes large files from the bytes it read; sha256_file must give the file's
    own digest, and a file changed after the read must be hashed again, never answered from the old bytes."""
    import hashlib

    from kbench._fileio import _DIGEST_MIN_BYTES, digest_reads, read_json, sha256_file

    path = tmp_path / "big.json"
    path.write_text(json.dumps([{"k": i} for i in range(_DIGEST_MIN_BYTES // 8)]))
    assert path.stat().st_size >= _DIGEST_MIN_BYTES
    digest_reads(True)
    try:
        read_json(path)
        assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
        path.write_text(json.dumps([1, 2, 3]) + " " * _DIGEST_MIN_BYTES)  # another content, same name
        assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    finally:
        digest_reads(False)
