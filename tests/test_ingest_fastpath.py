"""Ingest's fast path (records already in normal form skip building a normalised copy) agrees with check()."""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from archive.ingest import _is_normal
from archive.record import canonical_json, check

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"

times = st.one_of(st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.500000Z", "2026-02-30T00:00:00Z",
                                   "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00+00:00", "2026-01-01",
                                   "2026-01-01 00:00:00Z", "0000-01-01T00:00:00Z", "soon"]),
                  st.integers(0, 10), st.none())
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=4))
parent = st.one_of(
    st.fixed_dictionaries({"id": st.sampled_from(["t:1", "", 5]), "relation": st.sampled_from(["remix", "stole"]),
                           "evidence": st.sampled_from(["declared", "c2pa", "x"]),
                           "confidence": st.one_of(st.floats(-1, 2), st.just(1), st.just(True))}),
    st.fixed_dictionaries({"id": st.just("t:9")}), st.just("t:2"), st.integers())
media = st.fixed_dictionaries({}, optional={"url": st.one_of(st.text(max_size=3), st.integers()),
                                            "bytes": st.one_of(st.integers(-1, 5), st.floats(), st.booleans())})
records = st.fixed_dictionaries(
    {"id": st.sampled_from(["t:1", "bad id", 7, "t:" + "x" * 1030]),
     "source": st.sampled_from(["t", "", 3]), "created_at": times},
    optional={"fetched_at": times, "prompt": scalars, "title": scalars, "author": scalars, "license": scalars,
              "parents": st.one_of(st.lists(parent, max_size=3), st.none(), st.text(max_size=2)),
              "style_tags": st.one_of(st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=3), st.none()),
              "media": st.one_of(st.lists(st.one_of(media, st.integers()), max_size=2), st.none()),
              "metrics": st.one_of(st.dictionaries(st.sampled_from(["views", "likes"]),
                                                   st.one_of(st.integers(-2, 9), st.none(), st.floats(), st.booleans())),
                                   st.integers()),
              "consent": st.one_of(st.dictionaries(st.text(max_size=2), st.booleans()), st.text(max_size=1)),
              "extra": st.one_of(st.dictionaries(st.text(max_size=2), st.integers()), st.none()),
              "surprise": st.integers()})


@settings(max_examples=600, deadline=None)
@given(records)
def test_a_record_on_the_fast_path_is_exactly_what_check_returns(rec):
    if _is_normal(rec):
        norm, reasons = check(rec)
        assert reasons == []
        assert canonical_json(norm) == canonical_json(rec)


def test_the_sample_takes_the_fast_path():
    import gzip

    with gzip.open(SAMPLE / "remixes.jsonl.gz", "rt", encoding="utf-8") as f:
        recs = [json.loads(line) for _, line in zip(range(500), f)]
    assert all(_is_normal(r) for r in recs)
    assert all(canonical_json(check(r)[0]) == canonical_json(r) for r in recs)


# -- the compiled fast path (archive.ingest_fast): a typed msgspec decoder, held to the full checker ------------

import random  # noqa: E402

import orjson  # noqa: E402
import polars as pl  # noqa: E402
from polars.testing import assert_frame_equal  # noqa: E402

import archive.ingest as ingest_mod  # noqa: E402
from archive.ingest import _prepare, _prepare_full, ingest_lines  # noqa: E402
from archive.ingest_fast import prepare  # noqa: E402
from archive.record import content_hash  # noqa: E402
from archive.sources.jsonl import parse_record  # noqa: E402
from archive.store import Archive  # noqa: E402

TIMES = ["2026-01-01T00:00:00Z", "2026-03-01T00:12:05.225597Z", "2024-02-29T23:59:59Z", "2026-02-29T00:00:00Z",
         "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z", "0000-01-01T00:00:00Z", "2026-01-01T00:00:00.000000Z",
         "2026-01-01T00:00:00+00:00", "2026-01-01T24:00:00Z", "2026-01-01T10:00:60Z", "2026-01-01t10:00:00Z",
         "2026-01-01T10:00:00Z\n", "2026-01-01T10:00:00.5Z", "2026-01-01 10:00:00", "2026-13-01T00:00:00Z",
         "２０２６-01-01T00:00:00Z"]
IDS = ["t:1", "t:é", "simulate:s42_0000001", "t:\n", "t:", ":x", "_t:1", "t x:1", "t:" + "x" * 1022, "t:" + "x" * 1023,
       "t:" + "é" * 1022, "tw:1234567890123456789", "t:\u0301", "t:\ufeff", "t:\u212b"]
texts = st.one_of(st.text(max_size=6), st.sampled_from(["", "é", "e\u0301", "\u212b", "Å", "\u2028", "\x00", "\x7f",
                                                          ":", '"', "\\", "/", "\U0001F600", "\ufeff", "1e16",
                                                          "12345678901234567890", "a: b"]))
numbers = st.one_of(st.integers(-3, 3), st.integers(-(2**70), 2**70), st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64]),
                    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 1e16, 1e-7, 1.5e300, 0.1]))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), numbers, texts),
                           lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(texts, kids, max_size=3)),
                           max_leaves=8)
good_parent = st.fixed_dictionaries({"id": st.sampled_from(IDS[:4]), "relation": st.sampled_from(["remix", "parentOf",
                                                                                                   "componentOf", "inspired"]),
                                     "evidence": st.sampled_from(["declared", "c2pa", "inferred"]),
                                     "confidence": st.one_of(st.floats(0, 1), st.sampled_from([0, 1, 1.0, 0.5]))})
any_parent = st.one_of(good_parent, parent, good_parent.map(lambda p: {**p, "note": 1}),
                       good_parent.map(lambda p: {k: v for k, v in p.items() if k != "evidence"}),
                       st.tuples(good_parent, st.sampled_from([True, 1.5, -0.0, None, "1", 2])).map(lambda pc: {**pc[0], "confidence": pc[1]}))
good_media = st.fixed_dictionaries({}, optional={"url": texts, "mime": st.just("video/mp4"), "sha256": texts,
                                                 "duration_s": st.one_of(st.integers(0, 60), st.floats(0, 1e20)),
                                                 "width": st.integers(0, 4000), "height": st.integers(-1, 4000),
                                                 "bytes": st.one_of(st.integers(0, 2**64), st.none(), st.booleans())})
full_records = st.fixed_dictionaries(
    {"id": st.sampled_from(IDS), "source": st.sampled_from(["t", "simulate", ""]), "created_at": st.sampled_from(TIMES)},
    optional={"fetched_at": st.one_of(st.sampled_from(TIMES), st.none()), "author": st.one_of(texts, st.none()),
              "title": st.one_of(texts, st.none(), st.integers()), "prompt": st.one_of(texts, st.none()),
              "license": st.one_of(texts, st.none()),
              "parents": st.one_of(st.lists(st.one_of(good_parent, any_parent), max_size=3), st.none()),
              "style_tags": st.one_of(st.lists(texts, max_size=3), st.none(), st.lists(st.integers(), max_size=1)),
              "media": st.one_of(st.lists(good_media, max_size=2), st.none(), st.just([None])),
              "metrics": st.one_of(st.dictionaries(st.sampled_from(["views", "likes", "remixes", "comments", "saves"]),
                                                   st.one_of(st.integers(0, 10**6), st.integers(-2, 0), st.none(),
                                                             st.floats(0, 9), st.booleans(), st.integers(2**63, 2**64))),
                                   st.none()),
              "consent": st.one_of(st.dictionaries(texts, json_values, max_size=3), st.none(), texts),
              "provenance": st.one_of(st.dictionaries(texts, json_values, max_size=3), st.none()),
              "extra": st.one_of(st.dictionaries(texts, json_values, max_size=4), st.none()),
              "surprise": json_values})

small_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), texts,
                                      st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)),
                            lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(texts, kids, max_size=3)),
                            max_leaves=8)
good_records = st.fixed_dictionaries(  # records in normal form: the fast path's own ground
    {"id": st.sampled_from(IDS[:4] + IDS[8:10] + IDS[12:]), "source": st.sampled_from(["t", "simulate", "é"]),
     "created_at": st.sampled_from(TIMES[:3])},
    optional={"fetched_at": st.sampled_from(TIMES[:4]), "author": texts, "title": texts,
              "prompt": texts, "license": texts, "parents": st.lists(good_parent, max_size=3),
              "style_tags": st.lists(texts, max_size=3),
              "media": st.lists(good_media.map(lambda m: {k: v for k, v in m.items() if k != "bytes"}), max_size=2),
              "metrics": st.dictionaries(st.sampled_from(["views", "likes", "remixes", "comments", "saves"]),
                                         st.integers(0, 2**53)),
              "consent": st.dictionaries(texts, small_values, max_size=3),
              "provenance": st.dictionaries(texts, small_values, max_size=3),
              "extra": st.dictionaries(texts, small_values, max_size=4)})


def _dumps(rec: dict, how: str) -> bytes:
    """A record as a writer might put it on a line."""
    if how == "orjson":
        try:
            return orjson.dumps(rec)
        except TypeError:  # an integer beyond 64 bits
            how = "compact"
    if how == "compact":
        return json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    if how == "ascii":  # Python's default: every non-ASCII character as \\uXXXX (pairs for astral ones)
        return json.dumps(rec).encode()
    return json.dumps(rec, ensure_ascii=False, indent=None, sort_keys=True).encode("utf-8", "surrogatepass")


def _tamper(raw: bytes, how: str, rnd: random.Random) -> bytes:
    """Ways a line goes wrong that a typed decoder may not see."""
    if how == "dup-key" and raw.startswith(b"{") and len(raw) > 2:
        key = rnd.choice([b'"id":"t:2",', b'"source":"u",', b'"prompt":"x",', b'"extra":{},'])
        return b"{" + key + raw[1:]
    if how == "dup-nested" and b'"extra":{' in raw:
        return raw.replace(b'"extra":{', b'"extra":{"k":1,"k":2,', 1)
    if how == "dup-escaped-colon" and raw.startswith(b"{"):  # one more colon in the text, one fewer key
        return b'{"id":"t:\\u003a","id":"t:1",' + raw[1:]
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "surrogate" and b'"source":"' in raw:
        return raw.replace(b'"source":"', rnd.choice([b'"source":"\\ud83d', b'"source":"\\ude00',
                                                      b'"source":"\\ud83d\\ude00']), 1)
    if how == "not-utf8":
        i = rnd.randrange(len(raw) + 1)
        return raw[:i] + rnd.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf"]) + raw[i:]
    if how == "trailing":
        return raw + rnd.choice([b" x", b"{}", b",", b"\x00"])
    if how == "cut":
        return raw[: rnd.randrange(len(raw) + 1)]
    if how == "big-int" and raw.endswith(b"}"):
        return raw[:-1] + rnd.choice([b',"extra":{"n":123456789012345678901}}', b',"n":-99999999999999999999}',
                                      b',"metrics":{"views":18446744073709551616}}', b',"extra":{"f":1e400}}',
                                      b',"extra":{"f":12345678901234567.0}}', b',"extra":{"f":1E+16}}'])
    return raw


#: A line as tests of the ingest paths generate it: a record (in normal form twice as often), how it was
#: written, how it went wrong (mostly not), and the randomness the tampering draws on.
LINES = (st.one_of(good_records, good_records, full_records), st.sampled_from(["orjson", "compact", "ascii", "sorted"]),
         st.sampled_from(["none"] * 10 + ["dup-key", "dup-nested", "dup-escaped-colon", "bom", "surrogate",
                                          "not-utf8", "trailing", "cut", "big-int"]), st.randoms(use_true_random=False))


@settings(max_examples=1500, deadline=None)
@given(*LINES)
def test_the_compiled_fast_path_gives_exactly_what_the_full_checker_gives(rec, how, tamper, rnd):
    raw = _tamper(_dumps(rec, how), tamper, rnd)
    full = _prepare_full(raw)
    fast = prepare(raw)
    if fast is not None:  # the fast path said good: the same stored row, canonical JSON and hash, byte for byte
        assert fast == full
        obj, bad = parse_record(raw)  # and straight from the checker, not through ingest's own helpers
        assert bad == []
        norm, reasons = check(obj)
        assert reasons == []
        assert fast[1][-3] == canonical_json(norm) and fast[0] == content_hash(canonical_json(norm))
    event("fast" if fast is not None else "full")
    assert _prepare(raw) == full  # ingest's entry point: the fast path or else the full one, never a third answer


def line_lists(max_size: int, tampers: tuple[str, ...] = ("dup-key", "big-int", "cut")) -> st.SearchStrategy:
    """Lists of (record, how written, how tampered): what a batch of lines is made of in these tests."""
    return st.lists(st.tuples(st.one_of(good_records, good_records, full_records), st.sampled_from(["orjson", "ascii"]),
                              st.sampled_from(["none"] * 6 + list(tampers))), min_size=1, max_size=max_size)


@settings(max_examples=200, deadline=None)
@given(line_lists(12), st.randoms(use_true_random=False))
def test_a_batch_built_on_the_fast_path_is_the_batch_the_full_checker_builds(recs, rnd):
    from datetime import datetime, timezone

    from archive.ingest import _Batch

    raws = [_tamper(_dumps(r, how), t, rnd) for r, how, t in recs]
    raws += raws[: len(raws) // 2]  # repeats: deduplicated within the batch, in order
    fast, full = _Batch(), _Batch()
    for i, raw in enumerate(raws):
        fast.add_raw(f"x:{i}", raw, set())
        full.add_prepared(f"x:{i}", _prepare_full(raw), set())
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert_frame_equal(fast.frame("r", at), full.frame("r", at))
    assert (fast.read, fast.unchanged, fast.bad) == (full.read, full.unchanged, full.bad)


def test_a_line_the_fast_path_must_not_take_goes_the_full_way():
    base = b'{"id":"t:1","source":"t","created_at":"2026-01-01T00:00:00Z"'
    refused = {
        b'{"id":"t:1","id":"t:2","source":"t","created_at":"2026-01-01T00:00:00Z"}': "duplicate key",
        base + b',"extra":{"k":1,"k":2}}': "duplicate nested key",
        base + b',"extra":{"n":123456789012345678901}}': "integer beyond 64 bits",
        base + b',"extra":{"f":1e16}}': "a float orjson writes as 1e+16",
        b"\xef\xbb\xbf" + base + b"}": "BOM",
        base + b',"title":"\\ud83d"}': "lone surrogate",
        base + b',"surprise":1}': "unknown top-level field (moves into extra)",
        b'{"id":"t:1","source":"t","created_at":"2026-02-30T00:00:00Z"}': "date that does not exist",
        b'{"id":"t:1","source":"t","created_at":"2026-01-01T00:00:00+00:00"}': "time not in normal form",
        base + b',"parents":["t:0"]}': "parent shorthand",
        base + b',"media":[{"url":null}]}': "a null kept inside media",
    }
    for raw, why in refused.items():
        assert prepare(raw) is None, why
        assert _prepare(raw) == _prepare_full(raw), why
    assert prepare(base + b"}", frozenset({"t:1"})) is None  # a redacted post: the full path reduces it


def test_typical_lines_take_the_fast_path():
    import gzip

    with gzip.open(SAMPLE / "remixes.jsonl.gz", "rb") as f:
        lines = [line.rstrip(b"\n") for _, line in zip(range(500), f)]
    assert all(prepare(line) is not None for line in lines)
    assert [prepare(line) for line in lines] == [_prepare_full(line) for line in lines]
    ascii_line = json.dumps({"id": "t:é", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "café 😀 a: b",
                             "extra": {"ratio": 0.25, "big": 2**53 + 1}}).encode()
    assert prepare(ascii_line) is not None and prepare(ascii_line) == _prepare_full(ascii_line)


def _table(a: Archive) -> pl.DataFrame:
    return a.records().drop("run_id", "ingested_at").sort("content_hash")


def test_an_archive_ingested_without_the_fast_path_reingests_as_unchanged(tmp_path, monkeypatch):
    rnd = random.Random(7)
    with gzip_lines() as lines:
        data = lines[:300]
    data += [_tamper(d, t, rnd) for d, t in zip(data[:60], ["dup-key", "bom", "surrogate", "big-int", "cut", "not-utf8"] * 10)]
    old = Archive.open(tmp_path / "old", create=True)
    with monkeypatch.context() as m:  # the archive as today's full path writes it (no native engine, no msgspec path)
        m.setattr(ingest_mod, "_prepare_fast", lambda raw, redacted=(): None)
        m.setattr(ingest_mod, "_check_line", lambda raw, redacted=(): None)
        m.setattr(ingest_mod, "_native", None)
        before = ingest_lines(old, data, source="t")
    after = ingest_lines(old, data, source="t")  # with the fast path: nothing new, nothing lost
    assert (after.read, after.stored, after.unchanged, after.quarantined) == \
           (before.read, 0, before.stored + before.unchanged, before.quarantined)
    new = Archive.open(tmp_path / "new", create=True)
    res = ingest_lines(new, data, source="t")
    assert (res.stored, res.unchanged, res.quarantined) == (before.stored, before.unchanged, before.quarantined)
    assert_frame_equal(_table(new), _table(old))
    qcols = ["location", "raw", "raw_hash", "reasons"]
    assert_frame_equal(new.quarantine().select(qcols).sort("location"),
                                  old.quarantine().select(qcols).sort("location"))


class gzip_lines:
    def __enter__(self) -> list[bytes]:
        import gzip

        with gzip.open(SAMPLE / "remixes.jsonl.gz", "rb") as f:
            return [line.rstrip(b"\n") for line in f]

    def __exit__(self, *exc) -> None:
        return None
