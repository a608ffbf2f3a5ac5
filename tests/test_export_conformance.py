"""Exports checked by each standard's own validator and read back by the tools that consume them.

GraphML (GraphML 1.0 XSD), GEXF (GEXF 1.2draft XSD) with `xmllint --schema`; PROV-JSON against a
PROV-JSON schema, converted with `prov` to PROV-N and PROV-XML (W3C PROV-XML XSD); Newick read by
dendropy, Bio.Phylo and ete; CSV read back by the csv module. The archive holds the hostile
characters of the cases export-graphml-cr-and-tab-altered, export-gexf-graph-name-attribute and
export-prov-xml-conversion (inputs copied into tests/data/<case>/), and more.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import networkx as nx
import prov
import pytest

from archive.export import export, export_frames, graph_id, to_newick
from archive.ingest import ingest, ingest_records
from archive.names import xml_name_decode, xml_unescape_text
from archive.snapshot import snapshot
from archive.sources.jsonl import JsonlSource
from archive.store import Archive

DATA = Path(__file__).resolve().parent / "data"
XSD = next(p / "shared" / "fixtures" / "xsd" for p in Path(__file__).resolve().parents
           if (p / "shared" / "fixtures" / "xsd").is_dir())
PROV_XSD = DATA / "xsd" / "prov" / "prov.xsd"  # the W3C files, with xml.xsd beside them (offline)
PROV_JSON_SCHEMA = json.loads((DATA / "prov-json" / "prov-json.schema.json").read_text("utf-8"))

needs_xmllint = pytest.mark.skipif(shutil.which("xmllint") is None, reason="xmllint (libxml2-utils) not installed")

LONG = "a long prompt " * 8000  # 112,000 characters
HOSTILE = [
    {"id": "h:root", "source": "h", "created_at": "2026-01-01T00:00:00Z", "author": "@ann",
     "prompt": "line one\r\nline two\rline three\n\ttabbed  double  space "},
    {"id": "h:tab\tid with space", "source": "h", "created_at": "2026-01-02T00:00:00Z", "parents": ["h:root"],
     "prompt": "bidi \u202eevil\u202c \u200f mark \u2066iso\u2069 emoji \U0001f600\U0001f3ac zwj \U0001f469\u200d\U0001f4bb",
     "author": "=cmd"},
    {"id": "h:ctrl\r\nid%41", "source": "h", "created_at": "2026-01-03T00:00:00Z", "parents": ["h:tab\tid with space"],
     "prompt": "nul\x00 bell\x07 esc\x1b[31m vt\x0b ff\x0c us\x1f own-escape \u241b0007 fffe\ufffe",
     "author": "\x07bell"},
    {"id": "h:<&>\"'", "source": "h", "created_at": "2026-01-04T00:00:00Z", "parents": ["h:root"],
     "prompt": "<b>bold</b> & \"quotes\" 'single' ]]> " + LONG, "title": "\u00e9t\u00e9 caf\u0065\u0301"},
    {"id": "h:\u00e9\u4e2d\u6587", "source": "h", "created_at": "2026-01-05T00:00:00Z", "parents": ["h:root"],
     "prompt": "\uff1dSUM(1) full-width", "style_tags": ["noir", "35mm"]},
]
STRINGS = ("prompt", "author", "title")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    arc = Archive.open(tmp_path_factory.mktemp("hostile") / "arc", create=True)
    res = ingest_records(arc, HOSTILE)
    assert res.stored == len(HOSTILE)
    return arc


def xmllint(schema: Path, doc: Path) -> None:
    r = subprocess.run(["xmllint", "--noout", "--schema", str(schema), str(doc)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{doc} validates" in r.stderr


def _by_original(g: nx.Graph) -> dict[str, dict]:
    """Nodes keyed by the archived id: GraphML's original_id (mapped ids), the documented XML escape undone."""
    return {xml_unescape_text(d.get("original_id", n)): {k: xml_unescape_text(v) if isinstance(v, str) else v
                                                         for k, v in d.items()} for n, d in g.nodes(data=True)}


# ---------------------------------------------------------------------- the named cases
def test_graphml_keeps_cr_and_tab(empty_store: Archive, tmp_path: Path):
    """export-graphml-cr-and-tab-altered: the right value is what GEXF read by networkx gives."""
    ingest(empty_store, JsonlSource([str(DATA / "export-graphml-cr-and-tab-altered" / "crtab.jsonl")]))
    out = export(empty_store, "graphml", tmp_path / "crtab.graphml")
    g = nx.read_graphml(out)
    got = sorted((k, d.get("prompt")) for k, d in _by_original(g).items())
    assert got == [("t:root", "line one\r\nline two\rline three"), ("t:tab\tid", "a remix")]
    gexf = nx.read_gexf(export(empty_store, "gexf", tmp_path / "crtab.gexf"))
    assert got == sorted((n, d.get("prompt")) for n, d in gexf.nodes(data=True))
    assert g.nodes[graph_id("t:tab\tid")]["original_id"] == "t:tab\tid"  # mapped NMTOKEN id, original kept


@needs_xmllint
def test_gexf_has_no_graph_name_and_validates(empty_store: Archive, tmp_path: Path):
    """export-gexf-graph-name-attribute: `/tmp/case-gexf.gexf validates`."""
    ingest(empty_store, JsonlSource([str(DATA / "export-gexf-graph-name-attribute" / "two.jsonl")]))
    out = export(empty_store, "gexf", tmp_path / "case-gexf.gexf")
    assert b'name=""' not in out.read_bytes()
    xmllint(XSD / "gexf-1.2draft" / "gexf.xsd", out)


@needs_xmllint
def test_prov_xml_conversion_validates(empty_store: Archive, tmp_path: Path):
    """export-prov-xml-conversion: prov converts the export to PROV-XML that the W3C XSD accepts, controls included."""
    for f in ("two.jsonl", "ctrl.jsonl"):
        ingest(empty_store, JsonlSource([str(DATA / "export-prov-xml-conversion" / f)]))
    out = export(empty_store, "prov-json", tmp_path / "case-prov.json")
    doc = prov.read(str(out), format="json")
    xml = tmp_path / "case-prov.xml"
    xml.write_text(doc.serialize(format="xml"), "utf-8")
    xmllint(PROV_XSD, xml)
    assert "post:t_3A1" in xml.read_text("utf-8")
    ents = {str(r.identifier): r for r in doc.get_records() if r.is_element()}
    # ids are valid QNames and reversible; the original id is kept in ra:id; controls escaped reversibly
    assert xml_name_decode(str(ents["post:t_3A3"].identifier).split(":", 1)[1]) == "t:3"
    p3 = ents["post:t_3A3"]
    assert xml_unescape_text(p3.get_attribute("ra:prompt").pop()) == "bell\u0007 and escape\u001b[31m kept verbatim"
    assert p3.get_attribute("ra:id").pop() == "t:3"


# ---------------------------------------------------------------------- the hostile archive, every XML export
@needs_xmllint
def test_graphml_validates_and_gives_back_every_string(hostile: Archive, tmp_path: Path):
    out = export(hostile, "graphml", tmp_path / "h.graphml")
    xmllint(XSD / "graphml" / "graphml.xsd", out)
    nodes = _by_original(nx.read_graphml(out))
    for rec in HOSTILE:
        for k in STRINGS:
            if k in rec:
                assert nodes[rec["id"]][k] == rec[k], (rec["id"], k)
    assert set(nodes) == {r["id"] for r in HOSTILE}
    assert nodes["h:\u00e9\u4e2d\u6587"]["style_tags"] == "noir; 35mm"


@needs_xmllint
def test_gexf_validates_and_gives_back_every_string(hostile: Archive, tmp_path: Path):
    out = export(hostile, "gexf", tmp_path / "h.gexf")
    xmllint(XSD / "gexf-1.2draft" / "gexf.xsd", out)
    nodes = _by_original(nx.read_gexf(out))
    for rec in HOSTILE:
        for k in STRINGS:
            if k in rec:
                assert nodes[rec["id"]][k] == rec[k], (rec["id"], k)


@needs_xmllint
def test_prov_json_schema_provn_and_prov_xml(hostile: Archive, tmp_path: Path):
    out = export(hostile, "prov-json", tmp_path / "h.json")
    jsonschema.Draft202012Validator(PROV_JSON_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(
        json.loads(out.read_bytes()))
    doc = prov.read(str(out), format="json")
    provn = doc.get_provn()
    assert "wasDerivedFrom(post:h_3Atab_09id_20with_20space, post:h_3Aroot" in provn
    xml = tmp_path / "h.xml"
    xml.write_text(doc.serialize(format="xml"), "utf-8")
    xmllint(PROV_XSD, xml)
    back = prov.read(str(xml), format="xml")
    ents = {xml_unescape_text(r.get_attribute("ra:id").pop()): r for r in back.get_records() if r.is_element()
            and r.get_attribute("ra:id")}
    for rec in HOSTILE:
        assert xml_unescape_text(str(ents[rec["id"]].get_attribute("ra:prompt").pop())) == rec["prompt"]
        assert xml_name_decode(str(ents[rec["id"]].identifier).split(":", 1)[1]) == rec["id"]


@needs_xmllint
def test_snapshot_xml_files_validate(hostile: Archive, tmp_path: Path):
    bag = snapshot(hostile, "h:root", out=tmp_path / "bags")
    xmllint(XSD / "graphml" / "graphml.xsd", bag / "data" / "tree.graphml")
    data = json.loads((bag / "data" / "prov.json").read_bytes())
    jsonschema.Draft202012Validator(PROV_JSON_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(data)
    xml = tmp_path / "snap.xml"
    xml.write_text(prov.read(str(bag / "data" / "prov.json"), format="json").serialize(format="xml"), "utf-8")
    xmllint(PROV_XSD, xml)


# ---------------------------------------------------------------------- Newick in three readers
def _newick_names(arc: Archive) -> tuple[str, set[str]]:
    nodes, _ = export_frames(arc)
    return to_newick(nodes), set(nodes.get_column("id").to_list())


def test_newick_read_by_dendropy(hostile: Archive):
    import dendropy

    text, ids = _newick_names(hostile)
    tree = dendropy.Tree.get(data=text, schema="newick", preserve_underscores=True, suppress_internal_node_taxa=False,
                             suppress_leaf_node_taxa=False)
    assert {xml_unescape_text(n.taxon.label) for n in tree.preorder_node_iter()} == ids


def test_newick_read_by_bio_phylo(hostile: Archive):
    from Bio import Phylo

    text, ids = _newick_names(hostile)
    tree = Phylo.read(io.StringIO(text), "newick")
    assert {xml_unescape_text(c.name) for c in tree.find_clades()} == ids


def test_newick_read_by_ete(hostile: Archive):
    ete3 = pytest.importorskip("ete3")
    text, ids = _newick_names(hostile)
    tree = ete3.Tree(text, format=1, quoted_node_names=True)
    assert {xml_unescape_text(n.name) for n in tree.traverse()} == ids
    assert {n.name: n.depth for n in tree.traverse()}[to_newick_name("h:root")] == "0"  # NHX read too


def to_newick_name(post_id: str) -> str:
    from archive.names import NEWICK_NAME, escape_chars

    return escape_chars(post_id, NEWICK_NAME)


# ---------------------------------------------------------------------- CSV
def test_csv_full_width_and_multiline(hostile: Archive, tmp_path: Path):
    out = export(hostile, "csv", tmp_path / "h.csv")
    rows = {r["id"]: r for r in csv.DictReader(open(out, encoding="utf-8", newline=""))}
    assert rows["h:\u00e9\u4e2d\u6587"]["prompt"] == "'\uff1dSUM(1) full-width"
    assert rows["h:tab\tid with space"]["author"] == "'=cmd"
    assert rows["h:root"]["prompt"] == HOSTILE[0]["prompt"]  # CRLF, CR, LF and TAB inside the cell, intact
    assert rows["h:<&>\"'"]["prompt"] == HOSTILE[3]["prompt"]
    assert len(rows) == len(HOSTILE)
    for full in "\uff1d\uff0b\uff0d\uff20":
        ingest_records(hostile, [{"id": f"w:{ord(full)}", "source": "w", "created_at": "2026-02-01T00:00:00Z",
                                  "prompt": full + "1"}])
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(export(hostile, "csv").decode("utf-8"), newline=""))}
    assert all(rows[f"w:{ord(f)}"]["prompt"] == "'" + f + "1" for f in "\uff1d\uff0b\uff0d\uff20")
