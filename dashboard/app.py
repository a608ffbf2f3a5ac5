"""The Dash app factory. Pages live in dashboard/pages/, one module each.

One app per process: Dash pages register their callbacks globally when the
page modules load, and the first app to serve a request takes them.
"""
from __future__ import annotations

from pathlib import Path

import dash
from dash import Dash, dcc, html

from dashboard.data import Memo, open_for_app
from dashboard.pagecache import PageCache
from dashboard.security import allowed_hosts, secure_app

__all__ = ["create_app", "warm_up"]

HERE = Path(__file__).parent


def create_app(archive_path: str | Path, *, hosts: frozenset[str] | None = None) -> Dash:
    """A Dash app serving the archive at ``archive_path`` read-only.

    ``hosts`` are the ``Host`` names it answers (default: loopback names only, see
    :func:`dashboard.security.allowed_hosts`); every response carries the security headers
    of :mod:`dashboard.security`. Pages show the archive's folder name, never its local path.
    """
    arc = open_for_app(str(Path(archive_path).resolve()))
    app = Dash(
        "dashboard",  # a package name: page modules load as dashboard.pages.<page>
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="Remix Archivist",
        suppress_callback_exceptions=True,
        update_title=None,
    )
    app.server.config["ARCHIVE_PATH"] = str(arc.path)
    app.server.config["ARCHIVE"] = arc
    app.server.extensions["remix_memo"] = Memo()
    arc.on_shown.append(app.server.extensions["remix_memo"].seen_version)  # older frames go with older views
    app.server.extensions["remix_pages"] = PageCache(app)
    from dashboard.thumbs import register_thumbnail_route

    register_thumbnail_route(app, arc)
    app.layout = html.Div(
        [
            html.Header(
                [
                    dcc.Link("Remix Archivist", href="/", className="brand"),
                    html.Nav([dcc.Link(p["name"], href=p["relative_path"], className="nav-link",
                                       id=f"nav-{p['module'].rsplit('.', 1)[-1]}")
                              for p in sorted(dash.page_registry.values(), key=lambda p: p.get("order") or 0)
                              if p["module"] != "dashboard.pages.not_found_404"]),
                    html.Span(f"archive: {arc.path.name}", className="archive-name"),
                ],
                className="topbar",
            ),
            html.Main(dash.page_container, className="content"),
        ]
    )
    secure_app(app, hosts=hosts if hosts is not None else allowed_hosts("127.0.0.1"))
    warm_up(app)
    return app


def warm_up(app: Dash) -> None:
    """Finish the app's setup before it serves anyone: one request through the test client runs Dash's
    first-request setup (which fills the callback map; concurrent first requests could otherwise
    find it half-filled, plotly/dash#3971), reading the trees builds the current version's views, and
    the pages of archive-wide measures are drawn once (:mod:`dashboard.pagecache`), so the first
    visitors are served at once."""
    with app.server.test_client() as client:
        client.get("/")
    arc = app.server.config["ARCHIVE"]
    arc.trees()
    with app.server.app_context():
        for page in sorted(dash.page_registry.values(), key=lambda p: p.get("order") or 0):
            warm = getattr(page.get("layout"), "warm", None)
            if warm is not None:
                try:
                    warm()
                except Exception:  # noqa: BLE001 - a page that cannot be drawn shows its error when asked for
                    pass
