"""A replayed Civitai images API: the recorded two pages, and seeded synthetic listings.

``GET /api/v1/images?limit=&withMeta=true&cursor=`` answers ``{items, metadata: {nextCursor}}``;
the last page has no ``nextCursor``.
"""
from __future__ import annotations

import copy
import random
from typing import Any

from .server import Reply, ReplayServer, load


def recorded_images() -> list[dict]:
    return load("civitai/images_page1.json")["items"] + load("civitai/images_page2.json")["items"]


def serve_recorded(srv: ReplayServer) -> None:
    pages = {None: load("civitai/images_page1.json"), "1744925337225|9174410": load("civitai/images_page2.json")}

    def handler(path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        page = pages.get(query.get("cursor"))
        return page if page is not None else Reply(400, {"error": "Invalid cursor"})

    srv.route("/api/v1/images", handler)


def synthetic_images(n: int, *, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    base = recorded_images()[0]
    out = []
    for i in range(n):
        im = copy.deepcopy(base)
        im["id"] = 20_000_000 + i
        im["meta"]["prompt"] = base["meta"]["prompt"] + f", variation {i}"
        im["meta"].pop("remixOfId", None)
        if i and rng.random() < 0.4:
            im["meta"]["remixOfId"] = out[rng.randrange(i)]["id"]
        out.append(im)
    return out


def serve_images(srv: ReplayServer, images: list[dict]) -> None:
    def handler(path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        limit = int(query.get("limit", 100))
        start = int(query["cursor"]) if query.get("cursor") else 0
        items = images[start: start + limit]
        nxt = start + limit
        return {"items": items, "metadata": {"nextCursor": str(nxt)} if nxt < len(images) else {}}

    srv.route("/api/v1/images", handler)


def serve_legacy_path(srv: ReplayServer, images: list[dict]) -> None:
    """``/api/v1/images`` as Civitai answers a ``modelId`` query without ``modelVersionId`` (its "legacy"
    path): ``meta`` wrapped as ``{"id": <image id>, "meta": {...}}`` unless ``flatMeta=true`` is sent
    (civitai/civitai ``src/pages/api/v1/images/index.ts``: ``useFlat = flatMeta ?? !useLegacyMethod``)."""

    def handler(path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        flat = query.get("flatMeta") == "true"
        items = []
        for im in images:
            im = copy.deepcopy(im)
            inner = im.get("meta")
            if isinstance(inner, dict) and set(inner) <= {"id", "meta"}:
                inner = inner.get("meta")
            im["meta"] = inner if flat else {"id": im["id"], "meta": inner}
            items.append(im)
        return {"items": items, "metadata": {}}

    srv.route("/api/v1/images", handler)
