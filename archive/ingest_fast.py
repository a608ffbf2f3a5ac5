"""Ingest's compiled fast path: a typed decoder that parses and validates a record in one step.

A JSON line is decoded by :mod:`msgspec` straight into :class:`Record`, a typed struct
that carries the record schema (``data/remix-record.schema.json``) in the form
:func:`archive.record.check` leaves a record in: every field known, times already in
UTC ``Z`` form, parents as objects with all four fields. Its canonical JSON (sorted
keys, no spaces) is written by msgspec too. What runs in Python per record is a handful
of whole-line checks: the id rule and the normal form of the times (one regex match each),
and the ones below.

The fast path only says "good" when it can prove the result is the one the full path
(:func:`archive.sources.jsonl.parse_record`, then :func:`archive.record.check`) gives,
byte for byte: same stored row, same canonical JSON, same content hash. Anything else
returns ``None`` and goes through the full checker, which gives every reason:

- anything the struct refuses: unknown top-level fields (they move into ``extra``), a
  ``null`` where the struct wants a value, a wrong type, a parent given as a bare id or without all four fields, a BOM, text that is
  not UTF-8, lone surrogate escapes, trailing data, a JSON value that is not an object;
- a duplicate key anywhere (msgspec, like orjson, keeps the last value), or a top-level
  ``null`` (left out of the normalized record): the text has more ``:`` than the
  canonical JSON (escaped colons ``\\u003a`` counted in);
- a run of 19 digits in the canonical JSON (maybe an integer beyond 64 bits: the full
  path keeps those exact, only inside ``extra``);
- a float written with a positive exponent (msgspec writes ``1e16`` where orjson, whose
  bytes today's hashes are made of, writes ``1e+16``);
- an id (its own or a parent's) that breaks the id rule; a time not already in normal
  form or whose date does not exist (30 February); a record whose id was redacted.

A property test (``tests/test_ingest_fastpath.py``) holds the two paths to the same
answers on generated good and bad lines.

Examples
--------
>>> h, row = prepare(b'{"id":"t:1","source":"t","created_at":"2026-01-01T00:00:00Z","prompt":"a: b"}')
>>> row[0], row[-3], h == row[-2]
('t:1', '{"created_at":"2026-01-01T00:00:00Z","id":"t:1","prompt":"a: b","source":"t"}', True)
>>> prepare(b'{"id":"t:1","id":"t:2","source":"t","created_at":"2026-01-01T00:00:00Z"}') is None
True
"""
from __future__ import annotations

import hashlib
import re
from datetime import date
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from archive.sources.jsonl import MAX_DEPTH as _MAX_DEPTH

__all__ = ["Record", "Parent", "Media", "check_line", "prepare"]

# ids and times are checked in Python after the decode (one compiled regex match each, the times
# remembered): cheaper than the decoder's own pattern constraints, which cost more than the parse
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*:.", re.S)
# a time exactly as archive.record.format_time writes it (a zero fraction is written without one)
_TIME_RE = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
                      r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.(?!000000)[0-9]{6})?Z\Z")
_id_ok = _ID_RE.match
_NONNEG = Union[Annotated[int, Meta(ge=0)], Annotated[float, Meta(ge=0)]]


class Parent(Struct, forbid_unknown_fields=True):
    """A parent in normal form: all four fields given (a default left out goes the full way)."""

    id: str
    relation: Literal["remix", "parentOf", "componentOf", "inspired"]
    evidence: Literal["declared", "c2pa", "inferred"]
    confidence: Annotated[float, Meta(ge=0.0, le=1.0)]  # an integer 0 or 1 becomes 0.0 / 1.0, as check() does


class Media(Struct, forbid_unknown_fields=True):
    """One media entry with only known keys and no nulls (the full path keeps a null as given)."""

    url: Union[str, UnsetType] = UNSET
    sha256: Union[str, UnsetType] = UNSET
    mime: Union[str, UnsetType] = UNSET
    bytes: Union[_NONNEG, UnsetType] = UNSET
    duration_s: Union[_NONNEG, UnsetType] = UNSET
    width: Union[_NONNEG, UnsetType] = UNSET
    height: Union[_NONNEG, UnsetType] = UNSET


class Record(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A remix record in the form :func:`archive.record.check` returns it.

    An optional field that is absent is ``None``; a ``null`` one decodes to ``None`` too
    (and :func:`prepare` then hands the line to the full path, which drops it).
    """

    id: str
    source: Annotated[str, Meta(min_length=1)]
    created_at: str
    fetched_at: Union[str, None] = None
    author: Union[str, None] = None
    title: Union[str, None] = None
    prompt: Union[str, None] = None
    license: Union[str, None] = None
    parents: Union[list[Parent], None] = None
    style_tags: Union[list[str], None] = None
    media: Union[list[Media], None] = None
    metrics: Union[dict[str, Annotated[int, Meta(ge=0)]], None] = None
    consent: Union[dict[str, Any], None] = None
    provenance: Union[dict[str, Any], None] = None
    extra: Union[dict[str, Any], None] = None


_decode = msgspec.json.Decoder(Record).decode
_encode = msgspec.json.Encoder(order="sorted").encode
_Error = msgspec.DecodeError  # ValidationError is one
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_RUN19 = b"0" * 19
_sha256 = hashlib.sha256
_dates: dict[str, bool] = {}
_times: dict[str, bool] = {}  # a crawl's fetched_at repeats: seen good, known good


def _time_ok(v: str) -> bool:
    """``v`` is a time in normal form whose date exists (remembered per date; the last times seen kept too)."""
    if v in _times:
        return True
    if not _TIME_RE.match(v):
        return False
    day = v[:10]
    ok = _dates.get(day)
    if ok is None:
        try:
            date.fromisoformat(day)
            ok = True
        except ValueError:
            ok = False
        if len(_dates) > 100_000:
            _dates.clear()
        _dates[day] = ok
    if ok:
        if len(_times) > 1_000:
            _times.clear()
        _times[v] = True
    return ok


def check_line(raw: bytes, redacted: Any = ()) -> tuple[Record, bytes, str] | None:
    """``(record, canonical JSON, content hash)`` of a line the fast path proves good, else None.

    ``raw`` is one JSON text as bytes; ``redacted`` the ids whose content a redaction
    removed (such a record takes the full path, which reduces it).

    >>> rec, canon, h = check_line(b'{"source":"t","id":"t:1","created_at":"2026-01-01T00:00:00Z"}')
    >>> rec.id, canon, h
    ('t:1', b'{"created_at":"2026-01-01T00:00:00Z","id":"t:1","source":"t"}', '88c67de07979c5fb91a37b667f80576a')
    >>> from archive.record import content_hash
    >>> h == content_hash(canon.decode())   # the hash the full path gives the same record
    True
    >>> check_line(b'{"id":"t:1","source":"t","created_at":"2026-01-01T00:00:00+00:00"}') is None  # not normal form
    True
    """
    try:
        r = _decode(raw)
    except (_Error, RecursionError):  # msgspec's nesting limit: the full path names the problem
        return None
    out = _encode(r)
    if len(out) > 2 * _MAX_DEPTH and out.count(b"{") + out.count(b"[") > _MAX_DEPTH:
        return None  # maybe nested deeper than the full path can write: it decides
    n = raw.count(b":")
    if b"\\u" in raw:
        n += raw.count(b"\\u003a") + raw.count(b"\\u003A")
    if n != out.count(b":"):
        return None  # a key given twice, or a top-level null the full path drops: it decides
    t = out.translate(_DIGITS)
    if _RUN19 in t or b"0e0" in t:
        return None
    rid = r.id
    if len(rid) > 1024 or not _id_ok(rid):
        return None
    parents = r.parents
    if parents:
        for p in parents:
            pid = p.id
            if len(pid) > 1024 or not _id_ok(pid):
                return None
    fetched = r.fetched_at
    if not _time_ok(r.created_at) or (fetched is not None and not _time_ok(fetched)):
        return None
    if redacted and rid in redacted:
        return None
    return r, out, _sha256(out).hexdigest()[:32]


def prepare(raw: bytes, redacted: Any = ()) -> tuple[str, tuple] | None:
    """``(hash, row)`` exactly as :func:`archive.ingest._prepare` gives it, or None: take the full path.

    (Ingest itself takes the columns straight from :func:`check_line`; this is the same
    row in the form the full path gives, what the property test compares.)

    >>> prepare(b'{"id":"t:1","source":"t","created_at":"2026-01-01T00:00:00Z","author":null}') is None
    True
    """
    got = check_line(raw, redacted)
    if got is None:
        return None
    r, out, h = got
    parents = r.parents
    m = r.metrics or {}
    mg = m.get
    return h, (r.id, r.source, r.created_at, r.fetched_at, r.author, r.title, r.prompt, r.style_tags,
               [(p.id, p.relation, p.evidence, p.confidence) for p in parents] if parents else None,
               mg("views"), mg("likes"), mg("remixes"), mg("comments"), r.license, out.decode(), h, False)
