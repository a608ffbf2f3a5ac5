"""The ``jsonl`` source: remix records as JSON Lines from files, folders, gzip, stdin or a URL.

Lines are handed to the ingestor unparsed (it validates and quarantines), with
their location ``path:line``. Blank lines are skipped. A folder is read
recursively (``*.jsonl``, ``*.ndjson``, ``*.json`` and their ``.gz``), in name order.

What real tools write is read as they mean it:

- a UTF-8 byte-order mark at the start of a file (PowerShell, Notepad, Excel) is skipped;
  CRLF line ends are fine;
- a file holding one JSON array (``json.dump(records, f, indent=2)``), or one or more
  pretty-printed objects (``jq .``), is read as records: each element or object is one
  item, located at the line it starts on (such a file is read into memory whole);
- a truncated ``.gz`` (a download cut short) gives every complete line before the break;
  the cut last line goes to quarantine with the reason, and :attr:`JsonlSource.incomplete`
  says which file ended early and after how many lines (the CLI then exits non-zero);
- a CSV, TSV or Parquet file is refused before anything is read, with an error naming the
  ``table`` source (``archivist ingest table FILE --map ...``).

:func:`parse_record` is the strict parse the ingestor applies to every line:
duplicate keys in one object, lone surrogate escapes and integers beyond 64 bits
(kept exact) are found there, at the cost of one extra ``orjson.dumps`` per line.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.jsonl").write_bytes(b'\\xef\\xbb\\xbf{"id": "x:1"}\\r\\n\\r\\n{"id": "x:2"}\\r\\n')
>>> [(loc.rsplit("/", 1)[-1], raw) for loc, raw, _ in JsonlSource([str(d)]).items(None)]
[('a.jsonl:1', b'{"id": "x:1"}'), ('a.jsonl:3', b'{"id": "x:2"}')]
>>> _ = (d / "b.json").write_text('[\\n  {"id": "x:3"},\\n  {"id": "x:4"}\\n]\\n')
>>> [(loc.rsplit("/", 1)[-1], raw) for loc, raw, _ in JsonlSource([str(d / "b.json")]).items(None)]
[('b.json:2', b'{"id": "x:3"}'), ('b.json:3', b'{"id": "x:4"}')]
"""
from __future__ import annotations

import codecs
import gzip
import io
import json
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from archive.errors import SourceError

__all__ = ["JsonlSource", "expand_paths", "parse_record", "binary_kind", "SUFFIXES", "TABLE_SUFFIXES", "MAX_LINE"]

SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".parquet", ".pq", ".csv.gz", ".tsv.gz")
BOM = b"\xef\xbb\xbf"
GZIP = b"\x1f\x8b"
_CHUNK = 1 << 20
_WS = b" \t\r\n"
MAX_LINE = 64 << 20  # bytes in one JSON Lines line: the record format has no use for more

# Opening a URL is the HTTP client's job (archive.sources.http); it is looked up
# lazily so that reading local files never needs it.
UrlOpener = Callable[[str], BinaryIO]


# -- the strict parse of one record ----------------------------------------------------------------

_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_RUN19 = b"0" * 19  # 19 digits in a row: maybe an integer beyond 64 bits (orjson makes those floats)
_LONE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                   r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_I64 = (-(1 << 63), (1 << 63) - 1)
#: the deepest nesting a record may have (objects and arrays inside each other): what orjson, which
#: writes the canonical JSON that content hashes are made of, can write
MAX_DEPTH = 254
TOO_DEEP = (f"record: nested more than {MAX_DEPTH} levels deep (objects and arrays inside each other); "
            "flatten it before ingesting")


def _strict(raw: bytes | str) -> tuple[Any, list[str]]:
    """The slow, exact parse: every duplicate key, integers kept exact (stdlib json)."""
    dups: list[str] = []

    def pairs(kv: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in kv:
            if k in out and k not in dups:
                dups.append(k)
            out[k] = v
        return out

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    obj = json.loads(raw, object_pairs_hook=pairs, parse_constant=no_constant)
    reasons = [f"{k}: the key appears more than once in one object (which value is meant is ambiguous; "
               "the writer must give each key once)" for k in dups]
    if isinstance(obj, dict):
        reasons.extend(f"{path}: integer {str(v)[:30]} is beyond 64 bits (kept exact only inside `extra`)"
                       for path, v in _big_ints(obj, "") if not path.startswith("extra."))
    return obj, reasons


def _big_ints(obj: Any, path: str) -> Iterator[tuple[str, int]]:
    stack = [(path, obj)]
    while stack:
        p, o = stack.pop()
        if isinstance(o, dict):
            stack.extend((f"{p}.{k}" if p else str(k), v) for k, v in o.items())
        elif isinstance(o, list):
            stack.extend((f"{p}[{i}]", v) for i, v in enumerate(o))
        elif type(o) is int and not _I64[0] <= o <= _I64[1]:
            yield p, o


def _may_be_odd(raw: bytes, obj: Any) -> bool:
    """Cheap test for what orjson hides: a duplicate key (the text has more ``:`` outside and inside
    strings than the re-written value, whose keys and string contents are the same but one key
    fewer) or an integer beyond 64 bits (a run of 19 digits)."""
    return ((isinstance(obj, (dict, list)) and raw.count(b":") > orjson.dumps(obj).count(b":"))
            or _RUN19 in raw.translate(_DIGITS))


def parse_error_reason(raw: bytes | str, error: Exception) -> str:
    """The quarantine reason for a line orjson refused, in words that say what to fix.

    >>> parse_error_reason(b'{"p": "\\\\ud83d!"}', orjson.JSONDecodeError("no low surrogate", "", 0))
    'not text: a lone surrogate escape \\\\ud83d (half of a UTF-16 pair, e.g. a cut emoji) at character 7; the writer broke the text'
    >>> parse_error_reason(b'{"p": "\\xff"}', orjson.JSONDecodeError("str is not valid UTF-8", "", 0))
    'line is not valid UTF-8 text (save the file as UTF-8)'
    """
    msg = str(error)
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
    lone = _LONE.search(text)
    if lone is not None and "surrogate" in msg.lower():
        return (f"not text: a lone surrogate escape {lone.group(0)} (half of a UTF-16 pair, e.g. a cut emoji) "
                f"at character {lone.start()}; the writer broke the text")
    if "utf-8" in msg.lower() or "surrogate" in msg.lower():
        return "line is not valid UTF-8 text (save the file as UTF-8)"
    return f"not JSON: {msg}"


def parse_record(raw: bytes | str) -> tuple[Any, list[str]]:
    """Parse one JSON text strictly: ``(value, [])``, or ``(None, reasons)`` for what is refused.

    Fast path ``orjson.loads``; the exact (slower) parse runs only when the line may
    hold an integer beyond 64 bits (19 or more digits in a row) or may have lost a
    duplicate key (more ``:`` in the text than in the parsed value written again).
    A BOM at the start is skipped.

    >>> parse_record(b'{"id": "t:1", "extra": {"n": 123456789012345678901234567890}}')[0]["extra"]["n"]
    123456789012345678901234567890
    >>> parse_record(b'{"id": "t:1", "id": "t:2"}')[1]
    ['id: the key appears more than once in one object (which value is meant is ambiguous; the writer must give each key once)']
    >>> parse_record(BOM + b'{"a": 1}')
    ({'a': 1}, [])
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if raw[:3] == BOM or raw[:1] == "\ufeff":
            return parse_record(raw[3:] if isinstance(raw, bytes) else raw[1:])
        return None, [parse_error_reason(raw, e)]
    b = raw if type(raw) is bytes else str(raw).encode("utf-8", "surrogatepass")
    try:
        again = orjson.dumps(obj)
    except TypeError:  # orjson writes at most 254 levels: the record's canonical JSON could not be written
        return None, [TOO_DEEP]
    if (b.count(b":") > again.count(b":") and type(obj) in (dict, list)) or _RUN19 in b.translate(_DIGITS):
        try:
            obj, reasons = _strict(raw)
        except (ValueError, RecursionError) as e:
            return None, [f"not JSON: {e}"]
        if reasons:
            return None, reasons
    return obj, []


# -- reading files ---------------------------------------------------------------------------------


def expand_paths(paths: list[str]) -> list[str]:
    """Files, folders (recursively, name order), pipes (``<(zcat dump.gz)``), ``-`` for stdin and URLs,
    in the order given.

    A path that does not exist is an error that names it.
    """
    out: list[str] = []
    for p in paths:
        if p == "-" or p.startswith(("http://", "https://")):
            out.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            found = sorted(str(f) for f in path.rglob("*") if f.is_file() and f.name.lower().endswith(SUFFIXES))
            out.extend(found)
        elif path.exists():  # a file, or a pipe or device (``<(zcat dump.gz)``, ``/dev/stdin``): read once
            out.append(str(path))
        elif "://" in p:
            raise SourceError(f"{p}: only http:// and https:// URLs can be read")
        else:
            raise SourceError(f"{p}: no such file or folder")
    return out


def _stream(p: str) -> bool:
    """Whether ``p`` can be read only once: stdin (``-``), a URL, or a pipe or device such as the
    ``/dev/fd/63`` of ``<(zcat dump.gz)`` (its first bytes, once looked at, are gone).

    >>> _stream("-"), _stream("https://example.org/a.jsonl"), _stream("/dev/null"), _stream(__file__)
    (True, True, True, False)
    """
    return p == "-" or "://" in p or not Path(p).is_file()


def _open(p: str, url_opener: UrlOpener | None) -> BinaryIO:
    if p == "-":
        stream: BinaryIO = sys.stdin.buffer
    elif p.startswith(("http://", "https://")):
        if url_opener is None:
            from archive.sources.http import open_url  # the shared polite client

            url_opener = open_url
        stream = url_opener(p)
    else:
        stream = open(p, "rb")
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream)  # type: ignore[arg-type]
    if stream.peek(2)[:2] == GZIP:  # known by its content: a ``.gz`` name on plain text is read as text
        stream = gzip.GzipFile(fileobj=stream)  # type: ignore[assignment]
    utf = _utf_bom(stream.peek(4)[:4])
    if utf:  # UTF-16/32 with a BOM (PowerShell 5 `>` and `Out-File` write UTF-16): recoded to UTF-8
        return _Recoded(stream, utf)  # type: ignore[return-value]
    return stream


class _Recoded(codecs.StreamRecoder):
    """A byte stream in UTF-16/32 read as UTF-8 (``read1`` must recode too, not reach the raw stream)."""

    def __init__(self, stream: BinaryIO, encoding: str) -> None:
        info = codecs.lookup(encoding)
        utf8 = codecs.lookup("utf-8")
        super().__init__(stream, utf8.encode, utf8.decode, info.streamreader, info.streamwriter)

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)


def _utf_bom(head: bytes) -> str | None:
    """``"utf-16"`` or ``"utf-32"`` when ``head`` starts with that byte-order mark, else None.

    >>> _utf_bom(b"\\xff\\xfe{\\x00"), _utf_bom(b"\\xff\\xfe\\x00\\x00"), _utf_bom(b'{"id')
    ('utf-16', 'utf-32', None)
    """
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "utf-32"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    return None


def _head_text(head: bytes) -> bytes:
    """The first bytes of a file as UTF-8 (a UTF-16/32 head recoded, its cut last character dropped)."""
    utf = _utf_bom(head[:4])
    return head.decode(utf, "ignore").encode("utf-8") if utf else head


def _table_hint(p: str) -> str:
    remote = "://" in p or p == "-"  # `ingest table` reads local files: save the stream first
    how = "save it to a file and ingest that" if remote else "ingest it"
    return (f"{p} is a table (CSV, TSV or Parquet), not JSON Lines: {how} with "
            f"`archivist ingest table {'FILE' if remote else p} --map id=COLUMN,prompt=COLUMN,created_at=COLUMN` "
            "(add --dry-run to see the first mapped records)")


_MAGIC = ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"),
          (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip file (or an .xlsx/.docx document)"),
          (b"RIFF", "RIFF media (WebP, WAV or AVI)"), (b"\x1a\x45\xdf\xa3", "a WebM/Matroska video"))


def binary_kind(head: bytes) -> str | None:
    """What binary data ``head`` (the start of a file, decompressed) is, or None for text.

    >>> binary_kind(b"\\xff\\xd8\\xff\\xe0\\x00\\x10JFIF"), binary_kind(b"\\x00\\x00\\x00\\x20ftypisom")
    ('a JPEG image', 'an MP4/MOV video')
    >>> binary_kind(b'{"id": "x:1"}\\n'), binary_kind(b"id\\x00,\\x00")
    (None, 'binary data (NUL bytes), or UTF-16 text without a byte-order mark')
    """
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[4:8] == b"ftyp":
        return "an MP4/MOV video"
    if b"\x00" in head[:4096]:
        return "binary data (NUL bytes), or UTF-16 text without a byte-order mark"
    return None


def _binary_hint(p: str, kind: str) -> str:
    media = "image" in kind or "video" in kind or "PDF" in kind or "RIFF" in kind
    then = ("; media with Content Credentials are read by `archivist ingest c2pa`" if media
            else "; save it as UTF-8 JSON Lines")
    return f"{p} is {kind}, not JSON Lines text: nothing was read{then}"


def looks_like_table(head: bytes, name: str = "") -> bool:
    """True when the start of a file is a Parquet file or delimited text rather than JSON.

    >>> looks_like_table(b"id,prompt,created_at\\n1,a cat,2024-01-01\\n")
    True
    >>> looks_like_table(b'{"id": "x:1"}\\n'), looks_like_table(b"PAR1\\x15\\x04")
    (False, True)
    """
    if head.startswith(b"PAR1") or name.lower().endswith(TABLE_SUFFIXES):
        return True
    text = head[3:] if head.startswith(BOM) else head
    lines = [ln.strip(_WS) for ln in text.split(b"\n")[:3]]
    lines = [ln for ln in lines if ln]
    if not lines or any(ln[:1] in b"{[" for ln in lines):
        return False
    for sep in (b",", b"\t", b";"):
        n = lines[0].count(sep)
        if n >= 1 and all(ln.count(sep) >= 1 for ln in lines[1:-1] or lines):
            return True
    return False


class _Cut(Exception):
    def __init__(self, lines: int, fragment: bytes, error: BaseException) -> None:
        super().__init__(str(error))
        self.lines, self.fragment, self.error = lines, fragment, error


class _TooLong(bytes):
    """The first 200 bytes of a line longer than the line limit (the rest was read and dropped)."""


def _lines(stream: BinaryIO, max_line: int = MAX_LINE, runs: list[bool] | None = None) -> Iterator[bytes | list]:
    """The lines of ``stream`` (without their ends); a read error raises :class:`_Cut` holding what was read
    of the unfinished line and how many whole lines came before. A line longer than ``max_line`` bytes is
    never held whole: it comes as a :class:`_TooLong` of its first 200 bytes.

    While ``runs[0]`` is true, the whole lines of a chunk read (none longer than ``max_line``) come
    as one ``list`` of lines (blank ones included) instead of one by one.

    >>> [(type(x).__name__, bytes(x)) for x in _lines(io.BytesIO(b"ab\\nabcdefgh\\nc"), 4)]
    [('bytes', b'ab'), ('_TooLong', b'abcdefgh'), ('bytes', b'c')]
    >>> list(_lines(io.BytesIO(b"a\\nb\\n\\nc"), runs=[True]))
    [[b'a', b'b', b''], b'c']
    """
    read = getattr(stream, "read1", stream.read)
    pending: list[bytes] = []
    size = 0
    too_long: bytes | None = None  # the start of a line being skipped
    n = 0
    while True:
        try:
            chunk = read(_CHUNK)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise _Cut(n, b"".join(pending), e) from e
        if not chunk:
            break
        parts = chunk.split(b"\n")
        last = parts.pop()
        run: list[bytes] | None = None
        if runs is not None and runs[0] and len(parts) > 1 and too_long is None:
            k = 1 if pending else 0  # a first part that ends the line the last chunk began goes one by one
            if max(map(len, parts[k:])) <= max_line:
                parts, run = parts[:k], parts[k:]
        for part in parts:  # each ends a line
            n += 1
            if too_long is not None:
                yield _TooLong(too_long)
                too_long = None
            elif size + len(part) > max_line:
                yield _TooLong((b"".join(pending) + part)[:200])
            else:
                yield b"".join(pending) + part if pending else part
            pending, size = [], 0
        if run is not None:
            n += len(run)
            yield run
        if last and too_long is None:
            if size + len(last) > max_line:  # this line will not be held: keep its start, drop the rest
                too_long, pending, size = (b"".join(pending) + last)[:200], [], 0
            else:
                pending.append(last)
                size += len(last)
    if too_long is not None:
        yield _TooLong(too_long)
    elif pending:
        yield b"".join(pending)


class JsonlSource:
    """Read JSON Lines from ``paths`` (files, folders, ``-``, http(s) URLs); see the module docstring."""

    name = "jsonl"

    def __init__(self, paths: list[str], *, url_opener: UrlOpener | None = None, max_line: int = MAX_LINE) -> None:
        if not paths:
            raise SourceError("jsonl: give at least one file, folder, URL or - for stdin")
        self.max_line = max_line  # a longer line is quarantined by its start, never held whole
        self.paths = expand_paths(paths)
        self.target = " ".join(paths)
        self._url_opener = url_opener
        self.incomplete: list[str] = []  # files that ended early, in words
        self.warnings: list[str] = []
        for p in self.paths:  # refuse a table before anything is read
            if _stream(p):  # read once: looked at as it is read
                continue
            with open(p, "rb") as fh:
                head = fh.read(4096)
            if head[:2] == GZIP:
                try:
                    head = gzip.GzipFile(fileobj=io.BytesIO(head)).read1(4096)
                except (OSError, EOFError, zlib.error):
                    pass
            text = _head_text(head)
            kind = None if text.startswith(b"PAR1") else binary_kind(text)
            if kind:
                raise SourceError(_binary_hint(p, kind))
            if looks_like_table(text, p):
                raise SourceError(_table_hint(p))
        self.bytes_total = sum(Path(p).stat().st_size for p in self.paths if not _stream(p) and not p.endswith(".gz"))

    def items(self, cursor: str | None) -> Iterator[tuple[str, Any, None]]:
        """Yield ``(path:line, raw bytes, None)`` for every record; a cut line as a ``Bad``.

        Files are re-read whole on resume: the ingestor skips what is already stored.
        """
        return self._items(False)

    def runs(self, cursor: str | None) -> Iterator[tuple[str, Any, None]]:
        """:meth:`items`, with the plain lines of each chunk read handed over whole.

        Where :meth:`items` would yield one line after another, this yields
        ``(path:line, Lines(path, line, lines), None)`` for a run of them (blank lines
        included, their ends and surrounding blanks not stripped): what the ingestor's
        native engine checks a batch at a time. Everything else is as :meth:`items` gives it.
        """
        return self._items(True)

    def _items(self, runs: bool) -> Iterator[tuple[str, Any, None]]:
        for p in self.paths:
            try:
                stream = _open(p, self._url_opener)
            except (EOFError, zlib.error, gzip.BadGzipFile) as e:  # a gzip header that is not whole
                self.incomplete.append(f"{p}: nothing could be read from it ({e}); "
                                       "check that it is a whole gzip or JSON Lines file")
                continue
            try:
                yield from self._read(p, stream, runs)
            finally:
                if stream is not sys.stdin.buffer:
                    stream.close()

    def _read(self, p: str, stream: BinaryIO, runs: bool = False) -> Iterator[tuple[str, Any, None]]:
        from archive.ingest import Bad, Lines

        n = 0
        in_runs = [False]  # turned on once the first lines have said what the file is
        lines = _lines(stream, self.max_line, in_runs)
        sniff = _stream(p)  # local files were looked at before anything was read
        held: list[tuple[int, bytes]] = []
        first = True
        try:
            for line in lines:
                if type(line) is list:
                    yield (f"{p}:{n + 1}", Lines(p, n + 1, line), None)
                    n += len(line)
                    continue
                n += 1
                if isinstance(line, _TooLong):  # kept in quarantine by its start (and place), never whole
                    # its place is part of the raw text: two long lines that start alike are two records
                    yield (f"{p}:{n}", Bad(f"{p}:{n}: {bytes(line).decode('utf-8', 'backslashreplace')}…",
                                           [f"line longer than {self.max_line} bytes (the JSON Lines line "
                                            "limit); skipped"]), None)
                    first = False
                    in_runs[0] = runs and not sniff
                    continue
                if n == 1 and line.startswith(BOM):
                    line = line[3:]
                line = line.strip(_WS)
                if not line:
                    continue
                # a JSON document, not JSON Lines, is known by its first line only: a stray "[" or "{"
                # line further down is one bad line, not the start of a document swallowing the rest
                if first and (line[:1] == b"[" or line == b"{"):
                    yield from self._document(p, n, line, lines)
                    return
                if first and sniff and not line.startswith(b"PAR1") and binary_kind(line):
                    raise SourceError(_binary_hint(p, binary_kind(line) or ""))  # a stream, known by its start
                first = False
                if sniff:  # a stream: decide on its first two lines whether it is a table
                    held.append((n, line))
                    if len(held) < 2:
                        continue
                    sniff = False
                    if looks_like_table(b"\n".join(x for _, x in held) + b"\n"):
                        raise SourceError(_table_hint(p))
                    for m, x in held:
                        yield (f"{p}:{m}", x, None)
                    in_runs[0] = runs
                    continue
                in_runs[0] = runs
                yield (f"{p}:{n}", line, None)
            for m, x in held if sniff else ():
                yield (f"{p}:{m}", x, None)
        except _Cut as cut:
            if "://" in p:  # the network broke, not the file: fail the run; a rerun reads the URL again
                raise SourceError(f"{cut.error}; what was stored is kept: run the same command again to finish") \
                    from None
            for m, x in held if sniff else ():
                yield (f"{p}:{m}", x, None)
            done = cut.lines
            frag = cut.fragment.strip(_WS)
            if not done and not frag:
                self.incomplete.append(f"{p}: nothing could be read from it ({cut.error}); "
                                       "check that it is a whole gzip or JSON Lines file")
                return
            say = (f"{p}: ends early after line {done} ({cut.error}); the {done} complete line(s) before the "
                   "break were ingested")
            if frag:
                say += ", the cut line after them went to quarantine"
                yield (f"{p}:{done + 1}", Bad(frag.decode("utf-8", "backslashreplace"),
                                              [f"file: the file ends early inside this line ({cut.error}); "
                                               "get a whole copy of the file and ingest it again"]), None)
            self.incomplete.append(say + "; get a whole copy and ingest it again")

    def _document(self, p: str, first_line: int, head: bytes, rest: Iterator[bytes]) -> Iterator[tuple[str, Any, None]]:
        from archive.ingest import Bad

        body = head + b"\n" + b"\n".join(rest)
        text = body.decode("utf-8", "surrogateescape")
        dec = json.JSONDecoder()
        pos, end = 0, len(text)
        line_at = first_line
        counted = 0

        def line_of(i: int) -> int:
            nonlocal counted, line_at
            line_at += text.count("\n", counted, i)
            counted = i
            return line_at

        def skip(i: int, extra: str = "") -> int:
            while i < end and (text[i] in " \t\r\n" or text[i] in extra):
                i += 1
            return i

        pos = skip(pos)
        in_array = text.startswith("[")
        if in_array:
            pos = skip(pos + 1)
        while pos < end:
            if in_array and text[pos] == "]":
                pos = skip(pos + 1)
                in_array = text.startswith("[", pos)
                if in_array:
                    pos = skip(pos + 1)
                continue
            try:
                _, stop = dec.raw_decode(text, pos)
            except json.JSONDecodeError as e:
                where = line_of(pos)
                yield (f"{p}:{where}", Bad(text[pos:].encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"),
                                          [f"not JSON: {e.msg} (the rest of this JSON document from line {where} "
                                           "could not be read)"]), None)
                return
            yield (f"{p}:{line_of(pos)}", text[pos:stop].encode("utf-8", "surrogateescape"), None)
            pos = skip(stop, "," if in_array else "")
