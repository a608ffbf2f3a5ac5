"""Edge cases of the lineage measures: empty, identical, CJK and huge prompts, one-node trees,
a 100,000-deep chain, a placeholder root, and text normalisation."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage.analyze import analyze_trees
from lineage.blame import blame_path, blame_summary
from lineage.decay import tree_shape
from lineage.drift import edge_drift, node_drift, token_diff
from lineage.paths import ancestor_at_depth, depths, euler_tour, path_sums, subtree_sums
from lineage.text import BOUNDARY, MAX_ALIGN_TOKENS, normalize, tokenize, tokens_expr, tokens_series


def _pair(a: str, b: str) -> dict:
    nodes = pl.DataFrame({"id": ["p", "c"], "text": [a, b]})
    return edge_drift(nodes, pl.DataFrame({"child": ["c"], "parent": ["p"]})).row(0, named=True)


@pytest.mark.parametrize("raw, expected", [
    ("Ｆｉｌｍ Ｎｏｉｒ", "film noir"),                      # NFKC folds full-width letters
    ("film\u200bnoir", "filmnoir"),                          # zero-width space removed
    ("\u202erion mlif\u202c", "rion mlif"),                  # bidi override removed, text kept
    ("STRASSE straße", "strasse strasse"),                   # case folding
    ("line\none\ttab", "line one tab"),                      # whitespace controls become spaces
    ("bell\x07ring", "bellring"),
    ("", ""),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("A corgi, surfing!", ["a", "corgi", "surfing"]),
    ("stop-motion 8-bit", ["stop", "motion", "8", "bit"]),
    ("don't panic", ["don't", "panic"]),
    ("柴犬が海で", ["柴", "犬", "が", "海", "で"]),               # Japanese: one token per character
    ("一只熊猫在雨中跳舞, claymation", [*"一只熊猫在雨中跳舞", "claymation"]),
    ("ein Dackel im Anzug", ["ein", "dackel", "im", "anzug"]),
    ("", []),
    ("   ,,, !!", []),
])
def test_tokenize(raw, expected):
    assert tokenize(raw) == expected


_MIXED = st.text(alphabet=st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), st.characters(min_codepoint=0xA0, max_codepoint=0xFF),
    st.characters(min_codepoint=0x3000, max_codepoint=0x30FF),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x4E20),
    st.sampled_from(["ß", "Σ", "ﬁ", "\u200b", "\u202e", "\t", "Ｆ", "’"])), max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), _MIXED), min_size=1, max_size=20))
def test_fast_paths_equal_the_full_expression(texts):
    fast = tokens_series(pl.Series(texts, dtype=pl.String)).to_list()
    full = pl.DataFrame({"t": texts}, schema={"t": pl.String}).select(tokens_expr("t")).get_column("t").to_list()
    assert fast == full
    assert [tokenize(t) for t in texts] == full
    # the clause-break tokens used for style matching are the same words plus break markers
    with_breaks = tokens_series(pl.Series(texts, dtype=pl.String), boundaries=True).to_list()
    assert [[w for w in ws if w != BOUNDARY] for ws in with_breaks] == full


def test_empty_and_identical_prompts():
    both_empty = _pair("", "")
    assert (both_empty["jaccard"], both_empty["edit"]) == (0.0, 0.0)
    one_empty = _pair("", "a cat")
    assert (one_empty["jaccard"], one_empty["edit"], one_empty["added"]) == (1.0, 1.0, ["a cat"])
    same = _pair("A cat, claymation", "a CAT claymation!")  # identical after normalisation
    assert (same["jaccard"], same["edit"], same["added"], same["removed"], same["replaced"]) == (0.0, 0.0, [], [], [])
    reordered = _pair("cat dog", "dog cat")  # same words, other order: only the edit distance sees it
    assert reordered["jaccard"] == 0.0 and reordered["edit"] == 1.0
    assert token_diff("", "") == [] and token_diff("a b", "a b") == [("equal", "a"), ("equal", "b")]
    assert blame_path([("r", ""), ("c", "")]).height == 0


def test_cjk_drift_means_something():
    # rain -> snow: one character of nine changed; 8 shared of 10 distinct characters. Drift is small, not 1
    e = _pair("一只熊猫在雨中跳舞", "一只熊猫在雪中跳舞")
    assert e["jaccard"] == pytest.approx(1 - 8 / 10) and e["edit"] == pytest.approx(1 / 9)
    assert e["replaced"] == ["雨 → 雪"]
    j = _pair("柴犬が雨の中で踊っている", "柴犬が雨の中で踊っている, claymation")
    assert j["added"] == ["claymation"] and 0 < j["jaccard"] < 0.2


def test_megabyte_prompt_is_capped_for_alignment():
    words = [f"w{i}" for i in range(200_000)]
    big = " ".join(words)
    assert len(big) > 1_000_000
    tail_changed = " ".join(words[:-1] + ["different"])
    e = _pair(big, tail_changed)
    # Jaccard sees every token; the edit distance only the first MAX_ALIGN_TOKENS, where nothing changed
    assert e["jaccard"] == pytest.approx(2 / 200_001)
    assert e["edit"] == 0.0 and e["replaced"] == []
    head_changed = " ".join(["different"] + words[1:])
    assert _pair(big, head_changed)["edit"] == pytest.approx(1 / MAX_ALIGN_TOKENS)
    b = blame_path([("r", big), ("c", head_changed)])
    assert b.height == MAX_ALIGN_TOKENS and b.filter(pl.col("introduced_by") == "c").height == 1


def test_one_node_tree():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    n = pl.DataFrame({"id": ["solo"], "parent": [None], "root": ["solo"], "depth": [0], "created_at": [t0],
                      "text": ["a lonely vending machine, vhs"]}, schema_overrides={"parent": pl.String})
    out = analyze_trees(n)
    assert out["nodes"].select("root_drift", "path_drift", "directness", "retention").row(0) == (0.0, 0.0, 1.0, 1.0)
    assert out["edges"].height == 0
    tr = out["trees"].row(0, named=True)
    assert (tr["size"], tr["depth"], tr["breadth"], tr["leaves"], tr["sackin"], tr["colless_like"]) == (1, 0, 1, 1, 0, 0)
    assert tr["structural_virality"] is None and tr["drift_rate"] is None  # no pair of posts: undefined, not 0
    assert out["styles"].get_column("term").to_list() == ["vhs"]


def test_placeholder_root_is_skipped():
    # the root is not in the archive (a placeholder, no text): drift is measured from its first real child
    nodes = pl.DataFrame({"id": ["ghost", "a", "b", "c"], "text": ["", "red fox", "red cat", "blue cat"],
                          "placeholder": [True, False, False, False]})
    lin = pl.DataFrame({"id": ["ghost", "a", "b", "c"], "parent": [None, "ghost", "a", "ghost"],
                        "root": ["ghost"] * 4, "depth": [0, 1, 2, 1]})
    nd = {r["id"]: r for r in node_drift(nodes, lin).iter_rows(named=True)}
    assert nd["ghost"]["root_drift"] is None and nd["a"]["edge_drift"] is None
    assert nd["a"]["root_drift"] == 0.0 and nd["c"]["root_drift"] == 0.0  # each is its own anchor
    assert nd["b"]["root_drift"] == pytest.approx(2 / 3) and nd["b"]["path_drift"] == pytest.approx(2 / 3)
    _, ret = blame_summary(nodes, lin)
    ret = dict(ret.select("id", "retention").rows())
    assert ret["ghost"] is None and ret["a"] == 1.0 and ret["b"] == 0.5


def test_hundred_thousand_deep_chain():
    n = 100_000
    ids = [f"n{i:06d}" for i in range(n)]
    texts = ["a cat" if i % 2 == 0 else "a dog" for i in range(n)]
    nodes = pl.DataFrame({"id": ids, "text": texts})
    lin = pl.DataFrame({"id": ids, "parent": [None] + ids[:-1], "root": [ids[0]] * n, "depth": list(range(n))},
                       schema_overrides={"parent": pl.String})
    nd = node_drift(nodes, lin).sort("depth")
    last = nd.row(-1, named=True)
    # every edge swaps cat/dog: drift 2/3 per edge, root drift 2/3 at odd depths
    assert last["path_drift"] == pytest.approx((n - 1) * 2 / 3)
    assert last["root_drift"] == pytest.approx(2 / 3)
    shares, ret = blame_summary(nodes, lin)
    assert ret.filter(pl.col("id") == ids[-1])["retention"].item() == 0.5
    # 'dog' at the last node was first introduced at depth 1: reintroduced ever since
    shape = tree_shape(lin).row(0, named=True)
    assert (shape["depth"], shape["leaves"], shape["sackin"]) == (n - 1, 1, n - 1)
    assert shape["structural_virality"] == pytest.approx((n + 1) / 3)  # mean distance on a path graph


def test_path_helpers_match_a_naive_walk():
    rng = np.random.default_rng(3)
    n = 400
    parent = np.array([-1] + [int(rng.integers(0, i)) for i in range(1, n)])
    parent[[37, 150]] = -1
    w = rng.random(n)
    d = depths(parent)
    tin, tout = euler_tour(parent, d)
    sizes = subtree_sums(parent, np.ones(n, dtype=np.int64), d)
    for v in range(0, n, 13):
        path = [v]
        while parent[path[-1]] >= 0:
            path.append(int(parent[path[-1]]))
        assert d[v] == len(path) - 1
        assert path_sums(parent, w)[v] == pytest.approx(w[path].sum())
        assert ancestor_at_depth(parent, d, np.array([v]), np.array([0]))[0] == path[-1]
        below = [u for u in range(n) if tin[v] <= tin[u] < tout[v]]
        assert len(below) == sizes[v]


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_blame_summary_equals_the_token_level_blame(data):
    n = data.draw(st.integers(1, 25))
    parents = [None] + [data.draw(st.integers(0, i - 1)) for i in range(1, n)]
    words = st.lists(st.sampled_from(["a", "fox", "cat", "noir", "anime", "sea"]), max_size=6)
    texts = [" ".join(data.draw(words)) for _ in range(n)]
    ids = [f"n{i}" for i in range(n)]
    depth = [0] * n
    for i in range(1, n):
        depth[i] = depth[parents[i]] + 1
    nodes = pl.DataFrame({"id": ids, "text": texts})
    lin = pl.DataFrame({"id": ids, "parent": [ids[p] if p is not None else None for p in parents], "depth": depth},
                       schema_overrides={"parent": pl.String})
    from lineage.blame import blame_shares, blame_tree, root_retention

    full = blame_tree(nodes, lin)
    shares, ret = blame_summary(nodes, lin)
    assert shares.sort("id", "ancestor").rows() == blame_shares(full).sort("id", "ancestor").rows()
    assert ret.rows() == root_retention(full, lin).rows()


@pytest.mark.parametrize("seed", range(5))
def test_kaplan_meier_equals_scipy_ecdf_with_censored_data(seed: int):
    """Our Kaplan-Meier (polars, with at-risk/event/censored counts) against scipy.stats.ecdf on the same data.

    scipy agrees to rounding (a few units in the last place), not bit for bit, which can move
    a median that sits exactly on 0.5: the polars product is kept so the figures stay as they were.
    """
    from scipy.stats import CensoredData, ecdf

    from lineage.decay import kaplan_meier

    rng = np.random.default_rng(seed)
    d = np.round(rng.exponential(3.0, 200), 1)
    e = rng.random(200) < 0.7
    km = kaplan_meier(d, e)
    want = ecdf(CensoredData(uncensored=d[e], right=d[~e])).sf.evaluate(km.get_column("time").to_numpy())
    np.testing.assert_allclose(km.get_column("survival").to_numpy(), want, rtol=0, atol=1e-12)
    assert km.get_column("events").sum() == e.sum() and km.get_column("censored").sum() == (~e).sum()


def test_edge_drift_same_with_ids_sorted_or_not():
    """Sorted unique ids take a binary search, others a join: the same drift either way."""
    rng = np.random.default_rng(3)
    words = ["red", "fox", "cat", "owl", "vhs", "noir", "neon", "rain"]
    ids = [f"n{i:03d}" for i in range(120)]
    nodes = pl.DataFrame({"id": ids, "text": [" ".join(rng.choice(words, 4)) for _ in ids]})
    edges = pl.DataFrame({"child": ids[1:], "parent": [ids[int(rng.integers(0, k + 1))] for k in range(119)]})
    by_search = edge_drift(nodes, edges, ops=False)
    by_join = edge_drift(nodes.sample(fraction=1.0, shuffle=True, seed=1), edges, ops=False)
    assert by_search.get_column("jaccard").drop_nulls().len() == 119
    assert by_search.equals(by_join)
