"""The README tables: rows from the model cards, cells matched to the right run, differences and tolerances.

No marker: pure Python over records made in memory (well under a second).
"""

from __future__ import annotations

import pytest
from report_fixtures import MPII, eval_record, example_records, latency_record, profile_record

from kbench.cards import get_card, list_cards
from kbench.reports.runs import runs_from_records
from kbench.reports.tables import (
    ReportTolerances,
    accuracy_for,
    best_accuracy_run,
    latency_matches,
    published_accuracy,
    readme_tables,
)


def tables_of(records, **tol):
    return {t.id: t for t in readme_tables(runs_from_records(records), ReportTolerances(**tol))}


def test_rows_reproduce_the_readme_tables_with_nothing_measured():
    tables = tables_of([])
    assert list(tables) == ["mobile", "server", "coco", "mpii", "tinypose", "benchmark-server", "benchmark-mobile"]
    assert [r.name for r in tables["mobile"].rows] == ["tinypose_128x96", "tinypose_256x192"]
    assert [r.name for r in tables["server"].rows] == ["hrnet_w32_384x288", "hrnet_w32_256x192"]
    coco = [r.name for r in tables["coco"].rows]
    assert coco[:3] == ["higherhrnet_hrnet_w32_512", "higherhrnet_hrnet_w32_640", "higherhrnet_hrnet_w32_512_swahr"]
    assert set(coco) == {c.name for c in list_cards() if c.dataset == "coco" and c.published.ap is not None
                         and not c.name.startswith("tinypose")}
    assert len(coco) == 12  # the README's COCO table: 3 HigherHRNet, 2 HRNet, 2 DarkPose, 4 Lite-HRNet, WiderNaive
    assert [r.name for r in tables["mpii"].rows] == ["hrnet_w32_256x256_mpii"]
    assert [r.name for r in tables["tinypose"].rows] == ["tinypose_128x96", "tinypose_256x192"]
    assert len(tables["benchmark-server"].rows) == 11 and len(tables["benchmark-server"].cell_columns) == 6
    assert [r.name for r in tables["benchmark-mobile"].rows] == ["tinypose_128x96"]
    # Published figures are there, every measured slot says so.
    row = tables["mobile"].row("tinypose_128x96")
    assert [c.published_text for c in row.cells] == ["58.1", "3.27", "1.36", "0.08"]
    assert {c.status for t in tables.values() for r in t.rows for c in r.cells} <= {"unmeasured", "empty"}
    assert tables["mpii"].row("hrnet_w32_256x256_mpii").cells[1].published == 38.5
    assert tables["tinypose"].row("tinypose_256x192").cells[1].published == 14.07


def test_measured_cells_differences_and_colours():
    tables = tables_of(example_records())
    ap, lat, params, gflops = tables["mobile"].row("tinypose_128x96").cells
    assert (ap.measured_text, ap.diff_text, ap.status) == ("58.3", "+0.2", "ok")        # real eval, not the sample
    assert not ap.run.flags and ap.run.metric("AP") == pytest.approx(0.583)
    assert (lat.measured, lat.diff_text, lat.status) == (3.3, "+1%", "ok")               # Lite ARM fp16, 4 threads
    assert params.status == gflops.status == "ok"
    hr_ap, hr_params, hr_gflops = tables["server"].row("hrnet_w32_256x192").cells
    assert (hr_ap.measured_text, hr_ap.diff_text, hr_ap.status) == ("75.0", "-1.9", "exceeded")
    assert hr_params.status == "ok" and hr_gflops.status == "exceeded"                   # 7.90 rounds off 7.68
    pckh, pckh01 = tables["mpii"].row("hrnet_w32_256x256_mpii").cells
    assert (pckh.measured, pckh.published, pckh.status) == (90.5, 90.6, "ok")
    assert pckh01.measured == MPII["PCKh@0.1_paddledet"]                                 # the README's 0.11 quirk
    server = tables["benchmark-server"]
    cells = dict(zip(server.cell_columns, server.row("tinypose_128x96").cells))
    assert cells["(Python deploy) TensorRT FP16"].measured == 0.95                       # batch 8, Paddle-TRT
    assert cells["(Python deploy) TensorRT FP16"].status == "exceeded"                   # +19 % > 10 %
    assert cells["(Python deploy) TensorRT FP32"].status == "unmeasured"
    assert cells["(Python deploy) GPU"].status == "unmeasured"                           # TRT run is not plain GPU
    # A wider tolerance turns the colour off.
    wide = tables_of(example_records(), accuracy_points=2.0, latency_relative=0.5)
    assert wide["server"].row("hrnet_w32_256x192").cells[0].status == "ok"
    assert wide["benchmark-server"].row("tinypose_128x96").cells[2].status == "ok"


def test_synthetic_accuracy_is_used_only_when_nothing_real_exists():
    only_sample = [eval_record("tinypose_128x96", 0.12, sample=True, weights="random")]
    cell = tables_of(only_sample)["tinypose"].row("tinypose_128x96").cells[0]
    assert cell.measured == pytest.approx(12.0) and cell.run.flags == ["synthetic data", "random weights"]
    card = get_card("tinypose_128x96")
    runs = runs_from_records([*only_sample, eval_record("tinypose_128x96", 0.58, created="2020-01-01T00:00:00+00:00")])
    assert best_accuracy_run(runs, card).metric("AP") == 0.58   # older but real beats newer synthetic
    detector = runs_from_records([eval_record("tinypose_128x96", 0.55, bbox="detector",
                                              created="2030-01-01T00:00:00+00:00"),
                                  eval_record("tinypose_128x96", 0.58)])
    assert best_accuracy_run(detector, card).col("bbox") == "gt"  # the README's AP uses ground-truth boxes
    # A detector-box or no-flip AP is another protocol: it never stands beside the README's GT-box figure.
    assert best_accuracy_run(detector[:1], card) is None
    no_flip = eval_record("tinypose_128x96", 0.57)
    no_flip["options"]["flip"] = False
    assert best_accuracy_run(runs_from_records([no_flip]), card) is None


@pytest.mark.parametrize("options, published_index, matches", [
    ({"backend": "lite", "device": "arm", "precision": "fp16", "threads": 4}, 1, True),
    ({"backend": "lite", "device": "cpu", "precision": "fp16", "threads": 4}, 1, False),       # x86 Lite
    ({"backend": "lite", "device": "cpu", "precision": "fp16", "threads": 4, "target": "arm"}, 1, True),
    ({"backend": "lite", "device": "arm", "precision": "fp32", "threads": 4}, 1, False),       # precision
    ({"backend": "lite", "device": "arm", "precision": "fp16", "threads": 1}, 1, False),       # threads
    ({"backend": "paddle-inference", "device": "gpu", "batch": 8, "threads": None}, 2, True),  # plain GPU
    ({"backend": "paddle-inference", "device": "gpu", "batch": 1, "threads": None}, 2, False),  # batch
    ({"backend": "paddle-inference", "device": "gpu", "batch": 8, "threads": None, "tensorrt": True}, 2, False),
    ({"backend": "paddle-inference", "device": "gpu", "batch": 8, "threads": None, "tensorrt": True}, 3, True),
    ({"backend": "paddle-trt", "device": "gpu", "batch": 8, "threads": None}, 3, True),         # kbench latency's name
    ({"backend": "paddle-trt", "device": "gpu", "batch": 8, "threads": None}, 2, False),
    ({"backend": "tensorrt", "device": "gpu", "batch": 8, "threads": None}, 3, False),          # not Paddle's
    ({"backend": "onnxruntime", "device": "gpu", "batch": 8, "threads": None}, 2, False),
    ({"backend": "paddle-inference", "device": "gpu", "batch": 8, "threads": None, "scope": "pipeline"}, 2, False),
])
def test_latency_matching_rules(options, published_index, matches):
    card = get_card("tinypose_128x96")  # latencies: Lite fp32, Lite fp16, T4 GPU, T4 TRT fp32, ...
    published = card.published.latencies[published_index]
    run = runs_from_records([latency_record("tinypose_128x96", 1.0, **options)])[0]
    assert latency_matches(run, published) is matches


def test_dark_figure_applies_when_the_run_decodes_with_dark():
    card = get_card("wider_naive_hrnet_18_256x192_coco")
    assert published_accuracy(card) == ("AP", 67.6)                       # the config sets use_dark false
    plain, dark = runs_from_records([eval_record(card.name, 0.676), eval_record(card.name, 0.684)])
    dark.record["options"]["dark"] = True
    assert published_accuracy(card, plain) == ("AP", 67.6)
    assert published_accuracy(card, dark) == ("AP", 68.4)


def test_accuracy_beside_a_latency_prefers_the_same_runtime():
    card = get_card("tinypose_128x96")
    runs = runs_from_records([eval_record(card.name, 0.58), eval_record(card.name, 0.575, backend="onnxruntime"),
                              latency_record(card.name, 3.0), latency_record(card.name, 2.0, backend="torch")])
    ort, torch_run = runs[2], runs[3]
    same = accuracy_for(ort, runs, card)
    assert (same.source, same.value) == ("same runtime", pytest.approx(57.5))
    other = accuracy_for(torch_run, runs, card)
    assert other.source == "other runtime" and other.run.col("backend") in ("paddle", "onnxruntime")
    assert accuracy_for(torch_run, runs[2:], card).source == "published"
    assert accuracy_for(torch_run, runs, None) is None


def test_runs_expose_flags_keypoints_samples_and_commands():
    sample, real, mpii, lat, prof = runs_from_records([
        eval_record(None, 0.3, sample=True, weights="random"),
        eval_record("hrnet_w32_256x192", 0.75, per_keypoint=True),
        eval_record("hrnet_w32_256x256_mpii", mpii=MPII), latency_record("tinypose_128x96", 2.0, samples=True),
        profile_record("tinypose_128x96", 1355521, 80217024, (96, 128))])
    assert sample.flags == ["synthetic data"] and sample.model is None  # no weights option without a model
    assert real.flags == [] and real.accuracy == ("AP", pytest.approx(75.0))
    metric, scores = real.keypoint_scores()
    assert metric == "AP" and len(scores) == 17 and scores["nose"] == pytest.approx(65.0)
    assert mpii.accuracy == ("PCKh", 90.5) and mpii.keypoint_scores() == ("PCKh", {k: MPII[k] for k in (
        "Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")})
    assert lat.keypoint_scores() is None and len(lat.samples_ms) == 60 and lat.flags == []  # latency: no flags
    assert prof.random_weights and prof.flags == []
    assert lat.runtime == "onnxruntime cpu fp32"
    assert sample.command == ("kbench eval --sample 50", False)
    assert lat.command[0].startswith("kbench latency --model tinypose_128x96 --backend onnxruntime --device cpu")
    assert prof.command == ("kbench profile --model tinypose_128x96 --input 96x128", False)
    lat.record["command"] = ["kbench", "latency", "--model", "tinypose_128x96", "--note", "a b"]
    assert lat.command == ("kbench latency --model tinypose_128x96 --note 'a b'", True)
    d = real.describe()
    assert d["record_id"] == real.record_id and d["libraries"] and d["machine_label"].startswith("lab-a")
