"""The console script: every command group assembled, plus `dashboard` and `demo`."""
from __future__ import annotations

from pathlib import Path

import click

# Importing these modules registers their commands on the group.
import archive.cli_archiving  # noqa: F401  snapshot, snapshots, verify, restore, export, redact
import archive.sources.cli  # noqa: F401  ingest scratch, c2pa, openai-videos, civitai
import archive.media.cli  # noqa: F401  ingest media, similar
import lineage.cli  # noqa: F401  analyze, drift, bleed, decay, report
import lineage.cli_report  # noqa: F401  report (and the drift report inside snapshots)
from archive.cli import archive_option, cli, console, handle_errors, open_archive, run_ingest
from archive.paths import data_dir

__all__ = ["main", "cli"]


def serve(archive_path: Path, host: str, port: int, debug: bool = False) -> None:
    from dashboard.app import create_app

    app = create_app(archive_path)
    console.print(f"Remix Archivist dashboard on [bold]http://{host}:{port}/[/bold] "
                  f"(archive {archive_path}); Ctrl+C stops it")
    app.run(host=host, port=port, debug=debug)


@cli.command("dashboard")
@archive_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8050, show_default=True, help="Port to listen on.")
@click.option("--debug", is_flag=True, help="Dash debug mode (reloads on code changes).")
@handle_errors
def dashboard_cmd(archive_path: Path | None, host: str, port: int, debug: bool) -> None:
    """Serve the dashboard over an archive (read-only; reload the page to see new versions)."""
    arc = open_archive(archive_path, read_only=True)
    serve(arc.path, host, port, debug)


def build_sample(archive_path: Path, *, as_json: bool = False) -> Path:
    """Ingest the bundled sample (idempotent) and analyse it; returns the archive path."""
    from archive.sources.jsonl import JsonlSource

    sample = data_dir() / "sample"
    arc = open_archive(archive_path, create=True)
    for name in ("remixes.jsonl.gz", "messy.jsonl"):
        run_ingest(arc, JsonlSource([str(sample / name)]), as_json=as_json)
    from lineage.analyze import analyze

    if not as_json:
        console.print("analysing the sample: drift, blame, styles, bleed and decay ...")
    result = analyze(arc)
    if not as_json:
        if result.get("up_to_date"):
            console.print(f"analysis is up to date with store version {result['store_version']}")
        else:
            console.print(f"analysis of store version {result['store_version']}: {result['trees']} trees, "
                          f"{result['nodes']:,} posts")
    return arc.path


@cli.command("demo")
@archive_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8050, show_default=True)
@click.option("--no-serve", is_flag=True, help="Build the sample archive and stop.")
@handle_errors
def demo_cmd(archive_path: Path | None, host: str, port: int, no_serve: bool) -> None:
    """Build the bundled sample archive (about 3,000 simulated posts in dozens of trees) and serve the dashboard."""
    path = build_sample(archive_path or Path("remix-archive"))
    if no_serve:
        console.print(f"sample archive ready at {path}; serve it with `archivist dashboard --archive {path}`")
        return
    serve(path, host, port)


def main() -> None:
    cli(prog_name="archivist")
