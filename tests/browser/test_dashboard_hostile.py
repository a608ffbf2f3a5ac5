"""The dashboard over a hostile archive in a real headless Chromium, under its own CSP.

Cases: dashboard-bidi-author-reverses-date-and-generation (an author ending in U+202E must not
reverse the byline after it), dashboard-drift-rate-hover-unescaped-root-id (a root id holding
markup is text in every label) and dashboard-no-security-headers-any-host (every page works under
the Content-Security-Policy: a blocked script or style is a console error).
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from dashboard_harness import Server, archivist
from selenium.webdriver.common.by import By
from test_dashboard_browser import PAGES, assert_no_alert, settle, severe, shoot, wait

pytestmark = pytest.mark.browser

HOSTILE = Path(__file__).parents[1] / "data" / "dashboard-hostile" / "hostile.jsonl"


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("hostile") / "archive"
    subprocess.run([*archivist(), "ingest", "jsonl", str(HOSTILE), "--archive", str(path)], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([*archivist(), "analyze", "--archive", str(path)], check=True, capture_output=True, timeout=300)
    s = Server(path)
    yield s
    s.stop()


def test_every_page_works_under_the_csp_with_hostile_records(hostile_server, browser, screenshots):
    browser.get_log("browser")
    for name, path in PAGES:
        browser.get(hostile_server.url + path)
        settle(browser)
        shoot(browser, screenshots / f"hostile-{name}.png")
        assert severe(browser) == [], f"console errors on {path} (a CSP violation is one)"
        assert_no_alert(browser)
        # a root id holding <a href> and <span style> shows as text: no link to evil.example is drawn
        assert browser.find_elements(By.CSS_SELECTOR, "a[href^='https://evil.example'], [*|href^='https://evil.example']") == []


def test_rtl_override_in_an_author_does_not_reverse_the_byline(hostile_server, browser, screenshots):
    browser.get(hostile_server.url + "/explore?root=x%3Aroot&node=x%3Aremix")
    settle(browser)
    line = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#node-panel-body .node-title + div"))
    shoot(browser, screenshots / "hostile-bidi-byline.png")
    spans = line.find_elements(By.XPATH, "./span")
    link = line.find_element(By.LINK_TEXT, "link to this view")
    assert [s.text for s in spans] == ["by mallory\u202e", "· 2026-02-05 00:00", "· generation 1"]
    # drawn left to right in reading order: the override ends with the author's isolate
    xs = [s.rect["x"] for s in spans] + [link.rect["x"]]
    assert xs == sorted(xs), xs
    assert browser.find_element(By.CSS_SELECTOR, "#node-panel-body .node-title + div bdi").text == "mallory\u202e"


def test_a_webgl_tree_draws_under_the_csp(tmp_path, browser):
    """Trees above GL_THRESHOLD drawn posts use WebGL (scattergl), whose shader compiler needs
    'unsafe-eval' in script-src; the page must draw them with no CSP violation."""
    import json

    from dashboard.figures import GL_THRESHOLD

    n = GL_THRESHOLD + 200
    lines = [json.dumps({"id": f"gl:{i}", "source": "gl", "created_at": f"2026-03-01T{i // 3600:02d}:{i // 60 % 60:02d}:"
                         f"{i % 60:02d}Z", "prompt": f"a fox number {i % 17} in the snow",
                         "parents": [f"gl:{(i - 1) // 4}"] if i else []}) for i in range(n)]
    src = tmp_path / "gl.jsonl"
    src.write_text("\n".join(lines) + "\n")
    path = tmp_path / "archive"
    subprocess.run([*archivist(), "ingest", "jsonl", str(src), "--archive", str(path)], check=True,
                   capture_output=True, timeout=120)
    s = Server(path)
    try:
        browser.get_log("browser")
        browser.get(s.url + "/explore?root=gl%3A0&depth=999")
        settle(browser)
        kind = wait(browser, lambda d: d.execute_script(
            "const gd = document.querySelector('#explore-graph .js-plotly-plot');"
            "const t = gd && gd._fullData && gd._fullData.find(t => t.name === 'posts');"
            "return t && t._length === arguments[0] ? t.type : null;", n))
        assert kind == "scattergl"
        time.sleep(1)
        # regl (plotly's WebGL layer) compiles shaders with new Function(): blocked by a CSP
        # without 'unsafe-eval', plotly then draws "WebGL is not supported by your browser"
        assert "WebGL is not supported" not in browser.find_element(By.ID, "explore-graph").text
        assert severe(browser) == []
    finally:
        s.stop()
