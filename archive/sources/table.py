"""The ``table`` source: prompt datasets in CSV, TSV or Parquet, mapped column by column.

Prompt datasets (DiffusionDB-like metadata, krea-like dumps, a spreadsheet someone
kept) are tables, not remix records. A column map names which column gives which
field of the record::

    id=image_name,prompt=prompt,created_at=timestamp,author=user_name,parent=remix_of

Fields that can be mapped (:data:`FIELDS`): ``id`` (required), ``created_at``
(required: the record format needs a time), ``prompt``, ``title``, ``author``,
``parent`` (the id, in the same table, of the row it was remixed from: a declared
``remix`` edge), ``url`` (a media link) and ``license``. Every column not mapped is
kept verbatim in ``extra``.

The record id is ``<source>:<value of the id column>`` (``source`` defaults to the
file's name, lower case, e.g. ``diffusiondb``); a parent value becomes an id the
same way. Times: a text column is taken as written (RFC 3339 or ISO 8601, checked by
the ingestor), a datetime column is written in UTC (a datetime without a zone is
taken as UTC), a number (or a text of digits) is Unix time (seconds, or milliseconds
when the values are that large; floats too, as pandas writes an integer column with gaps,
whose whole-number ids ``123.0`` are also read as ``123``); a date alone (``2022-08-01``, text
or a Date column) is its start in UTC. A nested column (struct, list)
cannot be mapped; left unmapped it is kept whole in ``extra``. A row whose id or time is missing or wrong is quarantined
by the ingestor with the reason, like any bad record. A row whose id an earlier row gave
with other values is quarantined (which row is the record is ambiguous; the first is kept),
an identical repeat is the same record.

Files are read with polars (``scan_csv`` with every column as text, so ids such as
``00123`` keep their zeros; ``scan_parquet`` with its own types), in batches of
``batch_rows`` rows, so a dataset larger than memory streams through. ``.csv``,
``.tsv``/``.tab`` (tab-separated) and ``.parquet``/``.pq`` are known by their suffix;
``separator`` overrides it, and when the header holds no such separator but another one
(a TSV named ``.csv``, a ``;`` CSV from Excel) that one is used. Text must be UTF-8 (a BOM and
CRLF are fine): a byte that is not, or a row with more fields than the header, is an error
naming the line or row (never a replaced character or a dropped field). Records carry no ``fetched_at``: reading the same file
again changes nothing.

Examples
--------
>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "prompts.csv"
>>> _ = f.write_text("image,text,when,who,from,seed\\n"
...                  "a.png,a lighthouse,2024-05-01T10:00:00Z,ada,,7\\n"
...                  "b.png,a lighthouse at night,2024-05-02T10:00:00Z,bo,a.png,8\\n")
>>> src = TableSource(f, parse_map("id=image,prompt=text,created_at=when,author=who,parent=from"))
>>> [r for r in src.preview(2)][1]  # doctest: +NORMALIZE_WHITESPACE
{'id': 'prompts:b.png', 'source': 'prompts', 'created_at': '2024-05-02T10:00:00Z', 'prompt': 'a lighthouse at night',
 'author': 'bo', 'parents': [{'id': 'prompts:a.png', 'relation': 'remix', 'evidence': 'declared', 'confidence': 1.0}],
 'extra': {'seed': '8'}}
"""
from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import polars as pl

from archive.errors import SourceError
from archive.ingest import Bad

__all__ = ["TableSource", "parse_map", "FIELDS", "REQUIRED"]

FIELDS = ("id", "created_at", "prompt", "title", "author", "parent", "url", "license")
REQUIRED = ("id", "created_at")
_TSV = (".tsv", ".tab", ".tsv.gz", ".tab.gz")
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".txt")
_MS = 100_000_000_000  # an integer time above this is milliseconds (year 5138 in seconds)


def parse_map(text: str) -> dict[str, str]:
    """``"id=col,prompt=col2"`` as ``{"id": "col", "prompt": "col2"}``; raises :class:`SourceError`.

    >>> parse_map("id=image_name, prompt=prompt ,created_at=timestamp")
    {'id': 'image_name', 'prompt': 'prompt', 'created_at': 'timestamp'}
    >>> parse_map("id=a;prompt=b")
    Traceback (most recent call last):
    ...
    archive.errors.SourceError: --map: 'id=a;prompt=b' holds more than one '='; separate FIELD=COLUMN pairs with commas (e.g. id=image_name,prompt=prompt)
    >>> parse_map("id=a,colour=b")
    Traceback (most recent call last):
    ...
    archive.errors.SourceError: --map: unknown field 'colour' (fields: id, created_at, prompt, title, author, parent, url, license)
    """
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, eq, col = part.partition("=")
        key, col = key.strip(), col.strip()
        if not eq or not col:
            raise SourceError(f"--map: {part.strip()!r} is not FIELD=COLUMN (e.g. id=image_name)")
        if "=" in col:
            raise SourceError(f"--map: {part.strip()!r} holds more than one '='; separate FIELD=COLUMN pairs "
                              "with commas (e.g. id=image_name,prompt=prompt)")
        if key not in FIELDS:
            raise SourceError(f"--map: unknown field {key!r} (fields: {', '.join(FIELDS)})")
        if key in out:
            raise SourceError(f"--map: {key} is mapped twice")
        out[key] = col
    return out


def _separator(text: str) -> str:
    """``--separator`` as one byte: ``\\t`` and ``tab`` mean a tab.

    >>> _separator("\\\\t"), _separator("tab"), _separator(";")
    ('\\t', '\\t', ';')
    """
    sep = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(text, text)
    if len(sep.encode("utf-8")) != 1:
        raise SourceError(f"--separator: {text!r} must be one character such as , ; | or \\t (a tab)")
    return sep


def _default_name(path: Path) -> str:
    stem = path.name.lower()
    for suf in (".gz", ".parquet", ".pq", ".csv", ".tsv", ".tab", ".txt"):
        stem = stem.removesuffix(suf)
    return re.sub(r"[^a-z0-9_.-]+", "-", stem).strip("-.") or "table"


class TableSource:
    """Read one CSV, TSV or Parquet file as remix records through a column map (see the module docstring)."""

    name = "table"

    def __init__(self, path: str | Path, mapping: dict[str, str], *, source: str | None = None,
                 separator: str | None = None, batch_rows: int = 50_000) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file")
        missing = [k for k in REQUIRED if k not in mapping]
        if missing:
            raise SourceError(f"--map must name a column for {' and '.join(missing)} "
                              f"(e.g. --map id=image_name,created_at=timestamp,prompt=prompt)")
        self.mapping = dict(mapping)
        self.source = source or _default_name(self.path)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.source):
            raise SourceError(f"--source: {self.source!r} may hold only letters, digits, _ . and -")
        low = self.path.name.lower()
        self.kind = "parquet" if low.endswith(_PARQUET) else "csv"
        if self.kind == "csv" and not low.endswith(_TSV + _CSV) and self.path.read_bytes()[:4] == b"PAR1":
            self.kind = "parquet"
        if self.kind == "csv":
            self._check_text()
        self.separator = (_separator(separator) if separator is not None
                          else self._sniff("\t" if low.endswith(_TSV) else ","))
        self.batch_rows = batch_rows
        self.target = f"{self.path} map={','.join(f'{k}={v}' for k, v in self.mapping.items())}"
        try:
            self.columns = self._frame().collect_schema().names()
        except pl.exceptions.NoDataError:
            raise SourceError(f"{self.path}: the file is empty (a table needs a header row naming its columns)") from None
        except (pl.exceptions.PolarsError, OSError) as e:
            raise SourceError(f"{self.path}: cannot be read as {self.kind} ({str(e).splitlines()[0]})") from None
        absent = [c for c in self.mapping.values() if c not in self.columns]
        if absent:
            raise SourceError(f"{self.path}: no column {', '.join(map(repr, absent))} "
                              f"(its columns: {', '.join(self.columns[:30])}{' ...' if len(self.columns) > 30 else ''})")
        twice = [c for c in dict.fromkeys(self.mapping.values()) if f"{c}_duplicated_0" in self.columns]
        if twice:  # polars renames a repeated header name; which column the map means is ambiguous
            raise SourceError(f"{self.path}: the header names {', '.join(map(repr, twice))} more than once, so "
                              "--map is ambiguous: rename the repeated column(s) in the header")
        if self.mapping.get("parent") is not None and self.mapping.get("parent") == self.mapping["id"]:
            raise SourceError(f"--map: parent and id name the same column {self.mapping['id']!r} "
                              "(every row would be its own parent): map parent to the column of the row it came from")
        schema = self._frame().collect_schema()
        nested = [f"{k}={v} is a {schema[v].base_type()} column" for k, v in self.mapping.items() if schema[v].is_nested()]
        if nested:  # a nested value is no text, time or id; left unmapped it is kept whole in extra
            raise SourceError(f"--map: {'; '.join(nested)}: map a column of text, numbers or times "
                              "(a nested column left unmapped is kept whole in extra)")

    def _check_text(self) -> None:
        """Refuse, in words, what polars would misread: UTF-16/32 text (Excel "Unicode text", PowerShell),
        a workbook (``.xlsx``/``.ods`` are zip files), JSON."""
        head = self._head(4096)  # a gzip file's text, not its compressed bytes
        if head[:4] == b"PK\x03\x04":
            raise SourceError(f"{self.path}: a spreadsheet workbook or zip file, not a text table: save it as CSV "
                              "(e.g. Excel: Save As > CSV UTF-8) and ingest that")
        if head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"{", b"["):
            raise SourceError(f"{self.path}: JSON, not a table: ingest it with `archivist ingest jsonl {self.path}`")
        if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:4] == b"\x00\x00\xfe\xff":
            raise SourceError(f"{self.path}: the text is UTF-16 or UTF-32 (it starts with a byte-order mark); "
                              f"save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8 {self.path.name} > utf8.csv)")

    def _sniff(self, default: str) -> str:
        """The separator of the header line: ``default`` when it holds one, else the one it holds
        (a tab-separated file named ``.csv``, a semicolon CSV from a European Excel)."""
        if self.kind != "csv":
            return default
        header = self._head(1 << 16).split(b"\n", 1)[0]  # of a gzip file, its text's first line
        if default.encode() in header:
            return default
        counts = {sep: header.count(sep.encode()) for sep in ("\t", ",", ";", "|")}
        best = max(counts, key=lambda k: counts[k])
        return best if counts[best] else default

    def _frame(self) -> pl.LazyFrame:
        if self.kind == "parquet":
            return pl.scan_parquet(self.path)
        # strict: a byte that is not UTF-8 or a row with more fields than the header is an error with
        # its place (see _read_error), never a silent replacement or a dropped field
        return pl.scan_csv(self.path, separator=self.separator, infer_schema=False, encoding="utf8")

    def _read_error(self, e: Exception, *, stored: bool = True) -> SourceError:
        """A polars read error in words that say where the file is wrong and what to do
        (``stored``: whether rows read before it may have been stored)."""
        msg = str(e).splitlines()[0]
        where = ""
        if self.kind == "csv" and ("utf-8" in msg.lower() or "more fields" in msg):
            where = self._find_bad_row()
        kept = ("the batches committed before it are kept (`archivist runs` shows how many rows): fix the file "
                "and ingest it again (what is stored is skipped)" if stored
                else "nothing was stored: fix the file and ingest it again")
        return SourceError(f"{self.path}: cannot be read as {self.kind} ({where or msg}); {kept}")

    def _head(self, n: int) -> bytes:
        """The first ``n`` bytes of the file's text: decompressed when it is gzip, as polars reads it
        (its compressed bytes hold the gzip header's time stamp, where a tab or a comma is chance)."""
        try:
            with self._open_bytes() as fh:
                return fh.read(n)
        except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
            raise SourceError(f"{self.path}: starts like a gzip file but cannot be decompressed ({e}); "
                              "check the file (gzip -t) or give it uncompressed") from None

    def _open_bytes(self) -> BinaryIO:
        with open(self.path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        return gzip.open(self.path, "rb") if gz else open(self.path, "rb")  # type: ignore[return-value]

    def _find_bad_row(self) -> str:
        """The first line that is not UTF-8 or row with more fields than the header (a slow scan, run
        only after polars refused the file)."""
        with self._open_bytes() as fh:
            for n, line in enumerate(fh, 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as u:
                    return (f"line {n} is not UTF-8 text (byte 0x{line[u.start]:02x}); save the file as UTF-8, "
                            f"e.g. iconv -f WINDOWS-1252 -t UTF-8")
        with self._open_bytes() as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=self.separator)
            width = len(next(reader, []))
            for n, row in enumerate(reader, 1):
                if len(row) > width:
                    return (f"row {n} has {len(row)} fields, the header {width}: quote a field that holds "
                            f"{self.separator!r}, or give the right --separator")
        return ""

    def _time(self, col: str, dtype: pl.DataType) -> pl.Expr:
        c = pl.col(col)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                c = c.dt.replace_time_zone("UTC")
            return c.dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
        if isinstance(dtype, pl.Date):
            return c.dt.to_string("%Y-%m-%dT00:00:00Z")
        if dtype.is_integer() or dtype.is_float():  # floats: an integer column with gaps, as pandas writes it
            return self._epoch(c)
        text = c.cast(pl.String).str.strip_chars()
        digits = text.str.contains(r"^-?[0-9]{1,15}(\.[0-9]*)?$")  # Unix time written as text
        day = text.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")  # an ISO 8601 date: its start, as a Date column
        return (pl.when(digits).then(self._epoch(text.cast(pl.Float64, strict=False)))
                .when(day).then(text + "T00:00:00Z").otherwise(text))

    @staticmethod
    def _epoch(c: pl.Expr) -> pl.Expr:
        ms = pl.when(c.abs() >= _MS).then(c).otherwise(c * 1000).round(0).cast(pl.Int64, strict=False)
        return pl.from_epoch(ms, "ms").dt.to_string("%Y-%m-%dT%H:%M:%S%.3fZ")

    @staticmethod
    def _key(c: pl.Expr, dtype: pl.DataType) -> pl.Expr:
        """An id or parent value as text; a whole float (``123.0``: an integer column with gaps, as pandas
        writes it) as the integer it stands for."""
        if not dtype.is_float():
            return c.cast(pl.String)
        whole = c.cast(pl.Int64, strict=False)
        return pl.when(whole.is_not_null() & (whole.cast(pl.Float64) == c)).then(whole.cast(pl.String)).otherwise(
            c.cast(pl.String))

    def _batches(self, limit: int | None = None) -> Iterator[pl.DataFrame]:
        lf = self._frame()
        if limit is not None:
            lf = lf.head(limit)
        schema = lf.collect_schema()
        mapped = {v: k for k, v in self.mapping.items()}
        exprs = []
        for name, dtype in schema.items():
            if mapped.get(name) == "created_at":
                exprs.append(self._time(name, dtype).alias(name))
            elif mapped.get(name) in ("id", "parent"):
                exprs.append(self._key(pl.col(name), dtype).alias(name))
            elif name in mapped:
                exprs.append(pl.col(name).cast(pl.String).alias(name))
            elif dtype.is_temporal():
                exprs.append(pl.col(name).cast(pl.String))
            elif isinstance(dtype, pl.Decimal):
                exprs.append(pl.col(name).cast(pl.Float64))
            elif dtype == pl.Binary:
                exprs.append(pl.col(name).bin.encode("hex"))
            else:
                exprs.append(pl.col(name))
        given = False
        try:
            for df in lf.select(exprs).collect_batches(chunk_size=self.batch_rows, maintain_order=True):
                given = True
                yield df
        except pl.exceptions.PolarsError as e:
            raise self._read_error(e, stored=given) from None

    def duplicated_ids(self) -> set[str]:
        """The id values (as text) that more than one row gives (one polars pass over the id column)."""
        col = self.mapping["id"]
        try:
            lf = self._frame()
            d = (lf.group_by(col).agg(pl.len().alias("_n")).filter(pl.col("_n") > 1)
                 .select(self._key(pl.col(col), lf.collect_schema()[col])).collect())
        except pl.exceptions.PolarsError as e:
            raise self._read_error(e, stored=False) from None
        return {v for v in d.to_series().to_list() if v not in (None, "")}

    def parents_not_in_table(self, show: int = 3) -> tuple[int, list[str]]:
        """How many distinct values of the ``parent`` column name no row's id, and the first few of them.

        They become placeholder parents (possibly rows of another table); many of them usually mean the
        parent column holds something else than this table's ids (a URL, a file name with a path).
        """
        if "parent" not in self.mapping:
            return 0, []
        pid, cid = self.mapping["parent"], self.mapping["id"]
        lf = self._frame()
        try:
            schema = lf.collect_schema()
            ids = lf.select(self._key(pl.col(cid), schema[cid]).alias("v"))
            missing = (lf.select(self._key(pl.col(pid), schema[pid]).alias("v")).filter(pl.col("v").is_not_null(), pl.col("v") != "")
                       .unique().join(ids, on="v", how="anti").sort("v").collect().to_series().to_list())
        except pl.exceptions.PolarsError as e:
            raise self._read_error(e) from None
        return len(missing), missing[:show]

    def _records(self, limit: int | None = None, *, dups: set[str] = frozenset()  # type: ignore[assignment]
                 ) -> Iterator[tuple[int, dict[str, Any] | Bad]]:
        m = self.mapping
        extra_cols = [c for c in self.columns if c not in m.values()]
        first: dict[str, tuple[int, bytes]] = {}  # duplicated id -> (its first row, that row's record)
        row = 0
        for df in self._batches(limit):
            for r in df.iter_rows(named=True):
                row += 1
                rec: dict[str, Any] = {}
                native = r[m["id"]]
                rec["id"] = f"{self.source}:{native}" if native not in (None, "") else None
                rec["source"] = self.source
                rec["created_at"] = r[m["created_at"]] or None
                for key in ("prompt", "title", "author", "license"):
                    if key in m and r[m[key]] not in (None, ""):
                        rec[key] = r[m[key]]
                if "parent" in m and r[m["parent"]] not in (None, ""):
                    rec["parents"] = [{"id": f"{self.source}:{r[m['parent']]}", "relation": "remix",
                                       "evidence": "declared", "confidence": 1.0}]
                if "url" in m and r[m["url"]] not in (None, ""):
                    rec["media"] = [{"url": r[m["url"]]}]
                extra = {c: r[c] for c in extra_cols if r[c] is not None}
                if extra:
                    rec["extra"] = extra
                if native in dups:  # a second row with the same id: the same record, or an ambiguous one
                    text = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)
                    seen = first.setdefault(native, (row, text))
                    if seen[1] != text:
                        yield row, Bad(text.decode(), [
                            f"id: {native!r} is also the id of row {seen[0]}, with other values; which row is the "
                            "record is ambiguous (the first is kept: make the ids unique, or drop one row)"])
                        continue
                yield row, rec

    def preview(self, n: int = 5) -> list[dict[str, Any]]:
        """The first ``n`` records as they would be ingested (nothing is written)."""
        return [rec for _, rec in self._records(limit=n) if isinstance(rec, dict)]

    def preview_checked(self, n: int = 5) -> list[tuple[dict[str, Any], list[str]]]:
        """The first ``n`` rows as :meth:`preview` gives them, each with the reasons the ingest would
        quarantine it (empty: it would be stored): the record check, and a second row of an id with
        other values (ids duplicated anywhere in the file are looked up first)."""
        from archive.record import check

        out: list[tuple[dict[str, Any], list[str]]] = []
        for _, rec in self._records(limit=n, dups=self.duplicated_ids()):
            if isinstance(rec, Bad):
                out.append((orjson.loads(rec.raw), list(rec.reasons)))
            else:
                out.append((rec, check(rec)[1]))
        return out

    def items(self, cursor: str | None) -> Iterator[tuple[str, dict[str, Any], None]]:
        """Yield ``(path:row N, record, None)`` for every row (re-read whole on resume: the ingestor
        skips what is stored)."""
        for row, rec in self._records(dups=self.duplicated_ids()):
            yield (f"{self.path}:row {row}", rec, None)
