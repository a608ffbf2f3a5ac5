"""A snapshot's media: copied from allowed folders or downloaded through the shared polite client.

Every media URL of the tree's records is listed in ``data/media/index.json`` with
what happened to it; downloads go through :class:`archive.sources.http.HttpClient`
(every address checked and pinned, a rate limit per host, retries, a size limit);
C2PA stores embedded in the files are kept beside them.
"""
from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from pathlib import Path
from typing import Any

import polars as pl

from archive.digest import file_sha256
from archive.errors import SourceError
from archive.names import portable_name, portable_suffix
from archive.sources.http import AddressRefused, HttpClient, NetPolicy

__all__ = ["MEDIA_RATE", "MEDIA_LIMIT", "write_media"]

MEDIA_LIMIT = 2 * 1024 ** 3  # bytes per media file
MEDIA_RATE = 10.0  # media requests per second per host (Scratch's and Civitai's CDNs take this)


def _media_client(allow_private: bool | NetPolicy, timeout: float) -> HttpClient:
    """The shared polite client for a snapshot's media: one per snapshot, so the rate limit spans every file."""
    policy = allow_private if isinstance(allow_private, NetPolicy) else NetPolicy(private=allow_private,
                                                                                  max_file=MEDIA_LIMIT)
    return HttpClient(rate=MEDIA_RATE, timeout=timeout, retries=3, allow_private=policy)


def _fetch(url: str, dest: Path, *, client: HttpClient, media_dirs: tuple[Path, ...]) -> str:
    """Copy or download one media file; returns a status word (``ok`` or why not).

    Downloads go through the shared client (:meth:`archive.sources.http.HttpClient.download`):
    every redirect and every resolution checked and pinned, rate limit, retries, a
    deadline, a size limit, and the file kept only when it arrived whole.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file"):
        src = Path(urllib.parse.unquote(parsed.path) if parsed.scheme else url).resolve()
        # a record names the file: copy it only from folders the user allowed, never e.g. /etc
        if not any(d == src or d in src.parents for d in media_dirs):
            return "local file outside the allowed media folders (not copied)"
        if not src.is_file():
            return "not found"
        shutil.copyfile(src, dest)
        return "ok"
    if parsed.scheme not in ("http", "https"):
        return f"unsupported scheme {parsed.scheme!r}"
    try:
        client.download(url, dest.parent, dest=dest)
    except AddressRefused as e:
        return f"refused: {e}"[:300]
    except SourceError as e:  # HttpError (status, retries ran out, cut short), TooLarge
        dest.unlink(missing_ok=True)
        return f"failed: {e}"[:300]
    return "ok"


def _sha256(path: Path) -> str:
    return file_sha256(path)


def _c2pa_store(path: Path) -> dict | None:
    try:
        import c2pa

        return json.loads(c2pa.Reader(str(path)).json())
    except Exception:  # noqa: BLE001  (no manifest, unsupported type: the file simply has none)
        return None


def _held(held_dir: Path | None, sha256: str | None) -> Path | None:
    """The archive's own copy of the content ``sha256`` (``media/<sha256>.<ext>``, written by
    ``ingest media``), or None."""
    if held_dir is None or not sha256 or not re.fullmatch(r"[0-9a-f]{64}", sha256.lower()):
        return None
    return next((p for p in sorted(held_dir.glob(f"{sha256.lower()}.*")) if p.is_file()), None)


def write_media(records: pl.DataFrame, data: Path, *, fetch: bool, allow_private: bool | NetPolicy,
                 timeout: float, media_dirs: tuple[Path, ...], held_dir: Path | None = None
                 ) -> tuple[list[dict], int]:
    """Media index rows of a snapshot (and the files, when ``fetch``), and how many C2PA stores were read.

    ``records`` has ``id`` and ``record`` (the record's JSON); files go to
    ``data/media/<post>/<n><suffix>`` and C2PA stores found in them to ``data/c2pa/``. Where the
    record names the content's ``sha256`` and ``held_dir`` (the archive's ``media/`` folder) holds
    that content, the archive's own copy is taken (status ``ok (the archive's copy)``): the file
    the record names may be gone, or outside the folders allowed, and the copy was checked when stored.
    Each row is ``{id, url, file, sha256, status}``; ``status`` is ``ok`` or why not
    (nothing is skipped silently).

    Examples
    --------
    >>> import tempfile
    >>> recs = pl.DataFrame({"id": ["t:1"], "record": ['{"media": [{"url": "https://example.org/a.mp4"}]}']})
    >>> rows, n_c2pa = write_media(recs, Path(tempfile.mkdtemp()), fetch=False, allow_private=False,
    ...                            timeout=5.0, media_dirs=())
    >>> rows[0]["status"], n_c2pa
    ('not fetched (snapshot without --media)', 0)
    """
    client = _media_client(allow_private, timeout)
    index: list[dict] = []
    n_c2pa = 0
    seen: set[tuple[str, str]] = set()
    for rid, rec in records.select("id", "record").iter_rows():
        for i, m in enumerate(json.loads(rec).get("media") or []):
            url = m.get("url")
            if not url or (rid, url) in seen:
                continue
            seen.add((rid, url))
            row: dict[str, Any] = {"id": rid, "url": url, "file": None, "sha256": m.get("sha256"),
                                   "status": "not fetched (snapshot without --media)"}
            if fetch:
                # a portable name of our own: the URL's suffix only as [a-z0-9]{1,8}, the URL itself in index.json
                rel = f"media/{portable_name(rid)}/{i}{portable_suffix(urllib.parse.urlparse(url).path)}"
                dest = data / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                own = _held(held_dir, m.get("sha256"))
                if own is not None:
                    shutil.copyfile(own, dest)
                    row["status"] = "ok (the archive's copy)"
                else:
                    row["status"] = _fetch(url, dest, client=client, media_dirs=media_dirs)
                if row["status"].startswith("ok"):
                    digest = _sha256(dest)
                    if m.get("sha256") and m["sha256"].lower() != digest:
                        row["status"] = "ok, but sha256 differs from the record's"
                    row["file"], row["sha256"] = rel, digest
                    store = _c2pa_store(dest)
                    if store is not None:
                        n_c2pa += 1
                        (data / "c2pa").mkdir(exist_ok=True)
                        (data / "c2pa" / f"{portable_name(rid)}.media-{i}.json").write_text(
                            json.dumps(store, indent=1, sort_keys=True, ensure_ascii=False), "utf-8")
                elif not any(dest.parent.iterdir()):
                    dest.parent.rmdir()
            index.append(row)
    return index, n_c2pa
