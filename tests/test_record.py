"""The remix record: the Python checks and the published JSON Schema agree; re-ingesting anything changes nothing."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.ingest import ingest_lines
from archive.record import check, schema
from archive.store import Archive

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
VALIDATOR = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())

CASES = [
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z"},
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00+05:30", "parents": ["a:0"]},
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z",
     "parents": [{"id": "a:0", "relation": "componentOf", "evidence": "c2pa", "confidence": 0.5}],
     "metrics": {"views": 3, "likes": 0}, "media": [{"url": "https://x.invalid/v.mp4", "bytes": 10}],
     "style_tags": ["noir"], "consent": {"revoked": False}, "provenance": {}, "extra": {"k": [1]}},
    {"id": "a:1", "source": "a"},
    {"source": "a", "created_at": "2026-01-01T00:00:00Z"},
    {"id": "no-prefix", "source": "a", "created_at": "2026-01-01T00:00:00Z"},
    {"id": "a:1", "source": "a", "created_at": "not a time"},
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z", "parents": [{"id": "a:0", "relation": "x"}]},
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z", "parents": [{"id": "a:0", "confidence": 2}]},
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z", "metrics": {"views": -1}},
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z", "metrics": {"views": 1.5}},
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z", "style_tags": [1]},
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z", "prompt": 5},
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z", "media": [{"width": -2}]},
    {"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z", "extra": []},
]


@pytest.mark.parametrize("rec", CASES, ids=[json.dumps(c)[:70] for c in CASES])
def test_the_python_checks_and_the_json_schema_agree(rec):
    ok_python = not check(rec)[1]
    ok_schema = VALIDATOR.is_valid(rec)
    assert ok_python == ok_schema, (check(rec)[1], [e.message for e in VALIDATOR.iter_errors(rec)])


def test_the_sample_is_valid_against_the_published_schema():
    with gzip.open(SAMPLE / "remixes.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in list(f)[:500]:
            VALIDATOR.validate(json.loads(line))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
record_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["p:1", "p:2", "p:3", "", 7]) | st.text(max_size=8),
        "source": st.sampled_from(["p", "q"]) | json_values,
        "created_at": st.sampled_from(["2026-01-01T00:00:00Z", "2026-02-01 10:00", "bad"]) | json_values,
        "prompt": st.text(max_size=30) | json_values,
        "parents": st.lists(st.sampled_from(["p:1", "p:2", "p:3"]) | json_values, max_size=3),
        "metrics": st.dictionaries(st.sampled_from(["views", "likes"]), st.integers(-2, 100)),
        "surprise": json_values,
    },
)
lines = st.lists(
    record_like.map(lambda r: json.dumps(r).encode()) | st.binary(max_size=20) | st.text(max_size=20).map(str.encode),
    min_size=1, max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=lines)
def test_reingesting_anything_changes_nothing(batch, tmp_path_factory):
    arc = Archive.open(tmp_path_factory.mktemp("prop") / "a", create=True)
    first = ingest_lines(arc, batch)
    assert first.reconciles
    version, posts = arc.version(), arc.posts().height
    again = ingest_lines(arc, batch)
    assert again.stored == 0 and again.reconciles
    assert again.unchanged == first.stored + first.unchanged
    assert again.quarantined == first.quarantined
    assert arc.version() == version and arc.posts().height == posts


@pytest.mark.parametrize("t", ["2026-01-01", "20260101T000000Z", "2026-01-01T00:00:00Z junk", "2026-01-01T10:00+0200",
                               "2026-01-01t10:00:00z", "2026-01-01 10:00:00.123456+05:30"])
def test_times_python_and_schema_agree(t):
    rec = {"id": "a:1", "source": "a", "created_at": t}
    assert (not check(rec)[1]) == VALIDATOR.is_valid(rec), t


def test_a_count_beyond_64_bits_is_quarantined_not_a_crash(tmp_path):
    # ingest_records (dicts from Python) raised OverflowError deep in the Arrow write for views of 10**30;
    # `ingest jsonl` quarantined the same record. The checker and the fast path now both refuse it.
    from archive.ingest import _is_normal, ingest_records
    from archive.record import MAX_COUNT, check
    from archive.store import Archive

    base = {"id": "x:1", "source": "x", "created_at": "2026-01-01T00:00:00Z", "prompt": "hi"}
    big, edge = dict(base, metrics={"views": MAX_COUNT + 1}), dict(base, id="x:2", metrics={"views": MAX_COUNT})
    assert check(big)[1] == [f"metrics.views: must be at most {MAX_COUNT:,} (a 64-bit count), got {MAX_COUNT + 1}"]
    assert not _is_normal(big) and _is_normal(edge) and check(edge)[1] == []
    a = Archive.open(tmp_path / "a", create=True)
    res = ingest_records(a, [big, edge])
    assert (res.read, res.stored, res.quarantined) == (2, 1, 1) and res.reasons == {"metrics.views": 1}
    assert a.records().get_column("views").to_list() == [MAX_COUNT]


def test_the_schema_names_the_64_bit_limit_of_counts_too():
    import jsonschema as js

    from archive.record import MAX_COUNT, check

    for k in ("views", "likes", "remixes", "comments", "shares"):
        for x, ok in ((MAX_COUNT, True), (MAX_COUNT + 1, False)):
            rec = {"id": "x:1", "source": "x", "created_at": "2026-01-01T00:00:00Z", "metrics": {k: x}}
            assert js.Draft202012Validator(schema()).is_valid(rec) is ok and (check(rec)[1] == []) is ok
