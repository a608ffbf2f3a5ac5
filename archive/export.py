"""Exports of remix lineage: GraphML, GEXF, Newick/NHX, PROV-JSON, Parquet and CSV.

Every export starts from the same two frames (:func:`export_frames`): the
nodes (posts joined with their lineage, and drift where ``archivist analyze``
stored it) and the edges (every parent link). GraphML and GEXF are written
with networkx (Gephi, Cytoscape, yEd read them); Newick is the primary tree
with node names quoted and NHX comments (phylogenetics tools read it);
PROV-JSON is made with the ``prov`` library (W3C PROV: one entity per post,
``wasDerivedFrom`` per edge, one agent per author with ``wasAttributedTo``,
generation times); CSV cells that a spreadsheet would run as a formula are
neutralised with a leading ``'``.

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
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import networkx as nx
import polars as pl

from archive.errors import ArchiveError, NotFoundError
from archive.store import Archive

__all__ = [
    "FORMATS",
    "DRIFT_TABLES",
    "export_frames",
    "to_graph",
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
#: analysis tables that may hold drift per node (``id``) or per edge (``child``), first found wins
DRIFT_TABLES = ("analysis_nodes", "node_drift", "drift_nodes", "analysis_edges", "edge_drift")
_DRIFT_COLS = ("edge_drift", "root_drift", "path_drift", "directness", "jaccard", "edit", "drift")
_NS_POST = "urn:remix-archivist:post:"
_NS_AUTHOR = "urn:remix-archivist:author:"
_NS_RA = "https://github.com/remix-archivist/ns#"
_CSV_DANGER = r"^[=+\-@\t\r]"
_XML_BAD = r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"


def _drift(archive: Archive) -> pl.DataFrame | None:
    """Per-node drift columns from the first analysis table that has them (``id`` + numbers), or None."""
    for name in DRIFT_TABLES:
        if not archive.has_table(name):
            continue
        try:
            df = archive.read_table(name)
        except (ArchiveError, OSError, ValueError):
            continue
        key = "id" if "id" in df.columns else "child" if "child" in df.columns else None
        cols = [c for c in _DRIFT_COLS if c in df.columns and df.schema[c].is_numeric()]
        if key is None or not cols:
            continue
        if key == "child" and "primary" in df.columns:
            df = df.filter(pl.col("primary"))
        out = df.select(pl.col(key).alias("id"), *cols).unique("id", keep="first")
        return out.rename({c: c if c != "drift" else "edge_drift" for c in cols})
    return None


def export_frames(archive: Archive, root: str | None = None, *, as_of: Any = None,
                  edges: str = "declared") -> tuple[pl.DataFrame, pl.DataFrame]:
    """The nodes and edges an export writes: one tree (any node id of it) or the whole archive.

    Nodes are posts joined with lineage (``id, parent, root, depth, in_cycle``, every
    post column) plus drift columns when an analysis table holds them; edges are
    ``child, parent, relation, evidence, confidence, rank, primary``. Both are sorted.
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
    drift = _drift(archive)
    if drift is not None:
        nodes = nodes.join(drift, on="id", how="left")
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
    nodes = nodes.select("id", *cols)
    # characters XML 1.0 cannot hold (GraphML and GEXF are XML) become U+FFFD
    nodes = nodes.with_columns(pl.col(pl.String).str.replace_all(_XML_BAD, "\ufffd"))
    for row in nodes.iter_rows(named=True):
        nid = row.pop("id")
        g.add_node(nid, **{k: _scalar(v) for k, v in row.items() if v is not None})
    ecols = [c for c in ("relation", "evidence", "confidence", "rank", "primary") if c in edges.columns]
    for row in edges.select("parent", "child", *ecols).iter_rows(named=True):
        p, c = row.pop("parent"), row.pop("child")
        g.add_edge(p, c, **{k: v for k, v in row.items() if v is not None})
    return g


_GRAPHML_HEAD = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
    'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
)


def _xml_text(e: pl.Expr) -> pl.Expr:
    return (e.str.replace_all(_XML_BAD, "\ufffd").str.replace_all("&", "&amp;", literal=True)
            .str.replace_all("<", "&lt;", literal=True).str.replace_all(">", "&gt;", literal=True)
            .str.replace_all('"', "&quot;", literal=True))


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

    Written column-wise with polars (a 10,000-node tree in a few tens of milliseconds);
    characters XML 1.0 forbids become U+FFFD. networkx, Gephi and yEd read it.

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
    nkeys, nlines = _graphml_part(nodes.select("id", *ncols), ncols, "node",
                                  [pl.lit('<node id="'), _xml_text(pl.col("id")), pl.lit('">')], "</node>", "n")
    ekeys, elines = _graphml_part(edges.select("parent", "child", *ecols), ecols, "edge",
                                  [pl.lit('<edge source="'), _xml_text(pl.col("parent")), pl.lit('" target="'),
                                   _xml_text(pl.col("child")), pl.lit('">')], "</edge>", "e")
    ends = pl.DataFrame({"id": pl.concat([edges.get_column("parent"), edges.get_column("child")])}).unique()
    extra = ends.join(nodes.select("id"), on="id", how="anti").sort("id")
    xlines = extra.select(pl.concat_str(pl.lit('<node id="'), _xml_text(pl.col("id")), pl.lit('"/>'))).to_series()
    text = (_GRAPHML_HEAD + "\n".join(nkeys + ekeys) + '\n<graph edgedefault="directed">\n'
            + "\n".join(nlines + xlines.to_list() + elines) + "\n</graph>\n</graphml>\n")
    return text.encode("utf-8")


def to_gexf(nodes: pl.DataFrame, edges: pl.DataFrame) -> bytes:
    """GEXF 1.2 text (UTF-8 bytes) for Gephi.

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["a:1", "a:2"], "depth": [0, 1]})
    >>> e = pl.DataFrame({"child": ["a:2"], "parent": ["a:1"]})
    >>> sorted(nx.read_gexf(io.BytesIO(to_gexf(n, e))).edges())
    [('a:1', 'a:2')]
    """
    buf = io.BytesIO()
    nx.write_gexf(to_graph(nodes, edges), buf, encoding="utf-8")
    return buf.getvalue()


# ---------------------------------------------------------------------- Newick
def _quote(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _nhx(row: dict) -> str:
    parts = [f"depth={row['depth']}"] if row.get("depth") is not None else []
    for k in ("edge_drift", "root_drift"):
        v = row.get(k)
        if v is not None:
            parts.append(f"{k}={v:.4g}")
    return "[&&NHX:" + ":".join(parts) + "]" if parts else ""


def to_newick(nodes: pl.DataFrame) -> str:
    """Newick/NHX of the primary tree(s), one line per root, children in creation order.

    Names are quoted (``'`` doubled inside), so ids with ``:`` or spaces are safe. The
    branch length is the edge drift when the nodes carry it; NHX comments give depth and
    drift. Written without recursion, so any depth works.

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["r:1", "r:2", "r:3"], "parent": [None, "r:1", "r:1"], "depth": [0, 1, 1],
    ...                   "edge_drift": [None, 0.25, 0.5]})
    >>> print(to_newick(n), end="")
    ('r:2':0.25[&&NHX:depth=1:edge_drift=0.25],'r:3':0.5[&&NHX:depth=1:edge_drift=0.5])'r:1'[&&NHX:depth=0];
    """
    cols = [c for c in ("id", "parent", "depth", "edge_drift", "root_drift", "created_at") if c in nodes.columns]
    sort = [c for c in ("created_at", "id") if c in cols]
    df = nodes.select(cols).sort(sort, nulls_last=True)
    rows = {r["id"]: r for r in df.iter_rows(named=True)}
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for nid, r in rows.items():
        p = r.get("parent")
        if p is None or p not in rows:
            roots.append(nid)
        else:
            children.setdefault(p, []).append(nid)
    out: list[str] = []
    for root in sorted(roots):
        parts: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            nid, state = stack.pop()
            kids = children.get(nid, [])
            if state == 0 and kids:
                parts.append("(")
                stack.append((nid, 1))
                for i, k in enumerate(reversed(kids)):
                    stack.append((k, 0))
                    if i < len(kids) - 1:
                        stack.append(("", 2))
                continue
            if state == 2:
                parts.append(",")
                continue
            if state == 1:
                parts.append(")")
            r = rows[nid]
            label = _quote(nid)
            if nid != root and r.get("edge_drift") is not None:
                label += f":{r['edge_drift']:.6g}"
            parts.append(label + _nhx(r))
        out.append("".join(parts) + ";\n")
    return "".join(out)


def _newick_tokens(text: str) -> Iterator[tuple[str, str]]:
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "(),;:":
            yield ch, ch
            i += 1
        elif ch == "[":
            j = text.find("]", i)
            if j < 0:
                raise ArchiveError(f"Newick: unclosed comment at character {i}")
            yield "comment", text[i + 1:j]
            i = j + 1
        elif ch == "'":
            j, buf = i + 1, []
            while True:
                k = text.find("'", j)
                if k < 0:
                    raise ArchiveError(f"Newick: unclosed quote at character {i}")
                buf.append(text[j:k])
                if k + 1 < n and text[k + 1] == "'":
                    buf.append("'")
                    j = k + 2
                    continue
                i = k + 1
                break
            yield "name", "".join(buf)
        elif ch.isspace():
            i += 1
        else:
            j = i
            while j < n and text[j] not in "(),;:[]'" and not text[j].isspace():
                j += 1
            yield "name", text[i:j].replace("_", " ")
            i = j


def parse_newick(text: str) -> list[dict[str, Any]]:
    """Parse Newick/NHX (several trees allowed) into nodes ``{name, parent, length, nhx}``, parents first.

    Quoted names (``''`` for a quote), unquoted names (``_`` read as a space), branch
    lengths and ``[&&NHX:k=v:...]`` comments are understood; no recursion.

    Examples
    --------
    >>> [(n["name"], n["parent"], n["length"], n["nhx"]) for n in parse_newick("(a:1,'b''s':2[&&NHX:depth=1])r;")]
    [('r', None, None, {}), ('a', 'r', 1.0, {}), ("b's", 'r', 2.0, {'depth': '1'})]
    """
    out: list[dict[str, Any]] = []
    stack: list[dict[str, Any]] = []
    current: dict[str, Any] = {"name": None, "length": None, "nhx": {}, "children": []}
    expect_length = False
    ordered: list[dict[str, Any]] = []
    for kind, val in _newick_tokens(text):
        if kind == "(":
            stack.append(current)
            child: dict[str, Any] = {"name": None, "length": None, "nhx": {}, "children": []}
            current["children"].append(child)
            current = child
        elif kind == ",":
            if not stack:
                raise ArchiveError("Newick: ',' outside parentheses")
            child = {"name": None, "length": None, "nhx": {}, "children": []}
            stack[-1]["children"].append(child)
            current = child
        elif kind == ")":
            if not stack:
                raise ArchiveError("Newick: unbalanced ')'")
            current = stack.pop()
        elif kind == ":":
            expect_length = True
            continue
        elif kind == "name":
            if expect_length:
                try:
                    current["length"] = float(val)
                except ValueError:
                    raise ArchiveError(f"Newick: branch length {val!r} is not a number") from None
            else:
                current["name"] = val
        elif kind == "comment":
            if val.startswith("&&NHX"):
                current["nhx"] = dict(p.split("=", 1) for p in val.split(":")[1:] if "=" in p)
        elif kind == ";":
            if stack:
                raise ArchiveError("Newick: unbalanced '(' before ';'")
            ordered.append(current)
            current = {"name": None, "length": None, "nhx": {}, "children": []}
        expect_length = False
    for top in ordered:
        todo: list[tuple[dict[str, Any], str | None]] = [(top, None)]
        while todo:
            node, parent = todo.pop()
            out.append({"name": node["name"], "parent": parent, "length": node["length"], "nhx": node["nhx"]})
            todo.extend((c, node["name"]) for c in reversed(node["children"]))
    return out


# ---------------------------------------------------------------------- PROV
_PROV_COLS = ("source", "created_at", "author", "title", "prompt", "text", "placeholder", "redacted",
              "content_hash", "depth", "root", "edge_drift", "root_drift")


def _post_ref(post_id: str) -> str:
    return "post:" + quote(post_id, safe="")


def _entity_attrs(row: dict[str, Any], ref: Callable[[str], str],
                  value: Callable[[Any], Any] = lambda v: v) -> dict[str, Any]:
    """The PROV attributes of one post, for both writers (the ``prov`` library's and the direct one)."""
    a: dict[str, Any] = {"prov:type": "ra:RemixPost", "ra:id": row["id"]}
    for key in ("source", "title", "prompt", "content_hash", "depth", "edge_drift", "root_drift"):
        if row.get(key) is not None:
            a["ra:" + key] = value(row[key])
    if row.get("root") is not None:
        a["ra:root"] = ref(row["root"])
    if row.get("text"):
        a["prov:label"] = row["text"]
    if row.get("placeholder"):
        a["ra:placeholder"] = True
    if row.get("redacted"):
        a["ra:redacted"] = True
    return a

def to_prov(nodes: pl.DataFrame, edges: pl.DataFrame) -> Any:
    """A W3C PROV document (``prov.model.ProvDocument``) of the posts, their derivations and authors.

    Each post is an entity ``post:<id, percent-encoded>`` with its source, text and content
    hash, generated at its ``created_at``; each edge is ``wasDerivedFrom`` (child from
    parent) carrying relation, evidence and confidence; each author is an agent and
    ``wasAttributedTo`` links post and author. Placeholders are entities marked as such.

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["a:1", "a:2"], "author": ["@x", None], "text": ["hi", "ho"]})
    >>> e = pl.DataFrame({"child": ["a:2"], "parent": ["a:1"], "relation": ["remix"]})
    >>> doc = to_prov(n, e)
    >>> sorted(str(r.identifier) for r in doc.get_records() if r.is_element())
    ['author:%40x', 'post:a%3A1', 'post:a%3A2']
    """
    from prov.model import ProvDocument

    doc = ProvDocument()
    doc.add_namespace("post", _NS_POST)
    doc.add_namespace("author", _NS_AUTHOR)
    doc.add_namespace("ra", _NS_RA)
    cols = [c for c in _PROV_COLS if c in nodes.columns]
    authors: set[str] = set()
    for row in nodes.select("id", *cols).iter_rows(named=True):
        ent = _post_ref(row["id"])
        doc.entity(ent, _entity_attrs(row, _post_ref))
        if row.get("created_at") is not None:
            doc.wasGeneratedBy(ent, None, row["created_at"])
        if row.get("author"):
            ag = "author:" + quote(row["author"], safe="")
            if row["author"] not in authors:
                authors.add(row["author"])
                doc.agent(ag, {"prov:type": "prov:Person", "ra:handle": row["author"]})
            doc.wasAttributedTo(ent, ag)
    ecols = [c for c in ("relation", "evidence", "confidence") if c in edges.columns]
    for row in edges.select("child", "parent", *ecols).iter_rows(named=True):
        attrs = {"ra:" + k: row[k] for k in ecols if row[k] is not None}
        doc.wasDerivedFrom(_post_ref(row["child"]), _post_ref(row["parent"]),
                           other_attributes=attrs or None)
    return doc


def _typed(v: Any) -> Any:
    """A PROV-JSON attribute value the way ``prov`` writes it."""
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, int):
        return {"$": str(v), "type": "xsd:int"}
    if isinstance(v, float):
        return {"$": str(v), "type": "xsd:double"}
    return str(v)


def _prov_direct(nodes: pl.DataFrame, edges: pl.DataFrame) -> dict[str, Any]:
    """The PROV-JSON of :func:`to_prov`, built as plain dicts (same records, same ids, ~30x faster)."""
    cols = [c for c in _PROV_COLS if c in nodes.columns]
    doc: dict[str, Any] = {"prefix": {"post": _NS_POST, "author": _NS_AUTHOR, "ra": _NS_RA}}
    ids = nodes.get_column("id").to_list()
    qid = {i: _post_ref(i) for i in ids}

    def post(i: str) -> str:
        q = qid.get(i)
        return q if q is not None else qid.setdefault(i, _post_ref(i))

    ent: dict[str, Any] = {}
    seen: dict[str, str] = {}
    gen: dict[str, Any] = {}
    agents: dict[str, Any] = {}
    attr: dict[str, Any] = {}
    der: dict[str, Any] = {}
    k = 0
    for row in nodes.select("id", *cols).iter_rows(named=True):
        eid = post(row["id"])
        ent[eid] = _entity_attrs(row, post, _typed)
        if row.get("created_at") is not None:
            k += 1
            gen[f"_:id{k}"] = {"prov:entity": eid, "prov:time": row["created_at"].isoformat()}
        if row.get("author"):
            ag = "author:" + quote(row["author"], safe="") if row["author"] not in seen else seen[row["author"]]
            seen[row["author"]] = ag
            agents.setdefault(ag, {"prov:type": "prov:Person", "ra:handle": row["author"]})
            k += 1
            attr[f"_:id{k}"] = {"prov:entity": eid, "prov:agent": ag}
    ecols = [c for c in ("relation", "evidence", "confidence") if c in edges.columns]
    for row in edges.select("child", "parent", *ecols).iter_rows(named=True):
        k += 1
        d = {"prov:generatedEntity": post(row["child"]), "prov:usedEntity": post(row["parent"])}
        d.update({"ra:" + c: _typed(row[c]) for c in ecols if row[c] is not None})
        der[f"_:id{k}"] = d
    for name, part in (("entity", ent), ("wasGeneratedBy", gen), ("agent", agents), ("wasAttributedTo", attr),
                       ("wasDerivedFrom", der)):
        if part:
            doc[name] = part
    return doc


def to_prov_json(nodes: pl.DataFrame, edges: pl.DataFrame, *, engine: str = "prov") -> bytes:
    """PROV-JSON (UTF-8 bytes) of :func:`to_prov`, readable by ``prov.read(..., format="json")``.

    ``engine="prov"`` serialises the ``prov`` library's document; ``engine="direct"``
    writes the same records as plain dicts (for snapshots of big trees: a 10,000-node
    tree in well under a second); the tests check that ``prov`` reads both as equal documents.

    Examples
    --------
    >>> from prov.model import ProvDocument
    >>> n = pl.DataFrame({"id": ["a:1", "a:2"], "text": ["hi", "ho"], "depth": [0, 1]})
    >>> e = pl.DataFrame({"child": ["a:2"], "parent": ["a:1"], "relation": ["remix"]})
    >>> docs = [ProvDocument.deserialize(content=to_prov_json(n, e, engine=x), format="json") for x in ("prov", "direct")]
    >>> docs[0] == docs[1], sorted(str(r.identifier) for r in docs[0].get_records() if r.is_element())
    (True, ['post:a%3A1', 'post:a%3A2'])
    """
    import orjson

    if engine == "direct":
        return orjson.dumps(_prov_direct(nodes, edges))
    if engine != "prov":
        raise ArchiveError(f"unknown PROV engine {engine!r}: use 'prov' or 'direct'")
    from prov.serializers.provjson import encode_json_document

    return orjson.dumps(encode_json_document(to_prov(nodes, edges)))


# ---------------------------------------------------------------------- tables
def neutralise(col: str) -> pl.Expr:
    """An expression that prefixes ``'`` to text a spreadsheet would run (``= + - @``, tab, CR first).

    Examples
    --------
    >>> pl.DataFrame({"s": ["=1+1", "ok", "@x", "-2", None]}).select(neutralise("s"))["s"].to_list()
    ["'=1+1", 'ok', "'@x", "'-2", None]
    """
    c = pl.col(col)
    return pl.when(c.str.contains(_CSV_DANGER)).then(pl.lit("'") + c).otherwise(c).alias(col)


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


def to_csv(nodes: pl.DataFrame) -> bytes:
    """CSV (UTF-8 bytes) of the nodes, every text cell neutralised.

    Examples
    --------
    >>> print(to_csv(pl.DataFrame({"id": ["a:1"], "prompt": ["=HYPERLINK(1)"]})).decode(), end="")
    id,prompt
    a:1,'=HYPERLINK(1)
    """
    flat = flat_nodes(nodes)
    strings = [n for n, dt in flat.schema.items() if dt == pl.String]
    return flat.with_columns([neutralise(c) for c in strings]).write_csv().encode("utf-8")


def export(archive: Archive, fmt: str, out: str | Path | None = None, *, root: str | None = None,
           as_of: Any = None, edges: str = "declared") -> bytes | Path:
    """Export the archive (or the tree of ``root``) in ``fmt``; write to ``out`` or return the bytes.

    ``edges="all"`` adds the inferred links, marked ``evidence: inferred`` with their confidence.

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
    nodes, edges = export_frames(archive, root, as_of=as_of, edges=edges)
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
