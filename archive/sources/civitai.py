"""The ``civitai`` source: images from Civitai's public REST API with their prompts.

``GET /api/v1/images?withMeta=true&limit=&cursor=`` returns ``{items, metadata}``;
the next page is asked for with ``metadata.nextCursor`` until there is none.
Each image gives one record ``civitai:<id>``: the generation prompt
(``meta.prompt``) as the text, the uploader as author, ``createdAt``, the image
as media (``url``, ``width``, ``height``), the generator (``meta.Model`` or
``baseModel``) and the resources used (checkpoints, LoRAs: ``meta.resources``)
in provenance, and stats as metrics: ``likes`` is the sum of the reactions
(like, heart, laugh, cry), ``comments`` is ``commentCount``. Everything else
the API gave stays verbatim in ``extra``.

Remix links: where an image says what it was remixed from (``remixOfId`` on the
image or in its ``meta``), the record gets that image as its parent (relation
``remix``, evidence ``declared``); otherwise it is a root.

No key is needed; ``CIVITAI_API_KEY`` from the environment, when set, is sent as
a Bearer token (never in the URL, never stored). Resume: a cursor is the page's
cursor and the index within it, plus the crawl's observation time.

Examples
--------
>>> img = {"id": 9, "url": "https://image.civitai.com/x/9.jpeg", "width": 832, "height": 1216, "type": "image",
...        "createdAt": "2025-04-17T21:28:57.225Z", "username": "ajuro", "baseModel": "SDXL 1.0",
...        "stats": {"likeCount": 5, "heartCount": 2, "laughCount": 0, "cryCount": 1, "commentCount": 3},
...        "meta": {"prompt": "a lighthouse, ukiyo-e", "remixOfId": 7, "resources": [{"name": "ukiyo", "type": "lora"}]}}
>>> r = image_record(img, fetched_at="2026-01-01T00:00:00Z")
>>> r["id"], r["parents"][0]["id"], r["metrics"], r["provenance"]["generator"]
('civitai:9', 'civitai:7', {'likes': 8, 'comments': 3}, 'SDXL 1.0')
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import orjson

from archive.errors import SourceError
from archive.ingest import Bad, Item
from archive.record import format_time
from archive.sources.prefetch import run_ahead
from archive.sources.http import HttpClient, env_secret

__all__ = ["CivitaiSource", "image_record", "CIVITAI_API", "KEY_ENV"]

CIVITAI_API = "https://civitai.com"
KEY_ENV = "CIVITAI_API_KEY"
_REACTIONS = ("likeCount", "heartCount", "laughCount", "cryCount")
_MIME = {"image": "image/jpeg", "video": "video/mp4"}


def _remix_of(img: dict[str, Any], meta: dict[str, Any]) -> Any:
    for holder in (img, meta):
        for key in ("remixOfId", "remixOf"):
            v = holder.get(key)
            if isinstance(v, dict):
                v = v.get("id") or v.get("imageId")
            if v is not None and not isinstance(v, bool):
                return v
    return None


def image_record(img: dict[str, Any], *, fetched_at: str) -> dict[str, Any]:
    """Turn one Civitai image object into a remix record (see the module docstring)."""
    meta = img.get("meta") if isinstance(img.get("meta"), dict) else {}
    stats = img.get("stats") if isinstance(img.get("stats"), dict) else {}
    metrics: dict[str, Any] = {}
    reactions = [stats.get(k) for k in _REACTIONS if isinstance(stats.get(k), int)]
    if reactions:
        metrics["likes"] = sum(reactions)
    if isinstance(stats.get("commentCount"), int):
        metrics["comments"] = stats["commentCount"]
    media: dict[str, Any] = {"url": img.get("url")}
    mime = _MIME.get(str(img.get("type") or "image"))
    if mime:
        media["mime"] = mime
    for k in ("width", "height"):
        if isinstance(img.get(k), int):
            media[k] = img[k]
    parent = _remix_of(img, meta)
    prov: dict[str, Any] = {"ai_generated": True, "generator": meta.get("Model") or img.get("baseModel")}
    if meta.get("resources") is not None:
        prov["resources"] = meta["resources"]
    if meta.get("civitaiResources") is not None:
        prov["civitai_resources"] = meta["civitaiResources"]
    return {
        "id": f"civitai:{img.get('id')}",
        "source": "civitai",
        "created_at": img.get("createdAt"),
        "fetched_at": fetched_at,
        "author": img.get("username"),
        "prompt": meta.get("prompt") if isinstance(meta.get("prompt"), str) else None,
        "parents": [{"id": f"civitai:{parent}", "relation": "remix", "evidence": "declared", "confidence": 1.0}]
        if parent is not None else [],
        "media": [media] if isinstance(media.get("url"), str) else [],
        "metrics": metrics,
        "provenance": prov,
        "extra": {k: v for k, v in img.items() if k != "id"},
    }


class CivitaiSource:
    """Page through ``/api/v1/images`` with ``filters`` (sort, period, username, modelId, postId, nsfw)."""

    name = "civitai"

    def __init__(self, *, filters: Mapping[str, Any] | None = None, max_items: int | None = None,
                 base_url: str = CIVITAI_API, client: HttpClient | None = None, allow_private: bool = False,
                 rate: float = 2.0, timeout: float = 30.0, page_size: int = 100) -> None:
        if not 1 <= page_size <= 200:
            raise SourceError(f"civitai: page size must be 1 to 200, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.filters = {k: v for k, v in (filters or {}).items() if v is not None}
        self.max_items, self.page_size = max_items, page_size
        self.client = client or HttpClient(rate=rate, allow_private=allow_private, timeout=timeout)
        key = env_secret(KEY_ENV, required=False)
        if key:
            self.client.headers["Authorization"] = f"Bearer {key}"
            self.client.secrets.append(key)
        shown = "&".join(f"{k}={v}" for k, v in sorted(self.filters.items()))
        self.target = f"{self.base_url}/api/v1/images" + (f"?{shown}" if shown else "")
        self.warnings: list[str] = []

    def items(self, cursor: str | None) -> Iterator[Item]:
        """Yield ``(location, record, cursor)`` for every image, page by page, after ``cursor``. (fetched in a background thread,
        so the requests keep to the rate limit while the ingestor commits)."""
        return run_ahead(self._crawl(cursor))

    def _crawl(self, cursor: str | None) -> Iterator[Item]:
        page_cursor: str | None = None
        skip = n = 0
        if cursor:
            try:
                state = orjson.loads(cursor)
                t, page_cursor, skip, n = state["t"], state["cursor"], int(state["i"]), int(state["n"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise SourceError(f"civitai: cannot resume from the stored cursor ({e})") from None
        else:
            t = format_time(datetime.now(timezone.utc))
        url = f"{self.base_url}/api/v1/images"
        seen_cursors: set[str | None] = set()
        while self.max_items is None or n < self.max_items:
            seen_cursors.add(page_cursor)
            page = self.client.get_json(url, params={"limit": self.page_size, "withMeta": "true",
                                                     **self.filters, "cursor": page_cursor})
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise SourceError(f"civitai: {url} did not return {{items, metadata}} (cursor={page_cursor})")
            for i, img in enumerate(items):
                if i < skip:
                    continue
                if self.max_items is not None and n >= self.max_items:
                    return
                n += 1
                state = orjson.dumps({"t": t, "cursor": page_cursor, "i": i + 1, "n": n}).decode()
                loc = f"{url}?cursor={page_cursor or ''}#{i}"
                if not isinstance(img, dict) or img.get("id") is None:
                    yield (loc, Bad(orjson.dumps(img).decode(), ["id: an image without an id"]), state)
                    continue
                yield (loc, image_record(img, fetched_at=t), state)
            skip = 0
            meta = page.get("metadata") if isinstance(page.get("metadata"), dict) else {}
            nxt = meta.get("nextCursor")
            if nxt is None or nxt == "" or not items:
                return
            nxt = str(nxt)
            if nxt in seen_cursors:
                self.warnings.append(f"the API gave cursor {nxt} twice; stopped there")
                return
            page_cursor = nxt
