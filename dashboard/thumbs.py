"""Thumbnails in the dashboard: a Flask route serving them from the archive, and the per-node picture facts."""
from __future__ import annotations

from typing import Any

import polars as pl
from dash import Dash, html

from archive.media.store import fingerprints, thumbnail_bytes, thumbnails
from archive.store import Archive
from lineage.visual import edge_visual

__all__ = ["register_thumbnail_route", "thumb_url", "picture_facts", "hover_picture"]

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
