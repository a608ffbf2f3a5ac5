"""The critic's drift report: how an idea mutated down its remix tree, in words and figures.

:func:`report_data` gathers everything for one tree (or the whole archive):
the tree with drift per node, the largest mutations with their word-level
diffs, the blame of the deepest leaves (which ancestor wrote which share of
their words), style changes and bleed, and the decay figures, plus plain
sentences a critic can quote. Renderers turn it into Markdown, one
self-contained HTML file (interactive figures, plotly.js inlined, works
offline), PDF (figures drawn by kaleido, the page printed by the system
Chromium) or CSV (one row per node, spreadsheet-safe).

What could not be measured is listed in ``missing`` and said plainly in the
report; nothing is made up. Prompts are always escaped: shown as text, never
run as HTML or Markdown.

Examples
--------
>>> import tempfile
>>> from archive.ingest import ingest_records
>>> from archive.store import Archive
>>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
>>> _ = ingest_records(a, [
...     {"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a corgi surfing, claymation"},
...     {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "a cat surfing, film noir",
...      "parents": ["t:1"]}])
>>> data = report_data(a, "t:2")
>>> data.root, data.facts["posts"], data.mutations.get_column("drift").round(2).to_list()
('t:1', 2, [0.71])
>>> "surfing" in to_markdown(data)
True

One module per step (as networkx's ``readwrite``): :mod:`~lineage.report.data`
gathers, :mod:`~lineage.report.figures` draws, and :mod:`~lineage.report.markdown`,
:mod:`~lineage.report.html`, :mod:`~lineage.report.pdf` and
:mod:`~lineage.report.table` render; the tree layout is :func:`lineage.layout.tree_layout`.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl  # noqa: F401  (doctests)

from archive.store import Archive
from lineage.errors import LineageError
from lineage.layout import tree_layout
from lineage.report.data import ReportData, report_data
from lineage.report.html import to_html
from lineage.report.markdown import to_markdown
from lineage.report.pdf import to_pdf
from lineage.report.table import to_csv

__all__ = ["FORMATS", "ReportData", "report_data", "tree_layout", "to_markdown", "to_html", "to_pdf", "to_csv",
           "render", "write_report", "snapshot_report"]

FORMATS = ("html", "pdf", "md", "csv")


def render(d: ReportData, fmt: str) -> bytes:
    """The report in ``fmt`` (``html``, ``pdf``, ``md`` or ``csv``) as bytes.

    Examples
    --------
    >>> render(ReportData("archive", None, "t", {}, [], *[pl.DataFrame()] * 5, {}, pl.DataFrame()), "xls")
    Traceback (most recent call last):
    ...
    lineage.errors.LineageError: unknown report format 'xls': choose html, pdf, md or csv
    """
    if fmt == "md":
        return to_markdown(d).encode("utf-8")
    if fmt == "html":
        return to_html(d).encode("utf-8")
    if fmt == "pdf":
        return to_pdf(d)
    if fmt == "csv":
        return to_csv(d)
    raise LineageError(f"unknown report format {fmt!r}: choose html, pdf, md or csv")


def write_report(archive: Archive, root: str | None, fmt: str, out: str | Path, *, as_of: Any = None,
                 generated_at: datetime | None = None, seed: int = 0, edges: str = "declared") -> Path:
    """Gather, render and write a report; returns the file written (``edges``: see :func:`report_data`).

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "x"}])
    >>> write_report(a, "t:1", "md", tempfile.mkdtemp() + "/r.md").suffix
    '.md'
    """
    if fmt not in FORMATS:
        raise LineageError(f"unknown report format {fmt!r}: choose html, pdf, md or csv")
    d = report_data(archive, root, as_of=as_of, seed=seed, edges=edges)
    d.generated_at = generated_at
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(render(d, fmt))
    return p


def snapshot_report(archive: Archive, root: str, as_of: Any, *, edges: str = "declared") -> dict[str, bytes]:
    """The files a snapshot carries: the report as Markdown, HTML and CSV (no time in them, so restores match).

    ``edges="all"`` (a snapshot with inferred links) reports the tree with them, and says so.

    ``archivist snapshot`` passes it to :func:`archive.snapshot.snapshot` as ``report=``
    (``dashboard.cli.build_cli`` gives it to the commands).

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "x"}])
    >>> sorted(snapshot_report(a, "t:1", None))
    ['drift-report.csv', 'drift-report.html', 'drift-report.md']
    """
    d = report_data(archive, root, as_of=as_of, edges=edges)
    return {"drift-report.md": to_markdown(d).encode("utf-8"), "drift-report.html": to_html(d).encode("utf-8"),
            "drift-report.csv": to_csv(d)}
