"""The critic's drift report: how an idea mutated down its remix tree, in words and figures.

:func:`report_data` gathers everything for one tree (or the whole archive):
the tree with drift per node, the largest mutations with their word-level
diffs, the blame of the deepest leaves (which ancestor wrote which share of
their words), style changes and bleed, and the decay figures, plus plain
sentences a critic can quote. Renderers turn it into Markdown, one
self-contained HTML file (interactive figures, plotly.js inlined, works
offline), PDF (figures drawn by kaleido, the page printed by the system
Chromium) or CSV (one row per node, spreadsheet-safe).

What could not be measured is listed in ``missing`` and said plainly in the
report; nothing is made up. Prompts are always escaped: shown as text, never
run as HTML or Markdown.

Examples
--------
>>> import tempfile
>>> from archive.ingest import ingest_records
>>> from archive.store import Archive
>>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
>>> _ = ingest_records(a, [
...     {"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a corgi surfing, claymation"},
...     {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "a cat surfing, film noir",
...      "parents": ["t:1"]}])
>>> data = report_data(a, "t:2")
>>> data.root, data.facts["posts"], data.mutations.get_column("drift").round(2).to_list()
('t:1', 2, [0.71])
>>> "surfing" in to_markdown(data)
True
"""
from __future__ import annotations

import base64
import html
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archive.export import to_csv as _csv_bytes
from archive.snapshot import register_report_hook
from archive.store import Archive
from lineage.bidi import bdi_html, show_bidi
from lineage.errors import LineageError

__all__ = ["FORMATS", "ReportData", "report_data", "tree_layout", "to_markdown", "to_html", "to_pdf", "to_csv",
           "render", "write_report", "snapshot_report"]

FORMATS = ("html", "pdf", "md", "csv")
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


# ---------------------------------------------------------------------- gathering
def tree_layout(nodes: pl.DataFrame) -> pl.DataFrame:
    """``id, x, y, order`` for drawing a tree: leaves side by side in depth-first order, parents centred above.

    ``order`` is the depth-first (pre-order) position, for outlines.

    No recursion: any depth works.

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["r", "a", "b"], "parent": [None, "r", "r"], "depth": [0, 1, 1]})
    >>> tree_layout(n).rows()
    [('r', 0.5, 0, 0), ('a', 0.0, -1, 1), ('b', 1.0, -1, 2)]
    """
    ids = nodes.get_column("id").to_list()
    parents = nodes.get_column("parent").to_list()
    known = set(ids)
    children: dict[str, list[str]] = {}
    roots = []
    for i, p in zip(ids, parents):
        if p is None or p not in known:
            roots.append(i)
        else:
            children.setdefault(p, []).append(i)
    x: dict[str, float] = {}
    order: list[str] = []
    stack = list(reversed(roots))
    leaf = 0
    while stack:
        v = stack.pop()
        order.append(v)
        kids = children.get(v)
        if kids:
            stack.extend(reversed(kids))
        else:
            x[v] = float(leaf)
            leaf += 1
    for v in reversed(order):
        if v not in x:
            xs = [x[c] for c in children[v]]
            x[v] = (min(xs) + max(xs)) / 2
    depth = dict(zip(ids, nodes.get_column("depth").to_list()))
    pre = {v: k for k, v in enumerate(order)}
    return pl.DataFrame({"id": ids, "x": [x[i] for i in ids], "y": [-(depth[i] or 0) for i in ids],
                         "order": [pre[i] for i in ids]},
                        schema={"id": pl.String, "x": pl.Float64, "y": pl.Int64, "order": pl.Int64})


def _pct(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.0f}%"


def _num(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _short(text: str | None, n: int = 90) -> str:
    s = " ".join((text or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _style_changes(archive: Archive, styles: pl.DataFrame, nodes: pl.DataFrame, root: str,
                   missing: list[str]) -> pl.DataFrame:
    """Terms new at a node (not on its parent), with their bleed label when the archive was analysed."""
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
    if archive.has_table("analysis_style_labels"):
        lab = archive.read_table("analysis_style_labels")
        labels = lab.filter(pl.col("root") == root).select("id", "term", "label", "source_root").unique(["id", "term"])
    if labels is None:
        missing.append("bleed labels (bled / novel / reused): they need the whole archive's time order; "
                       "run `archivist analyze` first")
        new = new.with_columns(label=pl.lit(None, pl.String), source_root=pl.lit(None, pl.String))
    else:
        new = new.join(labels, on=["id", "term"], how="left")
    return new.select(list(schema)).sort(["depth", "id", "term"])


_MEASURE_COLS = ["id", "parent", "root", "depth", "created_at", "text", "style_tags", "placeholder"]


def _stored_measures(archive: Archive, root: str, nodes: pl.DataFrame) -> dict[str, pl.DataFrame] | None:
    """The tree's measures from ``archivist analyze`` when they are of the tree as it is now, else None."""
    from lineage.analyze import tree_hashes

    names = ("nodes", "edges", "blame", "styles", "trees")
    if not all(archive.has_table(f"analysis_{n}") for n in names):
        return None
    stored = archive.read_table("analysis_trees").filter(pl.col("root") == root)
    if stored.height != 1 or "content_hash" not in stored.columns:
        return None
    if tree_hashes(nodes.select(_MEASURE_COLS)).get_column("content_hash")[0] != stored.get_column("content_hash")[0]:
        return None
    out = {n: archive.read_table(f"analysis_{n}").filter(pl.col("root") == root) for n in names[:-1]}
    out["trees"] = stored
    return out


def _tree_data(archive: Archive, post_id: str, *, as_of: Any, top: int, seed: int) -> ReportData:
    from lineage.analyze import analyze_tree
    from lineage.decay import activity, branching_decay, fidelity_by_depth, fit_fidelity

    tree = archive.tree(post_id, as_of=as_of)
    nodes = tree.nodes
    missing: list[str] = []
    out = _stored_measures(archive, tree.root, nodes) if as_of is None else None
    if out is None:  # not analysed, analysed before the tree changed, or an as-of view: measure it now
        out = analyze_tree(nodes.select(_MEASURE_COLS), tree.edges)
    nd = (out["nodes"].join(nodes.select("id", "text", "author", "views", "redacted"), on="id", how="left")
          .join(tree_layout(nodes), on="id", how="left").sort(["depth", "created_at", "id"], nulls_last=True))
    text_of = nodes.select("id", "text", "depth")
    mutations = (out["edges"].filter(pl.col("primary")).drop_nulls("drift")
                 .join(text_of.rename({"id": "parent", "text": "parent_text", "depth": "_pd"}), on="parent", how="left")
                 .join(text_of.rename({"id": "child", "text": "child_text"}), on="child", how="left")
                 .sort(["drift", "depth", "child"], descending=[True, False, False]).head(top)
                 .select("child", "parent", "depth", "drift", "edit", "added", "removed", "replaced",
                         "parent_text", "child_text"))
    leaves = (nd.filter(pl.col("children") == 0, pl.col("depth") > 0, ~pl.col("placeholder"))
              .sort(["depth", "views", "id"], descending=[True, True, False], nulls_last=True).head(_LEAVES))
    blame = (out["blame"].join(leaves.select("id"), on="id", how="semi")
             .join(text_of.rename({"id": "ancestor", "text": "ancestor_text", "depth": "ancestor_depth"}),
                   on="ancestor", how="left")
             .join(leaves.select("id", pl.col("text").alias("leaf_text"), pl.col("depth").alias("leaf_depth"),
                                 "retention"), on="id", how="left")
             .sort(["leaf_depth", "id", "generation"], descending=[True, False, False]))
    styles = _style_changes(archive, out["styles"], nodes, tree.root, missing)
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
    cuts = archive.problems(as_of).filter(pl.col("kind") == "cycle").join(nodes.select("id"), on="id", how="semi")
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
    title = f"How “{_short(root_row['text'], 70) or tree.root}” mutated"
    data = ReportData(scope="tree", root=tree.root, title=title, facts=facts, sentences=[], nodes=nd,
                      mutations=mutations, blame=blame, styles=styles, fidelity=fidelity, decay=decay,
                      trees=out["trees"], missing=missing)
    data.sentences = _tree_sentences(data)
    from lineage.visual import tree_pictures

    data.pictures = tree_pictures(archive, nodes.select("id", "parent", "depth"))
    return data


def _tree_sentences(d: ReportData) -> list[str]:
    f = d.facts
    s = [f"The tree of {f['root']} holds {f['posts']} posts over {f['generations']} generations of remixes, "
         f"from {str(f['first_at'])[:10]} to {str(f['last_at'])[:10]}; its widest generation has {f['breadth']} posts."]
    if f["mean_root_drift"] is not None:
        s.append(f"On average a remix shares only {_pct(1 - f['mean_root_drift'])} of its words with the root prompt "
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


def _archive_data(archive: Archive, *, as_of: Any, top: int) -> ReportData:
    from lineage.analyze import load_results

    missing: list[str] = []
    trees = archive.trees(as_of)
    stats = archive.stats(as_of)
    tables: dict[str, pl.DataFrame] = {}
    for name in ("trees", "edges", "fidelity", "decay"):
        try:
            tables[name] = load_results(archive, name)
        except LineageError:
            pass
    if not tables:
        missing.append("every drift, bleed and decay figure: the archive was never analysed; "
                       "run `archivist analyze`, or name a tree (`archivist report ROOT`)")
    posts = archive.posts(as_of).select("id", "text")
    mutations = pl.DataFrame()
    if "edges" in tables:
        lin = archive.lineage(as_of).select("id", "depth")
        mutations = (tables["edges"].filter(pl.col("primary")).drop_nulls("drift")
                     .join(lin.rename({"id": "child"}), on="child", how="left")
                     .join(posts.rename({"id": "parent", "text": "parent_text"}), on="parent", how="left")
                     .join(posts.rename({"id": "child", "text": "child_text"}), on="child", how="left")
                     .sort(["drift", "child"], descending=[True, False]).head(top)
                     .select("child", "parent", "depth", "drift", "edit", "added", "removed", "replaced",
                             "parent_text", "child_text"))
    tr = tables.get("trees")
    if tr is not None:
        keep = [c for c in ("root", "size", "depth", "drift_rate", "mean_root_drift", "mean_retention",
                            "bleed_rate", "root_text") if c in tr.columns]
        tr = tr.select(keep).sort(["size", "root"], descending=[True, False])
    else:
        tr = trees.select("root", "size", "depth", "root_text")
    decay: dict[str, Any] = {}
    if "decay" in tables:
        decay["figures"] = {r["measure"]: r for r in tables["decay"].iter_rows(named=True)}
    facts = {"posts": stats["posts"], "trees": stats["trees"], "placeholders": stats["placeholders"],
             "generations": stats["max_depth"], "largest_tree": stats["largest_tree"]}
    d = ReportData(scope="archive", root=None, title="How ideas mutated across the archive", facts=facts,
                   sentences=[], nodes=pl.DataFrame(), mutations=mutations, blame=pl.DataFrame(),
                   styles=pl.DataFrame(), fidelity=tables.get("fidelity", pl.DataFrame()), decay=decay, trees=tr,
                   missing=missing)
    s = [f"The archive holds {facts['posts']} posts in {facts['trees']} remix trees; the largest has "
         f"{facts['largest_tree']} posts and the deepest chain runs {facts['generations']} generations."]
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
                seed: int = 0) -> ReportData:
    """Gather a drift report: for the tree of ``root`` (any node of it), or the whole archive when None.

    A tree's measures are computed on the spot from its posts (no analysis needed,
    except bleed labels, which need the whole archive's ``archivist analyze``); the
    archive report reads the stored analysis tables.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "x"}])
    >>> report_data(a).missing[0][:40]
    'every drift, bleed and decay figure: the'
    """
    if root is None:
        return _archive_data(archive, as_of=as_of, top=top)
    return _tree_data(archive, root, as_of=as_of, top=top, seed=seed)


# ---------------------------------------------------------------------- figures
def _figures(d: ReportData) -> dict[str, dict[str, Any]]:
    """Plotly figures as plain dicts (plotly's JSON form): no per-point validation, so big trees stay fast."""
    figs: dict[str, dict[str, Any]] = {}
    if d.scope == "tree" and d.nodes.height:
        n = d.nodes
        edges = (n.select(pl.col("id").alias("c"), pl.col("parent").alias("p"), "x", "y")
                 .join(n.select(pl.col("id").alias("p"), pl.col("x").alias("px"), pl.col("y").alias("py")),
                       on="p", how="inner").sort("c"))
        none = [None] * edges.height
        ex = [v for t in zip(edges.get_column("px").to_list(), edges.get_column("x").to_list(), none) for v in t]
        ey = [v for t in zip(edges.get_column("py").to_list(), edges.get_column("y").to_list(), none) for v in t]
        hover = [html.escape(show_bidi(f"{i} · gen {dep} · root drift {_num(rd)}\n{_short(t, 120)}"))
                 .replace("\n", "<br>") for i, dep, rd, t in n.select("id", "depth", "root_drift", "text").iter_rows()]
        big = n.height > 2000
        figs["tree"] = {
            "data": [
                {"type": "scattergl" if big else "scatter", "x": ex, "y": ey, "mode": "lines",
                 "line": {"color": "#bbb", "width": 1}, "hoverinfo": "skip"},
                {"type": "scattergl" if big else "scatter", "x": n.get_column("x").to_list(),
                 "y": n.get_column("y").to_list(), "mode": "markers", "hovertext": hover, "hoverinfo": "text",
                 "marker": {"size": 5 if n.height > 300 else 9, "color": n.get_column("root_drift").fill_null(0).to_list(),
                            "colorscale": "Viridis", "cmin": 0, "cmax": 1, "line": {"width": 0.5, "color": "#333"},
                            "colorbar": {"title": {"text": "drift from root"}}}},
            ],
            "layout": {"title": {"text": "The remix tree, coloured by drift from the root (root at the top)"},
                       "showlegend": False, "height": 520, "margin": {"l": 40, "r": 20, "t": 50, "b": 30},
                       "xaxis": {"visible": False, "zeroline": False}, "plot_bgcolor": "white",
                       "yaxis": {"title": {"text": "generation"}, "zeroline": False, "tickvals": list(range(0, -60, -1)),
                                 "ticktext": [str(i) for i in range(60)]}},
        }
    if d.fidelity.height:
        f = d.fidelity.sort("depth")
        data: list[dict[str, Any]] = [{"type": "scatter", "x": f.get_column("depth").to_list(),
                                       "y": f.get_column("fidelity").to_list(), "mode": "markers+lines",
                                       "name": "measured", "marker": {"size": 8}}]
        fit = d.decay.get("fidelity")
        if fit and fit.get("lambda") is not None and fit.get("F_inf") is not None:
            xs = np.linspace(0, float(f.get_column("depth").max()), 60)
            ys = fit["F_inf"] + (1 - fit["F_inf"]) * np.exp(-fit["lambda"] * xs)
            data.append({"type": "scatter", "x": xs.tolist(), "y": ys.tolist(), "mode": "lines",
                         "name": "fitted decay", "line": {"dash": "dash"}})
        figs["fidelity"] = {"data": data, "layout": {
            "title": {"text": "Fidelity to the root by generation (1 = the root's words, 0 = none)"},
            "xaxis": {"title": {"text": "generation"}}, "yaxis": {"title": {"text": "fidelity"}, "range": [0, 1.05]},
            "height": 380, "margin": {"l": 50, "r": 20, "t": 50, "b": 40}, "plot_bgcolor": "white"}}
    return figs


# ---------------------------------------------------------------------- renderers
def _md(text: Any) -> str:
    """Text safe inside Markdown (and the HTML a Markdown viewer makes of it)."""
    s = html.escape(show_bidi(" ".join(str(text if text is not None else "").split())), quote=False)
    for ch in "\\`*_[]|#~":
        s = s.replace(ch, "\\" + ch)
    return s


_CJK_GAP = r"(?<=[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]) (?=[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af])"


def _joined(phrase: str) -> str:
    """A token phrase as a reader writes it: no spaces between CJK characters (tokens are single characters)."""
    return re.sub(_CJK_GAP, "", phrase)


def _diff_runs(a: str | None, b: str | None) -> list[tuple[str, str]]:
    """Word-level diff of two prompts as runs ``(op, text)``, CJK characters joined back together."""
    from lineage.drift import token_diff

    runs: list[tuple[str, list[str]]] = []
    for op, tok in token_diff(a or "", b or ""):
        if runs and runs[-1][0] == op:
            runs[-1][1].append(tok)
        else:
            runs.append((op, [tok]))
    return [(op, _joined(" ".join(toks))) for op, toks in runs]


def _diff_html(a: str | None, b: str | None) -> str:
    tags = {"added": "ins", "removed": "del"}
    return " ".join(f"<{tags[op]}>{_e(t)}</{tags[op]}>" if op in tags else _e(t) for op, t in _diff_runs(a, b))


def _diff_md(a: str | None, b: str | None) -> str:
    marks = {"added": ("**+", "+**"), "removed": ("~~", "~~")}
    return " ".join(f"{marks[op][0]}{_md(t)}{marks[op][1]}" if op in marks else _md(t) for op, t in _diff_runs(a, b))


def _phrases(m: dict) -> list[str]:
    out = []
    for r in m["replaced"] or []:
        out.append(f"replaced {_joined(r)}")
    if m["added"]:
        out.append("added " + ", ".join(f"“{_joined(a)}”" for a in m["added"]))
    if m["removed"]:
        out.append("dropped " + ", ".join(f"“{_joined(a)}”" for a in m["removed"]))
    return out


def to_markdown(d: ReportData, *, max_outline: int = 60) -> str:
    """The report as Markdown (prompts escaped, the tree as an indented outline).

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z",
    ...                         "prompt": "<script>alert(1)</script>"}])
    >>> md = to_markdown(report_data(a, "t:1"))
    >>> "<script>" in md, "&lt;script&gt;" in md
    (False, True)
    """
    out = [f"# {_md(d.title)}", ""]
    if d.generated_at is not None:
        out += [f"_Generated {d.generated_at.isoformat(timespec='seconds').replace('+00:00', 'Z')} by Remix Archivist._", ""]
    out += ["## In brief", ""] + [f"- {_md(s)}" for s in d.sentences] + [""]
    if d.scope == "tree":
        out += [f"**Root prompt:** {_md(d.facts['root_text'])}", ""]
        out += ["## The tree", "", "Each line is a post: its id, generation and drift from the root, then its prompt.", ""]
        shown = d.nodes.sort("order")
        for i, dep, rd, t in shown.select("id", "depth", "root_drift", "text").head(max_outline).iter_rows():
            out.append(f"{'  ' * dep}- **{_md(i)}** (gen {dep}, drift {_num(rd)}): {_md(_short(t, 80))}")
        if shown.height > max_outline:
            out.append(f"\n… and {shown.height - max_outline} more posts (the HTML report draws them all).")
        out.append("")
    out += ["## The largest mutations", ""]
    if d.mutations.height:
        for m in d.mutations.iter_rows(named=True):
            out += [f"### {_md(m['child'])} (generation {m['depth']}): {_pct(m['drift'])} of the words changed", "",
                    f"- parent {_md(m['parent'])}: {_md(m['parent_text'])}",
                    f"- remix: {_md(m['child_text'])}",
                    f"- diff (~~dropped~~, **+added+**): {_diff_md(m['parent_text'], m['child_text'])}",
                    f"- what changed: {_md('; '.join(_phrases(m)) or 'word order only')}", ""]
    else:
        out += ["No mutation could be measured here.", ""]
    if d.scope == "tree":
        out += ["## Who wrote the leaves", "",
                "For the deepest remixes, the share of their words first written by each ancestor (prompt blame).", ""]
        if d.blame.height:
            for (leaf,), grp in d.blame.group_by(["id"], maintain_order=True):
                r0 = grp.row(0, named=True)
                out += [f"**{_md(leaf)}** (generation {r0['leaf_depth']}, keeps {_pct(r0['retention'])} of the "
                        f"root's words): {_md(r0['leaf_text'])}", ""]
                out += ["| ancestor | generation | words | share |", "|---|---|---|---|"]
                for r in grp.iter_rows(named=True):
                    out.append(f"| {_md(r['ancestor'])} | {r['generation']} | {r['tokens']} | {_pct(r['share'])} |")
                out.append("")
        else:
            out += ["No leaf below the root to blame.", ""]
        out += ["## Style changes and bleed", ""]
        if d.styles.height:
            out += ["| post | generation | new style term | facet | bleed | borrowed from |", "|---|---|---|---|---|---|"]
            for r in d.styles.head(40).iter_rows(named=True):
                out.append(f"| {_md(r['id'])} | {r['depth']} | {_md(r['term'])} | {_md(r['facet'])} | "
                           f"{_md(r['label'] or 'not labelled')} | {_md(r['source_root'] or '')} |")
            if d.styles.height > 40:
                out.append(f"\n… and {d.styles.height - 40} more.")
            out.append("")
        else:
            out += ["No style term entered the tree after the root.", ""]
    else:
        out += ["## The trees", "", "| root | posts | generations | drift per generation | bleed rate | root prompt |",
                "|---|---|---|---|---|---|"]
        for r in d.trees.head(25).iter_rows(named=True):
            out.append(f"| {_md(r['root'])} | {r['size']} | {r['depth']} | {_num(r.get('drift_rate'), 3)} | "
                       f"{_pct(r.get('bleed_rate'))} | {_md(_short(r.get('root_text'), 60))} |")
        out.append("")
    out += ["## Decay", ""]
    if d.fidelity.height:
        out += ["| generation | posts | fidelity |", "|---|---|---|"]
        for r in d.fidelity.sort("depth").iter_rows(named=True):
            out.append(f"| {r['depth']} | {r['nodes']} | {_num(r['fidelity'])} |")
        out.append("")
    for k, v in _decay_rows(d):
        out.append(f"- {k}: {v}")
    out += ["", "## What this report could not measure", ""]
    out += [f"- {_md(m)}" for m in d.missing] or ["- Nothing: every section above is measured."]
    out += ["", "## How to read it", "", *[f"- {x}" for x in _METHOD], ""]
    return "\n".join(out)


_METHOD = [
    "Drift between two prompts is the share of distinct words not in both (1 − Jaccard similarity of their "
    "word sets, after Unicode normalisation and case folding): 0 means the same words, 1 none in common.",
    "Root drift compares a post with the root of its tree; edge drift compares it with its parent.",
    "Prompt blame walks from the root down to a post, aligning each parent's words with its child's, so every "
    "word is credited to the post that first wrote it.",
    "Fidelity at a generation is the mean of 1 − root drift; its half-life comes from fitting "
    "F(d) = F∞ + (1 − F∞)·e^(−λd).",
    "A style term is bled when, before the post, it was used in another tree but never on the post's own path; "
    "novel when never used before anywhere.",
    "A figure with no meaning on the data (drift without prompt text, the virality of a one-post tree, a fit with "
    "too few points) is left blank with the reason, never given as 0. A fit is quoted only when it fits: the "
    "fidelity curve needs R² ≥ 0.5 over the generations, the branching fit m₀·γ^g a dispersion (Pearson X² per "
    "degree of freedom) of at most 3.",
    "Tree shape: structural virality is the mean distance between two posts of a tree (Goel et al. 2016); Sackin "
    "the sum of leaf depths (given per leaf to compare sizes); balance is the Colless-like index for trees with "
    "any number of children per post (Mir, Rosselló and Rotger 2018, f-size ln(k + e), mean deviation from the "
    "median), not the binary-tree Colless index.",
]


def _decay_rows(d: ReportData) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    fit = d.decay.get("fidelity")
    if fit:
        rows.append(("generational half-life", f"{_num(fit.get('half_life'), 2)} generations"
                     + (f" (95% interval {_num(fit.get('half_life_low'), 2)}–{_num(fit.get('half_life_high'), 2)})"
                        if fit.get("half_life_low") is not None else "")))
        rows.append(("long-run fidelity F∞", _num(fit.get("F_inf"))))
    br = d.decay.get("branching")
    if br:
        rows.append(("remixes per first-generation post m₀", _num(br.get("m0"))))
        rows.append(("branching decay γ per generation", _num(br.get("gamma"))))
    act = d.decay.get("activity")
    if act:
        rows.append(("activity half-life", f"{_num(act.get('half_life_days'), 1)} days"))
    for name, r in (d.decay.get("figures") or {}).items():
        rows.append((name.replace("_", " "), _num(r.get("value"), 3)
                     + (f" ({_num(r.get('low'), 3)}–{_num(r.get('high'), 3)})" if r.get("low") is not None else "")
                     + (f" — {r['reason']}" if r.get("reason") else "")))
    return rows


_CSS = """body{font:15px/1.5 Georgia,serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.7rem}h2{border-bottom:1px solid #ccc;margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
.prompt{font-family:ui-monospace,monospace;font-size:.85rem;white-space:pre-wrap;word-break:break-word}
.brief li{margin:.3rem 0}ins{background:#cfc;text-decoration:none}del{background:#fcc}.missing{color:#a40}
figure{margin:1rem 0;page-break-inside:avoid}img{max-width:100%}section{page-break-inside:auto}
.pictures{display:flex;flex-wrap:wrap;gap:.8rem}.picture{margin:0;max-width:22rem;font-size:.8rem}
.picture img.thumb{max-width:10rem;max-height:10rem;border:1px solid #ccc;margin-right:.2rem}
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}}"""


def _e(x: Any) -> str:
    """Text escaped for HTML, in a ``<bdi>`` isolate when it holds bidi controls."""
    return bdi_html("" if x is None else str(x))


def _html_body(d: ReportData, figs: dict[str, str]) -> str:
    p: list[str] = [f"<h1>{_e(d.title)}</h1>"]
    if d.generated_at is not None:
        p.append(f"<p><em>Generated {_e(d.generated_at.isoformat(timespec='seconds'))} by Remix Archivist.</em></p>")
    p.append("<h2>In brief</h2><ul class='brief'>" + "".join(f"<li>{_e(s)}</li>" for s in d.sentences) + "</ul>")
    if d.scope == "tree":
        p.append(f"<p><strong>Root prompt:</strong> <span class='prompt'>{_e(d.facts['root_text'])}</span></p>")
        p.append("<h2>The tree</h2>" + figs.get("tree", "<p>(no figure)</p>"))
        from lineage.visual import pictures_html

        p.append(pictures_html(d.pictures))
    p.append("<h2>The largest mutations</h2>")
    if d.mutations.height:
        p.append("<p>Each remix against its parent, word by word: <del>dropped</del>, <ins>added</ins>.</p>"
                 "<table><tr><th>remix</th><th>gen</th><th>drift</th><th>parent prompt</th>"
                 "<th>diff to the remix</th></tr>")
        for m in d.mutations.iter_rows(named=True):
            p.append(f"<tr><td>{_e(m['child'])}<br><small>from {_e(m['parent'])}</small></td><td>{m['depth']}</td>"
                     f"<td>{_pct(m['drift'])}</td><td class='prompt'>{_e(m['parent_text'])}</td>"
                     f"<td class='prompt'>{_diff_html(m['parent_text'], m['child_text'])}</td></tr>")
        p.append("</table>")
    else:
        p.append("<p>No mutation could be measured here.</p>")
    if d.scope == "tree":
        p.append("<h2>Who wrote the leaves</h2><p>For the deepest remixes, the share of their words first written "
                 "by each ancestor (prompt blame).</p>")
        for (leaf,), grp in d.blame.group_by(["id"], maintain_order=True):
            r0 = grp.row(0, named=True)
            p.append(f"<h3>{_e(leaf)} (generation {r0['leaf_depth']}, keeps {_pct(r0['retention'])} of the root's "
                     f"words)</h3><p class='prompt'>{_e(r0['leaf_text'])}</p><table><tr><th>ancestor</th>"
                     "<th>generation</th><th>words</th><th>share</th><th>its prompt</th></tr>")
            for r in grp.iter_rows(named=True):
                p.append(f"<tr><td>{_e(r['ancestor'])}</td><td>{r['generation']}</td><td>{r['tokens']}</td>"
                         f"<td>{_pct(r['share'])}</td><td class='prompt'>{_e(_short(r['ancestor_text'], 100))}</td></tr>")
            p.append("</table>")
        p.append("<h2>Style changes and bleed</h2>")
        if d.styles.height:
            p.append("<table><tr><th>post</th><th>gen</th><th>new style term</th><th>facet</th><th>bleed</th>"
                     "<th>borrowed from</th></tr>")
            for r in d.styles.head(60).iter_rows(named=True):
                p.append(f"<tr><td>{_e(r['id'])}</td><td>{r['depth']}</td><td>{_e(r['term'])}</td>"
                         f"<td>{_e(r['facet'])}</td><td>{_e(r['label'] or 'not labelled')}</td>"
                         f"<td>{_e(r['source_root'])}</td></tr>")
            p.append("</table>" + (f"<p>… and {d.styles.height - 60} more.</p>" if d.styles.height > 60 else ""))
        else:
            p.append("<p>No style term entered the tree after the root.</p>")
    else:
        p.append("<h2>The trees</h2><table><tr><th>root</th><th>posts</th><th>generations</th>"
                 "<th>drift per generation</th><th>bleed rate</th><th>root prompt</th></tr>")
        for r in d.trees.head(25).iter_rows(named=True):
            p.append(f"<tr><td>{_e(r['root'])}</td><td>{r['size']}</td><td>{r['depth']}</td>"
                     f"<td>{_num(r.get('drift_rate'), 3)}</td><td>{_pct(r.get('bleed_rate'))}</td>"
                     f"<td class='prompt'>{_e(_short(r.get('root_text'), 80))}</td></tr>")
        p.append("</table>")
    p.append("<h2>Decay</h2>" + figs.get("fidelity", ""))
    rows = _decay_rows(d)
    if rows:
        p.append("<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>")
    p.append("<h2>What this report could not measure</h2><ul>"
             + ("".join(f"<li class='missing'>{_e(m)}</li>" for m in d.missing)
                or "<li>Nothing: every section above is measured.</li>") + "</ul>")
    p.append("<h2>How to read it</h2><ul>" + "".join(f"<li>{_e(x)}</li>" for x in _METHOD) + "</ul>")
    return "\n".join(p)


def _page(d: ReportData, body: str, head: str = "") -> str:
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{_e(d.title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_CSS}</style>{head}"
            f"</head><body>\n{body}\n</body></html>\n")


def to_html(d: ReportData) -> str:
    """One self-contained HTML file: interactive figures with plotly.js inlined, no network needed.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "<b>x"}])
    >>> page = to_html(report_data(a, "t:1"))
    >>> "&lt;b&gt;x" in page, "<script src=" in page, "<link" in page
    (True, False, False)
    """
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    figs = {k: "<figure>" + pio.to_html(f, full_html=False, include_plotlyjs=False, div_id=f"fig-{k}",
                                        validate=False, config={"displaylogo": False, "displayModeBar": False})
                    + "</figure>"  # no toolbar over the titles: zoom by dragging, double-click to reset
            for k, f in _figures(d).items()}
    head = f"<script>{get_plotlyjs()}</script>" if figs else ""
    return _page(d, _html_body(d, figs), head)


def _chromium() -> str:
    """The Chromium that prints PDFs (and that kaleido draws with): ``$BROWSER_PATH`` or the system's.

    A ``$BROWSER_PATH`` that is not a working Chromium is refused at once, with what to do
    (kaleido would otherwise wait for it for ever).
    """
    given = os.environ.get("BROWSER_PATH")
    if given:
        path = shutil.which(given)
        ok = False
        if path:
            try:
                out = subprocess.run([path, "--version"], capture_output=True, timeout=20)
                ok = out.returncode == 0 and b"chrom" in out.stdout.lower()
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        if not ok:
            raise LineageError(f"BROWSER_PATH={given} is not a working Chromium (`{given} --version` failed): "
                               "point it at chromium (Debian: /usr/bin/chromium) or unset it")
        return path  # type: ignore[return-value]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise LineageError("no Chromium found for the PDF: install chromium (Debian: apt install chromium) "
                       "or set BROWSER_PATH")


def to_pdf(d: ReportData) -> bytes:
    """The report as PDF: figures drawn by kaleido (SVG), the page printed by the system Chromium.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "x"}])
    >>> to_pdf(report_data(a, "t:1"))[:5]
    b'%PDF-'
    """
    import warnings

    import kaleido
    import plotly.io as pio

    figs = {}
    drawn = _figures(d)
    chromium = _chromium()  # checked before kaleido starts it
    os.environ["BROWSER_PATH"] = chromium
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kaleido warns that per-call options are ignored by its server
        kaleido.start_sync_server(silence_warnings=True)  # one Chromium for every figure
        try:
            for k, f in drawn.items():
                f["layout"]["width"] = 900
                if k == "tree":  # fits below the brief on the first page (a taller one leaves it half blank)
                    f["layout"]["height"] = min(f["layout"].get("height") or 450, 340)
                for tr in f["data"]:
                    tr["type"] = tr["type"].replace("scattergl", "scatter")  # vector output for print
                svg = pio.to_image(f, format="svg", validate=False)
                figs[k] = (f"<figure><img alt='{_e(f['layout']['title']['text'])}' "
                           f"src='data:image/svg+xml;base64,{base64.b64encode(svg).decode()}'></figure>")
        finally:
            kaleido.stop_sync_server(silence_warnings=True)
    page = _page(d, _html_body(d, figs))
    with tempfile.TemporaryDirectory(prefix="remix-report-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(page, "utf-8")
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
               "--disable-dev-shm-usage", f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", src.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise LineageError("Chromium took more than 2 minutes to print the report") from None
        if not out.exists() or out.stat().st_size == 0:
            raise LineageError(f"Chromium could not print the report (exit {proc.returncode}): "
                               f"{proc.stderr.decode('utf-8', 'replace').strip().splitlines()[-1:]}")
        return out.read_bytes()


def to_csv(d: ReportData) -> bytes:
    """One row per node (tree) or per tree (archive), text cells neutralised for spreadsheets.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "=1+1"}])
    >>> to_csv(report_data(a, "t:1")).decode().splitlines()[1].split(",")[-1]
    "'=1+1"
    """
    if d.scope == "tree":
        cols = [c for c in ("id", "parent", "depth", "created_at", "author", "views", "edge_drift", "root_drift",
                            "path_drift", "directness", "retention", "children", "redacted", "text")
                if c in d.nodes.columns]
        frame = d.nodes.select(cols)
    else:
        frame = d.trees
    return _csv_bytes(frame)


def render(d: ReportData, fmt: str) -> bytes:
    """The report in ``fmt`` (``html``, ``pdf``, ``md`` or ``csv``) as bytes.

    Examples
    --------
    >>> render(ReportData("archive", None, "t", {}, [], *[pl.DataFrame()] * 5, {}, pl.DataFrame()), "xls")
    Traceback (most recent call last):
    ...
    lineage.errors.LineageError: unknown report format 'xls': choose html, pdf, md or csv
    """
    if fmt == "md":
        return to_markdown(d).encode("utf-8")
    if fmt == "html":
        return to_html(d).encode("utf-8")
    if fmt == "pdf":
        return to_pdf(d)
    if fmt == "csv":
        return to_csv(d)
    raise LineageError(f"unknown report format {fmt!r}: choose html, pdf, md or csv")


def write_report(archive: Archive, root: str | None, fmt: str, out: str | Path, *, as_of: Any = None,
                 generated_at: datetime | None = None, seed: int = 0) -> Path:
    """Gather, render and write a report; returns the file written.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "x"}])
    >>> write_report(a, "t:1", "md", tempfile.mkdtemp() + "/r.md").suffix
    '.md'
    """
    if fmt not in FORMATS:
        raise LineageError(f"unknown report format {fmt!r}: choose html, pdf, md or csv")
    d = report_data(archive, root, as_of=as_of, seed=seed)
    d.generated_at = generated_at
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(render(d, fmt))
    return p


def snapshot_report(archive: Archive, root: str, as_of: Any) -> dict[str, bytes]:
    """The files a snapshot carries: the report as Markdown, HTML and CSV (no time in them, so restores match).

    Registered with :func:`archive.snapshot.register_report_hook` when this module is imported.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "x"}])
    >>> sorted(snapshot_report(a, "t:1", None))
    ['drift-report.csv', 'drift-report.html', 'drift-report.md']
    """
    d = report_data(archive, root, as_of=as_of)
    return {"drift-report.md": to_markdown(d).encode("utf-8"), "drift-report.html": to_html(d).encode("utf-8"),
            "drift-report.csv": to_csv(d)}


register_report_hook(snapshot_report)
