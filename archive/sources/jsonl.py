"""The ``jsonl`` source: remix records as JSON Lines from files, folders, gzip, stdin or a URL.

Lines are handed to the ingestor unparsed (it validates and quarantines), with
their location ``path:line``. Blank lines are skipped. A folder is read
recursively (``*.jsonl``, ``*.ndjson``, ``*.json`` and their ``.gz``), in name order.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.jsonl").write_text('{"id": "x:1"}\\n\\n{"id": "x:2"}\\n')
>>> [(loc.rsplit("/", 1)[-1], raw) for loc, raw, _ in JsonlSource([str(d)]).items(None)]
[('a.jsonl:1', b'{"id": "x:1"}'), ('a.jsonl:3', b'{"id": "x:2"}')]
"""
from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from archive.errors import SourceError
from archive.ingest import Bad

__all__ = ["JsonlSource", "expand_paths", "SUFFIXES", "MAX_LINE"]

SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")

MAX_LINE = 64 << 20  # bytes in one JSON Lines line: the record format has no use for more

# Opening a URL is the HTTP client's job (archive.sources.http); it is looked up
# lazily so that reading local files never needs it.
UrlOpener = Callable[[str], BinaryIO]


def expand_paths(paths: list[str]) -> list[str]:
    """Files, folders (recursively, name order), ``-`` for stdin and URLs, in the order given.

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
        elif path.is_file():
            out.append(str(path))
        elif "://" in p:
            raise SourceError(f"{p}: only http:// and https:// URLs can be read")
        else:
            raise SourceError(f"{p}: no such file or folder")
    return out


def _open(p: str, url_opener: UrlOpener | None) -> BinaryIO:
    if p == "-":
        stream: BinaryIO = sys.stdin.buffer
    elif p.startswith(("http://", "https://")):
        if url_opener is None:
            from archive.sources.http import open_url  # the shared polite client

            url_opener = open_url
        return url_opener(p)  # the client inflates gzip itself, within its size and ratio caps
    else:
        stream = open(p, "rb")
    head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    if p.endswith(".gz") or head == b"\x1f\x8b":
        if not hasattr(stream, "peek"):
            stream = io.BufferedReader(stream)  # type: ignore[arg-type]
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


def _lines(stream: BinaryIO, max_line: int) -> Iterator[tuple[int, bytes, bool]]:
    """``(line number, line, too long)`` holding at most ``max_line`` bytes; a longer line gives its first 200 bytes.

    >>> list(_lines(io.BytesIO(b"ab\\nabcdefgh\\nc"), 4))
    [(1, b'ab\\n', False), (2, b'abcde', True), (3, b'c', False)]
    """
    n = 0
    while line := stream.readline(max_line + 1):
        n += 1
        if len(line) > max_line and not line.endswith(b"\n"):
            head = line[:200]
            while line and not line.endswith(b"\n"):  # skip the rest of it, a bounded piece at a time
                line = stream.readline(1 << 20)
            yield n, head, True
        else:
            yield n, line, False


class JsonlSource:
    """Read JSON Lines from ``paths`` (files, folders, ``-``, http(s) URLs).

    A line longer than ``max_line`` bytes (64 MiB) is not held in memory: it is
    quarantined with that reason and reading goes on after it.
    """

    name = "jsonl"

    def __init__(self, paths: list[str], *, url_opener: UrlOpener | None = None, max_line: int = MAX_LINE) -> None:
        if not paths:
            raise SourceError("jsonl: give at least one file, folder, URL or - for stdin")
        self.max_line = max_line
        self.paths = expand_paths(paths)
        self.target = " ".join(paths)
        self._url_opener = url_opener
        self.bytes_total = sum(Path(p).stat().st_size for p in self.paths
                               if p != "-" and "://" not in p and not p.endswith(".gz"))

    def items(self, cursor: str | None) -> Iterator[tuple[str, bytes | Bad, None]]:
        # Files are re-read whole on resume: the ingestor skips what is already stored.
        for p in self.paths:
            stream = _open(p, self._url_opener)
            try:
                try:
                    for n, line, too_long in _lines(stream, self.max_line):
                        if too_long:  # kept in quarantine by its start (and place), never whole
                            raw = f"{p}:{n}: {line.decode('utf-8', 'backslashreplace')}…"
                            yield (f"{p}:{n}", Bad(raw, [f"line longer than {self.max_line} bytes (the JSON Lines "
                                                         "line limit); skipped"]), None)
                            continue
                        line = line.strip()
                        if line:
                            yield (f"{p}:{n}", line, None)
                except (OSError, EOFError, gzip.BadGzipFile) as e:
                    raise SourceError(f"{p}: cannot be read to the end ({e}); what came before was ingested") from e
            finally:
                if stream is not sys.stdin.buffer:
                    stream.close()
