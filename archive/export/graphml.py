"""GraphML: the lineage graph for networkx, Gephi, yEd and Cytoscape (GraphML 1.0 XSD valid)."""
from __future__ import annotations

import io  # noqa: F401  (doctests)

import networkx as nx  # noqa: F401  (doctests)
import polars as pl

from archive.export._common import _GRAPH_ATTRS, _escape_frame, flat_nodes
from archive.names import is_nmtoken, xml_name

__all__ = ["graph_id", "to_graphml"]


def graph_id(post_id: str) -> str:
    """The node id GraphML writes for a post: the id itself when it is an XML NMTOKEN, else ``_`` + its NCName form.

    GraphML node ids must be NMTOKENs (no spaces, tabs, ...). A mapped id starts with ``_``,
    which no record id does, so it can never equal another post's id; the original is written
    as the node's ``original_id`` attribute.

    Examples
    --------
    >>> graph_id("t:1"), graph_id("t:tab" + chr(9) + "id")
    ('t:1', '_t_3Atab_09id')
    """
    return post_id if is_nmtoken(post_id) and not post_id.startswith("_") else "_" + xml_name(post_id)


_GRAPHML_HEAD = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
    'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
)


def _xml_text(e: pl.Expr) -> pl.Expr:
    """Markup characters as entities, and TAB, LF, CR as character references: an XML parser keeps them
    exactly (XML 1.0 §2.11 turns a raw CR into LF, §3.3.3 turns raw TAB/LF/CR in attributes into spaces)."""
    return (e.str.replace_all("&", "&amp;", literal=True)
            .str.replace_all("<", "&lt;", literal=True).str.replace_all(">", "&gt;", literal=True)
            .str.replace_all('"', "&quot;", literal=True).str.replace_all("\r", "&#13;", literal=True)
            .str.replace_all("\t", "&#9;", literal=True).str.replace_all("\n", "&#10;", literal=True))


def _graphml_part(df: pl.DataFrame, attrs: list[str], kind: str, head: list[pl.Expr], tail: str,
                  prefix: str) -> tuple[list[str], list[str]]:
    """GraphML ``<key>`` lines for ``attrs`` and one element per row, built column-wise (no row loop)."""
    keys: list[str] = []
    cells: list[pl.Expr] = []
    flat = flat_nodes(df)
    for i, name in enumerate(attrs):
        dt = flat.schema[name]
        if dt == pl.Boolean:
            typ, val = "boolean", pl.when(pl.col(name)).then(pl.lit("true")).otherwise(pl.lit("false"))
        elif dt.is_integer():
            typ, val = "long", pl.col(name).cast(pl.String)
        elif dt.is_float():
            typ, val = "double", pl.col(name).cast(pl.String)
        elif dt == pl.String:
            typ, val = "string", _xml_text(pl.col(name))
        else:
            continue
        kid = f"{prefix}{i}"
        keys.append(f'<key id="{kid}" for="{kind}" attr.name="{name}" attr.type="{typ}"/>')
        cells.append(pl.when(pl.col(name).is_not_null())
                     .then(pl.concat_str(pl.lit(f'<data key="{kid}">'), val, pl.lit("</data>")))
                     .otherwise(pl.lit("")))
    line = pl.concat_str([*head, *cells, pl.lit(tail)])
    return keys, flat.select(line.alias("x")).get_column("x").to_list()


def to_graphml(nodes: pl.DataFrame, edges: pl.DataFrame) -> bytes:
    """GraphML text (UTF-8 bytes) of the nodes and edges: the same attributes as :func:`to_graph`.

    Written column-wise with polars (a 10,000-node tree in a few tens of milliseconds). Every
    string reads back exactly (CR, CRLF, TAB as character references); characters XML 1.0
    cannot hold get the reversible escape of :func:`archive.names.xml_escape_text`; a node id
    that is not an NMTOKEN is written as :func:`graph_id` with the original in ``original_id``.
    Valid against the GraphML 1.0 XSD. networkx, Gephi and yEd read it.

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["a:1", "a:2"], "depth": [0, 1], "text": ["<b>", None]})
    >>> e = pl.DataFrame({"child": ["a:2"], "parent": ["a:1"], "relation": ["remix"]})
    >>> g = nx.read_graphml(io.BytesIO(to_graphml(n, e)))
    >>> sorted(g.edges(data=True)), sorted(g.nodes["a:1"].items())
    ([('a:1', 'a:2', {'relation': 'remix'})], [('depth', 0), ('text', '<b>')])
    """
    ncols = [c for c in _GRAPH_ATTRS if c in nodes.columns]
    ecols = [c for c in ("relation", "evidence", "confidence", "rank", "primary") if c in edges.columns]
    ids = pl.concat([nodes.get_column("id"), edges.get_column("parent"), edges.get_column("child")]).unique()
    mapped = {i: graph_id(i) for i in ids.to_list() if graph_id(i) != i}
    nodes = nodes.select("id", *ncols)
    if mapped:
        nodes = nodes.with_columns(original_id=pl.when(pl.col("id").is_in(list(mapped))).then(pl.col("id")))
        ncols = [*ncols, "original_id"]

    def gid(c: str) -> pl.Expr:
        return pl.col(c).replace(mapped) if mapped else pl.col(c)

    nodes = _escape_frame(nodes.with_columns(_gid=gid("id")))
    edges = _escape_frame(edges.select("parent", "child", *ecols).with_columns(_gp=gid("parent"), _gc=gid("child")))
    nkeys, nlines = _graphml_part(nodes, ncols, "node",
                                  [pl.lit('<node id="'), _xml_text(pl.col("_gid")), pl.lit('">')], "</node>", "n")
    ekeys, elines = _graphml_part(edges, ecols, "edge",
                                  [pl.lit('<edge source="'), _xml_text(pl.col("_gp")), pl.lit('" target="'),
                                   _xml_text(pl.col("_gc")), pl.lit('">')], "</edge>", "e")
    ends = pl.DataFrame({"id": pl.concat([edges.get_column("_gp"), edges.get_column("_gc")])}).unique()
    extra = ends.join(nodes.select(pl.col("_gid").alias("id")), on="id", how="anti").sort("id")
    xlines = extra.select(pl.concat_str(pl.lit('<node id="'), _xml_text(pl.col("id")), pl.lit('"/>'))).to_series()
    text = (_GRAPHML_HEAD + "\n".join(nkeys + ekeys) + '\n<graph edgedefault="directed">\n'
            + "\n".join(nlines + xlines.to_list() + elines) + "\n</graph>\n</graphml>\n")
    return text.encode("utf-8")
