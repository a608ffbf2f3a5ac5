"""How pages reach the archive: one read-only :class:`Archive` per app, plus small read helpers.

The app keeps its :class:`Archive` in ``app.server.config["ARCHIVE"]`` (made by
``create_app``): its view cache is keyed by store version, so an ingest running
beside the dashboard shows up on the next page load, and nothing here is
module-level state.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np
import orjson
import polars as pl
from flask import current_app, has_app_context

from archive.errors import ArchiveError, NotFoundError
from archive.store import Archive, Tree, scan_delta

__all__ = ["archive", "open_for_app", "parse_as_of", "node_record", "search_posts", "first_value", "memo",
           "Memo", "Views", "views", "tree_of", "ArchiveError", "NotFoundError"]

T = TypeVar("T")

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Memo:
    """A small thread-safe LRU of derived frames, one per app (keys include the store version,
    so a new ingest simply makes new keys; nothing is ever invalidated by hand)."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.latest = -1
        self._d: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        value = compute()
        with self._lock:
            self._d[key] = value
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._d.clear()

    def seen_version(self, version: int) -> None:
        """A page saw store ``version``: when it is new, entries of older versions go (no reader asks
        for them again), so memory holds one version's frames however many versions the app has seen.
        Keys carry their version second: ``(kind, version, ...)``."""
        with self._lock:
            if version <= self.latest:
                return
            self.latest = version
            for k in [k for k in self._d if isinstance(k, tuple) and len(k) > 1 and type(k[1]) is int
                      and k[1] < version]:
                del self._d[k]


def memo(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` once per ``key`` for the current app (see :class:`Memo`)."""
    m = current_app.extensions.get("remix_memo") if has_app_context() else None
    return compute() if m is None else m.get(key, compute)


@dataclass(frozen=True)
class Views:
    """The store's derived frames at one version (read once, shared by every request of that version)."""

    version: int
    lineage: pl.DataFrame  # sorted by id
    posts: pl.DataFrame  # sorted by id
    edges: pl.DataFrame  # sorted by child
    trees: pl.DataFrame
    # ``root, row`` of lineage sorted by root (then id): a tree is one contiguous slice, its rows found in
    # ``lineage`` by position (an index, not a second copy of the lineage)
    by_root: pl.DataFrame | None = None


def _by_id(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by ``id`` (the store's views already are: then this is one check)."""
    return frame if frame.get_column("id").is_sorted() else frame.sort("id")


def views(arc: Archive, as_of: str | None = None, edges: str = "declared") -> Views:
    """The views of the current store version (or as of a date), memoised for this app.

    ``lineage`` and ``posts`` are sorted by id, so :func:`tree_of` finds a tree's rows by
    binary search instead of joining against every post. ``edges="all"`` adds inferred links.
    """
    v = arc.view_version()  # with the app's background follow: the newest version whose views are ready
    m = current_app.extensions.get("remix_memo") if has_app_context() else None
    if m is not None:
        m.seen_version(v)
    pin = v if as_of is None else as_of
    mode = "all" if edges == "all" else "declared"
    iv = arc.table_version("inferred_edges") if mode == "all" else -1

    def load() -> Views:
        lin = _by_id(arc.lineage(pin, edges=mode))
        e = arc.edges(pin, edges=mode)
        e = e if e.get_column("child").is_sorted() else e.sort("child", "rank")
        by_root = lin.select("root", row=pl.int_range(pl.len(), dtype=pl.UInt32)).sort("root", "row")  # id order
        return Views(v, lin, _by_id(arc.posts(pin)), e, arc.trees(pin, edges=mode), by_root)

    return memo(("views", v, as_of) if mode == "declared" else ("views", v, as_of, mode, iv), load)


def inferred_why(arc: Archive, ids: pl.Series | list[str] | None = None) -> pl.DataFrame:
    """``id, confidence, why, cut`` of every inferred link and of every link the tree check cut
    (``cut`` True: the post has no inferred parent), with the sentence a person reads.

    ``ids`` limits it to those children (a tree's posts): the sentences are made in Python, about
    20 µs each, so the whole archive's (a million links: 20 s) are never made for one tree. The
    two tables are read once per run of ``archivist infer`` (memoised on their versions).
    """
    from archive.shorten import cut as cut_text
    from archive.shorten import one_line
    from lineage.bidi import show_bidi
    from lineage.infer import inferred_cut, inferred_edges, why, why_cut

    inf, cut = memo(("inferred_rows", arc.table_version("inferred_edges"), arc.table_version("inferred_cut")),
                    lambda: (inferred_edges(arc).select("child", "confidence", "features"),
                             inferred_cut(arc).select("child", "parent", "confidence", "features", "descendants")))
    if ids is not None:
        keep = pl.Series("id", ids, dtype=pl.String).implode()
        inf, cut = inf.filter(pl.col("child").is_in(keep)), cut.filter(pl.col("child").is_in(keep))
    texts = [why(f, c) for f, c in zip(inf.get_column("features").to_list(), inf.get_column("confidence").to_list())]
    # the cut parent's id is record text inside a sentence: one line, at most 80 characters, its bidi
    # controls shown (an id holding U+202E would otherwise reverse the rest of the sentence, in the
    # panel and in the tree's SVG hover label, which has no bidi isolate)
    texts += [why_cut(show_bidi(cut_text(one_line(p), 80)), f, c, d)
              for p, f, c, d in cut.select("parent", "features", "confidence", "descendants").iter_rows()]
    return pl.DataFrame({"id": pl.concat([inf.get_column("child"), cut.get_column("child")]),
                         "confidence": pl.concat([inf.get_column("confidence"), cut.get_column("confidence")]),
                         "why": texts, "cut": [False] * inf.height + [True] * cut.height},
                        schema={"id": pl.String, "confidence": pl.Float64, "why": pl.String, "cut": pl.Boolean})


def _slice(frame: pl.DataFrame, col: str, keys: pl.Series) -> pl.DataFrame:
    """The rows of ``frame`` (sorted by ``col``) whose ``col`` is one of ``keys`` (binary search, no scan)."""
    s = frame.get_column(col)
    lo = s.search_sorted(keys, side="left").to_numpy().astype(np.int64)
    hi = s.search_sorted(keys, side="right").to_numpy().astype(np.int64)
    n = hi - lo
    if n.sum() == 0:
        return frame.head(0)
    idx = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(n.sum())
    return frame[idx]


def _rows(sorted_frame: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """The rows of an id-sorted frame for ``ids`` (binary search; ids not present are dropped)."""
    col = sorted_frame.get_column("id")
    pos = col.search_sorted(ids, side="left")
    pos = pos.filter(pos < col.len())
    hit = sorted_frame[pos]
    return hit.filter(pl.col("id").is_in(ids.implode(), nulls_equal=False)) if hit.height else hit


def tree_of(vw: Views, post_id: str) -> Tree:
    """The whole tree a post belongs to, like :meth:`Archive.tree` but from memoised views:
    one store-version lookup per request, and binary search instead of joins over every post."""
    hit = _rows(vw.lineage, pl.Series([post_id]))
    if hit.height == 0:
        raise NotFoundError(f"no post {post_id!r} in this archive at that time")
    root = hit.get_column("root")[0]
    lin = (vw.lineage[_slice(vw.by_root, "root", pl.Series([root])).get_column("row")] if vw.by_root is not None
           else vw.lineage.filter(pl.col("root") == root))
    ids = lin.get_column("id")
    posts = _rows(vw.posts, ids)
    nodes = lin.drop("placeholder", "created_at").join(posts, on="id", how="left").sort(
        ["depth", "created_at", "id"], nulls_last=True)
    edges = _slice(vw.edges, "child", ids.sort())
    return Tree(root=root, nodes=nodes, edges=edges)


def open_for_app(path: str) -> Archive:
    """The archive an app serves: opened read-only (the dashboard never writes), following new store
    versions in the background: requests keep the views they have while one thread builds the next
    version's, so no request waits for an archive-wide rebuild (see :meth:`Archive.newer_version`)."""
    arc = Archive.open(path, read_only=True)
    arc.follow = "background"
    return arc


def archive() -> Archive:
    """The archive of the app handling the current request."""
    arc = current_app.config.get("ARCHIVE")
    if arc is None:
        arc = open_for_app(current_app.config["ARCHIVE_PATH"])
    m = current_app.extensions.get("remix_memo")
    if m is not None:
        m.seen_version(arc.view_version())  # a new version shown: the memo lets go of older ones
    return arc


def first_value(v: Any) -> Any:
    """Query parameters may come as a list (``?a=1&a=2``): keep the first."""
    if isinstance(v, (list, tuple)):
        return v[0] if v else None
    return v


def parse_as_of(value: Any) -> str | None:
    """An as-of date from a URL or a date picker: ``YYYY-MM-DD`` (end of that day, UTC), else ``None``.

    >>> parse_as_of("2026-04-01"), parse_as_of("2026-04-01T00:00:00"), parse_as_of(""), parse_as_of("soon")
    ('2026-04-01', '2026-04-01', None, None)
    """
    value = first_value(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    if not isinstance(value, str) or len(value) < 10:
        return None
    head = value.strip()[:10]
    if not _DATE_RE.match(head):
        return None
    try:
        date.fromisoformat(head)
    except ValueError:
        return None
    return head


def node_record(arc: Archive, post_id: str, as_of: str | None = None) -> dict | None:
    """The latest stored record of a post as a dict (``None`` for a placeholder)."""
    df = (
        scan_delta(arc.table_path("records"))
        .filter(pl.col("id") == post_id)
        .select("record", "fetched_at", "ingested_at", "created_at")
        .collect()
    )
    if as_of is not None:
        t = datetime.fromisoformat(as_of + "T23:59:59.999999+00:00")
        df = df.filter(pl.coalesce("fetched_at", "ingested_at") <= t, pl.col("created_at") <= t)
    if df.height == 0:
        return None
    rec = df.sort(pl.coalesce("fetched_at", "ingested_at"), "ingested_at").get_column("record")[-1]
    return orjson.loads(rec)


def search_posts(arc: Archive, query: str, *, as_of: str | None = None, limit: int = 20,
                 edges: str = "declared") -> pl.DataFrame:
    """Posts whose id is ``query``, else whose id, author or prompt contains every word of it (case-insensitive).

    Returns ``id, root, depth, text, tree_size`` with roots and bigger trees first; root, depth and
    size are of the trees of ``edges`` (``"all"``: with inferred links).
    """
    q = (query or "").strip()
    cols = ["id", "root", "depth", "text", "tree_size"]
    if not q:
        return pl.DataFrame(schema={"id": pl.String, "root": pl.String, "depth": pl.Int64, "text": pl.String,
                                    "tree_size": pl.UInt32})
    posts = arc.posts(as_of).select("id", "text", "author")
    exact = posts.filter(pl.col("id") == q)
    if exact.height:
        hits = exact
    else:
        hay = pl.concat_str([pl.col("id"), pl.col("author").fill_null(""), pl.col("text")], separator=" ").str.to_lowercase()
        cond = pl.lit(True)
        for word in q.lower().split():
            cond = cond & hay.str.contains(word, literal=True)
        hits = posts.filter(cond)
    lin = arc.lineage(as_of, edges=edges).select("id", "root", "depth")
    sizes = arc.trees(as_of, edges=edges).select("root", pl.col("size").alias("tree_size"))
    return (
        hits.join(lin, on="id", how="inner")
        .join(sizes, on="root", how="left")
        .sort(["depth", "tree_size", "id"], descending=[False, True, False])
        .head(limit)
        .select(cols)
    )
