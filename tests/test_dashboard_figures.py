"""The dashboard's pure parts: tree layout, figure builders, text views, tables (no server, no browser)."""
from __future__ import annotations

import doctest
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dashboard.data
import dashboard.figures
import dashboard.panels
import dashboard.tables
from dashboard import figures, textviews
from lineage.layout import tidy_layout, visible_nodes


@pytest.mark.parametrize("module", [dashboard.figures, dashboard.data, dashboard.panels,
                                    dashboard.tables])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def chain(n: int) -> tuple[list[str], list[str | None]]:
    ids = [f"n{i}" for i in range(n)]
    return ids, [None] + ids[:-1]


def random_tree(n: int, seed: int) -> tuple[list[str], list[str | None], list[int]]:
    rng = np.random.default_rng(seed)
    ids = [f"n{i}" for i in range(n)]
    parents: list[str | None] = [None]
    depth = [0]
    for i in range(1, n):
        p = int(rng.integers(0, i))
        parents.append(ids[p])
        depth.append(depth[p] + 1)
    return ids, parents, depth


def test_layout_places_parents_over_their_children():
    ids, parents, _ = random_tree(300, 1)
    lay = tidy_layout(ids, parents)
    pos = {v: i for i, v in enumerate(ids)}
    kids: dict[str, list[int]] = {}
    for i, p in enumerate(parents):
        if p is not None:
            kids.setdefault(p, []).append(i)
    for p, ks in kids.items():
        xs = lay.x[ks]
        assert xs.min() <= lay.x[pos[p]] <= xs.max()
        assert np.all(lay.y[ks] == lay.y[pos[p]] - 1)
    leaves = [i for i, v in enumerate(ids) if v not in kids]
    # leaves sit on distinct integer columns, so no two posts of one generation overlap
    assert sorted(lay.x[leaves].tolist()) == list(range(len(leaves)))


def test_layout_of_a_100000_deep_chain_needs_no_recursion():
    ids, parents = chain(100_000)
    lay = tidy_layout(ids, parents)
    assert lay.y.min() == -99_999
    assert np.all(lay.x == 0)
    shown, hidden = visible_nodes(ids, parents, list(range(100_000)), root="n0", max_depth=10)
    assert len(shown) == 11 and hidden == {10: 100_000 - 11}


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 200), seed=st.integers(0, 10_000), depth=st.integers(1, 6))
def test_visible_nodes_counts_every_post_once(n, seed, depth):
    ids, parents, dep = random_tree(n, seed)
    shown, hidden = visible_nodes(ids, parents, dep, root="n0", max_depth=depth)
    assert len(set(shown)) == len(shown)
    assert len(shown) + sum(hidden.values()) == n
    assert all(dep[i] <= depth for i in shown)


def test_edge_trace_has_one_elbow_per_edge():
    lay = tidy_layout(["r", "a", "b"], [None, "r", "r"])
    xs, ys = lay.edge_xy()
    assert len(xs) == 2 * 5 and np.isnan(xs[4]) and np.isnan(xs[9])  # NaN: a gap between segments
    assert (xs[0], ys[0], xs[3], ys[3]) == (0.5, 0.0, 0.0, -1.0)


def tree_nodes(n: int = 40, seed: int = 3) -> pl.DataFrame:
    ids, parents, dep = random_tree(n, seed)
    order = np.argsort(dep, kind="stable")
    return pl.DataFrame({
        "id": ids, "parent": parents, "depth": dep,
        "text": [f"prompt {i} <b>bold</b>" for i in range(n)],
        "views": list(range(n)), "likes": [1] * n, "remixes": [0] * n, "placeholder": [False] * n,
    })[order.tolist()]


def test_tree_figure_draws_every_post_with_its_id_and_drift_colour():
    nodes = tree_nodes()
    drift = pl.DataFrame({"id": nodes["id"], "root_drift": np.linspace(0, 1, nodes.height)})
    fig = figures.tree_figure(nodes, root="n0", drift=drift, selected="n7")
    posts = next(t for t in fig.data if t.name == "posts")
    assert isinstance(posts, go.Scatter)  # small trees: SVG markers
    assert sorted(posts.customdata) == sorted(nodes["id"].to_list())
    assert posts.marker.colorscale is not None and posts.marker.cmax == 1.0
    colour = dict(zip(posts.customdata, posts.marker.color))
    assert colour["n0"] == 0.0 and colour[nodes["id"][-1]] == pytest.approx(1.0)
    assert fig.layout.meta["drawn"] == 40 and fig.layout.meta["hidden"] == 0
    assert any(t.name == "path to selected" for t in fig.data)
    # post text is escaped for plotly's label markup
    assert all("<b>bold" not in h and "&lt;b&gt;bold" in h for h in posts.hovertext)


def test_tree_figure_depth_limit_and_collapse_fold_posts():
    nodes = tree_nodes(60)
    fig = figures.tree_figure(nodes, root="n0", max_depth=1)
    assert fig.layout.meta["drawn"] + fig.layout.meta["hidden"] == 60
    assert fig.layout.meta["drawn"] == 1 + int((nodes["depth"] == 1).sum())
    folded = next(t for t in fig.data if t.name == "folded")
    assert folded.marker.symbol == "diamond-open"
    # every drawn child of the root has remixes below it exactly when it is folded
    kids = nodes.filter(pl.col("depth") == 2).get_column("parent").unique().to_list()
    assert len(folded.x) == len(kids)
    assert sum(int(t[1:]) for t in folded.text) == 60 - fig.layout.meta["drawn"]
    folded = figures.tree_figure(nodes, root="n0", collapsed={"n0"})
    assert folded.layout.meta == {"root": "n0", "drawn": 1, "hidden": 59, "folded": ["n0"]}


def test_tree_figure_uses_webgl_for_big_trees():
    nodes = tree_nodes(figures.GL_THRESHOLD + 10, seed=5)
    fig = figures.tree_figure(nodes, root="n0")
    assert isinstance(next(t for t in fig.data if t.name == "posts"), go.Scattergl)
    assert isinstance(fig.data[0], go.Scattergl) and fig.data[0].mode == "lines"  # one trace for every edge


def test_tree_figure_for_a_missing_root_says_so():
    fig = figures.tree_figure(tree_nodes(), root="nope")
    assert "nope is not in this tree" in fig.layout.annotations[0].text


def test_growth_figure_totals_every_post():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    posts = pl.DataFrame({"created_at": [t0 + timedelta(hours=7 * i) for i in range(50)] + [None]})
    fig = figures.growth_figure(posts)
    bars, line = fig.data
    assert sum(bars.y) == 50 and line.y[-1] == 50
    assert list(line.y) == sorted(line.y)


def test_drift_figures_summarise_by_generation():
    nd = pl.DataFrame({"depth": [0, 1, 1, 2, 2], "root_drift": [0.0, 0.2, 0.4, 0.5, None],
                       "edge_drift": [None, 0.2, 0.4, 0.3, None]})
    fig = figures.drift_by_depth_figure(nd)
    mean = fig.data[1]
    assert list(mean.x) == [1, 2] and list(mean.y) == pytest.approx([0.3, 0.5])
    hist = figures.edge_drift_histogram(nd)
    bars = hist.data[0]
    assert sum(bars.y) == 3 and list(bars.x) == pytest.approx([0.225, 0.325, 0.425])  # bins of 0.05


def test_drift_boxes_are_computed_like_plotlys_own():
    """The box per generation is sent as its statistics (a few numbers, not every post's drift): linear
    quartiles and whiskers at the furthest value within 1.5 IQR, with an outlier left outside them."""
    rng = np.random.default_rng(3)
    vals = np.append(rng.uniform(0.3, 0.5, 199), 0.99)  # 0.99 lies beyond q3 + 1.5 IQR
    nd = pl.DataFrame({"depth": [1] * 200 + [2, 2, 2, 2], "root_drift": list(vals) + [0.0, 1.0, 0.5, 0.5],
                       "edge_drift": [0.1] * 204})
    box = figures.drift_by_depth_figure(nd).data[0]
    q1, med, q3 = np.quantile(vals, [0.25, 0.5, 0.75])
    assert list(box.x) == [1, 2]
    assert (box.q1[0], box.median[0], box.q3[0]) == pytest.approx((q1, med, q3))
    assert box.upperfence[0] == pytest.approx(vals[vals <= q3 + 1.5 * (q3 - q1)].max()) and box.upperfence[0] < 0.99
    assert box.lowerfence[0] == pytest.approx(vals.min())
    assert (box.lowerfence[1], box.upperfence[1]) == (0.0, 1.0)
    hist = figures.edge_drift_histogram(nd.with_columns(edge_drift=pl.Series([1.0] * 4 + [0.0] * 200)))
    assert list(hist.data[0].y) == [200, 4] and list(hist.data[0].x) == pytest.approx([0.025, 1.025])


def test_flow_figures_show_the_biggest_flows():
    flow = pl.DataFrame({"from_root": ["a", "a", "b"], "to_root": ["b", "c", "c"], "adoptions": [5, 2, 1]})
    names = {"a": "tree A", "b": "tree B", "c": "tree C"}
    hm = figures.flow_heatmap(flow, names)
    z = np.array(hm.data[0].z)
    assert z.sum() == 8 and z.max() == 5
    assert set(hm.data[0].x) == {"tree A", "tree B", "tree C"}
    sk = figures.flow_sankey(flow, names, top=2)
    assert list(sk.data[0].link.value) == [5, 2]
    empty = figures.flow_heatmap(flow.head(0), names)
    assert "no style bled" in empty.layout.annotations[0].text


def test_tree_labels_are_unique_and_escaped():
    trees = pl.DataFrame({"root": ["a", "b", "c"], "root_text": ["<i>same</i>", "<i>same</i>", None]})
    labels = figures.tree_labels(trees)
    assert labels == {"a": "a · &lt;i&gt;same&lt;/i&gt;", "b": "b · &lt;i&gt;same&lt;/i&gt;", "c": "c"}
    assert len(set(labels.values())) == 3  # trees whose prompts begin alike are told apart by their ids


def test_log_axes_write_every_tick_in_full():
    fig = figures.drift_rate_figure(pl.DataFrame({"root": ["a", "b"], "size": [5, 480], "drift_rate": [0.1, 0.2],
                                                  "root_text": ["x", "y"]}))
    assert list(fig.layout.xaxis.ticktext) == ["5", "10", "20", "50", "100", "200", "500"]
    assert list(fig.layout.xaxis.tickvals) == [5, 10, 20, 50, 100, 200, 500]


def test_notes_show_commands_as_code_not_backticks():
    from dashboard.panels import note

    n = note("run `archivist analyze --archive PATH` and reload")
    assert [type(c).__name__ for c in n.children] == ["str", "Code", "str"]
    assert "`" not in "".join(c if isinstance(c, str) else c.children for c in n.children)


def test_decay_figures_draw_the_fit():
    fid = pl.DataFrame({"depth": [0, 1, 2], "nodes": [5, 9, 4], "fidelity": [1.0, 0.7, 0.5], "sd": [None, 0.1, 0.1]})
    fig = figures.fidelity_figure(fid, {"F_inf": 0.2, "lambda": 0.5, "half_life": 1.39})
    curve = fig.data[1]
    assert curve.y[0] == pytest.approx(1.0) and curve.y[-1] == pytest.approx(0.2 + 0.8 * np.exp(-1.0))
    assert any("half-life 1.4" in a.text for a in fig.layout.annotations)
    km = pl.DataFrame({"time": [1.0, 2.0], "at_risk": [2, 1], "events": [1, 0], "censored": [0, 1],
                       "survival": [0.5, 0.5]})
    sf = figures.survival_figure(km)
    assert list(sf.data[0].y) == [1.0, 0.5, 0.5] and sf.data[1].name.startswith("still active")


def test_figures_serialise_to_json():
    nodes = tree_nodes(20)
    for fig in (figures.tree_figure(nodes, root="n0"), figures.empty_figure("x"),
                figures.growth_figure(pl.DataFrame({"created_at": [datetime(2026, 1, 1, tzinfo=timezone.utc)]}))):
        assert json.loads(fig.to_json())["data"] is not None


def test_diff_and_blame_views_are_text_spans():
    hostile = "<script>alert(1)</script>"
    d = textviews.diff_view([("equal", "a"), ("removed", hostile), ("added", "cat")])
    spans = [c for c in d.children[0].children if not isinstance(c, str)]
    assert [(s.className, s.children) for s in spans] == [("w-eq", "a"), ("w-del", hostile), ("w-add", "cat")]
    assert "1 word(s) added, 1 removed" in d.children[1].children
    b = textviews.blame_view([{"word": "a", "generation": 0, "node": "r"},
                              {"word": "cat", "generation": 2, "node": "x", "reintroduced": True}])
    words = [c for c in b.children if not isinstance(c, str)]
    assert words[0].style["backgroundColor"] == textviews.generation_colour(0)
    assert words[1].style["backgroundColor"] == textviews.generation_colour(2) != words[0].style["backgroundColor"]
    assert "reintroduced" in words[1].title and "w-reintro" in words[1].className


def test_titles_start_below_the_toolbar_row():
    """Plotly's toolbar sits at the top right of every graph: a long title started under it and was covered."""
    fig = figures.drift_rate_figure(pl.DataFrame({"root": ["a"], "size": [5], "drift_rate": [0.1], "root_text": ["x"]}))
    assert fig.layout.title.pad.t == figures.MODEBAR_PX and fig.layout.title.yref == "container"
    assert fig.layout.margin.t >= 40 + figures.MODEBAR_PX

