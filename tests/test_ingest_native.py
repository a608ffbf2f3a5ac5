"""Ingest's native engine (archive/_ingest_native.cpp) is held to the full checker, line by line and batch by batch."""
from __future__ import annotations

import random
from datetime import datetime, timezone

import orjson
import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import archive.ingest as ingest_mod
from archive.ingest import Lines, _Batch, _prepare_full, ingest
from archive.record import format_time
from archive.sources.jsonl import JsonlSource
from archive.store import Archive
from tests.test_ingest_fastpath import LINES, _dumps, _tamper, line_lists

AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
NOT_BUILT = ("the native ingest engine (archive/_ingest_native.cpp) is not built, so ingest takes the slower Python "
             "paths: install a C++ compiler and the headers (apt-get install build-essential libsimdjson-dev libssl-dev "
             "python3-dev, as ./run.sh does) and build it again with `.venv/bin/pip install -e .` (pip -v shows why "
             "a build failed)")
try:
    from archive.ingest_native import check_lines
except ImportError:  # not built: test_the_engine_is_built says what to do, the rest is skipped
    check_lines = None  # type: ignore[assignment]


def test_the_engine_is_built():
    # run.sh builds it when it installs the package; without it ingest silently takes the slower Python paths
    assert ingest_mod._native is not None, NOT_BUILT


needs_engine = pytest.mark.skipif(check_lines is None, reason="the native ingest engine is not built")


def _row(table, j: int) -> tuple:
    """Row ``j`` of the engine's table in the form :func:`archive.ingest._prepare_full` gives a row."""
    r = {k: table.column(k)[j].as_py() for k in table.column_names}
    def t(v):
        return None if v is None else format_time(v)

    parents = [(p["id"], p["relation"], p["evidence"], p["confidence"]) for p in r["parents"]] or None
    return r["content_hash"], (r["id"], r["source"], t(r["created_at"]), t(r["fetched_at"]), r["author"], r["title"],
                               r["prompt"], r["style_tags"] or None, parents, r["views"], r["likes"], r["remixes"],
                               r["comments"], r["license"], r["record"], r["content_hash"], False)


def _same_row(native: tuple, full: tuple) -> None:
    h, row = native
    fh, frow = full
    assert h == fh
    # an empty list and a missing one are stored alike (an empty list column): compare as stored
    assert row[:7] == frow[:7] and row[9:] == frow[9:]
    assert (row[7] or None) == (frow[7] or None) and (row[8] or None) == (frow[8] or None)


@needs_engine
@settings(max_examples=1500, deadline=None)
@given(*LINES)
def test_a_line_the_engine_takes_is_exactly_what_the_full_checker_gives(rec, how, tamper, rnd):
    raw = _tamper(_dumps(rec, how), tamper, rnd)
    ok, table = check_lines([raw], 1)
    full = _prepare_full(raw)
    if ok[0] == 1:
        assert full[1] is not None and type(full[1]) is tuple, "the engine took a line the full checker refuses"
        _same_row(_row(table, 0), full)
    event({0: "left to Python", 1: "engine", 2: "blank"}[ok[0]])
    assert ok[0] in ((0, 1) if raw.strip(b" \t\r\n") else (2,)) and table.num_rows == (ok[0] == 1)


@needs_engine
@settings(max_examples=60, deadline=None)
@given(line_lists(40), st.randoms(use_true_random=False))
def test_two_threads_give_what_one_gives(recs, rnd):
    raws = [_tamper(_dumps(r, how), t, rnd) for r, how, t in recs]
    raws = (raws * (4200 // len(raws) + 1))[:4200]  # past the size where the engine splits the batch in two
    ok1, t1 = check_lines(raws, 1)
    ok2, t2 = check_lines(raws, 2)
    assert ok1 == ok2
    assert t1.equals(t2)


@needs_engine
def test_floats_are_written_as_orjson_writes_them():
    rnd = random.Random(3)
    values = [0.0, 1.0, 0.5, 0.1, 0.30000000000000004, 1e-4, 1.0000000000000002e-4, 9.999999999999999e15, 123456.789,
              -2.5, 1e15, 5e-324, 1e16, -0.0, 9.9e-05, 1.7976931348623157e308]
    values += [rnd.uniform(-1e6, 1e6) for _ in range(2000)] + [10 ** rnd.uniform(-6, 17) for _ in range(2000)]
    lines = [orjson.dumps({"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "extra": {"f": v}})
             for v in values]
    ok, table = check_lines(lines)
    taken = [v for v, o in zip(values, ok) if o == 1]
    assert len(taken) > 3000 and 1e16 not in taken and 5e-324 not in taken
    want = [orjson.dumps({"created_at": "2026-01-01T00:00:00Z", "extra": {"f": v}, "id": "t:1", "source": "t"},
                         option=orjson.OPT_SORT_KEYS).decode() for v in taken]
    assert table.column("record").to_pylist() == want
    for v, o in zip(values, ok):  # what it leaves: from 1e16 up (orjson's exponent), below 1e-4, or -0.0
        if o == 0:
            assert abs(v) >= 1e16 or abs(v) < 1e-4 or str(v) == "-0.0", v


@needs_engine
def test_times_are_the_instants_the_full_path_stores():
    rnd = random.Random(5)
    times = ["1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2024-02-29T12:00:00Z",
             "2000-02-29T00:00:00.000001Z", "1900-03-01T00:00:00Z", "1969-12-31T23:59:59.500000Z"]
    times += [format_time(datetime.fromtimestamp(rnd.uniform(-5e10, 2.5e11), timezone.utc)) for _ in range(3000)]
    times += [format_time(datetime.fromtimestamp(rnd.randrange(-5 * 10**10, 25 * 10**10), timezone.utc))
              for _ in range(500)]  # whole seconds: written without a fraction
    lines = [orjson.dumps({"id": f"t:{i}", "source": "t", "created_at": t, "fetched_at": t}) for i, t in enumerate(times)]
    ok, table = check_lines(lines)
    assert set(ok) == {1}
    want = pl.Series(times).str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC")
    got = pl.from_arrow(table.column("created_at"))
    assert got.to_list() == want.to_list()
    assert pl.from_arrow(table.column("fetched_at")).to_list() == want.to_list()
    refused = ["1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "0000-01-01T00:00:00Z", "2026-01-01T00:00:00.000000Z"]
    ok, _ = check_lines([orjson.dumps({"id": "t:1", "source": "t", "created_at": t}) for t in refused])
    assert set(ok) == {0}


def _batches(raws: list[bytes], redacted: frozenset[str], known: set[str]) -> tuple[_Batch, _Batch]:
    """The same lines through the engine (as a run of lines) and through the Python paths alone."""
    native = _Batch(redacted)
    native.add("f:1", raws[0], known)
    native.add_lines(Lines("f", 2, raws[1:]), 0, len(raws) - 1, known)
    native.add("f:dict", {"id": "t:dict", "source": "t", "created_at": "2026-01-01T00:00:00Z"}, known)  # a parsed record in between
    native.add("f:x", raws[-1], known)
    native.settle(known)
    engine, ingest_mod._native = ingest_mod._native, None
    try:
        python = _Batch(redacted)
        python.add("f:1", raws[0], known)
        python.add_lines(Lines("f", 2, raws[1:]), 0, len(raws) - 1, known)
        python.add("f:dict", {"id": "t:dict", "source": "t", "created_at": "2026-01-01T00:00:00Z"}, known)
        python.add("f:x", raws[-1], known)
    finally:
        ingest_mod._native = engine
    return native, python


@needs_engine
@settings(max_examples=150, deadline=None)
@given(line_lists(14, ("dup-key", "big-int", "cut", "bom")), st.randoms(use_true_random=False), st.booleans())
def test_a_batch_through_the_engine_is_the_batch_the_python_paths_build(recs, rnd, redact):
    raws = [_tamper(_dumps(r, how), t, rnd) for r, how, t in recs]
    raws += raws[: len(raws) // 2]  # repeats: deduplicated within the batch, in order
    raws.insert(rnd.randrange(len(raws) + 1), rnd.choice([b"", b"  ", b"\r", b" \t "]))  # a blank line in the run
    raws = [r + b"\r" if rnd.random() < 0.2 else r for r in raws]  # CRLF ends
    known = {_prepare_full(raws[0].strip())[0]} if rnd.random() < 0.3 else set()
    redacted = frozenset({"t:1"}) if redact else frozenset()
    native, python = _batches(raws, redacted, known)
    assert_frame_equal(native.frame("r", AT), python.frame("r", AT))
    assert (native.read, native.unchanged, native.bad, native.hashes) == \
           (python.read, python.unchanged, python.bad, python.hashes)


@needs_engine
def test_a_file_ingested_with_the_engine_is_the_file_ingested_without_it(tmp_path, monkeypatch):
    from tests.test_ingest_fastpath import gzip_lines

    rnd = random.Random(11)
    with gzip_lines() as lines:
        data = lines[:2500]
    data += [_tamper(d, t, rnd) for d, t in zip(data[:60], ["dup-key", "bom", "surrogate", "big-int", "cut", "not-utf8"] * 10)]
    data += data[:100] + [b"", b"   "]  # repeats and blank lines
    rnd.shuffle(data)
    data += [b'{"id":"t:long","source":"t","created_at":"2026-01-01T00:00:00Z","prompt":"' + b"x" * 5000 + b'"}']
    f = tmp_path / "in.jsonl"
    f.write_bytes(b'{"id":"t:first","source":"t","created_at":"2026-01-01T00:00:00Z"}\n'
                  + b"\r\n".join(data) + b"\n")

    def run(name: str) -> tuple[Archive, object]:
        a = Archive.open(tmp_path / name, create=True)
        return a, ingest(a, JsonlSource([str(f)], max_line=4096), batch_size=700)

    with_engine, r1 = run("engine")
    monkeypatch.setattr(ingest_mod, "_native", None)
    without, r2 = run("python")
    assert (r1.read, r1.stored, r1.unchanged, r1.quarantined, r1.commits) == \
           (r2.read, r2.stored, r2.unchanged, r2.quarantined, r2.commits)
    assert r1.stored > 2000 and r1.quarantined >= 30  # tampered lines, the long line
    cols = [c for c in with_engine.records().columns if c not in ("run_id", "ingested_at")]
    # (a batch's row order is held by the batch test above; the store's files are read in no set order)
    assert_frame_equal(with_engine.records().select(cols).sort("content_hash"),
                       without.records().select(cols).sort("content_hash"))
    q = ["location", "raw", "raw_hash", "reasons"]
    assert_frame_equal(with_engine.quarantine().select(q).sort("location"), without.quarantine().select(q).sort("location"))
    assert ingest(with_engine, JsonlSource([str(f)], max_line=4096)).stored == 0  # again: nothing new


@needs_engine
def test_the_engine_refuses_what_is_not_a_list_of_bytes():
    with pytest.raises(TypeError, match="list of bytes"):
        check_lines(["a str"])  # type: ignore[list-item]


def test_a_blank_line_given_on_its_own_is_an_item_and_keeps_the_rows_in_order():
    good = [b'{"id":"t:%d","source":"t","created_at":"2026-01-01T00:00:00Z"}' % i for i in range(4)]
    odd = b'{"id":"t:9","source":"t","created_at":"2026-01-01T00:00:00+00:00"}'  # the Python paths normalise it
    items = [good[0], b"", b" ", odd, good[1], good[2]]  # as ingest_lines gives them: each line its own item
    native = _Batch()
    for i, raw in enumerate(items):
        native.add(f"x:{i}", raw, set())
    native.settle(set())
    engine, ingest_mod._native = ingest_mod._native, None
    try:
        python = _Batch()
        for i, raw in enumerate(items):
            python.add(f"x:{i}", raw, set())
    finally:
        ingest_mod._native = engine
    assert native.read == python.read == 6 and len(native.bad) == 2  # the blank ones are bad records
    assert native.frame("r", AT)["id"].to_list() == python.frame("r", AT)["id"].to_list() == \
           ["t:0", "t:9", "t:1", "t:2"]
