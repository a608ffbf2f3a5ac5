"""Plain HTML tables of frames: every cell is text, ids can be links into the explorer."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import polars as pl
from dash import dcc, html

from archive.shorten import cut, one_line
from dashboard.panels import explore_href

__all__ = ["frame_table", "cell_text", "tree_link"]


def cell_text(v: Any, width: int = 90) -> str:
    """A cell value as short text (times to the minute, lists joined, long text cut).

    >>> cell_text(["a", "b"]), cell_text(1234567), cell_text(None), cell_text(0.12345)
    ('a; b', '1,234,567', '', '0.123')
    """
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "; ".join(cell_text(x, width) for x in v)
    return cut(one_line(str(v)), width)


def tree_link(root: str, node: str | None = None, edges: str = "declared") -> dcc.Link:
    """A link that opens a tree (and a node of it) in the explorer (``edges="all"``: with inferred links)."""
    return dcc.Link(node or root, href=explore_href(root, node, edges="all" if edges == "all" else None),
                    className="mono")


def frame_table(df: pl.DataFrame, *, headers: dict[str, str] | None = None,
                cells: dict[str, Callable[[dict], Any]] | None = None, width: int = 90,
                table_id: str | None = None) -> html.Table:
    """``df`` as an HTML table; ``headers`` renames columns, ``cells`` renders a column from the row."""
    headers = headers or {}
    cells = cells or {}
    head = html.Thead(html.Tr([html.Th(headers.get(c, c)) for c in df.columns]))
    rows = []
    for r in df.iter_rows(named=True):
        rows.append(html.Tr([html.Td(cells[c](r) if c in cells else cell_text(r[c], width)) for c in df.columns]))
    kw = {"id": table_id} if table_id else {}
    return html.Table([head, html.Tbody(rows)], className="grid", **kw)
