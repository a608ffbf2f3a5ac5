"""The ``archivist`` command line: the group, shared options and the archive commands.

Other packages add their commands to :data:`cli` (``lineage.cli``,
``dashboard.cli``); the console script is ``dashboard.cli:main``. Library errors
become one-line messages and exit code 1 here, at the edge.
"""
from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import polars as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from rich.tree import Tree as RichTree

from archive.errors import ArchiveError
from archive.ingest import DEFAULT_BATCH, IngestResult, Source, ingest
from archive.paths import default_archive_path
from archive.store import Archive

__all__ = ["cli", "ingest_group", "archive_option", "json_option", "as_of_option", "handle_errors",
           "emit_json", "console", "err_console", "run_ingest", "open_archive", "shorten"]

F = TypeVar("F", bound=Callable[..., Any])
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def handle_errors(f: F) -> F:
    """Turn library errors into a one-line message on stderr and exit code 1."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except ArchiveError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            err_console.print("interrupted: committed batches are kept; run the same command again to finish")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def archive_option(f: F) -> F:
    return click.option(
        "--archive", "archive_path", type=click.Path(path_type=Path), default=None, envvar="REMIX_ARCHIVE",
        show_envvar=True, help="The archive folder (default ./remix-archive).",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")(f)


def edges_option(f: F) -> F:
    return click.option("--edges", "edges", type=click.Choice(["declared", "all"]), default="declared",
                        show_default=True,
                        help="declared: links the sources state (declared, C2PA); all: plus the links "
                             "`archivist infer` reconstructed (marked inferred, with their confidence).")(f)


def as_of_option(f: F) -> F:
    return click.option("--as-of", default=None, metavar="VERSION|TIME",
                        help="Read the archive as it was: a store version number or an RFC 3339 time/date.")(f)


def _default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat().replace("+00:00", "Z")
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON (frames as lists of row objects)."""
    if isinstance(obj, pl.DataFrame):
        obj = obj.to_dicts()
    click.echo(json.dumps(obj, default=_default, ensure_ascii=False, indent=2))


def open_archive(path: Path | None, *, create: bool = False, read_only: bool = False) -> Archive:
    return Archive.open(path if path is not None else default_archive_path(), create=create, read_only=read_only)


def shorten(text: str | None, width: int = 80) -> str:
    """One line of at most ``width`` characters, control and bidi characters made visible."""
    if not text:
        return ""
    s = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text.replace("\n", " "))
    return s if len(s) <= width else s[: width - 1] + "…"


def _as_of(v: str | None) -> int | str | None:
    if v is None:
        return None
    return int(v) if v.strip().isdigit() else v


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="remix-archivist")
def cli() -> None:
    """Remix Archivist: collect public remix chains of generated media, measure how ideas
    mutate down them, show them in a dashboard and archive them.

    Start with `archivist demo`. Every command takes --help; the archive folder is
    --archive PATH, $REMIX_ARCHIVE or ./remix-archive.
    """


@cli.group("ingest")
def ingest_group() -> None:
    """Collect remix records from a source into the archive.

    Every run is kept in the archive's `runs` table with its counts
    (read = stored + unchanged + quarantined). Records that break the schema go to
    quarantine with every reason. Killed midway, the same command finishes the job.
    """


def run_ingest(archive: Archive, source: Source, *, as_json: bool, batch_size: int = DEFAULT_BATCH,
               total: int | None = None) -> IngestResult:
    """Run an ingest with a progress bar on stderr and print its summary."""
    show = not as_json and err_console.is_terminal
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("records"), TimeElapsedColumn(), console=err_console, disable=not show,
                  transient=True) as bar:
        task = bar.add_task(f"ingest {source.name}", total=total)
        result = ingest(archive, source, batch_size=batch_size, progress=lambda n: bar.update(task, completed=n))
    if as_json:
        emit_json(result.as_dict())
    else:
        line = Text()
        line.append(f"ingest {source.name} ", style="bold")
        line.append(shorten(source.target, 70))
        line.append(f": read {result.read:,} = stored {result.stored:,} + unchanged {result.unchanged:,}"
                    f" + quarantined {result.quarantined:,} ({result.commits} commit(s), store version "
                    f"{result.store_version})")
        if result.resumed_from:
            line.append(f"; resumed from {shorten(result.resumed_from, 60)}", style="dim")
        console.print(line)
        if result.quarantined:
            top = ", ".join(f"{k} ({v})" for k, v in sorted(result.reasons.items(), key=lambda kv: -kv[1])[:5])
            err_console.print(f"{result.quarantined} record(s) quarantined: {top}. "
                              "See them with `archivist quarantine`.")
    return result


@ingest_group.command("jsonl")
@click.argument("paths", nargs=-1, required=True)
@click.option("--batch-size", default=DEFAULT_BATCH, show_default=True, help="Records per atomic commit.")
@click.option("--allow-private", is_flag=True, help="Allow URLs on loopback or private addresses.")
@archive_option
@json_option
@handle_errors
def ingest_jsonl(paths: tuple[str, ...], batch_size: int, allow_private: bool, archive_path: Path | None,
                 as_json: bool) -> None:
    """Ingest remix records from JSON Lines: files, folders, .gz, - for stdin, or an http(s) URL.

    \b
    Examples:
      archivist ingest jsonl data/sample/remixes.jsonl.gz
      cat records.jsonl | archivist ingest jsonl -
    """
    from archive.sources.jsonl import JsonlSource

    opener = None
    if any(p.startswith(("http://", "https://")) for p in paths):
        from archive.sources.http import open_url

        opener = functools.partial(open_url, allow_private=allow_private)
    source = JsonlSource(list(paths), url_opener=opener)
    run_ingest(open_archive(archive_path, create=True), source, as_json=as_json, batch_size=batch_size)


@ingest_group.command("simulate")
@click.option("--seed", default=42, show_default=True, help="Random seed: the same seed gives the same archive.")
@click.option("--posts", default=3000, show_default=True, help="How many posts to generate.")
@click.option("--m0", default=3.0, show_default=True, help="Mean remixes of a root.")
@click.option("--gamma", default=0.75, show_default=True, help="Branching decay per generation (m_g = m0 gamma^g).")
@click.option("--bleed", default=0.2, show_default=True, help="Probability a new style term is borrowed from another tree.")
@click.option("--mutation-rate", default=1.2, show_default=True, help="Mean prompt edits per remix.")
@click.option("--half-life", "half_life", default=3.0, show_default=True, help="Activity half-life in days.")
@click.option("--attachment", default=0.0, show_default=True,
              help="Popularity spread: popular posts draw most remixes (0: every post alike).")
@click.option("--repost", default=0.0, show_default=True, help="Probability a remix keeps its parent's prompt verbatim.")
@click.option("--self-remix", default=0.0, show_default=True, help="Probability a remix is by its parent's author.")
@click.option("--cross-copy", default=0.0, show_default=True,
              help="Probability a new tree starts from an undeclared copy of another tree's post.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write JSON Lines (and <name>.truth.json beside it) instead of ingesting.")
@archive_option
@json_option
@handle_errors
def ingest_simulate(seed: int, posts: int, m0: float, gamma: float, bleed: float, mutation_rate: float,
                    half_life: float, attachment: float, repost: float, self_remix: float, cross_copy: float,
                    out: Path | None, archive_path: Path | None, as_json: bool) -> None:
    """Generate a realistic remix network with known parameters (the seeded simulator).

    The ground truth (parameters and realised figures) is written beside the output:
    <out>.truth.json, or simulations/seed-N.truth.json inside the archive.
    """
    from archive.sources.simulate import SimParams, SimulateSource, simulate, write_jsonl

    if posts < 1:
        raise click.BadParameter("must be at least 1", param_hint="--posts")
    params = SimParams(seed=seed, posts=posts, m0=m0, gamma=gamma, bleed=bleed, mutation_rate=mutation_rate,
                       activity_half_life_days=half_life, attachment=attachment, repost=repost,
                       self_remix=self_remix, cross_copy=cross_copy)
    if out is not None:
        records, truth = simulate(params)
        write_jsonl(records, out, truth)
        if as_json:
            emit_json({"out": str(out), "posts": len(records), "trees": truth["trees"]})
        else:
            console.print(f"wrote {len(records)} records in {truth['trees']} trees to {out}")
        return
    arc = open_archive(archive_path, create=True)
    source = SimulateSource(params)
    run_ingest(arc, source, as_json=as_json, total=posts)
    truth_path = arc.path / "simulations" / f"seed-{seed}-posts-{posts}.truth.json"
    truth_path.parent.mkdir(exist_ok=True)
    truth_path.write_text(json.dumps(source.truth, indent=2, ensure_ascii=False), "utf-8")
    if not as_json:
        console.print(f"ground truth: {truth_path}")


@cli.command("trees")
@click.option("--sort", type=click.Choice(["size", "active", "depth", "views"]), default="size", show_default=True,
              help="Largest, most recently active, deepest or most viewed first.")
@click.option("--limit", default=20, show_default=True)
@archive_option
@as_of_option
@edges_option
@json_option
@handle_errors
def trees_cmd(sort: str, limit: int, archive_path: Path | None, as_of: str | None, edges: str, as_json: bool) -> None:
    """List remix trees: the largest (or most active, deepest, most viewed) first."""
    arc = open_archive(archive_path, read_only=True)
    col = {"size": "size", "active": "last_at", "depth": "depth", "views": "views"}[sort]
    t = arc.trees(_as_of(as_of), edges=edges).sort([col, "root"], descending=[True, False], nulls_last=True).head(limit)
    if as_json:
        emit_json(t.drop("root_placeholder"))
        return
    table = Table(title=f"trees by {sort} ({arc.trees(_as_of(as_of), edges=edges).height} in all)",
                  title_justify="left")
    for c in ("root", "size", "depth", "breadth", "last activity", "views", "root prompt"):
        table.add_column(c, overflow="fold" if c == "root prompt" else "ellipsis",
                         justify="right" if c in ("size", "depth", "breadth", "views") else "left")
    for r in t.iter_rows(named=True):
        table.add_row(Text(r["root"]), str(r["size"]), str(r["depth"]), str(r["breadth"]),
                      str(r["last_at"])[:16] if r["last_at"] else "", str(r["views"] or 0),
                      Text(shorten(r["root_text"], 60) if not r["root_placeholder"] else "(not in the archive)"))
    console.print(table)


@cli.command("show")
@click.argument("post_id")
@click.option("--depth", "max_depth", default=4, show_default=True, help="Generations to draw below the node.")
@click.option("--max-children", default=8, show_default=True, help="Children drawn per node; the rest are counted.")
@archive_option
@as_of_option
@edges_option
@json_option
@handle_errors
def show_cmd(post_id: str, max_depth: int, max_children: int, archive_path: Path | None, as_of: str | None,
             edges: str, as_json: bool) -> None:
    """Draw the tree of a post in the terminal: its path from the root, then its remixes."""
    arc = open_archive(archive_path, read_only=True)
    at = _as_of(as_of)
    anc = arc.ancestors(post_id, as_of=at, edges=edges)
    desc = arc.descendants(post_id, depth=max_depth, as_of=at, edges=edges)
    if as_json:
        emit_json({"id": post_id, "root": arc.root_of(post_id, at, edges=edges),
                   "ancestors": anc.select("id", "depth", "text", "created_at").to_dicts(),
                   "descendants": desc.select("id", "parent", "depth", "text", "created_at").to_dicts()})
        return

    def label(row: dict) -> Text:
        t = Text()
        t.append(row["id"], style="bold cyan")
        if row.get("placeholder"):
            t.append("  (not in the archive)", style="dim")
        else:
            t.append(f"  {str(row.get('created_at') or '')[:10]}  ", style="dim")
            t.append(shorten(row.get("text"), 90))
        return t

    rows = {r["id"]: r for r in anc.iter_rows(named=True)}
    path = anc.get_column("id").to_list()
    top = RichTree(label(rows[path[0]]))
    node = top
    for pid in path[1:]:
        node = node.add(label(rows[pid]))
    children: dict[str, list[dict]] = {}
    for r in desc.iter_rows(named=True):
        children.setdefault(r["parent"], []).append(r)
    stack = [(node, post_id)]
    while stack:
        parent_node, pid = stack.pop()
        kids = children.get(pid, [])
        for r in kids[:max_children]:
            stack.append((parent_node.add(label(r)), r["id"]))
        if len(kids) > max_children:
            parent_node.add(Text(f"… {len(kids) - max_children} more remixes", style="dim"))
    console.print(top)
    console.print(Text(f"{len(path) - 1} ancestor(s), {desc.height} remix(es) within {max_depth} generation(s)",
                       style="dim"))


@cli.command("stats")
@archive_option
@as_of_option
@json_option
@handle_errors
def stats_cmd(archive_path: Path | None, as_of: str | None, as_json: bool) -> None:
    """Counts: posts, placeholders, edges, trees, depth, runs, quarantine, cycles."""
    s = open_archive(archive_path, read_only=True).stats(_as_of(as_of))
    if as_json:
        emit_json(s)
        return
    t = Table(show_header=False, title=f"archive {s['archive']} (version {s['version']})", title_justify="left")
    for k, v in s.items():
        if k not in ("archive", "version", "sources"):
            t.add_row(k.replace("_", " "), f"{v:,}" if isinstance(v, int) else str(v))
    t.add_row("sources", ", ".join(f"{k} ({v:,})" for k, v in s["sources"].items()))
    console.print(t)


@cli.command("runs")
@click.option("--limit", default=20, show_default=True)
@archive_option
@json_option
@handle_errors
def runs_cmd(limit: int, archive_path: Path | None, as_json: bool) -> None:
    """Ingest runs, newest first, with their counts and state."""
    r = open_archive(archive_path, read_only=True).runs().head(limit)
    if as_json:
        emit_json(r)
        return
    t = Table(title="ingest runs", title_justify="left")
    for c in ("run", "source", "target", "status", "started", "read", "stored", "unchanged", "quarantined"):
        t.add_column(c)
    for x in r.iter_rows(named=True):
        t.add_row(x["run_id"], x["source"], Text(shorten(x["target"], 40)), x["status"], str(x["started_at"])[:19],
                  *(str(x[k]) for k in ("read", "stored", "unchanged", "quarantined")))
    console.print(t)


@cli.command("quarantine")
@click.option("--limit", default=20, show_default=True)
@archive_option
@json_option
@handle_errors
def quarantine_cmd(limit: int, archive_path: Path | None, as_json: bool) -> None:
    """Records that broke the schema, with where they came from and every reason."""
    q = open_archive(archive_path, read_only=True).quarantine().sort("quarantined_at", descending=True)
    if as_json:
        emit_json(q.head(limit))
        return
    t = Table(title=f"quarantine ({q.height} records)", title_justify="left")
    for c in ("location", "reasons", "raw"):
        t.add_column(c, overflow="fold")
    for x in q.head(limit).iter_rows(named=True):
        t.add_row(Text(shorten(x["location"], 50)), Text("\n".join(x["reasons"])), Text(shorten(x["raw"], 60)))
    console.print(t)
