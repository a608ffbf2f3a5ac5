"""Style bleed: styles that jump from one tree to another, and whether styles converge."""
from __future__ import annotations

import dash
from dash import html

from dashboard import measures
from dashboard.data import archive
from dashboard.panels import note

dash.register_page(__name__, path="/bleed", name="Style bleed", order=3, title="Style bleed · Remix Archivist")


def layout(**_: str) -> html.Div:
    archive()
    return html.Div([html.H1("Style bleed"),
                     html.P("A style term that is new in a remix is bled when another tree used it first, "
                            "novel when nobody had used it before.", className="lead"),
                     note("Style bleed " + measures.MISSING + ".")])
