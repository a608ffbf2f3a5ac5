"""The ``civitai`` source: images from Civitai's public REST API with their prompts.

``GET /api/v1/images?withMeta=true&limit=&cursor=`` returns ``{items, metadata}``;
the next page is asked for with ``metadata.nextCursor`` until there is none.
Each image gives one record ``civitai:<id>``: the generation prompt
(``meta.prompt``) as the text, the uploader as author, ``createdAt``, the image
as media (``url``, ``width``, ``height``), the generator (``meta.Model`` or
``baseModel``) and the resources used in provenance, and stats as metrics:
``likes`` is the sum of the reactions (like, heart, laugh, cry), ``comments`` is
``commentCount``. Everything else the API gave stays verbatim in ``extra``.

``flatMeta=true`` is always sent: on the API's "legacy" query path (``modelId``
without ``modelVersionId``, ``imageId``) ``meta`` otherwise comes wrapped as
``{"id": <image id>, "meta": {...}}``; a wrapped ``meta`` is unwrapped anyway.

Resources (the checkpoint, LoRAs, embeddings) are structured provenance, never
prompt words: ``provenance.resources`` is a list of ``{type, name, version, hash,
weight, model_version_id}`` (keys without a value left out; ``type`` one of
``checkpoint``, ``lora``, ``embedding``, ``vae``, ``upscaler`` or as given) gathered
from ``meta.resources``, ``meta.civitaiResources``, ``meta.hashes``, ``meta["Model"]``
/ ``meta["Model hash"]`` and ``meta["Lora hashes"]`` / ``meta["TI hashes"]``, one
entry per resource.

Remix links: where an image says what it was remixed from, the record gets that
image as its parent (relation ``remix``, evidence ``declared``); otherwise it is a
root. Civitai keeps the link in the image's meta JSON at ``meta.extra.remixOfId``
(its own SQL reads ``i."meta"->'extra'->'remixOfId'``); older shapes put
``remixOfId`` / ``remixOf`` on the image or directly in ``meta``: all are read.

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
>>> r["provenance"]["resources"]
[{'type': 'lora', 'name': 'ukiyo'}]

The wrapped meta and the link in ``meta.extra``:

>>> w = image_record({"id": 103, "createdAt": "2024-01-03T00:00:00.000Z", "meta": {"id": 103, "meta": {
...     "prompt": "a lighthouse at night", "Model": "dreamshaper_8", "extra": {"remixOfId": 101}}}},
...     fetched_at="2026-01-01T00:00:00Z")
>>> w["prompt"], w["parents"][0]["id"], w["provenance"]["generator"]
('a lighthouse at night', 'civitai:101', 'dreamshaper_8')
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

__all__ = ["CivitaiSource", "image_record", "unwrap_meta", "resources", "CIVITAI_API", "KEY_ENV"]

CIVITAI_API = "https://civitai.com"
KEY_ENV = "CIVITAI_API_KEY"
_REACTIONS = ("likeCount", "heartCount", "laughCount", "cryCount")
_MIME = {"image": "image/jpeg", "video": "video/mp4"}


def unwrap_meta(meta: Any) -> dict[str, Any]:
    """The generation meta of an image, unwrapped from the legacy ``{"id", "meta"}`` shape.

    Meta written as JSON text (``"{\\"prompt\\": ...}"``, as some mirrors and exports store it) is read as
    that object; anything else that is not an object (null, a list, other text) gives no meta
    (the image's ``meta`` is still kept verbatim in ``extra``).

    >>> unwrap_meta({"id": 5, "meta": {"prompt": "p"}}), unwrap_meta({"prompt": "p", "seed": 1}), unwrap_meta(None)
    ({'prompt': 'p'}, {'prompt': 'p', 'seed': 1}, {})
    >>> unwrap_meta('{"prompt": "p"}'), unwrap_meta({"id": 5, "meta": '{"prompt": "p"}'}), unwrap_meta(["p"])
    ({'prompt': 'p'}, {'prompt': 'p'}, {})
    """
    if isinstance(meta, str):
        try:
            meta = orjson.loads(meta)
        except orjson.JSONDecodeError:
            return {}
    if not isinstance(meta, dict):
        return {}
    inner = meta.get("meta")
    if set(meta) <= {"id", "meta"} and "meta" in meta and (inner is None or isinstance(inner, (dict, str))):
        return unwrap_meta(inner) if inner is not None else {}
    return meta


def _remix_of(img: dict[str, Any], meta: dict[str, Any]) -> Any:
    extra = meta.get("extra") if isinstance(meta.get("extra"), dict) else {}
    for holder in (extra, img, meta):
        for key in ("remixOfId", "remixOf"):
            v = holder.get(key)
            if isinstance(v, dict):
                v = v.get("id") or v.get("imageId")
            if v is not None and not isinstance(v, bool) and v != "":
                return v
    return None


_KIND = {"model": "checkpoint", "checkpoint": "checkpoint", "lora": "lora", "locon": "lora", "lycoris": "lora",
         "dora": "lora", "embed": "embedding", "embedding": "embedding", "textualinversion": "embedding",
         "ti": "embedding", "vae": "vae", "upscaler": "upscaler", "hypernet": "hypernetwork",
         "hypernetwork": "hypernetwork", "controlnet": "controlnet"}


def _kind(t: Any) -> str | None:
    if not isinstance(t, str) or not t:
        return None
    return _KIND.get(t.lower().replace(" ", "").replace("_", ""), t.lower())


def _pairs(text: Any) -> list[tuple[str, str]]:
    """``"name: hash, name2: hash2"`` (A1111's ``Lora hashes`` / ``TI hashes``) as pairs."""
    if not isinstance(text, str):
        return []
    out = []
    for part in text.split(","):
        name, _, h = part.strip().strip('"').partition(":")
        if name.strip() and h.strip():
            out.append((name.strip(), h.strip()))
    return out


def resources(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources an image was made with, one structured entry each (see the module docstring).

    >>> resources({"Model": "juggernautXL_v9", "Model hash": "c9e3e68f89",
    ...            "resources": [{"name": "ukiyo-e style", "type": "lora", "weight": 0.8, "hash": "a1b2"}],
    ...            "civitaiResources": [{"type": "checkpoint", "modelVersionId": 128078, "modelVersionName": "v9"}],
    ...            "TI hashes": "easynegative: c74b4e810b"})
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'type': 'lora', 'name': 'ukiyo-e style', 'hash': 'a1b2', 'weight': 0.8},
     {'type': 'checkpoint', 'version': 'v9', 'model_version_id': 128078},
     {'type': 'checkpoint', 'name': 'juggernautXL_v9', 'hash': 'c9e3e68f89'},
     {'type': 'embedding', 'name': 'easynegative', 'hash': 'c74b4e810b'}]
    """
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()

    def add(kind: Any, name: Any = None, version: Any = None, hash_: Any = None, weight: Any = None,
            mvid: Any = None) -> None:
        entry = {"type": _kind(kind) or "unknown", "name": name if isinstance(name, str) and name else None,
                 "version": version if isinstance(version, str) and version else None,
                 "hash": hash_ if isinstance(hash_, str) and hash_ else None,
                 "weight": weight if isinstance(weight, (int, float)) and not isinstance(weight, bool) else None,
                 "model_version_id": mvid if isinstance(mvid, int) and not isinstance(mvid, bool) else None}
        keys = [k for k in (("h", entry["hash"].lower() if entry["hash"] else None), ("v", entry["model_version_id"]),
                            ("n", entry["type"], (entry["name"] or "").lower() or None)) if k[-1] is not None]
        if not keys or any(k in seen for k in keys):
            return
        seen.update(keys)
        out.append({k: v for k, v in entry.items() if v is not None})

    for r in meta.get("resources") or []:
        if isinstance(r, dict):
            add(r.get("type"), r.get("name"), r.get("version") or r.get("modelVersionName"), r.get("hash"),
                r.get("weight"), r.get("modelVersionId"))
    for r in meta.get("civitaiResources") or []:
        if isinstance(r, dict):
            add(r.get("type"), r.get("modelName") or r.get("name"), r.get("modelVersionName"), r.get("hash"),
                r.get("weight"), r.get("modelVersionId"))
    if isinstance(meta.get("Model"), str) or isinstance(meta.get("Model hash"), str):
        add("checkpoint", meta.get("Model"), None, meta.get("Model hash"))
    hashes = meta.get("hashes")
    if isinstance(hashes, dict):
        for key, h in hashes.items():
            kind, _, name = str(key).partition(":")
            add(kind if name else ("checkpoint" if kind == "model" else kind), name or None, None, h)
    for field, kind in (("Lora hashes", "lora"), ("TI hashes", "embedding")):
        for name, h in _pairs(meta.get(field)):
            add(kind, name, None, h)
    return out


def image_record(img: dict[str, Any], *, fetched_at: str) -> dict[str, Any]:
    """Turn one Civitai image object into a remix record (see the module docstring)."""
    meta = unwrap_meta(img.get("meta"))
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
    gen = next((g for g in (meta.get("Model"), img.get("baseModel")) if isinstance(g, str) and g), None)
    prov: dict[str, Any] = {"ai_generated": True, "generator": gen}
    used = resources(meta)
    if used:
        prov["resources"] = used
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
            page = self.client.get_json(url, params={"limit": self.page_size, "withMeta": "true", "flatMeta": "true",
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
                iid = img.get("id") if isinstance(img, dict) else None
                if isinstance(iid, bool) or not isinstance(iid, (int, str)) or not str(iid).strip():
                    why = "id: an image without an id" if iid is None else f"id: {iid!r} is not an image id"
                    yield (loc, Bad(orjson.dumps(img).decode(), [why]), state)
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
