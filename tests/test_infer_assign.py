"""The capacitated assignment (lineage.infer._capacitated): published remix counts shared by the children
of a week at once, checked against networkx's min-cost flow on the same utilities."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import lineage.infer as I

SCALE = 1_000_000  # networkx's network simplex wants integer costs


def _instance(rng: np.random.Generator, children: int, parents: int):
    """Children indexed after the parents; 1-5 candidates each; a third of the parents publish no count."""
    cs, ps = [], []
    for k in range(children):
        for q in sorted(rng.choice(parents, size=min(parents, int(rng.integers(1, 6))), replace=False).tolist()):
            cs.append(parents + k)
            ps.append(q)
    c, p = np.array(cs), np.array(ps)
    u = rng.normal(0.5, 1.5, c.shape[0])
    capacity = np.full(parents + children, np.nan)
    counted = rng.random(parents) < 0.67
    capacity[:parents][counted] = rng.integers(0, 4, counted.sum())
    bounds = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    return u, c, p, bounds, capacity


def _flow_optimum(u, c, p, capacity) -> float:
    """The largest summed utility of links under the capacities, each child at most one link, by min-cost flow."""
    G = nx.DiGraph()
    kids = sorted(set(c.tolist()))
    G.add_node("s", demand=-len(kids))
    G.add_node("t", demand=len(kids))
    for k in kids:
        G.add_edge("s", ("c", k), capacity=1, weight=0)
        G.add_edge(("c", k), "t", capacity=1, weight=0)  # no parent
    for k, q, v in zip(c.tolist(), p.tolist(), u.tolist()):
        if v > 0:
            G.add_edge(("c", k), ("p", q), capacity=1, weight=-round(v * SCALE))
    for q in set(p.tolist()):
        if G.has_node(("p", q)):
            cap = len(kids) if np.isnan(capacity[q]) else int(capacity[q])
            G.add_edge(("p", q), "t", capacity=cap, weight=0)
    cost, _ = nx.network_simplex(G)
    return -cost / SCALE


@pytest.mark.parametrize("seed", range(40))
def test_the_assignment_reaches_the_optimum_a_min_cost_flow_finds(seed):
    rng = np.random.default_rng(seed)
    u, c, p, bounds, capacity = _instance(rng, children=int(rng.integers(5, 40)), parents=int(rng.integers(2, 12)))
    k, prob, margin = I._capacitated(u, c, p, bounds, capacity)  # no second stage: every link is the assignment's
    taken = np.bincount(p[k], minlength=capacity.shape[0])
    counted = ~np.isnan(capacity)
    assert (taken[counted] <= capacity[counted]).all()  # no count is exceeded
    assert np.unique(c[k]).shape[0] == k.shape[0]  # one parent at most per child
    assert (u[k] > 0).all() and (margin >= 0).all() and ((prob > 0) & (prob <= 1)).all()
    assert u[k].sum() == pytest.approx(_flow_optimum(u, c, p, capacity), abs=1e-4)


def test_an_earlier_child_with_another_good_parent_leaves_the_last_remix_to_a_later_child():
    # A publishes one remix. x (earlier) reads almost as well under B (no count published); y reads only
    # like A. One child at a time in time order, x took A and y was left without parent.
    u = np.array([2.0, 1.9, 2.0])
    c, p = np.array([2, 2, 3]), np.array([0, 1, 0])
    capacity = np.array([1.0, np.nan, np.nan, np.nan])
    k, _, _ = I._capacitated(u, c, p, np.array([0, 2]), capacity)
    assert dict(zip(c[k].tolist(), p[k].tolist())) == {2: 1, 3: 0}


def test_a_later_week_gets_only_the_remixes_an_earlier_week_left():
    # x (week 0) and y (week 1) both want A's one remix; y wants it far more, but x's week is assigned
    # first, so y's week, and every later one, never changes x's link (what keeps a rerun incremental)
    u = np.array([1.0, 5.0])
    c, p = np.array([1, 2]), np.array([0, 0])
    capacity = np.array([1.0, np.nan, np.nan])
    k, _, _ = I._capacitated(u, c, p, np.array([0, 1]), capacity, batch=np.array([0, 1]))
    assert c[k].tolist() == [1]
    k, _, _ = I._capacitated(u, c, p, np.array([0, 1]), capacity, batch=np.array([0, 0]))
    assert c[k].tolist() == [2]  # one week: the child that gains most


def test_a_child_whose_preferred_parent_is_full_hangs_under_it_by_the_second_stage_taking_no_remix():
    # y wants A, whose one remix x needs more; y is likely in A's tree (attach > 0): linked, margin < 0
    u = np.array([3.0, 1.0])
    c, p = np.array([1, 2]), np.array([0, 0])
    capacity = np.array([1.0, np.nan, np.nan])
    k, prob, margin = I._capacitated(u, c, p, np.array([0, 1]), capacity, np.array([-1.0, 2.0]))
    assert c[k].tolist() == [1, 2] and p[k].tolist() == [0, 0]
    assert margin[0] > 0 > margin[1]


@pytest.mark.parametrize("seed", range(5))
def test_a_component_too_large_to_match_is_served_in_time_order_within_its_counts(seed, monkeypatch):
    rng = np.random.default_rng(100 + seed)
    u, c, p, bounds, capacity = _instance(rng, children=60, parents=4)
    full = I._capacitated(u, c, p, bounds, capacity)[0]
    monkeypatch.setattr(I, "ASSIGN_MAX_EDGES", 0)
    k = I._capacitated(u, c, p, bounds, capacity)[0]
    taken = np.bincount(p[k], minlength=capacity.shape[0])
    counted = ~np.isnan(capacity)
    assert (taken[counted] <= capacity[counted]).all() and (u[k] > 0).all()
    assert u[k].sum() <= u[full].sum() + 1e-9  # never above the optimum
