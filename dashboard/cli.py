"""The console script: every command assembled in one place (:func:`build_cli`), plus `dashboard` and `demo`.

No command registers itself on import: each CLI module lists its commands in
``COMMANDS`` and :func:`build_cli` adds them, with the :class:`archive.extensions.Extensions`
(the drift report and stored drift that ``archive`` commands carry) given to the group.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

import archive.cli_archiving
import archive.media.cli
import archive.sources.cli
import lineage.cli
import lineage.cli_infer
import lineage.cli_report
from archive.cli import archive_option, cli, console, handle_errors, ingest_group, open_archive, run_ingest
from archive.extensions import Extensions
from archive.paths import data_dir

__all__ = ["main", "cli", "build_cli"]


#: polars' allocator (jemalloc) keeps freed pages for a while (polars sets ``dirty_decay_ms:500,muzzy_decay_ms:1000``
#: on import), in one arena per thread: a server that builds new views in one thread while others
#: draw pages holds every arena's freed pages at once. Returning them at once keeps the dashboard's
#: peak near its working set (the load benchmark: about 200 MB less at 300,000 posts).
JEMALLOC_CONF = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

#: glibc's malloc holds Python's larger blocks (a page's layout and its JSON answer, several MB each). By
#: default each thread that allocates while another does gets its own arena (up to eight per core), and each
#: arena keeps what was freed in it: four clients served at once left ~90 MB in them at 300,000 posts. One
#: arena (Python holds the GIL while it allocates, so they do not queue for it) keeps the load benchmark
#: about 90 MB lower idle and at the peak during an ingest, latency unchanged. A value already set wins.
#: (A fixed ``MALLOC_MMAP_THRESHOLD_`` saved 10 MB more but made requests 10-30 % slower: not used.)
GLIBC_MALLOC = (("MALLOC_ARENA_MAX", "1"),)


def _return_freed_memory() -> None:
    """Run the console script again with :data:`JEMALLOC_CONF` and :data:`GLIBC_MALLOC` added (both
    allocators read their settings once, when the process or polars starts).

    Only the console script (``archivist``) is run again, once (``REMIX_ALLOCATOR`` marks the
    second run); a test runner calling the command in-process keeps its allocator.
    """
    name, conf = JEMALLOC_CONF
    if os.environ.get("REMIX_ALLOCATOR") == conf or Path(sys.argv[0]).name != "archivist" \
            or not os.access(sys.argv[0], os.X_OK):
        return
    os.environ["REMIX_ALLOCATOR"] = conf
    # polars puts its own settings first and appends this variable's value: the later setting wins
    os.environ[name] = conf if not os.environ.get(name) else f"{os.environ[name]},{conf}"
    for var, value in GLIBC_MALLOC:
        os.environ.setdefault(var, value)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.argv[0], sys.argv)


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


@click.command("dashboard")
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
    _return_freed_memory()
    arc = open_archive(archive_path, read_only=True)
    serve(arc.path, host, port, debug, allowed_host)


def build_sample(archive_path: Path, *, as_json: bool = False) -> Path:
    """Ingest the bundled sample (idempotent) and analyze it; returns the archive path."""
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


@click.command("demo")
@archive_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8050, show_default=True)
@click.option("--no-serve", is_flag=True, help="Build the sample archive and stop.")
@handle_errors
def demo_cmd(archive_path: Path | None, host: str, port: int, no_serve: bool) -> None:
    """Build the bundled sample archive (about 3,000 simulated posts in dozens of trees) and serve the dashboard."""
    if not no_serve:
        _return_freed_memory()
    path = build_sample(archive_path or Path("remix-archive"))
    if no_serve:
        console.print(f"sample archive ready at {path}; serve it with `archivist dashboard --archive {path}`", soft_wrap=True)
        return
    serve(path, host, port)


#: the commands of this module
COMMANDS = (dashboard_cmd, demo_cmd)


def build_cli() -> click.Group:
    """The ``archivist`` group with every command, and the report and drift that snapshots and exports carry.

    The one place commands are registered (idempotent: adding a command again replaces it).
    """
    from lineage.cli_report import snapshot_report
    from lineage.stale import stored_drift

    for cmd in (*archive.sources.cli.COMMANDS, *archive.media.cli.INGEST_COMMANDS):
        ingest_group.add_command(cmd)
    for cmd in (*archive.cli_archiving.COMMANDS, *archive.media.cli.COMMANDS, *lineage.cli.COMMANDS,
                *lineage.cli_infer.COMMANDS, *lineage.cli_report.COMMANDS, *COMMANDS):
        cli.add_command(cmd)
    cli.context_settings["obj"] = Extensions(report=snapshot_report, drift=stored_drift)
    return cli


cli = build_cli()  # the one call that assembles the group


def main() -> None:
    cli(prog_name="archivist")
