"""What shows or exports inferred links, broken as a new user would: hostile ids in the "why" text,
the explorer's toggle, snapshots of both edge sets, and links a record itself calls inferred.

One small archive (:func:`build`): a chain of six posts with no declared links whose prompts hold
markup, one id holding a right-to-left override, markup and a line break, and a tree of stated
links (declared, C2PA, and one the record itself marks ``evidence: "inferred"``). ``infer`` runs
with a strict tree check (a link whose child heads two or more posts is cut), so it has inferred
links and cut ones.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import networkx as nx
import polars as pl
import pytest
from dash._callback_context import context_value
from dash._utils import AttributeDict

from archive.ingest import ingest_records
from archive.snapshot import list_snapshots, read_bag_info, snapshot
from archive.store import Archive
from lineage.infer import infer, inferred_cut, inferred_edges, load_weights

BASE = "a corgi surfing a giant wave at golden hour on 35mm film with warm light"
EVIL = "jsonl:\u202eevil <b>x</b>\nnl"  # an id with a right-to-left override, markup and a line break
CHAIN = ["jsonl:k0", EVIL, "jsonl:k2", "jsonl:k3", "jsonl:k4", "jsonl:k5"]
OTHER = "a lighthouse in a storm painted in thick oil"


def records() -> list[dict]:
    """The chain (each post adds three words to the one before) and the tree of stated links."""
    recs = [{"id": i, "source": "jsonl", "created_at": f"2026-05-01T1{k}:00:00Z", "author": "same",
             "prompt": BASE + " " + " ".join(f"w{j}" for j in range(3 * k)) + " <img src=x onerror=alert(1)>"}
            for k, i in enumerate(CHAIN)]
    t = "2026-04-0{}T10:00:00Z"
    recs += [{"id": "d:1", "source": "d", "created_at": t.format(1), "prompt": OTHER},
             {"id": "d:2", "source": "d", "created_at": t.format(2), "prompt": OTHER + " again", "parents": ["d:1"]},
             {"id": "d:3", "source": "d", "created_at": t.format(3), "prompt": OTHER + " signed",
              "parents": [{"id": "d:1", "evidence": "c2pa"}]},
             {"id": "d:4", "source": "d", "created_at": t.format(4), "prompt": OTHER + " guessed",
              "parents": [{"id": "d:1", "evidence": "inferred", "confidence": 0.4}]}]
    return recs


def build(path: Path) -> Archive:
    a = Archive.open(path, create=True)
    ingest_records(a, records(), source="jsonl")
    infer(a, weights=dataclasses.replace(load_weights(), tree_check={"bias": 1.0, "log_descendants": -1.0}))
    return a


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("s26") / "archive"
    a = build(path)
    # what the tests below rely on: the chain's links, and a cut link whose parent is the hostile id
    assert inferred_edges(a).select("child", "parent").sort("child").rows() == [
        ("jsonl:k4", "jsonl:k3"), ("jsonl:k5", "jsonl:k4")]
    assert ("jsonl:k2", EVIL) in inferred_cut(a).select("child", "parent").rows()
    return path


@pytest.fixture(scope="module")
def app(store):
    from dashboard.app import create_app

    return create_app(store)


@pytest.fixture()
def actx(app):
    with app.server.app_context():
        yield importlib.import_module("dashboard.pages.explore"), importlib.import_module("dashboard.pages.overview")


def test_why_of_a_cut_link_cannot_reorder_or_break_its_sentence(store, actx):
    """`archivist dashboard` on this archive, /explore?node=jsonl:k2&edges=all: the why text held the cut
    parent's id raw, so its U+202E reversed the rest of the sentence in the panel and in the hover label
    (the SVG label has no bidi isolate; the hover lost its first line) and its line break split it."""
    from dashboard.data import inferred_why
    from dashboard.figures import tree_figure

    explore, _ = actx
    arc = Archive.open(store)
    why = inferred_why(arc).filter(pl.col("id") == "jsonl:k2").get_column("why")[0]
    assert "\u202e" not in why and "\n" not in why
    assert "cut the link to jsonl:⟨U+202E⟩evil <b>x</b> nl (confidence " in why
    tree, drift = explore.tree_and_drift(arc, "jsonl:k2", None, "all")
    assert tree.root == "jsonl:k2" and tree.nodes.filter(pl.col("id") == "jsonl:k2").get_column("why")[0] == why
    # it heads its own tree: no inferred link is drawn (an empty "inferred links" trace was)
    assert [t.name for t in tree_figure(tree.nodes, root=tree.root).data if t.name == "inferred links"] == []
    # the tree figure escapes it and shows bidi controls, whatever why text it is given
    fig = tree_figure(tree.nodes.with_columns(why=pl.lit("cut the link to a\u202eb <i>")), root="jsonl:k2")
    hover = next(t for t in fig.data if t.name == "posts").hovertext[0]
    assert "\u202e" not in hover and "a⟨U+202E⟩b &lt;i&gt;" in hover


def test_showing_inferred_links_chooses_the_depth_again_so_the_post_read_stays_drawn(actx):
    """/explore?node=jsonl:k5 (a one-post declared tree, depth 1), then tick "show inferred links": the
    depth 1 of the declared tree was kept, so jsonl:k5 (generation 2 with inferred links) was folded
    away: "3 posts in this tree; 2 drawn, 1 folded", the post being read not drawn."""
    explore, _ = actx
    state = {"root": "jsonl:k5", "node": "jsonl:k5", "depth": 1, "edges": "declared", "size": "views",
             "as_of": None, "collapsed": [], "expanded": [], "compare": None}
    assert explore.next_state(state, "explore-edges", edges=["all"])["depth"] is None
    token = context_value.set(AttributeDict(triggered_inputs=[{"prop_id": "explore-edges.value", "value": ["all"]}]))
    try:
        s, depth, deepest, options, tree = explore.on_action("jsonl:k5", 1, "views", None, None, None, None, ["all"],
                                                             state, "node", [])
    finally:
        context_value.reset(token)
    assert s["edges"] == "all" and s["depth"] == depth == deepest == 2
    fig, caption, _ = explore.draw_tree(s)
    assert "jsonl:k5" in list(next(t for t in fig.data if t.name == "posts").customdata)
    assert any(t.name == "selected" for t in fig.data)
    # the tree list follows: jsonl:k5 is in jsonl:k3's tree of 3 posts
    assert s["root"] == tree == "jsonl:k3" and {"label": "3 posts · " + records()[3]["prompt"][:70],
                                                 "value": "jsonl:k3"} in options


def _on_action(explore, trigger: str, value, state: dict, **inputs):
    args = dict(tree=state["root"], depth=state["depth"], size="views", as_of=None, click=None, _toggle=None,
                _reset=None, edges=["all"] if state["edges"] == "all" else [])
    args.update(inputs)
    token = context_value.set(AttributeDict(triggered_inputs=[{"prop_id": trigger, "value": value}]))
    try:
        return explore.on_action(*args.values(), state, "node", [])
    finally:
        context_value.reset(token)


def test_the_explorer_with_inferred_links_opens_on_their_trees(store, actx):
    """/explore?node=jsonl:k5&edges=all: the tree list, the root and the generations slider were those
    of the declared links (jsonl:k5 alone, slider max 1, while 3 posts over 2 generations were drawn),
    so the slider could never show generation 2 again; /explore?edges=all (the overview's "inferred
    links" card) opened the largest declared tree, d:1, which holds no link of `archivist infer`;
    unticking "show inferred links" then kept jsonl:k3's tree, where jsonl:k5 alone is not."""
    from dash import dcc

    from tests.test_dashboard_callbacks import walk

    explore, _ = actx
    arc = Archive.open(store)
    state = explore.initial_state(arc, {"node": "jsonl:k5", "edges": "all"})
    assert (state["root"], state["node"], state["depth"]) == ("jsonl:k3", "jsonl:k5", 2)
    page = explore.layout(node="jsonl:k5", edges="all")
    slider = next(c for c in walk(page) if isinstance(c, dcc.Slider))
    dropdown = next(c for c in walk(page) if isinstance(c, dcc.Dropdown) and c.id == "explore-tree")
    assert slider.max == 2 and dropdown.value == "jsonl:k3"
    assert next(o for o in dropdown.options if o["value"] == "jsonl:k3")["label"].startswith("3 posts · ")
    assert explore.initial_state(arc, {"edges": "all"})["root"] == "jsonl:k3"
    assert explore.initial_state(arc, {})["root"] == "d:1"  # declared: the largest tree
    # unticking the box: back to the declared tree of the post read
    s, depth, deepest, _, tree = _on_action(explore, "explore-edges.value", [], state, edges=[])
    assert (s["edges"], s["root"], s["node"], tree, deepest) == ("declared", "jsonl:k5", "jsonl:k5", "jsonl:k5", 1)


def test_overview_counts_only_the_links_of_archivist_infer_as_inferred(store, actx):
    """A record may state its own parent with evidence "inferred" (the record schema allows it): the
    overview counted it under "inferred links (archivist infer)" (3, where infer made 2) instead of
    with the links the sources state (1, where they state 2)."""
    _, overview = actx
    a = Archive.open(store)
    assert overview.link_counts(a) == {"declared": 2, "c2pa": 1, "inferred": inferred_edges(a).height}


def test_a_records_own_inferred_parent_is_not_passed_off_as_a_link_of_archivist_infer(store, tmp_path):
    """`archivist snapshot d:1 --edges all`: inferred_edges.jsonl listed d:4's stated link with method and
    features null, as if `archivist infer` had made it; `archivist report d:1 --edges all` said it
    "includes 1 inferred link ... reconstructed by `archivist infer`" though the tree holds none."""
    from lineage.report import report_data

    a = Archive.open(store)
    bag = snapshot(a, "d:1", out=tmp_path, edges="all")
    assert (bag / "data" / "inferred_edges.jsonl").read_text("utf-8") == ""
    assert read_bag_info(bag)["Remix-Inferred-Edges"] == "0"
    # the stated link itself is kept, with the source's evidence and confidence
    g = nx.read_graphml(bag / "data" / "tree.graphml")
    assert {k: v for k, v in g.edges["d:1", "d:4"].items() if k in ("evidence", "confidence")} == {
        "evidence": "inferred", "confidence": 0.4}
    assert report_data(a, "d:1", edges="all").inferred is None
    chain = snapshot(a, "jsonl:k5", out=tmp_path / "chain", edges="all")
    lines = [json.loads(x) for x in (chain / "data" / "inferred_edges.jsonl").read_text("utf-8").splitlines()]
    assert [(r["child"], r["parent"]) for r in lines] == [("jsonl:k4", "jsonl:k3"), ("jsonl:k5", "jsonl:k4")]
    assert all(r["method"] and r["features"] for r in lines)
    assert report_data(a, "jsonl:k5", edges="all").inferred.startswith("includes 2 inferred links")


def test_analysis_with_inferred_links_counts_only_those_of_archivist_infer(tmp_path):
    """`archivist analyze --edges all` then `archivist report --edges all`: the archive report's "includes
    N inferred links" counted the record's own inferred parent as one of archivist infer's."""
    from lineage.analyze import analyze
    from lineage.stale import analysis_state

    a = build(tmp_path / "archive")
    analyze(a, edges="all", n_boot=10)
    assert analysis_state(a, edges="all").inferred_links == inferred_edges(a).height == 2


def test_snapshots_are_compared_with_the_last_one_of_the_same_links(store, tmp_path):
    """`archivist snapshot jsonl:k5 --edges all`, then `archivist snapshot jsonl:k5`, then
    `archivist snapshots jsonl:k5`: the list did not show the all-links bag (filed under that tree's
    root, jsonl:k3) and, for a root whose folders held both kinds, compared a declared bag with an
    all-links one ("removed 2": nothing was removed, the links differ)."""
    a = Archive.open(store)
    (a.path / "snapshots").mkdir(exist_ok=True)
    first = snapshot(a, "jsonl:k3", edges="all")  # jsonl:k3 heads the tree of inferred links: 3 posts
    declared = snapshot(a, "jsonl:k3")  # the declared tree of jsonl:k3: 1 post
    again = snapshot(a, "jsonl:k3", edges="all")
    alone = snapshot(a, "jsonl:k5")  # jsonl:k5 on its own (declared)
    rows = list_snapshots(a, "jsonl:k3").select("bag", "edges", "posts", "added", "removed", "changed").rows()
    assert rows == [(str(first), "all", 3, None, None, None), (str(declared), "declared", 1, None, None, None),
                    (str(again), "all", 3, 0, 0, 0)]
    # jsonl:k5's snapshots: its own declared bag, and the all-links bags of the tree it is in with them
    listed = list_snapshots(a, "jsonl:k5")
    assert set(listed.get_column("bag").to_list()) == {str(first), str(again), str(alone)}
    assert json.loads((first / "data" / "snapshot.json").read_text("utf-8"))["edges"] == "all"


def test_a_bag_with_inferred_links_keeps_its_edge_count_and_names_its_edge_set(store, tmp_path):
    """`archivist snapshot jsonl:k5 --edges all`: bag-info.txt's Remix-Edges (the edge count in every other
    bag) was overwritten with "all (declared, C2PA and inferred links)", and the command printed
    "3 posts, all (declared, C2PA and inferred links) edges, depth 2"."""
    from click.testing import CliRunner

    from dashboard.cli import cli

    res = CliRunner().invoke(cli, ["snapshot", "jsonl:k5", "--edges", "all", "-o", str(tmp_path / "all"),
                                   "--archive", str(store)])
    assert res.exit_code == 0, res.output
    assert "3 posts, 2 edges (2 inferred), depth 2" in " ".join(res.output.split())
    info = read_bag_info(next((tmp_path / "all").iterdir()))
    assert (info["Remix-Edges"], info["Remix-Inferred-Edges"]) == ("2", "2")
    assert info["Remix-Edge-Set"].startswith("all (")
    declared = read_bag_info(snapshot(Archive.open(store), "d:1", out=tmp_path / "declared"))
    assert (declared["Remix-Edges"], "Remix-Inferred-Edges" in declared) == ("3", False)
    assert declared["Remix-Edge-Set"].startswith("declared (")


def test_edges_all_on_an_archive_infer_never_ran_on_says_so(tmp_path):
    """`archivist export --format csv --edges all` before any `archivist infer`: the file was written as if
    it held inferred links, without a word; now a note on stderr says none could be added."""
    from click.testing import CliRunner

    from dashboard.cli import cli

    a = Archive.open(tmp_path / "archive", create=True)
    ingest_records(a, records()[:3], source="jsonl")
    res = CliRunner().invoke(cli, ["export", "--format", "csv", "--edges", "all", "-o", str(tmp_path / "x.csv"),
                                   "--archive", str(a.path)])
    assert res.exit_code == 0 and "`archivist infer` never ran on this archive" in res.stderr
    res = CliRunner().invoke(cli, ["export", "--format", "csv", "-o", str(tmp_path / "y.csv"), "--archive", str(a.path)])
    assert res.exit_code == 0 and "infer" not in res.stderr


def test_links_in_the_explorer_keep_inferred_links_shown(store, actx):
    """/explore?node=jsonl:k5&edges=all, side panel: "link to this view" and each step of "Path from the
    root" (jsonl:k3 -> jsonl:k4 -> jsonl:k5, inferred links) opened the declared view, where jsonl:k5 is
    alone and jsonl:k3 heads a one-post tree; search hits did too, saying "tree of 1"."""
    from dash import dcc

    from tests.test_dashboard_callbacks import walk

    explore, _ = actx
    state = explore.initial_state(Archive.open(store), {"node": "jsonl:k5", "edges": "all"})
    panel, _ = explore.show_node(state)
    # (the styles' "from tree" links name the declared tree a style came from: they stay declared)
    hrefs = [c.href for c in walk(panel) if isinstance(c, dcc.Link) and "&node=" in c.href]
    steps = [c.children for c in walk(panel) if isinstance(c, dcc.Link) and getattr(c, "className", None) == "mono"]
    assert sorted(steps) == ["jsonl:k3", "jsonl:k4", "jsonl:k5"] and len(hrefs) == 4  # (walk: any order)
    assert all(h.endswith("&edges=all") for h in hrefs)
    hits = explore.search("w8", state)
    links = [c for c in walk(hits) if isinstance(c, dcc.Link)]
    assert sorted(c.children for c in links) == ["jsonl:k3", "jsonl:k4", "jsonl:k5"]
    assert all(c.href.endswith("&edges=all") for c in links) and "tree of 3" in " ".join(
        c for c in walk(hits) if isinstance(c, str))
    # with the declared links the links stay as they were
    panel, _ = explore.show_node(explore.initial_state(Archive.open(store), {"node": "jsonl:k5"}))
    assert not any("edges=" in c.href for c in walk(panel) if isinstance(c, dcc.Link))


def test_a_post_whose_inferred_link_readers_left_out_says_why(tmp_path):
    """t:a states t:b as its parent though t:b was posted an hour later; `archivist infer` gives t:b the
    parent t:a, which would close a loop, so readers leave that guess out (inferred_dropped). The
    explorer showed t:b as a root with inferred links shown and said nothing (a cut link says why)."""
    from dashboard.app import create_app

    base = "a corgi surfing a giant wave at golden hour on 35mm film with warm light"
    a = Archive.open(tmp_path / "archive", create=True)
    ingest_records(a, [{"id": "t:a", "source": "t", "created_at": "2026-05-01T10:00:00Z", "prompt": base,
                        "parents": ["t:b"]},
                       {"id": "t:b", "source": "t", "created_at": "2026-05-01T11:00:00Z", "prompt": base + " again"}],
                   source="t")
    infer(a)
    assert inferred_edges(a).select("child", "parent").rows() == [("t:b", "t:a")]
    assert a.problems(edges="all").get_column("kind").to_list() == ["inferred_dropped"]
    app = create_app(a.path)
    with app.server.app_context():
        explore = importlib.import_module("dashboard.pages.explore")
        tree, _ = explore.tree_and_drift(Archive.open(a.path), "t:b", None, "all")
        assert tree.root == "t:b"
        why = tree.nodes.filter(pl.col("id") == "t:b").get_column("why")[0]
        assert why.startswith("no inferred parent: the inferred link to t:a (confidence ")
        assert why.endswith("is left out, as it would close a loop with declared links (declared links win)")
        assert tree.nodes.filter(pl.col("id") == "t:a").get_column("why")[0] is None  # its link is declared


def test_the_archive_page_says_which_snapshots_hold_inferred_links(store, actx, tmp_path):
    """The dashboard's Archive page listed a bag made with --edges all like any other, its root opening
    the declared tree (jsonl:k3 alone) and its counts compared with a declared bag of the same folder."""
    from dash import dcc

    from tests.test_dashboard_callbacks import walk

    import shutil

    copy = tmp_path / "archive"
    shutil.copytree(store, copy)
    a = Archive.open(copy)
    snapshot(a, "jsonl:k3")
    snapshot(a, "jsonl:k3", edges="all")
    from dashboard.app import create_app

    app = create_app(copy)
    with app.server.app_context():
        page = importlib.import_module("dashboard.pages.archive_page").layout()
    table = next(c for c in walk(page) if getattr(c, "className", None) == "grid"
                 and "links" in str(c.children[0]))
    rows = [[cell.children for cell in tr.children] for tr in table.children[1].children]
    by_links = {r[1]: r for r in rows}
    assert set(by_links) == {"declared", "all"}
    assert isinstance(by_links["all"][0], dcc.Link) and by_links["all"][0].href == "/explore?root=jsonl%3Ak3&edges=all"
    assert by_links["declared"][0].href == "/explore?root=jsonl%3Ak3"
    # posts, and nothing "added": the first bag with inferred links is compared with none
    assert (by_links["all"][4], by_links["all"][5]) == ("3", "") and by_links["declared"][4] == "1"


def test_show_and_drift_mark_only_the_links_of_archivist_infer(store):
    """`archivist show d:4 --edges all --json` listed d:4's own stated "inferred" parent among
    "inferred_links" and said "1 of the links drawn were inferred by `archivist infer`"; so did
    `archivist drift d:4 --edges all` ("link(s) of this path were inferred by `archivist infer`")."""
    from click.testing import CliRunner

    from dashboard.cli import cli

    run = CliRunner()
    res = run.invoke(cli, ["show", "d:4", "--edges", "all", "--json", "--archive", str(store)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["inferred_links"] == []
    res = run.invoke(cli, ["show", "jsonl:k5", "--edges", "all", "--json", "--archive", str(store)])
    assert [(r["child"], r["parent"]) for r in json.loads(res.stdout)["inferred_links"]] == [
        ("jsonl:k4", "jsonl:k3"), ("jsonl:k5", "jsonl:k4")]
    res = run.invoke(cli, ["show", "d:4", "--edges", "all", "--archive", str(store)])
    assert res.exit_code == 0 and "archivist infer" not in res.output
    res = run.invoke(cli, ["drift", "d:4", "--edges", "all", "--archive", str(store)])
    assert res.exit_code == 0 and "archivist infer" not in res.output, res.output
    res = run.invoke(cli, ["drift", "jsonl:k5", "--edges", "all", "--archive", str(store)])
    assert res.exit_code == 0 and "2 link(s) of this path were inferred by `archivist infer`" in " ".join(
        res.output.split())


def test_opening_a_tree_with_inferred_links_makes_only_its_own_why_sentences(store, monkeypatch):
    """The first /explore?edges=all made the why sentence of every inferred and cut link of the archive
    (Python, ~20 µs each: 0.45 s at 20,000 posts, ~20 s at a million) to show one tree. Now only the
    sentences of the tree's posts are made (counted here by wrapping the sentence makers)."""
    import lineage.infer as I
    from dashboard.app import create_app
    from dashboard.data import inferred_why

    made = []
    why, why_cut = I.why, I.why_cut
    monkeypatch.setattr(I, "why", lambda *a: made.append("why") or why(*a))
    monkeypatch.setattr(I, "why_cut", lambda *a: made.append("cut") or why_cut(*a))
    app = create_app(store)  # a fresh app: nothing memoised yet
    with app.server.app_context():
        explore = importlib.import_module("dashboard.pages.explore")
        arc = Archive.open(store)
        tree, _ = explore.tree_and_drift(arc, "d:1", None, "all")  # stated links only
        assert tree.nodes.height == 4 and made == []
        tree, _ = explore.tree_and_drift(arc, "jsonl:k5", None, "all")
        # jsonl:k3 (its link to jsonl:k2 was cut) heads it: two links' sentences and the root's cut one
        # (why_cut makes the link's part with why)
        assert tree.root == "jsonl:k3" and tree.nodes.height == 3 and sorted(made) == ["cut", "why", "why", "why"]
        assert inferred_why(arc).height == 5 and inferred_why(arc, ["jsonl:k5"]).get_column("id").to_list() == [
            "jsonl:k5"]


def test_the_overviews_tree_figures_say_they_are_of_the_declared_links(store, actx, tmp_path):
    """Beside "2 inferred links (archivist infer)" the overview's "remix trees", "longest chain" and
    "posts in the largest tree" are figures of the declared links (on an archive whose links are all
    inferred: one tree per post, longest chain 0), and did not say so."""
    from tests.test_dashboard_callbacks import text_of

    _, overview = actx
    text = text_of(overview.layout())
    assert "remix trees (declared links)" in text and "longest chain (generations) (declared links)" in text
    assert "posts in the largest tree (declared links)" in text
    a = Archive.open(tmp_path / "plain", create=True)
    ingest_records(a, records()[6:], source="d")  # stated links only, infer never ran
    from dashboard.app import create_app

    with create_app(a.path).server.app_context():
        text = text_of(importlib.import_module("dashboard.pages.overview").layout())
    assert "remix trees" in text and "(declared links)" not in text


def test_restoring_a_bag_with_inferred_links_says_they_are_not_restored(store, tmp_path):
    """`archivist restore BAG` of a bag made with --edges all restored the records and said nothing of the
    bag's inferred links, which are not restored (the archive then has no link between those posts)."""
    from click.testing import CliRunner

    from dashboard.cli import cli

    bag = snapshot(Archive.open(store), "jsonl:k5", out=tmp_path / "bags", edges="all")
    res = CliRunner().invoke(cli, ["restore", str(bag), "--archive", str(tmp_path / "restored"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["stored"] == 3
    assert "the bag's 2 inferred link(s) (data/inferred_edges.jsonl) are not restored" in res.stderr
    back = Archive.open(tmp_path / "restored")
    assert back.edges().height == 0 and not back.has_table("inferred_edges")
    plain = snapshot(Archive.open(store), "d:1", out=tmp_path / "plain")
    res = CliRunner().invoke(cli, ["restore", str(plain), "--archive", str(tmp_path / "restored2")])
    assert res.exit_code == 0 and "inferred" not in res.stderr


# ----------------------------------------------------------------------- hostile text in inferred exports
# (a guard: these passed when tried; the exports' own hostile-text tests hold declared links only)
_IDS = ['h:a b', 'h:q"uote', "h:ap'os", 'h:c:o:l', 'h:s/l/a/sh', 'h:ünï©ødé', 'h:<b>x</b>', 'h:=cmd', 'h:\u202ertl',
        'h:zw\u200bj', 'h:t\tab', 'h:plain']
_TAILS = ['<img src=x onerror=alert(1)>', '=HYPERLINK("http://evil","x")', '+cmd|calc', '@SUM(A1)', '-2+3',
          '\u202eevil\u202c', 'zero\u200bwidth\u200d', 'line1\nline2', 'tab\there', 'cr\rhere', 'bel\x07esc\x1b',
          '\uff1d1+1']
_AUTHORS = ['=HYPERLINK("x")', '@me', '\u202eRTL', 'a\nb']


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    a = Archive.open(tmp_path_factory.mktemp("hostile-inferred") / "archive", create=True)
    ingest_records(a, [{"id": i, "source": "h", "created_at": f"2026-05-01T{10 + k // 4:02d}:{k % 4 * 15:02d}:00Z",
                        "prompt": BASE + " " + (_TAILS[k] if k != 5 else "long " * 10_000),
                        "author": _AUTHORS[k % 4]} for k, i in enumerate(_IDS)], source="h")
    infer(a)
    assert inferred_edges(a).height >= 8 and a.edges().height == 0
    return a


def test_exports_with_hostile_inferred_links_validate_and_keep_every_link(hostile, tmp_path):
    import csv
    import shutil
    import subprocess

    import bagit
    import prov

    from archive.export import export
    from tests.test_export_conformance import PROV_XSD, XSD

    inf = {(c, p): conf for c, p, conf in inferred_edges(hostile).select("child", "parent", "confidence").rows()}

    def lint(schema: Path, doc: Path) -> None:
        if shutil.which("xmllint"):
            r = subprocess.run(["xmllint", "--noout", "--schema", str(schema), str(doc)], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr[-2000:]

    g = export(hostile, "graphml", tmp_path / "x.graphml", edges="all")
    lint(XSD / "graphml" / "graphml.xsd", g)
    lint(XSD / "gexf-1.2draft" / "gexf.xsd", export(hostile, "gexf", tmp_path / "x.gexf", edges="all"))
    graph = nx.read_graphml(g)
    ids = {k: v.get("original_id", k) for k, v in graph.nodes(data=True)}
    got = {(ids[c], ids[p]): (d["evidence"], d["confidence"]) for p, c, d in graph.edges(data=True)}
    assert got == {k: ("inferred", pytest.approx(v)) for k, v in inf.items()}
    doc = prov.read(str(export(hostile, "prov-json", tmp_path / "x.prov.json", edges="all")), format="json")
    (tmp_path / "x.prov.xml").write_text(doc.serialize(format="xml"), "utf-8")
    lint(PROV_XSD, tmp_path / "x.prov.xml")
    derived = [r for r in doc.get_records() if r.get_type().localpart == "Derivation"]
    assert len(derived) == len(inf) and all(
        any(str(v) == "inferred" for k, v in r.attributes if k.localpart == "evidence") for r in derived)
    rows = list(csv.DictReader(export(hostile, "csv", tmp_path / "x.csv", edges="all").open(newline="", encoding="utf-8")))
    by_id = {r["id"]: r for r in rows}
    for (child, parent), conf in inf.items():
        assert by_id[child]["parent"] == parent and by_id[child]["parent_evidence"] == "inferred"
        assert float(by_id[child]["parent_confidence"]) == pytest.approx(conf)
    assert not [v for r in rows for v in r.values() if v and v[0] in "=+-@\t\r\n\uff1d\uff0b\uff0d\uff20"]
    # the declared export has no trace of a guess
    for fmt in ("graphml", "gexf", "prov-json", "csv", "newick"):
        assert b"inferred" not in export(hostile, fmt, edges="declared")
    # a bag of the tree with its inferred links: valid, and lists each of them
    bag = snapshot(hostile, "h:plain", out=tmp_path / "bags", edges="all")
    bagit.Bag(str(bag)).validate()
    listed = [json.loads(x) for x in (bag / "data" / "inferred_edges.jsonl").read_text("utf-8").splitlines()]
    tree = set(hostile.tree("h:plain", edges="all").nodes.get_column("id").to_list())
    assert {(r["child"], r["parent"]) for r in listed} == {k for k in inf if k[0] in tree}
    lint(XSD / "graphml" / "graphml.xsd", bag / "data" / "tree.graphml")
    # the default bag (declared links) holds no guess anywhere: h:plain alone, no inferred_edges.jsonl
    plain = snapshot(hostile, "h:plain", out=tmp_path / "plain")
    assert not (plain / "data" / "inferred_edges.jsonl").exists()
    assert [f for f in plain.rglob("*") if f.is_file() and b"inferred" in f.read_bytes()] == []


def test_a_report_with_a_very_unsure_inferred_link_gives_a_bound_that_says_something():
    """On the hostile archive one inferred link had confidence 0.002: `archivist report ROOT --edges all`
    opened with "includes 14 inferred links, confidence >= 0.00", a bound every confidence meets."""
    from lineage.analyze import inferred_note

    assert inferred_note(14, 0.002265) == "includes 14 inferred links, confidence >= 0.0022"
    assert inferred_note(2, 0.0100001) == "includes 2 inferred links, confidence >= 0.01"
    assert inferred_note(1, 0.9) == "includes 1 inferred link, confidence >= 0.90"


def test_a_reports_largest_mutations_mark_the_ones_along_inferred_links(store):
    """`archivist report jsonl:k5 --edges all --format md|html`: "The largest mutations" gave each remix's
    parent ("parent jsonl:k4: …", "from jsonl:k4") with no word that the link was a guess of `archivist
    infer` (the tree above it marks it; this section is the one a critic quotes)."""
    from lineage.infer import confidence_text
    from lineage.report import render, report_data

    a = Archive.open(store)
    conf = dict(inferred_edges(a).select("child", "confidence").rows())
    d = report_data(a, "jsonl:k5", edges="all")
    assert dict(d.mutations.select("child", "inferred_confidence").rows()) == conf
    md, html_ = render(d, "md").decode(), render(d, "html").decode()
    for child, parent in (("jsonl:k4", "jsonl:k3"), ("jsonl:k5", "jsonl:k4")):
        mark = f" (inferred link, confidence {confidence_text(conf[child])})"
        assert f"- parent {parent}{mark}: " in md
        assert f"<small>from {parent}{mark}</small>" in html_
    # a stated link is not marked as a guess of `archivist infer` (d:4's record calls its own link inferred)
    d = report_data(a, "d:1", edges="all")
    assert d.mutations.height and d.mutations.get_column("inferred_confidence").null_count() == d.mutations.height
    assert "- parent d:1 (inferred" not in render(d, "md").decode().split("## The largest mutations")[1]


def test_the_side_panels_evidence_table_never_shows_a_guess_as_confidence_zero():
    """The hostile archive's least sure inferred link (confidence 0.002) read "0.00" in the explorer's
    "Lineage evidence" table: as if the link had no confidence at all."""
    from dashboard.panels import _evidence_rows
    from tests.test_dashboard_callbacks import text_of

    text = text_of(_evidence_rows([{"parent": "h:a b", "relation": "remix", "evidence": "inferred",
                                    "confidence": 0.002265, "primary": True},
                                   {"parent": "h:c", "evidence": "declared", "confidence": 1.0}]))
    assert "0.0023" in text and "0.00 " not in text + " " and "1.00" in text
