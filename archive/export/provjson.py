"""W3C PROV: a ``prov`` document of the posts, derivations and authors, and its PROV-JSON."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from archive.errors import ArchiveError
from archive.export._common import _escape_frame
from archive.names import xml_name

__all__ = ["to_prov", "to_prov_json"]

_NS_POST = "urn:remix-archivist:post:"
_NS_AUTHOR = "urn:remix-archivist:author:"
_NS_RA = "https://github.com/remix-archivist/ns#"


_PROV_COLS = ("source", "created_at", "author", "title", "prompt", "text", "placeholder", "redacted",
              "content_hash", "depth", "root", "edge_drift", "root_drift")


def _post_ref(post_id: str) -> str:
    """A post's PROV id: ``post:`` and the id as an NCName (:func:`archive.names.xml_name`), a valid QName in
    PROV-N, PROV-JSON and PROV-XML; the id itself is kept in ``ra:id``."""
    return "post:" + xml_name(post_id)


def _author_ref(handle: str) -> str:
    return "author:" + xml_name(handle)


def _prov_frames(nodes: pl.DataFrame, edges: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The columns both writers read, text escaped with :func:`archive.names.xml_escape_text` column-wise
    (ids stay raw: their PROV names come from :func:`archive.names.xml_name`; ``_ra_id`` is the escaped id)."""
    cols = [c for c in _PROV_COLS if c in nodes.columns]
    n = nodes.select("id", *cols, _ra_id=pl.col("id"))
    n = pl.concat([n.select("id", *[c for c in ("root",) if c in cols]),
                   _escape_frame(n.drop("id", *[c for c in ("root",) if c in cols]))], how="horizontal")
    ecols = [c for c in ("relation", "evidence", "confidence") if c in edges.columns]
    e = edges.select("child", "parent", *ecols)
    if ecols:
        e = pl.concat([e.select("child", "parent"), _escape_frame(e.select(ecols))], how="horizontal")
    return n, e


def _entity_attrs(row: dict[str, Any], ref: Callable[[str], str],
                  value: Callable[[Any], Any] = lambda v: v) -> dict[str, Any]:
    """The PROV attributes of one post, for both writers (the ``prov`` library's and the direct one)."""
    a: dict[str, Any] = {"prov:type": "ra:RemixPost", "ra:id": row["_ra_id"]}
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

    Each post is an entity ``post:<id as an NCName>`` (valid in PROV-XML too; the id itself in
    ``ra:id``) with its source, text and content
    hash, generated at its ``created_at``; each edge is ``wasDerivedFrom`` (child from
    parent) carrying relation, evidence and confidence; each author is an agent and
    ``wasAttributedTo`` links post and author. Placeholders are entities marked as such.
    Text is escaped with :func:`archive.names.xml_escape_text`, so the document also converts
    to PROV-XML (``prov`` refuses control characters there).

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["a:1", "a:2"], "author": ["@x", None], "text": ["hi", "ho"]})
    >>> e = pl.DataFrame({"child": ["a:2"], "parent": ["a:1"], "relation": ["remix"]})
    >>> doc = to_prov(n, e)
    >>> sorted(str(r.identifier) for r in doc.get_records() if r.is_element())
    ['author:_40x', 'post:a_3A1', 'post:a_3A2']
    """
    from prov.model import ProvDocument

    doc = ProvDocument()
    doc.add_namespace("post", _NS_POST)
    doc.add_namespace("author", _NS_AUTHOR)
    doc.add_namespace("ra", _NS_RA)
    nodes, edges = _prov_frames(nodes, edges)
    authors: set[str] = set()
    for row in nodes.iter_rows(named=True):
        ent = _post_ref(row["id"])
        doc.entity(ent, _entity_attrs(row, _post_ref))
        if row.get("created_at") is not None:
            doc.wasGeneratedBy(ent, None, row["created_at"])
        if row.get("author"):
            ag = _author_ref(row["author"])
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
    nodes, edges = _prov_frames(nodes, edges)
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
    for row in nodes.iter_rows(named=True):
        eid = post(row["id"])
        ent[eid] = _entity_attrs(row, post, _typed)
        if row.get("created_at") is not None:
            k += 1
            gen[f"_:id{k}"] = {"prov:entity": eid, "prov:time": row["created_at"].isoformat()}
        if row.get("author"):
            ag = _author_ref(row["author"]) if row["author"] not in seen else seen[row["author"]]
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

    ``engine="prov"`` serializes the ``prov`` library's document; ``engine="direct"``
    writes the same records as plain dicts (for snapshots of big trees: a 10,000-node
    tree in well under a second); the tests check that ``prov`` reads both as equal documents.

    Examples
    --------
    >>> from prov.model import ProvDocument
    >>> n = pl.DataFrame({"id": ["a:1", "a:2"], "text": ["hi", "ho"], "depth": [0, 1]})
    >>> e = pl.DataFrame({"child": ["a:2"], "parent": ["a:1"], "relation": ["remix"]})
    >>> docs = [ProvDocument.deserialize(content=to_prov_json(n, e, engine=x), format="json") for x in ("prov", "direct")]
    >>> docs[0] == docs[1], sorted(str(r.identifier) for r in docs[0].get_records() if r.is_element())
    (True, ['post:a_3A1', 'post:a_3A2'])
    """
    import orjson

    if engine == "direct":
        return orjson.dumps(_prov_direct(nodes, edges))
    if engine != "prov":
        raise ArchiveError(f"unknown PROV engine {engine!r}: use 'prov' or 'direct'")
    from prov.serializers.provjson import encode_json_document

    return orjson.dumps(encode_json_document(to_prov(nodes, edges)))
