"""Style bleed: styles that jump from one tree to another, when, and whether styles converge."""
from __future__ import annotations

import dash
import polars as pl
from dash import Input, Output, callback, clientside_callback, dcc, html

from dashboard import measures
from dashboard.data import archive
from dashboard.figures import (adoption_timeline, empty_figure, flow_heatmap, flow_sankey, homogenisation_figure,
                                tree_labels)
from dashboard.pagecache import cached_page
from dashboard.panels import note
from dashboard.tables import frame_table, tree_link

dash.register_page(__name__, path="/bleed", name="Style bleed", order=3, title="Style bleed · Remix Archivist")

LEAD = ("Every style term of a remix (from the style lexicon, or the post's own tags) is labelled: inherited "
        "from its parent; reused from its own tree; bled when another tree used it first; novel when nobody "
        "had. Bleed shows styles travelling between unrelated remix chains.")


def flow_figure(kind: str, flow: pl.DataFrame, names: dict[str, str]):
    """The flow matrix as a heatmap or a Sankey diagram."""
    return flow_sankey(flow, names) if kind == "sankey" else flow_heatmap(flow, names)


def _flow(arc) -> tuple[pl.DataFrame, dict[str, str]] | None:
    flow = measures.fresh_table(arc, "flow")  # stored: no need to read every style label
    if flow is None:
        labels = measures.archive_style_labels(arc)
        if labels is None:
            return None
        flow = measures.archive_flow(arc, labels)
    return flow, tree_labels(arc.trees())


@cached_page("bleed", title="Style bleed")
def layout(**query: str) -> html.Div:
    arc = archive()
    labels = measures.remix_style_labels(arc)  # the remixes' terms, four columns: never the whole table
    head = [html.H1("Style bleed"), html.P(LEAD, className="lead")]
    head += [note(t) for t in measures.stale_notes(arc, newer=False)]
    got = _flow(arc) if labels is not None else None
    if labels is None or got is None:
        return html.Div(head + [note("Style bleed " + measures.MISSING + ".")])
    flow, names = got
    counts = dict(labels.group_by("label").len().rows())
    new_terms = sum(v for k, v in counts.items() if k != "inherited")
    trees = arc.trees().select("root", "size", "root_text")
    rates = (measures.archive_bleed_rates(labels).join(trees, on="root", how="inner")
             .filter(pl.col("new_terms") >= 5).sort(["bleed_rate", "root"], descending=[True, False]).head(10)
             .select("root", "size", "new_terms", "bled", "novel", "bleed_rate", "root_text"))
    homog = measures.fresh_table(arc, "homogenisation")  # stored: no need to read every style term
    if homog is None:
        styles = measures.archive_styles(arc)
        homog = measures.archive_homogenisation(arc, styles) if styles is not None else None
    kind = query.get("view") if query.get("view") in ("heatmap", "sankey") else "heatmap"
    cards = [(f"{new_terms:,}", "new style terms in remixes"), (f"{counts.get('bled', 0):,}", "bled from another tree"),
             (f"{counts.get('novel', 0):,}", "novel"), (f"{counts.get('reused', 0):,}", "reused in their own tree"),
             (f"{(counts.get('bled', 0) / new_terms if new_terms else 0):.0%}", "bleed rate (bled / new)"),
             (f"{flow.height:,}", "tree-to-tree flows")]
    return html.Div(head + [
        html.Div([html.Div([html.Div(v, className="figure"), html.Div(k, className="label")], className="card")
                  for v, k in cards], className="cards"),
        html.Div([
            html.Div([html.Label("Show the flow as "),
                      dcc.RadioItems(id="bleed-kind", options=[{"label": "a heatmap", "value": "heatmap"},
                                                               {"label": "a Sankey diagram", "value": "sankey"}],
                                     value=kind, inline=True)], className="small"),
            dcc.Graph(id="bleed-flow", figure=flow_figure(kind, flow, names), config={"displaylogo": False}),
            dcc.Store(id="bleed-url-sink"),
        ], className="card-block"),
        html.Div([dcc.Graph(figure=adoption_timeline(labels), config={"displaylogo": False}),
                  dcc.Graph(figure=homogenisation_figure(homog) if homog is not None
                            else empty_figure("homogenisation " + measures.MISSING),
                            config={"displaylogo": False})], className="two"),
        html.Div([html.H2("Trees that borrow the most (at least 5 new terms)"),
                  frame_table(rates, headers={"new_terms": "new terms", "bleed_rate": "bleed rate",
                                              "root_text": "root prompt"},
                              cells={"root": lambda r: tree_link(r["root"])}, width=70)
                  if rates.height else note("No tree has enough new style terms.")],
                 className="card-block"),
    ])


@callback(Output("bleed-flow", "figure"), Input("bleed-kind", "value"), prevent_initial_call=True)
def switch_flow(kind):
    """Redraw the flow matrix as the chosen kind of figure."""
    got = _flow(archive())
    if got is None:
        return empty_figure("style bleed " + measures.MISSING)
    return flow_figure(kind, *got)


clientside_callback(  # keep the address bar on the chosen view, so the link can be shared
    """
    function(kind) {
        if (kind) { window.history.replaceState(window.history.state, "", "/bleed?view=" + kind); }
        return kind;
    }
    """,
    Output("bleed-url-sink", "data"),
    Input("bleed-kind", "value"),
    prevent_initial_call=True,
)
