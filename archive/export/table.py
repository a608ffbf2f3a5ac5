"""Tables: spreadsheet-safe CSV of the nodes."""
from __future__ import annotations

import polars as pl

from archive.export._common import flat_nodes

__all__ = ["neutralise", "to_csv"]

# formula starters, ASCII and full-width (spreadsheets accept both), and tab/CR/LF first
_CSV_DANGER = r"^[=+\-@\t\r\n\x{FF1D}\x{FF0B}\x{FF0D}\x{FF20}]"


def neutralise(col: str) -> pl.Expr:
    """An expression that prefixes ``'`` to text a spreadsheet would run (``= + - @``, their full-width
    forms ``＝ ＋ － ＠``, tab, CR or LF first).

    Examples
    --------
    >>> pl.DataFrame({"s": ["=1+1", "ok", "@x", "-2", "＝1+1", None]}).select(neutralise("s"))["s"].to_list()
    ["'=1+1", 'ok', "'@x", "'-2", "'＝1+1", None]
    """
    c = pl.col(col)
    return pl.when(c.str.contains(_CSV_DANGER)).then(pl.lit("'") + c).otherwise(c).alias(col)


def to_csv(nodes: pl.DataFrame) -> bytes:
    """CSV (UTF-8 bytes) of the nodes, every text cell neutralized.

    Examples
    --------
    >>> print(to_csv(pl.DataFrame({"id": ["a:1"], "prompt": ["=HYPERLINK(1)"]})).decode(), end="")
    id,prompt
    a:1,'=HYPERLINK(1)
    """
    flat = flat_nodes(nodes)
    strings = [n for n, dt in flat.schema.items() if dt == pl.String]
    return flat.with_columns([neutralise(c) for c in strings]).write_csv().encode("utf-8")
