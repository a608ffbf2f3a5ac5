"""Pure figure builders: polars frames in, ``plotly.graph_objects.Figure`` out.

No archive access and no Dash here, so every builder is tested as a plain
function. Any text that came from a post (prompts, authors) is HTML-escaped
before it reaches a figure: plotly renders a few tags in hover labels.
"""
from __future__ import annotations

import html
import math

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from archive.shorten import cut, cut_expr, one_line
from lineage.bidi import BIDI_CONTROLS, show_bidi
from lineage.decay import fidelity_curve
from lineage.layout import tidy_layout, visible_nodes

__all__ = [
    "TEMPLATE", "DRIFT_SCALE", "GL_THRESHOLD", "empty_figure", "tree_figure", "growth_figure",
    "tree_sizes_figure", "safe_text",
]

TEMPLATE = "plotly_white"
DRIFT_SCALE = "Viridis"  # 0 = same words as the root (dark), 1 = nothing in common (yellow)
GL_THRESHOLD = 1500  # more drawn nodes than this: WebGL markers
MODEBAR_PX = 26  # height of plotly's toolbar row: titles start below it
FONT = dict(family="system-ui, -apple-system, Segoe UI, sans-serif", size=13)


def safe_text(s: str | None, width: int = 90) -> str:
    """Post text made safe and short for a plotly label: one line, at most ``width`` chars,
    ``& < >`` escaped (plotly renders a few tags in labels) and bidi controls shown visibly.

    >>> safe_text("<script>alert(1)</script> a cat", 20)
    '&lt;script&gt;alert(1)&lt;/s…'
    >>> safe_text("mallory\u202e")
    'mallory⟨U+202E⟩'
    """
    if not s:
        return ""
    one = cut(one_line(s), width)
    return html.escape(show_bidi(one), quote=False)  # SVG labels have no bidi isolate


def _use_template(fig: go.Figure) -> None:
    """Give ``fig`` the dashboard's template without validating it again.

    Setting ``template="plotly_white"`` by name validates and deep-copies the whole template on
    every figure (a third of a page's time in a profile); the registered template is valid
    already, so it is set the way plotly sets its default template (validation off, one copy).
    """
    lay = fig.layout
    was = lay._validate
    lay._validate = False
    try:
        lay.template = pio.templates[TEMPLATE]
    finally:
        lay._validate = was


def _base(fig: go.Figure, *, title: str | None = None, height: int | None = None,
          subtitle: str | None = None) -> go.Figure:
    has_legend = len(fig.data) > 1 and any(getattr(t, "showlegend", False) is not False for t in fig.data)
    # titled figures keep a row above the title for plotly's toolbar (it would cover a long title)
    top = (40 + MODEBAR_PX if title else 10) + (18 if subtitle else 0) + (28 if has_legend else 0)
    _use_template(fig)
    fig.update_layout(font=FONT, margin=dict(l=50, r=20, t=top, b=40))
    return _titled(fig, title=title, height=height, subtitle=subtitle, has_legend=has_legend)


def _titled(fig: go.Figure, *, title: str | None, height: int | None, subtitle: str | None,
            has_legend: bool) -> go.Figure:
    if has_legend:
        fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=1.0, yanchor="bottom"))
    if title:
        t = dict(text=title, x=0, xanchor="left", y=1.0, yanchor="top", yref="container", pad=dict(t=MODEBAR_PX))
        if subtitle:
            t["subtitle"] = dict(text=subtitle, font=dict(size=12, color="#5b6673"))
        fig.update_layout(title=t)
    if height:
        fig.update_layout(height=height)
    return fig


def empty_figure(message: str, *, height: int = 300) -> go.Figure:
    """A blank figure that says why it is blank."""
    fig = go.Figure()
    fig.add_annotation(text=html.escape(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=15, color="#555"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base(fig, height=height)


def _safe_expr(col: str, width: int) -> pl.Expr:
    """:func:`safe_text` as a polars expression (one line, cut to ``width``, ``& < >`` escaped)."""
    e = pl.col(col).fill_null("").str.replace_all(r"\s+", " ").str.strip_chars()
    e = cut_expr(e, width)
    e = e.str.replace_many(list(map(chr, BIDI_CONTROLS)), list(BIDI_CONTROLS.values()))
    return (e.str.replace_all("&", "&amp;", literal=True).str.replace_all("<", "&lt;", literal=True)
            .str.replace_all(">", "&gt;", literal=True))


def _hover_labels(f: pl.DataFrame, *, size_col: str, lean: bool) -> np.ndarray:
    """Hover labels of the tree's posts (``id, text, depth, metric, drift, hidden, placeholder``), escaped."""
    if lean:  # big trees: a short label (the panel shows the rest on click), a much smaller payload
        expr = pl.concat_str([_safe_expr("id", 40), pl.lit("<br>gen "), pl.col("depth").cast(pl.String),
                              pl.lit(f" · {size_col} "), pl.col("metric"), pl.lit("<br>"), _safe_expr("text", 48)])
    else:
        drift = pl.when(pl.col("drift").is_not_null()).then(
            pl.lit(" · drift from root ") + pl.col("drift").round(2).cast(pl.String)).otherwise(pl.lit(""))
        hidden = pl.when(pl.col("hidden") > 0).then(
            pl.lit("<br>+") + pl.col("hidden").cast(pl.String) + pl.lit(" remixes hidden (click to open)")
        ).otherwise(pl.lit(""))
        body = pl.when(pl.col("placeholder")).then(pl.lit("<br>(not in the archive)")).otherwise(
            pl.lit("<br>") + _safe_expr("text", 90))
        expr = pl.concat_str([pl.lit("<b>"), _safe_expr("id", 60), pl.lit("</b><br>depth "),
                              pl.col("depth").cast(pl.String), pl.lit(f" · {size_col} "), pl.col("metric"),
                              drift, hidden, body])
    return f.select(expr.alias("h")).get_column("h").to_numpy()


def _marker_sizes(values: np.ndarray, *, lo: float = 7, hi: float = 26) -> np.ndarray:
    v = np.log1p(np.clip(np.nan_to_num(values, nan=0.0), 0, None))
    top = v.max() if v.size else 0.0
    return lo + (hi - lo) * (v / top if top > 0 else v)


LABEL_PX_PER_CHAR = 7.0  # a 10 px label character, with room to spare
NARROWEST_PLOT_PX = 300.0  # the tree's plot area in an 800 px window (measured: 308 px beside the color bar)


def _fold_labels(x: np.ndarray, y: np.ndarray, folded: np.ndarray, n_hidden: np.ndarray) -> list[str]:
    """``+N`` under each folded post whose label fits between its neighbours on its row, else ``""``
    (the count is in the hover label and on click). The plot is at least ``NARROWEST_PLOT_PX``
    wide, so a row's labels never overlap, whatever the window's width."""
    px_per_unit = NARROWEST_PLOT_PX / max((float(np.ptp(x)) + 1.0) * 1.3, 1.0)  # plotly pads the x range
    labels = [f"+{int(k):,}" for k in n_hidden[folded]]
    out = [""] * folded.size
    by_row: dict[float, list[int]] = {}
    for j, i in enumerate(folded):
        by_row.setdefault(float(y[i]), []).append(j)
    for row in by_row.values():
        row.sort(key=lambda j: x[folded[j]])
        right_edge = -np.inf  # where the last label drawn on this row ends, in x units
        for j in row:
            half = len(labels[j]) * LABEL_PX_PER_CHAR / 2 / px_per_unit
            xj = float(x[folded[j]])
            if xj - half > right_edge:
                out[j] = labels[j]
                right_edge = xj + half
    return out


def tree_figure(nodes: pl.DataFrame, *, root: str, drift: pl.DataFrame | None = None, size_by: str = "views",
                max_depth: int | None = None, collapsed: set[str] | frozenset[str] = frozenset(),
                expanded: set[str] | frozenset[str] = frozenset(), selected: str | None = None, compare: str | None = None, height: int = 620,
                pictures: dict[str, str] | None = None) -> go.Figure:
    """The remix tree under ``root`` drawn as a tidy tree.

    ``nodes`` has ``id, parent, depth, text, views, remixes, placeholder`` (children are drawn in
    row order); ``drift`` (optional) has ``id, root_drift`` and colors the nodes; marker area
    follows ``size_by`` (``views``, ``likes`` or ``remixes``, log-scaled). ``max_depth`` and
    ``collapsed`` limit what is drawn; a node with hidden remixes gets a ``+N`` label and a
    diamond marker. Each node's ``customdata`` is its id (what a click reports). The path from
    the root to ``selected`` is drawn thicker. A ``why`` column (text, null for declared links)
    marks posts whose link to their parent was inferred: that link is drawn dashed and the
    hover label says why. ``pictures`` (id -> thumbnail URL) draws each drawn post's picture
    as its marker when at most :data:`MAX_PICTURE_MARKERS` of them are drawn.
    """
    ids = nodes.get_column("id").to_list()
    if root not in set(ids):
        return empty_figure(f"{root} is not in this tree")
    parents = nodes.get_column("parent").to_list()
    depths = nodes.get_column("depth").to_list()
    shown, hidden = visible_nodes(ids, parents, depths, root=root, max_depth=max_depth, collapsed=collapsed,
                                   expanded=expanded)
    shown.sort()  # keep the frame's order (depth, time) for sibling order
    sub = nodes[shown]
    if drift is not None and drift.height:
        sub = sub.join(drift.select("id", "root_drift"), on="id", how="left", maintain_order="left")
    else:
        sub = sub.with_columns(root_drift=pl.lit(None, dtype=pl.Float64))
    sub_ids = sub.get_column("id").to_list()
    sub_par = [p if i != root else None for i, p in zip(sub_ids, sub.get_column("parent").to_list())]
    lay = tidy_layout(sub_ids, sub_par)
    n = len(sub_ids)
    hidden_by_id = {ids[i]: k for i, k in hidden.items()}
    n_hidden = np.array([hidden_by_id.get(i, 0) for i in sub_ids])
    size_col = size_by if size_by in sub.columns else "views"
    leaves = max(1, int(lay.x.max()) + 1) if n else 1
    big = n > GL_THRESHOLD
    hi = float(np.clip(1100 / leaves, 7, 24))  # about the gap between neighbouring leaves at a usual width
    sizes = _marker_sizes(sub.get_column(size_col).cast(pl.Float64).fill_null(0).to_numpy(), lo=max(5.0, hi / 2.5),
                          hi=hi)
    drift_v = sub.get_column("root_drift").cast(pl.Float64).to_numpy()
    placeholder = sub.get_column("placeholder").fill_null(False).to_numpy()
    hover = _hover_labels(sub.select("id", "text", "depth").with_columns(
        metric=pl.Series([f"{m:,}" for m in sub.get_column(size_col).fill_null(0).to_list()], dtype=pl.String),
        drift=pl.Series(drift_v).fill_nan(None), hidden=pl.Series(n_hidden), placeholder=pl.Series(placeholder)),
        size_col=size_col, lean=big)
    why = sub.get_column("why").to_list() if "why" in sub.columns else [None] * n
    inferred = np.array([w is not None for w in why], dtype=bool)
    if inferred.any():
        hover = np.array([h + ("<br><i>" + html.escape(show_bidi(w), quote=False) + "</i>" if w else "")
                          for h, w in zip(hover.tolist(), why)], dtype=object)
    # a why on a post drawn without its parent (the root: a cut link says why it has none) draws no line
    inferred &= lay.parent_index >= 0
    declared_lay = lay
    if inferred.any():  # two line traces: declared links solid, inferred ones dashed
        from dataclasses import replace

        declared_lay = replace(lay, parent_index=np.where(inferred, -1, lay.parent_index))
        inferred_lay = replace(lay, parent_index=np.where(inferred, lay.parent_index, -1))
    ex, ey = declared_lay.edge_xy(elbow=not big)  # big trees: straight edges and borderless markers draw faster
    kind = "scattergl" if big else "scatter"
    # Plain dicts of numpy arrays, wrapped without validation at the end: plotly's validation of a
    # 1,000-post figure costs more than laying it out. Every key below is a valid plotly property
    # (the figure tests and the browser tests would show a typo).
    traces: list[dict] = [dict(type=kind, x=ex, y=ey, mode="lines", line=dict(color="#b9c0c8", width=1),
                               hoverinfo="skip", name="remix edges", showlegend=False)]
    if inferred.any():
        ix, iy = inferred_lay.edge_xy(elbow=not big)
        traces.append(dict(type="scatter", x=ix, y=iy, mode="lines", hoverinfo="skip", showlegend=False,
                           line=dict(color="#8a6d3b", width=1.4, dash="dash"), name="inferred links"))
    has_drift = not np.all(np.isnan(drift_v))
    marker: dict = dict(size=sizes, color=np.where(np.isnan(drift_v), 0.0, drift_v) if has_drift else "#4c78a8",
                        line=dict(width=0 if big else 0.8, color="#ffffff"), opacity=1.0)
    if has_drift:
        marker.update(colorscale=DRIFT_SCALE, cmin=0.0, cmax=1.0, showscale=True,
                      colorbar=dict(title=dict(text="drift<br>from root"), thickness=12, len=0.6))
    traces.append(dict(type=kind, x=lay.x, y=lay.y, mode="markers", marker=marker,
                       customdata=np.array(sub_ids, dtype=object), hovertext=hover, hoverinfo="text", name="posts",
                       showlegend=False))
    folded = np.flatnonzero(n_hidden > 0)
    if folded.size:  # posts with hidden remixes: a diamond outline over them, "+N" under them where it fits
        few = folded.size <= 300
        traces.append(dict(type="scatter", x=lay.x[folded], y=lay.y[folded], mode="markers+text" if few else "markers",
                           marker=dict(symbol="diamond-open", size=sizes[folded] + 6, color="#222",
                                       line=dict(width=2)),
                           text=_fold_labels(lay.x, lay.y, folded, n_hidden) if few else None,
                           textposition="bottom center", textfont=dict(size=10, color="#333"), hoverinfo="skip",
                           showlegend=False, name="folded"))
    ph = np.flatnonzero(placeholder)
    if ph.size:  # posts not in the archive: a grey ring
        traces.append(dict(type="scatter", x=lay.x[ph], y=lay.y[ph], mode="markers", hoverinfo="skip",
                           showlegend=False, marker=dict(symbol="circle-open", size=sizes[ph] + 4, color="#888",
                                                         line=dict(width=2)), name="not in the archive"))
    pos = {v: k for k, v in enumerate(sub_ids)}
    for node, colour, label in ((selected, "#d62728", "selected"), (compare, "#ff7f0e", "compared")):
        if node is None or node not in pos:
            continue
        path_x: list[float | None] = []
        path_y: list[float | None] = []
        k = pos[node]
        steps = 0
        while lay.parent_index[k] >= 0 and steps <= n:  # the elbows from the node up to the root
            p = int(lay.parent_index[k])
            mid = (lay.y[p] + lay.y[k]) / 2
            path_x += [lay.x[k], lay.x[k], lay.x[p], lay.x[p], None]
            path_y += [lay.y[k], mid, mid, lay.y[p], None]
            k, steps = p, steps + 1
        traces.append(dict(type="scatter", x=path_x, y=path_y, mode="lines", line=dict(color=colour, width=3),
                           hoverinfo="skip", showlegend=False, name=f"path to {label}"))
        traces.append(dict(type="scatter", x=[lay.x[pos[node]]], y=[lay.y[pos[node]]], mode="markers",
                           marker=dict(size=float(sizes[pos[node]] + 10), color="rgba(0,0,0,0)",
                                       line=dict(color=colour, width=3)),
                           customdata=[node], hoverinfo="skip", showlegend=False, name=label))
    depth_max = int(-lay.y.min()) if n else 0
    base_depth = depths[ids.index(root)]
    step = max(1, math.ceil((depth_max + 1) / 25))
    # no named template either: copying one costs more than the whole tree (this is the explorer's hot path)
    layout = dict(
        xaxis=dict(visible=False),
        yaxis=dict(title=dict(text="generation"), tickmode="array",
                   tickvals=[-d for d in range(0, depth_max + 1, step)],
                   ticktext=[str(d + base_depth) for d in range(0, depth_max + 1, step)], zeroline=False,
                   showgrid=True, gridcolor="#eef0f3", showline=False, ticks=""),
        dragmode="pan", hovermode="closest", clickmode="event", uirevision=root, height=height,
        paper_bgcolor="#ffffff", plot_bgcolor="#ffffff", font=FONT, margin=dict(l=50, r=20, t=10, b=20),
        hoverlabel=dict(font=dict(size=12)),
        meta=dict(root=root, drawn=n, hidden=int(n_hidden.sum()),
                  folded=[sub_ids[i] for i in np.flatnonzero(n_hidden > 0)]))  # state for clicks, not the hover
    if pictures:
        shown_pics = [(k, pictures[i]) for k, i in enumerate(sub_ids) if i in pictures]
        if 0 < len(shown_pics) <= MAX_PICTURE_MARKERS:  # a picture per post, over its marker (1 unit apart)
            layout["images"] = [dict(source=src, x=float(lay.x[k]), y=float(lay.y[k]), xref="x", yref="y",
                                     sizex=0.8, sizey=0.6, xanchor="center", yanchor="middle", layer="above",
                                     sizing="contain", name=sub_ids[k]) for k, src in shown_pics]
    fig = go.Figure(dict(data=traces, layout=layout), _validate=False)
    return fig


MAX_PICTURE_MARKERS = 60  # more pictures than this in one view are too small to see: markers stay dots


def growth_figure(posts: pl.DataFrame, *, freq: str = "1d") -> go.Figure:
    """Archive growth: posts created per ``freq`` (bars) and the running total (line).

    ``posts`` has ``created_at`` (placeholders, with no time, are skipped).
    """
    p = posts.drop_nulls("created_at")
    if p.height == 0:
        return empty_figure("no posts yet")
    by = (p.sort("created_at").group_by_dynamic("created_at", every=freq).agg(n=pl.len())
          .with_columns(total=pl.col("n").cum_sum()))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=by.get_column("created_at"), y=by.get_column("n"), name="new posts",
                         marker_color="#9ecae1", yaxis="y2"))
    fig.add_trace(go.Scatter(x=by.get_column("created_at"), y=by.get_column("total"), name="posts in the archive",
                             mode="lines", line=dict(color="#08519c", width=2.5)))
    fig.update_layout(yaxis=dict(title="posts in the archive", rangemode="tozero"),
                      yaxis2=dict(title="new posts per day", overlaying="y", side="right", showgrid=False,
                                  rangemode="tozero", tickmode="auto"),
                      hovermode="x unified")
    return _base(fig, title="Archive growth (by post creation time)", height=340)


def tree_sizes_figure(trees: pl.DataFrame) -> go.Figure:
    """Tree size against depth, one point per tree (``root, size, depth, root_text``)."""
    if trees.height == 0:
        return empty_figure("no trees yet")
    fig = go.Figure(go.Scatter(
        x=trees.get_column("depth"), y=trees.get_column("size"), mode="markers",
        marker=dict(size=9, color="#4c78a8", opacity=0.7),
        customdata=trees.get_column("root"),
        hovertext=[f"<b>{safe_text(r, 40)}</b><br>{safe_text(t, 70)}"
                   for r, t in zip(trees.get_column("root").to_list(), trees.get_column("root_text").to_list())],
        hoverinfo="text+x+y"))
    fig.update_xaxes(title="deepest generation")
    fig.update_yaxes(title="posts in the tree", rangemode="tozero")
    return _base(fig, title="Trees: size and depth (click one to explore it)", height=340)


def drift_by_depth_figure(nd: pl.DataFrame) -> go.Figure:
    """Drift from the root by generation: a box per generation and the mean as a line.

    ``nd`` has ``depth`` and ``root_drift`` (one row per post).
    """
    d = nd.drop_nulls("root_drift").filter(pl.col("depth") > 0)
    if d.height == 0:
        return empty_figure("no remixes with text to measure")
    # the box statistics are computed here (plotly's rule: linear quartiles, whiskers at the furthest
    # value within 1.5 IQR), so the figure carries a few numbers per generation, not every post
    y = pl.col("root_drift")
    q1, q3 = y.quantile(0.25, "linear"), y.quantile(0.75, "linear")
    means = (d.group_by("depth").agg(
        mean=y.mean(), n=pl.len(), q1=q1, median=y.median(), q3=q3,
        lowerfence=y.filter(y >= q1 - 1.5 * (q3 - q1)).min(), upperfence=y.filter(y <= q3 + 1.5 * (q3 - q1)).max())
        .sort("depth"))
    fig = go.Figure()
    fig.add_trace(go.Box(x=means.get_column("depth"), q1=means.get_column("q1"), median=means.get_column("median"),
                         q3=means.get_column("q3"), lowerfence=means.get_column("lowerfence"),
                         upperfence=means.get_column("upperfence"), name="posts", boxpoints=False,
                         marker_color="#9ecae1", line=dict(width=1)))
    fig.add_trace(go.Scatter(x=means.get_column("depth"), y=means.get_column("mean"), mode="lines+markers",
                             name="mean", line=dict(color="#08519c", width=2.5),
                             customdata=means.get_column("n"),
                             hovertemplate="generation %{x}: mean drift %{y:.2f} over %{customdata} posts<extra></extra>"))
    fig.update_xaxes(title="generation (remix of a remix of …)", dtick=1)
    fig.update_yaxes(title="drift from the root", range=[0, 1.02])
    return _base(fig, title="How far prompts drift from their root, by generation", height=380)


def edge_drift_histogram(nd: pl.DataFrame) -> go.Figure:
    """How much one remix step changes a prompt: histogram of ``edge_drift``."""
    d = nd.drop_nulls("edge_drift")
    if d.height == 0:
        return empty_figure("no remix steps to measure")
    # counted here in bins of 0.05 (a drift of exactly 1 has its own bin, as before): 21 bars, not every step
    b = (d.select(k=(pl.col("edge_drift") / 0.05 + 1e-9).floor().clip(0, 20).cast(pl.Int32))
         .group_by("k").len().sort("k"))
    lo = b.get_column("k").to_numpy() * 0.05
    fig = go.Figure(go.Bar(x=lo + 0.025, y=b.get_column("len"), width=0.05, marker_color="#4c78a8",
                           customdata=np.stack([lo, lo + 0.05], axis=1),
                           hovertemplate="drift %{customdata[0]:.2f}–%{customdata[1]:.2f}: %{y} remixes"
                                         "<extra></extra>"))
    fig.update_layout(bargap=0)
    fig.update_xaxes(title="drift of one remix step (vs its parent)", range=[0, 1])
    fig.update_yaxes(title="remixes")
    return _base(fig, title="Size of each remix step", height=380)


def log_ticks(values) -> dict:
    """Tick marks for a log axis over ``values``: 1, 2, 5, 10, 20, 50, … written out in full
    (plotly's own ``D2`` ticks write 20 and 200 as "2", which reads as "5 10 2 5 100 2").

    >>> log_ticks([3, 480])["ticktext"]
    ['2', '5', '10', '20', '50', '100', '200', '500']
    """
    vals = [float(v) for v in values if v is not None and v > 0]
    if not vals:
        return {}
    lo, hi = min(vals), max(vals)
    ticks, k = [], 0
    while True:
        for m in (1, 2, 5):
            t = m * 10 ** k
            if t > hi * 1.5:
                return dict(tickmode="array", tickvals=ticks, ticktext=[f"{t:,}" for t in ticks])
            if t >= lo / 1.5:
                ticks.append(t)
        k += 1


def drift_rate_figure(rates: pl.DataFrame) -> go.Figure:
    """Per tree: drift rate (slope of root drift on generation) against tree size.

    ``rates`` has ``root, size, drift_rate, root_text``.
    """
    d = rates.drop_nulls("drift_rate")
    if d.height == 0:
        return empty_figure("no tree is deep enough for a drift rate")
    fig = go.Figure(go.Scatter(
        x=d.get_column("size"), y=d.get_column("drift_rate"), mode="markers",
        marker=dict(size=9, color=d.get_column("drift_rate"), colorscale=DRIFT_SCALE, cmin=0, cmax=0.5,
                    line=dict(width=0.5, color="#fff")),
        customdata=d.get_column("root"),
        hovertext=[f"{safe_text(t, 70)}<br>{safe_text(r, 70)}" for r, t in zip(d.get_column("root").to_list(),
                                                             d.get_column("root_text").fill_null("").to_list())],
        hovertemplate="%{hovertext}<br>size %{x}, drift per generation %{y:.3f}<extra></extra>"))
    fig.update_xaxes(title="posts in the tree", type="log", **log_ticks(d.get_column("size").to_list()))
    fig.update_yaxes(title="drift per generation")
    return _base(fig, title="Drift rate per tree of 5+ posts (click one to explore it)", height=380)


def tree_labels(trees: pl.DataFrame, width: int = 24) -> dict[str, str]:
    """A readable, distinct name per tree: its root id and the start of its root prompt (escaped).

    ``trees`` has ``root`` and ``root_text``. Ids are unique, so two trees whose prompts begin
    alike still get different names.

    >>> tree_labels(pl.DataFrame({"root": ["s:1", "s:2"], "root_text": ["a corgi surfing at dawn", None]}), 12)
    {'s:1': 's:1 · a corgi sur…', 's:2': 's:2'}
    """
    out: dict[str, str] = {}
    for root, text in trees.select("root", "root_text").iter_rows():
        title = safe_text(text, width)
        out[root] = f"{safe_text(root, 40)} · {title}" if title else safe_text(root, 40)
    return out


def _top_flows(flow: pl.DataFrame, top: int) -> pl.DataFrame:
    return flow.sort(["adoptions", "from_root", "to_root"], descending=[True, False, False]).head(top)


def flow_heatmap(flow: pl.DataFrame, names: dict[str, str], *, top: int = 15) -> go.Figure:
    """Style flow between trees as a heatmap: rows give styles, columns take them.

    ``flow`` has ``from_root, to_root, adoptions``; the ``top`` trees by flow in or out are shown.
    """
    if flow.height == 0:
        return empty_figure("no style bled from one tree to another")
    volume = pl.concat([flow.select(root="from_root", n="adoptions"), flow.select(root="to_root", n="adoptions")])
    keep = (volume.group_by("root").agg(pl.col("n").sum()).sort(["n", "root"], descending=[True, False])
            .head(top).get_column("root").to_list())
    f = flow.filter(pl.col("from_root").is_in(keep), pl.col("to_root").is_in(keep))
    idx = {r: i for i, r in enumerate(keep)}
    z = np.zeros((len(keep), len(keep)))
    for a, b, n in f.select("from_root", "to_root", "adoptions").iter_rows():
        z[idx[a], idx[b]] = n
    labels = [names.get(r, safe_text(r, 30)) for r in keep]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, colorscale="Blues", zmin=0,
                               hovertemplate="%{y} → %{x}: %{z:.0f} style adoptions<extra></extra>",
                               colorbar=dict(title=dict(text="adoptions"), thickness=12)))
    fig.update_xaxes(title="tree that took the style", tickangle=40, automargin=True)
    fig.update_yaxes(title="tree the style came from", autorange="reversed", automargin=True)
    return _base(fig, title=f"Style flow between the {len(keep)} busiest trees", height=620)


def flow_sankey(flow: pl.DataFrame, names: dict[str, str], *, top: int = 30) -> go.Figure:
    """Style flow between trees as a Sankey diagram of the ``top`` biggest flows."""
    if flow.height == 0:
        return empty_figure("no style bled from one tree to another")
    f = _top_flows(flow, top)
    src = f.get_column("from_root").to_list()
    dst = f.get_column("to_root").to_list()
    left = list(dict.fromkeys(src))
    right = list(dict.fromkeys(dst))
    labels = [names.get(r, safe_text(r, 30)) for r in left] + [names.get(r, safe_text(r, 30)) for r in right]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=labels, pad=8, thickness=12, color=["#6baed6"] * len(left) + ["#fd8d3c"] * len(right)),
        link=dict(source=[left.index(s) for s in src], target=[len(left) + right.index(d) for d in dst],
                  value=f.get_column("adoptions").to_list(), color="rgba(120,120,120,0.25)")))
    return _base(fig, title=f"The {f.height} biggest style flows (left gave, right took)", height=620)


def adoption_timeline(labels: pl.DataFrame, *, every: str = "1w") -> go.Figure:
    """New style terms in remixes over time, stacked by label (``bled``, ``novel``, ``reused``).

    ``labels`` is :func:`lineage.bleed.label_new_styles` output (``created_at, depth, label``).
    """
    new = labels.filter(pl.col("label") != "inherited", pl.col("depth") > 0).drop_nulls("created_at")
    if new.height == 0:
        return empty_figure("no new style terms in remixes")
    by = (new.sort("created_at").with_columns(t=pl.col("created_at").dt.truncate(every))
          .group_by("t", "label").agg(n=pl.len()).sort("t"))
    colours = {"bled": "#e6550d", "novel": "#31a354", "reused": "#9ecae1"}
    names = {"bled": "bled (taken from another tree)", "novel": "novel (never used before)",
             "reused": "reused (back from its own tree)"}
    fig = go.Figure()
    for lab in ("bled", "novel", "reused"):
        d = by.filter(pl.col("label") == lab)
        fig.add_trace(go.Bar(x=d.get_column("t"), y=d.get_column("n"), name=names[lab], marker_color=colours[lab]))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="new style terms in remixes")
    return _base(fig, title="Style adoptions over time (per week)", height=380)


def homogenisation_figure(h: pl.DataFrame) -> go.Figure:
    """Style diversity (entropy, bits) and similarity between trees per time window."""
    if h.height == 0:
        return empty_figure("no styles to measure")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=h.get_column("window"), y=h.get_column("entropy"), name="style diversity (entropy, bits)",
                             mode="lines+markers", line=dict(color="#08519c", width=2.5)))
    fig.add_trace(go.Scatter(x=h.get_column("window"), y=h.get_column("mean_pairwise_similarity"),
                             name="similarity between trees' styles", mode="lines+markers", yaxis="y2",
                             line=dict(color="#e6550d", width=2.5, dash="dot")))
    fig.update_layout(yaxis=dict(title="entropy (bits)", rangemode="tozero"),
                      yaxis2=dict(title="mean similarity (0–1)", overlaying="y", side="right", showgrid=False,
                                  rangemode="tozero", tickmode="auto"))
    return _base(fig, title="Style diversity and similarity between trees over time",
                 subtitle="diversity falling while similarity rises would mean styles are converging",
                 height=380)


def fidelity_figure(fid: pl.DataFrame, fit: dict | None, *, of: str = "prompt") -> go.Figure:
    """Fidelity to the root by generation (mean ± sd) with the fitted curve and the half-life.

    ``fid`` has ``depth, nodes, fidelity, sd``; ``fit`` has ``F_inf, lambda, half_life`` (or ``None``).
    ``of="picture"`` titles it for visual fidelity (1 − visual drift from the root's picture).
    """
    if fid.height == 0:
        return empty_figure("no posts with text to measure" if of == "prompt" else "no pictures to measure")
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=fid.get_column("depth"), y=fid.get_column("fidelity"), mode="markers", name="measured (mean ± sd)",
        error_y=dict(type="data", array=fid.get_column("sd").fill_null(0).to_list(), color="#9ecae1"),
        marker=dict(size=np.clip(np.sqrt(fid.get_column("nodes").to_numpy()) * 1.2, 6, 22), color="#08519c"),
        customdata=fid.get_column("nodes"),
        hovertemplate="generation %{x}: fidelity %{y:.2f} over %{customdata} posts<extra></extra>"))
    if fit and fit.get("lambda") is not None:
        d = np.linspace(0, float(fid.get_column("depth").max()), 120)
        f_inf, lam = float(fit["F_inf"]), float(fit["lambda"])
        fig.add_trace(go.Scatter(x=d, y=fidelity_curve(fit, d), mode="lines",
                                 name=f"fit F∞ + (1−F∞)e^(−λd), F∞={f_inf:.2f}, λ={lam:.2f}",
                                 line=dict(color="#e6550d", width=2.5)))
        hl = fit.get("half_life")
        if hl is not None and math.isfinite(hl):
            fig.add_vline(x=hl, line=dict(color="#e6550d", dash="dot"),
                          annotation_text=f"half-life {hl:.1f} generations", annotation_position="top right")
    fig.update_xaxes(title="generation", dtick=1)
    if of == "prompt":
        fig.update_yaxes(title="fidelity to the root (1 − drift)", range=[0, 1.05])
        return _base(fig, title="Remix decay: how much of the root's prompt survives", height=400)
    fig.update_yaxes(title="visual fidelity to the root (1 − visual drift)", range=[0, 1.05])
    return _base(fig, title="Visual decay: how much of the root's picture survives", height=400)


def branching_figure(table: pl.DataFrame, fit: dict | None) -> go.Figure:
    """Remixes per post by generation (``generation, nodes, children, m``) with the fit ``m0 γ^g``."""
    t = table.filter(pl.col("nodes") > 0)
    if t.height == 0:
        return empty_figure("no generations")
    fig = go.Figure(go.Bar(x=t.get_column("generation"), y=t.get_column("m"), name="measured remixes per post",
                           marker_color="#9ecae1", customdata=t.get_column("nodes"),
                           hovertemplate="generation %{x}: %{y:.2f} remixes per post (%{customdata} posts)"
                                         "<extra></extra>"))
    if fit and fit.get("m0") is not None:
        g = t.get_column("generation").to_numpy()
        fig.add_trace(go.Scatter(x=g, y=fit["m0"] * fit["gamma"] ** g, mode="lines+markers",
                                 name=f"fit m0·γ^g, m0={fit['m0']:.2f}, γ={fit['gamma']:.2f}",
                                 line=dict(color="#e6550d", width=2.5)))
    fig.add_hline(y=1, line=dict(color="#888", dash="dot"), annotation_text="1 remix per post",
                  annotation_position="bottom left")
    fig.update_xaxes(title="generation", dtick=1)
    fig.update_yaxes(title="remixes per post", rangemode="tozero")
    return _base(fig, title="Branching decay: fewer remixes each generation", height=400)


def survival_figure(km: pl.DataFrame, summary: dict | None = None) -> go.Figure:
    """Kaplan–Meier survival of tree activity (``time`` in days, ``survival``)."""
    if km.height == 0:
        return empty_figure("no trees with remixes")
    x = np.concatenate([[0.0], km.get_column("time").to_numpy()])
    y = np.concatenate([[1.0], km.get_column("survival").to_numpy()])
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", line=dict(shape="hv", color="#08519c", width=2.5),
                               name="share of trees still getting remixes",
                               hovertemplate="after %{x:.1f} days: %{y:.0%} of trees still active<extra></extra>"))
    cens = km.filter(pl.col("censored") > 0)
    if cens.height:
        fig.add_trace(go.Scatter(x=cens.get_column("time"), y=cens.get_column("survival"), mode="markers",
                                 marker=dict(symbol="line-ns-open", size=10, color="#555"),
                                 name="still active at fetch time (censored)"))
    if summary and summary.get("half_life_days") is not None:
        fig.add_vline(x=summary["half_life_days"], line=dict(color="#e6550d", dash="dot"),
                      annotation_text=f"half the remixes came within {summary['half_life_days']:.1f} days",
                      annotation_position="top right")
    fig.update_xaxes(title="days since the root was posted", rangemode="tozero")
    fig.update_yaxes(title="trees still active", tickformat=".0%", range=[0, 1.05])
    return _base(fig, title="How long trees keep being remixed (Kaplan–Meier)", height=400)


def tree_shapes_figure(shapes: pl.DataFrame, names: dict[str, str] | None = None) -> go.Figure:
    """Tree shapes: size against structural virality (broadcast ≈ low, viral chains ≈ high), color = depth."""
    s = shapes.filter(pl.col("size") > 1)
    if s.height == 0:
        return empty_figure("no tree has remixes")
    names = names or {}
    fig = go.Figure(go.Scatter(
        x=s.get_column("size"), y=s.get_column("structural_virality"), mode="markers",
        marker=dict(size=10, color=s.get_column("depth"), colorscale="Blues", showscale=True,
                    colorbar=dict(title=dict(text="depth"), thickness=12), line=dict(width=0.5, color="#333")),
        customdata=s.get_column("root"),
        hovertext=[f"{names.get(r, safe_text(r, 30))}<br>depth {d}, breadth {b}, Sackin {sk}, Colless-like {c:.2f}"
                   for r, d, b, sk, c in s.select("root", "depth", "breadth", "sackin", "colless_like").iter_rows()],
        hovertemplate="%{hovertext}<br>size %{x}, structural virality %{y:.2f}<extra></extra>"))
    fig.update_xaxes(title="posts in the tree", type="log", **log_ticks(s.get_column("size").to_list()))
    fig.update_yaxes(title="structural virality")
    return _base(fig, title="Tree shapes (click a tree to explore it)", height=400)
