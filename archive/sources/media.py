"""The ``media`` source: image and video files or folders become nodes with fingerprints and thumbnails.

Every distinct content (sha256) is one node ``media:<sha256>``, whatever its
name or how many copies there are (the paths of every copy are kept in
``extra.files``). Files are fingerprinted by :mod:`archive.media.fingerprint`
(PDQ per image and per sampled video frame, pHash, mime, size, dimensions,
duration) and get a WebP thumbnail; the rows go to the ``media_nodes`` and
``media_fingerprints`` tables (:mod:`archive.media.store`), the files into the
archive's media folder (``copy=False`` references them in place).

``created_at`` is, in this order: the C2PA claim's signing time, a C2PA
action's ``when``, the embedded time (EXIF DateTimeOriginal, a video
container's ``creation_time``), the file's modification time;
``provenance.created_at_from`` says which.

A file with a C2PA manifest store is read exactly as ``ingest c2pa`` reads it
(:func:`archive.sources.c2pa.manifest_nodes`): the active manifest's facts and
ingredients (edges with evidence ``c2pa``) go on the file's node, the other
manifests become ``c2pa:<label>`` nodes (unless their own file is in the same
run, then the edge points at that file's ``media:`` node), and the thumbnails
the manifest carries become those nodes' thumbnails. An ingredient manifest
with no time of its own is dated no later than the manifest that lists it
(never by another file's modification time).

A sidecar JSON beside a file, with the same stem (``clip.mp4`` + ``clip.json``,
or ``clip.mp4.json``), is merged in: ``prompt``, ``title``, ``author``,
``style_tags``, ``license``, ``created_at`` (used when nothing embedded
dates the file) and ``parents`` (post ids, or names of files beside it, which
become their ``media:`` ids; evidence ``declared``). The whole sidecar is kept
in ``extra.sidecar``.

Bad input never stops the run: unreadable, empty, truncated or oversized
files, files that change while read and unreadable sidecars go to quarantine
with a one-line reason; folders reached twice (symlink loops) are skipped with
a warning. ``summary()`` reconciles the files: found = new nodes + copies of
content already seen + quarantined.

Examples
--------
>>> import io, tempfile
>>> from pathlib import Path
>>> from PIL import Image
>>> d = Path(tempfile.mkdtemp())
>>> Image.radial_gradient("L").convert("RGB").save(d / "a.png")
>>> _ = (d / "a.json").write_text('{"prompt": "a soft glow", "author": "ana"}')
>>> (d / "empty.jpg").write_bytes(b"")
0
>>> items = list(MediaSource([d]).items(None))
>>> [type(p).__name__ for _, p, _ in items]
['Bad', 'dict']
>>> rec = items[1][1]
>>> rec["id"].startswith("media:"), rec["prompt"], rec["provenance"]["created_at_from"]
(True, 'a soft glow', 'file mtime')
>>> items[0][1].reasons[0].endswith("empty.jpg: empty file (0 bytes)")
True
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from archive.errors import SourceError
from archive.ingest import Bad, Item
from archive.media.fingerprint import IMAGE_EXTS, VIDEO_EXTS, Fingerprint, MediaError, fingerprint_file
from archive.media.store import MediaStore
from archive.media.thumbnail import to_webp_thumbnail
from archive.record import format_time, parse_time
from archive.sources.c2pa import _context, _ingredient_id, _merge, _supported, manifest_nodes, read_store
from archive.store import Archive

__all__ = ["MediaSource", "shown_name"]

MEDIA_EXTS = IMAGE_EXTS | VIDEO_EXTS
_SIDECAR_KEYS = ("prompt", "title", "author", "style_tags", "license")


def shown_name(p: str | os.PathLike[str]) -> str:
    """A path as one printable line: undecodable bytes as ``\\xNN``, newlines and tabs escaped.

    >>> shown_name(os.fsdecode(b"/tmp/a\\nb\\xff.jpg"))
    '/tmp/a\\\\nb\\\\xff.jpg'
    """
    s = os.fsencode(p).decode("utf-8", "backslashreplace")
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") \
        .replace("\\\\x", "\\x")


def _mtime(st: os.stat_result) -> str:
    return format_time(datetime.fromtimestamp(st.st_mtime, timezone.utc))


def _sha_of(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


class MediaSource:
    """Read the image and video files in ``paths`` (files and folders, recursively).

    With an ``archive``, files, thumbnails and manifests are stored in its media
    folder and the fingerprint tables are written; without one (a dry read) only
    the records are made.
    """

    name = "media"

    def __init__(self, paths: list[str] | list[Path], *, archive: Archive | None = None, copy: bool = True) -> None:
        if not paths:
            raise SourceError("media: give at least one image or video file, or a folder")
        self.paths = [Path(p) for p in paths]
        for p in self.paths:
            if not os.path.lexists(p):
                raise SourceError(f"{shown_name(p)}: no such file or folder")
        self.target = " ".join(shown_name(p) for p in self.paths)
        self.archive, self.copy = archive, copy
        self.warnings: list[str] = []
        self.found = self.nodes = self.copies = self.quarantined = 0
        self.c2pa_nodes = 0
        self.tables: tuple[int, int] = (0, 0)

    # ------------------------------------------------------------------ walking
    def files(self) -> Iterator[Path]:
        """Files named, and every media file in the folders (name order), each folder once."""
        seen_dirs: set[tuple[int, int]] = set()
        for p in self.paths:
            if not p.is_dir():
                yield p
                continue
            for dirpath, dirnames, filenames in os.walk(p, followlinks=True, onerror=self._walk_error):
                try:
                    st = os.stat(dirpath)
                except OSError as e:
                    self.warnings.append(f"{shown_name(dirpath)}: folder skipped ({e.strerror})")
                    dirnames[:] = []
                    continue
                if (st.st_dev, st.st_ino) in seen_dirs:
                    self.warnings.append(f"{shown_name(dirpath)}: folder skipped, already read (a symlink loop "
                                         "or a second link to it)")
                    dirnames[:] = []
                    continue
                seen_dirs.add((st.st_dev, st.st_ino))
                dirnames.sort()
                for f in sorted(filenames):
                    if f.rsplit(".", 1)[-1].lower() in MEDIA_EXTS and not f.startswith(".partial-"):
                        yield Path(dirpath) / f

    def _walk_error(self, e: OSError) -> None:
        self.warnings.append(f"{shown_name(e.filename or '?')}: folder skipped ({e.strerror})")

    # ------------------------------------------------------------------ reading
    def _sidecar(self, path: Path) -> tuple[dict[str, Any] | None, str | None, Path | None]:
        for cand in (path.with_suffix(".json"), path.with_name(path.name + ".json")):
            if cand.is_file():
                try:
                    data = json.loads(cand.read_bytes())
                except (OSError, ValueError) as e:
                    return None, f"sidecar {shown_name(cand)}: not readable JSON ({e})", cand
                if not isinstance(data, dict):
                    return None, f"sidecar {shown_name(cand)}: must be a JSON object", cand
                return data, None, cand
        return None, None, None

    def _sidecar_parents(self, side: dict[str, Any], where: Path) -> list[dict[str, Any]]:
        out = []
        raw = side.get("parents") or ([side["parent"]] if side.get("parent") else [])
        for p in raw if isinstance(raw, list) else [raw]:
            entry = dict(p) if isinstance(p, dict) else {"id": p}
            pid = entry.get("id")
            if not isinstance(pid, str) or not pid:
                self.warnings.append(f"{shown_name(where)}: sidecar parent {p!r} has no id (ignored)")
                continue
            f = where.parent / pid
            if ":" not in pid or f.is_file():
                sha = _sha_of(f)
                if sha is None:
                    self.warnings.append(f"{shown_name(where)}: sidecar parent {pid!r} is neither an id nor a file "
                                         "beside it (ignored)")
                    continue
                entry["id"] = f"media:{sha}"
            entry.setdefault("relation", "remix")
            entry.setdefault("evidence", "declared")
            entry.setdefault("confidence", 1.0)
            out.append(entry)
        return out

    def _c2pa(self, path: Path, fp: Fingerprint, ctx: Any) -> tuple[dict[str, Any] | None, str | None]:
        if path.suffix.lower().lstrip(".") not in self._c2pa_exts:
            return None, None
        try:
            return read_store(path, ctx), None
        except SourceError as e:
            msg = str(e)
            return None, (None if "no C2PA manifest" in msg or "not a media type" in msg else msg)

    def _c2pa_thumbs(self, path: Path, store: dict[str, Any], ctx: Any) -> dict[str, bytes]:
        """Node id -> thumbnail bytes (re-encoded as WebP) for every thumbnail the manifest store carries."""
        import c2pa

        want: dict[str, str] = {}
        for label, m in (store.get("manifests") or {}).items():
            if isinstance(m.get("thumbnail"), dict) and m["thumbnail"].get("identifier"):
                want.setdefault(f"c2pa:{label}", m["thumbnail"]["identifier"])
            for ing in m.get("ingredients") or []:
                t = ing.get("thumbnail")
                if isinstance(t, dict) and t.get("identifier"):
                    want.setdefault(_ingredient_id(ing), t["identifier"])
        out: dict[str, bytes] = {}
        if not want:
            return out
        try:
            reader = c2pa.Reader(str(path), context=ctx)
        except c2pa.C2paError:
            return out
        try:
            for node, ident in want.items():
                buf = io.BytesIO()
                try:
                    reader.resource_to_stream(ident, buf)
                    out[node] = to_webp_thumbnail(buf.getvalue())
                except Exception as e:  # a damaged thumbnail loses the picture, not the node
                    self.warnings.append(f"{shown_name(path)}: C2PA thumbnail of {node} unreadable ({e})")
        finally:
            reader.close()
        return out

    def items(self, cursor: str | None) -> Iterator[Item]:
        """Yield a ``Bad`` for each unreadable file as met, then one record per node (media first, then c2pa)."""
        self._c2pa_exts = _supported()
        ctx = None
        store = MediaStore(self.archive) if self.archive is not None else None
        media: dict[str, dict[str, Any]] = {}  # media id -> record
        label_of: dict[str, str] = {}  # active manifest label -> media id
        c2pa_nodes: dict[str, dict[str, Any]] = {}
        thumbs: dict[str, bytes] = {}
        node_rows: dict[str, dict[str, Any]] = {}
        fp_rows: list[dict[str, Any]] = []
        for f in self.files():
            self.found += 1
            name = shown_name(f)
            try:
                st = os.stat(f)
                fp = fingerprint_file(f, name=name)
            except (MediaError, OSError) as e:
                self.quarantined += 1
                reason = str(e) if isinstance(e, MediaError) else f"{name}: cannot be read ({e.strerror})"
                raw = json.dumps({"path": name, "sha256": _sha_of(f)}, ensure_ascii=False)
                yield (name, Bad(raw, [f"file: {reason}"]), None)
                continue
            mid = f"media:{fp.sha256}"
            side, side_err, side_path = self._sidecar(f)
            if side_err:
                self.quarantined += 1
                raw = (side_path.read_bytes().decode("utf-8", "replace") if side_path else "")[:100_000]
                yield (shown_name(side_path or f), Bad(raw, [f"sidecar: {side_err}"]), None)
            if mid in media:
                self.copies += 1
                files = media[mid]["extra"]["files"]
                if name not in files:
                    files.append(name)
                continue
            self.nodes += 1
            if ctx is None:
                ctx = _context()
            c2 = None
            manifest_error = None
            if fp.kind in ("image", "video"):
                c2, manifest_error = self._c2pa(f, fp, ctx)
            rec = self._record(f, name, st, fp, side, c2, manifest_error, side_path)
            media[mid] = rec
            if c2 is not None:
                active = c2.get("active_manifest")
                if active:
                    label_of[active] = mid
                for r in manifest_nodes(c2, f, sha256=fp.sha256, size=fp.bytes):
                    if r["id"] == f"c2pa:{active}":
                        continue
                    if r["id"] in c2pa_nodes:
                        _merge(c2pa_nodes[r["id"]], r)
                    else:
                        c2pa_nodes[r["id"]] = r
                thumbs.update({k: v for k, v in self._c2pa_thumbs(f, c2, ctx).items() if k not in thumbs})
            stored_file = manifest_path = None
            thumb = None
            if store is not None:
                thumb = store.put_thumbnail(fp.thumbnail)
                if self.copy:
                    stored_file = store.put_file(f, fp.sha256, f.suffix or fp.mime.rsplit("/", 1)[-1])
                if c2 is not None:
                    manifest_path = store.put_manifest(fp.sha256, json.dumps(c2, ensure_ascii=False, sort_keys=True))
            rec["extra"]["thumbnail"] = thumb
            node_rows[mid] = {"id": mid, "sha256": fp.sha256, "kind": fp.kind, "mime": fp.mime, "bytes": fp.bytes,
                              "width": fp.width, "height": fp.height, "duration_s": fp.duration_s,
                              "frames": len(fp.frames), "thumb": thumb, "file": stored_file, "c2pa": manifest_path,
                              "created_from": rec["provenance"]["created_at_from"]}
            kind = "image" if fp.kind == "image" else "frame"
            fp_rows.extend({"id": mid, "sha256": fp.sha256, "kind": kind, "frame_s": fr.frame_s, "pdq": fr.pdq,
                            "quality": fr.quality, "phash": fr.phash} for fr in fp.frames)
        # ingredient manifests whose own file was read in this run are that file's node
        remap = {f"c2pa:{lab}": mid for lab, mid in label_of.items()}
        for rec in [*media.values(), *c2pa_nodes.values()]:
            for p in rec["parents"]:
                p["id"] = remap.get(p["id"], p["id"])
        for cid in list(c2pa_nodes):
            if cid in remap:
                del c2pa_nodes[cid]
        self._date_ingredients(c2pa_nodes, [*media.values(), *c2pa_nodes.values()])
        for cid, data in thumbs.items():
            cid = remap.get(cid, cid)
            if cid in node_rows or store is None:
                continue
            node_rows[cid] = {"id": cid, "kind": "c2pa thumbnail", "thumb": store.put_thumbnail(data),
                              "mime": "image/webp"}
        if store is not None and node_rows:
            self.tables = store.append(list(node_rows.values()), fp_rows)
        self.c2pa_nodes = len(c2pa_nodes)
        for mid in sorted(media):
            yield (media[mid]["extra"]["files"][0], media[mid], None)
        for cid in sorted(c2pa_nodes):
            yield (f"c2pa manifest {cid}", c2pa_nodes[cid], None)

    def _record(self, f: Path, name: str, st: os.stat_result, fp: Fingerprint, side: dict[str, Any] | None,
                c2: dict[str, Any] | None, manifest_error: str | None, side_path: Path | None) -> dict[str, Any]:
        rec: dict[str, Any] = {"id": f"media:{fp.sha256}", "source": "media", "title": shown_name(f.name),
                               "parents": [], "provenance": {}, "extra": {"files": [name]}}
        created, origin = None, None
        if c2 is not None:
            active = c2.get("active_manifest")
            for r in manifest_nodes(c2, f, sha256=fp.sha256, size=fp.bytes):
                if r["id"] == f"c2pa:{active}":
                    c2rec = r["provenance"]["c2pa"]
                    rec["parents"] = r["parents"]
                    rec["provenance"] = dict(r["provenance"])
                    rec["extra"]["manifest"] = r["extra"]["manifest"]
                    rec["title"] = r.get("title") or rec["title"]
                    if r.get("author"):
                        rec["author"] = r["author"]
                    if c2rec["created_at_from"] in ("signature", "action"):
                        created = r["created_at"]
                        origin = "c2pa signing time" if c2rec["created_at_from"] == "signature" else "c2pa action when"
        if manifest_error:
            rec["extra"]["c2pa_error"] = manifest_error
        if created is None and fp.embedded_time:
            created, origin = fp.embedded_time, fp.embedded_from
        if side is not None:
            rec["extra"]["sidecar"] = side
            for k in _SIDECAR_KEYS:
                if side.get(k) is not None:
                    rec[k] = side[k]
            rec["parents"] = rec["parents"] + self._sidecar_parents(side, side_path or f)
            if created is None and isinstance(side.get("created_at"), str):
                try:
                    created, origin = format_time(parse_time(side["created_at"])), "sidecar created_at"
                except ValueError:
                    self.warnings.append(f"{name}: sidecar created_at {side['created_at']!r} is not a time (ignored)")
        if created is None:
            created, origin = _mtime(st), "file mtime"
        rec["created_at"] = created
        rec["provenance"]["created_at_from"] = origin
        url = f.resolve().as_uri()
        rec["media"] = [{"url": url, **fp.media_entry()}]
        rec["extra"]["fingerprint"] = {"kind": fp.kind, "frames": len(fp.frames), "pdq": fp.frames[0].pdq,
                                       "quality": fp.frames[0].quality, "phash": fp.frames[0].phash, **fp.extra}
        return rec

    @staticmethod
    def _date_ingredients(c2pa_nodes: dict[str, dict[str, Any]], all_recs: list[dict[str, Any]]) -> None:
        """An ingredient manifest without its own time is dated by the earliest manifest that lists it."""
        listed_by: dict[str, str] = {}
        for r in all_recs:
            for p in r["parents"]:
                t = r["created_at"]
                if p["id"] not in listed_by or t < listed_by[p["id"]]:
                    listed_by[p["id"]] = t
        for cid, rec in c2pa_nodes.items():
            c2 = rec["provenance"]["c2pa"]
            if c2.get("created_at_from") == "file mtime" and cid in listed_by:
                rec["created_at"] = listed_by[cid]
                c2["created_at_from"] = "no time of its own: the time of the manifest that lists it (an upper bound)"

    def summary(self) -> dict[str, Any]:
        """The files, reconciled: ``found = nodes + copies + quarantined_files``, and folders skipped."""
        return {"files_found": self.found, "media_nodes": self.nodes, "copies_of_seen_content": self.copies,
                "files_quarantined": self.found - self.nodes - self.copies, "c2pa_nodes": self.c2pa_nodes,
                "folders_skipped": sum("folder skipped" in w for w in self.warnings),
                "fingerprint_rows_added": self.tables[1]}
