"""``kbench.results.frame``: reading record files and the DataFrame's column contract."""

from __future__ import annotations

import json
import math

import pytest
from results_factory import COCO, MPII, latency, record, write

from kbench.errors import InputError
from kbench.results.frame import (
    BASE_COLUMNS,
    CONFIG_COLUMNS,
    RecordsSkippedWarning,
    load_records,
    machine_id,
    record_id,
    records_frame,
)


def test_record_id_ignores_formatting_and_annotations(tmp_path):
    rec = record(model="tinypose_128x96")
    a = write(tmp_path, "a.json", rec)
    (tmp_path / "b.json").write_text(json.dumps(rec, separators=(",", ":")))
    loaded = load_records([a, tmp_path / "b.json"], dedupe=False)
    assert len(loaded) == 2 and {r["_path"] for r in loaded} == {str(a), str(tmp_path / "b.json")}
    assert record_id(loaded[0]) == record_id(loaded[1]) == record_id(rec)
    assert len(record_id(rec)) == 16 and int(record_id(rec), 16) >= 0
    other = record(model="tinypose_256x192")
    assert record_id(other) != record_id(rec)


def test_directory_scan_recurses_skips_non_records_and_dedupes(tmp_path):
    rec = record(model="m1")
    write(tmp_path, "a.json", rec)
    write(tmp_path / "nested" / "deeper", "copy.json", rec)             # same record again
    write(tmp_path / "nested", "b.json", latency(5.0))
    (tmp_path / "preds.json").write_text("[[1, 2, 3]]")                  # a predictions file beside them
    (tmp_path / "manifest.json").write_text('{"exporter": "paddle2onnx"}')
    write(tmp_path / ".hidden", "c.json", record(model="hidden"))      # hidden folders are not scanned
    (tmp_path / "notes.txt").write_text("not json")
    with pytest.warns(RecordsSkippedWarning, match="skipped 2 JSON file"):
        records = load_records(tmp_path)
    assert [r["kind"] for r in records] == ["eval", "latency"]
    with pytest.warns(RecordsSkippedWarning):
        assert len(load_records(tmp_path, dedupe=False)) == 3


def test_future_schema_is_skipped_not_misread(tmp_path):
    rec = record()
    rec["schema"] = "kbench.record/2"
    write(tmp_path, "future.json", rec)
    with pytest.warns(RecordsSkippedWarning, match="kbench.record/2 is not supported"):
        assert load_records(tmp_path) == []


@pytest.mark.parametrize("content, message", [
    ('{"schema": "kbench.record/1", "kind": "eval", "metr', "invalid JSON"),
    ('{"schema": "kbench.record/1", "kind": "eval", "metrics": [1]}', "'metrics' must be an object"),
    ('{"schema": "kbench.record/1", "kind": "eval", "metrics": {"AP": "high"}}', "metric 'AP'"),
])
def test_malformed_record_names_the_file(tmp_path, content, message):
    (tmp_path / "bad.json").write_text(content)
    for source in (tmp_path, tmp_path / "bad.json"):
        with pytest.raises(InputError, match=message) as info:
            load_records(source)
        assert "bad.json" in str(info.value)


def test_named_file_must_be_a_record_and_must_exist(tmp_path):
    (tmp_path / "preds.json").write_text("[]")
    with pytest.raises(InputError, match="preds.json: not a kbench run record"):
        load_records(tmp_path / "preds.json")
    with pytest.raises(InputError, match="no such file or directory"):
        load_records(tmp_path / "missing")


def test_frame_columns_and_values(tmp_path):
    recs = [
        record(model="tinypose_128x96", backend="paddle", device="gpu", precision="fp16", bbox="gt", flip=True,
               gpu=[{"name": "NVIDIA H200"}]),
        latency(12.5, model="hrnet_w32_256x192", batch=4, threads=8, input_size=[192, 256]),
        record("profile", model="hrnet_w32_256x192", input_size=[192, 256], framework="paddle"),
        record("eval", MPII, evaluator="mpii_pckh", hostname="other"),
    ]
    df = records_frame(recs)
    assert list(df.columns[:len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert set(CONFIG_COLUMNS) <= set(BASE_COLUMNS)
    assert [c for c in df.columns if c.startswith("m.")][:3] == ["m.AP", "m.AP50", "m.AP75"]   # first-seen order
    assert len(df) == 4 and list(df["kind"]) == ["eval", "latency", "profile", "eval"]
    first = df.iloc[0]
    assert first["model"] == "tinypose_128x96" and first["precision"] == "fp16" and bool(first["flip"]) is True
    assert first["gpu"] == "NVIDIA H200" and first["m.AP"] == COCO["AP"] and first["dataset"] == "sample-50-seed0"
    assert math.isnan(first["m.median_ms"]) and first["record_id"] == record_id(recs[0])
    lat = df.iloc[1]
    assert lat["batch"] == 4 and lat["threads"] == 8 and lat["input_size"] == "192x256" and lat["m.median_ms"] == 12.5
    assert df.iloc[2]["m.params"] == 1.36e6 and df.iloc[3]["m.PCKh"] == MPII["PCKh"]
    assert str(df["created"].dtype).startswith("datetime64") and str(df["created"].dt.tz) == "UTC"
    assert str(df["batch"].dtype) == "Int64"


def test_machine_id_separates_hosts_and_hardware():
    base = {"hostname": "ci-a", "cpu": "Xeon", "cpu_count": 16}
    m1, label = machine_id(base)
    assert m1.startswith("ci-a-") and len(m1) == len("ci-a-") + 8 and label == "ci-a: Xeon, 16 CPUs"
    assert machine_id(dict(base))[0] == m1                                         # stable
    assert machine_id({**base, "hostname": "ci-b"})[0] != m1
    with_gpu = machine_id({**base, "gpu": "NVIDIA H200"})
    assert with_gpu[0] != m1 and with_gpu[1].endswith("; NVIDIA H200")


def test_empty_frame_has_base_columns():
    df = records_frame([])
    assert list(df.columns) == list(BASE_COLUMNS) and len(df) == 0


def test_real_sample_eval_record(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "kbench", "eval", "--sample", "20", "--record", tmp_path / "r.json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    df = records_frame(load_records(tmp_path))
    row = df.iloc[0]
    assert row["kind"] == "eval" and row["evaluator"] == "coco_keypoints" and row["dataset"] == "sample-20-seed0"
    assert 0 <= row["m.AP"] <= 1 and row["path"] == str(tmp_path / "r.json")


def test_model_eval_and_latency_options_as_kbench_writes_them():
    sample = {"generator": "kbench.datasets.sample_images", "version": 1, "images": 8, "seed": 0, "path": "/tmp/x"}
    ev = record(model="tinypose_128x96", dataset="coco", backend="paddle", device="cpu", precision="fp32", flip=True,
                bbox="gt", weights={"source": "random", "sha256": None, "random": True, "seed": 0},
                runtime={"runtime": "paddle", "version": "3.3"})
    ev["inputs"] = {"ann": {"path": "/tmp/x/ann.json", "sha256": "ab"}, "sample": sample}
    full = record(model="tinypose_128x96", dataset="coco", weights={"spec": "zoo", "sha256": "0123456789abcdef"})
    full["inputs"] = {"ann": {"path": "/data/coco/person_keypoints_val2017.json", "sha256": "cd"}}
    lat = latency(3.0, runtime="onnxruntime", weights="random", samples_ms=[3.0, 3.1])
    df = records_frame([ev, full, lat])
    assert list(df["dataset"].fillna("-")) == ["coco/sample-8-seed0-v1", "coco/person_keypoints_val2017.json", "-"]
    assert list(df["weights"]) == ["random-seed0", "sha256:0123456789ab", "random"]
    assert df.iloc[0]["backend"] == "paddle" and df.iloc[2]["backend"] == "onnxruntime"   # backend wins over runtime
