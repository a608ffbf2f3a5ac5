"""What a person does in the dashboard, in a real headless Chromium over the demo archive.

Every page is opened and screenshotted (tests/browser/screenshots/), the browser
console must hold no SEVERE error, and no alert may fire.
"""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser

PAGES = [("overview", "/"), ("explore", "/explore"), ("drift", "/drift"), ("bleed", "/bleed"),
         ("decay", "/decay"), ("archive", "/archive")]


def wait(driver, cond, timeout: float = 40):  # generous: CI machines are shared and busy
    # an element found by the condition may be re-rendered by Dash before it is read: the condition is
    # simply asked again (it failed once at 1 in 5 suite runs: node-panel-body replaced between find and .text)
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=[StaleElementReferenceException]).until(cond)


def settle(driver, timeout: float = 40) -> None:
    """Wait until Dash has no callback in flight and the page stopped changing."""
    def idle(d):
        return d.execute_script(
            "return document.readyState === 'complete' && !document.querySelector('[data-dash-is-loading=\"true\"]')"
            " && !!document.querySelector('#_pages_content') && document.querySelector('#_pages_content').children.length > 0")
    wait(driver, idle, timeout)
    time.sleep(0.4)
    wait(driver, idle, timeout)


def shoot(driver, path) -> None:
    """A screenshot of the whole page (the window grows to the page's height for the shot)."""
    w, h = driver.get_window_size().values()
    full = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 3200)")
    driver.set_window_size(w, max(h, full))
    time.sleep(0.5)
    driver.save_screenshot(str(path))
    driver.set_window_size(w, h)


def severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def assert_no_alert(driver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - raises when no alert is open


def node_offset(driver, node_id: str) -> tuple[float, float]:
    """Where a node of the tree figure is, relative to the graph's centre (for a real mouse click)."""
    return driver.execute_script("""
        const gd = document.querySelector('#explore-graph .js-plotly-plot');
        const tr = gd._fullData.find(t => t.name === 'posts');
        const i = Array.from(tr.customdata).indexOf(arguments[0]);
        if (i < 0) return null;
        const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
        const px = xa._offset + xa.l2p(tr.x[i]), py = ya._offset + ya.l2p(tr.y[i]);
        const r = gd.getBoundingClientRect();
        return [px - r.width / 2, py - r.height / 2];
    """, node_id)


def test_every_page_opens_without_console_errors(server, browser, screenshots):
    browser.get(server.url + "/")
    settle(browser)
    browser.get_log("browser")  # start clean
    for name, path in PAGES:
        browser.get(server.url + path)
        settle(browser)
        h1 = browser.find_element(By.TAG_NAME, "h1").text
        assert h1, f"{path} has no heading"
        assert "Error" not in browser.find_element(By.ID, "_pages_content").text[:200]
        shoot(browser, screenshots / f"{name}.png")
        assert severe(browser) == [], f"console errors on {path}"
        assert_no_alert(browser)


def test_find_a_tree_click_a_node_see_diff_and_blame(server, browser, screenshots):
    browser.get(server.url + "/explore")
    settle(browser)
    box = browser.find_element(By.ID, "explore-search")
    box.send_keys("corgi wetsuit", Keys.ENTER)
    link = wait(browser, EC.element_to_be_clickable((By.CSS_SELECTOR, "#explore-hits a")))
    hit_id = link.text
    link.click()
    settle(browser)
    wait(browser, lambda d: parse_qs(urlparse(d.current_url).query).get("node") == [hit_id])
    # the tree is drawn and the found post is selected
    wait(browser, lambda d: d.execute_script(
        "const gd=document.querySelector('#explore-graph .js-plotly-plot');"
        "return gd && gd.data && gd.data.some(t => t.name === 'posts')"))
    wait(browser, lambda d: hit_id in d.find_element(By.ID, "node-panel-body").text)
    # click a remix (a post with a parent) that is drawn
    ids = browser.execute_script(
        "const gd=document.querySelector('#explore-graph .js-plotly-plot');"
        "return Array.from(gd._fullData.find(t => t.name === 'posts').customdata)")
    target = next(i for i in ids[1:] if i != hit_id)
    dx, dy = node_offset(browser, target)
    graph = browser.find_element(By.CSS_SELECTOR, "#explore-graph .js-plotly-plot")
    ActionChains(browser).move_to_element_with_offset(graph, int(dx), int(dy)).pause(0.3).click().perform()
    wait(browser, lambda d: target in d.find_element(By.ID, "node-panel-body").text)
    settle(browser)
    panel = browser.find_element(By.ID, "node-panel-body")
    diff = panel.find_elements(By.CSS_SELECTOR, ".diff span")
    assert diff, "no word diff shown"
    assert panel.find_elements(By.CSS_SELECTOR, ".w-add, .w-del"), "the diff highlights no added or removed word"
    blame = panel.find_elements(By.CSS_SELECTOR, ".blame .w-blame")
    assert blame and all(s.get_attribute("style") for s in blame), "blame words carry no colour"
    assert "path from the root" in panel.text.lower()
    # the URL names the clicked node: the view can be shared
    wait(browser, lambda d: parse_qs(urlparse(d.current_url).query).get("node") == [target])
    shoot(browser, screenshots / "explore-node.png")
    assert severe(browser) == []


def test_shared_link_opens_the_same_view(server, browser):
    browser.get(server.url + "/explore?node=simulate:s42_0000099")
    settle(browser)
    panel = wait(browser, EC.presence_of_element_located((By.ID, "node-panel-body")))
    assert "simulate:s42_0000099" in panel.text
    q = parse_qs(urlparse(browser.current_url).query)
    assert q["root"] == ["simulate:s42_0000098"] and q["node"] == ["simulate:s42_0000099"]


def test_hostile_prompt_is_text_and_runs_nothing(server, browser, screenshots):
    browser.get(server.url + "/explore?node=messy:xss")
    settle(browser)
    panel = wait(browser, EC.presence_of_element_located((By.ID, "node-panel-body")))
    prompt = panel.find_element(By.CSS_SELECTOR, ".prompt").text
    assert "<script>alert(1)</script>" in prompt and "<img src=x onerror=alert(1)>" in prompt
    assert "<b>mallory</b>" in panel.text  # the author, shown literally
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"], #_pages_content script, "
                                  "#_pages_content b').length") == 0
    # hover labels in the figure are escaped too
    texts = browser.execute_script(
        "const gd=document.querySelector('#explore-graph .js-plotly-plot');"
        "return Array.from(gd._fullData.find(t => t.name === 'posts').hovertext).join(' ')")
    assert "&lt;script&gt;" in texts and "<script>" not in texts
    browser.find_element(By.ID, "explore-search").send_keys("mallory onerror", Keys.ENTER)
    time.sleep(1.0)
    settle(browser)
    shoot(browser, screenshots / "explore-xss.png")
    assert_no_alert(browser)
    assert severe(browser) == []


def test_depth_control_and_collapse(server, browser):
    browser.get(server.url + "/explore")
    settle(browser)

    def drawn(d):
        return d.execute_script(
            "const gd=document.querySelector('#explore-graph .js-plotly-plot');"
            "const t = gd && gd._fullData && gd._fullData.find(t => t.name === 'posts'); return t ? t._length : 0")

    full = wait(browser, drawn)
    browser.find_element(By.ID, "explore-toggle").click()  # collapse the root
    try:
        wait(browser, lambda d: drawn(d) == 1, 10)
    except TimeoutException:
        pytest.fail(f"collapsing the root still draws {drawn(browser)} of {full} posts")
    assert "collapsed=" in browser.current_url


def test_as_of_date_and_sankey_view(server, browser, screenshots, demo_store):
    import polars as pl

    from archive.store import Archive

    then = Archive.open(demo_store, read_only=True).lineage("2026-03-02").filter(
        pl.col("root") == "simulate:s42_0000098").height
    browser.get(server.url + "/explore?root=simulate:s42_0000098&as_of=2026-03-02&depth=99")
    settle(browser)
    caption = wait(browser, lambda d: d.find_element(By.ID, "explore-caption").text)
    assert "as of 2026-03-02" in caption
    posts = browser.execute_script(
        "const gd=document.querySelector('#explore-graph .js-plotly-plot');"
        "return gd._fullData.find(t => t.name === 'posts')._length")
    assert posts == then  # the tree as it was at the end of that day
    browser.get(server.url + "/bleed")
    settle(browser)
    browser.find_element(By.CSS_SELECTOR, "#bleed-kind input[value='sankey']").click()
    wait(browser, lambda d: d.execute_script(
        "const gd=document.querySelector('#bleed-flow .js-plotly-plot');"
        "return gd && gd._fullData && gd._fullData[0].type === 'sankey'"))
    assert browser.current_url.endswith("/bleed?view=sankey")  # the view is in the URL
    shoot(browser, screenshots / "bleed-sankey.png")
    assert severe(browser) == []
    assert_no_alert(browser)
