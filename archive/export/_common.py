"""What the export formats share: the frames (nodes, edges, drift) and the XML text rules."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from archive.names import xml_escape_text
from archive.store import Archive

__all__ = ["export_frames", "flat_nodes"]

#: drift columns the graph formats carry as attributes when the caller passed them
_DRIFT_COLS = ("edge_drift", "root_drift", "path_drift", "directness")

# what archive.names.xml_escape_text escapes, as a polars (Rust) pattern
_XML_BAD = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{FFFE}\x{FFFF}\x{241B}]"


def _escape_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Every text cell with :func:`archive.names.xml_escape_text` (only the rows that need it are touched)."""
    out = []
    for name, dt in df.schema.items():
        if dt != pl.String:
            continue
        col = df.get_column(name)
        mask = col.str.contains(_XML_BAD).fill_null(False)
        if mask.any():
            idx = mask.arg_true()
            out.append(col.scatter(idx, [xml_escape_text(v) for v in col.gather(idx).to_list()]))
    return df.with_columns(out) if out else df


def export_frames(archive: Archive, root: str | None = None, *, as_of: Any = None,
                  drift: pl.DataFrame | None = None, edges: str = "declared") -> tuple[pl.DataFrame, pl.DataFrame]:
    """The nodes and edges an export writes: one tree (any node id of it) or the whole archive.

    Nodes are posts joined with lineage (``id, parent, root, depth, in_cycle``, every
    post column) plus the columns of ``drift`` joined on ``id`` (``archive`` does not
    measure drift: the caller passes it, e.g. :func:`lineage.stale.stored_drift`); edges
    are ``child, parent, relation, evidence, confidence, rank, primary``. Both are sorted.
    ``edges="all"`` adds inferred links (``evidence == "inferred"``, with their confidence).

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z",
    ...                         "parents": ["t:gone"]}])
    >>> n, e = export_frames(a, "t:2")
    >>> n.select("id", "placeholder").rows(), e.select("child", "parent", "primary").rows()
    ([('t:gone', True), ('t:2', False)], [('t:2', 't:gone', True)])
    """
    if root is not None:
        tree = archive.tree(root, as_of=as_of, edges=edges)
        nodes, edges = tree.nodes, tree.edges
    else:
        nodes = archive.lineage(as_of, edges=edges).drop("placeholder", "created_at").join(
            archive.posts(as_of), on="id", how="left")
        edges = archive.edges(as_of, edges=edges)
    if drift is not None:
        nodes = nodes.join(drift.drop([c for c in drift.columns if c != "id" and c in nodes.columns]), on="id",
                           how="left")
    nodes = nodes.sort(["root", "depth", "created_at", "id"], nulls_last=True)
    prim = nodes.select(pl.col("id").alias("child"), "parent", primary=pl.lit(True))
    edges = (edges.join(prim, on=["child", "parent"], how="left")
             .with_columns(pl.col("primary").fill_null(False)).sort(["child", "rank"]))
    return nodes, edges


def _scalar(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, list):
        return "; ".join(str(x) for x in v)
    return v


_GRAPH_ATTRS = ("source", "created_at", "author", "title", "prompt", "text", "style_tags", "root", "depth",
                "placeholder", "redacted", "in_cycle", "views", "likes", "remixes", "comments", "license",
                "content_hash") + _DRIFT_COLS


def flat_nodes(nodes: pl.DataFrame) -> pl.DataFrame:
    """Nodes with lists joined by ``"; "`` and times as RFC 3339 text: one cell per value.

    Examples
    --------
    >>> flat_nodes(pl.DataFrame({"style_tags": [["noir", "35mm"]]}))["style_tags"].to_list()
    ['noir; 35mm']
    """
    exprs = []
    for name, dt in nodes.schema.items():
        if isinstance(dt, pl.List):
            exprs.append(pl.col(name).cast(pl.List(pl.String)).list.join("; ").alias(name))
        elif isinstance(dt, pl.Datetime):
            exprs.append(pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").alias(name))
    return nodes.with_columns(exprs) if exprs else nodes
