"""CLI commands for the network, media and table sources: `ingest scratch|c2pa|openai-videos|civitai|table`.

:data:`COMMANDS` lists them; ``dashboard.cli.build_cli`` adds them to :data:`archive.cli.ingest_group`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from archive.cli import archive_option, err_console, handle_errors, json_option, open_archive, run_ingest
from archive.ingest import Source
from archive.sources.http import NetPolicy

__all__ = ["ingest_scratch", "ingest_c2pa", "ingest_openai_videos", "ingest_civitai", "ingest_table"]

F = TypeVar("F", bound=Callable[..., Any])
_BATCH = 200  # network records per commit: small enough that a killed crawl loses little


def _network_options(default_url: str, default_rate: float) -> Callable[[F], F]:
    def deco(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, allow_host: tuple[str, ...] = (), allow_link_local: bool = False,
                    max_body: float | None = None, **kw: Any) -> Any:
            # the address flags and the page limit travel to the client as one NetPolicy
            kw["allow_private"] = NetPolicy.from_options(kw.get("allow_private", False), allow_host,
                                                         allow_link_local, max_body)
            return f(*args, **kw)

        for opt in reversed([
            click.option("--base-url", default=default_url, show_default=True,
                         help="API root (point it at a mirror or a local test server)."),
            click.option("--allow-private", is_flag=True,
                         help="Allow loopback and private addresses (a local mirror, tests); never link-local "
                              "or cloud-metadata ones."),
            click.option("--allow-host", "allow_host", multiple=True, metavar="HOST",
                         help="Allow this host even on a loopback or private address (repeatable)."),
            click.option("--allow-link-local", is_flag=True,
                         help="Also allow link-local and cloud-metadata addresses (169.254.0.0/16, fe80::/10)."),
            click.option("--max-body", type=float, default=None, metavar="MB",
                         help="Largest API answer to read, in MB (default 64)."),
            click.option("--rate", default=default_rate, show_default=True, type=float,
                         help="Most requests per second to the API host."),
            click.option("--timeout", default=30.0, show_default=True, type=float,
                         help="Seconds to wait for a connection or a read before retrying; a whole request "
                              "gets 4x this (a deadline), then it is retried."),
            click.option("--batch-size", default=_BATCH, show_default=True,
                         help="Records per atomic commit (a rerun after a crash resumes after the last one)."),
        ]):
            wrapper = opt(wrapper)
        return wrapper  # type: ignore[return-value]

    return deco


def _run(archive_path: Path | None, source: Source, as_json: bool, batch_size: int) -> None:
    run_ingest(open_archive(archive_path, create=True), source, as_json=as_json, batch_size=batch_size)
    for w in getattr(source, "warnings", [])[:20]:
        err_console.print(f"warning: {w}", markup=False, highlight=False)


@click.command("scratch")
@click.argument("project_id", type=int)
@click.option("--max-depth", type=int, default=None, help="Generations below the root to crawl (default: all).")
@_network_options("https://api.scratch.mit.edu", 10.0)
@archive_option
@json_option
@handle_errors
def ingest_scratch(project_id: int, max_depth: int | None, base_url: str, allow_private: bool, rate: float,
                   timeout: float, batch_size: int, archive_path: Path | None, as_json: bool) -> None:
    """Crawl the whole remix tree of a public Scratch project (no key needed).

    Finds the root through remix.root, then walks the remixes page by page
    (at most 10 requests/s to Scratch). Killed midway, the same command resumes.

    \b
    Example:
      archivist ingest scratch 10128407 --max-depth 3
    """
    from archive.sources.scratch import ScratchSource

    src = ScratchSource(project_id, max_depth=max_depth, base_url=base_url, allow_private=allow_private,
                        rate=rate, timeout=timeout)
    _run(archive_path, src, as_json, batch_size)


@click.command("c2pa")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--batch-size", default=_BATCH, show_default=True, help="Records per atomic commit.")
@archive_option
@json_option
@handle_errors
def ingest_c2pa(paths: tuple[Path, ...], batch_size: int, archive_path: Path | None, as_json: bool) -> None:
    """Read Content Credentials (C2PA) from media files and folders.

    Every manifest becomes a node and every ingredient an edge (parentOf,
    componentOf); validation state, actions and digitalSourceType are kept in
    provenance. Files that cannot be read go to quarantine with the reason.

    \b
    Example:
      archivist ingest c2pa ~/Downloads/generated/
    """
    from archive.sources.c2pa import C2paSource

    _run(archive_path, C2paSource(list(paths)), as_json, batch_size)


@click.command("openai-videos")
@click.option("--from-file", "from_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read saved GET /videos pages or video objects (JSON or JSON Lines) instead of the API, "
                   "which closed in September 2026. Repeat for several files.")
@click.option("--download", is_flag=True,
              help="Save each video's content into the archive's media folder (named by sha256) before it expires; "
                   "content the archive already holds is not fetched again.")
@click.option("--page-size", default=100, show_default=True, help="Videos per page (the API allows up to 100).")
@_network_options("https://api.openai.com/v1", 5.0)
@archive_option
@json_option
@handle_errors
def ingest_openai_videos(from_files: tuple[Path, ...], download: bool, page_size: int, base_url: str,
                         allow_private: bool, rate: float, timeout: float, batch_size: int, archive_path: Path | None,
                         as_json: bool) -> None:
    """Load your OpenAI (Sora) videos with their remix links, from saved responses or the API.

    The OpenAI Videos API closed in September 2026: --from-file reads the
    GET /videos pages or video objects you saved (JSON or JSON Lines). A live
    endpoint (a mirror) is paged with the `after` cursor; the key comes from
    OPENAI_API_KEY and is never logged or stored. A remix points to the video
    it was remixed from.

    \b
    Examples:
      archivist ingest openai-videos --from-file my-videos-page1.json --from-file my-videos-page2.json
      OPENAI_API_KEY=sk-... archivist ingest openai-videos --base-url https://mirror.example/v1 --download
    """
    from archive.sources.openai_videos import OpenAIVideosSource, stored_media

    from archive.paths import default_archive_path

    media = (archive_path if archive_path is not None else default_archive_path()) / "media"
    src = OpenAIVideosSource(base_url=base_url, allow_private=allow_private, rate=rate, timeout=timeout,
                             page_size=page_size, media_dir=media if download else None, from_files=list(from_files))
    arc = open_archive(archive_path, create=True)
    if download:
        src.stored = stored_media(arc, media)
    run_ingest(arc, src, as_json=as_json, batch_size=batch_size)
    if src.already_stored and not as_json:
        err_console.print(f"{src.already_stored} video(s) already stored in {media}: not fetched again",
                          markup=False, highlight=False, soft_wrap=True)
    for w in src.warnings[:20]:
        err_console.print(f"warning: {w}", markup=False, highlight=False)


@click.command("civitai")
@click.option("--limit", "max_items", type=click.IntRange(min=1), default=None, help="Stop after this many images (default: all).")
@click.option("--sort", default="Newest", show_default=True, help="Most Reactions, Most Comments, Newest or Oldest.")
@click.option("--period", default="AllTime", show_default=True, help="AllTime, Year, Month, Week or Day.")
@click.option("--username", default=None, help="Only images by this user.")
@click.option("--model-id", type=int, default=None, help="Only images made with this model.")
@click.option("--post-id", type=int, default=None, help="Only images of this post.")
@click.option("--nsfw", default="None", show_default=True, help="None, Soft, Mature or X.")
@click.option("--page-size", default=100, show_default=True, help="Images per page (1-200).")
@_network_options("https://civitai.com", 2.0)
@archive_option
@json_option
@handle_errors
def ingest_civitai(max_items: int | None, sort: str, period: str, username: str | None, model_id: int | None,
                   post_id: int | None, nsfw: str, page_size: int, base_url: str, allow_private: bool, rate: float,
                   timeout: float, batch_size: int, archive_path: Path | None, as_json: bool) -> None:
    """Collect Civitai images with their prompts, resources and stats (/api/v1/images, withMeta=true).

    Pages with metadata.nextCursor. A key is optional: CIVITAI_API_KEY from the
    environment, if set, is sent as a Bearer token and never stored.

    \b
    Example:
      archivist ingest civitai --username someone --limit 500
    """
    from archive.sources.civitai import CivitaiSource

    filters = {"sort": sort, "period": period, "username": username, "modelId": model_id, "postId": post_id,
               "nsfw": nsfw}
    src = CivitaiSource(filters=filters, max_items=max_items, base_url=base_url, allow_private=allow_private,
                        rate=rate, timeout=timeout, page_size=page_size)
    _run(archive_path, src, as_json, batch_size)


@click.command("table")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--map", "mapping", required=True, metavar="FIELD=COLUMN,...",
              help="Which column gives which field: id and created_at required; prompt, title, author, parent, "
                   "url, license optional. Other columns are kept in extra.")
@click.option("--source", "source_name", default=None,
              help="The records' source name and id prefix (default: the file's name, e.g. diffusiondb).")
@click.option("--separator", default=None, help="Column separator of a text table (default: comma; tab for .tsv).")
@click.option("--dry-run", is_flag=True, help="Show the columns and the first mapped records; write nothing.")
@click.option("--rows", default=5, show_default=True, type=click.IntRange(min=0), help="How many records --dry-run shows.")
@click.option("--batch-size", default=5000, show_default=True, help="Records per atomic commit.")
@archive_option
@json_option
@handle_errors
def ingest_table(path: Path, mapping: str, source_name: str | None, separator: str | None, dry_run: bool, rows: int,
                 batch_size: int, archive_path: Path | None, as_json: bool) -> None:
    """Ingest a prompt dataset from CSV, TSV or Parquet through a column map.

    Each row becomes a record <source>:<id>; a mapped parent column gives a
    declared remix edge to the row it names. Try --dry-run first.

    \b
    Example:
      archivist ingest table metadata.parquet --map id=image_name,prompt=prompt,created_at=timestamp,author=user_name --dry-run
    """
    import orjson

    from archive.cli import console, emit_json
    from archive.sources.table import TableSource, parse_map

    src = TableSource(path, parse_map(mapping), source=source_name, separator=separator)
    if dry_run:
        from archive.shorten import visible

        # what the ingest would do with each (the same checks), so a row it would quarantine says so here
        checked = src.preview_checked(rows)
        recs, problems = [r for r, _ in checked], [w for _, w in checked]
        if as_json:
            emit_json({"columns": src.columns, "source": src.source, "records": recs,
                       "quarantine_reasons": problems})
            return
        console.print(f"{path}: {len(src.columns)} columns: {', '.join(src.columns)}", markup=False, highlight=False, soft_wrap=True)
        console.print(f"first {len(recs)} record(s) as they would be ingested (--dry-run: nothing written):",
                      markup=False, highlight=False)
        for r, why in zip(recs, problems):
            # controls as ⟨U+202E⟩, as everywhere text is shown to a person
            console.print(visible(orjson.dumps(r, option=orjson.OPT_INDENT_2).decode(), keep="\n"),
                          markup=False, highlight=False)
            if why:
                err_console.print(f"  would be quarantined: {'; '.join(why)}", markup=False, highlight=False,
                                  style="yellow")
        bad = sum(1 for w in problems if w)
        if bad:
            err_console.print(f"{bad} of these {len(recs)} record(s) would be quarantined (check the --map columns)",
                              markup=False, highlight=False)
        return
    _run(archive_path, src, as_json, batch_size)
    n, some = src.parents_not_in_table()
    if n:
        err_console.print(f"note: {n} parent value(s) name no row of {path.name} (e.g. {', '.join(map(repr, some))}): "
                          "they are placeholders; check that the parent column holds this table's ids",
                          markup=False, highlight=False, soft_wrap=True)


#: the commands of this module, added to the group by ``dashboard.cli.build_cli``
COMMANDS = (ingest_scratch, ingest_c2pa, ingest_openai_videos, ingest_civitai, ingest_table,)
