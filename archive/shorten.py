"""Text made short for a table cell, a label or a line: the one place text is cut.

Cutting is the same for every output (one line, at most ``width`` characters, an
ellipsis where text was cut); escaping is not, and stays with each output (the
terminal, plotly labels, Markdown, HTML).

Examples
--------
>>> cut(one_line("a  cat\\n in the\\train"), 12)
'a cat in th…'
>>> import polars as pl
>>> pl.select(cut_expr(pl.lit("a cat in the rain"), 12)).item()
'a cat in th…'
"""
from __future__ import annotations

import polars as pl

__all__ = ["ELLIPSIS", "one_line", "cut", "cut_expr", "visible"]

ELLIPSIS = "…"


def visible(text: str, *, keep: str = "") -> str:
    """``text`` with every character that prints nothing (controls, bidi controls, zero-width and format
    characters) shown as its code point, ``⟨U+202E⟩``, as the dashboard's labels show bidi controls
    (:data:`lineage.bidi.BIDI_CONTROLS`); the characters in ``keep`` (e.g. ``"\\n"``) are left as they are.

    >>> visible("corgi\\u202e surfing\\u0007"), visible("a\\nb", keep="\\n")
    ('corgi⟨U+202E⟩ surfing⟨U+0007⟩', 'a\\nb')
    """
    return "".join(ch if ch.isprintable() or ch in keep else f"⟨U+{ord(ch):04X}⟩" for ch in text)


def one_line(text: str | None) -> str:
    """Whitespace runs (newlines, tabs) made one space, ends stripped; ``None`` is ``""``.

    >>> one_line(" a\\n\\n b ")
    'a b'
    """
    return " ".join((text or "").split())


def cut(text: str | None, width: int) -> str:
    """``text`` when it has at most ``width`` characters, else its first ``width - 1`` and an ellipsis.

    >>> cut("abcdef", 4), cut("abc", 4), cut(None, 4)
    ('abc…', 'abc', '')
    """
    s = text or ""
    return s if len(s) <= width else s[: width - 1] + ELLIPSIS


def cut_expr(expr: pl.Expr, width: int) -> pl.Expr:
    """:func:`cut` as a polars expression over a String column.

    >>> pl.select(cut_expr(pl.lit("abcdef"), 4)).item()
    'abc…'
    """
    return pl.when(expr.str.len_chars() > width).then(expr.str.slice(0, width - 1) + ELLIPSIS).otherwise(expr)
