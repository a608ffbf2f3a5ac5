"""Exports of remix lineage: GraphML, GEXF, Newick/NHX, PROV-JSON, Parquet and CSV.

Every export starts from the same two frames (:func:`export_frames`): the
nodes (posts joined with their lineage, and drift where ``archivist analyze``
stored it) and the edges (every parent link). GraphML and GEXF are written
with networkx (Gephi, Cytoscape, yEd read them); Newick is the primary tree
with node names quoted and NHX comments (phylogenetics tools read it);
PROV-JSON is made with the ``prov`` library (W3C PROV: one entity per post,
``wasDerivedFrom`` per edge, one agent per author with ``wasAttributedTo``,
generation times); CSV cells that a spreadsheet would run as a formula are
neutralized with a leading ``'``.

One module per format, each importable from here: :mod:`archive.export.graphml`,
:mod:`archive.export.gexf`, :mod:`archive.export.newick`, :mod:`archive.export.provjson`,
:mod:`archive.export.table`; the frames they share are in ``archive.export._common``.
Text XML cannot hold gets the one reversible escape of :mod:`archive.names` in every XML export.

Examples
--------
>>> import tempfile
>>> from archive.ingest import ingest_records
>>> from archive.store import Archive
>>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
>>> _ = ingest_records(a, [
...     {"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a cat", "author": "@ann"},
...     {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "=a cat, claymation",
...      "parents": [{"id": "t:1"}]}])
>>> nodes, edges = export_frames(a)
>>> nodes.select("id", "parent", "depth").rows()
[('t:1', None, 0), ('t:2', 't:1', 1)]
>>> to_newick(nodes)
"('t:2'[&&NHX:depth=1])'t:1'[&&NHX:depth=0];\\n"
>>> [n["name"] for n in parse_newick(to_newick(nodes))]
['t:1', 't:2']
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl

from archive.errors import ArchiveError, NotFoundError
from archive.export._common import export_frames, flat_nodes
from archive.export.gexf import to_gexf, to_graph
from archive.export.graphml import graph_id, to_graphml
from archive.export.newick import parse_newick, to_newick
from archive.export.provjson import to_prov, to_prov_json
from archive.export.table import neutralise, to_csv
from archive.store import Archive

__all__ = [
    "FORMATS",
    "export_frames",
    "with_parent_evidence",
    "made_by_infer",
    "to_graph",
    "graph_id",
    "to_graphml",
    "to_gexf",
    "to_newick",
    "parse_newick",
    "to_prov",
    "to_prov_json",
    "neutralise",
    "to_csv",
    "flat_nodes",
    "export",
]

#: format name -> file extension
FORMATS: dict[str, str] = {
    "graphml": "graphml",
    "gexf": "gexf",
    "newick": "nwk",
    "prov-json": "prov.json",
    "parquet": "parquet",
    "csv": "csv",
}


def made_by_infer(archive: Archive, edges: pl.DataFrame, as_of: Any = None) -> pl.DataFrame:
    """The rows of ``edges`` (an ``edges="all"`` frame: ``child, parent, evidence``, …) that
    ``archivist infer`` made, in their order.

    ``evidence == "inferred"`` alone does not say it: a record may state a parent with evidence
    ``inferred`` itself (a source's own guess, e.g. a platform's "similar to"). Such a link is
    what the source stated, kept in the declared edges; a link of ``archivist infer`` is in the
    ``edges="all"`` frame only. Raises nothing; an archive without inferred links gives no rows.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z"},
    ...     {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z",
    ...      "parents": [{"id": "t:1", "evidence": "inferred", "confidence": 0.4}]}])
    >>> e = a.edges(edges="all")
    >>> e.get_column("evidence").to_list(), made_by_infer(a, e).height
    (['inferred'], 0)
    """
    inf = edges.filter(pl.col("evidence") == "inferred")
    if not inf.height:
        return inf
    stated = archive.edges(as_of).filter(pl.col("evidence") == "inferred").select("child", "parent")
    return inf.join(stated, on=["child", "parent"], how="anti", maintain_order="left") if stated.height else inf


def with_parent_evidence(nodes: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """``nodes`` with ``parent_evidence`` (String) and ``parent_confidence`` (Float64) after ``parent``: the
    evidence of each node's primary edge (of :func:`export_frames`), so a node table with inferred links
    says which parents are guesses (null for roots).

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["a", "b"], "parent": [None, "a"]})
    >>> e = pl.DataFrame({"child": ["b"], "parent": ["a"], "evidence": ["inferred"], "confidence": [0.8],
    ...                   "primary": [True]})
    >>> with_parent_evidence(n, e).rows()
    [('a', None, None, None), ('b', 'a', 'inferred', 0.8)]
    """
    prim = edges.filter(pl.col("primary")).select(id="child", parent_evidence="evidence",
                                                  parent_confidence="confidence").unique("id", keep="first")
    nodes = nodes.drop("parent_evidence", "parent_confidence", strict=False).join(
        prim, on="id", how="left", maintain_order="left")
    at = nodes.columns.index("parent") + 1
    rest = [c for c in nodes.columns[at:] if c not in ("parent_evidence", "parent_confidence")]
    return nodes.select(nodes.columns[:at] + ["parent_evidence", "parent_confidence"] + rest)


def export(archive: Archive, fmt: str, out: str | Path | None = None, *, root: str | None = None,
           as_of: Any = None, drift: pl.DataFrame | None = None,
           edges: str = "declared") -> bytes | Path:
    """Export the archive (or the tree of ``root``) in ``fmt``; write to ``out`` or return the bytes.

    ``drift`` (``id`` and drift columns, e.g. :func:`lineage.stale.stored_drift`) is joined
    to the nodes: GraphML/GEXF attributes, Newick branch lengths, PROV-JSON attributes.
    ``edges="all"`` adds the inferred links, marked ``evidence: inferred`` with their confidence
    (CSV and Parquet rows gain ``parent_evidence`` and ``parent_confidence``; Newick's NHX
    comments ``evidence=inferred:confidence=0.83``).

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z"}])
    >>> export(a, "newick")
    b"'t:1'[&&NHX:depth=0];\\n"
    """
    if fmt not in FORMATS:
        raise ArchiveError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if root is not None and archive.lineage(as_of).filter(pl.col("id") == root).height == 0:
        raise NotFoundError(f"no post {root!r} in the archive at {archive.path}")
    mode = edges
    nodes, edges = export_frames(archive, root, as_of=as_of, drift=drift, edges=edges)
    if mode == "all" and fmt in ("parquet", "csv", "newick"):
        nodes = with_parent_evidence(nodes, edges)
    if fmt == "parquet":
        buf = io.BytesIO()
        nodes.write_parquet(buf)
        data = buf.getvalue()
    elif fmt == "csv":
        data = to_csv(nodes)
    elif fmt == "graphml":
        data = to_graphml(nodes, edges)
    elif fmt == "gexf":
        data = to_gexf(nodes, edges)
    elif fmt == "newick":
        data = to_newick(nodes).encode("utf-8")
    else:
        data = to_prov_json(nodes, edges)
    if out is None:
        return data
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p
