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


def serve(archive_path: Path, host: str, port: int, debug: bool = False,
          allowed_host: tuple[str, ...] = ()) -> None:
    from werkzeug.serving import WSGIRequestHandler

    from dashboard.app import create_app
    from dashboard.security import allowed_hosts, is_loopback

    hosts = allowed_hosts(host, allowed_host)
    app = create_app(archive_path, hosts=hosts)
    if not is_loopback(host):
        click.echo(f"warning: --host {host} makes this archive readable, without a password, by every machine that "
                   f"can reach this one on port {port}; it answers only Host names {', '.join(sorted(hosts))} "
                   "(add the names people will use with --allowed-host)", err=True)
    console.print(f"Remix Archivist dashboard on [bold]http://{host}:{port}/[/bold] "
                  f"(archive {archive_path}); Ctrl+C stops it")

    class Handler(WSGIRequestHandler):  # no server software or Python version in the Server header
        server_version = "remix-archivist"
        sys_version = ""

    app.run(host=host, port=port, debug=debug, request_handler=Handler)


@cli.command("dashboard")
@archive_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8050, show_default=True, help="Port to listen on.")
@click.option("--debug", is_flag=True, help="Dash debug mode (reloads on code changes).")
@click.option("--allowed-host", multiple=True, metavar="NAME",
              help="Also answer requests for this Host name (repeatable); loopback names always work.")
@handle_errors
def dashboard_cmd(archive_path: Path | None, host: str, port: int, debug: bool, allowed_host: tuple[str, ...]) -> None:
    """Serve the dashboard over an archive (read-only; reload the page to see new versions).

    It answers only requests addressed to localhost, the bound address or an --allowed-host
    name (a defence against DNS rebinding), and warns when bound beyond loopback.
    """
    arc = open_archive(archive_path, read_only=True)
    serve(arc.path, host, port, debug, allowed_host)


def build_sample(archive_path: Path, *, as_json: bool = False) -> Path:
    """Ingest the bundled sample (idempotent) and analyse it; returns the archive path."""
    from archive.sources.jsonl import JsonlSource

    sample = data_dir() / "sample"
    arc = open_archive(archive_path, create=True)
    # the messy examples show how bad input is handled (quarantine, placeholders, cycles); their
    # trees stay in the archive but out of the measures, which describe the simulated remixes
    if "messy" not in arc.excluded_sources():
        arc.set_setting("excluded_from_measures", sorted({*arc.excluded_sources(), "messy"}))
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
