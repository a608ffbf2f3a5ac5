"""Whole-archive pages drawn once per store version, in the background, never inside a long request.

A page of archive-wide measures (overview, drift, bleed, decay) costs about a second to draw
at 300,000 posts, more while an ingest shares the cores. :func:`cached_page` keeps the last
drawn layout of each page (and each query it was asked with) together with the versions it
was drawn from (:func:`page_key`). A request is answered:

- from the layout drawn for the versions shown now, at once;
- from the layout of older versions, at once, with a note saying so, while one background
  thread draws the page for the versions shown now (one page at a time, so drawing never
  competes with itself for memory or cores);
- when the page was never drawn, by waiting for that thread at most :data:`BUDGET_S`
  seconds; a page not ready by then says it is being drawn (reload in a moment).

The app keeps one :class:`PageCache` in ``app.server.extensions["remix_pages"]`` (made by
``dashboard.app.create_app``); without it (a page called as a plain function in a test) the
page is simply drawn.
"""
from __future__ import annotations

import contextlib
import functools
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from dash import html
from flask import current_app, has_app_context

from dashboard.data import archive, first_value

__all__ = ["BUDGET_S", "PageCache", "cached_page", "page_key", "live_notes"]

BUDGET_S = 3.0  # seconds a request may wait for a page that was never drawn before


def page_key(arc, tables: tuple[str, ...] = ("analysis_runs",)) -> tuple[int, ...]:
    """The versions a page depends on: the store version shown and the Delta version of each table.

    ``table_version`` is a few ``stat`` calls, so this is cheap enough for every request.
    """
    return (arc.view_version(), *(arc.table_version(t) for t in tables))


class PageCache:
    """The last drawn layout per (page, query), and one thread that draws pages in order."""

    def __init__(self, app: Any, size: int = 24) -> None:
        self.app, self.size = app, size
        self._d: OrderedDict[Hashable, tuple[tuple, Any]] = OrderedDict()  # (page, query) -> (key, layout)
        self._pending: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: threading.Thread | None = None

    def lookup(self, slot: Hashable) -> tuple[tuple, Any] | None:
        with self._lock:
            got = self._d.get(slot)
            if got is not None:
                self._d.move_to_end(slot)
            return got

    def request(self, slot: Hashable, key: tuple, draw: Callable[[], Any],
                key_of: Callable[[Any], tuple] | None = None) -> threading.Event:
        """Ask the drawing thread for ``slot`` at ``key`` (once: a second ask waits on the first); with
        ``key_of`` the key is taken again when the drawing starts, after any new views are built."""
        with self._lock:
            ev = self._pending.get(slot)
            if ev is not None:
                return ev
            ev = self._pending[slot] = threading.Event()
            self._jobs.put((slot, key, key_of, draw, ev))  # under the lock: an idle worker leaving sees it
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="remix-pages", daemon=True)
                self._worker.start()
        return ev

    def draw_now(self, slot: Hashable, key: tuple, draw: Callable[[], Any]) -> Any:
        """Draw in the caller and keep the layout (the start-up warm-up)."""
        layout = draw()
        self._keep(slot, key, layout)
        return layout

    def _keep(self, slot: Hashable, key: tuple, layout: Any) -> None:
        with self._lock:
            old = self._d.get(slot)
            if old is None or old[0] <= key:  # never replace a newer drawing by an older one
                self._d[slot] = (key, layout)
                self._d.move_to_end(slot)
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def _run(self) -> None:
        while True:
            try:
                slot, key, key_of, draw, ev = self._jobs.get(timeout=30)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._worker = None
                        return
                continue
            try:
                with self.app.server.app_context():
                    # one big job at a time: wait for the views of a new store version being built, then
                    # draw for the versions shown by then (the request was answered from the last drawing)
                    arc = self.app.server.config.get("ARCHIVE")
                    if arc is not None and key_of is not None:
                        arc.settle(120)
                        key = key_of(arc)
                    heavy = getattr(arc, "heavy", None) or contextlib.nullcontext()
                    with heavy:  # a new version's views wait for this drawing (never both at once)
                        self._keep(slot, key, draw())
            except Exception:  # noqa: BLE001 - the request that waits draws it itself and shows the error
                pass
            finally:
                with self._lock:
                    self._pending.pop(slot, None)
                ev.set()


def live_notes(arc, drawn: tuple | None, now: tuple) -> list[str]:
    """Notes a served layout needs that its drawing could not know: it shows older versions, or a newer
    store version is being loaded."""
    out = []
    if drawn is not None and drawn != now:
        what = (f"store version {now[0]}" if now[0] != drawn[0]
                else "what changed since (an ingest run, an analysis or inferred links)")
        out.append(f"This page was drawn for store version {drawn[0]} and is being drawn again for {what}; "
                   "reload in a moment.")
    newer = arc.newer_version()
    if newer is not None:
        out.append(f"Store version {newer} has arrived and is being loaded; this page shows version "
                   f"{now[0] if drawn is None else drawn[0]} until it is ready (reload in a moment).")
    return out


def _with_notes(layout: Any, notes: list[str]) -> Any:
    """``layout`` with ``notes`` after its title and lead (a new Div: the kept layout is shared, never changed)."""
    if not notes:
        return layout
    from dashboard.panels import note

    extra = [note(t) for t in notes]
    kids = getattr(layout, "children", None)
    if isinstance(layout, html.Div) and isinstance(kids, list):
        head = 2 if len(kids) >= 2 and isinstance(kids[0], html.H1) and isinstance(kids[1], html.P) else 0
        return html.Div(kids[:head] + extra + kids[head:], className=getattr(layout, "className", None))
    return html.Div([*extra, layout])


def _query_slot(name: str, query: dict) -> Hashable:
    return (name, tuple(sorted((k, str(first_value(v))) for k, v in query.items())))


def cached_page(name: str, tables: tuple[str, ...] = ("analysis_runs",), *, title: str | None = None) -> Callable:
    """Decorate a page's ``layout(**query)``: served from the last drawing, drawn again in the background
    when the store version or one of ``tables`` changed (see the module's docstring)."""

    def wrap(layout: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(layout)
        def serve(**query: Any) -> Any:
            pages: PageCache | None = current_app.extensions.get("remix_pages") if has_app_context() else None
            if pages is None:
                return layout(**query)
            arc = archive()
            now = page_key(arc, tables)
            slot = _query_slot(name, query)
            got = pages.lookup(slot)
            if got is not None and got[0] == now:
                return _with_notes(got[1], live_notes(arc, None, now))
            ev = pages.request(slot, now, lambda: layout(**query), lambda a: page_key(a, tables))
            if got is not None:  # an older drawing now, the new one in a moment
                return _with_notes(got[1], live_notes(arc, got[0], now))
            if ev.wait(BUDGET_S):
                got = pages.lookup(slot)
                if got is not None:
                    return _with_notes(got[1], live_notes(arc, got[0], page_key(arc, tables)))
                return layout(**query)  # the drawing failed: draw here, so the error shows as it is
            from dashboard.panels import note

            return html.Div([html.H1(title or name.capitalize()), note(
                f"This page is being drawn for store version {now[0]} (it takes longer than {BUDGET_S:.0f} s on "
                "this archive); reload in a moment.")])

        serve.warm = lambda: _warm(name, layout, tables)  # type: ignore[attr-defined]
        return serve

    return wrap


def _warm(name: str, layout: Callable[..., Any], tables: tuple[str, ...]) -> None:
    """Draw the page as its plain URL asks (inside an app context), before the app serves anyone."""
    pages: PageCache | None = current_app.extensions.get("remix_pages")
    if pages is not None:
        pages.draw_now(_query_slot(name, {}), page_key(archive(), tables), layout)
