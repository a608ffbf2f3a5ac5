"""Page layouts and callbacks called as plain functions over the sample store (no browser)."""
from __future__ import annotations

import importlib
import json
from urllib.parse import parse_qs, urlparse

import plotly
import plotly.graph_objects as go
import polars as pl
import pytest
from dash import dcc, html

from archive.store import Archive

PAGES = ("overview", "explore", "drift", "bleed", "decay", "archive_page")


@pytest.fixture(scope="module")
def app(sample_store):
    from dashboard.app import create_app

    return create_app(sample_store)


@pytest.fixture(scope="module")
def pages(app):
    # the app loaded the page modules (Dash pages must be registered after the app exists)
    return {name: importlib.import_module(f"dashboard.pages.{name}") for name in PAGES}


@pytest.fixture()
def ctx(app):
    with app.server.app_context():
        yield


def walk(component):
    """Every component and string inside a layout."""
    stack = [component]
    while stack:
        c = stack.pop()
        yield c
        if isinstance(c, (list, tuple)):
            stack.extend(c)
        elif hasattr(c, "children") and c.children is not None:
            stack.append(c.children)


def text_of(component) -> str:
    return " ".join(c for c in walk(component) if isinstance(c, str))


def classes(component) -> list[str]:
    return [c.className for c in walk(component) if getattr(c, "className", None)]


def to_json(component) -> dict:
    return json.loads(json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder))


@pytest.mark.parametrize("name", PAGES)
def test_every_page_lays_out_and_serialises(pages, ctx, name):
    layout = pages[name].layout()
    h1 = next(c for c in walk(layout) if isinstance(c, html.H1))
    assert h1.children
    assert to_json(layout)["type"] == "Div"
    from dashboard.measures import MISSING

    assert MISSING not in text_of(layout)  # the sample is small enough to measure on the fly


def test_overview_counts_match_the_store(pages, ctx, sample_store):
    s = Archive.open(sample_store, read_only=True).stats()
    text = text_of(pages["overview"].layout())
    for key in ("posts", "trees", "quarantined"):
        assert f"{s[key]:,}" in text


def test_archive_page_lists_every_quarantine_reason(pages, ctx, sample_store):
    q = Archive.open(sample_store, read_only=True).quarantine()
    text = text_of(pages["archive_page"].layout())
    for reasons in q.get_column("reasons").to_list():
        for r in reasons:
            assert r in text
    assert "No snapshots yet" in text


def test_initial_state_from_a_shared_url(pages, ctx):
    ex = pages["explore"]
    from dashboard.data import archive

    s = ex.initial_state(archive(), {"node": "simulate:s42_0000099", "depth": "3", "collapsed": "a,b"})
    assert s["root"] == "simulate:s42_0000098" and s["node"] == "simulate:s42_0000099"
    assert s["depth"] == 3 and s["collapsed"] == ["a", "b"] and s["size"] == "views"
    # the URL the page writes back opens the same state
    q = {k: v[0] for k, v in parse_qs(urlparse(ex.state_href(s)).query).items()}
    assert ex.initial_state(archive(), q) == s
    # no query: the largest tree, its root selected
    s0 = ex.initial_state(archive(), {})
    assert s0["root"] == archive().trees().get_column("root")[0] == s0["node"]


def test_next_state_follows_user_actions(pages):
    ex = pages["explore"]
    s = {"root": "r", "node": "r", "compare": None, "depth": 2, "size": "views", "as_of": None,
         "collapsed": [], "expanded": []}
    click = {"points": [{"customdata": "x", "hovertext": "x"}]}
    assert ex.next_state(s, "explore-graph", click=click)["node"] == "x"
    assert ex.next_state(s, "explore-graph", click=click, pick="compare")["compare"] == "x"
    folded = {"points": [{"customdata": "y", "hovertext": "y"}]}
    assert ex.next_state(s, "explore-graph", click=folded, folded={"y"})["expanded"] == ["y"]
    # state comes from data, not from what the hover says: a prompt about "a hidden temple" opens nothing
    temple = {"points": [{"customdata": "x", "hovertext": "a hidden temple, 3 remixes hidden"}]}
    assert ex.next_state(s, "explore-graph", click=temple, folded={"y"})["expanded"] == []
    c = ex.next_state(s, "explore-toggle")
    assert c["collapsed"] == ["r"]
    e = ex.next_state(c, "explore-toggle")
    assert e["collapsed"] == [] and e["expanded"] == ["r"]
    t = ex.next_state({**c, "node": "x"}, "explore-tree", tree="other")
    assert (t["root"], t["node"], t["collapsed"], t["depth"]) == ("other", "other", [], None)
    assert ex.next_state(s, "explore-asof", as_of="2026-04-01T00:00:00")["as_of"] == "2026-04-01"
    assert ex.next_state(c, "explore-reset")["collapsed"] == []


def test_auto_depth_keeps_big_trees_drawable(pages):
    assert pages["explore"].auto_depth([(0, 1), (1, 30), (2, 900), (3, 5000)]) == 2


def test_draw_tree_returns_the_tree_coloured_by_drift(pages, ctx, sample_store):
    root = Archive.open(sample_store, read_only=True).trees().get_column("root")[0]
    fig, caption, folded = pages["explore"].draw_tree({"root": root, "node": root, "depth": 3, "size": "remixes"})
    posts = next(t for t in fig.data if t.name == "posts")
    lin = Archive.open(sample_store, read_only=True).lineage().filter(pl.col("root") == root)
    assert len(posts.customdata) == lin.filter(pl.col("depth") <= 3).height
    assert fig.layout.meta["hidden"] == lin.filter(pl.col("depth") > 3).height
    # the posts a click opens: exactly the drawn ones at the last drawn generation that have remixes
    assert sorted(folded) == sorted(set(lin.filter(pl.col("depth") == 4).get_column("parent").to_list()))
    assert posts.marker.colorscale is not None  # drift colours
    assert f"{lin.height:,} posts" in text_of(caption)


def test_draw_tree_before_the_tree_existed(pages, ctx, sample_store):
    root = Archive.open(sample_store, read_only=True).trees().sort("first_at").get_column("root")[-1]
    fig, caption, _ = pages["explore"].draw_tree({"root": root, "as_of": "2026-03-01"})
    assert fig.layout.annotations[0].text == f"{root} did not exist yet on 2026-03-01"


def test_draw_tree_of_an_unknown_id_says_so_and_offers_search(pages, ctx):
    fig, caption, _ = pages["explore"].draw_tree({"root": "simulate:s42_000102", "as_of": None})
    assert fig.layout.annotations[0].text == "No post with the id simulate:s42_000102 in this archive"
    said = text_of(caption)
    assert "None" not in said and "Search for it" in said and "simulate:s42_0000102" in said


def test_node_panel_shows_diff_blame_styles_and_evidence(pages, ctx):
    panel, comp = pages["explore"].show_node({"root": "simulate:s42_0000098", "node": "simulate:s42_0000099",
                                              "compare": "simulate:s42_0000098"})
    cls = classes(panel)
    assert "diff" in cls and "blame" in cls
    assert "w-add" in cls or "w-del" in cls
    text = text_of(panel)
    for expected in ("simulate:s42_0000098", "declared", "https://media.example.invalid/s42/0000099.mp4",
                     "simulated-video-model", "drift from root"):
        assert expected in text
    assert any(c.startswith("chip st-") for c in cls)  # labelled styles
    assert "compare-panel" in classes(comp)


def test_hostile_prompt_stays_text(pages, ctx):
    panel, _ = pages["explore"].show_node({"root": "messy:deleted-parent", "node": "messy:xss"})
    strings = [c for c in walk(panel) if isinstance(c, str)]
    assert "<script>alert(1)</script> a cat <img src=x onerror=alert(1)> dancing, film noir" in strings
    assert any("<b>mallory</b>" in s for s in strings)
    # no component that could carry markup: no Script, Img, Iframe or dangerously set HTML
    assert not [c for c in walk(panel) if isinstance(c, (html.Script, html.Img, html.Iframe, dcc.Markdown))]


def test_search_finds_prompts_authors_and_ids(pages, ctx):
    ex = pages["explore"]
    hits = ex.search("corgi wetsuit", {})
    links = [c for c in walk(hits) if isinstance(c, dcc.Link)]
    assert links and all(link.href.startswith("/explore?root=") for link in links)
    assert "corgi" in text_of(hits).lower()
    assert "messy:xss" in text_of(ex.search("mallory", {}))
    assert "simulate:s42_0000099" in text_of(ex.search("simulate:s42_0000099", {}))
    assert "no post matches" in text_of(ex.search("zzz-no-such-word", {}))
    assert ex.search("  ", {}) is None


def test_bleed_flow_switches_to_sankey(pages, ctx):
    fig = pages["bleed"].switch_flow("sankey")
    assert isinstance(fig.data[0], go.Sankey) and sum(fig.data[0].link.value) > 0
    assert isinstance(pages["bleed"].switch_flow("heatmap").data[0], go.Heatmap)


def test_clicking_a_tree_point_opens_the_explorer(pages):
    click = {"points": [{"customdata": "simulate:s42_0000098"}]}
    for name in ("overview", "drift", "decay"):
        assert pages[name].open_tree(click) == "/explore?root=simulate%3As42_0000098"


def test_a_reload_shows_what_an_ingest_added(pages, sample_copy):
    """The dashboard reads the store per request: a page loaded after an ingest shows the new version."""
    from flask import Flask

    from archive.ingest import ingest_records
    from dashboard.data import Memo, open_for_app

    server = Flask("reload-test")
    server.config["ARCHIVE"] = open_for_app(str(sample_copy))  # as create_app does: one read-only archive
    server.extensions["remix_memo"] = Memo()
    with server.app_context():
        before = text_of(pages["overview"].layout())
        writer = Archive.open(sample_copy)
        v0 = writer.version()
        ingest_records(writer, [{"id": "t:new", "source": "t", "created_at": "2026-07-01T00:00:00Z",
                                 "prompt": "a brand new remix, claymation", "parents": [{"id": "simulate:s42_0000099"}]}],
                       source="t")
        loading = text_of(pages["overview"].layout())  # the new version's views are built in the background ...
        server.config["ARCHIVE"].settle(60)
        after = text_of(pages["overview"].layout())  # ... and the next reload shows it
        panel, _ = pages["explore"].show_node({"root": "simulate:s42_0000098", "node": "t:new"})
    assert f"store version {v0};" in loading  # served at once from the views it had, not rebuilt in the request
    assert f"store version {v0}" in before and f"store version {v0 + 1}" in after and "being loaded" not in after
    assert "<records>" in after and "<records>" not in before  # the new ingest run is listed
    assert "a brand new remix, claymation" in text_of(panel)


def test_analysis_tables_and_measures_computed_now_agree(sample_store, sample_copy):
    """Pages read `archivist analyze` tables when fresh and compute otherwise: the figures must not differ."""
    from lineage.analyze import analyze

    from dashboard import measures
    from dashboard.data import tree_of, Views

    analyze(Archive.open(sample_copy))
    fresh_arc = Archive.open(sample_copy, read_only=True)
    now_arc = Archive.open(sample_store, read_only=True)
    assert measures.analysed_version(fresh_arc) == fresh_arc.version()
    assert measures.analysed_version(now_arc) is None
    fresh, now = measures.archive_decay(fresh_arc), measures.archive_decay(now_arc)
    for key in ("F_inf", "lambda", "half_life"):
        assert fresh.fit[key] == pytest.approx(now.fit[key], rel=1e-9)
    assert fresh.branching_fit["gamma"] == pytest.approx(now.branching_fit["gamma"], rel=1e-9)
    assert fresh.activity["half_life_days"] == pytest.approx(now.activity["half_life_days"], rel=1e-9)
    from polars.testing import assert_frame_equal

    assert_frame_equal(fresh.shapes.sort("root"), now.shapes.sort("root").cast(fresh.shapes.schema),
                       check_exact=False, rel_tol=1e-9)
    # one tree's drift: read from the table, or measured when the tree is opened
    vw = Views(fresh_arc.version(), fresh_arc.lineage(), fresh_arc.posts(), fresh_arc.edges(), fresh_arc.trees())
    tree = tree_of(vw, "simulate:s42_0000099")
    a = measures.tree_drift(tree, measures.analysed_drift(fresh_arc)).sort("id")
    b = measures.tree_drift(tree, None).sort("id")
    assert a.height == tree.nodes.height and a.get_column("root_drift").to_list() == pytest.approx(
        b.get_column("root_drift").to_list())
    labels_fresh = measures.archive_style_labels(fresh_arc).sort(["id", "term"]).select("id", "term", "label")
    labels_now = measures.archive_style_labels(now_arc).sort(["id", "term"]).select("id", "term", "label")
    assert labels_fresh.equals(labels_now)
    # the bleed page reads only the remixes' rows and four columns of the table: the same rows as computed
    remix_fresh, remix_now = measures.remix_style_labels(fresh_arc), measures.remix_style_labels(now_arc)
    assert remix_fresh.columns == remix_now.columns == measures.REMIX_LABEL_COLS
    assert remix_fresh.height == labels_now.join(now_arc.lineage().select("id", "depth"), on="id").filter(
        pl.col("depth") > 0).height > 0
    assert remix_fresh.sort(remix_fresh.columns).equals(remix_now.sort(remix_now.columns))
    # the explorer reads one post's labels from the table; the same as computed for the whole archive
    ids = labels_now.get_column("id").unique().sort().head(25).to_list()
    one = {i: measures.post_style_labels(fresh_arc, i) for i in ids}
    assert one == {i: measures.post_style_labels(now_arc, i) for i in ids} and any(one.values())


def test_archive_page_lists_snapshots(pages, sample_copy):
    from flask import Flask

    from archive.snapshot import snapshot
    from dashboard.data import open_for_app

    bag = snapshot(Archive.open(sample_copy), "simulate:s42_0000099")
    server = Flask("snapshot-test")
    server.config["ARCHIVE"] = open_for_app(str(sample_copy))
    with server.app_context():
        page = pages["archive_page"].layout()
    text = text_of(page)
    assert str(bag.relative_to(sample_copy)) in text and "No snapshots yet" not in text
    links = [c for c in walk(page) if isinstance(c, dcc.Link)]
    assert any(link.children == "simulate:s42_0000098" for link in links)  # the snapshot's tree, as a link


def test_every_page_opens_on_an_empty_archive(pages, empty_store):
    from flask import Flask

    from dashboard.data import Memo, open_for_app

    server = Flask("empty-test")
    server.config["ARCHIVE"] = open_for_app(str(empty_store.path))
    server.extensions["remix_memo"] = Memo()
    with server.app_context():
        for name in PAGES:
            assert to_json(pages[name].layout())["type"] == "Div"
        assert "The archive is empty" in text_of(pages["explore"].layout())
        assert "Nothing in quarantine" in text_of(pages["archive_page"].layout())


def test_show_overview_and_explorer_report_a_post_that_remixes_itself(pages, ctx, sample_store):
    # the README says so; only `archivist stats` counted it ("self loops 1")
    from click.testing import CliRunner

    from dashboard.cli import cli
    arc = Archive.open(sample_store, read_only=True)
    me = arc.problems().filter(pl.col("kind") == "self_loop")["id"].item()
    notes = pages["overview"].lineage_notes(arc.trees(), arc.lineage(), arc.problems())
    assert notes.filter(pl.col("root") == me)["note"].to_list() == [
        "self-remix: a post lists itself as its parent; the link is ignored"]
    _, caption, _ = pages["explore"].draw_tree({"root": me, "node": me, "depth": 3, "size": "remixes"})
    assert f"Self-remix: {me} lists itself as its parent" in text_of(caption)
    out = CliRunner().invoke(cli, ["show", me, "--archive", str(sample_store)]).output
    assert "note: self-remix: a post lists itself as its parent" in " ".join(out.split())
    js = json.loads(CliRunner().invoke(cli, ["show", me, "--archive", str(sample_store), "--json"]).output)
    assert [(c["id"], c["kind"]) for c in js["cycles_cut"]] == [(me, "self_loop")]


def test_overview_and_explorer_say_where_a_cycle_was_cut_and_which_trees_hang_from_placeholders(pages, ctx,
                                                                                               sample_store):
    arc = Archive.open(sample_store, read_only=True)
    lin, problems = arc.lineage(), arc.problems()
    notes = pages["overview"].lineage_notes(arc.trees(), lin, problems)
    placeholder_roots = set(lin.filter(pl.col("placeholder") & (pl.col("depth") == 0))["root"])
    cut_roots = set(lin.join(problems.filter(pl.col("kind") == "cycle"), on="id", how="semi")["root"])
    assert placeholder_roots and cut_roots  # the sample's messy records have both
    self_roots = set(lin.join(problems.filter(pl.col("kind") == "self_loop"), on="id", how="semi")["root"])
    assert set(notes["root"]) == placeholder_roots | cut_roots | self_roots
    assert notes.filter(pl.col("note").str.starts_with("cycle cut"))["root"].to_list() == sorted(cut_roots)
    root = sorted(cut_roots)[0]
    _, caption, _ = pages["explore"].draw_tree({"root": root, "node": root, "depth": 3, "size": "remixes"})
    assert "Cycle cut: cycle of" in text_of(caption) and "broken by cutting the link" in text_of(caption)
    root = sorted(placeholder_roots)[0]
    _, caption, _ = pages["explore"].draw_tree({"root": root, "node": root, "depth": 3, "size": "remixes"})
    assert f"This tree hangs from {root}, a post that is not in the archive" in text_of(caption)


def test_decay_cards_show_the_per_tree_activity_half_life_beside_the_pooled_one(pages, ctx, sample_store):
    from lineage.decay import activity, activity_by_tree

    lin = Archive.open(sample_store, read_only=True).lineage()
    pooled = activity(lin.select("id", "root", "depth", "created_at"))[0]["half_life_days"]
    per_tree = activity_by_tree(lin.select("root", "depth", "created_at"))["activity_half_life_days"].median()
    text = text_of(pages["decay"].layout())
    assert f"{pooled:.1f} days" in text and "half of all remixes came within this time of their root" in text
    assert f"{per_tree:.1f} days" in text and "the median of the trees' own half-lives" in text
