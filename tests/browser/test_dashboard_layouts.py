"""Every page at a laptop size (1280x800) and a narrow, tall one (800x1000): no console error,
no folded-post labels drawn over each other, and a 404 page that leads somewhere."""
from __future__ import annotations

import shutil

import pytest
from dashboard_harness import make_browser
from selenium.webdriver.common.by import By
from test_dashboard_browser import PAGES, settle, severe, shoot

pytestmark = pytest.mark.browser

SIZES = [(1280, 800), (800, 1000)]


@pytest.fixture(scope="module", params=SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def sized_browser(request):
    driver, profile = make_browser(*request.param)
    yield driver, request.param
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _overlaps(rects: list[dict]) -> list[tuple[int, int]]:
    bad = []
    for i, a in enumerate(rects):
        for j in range(i + 1, len(rects)):
            b = rects[j]
            if (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
                    and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]):
                bad.append((i, j))
    return bad


def test_every_page_at_both_sizes_without_console_errors(server, sized_browser, screenshots):
    browser, (w, h) = sized_browser
    browser.get_log("browser")
    for name, path in [*PAGES, ("not-found", "/no/such/page")]:
        browser.get(server.url + path)
        settle(browser)
        shoot(browser, screenshots / f"layout-{w}x{h}-{name}.png")
        assert severe(browser) == [], f"console errors on {path} at {w}x{h}"
        assert browser.execute_script("return document.documentElement.scrollWidth") <= w + 1, \
            f"{path} scrolls sideways at {w}x{h}"


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_folded_post_labels_never_overlap(server, sized_browser, depth):
    browser, (w, h) = sized_browser
    browser.get(server.url + f"/explore?root=simulate%3As42_0002363&depth={depth}")
    settle(browser)
    rects = browser.execute_script("""
        return Array.from(document.querySelectorAll('#explore-graph .textpoint text'))
            .filter(t => t.textContent.startsWith('+'))
            .map(t => { const r = t.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; });
    """)
    assert rects, "the tree has folded posts at this depth: some +N labels are drawn"
    assert _overlaps(rects) == [], f"+N labels drawn over each other at {w}x{h}, depth {depth}"


def test_not_found_page_leads_to_the_overview_and_search(server, sized_browser):
    browser, _ = sized_browser
    browser.get(server.url + "/nowhere")
    settle(browser)
    body = browser.find_element(By.ID, "not-found")
    assert "No page at this address" in body.text
    hrefs = {a.get_attribute("href").removeprefix(server.url) for a in body.find_elements(By.TAG_NAME, "a")}
    assert {"/", "/explore"} <= hrefs
    nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".topbar nav a")]
    assert "Not found" not in nav
