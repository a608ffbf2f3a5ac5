"""Style bleed: style terms that jump from one remix tree into another.

Every style term s of a node v (from :func:`lineage.styles.styles_frame`) gets a label:

- ``inherited``: its parent has s too;
- otherwise s is *new at v*, and it is
  - ``reused`` when an ancestor on P(v) had s (it came back on the path),
  - ``bled`` when, before t_v, another tree used s (and no ancestor of v did),
    unless v's own tree used s first (then the other tree borrowed it from here),
  - ``reused`` when v's own tree used s before (a sibling branch) and was the first to,
  - ``novel`` when nobody had used s before t_v.

A bled term's ``source_root`` is the tree that used s most in the ``window``
before t_v (ties: earliest use); if no other tree used it in the window, the first
other tree that ever used it. The node bleed share is bled / new terms of the node;
a tree's bleed rate is bled / new terms of its remixes. Roots' terms are
labelled too, but rates count remixes only (a root's styles are its starting
point, not an adoption). The flow matrix counts bled adoptions from tree to tree;
homogenization measures style diversity per time window.

Examples
--------
>>> lin = pl.DataFrame({"id": ["a", "a1", "b", "b1"], "parent": [None, "a", None, "b"],
...     "root": ["a", "a", "b", "b"], "depth": [0, 1, 0, 1],
...     "created_at": pl.datetime_range(pl.datetime(2026, 1, 1), pl.datetime(2026, 1, 4), "1d", eager=True)})
>>> st = pl.DataFrame({"id": ["a", "a1", "a1", "b", "b1"],
...                    "term": ["noir", "noir", "anime", "anime", "noir"]})
>>> for row in label_new_styles(st, lin).select("id", "term", "label", "source_root").rows():
...     print(row)
('a', 'noir', 'novel', None)
('a1', 'anime', 'novel', None)
('a1', 'noir', 'inherited', None)
('b', 'anime', 'bled', 'a')
('b1', 'noir', 'bled', 'a')
"""
from __future__ import annotations

import heapq
from collections import deque
from datetime import timedelta

import numpy as np
import polars as pl

from lineage.paths import euler_tour, parent_index

__all__ = ["LABELS", "LABEL_SCHEMA", "label_new_styles", "bleed_rates", "flow_matrix", "homogenisation",
           "parse_window"]

LABELS = ("inherited", "reused", "bled", "novel")
LABEL_SCHEMA = {"id": pl.String, "term": pl.String, "root": pl.String, "depth": pl.Int64,
                "created_at": pl.Datetime("us", "UTC"), "label": pl.String, "source_root": pl.String}


def parse_window(window: str | timedelta) -> timedelta:
    """A window like ``"30d"``, ``"12h"`` or ``"2w"`` as a timedelta.

    >>> parse_window("30d")
    datetime.timedelta(days=30)
    """
    if isinstance(window, timedelta):
        return window
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    w = window.strip().lower()
    try:
        return timedelta(seconds=float(w[:-1]) * units[w[-1]])
    except (KeyError, ValueError, IndexError):
        from lineage.errors import LineageError

        raise LineageError(f"window {window!r} is not a duration like 30d, 12h or 2w") from None


def _lin(lineage: pl.DataFrame) -> pl.DataFrame:
    t = pl.col("created_at")
    dt = lineage.schema["created_at"]
    if isinstance(dt, pl.Datetime) and dt.time_zone is None:
        t = t.dt.replace_time_zone("UTC")
    return lineage.select(pl.col("id").cast(pl.String), pl.col("parent").cast(pl.String),
                          pl.col("root").cast(pl.String), pl.col("depth").cast(pl.Int64),
                          t.cast(pl.Datetime("us", "UTC")))


def _uses(styles: pl.DataFrame, lineage: pl.DataFrame) -> pl.DataFrame:
    lin = _lin(lineage)
    return styles.select(pl.col("id").cast(pl.String), pl.col("term").cast(pl.String)).unique().join(
        lin, on="id", how="inner")


def label_new_styles(styles: pl.DataFrame, lineage: pl.DataFrame, *, window: str | timedelta = "30d") -> pl.DataFrame:
    """Label every style term of every node: ``id, term, root, depth, created_at, label, source_root``.

    ``styles`` has ``id, term``; ``lineage`` has ``id, parent, root, depth, created_at``
    for the whole archive (bleed needs every tree and the global time order).
    Sorted by ``id, term``.

    >>> from datetime import datetime
    >>> lin = pl.DataFrame({"id": ["a", "b", "b1"], "parent": [None, None, "b"], "root": ["a", "b", "b"],
    ...                     "depth": [0, 0, 1], "created_at": [datetime(2026, 1, d) for d in (1, 2, 3)]})
    >>> st = pl.DataFrame({"id": ["a", "b", "b1"], "term": ["vhs", "anime", "vhs"]})
    >>> label_new_styles(st, lin).select("id", "label", "source_root").rows()
    [('a', 'novel', None), ('b', 'novel', None), ('b1', 'bled', 'a')]
    """
    lin = _lin(lineage)
    # Ids, roots and terms become integer codes numbered in their sorted order: every sort, join
    # and tie below gives what it gives on the strings, with a fraction of the memory (a
    # 1,000,000-post archive has millions of style uses); the strings come back at the end.
    names = pl.concat([lin.get_column("id"), lin.get_column("parent"), lin.get_column("root")]
                      ).drop_nulls().unique().sort()
    words = styles.get_column("term").cast(pl.String).drop_nulls().unique().sort()

    def code(values: pl.Series, among: pl.Series) -> pl.Series:
        pos = among.search_sorted(values.cast(pl.String), side="left")
        ok = (pos < among.len()) & (among.gather(pos.clip(0, max(among.len() - 1, 0))) == values)
        return pl.select(pl.when(ok).then(pos).otherwise(None)).to_series().cast(pl.Int64) if among.len() \
            else pl.Series(values.name, [None] * values.len(), dtype=pl.Int64)

    lin = lin.with_columns(code(lin.get_column("id"), names).alias("id"),
                           code(lin.get_column("parent"), names).alias("parent"),
                           code(lin.get_column("root"), names).alias("root")).sort(["root", "depth", "id"])
    st = pl.DataFrame({"id": code(styles.get_column("id").cast(pl.String), names),
                       "term": code(styles.get_column("term").cast(pl.String), words)})
    u = st.filter(pl.col("id").is_not_null(), pl.col("term").is_not_null()).unique().join(lin, on="id", how="inner")
    if u.height == 0:
        return pl.DataFrame(schema=LABEL_SCHEMA)
    # inherited: the parent used the term too; (node, term) pairs as one integer key, a set test instead of a join
    width = max(words.len(), 1)
    used = u.select(pl.col("id") * width + pl.col("term")).to_series()
    u = u.with_columns(_inh=(pl.col("parent") * width + pl.col("term")).is_in(used.implode()).fill_null(False)
                       ).drop("parent")
    del used
    # preorder intervals: on-path test = "some earlier-in-preorder user of s in this tree covers v"
    par = parent_index(lin)
    tin, tout = euler_tour(par, lin.get_column("depth").to_numpy())
    tour = pl.DataFrame({"id": lin.get_column("id"), "tin": tin, "tout": tout})
    u = u.join(tour, on="id")
    cover = (u.select("root", "term", "tin", "tout").sort(["root", "term", "tin"])
             .with_columns(cov=pl.col("tout").cum_max().over(["root", "term"])))
    new = u.filter(~pl.col("_inh")).sort("tin")
    new = new.join_asof(cover.select("root", "term", pl.col("tin").alias("tin_u"), "cov").sort("tin_u"),
                        left_on="tin", right_on="tin_u", by=["root", "term"], strategy="backward",
                        allow_exact_matches=False, check_sortedness=False)
    new = new.with_columns(on_path=(pl.col("cov") > pl.col("tin")).fill_null(False)).drop("tin_u", "cov", "tout")
    del cover, tour
    # first use of each term overall, and first use by a second tree
    per_tree = u.group_by("term", "root").agg(t=pl.col("created_at").min())
    ranked = per_tree.sort(["term", "t", "root"]).with_columns(k=pl.int_range(pl.len()).over("term"))
    first = ranked.filter(pl.col("k") == 0).select("term", r1="root", t1="t")
    second = ranked.filter(pl.col("k") == 1).select("term", r2="root", t2="t")
    new = (new.join(first, on="term", how="left").join(second, on="term", how="left")
           .join(per_tree.select("term", "root", t_own="t"), on=["term", "root"], how="left")
           .with_columns(t_other=pl.when(pl.col("r1") != pl.col("root")).then(pl.col("t1")).otherwise(pl.col("t2")),
                         r_other=pl.when(pl.col("r1") != pl.col("root")).then(pl.col("r1")).otherwise(pl.col("r2"))))
    new = new.with_columns(label=pl.when(pl.col("on_path")).then(pl.lit("reused"))
                           .when((pl.col("t_other") < pl.col("created_at"))
                                 & ~(pl.col("t_own") <= pl.col("t_other")).fill_null(False)).then(pl.lit("bled"))
                           .when(pl.col("t_own") < pl.col("created_at")).then(pl.lit("reused"))
                           .otherwise(pl.lit("novel")))
    src = _source_roots(new.filter(pl.col("label") == "bled"), u, parse_window(window))
    new = new.join(src, on=["id", "term"], how="left").with_columns(
        source_root=pl.when(pl.col("label") == "bled").then(pl.coalesce("src", "r_other")).otherwise(None))
    inh = u.filter(pl.col("_inh")).with_columns(label=pl.lit("inherited"), source_root=pl.lit(None, pl.Int64))
    del u, src
    out = pl.concat([inh.select(list(LABEL_SCHEMA)), new.select(list(LABEL_SCHEMA))], how="vertical_relaxed")
    del inh, new
    out = out.sort(["id", "term"])
    out = out.with_columns(
        id=names.gather(out.get_column("id")), term=words.gather(out.get_column("term")),
        root=names.gather(out.get_column("root")), source_root=names.gather(out.get_column("source_root")))
    return out.cast(LABEL_SCHEMA)  # type: ignore[arg-type]


def _source_roots(bled: pl.DataFrame, uses: pl.DataFrame, window: timedelta) -> pl.DataFrame:
    """For each bled (id, term): the other tree that used the term most in the window before it.

    Per term, one sweep in time order over its uses and its bled queries: the window
    ``[t - window, t)`` slides forward, each root keeps the times of its uses inside it
    (count = how many, first = the oldest), and a heap ordered by (most uses, earliest
    use, smallest root) gives the best root; entries that no longer match a root's state
    are skipped when they reach the top. The work is the number of uses and queries
    (times log), not the number of (query, use) pairs inside the windows.
    """
    schema = {"id": bled.schema["id"], "term": bled.schema["term"], "src": bled.schema["root"]}
    if bled.height == 0:
        return pl.DataFrame(schema=schema)
    terms = pl.concat([uses.select("term"), bled.select("term")]).unique().sort("term").with_row_index("_tc")
    roots = pl.concat([uses.select("root"), bled.select("root")]).unique().sort("root").with_row_index("_rc")
    u = (uses.select("term", "root", "created_at").join(terms, on="term").join(roots, on="root")
         .with_columns(_t=pl.col("created_at").dt.epoch("us")).sort(["_tc", "_t"]))
    q = (bled.select("id", "term", "root", "created_at").join(terms, on="term").join(roots, on="root")
         .with_columns(_t=pl.col("created_at").dt.epoch("us")))
    w = int(window.total_seconds() * 1_000_000)
    ut, utc, urc = (u.get_column(c).to_numpy() for c in ("_t", "_tc", "_rc"))
    qt, qtc, qrc = (q.get_column(c).to_numpy() for c in ("_t", "_tc", "_rc"))
    ustart = np.searchsorted(utc, np.arange(terms.height + 1)).tolist()
    qorder = np.lexsort((qt, qtc))
    qterms = qtc[qorder]
    qstart = np.searchsorted(qterms, np.arange(terms.height + 1)).tolist()
    best = np.full(q.height, -1, dtype=np.int64)
    heappush, heappop = heapq.heappush, heapq.heappop
    for c in np.unique(qterms).tolist():
        a0, a1 = ustart[c], ustart[c + 1]
        times, owners = ut[a0:a1].tolist(), urc[a0:a1].tolist()
        rows = qorder[qstart[c]:qstart[c + 1]]
        live: dict[int, deque[int]] = {}
        heap: list[tuple[int, int, int]] = []
        lo = hi = 0
        picks: list[int] = []
        for t, own in zip(qt[rows].tolist(), qrc[rows].tolist()):
            while hi < len(times) and times[hi] < t:  # enters the window
                r = owners[hi]
                dq = live.get(r)
                if dq is None:
                    dq = live[r] = deque()
                dq.append(times[hi])
                heappush(heap, (-len(dq), dq[0], r))
                hi += 1
            start = t - w
            while lo < hi and times[lo] < start:  # leaves it: the oldest use of its root
                r = owners[lo]
                dq = live[r]
                dq.popleft()
                if dq:
                    heappush(heap, (-len(dq), dq[0], r))
                else:
                    del live[r]
                lo += 1
            pick = -1
            held = None
            while heap:
                n, t0, r = heap[0]
                dq = live.get(r)
                if dq is None or len(dq) != -n or dq[0] != t0:  # stale
                    heappop(heap)
                    continue
                if r == own:  # the query's own tree does not count: look past it
                    held = heappop(heap)
                    continue
                pick = r
                break
            if held is not None:
                heappush(heap, held)
            picks.append(pick)
        best[rows] = picks
    names = roots.select(r="_rc", src="root").with_columns(pl.col("r").cast(pl.Int64))
    return (q.select("id", "term").with_columns(r=pl.Series(best)).filter(pl.col("r") >= 0)
            .join(names, on="r").select("id", "term", "src").cast(schema))  # type: ignore[arg-type]


def bleed_rates(labels: pl.DataFrame, *, level: str = "tree") -> pl.DataFrame:
    """Bleed per tree (``level="tree"``: ``root, new_terms, bled, novel, reused, bleed_rate``) or per node
    (``level="node"``: ``id, root, new_terms, bled, bleed_share``). Counts remixes' new terms only.

    >>> lab = pl.DataFrame({"id": ["x", "x", "y"], "root": ["r", "r", "r"], "depth": [1, 1, 2],
    ...                     "label": ["bled", "novel", "inherited"]})
    >>> bleed_rates(lab).select("root", "new_terms", "bled", "bleed_rate").rows()
    [('r', 2, 1, 0.5)]
    >>> bleed_rates(lab, level="node").select("id", "bleed_share").rows()
    [('x', 0.5), ('y', None)]
    """
    lab = labels.filter(pl.col("depth") > 0)
    new = pl.col("label") != "inherited"
    counts = dict(new_terms=new.sum().cast(pl.Int64), bled=(pl.col("label") == "bled").sum().cast(pl.Int64),
                  novel=(pl.col("label") == "novel").sum().cast(pl.Int64),
                  reused=(pl.col("label") == "reused").sum().cast(pl.Int64))
    key = "root" if level == "tree" else "id"
    if level not in ("tree", "node"):
        from lineage.errors import LineageError

        raise LineageError(f"bleed level {level!r}: use 'tree' or 'node'")
    out = lab.group_by(key, *(["root"] if level == "node" else [])).agg(**counts)
    rate = pl.when(pl.col("new_terms") > 0).then(pl.col("bled") / pl.col("new_terms")).otherwise(None)
    if level == "tree":
        return out.with_columns(bleed_rate=rate).sort("root")
    return out.with_columns(bleed_share=rate).select("id", "root", "new_terms", "bled", "bleed_share").sort("id")


def flow_matrix(labels: pl.DataFrame) -> pl.DataFrame:
    """Bled adoptions from tree to tree: ``from_root, to_root, adoptions`` (most first).

    >>> lab = pl.DataFrame({"root": ["b", "b", "c"], "source_root": ["a", "a", "a"], "label": ["bled"] * 3})
    >>> flow_matrix(lab).rows()
    [('a', 'b', 2), ('a', 'c', 1)]
    """
    return (labels.filter(pl.col("label") == "bled", pl.col("source_root").is_not_null())
            .group_by(from_root="source_root", to_root="root").agg(adoptions=pl.len().cast(pl.Int64))
            .sort(["adoptions", "from_root", "to_root"], descending=[True, False, False]))


def homogenisation(styles: pl.DataFrame, lineage: pl.DataFrame, *, window: str = "30d") -> pl.DataFrame:
    """Style diversity per time window: ``window, posts, trees, terms, entropy, mean_pairwise_similarity``.

    ``entropy`` is the Shannon entropy (bits) of style-term use in the window;
    ``mean_pairwise_similarity`` the mean cosine similarity of the style profiles
    (term counts) of every pair of trees active in the window (null with fewer than two).
    Falling entropy and rising similarity mean the archive's styles are homogenizing.

    >>> from datetime import datetime
    >>> lin = pl.DataFrame({"id": ["a", "b"], "parent": [None, None], "root": ["a", "b"], "depth": [0, 0],
    ...                     "created_at": [datetime(2026, 1, 1), datetime(2026, 1, 2)]})
    >>> st = pl.DataFrame({"id": ["a", "a", "b"], "term": ["noir", "anime", "noir"]})
    >>> homogenisation(st, lin).select("posts", "trees", "terms", "entropy", "mean_pairwise_similarity").row(0)
    (2, 2, 2, 0.9182958340544896, 0.7071067811865475)
    """
    u = _uses(styles, lineage)
    schema = {"window": pl.Datetime("us", "UTC"), "posts": pl.Int64, "trees": pl.Int64, "terms": pl.Int64,
              "entropy": pl.Float64, "mean_pairwise_similarity": pl.Float64}
    if u.height == 0:
        return pl.DataFrame(schema=schema)
    u = u.sort("created_at").with_columns(window=pl.col("created_at").dt.truncate(window))
    counts = u.group_by("window", "term").agg(n=pl.len())
    ent = (counts.with_columns(p=pl.col("n") / pl.col("n").sum().over("window"))
           .group_by("window").agg(entropy=-(pl.col("p") * pl.col("p").log(2)).sum(), terms=pl.len()))
    prof = u.group_by("window", "root", "term").agg(c=pl.len()).with_columns(
        unit=pl.col("c") / (pl.col("c") ** 2).sum().sqrt().over("window", "root"))
    sim = (prof.group_by("window", "term").agg(s=pl.col("unit").sum())
           .group_by("window").agg(ss=(pl.col("s") ** 2).sum())
           .join(prof.group_by("window").agg(trees=pl.col("root").n_unique()), on="window")
           .with_columns(mean_pairwise_similarity=pl.when(pl.col("trees") > 1)
                         .then((pl.col("ss") - pl.col("trees")) / (pl.col("trees") * (pl.col("trees") - 1)))
                         .otherwise(None)))
    posts = u.group_by("window").agg(posts=pl.col("id").n_unique())
    return (posts.join(ent, on="window").join(sim.select("window", "trees", "mean_pairwise_similarity"), on="window")
            .select(list(schema)).cast(schema).sort("window"))  # type: ignore[arg-type]
