"""Remix decay: fidelity by generation, survival of trees, tree shapes."""
from __future__ import annotations

import dash
from dash import html

from dashboard import measures
from dashboard.data import archive
from dashboard.panels import note

dash.register_page(__name__, path="/decay", name="Decay", order=4, title="Decay · Remix Archivist")


def layout(**_: str) -> html.Div:
    archive()
    return html.Div([html.H1("Remix decay"),
                     html.P("How much of the root survives each generation, how long trees stay active, and "
                            "what shape they grow into.", className="lead"),
                     note("Decay " + measures.MISSING + ".")])
