"""CLI command ``report``: the critic's drift report of a tree or of the whole archive.

:data:`COMMANDS` lists it; ``dashboard.cli.build_cli`` adds it to :data:`archive.cli.cli`.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from archive.cli import _as_of, archive_option, as_of_option, console, edges_option, emit_json, handle_errors, \
    json_option, open_archive

__all__ = ["report_cmd", "snapshot_report"]


def snapshot_report(archive: Any, root: str, as_of: Any, *, edges: str = "declared") -> dict[str, bytes]:
    """:func:`lineage.report.snapshot_report`, imported when a snapshot is written (not at CLI start)."""
    from lineage.report import snapshot_report as write

    return write(archive, root, as_of, edges=edges)


@click.command("report")
@click.argument("root", required=False)
@click.option("--format", "fmt", type=click.Choice(["html", "pdf", "md", "csv"]), default="html", show_default=True,
              help="html: one self-contained file (works offline); pdf: printed by Chromium; md: Markdown; "
                   "csv: one row per post.")
@click.option("-o", "--out", default=None,
              help="Output file (default report-<root or archive>.<format>); '-' prints md or csv to stdout.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap interval of the half-life.")
@edges_option
@archive_option
@as_of_option
@json_option
@handle_errors
def report_cmd(root: str | None, fmt: str, out: str | None, seed: int, edges: str, archive_path: Path | None,
               as_of: str | None, as_json: bool) -> None:
    """Write a critic's drift report for the tree of ROOT (any post of it), or for the whole archive.

    The report draws the tree colored by drift, lists the largest mutations with
    their word-level diffs, the blame of the deepest leaves, style changes and bleed,
    and the decay figures, with plain sentences that can be quoted. What could not
    be measured is said plainly. With --edges all the tree (or, for the archive,
    `archivist analyze --edges all`) holds inferred links too: the report says so in
    its title and first sentence ("includes N inferred links, confidence >= X") and
    draws them dashed.

    \b
    Examples:
      archivist report simulate:s42_0000098 --format html -o corgi.html
      archivist report simulate:s42_0000098 --format pdf
      archivist report --format md -o - | less
    """
    from archive.snapshot import safe_name
    from lineage.report import render, report_data

    arc = open_archive(archive_path, read_only=True)
    data = report_data(arc, root, as_of=_as_of(as_of), seed=seed, edges=edges)
    if out == "-":
        if fmt not in ("md", "csv"):
            raise click.BadParameter(f"{fmt} goes to a file: give a file name", param_hint="-o")
        click.echo(render(data, fmt).decode("utf-8"), nl=False)
        return
    data.generated_at = datetime.now(timezone.utc).replace(microsecond=0)
    target = Path(out) if out else Path(f"report-{safe_name(data.root) if data.root else 'archive'}.{fmt}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(render(data, fmt))
    if as_json:
        emit_json({"format": fmt, "root": data.root, "out": str(target), "bytes": target.stat().st_size,
                   "missing": data.missing, "sentences": data.sentences, "edges": edges,
                   "inferred": data.inferred})
        return
    console.print(Text(f"wrote the {fmt} drift report ({target.stat().st_size:,} bytes) to {target}"), soft_wrap=True)
    if data.inferred:
        console.print(Text(f"{data.inferred_label}: the report {data.inferred}", style="yellow"))
    for m in data.missing:
        console.print(Text(f"not measured: {m}", style="yellow"))


#: the commands of this module, added to the group by ``dashboard.cli.build_cli``
COMMANDS = (report_cmd,)
