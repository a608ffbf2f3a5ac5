"""CLI commands for the measures: ``analyze``, ``drift ID``, ``bleed``, ``decay``.

:data:`COMMANDS` lists them; ``dashboard.cli.build_cli`` adds them to the ``archivist``
group. The ``report`` command is in :mod:`lineage.cli_report`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import polars as pl
from rich.table import Table
from rich.text import Text

from archive.cli import (archive_option, console, edges_option, progress_bar, emit_json, err_console, handle_errors,
                         json_option, open_archive, print_table, shorten, wide_option)
from lineage.errors import LineageError

__all__ = ["analyze_cmd", "drift_cmd", "bleed_cmd", "decay_cmd"]


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


@click.command("analyze")
@click.option("--force", is_flag=True, help="Recompute every tree, not only the ones that changed.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap interval.")
@click.option("--window", default="30d", show_default=True, help="Bleed source window and homogenisation window.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="local: this process; spark: Apache Spark (pip install 'remix-archivist[spark]', Java 17).")
@click.option("--master", default=None, metavar="URL",
              help="Spark master (spark://host:7077, yarn, k8s://…); default: what spark-submit set, else local[*].")
@click.option("--delta-jars", is_flag=True,
              help="Spark reads the records table with the Delta Lake jars (spark-submit --packages "
                   "io.delta:delta-spark_2.13:4.0.0) instead of listing its Parquet files.")
@click.option("--semantic-model", default=None, envvar="REMIX_EMBEDDING_MODEL", show_envvar=True,
              help="A locally installed sentence-transformers model: adds semantic drift to every edge "
                   "(needs the 'semantic' extra).")
@edges_option
@archive_option
@json_option
@handle_errors
def analyze_cmd(force: bool, seed: int, window: str, engine: str, master: str | None, delta_jars: bool,
                semantic_model: str | None, edges: str, archive_path: Path | None, as_json: bool) -> None:
    """Compute every measure (drift, blame, styles, bleed, decay) and store them as versioned tables.

    Only trees whose content changed since the last analysis are recomputed; the
    whole-archive figures (bleed, flow, homogenization, decay fits) are refreshed.
    Read the results with `archivist drift ID`, `archivist bleed`, `archivist decay`
    or the dashboard.

    With --edges all the graph holds the links `archivist infer` reconstructed too;
    those results are stored apart (analysis_all_* tables), never over the analysis
    of declared links, and say how many inferred links they include.
    """
    from lineage.analyze import analyze, inferred_note

    if edges == "all" and engine == "spark":
        raise click.UsageError("--edges all runs on the local engine only: drop --engine spark")
    arc = open_archive(archive_path)
    with progress_bar(show=not as_json) as bar:
        task = bar.add_task("analyze", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"analyze: {stage}", completed=done, total=total or None)

        if engine == "spark":
            from lineage.spark import analyze_spark

            bar.update(task, description="analyze: spark")
            result = analyze_spark(arc, master=master, delta_jars=delta_jars, seed=seed, window=window)
        else:
            result = analyze(arc, force=force, progress=progress, seed=seed, window=window,
                             embedder=semantic_model, edges=edges)
    left_out = _left_out(arc, edges)
    if as_json:
        emit_json(result | {"left_out": left_out})
        return
    note = inferred_note(result.get("inferred_links"), result.get("min_confidence")) if edges == "all" else None
    if edges == "all" and not note:
        note = ("includes no inferred links (`archivist infer` found none)" if result.get("inferred_version", -1) >= 0
                else "includes no inferred links (run `archivist infer` first)")
    out_text = (f"{left_out['trees']:,} tree{'s' if left_out['trees'] != 1 else ''} of "
                f"source{'s' if len(left_out['sources']) > 1 else ''} {', '.join(left_out['sources'])} "
                "(setting excluded_from_measures)") if left_out["sources"] else None
    if result["up_to_date"]:
        console.print(f"analysis is up to date with store version {result['store_version']} "
                      f"({result['trees']:,} trees{'; ' + note if note else ''}"
                      f"{'; left out: ' + out_text if out_text else ''}); use --force to recompute")
        return
    what = "with inferred links, " if edges == "all" else ""
    t = Table(title=f"analysis of {arc.path.name} ({what}store version {result['store_version']})",
              show_header=False, title_justify="left")
    if note:
        t.add_row("inferred links", Text(note, style="yellow"))
    t.add_row("trees", f"{result['trees']:,} ({result['trees_recomputed']:,} recomputed)")
    t.add_row("posts", f"{result['nodes']:,}")
    t.add_row("edges", f"{result['edges']:,}")
    for key, label, unit, digits in (("generational_half_life", "generational half-life", " generations", 2),
                                     ("branching_gamma", "branching decay γ", "", 3),
                                     ("activity_half_life_days", "activity half-life", " days", 2),
                                     ("bleed_rate", "bleed rate", "", 3)):
        why = result.get(key + "_reason")
        t.add_row(label, Text("– (" + why + ")", style="yellow") if why
                  else Text(_fmt(result[key], digits) + unit))
    if result.get("flagged_trees"):
        t.add_row("flagged trees", f"{result['flagged_trees']:,} hang from a placeholder root or had a cycle cut")
    if out_text:  # kept in the archive, not measured: say so (stats counts them)
        t.add_row("left out", Text(out_text, style="yellow"))
    t.add_row("seconds", _fmt(result["seconds"], 1))
    console.print(t)
    console.print(Text("see `archivist drift ID`, `archivist bleed`, `archivist decay`"
                       + (" (each with --edges all)" if edges == "all" else ""), style="dim"))


def _left_out(arc: Any, edges: str) -> dict[str, Any]:
    """The sources whose trees the measures leave out (setting ``excluded_from_measures``) and how many trees
    they hold: ``{"sources": [str], "trees": int}``."""
    excluded = arc.excluded_sources()
    if not excluded:
        return {"sources": [], "trees": 0}
    from lineage.analyze import root_source_excluded

    return {"sources": excluded, "trees": arc.trees(edges=edges).filter(root_source_excluded(excluded)).height}


def _tree_drift(arc: Any, post_id: str, edges: str = "declared") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Node drift of the tree of ``post_id`` (from the analysis, else computed now) and the edges on its path."""
    from lineage.analyze import drift_where_defined, load_results
    from lineage.drift import edge_drift, node_drift
    from lineage.stale import analysis_state

    path = arc.lineage_path(post_id, edges=edges)
    ids = path.select("id")
    try:
        if not analysis_state(arc, root=post_id, edges=edges).tree_current:
            raise LineageError("the stored analysis is older than this tree")
        nd = load_results(arc, "nodes", edges=edges).join(ids, on="id", how="semi")
        ed = load_results(arc, "edges", edges=edges).filter(pl.col("primary")).join(
            ids.rename({"id": "child"}), on="child", how="semi")
    except LineageError:
        tree = arc.tree(post_id, edges=edges)
        nd = drift_where_defined(node_drift(tree.nodes.select("id", "text", "placeholder"),
                                            tree.nodes.select("id", "parent", "root", "depth")),
                                 tree.nodes.select("id", "text", "placeholder"))
        nd = nd.join(ids, on="id", how="semi")
        pairs = path.filter(pl.col("parent").is_not_null()).select(child="id", parent="parent")
        ed = edge_drift(path.select("id", "text", "placeholder"), pairs)
    return nd, ed


@click.command("drift")
@click.argument("post_id")
@edges_option
@archive_option
@json_option
@wide_option
@handle_errors
def drift_cmd(post_id: str, edges: str, archive_path: Path | None, as_json: bool, wide: bool) -> None:
    """How the prompt of POST_ID drifted from its root: the path, each edit, and who wrote which words.

    Uses the stored analysis when it is current, else computes the tree's drift now.
    """
    from lineage.blame import blame_path, blame_shares, blame_summary

    arc = open_archive(archive_path, read_only=True)
    path = arc.lineage_path(post_id, edges=edges)
    nd, ed = _tree_drift(arc, post_id, edges)
    inferred = _inferred_on_path(arc, path, edges)
    rows = (path.select("id", "depth", "text", "placeholder")
            .join(nd.select("id", "edge_drift", "root_drift", "path_drift", "directness"), on="id", how="left")
            .join(ed.select(id="child", added="added", removed="removed", replaced="replaced",
                            reweighted=pl.col("reweighted") if "reweighted" in ed.columns
                            else pl.lit([], dtype=pl.List(pl.String))), on="id", how="left")
            .sort("depth"))
    blame = blame_path(list(zip(path.get_column("id").to_list(),
                                path.get_column("text").fill_null("").to_list())))
    shares = blame_shares(blame)
    # root retention as analyze measures it (a placeholder root is skipped for its first real descendant)
    _, ret = blame_summary(path.select("id", "text", "placeholder"), path.select("id", "parent", "depth"))
    retention = ret.filter(pl.col("id") == post_id).get_column("retention").item()
    if as_json:
        emit_json({"id": post_id, "root": path.get_column("id")[0], "retention": retention,
                   "inferred_links": inferred.to_dicts(),
                   "path": rows.to_dicts(), "blame": blame.select("position", "token", "introduced_by",
                                                                   "generation", "reintroduced", "weight").to_dicts(),
                   "shares": shares.select("ancestor", "generation", "tokens", "share").to_dicts()})
        return
    from lineage.infer import confidence_text

    how = dict(zip(inferred.get_column("child").to_list(), inferred.get_column("confidence").to_list()))
    t = Table(title=f"drift of {post_id} ({path.height - 1} generation(s) from its root)", title_justify="left")
    for c in ("gen", "post", "edge", "root", "path", "what changed", "prompt"):
        t.add_column(c, overflow="fold", justify="right" if c in ("gen", "edge", "root", "path") else "left")
    for r in rows.iter_rows(named=True):
        change = Text()
        for label, key, style in (("+", "added", "green"), ("-", "removed", "red"), ("~", "replaced", "yellow"),
                                  ("*", "reweighted", "cyan")):
            for phrase in r[key] or []:
                change.append(f"{label} {shorten(phrase, 10_000 if wide else 40)}\n", style=style)
        change.rstrip()  # the last phrase's line break made an empty line in the row
        prompt = "(not in the archive)" if r["placeholder"] else shorten(r["text"], 10_000 if wide else 70)
        post = Text(r["id"])
        if r["id"] in how:
            post.append(f"\n┄ inferred {confidence_text(how[r['id']])}", style="yellow")
        t.add_row(str(r["depth"]), post, _fmt(r["edge_drift"], 2), _fmt(r["root_drift"], 2),
                  _fmt(r["path_drift"], 2), change, Text(prompt))
    print_table(t, ids=("post",), drop=("path", "what changed"), wide=wide)
    last = rows.row(-1, named=True)
    console.print(f"root drift {_fmt(last['root_drift'], 2)}, path drift {_fmt(last['path_drift'], 2)}, "
                  f"directness {_fmt(last['directness'], 2)}, root retention {_fmt(retention, 2)}")
    if how:
        console.print(Text(f"note: {len(how)} link(s) of this path were inferred by `archivist infer` "
                           "(marked ┄ inferred), not declared by the source", style="yellow"))
    if shares.height:
        s = Table(title="who wrote the words of this prompt", title_justify="left")
        for c in ("gen", "post", "words", "share"):
            s.add_column(c, justify="right" if c != "post" else "left")
        for r in shares.iter_rows(named=True):
            s.add_row(str(r["generation"]), Text(r["ancestor"]), str(r["tokens"]), f"{r['share']:.0%}")
        print_table(s, ids=("post",), wide=wide)


def _inferred_on_path(arc: Any, path: pl.DataFrame, edges: str) -> pl.DataFrame:
    """The inferred links (``child, parent, confidence``) whose child is on ``path`` (none with declared edges)."""
    if edges != "all":
        return pl.DataFrame(schema={"child": pl.String, "parent": pl.String, "confidence": pl.Float64})
    from archive.export import made_by_infer  # a record's own "inferred" parent is what its source stated

    return (made_by_infer(arc, arc.edges(edges="all"))
            .join(path.select(child="id"), on="child", how="semi").select("child", "parent", "confidence")
            .sort("child"))


def _say_if_stale(arc: Any, edges: str = "declared") -> str | None:
    """On stderr, when the stored analysis is of an older store version (the figures are still shown),
    and, for an analysis with inferred links, how many it holds (returned for ``--json``)."""
    from lineage.stale import analysis_state

    state = analysis_state(arc, edges=edges)
    for note in (state.note(), state.inferred_note() and f"these figures were measured on a graph that {state.inferred_note()}"):
        if note:
            err_console.print(Text(note, style="yellow"))
    return state.inferred_note()


@click.command("bleed")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True, help="Rows per table.")
@click.option("--min-terms", default=5, show_default=True, help="Trees with fewer new style terms are not ranked.")
@edges_option
@archive_option
@json_option
@wide_option
@handle_errors
def bleed_cmd(limit: int, min_terms: int, edges: str, archive_path: Path | None, as_json: bool, wide: bool) -> None:
    """Style bleed: which trees borrow styles from other trees, the biggest flows, and homogenization."""
    from lineage.analyze import load_results

    arc = open_archive(archive_path, read_only=True)
    trees = load_results(arc, "trees", edges=edges)
    inferred = _say_if_stale(arc, edges)
    flow = load_results(arc, "flow", edges=edges)
    homog = load_results(arc, "homogenisation", edges=edges)
    decay = load_results(arc, "decay", edges=edges)
    overall = decay.filter(pl.col("measure") == "bleed_rate").row(0, named=True)
    ranked = (trees.filter(pl.col("new_terms") >= min_terms)
              .sort(["bleed_rate", "root"], descending=[True, False], nulls_last=True)
              .select("root", "size", "new_terms", "bled", "novel", "reused", "bleed_rate", "root_text"))
    if as_json:
        emit_json({"bleed_rate": overall["value"], "new_terms": overall["n"], "inferred": inferred, "trees": ranked.head(limit).to_dicts(),
                   "flow": flow.head(limit).to_dicts(), "homogenisation": homog.to_dicts()})
        return
    console.print(f"bleed rate: {_fmt(overall['value'])} of {overall['n']:,} new style terms in remixes "
                  "were borrowed from another tree")
    t = Table(title=f"trees that borrow most (at least {min_terms} new terms)", title_justify="left")
    for c in ("root", "size", "new", "bled", "novel", "reused", "rate", "root prompt"):
        t.add_column(c, justify="left" if c in ("root", "root prompt") else "right", overflow="fold")
    for r in ranked.head(limit).iter_rows(named=True):
        t.add_row(Text(r["root"]), str(r["size"]), str(r["new_terms"]), str(r["bled"]), str(r["novel"]),
                  str(r["reused"]), _fmt(r["bleed_rate"], 2), Text(shorten(r["root_text"], 10_000 if wide else 50)))
    print_table(t, ids=("root",), drop=("reused", "novel", "bled", "size", "root prompt"), wide=wide)
    f = Table(title="biggest flows (from tree -> to tree)", title_justify="left")
    for c in ("from", "to", "adoptions"):
        f.add_column(c, justify="right" if c == "adoptions" else "left")
    for r in flow.head(limit).iter_rows(named=True):
        f.add_row(Text(r["from_root"]), Text(r["to_root"]), str(r["adoptions"]))
    print_table(f, ids=("from", "to"), wide=wide)
    h = Table(title="homogenisation by window", title_justify="left")
    for c in ("window", "posts", "trees", "terms", "entropy (bits)", "mean similarity"):
        h.add_column(c, justify="left" if c == "window" else "right")
    for r in homog.iter_rows(named=True):
        h.add_row(str(r["window"])[:10], str(r["posts"]), str(r["trees"]), str(r["terms"]), _fmt(r["entropy"], 2),
                  _fmt(r["mean_pairwise_similarity"]))
    console.print(h)


@click.command("decay")
@edges_option
@archive_option
@json_option
@handle_errors
def decay_cmd(edges: str, archive_path: Path | None, as_json: bool) -> None:
    """Remix decay: fidelity by generation, generational half-life, branching, activity, engagement."""
    from lineage.analyze import load_results

    arc = open_archive(archive_path, read_only=True)
    decay = load_results(arc, "decay", edges=edges)
    fid = load_results(arc, "fidelity", edges=edges)
    branch = load_results(arc, "branching", edges=edges)
    dil = load_results(arc, "dilemma", edges=edges)
    trees = load_results(arc, "trees", edges=edges)
    inferred = _say_if_stale(arc, edges)
    per_tree = (trees.select("root", "size", "activity_half_life_days").sort("root")
                if "activity_half_life_days" in trees.columns else None)
    if as_json:
        emit_json({"inferred": inferred, "measures": decay.to_dicts(), "fidelity": fid.to_dicts(), "branching": branch.to_dicts(),
                   "dilemma": dil.to_dicts(),
                   "activity_per_tree": per_tree.to_dicts() if per_tree is not None else None})
        return
    m = {r["measure"]: r for r in decay.iter_rows(named=True)}
    get = lambda k: m.get(k, {})  # noqa: E731  (an older analysis may lack a row)
    hl = get("generational_half_life")
    lines = [
        ("fidelity", f"F(d) = {_fmt(get('fidelity_F_inf').get('value'), 2)} + "
                     f"(1 - {_fmt(get('fidelity_F_inf').get('value'), 2)})"
                     f" e^(-{_fmt(get('fidelity_lambda').get('value'), 3)} d), "
                     f"R² {_fmt(get('fidelity_r2').get('value'), 2)}", "fidelity_F_inf"),
        ("generational half-life", f"{_fmt(hl.get('value'), 2)} generations "
                                   f"(95% bootstrap interval {_fmt(hl.get('low'), 2)} to {_fmt(hl.get('high'), 2)})",
         "generational_half_life"),
        ("branching", f"m_g = {_fmt(get('branching_m0').get('value'), 2)} × "
                      f"{_fmt(get('branching_gamma').get('value'), 3)}^g, dispersion "
                      f"{_fmt(get('branching_dispersion').get('value'), 2)} (about 1 when it fits), "
                      f"likelihood ratio against flat {_fmt(get('branching_lr_flat').get('value'), 1)}",
         "branching_gamma"),
        ("activity half-life", f"{_fmt(get('activity_half_life_days').get('value'), 2)} days after the root, "
                               "all remixes pooled" + _per_tree_text(per_tree), "activity_half_life_days"),
        ("median tree lifetime", f"{_fmt(get('median_tree_lifetime_days').get('value'), 1)} days (Kaplan-Meier)",
         "median_tree_lifetime_days"),
        ("engagement", f"log(1 + views) changes by {_fmt(get('engagement_slope').get('value'))} per generation",
         "engagement_slope"),
        ("remixing dilemma", f"corr(children, originality) = {_fmt(get('dilemma_pearson').get('value'))} "
                             f"(Spearman {_fmt(get('dilemma_spearman').get('value'))})", "dilemma_pearson"),
        ("drift rate", f"{_fmt(get('drift_rate').get('value'))} root drift per generation", "drift_rate"),
    ]
    t = Table(title="remix decay", show_header=False, title_justify="left")
    for k, v, key in lines:
        why = get(key).get("reason")
        t.add_row(k, Text(v) + (Text(f"\n{why}", style="yellow") if why else Text("")))
    console.print(t)
    flagged = int(decay.get_column("flagged_trees").max() or 0) if "flagged_trees" in decay.columns else 0
    if flagged:
        console.print(Text(f"note: {flagged:,} tree(s) hang from a post never archived (a placeholder root) or had "
                           "a cycle cut; these figures include them (`archivist trees`, `archivist show ROOT`)",
                           style="yellow"))
    g = Table(title="by generation", title_justify="left")
    for c in ("gen", "posts", "fidelity", "remixes each"):
        g.add_column(c, justify="right")
    by = (branch.select(depth="generation", nodes="nodes", m="m")
          .join(fid.select("depth", "fidelity"), on="depth", how="left").sort("depth"))
    for r in by.iter_rows(named=True):
        g.add_row(str(r["depth"]), str(r["nodes"]), _fmt(r["fidelity"], 2), _fmt(r["m"], 2))
    console.print(g)


def _per_tree_text(per_tree: pl.DataFrame | None) -> str:
    """``; per tree: median … (… to …) over N trees`` from the per-tree activity half-lives."""
    if per_tree is None:
        return ""
    v = per_tree.get_column("activity_half_life_days").drop_nulls()
    if v.len() == 0:
        return "; per tree: – (no tree has a remix with a time)"
    return (f"; per tree: median {_fmt(v.median(), 2)} ({_fmt(v.min(), 2)} to {_fmt(v.max(), 2)}) "
            f"over {v.len():,} trees with remixes")


#: the commands of this module, added to the group by ``dashboard.cli.build_cli``
COMMANDS = (analyze_cmd, drift_cmd, bleed_cmd, decay_cmd,)
