"""The report in a real headless browser (Debian's chromium driven by Playwright): it renders from file://, the
README tables hold their rows, the figures load, links reach the record entries, nothing is fetched from the
network, and a screenshot is taken.

Skipped, with the reason, where Playwright or chromium is missing. About 5 s.
"""

from __future__ import annotations

import struct

import pytest
from report_fixtures import NetworkGuard, example_records, launch_browser, write_records

from kbench.reports.html import write_report
from kbench.results.frame import load_records

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

EXPECTED_ROWS = {
    "mobile": ["tinypose_128x96", "tinypose_256x192"],
    "server": ["hrnet_w32_384x288", "hrnet_w32_256x192"],
    "coco": ["higherhrnet_hrnet_w32_512", "higherhrnet_hrnet_w32_640", "higherhrnet_hrnet_w32_512_swahr",
             "hrnet_w32_256x192", "hrnet_w32_384x288", "dark_hrnet_w32_256x192", "dark_hrnet_w32_384x288",
             "lite_hrnet_18_256x192_coco", "lite_hrnet_18_384x288_coco", "lite_hrnet_30_256x192_coco",
             "lite_hrnet_30_384x288_coco", "wider_naive_hrnet_18_256x192_coco"],
    "mpii": ["hrnet_w32_256x256_mpii"],
    "tinypose": ["tinypose_128x96", "tinypose_256x192"],
    "benchmark-mobile": ["tinypose_128x96"],
}


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        b = launch_browser(playwright)
        yield b
        b.close()


@pytest.fixture()
def report_page(browser, tmp_path):
    records = load_records(write_records(tmp_path / "store", example_records()))
    path = write_report(records, tmp_path / "out", sources=[str(tmp_path / "store")])
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    guard = NetworkGuard(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(path.as_uri())
    yield page, guard, errors
    page.close()


def test_report_renders_tables_figures_and_links(report_page, tmp_path):
    page, guard, errors = report_page
    assert page.title() == "kbench report"
    for table, models in EXPECTED_ROWS.items():
        rows = page.eval_on_selector_all(f"#table-{table} tbody tr", "rows => rows.map(r => r.dataset.model)")
        assert rows == models, table
    assert len(page.locator("#table-benchmark-server tbody tr").all()) == 11
    mobile = page.locator('#table-mobile tr[data-model="tinypose_128x96"] td.cell').first
    assert mobile.get_attribute("class") == "cell ok"
    text = mobile.inner_text()
    assert "58.3" in text and "pub 58.1" in text and "Δ +0.2" in text
    bad = page.locator('#table-server tr[data-model="hrnet_w32_256x192"] td.cell').first
    assert "exceeded" in bad.get_attribute("class")
    # Exceeded cells are coloured differently from those within tolerance.
    colours = page.evaluate("""() => ['td.cell.ok', 'td.cell.exceeded', 'td.cell.unmeasured'].map(
        s => getComputedStyle(document.querySelector(s)).backgroundColor)""")
    assert len(set(colours)) == 3

    images = page.eval_on_selector_all("figure img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
    assert len(images) == 3 and all(done and width > 300 for done, width in images)

    bad.locator("a").click()                                     # a number -> its run record's entry
    anchor = page.evaluate("location.hash")
    assert anchor.startswith("#rec-")
    entry = page.locator(anchor)
    assert entry.is_visible()
    entry_text = entry.inner_text()
    assert "hrnet_w32_256x192" in entry_text and "lab-a" in entry_text and "numpy" in entry_text
    assert str(tmp_path / "store") in entry_text                  # the record's file

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000 and width == 1400 and height > 3000

    assert guard.external == [] and errors == []


def test_measurement_tables_sort_in_the_browser(report_page):
    page, guard, errors = report_page
    medians = "() => [...document.querySelectorAll('#runs-latency tbody tr')].map(r => r.cells[5].dataset.v)"
    header = page.locator("#runs-latency thead th", has_text="Median (ms)")
    header.click()
    up = [float(v) for v in page.evaluate(medians)]
    assert up == sorted(up) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert [float(v) for v in page.evaluate(medians)] == sorted(up, reverse=True)
    assert guard.external == [] and errors == []
