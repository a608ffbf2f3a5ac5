"""Thumbnails in the dashboard: a Flask route serving them from the archive, and the per-node picture facts."""
from __future__ import annotations

from typing import Any

import polars as pl
from dash import Dash, html

from archive.media.store import fingerprints, thumbnail_bytes, thumbnails
from archive.store import Archive
from dashboard.data import memo
from lineage.visual import edge_visual, node_visual_drift

__all__ = ["register_thumbnail_route", "thumb_url", "picture_facts", "hover_picture", "visual_decay_data"]

ROUTE = "/media/thumb/"


def thumb_url(name: str | None) -> str | None:
    """The dashboard URL of a stored thumbnail (``None`` without one)."""
    return f"{ROUTE}{name}" if name else None


def register_thumbnail_route(app: Dash, arc: Archive) -> None:
    """Serve ``<archive>/media/thumbs/<sha256>.webp`` at ``/media/thumb/<sha256>.webp`` (nothing else: names are checked)."""
    from flask import Response, abort

    def serve(name: str) -> Response:
        data = thumbnail_bytes(arc, name)
        if data is None:
            abort(404)
        return Response(data, mimetype="image/webp", headers={"Cache-Control": "public, max-age=31536000, immutable",
                                                              "X-Content-Type-Options": "nosniff"})

    app.server.add_url_rule(f"{ROUTE}<name>", "remix_thumbnail", serve)


def picture_facts(arc: Archive, node_id: str, parent_id: str | None, thumbs: dict[str, str]) -> dict[str, Any] | None:
    """The node's and its parent's thumbnail URLs and the visual drift between them (``None``: no picture)."""
    if node_id not in thumbs:
        return None
    drift = None
    if parent_id and parent_id in thumbs:
        fps = fingerprints(arc).filter(pl.col("id").is_in([node_id, parent_id]))
        ev = edge_visual(pl.DataFrame({"child": [node_id], "parent": [parent_id]}), fps)
        drift = ev.get_column("visual_drift")[0]
    return {"src": thumb_url(thumbs[node_id]), "parent_src": thumb_url(thumbs.get(parent_id or "")),
            "parent": parent_id, "visual_drift": drift}


def hover_picture(pid: str, thumbs: dict[str, str]) -> Any:
    """What the tree's hover tooltip shows: the post's thumbnail and id (``None`` without a picture)."""
    if pid not in thumbs:
        return None
    return html.Div([html.Img(src=thumb_url(thumbs[pid]), className="hover-thumb", alt=pid),
                     html.Div(pid, className="mono small")])


def _visual_tables(arc: Archive, version: int) -> tuple[pl.DataFrame, dict[str, Any]] | None:
    if not (arc.has_table("analysis_visual_fidelity") and arc.has_table("analysis_visual_decay")):
        return None  # analysed before pictures were measured: computed now below (small archives)
    head = arc.read_table("analysis_visual_decay")
    fit: dict[str, Any] = dict(head.select("measure", "value").iter_rows())
    fit["reason"] = next((r for m, r in head.select("measure", "reason").iter_rows() if m == "reason"), None)
    return arc.read_table("analysis_visual_fidelity"), fit


def visual_decay_data(arc: Archive, *, seed: int = 0, max_nodes: int = 200_000
                      ) -> tuple[pl.DataFrame, dict[str, Any]] | None:
    """Visual fidelity by generation (``depth, nodes, fidelity, sd``) and its decay fit, or ``None`` (no pictures).

    Read from ``analyze``'s visual tables (:func:`lineage.visual.analyze_visual`) when the
    archive was analysed; else computed now from the fingerprints, up to ``max_nodes`` posts.
    """
    from dashboard.measures import analysed_version

    av = analysed_version(arc)
    if av is not None:
        got = memo(("analysis", av, "visual_decay"), lambda: _visual_tables(arc, av))
        if got is not None:
            return got
    fps = memo(("fingerprints", arc.view_version()), lambda: fingerprints(arc))
    if fps.height == 0:
        return None
    lin = arc.lineage()
    if lin.height > max_nodes:
        return None
    from lineage.decay import fidelity_by_depth, fit_fidelity

    nd = node_visual_drift(lin.select("id", "root", "depth"), fps)
    return fidelity_by_depth(nd), fit_fidelity(nd, n_boot=200, seed=seed)
