"""Drift: how far prompts move from their root, step by step and tree by tree."""
from __future__ import annotations

import dash
import polars as pl
from dash import Input, Output, callback, dcc, html, no_update

from dashboard import measures
from dashboard.data import archive
from dashboard.figures import drift_by_depth_figure, drift_rate_figure, edge_drift_histogram
from dashboard.pagecache import cached_page
from dashboard.panels import explore_href, note
from dashboard.tables import frame_table, tree_link

dash.register_page(__name__, path="/drift", name="Drift", order=2, title="Drift · Remix Archivist")


@cached_page("drift", title="Prompt drift")
def layout(**_: str) -> html.Div:
    arc = archive()
    nd = measures.archive_drift(arc)
    head = [html.H1("Prompt drift"),
            html.P("Drift compares the words of two prompts: 0 means the same words, 1 means no word in common. "
                   "Each remix step moves a prompt a little; over generations it wanders away from the root.",
                   className="lead")]
    head += [note(t) for t in measures.stale_notes(arc, newer=False)]
    if nd is None:
        return html.Div(head + [note("Drift " + measures.MISSING + ".")])
    trees = arc.trees().select("root", "size", "root_text")
    rates = measures.drift_rates(nd).join(trees, on="root", how="inner").filter(pl.col("size") >= 5)
    posts = arc.posts().select("id", "text")
    top = (nd.drop_nulls("edge_drift").sort(["edge_drift", "id"], descending=[True, False]).head(12)
           .join(posts, on="id", how="left").select("id", "root", "depth", "edge_drift", "root_drift", "text"))
    roots = dict(zip(top.get_column("id").to_list(), top.get_column("root").to_list()))
    summary = nd.drop_nulls("edge_drift").select(
        steps=pl.len(), mean=pl.col("edge_drift").mean(), unchanged=(pl.col("edge_drift") == 0).mean()).row(
        0, named=True)
    return html.Div(head + [
        html.Div([html.Div([html.Div(f"{summary['steps']:,}", className="figure"),
                            html.Div("remix steps measured", className="label")], className="card"),
                  html.Div([html.Div(f"{(summary['mean'] or 0):.2f}", className="figure"),
                            html.Div("mean drift of one step", className="label")], className="card"),
                  html.Div([html.Div(f"{100 * (summary['unchanged'] or 0):.0f}%", className="figure"),
                            html.Div("steps that kept every word", className="label")], className="card")],
                 className="cards"),
        html.Div([dcc.Graph(figure=drift_by_depth_figure(nd), config={"displaylogo": False}),
                  dcc.Graph(figure=edge_drift_histogram(nd), config={"displaylogo": False})], className="two"),
        html.Div([dcc.Graph(id="drift-rates", figure=drift_rate_figure(rates), config={"displaylogo": False}),
                  html.Div([html.H2("Biggest single remix steps"),
                            frame_table(top.drop("root"), headers={"edge_drift": "step drift",
                                                                   "root_drift": "from root", "depth": "gen"},
                                        cells={"id": lambda r: tree_link(roots[r["id"]], r["id"])}, width=80)],
                           className="card-block")], className="two"),
        dcc.Location(id="drift-go", refresh=True),
    ])


@callback(Output("drift-go", "href"), Input("drift-rates", "clickData"), prevent_initial_call=True)
def open_tree(click):
    """A click on a tree's point opens it in the explorer."""
    pts = (click or {}).get("points") or []
    return explore_href(pts[0]["customdata"]) if pts else no_update
