"""The report as CSV: one row per post (a tree) or per tree (the archive), spreadsheet-safe."""
from __future__ import annotations

import polars as pl

from archive.export import to_csv as _csv_bytes
from archive.store import Archive  # noqa: F401  (doctests)
from lineage.report.data import ReportData, report_data  # noqa: F401  (report_data: doctests)

__all__ = ["to_csv"]


def to_csv(d: ReportData) -> bytes:
    """One row per node (tree) or per tree (archive), text cells neutralized for spreadsheets.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "=1+1"}])
    >>> to_csv(report_data(a, "t:1")).decode().splitlines()[1].split(",")[-1]
    "'=1+1"
    """
    if d.scope == "tree":
        cols = [c for c in ("id", "parent", "depth", "created_at", "author", "views", "edge_drift", "root_drift",
                            "path_drift", "directness", "retention", "children", "redacted", "text")
                if c in d.nodes.columns]
        if d.edges == "all":  # how each parent is known: declared, c2pa or inferred (and how sure)
            cols[2:2] = [c for c in ("parent_evidence", "parent_confidence") if c in d.nodes.columns]
        frame = d.nodes.select(cols)
    else:
        frame = d.trees
        if d.inferred:  # every row is of the graph with inferred links: each says so
            frame = frame.with_columns(lineage=pl.lit(d.inferred))
    return _csv_bytes(frame)
