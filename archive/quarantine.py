"""Working on quarantine: clear it, or retry its records after a fix.

Quarantine keeps every record an ingest refused, with its raw text and every reason
(:mod:`archive.ingest`). Two things a keeper does with it:

- **retry** after a fix (a newer Remix Archivist that reads what it refused, a relaxed
  schema): the raw texts go through the normal ingest again, as one run of source
  ``quarantine`` in the ``runs`` table; what passes now is stored, what still fails stays in
  quarantine with its new reasons (and its original location); the retried rows are then
  removed.
- **clear** what is known to be junk, all of it or one run's: the rows are deleted and a
  ``runs`` row (source ``quarantine``, status ``cleared``, the count in ``target``) records it.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import polars as pl
from deltalake import DeltaTable

from archive.errors import ArchiveError
from archive.ingest import IngestResult, Item, _prepare, _raw_hash, ingest
from archive.store import RUN_SCHEMA, Archive

__all__ = ["clear_quarantine", "retry_quarantine"]


def _rows(archive: Archive, run_id: str | None) -> pl.DataFrame:
    q = archive.quarantine()
    if run_id is not None:
        q = q.filter(pl.col("run_id") == run_id)
        if q.height == 0:
            runs = sorted(set(archive.quarantine().get_column("run_id").to_list()))
            raise ArchiveError(f"no quarantined record comes from run {run_id!r}; runs with quarantined records: "
                               f"{', '.join(runs) or 'none'} (see `archivist runs`)")
    return q.sort("quarantined_at", "location")


def _delete(archive: Archive, raw_hashes: list[str]) -> None:
    if not raw_hashes:
        return
    listed = ", ".join("'" + h.replace("'", "''") + "'" for h in sorted(set(raw_hashes)))
    DeltaTable(str(archive.table_path("quarantine"))).delete(f"raw_hash IN ({listed})")


def clear_quarantine(archive: Archive, *, run_id: str | None = None) -> int:
    """Delete quarantined records (all, or those of ``run_id``); returns how many.

    The clearing is recorded in ``runs`` (source ``quarantine``, status ``cleared``).

    Raises:
        ArchiveError: ``run_id`` has no quarantined record.

    Examples:
        >>> import tempfile
        >>> from archive.ingest import ingest_lines
        >>> a = Archive.open(tempfile.mkdtemp(), create=True)
        >>> _ = ingest_lines(a, ["not json", '{"id": "x:1"}'])
        >>> clear_quarantine(a), a.quarantine().height, a.runs()["status"][0]
        (2, 0, 'cleared')
    """
    q = _rows(archive, run_id)
    _delete(archive, q.get_column("raw_hash").to_list())
    now = datetime.now(timezone.utc)
    what = f"clear {q.height} record(s)" + (f" of run {run_id}" if run_id else "")
    archive.append("runs", pl.DataFrame([{
        "run_id": now.strftime("clear-%Y%m%dT%H%M%S%f"), "source": "quarantine", "target": what, "status": "cleared",
        "started_at": now, "at": now, "read": 0, "stored": 0, "unchanged": 0, "quarantined": 0, "cursor": None,
        "store_version": archive.version(), "error": None}], schema=RUN_SCHEMA))
    return q.height


class _Retry:
    """The raw texts of quarantined rows as an ingest source (each keeps its original location)."""

    name = "quarantine"

    def __init__(self, rows: pl.DataFrame, target: str) -> None:
        self.rows, self.target = rows, target

    def items(self, cursor: str | None) -> Iterator[Item]:
        for loc, raw in self.rows.select("location", "raw").iter_rows():
            yield (loc, raw, None)


def retry_quarantine(archive: Archive, *, run_id: str | None = None) -> IngestResult:
    """Ingest quarantined records again (all, or those of ``run_id``) and return the run's counts.

    What passes now is stored; what fails again is quarantined again with its current reasons
    (under the retry's run); the retried rows are then deleted, so each raw text is in
    quarantine at most once.

    Raises:
        ArchiveError: ``run_id`` has no quarantined record.

    Examples:
        >>> import tempfile
        >>> from archive.ingest import ingest_lines
        >>> a = Archive.open(tempfile.mkdtemp(), create=True)
        >>> _ = ingest_lines(a, ['{"id": "x:1", "source": "x"}'])
        >>> r = retry_quarantine(a)
        >>> (r.read, r.stored, r.quarantined), a.quarantine()["reasons"].to_list()
        ((1, 0, 1), [['created_at: required field is missing']])
    """
    q = _rows(archive, run_id)
    target = "retry" + (f" run {run_id}" if run_id else "")
    result = ingest(archive, _Retry(q, target), resume=False)
    # a row quarantined by an earlier retry that fails again is the same row (same source and
    # raw text): ingest did not add it twice, so it stays; every other retried row goes
    keep = {h for raw, h in q.select("raw", "raw_hash").iter_rows()
            if h == _raw_hash(_Retry.name, raw) and isinstance(_prepare(raw)[1], list)}
    _delete(archive, [h for h in q.get_column("raw_hash").to_list() if h not in keep])
    return result
