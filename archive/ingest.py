"""Ingest: validate, deduplicate, batch and commit what a source yields.

A *source* yields items ``(location, payload, cursor)``: ``payload`` is JSON
text (``bytes`` or ``str``), an already parsed record (``dict``), a run of JSON
lines (:class:`Lines`) or a :class:`Bad` (something the source could not read
at all). The ingestor owns
the rest: every record is checked against the schema (every reason kept),
bad ones go to ``quarantine`` with their raw text, good ones are hashed and
those already in the log are counted as unchanged. Each batch is one atomic
Delta commit to ``records`` followed by a checkpoint row in ``runs``; a crash
leaves whole batches only, and a rerun skips what is already stored, so every
record ends up in the log exactly once. The counts always reconcile:
``read = stored + unchanged + quarantined``.

Examples
--------
>>> import tempfile
>>> from archive.store import Archive
>>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
>>> lines = [b'{"id":"t:1","source":"t","created_at":"2026-01-01T00:00:00Z"}', b'not json', b'{"id":3}']
>>> r = ingest_lines(a, lines, source="t")
>>> (r.read, r.stored, r.unchanged, r.quarantined)
(3, 1, 0, 2)
>>> ingest_lines(a, lines, source="t").unchanged   # re-ingesting changes nothing
1
>>> a.quarantine().sort("location")["reasons"].to_list()[1]
['id: must be a string like "<source>:<native id>", got int', 'source: required field is missing', 'created_at: required field is missing']
"""
from __future__ import annotations

import bisect
import gc
import hashlib
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, Union

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from archive.errors import ArchiveError, IngestError, StoreError
from archive.ingest_fast import check_line as _check_line
from archive.ingest_fast import prepare as _prepare_fast
from archive.record import EVIDENCE, KNOWN_FIELDS, MAX_COUNT, RELATIONS, canonical_json, check, content_hash, reduced
from archive.sources.jsonl import _WS, parse_record  # _WS: what JSON Lines strips around a line
from archive.store import QUARANTINE_SCHEMA, RECORD_SCHEMA, RUN_SCHEMA, Archive

__all__ = ["Bad", "Lines", "Source", "IngestResult", "ingest", "ingest_lines", "ingest_records", "DEFAULT_BATCH",
           "reconcile_runs"]

DEFAULT_BATCH = 100_000
_TIME_FMT = "%Y-%m-%dT%H:%M:%S%.fZ"
_KNOWN = frozenset(KNOWN_FIELDS)
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*:.", re.S)  # the record's id rule (the rest is "anything")
_NORMAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?Z\Z")
_dumps, _SORT_KEYS, _sha256 = orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.sha256
try:  # the native engine (archive/_ingest_native.cpp), built when the package is installed
    from archive import ingest_native as _native
except ImportError:  # not built (no compiler at install): the msgspec fast path takes every line
    _native = None  # type: ignore[assignment]
_PARENT_TYPE = pa.struct([("id", pa.string()), ("relation", pa.string()), ("evidence", pa.string()),
                          ("confidence", pa.float64())])


def _normal_time(v: Any) -> bool:
    """``v`` is a time exactly as :func:`archive.record.format_time` writes it (and the date exists)."""
    if type(v) is not str or not _NORMAL_TIME.match(v) or v.endswith(".000000Z"):
        return False
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


def _is_normal(rec: Any) -> bool:
    """True when :func:`archive.record.check` accepts ``rec`` and returns it unchanged.

    The fast path of ingest: such a record (every field known, none null, times
    and parents already in normal form) is its own normalized form, so the dict
    built by ``check`` is not needed. Anything else (and every record with a
    problem) goes through ``check``, which gives the reasons. A property test
    holds the two to the same answers.

    >>> _is_normal({"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z"})
    True
    >>> _is_normal({"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00+00:00"})
    False
    """
    if type(rec) is not dict or not _KNOWN.issuperset(rec):
        return False
    for v in rec.values():
        if v is None:
            return False
    rid, src = rec.get("id"), rec.get("source")
    if type(rid) is not str or len(rid) > 1024 or not _ID_RE.match(rid) or type(src) is not str or not src:
        return False
    if not _normal_time(rec.get("created_at")) or ("fetched_at" in rec and not _normal_time(rec["fetched_at"])):
        return False
    for key in ("author", "title", "prompt", "license"):
        if key in rec and type(rec[key]) is not str:
            return False
    parents = rec.get("parents")
    if parents is not None:
        if type(parents) is not list:
            return False
        for p in parents:
            if type(p) is not dict or len(p) != 4:
                return False
            pid, conf = p.get("id"), p.get("confidence")
            if (type(pid) is not str or len(pid) > 1024 or not _ID_RE.match(pid)  # a parent id is an id too
                    or type(conf) is not float or not 0.0 <= conf <= 1.0
                    or p.get("relation") not in RELATIONS or p.get("evidence") not in EVIDENCE):
                return False
    tags = rec.get("style_tags")
    if tags is not None and (type(tags) is not list or any(type(t) is not str for t in tags)):
        return False
    media = rec.get("media")
    if media is not None:
        if type(media) is not list:
            return False
        for m in media:
            if type(m) is not dict:
                return False
            for k in ("url", "sha256", "mime"):
                x = m.get(k)
                if x is not None and type(x) is not str:
                    return False
            for k in ("bytes", "duration_s", "width", "height"):
                x = m.get(k)
                if x is not None and (type(x) not in (int, float) or x < 0):
                    return False
    metrics = rec.get("metrics")
    if metrics is not None:
        if type(metrics) is not dict:
            return False
        for x in metrics.values():
            if x is not None and (type(x) is not int or x < 0 or x > MAX_COUNT):
                return False
    for key in ("consent", "provenance", "extra"):
        if key in rec and type(rec[key]) is not dict:
            return False
    return True


@dataclass(slots=True)
class Bad:
    """Something a source could not turn into a record: kept in quarantine with its reasons."""

    raw: str
    reasons: list[str]


@dataclass(frozen=True)
class Lines:
    """A run of JSON lines of one file, handed over whole (see :meth:`archive.sources.jsonl.JsonlSource.runs`).

    Line number ``first + i`` of ``path`` is ``lines[i]``, as read: blank lines included (they
    are skipped, not counted), ends and surrounding blanks not stripped.
    """

    path: str
    first: int
    lines: list[bytes]


Payload = Union[bytes, str, dict, Bad, Lines]
Item = tuple[str, Payload, Union[str, None]]


class Source(Protocol):
    """What a connector gives the ingestor.

    A source may also say what it could not read (``incomplete``: a list of sentences, e.g. a
    ``.gz`` cut short): the run is then recorded with status ``incomplete`` and those words as its error.
    A source of JSON lines may also have ``runs(cursor)``, yielding the same items except that
    plain lines come many at a time as a :class:`Lines` payload: the ingestor then uses it, and
    its native engine checks them a batch at a time (:class:`archive.sources.jsonl.JsonlSource`).
    """

    name: str
    target: str

    def items(self, cursor: str | None) -> Iterator[Item]:
        """Yield ``(location, payload, cursor)``; start after ``cursor`` when resuming."""
        ...


@dataclass
class IngestResult:
    """What one ingest run did: the counts reconcile, ``read = stored + unchanged + quarantined``.

    Attributes
    ----------
    run_id : str
        The run's id (a row of ``archivist runs``).
    source, target : str
        The connector's name and what it read (a path, a URL, a user name).
    read : int
        Records the source gave.
    stored : int
        Records new or changed, appended to the store.
    unchanged : int
        Records identical to what the store already holds (re-ingesting changes nothing).
    quarantined : int
        Records that broke the schema, kept in quarantine with every reason.
    commits : int
        Atomic batches written.
    store_version : int
        The store version after the run (``-1`` before the first commit).
    resumed_from : str or None
        The checkpoint an interrupted run was resumed from.
    status : str
        ``completed``, ``incomplete`` (the input was cut short), ``failed`` or ``interrupted``
        (``running`` while the run is in flight).
    error : str or None
        The one-line error a failed run stopped on.
    reasons : dict of str to int
        Quarantine reasons and how many records had each.

    Examples
    --------
    >>> r = IngestResult("run1", "jsonl", "a.jsonl", read=3, stored=2, quarantined=1)
    >>> r.reconciles, r.as_dict()["stored"]
    (True, 2)
    """

    run_id: str
    source: str
    target: str
    read: int = 0
    stored: int = 0
    unchanged: int = 0
    quarantined: int = 0
    commits: int = 0
    store_version: int = -1
    resumed_from: str | None = None
    status: str = "running"
    error: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready values (what ``--json`` prints)."""
        return asdict(self)

    @property
    def reconciles(self) -> bool:
        """``read == stored + unchanged + quarantined``: nothing was lost."""
        return self.read == self.stored + self.unchanged + self.quarantined


class _ListSource:
    def __init__(self, name: str, target: str, payloads: Iterable[Payload]) -> None:
        self.name, self.target, self._payloads = name, target, payloads

    def items(self, cursor: str | None) -> Iterator[Item]:
        for i, p in enumerate(self._payloads, 1):
            yield (f"{self.target}:{i}", p, None)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _raw_text(payload: Payload) -> str:
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "backslashreplace")
    if isinstance(payload, str):
        return payload
    if isinstance(payload, Bad):
        return payload.raw
    return canonical_json(payload)


def _canon_hash(norm: dict) -> tuple[str, str]:
    """:func:`archive.record.canonical_json` and :func:`archive.record.content_hash` in one step."""
    try:  # hash orjson's UTF-8 bytes directly, without the round trip through str
        cb = _dumps(norm, option=_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits and the like
        canon = canonical_json(norm)
        return canon, content_hash(canon)
    return cb.decode(), _sha256(cb).hexdigest()[:32]


def _prepare(payload: Payload, redacted: frozenset[str] = frozenset()) -> tuple[str, Any]:
    """Parse, check, canonicalise and hash one item: everything of ingest that needs no store state.

    Returns ``(raw, reasons)`` for a bad item, else ``(hash, row)``: ``hash`` is the content
    hash of the normalized record (what deduplication looks up first) and ``row`` the columns
    to store, ending with the canonical JSON, its hash and whether a redaction reduced it (a
    redacted post's content is never stored again: the row is then the reduced record's).

    >>> h, row = _prepare(b'{"id":"t:1","source":"t","created_at":"2026-01-01T00:00:00Z"}')
    >>> h == row[-2], row[0], row[-3]
    (True, 't:1', '{"created_at":"2026-01-01T00:00:00Z","id":"t:1","source":"t"}')
    >>> _prepare(b'{"id":3}')[1][0]
    'id: must be a string like "<source>:<native id>", got int'
    """
    if type(payload) is bytes:  # the compiled fast path; what it cannot prove good goes the full way
        fast = _prepare_fast(payload, redacted)
        if fast is not None:
            return fast
    return _prepare_full(payload, redacted)


def _prepare_full(payload: Payload, redacted: frozenset[str] = frozenset()) -> tuple[str, Any]:
    """:func:`_prepare` without the compiled fast path: the strict parse and the full checker.

    >>> _prepare_full(b'{"id":"t:1","id":"t:2"}')[1][0].startswith("id: the key appears more than once")
    True
    """
    if isinstance(payload, Bad):
        return payload.raw, list(payload.reasons)
    if isinstance(payload, dict):
        obj: Any = payload
    else:
        obj, bad = parse_record(payload)  # orjson, plus duplicate keys, lone surrogates, big integers
        if bad:
            return _raw_text(payload), bad
    if _is_normal(obj):
        norm = obj
    else:
        norm, reasons = check(obj)
        if norm is None:
            return _raw_text(payload), reasons
    canon, h = _canon_hash(norm)
    stored_h = h
    was_redacted = bool(redacted) and norm["id"] in redacted
    if was_redacted:  # whatever the source says now, a redacted post's content stays out
        norm = reduced(norm)
        canon = canonical_json(norm)
        stored_h = content_hash(canon)
    get = norm.get
    parents = get("parents")
    m = get("metrics") or {}
    mg = m.get
    return h, (norm["id"], norm["source"], norm["created_at"], get("fetched_at"), get("author"), get("title"),
               get("prompt"), get("style_tags"),
               [(p["id"], p["relation"], p["evidence"], p["confidence"]) for p in parents] if parents else None,
               mg("views"), mg("likes"), mg("remixes"), mg("comments"), get("license"), canon, stored_h, was_redacted)


class _Batch:
    """Column lists for one batch of valid records, and the quarantined ones."""

    def __init__(self, redacted: frozenset[str] = frozenset()) -> None:
        self.redacted = redacted  # ids whose content a redaction removed: never stored again
        self.redacted_rows: list[bool] = []
        self.cols: dict[str, list] = {k: [] for k in RECORD_SCHEMA
                                      if k not in ("run_id", "ingested_at", "redacted", "parents", "style_tags")}
        self.p_offsets: list[int] = [0]  # the parents column, flat: one run of entries per record
        self.t_offsets: list[int] = [0]  # the style_tags column, flat
        self.tags: list[str] = []
        self.p_cols: tuple[list, list, list, list] = ([], [], [], [])
        self.hashes: set[str] = set()
        self.bad: list[tuple[str, str, list[str]]] = []
        self.read = 0
        self.unchanged = 0
        self.cursor: str | None = None
        c = self.cols  # bound appends: the per-record loop is the hot path
        self._id, self._source, self._created_at = c["id"].append, c["source"].append, c["created_at"].append
        self._fetched_at, self._author, self._title = c["fetched_at"].append, c["author"].append, c["title"].append
        self._prompt, self._license, self._record = c["prompt"].append, c["license"].append, c["record"].append
        self._hash = c["content_hash"].append
        self._views, self._likes = c["views"].append, c["likes"].append
        self._remixes, self._comments = c["remixes"].append, c["comments"].append
        # JSON lines wait here for the native engine, which checks them a batch at a time
        self.pending: list[bytes] = []
        self.pending_at: list[tuple[int, str | Lines, int]] = []  # (first pending index, location or run, offset)
        self.native: list[tuple[pa.Table, np.ndarray, np.ndarray]] = []  # the engine's rows, those kept, their positions
        self.positions: list[int] = []  # each Python-path row's position among the batch's items

    def size(self) -> int:
        """Items added so far, checked or waiting."""
        return self.read + len(self.pending)

    def add(self, location: str, payload: Payload, known: set[str]) -> None:
        if type(payload) is bytes and _native is not None:
            self.pending_at.append((len(self.pending), location, 0))
            self.pending.append(payload)
            return
        if type(payload) is Lines:
            self.add_lines(payload, 0, len(payload.lines), known)
            return
        if self.pending:
            self.settle(known)  # every earlier line first: deduplication keeps the first of equal records
        before, pos = len(self.cols["id"]), self.read
        if type(payload) is bytes:
            self.add_raw(location, payload, known)
        else:
            self.add_prepared(location, _prepare(payload, self.redacted), known)
        if len(self.cols["id"]) > before:
            self.positions.append(pos)

    def add_lines(self, run: Lines, lo: int, hi: int, known: set[str]) -> None:
        """Add lines ``lo:hi`` of a run (blank ones are skipped when checked, and not counted)."""
        if _native is not None:
            self.pending_at.append((len(self.pending), run, lo))
            self.pending.extend(run.lines[lo:hi])
            return
        for i in range(lo, hi):
            line = run.lines[i].strip(_WS)
            if line:
                self.add(f"{run.path}:{run.first + i}", line, known)

    def _location(self, i: int) -> tuple[str, bool]:
        """The location of waiting line ``i``, and whether it came in a run of lines."""
        at = self.pending_at
        k = bisect.bisect_right(at, i, key=lambda x: x[0]) - 1
        start, where, offset = at[k]
        if isinstance(where, str):
            return where, False
        return f"{where.path}:{where.first + offset + i - start}", True

    def settle(self, known: set[str], threads: int | None = None) -> None:
        """Check the waiting JSON lines: the native engine, then (for the lines it leaves) the Python paths.

        Lines are counted and deduplicated in the order read, as :meth:`add_raw` does one by one.
        """
        lines = self.pending
        if not lines:
            return
        assert _native is not None
        ok, table = _native.check_lines(lines, threads)
        hashes = table.column("content_hash").to_pylist()
        ids = table.column("id").to_pylist() if self.redacted else None
        first = self.read
        seen, redacted, cols_id = self.hashes, self.redacted, self.cols["id"]
        if ids is None and ok.count(1) == len(ok):  # every line good (the usual case): one pass over the hashes
            # a record already stored, or met earlier in the run, is unchanged; seen.add marks the first
            keep = np.fromiter((not (h in known or h in seen or seen.add(h)) for h in hashes), dtype=bool,
                               count=len(hashes))
            self.read += len(hashes)
            self.unchanged += len(hashes) - int(keep.sum())
            if keep.any():
                self.native.append((table, keep, np.arange(first, first + len(hashes))[keep]))
            self.pending, self.pending_at = [], []
            return
        keep = np.zeros(len(hashes), dtype=bool)
        j = 0
        for i, good in enumerate(ok):
            if good == 1:
                h = hashes[j]
                j += 1
                if ids is None or ids[j - 1] not in redacted:  # a redacted id: the full path reduces it
                    self.read += 1
                    if h in known or h in seen:
                        self.unchanged += 1
                    else:
                        seen.add(h)
                        keep[j - 1] = True
                    continue
            where, run = self._location(i)
            if run:  # a line of a run is stripped as JSON Lines strips it, and skipped if blank
                if good == 2:
                    continue
                raw = lines[i].strip(_WS)
            else:  # a line given on its own is taken as given (a blank one is a bad record)
                raw = lines[i]
            before, pos = len(cols_id), self.read
            self.add_raw(where, raw, known)
            if len(cols_id) > before:
                self.positions.append(pos)
        if keep.any():
            # the position among the batch's items of each line the engine took (a blank line of a run
            # is no item; one given on its own is, a bad one)
            status = np.frombuffer(ok, dtype=np.uint8)
            is_item = status != 2
            for i in np.flatnonzero(~is_item):
                is_item[i] = not self._location(int(i))[1]
            item = np.cumsum(is_item) - 1 + first
            self.native.append((table, keep, item[status == 1][keep]))
        self.pending, self.pending_at = [], []

    def add_raw(self, location: str, raw: bytes, known: set[str]) -> None:
        """Count and keep one JSON line: the compiled fast path, else the full checker (as :func:`_prepare`).

        The fast path's record goes straight into the columns (no row tuple in between).
        """
        got = _check_line(raw, self.redacted)
        if got is None:
            self.add_prepared(location, _prepare_full(raw, self.redacted), known)
            return
        r, canon, h = got
        self.read += 1
        if h in known or h in self.hashes:
            self.unchanged += 1
            return
        self.hashes.add(h)
        self._id(r.id)
        self._source(r.source)
        self._created_at(r.created_at)
        self._fetched_at(r.fetched_at)
        self._author(r.author)
        self._title(r.title)
        self._prompt(r.prompt)
        tags = r.style_tags
        if tags:
            self.tags.extend(tags)
        self.t_offsets.append(len(self.tags))
        parents = r.parents
        if parents:
            pid, rel, ev, conf = self.p_cols
            for p in parents:
                pid.append(p.id)
                rel.append(p.relation)
                ev.append(p.evidence)
                conf.append(p.confidence)
        self.p_offsets.append(len(self.p_cols[0]))
        m = r.metrics
        if m:
            mg = m.get
            self._views(mg("views"))
            self._likes(mg("likes"))
            self._remixes(mg("remixes"))
            self._comments(mg("comments"))
        else:
            self._views(None)
            self._likes(None)
            self._remixes(None)
            self._comments(None)
        self._license(r.license)
        self._record(canon.decode())
        self._hash(h)
        self.redacted_rows.append(False)

    def add_prepared(self, location: str, prep: tuple, known: set[str]) -> None:
        """Count and keep one item as :func:`_prepare` left it (deduplication happens here, in order)."""
        self.read += 1
        h, row = prep
        if row is None or type(row) is list:  # bad: (raw, reasons)
            self.bad.append((location, h, row))
            return
        if h in known or h in self.hashes:  # a redacted row keeps its original hash: the same record is unchanged
            self.unchanged += 1
            return
        (rid, src, created, fetched, author, title, prompt, tags, parents, views, likes, remixes, comments,
         lic, canon, stored_h, was_redacted) = row
        if stored_h != h and (stored_h in known or stored_h in self.hashes):
            self.unchanged += 1
            return
        self.hashes.add(stored_h)
        self._id(rid)
        self._source(src)
        self._created_at(created)
        self._fetched_at(fetched)
        self._author(author)
        self._title(title)
        self._prompt(prompt)
        if tags:
            self.tags.extend(tags)
        self.t_offsets.append(len(self.tags))
        if parents:
            pid, rel, ev, conf = self.p_cols
            for p in parents:
                pid.append(p[0])
                rel.append(p[1])
                ev.append(p[2])
                conf.append(p[3])
        self.p_offsets.append(len(self.p_cols[0]))
        self._views(views)
        self._likes(likes)
        self._remixes(remixes)
        self._comments(comments)
        self._license(lic)
        self._record(canon)
        self._hash(stored_h)
        self.redacted_rows.append(was_redacted)

    def frame(self, run_id: str, at: datetime) -> pl.DataFrame:
        """The batch's stored rows (:data:`RECORD_SCHEMA`), in the order their items were read."""
        order = [c for c in RECORD_SCHEMA if c not in ("run_id", "ingested_at")]
        parts: list[pl.DataFrame] = []
        if self.cols["id"] or not self.native:
            parts.append(self._python_rows().with_columns(
                pl.col("created_at").str.to_datetime(_TIME_FMT, time_unit="us", time_zone="UTC"),
                pl.col("fetched_at").str.to_datetime(_TIME_FMT, time_unit="us", time_zone="UTC"),
            ).select(order))
        for table, keep, _ in self.native:
            df = pl.from_arrow(table)
            assert isinstance(df, pl.DataFrame)
            parts.append((df if keep.all() else df.filter(pl.Series(keep))).with_columns(
                redacted=pl.lit(False)).select(order))
        df = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical_relaxed")
        if self.cols["id"] and self.native:  # both paths kept rows: back into the order read
            pos = np.concatenate([np.asarray(self.positions, dtype=np.int64)] + [p for _, _, p in self.native])
            df = df.with_columns(_pos=pl.Series(pos)).sort("_pos").drop("_pos")
        return df.with_columns(
            run_id=pl.lit(run_id, pl.String), ingested_at=pl.lit(at, pl.Datetime("us", "UTC")),
        ).select(list(RECORD_SCHEMA)).cast(RECORD_SCHEMA)  # type: ignore[arg-type]

    def _python_rows(self) -> pl.DataFrame:
        """The rows the Python paths kept (times still text)."""
        # columns go through Arrow arrays: one typed pass per column, nulls included
        arrow = {pl.String: pa.string(), pl.Int64: pa.int64()}
        cols: dict[str, Any] = {}
        for k, v in self.cols.items():
            dt = pl.String if k in ("created_at", "fetched_at") else RECORD_SCHEMA[k]
            cols[k] = pa.array(v, arrow[dt])
        pid, rel, ev, conf = self.p_cols
        entries = pa.StructArray.from_arrays(
            [pa.array(pid, pa.string()), pa.array(rel, pa.string()), pa.array(ev, pa.string()),
             pa.array(conf, pa.float64())], fields=list(_PARENT_TYPE))
        cols["parents"] = pa.ListArray.from_arrays(pa.array(self.p_offsets, pa.int32()), entries)
        cols["style_tags"] = pa.ListArray.from_arrays(pa.array(self.t_offsets, pa.int32()),
                                                      pa.array(self.tags, pa.string()))
        df = pl.from_arrow(pa.table(cols))
        assert isinstance(df, pl.DataFrame)
        return df.with_columns(redacted=pl.Series(self.redacted_rows, dtype=pl.Boolean))


def _raw_hash(source: str, raw: str) -> str:
    return hashlib.sha256(f"{source}\0{raw}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


#: Keys of a records commit's metadata: the run that wrote it, and the cursor after its batch.
RUN_KEY = "remix_archivist.run_id"
CURSOR_KEY = "remix_archivist.cursor"


def _resume_cursor(archive: Archive, source: str, target: str) -> str | None:
    """The cursor of the last committed batch of an interrupted run of the same source and target.

    Only rows written since the last completed run count: a run that stopped before its
    first commit resumes where the run before it had committed, never from a cursor of an
    earlier, completed crawl. Every row a run writes (``running``, ``checkpoint``,
    ``failed``, ``interrupted``) holds the cursor of its last *committed* batch, so
    resuming never skips a record that was read but not stored.
    """
    runs = archive.read_table("runs", schema=RUN_SCHEMA)
    if runs.height == 0:
        return None
    mine = runs.filter(pl.col("source") == source, pl.col("target") == target).sort("at")
    if mine.height == 0 or mine.get_column("status")[-1] == "completed":
        return None
    done = mine.with_row_index("_i").filter(pl.col("status") == "completed").get_column("_i")
    if done.len():
        mine = mine.slice(int(done[-1]) + 1)
    cur = mine.filter(pl.col("cursor").is_not_null()).get_column("cursor")
    return cur[-1] if cur.len() else None


def _reduce_redacted(df: pl.DataFrame, redacted: frozenset[str]) -> pl.DataFrame:
    """Rows of posts redacted while this run was reading: their content goes, as :func:`_prepare` does."""
    hit = df.get_column("id").is_in(pl.Series(list(redacted), dtype=pl.String).implode())
    if not redacted or not hit.any():
        return df
    def reduce(row: dict) -> dict:
        canon = canonical_json(reduced(orjson.loads(row["record"])))
        return {**row, "author": None, "title": None, "prompt": None, "style_tags": [], "record": canon,
                "content_hash": content_hash(canon), "redacted": True}
    fixed = pl.DataFrame([reduce(r) for r in df.filter(hit).iter_rows(named=True)], schema=df.schema)
    return pl.concat([df.filter(~hit), fixed])


def reconcile_runs(archive: Archive) -> pl.DataFrame:
    """Make the runs ledger account for every stored row; returns the rows it added.

    A run commits a batch to ``records`` and then a checkpoint to ``runs``: two Delta
    tables, two commits. A run killed between the two (or whose checkpoint a full disk
    refused) has rows in the log its last ``runs`` row does not count. For each such
    run a row is added with the counts raised by the difference (same status, ``error``
    saying so), so ``stored`` per run matches the log again, and with the cursor of the run's
    last records commit (kept in that commit's metadata, :data:`CURSOR_KEY`), so the rerun
    resumes after the batch it stored instead of reading it again.
    Ingest calls this under the writer lock before it starts (when no other run can be
    between its two commits), and resumes from the ledger it leaves.

    Examples
    --------
    >>> import tempfile
    >>> from archive.store import Archive
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> r = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z"}])
    >>> reconcile_runs(a).height     # every row accounted for
    0
    """
    runs = archive.read_table("runs", schema=RUN_SCHEMA)
    if runs.height == 0:
        return runs
    logged = archive.records(columns=["run_id"]).group_by("run_id").agg(pl.len().cast(pl.Int64).alias("_n"))
    last = runs.sort(["run_id", "at"]).group_by("run_id", maintain_order=True).last()
    short = last.join(logged, on="run_id", how="inner").filter(pl.col("_n") > pl.col("stored"))
    if short.height == 0:
        return short.drop("_n")
    # the cursor of each such run's last records commit (kept in the commit itself): where it resumes
    last_cursor: dict[str, str] = {}
    for h in archive.commit_metadata_history("records", RUN_KEY):  # newest first
        rid = h[RUN_KEY]
        if rid not in last_cursor and CURSOR_KEY in h:
            last_cursor[rid] = h[CURSOR_KEY]
    fix = short.with_columns(
        (pl.col("read") + pl.col("_n") - pl.col("stored")).alias("read"),
        pl.col("_n").alias("stored"),
        pl.lit(_now()).cast(RUN_SCHEMA["at"]).alias("at"),
        pl.col("run_id").replace_strict(last_cursor, default=pl.col("cursor"), return_dtype=pl.String)
        .alias("cursor"),
        pl.format("reconciled: {} stored row(s) were committed after the last checkpoint of this run",
                  pl.col("_n") - pl.col("stored")).alias("error"),
    ).drop("_n").select(list(RUN_SCHEMA)).cast(RUN_SCHEMA)  # type: ignore[arg-type]
    archive.append("runs", fix)
    return fix


def ingest(
    archive: Archive,
    source: Source,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
    resume: bool = True,
) -> IngestResult:
    """Run one ingest of ``source`` into ``archive`` and return its counts.

    ``progress`` is called with the number of items read so far after each batch.
    With ``resume`` (the default) a source that gives cursors starts after the last
    committed cursor of an interrupted run of the same source and target. A run's
    cursor advances only with the commit that stores its batch: a run that fails
    (status ``failed``) or is stopped with Ctrl-C (status ``interrupted``) records the
    cursor of its last committed batch, so the rerun reads the uncommitted items again.
    JSON lines are checked a batch at a time by the native engine (:mod:`archive.ingest_native`),
    and a full batch is committed on a thread of its own while the next one is read and checked
    (one batch in flight at most; the Parquet write holds no GIL).
    """
    if batch_size < 1:
        raise IngestError("batch size must be at least 1")
    run_id = uuid.uuid4().hex[:16]
    started = _now()
    with archive.writing():  # one consistent look at the store (no commit in between), the ledger made whole
        known, seen_files = archive.hashes_since(set())
        reconcile_runs(archive)
        cursor = _resume_cursor(archive, source.name, source.target) if resume else None
        redacted = archive.redacted_ids()
        quarantined_before = set(archive.quarantine().get_column("raw_hash").to_list())
        q_version = [archive.table_version("quarantine")]
        r_version = [archive.table_version("redactions")]
    result = IngestResult(run_id=run_id, source=source.name, target=source.target, resumed_from=cursor)

    def run_row(status: str, cur: str | None, error: str | None = None) -> pl.DataFrame:
        return pl.DataFrame(
            [{"run_id": run_id, "source": source.name, "target": source.target, "status": status,
              "started_at": started, "at": _now(), "read": result.read, "stored": result.stored,
              "unchanged": result.unchanged, "quarantined": result.quarantined, "cursor": cur,
              "store_version": archive.version(), "error": error}],
            schema=RUN_SCHEMA,
        )

    committed = cursor  # the cursor of the last committed batch (what a rerun resumes after)
    others: set[str] = set()  # content hashes other writers committed while this run went on

    committing: list[threading.Thread] = []  # the full batch being committed while the next one is read
    failed: list[BaseException] = []

    def settled() -> None:
        """Wait for the batch being committed; its failure is the run's."""
        while committing:
            committing.pop().join()
        if failed:
            raise failed.pop()

    def commit_locked(batch: _Batch) -> None:
        with archive.writing():  # dedup, commit and checkpoint as one step: no other writer in between
            commit_batch(batch)

    def in_background(batch: _Batch) -> None:
        try:
            commit_locked(batch)
        except BaseException as e:  # a Ctrl-C or a store error: raised again where the run waits for it
            failed.append(e)

    def settle(batch: _Batch) -> None:
        # the waiting lines checked (outside the lock: no store read), on one thread while the
        # last batch is being written (the write is the longer step: it keeps a core to itself)
        batch.settle(known, 1 if committing and committing[0].is_alive() else None)

    def full(batch: _Batch) -> bool:
        """Whether the batch holds ``batch_size`` items. The blank lines of a run wait with the
        others but are no item: when they may be what fills it, the waiting lines are checked first."""
        if batch.size() >= batch_size and batch.pending:
            settle(batch)
        return batch.size() >= batch_size

    def flush(batch: _Batch, *, last: bool = False) -> None:
        settle(batch)
        settled()  # one batch in flight at most: its cursor is the run's until it lands
        if last:
            commit_locked(batch)
            return
        # The Parquet write holds no GIL: the next batch is read and checked while this one is
        # written. It deduplicates against this one's records, stored or about to be.
        known.update(batch.hashes)
        t = threading.Thread(target=in_background, args=(batch,), name="ingest-commit", daemon=True)
        committing.append(t)
        t.start()

    def commit_batch(batch: _Batch) -> None:
        nonlocal seen_files, committed
        at = _now()
        df = batch.frame(run_id, at)
        # Exactly once under concurrent writers: what others committed since we last looked is
        # read now, under the writer lock, and this batch's rows already there are unchanged.
        theirs, seen_files = archive.hashes_since(seen_files)
        late = 0
        if theirs:
            known.update(theirs)
            others.update(theirs)
        if others and df.height:
            # Everything others stored during this run, not only since the last look: this batch was
            # checked against `known` while the batch before it was committing, so what that commit
            # learnt from others may be missing from its deduplication.
            keep = ~df.get_column("content_hash").is_in(pl.Series(list(others), dtype=pl.String).implode())
            late = df.height - int(keep.sum())
            df = df.filter(keep) if late else df
        batch.unchanged += late
        if df.height and archive.table_version("redactions") != r_version[0]:  # a redaction ran meanwhile
            r_version[0] = archive.table_version("redactions")
            df = _reduce_redacted(df, archive.redacted_ids())
        if batch.bad and archive.table_version("quarantine") != q_version[0]:  # others quarantined meanwhile
            q_version[0] = archive.table_version("quarantine")
            quarantined_before.update(archive.quarantine().get_column("raw_hash").to_list())
        if df.height:
            # the batch's cursor rides in the same atomic commit as its records: a run stopped before
            # its checkpoint row is still resumed after this batch (reconcile_runs reads it back)
            meta = {RUN_KEY: run_id} | ({CURSOR_KEY: batch.cursor} if batch.cursor is not None else {})
            result.store_version = archive.append("records", df, metadata=meta)
            result.commits += 1
            known.update(batch.hashes)
            seen_files = archive.hashes_since(seen_files, read=False)[1]  # our own: no one else committed since
        q = []
        for loc, raw, reasons in batch.bad:
            rh = _raw_hash(source.name, raw)
            for r in reasons:
                key = r.split(":", 1)[0]
                result.reasons[key] = result.reasons.get(key, 0) + 1
            if rh in quarantined_before:
                continue
            quarantined_before.add(rh)
            q.append({"run_id": run_id, "source": source.name, "location": loc, "raw": raw,
                      "raw_hash": rh, "reasons": reasons, "quarantined_at": at})
        if q:
            q_version[0] = archive.append("quarantine", pl.DataFrame(q, schema=QUARANTINE_SCHEMA))
        result.read += batch.read
        result.stored += df.height
        result.unchanged += batch.unchanged
        result.quarantined += len(batch.bad)
        if batch.cursor is not None:
            committed = batch.cursor
        archive.append("runs", run_row("checkpoint", committed))
        if progress is not None:
            progress(result.read)

    archive.append("runs", run_row("running", cursor))
    batch = _Batch(redacted)
    # Parsed records are acyclic and short-lived: reference counting frees them. The cyclic
    # collector would only rescan the growing batch again and again (a third of the time).
    gc_was = gc.isenabled()
    gc.disable()
    try:
        items = getattr(source, "runs", None) if _native is not None else None  # plain lines handed over whole
        for location, payload, cur in (items or source.items)(cursor):
            if type(payload) is Lines:  # cut at the batch size, as single lines are
                lo, n = 0, len(payload.lines)
                while lo < n:
                    hi = min(n, lo + batch_size - batch.size())
                    batch.add_lines(payload, lo, hi, known)
                    lo = hi
                    if full(batch):
                        flush(batch)
                        batch = _Batch(redacted)
                continue
            batch.add(location, payload, known)  # a JSON line takes the native engine, or the compiled fast path
            if cur is not None:
                batch.cursor = cur
            if full(batch):
                flush(batch)
                batch = _Batch(redacted)
        settled()
        if batch.size() or result.read == 0:
            flush(batch, last=True)
    except BaseException as e:  # record the failure, keep what was committed, re-raise
        try:
            settled()  # the batch being committed lands (or fails) before the run's last row says where it stands
        except BaseException:
            pass
        # the batch in flight was never committed: the run's cursor stays at the last commit
        if isinstance(e, KeyboardInterrupt):
            result.status, result.error = "interrupted", "interrupted (Ctrl-C) before the batch in flight was stored"
        else:
            result.status, result.error = "failed", f"{type(e).__name__}: {e}"
        try:
            archive.append("runs", run_row(result.status, committed, result.error))
        except ArchiveError:
            pass  # a full disk refuses the ledger row too: the next run reconciles it (reconcile_runs)
        if isinstance(e, StoreError):
            raise IngestError(f"{e} ({result.stored:,} record(s) of this run committed before it stopped)") from None
        raise
    finally:
        if gc_was:
            gc.enable()
    incomplete = getattr(source, "incomplete", None)  # a source that could not read all there was says so
    result.status, result.error = ("incomplete", "; ".join(incomplete)) if incomplete else ("completed", None)
    result.store_version = archive.version()
    archive.append("runs", run_row(result.status, None, result.error))
    assert result.reconciles, result
    return result


def ingest_lines(archive: Archive, lines: Iterable[bytes | str], *, source: str = "jsonl",
                 target: str = "<lines>", **kw: Any) -> IngestResult:
    """Ingest JSON texts, one record each (a convenience over :func:`ingest`)."""
    return ingest(archive, _ListSource(source, target, lines), **kw)


def ingest_records(archive: Archive, records: Iterable[dict], *, source: str = "python",
                   target: str = "<records>", **kw: Any) -> IngestResult:
    """Ingest parsed records (dicts) (a convenience over :func:`ingest`)."""
    return ingest(archive, _ListSource(source, target, records), **kw)
