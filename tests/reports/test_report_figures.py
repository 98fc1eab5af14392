"""Figures: the Pareto front, and that every figure renders to a real PNG (or says why there is none).

No marker: matplotlib with the Agg canvas, a few seconds in all.
"""

from __future__ import annotations

import struct

from report_fixtures import MPII, eval_record, example_records, latency_record

from kbench.cards import list_cards
from kbench.reports.figures import (
    ParetoPoint,
    accuracy_latency_figure,
    keypoint_figure,
    latency_distribution_figure,
    pareto_front,
    pareto_points,
)
from kbench.reports.runs import runs_from_records


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def point(latency, accuracy, name="m"):
    return ParetoPoint(run=None, model=name, runtime="r", latency_ms=latency, metric="AP", accuracy=accuracy,
                       source="same runtime")


def test_pareto_front_keeps_only_non_dominated_points():
    pts = [point(5, 70, "a"), point(3, 60, "b"), point(10, 69, "dominated"), point(3, 55, "slower-equal"),
           point(20, 75, "c"), point(1, 50, "d"), point(20, 74, "e")]
    assert [p.model for p in pareto_front(pts)] == ["d", "b", "a", "c"]
    assert pareto_front([]) == []
    # Equal latency: only the more accurate one; equal accuracy: only the faster one.
    assert [p.model for p in pareto_front([point(2, 60, "x"), point(2, 61, "y"), point(3, 61, "z")])] == ["y"]


def test_figures_render_pngs():
    runs = runs_from_records(example_records())
    cards = {c.name: c for c in list_cards()}
    pts = pareto_points(runs, cards)
    assert {p.model for p in pts} == {"tinypose_128x96", "tinypose_256x192", "hrnet_w32_256x192"}
    assert {p.source for p in pts} == {"other runtime", "published"}  # no eval on a latency run's own runtime
    for plot in (accuracy_latency_figure(pts), latency_distribution_figure(runs), keypoint_figure(runs)):
        w, h = png_size(plot.png)
        assert w > 300 and h > 150, plot.id
        assert plot.data_uri.startswith("data:image/png;base64,iVBOR")


def test_figures_say_when_there_is_nothing_to_draw():
    runs = runs_from_records([eval_record("tinypose_128x96", 0.58)])  # COCO without per-keypoint AP
    assert accuracy_latency_figure([]).png is None
    assert latency_distribution_figure(runs).empty == "No latency measurements."
    kp = keypoint_figure(runs)
    assert kp.png is None and "no per-keypoint data" in kp.empty.lower()
    # MPII's per-part PCKh is per-joint data of its own.
    assert keypoint_figure(runs_from_records([eval_record("hrnet_w32_256x256_mpii", mpii=MPII)])).png


def test_latency_boxes_from_samples_or_summary():
    runs = runs_from_records([latency_record("tinypose_128x96", 3.0, samples=True),
                              latency_record("tinypose_256x192", 9.0)])
    assert runs[0].samples_ms and runs[1].samples_ms is None
    assert png_size(latency_distribution_figure(runs).png)[1] > 100
