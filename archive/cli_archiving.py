"""CLI commands for archiving and export: snapshot, snapshots, verify, restore, export, redact.

:data:`COMMANDS` lists them; ``dashboard.cli.build_cli`` adds them to :data:`archive.cli.cli`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from archive.extensions import current
from archive.cli import (
    _as_of,
    _no_inferred_note,
    archive_option,
    edges_option,
    as_of_option,
    print_table,
    console,
    emit_json,
    err_console,
    handle_errors,
    json_option,
    open_archive,
    shorten,
    wide_option,
)
from archive.errors import SnapshotError

__all__ = ["snapshot_cmd", "snapshots_cmd", "verify_cmd", "restore_cmd", "export_cmd", "redact_cmd"]


def _drift(ext, arc, edges: str):
    """Stored per-node drift of the edge set the command writes (``None``: not measured on it)."""
    if ext.drift is None:
        return None
    return ext.drift(arc) if edges == "declared" else ext.drift(arc, edges=edges)


@click.command("snapshot")
@click.argument("root")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="Folder to put the bag in (default <archive>/snapshots/<root>/).")
@click.option("--media", is_flag=True, help="Copy or download the media files too (where reachable).")
@click.option("--allow-private", is_flag=True,
              help="Allow media URLs on loopback or private addresses (never link-local or cloud-metadata ones).")
@click.option("--allow-host", "allow_host", multiple=True, metavar="HOST",
              help="Allow media from this host even on a loopback or private address (repeatable).")
@click.option("--allow-link-local", is_flag=True, help="Also allow link-local and cloud-metadata addresses.")
@click.option("--media-dir", "media_dirs", multiple=True, type=click.Path(path_type=Path, file_okay=False),
              help="A folder whose files records may name as media (local paths, file://). Repeatable.")
@archive_option
@as_of_option
@edges_option
@json_option
@handle_errors
def snapshot_cmd(root: str, out: Path | None, media: bool, allow_private: bool, allow_host: tuple[str, ...],
                 allow_link_local: bool, media_dirs: tuple[Path, ...], archive_path: Path | None, as_of: str | None,
                 edges: str, as_json: bool) -> None:
    """Pack the remix tree of ROOT (any post of it) into a BagIt bag with sha256 and sha512 manifests.

    The bag holds the records (JSONL), posts.csv, GraphML, Newick, PROV-JSON, the drift
    report, C2PA manifests and, with --media, the media files. Each snapshot is a new
    version beside the earlier ones; `archivist snapshots ROOT` compares them.

    \b
    Examples:
      archivist snapshot simulate:s42_0000098
      archivist snapshot simulate:s42_0000098 --media -o /mnt/preservation
      archivist snapshot c2pa:urn:uuid:… --media --media-dir ~/Pictures/credentials
    """
    from archive.snapshot import read_bag_info, snapshot
    from archive.sources.http import NetPolicy

    arc = open_archive(archive_path, read_only=False)
    policy = (NetPolicy.from_options(allow_private, allow_host, allow_link_local, max_body_mb=None)
              if allow_host or allow_link_local else allow_private)
    ext = current()
    _no_inferred_note(arc, edges)
    bag = snapshot(arc, root, out=out, media=media, as_of=_as_of(as_of), allow_private=policy,
                   media_dirs=media_dirs, report=ext.report, drift=_drift(ext, arc, edges), edges=edges)
    info = read_bag_info(bag)
    if as_json:
        emit_json({"bag": str(bag), **{k: v for k, v in info.items()}})
        return
    console.print(Text(f"snapshot of {info.get('Remix-Root')} written to {bag}"), soft_wrap=True)
    inferred = f" ({info['Remix-Inferred-Edges']} inferred)" if "Remix-Inferred-Edges" in info else ""
    def counted(key: str, noun: str) -> str:  # "1 post", "2,048 posts" (a tag that is no count is shown as it is)
        v = str(info.get(key, ""))
        return f"{int(v):,} {noun}{'s' if int(v) != 1 else ''}" if v.isdigit() else f"{v} {noun}s"

    console.print(f"{counted('Remix-Posts', 'post')}, {counted('Remix-Edges', 'edge')}{inferred}, "
                  f"depth {info.get('Remix-Depth')}, "
                  f"{info.get('Remix-Media-Files')} media file(s), store version {info.get('Remix-Store-Version')}; "
                  f"drift report: {info.get('Remix-Drift-Report')}")


@click.command("snapshots")
@click.argument("root")
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=None,
              help="A folder of bags to list instead of <archive>/snapshots/<root>/.")
@archive_option
@json_option
@wide_option
@handle_errors
def snapshots_cmd(root: str, folder: Path | None, archive_path: Path | None, as_json: bool, wide: bool) -> None:
    """List the snapshots of ROOT's tree, oldest first, with what changed since the one before."""
    from archive.snapshot import list_snapshots

    arc = open_archive(archive_path, read_only=True)
    df = list_snapshots(arc, root, folder=folder)
    if as_json:
        emit_json(df)
        return
    if df.height == 0:
        console.print(Text(f"no snapshots of {root} yet: make one with `archivist snapshot {root}`"))
        return
    t = Table(title=f"snapshots of {root}", title_justify="left")
    for c in ("taken at", "links", "store version", "posts", "added", "removed", "changed", "media", "bag"):
        t.add_column(c, overflow="fold", justify="right" if c not in ("taken at", "links", "bag") else "left")
    for r in df.iter_rows(named=True):  # added/removed: against the last bag with the same links
        t.add_row(str(r["taken_at"] or "")[:19], r["edges"], str(r["store_version"]), str(r["posts"]),
                  *("–" if r[k] is None else str(r[k]) for k in ("added", "removed", "changed")),
                  str(r["media_files"]), Text(Path(r["bag"]).name))
    print_table(t, ids=("bag",), drop=("removed", "changed", "media", "added", "store version"), wide=wide)


@click.command("verify")
@click.argument("bag", type=click.Path(path_type=Path))
@json_option
@handle_errors
def verify_cmd(bag: Path, as_json: bool) -> None:
    """Check a BagIt bag against RFC 8493 and its fixity; list every problem. Exit 1 if any.

    Runs the bagit library's checks and the product's own: bagit.txt, data/, every
    payload file in every manifest, every checksum (payload and tag manifests),
    Payload-Oxum, fetch.txt, paths that leave the bag. The message names the
    algorithms actually checked.
    """
    from archive.bag import one_line, verify

    res = verify(bag)
    if as_json:
        emit_json(res.as_dict())
        if not res.ok:
            sys.exit(1)
        return
    if res.ok:
        algs = " and ".join(res.algorithms)
        console.print(Text(f"{bag}: valid ({res.files} files checked against {algs})"), soft_wrap=True)
        return
    for p in res.problems:
        err_console.print(Text(one_line(f"{p.kind:8s} {p.path}  {p.detail}")), soft_wrap=True)
    raise click.ClickException(f"{bag} failed verification: {len(res.problems)} problem(s)")


@click.command("restore")
@click.argument("bag", type=click.Path(path_type=Path))
@archive_option
@json_option
@handle_errors
def restore_cmd(bag: Path, archive_path: Path | None, as_json: bool) -> None:
    """Load a snapshot bag into the archive (made if missing). Safe to repeat.

    Whatever `archivist verify` refuses is refused, and so are bags with links,
    paths that leave the bag or a fetch.txt; the bag is checked before any archive
    is made, so a refused bag leaves nothing behind. Records go through ingest:
    known ones are skipped, bad ones quarantined.
    """
    from archive.bag import one_line, restore, restore_refusals

    reasons = restore_refusals(bag)
    if reasons:
        raise SnapshotError(f"refusing to restore {bag}: {one_line(reasons[0])}"
                            + (f" (and {len(reasons) - 1} more; run `archivist verify {bag}` for the full list)"
                               if len(reasons) > 1 else ""), reasons)
    arc = open_archive(archive_path, create=True)
    result = restore(bag, arc)
    guesses = bag / "data" / "inferred_edges.jsonl"  # a bag made with --edges all
    n = sum(1 for line in guesses.read_text("utf-8").splitlines() if line.strip()) if guesses.is_file() else 0
    if n:  # the records are restored; links `archivist infer` guessed are not records, and are not restored
        err_console.print(Text(f"note: the bag's {n:,} inferred link(s) (data/inferred_edges.jsonl) are not restored "
                               "as links: run `archivist infer` on the archive to infer them again"), soft_wrap=True)
    if as_json:
        emit_json(result.as_dict())
        return
    console.print(Text(f"restored {bag} into {arc.path}: read {result.read}, stored {result.stored}, "
                       f"unchanged {result.unchanged}, quarantined {result.quarantined} "
                       f"(store version {result.store_version})"), soft_wrap=True)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["graphml", "gexf", "newick", "prov-json", "parquet", "csv"]),
              required=True, help="Output format.")
@click.option("--root", default=None, help="Export only the tree of this post (default: the whole archive).")
@click.option("-o", "--out", default=None,
              help="Output file (default export-<root or archive>.<ext>); '-' writes text formats to stdout.")
@archive_option
@as_of_option
@edges_option
@json_option
@handle_errors
def export_cmd(fmt: str, root: str | None, out: str | None, archive_path: Path | None, as_of: str | None,
               edges: str, as_json: bool) -> None:
    """Export lineage: GraphML/GEXF (Gephi), Newick/NHX, PROV-JSON (W3C), Parquet or CSV.

    CSV cells that start with = + - @ (or a tab or CR) get a leading ' so spreadsheets
    do not run them.

    \b
    Examples:
      archivist export --format graphml -o remixes.graphml
      archivist export --format newick --root simulate:s42_0000098 -o -
    """
    from archive.export import FORMATS, export
    from archive.snapshot import safe_name

    arc = open_archive(archive_path, read_only=True)
    ext = current()
    drift = _drift(ext, arc, edges)
    _no_inferred_note(arc, edges)
    if out == "-":
        if fmt == "parquet":
            raise click.BadParameter("parquet is binary: give a file name", param_hint="-o")
        data = export(arc, fmt, None, root=root, as_of=_as_of(as_of), drift=drift, edges=edges)
        assert isinstance(data, bytes)
        click.echo(data.decode("utf-8"), nl=False)
        return
    target = Path(out) if out else Path(f"export-{safe_name(root) if root else 'archive'}.{FORMATS[fmt]}")
    path = export(arc, fmt, target, root=root, as_of=_as_of(as_of), drift=drift, edges=edges)
    assert isinstance(path, Path)
    if as_json:
        emit_json({"format": fmt, "root": root, "out": str(path), "bytes": path.stat().st_size})
    else:
        console.print(Text(f"wrote {fmt} ({path.stat().st_size:,} bytes) to {path}"), soft_wrap=True)


@click.command("redact")
@click.argument("post_id")
@click.option("--reason", required=True, help="Why (kept in the redaction ledger), e.g. 'consent revoked'.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--purge-snapshots", "snaps", flag_value="purge",
              help="Also delete the snapshot bags inside the archive that hold the post.")
@click.option("--keep-snapshots", "snaps", flag_value="keep",
              help="Keep those bags (listed in the ledger); without either flag, such bags stop the redaction.")
@archive_option
@json_option
@handle_errors
def redact_cmd(post_id: str, reason: str, yes: bool, archive_path: Path | None, as_json: bool,
               snaps: str | None = None) -> None:
    """Remove a post's content from the archive and from every older version of it.

    The node stays (id, times, declared parents) so its remixes keep their lineage (a
    parent archivist infer gave it goes with the words it was inferred from: the post then
    heads its remixes as a tree of its own); the prompt, title, author, tags, media, provenance and extra are gone, older store
    versions can no longer be read, and the redaction ledger records it. Snapshot
    bags inside the archive that hold the post stop it (one line naming them) unless
    --purge-snapshots or --keep-snapshots says what to do; half-written bags are deleted.
    """
    from archive.redact import redact

    arc = open_archive(archive_path)
    if not yes and not as_json:
        click.confirm(f"Remove the content of {shorten(post_id, 60)} from {arc.path} for good?", abort=True)
    r = redact(arc, post_id, reason=reason, snapshots=snaps or "refuse")
    if as_json:
        emit_json(r.as_dict())
        return
    if r.already_redacted:
        console.print(Text(f"{post_id} was already redacted on {str(r.redacted_at)[:16]} (reason: {r.reason}): "
                           "nothing changed, and the ledger keeps that entry"))
        return
    console.print(Text(f"redacted {post_id}: {r.rows} row(s), fields {', '.join(r.fields_removed)}; "
                       f"store version {r.store_version_before} -> {r.store_version_after}; "
                       f"tables purged: {', '.join(r.tables_purged)}"))
    if r.affected_snapshots:
        err_console.print(Text(f"{len(r.affected_snapshots)} snapshot(s) taken before still hold the content:"))
        for b in r.affected_snapshots:
            err_console.print(Text(f"  {b}"), soft_wrap=True)


#: the commands of this module, added to the group by ``dashboard.cli.build_cli``
COMMANDS = (snapshot_cmd, snapshots_cmd, verify_cmd, restore_cmd, export_cmd, redact_cmd,)
