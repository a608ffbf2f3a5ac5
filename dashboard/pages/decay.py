"""Remix decay: fidelity by generation with its fitted half-life, branching, survival, tree shapes."""
from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html, no_update

from dashboard import measures
from dashboard.data import archive
from dashboard.figures import (branching_figure, fidelity_figure, survival_figure, tree_labels,
                               tree_shapes_figure)
from dashboard.pagecache import cached_page
from dashboard.panels import explore_href, note
from dashboard.tables import frame_table, tree_link

dash.register_page(__name__, path="/decay", name="Decay", order=4, title="Decay · Remix Archivist")

LEAD = ("Down a remix chain the root's words fade: fidelity is 1 − drift from the root. The fitted curve "
        "gives a generational half-life. Trees also branch less each generation and stop being remixed "
        "after a while.")


def _card(value: str, label: str) -> html.Div:
    return html.Div([html.Div(value, className="figure"), html.Div(label, className="label")], className="card")


def _num(v, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


@cached_page("decay", title="Remix decay")
def layout(**_: str) -> html.Div:
    arc = archive()
    head = [html.H1("Remix decay"), html.P(LEAD, className="lead")]
    head += [note(t) for t in measures.stale_notes(arc, newer=False)]
    dec = measures.archive_decay(arc)
    if dec is None:
        return html.Div(head + [note("Decay " + measures.MISSING + ".")])
    fid, fit, btab, bfit = dec.fidelity, dec.fit, dec.branching, dec.branching_fit
    act, km, eng, shapes = dec.activity, dec.survival, dec.engagement, dec.shapes
    names = tree_labels(arc.trees())
    hl = fit.get("half_life")
    interval = (f" (95% interval {_num(fit.get('half_life_low'), '{:.1f}')}–"
                f"{_num(fit.get('half_life_high'), '{:.1f}')})" if fit.get("half_life_low") is not None else "")
    # a figure with a reason (undefined, or a fit that does not fit) is not headlined: the card says why
    cards = [
        _card("–" if fit.get("reason") else _num(hl, "{:.1f}"),
              "generational half-life: generations until half the root's words are gone"
              + (f" ({fit['reason']})" if fit.get("reason") else interval)),
        _card(_num(fit.get("F_inf")), "fidelity it levels off at (F∞)"),
        _card("–" if bfit.get("reason") else _num(bfit.get("m0")),
              "remixes a root gets on average (m0 of the branching fit)"
              + (f"; not shown: {bfit['reason']}" if bfit.get("reason") else "")),
        _card("–" if bfit.get("reason") else "×" + _num(bfit.get("gamma")),
              "each generation is remixed this many times as much as the one before (γ)"),
        _card(_num(act.get("half_life_days"), "{:.1f} days"),
              "activity half-life: half of all remixes came within this time of their root"),
        _card(_num(act.get("per_tree_median_days"), "{:.1f} days"),
              "the same measured tree by tree: the median of the trees' own half-lives"),
        _card(_num(act.get("median_lifetime_days"), "{:.1f} days"), "median time to a tree's last remix"),
        _card(_num(eng.get("slope"), "{:+.2f}"), "engagement: change of log(1+views) per generation"),
    ]
    top = (shapes.sort(["structural_virality", "root"], descending=[True, False]).head(10)
           .join(arc.trees().select("root", "root_text"), on="root", how="left")
           .select(c for c in ("root", "size", "depth", "breadth", "leaves", "structural_virality", "sackin",
                               "colless_like", "root_text") if c in shapes.columns or c == "root_text"))
    return html.Div(head + [
        html.Div(cards, className="cards"),
        html.Div([dcc.Graph(figure=fidelity_figure(fid, fit), config={"displaylogo": False}),
                  dcc.Graph(figure=branching_figure(btab, bfit), config={"displaylogo": False})], className="two"),
        html.Div([dcc.Graph(figure=survival_figure(km, act), config={"displaylogo": False}),
                  dcc.Graph(id="decay-shapes", figure=tree_shapes_figure(shapes, names),
                            config={"displaylogo": False})], className="two"),
        html.Div([html.H2("Most viral-shaped trees (long chains rather than one broadcast)"),
                  frame_table(top, headers={"structural_virality": "structural virality", "root_text": "root prompt"},
                              cells={"root": lambda r: tree_link(r["root"])}, width=60)], className="card-block"),
        dcc.Location(id="decay-go", refresh=True),
    ])


@callback(Output("decay-go", "href"), Input("decay-shapes", "clickData"), prevent_initial_call=True)
def open_tree(click):
    """A click on a tree's point opens it in the explorer."""
    pts = (click or {}).get("points") or []
    return explore_href(pts[0]["customdata"]) if pts else no_update
