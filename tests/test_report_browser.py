"""The HTML report in a real headless Chromium with the network cut off: the figures draw, prompts are text."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from archive.ingest import ingest_records
from archive.store import Archive
from lineage.report import report_data, to_html

EVIL = "<img src=x onerror=\"document.title='pwned'\"> a heron dancing, film noir"


@pytest.fixture(scope="module")
def offline_browser():
    from tests.browser.dashboard_harness import make_browser

    # no network at all: every host resolves to nothing and any proxy use fails
    driver, profile = make_browser(1400, 1000, ("--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"))
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.browser
def test_html_report_works_offline(offline_browser, empty_store: Archive, tmp_path: Path):
    recs = [{"id": "b:0", "source": "b", "created_at": "2026-01-01T00:00:00Z", "prompt": "a heron fishing at dawn"}]
    for i in range(1, 12):
        recs.append({"id": f"b:{i}", "source": "b", "created_at": f"2026-01-{1 + i:02d}T00:00:00Z",
                     "prompt": EVIL if i == 3 else f"a heron fishing at dawn, take {i}", "parents": [f"b:{(i - 1) // 2}"]})
    ingest_records(empty_store, recs)
    page = tmp_path / "report.html"
    page.write_text(to_html(report_data(empty_store, "b:0")), "utf-8")
    d = offline_browser
    d.get(page.as_uri())
    d.implicitly_wait(10)
    assert d.find_elements("css selector", "#fig-tree .main-svg"), "the tree figure did not draw"
    assert d.find_elements("css selector", "#fig-fidelity .main-svg")
    points = d.execute_script("return document.querySelectorAll('#fig-tree .point').length")
    assert points == 12
    assert d.title.startswith("How “a heron fishing at dawn”") and "pwned" not in d.title
    assert EVIL.split(">")[0] in d.find_element("tag name", "body").text  # the markup shown as text
    severe = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
