"""Gathering a drift report: everything it shows for one tree or the whole archive (:class:`ReportData`)."""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from archive.store import Archive
from lineage.errors import LineageError
from lineage.layout import tree_layout
from lineage.report._text import _num, _pct, _phrases, _short

__all__ = ["ReportData", "report_data"]

_TOP = 10
_LEAVES = 5


@dataclass
class ReportData:
    """Everything a drift report shows (frames are ready to print; ``missing`` says what is not there)."""

    scope: str
    root: str | None
    title: str
    facts: dict[str, Any]
    sentences: list[str]
    nodes: pl.DataFrame
    mutations: pl.DataFrame
    blame: pl.DataFrame
    styles: pl.DataFrame
    fidelity: pl.DataFrame
    decay: dict[str, Any]
    trees: pl.DataFrame
    missing: list[str] = field(default_factory=list)
    generated_at: datetime | None = None
    pictures: list[dict[str, Any]] = field(default_factory=list)  # thumbnails as data URIs (lineage.visual)
    edges: str = "declared"  # the edge set the report is built on: "declared" or "all" (inferred links too)
    inferred: str | None = None  # "includes N inferred links, confidence >= X" when it is built on any
    inferred_label: str = "lineage partly inferred"  # "lineage inferred" when every link is inferred


def _with_inferred(mutations: pl.DataFrame, inferred: pl.DataFrame | None) -> pl.DataFrame:
    """``mutations`` with ``inferred_confidence`` (Float64): the confidence of the link when ``archivist infer``
    made it (``inferred``: its edge rows), null for a stated link, so no guess reads as a fact."""
    if inferred is None or not inferred.height:
        return mutations.with_columns(inferred_confidence=pl.lit(None, dtype=pl.Float64))
    return mutations.join(inferred.select("child", "parent", inferred_confidence="confidence"),
                          on=["child", "parent"], how="left", maintain_order="left")


def inferred_label(inferred: int, links: int) -> str:
    """How a report's title names its lineage when ``inferred`` of its ``links`` came from ``archivist infer``.

    >>> inferred_label(3, 5), inferred_label(5, 5)
    ('lineage partly inferred', 'lineage inferred')
    """
    return "lineage inferred" if links and inferred >= links else "lineage partly inferred"


def _inferred_banner(d: ReportData) -> str | None:
    """The sentence a report built on inferred links opens with (``None`` when it holds none)."""
    if not d.inferred:
        return None
    return (f"{d.inferred_label.capitalize()}: this report {d.inferred}, reconstructed by archivist infer from the "
            "content (not declared by the source)" + ("; inferred links are drawn dashed." if d.scope == "tree" else
                                                       "; its measures count them as remix links."))



def _style_changes(archive: Archive, styles: pl.DataFrame, nodes: pl.DataFrame, root: str,
                   missing: list[str], edges: str = "declared") -> pl.DataFrame:
    """Terms new at a node (not on its parent), with their bleed label when the archive was analyzed."""
    schema = {"id": pl.String, "depth": pl.Int64, "term": pl.String, "facet": pl.String, "label": pl.String,
              "source_root": pl.String}
    if styles.height == 0:
        return pl.DataFrame(schema=schema)
    terms = styles.select("id", "term", "facet").unique()
    par = nodes.select("id", "parent", "depth")
    withp = terms.join(par, on="id", how="left")
    parent_terms = terms.select(pl.col("id").alias("parent"), "term")
    new = withp.join(parent_terms, on=["parent", "term"], how="anti").filter(pl.col("parent").is_not_null())
    labels = None
    from lineage.analyze import load_results

    with contextlib.suppress(LineageError):
        lab = load_results(archive, "style_labels", edges=edges)
        labels = lab.filter(pl.col("root") == root).select("id", "term", "label", "source_root").unique(["id", "term"])
    if labels is None:
        missing.append("bleed labels (bled / novel / reused): they need the whole archive's time order; "
                       "run `archivist analyze" + (" --edges all" if edges == "all" else "") + "` first")
        new = new.with_columns(label=pl.lit(None, pl.String), source_root=pl.lit(None, pl.String))
    else:
        new = new.join(labels, on=["id", "term"], how="left")
    return new.select(list(schema)).sort(["depth", "id", "term"])


def _stored_measures(archive: Archive, root: str, nodes: pl.DataFrame,
                     edges: str = "declared") -> dict[str, pl.DataFrame] | None:
    """The tree's measures from ``archivist analyze`` when they are of the tree as it is now, else None."""
    from lineage.analyze import load_results
    from lineage.stale import analysis_state

    names = ("nodes", "edges", "blame", "styles")
    if not analysis_state(archive, root=root, edges=edges).tree_current:
        return None
    try:
        out = {n: load_results(archive, n, edges=edges).filter(pl.col("root") == root) for n in names + ("trees",)}
    except LineageError:
        return None
    return out


def _tree_data(archive: Archive, post_id: str, *, as_of: Any, top: int, seed: int,
               edges: str = "declared") -> ReportData:
    from lineage.analyze import analyze_tree
    from lineage.stale import MEASURE_COLS as _MEASURE_COLS
    from lineage.decay import activity, branching_decay, fidelity_by_depth, fit_fidelity

    from archive.export import made_by_infer
    from lineage.analyze import inferred_note

    tree = archive.tree(post_id, as_of=as_of, edges=edges)
    nodes = tree.nodes
    missing: list[str] = []
    out = _stored_measures(archive, tree.root, nodes, edges) if as_of is None else None
    if out is None:  # not analyzed, analyzed before the tree changed, or an as-of view: measure it now
        out = analyze_tree(nodes.select(_MEASURE_COLS), tree.edges)
    # how each post's primary parent is known: declared, c2pa or inferred (with its confidence)
    how = (tree.edges.sort(["child", "rank"] if "rank" in tree.edges.columns else ["child"])
           .unique(["child", "parent"], keep="first", maintain_order=True)
           .select(id="child", parent="parent", parent_evidence="evidence", parent_confidence="confidence"))
    nd = (out["nodes"].join(nodes.select("id", "text", "author", "views", "redacted"), on="id", how="left")
          .join(how, on=["id", "parent"], how="left")
          .join(tree_layout(nodes), on="id", how="left").sort(["depth", "created_at", "id"], nulls_last=True))
    text_of = nodes.select("id", "text", "depth")
    mutations = (out["edges"].filter(pl.col("primary")).drop_nulls("drift")
                 .join(text_of.rename({"id": "parent", "text": "parent_text", "depth": "_pd"}), on="parent", how="left")
                 .join(text_of.rename({"id": "child", "text": "child_text"}), on="child", how="left")
                 .sort(["drift", "depth", "child"], descending=[True, False, False]).head(top)
                 .select("child", "parent", "depth", "drift", "edit", "added", "removed", "replaced",
                         "parent_text", "child_text"))
    mutations = _with_inferred(mutations, made_by_infer(archive, tree.edges, as_of) if edges == "all" else None)
    leaves = (nd.filter(pl.col("children") == 0, pl.col("depth") > 0, ~pl.col("placeholder"))
              .sort(["depth", "views", "id"], descending=[True, True, False], nulls_last=True).head(_LEAVES))
    blame = (out["blame"].join(leaves.select("id"), on="id", how="semi")
             .join(text_of.rename({"id": "ancestor", "text": "ancestor_text", "depth": "ancestor_depth"}),
                   on="ancestor", how="left")
             .join(leaves.select("id", pl.col("text").alias("leaf_text"), pl.col("depth").alias("leaf_depth"),
                                 "retention"), on="id", how="left")
             .sort(["leaf_depth", "id", "generation"], descending=[True, False, False]))
    styles = _style_changes(archive, out["styles"], nodes, tree.root, missing, edges)
    fidelity = fidelity_by_depth(out["nodes"])
    decay: dict[str, Any] = {}
    if out["nodes"].filter(pl.col("depth") > 0).get_column("root_drift").drop_nulls().len() == 0 \
            and nodes.height > 1:
        missing.append("prompt drift and the fidelity curve: no prompt text to measure (null, not 0)")
    elif out["nodes"].get_column("root_drift").drop_nulls().len() >= 3 and fidelity.height >= 3:
        decay["fidelity"] = fit_fidelity(out["nodes"], n_boot=100, seed=seed)
        if decay["fidelity"].get("reason"):
            missing.append(f"the generational half-life: {decay['fidelity']['reason']}")
    else:
        missing.append("the fidelity curve: fewer than three generations with measured drift")
    lin = nodes.select("id", "parent", "root", "depth")
    decay["branching"] = branching_decay(lin)[1]
    if decay["branching"].get("reason") and nodes.height > 1:
        missing.append(f"the branching fit m0·γ^g: {decay['branching']['reason']}")
    if out["trees"].row(0, named=True).get("placeholder_root"):
        missing.append(f"the source post {tree.root} is not in the archive (never archived or deleted): its children "
                       "are kept as one tree under it, and the figures are computed without it")
    cuts = archive.problems(as_of, edges=edges).filter(pl.col("kind") == "cycle").join(nodes.select("id"), on="id", how="semi")
    for detail in cuts.get_column("detail").to_list():
        missing.append(f"a cycle in the declared links was cut: {detail}")
    decay["activity"] = activity(nodes.select("id", "root", "depth", "created_at", "fetched_at"))[0]
    t = out["trees"].row(0, named=True)
    real = nodes.filter(~pl.col("placeholder"))
    root_row = nodes.filter(pl.col("id") == tree.root).row(0, named=True)
    facts = {"root": tree.root, "root_text": root_row["text"], "posts": real.height,
             "placeholders": nodes.height - real.height, "generations": int(t["depth"]), "breadth": t["breadth"],
             "leaves": t["leaves"], "first_at": t["first_at"], "last_at": t["last_at"],
             "drift_rate": t["drift_rate"], "mean_edge_drift": t["mean_edge_drift"],
             "mean_root_drift": t["mean_root_drift"], "mean_retention": t["mean_retention"],
             "structural_virality": t["structural_virality"], "redacted": int(nodes.get_column("redacted")
                                                                             .fill_null(False).sum())}
    # the links of `archivist infer` (a record's own "inferred" parent is what its source stated)
    inf = made_by_infer(archive, tree.edges, as_of)
    note = inferred_note(inf.height, inf.get_column("confidence").min()) if edges == "all" else None
    label = inferred_label(inf.height, tree.edges.height)
    title = f"How “{_short(root_row['text'], 70) or tree.root}” mutated" + (f" ({label})" if note else "")
    data = ReportData(scope="tree", root=tree.root, title=title, facts=facts, sentences=[], nodes=nd,
                      mutations=mutations, blame=blame, styles=styles, fidelity=fidelity, decay=decay,
                      trees=out["trees"], missing=missing, edges=edges, inferred=note, inferred_label=label)
    data.sentences = _tree_sentences(data)
    from lineage.visual import tree_pictures

    data.pictures = tree_pictures(archive, nodes.select("id", "parent", "depth"))
    return data


def _tree_sentences(d: ReportData) -> list[str]:
    f = d.facts
    s = [b] if (b := _inferred_banner(d)) else []
    if f["generations"]:
        s += [f"The tree of {f['root']} holds {f['posts']:,} posts over {f['generations']} generation"
              f"{'s' if f['generations'] != 1 else ''} of remixes, from {str(f['first_at'])[:10]} to "
              f"{str(f['last_at'])[:10]}; its widest generation has {f['breadth']:,} post{'s' if f['breadth'] != 1 else ''}."]
    else:
        s += [f"The tree of {f['root']} is the one post, from {str(f['first_at'])[:10]}: nothing remixes it yet."]
    if f["mean_root_drift"] is not None:
        kept = 1 - f["mean_root_drift"]
        s.append(f"On average a remix shares {'only ' if kept < 0.5 else ''}{_pct(kept)} of its words with the root prompt "
                 f"(mean root drift {_num(f['mean_root_drift'])}), and each remix step changes "
                 f"{_pct(f['mean_edge_drift'])} of the words (mean edge drift).")
    if f["drift_rate"] is not None:
        s.append(f"Drift grows by {_num(f['drift_rate'], 3)} per generation (least-squares slope of root drift on depth).")
    if f["mean_retention"] is not None:
        s.append(f"A typical post keeps {_pct(f['mean_retention'])} of the root's words (root retention).")
    if d.mutations.height:
        m = d.mutations.row(0, named=True)
        change = "; ".join(_phrases(m))
        s.append(f"The largest single mutation is {m['child']} (generation {m['depth']}), which changed "
                 f"{_pct(m['drift'])} of its parent's words: {change or 'a rewrite'}.")
    fit = d.decay.get("fidelity")
    if fit and fit.get("half_life") is not None and math.isfinite(fit["half_life"]) and not fit.get("reason"):
        ci = ""
        if fit.get("half_life_low") is not None and fit.get("half_life_high") is not None:
            ci = f" (95% interval {_num(fit['half_life_low'], 1)} to {_num(fit['half_life_high'], 1)})"
        s.append(f"Fidelity to the root halves every {_num(fit['half_life'], 1)} generations{ci}, "
                 f"levelling off at {_pct(fit.get('F_inf'))} of the root's words.")
    br = d.decay.get("branching") or {}
    if br.get("gamma") is not None and br.get("m0") is not None and not br.get("reason"):
        s.append(f"Each post in the first generation drew {_num(br['m0'], 1)} remixes on average, and every "
                 f"generation after drew {_pct(br['gamma'])} as many as the one before.")
    act = d.decay.get("activity") or {}
    if act.get("half_life_days") is not None:
        s.append(f"Half of the remixes came within {_num(act['half_life_days'], 1)} days of the root.")
    if d.styles.height:
        labelled = d.styles.drop_nulls("label")
        if labelled.height:
            bled = labelled.filter(pl.col("label") == "bled").height
            s.append(f"{d.styles.height} style terms entered the tree after the root; {bled} of them "
                     f"({_pct(bled / labelled.height)}) were borrowed from other trees (style bleed).")
        else:
            s.append(f"{d.styles.height} style terms entered the tree after the root.")
    if f["redacted"]:
        s.append(f"{f['redacted']} post(s) were redacted: their place in the tree is kept, their words are not.")
    return s


def _archive_data(archive: Archive, *, as_of: Any, top: int, edges: str = "declared") -> ReportData:
    from archive.export import made_by_infer
    from lineage.analyze import inferred_note, load_results

    missing: list[str] = []
    trees = archive.trees(as_of, edges=edges)
    stats = archive.stats(as_of)
    if edges == "all":  # the tree counts of the graph with inferred links
        stats |= {"trees": trees.height, "largest_tree": int(trees.get_column("size").max() or 0),
                  "max_depth": int(archive.lineage(as_of, edges=edges).get_column("depth").max() or 0)}
    tables: dict[str, pl.DataFrame] = {}
    for name in ("trees", "edges", "fidelity", "decay"):
        try:
            tables[name] = load_results(archive, name, edges=edges)
        except LineageError:
            pass
    note, label, stale = None, inferred_label(0, 0), None
    if edges == "all":  # the trees and counts below are of the graph with inferred links, analysed or not
        every = archive.edges(as_of, edges="all")
        inf = made_by_infer(archive, every, as_of)
        note = inferred_note(inf.height, inf.get_column("confidence").min())
        label = inferred_label(inf.height, every.height)
    if not tables:
        cmd = "archivist analyze" + (" --edges all" if edges == "all" else "")
        missing.append(f"every drift, bleed and decay figure: the archive was never analysed"
                       f"{' with inferred links' if edges == 'all' else ''}; "
                       f"run `{cmd}`, or name a tree (`archivist report ROOT`)")
    else:
        from lineage.stale import analysis_state

        state = analysis_state(archive, edges=edges)
        if not state.current:  # the figures are shown, and said to be of an older store version
            stale = state.note()
            missing.append("up-to-date drift, bleed and decay figures" + (f". {stale}" if stale else ""))
    posts = archive.posts(as_of).select("id", "text")
    mutations = pl.DataFrame()
    if "edges" in tables:
        lin = archive.lineage(as_of, edges=edges).select("id", "depth")
        mutations = (tables["edges"].filter(pl.col("primary")).drop_nulls("drift")
                     .join(lin.rename({"id": "child"}), on="child", how="left")
                     .join(posts.rename({"id": "parent", "text": "parent_text"}), on="parent", how="left")
                     .join(posts.rename({"id": "child", "text": "child_text"}), on="child", how="left")
                     .sort(["drift", "child"], descending=[True, False]).head(top)
                     .select("child", "parent", "depth", "drift", "edit", "added", "removed", "replaced",
                             "parent_text", "child_text"))
        if edges == "all":
            mutations = _with_inferred(mutations, made_by_infer(archive, every, as_of))
    # the trees as they are (or were, --as-of), with the stored analysis's measures where it has the tree: rows
    # from the analysis alone left out a tree a redaction or a later ingest made, kept a tree's size from
    # before, and beside them each tree's inferred links (read now) did not add up
    tr = trees.select("root", "size", "depth", "root_text")
    measured = tables.get("trees")
    if measured is not None:
        keep = [c for c in ("drift_rate", "mean_root_drift", "mean_retention", "bleed_rate") if c in measured.columns]
        tr = (tr.join(measured.select("root", *keep), on="root", how="left", maintain_order="left")
              .select("root", "size", "depth", *keep, "root_text"))
    tr = tr.sort(["size", "root"], descending=[True, False])
    if edges == "all":  # each tree's own inferred links (the archive's note named the whole archive's, on every row)
        roots = archive.lineage(as_of, edges="all").select(child="id", root="root")
        per = (inf.select("child", "confidence").join(roots, on="child", how="inner")
               .group_by("root").agg(inferred_links=pl.len(), min_inferred_confidence=pl.col("confidence").min()))
        tr = (tr.join(per, on="root", how="left", maintain_order="left")
              .with_columns(pl.col("inferred_links").fill_null(0).cast(pl.Int64)))
    decay: dict[str, Any] = {}
    if "decay" in tables:
        decay["figures"] = {r["measure"]: r for r in tables["decay"].iter_rows(named=True)}
    facts = {"posts": stats["posts"], "trees": stats["trees"], "placeholders": stats["placeholders"],
             "generations": stats["max_depth"], "largest_tree": stats["largest_tree"]}
    title = "How ideas mutated across the archive" + (f" ({label})" if note else "")
    d = ReportData(scope="archive", root=None, title=title, facts=facts,
                   sentences=[], nodes=pl.DataFrame(), mutations=mutations, blame=pl.DataFrame(),
                   styles=pl.DataFrame(), fidelity=tables.get("fidelity", pl.DataFrame()), decay=decay, trees=tr,
                   missing=missing, edges=edges, inferred=note, inferred_label=label)
    s = [b] if (b := _inferred_banner(d)) else []
    s += [f"The archive holds {facts['posts']:,} post{'s' if facts['posts'] != 1 else ''} in {facts['trees']:,} remix "
         f"tree{'s' if facts['trees'] != 1 else ''}; the largest has {facts['largest_tree']:,} "
         f"post{'s' if facts['largest_tree'] != 1 else ''} and the deepest chain runs {facts['generations']} generation"
         f"{'s' if facts['generations'] != 1 else ''}."]
    if stale:  # the figures below are an older analysis's: say so before them, not only at the end
        s.append(stale)
    figs = decay.get("figures", {})

    def fig(name: str) -> float | None:
        """A headline figure: none when it is undefined or its fit does not fit (the reason goes to ``missing``)."""
        r = figs.get(name, {})
        return None if r.get("reason") else r.get("value")

    for name in ("generational_half_life", "drift_rate", "bleed_rate", "branching_gamma"):
        if figs.get(name, {}).get("reason"):
            missing.append(f"{name.replace('_', ' ')}: {figs[name]['reason']}")
    flagged = max((r.get("flagged_trees") or 0 for r in figs.values()), default=0)
    if flagged:
        missing.append(f"{flagged} tree(s) hang from a source post that is not in the archive or had a cycle in "
                       "their declared links cut; the figures include them")

    if fig("generational_half_life") is not None:
        s.append(f"Across trees, fidelity to the root halves every {_num(fig('generational_half_life'), 1)} generations.")
    if fig("drift_rate") is not None:
        s.append(f"Prompts drift from their roots by {_num(fig('drift_rate'), 3)} per generation on average.")
    if fig("bleed_rate") is not None:
        s.append(f"{_pct(fig('bleed_rate'))} of the style terms that entered a tree were borrowed from another tree.")
    if fig("branching_gamma") is not None:
        s.append(f"Each generation draws {_pct(fig('branching_gamma'))} as many remixes as the one before.")
    d.sentences = s
    return d


def report_data(archive: Archive, root: str | None = None, *, as_of: Any = None, top: int = _TOP,
                seed: int = 0, edges: str = "declared") -> ReportData:
    """Gather a drift report: for the tree of ``root`` (any node of it), or the whole archive when None.

    A tree's measures are computed on the spot from its posts (no analysis needed,
    except bleed labels, which need the whole archive's ``archivist analyze``); the
    archive report reads the stored analysis tables. ``edges="all"`` builds it on the
    graph with inferred links (``archivist infer``; the archive report reads the analysis
    of ``archivist analyze --edges all``): its title, first sentence and ``inferred`` say
    so ("includes N inferred links, confidence >= X"), and node rows carry
    ``parent_evidence`` and ``parent_confidence``.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "x"}])
    >>> report_data(a).missing[0][:40]
    'every drift, bleed and decay figure: the'
    """
    if edges not in ("declared", "all"):
        raise LineageError(f"edges must be one of declared, all, not {edges!r}")
    d = (_archive_data(archive, as_of=as_of, top=top, edges=edges) if root is None
         else _tree_data(archive, root, as_of=as_of, top=top, seed=seed, edges=edges))
    if edges == "all" and archive.table_version("inferred_edges") < 0:  # asked for a guess there is none of
        d.missing.insert(0, "inferred links: `archivist infer` never ran on this archive, so this report "
                            "holds the declared links only (run it first)")
    elif edges == "all" and as_of is None:
        from lineage.infer import inferred_gap

        gap = inferred_gap(archive)
        if gap is not None:
            d.missing.insert(0, f"inferred links of every post: {gap}")
    return d
