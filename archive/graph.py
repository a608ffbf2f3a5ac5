"""Lineage structure: primary parent, root and depth for every node, without recursion.

A node may have several parents (C2PA components, ``inspired`` links). The
*primary* parent defines the tree: the first declared ``remix``/``parentOf``
parent, else the earliest-created parent (ties by declaration order). Roots and
depths come from pointer doubling over numpy arrays: ``O(n log n)`` work, no
recursion and no Python loop per node, so a 100,000-deep chain is as easy as a
bushy tree. Self-loops are dropped; cycles are reported and broken
deterministically by cutting the primary edge out of the smallest id on the cycle.

Examples
--------
>>> import polars as pl
>>> nodes = pl.DataFrame({"id": ["a", "b", "c"]})
>>> edges = pl.DataFrame({"child": ["b", "c"], "parent": ["a", "b"]})
>>> lin, problems = compute_lineage(nodes, edges)
>>> lin.select("id", "parent", "root", "depth").rows()
[('a', None, 'a', 0), ('b', 'a', 'a', 1), ('c', 'b', 'a', 2)]
>>> problems.height
0
"""
from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

__all__ = ["primary_parents", "compute_lineage", "PROBLEM_SCHEMA", "LINEAGE_SCHEMA"]

PROBLEM_SCHEMA = {"kind": pl.String, "id": pl.String, "detail": pl.String}
LINEAGE_SCHEMA = {
    "id": pl.String,
    "parent": pl.String,
    "root": pl.String,
    "depth": pl.Int64,
    "in_cycle": pl.Boolean,
}


def primary_parents(edges: pl.DataFrame, created: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per child: its primary parent.

    ``edges`` has ``child``, ``parent`` and optionally ``relation`` and ``rank``
    (declaration order); ``created`` maps ``id`` to ``created_at`` for the
    "earliest parent" rule.

    >>> e = pl.DataFrame({"child": ["x", "x"], "parent": ["p", "q"],
    ...                   "relation": ["componentOf", "parentOf"], "rank": [0, 1]})
    >>> primary_parents(e).rows()
    [('x', 'q')]
    """
    e = edges.filter(pl.col("child") != pl.col("parent"))
    if "relation" not in e.columns:
        e = e.with_columns(relation=pl.lit("remix"))
    if "rank" not in e.columns:
        e = e.with_row_index("rank").with_columns(pl.col("rank").cast(pl.Int64))
    if created is not None and "created_at" in created.columns:
        e = e.join(
            created.select(pl.col("id").alias("parent"), pl.col("created_at").alias("_pt")),
            on="parent",
            how="left",
        )
    else:
        e = e.with_columns(_pt=pl.lit(None, dtype=pl.Datetime("us", "UTC")))
    declared = pl.col("relation").is_in(["remix", "parentOf"])
    return (
        e.with_columns(_decl=(~declared).cast(pl.Int8))
        .sort(["child", "_decl", "_pt", "rank", "parent"], nulls_last=True)
        .group_by("child", maintain_order=True)
        .agg(pl.col("parent").first())
        .sort("child")
    )


def _double(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pointer doubling: ``(ultimate ancestor, hops to it)`` for each index.

    Once few nodes still point somewhere other than a root, only those take
    part in a round, so the tail of a deep chain costs little.
    """
    n = p.shape[0]
    has = p >= 0
    nxt = np.where(has, p, np.arange(n, dtype=np.int64))
    dist = has.astype(np.int64)
    act: np.ndarray | None = None  # None: every node takes part (cheaper while most still do)
    rounds = max(1, int(np.ceil(np.log2(max(n, 2)))) + 1)
    for _ in range(rounds):
        if act is None:
            nn = nxt[nxt]
            if np.array_equal(nn, nxt):
                break
            dist = dist + dist[nxt]
            nxt = nn
            going = has[nxt]
            if going.sum() * 8 < n:
                act = np.nonzero(going)[0]
        else:
            if act.size == 0:
                break
            t = nxt[act]
            dist[act] += dist[t]  # right-hand sides read the values of the previous round
            nxt[act] = nxt[t]
            act = act[has[nxt[act]]]
    return nxt, dist


class _Index:
    """Position of each id in ``ids``: an open-addressing hash table over 64-bit string hashes, in numpy.

    Building and probing are whole-array steps (a few rounds of linear probing
    over a table of ``(hash, position)`` pairs), not a loop per id. Two ids with
    the same hash make the index unusable (``ok`` is False), and every hit is
    checked against its string, so a collision can never give a wrong answer:
    the caller then takes the exact path.
    """

    def __init__(self, ids: pl.Series) -> None:
        self.ids = ids
        n = ids.len()
        size = 1 << max(4, (2 * n - 1).bit_length())
        self.mask = size - 1
        # one 16-byte slot per entry (hash, position + 1; 0 is empty), so a probe touches one cache line
        self.table = np.zeros(size, dtype=np.complex128)
        pairs = self.table.view(np.int64).reshape(size, 2)
        self.keys, self.vals = pairs[:, 0], pairs[:, 1]
        self.ok = True
        h = ids.hash(seed=7).to_numpy().view(np.int64)
        idx = np.arange(n, dtype=np.int64)
        slot = h & self.mask
        # first round: every slot is empty, so (hash, position + 1) goes in with one scatter;
        # where several ids share a slot one wins and the others probe on below
        self.table[slot] = np.stack([h, idx + 1], axis=1).ravel().view(np.complex128)
        won = self.vals[slot] == idx + 1
        idx, slot = idx[~won], slot[~won]
        if (self.keys[slot] == h[idx]).any():
            self.ok = False
            return
        slot = (slot + 1) & self.mask
        while idx.size:
            free = self.vals[slot] == 0
            self.vals[slot[free]] = idx[free] + 1  # several may race for one slot: one wins
            won = free & (self.vals[slot] == idx + 1)
            self.keys[slot[won]] = h[idx[won]]
            idx, slot = idx[~won], slot[~won]
            # equal hashes follow one probe sequence, so a later one always meets the earlier one
            if (self.keys[slot] == h[idx]).any():
                self.ok = False  # two ids share a hash
                return
            slot = (slot + 1) & self.mask

    def codes(self, values: pl.Series) -> np.ndarray | None:
        """Index of each value in ``ids`` (``-1`` when absent); ``None`` when a hash cannot be trusted."""
        if not self.ok:
            return None
        values = values.cast(pl.String)
        h = values.hash(seed=7).to_numpy().view(np.int64)
        slot = h & self.mask
        got = self.table[slot].view(np.int64).reshape(-1, 2)
        out = got[:, 1] - 1
        miss = got[:, 0] != h
        pend = np.nonzero(miss & (out >= 0))[0]  # the slot holds another id: probe on
        out[miss] = -1
        slot = slot[pend]
        while pend.size:
            slot = (slot + 1) & self.mask
            v = self.vals[slot]
            match = (v > 0) & (self.keys[slot] == h[pend])
            out[pend[match]] = v[match] - 1
            more = (v > 0) & ~match
            pend, slot = pend[more], slot[more]
        if values.null_count():
            out[values.is_null().to_numpy()] = -1
        hit = np.nonzero(out >= 0)[0]
        if hit.size == out.size:
            same = self.ids.gather(out) == values
        else:
            same = self.ids.gather(out[hit]) == values.gather(hit)
        return out if same.all() else None


def _ids_and_codes(nodes: pl.DataFrame, edges: pl.DataFrame) -> tuple[pl.Series, np.ndarray, np.ndarray] | None:
    """Every node and parent id, unique and sorted, and the index of each edge's child and parent in it.

    The store hands over node ids unique and sorted; edges are mapped onto them
    through :class:`_Index` and only the parents that are not nodes
    (placeholders, usually few) are merged in by binary search: no sort or join
    of a million strings. Returns ``None`` when this does not apply (ids not
    sorted or repeated, nulls, a hash collision): the caller takes the exact path.
    """
    nid = nodes.get_column("id").cast(pl.String).rename("id")
    if nid.null_count() or edges.get_column("parent").null_count() or not nid.is_sorted():
        return None
    index = _Index(nid)
    c = index.codes(edges.get_column("child"))
    p = index.codes(edges.get_column("parent"))
    if c is None or p is None:
        return None
    absent = p < 0
    if not absent.any():
        return nid, c, p
    missing = edges.get_column("parent").filter(pl.Series(absent)).cast(pl.String).rename("id").unique().sort()
    ins = nid.search_sorted(missing, side="left").to_numpy().astype(np.int64)
    k = np.arange(missing.len(), dtype=np.int64)
    node_rank = np.arange(nid.len(), dtype=np.int64) + np.searchsorted(ins, np.arange(nid.len()), side="right")
    order = np.empty(nid.len() + missing.len(), dtype=np.int64)
    order[node_rank] = np.arange(nid.len(), dtype=np.int64)
    order[ins + k] = nid.len() + k
    ids = pl.concat([nid, missing]).gather(order)
    extra = _Index(missing)
    pm = extra.codes(edges.get_column("parent").filter(pl.Series(absent)))
    cm = extra.codes(edges.get_column("child"))
    if pm is None or cm is None:
        return None
    p[absent] = (ins + k)[pm]
    c = np.where(c >= 0, node_rank[np.maximum(c, 0)], np.where(cm >= 0, (ins + k)[np.maximum(cm, 0)], -1))
    p[~absent] = node_rank[p[~absent]]
    return ids, c, p


def _primary_codes(edges: pl.DataFrame, created: pl.DataFrame | None, ids: pl.Series,
                   c: np.ndarray, pcode: np.ndarray) -> np.ndarray | None:
    """Parent index per node (``-1`` for none) from the primary edges; ``None`` to take the exact path.

    Most children have one parent: they need no ordering at all. Only the children
    with several candidate parents go through :func:`primary_parents`, so the rule
    is the same one.
    """
    n = ids.len()
    keep = (c >= 0) & (pcode >= 0) & (c != pcode)
    counts = np.bincount(c[keep], minlength=n)
    single = keep & (counts[np.maximum(c, 0)] == 1)
    p = np.full(n, -1, dtype=np.int64)
    p[c[single]] = pcode[single]
    multi = keep & ~single
    if multi.any():
        if "rank" not in edges.columns:
            edges = edges.with_row_index("rank").with_columns(pl.col("rank").cast(pl.Int64))
        prim = primary_parents(edges.filter(pl.Series(multi)), created)
        index = _Index(ids)
        mc = index.codes(prim.get_column("child"))
        mp = index.codes(prim.get_column("parent"))
        if mc is None or mp is None:
            return None
        p[mc] = mp
    return p


def _primary_exact(edges: pl.DataFrame, created: pl.DataFrame | None, ids: pl.Series) -> np.ndarray:
    """The same as :func:`_primary_codes` by joins on the strings (the path for hash collisions)."""
    n = ids.len()
    prim = primary_parents(edges, created)
    index = pl.DataFrame({"id": ids, "_i": pl.int_range(n, dtype=pl.Int64, eager=True)})
    pp = (
        prim.join(index.rename({"id": "child", "_i": "_c"}), on="child")
        .join(index.rename({"id": "parent", "_i": "_p"}), on="parent")
    )
    p = np.full(n, -1, dtype=np.int64)
    p[pp.get_column("_c").to_numpy()] = pp.get_column("_p").to_numpy()
    return p


def compute_lineage(
    nodes: pl.DataFrame, edges: pl.DataFrame, *, created: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Primary parent, root and depth for every node, and a report of problems.

    ``nodes`` needs an ``id`` column; every ``parent`` in ``edges`` that is not a
    node is added as a node (a placeholder, the caller decides how to show it).
    Returns ``(lineage, problems)``: ``lineage`` has ``id, parent, root, depth,
    in_cycle`` sorted by id; ``problems`` has ``kind`` (``self_loop`` or
    ``cycle``), ``id`` and ``detail``.

    >>> nodes = pl.DataFrame({"id": ["a", "b", "c"]})
    >>> edges = pl.DataFrame({"child": ["a", "b", "c", "c"], "parent": ["c", "a", "b", "c"]})
    >>> lin, problems = compute_lineage(nodes, edges)
    >>> lin.select("id", "parent", "root", "depth").rows()
    [('a', None, 'a', 0), ('b', 'a', 'a', 1), ('c', 'b', 'a', 2)]
    >>> sorted(problems["kind"].to_list())
    ['cycle', 'self_loop']
    """
    fast = _ids_and_codes(nodes, edges)
    p = _primary_codes(edges, created, *fast) if fast is not None else None
    if fast is not None and p is not None:
        ids = fast[0]
    else:  # ids not sorted or repeated, or a hash collision: sort and join on the strings
        ids = pl.concat([nodes.get_column("id").cast(pl.String).rename("id"),
                         edges.get_column("parent").cast(pl.String).rename("id")]).unique().sort()
        p = _primary_exact(edges, created, ids)
    n = ids.len()
    problems: list[tuple[str, str, str]] = [
        ("self_loop", c, "a post lists itself as its parent; the link is ignored")
        for c in edges.filter(pl.col("child") == pl.col("parent")).get_column("child").unique().sort().to_list()
    ]
    in_cycle = np.zeros(n, dtype=bool)
    ids_list: list[str] | None = None
    while True:
        anc, dist = _double(p)
        bad = p[anc] >= 0  # the walk ended somewhere that still has a parent: a cycle
        if not bad.any():
            break
        if ids_list is None:
            ids_list = ids.to_list()
        seen: set[int] = set()
        for start in np.unique(anc[bad]).tolist():
            if start in seen:
                continue
            cyc = [start]
            seen.add(start)
            j = int(p[start])
            while j != start and j not in seen:
                cyc.append(j)
                seen.add(j)
                j = int(p[j])
            if j != start:  # joined a cycle already handled
                continue
            members = sorted(ids_list[k] for k in cyc)
            cut = min(cyc, key=lambda k: ids_list[k])
            in_cycle[cyc] = True
            problems.append(
                ("cycle", ids_list[cut],
                 f"cycle of {len(cyc)}: {' -> '.join(members[:10])}{' ...' if len(cyc) > 10 else ''};"
                 f" broken by cutting the link from {ids_list[cut]} to its parent {ids_list[int(p[cut])]}")
            )
            p[cut] = -1
    parent = pl.Series("_pi", pa.array(p, mask=p < 0))  # a null index gathers a null
    lin = pl.DataFrame(
        {
            "id": ids,
            "parent": ids.gather(parent),
            "root": ids.gather(anc),
            "depth": dist,
            "in_cycle": in_cycle,
        },
        schema=LINEAGE_SCHEMA,
    )
    return lin, pl.DataFrame(problems, schema=PROBLEM_SCHEMA, orient="row")
