"""Inferred links in the explorer, in a real headless Chromium: dashed, toggled, and saying why."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest
from dashboard_harness import served
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive
from lineage.infer import confidence_text, infer, inferred_cut, inferred_edges, load_weights, why_cut
from lineage.infer import why as explain
from test_dashboard_browser import node_offset, settle, severe, shoot, wait

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def inferred_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A small archive whose links were not declared, with ``archivist infer`` run on it."""
    path = tmp_path_factory.mktemp("infer") / "archive"
    recs, _ = simulate(SimParams(seed=21, posts=300, self_remix=0.3))
    a = Archive.open(path, create=True)
    # every other post keeps its declared link: the overview has both kinds to count
    ingest_records(a, [r if k % 2 else {kk: v for kk, v in r.items() if kk != "parents"} for k, r in enumerate(recs)],
                   source="simulate")
    infer(a)
    inf = inferred_edges(a).sort(["confidence", "child"], descending=[True, False])
    return path, inf.get_column("child")[0]




@pytest.fixture(scope="module")
def page(inferred_store):
    path, child = inferred_store
    with served(path) as (server, driver):
        yield server, driver, child, path


def _traces(driver) -> list[dict]:
    return driver.execute_script(
        "const gd=document.querySelector('#explore-graph .js-plotly-plot');"
        "return gd && gd._fullData ? gd._fullData.map(t => ({name: t.name, dash: t.line ? t.line.dash : null}))"
        " : []")


def test_inferred_links_are_dashed_toggle_and_say_why(page, screenshots):
    server, driver, child, path = page
    driver.get(server.url + f"/explore?node={child}&edges=all")
    settle(driver)
    wait(driver, lambda d: any(t["name"] == "inferred links" for t in _traces(d)))
    assert next(t for t in _traces(driver) if t["name"] == "inferred links")["dash"] == "dash"
    assert next(t for t in _traces(driver) if t["name"] == "remix edges")["dash"] != "dash"
    # selecting the post says why it has that parent
    why = wait(driver, lambda d: d.find_elements(By.ID, "explore-why"))[0].text
    row = inferred_edges(Archive.open(path)).filter(pl.col("child") == child).row(0, named=True)
    assert why == explain(row["features"], row["confidence"])  # the stored link's own confidence and features
    assert why.startswith(f"inferred, confidence {confidence_text(row['confidence'])}: prompt ") and " after" in why
    # hovering it says the same
    dx, dy = node_offset(driver, child)
    graph = driver.find_element(By.CSS_SELECTOR, "#explore-graph .js-plotly-plot")
    ActionChains(driver).move_to_element_with_offset(graph, int(dx), int(dy)).pause(0.5).perform()
    wait(driver, lambda d: why in " ".join(d.find_element(By.CSS_SELECTOR, ".hoverlayer").text.split()))
    shoot(driver, screenshots / "explore-inferred.png")
    # the toggle hides the inferred links again
    driver.find_element(By.CSS_SELECTOR, "#explore-edges input").click()
    wait(driver, lambda d: _traces(d) and not any(t["name"] == "inferred links" for t in _traces(d)))
    assert severe(driver) == []


def test_overview_counts_links_by_evidence(page):
    server, driver, _, path = page
    driver.get(server.url + "/")
    settle(driver)
    text = driver.find_element(By.CSS_SELECTOR, ".cards").text
    a = Archive.open(path)
    e = a.edges(edges="all")
    declared = e.filter(pl.col("evidence") == "declared").height
    inferred = e.filter(pl.col("evidence") == "inferred").height
    assert inferred == inferred_edges(a).height > 0 and declared > 0  # the fixture keeps every other link
    for figure, label in ((declared, "declared remix links"), (0, "C2PA links"),
                          (inferred, "inferred links (archivist infer)")):
        assert f"{figure:,}\n{label}" in text


@pytest.fixture(scope="module")
def cut_page(tmp_path_factory: pytest.TempPathFactory):
    """An archive where the tree check cut links: a real ``infer`` run with a strict tree check (every
    link whose child has two or more descendants is cut), so a small archive has cuts to show."""
    path = tmp_path_factory.mktemp("infer-cut") / "archive"
    recs, _ = simulate(SimParams(seed=21, posts=300, self_remix=0.3))
    a = Archive.open(path, create=True)
    ingest_records(a, [{k: v for k, v in r.items() if k != "parents"} for r in recs], source="simulate")
    infer(a, weights=dataclasses.replace(load_weights(), tree_check={"bias": 1.0, "log_descendants": -1.0}))
    row = inferred_cut(a).sort(["descendants", "child"], descending=[True, False]).row(0, named=True)
    with served(path) as (server, driver):
        yield server, driver, row, path


def test_a_post_whose_link_the_tree_check_cut_says_so(cut_page):
    server, driver, row, path = cut_page
    assert row["descendants"] >= 2
    driver.get(server.url + f"/explore?node={row['child']}&edges=all")
    settle(driver)
    why = wait(driver, lambda d: d.find_elements(By.ID, "explore-why"))[0].text
    assert why == why_cut(row["parent"], row["features"], row["confidence"], row["descendants"])
    assert why.startswith(f"no inferred parent: the tree check cut the link to {row['parent']} (confidence ")
    # it heads its own tree: the cut link is drawn nowhere
    assert inferred_edges(Archive.open(path)).filter(pl.col("child") == row["child"]).height == 0
    assert severe(driver) == []
