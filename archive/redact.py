"""Redaction: remove a post's content from the store and from every older version of it.

When a cameo owner revokes consent or a takedown arrives, :func:`redact` takes the
post's content fields (prompt, title, author, style tags, media, provenance, extra)
out of every observation row of the ``records`` log, in one atomic Delta merge
commit. The node stays (id, source, created_at, parents, engagement, licence,
consent) and is marked ``redacted``, so its remixes keep their lineage. Then the
history is purged, so time travel cannot bring the content back:

1. ``vacuum`` with zero retention deletes every data file no longer in the current version;
2. a checkpoint is written and the older log entries are deleted (their file statistics
   hold min/max values of text columns), so versions before the redaction can no
   longer be read at all;
3. quarantined raw lines that name the id, and rows of analysis tables that name it
   (``id``/``child``/``parent`` columns), are deleted and purged the same way;
4. the ``_views/`` caches (which hold copies of the prompts) are deleted.

The content hash of each row is kept: re-ingesting the very same record is then
recognized as already stored and does not bring the text back (a hash does not
reveal the text). A ledger row goes to the ``redactions`` table: what was removed,
when, why, the store versions before and after, and the snapshot bags taken
before (which still hold the content and must be dealt with by their keepers).

Examples
--------
>>> import tempfile
>>> from archive.ingest import ingest_records
>>> from archive.store import Archive
>>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
>>> _ = ingest_records(a, [
...     {"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "my face, please remove"},
...     {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "a remix",
...      "parents": [{"id": "t:1"}]}])
>>> r = redact(a, "t:1", reason="consent revoked")
>>> a.posts().select("id", "prompt", "redacted").rows()
[('t:1', None, True), ('t:2', 'a remix', False)]
>>> a.lineage().select("id", "parent").rows()
[('t:1', None), ('t:2', 't:1')]
>>> redactions(a).select("id", "reason").rows()
[('t:1', 'consent revoked')]
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from archive.errors import NotFoundError, StoreError
from archive.record import canonical_json, reduced
from archive.snapshot import PARTIAL, read_bag_info, safe_name, snapshot_roots
from archive.store import UTC, Archive

__all__ = ["CONTENT_FIELDS", "REDACTION_SCHEMA", "Redaction", "redact", "redactions", "purge_history",
           "affected_snapshots"]

#: record fields removed by a redaction (the columns ``author``, ``title``, ``prompt``, ``style_tags`` too)
CONTENT_FIELDS = ("author", "title", "prompt", "style_tags", "media", "provenance", "extra")
_ID_COLS = ("id", "child", "parent", "node", "post_id", "root")  # root: per-tree rows hold the root's tokens
REDACTION_SCHEMA: dict[str, Any] = {
    "id": pl.String,
    "reason": pl.String,
    "redacted_at": UTC,
    "fields_removed": pl.List(pl.String),
    "rows": pl.Int64,
    "store_version_before": pl.Int64,
    "store_version_after": pl.Int64,
    "tables_purged": pl.List(pl.String),
    "affected_snapshots": pl.List(pl.String),
}


@dataclass
class Redaction:
    """What one :func:`redact` did."""

    id: str
    reason: str
    redacted_at: datetime
    fields_removed: list[str]
    rows: int
    store_version_before: int
    store_version_after: int
    tables_purged: list[str] = field(default_factory=list)
    affected_snapshots: list[str] = field(default_factory=list)
    #: True where the post was redacted before: nothing was done, and this is the ledger's earlier entry
    already_redacted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def purge_history(table: str | Path) -> int:
    """Delete every older version of a Delta table: files, log entries, checkpoints. Returns the version.

    After this the table reads as before at its current version, and older versions
    cannot be read at all (their data files and log entries are gone).

    Examples
    --------
    >>> import tempfile
    >>> p = tempfile.mkdtemp() + "/t"
    >>> pl.DataFrame({"a": ["secret"]}).write_delta(p)
    >>> pl.DataFrame({"a": ["public"]}).write_delta(p, mode="overwrite")
    >>> v = purge_history(p)
    >>> pl.read_delta(p)["a"].to_list(), any(b"secret" in f.read_bytes() for f in Path(p).rglob("*") if f.is_file())
    (['public'], False)
    """
    path = Path(table)
    dt = DeltaTable(str(path))
    dt.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False, full=True)
    dt = DeltaTable(str(path))
    dt.create_checkpoint()
    version = dt.version()
    log = path / "_delta_log"
    for f in log.iterdir():
        head = f.name.split(".", 1)[0]
        if f.is_file() and head.isdigit() and int(head) < version:
            f.unlink()
    return version


def affected_snapshots(archive: Archive, post_id: str, *, before: datetime | None = None) -> list[str]:
    """Snapshot bags inside the archive that hold ``post_id`` (taken before ``before``), oldest first.

    Examples
    --------
    >>> import tempfile
    >>> affected_snapshots(Archive.open(tempfile.mkdtemp() + "/a", create=True), "t:1")
    []
    """
    out: list[str] = []
    for bag in snapshot_roots(archive):
        taken = read_bag_info(bag).get("Remix-Snapshot-Time")
        if before is not None and taken and datetime.fromisoformat(taken.replace("Z", "+00:00")) >= before:
            continue
        meta = bag / "data" / "snapshot.json"
        try:
            held = post_id in (json.loads(meta.read_text("utf-8")).get("posts") or {})
        except (OSError, ValueError):
            held = True  # unreadable: assume the worst, the keeper should look
        if held:
            out.append(str(bag))
    return out


def _reduced(record: str) -> str:
    try:
        rec = json.loads(record)
    except ValueError:
        rec = {}
    return canonical_json(reduced(rec))


def _purge_rows(archive: Archive, post_id: str) -> list[str]:
    """Delete rows naming ``post_id`` from quarantine and analysis tables, then purge their history."""
    purged: list[str] = []
    lit = post_id.replace("'", "''")
    for d in sorted(p for p in archive.path.iterdir() if (p / "_delta_log").is_dir()):
        if d.name in ("records", "runs", "redactions"):
            continue
        dt = DeltaTable(str(d))
        names = {f.name for f in dt.schema().fields}
        if d.name == "quarantine":
            raw = archive.read_table("quarantine", columns=["raw"]).get_column("raw")
            if not raw.str.contains(post_id, literal=True).any():
                continue
            hashes = archive.read_table("quarantine").filter(pl.col("raw").str.contains(post_id, literal=True))
            preds = " OR ".join(f"raw_hash = '{h}'" for h in hashes.get_column("raw_hash").unique().to_list())
        else:
            cols = [c for c in _ID_COLS if c in names]
            if not cols:
                continue
            hit = archive.read_table(d.name, columns=cols).filter(pl.any_horizontal(pl.col(cols) == post_id))
            if hit.height == 0:
                continue
            preds = " OR ".join(f"{c} = '{lit}'" for c in cols)
        archive.commit(f"deleting rows of {post_id} from {d.name}", lambda: DeltaTable(str(d)).delete(preds))
        purge_history(d)
        purged.append(d.name)
    return purged


def _bags_holding(archive: Archive, post_id: str, now: datetime) -> tuple[list[Path], list[Path]]:
    """Bags inside the archive that may hold ``post_id``: ``(half-written, complete)``.

    Half-written bags (``.partial-*``, of a killed or a running snapshot) of the post's
    tree or that name it anywhere in their files; complete bags taken before ``now``
    whose ``snapshot.json`` lists the post.
    """
    base = archive.path / "snapshots"
    if not base.is_dir():
        return [], []
    try:
        tree = safe_name(archive.root_of(post_id))
    except NotFoundError:
        tree = None
    partial = [p for p in sorted(base.glob(f"*/{PARTIAL}*"))
               if p.is_dir() and (tree is None or p.parent.name == tree or _mentions(p, post_id))]
    return partial, [Path(b) for b in affected_snapshots(archive, post_id, before=now)]


def _mentions(folder: Path, post_id: str) -> bool:
    needle = post_id.encode("utf-8")
    for f in folder.rglob("*"):
        try:
            if f.is_file() and needle in f.read_bytes():
                return True
        except OSError:
            return True
    return False


def redact(archive: Archive, post_id: str, *, reason: str, now: datetime | None = None,
           snapshots: str = "refuse") -> Redaction:
    """Remove the content of ``post_id`` from the log and every older version; keep the node; log it.

    Raises :class:`~archive.errors.NotFoundError` when the id has no record, and
    :class:`~archive.errors.StoreError` without a reason. A post that is already
    redacted is left as it is and its earlier ledger entry returned.

    Snapshot bags inside the archive hold copies of the content. Half-written ones
    (of a killed or running snapshot of the post's tree) are always deleted. Complete
    bags that hold the post: ``snapshots="refuse"`` (the default) raises a
    :class:`~archive.errors.StoreError` naming them before anything is changed;
    ``"purge"`` deletes them too; ``"keep"`` keeps them and lists them in the ledger
    (``affected_snapshots``) for their keepers.

    The whole redaction holds the archive's writer lock: an ingest running beside it
    waits between two batches, then goes on (and never stores the content again).

    Examples
    --------
    >>> import tempfile
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> redact(a, "t:404", reason="takedown")
    Traceback (most recent call last):
    ...
    archive.errors.NotFoundError: no record of 't:404' in the archive at ... (nothing to redact)
    """
    archive._writable()
    if not reason or not reason.strip():
        raise StoreError("a redaction needs a reason (--reason TEXT): it is kept in the ledger")
    if snapshots not in ("refuse", "purge", "keep"):
        raise StoreError(f"snapshots must be refuse, purge or keep, not {snapshots!r}")
    with archive.writing():
        try:
            return _redact(archive, post_id, reason=reason, now=now or datetime.now(timezone.utc),
                           snapshots=snapshots)
        except (OSError, DeltaError) as e:
            raise archive.resource_error(e, f"redacting {post_id}") or e


def _redact(archive: Archive, post_id: str, *, reason: str, now: datetime, snapshots: str) -> Redaction:
    path = archive.table_path("records")
    partial, complete = _bags_holding(archive, post_id, now)
    for p in partial:  # half-written bags are never kept: they may hold the content and are no snapshot
        shutil.rmtree(p, ignore_errors=True)
    rows = archive.records().filter(pl.col("id") == post_id)
    if rows.height == 0:
        raise NotFoundError(f"no record of {post_id!r} in the archive at {archive.path} (nothing to redact)")
    if rows.get_column("redacted").fill_null(False).all():
        done = redactions(archive).filter(pl.col("id") == post_id)
        if done.height:
            d = done.row(-1, named=True)
            return Redaction(**{k: d[k] for k in REDACTION_SCHEMA}, already_redacted=True)
    if complete and snapshots == "refuse":
        raise StoreError(f"{len(complete)} snapshot bag(s) inside the archive hold {post_id} ({complete[0]}"
                         + (f" and {len(complete) - 1} more" if len(complete) > 1 else "")
                         + "): run again with --purge-snapshots to delete them with the content, or "
                           "--keep-snapshots to keep them (listed in the ledger for their keepers)")
    before = archive.version()
    new = rows.with_columns(
        pl.lit(None, pl.String).alias("author"), pl.lit(None, pl.String).alias("title"),
        pl.lit(None, pl.String).alias("prompt"), pl.lit([], pl.List(pl.String)).alias("style_tags"),
        pl.Series("record", [_reduced(r) for r in rows.get_column("record").to_list()], pl.String),
        pl.lit(True).alias("redacted"),
    )
    updates = {c: f"s.{c}" for c in ("author", "title", "prompt", "style_tags", "record", "redacted")}
    archive.commit(f"redacting {post_id}", lambda: (
        DeltaTable(str(path))
        .merge(new.to_arrow(), predicate="t.id = s.id AND t.content_hash = s.content_hash",
               source_alias="s", target_alias="t")
        .when_matched_update(updates=updates)
        .execute()))
    after = purge_history(path)
    purged = ["records", *_purge_rows(archive, post_id)]
    shutil.rmtree(archive.path / "_views", ignore_errors=True)
    archive._cache.clear()
    if snapshots == "purge":
        for b in complete:
            shutil.rmtree(b)
    result = Redaction(id=post_id, reason=reason.strip(), redacted_at=now,
                       fields_removed=list(CONTENT_FIELDS), rows=rows.height,
                       store_version_before=before, store_version_after=after, tables_purged=purged,
                       affected_snapshots=[] if snapshots == "purge" else [str(b) for b in complete])
    archive.append("redactions", pl.DataFrame([result.as_dict()], schema=REDACTION_SCHEMA))
    return result


def redactions(archive: Archive) -> pl.DataFrame:
    """The redaction ledger, oldest first.

    Examples
    --------
    >>> import tempfile
    >>> redactions(Archive.open(tempfile.mkdtemp() + "/a", create=True)).columns[:3]
    ['id', 'reason', 'redacted_at']
    """
    return archive.read_table("redactions", schema=REDACTION_SCHEMA).sort("redacted_at")
