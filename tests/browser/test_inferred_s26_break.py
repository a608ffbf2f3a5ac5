"""Inferred links in a real headless Chromium, broken as a new user would (see
tests/test_inferred_views_s26_break.py for the archive): the toggle on a post whose declared tree
is one post, a rerun of ``archivist infer`` that cuts links while the dashboard runs, a cut link whose
parent id holds a right-to-left override and markup, and an archive whose inferred table is empty.
"""
from __future__ import annotations

import dataclasses
import urllib.parse
from pathlib import Path

import polars as pl
import pytest
from dashboard_harness import served
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from test_dashboard_browser import assert_no_alert, node_offset, settle, severe, wait

from archive.ingest import ingest_records
from archive.store import Archive
from lineage.infer import infer, inferred_cut, inferred_edges, load_weights
from tests.test_inferred_views_s26_break import EVIL, records

pytestmark = pytest.mark.browser




@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    """The archive with ``archivist infer`` run once (the chain k0 -> ... -> k5 inferred), served."""
    path = tmp_path_factory.mktemp("s26-browser") / "archive"
    a = Archive.open(path, create=True)
    ingest_records(a, records(), source="jsonl")
    infer(a)
    assert inferred_edges(a).filter(pl.col("child") == "jsonl:k5").get_column("parent").to_list() == ["jsonl:k4"]
    with served(path) as (server, driver):
        yield server, driver, path


def _open(server, driver, **query: str) -> None:
    driver.get(server.url + "/explore?" + urllib.parse.urlencode(query))
    settle(driver)


def _traces(driver) -> dict:
    return driver.execute_script(
        "const gd=document.querySelector('#explore-graph .js-plotly-plot');"
        "return gd && gd._fullData ? Object.fromEntries(gd._fullData.map(t => [t.name,"
        " {dash: t.line ? t.line.dash : null, ids: t.customdata ? Array.from(t.customdata) : null}])) : {}")


def _hover(driver, node: str) -> str:
    dx, dy = node_offset(driver, node)
    graph = driver.find_element(By.CSS_SELECTOR, "#explore-graph .js-plotly-plot")
    ActionChains(driver).move_to_element_with_offset(graph, int(dx), int(dy)).pause(0.5).perform()
    # the label's text as drawn (textContent: a label wider than the window is partly off screen)
    return wait(driver, lambda d: d.execute_script(
        "const t = document.querySelector('.hoverlayer .hovertext text');"
        "return t ? Array.from(t.querySelectorAll('tspan.line')).map(l => l.textContent).join(' ') : ''"))


def test_ticking_show_inferred_links_keeps_the_post_read_drawn(page):
    """/explore?node=jsonl:k5: its declared tree is itself (depth 1). Ticking "show inferred links" kept
    that depth, so in the six-post inferred tree jsonl:k5 (generation 5) was folded away and not selected."""
    server, driver, _ = page
    _open(server, driver, node="jsonl:k5")
    assert "inferred links" not in _traces(driver)
    driver.find_element(By.CSS_SELECTOR, "#explore-edges input").click()
    wait(driver, lambda d: "inferred links" in _traces(d))
    settle(driver)
    t = _traces(driver)
    assert t["inferred links"]["dash"] == "dash" and "jsonl:k5" in t["posts"]["ids"] and "selected" in t
    assert len(t["posts"]["ids"]) == 6
    # the tree list and the generations slider are those of the graph drawn
    assert wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#explore-tree").text.startswith("6 posts · "))
    assert driver.find_element(By.CSS_SELECTOR, "#explore-depth .rc-slider-handle, #explore-depth [role=slider]"
                               ).get_attribute("aria-valuemax") == "5"
    why = wait(driver, lambda d: d.find_elements(By.ID, "explore-why"))[0].text
    assert why.startswith("inferred, confidence ") and "after" in why
    assert "jsonl:k5" in _hover(driver, "jsonl:k5")
    # the prompts' markup is text: no element was made from it, no script ran
    assert driver.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert_no_alert(driver)
    assert severe(driver) == []


def test_the_overviews_inferred_links_card_opens_a_tree_that_has_some(page):
    """The overview's "inferred links (archivist infer)" card opened /explore?edges=all on the largest
    declared tree (d:1, 4 posts, no link of `archivist infer`): nothing dashed to see."""
    server, driver, _ = page
    driver.get(server.url + "/")
    settle(driver)
    driver.find_element(By.XPATH, "//a[.//div[text()='inferred links (archivist infer)']]").click()
    wait(driver, lambda d: "inferred links" in _traces(d))
    assert wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#explore-tree").text).startswith("6 posts · ")
    assert severe(driver) == []


def test_a_rerun_that_cuts_links_while_the_dashboard_runs_and_a_hostile_cut_parent(page):
    """`archivist infer` run again (here with a strict tree check) while the dashboard serves: a reload
    shows the cut, and the cut link's why names the parent jsonl:U+202E"evil <b>x</b>"LF"nl": its override
    reversed the rest of the sentence in the panel and in the hover label (whose first line, the post's
    id, was lost), its line break split it."""
    server, driver, path = page
    _open(server, driver, node="jsonl:k2", edges="all")
    assert "inferred links" in _traces(driver)
    a = Archive.open(path)
    infer(a, weights=dataclasses.replace(load_weights(), tree_check={"bias": 1.0, "log_descendants": -1.0}))
    assert ("jsonl:k2", EVIL) in inferred_cut(a).select("child", "parent").rows()
    _open(server, driver, node="jsonl:k2", edges="all")
    t = _traces(driver)
    assert t["posts"]["ids"] == ["jsonl:k2"] and "inferred links" not in t  # it heads its own tree now
    why = wait(driver, lambda d: d.find_elements(By.ID, "explore-why"))[0].text
    assert why.startswith("no inferred parent: the tree check cut the link to jsonl:⟨U+202E⟩evil <b>x</b> nl (")
    assert "\u202e" not in why and "\n" not in why
    assert driver.execute_script("return document.querySelectorAll('#explore-why *').length") == 0  # text only
    hover = " ".join(_hover(driver, "jsonl:k2").split())
    assert hover.startswith("jsonl:k2 depth 0") and "\u202e" not in hover
    assert "cut the link to jsonl:⟨U+202E⟩evil <b>x</b> nl" in hover
    # the overview counts the links in force after the rerun, each kind apart (the page drawn before the
    # rerun is shown, saying so, while it is drawn again: reload until it is)
    n = inferred_edges(a).height

    def cards(d) -> str | None:
        d.get(server.url + "/")
        settle(d)
        text = d.find_element(By.CSS_SELECTOR, ".cards").text
        return text if f"{n:,}\ninferred links (archivist infer)" in text else None

    cards = wait(driver, cards)
    assert n == 2
    assert "2\ndeclared remix links" in cards and "1\nC2PA links" in cards  # d:4's own "inferred" is stated
    assert severe(driver) == []


def test_an_archive_whose_inferred_table_is_empty(tmp_path: Path):
    """`archivist infer` on two unrelated posts stores an empty inferred_edges table: the overview
    says 0 and the explorer with inferred links shown draws the post alone, without errors."""
    path = tmp_path / "archive"
    a = Archive.open(path, create=True)
    ingest_records(a, [{"id": "e:1", "source": "e", "created_at": "2026-05-01T10:00:00Z", "prompt": "a red fox"},
                       {"id": "e:2", "source": "e", "created_at": "2026-05-02T10:00:00Z",
                        "prompt": "tax forms on a desk"}], source="e")
    infer(a)
    assert a.has_table("inferred_edges") and inferred_edges(a).height == 0
    with served(path) as (server, driver):
        driver.get(server.url + "/")
        settle(driver)
        assert "0\ninferred links (archivist infer)" in driver.find_element(By.CSS_SELECTOR, ".cards").text
        _open(server, driver, node="e:2", edges="all")
        t = _traces(driver)
        assert t["posts"]["ids"] == ["e:2"] and "inferred links" not in t
        assert not driver.find_elements(By.ID, "explore-why")
        assert severe(driver) == []
