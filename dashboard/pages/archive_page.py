"""Archive: ingest runs, the quarantine with every reason, snapshots, store versions."""
from __future__ import annotations

import dash
import polars as pl
from dash import html

from dashboard.data import archive
from dashboard.panels import note
from dashboard.tables import frame_table, tree_link

dash.register_page(__name__, path="/archive", name="Archive", order=5, title="Archive · Remix Archivist")


def snapshots_frame(arc) -> pl.DataFrame | None:
    """Every snapshot kept in the archive (``None`` when the snapshot module is not installed)."""
    try:
        from archive.snapshot import list_snapshots, snapshot_roots
    except ImportError:
        return None
    folders = sorted({p.parent for p in snapshot_roots(arc)})
    frames = [list_snapshots(arc, folder=f) for f in folders]
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame()
    base = str(arc.path) + "/"
    return pl.concat(frames).sort("taken_at", descending=True).with_columns(
        bag=pl.col("bag").str.strip_prefix(base))  # shown relative to the archive folder


def quarantine_rows(q: pl.DataFrame) -> html.Table:
    """The quarantine: where each record came from, every reason, and its raw text (as text)."""
    q = q.sort("quarantined_at", descending=True)
    head = html.Thead(html.Tr([html.Th(c) for c in ("where", "reasons", "raw record", "when")]))
    rows = [html.Tr([html.Td(r["location"], className="mono"),
                     html.Td(html.Ul([html.Li(x, className="reason") for x in r["reasons"] or []])),
                     html.Td(html.Pre((r["raw"] or "")[:600], className="raw")),
                     html.Td(str(r["quarantined_at"])[:16])]) for r in q.iter_rows(named=True)]
    return html.Table([head, html.Tbody(rows)], className="grid", id="quarantine-table")


def layout(**_: str) -> html.Div:
    arc = archive()
    runs = arc.runs()
    q = arc.quarantine()
    snaps = snapshots_frame(arc)
    hist = arc.history().sort("version", descending=True).head(20)
    if snaps is None:
        snap_part = note("Snapshots are not available in this install.")
    elif snaps.height == 0:
        snap_part = html.Div(["No snapshots yet. Make one with ", html.Code("archivist snapshot ROOT_ID"),
                              "; it appears here."], className="note")
    else:
        # "links": declared, or all (a bag made with inferred links: added/removed are against the last such bag)
        snap_part = frame_table(snaps.select("root", "edges", "taken_at", "store_version", "posts", "added", "removed",
                                             "changed", "media_files", "bag"),
                                headers={"taken_at": "taken", "store_version": "store version", "edges": "links",
                                         "bag": "bag (in the archive folder)"},
                                cells={"root": lambda r: tree_link(r["root"], edges=r["edges"]) if r["root"] else ""})
    run_cols = ["started_at", "at", "source", "target", "status", "read", "stored", "unchanged", "quarantined",
                "store_version", "error"]
    return html.Div([
        html.H1("Archive"),
        html.P("How the archive was filled: every ingest run with its counts (read = stored + unchanged + "
               "quarantined), every record that was refused and why, snapshots and store versions.",
               className="lead"),
        html.Div([html.H2(f"Ingest runs ({runs.height})"),
                  frame_table(runs.select(run_cols), headers={"started_at": "started", "at": "last update",
                                                              "store_version": "store version"}, width=60)
                  if runs.height else note("No ingest has run yet.")], className="card-block"),
        html.Div([html.H2(f"Quarantine ({q.height} records)"),
                  html.P("Records that broke the schema are kept here with every problem found, never dropped.",
                         className="muted small"),
                  quarantine_rows(q) if q.height else note("Nothing in quarantine.")], className="card-block"),
        html.Div([html.H2("Snapshots"), snap_part], className="card-block"),
        html.Div([html.H2("Store versions (newest first)"),
                  frame_table(hist, headers={"at": "committed"})], className="card-block"),
    ])
