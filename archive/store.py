"""The graph store: Delta Lake tables in one folder, read and written with polars.

``records`` is the append-only log of observations (one row per record per
fetch). Everything else a reader wants (``posts``, ``edges``, ``lineage``,
``observations``, ``trees``) is derived from it and cached per log version, in
memory and, unless the archive is opened read-only, as Parquet under ``_views/``.
Every read takes ``as_of=``: an ``int`` store version (Delta time travel) or a
time (``datetime`` or RFC 3339 string: records fetched by then, posts created by then).

Examples
--------
>>> import tempfile
>>> from archive.ingest import ingest_records
>>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
>>> recs = [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a cat"},
...         {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "a cat, claymation",
...          "parents": [{"id": "t:1"}]}]
>>> ingest_records(a, recs, source="t").stored
2
>>> a.lineage().select("id", "root", "depth").rows()
[('t:1', 't:1', 0), ('t:2', 't:1', 1)]
>>> a.descendants("t:1")["id"].to_list()
['t:2']
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import networkx as nx
import numpy as np
import polars as pl
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from archive import tempfiles
from archive.errors import NotFoundError, StoreError, resource_problem
from archive.graph import PROBLEM_SCHEMA, compute_lineage, merge_equal_time_parents
from archive.paths import default_archive_path
from archive.record import parse_time

__all__ = ["Archive", "Tree", "RECORD_SCHEMA", "RUN_SCHEMA", "QUARANTINE_SCHEMA", "AsOf", "LOCK_FILE",
           "commit_retrying", "nearest_ids", "LocalDeltaTable", "delta_table", "read_delta", "scan_delta"]

#: the one writer lock of an archive (``fcntl.flock`` on this file inside the archive folder)
LOCK_FILE = ".write-lock"
_LOCK_TIMEOUT = float(os.environ.get("REMIX_LOCK_TIMEOUT", "900"))  # seconds a writer waits for another
T = TypeVar("T")


#: What Delta Lake (delta-rs's object store) cannot take in a local table's path: a '%XX' escape (decoded:
#: '/tmp/a%41' is read and written as '/tmp/aA'), a backslash (read as '/'), '[' or ']' (a URL's host syntax:
#: a panic) and control characters (newline, tab: "illegal character sequence").
_DELTA_PATH_PROBLEMS = re.compile(r"%[0-9A-Fa-f]{2}|[\\\[\]\x00-\x1f\x7f]")


def _check_delta_path(p: Path) -> None:
    """Refuse an archive folder whose path (symbolic links resolved) Delta Lake would misread.

    Raises :class:`~archive.errors.StoreError` naming the folder, what in it, and what to do.

    >>> _check_delta_path(Path("/tmp/my archive ü#1"))
    >>> _check_delta_path(Path("/tmp/a%41/arc"))
    Traceback (most recent call last):
    archive.errors.StoreError: /tmp/a%41/arc: the folder's path holds '%41', which Delta Lake cannot use as a folder name (it would read or write another folder, or fail): rename the folder or pass another --archive
    """
    full = p.resolve()
    bad = _DELTA_PATH_PROBLEMS.search(str(full))
    if bad:
        from archive.shorten import visible  # the message stays one line: a newline in a name shows as ⟨U+000A⟩

        shown = p.absolute()
        via = f" (which is {visible(str(full))})" if full != shown else ""
        raise StoreError(f"{visible(str(shown))}{via}: the folder's path holds {bad.group()!r}, which Delta Lake cannot use as a "
                         "folder name (it would read or write another folder, or fail): rename the folder or pass "
                         "another --archive")


class LocalDeltaTable(DeltaTable):
    """A :class:`deltalake.DeltaTable` whose local data files are named as the file system names them.

    deltalake 1.x lists a local table's data files (:meth:`file_uris`) percent-encoded, as URI
    paths (``/tmp/my%20archive/records/part-….parquet``), and polars' Delta reader opens those
    names as they are: an archive in a folder whose path holds a space, ``#``, ``?`` or a
    non-ASCII letter was written but could not be read. Here the local names are decoded (RFC 3986,
    ``urllib.parse.unquote``); remote ones (``s3://…``) are left as they are.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "my archive ü" / "t"
    >>> pl.DataFrame({"a": [1]}).write_delta(p)
    >>> all(Path(u).exists() for u in LocalDeltaTable(str(p)).file_uris())
    True
    """

    def file_uris(self, partition_filters: Any = None) -> list[str]:
        from urllib.parse import unquote

        return [u if "://" in u else unquote(u) for u in super().file_uris(partition_filters)]


def delta_table(path: str | os.PathLike, *, version: int | None = None) -> LocalDeltaTable:
    """The Delta table at ``path`` (at ``version``, else its latest) as a :class:`LocalDeltaTable`.

    Raises what :class:`deltalake.DeltaTable` raises (``TableNotFoundError`` where there is none).
    """
    return LocalDeltaTable(str(path), version=version)


def scan_delta(path: str | os.PathLike, *, version: int | None = None) -> pl.LazyFrame:
    """:func:`polars.scan_delta` over :func:`delta_table`: reads tables in any folder name.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a folder#1" / "t"
    >>> pl.DataFrame({"a": [1, 2]}).write_delta(p)
    >>> scan_delta(p).select(pl.col("a").sum()).collect().item()
    3
    """
    return pl.scan_delta(delta_table(path, version=version))


def read_delta(path: str | os.PathLike, *, version: int | None = None,
               columns: list[str] | None = None) -> pl.DataFrame:
    """:func:`polars.read_delta` over :func:`delta_table` (``columns``: those only, in that order)."""
    return pl.read_delta(delta_table(path, version=version), columns=columns)


def commit_retrying(commit: Callable[[], T], *, attempts: int = 8, base: float = 0.05) -> T:
    """Run a Delta commit, retrying on a commit conflict with jittered exponential backoff.

    deltalake resolves conflicts optimistically: a writer whose commit lost the race
    gets ``CommitFailedError`` and is expected to retry against the new table version
    (the deltalake documentation on concurrent writers). Every commit of this
    package goes through here; the archive's writer lock (:meth:`Archive.writing`)
    makes conflicts between its own writers rare, this covers outside writers.

    Examples
    --------
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise CommitFailedError("a concurrent transaction added new data")
    ...     return "done"
    >>> commit_retrying(flaky, base=0.001), len(calls)
    ('done', 3)
    """
    for i in range(attempts):
        try:
            return commit()
        except CommitFailedError:
            if i == attempts - 1:
                raise
            time.sleep(base * (2 ** i) * (0.5 + random.random()))
    raise AssertionError("unreachable")

UTC = pl.Datetime("us", "UTC")
PARENT_STRUCT = pl.Struct(
    {"id": pl.String, "relation": pl.String, "evidence": pl.String, "confidence": pl.Float64}
)
RECORD_SCHEMA: dict[str, Any] = {
    "id": pl.String,
    "source": pl.String,
    "created_at": UTC,
    "fetched_at": UTC,
    "author": pl.String,
    "title": pl.String,
    "prompt": pl.String,
    "style_tags": pl.List(pl.String),
    "parents": pl.List(PARENT_STRUCT),
    "views": pl.Int64,
    "likes": pl.Int64,
    "remixes": pl.Int64,
    "comments": pl.Int64,
    "license": pl.String,
    "record": pl.String,
    "content_hash": pl.String,
    "run_id": pl.String,
    "ingested_at": UTC,
    "redacted": pl.Boolean,
}
RUN_SCHEMA: dict[str, Any] = {
    "run_id": pl.String,
    "source": pl.String,
    "target": pl.String,
    "status": pl.String,  # running | checkpoint | completed | failed | interrupted (Ctrl-C)
    "started_at": UTC,
    "at": UTC,
    "read": pl.Int64,
    "stored": pl.Int64,
    "unchanged": pl.Int64,
    "quarantined": pl.Int64,
    "cursor": pl.String,
    "store_version": pl.Int64,
    "error": pl.String,
}
QUARANTINE_SCHEMA: dict[str, Any] = {
    "run_id": pl.String,
    "source": pl.String,
    "location": pl.String,
    "raw": pl.String,
    "raw_hash": pl.String,
    "reasons": pl.List(pl.String),
    "quarantined_at": UTC,
}

AsOf = int | datetime | str | None
EDGE_MODES = ("declared", "all")  # declared: what sources state (declared, c2pa); all: plus inferred links
_POST_COLS = [
    "id", "source", "created_at", "fetched_at", "author", "title", "prompt",
    "style_tags", "views", "likes", "remixes", "comments", "license", "content_hash", "redacted",
]


@dataclass(frozen=True)
class Tree:
    """One remix tree: its nodes (posts joined with lineage), its edges and a DiGraph.

    ``graph`` has an edge parent -> child for every primary edge (a tree);
    ``dag`` has every edge, secondary parents included.
    """

    root: str
    nodes: pl.DataFrame
    edges: pl.DataFrame

    @property
    def graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.nodes.get_column("id").to_list())
        prim = self.nodes.filter(pl.col("parent").is_not_null())
        g.add_edges_from(zip(prim.get_column("parent").to_list(), prim.get_column("id").to_list()))
        return g

    @property
    def dag(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.nodes.get_column("id").to_list())
        for row in self.edges.iter_rows(named=True):
            g.add_edge(row["parent"], row["child"], relation=row["relation"], evidence=row["evidence"])
        return g


_SORTED_BY = {"posts": "id", "lineage": "id", "edges": "child"}
_VIEW_NAMES = ("posts", "edges", "lineage", "problems", "trees", "observations")  # how _build_views sorts the views


def _mark_sorted(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Tell polars a view is sorted by its key (it is, by construction), so lookups can bisect."""
    key = _SORTED_BY.get(name)
    return frame.with_columns(pl.col(key).set_sorted()) if key and frame.height else frame


def _rows_of(frame: pl.DataFrame, key: str, ids: pl.Series) -> pl.DataFrame:
    """The rows of ``frame`` whose ``key`` is one of ``ids`` (sorted), in ``frame``'s order.

    The views are sorted by their key, so a tree's rows come from two binary searches
    per id instead of a pass over a million-row view; a frame not sorted that way is
    filtered instead.
    """
    col = frame.get_column(key)
    if col.null_count() or not col.is_sorted():
        return frame.filter(pl.col(key).is_in(ids.implode()))
    lo = col.search_sorted(ids, side="left").to_numpy().astype(np.int64)
    counts = col.search_sorted(ids, side="right").to_numpy().astype(np.int64) - lo
    idx = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts) \
        + np.repeat(lo, counts)
    return frame[idx]


def _to_time(as_of: datetime | str) -> datetime:
    if isinstance(as_of, str):
        try:
            return parse_time(as_of if "T" in as_of or " " in as_of else as_of + "T23:59:59.999999Z")
        except ValueError:
            raise StoreError(f"as-of {as_of!r} is neither a store version nor an RFC 3339 time") from None
    return as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)


def nearest_ids(ids: pl.Series, post_id: str, *, limit: int = 3) -> list[str]:
    """The ids of ``ids`` closest to ``post_id`` by edit distance (for "did you mean").

    An id given without its source (``s42_0001029`` for ``simulate:s42_0001029``) names the ids that
    end in it first: an edit distance of nine characters was past the cut-off, and nothing was suggested.

    Examples:
        >>> nearest_ids(pl.Series(["simulate:s42_0001029", "simulate:s42_0001020", "x:1"]), "simulate:s42_000102")
        ['simulate:s42_0001020', 'simulate:s42_0001029']
        >>> nearest_ids(pl.Series(["simulate:s42_0001029", "simulate:s42_0001020"]), "s42_0001029")
        ['simulate:s42_0001029']
    """
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    if not isinstance(post_id, str) or ids.len() == 0:
        return []
    same = ids.filter(ids.str.ends_with(":" + post_id)).sort().head(limit).to_list() if post_id else []
    cut = max(2, len(post_id) // 4)
    hits = process.extract(post_id, ids.to_list(), scorer=Levenshtein.distance, limit=limit, score_cutoff=cut)
    near = [h[0] for h in sorted(hits, key=lambda h: (h[1], h[0]))]
    return (same + [x for x in near if x not in same])[:limit]


@contextlib.contextmanager
def _held_stderr() -> Iterator[dict]:
    """Hold what is written to file descriptor 2 during the block; pass it on after unless told to drop it."""
    box: dict = {}
    try:
        saved = os.dup(2)
        held = tempfile.TemporaryFile()
    except OSError:
        yield box
        return
    try:
        os.dup2(held.fileno(), 2)
    except OSError:
        os.close(saved)
        held.close()
        yield box
        return
    try:
        yield box
    finally:
        with contextlib.suppress(Exception):
            import sys
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        with contextlib.suppress(OSError):
            if not box.get("drop"):
                held.seek(0)
                data = held.read()
                if data:
                    os.write(2, data)
        held.close()


def _tree_table(lineage: pl.DataFrame, posts: pl.DataFrame) -> pl.DataFrame:
    """One row per tree (``root, size, depth, first_at, last_at, views, breadth, root_text, root_placeholder``)."""
    return (
        lineage.join(posts.select("id", "views", "likes", "remixes"), on="id", how="left")
        .group_by("root")
        .agg(
            size=pl.len(),
            depth=pl.col("depth").max(),
            first_at=pl.col("created_at").min(),
            last_at=pl.col("created_at").max(),
            views=pl.when(pl.col("views").is_not_null().any()).then(pl.col("views").sum()),  # none given: null
            breadth=pl.col("depth").value_counts().struct.field("count").max(),
        )
        .join(posts.select(pl.col("id").alias("root"), pl.col("text").alias("root_text"),
                           pl.col("placeholder").alias("root_placeholder")), on="root", how="left")
        .sort(["size", "root"], descending=[True, False])
    )


_VIEW_COLS = _POST_COLS + ["parents", "ingested_at"]  # what the views read of the log


def _latest_rows(recs: pl.DataFrame, t: datetime | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The latest observation of each post (``n_obs`` counted) and the observations, from log rows.

    ``recs`` holds every row of the posts it names (``_VIEW_COLS``); the caller passes it
    without keeping a reference, so the wide log is freed before the views are built.
    """
    recs = recs.with_columns(observed_at=pl.coalesce("fetched_at", "ingested_at"))
    if t is not None:
        # As of a time: the posts created by then, each with its latest observation made by then,
        # or, when it was first observed later, its earliest observation (what it looked like first).
        recs = recs.filter(pl.col("created_at") <= t).with_columns(
            _later=(pl.col("observed_at") > t).cast(pl.Int8),
            _key=pl.when(pl.col("observed_at") > t).then(-pl.col("observed_at").dt.epoch("us"))
            .otherwise(pl.col("observed_at").dt.epoch("us")),
        )
        latest = (
            recs.sort(["id", "_later", "_key", "ingested_at", "content_hash"], descending=[False, True, False,
                                                                                      False, False])
            .group_by("id", maintain_order=True)
            .agg(pl.all().exclude("_later", "_key").last(), n_obs=(pl.col("_later") == 0).sum().cast(pl.UInt32))
        )
        recs = recs.filter(pl.col("_later") == 0).drop("_later", "_key")
    elif recs.get_column("id").n_unique() == recs.height:  # one observation per post: sorting is enough
        latest = recs.with_columns(n_obs=pl.lit(1, dtype=pl.UInt32))  # no sort: the views sort once
    else:
        latest = (
            recs.sort(["id", "observed_at", "ingested_at", "content_hash"])
            .group_by("id", maintain_order=True)
            .agg(pl.all().last(), n_obs=pl.len())
        )
    if recs.height != latest.height:  # one line per edge: the union of the parents, in the order stored
        # (ingest time, then row order: the same whatever order the data files are listed in)
        stored = recs.select("id", "observed_at", "parents", "ingested_at").sort("ingested_at", maintain_order=True)
        latest = merge_equal_time_parents(stored, latest)
    observations = recs.select(*_OBS_COLS).unique()
    return latest, observations


_OBS_COLS = ["id", "observed_at", "views", "likes", "remixes", "comments"]


def _edges_of(latest: pl.DataFrame) -> pl.DataFrame:
    """One row per declared parent of each post (``child, parent, relation, evidence, confidence, rank``)."""
    # declaration order of each parent: explode keeps list order
    return (
        latest.select(pl.col("id").alias("child"), "parents")
        .filter(pl.col("parents").list.len() > 0)
        .with_columns(rank=pl.int_ranges(pl.col("parents").list.len()))
        .explode(["parents", "rank"])
        .unnest("parents")
        .rename({"id": "parent"})
        .select("child", "parent", "relation", "evidence", "confidence", pl.col("rank").cast(pl.Int64))
    )


def _views_of(latest: pl.DataFrame, observations: pl.DataFrame, *, edges: pl.DataFrame | None = None,
              keep: pl.Expr | None = None) -> dict[str, pl.DataFrame]:
    """The six views from the latest row of each post (any order) and the observations (distinct rows).

    ``edges`` (declared edges, any order) is taken from ``latest``'s ``parents`` when not given;
    ``keep`` (a boolean expression on ``latest``) leaves out the rows where it is false.
    The wide post rows are gathered once (every reordering or filter copies their text):
    lineage is computed on the ids first, the placeholders it names are added, then one
    gather puts the kept rows in id order.
    """
    edges = (_edges_of(latest) if edges is None else edges).sort(["child", "rank"])
    observations = observations.sort(_OBS_COLS)  # every column: one order for equal times
    real = latest.drop("parents", "ingested_at", strict=False)
    narrow = real.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"), "id", "created_at",
                         _keep=pl.lit(True) if keep is None else keep).filter("_keep").sort("id")
    lin, problems = compute_lineage(narrow.select("id"), edges, created=narrow.select("id", "created_at"))
    holders = lin.select("id").join(narrow.select("id"), on="id", how="anti")  # parents not in the archive
    order = pl.concat([narrow.select("_row", "id"),
                       holders.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("_row") + real.height, "id")])
    order = order.sort("id").get_column("_row")
    columns = [c for c in real.columns if c != "id"] + ["id"]
    # gathered by the streaming engine: an eager gather first copies a frame of several chunks (grown views
    # are old rows + new rows) into one, text included (~100 MB more at the peak for 400,000 posts)
    posts = (
        pl.concat([real, holders], how="diagonal").lazy().select(pl.col(columns).gather(order))
        .with_columns(placeholder=pl.col("source").is_null(),  # text after the gather: it shares prompt's memory
                      text=pl.when(pl.col("prompt").is_not_null() & (pl.col("prompt") != ""))
                      .then(pl.col("prompt")).otherwise(pl.col("title")).fill_null(""))
        .with_columns(pl.col("n_obs").fill_null(0).cast(pl.Int64), pl.col("redacted").fill_null(False))
        .collect()
    )
    lineage = lin.join(posts.select("id", "placeholder", "created_at"), on="id", how="left").sort("id")
    trees = _tree_table(lineage, posts)
    return {"posts": posts, "edges": edges, "lineage": lineage, "problems": problems,
            "trees": trees, "observations": observations}


def _with_metadata(opts: dict[str, Any] | None, metadata: dict[str, str] | None) -> dict[str, Any] | None:
    """Delta write options ``opts`` with ``metadata`` kept in the commit (Delta commit properties)."""
    if not metadata:
        return opts
    from deltalake import CommitProperties

    return {**(opts or {}), "commit_properties": CommitProperties(custom_metadata=dict(metadata))}


class Archive:
    """A graph store on disk. Open it with :meth:`Archive.open`."""

    TABLES = ("records", "runs", "quarantine", "redactions")

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._cache: OrderedDict[tuple, pl.DataFrame] = OrderedDict()
        self._versions: dict[str, int] = {}  # table -> the Delta version last seen (table_version)
        self._lock = threading.Lock()
        self._wlock = threading.RLock()  # the threads of this process; the file lock covers processes
        self._wfd: int | None = None
        self._wdepth = 0
        self._swept = False
        self.follow: str = "now"  # "now": reads see the newest version; "background": see ``follow_latest``
        self._served: int | None = None  # background follow: the version plain reads are pinned to
        self._building: threading.Thread | None = None
        # held while background follow builds a version's views; a reader doing other archive-wide work
        # (the dashboard drawing a page) holds it too, so the two never add up in memory
        self.heavy = threading.Lock()
        # called with the new version once background follow shows it (the dashboard drops its memo of older ones)
        self.on_shown: list[Callable[[int], None]] = []

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, create: bool = False,
             read_only: bool = False) -> "Archive":
        """Open the archive at ``path`` (default ``$REMIX_ARCHIVE`` or ``./remix-archive``).

        With ``create=True`` a missing folder becomes a new empty archive; without it
        a missing archive is a :class:`~archive.errors.StoreError` that says what to run.
        """
        p = Path(path) if path is not None else default_archive_path()
        _check_delta_path(p)
        if p.exists() and not p.is_dir():
            raise StoreError(f"{p} is a file, not an archive folder: give --archive a folder "
                             "(a new one is made by `archivist ingest …`)")
        marker = p / "records" / "_delta_log"
        if not marker.exists():
            if p.exists() and any(p.iterdir()) and not (p / "ARCHIVE").exists():
                raise StoreError(f"{p} exists but is not a remix archive (no records table): give --archive an "
                                 "archive's folder" + (", or an empty or new folder to make one there" if create else ""))
            if not create:
                raise StoreError(f"no archive at {p}: run `archivist ingest …` or `archivist demo` "
                                 "to make one, or pass --archive PATH")
            if read_only:
                raise StoreError(f"no archive at {p} and it is opened read-only")
            p.mkdir(parents=True, exist_ok=True)
            (p / "ARCHIVE").write_text("remix-archivist store, format 1\n", "utf-8")
            pl.DataFrame(schema=RECORD_SCHEMA).write_delta(p / "records", mode="append")
        return cls(p, read_only=read_only)

    # ------------------------------------------------------------------ settings
    def settings(self) -> dict[str, Any]:
        """The archive's own settings (``settings.json`` in its folder; ``{}`` when there is none).

        ``excluded_from_measures``: sources whose trees (trees whose root id is ``<source>:…``)
        are kept, shown and archived but left out of ``archivist analyze`` (the demo's
        deliberately messy examples: they show how bad input is handled, not how ideas mutate).
        """
        f = self.path / "settings.json"
        try:
            data = json.loads(f.read_text("utf-8")) if f.exists() else {}
        except (OSError, ValueError) as e:
            raise StoreError(f"{f} is not readable JSON ({e}); fix or delete it") from None
        return data if isinstance(data, dict) else {}

    def set_setting(self, key: str, value: Any) -> None:
        """Change one setting (written atomically)."""
        if self.read_only:
            raise StoreError(f"the archive at {self.path} is open read-only")
        data = self.settings()
        data[key] = value
        tmp = self.path / f".settings.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
        os.replace(tmp, self.path / "settings.json")

    def excluded_sources(self) -> list[str]:
        """Sources whose trees the measures leave out (setting ``excluded_from_measures``)."""
        return sorted(str(s) for s in self.settings().get("excluded_from_measures") or [])

    # ------------------------------------------------------------------ tables
    def table_path(self, name: str) -> Path:
        return self.path / name

    def has_table(self, name: str) -> bool:
        return (self.path / name / "_delta_log").exists()

    def table_version(self, name: str = "records") -> int:
        """The current Delta version of a table (``-1`` when it does not exist).

        The first call opens the table; later calls check the commit files after the
        version last seen (``_delta_log/<version>.json``: a few ``stat`` calls, no
        log replay), and open the table again when that file is gone (the table was
        removed, replaced or its log cleaned up).

        Examples
        --------
        >>> import tempfile
        >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
        >>> a.table_version("records") >= 0, a.table_version("no_such_table")
        (True, -1)
        """
        log = self.path / name / "_delta_log"
        seen = self._versions.get(name)
        if seen is not None and (log / f"{seen:020d}.json").exists():
            while (log / f"{seen + 1:020d}.json").exists():
                seen += 1
            self._versions[name] = seen
            return seen
        try:
            v = DeltaTable(str(self.path / name)).version()
        except TableNotFoundError:
            self._versions.pop(name, None)
            return -1
        self._versions[name] = v
        return v

    def version(self) -> int:
        """The store version: the version of the ``records`` log.

        Raises :class:`~archive.errors.StoreError` when the archive folder is gone
        (deleted or unmounted under a running reader).
        """
        v = self.table_version("records")
        if v < 0:
            raise StoreError(f"the archive at {self.path} is gone (its records table is missing: deleted, moved "
                             "or unmounted); put it back, or restart with --archive PATH")
        return v

    def history(self) -> pl.DataFrame:
        """Every version of the log with its time and operation."""
        h = DeltaTable(str(self.path / "records")).history()
        return pl.DataFrame(
            {
                "version": [x.get("version") for x in h],
                "at": [datetime.fromtimestamp(x["timestamp"] / 1000, timezone.utc) for x in h],
                "operation": [x.get("operation") for x in h],
            },
            schema={"version": pl.Int64, "at": UTC, "operation": pl.String},
        ).sort("version")

    def read_table(self, name: str, *, version: int | None = None, columns: list[str] | None = None,
                   schema: dict | None = None) -> pl.DataFrame:
        """Read any table of the store (an empty frame with ``schema`` if it does not exist yet)."""
        if not self.has_table(name):
            if schema is not None:
                return pl.DataFrame(schema=schema)
            raise NotFoundError(f"the archive at {self.path} has no table {name!r}")
        if version is not None:
            return read_delta(self.path / name, version=version, columns=columns)
        return read_delta(self.path / name, columns=columns)

    def append(self, name: str, frame: pl.DataFrame, *, metadata: dict[str, str] | None = None) -> int:
        """Append a frame to a table in one atomic Delta commit; returns the new version.

        The commit holds the writer lock (:meth:`writing`) and is retried on a
        conflict; a full disk, a read-only folder or a missing permission is a
        one-line :class:`~archive.errors.StoreError`. ``metadata`` is kept with the
        commit, in the same atomic step (see :meth:`commit_metadata_history`).
        """
        self._writable()
        if frame.height == 0:
            return self.table_version(name)
        opts = _with_metadata(None, metadata)
        with self.writing():
            self.commit(f"writing the {name} table", lambda: frame.write_delta(
                str(self.path / name), mode="append", delta_write_options=opts))  # type: ignore[arg-type]
            return self.table_version(name)

    def commit_metadata_history(self, name: str, key: str) -> list[dict[str, Any]]:
        """Every commit of table ``name`` whose metadata has ``key``, newest first (Delta's history
        entries; ``[]`` when the table does not exist). Reads the whole commit log: for rare checks.

        >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
        >>> _ = a.append("notes", pl.DataFrame({"x": [1]}), metadata={"batch": "1"})
        >>> _ = a.append("notes", pl.DataFrame({"x": [2]}))
        >>> [h["batch"] for h in a.commit_metadata_history("notes", "batch")]
        ['1']
        """
        if not self.has_table(name):
            return []
        from deltalake import DeltaTable

        return [dict(h) for h in DeltaTable(str(self.path / name)).history() if key in h]

    def write_table(self, name: str, frame: pl.DataFrame | pl.LazyFrame, *, mode: str = "overwrite",
                    metadata: dict[str, str] | None = None) -> int:
        """Write (``overwrite`` or ``append``) a derived or analysis table; returns its version.

        ``metadata`` is kept with the Delta commit (read back by :meth:`table_commit_metadata`).

        A lazy frame is written as it is computed, batch by batch, in one commit: its rows
        never all sit in memory at once (their order is not promised: sort a frame in memory
        where the order of the rows matters).
        """
        self._writable()
        with self.writing():
            opts = _with_metadata({"schema_mode": "overwrite"} if mode == "overwrite" and self.has_table(name)
                                  else None, metadata)
            if isinstance(frame, pl.LazyFrame):
                lazy = frame
                write = lambda: write_deltalake(  # noqa: E731 - a fresh stream for each try of the commit
                    str(self.path / name), lazy.collect_batches(maintain_order=True, lazy=True), mode=mode,
                    **(opts or {}))  # type: ignore[arg-type]
            else:
                write = lambda: frame.write_delta(  # noqa: E731
                    str(self.path / name), mode=mode, delta_write_options=opts)  # type: ignore[arg-type]
            self.commit(f"writing the {name} table", write)
            return self.table_version(name)

    def table_commit_metadata(self, name: str) -> dict[str, Any]:
        """The latest commit of table ``name``: Delta's history entry, with any ``metadata`` given to
        :meth:`write_table` (``{}`` when the table does not exist).

        >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
        >>> a.table_commit_metadata("notes")
        {}
        >>> _ = a.write_table("notes", pl.DataFrame({"x": [1]}), metadata={"scope": "all"})
        >>> a.table_commit_metadata("notes")["scope"]
        'all'
        """
        if not self.has_table(name):
            return {}
        from deltalake import DeltaTable

        h = DeltaTable(str(self.path / name)).history(1)
        return dict(h[0]) if h else {}

    def commit(self, doing: str, write: Callable[[], T]) -> T:
        """Run one Delta write: retried on conflicts, resource errors turned into one line.

        On a full disk the Rust writer prints a panic on stderr before the error reaches
        Python; that text is held back while the write runs and dropped when the error
        is reported as one line (any other output is passed on).
        """
        with _held_stderr() as held:
            try:
                return commit_retrying(write)
            except BaseException as e:  # pyo3 panics (a Rust writer on a full disk) are BaseExceptions
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                err = self.resource_error(e, doing)
                if err is None:
                    raise
                held["drop"] = True
                raise err from None

    def resource_error(self, e: BaseException, doing: str) -> StoreError | None:
        """A one-line :class:`StoreError` for a resource problem behind ``e`` (``None``: not one)."""
        found = resource_problem(e)
        if found is None:
            return None
        what, todo = found
        try:
            v = f" (store version {self.version()} is intact)"
        except Exception:  # noqa: BLE001 - the message must not fail on a broken disk
            v = ""
        return StoreError(f"{what} {doing} in {self.path}{v}; {todo}")

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the archive's one writer lock (``<archive>/.write-lock``, ``fcntl.flock``) for a block.

        Every commit of this package takes it, so two writers never commit at once:
        an ingest deduplicates its batch against the table version it commits on, and
        a redaction's merge and history purge run between two ingest batches instead
        of under them. Re-entrant within one :class:`Archive`; another process waits
        (at most ``$REMIX_LOCK_TIMEOUT`` seconds, default 900). The first time a
        writer takes it, stale temporary files of killed writers are removed.

        Examples
        --------
        >>> import tempfile
        >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
        >>> with a.writing():
        ...     with a.writing():   # re-entrant
        ...         (a.path / LOCK_FILE).exists()
        True
        """
        self._writable()
        with self._wlock:
            if self._wdepth == 0:
                try:
                    fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o664)
                except OSError as e:
                    raise self.resource_error(e, "taking the writer lock") or StoreError(
                        f"cannot take the writer lock of {self.path}: {e}") from None
                deadline = time.monotonic() + _LOCK_TIMEOUT
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            os.close(fd)
                            raise StoreError(f"another writer has held the archive lock of {self.path} for "
                                             f"{_LOCK_TIMEOUT:.0f} s; wait for it to finish (or stop it) and run "
                                             "the command again") from None
                        time.sleep(0.02)
                self._wfd = fd
                if not self._swept:
                    self._swept = True
                    self.sweep_leftovers()
            self._wdepth += 1
            try:
                yield
            finally:
                self._wdepth -= 1
                if self._wdepth == 0 and self._wfd is not None:
                    os.close(self._wfd)  # closing the descriptor releases the flock
                    self._wfd = None

    def sweep_leftovers(self) -> list[Path]:
        """Remove temporary files and folders that killed writers left in the archive; returns them.

        View caches being written (``_views/v<N>/.<view>.<stamp>.tmp``), half-written
        snapshot bags (``snapshots/<root>/.partial-<stamp>``) and the per-bucket results an
        analysis spills (``.analyze-<stamp>/``) of processes that are gone.
        Every write command does this first (:meth:`writing`); a snapshot does it too.
        """
        gone: list[Path] = []
        views = self.path / "_views"
        if views.is_dir():
            for d in views.iterdir():
                gone += tempfiles.sweep(d, ".view-", ".tmp")
                for p in d.glob(".*.tmp"):  # unstamped names (older versions): stale by age
                    if not p.name.startswith(".view-") and tempfiles.is_stale(p, "."):
                        with contextlib.suppress(OSError):
                            p.unlink()
                            gone.append(p)
        snaps = self.path / "snapshots"
        if snaps.is_dir():
            for d in snaps.iterdir():
                gone += tempfiles.sweep(d, ".partial-")
        gone += tempfiles.sweep(self.path, ".analyze-")  # per-bucket results an analysis spilled to disk
        return gone

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the archive at {self.path} is open read-only")

    # ------------------------------------------------------------------ exactly once
    def hashes_since(self, seen_files: set[str], *, read: bool = True) -> tuple[set[str], set[str]]:
        """Content hashes in the data files of ``records`` not in ``seen_files``; and every current file.

        What ingest deduplicates a batch against just before it commits (under the
        writer lock): the rows other writers committed since it last looked. Starting
        from an empty set gives every content hash of the log.

        Examples
        --------
        >>> import tempfile
        >>> from archive.ingest import ingest_records
        >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
        >>> hashes, files = a.hashes_since(set())
        >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z"}])
        >>> new, files = a.hashes_since(files)
        >>> len(new), a.hashes_since(files)[0]
        (1, set())
        """
        try:
            current = set(delta_table(self.path / "records").file_uris())
        except (DeltaError, OSError) as e:
            raise StoreError(f"the records table of {self.path} cannot be read: {e}") from e
        new = sorted(current - seen_files)
        if not new or not read:
            return set(), current
        col = pl.read_parquet(new, columns=["content_hash"]).get_column("content_hash")
        return set(col.to_list()), current

    # ------------------------------------------------------------------ log
    def _pin(self, as_of: AsOf) -> tuple[int, datetime | None]:
        if as_of is None:
            latest = self.version()
            return (self._follow(latest) if self.follow == "background" else latest), None
        if isinstance(as_of, bool):
            raise StoreError("as_of must be a version number or a time")
        if isinstance(as_of, int):
            current = self.version()
            if as_of < 0 or as_of > current:
                raise StoreError(f"store version {as_of} does not exist (versions 0 to {current})")
            return as_of, None
        if isinstance(as_of, str) and as_of.strip().isdigit():
            return self._pin(int(as_of))
        return self.version(), _to_time(as_of)

    def view_version(self) -> int:
        """The store version plain reads (no ``as_of``) show: :meth:`version`, or with
        ``follow = "background"`` the newest version whose views are ready (see :meth:`newer_version`)."""
        return self._pin(None)[0]

    def newer_version(self) -> int | None:
        """A store version newer than the one shown, whose views are being built (``None``: up to date).

        With ``follow = "background"`` (the dashboard) a new store version does not stop
        the readers: they keep the views they have while one thread builds the new ones,
        then every reader moves on at once.
        """
        served = self.view_version()
        latest = self.version()
        return latest if latest > served else None

    def settle(self, timeout: float | None = None) -> int:
        """Wait until views of the newest store version seen are ready (background follow); returns the version shown."""
        t = self._building
        if t is not None:
            t.join(timeout)
        return self.view_version()

    def _follow(self, latest: int) -> int:
        served = self._served
        if served is None or latest <= served or all((n, latest, None) in self._cache for n in _VIEW_NAMES):
            self._served = latest  # the first read (a warm-up) builds in the caller, once
            return latest
        with self._lock:
            if self._building is None or not self._building.is_alive():
                self._building = threading.Thread(target=self._build_latest, args=(latest,),
                                                  name="remix-views", daemon=True)
                self._building.start()
        return served

    def _build_latest(self, version: int) -> None:
        try:
            with self.heavy:
                self._view("posts", None, (version, None))
        except Exception:  # noqa: BLE001 - the readers keep the version they have; the next read tries again
            return
        if self._served is None or version > self._served:
            self._served = version
            self._evict()
            for hook in list(self.on_shown):
                hook(version)

    def records(self, as_of: AsOf = None, *, columns: list[str] | None = None) -> pl.DataFrame:
        """The raw observation log (every stored row), pinned by ``as_of``.

        As of a time, the log holds the rows of posts created by then and observed by then.
        """
        version, t = self._pin(as_of)
        df = self._read_log(version, columns)
        if t is not None:
            obs = pl.coalesce("fetched_at", "ingested_at") if columns is None or "fetched_at" in columns else None
            if obs is not None:
                df = df.filter(obs <= t, pl.col("created_at") <= t)
        return df

    def _read_log(self, version: int, columns: list[str] | None) -> pl.DataFrame:
        try:
            return read_delta(self.path / "records", version=version, columns=columns)
        except (DeltaError, OSError) as e:
            if version != self.version():
                raise StoreError(
                    f"store version {version} can no longer be read: its files were removed "
                    f"(a redaction rewrites the log and removes older versions; see `archivist redact`). "
                    f"Read version {self.version()} or pin a time with as_of instead") from None
            raise StoreError(f"the records table of {self.path} cannot be read: {e}") from e

    def redacted_ids(self) -> frozenset[str]:
        """Ids named in the redaction ledger: ingest never stores their content again."""
        if not self.has_table("redactions"):
            return frozenset()
        return frozenset(self.read_table("redactions", columns=["id"]).get_column("id").to_list())

    def content_hashes(self) -> set[str]:
        """Every content hash in the log (what "already stored" means for ingest)."""
        return set(self.records(columns=["content_hash"]).get_column("content_hash").to_list())

    # ------------------------------------------------------------------ views
    def _view(self, name: str, as_of: AsOf, pin: tuple[int, datetime | None] | None = None,
              edges: str = "declared") -> pl.DataFrame:
        if edges != "declared":
            return self._view_all(name, as_of, pin, edges)
        version, t = pin if pin is not None else self._pin(as_of)  # reading the version opens the log
        key = (name, version, t)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        disk = self.path / "_views" / f"v{version}" / f"{name}.parquet"
        df = None
        if t is None and disk.exists():
            try:
                df = _mark_sorted(name, pl.read_parquet(disk))
            except (OSError, pl.exceptions.ComputeError):
                df = None  # unreadable cache (a damaged disk): build from the log instead
        if df is None:
            views = self._build_views(version, t)
            if t is None and not self.read_only:
                self._save_views(disk.parent, views)
            views = {vname: _mark_sorted(vname, vdf) for vname, vdf in views.items()}
            with self._lock:
                for vname, vdf in views.items():
                    self._cache[(vname, version, t)] = vdf
            df = views[name]
        with self._lock:
            self._cache[key] = df
        self._evict()
        return df

    def _save_views(self, folder: Path, views: dict[str, pl.DataFrame]) -> None:
        """Keep the views as Parquet for the next reader; a cache, so a full or read-only disk only skips it.

        Each file is written under a temporary name and renamed into place; the temporary
        is removed whatever happens (a killed writer's is swept by the next writer).
        """
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        for vname, vdf in views.items():
            tmp = folder / tempfiles.temp_name(".view-", f".{vname}.tmp")
            try:
                vdf.write_parquet(tmp)
                os.replace(tmp, folder / f"{vname}.parquet")
            except (OSError, pl.exceptions.ComputeError):
                return
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)

    def _evict(self) -> None:
        """Drop cached views of store versions no reader needs: memory holds the views of the newest
        version, the version being shown (see :meth:`newer_version`) and one other pin at most."""
        with self._lock:
            # keys are (name, version, time) and, for edges="all", (name, version, time, mode, inferred version)
            pins = list(dict.fromkeys((k[1], k[2]) for k in reversed(self._cache)))  # most recent first
            plain = [v for v, t in pins if t is None]
            keep = {(max(plain), None)} if plain else set()
            if self._served is not None:
                keep.add((self._served, None))
            others = [p for p in pins if p not in keep]
            if self._served is not None:  # background follow: versions before the one shown are never asked again
                others = [(v, t) for v, t in others if t is not None or v > self._served]
            keep.update(others[:1])
            for k in [k for k in self._cache if (k[1], k[2]) not in keep]:
                del self._cache[k]

    def _build_views(self, version: int, t: datetime | None) -> dict[str, pl.DataFrame]:
        if t is None:
            views = self._grown_views(version)
            if views is not None:
                return views
        latest, observations = _latest_rows(self._read_log(version, _VIEW_COLS), t)
        return _views_of(latest, observations)

    def _grown_views(self, version: int) -> dict[str, pl.DataFrame] | None:
        """The views of ``version`` grown from those of an older version held in memory, or ``None``.

        The log is append-mostly: when ``version`` only added data files since a version whose
        views are cached, only the added rows are read (and, for posts they observe again, those
        posts' older rows); every other post keeps its rows from the older views, not read again
        (the new views are still a copy: putting the rows in id order copies them). Lineage, trees and problems are computed again over every post, so the views are
        the ones a full build gives. Anything else (a redaction or restore rewrote files, no
        older version in memory, a file that cannot be read) returns ``None``: a full build.
        """
        with self._lock:
            older = [k[1] for k in self._cache if len(k) == 3 and k[0] == "posts" and k[2] is None
                     and k[1] < version]
            base = max(older, default=None)
            old = {n: self._cache.get((n, base, None)) for n in _VIEW_NAMES} if base is not None else {}
        if base is None or any(v is None for v in old.values()):
            return None
        try:
            table = str(self.path / "records")
            before = delta_table(table, version=base).file_uris()
            after = delta_table(table, version=version).file_uris()
            if not set(before) <= set(after):
                return None  # files were removed or rewritten (redact, restore): build from the log
            known = set(before)
            added = [f for f in after if f not in known]
            if not added:
                return None
            cast = {c: RECORD_SCHEMA[c] for c in _VIEW_COLS}
            rows = pl.concat([pl.read_parquet(f, columns=_VIEW_COLS).cast(cast).select(_VIEW_COLS)  # type: ignore
                              for f in added])
        except (DeltaError, OSError, pl.exceptions.PolarsError):
            return None
        new_ids = rows.get_column("id").unique()
        old_posts = old["posts"]
        seen = (old_posts.select("id", "n_obs").filter(pl.col("n_obs") > 0, pl.col("id").is_in(new_ids.implode()))
                .get_column("id"))
        if seen.len():  # posts observed again: their older rows decide with the new ones
            try:
                earlier = (scan_delta(table, version=base).select(_VIEW_COLS)
                           .filter(pl.col("id").is_in(seen.implode())).collect())
            except (DeltaError, OSError, pl.exceptions.PolarsError):
                return None
            rows = pl.concat([earlier.cast(cast).select(_VIEW_COLS), rows])  # type: ignore[arg-type]
        latest, observations = _latest_rows(rows, None)
        columns = [c for c in latest.columns if c not in ("parents", "ingested_at")]
        kept = old_posts.select(columns).cast({"n_obs": latest.schema["n_obs"]})
        old_edges, old_obs = old["edges"], old["observations"]
        if seen.len():  # a filter copies every row it keeps: only when posts were observed again
            old_edges = old_edges.filter(~pl.col("child").is_in(seen.implode()))
            old_obs = old_obs.filter(~pl.col("id").is_in(seen.implode()))  # theirs are all in ``observations``
        edges = pl.concat([old_edges, _edges_of(latest)])
        observations = pl.concat([old_obs, observations])
        # left out while gathering (a filter would copy every row): placeholders, made again from lineage,
        # and the older rows of posts observed again
        n_old = kept.height
        keep = (pl.int_range(pl.len()) >= n_old) | ((pl.col("n_obs") > 0) & ~pl.col("id").is_in(seen.implode()))
        return _views_of(pl.concat([kept, latest.select(columns)]), observations, edges=edges, keep=keep)

    def _inferred_rows(self, version: int, t: datetime | None) -> tuple[pl.DataFrame, int]:
        """Inferred links valid for this pin, as edge rows (``evidence == "inferred"``), and the table version.

        A link is dropped where its child now has a declared or C2PA parent (declared links
        always win), where either end does not exist at the pin, or where its parent is no longer
        created strictly earlier than its child (a date corrected since ``archivist infer`` ran).
        """
        iv = self.table_version("inferred_edges")
        schema = {"child": pl.String, "parent": pl.String, "relation": pl.String, "evidence": pl.String,
                  "confidence": pl.Float64, "rank": pl.Int64}
        if iv < 0:
            return pl.DataFrame(schema=schema), iv
        inf = read_delta(self.path / "inferred_edges", columns=["child", "parent", "confidence"])
        when = self._view("posts", None, (version, t)).filter(~pl.col("placeholder")).select("id", "created_at")
        declared = self._view("edges", None, (version, t)).get_column("child")
        inf = (inf.filter(~pl.col("child").is_in(declared.implode()))
               .join(when.rename({"id": "child", "created_at": "_tc"}), on="child", how="inner")
               .join(when.rename({"id": "parent", "created_at": "_tp"}), on="parent", how="inner")
               .filter(pl.col("_tp") < pl.col("_tc")).sort("child"))
        return inf.select("child", "parent", relation=pl.lit("remix"), evidence=pl.lit("inferred"),
                          confidence="confidence", rank=pl.lit(0, dtype=pl.Int64)).cast(schema), iv  # type: ignore

    def _view_all(self, name: str, as_of: AsOf, pin: tuple[int, datetime | None] | None, mode: str) -> pl.DataFrame:
        if mode not in EDGE_MODES:
            raise StoreError(f"edges must be one of {', '.join(EDGE_MODES)}, not {mode!r}")
        if name not in ("edges", "lineage", "problems", "trees"):
            return self._view(name, as_of, pin)
        version, t = pin if pin is not None else self._pin(as_of)
        iv = self.table_version("inferred_edges")
        key = (name, version, t, mode, iv)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        inferred, iv = self._inferred_rows(version, t)
        posts = self._view("posts", None, (version, t))
        edges = pl.concat([self._view("edges", None, (version, t)), inferred]).sort(["child", "rank"])
        lin, problems = compute_lineage(posts.select("id"), edges, created=posts.select("id", "created_at"))
        looped = inferred.join(lin.filter(pl.col("in_cycle")).select(child="id"), on="child", how="semi")
        if looped.height:  # a guess closing a loop with declared links would cut one of them: the guess goes
            edges = edges.join(looped.select("child", "parent", "evidence"), on=["child", "parent", "evidence"],
                               how="anti").sort(["child", "rank"])
            lin, problems = compute_lineage(posts.select("id"), edges, created=posts.select("id", "created_at"))
            problems = pl.concat([problems, looped.select(
                kind=pl.lit("inferred_dropped"), id="child", parent="parent",
                detail=pl.format("the inferred link from {} to {} would close a loop with declared links; "
                                 "dropped (declared links win)", "child", "parent"))]).cast(PROBLEM_SCHEMA)
        lineage = lin.join(posts.select("id", "placeholder", "created_at"), on="id", how="left").sort("id")
        views = {"edges": edges, "lineage": lineage, "problems": problems, "trees": _tree_table(lineage, posts)}
        with self._lock:
            for vname, vdf in views.items():
                self._cache[(vname, version, t, mode, iv)] = _mark_sorted(vname, vdf)
            while len(self._cache) > 24:
                self._cache.popitem(last=False)
            return self._cache[key]

    def posts(self, as_of: AsOf = None) -> pl.DataFrame:
        """Latest content per post id, placeholders (parents not in the archive) included.

        Returns
        -------
        polars.DataFrame
            One row per post: ``id`` (String), ``source`` (String), ``created_at``,
            ``fetched_at``, ``observed_at`` (Datetime[us, UTC]; ``observed_at`` is when
            the store took the latest observation), ``author``, ``title``, ``prompt``,
            ``text`` (String; ``text`` is ``prompt`` else ``title``), ``style_tags``
            (List[String]), ``views``, ``likes``, ``remixes``, ``comments``, ``n_obs``
            (Int64; engagement as last observed, ``n_obs`` observations), ``license``,
            ``content_hash`` (String), ``redacted``, ``placeholder`` (Boolean).
        """
        return self._view("posts", as_of)

    def edges(self, as_of: AsOf = None, *, edges: str = "declared") -> pl.DataFrame:
        """Every lineage edge: ``child, parent, relation, evidence, confidence, rank``.

        ``edges="all"`` adds the links of ``archivist infer`` (``evidence == "inferred"``,
        ``confidence`` in (0, 1]) for posts that have no declared or C2PA parent. An inferred
        link that would close a loop with declared links (a declared parent created after its
        child) is left out, so no declared link is ever cut for a guess; :meth:`problems` lists
        it (kind ``inferred_dropped``).
        """
        return self._view("edges", as_of, edges=edges)

    def lineage(self, as_of: AsOf = None, *, edges: str = "declared") -> pl.DataFrame:
        """Primary parent, root and depth per node: ``id, parent, root, depth, in_cycle, placeholder, created_at``."""
        return self._view("lineage", as_of, edges=edges)

    def problems(self, as_of: AsOf = None, *, edges: str = "declared") -> pl.DataFrame:
        """Self-loops and cycles found in the lineage, and how they were broken.

        Returns
        -------
        polars.DataFrame
            ``kind`` (String: ``self_loop``, ``cycle``, or with ``edges="all"``
            ``inferred_dropped``: an inferred link left out because it closed a loop with
            declared links), ``id`` (String, the child),
            ``parent`` (String, the link dropped or cut), ``detail`` (String, in words).
        """
        return self._view("problems", as_of, edges=edges)

    def trees(self, as_of: AsOf = None, *, edges: str = "declared") -> pl.DataFrame:
        """One row per tree, largest first (then by root id).

        Returns
        -------
        polars.DataFrame
            ``root`` (String), ``size`` (UInt32, posts), ``depth`` (Int64, generations),
            ``breadth`` (UInt32, posts in the widest generation), ``first_at``, ``last_at``
            (Datetime[us, UTC]), ``views`` (Int64, summed), ``root_text`` (String),
            ``root_placeholder`` (Boolean: the root is not in the archive).
            ``edges="all"``: trees joined by inferred links too.
        """
        return self._view("trees", as_of, edges=edges)

    def observations(self, as_of: AsOf = None) -> pl.DataFrame:
        """Engagement time series, one row per post per distinct observation.

        Returns
        -------
        polars.DataFrame
            ``id`` (String), ``observed_at`` (Datetime[us, UTC]), ``views``, ``likes``,
            ``remixes``, ``comments`` (Int64, null where the source did not say).
        """
        return self._view("observations", as_of)

    # ------------------------------------------------------------------ navigation
    def _node(self, post_id: str, as_of: AsOf, pin: tuple[int, datetime | None] | None = None,
              edges: str = "declared") -> dict:
        lin = self._view("lineage", as_of, pin, edges)  # sorted by id: a binary search, not a scan of every node
        i = int(lin.get_column("id").search_sorted(post_id)) if isinstance(post_id, str) else lin.height
        row = lin.slice(i, 1).filter(pl.col("id") == post_id)
        if row.height == 0:
            near = nearest_ids(lin.get_column("id"), post_id)
            raise NotFoundError(f"no post {post_id!r} in the archive at {self.path}"
                                + (f" as of {as_of}" if as_of is not None else "")
                                + (f"; did you mean {', '.join(near)}?" if near else "")
                                + " (`archivist trees` lists the trees)")
        return row.row(0, named=True)

    def root_of(self, post_id: str, as_of: AsOf = None, *, edges: str = "declared") -> str:
        """The root of the tree a post belongs to."""
        return self._node(post_id, as_of, edges=edges)["root"]

    def tree(self, post_id: str, as_of: AsOf = None, *, edges: str = "declared") -> Tree:
        """The whole tree that ``post_id`` belongs to (any node of it may be given).

        With ``edges="all"`` inferred links join trees too; ``Tree.edges`` then has rows with
        ``evidence == "inferred"``.
        """
        mode = edges
        pin = self._pin(as_of)  # one version for every view read here
        root = self._node(post_id, as_of, pin, mode)["root"]
        lin = self._view("lineage", as_of, pin, mode)
        lin = self._tree_rows(lin, root, ("lineage-roots", *pin) if mode == "declared" else None)
        posts = _rows_of(self._view("posts", as_of, pin), "id", lin.get_column("id"))
        edges = _rows_of(self._view("edges", as_of, pin, mode), "child", lin.get_column("id"))
        nodes = lin.drop("placeholder", "created_at").join(posts, on="id", how="left").sort(
            ["depth", "created_at", "id"], nulls_last=True)
        return Tree(root=root, nodes=nodes, edges=edges)

    def _tree_rows(self, lin: pl.DataFrame, root: str, key: tuple | None) -> pl.DataFrame:
        """The lineage rows of the tree ``root``, in ``lin``'s order.

        A binary search in an index of the roots' 64-bit hashes (sorted, with each
        node's row: 12 bytes a node, built once per store version and cached with the
        views under ``key``), so opening a tree costs the tree's size, not a pass over
        every node of the archive; rows whose root only shares the hash are dropped.
        Without ``key`` (inferred links joined in) the view is filtered.
        """
        if key is None or lin.height == 0:
            return lin.filter(pl.col("root") == root)
        with self._lock:
            index = self._cache.get(key)
        if index is None:
            h = lin.get_column("root").hash(seed=0).to_numpy()
            order = np.argsort(h, kind="stable")  # numpy on 64-bit integers: about 10 ms a million nodes
            index = pl.DataFrame({"h": h[order], "row": order.astype(np.uint32)})
            with self._lock:
                self._cache[key] = index
        h = pl.Series([root], dtype=pl.String).hash(seed=0)
        hs = index.get_column("h")
        lo, hi = int(hs.search_sorted(h[0], side="left")), int(hs.search_sorted(h[0], side="right"))
        rows = np.sort(index.get_column("row").slice(lo, hi - lo).to_numpy())
        return lin[rows].filter(pl.col("root") == root)

    def _reachable(self, post_id: str, as_of: AsOf, *, up: bool, depth: int | None = None,
                   edges: str = "declared") -> pl.DataFrame:
        """Posts reachable from ``post_id`` over every edge (all parents), upwards or downwards, the post excluded."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import shortest_path

        self._node(post_id, as_of, edges=edges)
        lin = self.lineage(as_of, edges=edges)
        idx = lin.select("id").with_row_index("i")
        e = (self.edges(as_of, edges=edges).select("child", "parent")
             .join(idx.rename({"id": "child", "i": "ci"}), on="child", how="inner")
             .join(idx.rename({"id": "parent", "i": "pi"}), on="parent", how="inner"))
        src, dst = (e.get_column("ci"), e.get_column("pi")) if up else (e.get_column("pi"), e.get_column("ci"))
        n = idx.height
        graph = coo_matrix((np.ones(e.height), (src.to_numpy(), dst.to_numpy())), shape=(n, n)).tocsr()
        start = int(idx.filter(pl.col("id") == post_id).get_column("i")[0])
        dist = shortest_path(graph, directed=True, unweighted=True, indices=start)
        keep = np.isfinite(dist) & (dist > 0)
        if depth is not None:
            keep &= dist <= depth
        sel = idx.filter(pl.Series(keep)).select("id")
        return sel.join(self.posts(as_of), on="id", how="left").join(
            lin.select("id", "parent", "depth"), on="id").sort(["depth", "id"])

    def ancestors(self, post_id: str, *, as_of: AsOf = None, edges: str = "declared") -> pl.DataFrame:
        """Every post ``post_id`` derives from, over all its parents (a DAG), the post itself excluded.

        A post may have several parents (C2PA components, several declared parents,
        ``inspired`` links): every one of them and every one of theirs is an ancestor,
        as in :func:`networkx.ancestors`. Placeholders (parents named but not in the
        archive) are included.

        Parameters
        ----------
        post_id : str
            A post id (``"<source>:<native id>"``).
        as_of : int, datetime or str, optional
            A store version or a time (see :meth:`posts`).
        edges : {"declared", "all"}
            ``"all"`` follows the links ``archivist infer`` reconstructed too.

        Returns
        -------
        polars.DataFrame
            One row per ancestor, sorted by ``depth`` then ``id`` (roots first): the
            columns of :meth:`posts` plus ``parent`` (String, the primary parent) and
            ``depth`` (Int64, generations below the tree's root). Empty for a root.

        Raises
        ------
        archive.errors.NotFoundError
            ``post_id`` is not in the archive (at ``as_of``).

        Examples
        --------
        >>> import tempfile
        >>> from archive.ingest import ingest_records
        >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
        >>> t = "2026-01-01T00:00:00Z"
        >>> _ = ingest_records(a, [{"id": "t:r", "source": "t", "created_at": t},
        ...                        {"id": "t:x", "source": "t", "created_at": t},
        ...                        {"id": "t:a", "source": "t", "created_at": t, "parents": ["t:r"]},
        ...                        {"id": "t:b", "source": "t", "created_at": t, "parents": ["t:a", "t:x"]}])
        >>> a.ancestors("t:b")["id"].to_list()
        ['t:r', 't:x', 't:a']
        >>> a.lineage_path("t:b")["id"].to_list()
        ['t:r', 't:a', 't:b']

        See Also
        --------
        lineage_path : the primary path from the root to the post (the tree's one line of descent).
        descendants : every post derived from this one.
        """
        return self._reachable(post_id, as_of, up=True, edges=edges)

    def descendants(self, post_id: str, *, depth: int | None = None, as_of: AsOf = None,
                    edges: str = "declared") -> pl.DataFrame:
        """Every post derived from ``post_id`` over all parents (a DAG), the post itself excluded.

        As :func:`networkx.descendants`: a remix that names ``post_id`` as any of its
        parents (not only the primary one) is a descendant, and so are its own.

        Parameters
        ----------
        post_id : str
            A post id.
        depth : int, optional
            At most this many links down (the shortest way over any parents); all when ``None``.
        as_of : int, datetime or str, optional
            A store version or a time (see :meth:`posts`).
        edges : {"declared", "all"}
            ``"all"`` follows the links ``archivist infer`` reconstructed too.

        Returns
        -------
        polars.DataFrame
            One row per descendant, sorted by ``depth`` then ``id``: the columns of
            :meth:`posts` plus ``parent`` (String, the primary parent) and ``depth``
            (Int64, generations below the tree's root). Empty for a leaf.

        Raises
        ------
        archive.errors.NotFoundError
            ``post_id`` is not in the archive (at ``as_of``).

        Examples
        --------
        >>> import tempfile
        >>> from archive.ingest import ingest_records
        >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
        >>> t = "2026-01-01T00:00:00Z"
        >>> _ = ingest_records(a, [{"id": "t:r", "source": "t", "created_at": t},
        ...                        {"id": "t:x", "source": "t", "created_at": t},
        ...                        {"id": "t:a", "source": "t", "created_at": t, "parents": ["t:r"]},
        ...                        {"id": "t:b", "source": "t", "created_at": t, "parents": ["t:a", "t:x"]}])
        >>> a.descendants("t:x")["id"].to_list()
        ['t:b']
        >>> a.descendants("t:r", depth=1)["id"].to_list()
        ['t:a']

        See Also
        --------
        ancestors : every post this one derives from.
        tree : the whole primary tree of a post.
        """
        return self._reachable(post_id, as_of, up=False, depth=depth, edges=edges)

    def lineage_path(self, post_id: str, *, as_of: AsOf = None, edges: str = "declared") -> pl.DataFrame:
        """The primary path from the root of the tree down to ``post_id``, root first, the post last.

        Each post's primary parent (the rule in :mod:`archive.graph`) is followed up to
        the root: one line of descent, what drift and blame are measured along. (Named
        ``lineage_path``, not ``path``, because :attr:`path` is the archive's folder.)

        Parameters
        ----------
        post_id : str
            A post id.
        as_of : int, datetime or str, optional
            A store version or a time (see :meth:`posts`).
        edges : {"declared", "all"}
            ``"all"`` follows the links ``archivist infer`` reconstructed too.

        Returns
        -------
        polars.DataFrame
            One row per post on the path, root first: the columns of :meth:`posts`
            plus ``parent`` (String) and ``depth`` (Int64, 0 for the root).

        Raises
        ------
        archive.errors.NotFoundError
            ``post_id`` is not in the archive (at ``as_of``).

        Examples
        --------
        >>> import tempfile
        >>> from archive.ingest import ingest_records
        >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
        >>> t = "2026-01-01T00:00:00Z"
        >>> _ = ingest_records(a, [{"id": "t:r", "source": "t", "created_at": t},
        ...                        {"id": "t:a", "source": "t", "created_at": t, "parents": ["t:r"]}])
        >>> a.lineage_path("t:a").select("id", "depth").rows()
        [('t:r', 0), ('t:a', 1)]

        See Also
        --------
        ancestors : every ancestor over all parents, not only the primary ones.
        """
        self._node(post_id, as_of, edges=edges)
        lin = self.lineage(as_of, edges=edges)
        parent_of = dict(zip(*lin.filter(pl.col("root") == self.root_of(post_id, as_of, edges=edges))
                             .select("id", "parent").get_columns()))
        path = [post_id]
        while (p := parent_of.get(path[-1])) is not None and len(path) <= len(parent_of):
            path.append(p)
        order = pl.DataFrame({"id": path[::-1], "_k": list(range(len(path)))})
        return order.join(self.posts(as_of), on="id", how="left").join(
            lin.select("id", "parent", "depth"), on="id").sort("_k").drop("_k")

    # ------------------------------------------------------------------ bookkeeping
    def runs(self) -> pl.DataFrame:
        """One row per ingest run: its latest state (running runs that never finished show as interrupted)."""
        r = self.read_table("runs", schema=RUN_SCHEMA)
        if r.height == 0:
            return r
        last = r.sort(["run_id", "at"]).group_by("run_id", maintain_order=True).last()
        return last.with_columns(
            status=pl.when(pl.col("status").is_in(["running", "checkpoint"]))
            .then(pl.lit("interrupted")).otherwise(pl.col("status"))
        ).sort("started_at", descending=True)

    def quarantine(self) -> pl.DataFrame:
        """Every record that broke the schema, with its raw text and every reason."""
        return self.read_table("quarantine", schema=QUARANTINE_SCHEMA)

    def stats(self, as_of: AsOf = None, *, edges: str = "declared") -> dict[str, Any]:
        """Counts a person or a script wants first: ``archive, version, observations, posts, placeholders,
        edges, trees, max_depth, largest_tree, runs, quarantined, cycles, self_loops`` and ``sources``
        (posts per source). With ``edges="all"`` the edges, trees and depths are those of the graph with
        the links of ``archivist infer``, and ``inferred_edges`` counts those links.

        >>> import tempfile
        >>> a = Archive.open(tempfile.mkdtemp() + "/a", create=True)
        >>> s = a.stats(edges="all")
        >>> s["posts"], s["edges"], s["inferred_edges"]
        (0, 0, 0)
        """
        posts = self.posts(as_of)
        trees = self.trees(as_of, edges=edges)
        lin = self.lineage(as_of, edges=edges)
        links = self.edges(as_of, edges=edges)
        problems = self.problems(as_of, edges=edges).get_column("kind")
        out = {
            "archive": str(self.path),
            "version": self._pin(as_of)[0],
            "observations": self.observations(as_of).height,
            "posts": int(posts.filter(~pl.col("placeholder")).height),
            "placeholders": int(posts.get_column("placeholder").sum()),
            "edges": links.height,
            "trees": trees.height,
            "max_depth": int(lin.get_column("depth").max() or 0),
            "largest_tree": int(trees.get_column("size").max() or 0),
            "runs": self.runs().height,
            "quarantined": self.quarantine().height,
            "cycles": int((problems == "cycle").sum()),
            "self_loops": int((problems == "self_loop").sum()),
            "sources": dict(sorted(posts.drop_nulls("source").group_by("source").len().rows())),
        }
        if edges == "all":
            # the links of `archivist infer`: a record's own "inferred" parent is what its source stated (a
            # declared edge row), and infer never gives a parent to a post that states one
            stated = self.edges(as_of).filter(pl.col("evidence") == "inferred").height
            out["inferred_edges"] = int((links.get_column("evidence") == "inferred").sum()) - stated
        return out
