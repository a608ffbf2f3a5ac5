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
        if d.edges == "all" and "inferred_links" in frame.columns:
            # each row says how much of its own tree is inferred (inferred_links, min_inferred_confidence: the
            # archive's note on every row gave a tree of declared links the archive's count)
            n = pl.col("inferred_links")
            frame = frame.with_columns(lineage=pl.when(n == 0).then(pl.lit("declared"))
                                       .when(n >= pl.col("size") - 1).then(pl.lit("lineage inferred"))
                                       .otherwise(pl.lit("lineage partly inferred")))
    return _csv_bytes(frame)
