"""``kbench.results.store``: copying records in, idempotency, several machines, the SQLite index kept fresh."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from results_factory import latency, record, write

from kbench.errors import InputError
from kbench.results.frame import RecordsSkippedWarning, machine_id, record_id
from kbench.results.store import INDEX_NAME, ResultStore


@pytest.fixture
def two_machines(tmp_path):
    """Two CI machines' record folders: the same configurations measured on each, plus one record in common."""
    a, b = tmp_path / "machine-a", tmp_path / "machine-b"
    shared = record(model="tinypose_128x96", hostname="ci-a")
    write(a, "eval.json", shared)
    write(a, "lat.json", latency(10.0, hostname="ci-a"))
    write(b, "eval.json", shared)                                   # the same record, copied around
    write(b, "lat.json", latency(14.0, hostname="ci-b", gpu="NVIDIA H200"))
    return a, b


def test_add_is_idempotent_and_keeps_machines_apart(tmp_path, two_machines):
    a, b = two_machines
    store = ResultStore(tmp_path / "store")
    first = store.add([a, b])
    assert len(first.added) == 3 and first.present == 0               # b/eval.json is a duplicate of a/eval.json
    again = store.add([a, b, a / "lat.json"])
    assert again.added == [] and again.present == 3
    assert len(store) == 3 and (tmp_path / "store" / INDEX_NAME).is_file()
    # one folder per machine, named by the machine id
    folders = sorted(p.name for p in (tmp_path / "store").iterdir() if p.is_dir())
    assert len(folders) == 2 and all(f.startswith(("ci-a-", "ci-b-")) for f in folders)
    df = store.frame()
    lat = df[df.kind == "latency"].sort_values("m.median_ms")
    assert list(lat["hostname"]) == ["ci-a", "ci-b"] and list(lat["m.median_ms"]) == [10.0, 14.0]
    assert lat["machine"].nunique() == 2 and list(lat["gpu"].fillna("-")) == ["-", "NVIDIA H200"]
    assert set(df["record_id"]) == {record_id(json.loads(p.read_text())) for p in (a / "eval.json", a / "lat.json",
                                                                                    b / "lat.json")}
    # copies are byte-for-byte: the record id of the stored file equals the source's
    stored = next((tmp_path / "store").rglob("lat.json"))
    assert record_id(json.loads(stored.read_text())) in set(df["record_id"])


def test_same_file_name_from_two_runs_is_kept_twice(tmp_path):
    src1, src2 = tmp_path / "run1", tmp_path / "run2"
    write(src1, "r.json", latency(10.0))
    write(src2, "r.json", latency(11.0))
    store = ResultStore(tmp_path / "store")
    store.add([src1, src2])
    names = sorted(p.name for p in (tmp_path / "store").rglob("*.json"))
    assert len(names) == 2 and "r.json" in names and any(n.startswith("r-") for n in names)


def test_index_follows_files_added_changed_and_deleted_by_hand(tmp_path):
    root = tmp_path / "kbench-runs"
    write(root, "one.json", latency(10.0))
    store = ResultStore(root)
    assert len(store) == 1
    write(root / "sub", "two.json", latency(12.0, batch=4))            # written by hand, not via add()
    assert sorted(store.frame()["m.median_ms"]) == [10.0, 12.0]
    rec = json.loads((root / "one.json").read_text())
    rec["metrics"]["median_ms"] = 9.0
    (root / "one.json").write_text(json.dumps(rec, indent=4))          # edited: size changes
    os.utime(root / "one.json", ns=(1, 1))                             # and mtime, whatever the clock's grain
    assert sorted(store.frame()["m.median_ms"]) == [9.0, 12.0]
    (root / "sub" / "two.json").unlink()
    assert list(store.frame()["m.median_ms"]) == [9.0] and len(store) == 1


def test_reindex_and_damaged_index(tmp_path):
    root = tmp_path / "runs"
    write(root, "a.json", latency(10.0))
    write(root, "b.json", record(model="m"))
    store = ResultStore(root)
    assert store.reindex() == 2
    (root / INDEX_NAME).write_bytes(b"this is not an sqlite database" * 100)
    assert len(store) == 2                                               # rebuilt from the files
    with sqlite3.connect(root / INDEX_NAME) as conn:
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 2


def test_other_json_files_are_ignored_and_unreadable_records_warned(tmp_path, recwarn):
    root = tmp_path / "runs"
    write(root, "a.json", latency(10.0))
    (root / "a-keypoints.json").write_text('[{"image_id": 1, "keypoints": [], "score": 1}]')  # eval --model results
    assert len(ResultStore(root).records()) == 1 and not recwarn.list
    future = latency(11.0)
    future["schema"] = "kbench.record/2"
    write(root, "future.json", future)
    with pytest.warns(RecordsSkippedWarning, match="skipped 1 file.*future.json: schema kbench.record/2"):
        assert len(ResultStore(root).records()) == 1


def test_add_refuses_malformed_records_before_writing(tmp_path):
    src = tmp_path / "src"
    write(src, "good.json", latency(10.0))
    (src / "bad.json").write_text('{"schema": "kbench.record/1", "kind": "eval"')
    store = ResultStore(tmp_path / "store")
    with pytest.raises(InputError, match="bad.json"):
        store.add(src)
    assert not (tmp_path / "store").exists()


def test_frame_filters_and_kind(tmp_path, two_machines):
    store = ResultStore(tmp_path / "store")
    store.add(two_machines)
    assert list(store.frame(kind="eval")["kind"]) == ["eval"]
    ci_b = machine_id({"hostname": "ci-b", "cpu": record()["env"]["cpu"], "gpu": "NVIDIA H200"})[0]
    assert list(store.frame([f"machine={ci_b}"])["m.median_ms"]) == [14.0]
    assert list(store.frame(["median_ms>12"])["hostname"]) == ["ci-b"]
    assert len(store.frame(["model=tinypose_*", "kind=latency"])) == 2


def test_empty_or_missing_root(tmp_path):
    store = ResultStore(tmp_path / "nothing")
    assert len(store) == 0 and list(store.frame().columns)[:3] == ["record_id", "path", "kind"]
    assert not (tmp_path / "nothing").exists()                           # reading creates nothing
