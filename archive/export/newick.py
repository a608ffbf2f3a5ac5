"""Newick/NHX: the primary tree for phylogenetics tools (dendropy, Bio.Phylo, ete), and a reader."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl

from archive.errors import ArchiveError
from archive.graph import children_index
from archive.names import NEWICK_NAME, escape_chars, xml_unescape_text

__all__ = ["to_newick", "parse_newick"]


def _quote(name: str) -> str:
    """A Newick name: quoted, with controls, line breaks and ``'`` written ``␛XXXX`` (:data:`archive.names.NEWICK_NAME`).

    Tree readers drop line breaks in names and some (ete) cannot read the doubled quote, so the
    name carries neither; :func:`parse_newick` (or :func:`archive.names.xml_unescape_text`) gives the id back.
    """
    return "'" + escape_chars(name, NEWICK_NAME) + "'"


def _nhx(row: dict) -> str:
    parts = [f"depth={row['depth']}"] if row.get("depth") is not None else []
    for k in ("edge_drift", "root_drift"):
        v = row.get(k)
        if v is not None:
            parts.append(f"{k}={v:.4g}")
    if row.get("parent_evidence") == "inferred" and row.get("parent_confidence") is not None:
        parts.append(f"evidence=inferred:confidence={row['parent_confidence']:.4g}")
    return "[&&NHX:" + ":".join(parts) + "]" if parts else ""


def to_newick(nodes: pl.DataFrame) -> str:
    """Newick/NHX of the primary tree(s), one line per root, children in creation order.

    Names are quoted, so ids with ``:``, spaces, ``( ) [ ] , ;`` are safe; control characters, line
    breaks and ``'`` are written ``␛XXXX`` (the escape of :mod:`archive.names`), so dendropy, Bio.Phylo
    and ete read every name. The
    branch length is the edge drift when the nodes carry it; NHX comments give depth and
    drift. Written without recursion, so any depth works.

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["r:1", "r:2", "r:3"], "parent": [None, "r:1", "r:1"], "depth": [0, 1, 1],
    ...                   "edge_drift": [None, 0.25, 0.5]})
    >>> print(to_newick(n), end="")
    ('r:2':0.25[&&NHX:depth=1:edge_drift=0.25],'r:3':0.5[&&NHX:depth=1:edge_drift=0.5])'r:1'[&&NHX:depth=0];
    """
    cols = [c for c in ("id", "parent", "depth", "edge_drift", "root_drift", "created_at", "parent_evidence",
                        "parent_confidence") if c in nodes.columns]
    sort = [c for c in ("created_at", "id") if c in cols]
    df = nodes.select(cols).sort(sort, nulls_last=True)
    rows = {r["id"]: r for r in df.iter_rows(named=True)}
    ids = list(rows)
    pidx, kid_idx = children_index(ids, [rows[i].get("parent") for i in ids])
    children = {ids[v]: [ids[k] for k in ks] for v, ks in enumerate(kid_idx) if ks}
    roots = [ids[i] for i in range(len(ids)) if pidx[i] < 0 or pidx[i] == i]
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
    lengths and ``[&&NHX:k=v:...]`` comments are understood, and the ``␛XXXX`` escape of
    :func:`to_newick` is undone; no recursion.

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
            name = None if node["name"] is None else xml_unescape_text(node["name"])
            out.append({"name": name, "parent": parent, "length": node["length"], "nhx": node["nhx"]})
            todo.extend((c, name) for c in reversed(node["children"]))
    return out
