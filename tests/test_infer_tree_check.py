"""The tree check (lineage.infer.tree_check): recovery against the simulator's truth, the forest
it counts in against networkx, and reruns (a later ingest can cut an earlier link)."""
from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import networkx as nx
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import lineage.infer as I
from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive
from lineage.infer_eval import _truth_root
from lineage.infer_fit import CALIBRATION_SETTINGS, EVAL_SETTINGS, FIT_SETTINGS, simulated_posts

COLS = ["child", "parent", "confidence", "features", "method"]


def _records(setting: dict, posts: int) -> list[dict]:
    kw = {k: v for k, v in setting.items() if k not in ("counts", "short")}
    return [{k: v for k, v in r.items() if k != "parents"} for r in simulate(SimParams(**{**kw, "posts": posts}))[0]]


def test_the_tree_check_keeps_trees_together_on_settings_the_fit_never_saw():
    fitted = {s["seed"] for s in FIT_SETTINGS + CALIBRATION_SETTINGS}
    w = I.load_weights()
    assert w.tree_check, "the shipped weights carry the tree check"
    without = dataclasses.replace(w, tree_check={})
    gains, parent_changes, cut_right, cut_n = [], [], 0, 0
    # two unseen settings, two seeds each: on one archive a handful of cuts decide the share right
    for s in [dict(x, seed=x["seed"] + k) for x in (EVAL_SETTINGS[1], EVAL_SETTINGS[3]) for k in (0, 10)]:
        assert s["seed"] not in fitted
        posts, truth = simulated_posts(s)
        on, off = I.evaluate_frame(posts, truth, weights=w), I.evaluate_frame(posts, truth, weights=without)
        gains.append(on["tree_accuracy"] - off["tree_accuracy"])
        parent_changes.append(on["parent_accuracy"] - off["parent_accuracy"])
        # the links it cut: the child is a true root, or its chosen parent is in another true tree
        res = I.infer_frame(posts, weights=w)
        ids = posts["id"].to_list()
        root = _truth_root(ids, {i: truth.get(i) for i in ids})
        assert res.cut is not None and res.summary()["cut_by_tree_check"] == res.cut.height
        cut_n += res.cut.height
        cut_right += sum(root[c] != root[p] for c, p in res.cut.select("child", "parent").iter_rows())
        assert not res.cut["child"].is_in(res.edges["child"].implode()).any()
    # measured (method 6): 0.564 -> 0.768, 0.737 -> 0.823, 0.632 -> 0.791 and 0.668 -> 0.860 (tree membership),
    # parent accuracy within 0.002; 53 cuts, 32 of them right (0.60; 0.67 over twelve unseen archives).
    # Method 7: 75 cuts, 44 right (0.59; 0.66 over the twelve at its first fit). A cut is made below even odds of the
    # posts it would misplace, not of being right, so the bar is that more cuts are right than wrong:
    # on four archives the share moves by a few cuts from one refit to the next.
    assert np.mean(gains) >= 0.08 and min(gains) > 0.0
    assert min(parent_changes) >= -0.003
    assert cut_n > 0 and cut_right / cut_n > 0.5


def test_descendants_and_depths_equal_networkx():
    rng = np.random.default_rng(4)
    n = 3000
    parent = np.array([-1] + [int(rng.integers(0, i)) if rng.random() < 0.95 else -1 for i in range(1, n)])
    perm = rng.permutation(n)  # node order unrelated to the tree order
    inv = np.argsort(perm)
    shuffled = np.where(parent[perm] >= 0, inv[np.maximum(parent[perm], 0)], -1)
    depth, desc = I._forest(shuffled)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from((int(p), i) for i, p in enumerate(shuffled) if p >= 0)
    roots = [i for i in range(n) if shuffled[i] < 0]
    want_depth = {}
    for r in roots:
        want_depth.update(nx.single_source_shortest_path_length(g, r))
    assert depth.tolist() == [want_depth[i] for i in range(n)]
    assert desc.tolist() == [len(nx.descendants(g, i)) for i in range(n)]


def test_a_cycle_of_declared_links_is_counted_as_roots():
    depth, desc = I._forest(np.array([-1, 0, 3, 2, 3]))  # 2 <-> 3 a cycle, 4 below it
    # the cycle's nodes are roots; 4 keeps its parent (tests/test_infer_tree_check_break.py: loops)
    assert depth.tolist() == [0, 1, 0, 0, 1] and desc.tolist() == [1, 0, 0, 1, 0]


def test_declared_descendants_count_and_nothing_is_cut_without_fitted_terms():
    links = pl.DataFrame({"child": ["b"], "parent": ["a"], "features": [{"jaccard": 0.3, "delay_hours": 500.0}]})
    lin = pl.DataFrame({"id": [f"d{i}" for i in range(30)] + ["a", "b"],
                        "parent": ["b"] * 30 + [None, None]})
    X, desc = I._link_design(links, lin)
    assert desc.tolist() == [30] and X[0, 1] == pytest.approx(np.log1p(30))
    kept, cut = I.tree_check(links, I.Weights(coef={}), lineage=lin)
    assert kept.height == 1 and cut.height == 0


def test_a_later_ingest_can_cut_an_earlier_link_and_the_rerun_equals_a_full_run(tmp_path: Path):
    recs = _records(EVAL_SETTINGS[1], 4000)
    half = len(recs) // 2
    inc = Archive.open(tmp_path / "inc", create=True)
    ingest_records(inc, recs[:half], source="simulate")
    I.infer(inc)
    cut_before = set(I.inferred_cut(inc)["child"].to_list())
    ingest_records(inc, recs[half:], source="simulate")
    s = I.infer(inc)
    # only the new posts and the earlier ones of their week got their candidates scored again (the earlier
    # ones shared published remixes with them: the assignment serves a week at a time)
    week = I.batch_start(datetime.fromisoformat(recs[half]["created_at"].replace("Z", "+00:00")))
    again = sum(datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")) >= week for r in recs)
    assert s["recomputed"] == again and len(recs) - half <= again < len(recs)
    old_ids = {r["id"] for r in recs[:half]}
    cut_after = set(I.inferred_cut(inc)["child"].to_list())
    assert cut_after - cut_before & old_ids, "their new descendants cut links of earlier posts"
    full = Archive.open(tmp_path / "full", create=True)
    ingest_records(full, recs, source="simulate")
    sf = I.infer(full)
    assert sf["cut_by_tree_check"] == s["cut_by_tree_check"] == len(cut_after)
    assert_frame_equal(I.inferred_edges(inc).select(COLS), I.inferred_edges(full).select(COLS))
    assert_frame_equal(I.inferred_cut(inc).select(COLS + ["descendants"]),
                       I.inferred_cut(full).select(COLS + ["descendants"]))
    # the store's readers never see a cut link
    allx = inc.edges(edges="all").filter(pl.col("evidence") == "inferred")
    assert not allx["child"].is_in(pl.Series(sorted(cut_after)).implode()).any()


def test_a_run_stopped_between_its_two_writes_is_followed_by_a_full_run(tmp_path: Path):
    recs = _records(EVAL_SETTINGS[1], 1200)
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, recs, source="simulate")
    I.infer(a)
    before = I.inferred_edges(a).select(COLS)
    # what a run leaves when it stops after writing inferred_cut and before inferred_edges
    a.write_table("inferred_cut", I.inferred_cut(a), mode="overwrite", metadata={I.RUN_KEY: "stopped-run"})
    s = I.infer(a)
    assert s["recomputed"] == len(recs)  # the two tables disagree: every post again
    assert_frame_equal(I.inferred_edges(a).select(COLS), before)
    assert I.infer(a)["recomputed"] == 0  # and the next run is incremental again


def test_a_leaf_under_a_very_deep_declared_chain_is_kept():
    # a declared chain 5,000 deep (Scratch keeps such chains) and an identical leaf posted a day after its
    # last post: the depth term counts at most TREE_CHECK_MAX_DEPTH, the range the fit saw (it was cut)
    n = 5000
    lin = pl.DataFrame({"id": [f"s{i}" for i in range(n)], "parent": [None] + [f"s{i}" for i in range(n - 1)]})
    links = pl.DataFrame({"child": ["leaf"], "parent": [f"s{n - 1}"],
                          "features": [{"jaccard": 1.0, "delay_hours": 24.0}]})
    X, desc = I._link_design(links, lin)
    assert desc.tolist() == [0] and X[0, 5] == pytest.approx(np.log1p(I.TREE_CHECK_MAX_DEPTH))
    kept, cut = I.tree_check(links, I.load_weights(), lineage=lin)
    assert kept.height == 1 and cut.height == 0
    # a parent within the fitted range is counted at its own depth
    X, _ = I._link_design(links.with_columns(parent=pl.lit("s3")), lin)
    assert X[0, 5] == pytest.approx(np.log1p(3))
