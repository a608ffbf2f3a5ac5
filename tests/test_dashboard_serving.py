"""The dashboard as a server: no 500s at start-up, memory of one store version, writers beside it.

Cases: dashboard-startup-callback-race (simultaneous first callbacks to a just-started dashboard
got HTTP 500 "Callback function not found"), dashboard-memory-grows-per-store-version (the views
and memo entries of every store version seen stayed in memory).
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from archive.ingest import ingest_records
from archive.store import Archive

ARCHIVIST = str(Path(sys.executable).parent / "archivist")
SEARCH = {"output": "explore-hits.children", "outputs": {"id": "explore-hits", "property": "children"},
          "inputs": [{"id": "explore-search", "property": "value", "value": None}], "changedPropIds": [],
          "state": [{"id": "explore-state", "property": "data", "value": None}]}


def page(path: str) -> dict:
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                       {"id": "_pages_location", "property": "search", "value": ""}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, body: dict, timeout: float = 120) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_dash-update-component", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_simultaneous_first_callbacks_of_a_fresh_dashboard(sample_store: Path):
    """The case's steps, three starts: 8 callbacks at once as soon as the port opens, every one 200."""
    for _ in range(3):
        port = free_port()
        p = subprocess.Popen([ARCHIVIST, "dashboard", "--archive", str(sample_store), "--port", str(port),
                              "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            t = time.time()
            while time.time() - t < 120:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    assert p.poll() is None, p.stderr.read() if p.stderr else ""
                    time.sleep(0.05)
            codes: list[int] = []
            ths = [threading.Thread(target=lambda: codes.append(post(port, SEARCH))) for _ in range(8)]
            [x.start() for x in ths]
            [x.join() for x in ths]
            assert sorted(codes) == [200] * 8
        finally:
            p.terminate()
            p.wait(timeout=30)


def test_memory_holds_the_views_of_one_store_version(sample_copy: Path):
    """After many new store versions the app holds the views of the newest (and at most one other)
    version, and no memo entry of an older version: the bound does not grow with versions seen."""
    from dashboard.app import create_app

    app = create_app(sample_copy)
    arc = app.server.config["ARCHIVE"]
    memo = app.server.extensions["remix_memo"]
    client = app.server.test_client()
    writer = Archive.open(sample_copy)
    for i in range(6):
        for path in ("/", "/drift", "/explore"):
            assert client.post("/_dash-update-component", json=page(path)).status_code == 200
        ingest_records(writer, [{"id": f"t:mem{i}", "source": "t", "created_at": "2026-05-01T00:00:00Z",
                                 "prompt": f"one more post {i}"}], source="t")
        assert client.post("/_dash-update-component", json=page("/")).status_code == 200  # sees the new version
        arc.settle(60)
    assert client.post("/_dash-update-component", json=page("/drift")).status_code == 200
    latest = writer.version()
    assert arc.view_version() == latest
    cached = {k[1] for k in arc._cache}  # (name, version, time[, mode, inferred version])
    assert latest in cached and len(cached) <= 2, cached
    old = [k for k in memo._d if isinstance(k, tuple) and len(k) > 1 and type(k[1]) is int and k[1] < latest]
    assert old == []


def test_a_request_never_waits_for_a_new_versions_views(sample_copy: Path):
    """With background follow, the request after an ingest is answered from the views it has: the
    new version's views are built by one thread, and a newer version is reported meanwhile."""
    reader = Archive.open(sample_copy, read_only=True)
    reader.follow = "background"
    v0 = reader.view_version()
    reader.trees()
    ingest_records(Archive.open(sample_copy), [{"id": "t:x", "source": "t", "created_at": "2026-05-01T00:00:00Z"}],
                   source="t")
    assert reader.view_version() in (v0, v0 + 1)  # never blocks: the old version until the new one is ready
    assert reader.settle(60) == v0 + 1 and reader.newer_version() is None
    assert "t:x" in reader.posts().get_column("id").to_list()


def _page_text(client, path: str, search: str = "") -> str:
    body = page(path)
    body["inputs"][1]["value"] = search
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200
    return r.get_data(as_text=True)


def _drawn(app, slot, version: int, timeout: float = 60) -> None:
    pages = app.server.extensions["remix_pages"]
    t = time.time()
    while time.time() - t < timeout:
        got = pages.lookup(slot)
        if got is not None and got[0][0] >= version:
            return
        time.sleep(0.05)
    raise AssertionError(f"{slot} was not drawn for store version {version} within {timeout} s")


def test_pages_are_served_from_their_last_drawing_while_drawn_again(sample_copy: Path):
    """After an ingest, a page of whole-archive figures is answered at once from the drawing of the
    older version, saying so, while one background thread draws it for the new version; the next
    request gets the new drawing (dashboard-memory-grows-per-store-version: pages recomputed inside
    requests for 35 s after each ingest)."""
    from dashboard.app import create_app

    app = create_app(sample_copy)
    arc = app.server.config["ARCHIVE"]
    client = app.server.test_client()
    v0 = arc.view_version()
    first = _page_text(client, "/")
    assert f"store version {v0};" in first and "being drawn again" not in first  # drawn at start-up
    ingest_records(Archive.open(sample_copy), [{"id": "t:new", "source": "t", "created_at": "2026-05-01T00:00:00Z",
                                                "prompt": "one more post"}], source="t")
    stale = _page_text(client, "/")
    assert f"store version {v0};" in stale and f"This page was drawn for store version {v0}" in stale
    arc.settle(60)
    _page_text(client, "/")  # asks for the drawing of the version now shown
    _drawn(app, ("overview", ()), v0 + 1)
    fresh = _page_text(client, "/")
    assert f"store version {v0 + 1};" in fresh and "being drawn again" not in fresh


def test_a_page_never_drawn_waits_at_most_the_budget(sample_copy: Path, monkeypatch):
    """A page (and query) never drawn before is drawn by the background thread; the request waits at
    most ``BUDGET_S`` and otherwise says the page is being drawn. Here the budget is 0 s."""
    from dashboard import pagecache
    from dashboard.app import create_app

    app = create_app(sample_copy)
    client = app.server.test_client()
    monkeypatch.setattr(pagecache, "BUDGET_S", 0.0)
    waiting = _page_text(client, "/bleed", "?view=sankey")
    assert "This page is being drawn for store version" in waiting and "Sankey" not in waiting
    _drawn(app, ("bleed", (("view", "sankey"),)), app.server.config["ARCHIVE"].view_version())
    drawn = _page_text(client, "/bleed", "?view=sankey")
    assert "being drawn" not in drawn and '"type":"sankey"' in drawn.replace(" ", "")
