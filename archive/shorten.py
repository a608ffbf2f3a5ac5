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

    A zero-width joiner between two pictographs (👨‍👩‍👧, 🏳️‍🌈) or two letters (Devanagari, Arabic), and a
    zero-width non-joiner between two letters (Persian), shape the text and are kept: shown as code points
    they broke every emoji family and flag into pieces. Elsewhere they are shown, as a zero-width space is.

    >>> visible("corgi\\u202e surfing\\u0007"), visible("a\\nb", keep="\\n")
    ('corgi⟨U+202E⟩ surfing⟨U+0007⟩', 'a\\nb')
    >>> visible("\\U0001F468\\u200d\\U0001F469 flag\\u200d and\\u200bspace") == "\\U0001F468\\u200d\\U0001F469 flag⟨U+200D⟩ and⟨U+200B⟩space"
    True
    """
    return "".join(ch if ch.isprintable() or ch in keep or (ch in _JOINERS and _joins(text, i))
                   else f"⟨U+{ord(ch):04X}⟩" for i, ch in enumerate(text))


_JOINERS = "\u200d\u200c"  # zero-width joiner, zero-width non-joiner


def _joins(text: str, i: int) -> bool:
    """Whether the joiner at ``text[i]`` joins what is on its two sides (see :func:`visible`)."""
    import unicodedata

    before = text[i - 1] if i > 0 else ""
    if before in "\ufe0e\ufe0f" and i > 1:  # a variation selector belongs to the character before it
        before = text[i - 2]
    after = text[i + 1] if i + 1 < len(text) else ""
    if not before or not after:
        return False

    def kind(ch: str) -> str:
        cat = unicodedata.category(ch)
        if cat in ("So", "Sk") or ord(ch) >= 0x1F000:
            return "picture"
        return "letter" if cat[0] in "LM" else "other"

    a, b = kind(before), kind(after)
    if text[i] == "\u200c":
        return a == b == "letter"
    return a == b and a in ("picture", "letter")


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
