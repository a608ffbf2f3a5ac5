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

import os
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from archive.errors import NotFoundError, StoreError
from archive.graph import compute_lineage
from archive.paths import default_archive_path
from archive.record import parse_time

__all__ = ["Archive", "Tree", "RECORD_SCHEMA", "RUN_SCHEMA", "QUARANTINE_SCHEMA", "AsOf"]

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
    "status": pl.String,  # running | checkpoint | completed | failed
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


_SORTED_BY = {"posts": "id", "lineage": "id", "edges": "child"}  # how _build_views sorts the views


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
            views=pl.col("views").sum(),
            breadth=pl.col("depth").value_counts().struct.field("count").max(),
        )
        .join(posts.select(pl.col("id").alias("root"), pl.col("text").alias("root_text"),
                           pl.col("placeholder").alias("root_placeholder")), on="root", how="left")
        .sort(["size", "root"], descending=[True, False])
    )


class Archive:
    """A graph store on disk. Open it with :meth:`Archive.open`."""

    TABLES = ("records", "runs", "quarantine", "redactions")

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._cache: OrderedDict[tuple, pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, create: bool = False,
             read_only: bool = False) -> "Archive":
        """Open the archive at ``path`` (default ``$REMIX_ARCHIVE`` or ``./remix-archive``).

        With ``create=True`` a missing folder becomes a new empty archive; without it
        a missing archive is a :class:`~archive.errors.StoreError` that says what to run.
        """
        p = Path(path) if path is not None else default_archive_path()
        marker = p / "records" / "_delta_log"
        if not marker.exists():
            if p.exists() and any(p.iterdir()) and not (p / "ARCHIVE").exists():
                raise StoreError(f"{p} exists but is not a remix archive (no records table); "
                                 "choose an empty or new folder")
            if not create:
                raise StoreError(f"no archive at {p}: run `archivist ingest …` or `archivist demo` "
                                 "to make one, or pass --archive PATH")
            if read_only:
                raise StoreError(f"no archive at {p} and it is opened read-only")
            p.mkdir(parents=True, exist_ok=True)
            (p / "ARCHIVE").write_text("remix-archivist store, format 1\n", "utf-8")
            pl.DataFrame(schema=RECORD_SCHEMA).write_delta(p / "records", mode="append")
        return cls(p, read_only=read_only)

    # ------------------------------------------------------------------ tables
    def table_path(self, name: str) -> Path:
        return self.path / name

    def has_table(self, name: str) -> bool:
        return (self.path / name / "_delta_log").exists()

    def table_version(self, name: str = "records") -> int:
        """The current Delta version of a table (``-1`` when it does not exist)."""
        try:
            return DeltaTable(str(self.path / name)).version()
        except TableNotFoundError:
            return -1

    def version(self) -> int:
        """The store version: the version of the ``records`` log."""
        return self.table_version("records")

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
            return pl.read_delta(str(self.path / name), version=version, columns=columns)
        return pl.read_delta(str(self.path / name), columns=columns)

    def append(self, name: str, frame: pl.DataFrame) -> int:
        """Append a frame to a table in one atomic Delta commit; returns the new version."""
        self._writable()
        if frame.height == 0:
            return self.table_version(name)
        frame.write_delta(str(self.path / name), mode="append")
        return self.table_version(name)

    def write_table(self, name: str, frame: pl.DataFrame, *, mode: str = "overwrite") -> int:
        """Write (``overwrite`` or ``append``) a derived or analysis table; returns its version."""
        self._writable()
        opts = {"schema_mode": "overwrite"} if mode == "overwrite" and self.has_table(name) else None
        frame.write_delta(str(self.path / name), mode=mode, delta_write_options=opts)  # type: ignore[arg-type]
        return self.table_version(name)

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the archive at {self.path} is open read-only")

    # ------------------------------------------------------------------ log
    def _pin(self, as_of: AsOf) -> tuple[int, datetime | None]:
        if as_of is None:
            return self.version(), None
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
            return pl.read_delta(str(self.path / "records"), version=version, columns=columns)
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
        if t is None and disk.exists():
            df = _mark_sorted(name, pl.read_parquet(disk))
        else:
            views = self._build_views(version, t)
            if t is None and not self.read_only:
                disk.parent.mkdir(parents=True, exist_ok=True)
                for vname, vdf in views.items():
                    tmp = disk.parent / f".{vname}.{uuid.uuid4().hex}.tmp"
                    vdf.write_parquet(tmp)
                    os.replace(tmp, disk.parent / f"{vname}.parquet")
            views = {vname: _mark_sorted(vname, vdf) for vname, vdf in views.items()}
            with self._lock:
                for vname, vdf in views.items():
                    self._cache[(vname, version, t)] = vdf
            df = views[name]
        with self._lock:
            self._cache[key] = df
            while len(self._cache) > 24:
                self._cache.popitem(last=False)
        return df

    def _build_views(self, version: int, t: datetime | None) -> dict[str, pl.DataFrame]:
        recs = self._read_log(version, _POST_COLS + ["parents", "ingested_at"])
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
        else:
            latest = (
                recs.sort(["id", "observed_at", "ingested_at", "content_hash"])
                .group_by("id", maintain_order=True)
                .agg(pl.all().last(), n_obs=pl.len())
            )
        # declaration order of each parent: explode keeps list order
        edges = (
            latest.select(pl.col("id").alias("child"), "parents")
            .filter(pl.col("parents").list.len() > 0)
            .with_columns(rank=pl.int_ranges(pl.col("parents").list.len()))
            .explode(["parents", "rank"])
            .unnest("parents")
            .rename({"id": "parent"})
            .select("child", "parent", "relation", "evidence", "confidence", pl.col("rank").cast(pl.Int64))
            .sort(["child", "rank"])
        )
        created = latest.select("id", "created_at")
        lin, problems = compute_lineage(latest.select("id"), edges, created=created)
        posts = (
            latest.drop("parents", "ingested_at")
            .join(lin.select("id"), on="id", how="right")
            .with_columns(placeholder=pl.col("source").is_null(),
                          text=pl.when(pl.col("prompt").is_not_null() & (pl.col("prompt") != ""))
                          .then(pl.col("prompt")).otherwise(pl.col("title")).fill_null(""))
            .with_columns(pl.col("n_obs").fill_null(0).cast(pl.Int64), pl.col("redacted").fill_null(False))
            .sort("id")
        )
        lineage = lin.join(posts.select("id", "placeholder", "created_at"), on="id", how="left").sort("id")
        trees = _tree_table(lineage, posts)
        observations = recs.select("id", "observed_at", "views", "likes", "remixes", "comments").unique().sort(
            ["id", "observed_at"])
        return {"posts": posts, "edges": edges, "lineage": lineage, "problems": problems,
                "trees": trees, "observations": observations}

    def _inferred_rows(self, version: int, t: datetime | None) -> tuple[pl.DataFrame, int]:
        """Inferred links valid for this pin, as edge rows (``evidence == "inferred"``), and the table version.

        A link is dropped where its child now has a declared or C2PA parent (declared links
        always win) or where either end does not exist at the pin.
        """
        iv = self.table_version("inferred_edges")
        schema = {"child": pl.String, "parent": pl.String, "relation": pl.String, "evidence": pl.String,
                  "confidence": pl.Float64, "rank": pl.Int64}
        if iv < 0:
            return pl.DataFrame(schema=schema), iv
        inf = pl.read_delta(str(self.path / "inferred_edges"), columns=["child", "parent", "confidence"])
        posts = self._view("posts", None, (version, t)).filter(~pl.col("placeholder")).get_column("id")
        declared = self._view("edges", None, (version, t)).get_column("child")
        inf = inf.filter(pl.col("child").is_in(posts.implode()), pl.col("parent").is_in(posts.implode()),
                         ~pl.col("child").is_in(declared.implode()))
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
        lineage = lin.join(posts.select("id", "placeholder", "created_at"), on="id", how="left").sort("id")
        views = {"edges": edges, "lineage": lineage, "problems": problems, "trees": _tree_table(lineage, posts)}
        with self._lock:
            for vname, vdf in views.items():
                self._cache[(vname, version, t, mode, iv)] = _mark_sorted(vname, vdf)
            while len(self._cache) > 24:
                self._cache.popitem(last=False)
            return self._cache[key]

    def posts(self, as_of: AsOf = None) -> pl.DataFrame:
        """Latest content per post id, placeholders (parents not in the archive) included."""
        return self._view("posts", as_of)

    def edges(self, as_of: AsOf = None, *, edges: str = "declared") -> pl.DataFrame:
        """Every lineage edge: ``child, parent, relation, evidence, confidence, rank``.

        ``edges="all"`` adds the links of ``archivist infer`` (``evidence == "inferred"``,
        ``confidence`` in (0, 1]) for posts that have no declared or C2PA parent.
        """
        return self._view("edges", as_of, edges=edges)

    def lineage(self, as_of: AsOf = None, *, edges: str = "declared") -> pl.DataFrame:
        """Primary parent, root and depth per node: ``id, parent, root, depth, in_cycle, placeholder, created_at``."""
        return self._view("lineage", as_of, edges=edges)

    def problems(self, as_of: AsOf = None, *, edges: str = "declared") -> pl.DataFrame:
        """Self-loops and cycles found in the lineage, and how they were broken."""
        return self._view("problems", as_of, edges=edges)

    def trees(self, as_of: AsOf = None, *, edges: str = "declared") -> pl.DataFrame:
        """One row per tree: ``root, size, depth, breadth, first_at, last_at, views, root_text``, largest first."""
        return self._view("trees", as_of, edges=edges)

    def observations(self, as_of: AsOf = None) -> pl.DataFrame:
        """Engagement time series: ``id, observed_at, views, likes, remixes, comments``."""
        return self._view("observations", as_of)

    # ------------------------------------------------------------------ navigation
    def _node(self, post_id: str, as_of: AsOf, pin: tuple[int, datetime | None] | None = None,
              edges: str = "declared") -> dict:
        lin = self._view("lineage", as_of, pin, edges)  # sorted by id: a binary search, not a scan of every node
        i = int(lin.get_column("id").search_sorted(post_id)) if isinstance(post_id, str) else lin.height
        row = lin.slice(i, 1).filter(pl.col("id") == post_id)
        if row.height == 0:
            raise NotFoundError(f"no post {post_id!r} in the archive at {self.path}"
                                + (f" as of {as_of}" if as_of is not None else ""))
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
        lin = self._view("lineage", as_of, pin, mode).filter(pl.col("root") == root)
        posts = _rows_of(self._view("posts", as_of, pin), "id", lin.get_column("id"))
        edges = _rows_of(self._view("edges", as_of, pin, mode), "child", lin.get_column("id"))
        nodes = lin.drop("placeholder", "created_at").join(posts, on="id", how="left").sort(
            ["depth", "created_at", "id"], nulls_last=True)
        return Tree(root=root, nodes=nodes, edges=edges)

    def ancestors(self, post_id: str, as_of: AsOf = None, *, edges: str = "declared") -> pl.DataFrame:
        """The primary path from the root down to ``post_id`` (root first, the post last)."""
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

    def descendants(self, post_id: str, depth: int | None = None, as_of: AsOf = None, *,
                    edges: str = "declared") -> pl.DataFrame:
        """Every post below ``post_id`` on primary edges, at most ``depth`` generations down."""
        node = self._node(post_id, as_of, edges=edges)
        lin = self.lineage(as_of, edges=edges).filter(pl.col("root") == node["root"], pl.col("depth") > node["depth"])
        children: dict[str, list[str]] = {}
        for c, p in lin.select("id", "parent").iter_rows():
            children.setdefault(p, []).append(c)
        out: list[str] = []
        frontier, gen = [post_id], 0
        while frontier and (depth is None or gen < depth):
            frontier = [c for f in frontier for c in children.get(f, ())]
            out.extend(frontier)
            gen += 1
        sel = pl.DataFrame({"id": out}, schema={"id": pl.String})
        return sel.join(self.posts(as_of), on="id", how="left").join(
            lin.select("id", "parent", "depth"), on="id").sort(["depth", "id"])

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

    def stats(self, as_of: AsOf = None) -> dict[str, Any]:
        """Counts a person or a script wants first."""
        posts = self.posts(as_of)
        trees = self.trees(as_of)
        lin = self.lineage(as_of)
        return {
            "archive": str(self.path),
            "version": self._pin(as_of)[0],
            "observations": self.observations(as_of).height,
            "posts": int(posts.filter(~pl.col("placeholder")).height),
            "placeholders": int(posts.get_column("placeholder").sum()),
            "edges": self.edges(as_of).height,
            "trees": trees.height,
            "max_depth": int(lin.get_column("depth").max() or 0),
            "largest_tree": int(trees.get_column("size").max() or 0),
            "runs": self.runs().height,
            "quarantined": self.quarantine().height,
            "cycles": int((self.problems(as_of).get_column("kind") == "cycle").sum()),
            "self_loops": int((self.problems(as_of).get_column("kind") == "self_loop").sum()),
            "sources": dict(sorted(posts.drop_nulls("source").group_by("source").len().rows())),
        }
