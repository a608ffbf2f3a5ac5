"""The dashboard's door to ``lineage``: each measure, or ``None`` when it is not available.

The pages call these and say so plainly when a measure is missing (an archive
not analysed yet, or an older install), instead of showing made-up numbers.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

import polars as pl

from archive.store import Archive

__all__ = ["lineage_fn", "tree_drift", "token_diff", "blame_words", "load_table", "MISSING"]

MISSING = "not computed yet: run `archivist analyze --archive …` (or `archivist demo`) and reload"


def lineage_fn(module: str, name: str) -> Callable[..., Any] | None:
    """``lineage.<module>.<name>`` if it exists, else ``None``."""
    try:
        mod = importlib.import_module(f"lineage.{module}")
    except ImportError:
        return None
    return getattr(mod, name, None)


def tree_drift(nodes: pl.DataFrame) -> pl.DataFrame | None:
    """Per node of one tree (``Tree.nodes``): ``id, parent, root, depth, edge_drift, root_drift, path_drift,
    directness``."""
    f = lineage_fn("drift", "node_drift")
    if f is None:
        return None
    return f(nodes.select("id", "text", "placeholder"), nodes.select("id", "parent", "root", "depth"))


def archive_drift(arc: Archive, *, as_of: str | None = None, max_posts: int = 300_000) -> pl.DataFrame | None:
    """Node drift of every post: the ``node_drift`` analysis table, else computed now for a small archive."""
    stored = load_table(arc, "node_drift") if as_of is None else None
    if stored is not None:
        return stored
    f = lineage_fn("drift", "node_drift")
    posts = arc.posts(as_of)
    if f is None or posts.height > max_posts:
        return None
    return f(posts.select("id", "text", "placeholder"), arc.lineage(as_of).select("id", "parent", "root", "depth"))


def drift_rates(nd: pl.DataFrame) -> pl.DataFrame:
    """Per tree: ``root, drift_rate`` (slope of root drift on generation)."""
    f = lineage_fn("drift", "drift_rate_expr")
    if f is None:
        return pl.DataFrame(schema={"root": pl.String, "drift_rate": pl.Float64})
    return nd.group_by("root").agg(drift_rate=f()).sort("root")


def token_diff(a: str, b: str) -> list[tuple[str, str]] | None:
    """Word diff from ``a`` to ``b``: ``[(op, word)]``."""
    f = lineage_fn("drift", "token_diff")
    return None if f is None else [tuple(x) for x in f(a or "", b or "")]


def blame_words(path: pl.DataFrame) -> list[dict] | None:
    """Blame of the last node of ``path`` (``id, depth, text``, root first):
    ``[{word, generation, node, reintroduced}]`` with ``generation`` the introducing node's depth."""
    f = lineage_fn("blame", "blame_path")
    if f is None:
        return None
    ids = path.get_column("id").to_list()
    b = f(list(zip(ids, path.get_column("text").to_list())))
    depth = dict(zip(ids, path.get_column("depth").to_list()))
    return [{"word": r["token"], "node": r["introduced_by"], "generation": depth.get(r["introduced_by"],
                                                                                     r["generation"]),
             "reintroduced": bool(r["reintroduced"])}
            for r in b.sort("position").iter_rows(named=True)]


def archive_styles(arc: Archive, *, as_of: str | None = None, max_posts: int = 300_000) -> pl.DataFrame | None:
    """Style terms of every post (``id, term, facet, source``): the ``styles`` table, else computed now."""
    stored = load_table(arc, "styles") if as_of is None else None
    if stored is not None:
        return stored
    f = lineage_fn("styles", "styles_frame")
    posts = arc.posts(as_of)
    if f is None or posts.height > max_posts:
        return None
    return f(posts.select("id", "text", "style_tags"))


def archive_style_labels(arc: Archive, *, as_of: str | None = None, max_posts: int = 300_000
                         ) -> pl.DataFrame | None:
    """Every style term of every post with its label: the ``style_labels`` table, else computed now."""
    stored = load_table(arc, "style_labels") if as_of is None else None
    if stored is not None:
        return stored
    f = lineage_fn("bleed", "label_new_styles")
    styles = archive_styles(arc, as_of=as_of, max_posts=max_posts)
    if f is None or styles is None:
        return None
    return f(styles.select("id", "term"), arc.lineage(as_of).select("id", "parent", "root", "depth", "created_at"))


def style_labels(arc: Archive, post_id: str, *, as_of: str | None = None) -> list[dict] | None:
    """Styles of a post with their label (``inherited``, ``reused``, ``bled``, ``novel``) and, when bled,
    the tree it came from; ``None`` when the measure is not available."""
    labels = archive_style_labels(arc, as_of=as_of)
    if labels is None:
        return None
    rows = labels.filter(pl.col("id") == post_id).sort("term")
    return [{"style": r["term"], "label": r["label"], "source_root": r.get("source_root")}
            for r in rows.iter_rows(named=True)]


def load_table(arc: Archive, table: str) -> pl.DataFrame | None:
    """An analysis table written by ``archivist analyze`` (``None`` when absent)."""
    f = lineage_fn("analyze", "load_results")
    if f is None:
        return None
    try:
        return f(arc, table)
    except Exception:  # noqa: BLE001 - an absent or older table reads as "not computed"
        return None
