"""``analyze``: every measure over an archive, written as versioned tables in the store.

Two layers:

- :func:`analyze_trees` is pure: it takes the nodes of any number of whole trees
  (a "root bucket") and returns per-tree frames (edge and node drift, blame
  shares, root retention, styles, tree shape). It never needs another tree, so
  the same function runs per root bucket inside Spark (``mapInArrow``).
- :func:`analyze` runs it over the archive, recomputing only trees whose content
  changed since the last analysis (a content hash per root), then the
  whole-archive steps that need every tree and the global time order (style
  bleed labels, the flow matrix, homogenization, the decay fits), and writes
  Delta tables ``analysis_<name>`` (each write is a new table version):

  ``nodes``, ``edges``, ``blame``, ``styles``, ``style_labels``, ``trees``,
  ``flow``, ``homogenisation``, ``fidelity``, ``branching``, ``survival``,
  ``dilemma``, ``decay`` (one row per headline figure) and ``runs`` (one row per
  analysis: store version analyzed, trees recomputed, seconds).

Read them with :func:`load_results`.

Edge sets: ``analyze(archive, edges="all")`` measures the graph with the links of
``archivist infer`` added (declared and C2PA links still win). Its results go to
tables of their own, ``analysis_all_<name>`` (:func:`results_table`), so an
analysis of declared links is never overwritten by one that contains guesses; its
``runs`` rows also name the ``inferred_edges`` table version read, how many inferred
links the graph held and their lowest confidence (:func:`inferred_note` says so in words).

Examples
--------
>>> import tempfile
>>> from archive.ingest import ingest_records
>>> from archive.store import Archive
>>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
>>> recs = [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a cat, claymation"},
...         {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "a dog, claymation",
...          "parents": [{"id": "t:1"}]}]
>>> _ = ingest_records(a, recs, source="t")
>>> analyze(a)["trees_recomputed"]
1
>>> load_results(a, "nodes").select("id", "root_drift").rows()
[('t:1', 0.0), ('t:2', 0.5)]
>>> analyze(a)["up_to_date"]
True
"""
from __future__ import annotations

import hashlib
import math
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archive import tempfiles
from archive.errors import NotFoundError
from archive.store import Archive
from lineage.blame import blame_summary
from lineage.bleed import bleed_rates, flow_matrix, homogenisation, label_new_styles
from lineage.decay import (activity, activity_by_tree, branching_decay, engagement_decay, fidelity_by_depth,
                           fit_fidelity, remixing_dilemma, tree_shape)
from lineage.drift import drift_rate_expr, edge_drift, node_drift, node_tokens, semantic_drift
from lineage.errors import LineageError
from lineage.styles import lexicon_path, load_lexicon, styles_frame
from lineage.text import BOUNDARY, MAX_ALIGN_TOKENS, tokens_series

__all__ = ["ANALYSIS_VERSION", "TABLES", "EDGE_SETS", "analyze", "analyze_trees", "analyze_tree", "load_results",
           "results_table", "inferred_note", "tree_hashes", "drift_where_defined", "root_buckets", "Progress"]

#: Bump when a measure changes: every tree is recomputed on the next analysis.
ANALYSIS_VERSION = 2
TABLES = ("nodes", "edges", "blame", "styles", "style_labels", "trees", "flow", "homogenisation", "fidelity",
          "branching", "survival", "dilemma", "decay", "runs")
_ALIASES = {"node_drift": "nodes", "edge_drift": "edges", "labels": "style_labels", "bleed": "style_labels"}
_PER_TREE = ("nodes", "edges", "blame", "styles", "trees")
_NODE_COLS = ["id", "parent", "root", "depth", "created_at", "placeholder", "tokens", "edge_drift", "root_drift",
              "path_drift", "directness", "root_tokens", "retention", "children"]
_TREE_COLS = ["root", "size", "depth", "breadth", "leaves", "structural_virality", "structural_virality_norm", "sackin",
              "sackin_per_leaf", "colless_like", "colless_like_norm",
              "drift_rate", "mean_edge_drift", "mean_root_drift", "mean_retention", "first_at", "last_at",
              "placeholder_root", "cycle_cut", "activity_half_life_days", "content_hash"]

Progress = Callable[[str, int, int], None]
#: the edge sets an analysis is computed on: "declared" (declared and C2PA links) or "all" (plus inferred ones)
EDGE_SETS = ("declared", "all")


def root_source_excluded(excluded: list[str]) -> pl.Expr:
    """Rows of trees whose root id is ``<source>:…`` for a source in ``excluded``
    (:meth:`archive.store.Archive.excluded_sources`: kept in the archive, left out of the measures).

    >>> pl.DataFrame({"root": ["messy:a", "simulate:b"]}).filter(~root_source_excluded(["messy"]))["root"].to_list()
    ['simulate:b']
    """
    return pl.col("root").str.extract(r"^([^:]*):", 1).is_in(excluded)


def _nodes_frame(archive: Archive, edges: str = "declared") -> pl.DataFrame:
    lin = archive.lineage(edges=edges).select("id", "parent", "root", "depth", "placeholder", "created_at", "in_cycle")
    if excluded := archive.excluded_sources():
        lin = lin.filter(~root_source_excluded(excluded))
    posts = archive.posts().select("id", "text", "style_tags", "views", "fetched_at")
    return lin.join(posts, on="id", how="left")


def drift_where_defined(nd: pl.DataFrame, nodes: pl.DataFrame) -> pl.DataFrame:
    """``nd`` (:func:`lineage.drift.node_drift`) with drift set to null where it has no meaning.

    Undefined is not zero: a drift between two prompts needs both texts. ``edge_drift``
    is null unless the post and its parent have prompt words; ``root_drift``,
    ``path_drift`` and ``directness`` are null unless the post and its anchor (the
    root, or the root's child on its path when the root is a placeholder, as in
    ``node_drift``) have them; ``path_drift`` and ``directness`` also need every edge
    between them to have a drift. ``nodes`` has ``id``, ``text`` or ``tokens`` (a list),
    and optionally ``placeholder``. Rows keep ``nd``'s order.

    >>> from lineage.drift import node_drift
    >>> n = pl.DataFrame({"id": ["r", "a"], "text": ["", "a cat"]})
    >>> lin = pl.DataFrame({"id": ["r", "a"], "parent": [None, "r"], "root": ["r", "r"], "depth": [0, 1]})
    >>> node_drift(n, lin).select("edge_drift", "root_drift").rows()  # an empty prompt counts as all change
    [(None, 0.0), (1.0, 1.0)]
    >>> drift_where_defined(node_drift(n, lin), n).select("edge_drift", "root_drift").rows()
    [(None, None), (None, None)]
    """
    from lineage.paths import ancestor_at_depth, parent_index, path_sums

    toks = nodes.get_column("tokens") if "tokens" in nodes.columns else tokens_series(
        nodes.get_column("text").fill_null(""))
    info = nodes.select("id", _h=toks.list.len() > 0,
                        _ph=pl.col("placeholder").fill_null(False) if "placeholder" in nodes.columns
                        else pl.lit(False))
    lin = (nd.with_row_index("_k").join(info, on="id", how="left")
           .with_columns(pl.col("_h").fill_null(False), pl.col("_ph").fill_null(True))
           .sort(["root", "depth", "id"]))
    par = parent_index(lin)
    dep = lin.get_column("depth").to_numpy()
    root_idx = ancestor_at_depth(par, dep, np.arange(lin.height), np.zeros(lin.height, dtype=np.int64))
    is_ph_root = (lin.get_column("_ph") & (lin.get_column("depth") == 0)).to_numpy()
    anchor = root_idx.copy()
    deep = np.flatnonzero(is_ph_root[root_idx] & (dep >= 1))
    if deep.size:
        anchor[deep] = ancestor_at_depth(par, dep, deep, np.ones(deep.size, dtype=np.int64))
    h = lin.get_column("_h").to_numpy()
    hp = np.where(par >= 0, h[np.maximum(par, 0)], False)
    edge_ok = h & hp
    # a path drift sums the edges below the anchor: one edge without texts leaves it undefined
    gap = np.where((par >= 0) & ~edge_ok & (dep > np.where(anchor != root_idx, 1, 0)), 1.0, 0.0)
    path_ok = path_sums(par, gap) < 0.5
    ok_root = h & h[anchor]
    return (lin.with_columns(
        edge_drift=pl.when(pl.Series(edge_ok)).then(pl.col("edge_drift")).otherwise(None),
        **{c: pl.when(pl.Series(ok_root & (path_ok if c != "root_drift" else True))).then(pl.col(c))
           .otherwise(None) for c in ("root_drift", "path_drift", "directness") if c in nd.columns})
        .sort("_k").select(nd.columns))


def tree_hashes(nodes: pl.DataFrame) -> pl.DataFrame:
    """``root, content_hash``: a hash of everything the per-tree measures read, per tree.

    >>> n = pl.DataFrame({"id": ["a"], "parent": [None], "root": ["a"], "depth": [0], "text": ["x"],
    ...                   "style_tags": [[]], "placeholder": [False]}, schema_overrides={"parent": pl.String})
    >>> tree_hashes(n).columns
    ['root', 'content_hash']
    """
    cols = [c for c in ("id", "parent", "depth", "text", "style_tags", "placeholder") if c in nodes.columns]
    row = pl.struct([pl.col(c) for c in cols]).hash(seed=ANALYSIS_VERSION)
    return (nodes.group_by("root").agg(h=row.bitwise_xor(), n=pl.len())
            .select("root", content_hash=pl.format("{}-{}-{}", pl.col("h"), pl.col("n"), pl.lit(ANALYSIS_VERSION)))
            .sort("root"))


def analyze_trees(nodes: pl.DataFrame, edges: pl.DataFrame | None = None, *, lexicon: pl.DataFrame | None = None,
                  max_tokens: int = MAX_ALIGN_TOKENS, embedder: str | object | None = None) -> dict[str, pl.DataFrame]:
    """Per-tree measures for whole trees: ``{"nodes", "edges", "blame", "styles", "trees"}``.

    ``nodes`` has ``id, parent, root, depth, created_at, text`` and optionally
    ``style_tags, placeholder`` (every node of each tree it touches); ``edges``
    optionally lists more edges (``child, parent, relation``) whose drift is wanted
    besides the primary ones (secondary parents, C2PA components). With ``embedder``
    (a local sentence-transformers model name, or an object with ``encode``) the edges
    get a ``semantic`` drift column too (:func:`lineage.drift.semantic_drift`). Pure: no store.

    >>> from datetime import datetime
    >>> n = pl.DataFrame({"id": ["r", "a"], "parent": [None, "r"], "root": ["r", "r"], "depth": [0, 1],
    ...     "created_at": [datetime(2026, 1, 1), datetime(2026, 1, 2)], "text": ["red fox", "red cat"]})
    >>> out = analyze_trees(n)
    >>> out["nodes"].select("id", "edge_drift", "retention").rows()
    [('r', None, 1.0), ('a', 0.6666666666666667, 0.5)]
    >>> out["trees"].select("root", "size", "drift_rate").rows()
    [('r', 2, 0.6666666666666667)]
    """
    n = nodes
    if "placeholder" not in n.columns:
        n = n.with_columns(placeholder=pl.lit(False))
    if "in_cycle" not in n.columns:
        n = n.with_columns(in_cycle=pl.lit(False))
    if "text" not in n.columns:
        n = n.with_columns(text=pl.lit("", dtype=pl.String))
    n = n.with_columns(pl.col("placeholder").fill_null(False), pl.col("in_cycle").fill_null(False)
                       ).sort(["root", "depth", "id"])
    # one tokenization serves both: style matching keeps the clause breaks, drift and blame drop them
    n = n.with_columns(tokens_series(n.get_column("text"), boundaries=True).alias("style_tokens"))
    n = n.with_columns(tokens=pl.col("style_tokens").list.eval(pl.element().filter(pl.element() != BOUNDARY)))
    prim = n.filter(pl.col("parent").is_not_null()).select(child="id", parent="parent")
    pairs = prim.with_columns(relation=pl.lit("primary"))
    if edges is not None and edges.height:
        extra = (edges.select(pl.col("child").cast(pl.String), pl.col("parent").cast(pl.String),
                              pl.col("relation").cast(pl.String) if "relation" in edges.columns
                              else pl.lit("remix"))
                 .join(prim, on=["child", "parent"], how="anti")
                 .join(n.select(child="id"), on="child", how="semi"))
        pairs = pl.concat([pairs, extra])
    tok = node_tokens(n.select("id", "tokens", "placeholder", "text"))  # token codes computed once, shared below
    # parents of secondary edges may live in other trees: drift needs their text, a blank means "unknown"
    ed = edge_drift(tok, pairs.select("child", "parent"), max_tokens=max_tokens)
    ed = ed.with_columns(relation=pairs.get_column("relation"), primary=pairs.get_column("relation") == "primary")
    ed = ed.join(n.select(child="id", root="root"), on="child", how="left")
    # undefined is not zero: drift between two prompts needs both texts (a source without prompts gives none)
    has = n.select("id", _h=pl.col("tokens").list.len() > 0)
    ed = (ed.join(has.rename({"id": "child"}), on="child", how="left")
          .join(has.rename({"id": "parent", "_h": "_hp"}), on="parent", how="left")
          .with_columns(pl.when(pl.col("_h").fill_null(False) & pl.col("_hp").fill_null(False))
                        .then(pl.col(c)).otherwise(None).alias(c) for c in ("jaccard", "edit", "drift"))
          .drop("_h", "_hp"))
    if embedder is not None:
        sem = semantic_drift(n.select("id", "text"), ed.select("child", "parent"), model=embedder)
        ed = ed.with_columns(semantic=sem.get_column("semantic"))
    nd = node_drift(tok, n.select("id", "parent", "root", "depth"),
                    edges=ed.filter(pl.col("primary")).select("child", "drift"))
    nd = drift_where_defined(nd, n.select("id", "tokens", "placeholder"))
    shares, ret = blame_summary(tok, n.select("id", "parent", "depth"), max_tokens=max_tokens)
    shares = shares.join(n.select("id", "root"), on="id", how="left")
    kids = prim.group_by("parent").agg(children=pl.len().cast(pl.Int64)).rename({"parent": "id"})
    node_out = (n.select("id", "created_at", "placeholder", tokens=pl.col("tokens").list.len().cast(pl.Int64))
                .join(nd, on="id", how="left")
                .join(ret.select("id", "root_tokens", "retention"), on="id", how="left")
                .join(kids, on="id", how="left")
                .with_columns(pl.col("children").fill_null(0))
                .select(_NODE_COLS).sort(["root", "depth", "id"]))
    st = styles_frame(n.select("id", "style_tokens", "text", *(["style_tags"] if "style_tags" in n.columns else [])),
                      lexicon=lexicon)
    st = st.join(n.select("id", "root"), on="id", how="left")
    shape = tree_shape(n.select("id", "parent", "root", "depth"))
    per_tree = (node_out.group_by("root").agg(
        drift_rate=drift_rate_expr(),
        mean_edge_drift=pl.col("edge_drift").mean(),
        mean_root_drift=pl.col("root_drift").filter(pl.col("depth") > 0).mean(),
        mean_retention=pl.col("retention").filter(pl.col("depth") > 0).mean(),
        first_at=pl.col("created_at").min(),
        last_at=pl.col("created_at").max(),
        placeholder_root=pl.col("placeholder").filter(pl.col("depth") == 0).any(),
    )).join(n.group_by("root").agg(cycle_cut=pl.col("in_cycle").any()), on="root", how="left"
            ).join(activity_by_tree(n.select("root", "depth", "created_at")), on="root", how="left")
    trees = (shape.join(per_tree, on="root", how="left").join(tree_hashes(n), on="root", how="left")
             .select(_TREE_COLS).sort("root"))
    return {"nodes": node_out, "edges": ed.sort(["root", "child", "parent"]), "blame": shares, "styles": st,
            "trees": trees}


def analyze_tree(nodes: pl.DataFrame, edges: pl.DataFrame | None = None, **opts: Any) -> dict[str, pl.DataFrame]:
    """:func:`analyze_trees` for one tree (``nodes`` must share one root).

    >>> from datetime import datetime
    >>> n = pl.DataFrame({"id": ["r"], "parent": [None], "root": ["r"], "depth": [0],
    ...                   "created_at": [datetime(2026, 1, 1)], "text": [""]}, schema_overrides={"parent": pl.String})
    >>> analyze_tree(n)["trees"].select("size", "structural_virality").row(0)  # no pair of posts: undefined
    (1, None)
    """
    roots = nodes.get_column("root").unique()
    if roots.len() > 1:
        raise LineageError(f"analyze_tree got {roots.len()} trees; use analyze_trees for a bucket of trees")
    return analyze_trees(nodes, edges, **opts)


#: Root buckets hold about this many nodes on average (whole trees, by root hash), so the memory of the
#: per-tree work stays flat as the archive grows.
BUCKET_NODES = 100_000
_SPILLED = ("nodes", "edges", "blame", "styles")


def root_buckets(sizes: pl.DataFrame, *, buckets: int = 8, max_nodes: int | None = None) -> pl.DataFrame:
    """``root, bucket``: every tree in a root bucket, by a hash of its root.

    ``sizes`` has ``root, n`` (nodes per tree). There are ``buckets`` buckets, or more
    when the archive is large: enough that a bucket holds about ``max_nodes`` nodes
    (default :data:`BUCKET_NODES`) on average, so the memory of one bucket's work stays
    flat as the archive grows. A tree is never split, and a root goes to the same bucket
    whatever else the archive holds (for a given bucket count). Rows are sorted by ``root``.

    >>> s = pl.DataFrame({"root": ["a", "b", "c", "d"], "n": [5, 1, 1, 3]})
    >>> root_buckets(s, buckets=2)["bucket"].is_between(0, 1).all()
    True
    >>> root_buckets(s, buckets=1, max_nodes=4)["bucket"].max() <= 2   # 10 nodes: 3 buckets
    True
    """
    s = sizes.select("root", pl.col("n").cast(pl.Int64)).sort("root")
    total = int(s.get_column("n").sum() or 0)
    nb = max(1, buckets, -(-total // max(1, BUCKET_NODES if max_nodes is None else max_nodes)))
    return s.select("root", bucket=(pl.col("root").hash(seed=7) % nb).cast(pl.Int64))


def _spill(res: dict[str, pl.DataFrame], folder: Path, k: int) -> list[pl.DataFrame]:
    """Write one bucket's per-tree tables (but ``trees``, which is small) to ``folder``; returns ``[trees]``."""
    for t in _SPILLED:
        res[t].write_parquet(folder / f"{t}-{k:06d}.parquet")
    return [res["trees"]]


def _analyze_buckets(nodes: pl.DataFrame, edges: pl.DataFrame, todo: pl.DataFrame, folder: Path, *,
                     lexicon: pl.DataFrame, embedder: str | object | None,
                     progress: Callable[[int], None]) -> list[pl.DataFrame]:
    """:func:`analyze_trees` per root bucket of ``todo`` (``root, bucket``), each bucket's tables spilled to
    ``folder`` as it finishes (:func:`_spill`); returns the ``trees`` frames."""
    trees: list[pl.DataFrame] = []
    done = 0
    progress(0)
    for (b,), roots in sorted(todo.partition_by("bucket", as_dict=True).items()):
        sub = nodes.join(roots.select("root"), on="root", how="semi")
        res = analyze_trees(sub, edges.join(sub.select(child="id"), on="child", how="semi"), lexicon=lexicon,
                            embedder=embedder)
        del sub
        trees += _spill(res, folder, int(b))
        del res
        done += roots.height
        progress(done)
    return trees


def _per_tree_tables(prev: dict[str, pl.DataFrame], trees: list[pl.DataFrame], folder: Path, live: pl.DataFrame,
                     todo: pl.DataFrame) -> dict[str, pl.LazyFrame]:
    """Each per-tree table as a lazy frame: the previous analysis' rows of trees that are still there and were
    not recomputed, then the spilled buckets in bucket order."""
    out: dict[str, pl.LazyFrame] = {}
    for t in _PER_TREE:
        keep: list[pl.LazyFrame] = []
        if prev:
            old = prev[t]
            if t == "nodes":
                old = old.select(_NODE_COLS)
            elif t == "trees":
                old = old.select(_TREE_COLS)
            old = old.join(live, on="root", how="semi").join(todo, on="root", how="anti")
            if old.height:
                keep.append(old.lazy())
        if t == "trees":
            new = [f.lazy() for f in trees if f.height] or [f.lazy() for f in trees[:1]]
        else:
            files = sorted(folder.glob(f"{t}-*.parquet"))
            new = [pl.scan_parquet(f) for f in files]
        frames = keep + new
        out[t] = pl.concat(frames, how="vertical_relaxed") if frames else pl.LazyFrame()
    return out


def _check_edges(edges: str) -> str:
    if edges not in EDGE_SETS:
        raise LineageError(f"edges must be one of {', '.join(EDGE_SETS)}, not {edges!r}")
    return edges


def results_table(name: str, edges: str = "declared") -> str:
    """The store table that holds analysis table ``name`` computed on the edge set ``edges``.

    Declared links: ``analysis_<name>``; all links (inferred ones included):
    ``analysis_all_<name>``, kept apart so a declared analysis is never overwritten
    by one that holds guesses. Raises :class:`~lineage.errors.LineageError` for an
    unknown table or edge set.

    >>> results_table("nodes"), results_table("node_drift", "all")
    ('analysis_nodes', 'analysis_all_nodes')
    """
    name = _ALIASES.get(name, name)
    name = name.removeprefix("analysis_")
    if name not in TABLES:
        raise LineageError(f"no analysis table {name!r}; the tables are {', '.join(TABLES)}")
    return ("analysis_" if _check_edges(edges) == "declared" else "analysis_all_") + name


_table = results_table


def _floor_text(x: float) -> str:
    """``x`` rounded down to two decimals, or to two significant digits when that would be 0."""
    if x >= 0.01 or x <= 0:
        return f"{math.floor(x * 100) / 100:.2f}"
    k = 1 - math.floor(math.log10(x))  # decimals that keep two significant digits
    return f"{math.floor(x * 10 ** k) / 10 ** k:.{k}f}"


def inferred_note(links: int | None, min_confidence: float | None) -> str | None:
    """What a reader of figures built on inferred links is told (``None`` when none were used).

    The confidence is rounded down, so the bound stays true; below 0.01 it keeps two significant
    digits (a bound of "0.00" says nothing: every confidence is above 0).

    >>> inferred_note(12, 0.4567)
    'includes 12 inferred links, confidence >= 0.45'
    >>> inferred_note(3, 0.002265)
    'includes 3 inferred links, confidence >= 0.0022'
    >>> inferred_note(0, None) is None
    True
    """
    if not links:
        return None
    low = "?" if min_confidence is None else _floor_text(min_confidence)
    return f"includes {links:,} inferred link{'s' if links != 1 else ''}, confidence >= {low}"


def load_results(archive: Archive, table: str, *, version: int | None = None,
                 edges: str = "declared") -> pl.DataFrame:
    """An analysis table (``nodes``, ``trees``, ``style_labels``… or ``analysis_nodes``), optionally at a version.

    ``edges="all"`` reads the analysis computed with inferred links (``archivist analyze
    --edges all``). Raises :class:`~lineage.errors.LineageError` when the archive was never
    analyzed on that edge set.

    >>> import tempfile
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> load_results(a, "trees")
    Traceback (most recent call last):
    ...
    lineage.errors.LineageError: the archive at ... has no analysis table 'analysis_trees': run ... first
    """
    name = _table(table, edges)
    if not archive.has_table(name):
        cmd = "archivist analyze" + (" --edges all" if edges == "all" else "")
        raise LineageError(f"the archive at {archive.path} has no analysis table {name!r}: "
                           f"run `{cmd}` first")
    try:
        return archive.read_table(name, version=version)
    except NotFoundError as exc:
        raise LineageError(str(exc)) from None


def _previous(archive: Archive, force: bool, lex_hash: str, edges: str = "declared"
              ) -> tuple[dict[str, pl.DataFrame], pl.DataFrame | None]:
    if force or not all(archive.has_table(_table(t, edges)) for t in _PER_TREE + ("runs",)):
        return {}, None
    runs = archive.read_table(_table("runs", edges))
    if runs.height == 0:
        return {}, None
    last = runs.sort("at").row(-1, named=True)
    if last.get("lexicon") != lex_hash or last.get("analysis_version") != ANALYSIS_VERSION:
        return {}, runs
    return {t: archive.read_table(_table(t, edges)) for t in _PER_TREE}, runs


DECAY_SCHEMA = {"measure": pl.String, "value": pl.Float64, "low": pl.Float64, "high": pl.Float64, "n": pl.Int64,
                "reason": pl.String, "flagged_trees": pl.Int64}


def _decay_rows(flagged: int, **figs: tuple[Any, ...]) -> pl.DataFrame:
    rows = [(k, *(None if v is None else float(v) for v in vals[:3]), vals[3],
             vals[4] if len(vals) > 4 else None, flagged) for k, vals in figs.items()]
    return pl.DataFrame(rows, schema=DECAY_SCHEMA, orient="row")


def _headline(decay: pl.DataFrame) -> dict[str, Any]:
    """The figures `archivist analyze` prints, from the decay table: a figure with a reason is not headlined."""
    rows = {r["measure"]: r for r in decay.iter_rows(named=True)}
    out: dict[str, Any] = {}
    for m in ("generational_half_life", "branching_gamma", "activity_half_life_days", "bleed_rate"):
        r = rows.get(m, {})
        out[m] = None if r.get("reason") else r.get("value")
        if r.get("reason"):
            out[m + "_reason"] = r["reason"]
    out["flagged_trees"] = int(decay.get_column("flagged_trees").max() or 0) if decay.height else 0
    return out


def decay_tables(nd: pl.DataFrame, lin: pl.DataFrame, node_info: pl.DataFrame, labels: pl.DataFrame, *,
                 n_boot: int = 200, seed: int = 0) -> dict[str, pl.DataFrame]:
    """The whole-archive decay tables (``fidelity``, ``branching``, ``survival``, ``dilemma``, ``decay``).

    ``nd`` is the node drift table, ``lin`` the lineage, ``node_info`` has ``id, root,
    depth, created_at, fetched_at, placeholder, views`` (and optionally ``in_cycle``),
    ``labels`` the style labels. Shared by the local and the Spark engine, so both
    write the same summary. The ``decay`` table has one row per figure: ``measure,
    value, low, high, n, reason, flagged_trees``. Undefined is not zero: a figure
    with no meaning on the data is null and ``reason`` says why; a fit that does not
    fit keeps its value and ``reason`` says so (it is not headlined). Goodness of fit
    has its own rows (``fidelity_r2``, ``branching_dispersion``, ``branching_lr_flat``).
    ``flagged_trees`` counts the trees the figures read that hang from a placeholder
    (a root never archived) or had a cycle cut.
    """
    fid = fit_fidelity(nd, n_boot=n_boot, seed=seed)
    branch_table, branch = branching_decay(lin)
    act, surv = activity(node_info.select("id", "root", "depth", "created_at", "fetched_at"))
    eng = engagement_decay(node_info.filter(~pl.col("placeholder")).select("depth", "views"))
    dil, dil_table = remixing_dilemma(nd.select("id", "parent", "edge_drift"))
    remix_labels = labels.filter(pl.col("depth") > 0, pl.col("label") != "inherited")
    bleed_all = (remix_labels.get_column("label") == "bled").mean() if remix_labels.height else None
    flag = pl.col("placeholder").fill_null(False) & (pl.col("depth") == 0)
    if "in_cycle" in node_info.columns:
        flag = flag | pl.col("in_cycle").fill_null(False)
    flagged = node_info.filter(flag).get_column("root").n_unique() if node_info.height else 0
    no_drift = nd.filter(pl.col("root_drift").is_not_null(), pl.col("depth") > 0).height == 0
    nremix = node_info.filter(pl.col("depth") > 0).height
    # why there is no drift: no post, no remix (every post a root: "no prompt text" read as words missing), or
    # remixes without words to compare
    none_why = ("no posts" if node_info.height == 0 else "no remixes: every post is a root" if nremix == 0
                else "no prompt text to measure")
    drift_reason = none_why if no_drift else None
    fid_reason = fid["reason"]
    if fid_reason and no_drift and (nremix == 0 or nd.filter(pl.col("root_drift").is_not_null()).height):
        fid_reason = none_why if nremix == 0 else "no prompt text to measure: no remix has a drift from its root"
    decay = _decay_rows(
        flagged,
        fidelity_F_inf=(fid["F_inf"], None, None, fid["nodes"], fid_reason),
        fidelity_lambda=(fid["lambda"], None, None, fid["nodes"], fid_reason),
        fidelity_r2=(fid["r2"], None, None, fid["depths"], fid_reason if fid["r2"] is None else None),
        generational_half_life=(fid["half_life"], fid["half_life_low"], fid["half_life_high"], fid["nodes"],
                                fid_reason),
        branching_m0=(branch["m0"], None, None, node_info.height, branch["reason"]),
        branching_gamma=(branch["gamma"], None, None, node_info.height, branch["reason"]),
        branching_dispersion=(branch["dispersion"], None, None, branch["generations"],
                              branch["reason"] if branch["dispersion"] is None else None),
        branching_lr_flat=(branch["lr_flat"], None, None, branch["generations"],
                           branch["reason"] if branch["lr_flat"] is None else None),
        activity_half_life_days=(act["half_life_days"], None, None, act["remixes"],
                                 None if act["half_life_days"] is not None else "no remixes with a time"),
        median_tree_lifetime_days=(act["median_lifetime_days"], None, None, act["trees"],
                                   None if act["median_lifetime_days"] is not None
                                   else "survival never falls to one half (too few trees ended)"),
        engagement_slope=(eng["slope"], None, None, eng["n"],
                          None if eng["slope"] is not None else "views at fewer than two depths"),
        engagement_intercept=(eng["intercept"], None, None, eng["n"],
                              None if eng["intercept"] is not None else "views at fewer than two depths"),
        dilemma_pearson=(dil["pearson"], None, None, dil["n"],
                         None if dil["pearson"] is not None else (drift_reason or "too few remixes with a drift")),
        dilemma_spearman=(dil["spearman"], None, None, dil["n"],
                          None if dil["spearman"] is not None else (drift_reason or "too few remixes with a drift")),
        drift_rate=(None if no_drift else nd.select(drift_rate_expr()).item(), None, None, nd.height,
                    drift_reason or (None if nremix else "no remixes")),
        bleed_rate=(bleed_all, None, None, remix_labels.height,
                    None if bleed_all is not None else "no remix adopted a style term"),
    )
    return {"fidelity": fidelity_by_depth(nd), "branching": branch_table, "survival": surv,
            "dilemma": dil_table, "decay": decay}


def _with_facets(labels: pl.DataFrame, styles: pl.DataFrame) -> pl.DataFrame:
    """``labels`` (sorted by ``id, term``) with the ``facet`` of each use from ``styles`` (``id, term, facet``).

    When both hold the same uses (the usual case) the facets are put beside the labels
    in ``id, term`` order, without a hash join on two string columns (millions of rows
    at 1,000,000 posts); otherwise a left join.
    """
    s = styles.sort(["id", "term"])
    if (s.height == labels.height and s.get_column("id").equals(labels.get_column("id"))
            and s.get_column("term").equals(labels.get_column("term"))):
        return labels.with_columns(s.get_column("facet"))
    return labels.join(styles, on=["id", "term"], how="left")


def _whole_archive(archive: Archive, nodes: pl.DataFrame, per_tree: dict[str, pl.LazyFrame], *, window: str,
                   n_boot: int, seed: int, report: Progress, edge_set: str = "declared") -> dict[str, Any]:
    """The steps that need every tree (bleed labels, flow, homogenisation, decay), then every table written.

    The per-tree tables stay lazy (:func:`_per_tree_tables`) and are streamed into their
    Delta tables; only the columns the whole-archive steps read are held in memory.
    """
    report("bleed", 0, 1)
    lin = nodes.select("id", "parent", "root", "depth", "created_at")
    styles = per_tree["styles"].select("id", "term", "facet").collect()
    labels = label_new_styles(styles.select("id", "term"), lin, window=window)
    labels = _with_facets(labels, styles)
    node_bleed = bleed_rates(labels, level="node").select("id", "new_terms", "bled", "bleed_share")
    tree_bleed = bleed_rates(labels, level="tree")
    flow = flow_matrix(labels)
    homog = homogenisation(styles.select("id", "term"), lin, window=window)
    del styles
    tables: dict[str, pl.DataFrame | pl.LazyFrame] = {
        # collected and sorted in memory: the table is written in (root, depth, id) order (a sort streamed
        # into the writer did not always arrive in order)
        "nodes": (per_tree["nodes"].join(node_bleed.lazy(), on="id", how="left").collect()
                  .sort(["root", "depth", "id"])),
        "edges": per_tree["edges"], "blame": per_tree["blame"], "styles": per_tree["styles"],
        "trees": (per_tree["trees"].collect().join(tree_bleed, on="root", how="left")
                  .join(archive.trees(edges=edge_set).select("root", "views", "root_text"), on="root", how="left")
                  .sort(["size", "root"], descending=[True, False])),
        "style_labels": labels, "flow": flow, "homogenisation": homog,
    }
    del node_bleed
    report("decay", 0, 1)
    nd = tables["nodes"].select("id", "parent", "root", "depth", "edge_drift", "root_drift")  # type: ignore[union-attr]
    tables.update(decay_tables(nd, lin, nodes, labels, n_boot=n_boot, seed=seed))
    del nd
    report("writing", 0, len(TABLES))
    versions: dict[str, int] = {}
    for k, t in enumerate(TABLES[:-1]):
        versions[t] = archive.write_table(_table(t, edge_set), tables[t])
        report("writing", k + 1, len(TABLES))
    n_edges = int(per_tree["edges"].select(pl.len()).collect().item())
    return {"versions": versions, "decay": tables["decay"], "edges": n_edges}


def analyze(archive: Archive, *, force: bool = False, progress: Progress | None = None, buckets: int = 8,
            seed: int = 0, n_boot: int = 200, window: str = "30d",
            embedder: str | object | None = None, edges: str = "declared") -> dict[str, Any]:
    """Analyze the archive and write the ``analysis_*`` tables; returns a summary dict.

    Only trees whose content hash changed since the last analysis are recomputed
    (``force=True`` recomputes all); when the store version has not moved since the
    last analysis nothing is written and ``up_to_date`` is True. ``progress(stage,
    done, total)`` is called as work proceeds. ``seed`` and ``n_boot`` drive the
    bootstrap interval of the generational half-life; ``window`` the bleed source
    window and the homogenization windows. ``embedder`` (a local sentence-transformers
    model name or an object with ``encode``) adds semantic drift to the edges; every
    tree is then recomputed. ``edges="all"`` measures the graph with the links of
    ``archivist infer`` added and writes ``analysis_all_*`` tables (:func:`results_table`),
    never the declared ones; it is up to date when neither the store nor the
    ``inferred_edges`` table moved. The summary then has ``inferred_links`` and
    ``min_confidence`` (of the inferred links the graph holds). The visual tables are
    measured on declared links only.

    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> from archive.sources.simulate import SimParams, simulate
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, simulate(SimParams(seed=3, posts=200))[0], source="simulate")
    >>> out = analyze(a, n_boot=10)
    >>> out["trees_recomputed"] == out["trees"] == a.trees().height
    True
    >>> sorted(load_results(a, "decay")["measure"])[:3]
    ['activity_half_life_days', 'bleed_rate', 'branching_dispersion']
    >>> every = analyze(a, n_boot=10, edges="all")  # `archivist infer` never ran: no inferred link to add
    >>> every["edge_set"], every["inferred_links"], a.has_table("analysis_all_trees")
    ('all', 0, True)
    """
    t_start = time.perf_counter()
    edge_set = _check_edges(edges)
    report = progress or (lambda stage, done, total: None)
    version = archive.version()
    inferred_version = archive.table_version("inferred_edges") if edge_set == "all" else None
    lex_hash = hashlib.sha256(lexicon_path().read_bytes()).hexdigest()[:16]
    prev, runs = _previous(archive, force or embedder is not None, lex_hash, edge_set)
    if prev and runs is not None:
        last = runs.sort("at").row(-1, named=True)
        if last["store_version"] == version and last.get("inferred_version") == inferred_version:
            return {"up_to_date": True, "store_version": version, "trees": int(last["trees"]),
                    "trees_recomputed": 0, "seconds": time.perf_counter() - t_start, "edge_set": edge_set,
                    **({"inferred_version": inferred_version, "inferred_links": last.get("inferred_links"),
                        "min_confidence": last.get("min_confidence")} if edge_set == "all" else {})}
    report("reading", 0, 1)
    nodes = _nodes_frame(archive, edge_set)
    all_edges = archive.edges(edges=edge_set)
    edges = all_edges.select("child", "parent", "relation")
    hashes = tree_hashes(nodes)
    if prev:
        old = prev["trees"].select("root", old="content_hash")
        changed = hashes.join(old, on="root", how="left").filter(
            pl.col("old").is_null() | (pl.col("old") != pl.col("content_hash"))).get_column("root")
    else:
        changed = hashes.get_column("root")
    lexicon = load_lexicon()
    todo = root_buckets(nodes.group_by("root").agg(n=pl.len()).join(pl.DataFrame({"root": changed}), on="root",
                                                                    how="semi"), buckets=buckets)
    total = int(changed.len())
    live = hashes.select("root")
    spill = archive.path / tempfiles.temp_name(".analyze-")
    spill.mkdir()
    try:
        # per root bucket: the per-tree tables go to Parquet files as each bucket finishes (memory holds one bucket)
        tree_parts = _analyze_buckets(nodes, edges, todo, spill, lexicon=lexicon, embedder=embedder,
                                      progress=lambda done: report("trees", done, total))
        if not tree_parts and not prev:  # no trees at all: empty tables with their columns
            tree_parts = _spill(analyze_trees(nodes.head(0), edges.head(0), lexicon=lexicon), spill, 0)
        nodes = nodes.drop("text", "style_tags")  # the texts are read: the whole-archive steps do not need them
        per_tree = _per_tree_tables(prev, tree_parts, spill, live, todo.select("root"))
        written = _whole_archive(archive, nodes, per_tree, window=window, n_boot=n_boot, seed=seed, report=report,
                                 edge_set=edge_set)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    versions, decay, n_edges = written["versions"], written["decay"], written["edges"]
    seconds = time.perf_counter() - t_start
    # the inferred links the measured graph holds (primary or not: every edge row with evidence "inferred")
    from archive.export import made_by_infer

    # (made_by_infer: a record's own "inferred" parent is what its source stated, not a link of `archivist infer`)
    inf = (made_by_infer(archive, all_edges).join(nodes.select(child="id"), on="child", how="semi")
           if edge_set == "all" else all_edges.head(0))
    inferred = {"edges": [edge_set], "inferred_version": [inferred_version], "inferred_links": [inf.height],
                "min_confidence": [inf.get_column("confidence").min() if inf.height else None]}
    run = pl.DataFrame({
        "at": [datetime.now(timezone.utc)], "store_version": [version], "trees": [hashes.height],
        "trees_recomputed": [total], "nodes": [nodes.height], "seconds": [seconds], "lexicon": [lex_hash],
        "analysis_version": [ANALYSIS_VERSION], "forced": [force],
        **(inferred if edge_set == "all" else {}),
    }, schema={"at": pl.Datetime("us", "UTC"), "store_version": pl.Int64, "trees": pl.Int64,
               "trees_recomputed": pl.Int64, "nodes": pl.Int64, "seconds": pl.Float64, "lexicon": pl.String,
               "analysis_version": pl.Int64, "forced": pl.Boolean,
               **({"edges": pl.String, "inferred_version": pl.Int64, "inferred_links": pl.Int64,
                   "min_confidence": pl.Float64} if edge_set == "all" else {})})
    versions["runs"] = archive.write_table(_table("runs", edge_set), run, mode="append")
    visual: dict[str, Any] = {}
    if edge_set == "declared":
        from lineage.visual import analyze_visual  # pictures: visual drift per edge and visual decay (media archives)

        visual = analyze_visual(archive, n_boot=n_boot, seed=seed)
    report("writing", len(TABLES), len(TABLES))
    return {
        "up_to_date": False, "store_version": version, "trees": hashes.height, "trees_recomputed": total,
        "nodes": nodes.height, "edges": n_edges, "seconds": seconds, "table_versions": versions,
        **_headline(decay), **visual, "edge_set": edge_set,
        **({"inferred_version": inferred_version, "inferred_links": inf.height,
            "min_confidence": inferred["min_confidence"][0]} if edge_set == "all" else {}),
    }
