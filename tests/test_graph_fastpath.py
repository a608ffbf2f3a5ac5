"""The fast path of compute_lineage (hash index, merge of placeholders) gives exactly the plain sort-and-join result."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from archive import graph
from archive.graph import compute_lineage, primary_parents

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
RELATIONS = ["remix", "parentOf", "componentOf", "inspired"]


def exact(nodes: pl.DataFrame, edges: pl.DataFrame, created: pl.DataFrame | None):
    """compute_lineage with the fast path switched off."""
    orig = graph._ids_and_codes
    graph._ids_and_codes = lambda *a: None  # type: ignore[assignment]
    try:
        return compute_lineage(nodes, edges, created=created)
    finally:
        graph._ids_and_codes = orig  # type: ignore[assignment]


@st.composite
def archives(draw):
    n = draw(st.integers(1, 30))
    extra = draw(st.integers(0, 5))  # parents that are not nodes: placeholders
    names = [f"p:{i:02d}" for i in range(n + extra)]
    node_ids = names[:n]
    if draw(st.booleans()):
        node_ids = sorted(node_ids, key=lambda s: draw(st.integers(0, 10**6)))
    if draw(st.booleans()) and n > 1:
        node_ids = node_ids + [node_ids[0]]  # a repeated id: the exact path
    m = draw(st.integers(0, 3 * (n + extra)))
    child = [names[draw(st.integers(0, n + extra - 1))] for _ in range(m)]
    parent = [names[draw(st.integers(0, n + extra - 1))] for _ in range(m)]
    relation = [RELATIONS[draw(st.integers(0, 3))] for _ in range(m)]
    rank = [draw(st.integers(0, 3)) for _ in range(m)]
    edges = pl.DataFrame({"child": child, "parent": parent, "relation": relation, "rank": rank},
                         schema={"child": pl.String, "parent": pl.String, "relation": pl.String, "rank": pl.Int64})
    created = None
    if draw(st.booleans()):
        created = pl.DataFrame({"id": names[:n], "created_at": [T0 + timedelta(days=draw(st.integers(0, 5)))
                                                               for _ in range(n)]})
    return pl.DataFrame({"id": node_ids}, schema={"id": pl.String}), edges, created


@settings(max_examples=300, deadline=None)
@given(archives())
def test_fast_path_equals_exact_path(case):
    nodes, edges, created = case
    lin, problems = compute_lineage(nodes, edges, created=created)
    ref, ref_problems = exact(nodes, edges, created)
    assert_frame_equal(lin, ref)
    assert_frame_equal(problems.sort("kind", "id"), ref_problems.sort("kind", "id"))


def test_index_finds_every_id_and_nothing_else():
    ids = pl.Series("id", [f"x:{i}" for i in range(5000)]).sort()
    index = graph._Index(ids)
    assert index.ok
    probe = pl.Series(["x:17", "nope", "x:4999", None, "x:0"])
    codes = index.codes(probe)
    assert codes is not None
    assert [ids[int(c)] if c >= 0 else None for c in codes] == ["x:17", None, "x:4999", None, "x:0"]


def test_repeated_ids_make_the_index_unusable():
    assert not graph._Index(pl.Series(["a:1", "a:1", "b:2"])).ok


def test_several_parents_follow_the_primary_rule_on_the_fast_path():
    nodes = pl.DataFrame({"id": ["c1", "early", "late", "r1", "x", "y"]})
    edges = pl.DataFrame({"child": ["x", "x", "y", "y"], "parent": ["c1", "r1", "late", "early"],
                          "relation": ["componentOf", "remix", "componentOf", "inspired"], "rank": [0, 1, 0, 1]})
    created = pl.DataFrame({"id": ["late", "early"], "created_at": [T0 + timedelta(days=9), T0]})
    lin, _ = compute_lineage(nodes, edges, created=created)
    prim = dict(primary_parents(edges).rows())
    assert dict(lin.filter(pl.col("parent").is_not_null()).select("id", "parent").rows()) == prim == {
        "x": "r1", "y": "late"}
    assert np.array_equal(lin["depth"].to_numpy(), [0, 0, 0, 0, 1, 1])
