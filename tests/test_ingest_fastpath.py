"""Ingest's fast path (records already in normal form skip building a normalised copy) agrees with check()."""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
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
