"""The dashboard's door to ``lineage``: each measure from the analysis tables, or computed now.

``archivist analyze`` writes the measures as tables (``lineage.analyze``). Archive-wide
measures always come from the latest analysis when there is one, even when an ingest
ran since: the page then says which store version they describe and that a newer one
exists (:func:`stale_notes`), instead of recomputing the whole archive inside a request.
Without any analysis (or with an as-of date) a measure is computed on the spot for one
tree, or for the whole archive when it has at most :data:`ON_THE_FLY_LIMIT` posts (a
budget of about two seconds on two cores). When neither is possible the function
returns ``None`` and the page says so plainly: no made-up numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from archive.errors import ArchiveError
from archive.store import Archive, Tree, scan_delta
from dashboard.data import memo
from lineage.analyze import drift_where_defined, load_results
from lineage.blame import blame_path
from lineage.bleed import bleed_rates, flow_matrix, homogenisation, label_new_styles
from lineage.decay import (TREE_SHAPE_SCHEMA, activity, activity_by_tree, branching_decay, engagement_decay,
                           fidelity_by_depth, fit_fidelity, tree_shape)
from lineage.drift import drift_rate_expr, node_drift, token_diff
from lineage.errors import LineageError
from lineage.stale import analysis_state, tree_content_hash
from lineage.styles import styles_frame
from lineage.text import token_codes, tokens_series

__all__ = ["MISSING", "stale_notes", "ON_THE_FLY_LIMIT", "analysed_version", "fresh_table", "tree_drift", "archive_drift",
           "drift_rates", "diff_words", "blame_words", "archive_styles", "archive_style_labels", "style_labels",
           "archive_flow", "archive_homogenisation", "archive_bleed_rates", "analysed_drift", "DRIFT_COLS", "Decay",
           "archive_decay", "post_style_labels"]

MISSING = ("not computed for this archive yet: run `archivist analyze --archive PATH` and reload "
           "(the archive is too big to compute it while the page loads)")
ON_THE_FLY_LIMIT = 50_000  # posts: above this, whole-archive measures come from `archivist analyze` only


def analysed_version(arc: Archive) -> int | None:
    """The store version the latest ``archivist analyze`` described (``None``: never analyzed)."""
    return analysis_state(arc, version=arc.view_version()).analysed_version


BIG_TABLES = frozenset({"nodes", "styles", "style_labels"})  # a row per post (or per post and term)


def fresh_table(arc: Archive, table: str, *, as_of: str | None = None,
                columns: list[str] | None = None) -> pl.DataFrame | None:
    """An analysis table of the latest analysis, ``None`` with an as-of date or without analysis. It may
    describe an older store version than the one shown: see :func:`stale_notes`.

    Small tables are read once per analysed version and kept. The tables with a row per post
    (:data:`BIG_TABLES`) are read when asked (only ``columns``, when given) and not kept: the pages
    that draw them are kept drawn instead (:mod:`dashboard.pagecache`), and the explorer reads one
    post's rows (:func:`post_style_labels`), so memory does not hold them.
    """
    if as_of is not None:
        return None
    av = analysed_version(arc)
    if av is None:
        return None

    def load() -> pl.DataFrame | None:
        try:
            if columns is not None:
                try:
                    return arc.read_table(f"analysis_{table}", columns=columns)
                except pl.exceptions.ColumnNotFoundError:  # an older analysis: what it has
                    pass
            return load_results(arc, table)
        except (LineageError, ArchiveError):
            return None

    if table in BIG_TABLES:
        return load()
    return memo(("analysis", av, table, *(columns or ())), load)


def _analysed_style_labels(arc: Archive) -> pl.LazyFrame | None:
    """A scan of the latest analysis's ``style_labels`` table, to read with a filter and a few columns
    (``None`` without analysis). Raises what :func:`polars.scan_delta` raises on an unreadable table."""
    if analysed_version(arc) is not None and arc.has_table("analysis_style_labels"):
        return scan_delta(arc.table_path("analysis_style_labels"))
    return None


def _all_style_labels(arc: Archive, post_id: str, as_of: str | None) -> list[dict] | None:
    """:func:`post_style_labels` on the graph with inferred links: from ``archivist analyze --edges all``
    while it describes the store and ``inferred_edges`` as they are, else computed for a small archive
    (memoised per store and ``inferred_edges`` version), else from an older such analysis, else ``None``."""
    stored = as_of is None and arc.has_table("analysis_all_style_labels")

    def analysed() -> list[dict]:
        rows = (scan_delta(arc.table_path("analysis_all_style_labels")).filter(pl.col("id") == post_id)
                .select("id", "term", "label", "source_root").collect())
        return style_labels(rows, post_id) or []

    if stored and analysis_state(arc, version=arc.view_version(), edges="all").current:
        return analysed()
    styles = archive_styles(arc, as_of=as_of) if _small(arc, as_of) else None
    if styles is None:  # too big to label here: an older analysis with inferred links, or none
        return analysed() if stored else None
    v = arc.view_version()
    pin = v if as_of is None else as_of
    labels = memo(("style_labels_all_edges", v, arc.table_version("inferred_edges"), as_of), lambda: label_new_styles(
        styles.select("id", "term"),
        arc.lineage(pin, edges="all").select("id", "parent", "root", "depth", "created_at")))
    return style_labels(labels, post_id)


def post_style_labels(arc: Archive, post_id: str, *, as_of: str | None = None,
                      edges: str = "declared") -> list[dict] | None:
    """The labelled styles of one post (see :func:`style_labels`): read for that post alone from the
    latest analysis; with an as-of date or without analysis, from :func:`archive_style_labels`
    (computed for a small archive, memoised per store version), else ``None``. ``edges="all"``
    labels them on the graph with inferred links (a term its inferred parent has is inherited, not
    bled), from ``archivist analyze --edges all`` or computed the same way."""
    if edges == "all":
        return _all_style_labels(arc, post_id, as_of)
    scan = _analysed_style_labels(arc) if as_of is None else None
    if scan is not None:
        rows = scan.filter(pl.col("id") == post_id).select("id", "term", "label", "source_root").collect()
        return style_labels(rows, post_id)
    v = arc.view_version()
    return style_labels(memo(("style_labels", v, as_of), lambda: archive_style_labels(arc, as_of=as_of)), post_id)


def stale_notes(arc: Archive, *, analysis: bool = True, newer: bool = True) -> list[str]:
    """What a page of archive-wide measures must say about their age (empty when they are current).

    The analysis tables may describe an older store version than the one shown, and a
    newer store version may be loading in the background (:meth:`Archive.newer_version`).
    """
    out: list[str] = []
    shown = arc.view_version()
    state = analysis_state(arc, version=shown) if analysis else None
    if state is not None and state.analysed_version not in (None, shown):
        out.append(state.note() or "")
    newer = arc.newer_version() if newer else None
    if newer is not None:
        out.append(f"Store version {newer} has arrived and is being loaded; this page shows version {shown} "
                   "until it is ready (reload in a moment).")
    return out


def _small(arc: Archive, as_of: str | None) -> bool:
    return arc.posts(as_of).height <= ON_THE_FLY_LIMIT


DRIFT_COLS = ["id", "root", "edge_drift", "root_drift", "path_drift", "directness"]
_NODE_COLS = ["id", "parent", "root", "depth", "edge_drift", "root_drift", "path_drift", "directness"]


def analysed_drift(arc: Archive) -> pl.DataFrame | None:
    """The drift columns of the ``nodes`` analysis table, with each tree's stored ``content_hash``."""
    nodes = fresh_table(arc, "nodes", columns=DRIFT_COLS)
    trees = fresh_table(arc, "trees")
    if nodes is None or trees is None:
        return None
    # sorted by root (stable: each tree's rows keep their order), so a tree is found by binary search
    return (nodes.select(DRIFT_COLS).join(trees.select("root", "content_hash"), on="root", how="left")
            .sort("root", maintain_order=True))


def tree_drift(tree: Tree, analysed: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per node of one tree: ``id, edge_drift, root_drift, path_drift, directness``.

    ``analysed`` is :func:`analysed_drift`: this tree's rows are taken from it when the
    tree's content hash is the stored one (:func:`lineage.stale.tree_content_hash`, the
    rule ``archivist drift`` and the report use); else the tree is measured now (one tree
    is always small enough).
    """
    cols = DRIFT_COLS[:1] + DRIFT_COLS[2:]
    if analysed is not None:
        roots = analysed.get_column("root")
        if roots.flags["SORTED_ASC"] and not roots.null_count():  # analysed_drift's order: binary search
            lo = int(roots.search_sorted(tree.root, side="left"))
            got = analysed.slice(lo, int(roots.search_sorted(tree.root, side="right")) - lo)
        else:
            got = analysed.filter(pl.col("root") == tree.root)
        if got.height and got.get_column("content_hash")[0] == tree_content_hash(tree.nodes):
            return got.select(cols)
    # tokenised once for both steps (and no emphasis weights: lexical drift does not read them)
    tok = tokens_series(tree.nodes.get_column("text")).fill_null([])
    n = pl.DataFrame({"id": tree.nodes.get_column("id").cast(pl.String), "tokens": tok, "codes": token_codes(tok),
                      "placeholder": tree.nodes.get_column("placeholder").fill_null(False)})
    return drift_where_defined(node_drift(n, tree.nodes.select("id", "parent", "root", "depth")), n).select(cols)


def archive_drift(arc: Archive, *, as_of: str | None = None) -> pl.DataFrame | None:
    """Node drift of every post (``id, parent, root, depth, edge_drift, root_drift, …``)."""
    stored = fresh_table(arc, "nodes", as_of=as_of, columns=_NODE_COLS)
    if stored is not None:
        return stored
    if not _small(arc, as_of):
        return None
    v = arc.view_version()
    pin = v if as_of is None else as_of

    def measure() -> pl.DataFrame:
        posts = arc.posts(pin).select("id", "text", "placeholder")
        return drift_where_defined(node_drift(posts, arc.lineage(pin).select("id", "parent", "root", "depth")), posts)

    return memo(("drift", v, as_of), measure)


def drift_rates(nd: pl.DataFrame) -> pl.DataFrame:
    """Per tree: ``root, drift_rate`` (least-squares slope of root drift on generation)."""
    return nd.group_by("root").agg(drift_rate=drift_rate_expr()).sort("root")


def diff_words(a: str | None, b: str | None) -> list[tuple]:
    """Word diff from ``a`` to ``b``: ``[(op, word, old_weight, new_weight)]``, op ``equal``, ``added``,
    ``removed`` or ``reweighted`` (emphasis weight changed)."""
    return token_diff(a or "", b or "", weights=True)


def blame_words(path: pl.DataFrame) -> list[dict]:
    """Blame of the last post of ``path`` (``id, depth, text``, root first):
    ``[{word, generation, node, reintroduced}]``, ``generation`` = the introducing post's depth."""
    ids = path.get_column("id").to_list()
    b = blame_path(list(zip(ids, path.get_column("text").to_list())))
    depth = dict(zip(ids, path.get_column("depth").to_list()))
    return [{"word": r["token"], "node": r["introduced_by"], "weight": r["weight"],
             "generation": depth.get(r["introduced_by"], r["generation"]), "reintroduced": bool(r["reintroduced"])}
            for r in b.sort("position").iter_rows(named=True)]


def archive_styles(arc: Archive, *, as_of: str | None = None) -> pl.DataFrame | None:
    """Style terms of every post: ``id, term, facet, source``."""
    stored = fresh_table(arc, "styles", as_of=as_of)
    if stored is not None:
        return stored
    if not _small(arc, as_of):
        return None
    v = arc.view_version()
    pin = v if as_of is None else as_of
    return memo(("styles", v, as_of), lambda: styles_frame(arc.posts(pin).select("id", "text", "style_tags")))


def archive_style_labels(arc: Archive, *, as_of: str | None = None) -> pl.DataFrame | None:
    """Every style term of every post with its label (``inherited, reused, bled, novel``) and source tree."""
    stored = fresh_table(arc, "style_labels", as_of=as_of)
    if stored is not None:
        return stored
    styles = archive_styles(arc, as_of=as_of)
    if styles is None:
        return None
    v = arc.view_version()
    pin = v if as_of is None else as_of
    return memo(("style_labels_all", v, as_of), lambda: label_new_styles(
        styles.select("id", "term"), arc.lineage(pin).select("id", "parent", "root", "depth", "created_at")))


REMIX_LABEL_COLS = ["root", "depth", "created_at", "label"]


def remix_style_labels(arc: Archive, *, as_of: str | None = None) -> pl.DataFrame | None:
    """The labelled style terms of remixes (``depth > 0``), only ``root, depth, created_at, label``: what the
    bleed page counts and draws. From the latest analysis, read with that filter and those columns
    (a few tens of MB at 300,000 posts instead of the whole table and its copies); else from
    :func:`archive_style_labels`."""
    remix = pl.col("depth") > 0
    if as_of is None:
        try:
            scan = _analysed_style_labels(arc)
            if scan is not None:
                return scan.filter(remix).select(REMIX_LABEL_COLS).collect()
        except (pl.exceptions.PolarsError, OSError, ArchiveError):
            pass  # an older analysis or an unreadable table: the whole table, as the other pages read it
    labels = archive_style_labels(arc, as_of=as_of)
    return None if labels is None else labels.filter(remix).select(REMIX_LABEL_COLS)


def style_labels(labels: pl.DataFrame | None, post_id: str) -> list[dict] | None:
    """The labelled styles of one post (``None`` when labels are not available)."""
    if labels is None:
        return None
    rows = labels.filter(pl.col("id") == post_id).sort("term")
    return [{"style": r["term"], "label": r["label"], "source_root": r.get("source_root")}
            for r in rows.iter_rows(named=True)]


def archive_flow(arc: Archive, labels: pl.DataFrame) -> pl.DataFrame:
    """The flow matrix: ``from_root, to_root, adoptions``."""
    stored = fresh_table(arc, "flow")
    return stored if stored is not None else flow_matrix(labels)


def archive_homogenisation(arc: Archive, styles: pl.DataFrame) -> pl.DataFrame:
    """Style diversity and similarity per 30-day window."""
    stored = fresh_table(arc, "homogenisation")
    return stored if stored is not None else homogenisation(styles.select("id", "term"), arc.lineage())


def archive_bleed_rates(labels: pl.DataFrame) -> pl.DataFrame:
    """Per tree: ``root, new_terms, bled, novel, reused, bleed_rate``."""
    return bleed_rates(labels)


@dataclass(frozen=True)
class Decay:
    """Everything the decay page draws."""

    fidelity: pl.DataFrame  # depth, nodes, fidelity, sd
    fit: dict[str, Any]  # F_inf, lambda, half_life, half_life_low, half_life_high
    branching: pl.DataFrame  # generation, nodes, children, m
    branching_fit: dict[str, Any]  # m0, gamma
    activity: dict[str, Any]  # half_life_days, median_lifetime_days
    survival: pl.DataFrame  # time, at_risk, events, censored, survival
    engagement: dict[str, Any]  # slope
    shapes: pl.DataFrame  # lineage.decay.TREE_SHAPE_SCHEMA


def archive_decay(arc: Archive, *, seed: int = 0) -> Decay | None:
    """The decay measures: from fresh analysis tables, else computed now for a small archive."""
    head = fresh_table(arc, "decay")
    if head is not None:
        v = {m: (val, lo, hi) for m, val, lo, hi in head.select("measure", "value", "low", "high").iter_rows()}

        why = (dict(head.select("measure", "reason").iter_rows()) if "reason" in head.columns else {})

        def get(m: str, k: int = 0) -> Any:
            return v.get(m, (None, None, None))[k]

        trees = load_results(arc, "trees")
        return Decay(
            fidelity=load_results(arc, "fidelity"),
            fit={"F_inf": get("fidelity_F_inf"), "lambda": get("fidelity_lambda"),
                 "reason": why.get("generational_half_life"), "r2": get("fidelity_r2"),
                 "half_life": get("generational_half_life"), "half_life_low": get("generational_half_life", 1),
                 "half_life_high": get("generational_half_life", 2)},
            branching=load_results(arc, "branching"),
            branching_fit={"m0": get("branching_m0"), "gamma": get("branching_gamma"),
                           "reason": why.get("branching_gamma"), "dispersion": get("branching_dispersion")},
            activity={"half_life_days": get("activity_half_life_days"),
                      "median_lifetime_days": get("median_tree_lifetime_days"),
                      "per_tree_median_days": (trees.get_column("activity_half_life_days").median()
                                               if "activity_half_life_days" in trees.columns else None)},
            survival=load_results(arc, "survival"),
            engagement={"slope": get("engagement_slope")},
            shapes=trees.select([c for c in TREE_SHAPE_SCHEMA if c in trees.columns]))  # older analyses lack some
    nd = archive_drift(arc)
    if nd is None:
        return None
    lin = arc.lineage()
    nodes = lin.join(arc.posts().select("id", "fetched_at", "views"), on="id", how="left")
    btab, bfit = branching_decay(lin)
    act, km = activity(nodes)
    act["per_tree_median_days"] = activity_by_tree(lin.select("root", "depth", "created_at")).get_column(
        "activity_half_life_days").median()
    return Decay(fidelity=fidelity_by_depth(nd), fit=fit_fidelity(nd, n_boot=200, seed=seed), branching=btab,
                 branching_fit=bfit, activity=act, survival=km, engagement=engagement_decay(nodes),
                 shapes=tree_shape(lin.select("id", "parent", "root", "depth")))
