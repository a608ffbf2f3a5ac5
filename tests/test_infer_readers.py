"""Measures and reports over inferred links: ``analyze --edges all`` and ``report --edges all``.

The analysis of declared links is never overwritten by one holding guesses; stored results say
which edge set and which ``inferred_edges`` version they were computed on; every report built on
inferred links says so ("includes N inferred links, confidence >= X").
"""
from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import lineage.infer as I
from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive
from lineage.analyze import TABLES, analyze, load_results
from lineage.errors import LineageError
from lineage.report import render, report_data
from lineage.report.figures import _figures
from lineage.stale import analysis_state


def _hidden_links_archive(path: Path, *, seed: int = 21, posts: int = 400) -> tuple[Archive, dict[str, str]]:
    """A simulated archive where every other post lost its declared link; returns it and the hidden truth."""
    recs = simulate(SimParams(seed=seed, posts=posts))[0]
    hidden = {}
    kept = []
    for k, r in enumerate(recs):
        if k % 2 == 0 and r.get("parents"):
            hidden[r["id"]] = r["parents"][0]["id"]
            r = {kk: v for kk, v in r.items() if kk != "parents"}
        kept.append(r)
    a = Archive.open(path, create=True)
    ingest_records(a, kept, source="simulate")
    return a, hidden


@pytest.fixture(scope="module")
def inferred(tmp_path_factory) -> tuple[Archive, dict[str, str]]:
    a, hidden = _hidden_links_archive(tmp_path_factory.mktemp("readers") / "a")
    I.infer(a)
    return a, hidden


def test_analyze_edges_all_measures_the_inferred_trees_and_leaves_the_declared_analysis_alone(inferred, tmp_path):
    a, hidden = inferred
    analyze(a, n_boot=10)
    declared = {t: load_results(a, t) for t in TABLES if t != "runs"}
    versions = {t: a.table_version("analysis_" + t) for t in TABLES}
    out = analyze(a, n_boot=10, edges="all")
    table = I.inferred_edges(a)
    assert table.height > 50 and out["edge_set"] == "all"
    # the declared tables were not written, and their content is what it was
    assert {t: a.table_version("analysis_" + t) for t in TABLES} == versions
    for t, frame in declared.items():
        assert_frame_equal(load_results(a, t), frame)
    # the "all" trees hold every inferred link as a primary parent (none of these children declares one)
    nodes_all = load_results(a, "nodes", edges="all")
    pairs_all = set(nodes_all.drop_nulls("parent").select("id", "parent").iter_rows())
    inferred_pairs = set(table.select("child", "parent").iter_rows())
    assert inferred_pairs <= pairs_all
    # ... and the declared analysis holds none of them
    pairs_declared = set(declared["nodes"].drop_nulls("parent").select("id", "parent").iter_rows())
    assert not inferred_pairs & pairs_declared
    assert not set(hidden) & {c for c, _ in pairs_declared}  # a hidden link is not in the declared graph
    # fewer, bigger trees: each inferred link joins a root to an earlier tree
    n_all = load_results(a, "trees", edges="all").height
    n_declared = declared["trees"].height
    assert n_all == a.trees(edges="all").height == n_declared - len(inferred_pairs)
    # the edge table of the "all" analysis has a drift row for each inferred link
    edges_all = load_results(a, "edges", edges="all").filter(pl.col("primary"))
    assert inferred_pairs <= set(edges_all.select("child", "parent").iter_rows())
    # the run says what it read: the edge set, the inferred_edges version, how many links and how sure
    run = load_results(a, "runs", edges="all").sort("at").row(-1, named=True)
    assert run["edges"] == "all" and run["inferred_version"] == a.table_version("inferred_edges")
    assert run["inferred_links"] == table.height == out["inferred_links"]
    assert run["min_confidence"] == pytest.approx(table["confidence"].min())
    # unchanged store and inferred links: nothing to do
    assert analyze(a, n_boot=10, edges="all")["up_to_date"] is True


def test_staleness_knows_the_edge_set_and_the_inferred_version(tmp_path):
    a, _ = _hidden_links_archive(tmp_path / "a", seed=22, posts=200)
    I.infer(a)
    assert analysis_state(a, edges="all").note() == ("The archive was never analysed with inferred links: "
                                                     "run `archivist analyze --edges all`.")
    analyze(a, n_boot=5)
    assert analysis_state(a).current and not analysis_state(a, edges="all").current
    analyze(a, n_boot=5, edges="all")
    s = analysis_state(a, edges="all")
    assert s.current and s.recompute == "nothing" and s.edges == "all"
    assert s.inferred_note().startswith(f"includes {I.inferred_edges(a).height} inferred links, confidence >= ")
    before = a.table_version("inferred_edges")
    I.infer(a, full=True)  # a new inference run: a new inferred_edges version, the store itself did not move
    s = analysis_state(a, edges="all")
    assert not s.current and s.analysed_inferred_version == before
    assert s.inferred_version == a.table_version("inferred_edges") > before
    assert "`archivist infer` has run since" in s.note() and "--edges all" in s.note()
    assert analysis_state(a).current  # the declared analysis read no inferred link: still current
    assert analyze(a, n_boot=5, edges="all")["up_to_date"] is False
    assert analysis_state(a, edges="all").current
    # a tree of the "all" graph is checked on that graph
    child = I.inferred_edges(a)["child"][0]
    assert analysis_state(a, root=child, edges="all").tree_current is True


def test_readers_of_an_analysis_never_made_say_what_to_run(tmp_path):
    from dashboard.cli import cli as main

    a, _ = _hidden_links_archive(tmp_path / "a", seed=24, posts=60)
    analyze(a, n_boot=5)
    out = CliRunner().invoke(main, ["decay", "--edges", "all", "--archive", str(a.path)])
    assert out.exit_code == 1 and "run `archivist analyze --edges all` first" in out.output


def test_unknown_edge_set_is_refused(tmp_path):
    a = Archive.open(tmp_path / "a", create=True)
    with pytest.raises(LineageError, match="edges must be one of declared, all, not 'guessed'"):
        analyze(a, edges="guessed")
    with pytest.raises(LineageError, match="edges must be one of declared, all"):
        load_results(a, "nodes", edges="guessed")
    with pytest.raises(LineageError, match="run `archivist analyze --edges all` first"):
        load_results(a, "nodes", edges="all")


def test_reports_built_on_inferred_links_say_so(inferred, tmp_path):
    a, _ = inferred
    table = I.inferred_edges(a)
    child = table.sort("confidence", descending=True)["child"][0]
    tree = a.tree(child, edges="all")
    inf = tree.edges.filter(pl.col("evidence") == "inferred")
    low = math.floor(inf["confidence"].min() * 100) / 100
    note = f"includes {inf.height} inferred link{'s' if inf.height != 1 else ''}, confidence >= {low:.2f}"
    d = report_data(a, child, edges="all")
    assert d.inferred == note and "partly inferred" in d.title and note in d.sentences[0]
    marked = d.nodes.filter(pl.col("parent_evidence") == "inferred").select("id", "parent")
    assert set(marked.iter_rows()) == set(inf.select("child", "parent").iter_rows())
    assert escape(note) in render(d, "html").decode()
    fig = _figures(d)["tree"]
    dashed = [t for t in fig["data"] if t.get("name") == "inferred link"]
    assert len(dashed) == 1 and dashed[0]["line"]["dash"] == "dash"
    assert len(dashed[0]["x"]) == 3 * inf.height  # one dashed segment (parent, child, gap) per inferred link
    assert escape(note) in fig["layout"]["title"]["text"]
    md = render(d, "md").decode()
    assert "inferred link, confidence" in md and note in md  # ">=" as written, not "&gt;=" (raw Markdown is read)
    assert "reconstructed by archivist infer from the content" in md
    csv = render(d, "csv").decode().splitlines()
    assert csv[0].split(",")[2:4] == ["parent_evidence", "parent_confidence"]
    assert sum(",inferred," in line for line in csv[1:]) == inf.height
    # the same tree on declared links: no word of inference, no dashed line
    plain = report_data(a, child)
    assert plain.inferred is None and "inferred" not in render(plain, "md").decode()
    assert plain.nodes.height < d.nodes.height


def test_cli_analyze_and_report_take_edges(inferred, tmp_path):
    from dashboard.cli import cli as main

    a, _ = inferred
    arc = str(a.path)
    run = CliRunner().invoke
    table = I.inferred_edges(a)
    assert run(main, ["analyze", "--json", "--archive", arc]).exit_code == 0  # declared links (maybe up to date)
    out = run(main, ["analyze", "--edges", "all", "--force", "--json", "--archive", arc])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert got["edge_set"] == "all" and got["inferred_links"] == table.height
    assert got["trees"] == a.trees(edges="all").height
    said = f"includes {table.height:,} inferred links, confidence >= "
    out = run(main, ["analyze", "--edges", "all", "--archive", arc])  # up to date: says so, and what it holds
    assert out.exit_code == 0 and said in " ".join(out.output.split()) and "up to date" in out.output
    out = run(main, ["analyze", "--edges", "all", "--force", "--archive", arc], terminal_width=200)
    assert out.exit_code == 0 and said in " ".join(out.output.split()) and "with inferred links" in out.output
    out = run(main, ["report", "--edges", "all", "--format", "md", "-o", "-", "--archive", arc])
    assert out.exit_code == 0, out.output
    assert "partly inferred" in out.output and f"includes {table.height} inferred links" in out.output
    out = run(main, ["report", "--format", "md", "-o", "-", "--archive", arc])
    assert out.exit_code == 0 and "inferred" not in out.output
    target = tmp_path / "r.html"
    child = table["child"][0]
    out = run(main, ["report", child, "--edges", "all", "-o", str(target), "--json", "--archive", arc])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["inferred"].startswith("includes ")
    # the readers of the stored analysis read the same edge set, and say what it holds
    for cmd in ("decay", "bleed"):
        got = json.loads(run(main, [cmd, "--edges", "all", "--json", "--archive", arc]).stdout)
        assert got["inferred"] == f"includes {table.height} inferred links, confidence >= " + \
            f"{math.floor(table['confidence'].min() * 100) / 100:.2f}"
        assert json.loads(run(main, [cmd, "--json", "--archive", arc]).output)["inferred"] is None
    decay_all = json.loads(run(main, ["decay", "--edges", "all", "--json", "--archive", arc]).stdout)["measures"]
    assert decay_all == load_results(a, "decay", edges="all").to_dicts()
    deep = load_results(a, "nodes", edges="all").filter(pl.col("depth") >= 2).sort("id")["id"][0]
    got = json.loads(run(main, ["drift", deep, "--edges", "all", "--json", "--archive", arc]).output)
    on_path = a.lineage_path(deep, edges="all")["id"].to_list()
    assert [p["id"] for p in got["path"]] == on_path
    assert {e["child"] for e in got["inferred_links"]} == set(table["child"]) & set(on_path)
    out = run(main, ["analyze", "--edges", "all", "--engine", "spark", "--archive", arc])
    assert out.exit_code == 2 and "--edges all runs on the local engine only" in out.output
    out = run(main, ["analyze", "--edges", "some", "--archive", arc])
    assert out.exit_code == 2 and "'some' is not one of 'declared', 'all'" in out.output


def test_exports_and_snapshots_with_inferred_links_carry_the_drift_of_that_graph(tmp_path):
    """Drift measured on declared links is of another tree once inferred links join them: it is not exported."""
    from dashboard.cli import cli as main

    a, _ = _hidden_links_archive(tmp_path / "a", seed=23, posts=200)
    I.infer(a)
    arc = str(a.path)
    run = CliRunner().invoke
    child = I.inferred_edges(a).sort("confidence", descending=True)["child"][0]
    analyze(a, n_boot=5)  # declared only: the child is a root there, with root drift 0

    def exported() -> pl.DataFrame:
        out = run(main, ["export", "--format", "csv", "--root", child, "--edges", "all", "-o", "-", "--archive", arc])
        assert out.exit_code == 0, out.output
        return pl.read_csv(out.output.encode(), infer_schema_length=0)

    assert "root_drift" not in exported().columns  # no analysis of this graph: no drift, rather than a wrong one
    analyze(a, n_boot=5, edges="all")
    got = exported().filter(pl.col("id") == child).row(0, named=True)
    want = load_results(a, "nodes", edges="all").filter(pl.col("id") == child).row(0, named=True)
    assert int(got["depth"]) == want["depth"] >= 1
    assert float(got["edge_drift"]) == pytest.approx(want["edge_drift"])
    assert float(got["root_drift"]) == pytest.approx(want["root_drift"])
    out = run(main, ["snapshot", child, "--edges", "all", "-o", str(tmp_path / "bag"), "--json", "--archive", arc])
    assert out.exit_code == 0, out.output
    bag = Path(json.loads(out.output)["bag"])
    md = (bag / "data" / "report" / "drift-report.md").read_text()
    assert "partly inferred" in md and "inferred link, confidence" in md
    I.infer(a, full=True)  # the inferred links moved: the stored drift of that graph is no longer exported
    assert "root_drift" not in exported().columns
