"""The leaderboard in a real headless browser (Debian's chromium driven by Playwright), served by a plain
``http.server`` on localhost and opened from file:// (no server): column sorting (numbers numerically, missing
values last both ways), text / drop-down / flag filters with the visible-row count, the JSON download of the
visible rows, the model and record pages, and no request leaving the machine.

Skipped, with the reason, where Playwright or chromium is missing. About 10 s.
"""

from __future__ import annotations

import json
import math
import threading

import pytest
from site_fixtures import fixtures as fx

from kbench.leaderboard.build import build_site
from kbench.leaderboard.serve import make_server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

COLUMN_VALUES = """(key) => {
  const table = document.getElementById('board-table');
  const index = [...table.tHead.rows[0].cells].findIndex(th => th.dataset.key === key);
  const shown = [...table.tBodies[0].rows].filter(r => !r.hidden);
  return shown.map(r => r.cells[index].dataset.v ?? r.cells[index].innerText);
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site(fx.example_records(), tmp_path_factory.mktemp("lb") / "site")


@pytest.fixture(scope="module")
def server_url(site):
    server = make_server(site, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        b = fx.launch_browser(playwright)
        yield b
        b.close()


@pytest.fixture(params=["http", "file"])
def board(request, browser, site, server_url):
    page = browser.new_page(viewport={"width": 1500, "height": 900}, accept_downloads=True)
    guard = fx.NetworkGuard(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    url = server_url + "index.html" if request.param == "http" else (site / "index.html").as_uri()
    page.goto(url)
    yield page
    assert guard.external == [] and errors == []
    page.close()


def numbers(values):
    return [float(v) if v not in ("", None) else math.nan for v in values]


def test_sorting_numbers_with_missing_values_last(board):
    header = board.locator('#board-table th[data-key="median_ms"]')
    header.click()
    up = numbers(board.evaluate(COLUMN_VALUES, "median_ms"))
    present = [v for v in up if not math.isnan(v)]
    assert present == sorted(present) == [0.95, 3.1, 3.3, 9.0, 41.0, 80.0]  # 9 < 41 < 80: numeric, not text order
    assert all(math.isnan(v) for v in up[len(present):]) and len(up) == 10
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    down = numbers(board.evaluate(COLUMN_VALUES, "median_ms"))
    assert [v for v in down if not math.isnan(v)] == sorted(present, reverse=True)
    assert all(math.isnan(v) for v in down[len(present):])               # still last when descending
    board.locator('#board-table th[data-key="model"]').click()
    models = board.evaluate(COLUMN_VALUES, "model")
    named = [m for m in models if m]
    assert named == sorted(named) and models[-1] == ""                    # the record without a model: last


def test_filters_and_visible_row_count(board):
    count = board.locator("#row-count")
    assert count.inner_text() == "10 of 10 rows"
    board.fill("#filter-text", "tinypose")
    assert count.inner_text() == "5 of 10 rows"
    assert set(board.evaluate(COLUMN_VALUES, "model")) == {"tinypose_128x96", "tinypose_256x192"}
    board.select_option("#filter-backend", "onnxruntime")
    assert count.inner_text() == "2 of 10 rows"
    board.fill("#filter-text", "tinypose_256")
    assert board.evaluate(COLUMN_VALUES, "model") == ["tinypose_256x192"]
    board.fill("#filter-text", "")
    board.select_option("#filter-backend", "")
    board.check("#filter-flagged")
    assert count.inner_text() == "9 of 10 rows" and "" not in board.evaluate(COLUMN_VALUES, "model")
    board.select_option("#filter-device", "gpu")
    assert board.evaluate(COLUMN_VALUES, "median_ms") == ["0.95"]
    with board.expect_download() as download:
        board.click("button[data-download-for='board-table']")
    saved = json.loads(download.value.path().read_text())
    assert [r["median_ms"] for r in saved["rows"]] == [0.95] and saved["schema"] == "kbench.leaderboard/1"


def test_model_and_record_pages(board):
    board.locator('#board-table a[href="models/hrnet_w32_256x192.html"]').first.click()
    board.wait_for_load_state()
    assert board.locator("h1").inner_text() == "hrnet_w32_256x192"
    images = board.eval_on_selector_all("figure img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
    assert len(images) == 3 and all(done and width > 300 for done, width in images)
    assert board.locator("#model-table tbody tr").count() == 3
    board.locator("#model-table td.num a").first.click()                  # a number -> its record page
    board.wait_for_load_state()
    assert board.locator("h1").inner_text().startswith("Run record ")
    text = board.locator("article.record").inner_text()
    assert "hrnet_w32_256x192" in text and "numpy" in text and "command" in text
