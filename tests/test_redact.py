"""Redaction: the content is gone from every file of the store, the lineage stays, the ledger says why."""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from archive.errors import NotFoundError, StoreError
from archive.ingest import ingest_lines, ingest_records
from archive.redact import redact, redactions
from archive.snapshot import snapshot
from archive.store import Archive
from dashboard.cli import cli

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
TARGET = "simulate:s42_0000098"  # a root, observed twice (sample and messy), with 100 descendants


def _files_holding(root: Path, needle: str) -> list[str]:
    """Every file under ``root`` (snapshots aside) whose decoded content holds ``needle``."""
    hits = []
    for f in root.rglob("*"):
        if not f.is_file() or "snapshots" in f.relative_to(root).parts:
            continue
        if f.suffix == ".parquet":
            text = json.dumps(pq.read_table(f).to_pylist(), default=str, ensure_ascii=False)
        else:
            text = f.read_bytes().decode("utf-8", "replace")
        if needle in text:
            hits.append(str(f.relative_to(root)))
    return hits


PROBE = "a léopard des neiges qui tricote, sonde-unique-7f3a"
PROBE_AUTHOR = "@probe_author_7f3a"


@pytest.fixture()
def arc(sample_copy: Path) -> Archive:
    a = Archive.open(sample_copy)
    line = next(x for x in gzip.open(SAMPLE / "remixes.jsonl.gz") if TARGET.encode() in x)
    later = {**json.loads(line), "prompt": PROBE, "author": PROBE_AUTHOR, "fetched_at": "2026-09-01T00:00:00Z"}
    ingest_records(a, [later])  # a third observation, with text found nowhere else
    a.posts()  # fill the _views/ cache, which holds prompts too
    return a


def test_content_gone_from_every_file_lineage_kept(arc: Archive):
    post = arc.posts().filter(pl.col("id") == TARGET).row(0, named=True)
    prompt, author = post["prompt"], post["author"]
    assert (prompt, author) == (PROBE, PROBE_AUTHOR)
    assert "records" in " ".join(_files_holding(arc.path, prompt))      # the probe finds it before
    assert any(p.startswith("_views") for p in _files_holding(arc.path, prompt))
    children_before = arc.descendants(TARGET).get_column("id").to_list()
    version_before = arc.version()

    r = redact(arc, TARGET, reason="consent revoked")

    assert _files_holding(arc.path, prompt) == []
    assert _files_holding(arc.path, author) == []
    assert not (arc.path / "_views").exists() or _files_holding(arc.path / "_views", prompt) == []
    node = arc.posts().filter(pl.col("id") == TARGET).row(0, named=True)
    assert node["redacted"] and node["prompt"] is None and node["author"] is None and node["text"] == ""
    assert node["source"] == "simulate" and node["created_at"] == post["created_at"]
    assert arc.descendants(TARGET).get_column("id").to_list() == children_before
    assert arc.root_of(children_before[0]) == TARGET
    recs = arc.records().filter(pl.col("id") == TARGET)
    assert recs.height == 3
    for raw in recs.get_column("record").to_list():
        rec = json.loads(raw)
        assert set(rec) <= {"id", "source", "created_at", "fetched_at", "parents", "metrics", "license",
                            "consent", "extra"} and rec["extra"] == {"redacted": True}
    assert (r.rows, r.store_version_before) == (3, version_before)
    assert r.store_version_after > version_before == 2
    ledger = redactions(arc).row(0, named=True)
    assert ledger["id"] == TARGET and ledger["reason"] == "consent revoked"
    assert {"prompt", "author", "media"} <= set(ledger["fields_removed"])
    assert (ledger["store_version_before"], ledger["store_version_after"]) == (version_before, r.store_version_after)


def test_old_versions_cannot_be_read_back(arc: Archive):
    redact(arc, TARGET, reason="takedown")
    with pytest.raises(Exception):  # noqa: B017  (deltalake's own error: the version's log is gone)
        pl.read_delta(str(arc.table_path("records")), version=0)
    assert arc.history().height == 1  # only the current version remains


def test_reingesting_the_same_record_does_not_bring_it_back(arc: Archive):
    redact(arc, TARGET, reason="consent revoked")
    line = next(x for x in gzip.open(SAMPLE / "remixes.jsonl.gz") if TARGET.encode() in x)
    assert ingest_lines(arc, [line]).unchanged == 1
    assert arc.posts().filter(pl.col("id") == TARGET).get_column("prompt").to_list() == [None]


def test_quarantine_and_analysis_tables_purged(empty_store: Archive):
    a = empty_store
    ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "secret sauce"},
                       {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "remix",
                        "parents": ["t:1"]}])
    ingest_lines(a, ['{"id": "t:1", "prompt": "secret sauce", "created_at": "broken"}'])
    a.write_table("edge_drift", pl.DataFrame({"child": ["t:2"], "parent": ["t:1"], "removed": [["secret sauce"]]}))
    a.write_table("edge_drift", pl.DataFrame({"child": ["t:2"], "parent": ["t:1"], "removed": [["secret sauce"]]}))
    assert len(_files_holding(a.path, "secret sauce")) >= 3
    r = redact(a, "t:1", reason="takedown")
    assert set(r.tables_purged) == {"records", "quarantine", "edge_drift"}
    assert _files_holding(a.path, "secret sauce") == []
    assert a.quarantine().height == 0 and a.read_table("edge_drift").height == 0
    assert a.posts().filter(pl.col("id") == "t:2").get_column("prompt").to_list() == ["remix"]


def test_snapshots_taken_before_are_listed(arc: Archive):
    before = snapshot(arc, TARGET, now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    other = snapshot(arc, "messy:orphan", now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(StoreError, match=r"^1 snapshot bag\(s\) inside the archive hold .*--purge-snapshots"):
        redact(arc, TARGET, reason="consent revoked", now=datetime(2026, 2, 1, tzinfo=timezone.utc))
    assert arc.posts().filter(pl.col("id") == TARGET).get_column("redacted").to_list() == [False]  # refused: nothing done
    r = redact(arc, TARGET, reason="consent revoked", now=datetime(2026, 2, 1, tzinfo=timezone.utc), snapshots="keep")
    assert r.affected_snapshots == [str(before)] and str(other) not in r.affected_snapshots
    after = snapshot(arc, TARGET, now=datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert PROBE not in (after / "data" / "records.jsonl").read_text("utf-8")
    assert PROBE in (before / "data" / "records.jsonl").read_text("utf-8")
    rec = next(json.loads(x) for x in (after / "data" / "records.jsonl").read_text("utf-8").splitlines()
               if json.loads(x)["id"] == TARGET)
    assert "prompt" not in rec and "author" not in rec


def test_errors_and_idempotence(arc: Archive):
    with pytest.raises(NotFoundError, match="no record of 'nope:1'"):
        redact(arc, "nope:1", reason="x")
    with pytest.raises(StoreError, match="needs a reason"):
        redact(arc, TARGET, reason="  ")
    first = redact(arc, TARGET, reason="consent revoked")
    v = arc.version()
    again = redact(arc, TARGET, reason="asked twice")
    assert again.redacted_at == first.redacted_at and arc.version() == v and redactions(arc).height == 1
    assert again.already_redacted and not first.already_redacted and again.reason == "consent revoked"
    # the command says nothing was done, not "redacted … store version 2 -> 5" from the old entry
    out = CliRunner().invoke(cli, ["redact", TARGET, "--reason", "again", "--yes", "--keep-snapshots",
                                   "--archive", str(arc.path)]).output
    assert f"{TARGET} was already redacted on" in out and "(reason: consent revoked): nothing changed" in " ".join(out.split())
    with pytest.raises(StoreError, match="read-only"):
        redact(Archive.open(arc.path, read_only=True), "messy:orphan", reason="x")


def test_cli_redact(arc: Archive):
    sample_copy = arc.path
    r = CliRunner()
    res = r.invoke(cli, ["redact", TARGET, "--reason", "consent revoked", "--archive", str(sample_copy)], input="n\n")
    assert res.exit_code == 1 and Archive.open(sample_copy).posts().filter(pl.col("redacted")).height == 0
    res = r.invoke(cli, ["redact", TARGET, "--reason", "consent revoked", "--archive", str(sample_copy), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["rows"] == 3
    res = r.invoke(cli, ["redact", "nope:1", "--reason", "x", "--archive", str(sample_copy), "--yes"])
    assert res.exit_code == 1 and res.output.startswith("Error: no record of 'nope:1'")
    res = r.invoke(cli, ["redact", TARGET, "--archive", str(sample_copy), "--yes"])
    assert res.exit_code == 2 and "--reason" in res.output


def test_a_restored_redaction_stays_redacted(arc: Archive, tmp_path: Path):
    from archive.snapshot import restore

    redact(arc, TARGET, reason="consent revoked")
    bag = snapshot(arc, TARGET, out=tmp_path / "bags")
    other = Archive.open(tmp_path / "other", create=True)
    restore(bag, other)
    assert other.posts().filter(pl.col("redacted")).get_column("id").to_list() == [TARGET]
    again = snapshot(other, TARGET, out=tmp_path / "again")
    assert (again / "manifest-sha256.txt").read_text() == (bag / "manifest-sha256.txt").read_text()


def test_analysis_tables_forget_the_text_too(arc: Archive):
    from lineage.analyze import analyze, load_results

    analyze(arc)
    assert any(p.startswith("analysis_") for p in _files_holding(arc.path, PROBE))  # root_text, tokens…
    r = redact(arc, TARGET, reason="takedown")
    assert {"analysis_nodes", "analysis_trees", "analysis_edges"} <= set(r.tables_purged)
    assert _files_holding(arc.path, PROBE) == []
    analyze(arc)  # the tree is measured again, on what is left
    row = load_results(arc, "trees").filter(pl.col("root") == TARGET)
    assert row.height == 1 and row.get_column("root_text").to_list() in ([""], [None])


def test_a_later_crawl_cannot_bring_redacted_content_back(tmp_path):
    """The platform still serves the post (or serves it changed): its content stays out of the store."""
    import json as _json

    from archive.ingest import ingest_records
    from archive.redact import redact
    from archive.store import Archive

    a = Archive.open(tmp_path / "arc", create=True)
    rec = {"id": "t:cameo", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "my face, my rules",
           "author": "@owner", "metrics": {"views": 5}, "fetched_at": "2026-01-02T00:00:00Z"}
    child = {"id": "t:child", "source": "t", "created_at": "2026-01-03T00:00:00Z", "prompt": "remix",
             "parents": ["t:cameo"]}
    ingest_records(a, [rec, child])
    redact(a, "t:cameo", reason="consent revoked")
    again = dict(rec, prompt="my face, my rules, edited", metrics={"views": 50}, fetched_at="2026-02-01T00:00:00Z")
    res = ingest_records(a, [rec, again])
    assert res.reconciles and res.quarantined == 0
    rows = a.records().filter(pl.col("id") == "t:cameo")
    assert rows.get_column("redacted").all()
    assert rows.get_column("prompt").null_count() == rows.height
    assert all("my face" not in r for r in rows.get_column("record").to_list())
    post = a.posts().filter(pl.col("id") == "t:cameo").row(0, named=True)
    assert post["views"] == 50 and post["prompt"] is None and post["redacted"]  # engagement still tracked
    assert _json.loads(rows.sort("fetched_at").get_column("record")[-1])["extra"] == {"redacted": True}
    assert a.lineage().filter(pl.col("id") == "t:child").get_column("parent")[0] == "t:cameo"


def test_purge_snapshots_deletes_the_bags_holding_the_post(arc: Archive):
    before = snapshot(arc, TARGET, now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    other = snapshot(arc, "messy:orphan", now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    r = redact(arc, TARGET, reason="takedown", now=datetime(2026, 2, 1, tzinfo=timezone.utc), snapshots="purge")
    assert not before.exists() and other.exists() and r.affected_snapshots == []
    assert [f for f in arc.path.rglob("*") if f.is_file() and PROBE.encode() in f.read_bytes()] == []
