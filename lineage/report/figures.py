"""The report's figures as plotly JSON dicts (the tree colored by drift, fidelity by generation)."""
from __future__ import annotations

import html
from typing import Any

import numpy as np
import polars as pl

from lineage.bidi import show_bidi
from lineage.decay import fidelity_curve
from lineage.report._text import _num, _short
from lineage.report.data import ReportData

__all__: list[str] = []


def _figures(d: ReportData) -> dict[str, dict[str, Any]]:
    """Plotly figures as plain dicts (plotly's JSON form): no per-point validation, so big trees stay fast."""
    figs: dict[str, dict[str, Any]] = {}
    if d.scope == "tree" and d.nodes.height:
        n = d.nodes
        inferred = (pl.col("parent_evidence") == "inferred").fill_null(False) if "parent_evidence" in n.columns \
            else pl.lit(False)
        edges = (n.select(pl.col("id").alias("c"), pl.col("parent").alias("p"), "x", "y", inferred.alias("inf"))
                 .join(n.select(pl.col("id").alias("p"), pl.col("x").alias("px"), pl.col("y").alias("py")),
                       on="p", how="inner").sort("c"))

        def xy(e: pl.DataFrame) -> tuple[list, list]:
            none = [None] * e.height
            return ([v for t in zip(e.get_column("px").to_list(), e.get_column("x").to_list(), none) for v in t],
                    [v for t in zip(e.get_column("py").to_list(), e.get_column("y").to_list(), none) for v in t])

        ex, ey = xy(edges.filter(~pl.col("inf")))
        ix, iy = xy(edges.filter(pl.col("inf")))
        hover = [html.escape(show_bidi(f"{i} · gen {dep} · root drift {_num(rd)}\n{_short(t, 120)}"))
                 .replace("\n", "<br>") for i, dep, rd, t in n.select("id", "depth", "root_drift", "text").iter_rows()]
        big = n.height > 2000
        figs["tree"] = {
            "data": [
                {"type": "scattergl" if big else "scatter", "x": ex, "y": ey, "mode": "lines",
                 "line": {"color": "#bbb", "width": 1}, "hoverinfo": "skip", "name": "declared link"},
                *([{"type": "scattergl" if big else "scatter", "x": ix, "y": iy, "mode": "lines",
                    "line": {"color": "#c60", "width": 1.5, "dash": "dash"}, "hoverinfo": "skip",
                    "name": "inferred link"}] if ix else []),
                {"type": "scattergl" if big else "scatter", "x": n.get_column("x").to_list(),
                 "y": n.get_column("y").to_list(), "mode": "markers", "hovertext": hover, "hoverinfo": "text",
                 "marker": {"size": 5 if n.height > 300 else 9, "color": n.get_column("root_drift").fill_null(0).to_list(),
                            "colorscale": "Viridis", "cmin": 0, "cmax": 1, "line": {"width": 0.5, "color": "#333"},
                            "colorbar": {"title": {"text": "drift from root"}}}},
            ],
            "layout": {"title": {"text": "The remix tree, coloured by drift from the root (root at the top)"
                                 + (f"<br><sub>{html.escape(d.inferred)}: dashed</sub>" if d.inferred else "")},
                       "showlegend": False, "height": 520,
                       "margin": {"l": 40, "r": 20, "t": 75 if d.inferred else 50, "b": 30},
                       "xaxis": {"visible": False, "zeroline": False}, "plot_bgcolor": "white",
                       "yaxis": {"title": {"text": "generation"}, "zeroline": False, "tickvals": list(range(0, -60, -1)),
                                 "ticktext": [str(i) for i in range(60)]}},
        }
    if d.fidelity.height:
        f = d.fidelity.sort("depth")
        data: list[dict[str, Any]] = [{"type": "scatter", "x": f.get_column("depth").to_list(),
                                       "y": f.get_column("fidelity").to_list(), "mode": "markers+lines",
                                       "name": "measured", "marker": {"size": 8}}]
        fit = d.decay.get("fidelity")
        if fit and fit.get("lambda") is not None and fit.get("F_inf") is not None:
            xs = np.linspace(0, float(f.get_column("depth").max()), 60)
            ys = fidelity_curve(fit, xs)
            data.append({"type": "scatter", "x": xs.tolist(), "y": ys.tolist(), "mode": "lines",
                         "name": "fitted decay", "line": {"dash": "dash"}})
        figs["fidelity"] = {"data": data, "layout": {
            "title": {"text": "Fidelity to the root by generation (1 = the root's words, 0 = none)"
                      + (f"<br><sub>{html.escape(d.inferred)}</sub>" if d.inferred else "")},
            "xaxis": {"title": {"text": "generation"}}, "yaxis": {"title": {"text": "fidelity"}, "range": [0, 1.05]},
            "height": 380, "margin": {"l": 50, "r": 20, "t": 50, "b": 40}, "plot_bgcolor": "white"}}
    return figs
