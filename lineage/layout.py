"""Tree geometry: which nodes are drawn, and where (the explorer and the drift report share it).

Pure functions over plain lists and numpy arrays, no recursion (a 100,000-deep
chain lays out like any other tree):

- :func:`~archive.graph.children_index` (from ``archive``) gives each node's parent position
  and children, in input order;
- :func:`visible_nodes` applies the depth limit and the collapsed set;
- :func:`tidy_layout` places a tree top-down: leaves side by side in
  depth-first order, each parent centered over its first and last child, one
  row per generation (a layered "tidy tree");
- :func:`tree_layout` is the same as a frame (``id, x, y, order``) for a tree's nodes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from archive.graph import children_index

__all__ = ["TreeLayout", "tidy_layout", "tree_layout", "visible_nodes", "children_index"]


@dataclass(frozen=True)
class TreeLayout:
    """Positions of a laid-out tree: ``x[i], y[i]`` for ``ids[i]``; ``y`` is minus the depth."""

    ids: list[str]
    x: np.ndarray
    y: np.ndarray
    parent_index: np.ndarray  # -1 for the root (and any node whose parent is not drawn)
    order: np.ndarray | None = None  # depth-first (pre-order) position of each node, for outlines

    def edge_xy(self, *, elbow: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates for one line trace of every edge, segments separated by NaN (a gap).

        Each edge is an elbow (down from the parent, across, down to the child), which
        reads better than diagonals in a wide tree; ``elbow=False`` draws straight
        lines (fewer vertices for very big trees).
        """
        child = np.flatnonzero(self.parent_index >= 0)
        par = self.parent_index[child]
        n = child.size
        if not elbow:
            xs = np.full(n * 3, np.nan)
            ys = np.full(n * 3, np.nan)
            xs[0::3], ys[0::3] = self.x[par], self.y[par]
            xs[1::3], ys[1::3] = self.x[child], self.y[child]
            return xs, ys
        mid = (self.y[par] + self.y[child]) / 2
        xs = np.full(n * 5, np.nan)
        ys = np.full(n * 5, np.nan)
        xs[0::5], ys[0::5] = self.x[par], self.y[par]
        xs[1::5], ys[1::5] = self.x[par], mid
        xs[2::5], ys[2::5] = self.x[child], mid
        xs[3::5], ys[3::5] = self.x[child], self.y[child]
        return xs, ys


def visible_nodes(ids: list[str], parents: list[str | None], depths: list[int], *, root: str,
                  max_depth: int | None = None, collapsed: set[str] | frozenset[str] = frozenset(),
                  expanded: set[str] | frozenset[str] = frozenset()) -> tuple[list[int], dict[int, int]]:
    """Indices of the nodes to draw under ``root`` and, per drawn node, how many descendants are hidden.

    A node is drawn when it is ``root`` or below it, at most ``max_depth``
    generations under ``root`` (or its parent is in ``expanded``), and no drawn
    ancestor is collapsed.

    >>> ids = ["r", "a", "b", "c"]; par = [None, "r", "a", "r"]; dep = [0, 1, 2, 1]
    >>> visible_nodes(ids, par, dep, root="r", max_depth=1)
    ([0, 1, 3], {1: 1})
    >>> visible_nodes(ids, par, dep, root="r", collapsed={"r"})
    ([0], {0: 3})
    >>> visible_nodes(ids, par, dep, root="r", max_depth=1, expanded={"a"})
    ([0, 1, 2, 3], {})
    """
    pidx, kids = children_index(ids, parents)
    pos = {v: i for i, v in enumerate(ids)}
    start = pos[root]
    # subtree sizes, bottom-up over a depth-first order (no recursion)
    order: list[int] = []
    stack = [start]
    while stack:
        v = stack.pop()
        order.append(v)
        stack.extend(kids[v])
    size = {v: 1 for v in order}
    for v in reversed(order):
        p = int(pidx[v])
        if v != start and p in size:
            size[p] += size[v]
    shown: list[int] = []
    hidden: dict[int, int] = {}
    base = depths[start]
    stack = [start]
    while stack:
        v = stack.pop()
        shown.append(v)
        stop = ids[v] in collapsed or (max_depth is not None and depths[v] - base >= max_depth
                                       and ids[v] not in expanded)
        if stop:
            if kids[v]:
                hidden[v] = size[v] - 1
            continue
        stack.extend(reversed(kids[v]))
    return shown, hidden


def tidy_layout(ids: list[str], parents: list[str | None]) -> TreeLayout:
    """Lay a forest out top-down; children keep the order they have in ``ids``.

    Leaves get consecutive x positions in depth-first order; a parent sits
    midway between its first and last child; ``y = -depth``. Nodes whose parent
    is not in ``ids`` start a new tree to the right of the previous one.

    >>> lay = tidy_layout(["r", "a", "b", "c"], [None, "r", "r", "a"])
    >>> lay.x.tolist(), lay.y.tolist()
    ([0.5, 0.0, 1.0, 0.0], [0.0, -1.0, -1.0, -2.0])
    """
    n = len(ids)
    pidx, kids = children_index(ids, parents)
    x = np.zeros(n)
    depth = np.zeros(n)
    roots = [i for i in range(n) if pidx[i] < 0 or pidx[i] == i]
    seen = np.zeros(n, dtype=bool)
    pre = np.zeros(n, dtype=np.int64)
    n_pre = 0
    post: list[int] = []
    next_leaf = 0.0
    for r in roots:
        stack: list[tuple[int, bool]] = [(r, False)]
        while stack:
            v, done = stack.pop()
            if done:
                post.append(v)
                continue
            if seen[v]:
                continue
            seen[v] = True
            pre[v] = n_pre
            n_pre += 1
            if not kids[v]:
                x[v] = next_leaf
                next_leaf += 1.0
                post.append(v)
                continue
            stack.append((v, True))
            for c in reversed(kids[v]):
                depth[c] = depth[v] + 1
                stack.append((c, False))
    for v in post:
        if kids[v]:
            x[v] = (x[kids[v][0]] + x[kids[v][-1]]) / 2
    pidx = np.where(seen[np.clip(pidx, 0, None)] & (pidx >= 0), pidx, -1) if n else pidx
    return TreeLayout(ids=list(ids), x=x, y=0.0 - depth, parent_index=pidx, order=pre)


def tree_layout(nodes: pl.DataFrame) -> pl.DataFrame:
    """:func:`tidy_layout` of a tree's nodes as a frame, ``y`` from their stored depth.

    Parameters
    ----------
    nodes : polars.DataFrame
        ``id`` (String), ``parent`` (String, null for a root), ``depth`` (Int64), children
        in the order they should be drawn.

    Returns
    -------
    polars.DataFrame
        ``id`` (String), ``x`` (Float64), ``y`` (Int64, minus the depth), ``order``
        (Int64, depth-first pre-order position, for outlines), one row per node in input order.

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["r", "a", "b"], "parent": [None, "r", "r"], "depth": [0, 1, 1]})
    >>> tree_layout(n).rows()
    [('r', 0.5, 0, 0), ('a', 0.0, -1, 1), ('b', 1.0, -1, 2)]
    """
    ids = nodes.get_column("id").to_list()
    lay = tidy_layout(ids, nodes.get_column("parent").to_list())
    assert lay.order is not None
    return pl.DataFrame({"id": ids, "x": lay.x, "y": (-nodes.get_column("depth").fill_null(0)).to_list(),
                         "order": lay.order},
                        schema={"id": pl.String, "x": pl.Float64, "y": pl.Int64, "order": pl.Int64})
