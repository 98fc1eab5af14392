"""The report page as HTML text: self-contained, every link resolves inside the page, content escaped.

No marker; the page is checked in a real browser by ``test_report_browser.py``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from report_fixtures import eval_record, example_records, latency_record

from kbench.errors import InputError
from kbench.reports.html import REPORT_FILE, render_report, write_report
from kbench.reports.runs import runs_from_records


class Collector(HTMLParser):
    """Ids, links and resource URLs of a page."""

    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.resources, self.tags = set(), [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "href" in attrs:
            self.hrefs.append(attrs["href"])
        for key in ("src", "srcset", "data"):
            if key in attrs:
                self.resources.append(attrs[key])
        if tag == "link":
            self.resources.append(attrs.get("href", ""))


@pytest.fixture(scope="module")
def page():
    html = render_report(example_records(), sources=["store/"])
    parsed = Collector()
    parsed.feed(html)
    return html, parsed


def test_page_is_self_contained(page):
    html, parsed = page
    assert "link" not in parsed.tags  # the stylesheet is inline
    assert parsed.resources and all(src.startswith("data:image/png;base64,") for src in parsed.resources)
    assert not re.search(r"<script[^>]+src=", html)
    assert not [h for h in parsed.hrefs if not h.startswith("#")]  # no link leaves the page
    assert "http://" not in html and "https://" not in html


def test_every_number_links_to_its_record_entry(page):
    html, parsed = page
    runs = runs_from_records(example_records())
    targets = {h[1:] for h in parsed.hrefs}
    assert {r.anchor for r in runs} <= parsed.ids        # one provenance entry per record
    assert targets <= parsed.ids                          # every link lands somewhere
    used = {t for t in targets if t.startswith("rec-")}
    assert used == {r.anchor for r in runs}               # every record is linked from some number
    for run in runs:                                      # provenance: machine, versions, command
        entry = html[html.index(f'id="{run.anchor}"'):]
        entry = entry[:entry.index("</article>")]
        assert "lab-a" in entry or "phone-sd865" in entry or "gpu-box" in entry
        assert "numpy" in entry and "kbench " in entry and "created" in entry


def test_tables_and_labels(page):
    html, _ = page
    for table_id in ("mobile", "server", "coco", "mpii", "tinypose", "benchmark-server", "benchmark-mobile"):
        assert f'id="table-{table_id}"' in html
    # hrnet AP (server and COCO tables), its GFLOPs, the TRT fp16 run against Python's 0.8 and C++'s 0.72
    assert html.count('class="cell exceeded"') == 5
    assert "not measured" in html and "pub 58.1" in html
    assert 'id="synthetic-banner"' in html and "2 eval records" in html


def test_content_is_escaped_and_write_is_atomic(tmp_path):
    evil = eval_record(None, 0.3, sample=True)
    evil["options"]["note"] = "<script>alert(1)</script>"
    html = render_report([evil, latency_record("tinypose_128x96", 2.0)])
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    path = write_report([evil], tmp_path / "out")
    assert path == tmp_path / "out" / REPORT_FILE and path.read_text().startswith("<!doctype html>")
    assert sorted(p.name for p in path.parent.iterdir()) == [REPORT_FILE]  # no temporary file left
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        write_report([evil], tmp_path / "file")


def test_empty_store_still_shows_the_published_tables():
    html = render_report([])
    assert html.count("not measured") > 50 and "No latency measurements" in html
