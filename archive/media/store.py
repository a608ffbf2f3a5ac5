"""The archive's media folder and its two tables: what is known about each media node, and its fingerprints.

Layout inside the archive folder::

    media/<sha256>.<ext>          the file itself, stored once by content (unless referenced in place)
    media/thumbs/<sha256>.webp    thumbnails, named by the sha256 of their own bytes
    media/c2pa/<sha256>.json      the C2PA manifest store read from that file
    media_nodes/                  Delta table, one row per node with a picture (:data:`NODE_SCHEMA`)
    media_fingerprints/           Delta table, one row per fingerprinted picture (:data:`FINGERPRINT_SCHEMA`)

``media_fingerprints`` is the contract with lineage inference: ``id`` (post id),
``sha256``, ``kind`` (``image`` | ``frame``), ``frame_s`` (seconds into the video,
null for images), ``pdq`` (64 hex characters), ``quality`` (PDQ's, 0-100) and
``phash`` (16 hex characters, the fallback). Rows are appended once per node:
reading the same files again adds nothing.

Examples
--------
>>> import tempfile
>>> from archive.store import Archive
>>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
>>> ms = MediaStore(a)
>>> name = ms.put_thumbnail(b"RIFF....WEBPVP8 ")
>>> ms.append([{"id": "media:ab", "sha256": "ab", "kind": "image", "thumb": name}],
...           [{"id": "media:ab", "sha256": "ab", "kind": "image", "frame_s": None, "pdq": "0" * 64,
...             "quality": 100, "phash": "0" * 16}])
(1, 1)
>>> ms.append([{"id": "media:ab", "sha256": "ab", "kind": "image", "thumb": name}], [])   # already known
(0, 0)
>>> fingerprints(a).select("id", "kind", "quality").row(0)
('media:ab', 'image', 100)
>>> thumbnails(a) == {"media:ab": name}
True
"""
from __future__ import annotations

import base64
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from archive.media.index import HashIndex, build_index
from archive.media.thumbnail import thumb_name
from archive.store import Archive

__all__ = ["MediaStore", "NODE_SCHEMA", "FINGERPRINT_SCHEMA", "fingerprints", "media_nodes", "thumbnails",
           "thumbnail_bytes", "thumbnail_data_uri", "archive_index", "NODES_TABLE", "FINGERPRINTS_TABLE",
           "snapshot_media", "valid_pdq"]

NODES_TABLE = "media_nodes"
FINGERPRINTS_TABLE = "media_fingerprints"
NODE_SCHEMA: dict[str, Any] = {
    "id": pl.String, "sha256": pl.String, "kind": pl.String, "mime": pl.String, "bytes": pl.Int64,
    "width": pl.Int32, "height": pl.Int32, "duration_s": pl.Float64, "frames": pl.Int32, "thumb": pl.String,
    "file": pl.String, "c2pa": pl.String, "created_from": pl.String,
}
FINGERPRINT_SCHEMA: dict[str, Any] = {
    "id": pl.String, "sha256": pl.String, "kind": pl.String, "frame_s": pl.Float64, "pdq": pl.String,
    "quality": pl.Int32, "phash": pl.String,
}


class MediaStore:
    """Write media files, thumbnails, manifests and table rows into ``archive``."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.root = archive.path / "media"

    def _atomic_write(self, dest: Path, data: bytes) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() and dest.stat().st_size == len(data):
            return
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".partial-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)

    def put_thumbnail(self, data: bytes) -> str:
        """Store thumbnail bytes under their own sha256; returns the file name."""
        name = thumb_name(data)
        self._atomic_write(self.root / "thumbs" / name, data)
        return name

    def put_manifest(self, sha256: str, text: str) -> str:
        """Store a file's C2PA manifest store (JSON text); returns its path inside the archive."""
        self._atomic_write(self.root / "c2pa" / f"{sha256}.json", text.encode("utf-8"))
        return f"media/c2pa/{sha256}.json"

    def put_file(self, src: Path, sha256: str, ext: str, data: bytes | None = None) -> str:
        """Copy a media file in as ``media/<sha256>.<ext>`` (bytes already read may be given); returns its path."""
        dest = self.root / f"{sha256}.{ext.lower().lstrip('.') or 'bin'}"
        if data is not None:
            self._atomic_write(dest, data)
        elif not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".partial-")
            os.close(fd)
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        return str(dest.relative_to(self.archive.path))

    def known_ids(self) -> set[str]:
        """Ids that already have a row in ``media_nodes``."""
        return set(media_nodes(self.archive).get_column("id").to_list())

    def append(self, nodes: list[dict[str, Any]], frames: list[dict[str, Any]]) -> tuple[int, int]:
        """Append rows for nodes not yet in the tables (one commit per table); returns (nodes, fingerprints) added."""
        known = self.known_ids()
        new = [n for n in nodes if n["id"] not in known]
        ids = {n["id"] for n in new}
        fps = [f for f in frames if f["id"] in ids]
        if new:
            self.archive.append(FINGERPRINTS_TABLE, pl.DataFrame(fps, schema=FINGERPRINT_SCHEMA))
            rows = [{k: n.get(k) for k in NODE_SCHEMA} for n in new]
            self.archive.append(NODES_TABLE, pl.DataFrame(rows, schema=NODE_SCHEMA))
        return len(new), len(fps)


def media_nodes(archive: Archive) -> pl.DataFrame:
    """One row per node with a picture (:data:`NODE_SCHEMA`; empty when nothing was ingested)."""
    return archive.read_table(NODES_TABLE, schema=NODE_SCHEMA).unique("id", keep="first").sort("id")


def fingerprints(archive: Archive) -> pl.DataFrame:
    """Every fingerprint (:data:`FINGERPRINT_SCHEMA`), sorted by id and frame time.

    ``pdq`` is read as 64 lowercase hex characters; a row whose ``pdq`` is not that (null, short,
    not hex: written by another tool or damaged) is no fingerprint and is left out, so visual drift,
    search and the dashboard read what lineage inference reads (a bad row stopped ``analyze``).
    """
    return (valid_pdq(archive.read_table(FINGERPRINTS_TABLE, schema=FINGERPRINT_SCHEMA))
            .unique(["id", "kind", "frame_s", "pdq"], keep="first").sort(["id", "frame_s"], nulls_last=False))


def valid_pdq(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``frame`` whose ``pdq`` is a PDQ hash, 64 hex characters, read lowercase; a null,
    short or non-hex one (written by another tool, or damaged) is no fingerprint.

    >>> valid_pdq(pl.DataFrame({"id": ["a", "b", "c"], "pdq": ["AB" * 32, "ab", None]})).rows()
    [('a', 'abababababababababababababababababababababababababababababababab')]
    """
    return frame.with_columns(pl.col("pdq").cast(pl.String).str.to_lowercase()).filter(
        pl.col("pdq").str.contains(r"^[0-9a-f]{64}$"))


def thumbnails(archive: Archive) -> dict[str, str]:
    """Post id -> thumbnail file name, for every node that has one."""
    n = media_nodes(archive).drop_nulls("thumb")
    return dict(zip(n.get_column("id").to_list(), n.get_column("thumb").to_list()))


def thumbnail_bytes(archive: Archive, name: str) -> bytes | None:
    """The bytes of a thumbnail by file name (``None`` when the name is not a stored thumbnail).

    >>> import tempfile
    >>> thumbnail_bytes(Archive.open(tempfile.mkdtemp() + "/a", create=True), "../ARCHIVE") is None
    True
    """
    stem = name.removesuffix(".webp")
    if len(stem) != 64 or any(c not in "0123456789abcdef" for c in stem):
        return None
    p = archive.path / "media" / "thumbs" / f"{stem}.webp"
    try:
        return p.read_bytes()
    except OSError:
        return None


def thumbnail_data_uri(archive: Archive, name: str | None) -> str | None:
    """A ``data:image/webp;base64,...`` URI of a stored thumbnail (for self-contained HTML)."""
    data = thumbnail_bytes(archive, name) if name else None
    return None if data is None else "data:image/webp;base64," + base64.b64encode(data).decode("ascii")


def archive_index(archive: Archive, *, min_quality: int = 0) -> tuple[HashIndex, pl.DataFrame]:
    """A :class:`~archive.media.index.HashIndex` over every fingerprint of the archive, and the rows it holds."""
    fp = fingerprints(archive).filter(pl.col("quality") >= min_quality)
    return build_index(fp.get_column("id").to_list(), fp.get_column("pdq").to_list()), fp


def snapshot_media(archive: Archive, ids: list[str], folder: Path) -> int:
    """Copy the thumbnail and the C2PA manifest store of every node in ``ids`` into a snapshot's payload folder.

    Writes ``thumbnails/<sha256>.webp``, ``c2pa/<sha256>.manifest-store.json`` and
    ``thumbnails/index.json`` (``{post id: {"thumbnail": file, "manifest": file}}``);
    returns how many nodes had something. Nothing is written when no node has a picture.

    >>> import tempfile
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> snapshot_media(a, ["t:1"], Path(tempfile.mkdtemp()))
    0
    """
    import json

    rows = media_nodes(archive).filter(pl.col("id").is_in(ids))
    index: dict[str, dict[str, str]] = {}
    for r in rows.iter_rows(named=True):
        entry: dict[str, str] = {}
        data = thumbnail_bytes(archive, r["thumb"]) if r["thumb"] else None
        if data is not None:
            (folder / "thumbnails").mkdir(exist_ok=True)
            (folder / "thumbnails" / r["thumb"]).write_bytes(data)
            entry["thumbnail"] = f"thumbnails/{r['thumb']}"
        if r["c2pa"] and r["sha256"]:
            src = archive.path / r["c2pa"]
            if src.is_file():
                (folder / "c2pa").mkdir(exist_ok=True)
                name = f"{r['sha256']}.manifest-store.json"
                (folder / "c2pa" / name).write_bytes(src.read_bytes())
                entry["manifest"] = f"c2pa/{name}"
        if entry:
            index[r["id"]] = entry
    if index:
        (folder / "thumbnails").mkdir(exist_ok=True)
        (folder / "thumbnails" / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True), "utf-8")
    return len(index)
