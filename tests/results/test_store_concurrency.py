"""The store under concurrent use: readers are not blocked by a writer holding the index, a busy index is never
taken for a damaged one, a damaged record is one warning and the rest stays readable, the same record added by
two processes at once is stored once, and a stress run (8 processes adding 200 records each while 4 query in a
loop) ends with every record present exactly once and no command failed.

Processes are real (``subprocess``): the locks are SQLite's, between processes. The stress figures (records/s
written, query latency median and p99 under load) are printed, not asserted: they depend on the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from results_factory import latency, write

from kbench.cli import main
from kbench.results.store import INDEX_NAME, ResultStore

HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    open(sys.argv[2], "w").write("locked")
    time.sleep(float(sys.argv[3]))
    conn.execute("COMMIT")
    open(sys.argv[2], "a").write(f"\\n{time.time()}")
""")


def _hold_lock(tmp_path, store_root, seconds):
    marker = tmp_path / "locked.txt"
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(store_root / INDEX_NAME), str(marker), str(seconds)])
    while not marker.exists():
        time.sleep(0.02)
    return proc, marker


@pytest.fixture()
def store_root(tmp_path):
    root = tmp_path / "runs"
    for i in range(5):
        write(root, f"r{i}.json", latency(10.0 + i))
    assert len(ResultStore(root)) == 5  # the index exists
    return root


def test_a_reader_is_not_blocked_by_a_writer_holding_the_index(tmp_path, store_root, capsys):
    proc, marker = _hold_lock(tmp_path, store_root, 3.0)
    assert main(["results", "--store", str(store_root), "--format", "json"]) == 0
    done = time.time()
    proc.wait(timeout=30)
    released = float(marker.read_text().splitlines()[1])
    assert done < released  # answered while the other process still held the write lock
    assert len(json.loads(capsys.readouterr().out)) == 5


def test_a_busy_index_is_waited_for_never_deleted(tmp_path, store_root, capsys):
    inode = (store_root / INDEX_NAME).stat().st_ino
    write(store_root, "new.json", latency(20.0))  # reading now needs the write lock, to index this file
    proc, _ = _hold_lock(tmp_path, store_root, 1.5)
    assert main(["results", "--store", str(store_root), "--format", "json"]) == 0
    proc.wait(timeout=30)
    assert len(json.loads(capsys.readouterr().out)) == 6
    assert (store_root / INDEX_NAME).stat().st_ino == inode
    assert not list(store_root.glob(f"{INDEX_NAME}.damaged-*"))


def test_a_damaged_record_is_one_warning_and_the_rest_stays_readable(store_root, capsys):
    good = (store_root / "r0.json").read_text()
    (store_root / "truncated.json").write_text(good[: len(good) // 2])
    assert main(["results", "--store", str(store_root), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 5
    warnings = [line for line in captured.err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "truncated.json" in warnings[0] and "damaged record skipped" in warnings[0]
    assert main(["results", "--store", str(store_root), "--check"]) == 1
    out = capsys.readouterr().out
    assert "truncated.json" in out and "5 record(s) readable, 1 file(s) skipped" in out
    (store_root / "truncated.json").unlink()
    assert main(["results", "--store", str(store_root), "--check"]) == 0


def test_a_damaged_index_is_set_aside_and_rebuilt(store_root):
    (store_root / INDEX_NAME).write_bytes(b"not a database" * 200)
    assert len(ResultStore(store_root)) == 5
    assert len(list(store_root.glob(f"{INDEX_NAME}.damaged-*"))) == 1


ADD_SAME = textwrap.dedent("""
    import json, sys
    from kbench.results.store import ResultStore
    rec = json.load(open(sys.argv[2]))
    print(ResultStore(sys.argv[1]).add(rec))
""")


def test_the_same_record_added_by_two_processes_at_once_is_stored_once(tmp_path):
    rec_path = tmp_path / "rec.json"
    rec_path.write_text(json.dumps(latency(7.0)))
    root = tmp_path / "store"
    procs = [subprocess.Popen([sys.executable, "-c", ADD_SAME, str(root), str(rec_path)], stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(list(root.rglob("*.json"))) == 1 and len(ResultStore(root)) == 1
    assert sum("1 record(s) added" in o for o in outs) == 1


WRITER = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[4])
    from results_factory import latency
    from kbench.results.store import ResultStore
    store = ResultStore(sys.argv[1])
    who, count = int(sys.argv[2]), int(sys.argv[3])
    t0 = time.perf_counter()
    for i in range(count):
        rec = latency(1.0 + i, batch=1 + who, threads=1)
        rec["created"] = f"2026-11-{1 + who % 28:02d}T10:{i // 60 % 60:02d}:{i % 60:02d}+00:00"
        result = store.add(rec)
        assert len(result.added) == 1, result
    print(json.dumps({"writer": who, "seconds": time.perf_counter() - t0}))
""")

READER = textwrap.dedent("""
    import json, os, sys, time, warnings
    from kbench.results.store import ResultStore
    store = ResultStore(sys.argv[1])
    stop = sys.argv[2]
    times, counts = [], []
    while not os.path.exists(stop) or not times:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a damaged or half-written record would be a warning: fail on it
            counts.append(len(store.frame(["kind=latency"])))
        times.append(time.perf_counter() - t0)
    print(json.dumps({"latencies": times, "counts": counts}))
""")


@pytest.mark.slow
def test_stress_8_writers_and_4_readers(tmp_path):
    writers, per_writer, readers = 8, 200, 4
    root = tmp_path / "store"
    stop = tmp_path / "stop"
    here = os.path.dirname(__file__)
    t0 = time.perf_counter()
    reading = [subprocess.Popen([sys.executable, "-c", READER, str(root), str(stop)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(readers)]
    writing = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(w), str(per_writer), here],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(writers)]
    written = [p.communicate(timeout=900) for p in writing]
    wall = time.perf_counter() - t0
    stop.write_text("stop")
    read = [p.communicate(timeout=300) for p in reading]
    for p, (_, err) in zip(writing + reading, written + read):
        assert p.returncode == 0, err[-2000:]
    store = ResultStore(root)
    records = store.records()
    keys = sorted((r["options"]["batch"], r["metrics"]["median_ms"]) for r in records)
    assert keys == sorted((1 + w, 1.0 + i) for w in range(writers) for i in range(per_writer))  # each exactly once
    assert len(list(root.rglob("*.json"))) == writers * per_writer
    assert not [p for p in root.rglob(".*") if p.is_file()]  # no temporary file left
    latencies = sorted(t for out, _ in read for t in json.loads(out)["latencies"])
    for out, _ in read:  # records are only added: what each reader sees never shrinks
        counts = json.loads(out)["counts"]
        assert counts == sorted(counts) and counts[-1] <= writers * per_writer
    median, p99 = latencies[len(latencies) // 2], latencies[int(0.99 * (len(latencies) - 1))]
    figures = {"records": writers * per_writer, "wall_s": round(wall, 2),
               "records_per_s": round(writers * per_writer / wall, 1), "queries": len(latencies),
               "query_median_ms": round(1000 * median, 1), "query_p99_ms": round(1000 * p99, 1)}
    print("store stress:", json.dumps(figures))
