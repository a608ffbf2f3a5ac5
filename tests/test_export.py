"""Exports read back by the tools that consume them: networkx, a Newick parser, prov, csv, polars."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import networkx as nx
import polars as pl
import prov
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

from archive.errors import ArchiveError
from archive.export import export, export_frames, graph_id, parse_newick, to_csv, to_gexf, to_graphml, to_newick
from archive.ingest import ingest_records
from archive.names import xml_unescape_text
from archive.store import Archive
from dashboard.cli import cli

NASTY = [
    {"id": "x:root", "source": "x", "created_at": "2026-01-01T00:00:00Z", "prompt": "=HYPERLINK(\"http://evil\")",
     "author": "@ann"},
    {"id": "x:it's (a) [b], c;d", "source": "x", "created_at": "2026-01-02T00:00:00Z",
     "prompt": "+1 <b>bold</b> & \"quotes\"\x07bell", "author": "-minus", "parents": ["x:root"],
     "style_tags": ["noir", "35mm"]},
    {"id": "x:3", "source": "x", "created_at": "2026-01-03T00:00:00Z", "prompt": "@mention\ttab",
     "parents": ["x:it's (a) [b], c;d"], "metrics": {"views": 5}},
    {"id": "x:4", "source": "x", "created_at": "2026-01-04T00:00:00Z", "prompt": "\rcarriage", "parents": ["x:root"]},
]


@pytest.fixture()
def nasty(empty_store: Archive) -> Archive:
    ingest_records(empty_store, NASTY)
    return empty_store


@pytest.fixture(scope="module")
def sample(sample_store: Path) -> Archive:
    return Archive.open(sample_store, read_only=True)


def _tree_edges(arc: Archive, root: str | None = None) -> set[tuple[str, str]]:
    nodes, edges = export_frames(arc, root)
    return set(zip(edges.get_column("parent").to_list(), edges.get_column("child").to_list()))


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_graph_formats_read_back_by_networkx(sample: Archive, nasty: Archive, fmt: str):
    read = nx.read_graphml if fmt == "graphml" else nx.read_gexf
    for arc, root in ((sample, None), (nasty, "x:3")):
        data = export(arc, fmt, root=root)
        g = read(io.BytesIO(data))
        # GraphML node ids must be NMTOKENs: others are mapped, the original kept in original_id
        g = nx.relabel_nodes(g, {n: d.get("original_id", n) for n, d in g.nodes(data=True)})
        nodes, edges = export_frames(arc, root)
        assert set(g.nodes) == set(nodes.get_column("id").to_list())
        assert set(g.edges) == _tree_edges(arc, root)
    g = nx.read_graphml(io.BytesIO(export(nasty, "graphml")))
    node = g.nodes[graph_id("x:it's (a) [b], c;d")]
    assert node["original_id"] == "x:it's (a) [b], c;d"
    assert node["prompt"] == "+1 <b>bold</b> & \"quotes\"\u241b0007bell"  # XML cannot hold BEL: the documented escape
    assert xml_unescape_text(node["prompt"]) == NASTY[1]["prompt"]
    assert node["depth"] == 1 and node["style_tags"] == "noir; 35mm" and node["placeholder"] is False
    assert g.edges["x:root", "x:4"]["relation"] == "remix"


def test_graphml_and_networkx_writer_agree(sample: Archive):
    root = sample.trees().get_column("root")[0]
    nodes, edges = export_frames(sample, root)
    ours = nx.read_graphml(io.BytesIO(to_graphml(nodes, edges)))
    theirs = nx.read_gexf(io.BytesIO(to_gexf(nodes, edges)))
    assert dict(ours.nodes(data="depth")) == {k: int(v) for k, v in theirs.nodes(data="depth")}
    assert dict(ours.nodes(data="prompt")) == dict(theirs.nodes(data="prompt"))


def test_newick_round_trip(sample: Archive, nasty: Archive):
    for arc in (sample, nasty):
        nodes, _ = export_frames(arc)
        parsed = parse_newick(to_newick(nodes))
        assert len(parsed) == nodes.height
        want = {(r["id"], r["parent"]) for r in nodes.select("id", "parent").iter_rows(named=True)}
        assert {(n["name"], n["parent"]) for n in parsed} == want
        depth = dict(zip(*nodes.select("id", "depth").get_columns()))
        assert all(int(n["nhx"]["depth"]) == depth[n["name"]] for n in parsed)


def test_newick_deep_chain_without_recursion():
    n = 20_000
    ids = [f"c:{i}" for i in range(n)]
    nodes = pl.DataFrame({"id": ids, "parent": [None] + ids[:-1], "depth": list(range(n))})
    parsed = parse_newick(to_newick(nodes))
    assert parsed[-1] == {"name": f"c:{n - 1}", "parent": f"c:{n - 2}", "length": None,
                          "nhx": {"depth": str(n - 1)}}


def test_newick_parser_rejects_garbage():
    with pytest.raises(ArchiveError, match="unbalanced"):
        parse_newick("((a,b);")
    with pytest.raises(ArchiveError, match="unclosed quote"):
        parse_newick("('a;")


def test_prov_json_read_back_by_prov(sample: Archive, nasty: Archive, tmp_path: Path):
    from prov.model import PROV_ATTR_TIME, ProvAgent, ProvAttribution, ProvDerivation, ProvEntity, ProvGeneration

    for arc in (sample, nasty):
        out = export(arc, "prov-json", tmp_path / "doc.json")
        doc = prov.read(str(out), format="json")
        nodes, edges = export_frames(arc)
        recs = doc.get_records()
        ents = [r for r in recs if isinstance(r, ProvEntity)]
        assert len(ents) == nodes.height
        assert len([r for r in recs if isinstance(r, ProvDerivation)]) == edges.height
        authored = nodes.filter(pl.col("author").is_not_null())
        assert len([r for r in recs if isinstance(r, ProvAttribution)]) == authored.height
        assert len([r for r in recs if isinstance(r, ProvAgent)]) == authored.get_column("author").n_unique()
        gens = [r for r in recs if isinstance(r, ProvGeneration)]
        assert len(gens) == nodes.filter(pl.col("created_at").is_not_null()).height
    times = sorted(g.get_attribute(PROV_ATTR_TIME).pop().isoformat() for g in gens)
    assert times[0].startswith("2026-01-01T00:00:00")
    by_id = {e.get_attribute("ra:id").pop(): e for e in ents}
    assert by_id["x:root"].get_attribute("ra:prompt").pop() == NASTY[0]["prompt"]


def test_csv_neutralised_and_read_back(nasty: Archive, tmp_path: Path):
    out = export(nasty, "csv", tmp_path / "x.csv")
    rows = {r["id"]: r for r in csv.DictReader(open(out, encoding="utf-8", newline=""))}
    assert rows["x:root"]["prompt"] == "'" + NASTY[0]["prompt"]
    assert rows["x:it's (a) [b], c;d"]["prompt"].startswith("'+1") and rows["x:it's (a) [b], c;d"]["author"] == "'-minus"
    assert rows["x:3"]["prompt"] == "'@mention\ttab" and rows["x:4"]["prompt"] == "'\rcarriage"
    assert rows["x:it's (a) [b], c;d"]["style_tags"] == "noir; 35mm"
    for r in rows.values():
        for v in r.values():
            assert not v or v[0] not in "=+-@\t\r", (r["id"], v)
    assert "'" not in to_csv(pl.DataFrame({"id": ["a:1"], "n": [-5]})).decode()  # numbers are not text


def test_parquet_keeps_types(sample: Archive, tmp_path: Path):
    out = export(sample, "parquet", tmp_path / "x.parquet")
    back = pl.read_parquet(out)
    nodes, _ = export_frames(sample)
    assert_frame_equal(back, nodes)
    assert {"id", "parent", "root", "depth", "prompt", "views", "style_tags"} <= set(back.columns)


def test_drift_joined_when_stored(empty_store: Archive):
    ingest_records(empty_store, NASTY[:2])
    drift = pl.DataFrame({"id": ["x:it's (a) [b], c;d"], "edge_drift": [0.5], "root_drift": [0.5]})
    nodes, _ = export_frames(empty_store, drift=drift)
    assert nodes.filter(pl.col("depth") == 1).select("edge_drift", "root_drift").row(0) == (0.5, 0.5)
    assert ":0.5[&&NHX:depth=1:edge_drift=0.5:root_drift=0.5]" in to_newick(nodes)


def test_export_carries_the_drift_lineage_stored(empty_store: Archive):
    """The drift comes from the analysis tables lineage writes (no guessed table names in archive)."""
    from lineage.analyze import analyze, load_results
    from lineage.stale import stored_drift

    ingest_records(empty_store, NASTY[:2])
    assert export_frames(empty_store, drift=stored_drift(empty_store))[0].columns == export_frames(empty_store)[0].columns
    analyze(empty_store, n_boot=5)
    nodes, _ = export_frames(empty_store, drift=stored_drift(empty_store))
    want = load_results(empty_store, "nodes").select("id", "edge_drift").sort("id")
    assert nodes.select("id", "edge_drift").sort("id").equals(want) and want["edge_drift"].drop_nulls().len() == 1
    res = CliRunner().invoke(cli, ["export", "--format", "newick", "-o", "-", "--archive", str(empty_store.path)])
    assert res.exit_code == 0 and "edge_drift=" in res.output  # given to the command by build_cli


def test_cli_export(sample_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    r = CliRunner()
    res = r.invoke(cli, ["export", "--format", "newick", "--root", "simulate:s42_0000099", "-o", "-",
                         "--archive", str(sample_store)])
    assert res.exit_code == 0 and len(parse_newick(res.output)) == 101
    monkeypatch.chdir(tmp_path)
    res = r.invoke(cli, ["export", "--format", "gexf", "--archive", str(sample_store), "--json"])
    assert res.exit_code == 0
    out = json.loads(res.output)
    assert out["out"] == "export-archive.gexf" and (tmp_path / "export-archive.gexf").stat().st_size == out["bytes"]
    res = r.invoke(cli, ["export", "--format", "csv", "--root", "nope:1", "--archive", str(sample_store)])
    assert res.exit_code == 1 and res.output.strip() == f"Error: no post 'nope:1' in the archive at {sample_store}"
    res = r.invoke(cli, ["export", "--format", "parquet", "-o", "-", "--archive", str(sample_store)])
    assert res.exit_code == 2 and "binary" in res.output


def test_prov_direct_writer_equals_prov_library(sample: Archive, nasty: Archive):
    from prov.model import ProvDocument

    from archive.export import to_prov_json

    for arc, root in ((sample, sample.trees().get_column("root")[0]), (nasty, None)):
        nodes, edges = export_frames(arc, root)
        via_prov = ProvDocument.deserialize(content=export(arc, "prov-json", root=root), format="json")

        direct = ProvDocument.deserialize(content=to_prov_json(nodes, edges, engine="direct"), format="json")
        assert direct == via_prov
        assert len(direct.get_records()) == len(via_prov.get_records()) > nodes.height
