"""Ingest with worker processes (opt-in) stores exactly what the in-process path stores."""
from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

import archive.ingest as ingest_mod
from archive.ingest import Bad, _prepare, _prepared, ingest
from archive.sources.jsonl import JsonlSource
from archive.store import Archive

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _store(tmp_path: Path, name: str, workers: int) -> tuple[Archive, dict]:
    src = tmp_path / "in"
    if not src.exists():
        src.mkdir()
        shutil.copy(SAMPLE / "remixes.jsonl.gz", src / "a.jsonl.gz")
        shutil.copy(SAMPLE / "messy.jsonl", src / "b.jsonl")
    a = Archive.open(tmp_path / name, create=True)
    r = ingest(a, JsonlSource([str(src)]), batch_size=700, workers=workers)
    return a, r.as_dict()


def test_workers_store_the_same_records_quarantine_and_counts(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ingest_mod, "_SERIAL_FIRST", 250)  # start the workers early on the small sample
    monkeypatch.setattr(ingest_mod, "_CHUNK", 300)
    serial, rs = _store(tmp_path, "serial", 0)
    par, rp = _store(tmp_path, "par", 2)
    keys = ("read", "stored", "unchanged", "quarantined", "commits", "reasons", "status")
    assert {k: rp[k] for k in keys} == {k: rs[k] for k in keys}
    assert rs["quarantined"] > 0 and rs["commits"] > 3
    cols = ["id", "record", "content_hash", "created_at", "parents", "style_tags", "views", "redacted"]
    assert par.records(columns=cols).sort("id").equals(serial.records(columns=cols).sort("id"))
    q = ["location", "raw", "raw_hash", "reasons"]
    assert par.quarantine().select(q).sort("location").equals(serial.quarantine().select(q).sort("location"))
    # the stored order is the source order in both
    assert par.records(columns=["id"])["id"].to_list() == serial.records(columns=["id"])["id"].to_list()


def test_prepared_keeps_order_and_raises_a_source_error_after_what_came_before():
    good = b'{"id":"t:%d","source":"t","created_at":"2026-01-01T00:00:00Z"}'

    def items():
        for i in range(40):
            yield (f"x:{i}", good % i if i % 7 else Bad("raw", ["r: bad"]), str(i))
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for loc, prep, cur in _prepared(items(), frozenset(), 2, serial_first=5):
            seen.append((loc, prep, cur))
    assert [s[0] for s in seen] == [f"x:{i}" for i in range(40)]
    assert [s[1] for s in seen] == [_prepare(good % i if i % 7 else Bad("raw", ["r: bad"])) for i in range(40)]
    assert seen[-1][2] == "39"


def test_prepare_of_a_redacted_id_gives_the_reduced_row_and_both_hashes():
    rec = {"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "secret"}
    h, row = _prepare(rec, frozenset({"t:1"}))
    assert row[-1] is True and row[6] is None and h != row[-2]
    assert pl.Series([row[-3]]).str.contains("secret").to_list() == [False]
