"""`analyze` over real stores: the tables, incremental recomputation, and the CLI commands."""
from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive
from dashboard.cli import cli
from lineage.analyze import TABLES, analyze, load_results
from lineage.errors import LineageError
from lineage.text import tokenize


@pytest.fixture(scope="module")
def records() -> list[dict]:
    recs, _ = simulate(SimParams(seed=9, posts=600))
    return recs


def _sorted(arc: Archive, table: str, key: list[str], drop: tuple[str, ...] = ()) -> pl.DataFrame:
    return load_results(arc, table).drop(*drop).sort(key)


def test_analyze_writes_every_table_and_records_the_store_version(tmp_path, records):
    arc = Archive.open(tmp_path / "a", create=True)
    ingest_records(arc, records, source="simulate")
    out = analyze(arc, n_boot=20)
    assert out["trees"] == arc.trees().height and out["trees_recomputed"] == out["trees"]
    for t in TABLES:
        assert arc.has_table(f"analysis_{t}"), t
    nodes = load_results(arc, "nodes")
    assert nodes.height == arc.posts().height and nodes.get_column("id").is_unique().all()
    assert set(nodes.columns) >= {"id", "parent", "root", "depth", "edge_drift", "root_drift", "path_drift",
                                  "directness", "retention", "children", "new_terms", "bled", "bleed_share"}
    assert load_results(arc, "edges").height == arc.edges().height
    assert load_results(arc, "runs").row(-1, named=True)["store_version"] == arc.version()
    # the dashboard's names for the same tables
    assert_frame_equal(load_results(arc, "node_drift"), nodes)
    # blame shares add up to 1 for every node with words
    sums = load_results(arc, "blame").group_by("id").agg(pl.col("share").sum())
    assert sums.get_column("share").min() == pytest.approx(1.0)
    # nothing changed: nothing recomputed, nothing written
    v = arc.table_version("analysis_nodes")
    again = analyze(arc)
    assert again["up_to_date"] and arc.table_version("analysis_nodes") == v


def test_only_changed_trees_are_recomputed_and_results_match_a_full_run(tmp_path, records):
    arc = Archive.open(tmp_path / "a", create=True)
    first, rest = records[:450], records[450:]
    ingest_records(arc, first, source="simulate")
    analyze(arc, n_boot=10)
    before = load_results(arc, "trees").select("root", "content_hash")
    ingest_records(arc, rest, source="simulate")
    touched = arc.lineage().join(pl.DataFrame({"id": [r["id"] for r in rest]}), on="id", how="semi")
    touched_roots = set(touched.get_column("root").to_list())
    out = analyze(arc, n_boot=10)
    assert out["trees_recomputed"] == len(touched_roots) < out["trees"]
    after = load_results(arc, "trees").select("root", "content_hash")
    changed = after.join(before, on=["root", "content_hash"], how="anti").get_column("root").to_list()
    assert set(changed) == touched_roots
    incremental = {t: load_results(arc, t) for t in ("nodes", "edges", "styles", "blame", "trees")}
    analyze(arc, force=True, n_boot=10)
    keys = {"nodes": ["id"], "edges": ["child", "parent"], "styles": ["id", "term"], "blame": ["id", "ancestor"],
            "trees": ["root"]}
    for t, key in keys.items():
        assert_frame_equal(incremental[t].sort(key), load_results(arc, t).sort(key), check_column_order=False)
    # every write is a new Delta version: the first analysis is still readable
    assert load_results(arc, "nodes", version=0).height == len(first)


def test_load_results_names_the_problem(tmp_path):
    arc = Archive.open(tmp_path / "a", create=True)
    with pytest.raises(LineageError, match="run `archivist analyze` first"):
        load_results(arc, "nodes")
    with pytest.raises(LineageError, match="no analysis table 'bogus'"):
        load_results(arc, "bogus")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, records) -> str:
    path = tmp_path_factory.mktemp("cli") / "arc"
    arc = Archive.open(path, create=True)
    ingest_records(arc, records, source="simulate")
    res = CliRunner().invoke(cli, ["analyze", "--archive", str(path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["trees_recomputed"] > 0
    return str(path)


def test_cli_analyze_prints_a_summary(analysed):
    res = CliRunner().invoke(cli, ["analyze", "--archive", analysed])
    assert res.exit_code == 0 and "up to date" in res.output
    res = CliRunner().invoke(cli, ["analyze", "--force", "--archive", analysed])
    assert res.exit_code == 0 and "generational half-life" in res.output and "recomputed" in res.output


def test_cli_drift_shows_the_path_and_the_blame(analysed, records):
    deep = max(records, key=lambda r: r["extra"]["simulator"]["depth"])
    res = CliRunner().invoke(cli, ["drift", deep["id"], "--archive", analysed, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["id"] == deep["id"] and len(out["path"]) == deep["extra"]["simulator"]["depth"] + 1
    assert out["path"][0]["root_drift"] == 0.0 and sum(s["share"] for s in out["shares"]) == pytest.approx(1.0)
    assert [b["token"] for b in out["blame"]] == tokenize(deep["prompt"])
    text = CliRunner().invoke(cli, ["drift", deep["id"], "--archive", analysed])
    assert text.exit_code == 0 and "who wrote the words" in text.output


def test_cli_drift_works_before_analyze(tmp_path, records):
    arc = Archive.open(tmp_path / "a", create=True)
    ingest_records(arc, records[:50], source="simulate")
    res = CliRunner().invoke(cli, ["drift", records[40]["id"], "--archive", str(arc.path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["path"][-1]["id"] == records[40]["id"]


def test_cli_bleed_and_decay(analysed):
    res = CliRunner().invoke(cli, ["bleed", "--archive", analysed, "--json", "--limit", "3"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert 0 <= out["bleed_rate"] <= 1 and len(out["trees"]) <= 3 and out["homogenisation"]
    res = CliRunner().invoke(cli, ["decay", "--archive", analysed, "--json"])
    assert res.exit_code == 0, res.output
    measures = {m["measure"]: m for m in json.loads(res.output)["measures"]}
    hl = measures["generational_half_life"]
    assert hl["low"] <= hl["value"] <= hl["high"]
    for cmd in ("bleed", "decay"):
        res = CliRunner().invoke(cli, [cmd, "--archive", analysed])
        assert res.exit_code == 0 and res.output.strip()


def test_cli_errors_are_one_line(tmp_path, analysed):
    res = CliRunner().invoke(cli, ["drift", "no:such", "--archive", analysed])
    assert res.exit_code == 1 and "no post 'no:such'" in res.output
    Archive.open(tmp_path / "fresh", create=True)
    for cmd in ("bleed", "decay"):
        res = CliRunner().invoke(cli, [cmd, "--archive", str(tmp_path / "fresh")])
        assert res.exit_code == 1 and "run `archivist analyze` first" in res.output
        assert len(res.output.strip().splitlines()) == 1


class _Bag:
    """A toy sentence embedding: counts of a few words (stands in for a local model)."""

    def encode(self, texts, **kw):
        import numpy as np

        return np.array([[t.lower().count(w) + 1e-9 for w in ("fox", "cat", "owl", "noir")] for t in texts])


def test_semantic_drift_is_optional(tmp_path, records):
    from lineage.drift import semantic_drift

    arc = Archive.open(tmp_path / "a", create=True)
    ingest_records(arc, records[:80], source="simulate")
    analyze(arc, n_boot=5)
    assert "semantic" not in load_results(arc, "edges").columns  # everything works without a model
    analyze(arc, n_boot=5, embedder=_Bag())
    sem = load_results(arc, "edges").get_column("semantic")
    assert sem.drop_nulls().len() > 0 and sem.drop_nulls().is_between(-1e-9, 2.0).all()
    nodes = pl.DataFrame({"id": ["p"], "text": ["x"]})
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(LineageError, match="pip install 'remix-archivist\\[semantic\\]'"):
            semantic_drift(nodes, pl.DataFrame({"child": ["p"], "parent": ["p"]}), model="all-MiniLM-L6-v2")


def test_cli_drift_under_a_placeholder_root(tmp_path):
    arc = Archive.open(tmp_path / "a", create=True)
    ingest_records(arc, [
        {"id": "p:1", "source": "p", "created_at": "2026-01-02T00:00:00Z", "prompt": "a red fox, vhs",
         "parents": [{"id": "p:gone"}]},
        {"id": "p:2", "source": "p", "created_at": "2026-01-03T00:00:00Z", "prompt": "a red cat, vhs",
         "parents": [{"id": "p:1"}]},
    ], source="p")
    res = CliRunner().invoke(cli, ["drift", "p:2", "--archive", str(arc.path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    # the missing root has no words: drift and retention are measured from p:1, its first real descendant
    assert out["root"] == "p:gone" and out["retention"] == 0.75
    assert [r["root_drift"] for r in out["path"]] == [None, 0.0, pytest.approx(2 / 5)]


def test_analysis_streams_per_root_bucket_and_the_buckets_do_not_change_the_tables(tmp_path, records, monkeypatch):
    """Each bucket's per-tree tables go to disk as it finishes; one bucket or many, the same tables."""
    import lineage.analyze as an
    from archive import tempfiles

    arc = Archive.open(tmp_path / "a", create=True)
    ingest_records(arc, records, source="simulate")
    analyze(arc, force=True, n_boot=10, buckets=1)
    one = {t: load_results(arc, t) for t in ("nodes", "edges", "blame", "styles", "style_labels", "trees", "decay")}
    spilled: list[int] = []
    real_spill = an._spill

    def counting(res, folder, k):
        assert folder.parent == arc.path and folder.name.startswith(".analyze-")
        spilled.append(res["nodes"].height)
        return real_spill(res, folder, k)

    monkeypatch.setattr(an, "_spill", counting)
    monkeypatch.setattr(an, "BUCKET_NODES", 60)  # small buckets: many of them, never more than one held
    out = analyze(arc, force=True, n_boot=10, buckets=1)
    # 600 nodes, about 60 a bucket: ten buckets by root hash (a hash may leave one empty), each of whole trees
    assert 5 <= len(spilled) <= 10 and sum(spilled) == arc.lineage().height and max(spilled) < 300
    assert out["edges"] == one["edges"].height
    keys = {"nodes": ["id"], "edges": ["child", "parent"], "blame": ["id", "ancestor"], "styles": ["id", "term"],
            "style_labels": ["id", "term"], "trees": ["root"], "decay": ["measure"]}
    for t, key in keys.items():
        got = load_results(arc, t)
        assert_frame_equal(one[t].sort(key), got.sort(key))
    # the nodes table is still written in (root, depth, id) order, and nothing is left in the archive folder
    nodes = load_results(arc, "nodes")
    assert_frame_equal(nodes, nodes.sort(["root", "depth", "id"]))
    assert not list(arc.path.glob(".analyze-*"))
    # what a killed analysis leaves behind is swept by the next writer
    dead = arc.path / ".analyze-999999999-1-0a1b"
    (dead / "x").mkdir(parents=True)
    assert dead in arc.sweep_leftovers() and not dead.exists()
    mine = arc.path / tempfiles.temp_name(".analyze-")
    mine.mkdir()
    assert mine not in arc.sweep_leftovers() and mine.exists()
