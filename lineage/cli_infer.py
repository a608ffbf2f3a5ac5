"""The ``archivist infer`` command: reconstruct undeclared remix links, evaluate, refit.

Importing this module registers the command on the ``archivist`` group.
"""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from archive.cli import archive_option, cli, console, emit_json, err_console, handle_errors, json_option, open_archive

__all__ = ["infer_cmd"]

_KEYS = ["parent_accuracy", "ancestor_accuracy", "tree_accuracy", "root_accuracy", "vertex_overlap",
         "edge_overlap", "ece", "precision_at_0_9", "coverage_at_0_9", "baseline_parent_accuracy", "n"]


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """``--since``: a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time, parsed before any work."""
    from lineage.errors import LineageError
    from lineage.infer import since_time

    if value is None:
        return None
    try:
        return since_time(value)
    except LineageError as e:
        raise click.BadParameter(str(e)) from None


def _until(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """``--until``: as ``--since``, but a date alone is its last instant (posts of that day are in: "at or
    before 2026-03-04" left out a post of 03:28 that day)."""
    import re
    from datetime import timedelta

    at = _since(ctx, param, value)
    if at is not None and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value or ""):
        at = at + timedelta(days=1) - timedelta(microseconds=1)
    return at


def _confidence(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """``--min-confidence``: a number in 0..1 (``nan`` passes FloatRange, and would list nothing); None when
    not given (no listing)."""
    if value is not None and value != value:
        raise click.BadParameter("nan is not a confidence: give a number from 0 to 1")
    return value


#: options that only a plain run uses: with --evaluate, --calibrate or --fit they would be ignored without a word
_RUN_ONLY = {"source": "--source", "since": "--since", "min_confidence": "--min-confidence",
             "show_cut": "--show-cut", "full": "--full"}


_WHAT = {"--evaluate": "it evaluates every post of the archive, or of --source, up to --until",
         "--fit": "it fits on simulated archives",
         "--calibrate": "it calibrates on every declared link of the archive, or of --source, up to --until"}


def _check_source(arc: Any, source: str | None) -> None:
    """Refuse a ``--source`` no post of the archive has, naming the ones it has."""
    if source is not None and source not in (known := arc.stats()["sources"]):
        raise click.BadParameter(f"no post of source {source!r} in the archive; its sources are: "
                                 f"{', '.join(known) or 'none (the archive is empty)'}", param_hint="--source")


def _refuse_ignored(mode: str, given: dict[str, Any]) -> None:
    ignored = [flag for name, flag in _RUN_ONLY.items() if given.get(name)]
    if ignored:
        raise click.UsageError(f"{', '.join(ignored)} do{'es' if len(ignored) == 1 else ''} not apply to {mode} "
                               f"({_WHAT[mode]}); "
                               f"run `archivist infer` with {'it' if len(ignored) == 1 else 'them'} instead, or leave "
                               f"{'it' if len(ignored) == 1 else 'them'} out")


def _f(v: Any) -> str:
    return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def _interrupted(f: Any) -> Any:
    """Ctrl-C during ``archivist infer``: what the interrupted mode leaves (not an ingest's "committed batches")."""
    import functools

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except KeyboardInterrupt:
            if kwargs.get("evaluate"):
                msg = "interrupted: --evaluate writes nothing, so nothing changed"
            elif kwargs.get("calibrate"):
                msg = "interrupted: --calibrate writes its weights only when it ends, so nothing changed"
            elif kwargs.get("refit"):
                msg = "interrupted: --fit writes its weights only when it ends, so nothing changed"
            else:  # a run writes its two tables at the end
                msg = ("interrupted: the inferred links are those of the last run that finished writing them (a run "
                       "stopped between its two tables is recomputed in full next time); run the same command again")
            err_console.print(msg, soft_wrap=True)
            sys.exit(130)

    return wrapper


@click.command("infer")
@click.option("--source", default=None,
              help="Only give parents to posts of this source (candidates: every post); with --evaluate or "
                   "--calibrate, read only this source's posts.")
@click.option("--since", default=None, metavar="DATE", callback=_since,
              help="Only give parents to posts created on or after DATE (YYYY-MM-DD or an RFC 3339 time).")
@click.option("--min-confidence", default=None, type=click.FloatRange(0, 1), callback=_confidence, metavar="X",
              help="List the links at least this sure (0: every link; without it none are listed; every link is "
                   "stored with its confidence, and --edges all reads them all).")
@click.option("--show-cut", is_flag=True,
              help="List the links the tree check cut (the posts head trees of their own), with the descendants "
                   "that decided it.")
@click.option("--full", is_flag=True, help="Recompute every post, not only what new posts can change.")
@click.option("--until", default=None, metavar="DATE", callback=_until,
              help="With --evaluate or --calibrate: read only the posts created at or before DATE (YYYY-MM-DD: to "
                   "the end of that day, or an RFC 3339 time), where the declared links are the whole truth (a platform that stopped "
                   "declaring links then).")
@click.option("--evaluate", is_flag=True,
              help="Hide the declared links, infer, and report accuracy and calibration against them (writes "
                   "nothing). The declared links are taken as the whole truth: a post without one counts as a root, "
                   "so on an archive that has lost some links a right guess scores as wrong (a simulated link "
                   "`ingest simulate --undeclared` left out is scored against its true parent).")
@click.option("--calibrate", is_flag=True,
              help="Fit how sure the links say they are on this archive's own declared links (hide them, infer, "
                   "refit the confidence's calibration), report the calibration error before and after "
                   "(cross-validated over the trees), and write the weights to ARCHIVE/inference_weights.json "
                   "(or --weights), which later runs on this archive read. The links do not change.")
@click.option("--fit", "refit", is_flag=True,
              help="Refit the weights on simulated truth and write data/inference_weights.json (about a minute).")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="A weights file (default: the archive's own, from --calibrate, else the shipped "
                   "data/inference_weights.json); with --fit or --calibrate, where to write.")
@archive_option
@json_option
@handle_errors
@_interrupted
def infer_cmd(source: str | None, since: datetime | None, min_confidence: float, show_cut: bool, full: bool,
              until: datetime | None, evaluate: bool, calibrate: bool, refit: bool, weights: Path | None,
              archive_path: Path | None, as_json: bool) -> None:
    """Infer the most likely earlier parent of every post without a declared or C2PA parent.

    Results go to the archive's inferred_edges table (declared links always win); read
    them with --edges all (trees, show, export, snapshot, report, dashboard). A post
    whose best candidate is too weak gets no parent and starts a tree, and so does a post
    heading a large tree of its own whose link the tree check finds unlike a remix.
    """
    from lineage.infer import (INFER_STAGES, archive_weights, confidence_text, infer, inferred_cut, inferred_edges,
                               load_weights, weights_for)
    from lineage.infer import evaluate as run_evaluate
    from lineage.infer_fit import fit

    # --min-confidence 0 lists every link; without the option none are listed
    listing = min_confidence is not None
    min_confidence = min_confidence or 0.0
    given = {"source": source if refit else None, "since": since, "min_confidence": listing,
             "show_cut": show_cut, "full": full}
    if refit and evaluate:
        raise click.UsageError("--fit and --evaluate are two runs: --fit writes the weights, then "
                               "`archivist infer --evaluate --weights PATH` measures them on this archive")
    if calibrate and refit:
        raise click.UsageError("--calibrate and --fit are two runs: --fit refits every weight on simulated archives, "
                               "then `archivist infer --calibrate` refits the confidence on this archive's links")
    if calibrate and evaluate:
        raise click.UsageError("--calibrate reports the calibration error before and after itself (cross-validated "
                               "over the trees); leave out --evaluate (run after it, --evaluate would score the "
                               "archive with a calibration fitted on the same links)")
    if refit or evaluate or calibrate:
        _refuse_ignored("--fit" if refit else "--evaluate" if evaluate else "--calibrate", given)
    if until is not None and not (evaluate or calibrate):
        raise click.UsageError("--until applies to --evaluate and --calibrate (the posts whose declared links are the "
                               "whole truth); a plain run takes --since")
    if refit and click.get_current_context().get_parameter_source("archive_path") == ParameterSource.COMMANDLINE:
        raise click.UsageError("--fit does not read an archive (it fits on simulated archives): leave out "
                               "--archive, or run `archivist infer --evaluate --archive PATH` to measure the "
                               "weights on it")
    show = not as_json and err_console.is_terminal
    plain = refit or evaluate or calibrate  # one long step each: a spinner; a plain run: a bar over its stages
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, disable=not show, transient=True) as bar:
        task = bar.add_task("infer", total=None if plain else len(INFER_STAGES))

        def progress(stage: str) -> None:
            step = INFER_STAGES.index(stage) if stage in INFER_STAGES else None if plain else len(INFER_STAGES)
            bar.update(task, description=f"infer: {stage}", **({"completed": step} if step is not None else {}))

        if refit:
            from archive.paths import data_dir
            from lineage.infer import WEIGHTS_FILE

            doc = fit(out=weights, progress=progress)
            mean = doc["report"]["evaluation"]["mean"]
            media = doc["report"]["evaluation_with_media"]["mean"]
            # where the file went: the shipped one lives in the package's data folder, not ./data
            where = str(Path(weights).resolve() if weights is not None else data_dir() / WEIGHTS_FILE)
            if as_json:
                emit_json({"weights": where, **mean, "with_media": media})
            else:
                console.print(f"fitted {len(doc['coef'])} weights into {where}; on unseen settings: parent "
                              f"{_f(mean['parent_accuracy'])} (baseline {_f(mean['baseline_parent_accuracy'])}), "
                              f"tree membership {_f(mean['tree_accuracy'])} (per link {_f(mean.get('link_tree_accuracy'))}), "
                              f"ECE {_f(mean['ece'])}; with every "
                              f"post's picture fingerprinted: parent {_f(media['parent_accuracy'])}, tree membership "
                              f"{_f(media['tree_accuracy'])}, ECE {_f(media['ece'])}", markup=False, highlight=False)
            return
        if calibrate:
            progress("calibrating")
            arc = open_archive(archive_path, read_only=True)
            _check_source(arc, source)
            _calibrate_cmd(arc, weights, as_json, source, until)
            return
        if evaluate:
            progress("evaluating")
            arc = open_archive(archive_path, read_only=True)
            _check_source(arc, source)
            rep = run_evaluate(arc, weights=load_weights(weights) if weights is not None else weights_for(arc.path),
                               source=source, until=until)
            for w_ in rep["warnings"]:  # on stderr: --json's output stays the report alone
                err_console.print(f"warning: {w_}", markup=False, highlight=False)
            if as_json:
                emit_json({k: rep[k] for k in _KEYS} | {k: rep[k] for k in ("link_tree_accuracy", "candidate_recall",
                                                                           "intervals", "reliability", "no_part",
                                                                           "undeclared_truth", "warnings")})
                return
            hidden = rep.get("undeclared_truth") or 0
            against = (f"the declared links and the simulator's truth of the {hidden:,} it left undeclared"
                       if hidden else "the declared links")
            t = Table(title=f"inference against {against} ({rep['n']:,} posts)", title_justify="left")
            t.add_column("figure")
            t.add_column("value", justify="right")
            t.add_column("95% interval", justify="right")
            for k in _KEYS[:3] + ["link_tree_accuracy"] + _KEYS[3:-1] + ["candidate_recall"]:
                iv = rep["intervals"].get(k)
                t.add_row(k, _f(rep[k]), f"{iv[0]:.3f}-{iv[1]:.3f}" if iv else "")
            console.print(t)
            why = ("" if rep["intervals"] else
                   " None here: the declared links make a single tree, and one tree says nothing of how trees vary.")
            console.print(f"95% interval (of {', '.join(sorted(rep['intervals'])) or 'the accuracies'}): a cluster "
                          f"bootstrap over the true trees.{why} tree_accuracy: the share of posts whose inferred root is "
                          "their true root (one wrong link misplaces every post below it); link_tree_accuracy: the share "
                          "whose own parent is in their true tree, or that are rightly left roots. candidate_recall: the "
                          "share of remixes whose true parent was among their candidates (the most the choice could "
                          "reach).", style="dim")
            if rep["no_part"]:
                console.print("no part (scored as roots): " + ", ".join(f"{v:,} {k}" for k, v in rep["no_part"].items()))
            r = Table(title="reliability", title_justify="left")
            for c in ("confidence bin", "edges", "mean confidence", "share right"):
                r.add_column(c, justify="right")
            for b in rep["reliability"]:
                r.add_row(b["bin"], f"{b['n']:,}", _f(b["confidence"]), _f(b["accuracy"]))
            console.print(r)
            return
        arc = open_archive(archive_path)
        _check_source(arc, source)
        w = load_weights(weights) if weights is not None else weights_for(arc.path)
        summary = infer(arc, source=source, since=since, weights=w, full=full, progress=progress)
        progress("checking which links readers keep")
        dropped = _left_out_by_readers(arc)
        summary["left_out_by_readers"] = dropped.height
        summary["left_out"] = dropped.to_dicts()
        own = archive_weights(arc.path) if weights is None else None
        summary["weights"] = str(Path(weights).resolve() if weights is not None
                                 else own.resolve() if own is not None else "shipped")
    import polars as pl

    if as_json:
        if listing:
            rows = inferred_edges(arc).filter(pl.col("confidence") >= min_confidence)
            out = pl.DataFrame(summary.get("left_out") or [], schema={"child": pl.String, "parent": pl.String})
            summary["edges"] = (rows.select("child", "parent", "confidence").sort("child")
                                .with_columns(left_out=pl.struct("child", "parent").is_in(
                                    out.select(pl.struct("child", "parent")).to_series().implode()))
                                .to_dicts())
        if show_cut:
            summary["cut"] = inferred_cut(arc).select("child", "parent", "confidence", "descendants").to_dicts()
        emit_json(summary)
        return
    console.print(_summary_line(summary, source=source, since=since), soft_wrap=True)
    if own is not None:
        console.print(f"confidence calibrated on this archive's own links ({own}; delete it to use the shipped "
                      "calibration)", style="dim", markup=False, highlight=False, soft_wrap=True)
    if listing:
        rows = (inferred_edges(arc).filter(pl.col("confidence") >= min_confidence)
                .sort(["confidence", "child"], descending=[True, False]))
        t = Table(title=f"inferred links at confidence >= {min_confidence}" + _shown(rows.height),
                  title_justify="left", min_width=40)
        for c in ("child", "parent", "confidence"):
            t.add_column(c)
        out = {(x["child"], x["parent"]) for x in summary.get("left_out", [])}
        for r in rows.head(_LISTED).iter_rows(named=True):
            t.add_row(r["child"], r["parent"], confidence_text(r["confidence"])
                      + (" (left out by readers: it closes a loop)" if (r["child"], r["parent"]) in out else ""))
        if rows.height:
            console.print(t)
        else:
            console.print(f"no inferred link at confidence >= {min_confidence}", soft_wrap=True)
    if show_cut:
        rows = inferred_cut(arc).sort("descendants", "child", descending=[True, False])
        if rows.height == 0:
            console.print("the tree check cut no link", soft_wrap=True)
            return
        t = Table(title=f"links cut by the tree check ({rows.height})" + _shown(rows.height),
                  title_justify="left", min_width=40)
        for c in ("child (starts a tree)", "parent cut", "confidence", "descendants"):
            t.add_column(c)
        for r in rows.head(_LISTED).iter_rows(named=True):
            t.add_row(r["child"], r["parent"], confidence_text(r["confidence"]), f"{r['descendants']:,}")
        console.print(t)


def _calibrate_cmd(arc: Any, weights: Path | None, as_json: bool, source: str | None = None,
                   until: datetime | None = None) -> None:
    """``archivist infer --calibrate``: :func:`lineage.infer_eval.recalibrate` on ``arc``, its weights written
    to ``weights`` (default: the archive's own file, :func:`lineage.infer.archive_weights`)."""
    import json
    from datetime import timezone

    from archive.paths import data_dir
    from lineage.errors import LineageError
    from lineage.infer import WEIGHTS_FILE
    from lineage.infer_eval import recalibrate
    from lineage.infer_fit import _check_writable

    out = Path(weights) if weights is not None else Path(arc.path) / WEIGHTS_FILE
    _check_writable(out)
    shipped = data_dir() / WEIGHTS_FILE
    if out.resolve() == shipped.resolve():
        raise click.UsageError(f"--calibrate would overwrite the shipped weights {shipped}: give another --weights "
                               "(or leave it out to write the archive's own)")
    w, rep = recalibrate(arc, source=source, until=until)  # from the shipped weights: only the calibration moves
    better = rep["ece_after"] < rep["ece_before"]
    rep["written"] = better
    if better:
        doc = json.loads(shipped.read_text("utf-8"))
        doc["calibration"] = list(w.calibration)
        doc["recalibration"] = {"archive": str(Path(arc.path).resolve()), "store_version": arc.version(),
                                "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "command": "archivist infer --calibrate", **rep}
        try:
            out.write_text(json.dumps(doc, indent=1) + "\n", "utf-8")
        except OSError as e:
            raise LineageError(f"cannot write the weights to {out} ({e.strerror or e}); give another --weights") from None
    if as_json:
        emit_json({"weights": str(out.resolve()) if better else None, **rep})
        return
    own = out.resolve() == (Path(arc.path) / WEIGHTS_FILE).resolve()
    hi = (f"; at confidence >= 0.9, precision {_f(rep['precision_at_0_9_before'])} -> "
          f"{_f(rep['precision_at_0_9_after'])} and share {_pct(rep['coverage_at_0_9_before'])} -> "
          f"{_pct(rep['coverage_at_0_9_after'])}")
    sim = (f"; {rep['undeclared_truth']:,} of them scored against the simulator's truth of a link it left undeclared"
           if rep.get("undeclared_truth") else "")
    console.print(f"calibrated the confidence on {rep['links']:,} links ({rep['trees']:,} trees, {_pct(rep['share_right'])} "
                  f"right{sim}): expected calibration error {_f(rep['ece_before'])} with the shipped calibration, "
                  f"{_f(rep['ece_after'])} with this archive's (cross-validated: each half of the trees scored by a fit "
                  f"on the other){hi}. The links do not change.", markup=False, highlight=False)
    if not better:
        console.print("the archive's own calibration is no better than the shipped one on its links (cross-validated): "
                      "nothing written, the shipped calibration stays in use", markup=False, highlight=False)
        return
    console.print(f"written to {out}; " + ("`archivist infer` and `--evaluate` on this archive now read it (delete it "
                                           "to use the shipped calibration)" if own else
                                           f"use it with --weights {out}"), markup=False, highlight=False, soft_wrap=True)


#: rows a table of links shows (--json lists every one)
_LISTED = 50


def _shown(n: int) -> str:
    return f", the first {_LISTED} of {n:,} (--json lists them all)" if n > _LISTED else ""


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"


def _summary_line(s: dict[str, Any], *, source: str | None, since: datetime | None) -> str:
    """The one-line summary: this run's posts (considered = parents found + no parent + no part), then
    the archive's table when the run did not cover every post."""
    from archive.shorten import visible

    cut = s.get("cut_by_tree_check", 0)
    cut_note = (f"; {cut:,} link{'s' if cut != 1 else ''} cut by the tree check (the posts head "
                "trees of their own; --show-cut lists them)" if cut else "")
    left = s.get("left_out_by_readers", 0)
    named = ", ".join(f"{visible(r['child'])} -> {visible(r['parent'])}" for r in s.get("left_out", [])[:3])
    more = f" and {left - 3:,} more (--json lists them)" if left > 3 else ""
    cut_note += (f"; {left:,} left out by readers ({named}{more}), as {'each' if left != 1 else 'it'} would close a "
                 "loop with declared links, which win" if left else "")
    table = (f"the archive keeps its {s['inferred_links']:,} inferred link{'s' if s['inferred_links'] != 1 else ''}"
             f" ({_pct(s['inferred_share_at_0_9'])} at confidence >= 0.9)" if s["inferred_links"]
             else "the archive holds no inferred link")
    if s.get("posts") == 0:
        return "the archive holds no post: nothing to infer (ingest some first, e.g. `archivist ingest jsonl FILE`)"
    if s["eligible"] == 0:
        scope = "".join(f" {x}" for x in (f"of source {source!r}" if source else "",
                                          f"created on or after {since:%Y-%m-%d %H:%M:%S} UTC" if since else "") if x)
        return f"no post{scope} lacks a declared parent: nothing to consider; {table}{cut_note}"
    if s["considered"] == 0:
        return f"nothing new to consider since the last run: {table}{cut_note}; --full recomputes every post"
    no_part = ", ".join(f"{v:,} {k}" for k, v in s["no_part"].items())
    line = (f"considered {s['considered']:,} post{'s' if s['considered'] != 1 else ''}, parents found for "
            f"{s['parents_found']:,} ({_pct(s['share_at_0_9'])} at confidence >= 0.9), none for {s['no_parent']:,} "
            "(each starts a tree)")
    if s["inferred_links"] != s["parents_found"]:  # links of posts this run did not look at are kept
        line += f"; {table}"
    return line + cut_note + (f"; no part: {no_part}" if no_part else "")


def _left_out_by_readers(arc: Any) -> Any:
    """The inferred links (``child, parent``: String, sorted) the readers leave out, as each would close a
    loop with declared links (``Archive.problems(edges="all")``, kind ``inferred_dropped``). An inferred
    link runs back in time, so only a declared parent created no earlier than its child can close such
    a loop: without one (the usual archive) there are none, found without building the graph with
    inferred links."""
    import polars as pl

    none = pl.DataFrame(schema={"child": pl.String, "parent": pl.String})
    declared = arc.edges()
    if not declared.height or arc.table_version("inferred_edges") < 0:
        return none
    when = arc.posts().select("id", "created_at")
    forward = (declared.select("child", "parent")
               .join(when.rename({"id": "child", "created_at": "t_child"}), on="child")
               .join(when.rename({"id": "parent", "created_at": "t_parent"}), on="parent")
               .filter(pl.col("t_parent") >= pl.col("t_child")))
    if not forward.height:
        return none
    return (arc.problems(edges="all").filter(pl.col("kind") == "inferred_dropped")
            .select(child="id", parent="parent").sort("child"))


#: registered by ``dashboard.cli.build_cli``
COMMANDS = (infer_cmd,)
