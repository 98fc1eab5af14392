"""The leaderboard's rows and the site on disk: one row per configuration, links that resolve, data.json equal
to the embedded data, atomic replacement of an earlier site, refusal to overwrite anything else.

No marker; the site is checked in a real browser by ``test_leaderboard_browser.py``. A few seconds.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest
from site_fixtures import fixtures as fx

from kbench.errors import InputError
from kbench.leaderboard.build import COLUMNS, DATA_SCHEMA, SITE_MARKER, build_site, leaderboard_rows
from kbench.reports.runs import runs_from_records


def rows_by(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def test_one_row_per_configuration_with_linked_numbers():
    records = fx.example_records()
    runs = runs_from_records(records)
    ids = {id(r.record): r.record_id for r in runs}
    rows = leaderboard_rows(runs)
    assert len(rows) == 10
    assert {r["model"] for r in rows} == {"tinypose_128x96", "tinypose_256x192", "hrnet_w32_256x192",
                                          "hrnet_w32_256x256_mpii", None}
    (lite,) = rows_by(rows, model="tinypose_128x96", backend="lite")
    assert (lite["device"], lite["precision"], lite["threads"], lite["hostname"]) == ("arm", "fp16", 4, "phone-sd865")
    assert lite["median_ms"] == 3.3 and lite["records"]["latency"] == ids[id(records[6])]
    assert lite["AP"] == pytest.approx(58.3) and lite["accuracy_source"] == "other runtime"
    assert lite["records"]["accuracy"] == ids[id(records[0])]      # the real eval, not the newer-looking sample
    assert lite["params_m"] == pytest.approx(1.355521) and lite["records"]["profile"] == ids[id(records[11])]
    assert lite["published"] == 58.1 and lite["flags"] == []
    (paddle,) = rows_by(rows, model="tinypose_128x96", backend="paddle")  # the eval's own configuration
    assert paddle["accuracy_source"] == "same runtime" and paddle["median_ms"] is None and paddle["batch"] is None
    (trt,) = rows_by(rows, model="tinypose_128x96", backend="paddle-trt")
    assert trt["tensorrt"] and trt["batch"] == 8 and trt["runtime"] == "paddle-trt"
    (mpii,) = rows_by(rows, model="hrnet_w32_256x256_mpii")
    assert mpii["PCKh"] == 90.5 and mpii["AP"] is None and mpii["published"] == 90.6
    (sample,) = rows_by(rows, model=None)
    assert sample["flags"] == ["synthetic data"] and sample["dataset"] == "sample-50-seed0"
    (small,) = rows_by(rows, model="tinypose_256x192")
    assert small["AP"] is None and small["published"] == 68.8   # nothing measured for it: no accuracy claimed
    assert all(set(c.key for c in COLUMNS) <= set(r) for r in rows)


def test_newest_record_per_configuration_and_size_only_models():
    older = fx.latency_record("tinypose_128x96", 5.0, created="2026-01-01T00:00:00+00:00")
    newer = fx.latency_record("tinypose_128x96", 4.0, created="2026-02-01T00:00:00+00:00")
    other_machine = fx.latency_record("tinypose_128x96", 6.0, hostname="lab-b")
    size = fx.profile_record("hrnet_w32_256x192", 28_535_000, 7.68e9, (192, 256))
    wrong_input = fx.profile_record("hrnet_w32_256x192", 28_535_000, 17.3e9, (288, 384),
                                    created="2030-01-01T00:00:00+00:00")
    rows = leaderboard_rows(runs_from_records([older, newer, other_machine, size, wrong_input]))
    assert sorted(r["median_ms"] for r in rows_by(rows, model="tinypose_128x96")) == [4.0, 6.0]
    (hr,) = rows_by(rows, model="hrnet_w32_256x192")
    assert hr["backend"] is None and hr["gflops"] == pytest.approx(7.68)  # the card's input size, not the newest


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if key in attrs:
                self.links.append(attrs[key])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb")
    return build_site(fx.example_records(), root / "site", sources=["store/"]), root


def test_site_files_links_and_json(site):
    out, _ = site
    assert out.is_dir() and (out / SITE_MARKER).is_file()
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    assert "index.html" in pages and "models/tinypose_128x96.html" in pages and len(pages) == 1 + 4 + 13
    for page in out.rglob("*.html"):
        parser = Links()
        html = page.read_text()
        parser.feed(html)
        assert "https://" not in html and "http://" not in html, page
        for link in parser.links:
            parsed = urlparse(link)
            assert parsed.scheme in ("", "data"), (page, link)
            if parsed.scheme == "" and parsed.path:
                assert (page.parent / parsed.path).resolve().is_file(), (page, link)
    data = json.loads((out / "data.json").read_text())
    assert data["schema"] == DATA_SCHEMA and len(data["rows"]) == 10 and len(data["records"]) == 13
    embedded = re.search(r'<script type="application/json" id="kb-data">(.*?)</script>',
                         (out / "index.html").read_text(), re.S).group(1)
    assert json.loads(embedded)["rows"] == data["rows"]
    for rid, described in data["records"].items():
        record = json.loads((out / "records" / f"{rid}.json").read_text())
        assert record["metrics"] == described["metrics"] and "_path" not in record


def test_rebuild_replaces_a_site_and_refuses_other_folders(site, tmp_path):
    out, root = site
    (out / "stale.html").write_text("old")
    build_site([fx.latency_record("tinypose_128x96", 2.0)], out)
    assert not (out / "stale.html").exists() and len(json.loads((out / "data.json").read_text())["rows"]) == 1
    assert sorted(p.name for p in root.iterdir()) == ["site"]           # no temporary or old folder left
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(InputError, match="not a kbench leaderboard site"):
        build_site([], mine)
    assert (mine / "holiday.jpg").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        build_site([], tmp_path / "file")
    empty = build_site([], tmp_path / "new" / "site")                    # nothing measured: an empty table
    assert json.loads((empty / "data.json").read_text())["rows"] == [] and Path(empty / "index.html").is_file()


def test_odd_floats_become_null_in_the_export(tmp_path):
    rec = fx.latency_record("tinypose_128x96", 2.0)
    rec["metrics"]["p90_ms"] = float("nan")
    rec["options"]["yardstick"] = float("inf")
    out = build_site([rec], tmp_path / "site")

    def refuse(name):
        raise AssertionError(f"{name} in strict JSON")

    data = json.loads((out / "data.json").read_text(), parse_constant=refuse)
    (row,) = data["rows"]
    assert row["median_ms"] == 2.0 and row["p90_ms"] is None
    assert next(iter(data["records"].values()))["options"]["yardstick"] is None
