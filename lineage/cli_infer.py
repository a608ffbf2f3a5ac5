"""The ``archivist infer`` command: reconstruct undeclared remix links, evaluate, refit.

Importing this module registers the command on the ``archivist`` group.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from archive.cli import archive_option, cli, console, emit_json, err_console, handle_errors, json_option, open_archive

__all__ = ["infer_cmd"]

_KEYS = ["parent_accuracy", "ancestor_accuracy", "tree_accuracy", "root_accuracy", "vertex_overlap",
         "edge_overlap", "ece", "precision_at_0_9", "coverage_at_0_9", "baseline_parent_accuracy", "n"]


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """``--since``: a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time, parsed before any work."""
    from archive.record import parse_time

    if value is None:
        return None
    v = value.strip()
    try:
        return parse_time(v if "T" in v or " " in v else f"{v}T00:00:00Z")
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: give YYYY-MM-DD or an RFC 3339 time "
                                 "(2026-06-01T12:00:00Z)") from None


def _f(v: Any) -> str:
    return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


@click.command("infer")
@click.option("--source", default=None, help="Only give parents to posts of this source (candidates: every post).")
@click.option("--since", default=None, metavar="DATE", callback=_since,
              help="Only give parents to posts created on or after DATE (YYYY-MM-DD or an RFC 3339 time).")
@click.option("--min-confidence", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="List the links at least this sure (every link is stored with its confidence, and "
                   "--edges all reads them all).")
@click.option("--show-cut", is_flag=True,
              help="List the links the tree check cut (the posts head trees of their own), with the descendants "
                   "that decided it.")
@click.option("--full", is_flag=True, help="Recompute every post, not only what new posts can change.")
@click.option("--evaluate", is_flag=True,
              help="Hide the declared links, infer, and report accuracy and calibration against them (writes nothing).")
@click.option("--fit", "refit", is_flag=True,
              help="Refit the weights on simulated truth and write data/inference_weights.json (about a minute).")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="A weights file (default: the shipped data/inference_weights.json); with --fit, where to write.")
@archive_option
@json_option
@handle_errors
def infer_cmd(source: str | None, since: datetime | None, min_confidence: float, show_cut: bool, full: bool,
              evaluate: bool, refit: bool, weights: Path | None, archive_path: Path | None, as_json: bool) -> None:
    """Infer the most likely earlier parent of every post without a declared or C2PA parent.

    Results go to the archive's inferred_edges table (declared links always win); read
    them with --edges all (trees, show, export, snapshot, report, dashboard). A post
    whose best candidate is too weak gets no parent and starts a tree, and so does a post
    heading a large tree of its own whose link the tree check finds unlike a remix.
    """
    from lineage.infer import evaluate as run_evaluate
    from lineage.infer import infer, inferred_cut, inferred_edges, load_weights
    from lineage.infer_fit import fit

    show = not as_json and err_console.is_terminal
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(),
                  console=err_console, disable=not show, transient=True) as bar:
        task = bar.add_task("infer", total=None)

        def progress(stage: str) -> None:
            bar.update(task, description=f"infer: {stage}")

        if refit:
            doc = fit(out=weights, progress=progress)
            mean = doc["report"]["evaluation"]["mean"]
            media = doc["report"]["evaluation_with_media"]["mean"]
            if as_json:
                emit_json({"weights": str(weights or "data/inference_weights.json"), **mean, "with_media": media})
            else:
                console.print(f"fitted {len(doc['coef'])} weights; on unseen settings: parent "
                              f"{_f(mean['parent_accuracy'])} (baseline {_f(mean['baseline_parent_accuracy'])}), "
                              f"tree membership {_f(mean['tree_accuracy'])}, ECE {_f(mean['ece'])}; with every "
                              f"post's picture fingerprinted: parent {_f(media['parent_accuracy'])}, tree membership "
                              f"{_f(media['tree_accuracy'])}, ECE {_f(media['ece'])}")
            return
        w = load_weights(weights)
        if evaluate:
            progress("evaluating")
            rep = run_evaluate(open_archive(archive_path, read_only=True), weights=w)
            if as_json:
                emit_json({k: rep[k] for k in _KEYS} | {k: rep[k] for k in ("candidate_recall", "intervals",
                                                                           "reliability")})
                return
            t = Table(title=f"inference against the declared links ({rep['n']} posts)", title_justify="left")
            t.add_column("figure")
            t.add_column("value", justify="right")
            t.add_column("95% interval", justify="right")
            for k in _KEYS[:-1] + ["candidate_recall"]:
                iv = rep["intervals"].get(k)
                t.add_row(k, _f(rep[k]), f"{iv[0]:.3f}-{iv[1]:.3f}" if iv else "")
            console.print(t)
            console.print("95% interval: a cluster bootstrap over the true trees. candidate_recall: the share of "
                          "remixes whose true parent was among their candidates (the most the choice could reach).",
                          style="dim")
            r = Table(title="reliability", title_justify="left")
            for c in ("confidence bin", "edges", "mean confidence", "share right"):
                r.add_column(c, justify="right")
            for b in rep["reliability"]:
                r.add_row(b["bin"], str(b["n"]), _f(b["confidence"]), _f(b["accuracy"]))
            console.print(r)
            return
        arc = open_archive(archive_path)
        if source is not None and source not in (known := arc.stats()["sources"]):
            raise click.BadParameter(f"no post of source {source!r} in the archive; its sources are: "
                                     f"{', '.join(known) or 'none (the archive is empty)'}", param_hint="--source")
        summary = infer(arc, source=source, since=since, weights=w, full=full, progress=progress)
    import polars as pl

    if as_json:
        if min_confidence > 0:
            rows = inferred_edges(arc).filter(pl.col("confidence") >= min_confidence)
            summary["edges"] = rows.select("child", "parent", "confidence").sort("child").to_dicts()
        if show_cut:
            summary["cut"] = inferred_cut(arc).select("child", "parent", "confidence", "descendants").to_dicts()
        emit_json(summary)
        return
    share = summary["share_at_0_9"]
    no_part = ", ".join(f"{v} {k}" for k, v in summary["no_part"].items())
    cut = summary.get("cut_by_tree_check", 0)
    cut_note = (f"; {cut} link{'s' if cut != 1 else ''} cut by the tree check (the posts head "
                "trees of their own; --show-cut lists them)" if cut else "")
    if summary["recomputed"] == 0 and summary["parents_found"] and not summary["no_part"]:
        console.print(f"nothing new to consider since the last run: the archive keeps its {summary['parents_found']}"
                      f" inferred links ({'–' if share is None else f'{share:.0%}'} at confidence >= 0.9)"
                      f"{cut_note}; --full recomputes every post")
    else:
        console.print(f"considered {summary['considered']} posts, parents found for {summary['parents_found']}"
                      f" ({'–' if share is None else f'{share:.0%}'} at confidence >= 0.9)" + cut_note
                      + (f"; no part: {no_part}" if no_part else ""))
    if min_confidence > 0:
        rows = inferred_edges(arc).filter(pl.col("confidence") >= min_confidence).sort("confidence", descending=True)
        t = Table(title=f"inferred links at confidence >= {min_confidence}", title_justify="left", min_width=40)
        for c in ("child", "parent", "confidence"):
            t.add_column(c)
        for r in rows.head(50).iter_rows(named=True):
            t.add_row(r["child"], r["parent"], f"{r['confidence']:.2f}")
        console.print(t)
    if show_cut:
        rows = inferred_cut(arc).sort("descendants", "child", descending=[True, False])
        t = Table(title=f"links cut by the tree check ({rows.height})", title_justify="left", min_width=40)
        for c in ("child (starts a tree)", "parent cut", "confidence", "descendants"):
            t.add_column(c)
        for r in rows.head(50).iter_rows(named=True):
            t.add_row(r["child"], r["parent"], f"{r['confidence']:.2f}", f"{r['descendants']:,}")
        console.print(t)


#: registered by ``dashboard.cli.build_cli``
COMMANDS = (infer_cmd,)
