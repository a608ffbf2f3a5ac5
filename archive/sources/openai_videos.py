"""The ``openai-videos`` source: your OpenAI (Sora) videos and the remixes among them.

The OpenAI Videos API closed in September 2026 (the Sora app in April 2026). Archives
people kept still load: ``from_files`` (``--from-file F``) reads saved ``GET /videos``
pages (``{"object": "list", "data": [...]}``) or video objects, one JSON document
(a page, a video, or a list of either) or JSON Lines (one page or video per line),
with the same records as a live crawl. Saved records carry no ``fetched_at``, so
loading the same files again changes nothing; a video found in several pages is read
once. A live endpoint (a mirror, ``--base-url``) is still read as below.

``GET /videos`` lists the videos of the project the key belongs to, newest
first, a page at a time (``limit``, ``after`` = the last id of the previous page,
``has_more``). Each video object carries ``id``, ``prompt``, ``model``,
``size``, ``seconds``, ``status``, ``created_at``, ``completed_at``,
``expires_at`` (Unix seconds) and, for a remix, ``remixed_from_video_id``,
which becomes the record's parent (relation ``remix``, evidence ``declared``).

Generated media expires: with ``media_dir`` set (``--download``) the content of
every completed, unexpired video is streamed from ``GET /videos/{id}/content``
into ``<archive>/media/<sha256>.mp4`` and the record's media entry gets its
``sha256``, ``bytes`` and ``mime``. A video already expired is reported, not fetched.

The key is read from ``OPENAI_API_KEY`` only, sent in the ``Authorization``
header, redacted from every error and never written to the archive. Resume:
each item's cursor is ``after=<its id>`` plus the crawl's observation time.

Examples
--------
>>> v = {"id": "video_b", "object": "video", "model": "sora-2", "status": "completed", "progress": 100,
...      "created_at": 1761000000, "completed_at": 1761000090, "expires_at": 1761086400,
...      "prompt": "the corgi, now surfing at night", "size": "1280x720", "seconds": "8",
...      "remixed_from_video_id": "video_a", "error": None}
>>> r = video_record(v, fetched_at="2026-01-01T00:00:00Z", content_url="https://api.openai.com/v1/videos/video_b/content")
>>> r["id"], r["parents"][0]["id"], r["created_at"]
('openai-videos:video_b', 'openai-videos:video_a', '2025-10-20T22:40:00Z')
>>> r["media"][0]["width"], r["media"][0]["height"], r["media"][0]["duration_s"], r["provenance"]["generator"]
(1280, 720, 8.0, 'sora-2')
"""
from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from archive.errors import SourceError
from archive.ingest import Bad, Item
from archive.record import format_time
from archive.sources.prefetch import run_ahead
from archive.sources.http import HttpClient, env_secret

__all__ = ["OpenAIVideosSource", "video_record", "videos_in", "not_a_video", "saved_documents", "stored_media", "OPENAI_API", "KEY_ENV"]

OPENAI_API = "https://api.openai.com/v1"
KEY_ENV = "OPENAI_API_KEY"


def _unix(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return format_time(datetime.fromtimestamp(v, timezone.utc))


def _size(size: Any) -> tuple[int | None, int | None]:
    if isinstance(size, str) and "x" in size:
        w, _, h = size.partition("x")
        if w.isdigit() and h.isdigit():
            return int(w), int(h)
    return None, None


def video_record(v: dict[str, Any], *, fetched_at: str | None, content_url: str,
                 download: dict[str, Any] | None = None) -> dict[str, Any]:
    """Turn one OpenAI video object into a remix record (``download``: the saved content, if any)."""
    width, height = _size(v.get("size"))
    media: dict[str, Any] = {"url": content_url, "mime": "video/mp4"}
    if width is not None:
        media["width"], media["height"] = width, height
    try:
        media["duration_s"] = float(v.get("seconds"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    if download:
        media.update(sha256=download["sha256"], bytes=download["bytes"], mime=download["mime"] or "video/mp4")
    parent = v.get("remixed_from_video_id")
    rec = {
        "id": f"openai-videos:{v.get('id')}",
        "source": "openai-videos",
        "created_at": _unix(v.get("created_at")) or v.get("created_at"),
        "fetched_at": fetched_at,
        "prompt": v.get("prompt"),
        "parents": [{"id": f"openai-videos:{parent}", "relation": "remix", "evidence": "declared",
                     "confidence": 1.0}] if parent else [],
        "media": [media],
        "provenance": {"ai_generated": True, "generator": v.get("model")},
        "extra": {k: val for k, val in v.items() if k not in ("id", "prompt")},
    }
    if fetched_at is None:  # a saved response: when it was observed is not known
        del rec["fetched_at"]
    return rec


def videos_in(doc: Any) -> Iterator[Any]:
    """The video objects of a saved response: a ``GET /videos`` page, a video, or a list of either.

    >>> page = {"object": "list", "data": [{"id": "video_b", "object": "video"}], "has_more": False}
    >>> [v["id"] for v in videos_in([page, {"id": "video_a", "object": "video"}])]
    ['video_b', 'video_a']
    """
    if isinstance(doc, list):
        for x in doc:
            yield from videos_in(x)
    elif isinstance(doc, dict) and isinstance(doc.get("data"), list):
        yield from doc["data"]
    else:
        yield doc


def not_a_video(v: Any) -> str | None:
    """Why ``v`` (an item of a saved response) is not a video object, in words; None when it is one.

    >>> not_a_video({"error": {"code": "invalid_api_key", "message": "Incorrect API key provided"}})
    'file: a saved API error (invalid_api_key: Incorrect API key provided), not a /videos page or video object'
    >>> not_a_video({"object": "list", "data": {"id": "video_a"}})
    'data: the /videos page holds a dict, not a list of videos'
    >>> not_a_video({"object": "video", "prompt": "a corgi"}), not_a_video("video_a")
    ('id: a video object without a string id', 'record: a str, not a video object or a /videos page')
    >>> not_a_video({"id": "video_a", "object": "video"}) is None
    True
    """
    if not isinstance(v, dict):
        return f"record: a {type(v).__name__}, not a video object or a /videos page"
    if isinstance(v.get("id"), str) and v["id"]:
        return None
    err = v.get("error")
    if err and "id" not in v:
        if isinstance(err, dict):
            what = ": ".join(str(err[k]) for k in ("code", "message") if err.get(k))[:200] or "no message"
        else:
            what = str(err)[:200]
        return f"file: a saved API error ({what}), not a /videos page or video object"
    if v.get("object") == "list" or ("data" in v and "id" not in v):
        return f"data: the /videos page holds a {type(v.get('data')).__name__}, not a list of videos"
    return "id: a video object without a string id"


def saved_documents(path: Path) -> Iterator[tuple[str, Any]]:
    """The JSON documents of a saved file as ``(location, value)``, or ``(location, Bad)`` for what is not JSON.

    One JSON document (pretty-printed or not), or JSON Lines when the first line is a whole JSON value
    and more follow. gzip is read by its magic bytes, a UTF-8 BOM is skipped and UTF-16/32 with a BOM
    (PowerShell 5 ``> page.json``) are decoded. A document cut short is one quarantined item for the
    file, not one per line.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "page.json"
    >>> _ = f.write_text('{"object": "list",\\n "data": [{"id": "video_a"}]}', encoding="utf-16")
    >>> [(loc.rsplit("/", 1)[-1], doc["data"][0]["id"]) for loc, doc in saved_documents(f)]
    [('page.json', 'video_a')]
    >>> _ = f.write_text('{"object": "list",\\n "data": [{"id": "vid')
    >>> [(loc.rsplit("/", 1)[-1], doc.reasons[0][:40]) for loc, doc in saved_documents(f)]
    [('page.json', 'not JSON: unexpected end of data: line 2')]
    """
    from archive.sources.jsonl import BOM, GZIP, _utf_bom

    data = path.read_bytes()
    if data[:2] == GZIP:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            yield (f"{path}", Bad(f"<{len(data)} bytes of gzip>", [f"file: the gzip file cannot be read whole ({e}); "
                                                                    "get a whole copy of the saved response"]))
            return
    utf = _utf_bom(data[:4])
    if utf:
        data = data.decode(utf, "surrogatepass").encode("utf-8", "surrogatepass")
    data = data.removeprefix(BOM)
    lines = data.splitlines()
    first = next((ln for ln in lines if ln.strip()), b"")
    try:
        orjson.loads(first)
        jsonl = sum(1 for ln in lines if ln.strip()) > 1
    except orjson.JSONDecodeError:
        jsonl = False
    if not jsonl:
        if not data.strip():
            return
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            if not any(_an_object(ln) for ln in lines[1:]):  # not JSON Lines with a bad first line either
                yield (f"{path}", Bad(data.decode("utf-8", "backslashreplace"),
                                      [f"not JSON: {e} (a saved /videos page or video object was expected; "
                                       "a file cut short is read from a whole copy)"]))
                return
        else:
            yield (f"{path}", doc)
            return
    for n, line in enumerate(lines, 1):  # JSON Lines: a page or a video per line
        if not line.strip():
            continue
        try:
            yield (f"{path}:{n}", orjson.loads(line))
        except orjson.JSONDecodeError as e:
            yield (f"{path}:{n}", Bad(line.decode("utf-8", "backslashreplace"),
                                      [f"not JSON: {e} (a saved /videos page or video object was expected)"]))


def _an_object(line: bytes) -> bool:
    try:
        v = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(v, dict) and bool(v)


def stored_media(archive: Any, media_dir: Path) -> dict[str, dict[str, Any]]:
    """``{video id: {sha256, bytes, mime}}`` of the videos whose content ``archive`` already holds in ``media_dir``.

    >>> import tempfile
    >>> from archive.store import Archive
    >>> stored_media(Archive.open(Path(tempfile.mkdtemp()) / "a", create=True), Path("media"))
    {}
    """
    out: dict[str, dict[str, Any]] = {}
    try:
        recs = archive.records(columns=["id", "record"])
    except Exception:  # noqa: BLE001  (an empty or new archive has no log yet)
        return out
    for rid, raw in recs.filter(pl.col("id").str.starts_with("openai-videos:")).iter_rows():
        for m in (orjson.loads(raw).get("media") or []):
            sha = m.get("sha256") if isinstance(m, dict) else None
            if isinstance(sha, str) and (media_dir / f"{sha}.mp4").is_file():
                out[rid.split(":", 1)[1]] = {"sha256": sha, "bytes": m.get("bytes"), "mime": m.get("mime")}
    return out


class OpenAIVideosSource:
    """List every video of the key's project (see the module docstring)."""

    name = "openai-videos"

    def __init__(self, *, base_url: str = OPENAI_API, api_key: str | None = None, client: HttpClient | None = None,
                 allow_private: bool = False, rate: float = 5.0, timeout: float = 30.0, page_size: int = 100,
                 media_dir: Path | None = None, order: str = "desc", from_files: list[Path] | None = None,
                 stored: dict[str, dict[str, Any]] | None = None) -> None:
        if not 1 <= page_size <= 100:
            raise SourceError(f"openai-videos: page size must be 1 to 100, got {page_size}")
        self.from_files = [Path(f) for f in from_files or []]
        for f in self.from_files:
            if not f.is_file():
                raise SourceError(f"{f}: no such file")
        # saved responses need no key, unless their content is to be fetched
        key = api_key or env_secret(KEY_ENV, required=not self.from_files)
        self.base_url = base_url.rstrip("/")
        self.page_size, self.order, self.media_dir = page_size, order, media_dir
        self.stored = dict(stored or {})
        self.client = client or HttpClient(rate=rate, allow_private=allow_private, timeout=timeout)
        if key:
            self.client.headers["Authorization"] = f"Bearer {key}"
            self.client.secrets.append(key)
        self.target = (" ".join(f"file:{f}" for f in self.from_files) if self.from_files
                       else f"{self.base_url}/videos")
        self.warnings: list[str] = []
        self.downloaded = 0
        self.already_stored = 0
        self._keyless = key is None

    def _download(self, v: dict[str, Any], url: str) -> dict[str, Any] | None:
        if self.media_dir is None or v.get("status") != "completed":
            return None
        have = self.stored.get(str(v.get("id")))
        if have is not None and (self.media_dir / f"{have['sha256']}.mp4").is_file():
            self.already_stored += 1  # the content is in the archive: not fetched again
            return have
        if self._keyless:
            self.warnings.append(f"video {v.get('id')}: content not fetched ({KEY_ENV} is not set)")
            return None
        exp = v.get("expires_at")
        if isinstance(exp, (int, float)) and exp <= time.time():
            self.warnings.append(f"video {v.get('id')} expired at {_unix(exp)}; its content is gone")
            return None
        try:
            got = self.client.download(url, self.media_dir, suffix=".mp4")
        except SourceError as e:  # HttpError, a refused address, a file beyond the size limit
            self.warnings.append(f"video {v.get('id')}: content not saved ({e})")
            return None
        self.downloaded += 1
        return got

    def items(self, cursor: str | None) -> Iterator[Item]:
        """Yield ``(location, record, cursor)`` for every video, page by page, after ``cursor``. (fetched in a background thread,
        so the requests keep to the rate limit while the ingestor commits)."""
        return run_ahead(self._crawl(cursor))

    def _saved(self) -> Iterator[Item]:
        seen: set[str] = set()
        for f in self.from_files:
            docs: list[tuple[str, Any]] = []
            for loc, doc in saved_documents(f):
                if isinstance(doc, Bad):
                    yield (loc, doc, None)
                else:
                    docs.append((loc, doc))
            for loc, doc in docs:
                for v in videos_in(doc):
                    why = not_a_video(v)
                    if why:
                        yield (loc, Bad(orjson.dumps(v).decode(), [why]), None)
                        continue
                    if v.get("deleted") is True or v.get("object") == "video.deleted":
                        self.warnings.append(f"{loc}: video {v['id']} is marked deleted; skipped")
                        continue
                    if v["id"] in seen:
                        continue
                    seen.add(v["id"])
                    url = f"{self.base_url}/videos/{v['id']}/content"
                    yield (f"{loc}#{v['id']}", video_record(v, fetched_at=None, content_url=url,
                                                            download=self._download(v, url)), None)

    def _crawl(self, cursor: str | None) -> Iterator[Item]:
        if self.from_files:
            yield from self._saved()
            return
        after: str | None = None
        if cursor:
            try:
                state = orjson.loads(cursor)
                t, after = state["t"], state["after"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as e:
                raise SourceError(f"openai-videos: cannot resume from the stored cursor ({e})") from None
        else:
            t = format_time(datetime.now(timezone.utc))
        while True:
            page = self.client.get_json(f"{self.base_url}/videos",
                                        params={"limit": self.page_size, "after": after, "order": self.order})
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list):
                raise SourceError(f"openai-videos: {self.base_url}/videos did not return a list object "
                                  f"with `data` (after={after})")
            for v in data:
                loc = f"{self.base_url}/videos?after={after or ''}"
                why = not_a_video(v)
                if why:
                    yield (loc, Bad(orjson.dumps(v).decode(), [why]), None)
                    continue
                url = f"{self.base_url}/videos/{v['id']}/content"
                rec = video_record(v, fetched_at=t, content_url=url, download=self._download(v, url))
                yield (loc, rec, orjson.dumps({"t": t, "after": v["id"]}).decode())
            if not page.get("has_more") or not data:
                return
            last = page.get("last_id") or (data[-1].get("id") if isinstance(data[-1], dict) else None)
            if not last or last == after:
                raise SourceError(f"openai-videos: the listing did not advance past {after!r}; stopping")
            after = last
