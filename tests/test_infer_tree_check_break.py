"""The tree check (method 5) as a hostile tester meets it: weights files it cannot use, reruns with
other weights, a ``--source`` run after a run stopped between its two writes, loops of declared and
inferred links, and what the CLI says about cut links. Each test failed before its fix."""
from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import lineage.infer as I
from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive
from lineage.errors import LineageError
from lineage.infer_fit import EVAL_SETTINGS

COLS = ["child", "parent", "confidence", "features", "method"]
SHIPPED = json.loads((Path(I.__file__).resolve().parents[1] / "data" / I.WEIGHTS_FILE).read_text("utf-8"))


def run(*args: str):
    from dashboard.cli import cli as main

    return CliRunner().invoke(main, list(args), terminal_width=200)


def _records(setting: dict, posts: int, *, prefix: str | None = None) -> list[dict]:
    """Simulated records without their declared links (``prefix`` renames the source)."""
    kw = {k: v for k, v in setting.items() if k not in ("counts", "short")}
    out = []
    for r in simulate(SimParams(**{**kw, "posts": posts}))[0]:
        r = {k: v for k, v in r.items() if k != "parents"}
        if prefix:
            r = {**r, "id": r["id"].replace("simulate:", f"{prefix}:"), "source": prefix}
        out.append(r)
    return out


def _edited(**change) -> dict:
    d = json.loads(json.dumps(SHIPPED))
    for k, v in change.items():
        if v is ...:
            d.pop(k)
        else:
            d[k] = v
    return d


# ------------------------------------------------------------------------------------------------ weights files
BAD_WEIGHTS = {
    "no tree_check": (_edited(tree_check=...), "tree_check is missing"),
    "tree_check null": (_edited(tree_check=None), "tree_check must be an object"),
    "tree_check a list": (_edited(tree_check=[1, 2]), "tree_check must be an object"),
    "tree_check empty": (_edited(tree_check={}), "tree_check lacks the terms bias"),
    "a misspelt term": (_edited(tree_check={**SHIPPED["tree_check"], "log_descendant": 1.0}),
                        "tree_check has unknown terms log_descendant"),
    "a term as text": (_edited(tree_check={**SHIPPED["tree_check"], "bias": "8.8"}), "not finite numbers: bias"),
    "a NaN term": (_edited(tree_check={**SHIPPED["tree_check"], "bias": float("nan")}), "not finite numbers: bias"),
    "no coef": (_edited(coef=...), "coef is missing"),
    "calibration too long": (_edited(calibration=[1.0] * (len(I.CALIBRATION_TERMS) + 1)), "calibration must be a list"),
    "older method": (_edited(method="text-style-time-author-visual/4"), "are for method"),
    "not an object": ([1, 2, 3], "not a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BAD_WEIGHTS))
def test_a_weights_file_it_cannot_use_is_a_one_line_error(case, tmp_path):
    doc, says = BAD_WEIGHTS[case]
    f = tmp_path / "w.json"
    f.write_text(json.dumps(doc), "utf-8")  # json writes NaN as NaN, which json.loads reads back
    with pytest.raises(LineageError, match="run `archivist infer --fit`") as e:
        I.load_weights(f)
    assert says in str(e.value)
    a = tmp_path / "a"
    Archive.open(a, create=True)
    out = run("infer", "--archive", str(a), "--weights", str(f))
    assert out.exit_code == 1 and "Traceback" not in out.output
    line = out.output.strip()
    assert "\n" not in line and line.startswith("Error: inference weights") and says in line


def test_every_problem_of_a_weights_file_is_named_at_once(tmp_path):
    f = tmp_path / "w.json"
    f.write_text(json.dumps(_edited(coef=..., tree_check={"bias": 1.0})), "utf-8")
    with pytest.raises(LineageError) as e:
        I.load_weights(f)
    assert "coef is missing" in str(e.value) and "tree_check lacks the terms log_descendants" in str(e.value)


def test_the_shipped_weights_load_with_every_tree_check_term():
    w = I.load_weights()
    assert sorted(w.tree_check) == sorted(I.TREE_CHECK_TERMS)


def test_a_rerun_with_other_weights_recomputes_every_post_and_equals_a_full_run(tmp_path):
    recs = _records(EVAL_SETTINGS[1], 1500)
    other = tmp_path / "other.json"
    coef = {**SHIPPED["coef"], "same_author": SHIPPED["coef"]["same_author"] + 3.0}
    other.write_text(json.dumps(_edited(coef=coef)), "utf-8")
    w = I.load_weights(other)
    inc = Archive.open(tmp_path / "inc", create=True)
    ingest_records(inc, recs, source="simulate")
    I.infer(inc)
    s = I.infer(inc, weights=w)
    assert s["recomputed"] == len(recs)  # was 0: the links of the shipped weights were kept
    assert I.infer(inc, weights=w)["recomputed"] == 0  # and the same weights again: nothing to do
    full = Archive.open(tmp_path / "full", create=True)
    ingest_records(full, recs, source="simulate")
    I.infer(full, weights=w)
    assert_frame_equal(I.inferred_edges(inc).select(COLS), I.inferred_edges(full).select(COLS))
    assert_frame_equal(I.inferred_cut(inc).select(COLS), I.inferred_cut(full).select(COLS))
    assert I.infer(inc)["recomputed"] == len(recs)  # back to the shipped weights: every post again


# ------------------------------------------------------------------------------------------------ a stopped run
def test_a_source_run_after_a_stopped_run_keeps_the_links_of_other_sources(tmp_path):
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, _records(EVAL_SETTINGS[1], 800), source="simulate")
    ingest_records(a, _records(EVAL_SETTINGS[3], 800, prefix="other"), source="other")
    I.infer(a)
    sim = I.inferred_edges(a).filter(pl.col("child").str.starts_with("simulate:")).select(COLS)
    assert sim.height > 700
    # what a run leaves when it stops after writing inferred_cut and before inferred_edges
    a.write_table("inferred_cut", I.inferred_cut(a), mode="overwrite", metadata={I.RUN_KEY: "stopped-run"})
    s = I.infer(a, source="other")
    assert s["recomputed"] == 800
    after = I.inferred_edges(a)
    # the other source's links stay as the last finished run left them (all were dropped)
    assert_frame_equal(after.filter(pl.col("child").str.starts_with("simulate:")).select(COLS), sim)
    assert after.filter(pl.col("child").str.starts_with("other:")).height > 700
    # the readers see them, and the next run without --source recomputes every post
    assert a.edges(edges="all").filter(pl.col("evidence") == "inferred",
                                       pl.col("child").str.starts_with("simulate:")).height == sim.height
    assert I.infer(a)["recomputed"] == 1600


# ------------------------------------------------------------------------------------------------ declared links
def test_declared_links_arriving_later_restore_a_cut_link_and_the_rerun_equals_a_full_run(tmp_path):
    recs = _records(EVAL_SETTINGS[1], 2500)
    inc = Archive.open(tmp_path / "inc", create=True)
    ingest_records(inc, recs, source="simulate")
    I.infer(inc)
    cut = I.inferred_cut(inc)
    assert cut.height >= 1
    x = cut.sort("descendants", descending=True).get_column("child")[0]
    # the platform declares where the remixes below x came from after all: under the earliest post (every
    # post below x through the links of the run, the cut ones included: x's descendants counted them all)
    links = pl.concat([I.inferred_edges(inc).select("child", "parent"), cut.select("child", "parent")])
    below: dict[str, list[str]] = {}
    for ch, pa in links.iter_rows():
        below.setdefault(pa, []).append(ch)
    kids, todo = [], [x]
    while todo:
        nxt = below.get(todo.pop(), [])
        kids += nxt
        todo += nxt
    first = min(recs, key=lambda r: r["created_at"])["id"]
    byid = {r["id"]: r for r in recs}
    later = [{**byid[k], "parents": [{"id": first, "relation": "remix"}], "fetched_at": "2026-08-01T00:00:00Z"}
             for k in kids]
    ingest_records(inc, later, source="simulate")
    I.infer(inc)
    assert x in I.inferred_edges(inc).get_column("child").to_list()  # x heads no tree now: its link is back
    assert x not in I.inferred_cut(inc).get_column("child").to_list()
    full = Archive.open(tmp_path / "full", create=True)
    ingest_records(full, recs, source="simulate")
    ingest_records(full, later, source="simulate")
    I.infer(full)
    # the earliest post's remixes taken changed for every later post (the capacitated choice reads
    # them): 5 links of posts created long before the new declared children were off a full run
    assert_frame_equal(I.inferred_edges(inc).select(COLS), I.inferred_edges(full).select(COLS))
    assert_frame_equal(I.inferred_cut(inc).select(COLS), I.inferred_cut(full).select(COLS))


# ------------------------------------------------------------------------------------------------ loops
def _loop_links(kids: int = 30) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``b`` inferred under ``a`` with ``kids`` remixes below it; ``a``'s declared parent ``x`` was
    created after ``a`` (clock skew), and ``x``'s inferred parent is ``a``: a loop above ``b``."""
    # a weak link three months long: far from the check's bar, whichever refit (at 800 h it sat at the bar)
    f = {"jaccard": 0.3, "delay_hours": 2000.0}
    links = pl.DataFrame({"child": ["b", "x"] + [f"d{i}" for i in range(kids)],
                          "parent": ["a", "a"] + ["b"] * kids, "features": [f] * (kids + 2)})
    return links, pl.DataFrame({"id": ["a", "x"], "parent": ["x", None]})


def test_a_post_below_a_loop_counts_its_descendants():
    links, lin = _loop_links()
    X, desc = I._link_design(links, lin)
    # the readers drop the guess x -> a (declared links win) and keep b under a: b heads 30 remixes
    assert desc[0] == 30  # was 0: every post on or below the loop counted as a root
    assert X[0, 5] == pytest.approx(np.log1p(1))  # a sits under x (the declared link kept): depth 1
    # so the tree check cuts it (a weak, long-delayed link of a post heading 30 remixes), as it does
    # without the loop; counted as a root, it was kept
    for lk, ln in ((links, lin), (links.filter(pl.col("child") != "x"), lin.filter(pl.col("id") != "a"))):
        kept, cut = I.tree_check(lk, I.load_weights(), lineage=ln)
        assert cut.filter(pl.col("child") == "b").get_column("descendants").to_list() == [30]


def test_declared_descendants_below_a_loop_count_too():
    f = {"jaccard": 0.3, "delay_hours": 500.0}
    links = pl.DataFrame({"child": ["b", "x"], "parent": ["a", "a"], "features": [f, f]})
    lin = pl.DataFrame({"id": ["a", "x"] + [f"d{i}" for i in range(12)], "parent": ["x", None] + ["b"] * 12})
    _, desc = I._link_design(links, lin)
    assert desc.tolist()[0] == 12


def test_the_forest_cuts_only_the_links_on_a_loop():
    # 2 <-> 3 a loop (3's link inferred), 4 below 3, 5 below 4
    depth, desc = I._forest(np.array([-1, 0, 3, 2, 3, 4]), soft=np.array([False, False, False, True, False, False]))
    assert depth.tolist() == [0, 1, 1, 0, 1, 2] and desc.tolist() == [1, 0, 0, 3, 1, 0]
    # a long loop with a long tail: still finite and every node counted once
    n = 5000
    parent = np.arange(-1, n - 1)
    parent[0] = 999  # 0 -> 999 -> 998 -> ... -> 0: a loop of 1000, nodes 1000.. hang below it
    depth, desc = I._forest(parent)
    assert (depth >= 0).all() and desc[:999].sum() == 0  # the loop's nodes are roots
    assert desc[999] == n - 1000 and depth[n - 1] == n - 1000  # the chain below keeps every link


# ------------------------------------------------------------------------------------------------ the CLI
def test_a_rerun_with_nothing_new_still_says_how_many_links_are_cut(tmp_path):
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, _records(EVAL_SETTINGS[1], 2500), source="simulate")
    first = run("infer", "--archive", str(tmp_path / "a"), "--json")
    n = json.loads(first.output)["cut_by_tree_check"]
    assert n >= 1 and I.inferred_cut(a).height == n  # this archive has a link the tree check cuts
    out = run("infer", "--archive", str(tmp_path / "a"))
    text = " ".join(out.output.split())
    assert out.exit_code == 0 and text.startswith("nothing new to consider")
    assert f"{n} link{'s' if n != 1 else ''} cut by the tree check" in text
    # --show-cut lists them, in JSON with the descendants that decided each
    listed = json.loads(run("infer", "--archive", str(tmp_path / "a"), "--json", "--show-cut").output)["cut"]
    stored = I.inferred_cut(a)
    assert sorted(r["child"] for r in listed) == sorted(stored["child"].to_list())
    assert all(r["descendants"] >= 1 and 0 < r["confidence"] <= 1 for r in listed)
    table = " ".join(run("infer", "--archive", str(tmp_path / "a"), "--show-cut").output.split())
    assert f"links cut by the tree check ({n})" in table and stored["child"][0] in table


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(-1, 24), min_size=1, max_size=25), st.lists(st.booleans(), min_size=25, max_size=25))
def test_the_forest_equals_networkx_on_any_parent_array_loops_included(raw, soft_raw):
    n = len(raw)
    parent = np.array([p if p < n else -1 for i, p in enumerate(raw)], dtype=np.int64)  # self-loops too
    soft = np.array(soft_raw[:n], dtype=bool)
    depth, desc = I._forest(parent, soft=soft)
    # the oracle: on each loop (networkx finds them) cut its soft links, or all of them when none is soft
    g = nx.DiGraph((i, int(p)) for i, p in enumerate(parent) if p >= 0)  # child -> parent
    cut = parent.copy()
    for loop in nx.simple_cycles(g):
        on = [v for v in loop if soft[v]] or loop
        cut[on] = -1
    t = nx.DiGraph()
    t.add_nodes_from(range(n))
    t.add_edges_from((int(p), i) for i, p in enumerate(cut) if p >= 0)  # parent -> child, now a forest
    assert nx.is_forest(t)
    want = {}
    for r in (i for i in range(n) if cut[i] < 0):
        want.update(nx.single_source_shortest_path_length(t, r))
    assert depth.tolist() == [want[i] for i in range(n)]
    assert desc.tolist() == [len(nx.descendants(t, i)) for i in range(n)]


def test_a_declared_link_under_a_post_without_a_published_count_recomputes_only_from_its_child(tmp_path):
    recs = _records(EVAL_SETTINGS[1], 1200)
    for r in recs:  # a platform that publishes no remix counts: a parent has no capacity to read
        r["metrics"] = {k: v for k, v in r.get("metrics", {}).items() if k != "remixes"}
    recs.sort(key=lambda r: r["created_at"])
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, recs, source="simulate")
    I.infer(a)
    late = [{**r, "parents": [{"id": recs[0]["id"], "relation": "remix"}], "fetched_at": "2026-08-01T00:00:00Z"}
            for r in recs[-3:]]
    ingest_records(a, late, source="simulate")
    assert I.infer(a)["recomputed"] == 0  # the 3 posts are declared now; nothing later to choose again
    full = Archive.open(tmp_path / "full", create=True)
    ingest_records(full, recs, source="simulate")
    ingest_records(full, late, source="simulate")
    I.infer(full)
    assert_frame_equal(I.inferred_edges(a).select(COLS), I.inferred_edges(full).select(COLS))
