"""Ingest's native engine: a whole batch of JSON lines checked, made canonical and hashed in C++.

:func:`check_lines` hands a list of JSON lines to ``archive/_ingest_native.cpp``. For each
line it parses (simdjson; Langdale & Lemire, "Parsing gigabytes of JSON per second", VLDB
Journal 28, 2019), checks the record schema in the normal form :func:`archive.record.check`
leaves a record in, writes the canonical JSON (sorted keys, no spaces, orjson's escapes and
float digits) and its SHA-256 (OpenSSL), and appends the row to Arrow column buffers. The
good lines come back as one Arrow table; the others are only flagged. It runs on two threads
when the machine has two cores, without the GIL.

It accepts a line only when it can prove the result is the one the full path
(:func:`archive.sources.jsonl.parse_record`, then :func:`archive.record.check`) gives, byte
for byte. What it leaves goes, in the order read, through the msgspec fast path
(:mod:`archive.ingest_fast`) and then the full checker, which gives every reason:

- anything not in normal form: an unknown top-level field, a ``null`` at the top level or in
  ``media``, ``parents`` or ``metrics``, a parent without all four fields, a time not written
  as :func:`archive.record.format_time` writes it, an id (its own or a parent's) breaking the
  id rule, a BOM, text that is not UTF-8 or not one JSON object;
- a key given twice anywhere;
- an integer of 19 digits or more (the full path keeps integers beyond 64 bits exact), a
  float below 1e-4 or from 1e16 up (where orjson writes an exponent), ``-0.0``;
- nesting deeper than 64.

A property test (``tests/test_ingest_native.py``) holds the engine to the full path on
generated good and bad lines, and the float digits to orjson's.

Examples
--------
>>> ok, t = check_lines([b'{"id":"t:1","source":"t","created_at":"2026-01-01T00:00:00Z","prompt":"a: b"}',
...                      b'{"id":"t:2","source":"t","created_at":"2026-01-01T00:00:00+00:00"}'])
>>> list(ok), t.num_rows, t.column("record")[0].as_py()
([1, 0], 1, '{"created_at":"2026-01-01T00:00:00Z","id":"t:1","prompt":"a: b","source":"t"}')
>>> from archive.record import content_hash
>>> t.column("content_hash")[0].as_py() == content_hash(t.column("record")[0].as_py())
True
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from archive import _ingest_native as _engine

__all__ = ["STRING_COLUMNS", "TIME_COLUMNS", "METRIC_COLUMNS", "check_lines", "threads"]

#: The string columns the engine returns, in its order (``record`` is the canonical JSON).
STRING_COLUMNS = ("id", "source", "author", "title", "prompt", "license", "record", "content_hash")
#: The times, as ``timestamp[us, UTC]`` (``fetched_at`` null when the record has none).
TIME_COLUMNS = ("created_at", "fetched_at")
#: The ``metrics`` counts kept as columns (int64, null when the record has none).
METRIC_COLUMNS = ("views", "likes", "remixes", "comments")
_PARENT = pa.struct([("id", pa.large_string()), ("relation", pa.large_string()), ("evidence", pa.large_string()),
                     ("confidence", pa.float64())])


def threads() -> int:
    """Threads the engine uses: 2 when this process may run on two cores or more, else 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return 2 if n >= 2 else 1


def _buf(b: Any) -> pa.Buffer | None:
    """An engine buffer as Arrow's (no copy); None (no validity bitmap: nothing missing) stays None."""
    return None if b is None else pa.py_buffer(b)


def _strings(bufs: tuple[Any, Any, Any], n: int) -> pa.Array:
    valid, offsets, data = bufs
    return pa.Array.from_buffers(pa.large_string(), n, [_buf(valid), _buf(offsets), _buf(data)])


def check_lines(lines: Sequence[bytes], n_threads: int | None = None) -> tuple[bytes, pa.Table]:
    """Check a batch of JSON lines: ``(ok, table)``.

    ``ok`` has one byte per line, 1 where the line is good and its row is in ``table``
    (the rows in the lines' order), 0 where the line is left to the Python paths.
    ``table`` has the :data:`STRING_COLUMNS` (large_string), the :data:`TIME_COLUMNS`
    (timestamp[us, UTC]), the :data:`METRIC_COLUMNS` (int64), ``style_tags`` (list of large_string, empty
    when absent) and ``parents`` (list of struct ``id, relation, evidence`` large_string,
    ``confidence`` float64; empty when absent). ``content_hash`` is 32 hex digits of the
    SHA-256 of ``record``, as :func:`archive.record.content_hash`.

    Raises ``TypeError`` when an item is not ``bytes``.
    """
    ok, rows, strs, times, ints, (tag_off, tags), (par_off, pid, rel, ev, conf) = _engine.check_lines(
        list(lines), n_threads or threads())
    cols: dict[str, pa.Array] = {k: _strings(b, rows) for k, b in zip(STRING_COLUMNS, strs)}
    for k, (valid, values) in zip(TIME_COLUMNS, times):
        cols[k] = pa.Array.from_buffers(pa.timestamp("us", "UTC"), rows, [_buf(valid), _buf(values)])
    for k, (valid, values) in zip(METRIC_COLUMNS, ints):
        cols[k] = pa.Array.from_buffers(pa.int64(), rows, [_buf(valid), _buf(values)])
    tag_off, par_off, conf = _buf(tag_off), _buf(par_off), _buf(conf)
    n_tags = int(np.frombuffer(tag_off, dtype=np.int32)[-1])
    cols["style_tags"] = pa.ListArray.from_buffers(pa.list_(pa.large_string()), rows, [None, tag_off],
                                                   children=[_strings(tags, n_tags)])
    n_par = conf.size // 8
    entries = pa.StructArray.from_arrays(
        [_strings(pid, n_par), _strings(rel, n_par), _strings(ev, n_par),
         pa.Array.from_buffers(pa.float64(), n_par, [None, conf])], fields=list(_PARENT))
    cols["parents"] = pa.ListArray.from_buffers(pa.list_(_PARENT), rows, [None, par_off], children=[entries])
    return ok, pa.table(cols)
