"""Ingest: every kind of bad input is handled, counted and kept; re-ingesting changes nothing."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from archive.errors import SourceError
from archive.ingest import Bad, ingest, ingest_lines, ingest_records
from archive.sources.jsonl import JsonlSource
from archive.store import Archive

T0 = "2026-04-01T10:00:00Z"


def rec(i: str, **kw):
    r = {"id": f"t:{i}", "source": "t", "created_at": T0, "prompt": f"prompt {i}"}
    r.update(kw)
    return r


def lines(*records) -> list[bytes]:
    return [r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode() for r in records]


def test_counts_reconcile_and_quarantine_keeps_raw_text_and_every_reason(empty_store: Archive):
    bad = {"id": 7, "source": "", "created_at": "soon", "parents": [{"id": "t:1", "relation": "stole"}],
           "metrics": {"views": -3}, "title": ["x"]}
    res = ingest_lines(empty_store, lines(rec("1"), b"{broken", bad, rec("2")), source="t")
    assert (res.read, res.stored, res.unchanged, res.quarantined) == (4, 2, 0, 2)
    assert res.reconciles
    q = empty_store.quarantine().sort("location")
    assert q.height == 2
    row = q.filter(pl.col("raw").str.contains('"id": 7')).row(0, named=True)
    assert json.loads(row["raw"]) == bad  # the raw text, byte for byte what came in
    fields = sorted(r.split(":")[0] for r in row["reasons"])
    assert fields == ["created_at", "id", "metrics.views", "parents[0].relation", "source", "title"]
    runs = empty_store.runs()
    assert runs.height == 1
    assert runs.row(0, named=True)["status"] == "completed"
    assert runs.select("read", "stored", "unchanged", "quarantined").row(0) == (4, 2, 0, 2)


def test_reingesting_commits_nothing(empty_store: Archive):
    data = lines(rec("1"), rec("2", parents=["t:1"]), b"nope")
    ingest_lines(empty_store, data)
    v = empty_store.version()
    q = empty_store.quarantine().height
    res = ingest_lines(empty_store, data)
    assert (res.stored, res.unchanged, res.quarantined) == (0, 2, 1)
    assert empty_store.version() == v, "a batch with nothing new must not commit"
    assert empty_store.quarantine().height == q, "the same bad line is not quarantined twice"


def test_same_id_with_other_content_keeps_both_observations_newest_is_the_post(empty_store: Archive):
    old = rec("1", prompt="a corgi surfing", fetched_at="2026-04-02T00:00:00Z", metrics={"views": 10})
    new = rec("1", prompt="a corgi surfing at dawn", fetched_at="2026-04-05T00:00:00Z", metrics={"views": 99})
    ingest_records(empty_store, [new])
    ingest_records(empty_store, [old])  # arrives later but was observed earlier
    assert empty_store.records().height == 2
    post = empty_store.posts().filter(pl.col("id") == "t:1").row(0, named=True)
    assert post["prompt"] == "a corgi surfing at dawn" and post["views"] == 99 and post["n_obs"] == 2
    obs = empty_store.observations().filter(pl.col("id") == "t:1")
    assert obs.get_column("views").to_list() == [10, 99]


def test_missing_parents_become_placeholders(empty_store: Archive):
    ingest_records(empty_store, [rec("child", parents=["t:gone"])])
    posts = empty_store.posts()
    gone = posts.filter(pl.col("id") == "t:gone").row(0, named=True)
    assert gone["placeholder"] is True and gone["text"] == ""
    lin = empty_store.lineage().filter(pl.col("id") == "t:child").row(0, named=True)
    assert (lin["parent"], lin["root"], lin["depth"]) == ("t:gone", "t:gone", 1)


def test_self_remix_and_cycles_are_reported_and_broken(empty_store: Archive):
    ingest_records(empty_store, [
        rec("self", parents=["t:self"]),
        rec("a", parents=["t:c"]), rec("b", parents=["t:a"]), rec("c", parents=["t:b"]),
    ])
    lin = {r["id"]: r for r in empty_store.lineage().iter_rows(named=True)}
    assert lin["t:self"]["parent"] is None and lin["t:self"]["depth"] == 0
    # the cycle a -> b -> c -> a is cut at its smallest id, t:a, which becomes the root
    assert [lin[x]["root"] for x in ("t:a", "t:b", "t:c")] == ["t:a"] * 3
    assert [lin[x]["depth"] for x in ("t:a", "t:b", "t:c")] == [0, 1, 2]
    kinds = sorted(empty_store.problems().get_column("kind").to_list())
    assert kinds == ["cycle", "self_loop"]


def test_one_megabyte_prompt_is_kept_whole(empty_store: Archive):
    big = "corgi " * 180_000  # about 1 MB
    res = ingest_records(empty_store, [rec("big", prompt=big)])
    assert res.stored == 1
    assert empty_store.posts().filter(pl.col("id") == "t:big").get_column("prompt")[0] == big


def test_control_bidi_and_zero_width_characters_are_kept_verbatim(empty_store: Archive):
    text = "a\u200b corgi\u202e surfing\u0007 at\u00a0dawn \u2066x\u2069"
    ingest_records(empty_store, [rec("odd", prompt=text)])
    assert empty_store.posts().filter(pl.col("id") == "t:odd").get_column("prompt")[0] == text


@pytest.mark.parametrize("given,stored", [
    ("2026-04-01T12:00:00+02:00", "2026-04-01T10:00:00"),
    ("2026-04-01T10:00:00Z", "2026-04-01T10:00:00"),
    ("2026-04-01T10:00:00", "2026-04-01T10:00:00"),          # no zone: read as UTC
    ("2026-04-01 10:00:00.250", "2026-04-01T10:00:00.250000"),
])
def test_times_with_and_without_a_zone(empty_store: Archive, given: str, stored: str):
    ingest_records(empty_store, [rec("t", created_at=given)])
    got = empty_store.posts().get_column("created_at")[0]
    assert got.tzinfo is not None and got.isoformat().startswith(stored)


def test_empty_file_is_a_run_with_nothing_read(empty_store: Archive, tmp_path: Path):
    f = tmp_path / "empty.jsonl"
    f.write_bytes(b"")
    v = empty_store.version()
    res = ingest(empty_store, JsonlSource([str(f)]))
    assert (res.read, res.stored, res.status) == (0, 0, "completed")
    assert empty_store.version() == v


def test_a_file_that_is_not_utf8_is_quarantined_line_by_line(empty_store: Archive, tmp_path: Path):
    f = tmp_path / "latin1.jsonl"
    f.write_bytes("\n".join(json.dumps(rec(str(i), prompt="café crème"), ensure_ascii=False)
                            for i in range(3)).encode("latin-1"))
    res = ingest(empty_store, JsonlSource([str(f)]))
    assert (res.read, res.quarantined) == (3, 3)
    q = empty_store.quarantine()
    assert all("UTF-8" in r[0] for r in q.get_column("reasons").to_list())
    assert all("caf\\xe9" in raw for raw in q.get_column("raw").to_list())  # nothing lost: the byte is visible


def test_folders_gzip_and_stdin(empty_store: Archive, tmp_path: Path, monkeypatch):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "a.jsonl").write_text(json.dumps(rec("a")) + "\n")
    with gzip.open(d / "sub" / "b.jsonl.gz", "wt") as g:
        g.write(json.dumps(rec("b")) + "\n")
    (d / "notes.txt").write_text("not a record file")
    res = ingest(empty_store, JsonlSource([str(d)]))
    assert res.stored == 2
    import io
    import sys
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(
        (json.dumps(rec("c")) + "\n").encode()))))
    assert ingest(empty_store, JsonlSource(["-"])).stored == 1


def test_missing_path_is_an_error_that_names_it(tmp_path: Path):
    with pytest.raises(SourceError, match="nothing-here.jsonl: no such file"):
        JsonlSource([str(tmp_path / "nothing-here.jsonl")])


def test_source_level_failures_are_quarantined(empty_store: Archive):
    res = ingest_lines(empty_store, [Bad(raw="<binary 12 bytes>", reasons=["not a C2PA file"])])
    assert res.quarantined == 1
    assert empty_store.quarantine().get_column("reasons").to_list() == [["not a C2PA file"]]


def test_unknown_fields_are_kept_in_extra(empty_store: Archive):
    ingest_records(empty_store, [rec("u", hashtags=["#remix"], extra={"k": 1})])
    stored = json.loads(empty_store.records().get_column("record")[0])
    assert stored["extra"] == {"k": 1, "hashtags": ["#remix"]}


def test_batches_are_separate_commits(empty_store: Archive):
    v0 = empty_store.version()
    res = ingest_records(empty_store, [rec(str(i)) for i in range(10)], batch_size=3)
    assert res.commits == 4 and empty_store.version() == v0 + 4
