"""Sums along root paths and over subtrees, on numpy parent-index arrays.

The measures need "the sum of edge drift from the root to v", "the size of the
subtree under v", "is u an ancestor of v". Walking the tree in Python is slow
and recursion fails on a 100,000-deep chain, so these helpers work on an array
``parent`` (index of each node's parent, ``-1`` for a root) with pointer jumping
(``O(n log depth)``) or one vectorised step per depth level.

Examples
--------
>>> import numpy as np
>>> parent = np.array([-1, 0, 1, 1])          # 0 -> 1 -> {2, 3}
>>> path_sums(parent, np.array([0.0, 1.0, 2.0, 3.0])).tolist()
[0.0, 1.0, 3.0, 4.0]
>>> subtree_sums(parent, np.ones(4)).tolist()
[4.0, 3.0, 1.0, 1.0]
"""
from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["parent_index", "path_sums", "subtree_sums", "depths", "ancestor_at_depth", "euler_tour"]


def parent_index(frame: pl.DataFrame, *, id: str = "id", parent: str = "parent") -> np.ndarray:
    """Index (row number in ``frame``) of each row's parent, ``-1`` when it has none or it is absent.

    >>> parent_index(pl.DataFrame({"id": ["a", "b", "c"], "parent": [None, "a", "zz"]})).tolist()
    [-1, 0, -1]
    """
    idx = frame.select(pl.col(id)).with_row_index("_i")
    if idx.get_column(id).n_unique() != idx.height:
        from lineage.errors import LineageError

        dup = idx.filter(pl.col(id).is_duplicated()).get_column(id).head(3).to_list()
        raise LineageError(f"node ids must be unique; repeated: {', '.join(map(str, dup))}")
    got = (
        frame.select(pl.col(parent).alias(id)).with_row_index("_row")
        .join(idx, on=id, how="left")
        .sort("_row")
        .get_column("_i")
    )
    return got.cast(pl.Int64).fill_null(-1).to_numpy().astype(np.int64, copy=True)


def path_sums(parent: np.ndarray, w: np.ndarray) -> np.ndarray:
    """For each node, the sum of ``w`` over its root path (itself and every ancestor).

    Pointer jumping: ``O(n log depth)``, no recursion.

    >>> path_sums(np.array([-1, 0, 1, 2]), np.array([5.0, 1.0, 1.0, 1.0])).tolist()
    [5.0, 6.0, 7.0, 8.0]
    """
    n = parent.shape[0]
    has = parent >= 0
    # standard pointer jumping with a sentinel row
    acc = np.append(np.asarray(w, dtype=np.float64), 0.0)
    ptr = np.append(np.where(has, parent, n), n)
    while True:
        if (ptr[:n] == n).all():
            return acc[:n]
        acc = acc + acc[ptr]
        acc[n] = 0.0
        ptr = ptr[ptr]


def depths(parent: np.ndarray) -> np.ndarray:
    """Generations below the root for every node.

    >>> depths(np.array([-1, 0, 1, -1])).tolist()
    [0, 1, 2, 0]
    """
    w = (parent >= 0).astype(np.float64)
    return path_sums(parent, w).astype(np.int64)


def subtree_sums(parent: np.ndarray, values: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
    """For each node, the sum of ``values`` over its subtree (itself and every descendant).

    One vectorised step per depth level, deepest first.

    >>> subtree_sums(np.array([-1, 0, 0, 1]), np.array([1, 1, 1, 1])).tolist()
    [4, 2, 1, 1]
    """
    d = depths(parent) if depth is None else np.asarray(depth)
    out = np.asarray(values).copy()
    if out.shape[0] == 0:
        return out
    order = np.argsort(-d, kind="stable")
    ds = d[order]
    # boundaries of each depth level in the deepest-first order
    cuts = np.flatnonzero(np.diff(ds)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [ds.shape[0]]])
    for s, e in zip(starts.tolist(), ends.tolist()):
        if ds[s] == 0:
            break
        nodes = order[s:e]
        np.add.at(out, parent[nodes], out[nodes])
    return out


def ancestor_at_depth(parent: np.ndarray, depth: np.ndarray, nodes: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The ancestor of each of ``nodes`` at depth ``target`` (itself when its depth is ``target``).

    Binary lifting: ``O((n + q) log depth)``. ``target`` must not exceed the node's depth.

    >>> parent = np.array([-1, 0, 1, 2])
    >>> ancestor_at_depth(parent, depths(parent), np.array([3, 3, 2]), np.array([0, 2, 1])).tolist()
    [0, 2, 1]
    """
    nodes = np.asarray(nodes, dtype=np.int64).copy()
    k = np.asarray(depth)[nodes] - np.asarray(target)
    if (k < 0).any():
        raise ValueError("target depth below the node's own depth")
    up = np.where(parent >= 0, parent, np.arange(parent.shape[0]))
    bit = 0
    while (k >> bit).any():
        sel = ((k >> bit) & 1).astype(bool)
        nodes[sel] = up[nodes[sel]]
        up = up[up]
        bit += 1
    return nodes


def euler_tour(parent: np.ndarray, depth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Preorder interval ``[tin, tout)`` of every node: ``u`` is an ancestor of ``v`` iff
    ``tin[u] <= tin[v] < tout[u]``. Children are visited in index order; no recursion.

    >>> tin, tout = euler_tour(np.array([-1, 0, 0, 1]))
    >>> tin.tolist(), tout.tolist()
    ([0, 1, 3, 2], [4, 3, 4, 3])
    >>> [x.tolist() for x in euler_tour(np.array([-1, -1]))]  # only roots (no link declared anywhere)
    [[0, 1], [1, 2]]
    """
    n = parent.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    d = depths(parent) if depth is None else np.asarray(depth)
    size = subtree_sums(parent, np.ones(n, dtype=np.int64), d)
    # offset of each child among its siblings: sizes of the earlier siblings
    kids = np.flatnonzero(parent >= 0)
    order = kids[np.lexsort((kids, parent[kids]))]
    ps = parent[order]
    cs = np.cumsum(size[order])
    start = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]]) if order.size else np.zeros(0, dtype=np.int64)
    group_base = np.repeat(cs[start] - size[order][start], np.diff(np.r_[start, order.shape[0]]))
    off = np.zeros(n, dtype=np.int64)
    off[order] = cs - size[order] - group_base
    roots = np.flatnonzero(parent < 0)
    w = np.where(parent >= 0, 1 + off, 0).astype(np.float64)
    w[roots] = np.r_[0, np.cumsum(size[roots])[:-1]]
    tin = np.rint(path_sums(parent, w)).astype(np.int64)
    return tin, tin + size
