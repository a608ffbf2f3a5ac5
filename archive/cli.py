"""The ``archivist`` command line: the group, shared options and the archive commands.

Other packages add their commands to :data:`cli` (``lineage.cli``,
``dashboard.cli``); the console script is ``dashboard.entry:main``. Library errors
become one-line messages and exit code 1 here, at the edge.
"""
from __future__ import annotations

import contextlib
import functools
import json
import shlex
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

from archive.errors import ArchiveError, resource_problem
from archive.ingest import DEFAULT_BATCH, IngestResult, Source, ingest
from archive.paths import default_archive_path
from archive.store import Archive, scan_delta

__all__ = ["cli", "ingest_group", "progress_bar", "archive_option", "json_option", "as_of_option", "handle_errors",
           "emit_json", "console", "err_console", "run_ingest", "open_archive", "shorten", "print_table", "wide_option"]

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
            # one message for every command: a reading one changed nothing, a writing one keeps what it committed
            # ("committed batches are kept" told a Ctrl-C'd `show` of batches it never had)
            err_console.print("interrupted: the archive keeps every step already committed (a command that only "
                              "reads changed nothing); run the same command again to finish")
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BaseException as e:  # a full disk, a read-only folder, a missing permission: one line too
            problem = resource_problem(e)
            if problem is None:
                raise
            raise click.ClickException(f"{problem[0]}: {problem[1]}") from None

    return wrapper  # type: ignore[return-value]


def archive_option(f: F) -> F:
    return click.option(
        "--archive", "archive_path", type=click.Path(path_type=Path), default=None, envvar="REMIX_ARCHIVE",
        show_envvar=True, help="The archive folder (default ./remix-archive).",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")(f)


def wide_option(f: F) -> F:
    return click.option("--wide", is_flag=True,
                        help="Every column, text uncut (lines may be wider than the terminal).")(f)


def print_table(table: Table, *, ids: tuple[str, ...] = (), drop: tuple[str, ...] = (),
                wide: bool | None = None) -> None:
    """Print ``table`` so that the columns named in ``ids`` (ids, paths, bag names) are never cut.

    Id columns keep their full width. Every other column keeps room for its header and short
    values (up to 14 cells, longer text folds); when the terminal is too narrow for all that,
    the columns in ``drop`` are left out, first named first, and a line after the table names
    them and what shows them (``--wide`` where the command has it: ``wide`` is not None, and
    ``--json``). When even then the id columns leave the others no room (a long path), each row
    is printed as a block instead: its first column whole on a line, then one ``name: value``
    line per other column. ``wide`` prints every column at full width, whatever the terminal's
    width (``--wide``).
    """
    from rich.cells import cell_len

    def natural(col: Any) -> int:
        return max([cell_len(str(col.header))] + [cell_len(str(c)) for c in col._cells])

    for col in table.columns:
        if str(col.header) in ids:
            col.no_wrap, col.overflow = True, "fold"
            col.min_width = max((cell_len(str(c)) for c in col._cells), default=0)
        else:
            col.min_width = min(natural(col), 14)
    if wide:
        # a console as wide as the table: print(width=) is capped at the console's own width, and the
        # columns beside a long id were squeezed to nothing
        Console(width=max(console.width, sum(natural(c) + 3 for c in table.columns) + 1),
                highlight=False).print(table, crop=False, soft_wrap=True)
        return

    def fits() -> bool:
        return sum((c.min_width or 0) + 3 for c in table.columns) + 1 <= console.width

    every = list(table.columns)
    left_out = []
    for name in drop:
        if fits():
            break
        if any(str(c.header) == name for c in table.columns):
            left_out.append(name)
            table.columns[:] = [c for c in table.columns if str(c.header) != name]
    if fits() or len(table.columns) < 2:
        console.print(table)
    else:  # the id columns alone fill the width: a block per row, every column, nothing cut or squeezed
        left_out = []
        if table.title:
            console.print(Text(str(table.title), style="italic"))
        first, rest = every[0], every[1:]
        for k, head in enumerate(first._cells):
            console.print(head if isinstance(head, Text) else Text(str(head)), style="bold", soft_wrap=True)
            # "name: value" lines, a value's wrapped lines indented under it (never read as the next row)
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=1)
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            for col in rest:
                grid.add_row("", f"{col.header}:", col._cells[k])
            console.print(grid)
    if left_out:
        how = "--wide or --json" if wide is not None else "--json or a wider terminal"
        console.print(Text(f"left out at {console.width} columns: {', '.join(left_out)} ({how} shows them)",
                           style="dim"))


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
    """One line of at most ``width`` characters, control and bidi characters made visible as ``⟨U+202E⟩``
    (as in the dashboard's figure labels and the Markdown reports: :data:`lineage.bidi.BIDI_CONTROLS`).

    >>> shorten("corgi\\u202e surfing\\u0007\\nat dawn")
    'corgi⟨U+202E⟩ surfing⟨U+0007⟩ at dawn'
    """
    if not text:
        return ""
    from archive.shorten import cut, visible

    return cut(visible(text.replace("\n", " ")), width)


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


def progress_bar(*, show: bool, unit: str | None = None) -> Progress:
    """The progress bar every long command shows on stderr (a terminal only; gone when done).

    ``show`` is False with --json or when stderr is not a terminal; ``unit`` names what is counted.
    """
    cols = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    if unit:
        cols.append(TextColumn(unit))
    return Progress(*cols, TimeElapsedColumn(), console=err_console, disable=not (show and err_console.is_terminal),
                    transient=True)


def run_ingest(archive: Archive, source: Source, *, as_json: bool, batch_size: int = DEFAULT_BATCH,
               total: int | None = None, also: Callable[[], dict[str, Any]] | None = None) -> IngestResult:
    """Run an ingest with a progress bar on stderr and print its summary (``also``: more keys for --json,
    asked for once the ingest is done)."""
    with progress_bar(show=not as_json, unit="records") as bar:
        task = bar.add_task(f"ingest {source.name}", total=total)
        result = ingest(archive, source, batch_size=batch_size, progress=lambda n: bar.update(task, completed=n))
    if as_json:
        emit_json(result.as_dict() | (also() if also is not None else {}))
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
@click.option("--allow-private", is_flag=True,
              help="Allow URLs on loopback or private addresses (never link-local or cloud-metadata ones).")
@click.option("--allow-host", "allow_host", multiple=True, metavar="HOST",
              help="Allow this host even on a loopback or private address (repeatable).")
@click.option("--allow-link-local", is_flag=True, help="Also allow link-local and cloud-metadata addresses.")
@archive_option
@json_option
@handle_errors
def ingest_jsonl(paths: tuple[str, ...], batch_size: int, allow_private: bool, allow_host: tuple[str, ...],
                 allow_link_local: bool, archive_path: Path | None, as_json: bool) -> None:
    """Ingest remix records from JSON Lines: files, folders, .gz, - for stdin, or an http(s) URL.

    \b
    Examples:
      archivist ingest jsonl data/sample/remixes.jsonl.gz
      cat records.jsonl | archivist ingest jsonl -
    """
    from archive.sources.jsonl import JsonlSource

    opener = None
    if any(p.startswith(("http://", "https://")) for p in paths):
        from archive.sources.http import NetPolicy, open_url

        opener = functools.partial(open_url, allow_private=NetPolicy.from_options(allow_private, allow_host,
                                                                                  allow_link_local))
    source = JsonlSource(list(paths), url_opener=opener)
    arc = open_archive(archive_path, create=True)
    result = run_ingest(arc, source, as_json=as_json, batch_size=batch_size)
    if result.stored:  # the simulator's pictures (ingest simulate --out --fingerprints) are pictures here too
        _simulated_fingerprints(arc, result.run_id)
    if source.incomplete:  # what was read is stored; the exit code says the file was not whole
        from archive.errors import SourceError

        raise SourceError("; ".join(source.incomplete))


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
@click.option("--style-popularity", default=0.0, show_default=True,
              help="Zipf exponent of style terms' popularity: popular terms recur across trees (0: each tree "
                   "its own terms).")
@click.option("--edge-delays", is_flag=True,
              help="Draw each remix's delay from its parent's time (cascade timing) instead of handing a tree's "
                   "times out in breadth-first order.")
@click.option("--fingerprints", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Share of posts whose picture has a PDQ fingerprint (written to the archive's media_fingerprints "
                   "table; with --out, in each record's extra.simulator.pdq).")
@click.option("--no-prompt", "no_prompt", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Share of posts held without their prompt (an exported file, a re-post with no text): with "
                   "--fingerprints, known by their picture alone.")
@click.option("--media-reuse", default=0.5, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Probability a remix re-uses its parent's picture (moved as real re-posts move PDQ); else its "
                   "picture is new.")
@click.option("--undeclared", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Share of remixes whose record states no parent (a platform that stopped declaring links): "
                   "`archivist infer` reconstructs them; the truth stays in extra.simulator.parent.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write JSON Lines (and <name>.truth.json beside it) instead of ingesting.")
@archive_option
@json_option
@handle_errors
def ingest_simulate(seed: int, posts: int, m0: float, gamma: float, bleed: float, mutation_rate: float,
                    half_life: float, attachment: float, repost: float, self_remix: float, cross_copy: float,
                    style_popularity: float, edge_delays: bool, fingerprints: float, no_prompt: float,
                    media_reuse: float, undeclared: float, out: Path | None, archive_path: Path | None,
                    as_json: bool) -> None:
    """Generate a realistic remix network with known parameters (the seeded simulator).

    The ground truth (parameters and realised figures) is written beside the output:
    <out>.truth.json, or simulations/seed-SEED-posts-POSTS.truth.json inside the archive.
    """
    from archive.sources.simulate import SimParams, SimulateSource, check_params, simulate, truth_file, write_jsonl

    if posts < 1:
        raise click.BadParameter("must be at least 1", param_hint="--posts")
    params = SimParams(seed=seed, posts=posts, m0=m0, gamma=gamma, bleed=bleed, mutation_rate=mutation_rate,
                       activity_half_life_days=half_life, attachment=attachment, repost=repost,
                       self_remix=self_remix, cross_copy=cross_copy, style_popularity=style_popularity,
                       edge_delays=edge_delays, fingerprints=fingerprints, media_reuse=media_reuse,
                       no_prompt=no_prompt, undeclared=undeclared)
    check_params(params, _SIMULATE_OPTIONS)  # before anything is written
    if out is not None and out.name.lower().endswith(".truth.json"):
        raise click.BadParameter(f"{out.name} is the name of a truth file: the records would be overwritten by "
                                 "their own truth; name them e.g. sim.jsonl.gz", param_hint="--out")
    if out is not None:
        records, truth = simulate(params)
        write_jsonl(records, out, truth)
        hidden = truth["realised"]["undeclared_links"]
        if as_json:
            emit_json({"out": str(out), "truth": str(truth_file(out)), "posts": len(records), "trees": truth["trees"],
                       "undeclared_links": hidden})
        else:
            console.print(f"wrote {len(records):,} records in {truth['trees']:,} trees to {out}; ground truth: "
                          f"{truth_file(out)}", soft_wrap=True)
            if hidden:
                console.print(f"{hidden:,} remix links left undeclared (their true parents are in "
                              f"extra.simulator.parent): `archivist ingest jsonl {shlex.quote(str(out))}`, then "
                              "`archivist infer` reconstructs them", soft_wrap=True)
        return
    arc = open_archive(archive_path, create=True)
    source = SimulateSource(params)
    with err_console.status(f"simulating {posts:,} posts …", spinner="dots") if err_console.is_terminal and \
            not as_json else contextlib.nullcontext():
        source.prepare()
    truth_path = arc.path / "simulations" / f"seed-{seed}-posts-{posts}.truth.json"
    run_ingest(arc, source, as_json=as_json, total=posts,
               also=lambda: {"undeclared_links": source.truth["realised"]["undeclared_links"], "truth": str(truth_path)})
    _simulated_fingerprints(arc)
    truth_path.parent.mkdir(exist_ok=True)
    truth_path.write_text(json.dumps(source.truth, indent=2, ensure_ascii=False), "utf-8")
    if not as_json:
        console.print(f"ground truth: {truth_path}", soft_wrap=True)
        hidden = source.truth["realised"]["undeclared_links"]
        if hidden:
            from lineage.infer_eval import undeclared_truth

            open_now = len(undeclared_truth(arc))
            kept = (f"; {hidden - open_now:,} of them are still declared by an earlier ingest of the same posts "
                    "(a declared link stays)" if open_now < hidden else "")
            then = (f": `archivist infer --archive {shlex.quote(str(arc.path))}` reconstructs "
                    f"{'them' if open_now == hidden else f'the other {open_now:,}'}" if open_now
                    else ", so there is nothing for `archivist infer` to reconstruct")
            console.print(f"{hidden:,} remix links left undeclared (their true parents are in extra.simulator.parent)"
                          f"{kept}{then}", soft_wrap=True)


#: ``ingest simulate``'s options by the simulator setting each sets, for messages naming what was typed.
_SIMULATE_OPTIONS = {"posts": "--posts", "m0": "--m0", "gamma": "--gamma", "bleed": "--bleed",
                     "mutation_rate": "--mutation-rate", "activity_half_life_days": "--half-life",
                     "attachment": "--attachment", "repost": "--repost", "self_remix": "--self-remix",
                     "cross_copy": "--cross-copy", "style_popularity": "--style-popularity",
                     "fingerprints": "--fingerprints", "no_prompt": "--no-prompt", "media_reuse": "--media-reuse",
                     "undeclared": "--undeclared"}


def _simulated_fingerprints(arc: Any, run_id: str | None = None) -> int:
    """Make the simulated pictures' rows of ``media_fingerprints`` what the archive's latest simulated
    records say (``extra.simulator.pdq``), as the media part writes a real picture's: lineage inference
    and visual drift read them. With ``run_id``, only the posts that run stored are looked at (an
    ingest of other records reads no more than it wrote). Returns how many rows were written (0:
    already so).

    Read from the stored records, not from one run's source, so the pictures of a simulation written
    with ``--out`` and ingested with ``ingest jsonl`` are kept, and a rerun with another
    ``--media-reuse`` or ``--fingerprints`` replaces a post's old picture instead of giving it two.
    Rows of real media (they have a sha256) are never touched."""
    import polars as pl

    from archive.media.store import FINGERPRINT_SCHEMA, FINGERPRINTS_TABLE
    from archive.sources.simulate import simulator_values

    if not arc.has_table("records"):
        return 0
    log = scan_delta(arc.table_path("records")).filter(pl.col("source") == "simulate")
    if run_id is not None:
        log = log.filter(pl.col("run_id") == run_id)
    touched = log.select("id").unique().collect()
    if touched.height == 0:
        return 0
    want = simulator_values(arc, "pdq", run_id=run_id).rename({"value": "pdq"})
    table = arc.read_table(FINGERPRINTS_TABLE, schema=FINGERPRINT_SCHEMA)
    mine = (pl.col("sha256").is_null() & pl.col("id").str.starts_with("simulate:")
            & pl.col("id").is_in(touched.get_column("id").implode()))
    have = table.filter(mine).select("id", "pdq").unique().sort("id", "pdq")
    rows = want.with_columns(sha256=pl.lit(None, pl.String), kind=pl.lit("image"), frame_s=pl.lit(None, pl.Float64),
                             quality=pl.lit(100, pl.Int32), phash=pl.lit(None, pl.String)
                             ).select(list(FINGERPRINT_SCHEMA)).cast(FINGERPRINT_SCHEMA)  # type: ignore[arg-type]
    if have.equals(want):
        return 0
    if have.join(want, on=["id", "pdq"], how="anti").height == 0:  # only new posts: append them
        new = rows.join(have, on=["id", "pdq"], how="anti")
        arc.append(FINGERPRINTS_TABLE, new)
        return new.height
    arc.write_table(FINGERPRINTS_TABLE, pl.concat([table.filter(~mine), rows]))
    return rows.height


def _no_inferred_note(arc: Any, edges: str) -> None:
    """With ``--edges all`` on an archive ``archivist infer`` never ran on: say so (stderr), rather than
    hand over what looks like the graph with inferred links and is the declared one."""
    if edges == "all" and arc.table_version("inferred_edges") < 0:
        err_console.print(Text("note: no inferred links to add: `archivist infer` never ran on this archive "
                               "(run it first)"), soft_wrap=True)


@cli.command("trees")
@click.option("--sort", type=click.Choice(["size", "active", "depth", "views"]), default="size", show_default=True,
              help="Largest, most recently active, deepest or most viewed first.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@archive_option
@as_of_option
@edges_option
@json_option
@wide_option
@handle_errors
def trees_cmd(sort: str, limit: int, archive_path: Path | None, as_of: str | None, edges: str, as_json: bool,
              wide: bool) -> None:
    """List remix trees: the largest (or most active, deepest, most viewed) first."""
    arc = open_archive(archive_path, read_only=True)
    _no_inferred_note(arc, edges)
    col = {"size": "size", "active": "last_at", "depth": "depth", "views": "views"}[sort]
    t = arc.trees(_as_of(as_of), edges=edges).sort([col, "root"], descending=[True, False], nulls_last=True).head(limit)
    if as_json:
        emit_json(t.drop("root_placeholder"))
        return
    table = Table(title=f"trees by {sort} ({arc.trees(_as_of(as_of), edges=edges).height:,} in all)",
                  title_justify="left")
    for c in ("root", "size", "depth", "breadth", "last activity", "views", "root prompt"):
        table.add_column(c, overflow="fold", justify="right" if c in ("size", "depth", "breadth", "views") else "left")
    for r in t.iter_rows(named=True):
        table.add_row(Text(r["root"]), str(r["size"]), str(r["depth"]), str(r["breadth"]),
                      str(r["last_at"])[:16] if r["last_at"] else "", "–" if r["views"] is None else f"{r['views']:,}",
                      Text(shorten(r["root_text"], 10_000 if wide else 60) if not r["root_placeholder"]
                           else "(not in the archive)"))
    print_table(table, ids=("root",), drop=("breadth", "views", "last activity", "depth"), wide=wide)


def _draw_tree(entries: list[tuple[int, tuple[bool, ...], Any]], head: Callable[[dict], tuple[Text, str]]) -> None:
    """Print ``entries`` (level, the is-last flag of each level, a row or a plain line) as a tree, one line
    each, with rich's tree guides: ids, marks and dates are never cut, the prompt is cut where the terminal
    ends. Past the levels the terminal has room for (a chain 250 deep: rich's tree drew nothing of its
    lower posts, the one asked for included), only the nearest levels' guides are drawn, after the level's
    number (``⋯252``)."""
    width = console.width
    room = max(2, (width - 40) // 6)  # levels of guides drawn: room is left for an id, a date and some words
    for level, flags, item in entries:
        guides = ""
        shown = flags
        if level > room:
            skip = level - room
            guides = f"⋯{level} "
            shown = shown[skip:]
        for k, last in enumerate(shown):
            at_node = k == len(shown) - 1
            guides += ("└── " if last else "├── ") if at_node else ("    " if last else "│   ")
        line = Text(guides, style="dim")
        if isinstance(item, str):
            line.append(item, style="dim")
            console.print(line, soft_wrap=False, overflow="fold")
            continue
        label, prompt = head(item)
        line.append_text(label)
        rest = width - line.cell_len
        if prompt and rest >= 2:
            p = Text(prompt)
            p.truncate(rest, overflow="ellipsis")
            line.append_text(p)
        console.print(line, overflow="fold")


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
    anc = arc.lineage_path(post_id, as_of=at, edges=edges)  # root first, the post last
    desc = arc.descendants(post_id, depth=max_depth, as_of=at, edges=edges)  # over every parent, not only the primary one
    root = arc.root_of(post_id, at, edges=edges)
    members = arc.lineage(at, edges=edges).filter(pl.col("root") == root).select("id", "placeholder")
    root_placeholder = bool(members.filter(pl.col("id") == root).get_column("placeholder").any())
    # the links the lineage rules broke in this tree: cycles cut against time, and a post naming itself as its parent
    cuts = (arc.problems(at, edges=edges).filter(pl.col("kind").is_in(["cycle", "self_loop"]))
            .join(members.select("id"), on="id", how="semi").select("id", "parent", "detail", "kind"))
    notes = ([f"this tree hangs from {root}, a post that is not in the archive (never archived or deleted): "
              "its children are kept together under it"] if root_placeholder else [])
    notes += [f"{'cycle cut' if k == 'cycle' else 'self-remix'}: {d}"
              for d, k in cuts.select("detail", "kind").iter_rows()]
    # with --edges all, a guessed link is marked as one wherever it is drawn: never shown as a fact
    shown = pl.concat([anc.select("id"), desc.select("id")])
    from archive.export import made_by_infer  # a record's own "inferred" parent is what its source stated

    inferred = (made_by_infer(arc, arc.edges(at, edges=edges), at)
                .join(shown.rename({"id": "child"}), on="child", how="semi").select("child", "parent", "confidence")
                if edges == "all" else pl.DataFrame(schema={"child": pl.String, "parent": pl.String,
                                                            "confidence": pl.Float64}))
    how = dict(zip(inferred.get_column("child").to_list(), inferred.get_column("confidence").to_list()))
    if how:
        notes.append(f"{len(how):,} of the links drawn {'was' if len(how) == 1 else 'were'} inferred by `archivist infer` "
                     "(marked ┄ inferred), "
                     "not declared by the source")
    if as_json:
        emit_json({"id": post_id, "root": root, "root_placeholder": root_placeholder,
                   "cycles_cut": cuts.to_dicts(), "inferred_links": inferred.sort("child").to_dicts(),
                   "path": anc.select("id", "depth", "text", "created_at").to_dicts(),
                   "ancestors": arc.ancestors(post_id, as_of=at, edges=edges).select("id", "depth", "text", "created_at").to_dicts(),
                   "descendants": desc.select("id", "parent", "depth", "text", "created_at").to_dicts()})
        return

    from lineage.infer import confidence_text

    def head(row: dict) -> tuple[Text, str]:
        """The label's id, marks and date (never cut), and the prompt (cut where the terminal ends)."""
        t = Text()
        t.append(row["id"], style="bold cyan")
        if row["id"] in how:
            t.append(f"  ┄ inferred {confidence_text(how[row['id']])}", style="yellow")
        if row.get("placeholder"):
            t.append("  (not in the archive)", style="dim")
            return t, ""
        t.append(f"  {str(row.get('created_at') or '')[:10]}  ", style="dim")
        return t, shorten(row.get("text"), 2000)

    # (level, the is-last flag of each level down to it, row or a "more remixes" line): the path from the
    # root, one post a level, then the post's remixes
    rows = {r["id"]: r for r in anc.iter_rows(named=True)}
    path = anc.get_column("id").to_list()
    entries: list[tuple[int, tuple[bool, ...], Any]] = [(k, (True,) * k, rows[pid]) for k, pid in enumerate(path)]
    children: dict[str, list[dict]] = {}
    drawn = {post_id, *desc.get_column("id").to_list()}
    for r in desc.iter_rows(named=True):  # a remix whose primary parent is outside is drawn under the post
        children.setdefault(r["parent"] if r["parent"] in drawn else post_id, []).append(r)
    base = len(path) - 1

    frames: list[list[Any]] = [[post_id, base, (True,) * base, 0]]  # depth first, without recursion
    while frames:
        pid, level, flags, i = frames[-1]
        kids = children.get(pid, [])
        shown = kids[:max_children]
        if i < len(shown):
            frames[-1][3] += 1
            last = i == len(shown) - 1 and len(kids) <= max_children
            entries.append((level + 1, flags + (last,), shown[i]))
            frames.append([shown[i]["id"], level + 1, flags + (last,), 0])
            continue
        if len(kids) > max_children:
            entries.append((level + 1, flags + (True,), f"… {len(kids) - max_children} more remixes"))
        frames.pop()
    _draw_tree(entries, head)
    n_anc, n_desc = len(path) - 1, desc.height
    console.print(Text(f"{n_anc:,} ancestor{'s' if n_anc != 1 else ''}, {n_desc:,} remix{'es' if n_desc != 1 else ''} "
                       f"within {max_depth} generation{'s' if max_depth != 1 else ''}", style="dim"))
    for note in notes:
        console.print(Text("note: " + note, style="yellow"))


@cli.command("stats")
@archive_option
@as_of_option
@edges_option
@json_option
@handle_errors
def stats_cmd(archive_path: Path | None, as_of: str | None, edges: str, as_json: bool) -> None:
    """Counts: posts, placeholders, edges, trees, depth, runs, quarantine, cycles."""
    arc = open_archive(archive_path, read_only=True)
    _no_inferred_note(arc, edges)
    s = arc.stats(_as_of(as_of), edges=edges)
    if as_json:
        emit_json(s)
        return
    console.print(Text(f"archive {s['archive']} (version {s['version']})", style="italic"), soft_wrap=True)
    t = Table(show_header=False)
    for k, v in s.items():
        if k not in ("archive", "version", "sources"):
            t.add_row(k.replace("_", " "), f"{v:,}" if isinstance(v, int) else str(v))
    t.add_row("sources", ", ".join(f"{k} ({v:,})" for k, v in s["sources"].items()))
    console.print(t)
    if as_of is not None and not as_of.strip().isdigit():
        console.print(Text(f"as of {as_of}: the posts created by then; observations: those made by then (a post "
                           "the archive first observed later counts as it was first observed)", style="dim"))


@cli.command("runs")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@archive_option
@json_option
@wide_option
@handle_errors
def runs_cmd(limit: int, archive_path: Path | None, as_json: bool, wide: bool) -> None:
    """Ingest runs, newest first, with their counts and state."""
    r = open_archive(archive_path, read_only=True).runs().head(limit)
    if as_json:
        emit_json(r)
        return
    t = Table(title="ingest runs", title_justify="left")
    for c in ("run", "source", "target", "status", "started", "read", "stored", "unchanged", "quarantined"):
        t.add_column(c, overflow="fold", justify="right" if c in ("read", "stored", "unchanged", "quarantined")
                     else "left")
    for x in r.iter_rows(named=True):
        t.add_row(x["run_id"], x["source"], Text(shorten(x["target"], 100_000)), x["status"],
                  str(x["started_at"])[:16], *(f"{x[k]:,}" for k in ("read", "stored", "unchanged", "quarantined")))
    print_table(t, ids=("run",), drop=("started", "unchanged", "source", "target"), wide=wide)


@cli.command("quarantine")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--run", "run_id", default=None, metavar="RUN", help="Only the records of this ingest run.")
@click.option("--retry", is_flag=True,
              help="Ingest the quarantined records again (after a fix): what passes is stored, the rest stays.")
@click.option("--clear", is_flag=True, help="Delete the quarantined records (recorded in `archivist runs`).")
@click.option("--yes", is_flag=True, help="Do not ask before --clear.")
@archive_option
@json_option
@wide_option
@handle_errors
def quarantine_cmd(limit: int, run_id: str | None, retry: bool, clear: bool, yes: bool, archive_path: Path | None,
                   as_json: bool, wide: bool) -> None:
    """Records that broke the schema, with where they came from and every reason.

    \b
    Examples:
      archivist quarantine --run 644fe56c40f24dea
      archivist quarantine --retry            # after upgrading or fixing: ingest them again
      archivist quarantine --clear --yes      # forget them (the clearing is kept in `archivist runs`)
    """
    if retry and clear:
        raise click.UsageError("give --retry or --clear, not both")
    if retry or clear:
        from archive.quarantine import clear_quarantine, retry_quarantine

        arc = open_archive(archive_path)
        if retry:
            result = retry_quarantine(arc, run_id=run_id)
            if as_json:
                emit_json(result.as_dict())
            else:
                console.print(f"retried {result.read:,} quarantined record(s): stored {result.stored:,}, "
                              f"unchanged {result.unchanged:,}, still quarantined {result.quarantined:,}")
            return
        n = arc.quarantine().height if run_id is None else arc.quarantine().filter(pl.col("run_id") == run_id).height
        if n and not yes and not as_json:
            click.confirm(f"delete {n:,} quarantined record(s){f' of run {run_id}' if run_id else ''}?", abort=True)
        cleared = clear_quarantine(arc, run_id=run_id)
        if as_json:
            emit_json({"cleared": cleared, "run": run_id})
        else:
            console.print(f"cleared {cleared:,} quarantined record(s)")
        return
    q = open_archive(archive_path, read_only=True).quarantine().sort("quarantined_at", descending=True)
    if run_id is not None:
        q = q.filter(pl.col("run_id") == run_id)
    if as_json:
        emit_json(q.head(limit))
        return
    t = Table(title=f"quarantine ({q.height} records)", title_justify="left")
    for c in ("location", "reasons", "raw"):
        t.add_column(c, overflow="fold")
    for x in q.head(limit).iter_rows(named=True):
        t.add_row(Text(shorten(x["location"], 100_000)), Text("\n".join(x["reasons"])),
                  Text(shorten(x["raw"], 10_000 if wide else 60)))
    print_table(t, ids=("location",), drop=("raw",), wide=wide)
    if q.height:
        console.print(Text("after a fix: `archivist quarantine --retry`; to forget them: `archivist quarantine "
                           "--clear`", style="dim"))
