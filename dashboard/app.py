"""The Dash app factory. Pages live in dashboard/pages/, one module each."""
from __future__ import annotations

from pathlib import Path

import dash
from dash import Dash, dcc, html

__all__ = ["create_app"]


def create_app(archive_path: str | Path) -> Dash:
    """A Dash app serving the archive at ``archive_path`` read-only."""
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(Path(__file__).parent / "pages"),
        title="Remix Archivist",
        suppress_callback_exceptions=True,
    )
    app.server.config["ARCHIVE_PATH"] = str(Path(archive_path).resolve())
    app.layout = html.Div(
        [
            html.Header(
                [
                    html.Strong("Remix Archivist", className="brand"),
                    html.Nav([dcc.Link(p["name"], href=p["relative_path"], className="nav-link")
                              for p in dash.page_registry.values()]),
                ],
                className="topbar",
            ),
            html.Main(dash.page_container, className="content"),
        ]
    )
    return app
