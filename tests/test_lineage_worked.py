"""A small archive worked by hand: every diff, blame, share, bleed label and decay figure below
is derived in the comments from the prompts, not copied from the code's output.

Tree A (root r) and tree B (root s); days after 2026-01-01:

    r    d0   "a red fox, claymation"                      tokens a red fox claymation
    ├ a1 d1   "a red fox jumping, claymation, film noir"    a red fox jumping claymation film noir
    └ a2 d2   "a blue fox, claymation"                      a blue fox claymation
      └ a21 d3  "a blue fox, film noir"                     a blue fox film noir
        └ a211 d6 "a blue fox, claymation"                  a blue fox claymation
    s    d1.5 "a green owl, anime"                          a green owl anime
    ├ b1 d4   "a green owl, anime, film noir"
    └ b2 d5   "a green owl, claymation"
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from fractions import Fraction as Fr

import numpy as np
import polars as pl
import pytest

from archive.ingest import ingest_records
from archive.store import Archive
from lineage.analyze import analyze, analyze_trees, load_results
from lineage.blame import blame_path, blame_shares, blame_summary, blame_tree, root_retention
from lineage.bleed import bleed_rates, flow_matrix, label_new_styles
from lineage.decay import activity, branching_decay, engagement_decay, fidelity_by_depth, remixing_dilemma, tree_shape
from lineage.drift import drift_rate, edge_drift, node_drift
from lineage.styles import styles_frame

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
POSTS = [  # id, parent, day, prompt, views
    ("r", None, 0.0, "a red fox, claymation", 99),
    ("a1", "r", 1.0, "a red fox jumping, claymation, film noir", 9),
    ("a2", "r", 2.0, "a blue fox, claymation", 9),
    ("a21", "a2", 3.0, "a blue fox, film noir", 0),
    ("a211", "a21", 6.0, "a blue fox, claymation", 0),
    ("s", None, 1.5, "a green owl, anime", 99),
    ("b1", "s", 4.0, "a green owl, anime, film noir", 9),
    ("b2", "s", 5.0, "a green owl, claymation", 9),
]
ROOT = {"r": "r", "a1": "r", "a2": "r", "a21": "r", "a211": "r", "s": "s", "b1": "s", "b2": "s"}
DEPTH = {"r": 0, "a1": 1, "a2": 1, "a21": 2, "a211": 3, "s": 0, "b1": 1, "b2": 1}


@pytest.fixture(scope="module")
def frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    nodes = pl.DataFrame({"id": [p[0] for p in POSTS], "text": [p[3] for p in POSTS],
                          "views": [p[4] for p in POSTS]})
    lin = pl.DataFrame({
        "id": [p[0] for p in POSTS], "parent": [p[1] for p in POSTS], "root": [ROOT[p[0]] for p in POSTS],
        "depth": [DEPTH[p[0]] for p in POSTS], "created_at": [T0 + timedelta(days=p[2]) for p in POSTS],
    }, schema_overrides={"parent": pl.String})
    return nodes, lin


def approx(x: float | Fr) -> object:
    return pytest.approx(float(x), abs=1e-12)


def test_edge_drift_and_edit_operations(frames):
    nodes, lin = frames
    e = edge_drift(nodes, lin.filter(pl.col("parent").is_not_null()).select(child="id", parent="parent"))
    got = {r["child"]: r for r in e.iter_rows(named=True)}
    # r -> a1: sets share {a, red, fox, claymation} (4) of 7 words; 3 insertions over 7 tokens
    assert got["a1"]["jaccard"] == approx(Fr(3, 7)) and got["a1"]["edit"] == approx(Fr(3, 7))
    assert (got["a1"]["added"], got["a1"]["removed"], got["a1"]["replaced"]) == (["jumping", "film noir"], [], [])
    # r -> a2: red swapped for blue: 3 shared of 5; one substitution over 4 tokens
    assert got["a2"]["jaccard"] == approx(Fr(2, 5)) and got["a2"]["edit"] == approx(Fr(1, 4))
    assert got["a2"]["replaced"] == ["red → blue"]
    # a2 -> a21: claymation -> film noir: 3 shared of 6; 2 edits over 5 tokens
    assert got["a21"]["jaccard"] == approx(Fr(1, 2)) and got["a21"]["edit"] == approx(Fr(2, 5))
    assert got["a21"]["replaced"] == ["claymation → film noir"]
    # a21 -> a211: back again
    assert got["a211"]["jaccard"] == approx(Fr(1, 2)) and got["a211"]["replaced"] == ["film noir → claymation"]
    # s -> b1: {a green owl anime} vs + {film noir}: 4 of 6; s -> b2: anime -> claymation: 3 of 5
    assert got["b1"]["drift"] == approx(Fr(1, 3)) and got["b2"]["drift"] == approx(Fr(2, 5))


def test_root_and_path_drift_directness_and_rate(frames):
    nodes, lin = frames
    nd = {r["id"]: r for r in node_drift(nodes, lin).iter_rows(named=True)}
    # root drift against r = {a, red, fox, claymation}
    assert nd["a21"]["root_drift"] == approx(Fr(5, 7))  # shares {a, fox} of 7 words
    assert nd["a211"]["root_drift"] == approx(Fr(2, 5))  # same words as a2
    # path drift: sums of edge drift
    assert nd["a21"]["path_drift"] == approx(Fr(2, 5) + Fr(1, 2))
    assert nd["a211"]["path_drift"] == approx(Fr(2, 5) + Fr(1, 2) + Fr(1, 2))
    assert nd["a21"]["directness"] == approx(Fr(5, 7) / Fr(9, 10))
    assert nd["a211"]["directness"] == approx(Fr(2, 5) / Fr(7, 5))
    assert nd["r"]["directness"] == 1.0 and nd["r"]["path_drift"] == 0.0
    # drift rate of tree A: least squares of D on depth over (0,0) (1,3/7) (1,2/5) (2,5/7) (3,2/5)
    xs = [0, 1, 1, 2, 3]
    ys = [Fr(0), Fr(3, 7), Fr(2, 5), Fr(5, 7), Fr(2, 5)]
    mx, my = Fr(sum(xs), 5), sum(ys) / 5
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    assert slope == Fr(129, 910)
    tree_a = node_drift(nodes, lin).filter(pl.col("root") == "r")
    assert drift_rate(tree_a) == approx(slope)


def test_blame_shares_and_retention(frames):
    nodes, lin = frames
    b = blame_tree(nodes, lin)
    rows = lambda i: b.filter(pl.col("id") == i).sort("position").select(  # noqa: E731
        "token", "introduced_by", "reintroduced", "first_by").rows()
    # a21 keeps a, fox from r and blue from a2; film noir are its own
    assert rows("a21") == [("a", "r", False, "r"), ("blue", "a2", False, "a2"), ("fox", "r", False, "r"),
                           ("film", "a21", False, "a21"), ("noir", "a21", False, "a21")]
    # a211 brings claymation back: r used it first, a21 dropped it
    assert rows("a211")[-1] == ("claymation", "a211", True, "r")
    shares = {(r["id"], r["ancestor"]): r["share"] for r in blame_shares(b).iter_rows(named=True)}
    assert shares[("a21", "r")] == approx(Fr(2, 5)) and shares[("a21", "a2")] == approx(Fr(1, 5))
    assert shares[("a21", "a21")] == approx(Fr(2, 5))
    assert shares[("a211", "a211")] == approx(Fr(1, 4))
    ret = dict(root_retention(b, lin).select("id", "retention").rows())
    # a1 keeps all 4 root words; a2 3 of 4 (red went); a21 and a211 keep a, fox: 2 of 4
    assert (ret["a1"], ret["a2"], ret["a21"], ret["a211"], ret["r"]) == (1.0, 0.75, 0.5, 0.5, 1.0)
    # the streaming summary agrees with the token-level blame
    s2, r2 = blame_summary(nodes, lin)
    assert dict(r2.select("id", "retention").rows()) == ret
    assert {(r["id"], r["ancestor"]): r["share"] for r in s2.iter_rows(named=True)} == shares
    # blame_path of the path r -> a2 -> a21 -> a211 gives the same answer for the last prompt
    bp = blame_path([(i, dict(zip(nodes["id"], nodes["text"]))[i]) for i in ("r", "a2", "a21", "a211")])
    assert bp.select("token", "introduced_by", "reintroduced").rows() == [
        ("a", "r", False), ("blue", "a2", False), ("fox", "r", False), ("claymation", "a211", True)]


def test_bleed_labels_rates_and_flow(frames):
    nodes, lin = frames
    st = styles_frame(nodes)
    assert st.filter(pl.col("id") == "a1")["term"].to_list() == ["claymation", "film noir"]
    lab = label_new_styles(st, lin)
    labels = {(r["id"], r["term"]): (r["label"], r["source_root"]) for r in lab.iter_rows(named=True)}
    assert labels == {
        ("r", "claymation"): ("novel", None),          # first use anywhere
        ("s", "anime"): ("novel", None),
        ("a1", "claymation"): ("inherited", None),     # on its parent r
        ("a1", "film noir"): ("novel", None),          # nobody used film noir before day 1
        ("a2", "claymation"): ("inherited", None),
        ("a21", "film noir"): ("reused", None),        # only its own tree (sibling a1) used it before
        ("a211", "claymation"): ("reused", None),      # back on its path: r and a2 had it
        ("b1", "anime"): ("inherited", None),
        ("b1", "film noir"): ("bled", "r"),            # tree A used it on day 1 and day 3, never on b1's path
        ("b2", "claymation"): ("bled", "r"),           # tree A used it from day 0
    }
    trees = {r["root"]: r for r in bleed_rates(lab).iter_rows(named=True)}
    # tree A's remixes brought 3 new terms (a1 film noir, a21 film noir, a211 claymation), none bled
    assert (trees["r"]["new_terms"], trees["r"]["bled"], trees["r"]["bleed_rate"]) == (3, 0, 0.0)
    assert (trees["s"]["new_terms"], trees["s"]["bled"], trees["s"]["bleed_rate"]) == (2, 2, 1.0)
    share = dict(bleed_rates(lab, level="node").select("id", "bleed_share").rows())
    assert share["b1"] == 1.0 and share["a21"] == 0.0 and share["a2"] is None
    assert flow_matrix(lab).rows() == [("r", "s", 2)]


def test_decay_numbers(frames):
    nodes, lin = frames
    shape = {r["root"]: r for r in tree_shape(lin).iter_rows(named=True)}
    # tree A: leaves a1 (depth 1) and a211 (depth 3): Sackin 4; Colless-like (Mir et al. 2018, f = ln(k + e), MDM):
    # r's children have f-sizes ln(e) = 1 and 2 ln(1 + e) + 1, mean deviation from their median ln(1 + e);
    # pair distances r-a1 1, r-a2 1, r-a21 2, r-a211 3, a1-a2 2, a1-a21 3, a1-a211 4, a2-a21 1, a2-a211 2,
    # a21-a211 1: 20 over 10 pairs
    a = shape["r"]
    assert (a["size"], a["depth"], a["breadth"], a["leaves"], a["sackin"]) == (5, 3, 2, 2, 4)
    assert a["colless_like"] == approx(math.log(1 + math.e)) and a["sackin_per_leaf"] == 2.0
    assert a["structural_virality"] == approx(2.0)
    b = shape["s"]
    assert (b["size"], b["sackin"], b["colless_like"]) == (3, 2, 0) and b["structural_virality"] == approx(Fr(4, 3))
    # fidelity by depth: depth 1 holds a1 (4/7), a2 (3/5), b1 (2/3), b2 (3/5)
    fid = {r["depth"]: r["fidelity"] for r in fidelity_by_depth(node_drift(nodes, lin)).iter_rows(named=True)}
    assert fid[0] == 1.0 and fid[1] == approx((Fr(4, 7) + Fr(3, 5) + Fr(2, 3) + Fr(3, 5)) / 4)
    assert fid[2] == approx(Fr(2, 7)) and fid[3] == approx(Fr(3, 5))
    # branching: N = 2, 4, 1, 1 by generation
    table, _ = branching_decay(lin)
    assert table.select("generation", "nodes", "children", "m").rows() == [
        (0, 2, 4, 2.0), (1, 4, 1, 0.25), (2, 1, 1, 1.0), (3, 1, 0, 0.0)]
    # activity: remix delays after their root: 1, 2, 3, 6 (A) and 2.5, 3.5 (B): median 2.75 days
    fetch = T0 + timedelta(days=10)
    summary, surv = activity(lin, fetched_at=fetch, quiet="3d")
    assert summary["half_life_days"] == approx(2.75) and summary["censored"] == 0
    # both trees ended (last remix 4 and 5 days before fetch): lifetimes 6 (A) and 3.5 (B)
    assert surv.select("time", "at_risk", "events", "survival").rows() == [(3.5, 2, 1, 0.5), (6.0, 1, 1, 0.0)]
    # with a 5-day quiet period tree A (last remix 4 days before fetch) is still active: censored at 10 days
    _, surv5 = activity(lin, fetched_at=fetch, quiet="5d")
    assert surv5.select("time", "events", "censored", "survival").rows() == [(3.5, 1, 0, 0.5), (10.0, 0, 1, 0.5)]
    # engagement: log(1 + views) = ln 100, ln 10 or 0; least squares by hand
    x = np.array([DEPTH[p[0]] for p in POSTS], dtype=float)
    y = np.log1p(np.array([p[4] for p in POSTS], dtype=float))
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    eng = engagement_decay(lin.join(nodes.select("id", "views"), on="id"))
    assert eng["slope"] == approx(slope) and slope < 0
    # remixing dilemma: children (a1 0, a2 1, a21 1, a211 0, b1 0, b2 0) vs drift from parent
    dil, _ = remixing_dilemma(node_drift(nodes, lin))
    kids = np.array([0, 1, 1, 0, 0, 0], dtype=float)
    drift = np.array([3 / 7, 2 / 5, 1 / 2, 1 / 2, 1 / 3, 2 / 5])
    assert dil["pearson"] == approx(np.corrcoef(kids, drift)[0, 1])


def test_analyze_stores_the_same_numbers(tmp_path, frames):
    recs = [{"id": f"h:{i}", "source": "h", "created_at": (T0 + timedelta(days=d)).isoformat().replace("+00:00", "Z"),
             "fetched_at": (T0 + timedelta(days=10)).isoformat().replace("+00:00", "Z"),
             "prompt": text, "metrics": {"views": v}, **({"parents": [{"id": f"h:{p}"}]} if p else {})}
            for i, p, d, text, v in POSTS]
    arc = Archive.open(tmp_path / "arc", create=True)
    ingest_records(arc, recs, source="h")
    out = analyze(arc)
    assert out["trees"] == 2 and out["trees_recomputed"] == 2
    nodes = {r["id"]: r for r in load_results(arc, "nodes").iter_rows(named=True)}
    assert nodes["h:a21"]["root_drift"] == approx(Fr(5, 7)) and nodes["h:a211"]["retention"] == 0.5
    assert nodes["h:b1"]["bleed_share"] == 1.0
    labels = {(r["id"], r["term"]): r["label"] for r in load_results(arc, "style_labels").iter_rows(named=True)}
    assert labels[("h:b2", "claymation")] == "bled" and labels[("h:a211", "claymation")] == "reused"
    assert load_results(arc, "flow").rows() == [("h:r", "h:s", 2)]
    trees = {r["root"]: r for r in load_results(arc, "trees").iter_rows(named=True)}
    assert trees["h:r"]["sackin"] == 4 and trees["h:s"]["bleed_rate"] == 1.0
    decay = {r["measure"]: r["value"] for r in load_results(arc, "decay").iter_rows(named=True)}
    assert decay["activity_half_life_days"] == approx(2.75)
    # the same measures as the pure per-tree function
    direct = analyze_trees(arc.lineage().join(arc.posts().select("id", "text", "style_tags"), on="id"))
    assert direct["nodes"].select("id", "root_drift").sort("id").rows() == \
        load_results(arc, "nodes").select("id", "root_drift").sort("id").rows()
    assert not math.isnan(decay["generational_half_life"] or 0.0)
