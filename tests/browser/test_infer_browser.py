"""Inferred links in the explorer, in a real headless Chromium: dashed, toggled, and saying why."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import polars as pl
import pytest
from dashboard_harness import Server, make_browser
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive
from lineage.infer import infer, inferred_edges
from test_dashboard_browser import node_offset, settle, severe, shoot, wait

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def inferred_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A small archive whose links were not declared, with ``archivist infer`` run on it."""
    path = tmp_path_factory.mktemp("infer") / "archive"
    recs, _ = simulate(SimParams(seed=21, posts=300, self_remix=0.3))
    a = Archive.open(path, create=True)
    ingest_records(a, [{k: v for k, v in r.items() if k != "parents"} for r in recs], source="simulate")
    infer(a)
    inf = inferred_edges(a).sort(["confidence", "child"], descending=[True, False])
    return path, inf.get_column("child")[0]


@pytest.fixture(scope="module")
def page(inferred_store):
    path, child = inferred_store
    server = Server(path)
    driver, profile = make_browser()
    yield server, driver, child
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
    server.stop()


def _traces(driver) -> list[dict]:
    return driver.execute_script(
        "const gd=document.querySelector('#explore-graph .js-plotly-plot');"
        "return gd && gd._fullData ? gd._fullData.map(t => ({name: t.name, dash: t.line ? t.line.dash : null}))"
        " : []")


def test_inferred_links_are_dashed_toggle_and_say_why(page, screenshots):
    server, driver, child = page
    driver.get(server.url + f"/explore?node={child}&edges=all")
    settle(driver)
    wait(driver, lambda d: any(t["name"] == "inferred links" for t in _traces(d)))
    assert next(t for t in _traces(driver) if t["name"] == "inferred links")["dash"] == "dash"
    assert next(t for t in _traces(driver) if t["name"] == "remix edges")["dash"] != "dash"
    # selecting the post says why it has that parent
    why = wait(driver, lambda d: d.find_elements(By.ID, "explore-why"))[0].text
    assert why.startswith("inferred, confidence ") and "% the same" in why and "after" in why
    # hovering it says the same
    dx, dy = node_offset(driver, child)
    graph = driver.find_element(By.CSS_SELECTOR, "#explore-graph .js-plotly-plot")
    ActionChains(driver).move_to_element_with_offset(graph, int(dx), int(dy)).pause(0.5).perform()
    wait(driver, lambda d: "inferred, confidence" in d.find_element(By.CSS_SELECTOR, ".hoverlayer").text)
    shoot(driver, screenshots / "explore-inferred.png")
    # the toggle hides the inferred links again
    driver.find_element(By.CSS_SELECTOR, "#explore-edges input").click()
    wait(driver, lambda d: _traces(d) and not any(t["name"] == "inferred links" for t in _traces(d)))
    assert severe(driver) == []


def test_overview_counts_links_by_evidence(page):
    server, driver, _ = page
    driver.get(server.url + "/")
    settle(driver)
    text = driver.find_element(By.CSS_SELECTOR, ".cards").text
    assert "declared remix links" in text and "C2PA links" in text and "inferred links" in text
    time.sleep(0.1)
