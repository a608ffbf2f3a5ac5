"""The page shown for an address the dashboard does not have (Dash's ``not_found_404`` page)."""
from __future__ import annotations

import dash
from dash import dcc, html

dash.register_page(__name__, path="/404", name="Not found", title="Not found · Remix Archivist")


def layout(**_query) -> html.Div:
    return html.Div([
        html.H1("No page at this address"),
        html.P("The link may be mistyped or from a newer version of Remix Archivist.", className="lead"),
        html.Ul([
            html.Li(dcc.Link("Overview: what the archive holds, its largest and most active trees", href="/")),
            html.Li(dcc.Link("Explorer: find a post or a tree by its id or by words of its prompt", href="/explore")),
            html.Li(dcc.Link("Archive: ingest runs, quarantine and snapshots", href="/archive")),
        ], className="links"),
    ], id="not-found")
