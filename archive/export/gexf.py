"""GEXF: the lineage graph for Gephi (GEXF 1.2draft XSD valid), written by networkx."""
from __future__ import annotations

import io
import re

import networkx as nx
import polars as pl

from archive.export._common import _GRAPH_ATTRS, _escape_frame, _scalar, flat_nodes

__all__ = ["to_graph", "to_gexf"]


def to_graph(nodes: pl.DataFrame, edges: pl.DataFrame) -> nx.DiGraph:
    """A networkx DiGraph parent -> child with scalar attributes only (no None), ready for GraphML/GEXF.

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["a:1", "a:2"], "depth": [0, 1], "text": ["x", None]})
    >>> e = pl.DataFrame({"child": ["a:2"], "parent": ["a:1"], "relation": ["remix"]})
    >>> g = to_graph(n, e)
    >>> dict(g.nodes["a:2"]), list(g.edges(data=True))
    ({'depth': 1}, [('a:1', 'a:2', {'relation': 'remix'})])
    """
    g = nx.DiGraph()
    cols = [c for c in _GRAPH_ATTRS if c in nodes.columns]
    # characters XML 1.0 cannot hold (GraphML and GEXF are XML): the one reversible escape of archive.names
    nodes = _escape_frame(flat_nodes(nodes.select("id", *cols)))
    for row in nodes.iter_rows(named=True):
        nid = row.pop("id")
        g.add_node(nid, **{k: _scalar(v) for k, v in row.items() if v is not None})
    ecols = [c for c in ("relation", "evidence", "confidence", "rank", "primary") if c in edges.columns]
    for row in _escape_frame(edges.select("parent", "child", *ecols)).iter_rows(named=True):
        p, c = row.pop("parent"), row.pop("child")
        g.add_edge(p, c, **{k: v for k, v in row.items() if v is not None})
    return g


def to_gexf(nodes: pl.DataFrame, edges: pl.DataFrame) -> bytes:
    """GEXF 1.2 text (UTF-8 bytes) for Gephi, valid against the GEXF 1.2draft XSD.

    Written by networkx (attribute values keep CR, TAB and LF as character references);
    characters XML 1.0 cannot hold get the escape of :func:`archive.names.xml_escape_text`,
    and the empty ``name`` attribute networkx puts on ``<graph>`` (not in the schema) is dropped.

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["a:1", "a:2"], "depth": [0, 1]})
    >>> e = pl.DataFrame({"child": ["a:2"], "parent": ["a:1"]})
    >>> sorted(nx.read_gexf(io.BytesIO(to_gexf(n, e))).edges())
    [('a:1', 'a:2')]
    """
    buf = io.BytesIO()
    nx.write_gexf(to_graph(nodes, edges), buf, encoding="utf-8")
    return re.sub(rb'(<graph\b[^>]*?) name=""', rb"\1", buf.getvalue(), count=1)
