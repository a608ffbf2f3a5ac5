"""CLI commands for media: `ingest media PATH…` and `similar PATH|ID`.

Importing this module registers them on :data:`archive.cli.ingest_group` and :data:`archive.cli.cli`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import polars as pl

from archive.cli import (archive_option, cli, console, emit_json, err_console, handle_errors, ingest_group, json_option,
                         open_archive, run_ingest)
from archive.errors import NotFoundError, SourceError

__all__ = ["ingest_media", "similar_cmd", "similar"]


@click.command("media")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--reference", is_flag=True,
              help="Leave the files where they are (record their location) instead of copying them into the archive.")
@click.option("--batch-size", default=500, show_default=True, help="Records per atomic commit.")
@archive_option
@json_option
@handle_errors
def ingest_media(paths: tuple[Path, ...], reference: bool, batch_size: int, archive_path: Path | None,
                 as_json: bool) -> None:
    """Ingest image and video files and folders (recursive): fingerprints, thumbnails, C2PA.

    JPEG, PNG, WebP, GIF, TIFF, HEIC and AVIF images; MP4, MOV and WebM videos.
    One node per distinct content (media:<sha256>); a sidecar JSON with the same
    stem adds prompt, author and parents. Files that cannot be read go to
    quarantine with the reason; the run goes on.

    \b
    Example:
      archivist ingest media ~/Downloads/sora-exports/
    """
    from archive.ingest import ingest
    from archive.sources.media import MediaSource

    arc = open_archive(archive_path, create=True)
    src = MediaSource(list(paths), archive=arc, copy=not reference)
    if as_json:
        result = ingest(arc, src, batch_size=batch_size)
        emit_json({**result.as_dict(), "files": src.summary(), "warnings": src.warnings})
        return
    run_ingest(arc, src, as_json=False, batch_size=batch_size)
    s = src.summary()
    console.print(f"files: found {s['files_found']:,} = new content {s['media_nodes']:,} + copies of content already "
                  f"seen {s['copies_of_seen_content']:,} + quarantined {s['files_quarantined']:,}; "
                  f"{s['c2pa_nodes']:,} C2PA ingredient node(s); {s['folders_skipped']} folder(s) skipped",
                  markup=False, highlight=False)
    for w in src.warnings[:20]:
        err_console.print(f"warning: {w}", markup=False, highlight=False)


def similar(archive: Any, query: str | Path, *, limit: int = 10, max_distance: int = 31) -> dict[str, Any]:
    """Posts whose pictures match ``query`` (a media file, or a post id in the archive), earliest first.

    Returns ``{"query": ..., "query_id": id or None, "matches": [{id, distance, similarity,
    created_at, first}]}``: matches within ``max_distance`` PDQ bits (any frame of a
    video against any frame), the ``limit`` nearest, then listed by ``created_at``;
    ``first`` marks the earliest. Raises :class:`NotFoundError` for an id without
    fingerprints, :class:`SourceError` for a file that cannot be read.
    """
    from archive.media.fingerprint import MediaError, fingerprint_file
    from archive.media.index import nearest
    from archive.media.store import archive_index

    index, fp = archive_index(archive)
    p = Path(str(query))
    if p.is_file():
        try:
            f = fingerprint_file(p)
        except MediaError as e:
            raise SourceError(str(e)) from None
        hashes, qid = [fr.pdq for fr in f.frames], f"media:{f.sha256}"
    else:
        qid = str(query)
        hashes = fp.filter(pl.col("id") == qid).get_column("pdq").to_list()
        if not hashes:
            raise NotFoundError(f"{qid}: neither a file nor a post with fingerprints in this archive "
                                "(ingest it with `archivist ingest media`)")
    hits = nearest(index, hashes, k=limit + 1, max_distance=max_distance)
    posts = archive.posts().select("id", "created_at", "title", "source")
    rows = pl.DataFrame(hits, schema={"id": pl.String, "distance": pl.Int64}, orient="row")
    rows = rows.join(posts, on="id", how="left").with_columns(
        similarity=(1 - pl.col("distance") / 128).clip(0, 1).round(3), is_query=pl.col("id") == qid)
    rows = rows.sort(["distance", "id"]).head(limit + 1)
    if rows.filter(~pl.col("is_query")).height > limit:
        rows = rows.filter(~pl.col("is_query")).head(limit).vstack(rows.filter(pl.col("is_query")))
    rows = rows.sort(["created_at", "distance", "id"], nulls_last=True)
    earliest = rows.get_column("id")[0] if rows.height else None
    matches = [{**r, "first": r["id"] == earliest} for r in rows.to_dicts()]
    return {"query": str(query), "query_id": qid, "in_archive": bool(rows.filter(pl.col("is_query")).height),
            "matches": matches}


@click.command("similar")
@click.argument("query")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True, help="Most matches to list.")
@click.option("--max-distance", default=31, show_default=True,
              help="Largest PDQ Hamming distance counted as the same picture (of 256 bits; unrelated pictures are ~128).")
@archive_option
@json_option
@handle_errors
def similar_cmd(query: str, limit: int, max_distance: int, archive_path: Path | None, as_json: bool) -> None:
    """Where else does this picture appear in the archive, and which came first.

    QUERY is an image or video file, or the id of a post with a picture. Matches
    are found by PDQ fingerprints (crops, re-encodes, resizes and overlays still
    match) and listed oldest first.

    \b
    Examples:
      archivist similar ~/Downloads/repost.jpg
      archivist similar media:4f2a… --limit 20 --json
    """
    arc = open_archive(archive_path, read_only=True)
    out = similar(arc, query, limit=limit, max_distance=max_distance)
    if as_json:
        emit_json(out)
        return
    if not out["matches"]:
        console.print(f"no picture in the archive within {max_distance} bits of {query}", markup=False, soft_wrap=True)
        return
    console.print(f"{len(out['matches'])} match(es) for {query}, oldest first:", markup=False, highlight=False, soft_wrap=True)
    for m in out["matches"]:
        mark = "first" if m["first"] else ("this" if m["is_query"] else "")
        console.print(f"  {str(m['created_at'] or '?')[:19]:19}  {m['distance']:3d} bits  {m['similarity']:.2f}  "
                      f"{mark:5}  {m['id']}  {m.get('title') or ''}", markup=False, highlight=False)


#: ``ingest media`` (added to the ingest group) and ``similar``, registered by ``dashboard.cli.build_cli``
INGEST_COMMANDS = (ingest_media,)
COMMANDS = (similar_cmd,)
