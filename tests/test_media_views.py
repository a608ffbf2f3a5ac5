"""Thumbnails where people look: the dashboard (route, node panel, hover), the report and a snapshot, offline."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import polars as pl
import pytest
from PIL import Image
from selenium.webdriver.common.by import By

from archive.ingest import ingest
from archive.snapshot import snapshot, verify
from lineage.report import snapshot_report
from archive.sources.media import MediaSource
from archive.sources.simulate_media import sample_photographs, transform
from archive.store import Archive


def _ingest_chain(d: Path, pics: list, prompt: str) -> tuple[Archive, list[Path]]:
    """Each picture saved as JPEG with a sidecar naming the one before as its parent, then ingested."""
    src = d / "in"
    src.mkdir()
    files = []
    for i, p in enumerate(pics):
        f = src / f"g{i}.jpg"
        p.save(f, "JPEG", quality=90)
        side = {"prompt": f"{prompt}, take {i}", "created_at": f"2026-02-0{i + 1}T00:00:00Z"}
        if i:
            side["parents"] = [f"g{i - 1}.jpg"]
        (src / f"g{i}.json").write_text(json.dumps(side))
        files.append(f)
    a = Archive.open(d / "arc", create=True)
    ingest(a, MediaSource([src], archive=a))
    return a, files


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> tuple[Archive, list[str]]:
    """A root photograph and two generations of re-posts (text overlay, then crop), linked by sidecars."""
    img = Image.open(sample_photographs()[0]).convert("RGB")
    img.thumbnail((320, 320))
    rng = random.Random(2)
    pics = [img, transform(img, "text", rng)]
    pics.append(transform(pics[1], "reencode", rng))
    a, _ = _ingest_chain(tmp_path_factory.mktemp("chain"), pics, "an astronaut")
    ids = a.posts().sort("created_at").get_column("id").to_list()
    return a, ids


def test_thumbnail_route_and_node_panel(chain):
    from dashboard.app import create_app
    from dashboard.thumbs import picture_facts, thumbnails

    a, ids = chain
    app = create_app(a.path)
    client = app.server.test_client()
    th = thumbnails(a)
    r = client.get(f"/media/thumb/{th[ids[1]]}")
    assert r.status_code == 200 and r.mimetype == "image/webp" and r.data[8:12] == b"WEBP"
    assert client.get("/media/thumb/ARCHIVE").status_code == 404  # only content-addressed thumbnail names
    assert b"remix-archivist store" not in client.get("/media/thumb/..%2FARCHIVE").data
    facts = picture_facts(a, ids[1], ids[0], th)
    assert facts["src"].endswith(th[ids[1]]) and facts["parent_src"].endswith(th[ids[0]])
    assert 0 <= facts["visual_drift"] < 0.4
    from dashboard.panels import node_panel

    panel = node_panel({"id": ids[1], "depth": 1, "text": "x"}, root=ids[0], parent={"id": ids[0]}, diff=[],
                       blame=[], drift=None, edges=[], record=None, path=[{"id": ids[0], "depth": 0, "text": "x"}],
                       styles=None, picture=facts)
    imgs = [c for c in _walk(panel) if getattr(c, "src", None)]
    assert [i.src for i in imgs] == [facts["parent_src"], facts["src"]]


def _walk(c):
    yield c
    kids = getattr(c, "children", None)
    for k in kids if isinstance(kids, list) else ([kids] if kids is not None else []):
        yield from _walk(k)


def test_snapshot_holds_thumbnails_and_report_pictures(chain, tmp_path: Path):
    import lineage.report  # noqa: F401  registers the report hook

    a, ids = chain
    bag = snapshot(a, ids[2], out=tmp_path, report=snapshot_report)
    assert verify(bag).ok
    index = json.loads((bag / "data" / "thumbnails" / "index.json").read_text())
    assert set(index) == set(ids)
    for e in index.values():
        assert (bag / "data" / e["thumbnail"]).read_bytes()[8:12] == b"WEBP"
    page = (bag / "data" / "report" / "drift-report.html").read_text()
    assert page.count("data:image/webp;base64,") >= 5  # three posts, two with their parent beside them


@pytest.mark.browser
def test_snapshot_report_draws_the_chain_offline(chain, tmp_path: Path):
    import lineage.report  # noqa: F401
    from tests.browser.dashboard_harness import make_browser

    a, ids = chain
    bag = snapshot(a, ids[0], out=tmp_path, report=snapshot_report)
    driver, profile = make_browser(1200, 900, ("--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"))
    try:
        driver.get((bag / "data" / "report" / "drift-report.html").as_uri())
        driver.implicitly_wait(10)
        figs = driver.find_elements("css selector", "figure.picture")
        assert len(figs) == 3
        loaded = driver.execute_script(
            "return [...document.querySelectorAll('figure.picture img')].map(i => i.complete && i.naturalWidth)")
        assert len(loaded) == 5 and all(w and w > 0 for w in loaded), loaded
        assert "visual drift" in figs[1].text
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == [], severe
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.browser
def test_explorer_shows_the_picture_beside_its_parents(chain):
    import urllib.parse

    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from dashboard.thumbs import thumbnails
    from tests.browser.dashboard_harness import Server, make_browser

    a, ids = chain
    server = Server(a.path)
    driver, profile = make_browser(1400, 1000)
    try:
        q = urllib.parse.urlencode({"root": ids[0], "node": ids[2]})
        driver.get(f"{server.url}/explore?{q}")
        WebDriverWait(driver, 60).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".picture-block img.thumb")))
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "const i = [...document.querySelectorAll('.picture-block img.thumb')];"
            "return i.length == 2 && i.every(x => x.complete && x.naturalWidth > 0)"))
        srcs = [e.get_attribute("src") for e in driver.find_elements(By.CSS_SELECTOR, ".picture-block img.thumb")]
        assert all("/media/thumb/" in s for s in srcs)
        assert "visual drift from its parent" in driver.find_element(By.CSS_SELECTOR, ".visual-drift").text
        # the tree's markers are the posts' pictures (three posts, three thumbnails, each loaded from the route)
        WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(
            By.CSS_SELECTOR, "#explore-graph .layer-above .imagelayer image")) == 3)
        hrefs = driver.execute_script("return [...document.querySelectorAll('#explore-graph .imagelayer image')]"
                                      ".map(i => i.getAttribute('href'))")
        assert sorted(h.rsplit("/", 1)[1] for h in hrefs) == sorted(thumbnails(a)[i] for i in ids)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        server.stop()


@pytest.fixture(scope="module")
def long_chain(tmp_path_factory) -> tuple[Archive, list[Path]]:
    """One photograph and four generations of re-posts (each crops its parent), linked by sidecars, analysed."""
    from lineage.analyze import analyze

    img = Image.open(sample_photographs()[1]).convert("RGB")
    img.thumbnail((320, 320))
    rng = random.Random(5)
    pics = [img]
    for _ in range(4):
        pics.append(transform(transform(pics[-1], "crop", rng), "text", rng))
    a, files = _ingest_chain(tmp_path_factory.mktemp("long"), pics, "a photograph")
    analyze(a, n_boot=20)
    return a, files


def _expected_visual_fidelity(files: list[Path]) -> list[float]:
    """1 - visual drift from the root, from each file's own PDQ (computed here, not read from the store)."""
    import numpy as np

    from archive.media.fingerprint import pdq_of

    bits = [np.unpackbits(np.frombuffer(bytes.fromhex(pdq_of(np.asarray(Image.open(f).convert("RGB")))[0]),
                                        np.uint8)) for f in files]
    return [1 - min(1.0, int((b != bits[0]).sum()) / 128) for b in bits]


def test_visual_decay_from_analyze_and_on_the_decay_page(long_chain):
    from dashboard.app import create_app
    from dashboard.figures import fidelity_figure
    from dashboard.thumbs import visual_decay_data

    a, files = long_chain
    want = _expected_visual_fidelity(files)
    assert want[0] == 1.0 and want[-1] < want[1] < 1.0  # crops compound: the last is the furthest from the root
    fid = a.read_table("analysis_visual_fidelity").sort("depth")
    assert fid.get_column("depth").to_list() == [0, 1, 2, 3, 4]
    assert fid.get_column("nodes").to_list() == [1] * 5
    assert fid.get_column("fidelity").to_list() == pytest.approx(want, abs=2 / 128)  # PDQ of the 512 px hash copy
    app = create_app(a.path)
    with app.server.app_context():
        got = visual_decay_data(a)
        assert got is not None
        vfid, vfit = got
        assert vfid.get_column("fidelity").to_list() == fid.get_column("fidelity").to_list()
        assert vfit["depths"] == 5 and (vfit["reason"] or vfit["half_life"] > 0)
        from dashboard.pages.decay import _visual_block

        block = _visual_block(a)
    graph = next(c for c in _walk(block[0]) if getattr(c, "id", None) == "decay-visual")
    ys = list(graph.figure.data[0].y)
    assert ys == pytest.approx(want, abs=2 / 128)
    assert "picture" in graph.figure.layout.title.text
    assert fidelity_figure(vfid.head(0), vfit, of="picture").layout.annotations[0].text == "no pictures to measure"


@pytest.mark.browser
def test_decay_page_shows_visual_decay_in_chromium(long_chain):
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browser.dashboard_harness import Server, make_browser

    a, files = long_chain
    want = _expected_visual_fidelity(files)
    server = Server(a.path)
    driver, profile = make_browser(1400, 1000)
    try:
        driver.get(f"{server.url}/decay")
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(
            "const g = document.querySelector('#decay-visual .js-plotly-plot');"
            "return g && g.data && g.data.length > 0"))
        ys = driver.execute_script(  # the decoded values (the figure ships them as a typed array)
            "return Array.from(document.querySelector('#decay-visual .js-plotly-plot')._fullData[0].y)")
        assert ys == pytest.approx(want, abs=2 / 128)
        title = driver.find_element(By.CSS_SELECTOR, "#decay-visual .gtitle").text
        assert title.startswith("Visual decay")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#decay-visual .scatterlayer .point")) == 5
        assert "visual half-life" in driver.find_element(By.CSS_SELECTOR, ".visual-cards").text
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == [], severe
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        server.stop()


def test_tree_markers_are_pictures_up_to_a_limit(monkeypatch):
    from dashboard.figures import tree_figure

    n = 5
    nodes = pl.DataFrame({"id": [f"p{i}" for i in range(n)], "parent": [None] + [f"p{i - 1}" for i in range(1, n)],
                          "depth": list(range(n)), "text": ["x"] * n, "views": [1] * n, "remixes": [1] * n,
                          "placeholder": [False] * n})
    pics = {f"p{i}": f"/media/thumb/{i}.webp" for i in (0, 2, 3)}
    fig = tree_figure(nodes, root="p0", pictures=pics)
    posts = next(t for t in fig.data if t.name == "posts")
    at = {i: (x, y) for i, x, y in zip(posts.customdata, posts.x, posts.y)}
    assert sorted(im.source for im in fig.layout.images) == sorted(pics.values())
    for im in fig.layout.images:  # each picture sits on its own post's marker
        assert (im.x, im.y) == at[im.name] and im.source == pics[im.name]
    assert not tree_figure(nodes, root="p0").layout.images  # no pictures: plain markers
    assert len(tree_figure(nodes, root="p0", pictures=pics, max_depth=2).layout.images) == 2  # drawn posts only
    monkeypatch.setattr("dashboard.figures.MAX_PICTURE_MARKERS", 2)
    assert not tree_figure(nodes, root="p0", pictures=pics).layout.images  # too many to see: plain markers
