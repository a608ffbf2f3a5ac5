"""Lineage structure: primary parent, root and depth for every node, without recursion.

A node may have several parents (C2PA components, ``inspired`` links). The
*primary* parent defines the tree. **The rule** (the same in the README and
DESIGN.md): the first declared parent whose relation is ``remix`` or
``parentOf``; when there is none, the first declared parent of any relation.
"Declared" is the order of the record's ``parents`` list; the parent's id only
breaks a tie of equal rank. The rule reads no times, so removing records never
changes which parent a remaining record hangs from.

Time is the direction. A parent that is not in the archive (a placeholder) has
no time of its own and ranks as earlier than its earliest child, so its
children stay one tree under it. When the primary links close a cycle (a
source that lists a later reshare as its parent), the cycle is cut at the link
that runs most against time (the parent created longest after its child); the
child's id breaks ties (smallest first), as when no times are known. The child
of the cut link then takes its next parent by the rule among those not created
after it, if it has one, else it starts a tree. Every cut is reported in the
problems frame (kind ``cycle``, the child, the parent whose link was cut).
Self-loops are dropped and reported.

Roots and depths come from pointer doubling over numpy arrays: ``O(n log n)``
work, no recursion and no Python loop per node, so a 100,000-deep chain is as
easy as a bushy tree.

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

__all__ = ["children_index", "primary_parents", "compute_lineage", "merge_equal_time_parents", "PROBLEM_SCHEMA", "LINEAGE_SCHEMA"]

PROBLEM_SCHEMA = {"kind": pl.String, "id": pl.String, "parent": pl.String, "detail": pl.String}
LINEAGE_SCHEMA = {
    "id": pl.String,
    "parent": pl.String,
    "root": pl.String,
    "depth": pl.Int64,
    "in_cycle": pl.Boolean,
}


def merge_equal_time_parents(recs: pl.DataFrame, latest: pl.DataFrame) -> pl.DataFrame:
    """``latest`` with the parents of every observation made at the same time as its own merged in.

    A source that writes one line per edge (the same id repeated with different
    parents and no ``fetched_at``) gives several observations of one id at one
    time; none of them replaces another, so a post's parents are the union of
    theirs, in the order the lines were stored (first mention first). ``recs``
    is the observation log (``id, observed_at, parents``, in stored order) and
    ``latest`` one row per id (``id, observed_at, parents``); other columns of
    ``latest`` are kept as they are.

    >>> from datetime import datetime
    >>> t = datetime(2026, 1, 1)
    >>> P = lambda *ids: [{"id": i, "relation": "remix"} for i in ids]
    >>> recs = pl.DataFrame({"id": ["x", "x", "y"], "observed_at": [t, t, t],
    ...                      "parents": [P("p"), P("q", "p"), P("p")]})
    >>> out = merge_equal_time_parents(recs, recs.unique("id", keep="last").sort("id"))
    >>> [[p["id"] for p in ps] for ps in out["parents"]]
    [['p', 'q'], ['p']]
    """
    key = ["id", "observed_at"]
    if recs.height == latest.height:  # one observation per id (the usual case): nothing to merge
        return latest
    rows = recs.select(*key, "parents").with_row_index("_row")
    several = latest.filter(pl.col("n_obs") > 1) if "n_obs" in latest.columns else latest
    many = rows.join(several.select(key), on=key, how="semi").filter(pl.len().over(key) > 1)
    if many.height == 0:
        return latest
    merged = (many.sort("_row").explode("parents").drop_nulls("parents")
              .with_columns(_pid=pl.col("parents").struct.field("id"))
              .unique(["id", "_pid"], keep="first", maintain_order=True)
              .group_by("id", maintain_order=True).agg(_merged=pl.col("parents")))
    return (latest.join(merged, on="id", how="left")
            .with_columns(parents=pl.coalesce("_merged", "parents")).drop("_merged")
            .select(latest.columns))


def _rule_order(edges: pl.DataFrame) -> pl.DataFrame:
    """``edges`` without self-loops, with ``relation`` and ``rank``, sorted by child then the primary rule."""
    e = edges.filter(pl.col("child") != pl.col("parent"))
    if "relation" not in e.columns:
        e = e.with_columns(relation=pl.lit("remix"))
    if "rank" not in e.columns:
        e = e.with_row_index("rank").with_columns(pl.col("rank").cast(pl.Int64))
    declared = pl.col("relation").is_in(["remix", "parentOf"])
    return (e.with_columns(_decl=(~declared).cast(pl.Int8))
            .sort(["child", "_decl", "rank", "parent"], nulls_last=True))


def primary_parents(edges: pl.DataFrame) -> pl.DataFrame:
    """One row per child: its primary parent, by the rule of this module.

    ``edges`` has ``child``, ``parent`` and optionally ``relation`` (default
    ``remix``) and ``rank`` (declaration order; default the row order). The
    primary parent is the first declared ``remix``/``parentOf`` parent, else the
    first declared parent of any relation; self-loops never count.

    >>> e = pl.DataFrame({"child": ["x", "x", "y", "y"], "parent": ["p", "q", "q", "p"],
    ...                   "relation": ["componentOf", "parentOf", "remix", "remix"], "rank": [0, 1, 0, 1]})
    >>> primary_parents(e).rows()
    [('x', 'q'), ('y', 'q')]
    """
    return (_rule_order(edges)
            .group_by("child", maintain_order=True)
            .agg(pl.col("parent").first())
            .sort("child"))


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


def _primary_codes(edges: pl.DataFrame, ids: pl.Series, c: np.ndarray, pcode: np.ndarray) -> np.ndarray | None:
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
        prim = primary_parents(edges.filter(pl.Series(multi)))
        index = _Index(ids)
        mc = index.codes(prim.get_column("child"))
        mp = index.codes(prim.get_column("parent"))
        if mc is None or mp is None:
            return None
        p[mc] = mp
    return p


def _primary_exact(edges: pl.DataFrame, ids: pl.Series) -> np.ndarray:
    """The same as :func:`_primary_codes` by joins on the strings (the path for hash collisions)."""
    n = ids.len()
    prim = primary_parents(edges)
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
    ``cycle``), ``id`` (the child whose link was dropped), ``parent`` (the parent
    it named) and ``detail`` (in words). ``created`` (``id, created_at``) gives
    the times that decide where a cycle is cut.

    >>> nodes = pl.DataFrame({"id": ["a", "b", "c"]})
    >>> edges = pl.DataFrame({"child": ["a", "b", "c", "c"], "parent": ["c", "a", "b", "c"]})
    >>> lin, problems = compute_lineage(nodes, edges)
    >>> lin.select("id", "parent", "root", "depth").rows()
    [('a', None, 'a', 0), ('b', 'a', 'a', 1), ('c', 'b', 'a', 2)]
    >>> sorted(problems["kind"].to_list())
    ['cycle', 'self_loop']
    """
    fast = _ids_and_codes(nodes, edges)
    p = _primary_codes(edges, *fast) if fast is not None else None
    if fast is not None and p is not None:
        ids = fast[0]
    else:  # ids not sorted or repeated, or a hash collision: sort and join on the strings
        ids = pl.concat([nodes.get_column("id").cast(pl.String).rename("id"),
                         edges.get_column("parent").cast(pl.String).rename("id")]).unique().sort()
        p = _primary_exact(edges, ids)
    n = ids.len()
    problems: list[tuple[str, str, str]] = [
        ("self_loop", c, c, "a post lists itself as its parent; the link is ignored")
        for c in edges.filter(pl.col("child") == pl.col("parent")).get_column("child").unique().sort().to_list()
    ]
    in_cycle = np.zeros(n, dtype=bool)
    cutter: _Cutter | None = None
    while True:
        anc, dist = _double(p)
        bad = p[anc] >= 0  # the walk ended somewhere that still has a parent: a cycle
        if not bad.any():
            break
        if cutter is None:
            cutter = _Cutter(ids, edges, created)
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
            in_cycle[cyc] = True
            problems.append(cutter.cut(cyc, p))
    parent = pl.Series("_pi", pa.array(p, mask=p < 0))  # a null index gathers a null
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


class _Cutter:
    """Cuts cycles of primary links against time (see the module docstring); made only when there is a cycle."""

    def __init__(self, ids: pl.Series, edges: pl.DataFrame, created: pl.DataFrame | None) -> None:
        self.ids = ids
        self.names = ids.to_list()
        self.edges = _rule_order(edges)
        self.tried: dict[int, set[int]] = {}
        n = ids.len()
        self.t = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)  # unknown time: never "later"
        self.known = np.zeros(n, dtype=bool)
        if created is not None and "created_at" in created.columns and created.height:
            c = created.select(pl.col("id").cast(pl.String),
                               pl.col("created_at").cast(pl.Datetime("us", "UTC")).dt.epoch("us")).drop_nulls()
            pos = ids.search_sorted(c.get_column("id")).to_numpy().astype(np.int64)
            ok = pos < n
            ok[ok] = ids.gather(pos[ok]).to_numpy() == c.get_column("id").filter(pl.Series(ok)).to_numpy()
            self.t[pos[ok]] = c.get_column("created_at").to_numpy()[ok]
            self.known[pos[ok]] = True

    def _lag(self, child: int, parent: int) -> int:
        """How long after the child its parent was created (µs; 0 when either time is unknown)."""
        if not (self.known[child] and self.known[parent]):
            return 0
        return int(self.t[parent] - self.t[child])

    def cut(self, cyc: list[int], p: np.ndarray) -> tuple[str, str, str, str]:
        names = self.names
        # the link running most against time goes first; the child's id breaks ties
        cut = min(cyc, key=lambda k: (-self._lag(k, int(p[k])), names[k]))
        old = int(p[cut])
        lag = self._lag(cut, old)
        tried = self.tried.setdefault(cut, set())
        tried.add(old)
        new = -1
        for cand in self.edges.filter(pl.col("child") == names[cut]).get_column("parent").to_list():
            k = int(self.ids.search_sorted(cand))
            if k >= len(names) or names[k] != cand or k in tried or k == cut:
                continue
            if self.known[k] and self.known[cut] and self.t[k] > self.t[cut]:
                continue  # a parent created after its child is never a fallback
            new = k
            tried.add(k)
            break
        p[cut] = new
        members = sorted(names[k] for k in cyc)
        why = (f"{names[old]} was created {_span(lag)} after it" if lag > 0
               else "no link of the cycle runs against time; the smallest id was cut")
        then = f"; it now hangs from {names[new]}" if new >= 0 else "; it now starts a tree"
        return ("cycle", names[cut], names[old],
                f"cycle of {len(cyc)}: {' -> '.join(members[:10])}{' ...' if len(cyc) > 10 else ''};"
                f" broken by cutting the link from {names[cut]} to its parent {names[old]} ({why}){then}")


def children_index(ids: list[str], parents: list[str | None]) -> tuple[np.ndarray, list[list[int]]]:
    """Parent position per node (``-1`` when the parent is absent) and children lists, in input order.

    The one children index: the explorer and the report layouts, Newick and ``archivist show`` use it.

    >>> pidx, kids = children_index(["r", "a", "b"], [None, "r", "gone"])
    >>> pidx.tolist(), kids
    ([-1, 0, -1], [[1], [], []])
    """
    pos = {v: i for i, v in enumerate(ids)}
    pidx = np.fromiter((pos.get(p, -1) if p is not None else -1 for p in parents), dtype=np.int64, count=len(ids))
    kids: list[list[int]] = [[] for _ in ids]
    for i, p in enumerate(pidx.tolist()):
        if p >= 0 and p != i:
            kids[p].append(i)
    return pidx, kids


def _span(us: int) -> str:
    """A duration in words: ``3.0 h``, ``2.5 days``."""
    s = us / 1e6
    if s < 120:
        return f"{s:g} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"
