"""Lineage structure: roots and depths are finite and consistent on any input, cycles included."""
from __future__ import annotations

import networkx as nx
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.graph import compute_lineage, primary_parents


def _frames(n: int, pairs: list[tuple[int, int]]):
    nodes = pl.DataFrame({"id": [f"n:{i:03d}" for i in range(n)]})
    edges = pl.DataFrame({"child": [f"n:{c:03d}" for c, _ in pairs], "parent": [f"n:{p:03d}" for _, p in pairs]},
                         schema={"child": pl.String, "parent": pl.String})
    return nodes, edges


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))))
def test_any_parent_pointers_give_a_root_and_a_finite_depth_per_node(case):
    n, pairs = case
    nodes, edges = _frames(n, pairs)
    lin, problems = compute_lineage(nodes, edges)
    assert lin.height == n and lin.get_column("id").is_unique().all()
    rows = {r["id"]: r for r in lin.iter_rows(named=True)}
    for r in rows.values():
        if r["parent"] is None:
            assert r["root"] == r["id"] and r["depth"] == 0
        else:
            p = rows[r["parent"]]
            assert r["depth"] == p["depth"] + 1 and r["root"] == p["root"]
        assert rows[r["root"]]["parent"] is None
    # the primary edges kept form a forest
    g = nx.DiGraph([(r["parent"], r["id"]) for r in rows.values() if r["parent"] is not None])
    assert nx.is_forest(g.to_undirected()) if g.number_of_nodes() else True
    # every kept primary edge was an input edge, and self-loops are reported
    given_pairs = set(edges.rows())
    assert all((r["id"], r["parent"]) in given_pairs for r in rows.values() if r["parent"] is not None)
    assert ("self_loop" in problems.get_column("kind").to_list()) == any(c == p for c, p in pairs)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 60).flatmap(lambda n: st.lists(st.integers(0, 10**6), min_size=n - 1, max_size=n - 1)))
def test_acyclic_input_matches_networkx(parents_raw):
    n = len(parents_raw) + 1
    pairs = [(i, parents_raw[i - 1] % i) for i in range(1, n)]  # parent index < child index: a forest
    nodes, edges = _frames(n, pairs)
    lin, problems = compute_lineage(nodes, edges)
    assert problems.height == 0
    g = nx.DiGraph([(f"n:{p:03d}", f"n:{c:03d}") for c, p in pairs])
    depth = nx.single_source_shortest_path_length(g, "n:000")
    assert dict(zip(lin["id"], lin["depth"])) == depth


def test_a_100000_deep_chain():
    n = 100_000
    ids = [f"c:{i:06d}" for i in range(n)]
    lin, _ = compute_lineage(pl.DataFrame({"id": ids}), pl.DataFrame({"child": ids[1:], "parent": ids[:-1]}))
    assert lin.get_column("depth").max() == n - 1
    assert lin.get_column("root").unique().to_list() == ["c:000000"]


def test_primary_parent_is_first_declared_remix_else_first_declared():
    edges = pl.DataFrame({
        "child": ["x", "x", "x", "y", "y"],
        "parent": ["c1", "r1", "r2", "late", "early"],
        "relation": ["componentOf", "remix", "parentOf", "componentOf", "inspired"],
        "rank": [0, 1, 2, 0, 1],
    })
    assert primary_parents(edges).rows() == [("x", "r1"), ("y", "late")]
