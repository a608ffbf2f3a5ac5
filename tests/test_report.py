"""The critic's drift report: its figures agree with the measures, every format renders, nothing is run as HTML."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from archive.ingest import ingest_records
from archive.snapshot import snapshot
from archive.store import Archive
from dashboard.cli import cli
from lineage.analyze import analyze, analyze_tree
from lineage.report import report_data, to_csv, to_html, to_markdown, to_pdf

EVIL = "<script>alert('x')</script> **bold** [link](http://evil) | pipe =cmd"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory, sample_store: Path) -> Archive:
    dst = tmp_path_factory.mktemp("analysed") / "archive"
    shutil.copytree(sample_store, dst)
    arc = Archive.open(dst)
    analyze(arc)
    return arc


@pytest.fixture(scope="module")
def plain(sample_store: Path) -> Archive:
    return Archive.open(sample_store, read_only=True)


@pytest.fixture()
def evil(empty_store: Archive) -> Archive:
    ingest_records(empty_store, [
        {"id": "e:1", "source": "e", "created_at": "2026-01-01T00:00:00Z", "prompt": "a quiet lake at dawn, watercolor"},
        {"id": "e:2", "source": "e", "created_at": "2026-01-02T00:00:00Z", "prompt": EVIL, "parents": ["e:1"]},
        {"id": "e:3", "source": "e", "created_at": "2026-01-03T00:00:00Z", "prompt": "a quiet lake at night, noir",
         "parents": ["e:2"]}])
    return empty_store


def _root(arc: Archive) -> str:
    return arc.trees().get_column("root")[2]  # an English tree of the sample (132 posts)


def test_figures_agree_with_the_measures(plain: Archive):
    root = _root(plain)
    d = report_data(plain, root)
    tree = plain.tree(root)
    cols = ["id", "parent", "root", "depth", "created_at", "text", "style_tags", "placeholder"]
    measured = analyze_tree(tree.nodes.select(cols))
    assert d.facts["posts"] == tree.nodes.height and d.facts["generations"] == tree.nodes.get_column("depth").max()
    drift = d.mutations.get_column("drift").to_list()
    assert drift == sorted(drift, reverse=True) and len(drift) == 10
    top = measured["edges"].filter(pl.col("primary")).get_column("drift").max()
    assert drift[0] == pytest.approx(top)
    # blame: each leaf's shares add up to one, and its ancestors are on its path
    for (leaf,), grp in d.blame.group_by(["id"]):
        assert grp.get_column("share").sum() == pytest.approx(1.0)
        path = set(plain.lineage_path(leaf).get_column("id").to_list())
        assert set(grp.get_column("ancestor").to_list()) <= path
    assert f"{d.facts['posts']} posts over {d.facts['generations']} generations" in d.sentences[0]
    assert any("halves every" in s for s in d.sentences)
    assert any("bleed labels" in m for m in d.missing)  # never analysed: said plainly
    assert d.styles.height and d.styles.get_column("label").null_count() == d.styles.height


def test_stored_measures_are_used_and_match(analysed: Archive, plain: Archive):
    root = _root(plain)
    stored, fresh = report_data(analysed, root), report_data(plain, root)
    assert stored.missing == []
    assert set(stored.styles.get_column("label").drop_nulls().unique().to_list()) <= {"bled", "novel", "reused"}
    assert stored.styles.get_column("label").null_count() == 0
    a = stored.nodes.select("id", "root_drift", "edge_drift", "retention").sort("id")
    b = fresh.nodes.select("id", "root_drift", "edge_drift", "retention").sort("id")
    assert a.equals(b)
    assert stored.sentences[:4] == fresh.sentences[:4]


def test_markdown_and_html_show_prompts_as_text(evil: Archive):
    d = report_data(evil, "e:3")
    md = to_markdown(d)
    assert "<script>" not in md and "&lt;script>" in md and "<" not in md.replace("&lt;", "")
    assert "\\*\\*bold\\*\\*" in md and "\\[link\\](http://evil)" in md
    page = to_html(d)
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert page.count("<script") == 3  # plotly.js, and one per figure: nothing else runs
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?https?:", page)  # works offline
    assert 'id="fig-tree"' in page and 'id="fig-fidelity"' in page



def test_too_small_for_a_curve_says_so(empty_store: Archive):
    ingest_records(empty_store, [
        {"id": "e:1", "source": "e", "created_at": "2026-01-01T00:00:00Z", "prompt": "a b"},
        {"id": "e:2", "source": "e", "created_at": "2026-01-02T00:00:00Z", "prompt": "a c", "parents": ["e:1"]}])
    d = report_data(empty_store, "e:2")
    assert d.missing == ["the fidelity curve: fewer than three generations with measured drift",
                         "the branching fit m0·γ^g: fewer than three generations: two parameters meet every point, "
                         "the fit tells nothing"]
    assert "fidelity" not in d.decay and not any("halves" in s for s in d.sentences)
    assert "fewer than three generations" in to_markdown(d)


def test_csv_one_row_per_post_neutralised(evil: Archive):
    rows = list(csv.DictReader(io.StringIO(to_csv(report_data(evil, "e:1")).decode())))
    assert [r["id"] for r in rows] == ["e:1", "e:2", "e:3"]
    assert rows[1]["text"] == EVIL and float(rows[2]["root_drift"]) > 0
    cells = [v for r in rows for v in r.values()]
    assert not any(v[:1] in ("=", "+", "@") for v in cells)


def test_pdf_renders_pages(plain: Archive, tmp_path: Path):
    pdf = to_pdf(report_data(plain, _root(plain)))
    assert pdf.startswith(b"%PDF-")
    (tmp_path / "r.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(tmp_path / "r.pdf"), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 4 and all(p.stat().st_size > 2000 for p in pages)
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True).stdout
    assert "The largest mutations" in text and "Who wrote the leaves" in text and "generational half-life" in text


def test_archive_report(analysed: Archive, plain: Archive):
    d = report_data(plain)
    assert d.scope == "archive" and "never analysed" in d.missing[0]
    assert d.mutations.height == 0 and d.trees.height == plain.trees().height
    d = report_data(analysed)
    lin = analysed.lineage()
    flagged = lin.filter((pl.col("placeholder") & (pl.col("depth") == 0)) | pl.col("in_cycle"))["root"].n_unique()
    assert flagged == 2  # the sample's messy records: a parent never archived, a cycle
    assert d.missing == [f"{flagged} tree(s) hang from a source post that is not in the archive or had a cycle in "
                         "their declared links cut; the figures include them"] and d.mutations.height == 10
    assert any("halves every" in s for s in d.sentences) and any("borrowed" in s for s in d.sentences)
    md = to_markdown(d)
    assert "## The trees" in md and "generational half-life (generations)" in md
    # the decay table's measures by name, not by key ("fidelity F inf", "branching lr flat")
    assert "long-run fidelity F∞" in md and "likelihood ratio against a flat rate" in md and "lr flat" not in md


def test_redacted_post_in_report(evil: Archive):
    from archive.redact import redact

    redact(evil, "e:2", reason="consent revoked")
    d = report_data(evil, "e:3")
    assert any("redacted" in s for s in d.sentences)
    assert "alert" not in to_markdown(d) and "alert" not in to_html(d)


def test_snapshot_carries_the_report(plain: Archive, tmp_path: Path):
    from lineage.report import snapshot_report

    root = _root(plain)
    bag = snapshot(plain, root, out=tmp_path, report=snapshot_report)
    names = sorted(p.name for p in (bag / "data" / "report").iterdir())
    assert names == ["drift-report.csv", "drift-report.html", "drift-report.md"]
    md = (bag / "data" / "report" / "drift-report.md").read_text("utf-8")
    assert md.startswith("# How “") and "Generated" not in md  # no time inside the payload
    info = (bag / "bag-info.txt").read_text("utf-8")
    assert "Remix-Drift-Report: full report" in info


def test_cli_report(analysed: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    r = CliRunner()
    root = _root(analysed)
    res = r.invoke(cli, ["report", root, "--format", "md", "-o", "-", "--archive", str(analysed.path)])
    assert res.exit_code == 0 and res.output.startswith("# How “")
    monkeypatch.chdir(tmp_path)
    res = r.invoke(cli, ["report", root, "--archive", str(analysed.path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    page = Path(out["out"]).read_text("utf-8")
    assert out["out"].endswith(".html") and out["missing"] == [] and "Generated 20" in page
    res = r.invoke(cli, ["report", "nope:1", "--archive", str(analysed.path)])
    assert res.exit_code == 1 and res.output.startswith("Error: no post 'nope:1'")
    res = r.invoke(cli, ["report", root, "--format", "pdf", "-o", "-", "--archive", str(analysed.path)])
    assert res.exit_code == 2
