"""Overview: the archive's counts and its largest trees."""
from __future__ import annotations

import dash
from dash import dash_table, html

from dashboard.data import archive

dash.register_page(__name__, path="/", name="Overview", order=0)


def layout(**_: str) -> html.Div:
    arc = archive()
    s = arc.stats()
    cards = [("posts", s["posts"]), ("trees", s["trees"]), ("edges", s["edges"]),
             ("deepest chain", s["max_depth"]), ("ingest runs", s["runs"]), ("quarantined", s["quarantined"])]
    trees = arc.trees().head(15).select("root", "size", "depth", "views", "root_text")
    return html.Div([
        html.H1("Overview"),
        html.P(f"Archive {s['archive']}, store version {s['version']}."),
        html.Div([html.Div([html.Div(f"{v:,}", className="figure"), html.Div(k, className="label")],
                           className="card") for k, v in cards], className="cards"),
        html.H2("Largest trees"),
        dash_table.DataTable(data=trees.to_dicts(), columns=[{"name": c, "id": c} for c in trees.columns],
                             style_cell={"textAlign": "left", "whiteSpace": "normal"}, page_size=15),
    ])
